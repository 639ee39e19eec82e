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

#endif
