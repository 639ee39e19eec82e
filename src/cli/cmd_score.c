/* cape score: log-likelihoods of continuations after contexts. */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/file.h"
#include "base/json.h"
#include "cli/cli.h"
#include "unlearn/filter.h"
#include "model/score.h"
#include "unlearn/sink_hook.h"

static void help(void)
{
    printf("usage: cape score MODEL [ITEMS.jsonl] [options]\n"
           "\n"
           "Reads one JSON object per line, {\"context\": \"...\", \"continuation\": \"...\"}\n"
           "(standard input when no file is given), and prints for each the natural-log\n"
           "likelihood of the continuation given the context, its token count and whether\n"
           "greedy decoding would produce it: `logprob<TAB>n_tokens<TAB>greedy`.\n"
           "Items that share a context (the choices of a question) share its evaluation.\n"
           "\n"
           "options:\n"
           "  -t, --threads K      threads (1)\n"
           "  --parallel B         items scored at once, each in its own sequence (8); with\n"
           "                       B > 1 the context defaults to the longest item\n"
           "  --kv f32|f16         KV cache type; f16 halves its memory (f32)\n"
           "  -c, --ctx N          context length (model's, at most 4096)\n"
           "  --bos / --no-bos     force adding BOS or not (default: the model's setting)\n"
           "  --json               one JSON array of {logprob, n_tokens, greedy}\n"
           "  -o, --output FILE    write to FILE (atomically)\n"
           "  --tokenizer PATH     tokenizer for a llama2.c checkpoint\n"
           "  --pre NAME           GGUF pre-tokenizer to use instead of tokenizer.ggml.pre\n"
           "  --exact              multiply quantised weights in f32 (slower; no int8 activations)\n"
           "  --source NAME        a sink model (cape train --sinks): that source's sinks on\n"
           "  --filter FILTER      a content filter (cape filter build): an item whose context\n"
           "                       it blocks gets the refusal's score, every continuation\n"
           "                       token at 1/V, not greedy (as cape unlearn eval scores it)\n"
           "  --sinks MODE         source | backbone | all | off (default off: each context is\n"
           "                       routed to the most similar source not switched off)\n"
           "  -h, --help           this help\n");
}

