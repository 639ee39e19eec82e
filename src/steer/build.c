#include "steer/build.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/rng.h"
#include "stats/stats.h"
#include "steer/direction.h"
#include "steer/probe.h"

typedef struct {
    int L, d;
    float *acts; /* [rows][L][d], pos rows first */
} acts_ctx;

static int keep_row(void *user, int index, const capture_row *row, cape_err *e)
{
    (void)e;
    acts_ctx *c = user;
    memcpy(c->acts + (size_t)index * c->L * c->d, row->resid, (size_t)c->L * c->d * sizeof(float));
    return 0;
}

/* Rows of one layer gathered into [n x d]. */
static void gather(const acts_ctx *c, int layer, const int *rows, int n, float *out)
{
    for (int i = 0; i < n; i++)
        memcpy(out + (size_t)i * c->d, c->acts + ((size_t)rows[i] * c->L + layer) * c->d,
               (size_t)c->d * sizeof(float));
}

static int layer_direction(const acts_ctx *c, int l, int npos, int nneg, dir_method method,
                           float *scratch, float *out, cape_err *e)
{
    int *rows = malloc((size_t)(npos + nneg) * sizeof *rows);
    if (!rows)
        return err_set(e, CAPE_EFAIL, "out of memory");
    for (int i = 0; i < npos + nneg; i++)
        rows[i] = i;
    gather(c, l, rows, npos + nneg, scratch);
    free(rows);
    const float *P = scratch, *N = scratch + (size_t)npos * c->d;
    if (method == DIR_MEAN)
        return dir_mean_diff(P, npos, N, nneg, c->d, out, e);
    return dir_pca_pairs(P, N, npos, c->d, method == DIR_PCA_CENTRED, out, e);
}

/* Held-out probe accuracy at one layer. The split is by unit: a pair (both
 * of its prompts go to the same side, so a question never leaks across) or,
 * for unpaired sets, a single prompt. perm orders the units; the first
 * ntrain are for fitting. */
static double probe_layer(const acts_ctx *c, int l, int npos, int nneg, int paired,
                          const int *perm, int ntrain, double lambda, const int *lab,
                          float *scratch)
{
    int total = npos + nneg, units = paired ? npos : total;
    int *buf = calloc(4 * (size_t)total, sizeof *buf);
    if (!buf)
        return NAN;
    int *tr = buf, *ytr = buf + total, *te = buf + 2 * total, *yte = buf + 3 * total;
    int ntr = 0, nte = 0;
    for (int k = 0; k < units; k++) {
        int u = perm[k], train = k < ntrain;
        int member[2] = {u, npos + u}, nm = paired ? 2 : 1;
        int label[2] = {lab[member[0]], paired ? lab[member[1]] : 0};
        for (int q = 0; q < nm; q++) {
            if (train) {
                tr[ntr] = member[q];
                ytr[ntr++] = label[q];
            } else {
                te[nte] = member[q];
                yte[nte++] = label[q];
            }
        }
    }
    double acc = NAN;
    probe_model pm;
    cape_err ignore = {0};
    gather(c, l, tr, ntr, scratch);
    if (nte > 0 && probe_fit(scratch, ytr, ntr, c->d, lambda, &pm, &ignore) == 0) {
        gather(c, l, te, nte, scratch);
        acc = probe_accuracy(&pm, scratch, yte, nte);
        probe_free(&pm);
    }
    free(buf);
    return acc;
}


int sbuild_probe(const float *acts, int L, int d, int npos, int nneg, const sbuild_opts *o,
                 double *acc, sbuild_null *null, int *chosen, cape_err *e)
{
    int paired = npos == nneg, total = npos + nneg;
    int units = paired ? npos : total;
    int ntrain = units - (int)floor(units * (o->holdout > 0 ? o->holdout : 0.3) + 0.5);
    if (ntrain < 2 || ntrain >= units)
        return err_set(e, CAPE_EINPUT,
                       "choosing the layer by probe needs more prompts (%d %s): give --layer",
                       units, paired ? "pairs" : "prompts");
    int K = null && o->shuffles > 0 ? o->shuffles : 0;
    acts_ctx c = {L, d, (float *)acts};
    int *perm = malloc((size_t)units * sizeof *perm), *lab = malloc((size_t)total * sizeof *lab);
    float *scratch = malloc((size_t)total * d * sizeof *scratch);
    double *sh = malloc((size_t)(K ? K : 1) * L * sizeof *sh);
    if (!perm || !lab || !scratch || !sh) {
        free(perm);
        free(lab);
        free(scratch);
        free(sh);
        return err_set(e, CAPE_EFAIL, "out of memory");
    }
    for (int k = 0; k < units; k++)
        perm[k] = k;
    rng_mt rg;
    rng_seed(&rg, o->seed);
    rng_shuffle_int(&rg, perm, units);
    double lambda = o->lambda > 0 ? o->lambda : 0.01;
    for (int i = 0; i < total; i++)
        lab[i] = i < npos;
    *chosen = SBUILD_FIRST_BLOCK;
    for (int l = 0; l < L; l++) {
        acc[l] = probe_layer(&c, l, npos, nneg, paired, perm, ntrain, lambda, lab, scratch);
        if (l >= SBUILD_FIRST_BLOCK && isfinite(acc[l]) &&
            (!isfinite(acc[*chosen]) || acc[l] > acc[*chosen]))
            *chosen = l;
    }
    /* chance level: the same split and fits with the labels shuffled, within
     * each pair (a coin decides which prompt is positive) or, unpaired, over
     * all prompts; one set of labels per shuffle, shared by every block */
    rng_mt gs;
    rng_seed(&gs, o->seed ^ 0x5bd1e995u);
    for (int k = 0; k < K; k++) {
        if (paired) {
            for (int u = 0; u < npos; u++) {
                int flip = rng_u32(&gs) & 1;
                lab[u] = !flip;
                lab[npos + u] = flip;
            }
        } else {
            for (int i = 0; i < total; i++)
                lab[i] = i < npos;
            rng_shuffle_int(&gs, lab, total);
        }
        for (int l = 0; l < L; l++)
            sh[(size_t)l * K + k] =
                probe_layer(&c, l, npos, nneg, paired, perm, ntrain, lambda, lab, scratch);
    }
    for (int l = 0; l < L && K; l++)
        null[l] = stats_finite_spread(sh + (size_t)l * K, K);
    free(perm);
    free(lab);
    free(scratch);
    free(sh);
    return 0;
}

