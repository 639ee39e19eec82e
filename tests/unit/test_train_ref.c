/* Agreement with PyTorch (tests/ref/make_train_ref.py): loss, gradients of
 * one batch, and losses and weights after three AdamW steps with clipping,
 * warmup + cosine schedule and weight decay, for a tiny llama-style and a
 * tiny GPT-2-style decoder with sink masks. */
#include "testutil.h"

#include <jansson.h>
#include <string.h>

#include "train/train_adamw.h"
#include "train/train_model.h"

static json_t *load(const char *arch)
{
    char path[256];
    snprintf(path, sizeof path, "tests/ref/train_%s.json", arch);
    json_error_t je;
    json_t *j = json_load_file(path, 0, &je);
    if (!j)
        fail_msg("%s: %s", path, je.text);
    return j;
}

static int geti(json_t *o, const char *k)
{
    return (int)json_integer_value(json_object_get(o, k));
}

static double getd(json_t *o, const char *k)
{
    return json_number_value(json_object_get(o, k));
}

static void to_ints(json_t *a, int *out)
{
    for (size_t i = 0; i < json_array_size(a); i++)
        out[i] = (int)json_integer_value(json_array_get(a, i));
}

static void to_floats(json_t *a, float *out)
{
    for (size_t i = 0; i < json_array_size(a); i++)
        out[i] = (float)json_number_value(json_array_get(a, i));
}

/* Every tensor of `buf` against the reference dict `ref`: elementwise
 * |x - r| <= tol * (|r| + 0.01 * max|r| of the tensor). */
static void compare(const train_model *m, const float *buf, json_t *ref, double tol,
                    const char *what, int skip_key_bias)
{
    assert_int_equal(json_object_size(ref), (size_t)m->n_tensors);
    for (int i = 0; i < m->n_tensors; i++) {
        const train_tensor *t = &m->tensors[i];
        json_t *a = json_object_get(ref, t->name);
        assert_non_null(a);
        assert_int_equal(json_array_size(a), t->size);
        double mx = 0;
        for (size_t j = 0; j < t->size; j++)
            mx = fmax(mx, fabs(json_number_value(json_array_get(a, j))));
        int key_bias = skip_key_bias && strstr(t->name, "attn_qkv.bias");
        for (size_t j = 0; j < t->size; j++) {
            /* The key bias adds the same q.b to every score of a row, which
             * the softmax cancels: its true gradient is 0 and both sides
             * hold rounding noise that Adam's normalisation turns into
             * lr-sized steps of random sign. Checked to be ~0 instead. */
            if (key_bias && j >= t->size / 3 && j < 2 * t->size / 3) {
                assert_true(fabs(m->grads[t->offset + j]) < 1e-4);
                continue;
            }
            double r = json_number_value(json_array_get(a, j)), x = buf[t->offset + j];
            if (!(fabs(x - r) <= tol * (fabs(r) + 0.01 * mx)))
                fail_msg("%s %s[%zu]: %.9g, reference %.9g", what, t->name, j, x, r);
        }
    }
}

