/* matmul: y = x W^T for a weight matrix stored in any supported type, the
 * product every linear layer of a transformer is made of.
 *
 * W has `rows` rows of `cols` values each (ggml's ne[1] x ne[0], a row being
 * one output feature), x holds n vectors of `cols` floats, y gets n vectors of
 * `rows` floats. Rows are split among the pool's threads. Quantised weights
 * are multiplied without materialising them: for one token the activation is
 * quantised once (Q8_0 / Q8_K) and integer dot products are taken block by
 * block; for many tokens each weight row is dequantised once and reused for
 * every token. Kernels are chosen at run time from the CPU's features. */
#ifndef CAPE_MATMUL_H
#define CAPE_MATMUL_H

#include <stddef.h>
#include <stdint.h>

#include "tensor/dtype.h"
#include "tensor/pool.h"

typedef struct {
    tensor_type type;
    int64_t cols, rows;
    size_t row_bytes;
    const void *data;
} tensor_mat;

/* A matrix view over raw data; row_bytes from the type. */
tensor_mat tensor_mat_make(tensor_type type, int64_t cols, int64_t rows, const void *data);
/* Row r dequantised to f32. */
void tensor_mat_row(const tensor_mat *w, int64_t r, float *out);

/* y[t][r] = sum_c W[r][c] x[t][c] for t < n, r < rows. */
void tensor_matmul(pool *p, const tensor_mat *w, const float *x, int64_t n, float *y);

/* Exact mode: quantised weights are dequantised and multiplied in f32
 * instead of with int8 activations (slower; no activation rounding). */
void tensor_set_exact(int on);
int tensor_exact(void);

/* f32 dot product (vectorised, dispatched). */
float tensor_dot_f32(const float *a, const float *b, int64_t n);

/* y += a * x (vectorised, dispatched). */
void tensor_axpy(float a, const float *x, float *y, int64_t n);

/* Sum of x[i]^2 accumulated in double (vectorised, dispatched). */
double tensor_sumsq(const float *x, int64_t n);

/* y[i] = (x[i] * r) * w[i], in place allowed (vectorised, dispatched). */
void tensor_scale_mul(float *y, const float *x, float r, const float *w, int64_t n);

/* Rotation of pairs (a[i], b[i]) by angles with cosines co[i] and sines
 * si[i], in place: a = a co - b si, b = a si + b co (vectorised, dispatched;
 * the same roundings either way). */
void tensor_rotate_half(float *a, float *b, const float *co, const float *si, int64_t n);

/* Which kernels this CPU gets: "avx512", "avx2" or "generic". */
const char *tensor_isa(void);
/* Forces the generic kernels (tests compare the paths). */
void tensor_force_generic(int on);

#endif
