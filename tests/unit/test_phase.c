/* phase building blocks and the score-table reader, on hand-checked cases. */
#include "testutil.h"

#include <string.h>

#include "phase/phase.h"

static void running_coupling_by_hand(void **state)
{
    (void)state;
    /* HS 30 -> 40 -> 40.3 -> 50, TQA 45 -> 40 -> 41 -> 44 */
    double ln[] = {8, 9, 9.5, 10}, hs[] = {30, 40, 40.3, 50}, tq[] = {45, 40, 41, 44};
    phase_step s[3];
    assert_int_equal(phase_running_coupling(ln, hs, tq, 4, 0.5, s), 3);
    assert_close(s[0].gamma, -0.5, 1e-12);
    assert_true(isnan(s[1].gamma)); /* |dHS| = 0.3 <= 0.5: skipped */
    assert_close(s[2].gamma, (44 - 41) / (50 - 40.3), 1e-12);
    assert_close(s[0].log_n_mid, 8.5, 1e-12);
    double nc;
    int neg, pos;
    assert_int_equal(phase_family_nc(s, 3, &nc, &neg, &pos), 1);
    assert_int_equal(neg, 0);
    assert_int_equal(pos, 2);
    /* gamma -0.5 at 8.5, +0.3093 at 9.75: zero at 8.5 + 1.25 * 0.5 / 0.8093 */
    double gb = 3 / 9.7;
    assert_close(nc, 8.5 + 1.25 * 0.5 / (gb + 0.5), 1e-12);
}

static void zero_coupling_is_not_a_sign_change(void **state)
{
    (void)state;
    phase_step s[3] = {{.gamma = -0.4, .log_n_mid = 8}, {.gamma = 0.0, .log_n_mid = 9},
                       {.gamma = -0.2, .log_n_mid = 10}};
    double nc;
    int a, b;
    assert_int_equal(phase_family_nc(s, 3, &nc, &a, &b), 0);
}

static void phase_boundaries(void **state)
{
    (void)state;
    assert_int_equal(phase_classify(-0.1001, 0.1), PHASE_TAX);
    assert_int_equal(phase_classify(-0.1, 0.1), PHASE_TRANSITION);
    assert_int_equal(phase_classify(0.1, 0.1), PHASE_TRANSITION);
    assert_int_equal(phase_classify(0.1001, 0.1), PHASE_BONUS);
    assert_int_equal(phase_classify(NAN, 0.1), PHASE_UNKNOWN);
    assert_string_equal(phase_name(PHASE_BONUS), "bonus");
}

/* Width normalisation by hand: dividing by a shared growing factor turns two
 * opposite trends into a positive correlation. */
static void width_normalisation_by_hand(void **state)
{
    (void)state;
    double hs[] = {30, 40, 50}, tq[] = {45, 40, 35}, dm[] = {512, 1024, 2048};
    double r = phase_width_r(hs, tq, dm, 3, 512);
    double a[] = {30, 20, 12.5}, b[] = {45, 20, 8.75};
    assert_close(r, stats_pearson(a, b, 3), 1e-12);
    assert_true(r > 0.9);
}

static int parse(const char *csv, scores_table *t, cape_err *e)
{
    scores_options so = {.require_params = 1};
    return scores_parse(csv, strlen(csv), "t.csv", &so, t, e);
}

static void aliases_and_sizes(void **state)
{
    (void)state;
    const char *csv = "Model,Family,#Params (B),HellaSwag (10-shot),TruthfulQA (0-shot),d_model\n"
                      "a,F,0.41,40,41,1024\n"
                      "b,F,1.4,52,,2048\n";
    scores_table t;
    cape_err e = {0};
    assert_int_equal(parse(csv, &t, &e), 0);
    assert_int_equal(t.n, 2);
    assert_rel(t.model[0].params, 4.1e8, 1e-12);
    assert_close(t.model[0].score[BENCH_HELLASWAG], 40, 0);
    assert_close(t.model[0].score[BENCH_TRUTHFULQA_MC2], 41, 0);
    assert_true(isnan(t.model[1].score[BENCH_TRUTHFULQA_MC2]));
    assert_close(t.model[1].d_model, 2048, 0);
    scores_free(&t);
    csv = "name,params,hellaswag,truthfulqa_mc2\nx,410M,1,2\ny,1.4B,3,4\nz,7e9,5,6\n";
    assert_int_equal(parse(csv, &t, &e), 0);
    assert_rel(t.model[2].params, 7e9, 1e-12);
    assert_string_equal(t.model[0].family, "all");
    scores_free(&t);
    assert_int_equal(scores_bench_lookup("TruthfulQA (0-shot)"), BENCH_TRUTHFULQA_MC2);
    assert_int_equal(scores_bench_lookup("truthfulqa_mc1"), BENCH_TRUTHFULQA_MC1);
    assert_int_equal(scores_bench_lookup("hs"), BENCH_HELLASWAG);
    assert_int_equal(scores_bench_lookup("winogrande"), BENCH_WINOGRANDE);
    assert_int_equal(scores_bench_lookup("nonsense"), -1);
}

