/* Reproduces the Pythia set A correlation spectrum of arXiv 2605.18838
 * (4.0954, 0.8271, 0.0573, 0.0133, 0.0067; determinant 1.7e-5) and checks the
 * covariance path and d_eff against numpy.linalg.eigvalsh. */
#include "testutil.h"

#include <string.h>

#include "phase/eigen.h"

static void load(const char *rel, scores_table *t)
{
    scores_options so = {0};
    cape_err e = {0};
    if (scores_read_file(test_data_path(rel), &so, t, &e))
        fail_msg("%s", e.msg);
}

static void pythia_set_a_correlation_spectrum(void **state)
{
    (void)state;
    scores_table t;
    load("benchmarks/paper/pythia_set_a.csv", &t);
    eigen_options o;
    eigen_options_default(&o);
    o.nboot = 200;
    eigen_result r;
    cape_err e = {0};
    assert_int_equal(eigen_run(&t, &o, NULL, &r, &e), 0);
    const eigen_group *g = &r.g[0];
    assert_true(g->estimable);
    const double published[5] = {4.0954, 0.8271, 0.0573, 0.0133, 0.0067};
    const double numpy[5] = {4.09544613, 0.82714016, 0.05734978, 0.01331752, 0.00674641};
    for (int k = 0; k < 5; k++) {
        assert_close(g->eval[k], published[k], 0.5e-4 + 1e-12);
        assert_close(g->eval[k], numpy[k], 1e-8);
    }
    assert_close(g->det, 1.7454523515086227e-05, 1e-12);
    assert_close(g->det, 1.7e-5, 0.05e-5);
    assert_close(g->d_eff, 1.431815371597577, 1e-9);
    /* PC1: the capability axis, TQA loading against the others (numpy's vector,
     * sign flipped so the loadings sum positive) */
    assert_close(g->evec[0 * 5 + 0], 0.48525957, 1e-7);
    assert_close(g->evec[1 * 5 + 0], -0.48387846, 1e-7);
    assert_close(g->evec[4 * 5 + 1], 0.96194267, 1e-7);
    /* the bootstrap interval brackets the point estimate */
    assert_true(g->boot_valid > 150);
    assert_true(g->d_lo <= g->d_eff && g->d_eff <= g->d_hi);
    eigen_result_free(&r);
    o.matrix = EIGEN_COVARIANCE;
    o.nboot = 0;
    assert_int_equal(eigen_run(&t, &o, NULL, &r, &e), 0);
    assert_close(r.g[0].eval[0], 310.99863038, 1e-6);
    assert_close(r.g[0].eval[4], 0.33241914, 1e-7);
    assert_close(r.g[0].d_eff, 1.0280240054002239, 1e-9);
    eigen_result_free(&r);
    scores_free(&t);
}

/* The paper's 63-model table, covariance PCA over the 60 models with all
 * five scores: numpy gives 977.81123252 ... 3.09105643, d_eff 1.3309041. */
static void paper_63_covariance(void **state)
{
    (void)state;
    scores_table t;
    load("benchmarks/paper/paper_base_63.csv", &t);
    eigen_options o;
    eigen_options_default(&o);
    o.matrix = EIGEN_COVARIANCE;
    o.nboot = 100;
    eigen_result r;
    cape_err e = {0};
    assert_int_equal(eigen_run(&t, &o, NULL, &r, &e), 0);
    assert_int_equal(r.g[0].n, 60);
    assert_int_equal(r.nskipped, 3);
    assert_close(r.g[0].eval[0], 977.81123252, 1e-6);
    assert_close(r.g[0].eval[4], 3.09105643, 1e-7);
    assert_close(r.g[0].d_eff, 1.3309041228142082, 1e-9);
    assert_true(r.ng > 5); /* one group per family besides "all" */
    eigen_result_free(&r);
    scores_free(&t);
}

static void participation_ratio_by_hand(void **state)
{
    (void)state;
    double iso[3] = {2, 2, 2}, one[3] = {5, 0, -1e-17};
    assert_close(eigen_participation_ratio(iso, 3), 3, 1e-12);
    assert_close(eigen_participation_ratio(one, 3), 1, 1e-12);
    double x[6] = {1, 5, 2, 5, 3, 5}; /* second column constant */
    eigen_group g;
    eigen_pca(x, 3, 2, EIGEN_CORRELATION, &g);
    assert_false(g.estimable);
    assert_non_null(strstr(g.why, "constant"));
    eigen_pca(x, 2, 2, EIGEN_COVARIANCE, &g);
    assert_false(g.estimable);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pythia_set_a_correlation_spectrum),
        cmocka_unit_test(paper_63_covariance),
        cmocka_unit_test(participation_ratio_by_hand),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
