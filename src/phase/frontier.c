#include "phase/frontier.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"

void frontier_options_default(frontier_options *o)
{
    memset(o, 0, sizeof *o);
    o->x = BENCH_SWE_BENCH_VERIFIED;
    o->y = BENCH_GPQA_DIAMOND;
    o->band_narrow = 5;
    o->band_wide = 10;
    o->lolo_min = 4;
    o->slope_min = 3;
    o->top_k = 5;
    o->rotate_below = 0.2;
}

void frontier_default_pair(const scores_table *t, frontier_options *o, int x_given, int y_given)
{
    if (t->has_column[BENCH_SWE_BENCH_VERIFIED] || !t->has_column[BENCH_SIMPLEQA])
        return;
    if (!x_given)
        o->x = y_given && o->y == BENCH_GPQA_DIAMOND ? BENCH_SWE_BENCH_VERIFIED : BENCH_GPQA_DIAMOND;
    if (!y_given)
        o->y = BENCH_SIMPLEQA;
}

static int classify(double h, double band)
{
    return h < -band ? -1 : h > band ? 1 : 0;
}

void frontier_class_name(const frontier_options *o, int cls, int wide, char *buf, size_t n)
{
    const char *x = scores_bench_info(o->x)->label, *y = scores_bench_info(o->y)->label;
    if (cls == 0)
        snprintf(buf, n, "%s", wide ? "cooperative" : "balanced");
    else
        snprintf(buf, n, wide ? "%s specialist" : "%s-rich", cls < 0 ? x : y);
}

/* OLS over the points with mask[i] == keep; returns 0 when fewer than 3
 * points or constant x. */
static int fit_subset(const frontier_point *p, int n, const char *lab, int keep, ols_fit *f)
{
    double *x = malloc((size_t)n * sizeof *x), *y = malloc((size_t)n * sizeof *y);
    int m = 0, ok = 0;
    if (x && y) {
        for (int i = 0; i < n; i++)
            if ((strcmp(p[i].lab, lab) == 0) == keep) {
                x[m] = p[i].x;
                y[m++] = p[i].y;
            }
        cape_err e = {0};
        ok = m >= 3 && stats_ols(x, y, m, f, &e) == 0;
    }
    free(x), free(y);
    return ok;
}

static int cmp_desc_x(const void *a, const void *b)
{
    double x = ((const frontier_point *)a)->x, y = ((const frontier_point *)b)->x;
    return (x < y) - (x > y);
}

static void rotation_ratio(frontier_result *r)
{
    int k = r->opt.top_k < r->n ? r->opt.top_k : r->n;
    r->sigma_n = k;
    if (k < 2)
        return;
    frontier_point *s = malloc((size_t)r->n * sizeof *s);
    if (!s)
        return;
    memcpy(s, r->pt, (size_t)r->n * sizeof *s);
    qsort(s, (size_t)r->n, sizeof *s, cmp_desc_x);
    double xlo = INFINITY, xhi = -INFINITY, ylo = INFINITY, yhi = -INFINITY;
    for (int i = 0; i < k; i++) {
        xlo = fmin(xlo, s[i].x), xhi = fmax(xhi, s[i].x);
        ylo = fmin(ylo, s[i].y), yhi = fmax(yhi, s[i].y);
    }
    free(s);
    r->spread_x = xhi - xlo;
    r->spread_y = yhi - ylo;
    if (r->spread_y > 0) {
        r->sigma_ok = 1;
        r->sigma = r->spread_x / r->spread_y;
        r->rotate = r->sigma < r->opt.rotate_below;
    }
}

static int collect_labs(frontier_result *r, cape_err *e)
{
    r->lab = calloc((size_t)r->n, sizeof *r->lab);
    if (!r->lab)
        return err_set(e, CAPE_EFAIL, "out of memory");
    for (int i = 0; i < r->n; i++) {
        int k = 0;
        while (k < r->nlab && strcmp(r->lab[k].lab, r->pt[i].lab) != 0)
            k++;
        if (k == r->nlab) {
            if (!(r->lab[k].lab = strdup(r->pt[i].lab)))
                return err_set(e, CAPE_EFAIL, "out of memory");
            r->nlab++;
        }
        r->lab[k].n++;
    }
    return 0;
}

