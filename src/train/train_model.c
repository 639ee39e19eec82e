#include "train/train_model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/rng.h"
#include "train/train_gemm.h"
#include "train/train_layers.h"
#include "train/train_pool.h"

static const char *const ARCH_NAMES[] = {"llama", "gpt2", "qwen2", "qwen3", "gemma3"};

const char *train_arch_name(train_arch a)
{
    return (unsigned)a < sizeof ARCH_NAMES / sizeof *ARCH_NAMES ? ARCH_NAMES[a] : "llama";
}

int train_arch_parse(const char *s, train_arch *out)
{
    for (size_t i = 0; i < sizeof ARCH_NAMES / sizeof *ARCH_NAMES; i++)
        if (strcmp(s, ARCH_NAMES[i]) == 0) {
            *out = (train_arch)i;
            return 0;
        }
    return -1;
}

int train_arch_llama_like(train_arch a)
{
    return a != TRAIN_GPT2;
}

int train_head_dim(const train_config *c)
{
    return c->head_dim > 0 ? c->head_dim : c->dim / c->n_heads;
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
    if (c->n_heads < 1 || (c->head_dim <= 0 && c->dim % c->n_heads))
        return err_set(e, CAPE_EINPUT, "heads: %d does not divide dim %d", c->n_heads, c->dim);
    if (c->head_dim < 0 || c->head_dim > 4096 || (int64_t)c->n_heads * train_head_dim(c) > 65536)
        return err_set(e, CAPE_EINPUT, "head size %d is out of range", c->head_dim);
    if (train_head_dim(c) % 2)
        return err_set(e, CAPE_EINPUT, "heads: head size %d must be even", train_head_dim(c));
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
    int64_t C = c->dim, I = c->hidden, V = c->vocab, hs = train_head_dim(c);
    int64_t KV = (int64_t)c->n_kv_heads * hs, QD = (int64_t)c->n_heads * hs;
    char n[64];
    int rc = add(tb, "token_embd.weight", V, C, 1, 0);
    if (c->arch == TRAIN_GPT2)
        rc |= add(tb, "position_embd.weight", c->ctx, C, 1, 0);
    for (int l = 0; l < c->n_layers && !rc; l++) {
#define T2(suffix, r, cc, dec, res)                                                               \
    (snprintf(n, sizeof n, "blk.%d.%s", l, suffix), add(tb, n, r, cc, dec, res))
        if (train_arch_llama_like(c->arch)) {
            rc |= T2("attn_norm.weight", C, 0, 0, 0);
            rc |= T2("attn_q.weight", QD, C, 1, 0);
            if (c->qkv_bias)
                rc |= T2("attn_q.bias", QD, 0, 0, 0);
            rc |= T2("attn_k.weight", KV, C, 1, 0);
            if (c->qkv_bias)
                rc |= T2("attn_k.bias", KV, 0, 0, 0);
            rc |= T2("attn_v.weight", KV, C, 1, 0);
            if (c->qkv_bias)
                rc |= T2("attn_v.bias", KV, 0, 0, 0);
            if (c->qk_norm) {
                rc |= T2("attn_q_norm.weight", hs, 0, 0, 0);
                rc |= T2("attn_k_norm.weight", hs, 0, 0, 0);
            }
            rc |= T2("attn_output.weight", C, QD, 1, 1);
            if (c->post_norms)
                rc |= T2("post_attention_norm.weight", C, 0, 0, 0);
            rc |= T2("ffn_norm.weight", C, 0, 0, 0);
            /* the MLP's three tensors last in a block, so that a wider MLP
             * (appended units) is a change of these shapes only */
            rc |= T2("ffn_gate.weight", I, C, 1, 0);
            rc |= T2("ffn_up.weight", I, C, 1, 0);
            rc |= T2("ffn_down.weight", C, I, 1, 1);
            if (c->post_norms)
                rc |= T2("post_ffw_norm.weight", C, 0, 0, 0);
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
    else if (!c->tied)
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
        if (train_arch_llama_like(c->arch)) {
            float **slot[] = {&L->norm1_w, &L->wq,   &L->bq,        &L->wk,        &L->bk,
                              &L->wv,      &L->bv,   &L->q_norm,    &L->k_norm,    &L->wo,
                              &L->post_attn, &L->norm2_w, &L->w_gate, &L->w_up,    &L->w_down,
                              &L->post_ffn};
            int on[] = {1, 1, c->qkv_bias, 1, c->qkv_bias, 1, c->qkv_bias, c->qk_norm,
                        c->qk_norm, 1, c->post_norms, 1, 1, 1, 1, c->post_norms};
            for (size_t s = 0; s < sizeof slot / sizeof *slot; s++)
                if (on[s])
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
        p->head = c->tied ? p->tok_emb : base + m->tensors[i++].offset;
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
    size_t N = (size_t)B * T, C = c->dim, I = c->hidden, hs = (size_t)train_head_dim(c);
    size_t KV = (size_t)c->n_kv_heads * hs, QD = (size_t)c->n_heads * hs;
    int ll = train_arch_llama_like(c->arch);
    size_t qkv = ll ? QD + 2 * KV : 3 * C;
    size_t mlp = ll ? 3 * I : 2 * I;
    size_t extra = (c->qk_norm ? QD + KV + (size_t)c->n_heads + c->n_kv_heads : 0) +
                   (c->post_norms ? 2 * C + 2 : 0);
    /* atty is QD wide (C for gpt2) */
    return N * (4 * C + (ll ? QD : C) + 4 + qkv + mlp + extra) +
           (size_t)B * c->n_heads * T * T;
}

static size_t scratch_floats(const train_config *c, int B, int T)
{
    size_t N = (size_t)B * T, C = c->dim, I = c->hidden, hs = (size_t)train_head_dim(c);
    size_t KV = (size_t)c->n_kv_heads * hs, QD = (size_t)c->n_heads * hs;
    int ll = train_arch_llama_like(c->arch);
    size_t qkv = ll ? QD + 2 * KV : 3 * C;
    /* dres, dnorm, dqkv, datty (QD), dpa, dpb, dhid, and with post-norms
     * or qk-norm one more (N, max(C, QD + KV)) for the pre-norm gradient */
    size_t more = c->post_norms || c->qk_norm ? (C > QD + KV ? C : QD + KV) : 0;
    return N * (2 * C + (ll ? QD : C) + qkv + 3 * I + more);
}

static size_t top_act_floats(const train_config *c, int B, int T)
{
    size_t N = (size_t)B * T, hs = (size_t)train_head_dim(c);
    size_t V = c->ce_chunk > 0 && c->ce_chunk < c->vocab ? (size_t)c->ce_chunk : (size_t)c->vocab;
    size_t ce = c->ce_chunk > 0 ? 2 * N : 0;
    size_t rope = (size_t)T * hs * (c->sliding_window ? 2 : 1);
    return N * (2 * (size_t)c->dim + 2 + V) + ce + rope;
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
    int hs = train_head_dim(c), ll = train_arch_llama_like(c->arch);
    size_t KV = (size_t)c->n_kv_heads * hs, QD = (size_t)c->n_heads * hs;
    float *p = m->act_mem;
#define TAKE(field, n) (field = p, p += (n))
    for (int l = 0; l < c->n_layers; l++) {
        train_layer_acts *a = &m->acts[l];
        TAKE(a->resid, N * C);
        TAKE(a->norm1, N * C);
        TAKE(a->mean1, N);
        TAKE(a->rstd1, N);
        if (ll) {
            TAKE(a->q, N * QD);
            TAKE(a->k, N * KV);
            TAKE(a->v, N * KV);
        } else {
            TAKE(a->qkv, N * 3 * C);
        }
        if (c->qk_norm) {
            TAKE(a->qraw, N * QD);
            TAKE(a->kraw, N * KV);
            TAKE(a->rstd_q, N * c->n_heads);
            TAKE(a->rstd_k, N * c->n_kv_heads);
        }
        if (c->post_norms) {
            TAKE(a->attn_o, N * C);
            TAKE(a->rstd_po, N);
            TAKE(a->mlp_o, N * C);
            TAKE(a->rstd_pf, N);
        }
        TAKE(a->att, (size_t)B * c->n_heads * T * T);
        TAKE(a->atty, N * (ll ? QD : C));
        TAKE(a->resid2, N * C);
        TAKE(a->norm2, N * C);
        TAKE(a->mean2, N);
        TAKE(a->rstd2, N);
        TAKE(a->pre_a, N * I);
        if (ll)
            TAKE(a->pre_b, N * I);
        TAKE(a->hid, N * I);
    }
    TAKE(m->resid_out, N * C);
    TAKE(m->normf, N * C);
    TAKE(m->meanf, N);
    TAKE(m->rstdf, N);
    int chunked = c->ce_chunk > 0;
    TAKE(m->logits, N * (chunked && c->ce_chunk < c->vocab ? (size_t)c->ce_chunk : (size_t)c->vocab));
    if (chunked) {
        TAKE(m->pos_loss, N);
        TAKE(m->lse, N);
    }
    TAKE(m->rope_cos, (size_t)T * hs / 2);
    TAKE(m->rope_sin, (size_t)T * hs / 2);
    rope_table(m->rope_cos, m->rope_sin, T, hs, c->rope_theta);
    if (c->sliding_window) {
        TAKE(m->rope_cos_swa, (size_t)T * hs / 2);
        TAKE(m->rope_sin_swa, (size_t)T * hs / 2);
        rope_table(m->rope_cos_swa, m->rope_sin_swa, T, hs,
                   c->rope_theta_swa > 0 ? c->rope_theta_swa : c->rope_theta);
    } else {
        m->rope_cos_swa = m->rope_cos;
        m->rope_sin_swa = m->rope_sin;
    }
#undef TAKE
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

static int layer_swa(const train_config *c, int l)
{
    return c->sliding_window > 0 && !(c->swa_period && (l + 1) % c->swa_period == 0);
}

static void rope_fwd(const train_model *m, int l, float *x, int stride, const int *pos, int B,
                     int T, int nh)
{
    const train_config *c = &m->cfg;
    int swa = layer_swa(c, l), hs = train_head_dim(c);
    const float *co = swa ? m->rope_cos_swa : m->rope_cos, *si = swa ? m->rope_sin_swa : m->rope_sin;
    if (c->rope_neox)
        rope_neox_forward(x, stride, co, si, pos, B, T, nh, hs);
    else
        rope_forward(x, stride, co, si, pos, B, T, nh, hs);
}

static void rope_bwd(const train_model *m, int l, float *x, int stride, const int *pos, int B,
                     int T, int nh)
{
    const train_config *c = &m->cfg;
    int swa = layer_swa(c, l), hs = train_head_dim(c);
    const float *co = swa ? m->rope_cos_swa : m->rope_cos, *si = swa ? m->rope_sin_swa : m->rope_sin;
    if (c->rope_neox)
        rope_neox_backward(x, stride, co, si, pos, B, T, nh, hs);
    else
        rope_backward(x, stride, co, si, pos, B, T, nh, hs);
}

static void add_into(float *out, const float *a, const float *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        out[i] = a[i] + b[i];
}

static void layer_forward(train_model *m, int l, float *out, const float *masks, const int *pos,
                          int B, int T)
{
    const train_config *c = &m->cfg;
    const train_layer_params *P = &m->p.layers[l];
    train_layer_acts *a = &m->acts[l];
    int N = B * T, C = c->dim, I = c->hidden, hs = train_head_dim(c);
    int KV = c->n_kv_heads * hs, QD = c->n_heads * hs;
    attn_shape s = {B, T, c->n_heads, c->n_kv_heads, hs, QD, KV, KV, pos,
                    layer_swa(c, l) ? c->sliding_window : 0};
    int ll = train_arch_llama_like(c->arch);
    if (ll) {
        rmsnorm_forward(a->norm1, a->rstd1, a->resid, P->norm1_w, N, C, c->norm_eps);
        float *q = c->qk_norm ? a->qraw : a->q, *k = c->qk_norm ? a->kraw : a->k;
        matmul_forward(q, a->norm1, P->wq, P->bq, N, C, QD);
        matmul_forward(k, a->norm1, P->wk, P->bk, N, C, KV);
        matmul_forward(a->v, a->norm1, P->wv, P->bv, N, C, KV);
        if (c->qk_norm) {
            rmsnorm_forward(a->q, a->rstd_q, a->qraw, P->q_norm, N * c->n_heads, hs, c->norm_eps);
            rmsnorm_forward(a->k, a->rstd_k, a->kraw, P->k_norm, N * c->n_kv_heads, hs,
                            c->norm_eps);
        }
        rope_fwd(m, l, a->q, QD, pos, B, T, c->n_heads);
        rope_fwd(m, l, a->k, KV, pos, B, T, c->n_kv_heads);
        attention_forward(a->atty, a->att, a->q, a->k, a->v, &s);
    } else {
        layernorm_forward(a->norm1, a->mean1, a->rstd1, a->resid, P->norm1_w, P->norm1_b, N, C,
                          c->norm_eps);
        matmul_forward(a->qkv, a->norm1, P->wqkv, P->bqkv, N, C, 3 * C);
        s.sq = s.sk = s.sv = 3 * C;
        attention_forward(a->atty, a->att, a->qkv, a->qkv + C, a->qkv + 2 * C, &s);
    }
    if (c->post_norms) {
        /* resid2 = resid + norm(o(atty)) */
        matmul_forward(a->attn_o, a->atty, P->wo, NULL, N, QD, C);
        rmsnorm_forward(a->resid2, a->rstd_po, a->attn_o, P->post_attn, N, C, c->norm_eps);
        add_into(a->resid2, a->resid2, a->resid, (size_t)N * C);
    } else {
        matmul_forward_res(a->resid2, a->atty, P->wo, P->bo, a->resid, N, ll ? QD : C, C);
    }
    if (ll) {
        rmsnorm_forward(a->norm2, a->rstd2, a->resid2, P->norm2_w, N, C, c->norm_eps);
        matmul_forward(a->pre_a, a->norm2, P->w_gate, NULL, N, C, I);
        matmul_forward(a->pre_b, a->norm2, P->w_up, NULL, N, C, I);
        if (c->geglu)
            geglu_forward(a->hid, a->pre_a, a->pre_b, masks, N, T, I);
        else
            swiglu_forward(a->hid, a->pre_a, a->pre_b, masks, N, T, I);
    } else {
        layernorm_forward(a->norm2, a->mean2, a->rstd2, a->resid2, P->norm2_w, P->norm2_b, N, C,
                          c->norm_eps);
        matmul_forward(a->pre_a, a->norm2, P->w_up, P->b_up, N, C, I);
        gelu_forward(a->hid, a->pre_a, masks, N, T, I);
    }
    if (c->post_norms) {
        matmul_forward(a->mlp_o, a->hid, P->w_down, NULL, N, I, C);
        rmsnorm_forward(out, a->rstd_pf, a->mlp_o, P->post_ffn, N, C, c->norm_eps);
        add_into(out, out, a->resid2, (size_t)N * C);
    } else {
        matmul_forward_res(out, a->hid, P->w_down, P->b_down, a->resid2, N, I, C);
    }
}

static void forward_hidden(train_model *m, const int *tokens, const float *masks, const int *pos,
                           int B, int T)
{
    const train_config *c = &m->cfg;
    int N = B * T, C = c->dim;
    encoder_forward(m->acts[0].resid, tokens, m->p.tok_emb, m->p.pos_emb, pos, B, T, C);
    if (c->embed_scale > 0 && c->embed_scale != 1.0f)
        for (size_t i = 0; i < (size_t)N * C; i++)
            m->acts[0].resid[i] *= c->embed_scale;
    for (int l = 0; l < c->n_layers; l++) {
        float *out = l + 1 < c->n_layers ? m->acts[l + 1].resid : m->resid_out;
        layer_forward(m, l, out, masks, pos, B, T);
    }
    if (train_arch_llama_like(c->arch))
        rmsnorm_forward(m->normf, m->rstdf, m->resid_out, m->p.norm_w, N, C, c->norm_eps);
    else
        layernorm_forward(m->normf, m->meanf, m->rstdf, m->resid_out, m->p.norm_w, m->p.norm_b,
                          N, C, c->norm_eps);
}

static void forward_logits(train_model *m, const int *tokens, const float *masks, const int *pos,
                           int B, int T)
{
    forward_hidden(m, tokens, masks, pos, B, T);
    matmul_forward(m->logits, m->normf, m->p.head, NULL, B * T, m->cfg.dim, m->cfg.vocab);
}

/* The chunked path: per-position losses into m->pos_loss. */
static double forward_chunked(train_model *m, const int *tokens, const int *targets,
                              const float *masks, const int *pos, int B, int T, int *n)
{
    const train_config *c = &m->cfg;
    forward_hidden(m, tokens, masks, pos, B, T);
    return ce_chunked_forward(m->pos_loss, m->lse, m->logits, m->normf, m->p.head, targets, B * T,
                              c->dim, c->vocab, c->ce_chunk, n);
}

float train_forward(train_model *m, const int *tokens, const int *targets, const float *masks,
                    const int *pos, int B, int T, int *n_counted)
{
    int n = 0;
    double sum = 0.0;
    if (m->cfg.ce_chunk > 0 && targets) {
        sum = forward_chunked(m, tokens, targets, masks, pos, B, T, &n);
    } else if (m->cfg.ce_chunk > 0) {
        forward_hidden(m, tokens, masks, pos, B, T);
    } else {
        forward_logits(m, tokens, masks, pos, B, T);
        if (targets)
            sum = crossentropy_forward(NULL, m->logits, targets, B * T, m->cfg.vocab, &n);
    }
    if (n_counted)
        *n_counted = n;
    return n ? (float)(sum / n) : 0.0f;
}

void train_target_argmax(train_model *m, const int *targets, int B, int T, int *out)
{
    const train_config *c = &m->cfg;
    int N = B * T;
    if (c->ce_chunk > 0) {
        ce_chunked_argmax(out, m->logits, m->normf, m->p.head, targets, N, c->dim, c->vocab,
                          c->ce_chunk);
        return;
    }
    for (int n = 0; n < N; n++) {
        out[n] = -1;
        if (targets[n] < 0)
            continue;
        const float *l = m->logits + (size_t)n * c->vocab;
        int best = 0;
        for (int v = 1; v < c->vocab; v++)
            if (l[v] > l[best])
                best = v;
        out[n] = best;
    }
}

int train_auto_ce_chunk(int vocab, int B, int T)
{
    long n = (long)B * T, vc = (4L << 20) / (n ? n : 1);
    if (vc < 256)
        vc = 256;
    return vc > vocab ? vocab : (int)vc;
}

void train_row_losses(train_model *m, const int *tokens, const int *targets, const float *masks,
                      const int *pos, int B, int T, float *out)
{
    if (m->cfg.ce_chunk > 0) {
        int n;
        forward_chunked(m, tokens, targets, masks, pos, B, T, &n);
        for (int b = 0; b < B; b++) {
            double sum = 0.0;
            int cnt = 0;
            for (int t = 0; t < T; t++)
                if (targets[b * T + t] >= 0) {
                    sum += m->pos_loss[b * T + t];
                    cnt++;
                }
            out[b] = cnt ? (float)(sum / cnt) : NAN;
        }
        return;
    }
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
    int N = B * T, C = c->dim, I = c->hidden, hs = train_head_dim(c);
    int KV = c->n_kv_heads * hs, QD = c->n_heads * hs;
    int ll = train_arch_llama_like(c->arch);
    size_t NC = (size_t)N * C;
    size_t qkvw = ll ? (size_t)QD + 2 * KV : 3 * (size_t)C, aw = ll ? (size_t)QD : (size_t)C;
    float *dnorm = m->scratch + NC, *dqkv = dnorm + NC, *datty = dqkv + N * qkvw;
    float *dpa = datty + N * aw, *dpb = dpa + (size_t)N * I, *dhid = dpb + (size_t)N * I;
    float *dmore = dhid + (size_t)N * I; /* post-norm / qk-norm pre-norm gradients */
    memset(dnorm, 0, sizeof(float) * (m->scratch_floats - NC));

    /* MLP: out = resid2 + down(hid), or resid2 + norm(down(hid)) */
    const float *dmlp = dres;
    if (c->post_norms) {
        rmsnorm_backward(dmore, G->post_ffn, dres, a->mlp_o, P->post_ffn, a->rstd_pf, N, C);
        dmlp = dmore;
    }
    matmul_backward(dhid, G->w_down, G->b_down, dmlp, a->hid, P->w_down, N, I, C);
    if (ll) {
        if (c->geglu)
            geglu_backward(dpa, dpb, dhid, a->pre_a, a->pre_b, masks, N, T, I);
        else
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
    /* attention: resid2 = resid + proj(atty), or resid + norm(proj(atty)) */
    const float *datt = dres;
    if (c->post_norms) {
        memset(dmore, 0, sizeof(float) * NC);
        rmsnorm_backward(dmore, G->post_attn, dres, a->attn_o, P->post_attn, a->rstd_po, N, C);
        datt = dmore;
    }
    matmul_backward(datty, G->wo, G->bo, datt, a->atty, P->wo, N, (int)aw, C);
    memset(dnorm, 0, sizeof(float) * NC);
    attn_shape s = {B, T, c->n_heads, c->n_kv_heads, hs, QD, KV, KV, pos,
                    layer_swa(c, l) ? c->sliding_window : 0};
    if (ll) {
        float *dq = dqkv, *dk = dq + (size_t)N * QD, *dv = dk + (size_t)N * KV;
        attention_backward(dq, dk, dv, datty, a->att, a->q, a->k, a->v, &s);
        rope_bwd(m, l, dq, QD, pos, B, T, c->n_heads);
        rope_bwd(m, l, dk, KV, pos, B, T, c->n_kv_heads);
        if (c->qk_norm) {
            float *dqr = dmore, *dkr = dmore + (size_t)N * QD;
            memset(dmore, 0, sizeof(float) * (size_t)N * (QD + KV));
            rmsnorm_backward(dqr, G->q_norm, dq, a->qraw, P->q_norm, a->rstd_q, N * c->n_heads,
                             hs);
            rmsnorm_backward(dkr, G->k_norm, dk, a->kraw, P->k_norm, a->rstd_k,
                             N * c->n_kv_heads, hs);
            dq = dqr;
            dk = dkr;
        }
        matmul_backward(dnorm, G->wq, G->bq, dq, a->norm1, P->wq, N, C, QD);
        matmul_backward(dnorm, G->wk, G->bk, dk, a->norm1, P->wk, N, C, KV);
        matmul_backward(dnorm, G->wv, G->bv, dv, a->norm1, P->wv, N, C, KV);
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

/* The output head's backward from the gradient of the logits (in m->logits)
 * to that of the final norm's output (dnormf); a frozen head gets none. */
static void head_backward(train_model *m, int N, float *dnormf)
{
    const train_config *c = &m->cfg;
    if (!m->freeze_embd)
        matmul_backward(dnormf, m->g.head, NULL, m->logits, m->normf, m->p.head, N, c->dim, c->vocab);
    else
        tg_gemm(0, 0, N, c->dim, c->vocab, m->logits, c->vocab, m->p.head, c->dim, 1.0f, dnormf,
                c->dim);
}

/* Everything below the head: from dnormf through the final norm when
 * from_head, else from the gradient dact injected at the output of block at
 * (nothing above it has a gradient); dact is added there in either case. */
static void backward_trunk(train_model *m, const int *tokens, const float *masks, const int *pos,
                           int B, int T, int from_head, int at, const float *dact)
{
    const train_config *c = &m->cfg;
    int N = B * T, C = c->dim;
    float *dres = m->scratch, *dnormf = m->scratch + (size_t)N * C;
    int top = c->n_layers - 1;
    if (from_head) {
        if (train_arch_llama_like(c->arch))
            rmsnorm_backward(dres, m->g.norm_w, dnormf, m->resid_out, m->p.norm_w, m->rstdf, N, C);
        else
            layernorm_backward(dres, m->g.norm_w, m->g.norm_b, dnormf, m->resid_out, m->p.norm_w,
                               m->meanf, m->rstdf, N, C);
    } else if (dact && at >= 0 && at < c->n_layers) {
        top = at;
    } else {
        return;
    }
    for (int l = top; l >= 0; l--) {
        if (dact && l == at)
            for (size_t i = 0; i < (size_t)N * C; i++)
                dres[i] += dact[i];
        layer_backward(m, l, dres, masks, pos, B, T);
    }
    if (m->freeze_embd)
        return;
    if (c->embed_scale > 0 && c->embed_scale != 1.0f)
        for (size_t i = 0; i < (size_t)N * C; i++)
            dres[i] *= c->embed_scale;
    encoder_backward(m->g.tok_emb, m->g.pos_emb, dres, tokens, pos, B, T, C);
}

void train_backward(train_model *m, const int *tokens, const int *targets, const float *masks,
                    const int *pos, int B, int T, float loss_scale)
{
    const train_config *c = &m->cfg;
    int N = B * T, C = c->dim, n = 0;
    for (int i = 0; i < N; i++)
        n += targets[i] >= 0;
    if (!n)
        return;
    float *dres = m->scratch, *dnormf = m->scratch + (size_t)N * C;
    memset(dres, 0, sizeof(float) * 2 * (size_t)N * C);
    if (c->ce_chunk > 0) {
        ce_chunked_backward(dnormf, m->freeze_embd ? NULL : m->g.head, m->logits, m->normf,
                            m->p.head, targets, m->lse, N, C, c->vocab, c->ce_chunk, loss_scale / n);
    } else {
        crossentropy_backward(m->logits, targets, N, c->vocab, loss_scale / n);
        head_backward(m, N, dnormf);
    }
    backward_trunk(m, tokens, masks, pos, B, T, 1, -1, NULL);
}

void train_backward_from(train_model *m, const int *tokens, const float *masks, const int *pos,
                         int B, int T, int head, int at, const float *dact)
{
    int N = B * T, C = m->cfg.dim;
    memset(m->scratch, 0, sizeof(float) * 2 * (size_t)N * C);
    if (head)
        head_backward(m, N, m->scratch + (size_t)N * C);
    backward_trunk(m, tokens, masks, pos, B, T, head, at, dact);
}

static int is_embedding(const char *name)
{
    return strcmp(name, "token_embd.weight") == 0 || strcmp(name, "output.weight") == 0 ||
           strcmp(name, "position_embd.weight") == 0;
}

void train_model_freeze_backbone(train_model *m, int n_backbone)
{
    train_model_freeze_embeddings(m);
    m->freeze_backbone = n_backbone;
    for (int i = 0; i < m->n_tensors; i++) {
        train_tensor *t = &m->tensors[i];
        const char *dot = strchr(t->name, '.'); /* "blk.N.ffn_gate.weight" */
        const char *what = dot ? strchr(dot + 1, '.') : NULL;
        what = what ? what + 1 : t->name;
        if (strcmp(what, "ffn_gate.weight") == 0 || strcmp(what, "ffn_up.weight") == 0) {
            t->partial = 1; /* (I, C): the sink units' rows */
            t->part_row0 = n_backbone;
            t->part_col0 = 0;
        } else if (strcmp(what, "ffn_down.weight") == 0) {
            t->partial = 1; /* (C, I): the sink units' columns */
            t->part_row0 = 0;
            t->part_col0 = n_backbone;
        } else {
            t->frozen = 1;
        }
    }
}

void train_model_drop_frozen_grads(train_model *m)
{
    for (int i = 0; i < m->n_tensors; i++) {
        const train_tensor *t = &m->tensors[i];
        float *g = m->grads + t->offset;
        if (t->frozen) {
            /* frozen embeddings and head get no gradient in the first place */
            if (!(m->freeze_embd && is_embedding(t->name)))
                memset(g, 0, sizeof(float) * t->size);
            continue;
        }
        if (!t->partial)
            continue;
        int64_t rows = t->shape[0], cols = t->ndim > 1 ? t->shape[1] : 1;
        for (int64_t r = 0; r < rows; r++)
            if (r < t->part_row0)
                memset(g + r * cols, 0, sizeof(float) * (size_t)cols);
            else
                memset(g + r * cols, 0, sizeof(float) * (size_t)t->part_col0);
    }
}

void train_model_freeze_embeddings(train_model *m)
{
    m->freeze_embd = 1;
    for (int i = 0; i < m->n_tensors; i++)
        if (is_embedding(m->tensors[i].name))
            m->tensors[i].frozen = 1;
}
