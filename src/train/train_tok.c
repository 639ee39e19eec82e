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
