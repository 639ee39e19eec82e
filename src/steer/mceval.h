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

/* ---- the sweep over blocks x scales on the dev half, and its control ---- */

typedef struct {
    int layer;
    double scale;
    mceval_cmp dev; /* against the unsteered dev run */
} mceval_point;

typedef struct {
    const steer_cfg *tmpl;    /* cv, last_only, gate, relative; block and scale set per point */
    const int *layers;
    int nlayers;
    const double *scales;
    int nscales;
    int select_mc1;           /* pick the best point by MC1 (MC2 breaks ties), else by MC2 */
    int nboot;
    uint32_t seed;            /* bootstrap */
    /* called before each point, e.g. to label a progress bar */
    void (*on_point)(void *user, int layer, double scale);
    void *on_point_user;
    capture_progress_fn progress;
    void *progress_user;
} mceval_sweep_opts;

/* Scores the dev questions under every block x scale (block-major order) into
 * pts[nlayers * nscales] and sets *best to the point the rule picks. */
int mceval_sweep(model_session *ses, const model *m, const tqa_set *s, const int *dev, int ndev,
                 const mceval_run *base_dev, const mceval_sweep_opts *o, mceval_point *pts,
                 int *best, cape_err *e);

/* The control direction: for every slot present in truth, a vector drawn
 * from the isotropic normal and scaled to that slot's norm in truth (a unit
 * direction for cape's files), so every scale, absolute or relative (the
 * residual norms are copied), adds a vector of the same length. The draw for
 * slot l depends only on (seed, l): a block's random direction is the same
 * whichever other blocks the file holds. */
int mceval_random_cvec(const cvec *truth, uint32_t seed, cvec *out, cape_err *e);

typedef enum {
    MCEVAL_NO_GAIN,          /* the interval of steered minus unsteered reaches 0 or below */
    MCEVAL_GAIN_NOT_BEYOND_RANDOM, /* a gain, but truth minus random reaches 0 or below */
    MCEVAL_GAIN_BEYOND_RANDOM      /* both intervals lie above 0 */
} mceval_verdict;

/* vs_base: the truth direction against the unsteered model; vs_random: the
 * truth direction against the random direction (paired); on MC1 or MC2. */
mceval_verdict mceval_judge(const mceval_cmp *vs_base, const mceval_cmp *vs_random, int mc1);
const char *mceval_verdict_name(mceval_verdict v);

#endif
