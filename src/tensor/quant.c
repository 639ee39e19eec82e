#include "tensor/quant.h"

#include <math.h>
#include <string.h>

#include "base/isa.h"

#define H(x) tensor_f16_to_f32(x)

_Static_assert(sizeof(block_q4_0) == 18, "q4_0 layout");
_Static_assert(sizeof(block_q4_1) == 20, "q4_1 layout");
_Static_assert(sizeof(block_q5_0) == 22, "q5_0 layout");
_Static_assert(sizeof(block_q5_1) == 24, "q5_1 layout");
_Static_assert(sizeof(block_q8_0) == 34, "q8_0 layout");
_Static_assert(sizeof(block_q2_k) == 84, "q2_k layout");
_Static_assert(sizeof(block_q3_k) == 110, "q3_k layout");
_Static_assert(sizeof(block_q4_k) == 144, "q4_k layout");
_Static_assert(sizeof(block_q5_k) == 176, "q5_k layout");
_Static_assert(sizeof(block_q6_k) == 210, "q6_k layout");
_Static_assert(sizeof(block_q8_k) == 292, "q8_k layout");

int quant_supported(uint32_t type)
{
    switch (type) {
    case TENSOR_F32: case TENSOR_F16: case TENSOR_BF16: case TENSOR_Q4_0: case TENSOR_Q4_1:
    case TENSOR_Q5_0: case TENSOR_Q5_1: case TENSOR_Q8_0: case TENSOR_Q2_K: case TENSOR_Q3_K:
    case TENSOR_Q4_K: case TENSOR_Q5_K: case TENSOR_Q6_K:
        return 1;
    default:
        return 0;
    }
}

static void deq_q4_0(const block_q4_0 *b, float *y, int64_t nb)
{
    for (int64_t i = 0; i < nb; i++, y += QK) {
        float d = H(b[i].d);
        for (int j = 0; j < QK / 2; j++) {
            y[j] = ((b[i].qs[j] & 0xF) - 8) * d;
            y[j + QK / 2] = ((b[i].qs[j] >> 4) - 8) * d;
        }
    }
}

static void deq_q4_1(const block_q4_1 *b, float *y, int64_t nb)
{
    for (int64_t i = 0; i < nb; i++, y += QK) {
        float d = H(b[i].d), m = H(b[i].m);
        for (int j = 0; j < QK / 2; j++) {
            y[j] = (b[i].qs[j] & 0xF) * d + m;
            y[j + QK / 2] = (b[i].qs[j] >> 4) * d + m;
        }
    }
}

static void deq_q5_0(const block_q5_0 *b, float *y, int64_t nb)
{
    for (int64_t i = 0; i < nb; i++, y += QK) {
        float d = H(b[i].d);
        uint32_t qh;
        memcpy(&qh, b[i].qh, 4);
        for (int j = 0; j < QK / 2; j++) {
            int h0 = ((qh >> j) << 4) & 0x10, h1 = (qh >> (j + 12)) & 0x10;
            y[j] = (((b[i].qs[j] & 0xF) | h0) - 16) * d;
            y[j + QK / 2] = (((b[i].qs[j] >> 4) | h1) - 16) * d;
        }
    }
}

static void deq_q5_1(const block_q5_1 *b, float *y, int64_t nb)
{
    for (int64_t i = 0; i < nb; i++, y += QK) {
        float d = H(b[i].d), m = H(b[i].m);
        uint32_t qh;
        memcpy(&qh, b[i].qh, 4);
        for (int j = 0; j < QK / 2; j++) {
            int h0 = ((qh >> j) << 4) & 0x10, h1 = (qh >> (j + 12)) & 0x10;
            y[j] = ((b[i].qs[j] & 0xF) | h0) * d + m;
            y[j + QK / 2] = ((b[i].qs[j] >> 4) | h1) * d + m;
        }
    }
}

static void deq_q8_0(const block_q8_0 *b, float *y, int64_t nb)
{
    for (int64_t i = 0; i < nb; i++, y += QK) {
        float d = H(b[i].d);
        for (int j = 0; j < QK; j++)
            y[j] = b[i].qs[j] * d;
    }
}

