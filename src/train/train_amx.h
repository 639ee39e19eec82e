/* train_amx: the AMX bf16 kernel behind train_gemm (see train_amx.c). */
#ifndef CAPE_TRAIN_AMX_H
#define CAPE_TRAIN_AMX_H

/* 1 when AMX-BF16 is present and the kernel granted the tile state (asks
 * once per process). */
int tg_amx_probe(void);
/* C = alpha * op(A) op(B) + beta * C on the calling thread, inputs rounded
 * to bf16; returns -1 (C untouched) when out of memory or without AMX. */
int tg_amx_gemm(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
                const float *B, int ldb, float beta, float *C, int ldc);

#endif
