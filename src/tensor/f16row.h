/* f16row: rows of IEEE half floats (the f16 KV cache): conversion from and to
 * f32, and the two products attention needs, f32 query . f16 key and
 * y += a * f16 value.
 *
 * Conversion rounds to nearest even (tensor_f32_to_f16's rule), so a row
 * stored on any path holds the same bits. On x86 with AVX2 (F16C), 8 values
 * at a time are converted by the hardware; the scalar routines are the
 * reference and the fallback. The products widen each half exactly to f32 and
 * accumulate in f32 (8 lanes on AVX2, in the order of tensor_dot_f32's plain
 * loop otherwise). */
#ifndef CAPE_F16ROW_H
#define CAPE_F16ROW_H

#include <stdint.h>

void f16row_from_f32(uint16_t *dst, const float *src, int64_t n);
void f16row_to_f32(float *dst, const uint16_t *src, int64_t n);
/* sum_i q[i] * k[i] */
float f16row_dot(const float *q, const uint16_t *k, int64_t n);
/* y[i] += a * v[i] */
void f16row_axpy(float a, const uint16_t *v, float *y, int64_t n);

#endif