static void deq_q2_k(const block_q2_k *b, float *y, int64_t nb)
{
    for (int64_t i = 0; i < nb; i++) {
        float d = H(b[i].d), min = H(b[i].dmin);
        const uint8_t *q = b[i].qs;
        int is = 0;
        for (int n = 0; n < QK_K; n += 128) {
            for (int shift = 0; shift < 8; shift += 2) {
                for (int half = 0; half < 2; half++) {
                    uint8_t sc = b[i].scales[is++];
                    float dl = d * (sc & 0xF), ml = min * (sc >> 4);
                    for (int l = 0; l < 16; l++)
                        *y++ = dl * ((q[l + 16 * half] >> shift) & 3) - ml;
                }
            }
            q += 32;
        }
    }
}

static void deq_q3_k(const block_q3_k *b, float *y, int64_t nb)
{
    const uint32_t kmask1 = 0x03030303, kmask2 = 0x0f0f0f0f;
    for (int64_t i = 0; i < nb; i++) {
        float d_all = H(b[i].d);
        const uint8_t *q = b[i].qs, *hm = b[i].hmask;
        uint8_t m = 1;
        uint32_t aux[4];
        memcpy(aux, b[i].scales, 12);
        uint32_t tmp = aux[2];
        aux[2] = ((aux[0] >> 4) & kmask2) | (((tmp >> 4) & kmask1) << 4);
        aux[3] = ((aux[1] >> 4) & kmask2) | (((tmp >> 6) & kmask1) << 4);
        aux[0] = (aux[0] & kmask2) | (((tmp >> 0) & kmask1) << 4);
        aux[1] = (aux[1] & kmask2) | (((tmp >> 2) & kmask1) << 4);
        int8_t scales[16];
        memcpy(scales, aux, 16);
        int is = 0;
        for (int n = 0; n < QK_K; n += 128) {
            for (int shift = 0; shift < 8; shift += 2) {
                for (int half = 0; half < 2; half++) {
                    float dl = d_all * (scales[is++] - 32);
                    for (int l = 16 * half; l < 16 * half + 16; l++)
                        *y++ = dl * ((int8_t)((q[l] >> shift) & 3) - ((hm[l] & m) ? 0 : 4));
                }
                m <<= 1;
            }
            q += 32;
        }
    }
}

/* One Q4_K or Q5_K super-block (qh: Q5_K's fifth bits, NULL for Q4_K). */
static float *deq_k4_block(const uint8_t *scales, const uint8_t *q, const uint8_t *qh, float d,
                           float min, float *y)
{
    uint8_t u1 = 1, u2 = 2;
    for (int j = 0; j < 8; j += 2, q += 32, u1 <<= 2, u2 <<= 2) {
        uint8_t sc, m;
        quant_k4_scale_min(j, scales, &sc, &m);
        float d1 = d * sc, m1 = min * m;
        quant_k4_scale_min(j + 1, scales, &sc, &m);
        float d2 = d * sc, m2 = min * m;
        for (int l = 0; l < 32; l++)
            *y++ = d1 * ((q[l] & 0xF) + (qh && (qh[l] & u1) ? 16 : 0)) - m1;
        for (int l = 0; l < 32; l++)
            *y++ = d2 * ((q[l] >> 4) + (qh && (qh[l] & u2) ? 16 : 0)) - m2;
    }
    return y;
}

static void deq_q4_k(const block_q4_k *b, float *y, int64_t nb)
{
    for (int64_t i = 0; i < nb; i++)
        y = deq_k4_block(b[i].scales, b[i].qs, NULL, H(b[i].d), H(b[i].dmin), y);
}

static void deq_q5_k(const block_q5_k *b, float *y, int64_t nb)
{
    for (int64_t i = 0; i < nb; i++)
        y = deq_k4_block(b[i].scales, b[i].qs, b[i].qh, H(b[i].d), H(b[i].dmin), y);
}

static void deq_q6_k(const block_q6_k *b, float *y, int64_t nb)
{
    for (int64_t i = 0; i < nb; i++) {
        float d = H(b[i].d);
        const uint8_t *ql = b[i].ql, *qh = b[i].qh;
        const int8_t *sc = b[i].scales;
        for (int n = 0; n < QK_K; n += 128, y += 128, ql += 64, qh += 32, sc += 8) {
            for (int l = 0; l < 32; l++) {
                int is = l / 16;
                int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
                int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
                int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                y[l] = d * sc[is] * q1;
                y[l + 32] = d * sc[is + 2] * q2;
                y[l + 64] = d * sc[is + 4] * q3;
                y[l + 96] = d * sc[is + 6] * q4;
            }
        }
    }
}

