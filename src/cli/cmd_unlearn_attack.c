/* cape unlearn attack: attacks on forgetting, one subcommand each (relearn,
 * quantize, extract, ...), listed in the table below; each lives in the
 * library (unlearn/attack.h) and its command in a function here. */
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/json.h"
#include "cli/cli.h"
#include "train/train_gemm.h"
#include "unlearn/attack.h"


/* ---- relearn ---- */

static void relearn_help(void)
{
    printf("usage: cape unlearn attack relearn MODEL --tofu DIR --forget forgetNN -o OUT.json\n"
           "                                  [options]\n"
           "\n"
           "The relearning attack: each forget author's QA pairs are split (seeded) into a\n"
           "relearn half and an eval half; MODEL is fine-tuned with\n"
           "plain NLL on the relearn half and, after each step count of --steps, the forget\n"
           "probability, ROUGE-L recall and truth ratio of the eval half are measured as\n"
           "cape unlearn eval measures them. The oracle is relearned alike; the steps to\n"
           "recover 50%% / 90%% of the gap to the full model and the recovery beyond the\n"
           "oracle's curve are reported (docs/UNLEARN.md, \"Attacks\").\n"
           "MODEL and the oracle are models cape train wrote, or any GGUF cape train --init\n"
           "fine-tunes (llama, qwen2, qwen3, gemma3; retrofitted sinks included).\n"
           "\n"
           "options:\n"
           "  --tofu DIR            TOFU data (full.json, forgetNN_perturbed.json, ...)\n"
           "  --forget SPLIT        forget01 | forget05 | forget10\n"
           "  -o, --output FILE     the JSON report (written atomically)\n"
           "  --steps LIST          step counts (0,1,2,5,10,20,50)\n"
           "  --lr X                constant AdamW learning rate (1e-3)\n"
           "  --batch B             relearning items per step (4)\n"
           "  --freeze-embeddings   leave the token embedding (and output head) as they are,\n"
           "                        as a fine-tuning that froze them did\n"
           "  --seed N              the halves and the batches (1)\n"
           "  --oracle-model M      the retain-only model, relearned alike\n"
           "  --full-model M        the model trained on everything (recovery targets)\n"
           "  --unrelated SPLIT     retain | wf: fine-tune on --unrelated-items items of the\n"
           "                        retain or world-facts split instead (10)\n"
           "  --unrelated-items N   how many (10)\n"
           "  --sinks MODE, --source NAME   a sink model's evaluation mode (as unlearn eval)\n"
           "  --filter FILTER       evaluate behind a cape filter for the forget split (the\n"
           "                        model and the oracle; the full model's targets without)\n"
           "  -t, --threads N       threads of the evaluation and of the fine-tuning (1)\n"
           "  --eval-batch B        sequences scored at once (8)\n"
           "  --max-items N         the first N forget rows (a quick look)\n"
           "  --max-new-tokens N    greedy tokens per answer (200)\n"
           "  --json                print the report instead of the table\n");
}

static void relearn_progress(void *user, const char *what, int step)
{
    (void)user;
    if (isatty(2))
        fprintf(stderr, "\r%s: step %d ", what, step);
}

