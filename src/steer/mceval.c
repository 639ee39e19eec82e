#include "steer/mceval.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/rng.h"
#include "model/score.h"
#include "stats/stats.h"

enum { MCEVAL_MAX_ANSWERS = 32 };

typedef struct {
    steer_hook *h;
    int last_only;
    int *from_seq; /* [n_seq] per sequence of a batched session */
} before_ctx;

/* From the last context token on: the answer is scored as if generated. */
static void set_from_pos(void *user, int item, int ctx_tokens)
{
    (void)item;
    before_ctx *b = user;
    b->h->add_from_pos = b->last_only ? ctx_tokens - 1 : 0;
}

static void set_from_pos_seq(void *user, int item, int seq, int ctx_tokens)
{
    (void)item;
    before_ctx *b = user;
    b->from_seq[seq] = b->last_only ? ctx_tokens - 1 : 0;
}

/* Scores the questions order[q0..q1) in one pass of score_items, so that the
 * shared primer is evaluated once per group rather than once per question
 * (the KV cache keeps the common prefix). Valid under steering because every
 * item of the group is steered alike before its last context token. */
static int score_group(model_session *ses, const model *m, const tqa_set *s, const int *idx,
                       int q0, int q1, steer_hook *h, const steer_cfg *c, mceval_run *out,
                       cape_err *e)
{
    int n = 0;
    for (int q = q0; q < q1; q++) {
        const tqa_item *it = &s->item[idx ? idx[q] : q];
        n += it->ntrue + it->nfalse;
    }
    score_item *items = calloc((size_t)n, sizeof *items);
    score_result *res = malloc((size_t)n * sizeof *res);
    char **conts = calloc((size_t)n, sizeof *conts), **ctxs = calloc((size_t)(q1 - q0), sizeof *ctxs);
    int rc = 0, k = 0;
    if (!items || !res || !conts || !ctxs) {
        rc = err_set(e, CAPE_EFAIL, "out of memory");
        goto done;
    }
    for (int q = q0; q < q1; q++) {
        const tqa_item *it = &s->item[idx ? idx[q] : q];
        if (!(ctxs[q - q0] = tqa_context(it))) {
            rc = err_set(e, CAPE_EFAIL, "out of memory");
            goto done;
        }
        for (int a = 0; a < it->ntrue + it->nfalse; a++, k++) {
            const char *ans = a < it->ntrue ? it->true_ans[a] : it->false_ans[a - it->ntrue];
            if (asprintf(&conts[k], " %s", ans) < 0) {
                conts[k] = NULL;
                rc = err_set(e, CAPE_EFAIL, "out of memory");
                goto done;
            }
            items[k] = (score_item){ctxs[q - q0], conts[k]};
        }
    }
    before_ctx b = {h, c ? c->last_only : 0, NULL};
    int n_seq = model_session_n_seq(ses);
    if (n_seq > 1) {
        /* the items of the group spread over the session's sequences; the
         * hook steers each sequence from its own item's last context token */
        if (h && !(b.from_seq = calloc((size_t)n_seq, sizeof *b.from_seq))) {
            rc = err_set(e, CAPE_EFAIL, "out of memory");
            goto done;
        }
        if (h) {
            h->from_pos_seq = b.from_seq;
            h->n_from_seq = n_seq;
        }
        rc = score_items_par(ses, m, items, n, -1, h ? set_from_pos_seq : NULL, &b, res, e);
        if (h) {
            h->from_pos_seq = NULL;
            h->n_from_seq = 0;
        }
        free(b.from_seq);
        if (rc)
            goto done;
    } else if ((rc = score_items_cb(ses, m, items, n, -1, h ? set_from_pos : NULL, &b, res, e))) {
        goto done;
    }
    k = 0;
    for (int q = q0; q < q1; q++) {
        const tqa_item *it = &s->item[idx ? idx[q] : q];
        double lt[MCEVAL_MAX_ANSWERS], lf[MCEVAL_MAX_ANSWERS];
        for (int a = 0; a < it->ntrue; a++)
            lt[a] = res[k++].logprob;
        for (int a = 0; a < it->nfalse; a++)
            lf[a] = res[k++].logprob;
        tqa_score sc = tqa_score_item(it, lt, lf);
        out->mc1[q] = sc.mc1;
        out->mc2[q] = sc.mc2;
    }
done:
    for (int i = 0; conts && i < n; i++)
        free(conts[i]);
    for (int i = 0; ctxs && i < q1 - q0; i++)
        free(ctxs[i]);
    free(conts);
    free(ctxs);
    free(items);
    free(res);
    return rc;
}

