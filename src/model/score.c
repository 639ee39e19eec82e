#include "model/score.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Tokens of context + continuation and where the continuation starts. */
static int encode_pair(const tok *t, const score_item *it, int bos, int **ids, int *n,
                       int *ctx_n, cape_err *e)
{
    size_t cl = strlen(it->context), xl = strlen(it->continuation);
    size_t trail = 0;
    while (trail < cl && it->context[cl - 1 - trail] == ' ')
        trail++;
    char *whole = malloc(cl + xl + 1);
    if (!whole)
        return err_set(e, CAPE_EFAIL, "out of memory");
    memcpy(whole, it->context, cl);
    memcpy(whole + cl, it->continuation, xl + 1);
    int flags = TOK_PARSE_SPECIAL | (bos ? TOK_ADD_BOS : 0), *cids = NULL;
    int rc = tok_encode(t, whole, cl + xl, flags, ids, n, e);
    if (!rc)
        rc = tok_encode(t, it->context, cl - trail, flags, &cids, ctx_n, e);
    free(whole);
    free(cids);
    if (rc)
        return rc;
    if (*ctx_n > *n)
        *ctx_n = *n;
    return 0;
}

static double log_softmax_at(const float *lg, int n, int id, int *is_max)
{
    float mx = lg[0];
    int arg = 0;
    for (int i = 1; i < n; i++)
        if (lg[i] > mx) {
            mx = lg[i];
            arg = i;
        }
    double sum = 0;
    for (int i = 0; i < n; i++)
        sum += exp((double)lg[i] - mx);
    *is_max = arg == id;
    return (double)lg[id] - mx - log(sum);
}

int score_items(model_session *s, const model *m, const score_item *items, int n, int add_bos,
                score_result *out, cape_err *e)
{
    return score_items_cb(s, m, items, n, add_bos, NULL, NULL, out, e);
}

int score_items_cb(model_session *s, const model *m, const score_item *items, int n, int add_bos,
                   score_before_fn before, void *user, score_result *out, cape_err *e)
{
    const tok *t = model_tok(m);
    int bos = add_bos < 0 ? tok_wants_bos(t) : add_bos && tok_bos(t) >= 0;
    int *prev = NULL, prev_n = 0, rc = 0;
    model_session_rewind(s, 0);
    for (int i = 0; i < n && !rc; i++) {
        int *ids, len, ctx_n;
        if ((rc = encode_pair(t, &items[i], bos, &ids, &len, &ctx_n, e)))
            break;
        if (ctx_n == 0) {
            free(ids);
            rc = err_set(e, CAPE_EINPUT, "item %d: the context is empty and no BOS token is added",
                         i + 1);
            break;
        }
        if (len > model_session_n_ctx(s)) {
            free(ids);
            rc = err_set(e, CAPE_EINPUT, "item %d: %d tokens exceed the context of %d", i + 1, len,
                         model_session_n_ctx(s));
            break;
        }
        int keep = 0;
        while (keep < prev_n && keep < len && prev[keep] == ids[keep])
            keep++;
        if (keep > ctx_n - 1)
            keep = ctx_n - 1; /* the last context token's logits are needed */
        if (keep > model_session_pos(s))
            keep = model_session_pos(s);
        model_session_rewind(s, keep);
        if (before)
            before(user, i, ctx_n);
        score_result r = {0, len - ctx_n, 1};
        /* Only rows from the last context token on need logits: the context
         * before it goes through without the (vocabulary-sized) output head. */
        if (ctx_n - 1 > keep &&
            (rc = model_eval(s, ids + keep, ctx_n - 1 - keep, MODEL_LOGITS_NONE, e))) {
            free(ids);
            break;
        }
        int first = ctx_n - 1 > keep ? ctx_n - 1 : keep;
        if (len > first && (rc = model_eval(s, ids + first, len - first, MODEL_LOGITS_ALL, e))) {
            free(ids);
            break;
        }
        for (int p = ctx_n; p < len; p++) {
            int is_max;
            r.logprob += log_softmax_at(model_logits(s, p - 1 - first), model_cfg(m)->n_vocab,
                                        ids[p], &is_max);
            r.greedy &= is_max;
        }
        out[i] = r;
        free(prev);
        prev = ids;
        prev_n = len;
    }
    free(prev);
    return rc;
}
