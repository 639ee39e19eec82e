#include "train/train_data.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/file.h"

int train_corpus_add(train_corpus *c, const char *source, const char *text)
{
    if (c->n == c->cap) {
        size_t cap = c->cap ? 2 * c->cap : 1024;
        train_doc *nd = realloc(c->docs, sizeof *nd * cap);
        if (!nd)
            return -1;
        c->docs = nd;
        c->cap = cap;
    }
    train_doc *d = &c->docs[c->n];
    d->source = strdup(source);
    d->text = strdup(text);
    if (!d->source || !d->text) {
        free(d->source);
        free(d->text);
        return -1;
    }
    c->n++;
    return 0;
}

void train_corpus_free(train_corpus *c)
{
    for (size_t i = 0; i < c->n; i++) {
        free(c->docs[i].source);
        free(c->docs[i].text);
    }
    free(c->docs);
    memset(c, 0, sizeof *c);
}

static int blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
            return 0;
    return 1;
}

int train_corpus_load_jsonl(train_corpus *c, const char *path, cape_err *e)
{
    size_t len;
    char *buf = file_read_all(path, &len, e);
    if (!buf)
        return e->code ? e->code : CAPE_EINPUT;
    int rc = 0, line = 0;
    for (char *p = buf, *end = buf + len; p < end && !rc; line++) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        if (!blank(p, n)) {
            json_error_t je;
            json_t *o = json_loadb(p, n, JSON_REJECT_DUPLICATES, &je);
            json_t *src = o ? json_object_get(o, "source") : NULL;
            json_t *txt = o ? json_object_get(o, "text") : NULL;
            char num[32];
            const char *s = NULL;
            if (!o)
                rc = err_set(e, CAPE_EINPUT, "%s:%d:%d: not JSON: %s", path, line + 1,
                             je.column, je.text);
            else if (!json_is_object(o))
                rc = err_set(e, CAPE_EINPUT, "%s:%d: expected an object with \"source\" and "
                             "\"text\"", path, line + 1);
            else if (!json_is_string(txt))
                rc = err_set(e, CAPE_EINPUT, "%s:%d: field \"text\" is missing or not a string",
                             path, line + 1);
            else if (json_is_string(src) && json_string_length(src) > 0)
                s = json_string_value(src);
            else if (json_is_integer(src))
                snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(src)),
                    s = num;
            else
                rc = err_set(e, CAPE_EINPUT, "%s:%d: field \"source\" is missing, empty, or not "
                             "a string or integer", path, line + 1);
            if (!rc && strlen(json_string_value(txt)) != json_string_length(txt))
                rc = err_set(e, CAPE_EINPUT, "%s:%d: field \"text\" contains a NUL character",
                             path, line + 1);
            if (!rc && train_corpus_add(c, s, json_string_value(txt)))
                rc = err_set(e, CAPE_EFAIL, "out of memory reading %s", path);
            json_decref(o);
        }
        p += n + 1;
    }
    free(buf);
    if (!rc && c->n == 0)
        rc = err_set(e, CAPE_EINPUT, "%s: no documents", path);
    return rc;
}

char *train_tofu_render(const char *question, const char *answer)
{
    size_t n = strlen(question) + strlen(answer) + 32;
    char *s = malloc(n);
    if (s)
        snprintf(s, n, "Question: %s\nAnswer: %s", question, answer);
    return s;
}

