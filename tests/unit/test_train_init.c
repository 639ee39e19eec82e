/* Fine-tuning open-weight models (train_init.h and the block variants of
 * train_model.h):
 *  - agreement with PyTorch + transformers (tests/ref/make_train_init_ref.py)
 *    on the tiny llama, qwen2, qwen3 and gemma3 models of tests/ref/hf/,
 *    loaded from their GGUF files: loss, gradients of one batch, losses
 *    and weights after three AdamW steps;
 *  - finite differences through a model with every variant on (QK-norm,
 *    post-norms, GeGLU, embedding scale, q/k/v biases, NeoX rotation,
 *    sliding-window layers, tied head, head size != dim / heads, chunked
 *    cross-entropy), with sink masks and packed rows;
 *  - the chunked cross-entropy against the whole-vocabulary one;
 *  - frozen embeddings: no gradient or update there, every other gradient
 *    unchanged (the head still passes the gradient to the hidden states). */
#include "testutil.h"

#include <jansson.h>
#include <string.h>

#include "base/rng.h"
#include "train/train_adamw.h"
#include "train/train_init.h"
#include "train/train_layers.h"
#include "train/train_model.h"

static json_t *g_ref;

static double getd(json_t *o, const char *k)
{
    return json_number_value(json_object_get(o, k));
}

static void to_ints(json_t *a, int *out)
{
    for (size_t i = 0; i < json_array_size(a); i++)
        out[i] = (int)json_integer_value(json_array_get(a, i));
}

/* Sampled values and the L2 norm of every tensor against the reference. */
static void compare(const train_model *m, const float *buf, json_t *ref, double tol,
                    const char *what, double kbias_abs)
{
    assert_int_equal(json_object_size(ref), (size_t)m->n_tensors);
    for (int i = 0; i < m->n_tensors; i++) {
        const train_tensor *t = &m->tensors[i];
        json_t *r = json_object_get(ref, t->name);
        if (!r)
            fail_msg("%s: the reference has no %s", what, t->name);
        const float *x = buf + t->offset;
        double ss = 0, rn = getd(r, "norm"), mx = 0;
        for (size_t j = 0; j < t->size; j++)
            ss += (double)x[j] * x[j];
        if (!(fabs(sqrt(ss) - rn) <= tol * rn + 1e-9))
            fail_msg("%s %s: norm %.9g, reference %.9g", what, t->name, sqrt(ss), rn);
        json_t *idx = json_object_get(r, "idx"), *val = json_object_get(r, "val");
        for (size_t k = 0; k < json_array_size(val); k++)
            mx = fmax(mx, fabs(json_number_value(json_array_get(val, k))));
        for (size_t k = 0; k < json_array_size(idx); k++) {
            size_t j = (size_t)json_integer_value(json_array_get(idx, k));
            double v = json_number_value(json_array_get(val, k));
            /* Key-bias components that RoPE barely turns (the slowest
             * frequencies) are almost cancelled by the softmax: their
             * gradients are ~1e-5 of the others', at rounding level, and
             * Adam's normalisation makes that noise step-sized. After
             * AdamW they are held to kbias_abs (a fraction of one step). */
            /* The floor (5% of the largest sampled component, times tol):
             * a component thousands of times smaller than the largest
             * (k_norm's slowest RoPE pair, ~2e-4 of it) carries the
             * rounding of the large terms it is summed from, and that
             * rounding depends on the kernels OpenBLAS picks for the CPU. */
            double lim = tol * (fabs(v) + 0.05 * mx);
            if (kbias_abs > 0 && strstr(t->name, "attn_k.bias"))
                lim = fmax(lim, kbias_abs);
            if (!(fabs(x[j] - v) <= lim))
                fail_msg("%s %s[%zu]: %.9g, reference %.9g", what, t->name, j, x[j], v);
        }
    }
}

