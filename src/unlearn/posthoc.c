#include "unlearn/posthoc.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/rng.h"
#include "train/train_layers.h"

/* One micro-batch as the loss functions see it. Rows: forget items
 * [0, nf), their paired refusals [nf, nf + ni) (ni = nf for DPO, else 0),
 * retain items [nf + ni, n). Per row: nll = summed answer-token NLL under
 * the model, ref_nll under the frozen reference (when the method has one),
 * ntgt = answer targets, len = input positions, scored_from = the first
 * answer position.
 *
 * A loss function returns the loss and asks for its gradient in three
 * forms, all with respect to quantities of the model:
 *   ce_scale[b]: d loss / d (each answer-token NLL of row b);
 *   kl_scale[b]: d loss / d (the KL(ref || model) of each position of row b);
 *   dact (n*T, C): d loss / d (the output of block `layer`), with use_dact. */
struct posthoc_batch {
    posthoc_state *s;
    int nf, ni, nr, n;
    const double *nll, *ref_nll;
    const int *ntgt, *len, *scored_from;
    float *ce_scale, *kl_scale;
    int use_dact;
    double forget_nll, retain_nll; /* token means, for reporting */
};

static double log_sigmoid(double z)
{
    return z >= 0 ? -log1p(exp(-z)) : z - log1p(exp(z));
}

static double sigmoid(double z)
{
    return z >= 0 ? 1.0 / (1.0 + exp(-z)) : exp(z) / (1.0 + exp(z));
}

/* ---- the KL(ref || model) of one position ------------------------------- */

static double kl_position(const float *z, const float *zr, int V)
{
    double mz = z[0], mr = zr[0];
    for (int v = 1; v < V; v++) {
        mz = fmax(mz, z[v]);
        mr = fmax(mr, zr[v]);
    }
    double sz = 0, sr = 0;
    for (int v = 0; v < V; v++) {
        sz += exp(z[v] - mz);
        sr += exp(zr[v] - mr);
    }
    double lz = mz + log(sz), lr = mr + log(sr), kl = 0;
    for (int v = 0; v < V; v++) {
        double lpr = zr[v] - lr;
        kl += exp(lpr) * (lpr - (z[v] - lz));
    }
    return kl;
}

/* dz = scale * (softmax(z) - softmax(zr)), in place of z */
static void kl_grad_position(float *z, const float *zr, int V, double scale)
{
    double mz = z[0], mr = zr[0];
    for (int v = 1; v < V; v++) {
        mz = fmax(mz, z[v]);
        mr = fmax(mr, zr[v]);
    }
    double sz = 0, sr = 0;
    for (int v = 0; v < V; v++) {
        sz += exp(z[v] - mz);
        sr += exp(zr[v] - mr);
    }
    for (int v = 0; v < V; v++)
        z[v] = (float)(scale * (exp(z[v] - mz) / sz - exp(zr[v] - mr) / sr));
}

/* ---- shared terms ------------------------------------------------------ */

static double token_mean(const posthoc_batch *b, int lo, int hi, int *count)
{
    double sum = 0;
    int n = 0;
    for (int r = lo; r < hi; r++) {
        sum += b->nll[r];
        n += b->ntgt[r];
    }
    *count = n;
    return n ? sum / n : 0.0;
}

/* alpha * (NLL token mean, or KL(ref || model) mean over the positions) on
 * the retain rows. */
static double retain_term(posthoc_batch *b)
{
    posthoc_state *s = b->s;
    int lo = b->nf + b->ni, n;
    double alpha = s->h.alpha;
    if (b->nr == 0)
        return 0.0;
    if (!s->h.retain_kl) {
        double mean = token_mean(b, lo, b->n, &n);
        for (int r = lo; r < b->n; r++)
            b->ce_scale[r] = n ? (float)(alpha / n) : 0.0f;
        return alpha * mean;
    }
    int T = s->Tb, V = s->m->cfg.vocab;
    double sum = 0;
    long pos = 0;
    for (int r = lo; r < b->n; r++)
        for (int t = 0; t < b->len[r]; t++, pos++) {
            size_t off = ((size_t)r * T + t) * V;
            sum += kl_position(s->m->logits + off, s->ref->logits + off, V);
        }
    for (int r = lo; r < b->n; r++)
        b->kl_scale[r] = pos ? (float)(alpha / pos) : 0.0f;
    return pos ? alpha * sum / pos : 0.0;
}

/* ---- the methods --------------------------------------------------------- */

static double loss_ga(posthoc_batch *b)
{
    int n;
    double mean = token_mean(b, 0, b->nf, &n);
    for (int r = 0; r < b->nf; r++)
        b->ce_scale[r] = n ? -1.0f / n : 0.0f;
    return -mean;
}

/* plain NLL (token mean): fine-tuning, the relearning attack's loss */
static double loss_nll(posthoc_batch *b)
{
    int n;
    double mean = token_mean(b, 0, b->nf, &n);
    for (int r = 0; r < b->nf; r++)
        b->ce_scale[r] = n ? 1.0f / n : 0.0f;
    return mean;
}

static double loss_graddiff(posthoc_batch *b)
{
    int n;
    double g = b->s->h.gamma, mean = token_mean(b, 0, b->nf, &n);
    for (int r = 0; r < b->nf; r++)
        b->ce_scale[r] = n ? (float)(-g / n) : 0.0f;
    return -g * mean + retain_term(b);
}

/* open-unlearning's compute_dpo_loss with no preferred answer: per forget
 * item z = beta * (NLL - NLL_ref) (summed over the answer), loss
 * -(2/beta) log sigmoid(z), mean over items. */
static double loss_npo(posthoc_batch *b)
{
    double beta = b->s->h.beta, g = b->s->h.gamma, sum = 0;
    for (int r = 0; r < b->nf; r++) {
        double z = beta * (b->nll[r] - b->ref_nll[r]);
        sum += -2.0 / beta * log_sigmoid(z);
        b->ce_scale[r] = (float)(g * -2.0 * sigmoid(-z) / b->nf);
    }
    return g * sum / b->nf + retain_term(b);
}

/* SimNPO: x = NLL / |y| - delta (mean answer-token NLL), loss
 * -(2/beta) log sigmoid(beta x), mean over items. */
static double loss_simnpo(posthoc_batch *b)
{
    double beta = b->s->h.beta, g = b->s->h.gamma, d = b->s->h.delta, sum = 0;
    for (int r = 0; r < b->nf; r++) {
        double x = b->nll[r] / b->ntgt[r] - d;
        sum += -2.0 / beta * log_sigmoid(beta * x);
        b->ce_scale[r] = (float)(g * -2.0 * sigmoid(-beta * x) / (b->nf * (double)b->ntgt[r]));
    }
    return g * sum / b->nf + retain_term(b);
}

