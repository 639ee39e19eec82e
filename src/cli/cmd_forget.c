/* cape forget: switch sources off in a model trained with sinks (no weight
 * changes), and measure per-source loss under each inference mode. */
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "train/train_data.h"
#include "train/train_gemm.h"
#include "train/train_loop.h"
#include "train/train_tok.h"
#include "unlearn/sink_eval.h"
#include "unlearn/sink_model.h"

static void help(void)
{
    printf(
        "usage: cape forget MODEL.gguf --source NAME [--source NAME ...] -o OUT.gguf\n"
        "       cape forget MODEL.gguf --eval (--tofu DIR | --data CORPUS.jsonl) [options]\n"
        "\n"
        "The first form writes OUT.gguf: MODEL with the named sources switched off\n"
        "(metadata key cape.sink.off); no weight changes. At inference a switched-off\n"
        "source's sink units are zeroed for every query, and a query that would have used\n"
        "them is routed to the most similar surviving source (docs/TRAINER.md).\n"
        "\n"
        "--eval prints the mean loss of each source's documents under every mode: its own\n"
        "sinks on (source), backbone only, all sinks at their keep rate (all), and that\n"
        "source switched off and the query routed (off). For --tofu the loss counts the\n"
        "answer tokens only. A model cape trained without sinks gives one column (plain);\n"
        "a model cape train did not write, or a corpus with no document of the model's\n"
        "sources, is an error.\n"
        "\n"
        "options:\n"
        "  --source NAME      a source (repeatable; comma-separated lists allowed)\n"
        "  -o, --output FILE  the new model (first form)\n"
        "  --eval             evaluate instead of writing\n"
        "  --tofu DIR         TOFU data directory (full.json)\n"
        "  --data FILE        JSON-lines corpus\n"
        "  --sources N        evaluate the first N sources when no --source is given (all)\n"
        "  --batch B          evaluation batch (16)\n"
        "  --threads N        (2)\n"
        "  --json             machine-readable output\n"
        "  -h, --help         this help\n");
}

typedef struct {
    const char *model, *out, *tofu, *data;
    char **names;
    int n_names;
    int eval, json, max_sources, B, threads;
} forget_args;

static int add_names(forget_args *a, const char *arg)
{
    char *copy = strdup(arg), *save = NULL;
    if (!copy)
        return -1;
    for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        char **nn = realloc(a->names, sizeof *nn * (a->n_names + 1));
        if (!nn) {
            free(copy);
            return -1;
        }
        a->names = nn;
        a->names[a->n_names++] = strdup(t);
    }
    free(copy);
    return 0;
}