static void check_arch(const char *arch)
{
    json_t *j = json_object_get(g_ref, arch), *jh = json_object_get(j, "hparams");
    assert_non_null(j);
    char path[256];
    snprintf(path, sizeof path, "tests/ref/hf/%s.gguf", arch);
    cape_err e = {0};
    train_init_src src;
    train_config cfg;
    if (train_init_open(&src, path, &cfg, &e))
        fail_msg("%s", e.msg);
    cfg.ce_chunk = 7; /* many chunks (and a short last one) over the 320 tokens */
    int B = (int)getd(j, "batch"), T = (int)getd(j, "seq");
    train_model m;
    assert_int_equal(train_model_build(&m, &cfg, &e), 0);
    assert_int_equal(train_model_alloc_acts(&m, B, T, &e), 0);
    assert_int_equal(train_init_load(&m, &src, &e), 0);
    train_init_close(&src);
    int *tok = malloc(sizeof(int) * B * T), *tgt = malloc(sizeof(int) * B * T);
    to_ints(json_object_get(j, "tokens"), tok);
    to_ints(json_object_get(j, "targets"), tgt);
    adamw_state opt;
    assert_int_equal(adamw_init(&opt, m.n_params, &e), 0);
    adamw_hparams h = {(float)getd(jh, "beta1"), (float)getd(jh, "beta2"), (float)getd(jh, "eps"),
                       (float)getd(jh, "weight_decay")};
    int steps = (int)getd(jh, "steps"), warmup = (int)getd(jh, "warmup");
    json_t *losses = json_object_get(j, "losses"), *norms = json_object_get(j, "grad_norms");
    for (int s = 0; s < steps; s++) {
        train_zero_grads(&m);
        float loss = train_forward(&m, tok, tgt, NULL, NULL, B, T, NULL);
        train_backward(&m, tok, tgt, NULL, NULL, B, T, 1.0f);
        assert_rel(loss, json_number_value(json_array_get(losses, s)), 1e-5);
        if (s == 0)
            compare(&m, m.grads, json_object_get(j, "grads"), 1e-4, "gradient", 0);
        double norm = train_grad_norm(&m);
        assert_rel(norm, json_number_value(json_array_get(norms, s)), 1e-4);
        float lr = train_lr_at(s, warmup, steps, (float)getd(jh, "lr"), (float)getd(jh, "lr_min"));
        adamw_step_scaled(&opt, &m, lr, &h, train_clip_coef(norm, getd(jh, "clip")));
    }
    compare(&m, m.params, json_object_get(j, "final"), 1e-4, "weights after AdamW",
            0.05 * getd(jh, "lr"));
    assert_rel(train_forward(&m, tok, tgt, NULL, NULL, B, T, NULL), getd(j, "final_loss"), 1e-4);
    adamw_free(&opt);
    free(tok);
    free(tgt);
    train_model_free(&m);
}

static void test_ref_llama(void **state) { (void)state; check_arch("llama"); }
static void test_ref_qwen2(void **state) { (void)state; check_arch("qwen2"); }
static void test_ref_qwen3(void **state) { (void)state; check_arch("qwen3"); }
static void test_ref_gemma3(void **state) { (void)state; check_arch("gemma3"); }

/* ---- finite differences through every variant ------------------------- */

static train_config variant_config(int which)
{
    train_config c = {.arch = TRAIN_GEMMA3, .vocab = 11, .dim = 8, .n_layers = 2, .n_heads = 2,
                      .n_kv_heads = 1, .hidden = 12, .ctx = 6};
    c.head_dim = 6; /* query width 12 != dim */
    c.rope_neox = 1;
    c.rope_theta = 1000.0f;
    c.rope_theta_swa = 10.0f;
    c.sliding_window = 2;
    c.swa_period = 2;
    c.qk_norm = 1;
    c.post_norms = 1;
    c.geglu = 1;
    c.tied = 1;
    c.embed_scale = 1.7f;
    c.ce_chunk = 4;
    if (which == 1) { /* qwen2-like: biases, untied, adjacent pairs, no window */
        c = (train_config){.arch = TRAIN_QWEN2, .vocab = 11, .dim = 8, .n_layers = 2,
                           .n_heads = 2, .n_kv_heads = 1, .hidden = 12, .ctx = 6};
        c.qkv_bias = 1;
        c.ce_chunk = 5;
    }
    train_config_defaults(&c);
    return c;
}

