/* stats: against values printed by scipy 1.x / numpy and hand-checked cases. */
#include "testutil.h"

#include <string.h>

#include "stats/stats.h"

static void pearson_spearman_match_scipy(void **state)
{
    (void)state;
    /* scipy.stats.pearsonr / spearmanr([1..6], [2,1,4,3,7,5]) */
    double x[] = {1, 2, 3, 4, 5, 6}, y[] = {2, 1, 4, 3, 7, 5};
    double r = stats_pearson(x, y, 6);
    assert_close(r, 0.7917946548886295, 1e-14);
    assert_close(stats_corr_pvalue(r, 6), 0.06051140336275671, 1e-12);
    double rho = stats_spearman(x, y, 6);
    assert_close(rho, 0.8285714285714287, 1e-14);
    assert_close(stats_corr_pvalue(rho, 6), 0.04156268221574335, 1e-12);
    double c[] = {3, 3, 3};
    assert_true(isnan(stats_pearson(c, x, 3)));
}

/* Spearman p by exact enumeration for small n. Reference values: all n!
 * orders of the y ranks enumerated in Python (itertools.permutations, average
 * ranks, two-sided |rho_perm| >= |rho_obs| - 1e-9), i.e. the exact
 * permutation distribution of rho under H0:
 *   n=3 perfect 2/6, n=4 perfect 2/24, n=5 reversed 2/120,
 *   [1..6] vs [2,1,4,3,7,5] 42/720, [1..5] vs [1,2,2,4,5] 4/120. */
static void spearman_exact_p(void **state)
{
    (void)state;
    double x[] = {1, 2, 3, 4, 5, 6}, y3[] = {3, 5, 9}, y4[] = {10, 20, 30, 40},
           y5[] = {5, 4, 3, 2, 1}, y6[] = {2, 1, 4, 3, 7, 5}, yt[] = {1, 2, 2, 4, 5};
    assert_close(stats_spearman_pvalue(x, y3, 3), 2.0 / 6, 1e-12);
    assert_close(stats_spearman_pvalue(x, y4, 4), 2.0 / 24, 1e-12);
    assert_close(stats_spearman_pvalue(x, y5, 5), 2.0 / 120, 1e-12);
    assert_close(stats_spearman_pvalue(x, y6, 6), 42.0 / 720, 1e-12);
    assert_close(stats_spearman_pvalue(x, yt, 5), 4.0 / 120, 1e-12);
    /* above the enumeration limit, |rho| = 1 gives 2 / n!, not 0 */
    double a[12], b[12];
    for (int i = 0; i < 12; i++)
        a[i] = i, b[i] = 2 * i + 1;
    assert_close(stats_spearman_pvalue(a, b, 12), 2.0 / 479001600.0, 1e-20);
    assert_true(stats_spearman_pvalue(a, b, 12) > 0);
    assert_true(isnan(stats_spearman_pvalue(a, b, 2)));
}

static void ranks_average_ties(void **state)
{
    (void)state;
    double x[] = {10, 20, 20, 5, 20}, rk[5];
    stats_rank_average(x, 5, rk);
    double want[] = {2, 4, 4, 1, 4};
    for (int i = 0; i < 5; i++)
        assert_close(rk[i], want[i], 0);
}

/* By hand: for x = y = 1..4 only the identity reaches r = 1, and the reversal
 * reaches r = -1, so two-sided p = 2/24, one-sided p = 1/24. */
static void exact_permutation_counts(void **state)
{
    (void)state;
    double x[] = {1, 2, 3, 4};
    perm_result p;
    cape_err e = {0};
    assert_int_equal(stats_perm_test(x, x, 4, PERM_TWO_SIDED, 10, 0, 1, &p, &e), 0);
    assert_int_equal(p.total, 24);
    assert_int_equal(p.count, 2);
    assert_true(p.exact);
    assert_int_equal(stats_perm_test(x, x, 4, PERM_GREATER, 10, 0, 1, &p, &e), 0);
    assert_int_equal(p.count, 1);
    assert_int_equal(stats_perm_test(x, x, 4, PERM_LESS, 10, 0, 1, &p, &e), 0);
    assert_int_equal(p.count, 24);
    /* Ties: y has two equal values, so two orders give the observed r. */
    double y[] = {1, 2, 2, 4};
    assert_int_equal(stats_perm_test(x, y, 4, PERM_GREATER, 10, 0, 1, &p, &e), 0);
    assert_int_equal(p.count, 2);
}

