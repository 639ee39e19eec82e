/* Probing and steering on a real model (stories260K): captured states agree
 * with the model's own output, steering follows llama.cpp's reference texts,
 * and the TruthfulQA scorer is consistent with raw log-likelihoods. */
#include "testutil.h"

#include <string.h>

#include "model/model.h"
#include "model/score.h"
#include "steer/apply.h"
#include "steer/build.h"
#include "steer/capture.h"
#include "steer/mceval.h"
#include "steer/probe_run.h"
#include "steer/prompts.h"

static model *M;
static model_session *S;

static int setup(void **state)
{
    (void)state;
    cape_err e = {0};
    M = model_load(test_shared_path("data/models/stories260K/stories260K.gguf"), NULL, &e);
    if (!M)
        return -1;
    S = model_session_new(M, &(model_session_opts){.n_threads = 1, .n_ctx = 1024}, &e);
    return S ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    model_session_free(S);
    model_free(M);
    return 0;
}

typedef struct {
    float *last;
    int n_tokens;
} keep_last;

static int keep(void *user, int index, const capture_row *row, cape_err *e)
{
    (void)index;
    (void)e;
    keep_last *k = user;
    memcpy(k->last, row->resid, (size_t)row->n_layers * row->dim * sizeof(float));
    k->n_tokens = row->n_tokens;
    return 0;
}

/* The last block's captured state, through the final norm and unembedding,
 * gives exactly the logits the model itself returns for the last token. */
static void capture_matches_model_output(void **state)
{
    (void)state;
    const model_config *c = model_cfg(M);
    float *resid = malloc((size_t)c->n_layers * c->dim * sizeof *resid);
    keep_last k = {resid, 0};
    char *prompt[] = {"Once upon a time"};
    capture_opts o = {.add_bos = -1};
    cape_err e = {0};
    assert_int_equal(capture_prompts(S, M, prompt, 1, &o, keep, &k, &e), 0);
    assert_int_equal(k.n_tokens, 5); /* <s> Once upon a time */
    float *xn = malloc((size_t)c->dim * sizeof *xn), *lg = malloc((size_t)c->n_vocab * sizeof *lg);
    model_final_norm(S, resid + (size_t)(c->n_layers - 1) * c->dim, 1, xn);
    model_unembed(S, xn, 1, lg);
    /* llama2.c's logits after the prompt (SOURCE.md) */
    const double ref[8] = {-10.136574, -5.329465, -10.138085, -10.136853,
                           -10.137212, -10.138330, -10.137267, -10.137639};
    for (int i = 0; i < 8; i++)
        assert_close(lg[i], ref[i], 1e-4);
    free(xn);
    free(lg);
    free(resid);
}

static void steering_reproduces_llama_cpp(void **state)
{
    (void)state;
    cvec cv;
    cape_err e = {0};
    assert_int_equal(cvec_load("tests/ref/cv_happy_mean.gguf", 64, &cv, &e), 0);
    struct {
        float scale;
        int lo, hi;
        const char *text;
    } ref[] = {
        {1, 1, 4, ", there was a little girl named Lily. She loved to play in the park with her "
                  "friends. One day, she went"},
        {-1, 1, 4, ", there was a little boy named Timmy. Timmy loved to play with his toy cars. "
                   "One day, Timmy went to the"},
        {3, 3, 3, ", there was a little girl named Lily who loved to play in the park. She was "
                  "very happy and pretend"},
    };
    sample_opts greedy = {.temp = 0};
    for (size_t i = 0; i < sizeof ref / sizeof *ref; i++) {
        steer_cfg c = {.cv = &cv, .scale = ref[i].scale, .layer_lo = ref[i].lo,
                       .layer_hi = ref[i].hi, .gate_layer = -1};
        char *text = NULL;
        assert_int_equal(steer_generate(S, M, "Once upon a time", &c, &greedy, 32, 0, NULL, NULL,
                                        &text, NULL, &e),
                         0);
        assert_string_equal(text, ref[i].text);
        free(text);
    }
    /* scale 0 leaves the model as it is */
    steer_cfg zero = {.cv = &cv, .scale = 0, .layer_lo = -1, .layer_hi = -1, .gate_layer = -1};
    char *a = NULL, *b = NULL;
    steer_generate(S, M, "Once upon a time", &zero, &greedy, 32, 0, NULL, NULL, &a, NULL, &e);
    steer_generate(S, M, "Once upon a time", NULL, &greedy, 32, 0, NULL, NULL, &b, NULL, &e);
    assert_string_equal(a, b);
    assert_string_equal(b, ", there was a little girl named Lily. She loved to play outside in "
                           "the park. One day, she saw");
    free(a);
    free(b);
    /* a layer the model does not have is refused */
    steer_cfg bad = {.cv = &cv, .scale = 1, .layer_lo = 2, .layer_hi = 9, .gate_layer = -1};
    steer_plan p;
    assert_int_equal(steer_plan_make(&bad, model_cfg(M), &p, &e), CAPE_EINPUT);
    assert_non_null(strstr(e.msg, "out of range"));
    cvec_free(&cv);
}

/* The difference-of-means direction from the happy/sad pairs is, at every
 * block, the normalised difference of the captured means. */