static int cmd_attack_relearn(int argc, char **argv)
{
    enum { O_TOFU = 256, O_FORGET, O_STEPS, O_LR, O_BATCH, O_SEED, O_ORACLE, O_FULL, O_UNREL,
           O_UNREL_N, O_SINKS, O_SOURCE, O_EBATCH, O_MAX_ITEMS, O_MAX_NEW, O_JSON, O_FILTER, O_FREEZE_EMBD };
    static const struct option opts[] = {
        {"tofu", 1, 0, O_TOFU},           {"forget", 1, 0, O_FORGET},
        {"output", 1, 0, 'o'},            {"steps", 1, 0, O_STEPS},
        {"lr", 1, 0, O_LR},               {"batch", 1, 0, O_BATCH},
        {"seed", 1, 0, O_SEED},           {"oracle-model", 1, 0, O_ORACLE},
        {"full-model", 1, 0, O_FULL},     {"unrelated", 1, 0, O_UNREL},
        {"unrelated-items", 1, 0, O_UNREL_N}, {"sinks", 1, 0, O_SINKS},
        {"source", 1, 0, O_SOURCE},       {"threads", 1, 0, 't'},
        {"eval-batch", 1, 0, O_EBATCH},   {"max-items", 1, 0, O_MAX_ITEMS},
        {"freeze-embeddings", 0, 0, O_FREEZE_EMBD},
        {"max-new-tokens", 1, 0, O_MAX_NEW}, {"json", 0, 0, O_JSON},
        {"filter", 1, 0, O_FILTER},       {"help", 0, 0, 'h'},
        {0, 0, 0, 0}};
    const char *C = "unlearn attack relearn";
    attack_relearn_opts o;
    attack_relearn_defaults(&o);
    const char *steps = "0,1,2,5,10,20,50", *out = NULL;
    long v;
    int json = 0, c;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "ht:o:", opts, NULL)) != -1) {
        int rc = 0;
        switch (c) {
        case 'h': relearn_help(); return 0;
        case 't': rc = cli_parse_int(C, "--threads", optarg, 1, 256, &v); o.threads = (int)v; break;
        case 'o': out = optarg; break;
        case O_TOFU: o.tofu = optarg; break;
        case O_FORGET: o.forget = optarg; break;
        case O_STEPS: steps = optarg; break;
        case O_LR: rc = cli_parse_double(C, "--lr", optarg, &o.lr); break;
        case O_BATCH: rc = cli_parse_int(C, "--batch", optarg, 1, 4096, &v); o.batch = (int)v; break;
        case O_SEED: rc = cli_parse_int(C, "--seed", optarg, 0, 0x7fffffff, &v); o.seed = (uint64_t)v; break;
        case O_ORACLE: o.oracle_model = optarg; break;
        case O_FULL: o.full_model = optarg; break;
        case O_UNREL: o.unrelated = optarg; break;
        case O_UNREL_N: rc = cli_parse_int(C, "--unrelated-items", optarg, 1, 1 << 20, &v); o.n_unrelated = (int)v; break;
        case O_SINKS: o.sinks_mode = optarg; break;
        case O_SOURCE: o.source = optarg; break;
        case O_FILTER: o.filter_path = optarg; break;
        case O_EBATCH: rc = cli_parse_int(C, "--eval-batch", optarg, 1, MODEL_MAX_SEQ, &v); o.eval_batch = (int)v; break;
        case O_FREEZE_EMBD: o.freeze_embeddings = 1; break;
        case O_MAX_ITEMS: rc = cli_parse_int(C, "--max-items", optarg, 1, 1 << 30, &v); o.max_items = (int)v; break;
        case O_MAX_NEW: rc = cli_parse_int(C, "--max-new-tokens", optarg, 0, 1 << 20, &v); o.max_new_tokens = (int)v; break;
        case O_JSON: json = 1; break;
        default: return cli_usage_error(C, "unknown or incomplete option '%s'", argv[optind - 1]);
        }
        if (rc)
            return rc;
    }
    if (optind != argc - 1)
        return cli_usage_error(C, "expected one MODEL");
    if (!o.tofu || !o.forget || !out)
        return cli_usage_error(C, "--tofu DIR, --forget SPLIT and -o OUT.json are required");
    o.model = argv[optind];
    tg_set_threads(o.threads);
    cape_err e = {0};
    int *sv = NULL, ns = 0;
    if (attack_parse_steps(steps, "--steps", &sv, &ns, &e))
        return cli_report(&e);
    o.steps = sv;
    o.n_steps = ns;
    o.progress = relearn_progress;
    attack_relearn_result r;
    int rc = attack_relearn_run(&o, &r, &e);
    if (isatty(2))
        fprintf(stderr, "\r\033[K");
    json_t *doc = rc ? NULL : attack_relearn_json(&o, &r);
    if (!rc)
        rc = attack_write_json(out, doc, &e);
    if (!rc) {
        if (json) {
            size_t len;
            char *s = json_emit_string(doc, &len);
            if (s)
                fwrite(s, 1, len, stdout);
            free(s);
        } else {
            attack_relearn_table(stdout, &r);
        }
    }
    json_decref(doc);
    attack_relearn_result_free(&r);
    free(sv);
    return rc ? cli_report(&e) : 0;
}

