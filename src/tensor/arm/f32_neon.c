/* f32 kernels on aarch64 NEON: the dot product and axpy of the matmul and
 * the attention's score and value loops, four lanes at a time with fused
 * multiply-adds, scalar tails for any length. */
#if defined(__aarch64__)
#include <arm_neon.h>
#include <string.h>

#include "tensor/arm/arm.h"

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
