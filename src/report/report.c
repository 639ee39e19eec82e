#include "report/report.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/file.h"
#include "phase/eigen.h"
#include "phase/falsify.h"
#include "phase/frontier.h"
#include "phase/ode.h"
#include "phase/phase.h"
#include "report/html.h"
#include "report/svg.h"

const char *const REPORT_FIGURES[] = {
    "fig-phase-diagram", "fig-gamma-size", "fig-nc-bootstrap", "fig-loss-law",
    "fig-width",         "fig-ode",        "fig-frontier",     "fig-eigen",
};
const int REPORT_NFIGURES = (int)(sizeof REPORT_FIGURES / sizeof *REPORT_FIGURES);

static const char *PALETTE[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b",
                                "#e377c2", "#17becf", "#bcbd22", "#d62728", "#7f7f7f"};
enum { NPALETTE = 10 };
static const char *PHASE_COLOR[4] = {"#d62728", "#f0a202", "#2a9d3a", "#9a9a9a"};
static const svg_marker PHASE_MARK[4] = {SVG_MARK_CIRCLE, SVG_MARK_DIAMOND, SVG_MARK_SQUARE,
                                         SVG_MARK_TRIANGLE};

/* Everything the page shows, computed once. */
typedef struct {
    scores_table phase_t, pooled_t, ode_t, front_t;
    int have_phase_t, have_pooled_t, have_ode_t, have_front_t;
    phase_diagnosis phase_d, pooled_d, seta_d;
    int have_phase_d, have_pooled_d, have_seta_d;
    ode_data a_train, u_train, u_test, b2_train, b2_test;
    ode_result a_res, u_res, b2_res;
    int have_a, have_u, have_b2;
    frontier_result fr;
    int have_fr;
    eigen_result eig_a, eig_p;
    int have_eig_a, have_eig_p;
    falsify_result fals; /* stress tests on set A, the pooled and the phase tables */
    int have_fals;
    /* labels of the set-A figures, and the family of the width figure */
    const char *seta_label, *seta_short;
    int width_fam;
    const report_figure_options *fig; /* one figure for the server, else NULL */
} report_state;

/* ---- small helpers -------------------------------------------------------- */

static char *finish_plot(svg_plot *p)
{
    char *s = p ? svg_render(p, NULL) : NULL;
    svg_plot_free(p);
    return s;
}

static void fmt_size(double v, char *buf, size_t n)
{
    if (isfinite(v) && v > 0)
        svg_format_size(v, buf, n);
    else
        snprintf(buf, n, "n/a");
}

static void fmt_num(char *buf, size_t n, const char *fmt, double v)
{
    if (isfinite(v))
        snprintf(buf, n, fmt, v);
    else
        snprintf(buf, n, "not estimable");
}

/* One number through fmt, or "n/a" when it is not finite: no NaN reaches the page. */
static const char *fx(char *buf, size_t n, const char *fmt, double v)
{
    if (isfinite(v))
        snprintf(buf, n, fmt, v);
    else
        snprintf(buf, n, "n/a");
    return buf;
}

static int load(const char *path, const char *shown, scores_table *t, int *have, cape_err *e)
{
    scores_options so = {0};
    size_t len;
    char *buf = file_read_all(path, &len, e);
    if (!buf)
        return e->code ? e->code : CAPE_EINPUT;
    int rc = scores_parse(buf, len, shown ? shown : path, &so, t, e);
    free(buf);
    *have = rc == 0;
    return rc;
}

static int col_of(const ode_data *d, bench_id b)
{
    for (int j = 0; j < d->nbench; j++)
        if (d->bench[j] == b)
            return j;
    return -1;
}

/* ---- computing ------------------------------------------------------------ */

static int compute(const report_inputs *in, report_state *s, cape_err *e)
{
    int rc = load(in->phase_table, in->phase_name, &s->phase_t, &s->have_phase_t, e);
    if (rc == 0)
        rc = load(in->pooled_table, in->pooled_name, &s->pooled_t, &s->have_pooled_t, e);
    if (rc == 0)
        rc = load(in->ode_table, in->ode_name, &s->ode_t, &s->have_ode_t, e);
    if (rc == 0)
        rc = load(in->frontier_table, in->frontier_name, &s->front_t, &s->have_front_t, e);
    if (rc)
        return rc;
    phase_options po;
    phase_options_default(&po);
    po.nboot = in->nboot;
    po.seed = in->seed;
    po.skip_small = 1;
    po.perm_exact_max = 8;
    po.perm_draws = 1000;
    /* the diagnoses are freed by release() even after a failure */
    s->have_phase_d = 1;
    if ((rc = phase_diagnose(&s->phase_t, &po, &s->phase_d, e)) != 0)
        return rc;
    s->have_pooled_d = 1;
    if ((rc = phase_diagnose(&s->pooled_t, &po, &s->pooled_d, e)) != 0)
        return rc;
    po.nboot = 0;
    s->have_seta_d = 1;
    if ((rc = phase_diagnose(&s->ode_t, &po, &s->seta_d, e)) != 0)
        return rc;

    /* (a) the dense linear ODE in-sample on set A, the published path */
    ode_options oo;
    ode_options_default(&oo);
    const scores_table *tp = &s->ode_t;
    if ((rc = ode_data_build(&tp, 1, &oo, NULL, &s->a_train, NULL, e)) != 0)
        return rc;
    s->have_a = 1;
    if ((rc = ode_run(&s->a_train, NULL, &oo, &s->a_res, e)) != 0)
        return rc;
    /* (c) the U-curve fitted without the held-out family */
    ode_options uo;
    ode_options_default(&uo);
    uo.fit = ODE_FIT_UCURVE;
    uo.nbench = 1;
    uo.bench[0] = uo.target;
    tp = &s->pooled_t;
    if ((rc = ode_data_build(&tp, 1, &uo, in->holdout, &s->u_train, &s->u_test, e)) != 0)
        return rc;
    s->have_u = 1;
    if ((rc = ode_run(&s->u_train, &s->u_test, &uo, &s->u_res, e)) != 0)
        return rc;
    /* (a) in (HS, TQA) on the same split */
    ode_options bo;
    ode_options_default(&bo);
    bo.nbench = 2;
    bo.bench[0] = BENCH_HELLASWAG;
    bo.bench[1] = BENCH_TRUTHFULQA_MC2;
    if ((rc = ode_data_build(&tp, 1, &bo, in->holdout, &s->b2_train, &s->b2_test, e)) != 0)
        return rc;
    s->have_b2 = 1;
    if ((rc = ode_run(&s->b2_train, &s->b2_test, &bo, &s->b2_res, e)) != 0)
        return rc;

    frontier_options fo;
    frontier_options_default(&fo);
    frontier_default_pair(&s->front_t, &fo, 0, 0);
    s->have_fr = 1; /* the result is freed even after a failure */
    if ((rc = frontier_run(&s->front_t, &fo, &s->fr, e)) != 0)
        return rc;

    eigen_options eo;
    eigen_options_default(&eo);
    eo.nboot = 200;
    eo.by_family = 0;
    eo.by_phase = 0;
    s->have_eig_a = 1;
    if ((rc = eigen_run(&s->ode_t, &eo, NULL, &s->eig_a, e)) != 0)
        return rc;
    eo.matrix = EIGEN_COVARIANCE;
    eo.by_phase = 1;
    s->have_eig_p = 1;
    if ((rc = eigen_run(&s->phase_t, &eo, s->phase_d.row_phase, &s->eig_p, e)) != 0)
        return rc;
    falsify_options xo;
    falsify_options_default(&xo);
    xo.nboot = in->nboot;
    xo.po.seed = in->seed;
    const scores_table *ft[3] = {&s->ode_t, &s->pooled_t, &s->phase_t};
    s->have_fals = 1; /* freed even after a failure */
    return falsify_run(ft, 3, &xo, &s->fals, e);
}

