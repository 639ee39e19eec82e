#include "train/train_model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/rng.h"
#include "train/train_layers.h"
#include "train/train_pool.h"

const char *train_arch_name(train_arch a)
{
    return a == TRAIN_GPT2 ? "gpt2" : "llama";
}

int train_arch_parse(const char *s, train_arch *out)
{
    if (strcmp(s, "llama") == 0)
        *out = TRAIN_LLAMA;
    else if (strcmp(s, "gpt2") == 0)
        *out = TRAIN_GPT2;
    else
        return -1;
    return 0;
}

void train_config_defaults(train_config *c)
{
    if (!c->dim)
        c->dim = 128;
    if (!c->n_layers)
        c->n_layers = 4;
    if (!c->n_heads)
        c->n_heads = 4;
    if (!c->n_kv_heads || c->arch == TRAIN_GPT2)
        c->n_kv_heads = c->n_heads;
    if (!c->hidden)
        c->hidden = c->arch == TRAIN_GPT2 ? 4 * c->dim : (8 * c->dim / 3 + 31) / 32 * 32;
    if (!c->ctx)
        c->ctx = 128;
    if (c->norm_eps <= 0.0f)
        c->norm_eps = 1e-5f;
    if (c->rope_theta <= 0.0f)
        c->rope_theta = 10000.0f;
}

int train_config_check(const train_config *c, cape_err *e)
{
    if (c->vocab < 2 || c->vocab > (1 << 24))
        return err_set(e, CAPE_EINPUT, "vocab: %d is out of range [2, 16777216]", c->vocab);
    if (c->dim < 2 || c->dim > 65536)
        return err_set(e, CAPE_EINPUT, "dim: %d is out of range [2, 65536]", c->dim);
    if (c->n_layers < 1 || c->n_layers > 1024)
        return err_set(e, CAPE_EINPUT, "layers: %d is out of range [1, 1024]", c->n_layers);
    if (c->n_heads < 1 || c->dim % c->n_heads)
        return err_set(e, CAPE_EINPUT, "heads: %d does not divide dim %d", c->n_heads, c->dim);
    if ((c->dim / c->n_heads) % 2)
        return err_set(e, CAPE_EINPUT, "heads: head size %d must be even", c->dim / c->n_heads);
    if (c->n_kv_heads < 1 || c->n_heads % c->n_kv_heads)
        return err_set(e, CAPE_EINPUT, "kv-heads: %d does not divide heads %d", c->n_kv_heads,
                       c->n_heads);
    if (c->hidden < 1 || c->hidden > (1 << 20))
        return err_set(e, CAPE_EINPUT, "hidden: %d is out of range [1, 1048576]", c->hidden);
    if (c->ctx < 1 || c->ctx > 65536)
        return err_set(e, CAPE_EINPUT, "ctx: %d is out of range [1, 65536]", c->ctx);
    return 0;
}

/* ---- tensor table ---------------------------------------------------- */

typedef struct {
    train_tensor *t;
    int n, cap;
    size_t total;
} table;

static int add(table *tb, const char *name, int64_t rows, int64_t cols, int decay, int residual)
{
    if (tb->n == tb->cap) {
        int cap = tb->cap ? 2 * tb->cap : 32;
        train_tensor *nt = realloc(tb->t, sizeof *nt * cap);
        if (!nt)
            return -1;
        tb->t = nt;
        tb->cap = cap;
    }
    train_tensor *t = &tb->t[tb->n++];
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s", name);
    t->ndim = cols ? 2 : 1;
    t->shape[0] = rows;
    t->shape[1] = cols ? cols : 1;
    t->size = (size_t)rows * (size_t)(cols ? cols : 1);
    t->offset = tb->total;
    t->decay = decay;
    t->residual = residual;
    tb->total += t->size;
    return 0;
}

