/* analysis: the orchestration the analysis commands, the report and the
 * server share, so that each of them is a thin layer over one library call:
 * the JSON documents (cape_version, command, table, then the result), the
 * eigenstructure with each row's phase, the ODE with its hold-out split, and
 * the input of advice (a model from a table and/or given scores, with its
 * family's other sizes). Text printers stay in the commands. */
#ifndef CAPE_ANALYSIS_H
#define CAPE_ANALYSIS_H

#include <jansson.h>

#include "base/err.h"
#include "phase/advice.h"
#include "phase/eigen.h"
#include "phase/falsify.h"
#include "phase/frontier.h"
#include "phase/ode.h"
#include "phase/phase.h"
#include "phase/scores.h"

/* {"cape_version", "command", "table" (left out when NULL), then the keys of
 * body (stolen)}: the document of `cape <command> --json`. */
json_t *analysis_doc(const char *command, const char *table, json_t *body);
/* The document of `cape diagnose --json`: {"cape_version", "command",
 * "tables": [phase_diagnosis_json, ...]} (tables stolen). */
json_t *analysis_diagnose_doc(json_t *tables);
/* One table of `cape diagnose`: parses the CSV text (every row needs a size),
 * diagnoses it and fills *t and *d (the caller frees both with scores_free
 * and phase_diagnosis_free; on failure nothing is left to free). */
int analysis_diagnose(const char *buf, size_t len, const char *name, const scores_options *so,
                      const phase_options *po, scores_table *t, phase_diagnosis *d, cape_err *e);

/* The tables `cape falsify` reads when none is given (paths under the data
 * directory), and the document of `cape falsify --json` for a result. */
enum { ANALYSIS_FALSIFY_NTABLES = 4 };
extern const char *const analysis_falsify_tables[ANALYSIS_FALSIFY_NTABLES];
json_t *analysis_falsify_doc(const falsify_result *r);

/* eigen_run with each row's gamma12 phase when o->by_phase and the table has
 * sizes, HS and TQA (otherwise the per-phase groups are left out). */
int analysis_eigen(const scores_table *t, const eigen_options *o, eigen_result *r, cape_err *e);

/* The ODE: trajectories of the tables, the fit and, with a hold-out family,
 * its prediction from its smallest model. */
typedef struct {
    ode_data train, test;
    ode_result r;
    int has_test, built, ran;
} analysis_ode;

/* For the U-curve the state is the one target benchmark. */
void analysis_ode_prepare(ode_options *o);
/* The family of a hold-out table: its family column (one family only), else
 * the file name without directory and extension. */
int analysis_ode_holdout_name(const scores_table *h, const char *file, char *out, size_t n,
                              cape_err *e);
int analysis_ode_run(const scores_table *const *tables, int ntables, const ode_options *o,
                     const char *holdout, analysis_ode *a, cape_err *e);
/* The document of `cape ode --json` (with the tables' names). */
json_t *analysis_ode_doc(const analysis_ode *a, const scores_table *const *tables, int ntables);
void analysis_ode_free(analysis_ode *a);

/* The model advice is asked about: looked up in t by name (case-insensitive,
 * also after an "org/" prefix), then the scores given here override the
 * table's; its family's other sizes in t are its siblings, plus the given
 * SIZE:HS:TQA siblings. */
typedef struct {
    const char *name;            /* required */
    const char *family;          /* NULL: the model's family in t, if any */
    double size;                 /* 0: not given */
    double score[BENCH_COUNT];   /* NaN: not given */
    double d_model;              /* NaN: not given */
    double next;                 /* 0: the next larger sibling, else 2 N */
    const char *sibling[ADVICE_MAX_SIBLINGS];
    int nsibling;
    int scaled;                  /* the given scores were fractions: siblings are scaled too */
} analysis_advise_args;

void analysis_advise_args_init(analysis_advise_args *a);
/* Fills *in (which borrows names from t and a). Errors are input errors with
 * the message `cape advise` prints. */
int analysis_advise_input(const scores_table *t, const char *shown, analysis_advise_args *a,
                          advice_input *in, cape_err *e);

#endif
