#include "stats/odeint.h"

#include <gsl/gsl_errno.h>
#include <gsl/gsl_odeiv2.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *METHOD_NAMES[ODEINT_METHOD_COUNT] = {
    "rk45", "gsl-rkf45", "gsl-rkck", "gsl-rk8pd", "gsl-msadams",
};

const char *odeint_method_name(odeint_method m)
{
    return (unsigned)m < ODEINT_METHOD_COUNT ? METHOD_NAMES[m] : "?";
}

int odeint_method_lookup(const char *name)
{
    for (int m = 0; m < ODEINT_METHOD_COUNT; m++)
        if (strcmp(name, METHOD_NAMES[m]) == 0)
            return m;
    return -1;
}

void odeint_default(odeint_options *o)
{
    o->method = ODEINT_RK45;
    o->rtol = 1e-3;
    o->atol = 1e-6;
    o->max_step = INFINITY;
    o->first_step = 0;
    o->max_steps = 1000000;
    o->blowup = INFINITY;
}

/* ---- Dormand-Prince 5(4), scipy's tableau and controller ---------------- */

enum { DP_STAGES = 6 };

static const double DP_C[DP_STAGES] = {0, 1.0 / 5, 3.0 / 10, 4.0 / 5, 8.0 / 9, 1};
static const double DP_A[DP_STAGES][5] = {
    {0, 0, 0, 0, 0},
    {1.0 / 5, 0, 0, 0, 0},
    {3.0 / 40, 9.0 / 40, 0, 0, 0},
    {44.0 / 45, -56.0 / 15, 32.0 / 9, 0, 0},
    {19372.0 / 6561, -25360.0 / 2187, 64448.0 / 6561, -212.0 / 729, 0},
    {9017.0 / 3168, -355.0 / 33, 46732.0 / 5247, 49.0 / 176, -5103.0 / 18656},
};
static const double DP_B[DP_STAGES] = {35.0 / 384,     0, 500.0 / 1113, 125.0 / 192,
                                       -2187.0 / 6784, 11.0 / 84};
/* Difference between the 5th and embedded 4th order weights (7 stages, the
 * last one being f at the new point). */
static const double DP_E[DP_STAGES + 1] = {-71.0 / 57600,  0,          71.0 / 16695, -71.0 / 1920,
                                           17253.0 / 339200, -22.0 / 525, 1.0 / 40};
/* Quartic continuous extension (Hairer & Wanner's dense output for DOPRI5
 * in the form scipy stores it): y(t_old + x h) = y_old + h sum_k Q_k x^(k+1). */
static const double DP_P[DP_STAGES + 1][4] = {
    {1, -8048581381.0 / 2820520608, 8663915743.0 / 2820520608, -12715105075.0 / 11282082432},
    {0, 0, 0, 0},
    {0, 131558114200.0 / 32700410799, -68118460800.0 / 10900136933,
     87487479700.0 / 32700410799},
    {0, -1754552775.0 / 470086768, 14199869525.0 / 1410260304, -10690763975.0 / 1880347072},
    {0, 127303824393.0 / 49829197408, -318862633887.0 / 49829197408,
     701980252875.0 / 199316789632},
    {0, -282668133.0 / 205662961, 2019193451.0 / 616988883, -1453857185.0 / 822651844},
    {0, 40617522.0 / 29380423, -110615467.0 / 29380423, 69997945.0 / 29380423},
};

static const double SAFETY = 0.9, MIN_FACTOR = 0.2, MAX_FACTOR = 10;
static const double ERROR_EXPONENT = -1.0 / 5; /* -1 / (error estimator order + 1) */

static double rms_norm(const double *x, int n)
{
    double s = 0;
    for (int i = 0; i < n; i++)
        s += x[i] * x[i];
    return sqrt(s) / sqrt((double)n);
}

static double max_abs(const double *y, int n)
{
    double m = 0;
    for (int i = 0; i < n; i++)
        m = fmax(m, fabs(y[i]));
    return m;
}

static int all_finite(const double *y, int n)
{
    for (int i = 0; i < n; i++)
        if (!isfinite(y[i]))
            return 0;
    return 1;
}

typedef struct {
    odeint_rhs f;
    void *ctx;
    int n;
    long nfev;
    double *K;       /* (DP_STAGES + 1) x n */
    double *tmp, *scale;
} dp_state;

static int eval(dp_state *s, double t, const double *y, double *out, cape_err *e)
{
    s->nfev++;
    if (s->f(t, y, out, s->ctx))
        return err_set(e, CAPE_EFAIL, "right-hand side failed at t = %.6g", t);
    return 0;
}

