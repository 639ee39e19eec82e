#include "phase/eigen.h"

#include <lapacke.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "base/rng.h"
#include "stats/stats.h"

void eigen_options_default(eigen_options *o)
{
    memset(o, 0, sizeof *o);
    const bench_id five[] = {BENCH_HELLASWAG, BENCH_TRUTHFULQA_MC2, BENCH_ARC, BENCH_WINOGRANDE,
                             BENCH_MMLU};
    o->nbench = 5;
    memcpy(o->bench, five, sizeof five);
    o->matrix = EIGEN_CORRELATION;
    o->nboot = 1000;
    o->seed = 42;
    o->min_models = 3;
    o->by_family = 1;
    o->by_phase = 1;
}

double eigen_participation_ratio(const double *eval, int n)
{
    double s = 0, s2 = 0;
    for (int i = 0; i < n; i++) {
        double l = fmax(eval[i], 0); /* roundoff can leave -1e-17 */
        s += l;
        s2 += l * l;
    }
    return s2 > 0 ? s * s / s2 : NAN;
}

/* Sample covariance (ddof 1) or Pearson correlation of the columns; returns
 * -1 when a column is constant (correlation) or every column is (covariance). */
static int panel_matrix(const double *x, int n, int nb, eigen_matrix kind, double *m)
{
    double mean[EIGEN_MAX_BENCH] = {0};
    for (int i = 0; i < n; i++)
        for (int j = 0; j < nb; j++)
            mean[j] += x[i * nb + j] / n;
    for (int a = 0; a < nb; a++)
        for (int b = a; b < nb; b++) {
            double s = 0;
            for (int i = 0; i < n; i++)
                s += (x[i * nb + a] - mean[a]) * (x[i * nb + b] - mean[b]);
            m[a * nb + b] = m[b * nb + a] = s / (n - 1);
        }
    double tr = 0;
    for (int a = 0; a < nb; a++)
        tr += m[a * nb + a];
    if (kind == EIGEN_COVARIANCE)
        return tr > 0 ? 0 : -1;
    double sd[EIGEN_MAX_BENCH];
    for (int a = 0; a < nb; a++) {
        sd[a] = sqrt(m[a * nb + a]);
        if (!(sd[a] > 1e-12 * (1 + fabs(mean[a]))))
            return -1;
    }
    for (int a = 0; a < nb; a++)
        for (int b = 0; b < nb; b++)
            m[a * nb + b] = a == b ? 1 : m[a * nb + b] / (sd[a] * sd[b]);
    return 0;
}

/* Eigenvalues in descending order; eigenvectors as columns, each signed so
 * that its components sum to a positive number. */
static int sym_eigen(double *m, int nb, double *eval, double *evec)
{
    double w[EIGEN_MAX_BENCH];
    if (LAPACKE_dsyev(LAPACK_ROW_MAJOR, 'V', 'U', nb, m, nb, w) != 0)
        return -1;
    for (int k = 0; k < nb; k++) {
        int src = nb - 1 - k; /* dsyev sorts ascending */
        double sum = 0;
        for (int i = 0; i < nb; i++)
            sum += m[i * nb + src];
        double sign = sum < 0 ? -1 : 1;
        eval[k] = w[src];
        for (int i = 0; i < nb; i++)
            evec[i * nb + k] = sign * m[i * nb + src];
    }
    return 0;
}

static double determinant_from(const double *eval, int nb)
{
    double d = 1;
    for (int k = 0; k < nb; k++)
        d *= eval[k];
    return d;
}

void eigen_pca(const double *x, int n, int nb, eigen_matrix kind, eigen_group *g)
{
    double m[EIGEN_MAX_BENCH * EIGEN_MAX_BENCH];
    g->estimable = 0;
    g->d_eff = g->det = NAN;
    for (int k = 0; k < EIGEN_MAX_BENCH; k++)
        g->eval[k] = g->explained[k] = NAN;
    if (n < 3) {
        snprintf(g->why, sizeof g->why, "%d model%s; PCA needs at least 3", n, n == 1 ? "" : "s");
        return;
    }
    if (panel_matrix(x, n, nb, kind, m)) {
        snprintf(g->why, sizeof g->why,
                 kind == EIGEN_CORRELATION ? "a benchmark is constant across these models, so its "
                                             "correlations are undefined"
                                           : "every benchmark is constant across these models");
        return;
    }
    if (sym_eigen(m, nb, g->eval, g->evec)) {
        snprintf(g->why, sizeof g->why, "the eigendecomposition failed");
        return;
    }
    double tr = 0;
    for (int k = 0; k < nb; k++)
        tr += g->eval[k];
    for (int k = 0; k < nb; k++)
        g->explained[k] = g->eval[k] / tr;
    g->d_eff = eigen_participation_ratio(g->eval, nb);
    g->det = determinant_from(g->eval, nb);
    g->estimable = 1;
}

/* ---- groups and the stratified bootstrap ---------------------------------- */

typedef struct {
    int *row;     /* table rows of the group's models */
    int n;
    int *fam;     /* family index of each member */
    int nfam;
} members;