static void lolo_and_slopes(frontier_result *r)
{
    const frontier_options *o = &r->opt;
    double sum = 0, sq = 0;
    for (int k = 0; k < r->nlab; k++) {
        frontier_lab *L = &r->lab[k];
        L->lolo_mae = L->slope = L->intercept = L->r = NAN;
        ols_fit f;
        if (L->n >= o->slope_min && fit_subset(r->pt, r->n, L->lab, 1, &f)) {
            L->slope_ok = 1;
            L->slope = f.slope;
            L->intercept = f.intercept;
            L->r = f.r;
        }
        if (L->n < o->lolo_min || L->lab[0] == 0 || !fit_subset(r->pt, r->n, L->lab, 0, &f))
            continue;
        double mae = 0;
        for (int i = 0; i < r->n; i++)
            if (strcmp(r->pt[i].lab, L->lab) == 0)
                mae += fabs(r->pt[i].y - (f.slope * r->pt[i].x + f.intercept));
        L->held_out = 1;
        L->lolo_mae = mae / L->n;
        sum += L->lolo_mae;
        sq += L->lolo_mae * L->lolo_mae;
        r->nlolo++;
    }
    r->lolo_mean = r->nlolo ? sum / r->nlolo : NAN;
    r->lolo_sd = r->nlolo ? sqrt(fmax(0, sq / r->nlolo - r->lolo_mean * r->lolo_mean)) : NAN;
    if (r->nlolo < 2)
        r->lolo_mean = r->lolo_sd = NAN; /* one held-out lab is no estimate of spread */
}

int frontier_run(const scores_table *t, const frontier_options *o, frontier_result *r,
                 cape_err *e)
{
    memset(r, 0, sizeof *r);
    r->opt = *o;
    if (o->x == o->y)
        return err_set(e, CAPE_EINPUT, "frontier: x and y name the same benchmark");
    const char *xk = scores_bench_info(o->x)->key, *yk = scores_bench_info(o->y)->key;
    if (!t->has_column[o->x] || !t->has_column[o->y])
        return err_set(e, CAPE_EINPUT, "%s: frontier needs columns %s and %s", t->path, xk, yk);
    r->pt = calloc((size_t)(t->n ? t->n : 1), sizeof *r->pt);
    if (!r->pt)
        return err_set(e, CAPE_EFAIL, "out of memory");
    int use_primary = !o->all_rows;
    for (int i = 0; i < t->n; i++) {
        const scores_model *m = &t->model[i];
        double x = m->score[o->x], y = m->score[o->y];
        if (!isfinite(x) || !isfinite(y) || (use_primary && m->primary == 0)) {
            r->nskipped++;
            continue;
        }
        frontier_point *p = &r->pt[r->n++];
        p->model = m->name;
        p->lab = m->lab ? m->lab : "";
        p->x = x;
        p->y = y;
    }
    if (r->n < 3)
        return err_set(e, CAPE_EINPUT, "%s: frontier needs at least 3 models with both %s and %s, "
                                       "found %d",
                       t->path, xk, yk, r->n);
    double *x = malloc((size_t)r->n * sizeof *x), *y = malloc((size_t)r->n * sizeof *y);
    if (!x || !y) {
        free(x), free(y);
        return err_set(e, CAPE_EFAIL, "out of memory");
    }
    for (int i = 0; i < r->n; i++)
        x[i] = r->pt[i].x, y[i] = r->pt[i].y;
    cape_err oe = {0};
    int rc = stats_ols(x, y, r->n, &r->fit, &oe);
    free(x), free(y);
    if (rc)
        return err_set(e, CAPE_EINPUT, "%s: frontier fit: every model has the same %s", t->path,
                       xk);
    for (int i = 0; i < r->n; i++) {
        frontier_point *p = &r->pt[i];
        p->fit = r->fit.slope * p->x + r->fit.intercept;
        p->resid = p->y - p->fit;
        p->class_narrow = classify(p->resid, o->band_narrow);
        p->class_wide = classify(p->resid, o->band_wide);
    }
    rc = collect_labs(r, e);
    if (rc)
        return rc;
    lolo_and_slopes(r);
    rotation_ratio(r);
    return 0;
}

