/* cape unlearn eval: the TOFU metrics of a model, as open-unlearning
 * computes and writes them (docs/UNLEARN.md). */
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "cli/cli.h"
#include "unlearn/tofu_eval.h"

static void help(void)
{
    printf("usage: cape unlearn eval MODEL --tofu DIR --forget forget01|forget05|forget10 -o OUTDIR\n"
           "                        [options]\n"
           "\n"
           "Evaluates MODEL on TOFU as open-unlearning does: probabilities, greedy ROUGE-L,\n"
           "truth ratios of the forget, retain, real-authors and world-facts splits, forget\n"
           "quality (against --oracle), model utility, extraction strength, exact\n"
           "memorisation, membership-inference AUCs (forget vs holdout) and privleak.\n"
           "Writes OUTDIR/TOFU_EVAL.json (per-item values) and OUTDIR/TOFU_SUMMARY.json, and\n"
           "prints a table (definitions in docs/METHODS.md, \"TOFU metrics\").\n"
           "\n"
           "options:\n"
           "  --tofu DIR           TOFU data: forgetNN_perturbed.json, retain_perturbed.json,\n"
           "                       real_authors_perturbed.json, world_facts_perturbed.json,\n"
           "                       holdoutNN.json\n"
           "  --forget SPLIT       forget01 | forget05 | forget10\n"
           "  -o, --output OUTDIR  directory for the two JSON files (created)\n"
           "  --oracle FILE        the retain model's TOFU_EVAL.json (forget quality; privleak\n"
           "                       relative to its AUC). Without it forget_quality is null\n"
           "  --sinks MODE         a sink model: source | backbone | all | off | own (default\n"
           "                       off: each question routed to the most similar source not\n"
           "                       switched off; own: each forget and retain question with\n"
           "                       its own author's sinks, as in training, minus switched-off\n"
           "                       units and never routed; other questions backbone only)\n"
           "  --source NAME        with --sinks source: that source's sinks on\n"
           "  --filter FILTER      a cape filter for the same forget split: questions it\n"
           "                       blocks get the refusal's scores (uniform 1/V per answer\n"
           "                       token, the refusal as the generation); generations it\n"
           "                       blocks become the refusal (docs/UNLEARN.md)\n"
           "  --template T         auto | cape | plain | a text with {question} (auto: the\n"
           "                       cape trainer's QA rendering for cape-trained models, else\n"
           "                       plain: \"Question: {question}\\nAnswer:\")\n"
           "  -t, --threads N      threads (1): N sessions side by side, each scoring and\n"
           "                       generating its share of the items\n"
           "  --batch B            sequences scored and generated at once (8); the numbers\n"
           "                       do not depend on it\n"
           "  --max-items N        the first N rows of each split (a quick look)\n"
           "  --max-new-tokens N   greedy tokens per answer (200)\n"
           "  --fast               quantised weights: int8 activations and batch-shaped kernels\n"
           "                       (faster; the numbers then depend on --batch). The default\n"
           "                       multiplies them in f32, row by row (--exact)\n"
           "  --json               print TOFU_SUMMARY.json instead of the table\n"
           "  -h, --help           this help\n");
}

static void print_table(const json_t *eval, double seconds)
{
    printf("%-24s %12s  %-4s  %s\n", "metric", "value", "dir", "what");
    for (int i = 0; i < tofu_n_metrics; i++) {
        const tofu_metric *m = &tofu_metrics[i];
        const json_t *v = json_object_get(json_object_get(eval, m->name), "agg_value");
        char buf[32];
        if (json_is_number(v))
            cli_fmt(buf, sizeof buf, "%.6g", json_number_value(v));
        else
            snprintf(buf, sizeof buf, "null");
        /* the arrows are 3 bytes wide in UTF-8 and one column on screen */
        int pad = 4 - (int)(strlen(m->direction) > 3 ? strlen(m->direction) - 2 : 1);
        printf("%-24s %12s  %s%*s  %s\n", m->name, buf, m->direction, pad > 0 ? pad : 0, "",
               m->what);
    }
    printf("\n↑ higher is better, ↓ lower is better, →x closer to x (the oracle's) is better,\n"
           "· shown for reference. Definitions: docs/METHODS.md, \"TOFU metrics\". (%.1f s)\n",
           seconds);
}

