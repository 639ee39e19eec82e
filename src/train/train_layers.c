#include "train/train_layers.h"

#include <math.h>
#include <string.h>

#include <stdlib.h>

#include "base/isa.h"
#include "tensor/act.h"
#include "train/train_gemm.h"
#include "train/train_pool.h"


/* Row-parallel loop: splits [0, N) into one contiguous range per thread. */
typedef struct {
    void (*fn)(void *ctx, int lo, int hi);
    void *ctx;
    int N, chunk;
} rows_job;

static void rows_task(void *p, int i)
{
    rows_job *j = p;
    int lo = i * j->chunk, hi = lo + j->chunk < j->N ? lo + j->chunk : j->N;
    if (lo < hi)
        j->fn(j->ctx, lo, hi);
}

static void parallel_rows(int N, void (*fn)(void *ctx, int lo, int hi), void *ctx)
{
    int nt = tp_threads();
    if (nt == 1 || N < 64) {
        fn(ctx, 0, N);
        return;
    }
    rows_job j = {fn, ctx, N, (N + nt - 1) / nt};
    tp_run(nt, rows_task, &j);
}

void matmul_forward(float *out, const float *inp, const float *w, const float *bias, int N, int C,
                    int OC)
{
    /* the bias rows go in first and the product adds to them (beta 1): one
     * pass over out fewer than zeroing it, multiplying and adding the bias */
    if (bias)
        for (int n = 0; n < N; n++)
            memcpy(out + (size_t)n * OC, bias, sizeof(float) * OC);
    tg_gemm(0, 1, N, OC, C, inp, C, w, C, bias ? 1.0f : 0.0f, out, OC);
}

void matmul_forward_res(float *out, const float *inp, const float *w, const float *bias,
                        const float *res, int N, int C, int OC)
{
    for (int n = 0; n < N; n++) {
        float *o = out + (size_t)n * OC;
        const float *r = res + (size_t)n * OC;
        if (bias)
            for (int j = 0; j < OC; j++)
                o[j] = r[j] + bias[j];
        else
            memcpy(o, r, sizeof(float) * OC);
    }
    tg_gemm(0, 1, N, OC, C, inp, C, w, C, 1.0f, out, OC);
}

void matmul_backward(float *dinp, float *dw, float *dbias, const float *dout, const float *inp,
                     const float *w, int N, int C, int OC)
{
    if (dinp)
        tg_gemm(0, 0, N, C, OC, dout, OC, w, C, 1.0f, dinp, C);
    tg_gemm(1, 0, OC, C, N, dout, OC, inp, C, 1.0f, dw, C);
    if (dbias)
        for (int n = 0; n < N; n++) {
            const float *d = dout + (size_t)n * OC;
            for (int j = 0; j < OC; j++)
                dbias[j] += d[j];
        }
}

void encoder_forward(float *out, const int *tokens, const float *wte, const float *wpe,
                     const int *pos, int B, int T, int C)
{
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            float *o = out + ((size_t)b * T + t) * C;
            const float *e = wte + (size_t)tokens[b * T + t] * C;
            if (wpe) {
                const float *p = wpe + (size_t)(pos ? pos[b * T + t] : t) * C;
                for (int i = 0; i < C; i++)
                    o[i] = e[i] + p[i];
            } else {
                memcpy(o, e, sizeof(float) * C);
            }
        }
}

void encoder_backward(float *dwte, float *dwpe, const float *dout, const int *tokens,
                      const int *pos, int B, int T, int C)
{
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            const float *d = dout + ((size_t)b * T + t) * C;
            float *de = dwte + (size_t)tokens[b * T + t] * C;
            for (int i = 0; i < C; i++)
                de[i] += d[i];
            if (dwpe) {
                float *dp = dwpe + (size_t)(pos ? pos[b * T + t] : t) * C;
                for (int i = 0; i < C; i++)
                    dp[i] += d[i];
            }
        }
}

void rmsnorm_forward(float *out, float *rstd, const float *inp, const float *w, int N, int C,
                     float eps)
{
    for (int n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * C;
        float *o = out + (size_t)n * C;
        float ss = 0.0f;
        for (int i = 0; i < C; i++)
            ss += x[i] * x[i];
        float r = 1.0f / sqrtf(ss / C + eps);
        for (int i = 0; i < C; i++)
            o[i] = x[i] * r * w[i];
        rstd[n] = r;
    }
}

void rmsnorm_backward(float *dinp, float *dw, const float *dout, const float *inp, const float *w,
                      const float *rstd, int N, int C)
{
    for (int n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * C, *d = dout + (size_t)n * C;
        float *dx = dinp + (size_t)n * C;
        float r = rstd[n], dot = 0.0f;
        for (int i = 0; i < C; i++) {
            dot += w[i] * d[i] * x[i];
            dw[i] += d[i] * x[i] * r;
        }
        float c = dot * r * r * r / C;
        for (int i = 0; i < C; i++)
            dx[i] += r * w[i] * d[i] - c * x[i];
    }
}

void rope_table(float *cos_t, float *sin_t, int T, int hs, float theta)
{
    int half = hs / 2;
    for (int t = 0; t < T; t++)
        for (int i = 0; i < half; i++) {
            double freq = pow((double)theta, -2.0 * i / hs);
            double a = t * freq;
            cos_t[t * half + i] = (float)cos(a);
            sin_t[t * half + i] = (float)sin(a);
        }
}

static void rope_rotate(float *x, int stride, const float *cos_t, const float *sin_t,
                        const int *pos, int B, int T, int nh, int hs, float sign)
{
    int half = hs / 2;
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            float *row = x + ((size_t)b * T + t) * stride;
            size_t p = (size_t)(pos ? pos[b * T + t] : t) * half;
            const float *c = cos_t + p, *s = sin_t + p;
            for (int h = 0; h < nh; h++) {
                float *v = row + h * hs;
                for (int i = 0; i < half; i++) {
                    float x0 = v[2 * i], x1 = v[2 * i + 1], sn = sign * s[i];
                    v[2 * i] = x0 * c[i] - x1 * sn;
                    v[2 * i + 1] = x0 * sn + x1 * c[i];
                }
            }
        }
}

void rope_forward(float *x, int stride, const float *cos_t, const float *sin_t, const int *pos,
                  int B, int T, int nh, int hs)
{
    rope_rotate(x, stride, cos_t, sin_t, pos, B, T, nh, hs, 1.0f);
}

void rope_backward(float *dx, int stride, const float *cos_t, const float *sin_t, const int *pos,
                   int B, int T, int nh, int hs)
{
    rope_rotate(dx, stride, cos_t, sin_t, pos, B, T, nh, hs, -1.0f);
}

/* Attention runs per (batch row, key/value head) task so that the gradient
 * of a shared key/value head is only ever touched by one thread. Scores and
 * the weighted sums are small matrix products. */
typedef struct {
    const attn_shape *s;
    float *out, *att, *dq, *dk, *dv;
    const float *q, *k, *v, *dout, *att_c;
} attn_job;

/* First key position that query t of a row may see: the start of its
 * document (t - pos[t]) in a packed row, else 0. */
