/* train_gemm: the one matrix product the trainer needs, row-major
 * C(M,N) = op(A)(M,K) @ op(B)(K,N) + beta * C, where op transposes when the
 * flag is set. It dispatches at run time: AMX bf16 tiles (inputs rounded to
 * bf16, fp32 accumulation) where the CPU and kernel allow them and the caller
 * asked for them, else AVX512-BF16 dot products where the CPU has those, else
 * OpenBLAS sgemm in fp32. */
#ifndef CAPE_TRAIN_GEMM_H
#define CAPE_TRAIN_GEMM_H

typedef enum { TG_FP32 = 0, TG_BF16 = 1 } tg_precision;

void tg_gemm(int trans_a, int trans_b, int M, int N, int K, const float *A, int lda,
             const float *B, int ldb, float beta, float *C, int ldc);

/* The same product with alpha, on the calling thread only. */
void tg_gemm_st(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A,
                int lda, const float *B, int ldb, float beta, float *C, int ldc);

/* Threads used by the products (OpenBLAS and the AMX kernel). */
void tg_set_threads(int n);
int tg_threads(void);
/* Asks for bf16 products; returns the precision actually in force (fp32
 * when the CPU or the kernel do not offer AMX). */
tg_precision tg_set_precision(tg_precision p);
tg_precision tg_precision_now(void);
/* The kernel in force, in words ("bf16 (AMX tiles)", ...). */
const char *tg_kernel_name(void);
/* Whether AMX bf16 tiles are usable in this process. */
int tg_amx_available(void);

#endif
