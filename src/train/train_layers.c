#include "train/train_layers.h"

#include <math.h>
#include <string.h>

#include "train/train_gemm.h"

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

void encoder_forward(float *out, const int *tokens, const float *wte, const float *wpe, int B,
                     int T, int C)
{
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            float *o = out + ((size_t)b * T + t) * C;
            const float *e = wte + (size_t)tokens[b * T + t] * C;
            if (wpe) {
                const float *p = wpe + (size_t)t * C;
                for (int i = 0; i < C; i++)
                    o[i] = e[i] + p[i];
            } else {
                memcpy(o, e, sizeof(float) * C);
            }
        }
}

void encoder_backward(float *dwte, float *dwpe, const float *dout, const int *tokens, int B, int T,
                      int C)
{
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            const float *d = dout + ((size_t)b * T + t) * C;
            float *de = dwte + (size_t)tokens[b * T + t] * C;
            for (int i = 0; i < C; i++)
                de[i] += d[i];
            if (dwpe) {
                float *dp = dwpe + (size_t)t * C;
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

static void rope_rotate(float *x, int stride, const float *cos_t, const float *sin_t, int B, int T,
                        int nh, int hs, float sign)
{
    int half = hs / 2;
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            float *row = x + ((size_t)b * T + t) * stride;
            const float *c = cos_t + (size_t)t * half, *s = sin_t + (size_t)t * half;
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

void rope_forward(float *x, int stride, const float *cos_t, const float *sin_t, int B, int T,
                  int nh, int hs)
{
    rope_rotate(x, stride, cos_t, sin_t, B, T, nh, hs, 1.0f);
}

void rope_backward(float *dx, int stride, const float *cos_t, const float *sin_t, int B, int T,
                   int nh, int hs)
{
    rope_rotate(dx, stride, cos_t, sin_t, B, T, nh, hs, -1.0f);
}

static float dot(const float *a, const float *b, int n)
{
    float s = 0.0f;
    for (int i = 0; i < n; i++)
        s += a[i] * b[i];
    return s;
}

void attention_forward(float *out, float *att, const float *q, const float *k, const float *v,
                       const attn_shape *s)
{
    int B = s->B, T = s->T, NH = s->NH, hs = s->hs, group = s->NH / s->KVH;
    float scale = 1.0f / sqrtf((float)hs);
    for (int b = 0; b < B; b++)
        for (int h = 0; h < NH; h++) {
            int kh = h / group;
            for (int t = 0; t < T; t++) {
                const float *qt = q + ((size_t)b * T + t) * s->sq + h * hs;
                float *a = att + (((size_t)b * NH + h) * T + t) * T;
                float mx = -INFINITY;
                for (int u = 0; u <= t; u++) {
                    const float *ku = k + ((size_t)b * T + u) * s->sk + kh * hs;
                    a[u] = dot(qt, ku, hs) * scale;
                    if (a[u] > mx)
                        mx = a[u];
                }
                float sum = 0.0f;
                for (int u = 0; u <= t; u++) {
                    a[u] = expf(a[u] - mx);
                    sum += a[u];
                }
                float inv = 1.0f / sum;
                for (int u = 0; u <= t; u++)
                    a[u] *= inv;
                for (int u = t + 1; u < T; u++)
                    a[u] = 0.0f;
                float *o = out + ((size_t)b * T + t) * (NH * hs) + h * hs;
                memset(o, 0, sizeof(float) * hs);
                for (int u = 0; u <= t; u++) {
                    const float *vu = v + ((size_t)b * T + u) * s->sv + kh * hs;
                    float w = a[u];
                    for (int i = 0; i < hs; i++)
                        o[i] += w * vu[i];
                }
            }
        }
}

void attention_backward(float *dq, float *dk, float *dv, const float *dout, const float *att,
                        const float *q, const float *k, const float *v, const attn_shape *s)
{
    int B = s->B, T = s->T, NH = s->NH, hs = s->hs, group = s->NH / s->KVH;
    float scale = 1.0f / sqrtf((float)hs);
    float datt[T > 0 ? T : 1];
    for (int b = 0; b < B; b++)
        for (int h = 0; h < NH; h++) {
            int kh = h / group;
            for (int t = 0; t < T; t++) {
                const float *a = att + (((size_t)b * NH + h) * T + t) * T;
                const float *d = dout + ((size_t)b * T + t) * (NH * hs) + h * hs;
                const float *qt = q + ((size_t)b * T + t) * s->sq + h * hs;
                float *dqt = dq + ((size_t)b * T + t) * s->sq + h * hs;
                float sum = 0.0f;
                for (int u = 0; u <= t; u++) {
                    const float *vu = v + ((size_t)b * T + u) * s->sv + kh * hs;
                    float *dvu = dv + ((size_t)b * T + u) * s->sv + kh * hs;
                    datt[u] = dot(d, vu, hs);
                    sum += datt[u] * a[u];
                    for (int i = 0; i < hs; i++)
                        dvu[i] += a[u] * d[i];
                }
                for (int u = 0; u <= t; u++) {
                    float dpre = a[u] * (datt[u] - sum) * scale;
                    const float *ku = k + ((size_t)b * T + u) * s->sk + kh * hs;
                    float *dku = dk + ((size_t)b * T + u) * s->sk + kh * hs;
                    for (int i = 0; i < hs; i++) {
                        dqt[i] += dpre * ku[i];
                        dku[i] += dpre * qt[i];
                    }
                }
            }
        }
}

static inline float sigmoidf(float x)
{
    return 1.0f / (1.0f + expf(-x));
}

void swiglu_forward(float *h, const float *a, const float *b, const float *mask, int N, int T,
                    int I)
{
    for (int n = 0; n < N; n++) {
        const float *ar = a + (size_t)n * I, *br = b + (size_t)n * I;
        const float *mk = mask ? mask + (size_t)(n / T) * I : NULL;
        float *hr = h + (size_t)n * I;
        for (int i = 0; i < I; i++) {
            float val = ar[i] * sigmoidf(ar[i]) * br[i];
            hr[i] = mk ? val * mk[i] : val;
        }
    }
}

void swiglu_backward(float *da, float *db, const float *dh, const float *a, const float *b,
                     const float *mask, int N, int T, int I)
{
    for (int n = 0; n < N; n++) {
        const float *ar = a + (size_t)n * I, *br = b + (size_t)n * I, *dr = dh + (size_t)n * I;
        const float *mk = mask ? mask + (size_t)(n / T) * I : NULL;
        float *dar = da + (size_t)n * I, *dbr = db + (size_t)n * I;
        for (int i = 0; i < I; i++) {
            float d = mk ? dr[i] * mk[i] : dr[i];
            float sg = sigmoidf(ar[i]), silu = ar[i] * sg;
            dbr[i] += d * silu;
            dar[i] += d * br[i] * sg * (1.0f + ar[i] * (1.0f - sg));
        }
    }
}

#define GELU_K 0.7978845608028654f /* sqrt(2/pi) */

void gelu_forward(float *h, const float *a, const float *mask, int N, int T, int I)
{
    for (int n = 0; n < N; n++) {
        const float *ar = a + (size_t)n * I;
        const float *mk = mask ? mask + (size_t)(n / T) * I : NULL;
        float *hr = h + (size_t)n * I;
        for (int i = 0; i < I; i++) {
            float x = ar[i];
            float val = 0.5f * x * (1.0f + tanhf(GELU_K * (x + 0.044715f * x * x * x)));
            hr[i] = mk ? val * mk[i] : val;
        }
    }
}

void gelu_backward(float *da, const float *dh, const float *a, const float *mask, int N, int T,
                   int I)
{
    for (int n = 0; n < N; n++) {
        const float *ar = a + (size_t)n * I, *dr = dh + (size_t)n * I;
        const float *mk = mask ? mask + (size_t)(n / T) * I : NULL;
        float *dar = da + (size_t)n * I;
        for (int i = 0; i < I; i++) {
            float x = ar[i], u = GELU_K * (x + 0.044715f * x * x * x);
            float th = tanhf(u), sech2 = 1.0f - th * th;
            float g = 0.5f * (1.0f + th) + 0.5f * x * sech2 * GELU_K * (1.0f + 3.0f * 0.044715f * x * x);
            float d = mk ? dr[i] * mk[i] : dr[i];
            dar[i] += d * g;
        }
    }
}

double crossentropy_forward(float *losses, const float *logits, const int *targets, int N, int V,
                            int *n_counted)
{
    double total = 0.0;
    int count = 0;
    for (int n = 0; n < N; n++) {
        if (targets[n] < 0) {
            if (losses)
                losses[n] = 0.0f;
            continue;
        }
        const float *l = logits + (size_t)n * V;
        float mx = l[0];
        for (int i = 1; i < V; i++)
            if (l[i] > mx)
                mx = l[i];
        double sum = 0.0;
        for (int i = 0; i < V; i++)
            sum += expf(l[i] - mx);
        float loss = (float)(log(sum) - (double)(l[targets[n]] - mx));
        if (losses)
            losses[n] = loss;
        total += loss;
        count++;
    }
    *n_counted = count;
    return total;
}

void crossentropy_backward(float *logits, const int *targets, int N, int V, float dloss)
{
    for (int n = 0; n < N; n++) {
        float *l = logits + (size_t)n * V;
        if (targets[n] < 0) {
            memset(l, 0, sizeof(float) * V);
            continue;
        }
        float mx = l[0];
        for (int i = 1; i < V; i++)
            if (l[i] > mx)
                mx = l[i];
        float sum = 0.0f;
        for (int i = 0; i < V; i++) {
            l[i] = expf(l[i] - mx);
            sum += l[i];
        }
        float inv = dloss / sum;
        for (int i = 0; i < V; i++)
            l[i] *= inv;
        l[targets[n]] -= dloss;
    }
}
