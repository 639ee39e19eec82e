/* steer_eval: the honest evaluation of a steering direction on TruthfulQA,
 * the protocol `cape steer eval` runs.
 *
 * The held-out questions are halved: a sweep of blocks x scales on the dev
 * half picks the best point (by MC2, or MC1 with --select mc1), which is then
 * reported once on the test half against the unsteered model. The control
 * runs the same sweep and selection with a random direction of the same norm
 * per block (mceval_random_cvec), and the truth direction is compared with
 * it on the test half (paired): a gain counts only where it beats the random
 * direction (mceval_judge). Optionally, the paper's own measure: how many
 * greedy continuations of its prompts change under the chosen steering. */
#ifndef CAPE_STEER_EVAL_H
#define CAPE_STEER_EVAL_H

#include <stdint.h>

#include "steer/cvec.h"
#include "steer/mceval.h"

#define STEER_EVAL_MAX_LAYERS 256

typedef struct {
    const cvec *cv;
    const char *cvec_name; /* the file, for messages */
    const int *layers; /* blocks to sweep; NULL: the block build chose (and the
                          quarter depth when the file has it), else every block */
    int nlayers;
    const double *scales;
    int nscales;
    int last_only, gate, relative, select_mc1;
    int control;           /* run the random-direction control */
    uint32_t control_seed; /* its draw */
    int nboot;             /* bootstrap draws of the intervals */
    uint32_t seed;         /* their seed */
    int dev_limit;         /* the sweep uses the first dev_limit dev questions (0: all) */
    const char *changed_prompts; /* NULL, or prompts whose greedy continuations are compared */
    int changed;                 /* how many of them */
    /* progress: stage(user, label) before each stage and sweep point, then
     * progress(progress_user, done, total) within it */
    void (*stage)(void *user, const char *label);
    void *stage_user;
    capture_progress_fn progress;
    void *progress_user;
} steer_eval_opts;

typedef struct {
    char *prompt, *unsteered, *steered;
    int changed;
} steer_eval_change;

typedef struct {
    int layers[STEER_EVAL_MAX_LAYERS], nlayers; /* the blocks swept */
    int ndev, ntest;
    mceval_cmp dev_base;           /* the unsteered model on the dev questions swept */
    mceval_point *pts, *rpts;      /* [np] truth and random sweeps (rpts NULL without control) */
    int np, best, rbest;           /* points, and the chosen ones */
    mceval_cmp test_base, test_steered;           /* on test: unsteered; truth vs unsteered */
    mceval_cmp test_random, truth_minus_random;   /* random vs unsteered; truth vs random */
    mceval_verdict verdict;        /* MCEVAL_NO_GAIN when the control was not run */
    steer_eval_change *changes;    /* [nchanges] the paper's measure */
    int nchanges, nchanged;
} steer_eval_result;

/* Evaluates o->cv on the nheld held-out questions held[] of s. */
int steer_eval_run(model_session *ses, const model *m, const tqa_set *s, const int *held, int nheld,
                   const steer_eval_opts *o, steer_eval_result *r, cape_err *e);
void steer_eval_result_free(steer_eval_result *r);

#endif
