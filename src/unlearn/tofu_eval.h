/* tofu_eval: the TOFU unlearning benchmark as open-unlearning evaluates it
 * (locuslab/open-unlearning, configs/eval/tofu*.yaml): the data splits, the
 * scoring of every answer through the runtime, greedy generation, the
 * metrics (named and laid out as open-unlearning writes them) and the
 * TOFU_EVAL.json / TOFU_SUMMARY.json writers.
 *
 * Three layers, usable apart:
 *   data     tofu_split_load: one split's QA rows, from the files of
 *            TOFU's Hugging Face data set (docs/UNLEARN.md).
 *   scores   per item, the per-token log-probabilities of the answer, the
 *            paraphrased answer and the perturbed answers, and a greedy
 *            generation (tofu_eval_run fills them from a model; tests fill
 *            them from fixtures).
 *   metrics  a table of named functions (tofu_metrics) over those scores.
 * tofu_eval_run does all three for one model. */
#ifndef CAPE_TOFU_EVAL_H
#define CAPE_TOFU_EVAL_H

#include <jansson.h>
#include <stdint.h>

#include "base/err.h"
#include "unlearn/sink.h"

/* ---- data ---- */

typedef enum {
    TOFU_FORGET,  /* forgetNN_perturbed.json */
    TOFU_RETAIN,  /* retain_perturbed.json */
    TOFU_RA,      /* real_authors_perturbed.json */
    TOFU_WF,      /* world_facts_perturbed.json */
    TOFU_HOLDOUT, /* holdoutNN.json (MIA non-members) */
    TOFU_NSPLITS
} tofu_split_id;

#define TOFU_MAX_PERT 8

typedef struct {
    char *question, *answer;
    char *para;              /* paraphrased answer (forget, retain), else NULL */
    char *pert[TOFU_MAX_PERT]; /* perturbed answers */
    int n_pert;
} tofu_row;

typedef struct {
    tofu_split_id id;
    char file[64];       /* file name in the data directory */
    char sha256[65];     /* of the file's bytes */
    tofu_row *rows;
    int n;
} tofu_split;

/* "forget01", "forget05" or "forget10" to its two-digit percentage (1, 5,
 * 10); anything else is an input error. */
int tofu_forget_parse(const char *name, int *pct, cape_err *e);
/* The file of a split for a forget percentage (e.g. "forget05_perturbed.json"). */
const char *tofu_split_file(tofu_split_id id, int pct, char *buf, size_t n);
/* Short name used in metric names: forget, retain, ra, wf, holdout. */
const char *tofu_split_name(tofu_split_id id);
/* Reads split `id` from dir (max_items > 0 keeps the first max_items rows).
 * A missing file, malformed JSON, a row without the keys of its split or a
 * split with no rows is an input error naming the file. */
int tofu_split_load(tofu_split *s, const char *dir, tofu_split_id id, int pct, int max_items,
                    cape_err *e);
void tofu_split_free(tofu_split *s);
/* The source of each row's QA pair among sources (a sink model's source
 * list): the author of that pair in DIR's full.json (the trainer's sources:
 * "tofu-001", ... for each 20 pairs in file order), found by the pair's
 * rendered document. 0 for a pair that is not there or an author sources
 * lacks (such a row gets the backbone only). ids gets the rows of the
 * n_splits splits one after the other; full.json is read once. */
int tofu_row_sources(const char *dir, sink_sources *sources, const tofu_split *const *splits,
                     int n_splits, uint32_t *ids, cape_err *e);
/* A text and its source id, for tables sorted and searched by text. */
typedef struct {
    const char *key;
    uint32_t id;
} tofu_key_id;
int tofu_key_id_cmp(const void *a, const void *b);

/* SHA-256 of len bytes as 64 lower-case hex digits and a NUL. */
void tofu_sha256_hex(const void *data, size_t len, char out[65]);

/* ---- scores ---- */

/* One scored answer: per-token log p, argmax hits and the moments of log p
 * over the vocabulary at each answer position (Min-K%++). n = 0: no answer
 * token was scored (null in the outputs, left out of the means). */
typedef struct {
    int n;
    double *lp;
    unsigned char *hit;
    double *mu, *var;
} tofu_seq;

typedef struct {
    tofu_seq ans;            /* the answer */
    tofu_seq para;           /* the paraphrased answer (forget, retain) */
    tofu_seq pert[TOFU_MAX_PERT];
    int n_pert;
    char *input;             /* the prompt as given to the model */
    char *generation;        /* greedy continuation, cut at EOS and stripped */
} tofu_item_scores;

typedef struct {
    const tofu_split *split;
    tofu_item_scores *items; /* [split->n] */
    int filter_in, filter_out; /* items a filter blocked at the input / at the output */
} tofu_split_scores;

void tofu_seq_free(tofu_seq *q);
void tofu_split_scores_free(tofu_split_scores *s);
/* Mean negative log p of the answer tokens (NaN when n = 0). */
double tofu_seq_avg_loss(const tofu_seq *q);

/* ---- metrics ---- */

/* What the metrics see: the scores of each split, and the oracle's logs
 * (its TOFU_EVAL.json, or NULL). */
typedef struct {
    const tofu_split_scores *split[TOFU_NSPLITS];
    const json_t *oracle;
    double min_k;     /* k of Min-K% and Min-K%++ (open-unlearning: 0.4) */
} tofu_metric_ctx;

