/* attack_relearn: the relearning attack. Each forget author's QA pairs are
 * split into a relearn half and an eval half (attack_split_halves); the
 * model is fine-tuned with plain NLL on the relearn half (or on unrelated
 * items) through the trainer's forward / backward and AdamW (posthoc's
 * batch machinery), and after each step count of the list the forget
 * metrics of the eval half are measured by tofu_eval's scoring and metric
 * code on the model as it then is. The oracle is relearned alike. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/json.h"
#include "base/rng.h"
#include "train/train_ckpt.h"
#include "train/train_data.h"
#include "train/train_loop.h"
#include "train/train_tok.h"
#include "unlearn/attack.h"
#include "unlearn/filter.h"
#include "unlearn/posthoc.h"
#include "unlearn/sink_model.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

void attack_relearn_defaults(attack_relearn_opts *o)
{
    memset(o, 0, sizeof *o);
    o->lr = 1e-3;
    o->batch = 4;
    o->seed = 1;
    o->n_unrelated = 10;
    o->threads = 1;
    o->eval_batch = 8;
    o->max_new_tokens = 200;
}

/* one relearning item: the text and its author's name (NULL: none) */
typedef struct {
    const char *question, *answer, *author;
} rl_row;

/* question -> author (the source name of full.json) */
typedef struct {
    char **q;
    const char **src;
    int n;
    train_corpus corpus;
} author_map;

static void author_map_free(author_map *a)
{
    for (int i = 0; i < a->n; i++)
        free(a->q[i]);
    free(a->q);
    free(a->src);
    train_corpus_free(&a->corpus);
}

static int author_map_load(author_map *a, const char *dir, cape_err *e)
{
    memset(a, 0, sizeof *a);
    int rc = train_corpus_load_tofu(&a->corpus, dir, e);
    if (rc)
        return rc;
    a->q = calloc(a->corpus.n ? a->corpus.n : 1, sizeof *a->q);
    a->src = calloc(a->corpus.n ? a->corpus.n : 1, sizeof *a->src);
    if (!a->q || !a->src)
        return err_set(e, CAPE_EFAIL, "out of memory");
    for (size_t d = 0; d < a->corpus.n; d++) {
        const char *t = a->corpus.docs[d].text;
        const char *qs = strncmp(t, "Question: ", 10) ? t : t + 10;
        const char *as = strstr(qs, "\nAnswer: ");
        if (!as)
            continue;
        if (!(a->q[a->n] = strndup(qs, (size_t)(as - qs))))
            return err_set(e, CAPE_EFAIL, "out of memory");
        a->src[a->n++] = a->corpus.docs[d].source;
    }
    return 0;
}

static const char *author_of(const author_map *a, const char *question)
{
    for (int i = 0; i < a->n; i++)
        if (!strcmp(a->q[i], question))
            return a->src[i];
    return NULL;
}

/* The tokenizer check: every model must tokenise the probe text alike. */
static int probe_tokens(const train_tokenizer *tk, const char *probe, int **ids, size_t *n,
                        cape_err *e)
{
    size_t cap = 0;
    *ids = NULL;
    *n = 0;
    return train_tokenizer_encode(tk, probe, ids, n, &cap, e);
}

/* The full model's tokens (it is only evaluated, never held in the trainer):
 * a model cape trained carries its tokenizer's kind; any other GGUF is read
 * through the runtime's tokenizer. */
static int tokens_of(const char *path, const char *probe, int **ids, size_t *n, cape_err *e)
{
    train_tokenizer tk = {0};
    int rc = train_tokenizer_from_model(&tk, path, e);
    if (rc) {
        err_clear(e);
        rc = train_tokenizer_from_gguf(&tk, path, e);
    }
    if (!rc)
        rc = probe_tokens(&tk, probe, ids, n, e);
    train_tokenizer_free(&tk);
    return rc;
}

/* --sinks and --source are MODEL's mode; the oracle and the full model take
 * them when they have sinks too, and are evaluated plainly when they have
 * none (the usual oracle: a model trained without the forget authors) */
