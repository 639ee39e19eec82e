/* forward: sessions (KV cache, scratch, threads) and the forward pass of
 * every architecture, one chunk of tokens at a time. Activations are f32
 * row-major [n_tokens x width]; the KV cache is f32 [layer][pos][kv_dim]. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/model_impl.h"
#include "tensor/act.h"
#include "tensor/attn.h"
#include "tensor/quant.h"

struct model_session {
    const model *m;
    int n_ctx, n_batch, pos, n_threads;
    pool *pool;
    float *kc, *vc;
    float *x, *xb, *q, *k, *v, *qkv, *att, *hb, *hb2, *tmp;
    float *rope_cs[2]; /* [n_batch][cos x rope_dims/2, sin x rope_dims/2], global and sliding layers */
    float *scores;     /* [n_threads][group][ctx_pad] */
    float *kt;         /* one layer's keys transposed, [n_kv_heads][head_dim][ctx_pad] (lazy) */
    int ctx_pad;       /* n_ctx rounded up to 64, plus 16 */
    float *logits;
    int logit_rows, logit_cap;
    model_hook_fn hook;
    void *hook_user;
};

static void *xcalloc(size_t n, size_t sz)
{
    if (n == 0)
        n = 1;
    return calloc(n, sz);
}

model_session *model_session_new(const model *m, const model_session_opts *o, cape_err *e)
{
    const model_config *c = &m->cfg;
    model_session_opts d = {0};
    if (!o)
        o = &d;
    model_session *s = calloc(1, sizeof *s);
    if (!s) {
        err_set(e, CAPE_EFAIL, "out of memory");
        return NULL;
    }
    s->m = m;
    s->n_ctx = o->n_ctx > 0 ? o->n_ctx : (c->n_ctx_train < 4096 ? c->n_ctx_train : 4096);
    if (c->rope == MODEL_ROPE_NONE && s->n_ctx > c->n_ctx_train)
        s->n_ctx = c->n_ctx_train; /* learned positions end there */
    s->n_batch = o->n_batch > 0 ? o->n_batch : 256;
    if (s->n_batch > s->n_ctx)
        s->n_batch = s->n_ctx;
    s->n_threads = o->n_threads > 0 ? o->n_threads : 1;
    size_t q_dim = (size_t)c->n_heads * c->head_dim, kv_dim = (size_t)c->n_kv_heads * c->head_dim;
    size_t B = (size_t)s->n_batch, wide = q_dim > (size_t)c->dim ? q_dim : (size_t)c->dim;
    size_t cache = (size_t)c->n_layers * (size_t)s->n_ctx * kv_dim;
    s->kc = xcalloc(cache, sizeof(float));
    s->vc = xcalloc(cache, sizeof(float));
    s->x = xcalloc(B * c->dim, sizeof(float));
    s->xb = xcalloc(B * wide, sizeof(float));
    s->tmp = xcalloc(B * wide, sizeof(float));
    s->q = xcalloc(B * q_dim, sizeof(float));
    s->k = xcalloc(B * kv_dim, sizeof(float));
    s->v = xcalloc(B * kv_dim, sizeof(float));
    s->qkv = xcalloc(B * (q_dim + 2 * kv_dim), sizeof(float));
    s->att = xcalloc(B * q_dim, sizeof(float));
    s->hb = xcalloc(B * c->ffn_dim, sizeof(float));
    s->hb2 = xcalloc(B * c->ffn_dim, sizeof(float));
    s->rope_cs[0] = xcalloc(B * (size_t)c->rope_dims, sizeof(float));
    s->rope_cs[1] = xcalloc(B * (size_t)c->rope_dims, sizeof(float));
    /* plus 16: rows of transposed keys a power of two apart would all fall
     * into the same few cache sets */
    s->ctx_pad = (s->n_ctx + 63) / 64 * 64 + 16;
    s->scores = xcalloc((size_t)s->n_threads * attn_scratch_floats(c->n_heads / c->n_kv_heads, s->ctx_pad),
                        sizeof(float));
    s->pool = pool_new(s->n_threads);
    if (!s->kc || !s->vc || !s->x || !s->xb || !s->tmp || !s->q || !s->k || !s->v || !s->qkv ||
        !s->att || !s->hb || !s->hb2 || !s->rope_cs[0] || !s->rope_cs[1] || !s->scores ||
        !s->pool) {
        model_session_free(s);
        err_set(e, CAPE_EFAIL, "out of memory for a context of %d tokens", o->n_ctx);
        return NULL;
    }
    return s;
}

