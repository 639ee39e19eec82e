/* attack_gcg: the Adversarial Compression Ratio of forget answers, with
 * prompts found by greedy coordinate gradient (GCG) on a model the trainer
 * holds (attack_model: cape's own or any GGUF cape train --init takes).
 * For a target y (an answer's first tokens) and a prompt length L,
 * a prompt x of L tokens is optimised to minimise the NLL of y after
 * [start, x]: each iteration takes the gradient of that loss with respect
 * to the one-hot token at every prompt position (the trainer's backward:
 * the input gradient times the embedding table), keeps the top-k tokens per
 * position, evaluates a batch of candidates that each swap one position to
 * one of them (seeded) and moves to the best. A prompt elicits y when
 * greedy decoding from it gives y exactly, i.e. every teacher-forced
 * argmax is the target token. The ACR is |y| / (the shortest L that
 * elicited y), L tried in ascending order below |y|. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "base/rng.h"
#include "train/train_ckpt.h"
#include "train/train_gemm.h"
#include "train/train_layers.h"
#include "train/train_loop.h"
#include "train/train_tok.h"
#include "unlearn/attack.h"
#include "unlearn/filter.h"
#include "unlearn/posthoc.h"
#include "unlearn/sink_model.h"

void attack_gcg_defaults(attack_gcg_opts *o)
{
    memset(o, 0, sizeof *o);
    o->max_items = 10;
    o->max_tokens = 32;
    o->iters = 40;
    o->topk = 32;
    o->cands = 32;
    o->seed = 1;
}

int attack_gcg_lengths(int T, int *out, int max)
{
    static const int L[] = {1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256};
    int n = 0;
    for (int i = 0; i < (int)(sizeof L / sizeof *L) && n < max; i++)
        if (L[i] < T)
            out[n++] = L[i];
    return n;
}

typedef struct {
    train_model m;
    const int *y;
    int Ty, start, V, C, hidden;
    float *mask;      /* one row's mask, or NULL */
    float *masks;     /* [cands][hidden] */
    int *tok, *tgt;   /* [cands][Tmax] */
    float *loss;      /* [cands] */
    int *argmax;      /* [Tmax] */
    float *topv;      /* [topk] */
} gcg_ctx;

/* Fills row b with [start, x, y] and the targets of y. */
static void put(gcg_ctx *g, int b, const int *x, int L)
{
    int T = 1 + L + g->Ty;
    int *t = g->tok + (size_t)b * T, *u = g->tgt + (size_t)b * T;
    t[0] = g->start;
    memcpy(t + 1, x, sizeof(int) * L);
    memcpy(t + 1 + L, g->y, sizeof(int) * g->Ty);
    for (int p = 0; p < T; p++)
        u[p] = p >= L && p < L + g->Ty ? t[p + 1] : -1;
    if (g->mask)
        memcpy(g->masks + (size_t)b * g->hidden, g->mask, sizeof(float) * g->hidden);
}

/* Every target position's argmax is its target (row 0 of the last forward). */
static int elicits(gcg_ctx *g, int L)
{
    int T = 1 + L + g->Ty;
    train_target_argmax(&g->m, g->tgt, 1, T, g->argmax);
    for (int p = L; p < L + g->Ty; p++)
        if (g->argmax[p] != g->tgt[p])
            return 0;
    return 1;
}

/* The K smallest of grad[0..V) in ascending order, ties to the lower id,
 * skipping `skip` and NaN; positions past the finite ones get `fill`. One
 * pass with a sorted list of K: most values fail the comparison with the
 * list's last. */
static void smallest_k(const float *grad, int V, int skip, int K, int fill, int *tk, float *tv)
{
    int n = 0;
    for (int v = 0; v < V; v++) {
        float x = grad[v];
        if (v == skip || x != x || (n == K && !(x < tv[K - 1])))
            continue;
        int i = n < K ? n++ : K - 1;
        while (i > 0 && tv[i - 1] > x) { /* equal values stay before: lower ids */
            tv[i] = tv[i - 1];
            tk[i] = tk[i - 1];
            i--;
        }
        tv[i] = x;
        tk[i] = v;
    }
    for (int i = n; i < K; i++)
        tk[i] = fill;
}

