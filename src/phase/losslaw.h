/* losslaw: the saturating power law L(N) = E + A * N^-alpha and the scale
 * invariant N^alpha (L - E) (paper's "boosting chain", level 0). */
#ifndef CAPE_LOSSLAW_H
#define CAPE_LOSSLAW_H

#include "base/err.h"

typedef struct {
    char *family;
    int n;
    int estimable;
    char why[160];               /* reason when not estimable */
    double E, A, alpha;
    double se_E, se_A, se_alpha; /* from the Jacobian, scaled by SSR/(n-3) */
    double r2, mae_rel;          /* in-sample fit quality; mae_rel = mean |fit-L|/L */
    double inv_alpha, inv_e;     /* exponent and offset the invariant used */
    double inv_mean, inv_sd, inv_cv; /* N^alpha (L - E): mean, population SD, SD/mean */
} losslaw_result;

/* Fits by variable projection: for each alpha the best (E, A) is linear
 * least squares, alpha minimises the residual (Brent), and the standard
 * errors come from the full three-parameter Jacobian, as curve_fit reports.
 * inv_alpha / inv_e NaN: the invariant uses the fitted values. */
int losslaw_fit(const double *n_params, const double *loss, int n, double inv_alpha, double inv_e,
                losslaw_result *out, cape_err *e);

#endif
