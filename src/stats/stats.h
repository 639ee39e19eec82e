/* stats: correlation, permutation tests, percentiles and least squares used
 * by the phase diagnostic. Missing values are NaN and must be filtered by the
 * caller; every function here assumes finite inputs. */
#ifndef CAPE_STATS_H
#define CAPE_STATS_H

#include <stdint.h>

#include "base/err.h"

double stats_mean(const double *x, int n);
/* Sample standard deviation (n - 1); population when ddof = 0. */
double stats_sd(const double *x, int n, int ddof);
/* Pearson r; NaN when either series is constant or n < 2. */
double stats_pearson(const double *x, const double *y, int n);
/* Spearman rho: Pearson r of average ranks (ties share their mean rank). */
double stats_spearman(const double *x, const double *y, int n);
/* Two-sided p of H0: rho = 0 from the t distribution with n - 2 degrees of
 * freedom (scipy.stats.pearsonr's exact beta form is the same law). */
double stats_corr_pvalue(double r, int n);
/* Two-sided p of Spearman's rho. For n <= 10 the exact permutation p: the
 * share of the n! orders of y whose |rho| reaches the observed one (ties keep
 * their average ranks). Above that the t approximation, except at |rho| = 1,
 * where the exact share is (orders that keep the tie pattern) / n!, not 0. */
double stats_spearman_pvalue(const double *x, const double *y, int n);
void stats_rank_average(const double *x, int n, double *rank);

typedef enum { PERM_TWO_SIDED, PERM_LESS, PERM_GREATER } perm_side;

typedef struct {
    double r;       /* observed Pearson r */
    uint64_t count; /* permutations at least as extreme (identity included) */
    uint64_t total; /* permutations examined */
    double p;       /* count / total */
    int exact;      /* 1: all n! permutations enumerated; 0: Monte Carlo */
} perm_result;

/* Permutation test of Pearson r with y permuted. n <= exact_max enumerates all
 * n! orders (Heap's algorithm, O(1) update per order); larger n draws
 * `mc_draws` seeded shuffles and reports (count + 1) / (draws + 1). */
int stats_perm_test(const double *x, const double *y, int n, perm_side side, int exact_max,
                    uint64_t mc_draws, uint32_t seed, perm_result *out, cape_err *e);

/* numpy.percentile's default linear interpolation on sorted data, q in [0, 100]. */
double stats_percentile_sorted(const double *sorted, int n, double q);
void stats_sort(double *x, int n);

/* A chance level from repeated shuffles: the mean and the 5th and 95th
 * percentiles of the finite values of v[n] (all NaN when none is finite).
 * Reorders v. */
typedef struct {
    double mean, p05, p95;
} stats_spread;
stats_spread stats_finite_spread(double *v, int n);

typedef struct {
    double slope, intercept;
    double r, p;             /* Pearson r of (x, y) and its two-sided p */
    double se_slope, se_intercept;
    double r2;
    int n;
} ols_fit;

/* Simple linear regression y = slope * x + intercept. Needs n >= 3 and
 * non-constant x. */
int stats_ols(const double *x, const double *y, int n, ols_fit *out, cape_err *e);

/* Least-squares polynomial, coef[0] the highest power as in numpy.polyfit.
 * x is centred and scaled internally; a rank-deficient design is an error. */
int stats_polyfit(const double *x, const double *y, int n, int deg, double *coef, cape_err *e);
double stats_polyval(const double *coef, int deg, double x);

/* Wilson score interval for k successes in n trials at normal quantile z. */
void stats_wilson(int k, int n, double z, double *lo, double *hi);


/* Two-sample Kolmogorov-Smirnov test, two-sided: the statistic D and its
 * p-value as scipy.stats.ks_2samp(a, b) computes them with method='auto'
 * (the exact distribution when max(na, nb) <= 10000, else the asymptotic
 * one, which scipy also falls back on when the exact value rounds outside
 * [0, 1]). D and p are NaN when either sample is empty or holds a NaN. */
typedef struct {
    double d, p;
} stats_ks;
stats_ks stats_ks_2samp(const double *a, int na, const double *b, int nb);

/* Area under the ROC curve of scores of positives against negatives, ties
 * counted one half (sklearn.metrics.roc_auc_score); NaN when a class is empty. */
double stats_roc_auc(const double *pos, int npos, const double *neg, int nneg);

/* Pr(D_n >= x) for the one-sample two-sided Kolmogorov-Smirnov statistic of
 * n observations (scipy.stats.kstwo.sf(x, n)): the law ks_2samp falls back on
 * with n = round(n1 n2 / (n1 + n2)). */
double stats_kstwo_sf(double x, int n);

#endif