/* ---- AVX2 (+F16C) dequantisation ----
 * For the types without an int8 kernel (Q4_1, Q5_1, Q2_K, Q3_K: their
 * matmuls dequantise each row) and F16 rows. The arithmetic is the scalar
 * code's, operation for operation (a product, then a sum: no fused
 * multiply-add), so both give the same bits. Every other type has its AVX2
 * dequantisation below as well. */
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#define AVX2 __attribute__((target("avx2,f16c")))

/* 8 bytes to 8 floats of int32 values */
static inline AVX2 __m256i u8x8(const uint8_t *p)
{
    return _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)p));
}

AVX2 static void deq_f16_avx2(const uint16_t *h, float *y, int64_t n)
{
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(h + i))));
    for (; i < n; i++)
        y[i] = tensor_f16_to_f32(h[i]);
}

/* Q4_1 and Q5_1: y = q * d + m with q = nibble (| fifth bit << 4) */
AVX2 static void deq_q4_1_avx2(const block_q4_1 *b, float *y, int64_t nb)
{
    const __m256i lo = _mm256_set1_epi32(0xF);
    for (int64_t i = 0; i < nb; i++, y += QK) {
        __m256 d = _mm256_set1_ps(H(b[i].d)), m = _mm256_set1_ps(H(b[i].m));
        for (int j = 0; j < QK / 2; j += 8) {
            __m256i q = u8x8(b[i].qs + j);
            __m256 q0 = _mm256_cvtepi32_ps(_mm256_and_si256(q, lo));
            __m256 q1 = _mm256_cvtepi32_ps(_mm256_srli_epi32(q, 4));
            _mm256_storeu_ps(y + j, _mm256_add_ps(_mm256_mul_ps(q0, d), m));
            _mm256_storeu_ps(y + j + QK / 2, _mm256_add_ps(_mm256_mul_ps(q1, d), m));
        }
    }
}

AVX2 static void deq_q5_1_avx2(const block_q5_1 *b, float *y, int64_t nb)
{
    const __m256i lo = _mm256_set1_epi32(0xF), one = _mm256_set1_epi32(1);
    const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    for (int64_t i = 0; i < nb; i++, y += QK) {
        __m256 d = _mm256_set1_ps(H(b[i].d)), m = _mm256_set1_ps(H(b[i].m));
        uint32_t qh;
        memcpy(&qh, b[i].qh, 4);
        __m256i hv = _mm256_set1_epi32((int)qh);
        for (int j = 0; j < QK / 2; j += 8) {
            __m256i q = u8x8(b[i].qs + j);
            __m256i sh = _mm256_add_epi32(lanes, _mm256_set1_epi32(j));
            __m256i h0 = _mm256_slli_epi32(_mm256_and_si256(_mm256_srlv_epi32(hv, sh), one), 4);
            __m256i h1 = _mm256_slli_epi32(
                _mm256_and_si256(_mm256_srlv_epi32(hv, _mm256_add_epi32(sh, _mm256_set1_epi32(16))), one), 4);
            __m256 q0 = _mm256_cvtepi32_ps(_mm256_or_si256(_mm256_and_si256(q, lo), h0));
            __m256 q1 = _mm256_cvtepi32_ps(_mm256_or_si256(_mm256_srli_epi32(q, 4), h1));
            _mm256_storeu_ps(y + j, _mm256_add_ps(_mm256_mul_ps(q0, d), m));
            _mm256_storeu_ps(y + j + QK / 2, _mm256_add_ps(_mm256_mul_ps(q1, d), m));
        }
    }
}

