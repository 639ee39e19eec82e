/* train_layers: the transformer's layers as paired _forward / _backward
 * functions on plain float arrays. Shapes are given in comments as (rows,
 * columns), row-major; N is the number of token positions B*T. Every
 * _backward adds (+=) into the gradients it is given, so gradients from
 * several uses (a tied embedding, a residual stream) accumulate. */
#ifndef CAPE_TRAIN_LAYERS_H
#define CAPE_TRAIN_LAYERS_H

/* out(N,OC) = inp(N,C) @ w(OC,C)^T + bias(OC); bias may be NULL. */
void matmul_forward(float *out, const float *inp, const float *w, const float *bias, int N, int C,
                    int OC);
/* out(N,OC) = res(N,OC) + bias + inp @ w^T: a residual connection in the
 * same pass (res and bias go in first, the product adds to them). */
void matmul_forward_res(float *out, const float *inp, const float *w, const float *bias,
                        const float *res, int N, int C, int OC);
/* dinp(N,C) += dout @ w; dw(OC,C) += dout^T @ inp; dbias += column sums.
 * dinp or dbias may be NULL. */
void matmul_backward(float *dinp, float *dw, float *dbias, const float *dout, const float *inp,
                     const float *w, int N, int C, int OC);

/* Positions: pos(B,T) gives each position's place inside its document (0
 * starts a document; rows may hold several packed documents), or NULL for
 * t = 0..T-1 in every row. */

/* out(N,C) = wte[token] (+ wpe[pos] when wpe is given). */
void encoder_forward(float *out, const int *tokens, const float *wte, const float *wpe,
                     const int *pos, int B, int T, int C);
void encoder_backward(float *dwte, float *dwpe, const float *dout, const int *tokens,
                      const int *pos, int B, int T, int C);

/* y = x / rms(x) * w; saves rstd(N). */
void rmsnorm_forward(float *out, float *rstd, const float *inp, const float *w, int N, int C,
                     float eps);
void rmsnorm_backward(float *dinp, float *dw, const float *dout, const float *inp, const float *w,
                      const float *rstd, int N, int C);

/* y = (x - mean) * rstd * w + b; saves mean(N), rstd(N). */
void layernorm_forward(float *out, float *mean, float *rstd, const float *inp, const float *w,
                       const float *b, int N, int C, float eps);
void layernorm_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp,
                        const float *w, const float *mean, const float *rstd, int N, int C);

/* Rotary embedding of adjacent pairs (2i, 2i+1) of each head at angle
 * pos * freq, in place: x(N, nh*hs) with row stride `stride`. cos/sin are
 * (T, hs/2). */
void rope_table(float *cos_t, float *sin_t, int T, int hs, float theta);
void rope_forward(float *x, int stride, const float *cos_t, const float *sin_t, const int *pos,
                  int B, int T, int nh, int hs);
/* The rotation is orthogonal: the backward rotates the gradient back. */
void rope_backward(float *dx, int stride, const float *cos_t, const float *sin_t, const int *pos,
                   int B, int T, int nh, int hs);

/* Causal multi-head attention with grouped keys/values: query head h reads
 * key/value head h / (NH/KVH). q, k, v are row-strided views (sq, sk, sv
 * floats between positions); out (N, NH*hs); att (B,NH,T,T) probabilities.
 * With pos, query t sees keys t - pos[t] .. t only: a block-diagonal causal
 * mask that keeps the documents of a packed row apart. */
typedef struct {
    int B, T, NH, KVH, hs;
    int sq, sk, sv;
    const int *pos; /* (B,T) or NULL */
    int window;     /* > 0: query t sees keys t - window + 1 .. t only (sliding window) */
} attn_shape;
void attention_forward(float *out, float *att, const float *q, const float *k, const float *v,
                       const attn_shape *s);
void attention_backward(float *dq, float *dk, float *dv, const float *dout, const float *att,
                        const float *q, const float *k, const float *v, const attn_shape *s);

/* SwiGLU with sink mask: h = silu(a) * b * mask[row / T]; mask NULL = all 1. */
void swiglu_forward(float *h, const float *a, const float *b, const float *mask, int N, int T,
                    int I);
void swiglu_backward(float *da, float *db, const float *dh, const float *a, const float *b,
                     const float *mask, int N, int T, int I);

/* tanh-GELU with sink mask: h = gelu(a) * mask[row / T]. */
void gelu_forward(float *h, const float *a, const float *mask, int N, int T, int I);
void gelu_backward(float *da, const float *dh, const float *a, const float *mask, int N, int T,
                   int I);

/* Softmax cross-entropy over logits(N,V), in place: the forward writes per
 * position losses (0 where target < 0) and returns their sum and the number
 * counted; the backward turns logits into dlogits = (p - onehot) * dloss
 * (zero rows where target < 0). */
double crossentropy_forward(float *losses, const float *logits, const int *targets, int N, int V,
                            int *n_counted);
void crossentropy_backward(float *logits, const int *targets, int N, int V, float dloss);

/* NeoX-style rotary embedding (Hugging Face's rotate_half): dimension i
 * rotates with i + hs/2, for qwen2, qwen3 and gemma3 files. Same tables. */
void rope_neox_forward(float *x, int stride, const float *cos_t, const float *sin_t,
                       const int *pos, int B, int T, int nh, int hs);
void rope_neox_backward(float *dx, int stride, const float *cos_t, const float *sin_t,
                        const int *pos, int B, int T, int nh, int hs);

/* GeGLU with sink mask (Gemma): h = gelu_tanh(a) * b * mask[row / T]. */
void geglu_forward(float *h, const float *a, const float *b, const float *mask, int N, int T,
                   int I);
void geglu_backward(float *da, float *db, const float *dh, const float *a, const float *b,
                    const float *mask, int N, int T, int I);

/* Fused softmax cross-entropy of the head w(V,C) over x(N,C), vc rows of
 * the vocabulary at a time (vc <= 0: all at once): the (N,V) logits are
 * never held whole, only buf (N, vc). Only the rows whose target counts
 * are multiplied. The forward writes per-position
 * losses and log-sum-exps (0 where target < 0) and returns the loss sum
 * and count; the backward recomputes each chunk and adds
 * d(dloss * sum of losses) into dx(N,C) and dw(V,C) (either may be NULL). */
double ce_chunked_forward(float *losses, float *lse, float *buf, const float *x, const float *w,
                          const int *targets, int N, int C, int V, int vc, int *n_counted);
void ce_chunked_backward(float *dx, float *dw, float *buf, const float *x, const float *w,
                         const int *targets, const float *lse, int N, int C, int V, int vc,
                         float dloss);
/* The argmax of each counted position's logits (the lowest id among
 * equals), -1 where target < 0; the head runs on the counted rows only. */
void ce_chunked_argmax(int *out, float *buf, const float *x, const float *w, const int *targets,
                       int N, int C, int V, int vc);

#endif
