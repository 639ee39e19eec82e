/* tofu_eval: one whole TOFU evaluation of a model: score every answer
 * (batched over the session's sequences), generate greedily (batched),
 * compute the metrics, check them and write the two JSON files. */
#include "unlearn/tofu_eval.h"

#include "model/gguf.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "base/file.h"
#include "base/isa.h"
#include "base/json.h"
#include "model/generate.h"
#include "model/score.h"
#include "tensor/matmul.h"
#include "train/train_ckpt.h"
#include "train/train_data.h"
#include "unlearn/filter.h"
#include "unlearn/sink_hook.h"

#define PLAIN_TEMPLATE "Question: {question}\nAnswer:"
#define MAX_SESS 64

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* ---- templates ---- */

/* The cape trainer's rendering of a TOFU pair with an empty answer, its
 * trailing space left off (the space goes with the answer's first token, as
 * in training), with {question} where the question goes. */
static char *cape_template(void)
{
    char *s = train_tofu_render("{question}", "");
    if (s) {
        size_t n = strlen(s);
        while (n > 0 && s[n - 1] == ' ')
            s[--n] = 0;
    }
    return s;
}

char *tofu_render_prompt(const char *template, const char *question)
{
    const char *at = strstr(template, "{question}");
    if (!at)
        return NULL;
    size_t a = (size_t)(at - template), q = strlen(question), b = strlen(at + 10);
    char *s = malloc(a + q + b + 1);
    if (s) {
        memcpy(s, template, a);
        memcpy(s + a, question, q);
        memcpy(s + a + q, at + 10, b + 1);
    }
    return s;
}

int tofu_is_cape_model(const char *path)
{
    if (!gguf_path_is_gguf(path))
        return 0;
    ckpt_file f = {0};
    cape_err e = {0};
    uint64_t step;
    int yes = !ckpt_read_meta(&f, path, &e) && !ckpt_get_u64(&f, "cape.train.step", &step);
    ckpt_free(&f);
    return yes;
}

char *tofu_model_template(const char *model_path)
{
    return tofu_is_cape_model(model_path) ? cape_template() : strdup(PLAIN_TEMPLATE);
}

/* ---- the oracle ---- */

int tofu_oracle_load(const char *path, json_t **out, cape_err *e)
{
    json_error_t je;
    json_t *o = json_load_file(path, 0, &je);
    if (!o) {
        FILE *fp = fopen(path, "rb");
        if (!fp)
            return err_set(e, CAPE_EINPUT, "--oracle %s: cannot be read", path);
        fclose(fp);
        return json_err_set(e, path, 0, &je);
    }
    const json_t *by = json_object_get(json_object_get(o, "forget_truth_ratio"), "value_by_index");
    int ok = json_is_object(o) && json_is_object(by) && json_object_size(by) > 0;
    const char *key;
    json_t *v;
    if (ok)
        json_object_foreach((json_t *)by, key, v)
        {
            if (!json_is_number(json_object_get(v, "score")) &&
                !json_is_null(json_object_get(v, "score")))
                ok = 0;
        }
    const json_t *mk = json_object_get(json_object_get(o, "mia_min_k"), "agg_value");
    if (mk && !json_is_number(mk) && !json_is_null(mk))
        ok = 0;
    if (!ok) {
        json_decref(o);
        return err_set(e, CAPE_EINPUT, "--oracle %s: not a TOFU_EVAL.json (it needs "
                       "forget_truth_ratio.value_by_index with a numeric score per item)", path);
    }
    *out = o;
    return 0;
}

/* ---- sinks: one mask per sequence when the mask follows the query ---- */

typedef struct {
    sink_hook h;
    int per_query;
    sink_seq_masks seq;        /* the session's masks (its own, per sequence) */
    const char *const *query;  /* per item of the current call */
    long *done;                /* progress (shared, atomic) */
    long total;
    const tofu_eval_opts *o;
    const void *first;         /* the hook that draws progress */
    /* --sinks own: the questions of the forget and retain splits, sorted,
     * and their authors' source ids */
    const char **own_q;
    uint32_t *own_id;
    int n_own;
} eval_hook;