static int build_table(table *tb, const train_config *c)
{
    int64_t C = c->dim, I = c->hidden, V = c->vocab;
    int64_t KV = (int64_t)c->n_kv_heads * (c->dim / c->n_heads);
    char n[64];
    int rc = add(tb, "token_embd.weight", V, C, 1, 0);
    if (c->arch == TRAIN_GPT2)
        rc |= add(tb, "position_embd.weight", c->ctx, C, 1, 0);
    for (int l = 0; l < c->n_layers && !rc; l++) {
#define T2(suffix, r, cc, dec, res)                                                               \
    (snprintf(n, sizeof n, "blk.%d.%s", l, suffix), add(tb, n, r, cc, dec, res))
        if (c->arch == TRAIN_LLAMA) {
            rc |= T2("attn_norm.weight", C, 0, 0, 0);
            rc |= T2("attn_q.weight", C, C, 1, 0);
            rc |= T2("attn_k.weight", KV, C, 1, 0);
            rc |= T2("attn_v.weight", KV, C, 1, 0);
            rc |= T2("attn_output.weight", C, C, 1, 1);
            rc |= T2("ffn_norm.weight", C, 0, 0, 0);
            rc |= T2("ffn_gate.weight", I, C, 1, 0);
            rc |= T2("ffn_up.weight", I, C, 1, 0);
            rc |= T2("ffn_down.weight", C, I, 1, 1);
        } else {
            rc |= T2("attn_norm.weight", C, 0, 0, 0);
            rc |= T2("attn_norm.bias", C, 0, 0, 0);
            rc |= T2("attn_qkv.weight", 3 * C, C, 1, 0);
            rc |= T2("attn_qkv.bias", 3 * C, 0, 0, 0);
            rc |= T2("attn_output.weight", C, C, 1, 1);
            rc |= T2("attn_output.bias", C, 0, 0, 0);
            rc |= T2("ffn_norm.weight", C, 0, 0, 0);
            rc |= T2("ffn_norm.bias", C, 0, 0, 0);
            rc |= T2("ffn_up.weight", I, C, 1, 0);
            rc |= T2("ffn_up.bias", I, 0, 0, 0);
            rc |= T2("ffn_down.weight", C, I, 1, 1);
            rc |= T2("ffn_down.bias", C, 0, 0, 0);
        }
#undef T2
    }
    rc |= add(tb, "output_norm.weight", C, 0, 0, 0);
    if (c->arch == TRAIN_GPT2)
        rc |= add(tb, "output_norm.bias", C, 0, 0, 0);
    else
        rc |= add(tb, "output.weight", V, C, 1, 0);
    return rc;
}

static void bind(const train_model *m, float *base, train_params *p)
{
    const train_config *c = &m->cfg;
    int i = 0;
    p->tok_emb = base + m->tensors[i++].offset;
    p->pos_emb = c->arch == TRAIN_GPT2 ? base + m->tensors[i++].offset : NULL;
    for (int l = 0; l < c->n_layers; l++) {
        train_layer_params *L = &p->layers[l];
        memset(L, 0, sizeof *L);
        if (c->arch == TRAIN_LLAMA) {
            float **slot[] = {&L->norm1_w, &L->wq,    &L->wk,   &L->wv,    &L->wo,
                              &L->norm2_w, &L->w_gate, &L->w_up, &L->w_down};
            for (size_t s = 0; s < sizeof slot / sizeof *slot; s++)
                *slot[s] = base + m->tensors[i++].offset;
        } else {
            float **slot[] = {&L->norm1_w, &L->norm1_b, &L->wqkv, &L->bqkv,
                              &L->wo,      &L->bo,      &L->norm2_w, &L->norm2_b,
                              &L->w_up,    &L->b_up,    &L->w_down,  &L->b_down};
            for (size_t s = 0; s < sizeof slot / sizeof *slot; s++)
                *slot[s] = base + m->tensors[i++].offset;
        }
    }
    p->norm_w = base + m->tensors[i++].offset;
    if (c->arch == TRAIN_GPT2) {
        p->norm_b = base + m->tensors[i++].offset;
        p->head = p->tok_emb;
    } else {
        p->norm_b = NULL;
        p->head = base + m->tensors[i++].offset;
    }
}

static size_t count_params(const train_config *c)
{
    table tb = {0};
    if (build_table(&tb, c)) {
        free(tb.t);
        return 0;
    }
    free(tb.t);
    return tb.total;
}

/* ---- activations ------------------------------------------------------ */

static size_t layer_act_floats(const train_config *c, int B, int T)
{
    size_t N = (size_t)B * T, C = c->dim, I = c->hidden;
    size_t KV = (size_t)c->n_kv_heads * (c->dim / c->n_heads);
    size_t qkv = c->arch == TRAIN_LLAMA ? C + 2 * KV : 3 * C;
    size_t mlp = c->arch == TRAIN_LLAMA ? 3 * I : 2 * I;
    return N * (5 * C + 4 + qkv + mlp) + (size_t)B * c->n_heads * T * T;
}

