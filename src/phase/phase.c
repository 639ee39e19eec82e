#include "phase/phase.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/rng.h"

static const char *PHASE_NAMES[] = {"tax", "transition", "bonus", "unknown"};

const char *phase_name(phase_label p)
{
    return PHASE_NAMES[(unsigned)p <= PHASE_UNKNOWN ? p : PHASE_UNKNOWN];
}

phase_label phase_classify(double gamma, double band)
{
    if (isnan(gamma))
        return PHASE_UNKNOWN;
    if (gamma < -band)
        return PHASE_TAX;
    if (gamma > band)
        return PHASE_BONUS;
    return PHASE_TRANSITION;
}

void phase_options_default(phase_options *o)
{
    memset(o, 0, sizeof *o);
    o->reasoning = BENCH_HELLASWAG;
    o->truth = BENCH_TRUTHFULQA_MC2;
    o->skip_delta = 0.5;
    o->band = 0.1;
    o->nboot = 10000;
    o->seed = 42;
    o->vertex_lo = 7;
    o->vertex_hi = 12;
    o->isocline_k = 0.1866;
    o->d_ref = 512;
    o->perm_exact_max = 10;
    o->perm_draws = 100000;
    o->perm_side = PERM_TWO_SIDED;
    o->min_family = 3;
    o->loss_alpha = NAN;
    o->loss_e = NAN;
    o->min_size = 0;
    o->max_size = INFINITY;
}

int phase_running_coupling(const double *log_n, const double *reason, const double *truth, int n,
                           double skip_delta, phase_step *out)
{
    int k = 0;
    for (int i = 0; i + 1 < n; i++, k++) {
        phase_step *s = &out[k];
        s->a = i;
        s->b = i + 1;
        s->log_n_mid = 0.5 * (log_n[i] + log_n[i + 1]);
        s->d_reason = reason[i + 1] - reason[i];
        s->d_truth = truth[i + 1] - truth[i];
        s->gamma = fabs(s->d_reason) > skip_delta ? s->d_truth / s->d_reason : NAN;
    }
    return k;
}

/* First change from a negative to a positive coupling along the size ladder
 * (skipped pairs are passed over; a zero coupling is neither sign), placed by
 * linear interpolation of gamma in log10 N between the two midpoints. */
int phase_family_nc(const phase_step *s, int nstep, double *nc_log, int *neg, int *pos)
{
    int last_neg = -1;
    for (int k = 0; k < nstep; k++) {
        double g = s[k].gamma;
        if (isnan(g))
            continue;
        if (g < 0) {
            last_neg = k;
        } else if (g > 0 && last_neg >= 0) {
            double xa = s[last_neg].log_n_mid, xb = s[k].log_n_mid, ga = s[last_neg].gamma;
            *nc_log = xa + (xb - xa) * (-ga) / (g - ga);
            *neg = last_neg;
            *pos = k;
            return 1;
        }
    }
    return 0;
}

/* Least-squares quadratic through (x, y) restricted to the rows in idx, in
 * coordinates centred at xc; returns 0 when the normal equations are singular. */
static int quad_fit_centred(const double *x, const double *y, const int *idx, int n, double xc,
                            double c[3])
{
    double s[5] = {0}, t[3] = {0};
    for (int i = 0; i < n; i++) {
        int k = idx ? idx[i] : i;
        double u = x[k] - xc, u2 = u * u;
        s[0] += 1;
        s[1] += u;
        s[2] += u2;
        s[3] += u2 * u;
        s[4] += u2 * u2;
        t[0] += y[k];
        t[1] += u * y[k];
        t[2] += u2 * y[k];
    }
    /* Normal equations for y = a u^2 + b u + c, solved by Cramer's rule. */
    double m[3][3] = {{s[4], s[3], s[2]}, {s[3], s[2], s[1]}, {s[2], s[1], s[0]}};
    double r[3] = {t[2], t[1], t[0]};
    double det = m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1]) -
                 m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0]) +
                 m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
    double scale = s[4] * s[2] * s[0];
    if (!(fabs(det) > 1e-12 * scale))
        return 0;
    for (int col = 0; col < 3; col++) {
        double a[3][3];
        memcpy(a, m, sizeof a);
        for (int row = 0; row < 3; row++)
            a[row][col] = r[row];
        c[col] = (a[0][0] * (a[1][1] * a[2][2] - a[1][2] * a[2][1]) -
                  a[0][1] * (a[1][0] * a[2][2] - a[1][2] * a[2][0]) +
                  a[0][2] * (a[1][0] * a[2][1] - a[1][1] * a[2][0])) /
                 det;
    }
    return 1;
}

