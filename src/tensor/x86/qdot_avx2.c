/* qdot kernels for AVX2 (+FMA, F16C): the level of x86-64 CPUs without
 * AVX-512 (Haswell to Alder Lake, AMD Zen 1 to 3).
 *
 * Products of bytes go through vpmaddubsw (unsigned x signed bytes, adjacent
 * pairs summed to int16) and vpmaddwd (int16 pairs summed to int32, by 1 or by
 * a sub-block scale). The pair sums cannot saturate: weights enter as their
 * unsigned codes (at most 63 for Q6_K, so 2 * 63 * 127 < 32767) or, for Q8_0,
 * as |w| against x with w's sign (2 * 128 * 127 < 32767); the codes' offsets
 * come off through the activations' block sums, as in the VNNI kernels. */
#if defined(__x86_64__)
#include <immintrin.h>
#include <string.h>

#include "tensor/qunpack.h"
#include "tensor/x86/qdot_x86.h"

#define AVX2 __attribute__((target("avx2,fma,f16c")))
#define INLINE static inline __attribute__((always_inline))

AVX2 INLINE float hf(uint16_t h) { return _cvtsh_ss(h); }

AVX2 INLINE float hsum8(__m256 v)
{
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    h = _mm_add_ss(h, _mm_movehdup_ps(h));
    return _mm_cvtss_f32(h);
}

AVX2 INLINE int hsum8i(__m256i v)
{
    __m128i h = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    h = _mm_add_epi32(h, _mm_shuffle_epi32(h, _MM_SHUFFLE(1, 0, 3, 2)));
    h = _mm_add_epi32(h, _mm_shuffle_epi32(h, _MM_SHUFFLE(2, 3, 0, 1)));
    return _mm_cvtsi128_si32(h);
}

AVX2 INLINE float hmax8(__m256 v)
{
    __m128 h = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    h = _mm_max_ps(h, _mm_movehl_ps(h, h));
    h = _mm_max_ss(h, _mm_movehdup_ps(h));
    return _mm_cvtss_f32(h);
}

/* unsigned u times signed s, in groups of four bytes, to eight int32 */
AVX2 INLINE __m256i dot_us(__m256i u, __m256i s)
{
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
}

/* 16 packed nibbles to 32 bytes: the low nibbles, then the high ones */
AVX2 INLINE __m256i nibbles(const uint8_t *qs)
{
    __m128i q = _mm_loadu_si128((const __m128i *)qs), m = _mm_set1_epi8(0x0F);
    return _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(q, 4), m), _mm_and_si128(q, m));
}

/* 32 int32 (four vectors, in order) to 32 int8 (values within int8) */
AVX2 INLINE __m256i pack32(__m256i q0, __m256i q1, __m256i q2, __m256i q3)
{
    __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(q0, q1), _mm256_packs_epi32(q2, q3));
    return _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

AVX2 INLINE __m256i round_i32(__m256 v)
{
    return _mm256_cvtps_epi32(_mm256_round_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
}

/* ---- activation quantisers: the roundings of quant_qa and quant_q8_k_row ---- */

AVX2 static void quant_qa_avx2(const float *x, qa_block *y, int64_t n)
{
    const __m256 absmask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    for (int64_t b = 0; b < n / QK; b++, x += QK) {
        __m256 v[4];
        __m256 m = _mm256_setzero_ps();
        for (int i = 0; i < 4; i++) {
            v[i] = _mm256_loadu_ps(x + 8 * i);
            m = _mm256_max_ps(m, _mm256_and_ps(v[i], absmask));
        }
        float amax = hmax8(m);
        __m256 vid = _mm256_set1_ps(amax ? 127.f / amax : 0.f);
        __m256i q[4];
        for (int i = 0; i < 4; i++)
            q[i] = round_i32(_mm256_mul_ps(v[i], vid));
        _mm256_storeu_si256((__m256i *)y[b].qs, pack32(q[0], q[1], q[2], q[3]));
        y[b].sum = hsum8i(_mm256_add_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3])));
        y[b].d = _cvtsh_ss(_cvtss_sh(amax / 127.f, _MM_FROUND_TO_NEAREST_INT));
    }
}

