#include "stats/regress.h"

#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

int regress_solve(const double *A, int m, int n, const double *Y, int q, double alpha, double *X,
                  int *rank, cape_err *e)
{
    if (m < 1 || n < 1 || q < 1)
        return err_set(e, CAPE_EINPUT, "least squares: empty system (%d x %d)", m, n);
    int ridge = alpha > 0;
    int rows = m + (ridge ? n : 0);
    int ldb = rows > n ? rows : n;
    double *a = calloc((size_t)rows * n, sizeof *a);
    double *b = calloc((size_t)ldb * q, sizeof *b);
    double *sv = malloc((size_t)(rows < n ? rows : n) * sizeof *sv);
    if (!a || !b || !sv) {
        free(a), free(b), free(sv);
        return err_set(e, CAPE_EFAIL, "out of memory");
    }
    memcpy(a, A, (size_t)m * n * sizeof *a);
    memcpy(b, Y, (size_t)m * q * sizeof *b);
    if (ridge)
        for (int j = 0; j < n; j++)
            a[(size_t)(m + j) * n + j] = sqrt(alpha);
    lapack_int rk = 0;
    lapack_int info = LAPACKE_dgelsd(LAPACK_ROW_MAJOR, rows, n, q, a, n, b, q, sv, -1.0, &rk);
    int rc = 0;
    if (info != 0)
        rc = err_set(e, CAPE_EFAIL, "least squares: LAPACK dgelsd failed (info %d)", (int)info);
    else
        memcpy(X, b, (size_t)n * q * sizeof *X);
    if (rank)
        *rank = (int)rk;
    free(a), free(b), free(sv);
    return rc;
}

void regress_stlsq_default(stlsq_options *o)
{
    o->threshold = 0.1;
    o->alpha = 0.05;
    o->max_iter = 20;
    o->unbias = 1;
}

/* Refits target t on the features flagged in keep[] (ridge alpha); writes
 * the full-length coefficient column t of X, zero elsewhere. */
static int refit_target(const double *A, int m, int n, const double *Y, int q, int t,
                        const unsigned char *keep, double alpha, double *X, double *sub,
                        double *y, double *coef, cape_err *e)
{
    int k = 0;
    for (int j = 0; j < n; j++)
        if (keep[j])
            k++;
    for (int j = 0; j < n; j++)
        X[(size_t)j * q + t] = 0;
    if (k == 0)
        return 0;
    for (int i = 0; i < m; i++) {
        int c = 0;
        for (int j = 0; j < n; j++)
            if (keep[j])
                sub[(size_t)i * k + c++] = A[(size_t)i * n + j];
        y[i] = Y[(size_t)i * q + t];
    }
    int rc = regress_solve(sub, m, k, y, 1, alpha, coef, NULL, e);
    if (rc)
        return rc;
    for (int j = 0, c = 0; j < n; j++)
        if (keep[j])
            X[(size_t)j * q + t] = coef[c++];
    return 0;
}

int regress_stlsq(const double *A, int m, int n, const double *Y, int q, const stlsq_options *o,
                  double *X, stlsq_info *info, cape_err *e)
{
    memset(info, 0, sizeof *info);
    size_t nq = (size_t)n * q;
    unsigned char *keep = malloc(nq);     /* keep[t * n + j] */
    unsigned char *prev_nz = malloc(nq);  /* nonzero pattern of the previous round */
    double *sub = malloc((size_t)m * n * sizeof *sub);
    double *y = malloc((size_t)m * sizeof *y);
    double *coef = malloc((size_t)n * sizeof *coef);
    if (!keep || !prev_nz || !sub || !y || !coef) {
        free(keep), free(prev_nz), free(sub), free(y), free(coef);
        return err_set(e, CAPE_EFAIL, "out of memory");
    }
    int rc = regress_solve(A, m, n, Y, q, 0, X, NULL, e);
    for (size_t k = 0; k < nq; k++) {
        keep[k] = 1;
        prev_nz[k] = X[(k % n) * q + k / n] != 0;
    }
    for (int it = 0; rc == 0 && it < o->max_iter; it++) {
        size_t nkeep = 0;
        for (size_t k = 0; k < nq; k++)
            nkeep += keep[k];
        if (nkeep == 0) {
            memset(X, 0, nq * sizeof *X);
            info->converged = 1;
            break;
        }
        info->iters = it + 1;
        for (int t = 0; t < q && rc == 0; t++) {
            unsigned char *kt = keep + (size_t)t * n;
            rc = refit_target(A, m, n, Y, q, t, kt, o->alpha, X, sub, y, coef, e);
            for (int j = 0; j < n; j++) {
                double *x = &X[(size_t)j * q + t];
                kt[j] = kt[j] && fabs(*x) >= o->threshold;
                if (!kt[j])
                    *x = 0;
            }
        }
        size_t nnow = 0;
        int same = 1;
        for (size_t k = 0; k < nq; k++) {
            unsigned char nz = X[(k % n) * q + k / n] != 0;
            same &= nz == prev_nz[k];
            prev_nz[k] = nz;
            nnow += keep[k];
        }
        if (nnow == nq || same) {
            info->converged = 1;
            break;
        }
    }
    if (rc == 0 && o->unbias) {
        for (size_t k = 0; k < nq; k++)
            keep[k] = fabs(X[(k % n) * q + k / n]) > 1e-14;
        for (int t = 0; t < q && rc == 0; t++)
            rc = refit_target(A, m, n, Y, q, t, keep + (size_t)t * n, 0, X, sub, y, coef, e);
    }
    for (size_t k = 0; k < nq; k++)
        info->nactive += X[k] != 0;
    free(keep), free(prev_nz), free(sub), free(y), free(coef);
    return rc;
}
