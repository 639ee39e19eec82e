/* attack: attacks on forgetting (docs/UNLEARN.md, "Attacks"; methods in
 * docs/METHODS.md). Each attack measures what a model still knows about the
 * forget authors of TOFU when pushed:
 *   relearn   fine-tuning on half of each forget author's QA pairs (or on
 *             unrelated items), the forget metrics measured on the other
 *             half after each step count, beside the oracle's curve
 *   quantize  the weights rounded (Q8_0, Q4_0, Q4_K) and the forget
 *             metrics measured again
 *   extract   greedy continuation from the question and from growing
 *             prefixes of the answer: extraction strength, exact matches
 * Each has an options struct, a result struct, a JSON document (written
 * atomically) and a text table; the commands (cape unlearn attack ...) only
 * parse arguments. */
#ifndef CAPE_ATTACK_H
#define CAPE_ATTACK_H

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>

#include "base/err.h"
#include "train/train_init.h"
#include "train/train_tok.h"
#include "unlearn/sink_model.h"
#include "unlearn/tofu_eval.h"

/* ---- pieces ---- */

/* The relearn / eval halves: rows grouped by author[i] (any ints); each
 * author's rows shuffled by a generator seeded with seed and the author,
 * the first floor(k / 2) of its k rows to relearning (relearn[i] = 1), the
 * others to evaluation. The halves do not depend on the order of the
 * authors. */
void attack_split_halves(const int *author, int n, uint64_t seed, unsigned char *relearn);

/* The smallest step count at which the model has closed `frac` of the gap
 * between its own value before relearning (v[0], at steps[0]) and the full
 * model's value `full`, in the knowledge direction dir (+1: higher means
 * knows more, as probability and ROUGE; -1: lower, as the forget truth
 * ratio): the first j with dir * (v[j] - v[0]) >= frac * dir * (full - v[0]).
 * 0 (steps[0]) when v[0] is already at or beyond `full`; -1 when never
 * within the curve or when a value is NaN. steps ascending. */
long attack_steps_to_recover(const int *steps, const double *v, int n, double full, int dir,
                             double frac);

/* Greedy extraction of one answer from prefixes of k[0] < k[1] < ... of
 * its T tokens: exact[j] = 1 when the continuation from k[j] tokens
 * reproduced the rest exactly. The extraction strength is 1 - kmin / T with kmin
 * the shortest prefix that worked, 0 when none did (T > 0). */
double attack_extraction_strength(const int *k, const unsigned char *exact, int n, int T);

/* The forget metrics of scored rows, through the metric table of
 * tofu_eval (the same code as cape unlearn eval): forget_Q_A_Prob,
 * forget_Q_A_ROUGE (needs generations), forget_truth_ratio. */
typedef struct {
    double prob, rouge, truth_ratio;
} attack_metrics;
#define ATTACK_N_METRICS 3
extern const char *const ATTACK_METRIC_NAMES[ATTACK_N_METRICS];
extern const int ATTACK_METRIC_DIR[ATTACK_N_METRICS]; /* knowledge direction */
double attack_metric_at(const attack_metrics *m, int i);
int attack_metrics_of(const tofu_split_scores *sc, attack_metrics *out, cape_err *e);

/* A comma list of non-negative integers ("0,1,2,5"), strictly ascending
 * after sorting and without repeats; an empty list, a bad number or a
 * repeat is an input error naming `what`. *out is malloc'ed. */
int attack_parse_steps(const char *s, const char *what, int **out, int *n, cape_err *e);

/* Writes doc (with a trailing newline) to path atomically. */
int attack_write_json(const char *path, const json_t *doc, cape_err *e);

/* ---- the attacked model in the trainer (relearn, gcg) ---- */

/* A model the trainer can fine-tune or differentiate: one cape train wrote
 * from scratch (llama, gpt2), or any GGUF that cape train --init takes
 * (llama, qwen2, qwen3, gemma3, base or fine-tuned, retrofitted sinks
 * included). cfg, sinks and tk are filled by attack_model_open. */
typedef struct {
    const char *path;
    int scratch;          /* 1: cape's own layout (ck); 0: the --init road (init) */
    ckpt_file ck;
    train_init_src init;
    train_config cfg;
    sink_model sinks;     /* enabled = 0 for a model without sinks */
    train_tokenizer tk;
} attack_model;

