#include "phase/ode.h"

#include <gsl/gsl_errno.h>
#include <gsl/gsl_linalg.h>
#include <gsl/gsl_matrix.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/json.h"
#include "stats/stats.h"

static const char *FIT_NAMES[] = {"linear", "sindy", "ucurve"};

const char *ode_fit_name(ode_fit_kind k)
{
    return (unsigned)k <= ODE_FIT_UCURVE ? FIT_NAMES[k] : "?";
}

void ode_options_default(ode_options *o)
{
    memset(o, 0, sizeof *o);
    o->fit = ODE_FIT_LINEAR;
    const bench_id five[] = {BENCH_HELLASWAG, BENCH_TRUTHFULQA_MC2, BENCH_ARC, BENCH_WINOGRANDE,
                             BENCH_MMLU};
    o->nbench = 5;
    memcpy(o->bench, five, sizeof five);
    odeint_default(&o->integ);
    o->grid = 200;
    regress_stlsq_default(&o->stlsq);
    o->degree = 3;
    o->nlambda = 13;
    o->lambda_lo = 0.01;
    o->lambda_hi = 1;
    o->target = BENCH_TRUTHFULQA_MC2;
    o->poly_degree = 2;
    o->baseline_max = 4;
    o->slope_x = BENCH_HELLASWAG;
    o->slope_y = BENCH_TRUTHFULQA_MC2;
    o->tax_max = 1e9;
    o->bonus_min = 2.8e9;
}

static void copy_msg(char *dst, size_t n, const char *src)
{
    size_t len = strlen(src);
    if (len >= n)
        len = n - 1;
    memcpy(dst, src, len);
    dst[len] = 0;
}

/* ---- data ---------------------------------------------------------------- */

static void file_stem(const char *path, char *out, size_t n)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    snprintf(out, n, "%s", base);
    char *dot = strrchr(out, '.');
    if (dot && dot != out)
        *dot = 0;
}

typedef struct {
    const scores_model *m;
    const char *table;
} member;

typedef struct {
    char *name;
    member *mem;
    int n, cap;
} group;

static int cmp_member(const void *a, const void *b)
{
    double x = ((const member *)a)->m->params, y = ((const member *)b)->m->params;
    return (x > y) - (x < y);
}

static int add_member(group **g, int *ng, const char *fam, const scores_model *m,
                      const char *table, cape_err *e)
{
    int k = 0;
    while (k < *ng && strcmp((*g)[k].name, fam) != 0)
        k++;
    if (k == *ng) {
        group *ng2 = realloc(*g, (size_t)(*ng + 1) * sizeof **g);
        if (!ng2)
            return err_set(e, CAPE_EFAIL, "out of memory");
        *g = ng2;
        memset(&(*g)[k], 0, sizeof **g);
        if (!((*g)[k].name = strdup(fam)))
            return err_set(e, CAPE_EFAIL, "out of memory");
        (*ng)++;
    }
    group *gr = &(*g)[k];
    if (gr->n == gr->cap) {
        int cap = gr->cap ? 2 * gr->cap : 8;
        member *mm = realloc(gr->mem, (size_t)cap * sizeof *mm);
        if (!mm)
            return err_set(e, CAPE_EFAIL, "out of memory");
        gr->mem = mm;
        gr->cap = cap;
    }
    gr->mem[gr->n++] = (member){m, table};
    return 0;
}

static int traj_from_group(group *g, const ode_options *o, ode_traj *tr, ode_data *note,
                           cape_err *e)
{
    /* table order among equal sizes, so the name kept for a point is the first row's */
    for (int i = 1; i < g->n; i++)
        for (int k = i; k > 0 && cmp_member(&g->mem[k - 1], &g->mem[k]) > 0; k--) {
            member tmp = g->mem[k];
            g->mem[k] = g->mem[k - 1];
            g->mem[k - 1] = tmp;
        }
    int npt = 0;
    for (int i = 0; i < g->n; i++)
        npt += i == 0 || g->mem[i].m->params != g->mem[i - 1].m->params;
    tr->family = strdup(g->name);
    tr->n = npt;
    tr->log_n = malloc((size_t)(npt ? npt : 1) * sizeof *tr->log_n);
    tr->b = calloc((size_t)(npt ? npt : 1) * o->nbench, sizeof *tr->b);
    tr->name = malloc((size_t)(npt ? npt : 1) * sizeof *tr->name);
    if (!tr->family || !tr->log_n || !tr->b || !tr->name)
        return err_set(e, CAPE_EFAIL, "out of memory");
    /* models of one size are one point: their scores are averaged (as in diagnose) */
    for (int i = 0, p = 0; i < g->n; p++) {
        int j = i;
        while (j + 1 < g->n && g->mem[j + 1].m->params == g->mem[i].m->params)
            j++;
        const scores_model *m = g->mem[i].m;
        tr->log_n[p] = log10(m->params);
        tr->name[p] = m->name;
        for (int k = i; k <= j; k++) {
            for (int b = 0; b < o->nbench; b++)
                tr->b[p * o->nbench + b] += g->mem[k].m->score[o->bench[b]] / (j - i + 1);
            if (j > i) {
                size_t len = strlen(note->duplicate);
                snprintf(note->duplicate + len, sizeof note->duplicate - len, "%s%s",
                         note->nduplicate ? ", " : "", g->mem[k].m->name);
                note->nduplicate++;
            }
        }
        i = j + 1;
    }
    return 0;
}

static void traj_free(ode_traj *t)
{
    free(t->family);
    free(t->log_n);
    free(t->b);
    free(t->name);
}

void ode_data_free(ode_data *d)
{
    if (!d)
        return;
    for (int i = 0; i < d->ntraj; i++)
        traj_free(&d->traj[i]);
    free(d->traj);
    memset(d, 0, sizeof *d);
}

static int usable(const scores_model *m, const ode_options *o)
{
    if (!(m->params > 0) || !isfinite(m->params))
        return 0;
    for (int j = 0; j < o->nbench; j++)
        if (!isfinite(m->score[o->bench[j]]))
            return 0;
    return 1;
}

