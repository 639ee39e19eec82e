/* cape unlearn attack icl: in-context reintroduction of forgotten facts
 * (the UnUnlearning test; docs/UNLEARN.md, "In-context reintroduction"). */
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "unlearn/icl.h"

static void help(void)
{
    printf("usage: cape unlearn attack icl MODEL --tofu DIR --forget forgetNN [-o OUT.json]\n"
           "                              [options]\n"
           "\n"
           "Puts facts of the forgotten authors before their questions and measures how\n"
           "much of the answer comes back: TOFU probability, truth ratio (max(0, 1 - TR))\n"
           "and ROUGE-L recall of the greedy answer, for each k, under three conditions:\n"
           "echo (the asked fact in the context), spill-over (k other facts of the author)\n"
           "and composition (a retained author's question asked about the forgotten one,\n"
           "with the alias in the context). A copying probe (key = value lists, asked\n"
           "as \"KEY =\" and as a question) runs first; a model that fails both forms is\n"
           "marked. Reintroduction capacity (k minus\n"
           "k = 0) and residual knowledge (spill-over minus the oracle's) come with\n"
           "bootstrap intervals.\n"
           "\n"
           "options:\n"
           "  --tofu DIR           TOFU data (forgetNN_perturbed.json, retain_perturbed.json)\n"
           "  --forget SPLIT       forget01 | forget05 | forget10\n"
           "  --k LIST             facts in the context (0,1,2,4,8,16; each 0..16)\n"
           "  --oracle-model FILE  the retain-only model: residual knowledge\n"
           "  --oracle-run FILE    instead, this command's JSON of a run on the retain-only\n"
           "                       model with the same settings (its per-item scores)\n"
           "  -o, --output FILE    the JSON (written atomically)\n"
           "  --filter FILTER      a cape filter: inputs it blocks get the refusal's scores,\n"
           "                       generations it blocks become the refusal\n"
           "  --facts KIND         paraphrase (default) | answer: the text of a fact\n"
           "  --per-author N       questions per author and condition (all 20)\n"
           "  --max-new-tokens N   greedy tokens per answer (64)\n"
           "  --batch B            sequences scored and generated at once (8)\n"
           "  -t, --threads N      threads of the matrix products (1)\n"
           "  --bootstrap B        resamples (1000)\n"
           "  --seed S             fact order, probe lists, bootstrap (1)\n"
           "  --copy-min X         probe copy rate (better form) that counts as copying (0.5)\n"
           "  --template T         auto | cape | plain | a text with {question}\n"
           "  --sinks MODE, --source NAME   sink models, as in cape unlearn eval\n"
           "  --json               print the JSON instead of the table\n"
           "  -h, --help           this help\n");
}

static int parse_ks(const char *s, int *ks, int *n)
{
    *n = 0;
    const char *p = s;
    while (*p) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || v < 0 || v > 16 || *n >= ICL_MAX_K || (*end && *end != ','))
            return -1;
        ks[(*n)++] = (int)v;
        p = *end ? end + 1 : end;
        if (*end == ',' && !*p)
            return -1;
    }
    return *n ? 0 : -1;
}

static void fmt(char *b, size_t n, const json_t *v)
{
    if (json_is_number(v))
        snprintf(b, n, "%.4f", json_number_value(v));
    else
        snprintf(b, n, "-");
}

