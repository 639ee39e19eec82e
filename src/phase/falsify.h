/* falsify: stress tests of the phase claim (docs/METHODS.md, "Stress tests").
 * Is the tax -> bonus switch of gamma12 a coupling between reasoning and
 * truthfulness, or what two independent size trends produce when the truth
 * trend is U-shaped in log10 N? Six tests on a score table:
 *   1. N_c from gamma12 beside the vertex of a truth-only quadratic in log10 N,
 *      on the same bootstrap resamples;
 *   2. a null model of independent trends (per-family fits plus residual
 *      noise): how often it gives a sign change, the anticorrelation below
 *      N_c, a pooled vertex inside the published interval;
 *   3. partial coupling r(reasoning, truth | log10 N) with permutation p;
 *   4. the diagnosis for every reasoning benchmark against truth, and for a
 *      negative-control pair without a truthfulness benchmark;
 *   5. leave-one-family-out and leave-one-size-out pooled N_c;
 *   6. width normalisation by a random growing factor of the same spread.
 * Every test works on one point per family size (models of one size in a
 * family averaged, as the per-family diagnosis does). Every random stream is
 * numpy's legacy RandomState(seed), started afresh by each test, so a run is
 * reproducible and replayable in numpy. */
#ifndef CAPE_FALSIFY_H
#define CAPE_FALSIFY_H

#include <stdint.h>

#include "base/err.h"
#include "phase/phase.h"

typedef struct {
    phase_options po;     /* pair, skip_delta, seed, vertex range, families, sizes, min_family,
                             perm_exact_max */
    int nboot;            /* bootstrap resamples of tests 1 and 4 (10000) */
    int stab_boot;        /* resamples per N_c of test 5 (1000) */
    int nsim;             /* null-model simulations (10000) */
    int nperm;            /* Monte Carlo permutations of the pooled partial coupling (10000) */
    int nwidth;           /* random growing factors of test 6 (10000) */
    int null_degree;      /* polynomial degree of each benchmark's trend (2; lowered to n - 2) */
    double nc_below;      /* N_c that splits "below" (0: the table's pooled vertex median, else
                             the published 3.49B) */
    double pub_lo, pub_hi; /* the published pooled N_c interval (2.9e9, 13.4e9) */
} falsify_options;

void falsify_options_default(falsify_options *o);

/* Test 1: gamma12's N_c beside the truth vertex on the same resamples. All
 * sizes are log10 N; NaN when not defined. */
typedef struct {
    int n;                 /* points */
    double nc_log;         /* N_c from gamma12 on the data (family: first negative -> positive
                              step; pooled: zero of the gamma12-on-log10 N line) */
    double vertex_log;     /* vertex of truth = a x^2 + b x + c when a > 0 */
    int nboot, n_nc, n_vertex, n_both;
    double nc_med, vertex_med;            /* medians over the resamples where each exists */
    double nc_lo, nc_hi;                  /* 2.5/97.5 % of N_c over its resamples */
    double diff_med, diff_lo, diff_hi;    /* log10 N_c - log10 vertex: median, 2.5/97.5 % */
    int coincide;          /* 1: the 95 % interval of the difference holds 0; 0: it does not;
                              -1: too few resamples with both (< max(20, nboot / 10)) */
} falsify_ushape;

/* Test 3: partial correlation after removing a polynomial in log10 N. */
typedef struct {
    int degree;            /* 1: linear in log10 N; 2: quadratic (controls a U-shape) */
    int n;                 /* points used (families with n >= degree + 3) */
    int nfam;
    double r, p_param;     /* Pearson r of residuals; t test with n - nfam (degree + 1) - 1 df */
    perm_result perm;      /* permutation of truth residuals within families */
} falsify_partial;

/* Test 6 for one family. */
typedef struct {
    int estimable;         /* every point has d_model, n >= 3 */
    int n, ndraw;
    double r_raw, r_norm;  /* r(reasoning, truth) and r after dividing by d_model / d_ref */
    double null_mean, null_p05, null_p95;
    double p_ge;           /* share of random factors with r >= r_norm */
    double share;          /* (null_mean - r_raw) / (r_norm - r_raw) */
} falsify_width;

typedef struct {
    char *name;
    int n;
    double *x, *r, *t, *dm; /* log10 N, reasoning, truth, d_model (NaN: absent), by size */
    falsify_ushape ushape;
    int null_degree;
    double r_sd, t_sd;     /* residual SD of each trend, sqrt(SSR / (n - degree - 1)) */
    int flips;             /* gamma12 turns negative -> positive in the data */
    double p_flip;         /* share of null simulations in which this family flips */
    falsify_partial partial[2];
    falsify_width width;
} falsify_family;