int ode_data_build(const scores_table *const *tables, int ntables, const ode_options *o,
                   const char *holdout, ode_data *train, ode_data *test, cape_err *e)
{
    memset(train, 0, sizeof *train);
    if (test)
        memset(test, 0, sizeof *test);
    group *g = NULL;
    int ng = 0, rc = 0, nskipped = 0;
    for (int k = 0; k < ntables && rc == 0; k++) {
        const scores_table *t = tables[k];
        char stem[256];
        file_stem(t->path ? t->path : "table", stem, sizeof stem);
        for (int i = 0; i < t->n && rc == 0; i++) {
            const scores_model *m = &t->model[i];
            if (!usable(m, o)) {
                nskipped++;
                continue;
            }
            /* families from a family column, or from the names when they give several;
             * otherwise the table is one trajectory named after its file */
            rc = add_member(&g, &ng, t->has_family || t->families_inferred > 1 ? m->family : stem,
                            m, t->path, e);
        }
    }
    ode_data *dst[2] = {train, test};
    for (int s = 0; s < 2; s++)
        if (dst[s]) {
            dst[s]->nbench = o->nbench;
            memcpy(dst[s]->bench, o->bench, sizeof o->bench);
            dst[s]->traj = calloc((size_t)(ng ? ng : 1), sizeof *dst[s]->traj);
            if (!dst[s]->traj && rc == 0)
                rc = err_set(e, CAPE_EFAIL, "out of memory");
        }
    train->nskipped = nskipped;
    int found = 0;
    for (int k = 0; k < ng && rc == 0; k++) {
        int is_test = holdout && strcasecmp(g[k].name, holdout) == 0;
        ode_data *d = is_test ? test : train;
        found |= is_test;
        if (rc == 0)
            rc = traj_from_group(&g[k], o, &d->traj[d->ntraj], train, e);
        d->ntraj++;
        if (rc == 0 && is_test && d->traj[d->ntraj - 1].n < 2)
            rc = err_set(e, CAPE_EINPUT,
                         "hold-out family '%s' has %d usable size(s); prediction needs a first "
                         "model and at least one more size",
                         g[k].name, d->traj[d->ntraj - 1].n);
    }
    if (rc == 0 && holdout && !found) {
        char list[512] = "";
        for (int k = 0; k < ng; k++)
            snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", k ? ", " : "",
                     g[k].name);
        rc = err_set(e, CAPE_EINPUT, "hold-out family '%s' not found (families: %s)", holdout,
                     ng ? list : "none with every score of the state");
    }
    if (rc == 0 && train->ntraj == 0)
        rc = err_set(e, CAPE_EINPUT,
                     "no training family has a size and every benchmark of the state");
    for (int k = 0; k < ng; k++) {
        free(g[k].name);
        free(g[k].mem);
    }
    free(g);
    if (rc) {
        ode_data_free(train);
        ode_data_free(test);
    }
    return rc;
}

/* ---- fitting ------------------------------------------------------------- */

/* Finite differences at interval midpoints over every training trajectory:
 * mid (rows x nb) and deriv (rows x nb), both in points. */
static int difference_rows(const ode_data *d, double **mid, double **deriv, int *rows,
                           cape_err *e)
{
    int nb = d->nbench, r = 0;
    for (int k = 0; k < d->ntraj; k++)
        r += d->traj[k].n > 1 ? d->traj[k].n - 1 : 0;
    *rows = r;
    *mid = malloc((size_t)(r ? r : 1) * nb * sizeof **mid);
    *deriv = malloc((size_t)(r ? r : 1) * nb * sizeof **deriv);
    if (!*mid || !*deriv)
        return err_set(e, CAPE_EFAIL, "out of memory");
    r = 0;
    for (int k = 0; k < d->ntraj; k++) {
        const ode_traj *t = &d->traj[k];
        for (int i = 0; i + 1 < t->n; i++, r++) {
            double dt = t->log_n[i + 1] - t->log_n[i];
            for (int j = 0; j < nb; j++) {
                double a = t->b[i * nb + j], b = t->b[(i + 1) * nb + j];
                (*mid)[r * nb + j] = 0.5 * (a + b);
                (*deriv)[r * nb + j] = (b - a) / dt;
            }
        }
    }
    return 0;
}

static int fit_linear(const double *mid, const double *deriv, int rows, int nb, ode_model *m,
                      cape_err *e)
{
    int p = nb + 1;
    if (rows < p) {
        snprintf(m->why, sizeof m->why,
                 "a dense linear ODE in %d benchmarks has %d unknowns per equation; the training "
                 "families give only %d interval(s)",
                 nb, p, rows);
        return 0;
    }
    double *A = malloc((size_t)rows * p * sizeof *A), *X = malloc((size_t)p * nb * sizeof *X);
    if (!A || !X) {
        free(A), free(X);
        return err_set(e, CAPE_EFAIL, "out of memory");
    }
    for (int r = 0; r < rows; r++) {
        memcpy(&A[r * p], &mid[r * nb], (size_t)nb * sizeof *A);
        A[r * p + nb] = 1;
    }
    int rc = regress_solve(A, rows, p, deriv, nb, 0, X, &m->rank, e);
    if (rc == 0 && m->rank < p) {
        snprintf(m->why, sizeof m->why,
                 "the finite-difference system is singular (rank %d of %d): some benchmarks move "
                 "together exactly",
                 m->rank, p);
    } else if (rc == 0) {
        m->coef = malloc((size_t)nb * p * sizeof *m->coef);
        if (!m->coef) {
            rc = err_set(e, CAPE_EFAIL, "out of memory");
        } else {
            for (int i = 0; i < nb; i++)
                for (int j = 0; j < p; j++)
                    m->coef[i * p + j] = X[j * nb + i];
            double ss = 0;
            for (int r = 0; r < rows; r++) {
                double f[ODE_MAX_BENCH];
                m->estimable = 1;
                ode_rhs_eval(m, &mid[r * nb], f);
                for (int i = 0; i < nb; i++)
                    ss += (f[i] - deriv[r * nb + i]) * (f[i] - deriv[r * nb + i]);
            }
            m->resid_rms = sqrt(ss / ((double)rows * nb));
        }
    }
    free(A), free(X);
    return rc;
}

/* Monomials of total degree <= deg in nb variables, in PySINDy's order:
 * 1, x_i, then combinations with replacement of each degree. */