static inline int attn_first(const int *pos, int t, int window)
{
    int f = pos ? t - pos[t] : 0;
    return window > 0 && t - window + 1 > f ? t - window + 1 : f;
}

/* Row-wise softmax of the scores S(T,T) over keys first(t)..t; every other
 * probability is exactly 0, so no query reads another document. */
static void softmax_causal(float *S, int T, const int *pos, int window)
{
    for (int t = 0; t < T; t++) {
        float *a = S + (size_t)t * T, mx = -INFINITY;
        int u0 = attn_first(pos, t, window);
        for (int u = 0; u < u0; u++)
            a[u] = 0.0f;
        for (int u = u0; u <= t; u++)
            mx = a[u] > mx ? a[u] : mx;
        /* the runtime's exp-and-sum: vector exp, the sum in double */
        float inv = (float)(1.0 / act_exp_sum(a + u0, (size_t)(t - u0 + 1), mx));
        for (int u = u0; u <= t; u++)
            a[u] *= inv;
        for (int u = t + 1; u < T; u++)
            a[u] = 0.0f;
    }
}

static void attn_fwd_task(void *p, int task)
{
    const attn_job *j = p;
    const attn_shape *s = j->s;
    int T = s->T, hs = s->hs, group = s->NH / s->KVH, C = s->NH * hs;
    int b = task / s->KVH, kh = task % s->KVH;
    float scale = 1.0f / sqrtf((float)hs);
    const float *k = j->k + (size_t)b * T * s->sk + kh * hs;
    const float *v = j->v + (size_t)b * T * s->sv + kh * hs;
    for (int h = kh * group; h < (kh + 1) * group; h++) {
        const float *q = j->q + (size_t)b * T * s->sq + h * hs;
        float *S = j->att + ((size_t)b * s->NH + h) * T * T;
        tg_gemm_st(0, 1, T, T, hs, scale, q, s->sq, k, s->sk, 0.0f, S, T);
        softmax_causal(S, T, s->pos ? s->pos + (size_t)b * T : NULL, s->window);
        tg_gemm_st(0, 0, T, hs, T, 1.0f, S, T, v, s->sv, 0.0f, j->out + (size_t)b * T * C + h * hs,
                   C);
    }
}

void attention_forward(float *out, float *att, const float *q, const float *k, const float *v,
                       const attn_shape *s)
{
    attn_job j = {.s = s, .out = out, .att = att, .q = q, .k = k, .v = v};
    tp_run(s->B * s->KVH, attn_fwd_task, &j);
}

static void attn_bwd_task(void *p, int task)
{
    const attn_job *j = p;
    const attn_shape *s = j->s;
    int T = s->T, hs = s->hs, group = s->NH / s->KVH, C = s->NH * hs;
    int b = task / s->KVH, kh = task % s->KVH;
    float scale = 1.0f / sqrtf((float)hs);
    float *dS = malloc(sizeof(float) * T * T);
    if (!dS)
        abort();
    const int *pos = s->pos ? s->pos + (size_t)b * T : NULL;
    size_t ko = (size_t)b * T * s->sk + kh * hs, vo = (size_t)b * T * s->sv + kh * hs;
    for (int h = kh * group; h < (kh + 1) * group; h++) {
        size_t qo = (size_t)b * T * s->sq + h * hs;
        const float *P = j->att_c + ((size_t)b * s->NH + h) * T * T;
        const float *dO = j->dout + (size_t)b * T * C + h * hs;
        tg_gemm_st(0, 1, T, T, hs, 1.0f, dO, C, j->v + vo, s->sv, 0.0f, dS, T); /* dP */
        tg_gemm_st(1, 0, T, hs, T, 1.0f, P, T, dO, C, 1.0f, j->dv + vo, s->sv);
        for (int t = 0; t < T; t++) {
            float *d = dS + (size_t)t * T;
            const float *a = P + (size_t)t * T;
            float dot = 0.0f;
            int u0 = attn_first(pos, t, s->window);
            for (int u = u0; u <= t; u++)
                dot += a[u] * d[u];
            for (int u = 0; u < u0; u++)
                d[u] = 0.0f;
            for (int u = u0; u <= t; u++)
                d[u] = a[u] * (d[u] - dot) * scale;
            for (int u = t + 1; u < T; u++)
                d[u] = 0.0f;
        }
        tg_gemm_st(0, 0, T, hs, T, 1.0f, dS, T, j->k + ko, s->sk, 1.0f, j->dq + qo, s->sq);
        tg_gemm_st(1, 0, T, hs, T, 1.0f, dS, T, j->q + qo, s->sq, 1.0f, j->dk + ko, s->sk);
    }
    free(dS);
}

void attention_backward(float *dq, float *dk, float *dv, const float *dout, const float *att,
                        const float *q, const float *k, const float *v, const attn_shape *s)
{
    attn_job j = {.s = s, .dq = dq, .dk = dk, .dv = dv, .q = q, .k = k, .v = v, .dout = dout,
                  .att_c = att};
    tp_run(s->B * s->KVH, attn_bwd_task, &j);
}

/* ---- vectorised activations ------------------------------------------
 * The MLP activations dominate the non-matmul time when computed with libm's
 * scalar tanhf/expf. On AVX-512 CPUs they use the runtime's vexp_ps512
 * (tensor/vexp.h, relative error about 1e-7), tanh(u) = 1 - 2 / (1 + e^(2u)) with
 * |u| clamped to 9, and the logistic function 1 / (1 + e^(-x)). The
 * cross-entropy's softmax uses the same exp (16 lanes, the row's sum then
 * reduced in double). */
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#include "tensor/vexp.h"
#define V512 __attribute__((target("avx512f")))
#define HAVE_V512 1

V512 static inline __m512 sigmoid512(__m512 x)
{
    __m512 one = _mm512_set1_ps(1.0f);
    return _mm512_div_ps(one, _mm512_add_ps(one, vexp_ps512(_mm512_sub_ps(_mm512_setzero_ps(), x))));
}

V512 static inline __m512 tanh512(__m512 u)
{
    __m512 one = _mm512_set1_ps(1.0f);
    u = _mm512_min_ps(_mm512_max_ps(u, _mm512_set1_ps(-9.0f)), _mm512_set1_ps(9.0f));
    __m512 e = vexp_ps512(_mm512_add_ps(u, u));
    return _mm512_sub_ps(one, _mm512_div_ps(_mm512_set1_ps(2.0f), _mm512_add_ps(one, e)));
}

static inline __mmask16 tail(int n)
{
    return n >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << n) - 1);
}

V512 static void swiglu_fwd_v(float *h, const float *a, const float *b, const float *mk, int I)
{
    for (int i = 0; i < I; i += 16) {
        __mmask16 m = tail(I - i);
        __m512 x = _mm512_maskz_loadu_ps(m, a + i), y = _mm512_maskz_loadu_ps(m, b + i);
        __m512 v = _mm512_mul_ps(_mm512_mul_ps(x, sigmoid512(x)), y);
        if (mk)
            v = _mm512_mul_ps(v, _mm512_maskz_loadu_ps(m, mk + i));
        _mm512_mask_storeu_ps(h + i, m, v);
    }
}

