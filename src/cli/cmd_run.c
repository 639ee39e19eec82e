/* cape run: generate text from a prompt, streaming it to stdout. */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/file.h"
#include "base/text.h"
#include "cli/cli.h"
#include "model/generate.h"
#include "unlearn/filter.h"
#include "model/model.h"
#include "model/sample.h"
#include "steer/apply.h"
#include "steer/direction.h"
#include "steer/hook.h"
#include "unlearn/sink_hook.h"

static void help(void)
{
    printf("usage: cape run MODEL -p PROMPT [options]\n"
           "       cape run MODEL --prompts FILE [--parallel B] [options]\n"
           "\n"
           "Generates text after PROMPT and streams it to stdout. MODEL is a .gguf file,\n"
           "a llama2.c .bin checkpoint (tokenizer.bin or tok<N>.bin beside it), or a\n"
           "Hugging Face model directory / .safetensors file with config.json and\n"
           "tokenizer.json. With --prompts, continues every prompt of FILE (one per\n"
           "line, or JSON lines with a \"prompt\" string), B at a time in one batch,\n"
           "each as a run of that prompt alone would, and writes one JSON line per\n"
           "prompt, in order: {\"prompt\", \"text\", \"n_prompt\", \"n_tokens\", \"stop\"}.\n"
           "\n"
           "options:\n"
           "  -p, --prompt TEXT    the prompt (required; '-' reads standard input)\n"
           "  --prompts FILE       many prompts ('-' reads standard input)\n"
           "  --parallel B         with --prompts: sequences decoded at once (16)\n"
           "  --kv f32|f16         KV cache type; f16 halves its memory (f32)\n"
           "  -n, --n-predict N    tokens to generate (128)\n"
           "  --temp T             temperature; 0 = greedy (0.8)\n"
           "  --top-k K            sample among the K most likely tokens; 0 = all (40)\n"
           "  --top-p P            nucleus sampling mass (0.95)\n"
           "  --seed S             random seed (42)\n"
           "  -t, --threads K      threads (1)\n"
           "  -c, --ctx N          context length (model's, at most 4096)\n"
           "  --tokenizer PATH     tokenizer for a llama2.c checkpoint\n"
           "  --pre NAME           GGUF pre-tokenizer to use instead of tokenizer.ggml.pre\n"
           "  --no-bos             do not add the BOS token the model asks for\n"
           "  --ignore-eos         keep generating after the end-of-sequence token\n"
           "  --stats              print prompt and generation speed to stderr\n"
           "  --dump-logits FILE   write the logits after the prompt (float32, n_vocab)\n"
           "  --exact              multiply quantised weights in f32 (slower; no int8 activations)\n"
           "  --steer FILE         add a control vector (llama.cpp format; see cape steer)\n"
           "  --scale S            its multiplier (1)\n"
           "  --layers A-B         blocks to steer (every block the file has)\n"
           "  --steer-last-only    steer from the last prompt token on, not every position\n"
           "  --gate               the paper's cosine gate on the steering strength\n"
           "  --source NAME        a sink model (cape train --sinks): that source's sinks on\n"
           "  --filter FILTER      a content filter (cape filter build): a prompt it blocks is\n"
           "                       not run, and generation stops before the token that\n"
           "                       completes blocked text (exit 1, the reason on stderr)\n"
           "  --sinks MODE         source | backbone | all | off: which sinks are on (off, the\n"
           "                       default, routes the prompt to the most similar source\n"
           "                       that is not switched off; see docs/TRAINER.md)\n"
           "  --relative           the scale is a fraction of each block's residual norm\n"
           "  -h, --help           this help\n");
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static char *read_stdin(size_t *len)
{
    size_t cap = 4096, n = 0;
    char *b = malloc(cap);
    size_t got;
    while (b && (got = fread(b + n, 1, cap - n - 1, stdin)) > 0) {
        n += got;
        if (n + 1 == cap) {
            char *nb = realloc(b, cap *= 2);
            if (!nb) {
                free(b);
                return NULL;
            }
            b = nb;
        }
    }
    if (b) {
        b[n] = 0;
        *len = n;
    }
    return b;
}

/* ---- many prompts ---- */

typedef struct {
    const model *m;
    char **prompts;
    char **lines;    /* each prompt's JSON line, once done */
    int n, printed;
    int failed;
} many_out;

static void many_done(void *user, int i, const gen_result *r)
{
    many_out *o = user;
    const tok *t = model_tok(o->m);
    size_t cap = 64, len = 0;
    char *txt = malloc(cap);
    for (int k = 0; txt && k < r->n; k++) {
        char piece[256];
        int n = tok_piece(t, r->ids[k], 0, piece, sizeof piece);
        n = n < (int)sizeof piece ? n : (int)sizeof piece;
        if (len + (size_t)n + 1 > cap) {
            char *nt = realloc(txt, cap = 2 * (len + (size_t)n + 1));
            if (!nt) {
                free(txt);
                txt = NULL;
                break;
            }
            txt = nt;
        }
        memcpy(txt + len, piece, (size_t)n);
        len += (size_t)n;
    }
    static const char *stops[] = {"length", "eos", "context"};
    size_t clen = 0, plen = 0;
    char *clean = txt ? text_utf8_copyn(txt, len, &clen) : NULL;
    char *pclean = text_utf8_copyn(o->prompts[i], strlen(o->prompts[i]), &plen);
    json_t *obj = json_object();
    json_object_set_new(obj, "prompt", pclean ? json_stringn(pclean, plen) : json_null());
    json_object_set_new(obj, "text", clean ? json_stringn(clean, clen) : json_null());
    o->failed |= !clean || !pclean;
    free(clean);
    free(pclean);
    json_object_set_new(obj, "n_prompt", json_integer(r->n_prompt));
    json_object_set_new(obj, "n_tokens", json_integer(r->n));
    json_object_set_new(obj, "stop", json_string(stops[r->stop]));
    o->lines[i] = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
    o->failed |= !txt || !o->lines[i];
    json_decref(obj);
    free(txt);
    while (o->printed < o->n && o->lines[o->printed]) {
        fputs(o->lines[o->printed], stdout);
        putchar('\n');
        free(o->lines[o->printed]);
        o->lines[o->printed++] = (char *)"";
    }
    fflush(stdout);
}

/* FILE ('-': standard input) read whole, then parsed by the library. */
static int read_prompts(const char *path, char ***out, int *n, cape_err *e)
{
    size_t len = 0;
    char *buf = strcmp(path, "-") == 0 ? read_stdin(&len) : file_read_all(path, &len, e);
    if (!buf)
        return e->code ? e->code : err_set(e, CAPE_EINPUT, "cannot read standard input");
    int rc = gen_prompts_parse(buf, len, strcmp(path, "-") == 0 ? "standard input" : path, out, n, e);
    free(buf);
    return rc;
}

static int run_many(const char *model_path, const model_load_opts *lo, const char *file,
                    const gen_opts *go, int stats)
{
    cape_err e = {0};
    many_out o = {0};
    gen_stats st;
    model *m = NULL;
    if (read_prompts(file, &o.prompts, &o.n, &e) || !(m = model_load(model_path, lo, &e)))
        goto out;
    cli_tok_warning(model_tok(m));
    o.m = m;
    if (!(o.lines = calloc((size_t)o.n, sizeof *o.lines))) {
        err_set(&e, CAPE_EFAIL, "out of memory");
        goto out;
    }
    double t0 = now_s();
    if (gen_many(m, (const char *const *)o.prompts, o.n, go, many_done, &o, &st, &e))
        goto out;
    double t1 = now_s();
    if (o.failed)
        err_set(&e, CAPE_EFAIL, "out of memory writing the results");
    else if (stats)
        fprintf(stderr, "cape run: %d prompts (%ld tokens), %ld tokens generated in %.3f s "
                "(%.1f tok/s), %d at once, %d evaluations; decode %ld tokens in %.3f s (%.1f tok/s); "
                "KV cache %.1f MiB (%d positions each)\n",
                o.n, st.prompt_tokens, st.gen_tokens, t1 - t0, st.gen_tokens / (t1 - t0),
                go->n_seq < o.n ? go->n_seq : o.n, st.steps, st.decode_rows, st.decode_s,
                st.decode_s > 0 ? st.decode_rows / st.decode_s : 0.0, st.kv_bytes / 1048576.0,
                st.n_ctx);
out:
    for (int i = 0; o.lines && i < o.n; i++)
        if (i >= o.printed)
            free(o.lines[i]);
    gen_prompts_free(o.prompts, o.n);
    free(o.lines);
    model_free(m);
    return e.code ? cli_report(&e) : 0;
}

int cmd_run(int argc, char **argv)
{
    enum { O_TEMP = 256, O_TOPK, O_TOPP, O_SEED, O_TOK, O_NOBOS, O_IGNEOS, O_STATS, O_STEER,
           O_SCALE, O_LAYERS, O_LAST, O_GATE, O_DUMP, O_EXACT, O_SOURCE, O_SINKS, O_REL, O_PRE,
           O_PROMPTS, O_PARALLEL, O_KV, O_FILTER };
    static const struct option opts[] = {
        {"prompt", 1, 0, 'p'}, {"n-predict", 1, 0, 'n'}, {"temp", 1, 0, O_TEMP},
        {"top-k", 1, 0, O_TOPK}, {"top-p", 1, 0, O_TOPP}, {"seed", 1, 0, O_SEED},
        {"threads", 1, 0, 't'}, {"ctx", 1, 0, 'c'}, {"tokenizer", 1, 0, O_TOK}, {"pre", 1, 0, O_PRE},
        {"no-bos", 0, 0, O_NOBOS}, {"ignore-eos", 0, 0, O_IGNEOS}, {"stats", 0, 0, O_STATS}, {"dump-logits", 1, 0, O_DUMP}, {"exact", 0, 0, O_EXACT},
        {"steer", 1, 0, O_STEER}, {"scale", 1, 0, O_SCALE}, {"layers", 1, 0, O_LAYERS},
        {"steer-last-only", 0, 0, O_LAST}, {"gate", 0, 0, O_GATE},
        {"source", 1, 0, O_SOURCE}, {"sinks", 1, 0, O_SINKS},
        {"relative", 0, 0, O_REL}, {"prompts", 1, 0, O_PROMPTS}, {"parallel", 1, 0, O_PARALLEL},
        {"kv", 1, 0, O_KV}, {"filter", 1, 0, O_FILTER},
        {"help", 0, 0, 'h'}, {0, 0, 0, 0}};
    const char *cmd = "run", *prompt = NULL, *dump = NULL, *prompts_file = NULL;
    long n_predict = 128, threads = 1, ctx = 0, topk = 40, seed = 42, parallel = 16;
    model_kv_type kv = MODEL_KV_F32;
    double temp = 0.8, topp = 0.95;
    int no_bos = 0, ign_eos = 0, stats = 0, c;
    model_load_opts lo = {0};
    const char *steer_path = NULL, *sink_source = NULL, *sink_mode = NULL, *filter_path = NULL;
    double scale = 1.0;
    steer_cfg sc = {.layer_lo = -1, .layer_hi = -1, .gate_layer = -1};
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "hp:n:t:c:", opts, NULL)) != -1) {
        int rc = 0;
        switch (c) {
        case 'h': help(); return 0;
        case 'p': prompt = optarg; break;
        case 'n': rc = cli_parse_int(cmd, "--n-predict", optarg, 0, 1 << 24, &n_predict); break;
        case 't': rc = cli_parse_int(cmd, "--threads", optarg, 1, 256, &threads); break;
        case 'c': rc = cli_parse_int(cmd, "--ctx", optarg, 1, 1 << 24, &ctx); break;
        case O_TEMP: rc = cli_parse_double(cmd, "--temp", optarg, &temp); break;
        case O_TOPK: rc = cli_parse_int(cmd, "--top-k", optarg, 0, 1 << 24, &topk); break;
        case O_TOPP: rc = cli_parse_double(cmd, "--top-p", optarg, &topp); break;
        case O_SEED: rc = cli_parse_int(cmd, "--seed", optarg, 0, 0x7fffffffffffffffL, &seed); break;
        case O_TOK: lo.tokenizer_path = optarg; break;
        case O_PRE: lo.pre = optarg; break;
        case O_NOBOS: no_bos = 1; break;
        case O_IGNEOS: ign_eos = 1; break;
        case O_STATS: stats = 1; break;
        case O_DUMP: dump = optarg; break;
        case O_EXACT: tensor_set_exact(1); break;
        case O_STEER: steer_path = optarg; break;
        case O_SCALE: rc = cli_parse_double(cmd, "--scale", optarg, &scale); break;
        case O_LAYERS: {
            char tail;
            if (sscanf(optarg, "%d-%d%c", &sc.layer_lo, &sc.layer_hi, &tail) != 2) {
                if (sscanf(optarg, "%d%c", &sc.layer_lo, &tail) != 1)
                    sc.layer_lo = -2;
                sc.layer_hi = sc.layer_lo;
            }
            if (sc.layer_lo < 0 || sc.layer_hi < sc.layer_lo)
                rc = cli_usage_error(cmd, "--layers expects A-B or a block number, got '%s'",
                                     optarg);
            break;
        }
        case O_LAST: sc.last_only = 1; break;
        case O_GATE: sc.gate = 1; break;
        case O_SOURCE: sink_source = optarg; break;
        case O_SINKS: sink_mode = optarg; break;
        case O_REL: sc.relative = 1; break;
        case O_PROMPTS: prompts_file = optarg; break;
        case O_PARALLEL: rc = cli_parse_int(cmd, "--parallel", optarg, 1, MODEL_MAX_SEQ, &parallel); break;
        case O_KV: rc = cli_parse_kv(cmd, optarg, &kv); break;
        case O_FILTER: filter_path = optarg; break;
        default: return cli_usage_error(cmd, "unknown or incomplete option '%s'", argv[optind - 1]);
        }
        if (rc)
            return rc;
    }
    if (optind != argc - 1)
        return cli_usage_error(cmd, "expected one MODEL argument");
    if (temp < 0 || !(topp > 0 && topp <= 1))
        return cli_usage_error(cmd, "--temp must be >= 0 and --top-p in (0, 1]");
    if (prompts_file) {
        if (prompt || steer_path || sink_source || sink_mode || dump || filter_path)
            return cli_usage_error(cmd, "--prompts does not combine with -p, --steer, --source, "
                                   "--sinks, --filter or --dump-logits");
        gen_opts go = {.n_predict = (int)n_predict,
                       .sample = {(float)temp, (int)topk, (float)topp, (uint64_t)seed},
                       .ignore_eos = ign_eos, .add_bos = no_bos ? 0 : -1, .n_seq = (int)parallel,
                       .n_ctx = (int)ctx, .n_threads = (int)threads, .kv_type = kv};
        return run_many(argv[optind], &lo, prompts_file, &go, stats);
    }
    if (!prompt)
        return cli_usage_error(cmd, "missing --prompt");
    char *owned_prompt = NULL;
    size_t stdin_len;
    if (strcmp(prompt, "-") == 0 && !(prompt = owned_prompt = read_stdin(&stdin_len)))
        return cli_usage_error(cmd, "cannot read the prompt from standard input");

    cape_err e = {0};
    int rc = 0, *ids = NULL, n = 0;
    filter *flt = NULL;
    char *gen_text = NULL;
    size_t gen_len = 0;
    model_session *s = NULL;
    sampler smp = {0};
    cvec cv = {0};
    steer_plan plan = {0};
    steer_hook hook;
    sink_hook sinks = {0};
    model *m = NULL;
    if (filter_path) {
        filter_verdict v;
        if (filter_load(filter_path, &flt, &e))
            goto out;
        if (filter_check(flt, prompt, &v)) {
            fprintf(stderr, "cape run: filter: the prompt is blocked (%s)\n", v.reason);
            rc = CAPE_EFAIL;
            goto out;
        }
    }
    if (!(m = model_load(argv[optind], &lo, &e)))
        goto out;
    const tok *t = model_tok(m);
    cli_tok_warning(t);
    const model_config *cfg = model_cfg(m);
    int flags = TOK_PARSE_SPECIAL | (!no_bos && tok_wants_bos(t) ? TOK_ADD_BOS : 0);
    if (tok_encode(t, prompt, strlen(prompt), flags, &ids, &n, &e))
        goto out;
    if (n == 0) {
        err_set(&e, CAPE_EINPUT, "the prompt is empty and the model has no BOS token");
        goto out;
    }
    model_session_opts so = {.n_ctx = (int)ctx, .n_threads = (int)threads, .kv_type = kv};
    if (!(s = model_session_new(m, &so, &e)))
        goto out;
    if (ctx > cfg->n_ctx_train)
        fprintf(stderr, "cape run: warning: -c %ld is above the model's trained context of %d "
                "tokens%s\n", ctx, cfg->n_ctx_train,
                model_session_n_ctx(s) < ctx ? " (its learned positions end there: using that)"
                                             : "; text past it may degrade");
    if (n >= model_session_n_ctx(s)) {
        err_set(&e, CAPE_EINPUT, "the prompt has %d tokens, the context only %d", n,
                model_session_n_ctx(s));
        goto out;
    }
    if (steer_path) {
        double cosv;
        sc.cv = &cv;
        sc.scale = (float)scale;
        if (cvec_load(steer_path, cfg->dim, &cv, &e) ||
            steer_attach(s, m, &sc, ids, n, &plan, &hook, &cosv, &e))
            goto out;
        if (sc.gate)
            fprintf(stderr, "cape run: gate cosine %+.3f -> strength %.1f\n", cosv,
                    dir_gate_strength(cosv));
        model_session_rewind(s, 0);
    }
    if (sink_hook_open(&sinks, argv[optind], cfg->ffn_dim, sink_mode, sink_source, &e))
        goto out;
    if (sinks.enabled) {
        sink_hook_select(&sinks, prompt);
        if (steer_path) {
            sinks.next = steer_hook_fn;
            sinks.next_user = &hook;
        }
        model_session_set_hook(s, sink_hook_fn, &sinks);
        const char *used = sinks.used ? sinks.sm.sources.names[sinks.used - 1] : "none (backbone)";
        if (sinks.mode == SINK_MODE_SOURCE && sink_model_is_off(&sinks.sm, sinks.source))
            fprintf(stderr, "cape run: source %s is switched off in this model; the prompt was "
                    "routed to %s\n", sink_source, used);
        else
            fprintf(stderr, "cape run: sinks %s, using %s\n", sink_mode_name(sinks.mode), used);
    }
    sample_opts sopt = {(float)temp, (int)topk, (float)topp, (uint64_t)seed};
    sample_init(&smp, &sopt);
    fputs(prompt, stdout);
    fflush(stdout);
    double t0 = now_s();
    if (model_eval(s, ids, n, MODEL_LOGITS_LAST, &e))
        goto out;
    double t1 = now_s();
    if (dump && file_write_atomic(dump, model_logits(s, 0), (size_t)cfg->n_vocab * sizeof(float), &e))
        goto out;
    int gen = 0;
    while (gen < n_predict && model_session_pos(s) < model_session_n_ctx(s)) {
        int next = sample_next(&smp, model_logits(s, 0), cfg->n_vocab);
        if (next < 0) {
            err_set(&e, CAPE_EFAIL, "out of memory while sampling");
            goto out;
        }
        if (!ign_eos && next == cfg->eos_id)
            break;
        char piece[256];
        int k = tok_piece(t, next, 0, piece, sizeof piece);
        k = k < (int)sizeof piece ? k : (int)sizeof piece;
        if (flt) {
            /* the text so far with this piece: stop before printing it
             * when the filter blocks it */
            char *g = realloc(gen_text, gen_len + (size_t)k + 1);
            if (!g) {
                err_set(&e, CAPE_EFAIL, "out of memory");
                goto out;
            }
            gen_text = g;
            memcpy(gen_text + gen_len, piece, (size_t)k);
            gen_len += (size_t)k;
            gen_text[gen_len] = 0;
            filter_verdict v;
            if (filter_check(flt, gen_text, &v)) {
                putchar('\n');
                fprintf(stderr, "cape run: filter: generation stopped after %d tokens (%s)\n",
                        gen, v.reason);
                rc = CAPE_EFAIL;
                goto out;
            }
        }
        fwrite(piece, 1, (size_t)k, stdout);
        fflush(stdout);
        gen++;
        if (gen < n_predict && model_eval(s, &next, 1, MODEL_LOGITS_LAST, &e))
            goto out;
    }
    double t2 = now_s();
    putchar('\n');
    if (gen < n_predict && model_session_pos(s) >= model_session_n_ctx(s))
        fprintf(stderr, "cape run: stopped at the context limit (%d tokens)\n",
                model_session_n_ctx(s));
    if (stats)
        fprintf(stderr, "cape run: prompt %d tokens in %.3f s (%.1f tok/s), generated %d tokens "
                "in %.3f s (%.1f tok/s); KV cache %.1f MiB (%s, %d positions)\n", n, t1 - t0,
                n / (t1 - t0), gen, t2 - t1, gen > 1 ? (gen - 1) / (t2 - t1) : 0.0,
                model_session_kv_bytes(s) / 1048576.0, kv == MODEL_KV_F16 ? "f16" : "f32",
                model_session_n_ctx(s));
out:
    if (e.code)
        rc = cli_report(&e);
    steer_plan_free(&plan);
    filter_free(flt);
    free(gen_text);
    sink_hook_free(&sinks);
    cvec_free(&cv);
    sample_free(&smp);
    free(ids);
    free(owned_prompt);
    model_session_free(s);
    model_free(m);
    return rc;
}