int phase_quadratic_fit(const double *x, const double *y, const int *idx, int n, double xc,
                        double c[3])
{
    return quad_fit_centred(x, y, idx, n, xc, c);
}

int phase_ucurve_bootstrap(const double *x, const double *y, int n, int nboot, uint32_t seed,
                           double lo, double hi, phase_ucurve *u, cape_err *e)
{
    memset(u, 0, sizeof *u);
    u->n = n;
    u->nboot = nboot;
    if (n < 4)
        return 0; /* a quadratic through 3 points has no residual: not estimable */
    double xc = stats_mean(x, n), c[3];
    if (!quad_fit_centred(x, y, NULL, n, xc, c))
        return 0;
    u->estimable = 1;
    u->coef[0] = c[0];
    u->coef[1] = c[1] - 2 * c[0] * xc;
    u->coef[2] = c[2] - c[1] * xc + c[0] * xc * xc;
    u->vertex_is_min = c[0] > 0;
    u->vertex_log = xc - c[1] / (2 * c[0]);
    if (nboot <= 0)
        return 0;
    u->boot_log = malloc((size_t)nboot * sizeof *u->boot_log);
    int *idx = malloc((size_t)n * sizeof *idx);
    if (!u->boot_log || !idx) {
        free(idx);
        return err_set(e, CAPE_EFAIL, "out of memory");
    }
    /* numpy: np.random.seed(seed); each resample np.random.choice(n, n). */
    rng_mt r;
    rng_seed(&r, seed);
    for (int b = 0; b < nboot; b++) {
        for (int i = 0; i < n; i++)
            idx[i] = (int)rng_interval(&r, (uint64_t)(n - 1));
        if (!quad_fit_centred(x, y, idx, n, xc, c) || !(c[0] > 0))
            continue;
        double v = xc - c[1] / (2 * c[0]);
        if (v > lo && v < hi)
            u->boot_log[u->valid++] = v;
    }
    free(idx);
    if (u->valid == 0)
        return 0;
    double *s = malloc((size_t)u->valid * sizeof *s);
    if (!s)
        return err_set(e, CAPE_EFAIL, "out of memory");
    double mean = 0;
    for (int i = 0; i < u->valid; i++) {
        s[i] = pow(10, u->boot_log[i]);
        mean += s[i];
    }
    stats_sort(s, u->valid);
    u->mean = mean / u->valid;
    u->median = stats_percentile_sorted(s, u->valid, 50);
    u->lo68 = stats_percentile_sorted(s, u->valid, 16);
    u->hi68 = stats_percentile_sorted(s, u->valid, 84);
    u->lo95 = stats_percentile_sorted(s, u->valid, 2.5);
    u->hi95 = stats_percentile_sorted(s, u->valid, 97.5);
    free(s);
    return 0;
}

double phase_width_r(const double *reason, const double *truth, const double *d_model, int n,
                     double d_ref)
{
    double *v = malloc(2 * (size_t)n * sizeof *v);
    if (!v)
        return NAN;
    for (int i = 0; i < n; i++) {
        double w = d_model[i] / d_ref;
        v[i] = reason[i] / w;
        v[n + i] = truth[i] / w;
    }
    double r = stats_pearson(v, v + n, n);
    free(v);
    return r;
}