/* GCG for one length; 1 when a prompt was found (left in x). */
static int gcg_length(gcg_ctx *g, const attack_gcg_opts *o, int L, int *x, rng_mt *rg,
                      int *topk, float *grad)
{
    int T = 1 + L + g->Ty, K = o->topk < g->V ? o->topk : g->V;
    for (int i = 0; i < L; i++) {
        int v;
        do
            v = (int)rng_interval(rg, (uint64_t)g->V - 1);
        while (v == g->start);
        x[i] = v;
    }
    int *cand = malloc(sizeof(int) * (size_t)o->cands * L);
    if (!cand)
        return -1;
    int found = 0;
    for (int it = 0; it <= o->iters && !found; it++) {
        put(g, 0, x, L);
        train_forward(&g->m, g->tok, g->tgt, g->mask ? g->masks : NULL, NULL, 1, T, NULL);
        if (elicits(g, L)) {
            found = 1;
            break;
        }
        if (it == o->iters)
            break;
        train_backward(&g->m, g->tok, g->tgt, g->mask ? g->masks : NULL, NULL, 1, T, 1.0f);
        const float *dx = train_input_grad(&g->m);
        /* one-hot gradient of each prompt position: dx_p . E[v], (L,V) =
         * dx[1..L] (L,C) @ E^T in one product */
        tg_gemm(0, 1, L, g->V, g->C, dx + g->C, g->C, g->m.p.tok_emb, g->C, 0.0f, grad, g->V);
        for (int i = 0; i < L; i++)
            smallest_k(grad + (size_t)i * g->V, g->V, g->start, K, x[i], topk + (size_t)i * K,
                       g->topv);
        for (int b = 0; b < o->cands; b++) {
            int *c = cand + (size_t)b * L;
            memcpy(c, x, sizeof(int) * L);
            int i = (int)rng_interval(rg, (uint64_t)L - 1);
            c[i] = topk[(size_t)i * K + rng_interval(rg, (uint64_t)K - 1)];
            put(g, b, c, L);
        }
        train_row_losses(&g->m, g->tok, g->tgt, g->mask ? g->masks : NULL, NULL, o->cands, T,
                         g->loss);
        int best = 0;
        for (int b = 1; b < o->cands; b++)
            if (g->loss[b] < g->loss[best])
                best = b;
        memcpy(x, cand + (size_t)best * L, sizeof(int) * L);
    }
    free(cand);
    return found;
}

/* Every forget row as the trainer renders it, within the context ctx
 * (items[i].tokens NULL: no answer token fits, the row is not attacked), and
 * the longest row the attack builds: the question with its answer (the
 * question's own try), or start, a prompt shorter than the target and the
 * target of at most max_tokens. */
static int gcg_items(const train_tokenizer *tk, const tofu_split *fs, int ctx, int max_tokens,
                     posthoc_item *items, int *longest, cape_err *e)
{
    int T = 2 * max_tokens;
    for (int i = 0; i < fs->n; i++) {
        int kept, rc = posthoc_item_build(tk, fs->rows[i].question, fs->rows[i].answer, 0, ctx,
                                          &items[i], &kept, e);
        if (rc)
            return rc;
        if (kept && items[i].len > T)
            T = items[i].len;
    }
    *longest = T < ctx ? T : ctx;
    return 0;
}

/* 1 when the filter blocks the text of ids, 0 when not, -1 out of memory. */
static int filter_blocks_ids(const filter *f, const train_tokenizer *tk, const int *ids, int n)
{
    char *t = train_tokenizer_decode(tk, ids, n);
    if (!t)
        return -1;
    filter_verdict v;
    int b = filter_check(f, t, &v);
    free(t);
    return b;
}