static void release(report_state *s)
{
    if (s->have_fals)
        falsify_result_free(&s->fals);
    if (s->have_eig_p)
        eigen_result_free(&s->eig_p);
    if (s->have_eig_a)
        eigen_result_free(&s->eig_a);
    if (s->have_fr)
        frontier_result_free(&s->fr);
    if (s->have_b2) {
        ode_result_free(&s->b2_res);
        ode_data_free(&s->b2_train);
        ode_data_free(&s->b2_test);
    }
    if (s->have_u) {
        ode_result_free(&s->u_res);
        ode_data_free(&s->u_train);
        ode_data_free(&s->u_test);
    }
    if (s->have_a) {
        ode_result_free(&s->a_res);
        ode_data_free(&s->a_train);
    }
    if (s->have_seta_d)
        phase_diagnosis_free(&s->seta_d);
    if (s->have_pooled_d)
        phase_diagnosis_free(&s->pooled_d);
    if (s->have_phase_d)
        phase_diagnosis_free(&s->phase_d);
    if (s->have_front_t)
        scores_free(&s->front_t);
    if (s->have_ode_t)
        scores_free(&s->ode_t);
    if (s->have_pooled_t)
        scores_free(&s->pooled_t);
    if (s->have_phase_t)
        scores_free(&s->phase_t);
}

/* ---- figures -------------------------------------------------------------- */

static char *fig_phase(const report_state *s)
{
    const phase_diagnosis *d = &s->phase_d;
    const scores_table *t = &s->phase_t;
    const phase_options *o = &d->opt;
    svg_plot *p = svg_plot_new("svg-phase", 600, 440);
    if (!p)
        return NULL;
    svg_title(p, "Phase diagram: reasoning vs truthfulness, by family");
    svg_axis_x(p, "HellaSwag, 10-shot (%)", SVG_LINEAR, NULL);
    svg_axis_y(p, "TruthfulQA mc2 (%)", SVG_LINEAR, NULL);
    svg_legend_title(p, "phase of each model (γ₁₂ to its neighbour size)");
    svg_legend_below(p, 2);
    double *x = malloc((size_t)t->n * sizeof *x), *y = malloc((size_t)t->n * sizeof *y);
    char **tt = calloc((size_t)t->n, sizeof *tt);
    if (!x || !y || !tt) {
        free(x), free(y), free(tt);
        svg_plot_free(p);
        return NULL;
    }
    for (int k = 0; k < d->nfam; k++) {
        const phase_family *f = &d->fam[k];
        for (int i = 0; i < f->n; i++) {
            x[i] = t->model[f->idx[i]].score[o->reasoning];
            y[i] = t->model[f->idx[i]].score[o->truth];
        }
        svg_line(p, x, y, f->n, (svg_style){.color = "#8a96a3", .width = 1.1, .opacity = 0.75},
                 k == 0 ? "family trajectory (small to large)" : NULL);
        if (f->n >= 5)
            svg_text(p, x[f->n - 1], y[f->n - 1], 5, -4, f->name, SVG_ANCHOR_START, "#4a5560", 9.5);
    }
    static const char *lab[4] = {"tax (γ < -0.1)", "transition (|γ| ≤ 0.1)",
                                 "bonus (γ > 0.1)", "not classified"};
    for (int ph = 0; ph < 4; ph++) {
        int n = 0;
        for (int r = 0; r < t->n; r++) {
            if (d->row_family[r] < 0 || d->row_phase[r] != (phase_label)ph)
                continue;
            const scores_model *m = &t->model[r];
            char sz[16], buf[160];
            fmt_size(m->params, sz, sizeof sz);
            snprintf(buf, sizeof buf, "%s (%s): γ₁₂ = %+.2f", m->name,
                     sz, d->row_gamma[r]);
            x[n] = m->score[o->reasoning];
            y[n] = m->score[o->truth];
            tt[n] = strdup(buf);
            n++;
        }
        if (n)
            svg_scatter(p, x, y, n,
                        (svg_style){.color = PHASE_COLOR[ph], .marker = PHASE_MARK[ph],
                                    .size = 4},
                        lab[ph], (const char *const *)tt);
        for (int i = 0; i < n; i++)
            free(tt[i]), tt[i] = NULL;
    }
    /* isocline TQA_c = sqrt(k HS) on fractions */
    double ix[60], iy[60];
    for (int i = 0; i < 60; i++) {
        ix[i] = 25 + i * (92.0 - 25) / 59;
        iy[i] = 100 * sqrt(o->isocline_k * ix[i] / 100);
    }
    char il[80];
    snprintf(il, sizeof il, "isocline TQA = √(%.3g·HS)", o->isocline_k);
    svg_line(p, ix, iy, 60, (svg_style){.color = "#222", .width = 1.2, .dash = "6 4"}, il);
    const report_figure_options *fo = s->fig;
    if (fo && fo->mark_label && isfinite(fo->mark_x) && isfinite(fo->mark_y)) {
        const char *tt1[1] = {fo->mark_label};
        svg_scatter(p, &fo->mark_x, &fo->mark_y, 1,
                    (svg_style){.color = "#111", .marker = SVG_MARK_TRIANGLE, .size = 7},
                    fo->mark_label, tt1);
        svg_text(p, fo->mark_x, fo->mark_y, 9, 4, fo->mark_label, SVG_ANCHOR_START, "#111", 11);
    }
    free(x), free(y), free(tt);
    return finish_plot(p);
}

enum { GAMMA_CLIP = 3 };

static int gamma_outside(const phase_diagnosis *d)
{
    int n = 0;
    for (int k = 0; k < d->nfam; k++)
        for (int i = 0; i < d->fam[k].nstep; i++)
            n += fabs(d->fam[k].step[i].gamma) > GAMMA_CLIP;
    for (int i = 0; d->gfit.estimable && i < d->gfit.npoint; i++)
        n += fabs(d->gfit.gamma[i]) > GAMMA_CLIP;
    return n;
}

static char *fig_gamma(const report_state *s)
{
    const phase_diagnosis *d = &s->pooled_d;
    const phase_ucurve *u = &d->ucurve;
    const phase_gammafit *g = &d->gfit;
    svg_plot *p = svg_plot_new("svg-gamma", 600, 420);
    if (!p)
        return NULL;
    svg_title(p, "Running coupling γ₁₂ against size, with N_c");
    svg_axis_x(p, "model size (parameters, log scale)", SVG_LOG10, svg_format_size);
    svg_axis_y(p, "γ₁₂ = ΔTQA / ΔHS (points per point)",
               SVG_LINEAR, NULL);
    svg_legend_below(p, 2);
    svg_hspan(p, -d->opt.band, d->opt.band, "#f0a202", 0.16, "transition band |γ| ≤ 0.1");
    char lab[120], a[16], b[16], m[16];
    if (u->valid > 0) {
        fmt_size(u->lo95, a, sizeof a);
        fmt_size(u->hi95, b, sizeof b);
        fmt_size(u->median, m, sizeof m);
        snprintf(lab, sizeof lab, "N_c 95%% interval [%s, %s]", a, b);
        svg_vspan(p, u->lo95, u->hi95, "#1f77b4", 0.12, lab);
        svg_vspan(p, u->lo68, u->hi68, "#1f77b4", 0.18, "N_c 68% interval");
        snprintf(lab, sizeof lab, "N_c median %s (U-curve vertex bootstrap)", m);
        svg_vline(p, u->median, (svg_style){.color = "#1f4e9c", .width = 2}, lab);
    }
    svg_hline(p, 0, (svg_style){.color = "#333", .width = 0.8}, NULL);
    if (g->estimable) {
        double xs[2] = {pow(10, g->x[0] - 0.2), pow(10, g->x[g->npoint - 1] + 0.2)};
        double ys[2] = {g->fit.slope * log10(xs[0]) + g->fit.intercept,
                        g->fit.slope * log10(xs[1]) + g->fit.intercept};
        snprintf(lab, sizeof lab, "pooled fit γ = %.3f log₁₀N %+.2f",
                 g->fit.slope, g->fit.intercept);
        svg_line(p, xs, ys, 2, (svg_style){.color = "#555", .width = 1.3, .dash = "5 3"}, lab);
        double *gx = malloc((size_t)g->npoint * sizeof *gx);
        if (gx) {
            for (int i = 0; i < g->npoint; i++)
                gx[i] = pow(10, g->x[i]);
            svg_scatter(p, gx, g->gamma, g->npoint,
                        (svg_style){.color = "#777", .fill = "none", .size = 5.5},
                        "consecutive pairs across families (fit input)", NULL);
            free(gx);
        }
    }
    /* up to nine families get their own colour; the rest share grey */
    double ymin = 0, ymax = 0;
    for (int k = 0; k < d->nfam; k++) {
        const phase_family *f = &d->fam[k];
        double x[64], y[64];
        int n = 0;
        for (int i = 0; i < f->nstep && n < 64; i++)
            if (isfinite(f->step[i].gamma)) {
                x[n] = pow(10, f->step[i].log_n_mid);
                y[n++] = f->step[i].gamma;
                ymin = fmin(ymin, y[n - 1]), ymax = fmax(ymax, y[n - 1]);
            }
        int own = k < 9;
        const char *c = own ? PALETTE[k % NPALETTE] : "#a0a0a0";
        snprintf(lab, sizeof lab, own ? "%s: consecutive sizes" : "other families", f->name);
        svg_line(p, x, y, n, (svg_style){.color = c, .width = 1, .opacity = 0.6}, NULL);
        svg_scatter(p, x, y, n, (svg_style){.color = c, .marker = SVG_MARK_CIRCLE, .size = 4},
                    own || k == 9 ? lab : NULL, NULL);
    }
    for (int i = 0; g->estimable && i < g->npoint; i++)
        ymin = fmin(ymin, g->gamma[i]), ymax = fmax(ymax, g->gamma[i]);
    if (ymin < -GAMMA_CLIP || ymax > GAMMA_CLIP) /* a few steps with tiny delta HS explode */
        svg_range_y(p, fmax(ymin, -GAMMA_CLIP) - 0.2, fmin(ymax, GAMMA_CLIP) + 0.2);
    return finish_plot(p);
}

