/* tofu_data: the TOFU evaluation splits and the SHA-256 of their files. */
#include "unlearn/tofu_eval.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/file.h"
#include "base/json.h"
#include "train/train_data.h"

int tofu_forget_parse(const char *name, int *pct, cape_err *e)
{
    static const char *names[] = {"forget01", "forget05", "forget10"};
    static const int pcts[] = {1, 5, 10};
    for (int i = 0; i < 3; i++)
        if (name && !strcmp(name, names[i])) {
            *pct = pcts[i];
            return 0;
        }
    return err_set(e, CAPE_EINPUT, "--forget: unknown split '%s' (forget01, forget05, forget10)",
                   name ? name : "");
}

const char *tofu_split_name(tofu_split_id id)
{
    static const char *n[] = {"forget", "retain", "ra", "wf", "holdout"};
    return id < TOFU_NSPLITS ? n[id] : "?";
}

const char *tofu_split_file(tofu_split_id id, int pct, char *buf, size_t n)
{
    switch (id) {
    case TOFU_FORGET: snprintf(buf, n, "forget%02d_perturbed.json", pct); break;
    case TOFU_RETAIN: snprintf(buf, n, "retain_perturbed.json"); break;
    case TOFU_RA: snprintf(buf, n, "real_authors_perturbed.json"); break;
    case TOFU_WF: snprintf(buf, n, "world_facts_perturbed.json"); break;
    default: snprintf(buf, n, "holdout%02d.json", pct); break;
    }
    return buf;
}

static char *dup_str(const json_t *v)
{
    const char *s = json_string_value(v);
    return s ? strdup(s) : NULL;
}

/* One row; returns 0, or 1 when a key of the split is missing or not text. */
static int row_read(const json_t *o, tofu_split_id id, tofu_row *r, const char **missing)
{
    memset(r, 0, sizeof *r);
    if (!json_is_object(o)) {
        *missing = "an object";
        return 1;
    }
    if (!(r->question = dup_str(json_object_get(o, "question")))) {
        *missing = "question";
        return 1;
    }
    if (!(r->answer = dup_str(json_object_get(o, "answer")))) {
        *missing = "answer";
        return 1;
    }
    if (id == TOFU_HOLDOUT)
        return 0;
    if ((id == TOFU_FORGET || id == TOFU_RETAIN) &&
        !(r->para = dup_str(json_object_get(o, "paraphrased_answer")))) {
        *missing = "paraphrased_answer";
        return 1;
    }
    const json_t *p = json_object_get(o, "perturbed_answer");
    size_t np = json_array_size(p);
    if (!json_is_array(p) || np == 0 || np > TOFU_MAX_PERT) {
        *missing = "perturbed_answer (a list of 1 to 8 texts)";
        return 1;
    }
    for (size_t k = 0; k < np; k++)
        if (!(r->pert[r->n_pert++] = dup_str(json_array_get(p, k)))) {
            *missing = "perturbed_answer (a list of 1 to 8 texts)";
            return 1;
        }
    return 0;
}

static void row_free(tofu_row *r)
{
    free(r->question);
    free(r->answer);
    free(r->para);
    for (int k = 0; k < r->n_pert; k++)
        free(r->pert[k]);
}

/* Appends the rows of one JSON array. */
static int add_rows(tofu_split *s, const json_t *a, const char *path, int max_items, cape_err *e)
{
    size_t na = json_array_size(a);
    tofu_row *rows = realloc(s->rows, (s->n + na + 1) * sizeof *rows);
    if (!rows)
        return err_set(e, CAPE_EFAIL, "out of memory");
    s->rows = rows;
    for (size_t i = 0; i < na && (max_items <= 0 || s->n < max_items); i++) {
        const char *missing = NULL;
        if (row_read(json_array_get(a, i), s->id, &s->rows[s->n], &missing)) {
            row_free(&s->rows[s->n]);
            return err_set(e, CAPE_EINPUT, "%s: row %d has no %s", path, s->n + 1, missing);
        }
        s->n++;
    }
    return 0;
}

