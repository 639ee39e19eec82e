#include "train/train_tok.h"

#include <stdlib.h>
#include <string.h>

int train_tok_to_ckpt(const bpe_vocab *v, ckpt_file *f)
{
    char **tok = calloc(v->n_vocab, sizeof *tok), **mer = calloc(v->n_merges + 1, sizeof *mer);
    int32_t *type = malloc(sizeof(int32_t) * v->n_vocab);
    int rc = !tok || !mer || !type;
    for (int i = 0; !rc && i < v->n_vocab; i++) {
        tok[i] = bpe_token_string(v, i);
        type[i] = i == v->eot ? 3 : 1; /* control : normal */
        rc |= !tok[i];
    }
    for (int m = 0; !rc && m < v->n_merges; m++) {
        const char *a = tok[v->merges[m][0]], *b = tok[v->merges[m][1]];
        mer[m] = malloc(strlen(a) + strlen(b) + 2);
        if (!mer[m]) {
            rc = 1;
            break;
        }
        strcpy(mer[m], a);
        strcat(mer[m], " ");
        strcat(mer[m], b);
    }
    if (!rc)
        rc = ckpt_set_str(f, "tokenizer.ggml.model", "gpt2") |
             ckpt_set_str(f, "tokenizer.ggml.pre", "gpt-2") |
             ckpt_set_strs(f, "tokenizer.ggml.tokens", (const char *const *)tok, v->n_vocab) |
             ckpt_set_i32s(f, "tokenizer.ggml.token_type", type, v->n_vocab) |
             ckpt_set_strs(f, "tokenizer.ggml.merges", (const char *const *)mer, v->n_merges) |
             ckpt_set_u32(f, "tokenizer.ggml.bos_token_id", (uint32_t)v->eot) |
             ckpt_set_u32(f, "tokenizer.ggml.eos_token_id", (uint32_t)v->eot);
    for (int i = 0; tok && i < v->n_vocab; i++)
        free(tok[i]);
    for (int m = 0; mer && m < v->n_merges; m++)
        free(mer[m]);
    free(tok);
    free(mer);
    free(type);
    return rc ? -1 : 0;
}

typedef struct {
    const char *s;
    int id;
} entry;

static int cmp_entry(const void *a, const void *b)
{
    return strcmp(((const entry *)a)->s, ((const entry *)b)->s);
}

static int find(const entry *idx, size_t n, const char *s)
{
    entry key = {s, 0};
    const entry *hit = bsearch(&key, idx, n, sizeof *idx, cmp_entry);
    return hit ? hit->id : -1;
}

int train_tok_from_ckpt(const ckpt_file *f, bpe_vocab *v, const char *what, cape_err *e)
{
    char model[32];
    char **tok = NULL, **mer = NULL;
    size_t nt = 0, nm = 0;
    if (ckpt_get_str(f, "tokenizer.ggml.model", model, sizeof model) || strcmp(model, "gpt2") ||
        ckpt_get_strs(f, "tokenizer.ggml.tokens", &tok, &nt) ||
        ckpt_get_strs(f, "tokenizer.ggml.merges", &mer, &nm)) {
        ckpt_free_strs(tok, nt);
        return err_set(e, CAPE_EINPUT, "%s: has no byte-level BPE tokenizer in its metadata",
                       what);
    }
    int rc = 0;
    entry *idx = malloc(sizeof *idx * (nt ? nt : 1));
    int (*merges)[2] = malloc(sizeof *merges * (nm ? nm : 1));
    if (!idx || !merges)
        rc = err_set(e, CAPE_EFAIL, "%s: out of memory", what);
    if (!rc && nt != 256 + nm + 1)
        rc = err_set(e, CAPE_EINPUT, "%s: %zu tokens and %zu merges is not a vocabulary cape "
                     "trained", what, nt, nm);
    for (size_t i = 0; !rc && i < nt; i++)
        idx[i] = (entry){tok[i], (int)i};
    if (!rc)
        qsort(idx, nt, sizeof *idx, cmp_entry);
    for (size_t m = 0; !rc && m < nm; m++) {
        char *sp = strchr(mer[m], ' ');
        if (!sp) {
            rc = err_set(e, CAPE_EINPUT, "%s: merge %zu has no space", what, m);
            break;
        }
        *sp = 0;
        merges[m][0] = find(idx, nt, mer[m]);
        merges[m][1] = find(idx, nt, sp + 1);
        if (merges[m][0] < 0 || merges[m][1] < 0)
            rc = err_set(e, CAPE_EINPUT, "%s: merge %zu names an unknown token", what, m);
    }
    if (!rc)
        rc = bpe_from_merges(v, (const int(*)[2])merges, (int)nm, e);
    free(idx);
    free(merges);
    ckpt_free_strs(tok, nt);
    ckpt_free_strs(mer, nm);
    return rc;
}

/* ---- the tokenizer of a run ------------------------------------------- */

