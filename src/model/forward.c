/* forward: sessions (KV cache, scratch, threads) and the forward pass of
 * every architecture, one chunk of tokens at a time. Activations are f32
 * row-major [n_tokens x width]; the KV cache is [seq][layer][pos][kv_dim],
 * f32 or f16. A chunk's rows may belong to different sequences (batched
 * decoding): row t is token tokens[t] of sequence row_seq[t] at position
 * row_pos[t]. Everything but attention works on all rows at once, so the
 * weights are read once per chunk; attention reads each row's own sequence. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/model_impl.h"
#include "tensor/act.h"
#include "tensor/attn.h"
#include "tensor/f16row.h"
#include "tensor/quant.h"

struct model_session {
    const model *m;
    int n_ctx, n_batch, n_threads, n_seq;
    model_kv_type kv;
    size_t kv_elt;     /* bytes per cached value: 4 (f32) or 2 (f16) */
    int *seq_pos;      /* [n_seq] tokens cached per sequence */
    const int *row_seq, *row_pos; /* the chunk being evaluated: [n] each */
    int *att_rows;     /* [n_batch] rows attended one by one */
    pool *pool;
    void *kc, *vc;     /* [n_seq][n_layers][n_ctx][kv_dim] */
    float *kf, *vf;    /* f16 cache, blocked attention: one layer of one sequence in f32 (lazy) */
    float *x, *xb, *q, *k, *v, *qkv, *att, *hb, *hb2, *tmp;
    float *rope_cs[2]; /* [n_batch][cos x rope_dims/2, sin x rope_dims/2], global and sliding layers */
    float *scores;     /* [n_threads][group][ctx_pad] */
    float *kt;         /* one layer's keys transposed, [n_kv_heads][head_dim][ctx_pad] (lazy) */
    int ctx_pad;       /* n_ctx rounded up to 64, plus 16 */
    float *logits;
    int logit_rows, logit_cap;
    int *logit_idx;    /* [n of the last eval]: its logits row, or -1 */
    int logit_idx_n, logit_idx_cap;
    model_hook_fn hook;
    void *hook_user;
};

static void *xcalloc(size_t n, size_t sz)
{
    if (n == 0)
        n = 1;
    return calloc(n, sz);
}

static size_t kv_dim_of(const model_config *c) { return (size_t)c->n_kv_heads * c->head_dim; }

model_session *model_session_new(const model *m, const model_session_opts *o, cape_err *e)
{
    const model_config *c = &m->cfg;
    model_session_opts d = {0};
    if (!o)
        o = &d;
    if (o->n_seq < 0 || o->n_seq > MODEL_MAX_SEQ) {
        err_set(e, CAPE_EINPUT, "%d sequences: expected 1 to %d", o->n_seq, MODEL_MAX_SEQ);
        return NULL;
    }
    if (o->kv_type != MODEL_KV_F32 && o->kv_type != MODEL_KV_F16) {
        err_set(e, CAPE_EINPUT, "unknown KV cache type %d", (int)o->kv_type);
        return NULL;
    }
    model_session *s = calloc(1, sizeof *s);
    if (!s) {
        err_set(e, CAPE_EFAIL, "out of memory");
        return NULL;
    }
    s->m = m;
    s->n_ctx = o->n_ctx > 0 ? o->n_ctx : (c->n_ctx_train < 4096 ? c->n_ctx_train : 4096);
    if (c->rope == MODEL_ROPE_NONE && s->n_ctx > c->n_ctx_train)
        s->n_ctx = c->n_ctx_train; /* learned positions end there */
    s->n_seq = o->n_seq > 0 ? o->n_seq : 1;
    s->kv = o->kv_type;
    s->kv_elt = s->kv == MODEL_KV_F16 ? 2 : 4;
    s->n_batch = o->n_batch > 0 ? o->n_batch : 256;
    if ((long long)s->n_batch > (long long)s->n_ctx * s->n_seq)
        s->n_batch = s->n_ctx * s->n_seq;
    s->n_threads = o->n_threads > 0 ? o->n_threads : 1;
    size_t q_dim = (size_t)c->n_heads * c->head_dim, kv_dim = kv_dim_of(c);
    size_t B = (size_t)s->n_batch, wide = q_dim > (size_t)c->dim ? q_dim : (size_t)c->dim;
    size_t cache = (size_t)s->n_seq * c->n_layers * (size_t)s->n_ctx * kv_dim;
    s->seq_pos = xcalloc((size_t)s->n_seq, sizeof(int));
    s->att_rows = xcalloc(B, sizeof(int));
    s->kc = xcalloc(cache, s->kv_elt);
    s->vc = xcalloc(cache, s->kv_elt);
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
    if (!s->seq_pos || !s->att_rows || !s->kc || !s->vc || !s->x || !s->xb || !s->tmp || !s->q ||
        !s->k || !s->v || !s->qkv || !s->att || !s->hb || !s->hb2 || !s->rope_cs[0] ||
        !s->rope_cs[1] || !s->scores || !s->pool) {
        model_session_free(s);
        err_set(e, CAPE_EFAIL, "out of memory for %d sequence(s) of a context of %d tokens",
                o->n_seq > 0 ? o->n_seq : 1, o->n_ctx);
        return NULL;
    }
    return s;
}

