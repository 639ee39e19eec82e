/* icl: the context builder (which facts go where, nested across k, the
 * composition's alias and name swap), the copying probe's lists and the
 * bootstrap (seeded, hand-checked cases). */
#include "testutil.h"

#include <string.h>

#include "unlearn/icl.h"

static char *dupf(const char *fmt, int a, const char *b)
{
    char buf[256];
    snprintf(buf, sizeof buf, fmt, a, b);
    return strdup(buf);
}

/* n authors of 20 rows: "Q i of NAME?" / "A i of NAME." / "P i of NAME." */
static void make_split(tofu_split *s, const char *const *names, int n)
{
    memset(s, 0, sizeof *s);
    s->n = 20 * n;
    s->rows = calloc((size_t)s->n, sizeof *s->rows);
    snprintf(s->file, sizeof s->file, "test.json");
    for (int a = 0; a < n; a++)
        for (int i = 0; i < 20; i++) {
            tofu_row *r = &s->rows[a * 20 + i];
            r->question = dupf("What is fact %d of %s?", i, names[a]);
            r->answer = dupf("Fact %d of %s is true.", i, names[a]);
            r->para = dupf("Fact %d about %s holds.", i, names[a]);
            r->pert[0] = dupf("Fact %d of %s is false.", i, names[a]);
            r->n_pert = 1;
        }
}

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

static void builder(void **state)
{
    (void)state;
    const char *fn[] = {"Basil Mahfouz Al-Kuwaiti", "Nikolai Abilov"}, *rn[] = {"Alma Berg"};
    tofu_split f, r;
    make_split(&f, fn, 2);
    make_split(&r, rn, 1);
    int ks[] = {0, 1, 2, 4, 16};
    icl_build_opts o = {&f, &r, ks, 5, 0, 3, 7};
    icl_item *it;
    int n;
    cape_err e = {0};
    assert_int_equal(icl_build(&o, &it, &n, &e), 0);
    /* 2 authors x 3 questions x 5 k x 3 conditions */
    assert_int_equal(n, 2 * 3 * 5 * 3);
    const icl_item *prev[ICL_NCOND][16] = {{0}};
    for (int i = 0; i < n; i++) {
        const icl_item *x = &it[i];
        assert_int_equal(count_lines(x->context), x->k);
        const char *name = fn[x->author];
        if (x->cond == ICL_ECHO || x->cond == ICL_SPILL) {
            /* the question's own row */
            int qi = -1;
            sscanf(x->question, "What is fact %d", &qi);
            assert_true(qi >= 0 && qi < 3);
            char own[128];
            snprintf(own, sizeof own, "Fact %d about %s holds.\n", qi, name);
            char *at = strstr(x->context, own);
            if (x->cond == ICL_ECHO && x->k > 0) /* the asked fact, last */
                assert_true(at && at[strlen(own)] == 0);
            else
                assert_null(at);
            /* only facts of the same author */
            const char *other = fn[1 - x->author];
            assert_null(strstr(x->context, other));
            assert_non_null(strstr(x->answer, name));
        } else {
            /* a retained author's question, asked about the forgotten one */
            assert_null(strstr(x->question, "Alma Berg"));
            assert_non_null(strstr(x->question, name));
            assert_non_null(strstr(x->answer, name));
            assert_non_null(strstr(x->pert[0], name));
            char alias[128];
            snprintf(alias, sizeof alias, "%s is also known as Alma Berg.\n", name);
            char *at = strstr(x->context, alias);
            if (x->k > 0)
                assert_true(at && at[strlen(alias)] == 0);
            else
                assert_string_equal(x->context, "");
        }
        /* nested: the context at k holds the facts at the smaller k (less
         * the asked or aliased last line) */
        const icl_item *p = x->q < 16 ? prev[x->cond][x->q] : NULL;
        if (p && p->k > 0 && x->cond == ICL_SPILL)
            assert_true(!strncmp(x->context, p->context, strlen(p->context)));
        if (x->q < 16)
            prev[x->cond][x->q] = x;
    }
    icl_items_free(it, n);
    /* the same seed, the same contexts; another seed, another order */
    icl_item *a, *b;
    int na, nb;
    assert_int_equal(icl_build(&o, &a, &na, &e), 0);
    o.seed = 8;
    assert_int_equal(icl_build(&o, &b, &nb, &e), 0);
    int same = 0, differ = 0;
    for (int i = 0; i < na; i++)
        if (strcmp(a[i].context, b[i].context))
            differ++;
        else
            same++;
    assert_true(differ > 0 && same > 0); /* k = 0 contexts are empty */
    icl_items_free(b, nb);
    o.seed = 7;
    assert_int_equal(icl_build(&o, &b, &nb, &e), 0);
    for (int i = 0; i < na; i++)
        assert_string_equal(a[i].context, b[i].context);
    icl_items_free(a, na);
    icl_items_free(b, nb);
    /* k outside 0..16 */
    int bad[] = {0, 17};
    o.ks = bad, o.n_k = 2;
    assert_int_equal(icl_build(&o, &a, &na, &e), CAPE_EINPUT);
    tofu_split_free(&f);
    tofu_split_free(&r);
}