int sbuild_run(model_session *s, const model *m, char *const *pos, int npos, char *const *neg,
               int nneg, const sbuild_opts *o, sbuild_result *r, cape_err *e)
{
    memset(r, 0, sizeof *r);
    const model_config *cfg = model_cfg(m);
    int L = cfg->n_layers, d = cfg->dim, paired = npos == nneg;
    if (npos < 1 || nneg < 1)
        return err_set(e, CAPE_EINPUT, "empty prompt set (%d positive, %d negative)", npos, nneg);
    if (o->method != DIR_MEAN && !paired)
        return err_set(e, CAPE_EINPUT,
                       "PCA of paired differences needs as many positive as negative prompts "
                       "(%d vs %d)",
                       npos, nneg);
    if (o->rule == LAYER_FIXED && (o->layer < 0 || o->layer >= L))
        return err_set(e, CAPE_EINPUT, "layer %d is out of range: the model has blocks 0..%d",
                       o->layer, L - 1);
    /* a control vector holds blocks 1..L-1 (llama.cpp has no direction.0), so
     * every rule chooses among those */
    if (L < 2)
        return err_set(e, CAPE_EINPUT,
                       "the model has a single block, and a control vector cannot hold block 0");
    if (o->rule == LAYER_FIXED && o->layer == 0)
        return err_set(e, CAPE_EINPUT,
                       "layer 0 cannot be steered: a llama.cpp control vector holds blocks "
                       "1..%d",
                       L - 1);
    *r = (sbuild_result){.n_layers = L, .dim = d, .npos = npos, .nneg = nneg, .paired = paired};
    acts_ctx c = {L, d, malloc((size_t)(npos + nneg) * L * d * sizeof(float))};
    float *scratch = malloc((size_t)(npos + nneg) * d * sizeof(float));
    r->dir = calloc((size_t)L * d, sizeof *r->dir);
    r->probe_acc = malloc((size_t)L * sizeof *r->probe_acc);
    r->resid_norm = calloc((size_t)L, sizeof *r->resid_norm);
    if (o->rule == LAYER_PROBE && o->shuffles > 0)
        r->probe_null = calloc((size_t)L, sizeof *r->probe_null);
    int rc = 0;
    if (!c.acts || !scratch || !r->dir || !r->probe_acc || !r->resid_norm ||
        (o->rule == LAYER_PROBE && o->shuffles > 0 && !r->probe_null)) {
        rc = err_set(e, CAPE_EFAIL, "out of memory for %d x %d layers x %d activations",
                     npos + nneg, L, d);
        goto done;
    }
    char **all = malloc((size_t)(npos + nneg) * sizeof *all);
    if (!all) {
        rc = err_set(e, CAPE_EFAIL, "out of memory");
        goto done;
    }
    memcpy(all, pos, (size_t)npos * sizeof *all);
    memcpy(all + npos, neg, (size_t)nneg * sizeof *all);
    capture_opts co = {.add_bos = -1, .progress = o->progress, .progress_user = o->progress_user};
    rc = capture_prompts(s, m, all, npos + nneg, &co, keep_row, &c, e);
    free(all);
    if (rc)
        goto done;
    for (int l = 0; l < L; l++) {
        double sum = 0;
        for (int i = 0; i < npos + nneg; i++) {
            const float *x = c.acts + ((size_t)i * L + l) * d;
            double ss = 0;
            for (int j = 0; j < d; j++)
                ss += (double)x[j] * x[j];
            sum += sqrt(ss);
        }
        r->resid_norm[l] = sum / (npos + nneg);
        if ((rc = layer_direction(&c, l, npos, nneg, o->method, scratch, r->dir + (size_t)l * d,
                                  e)))
            goto done;
        r->probe_acc[l] = NAN;
    }
    if (o->rule == LAYER_PROBE) {
        rc = sbuild_probe(c.acts, L, d, npos, nneg, o, r->probe_acc, r->probe_null, &r->chosen,
                          e);
    } else {
        r->chosen = o->rule == LAYER_FIXED ? o->layer
                    : L / 4 >= SBUILD_FIRST_BLOCK ? L / 4
                                                 : SBUILD_FIRST_BLOCK;
    }
done:
    free(c.acts);
    free(scratch);
    if (rc)
        sbuild_free(r);
    return rc;
}

void sbuild_free(sbuild_result *r)
{
    free(r->dir);
    free(r->probe_acc);
    free(r->resid_norm);
    free(r->probe_null);
    memset(r, 0, sizeof *r);
}