int phase_isocline_bonus(double reason_pct, double truth_pct, double k)
{
    return truth_pct / 100.0 > sqrt(k * reason_pct / 100.0);
}

static int corr_compute(const double *x, const double *y, int n, const phase_options *o,
                        phase_corr *c, cape_err *e)
{
    memset(c, 0, sizeof *c);
    c->n = n;
    c->r = c->p = c->rho = c->rho_p = NAN;
    if (n < 3)
        return 0;
    c->r = stats_pearson(x, y, n);
    c->p = stats_corr_pvalue(c->r, n);
    c->rho = stats_spearman(x, y, n);
    c->rho_p = stats_spearman_pvalue(x, y, n);
    if (isnan(c->r))
        return 0;
    return stats_perm_test(x, y, n, o->perm_side, o->perm_exact_max, o->perm_draws, o->seed,
                           &c->perm, e);
}

/* ---- grouping rows into families ---------------------------------------- */

static int family_wanted(const phase_options *o, const char *fam)
{
    if (!o->families)
        return 1;
    for (int i = 0; i < o->nfamilies; i++)
        if (strcasecmp(o->families[i], fam) == 0)
            return 1;
    return 0;
}

/* Every --family must name a family of the table (case-insensitively). */
static int check_families(const scores_table *t, const phase_options *o, cape_err *e)
{
    for (int k = 0; o->families && k < o->nfamilies; k++) {
        int found = 0;
        for (int i = 0; i < t->n && !found; i++)
            found = strcasecmp(t->model[i].family, o->families[k]) == 0;
        if (found)
            continue;
        char list[512] = "";
        size_t w = 0;
        int shown = 0, nfam = 0;
        for (int i = 0; i < t->n; i++) {
            int seen = 0;
            for (int j = 0; j < i && !seen; j++)
                seen = strcmp(t->model[j].family, t->model[i].family) == 0;
            if (seen)
                continue;
            nfam++;
            if (w + strlen(t->model[i].family) + 8 < sizeof list) {
                w += (size_t)snprintf(list + w, sizeof list - w, "%s%s", shown ? ", " : "",
                                      t->model[i].family);
                shown++;
            }
        }
        if (shown < nfam)
            snprintf(list + w, sizeof list - w, ", ... (%d in all)", nfam);
        return err_set(e, CAPE_EINPUT, "%s: no family '%s' (families: %s)", t->path,
                       o->families[k], list);
    }
    return 0;
}

static int cmp_rows_by_size(const void *a, const void *b, void *ctx)
{
    const scores_table *t = ctx;
    int i = *(const int *)a, j = *(const int *)b;
    double ni = t->model[i].params, nj = t->model[j].params;
    if (ni < nj)
        return -1;
    if (ni > nj)
        return 1;
    return i - j; /* stable: equal sizes keep table order */
}

static void sort_rows_by_size(const scores_table *t, int *rows, int n)
{
    qsort_r(rows, (size_t)n, sizeof *rows, cmp_rows_by_size, (void *)t);
}

static int has_pair(const scores_model *m, const phase_options *o)
{
    return !isnan(m->score[o->reasoning]) && !isnan(m->score[o->truth]) && !isnan(m->params);
}

typedef struct {
    char *name;
    int *rows;
    int n, nloss;
    int line; /* first row, for messages */
} group;

static int collect_groups(const scores_table *t, const phase_options *o, group **out, int *nout,
                          cape_err *e)
{
    group *g = NULL;
    int ng = 0;
    for (int i = 0; i < t->n; i++) {
        const scores_model *m = &t->model[i];
        if (!family_wanted(o, m->family) || !(m->params >= o->min_size) ||
            !(m->params <= o->max_size))
            continue;
        int k = 0;
        while (k < ng && strcmp(g[k].name, m->family) != 0)
            k++;
        if (k == ng) {
            group *ng2 = realloc(g, (size_t)(ng + 1) * sizeof *g);
            if (!ng2)
                goto oom;
            g = ng2;
            g[ng] = (group){m->family, malloc((size_t)t->n * sizeof(int)), 0, 0, m->line};
            if (!g[ng].rows)
                goto oom;
            ng++;
        }
        g[k].rows[g[k].n++] = i;
    }
    *out = g;
    *nout = ng;
    return 0;
oom:
    for (int k = 0; k < ng; k++)
        free(g[k].rows);
    free(g);
    return err_set(e, CAPE_EFAIL, "out of memory");
}

