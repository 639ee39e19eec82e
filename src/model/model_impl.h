/* model_impl: the structures shared by the loaders (GGUF, llama2.c,
 * safetensors) and the forward pass. Not part of the public API. */
#ifndef CAPE_MODEL_IMPL_H
#define CAPE_MODEL_IMPL_H

#include "model/gguf.h"
#include "model/model.h"

typedef struct {
    const float *attn_norm, *attn_norm_b;
    tensor_mat wq, wk, wv, wqkv, wo;
    const float *bq, *bk, *bv, *bqkv, *bo;
    const float *q_norm, *k_norm;
    const float *post_attn_norm;
    const float *ffn_norm, *ffn_norm_b;
    tensor_mat w_gate, w_up, w_down;
    const float *b_up, *b_down;
    const float *post_ffn_norm;
} model_layer;

/* A named tensor from whichever file format: the loaders fill a table of
 * these under GGUF names, and build_model() picks the weights from it. */
typedef struct {
    gguf_tensor *t;
    int n;
} tensor_table;

struct model {
    model_config cfg;
    char format[16];
    char path[512];
    tok *tok;
    tensor_mat tok_embd, pos_embd, output;
    const float *out_norm, *out_norm_b;
    const float *rope_freqs; /* llama 3 per-dimension divisors, or NULL */
    model_layer *layers;
    /* what to release */
    gguf_file *gguf;
    void *map;
    size_t map_len;
    void **owned;
    int n_owned, cap_owned;
    void *st; /* safetensors set */
};

/* Keeps p to be freed with the model; returns p (NULL on failure to record). */
void *model_own(model *m, void *p);
/* Fills m's weights from the table; cfg must be complete. */
int model_build(model *m, const tensor_table *tab, cape_err *e);
/* Defaults of an architecture (norm, rope style, MLP, ...) before the file's
 * own values are applied. */
int model_arch_from_name(const char *name, model_arch *arch);
void model_arch_defaults(model_config *c);

/* A tokenizer (read from tok_path) with more tokens than the model's
 * vocabulary is an input error naming both files. */
int model_check_tok_size(const model *m, const char *tok_path, cape_err *e);

int model_load_gguf(model *m, const char *path, const model_load_opts *o, cape_err *e);
int model_load_llama2c(model *m, const char *path, const model_load_opts *o, cape_err *e);
int model_load_safetensors(model *m, const char *path, const model_load_opts *o, cape_err *e);

#endif