static int build_terms(int nb, int deg, ode_model *m, cape_err *e)
{
    int cap = 1, idx[8];
    for (int d = 1; d <= deg; d++) {
        long c = 1; /* C(nb + d - 1, d) */
        for (int k = 1; k <= d; k++)
            c = c * (nb + d - k) / k;
        cap += (int)c;
    }
    m->expo = calloc((size_t)cap * nb, 1);
    if (!m->expo)
        return err_set(e, CAPE_EFAIL, "out of memory");
    int t = 1; /* term 0: the constant */
    for (int d = 1; d <= deg; d++) {
        for (int k = 0; k < d; k++)
            idx[k] = 0;
        for (;;) {
            for (int k = 0; k < d; k++)
                m->expo[t * nb + idx[k]]++;
            t++;
            int k = d - 1;
            while (k >= 0 && idx[k] == nb - 1)
                k--;
            if (k < 0)
                break;
            idx[k]++;
            for (int j = k + 1; j < d; j++)
                idx[j] = idx[k];
        }
    }
    m->nterm = t;
    return 0;
}

static void library_row(const ode_model *m, const double *frac, double *row)
{
    for (int t = 0; t < m->nterm; t++) {
        double v = 1;
        for (int j = 0; j < m->nbench; j++)
            for (int p = 0; p < m->expo[t * m->nbench + j]; p++)
                v *= frac[j];
        row[t] = v;
    }
}

static int sindy_solve(const ode_model *m, const double *theta, const double *dfrac, int rows,
                       const stlsq_options *so, double *xi, stlsq_info *info, cape_err *e)
{
    return regress_stlsq(theta, rows, m->nterm, dfrac, m->nbench, so, xi, info, e);
}

static int fit_sindy(const double *mid, const double *deriv, int rows, const ode_options *o,
                     ode_model *m, double **theta_out, double **dfrac_out, cape_err *e)
{
    int nb = m->nbench;
    if (o->degree < 1 || o->degree > 5)
        return err_set(e, CAPE_EINPUT, "SINDy library degree must be 1..5, got %d", o->degree);
    int rc = build_terms(nb, o->degree, m, e);
    if (rc)
        return rc;
    if (rows < 2) {
        snprintf(m->why, sizeof m->why, "SINDy needs at least 2 intervals, the training families "
                                        "give %d", rows);
        return 0;
    }
    double *theta = malloc((size_t)rows * m->nterm * sizeof *theta);
    double *dfrac = malloc((size_t)rows * nb * sizeof *dfrac);
    m->xi = calloc((size_t)m->nterm * nb, sizeof *m->xi);
    if (!theta || !dfrac || !m->xi) {
        free(theta), free(dfrac);
        return err_set(e, CAPE_EFAIL, "out of memory");
    }
    for (int r = 0; r < rows; r++) {
        double frac[ODE_MAX_BENCH];
        for (int j = 0; j < nb; j++) {
            frac[j] = mid[r * nb + j] / 100;
            dfrac[r * nb + j] = deriv[r * nb + j] / 100;
        }
        library_row(m, frac, &theta[r * m->nterm]);
    }
    stlsq_info info;
    rc = sindy_solve(m, theta, dfrac, rows, &o->stlsq, m->xi, &info, e);
    if (rc == 0) {
        m->lambda = o->stlsq.threshold;
        m->iters = info.iters;
        m->converged = info.converged;
        if (info.nactive == 0)
            snprintf(m->why, sizeof m->why,
                     "lambda = %g removes every library term: the model is dB/dt = 0",
                     o->stlsq.threshold);
        m->estimable = 1; /* an empty model still integrates (to a constant) */
        double ss = 0;
        for (int r = 0; r < rows; r++) {
            double f[ODE_MAX_BENCH];
            ode_rhs_eval(m, &mid[r * nb], f);
            for (int i = 0; i < nb; i++)
                ss += (f[i] - deriv[r * nb + i]) * (f[i] - deriv[r * nb + i]);
        }
        m->resid_rms = sqrt(ss / ((double)rows * nb));
    }
    *theta_out = theta;
    *dfrac_out = dfrac;
    return rc;
}

int ode_fit(const ode_data *train, const ode_options *o, ode_model *m, cape_err *e)
{
    memset(m, 0, sizeof *m);
    m->kind = o->fit;
    m->nbench = train->nbench;
    double *mid = NULL, *deriv = NULL, *theta = NULL, *dfrac = NULL;
    int rows = 0;
    int rc = difference_rows(train, &mid, &deriv, &rows, e);
    m->nrows = rows;
    if (rc == 0 && o->fit == ODE_FIT_LINEAR)
        rc = fit_linear(mid, deriv, rows, train->nbench, m, e);
    else if (rc == 0 && o->fit == ODE_FIT_SINDY)
        rc = fit_sindy(mid, deriv, rows, o, m, &theta, &dfrac, e);
    else if (rc == 0)
        snprintf(m->why, sizeof m->why, "the U-curve is not an ODE");
    free(mid), free(deriv), free(theta), free(dfrac);
    return rc;
}

void ode_model_free(ode_model *m)
{
    free(m->coef);
    free(m->expo);
    free(m->xi);
    memset(m, 0, sizeof *m);
}

void ode_term_name(const ode_model *m, const bench_id *bench, int term, char *buf, size_t n)
{
    size_t len = 0;
    buf[0] = 0;
    for (int j = 0; j < m->nbench; j++) {
        int p = m->expo[term * m->nbench + j];
        if (!p)
            continue;
        const char *lab = scores_bench_info(bench[j])->label;
        len += (size_t)snprintf(buf + len, len < n ? n - len : 0, p > 1 ? "%s%s^%d" : "%s%s",
                                len ? " " : "", lab, p);
    }
    if (len == 0)
        snprintf(buf, n, "1");
}

void ode_rhs_eval(const ode_model *m, const double *b, double *dbdt)
{
    int nb = m->nbench;
    if (m->kind == ODE_FIT_LINEAR) {
        for (int i = 0; i < nb; i++) {
            const double *c = &m->coef[i * (nb + 1)];
            double acc = 0;
            for (int j = 0; j < nb; j++)
                acc += c[j] * b[j];
            dbdt[i] = acc + c[nb];
        }
        return;
    }
    double frac[ODE_MAX_BENCH];
    for (int j = 0; j < nb; j++) {
        frac[j] = b[j] / 100;
        dbdt[j] = 0;
    }
    for (int t = 0; t < m->nterm; t++) {
        double v = NAN;
        for (int i = 0; i < nb; i++) {
            double x = m->xi[t * nb + i];
            if (x == 0)
                continue;
            if (isnan(v)) {
                v = 1;
                for (int j = 0; j < nb; j++)
                    for (int p = 0; p < m->expo[t * nb + j]; p++)
                        v *= frac[j];
            }
            dbdt[i] += 100 * x * v;
        }
    }
}

