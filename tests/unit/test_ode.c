/* ode: the SINDy library and fit against PySINDy (tests/ref/make_sindy_ref.py),
 * and the "not estimable" paths: short families, singular systems,
 * divergence, bad hold-outs. */
#include "testutil.h"

#include <string.h>

#include "phase/ode.h"

static int load(const char *csv, scores_table *t)
{
    cape_err e = {0};
    scores_options so = {0};
    int rc = scores_parse(csv, strlen(csv), "t.csv", &so, t, &e);
    if (rc)
        fail_msg("%s", e.msg);
    return rc;
}

static void sindy_matches_pysindy_on_set_a(void **state)
{
    (void)state;
    scores_table t;
    cape_err e = {0};
    scores_options so = {0};
    assert_int_equal(
        scores_read_file(test_data_path("benchmarks/paper/pythia_set_a.csv"), &so, &t, &e), 0);
    FILE *f = fopen("tests/ref/sindy_set_a.txt", "r");
    assert_non_null(f);
    static char line[1 << 14];
    char *names = NULL;
    double want[3][56][5] = {{{0}}};
    const double lambdas[3] = {0.01, 0.02, 0.1};
    static const char *EQ[5] = {"HS", "TQA", "ARC", "WG", "MMLU"};
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "terms ", 6) == 0) {
            line[strcspn(line, "\n")] = 0;
            names = strdup(line + 6);
            continue;
        }
        double lam, c;
        int term;
        char eq[16];
        if (sscanf(line, "%lf %d %15s %lf", &lam, &term, eq, &c) != 4)
            continue;
        int l = lam < 0.015 ? 0 : lam < 0.05 ? 1 : 2, k = 0;
        while (k < 5 && strcmp(EQ[k], eq) != 0)
            k++;
        assert_true(k < 5 && term < 56);
        want[l][term][k] = c;
    }
    fclose(f);
    assert_non_null(names);
    const scores_table *tp = &t;
    for (int l = 0; l < 3; l++) {
        ode_options o;
        ode_options_default(&o);
        o.fit = ODE_FIT_SINDY;
        o.stlsq.threshold = lambdas[l];
        ode_data d;
        ode_model m;
        assert_int_equal(ode_data_build(&tp, 1, &o, NULL, &d, NULL, &e), 0);
        assert_int_equal(ode_fit(&d, &o, &m, &e), 0);
        assert_int_equal(m.nterm, 56);
        if (l == 0) { /* same library, same order, same names */
            char *save = NULL, *tok = strtok_r(names, ",", &save);
            for (int k = 0; k < m.nterm; k++, tok = strtok_r(NULL, ",", &save)) {
                char nm[64];
                ode_term_name(&m, d.bench, k, nm, sizeof nm);
                assert_non_null(tok);
                assert_string_equal(nm, tok);
            }
        }
        for (int k = 0; k < 56; k++)
            for (int j = 0; j < 5; j++) {
                double got = m.xi[k * 5 + j];
                if ((got != 0) != (want[l][k][j] != 0))
                    fail_msg("lambda %g: term %d of equation %d: pysindy %g, cape %g", lambdas[l],
                             k, j, want[l][k][j], got);
                assert_close(got, want[l][k][j], 1e-7 * (1 + fabs(want[l][k][j])));
            }
        ode_model_free(&m);
        ode_data_free(&d);
    }
    free(names);
    scores_free(&t);
}

static void short_family_is_not_estimable(void **state)
{
    (void)state;
    scores_table t;
    load("model,params,hs,tqa,arc,wg,mmlu\n"
         "a,1e8,30,45,22,51,25\nb,4e8,40,42,26,53,26\nc,1e9,50,39,29,54,25\n",
         &t);
    const scores_table *tp = &t;
    ode_options o;
    ode_options_default(&o);
    ode_data d;
    ode_result r;
    cape_err e = {0};
    assert_int_equal(ode_data_build(&tp, 1, &o, NULL, &d, NULL, &e), 0);
    assert_int_equal(ode_run(&d, NULL, &o, &r, &e), 0);
    assert_false(r.model.estimable);
    assert_non_null(strstr(r.model.why, "only 2 interval"));
    assert_false(r.insample[0].ok);
    assert_true(isnan(r.insample[0].pred[0]));
    ode_result_free(&r);
    ode_data_free(&d);
    scores_free(&t);
}