static int analyse_family(const scores_table *t, const phase_options *o, const group *g,
                          phase_family *f, cape_err *e)
{
    int n = 0;
    f->name = strdup(g->name);
    f->idx = malloc((size_t)g->n * sizeof *f->idx);
    f->point = malloc((size_t)g->n * sizeof *f->point);
    f->step = malloc((size_t)(g->n > 1 ? g->n : 1) * sizeof *f->step);
    double *buf = malloc(4 * (size_t)g->n * sizeof *buf);
    int *first = malloc((size_t)g->n * sizeof *first);
    if (!f->name || !f->idx || !f->point || !f->step || !buf || !first) {
        free(buf);
        free(first);
        return err_set(e, CAPE_EFAIL, "out of memory");
    }
    for (int i = 0; i < g->n; i++)
        if (has_pair(&t->model[g->rows[i]], o))
            f->idx[n++] = g->rows[i];
    sort_rows_by_size(t, f->idx, n);
    f->n = n;
    /* one point per size: models of the same size are averaged */
    double *lx = buf, *rs = buf + g->n, *ts = buf + 2 * g->n, *dm = buf + 3 * g->n;
    int width_ok = n >= 3, np = 0;
    for (int i = 0; i < n;) {
        int j = i;
        while (j + 1 < n && t->model[f->idx[j + 1]].params == t->model[f->idx[i]].params)
            j++;
        double r = 0, y = 0, w = 0;
        for (int k = i; k <= j; k++) {
            const scores_model *m = &t->model[f->idx[k]];
            r += m->score[o->reasoning];
            y += m->score[o->truth];
            w += m->d_model;
            f->point[k] = np;
        }
        if (j > i)
            f->nshared += j - i + 1;
        lx[np] = log10(t->model[f->idx[i]].params);
        rs[np] = r / (j - i + 1);
        ts[np] = y / (j - i + 1);
        dm[np] = w / (j - i + 1);
        width_ok &= !isnan(dm[np]);
        first[np++] = i;
        i = j + 1;
    }
    f->npoint = np;
    width_ok &= np >= 3;
    f->nstep = phase_running_coupling(lx, rs, ts, np, o->skip_delta, f->step);
    for (int k = 0; k < f->nstep; k++) {
        f->step[k].a = first[f->step[k].a];
        f->step[k].b = first[f->step[k].b];
    }
    free(first);
    n = np;
    double nc_log;
    f->nc_found = phase_family_nc(f->step, f->nstep, &nc_log, &f->nc_step_neg, &f->nc_step_pos);
    f->nc = f->nc_found ? pow(10, nc_log) : NAN;
    int rc = corr_compute(rs, ts, n, o, &f->corr, e);
    f->width.n = n;
    f->width.estimable = width_ok;
    f->width.r_raw = f->corr.r;
    f->width.r_norm = width_ok ? phase_width_r(rs, ts, dm, n, o->d_ref) : NAN;
    free(buf);
    return rc;
}

/* A model takes the coupling of the step that reaches it from the next
 * smaller model; the smallest model takes the step that leaves it. Skipped
 * steps are passed over to the nearest valid one on the same side. */
static void assign_model_phases(const phase_family *f, phase_diagnosis *d, const phase_options *o)
{
    for (int i = 0; i < f->n; i++) {
        double g = NAN;
        int p = f->point[i]; /* step k joins points k and k + 1 */
        for (int k = p - 1; k >= 0 && isnan(g); k--)
            g = f->step[k].gamma;
        for (int k = p; k < f->nstep && isnan(g); k++)
            g = f->step[k].gamma;
        int row = f->idx[i];
        d->row_gamma[row] = g;
        d->row_phase[row] = phase_classify(g, o->band);
    }
}