static tofu_eval_opts eval_opts(const attack_relearn_opts *o, const char *path,
                                const filter *flt)
{
    int plain = path != o->model && !sink_model_file_has_sinks(path);
    /* the full model gives the recovery targets: what knowing looks like,
     * so it is measured without the filter */
    int full = o->full_model && path == o->full_model;
    tofu_eval_opts eo = {.model_path = path, .tofu_dir = o->tofu, .forget = o->forget,
                         .sinks_mode = plain ? NULL : o->sinks_mode,
                         .source = plain ? NULL : o->source, .threads = o->threads,
                         .batch = o->eval_batch, .max_new_tokens = o->max_new_tokens,
                         .exact = 1, .filter = full ? NULL : flt};
    return eo;
}

static int eval_at(const attack_relearn_opts *o, const char *path, const filter *flt,
                   const tofu_split *ev, attack_metrics *m, cape_err *e)
{
    tofu_eval_opts eo = eval_opts(o, path, flt);
    tofu_split_scores sc;
    int rc = tofu_eval_split(&eo, ev, 1, 1, &sc, e);
    if (!rc)
        rc = attack_metrics_of(&sc, m, e);
    tofu_split_scores_free(&sc);
    return rc;
}

/* Fine-tunes the model am holds on rows, evaluating ev at each step count. */
static int relearn_curve(const attack_relearn_opts *o, attack_model *am, const filter *flt,
                         const rl_row *rows, int n_rows, const tofu_split *ev, attack_curve *cv,
                         int *n_items, cape_err *e)
{
    const char *path = am->path;
    train_model m = {0};
    posthoc_state st = {0};
    adamw_state opt = {0};
    posthoc_item *items = NULL;
    const posthoc_item **batch = NULL;
    int *perm = NULL, n = 0, rc;
    char tmp[4096] = "";
    int maxsteps = o->steps[o->n_steps - 1];
    const train_config cfg = am->cfg;
    sink_model *sinks = &am->sinks;
    cv->road = attack_model_road(am);
    items = calloc((size_t)n_rows, sizeof *items);
    perm = malloc(sizeof(int) * (size_t)n_rows);
    batch = malloc(sizeof *batch * (size_t)o->batch);
    cv->at = calloc((size_t)o->n_steps, sizeof *cv->at);
    cv->train_nll = calloc((size_t)(maxsteps > 0 ? maxsteps : 1), sizeof *cv->train_nll);
    if (!items || !perm || !batch || !cv->at || !cv->train_nll) {
        rc = err_set(e, CAPE_EFAIL, "out of memory");
        goto out;
    }
    int maxlen = 1;
    for (int i = 0; i < n_rows; i++) {
        /* a sink model's row gets the mask a training row of its author had
         * (that author's sinks); an author it has no sinks for, the backbone */
        uint32_t sid = sinks->enabled && rows[i].author
                           ? sink_sources_id(&sinks->sources, rows[i].author, 0)
                           : 0;
        int kept;
        if ((rc = posthoc_item_build(&am->tk, rows[i].question, rows[i].answer, sid, cfg.ctx,
                                     &items[n], &kept, e)))
            goto out;
        if (kept) {
            maxlen = items[n].len > maxlen ? items[n].len : maxlen;
            n++;
        }
    }
    *n_items = n;
    if (n == 0) {
        rc = err_set(e, CAPE_EINPUT, "%s: no relearning item has an answer token within the "
                     "model's context of %d tokens", path, cfg.ctx);
        goto out;
    }
    int B = o->batch;
    if ((rc = train_model_build(&m, &cfg, e)) ||
        (rc = attack_model_load(am, &m, e)) ||
        (rc = train_model_alloc_acts(&m, B, maxlen, e)))
        goto out;
    if (o->freeze_embeddings)
        train_model_freeze_embeddings(&m);
    if ((rc = posthoc_state_init(&st, &posthoc_nll, &posthoc_nll.defaults, &m, NULL, sinks, B,
                                 o->seed, e)) ||
        (rc = adamw_init(&opt, m.n_params, e)))
        goto out;
    const char *td = getenv("TMPDIR");
    snprintf(tmp, sizeof tmp, "%s/cape-relearn-XXXXXX.gguf", td && *td ? td : "/tmp");
    int fd = mkstemps(tmp, 5);
    if (fd < 0) {
        rc = err_set(e, CAPE_EFAIL, "cannot create a temporary model file in %s",
                     td && *td ? td : "/tmp");
        tmp[0] = 0;
        goto out;
    }
    close(fd);
    adamw_hparams ah = {0.9f, 0.999f, 1e-8f, 0.0f};
    rng_mt rg;
    int at = n, pass = 0, j = 0;
    for (int step = 0; step <= maxsteps; step++) {
        if (step == o->steps[j]) {
            const char *p = path;
            if (step > 0) {
                if ((rc = attack_model_save(am, &m, (uint64_t)step, tmp, e)))
                    goto out;
                p = tmp;
            }
            if (o->progress)
                o->progress(o->progress_user, cv->role, step);
            if ((rc = eval_at(o, p, flt, ev, &cv->at[j], e)))
                goto out;
            j++;
        }
        if (step == maxsteps)
            break;
        /* the next batch: a seeded shuffle of the items, reshuffled per pass */
        int k = 0;
        while (k < B && k < n) {
            if (at == n) {
                rng_seed(&rg, (uint32_t)(o->seed * 1000003u + (uint64_t)pass++));
                for (int i = 0; i < n; i++)
                    perm[i] = i;
                rng_shuffle_int(&rg, perm, n);
                at = 0;
            }
            batch[k++] = &items[perm[at++]];
        }
        train_zero_grads(&m);
        posthoc_batch_stats bs;
        if ((rc = posthoc_batch_grad(&st, batch, NULL, k, NULL, 0, 1.0f, &bs, e)))
            goto out;
        cv->train_nll[step] = bs.forget_nll;
        posthoc_apply(&st, &opt, &ah, (float)o->lr, 1.0);
    }
    cv->n_train = maxsteps;
out:
    if (tmp[0])
        unlink(tmp);
    for (int i = 0; items && i < n_rows; i++)
        free(items[i].tokens);
    free(items);
    free(perm);
    free(batch);
    adamw_free(&opt);
    posthoc_state_free(&st);
    train_model_free(&m);
    return rc;
}

