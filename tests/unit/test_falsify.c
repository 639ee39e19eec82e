/* The stress tests of cape falsify against an independent numpy/scipy
 * computation (tests/ref/make_falsify_ref.py, replaying the same
 * RandomState streams), the null simulation against closed forms, and
 * reproducibility. */
#include "testutil.h"

#include <gsl/gsl_cdf.h>
#include <jansson.h>
#include <string.h>

#include "phase/falsify.h"
#include "phase/falsify_json.h"

#define TINY "tests/ref/falsify/tiny.csv"
#define REF "tests/ref/falsify/ref.json"

static json_t *ref;
static scores_table tiny;
static falsify_result res;

static double jnum(const json_t *j)
{
    return json_is_number(j) ? json_number_value(j) : NAN;
}

static double jget(const json_t *o, const char *key)
{
    return jnum(json_object_get(o, key));
}

/* equal within rel (relative) or both missing */
static void same(double got, double want, double rel, const char *what)
{
    if (isnan(want) && isnan(got))
        return;
    if (!(fabs(got - want) <= rel * fmax(1, fabs(want))))
        fail_msg("%s = %.12g, reference %.12g", what, got, want);
}

static void ref_options(falsify_options *o)
{
    falsify_options_default(o);
    const json_t *j = json_object_get(ref, "options");
    o->po.seed = (uint32_t)json_integer_value(json_object_get(j, "seed"));
    o->nboot = (int)json_integer_value(json_object_get(j, "nboot"));
    o->stab_boot = (int)json_integer_value(json_object_get(j, "stab_boot"));
    o->nsim = (int)json_integer_value(json_object_get(j, "nsim"));
    o->nperm = (int)json_integer_value(json_object_get(j, "nperm"));
    o->nwidth = (int)json_integer_value(json_object_get(j, "nwidth"));
    o->nc_below = jget(j, "nc_below");
    o->pub_lo = jget(j, "pub_lo");
    o->pub_hi = jget(j, "pub_hi");
}

static int setup(void **state)
{
    (void)state;
    json_error_t je;
    ref = json_load_file(REF, 0, &je);
    if (!ref)
        return -1;
    scores_options so = {.require_params = 1};
    cape_err e = {0};
    if (scores_read_file(TINY, &so, &tiny, &e))
        return -1;
    falsify_options o;
    ref_options(&o);
    const scores_table *tp = &tiny;
    return falsify_run(&tp, 1, &o, &res, &e) ? -1 : 0;
}

static int teardown(void **state)
{
    (void)state;
    falsify_result_free(&res);
    scores_free(&tiny);
    json_decref(ref);
    return 0;
}

static void check_ushape(const falsify_ushape *u, const json_t *j, const char *who)
{
    char w[96];
    snprintf(w, sizeof w, "%s nc_log", who);
    same(u->nc_log, jget(j, "nc_log"), 1e-9, w);
    snprintf(w, sizeof w, "%s vertex_log", who);
    same(u->vertex_log, jget(j, "vertex_log"), 1e-8, w);
    assert_int_equal(u->n_nc, json_integer_value(json_object_get(j, "n_nc")));
    assert_int_equal(u->n_vertex, json_integer_value(json_object_get(j, "n_vertex")));
    assert_int_equal(u->n_both, json_integer_value(json_object_get(j, "n_both")));
    static const char *keys[] = {"nc_med", "nc_lo", "nc_hi", "vertex_med", "diff_med",
                                 "diff_lo", "diff_hi"};
    const double got[] = {u->nc_med,   u->nc_lo,   u->nc_hi,  u->vertex_med,
                          u->diff_med, u->diff_lo, u->diff_hi};
    for (int i = 0; i < 7; i++) {
        snprintf(w, sizeof w, "%s %s", who, keys[i]);
        same(got[i], jget(j, keys[i]), 1e-8, w);
    }
}

/* test 1: per family and pooled, the same resamples as numpy's */
static void ushape_matches_numpy(void **state)
{
    (void)state;
    const falsify_table *t = &res.t[0];
    const json_t *fams = json_object_get(ref, "families");
    assert_int_equal(t->nfam, (int)json_array_size(fams));
    for (int k = 0; k < t->nfam; k++) {
        const json_t *f = json_array_get(fams, (size_t)k);
        assert_string_equal(t->fam[k].name, json_string_value(json_object_get(f, "name")));
        assert_int_equal(t->fam[k].n, json_integer_value(json_object_get(f, "n")));
        check_ushape(&t->fam[k].ushape, json_object_get(f, "ushape"), t->fam[k].name);
        assert_int_equal(t->fam[k].flips, json_is_true(json_object_get(f, "flips")));
    }
    check_ushape(&t->pooled_ushape, json_object_get(ref, "pooled_ushape"), "pooled");
}

