/* Finite-difference checks of every layer's backward and of the whole
 * model (both families, with and without sink masks, with and without
 * packed rows), and the packed-row property: documents packed into one row
 * get the losses and gradients they get in rows of their own. A layer is checked
 * through the scalar f = sum(out * R) for a fixed random R: the analytic
 * gradient is the layer's backward with dout = R; the numeric one is the
 * central difference of f in double-checked float arithmetic. */
#include "testutil.h"

#include <string.h>

#include "base/rng.h"
#include "train/train_layers.h"
#include "train/train_model.h"

static rng_fast R;

static void fill(float *x, size_t n, float scale)
{
    for (size_t i = 0; i < n; i++)
        x[i] = (float)((rng_fast_double(&R) * 2.0 - 1.0) * scale);
}

static double dotd(const float *a, const float *b, size_t n)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++)
        s += (double)a[i] * b[i];
    return s;
}

/* A layer under test: run() computes out from the current inputs. */
typedef struct {
    void (*run)(void *ctx);
    void *ctx;
    float *out;
    size_t nout;
    const float *r;
} layer_case;

static double f_of(layer_case *lc)
{
    lc->run(lc->ctx);
    return dotd(lc->out, lc->r, lc->nout);
}

/* Compares grad[i] with the central difference of f in x[i], for every i. */
static void check_input(layer_case *lc, float *x, const float *grad, size_t n, const char *what)
{
    for (size_t i = 0; i < n; i++) {
        float keep = x[i], h = 1e-2f * fmaxf(1.0f, fabsf(keep));
        x[i] = keep + h;
        double fp = f_of(lc);
        x[i] = keep - h;
        double fm = f_of(lc);
        x[i] = keep;
        double num = (fp - fm) / (2.0 * h);
        double tol = 2e-2 * fmax(fabs(num), fabs(grad[i])) + 2e-3;
        if (!(fabs(num - grad[i]) <= tol))
            fail_msg("%s[%zu]: analytic %.6g, numeric %.6g", what, i, grad[i], num);
    }
    lc->run(lc->ctx);
}

/* ---- per layer -------------------------------------------------------- */

enum { N_ = 6, C_ = 8, OC_ = 5, T_ = 3, B_ = 2 };

typedef struct {
    float x[N_ * C_], w[OC_ * C_], b[OC_], out[N_ * OC_];
} mm_ctx;
static void mm_run(void *p)
{
    mm_ctx *c = p;
    matmul_forward(c->out, c->x, c->w, c->b, N_, C_, OC_);
}

static void test_matmul(void **state)
{
    (void)state;
    mm_ctx c;
    float r[N_ * OC_], dx[N_ * C_] = {0}, dw[OC_ * C_] = {0}, db[OC_] = {0};
    fill(c.x, N_ * C_, 1), fill(c.w, OC_ * C_, 1), fill(c.b, OC_, 1), fill(r, N_ * OC_, 1);
    layer_case lc = {mm_run, &c, c.out, N_ * OC_, r};
    lc.run(&c);
    matmul_backward(dx, dw, db, r, c.x, c.w, N_, C_, OC_);
    check_input(&lc, c.x, dx, N_ * C_, "matmul dx");
    check_input(&lc, c.w, dw, OC_ * C_, "matmul dw");
    check_input(&lc, c.b, db, OC_, "matmul db");
}

typedef struct {
    int gpt2;
    float x[N_ * C_], w[C_], b[C_], out[N_ * C_], mean[N_], rstd[N_];
} norm_ctx;
static void norm_run(void *p)
{
    norm_ctx *c = p;
    if (c->gpt2)
        layernorm_forward(c->out, c->mean, c->rstd, c->x, c->w, c->b, N_, C_, 1e-5f);
    else
        rmsnorm_forward(c->out, c->rstd, c->x, c->w, N_, C_, 1e-5f);
}

static void test_norms(void **state)
{
    (void)state;
    for (int g = 0; g < 2; g++) {
        norm_ctx c = {.gpt2 = g};
        float r[N_ * C_], dx[N_ * C_] = {0}, dw[C_] = {0}, db[C_] = {0};
        fill(c.x, N_ * C_, 1), fill(c.w, C_, 1), fill(c.b, C_, 1), fill(r, N_ * C_, 1);
        layer_case lc = {norm_run, &c, c.out, N_ * C_, r};
        lc.run(&c);
        if (g)
            layernorm_backward(dx, dw, db, r, c.x, c.w, c.mean, c.rstd, N_, C_);
        else
            rmsnorm_backward(dx, dw, r, c.x, c.w, c.rstd, N_, C_);
        check_input(&lc, c.x, dx, N_ * C_, g ? "layernorm dx" : "rmsnorm dx");
        check_input(&lc, c.w, dw, C_, g ? "layernorm dw" : "rmsnorm dw");
        if (g)
            check_input(&lc, c.b, db, C_, "layernorm db");
    }
}

