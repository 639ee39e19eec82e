#include "phase/falsify.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/rng.h"
#include "base/text.h"

void falsify_options_default(falsify_options *o)
{
    memset(o, 0, sizeof *o);
    phase_options_default(&o->po);
    o->nboot = 10000;
    o->stab_boot = 1000;
    o->nsim = 10000;
    o->nperm = 10000;
    o->nwidth = 10000;
    o->null_degree = 2;
    o->nc_below = 0;
    o->pub_lo = 2.9e9;
    o->pub_hi = 13.4e9;
}

/* The N_c the paper publishes (set B vertex bootstrap median), the fallback
 * split of "below N_c" when a table has no pooled vertex of its own. */
#define PUBLISHED_NC 3.4939e9

static int oom(cape_err *e)
{
    return err_set(e, CAPE_EFAIL, "out of memory");
}

static double median_sorted(double *v, int n, double q)
{
    return n > 0 ? stats_percentile_sorted(v, n, q) : NAN;
}

/* First negative -> positive step of gamma12 along points sorted by size;
 * NaN when none. step: scratch of n entries. */
static double family_nc(const double *x, const double *r, const double *t, int n, double skip,
                        phase_step *step)
{
    if (n < 3)
        return NAN;
    int ns = phase_running_coupling(x, r, t, n, skip, step), a, b;
    double nc;
    return phase_family_nc(step, ns, &nc, &a, &b) ? nc : NAN;
}

/* Zero of the least-squares line gamma12 = s log10 N + i over the steps
 * between consecutive entries of ord (sorted by size), when s > 0 (gamma12
 * turns from negative to positive); NaN otherwise. gx, gg: scratch. */
static double pooled_zero(const double *x, const double *r, const double *t, const int *ord, int m,
                          double skip, double *gx, double *gg)
{
    int k = 0;
    for (int i = 0; i + 1 < m; i++) {
        int a = ord[i], b = ord[i + 1];
        double dr = r[b] - r[a];
        if (fabs(dr) <= skip)
            continue;
        gx[k] = 0.5 * (x[a] + x[b]);
        gg[k++] = (t[b] - t[a]) / dr;
    }
    if (k < 3)
        return NAN;
    /* the least-squares line (stats_ols without its standard errors and p,
     * which this inner loop of the bootstrap does not need) */
    double mx = stats_mean(gx, k), my = stats_mean(gg, k), sxx = 0, sxy = 0;
    for (int i = 0; i < k; i++) {
        sxx += (gx[i] - mx) * (gx[i] - mx);
        sxy += (gx[i] - mx) * (gg[i] - my);
    }
    if (!(sxx > 0))
        return NAN;
    double slope = sxy / sxx;
    if (!(slope > 0))
        return NAN;
    return mx - my / slope;
}

static int cmp_by_x(const void *pa, const void *pb, void *ctx)
{
    const double *x = ctx;
    int a = *(const int *)pa, b = *(const int *)pb;
    if (x[a] < x[b])
        return -1;
    if (x[a] > x[b])
        return 1;
    return a - b;
}

static double vertex_of(const double *x, const double *y, const int *idx, int n, double xc)
{
    double c[3];
    if (!phase_quadratic_fit(x, y, idx, n, xc, c) || !(c[0] > 0))
        return NAN;
    return xc - c[1] / (2 * c[0]);
}

static int in_range(double v, const phase_options *po)
{
    return v > po->vertex_lo && v < po->vertex_hi;
}

static void ushape_init(falsify_ushape *u)
{
    memset(u, 0, sizeof *u);
    u->nc_log = u->vertex_log = u->nc_med = u->vertex_med = u->nc_lo = u->nc_hi = NAN;
    u->diff_med = u->diff_lo = u->diff_hi = NAN;
    u->coincide = -1;
}

