/* train_model: a small decoder-only transformer that can be trained in C.
 * Two families share one code path: a llama-style decoder (RMSNorm, RoPE on
 * adjacent pairs, SwiGLU, grouped-query attention, untied head) and a
 * GPT-2-style decoder (LayerNorm with bias, learned positions, tanh-GELU,
 * head tied to the token embedding).
 *
 * All parameters live in one contiguous float buffer, as do their gradients;
 * the tensor table names each slice with its llama.cpp GGUF name. Activations
 * of every layer are kept for the backward pass; gradients of activations
 * use one layer's worth of scratch that is reused going down the stack.
 *
 * Every MLP can carry per-source sinks: row b of a batch multiplies the MLP
 * hidden activation by mask[b] (length hidden) before the down-projection. */
#ifndef CAPE_TRAIN_MODEL_H
#define CAPE_TRAIN_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

/* LLAMA and GPT2 train from scratch; QWEN2, QWEN3 and GEMMA3 (and LLAMA)
 * are fine-tuned from an existing model (train_init.h). The first three and
 * GEMMA3 share the llama-style block, switched by the flags below. */
typedef enum { TRAIN_LLAMA = 0, TRAIN_GPT2 = 1, TRAIN_QWEN2, TRAIN_QWEN3, TRAIN_GEMMA3 } train_arch;

typedef struct {
    train_arch arch;
    int vocab;      /* V */
    int dim;        /* C */
    int n_layers;   /* L */
    int n_heads;    /* NH, head size C / NH */
    int n_kv_heads; /* KVH, divides NH (llama only; GPT-2 has KVH = NH) */
    int hidden;     /* I, MLP width */
    int ctx;        /* T, the longest sequence (size of the position table) */
    float norm_eps;
    float rope_theta;
    /* Open-weight variants of the llama-style block; all 0 for a model
     * trained from scratch (whose layout and results they do not change). */
    int head_dim;        /* hs; 0 = dim / n_heads (the query width is n_heads * hs) */
    int rope_neox;       /* rotate (i, i + hs/2) instead of adjacent pairs */
    float rope_theta_swa; /* base of sliding-window layers (0 = rope_theta) */
    int sliding_window;  /* 0 = none */
    int swa_period;      /* layer l is global when (l + 1) % period == 0 (0 = all sliding) */
    int qkv_bias;        /* biases of q, k and v (qwen2) */
    int qk_norm;         /* RMSNorm of each head's q and k, one weight per head dim */
    int post_norms;      /* RMSNorm of the attention and MLP outputs (gemma) */
    int geglu;           /* gelu_tanh(gate) * up instead of silu(gate) * up */
    int tied;            /* head = token embedding */
    float embed_scale;   /* embeddings multiplied by this (0 = 1; gemma sqrt(dim)) */
    int ce_chunk;        /* > 0: fused cross-entropy over this many vocabulary rows
                            at a time; the (N,V) logits are never held */
} train_config;

/* Fills the llama or GPT-2 defaults for what the caller left at zero. */
void train_config_defaults(train_config *c);
int train_config_check(const train_config *c, cape_err *e);
const char *train_arch_name(train_arch a);
int train_arch_parse(const char *s, train_arch *out);

enum { TRAIN_MAX_DIMS = 2 };

typedef struct {
    char name[64];
    int ndim;
    int64_t shape[TRAIN_MAX_DIMS]; /* row-major: shape[0] rows, shape[1] columns */
    size_t offset;                 /* in floats, into the parameter buffer */
    size_t size;
    int decay;    /* AdamW weight decay applies (matrices and embeddings) */
    int frozen;   /* not trained: no gradient, AdamW leaves it alone */
    int residual; /* a projection into the residual stream (smaller init) */
    /* partly frozen (retrofitted sinks with the backbone frozen): only the
     * elements at row >= part_row0 and column >= part_col0 train */
    int partial;
    int64_t part_row0, part_col0;
} train_tensor;

/* Pointers into the parameter (or gradient) buffer for one layer. Fields a
 * family does not use stay NULL. */
typedef struct {
    float *bq, *bk, *bv;        /* qkv_bias */
    float *q_norm, *k_norm;     /* qk_norm: (hs) */
    float *post_attn, *post_ffn; /* post_norms: (C) */
    float *norm1_w, *norm1_b;
    float *wq, *wk, *wv, *wo; /* llama: (C,C) (KV,C) (KV,C) (C,C) */
    float *wqkv, *bqkv, *bo;  /* gpt2: (3C,C) (3C) and the projection bias */
    float *norm2_w, *norm2_b;
    float *w_gate, *w_up, *w_down; /* (I,C) (I,C) (C,I); gpt2 has no gate */
    float *b_up, *b_down;
} train_layer_params;

typedef struct {
    float *tok_emb; /* (V,C) */
    float *pos_emb; /* (T,C), gpt2 */
    float *norm_w, *norm_b;
    float *head; /* (V,C); equals tok_emb when tied */
    train_layer_params *layers;
} train_params;

/* Saved forward activations of one layer (N = B*T rows). */
typedef struct {
    float *resid;           /* (N,C) the layer's input */
    float *norm1, *mean1, *rstd1;
    float *q, *k, *v;       /* llama (after RoPE): (N,C) (N,KV) (N,KV) */
    float *qkv;             /* gpt2: (N,3C) */
    float *att;             /* (B,NH,T,T) softmax probabilities */
    float *atty;            /* (N,C) attention output before the projection */
    float *resid2;          /* (N,C) after the attention residual */
    float *norm2, *mean2, *rstd2;
    float *pre_a, *pre_b;   /* llama: gate and up (N,I); gpt2: pre_a = fc (N,I) */
    float *hid;             /* (N,I) masked MLP activation */
    /* open-weight variants */
    float *qraw, *kraw, *rstd_q, *rstd_k; /* qk_norm: before the norm, (N*NH) (N*KVH) */
    float *attn_o, *rstd_po;              /* post_norms: projection output (N,C), rstd */
    float *mlp_o, *rstd_pf;               /* post_norms: down output (N,C), rstd */
} train_layer_acts;