static size_t scratch_floats(const train_config *c, int B, int T)
{
    size_t N = (size_t)B * T, C = c->dim, I = c->hidden;
    size_t KV = (size_t)c->n_kv_heads * (c->dim / c->n_heads);
    size_t qkv = c->arch == TRAIN_LLAMA ? C + 2 * KV : 3 * C;
    return N * (3 * C + qkv + 3 * I);
}

static size_t top_act_floats(const train_config *c, int B, int T)
{
    size_t N = (size_t)B * T;
    return N * (2 * (size_t)c->dim + 2 + (size_t)c->vocab) + (size_t)T * (c->dim / c->n_heads);
}

size_t train_model_bytes(const train_config *cfg, int B, int T)
{
    size_t np = count_params(cfg);
    size_t acts = layer_act_floats(cfg, B, T) * cfg->n_layers + top_act_floats(cfg, B, T) +
                  scratch_floats(cfg, B, T);
    return sizeof(float) * (4 * np + acts);
}

int train_model_build(train_model *m, const train_config *cfg, cape_err *e)
{
    memset(m, 0, sizeof *m);
    m->cfg = *cfg;
    if (train_config_check(cfg, e))
        return CAPE_EINPUT;
    table tb = {0};
    if (build_table(&tb, cfg)) {
        free(tb.t);
        return err_set(e, CAPE_EFAIL, "out of memory building the tensor table");
    }
    m->tensors = tb.t;
    m->n_tensors = tb.n;
    m->n_params = tb.total;
    m->params = calloc(m->n_params, sizeof(float));
    m->grads = calloc(m->n_params, sizeof(float));
    m->p.layers = calloc(cfg->n_layers, sizeof(train_layer_params));
    m->g.layers = calloc(cfg->n_layers, sizeof(train_layer_params));
    if (!m->params || !m->grads || !m->p.layers || !m->g.layers) {
        train_model_free(m);
        return err_set(e, CAPE_EINPUT, "model of %zu parameters does not fit in memory",
                       tb.total);
    }
    bind(m, m->params, &m->p);
    bind(m, m->grads, &m->g);
    return 0;
}

int train_model_alloc_acts(train_model *m, int B, int T, cape_err *e)
{
    const train_config *c = &m->cfg;
    if (T > c->ctx)
        return err_set(e, CAPE_EINPUT, "sequence length %d exceeds the context %d", T, c->ctx);
    free(m->act_mem);
    free(m->acts);
    free(m->scratch);
    size_t per = layer_act_floats(c, B, T), top = top_act_floats(c, B, T);
    m->act_floats = per * c->n_layers + top;
    m->act_mem = malloc(sizeof(float) * m->act_floats);
    m->acts = calloc(c->n_layers, sizeof *m->acts);
    m->scratch_floats = scratch_floats(c, B, T);
    m->scratch = malloc(sizeof(float) * m->scratch_floats);
    if (!m->act_mem || !m->acts || !m->scratch)
        return err_set(e, CAPE_EINPUT, "activations for batch %dx%d do not fit in memory", B, T);
    m->B = B;
    m->T = T;
    size_t N = (size_t)B * T, C = c->dim, I = c->hidden;
    size_t KV = (size_t)c->n_kv_heads * (c->dim / c->n_heads);
    float *p = m->act_mem;
#define TAKE(field, n) (field = p, p += (n))
    for (int l = 0; l < c->n_layers; l++) {
        train_layer_acts *a = &m->acts[l];
        TAKE(a->resid, N * C);
        TAKE(a->norm1, N * C);
        TAKE(a->mean1, N);
        TAKE(a->rstd1, N);
        if (c->arch == TRAIN_LLAMA) {
            TAKE(a->q, N * C);
            TAKE(a->k, N * KV);
            TAKE(a->v, N * KV);
        } else {
            TAKE(a->qkv, N * 3 * C);
        }
        TAKE(a->att, (size_t)B * c->n_heads * T * T);
        TAKE(a->atty, N * C);
        TAKE(a->resid2, N * C);
        TAKE(a->norm2, N * C);
        TAKE(a->mean2, N);
        TAKE(a->rstd2, N);
        TAKE(a->pre_a, N * I);
        if (c->arch == TRAIN_LLAMA)
            TAKE(a->pre_b, N * I);
        TAKE(a->hid, N * I);
    }
    TAKE(m->resid_out, N * C);
    TAKE(m->normf, N * C);
    TAKE(m->meanf, N);
    TAKE(m->rstdf, N);
    TAKE(m->logits, N * (size_t)c->vocab);
    int hs = c->dim / c->n_heads;
    TAKE(m->rope_cos, (size_t)T * hs / 2);
    TAKE(m->rope_sin, (size_t)T * hs / 2);
#undef TAKE
    rope_table(m->rope_cos, m->rope_sin, T, hs, c->rope_theta);
    return 0;
}