AVX2 static void quant_q8_k_avx2(const float *x, block_q8_k *y, int64_t n)
{
    const __m256 absmask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    for (int64_t b = 0; b < n / QK_K; b++, x += QK_K) {
        __m256 m = _mm256_setzero_ps();
        for (int i = 0; i < QK_K; i += 8)
            m = _mm256_max_ps(m, _mm256_and_ps(_mm256_loadu_ps(x + i), absmask));
        float amax = hmax8(m);
        if (amax == 0) {
            memset(&y[b], 0, sizeof y[b]);
            continue;
        }
        float max = 0; /* the first value of largest magnitude, with its sign */
        for (int i = 0; i < QK_K; i += 8) {
            __m256 eq = _mm256_cmp_ps(_mm256_and_ps(_mm256_loadu_ps(x + i), absmask),
                                      _mm256_set1_ps(amax), _CMP_EQ_OQ);
            int k = _mm256_movemask_ps(eq);
            if (k) {
                max = x[i + __builtin_ctz((unsigned)k)];
                break;
            }
        }
        float iscale = -127.f / max;
        __m256 vs = _mm256_set1_ps(iscale);
        const __m256i top = _mm256_set1_epi32(127);
        for (int i = 0; i < QK_K; i += 32) {
            __m256i q[4];
            for (int k = 0; k < 4; k++)
                q[k] = _mm256_min_epi32(round_i32(_mm256_mul_ps(_mm256_loadu_ps(x + i + 8 * k), vs)), top);
            _mm256_storeu_si256((__m256i *)(y[b].qs + i), pack32(q[0], q[1], q[2], q[3]));
            y[b].bsums[i / 16] = (int16_t)hsum8i(_mm256_add_epi32(q[0], q[1]));
            y[b].bsums[i / 16 + 1] = (int16_t)hsum8i(_mm256_add_epi32(q[2], q[3]));
        }
        y[b].d = 1 / iscale;
    }
}

/* ---- one weight row against one activation row ---- */

AVX2 static float r_q8_0(const block_q8_0 *w, const qa_block *a, int64_t nb)
{
    __m256 acc = _mm256_setzero_ps(), acc2 = _mm256_setzero_ps();
    int64_t b = 0;
    for (; b + 2 <= nb; b += 2) {
        __m256i w0 = _mm256_loadu_si256((const __m256i *)w[b].qs);
        __m256i x0 = _mm256_loadu_si256((const __m256i *)a[b].qs);
        __m256i w1 = _mm256_loadu_si256((const __m256i *)w[b + 1].qs);
        __m256i x1 = _mm256_loadu_si256((const __m256i *)a[b + 1].qs);
        __m256i d0 = dot_us(_mm256_sign_epi8(w0, w0), _mm256_sign_epi8(x0, w0));
        __m256i d1 = dot_us(_mm256_sign_epi8(w1, w1), _mm256_sign_epi8(x1, w1));
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(d0), _mm256_set1_ps(hf(w[b].d) * a[b].d), acc);
        acc2 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(d1), _mm256_set1_ps(hf(w[b + 1].d) * a[b + 1].d), acc2);
    }
    acc = _mm256_add_ps(acc, acc2);
    for (; b < nb; b++) {
        __m256i wv = _mm256_loadu_si256((const __m256i *)w[b].qs);
        __m256i xv = _mm256_loadu_si256((const __m256i *)a[b].qs);
        __m256i d = dot_us(_mm256_sign_epi8(wv, wv), _mm256_sign_epi8(xv, wv));
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(d), _mm256_set1_ps(hf(w[b].d) * a[b].d), acc);
    }
    return hsum8(acc);
}

AVX2 static float r_q4_0(const block_q4_0 *w, const qa_block *a, int64_t nb)
{
    __m256 acc = _mm256_setzero_ps();
    float corr = 0;
    for (int64_t b = 0; b < nb; b++) {
        __m256i d = dot_us(nibbles(w[b].qs), _mm256_loadu_si256((const __m256i *)a[b].qs));
        float dd = hf(w[b].d) * a[b].d;
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(d), _mm256_set1_ps(dd), acc);
        corr += dd * (float)(8 * a[b].sum);
    }
    return hsum8(acc) - corr;
}

/* Q5_0 as signed values (code - 16) in bytes: the low nibble where the fifth
 * bit is set, the nibble - 16 (0xF0 | nibble) where it is not; then as Q8_0,
 * so the offset needs no correction through the block sums. */
