#include "train/train_gemm.h"

#include <cblas.h>

#include "base/isa.h"
#include "train/train_amx.h"
#include "train/train_bf16.h"
#include "train/train_pool.h"

static tg_precision g_prec = TG_FP32;

void tg_set_threads(int n)
{
    /* the team splits each product; every piece runs single-threaded */
    openblas_set_num_threads(1);
    tp_set_threads(n);
}

int tg_threads(void)
{
    return tp_threads();
}

int tg_amx_available(void)
{
    return tg_amx_probe();
}

/* Which bf16 kernel a bf16 request uses: 2 AMX, 1 AVX512-BF16, 0 none
 * (CAPE_ISA below amx: none). */
static int bf16_kernel(void)
{
    static int k = -1;
    if (k < 0)
        k = !cape_isa_allows(CAPE_ISA_AMX) ? 0 : tg_amx_probe() ? 2 : tg_bf16_probe() ? 1 : 0;
    return k;
}

const char *tg_kernel_name(void)
{
    if (g_prec == TG_BF16)
        return bf16_kernel() == 2 ? "bf16 (AMX tiles)" : "bf16 (AVX512-BF16)";
    return "fp32 (OpenBLAS)";
}

tg_precision tg_set_precision(tg_precision p)
{
    g_prec = (p == TG_BF16 && bf16_kernel()) ? TG_BF16 : TG_FP32;
    return g_prec;
}

tg_precision tg_precision_now(void)
{
    return g_prec;
}

void tg_gemm_st(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A,
                int lda, const float *B, int ldb, float beta, float *C, int ldc)
{
    if (M <= 0 || N <= 0)
        return;
    if (g_prec == TG_BF16 && M >= 16 && N >= 16 && K >= 32) {
        int k = bf16_kernel();
        if (k == 2 && tg_amx_gemm(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C,
                                  ldc) == 0)
            return;
        if (k == 1 && tg_bf16_gemm(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C,
                                   ldc) == 0)
            return;
    }
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                trans_b ? CblasTrans : CblasNoTrans, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

typedef struct {
    int ta, tb, M, N, K, lda, ldb, ldc, split_m, chunk;
    const float *A, *B;
    float *C;
    float beta;
} gemm_job;

static void gemm_task(void *p, int i)
{
    const gemm_job *j = p;
    int lo = i * j->chunk;
    if (j->split_m) {
        int m = j->M - lo < j->chunk ? j->M - lo : j->chunk;
        const float *a = j->ta ? j->A + lo : j->A + (size_t)lo * j->lda;
        tg_gemm_st(j->ta, j->tb, m, j->N, j->K, 1.0f, a, j->lda, j->B, j->ldb, j->beta,
                   j->C + (size_t)lo * j->ldc, j->ldc);
    } else {
        int n = j->N - lo < j->chunk ? j->N - lo : j->chunk;
        const float *b = j->tb ? j->B + (size_t)lo * j->ldb : j->B + lo;
        tg_gemm_st(j->ta, j->tb, j->M, n, j->K, 1.0f, j->A, j->lda, b, j->ldb, j->beta,
                   j->C + lo, j->ldc);
    }
}

void tg_gemm(int trans_a, int trans_b, int M, int N, int K, const float *A, int lda,
             const float *B, int ldb, float beta, float *C, int ldc)
{
    int nt = tp_threads();
    double work = (double)M * N * K;
    if (g_prec == TG_BF16 && bf16_kernel() == 1 && nt > 1 && work >= 262144.0 && M >= 16 &&
        N >= 16 && K >= 32 &&
        tg_bf16_gemm_team(trans_a, trans_b, M, N, K, 1.0f, A, lda, B, ldb, beta, C, ldc) == 0)
        return;
    if (nt == 1 || work < 262144.0) {
        tg_gemm_st(trans_a, trans_b, M, N, K, 1.0f, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    gemm_job j = {trans_a, trans_b, M, N, K, lda, ldb, ldc, M >= N, 0, A, B, C, beta};
    int dim = j.split_m ? M : N;
    j.chunk = ((dim + nt - 1) / nt + 15) / 16 * 16;
    int tasks = (dim + j.chunk - 1) / j.chunk;
    tp_run(tasks, gemm_task, &j);
}
