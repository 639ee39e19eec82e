#include "tensor/act.h"
#include "tensor/vexp.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif
#include <math.h>

#include "base/isa.h"
#include "tensor/arm/arm.h"

static float act1(act_kind k, float x)
{
    switch (k) {
    case ACT_GELU_TANH: {
        const float c = 0.7978845608028654f;
        return 0.5f * x * (1.f + tanhf(c * (x + 0.044715f * x * x * x)));
    }
    case ACT_GELU_ERF: return 0.5f * x * (1.f + erff(x * (float)M_SQRT1_2));
    default: return x / (1.f + expf(-x));
    }
}

#if defined(__x86_64__)
#define AVX512 __attribute__((target("avx512f")))

AVX512 static void act_avx512(act_kind k, const float *x, const float *m, float *y, size_t n)
{
    size_t i = 0;
    const __m512 one = _mm512_set1_ps(1.f);
    for (; i + 16 <= n; i += 16) {
        __m512 v = _mm512_loadu_ps(x + i), z;
        if (k == ACT_GELU_TANH) {
            __m512 v3 = _mm512_mul_ps(_mm512_mul_ps(v, v), v);
            __m512 u = _mm512_fmadd_ps(v3, _mm512_set1_ps(0.044715f), v);
            z = _mm512_mul_ps(u, _mm512_set1_ps(-2.f * 0.7978845608028654f));
        } else {
            z = _mm512_sub_ps(_mm512_setzero_ps(), v);
        }
        __m512 r = _mm512_div_ps(v, _mm512_add_ps(one, vexp_ps512(z)));
        if (m)
            r = _mm512_mul_ps(r, _mm512_loadu_ps(m + i));
        _mm512_storeu_ps(y + i, r);
    }
    for (; i < n; i++)
        y[i] = act1(k, x[i]) * (m ? m[i] : 1.f);
}

AVX512 static double exp_sum_avx512(float *x, size_t n, float shift)
{
    __m512 sh = _mm512_set1_ps(shift);
    __m512d s0 = _mm512_setzero_pd(), s1 = _mm512_setzero_pd();
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512 e = vexp_ps512(_mm512_sub_ps(_mm512_loadu_ps(x + i), sh));
        _mm512_storeu_ps(x + i, e);
        s0 = _mm512_add_pd(s0, _mm512_cvtps_pd(_mm512_castps512_ps256(e)));
        s1 = _mm512_add_pd(s1, _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(e), 1))));
    }
    if (i < n) { /* the same polynomial for the tail, on masked lanes */
        __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        __m512 e = vexp_ps512(_mm512_sub_ps(_mm512_mask_loadu_ps(sh, m, x + i), sh));
        e = _mm512_maskz_mov_ps(m, e);
        _mm512_mask_storeu_ps(x + i, m, e);
        s0 = _mm512_add_pd(s0, _mm512_cvtps_pd(_mm512_castps512_ps256(e)));
        s1 = _mm512_add_pd(s1, _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(e), 1))));
    }
    return _mm512_reduce_add_pd(_mm512_add_pd(s0, s1));
}

/* AVX2+FMA: the same arithmetic on 8 lanes (vexp_ps256 gives vexp_ps512's
 * bits), tails through masked loads and stores. */
#define AVX2 __attribute__((target("avx2,fma")))

AVX2 static inline __m256 act8_avx2(act_kind k, __m256 v)
{
    __m256 z;
    if (k == ACT_GELU_TANH) {
        __m256 v3 = _mm256_mul_ps(_mm256_mul_ps(v, v), v);
        __m256 u = _mm256_fmadd_ps(v3, _mm256_set1_ps(0.044715f), v);
        z = _mm256_mul_ps(u, _mm256_set1_ps(-2.f * 0.7978845608028654f));
    } else {
        z = _mm256_sub_ps(_mm256_setzero_ps(), v);
    }
    return _mm256_div_ps(v, _mm256_add_ps(_mm256_set1_ps(1.f), vexp_ps256(z)));
}

