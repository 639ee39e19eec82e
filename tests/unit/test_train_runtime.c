/* A model saved by the trainer and loaded by the runtime (src/model) gives
 * the trainer's logits, for both families, and the runtime's MLP-hidden hook
 * with a sink mask gives the trainer's logits under the same mask: the GGUF
 * layout, the RoPE pairing and the sink hook agree end to end. */
#include "testutil.h"

#include <string.h>

#include "model/model.h"
#include "train/bpe.h"
#include "train/train_loop.h"
#include "train/train_tok.h"
#include "unlearn/sink_hook.h"

static void check(train_arch arch, int with_sinks)
{
    const char *texts[] = {"one two three four five six seven eight nine ten"};
    cape_err e = {0};
    bpe_vocab v;
    assert_int_equal(bpe_train(&v, texts, 1, 300, &e), 0);
    train_config cfg = {.arch = arch, .vocab = v.n_vocab, .dim = 16, .n_layers = 2,
                        .n_heads = 4, .n_kv_heads = arch == TRAIN_LLAMA ? 2 : 4, .hidden = 24,
                        .ctx = 16};
    train_config_defaults(&cfg);
    train_model m;
    assert_int_equal(train_model_build(&m, &cfg, &e), 0);
    assert_int_equal(train_model_alloc_acts(&m, 1, 8, &e), 0);
    train_model_init(&m, 11);
    for (size_t i = 0; i < m.n_params; i++) /* bigger weights: every path matters */
        m.params[i] *= 5.0f;

    sink_model s = {0};
    float mask[24];
    if (with_sinks) {
        assert_int_equal(sink_layout_init(&s.layout, 24, 0.5f, 3, 5, &e), 0);
        s.enabled = 1;
        sink_sources_id(&s.sources, "a", 1);
        sink_sources_id(&s.sources, "b", 1);
        sink_mask_source(&s.layout, 2, mask);
    }
    ckpt_file f = {0};
    assert_int_equal(train_model_to_ckpt(&m, &f), 0);
    assert_int_equal(train_tok_to_ckpt(&v, &f), 0);
    assert_int_equal(sink_model_write(&s, &f), 0);
    char path[64];
    snprintf(path, sizeof path, "build/test_rt_%d_%d.gguf", (int)arch, with_sinks);
    assert_int_equal(ckpt_write(&f, path, &e), 0);
    ckpt_free(&f);

    int tok[8] = {v.eot, 5, 77, 200, 3, 299 % v.n_vocab, 42, 7};
    int tgt[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    train_forward(&m, tok, tgt, with_sinks ? mask : NULL, NULL, 1, 8, NULL);

    model *rm = model_load(path, NULL, &e);
    if (!rm)
        fail_msg("model_load: %s", e.msg);
    assert_int_equal(model_cfg(rm)->ffn_dim, 24);
    model_session *rs = model_session_new(rm, &(model_session_opts){.n_threads = 1}, &e);
    assert_non_null(rs);
    sink_hook h;
    assert_int_equal(sink_hook_open(&h, path, 24, with_sinks ? "source" : NULL,
                                    with_sinks ? "b" : NULL, &e),
                     0);
    assert_int_equal(h.enabled, with_sinks);
    if (with_sinks) {
        assert_int_equal(h.used, 2);
        assert_memory_equal(h.mask, mask, sizeof mask);
        model_session_set_hook(rs, sink_hook_fn, &h);
    }
    assert_int_equal(model_eval(rs, tok, 8, MODEL_LOGITS_ALL, &e), 0);
    double worst = 0, scale = 0;
    for (int t = 0; t < 8; t++)
        for (int j = 0; j < v.n_vocab; j++) {
            double a = model_logits(rs, t)[j], b = m.logits[(size_t)t * v.n_vocab + j];
            worst = fmax(worst, fabs(a - b));
            scale = fmax(scale, fabs(b));
        }
    if (!(worst <= 1e-4 * scale + 1e-5))
        fail_msg("%s sinks=%d: runtime and trainer logits differ by %g (scale %g)",
                 train_arch_name(arch), with_sinks, worst, scale);
    sink_hook_free(&h);
    model_session_free(rs);
    model_free(rm);
    sink_model_free(&s);
    train_model_free(&m);
    bpe_free(&v);
    remove(path);
}

static void test_llama(void **state)
{
    (void)state;
    check(TRAIN_LLAMA, 0);
    check(TRAIN_LLAMA, 1);
}

static void test_gpt2(void **state)
{
    (void)state;
    check(TRAIN_GPT2, 0);
    check(TRAIN_GPT2, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_llama),
        cmocka_unit_test(test_gpt2),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