/* ---- integration --------------------------------------------------------- */

static int model_rhs(double t, const double *y, double *dydt, void *ctx)
{
    (void)t;
    ode_rhs_eval(ctx, y, dydt);
    return 0;
}

/* numpy.linspace: start + i * step, the last point exactly stop. */
static void linspace(double a, double b, int n, double *out)
{
    double step = n > 1 ? (b - a) / (n - 1) : 0;
    for (int i = 0; i < n; i++)
        out[i] = a + i * step;
    if (n > 1)
        out[n - 1] = b;
}

/* numpy.interp for x inside [xp[0], xp[n-1]] (xp increasing). */
static double interp(const double *xp, const double *fp, int stride, int n, double x)
{
    if (x <= xp[0])
        return fp[0];
    if (x >= xp[n - 1])
        return fp[(size_t)(n - 1) * stride];
    int lo = 0, hi = n - 1;
    while (hi - lo > 1) {
        int mid = (lo + hi) / 2;
        if (xp[mid] <= x)
            lo = mid;
        else
            hi = mid;
    }
    double f0 = fp[(size_t)lo * stride], f1 = fp[(size_t)hi * stride];
    return (f1 - f0) / (xp[hi] - xp[lo]) * (x - xp[lo]) + f0;
}

/* Linear model, exactly: [B; 1](t) = expm(M (t - t0)) [B0; 1] with
 * M = [[C, c], [0, 0]]. */
static int linear_exact(const ode_model *m, double t0, const double *y0, const double *ts, int nt,
                        double blowup, double *out, cape_err *e)
{
    int nb = m->nbench, p = nb + 1, rc = 0;
    gsl_matrix *M = gsl_matrix_calloc(p, p), *E = gsl_matrix_alloc(p, p);
    if (!M || !E) {
        gsl_matrix_free(M), gsl_matrix_free(E);
        return err_set(e, CAPE_EFAIL, "out of memory");
    }
    gsl_error_handler_t *old = gsl_set_error_handler_off();
    for (int k = 0; k < nt && rc == 0; k++) {
        double dt = ts[k] - t0;
        for (int i = 0; i < nb; i++)
            for (int j = 0; j < p; j++)
                gsl_matrix_set(M, i, j, m->coef[i * p + j] * dt);
        if (gsl_linalg_exponential_ss(M, E, GSL_PREC_DOUBLE) != GSL_SUCCESS) {
            rc = err_set(e, CAPE_EFAIL, "matrix exponential failed at t = %.4g", ts[k]);
            break;
        }
        for (int i = 0; i < nb; i++) {
            double acc = gsl_matrix_get(E, i, nb);
            for (int j = 0; j < nb; j++)
                acc += gsl_matrix_get(E, i, j) * y0[j];
            out[k * nb + i] = acc;
            if (!isfinite(acc) || fabs(acc) > blowup)
                rc = err_set(e, CAPE_EFAIL, "the exact solution diverged near t = %.4g (|y| > %g)",
                             ts[k], blowup);
        }
    }
    gsl_set_error_handler(old);
    gsl_matrix_free(M), gsl_matrix_free(E);
    return rc;
}

enum { CURVE_POINTS = 200 };

int ode_predict(const ode_model *m, const ode_traj *tr, const ode_options *o, ode_pred *p,
                cape_err *e)
{
    memset(p, 0, sizeof *p);
    int nb = m->nbench, n = tr->n;
    p->n = n;
    p->nbench = nb;
    p->pred = malloc((size_t)n * nb * sizeof *p->pred);
    int ncurve = o->grid > 1 ? o->grid : CURVE_POINTS;
    p->curve_t = malloc((size_t)ncurve * sizeof *p->curve_t);
    p->curve_b = malloc((size_t)ncurve * nb * sizeof *p->curve_b);
    if (!p->pred || !p->curve_t || !p->curve_b)
        return err_set(e, CAPE_EFAIL, "out of memory");
    for (size_t k = 0; k < (size_t)n * nb; k++)
        p->pred[k] = NAN;
    if (!m->estimable) {
        copy_msg(p->why, sizeof p->why, m->why);
        return 0;
    }
    double t0 = tr->log_n[0], t1 = tr->log_n[n - 1];
    linspace(t0, t1, ncurve, p->curve_t);
    double big = 0;
    for (int k = 0; k < n * nb; k++)
        big = fmax(big, fabs(tr->b[k]));
    odeint_options io = o->integ;
    io.blowup = 1e3 * (1 + big); /* scores live in [0, 100]: far outside is a divergence */
    cape_err ie = {0};
    int rc;
    if (o->exact && m->kind == ODE_FIT_LINEAR) {
        rc = linear_exact(m, t0, tr->b, p->curve_t, ncurve, io.blowup, p->curve_b, &ie);
        if (rc == 0)
            rc = linear_exact(m, t0, tr->b, tr->log_n, n, io.blowup, p->pred, &ie);
    } else {
        rc = odeint_solve(model_rhs, (void *)m, nb, t0, t1, tr->b, p->curve_t, ncurve,
                          p->curve_b, &io, &p->st, &ie);
        if (rc == 0 && o->grid > 1) {
            for (int i = 0; i < n; i++)
                for (int j = 0; j < nb; j++)
                    p->pred[i * nb + j] =
                        interp(p->curve_t, p->curve_b + j, nb, ncurve, tr->log_n[i]);
        } else if (rc == 0) {
            odeint_stats st2;
            rc = odeint_solve(model_rhs, (void *)m, nb, t0, t1, tr->b, tr->log_n, n, p->pred, &io,
                              &st2, &ie);
        }
    }
    if (rc == CAPE_EFAIL) {
        copy_msg(p->why, sizeof p->why, ie.msg);
        for (size_t k = 0; k < (size_t)n * nb; k++)
            p->pred[k] = NAN;
        return 0;
    }
    if (rc)
        return err_set(e, rc, "%s", ie.msg);
    p->ncurve = ncurve;
    p->ok = 1;
    return 0;
}