int tofu_split_load(tofu_split *s, const char *dir, tofu_split_id id, int pct, int max_items,
                    cape_err *e)
{
    memset(s, 0, sizeof *s);
    s->id = id;
    tofu_split_file(id, pct, s->file, sizeof s->file);
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, s->file);
    size_t len;
    char *buf = file_read_all(path, &len, e);
    if (!buf)
        return e->code ? e->code : CAPE_EINPUT;
    tofu_sha256_hex(buf, len, s->sha256);
    int rc = 0;
    json_error_t je;
    json_t *a = json_loadb(buf, len, 0, &je);
    if (a) {
        rc = json_is_array(a) ? add_rows(s, a, path, max_items, e)
                              : err_set(e, CAPE_EINPUT, "%s: not a JSON array of rows", path);
        json_decref(a);
    } else {
        /* the chunked form: one JSON array per line */
        int line = 0;
        for (char *p = buf, *end = buf + len; p < end && !rc; line++) {
            char *nl = memchr(p, '\n', (size_t)(end - p));
            size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
            size_t k = 0;
            while (k < n && (p[k] == ' ' || p[k] == '\t' || p[k] == '\r'))
                k++;
            if (k < n) {
                json_t *c = json_loadb(p, n, 0, &je);
                if (!c)
                    rc = json_err_set(e, path, line + 1, &je);
                else if (!json_is_array(c))
                    rc = err_set(e, CAPE_EINPUT, "%s:%d: not a JSON array of rows", path,
                                 line + 1);
                else
                    rc = add_rows(s, c, path, max_items, e);
                json_decref(c);
            }
            p += n + 1;
        }
    }
    free(buf);
    if (!rc && s->n == 0)
        rc = err_set(e, CAPE_EINPUT, "%s: no rows", path);
    if (rc)
        tofu_split_free(s);
    return rc;
}

void tofu_split_free(tofu_split *s)
{
    for (int i = 0; i < s->n; i++)
        row_free(&s->rows[i]);
    free(s->rows);
    s->rows = NULL;
    s->n = 0;
}

/* ---- SHA-256 (FIPS 180-4) ---- */

static const uint32_t K256[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
    0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
    0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
    0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
    0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
    0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
    0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
    0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
    0xc67178f2};

static uint32_t rotr(uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }

static void sha256_block(uint32_t h[8], const unsigned char *p)
{
    uint32_t w[64];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
               (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], k = h[7];
    for (int i = 0; i < 64; i++) {
        uint32_t t1 = k + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) +
                      K256[i] + w[i];
        uint32_t t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
        k = g;
        g = f;
        f = e;
        e = d + t1;
        d = c;
        c = b;
        b = a;
        a = t1 + t2;
    }
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
    h[4] += e;
    h[5] += f;
    h[6] += g;
    h[7] += k;
}

void tofu_sha256_hex(const void *data, size_t len, char out[65])
{
    uint32_t h[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                     0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    const unsigned char *p = data;
    size_t i = 0;
    for (; i + 64 <= len; i += 64)
        sha256_block(h, p + i);
    unsigned char tail[128] = {0};
    size_t r = len - i;
    memcpy(tail, p + i, r);
    tail[r] = 0x80;
    size_t tl = r + 9 <= 64 ? 64 : 128;
    uint64_t bits = (uint64_t)len * 8;
    for (int k = 0; k < 8; k++)
        tail[tl - 1 - k] = (unsigned char)(bits >> (8 * k));
    sha256_block(h, tail);
    if (tl == 128)
        sha256_block(h, tail + 64);
    for (int k = 0; k < 8; k++)
        snprintf(out + 8 * k, 9, "%08x", h[k]);
}

int tofu_key_id_cmp(const void *a, const void *b)
{
    return strcmp(((const tofu_key_id *)a)->key, ((const tofu_key_id *)b)->key);
}

int tofu_row_sources(const char *dir, sink_sources *sources, const tofu_split *const *splits,
                     int n_splits, uint32_t *ids, cape_err *e)
{
    train_corpus c = {0};
    int rc = train_corpus_load_tofu(&c, dir, e);
    if (rc)
        return rc;
    tofu_key_id *docs = malloc(sizeof *docs * (c.n ? c.n : 1));
    if (!docs) {
        train_corpus_free(&c);
        return err_set(e, CAPE_EFAIL, "out of memory");
    }
    for (size_t i = 0; i < c.n; i++)
        docs[i] = (tofu_key_id){c.docs[i].text, sink_sources_id(sources, c.docs[i].source, 0)};
    qsort(docs, c.n, sizeof *docs, tofu_key_id_cmp);
    for (int k = 0, at = 0; k < n_splits && !rc; k++)
        for (int i = 0; i < splits[k]->n && !rc; i++, at++) {
            const tofu_row *row = &splits[k]->rows[i];
            char *doc = train_tofu_render(row->question, row->answer);
            if (!doc) {
                rc = err_set(e, CAPE_EFAIL, "out of memory");
                break;
            }
            tofu_key_id key = {doc, 0};
            tofu_key_id *hit = c.n ? bsearch(&key, docs, c.n, sizeof *docs, tofu_key_id_cmp)
                                   : NULL;
            free(doc);
            ids[at] = hit ? hit->id : 0;
        }
    free(docs);
    train_corpus_free(&c);
    return rc;
}
