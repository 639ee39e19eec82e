#include "phase/losslaw.h"

#include <gsl/gsl_errno.h>
#include <gsl/gsl_min.h>
#include <lapacke.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "stats/stats.h"

typedef struct {
    const double *n, *loss;
    int m;
    double E, A;
} vp_ctx;

/* Best (E, A) for a fixed alpha is a straight-line fit of L on N^-alpha. */
static double vp_ssr(double alpha, void *p)
{
    vp_ctx *c = p;
    double su = 0, sl = 0, suu = 0, sul = 0;
    for (int i = 0; i < c->m; i++) {
        double u = pow(c->n[i], -alpha);
        su += u;
        sl += c->loss[i];
        suu += u * u;
        sul += u * c->loss[i];
    }
    double mu = su / c->m, ml = sl / c->m;
    double vu = suu - c->m * mu * mu, cul = sul - c->m * mu * ml;
    c->A = vu > 0 ? cul / vu : 0;
    c->E = ml - c->A * mu;
    double ssr = 0;
    for (int i = 0; i < c->m; i++) {
        double d = c->loss[i] - c->E - c->A * pow(c->n[i], -alpha);
        ssr += d * d;
    }
    return ssr;
}

static int minimise_alpha(vp_ctx *c, double *alpha_out)
{
    /* Coarse scan for a bracket, then Brent. */
    enum { GRID = 400 };
    double best = INFINITY, lo = 1e-3, hi = 3.0;
    int kbest = -1;
    double ssr[GRID + 1];
    for (int k = 0; k <= GRID; k++) {
        double a = lo + (hi - lo) * k / GRID;
        ssr[k] = vp_ssr(a, c);
        if (ssr[k] < best) {
            best = ssr[k];
            kbest = k;
        }
    }
    if (kbest <= 0 || kbest >= GRID)
        return -1; /* minimum on the edge: no interior power law */
    double a0 = lo + (hi - lo) * (kbest - 1) / GRID, a1 = lo + (hi - lo) * (kbest + 1) / GRID;
    double am = lo + (hi - lo) * kbest / GRID;
    gsl_function f = {vp_ssr, c};
    gsl_set_error_handler_off();
    gsl_min_fminimizer *s = gsl_min_fminimizer_alloc(gsl_min_fminimizer_brent);
    if (!s || gsl_min_fminimizer_set(s, &f, am, a0, a1) != GSL_SUCCESS) {
        if (s)
            gsl_min_fminimizer_free(s);
        *alpha_out = am;
        return 0;
    }
    for (int it = 0; it < 200; it++) {
        gsl_min_fminimizer_iterate(s);
        double l = gsl_min_fminimizer_x_lower(s), u = gsl_min_fminimizer_x_upper(s);
        if (gsl_min_test_interval(l, u, 1e-13, 0) == GSL_SUCCESS)
            break;
    }
    *alpha_out = gsl_min_fminimizer_x_minimum(s);
    gsl_min_fminimizer_free(s);
    return 0;
}

int losslaw_fit(const double *np, const double *loss, int n, double inv_alpha, double inv_e,
                losslaw_result *o, cape_err *e)
{
    (void)e; /* nothing here fails hard: an unfit law is reported as not estimable */
    memset(o, 0, sizeof *o);
    o->n = n;
    if (n < 4) {
        snprintf(o->why, sizeof o->why, "needs at least 4 models with a loss, has %d", n);
        return 0;
    }
    vp_ctx c = {np, loss, n, 0, 0};
    double alpha;
    if (minimise_alpha(&c, &alpha)) {
        snprintf(o->why, sizeof o->why, "no interior optimum for alpha in (0, 3)");
        return 0;
    }
    double ssr = vp_ssr(alpha, &c);
    if (!(c.A > 0)) {
        snprintf(o->why, sizeof o->why, "loss does not decrease with size (A <= 0)");
        return 0;
    }
    o->E = c.E;
    o->A = c.A;
    o->alpha = alpha;
    /* Covariance as scipy's curve_fit: inv(J^T J) * SSR / (n - p). */
    double jtj[9] = {0};
    for (int i = 0; i < n; i++) {
        double u = pow(np[i], -alpha);
        double j[3] = {1.0, u, -c.A * log(np[i]) * u};
        for (int a = 0; a < 3; a++)
            for (int b = 0; b < 3; b++)
                jtj[a * 3 + b] += j[a] * j[b];
    }
    double inv[9] = {1, 0, 0, 0, 1, 0, 0, 0, 1};
    lapack_int ipiv[3];
    double dof = n - 3;
    if (n > 3 && LAPACKE_dgesv(LAPACK_ROW_MAJOR, 3, 3, jtj, 3, ipiv, inv, 3) == 0) {
        double s2 = ssr / dof;
        o->se_E = sqrt(inv[0] * s2);
        o->se_A = sqrt(inv[4] * s2);
        o->se_alpha = sqrt(inv[8] * s2);
    } else {
        o->se_E = o->se_A = o->se_alpha = NAN;
    }
    double ml = stats_mean(loss, n), sst = 0, mae = 0;
    for (int i = 0; i < n; i++) {
        sst += (loss[i] - ml) * (loss[i] - ml);
        mae += fabs(o->E + o->A * pow(np[i], -alpha) - loss[i]) / loss[i];
    }
    o->r2 = sst > 0 ? 1 - ssr / sst : NAN;
    o->mae_rel = mae / n;
    o->inv_alpha = isnan(inv_alpha) ? alpha : inv_alpha;
    o->inv_e = isnan(inv_e) ? o->E : inv_e;
    /* Welford keeps the invariant's mean and population SD in one pass. */
    double mean = 0, m2 = 0;
    for (int i = 0; i < n; i++) {
        double v = pow(np[i], o->inv_alpha) * (loss[i] - o->inv_e), d = v - mean;
        mean += d / (i + 1);
        m2 += d * (v - mean);
    }
    o->inv_mean = mean;
    o->inv_sd = sqrt(m2 / n);
    o->inv_cv = o->inv_sd / fabs(mean);
    o->estimable = 1;
    return 0;
}