void ode_pred_free(ode_pred *p)
{
    free(p->pred);
    free(p->curve_t);
    free(p->curve_b);
    memset(p, 0, sizeof *p);
}

void ode_score(const double *pred, const double *truth, int n, int nb, int first, ode_errors *out)
{
    memset(out, 0, sizeof *out);
    out->n = n - first;
    double tot_err = 0, tot_truth = 0, tot_ape = 0;
    int cnt = 0;
    for (int j = 0; j < nb; j++) {
        double se = 0, st = 0, sp = 0;
        int c = 0;
        for (int i = first; i < n; i++) {
            double p = pred[i * nb + j], t = truth[i * nb + j];
            double d = fabs(p - t);
            se += d;
            st += t;
            sp += d / fabs(t);
            c++;
        }
        out->mae[j] = c ? se / c : NAN;
        out->mae_rel[j] = c ? 100 * se / st : NAN;
        out->mape[j] = c ? 100 * sp / c : NAN;
        tot_err += se;
        tot_truth += st;
        tot_ape += sp;
        cnt += c;
    }
    out->overall_mae_rel = cnt ? 100 * tot_err / tot_truth : NAN;
    out->overall_mape = cnt ? 100 * tot_ape / cnt : NAN;
}

/* ---- the run: fit, in-sample, stability, baselines, hold-out -------------- */

static int stability(const ode_data *train, const ode_options *o, ode_result *r, cape_err *e)
{
    ode_model *m = &r->model;
    ode_stability *s = &r->stab;
    int nb = m->nbench;
    double *mid = NULL, *deriv = NULL;
    int rows;
    int rc = difference_rows(train, &mid, &deriv, &rows, e);
    double *theta = malloc((size_t)(rows ? rows : 1) * m->nterm * sizeof *theta);
    double *dfrac = malloc((size_t)(rows ? rows : 1) * nb * sizeof *dfrac);
    double *xi = malloc((size_t)m->nterm * nb * sizeof *xi);
    unsigned char *sup = calloc((size_t)ODE_MAX_LAMBDA * m->nterm * nb, 1);
    s->freq = calloc((size_t)m->nterm * nb, sizeof *s->freq);
    if (rc == 0 && (!theta || !dfrac || !xi || !sup || !s->freq))
        rc = err_set(e, CAPE_EFAIL, "out of memory");
    for (int k = 0; rc == 0 && k < rows; k++) {
        double frac[ODE_MAX_BENCH];
        for (int j = 0; j < nb; j++) {
            frac[j] = mid[k * nb + j] / 100;
            dfrac[k * nb + j] = deriv[k * nb + j] / 100;
        }
        library_row(m, frac, &theta[k * m->nterm]);
    }
    int nl = o->nlambda < 1 ? 1 : o->nlambda > ODE_MAX_LAMBDA ? ODE_MAX_LAMBDA : o->nlambda;
    s->nlambda = nl;
    size_t msize = (size_t)m->nterm * nb;
    int nearest = 0;
    for (int l = 0; rc == 0 && l < nl; l++) {
        s->lambda[l] = nl > 1 ? pow(10, log10(o->lambda_lo) +
                                            l * (log10(o->lambda_hi) - log10(o->lambda_lo)) /
                                                (nl - 1))
                              : o->lambda_lo;
        stlsq_options so = o->stlsq;
        so.threshold = s->lambda[l];
        stlsq_info info;
        rc = sindy_solve(m, theta, dfrac, rows, &so, xi, &info, e);
        for (size_t k = 0; rc == 0 && k < msize; k++) {
            sup[l * msize + k] = xi[k] != 0;
            s->freq[k] += (xi[k] != 0) / (double)nl;
        }
        for (int i = 0; rc == 0 && i < nb; i++) {
            s->nactive[l][i] = 0;
            for (int t = 0; t < m->nterm; t++)
                s->nactive[l][i] += xi[t * nb + i] != 0;
        }
        if (fabs(log(s->lambda[l] / m->lambda)) < fabs(log(s->lambda[nearest] / m->lambda)))
            nearest = l;
    }
    if (rc == 0) {
        /* distinct supports, and the run of grid points sharing the chosen one */
        s->nsupports = 0;
        for (int l = 0; l < nl; l++) {
            int seen = 0;
            for (int k = 0; k < l && !seen; k++)
                seen = memcmp(&sup[l * msize], &sup[k * msize], msize) == 0;
            s->nsupports += !seen;
        }
        unsigned char *chosen = malloc(msize);
        if (!chosen) {
            rc = err_set(e, CAPE_EFAIL, "out of memory");
        } else {
            for (size_t k = 0; k < msize; k++)
                chosen[k] = m->xi[k] != 0;
            s->stable_lo = s->stable_hi = -1;
            if (memcmp(&sup[nearest * msize], chosen, msize) == 0) {
                s->stable_lo = s->stable_hi = nearest;
                while (s->stable_lo > 0 &&
                       memcmp(&sup[(s->stable_lo - 1) * msize], chosen, msize) == 0)
                    s->stable_lo--;
                while (s->stable_hi + 1 < nl &&
                       memcmp(&sup[(s->stable_hi + 1) * msize], chosen, msize) == 0)
                    s->stable_hi++;
            }
            free(chosen);
        }
    }
    free(mid), free(deriv), free(theta), free(dfrac), free(xi), free(sup);
    return rc;
}