static void check_variants(int which, int with_mask, int packed)
{
    train_config cfg = variant_config(which);
    cape_err e = {0};
    train_model m;
    assert_int_equal(train_model_build(&m, &cfg, &e), 0);
    assert_int_equal(train_model_alloc_acts(&m, 2, 5, &e), 0);
    train_model_init(&m, 11);
    rng_fast r;
    rng_fast_seed(&r, 5);
    for (int t = 0; t < m.n_tensors; t++) {
        float *p = m.params + m.tensors[t].offset;
        for (size_t i = 0; i < m.tensors[t].size; i++)
            p[i] = m.tensors[t].ndim == 1 ? (float)(1.0 + 0.3 * (rng_fast_double(&r) - 0.5))
                                          : p[i] * 3.0f;
    }
    int tok[10] = {1, 4, 2, 9, 3, 0, 10, 5, 5, 7};
    int tgt[10] = {4, 2, 9, 3, -1, 10, 5, 5, 7, 8};
    float mask[24];
    for (int i = 0; i < 24; i++)
        mask[i] = (i % 12 < 4) ? 1.0f : ((i * 7) % 3 == 0 ? 1.0f : 0.0f);
    static const int pos[10] = {0, 1, 2, 0, 1, 0, 1, 0, 1, 2};
    const float *mk = with_mask ? mask : NULL;
    const int *ps = packed ? pos : NULL;
    train_zero_grads(&m);
    train_forward(&m, tok, tgt, mk, ps, 2, 5, NULL);
    train_backward(&m, tok, tgt, mk, ps, 2, 5, 1.0f);
    float *grad = malloc(sizeof(float) * m.n_params);
    memcpy(grad, m.grads, sizeof(float) * m.n_params);
    for (size_t i = 0; i < m.n_params; i++) {
        float keep = m.params[i], h = 1e-3f * fmaxf(1.0f, fabsf(keep));
        m.params[i] = keep + h;
        double fp = train_forward(&m, tok, tgt, mk, ps, 2, 5, NULL);
        m.params[i] = keep - h;
        double fm = train_forward(&m, tok, tgt, mk, ps, 2, 5, NULL);
        m.params[i] = keep;
        double num = (fp - fm) / (2.0 * h);
        double tol = 2e-2 * fmax(fabs(num), fabs(grad[i])) + 5e-4;
        if (!(fabs(num - grad[i]) <= tol)) {
            const char *name = "?";
            for (int t = 0; t < m.n_tensors; t++)
                if (i >= m.tensors[t].offset && i < m.tensors[t].offset + m.tensors[t].size)
                    name = m.tensors[t].name;
            fail_msg("variant %d mask=%d packed=%d param %zu (%s): analytic %.6g numeric %.6g",
                     which, with_mask, packed, i, name, grad[i], num);
        }
    }
    free(grad);
    train_model_free(&m);
}

static void test_fd_variants(void **state)
{
    (void)state;
    for (int w = 0; w < 2; w++) {
        check_variants(w, 0, 0);
        check_variants(w, 1, 1);
    }
}

/* ---- the new layers on their own: GeGLU and the NeoX rotation ----------- */

static double geglu_f(const float *a, const float *b, const float *mask, const float *r)
{
    float h[12];
    geglu_forward(h, a, b, mask, 2, 1, 6);
    double s = 0;
    for (int i = 0; i < 12; i++)
        s += (double)h[i] * r[i];
    return s;
}

