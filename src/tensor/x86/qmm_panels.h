/* qmm_panels: how the many-token kernels lay weights out (private to
 * src/tensor/x86): weight blocks expanded to codes and scales, and 16 rows
 * of codes transposed into the panels qmm.h describes. AVX2 code, shared by
 * the AVX2 and the AVX-512 VNNI kernels (both read the same panels; only
 * Q8_0 differs: the VNNI tiles take codes, the AVX2 tiles signed values).
 * Included once by each kernel file. */
#ifndef CAPE_QMM_PANELS_H
#define CAPE_QMM_PANELS_H

#include <immintrin.h>
#include <string.h>

#include "tensor/qmm_impl.h"
#include "tensor/qunpack.h"

#define PKERN __attribute__((target("avx2,fma,f16c")))
#define PINLINE static inline __attribute__((always_inline))

PKERN PINLINE float hf(uint16_t h) { return _cvtsh_ss(h); }

/* 16 packed nibbles to 32 bytes: the low nibbles, then the high ones. */
PKERN PINLINE __m256i nibbles32(const uint8_t *qs)
{
    __m128i q = _mm_loadu_si128((const __m128i *)qs), m = _mm_set1_epi8(0x0F);
    return _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(q, 4), m), _mm_and_si128(q, m));
}

/* Scale block b of weight row `row` as unsigned codes q[] (value = code -
 * code_offset), each sub-block k's scale at dw[k * QMM_ROWS] and, for
 * Q4_K/Q5_K, its minimum at mw[k * QMM_ROWS]. */
PKERN PINLINE void expand_block(uint32_t t, const void *row, int64_t b, uint8_t *q, float *dw,
                                float *mw, int q8_codes)
{
    const int R = QMM_ROWS;
    const __m256i m4 = _mm256_set1_epi8(0x0F), one = _mm256_set1_epi8(1);
    switch (t) {
    case TENSOR_Q8_0: { /* signed values, or codes (value + 128) when q8_codes */
        const block_q8_0 *w = (const block_q8_0 *)row + b;
        __m256i v = _mm256_loadu_si256((const __m256i *)w->qs);
        if (q8_codes)
            v = _mm256_xor_si256(v, _mm256_set1_epi8((char)0x80));
        _mm256_store_si256((__m256i *)q, v);
        dw[0] = hf(w->d);
        break;
    }
    case TENSOR_Q4_0: {
        const block_q4_0 *w = (const block_q4_0 *)row + b;
        _mm256_store_si256((__m256i *)q, nibbles32(w->qs));
        dw[0] = hf(w->d);
        break;
    }
    case TENSOR_Q5_0: {
        const block_q5_0 *w = (const block_q5_0 *)row + b;
        _mm256_store_si256((__m256i *)q, _mm256_or_si256(nibbles32(w->qs), qunpack_q5_0_high(w->qh)));
        dw[0] = hf(w->d);
        break;
    }
    case TENSOR_Q4_K:
    case TENSOR_Q5_K: {
        const uint8_t *scales, *qs, *qh = NULL;
        uint16_t d16, dmin16;
        if (t == TENSOR_Q4_K) {
            const block_q4_k *w = (const block_q4_k *)row + b;
            scales = w->scales, qs = w->qs, d16 = w->d, dmin16 = w->dmin;
        } else {
            const block_q5_k *w = (const block_q5_k *)row + b;
            scales = w->scales, qs = w->qs, qh = w->qh, d16 = w->d, dmin16 = w->dmin;
        }
        float d = hf(d16), dmin = hf(dmin16);
        for (int j = 0; j < 8; j++) {
            uint8_t sc, m;
            quant_k4_scale_min(j, scales, &sc, &m);
            dw[j * R] = d * sc;
            mw[j * R] = dmin * m;
        }
        __m256i hv = qh ? _mm256_loadu_si256((const __m256i *)qh) : _mm256_setzero_si256();
        for (int p = 0; p < 4; p++) {
            __m256i qv = _mm256_loadu_si256((const __m256i *)(qs + 32 * p));
            __m256i lo = _mm256_and_si256(qv, m4);
            __m256i hi = _mm256_and_si256(_mm256_srli_epi16(qv, 4), m4);
            if (qh) {
                __m256i b0 = _mm256_and_si256(_mm256_srli_epi16(hv, 2 * p), one);
                __m256i b1 = _mm256_and_si256(_mm256_srli_epi16(hv, 2 * p + 1), one);
                lo = _mm256_or_si256(lo, _mm256_slli_epi16(b0, 4));
                hi = _mm256_or_si256(hi, _mm256_slli_epi16(b1, 4));
            }
            _mm256_store_si256((__m256i *)(q + 64 * p), lo);
            _mm256_store_si256((__m256i *)(q + 64 * p + 32), hi);
        }
        break;
    }
    case TENSOR_Q6_K: {
        const block_q6_k *w = (const block_q6_k *)row + b;
        float d = hf(w->d);
        for (int i = 0; i < 16; i++)
            dw[i * R] = d * w->scales[i];
        for (int h = 0; h < 2; h++) {
            __m256i v[4];
            qunpack_q6_k_half(w->ql + 64 * h, w->qh + 32 * h, v);
            for (int k = 0; k < 4; k++)
                _mm256_store_si256((__m256i *)(q + 128 * h + 32 * k), v[k]);
        }
        break;
    }
    default:
        break;
    }
}

