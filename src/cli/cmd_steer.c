/* cape steer: build a steering direction, apply it, evaluate it. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/file.h"
#include "base/json.h"
#include "base/text.h"
#include "cli/cli.h"
#include "model/model.h"
#include "report/svg.h"
#include "tensor/matmul.h"
#include "steer/apply.h"
#include "steer/build.h"
#include "steer/direction.h"
#include "steer/mceval.h"
#include "steer/steer_eval.h"
#include "steer/prompts.h"
#include "steer/tqa.h"

static void help(void)
{
    printf(
        "usage: cape steer build MODEL (--pos FILE --neg FILE | --truthfulqa) -o OUT.gguf [options]\n"
        "       cape steer apply MODEL --cvec FILE -p PROMPT [options]\n"
        "       cape steer eval  MODEL --cvec FILE [options]\n"
        "\n"
        "build   a direction per block from contrastive prompts: difference of means (unit\n"
        "        norm) or first principal component of paired differences (sign fixed by\n"
        "        the labels). The block is chosen by held-out linear-probe accuracy, or is\n"
        "        the paper's quarter depth, or is given. Writes a llama.cpp control-vector\n"
        "        GGUF: direction.N is added after block N (0-based), as llama.cpp applies it.\n"
        "  --pos FILE, --neg FILE   one prompt per line; pairs when the counts are equal\n"
        "  --truthfulqa [CSV]  pairs from TruthfulQA's build split (question + best answer\n"
        "                      vs question + first incorrect answer)\n"
        "  --method M          mean | pca | pca-centred (mean)\n"
        "  --layer L           probe | quarter | a block number (probe); every rule picks\n"
        "                      among blocks 1..L-1, the blocks a control vector holds\n"
        "  --all-layers        store the direction of every block, not only the chosen one\n"
        "  --holdout F         fraction held out for the probe (0.3)\n"
        "  --shuffles N        the probe's chance level: the same split and fits with the\n"
        "                      labels shuffled (within pairs), N times; mean and 95th\n"
        "                      percentile shown beside each block's accuracy (20; 0: skip)\n"
        "\n"
        "apply   generate with the direction added (also: cape run --steer FILE)\n"
        "  --cvec FILE         control vector (llama.cpp or cape)\n"
        "  --scale S           multiplier of the unit direction (1)\n"
        "  --relative          the scale is a fraction of the block's mean residual-stream\n"
        "                      norm (stored by build), so one scale fits any model\n"
        "  --layers A-B        blocks to steer (every block the file has)\n"
        "  --last-only         add from the last prompt token on (the paper's variant)\n"
        "                      instead of at every position\n"
        "  --gate              the paper's cosine gate: strength 3 / 1.5 / 0.5 / 0 for a\n"
        "                      prompt cosine < -0.1 / < 0.1 / < 0.3 / otherwise\n"
        "  -p, --prompt TEXT   prompt; -n N tokens (64); --temp T (0 = greedy); --seed S\n"
        "  --compare           print the unsteered continuation too\n"
        "\n"
        "eval    TruthfulQA MC1 and MC2 by log-likelihood with the standard QA prompt, on\n"
        "        the split not used by build. The held-out questions are halved: the sweep\n"
        "        over blocks and scales runs on the first half, and the best setting (by\n"
        "        MC2) is reported on the second half against the unsteered model, with\n"
        "        bootstrap intervals and the fractions of wrong answers made right and\n"
        "        right answers made wrong. Also the paper's own measure: the fraction of\n"
        "        greedy continuations of its prompts that change (a change is not a fix).\n"
        "  --scales LIST       comma-separated scales to sweep (1,2,4,8; with --relative\n"
        "                      0.025,0.05,0.1,0.2)\n"
        "  --dev N             sweep on at most N questions of the dev half (all)\n"
        "  --select M          mc2 | mc1: the dev metric that picks the best setting (mc2)\n"
        "  --add-no-comment    count \"I have no comment.\" as a true answer, as the\n"
        "                      benchmark's own scorer does (lm-eval and the Open LLM\n"
        "                      Leaderboard do not; a model pushed towards refusing then\n"
        "                      gains MC2 without knowing more)\n"
        "  --relative          as for apply\n"
        "  --layers LIST       blocks to sweep (the block build chose and the quarter depth;\n"
        "                      every block the file has when it does not say)\n"
        "  --last-only, --gate as for apply\n"
        "  --limit N           use at most N held-out questions\n"
        "  --changed N         paper prompts for the changed-continuation measure (10; 0: skip)\n"
        "  --boot N            bootstrap resamples (2000)\n"
        "  --control-seed N    seed of the control: the same sweep and dev selection with a\n"
        "                      random direction of the same norm per block, reported on\n"
        "                      test beside the direction with the paired interval of the\n"
        "                      difference; a gain counts only where it beats it (1)\n"
        "  --no-control        skip the control (it costs one more sweep and one more test\n"
        "                      run: about twice the time)\n"
        "  --svg FILE          draw MC1 and MC2 against scale, one line per block\n"
        "  --save-json FILE    also write the --json result to FILE (text stays on stdout)\n"
        "\n"
        "common: --split-seed S (0) and --split-frac F (0.5) fix TruthfulQA's build/eval\n"
        "split; --exact multiplies quantised weights in f32 (slower; free of the int8\n"
        "rounding that depends on how tokens are batched); -t K threads (2); -c N context\n"
        "length (the model's, at most 4096); --parallel B scores B TruthfulQA answers at\n"
        "once in a batch of sequences (1); --json; -o FILE (atomic).\n");
}

typedef struct {
    const char *sub, *model, *pos, *neg, *tqa, *cvec, *prompt, *output, *svg, *layer_arg;
    const char *scales, *layers;
    int tqa_on, relative, add_no_comment, select_mc1, method, all_layers, last_only, gate, json, threads, n_predict, compare, limit;
    int changed, boot, n_ctx, dev, no_control, shuffles, parallel;
    long control_seed;
    const char *save_json;
    double holdout, scale, temp, split_frac;
    long seed, split_seed;
} steer_args;

static int parse_method(const char *s, int *m)
{
    if (strcmp(s, "mean") == 0)
        *m = DIR_MEAN;
    else if (strcmp(s, "pca") == 0)
        *m = DIR_PCA;
    else if (strcmp(s, "pca-centred") == 0 || strcmp(s, "pca-centered") == 0)
        *m = DIR_PCA_CENTRED;
    else
        return cli_usage_error("steer", "--method expects mean, pca or pca-centred, got '%s'", s);
    return 0;
}

static int parse(int argc, char **argv, steer_args *a)
{
    enum { O_POS = 256, O_NEG, O_TQA, O_METHOD, O_LAYER, O_ALL, O_HOLD, O_CVEC, O_SCALE, O_LAYERS,
           O_LAST, O_GATE, O_TEMP, O_SEED, O_COMPARE, O_SCALES, O_LIMIT, O_CHANGED, O_BOOT, O_SVG,
           O_SSEED, O_SFRAC, O_JSON, O_SAVE, O_EXACT, O_REL, O_DEV, O_NOCOM, O_SELECT, O_CSEED, O_NOCTL, O_SHUF };
    static const struct option opts[] = {
        {"pos", 1, 0, O_POS}, {"neg", 1, 0, O_NEG}, {"truthfulqa", 2, 0, O_TQA},
        {"method", 1, 0, O_METHOD}, {"layer", 1, 0, O_LAYER}, {"all-layers", 0, 0, O_ALL},
        {"holdout", 1, 0, O_HOLD}, {"cvec", 1, 0, O_CVEC}, {"scale", 1, 0, O_SCALE},
        {"layers", 1, 0, O_LAYERS}, {"last-only", 0, 0, O_LAST}, {"gate", 0, 0, O_GATE},
        {"temp", 1, 0, O_TEMP}, {"seed", 1, 0, O_SEED}, {"compare", 0, 0, O_COMPARE},
        {"scales", 1, 0, O_SCALES}, {"limit", 1, 0, O_LIMIT}, {"changed", 1, 0, O_CHANGED},
        {"boot", 1, 0, O_BOOT}, {"svg", 1, 0, O_SVG}, {"split-seed", 1, 0, O_SSEED},
        {"split-frac", 1, 0, O_SFRAC}, {"json", 0, 0, O_JSON}, {"save-json", 1, 0, O_SAVE},
        {"exact", 0, 0, O_EXACT}, {"relative", 0, 0, O_REL}, {"dev", 1, 0, O_DEV},
        {"add-no-comment", 0, 0, O_NOCOM}, {"select", 1, 0, O_SELECT}, {"control-seed", 1, 0, O_CSEED},
        {"no-control", 0, 0, O_NOCTL}, {"shuffles", 1, 0, O_SHUF}, {"prompt", 1, 0, 'p'},
        {"parallel", 1, 0, 'P'}, {"n-predict", 1, 0, 'n'}, {"threads", 1, 0, 't'}, {"ctx", 1, 0, 'c'}, {"output", 1, 0, 'o'},
        {"help", 0, 0, 'h'}, {0, 0, 0, 0}};
    const char *cmd = "steer";
    long v;
    int c, rc = 0;
    opterr = 0;
    optind = 1;
    while (rc == 0 && (c = getopt_long(argc, argv, "hp:n:t:o:c:", opts, NULL)) != -1) {
        switch (c) {
        case 'h': help(); return -1;
        case O_POS: a->pos = optarg; break;
        case O_NEG: a->neg = optarg; break;
        case O_TQA:
            a->tqa_on = 1;
            if (optarg)
                a->tqa = optarg;
            else if (optind < argc && strstr(argv[optind], ".csv"))
                a->tqa = argv[optind++];
            break;
        case O_METHOD: rc = parse_method(optarg, &a->method); break;
        case O_LAYER: a->layer_arg = optarg; break;
        case O_ALL: a->all_layers = 1; break;
        case O_HOLD:
            rc = cli_parse_double(cmd, "--holdout", optarg, &a->holdout);
            if (!rc && !(a->holdout > 0 && a->holdout < 1))
                rc = cli_usage_error(cmd, "--holdout must lie in (0, 1)");
            break;
        case O_CVEC: a->cvec = optarg; break;
        case O_SCALE: rc = cli_parse_double(cmd, "--scale", optarg, &a->scale); break;
        case O_LAYERS: a->layers = optarg; break;
        case O_LAST: a->last_only = 1; break;
        case O_GATE: a->gate = 1; break;
        case O_TEMP: rc = cli_parse_double(cmd, "--temp", optarg, &a->temp); break;
        case O_SEED: rc = cli_parse_int(cmd, "--seed", optarg, 0, 4294967295L, &a->seed); break;
        case O_COMPARE: a->compare = 1; break;
        case O_SCALES: a->scales = optarg; break;
        case O_LIMIT:
            rc = cli_parse_int(cmd, "--limit", optarg, 1, 100000, &v);
            a->limit = (int)v;
            break;
        case O_CHANGED:
            rc = cli_parse_int(cmd, "--changed", optarg, 0, 100000, &v);
            a->changed = (int)v;
            break;
        case O_BOOT:
            rc = cli_parse_int(cmd, "--boot", optarg, 0, 1000000, &v);
            a->boot = (int)v;
            break;
        case O_SVG: a->svg = optarg; break;
        case O_SSEED:
            rc = cli_parse_int(cmd, "--split-seed", optarg, 0, 4294967295L, &a->split_seed);
            break;
        case O_SFRAC:
            rc = cli_parse_double(cmd, "--split-frac", optarg, &a->split_frac);
            if (!rc && !(a->split_frac > 0 && a->split_frac < 1))
                rc = cli_usage_error(cmd, "--split-frac must lie in (0, 1)");
            break;
        case O_JSON: a->json = 1; break;
        case O_SAVE: a->save_json = optarg; break;
        case O_EXACT: tensor_set_exact(1); break;
        case O_REL: a->relative = 1; break;
        case O_NOCOM: a->add_no_comment = 1; break;
        case O_SELECT:
            if (strcmp(optarg, "mc1") == 0 || strcmp(optarg, "mc2") == 0)
                a->select_mc1 = optarg[2] == '1';
            else
                rc = cli_usage_error(cmd, "--select expects mc1 or mc2, got '%s'", optarg);
            break;
        case O_CSEED:
            rc = cli_parse_int(cmd, "--control-seed", optarg, 0, 4294967295L, &a->control_seed);
            break;
        case O_NOCTL: a->no_control = 1; break;
        case O_SHUF:
            rc = cli_parse_int(cmd, "--shuffles", optarg, 0, 100000, &v);
            a->shuffles = (int)v;
            break;
        case O_DEV:
            rc = cli_parse_int(cmd, "--dev", optarg, 2, 100000, &v);
            a->dev = (int)v;
            break;
        case 'p': a->prompt = optarg; break;
        case 'n':
            rc = cli_parse_int(cmd, "-n", optarg, 1, 1000000, &v);
            a->n_predict = (int)v;
            break;
        case 't':
            rc = cli_parse_int(cmd, "--threads", optarg, 1, 256, &v);
            a->threads = (int)v;
            break;
        case 'P':
            rc = cli_parse_int(cmd, "--parallel", optarg, 1, MODEL_MAX_SEQ, &v);
            a->parallel = (int)v;
            break;
        case 'o': a->output = optarg; break;
        case 'c':
            rc = cli_parse_int(cmd, "--ctx", optarg, 8, 1 << 20, &v);
            a->n_ctx = (int)v;
            break;
        case ':': return cli_usage_error(cmd, "%s needs a value", argv[optind - 1]);
        default: return cli_usage_error(cmd, "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (rc)
        return rc;
    if (optind >= argc)
        return cli_usage_error(cmd, "expected build, apply or eval");
    a->sub = argv[optind++];
    if (strcmp(a->sub, "build") && strcmp(a->sub, "apply") && strcmp(a->sub, "eval"))
        return cli_usage_error(cmd, "unknown subcommand '%s' (build, apply or eval)", a->sub);
    if (optind >= argc)
        return cli_usage_error(cmd, "%s: no MODEL given", a->sub);
    a->model = argv[optind++];
    if (optind < argc)
        return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
    return 0;
}

/* "3-7", "5" or "all" into lo..hi; -1 for "every block". */
static int parse_range(const char *s, int *lo, int *hi)
{
    if (!s || strcmp(s, "all") == 0) {
        *lo = *hi = -1;
        return 0;
    }
    char tail;
    if (sscanf(s, "%d-%d%c", lo, hi, &tail) == 2 && *lo >= 0 && *lo <= *hi)
        return 0;
    if (sscanf(s, "%d%c", lo, &tail) == 1 && *lo >= 0) {
        *hi = *lo;
        return 0;
    }
    return cli_usage_error("steer", "--layers expects A-B or a block number, got '%s'", s);
}

