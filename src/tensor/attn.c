#include "tensor/attn.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif
#include <math.h>
#include <string.h>

#include "tensor/act.h"

#include "base/isa.h"
#include "tensor/arm/arm.h"

void attn_keys_transpose(const float *k, size_t k_stride, int j_from, int n_pos, int hd, float *kt,
                         int ld)
{
    /* 16 x 16 blocks: both the reads and the strided writes stay in cache */
    for (int jb = j_from; jb < n_pos; jb += 16) {
        int je = jb + 16 < n_pos ? jb + 16 : n_pos;
        for (int db = 0; db < hd; db += 16) {
            int de = db + 16 < hd ? db + 16 : hd;
            for (int j = jb; j < je; j++)
                for (int d = db; d < de; d++)
                    kt[(size_t)d * ld + j] = k[(size_t)j * k_stride + d];
        }
    }
    /* the vector kernels read up to 15 positions past the last one */
    int end = n_pos + 16 < ld ? n_pos + 16 : ld;
    for (int d = 0; d < hd; d++)
        for (int j = n_pos; j < end; j++)
            kt[(size_t)d * ld + j] = 0;
}

size_t attn_scratch_floats(int G, int ld) { return (size_t)G * (size_t)ld; }

static int use_avx512(int hd)
{
#if defined(__x86_64__)
    return cape_isa_allows(CAPE_ISA_AVX512) && hd % 16 == 0;
#elif defined(__aarch64__)
    (void)hd; /* the NEON loops take any head size */
    return cape_isa_allows(CAPE_ISA_NEON);
#else
    (void)hd;
    return 0;
#endif
}

/* ---- plain loops: any head size, any CPU ---- */

static void scores_plain(const float *q, int G, int hd, const float *kt, int ld, int j0, int j1,
                         float scale, float *sc)
{
    for (int g = 0; g < G; g++)
        for (int j = j0; j <= j1; j++) {
            float s = 0;
            for (int d = 0; d < hd; d++)
                s += q[g * hd + d] * kt[(size_t)d * ld + j];
            sc[(size_t)g * ld + j] = s * scale;
        }
}

static void values_plain(const float *sc, int G, int hd, int ld, const float *v, size_t v_stride,
                         int j0, int j1, const float *inv, float *out)
{
    for (int g = 0; g < G; g++) {
        float *o = out + (size_t)g * hd;
        memset(o, 0, (size_t)hd * sizeof *o);
        for (int j = j0; j <= j1; j++) {
            float p = sc[(size_t)g * ld + j];
            const float *vj = v + (size_t)j * v_stride;
            for (int d = 0; d < hd; d++)
                o[d] += p * vj[d];
        }
        for (int d = 0; d < hd; d++)
            o[d] *= inv[g];
    }
}

#if defined(__x86_64__)
/* ---- AVX-512 ---- */

#define AVX512 __attribute__((target("avx512f")))
#define EACH4(X) X(0) X(1) X(2) X(3)

/* Scores of 4 queries x 16 nv positions (nv = 1..4 vectors of 16) starting
 * at kt + j; nv is a constant in each instance, the unused sums fold away. */
