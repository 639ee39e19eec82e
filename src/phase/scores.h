/* scores: benchmark score tables (one row per model) read from CSV, with
 * columns recognised by common names and aliases. Scores are percentages;
 * a missing cell is NaN. */
#ifndef CAPE_SCORES_H
#define CAPE_SCORES_H

#include <stddef.h>

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
    char *family; /* inferred from the name when the table has no family column
                   * (scores_family_from_name); "all" when nothing can be inferred */
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
    int scaled[BENCH_COUNT]; /* 1: the column was read as fractions and multiplied by 100 */
    int nscaled;
    char sep;                /* field separator used (',' '\t' ';') */
    int families_inferred;   /* distinct families inferred from names (0: none inferred) */
} scores_table;

typedef enum {
    SCORES_SCALE_AUTO,     /* fractions when every score of every score column is in [0, 1] */
    SCORES_SCALE_PERCENT,  /* scores are points in [0, 100] */
    SCORES_SCALE_FRACTION, /* scores are fractions in [0, 1]; a value above 1 is an error */
} scores_scale;

typedef struct {
    int allow_unknown_columns; /* ignore columns cape does not know instead of failing */
    int require_params;        /* every row must give a positive size */
    scores_scale scale;
    char sep;                  /* 0: sniffed from the header line */
    int no_family_from_name;   /* 1: a table without a family column stays one family "all" */
} scores_options;

/* Scores given one by one (advise --hs 0.7): NaN entries are not given.
 * With SCORES_SCALE_AUTO, when every given score lies in [0, 1] they are
 * fractions; fractions are multiplied by 100 and *scaled set. With
 * SCORES_SCALE_FRACTION a score above 1 is an error. */
int scores_scale_values(double *const *v, int n, scores_scale scale, int *scaled, cape_err *e);

/* The family of a model name when the table has no family column: the part
 * after the last '/' (the organisation is dropped), lower-cased, split at '-',
 * '_' and blanks; the tokens before the first size token (70m, 1.4b, 7b1,
 * 8x7b) are the stem, tokens after it are kept (deduped, chat, instruct,
 * v0.1: other model lines) except format-only ones (hf, gguf, fp16, awq...).
 * "EleutherAI/pythia-1.4b-deduped" -> "pythia-deduped",
 * "meta-llama/Llama-2-7b-chat-hf" -> "llama-2-chat". Returns 1 when the name
 * has a size token; 0 (out = the whole lower-cased name) otherwise. */
int scores_family_from_name(const char *name, char *out, size_t outsz);

int scores_read_file(const char *path, const scores_options *opt, scores_table *t, cape_err *e);
int scores_parse(const char *buf, unsigned long len, const char *name, const scores_options *opt,
                 scores_table *t, cape_err *e);
void scores_free(scores_table *t);

#endif