/* Exhaustive check of Heap's enumeration: for n = 7 every permutation of a
 * strictly increasing y is visited once, so the count of r >= r(identity)
 * is 1 and r <= r(reversed) is 1. */
static void heap_enumeration_visits_every_order(void **state)
{
    (void)state;
    double x[] = {1, 2, 3, 4, 5, 6, 7}, yr[] = {7, 6, 5, 4, 3, 2, 1};
    perm_result p;
    cape_err e = {0};
    assert_int_equal(stats_perm_test(x, yr, 7, PERM_LESS, 10, 0, 1, &p, &e), 0);
    assert_int_equal(p.total, 5040);
    assert_int_equal(p.count, 1);
}

static void monte_carlo_permutation_is_close_to_exact(void **state)
{
    (void)state;
    double x[] = {1, 2, 3, 4, 5, 6, 7, 8, 9}, y[] = {2, 1, 4, 3, 6, 5, 9, 7, 8};
    perm_result ex, mc;
    cape_err e = {0};
    assert_int_equal(stats_perm_test(x, y, 9, PERM_TWO_SIDED, 10, 0, 1, &ex, &e), 0);
    assert_int_equal(stats_perm_test(x, y, 9, PERM_TWO_SIDED, 0, 200000, 7, &mc, &e), 0);
    assert_false(mc.exact);
    assert_close(mc.p, ex.p, 4 * sqrt(ex.p * (1 - ex.p) / 200000) + 1e-5);
}

static void ols_and_polyfit_match_numpy(void **state)
{
    (void)state;
    double x[] = {0, 1, 2, 3, 4}, y[] = {1, 3, 2, 5, 4}, c[3];
    cape_err e = {0};
    /* np.polyfit(x, y, 2) */
    assert_int_equal(stats_polyfit(x, y, 5, 2, c, &e), 0);
    assert_close(c[0], -0.14285714285714277, 1e-12);
    assert_close(c[1], 1.3714285714285706, 1e-12);
    assert_close(c[2], 1.1142857142857123, 1e-12);
    ols_fit f;
    assert_int_equal(stats_ols(x, y, 5, &f, &e), 0);
    assert_close(f.slope, 0.8, 1e-12); /* by hand: Sxy = 8, Sxx = 10 */
    assert_close(f.intercept, 1.4, 1e-12);
    double same[] = {2, 2, 2};
    assert_int_equal(stats_polyfit(same, y, 3, 2, c, &e), CAPE_EINPUT);
}

static void percentiles_match_numpy(void **state)
{
    (void)state;
    double s[] = {1, 2, 3, 4, 10};
    /* np.percentile([1,2,3,4,10], [2.5,16,50,84,97.5]) */
    assert_close(stats_percentile_sorted(s, 5, 2.5), 1.1, 1e-12);
    assert_close(stats_percentile_sorted(s, 5, 16), 1.64, 1e-12);
    assert_close(stats_percentile_sorted(s, 5, 50), 3.0, 1e-12);
    assert_close(stats_percentile_sorted(s, 5, 84), 6.16, 1e-12);
    assert_close(stats_percentile_sorted(s, 5, 97.5), 9.4, 1e-12);
}

/* The paper's 38 of 40 models: Wilson 95 % interval [0.835, 0.986]. */
static void wilson_interval(void **state)
{
    (void)state;
    double lo, hi;
    stats_wilson(38, 40, 1.959963984540054, &lo, &hi);
    assert_close(lo, 0.835, 5e-4);
    assert_close(hi, 0.986, 5e-4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pearson_spearman_match_scipy),
        cmocka_unit_test(spearman_exact_p),
        cmocka_unit_test(ranks_average_ties),
        cmocka_unit_test(exact_permutation_counts),
        cmocka_unit_test(heap_enumeration_visits_every_order),
        cmocka_unit_test(monte_carlo_permutation_is_close_to_exact),
        cmocka_unit_test(ols_and_polyfit_match_numpy),
        cmocka_unit_test(percentiles_match_numpy),
        cmocka_unit_test(wilson_interval),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