/* test 2 on the table: trends, residual SDs and every frequency */
static void null_model_matches_numpy(void **state)
{
    (void)state;
    const falsify_table *t = &res.t[0];
    const falsify_null *n = &t->null;
    const json_t *j = json_object_get(ref, "null");
    assert_int_equal(n->n_below, json_integer_value(json_object_get(j, "n_below")));
    assert_int_equal(n->flips_obs, json_integer_value(json_object_get(j, "flips_obs")));
    same(n->r_below, jget(j, "r_below"), 1e-12, "r_below");
    same(n->p_flips, jget(j, "p_flips"), 1e-12, "p_flips");
    same(n->mean_flips, jget(j, "mean_flips"), 1e-12, "mean_flips");
    same(n->p_r_below, jget(j, "p_r_below"), 1e-12, "p_r_below");
    same(n->p_vertex_in, jget(j, "p_vertex_in"), 1e-12, "p_vertex_in");
    for (int k = 0; k < t->nfam; k++) {
        same(t->fam[k].p_flip, jnum(json_array_get(json_object_get(j, "p_flip"), (size_t)k)),
             1e-12, "p_flip");
        same(t->fam[k].r_sd, jnum(json_array_get(json_object_get(j, "r_sd"), (size_t)k)), 1e-9,
             "r_sd");
        same(t->fam[k].t_sd, jnum(json_array_get(json_object_get(j, "t_sd"), (size_t)k)), 1e-9,
             "t_sd");
    }
}

/* test 3: partial correlations, t-test p (scipy), exact and stratified
 * permutation p */
static void partial_matches_scipy(void **state)
{
    (void)state;
    const falsify_table *t = &res.t[0];
    for (int d = 0; d < 2; d++) {
        const char *key = d == 0 ? "partial1" : "partial2";
        const json_t *j = json_object_get(ref, key);
        for (int k = 0; k < t->nfam; k++) {
            const json_t *f = json_array_get(json_object_get(j, "families"), (size_t)k);
            const falsify_partial *p = &t->fam[k].partial[d];
            assert_int_equal(p->degree, d + 1);
            if (json_is_null(f)) {
                assert_true(isnan(p->r));
                continue;
            }
            same(p->r, jget(f, "r"), 1e-9, "family partial r");
            same(p->p_param, jget(f, "p_param"), 1e-7, "family partial p(t)");
            assert_true(p->perm.exact);
            same(p->perm.p, jget(f, "perm_p"), 1e-12, "family partial exact p");
        }
        const json_t *pj = json_object_get(j, "pooled");
        const falsify_partial *p = &t->pooled_partial[d];
        assert_int_equal(p->n, json_integer_value(json_object_get(pj, "n")));
        same(p->r, jget(pj, "r"), 1e-9, "pooled partial r");
        same(p->p_param, jget(pj, "p_param"), 1e-7, "pooled partial p(t)");
        same(p->perm.p, jget(pj, "perm_p"), 1e-12, "pooled permutation p");
    }
}

/* test 5: leave-one-family-out and leave-one-size-out vertex bootstraps */
static void stability_matches_numpy(void **state)
{
    (void)state;
    const falsify_stability *s = &res.t[0].stab;
    const json_t *j = json_object_get(ref, "stability");
    same(s->nc_all, jget(j, "all"), 1e-9, "stability all");
    assert_int_equal(s->nfam, (int)json_array_size(json_object_get(j, "fam")));
    assert_int_equal(s->nsize, (int)json_array_size(json_object_get(j, "size")));
    for (int k = 0; k < s->nfam; k++)
        same(s->fam[k].nc, jnum(json_array_get(json_object_get(j, "fam"), (size_t)k)), 1e-9,
             "leave one family out");
    for (int k = 0; k < s->nsize; k++)
        same(s->size[k].nc, jnum(json_array_get(json_object_get(j, "size"), (size_t)k)), 1e-9,
             "leave one size out");
    assert_true(s->fam_most >= 0 && s->size_most >= 0);
}

