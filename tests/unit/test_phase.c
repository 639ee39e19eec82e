/* phase building blocks and the score-table reader, on hand-checked cases. */
#include "testutil.h"

#include <string.h>

#include "base/csv.h"
#include "base/text.h"
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

static void small_family_is_skipped_unless_strict(void **state)
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
    o.strict = 1;
    assert_int_equal(phase_diagnose(&t, &o, &d, &e), CAPE_EINPUT);
    assert_non_null(strstr(e.msg, "t.csv:5:1: family 'G' has 2 models"));
    phase_diagnosis_free(&d);
    err_clear(&e);
    o.strict = 0;
    assert_int_equal(phase_diagnose(&t, &o, &d, &e), 0);
    assert_int_equal(d.nfam, 1);
    assert_int_equal(d.nsmall, 1);
    assert_string_equal(d.small[0], "G");
    assert_int_equal(d.small_n[0], 2);
    /* the U-curve needs four points: with three it is not estimable, not NaN */
    assert_false(d.ucurve.estimable);
    phase_diagnosis_free(&d);
    /* --family is case-insensitive; an unknown one names the known families */
    const char *want[] = {"f"};
    o.families = want;
    o.nfamilies = 1;
    assert_int_equal(phase_diagnose(&t, &o, &d, &e), 0);
    assert_int_equal(d.nfam, 1);
    assert_string_equal(d.fam[0].name, "F");
    phase_diagnosis_free(&d);
    const char *unknown[] = {"H"};
    o.families = unknown;
    assert_int_equal(phase_diagnose(&t, &o, &d, &e), CAPE_EINPUT);
    assert_string_equal(e.msg, "t.csv: no family 'H' (families: F, G)");
    phase_diagnosis_free(&d);
    scores_free(&t);
}

static void families_from_names(void **state)
{
    (void)state;
    static const struct {
        const char *name, *family;
        int sized;
    } cases[] = {
        {"EleutherAI/pythia-1.4b-deduped", "pythia-deduped", 1},
        {"EleutherAI/pythia-70m", "pythia", 1},
        {"facebook/opt-1.3b", "opt", 1},
        {"meta-llama/Llama-2-7b-hf", "llama-2", 1},
        {"meta-llama/Llama-2-13b-chat-hf", "llama-2-chat", 1},
        {"Qwen/Qwen2.5-0.5B-Instruct", "qwen2.5-instruct", 1},
        {"mistralai/Mistral-7B-v0.1", "mistral-v0.1", 1},
        {"bigscience/bloom-7b1", "bloom", 1},
        {"mistralai/Mixtral-8x7B-v0.1", "mixtral-v0.1", 1},
        {"TheBloke/Llama-2-7B-GGUF", "llama-2", 1},
        {"Qwen/Qwen2-57B-A14B", "qwen2", 1},
        {"Pythia-70M", "pythia", 1},
        {"gpt2-medium", "gpt2-medium", 0},
        {"7b-only", "7b-only", 0}, /* a size needs a stem before it */
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char fam[64];
        int sized = scores_family_from_name(cases[i].name, fam, sizeof fam);
        if (sized != cases[i].sized || strcmp(fam, cases[i].family) != 0)
            fail_msg("'%s': got '%s' (%d), expected '%s' (%d)", cases[i].name, fam, sized,
                     cases[i].family, cases[i].sized);
    }
    /* a table without a family column: no step ever joins two families */
    const char *csv = "model,params,hellaswag,truthfulqa\n"
                      "org/alpha-1b,1B,30,40\norg/beta-1.5b,1.5B,60,20\norg/alpha-2b,2B,35,38\n"
                      "org/beta-3b,3B,70,25\norg/alpha-4b,4B,40,35\norg/beta-6b,6B,72,30\n";
    scores_table t;
    cape_err e = {0};
    assert_int_equal(parse(csv, &t, &e), 0);
    assert_int_equal(t.families_inferred, 2);
    assert_string_equal(t.model[1].family, "beta");
    phase_options o;
    phase_options_default(&o);
    o.nboot = 0;
    phase_diagnosis d;
    assert_int_equal(phase_diagnose(&t, &o, &d, &e), 0);
    assert_int_equal(d.nfam, 2);
    for (int k = 0; k < d.nfam; k++)
        for (int i = 0; i < d.fam[k].n; i++)
            assert_string_equal(t.model[d.fam[k].idx[i]].family, d.fam[k].name);
    /* alpha: 30 -> 35 -> 40 with truth 40 -> 38 -> 35 */
    assert_close(d.fam[0].step[0].gamma, -2.0 / 5, 1e-12);
    assert_close(d.fam[0].step[1].gamma, -3.0 / 5, 1e-12);
    phase_diagnosis_free(&d);
    scores_free(&t);
    /* off: one family, as before */
    scores_options so = {.no_family_from_name = 1};
    assert_int_equal(scores_parse(csv, strlen(csv), "t.csv", &so, &t, &e), 0);
    assert_int_equal(t.families_inferred, 0);
    assert_string_equal(t.model[1].family, "all");
    scores_free(&t);
}

