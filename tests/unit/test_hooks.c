/* Hooks: steering stories260K with the llama.cpp control vector of
 * tests/ref/cv_happy_mean.gguf, added through the RESID_POST hook, must give
 * the greedy texts llama.cpp gives with --control-vector-scaled (references in
 * shared/notes/runtime_peers.md section 5); hooks must see consistent
 * activations in batched and single-token evaluation. */
#include "testutil.h"

#include <string.h>

#include "model/gguf.h"
#include "model/model.h"
#include "model/sample.h"
#include "model/score.h"

typedef struct {
    const float *dir[8];
    float scale;
    int lo, hi;
} steer;

static void add_vector(const model_hook_info *in, float *x, void *user)
{
    steer *s = user;
    if (in->point != MODEL_HOOK_RESID_POST || in->layer < s->lo || in->layer > s->hi ||
        !s->dir[in->layer])
        return;
    for (int t = 0; t < in->n_tokens; t++)
        for (int i = 0; i < in->width; i++)
            x[(size_t)t * in->width + i] += s->scale * s->dir[in->layer][i];
}

static void greedy(model *m, steer *st, int *out)
{
    cape_err e = {0};
    model_session *s = model_session_new(m, NULL, &e);
    assert_non_null(s);
    if (st)
        model_session_set_hook(s, add_vector, st);
    int ids[5] = {1, 403, 407, 261, 378};
    assert_int_equal(model_eval(s, ids, 5, MODEL_LOGITS_LAST, &e), 0);
    for (int i = 0; i < 32; i++) {
        out[i] = sample_argmax(model_logits(s, 0), model_cfg(m)->n_vocab);
        assert_int_equal(model_eval(s, &out[i], 1, MODEL_LOGITS_LAST, &e), 0);
    }
    model_session_free(s);
}

static void control_vector_matches_llama_cpp(void **state)
{
    (void)state;
    static const int plus1[32] = {432, 383, 286, 261, 376, 298, 315, 421, 395, 317, 426,
                                  338, 401, 396, 267, 337, 322, 265, 282, 295, 433, 335,
                                  311, 374, 419, 426, 385, 328, 432, 358, 263, 377};
    static const int minus1[32] = {432, 383, 286, 261, 376, 268, 414, 422, 395, 405, 426,
                                   405, 401, 396, 267, 337, 335, 345, 267, 422, 280, 295,
                                   419, 426, 385, 328, 432, 405, 263, 377, 267, 265};
    static const int plus3_l3[32] = {432, 383, 286, 261, 376, 298, 315, 421, 395, 317, 263,
                                     415, 414, 401, 396, 267, 337, 322, 265, 282, 295, 433,
                                     426, 338, 286, 399, 393, 269, 282, 276, 413, 367};
    cape_err e = {0};
    gguf_file *cv = gguf_open("tests/ref/cv_happy_mean.gguf", &e);
    assert_non_null(cv);
    model *m = model_load(test_shared_path("data/models/stories260K/stories260K.gguf"), NULL, &e);
    assert_non_null(m);
    steer st = {0};
    for (int l = 1; l <= 4; l++) {
        char name[32];
        snprintf(name, sizeof name, "direction.%d", l);
        const gguf_tensor *t = gguf_find_tensor(cv, name);
        assert_non_null(t);
        assert_int_equal(t->ne[0], model_cfg(m)->dim);
        st.dir[l] = t->data;
    }
    int out[32];
    st.scale = 1;
    st.lo = 1;
    st.hi = 4;
    greedy(m, &st, out);
    assert_memory_equal(out, plus1, sizeof out);
    st.scale = -1;
    greedy(m, &st, out);
    assert_memory_equal(out, minus1, sizeof out);
    st.scale = 3;
    st.lo = st.hi = 3;
    greedy(m, &st, out);
    assert_memory_equal(out, plus3_l3, sizeof out);
    model_free(m);
    gguf_close(cv);
}

typedef struct {
    float last_post[5][64]; /* RESID_POST per layer at the newest position */
    float pre_next[5][64];
    int calls[MODEL_HOOK_NPOINTS];
    int bad_width;
} recorder;

static void record(const model_hook_info *in, float *x, void *user)
{
    recorder *r = user;
    r->calls[in->point]++;
    int want = in->point == MODEL_HOOK_ATTN_HEADS ? in->n_heads * in->head_dim
               : in->point == MODEL_HOOK_MLP_HIDDEN ? 172 : 64;
    r->bad_width |= in->width != want;
    const float *row = x + (size_t)(in->n_tokens - 1) * in->width;
    if (in->point == MODEL_HOOK_RESID_POST)
        memcpy(r->last_post[in->layer], row, 64 * 4);
    if (in->point == MODEL_HOOK_RESID_PRE && in->layer > 0)
        memcpy(r->pre_next[in->layer - 1], row, 64 * 4);
}

