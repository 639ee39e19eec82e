/* train_bf16: the AVX512-BF16 kernel behind train_gemm (see train_bf16.c). */
#ifndef CAPE_TRAIN_BF16_H
#define CAPE_TRAIN_BF16_H

/* 1 when the CPU has AVX512-BF16. */
int tg_bf16_probe(void);
/* C = alpha * op(A) op(B) + beta * C on the calling thread, inputs rounded
 * to bf16; -1 (C untouched) when out of memory or without the instructions. */
int tg_bf16_gemm(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
                 const float *B, int ldb, float beta, float *C, int ldc);

/* The same on the whole thread team (call from outside a team task). */
int tg_bf16_gemm_team(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
                      const float *B, int ldb, float beta, float *C, int ldc);

#endif
