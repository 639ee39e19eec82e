/* qdec_neon: weight blocks of the int8 types unpacked to int8 vectors with
 * NEON, shared by the one-token kernels (qdot_neon.c) and the many-token
 * kernel (qmm_neon.c). Private to src/tensor/arm; aarch64 only. */
#ifndef CAPE_TENSOR_QDEC_NEON_H
#define CAPE_TENSOR_QDEC_NEON_H

#include <arm_neon.h>
#include <string.h>

#include "tensor/quant.h"

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

#endif