AVX2 INLINE __m256i q5_neg(const uint8_t *qh4, __m256i f0)
{
    uint32_t qh;
    memcpy(&qh, qh4, 4);
    const __m256i spread = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1,
                                            2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
    const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ULL);
    __m256i v = _mm256_shuffle_epi8(_mm256_set1_epi32((int)qh), spread);
    return _mm256_andnot_si256(_mm256_cmpeq_epi8(_mm256_and_si256(v, bit), bit), f0);
}

AVX2 static float r_q5_0(const block_q5_0 *w, const qa_block *a, int64_t nb)
{
    __m256 acc = _mm256_setzero_ps(), acc2 = _mm256_setzero_ps();
    const __m256i f0 = _mm256_set1_epi8((char)0xF0);
    int64_t b = 0;
    for (; b + 2 <= nb; b += 2) {
        __m256i w0 = _mm256_or_si256(nibbles(w[b].qs), q5_neg(w[b].qh, f0));
        __m256i w1 = _mm256_or_si256(nibbles(w[b + 1].qs), q5_neg(w[b + 1].qh, f0));
        __m256i x0 = _mm256_loadu_si256((const __m256i *)a[b].qs);
        __m256i x1 = _mm256_loadu_si256((const __m256i *)a[b + 1].qs);
        __m256i d0 = dot_us(_mm256_sign_epi8(w0, w0), _mm256_sign_epi8(x0, w0));
        __m256i d1 = dot_us(_mm256_sign_epi8(w1, w1), _mm256_sign_epi8(x1, w1));
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(d0), _mm256_set1_ps(hf(w[b].d) * a[b].d), acc);
        acc2 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(d1), _mm256_set1_ps(hf(w[b + 1].d) * a[b + 1].d), acc2);
    }
    acc = _mm256_add_ps(acc, acc2);
    for (; b < nb; b++) {
        __m256i wv = _mm256_or_si256(nibbles(w[b].qs), q5_neg(w[b].qh, f0));
        __m256i xv = _mm256_loadu_si256((const __m256i *)a[b].qs);
        __m256i d = dot_us(_mm256_sign_epi8(wv, wv), _mm256_sign_epi8(xv, wv));
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(d), _mm256_set1_ps(hf(w[b].d) * a[b].d), acc);
    }
    return hsum8(acc);
}

/* The eight 32-value sub-blocks of a Q4_K/Q5_K super-block as unsigned codes:
 * v[j] is sub-block j (qh: Q5_K's fifth bits, NULL for Q4_K). */
AVX2 INLINE void unpack_k45(const uint8_t *qs, const uint8_t *qh, __m256i v[8])
{
    const __m256i m4 = _mm256_set1_epi8(0x0F), one = _mm256_set1_epi8(1);
    __m256i hv = qh ? _mm256_loadu_si256((const __m256i *)qh) : _mm256_setzero_si256();
    for (int p = 0; p < 4; p++) {
        __m256i qv = _mm256_loadu_si256((const __m256i *)(qs + 32 * p));
        v[2 * p] = _mm256_and_si256(qv, m4);
        v[2 * p + 1] = _mm256_and_si256(_mm256_srli_epi16(qv, 4), m4);
        if (qh) {
            __m256i b0 = _mm256_and_si256(_mm256_srli_epi16(hv, 2 * p), one);
            __m256i b1 = _mm256_and_si256(_mm256_srli_epi16(hv, 2 * p + 1), one);
            v[2 * p] = _mm256_or_si256(v[2 * p], _mm256_slli_epi16(b0, 4));
            v[2 * p + 1] = _mm256_or_si256(v[2 * p + 1], _mm256_slli_epi16(b1, 4));
        }
    }
}

/* Scales and minimums of a Q4_K/Q5_K super-block: s16[j] the scale of
 * sub-block j in every int16 lane; m16 the minimum of each 16-value group
 * (group g belongs to sub-block g / 2), to multiply the bsums with. */