static void hooks_consistent_batched_and_stepwise(void **state)
{
    (void)state;
    cape_err e = {0};
    model *m = model_load(test_shared_path("data/models/stories260K/stories260K.gguf"), NULL, &e);
    assert_non_null(m);
    int ids[5] = {1, 403, 407, 261, 378};
    static recorder a, b;
    model_session *s = model_session_new(m, NULL, &e);
    model_session_set_hook(s, record, &a);
    assert_int_equal(model_eval(s, ids, 5, MODEL_LOGITS_LAST, &e), 0);
    float with_hook[512];
    memcpy(with_hook, model_logits(s, 0), sizeof with_hook);
    for (int p = 0; p < MODEL_HOOK_NPOINTS; p++)
        assert_int_equal(a.calls[p], 5);
    assert_false(a.bad_width);
    for (int l = 0; l < 4; l++) /* RESID_POST of l is RESID_PRE of l + 1 */
        assert_memory_equal(a.last_post[l], a.pre_next[l], 64 * 4);
    model_session_free(s);
    s = model_session_new(m, NULL, &e);
    model_session_set_hook(s, record, &b);
    for (int i = 0; i < 5; i++)
        assert_int_equal(model_eval(s, &ids[i], 1, MODEL_LOGITS_LAST, &e), 0);
    for (int l = 0; l < 5; l++)
        for (int i = 0; i < 64; i++)
            assert_close(b.last_post[l][i], a.last_post[l][i], 1e-5);
    /* a hook that only reads changes nothing */
    model_session_free(s);
    s = model_session_new(m, NULL, &e);
    assert_int_equal(model_eval(s, ids, 5, MODEL_LOGITS_LAST, &e), 0);
    assert_memory_equal(model_logits(s, 0), with_hook, sizeof with_hook);
    model_session_free(s);
    model_free(m);
}

/* score_items against log-softmax of transformers' logits (gpt2 fixture). */
static void score_matches_reference_logits(void **state)
{
    (void)state;
    cape_err e = {0};
    model *m = model_load("tests/ref/hf/gpt2", NULL, &e);
    assert_non_null(m);
    model_session *s = model_session_new(m, NULL, &e);
    const char *prompt = "Once upon a time, the quick fox said: 'hello' 42 times.";
    int *ids, n;
    assert_int_equal(tok_encode(model_tok(m), prompt, strlen(prompt), 0, &ids, &n, &e), 0);
    /* split after the word "time," so both halves are whole tokens */
    const char *cut = strstr(prompt, " the quick");
    char ctx[128];
    snprintf(ctx, sizeof ctx, "%.*s", (int)(cut - prompt), prompt);
    score_item items[2] = {{ctx, cut}, {ctx, " the slow fox"}};
    score_result r[2];
    assert_int_equal(score_items(s, m, items, 2, 0, r, &e), 0);
    size_t len;
    char *buf = NULL;
    FILE *fp = fopen("tests/ref/hf/gpt2.ref", "rb");
    assert_non_null(fp);
    fseek(fp, 0, SEEK_END);
    len = (size_t)ftell(fp);
    rewind(fp);
    buf = malloc(len);
    assert_int_equal(fread(buf, 1, len, fp), len);
    fclose(fp);
    int rn, V;
    memcpy(&rn, buf, 4);
    memcpy(&V, buf + 4, 4);
    assert_int_equal(rn, n);
    const int *rid = (const int *)(buf + 8);
    const float *lg = (const float *)(buf + 8 + 4 * rn);
    int *cids, cn;
    assert_int_equal(tok_encode(model_tok(m), ctx, strlen(ctx), 0, &cids, &cn, &e), 0);
    double want = 0;
    for (int p = cn; p < rn; p++) {
        const float *row = lg + (size_t)(p - 1) * V;
        double mx = row[0], sum = 0;
        for (int i = 1; i < V; i++)
            mx = row[i] > mx ? row[i] : mx;
        for (int i = 0; i < V; i++)
            sum += exp(row[i] - mx);
        want += row[rid[p]] - mx - log(sum);
    }
    assert_int_equal(r[0].n_tokens, rn - cn);
    assert_close(r[0].logprob, want, 1e-3);
    assert_true(r[1].n_tokens > 0);
    free(buf);
    free(ids);
    free(cids);
    model_session_free(s);
    model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(control_vector_matches_llama_cpp),
        cmocka_unit_test(hooks_consistent_batched_and_stepwise),
        cmocka_unit_test(score_matches_reference_logits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