void model_session_free(model_session *s)
{
    if (!s)
        return;
    pool_free(s->pool);
    float *bufs[] = {s->kc, s->vc, s->x, s->xb, s->tmp, s->q, s->k, s->v, s->qkv, s->att,
                     s->hb, s->hb2, s->rope_cs[0], s->rope_cs[1], s->scores, s->kt, s->logits};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++)
        free(bufs[i]);
    free(s);
}

int model_session_n_ctx(const model_session *s) { return s->n_ctx; }
int model_session_pos(const model_session *s) { return s->pos; }

void model_session_rewind(model_session *s, int pos)
{
    if (pos >= 0 && pos < s->pos)
        s->pos = pos;
}

void model_session_set_hook(model_session *s, model_hook_fn fn, void *user)
{
    s->hook = fn;
    s->hook_user = user;
}

const float *model_logits(const model_session *s, int row)
{
    if (!s->logits || row < 0 || row >= s->logit_rows)
        return NULL;
    return s->logits + (size_t)row * s->m->cfg.n_vocab;
}

/* ---- elementwise pieces ---- */

static void norm_row(const model_config *c, float *y, const float *x, int dim, const float *w,
                     const float *b)
{
    if (c->norm == MODEL_NORM_RMS) {
        double ss = tensor_sumsq(x, dim);
        tensor_scale_mul(y, x, (float)(1.0 / sqrt(ss / dim + c->norm_eps)), w, dim);
        return;
    }
    double mean = 0, var = 0;
    for (int i = 0; i < dim; i++)
        mean += x[i];
    mean /= dim;
    for (int i = 0; i < dim; i++)
        var += (x[i] - mean) * (x[i] - mean);
    float r = (float)(1.0 / sqrt(var / dim + c->norm_eps)), mu = (float)mean;
    for (int i = 0; i < dim; i++)
        y[i] = (x[i] - mu) * r * w[i] + (b ? b[i] : 0.f);
}

typedef struct {
    const model_config *c;
    float *out;
    const float *in, *w, *b;
    int dim;
} norm_job;

static void norm_worker(void *arg, int64_t t0, int64_t t1, int ith)
{
    (void)ith;
    norm_job *j = arg;
    for (int64_t t = t0; t < t1; t++)
        norm_row(j->c, j->out + t * j->dim, j->in + t * j->dim, j->dim, j->w, j->b);
}

/* The rows normalised; the threads share them when there are many. */
static void norm_rows(model_session *s, float *out, const float *in, int n, int dim,
                      const float *w, const float *b)
{
    norm_job j = {&s->m->cfg, out, in, w, b, dim};
    pool_for(n >= 32 ? s->pool : NULL, n, 16, norm_worker, &j);
}

/* RMSNorm of each head vector in place (qk-norm). */
static void head_rmsnorm(float *x, int n_vecs, int hd, const float *w, float eps)
{
    for (int i = 0; i < n_vecs; i++, x += hd)
        tensor_scale_mul(x, x, (float)(1.0 / sqrt(tensor_sumsq(x, hd) / hd + eps)), w, hd);
}

static void add_bias(float *y, const float *b, int n, int width)
{
    if (!b)
        return;
    for (int t = 0; t < n; t++)
        for (int i = 0; i < width; i++)
            y[(size_t)t * width + i] += b[i];
}


static void linear(model_session *s, const tensor_mat *w, const float *bias, const float *in,
                   int n, float *out)
{
    tensor_matmul(s->pool, w, in, n, out);
    add_bias(out, bias, n, (int)w->rows);
}

static void call_hook(model_session *s, int layer, model_hook_point p, float *x, int n, int width)
{
    if (!s->hook)
        return;
    const model_config *c = &s->m->cfg;
    model_hook_info info = {layer, p, n, width, s->pos, c->n_heads, c->head_dim};
    s->hook(&info, x, s->hook_user);
}

/* ---- RoPE ---- */

static int layer_is_swa(const model_config *c, int l)
{
    if (!c->sliding_window)
        return 0;
    return !(c->swa_period && (l + 1) % c->swa_period == 0);
}