static int parse_list(const char *opt, const char *s, double *v, int max, int *n, int integers)
{
    *n = 0;
    char *copy = strdup(s), *save = NULL;
    if (!copy)
        return CAPE_EFAIL;
    for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        double x;
        if (*n >= max || text_parse_double(t, &x) || (integers && (x < 0 || x != floor(x)))) {
            free(copy);
            return cli_usage_error("steer", "%s expects a comma-separated list of %s, got '%s'",
                                   opt, integers ? "block numbers" : "numbers", s);
        }
        v[(*n)++] = x;
    }
    free(copy);
    if (*n == 0)
        return cli_usage_error("steer", "%s is empty", opt);
    return 0;
}

/* TruthfulQA and its build / eval split. */
typedef struct {
    tqa_set set;
    int *order;
    int nbuild;
} tqa_split_t;

static int load_tqa(const steer_args *a, tqa_split_t *t, cape_err *e)
{
    char def[4096];
    const char *path = a->tqa;
    if (!path) {
        snprintf(def, sizeof def, "%s/truthfulqa/TruthfulQA.csv", cli_data_dir());
        path = def;
    }
    if (tqa_load(path, a->add_no_comment, &t->set, e))
        return e->code;
    t->order = malloc((size_t)t->set.n * sizeof *t->order);
    if (!t->order)
        return err_set(e, CAPE_EFAIL, "out of memory");
    tqa_split(t->set.n, (uint32_t)a->split_seed, t->order);
    t->nbuild = tqa_split_count(t->set.n, a->split_frac);
    return 0;
}