/* DPO: preferred = the refusal (row nf + i), rejected = the true answer
 * (row i); log-ratios against the reference; -(2/beta) log sigmoid(z) with
 * z = beta * (win_ratio - lose_ratio). */
static double loss_idkdpo(posthoc_batch *b)
{
    double beta = b->s->h.beta, g = b->s->h.gamma, sum = 0;
    for (int i = 0; i < b->nf; i++) {
        int w = b->nf + i;
        double win = -(b->nll[w] - b->ref_nll[w]), lose = -(b->nll[i] - b->ref_nll[i]);
        double z = beta * (win - lose);
        sum += -2.0 / beta * log_sigmoid(z);
        double dz = g * -2.0 / beta * sigmoid(-z) / b->nf; /* d loss / d z */
        b->ce_scale[w] = (float)(dz * -beta);                /* dz / d NLL_w = -beta */
        b->ce_scale[i] = (float)(dz * beta);                 /* dz / d NLL_l = +beta */
    }
    return g * sum / b->nf + retain_term(b);
}

/* RMU: mean over items of the mean over answer positions of the mean
 * squared difference (over the C channels) between the output of block
 * `layer` and c*u (forget) or the reference's output (retain). */
static double act_mse(posthoc_batch *b, int lo, int hi, const float *target_vec,
                      const float *target_act, double weight)
{
    posthoc_state *s = b->s;
    int T = s->Tb, C = s->m->cfg.dim, L = s->m->cfg.n_layers;
    const float *h = s->layer + 1 < L ? s->m->acts[s->layer + 1].resid : s->m->resid_out;
    double total = 0;
    int items = hi - lo;
    if (!items)
        return 0.0;
    for (int r = lo; r < hi; r++) {
        int na = b->len[r] - b->scored_from[r];
        double row = 0;
        for (int t = b->scored_from[r]; t < b->len[r]; t++) {
            size_t off = ((size_t)r * T + t) * C;
            const float *tg = target_vec ? target_vec : target_act + off;
            double sq = 0;
            for (int c = 0; c < C; c++) {
                double d = (double)h[off + c] - tg[c];
                sq += d * d;
                s->dact[off + c] = (float)(weight * 2.0 * d / ((double)items * na * C));
            }
            row += sq / C;
        }
        total += row / na;
    }
    return weight * total / items;
}

static double loss_rmu(posthoc_batch *b)
{
    posthoc_state *s = b->s;
    int C = s->m->cfg.dim, L = s->m->cfg.n_layers;
    float *cu = malloc(sizeof(float) * C);
    if (!cu)
        return NAN;
    for (int c = 0; c < C; c++)
        cu[c] = (float)(s->h.steering * s->u[c]);
    const float *ref = s->layer + 1 < L ? s->ref->acts[s->layer + 1].resid : s->ref->resid_out;
    double lf = act_mse(b, 0, b->nf, cu, NULL, s->h.gamma);
    double lr = act_mse(b, b->nf + b->ni, b->n, NULL, ref, s->h.alpha);
    free(cu);
    b->use_dact = 1;
    return lf + lr;
}

#define HP(beta, alpha, gamma, delta, steer) {beta, alpha, gamma, delta, steer, -1, 0}

const posthoc_method POSTHOC_METHODS[] = {
    {"ga", "gradient ascent: -NLL on the forget set", loss_ga, 0, 0, 0, 0,
     HP(0.1, 1.0, 1.0, 0.0, 2.0)},
    {"graddiff", "gamma * (-NLL forget) + alpha * NLL retain (or KL to the reference)",
     loss_graddiff, 0, 0, 1, 0, HP(0.1, 1.0, 1.0, 0.0, 2.0)},
    {"npo", "negative preference optimisation against the frozen model, + NLL retain", loss_npo,
     1, 0, 1, 0, HP(0.1, 1.0, 1.0, 0.0, 2.0)},
    {"simnpo", "reference-free, length-normalised NPO, + NLL retain", loss_simnpo, 0, 0, 1, 0,
     HP(4.5, 1.0, 0.125, 0.0, 2.0)},
    {"rmu", "representation misdirection: forget activations to c*u, retain to the frozen model's",
     loss_rmu, 1, 0, 1, 1, HP(0.1, 1.0, 1.0, 0.0, 2.0)},
    {"idkdpo", "DPO with a refusal preferred over the true answer, + NLL retain", loss_idkdpo, 1,
     1, 1, 0, HP(0.1, 1.0, 1.0, 0.0, 2.0)},
    {NULL, NULL, NULL, 0, 0, 0, 0, HP(0, 0, 0, 0, 0)},
};

const posthoc_method posthoc_nll = {"nll", "NLL on the given items (fine-tuning)", loss_nll, 0,
                                    0, 0, 0, HP(0.1, 1.0, 1.0, 0.0, 2.0)};

const posthoc_method *posthoc_method_find(const char *name)
{
    for (const posthoc_method *m = POSTHOC_METHODS; m->name; m++)
        if (!strcmp(m->name, name))
            return m;
    return NULL;
}

const char *posthoc_method_list(char *buf, size_t n)
{
    size_t at = 0;
    buf[0] = 0;
    for (const posthoc_method *m = POSTHOC_METHODS; m->name && at < n; m++)
        at += (size_t)snprintf(buf + at, n - at, "%s%s", at ? ", " : "", m->name);
    return buf;
}

float posthoc_lr_at(long step, long warmup, long total, float lr)
{
    if (step < warmup)
        return (float)((double)lr * (double)step / (double)(warmup > 1 ? warmup : 1));
    long span = total - warmup > 1 ? total - warmup : 1;
    double f = (double)(total - step) / (double)span;
    return (float)((double)lr * (f > 0 ? f : 0.0));
}

/* ---- state --------------------------------------------------------------- */

void posthoc_state_free(posthoc_state *s)
{
    free(s->u);
    free(s->tokens);
    free(s->targets);
    free(s->masks);
    free(s->ce_scale);
    free(s->kl_scale);
    free(s->dact);
    free(s->nll);
    free(s->ref_nll);
    free(s->ntgt);
    free(s->rowlen);
    free(s->scored_from);
    free(s->frozen);
    memset(s, 0, sizeof *s);
}

void posthoc_set_direction(posthoc_state *s, const float *u)
{
    int C = s->m->cfg.dim;
    double n = 0;
    for (int c = 0; c < C; c++)
        n += (double)u[c] * u[c];
    n = sqrt(n);
    for (int c = 0; c < C; c++)
        s->u[c] = n > 0 ? (float)(u[c] / n) : 0.0f;
}