int falsify_ushape_run(const double *x, const double *r, const double *t, int n, int pooled,
                       const falsify_options *o, falsify_ushape *u, cape_err *e)
{
    const phase_options *po = &o->po;
    ushape_init(u);
    u->n = n;
    if (n < 3)
        return 0;
    size_t sz = (size_t)n;
    int *ord = malloc(sz * sizeof *ord), *idx = malloc(sz * sizeof *idx),
        *sorted = malloc(sz * sizeof *sorted), *seen = malloc(sz * sizeof *seen);
    double *buf = malloc(5 * sz * sizeof *buf);
    phase_step *step = malloc(sz * sizeof *step);
    double *nb = NULL, *vb = NULL, *db = NULL;
    int rc = 0;
    if (!ord || !idx || !sorted || !seen || !buf || !step) {
        rc = oom(e);
        goto done;
    }
    double *gx = buf, *gg = buf + n, *sx = buf + 2 * n, *sr = buf + 3 * n, *st = buf + 4 * n;
    for (int i = 0; i < n; i++)
        ord[i] = i;
    if (pooled) {
        qsort_r(ord, sz, sizeof *ord, cmp_by_x, (void *)x);
        memcpy(sorted, ord, sz * sizeof *sorted);
        u->nc_log = pooled_zero(x, r, t, ord, n, po->skip_delta, gx, gg);
    } else {
        u->nc_log = family_nc(x, r, t, n, po->skip_delta, step);
    }
    double xc = stats_mean(x, n);
    if (n >= 4)
        u->vertex_log = vertex_of(x, t, NULL, n, xc);
    if (n < 4 || o->nboot <= 0)
        goto done; /* no vertex in a resample of fewer than four points */
    u->nboot = o->nboot;
    nb = malloc((size_t)o->nboot * sizeof *nb);
    vb = malloc((size_t)o->nboot * sizeof *vb);
    db = malloc((size_t)o->nboot * sizeof *db);
    if (!nb || !vb || !db) {
        rc = oom(e);
        goto done;
    }
    /* numpy: np.random.seed(seed); each resample np.random.choice(n, n) */
    rng_mt g;
    rng_seed(&g, po->seed);
    for (int b = 0; b < o->nboot; b++) {
        for (int i = 0; i < n; i++)
            idx[i] = (int)rng_interval(&g, (uint64_t)(n - 1));
        double v = vertex_of(x, t, idx, n, xc);
        int hv = isfinite(v) && in_range(v, po);
        double z;
        if (pooled) {
            /* the resample in size order: copies of a point are adjacent and
             * their steps (delta reasoning 0) are skipped, so each drawn point
             * once, in the size order of the data (ties keep their order) */
            memset(seen, 0, sz * sizeof *seen);
            for (int i = 0; i < n; i++)
                seen[idx[i]] = 1;
            int m = 0;
            for (int i = 0; i < n; i++)
                if (seen[sorted[i]])
                    ord[m++] = sorted[i];
            z = pooled_zero(x, r, t, ord, m, po->skip_delta, gx, gg);
        } else {
            /* a family's points have distinct sizes: a resample's distinct
             * points in size order (copies of a point are that point) */
            int seen_n = 0;
            memset(ord, 0, sz * sizeof *ord);
            for (int i = 0; i < n; i++)
                ord[idx[i]] = 1;
            for (int i = 0; i < n; i++)
                if (ord[i]) {
                    sx[seen_n] = x[i];
                    sr[seen_n] = r[i];
                    st[seen_n++] = t[i];
                }
            z = family_nc(sx, sr, st, seen_n, po->skip_delta, step);
        }
        int hz = isfinite(z) && in_range(z, po);
        if (hv)
            vb[u->n_vertex++] = v;
        if (hz)
            nb[u->n_nc++] = z;
        if (hv && hz)
            db[u->n_both++] = z - v;
    }
    stats_sort(nb, u->n_nc);
    stats_sort(vb, u->n_vertex);
    stats_sort(db, u->n_both);
    u->nc_med = median_sorted(nb, u->n_nc, 50);
    u->nc_lo = median_sorted(nb, u->n_nc, 2.5);
    u->nc_hi = median_sorted(nb, u->n_nc, 97.5);
    u->vertex_med = median_sorted(vb, u->n_vertex, 50);
    u->diff_med = median_sorted(db, u->n_both, 50);
    u->diff_lo = median_sorted(db, u->n_both, 2.5);
    u->diff_hi = median_sorted(db, u->n_both, 97.5);
    int need = o->nboot / 10 > 20 ? o->nboot / 10 : 20;
    if (u->n_both >= need)
        u->coincide = u->diff_lo <= 0 && u->diff_hi >= 0;
done:
    free(ord);
    free(idx);
    free(sorted);
    free(seen);
    free(buf);
    free(step);
    free(nb);
    free(vb);
    free(db);
    return rc;
}

/* Residuals of y after a least-squares polynomial of the given degree in x. */
static int residuals(const double *x, const double *y, int n, int degree, double *res)
{
    double c[4];
    cape_err ignore = {0};
    if (stats_polyfit(x, y, n, degree, c, &ignore) != 0)
        return -1;
    for (int i = 0; i < n; i++)
        res[i] = y[i] - stats_polyval(c, degree, x[i]);
    return 0;
}

static void partial_init(falsify_partial *p, int degree)
{
    memset(p, 0, sizeof *p);
    p->degree = degree;
    p->r = p->p_param = p->perm.r = p->perm.p = NAN;
}