static char *fig_bootstrap(const report_state *s)
{
    const phase_ucurve *u = &s->pooled_d.ucurve;
    svg_plot *p = svg_plot_new("svg-nc-boot", 600, 420);
    if (!p)
        return NULL;
    char title[160];
    snprintf(title, sizeof title, "N_c bootstrap: %d of %d resamples with a U-shaped vertex",
             u->valid, u->nboot);
    svg_title(p, title);
    svg_axis_x(p, "N_c = vertex of TQA(log₁₀N) (parameters, log scale)", SVG_LOG10,
               svg_format_size);
    svg_axis_y(p, "resamples per bin", SVG_LINEAR, NULL);
    if (u->valid > 0) {
        double *v = malloc((size_t)u->valid * sizeof *v);
        if (v) {
            for (int i = 0; i < u->valid; i++)
                v[i] = pow(10, u->boot_log[i]);
            /* bins over the bulk; the far tail is counted in the caption */
            svg_histogram(p, v, u->valid, 45, u->lo95 / 1.6, u->hi95 * 1.6, "#5b8fd0",
                          "valid resamples");
            free(v);
        }
        char lab[96], a[16], b[16], m[16];
        fmt_size(u->median, m, sizeof m);
        fmt_size(u->lo95, a, sizeof a);
        fmt_size(u->hi95, b, sizeof b);
        snprintf(lab, sizeof lab, "median %s", m);
        svg_vline(p, u->median, (svg_style){.color = "#1f4e9c", .width = 2.2}, lab);
        snprintf(lab, sizeof lab, "95%% interval %s to %s", a, b);
        svg_vline(p, u->lo95, (svg_style){.color = "#c0392b", .width = 1.4, .dash = "5 3"}, lab);
        svg_vline(p, u->hi95, (svg_style){.color = "#c0392b", .width = 1.4, .dash = "5 3"}, NULL);
        fmt_size(u->lo68, a, sizeof a);
        fmt_size(u->hi68, b, sizeof b);
        snprintf(lab, sizeof lab, "68%% interval %s to %s", a, b);
        svg_vline(p, u->lo68, (svg_style){.color = "#e67e22", .width = 1.2, .dash = "2 2"}, lab);
        svg_vline(p, u->hi68, (svg_style){.color = "#e67e22", .width = 1.2, .dash = "2 2"}, NULL);
    } else {
        svg_text(p, 1e9, 1, 0, 0, "no valid resample", SVG_ANCHOR_MIDDLE, "#b42318", 13);
    }
    return finish_plot(p);
}

static void ols_line(svg_plot *p, const double *x, const double *y, int n, const char *color,
                     const char *label)
{
    ols_fit f;
    cape_err e = {0};
    if (stats_ols(x, y, n, &f, &e))
        return;
    double lo = INFINITY, hi = -INFINITY;
    for (int i = 0; i < n; i++)
        lo = fmin(lo, x[i]), hi = fmax(hi, x[i]);
    double xs[2] = {lo, hi}, ys[2] = {f.slope * lo + f.intercept, f.slope * hi + f.intercept};
    svg_line(p, xs, ys, 2, (svg_style){.color = color, .width = 1.2, .dash = "5 3"}, label);
}

static char *fig_width(const report_state *s, char **second)
{
    const phase_diagnosis *d = &s->seta_d;
    const scores_table *t = &s->ode_t;
    *second = NULL;
    if (d->nfam <= s->width_fam)
        return NULL;
    const phase_family *f = &d->fam[s->width_fam];
    if (!f->width.estimable)
        return NULL;
    double hs[64], tq[64], hn[64], tn[64];
    char *names[64];
    int n = f->n < 64 ? f->n : 64;
    for (int i = 0; i < n; i++) {
        const scores_model *m = &t->model[f->idx[i]];
        double w = m->d_model / d->opt.d_ref;
        hs[i] = m->score[d->opt.reasoning];
        tq[i] = m->score[d->opt.truth];
        hn[i] = hs[i] / w;
        tn[i] = tq[i] / w;
        char sz[16];
        fmt_size(m->params, sz, sizeof sz);
        names[i] = strdup(sz);
    }
    char title[128], ra[16], rb[16];
    fmt_num(ra, sizeof ra, "%+.3f", f->width.r_raw);
    fmt_num(rb, sizeof rb, "%+.3f", f->width.r_norm);
    svg_plot *p = svg_plot_new("svg-width-raw", 440, 360);
    svg_plot *q = svg_plot_new("svg-width-norm", 440, 360);
    if (!p || !q) {
        svg_plot_free(p), svg_plot_free(q);
        for (int i = 0; i < n; i++)
            free(names[i]);
        return NULL;
    }
    snprintf(title, sizeof title, "Before: raw scores, r = %s", ra);
    svg_title(p, title);
    svg_axis_x(p, "HellaSwag (%)", SVG_LINEAR, NULL);
    svg_axis_y(p, "TruthfulQA mc2 (%)", SVG_LINEAR, NULL);
    snprintf(title, sizeof title, "After: scores / (d_model / %g), r = %s", d->opt.d_ref, rb);
    svg_title(q, title);
    svg_axis_x(q, "HellaSwag / w (%)", SVG_LINEAR, NULL);
    svg_axis_y(q, "TruthfulQA / w (%)", SVG_LINEAR, NULL);
    svg_style st = {.color = "#1f77b4", .size = 4.5};
    char la[160], lb[160];
    snprintf(la, sizeof la, "%s", s->seta_label);
    snprintf(lb, sizeof lb, "%s, normalised", s->seta_short);
    svg_scatter(p, hs, tq, n, st, la, (const char *const *)names);
    svg_scatter(q, hn, tn, n, (svg_style){.color = "#2a9d3a", .size = 4.5}, lb,
                (const char *const *)names);
    ols_line(p, hs, tq, n, "#1f77b4", "least-squares line");
    ols_line(q, hn, tn, n, "#2a9d3a", "least-squares line");
    for (int i = 0; i < n; i++) {
        double dy = i % 2 ? 13 : -6;
        svg_text(p, hs[i], tq[i], 6, dy, names[i], SVG_ANCHOR_START, "#333", 9.5);
        svg_text(q, hn[i], tn[i], 6, dy, names[i], SVG_ANCHOR_START, "#333", 9.5);
        free(names[i]);
    }
    *second = finish_plot(q);
    return finish_plot(p);
}