static void free_tqa(tqa_split_t *t)
{
    tqa_free(&t->set);
    free(t->order);
}

typedef struct {
    model *m;
    model_session *s;
} loaded;

static int load_model(const steer_args *a, loaded *L, cape_err *e)
{
    L->m = model_load(a->model, NULL, e);
    if (!L->m)
        return e->code;
    L->s = model_session_new(L->m, &(model_session_opts){.n_threads = a->threads, .n_ctx = a->n_ctx,
                                                         .n_seq = a->parallel},
                             e);
    return L->s ? 0 : e->code;
}

static void unload(loaded *L)
{
    model_session_free(L->s);
    model_free(L->m);
}

static json_t *darr(const double *v, int n)
{
    json_t *j = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(j, json_num(v[i]));
    return j;
}

/* ---- build ---- */

static int run_build(const steer_args *a)
{
    if (!a->output)
        return cli_usage_error("steer", "build: -o OUT.gguf is required");
    if (a->tqa_on == !!(a->pos || a->neg) || (!a->tqa_on && !(a->pos && a->neg)))
        return cli_usage_error("steer", "build: give --pos and --neg, or --truthfulqa");
    sbuild_opts o = {.method = a->method, .rule = LAYER_PROBE, .holdout = a->holdout,
                     .seed = (uint32_t)a->seed, .shuffles = a->shuffles};
    if (a->layer_arg && strcmp(a->layer_arg, "probe") != 0) {
        long v;
        if (strcmp(a->layer_arg, "quarter") == 0)
            o.rule = LAYER_QUARTER;
        else if (cli_parse_int("steer", "--layer", a->layer_arg, 0, 100000, &v))
            return CAPE_EINPUT;
        else {
            o.rule = LAYER_FIXED;
            o.layer = (int)v;
        }
    }
    cape_err e = {0};
    prompt_set P = {0}, N = {0};
    tqa_split_t t = {0};
    loaded L = {0};
    sbuild_result r = {0};
    int rc;
    if (a->tqa_on) {
        if (!(rc = load_tqa(a, &t, &e)))
            rc = prompts_from_tqa(&t.set, t.order, t.nbuild, &P, &N, &e);
    } else if (!(rc = prompts_read(a->pos, &P, &e))) {
        rc = prompts_read(a->neg, &N, &e);
    }
    if (!rc)
        rc = load_model(a, &L, &e);
    if (!rc) {
        cli_progress bar;
        cli_progress_init(&bar, "capture");
        o.progress = cli_progress_cb;
        o.progress_user = &bar;
        rc = sbuild_run(L.s, L.m, P.text, P.n, N.text, N.n, &o, &r, &e);
    }
    cvec cv = {0};
    if (!rc && !(rc = cvec_init(&cv, r.n_layers, r.dim, &e))) {
        for (int l = a->all_layers ? 1 : r.chosen; l < r.n_layers; l++) {
            if (!a->all_layers && l != r.chosen)
                break;
            memcpy(cv.v + (size_t)l * r.dim, r.dir + (size_t)l * r.dim, (size_t)r.dim * sizeof(float));
            cv.present[l] = 1;
        }
        cv.chosen = r.chosen;
        if (!rc)
            rc = cvec_set_norms(&cv, r.resid_norm, r.n_layers, &e);
        if (!rc)
            rc = cvec_save(&cv, a->output, model_cfg(L.m)->arch_name, &e);
    }
    if (!rc) {
        const char *how = o.rule == LAYER_PROBE ? "held-out probe accuracy"
                          : o.rule == LAYER_QUARTER ? "quarter depth (the paper's)"
                                                    : "given";
        if (a->json) {
            json_t *j = json_pack("{s:s,s:s,s:s,s:i,s:i,s:b,s:i,s:s,s:o,s:o}", "cape_version",
                                  CAPE_VERSION, "command", "steer build", "output", a->output,
                                  "positive", r.npos, "negative", r.nneg, "paired", r.paired,
                                  "block", r.chosen, "chosen_by", how, "probe_accuracy",
                                  darr(r.probe_acc, r.n_layers), "residual_norm",
                                  darr(r.resid_norm, r.n_layers));
            if (r.probe_null) {
                json_t *mean = json_array(), *lo = json_array(), *hi = json_array();
                for (int l = 0; l < r.n_layers; l++) {
                    json_array_append_new(mean, json_num(r.probe_null[l].mean));
                    json_array_append_new(lo, json_num(r.probe_null[l].p05));
                    json_array_append_new(hi, json_num(r.probe_null[l].p95));
                }
                json_object_set_new(j, "probe_accuracy_shuffled",
                                    json_pack("{s:i,s:o,s:o,s:o}", "shuffles", a->shuffles,
                                              "mean", mean, "p05", lo, "p95", hi));
            } else {
                json_object_set_new(j, "probe_accuracy_shuffled", json_null());
            }
            rc = json_emit(j, NULL, &e) ? cli_report(&e) : 0;
        } else {
            printf("%d %s prompts vs %d; method %s\n", r.npos, r.paired ? "paired" : "unpaired",
                   r.nneg, a->method == DIR_MEAN ? "difference of means"
                           : a->method == DIR_PCA ? "PCA of paired differences"
                                                  : "centred PCA of paired differences");
            if (r.probe_null)
                printf("%5s %12s %18s %14s\n", "block", "probe acc", "shuffled [p95]",
                       "residual norm");
            else
                printf("%5s %12s %14s\n", "block", "probe acc", "residual norm");
            for (int l = 0; l < r.n_layers; l++) {
                char acc[16], nul[48] = "";
                if (isfinite(r.probe_acc[l]))
                    snprintf(acc, sizeof acc, "%.3f", r.probe_acc[l]);
                else
                    snprintf(acc, sizeof acc, "-");
                if (r.probe_null && isfinite(r.probe_null[l].mean))
                    snprintf(nul, sizeof nul, " %18s", "");
                if (r.probe_null && isfinite(r.probe_null[l].mean))
                    snprintf(nul, sizeof nul, " %11.3f [%.3f]", r.probe_null[l].mean,
                             r.probe_null[l].p95);
                else if (r.probe_null)
                    snprintf(nul, sizeof nul, " %18s", "-");
                printf("%5d %12s%s %14.2f%s\n", l, acc, nul, r.resid_norm[l],
                       l == r.chosen ? "   <- chosen" : "");
            }
            if (r.probe_null)
                printf("shuffled: the same split and fits with the labels shuffled within "
                       "%s, %d times (mean [95th percentile]): chance at this sample size\n",
                       r.paired ? "pairs" : "the prompts", a->shuffles);
            printf("block %d (%s); wrote %s (%s)\n", r.chosen, how, a->output,
                   a->all_layers ? "every block from 1" : "that block only");
        }
    } else {
        rc = cli_report(&e);
    }
    cvec_free(&cv);
    sbuild_free(&r);
    unload(&L);
    free_tqa(&t);
    prompts_free(&P);
    prompts_free(&N);
    return rc;
}

