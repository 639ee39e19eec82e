/* libFuzzer harness: the safetensors reader must accept or reject any byte
 * string without reading out of bounds; an accepted file's tensors are read
 * end to end. */
#include <stddef.h>
#include <stdint.h>

#include "model/safetensors.h"

static volatile uint64_t sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cape_err e = {0};
    st_set *s = st_open_buffer(data, size, "fuzz.safetensors", &e);
    if (!s)
        return 0;
    for (int i = 0; i < st_n_tensors(s); i++) {
        const st_tensor *t = st_tensor_at(s, i);
        if (t->nbytes)
            sink += ((const uint8_t *)t->data)[0] + ((const uint8_t *)t->data)[t->nbytes - 1];
        sink += st_find(s, t->name) == t;
    }
    st_close(s);
    return 0;
}
