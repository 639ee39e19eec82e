/* rouge, ks_2samp, kstwo, roc_auc: against NLTK's Porter stemmer,
 * rouge_score, scipy and scikit-learn (fixtures from
 * tests/ref/make_unlearn_ref.py) and hand-checked cases. */
#include "testutil.h"

#include <jansson.h>
#include <string.h>

#include "stats/stats.h"
#include "unlearn/rouge.h"

static json_t *load(const char *path)
{
    json_error_t je;
    json_t *j = json_load_file(path, 0, &je);
    if (!j)
        fail_msg("%s: %s (line %d)", path, je.text, je.line);
    return j;
}

static char *stem_of(const char *w)
{
    static char out[256];
    size_t n = strlen(w);
    assert_true(n < sizeof out);
    rouge_porter_stem(w, n, out);
    return out;
}

static void porter_matches_nltk(void **state)
{
    (void)state;
    FILE *f = fopen("tests/ref/unlearn/porter.txt", "r");
    assert_non_null(f);
    char line[256], word[128], stem[300], tail[128];
    int n = 0, changed = 0, bad = 0;
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#')
            continue;
        int k = 0;
        tail[0] = 0;
        int got = sscanf(line, "%127s %d%127s", word, &k, tail);
        assert_true(got >= 1);
        if (got == 1) {
            strcpy(stem, word);
        } else {
            snprintf(stem, sizeof stem, "%.*s%s", k, word, got == 3 ? tail : "");
            changed++;
        }
        const char *s = stem_of(word);
        if (strcmp(s, stem) != 0 && bad++ < 20)
            print_message("porter: %s -> %s, NLTK %s\n", word, s, stem);
        n++;
    }
    fclose(f);
    assert_int_equal(bad, 0);
    assert_true(n > 5000 && changed > 1000);
}

/* Porter's paper and NLTK's additions, checked by hand */
static void porter_hand_cases(void **state)
{
    (void)state;
    static const char *c[][2] = {
        {"caresses", "caress"}, {"ponies", "poni"},      {"ties", "tie"},
        {"cats", "cat"},        {"feed", "feed"},        {"agreed", "agre"},
        {"plastered", "plaster"}, {"motoring", "motor"}, {"sing", "sing"},
        {"hopping", "hop"},     {"falling", "fall"},     {"hissing", "hiss"},
        {"filing", "file"},     {"happy", "happi"},      {"sky", "sky"},
        {"skies", "sky"},       {"dying", "die"},        {"news", "news"},
        {"relational", "relat"}, {"generalization", "gener"}, {"spied", "spi"},
        {"died", "die"},        {"enjoy", "enjoy"},      {"geology", "geolog"},
        {"controlling", "control"}, {"running", "run"},  {"a", "a"},
        {"is", "is"},           {"yyyy", "yyyi"},       {"1990s", "1990"}};
    for (size_t i = 0; i < sizeof c / sizeof *c; i++)
        if (strcmp(stem_of(c[i][0]), c[i][1]) != 0)
            fail_msg("stem(%s) = %s, expected %s", c[i][0], stem_of(c[i][0]), c[i][1]);
}

static void rouge_matches_rouge_score(void **state)
{
    (void)state;
    json_t *j = load("tests/ref/unlearn/rouge.json");
    json_t *texts = json_object_get(j, "texts"), *pairs = json_object_get(j, "pairs");
    assert_true(json_array_size(pairs) > 300);
    size_t i;
    json_t *p;
    json_array_foreach(pairs, i, p)
    {
        const char *ref = json_string_value(json_array_get(texts, json_integer_value(json_array_get(p, 0))));
        const char *gen = json_string_value(json_array_get(texts, json_integer_value(json_array_get(p, 1))));
        assert_non_null(ref);
        assert_non_null(gen);
        rouge_score r1 = rouge_1(ref, gen), rl = rouge_l(ref, gen);
        double got[6] = {r1.precision, r1.recall, r1.fmeasure, rl.precision, rl.recall, rl.fmeasure};
        for (int k = 0; k < 6; k++) {
            double e = json_real_value(json_array_get(p, 2 + k));
            if (json_is_integer(json_array_get(p, 2 + k)))
                e = (double)json_integer_value(json_array_get(p, 2 + k));
            if (!(fabs(got[k] - e) <= 1e-12))
                fail_msg("pair %zu field %d: %.17g, rouge_score %.17g\nref: %s\ngen: %s", i, k,
                         got[k], e, ref, gen);
        }
    }
    json_decref(j);
}

