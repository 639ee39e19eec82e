/* f32 kernels on aarch64 NEON, four lanes at a time, scalar tails for any
 * length: the matmul's dot product and axpy (fused multiply-adds), the
 * norm's sum of squares (in double) and scaling, the rotary embedding's
 * rotation, the attention's score and value loops, and the MLP activations
 * and softmax exponentials (the exp polynomial of tensor/vexp.h). */
#if defined(__aarch64__)
#include <arm_neon.h>
#include <string.h>

#include "tensor/arm/arm.h"

/* e^x, four lanes: the polynomial of tensor/vexp.h (x clamped to [-87, 88],
 * x = n ln2 + r in two parts, Cephes expf's degree-5 polynomial, times 2^n) */
static inline float32x4_t vexpq(float32x4_t x)
{
    x = vminq_f32(vmaxq_f32(x, vdupq_n_f32(-87.f)), vdupq_n_f32(88.f));
    float32x4_t n = vrndnq_f32(vmulq_n_f32(x, 1.44269504088896341f));
    float32x4_t r = vfmsq_f32(x, n, vdupq_n_f32(0.693359375f));
    r = vfmsq_f32(r, n, vdupq_n_f32(-2.12194440e-4f));
    float32x4_t p = vdupq_n_f32(1.9875691500e-4f);
    p = vfmaq_f32(vdupq_n_f32(1.3981999507e-3f), p, r);
    p = vfmaq_f32(vdupq_n_f32(8.3334519073e-3f), p, r);
    p = vfmaq_f32(vdupq_n_f32(4.1665795894e-2f), p, r);
    p = vfmaq_f32(vdupq_n_f32(1.6666665459e-1f), p, r);
    p = vfmaq_f32(vdupq_n_f32(5.0000001201e-1f), p, r);
    p = vfmaq_f32(vaddq_f32(r, vdupq_n_f32(1.f)), vmulq_f32(p, r), r);
    int32x4_t e = vshlq_n_s32(vaddq_s32(vcvtq_s32_f32(n), vdupq_n_s32(127)), 23);
    return vmulq_f32(p, vreinterpretq_f32_s32(e));
}

/* gelu (tanh form) and silu as x / (1 + e^z), times the gate m */
static inline float32x4_t act4(act_kind k, float32x4_t v)
{
    float32x4_t z;
    if (k == ACT_GELU_TANH) {
        float32x4_t u = vfmaq_f32(v, vmulq_f32(vmulq_f32(v, v), v), vdupq_n_f32(0.044715f));
        z = vmulq_n_f32(u, -2.f * 0.7978845608028654f);
    } else {
        z = vnegq_f32(v);
    }
    return vdivq_f32(v, vaddq_f32(vdupq_n_f32(1.f), vexpq(z)));
}

void act_apply_neon(act_kind k, const float *x, const float *m, float *y, size_t n)
{
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        float32x4_t r = act4(k, vld1q_f32(x + i));
        vst1q_f32(y + i, m ? vmulq_f32(r, vld1q_f32(m + i)) : r);
    }
    if (i < n) { /* the tail through a zero-padded vector */
        float t[4] = {0, 0, 0, 0}, g[4] = {1, 1, 1, 1};
        memcpy(t, x + i, (n - i) * sizeof *t);
        if (m)
            memcpy(g, m + i, (n - i) * sizeof *g);
        vst1q_f32(t, vmulq_f32(act4(k, vld1q_f32(t)), vld1q_f32(g)));
        memcpy(y + i, t, (n - i) * sizeof *t);
    }
}

double act_exp_sum_neon(float *x, size_t n, float shift)
{
    float64x2_t s0 = vdupq_n_f64(0), s1 = s0;
    float32x4_t sh = vdupq_n_f32(shift);
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        float32x4_t e = vexpq(vsubq_f32(vld1q_f32(x + i), sh));
        vst1q_f32(x + i, e);
        s0 = vaddq_f64(s0, vcvt_f64_f32(vget_low_f32(e)));
        s1 = vaddq_f64(s1, vcvt_high_f64_f32(e));
    }
    double s = vaddvq_f64(vaddq_f64(s0, s1));
    if (i < n) { /* the same polynomial for the tail */
        float t[4] = {shift, shift, shift, shift};
        memcpy(t, x + i, (n - i) * sizeof *t);
        vst1q_f32(t, vexpq(vsubq_f32(vld1q_f32(t), sh)));
        for (size_t j = 0; j < n - i; j++)
            s += (x[i + j] = t[j]);
    }
    return s;
}

