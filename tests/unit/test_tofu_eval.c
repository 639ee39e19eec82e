/* The TOFU evaluation: every metric against open-unlearning's formulas run
 * in Python (rouge_score, scipy, sklearn; tests/ref/make_tofu_eval_ref.py),
 * the data loader on the shared TOFU files (their SHA-256 as SOURCE.md
 * lists them), the sanity checks, and the per-token scoring of the runtime
 * against its own per-item scores and a direct evaluation. */
#include "testutil.h"

#include <jansson.h>
#include <string.h>
#include <sys/stat.h>

#include "base/file.h"
#include "model/model.h"
#include "model/score.h"
#include "unlearn/tofu_eval.h"

/* ---- the fixture ---- */

static void seq_read(const json_t *o, tofu_seq *q)
{
    const json_t *lp = json_object_get(o, "lp"), *hit = json_object_get(o, "hit"),
                 *mu = json_object_get(o, "mu"), *var = json_object_get(o, "var");
    int n = (int)json_array_size(lp);
    q->n = n;
    q->lp = calloc((size_t)n + 1, sizeof *q->lp);
    q->hit = calloc((size_t)n + 1, 1);
    q->mu = calloc((size_t)n + 1, sizeof *q->mu);
    q->var = calloc((size_t)n + 1, sizeof *q->var);
    for (int i = 0; i < n; i++) {
        q->lp[i] = json_number_value(json_array_get(lp, i));
        q->hit[i] = (unsigned char)json_integer_value(json_array_get(hit, i));
        q->mu[i] = json_number_value(json_array_get(mu, i));
        q->var[i] = json_number_value(json_array_get(var, i));
    }
}

static void split_read(const json_t *rows, tofu_split_id id, tofu_split *sp, tofu_split_scores *ss)
{
    memset(sp, 0, sizeof *sp);
    sp->id = id;
    sp->n = (int)json_array_size(rows);
    sp->rows = calloc((size_t)sp->n, sizeof *sp->rows);
    ss->split = sp;
    ss->items = calloc((size_t)sp->n, sizeof *ss->items);
    for (int i = 0; i < sp->n; i++) {
        const json_t *r = json_array_get(rows, i);
        tofu_row *row = &sp->rows[i];
        tofu_item_scores *it = &ss->items[i];
        row->question = strdup(json_string_value(json_object_get(r, "question")));
        row->answer = strdup(json_string_value(json_object_get(r, "answer")));
        seq_read(json_object_get(r, "ans"), &it->ans);
        if (json_object_get(r, "para"))
            seq_read(json_object_get(r, "para"), &it->para);
        const json_t *pert = json_object_get(r, "pert");
        it->n_pert = row->n_pert = (int)json_array_size(pert);
        for (int k = 0; k < it->n_pert; k++) {
            seq_read(json_array_get(pert, k), &it->pert[k]);
            row->pert[k] = strdup("x");
        }
        it->input = strdup(json_string_value(json_object_get(r, "input")));
        const char *g = json_string_value(json_object_get(r, "generation"));
        it->generation = g ? strdup(g) : NULL;
    }
}

typedef struct {
    json_t *fx;
    tofu_split split[TOFU_NSPLITS];
    tofu_split_scores sc[TOFU_NSPLITS];
    tofu_metric_ctx ctx;
} fixture;

static void fixture_load(fixture *f)
{
    json_error_t je;
    memset(f, 0, sizeof *f);
    f->fx = json_load_file("tests/ref/tofu_eval/fixture.json", 0, &je);
    if (!f->fx)
        fail_msg("fixture: %s", je.text);
    static const char *names[TOFU_NSPLITS] = {"forget", "retain", "ra", "wf", "holdout"};
    const json_t *splits = json_object_get(f->fx, "splits");
    for (int s = 0; s < TOFU_NSPLITS; s++) {
        split_read(json_object_get(splits, names[s]), s, &f->split[s], &f->sc[s]);
        f->ctx.split[s] = &f->sc[s];
    }
    f->ctx.min_k = json_number_value(json_object_get(f->fx, "min_k"));
}

