/* probe: L2-regularised logistic regression as a linear probe on
 * activations, used to pick the layer where a concept is most linearly
 * readable. Features are standardised inside; weights are returned in the
 * original feature space. */
#ifndef CAPE_PROBE_H
#define CAPE_PROBE_H

#include "base/err.h"

typedef struct {
    int d;
    double *w; /* [d], original feature scale */
    double b;
    int iterations;
    int converged;
} probe_model;

/* X [n x d] row-major, y[i] in {0, 1}. Minimises the mean log-loss plus
 * (lambda / 2) |w|^2 on standardised features by Newton's method (IRLS),
 * solving the (d+1)x(d+1) system with LAPACK. */
int probe_fit(const float *X, const int *y, int n, int d, double lambda, probe_model *m,
              cape_err *e);
double probe_predict(const probe_model *m, const float *x); /* P(y = 1 | x) */
double probe_accuracy(const probe_model *m, const float *X, const int *y, int n);
void probe_free(probe_model *m);

#endif