/* test 6: the random growing factors */
static void width_null_matches_numpy(void **state)
{
    (void)state;
    const falsify_table *t = &res.t[0];
    const json_t *fams = json_object_get(ref, "families");
    for (int k = 0; k < t->nfam; k++) {
        const json_t *w = json_object_get(json_array_get(fams, (size_t)k), "width");
        const falsify_width *f = &t->fam[k].width;
        assert_true(f->estimable);
        same(f->r_raw, jget(w, "r_raw"), 1e-12, "r_raw");
        same(f->r_norm, jget(w, "r_norm"), 1e-12, "r_norm");
        same(f->null_mean, jget(w, "mean"), 1e-12, "null mean");
        same(f->null_p05, jget(w, "p05"), 1e-12, "null p05");
        same(f->null_p95, jget(w, "p95"), 1e-12, "null p95");
        same(f->p_ge, jget(w, "p_ge"), 1e-12, "p_ge");
        same(f->share, jget(w, "share"), 1e-10, "share");
    }
}

/* test 4: every pair present in the table is run; the truth vertex does not
 * depend on the reasoning benchmark, the gamma12 line does */
static void pairs_and_control(void **state)
{
    (void)state;
    const falsify_table *t = &res.t[0];
    int hs = -1, arc = -1, control = -1;
    for (int k = 0; k < t->npair; k++) {
        if (t->pair[k].control)
            control = k;
        else if (t->pair[k].reasoning == BENCH_HELLASWAG)
            hs = k;
        else if (t->pair[k].reasoning == BENCH_ARC)
            arc = k;
    }
    assert_true(hs >= 0 && arc >= 0 && control >= 0);
    assert_int_equal(t->pair[control].truth, BENCH_WINOGRANDE);
    assert_true(t->pair[hs].present && t->pair[arc].present);
    same(t->pair[hs].vertex_log, t->pair[arc].vertex_log, 1e-12, "vertex per pair");
    same(t->pair[hs].gamma.nc_log, t->pooled_ushape.nc_log, 1e-12, "HS pair = main pair");
    assert_true(t->pair[hs].gamma.nc_log != t->pair[arc].gamma.nc_log);
    for (int k = 0; k < t->npair; k++)
        if (t->pair[k].reasoning == BENCH_MMLU || t->pair[k].reasoning == BENCH_GSM8K)
            assert_false(t->pair[k].present); /* no such column */
}

/* Flat truth with unit noise and a steep, noiseless reasoning trend over
 * three sizes: gamma12 flips when the first truth step falls and the second
 * rises, P = P(X < 0, Y > 0) for two normals with correlation -1/2 = 1/3. */
static void null_flip_closed_form(void **state)
{
    (void)state;
    double x[] = {8, 9, 10}, rmu[] = {0, 100, 200}, tmu[] = {0, 0, 0}, rsd = 0, tsd = 1;
    int n = 3;
    falsify_options o;
    falsify_options_default(&o);
    o.nsim = 40000;
    falsify_null nl = {.flips_obs = 1, .nc_below = 1e9, .r_below = NAN};
    double pf;
    cape_err e = {0};
    assert_int_equal(falsify_null_simulate(x, rmu, tmu, &n, &rsd, &tsd, 1, &o, &nl, &pf, &e), 0);
    double se = sqrt(1.0 / 3 * 2 / 3 / o.nsim);
    assert_close(pf, 1.0 / 3, 4.5 * se);
    assert_close(nl.p_flips, pf, 1e-15);
    assert_close(nl.mean_flips, pf, 1e-15);
}

/* Independent normal reasoning and truth with no trend: r over the n points
 * below N_c has the null law of Pearson's r, so P(r <= r0) is Student's t
 * with n - 2 degrees of freedom at r0 sqrt(n - 2) / sqrt(1 - r0^2). */
static void null_r_below_closed_form(void **state)
{
    (void)state;
    enum { N = 6 };
    double x[N], mu[N] = {0}, sd = 1;
    for (int i = 0; i < N; i++)
        x[i] = 8 + 0.1 * i;
    int n = N;
    falsify_options o;
    falsify_options_default(&o);
    o.nsim = 40000;
    double r0 = -0.5;
    falsify_null nl = {.flips_obs = 0, .nc_below = 1e9, .r_below = r0};
    double pf;
    cape_err e = {0};
    assert_int_equal(falsify_null_simulate(x, mu, mu, &n, &sd, &sd, 1, &o, &nl, &pf, &e), 0);
    double want = gsl_cdf_tdist_P(r0 * sqrt(N - 2.0) / sqrt(1 - r0 * r0), N - 2);
    assert_close(nl.p_r_below, want, 4.5 * sqrt(want * (1 - want) / o.nsim));
    assert_close(nl.p_flips, 1, 0); /* at least 0 families always flip */
}