static void fixture_free(fixture *f)
{
    for (int s = 0; s < TOFU_NSPLITS; s++) {
        tofu_split_scores_free(&f->sc[s]);
        tofu_split_free(&f->split[s]);
    }
    json_decref(f->fx);
}

static double num(const json_t *v)
{
    if (!json_is_number(v))
        fail_msg("not a number");
    return json_number_value(v);
}

static const json_t *item(const json_t *entry, int i)
{
    char k[16];
    snprintf(k, sizeof k, "%d", i);
    const json_t *v = json_object_get(json_object_get(entry, "value_by_index"), k);
    if (!v)
        fail_msg("no value_by_index[%d]", i);
    return v;
}

/* Compares one metric with the reference: agg_value and each item. */
static void check_metric(const char *name, const json_t *got, const json_t *want)
{
    const json_t *g = json_object_get(got, name), *w = json_object_get(want, name);
    if (!g || !w)
        fail_msg("%s: missing (got %p, want %p)", name, (void *)g, (void *)w);
    const json_t *wa = json_object_get(w, "agg_value"), *ga = json_object_get(g, "agg_value");
    if (json_is_null(wa)) {
        if (!json_is_null(ga))
            fail_msg("%s: %g where the reference has null", name, json_number_value(ga));
        return;
    }
    double tol = strstr(name, "ROUGE") || !strcmp(name, "forget_quality") ? 1e-12 : 1e-6;
    if (fabs(num(ga) - num(wa)) > tol)
        fail_msg("%s: agg_value %.12g, reference %.12g", name, num(ga), num(wa));
    const json_t *by = json_object_get(w, "by_index");
    for (size_t i = 0; i < json_array_size(by); i++) {
        const json_t *wv = json_array_get(by, i), *gi = item(g, (int)i);
        if (json_is_array(wv)) { /* perturbed probabilities */
            const json_t *gp = json_object_get(gi, "prob");
            assert_int_equal(json_array_size(gp), json_array_size(wv));
            for (size_t k = 0; k < json_array_size(wv); k++)
                assert_close(num(json_array_get(gp, k)), num(json_array_get(wv, k)), 1e-9);
            continue;
        }
        const char *key = strstr(name, "ROUGE") ? "rougeL_recall"
                          : json_object_get(gi, "prob") ? "prob" : "score";
        double gv = num(json_object_get(gi, key));
        if (fabs(gv - num(wv)) > (strstr(name, "ROUGE") ? 0 : 1e-9))
            fail_msg("%s[%zu].%s: %.12g, reference %.12g", name, i, key, gv, num(wv));
    }
    if (strstr(name, "ROUGE")) {
        static const char *more[2] = {"rouge1_recall", "rougeL_f1"};
        for (int m = 0; m < 2; m++) {
            const json_t *arr = json_object_get(w, more[m]);
            for (size_t i = 0; i < json_array_size(arr); i++)
                if (num(json_object_get(item(g, (int)i), more[m])) !=
                    num(json_array_get(arr, i)))
                    fail_msg("%s[%zu].%s differs", name, i, more[m]);
        }
        assert_non_null(json_object_get(item(g, 0), "input"));
        assert_non_null(json_object_get(item(g, 0), "ground_truth"));
        assert_non_null(json_object_get(item(g, 0), "generation"));
    }
    if (!strncmp(name, "mia_", 4)) {
        static const char *side[2] = {"forget", "holdout"};
        for (int s = 0; s < 2; s++) {
            const json_t *arr = json_object_get(w, side[s]), *gs = json_object_get(g, side[s]);
            for (size_t i = 0; i < json_array_size(arr); i++)
                assert_close(num(json_object_get(item(gs, (int)i), "score")),
                             num(json_array_get(arr, i)), 1e-9);
        }
        assert_close(num(json_object_get(g, "auc")), num(wa), 1e-12);
    }
}