static void rouge_hand_cases(void **state)
{
    (void)state;
    /* reference "the cat sat on the mat" (6 tokens), generated "the cat on
     * a mat" (5): LCS "the cat on mat" = 4; unigram overlap the, cat, on,
     * mat = 4 */
    rouge_score l = rouge_l("The cat sat on the mat.", "the cat on a mat");
    assert_close(l.recall, 4.0 / 6, 1e-15);
    assert_close(l.precision, 4.0 / 5, 1e-15);
    assert_close(l.fmeasure, 2 * (0.8 * 4.0 / 6) / (0.8 + 4.0 / 6), 1e-15);
    rouge_score u = rouge_1("a a b", "a b b");
    assert_close(u.recall, 2.0 / 3, 1e-15); /* a:min(2,1) + b:min(1,2) */
    /* order matters to LCS only */
    rouge_score lr = rouge_l("one two three", "three two one"), ur = rouge_1("one two three", "three two one");
    assert_close(lr.recall, 1.0 / 3, 1e-15);
    assert_close(ur.recall, 1.0, 1e-15);
    /* empty or punctuation-only text: all zero */
    rouge_score z = rouge_l("", "text"), z2 = rouge_1("?!", "text"), z3 = rouge_l("text", NULL);
    assert_true(z.precision == 0 && z.recall == 0 && z.fmeasure == 0);
    assert_true(z2.precision == 0 && z2.recall == 0 && z2.fmeasure == 0);
    assert_true(z3.recall == 0);
    /* stemming joins inflections; non-ASCII letters separate words, except
     * the two that lower-case into ASCII (U+0130, the Kelvin sign) */
    assert_close(rouge_l("connection", "connected").recall, 1.0, 0);
    assert_close(rouge_1("caf\xc3\xa9", "caf").recall, 1.0, 0);
    assert_close(rouge_1("\xe2\x84\xaa" "elvin", "kelvin").recall, 1.0, 0);
    assert_close(rouge_1("\xc4\xb0stanbul", "i stanbul").recall, 1.0, 0);
    /* invalid UTF-8 only separates */
    assert_close(rouge_1("ab\xff\xfe" "cd", "ab cd").recall, 1.0, 0);
}

/* long texts: the bit-parallel LCS and, past its mask budget, the table
 * give the LCS built into the texts: the generation keeps two reference
 * tokens of three and inserts one new token for each dropped */
static void rouge_long_texts(void **state)
{
    (void)state;
    for (int n = 300; n <= 2400; n += 2100) {
        size_t cap = (size_t)n * 8 + 1;
        char *ref = calloc(cap, 1), *gen = calloc(cap, 1);
        size_t lr = 0, lg = 0;
        int kept = 0;
        for (int i = 0; i < n; i++) {
            lr += (size_t)snprintf(ref + lr, cap - lr, "z%d ", i);
            if (i % 3)
                lg += (size_t)snprintf(gen + lg, cap - lg, "z%d ", i), kept++;
            else
                lg += (size_t)snprintf(gen + lg, cap - lg, "y%d ", i);
        }
        rouge_score l = rouge_l(ref, gen), u = rouge_1(ref, gen);
        assert_close(l.recall, (double)kept / n, 1e-15);
        assert_close(l.precision, (double)kept / n, 1e-15);
        assert_close(u.recall, (double)kept / n, 1e-15);
        /* reversed generation: the LCS is one token */
        rouge_score rv = rouge_l(ref, "z5 z4 z3 z2 z1");
        assert_close(rv.recall, 1.0 / n, 1e-15);
        free(ref);
        free(gen);
    }
}

static double *values(json_t *arr, int *n)
{
    *n = (int)json_array_size(arr);
    double *v = malloc((size_t)(*n ? *n : 1) * sizeof *v);
    for (int i = 0; i < *n; i++)
        v[i] = json_number_value(json_array_get(arr, (size_t)i));
    return v;
}

static double *from_hist(json_t *h, int *n)
{
    *n = 0;
    for (size_t i = 0; i < json_array_size(h); i++)
        *n += (int)json_integer_value(json_array_get(json_array_get(h, i), 1));
    double *v = malloc((size_t)*n * sizeof *v);
    int k = 0;
    for (size_t i = 0; i < json_array_size(h); i++) {
        json_t *e = json_array_get(h, i);
        double x = json_number_value(json_array_get(e, 0));
        for (json_int_t c = json_integer_value(json_array_get(e, 1)); c > 0; c--)
            v[k++] = x;
    }
    return v;
}

static void check_p(double got, double want, const char *what, size_t i)
{
    /* 1e-9 relative; below 1e-300 the tail is an underflow either way */
    if (!(fabs(got - want) <= 1e-9 * fabs(want) + 1e-300))
        fail_msg("%s case %zu: p %.17g, scipy %.17g", what, i, got, want);
}