static int pooled_analyses(const scores_table *t, const phase_options *o, phase_diagnosis *d,
                           cape_err *e)
{
    int m = 0;
    int *rows = malloc((size_t)t->n * sizeof *rows);
    double *buf = malloc(6 * (size_t)(t->n + 1) * sizeof *buf);
    if (!rows || !buf) {
        free(rows);
        free(buf);
        return err_set(e, CAPE_EFAIL, "out of memory");
    }
    for (int i = 0; i < t->n; i++)
        if (d->row_family[i] >= 0)
            rows[m++] = i;
    double *x = buf, *r = buf + t->n, *y = buf + 2 * t->n;
    int rc = 0;
    /* population coupling over everything, then per phase */
    for (int i = 0; i < m; i++) {
        const scores_model *s = &t->model[rows[i]];
        x[i] = log10(s->params);
        r[i] = s->score[o->reasoning];
        y[i] = s->score[o->truth];
    }
    if ((rc = corr_compute(r, y, m, o, &d->pooled, e)))
        goto done;
    for (int p = 0; p < 3; p++) {
        int k = 0;
        double *pr = buf + 3 * t->n, *py = buf + 4 * t->n;
        for (int i = 0; i < m; i++)
            if (d->row_phase[rows[i]] == (phase_label)p) {
                pr[k] = r[i];
                py[k] = y[i];
                k++;
            }
        if ((rc = corr_compute(pr, py, k, o, &d->by_phase[p], e)))
            goto done;
    }
    /* the truth U-curve against log10 N and its bootstrap */
    if ((rc = phase_ucurve_bootstrap(x, y, m, o->nboot, o->seed, o->vertex_lo, o->vertex_hi,
                                     &d->ucurve, e)))
        goto done;
    /* pooled running coupling: all models sorted by size, consecutive pairs */
    sort_rows_by_size(t, rows, m);
    phase_gammafit *gf = &d->gfit;
    gf->x = malloc((size_t)(m > 1 ? m : 1) * sizeof *gf->x);
    gf->gamma = malloc((size_t)(m > 1 ? m : 1) * sizeof *gf->gamma);
    if (!gf->x || !gf->gamma) {
        rc = err_set(e, CAPE_EFAIL, "out of memory");
        goto done;
    }
    for (int i = 0; i + 1 < m; i++) {
        const scores_model *a = &t->model[rows[i]], *b = &t->model[rows[i + 1]];
        double dr = b->score[o->reasoning] - a->score[o->reasoning];
        if (fabs(dr) <= o->skip_delta)
            continue;
        gf->x[gf->npoint] = 0.5 * (log10(a->params) + log10(b->params));
        gf->gamma[gf->npoint++] = (b->score[o->truth] - a->score[o->truth]) / dr;
    }
    cape_err ignore = {0};
    if (gf->npoint >= 3 && stats_ols(gf->x, gf->gamma, gf->npoint, &gf->fit, &ignore) == 0) {
        gf->estimable = 1;
        gf->zero_ok = gf->fit.slope != 0;
        gf->zero_log = gf->zero_ok ? -gf->fit.intercept / gf->fit.slope : NAN;
        /* leave-one-out jackknife of the zero crossing */
        int q = gf->npoint;
        double *jx = buf, *jg = buf + t->n, *jz = buf + 2 * t->n;
        int nz = 0;
        for (int drop = 0; drop < q; drop++) {
            int k = 0;
            for (int i = 0; i < q; i++)
                if (i != drop) {
                    jx[k] = gf->x[i];
                    jg[k++] = gf->gamma[i];
                }
            ols_fit f;
            if (stats_ols(jx, jg, k, &f, &ignore) == 0 && f.slope != 0)
                jz[nz++] = pow(10, -f.intercept / f.slope);
            err_clear(&ignore);
        }
        gf->jk_n = nz;
        /* jackknife standard error: sqrt((n-1)/n * sum (z_i - mean)^2) */
        gf->jk_mean = stats_mean(jz, nz);
        gf->jk_sd = stats_sd(jz, nz, 0) * sqrt((double)(nz - 1));
    }
    /* isocline classifier against the coupling phases */
    for (int i = 0; i < m; i++) {
        const scores_model *s = &t->model[rows[i]];
        int iso = phase_isocline_bonus(s->score[o->reasoning], s->score[o->truth], o->isocline_k);
        d->row_iso_bonus[rows[i]] = iso;
        phase_label p = d->row_phase[rows[i]];
        if (p == PHASE_TAX || p == PHASE_BONUS) {
            d->iso_total++;
            d->iso_agree += (p == PHASE_BONUS) == iso;
        }
    }
done:
    free(rows);
    free(buf);
    return rc;
}

