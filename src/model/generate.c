#include "model/generate.h"

#include <jansson.h>

#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
    int item;       /* prompt index, -1 when free */
    sampler smp;
    int *gen, ngen; /* generated tokens */
    int pending;    /* token to feed at the next step */
    int row;        /* its row in the step (logits) */
    int n_prompt;
} gen_slot;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int encode(const model *m, const char *p, int bos, int **ids, int *n, cape_err *e)
{
    int flags = TOK_PARSE_SPECIAL | (bos ? TOK_ADD_BOS : 0);
    return tok_encode(model_tok(m), p, strlen(p), flags, ids, n, e);
}

int gen_many(const model *m, const char *const *prompts, int n, const gen_opts *o,
             gen_done_fn done, void *user, gen_stats *st, cape_err *e)
{
    const model_config *c = model_cfg(m);
    const tok *t = model_tok(m);
    int bos = o->add_bos < 0 ? tok_wants_bos(t) : o->add_bos && tok_bos(t) >= 0;
    int B = o->n_seq > 0 ? o->n_seq : 1, rc = 0;
    if (B > n)
        B = n > 0 ? n : 1;
    memset(st, 0, sizeof *st);
    if (o->n_predict < 0)
        return err_set(e, CAPE_EINPUT, "a negative number of tokens to generate");
    /* the context: what the longest prompt needs, unless given */
    int def = c->n_ctx_train < 4096 ? c->n_ctx_train : 4096, n_ctx = o->n_ctx;
    if (n_ctx <= 0) {
        int longest = 0;
        for (int i = 0; i < n; i++) {
            int *ids, len;
            if (encode(m, prompts[i], bos, &ids, &len, e))
                return e->code;
            free(ids);
            longest = len > longest ? len : longest;
        }
        n_ctx = longest + o->n_predict < def ? longest + o->n_predict + 1 : def;
    }
    model_session_opts so = {.n_ctx = n_ctx, .n_threads = o->n_threads, .n_seq = B,
                             .kv_type = o->kv_type};
    model_session *s = model_session_new(m, &so, e);
    if (!s)
        return e->code;
    if (o->hook)
        model_session_set_hook(s, o->hook, o->hook_user);
    n_ctx = model_session_n_ctx(s);
    st->n_ctx = n_ctx;
    st->kv_bytes = model_session_kv_bytes(s);
    gen_slot *sl = calloc((size_t)B, sizeof *sl);
    int cap = 0, *rseq = NULL, *rtok = NULL;
    unsigned char *want = NULL;
    if (!sl) {
        model_session_free(s);
        return err_set(e, CAPE_EFAIL, "out of memory");
    }
    for (int b = 0; b < B; b++)
        sl[b].item = -1;
    int next = 0, active = 0;
    while (!rc && (next < n || active > 0)) {
        int nrows = 0, prefill = 0;
        /* new prompts into free sequences, then one token of each running one */
        for (int b = 0; b < B && !rc; b++) {
            gen_slot *g = &sl[b];
            int *ids = NULL, len = 0;
            if (g->item >= 0) {
                len = 1;
                ids = &g->pending;
            } else if (next < n) {
                if ((rc = encode(m, prompts[next], bos, &ids, &len, e)))
                    break;
                if (len == 0 || len >= n_ctx) {
                    free(ids);
                    rc = len == 0 ? err_set(e, CAPE_EINPUT, "prompt %d is empty and the model has no BOS token", next + 1)
                                  : err_set(e, CAPE_EINPUT, "prompt %d has %d tokens, the context only %d",
                                            next + 1, len, n_ctx);
                    break;
                }
                g->item = next++;
                g->n_prompt = len;
                g->ngen = 0;
                free(g->gen);
                g->gen = malloc((size_t)(o->n_predict > 0 ? o->n_predict : 1) * sizeof *g->gen);
                sample_init(&g->smp, &o->sample);
                model_seq_rewind(s, b, 0);
                if (o->on_start)
                    o->on_start(o->hook_user, g->item, b);
                active++;
                prefill = 1;
                st->prompt_tokens += len;
                if (!g->gen) {
                    free(ids);
                    rc = err_set(e, CAPE_EFAIL, "out of memory");
                    break;
                }
            } else {
                continue;
            }
            if (nrows + len > cap) {
                cap = 2 * (nrows + len);
                int *a = realloc(rseq, (size_t)cap * sizeof *a);
                if (a)
                    rseq = a;
                int *b2 = a ? realloc(rtok, (size_t)cap * sizeof *b2) : NULL;
                if (b2)
                    rtok = b2;
                unsigned char *w = b2 ? realloc(want, (size_t)cap) : NULL;
                if (w)
                    want = w;
                if (!w) {
                    if (ids != &g->pending)
                        free(ids);
                    rc = err_set(e, CAPE_EFAIL, "out of memory");
                    break;
                }
            }
            for (int i = 0; i < len; i++, nrows++) {
                rseq[nrows] = b;
                rtok[nrows] = ids[i];
                want[nrows] = i == len - 1;
            }
            g->row = nrows - 1;
            if (ids != &g->pending)
                free(ids);
        }
        if (rc || nrows == 0)
            break;
        double t0 = now_s();
        if ((rc = model_eval_seqs(s, rseq, rtok, nrows, want, e)))
            break;
        st->steps++;
        if (!prefill) {
            st->decode_s += now_s() - t0;
            st->decode_rows += nrows;
        }
        /* as cape run's loop: sample, stop at EOS, n_predict or the context */
        for (int b = 0; b < B && !rc; b++) {
            gen_slot *g = &sl[b];
            if (g->item < 0)
                continue;
            gen_stop stop = GEN_STOP_LENGTH;
            int finished = 1;
            if (g->ngen < o->n_predict && model_seq_pos(s, b) < n_ctx) {
                int tk = sample_next(&g->smp, model_logits_at(s, g->row), c->n_vocab);
                if (tk < 0) {
                    rc = err_set(e, CAPE_EFAIL, "out of memory while sampling");
                    break;
                }
                if (!o->ignore_eos && tk == c->eos_id) {
                    stop = GEN_STOP_EOS;
                } else {
                    g->gen[g->ngen++] = tk;
                    st->gen_tokens++;
                    g->pending = tk;
                    finished = g->ngen >= o->n_predict;
                }
            } else if (g->ngen < o->n_predict) {
                stop = GEN_STOP_CONTEXT;
            }
            if (finished) {
                gen_result r = {g->n_prompt, g->gen, g->ngen, stop};
                if (done)
                    done(user, g->item, &r);
                sample_free(&g->smp);
                g->item = -1;
                active--;
            }
        }
    }
    for (int b = 0; b < B; b++) {
        if (sl[b].item >= 0)
            sample_free(&sl[b].smp);
        free(sl[b].gen);
    }
    free(sl);
    free(rseq);
    free(rtok);
    free(want);
    model_session_free(s);
    return rc;
}