static void check_arch(const char *arch)
{
    json_t *j = load(arch), *jc = json_object_get(j, "config"), *jh = json_object_get(j, "hparams");
    train_config cfg = {0};
    assert_int_equal(train_arch_parse(json_string_value(json_object_get(jc, "arch")), &cfg.arch),
                     0);
    cfg.vocab = geti(jc, "vocab");
    cfg.dim = geti(jc, "dim");
    cfg.n_layers = geti(jc, "layers");
    cfg.n_heads = geti(jc, "heads");
    cfg.n_kv_heads = geti(jc, "kv_heads");
    cfg.hidden = geti(jc, "hidden");
    cfg.ctx = geti(jc, "ctx");
    cfg.norm_eps = (float)getd(jc, "norm_eps");
    cfg.rope_theta = (float)getd(jc, "rope_theta");
    int B = geti(j, "batch"), T = geti(j, "seq");
    cape_err e = {0};
    train_model m;
    assert_int_equal(train_model_build(&m, &cfg, &e), 0);
    assert_int_equal(train_model_alloc_acts(&m, B, T, &e), 0);
    json_t *init = json_object_get(j, "init");
    for (int i = 0; i < m.n_tensors; i++)
        to_floats(json_object_get(init, m.tensors[i].name), m.params + m.tensors[i].offset);
    int *tok = malloc(sizeof(int) * B * T), *tgt = malloc(sizeof(int) * B * T);
    float *masks = malloc(sizeof(float) * B * cfg.hidden);
    to_ints(json_object_get(j, "tokens"), tok);
    to_ints(json_object_get(j, "targets"), tgt);
    to_floats(json_object_get(j, "masks"), masks);

    adamw_state opt;
    assert_int_equal(adamw_init(&opt, m.n_params, &e), 0);
    adamw_hparams h = {(float)getd(jh, "beta1"), (float)getd(jh, "beta2"), (float)getd(jh, "eps"),
                       (float)getd(jh, "weight_decay")};
    int steps = geti(jh, "steps"), warmup = geti(jh, "warmup");
    json_t *losses = json_object_get(j, "losses"), *norms = json_object_get(j, "grad_norms");
    for (int s = 0; s < steps; s++) {
        train_zero_grads(&m);
        float loss = train_forward(&m, tok, tgt, masks, NULL, B, T, NULL);
        train_backward(&m, tok, tgt, masks, NULL, B, T, 1.0f);
        assert_rel(loss, json_number_value(json_array_get(losses, s)), 1e-5);
        if (s == 0)
            compare(&m, m.grads, json_object_get(j, "grads"), 1e-4, "gradient", 0);
        /* as the training loop does it: the clipping factor folded into AdamW */
        double norm = train_grad_norm(&m);
        assert_rel(norm, json_number_value(json_array_get(norms, s)), 1e-5);
        float lr = train_lr_at(s, warmup, steps, (float)getd(jh, "lr"), (float)getd(jh, "lr_min"));
        adamw_step_scaled(&opt, &m, lr, &h, train_clip_coef(norm, getd(jh, "clip")));
    }
    compare(&m, m.params, json_object_get(j, "final"), 1e-4, "weights after AdamW", 1);
    float final = train_forward(&m, tok, tgt, masks, NULL, B, T, NULL);
    assert_rel(final, getd(j, "final_loss"), 1e-4);
    adamw_free(&opt);
    free(tok);
    free(tgt);
    free(masks);
    train_model_free(&m);
    json_decref(j);
}

static void test_llama(void **state)
{
    (void)state;
    check_arch("llama");
}

static void test_gpt2(void **state)
{
    (void)state;
    check_arch("gpt2");
}

/* Gradient accumulation: two micro-batches of one row, each weighted 1/2,
 * give the gradient of the two-row batch (every target counts, so the
 * two means have equal weight). */
static void test_accumulation(void **state)
{
    (void)state;
    train_config cfg = {.arch = TRAIN_LLAMA, .vocab = 16, .dim = 8, .n_layers = 2, .n_heads = 2,
                        .n_kv_heads = 1, .hidden = 12, .ctx = 6};
    train_config_defaults(&cfg);
    cape_err e = {0};
    train_model m;
    assert_int_equal(train_model_build(&m, &cfg, &e), 0);
    assert_int_equal(train_model_alloc_acts(&m, 2, 6, &e), 0);
    train_model_init(&m, 3);
    int tok[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
    int tgt[12] = {2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13};
    train_zero_grads(&m);
    train_forward(&m, tok, tgt, NULL, NULL, 2, 6, NULL);
    train_backward(&m, tok, tgt, NULL, NULL, 2, 6, 1.0f);
    float *whole = malloc(sizeof(float) * m.n_params);
    memcpy(whole, m.grads, sizeof(float) * m.n_params);
    train_zero_grads(&m);
    for (int j = 0; j < 2; j++) {
        train_forward(&m, tok + 6 * j, tgt + 6 * j, NULL, NULL, 1, 6, NULL);
        train_backward(&m, tok + 6 * j, tgt + 6 * j, NULL, NULL, 1, 6, 0.5f);
    }
    double mx = 0;
    for (size_t i = 0; i < m.n_params; i++)
        mx = fmax(mx, fabs(whole[i]));
    for (size_t i = 0; i < m.n_params; i++)
        assert_close(m.grads[i], whole[i], 1e-5 * mx);
    free(whole);
    train_model_free(&m);
}

static void test_schedule(void **state)
{
    (void)state;
    /* warmup 1/4, 2/4, ... then cosine from lr to lr_min over the rest */
    assert_close(train_lr_at(0, 4, 10, 1.0f, 0.1f), 0.25, 1e-7);
    assert_close(train_lr_at(3, 4, 10, 1.0f, 0.1f), 1.0, 1e-7);
    assert_close(train_lr_at(4, 4, 10, 1.0f, 0.1f), 1.0, 1e-7);
    assert_close(train_lr_at(9, 4, 10, 1.0f, 0.1f), 0.1, 1e-7);
    assert_close(train_lr_at(6, 4, 9, 1.0f, 0.0f), 0.5, 1e-7); /* halfway down */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_llama),
        cmocka_unit_test(test_gpt2),
        cmocka_unit_test(test_schedule),
        cmocka_unit_test(test_accumulation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
