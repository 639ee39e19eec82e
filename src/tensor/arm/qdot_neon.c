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

/* ---- weight blocks unpacked to int8 vectors ---- */

static inline int8x16_t s8(uint8x16_t v) { return vreinterpretq_s8_u8(v); }

/* Q8_0, Q4_0, Q5_0: v[0] pairs with activations 0..15, v[1] with 16..31 */
static inline void dec_q8_0(const block_q8_0 *w, int8x16_t v[2])
{
    v[0] = vld1q_s8(w->qs);
    v[1] = vld1q_s8(w->qs + 16);
}

static inline void dec_q4_0(const block_q4_0 *w, int8x16_t v[2])
{
    uint8x16_t q = vld1q_u8(w->qs);
    v[0] = vsubq_s8(s8(vandq_u8(q, vdupq_n_u8(0xF))), vdupq_n_s8(8));
    v[1] = vsubq_s8(s8(vshrq_n_u8(q, 4)), vdupq_n_s8(8));
}

/* 16 bits (one per value) to 16 bytes of 0x10 or 0 */
static inline uint8x16_t bit_bytes(uint32_t bits)
{
    static const uint8_t sel[16] = {1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128};
    uint8x16_t b = vcombine_u8(vdup_n_u8((uint8_t)bits), vdup_n_u8((uint8_t)(bits >> 8)));
    return vandq_u8(vtstq_u8(b, vld1q_u8(sel)), vdupq_n_u8(0x10));
}

static inline void dec_q5_0(const block_q5_0 *w, int8x16_t v[2])
{
    uint32_t qh;
    memcpy(&qh, w->qh, 4);
    uint8x16_t q = vld1q_u8(w->qs);
    v[0] = vsubq_s8(s8(vorrq_u8(vandq_u8(q, vdupq_n_u8(0xF)), bit_bytes(qh))), vdupq_n_s8(16));
    v[1] = vsubq_s8(s8(vorrq_u8(vshrq_n_u8(q, 4), bit_bytes(qh >> 16))), vdupq_n_s8(16));
}

/* Q4_K / Q5_K: the 256 values as 16 vectors in activation order (unsigned,
 * 0..31), the scale of each 16-value group and the eight minimums */
static inline void dec_q45_k(const uint8_t *scales, const uint8_t *qs, const uint8_t *qh,
                             int8x16_t v[16], int32_t sc16[16], int16_t mn[8])
{
    const uint8x16_t m4 = vdupq_n_u8(0xF);
    uint8x16_t h0 = vdupq_n_u8(0), h1 = h0;
    if (qh) {
        h0 = vld1q_u8(qh);
        h1 = vld1q_u8(qh + 16);
    }
    for (int p = 0; p < 4; p++) {
        uint8x16_t q0 = vld1q_u8(qs + 32 * p), q1 = vld1q_u8(qs + 32 * p + 16);
        uint8x16_t l0 = vandq_u8(q0, m4), l1 = vandq_u8(q1, m4);
        uint8x16_t u0 = vshrq_n_u8(q0, 4), u1 = vshrq_n_u8(q1, 4);
        if (qh) {
            uint8x16_t bl = vdupq_n_u8((uint8_t)(1u << (2 * p))), bu = vdupq_n_u8((uint8_t)(2u << (2 * p)));
            const uint8x16_t f = vdupq_n_u8(0x10);
            l0 = vorrq_u8(l0, vandq_u8(vtstq_u8(h0, bl), f));
            l1 = vorrq_u8(l1, vandq_u8(vtstq_u8(h1, bl), f));
            u0 = vorrq_u8(u0, vandq_u8(vtstq_u8(h0, bu), f));
            u1 = vorrq_u8(u1, vandq_u8(vtstq_u8(h1, bu), f));
        }
        v[4 * p] = s8(l0);
        v[4 * p + 1] = s8(l1);
        v[4 * p + 2] = s8(u0);
        v[4 * p + 3] = s8(u1);
    }
    for (int j = 0; j < 8; j++) {
        uint8_t s, m;
        quant_k4_scale_min(j, scales, &s, &m);
        sc16[2 * j] = sc16[2 * j + 1] = s;
        mn[j] = m;
    }
}

/* Q6_K: values minus 32 (signed) in activation order, one scale per 16 */
static inline void dec_q6_k(const block_q6_k *w, int8x16_t v[16], int32_t sc16[16])
{
    const uint8x16_t m4 = vdupq_n_u8(0xF), m3 = vdupq_n_u8(0x30);
    const int8x16_t off = vdupq_n_s8(32);
    for (int h = 0; h < 2; h++) {
        const uint8_t *ql = w->ql + 64 * h, *qh = w->qh + 32 * h;
        for (int s = 0; s < 2; s++) { /* values l = 16 s .. 16 s + 15 of the half */
            uint8x16_t la = vld1q_u8(ql + 16 * s), lb = vld1q_u8(ql + 32 + 16 * s);
            uint8x16_t hb = vld1q_u8(qh + 16 * s);
            uint8x16_t q0 = vorrq_u8(vandq_u8(la, m4), vandq_u8(vshlq_n_u8(hb, 4), m3));
            uint8x16_t q1 = vorrq_u8(vandq_u8(lb, m4), vandq_u8(vshlq_n_u8(hb, 2), m3));
            uint8x16_t q2 = vorrq_u8(vshrq_n_u8(la, 4), vandq_u8(hb, m3));
            uint8x16_t q3 = vorrq_u8(vshrq_n_u8(lb, 4), vandq_u8(vshrq_n_u8(hb, 2), m3));
            /* group k (32 values) of this half starts at 128 h + 32 k */
            v[8 * h + s] = vsubq_s8(s8(q0), off);
            v[8 * h + 2 + s] = vsubq_s8(s8(q1), off);
            v[8 * h + 4 + s] = vsubq_s8(s8(q2), off);
            v[8 * h + 6 + s] = vsubq_s8(s8(q3), off);
        }
    }
    for (int g = 0; g < 16; g++)
        sc16[g] = w->scales[g];
}

/* sum over the eight 32-value sub-blocks of mn[j] * (activation sum) */
static inline int32_t min_sum(const int16_t mn[8], const int16_t bsums[16])
{
    int16x8_t s = vpaddq_s16(vld1q_s16(bsums), vld1q_s16(bsums + 8));
    int16x8_t m = vld1q_s16(mn);
    int32x4_t p = vmull_s16(vget_low_s16(s), vget_low_s16(m));
    p = vmlal_high_s16(p, s, m);
    return vaddvq_s32(p);
}

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