AVX2 INLINE void scales_k45(const uint8_t *scales, __m256i s16[8], __m256i *m16)
{
    /* the 6-bit scales and minimums of quant_k4_scale_min, four per word */
    uint32_t u0, u1, u2;
    memcpy(&u0, scales, 4);
    memcpy(&u1, scales + 4, 4);
    memcpy(&u2, scales + 8, 4);
    uint64_t sc = (uint64_t)(u0 & 0x3f3f3f3fu) |
                  (uint64_t)((u2 & 0x0f0f0f0fu) | (((u0 >> 6) & 0x03030303u) << 4)) << 32;
    uint64_t mn = (uint64_t)(u1 & 0x3f3f3f3fu) |
                  (uint64_t)(((u2 >> 4) & 0x0f0f0f0fu) | (((u1 >> 6) & 0x03030303u) << 4)) << 32;
    __m256i sv = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(_mm_cvtsi64_si128((long long)sc)));
    for (int j = 0; j < 8; j++)
        s16[j] = _mm256_shuffle_epi8(sv, _mm256_set1_epi16((short)(0x0100 + 0x0202 * j)));
    __m128i mv = _mm_cvtsi64_si128((long long)mn);
    *m16 = _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(mv, mv));
}

/* Super-block b of a Q4_K/Q5_K row against one Q8_K block, into acc. */
AVX2 INLINE __m256 dot_k45(const __m256i q[8], const __m256i s16[8], __m256i m16, float d,
                             float dmin, const block_q8_k *a, __m256 acc)
{
    __m256i isum = _mm256_setzero_si256();
    for (int j = 0; j < 8; j++) {
        __m256i x = _mm256_loadu_si256((const __m256i *)(a->qs + 32 * j));
        isum = _mm256_add_epi32(isum, _mm256_madd_epi16(_mm256_maddubs_epi16(q[j], x), s16[j]));
    }
    __m256i msum = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)a->bsums), m16);
    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_set1_ps(d * a->d), acc);
    return _mm256_fmadd_ps(_mm256_cvtepi32_ps(msum), _mm256_set1_ps(-dmin * a->d), acc);
}

AVX2 static float r_q4_k(const block_q4_k *w, const block_q8_k *a, int64_t nb)
{
    __m256 acc = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        __m256i q[8], s16[8], m16;
        unpack_k45(w[b].qs, NULL, q);
        scales_k45(w[b].scales, s16, &m16);
        acc = dot_k45(q, s16, m16, hf(w[b].d), hf(w[b].dmin), &a[b], acc);
    }
    return hsum8(acc);
}

AVX2 static float r_q5_k(const block_q5_k *w, const block_q8_k *a, int64_t nb)
{
    __m256 acc = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        __m256i q[8], s16[8], m16;
        unpack_k45(w[b].qs, w[b].qh, q);
        scales_k45(w[b].scales, s16, &m16);
        acc = dot_k45(q, s16, m16, hf(w[b].d), hf(w[b].dmin), &a[b], acc);
    }
    return hsum8(acc);
}

/* A Q6_K super-block: q[h][k] the codes 0..63 of half h, 32 values of scale
 * groups 2k and 2k+1; s16[h][k] those two groups' scales (one per 128-bit
 * lane, matching vpmaddubsw's pairs); sc16 all 16 scales as int16, for the
 * -32 offset through the bsums. */
AVX2 INLINE void unpack_q6_k(const block_q6_k *w, __m256i q[2][4], __m256i s16[2][4], __m256i *sc16)
{
    for (int h = 0; h < 2; h++) {
        const int8_t *sc = w->scales + 8 * h;
        qunpack_q6_k_half(w->ql + 64 * h, w->qh + 32 * h, q[h]);
        for (int k = 0; k < 4; k++)
            s16[h][k] = _mm256_set_m128i(_mm_set1_epi16(sc[2 * k + 1]), _mm_set1_epi16(sc[2 * k]));
    }
    *sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)w->scales));
}

AVX2 INLINE __m256 dot_q6_k(const __m256i q[2][4], const __m256i s16[2][4], __m256i sc16, float d,
                              const block_q8_k *a, __m256 acc)
{
    __m256i isum = _mm256_setzero_si256();
    for (int h = 0; h < 2; h++)
        for (int k = 0; k < 4; k++) {
            __m256i x = _mm256_loadu_si256((const __m256i *)(a->qs + 128 * h + 32 * k));
            isum = _mm256_add_epi32(isum, _mm256_madd_epi16(_mm256_maddubs_epi16(q[h][k], x), s16[h][k]));
        }
    __m256i off = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)a->bsums), sc16);
    isum = _mm256_sub_epi32(isum, _mm256_slli_epi32(off, 5));
    return _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_set1_ps(d * a->d), acc);
}