static void build_direction_is_mean_difference(void **state)
{
    (void)state;
    prompt_set P, N;
    cape_err e = {0};
    assert_int_equal(prompts_read("tests/ref/steer/happy.txt", &P, &e), 0);
    assert_int_equal(prompts_read("tests/ref/steer/sad.txt", &N, &e), 0);
    sbuild_opts o = {.method = DIR_MEAN, .rule = LAYER_QUARTER};
    sbuild_result r;
    assert_int_equal(sbuild_run(S, M, P.text, P.n, N.text, N.n, &o, &r, &e), 0);
    assert_int_equal(r.chosen, 5 / 4);
    const model_config *c = model_cfg(M);
    double *mean = calloc((size_t)c->n_layers * c->dim, sizeof *mean);
    float *resid = malloc((size_t)c->n_layers * c->dim * sizeof *resid);
    keep_last k = {resid, 0};
    capture_opts co = {.add_bos = -1};
    for (int i = 0; i < 12; i++) {
        char *one[] = {i < 6 ? P.text[i] : N.text[i - 6]};
        capture_prompts(S, M, one, 1, &co, keep, &k, &e);
        for (int j = 0; j < c->n_layers * c->dim; j++)
            mean[j] += (i < 6 ? 1 : -1) * resid[j] / 6.0;
    }
    for (int l = 0; l < c->n_layers; l++) {
        double norm = 0;
        for (int j = 0; j < c->dim; j++)
            norm += mean[l * c->dim + j] * mean[l * c->dim + j];
        for (int j = 0; j < c->dim; j++)
            assert_close(r.dir[l * c->dim + j], mean[l * c->dim + j] / sqrt(norm), 1e-5);
    }
    free(mean);
    free(resid);
    sbuild_free(&r);
    /* PCA needs pairs */
    sbuild_opts pca = {.method = DIR_PCA, .rule = LAYER_QUARTER};
    assert_int_equal(sbuild_run(S, M, P.text, 6, N.text, 5, &pca, &r, &e), CAPE_EINPUT);
    prompts_free(&P);
    prompts_free(&N);
}

/* MC1/MC2 from mceval equal the ones computed from raw score_items, and a
 * zero-scale vector changes nothing. */
static void truthfulqa_scoring_is_consistent(void **state)
{
    (void)state;
    tqa_set s;
    cape_err e = {0};
    assert_int_equal(tqa_load(test_shared_path("data/truthfulqa/TruthfulQA.csv"), 1, &s, &e), 0);
    int idx[2] = {0, 5};
    mceval_run run;
    assert_int_equal(mceval_truthfulqa(S, M, &s, idx, 2, NULL, NULL, NULL, &run, &e), 0);
    for (int q = 0; q < 2; q++) {
        const tqa_item *it = &s.item[idx[q]];
        char *ctx = tqa_context(it);
        int n = it->ntrue + it->nfalse;
        score_item items[32];
        score_result res[32];
        char conts[32][512];
        for (int k = 0; k < n; k++) {
            snprintf(conts[k], sizeof conts[k], " %s",
                     k < it->ntrue ? it->true_ans[k] : it->false_ans[k - it->ntrue]);
            items[k] = (score_item){ctx, conts[k]};
        }
        assert_int_equal(score_items(S, M, items, n, -1, res, &e), 0);
        double lt[32], lf[32];
        for (int k = 0; k < n; k++)
            (k < it->ntrue ? lt : lf)[k < it->ntrue ? k : k - it->ntrue] = res[k].logprob;
        tqa_score sc = tqa_score_item(it, lt, lf);
        assert_int_equal(run.mc1[q], sc.mc1);
        assert_close(run.mc2[q], sc.mc2, 1e-12);
        free(ctx);
    }
    cvec cv;
    assert_int_equal(cvec_load("tests/ref/cv_happy_mean.gguf", 64, &cv, &e), 0);
    steer_cfg zero = {.cv = &cv, .scale = 0, .layer_lo = -1, .layer_hi = -1, .gate_layer = -1};
    mceval_run z;
    assert_int_equal(mceval_truthfulqa(S, M, &s, idx, 2, &zero, NULL, NULL, &z, &e), 0);
    for (int q = 0; q < 2; q++)
        assert_close(z.mc2[q], run.mc2[q], 1e-9);
    mceval_cmp cmp;
    mceval_compare(&run, &z, 200, 1, &cmp);
    assert_close(cmp.d_mc2.v, 0, 1e-9);
    assert_int_equal(cmp.n_fixed + cmp.n_broken, 0);
    mceval_free(&z);
    mceval_free(&run);
    cvec_free(&cv);
    tqa_free(&s);
}

static void probe_runs_and_counts(void **state)
{
    (void)state;
    prompt_set P, N;
    cape_err e = {0};
    prompts_read("tests/ref/steer/happy.txt", &P, &e);
    prompts_read("tests/ref/steer/sad.txt", &N, &e);
    prun_opts o = {.heads = 1, .seed = 1};
    prun_result r;
    assert_int_equal(prun_run(S, M, P.text, P.n, N.text, N.n, &o, &r, &e), 0);
    for (int l = 0; l < r.n_layers; l++) {
        assert_true(r.hidden[l] > 0.5 && r.hidden[l] <= 1.0); /* similar stories */
        assert_true(r.d_rep[l] >= 1.0 && r.d_rep[l] <= 11.0); /* 12 vectors, centred */
    }
    assert_int_equal(r.head_all.heads, 5 * 8);
    assert_int_equal(r.d_rep_n, 12);
    prun_free(&r);
    prompts_free(&P);
    prompts_free(&N);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(capture_matches_model_output),
        cmocka_unit_test(steering_reproduces_llama_cpp),
        cmocka_unit_test(build_direction_is_mean_difference),
        cmocka_unit_test(truthfulqa_scoring_is_consistent),
        cmocka_unit_test(probe_runs_and_counts),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