static void test_layers(void **state)
{
    (void)state;
    rng_fast g;
    rng_fast_seed(&g, 21);
    float a[12], b[12], r[12], mask[12], da[12] = {0}, db[12] = {0};
    for (int i = 0; i < 12; i++) {
        a[i] = (float)(4 * rng_fast_double(&g) - 2);
        b[i] = (float)(2 * rng_fast_double(&g) - 1);
        r[i] = (float)(2 * rng_fast_double(&g) - 1);
        mask[i] = i % 5 ? 1.0f : 0.0f;
    }
    geglu_backward(da, db, r, a, b, mask, 2, 1, 6);
    float *xs[2] = {a, b}, *gs[2] = {da, db};
    for (int w = 0; w < 2; w++)
        for (int i = 0; i < 12; i++) {
            float keep = xs[w][i], h = 1e-3f;
            xs[w][i] = keep + h;
            double fp = geglu_f(a, b, mask, r);
            xs[w][i] = keep - h;
            double fm = geglu_f(a, b, mask, r);
            xs[w][i] = keep;
            assert_close(gs[w][i], (fp - fm) / (2 * h), 2e-3);
        }
    /* NeoX rotation: norm-preserving per (i, i + hs/2) pair, and the
     * backward is its inverse */
    enum { HS = 8 };
    float cs[3 * HS / 2], sn[3 * HS / 2];
    rope_table(cs, sn, 3, HS, 100.0f);
    float x[3 * 2 * HS], y[3 * 2 * HS];
    for (int i = 0; i < 3 * 2 * HS; i++)
        x[i] = (float)(2 * rng_fast_double(&g) - 1);
    memcpy(y, x, sizeof x);
    rope_neox_forward(y, 2 * HS, cs, sn, NULL, 1, 3, 2, HS);
    for (int t = 0; t < 3; t++)
        for (int hh = 0; hh < 2; hh++)
            for (int i = 0; i < HS / 2; i++) {
                const float *xv = x + t * 2 * HS + hh * HS, *yv = y + t * 2 * HS + hh * HS;
                double c = cos(t * pow(100.0, -2.0 * i / HS)), s2 = sin(t * pow(100.0, -2.0 * i / HS));
                assert_close(yv[i], xv[i] * c - xv[i + HS / 2] * s2, 1e-5);
                assert_close(yv[i + HS / 2], xv[i] * s2 + xv[i + HS / 2] * c, 1e-5);
            }
    rope_neox_backward(y, 2 * HS, cs, sn, NULL, 1, 3, 2, HS);
    for (int i = 0; i < 3 * 2 * HS; i++)
        assert_close(y[i], x[i], 1e-5);
}

/* ---- chunked cross-entropy --------------------------------------------- */

static void test_chunked_ce(void **state)
{
    (void)state;
    enum { N = 6, C = 5, V = 13 };
    rng_fast r;
    rng_fast_seed(&r, 9);
    float x[N * C], w[V * C], logits[N * V];
    for (int i = 0; i < N * C; i++)
        x[i] = (float)(2 * rng_fast_double(&r) - 1);
    for (int i = 0; i < V * C; i++)
        w[i] = (float)(2 * rng_fast_double(&r) - 1);
    int tgt[N] = {3, 12, -1, 0, 7, 7};
    /* the whole-vocabulary reference: logits, crossentropy, matmul backward */
    matmul_forward(logits, x, w, NULL, N, C, V);
    int amax_ref[N];
    for (int n = 0; n < N; n++) {
        amax_ref[n] = -1;
        for (int v = 0; tgt[n] >= 0 && v < V; v++)
            if (amax_ref[n] < 0 || logits[n * V + v] > logits[n * V + amax_ref[n]])
                amax_ref[n] = v;
    }
    float lref[N];
    int nref;
    double sref = crossentropy_forward(lref, logits, tgt, N, V, &nref);
    crossentropy_backward(logits, tgt, N, V, 0.5f);
    float dx_ref[N * C] = {0}, dw_ref[V * C] = {0};
    matmul_backward(dx_ref, dw_ref, NULL, logits, x, w, N, C, V);
    int chunks[] = {1, 4, 5, 13, 0};
    for (size_t k = 0; k < sizeof chunks / sizeof *chunks; k++) {
        float buf[N * V], loss[N], lse[N], dx[N * C] = {0}, dw[V * C] = {0};
        int n;
        double s = ce_chunked_forward(loss, lse, buf, x, w, tgt, N, C, V, chunks[k], &n);
        assert_int_equal(n, nref);
        assert_rel(s, sref, 1e-6);
        for (int i = 0; i < N; i++)
            assert_close(loss[i], lref[i], 1e-5);
        ce_chunked_backward(dx, dw, buf, x, w, tgt, lse, N, C, V, chunks[k], 0.5f);
        int amax[N];
        ce_chunked_argmax(amax, buf, x, w, tgt, N, C, V, chunks[k]);
        for (int i = 0; i < N; i++)
            assert_int_equal(amax[i], amax_ref[i]);
        for (int i = 0; i < N * C; i++)
            assert_close(dx[i], dx_ref[i], 1e-5);
        for (int i = 0; i < V * C; i++)
            assert_close(dw[i], dw_ref[i], 1e-5);
    }
}

