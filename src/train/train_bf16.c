/* AVX512-BF16 matrix product for the trainer (VDPBF16PS: 16 fp32 lanes,
 * each accumulating the dot product of one pair of bf16 values). Operands are
 * rounded to bf16 (round to nearest even) while packed: A in panels of 8 rows
 * holding (k, k+1) pairs as one 32-bit word per row, B in panels of 32
 * columns with the same pairing. The micro-kernel keeps an 8 x 32 block of C
 * in 16 registers, broadcasting one A pair per row against two B vectors.
 * Chosen at run time on CPUs with AVX512-BF16 and no AMX. */
#include "train/train_bf16.h"

#include "train/train_pool.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#define BF16_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16,avx2")))

enum { MR = 8, NR = 32 };

int tg_bf16_probe(void)
{
    static int state = -1;
    if (state < 0) {
        __builtin_cpu_init();
        state = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bf16");
    }
    return state;
}

static _Thread_local uint32_t *t_pa, *t_pb;
static _Thread_local size_t t_pa_cap, t_pb_cap;

static int grow(uint32_t **buf, size_t *cap, size_t n)
{
    if (n <= *cap)
        return 0;
    free(*buf);
    *buf = aligned_alloc(64, (n * sizeof(uint32_t) + 63) / 64 * 64);
    *cap = *buf ? n : 0;
    return *buf ? 0 : -1;
}

static inline uint32_t bf16(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    u += 0x7FFFu + ((u >> 16) & 1u);
    return u >> 16;
}

/* 32 floats x[0..n) (zero beyond n) along k -> 16 pair words. */
BF16_TARGET static inline __m512i pairs_along(const float *x, int n)
{
    __mmask16 m0 = n >= 16 ? 0xFFFF : (__mmask16)((1u << (n > 0 ? n : 0)) - 1);
    int n1 = n - 16;
    __mmask16 m1 = n1 >= 16 ? 0xFFFF : (__mmask16)((1u << (n1 > 0 ? n1 : 0)) - 1);
    __m512 a = _mm512_maskz_loadu_ps(m0, x), b = _mm512_maskz_loadu_ps(m1, x + 16);
    return (__m512i)_mm512_cvtne2ps_pbh(b, a);
}

/* 16 floats of row k (x0) and row k+1 (x1) across columns -> 16 pair words. */
BF16_TARGET static inline __m512i pairs_across(const float *x0, const float *x1, int n)
{
    __mmask16 m = n >= 16 ? 0xFFFF : (__mmask16)((1u << (n > 0 ? n : 0)) - 1);
    __m512 a = x0 ? _mm512_maskz_loadu_ps(m, x0) : _mm512_setzero_ps();
    __m512 b = x1 ? _mm512_maskz_loadu_ps(m, x1) : _mm512_setzero_ps();
    __m512i lo = _mm512_cvtepu16_epi32((__m256i)_mm512_cvtneps_pbh(a));
    __m512i hi = _mm512_cvtepu16_epi32((__m256i)_mm512_cvtneps_pbh(b));
    return _mm512_or_si512(lo, _mm512_slli_epi32(hi, 16));
}

/* op(A) (M,K) -> [mb][kp][MR] pair words (k = 2kp, 2kp+1) */
BF16_TARGET static void pack_a(uint32_t *p, int ta, const float *A, int lda, int M, int K, int mb0,
                               int mb1, int KP)
{
    uint32_t tmp[MR][16] __attribute__((aligned(64)));
    for (int mb = mb0; mb < mb1; mb++) {
        uint32_t *base = p + (size_t)mb * KP * MR;
        if (!ta) {
            /* rows are contiguous along k: 16 pairs per row at a time */
            for (int kp0 = 0; kp0 < KP; kp0 += 16) {
                for (int r = 0; r < MR; r++) {
                    int m = mb * MR + r;
                    __m512i w = m < M ? pairs_along(A + (size_t)m * lda + 2 * kp0, K - 2 * kp0)
                                      : _mm512_setzero_si512();
                    _mm512_store_si512(tmp[r], w);
                }
                for (int j = 0; j < 16 && kp0 + j < KP; j++)
                    for (int r = 0; r < MR; r++)
                        base[(size_t)(kp0 + j) * MR + r] = tmp[r][j];
            }
        } else {
            /* op(A) rows k and k+1 are contiguous across m: 8 rows at once */
            int m0 = mb * MR, nm = M - m0 < MR ? M - m0 : MR;
            __mmask8 mk = (__mmask8)((1u << nm) - 1);
            for (int kp = 0; kp < KP; kp++) {
                int k = 2 * kp;
                __m256 a = k < K ? _mm256_maskz_loadu_ps(mk, A + (size_t)k * lda + m0)
                                 : _mm256_setzero_ps();
                __m256 b = k + 1 < K ? _mm256_maskz_loadu_ps(mk, A + (size_t)(k + 1) * lda + m0)
                                     : _mm256_setzero_ps();
                __m256i lo = _mm256_cvtepu16_epi32((__m128i)_mm256_cvtneps_pbh(a));
                __m256i hi = _mm256_cvtepu16_epi32((__m128i)_mm256_cvtneps_pbh(b));
                _mm256_store_si256((__m256i *)(base + (size_t)kp * MR),
                                   _mm256_or_si256(lo, _mm256_slli_epi32(hi, 16)));
            }
        }
    }
}