static char *fig_loss(const report_state *s)
{
    const phase_diagnosis *d = &s->pooled_d;
    const scores_table *t = &s->pooled_t;
    if (d->nloss < 1 || !d->loss[0].estimable)
        return NULL;
    const losslaw_result *l = &d->loss[0];
    svg_plot *p = svg_plot_new("svg-loss", 600, 420);
    if (!p)
        return NULL;
    char title[160];
    snprintf(title, sizeof title, "Loss law (%s): L = %.3f + %.1f·N^-%.3f, R² = %.4f",
             l->family, l->E, l->A, l->alpha, l->r2);
    svg_title(p, title);
    svg_axis_x(p, "model size N (parameters, log scale)", SVG_LOG10, svg_format_size);
    svg_axis_y(p, "validation loss L (nats per token)", SVG_LINEAR, NULL);
    double x[64], y[64];
    char *tt[64];
    int n = 0;
    for (int i = 0; i < t->n && n < 64; i++) {
        const scores_model *m = &t->model[i];
        if (!isfinite(m->score[BENCH_LOSS]) || strcmp(m->family, l->family) != 0)
            continue;
        x[n] = m->params;
        y[n] = m->score[BENCH_LOSS];
        tt[n] = m->name;
        n++;
    }
    double lo = INFINITY, hi = -INFINITY;
    for (int i = 0; i < n; i++)
        lo = fmin(lo, x[i]), hi = fmax(hi, x[i]);
    double cx[80], cy[80];
    for (int i = 0; i < 80; i++) {
        cx[i] = pow(10, log10(lo) - 0.15 + i * (log10(hi) - log10(lo) + 0.3) / 79);
        cy[i] = l->E + l->A * pow(cx[i], -l->alpha);
    }
    char lab[96];
    snprintf(lab, sizeof lab, "fit, α = %.4f ± %.4f", l->alpha, l->se_alpha);
    svg_line(p, cx, cy, 80, (svg_style){.color = "#d62728", .width = 1.8}, lab);
    snprintf(lab, sizeof lab, "irreducible loss E = %.3f", l->E);
    svg_hline(p, l->E, (svg_style){.color = "#555", .width = 1.1, .dash = "6 4"}, lab);
    svg_scatter(p, x, y, n, (svg_style){.color = "#1f77b4", .size = 4.5}, "Pythia (set B)",
                (const char *const *)tt);
    return finish_plot(p);
}

static char *fig_ode_fit(const report_state *s)
{
    const ode_result *r = &s->a_res;
    const ode_data *d = &s->a_train;
    if (r->ntrain < 1 || !r->insample[0].ok)
        return NULL;
    const ode_pred *pr = &r->insample[0];
    const ode_traj *t = &d->traj[0];
    int nb = d->nbench;
    svg_plot *p = svg_plot_new("svg-ode-fit", 560, 400);
    if (!p)
        return NULL;
    char title[128];
    snprintf(title, sizeof title, "Linear ODE on Pythia set A: %.2f%% mean error",
             r->insample_err[0].overall_mae_rel);
    svg_title(p, title);
    svg_axis_x(p, "model size (parameters, log scale)", SVG_LOG10, svg_format_size);
    svg_axis_y(p, "benchmark score (%)", SVG_LINEAR, NULL);
    svg_legend_below(p, 3);
    double *cx = malloc((size_t)pr->ncurve * sizeof *cx), *cy = malloc((size_t)pr->ncurve * sizeof *cy);
    if (!cx || !cy) {
        free(cx), free(cy);
        svg_plot_free(p);
        return NULL;
    }
    for (int j = 0; j < nb; j++) {
        const char *c = PALETTE[j % NPALETTE];
        for (int k = 0; k < pr->ncurve; k++) {
            cx[k] = pow(10, pr->curve_t[k]);
            cy[k] = pr->curve_b[k * nb + j];
        }
        svg_line(p, cx, cy, pr->ncurve, (svg_style){.color = c, .width = 1.6}, NULL);
        double ox[64], oy[64];
        int n = t->n < 64 ? t->n : 64;
        for (int i = 0; i < n; i++) {
            ox[i] = pow(10, t->log_n[i]);
            oy[i] = t->b[i * nb + j];
        }
        char lab[64];
        snprintf(lab, sizeof lab, "%s (error %.2f%%)", scores_bench_info(d->bench[j])->label,
                 r->insample_err[0].mae_rel[j]);
        svg_scatter(p, ox, oy, n, (svg_style){.color = c, .size = 4}, lab, t->name);
    }
    free(cx), free(cy);
    return finish_plot(p);
}

static char *fig_ode_holdout(const report_state *s)
{
    const ode_result *u = &s->u_res, *b2 = &s->b2_res;
    if (!u->has_test || u->nbase < 2 || !u->poly_ok)
        return NULL;
    const ode_traj *te = u->test;
    svg_plot *p = svg_plot_new("svg-ode-holdout", 560, 400);
    if (!p)
        return NULL;
    char title[160];
    snprintf(title, sizeof title, "Hold-out %s: TQA predicted from the other families", te->family);
    svg_title(p, title);
    svg_axis_x(p, "model size (parameters, log scale)", SVG_LOG10, svg_format_size);
    svg_axis_y(p, "TruthfulQA mc2 (%)", SVG_LINEAR, NULL);
    svg_legend_below(p, 2);
    /* training points per family */
    for (int k = 0; k < s->u_train.ntraj; k++) {
        const ode_traj *t = &s->u_train.traj[k];
        double x[64], y[64];
        int n = t->n < 64 ? t->n : 64;
        for (int i = 0; i < n; i++)
            x[i] = pow(10, t->log_n[i]), y[i] = t->b[i];
        char lab[96];
        snprintf(lab, sizeof lab, "%s (fit)", t->family);
        svg_scatter(p, x, y, n,
                    (svg_style){.color = PALETTE[k % NPALETTE], .size = 3.8,
                                .marker = k ? SVG_MARK_SQUARE : SVG_MARK_CIRCLE},
                    lab, t->name);
    }
    double lo = 7.5, hi = te->log_n[te->n - 1] + 0.15;
    for (int k = 0; k < s->u_train.ntraj; k++)
        lo = fmin(lo, s->u_train.traj[k].log_n[0] - 0.1);
    double cx[100], cy[100];
    for (int i = 0; i < 100; i++) {
        double l = lo + i * (hi - lo) / 99;
        cx[i] = pow(10, l);
        cy[i] = stats_polyval(u->poly_coef, u->opt.poly_degree, l);
    }
    char lab[128];
    char mp[32];
    snprintf(lab, sizeof lab, "U-curve (degree %d): MAPE %s", u->opt.poly_degree,
             fx(mp, sizeof mp, "%.2f%%",
                u->base[u->opt.poly_degree - 1].ok ? u->base[u->opt.poly_degree - 1].all.overall_mape
                                                   : NAN));
    svg_line(p, cx, cy, 100, (svg_style){.color = "#d62728", .width = 1.8}, lab);
    if (u->nbase >= 1 && u->base[0].ok) {
        /* the linear baseline, refitted for the curve */
        const ode_baseline *bl = &u->base[0];
        snprintf(lab, sizeof lab, "degree-1 baseline: MAPE %.2f%%", bl->all.overall_mape);
        double lx[2] = {pow(10, te->log_n[0]), pow(10, te->log_n[te->n - 1])};
        double ly[2] = {bl->pred[0], bl->pred[te->n - 1]};
        svg_line(p, lx, ly, 2, (svg_style){.color = "#999", .width = 1.2, .dash = "4 3"}, lab);
    }
    double ox[64], oy[64], px[64], py[64];
    int n = te->n < 64 ? te->n : 64;
    const ode_baseline *b = &u->base[u->opt.poly_degree - 1];
    if (!b->ok) {
        svg_plot_free(p);
        return NULL;
    }
    for (int i = 0; i < n; i++) {
        ox[i] = px[i] = pow(10, te->log_n[i]);
        oy[i] = te->b[i];
        py[i] = b->pred[i];
    }
    snprintf(lab, sizeof lab, "%s observed (held out)", te->family);
    svg_scatter(p, ox, oy, n,
                (svg_style){.color = "#111", .fill = "white", .marker = SVG_MARK_DIAMOND,
                            .size = 5.5},
                lab, te->name);
    svg_scatter(p, px, py, n,
                (svg_style){.color = "#d62728", .marker = SVG_MARK_DIAMOND, .size = 4.5},
                "U-curve prediction", te->name);
    if (b2->has_test && b2->test_pred.ok) {
        const ode_pred *q = &b2->test_pred;
        int tc = col_of(&s->b2_train, BENCH_TRUTHFULQA_MC2);
        double *qx = malloc((size_t)q->ncurve * sizeof *qx), *qy = malloc((size_t)q->ncurve * sizeof *qy);
        if (qx && qy && tc >= 0) {
            for (int k = 0; k < q->ncurve; k++) {
                qx[k] = pow(10, q->curve_t[k]);
                qy[k] = q->curve_b[k * 2 + tc];
            }
            snprintf(lab, sizeof lab, "linear ODE (HS, TQA) from %s: TQA error %.1f%%",
                     b2->test->name[0], b2->test_err.mae_rel[tc]);
            svg_line(p, qx, qy, q->ncurve,
                     (svg_style){.color = "#7b3fb0", .width = 1.6, .dash = "7 3"}, lab);
        }
        free(qx), free(qy);
    }
    return finish_plot(p);
}