static int cmp_own(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static uint32_t own_source(const eval_hook *x, const char *question)
{
    const char **hit = x->n_own ? bsearch(&question, x->own_q, (size_t)x->n_own, sizeof *x->own_q,
                                          cmp_own)
                                : NULL;
    return hit ? x->own_id[hit - x->own_q] : 0;
}

static void eh_select(eval_hook *x, int item, int seq)
{
    if (x->seq.per_query)
        sink_seq_masks_select(&x->seq, seq,
                              x->h.mode == SINK_MODE_OWN ? own_source(x, x->query[item])
                                                         : x->h.source,
                              x->query[item]);
}

/* --sinks own: each forget and retain question's author is the source of
 * its QA pair in the data directory's full.json (the trainer's sources:
 * "tofu-001", ... for each 20 pairs in file order), found by the pair's
 * rendered document; a pair that is not there, or an author the model does
 * not have, gets no source (backbone only). */

static int own_sources(eval_hook *x, const tofu_split *split, const char *dir, cape_err *e)
{
    const tofu_split *sp[2] = {&split[TOFU_FORGET], &split[TOFU_RETAIN]};
    int n = sp[0]->n + sp[1]->n, rc = 0;
    x->own_q = malloc(sizeof *x->own_q * (size_t)(n ? n : 1));
    x->own_id = malloc(sizeof *x->own_id * (size_t)(n ? n : 1));
    tofu_key_id *q = malloc(sizeof *q * (size_t)(n ? n : 1));
    if (!x->own_q || !x->own_id || !q) {
        rc = err_set(e, CAPE_EFAIL, "out of memory");
        goto out;
    }
    if ((rc = tofu_row_sources(dir, &x->h.sm.sources, sp, 2, x->own_id, e)))
        goto out;
    for (int k = 0, at = 0; k < 2; k++)
        for (int i = 0; i < sp[k]->n; i++, at++)
            q[at] = (tofu_key_id){sp[k]->rows[i].question, x->own_id[at]};
    qsort(q, (size_t)n, sizeof *q, tofu_key_id_cmp);
    for (int i = 0; i < n; i++) {
        x->own_q[i] = q[i].key;
        x->own_id[i] = q[i].id;
    }
    x->n_own = n;
out:
    free(q);
    return rc;
}

static void eh_before(void *user, int item, int seq, int ctx_tokens)
{
    (void)ctx_tokens;
    eval_hook *x = user;
    eh_select(x, item, seq);
    long d = __atomic_add_fetch(x->done, 1, __ATOMIC_RELAXED);
    if (x->o->progress && x == x->first && d % 64 == 0)
        x->o->progress(x->o->progress_user, d, x->total);
}

static void eh_start(void *user, int item, int seq)
{
    eh_select(user, item, seq);
}

static void eh_fn(const model_hook_info *info, float *x, void *user)
{
    const eval_hook *h = user;
    sink_seq_masks_apply(&h->seq, info, x);
}

/* ---- scoring ---- */

typedef struct {
    const tofu_eval_opts *o;
    const model *m;
    char *template;
    eval_hook hook;            /* the sink state the sessions' hooks copy */
    int n_sess;                /* scoring sessions, one thread each, run side by side */
    model_session *sess[MAX_SESS];
    eval_hook shook[MAX_SESS]; /* a hook per session (its own masks) */
    tofu_split split[TOFU_NSPLITS];
    tofu_split_scores sc[TOFU_NSPLITS];
    long done, total;
    int truncated;
    int bos; /* BOS before each prompt: 0 or 1 */
} run_ctx;

static void seq_from_tokens(tofu_seq *q, score_tokens *t)
{
    q->n = t->n;
    q->lp = t->logprob;
    q->hit = t->hit;
    q->mu = t->mu;
    q->var = t->var;
    free(t->ids);
    memset(t, 0, sizeof *t);
}

static char *context_of(const char *prompt)
{
    size_t n = strlen(prompt);
    char *c = malloc(n + 2);
    if (c) {
        memcpy(c, prompt, n);
        /* a space before the answer, unless the prompt ends in white space */
        int ws = n > 0 && (prompt[n - 1] == ' ' || prompt[n - 1] == '\n' || prompt[n - 1] == '\t');
        c[n] = ' ';
        c[n + (ws ? 0 : 1)] = 0;
    }
    return c;
}

typedef struct {
    run_ctx *r;
    int k; /* session */
    const score_item *items;
    int n;
    const int *group;
    const char **query;
    score_result *res;
    score_tokens *tk;
    int rc;
    cape_err e;
} score_job;

static void *score_thread(void *arg)
{
    score_job *j = arg;
    if (j->n == 0)
        return NULL;
    eval_hook *h = &j->r->shook[j->k];
    h->query = j->query;
    score_par_opts po = {.truncate = 1, .tokens = j->tk, .group = j->group};
    j->rc = score_items_par_ex(j->r->sess[j->k], j->r->m, j->items, j->n, j->r->bos, &po,
                               eh_before, h, j->res, &j->e);
    return NULL;
}

static int score_split(run_ctx *r, tofu_split_id id, cape_err *e)
{
    const tofu_split *sp = &r->split[id];
    tofu_split_scores *ss = &r->sc[id];
    ss->split = sp;
    ss->items = calloc((size_t)sp->n, sizeof *ss->items);
    int per_row = 1 + (id == TOFU_FORGET || id == TOFU_RETAIN) + TOFU_MAX_PERT;
    size_t cap = (size_t)sp->n * per_row;
    score_item *items = calloc(cap, sizeof *items);
    const char **query = calloc(cap, sizeof *query);
    int *row_of = calloc(cap, sizeof *row_of), *kind = calloc(cap, sizeof *kind);
    char **ctx = calloc((size_t)sp->n, sizeof *ctx);
    score_result *res = calloc(cap, sizeof *res);
    score_tokens *tk = calloc(cap, sizeof *tk);
    int n = 0, rc = 0;
    if (!ss->items || !items || !query || !row_of || !kind || !ctx || !res || !tk) {
        rc = err_set(e, CAPE_EFAIL, "out of memory");
        goto out;
    }
    for (int i = 0; i < sp->n; i++) {
        const tofu_row *row = &sp->rows[i];
        char *prompt = tofu_render_prompt(r->template, row->question);
        ss->items[i].input = prompt;
        ss->items[i].n_pert = row->n_pert;
        if (!prompt || !(ctx[i] = context_of(prompt))) {
            rc = err_set(e, CAPE_EFAIL, "out of memory");
            goto out;
        }
        /* kind: -1 answer, -2 paraphrase, k >= 0 perturbed answer k */
        items[n] = (score_item){ctx[i], row->answer};
        query[n] = row->question, row_of[n] = i, kind[n++] = -1;
        if (row->para) {
            items[n] = (score_item){ctx[i], row->para};
            query[n] = row->question, row_of[n] = i, kind[n++] = -2;
        }
        for (int k = 0; k < row->n_pert; k++) {
            items[n] = (score_item){ctx[i], row->pert[k]};
            query[n] = row->question, row_of[n] = i, kind[n++] = k;
        }
    }
    /* the rows in contiguous chunks, one per session, scored side by side;
     * an item's numbers do not depend on its chunk */
    score_job jobs[MAX_SESS];
    pthread_t th[MAX_SESS];
    int started[MAX_SESS] = {0};
    for (int k = 0, at = 0; k < r->n_sess; k++) {
        int row_end = (int)((long)sp->n * (k + 1) / r->n_sess), end = at;
        while (end < n && row_of[end] < row_end)
            end++;
        /* with a mask per question, a prefix cached under another question's
         * mask must not be reused */
        jobs[k] = (score_job){r, k, items + at, end - at, r->hook.per_query ? row_of + at : NULL,
                              query + at, res + at, tk + at, 0, {0}};
        at = end;
    }
    for (int k = 1; k < r->n_sess; k++)
        started[k] = jobs[k].n > 0 && !pthread_create(&th[k], NULL, score_thread, &jobs[k]);
    score_thread(&jobs[0]);
    for (int k = 1; k < r->n_sess; k++) {
        if (started[k])
            pthread_join(th[k], NULL);
        else if (jobs[k].n > 0)
            score_thread(&jobs[k]);
    }
    for (int k = 0; k < r->n_sess && !rc; k++)
        if (jobs[k].rc) {
            rc = jobs[k].rc;
            err_set(e, jobs[k].e.code, "%s", jobs[k].e.msg);
        }
    if (rc)
        goto out;
    for (int j = 0; j < n; j++) {
        tofu_item_scores *it = &ss->items[row_of[j]];
        tofu_seq *q = kind[j] == -1 ? &it->ans : kind[j] == -2 ? &it->para : &it->pert[kind[j]];
        if (tk[j].n == 0)
            r->truncated++;
        seq_from_tokens(q, &tk[j]);
    }
out:
    for (int j = 0; tk && j < n; j++)
        score_tokens_free(&tk[j]);
    for (int i = 0; ctx && i < sp->n; i++)
        free(ctx[i]);
    free(items);
    free(query);
    free(row_of);
    free(kind);
    free(ctx);
    free(res);
    free(tk);
    return rc;
}

/* The rendered prompts of a split without scoring it (generation only):
 * 1 on success, 0 out of memory. */
static int prompts_only(run_ctx *r, tofu_split_id id)
{
    const tofu_split *sp = &r->split[id];
    tofu_split_scores *ss = &r->sc[id];
    ss->split = sp;
    if (!(ss->items = calloc((size_t)sp->n, sizeof *ss->items)))
        return 0;
    for (int i = 0; i < sp->n; i++)
        if (!(ss->items[i].input = tofu_render_prompt(r->template, sp->rows[i].question)))
            return 0;
    return 1;
}

/* ---- generation ---- */

typedef struct {
    run_ctx *r;
    int k;                /* session (hook) */
    const char **prompts, **query;
    char **out;           /* per prompt */
    int n, rc;
    cape_err e;
} gen_ctx;

static void gen_done(void *user, int i, const gen_result *g)
{
    gen_ctx *c = user;
    char *s = tok_decode(model_tok(c->r->m), g->ids, g->n, 0);
    if (s) {
        /* strip, as open-unlearning does */
        size_t a = 0, n = strlen(s);
        while (a < n && (s[a] == ' ' || s[a] == '\n' || s[a] == '\t' || s[a] == '\r'))
            a++;
        while (n > a && (s[n - 1] == ' ' || s[n - 1] == '\n' || s[n - 1] == '\t' || s[n - 1] == '\r'))
            n--;
        memmove(s, s + a, n - a);
        s[n - a] = 0;
    }
    c->out[i] = s;
    long d = __atomic_add_fetch(&c->r->done, 1, __ATOMIC_RELAXED);
    if (c->r->o->progress && c->k == 0 && d % 8 == 0)
        c->r->o->progress(c->r->o->progress_user, d, c->r->total);
}

static void *gen_thread(void *arg)
{
    gen_ctx *c = arg;
    run_ctx *r = c->r;
    const tofu_eval_opts *o = r->o;
    eval_hook *h = &r->shook[c->k];
    if (c->n == 0)
        return NULL;
    gen_opts go = {.n_predict = o->max_new_tokens, .sample = {.temp = 0, .top_k = 0, .top_p = 1},
                   .add_bos = r->bos, .n_seq = h->seq.n_seq, .n_threads = 1,
                   .hook = h->h.enabled ? eh_fn : NULL, .hook_user = h,
                   .on_start = h->per_query ? eh_start : NULL};
    h->query = c->query;
    gen_stats st;
    c->rc = gen_many(r->m, c->prompts, c->n, &go, gen_done, c, &st, &c->e);
    return NULL;
}

static int generate_all(run_ctx *r, cape_err *e)
{
    int total = 0;
    for (int s = 0; s < TOFU_HOLDOUT; s++)
        total += r->split[s].n;
    const char **prompts = calloc((size_t)total, sizeof *prompts), **query = calloc((size_t)total, sizeof *query);
    char **outs = calloc((size_t)total, sizeof *outs);
    int *idx = calloc((size_t)total, sizeof *idx), n = 0, rc = 0;
    if (!prompts || !query || !outs || !idx) {
        rc = err_set(e, CAPE_EFAIL, "out of memory");
        goto out;
    }
    /* prompts that leave no room for a token are not generated (empty) */
    const tok *t = model_tok(r->m);
    int bos = r->bos;
    int limit = model_cfg(r->m)->n_ctx_train < 4096 ? model_cfg(r->m)->n_ctx_train : 4096;
    for (int s = 0, k = 0; s < TOFU_HOLDOUT; s++)
        for (int i = 0; i < r->split[s].n; i++, k++) {
            const char *p = r->sc[s].items[i].input;
            int *ids, len;
            if ((rc = tok_encode(t, p, strlen(p), TOK_PARSE_SPECIAL | (bos ? TOK_ADD_BOS : 0),
                                 &ids, &len, e)))
                goto out;
            free(ids);
            if (len + 1 >= limit)
                continue;
            prompts[n] = p;
            query[n] = r->split[s].rows[i].question;
            idx[n++] = k;
        }
    /* the prompts in contiguous chunks, one per session's thread */
    gen_ctx jobs[MAX_SESS];
    pthread_t th[MAX_SESS];
    int started[MAX_SESS] = {0};
    for (int k = 0; k < r->n_sess; k++) {
        int a = (int)((long)n * k / r->n_sess), b = (int)((long)n * (k + 1) / r->n_sess);
        jobs[k] = (gen_ctx){r, k, prompts + a, query + a, outs + a, b - a, 0, {0}};
    }
    for (int k = 1; k < r->n_sess; k++)
        started[k] = jobs[k].n > 0 && !pthread_create(&th[k], NULL, gen_thread, &jobs[k]);
    gen_thread(&jobs[0]);
    for (int k = 1; k < r->n_sess; k++) {
        if (started[k])
            pthread_join(th[k], NULL);
        else
            gen_thread(&jobs[k]);
    }
    for (int k = 0; k < r->n_sess; k++)
        if (jobs[k].rc) {
            rc = err_set(e, jobs[k].e.code, "%s", jobs[k].e.msg);
            goto out;
        }
    for (int j = 0; j < n; j++)
        if (!outs[j]) {
            rc = err_set(e, CAPE_EFAIL, "out of memory decoding a generation");
            goto out;
        }
    for (int s = 0, k = 0, j = 0; s < TOFU_HOLDOUT; s++)
        for (int i = 0; i < r->split[s].n; i++, k++) {
            char *g = j < n && idx[j] == k ? outs[j++] : strdup("");
            r->sc[s].items[i].generation = g;
            if (!g)
                rc = err_set(e, CAPE_EFAIL, "out of memory");
        }
    free(outs);
    outs = NULL;
out:
    for (int j = 0; outs && j < n; j++)
        free(outs[j]);
    free(outs);
    free(prompts);
    free(query);
    free(idx);
    return rc;
}

/* ---- the filter ---- */

/* A blocked question: each scored token at the uniform probability 1/V
 * (the refusal gives no answer any preference), none the argmax. */
static void refusal_seq(tofu_seq *q, int n_vocab)
{
    double u = -log((double)n_vocab);
    for (int t = 0; t < q->n; t++) {
        q->lp[t] = u;
        q->hit[t] = 0;
        q->mu[t] = u;
        q->var[t] = 0;
    }
}

/* Applies the filter to the scored rows of one split: a blocked question
 * gets the refusal's scores and generation, a blocked generation becomes the
 * refusal; sc->filter_in / filter_out count them. */
static int filter_split(const filter *f, const tofu_split *sp, tofu_split_scores *sc, int n_vocab,
                        cape_err *e)
{
    sc->filter_in = sc->filter_out = 0;
    for (int i = 0; i < sp->n; i++) {
        tofu_item_scores *it = &sc->items[i];
        filter_verdict v;
        int in = filter_check(f, sp->rows[i].question, &v);
        if (in) {
            sc->filter_in++;
            refusal_seq(&it->ans, n_vocab);
            refusal_seq(&it->para, n_vocab);
            for (int k = 0; k < it->n_pert; k++)
                refusal_seq(&it->pert[k], n_vocab);
        } else if (it->generation && filter_check(f, it->generation, &v)) {
            sc->filter_out++;
        } else {
            continue;
        }
        if (it->generation) {
            free(it->generation);
            if (!(it->generation = strdup(TOFU_REFUSAL)))
                return err_set(e, CAPE_EFAIL, "out of memory");
        }
    }
    return 0;
}

static int apply_filter(run_ctx *r, const filter *f, json_t **rec, cape_err *e)
{
    json_t *in = json_object(), *outb = json_object();
    int V = tok_n_vocab(model_tok(r->m));
    for (int s = 0; s < TOFU_NSPLITS; s++) {
        int rc = filter_split(f, &r->split[s], &r->sc[s], V, e);
        if (rc) {
            json_decref(in);
            json_decref(outb);
            return rc;
        }
        json_object_set_new(in, tofu_split_name(s), json_integer(r->sc[s].filter_in));
        if (s < TOFU_HOLDOUT)
            json_object_set_new(outb, tofu_split_name(s), json_integer(r->sc[s].filter_out));
    }
    *rec = json_object();
    json_object_set_new(*rec, "path", json_text(r->o->filter_path));
    json_object_set_new(*rec, "forget", json_string(filter_forget(f)));
    json_object_set_new(*rec, "refusal", json_string(TOFU_REFUSAL));
    json_object_set_new(*rec, "input_blocked", in);
    json_object_set_new(*rec, "output_blocked", outb);
    return 0;
}

int tofu_filter_load(const char *path, const char *forget, filter **out, cape_err *e)
{
    int rc = filter_load(path, out, e);
    if (rc)
        return rc;
    if (forget && strcmp(filter_forget(*out), forget)) {
        rc = err_set(e, CAPE_EINPUT, "--filter %s: built for %s, not %s", path,
                     filter_forget(*out), forget);
        filter_free(*out);
        *out = NULL;
    }
    return rc;
}

/* ---- the record of the run ---- */

static json_t *cape_block(run_ctx *r, int pct, const char *template_name)
{
    const tofu_eval_opts *o = r->o;
    const tok *t = model_tok(r->m);
    json_t *c = json_object();
    json_object_set_new(c, "model", json_text(o->model_path));
    json_object_set_new(c, "arch", json_text(model_cfg(r->m)->arch_name));
    char buf[32];
    snprintf(buf, sizeof buf, "forget%02d", pct);
    json_object_set_new(c, "forget_split", json_string(buf));
    snprintf(buf, sizeof buf, "holdout%02d", pct);
    json_object_set_new(c, "holdout_split", json_string(buf));
    json_t *tp = json_object();
    json_object_set_new(tp, "name", json_string(template_name));
    json_object_set_new(tp, "prompt", json_text(r->template));
    json_object_set_new(tp, "answer", json_string("the answer follows the prompt after one space "
                                                  "(none when the prompt ends in white space); "
                                                  "no end-of-sequence token is appended"));
    json_object_set_new(c, "template", tp);
    json_t *tk = json_object();
    json_object_set_new(tk, "describe", json_text(tok_describe(t)));
    json_object_set_new(tk, "n_vocab", json_integer(tok_n_vocab(t)));
    json_object_set_new(tk, "bos", json_boolean(r->bos));
    json_object_set_new(c, "tokenizer", tk);
    json_t *g = json_object();
    json_object_set_new(g, "do_sample", json_false());
    json_object_set_new(g, "max_new_tokens", json_integer(o->max_new_tokens));
    json_object_set_new(g, "stop", json_string("end-of-sequence token, max_new_tokens or the "
                                               "end of the context"));
    json_object_set_new(g, "strip", json_true());
    json_object_set_new(c, "generation", g);
    json_t *d = json_object();
    json_object_set_new(d, "dir", json_text(o->tofu_dir));
    json_t *files = json_object(), *rows = json_object();
    for (int s = 0; s < TOFU_NSPLITS; s++) {
        json_t *f = json_object();
        json_object_set_new(f, "sha256", json_string(r->split[s].sha256));
        json_object_set_new(files, r->split[s].file, f);
        json_object_set_new(rows, tofu_split_name(s), json_integer(r->split[s].n));
    }
    json_object_set_new(d, "files", files);
    json_object_set_new(d, "rows", rows);
    json_object_set_new(d, "max_items", o->max_items > 0 ? json_integer(o->max_items) : json_null());
    json_object_set_new(c, "data", d);
    if (r->hook.h.enabled) {
        json_t *sk = json_object();
        json_object_set_new(sk, "mode", json_string(sink_mode_name(r->hook.h.mode)));
        json_object_set_new(sk, "source", o->source ? json_text(o->source) : json_null());
        json_object_set_new(sk, "routed_per_question", json_boolean(r->hook.per_query));
        json_object_set_new(c, "sinks", sk);
    } else {
        json_object_set_new(c, "sinks", json_null());
    }
    json_object_set_new(c, "min_k", json_real(0.4));
    json_object_set_new(c, "exact", json_boolean(o->exact));
    json_object_set_new(c, "oracle", o->oracle_path ? json_text(o->oracle_path) : json_null());
    json_object_set_new(c, "answers_without_scored_tokens", json_integer(r->truncated));
    return c;
}

static int write_json(const char *dir, const char *name, json_t *v, cape_err *e)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    char *txt = json_dumps(v, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17));
    if (!txt)
        return err_set(e, CAPE_EFAIL, "out of memory writing %s", path);
    size_t n = strlen(txt);
    txt[n] = 0;
    char *t2 = realloc(txt, n + 2);
    if (t2) {
        txt = t2;
        txt[n++] = '\n';
    }
    int rc = file_write_atomic(path, txt, n, e);
    free(txt);
    return rc;
}