/* Packed rows: row 0 holds a document of 2 positions then one of 1; row 1
 * one of 1 then one of 2. */
static const int PACKED_POS[B_ * T_] = {0, 1, 0, 0, 0, 1};

typedef struct {
    float x[N_ * C_], out[N_ * C_], cs[T_ * 2], sn[T_ * 2];
    const int *pos;
} rope_ctx;
static void rope_run(void *p)
{
    rope_ctx *c = p;
    memcpy(c->out, c->x, sizeof c->x);
    rope_forward(c->out, C_, c->cs, c->sn, c->pos, B_, T_, 2, 4);
}

static void test_rope(void **state)
{
    (void)state;
    for (int packed = 0; packed < 2; packed++) {
        rope_ctx c = {.pos = packed ? PACKED_POS : NULL};
        float r[N_ * C_], dx[N_ * C_];
        rope_table(c.cs, c.sn, T_, 4, 10000.0f);
        fill(c.x, N_ * C_, 1), fill(r, N_ * C_, 1);
        layer_case lc = {rope_run, &c, c.out, N_ * C_, r};
        lc.run(&c);
        memcpy(dx, r, sizeof r);
        rope_backward(dx, C_, c.cs, c.sn, c.pos, B_, T_, 2, 4);
        check_input(&lc, c.x, dx, N_ * C_, packed ? "rope dx (packed)" : "rope dx");
        /* position 0 is not rotated; position 1 pair 0 turns by exactly 1 rad */
        assert_close(c.cs[0], 1.0, 1e-7);
        assert_close(c.sn[2], sin(1.0), 1e-6);
        if (packed) /* row 0, t = 2 starts a document: not rotated */
            assert_memory_equal(c.out + 2 * C_, c.x + 2 * C_, sizeof(float) * C_);
    }
}

/* attention: 4 query heads over 2 kv heads, head size 2, T_=3, B_=2 */
typedef struct {
    float q[N_ * 8], k[N_ * 4], v[N_ * 4], out[N_ * 8], att[B_ * 4 * T_ * T_];
    attn_shape s;
} att_ctx;
static void att_run(void *p)
{
    att_ctx *c = p;
    attention_forward(c->out, c->att, c->q, c->k, c->v, &c->s);
}

static void test_attention(void **state)
{
    (void)state;
    for (int packed = 0; packed < 2; packed++) {
        att_ctx c = {.s = {B_, T_, 4, 2, 2, 8, 4, 4, packed ? PACKED_POS : NULL}};
        float r[N_ * 8], dq[N_ * 8] = {0}, dk[N_ * 4] = {0}, dv[N_ * 4] = {0};
        fill(c.q, N_ * 8, 1), fill(c.k, N_ * 4, 1), fill(c.v, N_ * 4, 1), fill(r, N_ * 8, 1);
        layer_case lc = {att_run, &c, c.out, N_ * 8, r};
        lc.run(&c);
        attention_backward(dq, dk, dv, r, c.att, c.q, c.k, c.v, &c.s);
        check_input(&lc, c.q, dq, N_ * 8, packed ? "attention dq (packed)" : "attention dq");
        check_input(&lc, c.k, dk, N_ * 4, packed ? "attention dk (packed)" : "attention dk");
        check_input(&lc, c.v, dv, N_ * 4, packed ? "attention dv (packed)" : "attention dv");
        /* causality: the first position attends only to itself */
        assert_close(c.att[0], 1.0, 1e-7);
        assert_close(c.att[1], 0.0, 0.0);
        /* row 0, head 0, query 2 (a new document) sees only itself; query 1
         * sees 0 and 1 */
        const float *a = c.att;
        if (packed) {
            assert_true(a[2 * T_ + 0] == 0.0f && a[2 * T_ + 1] == 0.0f);
            assert_close(a[2 * T_ + 2], 1.0, 1e-7);
        } else {
            assert_true(a[2 * T_ + 0] > 0.0f);
        }
        assert_true(a[1 * T_ + 0] > 0.0f && a[1 * T_ + 1] > 0.0f);
        /* row 1, head 0: query 1 starts a document and ignores key 0 */
        const float *a1 = c.att + (size_t)4 * T_ * T_;
        if (packed)
            assert_true(a1[1 * T_ + 0] == 0.0f && a1[2 * T_ + 0] == 0.0f);
    }
}

