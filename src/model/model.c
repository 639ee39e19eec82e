/* model: building a model from named tensors, and the forward pass. */
#include "model/model_impl.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <sys/mman.h>

#include "model/safetensors.h"
#include "tensor/quant.h"

/* ---- architectures ---- */

static const struct {
    const char *name;
    model_arch arch;
} ARCHS[] = {
    {"llama", MODEL_ARCH_LLAMA},     {"qwen2", MODEL_ARCH_QWEN2},
    {"qwen3", MODEL_ARCH_QWEN3},     {"gemma3", MODEL_ARCH_GEMMA3},
    {"gptneox", MODEL_ARCH_GPTNEOX}, {"gpt2", MODEL_ARCH_GPT2},
};

int model_arch_from_name(const char *name, model_arch *arch)
{
    for (size_t i = 0; i < sizeof ARCHS / sizeof *ARCHS; i++) {
        if (strcmp(ARCHS[i].name, name) == 0) {
            *arch = ARCHS[i].arch;
            return 0;
        }
    }
    return -1;
}

void model_arch_defaults(model_config *c)
{
    c->norm = MODEL_NORM_RMS;
    c->norm_eps = 1e-5f;
    c->rope = MODEL_ROPE_NEOX;
    c->rope_base = c->rope_base_swa = 10000.f;
    c->rope_scale = 1.f;
    c->mlp = MODEL_MLP_SWIGLU;
    c->gelu = MODEL_GELU_TANH;
    c->embed_scale = 1.f;
    c->bos_id = c->eos_id = -1;
    switch (c->arch) {
    case MODEL_ARCH_LLAMA: c->rope = MODEL_ROPE_NORMAL; break;
    case MODEL_ARCH_QWEN2: c->norm_eps = 1e-6f; break;
    case MODEL_ARCH_QWEN3: c->qk_norm = 1; c->norm_eps = 1e-6f; break;
    case MODEL_ARCH_GEMMA3:
        c->mlp = MODEL_MLP_GEGLU;
        c->qk_norm = 1;
        c->post_norms = 1;
        c->norm_eps = 1e-6f;
        c->rope_base = 1000000.f;
        c->swa_period = 6;
        break;
    case MODEL_ARCH_GPTNEOX:
        c->norm = MODEL_NORM_LAYER;
        c->mlp = MODEL_MLP_GELU;
        c->gelu = MODEL_GELU_ERF;
        c->parallel_residual = 1;
        break;
    case MODEL_ARCH_GPT2:
        c->norm = MODEL_NORM_LAYER;
        c->rope = MODEL_ROPE_NONE;
        c->mlp = MODEL_MLP_GELU;
        break;
    }
    snprintf(c->arch_name, sizeof c->arch_name, "%s", ARCHS[c->arch].name);
}

const char *model_hook_point_name(model_hook_point p)
{
    static const char *names[] = {"resid_pre", "attn_heads", "mlp_hidden", "resid_post"};
    return (unsigned)p < MODEL_HOOK_NPOINTS ? names[p] : "?";
}

/* ---- building ---- */

void *model_own(model *m, void *p)
{
    if (!p)
        return NULL;
    if (m->n_owned == m->cap_owned) {
        int cap = m->cap_owned ? 2 * m->cap_owned : 64;
        void **n = realloc(m->owned, (size_t)cap * sizeof *n);
        if (!n) {
            free(p);
            return NULL;
        }
        m->owned = n;
        m->cap_owned = cap;
    }
    m->owned[m->n_owned++] = p;
    return p;
}

typedef struct {
    model *m;
    const tensor_table *tab;
    cape_err *e;
} builder;

static const gguf_tensor *lookup(const builder *b, const char *name)
{
    for (int i = 0; i < b->tab->n; i++)
        if (strcmp(b->tab->t[i].name, name) == 0)
            return &b->tab->t[i];
    return NULL;
}

static int shape_error(const builder *b, const gguf_tensor *t, int64_t c, int64_t r)
{
    return err_set(b->e, CAPE_EINPUT, "%s: tensor '%s' has shape [%lld, %lld], expected [%lld, %lld]",
                   b->m->path, t->name, (long long)t->ne[0], (long long)t->ne[1], (long long)c,
                   (long long)r);
}

