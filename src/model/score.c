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

/* ---- many items at once, one per sequence of the session ---- */

int score_max_tokens(const model *m, const score_item *items, int n, int add_bos, cape_err *e)
{
    const tok *t = model_tok(m);
    int bos = add_bos < 0 ? tok_wants_bos(t) : add_bos && tok_bos(t) >= 0, most = 0;
    for (int i = 0; i < n; i++) {
        int *ids, len, ctx_n;
        if (encode_pair(t, &items[i], bos, &ids, &len, &ctx_n, e))
            return -1;
        free(ids);
        most = len > most ? len : most;
    }
    return most;
}

typedef struct {
    int item, seq, row0;    /* row0: the step's row of token `keep` */
    int *ids, len, ctx_n, keep;
} par_item;

static int common_prefix(const int *a, int na, const int *b, int nb)
{
    int k = 0;
    while (k < na && k < nb && a[k] == b[k])
        k++;
    return k;
}

void score_tokens_free(score_tokens *t)
{
    free(t->ids);
    free(t->logprob);
    free(t->hit);
    free(t->mu);
    free(t->var);
    memset(t, 0, sizeof *t);
}

/* log p of `id` and the moments of log p over the whole distribution. */
static double log_softmax_moments(const float *lg, int n, int id, int *is_max, double *mu,
                                  double *var)
{
    float mx = lg[0];
    int arg = 0;
    for (int i = 1; i < n; i++)
        if (lg[i] > mx) {
            mx = lg[i];
            arg = i;
        }
    double s0 = 0, s1 = 0, s2 = 0;
    for (int i = 0; i < n; i++) {
        double d = (double)lg[i] - mx, w = exp(d);
        s0 += w;
        s1 += w * d;
        s2 += w * d * d;
    }
    double ls = log(s0), m1 = s1 / s0, m2 = s2 / s0;
    *is_max = arg == id;
    *mu = m1 - ls;           /* E[d - ls] */
    *var = m2 - m1 * m1;     /* Var[d] = Var[log p] */
    if (*var < 0)
        *var = 0;
    return (double)lg[id] - mx - ls;
}

static int tokens_alloc(score_tokens *t, int n)
{
    memset(t, 0, sizeof *t);
    size_t k = n > 0 ? (size_t)n : 1;
    t->ids = malloc(k * sizeof *t->ids);
    t->logprob = malloc(k * sizeof *t->logprob);
    t->hit = malloc(k);
    t->mu = malloc(k * sizeof *t->mu);
    t->var = malloc(k * sizeof *t->var);
    if (!t->ids || !t->logprob || !t->hit || !t->mu || !t->var) {
        score_tokens_free(t);
        return -1;
    }
    t->n = n;
    return 0;
}

int score_items_par(model_session *s, const model *m, const score_item *items, int n, int add_bos,
                    score_before_seq_fn before, void *user, score_result *out, cape_err *e)
{
    return score_items_par_ex(s, m, items, n, add_bos, NULL, before, user, out, e);
}

