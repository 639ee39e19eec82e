/* cape forget: switch sources off in a model trained with sinks (no weight
 * changes), and measure per-source loss under each inference mode. */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "train/train_gemm.h"
#include "train/train_loop.h"
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
    sink_model s;
    int rc = sink_model_require_cape(f, a->model, e);
    if (rc || (rc = sink_model_read_gguf(&s, f, a->model, e)))
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

static int do_eval(const forget_args *a, ckpt_file *f, cape_err *e)
{
    sink_eval_options o;
    sink_eval_options_default(&o);
    o.tofu = a->tofu != NULL;
    o.names = (const char *const *)a->names;
    o.n_names = a->n_names;
    o.max_sources = a->max_sources;
    o.batch = a->B;
    sink_eval_result r;
    int rc = sink_eval_sources(f, a->model, a->tofu ? a->tofu : a->data, &o, &r, e);
    if (rc)
        return rc;
    if (a->json) {
        json_t *root = sink_eval_result_json(&r);
        char *txt = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        printf("%s\n", txt);
        free(txt);
        json_decref(root);
        sink_eval_result_free(&r);
        return 0;
    }
    if (r.sinks)
        printf("%-24s %5s %9s %9s %9s %9s  %s\n", "source", "docs", "source", "backbone", "all",
               "off", "off routed to (most often)");
    else
        printf("%-24s %5s %9s\n", "source", "docs", "plain");
    for (int i = 0; i < r.n_rows; i++) {
        const sink_eval_row *row = &r.rows[i];
        printf("%-24s %5d", row->source, row->docs);
        for (int k = 0; k < r.n_modes; k++)
            printf(" %9.4f", row->loss[k]);
        if (r.sinks)
            printf("  %s (%d/%d)", row->routed_to ? row->routed_to : "-", row->routed_n,
                   row->docs);
        printf("\n");
    }
    if (r.n_rows) {
        printf("%-24s %5d", "mean over sources", r.n_rows);
        for (int k = 0; k < r.n_modes; k++)
            printf(" %9.4f", r.mean[k]);
        printf("\n");
    }
    sink_eval_result_free(&r);
    return 0;
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