/* Pure noise on sizes symmetric about their mean xc: the fitted curvature a
 * and slope b are independent zero-mean normals, so the vertex xc - b/(2a)
 * is Cauchy about xc with scale sqrt(S4 / S2) / 2 (S2 = sum u^2,
 * S4 = sum (u^2 - mean u^2)^2, u = x - xc), and a > 0 is a fair coin
 * independent of it: P(a > 0, vertex in [L, H]) = (atan(H/g) - atan(L/g)) /
 * (2 pi) with L, H relative to xc. */
static void null_vertex_closed_form(void **state)
{
    (void)state;
    enum { N = 9 };
    double x[N], mu[N] = {0}, sd = 1, xc = 9.8, s2 = 0, s4 = 0, m2 = 0;
    for (int i = 0; i < N; i++) {
        x[i] = 9.0 + 0.2 * i;
        m2 += (x[i] - xc) * (x[i] - xc) / N;
    }
    for (int i = 0; i < N; i++) {
        double u2 = (x[i] - xc) * (x[i] - xc);
        s2 += u2;
        s4 += (u2 - m2) * (u2 - m2);
    }
    int n = N;
    falsify_options o;
    falsify_options_default(&o);
    o.nsim = 40000;
    o.pub_lo = pow(10, 9.5);
    o.pub_hi = pow(10, 10.0);
    falsify_null nl = {.flips_obs = 0, .nc_below = 1e9, .r_below = NAN};
    double pf;
    cape_err e = {0};
    assert_int_equal(falsify_null_simulate(x, mu, mu, &n, &sd, &sd, 1, &o, &nl, &pf, &e), 0);
    double g = sqrt(s4 / s2) / 2, lo = 9.5 - xc, hi = 10.0 - xc;
    double want = (atan(hi / g) - atan(lo / g)) / (2 * M_PI);
    assert_close(nl.p_vertex_in, want, 4.5 * sqrt(want * (1 - want) / o.nsim));
    assert_true(isnan(nl.p_r_below)); /* no points below 1e9 */
}

static char *run_json(uint32_t seed)
{
    falsify_options o;
    ref_options(&o);
    o.po.seed = seed;
    o.nboot = o.nsim = o.nperm = o.nwidth = 300;
    o.stab_boot = 100;
    falsify_result r;
    cape_err e = {0};
    const scores_table *tp = &tiny;
    assert_int_equal(falsify_run(&tp, 1, &o, &r, &e), 0);
    json_t *j = falsify_result_json(&r);
    char *s = json_dumps(j, JSON_SORT_KEYS);
    json_decref(j);
    falsify_result_free(&r);
    return s;
}

/* a seed gives the same output every time; another seed another output */
static void seeds_reproduce(void **state)
{
    (void)state;
    char *a = run_json(11), *b = run_json(11), *c = run_json(12);
    assert_string_equal(a, b);
    assert_true(strcmp(a, c) != 0);
    free(a);
    free(b);
    free(c);
}

static void bad_inputs(void **state)
{
    (void)state;
    const char *csv = "model,family,params,hellaswag\na,F,1e9,40\nb,F,2e9,45\nc,F,4e9,50\n";
    scores_options so = {.require_params = 1};
    scores_table t;
    cape_err e = {0};
    assert_int_equal(scores_parse(csv, strlen(csv), "no_truth.csv", &so, &t, &e), 0);
    falsify_options o;
    falsify_options_default(&o);
    falsify_result r;
    const scores_table *tp = &t;
    assert_int_equal(falsify_run(&tp, 1, &o, &r, &e), CAPE_EINPUT);
    assert_non_null(strstr(e.msg, "no_truth.csv"));
    falsify_result_free(&r);
    scores_free(&t);
    o.pub_lo = 5e9;
    o.pub_hi = 1e9;
    err_clear(&e);
    assert_int_equal(falsify_run(&tp, 0, &o, &r, &e), CAPE_EINPUT);
    falsify_result_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ushape_matches_numpy),
        cmocka_unit_test(null_model_matches_numpy),
        cmocka_unit_test(partial_matches_scipy),
        cmocka_unit_test(stability_matches_numpy),
        cmocka_unit_test(width_null_matches_numpy),
        cmocka_unit_test(pairs_and_control),
        cmocka_unit_test(null_flip_closed_form),
        cmocka_unit_test(null_r_below_closed_form),
        cmocka_unit_test(null_vertex_closed_form),
        cmocka_unit_test(seeds_reproduce),
        cmocka_unit_test(bad_inputs),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