int falsify_partial_run(const double *x, const double *r, const double *t, const int *fam_n,
                        int nfam, int degree, const falsify_options *o, falsify_partial *fam,
                        falsify_partial *out, cape_err *e)
{
    int total = 0, rc = 0;
    for (int k = 0; k < nfam; k++)
        total += fam_n[k];
    partial_init(out, degree);
    size_t sz = (size_t)(total > 0 ? total : 1);
    double *er = malloc(sz * sizeof *er), *et = malloc(sz * sizeof *et),
           *ep = malloc(sz * sizeof *ep);
    int *start = malloc((size_t)(nfam + 1) * sizeof *start),
        *len = malloc((size_t)(nfam + 1) * sizeof *len), *perm = malloc(sz * sizeof *perm);
    if (!er || !et || !ep || !start || !len || !perm) {
        rc = oom(e);
        goto done;
    }
    int m = 0, used = 0, off = 0;
    for (int k = 0; k < nfam; off += fam_n[k], k++) {
        int n = fam_n[k];
        partial_init(&fam[k], degree);
        fam[k].n = n;
        fam[k].nfam = 1;
        if (n < degree + 3 || residuals(x + off, r + off, n, degree, er + m) ||
            residuals(x + off, t + off, n, degree, et + m))
            continue;
        fam[k].r = stats_pearson(er + m, et + m, n);
        if (!isnan(fam[k].r)) {
            fam[k].p_param = stats_corr_pvalue(fam[k].r, n - degree);
            if ((rc = stats_perm_test(er + m, et + m, n, PERM_TWO_SIDED, o->po.perm_exact_max,
                                      (uint64_t)o->nperm, o->po.seed, &fam[k].perm, e)))
                goto done;
        }
        start[used] = m;
        len[used++] = n;
        m += n;
    }
    out->n = m;
    out->nfam = used;
    int dof = m - used * (degree + 1) - 1;
    if (used == 0 || m < 3 || dof < 1)
        goto done;
    out->r = stats_pearson(er, et, m);
    if (isnan(out->r))
        goto done;
    out->p_param = stats_corr_pvalue(out->r, dof + 2);
    if (o->nperm <= 0)
        goto done;
    /* truth residuals permuted within each family: numpy's
     * rs = RandomState(seed); per draw rs.shuffle(perm_k) for each family
     * in turn, the index arrays kept from draw to draw */
    rng_mt g;
    rng_seed(&g, o->po.seed);
    for (int i = 0; i < m; i++)
        perm[i] = 0;
    for (int k = 0; k < used; k++)
        for (int i = 0; i < len[k]; i++)
            perm[start[k] + i] = i;
    double thr = fabs(out->r) * (1 - 1e-9);
    uint64_t count = 0;
    for (int d = 0; d < o->nperm; d++) {
        for (int k = 0; k < used; k++) {
            rng_shuffle_int(&g, perm + start[k], len[k]);
            for (int i = 0; i < len[k]; i++)
                ep[start[k] + i] = et[start[k] + perm[start[k] + i]];
        }
        count += fabs(stats_pearson(er, ep, m)) >= thr;
    }
    out->perm.r = out->r;
    out->perm.count = count;
    out->perm.total = (uint64_t)o->nperm;
    out->perm.p = (double)(count + 1) / (double)(o->nperm + 1);
    out->perm.exact = 0;
done:
    free(er);
    free(et);
    free(ep);
    free(start);
    free(len);
    free(perm);
    return rc;
}

int falsify_null_simulate(const double *x, const double *r_mu, const double *t_mu,
                          const int *fam_n, const double *r_sd, const double *t_sd, int nfam,
                          const falsify_options *o, falsify_null *null, double *p_flip,
                          cape_err *e)
{
    int total = 0, nmax = 1;
    for (int k = 0; k < nfam; k++) {
        total += fam_n[k];
        nmax = fam_n[k] > nmax ? fam_n[k] : nmax;
    }
    null->nsim = o->nsim;
    null->p_flips = null->p_r_below = null->p_vertex_in = null->mean_flips = NAN;
    if (total == 0 || o->nsim <= 0)
        return 0;
    size_t sz = (size_t)total;
    double *rs = malloc(sz * sizeof *rs), *ts = malloc(sz * sizeof *ts),
           *br = malloc(sz * sizeof *br), *bt = malloc(sz * sizeof *bt);
    phase_step *step = malloc((size_t)nmax * sizeof *step);
    long *flips = calloc((size_t)(nfam > 0 ? nfam : 1), sizeof *flips);
    if (!rs || !ts || !br || !bt || !step || !flips) {
        free(rs);
        free(ts);
        free(br);
        free(bt);
        free(step);
        free(flips);
        return oom(e);
    }
    double below = log10(null->nc_below), plo = log10(o->pub_lo), phi = log10(o->pub_hi);
    double xc = stats_mean(x, total);
    int nbelow = 0;
    for (int i = 0; i < total; i++)
        nbelow += x[i] < below;
    long c_flips = 0, c_below = 0, c_vertex = 0, sum_flips = 0;
    rng_mt g;
    rng_seed(&g, o->po.seed);
    int has = 0;
    double saved = 0;
    for (int s = 0; s < o->nsim; s++) {
        int off = 0, nflip = 0;
        for (int k = 0; k < nfam; off += fam_n[k], k++) {
            int n = fam_n[k];
            for (int i = 0; i < n; i++)
                rs[off + i] = r_mu[off + i] + r_sd[k] * rng_gauss(&g, &has, &saved);
            for (int i = 0; i < n; i++)
                ts[off + i] = t_mu[off + i] + t_sd[k] * rng_gauss(&g, &has, &saved);
            int f = !isnan(family_nc(x + off, rs + off, ts + off, n, o->po.skip_delta, step));
            flips[k] += f;
            nflip += f;
        }
        sum_flips += nflip;
        c_flips += nflip >= null->flips_obs;
        if (nbelow >= 3) {
            int m = 0;
            for (int i = 0; i < total; i++)
                if (x[i] < below) {
                    br[m] = rs[i];
                    bt[m++] = ts[i];
                }
            double rr = stats_pearson(br, bt, m);
            c_below += rr <= null->r_below;
        }
        double v = total >= 4 ? vertex_of(x, ts, NULL, total, xc) : NAN;
        c_vertex += v >= plo && v <= phi;
    }
    double ns = o->nsim;
    null->p_flips = c_flips / ns;
    null->mean_flips = sum_flips / ns;
    null->p_r_below = nbelow >= 3 && !isnan(null->r_below) ? c_below / ns : NAN;
    null->p_vertex_in = total >= 4 ? c_vertex / ns : NAN;
    for (int k = 0; k < nfam; k++)
        p_flip[k] = flips[k] / ns;
    free(rs);
    free(ts);
    free(br);
    free(bt);
    free(step);
    free(flips);
    return 0;
}

