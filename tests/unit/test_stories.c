/* stories260K, a real Llama-2-architecture model, in two formats (GGUF made
 * by llama.cpp's converter, and the llama2.c checkpoint): prompt ids, logits
 * and the greedy continuation must equal the references that llama.cpp and
 * llama2.c both produce (shared/data/models/stories260K/SOURCE.md). */
#include "testutil.h"

#include <string.h>

#include "model/model.h"

static const int PROMPT[] = {1, 403, 407, 261, 378};
static const int GREEDY[32] = {432, 383, 286, 261, 376, 298, 315, 421, 395, 317, 426,
                               338, 401, 396, 267, 337, 410, 408, 419, 292, 411, 322,
                               265, 282, 295, 433, 426, 385, 328, 432, 358, 394};
static const float LOGITS[8] = {-10.136574f, -5.329465f, -10.138085f, -10.136853f,
                                -10.137212f, -10.138330f, -10.137267f, -10.137639f};
static const char *TEXT = ", there was a little girl named Lily. She loved to play outside in "
                          "the park. One day, she saw";

static int argmax(const float *x, int n)
{
    int b = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[b])
            b = i;
    return b;
}

static void check_model(const char *rel, int threads, int batch)
{
    cape_err e = {0};
    model *m = model_load(test_shared_path(rel), NULL, &e);
    if (!m)
        fail_msg("%s", e.msg);
    const tok *t = model_tok(m);
    int *ids, n;
    const char *prompt = "Once upon a time";
    assert_int_equal(tok_encode(t, prompt, strlen(prompt), TOK_ADD_BOS, &ids, &n, &e), 0);
    assert_int_equal(n, 5);
    assert_memory_equal(ids, PROMPT, sizeof PROMPT);
    model_session_opts so = {.n_threads = threads, .n_batch = batch};
    model_session *s = model_session_new(m, &so, &e);
    assert_non_null(s);
    assert_int_equal(model_eval(s, ids, n, MODEL_LOGITS_LAST, &e), 0);
    const float *lg = model_logits(s, 0);
    for (int i = 0; i < 8; i++)
        assert_close(lg[i], LOGITS[i], 1e-4);
    int out[32];
    for (int i = 0; i < 32; i++) {
        out[i] = argmax(model_logits(s, 0), model_cfg(m)->n_vocab);
        assert_int_equal(model_eval(s, &out[i], 1, MODEL_LOGITS_LAST, &e), 0);
    }
    assert_memory_equal(out, GREEDY, sizeof GREEDY);
    char *text = tok_decode(t, out, 32, 0);
    assert_string_equal(text, TEXT);
    free(text);
    free(ids);
    model_session_free(s);
    model_free(m);
}

static void gguf_matches_reference(void **state)
{
    (void)state;
    check_model("data/models/stories260K/stories260K.gguf", 1, 0);
}

static void llama2c_matches_reference(void **state)
{
    (void)state;
    check_model("data/models/stories260K/stories260K.bin", 1, 0);
}

static void threads_and_small_batches_agree(void **state)
{
    (void)state;
    check_model("data/models/stories260K/stories260K.gguf", 2, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(gguf_matches_reference),
        cmocka_unit_test(llama2c_matches_reference),
        cmocka_unit_test(threads_and_small_batches_agree),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
