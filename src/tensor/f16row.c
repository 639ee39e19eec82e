#include "tensor/f16row.h"

#include <string.h>

#include "base/isa.h"
#include "tensor/dtype.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

/* ---- generic ---- */

static void from_f32_generic(uint16_t *dst, const float *src, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        dst[i] = tensor_f32_to_f16(src[i]);
}

static void to_f32_generic(float *dst, const uint16_t *src, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        dst[i] = tensor_f16_to_f32(src[i]);
}

static float dot_generic(const float *q, const uint16_t *k, int64_t n)
{
    float acc[8] = {0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++)
            acc[j] += q[i + j] * tensor_f16_to_f32(k[i + j]);
    float s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
    for (; i < n; i++)
        s += q[i] * tensor_f16_to_f32(k[i]);
    return s;
}

static void axpy_generic(float a, const uint16_t *v, float *y, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        y[i] += a * tensor_f16_to_f32(v[i]);
}

/* ---- AVX2 + F16C ---- */

#if defined(__x86_64__)
#define F16C __attribute__((target("avx2,fma,f16c")))

F16C static void from_f32_f16c(uint16_t *dst, const float *src, int64_t n)
{
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(dst + i),
                         _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT));
    for (; i < n; i++)
        dst[i] = tensor_f32_to_f16(src[i]);
}

F16C static void to_f32_f16c(float *dst, const uint16_t *src, int64_t n)
{
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(src + i))));
    for (; i < n; i++)
        dst[i] = tensor_f16_to_f32(src[i]);
}

F16C static float dot_f16c(const float *q, const uint16_t *k, int64_t n)
{
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256 k0 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(k + i)));
        __m256 k1 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(k + i + 8)));
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), k0, s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i + 8), k1, s1);
    }
    for (; i + 8 <= n; i += 8)
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i),
                             _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(k + i))), s0);
    s0 = _mm256_add_ps(s0, s1);
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(s0), _mm256_extractf128_ps(s0, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    h = _mm_add_ss(h, _mm_movehdup_ps(h));
    float s = _mm_cvtss_f32(h);
    for (; i < n; i++)
        s += q[i] * tensor_f16_to_f32(k[i]);
    return s;
}

F16C static void axpy_f16c(float a, const uint16_t *v, float *y, int64_t n)
{
    __m256 va = _mm256_set1_ps(a);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 x = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(v + i)));
        _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, x, _mm256_loadu_ps(y + i)));
    }
    for (; i < n; i++)
        y[i] += a * tensor_f16_to_f32(v[i]);
}

static int have_f16c(void) { return cape_isa_allows(CAPE_ISA_AVX2); }
#else
static int have_f16c(void) { return 0; }
#define from_f32_f16c from_f32_generic
#define to_f32_f16c to_f32_generic
#define dot_f16c dot_generic
#define axpy_f16c axpy_generic
#endif

void f16row_from_f32(uint16_t *dst, const float *src, int64_t n)
{
    if (have_f16c())
        from_f32_f16c(dst, src, n);
    else
        from_f32_generic(dst, src, n);
}

void f16row_to_f32(float *dst, const uint16_t *src, int64_t n)
{
    if (have_f16c())
        to_f32_f16c(dst, src, n);
    else
        to_f32_generic(dst, src, n);
}

float f16row_dot(const float *q, const uint16_t *k, int64_t n)
{
    return have_f16c() ? dot_f16c(q, k, n) : dot_generic(q, k, n);
}

void f16row_axpy(float a, const uint16_t *v, float *y, int64_t n)
{
    if (have_f16c())
        axpy_f16c(a, v, y, n);
    else
        axpy_generic(a, v, y, n);
}
