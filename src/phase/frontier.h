/* frontier: the frontier-model diagnostic of "Lying Is Just a Phase"
 * (arXiv 2605.18838; companion paper on SWE-bench vs GPQA): an OLS line of
 * one benchmark on another across a panel of models, its leave-one-lab-out
 * error, per-lab slopes, each model's residual ("release field" h) and class,
 * and the benchmark-rotation ratio sigma. docs/METHODS.md, "Frontier". */
#ifndef CAPE_FRONTIER_H
#define CAPE_FRONTIER_H

#include <jansson.h>
#include <stddef.h>

#include "base/err.h"
#include "phase/scores.h"
#include "stats/stats.h"

typedef struct {
    bench_id x, y;        /* y regressed on x */
    double band_narrow;   /* residual classes at +-5 points (the dashboard's) */
    double band_wide;     /* and at +-10 (the paper's) */
    int lolo_min;         /* labs with at least this many models are held out (4) */
    int slope_min;        /* per-lab slopes need this many models (3) */
    int top_k;            /* sigma: spreads among the top-k models by x (5) */
    double rotate_below;  /* rotate the benchmark axis when sigma is below this (0.2) */
    int all_rows;         /* ignore a primary column (use every row) */
} frontier_options;

void frontier_options_default(frontier_options *o);
/* The pair for a table: SWE-bench Verified -> GPQA Diamond, or, for a table
 * with SimpleQA and no SWE-bench, GPQA Diamond -> SimpleQA (reasoning vs
 * factuality). x_given / y_given keep what the caller chose. */
void frontier_default_pair(const scores_table *t, frontier_options *o, int x_given, int y_given);

typedef struct {
    const char *model, *lab; /* borrowed from the table */
    double x, y;
    double fit, resid;       /* fitted y and h = y - fit */
    int class_narrow, class_wide; /* -1 below the band, 0 inside, +1 above */
} frontier_point;

typedef struct {
    char *lab;
    int n;
    int held_out;         /* n >= lolo_min */
    double lolo_mae;      /* MAE in points of the line fitted without this lab */
    int slope_ok;
    double slope, intercept, r;
} frontier_lab;

typedef struct {
    frontier_options opt;
    int n;
    frontier_point *pt;
    int nskipped;         /* rows without both scores, or not primary */
    ols_fit fit;
    frontier_lab *lab;
    int nlab;
    int nlolo;
    double lolo_mean, lolo_sd; /* over the held-out labs; SD with ddof 0 */
    int sigma_ok;
    int sigma_n;
    double spread_x, spread_y, sigma;
    int rotate;
} frontier_result;

/* Needs at least 3 models with both scores and distinct x (CAPE_EINPUT
 * otherwise); the parts that cannot be estimated (LOLO with fewer than two
 * qualifying labs, sigma with zero spread) are marked. */
int frontier_run(const scores_table *t, const frontier_options *o, frontier_result *r,
                 cape_err *e);
void frontier_result_free(frontier_result *r);
/* Class names for a residual class at the narrow or wide band: "balanced",
 * "<x>-rich", "<y>-rich" (narrow) and "cooperative", "<x> specialist",
 * "<y> specialist" (wide). */
void frontier_class_name(const frontier_options *o, int cls, int wide, char *buf, size_t n);
json_t *frontier_result_json(const frontier_result *r);

#endif
