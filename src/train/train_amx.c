/* AMX bf16 matrix product for the trainer (Intel AMX: TDPBF16PS on 16x32
 * bf16 tiles with fp32 accumulators). Both operands are rounded to bf16
 * (round to nearest even) while being packed into contiguous 1 KiB tiles:
 * A as 16 rows x 32 k, B in the pair-interleaved ("VNNI") layout of 16
 * k-pairs x 16 columns x 2. Each 32x32 block of C accumulates four tiles
 * over K and is then scaled into C. Only compiled for x86-64; chosen at run
 * time when the CPU has AMX-BF16 and the kernel grants the tile state. */
#include "train/train_amx.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#include <sys/syscall.h>
#include <unistd.h>

#define AMX_TARGET __attribute__((target("amx-tile,amx-bf16,avx512f,avx512bw")))

enum { ARCH_REQ_XCOMP_PERM = 0x1023, XFEATURE_XTILEDATA = 18 };

int tg_amx_probe(void)
{
    static int state = -1;
    if (state >= 0)
        return state;
    state = 0;
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx512f"))
        return state;
    unsigned a, b, c, d;
    __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(7), "c"(0));
    int amx_bf16 = (d >> 22) & 1, amx_tile = (d >> 24) & 1;
    if (!amx_bf16 || !amx_tile)
        return state;
    if (syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) != 0)
        return state;
    state = 1;
    return state;
}

typedef struct {
    uint8_t palette, start_row, reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} __attribute__((aligned(64))) tile_config;

static _Thread_local int t_configured;
static _Thread_local uint16_t *t_pa, *t_pb;
static _Thread_local size_t t_pa_cap, t_pb_cap;

AMX_TARGET static void configure(void)
{
    static _Thread_local tile_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.palette = 1;
    for (int i = 0; i < 8; i++) {
        cfg.rows[i] = 16;
        cfg.colsb[i] = 64;
    }
    /* keep the stores: the compiler does not see ldtilecfg read them */
    __asm__ volatile("" : : "r"(&cfg) : "memory");
    _tile_loadconfig(&cfg);
    t_configured = 1;
}

static inline uint16_t to_bf16(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    u += 0x7FFFu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

static int grow(uint16_t **buf, size_t *cap, size_t n)
{
    if (n <= *cap)
        return 0;
    free(*buf);
    *buf = aligned_alloc(64, (n * sizeof(uint16_t) + 63) / 64 * 64);
    *cap = *buf ? n : 0;
    return *buf ? 0 : -1;
}

/* A (M,K) as op(A) -> tiles [mb][kb][16][32] */
static void pack_a(uint16_t *p, int ta, const float *A, int lda, int M, int K, int Mp, int Kp)
{
    for (int mb = 0; mb < Mp / 16; mb++)
        for (int kb = 0; kb < Kp / 32; kb++) {
            uint16_t *t = p + ((size_t)mb * (Kp / 32) + kb) * 512;
            for (int r = 0; r < 16; r++) {
                int m = mb * 16 + r;
                for (int c = 0; c < 32; c++) {
                    int k = kb * 32 + c;
                    float v = (m < M && k < K) ? (ta ? A[(size_t)k * lda + m] : A[(size_t)m * lda + k])
                                               : 0.0f;
                    t[r * 32 + c] = to_bf16(v);
                }
            }
        }
}

/* B (K,N) as op(B) -> tiles [nb][kb][16 k-pairs][16 cols x 2] */
static void pack_b(uint16_t *p, int tb, const float *B, int ldb, int K, int N, int Kp, int Np)
{
    for (int nb = 0; nb < Np / 16; nb++)
        for (int kb = 0; kb < Kp / 32; kb++) {
            uint16_t *t = p + ((size_t)nb * (Kp / 32) + kb) * 512;
            for (int r = 0; r < 16; r++)
                for (int c = 0; c < 32; c++) {
                    int k = kb * 32 + 2 * r + (c & 1), n = nb * 16 + c / 2;
                    float v = (k < K && n < N) ? (tb ? B[(size_t)n * ldb + k] : B[(size_t)k * ldb + n])
                                               : 0.0f;
                    t[r * 32 + c] = to_bf16(v);
                }
        }
}

static void write_back(float *C, int ldc, const float *tmp, int m0, int n0, int M, int N,
                       float alpha, float beta)
{
    for (int r = 0; r < 32 && m0 + r < M; r++) {
        float *c = C + (size_t)(m0 + r) * ldc + n0;
        const float *t = tmp + r * 32;
        int nn = N - n0 < 32 ? N - n0 : 32;
        if (beta == 0.0f)
            for (int j = 0; j < nn; j++)
                c[j] = alpha * t[j];
        else
            for (int j = 0; j < nn; j++)
                c[j] = alpha * t[j] + beta * c[j];
    }
}

AMX_TARGET int tg_amx_gemm(int ta, int tb, int M, int N, int K, float alpha, const float *A,
                           int lda, const float *B, int ldb, float beta, float *C, int ldc)
{
    int Mp = (M + 31) / 32 * 32, Np = (N + 31) / 32 * 32, Kp = (K + 31) / 32 * 32;
    if (grow(&t_pa, &t_pa_cap, (size_t)Mp * Kp) || grow(&t_pb, &t_pb_cap, (size_t)Np * Kp))
        return -1;
    if (!t_configured)
        configure();
    pack_a(t_pa, ta, A, lda, M, K, Mp, Kp);
    pack_b(t_pb, tb, B, ldb, K, N, Kp, Np);
    int nk = Kp / 32;
    float tmp[32 * 32] __attribute__((aligned(64)));
    for (int nb = 0; nb < Np / 16; nb += 2) {
        const uint16_t *b0 = t_pb + (size_t)nb * nk * 512, *b1 = b0 + (size_t)nk * 512;
        for (int mb = 0; mb < Mp / 16; mb += 2) {
            const uint16_t *a0 = t_pa + (size_t)mb * nk * 512, *a1 = a0 + (size_t)nk * 512;
            _tile_zero(0);
            _tile_zero(1);
            _tile_zero(2);
            _tile_zero(3);
            for (int kb = 0; kb < nk; kb++) {
                _tile_loadd(4, a0 + (size_t)kb * 512, 64);
                _tile_loadd(5, a1 + (size_t)kb * 512, 64);
                _tile_loadd(6, b0 + (size_t)kb * 512, 64);
                _tile_loadd(7, b1 + (size_t)kb * 512, 64);
                _tile_dpbf16ps(0, 4, 6);
                _tile_dpbf16ps(1, 4, 7);
                _tile_dpbf16ps(2, 5, 6);
                _tile_dpbf16ps(3, 5, 7);
            }
            _tile_stored(0, tmp, 128);
            _tile_stored(1, tmp + 16, 128);
            _tile_stored(2, tmp + 16 * 32, 128);
            _tile_stored(3, tmp + 16 * 32 + 16, 128);
            write_back(C, ldc, tmp, mb * 16, nb * 16, M, N, alpha, beta);
        }
    }
    return 0;
}

#else

int tg_amx_probe(void)
{
    return 0;
}

int tg_amx_gemm(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
                const float *B, int ldb, float beta, float *C, int ldc)
{
    (void)ta, (void)tb, (void)M, (void)N, (void)K, (void)alpha, (void)A, (void)lda, (void)B,
        (void)ldb, (void)beta, (void)C, (void)ldc;
    return -1;
}

#endif