/* ---- the options quantize and extract share ---- */

typedef struct {
    const char *model, *tofu, *forget, *out, *sinks, *source, *list, *filter;
    int threads, batch, max_items, max_new, json;
} common_args;

static int parse_common(const char *C, int argc, char **argv, const char *list_opt,
                        void (*help)(void), common_args *a)
{
    enum { O_TOFU = 256, O_FORGET, O_LIST, O_SINKS, O_SOURCE, O_EBATCH, O_MAX_ITEMS, O_MAX_NEW,
           O_JSON, O_FILTER };
    const struct option opts[] = {
        {"tofu", 1, 0, O_TOFU},         {"forget", 1, 0, O_FORGET},
        {"output", 1, 0, 'o'},          {list_opt, 1, 0, O_LIST},
        {"sinks", 1, 0, O_SINKS},       {"source", 1, 0, O_SOURCE},
        {"threads", 1, 0, 't'},         {"eval-batch", 1, 0, O_EBATCH},
        {"max-items", 1, 0, O_MAX_ITEMS}, {"max-new-tokens", 1, 0, O_MAX_NEW},
        {"json", 0, 0, O_JSON},         {"filter", 1, 0, O_FILTER},
        {"help", 0, 0, 'h'},            {0, 0, 0, 0}};
    memset(a, 0, sizeof *a);
    a->threads = 1;
    a->batch = 8;
    a->max_new = 200;
    long v;
    int c;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "ht:o:", opts, NULL)) != -1) {
        int rc = 0;
        switch (c) {
        case 'h': help(); return -1;
        case 't': rc = cli_parse_int(C, "--threads", optarg, 1, 256, &v); a->threads = (int)v; break;
        case 'o': a->out = optarg; break;
        case O_TOFU: a->tofu = optarg; break;
        case O_FORGET: a->forget = optarg; break;
        case O_LIST: a->list = optarg; break;
        case O_SINKS: a->sinks = optarg; break;
        case O_SOURCE: a->source = optarg; break;
        case O_FILTER: a->filter = optarg; break;
        case O_EBATCH: rc = cli_parse_int(C, "--eval-batch", optarg, 1, MODEL_MAX_SEQ, &v); a->batch = (int)v; break;
        case O_MAX_ITEMS: rc = cli_parse_int(C, "--max-items", optarg, 1, 1 << 30, &v); a->max_items = (int)v; break;
        case O_MAX_NEW: rc = cli_parse_int(C, "--max-new-tokens", optarg, 1, 1 << 20, &v); a->max_new = (int)v; break;
        case O_JSON: a->json = 1; break;
        default: return cli_usage_error(C, "unknown or incomplete option '%s'", argv[optind - 1]);
        }
        if (rc)
            return rc;
    }
    if (optind != argc - 1)
        return cli_usage_error(C, "expected one MODEL");
    if (!a->tofu || !a->forget || !a->out)
        return cli_usage_error(C, "--tofu DIR, --forget SPLIT and -o OUT.json are required");
    a->model = argv[optind];
    return 0;
}

/* Writes the report, prints it or the table; returns the exit code. */
static int finish(int rc, cape_err *e, const char *out, json_t *doc, int json,
                  void (*table)(FILE *, const void *), const void *res)
{
    if (!rc)
        rc = attack_write_json(out, doc, e);
    if (!rc) {
        if (json) {
            size_t len;
            char *s = json_emit_string(doc, &len);
            if (s)
                fwrite(s, 1, len, stdout);
            free(s);
        } else {
            table(stdout, res);
        }
    }
    json_decref(doc);
    return rc ? cli_report(e) : 0;
}

/* ---- quantize ---- */

