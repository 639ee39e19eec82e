#include "unlearn/sink_eval.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/train_data.h"
#include "train/train_loop.h"
#include "train/train_tok.h"

static void item_mask(const sink_model *s, sink_mode mode, int off_own, const sink_eval_item *it,
                      float *mask, uint32_t *routed)
{
    sink_model view = *s;
    uint32_t *off = NULL;
    if (off_own && it->source) {
        off = malloc(sizeof *off * (s->n_off + 1));
        if (off) {
            if (s->n_off)
                memcpy(off, s->off, sizeof *off * s->n_off);
            off[s->n_off] = it->source;
            view.off = off;
            view.n_off = s->n_off + 1;
        }
    }
    uint32_t to = sink_model_mask(&view, mode, it->source, it->query, mask);
    if (routed)
        *routed = to;
    free(off);
}

int sink_eval_losses(train_model *m, const sink_model *s, sink_mode mode, int off_own,
                     const sink_eval_item *items, int n, float *loss, uint32_t *routed,
                     cape_err *e)
{
    int B = m->B, T = m->T, I = m->cfg.hidden;
    int sinks = s && s->enabled;
    int *tok = malloc(sizeof(int) * B * T), *tgt = malloc(sizeof(int) * B * T);
    float *masks = sinks ? malloc(sizeof(float) * B * I) : NULL;
    float *row = malloc(sizeof(float) * B);
    if (!tok || !tgt || (sinks && !masks) || !row) {
        free(tok), free(tgt), free(masks), free(row);
        return err_set(e, CAPE_EFAIL, "out of memory for evaluation");
    }
    for (int i0 = 0; i0 < n; i0 += B) {
        for (int b = 0; b < B; b++) {
            int i = i0 + b;
            for (int t = 0; t < T; t++) {
                int ok = i < n && t < items[i].len;
                tok[b * T + t] = ok ? items[i].tokens[t] : 0;
                tgt[b * T + t] = ok ? items[i].targets[t] : -1;
            }
            if (sinks) {
                if (i < n)
                    item_mask(s, mode, off_own, &items[i], masks + (size_t)b * I,
                              routed ? &routed[i] : NULL);
                else
                    sink_mask_backbone(&s->layout, masks + (size_t)b * I);
            } else if (routed && i < n) {
                routed[i] = 0;
            }
        }
        train_row_losses(m, tok, tgt, masks, NULL, B, T, row);
        for (int b = 0; b < B && i0 + b < n; b++)
            loss[i0 + b] = row[b];
    }
    free(tok), free(tgt), free(masks), free(row);
    return 0;
}

/* ---- per-source evaluation ---------------------------------------------- */

void sink_eval_options_default(sink_eval_options *o)
{
    memset(o, 0, sizeof *o);
    o->batch = 16;
}

const char *sink_eval_mode_label(const sink_eval_result *r, int k)
{
    return r->sinks ? sink_mode_name(r->modes[k]) : "plain";
}

static void free_items(sink_eval_item *items, int n)
{
    for (int i = 0; items && i < n; i++) {
        free(items[i].tokens);
        free(items[i].targets);
        free((char *)items[i].query);
    }
    free(items);
}

/* One item per document of a selected source: start text end, as in
 * training, cut to the context T; with tofu the prefix up to "Answer:" is
 * not scored and the question is the routing query. */
static int build_items(int tofu, const train_corpus *c, const train_tokenizer *v,
                       sink_sources *sources, int T, const int *selected, sink_eval_item **out,
                       int *n_out, cape_err *e)
{
    *out = NULL;
    *n_out = 0;
    sink_eval_item *items = calloc(c->n ? c->n : 1, sizeof *items);
    if (!items)
        return err_set(e, CAPE_EFAIL, "out of memory");
    int n = 0, rc = 0;
    int *ids = NULL, *pre = NULL;
    char *prefix = NULL, *query = NULL;
    for (size_t d = 0; d < c->n && rc == 0; d++) {
        uint32_t id = sink_sources_id(sources, c->docs[d].source, 0);
        if (!id || !selected[id - 1])
            continue;
        const char *text = c->docs[d].text;
        const char *ans = tofu ? strstr(text, "\nAnswer:") : NULL;
        size_t nt = 1, cap = 1, np = 0, pcap = 0;
        ids = malloc(sizeof(int));
        if (!ids) {
            rc = err_set(e, CAPE_EFAIL, "out of memory");
            break;
        }
        ids[0] = v->start;
        if (train_tokenizer_encode(v, text, &ids, &nt, &cap, e)) {
            rc = e->code;
            break;
        }
        int *nb = realloc(ids, sizeof(int) * (nt + 1));
        if (!nb) {
            rc = err_set(e, CAPE_EFAIL, "out of memory");
            break;
        }
        ids = nb;
        ids[nt++] = v->end;
        size_t scored_from = 1;
        if (ans) {
            size_t plen = (size_t)(ans - text) + strlen("\nAnswer:");
            prefix = strndup(text, plen);
            query = strndup(text, (size_t)(ans - text));
            if (!prefix || !query) {
                rc = err_set(e, CAPE_EFAIL, "out of memory");
                break;
            }
            if (train_tokenizer_encode(v, prefix, &pre, &np, &pcap, e)) {
                rc = e->code;
                break;
            }
            scored_from = np + 1;
            free(prefix);
            free(pre);
            prefix = NULL;
            pre = NULL;
        } else {
            query = strdup(text);
        }
        int len = (int)(nt - 1 < (size_t)T ? nt - 1 : (size_t)T);
        sink_eval_item *it = &items[n++];
        it->tokens = malloc(sizeof(int) * (len > 0 ? len : 1));
        it->targets = malloc(sizeof(int) * (len > 0 ? len : 1));
        it->query = query;
        query = NULL;
        if (!it->tokens || !it->targets || !it->query) {
            rc = err_set(e, CAPE_EFAIL, "out of memory");
            break;
        }
        for (int t = 0; t < len; t++) {
            it->tokens[t] = ids[t];
            it->targets[t] = (size_t)t + 1 >= scored_from ? ids[t + 1] : -1;
        }
        it->len = len;
        it->source = id;
        free(ids);
        ids = NULL;
    }
    free(ids);
    free(pre);
    free(prefix);
    free(query);
    if (rc) {
        free_items(items, n);
        return rc;
    }
    *out = items;
    *n_out = n;
    return 0;
}