static void copy_lists(void **state)
{
    (void)state;
    icl_item *a, *b, *q;
    cape_err e = {0};
    assert_int_equal(icl_copy_items(16, 4, 3, ICL_COPY_KEY, &a, &e), 0);
    assert_int_equal(icl_copy_items(16, 4, 3, ICL_COPY_KEY, &b, &e), 0);
    assert_int_equal(icl_copy_items(16, 4, 3, ICL_COPY_QA, &q, &e), 0);
    for (int i = 0; i < 16; i++) {
        assert_string_equal(a[i].context, b[i].context);
        assert_int_equal(count_lines(a[i].context), 4);
        /* the asked line is in the context, with the answer */
        char line[32];
        snprintf(line, sizeof line, "%s %s\n", a[i].question, a[i].answer);
        assert_non_null(strstr(a[i].context, line));
        assert_int_equal(strlen(a[i].answer), 3);
        /* the question form asks the same key of the same list */
        assert_string_equal(q[i].context, a[i].context);
        assert_string_equal(q[i].answer, a[i].answer);
        char ask[64];
        snprintf(ask, sizeof ask, "What is the value of %.4s?", a[i].question);
        assert_string_equal(q[i].question, ask);
    }
    icl_items_free(a, 16);
    icl_items_free(b, 16);
    icl_items_free(q, 16);
}

static void copy_hit(void **state)
{
    (void)state;
    /* the first number of the answer decides */
    assert_true(icl_copy_hit("123", "123"));
    assert_true(icl_copy_hit("123.", "123"));
    assert_true(icl_copy_hit(" 123\nabcd = 456", "123"));
    assert_true(icl_copy_hit("The value of abcd is 123.", "123"));
    assert_false(icl_copy_hit("1234", "123"));
    assert_false(icl_copy_hit("0123", "123"));
    assert_false(icl_copy_hit("12", "123"));
    assert_false(icl_copy_hit("The value is 456, not 123.", "123"));
    assert_false(icl_copy_hit("no number", "123"));
    assert_false(icl_copy_hit("", "123"));
}

static void bootstrap(void **state)
{
    (void)state;
    double x[] = {0, 0, 1, 1, 1, 0, 1, 0, 1, 1}, lo, hi, lo2, hi2;
    double m = icl_bootstrap_mean(x, 10, 2000, 5, 0.95, &lo, &hi);
    assert_true(fabs(m - 0.6) < 1e-15);
    assert_true(lo < m && m < hi && lo >= 0 && hi <= 1);
    /* the normal approximation sd = sqrt(.24 / 10) = 0.155: the 95% interval
     * is near 0.6 -+ 0.30 */
    assert_true(fabs((hi - lo) - 2 * 1.96 * sqrt(0.24 / 10)) < 0.12);
    icl_bootstrap_mean(x, 10, 2000, 5, 0.95, &lo2, &hi2);
    assert_true(lo == lo2 && hi == hi2);
    /* another seed: other resamples (continuous values, so that the
     * percentiles do not fall on the same few means) */
    double y[] = {0.11, 0.72, 0.35, 0.94, 0.08, 0.51, 0.63, 0.27, 0.86, 0.44};
    icl_bootstrap_mean(y, 10, 2000, 5, 0.95, &lo, &hi);
    icl_bootstrap_mean(y, 10, 2000, 6, 0.95, &lo2, &hi2);
    assert_true(lo != lo2 || hi != hi2);
    double c[] = {0.25, 0.25, 0.25};
    m = icl_bootstrap_mean(c, 3, 100, 1, 0.95, &lo, &hi);
    assert_true(m == 0.25 && lo == 0.25 && hi == 0.25);
    assert_true(isnan(icl_bootstrap_mean(c, 0, 100, 1, 0.95, &lo, &hi)) && isnan(lo) && isnan(hi));
    m = icl_bootstrap_mean(x, 10, 0, 1, 0.95, &lo, &hi);
    assert_true(m == 0.6 && isnan(lo));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(builder),
        cmocka_unit_test(copy_lists),
        cmocka_unit_test(copy_hit),
        cmocka_unit_test(bootstrap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