int posthoc_state_init(posthoc_state *s, const posthoc_method *meth, const posthoc_hparams *h,
                       train_model *m, train_model *ref, const sink_model *sinks, int max_rows,
                       uint64_t seed, cape_err *e)
{
    memset(s, 0, sizeof *s);
    const train_config *c = &m->cfg;
    s->method = meth;
    s->h = *h;
    s->m = m;
    s->ref = ref;
    s->sinks = sinks && sinks->enabled ? sinks : NULL;
    s->max_rows = max_rows;
    s->T = m->T;
    if (max_rows > m->B || ((meth->needs_ref || h->retain_kl) && (!ref || ref->B < max_rows)))
        return err_set(e, CAPE_EFAIL, "posthoc: activations for %d rows are not allocated",
                       max_rows);
    s->layer = h->layer >= 0 ? h->layer : c->n_layers / 3;
    if (s->layer >= c->n_layers)
        return err_set(e, CAPE_EINPUT, "--layer: %d is out of range [0, %d] for a model of %d "
                       "blocks", h->layer, c->n_layers - 1, c->n_layers);
    size_t NT = (size_t)max_rows * s->T, C = c->dim;
    s->u = calloc(C, sizeof(float));
    s->tokens = malloc(sizeof(int) * NT);
    s->targets = malloc(sizeof(int) * NT);
    s->masks = s->sinks ? malloc(sizeof(float) * max_rows * (size_t)c->hidden) : NULL;
    s->ce_scale = malloc(sizeof(float) * max_rows);
    s->kl_scale = malloc(sizeof(float) * max_rows);
    s->dact = meth->acts ? malloc(sizeof(float) * NT * C) : NULL;
    s->nll = malloc(sizeof(double) * max_rows);
    s->ref_nll = malloc(sizeof(double) * max_rows);
    s->ntgt = malloc(sizeof(int) * max_rows);
    s->rowlen = malloc(sizeof(int) * max_rows);
    s->scored_from = malloc(sizeof(int) * max_rows);
    if (meth->acts) {
        /* blocks above the layer, the final norm and the head: no gradient */
        char name[64];
        snprintf(name, sizeof name, "blk.%d.attn_norm.weight", s->layer + 1);
        if (s->layer + 1 >= c->n_layers)
            snprintf(name, sizeof name, "output_norm.weight");
        const train_tensor *t = train_model_tensor(m, name);
        s->frozen_from = t ? t->offset : m->n_params;
        s->frozen = malloc(sizeof(float) * (m->n_params - s->frozen_from + 1));
    } else {
        s->frozen_from = m->n_params;
    }
    if (!s->u || !s->tokens || !s->targets || (s->sinks && !s->masks) || !s->ce_scale ||
        !s->kl_scale || (meth->acts && (!s->dact || !s->frozen)) || !s->nll || !s->ref_nll ||
        !s->ntgt || !s->rowlen || !s->scored_from) {
        posthoc_state_free(s);
        return err_set(e, CAPE_EFAIL, "out of memory for the unlearning batch");
    }
    /* open-unlearning's control vector: torch.rand (uniform [0, 1)) per
     * channel, normalised */
    rng_mt r;
    rng_seed(&r, (uint32_t)(seed ^ (seed >> 32)));
    for (size_t i = 0; i < C; i++)
        s->u[i] = (float)rng_double(&r);
    posthoc_set_direction(s, s->u);
    return 0;
}

/* ---- one micro-batch ----------------------------------------------------- */

static int width(const posthoc_state *s, const posthoc_item *it)
{
    int len = it->len < s->T ? it->len : s->T;
    return len > s->Tb ? len : s->Tb;
}

static void put_row(posthoc_state *s, int row, const posthoc_item *it)
{
    int T = s->Tb;
    int *tok = s->tokens + (size_t)row * T, *tgt = s->targets + (size_t)row * T;
    int len = it->len < T ? it->len : T;
    for (int t = 0; t < T; t++) {
        tok[t] = t < len ? it->tokens[t] : 0;
        tgt[t] = t + 1 < len && t + 1 >= it->scored_from ? it->tokens[t + 1] : -1;
    }
    s->rowlen[row] = len;
    s->scored_from[row] = it->scored_from < len ? it->scored_from : len;
    float *mask = s->sinks ? s->masks + (size_t)row * s->m->cfg.hidden : NULL;
    if (mask && it->source) /* its own sinks, as in training */
        sink_mask_source_excluding(&s->sinks->layout, it->source, s->sinks->off, s->sinks->n_off,
                                   mask);
    else if (mask) /* an author the model has no sinks for */
        sink_mask_backbone(&s->sinks->layout, mask);
}

static void row_nll(const train_model *m, const int *targets, int row, int T, double *nll,
                    int *n)
{
    *nll = crossentropy_forward(NULL, m->logits + (size_t)row * T * m->cfg.vocab,
                                targets + (size_t)row * T, T, m->cfg.vocab, n);
}

int posthoc_batch_grad(posthoc_state *s, const posthoc_item *const *forget,
                       const posthoc_item *const *idk, int nf, const posthoc_item *const *retain,
                       int nr, float scale, posthoc_batch_stats *st, cape_err *e)
{
    const posthoc_method *meth = s->method;
    int ni = meth->needs_idk ? nf : 0;
    int n = nf + ni + nr, V = s->m->cfg.vocab, C = s->m->cfg.dim;
    if (n > s->max_rows || nf < 1 || (ni && !idk))
        return err_set(e, CAPE_EFAIL, "posthoc: a batch of %d rows (at most %d)", n, s->max_rows);
    /* rows as wide as the batch's longest item: less padding to compute */
    s->Tb = 1;
    for (int i = 0; i < nf; i++)
        s->Tb = width(s, forget[i]);
    for (int i = 0; i < ni; i++)
        s->Tb = width(s, idk[i]);
    for (int i = 0; i < nr; i++)
        s->Tb = width(s, retain[i]);
    int T = s->Tb;
    for (int i = 0; i < nf; i++)
        put_row(s, i, forget[i]);
    for (int i = 0; i < ni; i++)
        put_row(s, nf + i, idk[i]);
    for (int i = 0; i < nr; i++)
        put_row(s, nf + ni + i, retain[i]);
    const float *masks = s->sinks ? s->masks : NULL;
    int need_ref = meth->needs_ref || s->h.retain_kl;
    if (need_ref) {
        train_forward(s->ref, s->tokens, NULL, masks, NULL, n, T, NULL);
        for (int r = 0; r < n; r++) {
            int k;
            row_nll(s->ref, s->targets, r, T, &s->ref_nll[r], &k);
        }
    }
    train_forward(s->m, s->tokens, NULL, masks, NULL, n, T, NULL);
    for (int r = 0; r < n; r++) {
        row_nll(s->m, s->targets, r, T, &s->nll[r], &s->ntgt[r]);
        if (!s->ntgt[r])
            return err_set(e, CAPE_EFAIL, "posthoc: a batch row has no answer token");
        s->ce_scale[r] = 0.0f;
        s->kl_scale[r] = 0.0f;
    }
    if (s->dact)
        memset(s->dact, 0, sizeof(float) * (size_t)n * T * C);
    posthoc_batch b = {s, nf, ni, nr, n, s->nll, s->ref_nll, s->ntgt, s->rowlen, s->scored_from,
                       s->ce_scale, s->kl_scale, 0, 0, 0};
    double loss = meth->loss(&b);
    if (!isfinite(loss))
        return err_set(e, CAPE_EFAIL, "the %s loss became %g; lower --lr", meth->name, loss);
    int cnt;
    double fm = token_mean(&b, 0, nf, &cnt), rm = nr ? token_mean(&b, nf + ni, n, &cnt) : NAN;
    if (st) {
        st->loss = loss;
        st->forget_nll = fm;
        st->retain_nll = rm;
    }
    /* d loss / d logits, row by row */
    int head = 0;
    for (int r = 0; r < n; r++) {
        float *lg = s->m->logits + (size_t)r * T * V;
        if (s->kl_scale[r] != 0.0f) {
            head = 1;
            for (int t = 0; t < T; t++) {
                size_t off = (size_t)t * V;
                if (t < s->rowlen[r])
                    kl_grad_position(lg + off, s->ref->logits + (size_t)r * T * V + off, V,
                                     (double)s->kl_scale[r] * scale);
                else
                    memset(lg + off, 0, sizeof(float) * V);
            }
        } else if (s->ce_scale[r] != 0.0f) {
            head = 1;
            crossentropy_backward(lg, s->targets + (size_t)r * T, T, V, s->ce_scale[r] * scale);
        } else {
            memset(lg, 0, sizeof(float) * (size_t)T * V);
        }
    }
    if (b.use_dact && scale != 1.0f)
        for (size_t i = 0; i < (size_t)n * T * C; i++)
            s->dact[i] *= scale;
    train_backward_from(s->m, s->tokens, masks, NULL, n, T, head, s->layer,
                        b.use_dact ? s->dact : NULL);
    return 0;
}

