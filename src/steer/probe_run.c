#include "steer/probe_run.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/npy.h"
#include "base/rng.h"
#include "stats/stats.h"

typedef struct {
    model_session *s;
    int L, d, hw, na, nrows;
    /* running sums, [2 sets][L][d] (heads: [2][L][hw]) */
    double *sum_raw, *sum_norm, *sum_gelu, *sum_head;
    float *normed; /* scratch [L][d] */
    /* reservoir for d_rep, [L][cap][d] */
    float *res;
    int cap, seen;
    rng_fast rng;
    npy_writer *npy_resid, *npy_heads; /* [L] each, or NULL */
    /* label shuffles: in_a[k][row] says whether row goes to the shuffled set A
     * in shuffle k; sums over those rows, [K][L][d] (heads [K][L][hw]) */
    int K;
    unsigned char *in_a;
    double *sh_raw, *sh_norm, *sh_gelu, *sh_head;
} prun_ctx;

static int on_row(void *user, int index, const capture_row *row, cape_err *e)
{
    prun_ctx *c = user;
    int set = index < c->na ? 0 : 1, L = c->L, d = c->d;
    model_final_norm(c->s, row->resid, L, c->normed);
    for (int l = 0; l < L; l++) {
        const float *x = row->resid + (size_t)l * d, *xn = c->normed + (size_t)l * d;
        double *sr = c->sum_raw + ((size_t)set * L + l) * d;
        double *sn = c->sum_norm + ((size_t)set * L + l) * d;
        double *sg = c->sum_gelu + ((size_t)set * L + l) * d;
        for (int j = 0; j < d; j++) {
            sr[j] += x[j];
            sn[j] += xn[j];
            sg[j] += coup_gelu(xn[j]);
        }
        if (c->sum_head) {
            const float *h = row->heads + (size_t)l * c->hw;
            double *sh = c->sum_head + ((size_t)set * L + l) * c->hw;
            for (int j = 0; j < c->hw; j++)
                sh[j] += h[j];
        }
        for (int k = 0; k < c->K; k++) {
            if (!c->in_a[(size_t)k * c->nrows + index])
                continue;
            double *tr = c->sh_raw + ((size_t)k * L + l) * d;
            double *tn = c->sh_norm + ((size_t)k * L + l) * d;
            double *tg = c->sh_gelu + ((size_t)k * L + l) * d;
            for (int j = 0; j < d; j++) {
                tr[j] += x[j];
                tn[j] += xn[j];
                tg[j] += coup_gelu(xn[j]);
            }
            if (c->sh_head) {
                const float *h = row->heads + (size_t)l * c->hw;
                double *th = c->sh_head + ((size_t)k * L + l) * c->hw;
                for (int j = 0; j < c->hw; j++)
                    th[j] += h[j];
            }
        }
        if (c->npy_resid && npy_append(&c->npy_resid[l], x, e))
            return e->code;
        if (c->npy_heads && npy_append(&c->npy_heads[l], row->heads + (size_t)l * c->hw, e))
            return e->code;
    }
    /* reservoir sampling (Algorithm R): every vector has the same chance to stay */
    int slot = c->seen < c->cap ? c->seen : (int)rng_fast_below(&c->rng, (uint32_t)c->seen + 1);
    c->seen++;
    if (slot < c->cap)
        for (int l = 0; l < L; l++)
            memcpy(c->res + ((size_t)l * c->cap + slot) * d, row->resid + (size_t)l * d,
                   (size_t)d * sizeof(float));
    return 0;
}

static int open_npy(npy_writer **w, const char *dir, const char *stem, int L, int64_t rows,
                    int64_t cols, cape_err *e)
{
    *w = calloc((size_t)L, sizeof **w);
    if (!*w)
        return err_set(e, CAPE_EFAIL, "out of memory");
    for (int l = 0; l < L; l++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s_L%02d.npy", dir, stem, l);
        if (npy_open(&(*w)[l], path, rows, cols, e)) {
            for (int k = 0; k < l; k++)
                npy_abort(&(*w)[k]);
            free(*w);
            *w = NULL;
            return e->code;
        }
    }
    return 0;
}

