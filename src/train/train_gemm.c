#include "train/train_gemm.h"

#include <cblas.h>

static int g_threads = 1;
static tg_precision g_prec = TG_FP32;

void tg_set_threads(int n)
{
    g_threads = n < 1 ? 1 : n;
    openblas_set_num_threads(g_threads);
}

int tg_threads(void)
{
    return g_threads;
}

int tg_amx_available(void)
{
    return 0;
}

tg_precision tg_set_precision(tg_precision p)
{
    g_prec = (p == TG_BF16 && tg_amx_available()) ? TG_BF16 : TG_FP32;
    return g_prec;
}

tg_precision tg_precision_now(void)
{
    return g_prec;
}

void tg_gemm(int trans_a, int trans_b, int M, int N, int K, const float *A, int lda,
             const float *B, int ldb, float beta, float *C, int ldc)
{
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                trans_b ? CblasTrans : CblasNoTrans, M, N, K, 1.0f, A, lda, B, ldb, beta, C, ldc);
}