static void rope_tables(model_session *s, int n)
{
    const model_config *c = &s->m->cfg;
    int half = c->rope_dims / 2;
    for (int which = 0; which < 2; which++) {
        double base = which ? c->rope_base_swa : c->rope_base;
        /* Gemma 3 scales positions only on global layers. */
        double scale = which ? 1.0 : c->rope_scale;
        for (int t = 0; t < n; t++) {
            double p = (double)(s->pos + t) * scale;
            float *cs = s->rope_cs[which] + (size_t)t * c->rope_dims;
            for (int i = 0; i < half; i++) {
                double inv = pow(base, -2.0 * i / c->rope_dims);
                if (s->m->rope_freqs)
                    inv /= s->m->rope_freqs[i];
                double th = p * inv;
                cs[i] = (float)cos(th);
                cs[half + i] = (float)sin(th);
            }
        }
    }
}

/* Rotates the n_heads head vectors of one token. */
static void rope_token(const model_config *c, float *x, int n_heads, const float *cs)
{
    int hd = c->head_dim, half = c->rope_dims / 2;
    const float *co = cs, *si = cs + half;
    for (int h = 0; h < n_heads; h++) {
        float *v = x + (size_t)h * hd;
        if (c->rope == MODEL_ROPE_NORMAL) {
            for (int i = 0; i < half; i++) {
                float x0 = v[2 * i], x1 = v[2 * i + 1];
                v[2 * i] = x0 * co[i] - x1 * si[i];
                v[2 * i + 1] = x0 * si[i] + x1 * co[i];
            }
        } else {
            tensor_rotate_half(v, v + half, co, si, half);
        }
    }
}

/* ---- attention ---- */

typedef struct {
    model_session *s;
    int layer, n, window;
} att_job;

static void att_worker(void *arg, int64_t i0, int64_t i1, int ith)
{
    att_job *j = arg;
    model_session *s = j->s;
    const model_config *c = &s->m->cfg;
    int hd = c->head_dim, nh = c->n_heads, group = c->n_heads / c->n_kv_heads;
    size_t kv_dim = (size_t)c->n_kv_heads * hd;
    const float *kc = s->kc + (size_t)j->layer * s->n_ctx * kv_dim;
    const float *vc = s->vc + (size_t)j->layer * s->n_ctx * kv_dim;
    float *sc = s->scores + (size_t)ith * attn_scratch_floats(group, s->ctx_pad);
    for (int item = (int)i0; item < (int)i1; item++) {
        int t = item / nh, h = item % nh, kvh = h / group, p = s->pos + t;
        int start = j->window && p - j->window + 1 > 0 ? p - j->window + 1 : 0;
        const float *q = s->q + ((size_t)t * nh + h) * hd;
        float mx = -INFINITY;
        for (int pj = start; pj <= p; pj++) {
            const float *kk = kc + (size_t)pj * kv_dim + (size_t)kvh * hd;
            float v;
            if (hd < 32) { /* small heads: a call per position would cost more than the dot */
                v = 0;
                for (int i = 0; i < hd; i++)
                    v += q[i] * kk[i];
            } else {
                v = tensor_dot_f32(q, kk, hd);
            }
            v *= c->attn_scale;
            sc[pj] = v;
            mx = v > mx ? v : mx;
        }
        double sum = 0;
        for (int pj = start; pj <= p; pj++) {
            sc[pj] = expf(sc[pj] - mx);
            sum += sc[pj];
        }
        float inv = (float)(1.0 / sum);
        float *out = s->att + ((size_t)t * nh + h) * hd;
        memset(out, 0, (size_t)hd * sizeof *out);
        for (int pj = start; pj <= p; pj++) {
            const float *vv = vc + (size_t)pj * kv_dim + (size_t)kvh * hd;
            float a = sc[pj] * inv;
            if (hd < 32)
                for (int i = 0; i < hd; i++)
                    out[i] += a * vv[i];
            else
                tensor_axpy(a, vv, out, hd);
        }
    }
}

/* Chunks of many tokens: each layer's keys are transposed once, then every
 * (token, key/value head) item attends with the whole group of query heads
 * (attn.h). */
enum { ATT_BLOCK_MIN = 8 };

typedef struct {
    model_session *s;
    int layer, n, window, j_lo, n_pos;
} att_block_job;