static void bad_tables(void **state)
{
    (void)state;
    struct {
        const char *csv, *msg;
    } cases[] = {
        {"model,params,hellaswag,bogus\na,1B,3,4\n", "t.csv:1:4: unknown column 'bogus'"},
        {"model,params,hellaswag,hs\na,1B,3,4\n", "t.csv:1:4: column 'hs' duplicates column 3"},
        {"model,params,hellaswag\na,1B,abc\n", "t.csv:2:3: column 'hellaswag': expected a number"},
        {"model,params,hellaswag\na,0,3\n", "t.csv:2:2: column 'params': size must be positive"},
        {"model,params,hellaswag\na,-1B,3\n", "t.csv:2:2: column 'params': size must be positive"},
        {"model,params,hellaswag\na,1B,nan\n", "t.csv:2:3: column 'hellaswag': expected a number"},
        {"model,params,hellaswag\na,1B,130\n", "t.csv:2:3: column 'hellaswag': expected a percentage"},
        {"model,params,hellaswag\na,1B,3\na,2B,4\n", "t.csv:3:1: model 'a' already appears on line 2"},
        {"model,params,hellaswag\na,7,3\n", "t.csv:2:2: column 'params': size '7' has no unit"},
        {"model,params,hellaswag\na,,3\n", "t.csv:2:2: model 'a' has no size"},
        {"model,params,hellaswag\n", "t.csv:1:1: header but no rows"},
        {"params,hellaswag\n1B,3\n", "t.csv:1:1: no model column"},
        {"model,hellaswag\nx,3\n", "t.csv:1:1: no size column"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        scores_table t;
        cape_err e = {0};
        assert_int_equal(parse(cases[i].csv, &t, &e), CAPE_EINPUT);
        if (strncmp(e.msg, cases[i].msg, strlen(cases[i].msg)) != 0)
            fail_msg("case %zu: got '%s', expected prefix '%s'", i, e.msg, cases[i].msg);
        assert_null(strchr(e.msg, '\n'));
    }
}

static void small_family_is_an_error_unless_skipped(void **state)
{
    (void)state;
    const char *csv = "model,family,params,hellaswag,truthfulqa\n"
                      "a,F,1B,30,40\nb,F,2B,35,39\nc,F,3B,40,37\nd,G,1B,30,40\ne,G,2B,40,39\n";
    scores_table t;
    cape_err e = {0};
    assert_int_equal(parse(csv, &t, &e), 0);
    phase_options o;
    phase_options_default(&o);
    o.nboot = 10;
    phase_diagnosis d;
    assert_int_equal(phase_diagnose(&t, &o, &d, &e), CAPE_EINPUT);
    assert_non_null(strstr(e.msg, "t.csv:5:1: family 'G' has 2 models"));
    phase_diagnosis_free(&d);
    err_clear(&e);
    o.skip_small = 1;
    assert_int_equal(phase_diagnose(&t, &o, &d, &e), 0);
    assert_int_equal(d.nfam, 1);
    assert_int_equal(d.nsmall, 1);
    assert_string_equal(d.small[0], "G");
    /* the U-curve needs four points: with three it is not estimable, not NaN */
    assert_false(d.ucurve.estimable);
    phase_diagnosis_free(&d);
    scores_free(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(running_coupling_by_hand),
        cmocka_unit_test(zero_coupling_is_not_a_sign_change),
        cmocka_unit_test(phase_boundaries),
        cmocka_unit_test(width_normalisation_by_hand),
        cmocka_unit_test(aliases_and_sizes),
        cmocka_unit_test(bad_tables),
        cmocka_unit_test(small_family_is_an_error_unless_skipped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