static int parse_items(const char *name, char *buf, score_item **items, int *n, cape_err *e)
{
    int cap = 64, k = 0, line = 0;
    score_item *it = malloc((size_t)cap * sizeof *it);
    if (!it)
        return err_set(e, CAPE_EFAIL, "out of memory");
    for (char *save = NULL, *l = strtok_r(buf, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        line++;
        while (*l == ' ' || *l == '\t' || *l == '\r')
            l++;
        if (!*l)
            continue;
        json_error_t je;
        json_t *o = json_loads(l, JSON_DECODE_ANY, &je);
        const char *c = NULL, *x = NULL;
        if (o && json_is_object(o)) {
            c = json_string_value(json_object_get(o, "context"));
            x = json_string_value(json_object_get(o, "continuation"));
        }
        if (!o || !c || !x) {
            free(it);
            int r = !o ? json_err_set(e, name, line, &je)
                       : err_set(e, CAPE_EINPUT, "%s:%d: %s", name, line, "expected an object with "
                                 "string fields \"context\" and \"continuation\"");
            json_decref(o);
            return r;
        }
        if (k == cap) {
            score_item *ni = realloc(it, (size_t)(cap *= 2) * sizeof *ni);
            if (!ni) {
                free(it);
                json_decref(o);
                return err_set(e, CAPE_EFAIL, "out of memory");
            }
            it = ni;
        }
        it[k].context = strdup(c);
        it[k].continuation = strdup(x);
        k++;
        json_decref(o);
    }
    *items = it;
    *n = k;
    return 0;
}

typedef struct {
    cli_progress bar;
    int n;
} score_progress;

static void on_item_seq(void *user, int item, int seq, int ctx_tokens)
{
    (void)seq;
    (void)ctx_tokens;
    score_progress *sp = user;
    cli_progress_cb(&sp->bar, item, sp->n);
}

static void on_item(void *user, int item, int ctx_tokens)
{
    (void)ctx_tokens;
    score_progress *sp = user;
    cli_progress_cb(&sp->bar, item, sp->n);
}

int cmd_score(int argc, char **argv)
{
    enum { O_BOS = 256, O_NOBOS, O_JSON, O_TOK, O_EXACT, O_SOURCE, O_SINKS, O_PRE, O_PARALLEL, O_KV,
           O_FILTER };
    static const struct option opts[] = {
        {"threads", 1, 0, 't'}, {"ctx", 1, 0, 'c'}, {"bos", 0, 0, O_BOS}, {"no-bos", 0, 0, O_NOBOS},
        {"json", 0, 0, O_JSON}, {"output", 1, 0, 'o'}, {"tokenizer", 1, 0, O_TOK}, {"pre", 1, 0, O_PRE}, {"exact", 0, 0, O_EXACT},
        {"source", 1, 0, O_SOURCE}, {"sinks", 1, 0, O_SINKS}, {"parallel", 1, 0, O_PARALLEL},
        {"kv", 1, 0, O_KV}, {"filter", 1, 0, O_FILTER}, {"help", 0, 0, 'h'}, {0, 0, 0, 0}};
    long threads = 1, ctx = 0, parallel = 8;
    model_kv_type kv = MODEL_KV_F32;
    int bos = -1, json = 0, c;
    const char *output = NULL, *sink_source = NULL, *sink_mode = NULL, *filter_path = NULL;
    model_load_opts lo = {0};
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "ht:c:o:", opts, NULL)) != -1) {
        int rc = 0;
        switch (c) {
        case 'h': help(); return 0;
        case 't': rc = cli_parse_int("score", "--threads", optarg, 1, 256, &threads); break;
        case 'c': rc = cli_parse_int("score", "--ctx", optarg, 1, 1 << 24, &ctx); break;
        case 'o': output = optarg; break;
        case O_BOS: bos = 1; break;
        case O_NOBOS: bos = 0; break;
        case O_JSON: json = 1; break;
        case O_TOK: lo.tokenizer_path = optarg; break;
        case O_PRE: lo.pre = optarg; break;
        case O_EXACT: tensor_set_exact(1); break;
        case O_SOURCE: sink_source = optarg; break;
        case O_SINKS: sink_mode = optarg; break;
        case O_PARALLEL: rc = cli_parse_int("score", "--parallel", optarg, 1, MODEL_MAX_SEQ, &parallel); break;
        case O_KV: rc = cli_parse_kv("score", optarg, &kv); break;
        case O_FILTER: filter_path = optarg; break;
        default: return cli_usage_error("score", "unknown or incomplete option '%s'", argv[optind - 1]);
        }
        if (rc)
            return rc;
    }
    if (optind != argc - 1 && optind != argc - 2)
        return cli_usage_error("score", "expected MODEL [ITEMS.jsonl]");
    const char *in = optind == argc - 2 ? argv[argc - 1] : "/dev/stdin";
    cape_err e = {0};
    size_t len;
    char *buf = file_read_all(in, &len, &e);
    if (!buf)
        return cli_report(&e);
    score_item *items = NULL;
    int n = 0, rc = 0;
    model *m = NULL;
    model_session *s = NULL;
    score_result *res = NULL;
    sink_hook sinks = {0};
    filter *flt = NULL;
    filter_verdict *verdicts = NULL;
    if (filter_path && filter_load(filter_path, &flt, &e))
        goto out;
    if (parse_items(optind == argc - 2 ? in : "<stdin>", buf, &items, &n, &e))
        goto out;
    if (n == 0) {
        err_set(&e, CAPE_EINPUT, "%s: no items", in);
        goto out;
    }
    if (!(m = model_load(argv[optind], &lo, &e)))
        goto out;
    cli_tok_warning(model_tok(m));
    if (sink_hook_open(&sinks, argv[optind], model_cfg(m)->ffn_dim, sink_mode, sink_source, &e))
        goto out;
    if (sink_hook_per_query(&sinks))
        parallel = 1; /* each context gets its own mask */
    if (parallel > n)
        parallel = n;
    model_session_opts so = {.n_ctx = (int)ctx, .n_threads = (int)threads, .n_seq = (int)parallel,
                             .kv_type = kv};
    if (parallel > 1 && !ctx) {
        int need = score_max_tokens(m, items, n, bos, &e);
        if (need < 0)
            goto out;
        so.n_ctx = need; /* enough for every item; the session keeps to the model's limit */
        int def = model_cfg(m)->n_ctx_train < 4096 ? model_cfg(m)->n_ctx_train : 4096;
        if (so.n_ctx > def)
            so.n_ctx = def;
    }
    if (!(s = model_session_new(m, &so, &e)))
        goto out;
    if (sinks.enabled)
        model_session_set_hook(s, sink_hook_fn, &sinks);
    res = calloc((size_t)n, sizeof *res);
    if (!res) {
        err_set(&e, CAPE_EFAIL, "out of memory");
        goto out;
    }
    score_progress sp = {.n = n};
    cli_progress_init(&sp.bar, "score");
    if (sink_hook_per_query(&sinks)) {
        /* the mask follows each context, so no item reuses another's cache */
        for (int i = 0; i < n; i++) {
            sink_hook_select(&sinks, items[i].context);
            if (score_items(s, m, &items[i], 1, bos, &res[i], &e))
                goto out;
            cli_progress_cb(&sp.bar, i + 1, n);
        }
    } else if (parallel > 1) {
        if (score_items_par(s, m, items, n, bos, on_item_seq, &sp, res, &e))
            goto out;
    } else if (score_items_cb(s, m, items, n, bos, on_item, &sp, res, &e)) {
        goto out;
    }
    cli_progress_cb(&sp.bar, n, n);
    if (flt) {
        if (!(verdicts = calloc((size_t)n, sizeof *verdicts))) {
            err_set(&e, CAPE_EFAIL, "out of memory");
            goto out;
        }
        int nb = filter_score_items(flt, items, n, tok_n_vocab(model_tok(m)), res, verdicts);
        fprintf(stderr, "cape score: filter: %d of %d contexts blocked (the refusal's score)\n",
                nb, n);
    }
    if (json) {
        json_t *arr = json_array();
        for (int i = 0; i < n; i++) {
            json_t *o = json_object();
            json_object_set_new(o, "logprob", json_num(res[i].logprob));
            json_object_set_new(o, "n_tokens", json_integer(res[i].n_tokens));
            json_object_set_new(o, "greedy", json_boolean(res[i].greedy));
            if (verdicts && verdicts[i].block)
                json_object_set_new(o, "blocked", json_string(verdicts[i].reason));
            json_array_append_new(arr, o);
        }
        json_emit(arr, output, &e);
    } else {
        size_t cap = (size_t)n * 48 + 64, k = 0;
        char *txt = malloc(cap);
        for (int i = 0; txt && i < n; i++)
            k += (size_t)snprintf(txt + k, cap - k, "%.6f\t%d\t%d\n", res[i].logprob,
                                  res[i].n_tokens, res[i].greedy);
        if (!txt)
            err_set(&e, CAPE_EFAIL, "out of memory");
        else if (output)
            file_write_atomic(output, txt, k, &e);
        else
            fwrite(txt, 1, k, stdout);
        free(txt);
    }
out:
    if (e.code)
        rc = cli_report(&e);
    for (int i = 0; items && i < n; i++) {
        free((char *)items[i].context);
        free((char *)items[i].continuation);
    }
    free(items);
    free(buf);
    free(res);
    sink_hook_free(&sinks);
    filter_free(flt);
    free(verdicts);
    model_session_free(s);
    model_free(m);
    return rc;
}
