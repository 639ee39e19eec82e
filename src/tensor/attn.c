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


/* ---- AVX2 + FMA: 8 lanes, 16 registers ---- */
#if defined(__x86_64__)
#define AVX2 __attribute__((target("avx2,fma")))

/* Scores of 4 queries x 8 nv positions (nv = 1 or 2) starting at kt + j. */
AVX2 INLINE void scores_4xn_avx2(const float *q, int hd, const float *kt, int ld, float scale,
                                 float *sc, const int nv)
{
    __m256 a00 = _mm256_setzero_ps(), a01 = a00, a10 = a00, a11 = a00;
    __m256 a20 = a00, a21 = a00, a30 = a00, a31 = a00;
    for (int d = 0; d < hd; d++) {
        const float *r = kt + (size_t)d * ld;
        __m256 k0 = _mm256_loadu_ps(r), k1 = k0;
        if (nv > 1)
            k1 = _mm256_loadu_ps(r + 8);
#define FMA2(g)                                                                                    \
    {                                                                                              \
        __m256 x = _mm256_broadcast_ss(q + g * hd + d);                                            \
        a##g##0 = _mm256_fmadd_ps(x, k0, a##g##0);                                                 \
        if (nv > 1)                                                                                \
            a##g##1 = _mm256_fmadd_ps(x, k1, a##g##1);                                             \
    }
        EACH4(FMA2)
#undef FMA2
    }
    __m256 s = _mm256_set1_ps(scale);
#define STORE2(g)                                                                                  \
    _mm256_storeu_ps(sc + (size_t)g * ld, _mm256_mul_ps(a##g##0, s));                              \
    if (nv > 1)                                                                                    \
        _mm256_storeu_ps(sc + (size_t)g * ld + 8, _mm256_mul_ps(a##g##1, s));
    EACH4(STORE2)
#undef STORE2
}

AVX2 static void scores_4x1_avx2(const float *q, int hd, const float *kt, int ld, float scale,
                                 float *sc)
{
    scores_4xn_avx2(q, hd, kt, ld, scale, sc, 1);
}
AVX2 static void scores_4x2_avx2(const float *q, int hd, const float *kt, int ld, float scale,
                                 float *sc)
{
    scores_4xn_avx2(q, hd, kt, ld, scale, sc, 2);
}

/* Scores of one query x 8 positions. */
AVX2 static void scores_1x8_avx2(const float *q, int hd, const float *kt, int ld, float scale,
                                 float *sc)
{
    __m256 a = _mm256_setzero_ps();
    for (int d = 0; d < hd; d++)
        a = _mm256_fmadd_ps(_mm256_broadcast_ss(q + d), _mm256_loadu_ps(kt + (size_t)d * ld), a);
    _mm256_storeu_ps(sc, _mm256_mul_ps(a, _mm256_set1_ps(scale)));
}

/* out rows of 4 queries, 16 dimensions: sum_j p[g][j] v[j]. */
AVX2 static void values_4x16_avx2(const float *sc, int ld, const float *v, size_t v_stride, int j0,
                                  int j1, const float *inv, int hd, float *out)
{
    __m256 a00 = _mm256_setzero_ps(), a01 = a00, a10 = a00, a11 = a00;
    __m256 a20 = a00, a21 = a00, a30 = a00, a31 = a00;
    for (int j = j0; j <= j1; j++) {
        const float *r = v + (size_t)j * v_stride;
        __m256 v0 = _mm256_loadu_ps(r), v1 = _mm256_loadu_ps(r + 8);
#define FMA2(g)                                                                                    \
    {                                                                                              \
        __m256 p = _mm256_broadcast_ss(sc + (size_t)g * ld + j);                                   \
        a##g##0 = _mm256_fmadd_ps(p, v0, a##g##0);                                                 \
        a##g##1 = _mm256_fmadd_ps(p, v1, a##g##1);                                                 \
    }
        EACH4(FMA2)
#undef FMA2
    }
#define STORE2(g)                                                                                  \
    {                                                                                              \
        __m256 s = _mm256_set1_ps(inv[g]);                                                         \
        _mm256_storeu_ps(out + (size_t)g * hd, _mm256_mul_ps(a##g##0, s));                         \
        _mm256_storeu_ps(out + (size_t)g * hd + 8, _mm256_mul_ps(a##g##1, s));                     \
    }
    EACH4(STORE2)
#undef STORE2
}

/* One query, 8 dimensions. */
AVX2 static void values_1x8_avx2(const float *sc, const float *v, size_t v_stride, int j0, int j1,
                                 float inv, float *out)
{
    __m256 a = _mm256_setzero_ps();
    for (int j = j0; j <= j1; j++)
        a = _mm256_fmadd_ps(_mm256_broadcast_ss(sc + j), _mm256_loadu_ps(v + (size_t)j * v_stride), a);
    _mm256_storeu_ps(out, _mm256_mul_ps(a, _mm256_set1_ps(inv)));
}

AVX2 static void scores_avx2(const float *q, int G, int hd, const float *kt, int ld, int j0, int j1,
                             float scale, float *sc)
{
    int jb = j0 & ~7;
    for (int g0 = 0; g0 < G; g0 += 4) {
        int gn = G - g0 < 4 ? G - g0 : 4, j = jb;
        if (gn == 4)
            for (; j <= j1; j += 16) {
                const float *qg = q + (size_t)g0 * hd;
                float *sg = sc + (size_t)g0 * ld + j;
                if (j + 8 <= j1)
                    scores_4x2_avx2(qg, hd, kt + j, ld, scale, sg);
                else
                    scores_4x1_avx2(qg, hd, kt + j, ld, scale, sg);
            }
        for (; j <= j1; j += 8)
            for (int g = g0; g < g0 + gn; g++)
                scores_1x8_avx2(q + (size_t)g * hd, hd, kt + j, ld, scale, sc + (size_t)g * ld + j);
    }
}

AVX2 static void values_avx2(const float *sc, int G, int hd, int ld, const float *v,
                             size_t v_stride, int j0, int j1, const float *inv, float *out)
{
    for (int g0 = 0; g0 < G; g0 += 4) {
        int gn = G - g0 < 4 ? G - g0 : 4, dc = 0;
        if (gn == 4)
            for (; dc + 16 <= hd; dc += 16)
                values_4x16_avx2(sc + (size_t)g0 * ld, ld, v + dc, v_stride, j0, j1, inv + g0, hd,
                                 out + (size_t)g0 * hd + dc);
        for (; dc < hd; dc += 8)
            for (int g = g0; g < g0 + gn; g++)
                values_1x8_avx2(sc + (size_t)g * ld, v + dc, v_stride, j0, j1, inv[g],
                                out + (size_t)g * hd + dc);
    }
}
#endif

/* Which kernels: 2 the wide ones (AVX-512 with a head size that is a
 * multiple of 16; NEON with any), 1 AVX2 (a multiple of 8), 0 the plain
 * loops. */
static int attn_path(int hd)
{
    cape_isa level = cape_isa_level();
#if defined(__x86_64__)
    if (level >= CAPE_ISA_AVX512 && hd % 16 == 0)
        return 2;
    if (level >= CAPE_ISA_AVX2 && hd % 8 == 0)
        return 1;
#elif defined(__aarch64__)
    (void)hd;
    if (level >= CAPE_ISA_NEON)
        return 2;
#else
    (void)hd, (void)level;
#endif
    return 0;
}

void attn_group(const float *q, int G, int hd, const float *kt, int ld, const float *v,
                size_t v_stride, int j0, int j1, float scale, float *scratch, float *out)
{
    int path = attn_path(hd);
    if (path == 2)
        scores_avx512(q, G, hd, kt, ld, j0, j1, scale, scratch);
#if defined(__x86_64__)
    else if (path == 1)
        scores_avx2(q, G, hd, kt, ld, j0, j1, scale, scratch);
#endif
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
        if (path == 2)
            values_avx512(sc, gn, hd, ld, v, v_stride, j0, j1, inv, out + (size_t)g0 * hd);
#if defined(__x86_64__)
        else if (path == 1)
            values_avx2(sc, gn, hd, ld, v, v_stride, j0, j1, inv, out + (size_t)g0 * hd);
#endif
        else
            values_plain(sc, gn, hd, ld, v, v_stride, j0, j1, inv, out + (size_t)g0 * hd);
    }
}
