/* score: log-likelihood of continuations after contexts, the primitive of
 * multiple-choice evaluation.
 *
 * As lm-evaluation-harness does, the pair is tokenized as a whole and the
 * continuation is what follows the context's own tokens (so merges across
 * the boundary are handled the same way), a trailing space of the context
 * moves to the continuation, and BOS is prepended when the model wants it.
 * Consecutive items share the KV cache over their common token prefix, so
 * the choices of one question cost one context evaluation. */
#ifndef CAPE_SCORE_H
#define CAPE_SCORE_H

#include "model/model.h"

typedef struct {
    const char *context;
    const char *continuation;
} score_item;

typedef struct {
    double logprob;  /* sum of log p(token) over the continuation, natural log */
    int n_tokens;    /* continuation tokens */
    int greedy;      /* 1 when every continuation token was the argmax */
} score_result;

/* Scores n items in order. add_bos: -1 = the model's choice, 0 or 1. */
int score_items(model_session *s, const model *m, const score_item *items, int n, int add_bos,
                score_result *out, cape_err *e);

/* The same, calling before(user, i, ctx_tokens) before item i is evaluated
 * with the number of its context tokens (BOS included), so that a hook can
 * act from the last context token on. Cached prefixes are reused only up to
 * the last context token, so such a hook sees every position it steers. */
typedef void (*score_before_fn)(void *user, int item, int ctx_tokens);
int score_items_cb(model_session *s, const model *m, const score_item *items, int n, int add_bos,
                   score_before_fn before, void *user, score_result *out, cape_err *e);

/* The same results with the items spread over the session's sequences
 * (model_session_opts.n_seq): up to n_seq items are evaluated in one batch
 * of rows, each in its own sequence, so the weights are read once for all of
 * them. A prefix already cached in any sequence (the context shared by the
 * choices of one question) is copied rather than evaluated again; an item
 * whose context another item of the same batch is computing waits for the
 * next batch. before(user, item, seq, ctx_tokens) is called before item i is
 * evaluated in sequence seq (hooks see it as model_hook_info.seq). In exact
 * mode (tensor_set_exact) the results equal score_items_cb's bit for bit. */
/* The most tokens any item has (context and continuation, BOS included);
 * -1 with e set on a tokenizer error. */
int score_max_tokens(const model *m, const score_item *items, int n, int add_bos, cape_err *e);

typedef void (*score_before_seq_fn)(void *user, int item, int seq, int ctx_tokens);
int score_items_par(model_session *s, const model *m, const score_item *items, int n, int add_bos,
                    score_before_seq_fn before, void *user, score_result *out, cape_err *e);

/* Per-token detail of one scored continuation: each token, its log p, whether
 * it was the argmax, and the mean and variance of log p under the model's own
 * distribution at that position (mu = sum_v p_v log p_v, var = sum_v p_v
 * (log p_v)^2 - mu^2; the normalisers of Min-K%++). Arrays of n. */
typedef struct {
    int n;
    int *ids;
    double *logprob;
    unsigned char *hit;
    double *mu, *var;
} score_tokens;
void score_tokens_free(score_tokens *t);

typedef struct {
    /* Items longer than the session's context: 0 = an input error; 1 = score
     * the continuation tokens that fit (none when the context alone fills it:
     * n_tokens 0). */
    int truncate;
    score_tokens *tokens; /* NULL, or [n] filled per item (free each) */
    /* NULL, or [n]: a cached prefix is reused only between items of the same
     * group (a hook whose effect differs between groups) */
    const int *group;
} score_par_opts;

/* score_items_par with options (NULL = score_items_par's behaviour). */
int score_items_par_ex(model_session *s, const model *m, const score_item *items, int n,
                       int add_bos, const score_par_opts *po, score_before_seq_fn before,
                       void *user, score_result *out, cape_err *e);

#endif
