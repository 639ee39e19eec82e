/* regress: least squares and ridge by hand, STLSQ against PySINDy's STLSQ
 * optimizer (tests/ref/make_stlsq_ref.py). */
#include "testutil.h"

#include <string.h>

#include "stats/regress.h"

static void least_squares_and_ridge_by_hand(void **state)
{
    (void)state;
    /* y = 1 + 2x on x = 0..3: exact fit */
    double A[8] = {1, 0, 1, 1, 1, 2, 1, 3}, y[4] = {1, 3, 5, 7}, x[2];
    cape_err e = {0};
    int rank;
    assert_int_equal(regress_solve(A, 4, 2, y, 1, 0, x, &rank, &e), 0);
    assert_int_equal(rank, 2);
    assert_close(x[0], 1, 1e-12);
    assert_close(x[1], 2, 1e-12);
    /* ridge on one feature: x = sum(a y) / (sum(a^2) + alpha) = 14 / (14 + 1) * 1 */
    double a1[3] = {1, 2, 3}, y1[3] = {1, 2, 3}, r;
    assert_int_equal(regress_solve(a1, 3, 1, y1, 1, 1.0, &r, NULL, &e), 0);
    assert_close(r, 14.0 / 15, 1e-12);
    /* underdetermined: minimum-norm solution of x1 + x2 = 2 is (1, 1) */
    double a2[2] = {1, 1}, y2 = 2, x2[2];
    assert_int_equal(regress_solve(a2, 1, 2, &y2, 1, 0, x2, &rank, &e), 0);
    assert_int_equal(rank, 1);
    assert_close(x2[0], 1, 1e-12);
    assert_close(x2[1], 1, 1e-12);
}

static void read_rows(FILE *f, double *out, int rows, int cols)
{
    char line[8192];
    for (int i = 0; i < rows; i++) {
        assert_non_null(fgets(line, sizeof line, f));
        char *p = line;
        for (int j = 0; j < cols; j++)
            out[(size_t)i * cols + j] = strtod(p, &p);
    }
}

static void stlsq_matches_pysindy(void **state)
{
    (void)state;
    FILE *f = fopen("tests/ref/stlsq_pysindy.txt", "r");
    assert_non_null(f);
    char line[8192];
    int ncase = 0;
    while (fgets(line, sizeof line, f)) {
        char name[64];
        int m, n, q;
        double thr, alpha;
        if (sscanf(line, "case %63s %d %d %d %lf %lf", name, &m, &n, &q, &thr, &alpha) != 6)
            continue;
        double *A = malloc(sizeof(double) * m * n), *Y = malloc(sizeof(double) * m * q);
        double *want = malloc(sizeof(double) * n * q), *got = malloc(sizeof(double) * n * q);
        read_rows(f, A, m, n);
        read_rows(f, Y, m, q);
        read_rows(f, want, n, q);
        stlsq_options o;
        regress_stlsq_default(&o);
        o.threshold = thr;
        o.alpha = alpha;
        stlsq_info info;
        cape_err e = {0};
        assert_int_equal(regress_stlsq(A, m, n, Y, q, &o, got, &info, &e), 0);
        int nz = 0;
        for (int k = 0; k < n * q; k++) {
            if ((want[k] != 0) != (got[k] != 0))
                fail_msg("%s: support differs at %d (pysindy %g, cape %g)", name, k, want[k],
                         got[k]);
            assert_close(got[k], want[k], 1e-8 * (1 + fabs(want[k])));
            nz += want[k] != 0;
        }
        assert_int_equal(info.nactive, nz);
        assert_true(info.converged);
        free(A), free(Y), free(want), free(got);
        ncase++;
    }
    fclose(f);
    assert_int_equal(ncase, 4);
}

static void stlsq_threshold_above_everything_clears_all(void **state)
{
    (void)state;
    double A[6] = {1, 0, 0, 1, 1, 1}, Y[3] = {0.01, 0.02, 0.03}, X[2];
    stlsq_options o;
    regress_stlsq_default(&o);
    o.threshold = 5;
    stlsq_info info;
    cape_err e = {0};
    assert_int_equal(regress_stlsq(A, 3, 2, Y, 1, &o, X, &info, &e), 0);
    assert_int_equal(info.nactive, 0);
    assert_close(X[0], 0, 0);
    assert_close(X[1], 0, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(least_squares_and_ridge_by_hand),
        cmocka_unit_test(stlsq_matches_pysindy),
        cmocka_unit_test(stlsq_threshold_above_everything_clears_all),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