int cmd_unlearn_eval(int argc, char **argv)
{
    enum { O_TOFU = 256, O_FORGET, O_ORACLE, O_SINKS, O_SOURCE, O_TEMPLATE, O_BATCH, O_MAX_ITEMS,
           O_MAX_NEW, O_EXACT, O_FAST, O_JSON, O_FILTER };
    static const struct option opts[] = {
        {"tofu", 1, 0, O_TOFU},         {"forget", 1, 0, O_FORGET},
        {"output", 1, 0, 'o'},          {"oracle", 1, 0, O_ORACLE},
        {"sinks", 1, 0, O_SINKS},       {"source", 1, 0, O_SOURCE},
        {"template", 1, 0, O_TEMPLATE}, {"threads", 1, 0, 't'},
        {"batch", 1, 0, O_BATCH},       {"max-items", 1, 0, O_MAX_ITEMS},
        {"max-new-tokens", 1, 0, O_MAX_NEW}, {"exact", 0, 0, O_EXACT}, {"fast", 0, 0, O_FAST},
        {"json", 0, 0, O_JSON},         {"filter", 1, 0, O_FILTER}, {"help", 0, 0, 'h'},
        {0, 0, 0, 0}};
    tofu_eval_opts o = {.threads = 1, .batch = 8, .max_new_tokens = 200, .exact = 1};
    long threads = 1, batch = 8, max_items = 0, max_new = 200;
    int json = 0, c;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "ht:o:", opts, NULL)) != -1) {
        int rc = 0;
        switch (c) {
        case 'h': help(); return 0;
        case 't': rc = cli_parse_int("unlearn eval", "--threads", optarg, 1, 256, &threads); break;
        case 'o': o.out_dir = optarg; break;
        case O_TOFU: o.tofu_dir = optarg; break;
        case O_FORGET: o.forget = optarg; break;
        case O_ORACLE: o.oracle_path = optarg; break;
        case O_SINKS: o.sinks_mode = optarg; break;
        case O_SOURCE: o.source = optarg; break;
        case O_TEMPLATE: o.template = optarg; break;
        case O_BATCH: rc = cli_parse_int("unlearn eval", "--batch", optarg, 1, MODEL_MAX_SEQ, &batch); break;
        case O_MAX_ITEMS: rc = cli_parse_int("unlearn eval", "--max-items", optarg, 1, 1 << 30, &max_items); break;
        case O_MAX_NEW: rc = cli_parse_int("unlearn eval", "--max-new-tokens", optarg, 0, 1 << 20, &max_new); break;
        case O_EXACT: o.exact = 1; break;
        case O_FAST: o.exact = 0; break;
        case O_JSON: json = 1; break;
        case O_FILTER: o.filter_path = optarg; break;
        default: return cli_usage_error("unlearn eval", "unknown or incomplete option '%s'", argv[optind - 1]);
        }
        if (rc)
            return rc;
    }
    if (optind != argc - 1)
        return cli_usage_error("unlearn eval", "expected one MODEL");
    if (!o.tofu_dir)
        return cli_usage_error("unlearn eval", "--tofu DIR is required");
    if (!o.forget)
        return cli_usage_error("unlearn eval", "--forget forget01|forget05|forget10 is required");
    if (!o.out_dir)
        return cli_usage_error("unlearn eval", "-o OUTDIR is required");
    o.model_path = argv[optind];
    o.threads = (int)threads;
    o.batch = (int)batch;
    o.max_items = (int)max_items;
    o.max_new_tokens = (int)max_new;
    cli_progress bar;
    cli_progress_init(&bar, "tofu");
    o.progress = cli_progress_cb;
    o.progress_user = &bar;
    cape_err e = {0};
    tofu_eval_result r;
    int rc = tofu_eval_run(&o, &r, &e);
    if (r.eval) {
        if (!o.oracle_path)
            fprintf(stderr, "cape unlearn eval: no --oracle: forget_quality is null (it needs the "
                            "retain model's TOFU_EVAL.json) and privleak is relative to an AUC of "
                            "0.5\n");
        const json_t *nz = json_object_get(json_object_get(r.eval, "cape"),
                                           "answers_without_scored_tokens");
        if (json_integer_value(nz) > 0)
            fprintf(stderr, "cape unlearn eval: %lld answers had no token within the model's "
                            "context and are left out of the means\n",
                    (long long)json_integer_value(nz));
        if (json) {
            char *s = json_dumps(r.summary, JSON_INDENT(2) | JSON_PRESERVE_ORDER |
                                                JSON_REAL_PRECISION(17));
            if (s)
                printf("%s\n", s);
            free(s);
        } else {
            print_table(r.eval, r.seconds);
        }
    }
    tofu_eval_result_free(&r);
    return rc ? cli_report(&e) : 0;
}