double posthoc_apply(posthoc_state *s, adamw_state *opt, const adamw_hparams *h, float lr,
                     double clip)
{
    train_model *m = s->m;
    size_t nfz = m->n_params - s->frozen_from;
    if (nfz)
        memcpy(s->frozen, m->params + s->frozen_from, sizeof(float) * nfz);
    train_model_drop_frozen_grads(m);
    double norm = train_grad_norm(m);
    adamw_step_scaled(opt, m, lr, h, train_clip_coef(norm, clip));
    if (nfz)
        memcpy(m->params + s->frozen_from, s->frozen, sizeof(float) * nfz);
    return norm;
}

/* ---- the whole run ------------------------------------------------------- */

#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/file.h"
#include "train/train_ckpt.h"
#include "train/train_data.h"
#include "train/train_loop.h"
#include "train/train_tok.h"

void posthoc_opts_defaults(posthoc_opts *o)
{
    memset(o, 0, sizeof *o);
    o->lr = 1e-5;
    o->epochs = 10;
    o->batch = 8;
    o->accum = 4;
    o->weight_decay = 0.01;
    o->clip = 1.0;
    o->h.layer = -1;
    o->seed = 0;
    o->eval_retain = 400;
}

void posthoc_result_free(posthoc_result *r)
{
    free(r->forget_loss);
    free(r->retain_loss);
    free(r->train_loss);
    memset(r, 0, sizeof *r);
}

static uint64_t mix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

/* "forget05" -> 5 */
static int split_pct(const char *s, const char *kind, const int *allowed, int n_allowed)
{
    size_t k = strlen(kind);
    if (!s || strncmp(s, kind, k) || strlen(s) != k + 2)
        return -1;
    int v = (s[k] - '0') * 10 + (s[k + 1] - '0');
    for (int i = 0; i < n_allowed; i++)
        if (v == allowed[i] && s[k] >= '0' && s[k] <= '9' && s[k + 1] >= '0' && s[k + 1] <= '9')
            return v;
    return -1;
}

typedef struct {
    posthoc_item *v;
    int n, cap;
} item_list;

static void items_free(item_list *l)
{
    for (int i = 0; i < l->n; i++)
        free(l->v[i].tokens);
    free(l->v);
    memset(l, 0, sizeof *l);
}

/* start "Question: Q\nAnswer: A" end, the answer (and end) scored; at most
 * ctx positions. *kept = 0 when no answer token fits. */
int posthoc_item_build(const train_tokenizer *tk, const char *question, const char *answer,
                      uint32_t source, int ctx, posthoc_item *it, int *kept, cape_err *e)
{
    char *text = train_tofu_render(question, answer);
    char *prefix = text ? strdup(text) : NULL;
    int *ids = malloc(sizeof(int)), *pre = NULL;
    size_t nt = 1, cap = 1, np = 0, pcap = 0;
    int rc = 0;
    *kept = 0;
    if (!text || !prefix || !ids) {
        rc = err_set(e, CAPE_EFAIL, "out of memory");
        goto out;
    }
    ids[0] = tk->start;
    char *ans = strstr(prefix, "\nAnswer:");
    ans[strlen("\nAnswer:")] = 0;
    if ((rc = train_tokenizer_encode(tk, text, &ids, &nt, &cap, e)) ||
        (rc = train_tokenizer_encode(tk, prefix, &pre, &np, &pcap, e)))
        goto out;
    int *nb = realloc(ids, sizeof(int) * (nt + 1));
    if (!nb) {
        rc = err_set(e, CAPE_EFAIL, "out of memory");
        goto out;
    }
    ids = nb;
    ids[nt++] = tk->end;
    int len = (int)(nt < (size_t)ctx ? nt : (size_t)ctx);
    int from = (int)np + 1;
    if (from >= len)
        goto out; /* no answer target within the context */
    it->tokens = ids;
    ids = NULL;
    it->len = len;
    it->scored_from = from;
    it->source = source;
    *kept = 1;
out:
    free(text);
    free(prefix);
    free(ids);
    free(pre);
    return rc;
}

static int items_add(item_list *l, const posthoc_item *it)
{
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 256;
        posthoc_item *nv = realloc(l->v, sizeof *nv * cap);
        if (!nv)
            return -1;
        l->v = nv;
        l->cap = cap;
    }
    l->v[l->n++] = *it;
    return 0;
}

/* Splits a rendered TOFU document back into question and answer. */
static int doc_qa(const char *doc, char **q, char **a)
{
    const char *qs = strncmp(doc, "Question: ", 10) ? doc : doc + 10;
    const char *as = strstr(qs, "\nAnswer: ");
    if (!as)
        return -1;
    *q = strndup(qs, (size_t)(as - qs));
    *a = strdup(as + 9);
    return *q && *a ? 0 : -1;
}

void posthoc_refusals_free(char **v, int n)
{
    for (int i = 0; v && i < n; i++)
        free(v[i]);
    free(v);
}

