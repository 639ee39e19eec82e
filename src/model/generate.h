/* generate: continuations of many prompts, decoded together in one session
 * of several sequences (batched decoding: every step evaluates the next
 * token of every running sequence, and the prompts of sequences that start,
 * in one batch of rows, so the weights are read once per step for all).
 *
 * Each prompt is continued exactly as `cape run` continues one prompt alone:
 * its own sampler seeded with opts.sample.seed, the same stopping rules
 * (n_predict tokens, the end-of-sequence token unless ignore_eos, the end
 * of the context). In exact mode (tensor_set_exact) the tokens equal those
 * of one prompt at a time. */
#ifndef CAPE_GENERATE_H
#define CAPE_GENERATE_H

#include "model/model.h"
#include "model/sample.h"

typedef struct {
    int n_predict;       /* tokens to generate per prompt */
    sample_opts sample;  /* temp <= 0: greedy */
    int ignore_eos;
    int add_bos;         /* -1: the model's choice; 0 or 1 */
    int n_seq;           /* prompts decoded at once; 0 = 1 */
    int n_ctx;           /* context per sequence; 0 = the longest prompt plus
                            n_predict, at most min(trained context, 4096) */
    int n_threads;       /* 0 = 1 */
    model_kv_type kv_type;
    model_hook_fn hook;  /* NULL, or a hook for the session (model_session_set_hook) */
    void *hook_user;
    /* NULL, or called before prompt `item` is first evaluated in sequence
     * `seq` (a hook that keeps state per sequence sets it up here) */
    void (*on_start)(void *user, int item, int seq);
} gen_opts;

typedef enum { GEN_STOP_LENGTH, GEN_STOP_EOS, GEN_STOP_CONTEXT } gen_stop;

typedef struct {
    int n_prompt;  /* prompt tokens (BOS included) */
    const int *ids; /* generated tokens, the end-of-sequence token not included */
    int n;
    gen_stop stop;
} gen_result;

typedef struct {
    long prompt_tokens, gen_tokens; /* evaluated prompt tokens, generated tokens */
    int steps;                       /* evaluations */
    long decode_rows;                /* tokens evaluated in steps without a prompt */
    double decode_s;                 /* wall time of those steps (llama.cpp's "TG") */
    int n_ctx;                       /* context per sequence used */
    size_t kv_bytes;                 /* the session's KV cache */
} gen_stats;

/* done(user, i, r) is called once per prompt as it finishes (in any order;
 * r is valid during the call). Errors: a prompt that is empty without BOS or
 * does not fit the context (CAPE_EINPUT, naming the prompt). */
typedef void (*gen_done_fn)(void *user, int i, const gen_result *r);
int gen_many(const model *m, const char *const *prompts, int n, const gen_opts *o,
             gen_done_fn done, void *user, gen_stats *st, cape_err *e);

/* Prompts from the bytes of a prompts file (len bytes; name is for
 * messages): one prompt per line, or JSON lines {"prompt": "..."}; blank
 * lines (and a trailing \r) are skipped. A NUL byte, a JSON line without a
 * string "prompt", or no prompt at all is an input error naming the line.
 * *out holds *n strings; free them with gen_prompts_free. */
int gen_prompts_parse(const char *buf, size_t len, const char *name, char ***out, int *n,
                      cape_err *e);
void gen_prompts_free(char **prompts, int n);

#endif