/* A matrix of `cols` x `rows` (rows = 0: any). Missing is an error when required. */
static int get_mat(builder *b, const char *name, int64_t cols, int64_t rows, int required,
                   tensor_mat *out)
{
    const gguf_tensor *t = lookup(b, name);
    memset(out, 0, sizeof *out);
    if (!t) {
        if (required)
            return err_set(b->e, CAPE_EINPUT, "%s: missing tensor '%s'", b->m->path, name);
        return 0;
    }
    if (!quant_supported(t->type))
        return err_set(b->e, CAPE_EINPUT, "%s: tensor '%s' has type %s, which cape cannot compute with",
                       b->m->path, name, tensor_type_name(t->type));
    if (t->ne[0] != cols || (rows && t->ne[1] != rows) || t->ne[2] != 1 || t->ne[3] != 1)
        return shape_error(b, t, cols, rows ? rows : t->ne[1]);
    *out = tensor_mat_make(t->type, t->ne[0], t->ne[1], t->data);
    return 0;
}

/* A vector of n floats (converted to f32 when stored otherwise). */
static int get_vec(builder *b, const char *name, int64_t n, int required, const float **out)
{
    const gguf_tensor *t = lookup(b, name);
    *out = NULL;
    if (!t) {
        if (required)
            return err_set(b->e, CAPE_EINPUT, "%s: missing tensor '%s'", b->m->path, name);
        return 0;
    }
    if (gguf_tensor_nelements(t) != n || !quant_supported(t->type))
        return shape_error(b, t, n, 1);
    if (t->type == TENSOR_F32 && ((uintptr_t)t->data & 3) == 0) {
        *out = t->data;
        return 0;
    }
    float *v = model_own(b->m, malloc((size_t)n * sizeof *v));
    if (!v)
        return err_set(b->e, CAPE_EFAIL, "out of memory");
    quant_dequant_row(t->type, t->data, v, n);
    *out = v;
    return 0;
}

static int build_layer(builder *b, int l, model_layer *L)
{
    const model_config *c = &b->m->cfg;
    int64_t q_dim = (int64_t)c->n_heads * c->head_dim, kv_dim = (int64_t)c->n_kv_heads * c->head_dim;
    int layer_norm = c->norm == MODEL_NORM_LAYER;
    char n[96];
#define NAME(fmt) (snprintf(n, sizeof n, "blk.%d." fmt, l), n)
    int rc = get_vec(b, NAME("attn_norm.weight"), c->dim, 1, &L->attn_norm);
    rc = rc || get_vec(b, NAME("attn_norm.bias"), c->dim, layer_norm, &L->attn_norm_b);
    rc = rc || get_mat(b, NAME("attn_qkv.weight"), c->dim, q_dim + 2 * kv_dim, 0, &L->wqkv);
    if (!rc && L->wqkv.data) {
        rc = get_vec(b, NAME("attn_qkv.bias"), q_dim + 2 * kv_dim, 0, &L->bqkv);
    } else if (!rc) {
        rc = get_mat(b, NAME("attn_q.weight"), c->dim, q_dim, 1, &L->wq);
        rc = rc || get_mat(b, NAME("attn_k.weight"), c->dim, kv_dim, 1, &L->wk);
        rc = rc || get_mat(b, NAME("attn_v.weight"), c->dim, kv_dim, 1, &L->wv);
        rc = rc || get_vec(b, NAME("attn_q.bias"), q_dim, 0, &L->bq);
        rc = rc || get_vec(b, NAME("attn_k.bias"), kv_dim, 0, &L->bk);
        rc = rc || get_vec(b, NAME("attn_v.bias"), kv_dim, 0, &L->bv);
    }
    rc = rc || get_mat(b, NAME("attn_output.weight"), q_dim, c->dim, 1, &L->wo);
    rc = rc || get_vec(b, NAME("attn_output.bias"), c->dim, 0, &L->bo);
    rc = rc || get_vec(b, NAME("attn_q_norm.weight"), c->head_dim, c->qk_norm, &L->q_norm);
    rc = rc || get_vec(b, NAME("attn_k_norm.weight"), c->head_dim, c->qk_norm, &L->k_norm);
    rc = rc || get_vec(b, NAME("post_attention_norm.weight"), c->dim, c->post_norms,
                       &L->post_attn_norm);
    rc = rc || get_vec(b, NAME("ffn_norm.weight"), c->dim, 1, &L->ffn_norm);
    rc = rc || get_vec(b, NAME("ffn_norm.bias"), c->dim, layer_norm, &L->ffn_norm_b);
    if (c->mlp != MODEL_MLP_GELU)
        rc = rc || get_mat(b, NAME("ffn_gate.weight"), c->dim, c->ffn_dim, 1, &L->w_gate);
    rc = rc || get_mat(b, NAME("ffn_up.weight"), c->dim, c->ffn_dim, 1, &L->w_up);
    rc = rc || get_mat(b, NAME("ffn_down.weight"), c->ffn_dim, c->dim, 1, &L->w_down);
    rc = rc || get_vec(b, NAME("ffn_up.bias"), c->ffn_dim, 0, &L->b_up);
    rc = rc || get_vec(b, NAME("ffn_down.bias"), c->dim, 0, &L->b_down);
    rc = rc || get_vec(b, NAME("post_ffw_norm.weight"), c->dim, c->post_norms, &L->post_ffn_norm);
#undef NAME
    return rc ? b->e->code : 0;
}

