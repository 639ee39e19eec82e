/* ode: benchmark trajectories along model size as an ordinary differential
 * equation in t = log10 N, after "Lying Is Just a Phase" (arXiv 2605.18838,
 * eq. 1) and the code that produced its numbers. docs/METHODS.md ("ODE")
 * explains each fitter and where the paper and its code disagree.
 *
 *  (a) linear: dB/dt = C B + c, a dense least-squares fit on finite
 *      differences at interval midpoints, integrated from a family's
 *      smallest model (the path behind the published 2.6 %);
 *  (b) sindy:  dB/dt = Theta(B) Xi with a polynomial library on scores as
 *      fractions, Xi sparse by STLSQ, plus its stability over lambda;
 *  (c) ucurve: a polynomial of one benchmark in t (degree 2: the U-curve
 *      behind the published 5.6 % Llama-2 hold-out).
 * Cross-prediction fits on the training families and predicts a held-out
 * family, beside polynomial baselines of degree 1..4 on the same inputs. */
#ifndef CAPE_ODE_H
#define CAPE_ODE_H

#include <jansson.h>
#include <stddef.h>

#include "base/err.h"
#include "phase/scores.h"
#include "stats/odeint.h"
#include "stats/regress.h"

enum { ODE_MAX_BENCH = 8, ODE_MAX_BASELINE = 4, ODE_MAX_LAMBDA = 64 };

typedef enum { ODE_FIT_LINEAR, ODE_FIT_SINDY, ODE_FIT_UCURVE } ode_fit_kind;
const char *ode_fit_name(ode_fit_kind k);

typedef struct {
    ode_fit_kind fit;
    int nbench;
    bench_id bench[ODE_MAX_BENCH]; /* the state (a, b); default HS, TQA, ARC, WG, MMLU */
    odeint_options integ;          /* RK45 with scipy's defaults */
    int exact;        /* (a): integrate exactly with the matrix exponential */
    int grid;         /* sample on this many points and interpolate linearly (200); 0: at
                         the sizes themselves */
    /* (b) */
    stlsq_options stlsq;
    int degree;       /* library degree (3) */
    int nlambda;      /* stability grid, log-spaced (13) */
    double lambda_lo, lambda_hi; /* 0.01, 1 */
    /* (c) */
    bench_id target;  /* TQA */
    int poly_degree;  /* 2 */
    int baseline_max; /* polynomial baselines of degree 1..baseline_max (4) */
    /* per-phase slope of d(slope_y)/dt on slope_x at midpoints */
    bench_id slope_x, slope_y; /* HS, TQA */
    double tax_max, bonus_min; /* windows: N <= tax_max, tax_max <= N <= bonus_min, N >= bonus_min
                                  (1e9, 2.8e9) */
} ode_options;

void ode_options_default(ode_options *o);

/* One family's models in size order, with every benchmark of the state. */
typedef struct {
    char *family;
    int n;
    double *log_n;     /* n */
    double *b;         /* n x nbench, in points (0-100) */
    const char **name; /* borrowed from the score table */
} ode_traj;

typedef struct {
    int nbench;
    bench_id bench[ODE_MAX_BENCH];
    ode_traj *traj;
    int ntraj;
    int nskipped;      /* models dropped for a missing size or score */
    int nduplicate;    /* models sharing a size within their family (averaged into one point) */
    char duplicate[256]; /* their names (the first few) */
} ode_data;

/* Collects the trajectories of every family in the tables. A table without
 * a family column counts as one family named after its file. Models that
 * miss a score of the state are skipped, and so is a model repeating a size
 * already in its family (a later version of one model: no finite difference
 * exists between the two); both are counted in *train. holdout != NULL:
 * that family goes to *test (an error when absent), the rest to *train;
 * test may be NULL otherwise. */
int ode_data_build(const scores_table *const *tables, int ntables, const ode_options *o,
                   const char *holdout, ode_data *train, ode_data *test, cape_err *e);
void ode_data_free(ode_data *d);

/* A fitted right-hand side. */
typedef struct {
    ode_fit_kind kind;
    int nbench;
    int nrows;       /* finite-difference rows */
    int estimable;
    char why[256];   /* reason when not estimable */
    /* linear: coef[i * (nbench + 1) + j], j < nbench: C_ij; j = nbench: c_i */
    double *coef;
    int rank;
    double resid_rms; /* in-sample RMS of the derivative fit */
    /* sindy */
    int nterm;
    unsigned char *expo; /* nterm x nbench monomial exponents */
    double *xi;          /* nterm x nbench, on fractions */
    double lambda;
    int iters, converged;
} ode_model;