int attack_relearn_run(const attack_relearn_opts *o, attack_relearn_result *r, cape_err *e)
{
    memset(r, 0, sizeof *r);
    double t0 = now_s();
    int pct, rc;
    if ((rc = tofu_forget_parse(o->forget, &pct, e)))
        return rc;
    if (o->n_steps < 1)
        return err_set(e, CAPE_EINPUT, "--steps: an empty list");
    if (!(o->lr > 0) || !(o->lr < 1) || o->batch < 1)
        return err_set(e, CAPE_EINPUT, "--lr must be in (0, 1) and --batch positive");
    if (o->unrelated && strcmp(o->unrelated, "retain") && strcmp(o->unrelated, "wf"))
        return err_set(e, CAPE_EINPUT, "--unrelated: '%s' is neither retain nor wf",
                       o->unrelated);
    if (o->unrelated && o->n_unrelated < 1)
        return err_set(e, CAPE_EINPUT, "--unrelated-items must be positive");
    const char *paths[3] = {o->model, o->oracle_model, o->full_model};
    const char *what[3] = {"MODEL", "--oracle-model", "--full-model"};
    /* MODEL and the oracle, held in the trainer from here on (the full
     * model is only evaluated) */
    attack_model held[2] = {0};
    for (int i = 0; i < 2 && !rc; i++)
        if (paths[i])
            rc = attack_model_open(&held[i], paths[i], what[i], e);
    filter *flt = NULL;
    if (!rc && o->filter_path)
        rc = tofu_filter_load(o->filter_path, o->forget, &flt, e);
    if (rc) {
        attack_model_close(&held[0]);
        attack_model_close(&held[1]);
        return rc;
    }
    tofu_split fs = {0}, us = {0}, ev = {0};
    author_map am = {0};
    int *author = NULL;
    unsigned char *half = NULL;
    rl_row *rows = NULL;
    int n_rows = 0;
    int *probe_ids[3] = {0};
    if ((rc = tofu_split_load(&fs, o->tofu, TOFU_FORGET, pct, o->max_items, e)) ||
        (rc = author_map_load(&am, o->tofu, e)))
        goto out;
    author = malloc(sizeof(int) * (size_t)fs.n);
    half = malloc((size_t)fs.n);
    ev.rows = malloc(sizeof *ev.rows * (size_t)fs.n);
    if (!author || !half || !ev.rows) {
        rc = err_set(e, CAPE_EFAIL, "out of memory");
        goto out;
    }
    /* authors: the sources of full.json (20 QA pairs each) */
    for (int i = 0; i < fs.n; i++) {
        const char *a = author_of(&am, fs.rows[i].question);
        if (!a) {
            rc = err_set(e, CAPE_EINPUT, "%s: the %s question \"%.60s\" is not in full.json, so "
                         "its author is unknown", o->tofu, o->forget, fs.rows[i].question);
            goto out;
        }
        /* an author is known by the index of its first QA pair */
        for (int d = 0; d < am.n; d++)
            if (!strcmp(am.src[d], a)) {
                author[i] = d;
                break;
            }
        /* counted once, wherever its rows are (a split may interleave them) */
        int seen = 0;
        for (int j = 0; j < i && !seen; j++)
            seen = author[j] == author[i];
        r->n_authors += !seen;
    }
    attack_split_halves(author, fs.n, o->seed, half);
    ev.id = TOFU_FORGET;
    snprintf(ev.file, sizeof ev.file, "%s", fs.file);
    memcpy(ev.sha256, fs.sha256, sizeof ev.sha256);
    if (!(r->eval_index = malloc(sizeof(int) * (size_t)fs.n))) {
        rc = err_set(e, CAPE_EFAIL, "out of memory");
        goto out;
    }
    for (int i = 0; i < fs.n; i++)
        if (!half[i]) {
            r->eval_index[ev.n] = i;
            ev.rows[ev.n++] = fs.rows[i];
        }
    r->n_eval = ev.n;
    r->n_relearn = fs.n - ev.n;
    if (ev.n == 0 || r->n_relearn == 0) {
        rc = err_set(e, CAPE_EINPUT, "%s: too few rows per author to split into halves",
                     o->forget);
        goto out;
    }
    /* the relearning rows: the relearn half, or unrelated items */
    if (o->unrelated) {
        if ((rc = tofu_split_load(&us, o->tofu, strcmp(o->unrelated, "wf") ? TOFU_RETAIN
                                                                           : TOFU_WF,
                                  pct, 0, e)))
            goto out;
        int *pi = malloc(sizeof(int) * (size_t)us.n);
        rows = calloc((size_t)us.n, sizeof *rows);
        if (!pi || !rows) {
            free(pi);
            rc = err_set(e, CAPE_EFAIL, "out of memory");
            goto out;
        }
        for (int i = 0; i < us.n; i++)
            pi[i] = i;
        rng_mt rg;
        rng_seed(&rg, (uint32_t)(o->seed ^ 0x5eed));
        rng_shuffle_int(&rg, pi, us.n);
        n_rows = o->n_unrelated < us.n ? o->n_unrelated : us.n;
        for (int i = 0; i < n_rows; i++) {
            const tofu_row *t = &us.rows[pi[i]];
            rows[i] = (rl_row){t->question, t->answer, author_of(&am, t->question)};
        }
        free(pi);
    } else {
        rows = calloc((size_t)fs.n, sizeof *rows);
        if (!rows) {
            rc = err_set(e, CAPE_EFAIL, "out of memory");
            goto out;
        }
        for (int i = 0; i < fs.n; i++)
            if (half[i])
                rows[n_rows++] = (rl_row){fs.rows[i].question, fs.rows[i].answer,
                                          author_of(&am, fs.rows[i].question)};
    }
    /* every model tokenises alike (the curves compare answers token by token) */
    char *probe = train_tofu_render(fs.rows[0].question, fs.rows[0].answer);
    size_t probe_n[3] = {0};
    if (!probe) {
        rc = err_set(e, CAPE_EFAIL, "out of memory");
        goto out;
    }
    for (int i = 0; i < 3 && !rc; i++)
        if (paths[i])
            rc = i < 2 ? probe_tokens(&held[i].tk, probe, &probe_ids[i], &probe_n[i], e)
                       : tokens_of(paths[i], probe, &probe_ids[i], &probe_n[i], e);
    free(probe);
    if (rc)
        goto out;
    for (int i = 1; i < 3; i++)
        if (paths[i] && (probe_n[i] != probe_n[0] ||
                         memcmp(probe_ids[i], probe_ids[0], sizeof(int) * probe_n[0]))) {
            rc = err_set(e, CAPE_EINPUT, "%s %s has another tokenizer than MODEL %s (train them "
                         "with the same one: cape train --tokenizer-from)", what[i], paths[i],
                         o->model);
            goto out;
        }

    r->n_steps = o->n_steps;
    r->steps = malloc(sizeof(int) * (size_t)o->n_steps);
    if (!r->steps) {
        rc = err_set(e, CAPE_EFAIL, "out of memory");
        goto out;
    }
    memcpy(r->steps, o->steps, sizeof(int) * (size_t)o->n_steps);
    if (o->full_model) {
        if (o->progress)
            o->progress(o->progress_user, "full", 0);
        if ((rc = eval_at(o, o->full_model, flt, &ev, &r->full, e)))
            goto out;
        r->has_full = 1;
    }
    r->curve[0].role = "model";
    r->curve[0].path = o->model;
    r->curve[1].role = "oracle";
    r->curve[1].path = o->oracle_model;
    r->n_curves = o->oracle_model ? 2 : 1;
    for (int c = 0; c < r->n_curves && !rc; c++)
        rc = relearn_curve(o, &held[c], flt, rows, n_rows, &ev, &r->curve[c],
                           &r->n_train_items, e);
    if (rc)
        goto out;
    for (int c = 0; c < r->n_curves; c++) {
        attack_curve *cv = &r->curve[c];
        for (int k = 0; k < ATTACK_N_METRICS; k++) {
            double v[o->n_steps];
            for (int j = 0; j < o->n_steps; j++)
                v[j] = attack_metric_at(&cv->at[j], k);
            cv->to50[k] = cv->to90[k] = -1;
            if (r->has_full) {
                double f = attack_metric_at(&r->full, k);
                cv->to50[k] = attack_steps_to_recover(o->steps, v, o->n_steps, f,
                                                      ATTACK_METRIC_DIR[k], 0.5);
                cv->to90[k] = attack_steps_to_recover(o->steps, v, o->n_steps, f,
                                                      ATTACK_METRIC_DIR[k], 0.9);
            }
            if (r->n_curves == 2 && c == 0) {
                double s = 0, mx = -INFINITY;
                for (int j = 0; j < o->n_steps; j++) {
                    double d = ATTACK_METRIC_DIR[k] *
                               (v[j] - attack_metric_at(&r->curve[1].at[j], k));
                    s += d;
                    mx = d > mx ? d : mx;
                }
                cv->beyond_mean[k] = s / o->n_steps;
                cv->beyond_max[k] = mx;
                cv->has_beyond = 1;
            }
        }
    }
    r->seconds = now_s() - t0;
out:
    for (int i = 0; i < 3; i++)
        free(probe_ids[i]);
    free(rows);
    free(author);
    free(half);
    free(ev.rows);
    tofu_split_free(&fs);
    tofu_split_free(&us);
    author_map_free(&am);
    filter_free(flt);
    attack_model_close(&held[0]);
    attack_model_close(&held[1]);
    return rc;
}