/* Q2_K: 16 values of one sub-block, dl * ((q >> shift) & 3) - ml */
AVX2 static void deq_q2_k_avx2(const block_q2_k *b, float *y, int64_t nb)
{
    const __m256i three = _mm256_set1_epi32(3);
    for (int64_t i = 0; i < nb; i++) {
        float d = H(b[i].d), min = H(b[i].dmin);
        const uint8_t *q = b[i].qs;
        int is = 0;
        for (int n = 0; n < QK_K; n += 128, q += 32)
            for (int shift = 0; shift < 8; shift += 2) {
                __m128i cnt = _mm_cvtsi32_si128(shift);
                for (int half = 0; half < 2; half++) {
                    uint8_t sc = b[i].scales[is++];
                    __m256 dl = _mm256_set1_ps(d * (sc & 0xF)), ml = _mm256_set1_ps(min * (sc >> 4));
                    for (int l = 0; l < 16; l += 8, y += 8) {
                        __m256i v = _mm256_and_si256(_mm256_srl_epi32(u8x8(q + 16 * half + l), cnt), three);
                        _mm256_storeu_ps(y, _mm256_sub_ps(_mm256_mul_ps(dl, _mm256_cvtepi32_ps(v)), ml));
                    }
                }
            }
    }
}

/* Q3_K: dl * (((q >> shift) & 3) - (hmask bit clear ? 4 : 0)) */
AVX2 static void deq_q3_k_avx2(const block_q3_k *b, float *y, int64_t nb)
{
    const uint32_t kmask1 = 0x03030303, kmask2 = 0x0f0f0f0f;
    const __m256i three = _mm256_set1_epi32(3), four = _mm256_set1_epi32(4);
    for (int64_t i = 0; i < nb; i++) {
        float d_all = H(b[i].d);
        const uint8_t *q = b[i].qs, *hm = b[i].hmask;
        uint32_t aux[4];
        memcpy(aux, b[i].scales, 12);
        uint32_t tmp = aux[2];
        aux[2] = ((aux[0] >> 4) & kmask2) | (((tmp >> 4) & kmask1) << 4);
        aux[3] = ((aux[1] >> 4) & kmask2) | (((tmp >> 6) & kmask1) << 4);
        aux[0] = (aux[0] & kmask2) | (((tmp >> 0) & kmask1) << 4);
        aux[1] = (aux[1] & kmask2) | (((tmp >> 2) & kmask1) << 4);
        int8_t scales[16];
        memcpy(scales, aux, 16);
        int is = 0, bit = 0;
        for (int n = 0; n < QK_K; n += 128, q += 32)
            for (int shift = 0; shift < 8; shift += 2, bit++) {
                __m128i cnt = _mm_cvtsi32_si128(shift);
                __m256i mbit = _mm256_set1_epi32(1 << bit);
                for (int half = 0; half < 2; half++) {
                    __m256 dl = _mm256_set1_ps(d_all * (scales[is++] - 32));
                    for (int l = 16 * half; l < 16 * half + 16; l += 8, y += 8) {
                        __m256i v = _mm256_and_si256(_mm256_srl_epi32(u8x8(q + l), cnt), three);
                        __m256i clear = _mm256_cmpeq_epi32(_mm256_and_si256(u8x8(hm + l), mbit),
                                                           _mm256_setzero_si256());
                        v = _mm256_sub_epi32(v, _mm256_and_si256(clear, four));
                        _mm256_storeu_ps(y, _mm256_mul_ps(dl, _mm256_cvtepi32_ps(v)));
                    }
                }
            }
    }
}

/* The types with int8 kernels dequantise too: under --exact, for
 * `cape info --check`, and for embedding rows. */
AVX2 static void deq_bf16_avx2(const uint16_t *h, float *y, int64_t n)
{
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(h + i)));
        _mm256_storeu_ps(y + i, _mm256_castsi256_ps(_mm256_slli_epi32(v, 16)));
    }
    for (; i < n; i++)
        y[i] = tensor_bf16_to_f32(h[i]);
}

AVX2 static void deq_q4_0_avx2(const block_q4_0 *b, float *y, int64_t nb)
{
    const __m256i lo = _mm256_set1_epi32(0xF), eight = _mm256_set1_epi32(8);
    for (int64_t i = 0; i < nb; i++, y += QK) {
        __m256 d = _mm256_set1_ps(H(b[i].d));
        for (int j = 0; j < QK / 2; j += 8) {
            __m256i q = u8x8(b[i].qs + j);
            __m256i q0 = _mm256_sub_epi32(_mm256_and_si256(q, lo), eight);
            __m256i q1 = _mm256_sub_epi32(_mm256_srli_epi32(q, 4), eight);
            _mm256_storeu_ps(y + j, _mm256_mul_ps(_mm256_cvtepi32_ps(q0), d));
            _mm256_storeu_ps(y + j + QK / 2, _mm256_mul_ps(_mm256_cvtepi32_ps(q1), d));
        }
    }
}