int mceval_truthfulqa(model_session *ses, const model *m, const tqa_set *s, const int *idx, int n,
                      const steer_cfg *c, capture_progress_fn progress, void *progress_user,
                      mceval_run *out, cape_err *e)
{
    memset(out, 0, sizeof *out);
    const model_config *mc = model_cfg(m);
    out->n = n;
    out->mc1 = malloc((size_t)(n ? n : 1) * sizeof *out->mc1);
    out->mc2 = malloc((size_t)(n ? n : 1) * sizeof *out->mc2);
    int gated = c && c->gate;
    if (gated)
        out->gate_cos = malloc((size_t)(n ? n : 1) * sizeof *out->gate_cos);
    steer_plan plan = {0};
    steer_hook h;
    int rc = 0;
    if (!out->mc1 || !out->mc2 || (gated && !out->gate_cos)) {
        rc = err_set(e, CAPE_EFAIL, "out of memory");
        goto done;
    }
    for (int i = 0; i < n; i++) {
        const tqa_item *it = &s->item[idx ? idx[i] : i];
        if (it->ntrue > MCEVAL_MAX_ANSWERS || it->nfalse > MCEVAL_MAX_ANSWERS) {
            rc = err_set(e, CAPE_EINPUT, "line %d: more than %d answers", it->line,
                         MCEVAL_MAX_ANSWERS);
            goto done;
        }
    }
    if (c && (rc = steer_plan_make(c, mc, &plan, e)))
        goto done;
    if (c)
        steer_plan_hook(&plan, c, mc, 0, 1.0f, &h);
    /* a gate gives each question its own strength, so questions go one by one */
    int group = gated ? 1 : 16;
    for (int q0 = 0; q0 < n && !rc; q0 += group) {
        int q1 = q0 + group < n ? q0 + group : n;
        if (gated) {
            const tqa_item *it = &s->item[idx ? idx[q0] : q0];
            char *ctx = tqa_context(it);
            int *ids = NULL, len;
            float strength = 1.0f;
            double cosv = NAN;
            if (!ctx)
                rc = err_set(e, CAPE_EFAIL, "out of memory");
            else if (!(rc = capture_tokenize(m, ctx, -1, &ids, &len, e)))
                rc = steer_gate(ses, m, c, &plan, ids, len, &cosv, &strength, e);
            free(ids);
            free(ctx);
            out->gate_cos[q0] = cosv;
            h.scale = c->scale * strength;
        }
        if (c)
            model_session_set_hook(ses, steer_hook_fn, &h);
        if (!rc)
            rc = score_group(ses, m, s, idx, q0, q1, c ? &h : NULL, c, out, e);
        model_session_set_hook(ses, NULL, NULL);
        if (!rc && progress)
            progress(progress_user, q1, n);
    }
done:
    steer_plan_free(&plan);
    if (rc)
        mceval_free(out);
    return rc;
}

void mceval_free(mceval_run *r)
{
    free(r->mc1);
    free(r->mc2);
    free(r->gate_cos);
    memset(r, 0, sizeof *r);
}

enum { ST_MC1, ST_MC2, ST_DMC1, ST_DMC2, ST_FIXED, ST_BROKEN, ST_N };

/* The six statistics on the items listed in pick (or all when NULL). */
static void stats_on(const mceval_run *b, const mceval_run *r, const int *pick, int n,
                     double out[ST_N])
{
    double s1 = 0, s2 = 0, d1 = 0, d2 = 0;
    int wrong = 0, fixed = 0, right = 0, broken = 0;
    for (int k = 0; k < n; k++) {
        int i = pick ? pick[k] : k;
        s1 += r->mc1[i];
        s2 += r->mc2[i];
        d1 += r->mc1[i] - b->mc1[i];
        d2 += r->mc2[i] - b->mc2[i];
        if (b->mc1[i]) {
            right++;
            broken += !r->mc1[i];
        } else {
            wrong++;
            fixed += r->mc1[i];
        }
    }
    out[ST_MC1] = s1 / n;
    out[ST_MC2] = s2 / n;
    out[ST_DMC1] = d1 / n;
    out[ST_DMC2] = d2 / n;
    out[ST_FIXED] = wrong ? (double)fixed / wrong : NAN;
    out[ST_BROKEN] = right ? (double)broken / right : NAN;
}

void mceval_compare(const mceval_run *b, const mceval_run *r, int nboot, uint32_t seed,
                    mceval_cmp *o)
{
    memset(o, 0, sizeof *o);
    int n = r->n;
    o->n = n;
    if (n == 0)
        return;
    for (int i = 0; i < n; i++) {
        if (b->mc1[i]) {
            o->n_right++;
            o->n_broken += !r->mc1[i];
        } else {
            o->n_wrong++;
            o->n_fixed += r->mc1[i];
        }
    }
    double est[ST_N];
    stats_on(b, r, NULL, n, est);
    double *boot = malloc((size_t)ST_N * (nboot > 0 ? nboot : 1) * sizeof *boot);
    int *pick = malloc((size_t)n * sizeof *pick);
    int nb = boot && pick ? nboot : 0;
    rng_fast g;
    rng_fast_seed(&g, seed);
    int valid[ST_N] = {0};
    for (int k = 0; k < nb; k++) {
        for (int i = 0; i < n; i++)
            pick[i] = (int)rng_fast_below(&g, (uint32_t)n);
        double v[ST_N];
        stats_on(b, r, pick, n, v);
        for (int q = 0; q < ST_N; q++)
            if (isfinite(v[q]))
                boot[(size_t)q * nb + valid[q]++] = v[q];
    }
    mceval_ci *dst[ST_N] = {&o->mc1, &o->mc2, &o->d_mc1, &o->d_mc2, &o->fixed, &o->broken};
    for (int q = 0; q < ST_N; q++) {
        dst[q]->v = est[q];
        dst[q]->lo = dst[q]->hi = NAN;
        if (valid[q] > 1 && isfinite(est[q])) {
            double *col = boot + (size_t)q * nb;
            stats_sort(col, valid[q]);
            dst[q]->lo = stats_percentile_sorted(col, valid[q], 2.5);
            dst[q]->hi = stats_percentile_sorted(col, valid[q], 97.5);
        }
    }
    free(boot);
    free(pick);
}