/* ---- apply ---- */

static void print_piece(void *user, const char *piece, int len)
{
    (void)user;
    fwrite(piece, 1, (size_t)len, stdout);
    fflush(stdout);
}

static int run_apply(const steer_args *a)
{
    if (!a->cvec || !a->prompt)
        return cli_usage_error("steer", "apply: --cvec FILE and -p PROMPT are required");
    steer_cfg c = {.scale = (float)a->scale, .last_only = a->last_only, .gate = a->gate,
                   .gate_layer = -1, .relative = a->relative};
    if (parse_range(a->layers, &c.layer_lo, &c.layer_hi))
        return CAPE_EINPUT;
    cape_err e = {0};
    loaded L = {0};
    cvec cv = {0};
    int rc = load_model(a, &L, &e);
    if (!rc)
        rc = cvec_load(a->cvec, model_cfg(L.m)->dim, &cv, &e);
    c.cv = &cv;
    sample_opts so = {.temp = (float)a->temp, .top_k = 40, .top_p = 0.95f,
                      .seed = (uint64_t)a->seed};
    int n = a->n_predict ? a->n_predict : 64;
    double cosv = NAN;
    if (a->json) {
        /* the same generations, collected into one document instead of streamed */
        char *plain = NULL, *steered = NULL;
        if (!rc && a->compare)
            rc = steer_generate(L.s, L.m, a->prompt, NULL, &so, n, 0, NULL, NULL, &plain, NULL,
                                &e);
        if (!rc)
            rc = steer_generate(L.s, L.m, a->prompt, &c, &so, n, 0, NULL, NULL, &steered, &cosv,
                                &e);
        if (!rc) {
            json_t *body = json_pack(
                "{s:s,s:s,s:o,s:f,s:b,s:i,s:i,s:b,s:b,s:i,s:f,s:I}", "model", a->model,
                "cvec", a->cvec, "prompt", json_text(a->prompt), "scale", a->scale, "relative",
                a->relative, "layer_lo", c.layer_lo, "layer_hi", c.layer_hi, "last_only",
                a->last_only, "gate", a->gate, "n_predict", n, "temp", a->temp, "seed",
                (json_int_t)a->seed);
            json_object_set_new(body, "steered", json_text(steered));
            json_object_set_new(body, "unsteered", json_text(plain));
            json_object_set_new(body, "gate_cosine", a->gate ? json_num(cosv) : json_null());
            json_object_set_new(body, "gate_strength",
                                a->gate ? json_num(dir_gate_strength(cosv)) : json_null());
            cli_out out;
            if ((rc = cli_out_open(&out, a->output, 1)) == 0)
                rc = cli_out_close(&out, cli_json_doc("steer apply", NULL, body));
            else
                json_decref(body);
        } else {
            rc = cli_report(&e);
        }
        free(plain);
        free(steered);
        cvec_free(&cv);
        unload(&L);
        return rc;
    }
    if (!rc && a->compare) {
        printf("unsteered: %s", a->prompt);
        rc = steer_generate(L.s, L.m, a->prompt, NULL, &so, n, 0, print_piece, NULL, NULL, NULL,
                            &e);
        printf("\nsteered:   ");
    }
    if (!rc) {
        printf("%s", a->prompt);
        rc = steer_generate(L.s, L.m, a->prompt, &c, &so, n, 0, print_piece, NULL, NULL, &cosv,
                            &e);
        printf("\n");
        if (!rc && a->gate)
            fprintf(stderr, "gate: cosine %+.3f -> strength %.1f\n", cosv,
                    dir_gate_strength(cosv));
    }
    if (rc)
        rc = cli_report(&e);
    cvec_free(&cv);
    unload(&L);
    return rc;
}