typedef struct {
    train_config cfg;
    int n_tensors;
    train_tensor *tensors;
    size_t n_params;
    float *params;
    float *grads;
    train_params p, g;

    /* activations, sized for B x T at allocation time */
    int B, T;
    float *act_mem;
    size_t act_floats;
    train_layer_acts *acts;
    float *resid_out, *normf, *meanf, *rstdf; /* final stack output and norm */
    float *logits;                            /* (N,V); turned into dlogits */
                                              /* ce_chunk: (N, ce_chunk) scratch */
    float *pos_loss, *lse;                    /* ce_chunk: (N) each */
    float *rope_cos, *rope_sin;               /* (T, hs/2) */
    float *rope_cos_swa, *rope_sin_swa;       /* sliding-window layers' (T, hs/2) */
    int freeze_embd; /* token embedding (and head) frozen: train_model_freeze_embeddings */
    int freeze_backbone; /* MLP units below this index and everything but the MLPs
                          * frozen (train_model_freeze_backbone); 0 = none */
    /* backward scratch, one layer */
    float *scratch;
    size_t scratch_floats;
} train_model;

/* Builds the tensor table and allocates parameters and gradients. */
int train_model_build(train_model *m, const train_config *cfg, cape_err *e);
void train_model_free(train_model *m);
/* Bytes train_model_build + train_model_alloc_acts(B,T) + AdamW would use. */
size_t train_model_bytes(const train_config *cfg, int B, int T);
int train_model_alloc_acts(train_model *m, int B, int T, cape_err *e);
/* N(0, 0.02) weights, residual projections scaled by 1/sqrt(2L), norms 1,
 * biases 0; deterministic in seed. */
void train_model_init(train_model *m, uint64_t seed);
const train_tensor *train_model_tensor(const train_model *m, const char *name);
/* Freezes token_embd.weight and output.weight (when untied): they get no
 * gradient and no update; the gradient still flows through the head to
 * the hidden states. */
void train_model_freeze_embeddings(train_model *m);
/* Retrofitted sinks with the backbone frozen: only the MLP units from
 * n_backbone on train (their gate and up rows, their down-projection
 * columns); every other tensor is frozen, embeddings and head included. */
void train_model_freeze_backbone(train_model *m, int n_backbone);
/* Zeroes the gradient of every frozen element, so that the gradient norm
 * (clipping) and AdamW see only what trains. Call after the backward. */
void train_model_drop_frozen_grads(train_model *m);
/* The llama-style block (every arch but gpt2). */
int train_arch_llama_like(train_arch a);
/* Head size and query width. */
int train_head_dim(const train_config *c);

/* Forward over tokens (B,T). targets (B,T) with -1 = ignored; masks NULL (no
 * sinks) or (B, hidden); pos NULL (one sequence per row) or (B,T), each
 * position's place inside its document, for rows that pack several
 * documents: positions restart at 0 and attention stays inside each
 * document (train_layers.h). Returns the mean loss over the counted targets
 * (or 0 with no targets) and leaves logits in m->logits. *n_counted gets the
 * number of targets that count. */
float train_forward(train_model *m, const int *tokens, const int *targets, const float *masks,
                    const int *pos, int B, int T, int *n_counted);
/* Backward of the last forward (same arguments): adds d(loss_scale * mean
 * loss)/d(params) into m->grads. */
void train_backward(train_model *m, const int *tokens, const int *targets, const float *masks,
                    const int *pos, int B, int T, float loss_scale);
/* Backward from gradients the caller computed. With head, m->logits holds
 * d(loss)/d(logits) (N,V) (rows that do not count are zero) and the
 * gradient flows through the head and every layer. With dact (N,C), the
 * gradient of the loss with respect to the output of layer `at` (the input
 * of layer at + 1, the residual stream there) is added as the backward
 * passes that point; without head only the layers at and below are
 * visited (a loss on that activation alone). Adds into m->grads. */
void train_backward_from(train_model *m, const int *tokens, const float *masks, const int *pos,
                         int B, int T, int head, int at, const float *dact);
void train_zero_grads(train_model *m);
/* After train_backward or train_backward_from: d(loss)/d(the input of the
 * first block) per position, (N,C): the gradient with respect to each
 * position's token embedding (GCG's one-hot gradients). Valid until the
 * next forward or backward. */
const float *train_input_grad(const train_model *m);

/* After a forward: the argmax of each counted position's logits (lowest id
 * among equals), -1 where targets < 0. With ce_chunk the head is computed
 * again for the counted positions alone. */
void train_target_argmax(train_model *m, const int *targets, int B, int T, int *out);
/* Vocabulary rows per cross-entropy chunk for B x T positions: about 4M
 * logits at a time (at least 256 rows, at most the vocabulary). */
int train_auto_ce_chunk(int vocab, int B, int T);

/* Loss per row (mean over counted targets of that row), for evaluation:
 * out[b], or NAN when the row has no target. Uses a forward pass. */
void train_row_losses(train_model *m, const int *tokens, const int *targets, const float *masks,
                      const int *pos, int B, int T, float *out);

#endif