typedef struct {
    int gelu;
    float a[N_ * C_], b[N_ * C_], mask[B_ * C_], out[N_ * C_];
} act_ctx;
static void act_run(void *p)
{
    act_ctx *c = p;
    if (c->gelu)
        gelu_forward(c->out, c->a, c->mask, N_, T_, C_);
    else
        swiglu_forward(c->out, c->a, c->b, c->mask, N_, T_, C_);
}

static void test_mlp_activations(void **state)
{
    (void)state;
    for (int g = 0; g < 2; g++) {
        act_ctx c = {.gelu = g};
        float r[N_ * C_], da[N_ * C_] = {0}, db[N_ * C_] = {0};
        fill(c.a, N_ * C_, 2), fill(c.b, N_ * C_, 1), fill(r, N_ * C_, 1);
        for (int i = 0; i < B_ * C_; i++)
            c.mask[i] = (i % 3 == 0) ? 0.0f : 1.0f;
        layer_case lc = {act_run, &c, c.out, N_ * C_, r};
        lc.run(&c);
        if (g)
            gelu_backward(da, r, c.a, c.mask, N_, T_, C_);
        else
            swiglu_backward(da, db, r, c.a, c.b, c.mask, N_, T_, C_);
        check_input(&lc, c.a, da, N_ * C_, g ? "gelu da" : "swiglu da");
        if (!g)
            check_input(&lc, c.b, db, N_ * C_, "swiglu db");
        /* a masked unit gets no gradient at all */
        assert_true(da[0] == 0.0f && c.out[0] == 0.0f);
    }
}

typedef struct {
    float logits[N_ * OC_], loss[N_];
    int targets[N_];
} ce_ctx;
static void ce_run(void *p)
{
    ce_ctx *c = p;
    int n;
    crossentropy_forward(c->loss, c->logits, c->targets, N_, OC_, &n);
}

static void test_crossentropy(void **state)
{
    (void)state;
    ce_ctx c;
    fill(c.logits, N_ * OC_, 3);
    for (int i = 0; i < N_; i++)
        c.targets[i] = i == 2 ? -1 : i % OC_;
    float r[N_], d[N_ * OC_];
    for (int i = 0; i < N_; i++)
        r[i] = 1.0f;
    layer_case lc = {ce_run, &c, c.loss, N_, r};
    lc.run(&c);
    /* hand check: loss = logsumexp - logit[target] */
    double lse = 0;
    for (int j = 0; j < OC_; j++)
        lse += exp(c.logits[j]);
    assert_close(c.loss[0], log(lse) - c.logits[0], 1e-5);
    assert_true(c.loss[2] == 0.0f);
    memcpy(d, c.logits, sizeof d);
    crossentropy_backward(d, c.targets, N_, OC_, 1.0f);
    check_input(&lc, c.logits, d, N_ * OC_, "crossentropy dlogits");
}

typedef struct {
    int tokens[B_ * T_];
    float wte[7 * C_], wpe[T_ * C_], out[N_ * C_];
    const int *pos;
} enc_ctx;
static void enc_run(void *p)
{
    enc_ctx *c = p;
    encoder_forward(c->out, c->tokens, c->wte, c->wpe, c->pos, B_, T_, C_);
}

static void test_encoder(void **state)
{
    (void)state;
    for (int packed = 0; packed < 2; packed++) {
        enc_ctx c = {.pos = packed ? PACKED_POS : NULL};
        int toks[B_ * T_] = {1, 3, 1, 6, 0, 3};
        memcpy(c.tokens, toks, sizeof toks);
        fill(c.wte, 7 * C_, 1), fill(c.wpe, T_ * C_, 1);
        float r[N_ * C_], dwte[7 * C_] = {0}, dwpe[T_ * C_] = {0};
        fill(r, N_ * C_, 1);
        layer_case lc = {enc_run, &c, c.out, N_ * C_, r};
        lc.run(&c);
        encoder_backward(dwte, dwpe, r, c.tokens, c.pos, B_, T_, C_);
        check_input(&lc, c.wte, dwte, 7 * C_, "encoder dwte");
        check_input(&lc, c.wpe, dwpe, T_ * C_, "encoder dwpe");
        if (packed) /* no position reaches row 2 of the table */
            for (int i = 0; i < C_; i++)
                assert_true(dwpe[2 * C_ + i] == 0.0f);
    }
}

