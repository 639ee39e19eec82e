/* probe_run: internal coupling of two prompt sets inside a model (the
 * paper's section on hidden vs output coupling and per-head coupling), read
 * layer by layer at each prompt's last token. Activations can stream to .npy
 * files; only running sums and a bounded sample stay in memory. */
#ifndef CAPE_PROBE_RUN_H
#define CAPE_PROBE_RUN_H

#include <stdint.h>

#include "model/model.h"
#include "stats/stats.h"
#include "steer/capture.h"
#include "steer/coupling.h"

typedef struct {
    int heads;              /* per-head coupling */
    const char *out_dir;    /* write resid_LNN.npy (and heads_LNN.npy) here; NULL: none */
    int reservoir;          /* vectors kept per layer for d_rep (1024) */
    uint32_t seed;          /* reservoir sampling and the label shuffles */
    int shuffles;           /* label shuffles for the chance level of each coupling (0: none) */
    capture_progress_fn progress;
    void *progress_user;
} prun_opts;

/* A coupling with the two sets' labels shuffled: over the shuffles, the mean
 * and the 5th and 95th percentiles. */
typedef stats_spread prun_null;

typedef struct {
    int n_layers, dim, n_heads, head_dim, n_vocab;
    int na, nb;
    double *hidden;   /* [L] cos of the mean residual streams */
    double *normed;   /* [L] the same after the final norm (the paper's "hidden" at the last layer) */
    double *output;   /* [L] after the final norm and unembedding (logit lens) */
    double *gelu;     /* [L] GELU of the normed states (the paper's "wider projection") */
    double *d_rep;    /* [L] participation ratio of the pooled states' PCA spectrum */
    int d_rep_n;      /* vectors behind it per layer */
    double *head_c;   /* [L][n_heads], NULL unless heads */
    coup_head_counts *head_layer; /* [L] */
    coup_head_counts head_all;
    /* chance levels (NULL unless shuffles): the prompts of both sets pooled and
     * dealt at random into sets of the original sizes, the same measures */
    int shuffles;
    prun_null *sh_hidden, *sh_normed, *sh_output, *sh_gelu; /* [L] */
    prun_null *sh_head_net;  /* [L] net head coupling (with heads) */
    prun_null sh_head_all_net, sh_head_all_coop; /* all heads: net and cooperative fraction */
} prun_result;

int prun_run(model_session *s, const model *m, char *const *a, int na, char *const *b, int nb,
             const prun_opts *o, prun_result *r, cape_err *e);
void prun_free(prun_result *r);

#endif