AVX2 static void deq_q5_0_avx2(const block_q5_0 *b, float *y, int64_t nb)
{
    const __m256i lo = _mm256_set1_epi32(0xF), one = _mm256_set1_epi32(1);
    const __m256i sixteen = _mm256_set1_epi32(16);
    const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    for (int64_t i = 0; i < nb; i++, y += QK) {
        __m256 d = _mm256_set1_ps(H(b[i].d));
        uint32_t qh;
        memcpy(&qh, b[i].qh, 4);
        __m256i hv = _mm256_set1_epi32((int)qh);
        for (int j = 0; j < QK / 2; j += 8) {
            __m256i q = u8x8(b[i].qs + j);
            __m256i sh = _mm256_add_epi32(lanes, _mm256_set1_epi32(j));
            __m256i h0 = _mm256_slli_epi32(_mm256_and_si256(_mm256_srlv_epi32(hv, sh), one), 4);
            __m256i h1 = _mm256_slli_epi32(
                _mm256_and_si256(_mm256_srlv_epi32(hv, _mm256_add_epi32(sh, sixteen)), one), 4);
            __m256i q0 = _mm256_sub_epi32(_mm256_or_si256(_mm256_and_si256(q, lo), h0), sixteen);
            __m256i q1 = _mm256_sub_epi32(_mm256_or_si256(_mm256_srli_epi32(q, 4), h1), sixteen);
            _mm256_storeu_ps(y + j, _mm256_mul_ps(_mm256_cvtepi32_ps(q0), d));
            _mm256_storeu_ps(y + j + QK / 2, _mm256_mul_ps(_mm256_cvtepi32_ps(q1), d));
        }
    }
}

AVX2 static void deq_q8_0_avx2(const block_q8_0 *b, float *y, int64_t nb)
{
    for (int64_t i = 0; i < nb; i++, y += QK) {
        __m256 d = _mm256_set1_ps(H(b[i].d));
        for (int j = 0; j < QK; j += 8) {
            __m256i q = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(b[i].qs + j)));
            _mm256_storeu_ps(y + j, _mm256_mul_ps(_mm256_cvtepi32_ps(q), d));
        }
    }
}

/* One Q4_K or Q5_K super-block (qh: Q5_K's fifth bits, NULL for Q4_K). */
AVX2 static float *deq_k4_block_avx2(const uint8_t *scales, const uint8_t *q, const uint8_t *qh,
                                     float d, float min, float *y)
{
    const __m256i lo = _mm256_set1_epi32(0xF), zero = _mm256_setzero_si256();
    const __m256i sixteen = _mm256_set1_epi32(16);
    for (int j = 0; j < 8; j += 2, q += 32) {
        uint8_t sc, m;
        quant_k4_scale_min(j, scales, &sc, &m);
        __m256 d1 = _mm256_set1_ps(d * sc), m1 = _mm256_set1_ps(min * m);
        quant_k4_scale_min(j + 1, scales, &sc, &m);
        __m256 d2 = _mm256_set1_ps(d * sc), m2 = _mm256_set1_ps(min * m);
        __m256i u1 = _mm256_set1_epi32(1 << j), u2 = _mm256_set1_epi32(2 << j);
        for (int l = 0; l < 32; l += 8) {
            __m256i v = u8x8(q + l);
            __m256i a = _mm256_and_si256(v, lo), b = _mm256_srli_epi32(v, 4);
            if (qh) {
                __m256i h = u8x8(qh + l);
                __m256i h1 = _mm256_cmpeq_epi32(_mm256_and_si256(h, u1), zero);
                __m256i h2 = _mm256_cmpeq_epi32(_mm256_and_si256(h, u2), zero);
                a = _mm256_add_epi32(a, _mm256_andnot_si256(h1, sixteen));
                b = _mm256_add_epi32(b, _mm256_andnot_si256(h2, sixteen));
            }
            _mm256_storeu_ps(y + l, _mm256_sub_ps(_mm256_mul_ps(d1, _mm256_cvtepi32_ps(a)), m1));
            _mm256_storeu_ps(y + 32 + l, _mm256_sub_ps(_mm256_mul_ps(d2, _mm256_cvtepi32_ps(b)), m2));
        }
        y += 64;
    }
    return y;
}