/* op(B) (K,N) -> [nb][kp][NR] pair words */
BF16_TARGET static void pack_b(uint32_t *p, int tb, const float *B, int ldb, int K, int N, int KP,
                               int nb0, int nb1)
{
    uint32_t tmp[NR][16] __attribute__((aligned(64)));
    for (int nb = nb0; nb < nb1; nb++) {
        uint32_t *base = p + (size_t)nb * KP * NR;
        int n0 = nb * NR;
        if (!tb) {
            /* rows k and k+1 are contiguous across n */
            for (int kp = 0; kp < KP; kp++) {
                int k = 2 * kp;
                const float *r0 = k < K ? B + (size_t)k * ldb + n0 : NULL;
                const float *r1 = k + 1 < K ? B + (size_t)(k + 1) * ldb + n0 : NULL;
                _mm512_store_si512(base + (size_t)kp * NR, pairs_across(r0, r1, N - n0));
                _mm512_store_si512(base + (size_t)kp * NR + 16,
                                   pairs_across(r0 ? r0 + 16 : NULL, r1 ? r1 + 16 : NULL,
                                                N - n0 - 16));
            }
        } else {
            /* column n of op(B) is contiguous along k */
            for (int kp0 = 0; kp0 < KP; kp0 += 16) {
                for (int c = 0; c < NR; c++) {
                    int n = n0 + c;
                    __m512i w = n < N ? pairs_along(B + (size_t)n * ldb + 2 * kp0, K - 2 * kp0)
                                      : _mm512_setzero_si512();
                    _mm512_store_si512(tmp[c], w);
                }
                for (int j = 0; j < 16 && kp0 + j < KP; j++)
                    for (int c = 0; c < NR; c++)
                        base[(size_t)(kp0 + j) * NR + c] = tmp[c][j];
            }
        }
    }
}

/* 8 x 32 block of C over all k pairs; the 16 accumulators are named so they
 * stay in registers. */
BF16_TARGET static void kernel(const uint32_t *a, const uint32_t *b, int KP, float *tmp)
{
    __m512 c00 = _mm512_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00,
           c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00, c60 = c00,
           c61 = c00, c70 = c00, c71 = c00;
    for (int kp = 0; kp < KP; kp++, a += MR, b += NR) {
        __m512bh b0 = (__m512bh)_mm512_load_si512(b), b1 = (__m512bh)_mm512_load_si512(b + 16);
#define ROW(r, x0, x1)                                                                             \
    do {                                                                                           \
        __m512bh av = (__m512bh)_mm512_set1_epi32((int)a[r]);                                      \
        x0 = _mm512_dpbf16_ps(x0, av, b0);                                                         \
        x1 = _mm512_dpbf16_ps(x1, av, b1);                                                         \
    } while (0)
        ROW(0, c00, c01);
        ROW(1, c10, c11);
        ROW(2, c20, c21);
        ROW(3, c30, c31);
        ROW(4, c40, c41);
        ROW(5, c50, c51);
        ROW(6, c60, c61);
        ROW(7, c70, c71);
#undef ROW
    }
    __m512 out[16] = {c00, c01, c10, c11, c20, c21, c30, c31,
                      c40, c41, c50, c51, c60, c61, c70, c71};
    for (int i = 0; i < 16; i++)
        _mm512_storeu_ps(tmp + i * 16, out[i]);
}