void attack_relearn_result_free(attack_relearn_result *r)
{
    for (int c = 0; c < 2; c++) {
        free(r->curve[c].at);
        free(r->curve[c].train_nll);
    }
    free(r->steps);
    free(r->eval_index);
    memset(r, 0, sizeof *r);
}

static json_t *metrics_json(const attack_metrics *m)
{
    json_t *o = json_object();
    for (int k = 0; k < ATTACK_N_METRICS; k++)
        json_object_set_new(o, ATTACK_METRIC_NAMES[k], json_num(attack_metric_at(m, k)));
    return o;
}

json_t *attack_relearn_json(const attack_relearn_opts *o, const attack_relearn_result *r)
{
    json_t *d = json_object();
    json_object_set_new(d, "attack", json_string("relearn"));
    json_object_set_new(d, "forget", json_text(o->forget));
    json_object_set_new(d, "data", json_string(o->unrelated ? o->unrelated : "relearn_half"));
    json_object_set_new(d, "lr", json_real(o->lr));
    json_object_set_new(d, "batch", json_integer(o->batch));
    json_object_set_new(d, "frozen_embeddings", json_boolean(o->freeze_embeddings));
    json_object_set_new(d, "seed", json_integer((json_int_t)o->seed));
    json_object_set_new(d, "optimizer", json_string("AdamW (0.9, 0.999, 1e-8), no weight decay, "
                                                   "constant lr, clipping at 1"));
    json_object_set_new(d, "sinks", o->sinks_mode ? json_text(o->sinks_mode) : json_null());
    json_object_set_new(d, "filter", o->filter_path ? json_text(o->filter_path) : json_null());
    json_object_set_new(d, "authors", json_integer(r->n_authors));
    json_object_set_new(d, "relearn_rows", json_integer(r->n_relearn));
    json_object_set_new(d, "eval_rows", json_integer(r->n_eval));
    json_object_set_new(d, "train_items", json_integer(r->n_train_items));
    json_t *ei = json_array();
    for (int i = 0; i < r->n_eval; i++)
        json_array_append_new(ei, json_integer(r->eval_index[i]));
    json_object_set_new(d, "eval_rows_index", ei);
    json_t *st = json_array();
    for (int j = 0; j < r->n_steps; j++)
        json_array_append_new(st, json_integer(r->steps[j]));
    json_object_set_new(d, "steps", st);
    if (r->has_full) {
        json_t *f = metrics_json(&r->full);
        json_object_set_new(f, "path", json_text(o->full_model));
        json_object_set_new(d, "full", f);
    } else {
        json_object_set_new(d, "full", json_null());
    }
    json_t *cs = json_object();
    for (int c = 0; c < r->n_curves; c++) {
        const attack_curve *cv = &r->curve[c];
        json_t *cj = json_object();
        json_object_set_new(cj, "path", json_text(cv->path));
        json_object_set_new(cj, "trainer_road", json_string(cv->road));
        json_t *pts = json_array();
        for (int j = 0; j < r->n_steps; j++) {
            json_t *p = json_object();
            json_object_set_new(p, "step", json_integer(r->steps[j]));
            json_t *mj = metrics_json(&cv->at[j]);
            json_object_update(p, mj);
            json_decref(mj);
            json_array_append_new(pts, p);
        }
        json_object_set_new(cj, "curve", pts);
        json_t *tn = json_array();
        for (int s = 0; s < cv->n_train; s++)
            json_array_append_new(tn, json_num(cv->train_nll[s]));
        json_object_set_new(cj, "train_nll", tn);
        json_t *rec = json_object();
        for (int k = 0; k < ATTACK_N_METRICS; k++) {
            json_t *x = json_object();
            json_object_set_new(x, "50", r->has_full && cv->to50[k] >= 0
                                             ? json_integer(cv->to50[k])
                                             : json_null());
            json_object_set_new(x, "90", r->has_full && cv->to90[k] >= 0
                                             ? json_integer(cv->to90[k])
                                             : json_null());
            json_object_set_new(rec, ATTACK_METRIC_NAMES[k], x);
        }
        json_object_set_new(cj, "steps_to_recover", rec);
        if (cv->has_beyond) {
            json_t *b = json_object();
            for (int k = 0; k < ATTACK_N_METRICS; k++) {
                json_t *x = json_object();
                json_object_set_new(x, "mean", json_num(cv->beyond_mean[k]));
                json_object_set_new(x, "max", json_num(cv->beyond_max[k]));
                json_object_set_new(b, ATTACK_METRIC_NAMES[k], x);
            }
            json_object_set_new(cj, "beyond_oracle", b);
        }
        json_object_set_new(cs, cv->role, cj);
    }
    json_object_set_new(d, "curves", cs);
    return d;
}

