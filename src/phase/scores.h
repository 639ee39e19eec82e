/* scores: benchmark score tables (one row per model) read from CSV, with
 * columns recognised by common names and aliases. Scores are percentages;
 * a missing cell is NaN. */
#ifndef CAPE_SCORES_H
#define CAPE_SCORES_H

#include "base/err.h"

typedef enum {
    BENCH_HELLASWAG,
    BENCH_TRUTHFULQA_MC2,
    BENCH_TRUTHFULQA_MC1,
    BENCH_ARC,
    BENCH_WINOGRANDE,
    BENCH_MMLU,
    BENCH_MMLU_PRO,
    BENCH_GSM8K,
    BENCH_GPQA_DIAMOND,
    BENCH_SWE_BENCH_VERIFIED,
    BENCH_SIMPLEQA,
    BENCH_LOSS,      /* validation / test cross-entropy, nats per token */
    BENCH_GRAD_NORM, /* gradient norm, as in the paper's gradient table */
    BENCH_COUNT
} bench_id;

typedef struct {
    const char *key;   /* canonical name, used in --json and flags */
    const char *label; /* short label for tables */
} bench_info;

const bench_info *scores_bench_info(bench_id b);
/* Looks a benchmark up by any of its aliases ("HellaSwag (10-shot)", "hs",
 * "truthfulqa_mc2"...); returns -1 when unknown. */
int scores_bench_lookup(const char *name);

typedef struct {
    char *name;
    char *family; /* "all" when the table has no family column */
    char *lab;
    double params;   /* parameter count; NaN when absent */
    double d_model;  /* NaN when absent */
    double n_layers; /* NaN when absent */
    double flops;    /* training FLOPs; NaN when absent */
    int primary;     /* -1 when absent */
    double score[BENCH_COUNT];
    int line; /* CSV line, for messages */
} scores_model;

typedef struct {
    char *path;
    scores_model *model;
    int n;
    int has_column[BENCH_COUNT];
    int has_params, has_d_model, has_family, has_lab;
} scores_table;

typedef struct {
    int allow_unknown_columns; /* ignore columns cape does not know instead of failing */
    int require_params;        /* every row must give a positive size */
} scores_options;

int scores_read_file(const char *path, const scores_options *opt, scores_table *t, cape_err *e);
int scores_parse(const char *buf, unsigned long len, const char *name, const scores_options *opt,
                 scores_table *t, cape_err *e);
void scores_free(scores_table *t);

#endif