static int loss_laws(const scores_table *t, const phase_options *o, const group *g, int ng,
                     phase_diagnosis *d, cape_err *e)
{
    if (!t->has_column[BENCH_LOSS])
        return 0;
    d->loss = calloc((size_t)ng, sizeof *d->loss);
    double *buf = malloc(2 * (size_t)t->n * sizeof *buf);
    if (!d->loss || !buf) {
        free(buf);
        return err_set(e, CAPE_EFAIL, "out of memory");
    }
    for (int k = 0; k < ng; k++) {
        int n = 0;
        int *rows = g[k].rows;
        sort_rows_by_size(t, rows, g[k].n);
        for (int i = 0; i < g[k].n; i++) {
            const scores_model *m = &t->model[rows[i]];
            if (!isnan(m->score[BENCH_LOSS]) && !isnan(m->params)) {
                buf[n] = m->params;
                buf[t->n + n] = m->score[BENCH_LOSS];
                n++;
            }
        }
        if (n == 0)
            continue;
        losslaw_result *l = &d->loss[d->nloss++];
        losslaw_fit(buf, buf + t->n, n, o->loss_alpha, o->loss_e, l, e);
        l->family = strdup(g[k].name);
    }
    free(buf);
    return 0;
}

static int count_scored(const scores_table *t, const phase_options *o, const group *g, int *nloss)
{
    int n = 0;
    *nloss = 0;
    for (int i = 0; i < g->n; i++) {
        const scores_model *m = &t->model[g->rows[i]];
        n += has_pair(m, o);
        *nloss += !isnan(m->score[BENCH_LOSS]) && !isnan(m->params);
    }
    return n;
}