void train_model_free(train_model *m)
{
    free(m->tensors);
    free(m->params);
    free(m->grads);
    free(m->p.layers);
    free(m->g.layers);
    free(m->act_mem);
    free(m->acts);
    free(m->scratch);
    memset(m, 0, sizeof *m);
}

const train_tensor *train_model_tensor(const train_model *m, const char *name)
{
    for (int i = 0; i < m->n_tensors; i++)
        if (strcmp(m->tensors[i].name, name) == 0)
            return &m->tensors[i];
    return NULL;
}

void train_model_init(train_model *m, uint64_t seed)
{
    rng_fast r;
    rng_fast_seed(&r, seed);
    float res_scale = 1.0f / sqrtf(2.0f * m->cfg.n_layers);
    for (int i = 0; i < m->n_tensors; i++) {
        const train_tensor *t = &m->tensors[i];
        float *p = m->params + t->offset;
        int is_bias = strstr(t->name, ".bias") != NULL;
        if (t->ndim == 1) {
            float v = is_bias ? 0.0f : 1.0f;
            for (size_t j = 0; j < t->size; j++)
                p[j] = v;
            continue;
        }
        float sd = 0.02f * (t->residual ? res_scale : 1.0f);
        for (size_t j = 0; j < t->size; j += 2) {
            double u1 = rng_fast_double(&r), u2 = rng_fast_double(&r);
            double rad = sqrt(-2.0 * log(1.0 - u1)), th = 2.0 * M_PI * u2;
            p[j] = (float)(sd * rad * cos(th));
            if (j + 1 < t->size)
                p[j + 1] = (float)(sd * rad * sin(th));
        }
    }
}

typedef struct {
    float *g;
    size_t n, chunk;
} zero_job;

static void zero_task(void *p, int i)
{
    zero_job *j = p;
    size_t lo = (size_t)i * j->chunk, hi = lo + j->chunk < j->n ? lo + j->chunk : j->n;
    if (lo < hi)
        memset(j->g + lo, 0, sizeof(float) * (hi - lo));
}

const float *train_input_grad(const train_model *m)
{
    return m->scratch; /* dres, which encoder_backward reads and leaves */
}

void train_zero_grads(train_model *m)
{
    int nt = tp_threads();
    zero_job j = {m->grads, m->n_params, (m->n_params + nt - 1) / nt};
    tp_run(nt, zero_task, &j);
}

/* ---- forward ---------------------------------------------------------- */

static void layer_forward(train_model *m, int l, float *out, const float *masks, const int *pos,
                          int B, int T)
{
    const train_config *c = &m->cfg;
    const train_layer_params *P = &m->p.layers[l];
    train_layer_acts *a = &m->acts[l];
    int N = B * T, C = c->dim, I = c->hidden, hs = c->dim / c->n_heads;
    int KV = c->n_kv_heads * hs;
    attn_shape s = {B, T, c->n_heads, c->n_kv_heads, hs, C, KV, KV, pos};
    if (c->arch == TRAIN_LLAMA) {
        rmsnorm_forward(a->norm1, a->rstd1, a->resid, P->norm1_w, N, C, c->norm_eps);
        matmul_forward(a->q, a->norm1, P->wq, NULL, N, C, C);
        matmul_forward(a->k, a->norm1, P->wk, NULL, N, C, KV);
        matmul_forward(a->v, a->norm1, P->wv, NULL, N, C, KV);
        rope_forward(a->q, C, m->rope_cos, m->rope_sin, pos, B, T, c->n_heads, hs);
        rope_forward(a->k, KV, m->rope_cos, m->rope_sin, pos, B, T, c->n_kv_heads, hs);
        attention_forward(a->atty, a->att, a->q, a->k, a->v, &s);
    } else {
        layernorm_forward(a->norm1, a->mean1, a->rstd1, a->resid, P->norm1_w, P->norm1_b, N, C,
                          c->norm_eps);
        matmul_forward(a->qkv, a->norm1, P->wqkv, P->bqkv, N, C, 3 * C);
        s.sq = s.sk = s.sv = 3 * C;
        attention_forward(a->atty, a->att, a->qkv, a->qkv + C, a->qkv + 2 * C, &s);
    }
    matmul_forward_res(a->resid2, a->atty, P->wo, P->bo, a->resid, N, C, C);
    if (c->arch == TRAIN_LLAMA) {
        rmsnorm_forward(a->norm2, a->rstd2, a->resid2, P->norm2_w, N, C, c->norm_eps);
        matmul_forward(a->pre_a, a->norm2, P->w_gate, NULL, N, C, I);
        matmul_forward(a->pre_b, a->norm2, P->w_up, NULL, N, C, I);
        swiglu_forward(a->hid, a->pre_a, a->pre_b, masks, N, T, I);
    } else {
        layernorm_forward(a->norm2, a->mean2, a->rstd2, a->resid2, P->norm2_w, P->norm2_b, N, C,
                          c->norm_eps);
        matmul_forward(a->pre_a, a->norm2, P->w_up, P->b_up, N, C, I);
        gelu_forward(a->hid, a->pre_a, masks, N, T, I);
    }
    matmul_forward_res(out, a->hid, P->w_down, P->b_down, a->resid2, N, I, C);
}