static char *fig_frontier(const report_state *s)
{
    const frontier_result *r = &s->fr;
    const frontier_options *o = &r->opt;
    svg_plot *p = svg_plot_new("svg-frontier", 620, 460);
    if (!p)
        return NULL;
    const char *xl = scores_bench_info(o->x)->label, *yl = scores_bench_info(o->y)->label;
    char title[160], lab[128];
    snprintf(title, sizeof title, "Frontier: %s = %.3f·%s + %.1f, r = %.3f (n = %d)", yl,
             r->fit.slope, xl, r->fit.intercept, r->fit.r, r->n);
    svg_title(p, title);
    svg_legend_below(p, 3);
    snprintf(lab, sizeof lab, "%s (%%)", o->x == BENCH_SWE_BENCH_VERIFIED ? "SWE-bench Verified" : xl);
    svg_axis_x(p, lab, SVG_LINEAR, NULL);
    snprintf(lab, sizeof lab, "%s (%%)", o->y == BENCH_GPQA_DIAMOND ? "GPQA Diamond" : yl);
    svg_axis_y(p, lab, SVG_LINEAR, NULL);
    double lo = INFINITY, hi = -INFINITY;
    for (int i = 0; i < r->n; i++)
        lo = fmin(lo, r->pt[i].x), hi = fmax(hi, r->pt[i].x);
    double bx[2] = {lo - 2, hi + 2}, f[2], a[2], b[2];
    for (int k = 0; k < 2; k++)
        f[k] = r->fit.slope * bx[k] + r->fit.intercept;
    for (int k = 0; k < 2; k++)
        a[k] = f[k] - o->band_wide, b[k] = f[k] + o->band_wide;
    snprintf(lab, sizeof lab, "±%g points (specialists outside)", o->band_wide);
    svg_band(p, bx, a, b, 2, "#9ecae1", 0.28, lab);
    for (int k = 0; k < 2; k++)
        a[k] = f[k] - o->band_narrow, b[k] = f[k] + o->band_narrow;
    snprintf(lab, sizeof lab, "±%g points (balanced inside)", o->band_narrow);
    svg_band(p, bx, a, b, 2, "#3182bd", 0.28, lab);
    svg_line(p, bx, f, 2, (svg_style){.color = "#08306b", .width = 1.8}, "least-squares line");
    /* labs by size of their panel; the five largest get colours */
    int order[64], nl = r->nlab < 64 ? r->nlab : 64;
    for (int k = 0; k < nl; k++)
        order[k] = k;
    for (int i = 1; i < nl; i++)
        for (int j = i; j > 0 && r->lab[order[j]].n > r->lab[order[j - 1]].n; j--) {
            int tmp = order[j];
            order[j] = order[j - 1];
            order[j - 1] = tmp;
        }
    double *x = malloc((size_t)r->n * sizeof *x), *y = malloc((size_t)r->n * sizeof *y);
    const char **tt = malloc((size_t)r->n * sizeof *tt);
    if (!x || !y || !tt) {
        free(x), free(y), free(tt);
        svg_plot_free(p);
        return NULL;
    }
    static const svg_marker marks[] = {SVG_MARK_CIRCLE, SVG_MARK_SQUARE, SVG_MARK_DIAMOND,
                                       SVG_MARK_TRIANGLE, SVG_MARK_CIRCLE};
    for (int g = 0; g <= 5 && g <= nl; g++) {
        int n = 0;
        for (int i = 0; i < r->n; i++) {
            int li = 0;
            while (li < nl && strcmp(r->lab[order[li]].lab, r->pt[i].lab) != 0)
                li++;
            int grp = li < 5 ? li : 5;
            if (grp != g)
                continue;
            x[n] = r->pt[i].x;
            y[n] = r->pt[i].y;
            tt[n++] = r->pt[i].model;
        }
        if (!n)
            continue;
        const char *name = g < 5 && g < nl ? r->lab[order[g]].lab : "other labs";
        svg_scatter(p, x, y, n,
                    (svg_style){.color = g < 5 ? PALETTE[g] : "#888",
                                .marker = g < 5 ? marks[g] : SVG_MARK_CIRCLE, .size = 4.5},
                    name[0] ? name : "(no lab)", tt);
    }
    for (int i = 0; i < r->n; i++) {
        if (fabs(r->pt[i].resid) <= o->band_wide)
            continue;
        int right = r->pt[i].x > lo + 0.6 * (hi - lo); /* label towards the middle */
        svg_text(p, r->pt[i].x, r->pt[i].y, right ? -7 : 7, r->pt[i].resid > 0 ? -5 : 12,
                 r->pt[i].model, right ? SVG_ANCHOR_END : SVG_ANCHOR_START, "#333", 9.5);
    }
    free(x), free(y), free(tt);
    return finish_plot(p);
}

static char *fig_eigen(const report_state *s)
{
    svg_plot *p = svg_plot_new("svg-eigen", 600, 420);
    if (!p)
        return NULL;
    svg_title(p, "Eigenvalue spectra of the five-benchmark panel");
    svg_axis_x(p, "principal component", SVG_LINEAR, svg_format_plain);
    svg_axis_y(p, "share of variance (eigenvalue / trace, log scale)", SVG_LOG10, NULL);
    svg_range_x(p, 0.7, 5.3);
    svg_range_y(p, 1e-5, 1.5);
    svg_legend_below(p, 1);
    double cx[EIGEN_MAX_BENCH];
    for (int k = 0; k < EIGEN_MAX_BENCH; k++)
        cx[k] = k + 1;
    struct {
        const eigen_result *r;
        const char *what;
    } src[2] = {{&s->eig_a, s->seta_short}, {&s->eig_p, "covariance"}};
    int color = 0;
    for (int q = 0; q < 2; q++) {
        const eigen_result *r = src[q].r;
        for (int k = 0; k < r->ng; k++) {
            const eigen_group *g = &r->g[k];
            if (!g->estimable || (q == 1 && g->kind != EIGEN_GROUP_PHASE))
                continue;
            char lab[128];
            if (q == 0)
                snprintf(lab, sizeof lab, "%s, correlation: d_eff %.2f", src[q].what, g->d_eff);
            else
                snprintf(lab, sizeof lab, "%s phase, %d models (%s): d_eff %.2f", g->name, g->n,
                         src[q].what, g->d_eff);
            const char *c = q == 0 ? "#111" : PHASE_COLOR[strcmp(g->name, "tax") == 0 ? 0
                                                          : strcmp(g->name, "transition") == 0 ? 1
                                                                                                : 2];
            svg_style st = {.color = c, .width = q == 0 ? 2 : 1.5, .dash = q == 0 ? NULL : "6 3",
                            .marker = q == 0 ? SVG_MARK_SQUARE : SVG_MARK_CIRCLE, .size = 4};
            double ev[EIGEN_MAX_BENCH];
            for (int j = 0; j < r->opt.nbench; j++)
                ev[j] = g->explained[j] >= 1e-5 ? g->explained[j] : NAN; /* numerically zero */
            svg_line(p, cx, ev, r->opt.nbench, st, NULL);
            svg_scatter(p, cx, ev, r->opt.nbench, st, lab, NULL);
            color++;
        }
    }
    return finish_plot(p);
}

/* ---- the page ------------------------------------------------------------- */

static void row(html_doc *h, const char *what, const char *published, const char *cape,
                const char *where)
{
    const char *cells[4] = {what, published, cape, where};
    html_table_row(h, cells, 4);
}

