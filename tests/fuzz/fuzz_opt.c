/* libFuzzer harness: the trainer's optimizer-state files (ckpt-*.opt, both
 * layouts, train_opt_parse) must be rejected or read without crashing or
 * reading out of bounds. The state's size comes from the input's header
 * (capped), and the harness puts the right checksum at the end of a copy,
 * so that the bytes past the checksum gate (the OPT2 block table and its
 * blocks) are exercised too. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "train/train_adamw.h"
#include "train/train_loop.h"

static uint64_t fnv(const uint8_t *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t n = 1 + (size >= 32 ? data[24] | (size_t)(data[25] & 0x3f) << 8 : 7);
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    if (size >= 48 && (data[0] & 1)) { /* a header that names n, and a valid checksum */
        uint64_t nn = n, hash = 0;
        memcpy(buf + 24, &nn, 8);
        memcpy(buf + 32, &hash, 8);
        uint64_t sum = fnv(buf, size - 8);
        memcpy(buf + size - 8, &sum, 8);
    }
    adamw_state s;
    cape_err e = {0};
    if (adamw_init(&s, n, &e) == 0) {
        long step;
        train_opt_parse(buf, size, "fuzz.opt", &s, &step, 0, &e);
        adamw_free(&s);
    }
    free(buf);
    return 0;
}