static void phase_slopes(const ode_data *train, const ode_options *o, ode_result *r)
{
    static const char *names[3] = {"tax", "transition", "bonus"};
    int ix = -1, iy = -1, nb = train->nbench;
    for (int j = 0; j < nb; j++) {
        if (train->bench[j] == o->slope_x)
            ix = j;
        if (train->bench[j] == o->slope_y)
            iy = j;
    }
    for (int w = 0; w < 3; w++) {
        ode_phase_slope *s = &r->slopes[w];
        memset(s, 0, sizeof *s);
        s->phase = names[w];
        s->slope = s->intercept = NAN;
        if (ix < 0 || iy < 0)
            continue;
        double sx = 0, sy = 0, sxx = 0, sxy = 0;
        for (int k = 0; k < train->ntraj; k++) {
            const ode_traj *t = &train->traj[k];
            for (int i = 0; i + 1 < t->n; i++) {
                double na = pow(10, t->log_n[i]), nbb = pow(10, t->log_n[i + 1]);
                int in = w == 0   ? nbb <= o->tax_max * (1 + 1e-9)
                         : w == 1 ? na >= o->tax_max * (1 - 1e-9) &&
                                        nbb <= o->bonus_min * (1 + 1e-9)
                                  : na >= o->bonus_min * (1 - 1e-9);
                if (!in)
                    continue;
                double x = 0.5 * (t->b[i * nb + ix] + t->b[(i + 1) * nb + ix]);
                double y = (t->b[(i + 1) * nb + iy] - t->b[i * nb + iy]) /
                           (t->log_n[i + 1] - t->log_n[i]);
                sx += x, sy += y, sxx += x * x, sxy += x * y;
                s->nrows++;
            }
        }
        double n = s->nrows, den = n * sxx - sx * sx;
        if (s->nrows >= 2 && fabs(den) > 1e-12 * (n * sxx + 1e-300)) {
            s->estimable = 1;
            s->exact = s->nrows == 2;
            s->slope = (n * sxy - sx * sy) / den;
            s->intercept = (sy - s->slope * sx) / n;
        }
    }
}

static int baselines(const ode_data *train, const ode_traj *test, const ode_options *o,
                     ode_result *r, cape_err *e)
{
    int nb = train->nbench, ntr = 0;
    for (int k = 0; k < train->ntraj; k++)
        ntr += train->traj[k].n;
    double *x = malloc((size_t)ntr * sizeof *x), *y = malloc((size_t)ntr * sizeof *y);
    if (!x || !y) {
        free(x), free(y);
        return err_set(e, CAPE_EFAIL, "out of memory");
    }
    int rc = 0;
    r->nbase = o->baseline_max < 0 ? 0 : o->baseline_max > ODE_MAX_BASELINE ? ODE_MAX_BASELINE
                                                                              : o->baseline_max;
    for (int d = 1; d <= r->nbase && rc == 0; d++) {
        ode_baseline *b = &r->base[d - 1];
        b->degree = d;
        b->ok = 1;
        b->pred = malloc((size_t)test->n * nb * sizeof *b->pred);
        if (!b->pred) {
            rc = err_set(e, CAPE_EFAIL, "out of memory");
            break;
        }
        for (int j = 0; j < nb && b->ok; j++) {
            int c = 0;
            for (int k = 0; k < train->ntraj; k++)
                for (int i = 0; i < train->traj[k].n; i++) {
                    x[c] = train->traj[k].log_n[i];
                    y[c++] = train->traj[k].b[i * nb + j];
                }
            double coef[ODE_MAX_BASELINE + 1];
            cape_err pe = {0};
            if (stats_polyfit(x, y, c, d, coef, &pe)) {
                b->ok = 0;
                copy_msg(b->why, sizeof b->why, pe.msg);
                break;
            }
            for (int i = 0; i < test->n; i++)
                b->pred[i * nb + j] = stats_polyval(coef, d, test->log_n[i]);
        }
        if (b->ok) {
            ode_score(b->pred, test->b, test->n, nb, 0, &b->all);
            ode_score(b->pred, test->b, test->n, nb, 1, &b->beyond);
        }
    }
    free(x), free(y);
    return rc;
}

static int target_poly(const ode_data *train, const ode_options *o, ode_result *r)
{
    int col = -1, nb = train->nbench, n = 0;
    for (int j = 0; j < nb; j++)
        if (train->bench[j] == o->target)
            col = j;
    r->poly_vertex_log = NAN;
    if (col < 0) {
        snprintf(r->poly_why, sizeof r->poly_why, "%s is not in the state",
                 scores_bench_info(o->target)->key);
        return 0;
    }
    for (int k = 0; k < train->ntraj; k++)
        n += train->traj[k].n;
    double *x = malloc((size_t)n * sizeof *x), *y = malloc((size_t)n * sizeof *y);
    if (!x || !y) {
        free(x), free(y);
        return CAPE_EFAIL;
    }
    n = 0;
    for (int k = 0; k < train->ntraj; k++)
        for (int i = 0; i < train->traj[k].n; i++) {
            x[n] = train->traj[k].log_n[i];
            y[n++] = train->traj[k].b[i * nb + col];
        }
    r->poly_n = n;
    cape_err pe = {0};
    if (stats_polyfit(x, y, n, o->poly_degree, r->poly_coef, &pe) == 0) {
        r->poly_ok = 1;
        if (o->poly_degree == 2 && r->poly_coef[0] > 0)
            r->poly_vertex_log = -r->poly_coef[1] / (2 * r->poly_coef[0]);
    } else {
        copy_msg(r->poly_why, sizeof r->poly_why, pe.msg);
    }
    free(x), free(y);
    return 0;
}