static void summary_table(html_doc *h, const report_state *s)
{
    static const char *hdr[4] = {"quantity", "published", "cape", "computed from"};
    html_table_begin(h, hdr, 4);
    char c[256], a[16], b[16], m[16];
    const phase_family *fa = s->seta_d.nfam ? &s->seta_d.fam[0] : NULL;
    if (fa) {
        char x1[32], x2[32];
        snprintf(c, sizeof c, "%s (p = %s)", fx(x1, sizeof x1, "%.4f", fa->corr.r),
                 fx(x2, sizeof x2, "%.3g", fa->corr.p));
        row(h, "r(HS, TQA), Pythia", "-0.989", c, s->ode_t.path);
        snprintf(c, sizeof c, "%s -> %s", fx(x1, sizeof x1, "%.4f", fa->width.r_raw),
                 fx(x2, sizeof x2, "%+.4f", fa->width.r_norm));
        row(h, "width-normalised r", "-0.989 -> +0.963", c, s->ode_t.path);
    }
    const phase_ucurve *u = &s->pooled_d.ucurve;
    fmt_size(u->median, m, sizeof m);
    fmt_size(u->lo95, a, sizeof a);
    fmt_size(u->hi95, b, sizeof b);
    snprintf(c, sizeof c, "%s [%s, %s], %d of %d valid", m, a, b, u->valid, u->nboot);
    row(h, "pooled N_c (vertex bootstrap)", "3.5B [2.9B, 13.4B]", c, s->pooled_t.path);
    if (s->pooled_d.nloss > 0 && s->pooled_d.loss[0].estimable) {
        const losslaw_result *l = &s->pooled_d.loss[0];
        snprintf(c, sizeof c, "alpha %.4f +/- %.4f, E %.4f, R^2 %.5f", l->alpha, l->se_alpha, l->E,
                 l->r2);
        row(h, "loss law", "alpha 0.238 +/- 0.015, E 1.533, R^2 0.9994", c, s->pooled_t.path);
    }
    const ode_result *r = &s->a_res;
    if (r->ntrain > 0 && r->insample[0].ok) {
        const ode_errors *er = &r->insample_err[0];
        snprintf(c, sizeof c, "%.2f%% (HS %.2f, TQA %.2f, ARC %.2f, WG %.2f, MMLU %.2f)",
                 er->overall_mae_rel, er->mae_rel[0], er->mae_rel[1], er->mae_rel[2],
                 er->mae_rel[3], er->mae_rel[4]);
        row(h, "linear ODE, MAE/mean (RK45, 200-point grid)",
            "2.63% (HS 4.71, TQA 1.23, ARC 3.25, WG 1.47, MMLU 2.56)", c, s->ode_t.path);
    }
    char s1[32], s2[32], s3[32];
    snprintf(c, sizeof c, "tax %s, bonus %s (x%s)", fx(s1, sizeof s1, "%.4f", r->slopes[0].slope),
             fx(s2, sizeof s2, "%.4f", r->slopes[2].slope),
             fx(s3, sizeof s3, "%.2f", r->slopes[2].slope / r->slopes[0].slope));
    row(h, "per-phase slope dTQA/dlog10N on HS", "0.1201 -> 0.7506 (x6.3)", c, s->ode_t.path);
    const ode_result *uc = &s->u_res;
    if (uc->nbase >= 4 && uc->base[0].ok && uc->base[1].ok && uc->base[2].ok && uc->base[3].ok) {
        snprintf(c, sizeof c, "%.3f%% (degrees 1/3/4: %.2f / %.2f / %.2f%%)",
                 uc->base[1].all.overall_mape, uc->base[0].all.overall_mape,
                 uc->base[2].all.overall_mape, uc->base[3].all.overall_mape);
        row(h, "Llama-2 hold-out, TQA U-curve MAPE", "5.645% (9.58 / 5.95 / 6.00%)", c,
            s->pooled_t.path);
    }
    if (s->b2_res.test_pred.ok) {
        snprintf(c, sizeof c, "%.2f%% MAE/mean on 13B/70B (TQA %.2f%%)",
                 s->b2_res.test_err.overall_mae_rel, s->b2_res.test_err.mae_rel[1]);
        row(h, "Llama-2 hold-out, linear ODE in (HS, TQA)", "paper: \"ODE\" 5.6% (it is the U-curve)",
            c, s->pooled_t.path);
    }
    const frontier_result *f = &s->fr;
    char l1[32], l2[32];
    snprintf(c, sizeof c, "slope %.5f, intercept %.3f, r %.5f, p %.3g; LOLO %s +/- %s",
             f->fit.slope, f->fit.intercept, f->fit.r, f->fit.p,
             fx(l1, sizeof l1, "%.2f", f->lolo_mean), fx(l2, sizeof l2, "%.2f", f->lolo_sd));
    row(h, "frontier SWE -> GPQA",
        "0.51308, 46.380, r 0.72349, p 1.33e-6; LOLO 9.20 +/- 2.38 pp", c, s->front_t.path);
    if (s->eig_a.ng > 0 && s->eig_a.g[0].estimable) {
        const eigen_group *g = &s->eig_a.g[0];
        snprintf(c, sizeof c, "%.4f, %.4f, %.4f, %.4f, %.4f", g->eval[0], g->eval[1], g->eval[2],
                 g->eval[3], g->eval[4]);
        row(h, "Pythia correlation eigenvalues", "4.0954, 0.8271, 0.0573, 0.0133, 0.0067", c,
            s->ode_t.path);
    }
    char ph[3][48];
    for (int k = 0; k < 3; k++)
        snprintf(ph[k], sizeof ph[k], "n/a");
    for (int k = 0; k < s->eig_p.ng; k++) {
        const eigen_group *g = &s->eig_p.g[k];
        int w = strcmp(g->name, "tax") == 0 ? 0 : strcmp(g->name, "transition") == 0 ? 1 : 2;
        if (g->kind == EIGEN_GROUP_PHASE && g->estimable)
            snprintf(ph[w], sizeof ph[w], "%.2f (n = %d)", g->d_eff, g->n);
    }
    snprintf(c, sizeof c, "tax %s, transition %s, bonus %s", ph[0], ph[1], ph[2]);
    row(h, "d_eff per phase (covariance)", "1.38 (tax) / 1.22 (bonus): not reproduced", c,
        s->phase_t.path);
    html_table_end(h);
}

static const char *fsz(char *buf, size_t n, double lg)
{
    if (isfinite(lg) && (lg > 14 || lg < 6))
        snprintf(buf, n, "%s", lg > 14 ? ">100T" : "<1M");
    else
        fmt_size(isfinite(lg) ? pow(10, lg) : NAN, buf, n);
    return buf;
}