static void print_table(const json_t *doc)
{
    const json_t *models = json_object_get(doc, "models");
    const char *key;
    json_t *mo;
    json_object_foreach((json_t *)models, key, mo)
    {
        const json_t *pr = json_object_get(mo, "copy_probe");
        char em[32];
        fmt(em, sizeof em, json_object_get(pr, "exact_match"));
        printf("%s: copying probe copy rate %s (%s)\n", key, em,
               json_is_true(json_object_get(pr, "copies")) ? "copies"
                                                           : "FAILS: no in-context learning");
        printf("  %-12s %3s %5s %8s %8s %8s %8s\n", "condition", "k", "n", "not_fit", "prob",
               "truth", "rouge");
        for (int c = 0; c < ICL_NCOND; c++) {
            size_t i;
            json_t *x;
            json_array_foreach(json_object_get(json_object_get(mo, "curves"), icl_cond_name[c]), i, x)
            {
                char p[32], t[32], r[32];
                fmt(p, sizeof p, json_object_get(x, "prob"));
                fmt(t, sizeof t, json_object_get(x, "truth_ratio"));
                fmt(r, sizeof r, json_object_get(x, "rouge"));
                printf("  %-12s %3lld %5lld %8lld %8s %8s %8s\n", icl_cond_name[c],
                       (long long)json_integer_value(json_object_get(x, "k")),
                       (long long)json_integer_value(json_object_get(x, "n")),
                       (long long)json_integer_value(json_object_get(x, "not_fit")), p, t, r);
            }
        }
        const json_t *re = json_object_get(mo, "reintroduction_capacity");
        if (json_is_object(re)) {
            printf("  reintroduction capacity (k minus k = 0, ROUGE-L recall, 95%% bootstrap):\n");
            for (int c = 0; c < ICL_NCOND; c++) {
                size_t i;
                json_t *x;
                json_array_foreach(json_object_get(re, icl_cond_name[c]), i, x)
                {
                    const json_t *r = json_object_get(x, "rouge");
                    char m[32], lo[32], hi[32];
                    fmt(m, sizeof m, json_object_get(r, "mean"));
                    fmt(lo, sizeof lo, json_object_get(r, "lo"));
                    fmt(hi, sizeof hi, json_object_get(r, "hi"));
                    printf("  %-12s k=%-3lld %s [%s, %s]\n", icl_cond_name[c],
                           (long long)json_integer_value(json_object_get(x, "k")), m, lo, hi);
                }
            }
        }
    }
    const json_t *rk = json_object_get(doc, "residual_knowledge");
    if (json_is_array(rk)) {
        printf("residual knowledge (spill-over, model minus oracle, 95%% bootstrap):\n");
        printf("  %3s %28s %28s\n", "k", "prob", "rouge");
        size_t i;
        json_t *x;
        json_array_foreach(rk, i, x)
        {
            char s[2][128];
            for (int m = 0; m < 2; m++) {
                const json_t *r = json_object_get(x, m ? "rouge" : "prob");
                char a[32], b[32], c[32];
                fmt(a, sizeof a, json_object_get(r, "mean"));
                fmt(b, sizeof b, json_object_get(r, "lo"));
                fmt(c, sizeof c, json_object_get(r, "hi"));
                snprintf(s[m], sizeof s[m], "%s [%s, %s]", a, b, c);
            }
            printf("  %3lld %28s %28s\n", (long long)json_integer_value(json_object_get(x, "k")),
                   s[0], s[1]);
        }
    }
    size_t i;
    json_t *w;
    json_array_foreach(json_object_get(doc, "warnings"), i, w)
        fprintf(stderr, "cape unlearn attack icl: %s\n", json_string_value(w));
}