static void forward_logits(train_model *m, const int *tokens, const float *masks, const int *pos,
                           int B, int T)
{
    const train_config *c = &m->cfg;
    int N = B * T, C = c->dim;
    encoder_forward(m->acts[0].resid, tokens, m->p.tok_emb, m->p.pos_emb, pos, B, T, C);
    for (int l = 0; l < c->n_layers; l++) {
        float *out = l + 1 < c->n_layers ? m->acts[l + 1].resid : m->resid_out;
        layer_forward(m, l, out, masks, pos, B, T);
    }
    if (c->arch == TRAIN_LLAMA)
        rmsnorm_forward(m->normf, m->rstdf, m->resid_out, m->p.norm_w, N, C, c->norm_eps);
    else
        layernorm_forward(m->normf, m->meanf, m->rstdf, m->resid_out, m->p.norm_w, m->p.norm_b,
                          N, C, c->norm_eps);
    matmul_forward(m->logits, m->normf, m->p.head, NULL, N, C, c->vocab);
}

float train_forward(train_model *m, const int *tokens, const int *targets, const float *masks,
                    const int *pos, int B, int T, int *n_counted)
{
    forward_logits(m, tokens, masks, pos, B, T);
    int n = 0;
    double sum = targets ? crossentropy_forward(NULL, m->logits, targets, B * T, m->cfg.vocab, &n)
                         : 0.0;
    if (n_counted)
        *n_counted = n;
    return n ? (float)(sum / n) : 0.0f;
}

void train_row_losses(train_model *m, const int *tokens, const int *targets, const float *masks,
                      const int *pos, int B, int T, float *out)
{
    forward_logits(m, tokens, masks, pos, B, T);
    for (int b = 0; b < B; b++) {
        int n = 0;
        double sum = crossentropy_forward(NULL, m->logits + (size_t)b * T * m->cfg.vocab,
                                          targets + (size_t)b * T, T, m->cfg.vocab, &n);
        out[b] = n ? (float)(sum / n) : NAN;
    }
}

/* ---- backward --------------------------------------------------------- */

/* dres holds d(loss)/d(layer output) on entry and d(loss)/d(layer input) on
 * return. */