V512 static void swiglu_bwd_v(float *da, float *db, const float *dh, const float *a,
                              const float *b, const float *mk, int I)
{
    __m512 one = _mm512_set1_ps(1.0f);
    for (int i = 0; i < I; i += 16) {
        __mmask16 m = tail(I - i);
        __m512 x = _mm512_maskz_loadu_ps(m, a + i), y = _mm512_maskz_loadu_ps(m, b + i);
        __m512 d = _mm512_maskz_loadu_ps(m, dh + i);
        if (mk)
            d = _mm512_mul_ps(d, _mm512_maskz_loadu_ps(m, mk + i));
        __m512 sg = sigmoid512(x), silu = _mm512_mul_ps(x, sg);
        __m512 g = _mm512_mul_ps(sg, _mm512_fmadd_ps(x, _mm512_sub_ps(one, sg), one));
        _mm512_mask_storeu_ps(db + i, m,
                              _mm512_fmadd_ps(d, silu, _mm512_maskz_loadu_ps(m, db + i)));
        _mm512_mask_storeu_ps(da + i, m,
                              _mm512_fmadd_ps(_mm512_mul_ps(d, y), g,
                                              _mm512_maskz_loadu_ps(m, da + i)));
    }
}

#define GELU_KV 0.7978845608028654f
V512 static void gelu_fwd_v(float *h, const float *a, const float *mk, int I)
{
    __m512 half = _mm512_set1_ps(0.5f), one = _mm512_set1_ps(1.0f);
    for (int i = 0; i < I; i += 16) {
        __mmask16 m = tail(I - i);
        __m512 x = _mm512_maskz_loadu_ps(m, a + i);
        __m512 x3 = _mm512_mul_ps(_mm512_mul_ps(x, x), x);
        __m512 u = _mm512_mul_ps(_mm512_set1_ps(GELU_KV),
                                 _mm512_fmadd_ps(_mm512_set1_ps(0.044715f), x3, x));
        __m512 v = _mm512_mul_ps(_mm512_mul_ps(half, x), _mm512_add_ps(one, tanh512(u)));
        if (mk)
            v = _mm512_mul_ps(v, _mm512_maskz_loadu_ps(m, mk + i));
        _mm512_mask_storeu_ps(h + i, m, v);
    }
}

V512 static void gelu_bwd_v(float *da, const float *dh, const float *a, const float *mk, int I)
{
    __m512 half = _mm512_set1_ps(0.5f), one = _mm512_set1_ps(1.0f);
    for (int i = 0; i < I; i += 16) {
        __mmask16 m = tail(I - i);
        __m512 x = _mm512_maskz_loadu_ps(m, a + i), xx = _mm512_mul_ps(x, x);
        __m512 u = _mm512_mul_ps(_mm512_set1_ps(GELU_KV),
                                 _mm512_fmadd_ps(_mm512_set1_ps(0.044715f),
                                                 _mm512_mul_ps(xx, x), x));
        __m512 th = tanh512(u), sech2 = _mm512_fnmadd_ps(th, th, one);
        __m512 du = _mm512_mul_ps(_mm512_set1_ps(GELU_KV),
                                  _mm512_fmadd_ps(_mm512_set1_ps(3.0f * 0.044715f), xx, one));
        __m512 g = _mm512_fmadd_ps(_mm512_mul_ps(_mm512_mul_ps(half, x), sech2), du,
                                   _mm512_mul_ps(half, _mm512_add_ps(one, th)));
        __m512 d = _mm512_maskz_loadu_ps(m, dh + i);
        if (mk)
            d = _mm512_mul_ps(d, _mm512_maskz_loadu_ps(m, mk + i));
        _mm512_mask_storeu_ps(da + i, m,
                              _mm512_fmadd_ps(d, g, _mm512_maskz_loadu_ps(m, da + i)));
    }
}

/* Softmax pieces of the cross-entropy over a row of V logits. Masked lanes
 * load -inf, whose exp is 0. */
V512 static float row_max_v(const float *l, int V)
{
    __m512 mx = _mm512_set1_ps(-INFINITY);
    for (int i = 0; i < V; i += 16)
        mx = _mm512_max_ps(mx, _mm512_mask_loadu_ps(_mm512_set1_ps(-INFINITY), tail(V - i), l + i));
    return _mm512_reduce_max_ps(mx);
}

/* sum of exp(l - mx); with out, also stores the terms there. */
V512 static double row_sumexp_v(float *out, const float *l, int V, float mx)
{
    __m512 acc = _mm512_setzero_ps(), m = _mm512_set1_ps(mx);
    for (int i = 0; i < V; i += 16) {
        __mmask16 k = tail(V - i);
        __m512 x = _mm512_mask_loadu_ps(_mm512_set1_ps(-INFINITY), k, l + i);
        __m512 ex = _mm512_maskz_mov_ps(k, vexp_ps512(_mm512_sub_ps(x, m)));
        if (out)
            _mm512_mask_storeu_ps(out + i, k, ex);
        acc = _mm512_add_ps(acc, ex);
    }
    return (double)_mm512_reduce_add_ps(acc);
}

V512 static void row_scale_v(float *l, int V, float s)
{
    __m512 f = _mm512_set1_ps(s);
    for (int i = 0; i < V; i += 16) {
        __mmask16 k = tail(V - i);
        _mm512_mask_storeu_ps(l + i, k, _mm512_mul_ps(_mm512_maskz_loadu_ps(k, l + i), f));
    }
}

/* AVX2 + FMA: the same formulas on 8 lanes (vexp_ps256), tails through
 * masked loads (zero-filled) and stores. */
#define V256 __attribute__((target("avx2,fma")))

V256 static inline __m256 sigmoid256(__m256 x)
{
    __m256 one = _mm256_set1_ps(1.0f);
    return _mm256_div_ps(one, _mm256_add_ps(one, vexp_ps256(_mm256_sub_ps(_mm256_setzero_ps(), x))));
}

V256 static inline __m256 tanh256(__m256 u)
{
    __m256 one = _mm256_set1_ps(1.0f);
    u = _mm256_min_ps(_mm256_max_ps(u, _mm256_set1_ps(-9.0f)), _mm256_set1_ps(9.0f));
    __m256 e = vexp_ps256(_mm256_add_ps(u, u));
    return _mm256_sub_ps(one, _mm256_div_ps(_mm256_set1_ps(2.0f), _mm256_add_ps(one, e)));
}

/* Loads and stores of lanes [0, left) of a vector at p (all 8 when left >= 8). */
#define LD8(p, k, full) ((full) ? _mm256_loadu_ps(p) : _mm256_maskload_ps((p), (k)))
#define ST8(p, k, full, v)                                                                         \
    do {                                                                                           \
        if (full)                                                                                  \
            _mm256_storeu_ps((p), (v));                                                            \
        else                                                                                       \
            _mm256_maskstore_ps((p), (k), (v));                                                    \
    } while (0)