void train_tokenizer_from_bpe(train_tokenizer *t, bpe_vocab *v)
{
    memset(t, 0, sizeof *t);
    t->bpe = *v;
    memset(v, 0, sizeof *v);
    t->n_vocab = t->bpe.n_vocab;
    t->start = t->end = t->bpe.eot;
}

/* The runtime's tokenizer of an open GGUF (t takes the file). */
static int from_open_gguf(train_tokenizer *t, gguf_file *g, cape_err *e)
{
    const char *path = gguf_path(g);
    if (!gguf_find_kv(g, "tokenizer.ggml.model") || !gguf_find_kv(g, "tokenizer.ggml.tokens")) {
        int rc = err_set(e, CAPE_EINPUT, "%s: has no vocabulary (tokenizer.ggml.model and "
                         "tokenizer.ggml.tokens are missing)", path);
        gguf_close(g);
        return rc;
    }
    tok *rt = tok_from_gguf(g, e);
    if (!rt) {
        gguf_close(g);
        return e->code ? e->code : CAPE_EINPUT;
    }
    int bos = tok_bos(rt), eos = tok_eos(rt);
    if (bos < 0 && eos < 0) {
        int rc = err_set(e, CAPE_EINPUT, "%s: the vocabulary has neither a BOS nor an EOS token "
                         "to delimit documents", path);
        tok_free(rt);
        gguf_close(g);
        return rc;
    }
    t->rt = rt;
    t->src = g;
    t->n_vocab = tok_n_vocab(rt);
    t->start = bos >= 0 ? bos : eos;
    t->end = eos >= 0 ? eos : bos;
    return 0;
}

int train_tokenizer_from_gguf(train_tokenizer *t, const char *path, cape_err *e)
{
    memset(t, 0, sizeof *t);
    gguf_file *g = gguf_open(path, e);
    if (!g)
        return e->code ? e->code : CAPE_EINPUT;
    return from_open_gguf(t, g, e);
}

int train_tokenizer_from_model(train_tokenizer *t, const char *path, cape_err *e)
{
    memset(t, 0, sizeof *t);
    gguf_file *g = gguf_open(path, e);
    if (!g)
        return e->code ? e->code : CAPE_EINPUT;
    char kind[16] = "bpe";
    gguf_get_cstr(g, "cape.train.tokenizer", kind, sizeof kind);
    if (strcmp(kind, "gguf") == 0)
        return from_open_gguf(t, g, e);
    ckpt_file f = {.r = g};
    bpe_vocab v = {0};
    int rc = train_tok_from_ckpt(&f, &v, path, e);
    ckpt_free(&f);
    if (!rc)
        train_tokenizer_from_bpe(t, &v);
    return rc;
}

void train_tokenizer_free(train_tokenizer *t)
{
    bpe_free(&t->bpe);
    tok_free(t->rt);
    gguf_close(t->src);
    memset(t, 0, sizeof *t);
}

char *train_tokenizer_decode(const train_tokenizer *t, const int *ids, int n)
{
    if (t->rt)
        return tok_decode(t->rt, ids, n, 0);
    size_t cap = 1;
    for (int i = 0; i < n; i++)
        if (ids[i] >= 0 && ids[i] < t->bpe.n_vocab)
            cap += (size_t)t->bpe.len[ids[i]];
    char *out = malloc(cap);
    if (out)
        bpe_decode(&t->bpe, ids, (size_t)n, out, cap);
    return out;
}

int train_tokenizer_encode(const train_tokenizer *t, const char *text, int **ids, size_t *n,
                           size_t *cap, cape_err *e)
{
    if (!t->rt) {
        if (bpe_encode(&t->bpe, text, ids, n, cap) < 0)
            return err_set(e, CAPE_EFAIL, "out of memory tokenising");
        return 0;
    }
    int *got = NULL, k = 0;
    int rc = tok_encode(t->rt, text, strlen(text), 0, &got, &k, e);
    if (rc)
        return rc;
    if (*n + (size_t)k > *cap) {
        size_t c = *cap ? *cap : 256;
        while (c < *n + (size_t)k)
            c *= 2;
        int *ni = realloc(*ids, sizeof(int) * c);
        if (!ni) {
            free(got);
            return err_set(e, CAPE_EFAIL, "out of memory tokenising");
        }
        *ids = ni;
        *cap = c;
    }
    if (k)
        memcpy(*ids + *n, got, sizeof(int) * (size_t)k);
    *n += (size_t)k;
    free(got);
    return 0;
}

int train_tokenizer_to_ckpt(const train_tokenizer *t, ckpt_file *f)
{
    if (!t->rt)
        return train_tok_to_ckpt(&t->bpe, f) | ckpt_set_str(f, "cape.train.tokenizer", "bpe");
    int rc = 0;
    for (int64_t i = 0; i < gguf_n_kv(t->src); i++) {
        const gguf_kv *kv = gguf_kv_at(t->src, i);
        if (strncmp(kv->key, "tokenizer.", 10) == 0)
            rc |= ckpt_copy_kv(f, kv);
    }
    return rc | ckpt_set_str(f, "cape.train.tokenizer", "gguf") ? -1 : 0;
}