/* ---- whole model ------------------------------------------------------ */

typedef struct {
    train_model *m;
    const int *tok, *tgt;
    const float *mask;
    const int *pos;
    float loss;
} model_ctx;
static void model_run(void *p)
{
    model_ctx *c = p;
    c->loss = train_forward(c->m, c->tok, c->tgt, c->mask, c->pos, 2, 5, NULL);
}

static void check_model(train_arch arch, int with_mask, int packed)
{
    train_config cfg = {.arch = arch, .vocab = 11, .dim = 8, .n_layers = 2, .n_heads = 2,
                        .n_kv_heads = arch == TRAIN_LLAMA ? 1 : 2, .hidden = 12, .ctx = 6};
    train_config_defaults(&cfg);
    cape_err e = {0};
    train_model m;
    assert_int_equal(train_model_build(&m, &cfg, &e), 0);
    assert_int_equal(train_model_alloc_acts(&m, 2, 5, &e), 0);
    train_model_init(&m, 7);
    /* larger weights than the init so every path carries signal (gradients
     * up to ~1; at x10 the loss is too curved for a central difference) */
    for (size_t i = 0; i < m.n_params; i++)
        m.params[i] *= 3.0f;
    int tok[10] = {1, 4, 2, 9, 3, 0, 10, 5, 5, 7};
    int tgt[10] = {4, 2, 9, 3, -1, 10, 5, 5, 7, 8};
    float mask[24];
    for (int i = 0; i < 24; i++)
        mask[i] = (i % 12 < 4) ? 1.0f : ((i * 7) % 3 == 0 ? 1.0f : 0.0f);
    static const int pos[10] = {0, 1, 2, 0, 1, 0, 1, 0, 1, 2};
    model_ctx c = {&m, tok, tgt, with_mask ? mask : NULL, packed ? pos : NULL, 0};
    train_zero_grads(&m);
    model_run(&c);
    train_backward(&m, tok, tgt, c.mask, c.pos, 2, 5, 1.0f);
    float *grad = malloc(sizeof(float) * m.n_params);
    memcpy(grad, m.grads, sizeof(float) * m.n_params);
    int masked_zero = 0;
    for (size_t i = 0; i < m.n_params; i++) {
        float keep = m.params[i], h = 1e-3f * fmaxf(1.0f, fabsf(keep));
        m.params[i] = keep + h;
        model_run(&c);
        double fp = c.loss;
        m.params[i] = keep - h;
        model_run(&c);
        double fm = c.loss;
        m.params[i] = keep;
        double num = (fp - fm) / (2.0 * h);
        double tol = 2e-2 * fmax(fabs(num), fabs(grad[i])) + 5e-4;
        if (!(fabs(num - grad[i]) <= tol)) {
            const char *name = "?";
            for (int t = 0; t < m.n_tensors; t++)
                if (i >= m.tensors[t].offset && i < m.tensors[t].offset + m.tensors[t].size)
                    name = m.tensors[t].name;
            fail_msg("%s %s mask=%d packed=%d param %zu (%s): analytic %.6g numeric %.6g",
                     train_arch_name(arch), "model", with_mask, packed, i, name, grad[i], num);
        }
    }
    if (with_mask) {
        /* unit j of the down-projection's input sees no row with mask 1 when
         * both rows mask it out: its column gets exactly zero gradient */
        const train_tensor *t = train_model_tensor(&m, "blk.0.ffn_down.weight");
        for (int j = 0; j < 12; j++)
            if (mask[j] == 0.0f && mask[12 + j] == 0.0f) {
                for (int r = 0; r < 8; r++)
                    assert_true(grad[t->offset + (size_t)r * 12 + j] == 0.0f);
                masked_zero++;
            }
        assert_true(masked_zero > 0);
    }
    free(grad);
    train_model_free(&m);
}

