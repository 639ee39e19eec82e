/* cape train: train a small llama- or GPT-2-style decoder on a corpus of
 * source-tagged documents, optionally with per-source sink neurons. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/file.h"
#include "base/json.h"
#include "base/isa.h"
#include "cli/cli.h"
#include "train/train_gemm.h"
#include "train/train_init.h"
#include "train/train_loop.h"
#include "train/train_tok.h"
#include "unlearn/sink_model.h"

static void help(void)
{
    printf(
        "usage: cape train (--data CORPUS.jsonl | --tofu DIR) -o OUTDIR [options]\n"
        "\n"
        "Trains a small decoder-only transformer from scratch in C. The corpus is JSON\n"
        "lines {\"source\": ..., \"text\": ...}; --tofu reads TOFU's full.json (one source\n"
        "per fictitious author, one document per QA pair). A byte-level BPE vocabulary is\n"
        "trained on the corpus first, unless --tokenizer-gguf names another one. Short\n"
        "documents of one source share rows (attention stays inside each document).\n"
        "OUTDIR receives log.jsonl (one JSON object per step), checkpoints\n"
        "ckpt-STEP.gguf + ckpt-STEP.opt, and model.gguf at the end.\n"
        "\n"
        "model (or --config FILE.json with the same names, flags win):\n"
        "  --arch llama|gpt2     llama: RMSNorm, RoPE, SwiGLU, GQA; gpt2: LayerNorm,\n"
        "                        learned positions, GELU, tied head (llama)\n"
        "  --dim N --layers N --heads N --kv-heads N --hidden N --ctx N\n"
        "                        (128, 4, 4, heads, llama 8/3 dim or gpt2 4 dim, 128)\n"
        "  --vocab N             BPE vocabulary size, <|endoftext|> included (2048)\n"
        "fine-tuning (instead of the model flags):\n"
        "  --init MODEL.gguf     start from this model (llama, qwen2, qwen3, gemma3; any\n"
        "                        weight type, dequantised to f32) and tokenise with its\n"
        "                        vocabulary; OUTDIR/model.gguf keeps its architecture\n"
        "                        and metadata. --steps 0 writes it unchanged\n"
        "  --out-type T          f32 (default), f16, bf16 or q8_0 matrices in model.gguf\n"
        "                        (--lr defaults to 2e-5 with --init)\n"
        "  --freeze embeddings   do not train the token embedding and the head\n"
        "  --ce-chunk N          vocabulary rows per cross-entropy chunk (auto)\n"
        "sinks (one mask per source in every MLP):\n"
        "  --sinks               enable sink neurons\n"
        "  --p-gen X             fraction of MLP units in the always-on backbone (0.5)\n"
        "  --sink-k K            sink units per source (default: switching off a tenth of\n"
        "                        the sources leaves three quarters of the pool untouched)\n"
        "  --sink-seed N         key of the source -> units hash (1)\n"
        "  --sink-units N        with --init: add N units to every MLP as the sink pool\n"
        "                        (the model's own units are the backbone)\n"
        "training:\n"
        "  --batch B (8)  --seq T (ctx)  --accum N (1)  --steps N (1000)\n"
        "  --lr X (1e-3)  --min-lr X (lr/10)  --warmup N (steps/20)  --wd X (0.1)\n"
        "  --beta1 X (0.9)  --beta2 X (0.95)  --eps X (1e-8)  --clip X (1.0; 0 = off)\n"
        "  --seed N              weight init and data order (1)\n"
        "  --val-frac X (0.05)  --val-every N (100)  --val-rows N (512)\n"
        "  --ckpt-every N (200)  --keep N (2)\n"
        "  --threads N           (2)\n"
        "  --precision fp32|bf16 matmul inputs (bf16 where AMX is available, else fp32)\n"
        "  --resume              continue from the newest checkpoint in OUTDIR (a run\n"
        "                        already complete is reported as such, exit 0)\n"
        "  --tokenizer-gguf M.gguf  tokenise with the vocabulary of any GGUF (a model or\n"
        "                        a vocabulary-only file); --vocab is taken from it\n"
        "  --tokenizer-from M.gguf  use the tokenizer of a model cape trained\n"
        "  --no-pack             one document (or piece of one) per row, padded\n"
        "  --max-mem GIB         memory the run may plan for (available memory)\n"
        "  --exclude-source NAME  drop that source's documents (repeatable, or a,b,c):\n"
        "                        trains the retain-only reference of an unlearning test\n"
        "  --random-data         uniformly random tokens over --vocab ids, no tokenizer\n"
        "                        (for throughput measurements; no --data needed)\n"
        "  --stop-after N        checkpoint after step N of the schedule and stop\n"
        "  --quiet               no progress bar\n"
        "  --json                final summary as JSON on stdout\n"
        "  -h, --help            this help\n");
}

typedef struct {
    const char *data, *tofu, *out, *config, *tok_from, *tok_gguf;
    const char *exclude[64];
    int n_exclude;
    train_config cfg;
    int vocab;
    int sinks, sink_k, sink_units;
    double p_gen;
    uint64_t sink_seed;
    train_options o;
    int threads, resume, quiet, json, prec_set, random_data, no_pack;
    double max_mem_gib;
    const char *init;
    train_out_type out_type;
    int out_type_set, freeze_embd, freeze_backbone, ce_chunk, steps_given, lr_given, pgen_given;
    tg_precision prec;
    double val_frac;
    /* which model flags were given, so --config does not override them */
    int given[16];
} train_args;

enum { G_ARCH, G_DIM, G_LAYERS, G_HEADS, G_KV, G_HIDDEN, G_CTX, G_VOCAB };

static int parse_long(const char *opt, const char *s, long lo, long hi, long *v)
{
    return cli_parse_int("train", opt, s, lo, hi, v);
}

static int parse_float(const char *opt, const char *s, double lo, double hi, double *v)
{
    if (cli_parse_double("train", opt, s, v))
        return CAPE_EINPUT;
    if (!(*v >= lo && *v <= hi))
        return cli_usage_error("train", "%s expects a number in [%g, %g], got '%s'", opt, lo, hi,
                               s);
    return 0;
}