/* Test 2, pooled. */
typedef struct {
    int nsim;
    int flips_obs;         /* families that flip in the data */
    double p_flips;        /* share of simulations with at least flips_obs flipping families */
    double mean_flips;     /* families flipping per simulation */
    double nc_below;       /* N_c used (parameters) */
    int nc_below_from;     /* 0: given, 1: the table's pooled vertex median (when at least half
                              the resamples are valid), 2: the published 3.49B */
    int n_below;           /* points below it */
    double r_below;        /* r(reasoning, truth) over those points */
    double p_r_below;      /* share of simulations with r <= r_below (NaN: n_below < 3) */
    int vertex_in_obs;     /* the data's pooled vertex lies in [pub_lo, pub_hi] */
    double vertex_obs_log;
    double p_vertex_in;    /* share of simulations whose pooled vertex lies there */
} falsify_null;

/* Test 4: one benchmark pair. */
typedef struct {
    bench_id reasoning, truth;
    int control;           /* 1: the negative control (no truthfulness benchmark) */
    int present;           /* the table has both columns and a family with enough models */
    int nfam, nflip;       /* families, and those whose gamma12 turns negative -> positive */
    int npoint;
    int vertex_is_min;
    double vertex_log;
    int nboot, valid;
    double median, lo95, hi95; /* pooled N_c from the vertex bootstrap (parameters) */
    falsify_ushape gamma;  /* pooled N_c from the gamma12 line, same resamples (test 1) */
    int survives;          /* the pooled gamma12 line turns positive inside the vertex range,
                              in the data and in at least half of the resamples */
} falsify_pair;

typedef struct {
    char *label;           /* family name or size */
    double nc;             /* pooled N_c without it (bootstrap median, parameters; NaN: none) */
    int npoint;
} falsify_drop;

/* Test 5. */
typedef struct {
    int nboot;
    double nc_all;
    falsify_drop *fam, *size;
    int nfam, nsize;
    double fam_min, fam_max, size_min, size_max; /* over the drops with an N_c */
    int fam_most, size_most; /* the drop that moves log10 N_c most (-1: none) */
} falsify_stability;

typedef struct {
    char *path;
    int nfam, npoint;
    falsify_family *fam;
    char **small;          /* families dropped for too few models */
    int nsmall;
    falsify_ushape pooled_ushape;
    falsify_null null;
    falsify_partial pooled_partial[2];
    falsify_pair pair[8];
    int npair;
    falsify_stability stab;
} falsify_table;

typedef struct {
    falsify_options opt;
    falsify_table *t;
    int nt;
} falsify_result;

/* Runs the six tests on each table. Input problems (no pair, no family with
 * enough models) are CAPE_EINPUT with a one-line message. */
int falsify_run(const scores_table *const *tables, int nt, const falsify_options *o,
                falsify_result *r, cape_err *e);
void falsify_result_free(falsify_result *r);

/* ---- building blocks, exposed for tests ---------------------------------- */

/* Test 1 on one family's points (sorted by size) or on pooled points
 * (pooled = 1: any order; ties in x keep the given order). */
int falsify_ushape_run(const double *x, const double *r, const double *t, int n, int pooled,
                       const falsify_options *o, falsify_ushape *u, cape_err *e);

/* Test 3 on families given as consecutive blocks of the arrays (fam_n[k]
 * points each, sorted by size). partial: one result per family, out: pooled. */
int falsify_partial_run(const double *x, const double *r, const double *t, const int *fam_n,
                        int nfam, int degree, const falsify_options *o, falsify_partial *fam,
                        falsify_partial *out, cape_err *e);

/* Test 2's simulation with given trends: family k has fam_n[k] points in the
 * consecutive blocks of x, r_mu, t_mu and residual SDs r_sd[k], t_sd[k].
 * Observed statistics come in through null (flips_obs, nc_below, r_below,
 * n_below); p_flip[k] receives each family's flip frequency. */
int falsify_null_simulate(const double *x, const double *r_mu, const double *t_mu,
                          const int *fam_n, const double *r_sd, const double *t_sd, int nfam,
                          const falsify_options *o, falsify_null *null, double *p_flip,
                          cape_err *e);

/* Test 6 on one family's points. */
int falsify_width_null(const double *r, const double *t, const double *dm, int n,
                       const falsify_options *o, falsify_width *w, cape_err *e);

#endif