/* One row per test, one column per table: the verdicts of cape falsify. */
static void falsify_section(html_doc *h, const report_state *s)
{
    const falsify_result *r = &s->fals;
    html_heading(h, 2, "Stress tests of the phase claim (cape falsify)");
    html_para(h, "Is the tax-to-bonus switch a coupling between reasoning and truthfulness, or "
                 "what two independent size trends give when TruthfulQA is U-shaped in log10 N? "
                 "Six tests (docs/METHODS.md, \"Stress tests\"); p values are frequencies "
                 "under a null model of independent per-family trends.");
    const char *hdr[4] = {"test", "", "", ""};
    for (int i = 0; i < r->nt && i < 3; i++)
        hdr[i + 1] = r->t[i].path;
    html_table_begin(h, hdr, 1 + (r->nt < 3 ? r->nt : 3));
    char cell[6][3][320];
    for (int i = 0; i < r->nt && i < 3; i++) {
        const falsify_table *t = &r->t[i];
        char a[16], b[16], c[16], d[16], e[16];
        const falsify_ushape *u = &t->pooled_ushape;
        snprintf(cell[0][i], sizeof cell[0][i],
                 "N_c from the gamma12 line %s, TQA vertex %s; difference %s dex [%s, %s]: %s",
                 fsz(a, sizeof a, u->nc_log), fsz(b, sizeof b, u->vertex_log),
                 fx(c, sizeof c, "%+.2f", u->diff_med), fx(d, sizeof d, "%+.2f", u->diff_lo),
                 fx(e, sizeof e, "%+.2f", u->diff_hi),
                 u->coincide < 0 ? "not estimable" : u->coincide ? "coincide" : "differ");
        const falsify_null *n = &t->null;
        snprintf(cell[1][i], sizeof cell[1][i],
                 "families flipping %d (null p %s); r below %s = %s (null p %s); vertex %s "
                 "published interval (null p %s)",
                 n->flips_obs, fx(a, sizeof a, "%.3f", n->p_flips),
                 fsz(b, sizeof b, log10(n->nc_below)), fx(c, sizeof c, "%+.3f", n->r_below),
                 fx(d, sizeof d, "%.3f", n->p_r_below), n->vertex_in_obs ? "inside" : "outside",
                 fx(e, sizeof e, "%.3f", n->p_vertex_in));
        const falsify_partial *p = &t->pooled_partial[0], *q = &t->pooled_partial[1];
        snprintf(cell[2][i], sizeof cell[2][i],
                 "r | log10 N = %s (perm p %s, n = %d); r | quadratic = %s (perm p %s)",
                 fx(a, sizeof a, "%+.3f", p->r),
                 fx(b, sizeof b, "%.3g", p->perm.total ? p->perm.p : NAN), p->n,
                 fx(c, sizeof c, "%+.3f", q->r),
                 fx(d, sizeof d, "%.3g", q->perm.total ? q->perm.p : NAN));
        size_t w = 0;
        cell[3][i][0] = 0;
        for (int k = 0; k < t->npair && w < sizeof cell[3][i] - 64; k++) {
            const falsify_pair *pp = &t->pair[k];
            if (!pp->present)
                continue;
            w += (size_t)snprintf(cell[3][i] + w, sizeof cell[3][i] - w, "%s%s-%s%s %s",
                                  w ? "; " : "", scores_bench_info(pp->reasoning)->label,
                                  scores_bench_info(pp->truth)->label,
                                  pp->control ? " (control)" : "",
                                  pp->survives ? "survives" : "does not");
        }
        const falsify_stability *st = &t->stab;
        char f1[16], f2[16], s1[16], s2[16];
        snprintf(cell[4][i], sizeof cell[4][i],
                 "all %s; leave one family out %s..%s (%s moves it most); one size out %s..%s",
                 fsz(a, sizeof a, log10(st->nc_all)), fsz(f1, sizeof f1, log10(st->fam_min)),
                 fsz(f2, sizeof f2, log10(st->fam_max)),
                 st->fam_most >= 0 ? st->fam[st->fam_most].label : "-",
                 fsz(s1, sizeof s1, log10(st->size_min)), fsz(s2, sizeof s2, log10(st->size_max)));
        w = 0;
        cell[5][i][0] = 0;
        for (int k = 0; k < t->nfam && w < sizeof cell[5][i] - 80; k++) {
            const falsify_width *wd = &t->fam[k].width;
            if (!wd->estimable)
                continue;
            w += (size_t)snprintf(cell[5][i] + w, sizeof cell[5][i] - w,
                                  "%s%s: %s -> %s, random factor %s (%s of the flip)",
                                  w ? "; " : "", t->fam[k].name, fx(a, sizeof a, "%+.3f", wd->r_raw),
                                  fx(b, sizeof b, "%+.3f", wd->r_norm),
                                  fx(c, sizeof c, "%+.3f", wd->null_mean),
                                  fx(d, sizeof d, "%.0f%%", 100 * wd->share));
        }
        if (!w)
            snprintf(cell[5][i], sizeof cell[5][i], "no d_model");
    }
    static const char *tests[6] = {
        "1. transition = TQA's U-shape?", "2. null of independent trends",
        "3. partial coupling", "4. benchmark pairs", "5. stability of the pooled N_c",
        "6. width-normalisation null"};
    for (int row = 0; row < 6; row++) {
        const char *cells[4] = {tests[row], cell[row][0], cell[row][1], cell[row][2]};
        html_table_row(h, cells, 1 + (r->nt < 3 ? r->nt : 3));
    }
    html_table_end(h);
}

static void figure(html_doc *h, const char *id, char *svg, char *svg2, const char *caption)
{
    const char *svgs[2] = {svg, svg2};
    if (!svg) {
        char msg[1024], esc[600];
        html_escape(caption, esc, sizeof esc);
        snprintf(msg, sizeof msg, "<figure id=\"%s\"><p class=\"no\">Not estimable from these "
                                  "inputs.</p><figcaption>%s</figcaption></figure>\n",
                 id, esc);
        html_raw(h, msg);
    } else {
        html_figure(h, id, svgs, svg2 ? 2 : 1, caption);
    }
    free(svg);
    free(svg2);
}

static void figures(html_doc *h, const report_state *s)
{
    char cap[1024], a[16], b[16], m[16];
    html_heading(h, 2, "Phases and the critical scale");
    html_raw(h, "<div class=\"figs\">\n");
    snprintf(cap, sizeof cap,
             "Each line is one family from small to large (%s, families with at least %d models); "
             "each point is a model coloured by the sign of its running coupling γ₁₂ "
             "= ΔTQA/ΔHS to the neighbouring size. The dashed curve is the isocline "
             "classifier. Hover a point for its name.",
             s->phase_t.path, s->phase_d.opt.min_family);
    figure(h, REPORT_FIGURES[0], fig_phase(s), NULL, cap);
    const phase_ucurve *u = &s->pooled_d.ucurve;
    fmt_size(u->median, m, sizeof m);
    fmt_size(u->lo95, a, sizeof a);
    fmt_size(u->hi95, b, sizeof b);
    snprintf(cap, sizeof cap,
             "γ₁₂ between consecutive sizes of each family of %s, at the "
             "geometric-mean size. The shaded columns are the bootstrap intervals of N_c, the "
             "vertex of the TruthfulQA U-curve (median %s, 95%% [%s, %s]).%s",
             s->pooled_t.path, m, a, b,
             gamma_outside(&s->pooled_d) ? " Points beyond ±3 (pairs whose HS barely moves) lie "
                                           "outside the plotted range."
                                         : "");
    figure(h, REPORT_FIGURES[1], fig_gamma(s), NULL, cap);
    int beyond = 0;
    for (int i = 0; i < u->valid; i++)
        beyond += pow(10, u->boot_log[i]) < u->lo95 / 1.6 || pow(10, u->boot_log[i]) > u->hi95 * 1.6;
    snprintf(cap, sizeof cap,
             "%d i.i.d. resamples of the %d models of %s (numpy RandomState(%u) stream); a "
             "resample counts when its quadratic opens upwards with the vertex between 10^%g and "
             "10^%g. %d valid resamples fall outside the plotted range (the long upper tail).",
             u->nboot, u->n, s->pooled_t.path, s->pooled_d.opt.seed, s->pooled_d.opt.vertex_lo,
             s->pooled_d.opt.vertex_hi, beyond);
    figure(h, REPORT_FIGURES[2], fig_bootstrap(s), NULL, cap);
    const losslaw_result *ll = s->pooled_d.nloss ? &s->pooled_d.loss[0] : NULL;
    if (ll && ll->estimable)
        snprintf(cap, sizeof cap,
                 "L(N) = E + A·N^-α by least squares on the %s losses of %s; the dashed line is "
                 "the fitted irreducible loss E. The invariant N^α(L - E) is %.1f ± %.2f (CV "
                 "%.2f%%).",
                 ll->family, s->pooled_t.path, ll->inv_mean, ll->inv_sd, 100 * ll->inv_cv);
    else
        snprintf(cap, sizeof cap,
                 "Loss law: %s has no family with a loss column and at least four models, or its "
                 "fit is not estimable.",
                 s->pooled_t.path);
    figure(h, REPORT_FIGURES[3], fig_loss(s), NULL, cap);
    char *second = NULL, *first = fig_width(s, &second);
    figure(h, REPORT_FIGURES[4], first, second,
           "Width normalisation: both scores divided by w = d_model / 512. Caveat: dividing two "
           "series by the same growing factor pushes r towards +1 by construction; read the flip "
           "as a ratio-artefact test, not as proof that width explains the coupling.");
    html_raw(h, "</div>\n");

    html_heading(h, 2, "Trajectories, frontier and eigenstructure");
    html_raw(h, "<div class=\"figs\">\n");
    char *hold = fig_ode_holdout(s), *fit = fig_ode_fit(s);
    const ode_result *ar = &s->a_res;
    char why[400] = "";
    if (!fit)
        snprintf(why, sizeof why, " The in-sample ODE is not estimable: %.300s.",
                 !ar->model.estimable ? ar->model.why
                 : ar->ntrain > 0     ? ar->insample[0].why
                                      : "no training family");
    snprintf(cap, sizeof cap,
             "%sdB/dt = C·B + c fitted by least squares on finite differences of %s "
             "and integrated from the smallest model with scipy's RK45 controller (rtol 1e-3), "
             "sampled on a 200-point grid.%s %s: %s held out; the U-curve of TQA in log₁₀N fitted "
             "on the other families (the computation behind the paper's 5.6%%), and the linear "
             "ODE in (HS, TQA) integrated from the held-out family's smallest model.",
             fit ? "Left: markers observed, lines integrated. " : "", s->ode_t.path, why,
             fit ? "Right" : "Shown", s->u_res.has_test ? s->u_res.test->family : "nothing");
    figure(h, REPORT_FIGURES[5], fit ? fit : hold, fit ? hold : NULL, cap);
    snprintf(cap, sizeof cap,
             "%d frontier models of %s, coloured by lab. Bands: ±%g and ±%g points "
             "around the least-squares line; labelled models lie outside the wide band. "
             "Leave-one-lab-out error %s ± %s points over %d labs; rotation ratio "
             "σ = %s.",
             s->fr.n, s->front_t.path, s->fr.opt.band_narrow, s->fr.opt.band_wide,
             fx(a, sizeof a, "%.2f", s->fr.lolo_mean), fx(b, sizeof b, "%.2f", s->fr.lolo_sd),
             s->fr.nlolo, fx(m, sizeof m, "%.3f", s->fr.sigma_ok ? s->fr.sigma : NAN));
    figure(h, REPORT_FIGURES[6], fig_frontier(s), NULL, cap);
    snprintf(cap, sizeof cap,
             "Share of variance of each principal component (log scale): Pythia set A on the "
             "correlation matrix, and the models of %s per γ₁₂ phase on the "
             "covariance matrix. d_eff = (Σλ)²/Σλ².",
             s->phase_t.path);
    figure(h, REPORT_FIGURES[7], fig_eigen(s), NULL, cap);
    html_raw(h, "</div>\n");
}