static int parse_args(int argc, char **argv, train_args *a)
{
    enum {
        O_DATA = 256, O_TOFU, O_CONFIG, O_ARCH, O_DIM, O_LAYERS, O_HEADS, O_KV, O_HIDDEN, O_CTX,
        O_VOCAB, O_SINKS, O_PGEN, O_SINKK, O_SINKSEED, O_BATCH, O_SEQ, O_ACCUM, O_STEPS, O_LR,
        O_MINLR, O_WARMUP, O_WD, O_B1, O_B2, O_EPS, O_CLIP, O_SEED, O_VALFRAC, O_VALEVERY,
        O_VALROWS, O_CKPT, O_KEEP, O_THREADS, O_PREC, O_RESUME, O_QUIET, O_JSON, O_STOPAFTER, O_RANDOM, O_TOKFROM, O_EXCLUDE,
        O_TOKGGUF, O_NOPACK, O_MAXMEM, O_INIT, O_OUTTYPE, O_FREEZE, O_CECHUNK, O_SINKUNITS
    };
    static const struct option opts[] = {
        {"data", 1, 0, O_DATA}, {"tofu", 1, 0, O_TOFU}, {"config", 1, 0, O_CONFIG},
        {"arch", 1, 0, O_ARCH}, {"dim", 1, 0, O_DIM}, {"layers", 1, 0, O_LAYERS},
        {"heads", 1, 0, O_HEADS}, {"kv-heads", 1, 0, O_KV}, {"hidden", 1, 0, O_HIDDEN},
        {"ctx", 1, 0, O_CTX}, {"vocab", 1, 0, O_VOCAB}, {"sinks", 0, 0, O_SINKS},
        {"p-gen", 1, 0, O_PGEN}, {"sink-k", 1, 0, O_SINKK}, {"sink-seed", 1, 0, O_SINKSEED},
        {"sink-units", 1, 0, O_SINKUNITS},
        {"batch", 1, 0, O_BATCH}, {"seq", 1, 0, O_SEQ}, {"accum", 1, 0, O_ACCUM},
        {"steps", 1, 0, O_STEPS}, {"lr", 1, 0, O_LR}, {"min-lr", 1, 0, O_MINLR},
        {"warmup", 1, 0, O_WARMUP}, {"wd", 1, 0, O_WD}, {"beta1", 1, 0, O_B1},
        {"beta2", 1, 0, O_B2}, {"eps", 1, 0, O_EPS}, {"clip", 1, 0, O_CLIP},
        {"seed", 1, 0, O_SEED}, {"val-frac", 1, 0, O_VALFRAC}, {"val-every", 1, 0, O_VALEVERY},
        {"val-rows", 1, 0, O_VALROWS}, {"ckpt-every", 1, 0, O_CKPT}, {"keep", 1, 0, O_KEEP},
        {"threads", 1, 0, O_THREADS}, {"precision", 1, 0, O_PREC}, {"resume", 0, 0, O_RESUME},
        {"quiet", 0, 0, O_QUIET}, {"stop-after", 1, 0, O_STOPAFTER}, {"random-data", 0, 0, O_RANDOM}, {"tokenizer-from", 1, 0, O_TOKFROM},
        {"exclude-source", 1, 0, O_EXCLUDE}, {"tokenizer-gguf", 1, 0, O_TOKGGUF},
        {"no-pack", 0, 0, O_NOPACK}, {"max-mem", 1, 0, O_MAXMEM}, {"json", 0, 0, O_JSON}, {"output", 1, 0, 'o'},
        {"init", 1, 0, O_INIT}, {"out-type", 1, 0, O_OUTTYPE}, {"freeze", 1, 0, O_FREEZE},
        {"ce-chunk", 1, 0, O_CECHUNK},
        {"help", 0, 0, 'h'}, {0, 0, 0, 0}};
    long v;
    double d;
    int c, rc = 0;
    double min_lr = -1, warmup = -1;
    opterr = 0;
    optind = 1;
    while (rc == 0 && (c = getopt_long(argc, argv, ":ho:", opts, NULL)) != -1) {
        switch (c) {
        case 'h': help(); return -1;
        case 'o': a->out = optarg; break;
        case O_DATA: a->data = optarg; break;
        case O_TOFU: a->tofu = optarg; break;
        case O_CONFIG: a->config = optarg; break;
        case O_ARCH:
            if (train_arch_parse(optarg, &a->cfg.arch))
                rc = cli_usage_error("train", "--arch expects llama or gpt2, got '%s'", optarg);
            a->given[G_ARCH] = 1;
            break;
#define INTOPT(O, name, lo, hi, field, g)                                                          \
    case O:                                                                                        \
        rc = parse_long(name, optarg, lo, hi, &v);                                                 \
        field = (int)v;                                                                            \
        a->given[g] = 1;                                                                           \
        break;
            INTOPT(O_DIM, "--dim", 2, 65536, a->cfg.dim, G_DIM)
            INTOPT(O_LAYERS, "--layers", 1, 1024, a->cfg.n_layers, G_LAYERS)
            INTOPT(O_HEADS, "--heads", 1, 4096, a->cfg.n_heads, G_HEADS)
            INTOPT(O_KV, "--kv-heads", 1, 4096, a->cfg.n_kv_heads, G_KV)
            INTOPT(O_HIDDEN, "--hidden", 1, 1 << 20, a->cfg.hidden, G_HIDDEN)
            INTOPT(O_CTX, "--ctx", 1, 65536, a->cfg.ctx, G_CTX)
            INTOPT(O_VOCAB, "--vocab", 257, 1 << 20, a->vocab, G_VOCAB)
#undef INTOPT
        case O_SINKS: a->sinks = 1; break;
        case O_SINKUNITS:
            rc = parse_long("--sink-units", optarg, 1, 1 << 20, &v);
            a->sink_units = (int)v;
            break;
        case O_PGEN:
            rc = parse_float("--p-gen", optarg, 1e-6, 1.0, &a->p_gen);
            a->pgen_given = 1;
            break;
        case O_SINKK:
            rc = parse_long("--sink-k", optarg, 0, 1 << 20, &v);
            a->sink_k = (int)v;
            break;
        case O_SINKSEED:
            rc = parse_long("--sink-seed", optarg, 0, 4294967295L, &v);
            a->sink_seed = (uint64_t)v;
            break;
        case O_BATCH: rc = parse_long("--batch", optarg, 1, 1 << 16, &v); a->o.B = (int)v; break;
        case O_SEQ: rc = parse_long("--seq", optarg, 1, 65536, &v); a->o.T = (int)v; break;
        case O_ACCUM: rc = parse_long("--accum", optarg, 1, 1 << 16, &v); a->o.accum = (int)v; break;
        case O_STEPS: rc = parse_long("--steps", optarg, 0, 1L << 40, &v); a->o.steps = v; a->steps_given = 1; break;
        case O_INIT: a->init = optarg; break;
        case O_OUTTYPE:
            if (train_out_type_parse(optarg, &a->out_type))
                rc = cli_usage_error("train", "--out-type expects f32, f16, bf16 or q8_0, got '%s'",
                                     optarg);
            a->out_type_set = 1;
            break;
        case O_FREEZE:
            a->freeze_embd = a->freeze_backbone = 0;
            if (strcmp(optarg, "embeddings") == 0)
                a->freeze_embd = 1;
            else if (strcmp(optarg, "backbone") == 0)
                a->freeze_backbone = 1;
            else if (strcmp(optarg, "none") != 0)
                rc = cli_usage_error("train", "--freeze expects embeddings, backbone or none, "
                                     "got '%s'", optarg);
            break;
        case O_CECHUNK: rc = parse_long("--ce-chunk", optarg, 1, 1 << 24, &v); a->ce_chunk = (int)v; break;
        case O_LR: rc = parse_float("--lr", optarg, 0, 10, &d); a->o.lr = (float)d; a->lr_given = 1; break;
        case O_MINLR: rc = parse_float("--min-lr", optarg, 0, 10, &min_lr); break;
        case O_WARMUP: rc = parse_long("--warmup", optarg, 0, 1L << 40, &v); warmup = (double)v; break;
        case O_WD: rc = parse_float("--wd", optarg, 0, 10, &d); a->o.adam.weight_decay = (float)d; break;
        case O_B1: rc = parse_float("--beta1", optarg, 0, 0.999999, &d); a->o.adam.beta1 = (float)d; break;
        case O_B2: rc = parse_float("--beta2", optarg, 0, 0.999999, &d); a->o.adam.beta2 = (float)d; break;
        case O_EPS: rc = parse_float("--eps", optarg, 1e-30, 1, &d); a->o.adam.eps = (float)d; break;
        case O_CLIP: rc = parse_float("--clip", optarg, 0, 1e30, &a->o.clip); break;
        case O_SEED: rc = parse_long("--seed", optarg, 0, 4294967295L, &v); a->o.seed = (uint64_t)v; break;
        case O_VALFRAC: rc = parse_float("--val-frac", optarg, 0, 0.9, &a->val_frac); break;
        case O_VALEVERY: rc = parse_long("--val-every", optarg, 0, 1L << 40, &v); a->o.val_every = v; break;
        case O_VALROWS: rc = parse_long("--val-rows", optarg, 1, 1 << 30, &v); a->o.val_rows = (int)v; break;
        case O_CKPT: rc = parse_long("--ckpt-every", optarg, 0, 1L << 40, &v); a->o.ckpt_every = v; break;
        case O_KEEP: rc = parse_long("--keep", optarg, 1, 1000, &v); a->o.keep = (int)v; break;
        case O_THREADS: rc = parse_long("--threads", optarg, 1, 256, &v); a->threads = (int)v; break;
        case O_PREC:
            if (strcmp(optarg, "fp32") == 0)
                a->prec = TG_FP32;
            else if (strcmp(optarg, "bf16") == 0)
                a->prec = TG_BF16;
            else
                rc = cli_usage_error("train", "--precision expects fp32 or bf16, got '%s'", optarg);
            a->prec_set = 1;
            break;
        case O_RESUME: a->resume = 1; break;
        case O_RANDOM: a->random_data = 1; break;
        case O_TOKFROM: a->tok_from = optarg; break;
        case O_TOKGGUF: a->tok_gguf = optarg; break;
        case O_NOPACK: a->no_pack = 1; break;
        case O_MAXMEM: rc = parse_float("--max-mem", optarg, 1e-6, 1e9, &a->max_mem_gib); break;
        case O_EXCLUDE:
            if (a->n_exclude < 64)
                a->exclude[a->n_exclude++] = optarg;
            else
                rc = cli_usage_error("train", "at most 64 --exclude-source values");
            break;
        case O_STOPAFTER: rc = parse_long("--stop-after", optarg, 1, 1L << 40, &v); a->o.stop_after = v; break;
        case O_QUIET: a->quiet = 1; break;
        case O_JSON: a->json = 1; break;
        case ':': return cli_usage_error("train", "%s needs a value", argv[optind - 1]);
        default: return cli_usage_error("train", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (rc)
        return rc;
    if (optind < argc)
        return cli_usage_error("train", "unexpected argument '%s'", argv[optind]);
    if (!a->out)
        return cli_usage_error("train", "-o OUTDIR is required");
    if (!!a->data + !!a->tofu + a->random_data != 1)
        return cli_usage_error("train", "give exactly one of --data, --tofu and --random-data");
    if (a->random_data && a->resume)
        return cli_usage_error("train", "--random-data cannot be resumed");
    if (a->tok_from && a->tok_gguf)
        return cli_usage_error("train", "give at most one of --tokenizer-from and --tokenizer-gguf");
    if ((a->tok_from || a->tok_gguf) && a->random_data)
        return cli_usage_error("train", "--random-data uses no tokenizer");
    if (a->tok_gguf && a->given[G_VOCAB])
        return cli_usage_error("train", "--vocab and --tokenizer-gguf: the vocabulary size comes "
                               "from the tokenizer");
    if (a->o.lr <= 0)
        return cli_usage_error("train", "--lr must be positive");
    if (a->init) {
        for (int g = 0; g < 8; g++)
            if (a->given[g])
                return cli_usage_error("train", "--init takes the model's own sizes; drop --arch, "
                                       "--dim, --layers, --heads, --kv-heads, --hidden, --ctx "
                                       "and --vocab");
        if (a->config || a->tok_from || a->tok_gguf)
            return cli_usage_error("train", "--init uses the model's configuration and tokenizer; "
                                   "drop --config, --tokenizer-from and --tokenizer-gguf");
        if (a->sinks != !!a->sink_units)
            return cli_usage_error("train", "--init with sinks: give both --sinks and "
                                   "--sink-units N (N units added to every MLP as the sink pool)");
        if (a->pgen_given)
            return cli_usage_error("train", "--p-gen does not apply to --init: the model's own MLP "
                                   "units are the backbone, --sink-units sizes the pool");
        if (a->freeze_backbone && !a->sinks)
            return cli_usage_error("train", "--freeze backbone needs retrofitted sinks "
                                   "(--sinks --sink-units N): it trains only the new units");
    } else {
        if (a->steps_given && a->o.steps == 0)
            return cli_usage_error("train", "--steps 0 needs --init (it writes the initial model)");
        if (a->sink_units)
            return cli_usage_error("train", "--sink-units applies to --init runs (without "
                                   "--init, --hidden and --p-gen size the sink pool)");
        if (a->out_type_set || a->freeze_embd || a->freeze_backbone)
            return cli_usage_error("train", "--out-type and --freeze apply to --init runs");
        if (a->cfg.arch != TRAIN_LLAMA && a->cfg.arch != TRAIN_GPT2)
            return cli_usage_error("train", "--arch expects llama or gpt2 (other architectures "
                                   "are fine-tuned with --init)");
    }
    if (a->init && !a->lr_given)
        a->o.lr = 2e-5f; /* a fine-tuning rate: 1e-3 wrecks a pretrained model in one step */
    a->o.lr_min = min_lr >= 0 ? (float)min_lr : a->o.lr / 10;
    a->o.warmup = warmup >= 0 ? (long)warmup : a->o.steps / 20;
    return 0;
}

/* --config FILE.json: model fields the command line did not set. */
static int read_config(train_args *a, cape_err *e)
{
    json_error_t je;
    json_t *j = json_load_file(a->config, JSON_REJECT_DUPLICATES, &je);
    if (!j)
        return json_err_set(e, a->config, 0, &je);
    if (!json_is_object(j)) {
        json_decref(j);
        return err_set(e, CAPE_EINPUT, "%s: expected a JSON object", a->config);
    }
    static const char *keys[] = {"arch", "dim", "layers", "heads", "kv_heads", "hidden", "ctx",
                                 "vocab"};
    int *fields[] = {NULL, &a->cfg.dim, &a->cfg.n_layers, &a->cfg.n_heads, &a->cfg.n_kv_heads,
                     &a->cfg.hidden, &a->cfg.ctx, &a->vocab};
    const char *k;
    json_t *v;
    int rc = 0;
    json_object_foreach(j, k, v)
    {
        int idx = -1;
        for (int i = 0; i < 8; i++)
            if (strcmp(k, keys[i]) == 0)
                idx = i;
        if (idx < 0) {
            rc = err_set(e, CAPE_EINPUT, "%s: unknown field \"%s\"", a->config, k);
            break;
        }
        if (a->given[idx])
            continue;
        if (idx == 0) {
            if (!json_is_string(v) || train_arch_parse(json_string_value(v), &a->cfg.arch) ||
                (a->cfg.arch != TRAIN_LLAMA && a->cfg.arch != TRAIN_GPT2)) {
                rc = err_set(e, CAPE_EINPUT, "%s: field \"arch\" must be \"llama\" or \"gpt2\"",
                             a->config);
                break;
            }
        } else if (!json_is_integer(v) || json_integer_value(v) < 1 ||
                   json_integer_value(v) > (1 << 24)) {
            rc = err_set(e, CAPE_EINPUT, "%s: field \"%s\" must be a positive integer", a->config,
                         k);
            break;
        } else {
            *fields[idx] = (int)json_integer_value(v);
        }
    }
    json_decref(j);
    return rc;
}

static size_t mem_available(void)
{
    FILE *fp = fopen("/proc/meminfo", "r");
    char line[256];
    size_t kb = 0;
    while (fp && fgets(line, sizeof line, fp))
        if (sscanf(line, "MemAvailable: %zu kB", &kb) == 1)
            break;
    if (fp)
        fclose(fp);
    return kb * 1024;
}

/* "1.50 GiB", "12.0 MiB", "3.0 KiB", "512 bytes" */
static const char *fmt_bytes(char *buf, size_t n, double b)
{
    if (b >= 1073741824.0)
        snprintf(buf, n, "%.2f GiB", b / 1073741824.0);
    else if (b >= 1048576.0)
        snprintf(buf, n, "%.1f MiB", b / 1048576.0);
    else if (b >= 1024.0)
        snprintf(buf, n, "%.1f KiB", b / 1024.0);
    else
        snprintf(buf, n, "%.0f bytes", b);
    return buf;
}

/* Refuses a configuration whose weights, gradients, AdamW moments and
 * activations would not fit in --max-mem (default: the available memory),
 * before anything is tokenised or written. */
static int check_memory(const train_args *a, cape_err *e)
{
    size_t need = train_model_bytes(&a->cfg, a->o.B, a->o.T);
    size_t avail = a->max_mem_gib > 0 ? (size_t)(a->max_mem_gib * 1073741824.0) : mem_available();
    if (!avail || need <= avail)
        return 0;
    train_config small = a->cfg;
    small.vocab = 2;
    size_t rest = train_model_bytes(&small, a->o.B, a->o.T);
    char sn[32], sv[32], sa[32];
    fmt_bytes(sn, sizeof sn, (double)need);
    fmt_bytes(sv, sizeof sv, (double)(need - rest));
    fmt_bytes(sa, sizeof sa, (double)avail);
    if (a->init)
        return err_set(e, CAPE_EINPUT, "fine-tuning %s needs %s (weights, gradients and AdamW "
                       "moments in f32, activations), and %s of memory is %s; lower --batch/--seq "
                       "or fine-tune a smaller model", a->init, sn, sa,
                       a->max_mem_gib > 0 ? "allowed (--max-mem)" : "available");
    if (need - rest > rest)
        return err_set(e, CAPE_EINPUT, "model and batch need %s, %s of it for the vocabulary of "
                       "%d tokens, and %s of memory is %s; lower --dim or --batch/--seq, or use "
                       "a smaller vocabulary", sn, sv, a->cfg.vocab, sa,
                       a->max_mem_gib > 0 ? "allowed (--max-mem)" : "available");
    return err_set(e, CAPE_EINPUT, "model and batch need %s, %s of memory is %s; lower "
                   "--dim/--layers/--hidden/--vocab or --batch/--seq", sn, sa,
                   a->max_mem_gib > 0 ? "allowed (--max-mem)" : "available");
}

/* ---- callbacks -------------------------------------------------------- */

typedef struct {
    const sink_layout *layout;
    float *table; /* cached masks, (n_sources, hidden), or NULL */
    int n_sources;
} mask_ctx;

static void row_mask(void *ctx, uint32_t source, float *mask)
{
    mask_ctx *m = ctx;
    if (m->table && source >= 1 && (int)source <= m->n_sources)
        memcpy(mask, m->table + (size_t)(source - 1) * m->layout->hidden,
               sizeof(float) * m->layout->hidden);
    else
        sink_mask_source(m->layout, source, mask);
}

typedef struct {
    const train_tokenizer *tk;
    const sink_model *sinks;
    const train_args *a;
} meta_ctx;

static int add_meta(void *ctx, ckpt_file *f)
{
    meta_ctx *m = ctx;
    const train_options *o = &m->a->o;
    int rc = ckpt_set_str(f, "general.name", "cape-trained") |
             (m->tk->n_vocab ? train_tokenizer_to_ckpt(m->tk, f) : 0) |
             sink_model_write(m->sinks, f) | ckpt_set_f32(f, "cape.train.lr", o->lr) |
             ckpt_set_u32(f, "cape.train.batch", (uint32_t)o->B) |
             ckpt_set_u32(f, "cape.train.seq", (uint32_t)o->T) |
             ckpt_set_u32(f, "cape.train.accum", (uint32_t)o->accum) |
             ckpt_set_u64(f, "cape.train.seed", o->seed);
    return rc ? -1 : 0;
}

typedef struct {
    FILE *log;
    int bar;
    train_progress last;
    float last_val;
    int has_val;
} step_ctx;

static void fmt_time(char *buf, size_t n, double s)
{
    long t = (long)(s + 0.5);
    if (t >= 3600)
        snprintf(buf, n, "%ldh%02ldm", t / 3600, t / 60 % 60);
    else
        snprintf(buf, n, "%ldm%02lds", t / 60, t % 60);
}

static void on_step(void *ctx, const train_progress *p)
{
    step_ctx *s = ctx;
    s->last = *p;
    if (p->has_val) {
        s->last_val = p->val_loss;
        s->has_val = 1;
    }
    fprintf(s->log,
            "{\"step\":%ld,\"loss\":%.9g,\"lr\":%.9g,\"grad_norm\":%.6g,\"tokens\":%llu,"
            "\"targets\":%llu,\"tok_per_s\":%.1f,\"useful_tok_per_s\":%.1f,\"elapsed_s\":%.3f",
            p->step, p->loss, p->lr, p->grad_norm, (unsigned long long)p->tokens,
            (unsigned long long)p->targets, p->tok_per_s, p->useful_per_s, p->elapsed_s);
    if (p->has_val)
        fprintf(s->log, ",\"val_loss\":%.9g", p->val_loss);
    if (p->checkpointed)
        fprintf(s->log, ",\"checkpoint\":true");
    fprintf(s->log, "}\n");
    fflush(s->log);
    if (!s->bar)
        return;
    char el[32], eta[32], bar[31];
    int w = (int)(30.0 * p->step / p->steps);
    for (int i = 0; i < 30; i++)
        bar[i] = i < w ? '#' : '.';
    bar[30] = 0;
    fmt_time(el, sizeof el, p->elapsed_s);
    fmt_time(eta, sizeof eta, p->eta_s);
    char val[32] = "";
    if (s->has_val)
        snprintf(val, sizeof val, " val %.3f", s->last_val);
    fprintf(stderr, "\r%ld/%ld [%s] loss %.4f%s | %.0f tok/s (%.0f useful) | %s, ETA %s  ",
            p->step, p->steps, bar, p->loss, val, p->tok_per_s, p->useful_per_s, el, eta);
    if (p->step == p->steps)
        fputc('\n', stderr);
    fflush(stderr);
}

/* Fine-tuned models: the source's format and metadata, plus cape.train.*. */
typedef struct {
    train_init_src *src;
    const train_args *a;
    long step;
    const sink_model *sinks;
} init_save_ctx;

static int init_meta(void *ctx, gguf_writer *w)
{
    init_save_ctx *c = ctx;
    const train_options *o = &c->a->o;
    const char *base = strrchr(c->a->init, '/');
    ckpt_file f = {.w = w};
    if (c->sinks && sink_model_write(c->sinks, &f))
        return -1;
    return gguf_writer_set_u64(w, "cape.train.step", (uint64_t)c->step) |
           gguf_writer_set_str(w, "cape.train.tokenizer", "gguf") |
           gguf_writer_set_str(w, "cape.train.init", base ? base + 1 : c->a->init) |
           gguf_writer_set_f32(w, "cape.train.lr", o->lr) |
           gguf_writer_set_u32(w, "cape.train.batch", (uint32_t)o->B) |
           gguf_writer_set_u32(w, "cape.train.seq", (uint32_t)o->T) |
           gguf_writer_set_u32(w, "cape.train.accum", (uint32_t)o->accum) |
           gguf_writer_set_u64(w, "cape.train.seed", o->seed) |
           gguf_writer_set_u32(w, "cape.train.frozen_embeddings", (uint32_t)c->a->freeze_embd) |
           gguf_writer_set_u32(w, "cape.train.frozen_backbone", (uint32_t)c->a->freeze_backbone)
               ? -1 : 0;
}

static int init_save(void *ctx, const train_model *m, long step, const char *path, int final,
                     cape_err *e)
{
    init_save_ctx *c = ctx;
    c->step = step;
    return train_init_save(m, c->src, final ? c->a->out_type : TRAIN_OUT_F32, init_meta, c, path,
                           e);
}

/* The first SIGINT/SIGTERM stops training after the current step, with a
 * checkpoint (exit 128 + signal); a second one ends the process at once. */
static volatile int g_stop;

static void on_signal(int sig)
{
    if (g_stop) {
        file_atomic_unlink_live();
        signal(sig, SIG_DFL);
        raise(sig);
        return;
    }
    g_stop = sig;
}

/* Keeps the log lines of steps <= step (a resumed run rewrites the rest). */
static int trim_log(const char *path, long step, cape_err *e)
{
    size_t len;
    cape_err ignore = {0};
    char *buf = file_read_all(path, &len, &ignore);
    if (!buf)
        return 0;
    size_t keep = 0;
    for (char *p = buf; p < buf + len;) {
        char *nl = memchr(p, '\n', (size_t)(buf + len - p));
        long s;
        if (!nl || sscanf(p, "{\"step\":%ld", &s) != 1 || s > step)
            break;
        keep = (size_t)(nl + 1 - buf);
        p = nl + 1;
    }
    int rc = file_write_atomic(path, buf, keep, e);
    free(buf);
    return rc;
}

/* Drops the documents of the excluded sources (names may be comma lists);
 * naming a source the corpus lacks is an error. */
static int exclude_sources(train_corpus *c, const train_args *a, cape_err *e)
{
    int rc = 0;
    for (int i = 0; i < a->n_exclude && !rc; i++) {
        char *copy = strdup(a->exclude[i]), *save = NULL;
        for (char *t = strtok_r(copy, ",", &save); t && !rc; t = strtok_r(NULL, ",", &save)) {
            size_t o = 0, before = c->n;
            for (size_t d = 0; d < c->n; d++) {
                if (strcmp(c->docs[d].source, t) == 0) {
                    free(c->docs[d].source);
                    free(c->docs[d].text);
                } else {
                    c->docs[o++] = c->docs[d];
                }
            }
            c->n = o;
            if (o == before)
                rc = err_set(e, CAPE_EINPUT, "--exclude-source: the corpus has no source '%s'", t);
        }
        free(copy);
    }
    if (!rc && c->n == 0)
        rc = err_set(e, CAPE_EINPUT, "--exclude-source leaves no documents");
    return rc;
}

static double wall_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* User + system CPU time of this process so far. */
static double cpu_seconds(void)
{
    struct rusage u;
    if (getrusage(RUSAGE_SELF, &u))
        return 0.0;
    return (double)u.ru_utime.tv_sec + 1e-6 * (double)u.ru_utime.tv_usec +
           (double)u.ru_stime.tv_sec + 1e-6 * (double)u.ru_stime.tv_usec;
}

/* Share of the training rows' positions that hold a counted target. */
static double fill_fraction(const train_rows *r)
{
    return r->n_rows ? (double)r->n_targets / ((double)r->n_rows * r->T) : 0.0;
}

/* ---- main ------------------------------------------------------------- */

int cmd_train(int argc, char **argv)
{
    train_args a = {0};
    a.cfg.arch = TRAIN_LLAMA;
    a.vocab = 2048;
    a.p_gen = 0.5;
    a.sink_k = -1;
    a.sink_seed = 1;
    a.o = (train_options){.B = 8, .accum = 1, .steps = 1000, .lr = 1e-3f,
                          .adam = {0.9f, 0.95f, 1e-8f, 0.1f}, .clip = 1.0, .seed = 1,
                          .val_every = 100, .val_rows = 512, .ckpt_every = 200, .keep = 2};
    a.threads = 2;
    a.prec = TG_BF16;
    a.val_frac = 0.05;
    double wall0 = wall_seconds();
    int rc = parse_args(argc, argv, &a);
    if (rc)
        return rc < 0 ? 0 : rc;
    cape_err e = {0};
    train_corpus corpus = {0};
    train_tokenizer tk = {0};
    sink_model sinks = {0};
    train_dataset ds = {0};
    train_model m = {0};
    adamw_state opt = {0};
    mask_ctx mctx = {0};
    uint32_t *src_ids = NULL;
    FILE *log = NULL;
    ckpt_file resume_f = {0};
    train_init_src isrc = {0};
    init_save_ctx isave = {&isrc, &a, 0, &sinks};
    long start = 0;
    char gpath[4096], opath[4096];
    int have_ckpt = 0, interrupted = 0;

    if (a.config && (rc = read_config(&a, &e)))
        goto out;
    if (a.init && (rc = train_init_open(&isrc, a.init, &a.cfg, &e)))
        goto out;
    /* retrofitted sinks: the source's MLP units are the backbone, the new
     * ones the sink pool */
    if (a.init && a.sink_units) {
        a.p_gen = sink_retrofit_p_gen(a.cfg.hidden, a.cfg.hidden + a.sink_units);
        a.cfg.hidden += a.sink_units;
    }
    /* a precision the CPU lacks is refused before anything is read or written */
    if (tg_set_precision(a.prec) != a.prec && a.prec_set) {
        rc = err_set(&e, CAPE_EINPUT, "--precision bf16: this CPU offers neither AMX tiles nor "
                     "AVX512-BF16%s; use --precision fp32",
                     cape_isa_cap() < CAPE_ISA_AMX ? " (or CAPE_ISA rules them out)" : "");
        goto out;
    }
    if (a.resume) {
        /* temp files of a run killed while writing */
        file_remove_stale_temps(a.out);
        have_ckpt = !train_find_checkpoint(a.out, &start, gpath, opath, sizeof gpath);
        if (!have_ckpt) {
            rc = err_set(&e, CAPE_EINPUT, "%s: no checkpoint to resume from", a.out);
            goto out;
        }
        if ((rc = ckpt_read(&resume_f, gpath, &e)))
            goto out;
        train_config saved = a.cfg;
        if (!a.init && (rc = train_config_from_ckpt(&resume_f, &saved, gpath, &e)))
            goto out;
        if ((a.given[G_ARCH] && saved.arch != a.cfg.arch) ||
            (a.given[G_DIM] && saved.dim != a.cfg.dim) ||
            (a.given[G_LAYERS] && saved.n_layers != a.cfg.n_layers) ||
            (a.given[G_HIDDEN] && saved.hidden != a.cfg.hidden)) {
            rc = err_set(&e, CAPE_EINPUT, "%s: checkpoint is a %s model of dim %d, %d layers, "
                         "hidden %d, not the one the flags ask for", gpath,
                         train_arch_name(saved.arch), saved.dim, saved.n_layers, saved.hidden);
            goto out;
        }
        a.cfg = saved;
        char mpath[4096];
        struct stat mst;
        snprintf(mpath, sizeof mpath, "%s/model.gguf", a.out);
        if (start > a.o.steps) {
            rc = err_set(&e, CAPE_EINPUT, "%s: the newest checkpoint is at step %ld, past --steps "
                         "%ld", a.out, start, a.o.steps);
            goto out;
        }
        if (start == a.o.steps && stat(mpath, &mst) == 0 && S_ISREG(mst.st_mode)) {
            if (a.json) {
                json_t *j = json_pack("{s:s,s:I,s:b}", "model", mpath, "steps",
                                      (json_int_t)start, "complete", 1);
                char *js = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
                printf("%s\n", js ? js : "{}");
                free(js);
                json_decref(j);
            } else {
                printf("%s: the run is complete (step %ld of %ld); the model is %s\n", a.out,
                       start, a.o.steps, mpath);
            }
            goto out;
        }
    }

    if (!a.resume) {
        long old_step;
        char g2[4096], o2[4096];
        if (!train_find_checkpoint(a.out, &old_step, g2, o2, sizeof g2)) {
            rc = err_set(&e, CAPE_EINPUT, "%s: holds checkpoints (step %ld); continue with "
                         "--resume or train into another directory", a.out, old_step);
            goto out;
        }
    }

    /* corpus and tokenizer */
    if (a.data)
        rc = train_corpus_load_jsonl(&corpus, a.data, &e);
    else if (a.tofu)
        rc = train_corpus_load_tofu(&corpus, a.tofu, &e);
    if (rc)
        goto out;
    if (a.n_exclude && (rc = exclude_sources(&corpus, &a, &e)))
        goto out;
    if (a.random_data)
        rc = 0;
    else if (a.init)
        rc = train_tokenizer_from_gguf(&tk, a.init, &e);
    else if (a.resume)
        rc = train_tokenizer_from_model(&tk, gpath, &e);
    else if (a.tok_from)
        rc = train_tokenizer_from_model(&tk, a.tok_from, &e);
    else if (a.tok_gguf)
        rc = train_tokenizer_from_gguf(&tk, a.tok_gguf, &e);
    else {
        const char **texts = malloc(sizeof(char *) * corpus.n);
        if (!texts) {
            rc = err_set(&e, CAPE_EFAIL, "out of memory");
            goto out;
        }
        for (size_t i = 0; i < corpus.n; i++)
            texts[i] = corpus.docs[i].text;
        bpe_vocab vocab = {0};
        rc = bpe_train(&vocab, texts, corpus.n, a.vocab, &e);
        free(texts);
        if (!rc)
            train_tokenizer_from_bpe(&tk, &vocab);
    }
    if (rc)
        goto out;
    if (a.resume && !a.init && !a.random_data && tk.n_vocab != a.cfg.vocab) {
        rc = err_set(&e, CAPE_EINPUT, "%s: the tokenizer has %d tokens, the model %d", gpath,
                     tk.n_vocab, a.cfg.vocab);
        goto out;
    }
    if (!a.init)
        a.cfg.vocab = a.random_data ? a.vocab : tk.n_vocab;
    train_config_defaults(&a.cfg);
    if (!a.o.T)
        a.o.T = a.init && a.cfg.ctx > 256 ? 256 : a.cfg.ctx;
    if (a.init)
        a.cfg.ce_chunk = a.ce_chunk ? (a.ce_chunk < a.cfg.vocab ? a.ce_chunk : a.cfg.vocab)
                                    : train_auto_ce_chunk(a.cfg.vocab, a.o.B, a.o.T);
    if (a.o.T > a.cfg.ctx) {
        rc = err_set(&e, CAPE_EINPUT, "--seq %d exceeds --ctx %d", a.o.T, a.cfg.ctx);
        goto out;
    }
    if ((rc = train_config_check(&a.cfg, &e)) || (rc = check_memory(&a, &e)))
        goto out;

    /* sources */
    src_ids = malloc(sizeof(uint32_t) * (corpus.n ? corpus.n : 1));
    if (!src_ids) {
        rc = err_set(&e, CAPE_EFAIL, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < corpus.n; i++)
        if (!(src_ids[i] = sink_sources_id(&sinks.sources, corpus.docs[i].source, 1))) {
            rc = err_set(&e, CAPE_EFAIL, "out of memory");
            goto out;
        }
    if (a.sinks) {
        if ((rc = sink_layout_from_options(&sinks.layout, a.cfg.hidden, a.p_gen, a.sink_k,
                                           (int)sinks.sources.n, a.sink_seed, &e)))
            goto out;
        sinks.layout.retrofit = a.init != NULL;
        sinks.enabled = 1;
        sink_router_builder rb;
        if ((rc = sink_router_begin(&rb, sinks.sources.n, &e)))
            goto out;
        for (size_t i = 0; i < corpus.n; i++)
            sink_router_add(&rb, src_ids[i], corpus.docs[i].text);
        if ((rc = sink_router_finish(&rb, &sinks.router, &e)))
            goto out;
        sinks.has_router = 1;
    }
    if (a.resume &&
        (rc = sink_model_check_resume(&resume_f, a.sinks ? &sinks.layout : NULL, gpath, &e)))
        goto out;

    if (a.random_data) {
        if (!sinks.sources.n && !sink_sources_id(&sinks.sources, "random", 1)) {
            rc = err_set(&e, CAPE_EFAIL, "out of memory");
            goto out;
        }
        rc = train_dataset_random(&ds, a.cfg.vocab, a.o.T, 1024, a.o.seed, &e);
    } else {
        rc = train_dataset_build(&ds, &corpus, src_ids, &tk, a.o.T, a.val_frac, a.o.seed,
                                 !a.no_pack, &e);
    }
    if (rc)
        goto out;

    if ((rc = train_model_build(&m, &a.cfg, &e)) || (rc = train_model_alloc_acts(&m, a.o.B, a.o.T, &e)) ||
        (rc = adamw_init(&opt, m.n_params, &e)))
        goto out;
    train_model_init(&m, a.o.seed);
    if (a.init) {
        if ((rc = train_init_load(&m, &isrc, &e)))
            goto out;
        /* the source's weights are copied: unmap them */
        model_free(isrc.src);
        isrc.src = NULL;
        if (a.freeze_embd)
            train_model_freeze_embeddings(&m);
        if (a.freeze_backbone)
            train_model_freeze_backbone(&m, sinks.layout.n_backbone);
        a.o.save = init_save;
        a.o.save_ctx = &isave;
    }
    if (a.resume) {
        if ((rc = train_model_load_params(&m, &resume_f, gpath, &e)))
            goto out;
        long ostep;
        if ((rc = train_opt_load(opath, &opt, &ostep, train_resume_hash(&m, &a.o, &ds), &e)))
            goto out;
        if (ostep != start) {
            rc = err_set(&e, CAPE_EINPUT, "%s: holds step %ld, the model step %ld", opath, ostep,
                         start);
            goto out;
        }
    }
    if (sinks.enabled) {
        mctx.layout = &sinks.layout;
        mctx.n_sources = sinks.sources.n;
        if ((size_t)sinks.sources.n * a.cfg.hidden <= (64u << 20) / sizeof(float)) {
            mctx.table = malloc(sizeof(float) * (size_t)sinks.sources.n * a.cfg.hidden);
            for (int s = 0; mctx.table && s < sinks.sources.n; s++)
                sink_mask_source(&sinks.layout, (uint32_t)s + 1,
                                 mctx.table + (size_t)s * a.cfg.hidden);
        }
        a.o.row_mask = row_mask;
        a.o.mask_ctx = &mctx;
    }

    /* output directory and log */
    struct stat ost;
    if (mkdir(a.out, 0777) && errno != EEXIST) {
        rc = err_set(&e, CAPE_EINPUT, "%s: cannot create the output directory: %s", a.out,
                     strerror(errno));
        goto out;
    }
    if (stat(a.out, &ost) != 0 || !S_ISDIR(ost.st_mode)) {
        rc = err_set(&e, CAPE_EINPUT, "%s: exists and is not a directory", a.out);
        goto out;
    }
    char logpath[4096];
    snprintf(logpath, sizeof logpath, "%s/log.jsonl", a.out);
    if ((rc = file_check_output(logpath, &e)) || (a.resume && (rc = trim_log(logpath, start, &e))))
        goto out;
    log = fopen(logpath, a.resume ? "a" : "w");
    if (!log) {
        rc = err_set(&e, CAPE_EINPUT, "%s: cannot write: %s", logpath, strerror(errno));
        goto out;
    }

    tg_set_threads(a.threads);
    meta_ctx meta = {&tk, &sinks, &a};
    step_ctx sctx = {log, !a.quiet && isatty(2), {0}, 0, 0};
    a.o.add_meta = add_meta;
    a.o.meta_ctx = &meta;
    a.o.on_step = on_step;
    a.o.step_ctx = &sctx;
    a.o.out_dir = a.out;
    a.o.stop = &g_stop;
    struct sigaction sa = {0}, old_int, old_term;
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART; /* a checkpoint write in progress goes on */
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    if (!a.quiet && isatty(2))
        fprintf(stderr, "cape train: %s, %zu parameters, %zu training rows (%.1f%% of positions "
                "used), %zu validation rows, %d sources%s, %s products\n",
                train_arch_name(a.cfg.arch), m.n_params, ds.train.n_rows,
                100.0 * fill_fraction(&ds.train), ds.val.n_rows, sinks.sources.n,
                sinks.enabled ? " with sinks" : "", tg_kernel_name());
    rc = train_run(&m, &ds, &a.o, start, &opt, &e);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    if (rc && g_stop) {
        /* stopped by a signal after the checkpoint of the last step */
        err_clear(&e);
        err_set(&e, CAPE_EFAIL, "interrupted by %s after step %ld of %ld; the checkpoint is in %s, "
                "continue with --resume", g_stop == SIGINT ? "SIGINT" : "SIGTERM", sctx.last.step,
                a.o.steps, a.out);
        interrupted = 128 + g_stop;
    }
    if (rc)
        goto out;
    const train_progress *p = &sctx.last;
    if (a.o.stop_after > 0 && a.o.stop_after < a.o.steps) {
        printf("stopped after step %ld of %ld; checkpoint in %s (continue with --resume)\n",
               a.o.stop_after, a.o.steps, a.out);
    } else if (a.json) {
        json_t *j = json_object();
        json_object_set_new(j, "model", json_sprintf("%s/model.gguf", a.out));
        json_object_set_new(j, "arch", json_string(train_arch_name(a.cfg.arch)));
        json_object_set_new(j, "parameters", json_integer((json_int_t)m.n_params));
        json_object_set_new(j, "products", json_string(tg_kernel_name()));
        json_object_set_new(j, "steps", json_integer(a.o.steps));
        json_object_set_new(j, "loss", json_real(p->loss));
        if (sctx.has_val)
            json_object_set_new(j, "val_loss", json_real(sctx.last_val));
        json_object_set_new(j, "tok_per_s", json_real(p->tok_per_s));
        json_object_set_new(j, "useful_tok_per_s", json_real(p->useful_per_s));
        json_object_set_new(j, "train_rows", json_integer((json_int_t)ds.train.n_rows));
        json_object_set_new(j, "fill", json_real(fill_fraction(&ds.train)));
        json_object_set_new(j, "elapsed_s", json_real(p->elapsed_s));
        json_object_set_new(j, "cpu_s", json_real(cpu_seconds()));
        json_object_set_new(j, "wall_s", json_real(wall_seconds() - wall0));
        json_object_set_new(j, "sinks", json_boolean(sinks.enabled));
        json_object_set_new(j, "sources", json_integer(sinks.sources.n));
        char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        printf("%s\n", s);
        free(s);
        json_decref(j);
    } else if (a.init && a.o.steps == 0) {
        if (a.sink_units)
            printf("wrote %s/model.gguf: %s with %d sink units added to every MLP, the same "
                   "function (%zu parameters)\n", a.out, a.init, a.sink_units, m.n_params);
        else
            printf("wrote %s/model.gguf: %s unchanged (%zu parameters)\n", a.out, a.init,
                   m.n_params);
    } else if (start == a.o.steps) {
        printf("wrote %s/model.gguf from the checkpoint of the last step (%ld)\n", a.out, start);
    } else {
        printf("trained %s/model.gguf: %zu parameters, %ld steps, loss %.4f", a.out, m.n_params,
               a.o.steps, p->loss);
        if (sctx.has_val)
            printf(", validation loss %.4f", sctx.last_val);
        printf(", %.0f tokens/s\n", p->tok_per_s);
    }
out:
    if (log)
        fclose(log);
    free(mctx.table);
    free(src_ids);
    adamw_free(&opt);
    train_model_free(&m);
    train_dataset_free(&ds);
    sink_model_free(&sinks);
    train_tokenizer_free(&tk);
    train_corpus_free(&corpus);
    ckpt_free(&resume_f);
    train_init_close(&isrc);
    rc = rc ? cli_report(&e) : 0;
    return interrupted ? interrupted : rc;
}
