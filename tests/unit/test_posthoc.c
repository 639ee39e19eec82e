/* Post-hoc unlearning against PyTorch (tests/ref/make_posthoc_ref.py): for
 * every method, the loss and gradients of one micro-batch (forget items,
 * paired refusals, retain items, sink masks, the frozen reference), and the
 * losses and weights after three AdamW steps, for a tiny llama-style and a
 * tiny GPT-2-style decoder. Also: the registry, the learning-rate schedule,
 * and that the gradient injected at a block's output equals the finite
 * difference of a loss on that output. */
#include "testutil.h"

#include <jansson.h>
#include <string.h>

#include "train/train_adamw.h"
#include "train/train_model.h"
#include "unlearn/posthoc.h"

static json_t *load(const char *arch)
{
    char path[256];
    snprintf(path, sizeof path, "tests/ref/posthoc_%s.json", arch);
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

static void to_floats(json_t *a, float *out)
{
    for (size_t i = 0; i < json_array_size(a); i++)
        out[i] = (float)json_number_value(json_array_get(a, i));
}

/* every tensor: |x - r| <= tol * (|r| + 0.01 * max|r| of the tensor) + floor */
static void compare(const train_model *m, const float *buf, json_t *ref, double tol,
                    double floor, const char *what, const char *method)
{
    for (int i = 0; i < m->n_tensors; i++) {
        const train_tensor *t = &m->tensors[i];
        json_t *a = json_object_get(ref, t->name);
        assert_non_null(a);
        assert_int_equal(json_array_size(a), t->size);
        double mx = 0;
        for (size_t j = 0; j < t->size; j++)
            mx = fmax(mx, fabs(json_number_value(json_array_get(a, j))));
        /* the GPT-2 key bias: its true gradient is 0 (the softmax cancels
         * it) and both sides hold rounding noise (test_train_ref.c) */
        int key_bias = strstr(t->name, "attn_qkv.bias") != NULL;
        for (size_t j = 0; j < t->size; j++) {
            if (key_bias && j >= t->size / 3 && j < 2 * t->size / 3)
                continue;
            double r = json_number_value(json_array_get(a, j)), x = buf[t->offset + j];
            if (!(fabs(x - r) <= tol * (fabs(r) + 0.01 * mx) + floor))
                fail_msg("%s %s %s[%zu]: %.9g, reference %.9g", method, what, t->name, j, x, r);
        }
    }
}

/* max |reference gradient| over all tensors */
static double grad_scale(const train_model *m, json_t *jm)
{
    json_t *g = json_object_get(jm, "grads");
    double mx = 0;
    for (int i = 0; i < m->n_tensors; i++) {
        json_t *a = json_object_get(g, m->tensors[i].name);
        for (size_t j = 0; j < json_array_size(a); j++)
            mx = fmax(mx, fabs(json_number_value(json_array_get(a, j))));
    }
    return mx;
}

typedef struct {
    posthoc_item v[8];
    const posthoc_item *p[8];
    int n;
} items;

static void read_items(json_t *a, items *out)
{
    out->n = (int)json_array_size(a);
    for (int i = 0; i < out->n; i++) {
        json_t *o = json_array_get(a, i), *tk = json_object_get(o, "tokens");
        posthoc_item *it = &out->v[i];
        it->len = (int)json_array_size(tk);
        it->tokens = malloc(sizeof(int) * it->len);
        for (int t = 0; t < it->len; t++)
            it->tokens[t] = (int)json_integer_value(json_array_get(tk, t));
        it->scored_from = geti(o, "scored_from");
        it->source = (uint32_t)geti(o, "source");
        out->p[i] = it;
    }
}

static void free_items(items *it)
{
    for (int i = 0; i < it->n; i++)
        free(it->v[i].tokens);
}

static void build(json_t *j, train_model *m)
{
    json_t *jc = json_object_get(j, "config");
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
    cape_err e = {0};
    assert_int_equal(train_model_build(m, &cfg, &e), 0);
    assert_int_equal(train_model_alloc_acts(m, 9, geti(j, "seq"), &e), 0);
    json_t *init = json_object_get(j, "init");
    for (int i = 0; i < m->n_tensors; i++)
        to_floats(json_object_get(init, m->tensors[i].name), m->params + m->tensors[i].offset);
}

static void check_method(json_t *j, const char *name, json_t *jm)
{
    cape_err e = {0};
    train_model m, ref;
    build(j, &m);
    build(j, &ref);
    for (size_t i = 0; i < ref.n_params; i++)
        ref.params[i] *= (float)getd(j, "ref_scale");
    json_t *js = json_object_get(j, "sink");
    sink_model sm = {0};
    sm.enabled = 1;
    assert_int_equal(sink_layout_init(&sm.layout, m.cfg.hidden, (float)getd(js, "p_gen"),
                                      geti(js, "k"), (uint64_t)geti(js, "seed"), &e),
                     0);
    items f, idk, r;
    read_items(json_object_get(j, "forget"), &f);
    read_items(json_object_get(j, "idk"), &idk);
    read_items(json_object_get(j, "retain"), &r);

    char base[32];
    snprintf(base, sizeof base, "%s", name);
    char *us = strchr(base, '_');
    if (us)
        *us = 0;
    const posthoc_method *meth = posthoc_method_find(base);
    assert_non_null(meth);
    json_t *jh = json_object_get(jm, "hparams");
    posthoc_hparams h = {getd(jh, "beta"), getd(jh, "alpha"), getd(jh, "gamma"),
                         getd(jh, "delta"), getd(jh, "steering"), geti(jh, "layer"),
                         geti(jh, "retain_kl")};
    posthoc_state s;
    assert_int_equal(posthoc_state_init(&s, meth, &h, &m, &ref, &sm, 9, 0, &e), 0);
    float u[64];
    to_floats(json_object_get(j, "u"), u);
    posthoc_set_direction(&s, u);

    json_t *jo = json_object_get(j, "optim"), *lrs = json_object_get(jo, "lrs");
    adamw_state opt;
    assert_int_equal(adamw_init(&opt, m.n_params, &e), 0);
    adamw_hparams ah = {(float)getd(jo, "beta1"), (float)getd(jo, "beta2"), (float)getd(jo, "eps"),
                        (float)getd(jo, "weight_decay")};
    json_t *losses = json_object_get(jm, "losses"), *norms = json_object_get(jm, "grad_norms");
    int nr = meth->needs_retain ? r.n : 0;
    for (size_t step = 0; step < json_array_size(lrs); step++) {
        train_zero_grads(&m);
        posthoc_batch_stats st;
        assert_int_equal(posthoc_batch_grad(&s, f.p, idk.p, f.n, r.p, nr, 1.0f, &st, &e), 0);
        double want = json_number_value(json_array_get(losses, step));
        if (fabs(st.loss - want) > 1e-4 * fabs(want) + 1e-6)
            fail_msg("%s loss at step %zu: %.9g, reference %.9g", name, step, st.loss, want);
        if (step == 0)
            /* DPO's gradient is the difference of two larger ones (the refusal's
         * and the answer's): float32 loses ~1e-6 of the tensor's scale */
        compare(&m, m.grads, json_object_get(jm, "grads"), 1e-4, 2e-6 * grad_scale(&m, jm),
                "gradient", name);
        float lr = (float)json_number_value(json_array_get(lrs, step));
        double norm = posthoc_apply(&s, &opt, &ah, lr, getd(jo, "clip"));
        assert_rel(norm, json_number_value(json_array_get(norms, step)), 1e-4);
    }
    /* Adam moves a weight by at most about lr per step whatever the size of
     * its gradient, so the float32 rounding of a small gradient shows up
     * at the scale of the steps: weights also get 1e-4 of the summed lr */
    double lr_sum = 0;
    for (size_t i = 0; i < json_array_size(lrs); i++)
        lr_sum += json_number_value(json_array_get(lrs, i));
    compare(&m, m.params, json_object_get(jm, "final"), 1e-4, 1e-4 * lr_sum,
            "weights after AdamW", name);
    train_zero_grads(&m);
    posthoc_batch_stats st;
    assert_int_equal(posthoc_batch_grad(&s, f.p, idk.p, f.n, r.p, nr, 1.0f, &st, &e), 0);
    assert_rel(st.loss, getd(jm, "final_loss"), 1e-4);
    adamw_free(&opt);
    posthoc_state_free(&s);
    free_items(&f);
    free_items(&idk);
    free_items(&r);
    train_model_free(&m);
    train_model_free(&ref);
}

static void check_arch(const char *arch)
{
    json_t *j = load(arch), *ms = json_object_get(j, "methods");
    const char *name;
    json_t *jm;
    int n = 0;
    json_object_foreach(ms, name, jm)
    {
        check_method(j, name, jm);
        n++;
    }
    assert_true(n >= 4);
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

static void test_registry(void **state)
{
    (void)state;
    const char *want[] = {"ga", "graddiff", "npo", "simnpo", "rmu", "idkdpo"};
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
        const posthoc_method *m = posthoc_method_find(want[i]);
        assert_non_null(m);
        assert_string_equal(m->name, want[i]);
        assert_non_null(m->loss);
    }
    assert_null(posthoc_method_find("gd"));
    /* open-unlearning's defaults */
    assert_close(posthoc_method_find("npo")->defaults.beta, 0.1, 0);
    assert_true(posthoc_method_find("npo")->needs_ref);
    assert_close(posthoc_method_find("simnpo")->defaults.beta, 4.5, 0);
    assert_close(posthoc_method_find("simnpo")->defaults.gamma, 0.125, 0);
    assert_false(posthoc_method_find("simnpo")->needs_ref);
    assert_close(posthoc_method_find("rmu")->defaults.steering, 2.0, 0);
    assert_true(posthoc_method_find("idkdpo")->needs_idk);
    assert_false(posthoc_method_find("ga")->needs_retain);
    char buf[128];
    assert_string_equal(posthoc_method_list(buf, sizeof buf), "ga, graddiff, npo, simnpo, rmu, idkdpo");
}

/* Hugging Face's get_linear_schedule_with_warmup, by hand */
static void test_schedule(void **state)
{
    (void)state;
    assert_close(posthoc_lr_at(0, 2, 10, 1.0f), 0.0, 1e-7);
    assert_close(posthoc_lr_at(1, 2, 10, 1.0f), 0.5, 1e-7);
    assert_close(posthoc_lr_at(2, 2, 10, 1.0f), 1.0, 1e-7);
    assert_close(posthoc_lr_at(6, 2, 10, 1.0f), 0.5, 1e-7);
    assert_close(posthoc_lr_at(9, 2, 10, 1.0f), 0.125, 1e-7);
    assert_close(posthoc_lr_at(0, 0, 4, 2.0f), 2.0, 1e-7);
    assert_close(posthoc_lr_at(3, 0, 4, 2.0f), 0.5, 1e-7);
}

/* train_backward_from with an injected activation gradient: for the loss
 * L = sum(w * out_l) on the output of block l, d L / d param by central
 * differences (double-checked on a few parameters). */
static void test_injection(void **state)
{
    (void)state;
    train_config cfg = {.arch = TRAIN_LLAMA, .vocab = 11, .dim = 8, .n_layers = 3, .n_heads = 2,
                        .n_kv_heads = 1, .hidden = 12, .ctx = 5};
    train_config_defaults(&cfg);
    cape_err e = {0};
    train_model m;
    assert_int_equal(train_model_build(&m, &cfg, &e), 0);
    assert_int_equal(train_model_alloc_acts(&m, 2, 5, &e), 0);
    train_model_init(&m, 5);
    for (size_t i = 0; i < m.n_params; i++)
        m.params[i] *= 10.0f; /* a less trivial function than N(0, 0.02) */
    int tok[10] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
    float w[80];
    for (int i = 0; i < 80; i++)
        w[i] = (float)sin(0.37 * i + 0.2);
    int at = 1;
    train_zero_grads(&m);
    train_forward(&m, tok, NULL, NULL, NULL, 2, 5, NULL);
    train_backward_from(&m, tok, NULL, NULL, 2, 5, 0, at, w);
    /* no gradient above the layer, nor on the head */
    const train_tensor *t2 = train_model_tensor(&m, "blk.2.ffn_up.weight");
    const train_tensor *head = train_model_tensor(&m, "output.weight");
    for (size_t i = 0; i < t2->size; i++)
        assert_true(m.grads[t2->offset + i] == 0.0f);
    for (size_t i = 0; i < head->size; i++)
        assert_true(m.grads[head->offset + i] == 0.0f);
    const char *names[] = {"blk.1.ffn_down.weight", "blk.0.attn_q.weight", "token_embd.weight",
                           "blk.1.attn_norm.weight"};
    for (size_t k = 0; k < 4; k++) {
        const train_tensor *t = train_model_tensor(&m, names[k]);
        for (size_t j = 0; j < t->size; j += t->size / 5 + 1) {
            size_t i = t->offset + j;
            float keep = m.params[i];
            double hstep = 1e-2 * fmax(fabs(keep), 0.1), L[2];
            for (int sgn = 0; sgn < 2; sgn++) {
                m.params[i] = (float)(keep + (sgn ? -hstep : hstep));
                train_forward(&m, tok, NULL, NULL, NULL, 2, 5, NULL);
                double sum = 0;
                for (int q = 0; q < 80; q++)
                    sum += (double)w[q] * m.acts[at + 1].resid[q];
                L[sgn] = sum;
            }
            m.params[i] = keep;
            double fd = (L[0] - L[1]) / (2 * hstep);
            if (fabs(fd - m.grads[i]) > 2e-2 * fabs(fd) + 2e-3)
                fail_msg("%s[%zu]: backward %.6g, finite difference %.6g", names[k], j,
                         m.grads[i], fd);
        }
    }
    train_model_free(&m);
}

/* idontknow.jsonl: plain lines and JSON strings, trimmed; errors named */
static void test_refusals(void **state)
{
    (void)state;
    const char ok[] = "  I don't know.  \r\n\n\"No idea, \\\"really\\\".\"\nlast";
    char **v;
    int n;
    cape_err e = {0};
    assert_int_equal(posthoc_refusals_parse(ok, sizeof ok - 1, "x", &v, &n, &e), 0);
    assert_int_equal(n, 3);
    assert_string_equal(v[0], "I don't know.");
    assert_string_equal(v[1], "No idea, \"really\".");
    assert_string_equal(v[2], "last");
    posthoc_refusals_free(v, n);
    const char bad[] = "fine\n\"unterminated\n";
    assert_int_equal(posthoc_refusals_parse(bad, sizeof bad - 1, "r.jsonl", &v, &n, &e),
                     CAPE_EINPUT);
    assert_non_null(strstr(e.msg, "r.jsonl:2:"));
    err_clear(&e);
    const char nul[] = "\"a\\u0000b\"";
    assert_int_equal(posthoc_refusals_parse(nul, sizeof nul - 1, "r", &v, &n, &e), CAPE_EINPUT);
    err_clear(&e);
    assert_int_equal(posthoc_refusals_parse(" \n\n", 3, "r", &v, &n, &e), CAPE_EINPUT);
    assert_non_null(strstr(e.msg, "no refusal strings"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_llama),     cmocka_unit_test(test_gpt2),
        cmocka_unit_test(test_registry),  cmocka_unit_test(test_schedule),
        cmocka_unit_test(test_injection), cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