/* Opens path; what names it in errors ("MODEL", "--oracle-model"). A file
 * the trainer cannot hold is an input error naming it and the reason. */
int attack_model_open(attack_model *a, const char *path, const char *what, cape_err *e);
/* How the trainer holds it: "checkpoint" (from scratch) or "init" (the
 * --init road); the reports name it (trainer_road). */
const char *attack_model_road(const attack_model *a);
/* Copies the weights into m, built from a->cfg. */
int attack_model_load(const attack_model *a, train_model *m, cape_err *e);
/* Writes m as a model file of the source's kind and metadata (f32 for the
 * --init road), with cape.relearn.step = step. */
int attack_model_save(const attack_model *a, const train_model *m, uint64_t step,
                      const char *path, cape_err *e);
void attack_model_close(attack_model *a);

/* ---- relearn ---- */

typedef struct {
    const char *model;        /* the attacked model (attack_model_open) */
    const char *oracle_model; /* the retain-only model, relearned alike (NULL: none) */
    const char *full_model;   /* the model trained on everything (NULL: no recovery steps) */
    const char *tofu, *forget;
    const int *steps;
    int n_steps;
    double lr;                /* constant learning rate of AdamW */
    int batch;                /* relearning items per step */
    int freeze_embeddings;    /* 1: the token embedding and head are not updated */
    uint64_t seed;
    const char *unrelated;    /* NULL: the relearn half; "retain" or "wf": n_unrelated
                                 items of that split instead */
    int n_unrelated;
    const char *sinks_mode, *source; /* evaluation, as cape unlearn eval */
    int threads, eval_batch, max_items, max_new_tokens;
    const char *filter_path;  /* NULL, or a cape filter for the forget split: the
                                 evaluation runs behind it (tofu_eval_split) */
    void (*progress)(void *user, const char *what, int step);
    void *progress_user;
} attack_relearn_opts;

void attack_relearn_defaults(attack_relearn_opts *o);

typedef struct {
    const char *role;          /* "model" or "oracle" */
    const char *path;
    const char *road;          /* attack_model_road */
    attack_metrics *at;        /* per step count, on the eval half */
    double *train_nll;         /* mean answer NLL of the step's batch, before its update
                                  (steps 1..max; [s - 1]) */
    int n_train;
    long to50[ATTACK_N_METRICS], to90[ATTACK_N_METRICS]; /* -1: never */
    double beyond_mean[ATTACK_N_METRICS], beyond_max[ATTACK_N_METRICS]; /* vs the oracle */
    int has_beyond;
} attack_curve;

typedef struct {
    int n_steps;
    int *steps;
    int n_authors, n_relearn, n_eval, n_train_items;
    int *eval_index;           /* [n_eval] rows of the forget split in the eval half */
    int has_full;
    attack_metrics full;
    attack_curve curve[2];
    int n_curves;
    double seconds;
} attack_relearn_result;

int attack_relearn_run(const attack_relearn_opts *o, attack_relearn_result *r, cape_err *e);
json_t *attack_relearn_json(const attack_relearn_opts *o, const attack_relearn_result *r);
void attack_relearn_table(FILE *fp, const attack_relearn_result *r);
void attack_relearn_result_free(attack_relearn_result *r);

/* ---- quantize ---- */

/* Rounds the weights of in (a GGUF) to `type` ("q8_0", "q4_0", "q4_k") and
 * writes out: the entry point of the weight quantiser (cape quantize). */
typedef int (*attack_requantize_fn)(const char *in, const char *out, const char *type,
                                    cape_err *e);

/* The quantiser this build of cape has, or NULL. */
extern const attack_requantize_fn attack_requantize_builtin;

typedef struct {
    const char *model, *tofu, *forget;
    const char *const *types; /* NULL: q8_0, q4_0, q4_k */
    int n_types;
    attack_requantize_fn requantize; /* NULL: the quantiser is not built in (refused) */
    const char *sinks_mode, *source;
    int threads, eval_batch, max_items, max_new_tokens;
    const char *filter_path;  /* NULL, or a cape filter for the forget split: the
                                 evaluation runs behind it (tofu_eval_split) */
} attack_quantize_opts;

typedef struct {
    int n;              /* 1 + types: [0] the model as given */
    char **label;
    attack_metrics *at;
} attack_quantize_result;