V256 static void swiglu_fwd_v8(float *h, const float *a, const float *b, const float *mk, int I)
{
    for (int i = 0; i < I; i += 8) {
        int full = i + 8 <= I;
        __m256i k = vmask_epi32(I - i);
        __m256 x = LD8(a + i, k, full), y = LD8(b + i, k, full);
        __m256 v = _mm256_mul_ps(_mm256_mul_ps(x, sigmoid256(x)), y);
        if (mk)
            v = _mm256_mul_ps(v, LD8(mk + i, k, full));
        ST8(h + i, k, full, v);
    }
}

V256 static void swiglu_bwd_v8(float *da, float *db, const float *dh, const float *a,
                               const float *b, const float *mk, int I)
{
    __m256 one = _mm256_set1_ps(1.0f);
    for (int i = 0; i < I; i += 8) {
        int full = i + 8 <= I;
        __m256i k = vmask_epi32(I - i);
        __m256 x = LD8(a + i, k, full), y = LD8(b + i, k, full);
        __m256 d = LD8(dh + i, k, full);
        if (mk)
            d = _mm256_mul_ps(d, LD8(mk + i, k, full));
        __m256 sg = sigmoid256(x), silu = _mm256_mul_ps(x, sg);
        __m256 g = _mm256_mul_ps(sg, _mm256_fmadd_ps(x, _mm256_sub_ps(one, sg), one));
        ST8(db + i, k, full, _mm256_fmadd_ps(d, silu, LD8(db + i, k, full)));
        ST8(da + i, k, full, _mm256_fmadd_ps(_mm256_mul_ps(d, y), g, LD8(da + i, k, full)));
    }
}

V256 static void gelu_fwd_v8(float *h, const float *a, const float *mk, int I)
{
    __m256 half = _mm256_set1_ps(0.5f), one = _mm256_set1_ps(1.0f);
    for (int i = 0; i < I; i += 8) {
        int full = i + 8 <= I;
        __m256i k = vmask_epi32(I - i);
        __m256 x = LD8(a + i, k, full);
        __m256 x3 = _mm256_mul_ps(_mm256_mul_ps(x, x), x);
        __m256 u = _mm256_mul_ps(_mm256_set1_ps(GELU_KV),
                                 _mm256_fmadd_ps(_mm256_set1_ps(0.044715f), x3, x));
        __m256 v = _mm256_mul_ps(_mm256_mul_ps(half, x), _mm256_add_ps(one, tanh256(u)));
        if (mk)
            v = _mm256_mul_ps(v, LD8(mk + i, k, full));
        ST8(h + i, k, full, v);
    }
}

V256 static void gelu_bwd_v8(float *da, const float *dh, const float *a, const float *mk, int I)
{
    __m256 half = _mm256_set1_ps(0.5f), one = _mm256_set1_ps(1.0f);
    for (int i = 0; i < I; i += 8) {
        int full = i + 8 <= I;
        __m256i k = vmask_epi32(I - i);
        __m256 x = LD8(a + i, k, full), xx = _mm256_mul_ps(x, x);
        __m256 u = _mm256_mul_ps(_mm256_set1_ps(GELU_KV),
                                 _mm256_fmadd_ps(_mm256_set1_ps(0.044715f),
                                                 _mm256_mul_ps(xx, x), x));
        __m256 th = tanh256(u), sech2 = _mm256_fnmadd_ps(th, th, one);
        __m256 du = _mm256_mul_ps(_mm256_set1_ps(GELU_KV),
                                  _mm256_fmadd_ps(_mm256_set1_ps(3.0f * 0.044715f), xx, one));
        __m256 g = _mm256_fmadd_ps(_mm256_mul_ps(_mm256_mul_ps(half, x), sech2), du,
                                   _mm256_mul_ps(half, _mm256_add_ps(one, th)));
        __m256 d = LD8(dh + i, k, full);
        if (mk)
            d = _mm256_mul_ps(d, LD8(mk + i, k, full));
        ST8(da + i, k, full, _mm256_fmadd_ps(d, g, LD8(da + i, k, full)));
    }
}

V256 static float hmax8(__m256 v)
{
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    return _mm_cvtss_f32(m);
}

V256 static float hsum8(__m256 v)
{
    __m128 m = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_add_ps(m, _mm_movehl_ps(m, m));
    m = _mm_add_ss(m, _mm_movehdup_ps(m));
    return _mm_cvtss_f32(m);
}

/* Masked lanes count as -inf (max) and 0 (sums), as in the AVX-512 code. */
V256 static float row_max_v8(const float *l, int V)
{
    __m256 ninf = _mm256_set1_ps(-INFINITY), mx = ninf;
    int i = 0;
    for (; i + 8 <= V; i += 8)
        mx = _mm256_max_ps(mx, _mm256_loadu_ps(l + i));
    if (i < V) {
        __m256i k = vmask_epi32(V - i);
        mx = _mm256_max_ps(mx, _mm256_blendv_ps(ninf, _mm256_maskload_ps(l + i, k),
                                                _mm256_castsi256_ps(k)));
    }
    return hmax8(mx);
}

V256 static double row_sumexp_v8(float *out, const float *l, int V, float mx)
{
    __m256 acc = _mm256_setzero_ps(), m = _mm256_set1_ps(mx);
    for (int i = 0; i < V; i += 8) {
        int full = i + 8 <= V;
        __m256i k = vmask_epi32(V - i);
        __m256 ex = vexp_ps256(_mm256_sub_ps(LD8(l + i, k, full), m));
        if (!full)
            ex = _mm256_and_ps(ex, _mm256_castsi256_ps(k));
        if (out)
            ST8(out + i, k, full, ex);
        acc = _mm256_add_ps(acc, ex);
    }
    return (double)hsum8(acc);
}

V256 static void row_scale_v8(float *l, int V, float s)
{
    __m256 f = _mm256_set1_ps(s);
    for (int i = 0; i < V; i += 8) {
        int full = i + 8 <= V;
        __m256i k = vmask_epi32(V - i);
        ST8(l + i, k, full, _mm256_mul_ps(LD8(l + i, k, full), f));
    }
}

/* Which vector kernels the row loops use: 2 AVX-512, 1 AVX2, 0 none. */
static int vec_level(void)
{
    cape_isa l = cape_isa_level();
    return l >= CAPE_ISA_AVX512 ? 2 : l >= CAPE_ISA_AVX2 ? 1 : 0;
}
#else
#define HAVE_V512 0
__attribute__((unused)) static int vec_level(void)
{
    return 0;
}
#endif

static inline float sigmoidf(float x)
{
    return 1.0f / (1.0f + expf(-x));
}

typedef struct {
    float *h, *da, *db;
    const float *a, *b, *dh, *mask;
    int T, I, vl; /* vl: vec_level() */
} act_job;

static void swiglu_fwd_rows(void *p, int lo, int hi)
{
    act_job *j = p;
    int I = j->I;
    for (int n = lo; n < hi; n++) {
        const float *ar = j->a + (size_t)n * I, *br = j->b + (size_t)n * I;
        const float *mk = j->mask ? j->mask + (size_t)(n / j->T) * I : NULL;
        float *hr = j->h + (size_t)n * I;
#if HAVE_V512
        if (j->vl == 2) {
            swiglu_fwd_v(hr, ar, br, mk, I);
            continue;
        }
        if (j->vl == 1) {
            swiglu_fwd_v8(hr, ar, br, mk, I);
            continue;
        }
#endif
        for (int i = 0; i < I; i++) {
            float val = ar[i] * sigmoidf(ar[i]) * br[i];
            hr[i] = mk ? val * mk[i] : val;
        }
    }
}