/* One Dormand-Prince step of size h from (t, y) with K[0] = f(t, y); leaves
 * y_new and K[6] = f(t + h, y_new). */
static int dp_step(dp_state *s, double t, const double *y, double h, double *y_new, cape_err *e)
{
    int n = s->n;
    for (int st = 1; st < DP_STAGES; st++) {
        for (int i = 0; i < n; i++) {
            double dy = 0;
            for (int j = 0; j < st; j++)
                dy += s->K[j * n + i] * DP_A[st][j];
            s->tmp[i] = y[i] + dy * h;
        }
        if (eval(s, t + DP_C[st] * h, s->tmp, &s->K[st * n], e))
            return CAPE_EFAIL;
    }
    for (int i = 0; i < n; i++) {
        double acc = 0;
        for (int j = 0; j < DP_STAGES; j++)
            acc += s->K[j * n + i] * DP_B[j];
        y_new[i] = y[i] + h * acc;
    }
    if (!all_finite(y_new, n))
        return 0; /* the caller rejects the step */
    return eval(s, t + h, y_new, &s->K[DP_STAGES * n], e);
}

static double dp_error_norm(dp_state *s, double h, const double *y, const double *y_new,
                            double rtol, double atol)
{
    int n = s->n;
    for (int i = 0; i < n; i++) {
        double err = 0;
        for (int j = 0; j <= DP_STAGES; j++)
            err += s->K[j * n + i] * DP_E[j];
        double sc = atol + fmax(fabs(y[i]), fabs(y_new[i])) * rtol;
        s->tmp[i] = err * h / sc;
    }
    return rms_norm(s->tmp, n);
}

/* scipy's select_initial_step (Hairer, Norsett & Wanner, sec. II.4). */
static int dp_initial_step(dp_state *s, double t0, const double *y0, double t1, double max_step,
                           double rtol, double atol, double dir, double *h_out, cape_err *e)
{
    int n = s->n;
    double interval = fabs(t1 - t0);
    if (interval == 0) {
        *h_out = 0;
        return 0;
    }
    const double *f0 = s->K;
    double *y1 = malloc((size_t)2 * n * sizeof *y1);
    if (!y1)
        return err_set(e, CAPE_EFAIL, "out of memory");
    double *f1 = y1 + n;
    for (int i = 0; i < n; i++)
        s->scale[i] = atol + fabs(y0[i]) * rtol;
    for (int i = 0; i < n; i++)
        s->tmp[i] = y0[i] / s->scale[i];
    double d0 = rms_norm(s->tmp, n);
    for (int i = 0; i < n; i++)
        s->tmp[i] = f0[i] / s->scale[i];
    double d1 = rms_norm(s->tmp, n);
    double h0 = d0 < 1e-5 || d1 < 1e-5 ? 1e-6 : 0.01 * d0 / d1;
    h0 = fmin(h0, interval);
    for (int i = 0; i < n; i++)
        y1[i] = y0[i] + h0 * dir * f0[i];
    int rc = eval(s, t0 + h0 * dir, y1, f1, e);
    if (rc == 0) {
        for (int i = 0; i < n; i++)
            s->tmp[i] = (f1[i] - f0[i]) / s->scale[i];
        double d2 = rms_norm(s->tmp, n) / h0;
        double h1 = d1 <= 1e-15 && d2 <= 1e-15 ? fmax(1e-6, h0 * 1e-3)
                                               : pow(0.01 / fmax(d1, d2), 1.0 / 5);
        *h_out = fmin(fmin(100 * h0, h1), fmin(interval, max_step));
    }
    free(y1);
    return rc;
}

/* Dense output on [t_old, t_old + h] at t. */
static void dp_dense(const dp_state *s, double t_old, double h, const double *y_old, double t,
                     double *out)
{
    int n = s->n;
    double x = (t - t_old) / h, p[4] = {x, x * x, x * x * x, x * x * x * x};
    for (int i = 0; i < n; i++) {
        double acc = 0;
        for (int k = 0; k < 4; k++) {
            double q = 0;
            for (int j = 0; j <= DP_STAGES; j++)
                q += s->K[j * n + i] * DP_P[j][k];
            acc += q * p[k];
        }
        out[i] = h * acc + y_old[i];
    }
}

