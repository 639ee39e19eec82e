/* act: the MLP activations over whole rows, vectorised with AVX-512 when
 * the CPU has it (a Cephes-style exp polynomial, relative error ~1e-7) and
 * libm otherwise.
 *   gelu (tanh form)  x * sigmoid(2 * sqrt(2/pi) * (x + 0.044715 x^3)),
 *                     which equals 0.5 x (1 + tanh(...))
 *   gelu (erf form)   0.5 x (1 + erf(x / sqrt 2))
 *   silu              x * sigmoid(x) */
#ifndef CAPE_ACT_H
#define CAPE_ACT_H

#include <stddef.h>

typedef enum { ACT_GELU_TANH, ACT_GELU_ERF, ACT_SILU } act_kind;

/* y[i] = act(x[i]) * (m ? m[i] : 1), in place allowed (y == x or y == m). */
void act_apply(act_kind k, const float *x, const float *m, float *y, size_t n);

/* x[i] = e^(x[i] - shift) for i < n (a softmax numerator); returns their
 * sum, accumulated in double. */
double act_exp_sum(float *x, size_t n, float shift);

#endif