#define INLINE static inline __attribute__((always_inline))
AVX512 INLINE void scores_4xn(const float *q, int hd, const float *kt, int ld, float scale,
                              float *sc, const int nv)
{
#define ZERO(g) __m512 a##g##0 = _mm512_setzero_ps(), a##g##1 = a##g##0, a##g##2 = a##g##0, a##g##3 = a##g##0;
    EACH4(ZERO)
    for (int d = 0; d < hd; d++) {
        const float *r = kt + (size_t)d * ld;
        __m512 k0 = _mm512_loadu_ps(r), k1 = k0, k2 = k0, k3 = k0;
        if (nv > 1)
            k1 = _mm512_loadu_ps(r + 16);
        if (nv > 2)
            k2 = _mm512_loadu_ps(r + 32);
        if (nv > 3)
            k3 = _mm512_loadu_ps(r + 48);
#define FMA(g)                                                                                     \
    {                                                                                              \
        __m512 x = _mm512_set1_ps(q[g * hd + d]);                                                  \
        a##g##0 = _mm512_fmadd_ps(x, k0, a##g##0);                                                 \
        if (nv > 1)                                                                                \
            a##g##1 = _mm512_fmadd_ps(x, k1, a##g##1);                                             \
        if (nv > 2)                                                                                \
            a##g##2 = _mm512_fmadd_ps(x, k2, a##g##2);                                             \
        if (nv > 3)                                                                                \
            a##g##3 = _mm512_fmadd_ps(x, k3, a##g##3);                                             \
    }
        EACH4(FMA)
    }
    __m512 s = _mm512_set1_ps(scale);
#define STORE(g)                                                                                   \
    _mm512_storeu_ps(sc + (size_t)g * ld, _mm512_mul_ps(a##g##0, s));                              \
    if (nv > 1)                                                                                    \
        _mm512_storeu_ps(sc + (size_t)g * ld + 16, _mm512_mul_ps(a##g##1, s));                     \
    if (nv > 2)                                                                                    \
        _mm512_storeu_ps(sc + (size_t)g * ld + 32, _mm512_mul_ps(a##g##2, s));                     \
    if (nv > 3)                                                                                    \
        _mm512_storeu_ps(sc + (size_t)g * ld + 48, _mm512_mul_ps(a##g##3, s));
    EACH4(STORE)
#undef ZERO
#undef FMA
#undef STORE
}

AVX512 static void scores_4x1(const float *q, int hd, const float *kt, int ld, float scale, float *sc)
{
    scores_4xn(q, hd, kt, ld, scale, sc, 1);
}
AVX512 static void scores_4x2(const float *q, int hd, const float *kt, int ld, float scale, float *sc)
{
    scores_4xn(q, hd, kt, ld, scale, sc, 2);
}
AVX512 static void scores_4x3(const float *q, int hd, const float *kt, int ld, float scale, float *sc)
{
    scores_4xn(q, hd, kt, ld, scale, sc, 3);
}
AVX512 static void scores_4x4(const float *q, int hd, const float *kt, int ld, float scale, float *sc)
{
    scores_4xn(q, hd, kt, ld, scale, sc, 4);
}

/* Scores of one query x 16 positions. */
AVX512 static void scores_1x16(const float *q, int hd, const float *kt, int ld, float scale,
                               float *sc)
{
    __m512 a = _mm512_setzero_ps();
    for (int d = 0; d < hd; d++)
        a = _mm512_fmadd_ps(_mm512_set1_ps(q[d]), _mm512_loadu_ps(kt + (size_t)d * ld), a);
    _mm512_storeu_ps(sc, _mm512_mul_ps(a, _mm512_set1_ps(scale)));
}

/* out rows of 4 queries, dimensions [dc, dc + 64): sum_j p[g][j] v[j]. */
AVX512 static void values_4x64(const float *sc, int ld, const float *v, size_t v_stride, int j0,
                               int j1, const float *inv, int hd, float *out)
{
#define ZERO(g) __m512 a##g##0 = _mm512_setzero_ps(), a##g##1 = a##g##0, a##g##2 = a##g##0, a##g##3 = a##g##0;
    EACH4(ZERO)
    for (int j = j0; j <= j1; j++) {
        const float *r = v + (size_t)j * v_stride;
        __m512 v0 = _mm512_loadu_ps(r), v1 = _mm512_loadu_ps(r + 16);
        __m512 v2 = _mm512_loadu_ps(r + 32), v3 = _mm512_loadu_ps(r + 48);
#define FMA(g)                                                                                     \
    {                                                                                              \
        __m512 p = _mm512_set1_ps(sc[(size_t)g * ld + j]);                                         \
        a##g##0 = _mm512_fmadd_ps(p, v0, a##g##0);                                                 \
        a##g##1 = _mm512_fmadd_ps(p, v1, a##g##1);                                                 \
        a##g##2 = _mm512_fmadd_ps(p, v2, a##g##2);                                                 \
        a##g##3 = _mm512_fmadd_ps(p, v3, a##g##3);                                                 \
    }
        EACH4(FMA)
    }
#define STORE(g)                                                                                   \
    {                                                                                              \
        __m512 s = _mm512_set1_ps(inv[g]);                                                         \
        _mm512_storeu_ps(out + (size_t)g * hd, _mm512_mul_ps(a##g##0, s));                         \
        _mm512_storeu_ps(out + (size_t)g * hd + 16, _mm512_mul_ps(a##g##1, s));                    \
        _mm512_storeu_ps(out + (size_t)g * hd + 32, _mm512_mul_ps(a##g##2, s));                    \
        _mm512_storeu_ps(out + (size_t)g * hd + 48, _mm512_mul_ps(a##g##3, s));                    \
    }
    EACH4(STORE)
#undef ZERO
#undef FMA
#undef STORE
}

/* One query, dimensions [dc, dc + 16). */
AVX512 static void values_1x16(const float *sc, const float *v, size_t v_stride, int j0, int j1,
                               float inv, float *out)
{
    __m512 a = _mm512_setzero_ps();
    for (int j = j0; j <= j1; j++)
        a = _mm512_fmadd_ps(_mm512_set1_ps(sc[j]), _mm512_loadu_ps(v + (size_t)j * v_stride), a);
    _mm512_storeu_ps(out, _mm512_mul_ps(a, _mm512_set1_ps(inv)));
}

AVX512 static void scores_avx512(const float *q, int G, int hd, const float *kt, int ld, int j0,
                                 int j1, float scale, float *sc)
{
    static void (*const four[4])(const float *, int, const float *, int, float, float *) = {
        scores_4x1, scores_4x2, scores_4x3, scores_4x4};
    int jb = j0 & ~15;
    for (int g0 = 0; g0 < G; g0 += 4) {
        int gn = G - g0 < 4 ? G - g0 : 4, j = jb;
        if (gn == 4)
            for (; j <= j1; j += 64) {
                int nv = (j1 - j) / 16 + 1;
                nv = nv < 4 ? nv : 4;
                four[nv - 1](q + (size_t)g0 * hd, hd, kt + j, ld, scale, sc + (size_t)g0 * ld + j);
            }
        for (; j <= j1; j += 16)
            for (int g = g0; g < g0 + gn; g++)
                scores_1x16(q + (size_t)g * hd, hd, kt + j, ld, scale, sc + (size_t)g * ld + j);
    }
}

AVX512 static void values_avx512(const float *sc, int G, int hd, int ld, const float *v,
                                 size_t v_stride, int j0, int j1, const float *inv, float *out)
{
    for (int g0 = 0; g0 < G; g0 += 4) {
        int gn = G - g0 < 4 ? G - g0 : 4, dc = 0;
        if (gn == 4)
            for (; dc + 64 <= hd; dc += 64)
                values_4x64(sc + (size_t)g0 * ld, ld, v + dc, v_stride, j0, j1, inv + g0, hd,
                            out + (size_t)g0 * hd + dc);
        for (; dc < hd; dc += 16)
            for (int g = g0; g < g0 + gn; g++)
                values_1x16(sc + (size_t)g * ld, v + dc, v_stride, j0, j1, inv[g],
                            out + (size_t)g * hd + dc);
    }
}

#elif defined(__aarch64__)
/* aarch64: the NEON loops (tensor/arm) take the vector kernels' place */
#define scores_avx512 attn_scores_neon
#define values_avx512 attn_values_neon
#else
#define scores_avx512 scores_plain
#define values_avx512 values_plain
#endif

void attn_group(const float *q, int G, int hd, const float *kt, int ld, const float *v,
                size_t v_stride, int j0, int j1, float scale, float *scratch, float *out)
{
    int fast = use_avx512(hd);
    if (fast)
        scores_avx512(q, G, hd, kt, ld, j0, j1, scale, scratch);
    else
        scores_plain(q, G, hd, kt, ld, j0, j1, scale, scratch);
    float inv[64];
    for (int g0 = 0; g0 < G; g0 += 64) {
        int gn = G - g0 < 64 ? G - g0 : 64;
        for (int g = 0; g < gn; g++) {
            float *row = scratch + (size_t)(g0 + g) * ld + j0;
            int n = j1 - j0 + 1;
            float mx = -INFINITY;
            for (int i = 0; i < n; i++)
                mx = row[i] > mx ? row[i] : mx;
            inv[g] = (float)(1.0 / act_exp_sum(row, (size_t)n, mx));
        }
        const float *sc = scratch + (size_t)g0 * ld;
        if (fast)
            values_avx512(sc, gn, hd, ld, v, v_stride, j0, j1, inv, out + (size_t)g0 * hd);
        else
            values_plain(sc, gn, hd, ld, v, v_stride, j0, j1, inv, out + (size_t)g0 * hd);
    }
}