static int rk45_solve(odeint_rhs f, void *ctx, int n, double t0, double t1, const double *y0,
                      const double *t_eval, int neval, double *y_out, const odeint_options *o,
                      odeint_stats *st, cape_err *e)
{
    dp_state s = {.f = f, .ctx = ctx, .n = n};
    double *buf = malloc((size_t)(DP_STAGES + 1 + 5) * n * sizeof *buf);
    if (!buf)
        return err_set(e, CAPE_EFAIL, "out of memory");
    s.K = buf;
    s.tmp = buf + (DP_STAGES + 1) * n;
    s.scale = s.tmp + n;
    double *y = s.scale + n, *y_new = y + n, *f_cur = y_new + n;
    double dir = t1 >= t0 ? 1 : -1, t = t0, h_abs = 0;
    int rc = 0, next = 0;
    memcpy(y, y0, (size_t)n * sizeof *y);
    rc = eval(&s, t, y, f_cur, e);
    memcpy(s.K, f_cur, (size_t)n * sizeof *f_cur);
    if (rc == 0 && o->first_step > 0)
        h_abs = fmin(o->first_step, fabs(t1 - t0));
    else if (rc == 0)
        rc = dp_initial_step(&s, t0, y, t1, o->max_step, o->rtol, o->atol, dir, &h_abs, e);
    while (next < neval && dir * (t_eval[next] - t) <= 0 && rc == 0)
        memcpy(&y_out[(size_t)next++ * n], y, (size_t)n * sizeof *y); /* samples at t0 */
    long steps = 0;
    while (rc == 0 && dir * (t1 - t) > 0) {
        double min_step = 10 * fabs(nextafter(t, dir * INFINITY) - t);
        if (h_abs > o->max_step)
            h_abs = o->max_step;
        else if (h_abs < min_step)
            h_abs = min_step;
        int accepted = 0, rejected = 0, nonfinite = 0;
        double t_new = t, h = 0;
        while (!accepted && rc == 0) {
            if (h_abs < min_step || ++steps > o->max_steps) {
                st->diverged = nonfinite;
                rc = err_set(e, CAPE_EFAIL, "integration %s at t = %.6g: %s",
                             nonfinite ? "diverged" : "stopped", t,
                             h_abs < min_step ? "the step size fell below the spacing of "
                                                "floating-point numbers"
                                              : "too many steps");
                break;
            }
            t_new = t + h_abs * dir;
            if (dir * (t_new - t1) > 0)
                t_new = t1;
            h = t_new - t;
            h_abs = fabs(h);
            memcpy(s.K, f_cur, (size_t)n * sizeof *f_cur);
            rc = dp_step(&s, t, y, h, y_new, e);
            if (rc)
                break;
            /* A non-finite trial counts as an infinite error: scipy shrinks
             * the step by MIN_FACTOR in that case too. */
            nonfinite = !all_finite(y_new, n);
            double err = nonfinite ? INFINITY
                                   : dp_error_norm(&s, h, y, y_new, o->rtol, o->atol);
            if (err < 1) {
                double factor =
                    err == 0 ? MAX_FACTOR : fmin(MAX_FACTOR, SAFETY * pow(err, ERROR_EXPONENT));
                if (rejected)
                    factor = fmin(1, factor);
                h_abs *= factor;
                accepted = 1;
                st->naccept++;
            } else {
                double factor = SAFETY * pow(err, ERROR_EXPONENT);
                h_abs *= isnan(factor) ? MIN_FACTOR : fmax(MIN_FACTOR, factor);
                rejected = 1;
                st->nreject++;
            }
        }
        if (rc == 0 && max_abs(y_new, n) > o->blowup) {
            st->diverged = 1;
            rc = err_set(e, CAPE_EFAIL, "integration diverged near t = %.6g (|y| > %g)", t_new,
                         o->blowup);
        }
        if (rc)
            break;
        /* samples in (t, t_new] come from this step's dense output */
        while (next < neval && dir * (t_eval[next] - t_new) <= 0) {
            dp_dense(&s, t, h, y, t_eval[next], &y_out[(size_t)next * n]);
            next++;
        }
        t = t_new;
        memcpy(y, y_new, (size_t)n * sizeof *y);
        memcpy(f_cur, &s.K[DP_STAGES * n], (size_t)n * sizeof *f_cur);
    }
    st->nfev = s.nfev;
    free(buf);
    return rc;
}

/* ---- GSL steppers -------------------------------------------------------- */

typedef struct {
    odeint_rhs f;
    void *ctx;
    long nfev;
    int failed;
} gsl_ctx;