void model_session_free(model_session *s)
{
    if (!s)
        return;
    pool_free(s->pool);
    void *bufs[] = {s->kc, s->vc, s->kf, s->vf, s->x, s->xb, s->tmp, s->q, s->k, s->v, s->qkv,
                    s->att, s->hb, s->hb2, s->rope_cs[0], s->rope_cs[1], s->scores, s->kt,
                    s->logits, s->seq_pos, s->att_rows, s->logit_idx};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++)
        free(bufs[i]);
    free(s);
}

int model_session_n_ctx(const model_session *s) { return s->n_ctx; }
int model_session_pos(const model_session *s) { return s->seq_pos[0]; }
int model_session_n_seq(const model_session *s) { return s->n_seq; }
model_kv_type model_session_kv_type(const model_session *s) { return s->kv; }

size_t model_session_kv_bytes(const model_session *s)
{
    const model_config *c = &s->m->cfg;
    return 2 * (size_t)s->n_seq * c->n_layers * (size_t)s->n_ctx * kv_dim_of(c) * s->kv_elt;
}

void model_session_rewind(model_session *s, int pos) { model_seq_rewind(s, 0, pos); }

int model_seq_pos(const model_session *s, int seq)
{
    return seq >= 0 && seq < s->n_seq ? s->seq_pos[seq] : -1;
}

void model_seq_rewind(model_session *s, int seq, int pos)
{
    if (seq >= 0 && seq < s->n_seq && pos >= 0 && pos < s->seq_pos[seq])
        s->seq_pos[seq] = pos;
}

/* Byte offset of (seq, layer, pos) in the caches. */
static size_t kv_off(const model_session *s, int seq, int layer, int pos)
{
    const model_config *c = &s->m->cfg;
    return ((((size_t)seq * c->n_layers + layer) * s->n_ctx + pos) * kv_dim_of(c)) * s->kv_elt;
}

