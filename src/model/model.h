/* model: transformer language models (llama, qwen2, qwen3, gemma3, gpt-neox,
 * gpt2) loaded from GGUF, llama2.c checkpoints or Hugging Face safetensors,
 * and their forward pass with a KV cache and activation hooks.
 *
 *   model *m = model_load("model.gguf", NULL, &e);
 *   model_session *s = model_session_new(m, &(model_session_opts){.n_threads = 2}, &e);
 *   model_eval(s, ids, n, MODEL_LOGITS_LAST, &e);   // prompt, batched
 *   const float *logits = model_logits(s, 0);         // [n_vocab]
 *   model_eval(s, &next, 1, MODEL_LOGITS_LAST, &e);   // one decode step
 *
 * A model holds the (mostly memory-mapped) weights and is read-only after
 * loading; a session holds everything that changes: the KV cache, scratch
 * activations, the thread pool and the hook. */
#ifndef CAPE_MODEL_H
#define CAPE_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "model/tok.h"
#include "tensor/matmul.h"

typedef enum {
    MODEL_ARCH_LLAMA,
    MODEL_ARCH_QWEN2,
    MODEL_ARCH_QWEN3,
    MODEL_ARCH_GEMMA3,
    MODEL_ARCH_GPTNEOX,
    MODEL_ARCH_GPT2,
} model_arch;

typedef enum { MODEL_NORM_RMS, MODEL_NORM_LAYER } model_norm;
/* NORMAL rotates adjacent pairs (x[2i], x[2i+1]) as GGUF llama files expect;
 * NEOX rotates (x[i], x[i + d/2]) as Hugging Face's rotate_half does. */
typedef enum { MODEL_ROPE_NONE, MODEL_ROPE_NORMAL, MODEL_ROPE_NEOX } model_rope;
typedef enum { MODEL_MLP_SWIGLU, MODEL_MLP_GEGLU, MODEL_MLP_GELU } model_mlp;
typedef enum { MODEL_GELU_TANH, MODEL_GELU_ERF } model_gelu;

typedef struct {
    model_arch arch;
    char arch_name[32];
    int n_vocab, dim, n_layers, n_heads, n_kv_heads, head_dim, ffn_dim, n_ctx_train;
    model_norm norm;
    float norm_eps;
    model_rope rope;
    int rope_dims;        /* rotated dimensions per head (<= head_dim) */
    float rope_base;      /* theta base of global layers */
    float rope_base_swa;  /* theta base of sliding-window layers */
    float rope_scale;     /* linear position scaling (1 = none) */
    model_mlp mlp;
    model_gelu gelu;
    int qk_norm;          /* RMSNorm of each head's q and k (qwen3, gemma3) */
    int post_norms;       /* gemma's norms after attention and after the MLP */
    int parallel_residual; /* gpt-neox: x + attn(ln1 x) + mlp(ln2 x) */
    float embed_scale;    /* gemma multiplies embeddings by sqrt(dim); else 1 */
    float attn_scale;     /* q.k multiplier, 1/sqrt(head_dim) unless the model says */
    int sliding_window;   /* 0 = none */
    int swa_period;       /* layer l is global when (l + 1) % period == 0; 0 = all sliding */
    int tied_embeddings;
    int bos_id, eos_id;
} model_config;

/* ---- hooks ----
 * Called at every block with the activations of the tokens being evaluated,
 * a row-major [n_tokens x width] float matrix the hook may read or change in
 * place (changes flow into the rest of the forward pass):
 *   RESID_PRE   residual stream entering block `layer`        width = dim
 *   ATTN_HEADS  attention output per head, before o_proj;      width = n_heads*head_dim,
 *               head h occupies columns [h*head_dim, (h+1)*head_dim)
 *   MLP_HIDDEN  MLP activation after act(gate)*up (act(up) for GELU MLPs),
 *               before the down projection                     width = ffn_dim
 *   RESID_POST  residual stream leaving block `layer`          width = dim
 * RESID_POST of layer l is RESID_PRE of layer l+1 (same buffer, called in
 * this order). A control vector for layer l is added at RESID_POST of l,
 * which is where llama.cpp adds `direction.l`.
 * In a session of several sequences (model_eval_seqs) the hook is called
 * once per run of consecutive rows of one sequence: the n_tokens rows are
 * positions pos0, pos0 + 1, ... of sequence `seq`, so a hook written for one
 * sequence works unchanged, and one that keeps state per sequence indexes it
 * by `seq`. */
