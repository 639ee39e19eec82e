/* libFuzzer harness: cape quantize's library entry point on any byte string.
 * The first byte picks the target type, the rest is the input file. Whatever
 * the file holds (odd shapes, names, types, metadata), quantize_model must
 * either refuse it with an error or write a GGUF that the reader accepts,
 * with the input's tensor names and shapes. Seeds: tests/fuzz/make_seeds.py. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/file.h"
#include "model/gguf.h"
#include "model/quantize_model.h"

static const char *const TYPES[] = {"q8_0", "q4_0", "q4_1", "q5_0", "q5_1", "q2_k", "q3_k",
                                    "q4_k", "q5_k", "q6_k", "f16", "bf16", "f32"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    char in[64], out[64];
    snprintf(in, sizeof in, "/tmp/fuzz_quantize_%d.in", (int)getpid());
    snprintf(out, sizeof out, "/tmp/fuzz_quantize_%d.out", (int)getpid());
    cape_err e = {0};
    if (file_write_atomic(in, data + 1, size - 1, &e))
        abort();
    quantize_opts qo = {.recipe = quantize_recipe_find(TYPES[data[0] % 13]), .n_threads = 1,
                        .keep_output = data[0] >= 128};
    quantize_stats st;
    if (!quantize_model(in, out, &qo, &st, &e)) {
        gguf_file *a = gguf_open(in, &e), *b = gguf_open(out, &e);
        if (!a || !b || gguf_n_tensors(a) != gguf_n_tensors(b))
            abort();
        for (int64_t i = 0; i < gguf_n_tensors(a); i++) {
            const gguf_tensor *x = gguf_tensor_at(a, i), *y = gguf_tensor_at(b, i);
            if (strcmp(x->name, y->name) || memcmp(x->ne, y->ne, sizeof x->ne))
                abort();
        }
        gguf_close(a);
        gguf_close(b);
        unlink(out);
    }
    unlink(in);
    return 0;
}