AVX2 static void deq_q4_k_avx2(const block_q4_k *b, float *y, int64_t nb)
{
    for (int64_t i = 0; i < nb; i++)
        y = deq_k4_block_avx2(b[i].scales, b[i].qs, NULL, H(b[i].d), H(b[i].dmin), y);
}

AVX2 static void deq_q5_k_avx2(const block_q5_k *b, float *y, int64_t nb)
{
    for (int64_t i = 0; i < nb; i++)
        y = deq_k4_block_avx2(b[i].scales, b[i].qs, b[i].qh, H(b[i].d), H(b[i].dmin), y);
}

AVX2 static void deq_q6_k_avx2(const block_q6_k *b, float *y, int64_t nb)
{
    const __m256i lo = _mm256_set1_epi32(0xF), three = _mm256_set1_epi32(3);
    const __m256i off = _mm256_set1_epi32(32);
    for (int64_t i = 0; i < nb; i++) {
        float d = H(b[i].d);
        const uint8_t *ql = b[i].ql, *qh = b[i].qh;
        const int8_t *sc = b[i].scales;
        for (int n = 0; n < QK_K; n += 128, y += 128, ql += 64, qh += 32, sc += 8)
            for (int l = 0; l < 32; l += 8) {
                int is = l / 16;
                __m256i a = u8x8(ql + l), c = u8x8(ql + l + 32), h = u8x8(qh + l);
#define HB(s) _mm256_slli_epi32(_mm256_and_si256(_mm256_srli_epi32(h, s), three), 4)
                __m256i q1 = _mm256_sub_epi32(_mm256_or_si256(_mm256_and_si256(a, lo), HB(0)), off);
                __m256i q2 = _mm256_sub_epi32(_mm256_or_si256(_mm256_and_si256(c, lo), HB(2)), off);
                __m256i q3 = _mm256_sub_epi32(_mm256_or_si256(_mm256_srli_epi32(a, 4), HB(4)), off);
                __m256i q4 = _mm256_sub_epi32(_mm256_or_si256(_mm256_srli_epi32(c, 4), HB(6)), off);
#undef HB
                _mm256_storeu_ps(y + l, _mm256_mul_ps(_mm256_set1_ps(d * sc[is]), _mm256_cvtepi32_ps(q1)));
                _mm256_storeu_ps(y + l + 32, _mm256_mul_ps(_mm256_set1_ps(d * sc[is + 2]), _mm256_cvtepi32_ps(q2)));
                _mm256_storeu_ps(y + l + 64, _mm256_mul_ps(_mm256_set1_ps(d * sc[is + 4]), _mm256_cvtepi32_ps(q3)));
                _mm256_storeu_ps(y + l + 96, _mm256_mul_ps(_mm256_set1_ps(d * sc[is + 6]), _mm256_cvtepi32_ps(q4)));
            }
    }
}

static int deq_avx2(void)
{
    return cape_isa_allows(CAPE_ISA_AVX2);
}
#endif