int ode_run(const ode_data *train, const ode_data *test, const ode_options *o, ode_result *r,
            cape_err *e)
{
    memset(r, 0, sizeof *r);
    r->opt = *o;
    if (o->poly_degree < 1 || o->poly_degree > ODE_MAX_BASELINE)
        return err_set(e, CAPE_EINPUT, "polynomial degree must be 1..%d", ODE_MAX_BASELINE);
    int rc = ode_fit(train, o, &r->model, e);
    int nt = train->ntraj, nb = train->nbench;
    r->ntrain = nt;
    r->insample = calloc((size_t)nt, sizeof *r->insample);
    r->insample_err = calloc((size_t)nt, sizeof *r->insample_err);
    if (rc == 0 && (!r->insample || !r->insample_err))
        rc = err_set(e, CAPE_EFAIL, "out of memory");
    if (rc == 0 && o->fit != ODE_FIT_UCURVE) {
        int tot = 0;
        for (int k = 0; k < nt; k++)
            tot += train->traj[k].n;
        double *allp = malloc((size_t)tot * nb * sizeof *allp);
        double *allt = malloc((size_t)tot * nb * sizeof *allt);
        int off = 0, allok = 1;
        if (!allp || !allt)
            rc = err_set(e, CAPE_EFAIL, "out of memory");
        for (int k = 0; k < nt && rc == 0; k++) {
            const ode_traj *t = &train->traj[k];
            rc = ode_predict(&r->model, t, o, &r->insample[k], e);
            if (rc)
                break;
            if (r->insample[k].ok && t->n > 1) {
                ode_score(r->insample[k].pred, t->b, t->n, nb, 0, &r->insample_err[k]);
                memcpy(allp + off * nb, r->insample[k].pred, (size_t)t->n * nb * sizeof *allp);
                memcpy(allt + off * nb, t->b, (size_t)t->n * nb * sizeof *allt);
                off += t->n;
            } else if (t->n > 1) {
                allok = 0;
            }
        }
        if (rc == 0 && off > 0 && allok)
            ode_score(allp, allt, off, nb, 0, &r->insample_all);
        else
            r->insample_all.overall_mae_rel = r->insample_all.overall_mape = NAN;
        free(allp), free(allt);
    }
    if (rc == 0 && o->fit == ODE_FIT_SINDY && r->model.xi)
        rc = stability(train, o, r, e);
    if (rc == 0)
        rc = target_poly(train, o, r);
    if (rc == 0)
        phase_slopes(train, o, r);
    r->test_target_col = -1;
    for (int j = 0; j < nb; j++)
        if (train->bench[j] == o->target)
            r->test_target_col = j;
    if (rc == 0 && test && test->ntraj > 0) {
        r->has_test = 1;
        r->test = &test->traj[0];
        rc = baselines(train, r->test, o, r, e);
        if (rc == 0 && o->fit != ODE_FIT_UCURVE) {
            rc = ode_predict(&r->model, r->test, o, &r->test_pred, e);
            if (rc == 0 && r->test_pred.ok)
                ode_score(r->test_pred.pred, r->test->b, r->test->n, nb, 1, &r->test_err);
        }
    }
    return rc;
}

void ode_result_free(ode_result *r)
{
    ode_model_free(&r->model);
    for (int k = 0; r->insample && k < r->ntrain; k++)
        ode_pred_free(&r->insample[k]);
    free(r->insample);
    free(r->stab.freq);
    ode_pred_free(&r->test_pred);
    for (int d = 0; d < ODE_MAX_BASELINE; d++)
        free(r->base[d].pred);
    free(r->insample_err);
    memset(r, 0, sizeof *r);
}

/* ---- JSON (docs/JSON.md, "cape ode") -------------------------------------- */

static json_t *errors_json(const ode_errors *er, const bench_id *bench, int nb)
{
    json_t *j = json_object(), *per = json_object();
    json_object_set_new(j, "n", json_integer(er->n));
    json_object_set_new(j, "mae_over_mean_pct", json_num(er->overall_mae_rel));
    json_object_set_new(j, "mape_pct", json_num(er->overall_mape));
    for (int b = 0; b < nb; b++)
        json_object_set_new(per, scores_bench_info(bench[b])->key,
                            json_pack("{s:o,s:o,s:o}", "mae", json_num(er->mae[b]),
                                      "mae_over_mean_pct", json_num(er->mae_rel[b]), "mape_pct",
                                      json_num(er->mape[b])));
    json_object_set_new(j, "per_benchmark", per);
    return j;
}

static json_t *scores_obj(const double *v, const bench_id *bench, int nb)
{
    json_t *o = json_object();
    for (int b = 0; b < nb; b++)
        json_object_set_new(o, scores_bench_info(bench[b])->key, json_num(v[b]));
    return o;
}

static json_t *trajectory_json(const ode_traj *t, const double *pred, const bench_id *bench,
                               int nb)
{
    json_t *arr = json_array();
    for (int i = 0; i < t->n; i++)
        json_array_append_new(
            arr, json_pack("{s:s,s:o,s:o,s:o}", "model", t->name[i], "params",
                           json_num(pow(10, t->log_n[i])), "observed",
                           scores_obj(&t->b[i * nb], bench, nb), "predicted",
                           pred ? scores_obj(&pred[i * nb], bench, nb) : json_null()));
    return arr;
}

static json_t *model_json(const ode_result *r, const bench_id *bench)
{
    const ode_model *m = &r->model;
    int nb = m->nbench;
    json_t *j = json_object();
    json_object_set_new(j, "estimable", json_boolean(m->estimable));
    json_object_set_new(j, "why", m->why[0] ? json_string(m->why) : json_null());
    json_object_set_new(j, "rows", json_integer(m->nrows));
    if (m->kind == ODE_FIT_LINEAR && m->coef) {
        json_t *C = json_array(), *c = json_array();
        for (int i = 0; i < nb; i++) {
            json_t *row = json_array();
            for (int k = 0; k < nb; k++)
                json_array_append_new(row, json_num(m->coef[i * (nb + 1) + k]));
            json_array_append_new(C, row);
            json_array_append_new(c, json_num(m->coef[i * (nb + 1) + nb]));
        }
        json_object_set_new(j, "C", C);
        json_object_set_new(j, "c", c);
        json_object_set_new(j, "rank", json_integer(m->rank));
    }
    if (m->kind == ODE_FIT_SINDY && m->xi) {
        json_t *eqs = json_array();
        for (int i = 0; i < nb; i++) {
            json_t *terms = json_array();
            for (int t = 0; t < m->nterm; t++) {
                if (m->xi[t * nb + i] == 0)
                    continue;
                char name[128];
                ode_term_name(m, bench, t, name, sizeof name);
                json_t *tj = json_pack("{s:s,s:o}", "term", name, "coef",
                                       json_num(m->xi[t * nb + i]));
                if (r->stab.freq)
                    json_object_set_new(tj, "selected_fraction",
                                        json_num(r->stab.freq[t * nb + i]));
                json_array_append_new(terms, tj);
            }
            json_array_append_new(eqs, json_pack("{s:s,s:o}", "equation",
                                                 scores_bench_info(bench[i])->key, "terms", terms));
        }
        json_object_set_new(j, "lambda", json_num(m->lambda));
        json_object_set_new(j, "library_terms", json_integer(m->nterm));
        json_object_set_new(j, "iterations", json_integer(m->iters));
        json_object_set_new(j, "converged", json_boolean(m->converged));
        json_object_set_new(j, "equations", eqs);
        const ode_stability *s = &r->stab;
        json_t *grid = json_array();
        for (int l = 0; l < s->nlambda; l++) {
            json_t *na = json_array();
            for (int i = 0; i < nb; i++)
                json_array_append_new(na, json_integer(s->nactive[l][i]));
            json_array_append_new(grid, json_pack("{s:o,s:o}", "lambda", json_num(s->lambda[l]),
                                                  "active_terms", na));
        }
        json_object_set_new(
            j, "stability",
            json_pack("{s:o,s:i,s:o}", "grid", grid, "distinct_supports", s->nsupports,
                      "same_support_lambda",
                      s->stable_lo >= 0 ? json_pack("[o,o]", json_num(s->lambda[s->stable_lo]),
                                                    json_num(s->lambda[s->stable_hi]))
                                        : json_null()));
    }
    if (m->kind != ODE_FIT_UCURVE)
        json_object_set_new(j, "derivative_rms", json_num(m->estimable ? m->resid_rms : NAN));
    return j;
}