static void att_transpose_worker(void *arg, int64_t i0, int64_t i1, int ith)
{
    (void)ith;
    att_block_job *j = arg;
    model_session *s = j->s;
    const model_config *c = &s->m->cfg;
    int hd = c->head_dim, kv_dim = c->n_kv_heads * hd;
    const float *kc = s->kc + (size_t)j->layer * s->n_ctx * kv_dim;
    for (int64_t kvh = i0; kvh < i1; kvh++)
        attn_keys_transpose(kc + (size_t)kvh * hd, (size_t)kv_dim, j->j_lo, j->n_pos, hd,
                            s->kt + (size_t)kvh * hd * s->ctx_pad, s->ctx_pad);
}

static void att_block_worker(void *arg, int64_t i0, int64_t i1, int ith)
{
    att_block_job *j = arg;
    model_session *s = j->s;
    const model_config *c = &s->m->cfg;
    int hd = c->head_dim, nh = c->n_heads, nkv = c->n_kv_heads, group = nh / nkv;
    size_t kv_dim = (size_t)nkv * hd;
    const float *vc = s->vc + (size_t)j->layer * s->n_ctx * kv_dim;
    float *sc = s->scores + (size_t)ith * attn_scratch_floats(group, s->ctx_pad);
    for (int64_t item = i0; item < i1; item++) {
        int t = (int)(item / nkv), kvh = (int)(item % nkv), p = s->pos + t;
        int start = j->window && p - j->window + 1 > 0 ? p - j->window + 1 : 0;
        size_t off = ((size_t)t * nh + (size_t)kvh * group) * hd;
        attn_group(s->q + off, group, hd, s->kt + (size_t)kvh * hd * s->ctx_pad, s->ctx_pad,
                   vc + (size_t)kvh * hd, kv_dim, start, p, c->attn_scale, sc, s->att + off);
    }
}

/* 0 when the transposed keys cannot be allocated (the caller falls back). */
static int attend_block(model_session *s, int l, int n, int window)
{
    const model_config *c = &s->m->cfg;
    if (!s->kt && !(s->kt = malloc((size_t)c->n_kv_heads * c->head_dim * s->ctx_pad * sizeof(float))))
        return 0;
    int first = window && s->pos - window + 1 > 0 ? s->pos - window + 1 : 0;
    att_block_job j = {s, l, n, window, first & ~15, s->pos + n};
    pool_for(s->pool, c->n_kv_heads, 1, att_transpose_worker, &j);
    pool_for(s->pool, (int64_t)n * c->n_kv_heads, 1, att_block_worker, &j);
    return 1;
}

/* ---- one block ---- */

typedef struct {
    model_session *s;
    const model_layer *L;
    int layer;
    const float *rope_cs;
} qk_job;

/* Per token: qk-norm, RoPE, and its key and value into the cache. */
static void qk_worker(void *arg, int64_t t0, int64_t t1, int ith)
{
    (void)ith;
    qk_job *j = arg;
    model_session *s = j->s;
    const model_config *c = &s->m->cfg;
    int hd = c->head_dim, q_dim = c->n_heads * hd, kv_dim = c->n_kv_heads * hd;
    for (int64_t t = t0; t < t1; t++) {
        float *q = s->q + t * q_dim, *k = s->k + t * kv_dim;
        if (j->L->q_norm) {
            head_rmsnorm(q, c->n_heads, hd, j->L->q_norm, c->norm_eps);
            head_rmsnorm(k, c->n_kv_heads, hd, j->L->k_norm, c->norm_eps);
        }
        if (c->rope != MODEL_ROPE_NONE) {
            const float *cs = j->rope_cs + t * c->rope_dims;
            rope_token(c, q, c->n_heads, cs);
            rope_token(c, k, c->n_kv_heads, cs);
        }
        size_t off = ((size_t)j->layer * s->n_ctx + s->pos + t) * kv_dim;
        memcpy(s->kc + off, k, (size_t)kv_dim * 4);
        memcpy(s->vc + off, s->v + t * kv_dim, (size_t)kv_dim * 4);
    }
}