static int close_npy(npy_writer *w, int L, int ok, cape_err *e)
{
    int rc = 0;
    for (int l = 0; w && l < L; l++) {
        if (ok && !rc)
            rc = npy_close(&w[l], e);
        else
            npy_abort(&w[l]);
    }
    free(w);
    return rc;
}

static void mean_of(const double *sum, int n, int d, double *out)
{
    for (int j = 0; j < d; j++)
        out[j] = sum[j] / n;
}

static int summarise(prun_ctx *c, const prun_opts *o, int nb, prun_result *r, cape_err *e)
{
    int L = c->L, d = c->d, na = c->na, V = r->n_vocab;
    double *ma = malloc(2 * (size_t)(d > c->hw ? d : c->hw) * sizeof *ma);
    float *mf = malloc(2 * (size_t)d * sizeof *mf), *lg = malloc(2 * (size_t)V * sizeof *lg);
    double *la = malloc(2 * (size_t)V * sizeof *la);
    if (!ma || !mf || !lg || !la) {
        free(ma);
        free(mf);
        free(lg);
        free(la);
        return err_set(e, CAPE_EFAIL, "out of memory");
    }
    int w = d > c->hw ? d : c->hw;
    double *mb = ma + w;
    for (int l = 0; l < L; l++) {
        const double *A = c->sum_raw + (size_t)l * d, *B = c->sum_raw + ((size_t)L + l) * d;
        mean_of(A, na, d, ma);
        mean_of(B, nb, d, mb);
        r->hidden[l] = coup_cosine_of_means(ma, mb, d);
        A = c->sum_norm + (size_t)l * d;
        B = c->sum_norm + ((size_t)L + l) * d;
        mean_of(A, na, d, ma);
        mean_of(B, nb, d, mb);
        r->normed[l] = coup_cosine_of_means(ma, mb, d);
        /* unembedding is linear: the mean of the logits is W times the mean state */
        for (int j = 0; j < d; j++) {
            mf[j] = (float)ma[j];
            mf[d + j] = (float)mb[j];
        }
        model_unembed(c->s, mf, 2, lg);
        for (int j = 0; j < 2 * V; j++)
            la[j] = lg[j];
        r->output[l] = coup_cosine_of_means(la, la + V, V);
        A = c->sum_gelu + (size_t)l * d;
        B = c->sum_gelu + ((size_t)L + l) * d;
        mean_of(A, na, d, ma);
        mean_of(B, nb, d, mb);
        r->gelu[l] = coup_cosine_of_means(ma, mb, d);
        int kept = c->seen < c->cap ? c->seen : c->cap;
        cape_err ignore = {0};
        if (coup_participation_ratio(c->res + (size_t)l * c->cap * d, kept, d, &r->d_rep[l],
                                     &ignore))
            r->d_rep[l] = NAN;
        r->d_rep_n = kept;
        if (r->head_c) {
            int hd = r->head_dim;
            for (int h = 0; h < r->n_heads; h++) {
                const double *HA = c->sum_head + (size_t)l * c->hw + (size_t)h * hd;
                const double *HB = c->sum_head + ((size_t)L + l) * c->hw + (size_t)h * hd;
                mean_of(HA, na, hd, ma);
                mean_of(HB, nb, hd, mb);
                r->head_c[(size_t)l * r->n_heads + h] = coup_cosine_of_means(ma, mb, hd);
            }
            r->head_layer[l] = coup_count_heads(r->head_c + (size_t)l * r->n_heads, r->n_heads);
        }
    }
    if (r->head_c)
        r->head_all = coup_count_heads(r->head_c, L * r->n_heads);
    (void)o;
    free(ma);
    free(mf);
    free(lg);
    free(la);
    return 0;
}