static int member_family(const scores_table *t, const int *rows, int n, int *fam)
{
    int nf = 0;
    for (int i = 0; i < n; i++) {
        int k = 0;
        while (k < i && strcmp(t->model[rows[k]].family, t->model[rows[i]].family) != 0)
            k++;
        fam[i] = k < i ? fam[k] : nf++;
    }
    return nf;
}

static void fill_matrix(const scores_table *t, const eigen_options *o, const int *rows, int n,
                        double *x)
{
    for (int i = 0; i < n; i++)
        for (int j = 0; j < o->nbench; j++)
            x[i * o->nbench + j] = t->model[rows[i]].score[o->bench[j]];
}

static int bootstrap(const scores_table *t, const eigen_options *o, const members *mb,
                     eigen_group *g, cape_err *e)
{
    g->d_lo = g->d_hi = g->d_median = NAN;
    if (o->nboot <= 0 || !g->estimable)
        return 0;
    int nb = o->nbench, n = mb->n;
    double *x = malloc((size_t)n * nb * sizeof *x), *draw = malloc((size_t)n * nb * sizeof *draw);
    double *deff = malloc((size_t)o->nboot * sizeof *deff);
    int *byfam = malloc((size_t)n * sizeof *byfam), *start = calloc((size_t)mb->nfam + 1, sizeof *start);
    if (!x || !draw || !deff || !byfam || !start) {
        free(x), free(draw), free(deff), free(byfam), free(start);
        return err_set(e, CAPE_EFAIL, "out of memory");
    }
    fill_matrix(t, o, mb->row, n, x);
    /* members grouped by family: byfam[start[f] .. start[f+1]) */
    for (int i = 0; i < n; i++)
        start[mb->fam[i] + 1]++;
    for (int f = 0; f < mb->nfam; f++)
        start[f + 1] += start[f];
    int *fill = calloc((size_t)mb->nfam, sizeof *fill);
    if (!fill) {
        free(x), free(draw), free(deff), free(byfam), free(start);
        return err_set(e, CAPE_EFAIL, "out of memory");
    }
    for (int i = 0; i < n; i++)
        byfam[start[mb->fam[i]] + fill[mb->fam[i]]++] = i;
    free(fill);
    rng_mt rng;
    rng_seed(&rng, o->seed);
    int valid = 0;
    for (int b = 0; b < o->nboot; b++) {
        int k = 0;
        for (int f = 0; f < mb->nfam; f++) {
            int nf = start[f + 1] - start[f];
            for (int d = 0; d < nf; d++) {
                int pick = byfam[start[f] + (int)rng_interval(&rng, (uint64_t)(nf - 1))];
                memcpy(&draw[k++ * nb], &x[pick * nb], (size_t)nb * sizeof *x);
            }
        }
        eigen_group tmp;
        eigen_pca(draw, n, nb, o->matrix, &tmp);
        if (tmp.estimable && isfinite(tmp.d_eff))
            deff[valid++] = tmp.d_eff;
    }
    g->boot_total = o->nboot;
    g->boot_valid = valid;
    if (valid > 0) {
        stats_sort(deff, valid);
        g->d_lo = stats_percentile_sorted(deff, valid, 2.5);
        g->d_hi = stats_percentile_sorted(deff, valid, 97.5);
        g->d_median = stats_percentile_sorted(deff, valid, 50);
    }
    free(x), free(draw), free(deff), free(byfam), free(start);
    return 0;
}

static int add_group(eigen_result *r, const scores_table *t, eigen_group_kind kind,
                     const char *name, const int *rows, int n, cape_err *e)
{
    const eigen_options *o = &r->opt;
    eigen_group *g = &r->g[r->ng++];
    memset(g, 0, sizeof *g);
    g->kind = kind;
    g->name = strdup(name);
    g->n = n;
    members mb = {.row = (int *)rows, .n = n, .fam = malloc((size_t)(n ? n : 1) * sizeof(int))};
    double *x = malloc((size_t)(n ? n : 1) * o->nbench * sizeof *x);
    if (!g->name || !mb.fam || !x) {
        free(mb.fam), free(x);
        return err_set(e, CAPE_EFAIL, "out of memory");
    }
    mb.nfam = member_family(t, rows, n, mb.fam);
    g->nfamilies = mb.nfam;
    fill_matrix(t, o, rows, n, x);
    eigen_pca(x, n, o->nbench, o->matrix, g);
    if (g->estimable && n < o->min_models) {
        g->estimable = 0;
        snprintf(g->why, sizeof g->why, "%d models; this run needs at least %d", n,
                 o->min_models);
    }
    int rc = bootstrap(t, o, &mb, g, e);
    free(mb.fam), free(x);
    return rc;
}

static int usable(const scores_model *m, const eigen_options *o)
{
    for (int j = 0; j < o->nbench; j++)
        if (!isfinite(m->score[o->bench[j]]))
            return 0;
    return 1;
}