static void ks_matches_scipy(void **state)
{
    (void)state;
    json_t *j = load("tests/ref/unlearn/ks.json");
    json_t *cases = json_object_get(j, "ks_2samp");
    assert_true(json_array_size(cases) > 300);
    size_t i;
    json_t *c;
    int asymptotic = 0;
    json_array_foreach(cases, i, c)
    {
        int na, nb;
        double *a, *b;
        if (json_object_get(c, "a_hist")) {
            a = from_hist(json_object_get(c, "a_hist"), &na);
            b = from_hist(json_object_get(c, "b_hist"), &nb);
        } else {
            a = values(json_object_get(c, "a"), &na);
            b = values(json_object_get(c, "b"), &nb);
        }
        stats_ks r = stats_ks_2samp(a, na, b, nb);
        double d = json_number_value(json_object_get(c, "d"));
        double p = json_number_value(json_object_get(c, "p"));
        if (r.d != d)
            fail_msg("ks case %zu (%d, %d): D %.17g, scipy %.17g", i, na, nb, r.d, d);
        check_p(r.p, p, "ks_2samp", i);
        asymptotic += (na > 10000 || nb > 10000);
        free(a);
        free(b);
    }
    assert_true(asymptotic >= 20);
    json_t *sf = json_object_get(j, "kstwo_sf");
    json_array_foreach(sf, i, c)
    {
        double x = json_number_value(json_array_get(c, 0));
        int n = (int)json_integer_value(json_array_get(c, 1));
        double want = json_number_value(json_array_get(c, 2));
        double got = stats_kstwo_sf(x, n);
        if (!(fabs(got - want) <= 1e-9 * fabs(want) + 1e-300))
            fail_msg("kstwo.sf(%.17g, %d) = %.17g, scipy %.17g", x, n, got, want);
    }
    json_decref(j);
}

static void ks_hand_cases(void **state)
{
    (void)state;
    /* disjoint samples of 3 and 3: D = 1, and 2 of the C(6,3) = 20 orders
     * separate them completely: p = 2/20 */
    double a[] = {1, 2, 3}, b[] = {4, 5, 6};
    stats_ks r = stats_ks_2samp(a, 3, b, 3);
    assert_true(r.d == 1.0);
    assert_close(r.p, 0.1, 1e-15);
    /* identical samples: D = 0, p = 1 */
    r = stats_ks_2samp(a, 3, a, 3);
    assert_true(r.d == 0.0 && r.p == 1.0);
    /* 1 against 2, disjoint: D = 1, p = 2/3 (2 of the 3 orders of x among
     * y1 < y2 put it at an end) */
    double c[] = {10, 11};
    r = stats_ks_2samp(a, 1, c, 2);
    assert_true(r.d == 1.0);
    assert_close(r.p, 2.0 / 3, 1e-15);
    r = stats_ks_2samp(a, 0, c, 2);
    assert_true(isnan(r.p) && isnan(r.d));
    double nanv[] = {1, NAN};
    assert_true(isnan(stats_ks_2samp(nanv, 2, c, 2).p));
}

static void auc_matches_sklearn(void **state)
{
    (void)state;
    json_t *j = load("tests/ref/unlearn/auc.json");
    json_t *cases = json_object_get(j, "cases");
    assert_true(json_array_size(cases) > 50);
    size_t i;
    json_t *c;
    json_array_foreach(cases, i, c)
    {
        int np, nn;
        double *p = values(json_object_get(c, "pos"), &np), *n = values(json_object_get(c, "neg"), &nn);
        double want = json_number_value(json_object_get(c, "auc"));
        double got = stats_roc_auc(p, np, n, nn);
        if (got != want)
            fail_msg("auc case %zu (%d, %d): %.17g, sklearn %.17g", i, np, nn, got, want);
        free(p);
        free(n);
    }
    json_decref(j);
}

static void auc_hand_cases(void **state)
{
    (void)state;
    double p[] = {3, 2, 2}, n[] = {2, 1};
    /* pairs: (3,2) 1, (3,1) 1, (2,2) 1/2 twice, (2,1) 1 twice: 5/6 */
    assert_close(stats_roc_auc(p, 3, n, 2), 5.0 / 6, 1e-15);
    assert_close(stats_roc_auc(n, 2, p, 3), 1.0 / 6, 1e-15);
    assert_close(stats_roc_auc(p, 1, p, 1), 0.5, 0);
    assert_true(isnan(stats_roc_auc(p, 0, n, 2)));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(porter_matches_nltk),   cmocka_unit_test(porter_hand_cases),
        cmocka_unit_test(rouge_matches_rouge_score), cmocka_unit_test(rouge_hand_cases),
        cmocka_unit_test(rouge_long_texts),         cmocka_unit_test(ks_matches_scipy),
        cmocka_unit_test(ks_hand_cases),         cmocka_unit_test(auc_matches_sklearn),
        cmocka_unit_test(auc_hand_cases),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