static int check_config(model *m, cape_err *e)
{
    model_config *c = &m->cfg;
    if (c->dim <= 0 || c->n_layers <= 0 || c->n_heads <= 0 || c->n_kv_heads <= 0 ||
        c->head_dim <= 0 || c->ffn_dim <= 0 || c->n_vocab <= 0)
        return err_set(e, CAPE_EINPUT, "%s: model dimensions missing or not positive", m->path);
    if (c->dim > (1 << 20) || c->n_layers > 4096 || c->n_heads > 4096 || c->head_dim > 4096 ||
        c->ffn_dim > (1 << 22) || c->n_vocab > (1 << 24))
        return err_set(e, CAPE_EINPUT, "%s: model dimensions are implausibly large", m->path);
    if (c->n_heads % c->n_kv_heads)
        return err_set(e, CAPE_EINPUT, "%s: %d heads is not a multiple of %d KV heads", m->path,
                       c->n_heads, c->n_kv_heads);
    if (c->rope != MODEL_ROPE_NONE && (c->rope_dims <= 0 || c->rope_dims > c->head_dim ||
                                       c->rope_dims % 2))
        return err_set(e, CAPE_EINPUT, "%s: RoPE dimension count %d does not fit head size %d",
                       m->path, c->rope_dims, c->head_dim);
    if (!(c->norm_eps > 0) || !(c->rope_base > 0) || !(c->rope_scale > 0))
        return err_set(e, CAPE_EINPUT, "%s: bad norm epsilon or RoPE parameters", m->path);
    if (c->n_ctx_train <= 0)
        c->n_ctx_train = 2048;
    if (!(c->attn_scale > 0))
        c->attn_scale = 1.f / sqrtf((float)c->head_dim);
    return 0;
}

int model_build(model *m, const tensor_table *tab, cape_err *e)
{
    builder b = {m, tab, e};
    model_config *c = &m->cfg;
    const gguf_tensor *emb = lookup(&b, "token_embd.weight");
    if (!emb)
        return err_set(e, CAPE_EINPUT, "%s: missing tensor 'token_embd.weight'", m->path);
    if (!c->n_vocab)
        c->n_vocab = (int)(emb->ne[1] > (1 << 24) ? -1 : emb->ne[1]);
    if (check_config(m, e))
        return e->code;
    if (get_mat(&b, "token_embd.weight", c->dim, c->n_vocab, 1, &m->tok_embd))
        return e->code;
    if (c->rope == MODEL_ROPE_NONE &&
        get_mat(&b, "position_embd.weight", c->dim, 0, 1, &m->pos_embd))
        return e->code;
    if (m->pos_embd.data && m->pos_embd.rows < c->n_ctx_train)
        c->n_ctx_train = (int)m->pos_embd.rows;
    if (get_mat(&b, "output.weight", c->dim, c->n_vocab, 0, &m->output))
        return e->code;
    c->tied_embeddings = m->output.data == NULL;
    if (c->tied_embeddings)
        m->output = m->tok_embd;
    if (get_vec(&b, "output_norm.weight", c->dim, 1, &m->out_norm) ||
        get_vec(&b, "output_norm.bias", c->dim, c->norm == MODEL_NORM_LAYER, &m->out_norm_b) ||
        get_vec(&b, "rope_freqs.weight", c->rope_dims / 2, 0, &m->rope_freqs))
        return e->code;
    m->layers = model_own(m, calloc((size_t)c->n_layers, sizeof *m->layers));
    if (!m->layers)
        return err_set(e, CAPE_EFAIL, "out of memory");
    for (int l = 0; l < c->n_layers; l++)
        if (build_layer(&b, l, &m->layers[l]))
            return e->code;
    return 0;
}