static double select_score(const mceval_cmp *c, int mc1)
{
    return mc1 ? c->mc1.v + 1e-3 * c->mc2.v : c->mc2.v;
}

int mceval_sweep(model_session *ses, const model *m, const tqa_set *s, const int *dev, int ndev,
                 const mceval_run *base_dev, const mceval_sweep_opts *o, mceval_point *pts,
                 int *best, cape_err *e)
{
    int np = 0;
    *best = -1;
    for (int li = 0; li < o->nlayers; li++)
        for (int si = 0; si < o->nscales; si++) {
            steer_cfg c = *o->tmpl;
            c.scale = (float)o->scales[si];
            c.layer_lo = c.layer_hi = o->layers[li];
            c.gate_layer = -1;
            if (o->on_point)
                o->on_point(o->on_point_user, o->layers[li], o->scales[si]);
            mceval_run run;
            int rc = mceval_truthfulqa(ses, m, s, dev, ndev, &c, o->progress, o->progress_user,
                                       &run, e);
            if (rc)
                return rc;
            mceval_point *p = &pts[np];
            p->layer = o->layers[li];
            p->scale = o->scales[si];
            mceval_compare(base_dev, &run, o->nboot, o->seed, &p->dev);
            mceval_free(&run);
            if (*best < 0 ||
                select_score(&p->dev, o->select_mc1) > select_score(&pts[*best].dev, o->select_mc1))
                *best = np;
            np++;
        }
    return 0;
}

int mceval_random_cvec(const cvec *truth, uint32_t seed, cvec *out, cape_err *e)
{
    int rc = cvec_init(out, truth->n_slots, truth->n_embd, e);
    if (rc)
        return rc;
    int d = truth->n_embd;
    for (int l = 0; l < truth->n_slots; l++) {
        if (!truth->present[l])
            continue;
        const float *t = truth->v + (size_t)l * d;
        float *v = out->v + (size_t)l * d;
        double tn = 0, vn = 0;
        for (int j = 0; j < d; j++)
            tn += (double)t[j] * t[j];
        /* one stream per block: the seed and the block number, mixed */
        rng_mt g;
        rng_seed(&g, (uint32_t)((seed * 2654435761u) ^ (0x9E3779B9u * (uint32_t)(l + 1))));
        int has = 0;
        double saved = 0;
        for (int j = 0; j < d; j++) {
            double x = rng_gauss(&g, &has, &saved);
            v[j] = (float)x;
            vn += x * x;
        }
        double k = vn > 0 ? sqrt(tn / vn) : 0;
        for (int j = 0; j < d; j++)
            v[j] = (float)(v[j] * k);
        out->present[l] = 1;
    }
    if (truth->resid_norm) {
        out->resid_norm = malloc((size_t)truth->n_slots * sizeof *out->resid_norm);
        if (!out->resid_norm) {
            cvec_free(out);
            return err_set(e, CAPE_EFAIL, "out of memory");
        }
        memcpy(out->resid_norm, truth->resid_norm, (size_t)truth->n_slots * sizeof *out->resid_norm);
    }
    out->chosen = truth->chosen;
    snprintf(out->model_hint, sizeof out->model_hint, "%s", truth->model_hint);
    return 0;
}

mceval_verdict mceval_judge(const mceval_cmp *vs_base, const mceval_cmp *vs_random, int mc1)
{
    const mceval_ci *g = mc1 ? &vs_base->d_mc1 : &vs_base->d_mc2;
    const mceval_ci *r = mc1 ? &vs_random->d_mc1 : &vs_random->d_mc2;
    if (!(isfinite(g->lo) && g->lo > 0))
        return MCEVAL_NO_GAIN;
    if (!(isfinite(r->lo) && r->lo > 0))
        return MCEVAL_GAIN_NOT_BEYOND_RANDOM;
    return MCEVAL_GAIN_BEYOND_RANDOM;
}

const char *mceval_verdict_name(mceval_verdict v)
{
    switch (v) {
    case MCEVAL_GAIN_BEYOND_RANDOM: return "gain_beyond_random";
    case MCEVAL_GAIN_NOT_BEYOND_RANDOM: return "gain_not_beyond_random";
    default: return "no_gain";
    }
}