static int parse_args(int argc, char **argv, forget_args *a)
{
    enum { O_SOURCE = 256, O_EVAL, O_TOFU, O_DATA, O_SOURCES, O_BATCH, O_THREADS, O_JSON };
    static const struct option opts[] = {
        {"source", 1, 0, O_SOURCE}, {"eval", 0, 0, O_EVAL}, {"tofu", 1, 0, O_TOFU},
        {"data", 1, 0, O_DATA}, {"sources", 1, 0, O_SOURCES}, {"batch", 1, 0, O_BATCH},
        {"threads", 1, 0, O_THREADS}, {"json", 0, 0, O_JSON}, {"output", 1, 0, 'o'},
        {"help", 0, 0, 'h'}, {0, 0, 0, 0}};
    long v;
    int c, rc = 0;
    opterr = 0;
    optind = 1;
    while (rc == 0 && (c = getopt_long(argc, argv, ":ho:", opts, NULL)) != -1) {
        switch (c) {
        case 'h': help(); return -1;
        case 'o': a->out = optarg; break;
        case O_SOURCE: rc = add_names(a, optarg) ? cli_usage_error("forget", "out of memory") : 0; break;
        case O_EVAL: a->eval = 1; break;
        case O_TOFU: a->tofu = optarg; break;
        case O_DATA: a->data = optarg; break;
        case O_SOURCES: rc = cli_parse_int("forget", "--sources", optarg, 1, 1 << 30, &v); a->max_sources = (int)v; break;
        case O_BATCH: rc = cli_parse_int("forget", "--batch", optarg, 1, 4096, &v); a->B = (int)v; break;
        case O_THREADS: rc = cli_parse_int("forget", "--threads", optarg, 1, 256, &v); a->threads = (int)v; break;
        case O_JSON: a->json = 1; break;
        case ':': return cli_usage_error("forget", "%s needs a value", argv[optind - 1]);
        default: return cli_usage_error("forget", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (rc)
        return rc;
    if (optind != argc - 1)
        return cli_usage_error("forget", "expected one MODEL.gguf argument");
    a->model = argv[optind];
    if (!a->eval && (!a->out || a->n_names == 0))
        return cli_usage_error("forget", "give --source NAME and -o OUT.gguf (or --eval)");
    if (a->eval && !!a->tofu + !!a->data != 1)
        return cli_usage_error("forget", "--eval needs exactly one of --tofu and --data");
    return 0;
}

static int do_switch_off(const forget_args *a, ckpt_file *f, cape_err *e)
{
    train_config cfg;
    sink_model s;
    int rc = sink_model_require_cape(f, a->model, e);
    if (rc || (rc = train_config_from_ckpt(f, &cfg, a->model, e)))
        return rc;
    if ((rc = sink_model_read(&s, f, cfg.hidden, a->model, e)))
        return rc;
    if (!s.enabled)
        return err_set(e, CAPE_EINPUT, "%s: has no sinks (train it with --sinks)", a->model);
    for (int i = 0; i < a->n_names && !rc; i++)
        if ((rc = sink_model_switch_off(&s, a->names[i], e))) {
            char msg[sizeof e->msg];
            snprintf(msg, sizeof msg, "%s", e->msg);
            err_clear(e);
            rc = err_set(e, CAPE_EINPUT, "%s: %s", a->model, msg);
        }
    if (!rc && sink_model_write(&s, f))
        rc = err_set(e, CAPE_EFAIL, "out of memory");
    if (!rc)
        rc = ckpt_write(f, a->out, e);
    if (!rc) {
        double frac = sink_union_fraction(&s.layout, s.off, s.n_off);
        if (a->json) {
            json_t *j = json_object();
            json_object_set_new(j, "model", json_string(a->out));
            json_t *off = json_array();
            for (int i = 0; i < s.n_off; i++)
                json_array_append_new(off, json_string(s.sources.names[s.off[i] - 1]));
            json_object_set_new(j, "off", off);
            json_object_set_new(j, "pool_fraction_off", json_real(frac));
            char *txt = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
            printf("%s\n", txt);
            free(txt);
            json_decref(j);
        } else {
            printf("wrote %s: %d of %d sources switched off; their sinks cover %.1f%% of the "
                   "sink pool\n", a->out, s.n_off, s.sources.n, 100.0 * frac);
        }
    }
    sink_model_free(&s);
    return rc;
}

/* ---- evaluation ------------------------------------------------------- */

static int build_items(const forget_args *a, const train_corpus *c, const train_tokenizer *v,
                       sink_model *s, int T, int *selected, sink_eval_item **out, int *n_out,
                       cape_err *e)
{
    sink_eval_item *items = calloc(c->n ? c->n : 1, sizeof *items);
    if (!items)
        return err_set(e, CAPE_EFAIL, "out of memory");
    int n = 0;
    for (size_t d = 0; d < c->n; d++) {
        uint32_t id = sink_sources_id(&s->sources, c->docs[d].source, 0);
        if (!id || !selected[id - 1])
            continue;
        const char *text = c->docs[d].text;
        const char *ans = a->tofu ? strstr(text, "\nAnswer:") : NULL;
        /* start text end, as in training; the prefix up to "Answer:" is not scored */
        size_t nt = 1, cap = 1, np = 0, pcap = 0;
        int *ids = malloc(sizeof(int)), *pre = NULL;
        if (!ids)
            return err_set(e, CAPE_EFAIL, "out of memory");
        ids[0] = v->start;
        if (train_tokenizer_encode(v, text, &ids, &nt, &cap, e))
            return e->code;
        int *nb = realloc(ids, sizeof(int) * (nt + 1));
        if (!nb)
            return err_set(e, CAPE_EFAIL, "out of memory");
        ids = nb;
        ids[nt++] = v->end;
        size_t scored_from = 1;
        char *query = NULL;
        if (ans) {
            size_t plen = (size_t)(ans - text) + strlen("\nAnswer:");
            char *prefix = strndup(text, plen);
            query = strndup(text, (size_t)(ans - text));
            if (!prefix || !query)
                return err_set(e, CAPE_EFAIL, "out of memory");
            if (train_tokenizer_encode(v, prefix, &pre, &np, &pcap, e))
                return e->code;
            scored_from = np + 1;
            free(prefix);
            free(pre);
        } else {
            query = strdup(text);
        }
        int len = (int)(nt - 1 < (size_t)T ? nt - 1 : (size_t)T);
        sink_eval_item *it = &items[n++];
        it->tokens = malloc(sizeof(int) * len);
        it->targets = malloc(sizeof(int) * len);
        if (!it->tokens || !it->targets || !query)
            return err_set(e, CAPE_EFAIL, "out of memory");
        for (int t = 0; t < len; t++) {
            it->tokens[t] = ids[t];
            it->targets[t] = (size_t)t + 1 >= scored_from ? ids[t + 1] : -1;
        }
        it->len = len;
        it->source = id;
        it->query = query;
        free(ids);
    }
    *out = items;
    *n_out = n;
    return 0;
}

static int do_eval(const forget_args *a, ckpt_file *f, cape_err *e)
{
    train_config cfg;
    sink_model s = {0};
    train_tokenizer v = {0};
    train_corpus c = {0};
    train_model m = {0};
    sink_eval_item *items = NULL;
    int n_items = 0, *selected = NULL, rc;
    float *loss = NULL;
    uint32_t *routed = NULL;
    if ((rc = sink_model_require_cape(f, a->model, e)) ||
        (rc = train_config_from_ckpt(f, &cfg, a->model, e)) ||
        (rc = sink_model_read(&s, f, cfg.hidden, a->model, e)) ||
        (rc = train_tokenizer_from_model(&v, a->model, e)))
        goto out;
    rc = a->tofu ? train_corpus_load_tofu(&c, a->tofu, e) : train_corpus_load_jsonl(&c, a->data, e);
    if (rc)
        goto out;
    if (!s.enabled) {
        /* a model without sinks: take the source names from the corpus */
        for (size_t d = 0; d < c.n; d++)
            sink_sources_id(&s.sources, c.docs[d].source, 1);
    }
    selected = calloc(s.sources.n ? s.sources.n : 1, sizeof *selected);
    if (!selected) {
        rc = err_set(e, CAPE_EFAIL, "out of memory");
        goto out;
    }
    for (int i = 0; i < a->n_names; i++) {
        uint32_t id = sink_sources_id(&s.sources, a->names[i], 0);
        if (!id) {
            cape_err u = {0};
            sink_unknown_source(&s, a->names[i], &u);
            rc = err_set(e, CAPE_EINPUT, "%s: %s", a->model, u.msg);
            goto out;
        }
        selected[id - 1] = 1;
    }
    if (!a->n_names)
        for (int i = 0; i < s.sources.n && (!a->max_sources || i < a->max_sources); i++)
            selected[i] = 1;
    if ((rc = build_items(a, &c, &v, &s, cfg.ctx, selected, &items, &n_items, e)))
        goto out;
    if (n_items == 0) {
        sink_sources cs = {0};
        for (size_t d = 0; d < c.n; d++)
            sink_sources_id(&cs, c.docs[d].source, 1);
        char have[384], want[384];
        rc = err_set(e, CAPE_EINPUT, "%s: no document of the selected sources (the corpus has "
                     "%s; the model %s has %s)", a->tofu ? a->tofu : a->data,
                     sink_sources_list(&cs, 8, have, sizeof have), a->model,
                     sink_sources_list(&s.sources, 8, want, sizeof want));
        sink_sources_free(&cs);
        goto out;
    }
    if ((rc = train_model_build(&m, &cfg, e)) ||
        (rc = train_model_load_params(&m, f, a->model, e)) ||
        (rc = train_model_alloc_acts(&m, a->B, cfg.ctx, e)))
        goto out;
    int n_modes = s.enabled ? 4 : 1;
    loss = malloc(sizeof(float) * (size_t)n_items * n_modes);
    routed = calloc((size_t)n_items * n_modes, sizeof *routed);
    if (!loss || !routed) {
        rc = err_set(e, CAPE_EFAIL, "out of memory");
        goto out;
    }
    static const sink_mode modes[4] = {SINK_MODE_SOURCE, SINK_MODE_BACKBONE, SINK_MODE_ALL,
                                       SINK_MODE_OFF};
    for (int k = 0; k < n_modes; k++)
        if ((rc = sink_eval_losses(&m, s.enabled ? &s : NULL, modes[k], modes[k] == SINK_MODE_OFF,
                                   items, n_items, loss + (size_t)k * n_items,
                                   routed + (size_t)k * n_items, e)))
            goto out;
    int n_scored = 0;
    for (int i = 0; i < n_items; i++)
        n_scored += !isnan(loss[i]);
    if (!n_scored) {
        rc = err_set(e, CAPE_EINPUT, "%s: none of the %d selected documents has a scored token "
                     "within the model's context of %d tokens", a->tofu ? a->tofu : a->data,
                     n_items, cfg.ctx);
        goto out;
    }
    /* per source means */
    json_t *root = json_object(), *rows = json_array();
    double tot[4] = {0};
    int tot_n = 0;
    if (!a->json) {
        if (s.enabled)
            printf("%-24s %5s %9s %9s %9s %9s  %s\n", "source", "docs", "source", "backbone",
                   "all", "off", "off routed to (most often)");
        else
            printf("%-24s %5s %9s\n", "source", "docs", "plain");
    }
    for (int sid = 1; sid <= s.sources.n; sid++) {
        if (!selected[sid - 1])
            continue;
        double sum[4] = {0};
        int cnt = 0;
        uint32_t best = 0;
        int best_n = 0;
        for (int i = 0; i < n_items; i++) {
            if (items[i].source != (uint32_t)sid || isnan(loss[i]))
                continue;
            cnt++;
            for (int k = 0; k < n_modes; k++)
                sum[k] += loss[(size_t)k * n_items + i];
            if (s.enabled) {
                uint32_t r = routed[(size_t)3 * n_items + i];
                int same = 0;
                for (int j = 0; j < n_items; j++)
                    same += items[j].source == (uint32_t)sid && routed[(size_t)3 * n_items + j] == r;
                if (same > best_n)
                    best_n = same, best = r;
            }
        }
        if (!cnt)
            continue;
        tot_n++;
        json_t *r = json_object(), *jl = json_object();
        json_object_set_new(r, "source", json_string(s.sources.names[sid - 1]));
        json_object_set_new(r, "docs", json_integer(cnt));
        for (int k = 0; k < n_modes; k++) {
            tot[k] += sum[k] / cnt;
            json_object_set_new(jl, s.enabled ? sink_mode_name(modes[k]) : "plain",
                                json_real(sum[k] / cnt));
        }
        json_object_set_new(r, "loss", jl);
        if (s.enabled && best)
            json_object_set_new(r, "off_routed_to", json_string(s.sources.names[best - 1]));
        json_array_append_new(rows, r);
        if (!a->json) {
            printf("%-24s %5d", s.sources.names[sid - 1], cnt);
            for (int k = 0; k < n_modes; k++)
                printf(" %9.4f", sum[k] / cnt);
            if (s.enabled)
                printf("  %s (%d/%d)", best ? s.sources.names[best - 1] : "-", best_n, cnt);
            printf("\n");
        }
    }
    json_object_set_new(root, "model", json_string(a->model));
    json_object_set_new(root, "sinks", json_boolean(s.enabled));
    json_object_set_new(root, "loss", json_string(a->tofu ? "answer tokens" : "all tokens"));
    json_object_set_new(root, "sources", rows);
    json_t *mean = json_object();
    for (int k = 0; k < n_modes && tot_n; k++)
        json_object_set_new(mean, s.enabled ? sink_mode_name(modes[k]) : "plain",
                            json_real(tot[k] / tot_n));
    json_object_set_new(root, "mean", mean);
    if (a->json) {
        char *txt = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        printf("%s\n", txt);
        free(txt);
    } else if (tot_n) {
        printf("%-24s %5d", "mean over sources", tot_n);
        for (int k = 0; k < n_modes; k++)
            printf(" %9.4f", tot[k] / tot_n);
        printf("\n");
    }
    json_decref(root);
out:
    for (int i = 0; items && i < n_items; i++) {
        free(items[i].tokens);
        free(items[i].targets);
        free((char *)items[i].query);
    }
    free(items);
    free(loss);
    free(routed);
    free(selected);
    train_model_free(&m);
    train_corpus_free(&c);
    train_tokenizer_free(&v);
    sink_model_free(&s);
    return rc;
}

int cmd_forget(int argc, char **argv)
{
    forget_args a = {.B = 16, .threads = 2};
    int rc = parse_args(argc, argv, &a);
    if (!rc) {
        cape_err e = {0};
        ckpt_file f = {0};
        tg_set_threads(a.threads);
        rc = ckpt_read(&f, a.model, &e);
        if (!rc)
            rc = a.eval ? do_eval(&a, &f, &e) : do_switch_off(&a, &f, &e);
        ckpt_free(&f);
        if (rc)
            rc = cli_report(&e);
    }
    for (int i = 0; i < a.n_names; i++)
        free(a.names[i]);
    free(a.names);
    return rc < 0 ? 0 : rc;
}