AVX2 static float r_q6_k(const block_q6_k *w, const block_q8_k *a, int64_t nb)
{
    __m256 acc = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        __m256i q[2][4], s16[2][4], sc16;
        unpack_q6_k(&w[b], q, s16, &sc16);
        acc = dot_q6_k(q, s16, sc16, hf(w[b].d), &a[b], acc);
    }
    return hsum8(acc);
}

float qdot_avx2_row(uint32_t t, const void *w, const void *act, int64_t n)
{
    switch (t) {
    case TENSOR_Q8_0: return r_q8_0(w, act, n / QK);
    case TENSOR_Q4_0: return r_q4_0(w, act, n / QK);
    case TENSOR_Q5_0: return r_q5_0(w, act, n / QK);
    case TENSOR_Q4_K: return r_q4_k(w, act, n / QK_K);
    case TENSOR_Q5_K: return r_q5_k(w, act, n / QK_K);
    case TENSOR_Q6_K: return r_q6_k(w, act, n / QK_K);
    default: return 0;
    }
}

/* ---- one weight row against four activation rows ---- */

/* Q4_0/Q5_0/Q8_0: the weight block is decoded once, the four integer dots
 * reduced to one 4-lane vector and scaled with the activations' block
 * scales read four at a time (transposed by the caller). */
AVX2 INLINE void rows4_q32(uint32_t t, const void *wrow, const char *act, size_t stride,
                           const qdot_scales *sc, int64_t t0, int64_t nb, float *out)
{
    __m128 acc = _mm_setzero_ps(), cacc = _mm_setzero_ps();
    const qa_block *a0 = (const qa_block *)act, *a1 = (const qa_block *)(act + stride);
    const qa_block *a2 = (const qa_block *)(act + 2 * stride), *a3 = (const qa_block *)(act + 3 * stride);
    for (int64_t b = 0; b < nb; b++) {
        __m256i u, wv = _mm256_setzero_si256();
        float dw;
        int bias = 0;
        if (t == TENSOR_Q8_0) {
            const block_q8_0 *w = (const block_q8_0 *)wrow + b;
            wv = _mm256_loadu_si256((const __m256i *)w->qs);
            u = _mm256_sign_epi8(wv, wv);
            dw = hf(w->d);
        } else if (t == TENSOR_Q4_0) {
            const block_q4_0 *w = (const block_q4_0 *)wrow + b;
            u = nibbles(w->qs);
            dw = hf(w->d);
            bias = 8;
        } else {
            const block_q5_0 *w = (const block_q5_0 *)wrow + b;
            u = _mm256_or_si256(nibbles(w->qs), qunpack_q5_0_high(w->qh));
            dw = hf(w->d);
            bias = 16;
        }
        __m256i x0 = _mm256_loadu_si256((const __m256i *)a0[b].qs);
        __m256i x1 = _mm256_loadu_si256((const __m256i *)a1[b].qs);
        __m256i x2 = _mm256_loadu_si256((const __m256i *)a2[b].qs);
        __m256i x3 = _mm256_loadu_si256((const __m256i *)a3[b].qs);
        if (t == TENSOR_Q8_0) {
            x0 = _mm256_sign_epi8(x0, wv);
            x1 = _mm256_sign_epi8(x1, wv);
            x2 = _mm256_sign_epi8(x2, wv);
            x3 = _mm256_sign_epi8(x3, wv);
        }
        __m256i d01 = _mm256_hadd_epi32(dot_us(u, x0), dot_us(u, x1));
        __m256i d23 = _mm256_hadd_epi32(dot_us(u, x2), dot_us(u, x3));
        __m256i d = _mm256_hadd_epi32(d01, d23);
        __m128i r = _mm_add_epi32(_mm256_castsi256_si128(d), _mm256_extracti128_si256(d, 1));
        __m128 vdw = _mm_set1_ps(dw);
        const float *scb = sc->sc + b * sc->npad + t0;
        acc = _mm_fmadd_ps(_mm_cvtepi32_ps(r), _mm_mul_ps(vdw, _mm_loadu_ps(scb)), acc);
        if (bias)
            cacc = _mm_fmadd_ps(_mm_loadu_ps(sc->scs + b * sc->npad + t0),
                                _mm_mul_ps(vdw, _mm_set1_ps((float)bias)), cacc);
    }
    _mm_storeu_ps(out, _mm_sub_ps(acc, cacc));
}