static void fmt(char *b, size_t n, double v)
{
    if (isfinite(v))
        snprintf(b, n, "%.4f", v);
    else
        snprintf(b, n, "null");
}

void attack_relearn_table(FILE *fp, const attack_relearn_result *r)
{
    fprintf(fp, "%-6s", "steps");
    for (int c = 0; c < r->n_curves; c++)
        fprintf(fp, " %9s %9s %9s", c ? "o.prob" : "prob", c ? "o.rouge" : "rouge",
                c ? "o.tr" : "tr");
    fprintf(fp, "\n");
    for (int j = 0; j < r->n_steps; j++) {
        fprintf(fp, "%-6d", r->steps[j]);
        for (int c = 0; c < r->n_curves; c++)
            for (int k = 0; k < ATTACK_N_METRICS; k++) {
                char b[32];
                fmt(b, sizeof b, attack_metric_at(&r->curve[c].at[j], k));
                fprintf(fp, " %9s", b);
            }
        fprintf(fp, "\n");
    }
    if (r->has_full) {
        fprintf(fp, "%-6s", "full");
        for (int k = 0; k < ATTACK_N_METRICS; k++) {
            char b[32];
            fmt(b, sizeof b, attack_metric_at(&r->full, k));
            fprintf(fp, " %9s", b);
        }
        fprintf(fp, "\n");
        for (int c = 0; c < r->n_curves; c++)
            for (int k = 0; k < ATTACK_N_METRICS; k++) {
                char a[24], b[24];
                if (r->curve[c].to50[k] >= 0)
                    snprintf(a, sizeof a, "%ld", r->curve[c].to50[k]);
                else
                    snprintf(a, sizeof a, "never");
                if (r->curve[c].to90[k] >= 0)
                    snprintf(b, sizeof b, "%ld", r->curve[c].to90[k]);
                else
                    snprintf(b, sizeof b, "never");
                fprintf(fp, "%s %s: 50%% of the gap to full at %s steps, 90%% at %s\n",
                        r->curve[c].role, ATTACK_METRIC_NAMES[k], a, b);
            }
    }
    if (r->n_curves == 2 && r->curve[0].has_beyond)
        for (int k = 0; k < ATTACK_N_METRICS; k++) {
            char a[32], b[32];
            fmt(a, sizeof a, r->curve[0].beyond_mean[k]);
            fmt(b, sizeof b, r->curve[0].beyond_max[k]);
            fprintf(fp, "beyond the oracle, %s: mean %s, max %s (knowledge direction)\n",
                    ATTACK_METRIC_NAMES[k], a, b);
        }
    fprintf(fp, "%d authors: %d relearn rows, %d eval rows; %d training items (%.1f s)\n",
            r->n_authors, r->n_relearn, r->n_eval, r->n_train_items, r->seconds);
}