/* ---- frozen embeddings -------------------------------------------------- */

static void test_freeze(void **state)
{
    (void)state;
    for (int tied = 0; tied < 2; tied++) {
        train_config cfg = variant_config(tied ? 0 : 1);
        cape_err e = {0};
        train_model m;
        assert_int_equal(train_model_build(&m, &cfg, &e), 0);
        assert_int_equal(train_model_alloc_acts(&m, 2, 5, &e), 0);
        train_model_init(&m, 3);
        int tok[10] = {1, 4, 2, 9, 3, 0, 10, 5, 5, 7};
        int tgt[10] = {4, 2, 9, 3, -1, 10, 5, 5, 7, 8};
        train_zero_grads(&m);
        train_forward(&m, tok, tgt, NULL, NULL, 2, 5, NULL);
        train_backward(&m, tok, tgt, NULL, NULL, 2, 5, 1.0f);
        float *full = malloc(sizeof(float) * m.n_params);
        memcpy(full, m.grads, sizeof(float) * m.n_params);
        train_model_freeze_embeddings(&m);
        train_zero_grads(&m);
        train_forward(&m, tok, tgt, NULL, NULL, 2, 5, NULL);
        train_backward(&m, tok, tgt, NULL, NULL, 2, 5, 1.0f);
        float *before = malloc(sizeof(float) * m.n_params);
        memcpy(before, m.params, sizeof(float) * m.n_params);
        int n_frozen = 0;
        for (int t = 0; t < m.n_tensors; t++) {
            const train_tensor *tt = &m.tensors[t];
            int emb = !strcmp(tt->name, "token_embd.weight") || !strcmp(tt->name, "output.weight");
            assert_int_equal(tt->frozen, emb);
            n_frozen += emb;
            for (size_t i = 0; i < tt->size; i++) {
                size_t o = tt->offset + i;
                if (emb)
                    assert_true(m.grads[o] == 0.0f);
                else
                    assert_true(m.grads[o] == full[o]); /* the same computation */
            }
        }
        assert_int_equal(n_frozen, tied ? 1 : 2);
        adamw_state opt;
        assert_int_equal(adamw_init(&opt, m.n_params, &e), 0);
        adamw_hparams h = {0.9f, 0.95f, 1e-8f, 0.1f};
        adamw_step(&opt, &m, 0.01f, &h);
        for (int t = 0; t < m.n_tensors; t++)
            if (m.tensors[t].frozen)
                assert_memory_equal(m.params + m.tensors[t].offset,
                                    before + m.tensors[t].offset,
                                    sizeof(float) * m.tensors[t].size);
        adamw_free(&opt);
        free(full);
        free(before);
        train_model_free(&m);
    }
}

/* ---- refusals ------------------------------------------------------------ */

static void test_refuse(void **state)
{
    (void)state;
    cape_err e = {0};
    train_init_src src;
    train_config cfg;
    assert_int_equal(train_init_open(&src, "tests/ref/hf/gptneox.gguf", &cfg, &e), CAPE_EINPUT);
    assert_non_null(strstr(e.msg, "llama, qwen2, qwen3, gemma3"));
    train_init_close(&src);
}

int main(void)
{
    json_error_t je;
    g_ref = json_load_file("tests/ref/train_init.json", 0, &je);
    if (!g_ref) {
        fprintf(stderr, "tests/ref/train_init.json: %s\n", je.text);
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ref_llama),   cmocka_unit_test(test_ref_qwen2),
        cmocka_unit_test(test_ref_qwen3),   cmocka_unit_test(test_ref_gemma3),
        cmocka_unit_test(test_fd_variants), cmocka_unit_test(test_layers),
        cmocka_unit_test(test_chunked_ce),
        cmocka_unit_test(test_freeze),      cmocka_unit_test(test_refuse),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    json_decref(g_ref);
    return rc;
}
