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

#endif

double act_exp_sum(float *x, size_t n, float shift)
{
#if defined(__x86_64__)
    int avx512 = cape_isa_allows(CAPE_ISA_AVX512);
    if (avx512)
        return exp_sum_avx512(x, n, shift);
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
    int avx512 = cape_isa_allows(CAPE_ISA_AVX512);
    if (k != ACT_GELU_ERF && avx512) {
        act_avx512(k, x, m, y, n);
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