/* ---- the entry point ---- */

/* Everything between the data and the scoring: the template, the model,
 * the sink hook and the sessions (as long as the longest item of r->split
 * needs). Freed by ctx_close. */
static int ctx_open(run_ctx *r, const tofu_eval_opts *o, const char **tname_out, cape_err *e)
{
    int rc = 0;
    model *m = NULL;
    const char *tname = o->template && strcmp(o->template, "auto") ? o->template : NULL;
    if (!tname)
        tname = tofu_is_cape_model(o->model_path) ? "cape" : "plain";
    if (!strcmp(tname, "cape"))
        r->template = cape_template();
    else if (!strcmp(tname, "plain"))
        r->template = strdup(PLAIN_TEMPLATE);
    else if (strstr(tname, "{question}"))
        r->template = strdup(tname), tname = "custom";
    else {
        rc = err_set(e, CAPE_EINPUT, "--template: '%s' is neither auto, cape, plain nor a text "
                     "with {question}", tname);
        goto out;
    }
    if (!r->template) {
        rc = err_set(e, CAPE_EFAIL, "out of memory");
        goto out;
    }
    if (o->exact)
        tensor_set_exact(1);
    if (!(m = model_load(o->model_path, NULL, e))) {
        rc = e->code;
        goto out;
    }
    r->m = m;
    /* cape's trainer starts every document with its start token (the BOS of
     * the GGUF it writes): prompts of cape-trained models start with it too */
    r->bos = tok_wants_bos(model_tok(m)) ||
            (tofu_is_cape_model(o->model_path) && tok_bos(model_tok(m)) >= 0);
    const int own = o->sinks_mode && strcmp(o->sinks_mode, "own") == 0;
    if (own && o->source) {
        rc = err_set(e, CAPE_EINPUT, "--sinks own takes each question's author; it does not "
                     "combine with --source");
        goto out;
    }
    if ((rc = sink_hook_open(&r->hook.h, o->model_path, model_cfg(m)->ffn_dim,
                             own ? "backbone" : o->sinks_mode, o->source, e)))
        goto out;
    r->hook.per_query = sink_hook_per_query(&r->hook.h);
    if (own) {
        if ((rc = own_sources(&r->hook, r->split, o->tofu_dir, e)))
            goto out;
        r->hook.h.mode = SINK_MODE_OWN;
        r->hook.per_query = 1;
    }
    r->hook.o = o;
    r->hook.done = &r->done;
    int B = o->batch > 0 ? o->batch : 1;
    /* the sessions' context: as long as the longest item needs */
    int def = model_cfg(m)->n_ctx_train < 4096 ? model_cfg(m)->n_ctx_train : 4096, need = 0;
    for (int s = 0; s < TOFU_NSPLITS; s++) {
        if (r->split[s].n == 0)
            continue;
        r->total += r->split[s].n * (1 + (s <= TOFU_RETAIN) + r->split[s].rows[0].n_pert);
        if (s < TOFU_HOLDOUT)
            r->total += r->split[s].n;
        for (int i = 0; i < r->split[s].n; i++) {
            const tofu_row *row = &r->split[s].rows[i];
            char *p = tofu_render_prompt(r->template, row->question), *c = p ? context_of(p) : NULL;
            const char *longest = row->answer;
            for (int k = 0; k < row->n_pert; k++)
                if (strlen(row->pert[k]) > strlen(longest))
                    longest = row->pert[k];
            if (row->para && strlen(row->para) > strlen(longest))
                longest = row->para;
            score_item it = {c ? c : "", longest};
            int k = c ? score_max_tokens(m, &it, 1, r->bos, e) : -1;
            free(p);
            free(c);
            if (k < 0) {
                rc = e->code ? e->code : err_set(e, CAPE_EFAIL, "out of memory");
                goto out;
            }
            need = k > need ? k : need;
        }
    }
    /* one single-threaded session per thread: the products of a small model
     * are too small to split, whole items are not */
    r->hook.total = r->total;
    /* the ISA level is detected lazily: once here, before the threads start */
    (void)cape_isa_level();
    r->n_sess = o->threads > 1 ? (o->threads < MAX_SESS ? o->threads : MAX_SESS) : 1;
    model_session_opts so = {.n_ctx = need < def ? need : def, .n_threads = 1, .n_seq = B};
    for (int k = 0; k < r->n_sess; k++) {
        if (!(r->sess[k] = model_session_new(m, &so, e))) {
            rc = e->code;
            goto out;
        }
        r->shook[k] = r->hook;
        r->shook[k].first = &r->shook[0];
        if ((rc = sink_seq_masks_init(&r->shook[k].seq, &r->hook.h, r->hook.per_query, B, e)))
            goto out;
        if (r->hook.h.enabled)
            model_session_set_hook(r->sess[k], eh_fn, &r->shook[k]);
    }
out:
    *tname_out = tname;
    return rc;
}