static void test_metrics_match_reference(void **state)
{
    (void)state;
    fixture f;
    fixture_load(&f);
    f.ctx.oracle = json_object_get(f.fx, "oracle");
    json_t *eval = NULL;
    cape_err e = {0};
    assert_int_equal(tofu_metrics_compute(&f.ctx, &eval, &e), 0);
    const json_t *want = json_object_get(f.fx, "expected");
    const char *key;
    json_t *v;
    int n = 0;
    json_object_foreach((json_t *)want, key, v)
    {
        check_metric(key, eval, want);
        n++;
    }
    /* every metric of the table has a reference, and no more */
    assert_int_equal(n, tofu_n_metrics);
    assert_int_equal((int)json_object_size(eval), tofu_n_metrics);
    json_decref(eval);

    /* without the oracle: forget_quality null, privleak against 0.5 */
    f.ctx.oracle = NULL;
    assert_int_equal(tofu_metrics_compute(&f.ctx, &eval, &e), 0);
    want = json_object_get(f.fx, "expected_no_oracle");
    check_metric("forget_quality", eval, want);
    check_metric("privleak", eval, want);
    assert_true(json_is_null(json_object_get(json_object_get(eval, "forget_quality"), "agg_value")));
    /* the summary: metric -> agg_value */
    json_t *sum = tofu_summary(eval);
    assert_int_equal((int)json_object_size(sum), tofu_n_metrics);
    assert_close(num(json_object_get(sum, "model_utility")),
                 num(json_object_get(json_object_get(want, "model_utility"), "agg_value")), 1e-6);
    json_decref(sum);
    assert_int_equal(tofu_sanity(eval, &e), 0);
    json_decref(eval);
    fixture_free(&f);
}

/* Hand-checked extraction strength (1 - k/T, open-unlearning's loop: k stops
 * at T - 1 when the last token is missed) and exact memorisation. */
static void test_memorization_by_hand(void **state)
{
    (void)state;
    static const unsigned char hits[4][4] = {{1, 1, 1, 1}, {0, 1, 1, 1}, {1, 1, 1, 0}, {1, 0, 1, 1}};
    tofu_split sp = {.id = TOFU_FORGET, .n = 4};
    tofu_row rows[4] = {{0}};
    tofu_item_scores items[4];
    memset(items, 0, sizeof items);
    double lp[4] = {-1, -1, -1, -1}, z[4] = {0};
    sp.rows = rows;
    for (int i = 0; i < 4; i++)
        items[i].ans = (tofu_seq){4, lp, (unsigned char *)hits[i], z, z};
    tofu_split_scores ss = {.split = &sp, .items = items};
    tofu_metric_ctx c = {.split = {[TOFU_FORGET] = &ss}, .min_k = 0.4};
    cape_err e = {0};
    for (int m = 0; m < tofu_n_metrics; m++) {
        if (strcmp(tofu_metrics[m].name, "extraction_strength") &&
            strcmp(tofu_metrics[m].name, "exact_memorization"))
            continue;
        json_t *entry = NULL;
        assert_int_equal(tofu_metrics[m].fn(&c, tofu_metrics[m].arg, NULL, &entry, &e), 0);
        int es = !strcmp(tofu_metrics[m].name, "extraction_strength");
        double want[4] = {es ? 1 : 1, es ? 0.75 : 0.75, es ? 0.25 : 0.75, es ? 0.5 : 0.75};
        for (int i = 0; i < 4; i++)
            assert_close(num(json_object_get(item(entry, i), "score")), want[i], 1e-15);
        json_decref(entry);
    }
}