void frontier_result_free(frontier_result *r)
{
    for (int k = 0; k < r->nlab; k++)
        free(r->lab[k].lab);
    free(r->lab);
    free(r->pt);
    memset(r, 0, sizeof *r);
}

json_t *frontier_result_json(const frontier_result *r)
{
    const frontier_options *o = &r->opt;
    json_t *j = json_object();
    json_object_set_new(j, "x", json_string(scores_bench_info(o->x)->key));
    json_object_set_new(j, "y", json_string(scores_bench_info(o->y)->key));
    json_object_set_new(j, "n", json_integer(r->n));
    json_object_set_new(j, "skipped_rows", json_integer(r->nskipped));
    json_object_set_new(j, "fit",
                        json_pack("{s:o,s:o,s:o,s:o,s:o,s:o,s:o}", "slope", json_num(r->fit.slope),
                                  "intercept", json_num(r->fit.intercept), "r", json_num(r->fit.r),
                                  "p", json_num(r->fit.p), "r2", json_num(r->fit.r2), "se_slope",
                                  json_num(r->fit.se_slope), "se_intercept",
                                  json_num(r->fit.se_intercept)));
    json_t *labs = json_array();
    for (int k = 0; k < r->nlab; k++) {
        const frontier_lab *L = &r->lab[k];
        json_array_append_new(
            labs, json_pack("{s:s,s:i,s:b,s:o,s:o,s:o,s:o}", "lab", L->lab, "models", L->n,
                            "held_out", L->held_out, "lolo_mae", json_num(L->lolo_mae), "slope",
                            json_num(L->slope), "intercept", json_num(L->intercept), "r",
                            json_num(L->r)));
    }
    json_object_set_new(j, "labs", labs);
    json_object_set_new(j, "leave_one_lab_out",
                        json_pack("{s:i,s:i,s:o,s:o}", "min_models", o->lolo_min, "labs",
                                  r->nlolo, "mae_mean", json_num(r->lolo_mean), "mae_sd",
                                  json_num(r->lolo_sd)));
    json_t *models = json_array();
    for (int i = 0; i < r->n; i++) {
        const frontier_point *p = &r->pt[i];
        char cn[64], cw[64];
        frontier_class_name(o, p->class_narrow, 0, cn, sizeof cn);
        frontier_class_name(o, p->class_wide, 1, cw, sizeof cw);
        json_array_append_new(
            models, json_pack("{s:s,s:s,s:o,s:o,s:o,s:o,s:s,s:s}", "model", p->model, "lab",
                              p->lab, "x", json_num(p->x), "y", json_num(p->y), "fit",
                              json_num(p->fit), "residual", json_num(p->resid), "class_narrow",
                              cn, "class_wide", cw));
    }
    json_object_set_new(j, "bands", json_pack("[f,f]", o->band_narrow, o->band_wide));
    json_object_set_new(j, "models", models);
    json_object_set_new(
        j, "rotation",
        json_pack("{s:i,s:o,s:o,s:o,s:o,s:o}", "top_k", r->sigma_n, "spread_x",
                  json_num(r->spread_x), "spread_y", json_num(r->spread_y), "sigma",
                  json_num(r->sigma_ok ? r->sigma : NAN), "threshold", json_num(o->rotate_below),
                  "rotate", r->sigma_ok ? json_boolean(r->rotate) : json_null()));
    return j;
}