void swiglu_forward(float *h, const float *a, const float *b, const float *mask, int N, int T,
                    int I)
{
    act_job j = {.h = h, .a = a, .b = b, .mask = mask, .T = T, .I = I, .vl = vec_level()};
    parallel_rows(N, swiglu_fwd_rows, &j);
}

static void swiglu_bwd_rows(void *p, int lo, int hi)
{
    act_job *j = p;
    int I = j->I;
    for (int n = lo; n < hi; n++) {
        const float *ar = j->a + (size_t)n * I, *br = j->b + (size_t)n * I;
        const float *dr = j->dh + (size_t)n * I;
        const float *mk = j->mask ? j->mask + (size_t)(n / j->T) * I : NULL;
        float *dar = j->da + (size_t)n * I, *dbr = j->db + (size_t)n * I;
#if HAVE_V512
        if (j->vl == 2) {
            swiglu_bwd_v(dar, dbr, dr, ar, br, mk, I);
            continue;
        }
        if (j->vl == 1) {
            swiglu_bwd_v8(dar, dbr, dr, ar, br, mk, I);
            continue;
        }
#endif
        for (int i = 0; i < I; i++) {
            float d = mk ? dr[i] * mk[i] : dr[i];
            float sg = sigmoidf(ar[i]), silu = ar[i] * sg;
            dbr[i] += d * silu;
            dar[i] += d * br[i] * sg * (1.0f + ar[i] * (1.0f - sg));
        }
    }
}

void swiglu_backward(float *da, float *db, const float *dh, const float *a, const float *b,
                     const float *mask, int N, int T, int I)
{
    act_job j = {.da = da, .db = db, .dh = dh, .a = a, .b = b, .mask = mask, .T = T, .I = I,
                 .vl = vec_level()};
    parallel_rows(N, swiglu_bwd_rows, &j);
}

#define GELU_K 0.7978845608028654f /* sqrt(2/pi) */

static void gelu_fwd_rows(void *p, int lo, int hi)
{
    act_job *j = p;
    int I = j->I;
    for (int n = lo; n < hi; n++) {
        const float *ar = j->a + (size_t)n * I;
        const float *mk = j->mask ? j->mask + (size_t)(n / j->T) * I : NULL;
        float *hr = j->h + (size_t)n * I;
#if HAVE_V512
        if (j->vl == 2) {
            gelu_fwd_v(hr, ar, mk, I);
            continue;
        }
        if (j->vl == 1) {
            gelu_fwd_v8(hr, ar, mk, I);
            continue;
        }
#endif
        for (int i = 0; i < I; i++) {
            float x = ar[i];
            float val = 0.5f * x * (1.0f + tanhf(GELU_K * (x + 0.044715f * x * x * x)));
            hr[i] = mk ? val * mk[i] : val;
        }
    }
}

void gelu_forward(float *h, const float *a, const float *mask, int N, int T, int I)
{
    act_job j = {.h = h, .a = a, .mask = mask, .T = T, .I = I, .vl = vec_level()};
    parallel_rows(N, gelu_fwd_rows, &j);
}

static void gelu_bwd_rows(void *p, int lo, int hi)
{
    act_job *j = p;
    int I = j->I;
    for (int n = lo; n < hi; n++) {
        const float *ar = j->a + (size_t)n * I, *dr = j->dh + (size_t)n * I;
        const float *mk = j->mask ? j->mask + (size_t)(n / j->T) * I : NULL;
        float *dar = j->da + (size_t)n * I;
#if HAVE_V512
        if (j->vl == 2) {
            gelu_bwd_v(dar, dr, ar, mk, I);
            continue;
        }
        if (j->vl == 1) {
            gelu_bwd_v8(dar, dr, ar, mk, I);
            continue;
        }
#endif
        for (int i = 0; i < I; i++) {
            float x = ar[i], u = GELU_K * (x + 0.044715f * x * x * x);
            float th = tanhf(u), sech2 = 1.0f - th * th;
            float g = 0.5f * (1.0f + th) +
                      0.5f * x * sech2 * GELU_K * (1.0f + 3.0f * 0.044715f * x * x);
            float d = mk ? dr[i] * mk[i] : dr[i];
            dar[i] += d * g;
        }
    }
}

void gelu_backward(float *da, const float *dh, const float *a, const float *mask, int N, int T,
                   int I)
{
    act_job j = {.da = da, .dh = dh, .a = a, .mask = mask, .T = T, .I = I, .vl = vec_level()};
    parallel_rows(N, gelu_bwd_rows, &j);
}

typedef struct {
    float *losses;
    const float *logits;
    const int *targets;
    int V, vl;
} cef_job;

/* A row's maximum and sum of exp(l - shift) (the terms stored in out when
 * out is given) on the vector path vl, or the scalar reference. */
static float row_max_any(int vl, const float *l, int n)
{
#if HAVE_V512
    if (vl == 2)
        return row_max_v(l, n);
    if (vl == 1)
        return row_max_v8(l, n);
#endif
    (void)vl;
    float mx = -INFINITY;
    for (int i = 0; i < n; i++)
        mx = l[i] > mx ? l[i] : mx;
    return mx;
}

static double row_sumexp_any(int vl, float *out, const float *l, int n, float shift)
{
#if HAVE_V512
    if (vl == 2)
        return row_sumexp_v(out, l, n, shift);
    if (vl == 1)
        return row_sumexp_v8(out, l, n, shift);
#endif
    (void)vl;
    double s = 0.0;
    for (int i = 0; i < n; i++) {
        float e = expf(l[i] - shift);
        if (out)
            out[i] = e;
        s += e;
    }
    return s;
}

static void row_scale_any(int vl, float *l, int n, float f)
{
#if HAVE_V512
    if (vl == 2) {
        row_scale_v(l, n, f);
        return;
    }
    if (vl == 1) {
        row_scale_v8(l, n, f);
        return;
    }
#endif
    (void)vl;
    for (int i = 0; i < n; i++)
        l[i] *= f;
}

static void ce_fwd_rows(void *p, int lo, int hi)
{
    cef_job *j = p;
    int V = j->V;
    for (int n = lo; n < hi; n++) {
        if (j->targets[n] < 0) {
            j->losses[n] = 0.0f;
            continue;
        }
        const float *l = j->logits + (size_t)n * V;
        float mx = row_max_any(j->vl, l, V);
        double sum = row_sumexp_any(j->vl, NULL, l, V, mx);
        j->losses[n] = (float)(log(sum) - (double)(l[j->targets[n]] - mx));
    }
}