int falsify_width_null(const double *r, const double *t, const double *dm, int n,
                       const falsify_options *o, falsify_width *w, cape_err *e)
{
    memset(w, 0, sizeof *w);
    w->n = n;
    w->r_raw = w->r_norm = w->null_mean = w->null_p05 = w->null_p95 = NAN;
    w->p_ge = w->share = NAN;
    if (n < 3)
        return 0;
    double lo = INFINITY, hi = -INFINITY;
    for (int i = 0; i < n; i++) {
        if (!(dm[i] > 0))
            return 0;
        double l = log(dm[i] / o->po.d_ref);
        lo = fmin(lo, l);
        hi = fmax(hi, l);
    }
    w->estimable = 1;
    w->r_raw = stats_pearson(r, t, n);
    w->r_norm = phase_width_r(r, t, dm, n, o->po.d_ref);
    w->ndraw = o->nwidth;
    if (o->nwidth <= 0)
        return 0;
    double *u = malloc((size_t)n * sizeof *u), *f = malloc((size_t)n * sizeof *f),
           *v = malloc((size_t)o->nwidth * sizeof *v);
    if (!u || !f || !v) {
        free(u);
        free(f);
        free(v);
        return oom(e);
    }
    /* numpy: rs = RandomState(seed); per draw u = sort(rs.random_sample(n)),
     * log factor = lo + (hi - lo) (u - u[0]) / (u[-1] - u[0]) */
    rng_mt g;
    rng_seed(&g, o->po.seed);
    long ge = 0;
    for (int d = 0; d < o->nwidth; d++) {
        for (int i = 0; i < n; i++)
            u[i] = rng_double(&g);
        stats_sort(u, n);
        double span = u[n - 1] - u[0];
        for (int i = 0; i < n; i++)
            f[i] = o->po.d_ref * exp(lo + (span > 0 ? (hi - lo) * (u[i] - u[0]) / span : 0));
        v[d] = phase_width_r(r, t, f, n, o->po.d_ref);
        ge += v[d] >= w->r_norm - 1e-12;
    }
    w->p_ge = (double)ge / o->nwidth;
    stats_spread z = stats_finite_spread(v, o->nwidth);
    w->null_mean = z.mean;
    w->null_p05 = z.p05;
    w->null_p95 = z.p95;
    if (w->r_norm != w->r_raw)
        w->share = (w->null_mean - w->r_raw) / (w->r_norm - w->r_raw);
    free(u);
    free(f);
    free(v);
    return 0;
}

/* ---- points: one per family size ------------------------------------------ */

static void family_free(falsify_family *f)
{
    free(f->name);
    free(f->x);
    free(f->r);
    free(f->t);
    free(f->dm);
}

/* The families of the table for the pair in po, as phase_diagnose forms them
 * (filters, --family, min_family), one point per size. */