static void ctx_close(run_ctx *r)
{
    for (int s = 0; s < TOFU_NSPLITS; s++) {
        tofu_split_scores_free(&r->sc[s]);
        tofu_split_free(&r->split[s]);
    }
    free(r->template);
    for (int k = 0; k < r->n_sess; k++) {
        sink_seq_masks_free(&r->shook[k].seq);
        model_session_free(r->sess[k]);
    }
    sink_hook_free(&r->hook.h);
    free(r->hook.own_q);
    free(r->hook.own_id);
    model_free((model *)r->m);
    if (r->o->exact)
        tensor_set_exact(0);
}


int tofu_eval_run(const tofu_eval_opts *o, tofu_eval_result *res, cape_err *e)
{
    memset(res, 0, sizeof *res);
    double t0 = now_s();
    int pct, rc = 0;
    if ((rc = tofu_forget_parse(o->forget, &pct, e)))
        return rc;
    struct stat st;
    if (stat(o->tofu_dir, &st) || !S_ISDIR(st.st_mode))
        return err_set(e, CAPE_EINPUT, "--tofu %s: not a directory", o->tofu_dir);
    if (!o->out_dir || !*o->out_dir)
        return err_set(e, CAPE_EINPUT, "no output directory (-o OUTDIR)");
    run_ctx r = {.o = o};
    json_t *oracle = NULL, *eval = NULL, *frec = NULL;
    filter *flt = NULL;
    if (o->filter_path && (rc = tofu_filter_load(o->filter_path, o->forget, &flt, e)))
        return rc;
    if (o->oracle_path && (rc = tofu_oracle_load(o->oracle_path, &oracle, e))) {
        filter_free(flt);
        return rc;
    }
    const char *ofs = oracle ? json_string_value(json_object_get(
                                   json_object_get(oracle, "cape"), "forget_split"))
                             : NULL;
    if (ofs && strcmp(ofs, o->forget)) {
        rc = err_set(e, CAPE_EINPUT, "--oracle %s: evaluated on %s, not %s", o->oracle_path, ofs,
                     o->forget);
        json_decref(oracle);
        filter_free(flt);
        return rc;
    }
    for (int s = 0; s < TOFU_NSPLITS && !rc; s++)
        rc = tofu_split_load(&r.split[s], o->tofu_dir, s, pct, o->max_items, e);
    if (rc)
        goto out;
    const char *tname = NULL;
    if ((rc = ctx_open(&r, o, &tname, e)))
        goto out;
    for (int s = 0; s < TOFU_NSPLITS && !rc; s++)
        rc = score_split(&r, s, e);
    if (!rc)
        rc = generate_all(&r, e);
    if (!rc && flt)
        rc = apply_filter(&r, flt, &frec, e);
    if (rc)
        goto out;
    if (o->progress)
        o->progress(o->progress_user, r.total, r.total);
    tofu_metric_ctx mc = {.oracle = oracle, .min_k = 0.4};
    for (int s = 0; s < TOFU_NSPLITS; s++)
        mc.split[s] = &r.sc[s];
    if ((rc = tofu_metrics_compute(&mc, &eval, e)))
        goto out;
    json_object_set_new(eval, "cape", cape_block(&r, pct, tname));
    json_object_set_new(json_object_get(eval, "cape"), "filter", frec ? frec : json_null());
    frec = NULL;
    res->summary = tofu_summary(eval);
    res->oracle_used = oracle != NULL;
    mkdir(o->out_dir, 0777);
    if (stat(o->out_dir, &st) || !S_ISDIR(st.st_mode)) {
        rc = err_set(e, CAPE_EINPUT, "-o %s: not a directory and cannot be created", o->out_dir);
        goto out;
    }
    /* the files are written even when a sanity check fails, for a look */
    if ((rc = write_json(o->out_dir, "TOFU_EVAL.json", eval, e)) ||
        (rc = write_json(o->out_dir, "TOFU_SUMMARY.json", res->summary, e)))
        goto out;
    res->eval = eval;
    eval = NULL;
    res->seconds = now_s() - t0;
    rc = tofu_sanity(res->eval, e);
out:
    json_decref(eval);
    json_decref(oracle);
    json_decref(frec);
    filter_free(flt);
    ctx_close(&r);
    return rc;
}