void model_free(model *m)
{
    if (!m)
        return;
    tok_free(m->tok);
    for (int i = 0; i < m->n_owned; i++)
        free(m->owned[i]);
    free(m->owned);
    gguf_close(m->gguf);
    st_close(m->st);
    if (m->map)
        munmap(m->map, m->map_len);
    free(m);
}

const model_config *model_cfg(const model *m) { return &m->cfg; }
const tok *model_tok(const model *m) { return m->tok; }
const char *model_format(const model *m) { return m->format; }

static size_t mat_bytes(const tensor_mat *w)
{
    return w->data ? w->row_bytes * (size_t)w->rows : 0;
}

size_t model_weight_bytes(const model *m)
{
    size_t n = mat_bytes(&m->output);
    for (int l = 0; l < m->cfg.n_layers; l++) {
        const model_layer *L = &m->layers[l];
        n += mat_bytes(&L->wq) + mat_bytes(&L->wk) + mat_bytes(&L->wv) + mat_bytes(&L->wqkv) +
             mat_bytes(&L->wo) + mat_bytes(&L->w_gate) + mat_bytes(&L->w_up) +
             mat_bytes(&L->w_down);
    }
    return n;
}

void model_each_tensor(const model *m,
                       void (*fn)(const char *, tensor_type, int64_t, int64_t, void *), void *user)
{
    fn("token_embd", m->tok_embd.type, m->tok_embd.rows, m->tok_embd.cols, user);
    if (!m->cfg.tied_embeddings)
        fn("output", m->output.type, m->output.rows, m->output.cols, user);
    for (int l = 0; l < m->cfg.n_layers; l++) {
        const model_layer *L = &m->layers[l];
        const tensor_mat *mats[] = {&L->wq, &L->wk, &L->wv, &L->wqkv, &L->wo,
                                    &L->w_gate, &L->w_up, &L->w_down};
        static const char *names[] = {"attn_q", "attn_k", "attn_v", "attn_qkv", "attn_output",
                                      "ffn_gate", "ffn_up", "ffn_down"};
        for (int i = 0; i < 8; i++)
            if (mats[i]->data)
                fn(names[i], mats[i]->type, mats[i]->rows, mats[i]->cols, user);
    }
}

/* ---- weight check ---- */

typedef struct {
    model_weight_check *r;
    float *buf;
    int64_t cap;
} scan_state;

/* Scans rows x cols values of a matrix (one row dequantised at a time, so a
 * bad block scale shows as non-finite values); records the first bad one. */
