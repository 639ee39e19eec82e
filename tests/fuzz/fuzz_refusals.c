/* libFuzzer harness: the refusals parser of `cape unlearn run --method
 * idkdpo` (posthoc_refusals_parse, src/unlearn/posthoc.c) must accept or
 * reject any byte string without crashing or reading out of bounds. A
 * refusal says why; an accepted file gives at least one refusal, each
 * non-empty, without NUL, and no longer than the input. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "unlearn/posthoc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char **v = NULL;
    int n = 0;
    cape_err e = {0};
    if (posthoc_refusals_parse((const char *)data, size, "fuzz.jsonl", &v, &n, &e) != 0) {
        if (!e.msg[0] || v || n)
            abort(); /* a refusal says why and returns nothing */
        return 0;
    }
    if (n < 1)
        abort();
    for (int i = 0; i < n; i++) {
        size_t len = strlen(v[i]);
        if (len == 0 || len > size)
            abort();
    }
    posthoc_refusals_free(v, n);
    return 0;
}