int phase_diagnose(const scores_table *t, const phase_options *o, phase_diagnosis *d, cape_err *e)
{
    memset(d, 0, sizeof *d);
    d->opt = *o;
    d->table = t;
    d->has_pair = t->has_column[o->reasoning] && t->has_column[o->truth];
    if (!t->has_params)
        return err_set(e, CAPE_EINPUT, "%s:1:1: no size column (expected 'params' or 'params_b')",
                       t->path);
    if (!d->has_pair && !t->has_column[BENCH_LOSS])
        return err_set(e, CAPE_EINPUT,
                       "%s:1:1: nothing to diagnose: no '%s' and '%s' columns and no loss column",
                       t->path, scores_bench_info(o->reasoning)->key,
                       scores_bench_info(o->truth)->key);
    group *g = NULL;
    int ng = 0, rc;
    if ((rc = check_families(t, o, e)) || (rc = collect_groups(t, o, &g, &ng, e)))
        return rc;
    if (ng == 0) {
        free(g);
        return err_set(e, CAPE_EINPUT, "%s: no rows of the requested families", t->path);
    }
    d->row_family = malloc((size_t)t->n * sizeof *d->row_family);
    d->row_gamma = malloc((size_t)t->n * sizeof *d->row_gamma);
    d->row_phase = malloc((size_t)t->n * sizeof *d->row_phase);
    d->row_iso_bonus = malloc((size_t)t->n * sizeof *d->row_iso_bonus);
    d->fam = calloc((size_t)ng + 1, sizeof *d->fam); /* +1: see phase_diagnosis_free */
    d->small = calloc((size_t)ng, sizeof *d->small);
    d->small_n = calloc((size_t)ng, sizeof *d->small_n);
    if (!d->row_family || !d->row_gamma || !d->row_phase || !d->row_iso_bonus || !d->fam ||
        !d->small || !d->small_n) {
        rc = err_set(e, CAPE_EFAIL, "out of memory");
        goto done;
    }
    for (int i = 0; i < t->n; i++) {
        d->row_family[i] = -1;
        d->row_gamma[i] = NAN;
        d->row_phase[i] = PHASE_UNKNOWN;
        d->row_iso_bonus[i] = -1;
    }
    for (int k = 0; k < ng; k++) {
        int nloss, n = count_scored(t, o, &g[k], &nloss);
        int usable = d->has_pair ? n : nloss;
        d->nmissing += g[k].n - n;
        for (int i = 0; i < g[k].n; i++)
            d->nmissing_size += isnan(t->model[g[k].rows[i]].params);
        if (usable < o->min_family) {
            if (o->strict) {
                rc = err_set(e, CAPE_EINPUT,
                             "%s:%d:1: family '%s' has %d model%s with %s; at least %d are needed "
                             "(without --strict such families are skipped)",
                             t->path, g[k].line, g[k].name, usable, usable == 1 ? "" : "s",
                             d->has_pair ? "both scores and a size" : "a loss and a size",
                             o->min_family);
                goto done;
            }
            d->small[d->nsmall] = strdup(g[k].name);
            d->small_n[d->nsmall++] = usable;
            g[k].n = 0; /* dropped from every analysis */
            continue;
        }
        if (!d->has_pair)
            continue;
        phase_family *f = &d->fam[d->nfam];
        if ((rc = analyse_family(t, o, &g[k], f, e)))
            goto done;
        for (int i = 0; i < f->n; i++)
            d->row_family[f->idx[i]] = d->nfam;
        assign_model_phases(f, d, o);
        d->nfam++;
    }
    if (d->has_pair && d->nfam > 0 && (rc = pooled_analyses(t, o, d, e)))
        goto done;
    if ((rc = loss_laws(t, o, g, ng, d, e)))
        goto done;
    if ((d->has_pair ? d->nfam : d->nloss) == 0) {
        char list[256] = "";
        for (int k = 0; k < d->nsmall; k++)
            snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s (%d)", k ? ", " : "",
                     d->small[k], d->small_n[k]);
        rc = err_set(e, CAPE_EINPUT,
                     "%s: no family has at least %d models with %s (families: %s; --min-family "
                     "lowers the bar)",
                     t->path, o->min_family,
                     d->has_pair ? "both scores and a size" : "a loss and a size", list);
    }
done:
    for (int k = 0; k < ng; k++)
        free(g[k].rows);
    free(g);
    return rc;
}

void phase_diagnosis_free(phase_diagnosis *d)
{
    for (int k = 0; k < d->nfam; k++) {
        free(d->fam[k].name);
        free(d->fam[k].idx);
        free(d->fam[k].point);
        free(d->fam[k].step);
    }
    /* a family that failed half-way still owns its buffers */
    if (d->fam && d->fam[d->nfam].name) {
        free(d->fam[d->nfam].name);
        free(d->fam[d->nfam].idx);
        free(d->fam[d->nfam].point);
        free(d->fam[d->nfam].step);
    }
    free(d->fam);
    for (int k = 0; k < d->nsmall; k++)
        free(d->small[k]);
    free(d->small);
    free(d->small_n);
    free(d->row_family);
    free(d->row_gamma);
    free(d->row_phase);
    free(d->row_iso_bonus);
    free(d->ucurve.boot_log);
    free(d->gfit.x);
    free(d->gfit.gamma);
    for (int k = 0; k < d->nloss; k++)
        free(d->loss[k].family);
    free(d->loss);
    memset(d, 0, sizeof *d);
}