double crossentropy_forward(float *losses, const float *logits, const int *targets, int N, int V,
                            int *n_counted)
{
    float *own = losses ? NULL : malloc(sizeof(float) * (N ? N : 1));
    if (!losses && !own)
        abort();
    cef_job j = {losses ? losses : own, logits, targets, V, vec_level()};
    parallel_rows(N, ce_fwd_rows, &j);
    double total = 0.0;
    int count = 0;
    for (int n = 0; n < N; n++)
        if (targets[n] >= 0) {
            total += j.losses[n];
            count++;
        }
    free(own);
    *n_counted = count;
    return total;
}

typedef struct {
    float *logits;
    const int *targets;
    int V;
    float dloss;
    int vl;
} ce_job;

static void ce_bwd_rows(void *p, int lo, int hi)
{
    ce_job *j = p;
    int V = j->V;
    for (int n = lo; n < hi; n++) {
        float *l = j->logits + (size_t)n * V;
        if (j->targets[n] < 0) {
            memset(l, 0, sizeof(float) * V);
            continue;
        }
        float mx = row_max_any(j->vl, l, V);
        double sum = row_sumexp_any(j->vl, l, l, V, mx);
        row_scale_any(j->vl, l, V, (float)(j->dloss / sum));
        l[j->targets[n]] -= j->dloss;
    }
}

void crossentropy_backward(float *logits, const int *targets, int N, int V, float dloss)
{
    ce_job j = {logits, targets, V, dloss, vec_level()};
    parallel_rows(N, ce_bwd_rows, &j);
}

/* ---- LayerNorm ----------------------------------------------------------
 * Rows in parallel; the backward's weight and bias gradients are summed per
 * thread (a fixed range of rows each) and then added in thread order, so a
 * run stays bit-identical for a given thread count. */
typedef struct {
    float *out, *mean, *rstd, *dinp, *dw, *db, *part;
    const float *inp, *w, *b, *dout;
    int N, C, chunk, vl;
    float eps;
} ln_job;

static void ln_fwd_row(float *o, float *mean, float *rstd, const float *x, const float *w,
                       const float *b, int C, float eps)
{
    float m = 0.0f, v = 0.0f;
    for (int i = 0; i < C; i++)
        m += x[i];
    m /= C;
    for (int i = 0; i < C; i++)
        v += (x[i] - m) * (x[i] - m);
    float r = 1.0f / sqrtf(v / C + eps);
    for (int i = 0; i < C; i++)
        o[i] = (x[i] - m) * r * w[i] + b[i];
    *mean = m;
    *rstd = r;
}

static void ln_bwd_row(float *dx, float *dw, float *db, const float *d, const float *x,
                       const float *w, float m, float r, int C)
{
    float dnorm_mean = 0.0f, dnorm_norm_mean = 0.0f;
    for (int i = 0; i < C; i++) {
        float xh = (x[i] - m) * r, dn = w[i] * d[i];
        dnorm_mean += dn;
        dnorm_norm_mean += dn * xh;
    }
    dnorm_mean /= C;
    dnorm_norm_mean /= C;
    for (int i = 0; i < C; i++) {
        float xh = (x[i] - m) * r, dn = w[i] * d[i];
        db[i] += d[i];
        dw[i] += xh * d[i];
        dx[i] += (dn - dnorm_mean - xh * dnorm_norm_mean) * r;
    }
}

#if HAVE_V512
/* AVX2 rows (also used on AVX-512 machines: C is a few hundred floats, the
 * row is in L1 either way). Sums in 8 lanes, then across them. */
V256 static void ln_fwd_row_v8(float *o, float *mean, float *rstd, const float *x, const float *w,
                               const float *b, int C, float eps)
{
    __m256 s = _mm256_setzero_ps();
    for (int i = 0; i < C; i += 8) {
        int full = i + 8 <= C;
        s = _mm256_add_ps(s, LD8(x + i, vmask_epi32(C - i), full));
    }
    float m = hsum8(s) / C;
    __m256 vm = _mm256_set1_ps(m), v = _mm256_setzero_ps();
    for (int i = 0; i < C; i += 8) {
        int full = i + 8 <= C;
        __m256i k = vmask_epi32(C - i);
        __m256 dx = _mm256_sub_ps(LD8(x + i, k, full), vm);
        if (!full) /* masked lanes would give (0 - m)^2 */
            dx = _mm256_and_ps(dx, _mm256_castsi256_ps(k));
        v = _mm256_fmadd_ps(dx, dx, v);
    }
    float r = 1.0f / sqrtf(hsum8(v) / C + eps);
    __m256 vr = _mm256_set1_ps(r);
    for (int i = 0; i < C; i += 8) {
        int full = i + 8 <= C;
        __m256i k = vmask_epi32(C - i);
        __m256 xh = _mm256_mul_ps(_mm256_sub_ps(LD8(x + i, k, full), vm), vr);
        ST8(o + i, k, full, _mm256_fmadd_ps(xh, LD8(w + i, k, full), LD8(b + i, k, full)));
    }
    *mean = m;
    *rstd = r;
}

V256 static void ln_bwd_row_v8(float *dx, float *dw, float *db, const float *d, const float *x,
                               const float *w, float m, float r, int C)
{
    __m256 vm = _mm256_set1_ps(m), vr = _mm256_set1_ps(r);
    __m256 s1 = _mm256_setzero_ps(), s2 = _mm256_setzero_ps();
    for (int i = 0; i < C; i += 8) { /* masked lanes load 0: dn = 0 adds nothing */
        int full = i + 8 <= C;
        __m256i k = vmask_epi32(C - i);
        __m256 xh = _mm256_mul_ps(_mm256_sub_ps(LD8(x + i, k, full), vm), vr);
        __m256 dn = _mm256_mul_ps(LD8(w + i, k, full), LD8(d + i, k, full));
        s1 = _mm256_add_ps(s1, dn);
        s2 = _mm256_fmadd_ps(dn, xh, s2);
    }
    __m256 dnm = _mm256_set1_ps(hsum8(s1) / C), dnnm = _mm256_set1_ps(hsum8(s2) / C);
    for (int i = 0; i < C; i += 8) {
        int full = i + 8 <= C;
        __m256i k = vmask_epi32(C - i);
        __m256 di = LD8(d + i, k, full);
        __m256 xh = _mm256_mul_ps(_mm256_sub_ps(LD8(x + i, k, full), vm), vr);
        __m256 dn = _mm256_mul_ps(LD8(w + i, k, full), di);
        ST8(db + i, k, full, _mm256_add_ps(LD8(db + i, k, full), di));
        ST8(dw + i, k, full, _mm256_fmadd_ps(xh, di, LD8(dw + i, k, full)));
        __m256 g = _mm256_sub_ps(_mm256_sub_ps(dn, dnm), _mm256_mul_ps(xh, dnnm));
        ST8(dx + i, k, full, _mm256_fmadd_ps(g, vr, LD8(dx + i, k, full)));
    }
}
#endif

static void ln_fwd_rows(void *p, int lo, int hi)
{
    ln_job *j = p;
    int C = j->C;
    for (int n = lo; n < hi; n++) {
        const float *x = j->inp + (size_t)n * C;
        float *o = j->out + (size_t)n * C;
#if HAVE_V512
        if (j->vl) {
            ln_fwd_row_v8(o, j->mean + n, j->rstd + n, x, j->w, j->b, C, j->eps);
            continue;
        }
#endif
        ln_fwd_row(o, j->mean + n, j->rstd + n, x, j->w, j->b, C, j->eps);
    }
}

