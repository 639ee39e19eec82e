/* coupling: internal coupling between two prompt sets, as the paper measures
 * it inside models: the cosine of the two sets' mean vectors, per layer and
 * per attention head, and the representational dimension d_rep. */
#ifndef CAPE_COUPLING_H
#define CAPE_COUPLING_H

#include "base/err.h"

/* cos(mean(A), mean(B)) with each mean normalised as (m / (|m| + 1e-8)), the
 * released script's form. A is [na x d], B is [nb x d]. apply_gelu replaces
 * every value by GELU(x) first (exact erf form): the paper's "wider
 * projection" reduces to exactly this. */
double coup_mean_cosine(const float *A, int na, const float *B, int nb, int d, int apply_gelu);

/* The same from precomputed means. */
double coup_cosine_of_means(const double *ma, const double *mb, int d);

typedef struct {
    int heads;
    int cooperative; /* c > 0 */
    int competing;   /* c < -0.5 */
    int near_zero;   /* |c| < 0.1 */
    double net;      /* mean c */
} coup_head_counts;

/* c[h] for h < nheads, NaN entries skipped. */
coup_head_counts coup_count_heads(const double *c, int nheads);

/* Participation ratio (sum lambda)^2 / sum lambda^2 of the PCA spectrum of
 * the rows of X [n x d] (centred), computed through the n x n Gram matrix. */
int coup_participation_ratio(const float *X, int n, int d, double *out, cape_err *e);

double coup_gelu(double x);

#endif