/* ---- eval ---- */

static json_t *ci_json(const mceval_ci *c)
{
    return json_pack("{s:o,s:o,s:o}", "value", json_num(c->v), "lo", json_num(c->lo), "hi",
                     json_num(c->hi));
}

static json_t *cmp_json(const mceval_cmp *c)
{
    return json_pack("{s:i,s:o,s:o,s:o,s:o,s:i,s:i,s:o,s:i,s:i,s:o}", "n", c->n, "mc1",
                     ci_json(&c->mc1), "mc2", ci_json(&c->mc2), "delta_mc1", ci_json(&c->d_mc1),
                     "delta_mc2", ci_json(&c->d_mc2), "initially_wrong", c->n_wrong, "made_right",
                     c->n_fixed, "made_right_fraction", ci_json(&c->fixed), "initially_right",
                     c->n_right, "made_wrong", c->n_broken, "made_wrong_fraction",
                     ci_json(&c->broken));
}

/* "0.412 [0.371, 0.455]", or "n/a" where a quantity is undefined. */
static const char *fmt_ci(char *buf, size_t n, const mceval_ci *c, double mult, int sign)
{
    if (!isfinite(c->v)) {
        snprintf(buf, n, "n/a");
        return buf;
    }
    const char *f = sign ? "%+.3f" : "%.3f";
    int k = snprintf(buf, n, f, mult * c->v);
    if (isfinite(c->lo) && isfinite(c->hi) && k > 0 && (size_t)k < n) {
        char lo[24], hi[24];
        snprintf(lo, sizeof lo, f, mult * c->lo);
        snprintf(hi, sizeof hi, f, mult * c->hi);
        snprintf(buf + k, n - (size_t)k, " [%.23s, %.23s]", lo, hi);
    }
    return buf;
}