int attack_gcg_run(const attack_gcg_opts *o, attack_gcg_result *r, cape_err *e)
{
    memset(r, 0, sizeof *r);
    int pct, rc;
    if ((rc = tofu_forget_parse(o->forget, &pct, e)))
        return rc;
    if (o->max_items < 1 || o->max_tokens < 2 || o->iters < 0 || o->topk < 1 || o->cands < 1)
        return err_set(e, CAPE_EINPUT, "--max-items, --topk, --cands must be positive, "
                       "--max-tokens at least 2");
    attack_model am = {0};
    tofu_split fs = {0};
    posthoc_item *items = NULL;
    gcg_ctx g = {0};
    int *x = NULL, *topk = NULL;
    float *grad = NULL;
    uint32_t *own_ids = NULL;
    filter *flt = NULL;
    if (o->filter_path && (rc = tofu_filter_load(o->filter_path, o->forget, &flt, e)))
        return rc;
    r->filtered = flt != NULL;
    if ((rc = attack_model_open(&am, o->model, "MODEL", e)) ||
        (rc = tofu_split_load(&fs, o->tofu, TOFU_FORGET, pct, o->max_items, e)))
        goto out;
    train_config cfg = am.cfg;
    sink_model *sinks = &am.sinks;
    r->road = attack_model_road(&am);
    r->sink_model = sinks->enabled;
    const train_tokenizer *tk = &am.tk;
    g.V = cfg.vocab;
    g.C = cfg.dim;
    g.hidden = cfg.hidden;
    g.start = tk->start;
    /* the activations hold the longest row, not the context (a pretrained
     * model's context of thousands of tokens times a batch of candidates
     * would not fit) */
    int Tmax;
    if (!(items = calloc((size_t)(fs.n ? fs.n : 1), sizeof *items))) {
        rc = err_set(e, CAPE_EFAIL, "out of memory");
        goto out;
    }
    if ((rc = gcg_items(tk, &fs, cfg.ctx, o->max_tokens, items, &Tmax, e)))
        goto out;
    /* the fused cross-entropy multiplies the head by the target positions
     * alone (the answer), never the prompt's, and holds no (N,V) logits */
    cfg.ce_chunk = train_auto_ce_chunk(cfg.vocab, o->cands, Tmax);
    if ((rc = train_model_build(&g.m, &cfg, e)) ||
        (rc = attack_model_load(&am, &g.m, e)) ||
        (rc = train_model_alloc_acts(&g.m, o->cands, Tmax, e)))
        goto out;
    /* GCG needs the gradient of the input, never of a weight: no head or
     * embedding gradient is formed */
    train_model_freeze_embeddings(&g.m);
    if (sinks->enabled) {
        g.mask = malloc(sizeof(float) * g.hidden);
        g.masks = malloc(sizeof(float) * (size_t)g.hidden * o->cands);
        if (!g.mask || !g.masks) {
            rc = err_set(e, CAPE_EFAIL, "out of memory");
            goto out;
        }
        if (o->own && o->source) {
            rc = err_set(e, CAPE_EINPUT, "--sinks own takes each row's author; it does not "
                         "combine with --source");
            goto out;
        }
        if (o->own) {
            /* each row's mask is its author's, set in the row loop */
            if (!(own_ids = calloc((size_t)(fs.n ? fs.n : 1), sizeof *own_ids))) {
                rc = err_set(e, CAPE_EFAIL, "out of memory");
                goto out;
            }
            const tofu_split *sp = &fs;
            if ((rc = tofu_row_sources(o->tofu, &sinks->sources, &sp, 1, own_ids, e)))
                goto out;
        } else if (o->source) {
            uint32_t id = sink_sources_id(&sinks->sources, o->source, 0);
            if (!id) {
                rc = err_set(e, CAPE_EINPUT, "--source %s: not a source of %s", o->source,
                             o->model);
                goto out;
            }
            sink_mask_source_excluding(&sinks->layout, id, sinks->off, sinks->n_off, g.mask);
        } else {
            sink_mask_backbone(&sinks->layout, g.mask);
        }
    } else if (o->source || o->own) {
        rc = err_set(e, CAPE_EINPUT, "%s: %s has no sinks", o->own ? "--sinks own" : "--source",
                     o->model);
        goto out;
    }
    g.tok = malloc(sizeof(int) * (size_t)o->cands * Tmax);
    g.tgt = malloc(sizeof(int) * (size_t)o->cands * Tmax);
    g.loss = malloc(sizeof(float) * (size_t)o->cands);
    x = malloc(sizeof(int) * (size_t)Tmax);
    topk = malloc(sizeof(int) * (size_t)Tmax * (o->topk < g.V ? o->topk : g.V));
    grad = malloc(sizeof(float) * (size_t)g.V * o->max_tokens); /* (L,V), L < max_tokens */
    g.argmax = malloc(sizeof(int) * (size_t)Tmax);
    g.topv = malloc(sizeof(float) * (size_t)(o->topk < g.V ? o->topk : g.V));
    int n = fs.n;
    r->n = n;
    r->target_tokens = calloc((size_t)n, sizeof(int));
    r->prompt_tokens = calloc((size_t)n, sizeof(int));
    r->prompt = calloc((size_t)n, sizeof(int *));
    r->question_tokens = calloc((size_t)n, sizeof(int));
    r->question_elicits = calloc((size_t)n, 1);
    r->blocked = calloc((size_t)n, 1);
    r->own_sources = calloc((size_t)(n ? n : 1), sizeof *r->own_sources);
    if (!g.tok || !g.tgt || !g.loss || !g.argmax || !g.topv || !x || !topk || !grad || !r->target_tokens ||
        !r->prompt_tokens || !r->prompt || !r->question_tokens || !r->question_elicits ||
        !r->blocked || !r->own_sources) {
        rc = err_set(e, CAPE_EFAIL, "out of memory");
        goto out;
    }
    r->n_lengths = 0;
    double acr_sum = 0;
    for (int i = 0; i < n && !rc; i++) {
        const posthoc_item it = items[i];
        if (!it.tokens)
            continue; /* no answer token within the context: not attacked */
        int Ty = it.len - 1 - it.scored_from; /* the answer, without the end token */
        if (it.tokens[it.len - 1] != tk->end)
            Ty = it.len - it.scored_from; /* cut by the context */
        if (Ty > o->max_tokens)
            Ty = o->max_tokens;
        int Lq = it.scored_from - 1; /* the question prompt, start token excluded */
        if (Ty < 1 || 1 + Lq + Ty > Tmax)
            continue;
        if (own_ids) {
            r->own_sources[i] = own_ids[i];
            if (own_ids[i])
                sink_mask_source_excluding(&sinks->layout, own_ids[i], sinks->off, sinks->n_off,
                                           g.mask);
            else
                sink_mask_backbone(&sinks->layout, g.mask);
        }
        g.y = it.tokens + it.scored_from;
        g.Ty = Ty;
        r->target_tokens[i] = Ty;
        r->question_tokens[i] = Lq;
        /* the question itself */
        put(&g, 0, it.tokens + 1, Lq);
        train_forward(&g.m, g.tok, g.tgt, g.mask ? g.masks : NULL, NULL, 1, 1 + Lq + Ty, NULL);
        r->question_elicits[i] = (unsigned char)elicits(&g, Lq);
        int lens[16], nl = attack_gcg_lengths(Ty, lens, 16);
        if (flt) {
            /* what an eliciting prompt would make the model say, through the
             * output filter: when it blocks, no prompt gets the target out */
            int b = filter_blocks_ids(flt, tk, g.y, Ty);
            if (b < 0) {
                rc = err_set(e, CAPE_EFAIL, "out of memory");
                break;
            }
            if (b) {
                r->blocked[i] = 1;
                r->n_blocked++;
                r->question_elicits[i] = 0;
                continue;
            }
            if (r->question_elicits[i] && filter_blocks_ids(flt, tk, it.tokens + 1, Lq))
                r->question_elicits[i] = 0;
        }
        if (nl > r->n_lengths) {
            r->n_lengths = nl;
            memcpy(r->lengths, lens, sizeof(int) * nl);
        }
        rng_mt rg;
        rng_seed(&rg, (uint32_t)(o->seed * 2654435761u + (uint64_t)i));
        for (int j = 0; j < nl; j++) {
            int f = gcg_length(&g, o, lens[j], x, &rg, topk, grad);
            if (f < 0) {
                rc = err_set(e, CAPE_EFAIL, "out of memory");
                break;
            }
            if (f && flt) {
                int b = filter_blocks_ids(flt, tk, x, lens[j]);
                if (b < 0) {
                    rc = err_set(e, CAPE_EFAIL, "out of memory");
                    break;
                }
                if (b) { /* the input filter stops this prompt: try a longer one */
                    r->n_prompts_blocked++;
                    continue;
                }
            }
            if (f) {
                r->prompt_tokens[i] = lens[j];
                if ((r->prompt[i] = malloc(sizeof(int) * lens[j])))
                    memcpy(r->prompt[i], x, sizeof(int) * lens[j]);
                acr_sum += (double)Ty / lens[j];
                r->n_found++;
                break;
            }
        }
    }
    r->n_memorised = r->n_found; /* every length tried is below the target's */
    r->mean_acr = r->n_found ? acr_sum / r->n_found : NAN;
out:
    free(x);
    free(topk);
    free(grad);
    free(own_ids);
    free(g.tok);
    free(g.tgt);
    free(g.loss);
    free(g.argmax);
    free(g.topv);
    free(g.mask);
    free(g.masks);
    train_model_free(&g.m);
    filter_free(flt);
    for (int i = 0; items && i < fs.n; i++)
        free(items[i].tokens);
    free(items);
    tofu_split_free(&fs);
    attack_model_close(&am);
    return rc;
}