typedef struct {
    const char *name;      /* as open-unlearning names it */
    const char *direction; /* "up", "down", "to 0.5" (MIA AUC vs the oracle's), ... */
    const char *what;      /* one line for the table */
    /* Fills *agg (NaN = null) and a new value_by_index-bearing object (the
     * whole entry of TOFU_EVAL.json: agg_value and value_by_index, or for
     * MIAs forget/holdout/auc). `done` holds the entries of the metrics
     * before this one in the table. */
    int (*fn)(const tofu_metric_ctx *c, const void *arg, const json_t *done, json_t **entry,
              cape_err *e);
    const void *arg;
    int in_summary;
} tofu_metric;

extern const tofu_metric tofu_metrics[];
extern const int tofu_n_metrics;

/* Runs every metric of the table in order: a TOFU_EVAL.json object
 * (metric -> entry). */
int tofu_metrics_compute(const tofu_metric_ctx *c, json_t **eval, cape_err *e);
/* Metric -> agg_value, for TOFU_SUMMARY.json. */
json_t *tofu_summary(const json_t *eval);
/* The loud checks: every split has items; model_utility is not exactly 0;
 * the probability, ROUGE and truth-ratio aggregates are not identical
 * across the four evaluated splits. Input error naming what failed. */
int tofu_sanity(const json_t *eval, cape_err *e);

/* ---- one whole evaluation ---- */

typedef struct {
    const char *model_path;
    const char *tofu_dir;
    const char *forget;        /* forget01 | forget05 | forget10 */
    const char *oracle_path;   /* the retain model's TOFU_EVAL.json, or NULL */
    const char *out_dir;       /* where TOFU_EVAL.json and TOFU_SUMMARY.json go */
    const char *sinks_mode;    /* sink models: --sinks, --source (NULL: the default) */
    const char *source;
    const char *template;      /* NULL or "auto": the cape trainer's QA rendering for
                                  cape-trained models, else "plain"; "cape", "plain",
                                  or a text holding {question} */
    int threads, batch, max_items, max_new_tokens;
    int exact;                 /* f32 matmuls for quantised weights, so that the
                                  numbers do not depend on the batch (tensor_set_exact) */
    void (*progress)(void *user, long done, long total);
    void *progress_user;
    /* NULL, or a cape filter (unlearn/filter.h) built for the same forget
     * split: a question it blocks gets the refusal's scores (every answer
     * token at the uniform probability 1/V, no token the argmax, the
     * refusal as the generation); a generation it blocks becomes the
     * refusal. Counted in the "cape" block of TOFU_EVAL.json. */
    const char *filter_path;
    /* tofu_eval_split only: the filter already loaded (it wins over
     * filter_path), so that an attack evaluating many times reads it once */
    const struct filter *filter;
} tofu_eval_opts;

/* The text that stands for a refusal under a filter. */
#define TOFU_REFUSAL "I'm sorry, I cannot answer that."

struct filter;
/* Loads the filter at path and checks that it was built for the forget
 * split `forget` (NULL: any): input error "--filter PATH: built for X, not
 * Y" otherwise. */
int tofu_filter_load(const char *path, const char *forget, struct filter **out, cape_err *e);

typedef struct {
    json_t *eval;     /* TOFU_EVAL.json */
    json_t *summary;  /* TOFU_SUMMARY.json */
    int oracle_used;
    double seconds;
} tofu_eval_result;

/* Loads the model and data, scores, generates, computes the metrics, runs
 * the sanity checks and writes OUT_DIR/TOFU_EVAL.json and
 * OUT_DIR/TOFU_SUMMARY.json atomically (created when missing). */
int tofu_eval_run(const tofu_eval_opts *o, tofu_eval_result *r, cape_err *e);
void tofu_eval_result_free(tofu_eval_result *r);

/* Scores (with `score`) and generates greedily for (with `generate`) the rows of sp as
 * the forget split under o's model, template, sinks, threads, batch and
 * exactness, as tofu_eval_run does: *out holds the per-item scores
 * (out->split = sp, which must outlive them). The rows may be any subset
 * (the attacks evaluate halves of a split). o's data, oracle and output
 * fields are not used. With o->filter (or o->filter_path, checked against
 * o->forget when set), the filter treats the rows as tofu_eval_run does: a blocked
 * question gets the refusal's scores and generation, a blocked generation
 * becomes the refusal; out->filter_in / filter_out count them. */
int tofu_eval_split(const tofu_eval_opts *o, const tofu_split *sp, int score, int generate,
                    tofu_split_scores *out, cape_err *e);
/* The prompt template "auto" picks for a model file (malloc'ed; NULL out
 * of memory): the cape trainer's QA rendering for cape-trained models,
 * else "Question: {question}\nAnswer:". */
char *tofu_model_template(const char *model_path);
/* 1 when the file is a GGUF that cape train wrote (cape.train.* keys):
 * such models are prompted with the trainer's template and start token. */
int tofu_is_cape_model(const char *path);

/* The rendered prompt of a question under a template name or text. */
char *tofu_render_prompt(const char *template, const char *question);

/* Reads an oracle TOFU_EVAL.json: it must hold forget_truth_ratio with a
 * numeric "score" per item (and mia_min_k's agg_value, used when present).
 * Input error (one line) otherwise. */
int tofu_oracle_load(const char *path, json_t **out, cape_err *e);

#endif
