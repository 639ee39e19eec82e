/* odeint: the scipy-compatible RK45 against trajectories printed by scipy's
 * solve_ivp (tests/ref/make_odeint_ref.py), GSL steppers against closed
 * forms, and divergence handling. */
#include "testutil.h"

#include <string.h>

#include "stats/odeint.h"

static int lotka(double t, const double *y, double *dy, void *ctx)
{
    (void)t, (void)ctx;
    dy[0] = 1.5 * y[0] - y[0] * y[1];
    dy[1] = -3.0 * y[1] + y[0] * y[1];
    return 0;
}

static int vdp(double t, const double *y, double *dy, void *ctx)
{
    (void)t, (void)ctx;
    dy[0] = y[1];
    dy[1] = 5.0 * (1 - y[0] * y[0]) * y[1] - y[0];
    return 0;
}

static int decay(double t, const double *y, double *dy, void *ctx)
{
    (void)ctx;
    dy[0] = -0.5 * y[0] + sin(3 * t);
    dy[1] = 0.2 * y[0] - 0.1 * y[1];
    return 0;
}

static odeint_rhs rhs_by_name(const char *name)
{
    if (strcmp(name, "lotka") == 0)
        return lotka;
    if (strcmp(name, "vdp_tight") == 0)
        return vdp;
    if (strcmp(name, "decay_backward") == 0)
        return decay;
    return NULL;
}

static void rk45_matches_scipy_step_for_step(void **state)
{
    (void)state;
    FILE *f = fopen("tests/ref/odeint_rk45.txt", "r");
    assert_non_null(f);
    char line[4096];
    int ncase = 0;
    while (fgets(line, sizeof line, f)) {
        char name[64];
        int n, neval;
        long nfev, nacc;
        double rtol, atol, t0, t1;
        if (sscanf(line, "case %63s %d %d %ld %ld %lf %lf %lf %lf", name, &n, &neval, &nfev, &nacc,
                   &rtol, &atol, &t0, &t1) != 9)
            continue;
        assert_true(n <= 4 && neval <= 64);
        double te[64], want[64][4], got[64 * 4], y0[4];
        for (int k = 0; k < neval; k++) {
            assert_non_null(fgets(line, sizeof line, f));
            char *p = line;
            te[k] = strtod(p, &p);
            for (int i = 0; i < n; i++)
                want[k][i] = strtod(p, &p);
        }
        memcpy(y0, want[0], sizeof y0);
        odeint_options o;
        odeint_default(&o);
        o.rtol = rtol;
        o.atol = atol;
        odeint_stats st;
        cape_err e = {0};
        assert_int_equal(odeint_solve(rhs_by_name(name), NULL, n, t0, t1, y0, te, neval, got, &o,
                                      &st, &e),
                         0);
        /* same step sequence, so same work and roundoff-level agreement */
        assert_int_equal(st.nfev, nfev);
        assert_int_equal(st.naccept, nacc);
        for (int k = 0; k < neval; k++)
            for (int i = 0; i < n; i++)
                assert_close(got[k * n + i], want[k][i], 1e-10 * (1 + fabs(want[k][i])));
        ncase++;
    }
    fclose(f);
    assert_int_equal(ncase, 3);
}

static int expo(double t, const double *y, double *dy, void *ctx)
{
    (void)t;
    double k = *(double *)ctx;
    dy[0] = k * y[0];
    dy[1] = -y[1] + 1;
    return 0;
}

static void gsl_steppers_match_closed_form(void **state)
{
    (void)state;
    double k = 0.7, y0[2] = {2, 0}, te[5] = {0, 0.5, 1, 2, 3}, y[10];
    for (int m = ODEINT_GSL_RKF45; m <= ODEINT_GSL_MSADAMS; m++) {
        odeint_options o;
        odeint_default(&o);
        o.method = (odeint_method)m;
        o.rtol = 1e-10;
        o.atol = 1e-12;
        odeint_stats st;
        cape_err e = {0};
        assert_int_equal(odeint_solve(expo, &k, 2, 0, 3, y0, te, 5, y, &o, &st, &e), 0);
        for (int j = 0; j < 5; j++) {
            assert_close(y[2 * j], 2 * exp(k * te[j]), 1e-7);
            assert_close(y[2 * j + 1], 1 - exp(-te[j]), 1e-8);
        }
        assert_true(st.nfev > 0);
    }
    odeint_options o;
    odeint_default(&o);
    odeint_stats st;
    cape_err e = {0};
    assert_int_equal(odeint_solve(expo, &k, 2, 0, 3, y0, te, 5, y, &o, &st, &e), 0);
    /* scipy's default tolerances: about 1e-3 relative */
    assert_close(y[8], 2 * exp(2.1), 2 * exp(2.1) * 2e-3);
}

static int blowup(double t, const double *y, double *dy, void *ctx)
{
    (void)t, (void)ctx;
    dy[0] = y[0] * y[0]; /* y = 1 / (1 - t): infinite at t = 1 */
    return 0;
}

static void divergence_is_reported(void **state)
{
    (void)state;
    double y0 = 1, te[3] = {0, 0.5, 2}, y[3];
    for (int m = 0; m < ODEINT_METHOD_COUNT; m++) {
        odeint_options o;
        odeint_default(&o);
        o.method = (odeint_method)m;
        o.blowup = 1e6;
        odeint_stats st;
        cape_err e = {0};
        assert_int_equal(odeint_solve(blowup, NULL, 1, 0, 2, &y0, te, 3, y, &o, &st, &e),
                         CAPE_EFAIL);
        assert_true(st.diverged);
        assert_non_null(strstr(e.msg, "diverged"));
        assert_close(y[1], 2, 5e-2); /* the samples before the blow-up are kept */
    }
}

static void bad_arguments_are_input_errors(void **state)
{
    (void)state;
    double y0 = 1, te[2] = {0.5, 0.2}, y[2];
    odeint_options o;
    odeint_default(&o);
    odeint_stats st;
    cape_err e = {0};
    assert_int_equal(odeint_solve(blowup, NULL, 1, 0, 1, &y0, te, 2, y, &o, &st, &e), CAPE_EINPUT);
    y0 = NAN;
    err_clear(&e);
    assert_int_equal(odeint_solve(blowup, NULL, 1, 0, 1, &y0, te, 1, y, &o, &st, &e), CAPE_EINPUT);
    assert_int_equal(odeint_method_lookup("gsl-rk8pd"), ODEINT_GSL_RK8PD);
    assert_int_equal(odeint_method_lookup("euler"), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rk45_matches_scipy_step_for_step),
        cmocka_unit_test(gsl_steppers_match_closed_form),
        cmocka_unit_test(divergence_is_reported),
        cmocka_unit_test(bad_arguments_are_input_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