void layernorm_forward(float *out, float *mean, float *rstd, const float *inp, const float *w,
                       const float *b, int N, int C, float eps)
{
    ln_job j = {.out = out, .mean = mean, .rstd = rstd, .inp = inp, .w = w, .b = b, .N = N,
                .C = C, .eps = eps, .vl = vec_level()};
    parallel_rows(N, ln_fwd_rows, &j);
}

/* rows [lo, hi) into dw, db (a thread's partial sums, or the gradients) */
static void ln_bwd_range(const ln_job *j, int lo, int hi, float *dw, float *db)
{
    int C = j->C;
    for (int n = lo; n < hi; n++) {
        const float *x = j->inp + (size_t)n * C, *d = j->dout + (size_t)n * C;
        float *dx = j->dinp + (size_t)n * C;
#if HAVE_V512
        if (j->vl) {
            ln_bwd_row_v8(dx, dw, db, d, x, j->w, j->mean[n], j->rstd[n], C);
            continue;
        }
#endif
        ln_bwd_row(dx, dw, db, d, x, j->w, j->mean[n], j->rstd[n], C);
    }
}

static void ln_bwd_task(void *p, int i)
{
    ln_job *j = p;
    int lo = i * j->chunk, hi = lo + j->chunk < j->N ? lo + j->chunk : j->N;
    float *dw = j->part + (size_t)i * 2 * j->C;
    memset(dw, 0, sizeof(float) * 2 * j->C);
    ln_bwd_range(j, lo, hi, dw, dw + j->C);
}

void layernorm_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp,
                        const float *w, const float *mean, const float *rstd, int N, int C)
{
    ln_job j = {.dinp = dinp, .dout = dout, .inp = inp, .w = w, .mean = (float *)mean,
                .rstd = (float *)rstd, .N = N, .C = C, .vl = vec_level()};
    int nt = tp_threads();
    if (nt > 1 && N >= 64)
        j.part = malloc(sizeof(float) * 2 * (size_t)C * nt);
    if (!j.part) {
        ln_bwd_range(&j, 0, N, dw, db);
        return;
    }
    j.chunk = (N + nt - 1) / nt;
    tp_run(nt, ln_bwd_task, &j);
    for (int t = 0; t < nt; t++) {
        const float *pw = j.part + (size_t)t * 2 * C, *pb = pw + C;
        for (int i = 0; i < C; i++) {
            dw[i] += pw[i];
            db[i] += pb[i];
        }
    }
    free(j.part);
}

/* ---- layers of the open-weight architectures ----------------------------- */

static void rope_neox_rotate(float *x, int stride, const float *cos_t, const float *sin_t,
                             const int *pos, int B, int T, int nh, int hs, float sign)
{
    int half = hs / 2;
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            float *row = x + ((size_t)b * T + t) * stride;
            size_t p = (size_t)(pos ? pos[b * T + t] : t) * half;
            const float *c = cos_t + p, *s = sin_t + p;
            for (int h = 0; h < nh; h++) {
                float *v = row + (size_t)h * hs;
                for (int i = 0; i < half; i++) {
                    float x0 = v[i], x1 = v[i + half], sn = sign * s[i];
                    v[i] = x0 * c[i] - x1 * sn;
                    v[i + half] = x0 * sn + x1 * c[i];
                }
            }
        }
}

void rope_neox_forward(float *x, int stride, const float *cos_t, const float *sin_t,
                       const int *pos, int B, int T, int nh, int hs)
{
    rope_neox_rotate(x, stride, cos_t, sin_t, pos, B, T, nh, hs, 1.0f);
}

void rope_neox_backward(float *dx, int stride, const float *cos_t, const float *sin_t,
                        const int *pos, int B, int T, int nh, int hs)
{
    rope_neox_rotate(dx, stride, cos_t, sin_t, pos, B, T, nh, hs, -1.0f);
}

static float gelu_tanh(float x)
{
    return 0.5f * x * (1.0f + tanhf(GELU_K * (x + 0.044715f * x * x * x)));
}

static float gelu_tanh_grad(float x)
{
    float u = GELU_K * (x + 0.044715f * x * x * x), th = tanhf(u), sech2 = 1.0f - th * th;
    return 0.5f * (1.0f + th) + 0.5f * x * sech2 * GELU_K * (1.0f + 3.0f * 0.044715f * x * x);
}

static void geglu_fwd_rows(void *p, int lo, int hi)
{
    act_job *j = p;
    int I = j->I;
    for (int n = lo; n < hi; n++) {
        const float *ar = j->a + (size_t)n * I, *br = j->b + (size_t)n * I;
        const float *mk = j->mask ? j->mask + (size_t)(n / j->T) * I : NULL;
        float *hr = j->h + (size_t)n * I;
        for (int i = 0; i < I; i++) {
            float val = gelu_tanh(ar[i]) * br[i];
            hr[i] = mk ? val * mk[i] : val;
        }
    }
}

void geglu_forward(float *h, const float *a, const float *b, const float *mask, int N, int T,
                   int I)
{
    act_job j = {.h = h, .a = a, .b = b, .mask = mask, .T = T, .I = I};
    parallel_rows(N, geglu_fwd_rows, &j);
}

static void geglu_bwd_rows(void *p, int lo, int hi)
{
    act_job *j = p;
    int I = j->I;
    for (int n = lo; n < hi; n++) {
        const float *ar = j->a + (size_t)n * I, *br = j->b + (size_t)n * I;
        const float *dr = j->dh + (size_t)n * I;
        const float *mk = j->mask ? j->mask + (size_t)(n / j->T) * I : NULL;
        float *dar = j->da + (size_t)n * I, *dbr = j->db + (size_t)n * I;
        for (int i = 0; i < I; i++) {
            float d = mk ? dr[i] * mk[i] : dr[i];
            dbr[i] += d * gelu_tanh(ar[i]);
            dar[i] += d * br[i] * gelu_tanh_grad(ar[i]);
        }
    }
}

void geglu_backward(float *da, float *db, const float *dh, const float *a, const float *b,
                    const float *mask, int N, int T, int I)
{
    act_job j = {.da = da, .db = db, .dh = dh, .a = a, .b = b, .mask = mask, .T = T, .I = I};
    parallel_rows(N, geglu_bwd_rows, &j);
}

/* ---- fused, chunked softmax cross-entropy ---------------------------------
 * The logits of V_c vocabulary rows at a time: (N, V_c) = x (N,C) @ w_c^T.
 * Forward: a running maximum and rescaled sum of exponentials per position
 * (the online softmax of Milakov & Gimelshein 2018), the target's logit
 * picked from its chunk; lse = max + log(sum). Backward: the same chunks
 * again, dlogits = (exp(l - lse) - onehot) * dloss, pushed through the
 * product at once (dx += dl @ w_c, dw_c += dl^T @ x). */