static void test_sanity_checks(void **state)
{
    (void)state;
    fixture f;
    fixture_load(&f);
    cape_err e = {0};
    json_t *eval = NULL;
    /* the retain split scored as the forget split: identical metrics */
    f.ctx.split[TOFU_RETAIN] = &f.sc[TOFU_FORGET];
    assert_int_equal(tofu_metrics_compute(&f.ctx, &eval, &e), 0);
    assert_int_equal(tofu_sanity(eval, &e), CAPE_EFAIL);
    assert_non_null(strstr(e.msg, "identical"));
    json_decref(eval);
    /* model utility exactly 0: no generation overlaps a world-facts answer */
    f.ctx.split[TOFU_RETAIN] = &f.sc[TOFU_RETAIN];
    for (int i = 0; i < f.split[TOFU_WF].n; i++) {
        free(f.sc[TOFU_WF].items[i].generation);
        f.sc[TOFU_WF].items[i].generation = strdup("");
    }
    err_clear(&e);
    assert_int_equal(tofu_metrics_compute(&f.ctx, &eval, &e), 0);
    assert_true(num(json_object_get(json_object_get(eval, "model_utility"), "agg_value")) == 0);
    assert_int_equal(tofu_sanity(eval, &e), CAPE_EFAIL);
    assert_non_null(strstr(e.msg, "model_utility is exactly 0 (wf_Q_A_ROUGE is 0)"));
    json_decref(eval);
    /* a split whose answers have no scored token */
    for (int i = 0; i < f.split[TOFU_RA].n; i++)
        f.sc[TOFU_RA].items[i].ans.n = 0;
    err_clear(&e);
    assert_int_equal(tofu_metrics_compute(&f.ctx, &eval, &e), 0);
    assert_int_equal(tofu_sanity(eval, &e), CAPE_EFAIL);
    assert_non_null(strstr(e.msg, "the ra split has no scored item"));
    json_decref(eval);
    fixture_free(&f);
}