static int build_points(const scores_table *t, const phase_options *po0, falsify_family **out,
                        int *nout, char ***small, int *nsmall, cape_err *e)
{
    phase_options po = *po0;
    po.nboot = 0;          /* only the grouping is needed */
    po.perm_exact_max = 0;
    po.perm_draws = 1;
    phase_diagnosis d;
    *out = NULL;
    *nout = 0;
    int rc = phase_diagnose(t, &po, &d, e);
    if (rc) {
        phase_diagnosis_free(&d);
        return rc;
    }
    if (!d.has_pair || d.nfam == 0) {
        rc = err_set(e, CAPE_EINPUT, "%s: no family has %s and %s scores with a size",
                     t->path, scores_bench_info(po.reasoning)->key,
                     scores_bench_info(po.truth)->key);
        phase_diagnosis_free(&d);
        return rc;
    }
    falsify_family *fam = calloc((size_t)d.nfam, sizeof *fam);
    if (!fam) {
        phase_diagnosis_free(&d);
        return oom(e);
    }
    int k;
    for (k = 0; k < d.nfam; k++) {
        const phase_family *pf = &d.fam[k];
        falsify_family *f = &fam[k];
        size_t np = (size_t)pf->npoint;
        f->name = strdup(pf->name);
        f->x = calloc(np, sizeof *f->x);
        f->r = calloc(np, sizeof *f->r);
        f->t = calloc(np, sizeof *f->t);
        f->dm = calloc(np, sizeof *f->dm);
        if (!f->name || !f->x || !f->r || !f->t || !f->dm) {
            k++;
            rc = oom(e);
            break;
        }
        f->n = pf->npoint;
        int *cnt = calloc(np, sizeof *cnt);
        if (!cnt) {
            k++;
            rc = oom(e);
            break;
        }
        for (int i = 0; i < pf->n; i++) {
            const scores_model *m = &t->model[pf->idx[i]];
            int p = pf->point[i];
            f->x[p] = log10(m->params);
            f->r[p] += m->score[po.reasoning];
            f->t[p] += m->score[po.truth];
            f->dm[p] += m->d_model;
            cnt[p]++;
        }
        for (int p = 0; p < f->n; p++) {
            f->r[p] /= cnt[p];
            f->t[p] /= cnt[p];
            f->dm[p] /= cnt[p];
        }
        free(cnt);
    }
    if (rc) {
        for (int j = 0; j < k; j++)
            family_free(&fam[j]);
        free(fam);
        phase_diagnosis_free(&d);
        return rc;
    }
    *out = fam;
    *nout = d.nfam;
    if (small) {
        *small = calloc((size_t)(d.nsmall > 0 ? d.nsmall : 1), sizeof **small);
        if (!*small) {
            phase_diagnosis_free(&d);
            return oom(e);
        }
        for (int j = 0; j < d.nsmall; j++)
            if (((*small)[j] = strdup(d.small[j])))
                (*nsmall)++;
    }
    phase_diagnosis_free(&d);
    return 0;
}

/* The pooled points of families fam[0..nf) except `skip_fam` and except the
 * points at log size `skip_x` (NaN: none). */
static int gather(const falsify_family *fam, int nf, int skip_fam, double skip_x, double *x,
                  double *r, double *t)
{
    int m = 0;
    for (int k = 0; k < nf; k++) {
        if (k == skip_fam)
            continue;
        for (int i = 0; i < fam[k].n; i++) {
            if (fam[k].x[i] == skip_x)
                continue;
            x[m] = fam[k].x[i];
            if (r)
                r[m] = fam[k].r[i];
            t[m++] = fam[k].t[i];
        }
    }
    return m;
}

static int boot_median(const double *x, const double *t, int n, int nboot,
                       const phase_options *po, phase_ucurve *u, double *med, cape_err *e)
{
    int rc = phase_ucurve_bootstrap(x, t, n, nboot, po->seed, po->vertex_lo, po->vertex_hi, u, e);
    *med = rc == 0 && u->valid > 0 ? u->median : NAN;
    free(u->boot_log);
    u->boot_log = NULL;
    return rc;
}

/* ---- test 4: benchmark pairs ----------------------------------------------- */

static void pair_vertex(falsify_pair *p, const phase_ucurve *u)
{
    if (!u->estimable)
        return;
    p->vertex_is_min = u->vertex_is_min;
    p->vertex_log = u->vertex_log;
    p->valid = u->valid;
    if (u->valid > 0) {
        p->median = u->median;
        p->lo95 = u->lo95;
        p->hi95 = u->hi95;
    }
}

static void pair_survives(falsify_pair *p, const falsify_options *o)
{
    p->survives = isfinite(p->gamma.nc_log) && in_range(p->gamma.nc_log, &o->po) &&
                  2 * p->gamma.n_nc >= o->nboot;
}

/* The table's own pair: its points and the pooled gamma12 bootstrap of test 1
 * are reused; only the truth vertex bootstrap (phase_ucurve_bootstrap, the
 * published estimator) is run. x, y: the pooled points. */
static int run_main_pair(const falsify_options *o, falsify_table *T, const double *x,
                         const double *y, cape_err *e)
{
    falsify_pair *p = &T->pair[T->npair++];
    memset(p, 0, sizeof *p);
    p->reasoning = o->po.reasoning;
    p->truth = o->po.truth;
    p->nboot = o->nboot;
    p->vertex_log = p->median = p->lo95 = p->hi95 = NAN;
    p->present = 1;
    p->nfam = T->nfam;
    p->nflip = T->null.flips_obs;
    p->npoint = T->npoint;
    p->gamma = T->pooled_ushape;
    phase_ucurve u;
    int rc = phase_ucurve_bootstrap(x, y, T->npoint, o->nboot, o->po.seed, o->po.vertex_lo,
                                    o->po.vertex_hi, &u, e);
    if (rc == 0)
        pair_vertex(p, &u);
    free(u.boot_log);
    pair_survives(p, o);
    return rc;
}