int posthoc_refusals_parse(const char *buf, size_t len, const char *what, char ***out, int *n,
                           cape_err *e)
{
    char **v = NULL;
    int k = 0, rc = 0, line = 0;
    *out = NULL;
    *n = 0;
    for (const char *p = buf, *end = buf + len; p < end && !rc; line++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t m = nl ? (size_t)(nl - p) : (size_t)(end - p);
        const char *next = nl ? nl + 1 : end;
        while (m && (p[m - 1] == '\r' || p[m - 1] == ' ' || p[m - 1] == '\t'))
            m--;
        while (m && (*p == ' ' || *p == '\t'))
            p++, m--;
        if (m) {
            char *s = NULL;
            if (memchr(p, 0, m)) {
                rc = err_set(e, CAPE_EINPUT, "%s:%d: a NUL byte in a refusal", what, line + 1);
                break;
            }
            if (*p == '"') {
                json_error_t je;
                json_t *j = json_loadb(p, m, JSON_DECODE_ANY, &je);
                if (!json_is_string(j) || !json_string_length(j) ||
                    strlen(json_string_value(j)) != json_string_length(j)) {
                    json_decref(j);
                    rc = err_set(e, CAPE_EINPUT, "%s:%d: a line that starts with '\"' must be "
                                 "one non-empty JSON string without NUL", what, line + 1);
                    break;
                }
                s = strdup(json_string_value(j));
                json_decref(j);
            } else {
                s = strndup(p, m);
            }
            char **nv = realloc(v, sizeof *nv * (k + 1));
            if (!s || !nv) {
                free(s);
                if (nv)
                    v = nv;
                rc = err_set(e, CAPE_EFAIL, "out of memory");
                break;
            }
            v = nv;
            v[k++] = s;
        }
        p = next;
    }
    if (!rc && !k)
        rc = err_set(e, CAPE_EINPUT, "%s: no refusal strings", what);
    if (rc) {
        posthoc_refusals_free(v, k);
        return rc;
    }
    *out = v;
    *n = k;
    return 0;
}

/* Refusals: TOFU's idontknow.jsonl in the TOFU directory. */
static int load_idk(const char *dir, char ***out, int *n, cape_err *e)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/idontknow.jsonl", dir);
    size_t len;
    char *buf = file_read_all(path, &len, e);
    if (!buf)
        return e->code ? e->code : CAPE_EINPUT;
    int rc = posthoc_refusals_parse(buf, len, path, out, n, e);
    free(buf);
    return rc;
}

typedef struct {
    const posthoc_opts *o;
    const posthoc_method *meth;
    ckpt_file src;
    train_config cfg;
    sink_model sinks;
    train_tokenizer tk;
    train_model m, ref;
    posthoc_state st;
    item_list forget, retain, evret;
    char **idk;
    int n_idk;
    char **fq; /* forget questions (for the refusal items) */
    int B, accum, T, max_rows;
    long spe, total, warmup;
    uint64_t hash;
    char ckdir[4096];
} run_ctx;

static int eval_loss(run_ctx *c, const item_list *l, double *out)
{
    posthoc_state *s = &c->st;
    int R = s->max_rows;
    double sum = 0;
    int n = 0;
    for (int i0 = 0; i0 < l->n; i0 += R) {
        int k = l->n - i0 < R ? l->n - i0 : R;
        s->Tb = 1;
        for (int r = 0; r < k; r++)
            s->Tb = width(s, &l->v[i0 + r]);
        int T = s->Tb;
        for (int r = 0; r < k; r++)
            put_row(s, r, &l->v[i0 + r]);
        train_forward(s->m, s->tokens, NULL, s->sinks ? s->masks : NULL, NULL, k, T, NULL);
        for (int r = 0; r < k; r++) {
            double nll;
            int cnt;
            row_nll(s->m, s->targets, r, T, &nll, &cnt);
            if (cnt) {
                sum += nll / cnt;
                n++;
            }
        }
    }
    *out = n ? sum / n : NAN;
    return 0;
}

static int build_model_file(run_ctx *c, long step, const posthoc_result *r, int final,
                            double partial, ckpt_file *f)
{
    const posthoc_opts *o = c->o;
    int rc = 0;
    for (int64_t i = 0; i < gguf_n_kv(c->src.r) && !rc; i++)
        rc |= ckpt_copy_kv(f, gguf_kv_at(c->src.r, i));
    rc |= train_model_to_ckpt(&c->m, f);
    rc |= ckpt_set_str(f, "cape.unlearn.method", c->meth->name);
    rc |= ckpt_set_str(f, "cape.unlearn.forget", o->forget);
    rc |= ckpt_set_str(f, "cape.unlearn.retain", o->retain ? o->retain : "complement");
    rc |= ckpt_set_f32(f, "cape.unlearn.lr", (float)o->lr);
    rc |= ckpt_set_u32(f, "cape.unlearn.epochs", (uint32_t)o->epochs);
    rc |= ckpt_set_u64(f, "cape.unlearn.step", (uint64_t)step);
    rc |= ckpt_set_f32(f, "cape.unlearn.beta", (float)c->st.h.beta);
    rc |= ckpt_set_f32(f, "cape.unlearn.alpha", (float)c->st.h.alpha);
    rc |= ckpt_set_f32(f, "cape.unlearn.gamma", (float)c->st.h.gamma);
    if (c->meth->acts) {
        rc |= ckpt_set_u32(f, "cape.unlearn.layer", (uint32_t)c->st.layer);
        rc |= ckpt_set_f32(f, "cape.unlearn.steering", (float)c->st.h.steering);
    }
    if (!final) {
        /* what a resumed run reports for the epochs already done (f64) */
        int ne = r->epochs;
        double *v = malloc(sizeof(double) * 3 * (ne ? ne : 1));
        if (!v)
            return -1;
        for (int i = 0; i < ne; i++) {
            v[i] = r->forget_loss[i];
            v[ne + i] = r->retain_loss[i];
            v[2 * ne + i] = r->train_loss[i];
        }
        rc |= ckpt_set_u64(f, "cape.unlearn.hash", c->hash); /* creates the writer */
        rc |= !f->w || gguf_writer_set_arr(f->w, "cape.unlearn.epoch_losses", GGUF_FLOAT64, v,
                                           (size_t)3 * ne);
        free(v);
        rc |= !f->w || gguf_writer_set_f64(f->w, "cape.unlearn.epoch_partial", partial);
    }
    return rc;
}

static void remove_checkpoints(const char *dir, long except)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d))) {
        long s;
        char tail[16];
        if (sscanf(de->d_name, "ckpt-%8ld.%15s", &s, tail) == 2 && s != except &&
            (!strcmp(tail, "gguf") || !strcmp(tail, "opt"))) {
            char p[8192];
            snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
            unlink(p);
        }
    }
    closedir(d);
}

