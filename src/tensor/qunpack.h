/* qunpack: SIMD unpacking of quantised blocks shared by the one-row kernels
 * (qdot.c) and the many-token tiles (qmm.c). Private to src/tensor; x86-64
 * with GCC or Clang only, like its callers. */
#ifndef CAPE_QUNPACK_H
#define CAPE_QUNPACK_H

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#include <stdint.h>

/* Half of a Q6_K super-block, 128 weights, as unsigned 6-bit values 0..63 in
 * four vectors of 32 bytes: v[k] holds the values of the scale groups 2k and
 * 2k+1 (ql: 64 bytes of low nibbles, qh: 32 bytes of 2-bit high parts). */
static inline __attribute__((always_inline, target("avx2"))) void
qunpack_q6_k_half(const uint8_t *ql, const uint8_t *qh, __m256i v[4])
{
    const __m256i m4 = _mm256_set1_epi8(0x0F), m3 = _mm256_set1_epi8(3);
    __m256i la = _mm256_loadu_si256((const __m256i *)ql);
    __m256i lb = _mm256_loadu_si256((const __m256i *)(ql + 32));
    __m256i hv = _mm256_loadu_si256((const __m256i *)qh);
    v[0] = _mm256_or_si256(_mm256_and_si256(la, m4), _mm256_slli_epi16(_mm256_and_si256(hv, m3), 4));
    v[1] = _mm256_or_si256(_mm256_and_si256(lb, m4),
                           _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hv, 2), m3), 4));
    v[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(la, 4), m4),
                           _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hv, 4), m3), 4));
    v[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(lb, 4), m4),
                           _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hv, 6), m3), 4));
}
/* Q5_0's fifth bits (qh: 4 bytes): byte i is 0x10 where bit i is set. */
static inline __attribute__((always_inline, target("avx2"))) __m256i
qunpack_q5_0_high(const uint8_t *qh4)
{
    uint32_t qh;
    __builtin_memcpy(&qh, qh4, 4);
    const __m256i spread = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1,
                                            2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
    const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ULL);
    __m256i v = _mm256_shuffle_epi8(_mm256_set1_epi32((int)qh), spread);
    v = _mm256_cmpeq_epi8(_mm256_and_si256(v, bit), bit);
    return _mm256_and_si256(v, _mm256_set1_epi8(0x10));
}
#endif

#endif