/* Shuffled set A' = the rows dealt to it; B' = all rows minus A'. */
static void split_means(const double *sum_a_b, const double *sh, int L, int l, int w, int n_a,
                        int n_b, double *ma, double *mb)
{
    const double *A = sum_a_b + (size_t)l * w, *B = sum_a_b + ((size_t)L + l) * w;
    for (int j = 0; j < w; j++) {
        ma[j] = sh[j] / n_a;
        mb[j] = (A[j] + B[j] - sh[j]) / n_b;
    }
}

static int summarise_shuffles(prun_ctx *c, int nb, prun_result *r, cape_err *e)
{
    int L = c->L, d = c->d, K = c->K, V = r->n_vocab, na = c->na, H = r->n_heads;
    int w = d > c->hw ? d : c->hw;
    double *ma = malloc(2 * (size_t)w * sizeof *ma), *mb = ma ? ma + w : NULL;
    double *v = malloc((size_t)K * 5 * sizeof *v), *hc = malloc((size_t)(H > 0 ? H : 1) * L * sizeof *hc);
    double *all_net = malloc((size_t)K * sizeof *all_net), *all_coop = malloc((size_t)K * sizeof *all_coop);
    float *mf = malloc(2 * (size_t)K * d * sizeof *mf), *lg = malloc(2 * (size_t)K * V * sizeof *lg);
    double *la = malloc(2 * (size_t)V * sizeof *la);
    int rc = 0;
    if (!ma || !v || !hc || !all_net || !all_coop || !mf || !lg || !la) {
        rc = err_set(e, CAPE_EFAIL, "out of memory for %d label shuffles", K);
        goto done;
    }
    double *vh = v, *vn = v + K, *vo = v + 2 * K, *vg = v + 3 * K, *vnet = v + 4 * K;
    for (int k = 0; k < K; k++) {
        all_net[k] = 0;
        all_coop[k] = 0;
    }
    for (int l = 0; l < L; l++) {
        for (int k = 0; k < K; k++) {
            size_t off = ((size_t)k * L + l) * d;
            split_means(c->sum_raw, c->sh_raw + off, L, l, d, na, nb, ma, mb);
            vh[k] = coup_cosine_of_means(ma, mb, d);
            split_means(c->sum_gelu, c->sh_gelu + off, L, l, d, na, nb, ma, mb);
            vg[k] = coup_cosine_of_means(ma, mb, d);
            split_means(c->sum_norm, c->sh_norm + off, L, l, d, na, nb, ma, mb);
            vn[k] = coup_cosine_of_means(ma, mb, d);
            for (int j = 0; j < d; j++) {
                mf[(size_t)2 * k * d + j] = (float)ma[j];
                mf[(size_t)(2 * k + 1) * d + j] = (float)mb[j];
            }
            if (c->sh_head) {
                int hd = r->head_dim;
                split_means(c->sum_head, c->sh_head + ((size_t)k * L + l) * c->hw, L, l, c->hw,
                            na, nb, ma, mb);
                for (int h = 0; h < H; h++)
                    hc[(size_t)l * H + h] =
                        coup_cosine_of_means(ma + (size_t)h * hd, mb + (size_t)h * hd, hd);
                vnet[k] = coup_count_heads(hc + (size_t)l * H, H).net;
            }
        }
        /* the unembedding of every shuffle's two means in one call */
        model_unembed(c->s, mf, 2 * K, lg);
        for (int k = 0; k < K; k++) {
            for (int j = 0; j < 2 * V; j++)
                la[j] = lg[(size_t)2 * k * V + j];
            vo[k] = coup_cosine_of_means(la, la + V, V);
        }
        r->sh_hidden[l] = stats_finite_spread(vh, K);
        r->sh_normed[l] = stats_finite_spread(vn, K);
        r->sh_output[l] = stats_finite_spread(vo, K);
        r->sh_gelu[l] = stats_finite_spread(vg, K);
        if (c->sh_head)
            r->sh_head_net[l] = stats_finite_spread(vnet, K);
    }
    if (c->sh_head) {
        /* all heads of all layers, per shuffle */
        for (int k = 0; k < K; k++) {
            int hd = r->head_dim;
            for (int l = 0; l < L; l++) {
                split_means(c->sum_head, c->sh_head + ((size_t)k * L + l) * c->hw, L, l, c->hw,
                            na, nb, ma, mb);
                for (int h = 0; h < H; h++)
                    hc[(size_t)l * H + h] =
                        coup_cosine_of_means(ma + (size_t)h * hd, mb + (size_t)h * hd, hd);
            }
            coup_head_counts ct = coup_count_heads(hc, L * H);
            all_net[k] = ct.net;
            all_coop[k] = ct.heads ? (double)ct.cooperative / ct.heads : NAN;
        }
        r->sh_head_all_net = stats_finite_spread(all_net, K);
        r->sh_head_all_coop = stats_finite_spread(all_coop, K);
    }
done:
    free(ma);
    free(v);
    free(hc);
    free(all_net);
    free(all_coop);
    free(mf);
    free(lg);
    free(la);
    return rc;
}