int model_seq_copy(model_session *s, int dst, int src, int n_pos, cape_err *e)
{
    if (src < 0 || src >= s->n_seq || dst < 0 || dst >= s->n_seq)
        return err_set(e, CAPE_EINPUT, "sequence %d or %d is not one of the session's %d", src,
                       dst, s->n_seq);
    if (n_pos < 0 || n_pos > s->seq_pos[src])
        return err_set(e, CAPE_EINPUT, "cannot copy %d positions of sequence %d, which has %d",
                       n_pos, src, s->seq_pos[src]);
    if (src != dst && n_pos > 0) {
        size_t bytes = kv_off(s, 0, 0, n_pos);
        for (int l = 0; l < s->m->cfg.n_layers; l++) {
            memcpy((char *)s->kc + kv_off(s, dst, l, 0), (char *)s->kc + kv_off(s, src, l, 0), bytes);
            memcpy((char *)s->vc + kv_off(s, dst, l, 0), (char *)s->vc + kv_off(s, src, l, 0), bytes);
        }
    }
    s->seq_pos[dst] = n_pos;
    return 0;
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

const float *model_logits_at(const model_session *s, int i)
{
    if (i < 0 || i >= s->logit_idx_n || s->logit_idx[i] < 0)
        return NULL;
    return model_logits(s, s->logit_idx[i]);
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

/* The hook once per run of consecutive rows of one sequence (their
 * positions are consecutive), so a hook sees n_tokens rows of sequence
 * info.seq from position pos0 on, as for a session of one sequence. */
static void call_hook(model_session *s, int layer, model_hook_point p, float *x, int n, int width)
{
    if (!s->hook)
        return;
    const model_config *c = &s->m->cfg;
    for (int t0 = 0, t1; t0 < n; t0 = t1) {
        for (t1 = t0 + 1; t1 < n && s->row_seq[t1] == s->row_seq[t0];)
            t1++;
        model_hook_info info = {layer,           p,           t1 - t0,          width,
                                s->row_pos[t0], c->n_heads, c->head_dim, s->row_seq[t0]};
        s->hook(&info, x + (size_t)t0 * width, s->hook_user);
    }
}

/* End of the run of rows of one sequence that starts at row t0. */
static int seg_end(const model_session *s, int t0, int n)
{
    int t1 = t0 + 1;
    while (t1 < n && s->row_seq[t1] == s->row_seq[t0])
        t1++;
    return t1;
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
            double p = (double)s->row_pos[t] * scale;
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

/* One row and head at a time: rows[] lists the rows. */
typedef struct {
    model_session *s;
    int layer, window;
    const int *rows;
} att_job;

static void att_worker(void *arg, int64_t i0, int64_t i1, int ith)
{
    att_job *j = arg;
    model_session *s = j->s;
    const model_config *c = &s->m->cfg;
    int hd = c->head_dim, nh = c->n_heads, group = c->n_heads / c->n_kv_heads;
    size_t kv_dim = kv_dim_of(c);
    int f16 = s->kv == MODEL_KV_F16;
    float *sc = s->scores + (size_t)ith * attn_scratch_floats(group, s->ctx_pad);
    for (int64_t item = i0; item < i1; item++) {
        int t = j->rows[item / nh], h = (int)(item % nh), kvh = h / group, p = s->row_pos[t];
        const char *kc = (const char *)s->kc + kv_off(s, s->row_seq[t], j->layer, 0);
        const char *vc = (const char *)s->vc + kv_off(s, s->row_seq[t], j->layer, 0);
        size_t stride = kv_dim * s->kv_elt, hoff = (size_t)kvh * hd * s->kv_elt;
        int start = j->window && p - j->window + 1 > 0 ? p - j->window + 1 : 0;
        const float *q = s->q + ((size_t)t * nh + h) * hd;
        float mx = -INFINITY;
        for (int pj = start; pj <= p; pj++) {
            const void *kk = kc + (size_t)pj * stride + hoff;
            float v;
            if (f16) {
                v = f16row_dot(q, kk, hd);
            } else if (hd < 32) { /* small heads: a call per position would cost more than the dot */
                const float *kf = kk;
                v = 0;
                for (int i = 0; i < hd; i++)
                    v += q[i] * kf[i];
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
            const void *vv = vc + (size_t)pj * stride + hoff;
            float a = sc[pj] * inv;
            if (f16) {
                f16row_axpy(a, vv, out, hd);
            } else if (hd < 32) {
                const float *vf = vv;
                for (int i = 0; i < hd; i++)
                    out[i] += a * vf[i];
            } else {
                tensor_axpy(a, vv, out, hd);
            }
        }
    }
}

/* Runs of many rows of one sequence: the layer's keys are transposed once,
 * then every (row, key/value head) item attends with the whole group of
 * query heads (attn.h). */
enum { ATT_BLOCK_MIN = 8 };

typedef struct {
    model_session *s;
    int t0, window, j_lo, n_pos;
    const float *k, *v; /* the sequence's keys and values of this layer, f32, position 0 first */
} att_block_job;

static void att_transpose_worker(void *arg, int64_t i0, int64_t i1, int ith)
{
    (void)ith;
    att_block_job *j = arg;
    model_session *s = j->s;
    const model_config *c = &s->m->cfg;
    int hd = c->head_dim, kv_dim = c->n_kv_heads * hd;
    for (int64_t kvh = i0; kvh < i1; kvh++)
        attn_keys_transpose(j->k + (size_t)kvh * hd, (size_t)kv_dim, j->j_lo, j->n_pos, hd,
                            s->kt + (size_t)kvh * hd * s->ctx_pad, s->ctx_pad);
}

static void att_block_worker(void *arg, int64_t i0, int64_t i1, int ith)
{
    att_block_job *j = arg;
    model_session *s = j->s;
    const model_config *c = &s->m->cfg;
    int hd = c->head_dim, nh = c->n_heads, nkv = c->n_kv_heads, group = nh / nkv;
    size_t kv_dim = (size_t)nkv * hd;
    float *sc = s->scores + (size_t)ith * attn_scratch_floats(group, s->ctx_pad);
    for (int64_t item = i0; item < i1; item++) {
        int t = j->t0 + (int)(item / nkv), kvh = (int)(item % nkv), p = s->row_pos[t];
        int start = j->window && p - j->window + 1 > 0 ? p - j->window + 1 : 0;
        size_t off = ((size_t)t * nh + (size_t)kvh * group) * hd;
        attn_group(s->q + off, group, hd, s->kt + (size_t)kvh * hd * s->ctx_pad, s->ctx_pad,
                   j->v + (size_t)kvh * hd, kv_dim, start, p, c->attn_scale, sc, s->att + off);
    }
}

/* Rows [t0, t0 + n) of one sequence. 0 when scratch cannot be allocated
 * (the caller falls back to row by row). */
static int attend_block(model_session *s, int l, int t0, int n, int window)
{
    const model_config *c = &s->m->cfg;
    size_t kv_dim = kv_dim_of(c);
    if (!s->kt && !(s->kt = malloc((size_t)c->n_kv_heads * c->head_dim * s->ctx_pad * sizeof(float))))
        return 0;
    int seq = s->row_seq[t0], pos0 = s->row_pos[t0];
    int first = window && pos0 - window + 1 > 0 ? pos0 - window + 1 : 0;
    att_block_job j = {s, t0, window, first & ~15, pos0 + n, NULL, NULL};
    const char *kc = (const char *)s->kc + kv_off(s, seq, l, 0);
    const char *vc = (const char *)s->vc + kv_off(s, seq, l, 0);
    if (s->kv == MODEL_KV_F16) {
        /* the range in use, widened to f32 once per layer and run */
        size_t bytes = (size_t)s->n_ctx * kv_dim * sizeof(float);
        if ((!s->kf && !(s->kf = malloc(bytes))) || (!s->vf && !(s->vf = malloc(bytes))))
            return 0;
        f16row_to_f32(s->kf + (size_t)j.j_lo * kv_dim, (const uint16_t *)kc + (size_t)j.j_lo * kv_dim,
                      (int64_t)(j.n_pos - j.j_lo) * (int64_t)kv_dim);
        f16row_to_f32(s->vf + (size_t)first * kv_dim, (const uint16_t *)vc + (size_t)first * kv_dim,
                      (int64_t)(j.n_pos - first) * (int64_t)kv_dim);
        j.k = s->kf;
        j.v = s->vf;
    } else {
        j.k = (const float *)kc;
        j.v = (const float *)vc;
    }
    pool_for(s->pool, c->n_kv_heads, 1, att_transpose_worker, &j);
    pool_for(s->pool, (int64_t)n * c->n_kv_heads, 1, att_block_worker, &j);
    return 1;
}

/* Runs of ATT_BLOCK_MIN rows or more of one sequence go blocked; the other
 * rows one by one. In exact mode every row goes one by one, so that a row's
 * result does not depend on which rows it was evaluated with. */
static void attend(model_session *s, int l, int n, int window)
{
    const model_config *c = &s->m->cfg;
    int na = 0;
    for (int t0 = 0, t1; t0 < n; t0 = t1) {
        t1 = seg_end(s, t0, n);
        if (tensor_exact() || t1 - t0 < ATT_BLOCK_MIN || !attend_block(s, l, t0, t1 - t0, window))
            for (int t = t0; t < t1; t++)
                s->att_rows[na++] = t;
    }
    if (na) {
        att_job j = {s, l, window, s->att_rows};
        pool_for(s->pool, (int64_t)na * c->n_heads, 1, att_worker, &j);
    }
}

/* ---- one block ---- */

typedef struct {
    model_session *s;
    const model_layer *L;
    int layer;
    const float *rope_cs;
} qk_job;

/* Per token: qk-norm, RoPE, and its key and value into its sequence's cache. */
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
        size_t off = kv_off(s, s->row_seq[t], j->layer, s->row_pos[t]);
        const float *v = s->v + t * kv_dim;
        if (s->kv == MODEL_KV_F16) {
            f16row_from_f32((uint16_t *)((char *)s->kc + off), k, kv_dim);
            f16row_from_f32((uint16_t *)((char *)s->vc + off), v, kv_dim);
        } else {
            memcpy((char *)s->kc + off, k, (size_t)kv_dim * 4);
            memcpy((char *)s->vc + off, v, (size_t)kv_dim * 4);
        }
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
    attend(s, l, n, swa ? c->sliding_window : 0);
    call_hook(s, l, MODEL_HOOK_ATTN_HEADS, s->att, n, q_dim);
    linear(s, &L->wo, L->bo, s->att, n, s->tmp);
    if (L->post_attn_norm)
        norm_rows(s, s->tmp, s->tmp, n, c->dim, L->post_attn_norm, NULL);
}

/* The activation row by row, so that a row's values do not depend on where
 * the vector loops' tails fall. */
typedef struct {
    act_kind k;
    const float *x, *m;
    size_t width;
    float *y;
} act_job;

static void act_worker(void *arg, int64_t a, int64_t b, int ith)
{
    (void)ith;
    act_job *j = arg;
    for (int64_t t = a; t < b; t++) {
        size_t o = (size_t)t * j->width;
        act_apply(j->k, j->x + o, j->m ? j->m + o : NULL, j->y + o, j->width);
    }
}

/* MLP of the rows in `in`, result in s->tmp. */
static void mlp_block(model_session *s, int l, int n, const float *in)
{
    const model_config *c = &s->m->cfg;
    const model_layer *L = &s->m->layers[l];
    linear(s, &L->w_up, L->b_up, in, n, s->hb);
    act_kind k = c->mlp == MODEL_MLP_SWIGLU ? ACT_SILU
                 : c->gelu == MODEL_GELU_ERF ? ACT_GELU_ERF : ACT_GELU_TANH;
    act_job aj = {k, s->hb, NULL, (size_t)c->ffn_dim, s->hb};
    if (c->mlp != MODEL_MLP_GELU) {
        linear(s, &L->w_gate, NULL, in, n, s->hb2);
        aj.x = s->hb2; /* act(gate) * up, into hb */
        aj.m = s->hb;
    }
    aj.y = s->hb;
    int grain = 4096 / c->ffn_dim > 1 ? 4096 / c->ffn_dim : 1;
    pool_for(s->pool, n, grain, act_worker, &aj);
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
            tensor_mat_row(&m->pos_embd, s->row_pos[t], s->tmp);
            add_rows(x, s->tmp, (size_t)c->dim);
        }
    }
}

/* Runs n tokens (n <= n_batch; rows described by row_seq and row_pos)
 * through the blocks; x holds the final residual stream afterwards. */
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

static int ensure_logits(model_session *s, int rows, int n, cape_err *e)
{
    if (rows > s->logit_cap) {
        float *nl = realloc(s->logits, (size_t)rows * s->m->cfg.n_vocab * sizeof(float));
        if (!nl)
            return err_set(e, CAPE_EFAIL, "out of memory for %d rows of logits", rows);
        s->logits = nl;
        s->logit_cap = rows;
    }
    if (n > s->logit_idx_cap) {
        int *ni = realloc(s->logit_idx, (size_t)n * sizeof *ni);
        if (!ni)
            return err_set(e, CAPE_EFAIL, "out of memory");
        s->logit_idx = ni;
        s->logit_idx_cap = n;
    }
    return 0;
}

/* Logits of the chunk's rows that ask for them (want[t]), into logits rows
 * from `dst` on, in row order. */
static void output_rows(model_session *s, const unsigned char *want, int n, int dst)
{
    const model *m = s->m;
    const model_config *c = &m->cfg;
    int count = 0;
    for (int t = 0; t < n; t++)
        if (want[t])
            memcpy(s->tmp + (size_t)count++ * c->dim, s->x + (size_t)t * c->dim,
                   (size_t)c->dim * sizeof(float));
    if (!count)
        return;
    norm_rows(s, s->xb, s->tmp, count, c->dim, m->out_norm, m->out_norm_b);
    tensor_matmul(s->pool, &m->output, s->xb, count, s->logits + (size_t)dst * c->n_vocab);
}

int model_eval_seqs(model_session *s, const int *seq, const int *tokens, int n,
                    const unsigned char *want, cape_err *e)
{
    const model_config *c = &s->m->cfg;
    if (n <= 0)
        return err_set(e, CAPE_EINPUT, "nothing to evaluate");
    for (int i = 0; i < n; i++) {
        if (seq[i] < 0 || seq[i] >= s->n_seq)
            return err_set(e, CAPE_EINPUT, "sequence %d is not one of the session's %d", seq[i],
                           s->n_seq);
        if (tokens[i] < 0 || tokens[i] >= c->n_vocab)
            return err_set(e, CAPE_EINPUT, "token id %d out of range (vocabulary of %d)",
                           tokens[i], c->n_vocab);
    }
    int *pos = malloc((size_t)n * sizeof *pos), *next = calloc((size_t)s->n_seq, sizeof *next);
    if (!pos || !next) {
        free(pos);
        free(next);
        return err_set(e, CAPE_EFAIL, "out of memory");
    }
    memcpy(next, s->seq_pos, (size_t)s->n_seq * sizeof *next);
    int rows = 0, rc = 0;
    for (int i = 0; i < n; i++) {
        pos[i] = next[seq[i]]++;
        rows += want && want[i];
    }
    for (int q = 0; q < s->n_seq && !rc; q++)
        if (next[q] > s->n_ctx) {
            if (s->n_seq == 1)
                rc = err_set(e, CAPE_EINPUT, "context full: %d tokens cached + %d new > context of %d",
                             s->seq_pos[q], next[q] - s->seq_pos[q], s->n_ctx);
            else
                rc = err_set(e, CAPE_EINPUT, "context full: sequence %d: %d tokens cached + %d new > "
                             "context of %d", q, s->seq_pos[q], next[q] - s->seq_pos[q], s->n_ctx);
        }
    free(next);
    if (rc || (rc = ensure_logits(s, rows, n, e))) {
        free(pos);
        return rc;
    }
    s->logit_rows = rows;
    s->logit_idx_n = n;
    for (int i = 0, r = 0; i < n; i++)
        s->logit_idx[i] = want && want[i] ? r++ : -1;
    /* Chunks of whole runs of one sequence where they fit, so that a run is
     * cut where a session of that sequence alone would cut it. */
    for (int i0 = 0, done = 0, r0 = 0; i0 < n; i0 += done) {
        done = 0;
        for (int i = i0; i < n;) {
            int j = i + 1;
            while (j < n && seq[j] == seq[i])
                j++;
            if (done + (j - i) <= s->n_batch) {
                done += j - i;
                i = j;
                continue;
            }
            if (done == 0)
                done = s->n_batch;
            break;
        }
        s->row_seq = seq + i0;
        s->row_pos = pos + i0;
        forward_chunk(s, tokens + i0, done);
        if (want) {
            output_rows(s, want + i0, done, r0);
            for (int t = i0; t < i0 + done; t++)
                r0 += want[t] != 0;
        }
        for (int t = i0; t < i0 + done; t++)
            s->seq_pos[seq[t]] = pos[t] + 1;
    }
    s->row_seq = s->row_pos = NULL;
    free(pos);
    return 0;
}

int model_eval(model_session *s, const int *tokens, int n, model_logits_mode mode, cape_err *e)
{
    if (n <= 0)
        return err_set(e, CAPE_EINPUT, "nothing to evaluate");
    int *seq = calloc((size_t)n, sizeof *seq);
    unsigned char *want = mode == MODEL_LOGITS_NONE ? NULL : calloc((size_t)n, 1);
    if (!seq || (mode != MODEL_LOGITS_NONE && !want)) {
        free(seq);
        free(want);
        return err_set(e, CAPE_EFAIL, "out of memory");
    }
    if (mode == MODEL_LOGITS_ALL)
        memset(want, 1, (size_t)n);
    else if (mode == MODEL_LOGITS_LAST)
        want[n - 1] = 1;
    int rc = model_eval_seqs(s, seq, tokens, n, want, e);
    free(seq);
    free(want);
    return rc;
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