static void quantize_help(void)
{
    printf("usage: cape unlearn attack quantize MODEL --tofu DIR --forget forgetNN -o OUT.json\n"
           "                                   [options]\n"
           "\n"
           "The quantisation attack: MODEL's weights rounded to each type (cape quantize)\n"
           "and the forget probability, ROUGE-L recall and truth ratio measured again, beside\n"
           "the model as given (docs/UNLEARN.md, \"Attacks\").\n"
           "\n"
           "options:\n"
           "  --tofu DIR, --forget SPLIT, -o FILE   data and the JSON report\n"
           "  --types LIST          weight types (q8_0,q4_0,q4_k)\n"
           "  --sinks MODE, --source NAME   a sink model's evaluation mode\n"
           "  --filter FILTER       evaluate behind a cape filter for the forget split\n"
           "  -t, --threads N, --eval-batch B, --max-items N, --max-new-tokens N, --json\n");
}

static void quantize_table(FILE *fp, const void *r)
{
    attack_quantize_table(fp, r);
}

static int cmd_attack_quantize(int argc, char **argv)
{
    const char *C = "unlearn attack quantize";
    common_args a;
    int rc = parse_common(C, argc, argv, "types", quantize_help, &a);
    if (rc)
        return rc < 0 ? 0 : rc;
    const char *types[16];
    int nt = 0;
    char buf[256];
    if (a.list) {
        snprintf(buf, sizeof buf, "%s", a.list);
        for (char *sv, *t = strtok_r(buf, ",", &sv); t; t = strtok_r(NULL, ",", &sv)) {
            if (nt == 16)
                return cli_usage_error(C, "--types: at most 16");
            types[nt++] = t;
        }
        if (!nt)
            return cli_usage_error(C, "--types: an empty list");
    }
    attack_quantize_opts o = {.model = a.model, .tofu = a.tofu, .forget = a.forget,
                              .types = a.list ? types : NULL, .n_types = nt,
                              .requantize = attack_requantize_builtin, .sinks_mode = a.sinks,
                              .source = a.source, .threads = a.threads, .eval_batch = a.batch,
                              .max_items = a.max_items, .max_new_tokens = a.max_new,
                              .filter_path = a.filter};
    cape_err e = {0};
    attack_quantize_result r;
    rc = attack_quantize_run(&o, &r, &e);
    rc = finish(rc, &e, a.out, rc ? NULL : attack_quantize_json(&o, &r), a.json, quantize_table,
                &r);
    attack_quantize_result_free(&r);
    return rc;
}

/* ---- extract ---- */

static void extract_help(void)
{
    printf("usage: cape unlearn attack extract MODEL --tofu DIR --forget forgetNN -o OUT.json\n"
           "                                  [options]\n"
           "\n"
           "Prefix extraction: MODEL continues greedily from each forget question and from\n"
           "growing prefixes of its answer's tokens; per prefix the share of answers\n"
           "reproduced exactly and the ROUGE-L recall of the rest; per answer the extraction\n"
           "strength 1 - (shortest extracting prefix) / (answer tokens) (docs/UNLEARN.md,\n"
           "\"Attacks\").\n"
           "\n"
           "options:\n"
           "  --tofu DIR, --forget SPLIT, -o FILE   data and the JSON report\n"
           "  --prefixes LIST       shares of the answer's tokens (0,0.25,0.5,0.75)\n"
           "  --sinks MODE, --source NAME   a sink model's evaluation mode\n"
           "  --filter FILTER       behind a cape filter: a prompt or continuation it blocks\n"
           "                        extracts nothing\n"
           "  -t, --threads N, --eval-batch B, --max-items N, --max-new-tokens N, --json\n");
}

static void extract_table(FILE *fp, const void *r)
{
    attack_extract_table(fp, r);
}