float f32_dot_neon(const float *a, const float *b, int64_t n)
{
    float32x4_t s0 = vdupq_n_f32(0), s1 = s0, s2 = s0, s3 = s0;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        s0 = vfmaq_f32(s0, vld1q_f32(a + i), vld1q_f32(b + i));
        s1 = vfmaq_f32(s1, vld1q_f32(a + i + 4), vld1q_f32(b + i + 4));
        s2 = vfmaq_f32(s2, vld1q_f32(a + i + 8), vld1q_f32(b + i + 8));
        s3 = vfmaq_f32(s3, vld1q_f32(a + i + 12), vld1q_f32(b + i + 12));
    }
    for (; i + 4 <= n; i += 4)
        s0 = vfmaq_f32(s0, vld1q_f32(a + i), vld1q_f32(b + i));
    float s = vaddvq_f32(vaddq_f32(vaddq_f32(s0, s1), vaddq_f32(s2, s3)));
    for (; i < n; i++)
        s += a[i] * b[i];
    return s;
}

void f32_axpy_neon(float a, const float *x, float *y, int64_t n)
{
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        vst1q_f32(y + i, vfmaq_n_f32(vld1q_f32(y + i), vld1q_f32(x + i), a));
        vst1q_f32(y + i + 4, vfmaq_n_f32(vld1q_f32(y + i + 4), vld1q_f32(x + i + 4), a));
    }
    for (; i < n; i++)
        y[i] += a * x[i];
}

double f32_sumsq_neon(const float *x, int64_t n)
{
    float64x2_t s0 = vdupq_n_f64(0), s1 = s0;
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        float32x4_t v = vld1q_f32(x + i);
        float64x2_t lo = vcvt_f64_f32(vget_low_f32(v)), hi = vcvt_high_f64_f32(v);
        s0 = vfmaq_f64(s0, lo, lo);
        s1 = vfmaq_f64(s1, hi, hi);
    }
    double s = vaddvq_f64(vaddq_f64(s0, s1));
    for (; i < n; i++)
        s += (double)x[i] * x[i];
    return s;
}

void f32_scale_mul_neon(float *y, const float *x, float r, const float *w, int64_t n)
{
    int64_t i = 0;
    for (; i + 4 <= n; i += 4)
        vst1q_f32(y + i, vmulq_f32(vmulq_n_f32(vld1q_f32(x + i), r), vld1q_f32(w + i)));
    for (; i < n; i++)
        y[i] = x[i] * r * w[i];
}

void f32_rotate_half_neon(float *a, float *b, const float *co, const float *si, int64_t n)
{
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        float32x4_t x0 = vld1q_f32(a + i), x1 = vld1q_f32(b + i);
        float32x4_t c = vld1q_f32(co + i), s = vld1q_f32(si + i);
        vst1q_f32(a + i, vsubq_f32(vmulq_f32(x0, c), vmulq_f32(x1, s)));
        vst1q_f32(b + i, vaddq_f32(vmulq_f32(x0, s), vmulq_f32(x1, c)));
    }
    for (; i < n; i++) {
        float x0 = a[i], x1 = b[i];
        a[i] = x0 * co[i] - x1 * si[i];
        b[i] = x0 * si[i] + x1 * co[i];
    }
}

/* positions j..j+3 of one query: the keys are transposed (kt[d * ld + j]) */
void attn_scores_neon(const float *q, int G, int hd, const float *kt, int ld, int j0, int j1,
                      float scale, float *sc)
{
    for (int g = 0; g < G; g++) {
        const float *qg = q + (size_t)g * hd;
        float *row = sc + (size_t)g * ld;
        int j = j0;
        for (; j + 8 <= j1 + 1; j += 8) {
            float32x4_t a0 = vdupq_n_f32(0), a1 = a0;
            for (int d = 0; d < hd; d++) {
                const float *k = kt + (size_t)d * ld + j;
                a0 = vfmaq_n_f32(a0, vld1q_f32(k), qg[d]);
                a1 = vfmaq_n_f32(a1, vld1q_f32(k + 4), qg[d]);
            }
            vst1q_f32(row + j, vmulq_n_f32(a0, scale));
            vst1q_f32(row + j + 4, vmulq_n_f32(a1, scale));
        }
        for (; j <= j1; j++) {
            float s = 0;
            for (int d = 0; d < hd; d++)
                s += qg[d] * kt[(size_t)d * ld + j];
            row[j] = s * scale;
        }
    }
}

void attn_values_neon(const float *sc, int G, int hd, int ld, const float *v, size_t v_stride,
                      int j0, int j1, const float *inv, float *out)
{
    for (int g = 0; g < G; g++) {
        float *o = out + (size_t)g * hd;
        const float *p = sc + (size_t)g * ld;
        memset(o, 0, (size_t)hd * sizeof *o);
        for (int j = j0; j <= j1; j++) {
            const float *vj = v + (size_t)j * v_stride;
            int d = 0;
            for (; d + 4 <= hd; d += 4)
                vst1q_f32(o + d, vfmaq_n_f32(vld1q_f32(o + d), vld1q_f32(vj + d), p[j]));
            for (; d < hd; d++)
                o[d] += p[j] * vj[d];
        }
        int d = 0;
        for (; d + 4 <= hd; d += 4)
            vst1q_f32(o + d, vmulq_n_f32(vld1q_f32(o + d), inv[g]));
        for (; d < hd; d++)
            o[d] *= inv[g];
    }
}

#endif