static int checkpoint(run_ctx *c, const adamw_state *opt, long step, const posthoc_result *r,
                      double partial, cape_err *e)
{
    if (mkdir(c->ckdir, 0777) && errno != EEXIST)
        return err_set(e, CAPE_EINPUT, "%s: cannot create the checkpoint directory: %s",
                       c->ckdir, strerror(errno));
    char g[8192], p[8192];
    snprintf(p, sizeof p, "%s/ckpt-%08ld.opt", c->ckdir, step);
    snprintf(g, sizeof g, "%s/ckpt-%08ld.gguf", c->ckdir, step);
    int rc = train_opt_save(p, opt, step, c->hash, e);
    if (rc)
        return rc;
    ckpt_file f = {0};
    if (build_model_file(c, step, r, 0, partial, &f))
        rc = err_set(e, CAPE_EFAIL, "out of memory building the checkpoint");
    else
        rc = ckpt_write(&f, g, e);
    ckpt_free(&f);
    if (!rc)
        remove_checkpoints(c->ckdir, step);
    return rc;
}

static int result_grow(posthoc_result *r, int epochs)
{
    r->forget_loss = calloc(epochs + 1, sizeof(double));
    r->retain_loss = calloc(epochs + 1, sizeof(double));
    r->train_loss = calloc(epochs + 1, sizeof(double));
    return r->forget_loss && r->retain_loss && r->train_loss ? 0 : -1;
}

static int resume(run_ctx *c, adamw_state *opt, long *start, posthoc_result *r,
                  double *partial, cape_err *e)
{
    char g[4096], p[4096];
    long step;
    if (train_find_checkpoint(c->ckdir, &step, g, p, sizeof g))
        return err_set(e, CAPE_EINPUT, "--resume: no checkpoint in %s", c->ckdir);
    ckpt_file f = {0};
    int rc = ckpt_read(&f, g, e);
    if (rc)
        return rc;
    uint64_t h;
    gguf_arr a;
    if (ckpt_get_u64(&f, "cape.unlearn.hash", &h) || h != c->hash)
        rc = err_set(e, CAPE_EINPUT, "%s: was written for another model, method, data or "
                     "settings; resume with the same ones", g);
    if (!rc)
        rc = train_model_load_params(&c->m, &f, g, e);
    if (!rc && (!gguf_get_arr(f.r, "cape.unlearn.epoch_losses", &a) || a.type != GGUF_FLOAT64 ||
                a.n % 3 || a.n / 3 > (uint64_t)c->o->epochs + 1))
        rc = err_set(e, CAPE_EINPUT, "%s: cape.unlearn.epoch_losses is missing or malformed", g);
    if (!rc) {
        int ne = (int)(a.n / 3);
        const uint8_t *v = a.data; /* packed, maybe unaligned */
        for (int i = 0; i < ne; i++) {
            memcpy(&r->forget_loss[i], v + 8 * i, sizeof(double));
            memcpy(&r->retain_loss[i], v + 8 * (ne + i), sizeof(double));
            memcpy(&r->train_loss[i], v + 8 * (2 * ne + i), sizeof(double));
        }
        r->epochs = ne;
        const gguf_kv *kv = gguf_find_kv(f.r, "cape.unlearn.epoch_partial");
        if (!kv || kv->type != GGUF_FLOAT64)
            rc = err_set(e, CAPE_EINPUT, "%s: cape.unlearn.epoch_partial is missing", g);
        else
            *partial = kv->v.f;
    }
    ckpt_free(&f);
    long ostep = 0;
    if (!rc)
        rc = train_opt_load(p, opt, &ostep, c->hash, e);
    if (!rc && ostep != step)
        rc = err_set(e, CAPE_EINPUT, "%s: its step does not match the model's", p);
    *start = step;
    return rc;
}