static void print_cmp(const char *label, const mceval_cmp *c)
{
    char a[96], b[96], d1[96], d2[96];
    printf("%-22s MC1 %s  MC2 %s  dMC1 %s  dMC2 %s\n", label, fmt_ci(a, sizeof a, &c->mc1, 1, 0),
           fmt_ci(b, sizeof b, &c->mc2, 1, 0), fmt_ci(d1, sizeof d1, &c->d_mc1, 1, 1),
           fmt_ci(d2, sizeof d2, &c->d_mc2, 1, 1));
}

static int write_svg(const steer_args *a, const mceval_point *pts, const mceval_point *rnd, int np,
                     const double *layers, int nl, const mceval_cmp *base, cape_err *e)
{
    static const char *colors[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e",
                                   "#8c564b", "#e377c2", "#17becf"};
    svg_plot *p = svg_plot_new("steer", 760, 460);
    if (!p)
        return err_set(e, CAPE_EFAIL, "out of memory");
    int positive = 1;
    for (int k = 0; k < np; k++)
        positive &= pts[k].scale > 0;
    svg_title(p, "TruthfulQA under steering (dev part of the held-out split)");
    svg_axis_x(p,
               a->relative ? "steering scale (fraction of the block's residual norm)"
                           : "steering scale (norm of the added vector)",
               positive ? SVG_LOG10 : SVG_LINEAR, NULL);
    svg_axis_y(p, rnd ? "accuracy (%): MC2 solid, MC1 dashed, random-direction MC2 dotted"
                   : "accuracy (%): MC2 solid, MC1 dashed",
               SVG_LINEAR, NULL);
    svg_hline(p, 100 * base->mc2.v, (svg_style){.color = "#555", .dash = "2 3"}, "unsteered MC2");
    svg_hline(p, 100 * base->mc1.v, (svg_style){.color = "#999", .dash = "6 3"}, "unsteered MC1");
    for (int li = 0; li < nl; li++) {
        double xs[64], m2[64], m2lo[64], m2hi[64], m1[64];
        int n = 0;
        for (int k = 0; k < np && n < 64; k++)
            if (pts[k].layer == (int)layers[li]) {
                xs[n] = pts[k].scale;
                m2[n] = 100 * pts[k].dev.mc2.v;
                m2lo[n] = 100 * pts[k].dev.mc2.lo;
                m2hi[n] = 100 * pts[k].dev.mc2.hi;
                m1[n] = 100 * pts[k].dev.mc1.v;
                n++;
            }
        const char *col = colors[li % 8];
        char lab[64];
        snprintf(lab, sizeof lab, "block %d", (int)layers[li]);
        svg_band(p, xs, m2lo, m2hi, n, col, 0.12, NULL);
        svg_line(p, xs, m2, n, (svg_style){.color = col}, lab);
        svg_scatter(p, xs, m2, n, (svg_style){.color = col, .marker = SVG_MARK_CIRCLE}, NULL, NULL);
        svg_line(p, xs, m1, n, (svg_style){.color = col, .dash = "5 3"}, NULL);
        svg_scatter(p, xs, m1, n, (svg_style){.color = col, .marker = SVG_MARK_SQUARE}, NULL, NULL);
        if (rnd) { /* the control: a random direction of the same norm at this block */
            n = 0;
            for (int k = 0; k < np && n < 64; k++)
                if (rnd[k].layer == (int)layers[li])
                    m2[n++] = 100 * rnd[k].dev.mc2.v;
            snprintf(lab, sizeof lab, "block %d, random direction (MC2)", (int)layers[li]);
            svg_line(p, xs, m2, n, (svg_style){.color = col, .dash = "1 3"}, lab);
        }
    }
    size_t len;
    char *s = svg_render(p, &len);
    svg_plot_free(p);
    if (!s)
        return err_set(e, CAPE_EFAIL, "out of memory");
    int rc = file_write_atomic(a->svg, s, len, e);
    free(s);
    return rc;
}