void attack_gcg_result_free(attack_gcg_result *r)
{
    for (int i = 0; r->prompt && i < r->n; i++)
        free(r->prompt[i]);
    free(r->prompt);
    free(r->target_tokens);
    free(r->prompt_tokens);
    free(r->question_tokens);
    free(r->question_elicits);
    free(r->blocked);
    free(r->own_sources);
    memset(r, 0, sizeof *r);
}

json_t *attack_gcg_json(const attack_gcg_opts *o, const attack_gcg_result *r)
{
    json_t *d = json_object();
    json_object_set_new(d, "attack", json_string("gcg"));
    json_object_set_new(d, "model", json_text(o->model));
    json_object_set_new(d, "trainer_road", r->road ? json_string(r->road) : json_null());
    json_object_set_new(d, "forget", json_text(o->forget));
    json_object_set_new(d, "source", o->source ? json_text(o->source) : json_null());
    json_object_set_new(d, "sinks", !r->sink_model ? json_null()
                                    : json_string(o->own ? "own" : o->source ? "source" : "off"));
    json_object_set_new(d, "iters", json_integer(o->iters));
    json_object_set_new(d, "topk", json_integer(o->topk));
    json_object_set_new(d, "cands", json_integer(o->cands));
    json_object_set_new(d, "max_tokens", json_integer(o->max_tokens));
    json_object_set_new(d, "seed", json_integer((json_int_t)o->seed));
    json_object_set_new(d, "items", json_integer(r->n));
    json_object_set_new(d, "found", json_integer(r->n_found));
    json_object_set_new(d, "memorised_share", json_num(r->n ? (double)r->n_memorised / r->n : NAN));
    json_object_set_new(d, "mean_acr_found", json_num(r->mean_acr));
    json_object_set_new(d, "filter", o->filter_path ? json_text(o->filter_path) : json_null());
    if (r->filtered) {
        json_object_set_new(d, "targets_blocked", json_integer(r->n_blocked));
        json_object_set_new(d, "prompts_blocked", json_integer(r->n_prompts_blocked));
    }
    json_t *by = json_object();
    for (int i = 0; i < r->n; i++) {
        json_t *it = json_object();
        json_object_set_new(it, "target_tokens", json_integer(r->target_tokens[i]));
        json_object_set_new(it, "question_tokens", json_integer(r->question_tokens[i]));
        json_object_set_new(it, "question_elicits", json_boolean(r->question_elicits[i]));
        if (o->own)
            json_object_set_new(it, "own_source", json_integer(r->own_sources[i]));
        if (r->filtered)
            json_object_set_new(it, "blocked", json_boolean(r->blocked[i]));
        if (r->prompt[i]) {
            json_object_set_new(it, "prompt_tokens", json_integer(r->prompt_tokens[i]));
            json_object_set_new(it, "acr", json_real((double)r->target_tokens[i] /
                                                     r->prompt_tokens[i]));
            json_t *p = json_array();
            for (int k = 0; k < r->prompt_tokens[i]; k++)
                json_array_append_new(p, json_integer(r->prompt[i][k]));
            json_object_set_new(it, "prompt", p);
        } else {
            json_object_set_new(it, "prompt_tokens", json_null());
            json_object_set_new(it, "acr", json_null());
        }
        char k[16];
        snprintf(k, sizeof k, "%d", i);
        json_object_set_new(by, k, it);
    }
    json_object_set_new(d, "value_by_index", by);
    return d;
}