static int run_pair(const scores_table *t, const falsify_options *o, falsify_pair *p,
                    cape_err *e)
{
    p->nboot = o->nboot;
    ushape_init(&p->gamma);
    p->vertex_log = p->median = p->lo95 = p->hi95 = NAN;
    if (!t->has_column[p->reasoning] || !t->has_column[p->truth])
        return 0;
    phase_options po = o->po;
    po.reasoning = p->reasoning;
    po.truth = p->truth;
    falsify_family *fam;
    int nf, rc;
    cape_err pe = {0};
    if (build_points(t, &po, &fam, &nf, NULL, NULL, &pe)) {
        if (pe.code == CAPE_EFAIL)
            return err_set(e, pe.code, "%s", pe.msg);
        return 0; /* the pair has no family with enough models */
    }
    p->present = 1;
    p->nfam = nf;
    int total = 0, nmax = 1;
    for (int k = 0; k < nf; k++) {
        total += fam[k].n;
        nmax = fam[k].n > nmax ? fam[k].n : nmax;
    }
    double *x = malloc(2 * (size_t)total * sizeof *x);
    phase_step *step = malloc((size_t)nmax * sizeof *step);
    if (!x || !step) {
        rc = oom(e);
        goto done;
    }
    for (int k = 0; k < nf; k++)
        p->nflip += !isnan(family_nc(fam[k].x, fam[k].r, fam[k].t, fam[k].n, po.skip_delta,
                                     step));
    double *y = x + total;
    p->npoint = gather(fam, nf, -1, NAN, x, NULL, y);
    phase_ucurve u;
    rc = phase_ucurve_bootstrap(x, y, p->npoint, o->nboot, po.seed, po.vertex_lo, po.vertex_hi,
                                &u, e);
    if (rc == 0)
        pair_vertex(p, &u);
    free(u.boot_log);
    if (rc == 0) {
        double *xr = malloc(3 * (size_t)total * sizeof *xr);
        if (!xr) {
            rc = oom(e);
            goto done;
        }
        gather(fam, nf, -1, NAN, xr, xr + total, xr + 2 * total);
        falsify_options o2 = *o;
        o2.po = po;
        rc = falsify_ushape_run(xr, xr + total, xr + 2 * total, p->npoint, 1, &o2, &p->gamma, e);
        free(xr);
        pair_survives(p, o);
    }
done:
    free(x);
    free(step);
    for (int k = 0; k < nf; k++)
        family_free(&fam[k]);
    free(fam);
    return rc;
}

static int run_pairs(const scores_table *t, const falsify_options *o, falsify_table *T,
                     cape_err *e)
{
    static const bench_id REASON[] = {BENCH_HELLASWAG, BENCH_ARC, BENCH_WINOGRANDE, BENCH_MMLU,
                                      BENCH_GSM8K};
    static const bench_id CONTROL[] = {BENCH_WINOGRANDE, BENCH_ARC, BENCH_MMLU};
    bench_id list[8];
    int n = 0;
    for (size_t i = 0; i < sizeof REASON / sizeof *REASON; i++)
        if (REASON[i] != o->po.reasoning && REASON[i] != o->po.truth)
            list[n++] = REASON[i];
    for (int i = 0; i < n; i++) {
        falsify_pair *p = &T->pair[T->npair++];
        p->reasoning = list[i];
        p->truth = o->po.truth;
        int rc = run_pair(t, o, p, e);
        if (rc)
            return rc;
    }
    /* negative control: the reasoning benchmark against another capability */
    for (size_t i = 0; i < sizeof CONTROL / sizeof *CONTROL; i++) {
        bench_id c = CONTROL[i];
        if (c == o->po.reasoning || c == o->po.truth || !t->has_column[c] ||
            !t->has_column[o->po.reasoning])
            continue;
        falsify_pair *p = &T->pair[T->npair++];
        p->reasoning = o->po.reasoning;
        p->truth = c;
        p->control = 1;
        int rc = run_pair(t, o, p, e);
        if (rc)
            return rc;
        if (p->present)
            break;
        T->npair--; /* try the next control */
        memset(p, 0, sizeof *p);
    }
    return 0;
}

/* ---- test 5: stability ------------------------------------------------------ */

static void drop_summary(const falsify_drop *d, int n, double all, double *mn, double *mx,
                         int *most)
{
    *mn = INFINITY;
    *mx = -INFINITY;
    *most = -1;
    double best = -1;
    for (int i = 0; i < n; i++) {
        if (!isfinite(d[i].nc))
            continue;
        *mn = fmin(*mn, d[i].nc);
        *mx = fmax(*mx, d[i].nc);
        double move = isfinite(all) ? fabs(log10(d[i].nc) - log10(all)) : 0;
        if (move > best) {
            best = move;
            *most = i;
        }
    }
    if (*most < 0)
        *mn = *mx = NAN;
}

