/* icl: in-context reintroduction of forgotten knowledge (the UnUnlearning
 * test, docs/UNLEARN.md "In-context reintroduction").
 *
 * For each forget question of a TOFU split, facts are placed before the
 * question and the answer is scored (TOFU probability, truth ratio) and
 * generated greedily (ROUGE-L recall), for k = 0, 1, 2, ... facts, under
 * three conditions:
 *   echo         the asked fact and k - 1 other facts of the same author
 *                (the asked one last, nearest the question);
 *   spill-over   k other facts of the same author, never the asked one;
 *   composition  a retained author's question asked about the forgotten
 *                author, with the alias "A is also known as R." (A the
 *                forgotten author, R the retained one) last in a context of
 *                k - 1 other facts of A: the answer follows from the context
 *                fact and what the model retains about R.
 * A copying probe (synthetic key = value lists) runs first: a model that
 * cannot copy a value from its context is marked, since its "no
 * reintroduction" then only means "no in-context learning". */
#ifndef CAPE_ICL_H
#define CAPE_ICL_H

#include <jansson.h>
#include <stdint.h>

#include "base/err.h"
#include "unlearn/tofu_eval.h"

typedef enum { ICL_ECHO, ICL_SPILL, ICL_COMPOSE, ICL_NCOND } icl_cond;

extern const char *const icl_cond_name[ICL_NCOND];

#define ICL_MAX_K 32

typedef struct {
    icl_cond cond;
    int k;          /* facts in the context */
    int q;          /* the question's index within its condition (pairs items across k) */
    int author;     /* forget author (rows / 20) */
    char *context;  /* the facts, each followed by a newline ("" at k = 0) */
    char *question, *answer, *para;
    char *pert[TOFU_MAX_PERT];
    int n_pert;
} icl_item;

typedef struct {
    const tofu_split *forget;  /* forgetNN_perturbed rows, 20 per author */
    const tofu_split *retain;  /* retain_perturbed rows (composition), or NULL */
    const int *ks;
    int n_k;
    int use_answers;           /* facts are the answers (1) or the paraphrased answers (0) */
    int per_author;            /* questions per author and condition (0: all) */
    uint64_t seed;             /* the order of the other facts */
} icl_build_opts;

/* The items of every condition and k (input error when the forget split
 * has no whole author, or a k is above 16 or negative). */
int icl_build(const icl_build_opts *o, icl_item **items, int *n, cape_err *e);
void icl_items_free(icl_item *it, int n);

/* The copying probe's two forms of the same question: "KEY =" (a
 * continuation, what a base model does best) and "What is the value of
 * KEY?" (a question, what a model fine-tuned on question/answer pairs
 * does best: it answers every prompt in the style it was trained on). */
typedef enum { ICL_COPY_KEY, ICL_COPY_QA, ICL_COPY_NFORM } icl_copy_form;

extern const char *const icl_copy_form_name[ICL_COPY_NFORM];

/* The copying probe's lists: n_lists items, each a list of `pairs` lines
 * "key = value" (keys of four letters, values of three digits, seeded) as
 * the context, the question of one of its keys in `form` and the answer its
 * value. The same seed gives the same lists and keys in both forms. */
int icl_copy_items(int n_lists, int pairs, uint64_t seed, icl_copy_form form, icl_item **items,
                   cape_err *e);

/* Whether a greedy answer copies `value`: its first number (maximal run of
 * digits) is the value, so that "123", "123." and "The value of abcd is
 * 123." count and "1234" or "The value is 456, not 123." do not. */
int icl_copy_hit(const char *gen, const char *value);

/* Mean of x[0..n) and its percentile bootstrap interval at `level` (B
 * resamples, seeded; numpy's linear percentile). NaN when n = 0. */
double icl_bootstrap_mean(const double *x, int n, int B, uint64_t seed, double level, double *lo,
                          double *hi);

/* ---- a whole run ---- */

typedef struct {
    const char *model_path, *oracle_path; /* oracle: NULL or the retain model */
    const char *oracle_run;  /* NULL, or this command's JSON of a run on the oracle (its
                              * per-item scores stand for the oracle's; the settings and
                              * questions must match): instead of oracle_path */
    const char *tofu_dir, *forget;
    const int *ks;
    int n_k;
    const char *template;    /* as tofu_eval_opts.template */
    const char *sinks_mode, *source;
    const char *filter_path; /* NULL, or a cape filter: blocked inputs get the refusal's scores */
    int use_answers, per_author, max_new_tokens, batch, boot;
    int threads;             /* matmul threads of the session (1) */
    uint64_t seed;
    double copy_min;         /* copy rate of the probe (its better form) that counts as copying (0.5) */
    const char *out_path;    /* JSON written atomically, or NULL */
    void (*progress)(void *user, long done, long total);
    void *progress_user;
} icl_opts;

/* One item's scores: TOFU probability, max(0, 1 - truth ratio), ROUGE-L
 * recall of the greedy answer (NaN when the item did not fit), and for the
 * copying probe whether the answer copies. */
typedef struct {
    double prob, truth, rouge;
    int fit, blocked_in, blocked_out, exact;
} icl_item_score;

/* Reads an --oracle-run file's text (path names it in errors): this
 * command's JSON of a run on the oracle. Its settings must be o's and its
 * items items[0..n) (condition, k, question); sc[0..n) gets their scores,
 * *probe (a new reference) its copying probe, *oracle_model (malloc'd) the
 * model it ran. Input error, one line, otherwise. */
int icl_oracle_parse(const char *text, size_t len, const char *path, const icl_opts *o,
                     const icl_item *items, int n, icl_item_score *sc, json_t **probe,
                     char **oracle_model, cape_err *e);

/* Runs the probe and the three conditions on the model (and the oracle),
 * computes the curves, the reintroduction capacity (k minus k = 0, paired
 * per question) and the residual knowledge (spill-over minus the oracle's,
 * paired), with bootstrap intervals, and writes the JSON. *out is the JSON
 * document. */
int icl_run(const icl_opts *o, json_t **out, cape_err *e);

#endif