static void layer_backward(train_model *m, int l, float *dres, const float *masks, const int *pos,
                           int B, int T)
{
    const train_config *c = &m->cfg;
    const train_layer_params *P = &m->p.layers[l];
    train_layer_params *G = &m->g.layers[l];
    train_layer_acts *a = &m->acts[l];
    int N = B * T, C = c->dim, I = c->hidden, hs = c->dim / c->n_heads;
    int KV = c->n_kv_heads * hs;
    size_t NC = (size_t)N * C;
    size_t qkvw = c->arch == TRAIN_LLAMA ? (size_t)C + 2 * KV : 3 * (size_t)C;
    float *dnorm = m->scratch + NC, *dqkv = dnorm + NC, *datty = dqkv + N * qkvw;
    float *dpa = datty + NC, *dpb = dpa + (size_t)N * I, *dhid = dpb + (size_t)N * I;
    memset(dnorm, 0, sizeof(float) * (m->scratch_floats - NC));

    /* MLP: out = resid2 + down(hid) */
    matmul_backward(dhid, G->w_down, G->b_down, dres, a->hid, P->w_down, N, I, C);
    if (c->arch == TRAIN_LLAMA) {
        swiglu_backward(dpa, dpb, dhid, a->pre_a, a->pre_b, masks, N, T, I);
        matmul_backward(dnorm, G->w_gate, NULL, dpa, a->norm2, P->w_gate, N, C, I);
        matmul_backward(dnorm, G->w_up, NULL, dpb, a->norm2, P->w_up, N, C, I);
        rmsnorm_backward(dres, G->norm2_w, dnorm, a->resid2, P->norm2_w, a->rstd2, N, C);
    } else {
        gelu_backward(dpa, dhid, a->pre_a, masks, N, T, I);
        matmul_backward(dnorm, G->w_up, G->b_up, dpa, a->norm2, P->w_up, N, C, I);
        layernorm_backward(dres, G->norm2_w, G->norm2_b, dnorm, a->resid2, P->norm2_w, a->mean2,
                           a->rstd2, N, C);
    }
    /* attention: resid2 = resid + proj(atty) */
    matmul_backward(datty, G->wo, G->bo, dres, a->atty, P->wo, N, C, C);
    memset(dnorm, 0, sizeof(float) * NC);
    attn_shape s = {B, T, c->n_heads, c->n_kv_heads, hs, C, KV, KV, pos};
    if (c->arch == TRAIN_LLAMA) {
        float *dq = dqkv, *dk = dq + NC, *dv = dk + (size_t)N * KV;
        attention_backward(dq, dk, dv, datty, a->att, a->q, a->k, a->v, &s);
        rope_backward(dq, C, m->rope_cos, m->rope_sin, pos, B, T, c->n_heads, hs);
        rope_backward(dk, KV, m->rope_cos, m->rope_sin, pos, B, T, c->n_kv_heads, hs);
        matmul_backward(dnorm, G->wq, NULL, dq, a->norm1, P->wq, N, C, C);
        matmul_backward(dnorm, G->wk, NULL, dk, a->norm1, P->wk, N, C, KV);
        matmul_backward(dnorm, G->wv, NULL, dv, a->norm1, P->wv, N, C, KV);
        rmsnorm_backward(dres, G->norm1_w, dnorm, a->resid, P->norm1_w, a->rstd1, N, C);
    } else {
        s.sq = s.sk = s.sv = 3 * C;
        attention_backward(dqkv, dqkv + C, dqkv + 2 * C, datty, a->att, a->qkv, a->qkv + C,
                           a->qkv + 2 * C, &s);
        matmul_backward(dnorm, G->wqkv, G->bqkv, dqkv, a->norm1, P->wqkv, N, C, 3 * C);
        layernorm_backward(dres, G->norm1_w, G->norm1_b, dnorm, a->resid, P->norm1_w, a->mean1,
                           a->rstd1, N, C);
    }
}

void train_backward(train_model *m, const int *tokens, const int *targets, const float *masks,
                    const int *pos, int B, int T, float loss_scale)
{
    int N = B * T, n = 0;
    for (int i = 0; i < N; i++)
        n += targets[i] >= 0;
    if (!n)
        return;
    crossentropy_backward(m->logits, targets, N, m->cfg.vocab, loss_scale / n);
    train_backward_from(m, tokens, masks, pos, B, T, 1, -1, NULL);
}

void train_backward_from(train_model *m, const int *tokens, const float *masks, const int *pos,
                         int B, int T, int head, int at, const float *dact)
{
    const train_config *c = &m->cfg;
    int N = B * T, C = c->dim;
    float *dres = m->scratch, *dnormf = m->scratch + (size_t)N * C;
    memset(dres, 0, sizeof(float) * 2 * (size_t)N * C);
    int top = c->n_layers - 1;
    if (head) {
        matmul_backward(dnormf, m->g.head, NULL, m->logits, m->normf, m->p.head, N, C, c->vocab);
        if (c->arch == TRAIN_LLAMA)
            rmsnorm_backward(dres, m->g.norm_w, dnormf, m->resid_out, m->p.norm_w, m->rstdf, N,
                             C);
        else
            layernorm_backward(dres, m->g.norm_w, m->g.norm_b, dnormf, m->resid_out, m->p.norm_w,
                               m->meanf, m->rstdf, N, C);
    } else if (dact && at >= 0 && at < c->n_layers) {
        top = at; /* nothing above the injection point has a gradient */
    } else {
        return;
    }
    for (int l = top; l >= 0; l--) {
        if (dact && l == at)
            for (size_t i = 0; i < (size_t)N * C; i++)
                dres[i] += dact[i];
        layer_backward(m, l, dres, masks, pos, B, T);
    }
    encoder_backward(m->g.tok_emb, m->g.pos_emb, dres, tokens, pos, B, T, C);
}