static int run_stability(const falsify_options *o, falsify_table *T, double *x, double *y,
                         cape_err *e)
{
    falsify_stability *s = &T->stab;
    s->nboot = o->stab_boot;
    phase_ucurve u;
    int m = gather(T->fam, T->nfam, -1, NAN, x, NULL, y), rc;
    if ((rc = boot_median(x, y, m, o->stab_boot, &o->po, &u, &s->nc_all, e)))
        return rc;
    if (T->nfam >= 2) {
        s->fam = calloc((size_t)T->nfam, sizeof *s->fam);
        if (!s->fam)
            return oom(e);
        for (int k = 0; k < T->nfam; k++) {
            falsify_drop *d = &s->fam[s->nfam++];
            d->label = strdup(T->fam[k].name);
            if (!d->label)
                return oom(e);
            d->npoint = gather(T->fam, T->nfam, k, NAN, x, NULL, y);
            if ((rc = boot_median(x, y, d->npoint, o->stab_boot, &o->po, &u, &d->nc, e)))
                return rc;
        }
    }
    /* distinct sizes over all families, ascending */
    double *sizes = malloc((size_t)(m > 0 ? m : 1) * sizeof *sizes);
    if (!sizes)
        return oom(e);
    gather(T->fam, T->nfam, -1, NAN, sizes, NULL, y);
    stats_sort(sizes, m);
    int nd = 0;
    for (int i = 0; i < m; i++)
        if (nd == 0 || sizes[i] != sizes[nd - 1])
            sizes[nd++] = sizes[i];
    s->size = calloc((size_t)(nd > 0 ? nd : 1), sizeof *s->size);
    if (!s->size) {
        free(sizes);
        return oom(e);
    }
    for (int i = 0; i < nd && nd >= 2; i++) {
        falsify_drop *d = &s->size[s->nsize++];
        char lab[32];
        text_format_size(pow(10, sizes[i]), lab, sizeof lab);
        d->label = strdup(lab);
        if (!d->label) {
            free(sizes);
            return oom(e);
        }
        d->npoint = gather(T->fam, T->nfam, -1, sizes[i], x, NULL, y);
        if ((rc = boot_median(x, y, d->npoint, o->stab_boot, &o->po, &u, &d->nc, e))) {
            free(sizes);
            return rc;
        }
    }
    free(sizes);
    drop_summary(s->fam, s->nfam, s->nc_all, &s->fam_min, &s->fam_max, &s->fam_most);
    drop_summary(s->size, s->nsize, s->nc_all, &s->size_min, &s->size_max, &s->size_most);
    return 0;
}

/* ---- one table ---------------------------------------------------------------- */