json_t *ode_result_json(const ode_result *r, const ode_data *train)
{
    const ode_options *o = &r->opt;
    const bench_id *bench = train->bench;
    int nb = train->nbench;
    json_t *j = json_object(), *state = json_array();
    for (int b = 0; b < nb; b++)
        json_array_append_new(state, json_string(scores_bench_info(bench[b])->key));
    json_object_set_new(j, "fit", json_string(ode_fit_name(o->fit)));
    json_object_set_new(j, "state", state);
    json_t *fams = json_array();
    for (int k = 0; k < train->ntraj; k++)
        json_array_append_new(fams, json_string(train->traj[k].family));
    json_object_set_new(j, "training_families", fams);
    json_object_set_new(j, "skipped_models", json_integer(train->nskipped));
    json_object_set_new(j, "duplicate_sizes_averaged", json_integer(train->nduplicate));
    if (o->fit != ODE_FIT_UCURVE) {
        json_object_set_new(
            j, "integrator",
            json_pack("{s:s,s:o,s:o,s:i}", "method",
                      o->exact ? "exact" : odeint_method_name(o->integ.method), "rtol",
                      json_num(o->integ.rtol), "atol", json_num(o->integ.atol), "grid", o->grid));
        json_object_set_new(j, "model", model_json(r, bench));
        json_t *ins = json_array();
        for (int k = 0; k < r->ntrain; k++) {
            const ode_pred *p = &r->insample[k];
            const ode_traj *t = &train->traj[k];
            json_array_append_new(
                ins, json_pack("{s:s,s:b,s:o,s:o,s:o}", "family", t->family, "ok", p->ok, "why",
                               p->ok ? json_null() : json_string(p->why), "models",
                               trajectory_json(t, p->ok ? p->pred : NULL, bench, nb), "error",
                               p->ok ? errors_json(&r->insample_err[k], bench, nb) : json_null()));
        }
        json_object_set_new(j, "insample", ins);
        json_object_set_new(j, "insample_error",
                            isfinite(r->insample_all.overall_mae_rel)
                                ? errors_json(&r->insample_all, bench, nb)
                                : json_null());
    }
    json_t *poly = json_object();
    json_object_set_new(poly, "target", json_string(scores_bench_info(o->target)->key));
    json_object_set_new(poly, "degree", json_integer(o->poly_degree));
    json_object_set_new(poly, "n", json_integer(r->poly_n));
    if (r->poly_ok) {
        json_t *c = json_array();
        for (int d = 0; d <= o->poly_degree; d++)
            json_array_append_new(c, json_num(r->poly_coef[d]));
        json_object_set_new(poly, "coef_highest_first", c);
        json_object_set_new(poly, "vertex_params", json_num(pow(10, r->poly_vertex_log)));
    } else {
        json_object_set_new(poly, "why", json_string(r->poly_why));
    }
    json_object_set_new(j, "polynomial", poly);
    json_t *sl = json_array();
    for (int w = 0; w < 3; w++) {
        const ode_phase_slope *s = &r->slopes[w];
        json_array_append_new(sl, json_pack("{s:s,s:i,s:b,s:b,s:o,s:o}", "phase", s->phase,
                                            "rows", s->nrows, "estimable", s->estimable, "exact",
                                            s->exact, "slope", json_num(s->slope), "intercept",
                                            json_num(s->intercept)));
    }
    json_object_set_new(
        j, "phase_slopes",
        json_pack("{s:s,s:s,s:o,s:o,s:o}", "x", scores_bench_info(o->slope_x)->key, "y",
                  scores_bench_info(o->slope_y)->key, "windows",
                  json_pack("{s:o,s:o}", "tax_max_params", json_num(o->tax_max),
                            "bonus_min_params", json_num(o->bonus_min)),
                  "fits", sl, "bonus_over_tax",
                  json_num(r->slopes[0].estimable && r->slopes[2].estimable
                               ? r->slopes[2].slope / r->slopes[0].slope
                               : NAN)));
    if (!r->has_test) {
        json_object_set_new(j, "holdout", json_null());
        return j;
    }
    const ode_traj *t = r->test;
    json_t *h = json_object();
    json_object_set_new(h, "family", json_string(t->family));
    json_object_set_new(h, "anchor", json_string(t->name[0]));
    if (o->fit != ODE_FIT_UCURVE) {
        const ode_pred *p = &r->test_pred;
        json_object_set_new(
            h, "ode",
            json_pack("{s:b,s:o,s:o,s:o}", "ok", p->ok, "why",
                      p->ok ? json_null() : json_string(p->why), "models",
                      trajectory_json(t, p->ok ? p->pred : NULL, bench, nb), "error_beyond_anchor",
                      p->ok ? errors_json(&r->test_err, bench, nb) : json_null()));
    }
    json_t *bl = json_array();
    for (int d = 0; d < r->nbase; d++) {
        const ode_baseline *b = &r->base[d];
        json_array_append_new(
            bl, json_pack("{s:i,s:b,s:o,s:o,s:o,s:o}", "degree", b->degree, "ok", b->ok, "why",
                          b->ok ? json_null() : json_string(b->why), "models",
                          trajectory_json(t, b->ok ? b->pred : NULL, bench, nb), "error_all",
                          b->ok ? errors_json(&b->all, bench, nb) : json_null(),
                          "error_beyond_anchor",
                          b->ok ? errors_json(&b->beyond, bench, nb) : json_null()));
    }
    json_object_set_new(h, "polynomial_baselines", bl);
    json_object_set_new(j, "holdout", h);
    return j;
}