static int gsl_rhs(double t, const double y[], double dydt[], void *params)
{
    gsl_ctx *g = params;
    g->nfev++;
    if (g->f(t, y, dydt, g->ctx)) {
        g->failed = 1;
        return GSL_EBADFUNC;
    }
    return GSL_SUCCESS;
}

static int gsl_solve(odeint_rhs f, void *ctx, int n, double t0, double t1, const double *y0,
                     const double *t_eval, int neval, double *y_out, const odeint_options *o,
                     odeint_stats *st, cape_err *e)
{
    const gsl_odeiv2_step_type *T = o->method == ODEINT_GSL_RKF45   ? gsl_odeiv2_step_rkf45
                                    : o->method == ODEINT_GSL_RKCK  ? gsl_odeiv2_step_rkck
                                    : o->method == ODEINT_GSL_RK8PD ? gsl_odeiv2_step_rk8pd
                                                                    : gsl_odeiv2_step_msadams;
    gsl_ctx g = {.f = f, .ctx = ctx};
    gsl_odeiv2_system sys = {gsl_rhs, NULL, (size_t)n, &g};
    double span = fabs(t1 - t0), dir = t1 >= t0 ? 1 : -1;
    double h0 = o->first_step > 0 ? o->first_step : fmax(span * 1e-3, 1e-9);
    gsl_odeiv2_driver *d = gsl_odeiv2_driver_alloc_y_new(&sys, T, dir * h0, o->atol, o->rtol);
    double *y = malloc((size_t)n * sizeof *y);
    if (!d || !y) {
        if (d)
            gsl_odeiv2_driver_free(d);
        free(y);
        return err_set(e, CAPE_EFAIL, "out of memory");
    }
    gsl_odeiv2_driver_set_nmax(d, (unsigned long)o->max_steps);
    if (isfinite(o->max_step))
        gsl_odeiv2_driver_set_hmax(d, o->max_step);
    gsl_error_handler_t *old = gsl_set_error_handler_off();
    memcpy(y, y0, (size_t)n * sizeof *y);
    double t = t0;
    int rc = 0;
    for (int k = 0; k < neval && rc == 0; k++) {
        int s = dir * (t_eval[k] - t) > 0 ? gsl_odeiv2_driver_apply(d, &t, t_eval[k], y)
                                          : GSL_SUCCESS;
        if (s == GSL_SUCCESS && (!all_finite(y, n) || max_abs(y, n) > o->blowup))
            s = GSL_EFAILED;
        if (s != GSL_SUCCESS) {
            st->diverged = !all_finite(y, n) || max_abs(y, n) > o->blowup;
            rc = err_set(e, CAPE_EFAIL, "integration (%s) %s near t = %.6g: %s",
                         odeint_method_name(o->method),
                         st->diverged ? "diverged" : "failed", t,
                         g.failed ? "right-hand side failed" : gsl_strerror(s));
        } else {
            memcpy(&y_out[(size_t)k * n], y, (size_t)n * sizeof *y);
        }
    }
    gsl_set_error_handler(old);
    st->nfev = g.nfev;
    st->naccept = (long)d->n;
    gsl_odeiv2_driver_free(d);
    free(y);
    return rc;
}

int odeint_solve(odeint_rhs f, void *ctx, int n, double t0, double t1, const double *y0,
                 const double *t_eval, int neval, double *y_out, const odeint_options *o,
                 odeint_stats *st, cape_err *e)
{
    memset(st, 0, sizeof *st);
    if (n < 1)
        return err_set(e, CAPE_EINPUT, "integration: empty state");
    if (!all_finite(y0, n) || !isfinite(t0) || !isfinite(t1))
        return err_set(e, CAPE_EINPUT, "integration: initial state or interval is not finite");
    double dir = t1 >= t0 ? 1 : -1;
    for (int k = 0; k < neval; k++) {
        if (dir * (t_eval[k] - t0) < 0 || dir * (t_eval[k] - t1) > 0 ||
            (k > 0 && dir * (t_eval[k] - t_eval[k - 1]) < 0))
            return err_set(e, CAPE_EINPUT,
                           "integration: sample times must be monotone and inside the interval");
    }
    if (!(o->rtol > 0) || !(o->atol > 0))
        return err_set(e, CAPE_EINPUT, "integration: tolerances must be positive");
    if (o->method == ODEINT_RK45)
        return rk45_solve(f, ctx, n, t0, t1, y0, t_eval, neval, y_out, o, st, e);
    return gsl_solve(f, ctx, n, t0, t1, y0, t_eval, neval, y_out, o, st, e);
}