void attack_gcg_table(FILE *fp, const attack_gcg_result *r)
{
    fprintf(fp, "%-5s %7s %9s %8s %7s\n", "item", "target", "question", "prompt", "acr");
    for (int i = 0; i < r->n; i++) {
        char p[16], a[16];
        if (r->prompt[i]) {
            snprintf(p, sizeof p, "%d", r->prompt_tokens[i]);
            snprintf(a, sizeof a, "%.2f", (double)r->target_tokens[i] / r->prompt_tokens[i]);
        } else if (r->blocked && r->blocked[i]) {
            snprintf(p, sizeof p, "blocked");
            snprintf(a, sizeof a, "-");
        } else {
            snprintf(p, sizeof p, "-");
            snprintf(a, sizeof a, "<=1");
        }
        fprintf(fp, "%-5d %7d %8d%s %8s %7s\n", i, r->target_tokens[i], r->question_tokens[i],
                r->question_elicits[i] ? "*" : " ", p, a);
    }
    fprintf(fp, "memorised (ACR > 1): %d of %d; mean ACR of those %.3f (* the question alone "
                "elicits the answer)\n", r->n_memorised, r->n, r->mean_acr);
    if (r->filtered)
        fprintf(fp, "filter: %d targets blocked at the output (not attacked), %d found prompts "
                    "blocked at the input\n", r->n_blocked, r->n_prompts_blocked);
}
