/* libFuzzer harness: the TOFU split reader and the oracle reader of `cape
 * unlearn eval` (src/unlearn/tofu_data.c, tofu_eval.c) must accept or
 * reject any byte string without crashing or reading out of bounds. The
 * first byte picks the split (forget, retain, real authors, world facts,
 * holdout); the rest is the file. An accepted split is checked row by row
 * and scored with empty answers through the whole metric table; the same
 * bytes are also read as an oracle TOFU_EVAL.json. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "unlearn/tofu_eval.h"

static char dir[64];

static int put(const char *path, const uint8_t *data, size_t size)
{
    FILE *fp = fopen(path, "wb");
    if (!fp)
        return -1;
    size_t k = size ? fwrite(data, 1, size, fp) : 0;
    fclose(fp);
    return k == size ? 0 : -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "/tmp/cape-fuzz-tofu-XXXXXX");
        if (!mkdtemp(dir))
            abort();
    }
    if (size < 1)
        return 0;
    tofu_split_id id = (tofu_split_id)(data[0] % TOFU_NSPLITS);
    char name[64], path[160];
    snprintf(path, sizeof path, "%s/%s", dir, tofu_split_file(id, 5, name, sizeof name));
    if (put(path, data + 1, size - 1))
        return 0;
    cape_err e = {0};
    tofu_split s;
    if (tofu_split_load(&s, dir, id, 5, data[0] >> 4, &e) == 0) {
        if (s.n <= 0 || strlen(s.sha256) != 64)
            abort();
        for (int i = 0; i < s.n; i++) {
            const tofu_row *r = &s.rows[i];
            if (!r->question || !r->answer || r->n_pert < 0 || r->n_pert > TOFU_MAX_PERT)
                abort();
            if ((id == TOFU_FORGET || id == TOFU_RETAIN) && !r->para)
                abort();
            for (int k = 0; k < r->n_pert; k++)
                if (!r->pert[k])
                    abort();
        }
        /* every split the same rows, every answer without a scored token */
        tofu_split_scores sc = {.split = &s, .items = calloc((size_t)s.n, sizeof *sc.items)};
        if (!sc.items)
            abort();
        for (int i = 0; i < s.n; i++)
            sc.items[i].n_pert = s.rows[i].n_pert;
        tofu_metric_ctx c = {.min_k = 0.4};
        for (int k = 0; k < TOFU_NSPLITS; k++)
            c.split[k] = &sc;
        json_t *eval = NULL;
        if (tofu_metrics_compute(&c, &eval, &e) == 0) {
            json_t *sum = tofu_summary(eval);
            tofu_sanity(eval, &e);
            json_decref(sum);
            json_decref(eval);
        }
        free(sc.items);
        tofu_split_free(&s);
    }
    json_t *o = NULL;
    err_clear(&e);
    if (tofu_oracle_load(path, &o, &e) == 0)
        json_decref(o);
    unlink(path);
    return 0;
}
