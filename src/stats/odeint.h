/* odeint: adaptive integration of dy/dt = f(t, y), sampled at given times.
 *
 * Two families of steppers:
 *  - ODEINT_RK45: Dormand-Prince 5(4) with exactly scipy's solve_ivp "RK45"
 *    controller (initial step selection, safety 0.9, factors in [0.2, 10],
 *    no growth right after a rejection, RMS error norm with
 *    scale = atol + max(|y|, |y_new|) rtol) and its quartic dense output for
 *    the sample times. Same tolerances give the same steps as scipy.
 *  - GSL's steppers (rkf45, rkck, rk8pd, msadams) through gsl_odeiv2_driver,
 *    with GSL's own error control: the samples are hit exactly.
 * A state that stops being finite, or grows past o->blowup, is reported as a
 * divergence. */
#ifndef CAPE_ODEINT_H
#define CAPE_ODEINT_H

#include "base/err.h"

typedef int (*odeint_rhs)(double t, const double *y, double *dydt, void *ctx);

typedef enum {
    ODEINT_RK45,
    ODEINT_GSL_RKF45,
    ODEINT_GSL_RKCK,
    ODEINT_GSL_RK8PD,
    ODEINT_GSL_MSADAMS,
    ODEINT_METHOD_COUNT
} odeint_method;

const char *odeint_method_name(odeint_method m);
/* "rk45", "gsl-rkf45", "gsl-rkck", "gsl-rk8pd", "gsl-msadams"; -1 if unknown. */
int odeint_method_lookup(const char *name);

typedef struct {
    odeint_method method;
    double rtol, atol; /* 1e-3 and 1e-6: scipy's defaults */
    double max_step;   /* INFINITY: no limit */
    double first_step; /* 0: chosen automatically */
    long max_steps;    /* accepted + rejected steps before giving up (1000000) */
    double blowup;     /* a state with some |y_i| above this has diverged (INFINITY) */
} odeint_options;

void odeint_default(odeint_options *o);

typedef struct {
    long nfev;    /* right-hand side evaluations */
    long naccept; /* accepted steps */
    long nreject; /* rejected steps */
    int diverged; /* the state stopped being finite */
} odeint_stats;

/* Integrates n equations from (t0, y0) towards t1 and writes the state at
 * each of the neval sample times (monotone, inside [t0, t1]) into
 * y_out[k * n + i]. A right-hand side returning nonzero aborts with
 * CAPE_EFAIL. Divergence and too small steps are CAPE_EFAIL with a message
 * that names the time reached. */
int odeint_solve(odeint_rhs f, void *ctx, int n, double t0, double t1, const double *y0,
                 const double *t_eval, int neval, double *y_out, const odeint_options *o,
                 odeint_stats *st, cape_err *e);

#endif
