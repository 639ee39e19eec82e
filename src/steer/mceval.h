/* mceval: TruthfulQA MC1 / MC2 by log-likelihood scoring with the standard QA
 * prompt, with or without steering, and the paired comparison of two runs
 * with bootstrap intervals. */
#ifndef CAPE_MCEVAL_H
#define CAPE_MCEVAL_H

#include <stdint.h>

#include "model/model.h"
#include "steer/apply.h"
#include "steer/capture.h"
#include "steer/tqa.h"

typedef struct {
    int n;
    int *mc1;      /* [n] 0/1 */
    double *mc2;   /* [n] */
    double *gate_cos; /* [n] when gated, else NULL */
} mceval_run;

/* Scores items idx[0..n) of s. c == NULL: unsteered. */
int mceval_truthfulqa(model_session *ses, const model *m, const tqa_set *s, const int *idx, int n,
                      const steer_cfg *c, capture_progress_fn progress, void *progress_user,
                      mceval_run *out, cape_err *e);
void mceval_free(mceval_run *r);

typedef struct {
    double v, lo, hi; /* estimate and 95 % percentile bootstrap interval */
} mceval_ci;

typedef struct {
    int n;
    mceval_ci mc1, mc2;       /* the steered run */
    mceval_ci d_mc1, d_mc2;   /* steered minus baseline, paired */
    int n_wrong, n_fixed;     /* baseline MC1 wrong, and of those now right */
    int n_right, n_broken;    /* baseline MC1 right, and of those now wrong */
    mceval_ci fixed, broken;  /* n_fixed / n_wrong, n_broken / n_right */
} mceval_cmp;

/* Paired comparison; bootstrap resamples items (nboot, seed). base may equal run. */
void mceval_compare(const mceval_run *base, const mceval_run *run, int nboot, uint32_t seed,
                    mceval_cmp *out);

#endif