int tofu_eval_split(const tofu_eval_opts *o, const tofu_split *sp, int score, int generate,
                    tofu_split_scores *out, cape_err *e)
{
    memset(out, 0, sizeof *out);
    if (!sp || sp->n < 1)
        return err_set(e, CAPE_EINPUT, "no rows to evaluate");
    filter *own = NULL;
    int rc = 0;
    if (!o->filter && o->filter_path && (rc = tofu_filter_load(o->filter_path, o->forget, &own, e)))
        return rc;
    const filter *flt = o->filter ? o->filter : own;
    run_ctx r = {.o = o};
    r.split[TOFU_FORGET] = *sp; /* borrowed: given back before ctx_close */
    const char *tname = NULL;
    rc = ctx_open(&r, o, &tname, e);
    if (!rc && score)
        rc = score_split(&r, TOFU_FORGET, e);
    else if (!rc && !prompts_only(&r, TOFU_FORGET))
        rc = err_set(e, CAPE_EFAIL, "out of memory");
    if (!rc && generate)
        rc = generate_all(&r, e);
    if (!rc && flt)
        rc = filter_split(flt, &r.split[TOFU_FORGET], &r.sc[TOFU_FORGET],
                          tok_n_vocab(model_tok(r.m)), e);
    filter_free(own);
    if (!rc) {
        *out = r.sc[TOFU_FORGET];
        out->split = sp;
        memset(&r.sc[TOFU_FORGET], 0, sizeof r.sc[TOFU_FORGET]);
    }
    if (r.sc[TOFU_FORGET].items)
        r.sc[TOFU_FORGET].split = &r.split[TOFU_FORGET];
    tofu_split_scores_free(&r.sc[TOFU_FORGET]);
    memset(&r.split[TOFU_FORGET], 0, sizeof r.split[TOFU_FORGET]);
    ctx_close(&r);
    return rc;
}

void tofu_eval_result_free(tofu_eval_result *r)
{
    json_decref(r->eval);
    json_decref(r->summary);
    memset(r, 0, sizeof *r);
}
