#include "train/train_layers.h"

#include <math.h>
#include <string.h>

#include <stdlib.h>

#include "base/isa.h"
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
    tg_gemm(0, 1, N, OC, C, inp, C, w, C, 0.0f, out, OC);
    if (bias)
        for (int n = 0; n < N; n++) {
            float *o = out + (size_t)n * OC;
            for (int j = 0; j < OC; j++)
                o[j] += bias[j];
        }
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

void layernorm_forward(float *out, float *mean, float *rstd, const float *inp, const float *w,
                       const float *b, int N, int C, float eps)
{
    for (int n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * C;
        float *o = out + (size_t)n * C;
        float m = 0.0f, v = 0.0f;
        for (int i = 0; i < C; i++)
            m += x[i];
        m /= C;
        for (int i = 0; i < C; i++)
            v += (x[i] - m) * (x[i] - m);
        float r = 1.0f / sqrtf(v / C + eps);
        for (int i = 0; i < C; i++)
            o[i] = (x[i] - m) * r * w[i] + b[i];
        mean[n] = m;
        rstd[n] = r;
    }
}

void layernorm_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp,
                        const float *w, const float *mean, const float *rstd, int N, int C)
{
    for (int n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * C, *d = dout + (size_t)n * C;
        float *dx = dinp + (size_t)n * C;
        float m = mean[n], r = rstd[n];
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
static inline int attn_first(const int *pos, int t)
{
    return pos ? t - pos[t] : 0;
}

/* Row-wise softmax of the scores S(T,T) over keys first(t)..t; every other
 * probability is exactly 0, so no query reads another document. */
static void softmax_causal(float *S, int T, const int *pos)
{
    for (int t = 0; t < T; t++) {
        float *a = S + (size_t)t * T, mx = -INFINITY, sum = 0.0f;
        int u0 = attn_first(pos, t);
        for (int u = 0; u < u0; u++)
            a[u] = 0.0f;
        for (int u = u0; u <= t; u++)
            mx = a[u] > mx ? a[u] : mx;
        for (int u = u0; u <= t; u++) {
            a[u] = expf(a[u] - mx);
            sum += a[u];
        }
        float inv = 1.0f / sum;
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
        softmax_causal(S, T, s->pos ? s->pos + (size_t)b * T : NULL);
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
            int u0 = attn_first(pos, t);
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

static int use_v512(void)
{
    return cape_isa_allows(CAPE_ISA_AVX512);
}

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
#else
#define HAVE_V512 0
__attribute__((unused)) static int use_v512(void)
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
    int T, I;
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
        if (use_v512()) {
            swiglu_fwd_v(hr, ar, br, mk, I);
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
    act_job j = {.h = h, .a = a, .b = b, .mask = mask, .T = T, .I = I};
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
        if (use_v512()) {
            swiglu_bwd_v(dar, dbr, dr, ar, br, mk, I);
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
    act_job j = {.da = da, .db = db, .dh = dh, .a = a, .b = b, .mask = mask, .T = T, .I = I};
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
        if (use_v512()) {
            gelu_fwd_v(hr, ar, mk, I);
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
    act_job j = {.h = h, .a = a, .mask = mask, .T = T, .I = I};
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
        if (use_v512()) {
            gelu_bwd_v(dar, dr, ar, mk, I);
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
    act_job j = {.da = da, .dh = dh, .a = a, .mask = mask, .T = T, .I = I};
    parallel_rows(N, gelu_bwd_rows, &j);
}

typedef struct {
    float *losses;
    const float *logits;
    const int *targets;
    int V;
} cef_job;

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
        float mx;
        double sum = 0.0;
#if HAVE_V512
        if (use_v512()) {
            mx = row_max_v(l, V);
            sum = row_sumexp_v(NULL, l, V, mx);
        } else
#endif
        {
            mx = l[0];
            for (int i = 1; i < V; i++)
                if (l[i] > mx)
                    mx = l[i];
            for (int i = 0; i < V; i++)
                sum += expf(l[i] - mx);
        }
        j->losses[n] = (float)(log(sum) - (double)(l[j->targets[n]] - mx));
    }
}

double crossentropy_forward(float *losses, const float *logits, const int *targets, int N, int V,
                            int *n_counted)
{
    float *own = losses ? NULL : malloc(sizeof(float) * (N ? N : 1));
    if (!losses && !own)
        abort();
    cef_job j = {losses ? losses : own, logits, targets, V};
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
#if HAVE_V512
        if (use_v512()) {
            float mx = row_max_v(l, V);
            double sum = row_sumexp_v(l, l, V, mx);
            row_scale_v(l, V, (float)(j->dloss / sum));
            l[j->targets[n]] -= j->dloss;
            continue;
        }
#endif
        float mx = l[0];
        for (int i = 1; i < V; i++)
            if (l[i] > mx)
                mx = l[i];
        float sum = 0.0f;
        for (int i = 0; i < V; i++) {
            l[i] = expf(l[i] - mx);
            sum += l[i];
        }
        float inv = j->dloss / sum;
        for (int i = 0; i < V; i++)
            l[i] *= inv;
        l[j->targets[n]] -= j->dloss;
    }
}

void crossentropy_backward(float *logits, const int *targets, int N, int V, float dloss)
{
    ce_job j = {logits, targets, V, dloss};
    parallel_rows(N, ce_bwd_rows, &j);
}