PKERN PINLINE void expand_rows(uint32_t t, const char *w, size_t row_bytes, int nr, int64_t b,
                               int bs, uint8_t *q, float *dw, float *mw, int q8_codes)
{
    for (int i = 0; i < nr; i++)
        expand_block(t, w + (size_t)i * row_bytes, b, q + (size_t)i * bs, dw + i, mw + i,
                     q8_codes);
}
/* The six per-type expanders of a kernel file (one loop per type, so that
 * the type's code is inlined); q8_codes as for expand_block. */
#define QMM_EXPANDERS(q8_codes)                                                                    \
    QMM_EXPAND_ROWS(expand_q8_0, TENSOR_Q8_0, q8_codes)                                            \
    QMM_EXPAND_ROWS(expand_q4_0, TENSOR_Q4_0, 0)                                                   \
    QMM_EXPAND_ROWS(expand_q5_0, TENSOR_Q5_0, 0)                                                   \
    QMM_EXPAND_ROWS(expand_q4_k, TENSOR_Q4_K, 0)                                                   \
    QMM_EXPAND_ROWS(expand_q5_k, TENSOR_Q5_K, 0)                                                   \
    QMM_EXPAND_ROWS(expand_q6_k, TENSOR_Q6_K, 0)
#define QMM_EXPAND_ROWS(name, type, q8_codes)                                                      \
    PKERN static void name(const char *w, size_t row_bytes, int nr, int64_t b, int bs, uint8_t *q, \
                           float *dw, float *mw)                                                   \
    {                                                                                              \
        expand_rows(type, w, row_bytes, nr, b, bs, q, dw, mw, q8_codes);                           \
    }

/* 16 rows of 32 codes (stride bytes apart) to the panel's 8 vectors of 64
 * bytes: vector k4 holds codes 4*k4..4*k4+3 of rows 0..15. */
PKERN static void transpose_16x32(const uint8_t *src, size_t stride, uint8_t *dst)
{
    __m256i u[4][4];
    for (int g = 0; g < 4; g++) {
        const uint8_t *r = src + 4 * g * stride;
        __m256i r0 = _mm256_load_si256((const __m256i *)r);
        __m256i r1 = _mm256_load_si256((const __m256i *)(r + stride));
        __m256i r2 = _mm256_load_si256((const __m256i *)(r + 2 * stride));
        __m256i r3 = _mm256_load_si256((const __m256i *)(r + 3 * stride));
        __m256i t0 = _mm256_unpacklo_epi32(r0, r1), t1 = _mm256_unpackhi_epi32(r0, r1);
        __m256i t2 = _mm256_unpacklo_epi32(r2, r3), t3 = _mm256_unpackhi_epi32(r2, r3);
        /* u[g][k]: lane 0 holds group k of rows 4g..4g+3, lane 1 group k + 4 */
        u[g][0] = _mm256_unpacklo_epi64(t0, t2);
        u[g][1] = _mm256_unpackhi_epi64(t0, t2);
        u[g][2] = _mm256_unpacklo_epi64(t1, t3);
        u[g][3] = _mm256_unpackhi_epi64(t1, t3);
    }
    for (int k = 0; k < 4; k++) {
        uint8_t *lo = dst + 64 * k, *hi = dst + 64 * (k + 4);
        _mm256_store_si256((__m256i *)lo, _mm256_permute2x128_si256(u[0][k], u[1][k], 0x20));
        _mm256_store_si256((__m256i *)(lo + 32), _mm256_permute2x128_si256(u[2][k], u[3][k], 0x20));
        _mm256_store_si256((__m256i *)hi, _mm256_permute2x128_si256(u[0][k], u[1][k], 0x31));
        _mm256_store_si256((__m256i *)(hi + 32), _mm256_permute2x128_si256(u[2][k], u[3][k], 0x31));
    }
}

/* The same for 16 codes per row (4 vectors). */
PKERN static void transpose_16x16(const uint8_t *src, size_t stride, uint8_t *dst)
{
    __m128i u[4][4];
    for (int g = 0; g < 4; g++) {
        const uint8_t *r = src + 4 * g * stride;
        __m128i r0 = _mm_load_si128((const __m128i *)r);
        __m128i r1 = _mm_load_si128((const __m128i *)(r + stride));
        __m128i r2 = _mm_load_si128((const __m128i *)(r + 2 * stride));
        __m128i r3 = _mm_load_si128((const __m128i *)(r + 3 * stride));
        __m128i t0 = _mm_unpacklo_epi32(r0, r1), t1 = _mm_unpackhi_epi32(r0, r1);
        __m128i t2 = _mm_unpacklo_epi32(r2, r3), t3 = _mm_unpackhi_epi32(r2, r3);
        u[g][0] = _mm_unpacklo_epi64(t0, t2);
        u[g][1] = _mm_unpackhi_epi64(t0, t2);
        u[g][2] = _mm_unpacklo_epi64(t1, t3);
        u[g][3] = _mm_unpackhi_epi64(t1, t3);
    }
    for (int k = 0; k < 4; k++) {
        _mm256_store_si256((__m256i *)(dst + 64 * k), _mm256_set_m128i(u[1][k], u[0][k]));
        _mm256_store_si256((__m256i *)(dst + 64 * k + 32), _mm256_set_m128i(u[3][k], u[2][k]));
    }
}


#endif