static void label_stage(void *user, const char *label)
{
    cli_progress_init(user, label);
}

static void print_sweep(const mceval_point *pts, int np, int best)
{
    for (int k = 0; k < np; k++) {
        char lab[64];
        snprintf(lab, sizeof lab, "block %d, scale %g%s", pts[k].layer, pts[k].scale,
                 k == best ? " *" : "");
        print_cmp(lab, &pts[k].dev);
    }
}

static json_t *sweep_json(const mceval_point *pts, int np)
{
    json_t *arr = json_array();
    for (int k = 0; k < np; k++) {
        json_t *pj = cmp_json(&pts[k].dev);
        json_object_set_new(pj, "block", json_integer(pts[k].layer));
        json_object_set_new(pj, "scale", json_real(pts[k].scale));
        json_array_append_new(arr, pj);
    }
    return arr;
}

static json_t *changes_json(const steer_eval_result *r)
{
    json_t *list = json_array();
    for (int i = 0; i < r->nchanges; i++) {
        const steer_eval_change *c = &r->changes[i];
        json_array_append_new(list, json_pack("{s:o,s:o,s:o,s:b}", "prompt", json_text(c->prompt),
                                              "unsteered", json_text(c->unsteered), "steered",
                                              json_text(c->steered), "changed", c->changed));
    }
    return list;
}

static json_t *eval_json(const steer_args *a, const steer_eval_result *r, int nbuild, int nheld)
{
    const mceval_point *best = &r->pts[r->best];
    json_t *j = json_pack(
            "{s:s,s:s,s:s,s:s,s:{s:i,s:i,s:i,s:i},s:b,s:b,s:o,s:o,s:{s:i,s:f,s:o,s:o},s:{s:i,s:i,s:o}}",
            "cape_version", CAPE_VERSION, "command", "steer eval", "model", a->model, "cvec",
            a->cvec, "split", "build", nbuild, "held_out", nheld, "dev", r->ndev, "test", r->ntest,
            "last_only", a->last_only, "gate", a->gate, "dev_unsteered", cmp_json(&r->dev_base),
            "sweep_dev", sweep_json(r->pts, r->np), "best_on_test", "block", best->layer, "scale",
            best->scale, "unsteered", cmp_json(&r->test_base), "steered",
            cmp_json(&r->test_steered), "changed_continuations", "changed", r->nchanged, "prompts",
            r->nchanges, "items", changes_json(r));
    if (r->rpts) {
        const mceval_point *rb = &r->rpts[r->rbest];
        json_object_set_new(
            j, "random_control",
            json_pack("{s:I,s:o,s:{s:i,s:f,s:o,s:o},s:s}", "seed", (json_int_t)a->control_seed,
                      "sweep_dev", sweep_json(r->rpts, r->np), "best_on_test", "block", rb->layer,
                      "scale", rb->scale, "random", cmp_json(&r->test_random),
                      "truth_minus_random", cmp_json(&r->truth_minus_random), "verdict",
                      mceval_verdict_name(r->verdict)));
    } else {
        json_object_set_new(j, "random_control", json_null());
    }
    return j;
}