static int run_table(const scores_table *t, const falsify_options *o, falsify_table *T,
                     cape_err *e)
{
    T->path = strdup(t->path ? t->path : "");
    if (!T->path)
        return oom(e);
    int rc = build_points(t, &o->po, &T->fam, &T->nfam, &T->small, &T->nsmall, e);
    if (rc)
        return rc;
    int total = 0;
    for (int k = 0; k < T->nfam; k++)
        total += T->fam[k].n;
    T->npoint = total;
    size_t sz = (size_t)total;
    double *x = malloc(sz * sizeof *x), *r = malloc(sz * sizeof *r), *y = malloc(sz * sizeof *y),
           *rm = malloc(sz * sizeof *rm), *ym = malloc(sz * sizeof *ym),
           *rsd = malloc((size_t)T->nfam * sizeof *rsd),
           *ysd = malloc((size_t)T->nfam * sizeof *ysd),
           *pf = malloc((size_t)T->nfam * sizeof *pf);
    int *fam_n = malloc((size_t)T->nfam * sizeof *fam_n);
    falsify_partial *part = malloc((size_t)T->nfam * sizeof *part);
    phase_step *step = malloc(sz * sizeof *step);
    if (!x || !r || !y || !rm || !ym || !rsd || !ysd || !pf || !fam_n || !part || !step) {
        rc = oom(e);
        goto done;
    }
    gather(T->fam, T->nfam, -1, NAN, x, r, y);
    int off = 0;
    for (int k = 0; k < T->nfam; off += T->fam[k].n, k++) {
        falsify_family *f = &T->fam[k];
        fam_n[k] = f->n;
        /* test 1 */
        if ((rc = falsify_ushape_run(f->x, f->r, f->t, f->n, 0, o, &f->ushape, e)))
            goto done;
        f->flips = !isnan(family_nc(f->x, f->r, f->t, f->n, o->po.skip_delta, step));
        /* test 2: each benchmark's own trend in log10 N and its residual SD */
        int deg = o->null_degree < f->n - 2 ? o->null_degree : f->n - 2;
        deg = deg < 0 ? 0 : deg;
        f->null_degree = deg;
        double c[4], ssr_r = 0, ssr_t = 0;
        cape_err ig = {0};
        if (stats_polyfit(f->x, f->r, f->n, deg, c, &ig)) {
            rc = err_set(e, CAPE_EINPUT, "%s: family '%s': %s", t->path, f->name, ig.msg);
            goto done;
        }
        for (int i = 0; i < f->n; i++) {
            rm[off + i] = stats_polyval(c, deg, f->x[i]);
            ssr_r += (f->r[i] - rm[off + i]) * (f->r[i] - rm[off + i]);
        }
        if (stats_polyfit(f->x, f->t, f->n, deg, c, &ig)) {
            rc = err_set(e, CAPE_EINPUT, "%s: family '%s': %s", t->path, f->name, ig.msg);
            goto done;
        }
        for (int i = 0; i < f->n; i++) {
            ym[off + i] = stats_polyval(c, deg, f->x[i]);
            ssr_t += (f->t[i] - ym[off + i]) * (f->t[i] - ym[off + i]);
        }
        int dof = f->n - deg - 1;
        f->r_sd = rsd[k] = dof > 0 ? sqrt(ssr_r / dof) : 0;
        f->t_sd = ysd[k] = dof > 0 ? sqrt(ssr_t / dof) : 0;
        T->null.flips_obs += f->flips;
        /* test 6 */
        if ((rc = falsify_width_null(f->r, f->t, f->dm, f->n, o, &f->width, e)))
            goto done;
    }
    if ((rc = falsify_ushape_run(x, r, y, total, 1, o, &T->pooled_ushape, e)))
        goto done;
    /* test 4's own pair first: its vertex bootstrap gives the default N_c of test 2 */
    if ((rc = run_main_pair(o, T, x, y, e)))
        goto done;
    /* test 2 */
    falsify_null *nl = &T->null;
    if (o->nc_below > 0) {
        nl->nc_below = o->nc_below;
        nl->nc_below_from = 0;
    } else {
        const falsify_pair *mp = &T->pair[0];
        int ok = isfinite(mp->median) && 2 * mp->valid >= o->nboot;
        nl->nc_below = ok ? mp->median : PUBLISHED_NC;
        nl->nc_below_from = ok ? 1 : 2;
    }
    {
        double *br = malloc(2 * sz * sizeof *br);
        if (!br) {
            rc = oom(e);
            goto done;
        }
        int m = 0;
        for (int i = 0; i < total; i++)
            if (x[i] < log10(nl->nc_below)) {
                br[m] = r[i];
                br[total + m++] = y[i];
            }
        nl->n_below = m;
        nl->r_below = m >= 3 ? stats_pearson(br, br + total, m) : NAN;
        free(br);
    }
    nl->vertex_obs_log = T->pooled_ushape.vertex_log;
    nl->vertex_in_obs = nl->vertex_obs_log >= log10(o->pub_lo) &&
                        nl->vertex_obs_log <= log10(o->pub_hi);
    if ((rc = falsify_null_simulate(x, rm, ym, fam_n, rsd, ysd, T->nfam, o, nl, pf, e)))
        goto done;
    for (int k = 0; k < T->nfam; k++)
        T->fam[k].p_flip = pf[k];
    /* test 3 */
    for (int j = 0; j < 2; j++) {
        if ((rc = falsify_partial_run(x, r, y, fam_n, T->nfam, j + 1, o, part,
                                      &T->pooled_partial[j], e)))
            goto done;
        for (int k = 0; k < T->nfam; k++)
            T->fam[k].partial[j] = part[k];
    }
    /* tests 4 and 5 */
    if ((rc = run_pairs(t, o, T, e)))
        goto done;
    rc = run_stability(o, T, x, y, e);
done:
    free(x);
    free(r);
    free(y);
    free(rm);
    free(ym);
    free(rsd);
    free(ysd);
    free(pf);
    free(fam_n);
    free(part);
    free(step);
    return rc;
}

int falsify_run(const scores_table *const *tables, int nt, const falsify_options *o,
                falsify_result *r, cape_err *e)
{
    memset(r, 0, sizeof *r);
    r->opt = *o;
    if (o->nboot < 0 || o->nsim < 0 || o->nperm < 0 || o->nwidth < 0 || o->stab_boot < 0)
        return err_set(e, CAPE_EINPUT, "falsify: negative resample count");
    if (!(o->pub_lo > 0) || !(o->pub_hi > o->pub_lo))
        return err_set(e, CAPE_EINPUT, "falsify: the published interval needs 0 < LO < HI");
    r->t = calloc((size_t)(nt > 0 ? nt : 1), sizeof *r->t);
    if (!r->t)
        return oom(e);
    for (int i = 0; i < nt; i++) {
        r->nt = i + 1;
        int rc = run_table(tables[i], o, &r->t[i], e);
        if (rc)
            return rc;
    }
    return 0;
}

void falsify_result_free(falsify_result *r)
{
    for (int i = 0; i < r->nt; i++) {
        falsify_table *T = &r->t[i];
        free(T->path);
        for (int k = 0; k < T->nfam; k++)
            family_free(&T->fam[k]);
        free(T->fam);
        for (int k = 0; k < T->nsmall; k++)
            free(T->small[k]);
        free(T->small);
        for (int k = 0; k < T->stab.nfam; k++)
            free(T->stab.fam[k].label);
        for (int k = 0; k < T->stab.nsize; k++)
            free(T->stab.size[k].label);
        free(T->stab.fam);
        free(T->stab.size);
    }
    free(r->t);
    memset(r, 0, sizeof *r);
}