static void singular_system_is_not_estimable(void **state)
{
    (void)state;
    scores_table t;
    /* ARC = HS exactly: the design has two equal columns */
    load("model,params,hs,arc\n"
         "a,1e8,30,30\nb,2e8,33,33\nc,4e8,37,37\nd,1e9,44,44\ne,3e9,52,52\n",
         &t);
    const scores_table *tp = &t;
    ode_options o;
    ode_options_default(&o);
    o.nbench = 2;
    o.bench[0] = BENCH_HELLASWAG;
    o.bench[1] = BENCH_ARC;
    ode_data d;
    ode_model m;
    cape_err e = {0};
    assert_int_equal(ode_data_build(&tp, 1, &o, NULL, &d, NULL, &e), 0);
    assert_int_equal(ode_fit(&d, &o, &m, &e), 0);
    assert_false(m.estimable);
    assert_non_null(strstr(m.why, "singular"));
    ode_model_free(&m);
    ode_data_free(&d);
    scores_free(&t);
}

static void diverging_integration_is_marked(void **state)
{
    (void)state;
    scores_table t;
    /* dHS/dt = 4 HS - 100 from HS = 30: grows like e^(4t), far beyond 100 */
    load("model,params,hs\na,1e6,30\nb,1e9,31\nc,1e12,32\n", &t);
    const scores_table *tp = &t;
    ode_options o;
    ode_options_default(&o);
    o.nbench = 1;
    o.bench[0] = BENCH_HELLASWAG;
    ode_data d;
    cape_err e = {0};
    assert_int_equal(ode_data_build(&tp, 1, &o, NULL, &d, NULL, &e), 0);
    ode_model m = {.kind = ODE_FIT_LINEAR, .nbench = 1, .estimable = 1};
    double coef[2] = {4, -100};
    m.coef = coef;
    ode_pred p;
    assert_int_equal(ode_predict(&m, &d.traj[0], &o, &p, &e), 0);
    assert_false(p.ok);
    assert_non_null(strstr(p.why, "diverged"));
    assert_true(isnan(p.pred[2]));
    ode_pred_free(&p);
    ode_data_free(&d);
    scores_free(&t);
}

static void holdout_errors(void **state)
{
    (void)state;
    scores_table t;
    load("model,family,params,hs,tqa\n"
         "a,A,1e8,30,45\nb,A,4e8,40,42\nc,A,1e9,50,39\nd,B,1e9,55,40\ne,C,1e8,30,45\n"
         "f,C,2e8,31,44\n",
         &t);
    const scores_table *tp = &t;
    ode_options o;
    ode_options_default(&o);
    o.nbench = 2;
    o.bench[0] = BENCH_HELLASWAG;
    o.bench[1] = BENCH_TRUTHFULQA_MC2;
    ode_data tr, te;
    cape_err e = {0};
    assert_int_equal(ode_data_build(&tp, 1, &o, "Z", &tr, &te, &e), CAPE_EINPUT);
    assert_non_null(strstr(e.msg, "not found (families: A, B, C)"));
    err_clear(&e);
    assert_int_equal(ode_data_build(&tp, 1, &o, "B", &tr, &te, &e), CAPE_EINPUT);
    assert_non_null(strstr(e.msg, "1 usable size"));
    err_clear(&e);
    scores_free(&t);
    /* family C repeats a size: the two rows are averaged into one point, named */
    load("model,family,params,hs,tqa\na,A,1e8,30,45\nb,A,4e8,40,42\ne,C,1e8,30,45\n"
         "f,C,1e8,31,44\ng,C,3e8,35,43\n",
         &t);
    assert_int_equal(ode_data_build(&tp, 1, &o, NULL, &tr, NULL, &e), 0);
    assert_int_equal(tr.nduplicate, 2);
    assert_string_equal(tr.duplicate, "e, f");
    assert_int_equal(tr.traj[1].n, 2);
    assert_close(tr.traj[1].b[0], 30.5, 1e-12); /* HS (30 + 31) / 2 */
    assert_close(tr.traj[1].b[1], 44.5, 1e-12); /* TQA (45 + 44) / 2 */
    assert_close(tr.traj[1].b[2], 35, 1e-12);
    ode_data_free(&tr);
    /* a hold-out family left with one model after that is an error */
    assert_int_equal(ode_data_build(&tp, 1, &o, "A", &tr, &te, &e), 0);
    ode_data_free(&tr);
    ode_data_free(&te);
    scores_free(&t);
    load("model,family,params,hs,tqa\na,A,1e8,30,45\nb,A,4e8,40,42\ne,C,1e8,30,45\n"
         "f,C,1e8,31,44\n",
         &t);
    assert_int_equal(ode_data_build(&tp, 1, &o, "C", &tr, &te, &e), CAPE_EINPUT);
    assert_non_null(strstr(e.msg, "hold-out family 'C' has 1 usable size"));
    scores_free(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sindy_matches_pysindy_on_set_a),
        cmocka_unit_test(short_family_is_not_estimable),
        cmocka_unit_test(singular_system_is_not_estimable),
        cmocka_unit_test(diverging_integration_is_marked),
        cmocka_unit_test(holdout_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