static void attention_block(model_session *s, int l, int n)
{
    const model *m = s->m;
    const model_config *c = &m->cfg;
    const model_layer *L = &m->layers[l];
    int hd = c->head_dim, q_dim = c->n_heads * hd, kv_dim = c->n_kv_heads * hd;
    norm_rows(s, s->xb, s->x, n, c->dim, L->attn_norm, L->attn_norm_b);
    if (L->wqkv.data) {
        int w = q_dim + 2 * kv_dim;
        linear(s, &L->wqkv, L->bqkv, s->xb, n, s->qkv);
        for (int t = 0; t < n; t++) {
            const float *r = s->qkv + (size_t)t * w;
            memcpy(s->q + (size_t)t * q_dim, r, (size_t)q_dim * 4);
            memcpy(s->k + (size_t)t * kv_dim, r + q_dim, (size_t)kv_dim * 4);
            memcpy(s->v + (size_t)t * kv_dim, r + q_dim + kv_dim, (size_t)kv_dim * 4);
        }
    } else {
        linear(s, &L->wq, L->bq, s->xb, n, s->q);
        linear(s, &L->wk, L->bk, s->xb, n, s->k);
        linear(s, &L->wv, L->bv, s->xb, n, s->v);
    }
    int swa = layer_is_swa(c, l);
    qk_job qj = {s, L, l, s->rope_cs[swa]};
    pool_for(n >= 32 ? s->pool : NULL, n, 8, qk_worker, &qj);
    int window = swa ? c->sliding_window : 0;
    if (n < ATT_BLOCK_MIN || !attend_block(s, l, n, window)) {
        att_job j = {s, l, n, window};
        pool_for(s->pool, (int64_t)n * c->n_heads, 1, att_worker, &j);
    }
    call_hook(s, l, MODEL_HOOK_ATTN_HEADS, s->att, n, q_dim);
    linear(s, &L->wo, L->bo, s->att, n, s->tmp);
    if (L->post_attn_norm)
        norm_rows(s, s->tmp, s->tmp, n, c->dim, L->post_attn_norm, NULL);
}

typedef struct {
    act_kind k;
    const float *x, *m;
    size_t n;
    float *y;
} act_job;

static void act_worker(void *arg, int64_t a, int64_t b, int ith)
{
    (void)ith;
    act_job *j = arg;
    act_apply(j->k, j->x + a, j->m ? j->m + a : NULL, j->y + a, (size_t)(b - a));
}

/* MLP of the rows in `in`, result in s->tmp. */
static void mlp_block(model_session *s, int l, int n, const float *in)
{
    const model_config *c = &s->m->cfg;
    const model_layer *L = &s->m->layers[l];
    size_t nf = (size_t)n * c->ffn_dim;
    linear(s, &L->w_up, L->b_up, in, n, s->hb);
    act_kind k = c->mlp == MODEL_MLP_SWIGLU ? ACT_SILU
                 : c->gelu == MODEL_GELU_ERF ? ACT_GELU_ERF : ACT_GELU_TANH;
    act_job aj = {k, s->hb, NULL, nf, s->hb};
    if (c->mlp != MODEL_MLP_GELU) {
        linear(s, &L->w_gate, NULL, in, n, s->hb2);
        aj.x = s->hb2; /* act(gate) * up, into hb */
        aj.m = s->hb;
    }
    aj.y = s->hb;
    pool_for(s->pool, (int64_t)nf, 4096, act_worker, &aj);
    call_hook(s, l, MODEL_HOOK_MLP_HIDDEN, s->hb, n, c->ffn_dim);
    linear(s, &L->w_down, L->b_down, s->hb, n, s->tmp);
    if (L->post_ffn_norm)
        norm_rows(s, s->tmp, s->tmp, n, c->dim, L->post_ffn_norm, NULL);
}

static void add_rows(float *x, const float *y, size_t n)
{
    for (size_t i = 0; i < n; i++)
        x[i] += y[i];
}

static void embed(model_session *s, const int *tokens, int n)
{
    const model *m = s->m;
    const model_config *c = &m->cfg;
    for (int t = 0; t < n; t++) {
        float *x = s->x + (size_t)t * c->dim;
        tensor_mat_row(&m->tok_embd, tokens[t], x);
        if (c->embed_scale != 1.f)
            for (int i = 0; i < c->dim; i++)
                x[i] *= c->embed_scale;
        if (m->pos_embd.data) {
            tensor_mat_row(&m->pos_embd, s->pos + t, s->tmp);
            add_rows(x, s->tmp, (size_t)c->dim);
        }
    }
}

