/* arm: the aarch64 kernels (NEON, and SDOT where the CPU has dotprod),
 * called by the dispatch in qdot.c, matmul.c and attn.c when
 * cape_isa_level() >= CAPE_ISA_NEON. Each entry point picks the dotprod
 * variant itself when cape_isa_level() >= CAPE_ISA_DOTPROD. The int8
 * kernels give the same integer dots as the scalar ones (qdot.c) and add
 * them up in the same order; only the f32 kernels reorder additions.
 * Private to src/tensor; aarch64 only. */
#ifndef CAPE_TENSOR_ARM_H
#define CAPE_TENSOR_ARM_H

#if defined(__aarch64__)
#include <stddef.h>
#include <stdint.h>

#include "tensor/act.h"
#include "tensor/qdot.h"

void qdot_quantize_neon(uint32_t wtype, const float *x, int64_t n, void *act);
float qdot_row_neon(uint32_t wtype, const void *w, const void *act, int64_t n);
int qdot_rows4_neon(uint32_t wtype, const void *w, const void *act, size_t stride, int64_t n,
                    const qdot_scales *sc, int64_t t0, float *out);

float f32_dot_neon(const float *a, const float *b, int64_t n);
void f32_axpy_neon(float a, const float *x, float *y, int64_t n);
/* tensor_sumsq, tensor_scale_mul, tensor_rotate_half */
double f32_sumsq_neon(const float *x, int64_t n);
void f32_scale_mul_neon(float *y, const float *x, float r, const float *w, int64_t n);
void f32_rotate_half_neon(float *a, float *b, const float *co, const float *si, int64_t n);
/* act_apply and act_exp_sum for any n (gelu tanh form and silu only) */
void act_apply_neon(act_kind k, const float *x, const float *m, float *y, size_t n);
double act_exp_sum_neon(float *x, size_t n, float shift);
/* attention: scores sc[g * ld + j] = scale * q_g . kt[., j] for j0 <= j <= j1,
 * and out[g * hd + d] = inv[g] * sum_j sc[g * ld + j] v[j * v_stride + d] */
void attn_scores_neon(const float *q, int G, int hd, const float *kt, int ld, int j0, int j1,
                      float scale, float *sc);
void attn_values_neon(const float *sc, int G, int hd, int ld, const float *v, size_t v_stride,
                      int j0, int j1, const float *inv, float *out);
#endif

#endif