/* One vocabulary chunk of the fused cross-entropy, rows in parallel. */
typedef struct {
    float *buf;
    const int *targets, *rows;
    int v0, nv, vl;
    double *sum;
    float *mx, *tl;
    const float *lse;
    float dloss;
} cec_job;

static void cec_fwd_rows(void *p, int lo, int hi)
{
    cec_job *j = p;
    for (int r = lo; r < hi; r++) {
        int t = j->targets[j->rows[r]];
        const float *l = j->buf + (size_t)r * j->nv;
        float m = row_max_any(j->vl, l, j->nv);
        m = m > j->mx[r] ? m : j->mx[r];
        double s = j->mx[r] == -INFINITY ? 0.0 : j->sum[r] * exp((double)j->mx[r] - m);
        j->sum[r] = s + row_sumexp_any(j->vl, NULL, l, j->nv, m);
        j->mx[r] = m;
        if (t >= j->v0 && t < j->v0 + j->nv)
            j->tl[r] = l[t - j->v0];
    }
}

static void cec_bwd_rows(void *p, int lo, int hi)
{
    cec_job *j = p;
    for (int r = lo; r < hi; r++) {
        int n = j->rows[r], t = j->targets[n];
        float *l = j->buf + (size_t)r * j->nv;
        row_sumexp_any(j->vl, l, l, j->nv, j->lse[n]);
        row_scale_any(j->vl, l, j->nv, j->dloss);
        if (t >= j->v0 && t < j->v0 + j->nv)
            l[t - j->v0] -= j->dloss;
    }
}

static int chunk_of(int V, int vc)
{
    return vc > 0 && vc < V ? vc : V;
}

/* The rows of x whose target counts, packed: the head's product runs on
 * them alone (a question's tokens have no target, and in a GCG candidate
 * only the answer has), so its cost follows the counted positions, not the
 * sequence. rows[i] is the original row of packed row i; returns the count,
 * or -1 out of memory. */
static int pack_counted(const float *x, const int *targets, int N, int C, float **xp, int **rows)
{
    int n = 0;
    for (int i = 0; i < N; i++)
        n += targets[i] >= 0;
    *xp = malloc(sizeof(float) * ((size_t)n * C + 1));
    *rows = malloc(sizeof(int) * ((size_t)n + 1));
    if (!*xp || !*rows) {
        free(*xp);
        free(*rows);
        return -1;
    }
    for (int i = 0, j = 0; i < N; i++)
        if (targets[i] >= 0) {
            memcpy(*xp + (size_t)j * C, x + (size_t)i * C, sizeof(float) * C);
            (*rows)[j++] = i;
        }
    return n;
}

double ce_chunked_forward(float *losses, float *lse, float *buf, const float *x, const float *w,
                          const int *targets, int N, int C, int V, int vc, int *n_counted)
{
    vc = chunk_of(V, vc);
    float *xp;
    int *rows;
    int M = pack_counted(x, targets, N, C, &xp, &rows);
    double *sum = malloc(sizeof(double) * (size_t)(M > 0 ? M : 1));
    float *mx = malloc(sizeof(float) * (size_t)(M > 0 ? M : 1));
    float *tl = malloc(sizeof(float) * (size_t)(M > 0 ? M : 1));
    if (M < 0 || !sum || !mx || !tl)
        abort();
    for (int j = 0; j < M; j++) {
        sum[j] = 0.0;
        mx[j] = -INFINITY;
        tl[j] = 0.0f;
    }
    for (int v0 = 0; v0 < V && M > 0; v0 += vc) {
        int nv = V - v0 < vc ? V - v0 : vc;
        matmul_forward(buf, xp, w + (size_t)v0 * C, NULL, M, C, nv);
        cec_job j = {.buf = buf, .targets = targets, .rows = rows, .v0 = v0, .nv = nv,
                     .vl = vec_level(), .sum = sum, .mx = mx, .tl = tl};
        parallel_rows(M, cec_fwd_rows, &j);
    }
    for (int n = 0; n < N; n++)
        losses[n] = lse[n] = 0.0f;
    double total = 0.0;
    for (int j = 0; j < M; j++) {
        int n = rows[j];
        lse[n] = (float)((double)mx[j] + log(sum[j]));
        losses[n] = (float)(log(sum[j]) - (double)(tl[j] - mx[j]));
        total += losses[n];
    }
    free(sum);
    free(mx);
    free(tl);
    free(xp);
    free(rows);
    *n_counted = M;
    return total;
}

void ce_chunked_backward(float *dx, float *dw, float *buf, const float *x, const float *w,
                         const int *targets, const float *lse, int N, int C, int V, int vc,
                         float dloss)
{
    vc = chunk_of(V, vc);
    float *xp;
    int *rows;
    int M = pack_counted(x, targets, N, C, &xp, &rows);
    float *dxp = dx ? calloc((size_t)(M > 0 ? M : 1) * C, sizeof(float)) : NULL;
    if (M < 0 || (dx && !dxp))
        abort();
    for (int v0 = 0; v0 < V && M > 0; v0 += vc) {
        int nv = V - v0 < vc ? V - v0 : vc;
        matmul_forward(buf, xp, w + (size_t)v0 * C, NULL, M, C, nv);
        cec_job j = {.buf = buf, .targets = targets, .rows = rows, .v0 = v0, .nv = nv,
                     .vl = vec_level(), .lse = lse, .dloss = dloss};
        parallel_rows(M, cec_bwd_rows, &j);
        if (dx)
            tg_gemm(0, 0, M, C, nv, buf, nv, w + (size_t)v0 * C, C, 1.0f, dxp, C);
        if (dw)
            tg_gemm(1, 0, nv, C, M, buf, nv, xp, C, 1.0f, dw + (size_t)v0 * C, C);
    }
    for (int j = 0; dx && j < M; j++) {
        float *d = dx + (size_t)rows[j] * C;
        const float *s = dxp + (size_t)j * C;
        for (int c = 0; c < C; c++)
            d[c] += s[c];
    }
    free(dxp);
    free(xp);
    free(rows);
}

void ce_chunked_argmax(int *out, float *buf, const float *x, const float *w, const int *targets,
                       int N, int C, int V, int vc)
{
    vc = chunk_of(V, vc);
    float *xp;
    int *rows;
    int M = pack_counted(x, targets, N, C, &xp, &rows);
    float *best = malloc(sizeof(float) * (size_t)(M > 0 ? M : 1));
    if (M < 0 || !best)
        abort();
    for (int n = 0; n < N; n++)
        out[n] = -1;
    for (int v0 = 0; v0 < V && M > 0; v0 += vc) {
        int nv = V - v0 < vc ? V - v0 : vc;
        matmul_forward(buf, xp, w + (size_t)v0 * C, NULL, M, C, nv);
        for (int j = 0; j < M; j++) {
            const float *l = buf + (size_t)j * nv;
            int *o = &out[rows[j]];
            for (int i = 0; i < nv; i++)
                if (*o < 0 || l[i] > best[j]) { /* strictly greater: ties keep the lower id */
                    best[j] = l[i];
                    *o = v0 + i;
                }
        }
    }
    free(best);
    free(xp);
    free(rows);
}