int score_items_par_ex(model_session *s, const model *m, const score_item *items, int n,
                       int add_bos, const score_par_opts *po, score_before_seq_fn before,
                       void *user, score_result *out, cape_err *e)
{
    int truncate = po && po->truncate;
    score_tokens *tokout = po ? po->tokens : NULL;
    const int *group = po ? po->group : NULL;
    const tok *t = model_tok(m);
    int bos = add_bos < 0 ? tok_wants_bos(t) : add_bos && tok_bos(t) >= 0;
    int B = model_session_n_seq(s), n_vocab = model_cfg(m)->n_vocab, rc = 0;
    int **toks = calloc((size_t)B, sizeof *toks), *ntok = calloc((size_t)B, sizeof *ntok);
    int *taken = calloc((size_t)B, sizeof *taken), *sgroup = calloc((size_t)B, sizeof *sgroup);
    par_item *step = calloc((size_t)B, sizeof *step);
    int *rseq = NULL, *rtok = NULL, cap = 0;
    unsigned char *want = NULL;
    if (!toks || !ntok || !taken || !sgroup || !step) {
        rc = err_set(e, CAPE_EFAIL, "out of memory");
        goto done;
    }
    for (int b = 0; b < B; b++)
        model_seq_rewind(s, b, 0);
    for (int i = 0; i < n && !rc;) {
        int ns = 0, nrows = 0;
        memset(taken, 0, (size_t)B * sizeof *taken);
        while (i < n && ns < B) {
            par_item it = {.item = i};
            if ((rc = encode_pair(t, &items[i], bos, &it.ids, &it.len, &it.ctx_n, e)))
                break;
            if (truncate && it.ctx_n > 0 && it.len > model_session_n_ctx(s)) {
                it.len = model_session_n_ctx(s);
                if (it.ctx_n >= it.len) { /* no continuation token fits */
                    free(it.ids);
                    out[i] = (score_result){0, 0, 1};
                    if (tokout && tokens_alloc(&tokout[i], 0)) {
                        rc = err_set(e, CAPE_EFAIL, "out of memory");
                        break;
                    }
                    i++;
                    continue;
                }
            }
            if (it.ctx_n == 0 || it.len > model_session_n_ctx(s)) {
                free(it.ids);
                rc = it.ctx_n == 0
                         ? err_set(e, CAPE_EINPUT, "item %d: the context is empty and no BOS token is added", i + 1)
                         : err_set(e, CAPE_EINPUT, "item %d: %d tokens exceed the context of %d", i + 1,
                                   it.len, model_session_n_ctx(s));
                break;
            }
            /* the longest prefix already cached in some sequence */
            int src = -1, keep = 0;
            for (int b = 0; b < B; b++) {
                int k = toks[b] && (!group || sgroup[b] == group[i])
                            ? common_prefix(toks[b], ntok[b], it.ids, it.len)
                            : 0;
                if (k > keep) {
                    keep = k;
                    src = b;
                }
            }
            if (keep > it.ctx_n - 1)
                keep = it.ctx_n - 1; /* the last context token's logits are needed */
            /* an item of this step computes a longer shared prefix: wait for it */
            int wait = 0;
            for (int j = 0; j < ns && !wait; j++) {
                if (group && group[step[j].item] != group[i])
                    continue;
                int k = common_prefix(step[j].ids, step[j].len, it.ids, it.len);
                wait = (k < it.ctx_n - 1 ? k : it.ctx_n - 1) > keep;
            }
            if (wait) {
                free(it.ids);
                break;
            }
            int dst = src >= 0 && !taken[src] ? src : -1;
            for (int b = 0, best = -1; dst < 0 && b < B; b++) {
                if (taken[b])
                    continue;
                int k = toks[b] ? common_prefix(toks[b], ntok[b], it.ids, it.len) : 0;
                if (best < 0 || k < best) {
                    best = k;
                    dst = b;
                }
            }
            if (src >= 0 && dst != src) {
                if ((rc = model_seq_copy(s, dst, src, keep, e))) {
                    free(it.ids);
                    break;
                }
            } else {
                model_seq_rewind(s, dst, keep);
            }
            taken[dst] = 1;
            if (group)
                sgroup[dst] = group[i];
            free(toks[dst]);
            toks[dst] = it.ids;
            ntok[dst] = keep;
            it.seq = dst;
            it.keep = keep;
            it.row0 = nrows;
            int need = nrows + it.len - keep;
            if (need > cap) {
                cap = need * 2;
                int *a = realloc(rseq, (size_t)cap * sizeof *a), *b2 = a ? realloc(rtok, (size_t)cap * sizeof *b2) : NULL;
                unsigned char *w = b2 ? realloc(want, (size_t)cap) : NULL;
                if (a)
                    rseq = a;
                if (b2)
                    rtok = b2;
                if (w)
                    want = w;
                if (!a || !b2 || !w) {
                    rc = err_set(e, CAPE_EFAIL, "out of memory");
                    break;
                }
            }
            /* row of position p predicts token p + 1 */
            for (int p = keep; p < it.len; p++, nrows++) {
                rseq[nrows] = dst;
                rtok[nrows] = it.ids[p];
                want[nrows] = p >= it.ctx_n - 1 && p < it.len - 1;
            }
            if (before)
                before(user, i, dst, it.ctx_n);
            step[ns++] = it;
            i++;
        }
        if (rc || ns == 0)
            break;
        if ((rc = model_eval_seqs(s, rseq, rtok, nrows, want, e)))
            break;
        for (int j = 0; j < ns; j++) {
            par_item *it = &step[j];
            score_result r = {0, it->len - it->ctx_n, 1};
            score_tokens *tk = tokout ? &tokout[it->item] : NULL;
            if (tk && tokens_alloc(tk, r.n_tokens)) {
                rc = err_set(e, CAPE_EFAIL, "out of memory");
                break;
            }
            for (int p = it->ctx_n - 1; p < it->len - 1; p++) {
                int is_max;
                const float *lg = model_logits_at(s, it->row0 + p - it->keep);
                double lp;
                if (tk) {
                    int k = p - (it->ctx_n - 1);
                    lp = log_softmax_moments(lg, n_vocab, it->ids[p + 1], &is_max, &tk->mu[k],
                                             &tk->var[k]);
                    tk->ids[k] = it->ids[p + 1];
                    tk->logprob[k] = lp;
                    tk->hit[k] = (unsigned char)is_max;
                } else {
                    lp = log_softmax_at(lg, n_vocab, it->ids[p + 1], &is_max);
                }
                r.logprob += lp;
                r.greedy &= is_max;
            }
            out[it->item] = r;
            ntok[it->seq] = it->len;
        }
    }
done:
    for (int b = 0; toks && b < B; b++)
        free(toks[b]);
    free(toks);
    free(ntok);
    free(taken);
    free(sgroup);
    free(step);
    free(rseq);
    free(rtok);
    free(want);
    return rc;
}
