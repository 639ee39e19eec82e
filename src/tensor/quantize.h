/* quantize: weight quantisers for writing models, one scalar reference per
 * block format, reproducing ggml's reference quantisation (the
 * quantize_row_*_ref routines llama-quantize uses when no importance matrix
 * is given) bit for bit: Q4_0, Q4_1, Q5_0, Q5_1, Q8_0 (round to nearest
 * with one scale, or scale and minimum, per 32 values), and the K-quants
 * Q2_K, Q3_K, Q4_K, Q5_K, Q6_K (256-value super-blocks whose sub-block
 * scales are fitted by a small search and then quantised themselves), plus
 * the plain conversions F32, F16 and BF16.
 *
 * The formulas are written from ggml-quants.c's description; the unit tests
 * compare the bytes with the numpy quantisers of the `gguf` package and with
 * the ggml library bundled with llama-cpp-python (tests/ref/
 * make_quantize_ref.py). Byte identity needs the same float evaluation
 * order, so these routines are plain scalar C compiled without contraction
 * (ISO C mode: -std=c17 implies -ffp-contract=off for GCC). */
#ifndef CAPE_QUANTIZE_H
#define CAPE_QUANTIZE_H

#include <stdint.h>

#include "tensor/pool.h"
#include "tensor/quant.h"

/* 1 when tquant_rows can produce `type`. */
int tquant_can_write(uint32_t type);

/* Quantises nrows rows of n_per_row f32 values (n_per_row a whole number of
 * the type's blocks) into dst, tensor_row_bytes(type, n_per_row) bytes per
 * row. Returns 0, -1 for a type it cannot write or a bad row length, or -2
 * when a row to be block-quantised holds NaN or infinity (that row is
 * zeroed; F32/F16/BF16 carry such values through). */
int tquant_rows(uint32_t type, const float *src, void *dst, int64_t nrows, int64_t n_per_row);

/* The same, with the rows shared among the threads of `p` (NULL: this
 * thread). Rows are independent, so the bytes do not depend on the number
 * of threads. */
int tquant_rows_mt(pool *p, uint32_t type, const float *src, void *dst, int64_t nrows,
                   int64_t n_per_row);

/* One reference quantiser per format; n is a whole number of blocks. */
void tquant_row_q4_0(const float *x, block_q4_0 *y, int64_t n);
void tquant_row_q4_1(const float *x, block_q4_1 *y, int64_t n);
void tquant_row_q5_0(const float *x, block_q5_0 *y, int64_t n);
void tquant_row_q5_1(const float *x, block_q5_1 *y, int64_t n);
void tquant_row_q8_0(const float *x, block_q8_0 *y, int64_t n);
void tquant_row_q2_k(const float *x, block_q2_k *y, int64_t n);
void tquant_row_q3_k(const float *x, block_q3_k *y, int64_t n);
void tquant_row_q4_k(const float *x, block_q4_k *y, int64_t n);
void tquant_row_q5_k(const float *x, block_q5_k *y, int64_t n);
void tquant_row_q6_k(const float *x, block_q6_k *y, int64_t n);

#endif