int prun_run(model_session *s, const model *m, char *const *a, int na, char *const *b, int nb,
             const prun_opts *o, prun_result *r, cape_err *e)
{
    memset(r, 0, sizeof *r);
    if (na < 1 || nb < 1)
        return err_set(e, CAPE_EINPUT, "both prompt sets need at least one prompt (%d and %d)", na,
                       nb);
    const model_config *cfg = model_cfg(m);
    int L = cfg->n_layers, d = cfg->dim, hw = cfg->n_heads * cfg->head_dim;
    *r = (prun_result){.n_layers = L, .dim = d, .n_heads = cfg->n_heads,
                       .head_dim = cfg->head_dim, .n_vocab = cfg->n_vocab, .na = na, .nb = nb};
    prun_ctx c = {.s = s, .L = L, .d = d, .hw = hw, .na = na, .nrows = na + nb,
                  .K = o->shuffles > 0 ? o->shuffles : 0};
    int K = c.K;
    /* d_rep sample: 1024 vectors per layer, fewer for wide models (<= 256 MiB) */
    int auto_cap = (int)((64l << 20) / ((long)L * d));
    c.cap = o->reservoir > 1 ? o->reservoir : auto_cap > 1024 ? 1024 : auto_cap < 64 ? 64 : auto_cap;
    rng_fast_seed(&c.rng, o->seed);
    c.sum_raw = calloc(2 * (size_t)L * d, sizeof(double));
    c.sum_norm = calloc(2 * (size_t)L * d, sizeof(double));
    c.sum_gelu = calloc(2 * (size_t)L * d, sizeof(double));
    c.sum_head = o->heads ? calloc(2 * (size_t)L * hw, sizeof(double)) : NULL;
    c.normed = malloc((size_t)L * d * sizeof(float));
    c.res = malloc((size_t)L * c.cap * d * sizeof(float));
    r->hidden = calloc((size_t)L, sizeof(double));
    r->normed = calloc((size_t)L, sizeof(double));
    r->output = calloc((size_t)L, sizeof(double));
    r->gelu = calloc((size_t)L, sizeof(double));
    r->d_rep = calloc((size_t)L, sizeof(double));
    if (o->heads) {
        r->head_c = calloc((size_t)L * cfg->n_heads, sizeof(double));
        r->head_layer = calloc((size_t)L, sizeof *r->head_layer);
    }
    int rc = 0;
    if (K) {
        r->shuffles = K;
        c.in_a = calloc((size_t)K * (na + nb), 1);
        c.sh_raw = calloc((size_t)K * L * d, sizeof(double));
        c.sh_norm = calloc((size_t)K * L * d, sizeof(double));
        c.sh_gelu = calloc((size_t)K * L * d, sizeof(double));
        c.sh_head = o->heads ? calloc((size_t)K * L * hw, sizeof(double)) : NULL;
        r->sh_hidden = calloc((size_t)L, sizeof *r->sh_hidden);
        r->sh_normed = calloc((size_t)L, sizeof *r->sh_normed);
        r->sh_output = calloc((size_t)L, sizeof *r->sh_output);
        r->sh_gelu = calloc((size_t)L, sizeof *r->sh_gelu);
        r->sh_head_net = o->heads ? calloc((size_t)L, sizeof *r->sh_head_net) : NULL;
        int *perm = malloc((size_t)(na + nb) * sizeof *perm);
        if (!c.in_a || !c.sh_raw || !c.sh_norm || !c.sh_gelu || (o->heads && (!c.sh_head ||
            !r->sh_head_net)) || !r->sh_hidden || !r->sh_normed || !r->sh_output ||
            !r->sh_gelu || !perm) {
            free(perm);
            rc = err_set(e, CAPE_EFAIL, "out of memory for %d label shuffles (%d layers x %d)",
                         K, L, d);
            goto done;
        }
        /* shuffle k deals the pooled prompts: the first na of a seeded
         * permutation form the shuffled set A */
        rng_mt g;
        rng_seed(&g, o->seed ^ 0x5bd1e995u);
        for (int k = 0; k < K; k++) {
            for (int i = 0; i < na + nb; i++)
                perm[i] = i;
            rng_shuffle_int(&g, perm, na + nb);
            for (int i = 0; i < na; i++)
                c.in_a[(size_t)k * (na + nb) + perm[i]] = 1;
        }
        free(perm);
    }
    if (!c.sum_raw || !c.sum_norm || !c.sum_gelu || (o->heads && (!c.sum_head || !r->head_c ||
        !r->head_layer)) || !c.normed || !c.res || !r->hidden || !r->normed || !r->output ||
        !r->gelu || !r->d_rep) {
        rc = err_set(e, CAPE_EFAIL, "out of memory (%d layers x %d)", L, d);
        goto done;
    }
    if (o->out_dir) {
        if (mkdir(o->out_dir, 0755) != 0 && access(o->out_dir, W_OK) != 0) {
            rc = err_set(e, CAPE_EINPUT, "%s: cannot create the output directory", o->out_dir);
            goto done;
        }
        if ((rc = open_npy(&c.npy_resid, o->out_dir, "resid", L, na + nb, d, e)) ||
            (o->heads && (rc = open_npy(&c.npy_heads, o->out_dir, "heads", L, na + nb, hw, e))))
            goto done;
    }
    char **all = malloc((size_t)(na + nb) * sizeof *all);
    if (!all) {
        rc = err_set(e, CAPE_EFAIL, "out of memory");
        goto done;
    }
    memcpy(all, a, (size_t)na * sizeof *all);
    memcpy(all + na, b, (size_t)nb * sizeof *all);
    capture_opts co = {.want_heads = o->heads, .add_bos = -1, .progress = o->progress,
                       .progress_user = o->progress_user};
    rc = capture_prompts(s, m, all, na + nb, &co, on_row, &c, e);
    free(all);
    int rc2 = close_npy(c.npy_resid, L, rc == 0, e);
    int rc3 = close_npy(c.npy_heads, L, rc == 0, e);
    c.npy_resid = c.npy_heads = NULL;
    if (!rc)
        rc = rc2 ? rc2 : rc3;
    if (!rc)
        rc = summarise(&c, o, nb, r, e);
    if (!rc && K)
        rc = summarise_shuffles(&c, nb, r, e);
done:
    free(c.in_a);
    free(c.sh_raw);
    free(c.sh_norm);
    free(c.sh_gelu);
    free(c.sh_head);
    close_npy(c.npy_resid, L, 0, e);
    close_npy(c.npy_heads, L, 0, e);
    free(c.sum_raw);
    free(c.sum_norm);
    free(c.sum_gelu);
    free(c.sum_head);
    free(c.normed);
    free(c.res);
    if (rc)
        prun_free(r);
    return rc;
}

void prun_free(prun_result *r)
{
    free(r->hidden);
    free(r->normed);
    free(r->output);
    free(r->gelu);
    free(r->d_rep);
    free(r->head_c);
    free(r->head_layer);
    free(r->sh_hidden);
    free(r->sh_normed);
    free(r->sh_output);
    free(r->sh_gelu);
    free(r->sh_head_net);
    memset(r, 0, sizeof *r);
}