int eigen_run(const scores_table *t, const eigen_options *o, const phase_label *row_phase,
              eigen_result *r, cape_err *e)
{
    memset(r, 0, sizeof *r);
    r->opt = *o;
    if (o->nbench < 2 || o->nbench > EIGEN_MAX_BENCH)
        return err_set(e, CAPE_EINPUT, "eigen needs 2 to %d benchmarks", EIGEN_MAX_BENCH);
    for (int j = 0; j < o->nbench; j++)
        if (!t->has_column[o->bench[j]])
            return err_set(e, CAPE_EINPUT, "%s: no column for %s", t->path,
                           scores_bench_info(o->bench[j])->key);
    int *rows = malloc((size_t)(t->n ? t->n : 1) * sizeof *rows);
    int *sub = malloc((size_t)(t->n ? t->n : 1) * sizeof *sub);
    r->g = calloc((size_t)t->n + 4, sizeof *r->g);
    if (!rows || !sub || !r->g) {
        free(rows), free(sub);
        return err_set(e, CAPE_EFAIL, "out of memory");
    }
    int n = 0;
    for (int i = 0; i < t->n; i++) {
        if (usable(&t->model[i], o))
            rows[n++] = i;
        else
            r->nskipped++;
    }
    int rc = 0;
    if (n == 0)
        rc = err_set(e, CAPE_EINPUT, "%s: no model has every benchmark of the panel", t->path);
    if (rc == 0)
        rc = add_group(r, t, EIGEN_GROUP_ALL, "all", rows, n, e);
    for (int p = 0; rc == 0 && o->by_phase && row_phase && p < 3; p++) {
        int m = 0;
        for (int i = 0; i < n; i++)
            if (row_phase[rows[i]] == (phase_label)p)
                sub[m++] = rows[i];
        rc = add_group(r, t, EIGEN_GROUP_PHASE, phase_name((phase_label)p), sub, m, e);
    }
    if (o->by_family && (t->has_family || t->families_inferred > 1)) {
        for (int i = 0; rc == 0 && i < n; i++) {
            const char *fam = t->model[rows[i]].family;
            int seen = 0;
            for (int k = 0; k < i && !seen; k++)
                seen = strcmp(t->model[rows[k]].family, fam) == 0;
            if (seen)
                continue;
            int m = 0;
            for (int k = i; k < n; k++)
                if (strcmp(t->model[rows[k]].family, fam) == 0)
                    sub[m++] = rows[k];
            rc = add_group(r, t, EIGEN_GROUP_FAMILY, fam, sub, m, e);
        }
    }
    free(rows), free(sub);
    return rc;
}

void eigen_result_free(eigen_result *r)
{
    for (int k = 0; k < r->ng; k++)
        free(r->g[k].name);
    free(r->g);
    memset(r, 0, sizeof *r);
}

json_t *eigen_result_json(const eigen_result *r)
{
    static const char *kinds[] = {"all", "phase", "family"};
    const eigen_options *o = &r->opt;
    int nb = o->nbench;
    json_t *j = json_object(), *panel = json_array(), *groups = json_array();
    for (int b = 0; b < nb; b++)
        json_array_append_new(panel, json_string(scores_bench_info(o->bench[b])->key));
    json_object_set_new(j, "panel", panel);
    json_object_set_new(j, "matrix",
                        json_string(o->matrix == EIGEN_CORRELATION ? "correlation" : "covariance"));
    json_object_set_new(j, "bootstrap", json_pack("{s:i,s:I,s:s}", "resamples", o->nboot, "seed",
                                                  (json_int_t)o->seed, "strata", "family"));
    json_object_set_new(j, "skipped_rows", json_integer(r->nskipped));
    for (int k = 0; k < r->ng; k++) {
        const eigen_group *g = &r->g[k];
        json_t *gj = json_pack("{s:s,s:s,s:i,s:i,s:b}", "group", kinds[g->kind], "name", g->name,
                               "models", g->n, "families", g->nfamilies, "estimable",
                               g->estimable);
        if (!g->estimable) {
            json_object_set_new(gj, "why", json_string(g->why));
            json_array_append_new(groups, gj);
            continue;
        }
        json_t *ev = json_array(), *ex = json_array(), *vecs = json_array();
        for (int c = 0; c < nb; c++) {
            json_array_append_new(ev, json_num(g->eval[c]));
            json_array_append_new(ex, json_num(g->explained[c]));
            json_t *v = json_array();
            for (int i = 0; i < nb; i++)
                json_array_append_new(v, json_num(g->evec[i * nb + c]));
            json_array_append_new(vecs, v);
        }
        json_object_set_new(gj, "eigenvalues", ev);
        json_object_set_new(gj, "explained", ex);
        json_object_set_new(gj, "eigenvectors", vecs);
        json_object_set_new(gj, "d_eff", json_num(g->d_eff));
        json_object_set_new(gj, "determinant", json_num(g->det));
        json_object_set_new(gj, "d_eff_bootstrap",
                            json_pack("{s:i,s:o,s:o,s:o}", "valid", g->boot_valid, "median",
                                      json_num(g->d_median), "ci95_lo", json_num(g->d_lo),
                                      "ci95_hi", json_num(g->d_hi)));
        json_array_append_new(groups, gj);
    }
    json_object_set_new(j, "groups", groups);
    return j;
}