void quant_dequant_row(uint32_t type, const void *src, float *y, int64_t n)
{
#if defined(__x86_64__) && defined(__GNUC__)
    if (deq_avx2())
        switch (type) {
        case TENSOR_F16: deq_f16_avx2(src, y, n); return;
        case TENSOR_Q4_1: deq_q4_1_avx2(src, y, n / QK); return;
        case TENSOR_Q5_1: deq_q5_1_avx2(src, y, n / QK); return;
        case TENSOR_Q2_K: deq_q2_k_avx2(src, y, n / QK_K); return;
        case TENSOR_Q3_K: deq_q3_k_avx2(src, y, n / QK_K); return;
        case TENSOR_BF16: deq_bf16_avx2(src, y, n); return;
        case TENSOR_Q4_0: deq_q4_0_avx2(src, y, n / QK); return;
        case TENSOR_Q5_0: deq_q5_0_avx2(src, y, n / QK); return;
        case TENSOR_Q8_0: deq_q8_0_avx2(src, y, n / QK); return;
        case TENSOR_Q4_K: deq_q4_k_avx2(src, y, n / QK_K); return;
        case TENSOR_Q5_K: deq_q5_k_avx2(src, y, n / QK_K); return;
        case TENSOR_Q6_K: deq_q6_k_avx2(src, y, n / QK_K); return;
        default: break;
        }
#endif
    switch (type) {
    case TENSOR_F32: memcpy(y, src, (size_t)n * 4); break;
    case TENSOR_F16: {
        const uint16_t *h = src;
        for (int64_t i = 0; i < n; i++)
            y[i] = tensor_f16_to_f32(h[i]);
        break;
    }
    case TENSOR_BF16: {
        const uint16_t *h = src;
        for (int64_t i = 0; i < n; i++)
            y[i] = tensor_bf16_to_f32(h[i]);
        break;
    }
    case TENSOR_Q4_0: deq_q4_0(src, y, n / QK); break;
    case TENSOR_Q4_1: deq_q4_1(src, y, n / QK); break;
    case TENSOR_Q5_0: deq_q5_0(src, y, n / QK); break;
    case TENSOR_Q5_1: deq_q5_1(src, y, n / QK); break;
    case TENSOR_Q8_0: deq_q8_0(src, y, n / QK); break;
    case TENSOR_Q2_K: deq_q2_k(src, y, n / QK_K); break;
    case TENSOR_Q3_K: deq_q3_k(src, y, n / QK_K); break;
    case TENSOR_Q4_K: deq_q4_k(src, y, n / QK_K); break;
    case TENSOR_Q5_K: deq_q5_k(src, y, n / QK_K); break;
    case TENSOR_Q6_K: deq_q6_k(src, y, n / QK_K); break;
    default: memset(y, 0, (size_t)n * 4); break;
    }
}

void quant_q8_0_row(const float *x, block_q8_0 *y, int64_t n)
{
    for (int64_t i = 0; i < n / QK; i++, x += QK) {
        float amax = 0;
        for (int j = 0; j < QK; j++)
            amax = fmaxf(amax, fabsf(x[j]));
        float d = amax / 127.f, id = d ? 1.f / d : 0.f;
        y[i].d = tensor_f32_to_f16(d);
        for (int j = 0; j < QK; j++)
            y[i].qs[j] = (int8_t)roundf(x[j] * id);
    }
}

void quant_q4_0_row(const float *x, block_q4_0 *y, int64_t n)
{
    for (int64_t i = 0; i < n / QK; i++, x += QK) {
        float amax = 0, max = 0;
        for (int j = 0; j < QK; j++) {
            if (fabsf(x[j]) > amax) {
                amax = fabsf(x[j]);
                max = x[j];
            }
        }
        float d = max / -8.f, id = d ? 1.f / d : 0.f;
        y[i].d = tensor_f32_to_f16(d);
        for (int j = 0; j < QK / 2; j++) {
            int a = (int)(x[j] * id + 8.5f), b = (int)(x[j + QK / 2] * id + 8.5f);
            a = a > 15 ? 15 : a;
            b = b > 15 ? 15 : b;
            y[i].qs[j] = (uint8_t)(a | (b << 4));
        }
    }
}

void quant_q8_k_row(const float *x, block_q8_k *y, int64_t n)
{
    for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
        float amax = 0, max = 0;
        for (int j = 0; j < QK_K; j++) {
            if (fabsf(x[j]) > amax) {
                amax = fabsf(x[j]);
                max = x[j];
            }
        }
        if (amax == 0) {
            memset(&y[i], 0, sizeof y[i]);
            continue;
        }
        float iscale = -127.f / max;
        for (int j = 0; j < QK_K; j++) {
            int v = (int)nearbyintf(iscale * x[j]);
            y[i].qs[j] = (int8_t)(v > 127 ? 127 : v < -128 ? -128 : v);
        }
        for (int j = 0; j < QK_K / 16; j++) {
            int s = 0;
            for (int l = 0; l < 16; l++)
                s += y[i].qs[j * 16 + l];
            y[i].bsums[j] = (int16_t)s;
        }
        y[i].d = 1 / iscale;
    }
}