static void test_sha256(void **state)
{
    (void)state;
    char h[65];
    tofu_sha256_hex("", 0, h);
    assert_string_equal(h, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    tofu_sha256_hex("abc", 3, h);
    assert_string_equal(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    /* 56 bytes: the padding spills into a second block */
    const char *m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    tofu_sha256_hex(m, strlen(m), h);
    assert_string_equal(h, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

static void test_load_shared_splits(void **state)
{
    (void)state;
    const char *dir = test_shared_path("data/tofu");
    struct stat st;
    if (stat(dir, &st)) {
        skip();
        return;
    }
    cape_err e = {0};
    tofu_split s;
    int pct;
    assert_int_equal(tofu_forget_parse("forget01", &pct, &e), 0);
    assert_int_equal(pct, 1);
    assert_int_equal(tofu_forget_parse("forget02", &pct, &e), CAPE_EINPUT);
    assert_non_null(strstr(e.msg, "unknown split 'forget02'"));
    err_clear(&e);
    /* counts and hashes as SOURCE.md lists them */
    assert_int_equal(tofu_split_load(&s, dir, TOFU_FORGET, 1, 0, &e), 0);
    assert_int_equal(s.n, 40);
    assert_int_equal(s.rows[0].n_pert, 5);
    assert_non_null(s.rows[0].para);
    assert_string_equal(s.sha256, "5036c818a2374c88508b041ec8be17ef720757a213c4f2b862c17c38aac2886e");
    assert_non_null(strstr(s.rows[39].question, "Nikolai Abilov"));
    tofu_split_free(&s);
    assert_int_equal(tofu_split_load(&s, dir, TOFU_RA, 1, 0, &e), 0);
    assert_int_equal(s.n, 100);
    assert_int_equal(s.rows[0].n_pert, 3);
    assert_null(s.rows[0].para);
    tofu_split_free(&s);
    assert_int_equal(tofu_split_load(&s, dir, TOFU_WF, 1, 7, &e), 0);
    assert_int_equal(s.n, 7);
    assert_string_equal(s.sha256, "d2acc9cb83fa13f7aaa9fa44afb7b438edf0c2bdf2d85bd4f2d333da40c57fd7");
    tofu_split_free(&s);
    assert_int_equal(tofu_split_load(&s, dir, TOFU_HOLDOUT, 10, 0, &e), 0);
    assert_int_equal(s.n, 400);
    assert_string_equal(s.file, "holdout10.json");
    tofu_split_free(&s);
    assert_int_equal(tofu_split_load(&s, dir, TOFU_RETAIN, 10, 0, &e), 0);
    assert_int_equal(s.n, 400);
    tofu_split_free(&s);
}

static void write_file(const char *path, const char *text)
{
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
}

static void test_load_errors(void **state)
{
    (void)state;
    char dir[] = "/tmp/cape_tofu_XXXXXX", path[256];
    assert_non_null(mkdtemp(dir));
    cape_err e = {0};
    tofu_split s;
    /* missing file */
    assert_int_equal(tofu_split_load(&s, dir, TOFU_RA, 1, 0, &e), CAPE_EINPUT);
    err_clear(&e);
    /* broken JSON, a row without its keys, no rows */
    snprintf(path, sizeof path, "%s/real_authors_perturbed.json", dir);
    write_file(path, "[{\"question\": \"q\", \"answer\": \"a\"");
    assert_int_equal(tofu_split_load(&s, dir, TOFU_RA, 1, 0, &e), CAPE_EINPUT);
    assert_non_null(strstr(e.msg, "real_authors_perturbed.json"));
    err_clear(&e);
    write_file(path, "[{\"question\": \"q\", \"answer\": \"a\"}]");
    assert_int_equal(tofu_split_load(&s, dir, TOFU_RA, 1, 0, &e), CAPE_EINPUT);
    assert_non_null(strstr(e.msg, "row 1 has no perturbed_answer"));
    err_clear(&e);
    write_file(path, "[]");
    assert_int_equal(tofu_split_load(&s, dir, TOFU_RA, 1, 0, &e), CAPE_EINPUT);
    assert_non_null(strstr(e.msg, "no rows"));
    err_clear(&e);
    /* the chunked form (one array per line) is read too */
    snprintf(path, sizeof path, "%s/holdout05.json", dir);
    write_file(path, "[{\"question\": \"q1\", \"answer\": \"a1\"}]\n"
                     "[{\"question\": \"q2\", \"answer\": \"a2\"}]\n");
    assert_int_equal(tofu_split_load(&s, dir, TOFU_HOLDOUT, 5, 0, &e), 0);
    assert_int_equal(s.n, 2);
    assert_string_equal(s.rows[1].answer, "a2");
    tofu_split_free(&s);
    /* an oracle file that is not a TOFU_EVAL.json */
    json_t *o = NULL;
    snprintf(path, sizeof path, "%s/oracle.json", dir);
    write_file(path, "{\"forget_truth_ratio\": {\"agg_value\": 1}}");
    assert_int_equal(tofu_oracle_load(path, &o, &e), CAPE_EINPUT);
    assert_non_null(strstr(e.msg, "not a TOFU_EVAL.json"));
    err_clear(&e);
    write_file(path, "{\"forget_truth_ratio\": {\"value_by_index\": {\"0\": {\"score\": 0.5}}}}");
    assert_int_equal(tofu_oracle_load(path, &o, &e), 0);
    json_decref(o);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

static void test_render(void **state)
{
    (void)state;
    char *p = tofu_render_prompt("Question: {question}\nAnswer:", "Who?");
    assert_string_equal(p, "Question: Who?\nAnswer:");
    free(p);
    assert_null(tofu_render_prompt("no slot", "Who?"));
}

/* The per-token detail of score_items_par_ex: sums to the item's log p,
 * hits agree with greedy, the moments match the model's logits, and the
 * numbers do not depend on the batch. Truncation scores what fits. */
static void test_score_tokens(void **state)
{
    (void)state;
    const char *path = test_shared_path("data/models/stories260K/stories260K.gguf");
    struct stat st;
    if (stat(path, &st)) {
        skip();
        return;
    }
    cape_err e = {0};
    model *m = model_load(path, NULL, &e);
    assert_non_null(m);
    score_item items[4] = {{"Once upon a time", " there was a little girl"},
                           {"Once upon a time", " a cat sat"},
                           {"The dog", " ran to the park and played"},
                           {"Lily", " was happy"}};
    score_result r1[4], r4[4];
    score_tokens t1[4], t4[4];
    for (int pass = 0; pass < 2; pass++) {
        int B = pass ? 4 : 1;
        model_session *s = model_session_new(m, &(model_session_opts){.n_ctx = 64, .n_seq = B}, &e);
        assert_non_null(s);
        score_par_opts po = {.tokens = pass ? t4 : t1};
        assert_int_equal(score_items_par_ex(s, m, items, 4, -1, &po, NULL, NULL, pass ? r4 : r1, &e), 0);
        model_session_free(s);
    }
    int nv = model_cfg(m)->n_vocab;
    for (int i = 0; i < 4; i++) {
        assert_int_equal(t1[i].n, r1[i].n_tokens);
        double sum = 0;
        int all = 1;
        for (int k = 0; k < t1[i].n; k++) {
            sum += t1[i].logprob[k];
            all &= t1[i].hit[k];
            assert_true(t1[i].logprob[k] == t4[i].logprob[k]);
            assert_true(t1[i].mu[k] == t4[i].mu[k]);
        }
        assert_close(sum, r1[i].logprob, 1e-9);
        assert_int_equal(all, r1[i].greedy);
        assert_true(r1[i].logprob == r4[i].logprob);
    }
    /* the moments of the first answer token of item 0, from the logits */
    model_session *s = model_session_new(m, &(model_session_opts){.n_ctx = 64}, &e);
    int *ids, n;
    assert_int_equal(tok_encode(model_tok(m), "Once upon a time", 16, TOK_ADD_BOS, &ids, &n, &e), 0);
    assert_int_equal(model_eval(s, ids, n, MODEL_LOGITS_LAST, &e), 0);
    const float *lg = model_logits(s, 0);
    double mx = lg[0], z = 0, mu = 0, m2 = 0;
    for (int v = 1; v < nv; v++)
        mx = lg[v] > mx ? lg[v] : mx;
    for (int v = 0; v < nv; v++)
        z += exp(lg[v] - mx);
    for (int v = 0; v < nv; v++) {
        double lp = lg[v] - mx - log(z), p = exp(lp);
        mu += p * lp;
        m2 += p * lp * lp;
    }
    /* the same logits up to the f32 rounding of another row grouping */
    assert_close(t1[0].mu[0], mu, 1e-5);
    assert_close(t1[0].var[0], m2 - mu * mu, 1e-5);
    free(ids);
    model_session_free(s);
    /* truncation: a context of 6 keeps the tokens that fit */
    s = model_session_new(m, &(model_session_opts){.n_ctx = 6, .n_seq = 2}, &e);
    score_result rt[4];
    score_tokens tt[4];
    assert_int_equal(score_items_par_ex(s, m, items, 4, -1, NULL, NULL, NULL, rt, &e), CAPE_EINPUT);
    err_clear(&e);
    score_par_opts po = {.truncate = 1, .tokens = tt};
    assert_int_equal(score_items_par_ex(s, m, items, 4, -1, &po, NULL, NULL, rt, &e), 0);
    for (int i = 0; i < 4; i++) {
        assert_true(rt[i].n_tokens <= r1[i].n_tokens);
        assert_int_equal(tt[i].n, rt[i].n_tokens);
        for (int k = 0; k < tt[i].n; k++)
            assert_close(tt[i].logprob[k], t1[i].logprob[k], 1e-4);
        score_tokens_free(&tt[i]);
    }
    model_session_free(s);
    for (int i = 0; i < 4; i++) {
        score_tokens_free(&t1[i]);
        score_tokens_free(&t4[i]);
    }
    model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_metrics_match_reference),
        cmocka_unit_test(test_memorization_by_hand),
        cmocka_unit_test(test_sanity_checks),
        cmocka_unit_test(test_sha256),
        cmocka_unit_test(test_load_shared_splits),
        cmocka_unit_test(test_load_errors),
        cmocka_unit_test(test_render),
        cmocka_unit_test(test_score_tokens),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