/* Runs n tokens (n <= n_batch) through the blocks; x holds the final
 * residual stream afterwards. */
static void forward_chunk(model_session *s, const int *tokens, int n)
{
    const model_config *c = &s->m->cfg;
    size_t nd = (size_t)n * c->dim;
    embed(s, tokens, n);
    if (c->rope != MODEL_ROPE_NONE)
        rope_tables(s, n);
    for (int l = 0; l < c->n_layers; l++) {
        const model_layer *L = &s->m->layers[l];
        call_hook(s, l, MODEL_HOOK_RESID_PRE, s->x, n, c->dim);
        attention_block(s, l, n);
        if (c->parallel_residual) {
            /* the MLP reads the block's input, not x + attention */
            float *attn_out = s->qkv; /* free by now, and large enough */
            memcpy(attn_out, s->tmp, nd * 4);
            norm_rows(s, s->xb, s->x, n, c->dim, L->ffn_norm, L->ffn_norm_b);
            mlp_block(s, l, n, s->xb);
            add_rows(s->x, attn_out, nd);
            add_rows(s->x, s->tmp, nd);
        } else {
            add_rows(s->x, s->tmp, nd);
            norm_rows(s, s->xb, s->x, n, c->dim, L->ffn_norm, L->ffn_norm_b);
            mlp_block(s, l, n, s->xb);
            add_rows(s->x, s->tmp, nd);
        }
        call_hook(s, l, MODEL_HOOK_RESID_POST, s->x, n, c->dim);
    }
}

static int ensure_logits(model_session *s, int rows, cape_err *e)
{
    if (rows > s->logit_cap) {
        float *nl = realloc(s->logits, (size_t)rows * s->m->cfg.n_vocab * sizeof(float));
        if (!nl)
            return err_set(e, CAPE_EFAIL, "out of memory for %d rows of logits", rows);
        s->logits = nl;
        s->logit_cap = rows;
    }
    return 0;
}

/* Logits of rows [first, first + count) of the chunk into logits row `dst`. */
static void output_rows(model_session *s, int first, int count, int dst)
{
    const model *m = s->m;
    const model_config *c = &m->cfg;
    float *xn = s->xb;
    norm_rows(s, xn, s->x + (size_t)first * c->dim, count, c->dim, m->out_norm, m->out_norm_b);
    tensor_matmul(s->pool, &m->output, xn, count, s->logits + (size_t)dst * c->n_vocab);
}

int model_eval(model_session *s, const int *tokens, int n, model_logits_mode mode, cape_err *e)
{
    const model_config *c = &s->m->cfg;
    if (n <= 0)
        return err_set(e, CAPE_EINPUT, "nothing to evaluate");
    if (n > s->n_ctx - s->pos)
        return err_set(e, CAPE_EINPUT, "context full: %d tokens cached + %d new > context of %d",
                       s->pos, n, s->n_ctx);
    for (int i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= c->n_vocab)
            return err_set(e, CAPE_EINPUT, "token id %d out of range (vocabulary of %d)",
                           tokens[i], c->n_vocab);
    int rows = mode == MODEL_LOGITS_ALL ? n : mode == MODEL_LOGITS_LAST ? 1 : 0;
    if (ensure_logits(s, rows, e))
        return e->code;
    s->logit_rows = rows;
    for (int i0 = 0; i0 < n; i0 += s->n_batch) {
        int nb = n - i0 < s->n_batch ? n - i0 : s->n_batch;
        forward_chunk(s, tokens + i0, nb);
        if (mode == MODEL_LOGITS_ALL)
            output_rows(s, 0, nb, i0);
        else if (mode == MODEL_LOGITS_LAST && i0 + nb == n)
            output_rows(s, nb - 1, 1, 0);
        s->pos += nb;
    }
    return 0;
}

/* ---- the output head on arbitrary states (logit lens, probing) ---- */

void model_final_norm(const model_session *s, const float *in, int n, float *out)
{
    const model *m = s->m;
    norm_job j = {&m->cfg, out, in, m->out_norm, m->out_norm_b, m->cfg.dim};
    norm_worker(&j, 0, n, 0);
}

void model_unembed(model_session *s, const float *in, int n, float *out)
{
    tensor_matmul(s->pool, &s->m->output, in, n, out);
}