int ode_fit(const ode_data *train, const ode_options *o, ode_model *m, cape_err *e);
void ode_model_free(ode_model *m);
/* "HS", "HS TQA^2", "1" */
void ode_term_name(const ode_model *m, const bench_id *bench, int term, char *buf, size_t n);
/* dB/dt at state b (points), in points per decade. */
void ode_rhs_eval(const ode_model *m, const double *b, double *dbdt);

/* Integration of a fitted model from a trajectory's first model. */
typedef struct {
    int n, nbench;
    int ok;
    char why[256];
    double *pred;      /* n x nbench, the first row is the initial state */
    int ncurve;        /* a smooth curve for plots */
    double *curve_t, *curve_b; /* ncurve, ncurve x nbench */
    odeint_stats st;
} ode_pred;

int ode_predict(const ode_model *m, const ode_traj *tr, const ode_options *o, ode_pred *p,
                cape_err *e);
void ode_pred_free(ode_pred *p);

/* MAE/mean (the paper's "mean error") and MAPE, in percent. */
typedef struct {
    int n;                        /* models compared */
    double mae[ODE_MAX_BENCH];    /* mean |error| in points */
    double mae_rel[ODE_MAX_BENCH];
    double mape[ODE_MAX_BENCH];
    double overall_mae_rel, overall_mape;
} ode_errors;

/* Compares rows first..n-1 of pred against truth (both n x nbench). */
void ode_score(const double *pred, const double *truth, int n, int nbench, int first,
               ode_errors *out);

/* Polynomial baselines per benchmark, fitted on every training model. */
typedef struct {
    int degree;
    int ok;
    char why[160];
    double *pred;      /* n_test x nbench */
    ode_errors all;    /* every held-out model */
    ode_errors beyond; /* models after the held-out family's first */
} ode_baseline;

/* SINDy's support over a log-spaced lambda grid. */
typedef struct {
    int nlambda;
    double lambda[ODE_MAX_LAMBDA];
    int nactive[ODE_MAX_LAMBDA][ODE_MAX_BENCH]; /* terms per equation */
    double *freq;   /* nterm x nbench: fraction of the grid selecting the term */
    int stable_lo, stable_hi; /* grid range with the same support as the chosen lambda */
    int nsupports;  /* distinct supports over the grid */
} ode_stability;

/* The per-phase slope of d(slope_y)/dt on slope_x (scores at midpoints). */
typedef struct {
    const char *phase;
    int nrows;
    int estimable;
    int exact;      /* two rows: the line passes through both */
    double slope, intercept;
} ode_phase_slope;

typedef struct {
    ode_options opt;
    ode_model model;        /* fitters (a) and (b) */
    int ntrain;
    ode_pred *insample;     /* one per training trajectory */
    ode_errors *insample_err;
    ode_errors insample_all; /* pooled over training trajectories */
    ode_stability stab;      /* (b) only */
    /* (c): the polynomial of opt.target on the training models */
    int poly_ok;
    char poly_why[160];
    double poly_coef[ODE_MAX_BASELINE + 1];
    int poly_n;
    double poly_vertex_log; /* degree 2 with a minimum: log10 N of the vertex; NaN otherwise */
    ode_phase_slope slopes[3];
    /* hold-out */
    int has_test;
    const ode_traj *test;
    ode_pred test_pred;      /* (a, b): integrated from the held-out first model */
    ode_errors test_err;     /* beyond the first model */
    int test_target_col;     /* column of opt.target in the state, -1 when absent */
    ode_baseline base[ODE_MAX_BASELINE];
    int nbase;
} ode_result;

/* Fits on train, scores in-sample, and predicts test when given. Returns
 * nonzero only for input errors; a fit that cannot be estimated is marked. */
int ode_run(const ode_data *train, const ode_data *test, const ode_options *o, ode_result *r,
            cape_err *e);
void ode_result_free(ode_result *r);
/* The documented --json object (docs/JSON.md). */
json_t *ode_result_json(const ode_result *r, const ode_data *train);

#endif