typedef enum {
    MODEL_HOOK_RESID_PRE,
    MODEL_HOOK_ATTN_HEADS,
    MODEL_HOOK_MLP_HIDDEN,
    MODEL_HOOK_RESID_POST,
    MODEL_HOOK_NPOINTS
} model_hook_point;

typedef struct {
    int layer;
    model_hook_point point;
    int n_tokens;
    int width;
    int pos0;     /* position of the first row in the sequence */
    int n_heads, head_dim; /* for ATTN_HEADS */
    int seq;      /* the sequence the rows belong to (0 for a session of one) */
} model_hook_info;

typedef void (*model_hook_fn)(const model_hook_info *info, float *x, void *user);

const char *model_hook_point_name(model_hook_point p);

/* ---- loading ---- */

typedef struct {
    const char *tokenizer_path; /* llama2.c tokenizer.bin or tokenizer.json; NULL = find it */
    const char *pre;            /* GGUF tokenizer.ggml.pre to use instead of the file's; NULL = the file's */
} model_load_opts;

typedef struct model model;

/* path: a .gguf file, a llama2.c .bin checkpoint, a .safetensors file, a
 * sharded model.safetensors.index.json, or a directory holding config.json
 * and safetensors. Errors are CAPE_EINPUT with a one-line message. */
model *model_load(const char *path, const model_load_opts *o, cape_err *e);
void model_free(model *m);
const model_config *model_cfg(const model *m);
const tok *model_tok(const model *m);
/* "gguf", "llama2c" or "safetensors". */
const char *model_format(const model *m);
/* Bytes of weights one decode step reads (for bandwidth reports). */
size_t model_weight_bytes(const model *m);
/* Per weight type, parameter counts, for `cape info`: calls fn for each
 * tensor the model uses. */
void model_each_tensor(const model *m,
                       void (*fn)(const char *name, tensor_type type, int64_t rows, int64_t cols,
                                  void *user),
                       void *user);

/* The result of model_check_weights(): the first non-finite value, if any. */
typedef struct {
    int bad;             /* a NaN or infinity was found */
    char tensor[96];     /* its tensor, by GGUF name (blk.N.attn_q.weight) */
    int64_t element;     /* its index in the tensor (row * cols + col) */
    int64_t row, col;
    float value;
    int64_t n_tensors;   /* tensors scanned (up to the first bad one) */
    int64_t n_values;    /* values scanned */
} model_weight_check;

/* Scans every weight the model uses for NaN and infinity, as llama.cpp's
 * --check-tensors does: quantised tensors are dequantised row by row, so a
 * non-finite block scale is found too. Stops at the first bad value. Errors
 * only for lack of memory. */
int model_check_weights(const model *m, model_weight_check *r, cape_err *e);

/* ---- sessions ---- */

/* What the KV cache stores: f32, or IEEE half floats (half the memory;
 * keys and values rounded to nearest even when written, widened exactly
 * when read). */
typedef enum { MODEL_KV_F32, MODEL_KV_F16 } model_kv_type;

#define MODEL_MAX_SEQ 1024

typedef struct {
    int n_ctx;     /* KV cache length per sequence; 0 = min(trained context, 4096) */
    int n_threads; /* 0 = 1 */
    int n_batch;   /* tokens per forward chunk (all sequences together); 0 = 256 */
    int n_seq;     /* independent sequences (batched decoding); 0 = 1 */
    model_kv_type kv_type; /* 0 = f32 */
} model_session_opts;