/* C blocks (nb in [nb0, nb1), mb in [mb0, mb1)) from packed panels. */
BF16_TARGET static void blocks(const uint32_t *pa, const uint32_t *pb, int KP, int M, int N,
                               int nb0, int nb1, int mb0, int mb1, float alpha, float beta,
                               float *C, int ldc)
{
    float tmp[MR * NR] __attribute__((aligned(64)));
    for (int nb = nb0; nb < nb1; nb++)
        for (int mb = mb0; mb < mb1; mb++) {
            kernel(pa + (size_t)mb * KP * MR, pb + (size_t)nb * KP * NR, KP, tmp);
            int n0 = nb * NR, nn = N - n0 < NR ? N - n0 : NR;
            for (int r = 0; r < MR && mb * MR + r < M; r++) {
                float *c = C + (size_t)(mb * MR + r) * ldc + n0;
                const float *t = tmp + r * NR;
                if (beta == 0.0f)
                    for (int j = 0; j < nn; j++)
                        c[j] = alpha * t[j];
                else
                    for (int j = 0; j < nn; j++)
                        c[j] = alpha * t[j] + beta * c[j];
            }
        }
}

BF16_TARGET int tg_bf16_gemm(int ta, int tb, int M, int N, int K, float alpha, const float *A,
                             int lda, const float *B, int ldb, float beta, float *C, int ldc)
{
    int Mp = (M + MR - 1) / MR * MR, Np = (N + NR - 1) / NR * NR, KP = (K + 1) / 2;
    if (grow(&t_pa, &t_pa_cap, (size_t)Mp * KP) || grow(&t_pb, &t_pb_cap, (size_t)Np * KP))
        return -1;
    pack_a(t_pa, ta, A, lda, M, K, 0, Mp / MR, KP);
    pack_b(t_pb, tb, B, ldb, K, N, KP, 0, Np / NR);
    blocks(t_pa, t_pb, KP, M, N, 0, Np / NR, 0, Mp / MR, alpha, beta, C, ldc);
    return 0;
}

/* The same product on the whole thread team: the panels are packed once,
 * shared, by all threads (each a contiguous share), then each thread
 * computes a contiguous share of the C blocks. */
static uint32_t *g_pa, *g_pb;
static size_t g_pa_cap, g_pb_cap;

typedef struct {
    int ta, tb, M, N, K, lda, ldb, ldc, KP, nmb, nnb, nt;
    const float *A, *B;
    float *C, alpha, beta;
} mt_job;

static void share(int n, int i, int nt, int *lo, int *hi)
{
    *lo = (int)((long)n * i / nt);
    *hi = (int)((long)n * (i + 1) / nt);
}

static void pack_task(void *p, int i)
{
    const mt_job *j = p;
    int lo, hi;
    share(j->nmb, i, j->nt, &lo, &hi);
    pack_a(g_pa, j->ta, j->A, j->lda, j->M, j->K, lo, hi, j->KP);
    share(j->nnb, i, j->nt, &lo, &hi);
    pack_b(g_pb, j->tb, j->B, j->ldb, j->K, j->N, j->KP, lo, hi);
}

static void block_task(void *p, int i)
{
    const mt_job *j = p;
    int lo, hi;
    if (j->nnb >= j->nmb) {
        share(j->nnb, i, j->nt, &lo, &hi);
        blocks(g_pa, g_pb, j->KP, j->M, j->N, lo, hi, 0, j->nmb, j->alpha, j->beta, j->C, j->ldc);
    } else {
        share(j->nmb, i, j->nt, &lo, &hi);
        blocks(g_pa, g_pb, j->KP, j->M, j->N, 0, j->nnb, lo, hi, j->alpha, j->beta, j->C, j->ldc);
    }
}

int tg_bf16_gemm_team(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
                      const float *B, int ldb, float beta, float *C, int ldc)
{
    int Mp = (M + MR - 1) / MR * MR, Np = (N + NR - 1) / NR * NR, KP = (K + 1) / 2;
    if (grow(&g_pa, &g_pa_cap, (size_t)Mp * KP) || grow(&g_pb, &g_pb_cap, (size_t)Np * KP))
        return -1;
    mt_job j = {ta, tb, M, N, K, lda, ldb, ldc, KP, Mp / MR, Np / NR, tp_threads(),
                A, B, C, alpha, beta};
    tp_run(j.nt, pack_task, &j);
    tp_run(j.nt, block_task, &j);
    return 0;
}

#else

int tg_bf16_probe(void)
{
    return 0;
}

int tg_bf16_gemm(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
                 const float *B, int ldb, float beta, float *C, int ldc)
{
    (void)ta, (void)tb, (void)M, (void)N, (void)K, (void)alpha, (void)A, (void)lda, (void)B,
        (void)ldb, (void)beta, (void)C, (void)ldc;
    return -1;
}

int tg_bf16_gemm_team(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
                      const float *B, int ldb, float beta, float *C, int ldc)
{
    return tg_bf16_gemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

#endif