AVX2 static void act_avx2(act_kind k, const float *x, const float *m, float *y, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 r = act8_avx2(k, _mm256_loadu_ps(x + i));
        if (m)
            r = _mm256_mul_ps(r, _mm256_loadu_ps(m + i));
        _mm256_storeu_ps(y + i, r);
    }
    if (i < n) {
        __m256i t = vmask_epi32((int)(n - i));
        __m256 r = act8_avx2(k, _mm256_maskload_ps(x + i, t));
        if (m)
            r = _mm256_mul_ps(r, _mm256_maskload_ps(m + i, t));
        _mm256_maskstore_ps(y + i, t, r);
    }
}

AVX2 static double exp_sum_avx2(float *x, size_t n, float shift)
{
    __m256 sh = _mm256_set1_ps(shift);
    __m256d s0 = _mm256_setzero_pd(), s1 = _mm256_setzero_pd();
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 e = vexp_ps256(_mm256_sub_ps(_mm256_loadu_ps(x + i), sh));
        _mm256_storeu_ps(x + i, e);
        s0 = _mm256_add_pd(s0, _mm256_cvtps_pd(_mm256_castps256_ps128(e)));
        s1 = _mm256_add_pd(s1, _mm256_cvtps_pd(_mm256_extractf128_ps(e, 1)));
    }
    if (i < n) { /* masked lanes read 0 and are zeroed after the exp */
        __m256i t = vmask_epi32((int)(n - i));
        __m256 e = vexp_ps256(_mm256_sub_ps(_mm256_maskload_ps(x + i, t), sh));
        e = _mm256_and_ps(e, _mm256_castsi256_ps(t));
        _mm256_maskstore_ps(x + i, t, e);
        s0 = _mm256_add_pd(s0, _mm256_cvtps_pd(_mm256_castps256_ps128(e)));
        s1 = _mm256_add_pd(s1, _mm256_cvtps_pd(_mm256_extractf128_ps(e, 1)));
    }
    __m256d s = _mm256_add_pd(s0, s1);
    __m128d h = _mm_add_pd(_mm256_castpd256_pd128(s), _mm256_extractf128_pd(s, 1));
    return _mm_cvtsd_f64(_mm_add_sd(h, _mm_unpackhi_pd(h, h)));
}
#endif

double act_exp_sum(float *x, size_t n, float shift)
{
#if defined(__x86_64__)
    cape_isa level = cape_isa_level();
    if (level >= CAPE_ISA_AVX512)
        return exp_sum_avx512(x, n, shift);
    if (level == CAPE_ISA_AVX2)
        return exp_sum_avx2(x, n, shift);
#elif defined(__aarch64__)
    if (cape_isa_allows(CAPE_ISA_NEON))
        return act_exp_sum_neon(x, n, shift);
#endif
    double s = 0;
    for (size_t i = 0; i < n; i++) {
        x[i] = expf(x[i] - shift);
        s += x[i];
    }
    return s;
}

void act_apply(act_kind k, const float *x, const float *m, float *y, size_t n)
{
#if defined(__x86_64__)
    cape_isa level = cape_isa_level();
    if (k != ACT_GELU_ERF && level >= CAPE_ISA_AVX512) {
        act_avx512(k, x, m, y, n);
        return;
    }
    if (k != ACT_GELU_ERF && level == CAPE_ISA_AVX2) {
        act_avx2(k, x, m, y, n);
        return;
    }
#elif defined(__aarch64__)
    if (k != ACT_GELU_ERF && cape_isa_allows(CAPE_ISA_NEON)) {
        act_apply_neon(k, x, m, y, n);
        return;
    }
#endif
    for (size_t i = 0; i < n; i++)
        y[i] = act1(k, x[i]) * (m ? m[i] : 1.f);
}