int cmd_unlearn_attack_icl(int argc, char **argv)
{
    enum { O_TOFU = 256, O_FORGET, O_K, O_ORACLE, O_FILTER, O_FACTS, O_PER, O_MAXNEW, O_BATCH,
           O_BOOT, O_SEED, O_COPY, O_TEMPLATE, O_SINKS, O_SOURCE, O_JSON, O_ORUN };
    static const struct option opts[] = {
        {"tofu", 1, 0, O_TOFU},       {"forget", 1, 0, O_FORGET},   {"k", 1, 0, O_K},
        {"oracle-model", 1, 0, O_ORACLE}, {"oracle-run", 1, 0, O_ORUN}, {"output", 1, 0, 'o'},    {"filter", 1, 0, O_FILTER},
        {"facts", 1, 0, O_FACTS},     {"per-author", 1, 0, O_PER},  {"max-new-tokens", 1, 0, O_MAXNEW},
        {"batch", 1, 0, O_BATCH},     {"bootstrap", 1, 0, O_BOOT},  {"seed", 1, 0, O_SEED},
        {"copy-min", 1, 0, O_COPY},   {"template", 1, 0, O_TEMPLATE}, {"sinks", 1, 0, O_SINKS},
        {"source", 1, 0, O_SOURCE},   {"json", 0, 0, O_JSON},       {"threads", 1, 0, 't'},      {"help", 0, 0, 'h'},
        {0, 0, 0, 0}};
    const char *cmd = "unlearn attack icl";
    int ks[ICL_MAX_K] = {0, 1, 2, 4, 8, 16}, json = 0, c;
    icl_opts o = {.ks = ks, .n_k = 6, .max_new_tokens = 64, .batch = 8, .boot = 1000, .seed = 1,
                  .copy_min = 0.5};
    long per = 0, maxnew = 64, batch = 8, boot = 1000, seed = 1, threads = 1;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "ht:o:", opts, NULL)) != -1) {
        int rc = 0;
        switch (c) {
        case 'h': help(); return 0;
        case 'o': o.out_path = optarg; break;
        case 't': rc = cli_parse_int(cmd, "--threads", optarg, 1, 256, &threads); break;
        case O_TOFU: o.tofu_dir = optarg; break;
        case O_FORGET: o.forget = optarg; break;
        case O_K:
            if (parse_ks(optarg, ks, &o.n_k))
                return cli_usage_error(cmd, "--k expects a comma-separated list of 0..16, got '%s'",
                                       optarg);
            break;
        case O_ORACLE: o.oracle_path = optarg; break;
        case O_ORUN: o.oracle_run = optarg; break;
        case O_FILTER: o.filter_path = optarg; break;
        case O_FACTS:
            if (strcmp(optarg, "paraphrase") && strcmp(optarg, "answer"))
                return cli_usage_error(cmd, "--facts is paraphrase or answer, not '%s'", optarg);
            o.use_answers = !strcmp(optarg, "answer");
            break;
        case O_PER: rc = cli_parse_int(cmd, "--per-author", optarg, 1, 20, &per); break;
        case O_MAXNEW: rc = cli_parse_int(cmd, "--max-new-tokens", optarg, 0, 4096, &maxnew); break;
        case O_BATCH: rc = cli_parse_int(cmd, "--batch", optarg, 1, MODEL_MAX_SEQ, &batch); break;
        case O_BOOT: rc = cli_parse_int(cmd, "--bootstrap", optarg, 0, 1000000, &boot); break;
        case O_SEED: rc = cli_parse_int(cmd, "--seed", optarg, 0, 0x7fffffffffffffffL, &seed); break;
        case O_COPY:
            rc = cli_parse_double(cmd, "--copy-min", optarg, &o.copy_min);
            if (!rc && !(o.copy_min >= 0 && o.copy_min <= 1))
                rc = cli_usage_error(cmd, "--copy-min must be in [0, 1]");
            break;
        case O_TEMPLATE: o.template = optarg; break;
        case O_SINKS: o.sinks_mode = optarg; break;
        case O_SOURCE: o.source = optarg; break;
        case O_JSON: json = 1; break;
        default: return cli_usage_error(cmd, "unknown or incomplete option '%s'", argv[optind - 1]);
        }
        if (rc)
            return rc;
    }
    if (optind != argc - 1)
        return cli_usage_error(cmd, "expected one MODEL");
    if (!o.tofu_dir || !o.forget)
        return cli_usage_error(cmd, "--tofu DIR and --forget forgetNN are required");
    if (o.oracle_path && o.oracle_run)
        return cli_usage_error(cmd, "--oracle-model and --oracle-run are two ways to give the "
                               "oracle: one of them");
    o.model_path = argv[optind];
    o.per_author = (int)per, o.max_new_tokens = (int)maxnew, o.batch = (int)batch;
    o.boot = (int)boot, o.seed = (uint64_t)seed, o.threads = (int)threads;
    cli_progress bar;
    cli_progress_init(&bar, "icl");
    o.progress = cli_progress_cb;
    o.progress_user = &bar;
    cape_err e = {0};
    json_t *doc = NULL;
    if (icl_run(&o, &doc, &e))
        return cli_report(&e);
    if (json) {
        char *s = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17));
        printf("%s\n", s ? s : "null");
        free(s);
    } else {
        print_table(doc);
    }
    json_decref(doc);
    return 0;
}