static int setup(run_ctx *c, posthoc_result *r, cape_err *e)
{
    const posthoc_opts *o = c->o;
    char buf[256];
    if (!(c->meth = posthoc_method_find(o->method ? o->method : "")))
        return err_set(e, CAPE_EINPUT, "unknown method '%s'; the methods are %s",
                       o->method ? o->method : "", posthoc_method_list(buf, sizeof buf));
    static const int fallowed[] = {1, 5, 10}, rallowed[] = {90, 95, 99};
    int fp = split_pct(o->forget, "forget", fallowed, 3);
    if (fp < 0)
        return err_set(e, CAPE_EINPUT, "--forget: '%s' is not forget01, forget05 or forget10",
                       o->forget ? o->forget : "");
    int rp = o->retain ? split_pct(o->retain, "retain", rallowed, 3) : 100 - fp;
    if (rp < 0)
        return err_set(e, CAPE_EINPUT, "--retain-split: '%s' is not retain90, retain95 or "
                       "retain99", o->retain);
    if (rp + fp > 100)
        return err_set(e, CAPE_EINPUT, "--retain-split %s overlaps %s (their authors must not "
                       "meet)", o->retain, o->forget);
    if (o->lr <= 0 || !(o->lr < 1) || o->epochs < 1 || o->batch < 1 || o->accum < 1)
        return err_set(e, CAPE_EINPUT, "lr, epochs, batch and accum must be positive (lr < 1)");
    if (file_check_output(o->out, e))
        return e->code;
    snprintf(c->ckdir, sizeof c->ckdir, "%s.ckpt", o->out);

    /* the model: written by cape train, an architecture it trains, F32 */
    int rc;
    if ((rc = ckpt_read(&c->src, o->model, e)) ||
        (rc = sink_model_require_cape(&c->src, o->model, e)) ||
        (rc = train_config_from_ckpt(&c->src, &c->cfg, o->model, e)) ||
        (rc = sink_model_read(&c->sinks, &c->src, c->cfg.hidden, o->model, e)) ||
        (rc = train_tokenizer_from_model(&c->tk, o->model, e)))
        return rc;

    /* hyperparameters: the method's defaults, then what was given */
    posthoc_hparams h = c->meth->defaults;
    if (o->set_beta)
        h.beta = o->h.beta;
    if (o->set_alpha)
        h.alpha = o->h.alpha;
    if (o->set_gamma)
        h.gamma = o->h.gamma;
    if (o->set_delta)
        h.delta = o->h.delta;
    if (o->set_steering)
        h.steering = o->h.steering;
    h.layer = o->h.layer;
    h.retain_kl = o->h.retain_kl;
    if (h.retain_kl && (!c->meth->needs_retain || c->meth->acts))
        return err_set(e, CAPE_EINPUT, "--retain-loss kl: %s has no NLL retain term to replace",
                       c->meth->name);
    if (!(h.beta > 0))
        return err_set(e, CAPE_EINPUT, "--beta must be positive");
    if (h.layer >= c->cfg.n_layers)
        return err_set(e, CAPE_EINPUT, "--layer: %d is out of range [0, %d] for a model of %d "
                       "blocks", h.layer, c->cfg.n_layers - 1, c->cfg.n_layers);

    /* the data */
    train_corpus corpus = {0};
    if ((rc = train_corpus_load_tofu(&corpus, o->tofu, e)))
        return rc;
    sink_sources authors = {0};
    uint32_t *aid = malloc(sizeof(uint32_t) * (corpus.n ? corpus.n : 1));
    if (!aid) {
        train_corpus_free(&corpus);
        return err_set(e, CAPE_EFAIL, "out of memory");
    }
    for (size_t d = 0; d < corpus.n; d++)
        aid[d] = sink_sources_id(&authors, corpus.docs[d].source, 1);
    int A = authors.n, nfa = (A * fp + 50) / 100, nra = (A * rp + 50) / 100;
    if (nfa < 1 || nra < 1 || nfa + nra > A)
        rc = err_set(e, CAPE_EINPUT, "%s: %d authors are too few for %s", o->tofu, A, o->forget);
    if (!rc && c->sinks.enabled) {
        for (int a = A - nfa; a < A && !rc; a++)
            if (!sink_sources_id(&c->sinks.sources, authors.names[a], 0)) {
                char have[384];
                rc = err_set(e, CAPE_EINPUT, "%s: %s names %s, which is not a source of the model "
                             "(it has %s)", o->model, o->forget, authors.names[a],
                             sink_sources_list(&c->sinks.sources, 6, have, sizeof have));
            }
    }
    int ctx = c->cfg.ctx, maxlen = 1, dropped = 0;
    for (size_t d = 0; d < corpus.n && !rc; d++) {
        int a = (int)aid[d] - 1, is_f = a >= A - nfa, is_r = a < nra;
        if (!is_f && !is_r)
            continue;
        char *q = NULL, *ans = NULL;
        if (doc_qa(corpus.docs[d].text, &q, &ans)) {
            free(q);
            free(ans);
            rc = err_set(e, CAPE_EFAIL, "out of memory");
            break;
        }
        uint32_t sid =
            c->sinks.enabled ? sink_sources_id(&c->sinks.sources, corpus.docs[d].source, 0) : 0;
        posthoc_item it = {0};
        int kept;
        rc = posthoc_item_build(&c->tk, q, ans, sid, ctx, &it, &kept, e);
        if (!rc && kept) {
            maxlen = it.len > maxlen ? it.len : maxlen;
            if (items_add(is_f ? &c->forget : &c->retain, &it)) {
                free(it.tokens);
                rc = err_set(e, CAPE_EFAIL, "out of memory");
            }
            if (!rc && is_f) {
                char **nq = realloc(c->fq, sizeof *nq * c->forget.n);
                if (!nq)
                    rc = err_set(e, CAPE_EFAIL, "out of memory");
                else
                    (c->fq = nq)[c->forget.n - 1] = q, q = NULL;
            }
        } else if (!rc) {
            dropped++;
        }
        free(q);
        free(ans);
    }
    free(aid);
    sink_sources_free(&authors);
    train_corpus_free(&corpus);
    if (rc)
        return rc;
    if (c->forget.n == 0 || (c->meth->needs_retain && c->retain.n == 0))
        return err_set(e, CAPE_EINPUT, "%s: no %s item has an answer token within the model's "
                       "context of %d tokens", o->tofu, c->forget.n ? "retain" : "forget", ctx);
    r->n_skipped = dropped;
    if (c->meth->needs_idk) {
        if ((rc = load_idk(o->tofu, &c->idk, &c->n_idk, e)))
            return rc;
        maxlen = ctx; /* refusals are tokenised as the batches need them */
    }
    /* the retain items evaluated after each epoch: evenly spaced */
    int ne = o->eval_retain < c->retain.n ? o->eval_retain : c->retain.n;
    for (int k = 0; k < ne; k++) {
        posthoc_item it = c->retain.v[(long)k * c->retain.n / ne];
        it.tokens = malloc(sizeof(int) * it.len);
        if (!it.tokens || items_add(&c->evret, &it)) {
            free(it.tokens);
            return err_set(e, CAPE_EFAIL, "out of memory");
        }
        memcpy(it.tokens, c->retain.v[(long)k * c->retain.n / ne].tokens, sizeof(int) * it.len);
    }

    /* models */
    c->B = o->batch;
    c->accum = o->accum;
    c->T = maxlen;
    c->max_rows = c->B * (1 + c->meth->needs_idk + c->meth->needs_retain);
    int need_ref = c->meth->needs_ref || h.retain_kl;
    if ((rc = train_model_build(&c->m, &c->cfg, e)) ||
        (rc = train_model_load_params(&c->m, &c->src, o->model, e)) ||
        (rc = train_model_alloc_acts(&c->m, c->max_rows, c->T, e)))
        return rc;
    if (need_ref && ((rc = train_model_build(&c->ref, &c->cfg, e)) ||
                     (rc = train_model_load_params(&c->ref, &c->src, o->model, e)) ||
                     (rc = train_model_alloc_acts(&c->ref, c->max_rows, c->T, e))))
        return rc;
    if ((rc = posthoc_state_init(&c->st, c->meth, &h, &c->m, need_ref ? &c->ref : NULL,
                                 &c->sinks, c->max_rows, o->seed, e)))
        return rc;
    long per = (long)c->B * c->accum;
    c->spe = (c->forget.n + per - 1) / per;
    c->total = c->spe * o->epochs;
    c->warmup = c->forget.n / per; /* one epoch of warm-up, open-unlearning's int(n // batch) */

    /* what a resume must match */
    uint64_t hh = fnv(0xcbf29ce484222325ull, c->meth->name, strlen(c->meth->name));
    double hv[] = {o->lr, o->weight_decay, o->clip, h.beta, h.alpha, h.gamma, h.delta,
                   h.steering};
    int iv[] = {o->epochs, o->batch, o->accum, c->st.layer, h.retain_kl, fp, rp, o->eval_retain,
                c->T};
    hh = fnv(hh, hv, sizeof hv);
    hh = fnv(hh, iv, sizeof iv);
    hh = fnv(hh, &o->seed, sizeof o->seed);
    hh = fnv(hh, c->m.params, sizeof(float) * c->m.n_params);
    for (int i = 0; i < c->forget.n; i++)
        hh = fnv(hh, c->forget.v[i].tokens, sizeof(int) * c->forget.v[i].len);
    for (int i = 0; i < c->retain.n; i++)
        hh = fnv(hh, c->retain.v[i].tokens, sizeof(int) * c->retain.v[i].len);
    c->hash = hh >> 1; /* GGUF integer getters stop at INT64_MAX */
    r->steps = c->total;
    r->n_forget = c->forget.n;
    r->n_retain = c->retain.n;
    r->layer = c->st.layer;
    r->h = h;
    return result_grow(r, o->epochs) ? err_set(e, CAPE_EFAIL, "out of memory") : 0;
}

