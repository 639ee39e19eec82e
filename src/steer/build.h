/* build: a steering direction per layer from two prompt sets (contrastive
 * pairs or unpaired sets), and the choice of the layer to steer at. */
#ifndef CAPE_STEER_BUILD_H
#define CAPE_STEER_BUILD_H

#include <stdint.h>

#include "model/model.h"
#include "stats/stats.h"
#include "steer/capture.h"

typedef enum { DIR_MEAN, DIR_PCA, DIR_PCA_CENTRED } dir_method;
/* PROBE: the layer whose linear probe separates the held-out part of the
 * sets best; QUARTER: block n_layers / 4, the paper's choice; FIXED: given.
 * Every rule chooses among blocks SBUILD_FIRST_BLOCK..n_layers-1, the blocks a
 * control vector can hold (QUARTER is raised to it on models of < 4 blocks;
 * FIXED 0 is refused); the probe still reports an accuracy for block 0. */
typedef enum { LAYER_PROBE, LAYER_QUARTER, LAYER_FIXED } layer_rule;
enum { SBUILD_FIRST_BLOCK = 1 };

typedef struct {
    dir_method method;
    layer_rule rule;
    int layer;         /* LAYER_FIXED */
    double holdout;    /* fraction of pairs held out for the probe (0.3) */
    double lambda;     /* probe L2 strength on standardised features (0.01) */
    uint32_t seed;     /* held-out split and the label shuffles */
    int shuffles;      /* probe accuracy with shuffled labels, for its chance level (0: none) */
    capture_progress_fn progress;
    void *progress_user;
} sbuild_opts;

typedef stats_spread sbuild_null; /* over the label shuffles */

typedef struct {
    int n_layers, dim;
    int npos, nneg, paired;
    int chosen;          /* block to steer after */
    float *dir;          /* [n_layers][dim] unit directions */
    double *probe_acc;   /* [n_layers] held-out accuracy (NaN when the rule is not PROBE) */
    double *resid_norm;  /* [n_layers] mean L2 norm of the residual stream (scale guide) */
    sbuild_null *probe_null; /* [n_layers] probe accuracy with shuffled labels, or NULL */
} sbuild_result;

/* pos[i] and neg[i] are a pair when npos == nneg (then PCA is allowed). */
int sbuild_run(model_session *s, const model *m, char *const *pos, int npos, char *const *neg,
               int nneg, const sbuild_opts *o, sbuild_result *r, cape_err *e);
void sbuild_free(sbuild_result *r);

/* The probe rule on captured activations acts [npos + nneg][L][d] (positive
 * rows first): held-out accuracy per block into acc[L], the chosen block, and
 * with o->shuffles > 0 and null != NULL the accuracy's chance level null[L]:
 * the same split and fits with the labels shuffled (within each pair when
 * paired, else over all prompts). */
int sbuild_probe(const float *acts, int L, int d, int npos, int nneg, const sbuild_opts *o,
                 double *acc, sbuild_null *null, int *chosen, cape_err *e);

#endif