static int scan_mat(scan_state *st, const char *name, int layer, const tensor_mat *w)
{
    if (!w->data || st->r->bad)
        return 0;
    if (w->cols > st->cap) {
        float *nb = realloc(st->buf, (size_t)w->cols * sizeof *nb);
        if (!nb)
            return -1;
        st->buf = nb;
        st->cap = w->cols;
    }
    st->r->n_tensors++;
    for (int64_t r = 0; r < w->rows; r++) {
        const float *row = st->buf;
        if (w->type == TENSOR_F32 && ((uintptr_t)w->data & 3) == 0)
            row = (const float *)((const char *)w->data + (size_t)r * w->row_bytes);
        else
            quant_dequant_row(w->type, (const char *)w->data + (size_t)r * w->row_bytes,
                              st->buf, w->cols);
        for (int64_t c = 0; c < w->cols; c++)
            if (!isfinite(row[c])) {
                model_weight_check *o = st->r;
                o->bad = 1;
                if (layer >= 0)
                    snprintf(o->tensor, sizeof o->tensor, "blk.%d.%s", layer, name);
                else
                    snprintf(o->tensor, sizeof o->tensor, "%s", name);
                o->element = r * w->cols + c;
                o->row = r;
                o->col = c;
                o->value = row[c];
                return 0;
            }
        st->r->n_values += w->cols;
    }
    return 0;
}

static int scan_vec(scan_state *st, const char *name, int layer, const float *v, int64_t n)
{
    if (!v)
        return 0;
    tensor_mat w = tensor_mat_make(TENSOR_F32, n, 1, v);
    return scan_mat(st, name, layer, &w);
}

int model_check_weights(const model *m, model_weight_check *r, cape_err *e)
{
    memset(r, 0, sizeof *r);
    scan_state st = {r, NULL, 0};
    const model_config *c = &m->cfg;
    int64_t q = (int64_t)c->n_heads * c->head_dim, kv = (int64_t)c->n_kv_heads * c->head_dim;
    int rc = scan_mat(&st, "token_embd.weight", -1, &m->tok_embd) ||
             scan_mat(&st, "position_embd.weight", -1, &m->pos_embd) ||
             (!c->tied_embeddings && scan_mat(&st, "output.weight", -1, &m->output)) ||
             scan_vec(&st, "output_norm.weight", -1, m->out_norm, c->dim) ||
             scan_vec(&st, "output_norm.bias", -1, m->out_norm_b, c->dim) ||
             scan_vec(&st, "rope_freqs.weight", -1, m->rope_freqs, c->rope_dims / 2);
    for (int l = 0; l < c->n_layers && !rc && !r->bad; l++) {
        const model_layer *L = &m->layers[l];
        const struct {
            const char *name;
            const tensor_mat *w;
        } mats[] = {{"attn_q.weight", &L->wq},       {"attn_k.weight", &L->wk},
                    {"attn_v.weight", &L->wv},       {"attn_qkv.weight", &L->wqkv},
                    {"attn_output.weight", &L->wo},  {"ffn_gate.weight", &L->w_gate},
                    {"ffn_up.weight", &L->w_up},     {"ffn_down.weight", &L->w_down}};
        const struct {
            const char *name;
            const float *v;
            int64_t n;
        } vecs[] = {{"attn_norm.weight", L->attn_norm, c->dim},
                    {"attn_norm.bias", L->attn_norm_b, c->dim},
                    {"attn_q.bias", L->bq, q},
                    {"attn_k.bias", L->bk, kv},
                    {"attn_v.bias", L->bv, kv},
                    {"attn_qkv.bias", L->bqkv, q + 2 * kv},
                    {"attn_output.bias", L->bo, c->dim},
                    {"attn_q_norm.weight", L->q_norm, c->head_dim},
                    {"attn_k_norm.weight", L->k_norm, c->head_dim},
                    {"post_attention_norm.weight", L->post_attn_norm, c->dim},
                    {"ffn_norm.weight", L->ffn_norm, c->dim},
                    {"ffn_norm.bias", L->ffn_norm_b, c->dim},
                    {"ffn_up.bias", L->b_up, c->ffn_dim},
                    {"ffn_down.bias", L->b_down, c->dim},
                    {"post_ffw_norm.weight", L->post_ffn_norm, c->dim}};
        for (size_t i = 0; i < sizeof vecs / sizeof *vecs && !rc; i++)
            rc = scan_vec(&st, vecs[i].name, l, vecs[i].v, vecs[i].n);
        for (size_t i = 0; i < sizeof mats / sizeof *mats && !rc; i++)
            rc = scan_mat(&st, mats[i].name, l, mats[i].w);
    }
    free(st.buf);
    if (rc)
        return err_set(e, CAPE_EFAIL, "out of memory checking the weights of %s", m->path);
    return 0;
}
