/* direction: steering directions from contrastive activations, and the
 * paper's cosine gate. Activations are row-major float [n x d]. */
#ifndef CAPE_DIRECTION_H
#define CAPE_DIRECTION_H

#include "base/err.h"

/* Difference of means, unit L2 norm (the paper's and llama.cpp's "mean"):
 * normalize(mean(pos) - mean(neg)). The two sets may differ in size. */
int dir_mean_diff(const float *pos, int npos, const float *neg, int nneg, int d, float *out,
                  cape_err *e);

/* First principal component of the paired differences pos_i - neg_i
 * (Representation Engineering's reading vector; llama.cpp's default method
 * is the uncentred variant). centre = 1 subtracts the mean difference first.
 * The sign is fixed so that the mean difference projects positively. */
int dir_pca_pairs(const float *pos, const float *neg, int n, int d, int centre, float *out,
                  cape_err *e);

/* The paper's gate: strength 3.0 / 1.5 / 0.5 / 0 when the prompt's cosine
 * with the direction is < -0.1 / < 0.1 / < 0.3 / otherwise. */
double dir_gate_strength(double cosine);
double dir_cosine(const float *a, const float *b, int d);

#endif