int report_html(const report_inputs *in, char **html, size_t *len, cape_err *e)
{
    report_state s;
    memset(&s, 0, sizeof s);
    s.seta_label = "Pythia (set A)";
    s.seta_short = "Pythia set A";
    *html = NULL;
    int rc = compute(in, &s, e);
    if (rc) {
        release(&s);
        return rc;
    }
    html_doc *h = html_new("cape report: capability coupling, phases and trajectories",
                           "Figures and numbers computed by cape from public benchmark scores, "
                           "after \"Lying Is Just a Phase\" (arXiv 2605.18838). Every figure is "
                           "inline SVG; the page loads nothing else.");
    if (!h) {
        release(&s);
        return err_set(e, CAPE_EFAIL, "out of memory");
    }
    html_heading(h, 2, "Published numbers and cape's");
    summary_table(h, &s);
    figures(h, &s);
    falsify_section(h, &s);
    char foot[512];
    snprintf(foot, sizeof foot,
             "<footer>%s. Methods and sources: docs/METHODS.md of cape.</footer>\n",
             in->generated_by ? in->generated_by : "cape report");
    html_raw(h, foot);
    *html = html_finish(h, len);
    html_free(h);
    release(&s);
    if (!*html)
        return err_set(e, CAPE_EFAIL, "out of memory");
    return 0;
}

/* ---- one figure from one table (the server) -------------------------------- */

static int figure_compute(const char *id, const scores_table *t, const report_figure_options *o,
                          report_state *s, cape_err *e)
{
    phase_options po;
    phase_options_default(&po);
    po.nboot = o->nboot;
    po.seed = o->seed;
    po.skip_small = 1;
    po.perm_exact_max = 8;
    po.perm_draws = 1000;
    int rc;
    if (strcmp(id, "fig-phase-diagram") == 0) {
        s->phase_t = *t;
        po.nboot = 0;
        s->have_phase_d = 1;
        return phase_diagnose(t, &po, &s->phase_d, e);
    }
    if (strcmp(id, "fig-gamma-size") == 0 || strcmp(id, "fig-nc-bootstrap") == 0 ||
        strcmp(id, "fig-loss-law") == 0) {
        s->pooled_t = *t;
        s->have_pooled_d = 1;
        return phase_diagnose(t, &po, &s->pooled_d, e);
    }
    if (strcmp(id, "fig-width") == 0) {
        s->ode_t = *t;
        po.nboot = 0;
        s->have_seta_d = 1;
        if ((rc = phase_diagnose(t, &po, &s->seta_d, e)) != 0)
            return rc;
        if (o->family) {
            s->width_fam = -1;
            for (int k = 0; k < s->seta_d.nfam; k++)
                if (strcmp(s->seta_d.fam[k].name, o->family) == 0)
                    s->width_fam = k;
            if (s->width_fam < 0)
                return err_set(e, CAPE_EINPUT, "%s: no family '%s' with at least %d models",
                               t->path, o->family, po.min_family);
        }
        return 0;
    }
    if (strcmp(id, "fig-frontier") == 0) {
        s->front_t = *t;
        frontier_options fo;
        frontier_options_default(&fo);
        frontier_default_pair(t, &fo, 0, 0);
        s->have_fr = 1;
        return frontier_run(t, &fo, &s->fr, e);
    }
    if (strcmp(id, "fig-eigen") == 0) {
        s->ode_t = *t;
        s->phase_t = *t;
        eigen_options eo;
        eigen_options_default(&eo);
        eo.nboot = 200;
        eo.seed = o->seed;
        eo.by_family = 0;
        eo.by_phase = 0;
        s->have_eig_a = 1;
        if ((rc = eigen_run(t, &eo, NULL, &s->eig_a, e)) != 0)
            return rc;
        if (!t->has_params || !t->has_column[BENCH_HELLASWAG] ||
            !t->has_column[BENCH_TRUTHFULQA_MC2])
            return 0; /* no phases: the spectrum of the whole panel only */
        po.nboot = 0;
        cape_err pe = {0};
        s->have_phase_d = 1;
        if (phase_diagnose(t, &po, &s->phase_d, &pe) != 0)
            return 0;
        eo.matrix = EIGEN_COVARIANCE;
        eo.by_phase = 1;
        s->have_eig_p = 1;
        return eigen_run(t, &eo, s->phase_d.row_phase, &s->eig_p, e);
    }
    return err_set(e, CAPE_EINPUT, "unknown figure '%s'", id);
}

int report_figure(const scores_table *t, const report_figure_options *o, char **svg, size_t *len,
                  cape_err *e)
{
    report_state s;
    memset(&s, 0, sizeof s);
    s.fig = o;
    *svg = NULL;
    char label[160];
    snprintf(label, sizeof label, "%s", t->path ? t->path : "table");
    s.seta_label = label;
    s.seta_short = label;
    /* the tables are borrowed: release() frees only what was computed */
    int rc = figure_compute(o->id, t, o, &s, e);
    char *a = NULL, *b = NULL;
    if (rc == 0) {
        const char *id = o->id;
        if (strcmp(id, "fig-phase-diagram") == 0)
            a = fig_phase(&s);
        else if (strcmp(id, "fig-gamma-size") == 0)
            a = fig_gamma(&s);
        else if (strcmp(id, "fig-nc-bootstrap") == 0)
            a = s.pooled_d.ucurve.estimable && s.pooled_d.ucurve.valid > 0 ? fig_bootstrap(&s)
                                                                           : NULL;
        else if (strcmp(id, "fig-loss-law") == 0)
            a = fig_loss(&s);
        else if (strcmp(id, "fig-width") == 0)
            a = fig_width(&s, &b);
        else if (strcmp(id, "fig-frontier") == 0)
            a = s.fr.n > 0 ? fig_frontier(&s) : NULL;
        else
            a = fig_eigen(&s);
        if (!a)
            rc = err_set(e, CAPE_EINPUT, "%s: not enough data in %s for this figure", id,
                         t->path ? t->path : "the table");
    }
    if (rc == 0) {
        size_t na = strlen(a), nb = b ? strlen(b) : 0;
        char *out = malloc(na + nb + 2);
        if (!out) {
            rc = err_set(e, CAPE_EFAIL, "out of memory");
        } else {
            memcpy(out, a, na);
            if (b) {
                out[na] = '\n';
                memcpy(out + na + 1, b, nb);
                na += nb + 1;
            }
            out[na] = 0;
            *svg = out;
            if (len)
                *len = na;
        }
    }
    free(a);
    free(b);
    release(&s);
    return rc;
}