static int cmd_attack_extract(int argc, char **argv)
{
    const char *C = "unlearn attack extract";
    common_args a;
    int rc = parse_common(C, argc, argv, "prefixes", extract_help, &a);
    if (rc)
        return rc < 0 ? 0 : rc;
    double pf[ATTACK_MAX_PREFIX];
    int np = 0;
    if (a.list) {
        const char *p = a.list;
        while (1) {
            char *end;
            double x = strtod(p, &end);
            if (end == p || (*end && *end != ',') || np == ATTACK_MAX_PREFIX)
                return cli_usage_error(C, "--prefixes: '%s' is not a comma list of at most %d "
                                       "shares", a.list, ATTACK_MAX_PREFIX);
            pf[np++] = x;
            if (!*end)
                break;
            p = end + 1;
        }
    }
    attack_extract_opts o = {.model = a.model, .tofu = a.tofu, .forget = a.forget,
                             .prefixes = a.list ? pf : NULL, .n_prefixes = np,
                             .sinks_mode = a.sinks, .source = a.source, .threads = a.threads,
                             .eval_batch = a.batch, .max_items = a.max_items,
                             .max_new_tokens = a.max_new, .filter_path = a.filter};
    cape_err e = {0};
    attack_extract_result r;
    rc = attack_extract_run(&o, &r, &e);
    rc = finish(rc, &e, a.out, rc ? NULL : attack_extract_json(&o, &r), a.json, extract_table,
                &r);
    attack_extract_result_free(&r);
    return rc;
}

/* ---- gcg ---- */

static void gcg_help(void)
{
    printf("usage: cape unlearn attack gcg MODEL --tofu DIR --forget forgetNN -o OUT.json\n"
           "                              [options]\n"
           "\n"
           "The Adversarial Compression Ratio of forget answers: prompts found by greedy\n"
           "coordinate gradient (GCG, through the trainer's backward) for ascending lengths\n"
           "below the answer's; the ACR is answer tokens / the shortest prompt that elicits\n"
           "the answer exactly under greedy decoding (above 1: memorised) (docs/UNLEARN.md,\n"
           "\"Attacks\"). MODEL is a model cape train wrote, or any GGUF cape train --init\n"
           "fine-tunes (llama, qwen2, qwen3, gemma3).\n"
           "\n"
           "options:\n"
           "  --tofu DIR, --forget SPLIT, -o FILE   data and the JSON report\n"
           "  --max-items N     forget rows attacked, the first ones (10)\n"
           "  --max-tokens N    the target: the answer's first N tokens (32)\n"
           "  --iters N         GCG iterations per prompt length (40)\n"
           "  --topk K          candidate tokens per position (32)\n"
           "  --cands B         candidates evaluated per iteration (32)\n"
           "  --seed N          initial prompts and candidate draws (1)\n"
           "  -t, --threads N   threads (1)\n"
           "  --source NAME     a sink model: that source's sinks on (default: all off)\n"
           "  --sinks MODE      a sink model: off (every sink off, the default) or own\n"
           "                    (each row with its author's sinks; a switched-off author\n"
           "                    keeps the backbone only)\n"
           "  --filter FILTER   behind a cape filter: a target its output filter blocks is\n"
           "                    not attacked (counted as blocked), a prompt its input filter\n"
           "                    blocks does not count\n"
           "  --json            print the report instead of the table\n");
}

static void gcg_table(FILE *fp, const void *r)
{
    attack_gcg_table(fp, r);
}