static void run_free(run_ctx *c)
{
    posthoc_state_free(&c->st);
    train_model_free(&c->m);
    train_model_free(&c->ref);
    for (int i = 0; c->fq && i < c->forget.n; i++)
        free(c->fq[i]);
    free(c->fq);
    items_free(&c->forget);
    items_free(&c->retain);
    items_free(&c->evret);
    posthoc_refusals_free(c->idk, c->n_idk);
    train_tokenizer_free(&c->tk);
    sink_model_free(&c->sinks);
    ckpt_free(&c->src);
}

static int one_step(run_ctx *c, long step, int *perm, long *perm_epoch, posthoc_item *idk_items,
                    double *loss_out, cape_err *e)
{
    const posthoc_opts *o = c->o;
    long epoch = step / c->spe, k = step % c->spe;
    int nF = c->forget.n, B = c->B;
    if (*perm_epoch != epoch) {
        rng_mt r;
        rng_seed(&r, (uint32_t)(o->seed + (uint64_t)epoch));
        for (int i = 0; i < nF; i++)
            perm[i] = i;
        rng_shuffle_int(&r, perm, nF);
        *perm_epoch = epoch;
    }
    int nm = 0;
    for (int j = 0; j < c->accum; j++)
        nm += (k * c->accum + j) * B < nF;
    const posthoc_item *fr[B], *ir[B], *rr[B];
    double loss = 0;
    int rc = 0;
    for (int j = 0; j < c->accum && !rc; j++) {
        long at = (k * c->accum + j) * B;
        if (at >= nF)
            break;
        int n = nF - at < B ? (int)(nF - at) : B;
        for (int i = 0; i < n; i++) {
            long p = at + i;
            int fi = perm[p];
            fr[i] = &c->forget.v[fi];
            uint64_t key = mix64(o->seed ^ mix64((uint64_t)epoch * 0x100000001ull + (uint64_t)p));
            if (c->meth->needs_retain)
                rr[i] = &c->retain.v[key % (uint64_t)c->retain.n];
            if (c->meth->needs_idk) {
                const char *refusal = c->idk[mix64(key) % (uint64_t)c->n_idk];
                int kept;
                free(idk_items[i].tokens);
                memset(&idk_items[i], 0, sizeof idk_items[i]);
                if ((rc = posthoc_item_build(&c->tk, c->fq[fi], refusal, fr[i]->source, c->T,
                                     &idk_items[i], &kept, e)))
                    return rc;
                if (!kept)
                    return err_set(e, CAPE_EINPUT, "a refusal does not fit in the model's context "
                                   "of %d tokens after its question", c->T);
                ir[i] = &idk_items[i];
            }
        }
        posthoc_batch_stats st;
        rc = posthoc_batch_grad(&c->st, fr, ir, n, rr, c->meth->needs_retain ? n : 0,
                                1.0f / nm, &st, e);
        loss += st.loss / nm;
    }
    *loss_out = loss;
    return rc;
}

int posthoc_run(const posthoc_opts *o, posthoc_result *r, cape_err *e)
{
    run_ctx c = {0};
    c.o = o;
    memset(r, 0, sizeof *r);
    adamw_state opt = {0};
    int *perm = NULL, rc;
    posthoc_item *idk_items = NULL;
    if ((rc = setup(&c, r, e)))
        goto out;
    if ((rc = adamw_init(&opt, c.m.n_params, e)))
        goto out;
    adamw_hparams ah = {0.9f, 0.999f, 1e-8f, (float)o->weight_decay};
    long start = 0;
    double epoch_loss = 0;
    if (o->resume) {
        if ((rc = resume(&c, &opt, &start, r, &epoch_loss, e)))
            goto out;
    } else {
        long s;
        char g[4096], p[4096];
        if (!train_find_checkpoint(c.ckdir, &s, g, p, sizeof g)) {
            rc = err_set(e, CAPE_EINPUT, "%s holds a checkpoint of an earlier run: continue it "
                         "with --resume, or remove it", c.ckdir);
            goto out;
        }
        eval_loss(&c, &c.forget, &r->forget_loss[0]);
        eval_loss(&c, &c.evret, &r->retain_loss[0]);
        r->train_loss[0] = NAN;
        r->epochs = 1;
        if (o->on_epoch)
            o->on_epoch(o->epoch_ctx, 0, r->forget_loss[0], r->retain_loss[0]);
    }
    r->start_step = start;
    perm = malloc(sizeof(int) * c.forget.n);
    idk_items = calloc(c.B, sizeof *idk_items);
    if (!perm || !idk_items) {
        rc = err_set(e, CAPE_EFAIL, "out of memory");
        goto out;
    }
    long perm_epoch = -1;
    for (long step = start; step < c.total; step++) {
        train_zero_grads(&c.m);
        double loss = 0;
        if ((rc = one_step(&c, step, perm, &perm_epoch, idk_items, &loss, e)))
            goto out;
        float lr = posthoc_lr_at(step, c.warmup, c.total, (float)o->lr);
        posthoc_apply(&c.st, &opt, &ah, lr, o->clip);
        epoch_loss += loss;
        r->done_steps = step + 1;
        if ((step + 1) % c.spe == 0) {
            int ep = (int)((step + 1) / c.spe);
            eval_loss(&c, &c.forget, &r->forget_loss[ep]);
            eval_loss(&c, &c.evret, &r->retain_loss[ep]);
            r->train_loss[ep] = epoch_loss / c.spe;
            r->epochs = ep + 1;
            epoch_loss = 0;
            if (o->on_epoch)
                o->on_epoch(o->epoch_ctx, ep, r->forget_loss[ep], r->retain_loss[ep]);
        }
        int last = step + 1 == c.total;
        int stop = (o->stop && *o->stop) || (o->stop_after > 0 && step + 1 == o->stop_after);
        int every = o->ckpt_every > 0 ? (step + 1) % o->ckpt_every == 0 : (step + 1) % c.spe == 0;
        if (!last && (stop || every) && (rc = checkpoint(&c, &opt, step + 1, r, epoch_loss, e)))
            goto out;
        if (stop && !last) {
            r->stopped = 1;
            goto out;
        }
    }
    ckpt_file f = {0};
    if (build_model_file(&c, c.total, r, 1, 0.0, &f))
        rc = err_set(e, CAPE_EFAIL, "out of memory building %s", o->out);
    else
        rc = ckpt_write(&f, o->out, e);
    ckpt_free(&f);
    if (!rc) {
        remove_checkpoints(c.ckdir, -1);
        rmdir(c.ckdir);
    }
out:
    for (int i = 0; idk_items && i < c.B; i++)
        free(idk_items[i].tokens);
    free(idk_items);
    free(perm);
    adamw_free(&opt);
    run_free(&c);
    return rc;
}
