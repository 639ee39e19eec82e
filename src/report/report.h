/* report: the whole diagnostic as one self-contained HTML page with SVG
 * figures: phase diagram, gamma12 against size with the N_c interval, the N_c
 * bootstrap, width normalisation, the loss law, the ODE fit and its hold-out,
 * the frontier scatter and the eigenvalue spectra, plus a table of the
 * published numbers beside cape's and one of the stress tests (falsify). */
#ifndef CAPE_REPORT_H
#define CAPE_REPORT_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "phase/scores.h"

typedef struct {
    const char *phase_table;    /* many families: phase diagram, per-phase spectra */
    const char *pooled_table;   /* set B: gamma12, N_c, loss law, hold-out */
    const char *ode_table;      /* Pythia set A: ODE, width normalisation, spectrum */
    const char *frontier_table; /* the 34-model SWE/GPQA panel */
    const char *phase_name, *pooled_name, *ode_name, *frontier_name; /* shown (NULL: path) */
    const char *holdout;        /* family held out of pooled_table ("Llama-2") */
    int nboot;                  /* N_c bootstrap resamples (10000) */
    uint32_t seed;              /* 42 */
    const char *generated_by;   /* a line for the footer (command, version) */
} report_inputs;

/* Builds the page; *html is malloc'd. Input errors (unreadable tables) are
 * CAPE_EINPUT with a one-line message. */
int report_html(const report_inputs *in, char **html, size_t *len, cape_err *e);

/* One figure of the page drawn from one table (the dashboard's figures are
 * the report's): fig-phase-diagram, fig-gamma-size, fig-nc-bootstrap,
 * fig-loss-law, fig-width (two SVGs, before and after, separated by a
 * newline), fig-frontier, fig-eigen. The table is borrowed. *svg is
 * malloc'd. A figure the table cannot feed is an input error. */
typedef struct {
    const char *id;
    int nboot;          /* N_c bootstrap resamples (fig-gamma-size, fig-nc-bootstrap) */
    uint32_t seed;
    const char *family; /* fig-width: the family (NULL: the table's first) */
    /* fig-phase-diagram: one more point, marked and labelled (the user's model) */
    const char *mark_label; /* NULL: none */
    double mark_x, mark_y;  /* reasoning and truth scores */
} report_figure_options;
int report_figure(const scores_table *t, const report_figure_options *o, char **svg, size_t *len,
                  cape_err *e);

/* The figure ids the page holds, in order (for tests). */
extern const char *const REPORT_FIGURES[];
extern const int REPORT_NFIGURES;

#endif