/* The per-source means of the losses (mode k of item i at loss[k * n + i]). */
static int aggregate(const sink_model *s, const int *selected, const sink_eval_item *items,
                     int n_items, const float *loss, const uint32_t *routed,
                     sink_eval_result *r, cape_err *e)
{
    r->rows = calloc(s->sources.n ? (size_t)s->sources.n : 1, sizeof *r->rows);
    if (!r->rows)
        return err_set(e, CAPE_EFAIL, "out of memory");
    double tot[SINK_EVAL_MAX_MODES] = {0};
    const uint32_t *off_routed = r->sinks ? routed + (size_t)3 * n_items : NULL;
    for (int sid = 1; sid <= s->sources.n; sid++) {
        if (!selected[sid - 1])
            continue;
        double sum[SINK_EVAL_MAX_MODES] = {0};
        int cnt = 0;
        uint32_t best = 0;
        int best_n = 0;
        for (int i = 0; i < n_items; i++) {
            if (items[i].source != (uint32_t)sid || isnan(loss[i]))
                continue;
            cnt++;
            for (int k = 0; k < r->n_modes; k++)
                sum[k] += loss[(size_t)k * n_items + i];
            if (off_routed) {
                uint32_t to = off_routed[i];
                int same = 0;
                for (int j = 0; j < n_items; j++)
                    same += items[j].source == (uint32_t)sid && off_routed[j] == to;
                if (same > best_n)
                    best_n = same, best = to;
            }
        }
        if (!cnt)
            continue;
        sink_eval_row *row = &r->rows[r->n_rows++];
        row->source = strdup(s->sources.names[sid - 1]);
        row->docs = cnt;
        for (int k = 0; k < r->n_modes; k++) {
            row->loss[k] = sum[k] / cnt;
            tot[k] += row->loss[k];
        }
        row->routed_n = best_n;
        if (best)
            row->routed_to = strdup(s->sources.names[best - 1]);
        if (!row->source || (best && !row->routed_to))
            return err_set(e, CAPE_EFAIL, "out of memory");
    }
    for (int k = 0; k < r->n_modes && r->n_rows; k++)
        r->mean[k] = tot[k] / r->n_rows;
    return 0;
}

