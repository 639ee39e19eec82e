/* advice: where one model stands and what the paper's rules suggest for it
 * (arXiv 2605.18838 and its dashboard): phase, distance to N_c, the ODE's
 * prediction for the next size up, and rule-based interventions (data
 * curation with h_c ~ (N_c - N)^(3/2), width, benchmark rotation). Unlike the
 * dashboard, gamma12 comes from the user's own family when one is given.
 * Each rule's source is in docs/METHODS.md, "Advice". */
#ifndef CAPE_ADVICE_H
#define CAPE_ADVICE_H

#include <jansson.h>

#include "base/err.h"
#include "phase/phase.h"
#include "phase/scores.h"

enum { ADVICE_MAX_SIBLINGS = 64, ADVICE_MAX_RULES = 8 };

typedef struct {
    double params;
    double score[BENCH_COUNT]; /* NaN when not given */
    double d_model;            /* NaN when not given */
} advice_member;

typedef struct {
    const char *name;
    const char *family;        /* NULL: none */
    advice_member self;
    advice_member sib[ADVICE_MAX_SIBLINGS]; /* other sizes of the family */
    int nsib;
    double next_params;        /* 0: the next larger sibling, else 2 N */
} advice_input;

/* Bundled reference tables the rules read (any may be NULL). */
typedef struct {
    const scores_table *pooled;   /* set B: the pooled N_c and the ODE (HS, TQA) */
    const scores_table *base;     /* base models: sigma(HS/TQA) among the top models */
    const scores_table *frontier; /* the 34-model panel: sigma(SWE/GPQA) */
    const scores_table *widths;   /* Pythia set A: d_model at each size */
} advice_refs;

typedef struct {
    const char *id;      /* "curate", "width", "rotate", "transition", "bonus" */
    int applies;
    char text[512];
    const char *source;  /* docs/METHODS.md section and the paper's place */
} advice_rule;

typedef struct {
    /* phase */
    int family_n;                  /* models in the user's family, this one included */
    double gamma;                  /* NaN when not estimable */
    const char *gamma_source;      /* "family" (user's scores) or "population fit" */
    phase_label phase;
    int isocline_bonus;            /* -1: not classified */
    /* critical scale */
    double nc, nc_lo, nc_hi;       /* parameters; lo/hi NaN for a family N_c */
    const char *nc_source;         /* "family" or "pooled bootstrap (set B)" */
    double decades_to_nc;          /* log10(N_c / N); > 0 below N_c */
    /* ODE (HS, TQA) */
    int ode_ok;
    char ode_why[256];
    double next_params;
    int next_is_sibling;
    double pred_hs, pred_tqa;      /* predicted at next_params */
    double obs_hs, obs_tqa;        /* the sibling's scores, NaN otherwise */
    double ode_holdout_err;        /* MAE/mean of the same construction on held-out Llama-2 */
    /* rotation ratios */
    double sigma_hs_tqa, sigma_swe_gpqa;
    double h_c;                    /* TQA points of curation to reach N_c; NaN when n/a */
    advice_rule rule[ADVICE_MAX_RULES];
    int nrule;
} advice_result;

int advice_run(const advice_input *in, const advice_refs *refs, advice_result *out,
               cape_err *e);
json_t *advice_result_json(const advice_input *in, const advice_result *r);

#endif