typedef struct model_session model_session;

typedef enum { MODEL_LOGITS_NONE, MODEL_LOGITS_LAST, MODEL_LOGITS_ALL } model_logits_mode;

model_session *model_session_new(const model *m, const model_session_opts *o, cape_err *e);
void model_session_free(model_session *s);
int model_session_n_ctx(const model_session *s);
/* Tokens in the KV cache. */
int model_session_pos(const model_session *s);
/* Forgets cached positions >= pos (pos <= current). */
void model_session_rewind(model_session *s, int pos);
void model_session_set_hook(model_session *s, model_hook_fn fn, void *user);

/* Evaluates n tokens of sequence 0 at its next positions. Logits: NONE,
 * LAST (row 0 is the last token's), or ALL (row i is token i's). Fails
 * (CAPE_EINPUT) when the context would overflow or a token id is out of
 * range. model_session_pos and model_session_rewind are those of sequence 0. */
int model_eval(model_session *s, const int *tokens, int n, model_logits_mode mode, cape_err *e);
const float *model_logits(const model_session *s, int row);

/* ---- batched decoding: one session, n_seq independent sequences ----
 * Each sequence has its own KV cache region ([n_ctx] positions per layer)
 * and position; one evaluation takes tokens of any sequences, and every
 * matrix product runs over all its rows, so the weights are read once per
 * step for all sequences (llama.cpp's llama_batch with one seq_id per token).
 *
 *   model_session *s = model_session_new(m, &(model_session_opts){
 *                              .n_ctx = 512, .n_seq = B}, &e);
 *   // prompts: every token of sequence b with seq[i] = b, logits on its last
 *   // then one decode step: seq = {0, 1, ..., B-1}, tokens = {next_0, ...}
 *   model_eval_seqs(s, seq, tokens, n, want, &e);
 *   const float *lg = model_logits_at(s, i);   // [n_vocab] of row i, if want[i]
 *   model_seq_rewind(s, b, 0);                 // sequence b free for a new text
 *
 * seq[n]: the sequence of each row; tokens[n]: the token, appended at that
 * sequence's next position (rows of one sequence keep their order and need
 * not be adjacent); want[n] (NULL = none): 1 asks for that row's logits.
 * Rows are evaluated in chunks of at most n_batch; a run of adjacent rows
 * of one sequence is not split unless it is longer than n_batch.
 * In exact mode (tensor_set_exact) a row's result depends only on its
 * token, its position and the cached rows of its sequence: batched
 * evaluation gives bit for bit what one sequence at a time gives. */
int model_eval_seqs(model_session *s, const int *seq, const int *tokens, int n,
                    const unsigned char *want, cape_err *e);
/* Logits [n_vocab] of row i of the last evaluation; NULL when not asked. */
const float *model_logits_at(const model_session *s, int i);
int model_session_n_seq(const model_session *s);
/* Tokens cached for sequence seq (-1 when seq is not one of the session's). */
int model_seq_pos(const model_session *s, int seq);
/* Forgets positions >= pos of sequence seq; pos 0 frees it for a new text. */
void model_seq_rewind(model_session *s, int seq, int pos);
/* Positions [0, n_pos) of src copied into dst, which then holds n_pos
 * tokens (a shared prefix evaluated once; llama.cpp's seq_cp). */
int model_seq_copy(model_session *s, int dst, int src, int n_pos, cape_err *e);
model_kv_type model_session_kv_type(const model_session *s);
/* Bytes of the KV cache (keys and values, all sequences). */
size_t model_session_kv_bytes(const model_session *s);

/* The model's output head applied to n arbitrary residual-stream vectors
 * [n x dim]: the final norm, and the unembedding into [n x n_vocab] logits
 * (the "logit lens" when the vectors come from inside the model). */
void model_final_norm(const model_session *s, const float *in, int n, float *out);
void model_unembed(model_session *s, const float *in, int n, float *out);

#endif