int sink_eval_sources(ckpt_file *f, const char *model, const char *corpus,
                      const sink_eval_options *o, sink_eval_result *r, cape_err *e)
{
    memset(r, 0, sizeof *r);
    train_config cfg;
    sink_model s = {0};
    train_tokenizer v = {0};
    train_corpus c = {0};
    train_model m = {0};
    sink_eval_item *items = NULL;
    int n_items = 0, *selected = NULL, rc;
    float *loss = NULL;
    uint32_t *routed = NULL;
    r->model = strdup(model);
    r->answer_only = o->tofu;
    if (!r->model)
        return err_set(e, CAPE_EFAIL, "out of memory");
    if ((rc = sink_model_require_cape(f, model, e)) ||
        (rc = train_config_from_ckpt(f, &cfg, model, e)) ||
        (rc = sink_model_read(&s, f, cfg.hidden, model, e)) ||
        (rc = train_tokenizer_from_model(&v, model, e)))
        goto out;
    rc = o->tofu ? train_corpus_load_tofu(&c, corpus, e) : train_corpus_load_jsonl(&c, corpus, e);
    if (rc)
        goto out;
    if (!s.enabled) /* a model without sinks: the source names come from the corpus */
        for (size_t d = 0; d < c.n; d++)
            sink_sources_id(&s.sources, c.docs[d].source, 1);
    selected = calloc(s.sources.n ? (size_t)s.sources.n : 1, sizeof *selected);
    if (!selected) {
        rc = err_set(e, CAPE_EFAIL, "out of memory");
        goto out;
    }
    for (int i = 0; i < o->n_names; i++) {
        uint32_t id = sink_sources_id(&s.sources, o->names[i], 0);
        if (!id) {
            cape_err u = {0};
            sink_unknown_source(&s, o->names[i], &u);
            rc = err_set(e, CAPE_EINPUT, "%s: %s", model, u.msg);
            goto out;
        }
        selected[id - 1] = 1;
    }
    if (!o->n_names)
        for (int i = 0; i < s.sources.n && (!o->max_sources || i < o->max_sources); i++)
            selected[i] = 1;
    if ((rc = build_items(o->tofu, &c, &v, &s.sources, cfg.ctx, selected, &items, &n_items, e)))
        goto out;
    if (n_items == 0) {
        sink_sources cs = {0};
        for (size_t d = 0; d < c.n; d++)
            sink_sources_id(&cs, c.docs[d].source, 1);
        char have[384], want[384];
        rc = err_set(e, CAPE_EINPUT,
                     "%s: no document of the selected sources (the corpus has %s; the model %s "
                     "has %s)",
                     corpus, sink_sources_list(&cs, 8, have, sizeof have), model,
                     sink_sources_list(&s.sources, 8, want, sizeof want));
        sink_sources_free(&cs);
        goto out;
    }
    if ((rc = train_model_build(&m, &cfg, e)) || (rc = train_model_load_params(&m, f, model, e)) ||
        (rc = train_model_alloc_acts(&m, o->batch > 0 ? o->batch : 16, cfg.ctx, e)))
        goto out;
    static const sink_mode MODES[SINK_EVAL_MAX_MODES] = {SINK_MODE_SOURCE, SINK_MODE_BACKBONE,
                                                         SINK_MODE_ALL, SINK_MODE_OFF};
    r->sinks = s.enabled;
    r->n_modes = s.enabled ? SINK_EVAL_MAX_MODES : 1;
    memcpy(r->modes, MODES, sizeof MODES);
    loss = malloc(sizeof(float) * (size_t)n_items * (size_t)r->n_modes);
    routed = calloc((size_t)n_items * (size_t)r->n_modes, sizeof *routed);
    if (!loss || !routed) {
        rc = err_set(e, CAPE_EFAIL, "out of memory");
        goto out;
    }
    for (int k = 0; k < r->n_modes; k++)
        if ((rc = sink_eval_losses(&m, s.enabled ? &s : NULL, MODES[k], MODES[k] == SINK_MODE_OFF,
                                   items, n_items, loss + (size_t)k * n_items,
                                   routed + (size_t)k * n_items, e)))
            goto out;
    int n_scored = 0;
    for (int i = 0; i < n_items; i++)
        n_scored += !isnan(loss[i]);
    if (!n_scored) {
        rc = err_set(e, CAPE_EINPUT,
                     "%s: none of the %d selected documents has a scored token within the "
                     "model's context of %d tokens",
                     corpus, n_items, cfg.ctx);
        goto out;
    }
    rc = aggregate(&s, selected, items, n_items, loss, routed, r, e);
out:
    free_items(items, n_items);
    free(loss);
    free(routed);
    free(selected);
    train_model_free(&m);
    train_corpus_free(&c);
    train_tokenizer_free(&v);
    sink_model_free(&s);
    if (rc)
        sink_eval_result_free(r);
    return rc;
}

void sink_eval_result_free(sink_eval_result *r)
{
    for (int i = 0; r->rows && i < r->n_rows; i++) {
        free(r->rows[i].source);
        free(r->rows[i].routed_to);
    }
    free(r->rows);
    free(r->model);
    memset(r, 0, sizeof *r);
}

json_t *sink_eval_result_json(const sink_eval_result *r)
{
    json_t *root = json_object(), *rows = json_array();
    for (int i = 0; i < r->n_rows; i++) {
        const sink_eval_row *row = &r->rows[i];
        json_t *j = json_object(), *jl = json_object();
        json_object_set_new(j, "source", json_string(row->source));
        json_object_set_new(j, "docs", json_integer(row->docs));
        for (int k = 0; k < r->n_modes; k++)
            json_object_set_new(jl, sink_eval_mode_label(r, k), json_real(row->loss[k]));
        json_object_set_new(j, "loss", jl);
        if (r->sinks && row->routed_to)
            json_object_set_new(j, "off_routed_to", json_string(row->routed_to));
        json_array_append_new(rows, j);
    }
    json_object_set_new(root, "model", json_string(r->model));
    json_object_set_new(root, "sinks", json_boolean(r->sinks));
    json_object_set_new(root, "loss", json_string(r->answer_only ? "answer tokens" : "all tokens"));
    json_object_set_new(root, "sources", rows);
    json_t *mean = json_object();
    for (int k = 0; k < r->n_modes && r->n_rows; k++)
        json_object_set_new(mean, sink_eval_mode_label(r, k), json_real(r->mean[k]));
    json_object_set_new(root, "mean", mean);
    return root;
}