int train_corpus_load_tofu(train_corpus *c, const char *dir, cape_err *e)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/full.json", dir);
    size_t len;
    char *buf = file_read_all(path, &len, e);
    if (!buf)
        return e->code ? e->code : CAPE_EINPUT;
    int rc = 0, line = 0;
    size_t row = 0;
    for (char *p = buf, *end = buf + len; p < end && !rc; line++) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        if (!blank(p, n)) {
            json_error_t je;
            json_t *a = json_loadb(p, n, 0, &je);
            if (!json_is_array(a))
                rc = err_set(e, CAPE_EINPUT, "%s:%d: expected a JSON array of QA rows", path,
                             line + 1);
            for (size_t i = 0; !rc && i < json_array_size(a); i++, row++) {
                json_t *o = json_array_get(a, i);
                const char *q = json_string_value(json_object_get(o, "question"));
                const char *ans = json_string_value(json_object_get(o, "answer"));
                if (!q || !ans) {
                    rc = err_set(e, CAPE_EINPUT, "%s:%d: row %zu lacks string \"question\" and "
                                 "\"answer\"", path, line + 1, i + 1);
                    break;
                }
                char src[32], *doc = train_tofu_render(q, ans);
                snprintf(src, sizeof src, "tofu-%03zu", row / 20 + 1);
                if (!doc || train_corpus_add(c, src, doc))
                    rc = err_set(e, CAPE_EFAIL, "out of memory reading %s", path);
                free(doc);
            }
            json_decref(a);
        }
        p += n + 1;
    }
    free(buf);
    if (!rc && row == 0)
        rc = err_set(e, CAPE_EINPUT, "%s: no QA rows", path);
    return rc;
}

/* ---- rows ------------------------------------------------------------- */

static uint64_t mix64(uint64_t z)
{
    z += 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static int rows_push(train_rows *r, size_t *cap, const int *toks, int n, uint32_t src,
                     uint32_t doc, int eot)
{
    int W = r->T + 1;
    if (r->n_rows == *cap) {
        size_t c = *cap ? 2 * *cap : 1024;
        int *nt = realloc(r->tokens, sizeof(int) * W * c);
        int *nv = nt ? realloc(r->n_valid, sizeof(int) * c) : NULL;
        uint32_t *ns = nv ? realloc(r->source, sizeof(uint32_t) * c) : NULL;
        uint32_t *nd = ns ? realloc(r->doc, sizeof(uint32_t) * c) : NULL;
        if (nt)
            r->tokens = nt;
        if (nv)
            r->n_valid = nv;
        if (ns)
            r->source = ns;
        if (!nd)
            return -1;
        r->doc = nd;
        *cap = c;
    }
    int *row = r->tokens + r->n_rows * (size_t)W;
    for (int i = 0; i < W; i++)
        row[i] = i < n ? toks[i] : eot;
    r->n_valid[r->n_rows] = n - 1;
    r->source[r->n_rows] = src;
    r->doc[r->n_rows] = doc;
    r->n_rows++;
    return 0;
}

int train_dataset_build(train_dataset *ds, const train_corpus *c, const uint32_t *source_ids,
                        const bpe_vocab *vocab, int T, double val_frac, uint64_t seed, cape_err *e)
{
    memset(ds, 0, sizeof *ds);
    ds->train.T = ds->val.T = T;
    size_t cap_t = 0, cap_v = 0, n = 0, cap = 0;
    int *ids = NULL;
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t d = 0; d < c->n; d++) {
        n = 0;
        int eot = vocab->eot;
        /* <eot> text <eot> */
        if (n == cap) {
            int *ni = realloc(ids, sizeof(int) * (cap ? 2 * cap : 256));
            if (!ni)
                goto oom;
            ids = ni;
            cap = cap ? 2 * cap : 256;
        }
        ids[n++] = eot;
        if (bpe_encode(vocab, c->docs[d].text, &ids, &n, &cap) < 0)
            goto oom;
        if (n == cap) {
            int *ni = realloc(ids, sizeof(int) * 2 * cap);
            if (!ni)
                goto oom;
            ids = ni;
            cap *= 2;
        }
        ids[n++] = eot;
        ds->n_tokens += n;
        double u = (double)(mix64(seed ^ mix64(d)) >> 11) * 0x1.0p-53;
        int is_val = u < val_frac;
        train_rows *r = is_val ? &ds->val : &ds->train;
        for (size_t at = 0; at + 1 < n; at += T) {
            int len = (int)(n - at < (size_t)T + 1 ? n - at : (size_t)T + 1);
            if (rows_push(r, is_val ? &cap_v : &cap_t, ids + at, len, source_ids[d], (uint32_t)d,
                          eot))
                goto oom;
        }
        for (size_t i = 0; i < n; i++)
            h = (h ^ (uint64_t)ids[i]) * 0x100000001b3ull;
        h = (h ^ ((uint64_t)source_ids[d] << 1 | (uint64_t)is_val)) * 0x100000001b3ull;
    }
    free(ids);
    ds->hash = h ^ (uint64_t)T;
    if (ds->train.n_rows == 0) {
        train_dataset_free(ds);
        return err_set(e, CAPE_EINPUT, "the corpus leaves no training rows (validation fraction "
                       "%g)", val_frac);
    }
    return 0;
oom:
    free(ids);
    train_dataset_free(ds);
    return err_set(e, CAPE_EINPUT, "the tokenised corpus does not fit in memory");
}

