/* phase: the capability-coupling diagnostic of "Lying Is Just a Phase"
 * (arXiv 2605.18838) on a table of benchmark scores. docs/METHODS.md explains
 * every quantity and where it comes from. */
#ifndef CAPE_PHASE_H
#define CAPE_PHASE_H

#include <stdint.h>

#include "base/err.h"
#include "phase/losslaw.h"
#include "phase/scores.h"
#include "stats/stats.h"

typedef enum { PHASE_TAX, PHASE_TRANSITION, PHASE_BONUS, PHASE_UNKNOWN } phase_label;

const char *phase_name(phase_label p);
/* tax: gamma < -band; bonus: gamma > band; transition otherwise. */
phase_label phase_classify(double gamma, double band);

typedef struct {
    bench_id reasoning, truth;
    double skip_delta;      /* pairs with |delta reasoning| <= this are skipped (0.5) */
    double band;            /* phase band around zero coupling (0.1) */
    int nboot;              /* bootstrap resamples of the pooled U-curve (10000) */
    uint32_t seed;          /* numpy RandomState seed of the bootstrap (42) */
    double vertex_lo, vertex_hi; /* keep resamples whose vertex log10 N is inside (7, 12) */
    double isocline_k;      /* TQA_c = sqrt(k * HS) on fractions (0.1866) */
    double d_ref;           /* width normalisation reference d_model (512) */
    int perm_exact_max;     /* enumerate all n! permutations up to this n (10) */
    uint64_t perm_draws;    /* Monte Carlo permutations above it (100000) */
    perm_side perm_side;
    int min_family;         /* a family needs this many models (3) */
    int skip_small;         /* accepted for compatibility: smaller families are always skipped */
    int strict;             /* a family with fewer than min_family models is an error */
    const char *const *families; /* keep only these families (NULL: all) */
    int nfamilies;
    double loss_alpha, loss_e;   /* exponent and offset given for the invariant (NaN: fitted) */
    double min_size, max_size;   /* keep models with min_size <= N <= max_size (0, inf) */
} phase_options;

void phase_options_default(phase_options *o);

typedef struct {
    int a, b;          /* positions in the family's size order */
    double log_n_mid;  /* mean of log10 N: the log of the geometric-mean size */
    double d_reason, d_truth;
    double gamma;      /* d_truth / d_reason; NaN when the pair is skipped */
} phase_step;

typedef struct {
    int n;
    double r, p;      /* Pearson and its two-sided parametric p */
    double rho, rho_p; /* Spearman and its p */
    perm_result perm; /* perm.total == 0 when not computed */
} phase_corr;

typedef struct {
    int estimable;     /* every model has d_model */
    double r_raw, r_norm;
    int n;
} phase_width;

typedef struct {
    char *name;
    int n;              /* models with both scores, in size order */
    int *idx;           /* their rows in the score table */
    /* Models of one size are one point: their scores are averaged, so no
     * coupling is ever taken between two models of the same size. */
    int npoint;         /* distinct sizes */
    int *point;         /* point of each model (parallel to idx) */
    int nshared;        /* models that share their size with another (n - npoint + groups) */
    phase_step *step;   /* between consecutive points; a, b: the first model of each in idx */
    int nstep;
    phase_corr corr;
    int nc_found;       /* 1: gamma turns from negative to positive */
    double nc;          /* critical size (parameters) when found */
    int nc_step_neg, nc_step_pos;
    phase_width width;
} phase_family;

typedef struct {
    int estimable;
    int n;
    double coef[3];        /* truth = c0 x^2 + c1 x + c2, x = log10 N */
    int vertex_is_min;     /* c0 > 0 */
    double vertex_log;     /* -c1 / (2 c0) */
    int nboot, valid;
    double median, mean, lo68, hi68, lo95, hi95; /* in parameters */
    double *boot_log;      /* log10 N_c of the valid resamples (histograms) */
} phase_ucurve;

typedef struct {
    int estimable;
    int npoint;
    double *x, *gamma;     /* midpoint log10 N and gamma of globally consecutive models */
    ols_fit fit;
    int zero_ok;
    double zero_log;       /* where the fitted gamma crosses 0 */
    double jk_mean, jk_sd; /* leave-one-out zero crossings (parameters): mean, jackknife SE */
    int jk_n;
} phase_gammafit;

typedef struct {
    phase_options opt;
    const scores_table *table;
    int has_pair;            /* the table has both benchmarks of the pair */
    phase_family *fam;
    int nfam;
    char **small;            /* families dropped for having too few models */
    int *small_n;
    int nsmall;
    int nmissing;            /* rows without one of the two scores */
    int nmissing_size;       /* ... of which: rows without a size */
    /* per table row: family position (-1 unused), coupling and phase */
    int *row_family;
    double *row_gamma;
    phase_label *row_phase;
    int *row_iso_bonus;      /* 1 bonus, 0 tax, -1 not classified */
    phase_corr by_phase[3];
    phase_corr pooled;
    int iso_agree, iso_total; /* isocline vs gamma phase, tax/bonus models only */
    phase_ucurve ucurve;
    phase_gammafit gfit;
    losslaw_result *loss;    /* one per family with a loss column */
    int nloss;
} phase_diagnosis;

int phase_diagnose(const scores_table *t, const phase_options *o, phase_diagnosis *d, cape_err *e);
void phase_diagnosis_free(phase_diagnosis *d);

/* Building blocks, exposed for tests and for other commands. */
int phase_running_coupling(const double *log_n, const double *reason, const double *truth, int n,
                           double skip_delta, phase_step *out);
int phase_family_nc(const phase_step *s, int nstep, double *nc_log, int *neg, int *pos);
int phase_ucurve_bootstrap(const double *x, const double *y, int n, int nboot, uint32_t seed,
                           double lo, double hi, phase_ucurve *u, cape_err *e);
double phase_width_r(const double *reason, const double *truth, const double *d_model, int n,
                     double d_ref);
int phase_isocline_bonus(double reason_pct, double truth_pct, double k);
/* Least-squares quadratic y = c[0] u^2 + c[1] u + c[2] in u = x - xc through
 * the rows idx[0..n) of (x, y) (idx NULL: the first n rows; repeated rows
 * count repeatedly, as in a bootstrap resample); 0 when singular. */
int phase_quadratic_fit(const double *x, const double *y, const int *idx, int n, double xc,
                        double c[3]);

#endif
