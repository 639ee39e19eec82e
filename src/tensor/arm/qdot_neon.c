/* The int8 dot products on aarch64: activations quantised with NEON, weight
 * blocks unpacked to int8 vectors, and the integer dots taken 16 lanes at a
 * time, with SDOT (vdotq_s32) on CPUs with dotprod and with widening
 * multiplies (vmull_s8 + vpadalq_s16) on plain NEON. The kernels' bodies are
 * in qdot_neon_body.h, compiled once per level. */
#if defined(__aarch64__)
#include <arm_neon.h>
#include <math.h>
#include <string.h>

#include "base/isa.h"
#include "tensor/arm/arm.h"
#include "tensor/dtype.h"

static inline float hf(uint16_t h) { return tensor_f16_to_f32(h); }

/* ---- activations: the same roundings as quant_qa and quant_q8_k_row ---- */

/* 16 floats times s, rounded half to even and saturated to int8 */
static inline int8x16_t round16(const float *x, float32x4_t s, int32x4_t *sum)
{
    int32x4_t q0 = vcvtnq_s32_f32(vmulq_f32(vld1q_f32(x), s));
    int32x4_t q1 = vcvtnq_s32_f32(vmulq_f32(vld1q_f32(x + 4), s));
    int32x4_t q2 = vcvtnq_s32_f32(vmulq_f32(vld1q_f32(x + 8), s));
    int32x4_t q3 = vcvtnq_s32_f32(vmulq_f32(vld1q_f32(x + 12), s));
    int16x8_t h0 = vcombine_s16(vqmovn_s32(q0), vqmovn_s32(q1));
    int16x8_t h1 = vcombine_s16(vqmovn_s32(q2), vqmovn_s32(q3));
    int8x16_t r = vcombine_s8(vqmovn_s16(h0), vqmovn_s16(h1));
    /* the sum of the saturated values, as the scalar code stores them */
    *sum = vpaddlq_s16(vpaddlq_s8(r));
    return r;
}

static inline float absmax(const float *x, int n)
{
    float32x4_t m = vdupq_n_f32(0);
    for (int i = 0; i < n; i += 4)
        m = vmaxq_f32(m, vabsq_f32(vld1q_f32(x + i)));
    return vmaxvq_f32(m);
}

static void quant_qa_neon(const float *x, qa_block *y, int64_t n)
{
    for (int64_t b = 0; b < n / QK; b++, x += QK) {
        float amax = absmax(x, QK);
        float id = amax ? 127.f / amax : 0.f;
        int32x4_t s0, s1;
        vst1q_s8(y[b].qs, round16(x, vdupq_n_f32(id), &s0));
        vst1q_s8(y[b].qs + 16, round16(x + 16, vdupq_n_f32(id), &s1));
        y[b].sum = vaddvq_s32(vaddq_s32(s0, s1));
        y[b].d = tensor_f16_to_f32(tensor_f32_to_f16(amax / 127.f));
    }
}

static void quant_q8_k_neon(const float *x, block_q8_k *y, int64_t n)
{
    for (int64_t b = 0; b < n / QK_K; b++, x += QK_K) {
        float amax = absmax(x, QK_K);
        if (amax == 0) {
            memset(&y[b], 0, sizeof y[b]);
            continue;
        }
        float max = 0; /* the first value of largest magnitude, with its sign */
        for (int i = 0; i < QK_K; i++)
            if (fabsf(x[i]) == amax) {
                max = x[i];
                break;
            }
        float iscale = -127.f / max;
        for (int i = 0; i < QK_K; i += 16) {
            int32x4_t s;
            vst1q_s8(y[b].qs + i, round16(x + i, vdupq_n_f32(iscale), &s));
            y[b].bsums[i / 16] = (int16_t)vaddvq_s32(s);
        }
        y[b].d = 1 / iscale;
    }
}

void qdot_quantize_neon(uint32_t t, const float *x, int64_t n, void *act)
{
    if (t == TENSOR_Q4_K || t == TENSOR_Q5_K || t == TENSOR_Q6_K)
        quant_q8_k_neon(x, act, n);
    else
        quant_qa_neon(x, act, n);
}

#include "tensor/arm/qdec_neon.h"

/* ---- plain NEON ---- */
#define SFX(name) name##_plain
#define KATTR
static inline int32x4_t dot16_plain(int32x4_t acc, int8x16_t a, int8x16_t b)
{
    acc = vpadalq_s16(acc, vmull_s8(vget_low_s8(a), vget_low_s8(b)));
    return vpadalq_s16(acc, vmull_high_s8(a, b));
}
#define DOT16 dot16_plain
#include "tensor/arm/qdot_neon_body.h"
#undef SFX
#undef KATTR
#undef DOT16

/* ---- dotprod (SDOT) ---- */
#define SFX(name) name##_dotprod
#define KATTR __attribute__((target("arch=armv8.2-a+dotprod")))
#define DOT16 vdotq_s32
#include "tensor/arm/qdot_neon_body.h"
#undef SFX
#undef KATTR
#undef DOT16

float qdot_row_neon(uint32_t t, const void *w, const void *act, int64_t n)
{
    if (cape_isa_allows(CAPE_ISA_DOTPROD))
        return row_dotprod(t, w, act, n);
    return row_plain(t, w, act, n);
}

int qdot_rows4_neon(uint32_t t, const void *w, const void *act, size_t stride, int64_t n,
                    const qdot_scales *sc, int64_t t0, float *out)
{
    (void)sc, (void)t0; /* the block scales are read from the activations */
    if (cape_isa_allows(CAPE_ISA_DOTPROD))
        return rows4_dotprod(t, w, act, stride, n, out);
    return rows4_plain(t, w, act, stride, n, out);
}

#endif
