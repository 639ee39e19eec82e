/* regress: dense least squares, ridge regression and sequentially thresholded
 * least squares (STLSQ, the sparse regression behind SINDy). Matrices are
 * row-major: A is m x n (m samples, n features), Y is m x q (q targets), the
 * coefficients X are n x q. */
#ifndef CAPE_REGRESS_H
#define CAPE_REGRESS_H

#include "base/err.h"

/* Minimum-norm least squares min ||A X - Y|| with ridge penalty
 * alpha ||X||^2 (alpha = 0: plain least squares), solved as the augmented
 * problem [A; sqrt(alpha) I] X = [Y; 0] by LAPACK's SVD-based dgelsd.
 * *rank (may be NULL) receives the numerical rank of the design. */
int regress_solve(const double *A, int m, int n, const double *Y, int q, double alpha, double *X,
                  int *rank, cape_err *e);

typedef struct {
    double threshold; /* coefficients with |xi| < threshold are dropped (0.1) */
    double alpha;     /* ridge penalty of each refit (0.05) */
    int max_iter;     /* thresholding rounds (20) */
    int unbias;       /* final plain least-squares refit on the support (1) */
} stlsq_options;

void regress_stlsq_default(stlsq_options *o);

typedef struct {
    int iters;     /* thresholding rounds run */
    int converged; /* the support stopped changing before max_iter */
    int nactive;   /* nonzero coefficients over all targets */
} stlsq_info;

/* STLSQ as PySINDy's STLSQ optimizer runs it: start from the least-squares
 * solution, then repeatedly refit (ridge) each target on its surviving
 * features and drop coefficients below the threshold, until the joint
 * support stops changing; finally refit the support without the penalty.
 * X (n x q) receives the coefficients, zero off the support. */
int regress_stlsq(const double *A, int m, int n, const double *Y, int q, const stlsq_options *o,
                  double *X, stlsq_info *info, cape_err *e);

#endif