int train_dataset_random(train_dataset *ds, int vocab, int T, size_t n_rows, uint64_t seed,
                         cape_err *e)
{
    memset(ds, 0, sizeof *ds);
    ds->train.T = ds->val.T = T;
    size_t cap = 0;
    int *row = malloc(sizeof(int) * (T + 1));
    rng_fast r;
    rng_fast_seed(&r, seed);
    for (size_t i = 0; row && i < n_rows; i++) {
        for (int t = 0; t <= T; t++)
            row[t] = (int)rng_fast_below(&r, (uint32_t)vocab);
        if (rows_push(&ds->train, &cap, row, T + 1, 1, 0, 0)) {
            free(row);
            row = NULL;
        }
    }
    if (!row) {
        train_dataset_free(ds);
        return err_set(e, CAPE_EINPUT, "random rows do not fit in memory");
    }
    free(row);
    ds->n_tokens = n_rows * (size_t)(T + 1);
    ds->hash = seed ^ ((uint64_t)vocab << 32) ^ (uint64_t)T;
    return 0;
}

static void rows_free(train_rows *r)
{
    free(r->tokens);
    free(r->n_valid);
    free(r->source);
    free(r->doc);
    memset(r, 0, sizeof *r);
}

void train_dataset_free(train_dataset *ds)
{
    rows_free(&ds->train);
    rows_free(&ds->val);
}

int train_batcher_init(train_batcher *b, const train_rows *rows, uint64_t seed, cape_err *e)
{
    b->rows = rows;
    b->seed = seed;
    b->epoch = -1;
    b->perm = malloc(sizeof(int) * (rows->n_rows ? rows->n_rows : 1));
    if (!b->perm)
        return err_set(e, CAPE_EINPUT, "row order for %zu rows does not fit in memory",
                       rows->n_rows);
    return 0;
}

void train_batcher_free(train_batcher *b)
{
    free(b->perm);
    b->perm = NULL;
}

void train_row_get(const train_rows *rows, size_t r, int *tokens, int *targets)
{
    int T = rows->T;
    const int *row = rows->tokens + r * (size_t)(T + 1);
    int nv = rows->n_valid[r];
    for (int t = 0; t < T; t++) {
        tokens[t] = row[t];
        targets[t] = t < nv ? row[t + 1] : -1;
    }
}

void train_batch_at(train_batcher *b, uint64_t pos, int B, int *tokens, int *targets,
                    uint32_t *sources)
{
    size_t n = b->rows->n_rows;
    for (int i = 0; i < B; i++, pos++) {
        long epoch = (long)(pos / n);
        if (epoch != b->epoch) {
            for (size_t r = 0; r < n; r++)
                b->perm[r] = (int)r;
            rng_mt mt;
            rng_seed(&mt, (uint32_t)(b->seed + (uint64_t)epoch));
            rng_shuffle_int(&mt, b->perm, (int)n);
            b->epoch = epoch;
        }
        size_t r = (size_t)b->perm[pos % n];
        train_row_get(b->rows, r, tokens + (size_t)i * b->rows->T, targets + (size_t)i * b->rows->T);
        if (sources)
            sources[i] = b->rows->source[r];
    }
}