/* ---- prompts files ---- */

void gen_prompts_free(char **prompts, int n)
{
    for (int i = 0; prompts && i < n; i++)
        free(prompts[i]);
    free(prompts);
}

/* One line (len bytes, no newline) as a prompt: the text itself, or the
 * "prompt" member of a JSON object. *q is NULL for a blank line. */
static int parse_prompt_line(const char *s, size_t len, const char *name, int line, char **q,
                             cape_err *e)
{
    *q = NULL;
    if (len && s[len - 1] == '\r')
        len--;
    if (len == 0)
        return 0;
    if (memchr(s, 0, len))
        return err_set(e, CAPE_EINPUT, "%s:%d: a NUL byte in the line", name, line);
    if (s[0] != '{') {
        if (!(*q = strndup(s, len)))
            return err_set(e, CAPE_EFAIL, "out of memory");
        return 0;
    }
    json_error_t je;
    json_t *j = json_loadb(s, len, 0, &je);
    json_t *v = j ? json_object_get(j, "prompt") : NULL;
    int rc = 0;
    if (!json_is_string(v))
        rc = err_set(e, CAPE_EINPUT, "%s:%d: expected a JSON object with a string \"prompt\"",
                     name, line);
    else if (!(*q = strdup(json_string_value(v))))
        rc = err_set(e, CAPE_EFAIL, "out of memory");
    json_decref(j);
    return rc;
}

int gen_prompts_parse(const char *buf, size_t len, const char *name, char ***out, int *n,
                      cape_err *e)
{
    int cap = 0, k = 0, line = 0, rc = 0;
    char **p = NULL;
    for (size_t at = 0; at < len && !rc;) {
        const char *s = buf + at, *nl = memchr(s, '\n', len - at);
        size_t l = nl ? (size_t)(nl - s) : len - at;
        at += l + 1;
        line++;
        char *q;
        if ((rc = parse_prompt_line(s, l, name, line, &q, e)) || !q)
            continue;
        if (k == cap) {
            char **np = realloc(p, (size_t)(cap = cap ? 2 * cap : 16) * sizeof *np);
            if (!np) {
                free(q);
                rc = err_set(e, CAPE_EFAIL, "out of memory");
                break;
            }
            p = np;
        }
        p[k++] = q;
    }
    if (!rc && k == 0)
        rc = err_set(e, CAPE_EINPUT, "%s: no prompts", name);
    if (rc) {
        gen_prompts_free(p, k);
        return rc;
    }
    *out = p;
    *n = k;
    return 0;
}