static void same_size_models_are_one_point(void **state)
{
    (void)state;
    /* two 2B models (HS 38 and 42, TQA 37 and 39) are averaged: HS 40, TQA 38 */
    const char *csv = "model,family,params,hellaswag,truthfulqa\n"
                      "a,F,1B,30,40\nb,F,2B,38,37\nc,F,2B,42,39\nd,F,4B,50,35\n";
    scores_table t;
    cape_err e = {0};
    assert_int_equal(parse(csv, &t, &e), 0);
    phase_options o;
    phase_options_default(&o);
    o.nboot = 0;
    phase_diagnosis d;
    assert_int_equal(phase_diagnose(&t, &o, &d, &e), 0);
    const phase_family *f = &d.fam[0];
    assert_int_equal(f->n, 4);
    assert_int_equal(f->npoint, 3);
    assert_int_equal(f->nshared, 2);
    assert_int_equal(f->nstep, 2);
    assert_close(f->step[0].gamma, (38.0 - 40) / (40 - 30), 1e-12);
    assert_close(f->step[1].gamma, (35.0 - 38) / (50 - 40), 1e-12);
    for (int k = 0; k < f->nstep; k++)
        assert_true(t.model[f->idx[f->step[k].a]].params < t.model[f->idx[f->step[k].b]].params);
    /* both 2B models take the coupling of the step that reaches their size */
    assert_close(d.row_gamma[1], -0.2, 1e-12);
    assert_close(d.row_gamma[2], -0.2, 1e-12);
    phase_diagnosis_free(&d);
    scores_free(&t);
}

static void fractions_and_separators(void **state)
{
    (void)state;
    const char *pct = "model,params,hellaswag,truthfulqa,loss\n"
                      "a,1B,30,40,3.1\nb,2B,35,38,2.9\nc,4B,40,35,2.7\n";
    const char *frac = "model\tparams\thellaswag\ttruthfulqa\tloss\n"
                       "a\t1B\t0.30\t0.40\t3.1\nb\t2B\t0.35\t0.38\t2.9\nc\t4B\t0.40\t0.35\t2.7\n";
    scores_table p, f;
    cape_err e = {0};
    assert_int_equal(parse(pct, &p, &e), 0);
    assert_int_equal(p.nscaled, 0);
    assert_int_equal(parse(frac, &f, &e), 0);
    assert_int_equal(f.sep, '\t');
    assert_int_equal(f.nscaled, 2);
    assert_true(f.scaled[BENCH_HELLASWAG] && !f.scaled[BENCH_LOSS]);
    for (int i = 0; i < 3; i++) {
        assert_close(f.model[i].score[BENCH_HELLASWAG], p.model[i].score[BENCH_HELLASWAG], 1e-12);
        assert_close(f.model[i].score[BENCH_TRUTHFULQA_MC2],
                     p.model[i].score[BENCH_TRUTHFULQA_MC2], 1e-12);
        assert_close(f.model[i].score[BENCH_LOSS], p.model[i].score[BENCH_LOSS], 1e-12);
    }
    scores_free(&f);
    scores_free(&p);
    /* forced scales */
    scores_options so = {.scale = SCORES_SCALE_PERCENT};
    assert_int_equal(scores_parse(frac, strlen(frac), "t.tsv", &so, &f, &e), 0);
    assert_close(f.model[0].score[BENCH_HELLASWAG], 0.30, 1e-12);
    scores_free(&f);
    so.scale = SCORES_SCALE_FRACTION;
    assert_int_equal(scores_parse(pct, strlen(pct), "t.csv", &so, &p, &e), CAPE_EINPUT);
    assert_string_equal(e.msg, "t.csv:2:3: column 'hellaswag': --scale fraction expects scores "
                               "in [0, 1], got '30'");
    err_clear(&e);
    /* semicolons; and a comma-separated header wins over stray semicolons */
    const char *semi = "model;params;hellaswag\na;1B;30\n";
    assert_int_equal(parse(semi, &p, &e), 0);
    assert_int_equal(p.sep, ';');
    assert_close(p.model[0].params, 1e9, 1);
    scores_free(&p);
    assert_int_equal(csv_sniff_sep("model,note\na,x;y\n", 16), ',');
    assert_int_equal(csv_sniff_sep("\"a,b\"\tc\n", 8), '\t');
    /* a name that is not UTF-8 is kept, its bad byte replaced by U+FFFD */
    const char *bad = "model,params,hellaswag\nm\xff-x,1B,30\n";
    assert_int_equal(parse(bad, &p, &e), 0);
    assert_string_equal(p.model[0].name, "m\xef\xbf\xbd-x");
    scores_free(&p);
    char *u = text_utf8_copy("ok \xc3\xa9 \xe2\x82 \xed\xa0\x80 \xf0\x9f\x98\x80");
    /* one U+FFFD per maximal ill-formed subsequence, as Python's
     * b"...".decode("utf-8", "replace") gives */
    assert_string_equal(u, "ok \xc3\xa9 \xef\xbf\xbd "
                           "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd \xf0\x9f\x98\x80");
    free(u);
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
        cmocka_unit_test(small_family_is_skipped_unless_strict),
        cmocka_unit_test(families_from_names),
        cmocka_unit_test(same_size_models_are_one_point),
        cmocka_unit_test(fractions_and_separators),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