static void print_eval(const steer_args *a, const steer_eval_result *r, int nbuild, int nheld)
{
    const char *metric = a->select_mc1 ? "MC1" : "MC2";
    const mceval_cmp *ts = &r->test_steered;
    int control = r->rpts != NULL;
    printf("TruthfulQA: %d questions build the direction, %d held out (dev %d, test %d)\n",
           nbuild, nheld, r->ndev, r->ntest);
    printf("steering %s%s\n\nsweep on dev:\n",
           a->last_only ? "from the last prompt token on" : "at every position",
           a->gate ? ", gated by the prompt's cosine" : "");
    print_cmp("unsteered", &r->dev_base);
    print_sweep(r->pts, r->np, r->best);
    if (control) {
        printf("\ncontrol sweep on dev: a random direction of the same norm per block "
               "(seed %ld)\n",
               a->control_seed);
        print_sweep(r->rpts, r->np, r->rbest);
    }
    printf("\nbest on dev (* by %s), reported on test:\n", metric);
    print_cmp("unsteered", &r->test_base);
    print_cmp("steered", ts);
    if (control) {
        char lab[64];
        snprintf(lab, sizeof lab, "random (block %d x%g)", r->rpts[r->rbest].layer,
                 r->rpts[r->rbest].scale);
        print_cmp(lab, &r->test_random);
        char d1[96], d2[96];
        printf("%-22s dMC1 %s  dMC2 %s  (paired)\n", "steered - random",
               fmt_ci(d1, sizeof d1, &r->truth_minus_random.d_mc1, 1, 1),
               fmt_ci(d2, sizeof d2, &r->truth_minus_random.d_mc2, 1, 1));
    }
    char fx[96], br[96];
    printf("MC1: %d of %d wrong answers made right (fraction %s); %d of %d right "
           "answers made wrong (fraction %s)\n",
           ts->n_fixed, ts->n_wrong, fmt_ci(fx, sizeof fx, &ts->fixed, 1, 0), ts->n_broken,
           ts->n_right, fmt_ci(br, sizeof br, &ts->broken, 1, 0));
    if (!control)
        printf("verdict: not judged (--no-control: no random-direction control was run; a "
               "gain counts only where it beats one)\n");
    else if (r->verdict == MCEVAL_GAIN_BEYOND_RANDOM)
        printf("verdict: a %s gain that beats the random direction (both 95%% intervals "
               "above 0)\n",
               metric);
    else if (r->verdict == MCEVAL_GAIN_NOT_BEYOND_RANDOM)
        printf("verdict: no gain that counts: %s rose over the unsteered model, but not "
               "beyond a random direction of the same norm\n",
               metric);
    else
        printf("verdict: no gain: the 95%% interval of steered minus unsteered %s reaches "
               "0\n",
               metric);
    if (r->nchanges)
        printf("the paper's measure: %d of %d greedy continuations of its prompts changed "
               "(a change, not a correction)\n",
               r->nchanged, r->nchanges);
    if (a->svg)
        printf("figure: %s\n", a->svg);
}

static int run_eval(const steer_args *a)
{
    if (!a->cvec)
        return cli_usage_error("steer", "eval: --cvec FILE is required");
    double scales[64], layers[256];
    int nscale = 0, nlayer = 0, rc = 0, ilayers[256];
    if (parse_list("--scales", a->scales ? a->scales : a->relative ? "0.025,0.05,0.1,0.2" : "1,2,4,8", scales, 64, &nscale, 0))
        return CAPE_EINPUT;
    if (a->layers && parse_list("--layers", a->layers, layers, 256, &nlayer, 1))
        return CAPE_EINPUT;
    for (int k = 0; k < nlayer; k++)
        ilayers[k] = (int)layers[k];
    cape_err e = {0};
    loaded L = {0};
    cvec cv = {0};
    tqa_split_t t = {0};
    steer_eval_result r = {0};
    if ((rc = load_model(a, &L, &e)) || (rc = cvec_load(a->cvec, model_cfg(L.m)->dim, &cv, &e)) ||
        (rc = load_tqa(a, &t, &e)))
        goto done;
    int *held = t.order + t.nbuild, nheld = t.set.n - t.nbuild;
    if (a->limit && a->limit < nheld)
        nheld = a->limit;
    char changed_path[4096];
    snprintf(changed_path, sizeof changed_path, "%s/prompts/paper_steering_prompts.txt",
             cli_data_dir());
    cli_progress bar;
    steer_eval_opts o = {.cv = &cv, .cvec_name = a->cvec, .layers = nlayer ? ilayers : NULL,
                         .nlayers = nlayer, .scales = scales, .nscales = nscale,
                         .last_only = a->last_only, .gate = a->gate, .relative = a->relative,
                         .select_mc1 = a->select_mc1, .control = !a->no_control,
                         .control_seed = (uint32_t)a->control_seed,
                         .nboot = a->boot ? a->boot : 2000, .seed = (uint32_t)a->seed,
                         .dev_limit = a->dev, .changed_prompts = changed_path,
                         .changed = a->changed, .stage = label_stage, .stage_user = &bar,
                         .progress = cli_progress_cb, .progress_user = &bar};
    if ((rc = steer_eval_run(L.s, L.m, &t.set, held, nheld, &o, &r, &e)))
        goto done;
    double swept[STEER_EVAL_MAX_LAYERS];
    for (int k = 0; k < r.nlayers; k++)
        swept[k] = r.layers[k];
    if (a->svg &&
        (rc = write_svg(a, r.pts, r.rpts, r.np, swept, r.nlayers, &r.dev_base, &e)))
        goto done;
    json_t *j = eval_json(a, &r, t.nbuild, t.set.n - t.nbuild);
    if (a->json) {
        cli_out out = {0};
        if ((rc = cli_out_open(&out, a->output, 1)) == 0)
            rc = cli_out_close(&out, j);
        else
            json_decref(j);
    } else {
        rc = a->save_json ? json_emit(json_incref(j), a->save_json, &e) : 0;
        json_decref(j);
        if (!rc)
            print_eval(a, &r, t.nbuild, t.set.n - t.nbuild);
    }
done:
    if (rc && e.code)
        rc = cli_report(&e);
    steer_eval_result_free(&r);
    free_tqa(&t);
    cvec_free(&cv);
    unload(&L);
    return rc;
}

int cmd_steer(int argc, char **argv)
{
    steer_args a = {.threads = 2, .scale = 1.0, .split_frac = 0.5, .changed = 10, .holdout = 0.3,
                    .control_seed = 1, .shuffles = 20};
    int rc = parse(argc, argv, &a);
    if (rc)
        return rc < 0 ? 0 : rc;
    if (strcmp(a.sub, "build") == 0)
        return run_build(&a);
    if (strcmp(a.sub, "apply") == 0)
        return run_apply(&a);
    return run_eval(&a);
}