int attack_quantize_run(const attack_quantize_opts *o, attack_quantize_result *r, cape_err *e);
json_t *attack_quantize_json(const attack_quantize_opts *o, const attack_quantize_result *r);
void attack_quantize_table(FILE *fp, const attack_quantize_result *r);
void attack_quantize_result_free(attack_quantize_result *r);

/* ---- extract ---- */

#define ATTACK_MAX_PREFIX 16

typedef struct {
    const char *model, *tofu, *forget;
    const double *prefixes;   /* shares of the answer's tokens, ascending; NULL: 0, .25, .5, .75 */
    int n_prefixes;
    const char *sinks_mode, *source;
    int threads, eval_batch, max_items, max_new_tokens;
    const char *filter_path;  /* NULL, or a cape filter for the forget split: a prompt
                                 (question and answer prefix) it blocks, or a
                                 continuation it blocks, extracts nothing */
} attack_extract_opts;

typedef struct {
    int n_prefixes;
    double prefix[ATTACK_MAX_PREFIX];
    double exact_rate[ATTACK_MAX_PREFIX];  /* share of items extracted exactly */
    double rouge[ATTACK_MAX_PREFIX];       /* mean ROUGE-L recall of the rest */
    int n_items[ATTACK_MAX_PREFIX];        /* items whose prefix was usable */
    double strength;                       /* mean extraction strength */
    int n;                                 /* items */
    double *item_strength;                 /* [n] */
    int *item_tokens;                      /* [n] answer tokens */
    unsigned char *item_exact;             /* [n * n_prefixes] */
} attack_extract_result;

int attack_extract_run(const attack_extract_opts *o, attack_extract_result *r, cape_err *e);
json_t *attack_extract_json(const attack_extract_opts *o, const attack_extract_result *r);
void attack_extract_table(FILE *fp, const attack_extract_result *r);
void attack_extract_result_free(attack_extract_result *r);

/* ---- gcg: adversarial compression ---- */

typedef struct {
    const char *model, *tofu, *forget; /* a cape-trained model */
    int max_items;   /* forget rows attacked (the first ones; 10) */
    int max_tokens;  /* target: the answer's first max_tokens tokens (32) */
    int iters;       /* GCG iterations per prompt length (40) */
    int topk;        /* candidate tokens per position (32) */
    int cands;       /* candidates per iteration (32) */
    uint64_t seed;
    const char *source; /* sink models: that source's sinks on; NULL: all sinks off */
    int own;            /* sink models: each row with its author's sinks on (--sinks own) */
    const char *filter_path; /* NULL, or a cape filter for the forget split: a target
                                its output filter blocks is never elicited through
                                it (not attacked), a prompt its input filter blocks
                                does not count (the search goes on) */
} attack_gcg_opts;

void attack_gcg_defaults(attack_gcg_opts *o);

typedef struct {
    int n;
    int *target_tokens;   /* [n] */
    int *prompt_tokens;   /* [n] the shortest eliciting prompt found, 0: none */
    int **prompt;         /* [n] its token ids (NULL: none) */
    int *question_tokens; /* [n] the question prompt's tokens (start token excluded) */
    unsigned char *question_elicits; /* [n] the question alone elicits the target */
    int n_lengths;
    int lengths[16];      /* prompt lengths tried, ascending */
    double mean_acr;      /* over the items where a prompt was found */
    int n_found, n_memorised; /* ACR > 1 */
    unsigned char *blocked; /* [n] with a filter: the output filter blocks the target */
    int n_blocked;        /* targets blocked at the output */
    int n_prompts_blocked; /* found prompts the input filter blocked */
    int filtered;         /* a filter was given */
    const char *road;     /* attack_model_road */
    uint32_t *own_sources; /* [n] --sinks own: each row's source id (0: backbone only) */
    int sink_model;       /* MODEL has sinks */
} attack_gcg_result;

/* The prompt lengths tried for a target of T tokens: 1, 2, 3, 4, 6, 8, 12,
 * 16, ... below T (a prompt of T or more tokens compresses nothing). */
int attack_gcg_lengths(int T, int *out, int max);
int attack_gcg_run(const attack_gcg_opts *o, attack_gcg_result *r, cape_err *e);
json_t *attack_gcg_json(const attack_gcg_opts *o, const attack_gcg_result *r);
void attack_gcg_table(FILE *fp, const attack_gcg_result *r);
void attack_gcg_result_free(attack_gcg_result *r);

#endif