AVX2 static void rows4_q8_0(const void *w, const char *act, size_t stride, const qdot_scales *sc,
                            int64_t t0, int64_t nb, float *out)
{
    rows4_q32(TENSOR_Q8_0, w, act, stride, sc, t0, nb, out);
}
AVX2 static void rows4_q4_0(const void *w, const char *act, size_t stride, const qdot_scales *sc,
                            int64_t t0, int64_t nb, float *out)
{
    rows4_q32(TENSOR_Q4_0, w, act, stride, sc, t0, nb, out);
}
AVX2 static void rows4_q5_0(const void *w, const char *act, size_t stride, const qdot_scales *sc,
                            int64_t t0, int64_t nb, float *out)
{
    rows4_q32(TENSOR_Q5_0, w, act, stride, sc, t0, nb, out);
}

/* K-quants: the super-block decoded once, then each token's block as in the
 * one-row kernels. */
AVX2 static void rows4_k45(const void *wrow, int q5, const char *act, size_t stride, int64_t nb,
                           float *out)
{
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    for (int64_t b = 0; b < nb; b++) {
        __m256i q[8], s16[8], m16;
        float d, dmin;
        if (q5) {
            const block_q5_k *w = (const block_q5_k *)wrow + b;
            unpack_k45(w->qs, w->qh, q);
            scales_k45(w->scales, s16, &m16);
            d = hf(w->d), dmin = hf(w->dmin);
        } else {
            const block_q4_k *w = (const block_q4_k *)wrow + b;
            unpack_k45(w->qs, NULL, q);
            scales_k45(w->scales, s16, &m16);
            d = hf(w->d), dmin = hf(w->dmin);
        }
        for (int k = 0; k < 4; k++)
            acc[k] = dot_k45(q, s16, m16, d, dmin, (const block_q8_k *)(act + (size_t)k * stride) + b, acc[k]);
    }
    for (int k = 0; k < 4; k++)
        out[k] = hsum8(acc[k]);
}

AVX2 static void rows4_q6_k(const block_q6_k *w, const char *act, size_t stride, int64_t nb, float *out)
{
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    for (int64_t b = 0; b < nb; b++) {
        __m256i q[2][4], s16[2][4], sc16;
        unpack_q6_k(&w[b], q, s16, &sc16);
        float d = hf(w[b].d);
        for (int k = 0; k < 4; k++)
            acc[k] = dot_q6_k(q, s16, sc16, d, (const block_q8_k *)(act + (size_t)k * stride) + b, acc[k]);
    }
    for (int k = 0; k < 4; k++)
        out[k] = hsum8(acc[k]);
}

int qdot_avx2_rows4(uint32_t t, const void *w, const void *act, size_t stride, int64_t n,
                    const qdot_scales *sc, int64_t t0, float *out)
{
    switch (t) {
    case TENSOR_Q8_0: if (!sc) return 0; rows4_q8_0(w, act, stride, sc, t0, n / QK, out); return 1;
    case TENSOR_Q4_0: if (!sc) return 0; rows4_q4_0(w, act, stride, sc, t0, n / QK, out); return 1;
    case TENSOR_Q5_0: if (!sc) return 0; rows4_q5_0(w, act, stride, sc, t0, n / QK, out); return 1;
    case TENSOR_Q4_K: rows4_k45(w, 0, act, stride, n / QK_K, out); return 1;
    case TENSOR_Q5_K: rows4_k45(w, 1, act, stride, n / QK_K, out); return 1;
    case TENSOR_Q6_K: rows4_q6_k(w, act, stride, n / QK_K, out); return 1;
    default: return 0;
    }
}

const qdot_kernels qdot_kernels_avx2 = {"avx2", quant_qa_avx2, quant_q8_k_avx2, qdot_avx2_row,
                                        qdot_avx2_rows4};

#endif