static void test_model_llama(void **state)
{
    (void)state;
    check_model(TRAIN_LLAMA, 0, 0);
    check_model(TRAIN_LLAMA, 1, 0);
    check_model(TRAIN_LLAMA, 1, 1);
}

static void test_model_gpt2(void **state)
{
    (void)state;
    check_model(TRAIN_GPT2, 0, 0);
    check_model(TRAIN_GPT2, 1, 0);
    check_model(TRAIN_GPT2, 1, 1);
}

/* Three documents of one source packed into one row of 8 positions
 * (lengths 3, 2, 2, one padded position) against the same documents in
 * rows of their own: identical loss and gradients (the packed row differs
 * only in the order of float sums). */
static void check_packed_equals_separate(train_arch arch)
{
    enum { T = 8, I = 12 };
    train_config cfg = {.arch = arch, .vocab = 11, .dim = 8, .n_layers = 2, .n_heads = 2,
                        .n_kv_heads = arch == TRAIN_LLAMA ? 1 : 2, .hidden = I, .ctx = T};
    train_config_defaults(&cfg);
    cape_err e = {0};
    train_model m;
    assert_int_equal(train_model_build(&m, &cfg, &e), 0);
    assert_int_equal(train_model_alloc_acts(&m, 3, T, &e), 0);
    train_model_init(&m, 11);
    for (size_t i = 0; i < m.n_params; i++)
        m.params[i] *= 3.0f;
    /* documents as (inputs -> targets) */
    static const int din[3][3] = {{10, 4, 2}, {10, 7}, {10, 3}};
    static const int dtg[3][3] = {{4, 2, 10}, {7, 10}, {3, 10}};
    static const int dlen[3] = {3, 2, 2};
    int ptok[T], ptgt[T], ppos[T], stok[3 * T], stgt[3 * T];
    float mask[3 * I];
    for (int i = 0; i < 3 * I; i++)
        mask[i] = (i % I < 6 || i % I == 9) ? 1.0f : 0.0f; /* one source: the same mask */
    for (int t = 0; t < T; t++)
        ptok[t] = 10, ptgt[t] = -1, ppos[t] = 0;
    for (int i = 0; i < 3 * T; i++)
        stok[i] = 10, stgt[i] = -1;
    for (int d = 0, at = 0; d < 3; d++)
        for (int t = 0; t < dlen[d]; t++, at++) {
            ptok[at] = din[d][t], ptgt[at] = dtg[d][t], ppos[at] = t;
            stok[d * T + t] = din[d][t], stgt[d * T + t] = dtg[d][t];
        }
    train_zero_grads(&m);
    int np, ns;
    float lp = train_forward(&m, ptok, ptgt, mask, ppos, 1, T, &np);
    train_backward(&m, ptok, ptgt, mask, ppos, 1, T, 1.0f);
    float *gp = malloc(sizeof(float) * m.n_params);
    memcpy(gp, m.grads, sizeof(float) * m.n_params);
    train_zero_grads(&m);
    float ls = train_forward(&m, stok, stgt, mask, NULL, 3, T, &ns);
    train_backward(&m, stok, stgt, mask, NULL, 3, T, 1.0f);
    assert_int_equal(np, 7);
    assert_int_equal(ns, 7);
    assert_close(lp, ls, 1e-5 * fabs(ls));
    double gmax = 0.0;
    for (size_t i = 0; i < m.n_params; i++)
        gmax = fmax(gmax, fabs(m.grads[i]));
    for (size_t i = 0; i < m.n_params; i++)
        if (!(fabs(gp[i] - m.grads[i]) <= 1e-5 * gmax))
            fail_msg("%s packed grad %zu: %.8g, separate %.8g", train_arch_name(arch), i, gp[i],
                     m.grads[i]);
    free(gp);
    train_model_free(&m);
}

static void test_packed_equals_separate(void **state)
{
    (void)state;
    check_packed_equals_separate(TRAIN_LLAMA);
    check_packed_equals_separate(TRAIN_GPT2);
}

int main(void)
{
    rng_fast_seed(&R, 12345);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matmul),     cmocka_unit_test(test_norms),
        cmocka_unit_test(test_rope),       cmocka_unit_test(test_attention),
        cmocka_unit_test(test_mlp_activations), cmocka_unit_test(test_crossentropy),
        cmocka_unit_test(test_encoder),    cmocka_unit_test(test_model_llama),
        cmocka_unit_test(test_model_gpt2), cmocka_unit_test(test_packed_equals_separate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