static int cmd_attack_gcg(int argc, char **argv)
{
    enum { O_TOFU = 256, O_FORGET, O_MAX_ITEMS, O_MAX_TOK, O_ITERS, O_TOPK, O_CANDS, O_SEED,
           O_SOURCE, O_JSON, O_FILTER, O_SINKS };
    static const struct option opts[] = {
        {"tofu", 1, 0, O_TOFU},       {"forget", 1, 0, O_FORGET},   {"output", 1, 0, 'o'},
        {"filter", 1, 0, O_FILTER},   {"threads", 1, 0, 't'},       {"sinks", 1, 0, O_SINKS},
        {"max-items", 1, 0, O_MAX_ITEMS}, {"max-tokens", 1, 0, O_MAX_TOK},
        {"iters", 1, 0, O_ITERS},     {"topk", 1, 0, O_TOPK},       {"cands", 1, 0, O_CANDS},
        {"seed", 1, 0, O_SEED},       {"source", 1, 0, O_SOURCE},   {"json", 0, 0, O_JSON},
        {"help", 0, 0, 'h'},          {0, 0, 0, 0}};
    const char *C = "unlearn attack gcg", *out = NULL;
    attack_gcg_opts o;
    attack_gcg_defaults(&o);
    long v;
    int json = 0, threads = 1, c;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "ho:t:", opts, NULL)) != -1) {
        int rc = 0;
        switch (c) {
        case 'h': gcg_help(); return 0;
        case 't': rc = cli_parse_int(C, "--threads", optarg, 1, 256, &v); threads = (int)v; break;
        case 'o': out = optarg; break;
        case O_TOFU: o.tofu = optarg; break;
        case O_FORGET: o.forget = optarg; break;
        case O_MAX_ITEMS: rc = cli_parse_int(C, "--max-items", optarg, 1, 1 << 20, &v); o.max_items = (int)v; break;
        case O_MAX_TOK: rc = cli_parse_int(C, "--max-tokens", optarg, 2, 4096, &v); o.max_tokens = (int)v; break;
        case O_ITERS: rc = cli_parse_int(C, "--iters", optarg, 0, 1 << 20, &v); o.iters = (int)v; break;
        case O_TOPK: rc = cli_parse_int(C, "--topk", optarg, 1, 1 << 20, &v); o.topk = (int)v; break;
        case O_CANDS: rc = cli_parse_int(C, "--cands", optarg, 1, 4096, &v); o.cands = (int)v; break;
        case O_SEED: rc = cli_parse_int(C, "--seed", optarg, 0, 0x7fffffff, &v); o.seed = (uint64_t)v; break;
        case O_SOURCE: o.source = optarg; break;
        case O_FILTER: o.filter_path = optarg; break;
        case O_SINKS:
            if (strcmp(optarg, "own") && strcmp(optarg, "off"))
                return cli_usage_error(C, "--sinks: unknown mode '%s' (off, own)", optarg);
            o.own = !strcmp(optarg, "own");
            break;
        case O_JSON: json = 1; break;
        default: return cli_usage_error(C, "unknown or incomplete option '%s'", argv[optind - 1]);
        }
        if (rc)
            return rc;
    }
    if (optind != argc - 1)
        return cli_usage_error(C, "expected one MODEL");
    if (!o.tofu || !o.forget || !out)
        return cli_usage_error(C, "--tofu DIR, --forget SPLIT and -o OUT.json are required");
    o.model = argv[optind];
    tg_set_threads(threads);
    cape_err e = {0};
    attack_gcg_result r;
    int rc = attack_gcg_run(&o, &r, &e);
    rc = finish(rc, &e, out, rc ? NULL : attack_gcg_json(&o, &r), json, gcg_table, &r);
    attack_gcg_result_free(&r);
    return rc;
}

static const cli_command ATTACKS[] = {
    /* {"name", cmd_attack_name, "summary"}, one line per attack */
    {"relearn", cmd_attack_relearn, "fine-tune on half the forget facts, measure the other half"},
    {"quantize", cmd_attack_quantize, "round the weights (q8_0, q4_0, q4_k), measure again"},
    {"extract", cmd_attack_extract, "greedy extraction from growing prefixes of the answers"},
    {"gcg", cmd_attack_gcg, "adversarial compression ratio with GCG prompts"},
    {"icl", cmd_unlearn_attack_icl, "in-context reintroduction of forgotten facts (echo, spill-over, composition)"},
    {NULL, NULL, NULL},
};

static void help(FILE *out)
{
    fprintf(out, "usage: cape unlearn attack <attack> MODEL [options]\n\nattacks:\n");
    for (int i = 0; ATTACKS[i].name; i++)
        fprintf(out, "  %-9s %s\n", ATTACKS[i].name, ATTACKS[i].summary);
    fprintf(out, "\n'cape unlearn attack <attack> --help' explains each (docs/UNLEARN.md, "
                 "\"Attacks\").\n");
}

int cmd_unlearn_attack(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        help(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    for (int i = 0; ATTACKS[i].name; i++)
        if (!strcmp(argv[1], ATTACKS[i].name))
            return ATTACKS[i].run(argc - 1, argv + 1);
    char list[256] = "";
    for (int i = 0; ATTACKS[i].name; i++)
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "",
                 ATTACKS[i].name);
    return cli_usage_error("unlearn attack", "unknown attack '%s' (the attacks are %s)", argv[1],
                           list);
}
