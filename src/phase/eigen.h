/* eigen: eigenstructure of a benchmark panel (arXiv 2605.18838, "d_eff"):
 * PCA of the correlation or covariance matrix of HS, TQA, ARC, WG, MMLU
 * across models, for all models, per phase and per family, with the
 * effective dimension d_eff = (sum lambda)^2 / sum lambda^2 (participation
 * ratio) and a family-stratified bootstrap interval. docs/METHODS.md,
 * "Eigenstructure". */
#ifndef CAPE_EIGEN_H
#define CAPE_EIGEN_H

#include <jansson.h>
#include <stdint.h>

#include "base/err.h"
#include "phase/phase.h"
#include "phase/scores.h"

enum { EIGEN_MAX_BENCH = 8 };

typedef enum { EIGEN_CORRELATION, EIGEN_COVARIANCE } eigen_matrix;

typedef struct {
    int nbench;
    bench_id bench[EIGEN_MAX_BENCH]; /* HS, TQA, ARC, WG, MMLU */
    eigen_matrix matrix;             /* correlation */
    int nboot;                       /* family-stratified resamples (1000; 0: none) */
    uint32_t seed;                   /* numpy RandomState seed of the resampling (42) */
    int min_models;                  /* a group needs this many models (3) */
    int by_family, by_phase;         /* groups besides "all" (1, 1) */
} eigen_options;

void eigen_options_default(eigen_options *o);

typedef enum { EIGEN_GROUP_ALL, EIGEN_GROUP_PHASE, EIGEN_GROUP_FAMILY } eigen_group_kind;

typedef struct {
    eigen_group_kind kind;
    char *name;
    int n, nfamilies;
    int estimable;
    char why[160];
    double eval[EIGEN_MAX_BENCH];    /* descending */
    double evec[EIGEN_MAX_BENCH * EIGEN_MAX_BENCH]; /* evec[i * nb + k]: benchmark i of PC k */
    double explained[EIGEN_MAX_BENCH]; /* eval / trace */
    double d_eff, det;
    int boot_total, boot_valid;
    double d_lo, d_hi, d_median;     /* 95 % percentile interval; NaN without resamples */
} eigen_group;

typedef struct {
    eigen_options opt;
    eigen_group *g;
    int ng;
    int nskipped;                    /* rows missing a benchmark */
} eigen_result;

/* PCA of one matrix of scores (n x nb, row-major). Fills eval/evec/d_eff,
 * or marks the group not estimable (too few models, a constant benchmark). */
void eigen_pca(const double *x, int n, int nb, eigen_matrix kind, eigen_group *g);
/* d_eff = (sum l)^2 / sum l^2 of nonnegative eigenvalues. */
double eigen_participation_ratio(const double *eval, int n);

/* row_phase (may be NULL): the phase of each table row, for the per-phase
 * groups (phase_diagnose's row_phase). */
int eigen_run(const scores_table *t, const eigen_options *o, const phase_label *row_phase,
              eigen_result *r, cape_err *e);
void eigen_result_free(eigen_result *r);
json_t *eigen_result_json(const eigen_result *r);

#endif
