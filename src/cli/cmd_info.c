/* cape info: what a model file holds. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "base/file.h"
#include "base/json.h"
#include "cli/cli.h"
#include "model/model.h"
#include "unlearn/sink_model.h"

static void help(void)
{
    printf("usage: cape info MODEL [--check] [--json] [-o FILE]\n"
           "\n"
           "Prints the architecture, sizes, tensor types and tokenizer of MODEL\n"
           "(.gguf, llama2.c .bin, or Hugging Face safetensors directory/file), and\n"
           "for a model trained with cape train --sinks its sink layout and sources.\n"
           "\n"
           "options:\n"
           "  --check              scan every weight for NaN and infinity (quantised blocks\n"
           "                       are dequantised); exit 1 when one is found\n"
           "  --json               machine-readable output\n"
           "  -o, --output FILE    write to FILE (atomically)\n"
           "  --tokenizer PATH     tokenizer for a llama2.c checkpoint\n"
           "  --pre NAME           GGUF pre-tokenizer to use instead of tokenizer.ggml.pre\n"
           "  -h, --help           this help\n");
}

typedef struct {
    int64_t params[TENSOR_NTYPES];
    int64_t total;
} counts;

static void count(const char *name, tensor_type type, int64_t rows, int64_t cols, void *user)
{
    (void)name;
    counts *c = user;
    c->params[type] += rows * cols;
    c->total += rows * cols;
}

static const char *rope_name(model_rope r)
{
    return r == MODEL_ROPE_NORMAL ? "normal" : r == MODEL_ROPE_NEOX ? "neox" : "none (learned positions)";
}

int cmd_info(int argc, char **argv)
{
    enum { O_JSON = 256, O_TOK, O_CHECK, O_PRE };
    static const struct option opts[] = {{"json", 0, 0, O_JSON}, {"output", 1, 0, 'o'},
                                         {"tokenizer", 1, 0, O_TOK}, {"pre", 1, 0, O_PRE},
                                         {"help", 0, 0, 'h'}, {"check", 0, 0, O_CHECK},
                                         {0, 0, 0, 0}};
    int json = 0, check = 0, c;
    const char *output = NULL;
    model_load_opts lo = {0};
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "ho:", opts, NULL)) != -1) {
        switch (c) {
        case 'h': help(); return 0;
        case 'o': output = optarg; break;
        case O_JSON: json = 1; break;
        case O_TOK: lo.tokenizer_path = optarg; break;
        case O_CHECK: check = 1; break;
        case O_PRE: lo.pre = optarg; break;
        default: return cli_usage_error("info", "unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (optind != argc - 1)
        return cli_usage_error("info", "expected one MODEL argument");
    cape_err e = {0};
    model *m = model_load(argv[optind], &lo, &e);
    if (!m)
        return cli_report(&e);
    const model_config *k = model_cfg(m);
    const tok *t = model_tok(m);
    cli_tok_warning(t);
    sink_model sm;
    model_weight_check wc = {0};
    if (sink_model_read_file(&sm, argv[optind], k->ffn_dim, &e) ||
        (check && model_check_weights(m, &wc, &e))) {
        model_free(m);
        return cli_report(&e);
    }
    counts cn = {0};
    model_each_tensor(m, count, &cn);
    json_t *r = json_object();
    json_object_set_new(r, "path", json_string(argv[optind]));
    json_object_set_new(r, "format", json_string(model_format(m)));
    json_object_set_new(r, "architecture", json_string(k->arch_name));
    json_object_set_new(r, "n_vocab", json_integer(k->n_vocab));
    json_object_set_new(r, "dim", json_integer(k->dim));
    json_object_set_new(r, "n_layers", json_integer(k->n_layers));
    json_object_set_new(r, "n_heads", json_integer(k->n_heads));
    json_object_set_new(r, "n_kv_heads", json_integer(k->n_kv_heads));
    json_object_set_new(r, "head_dim", json_integer(k->head_dim));
    json_object_set_new(r, "ffn_dim", json_integer(k->ffn_dim));
    json_object_set_new(r, "context_length", json_integer(k->n_ctx_train));
    json_object_set_new(r, "norm", json_string(k->norm == MODEL_NORM_RMS ? "rmsnorm" : "layernorm"));
    json_object_set_new(r, "norm_eps", json_num(k->norm_eps));
    json_object_set_new(r, "rope", json_string(rope_name(k->rope)));
    json_object_set_new(r, "rope_base", json_num(k->rope_base));
    json_object_set_new(r, "rope_dims", json_integer(k->rope_dims));
    json_object_set_new(r, "sliding_window", json_integer(k->sliding_window));
    json_object_set_new(r, "tied_embeddings", json_boolean(k->tied_embeddings));
    json_object_set_new(r, "matrix_params", json_integer(cn.total));
    json_object_set_new(r, "weight_bytes_per_token", json_integer((json_int_t)model_weight_bytes(m)));
    json_t *types = json_object();
    for (int i = 0; i < TENSOR_NTYPES; i++)
        if (cn.params[i])
            json_object_set_new(types, tensor_type_name((uint32_t)i), json_integer(cn.params[i]));
    json_object_set_new(r, "params_by_type", types);
    json_object_set_new(r, "tokenizer", json_string(tok_describe(t)));
    json_object_set_new(r, "bos_id", json_integer(tok_bos(t)));
    json_object_set_new(r, "eos_id", json_integer(tok_eos(t)));
    if (sm.enabled) {
        json_t *j = json_object(), *src = json_array(), *off = json_array();
        json_object_set_new(j, "p_gen", json_num(sm.layout.p_gen));
        json_object_set_new(j, "k", json_integer(sm.layout.k));
        json_object_set_new(j, "backbone", json_integer(sm.layout.n_backbone));
        json_object_set_new(j, "pool", json_integer(sm.layout.pool));
        json_object_set_new(j, "seed", json_integer((json_int_t)sm.layout.seed));
        json_object_set_new(j, "n_sources", json_integer(sm.sources.n));
        for (int i = 0; i < sm.sources.n; i++)
            json_array_append_new(src, json_string(sm.sources.names[i]));
        for (int i = 0; i < sm.n_off; i++)
            json_array_append_new(off, json_string(sm.sources.names[sm.off[i] - 1]));
        json_object_set_new(j, "sources", src);
        json_object_set_new(j, "off", off);
        json_object_set_new(j, "router", json_boolean(sm.has_router));
        json_object_set_new(r, "sinks", j);
    }
    if (check) {
        json_t *j = json_object();
        json_object_set_new(j, "ok", json_boolean(!wc.bad));
        json_object_set_new(j, "tensors_scanned", json_integer(wc.n_tensors));
        json_object_set_new(j, "values_scanned", json_integer(wc.n_values));
        if (wc.bad) {
            json_object_set_new(j, "tensor", json_string(wc.tensor));
            json_object_set_new(j, "element", json_integer(wc.element));
            json_object_set_new(j, "row", json_integer(wc.row));
            json_object_set_new(j, "col", json_integer(wc.col));
            json_object_set_new(j, "value", json_string(isnan(wc.value) ? "nan"
                                                        : wc.value > 0 ? "inf" : "-inf"));
        }
        json_object_set_new(r, "check", j);
    }
    int rc = 0;
    if (json) {
        rc = json_emit(r, output, &e) ? cli_report(&e) : 0;
    } else {
        static char buf[1 << 14];
        size_t len = 0;
        FILE *out = fmemopen(buf, sizeof buf, "w");
        fprintf(out, "model        %s (%s)\n", argv[optind], model_format(m));
        fprintf(out, "architecture %s\n", k->arch_name);
        fprintf(out, "size         %.2fM matrix parameters, %d layers, dim %d, ffn %d\n",
                cn.total / 1e6, k->n_layers, k->dim, k->ffn_dim);
        fprintf(out, "attention    %d heads, %d KV heads, head dim %d, context %d%s\n",
                k->n_heads, k->n_kv_heads, k->head_dim, k->n_ctx_train,
                k->sliding_window ? " (sliding window layers)" : "");
        if (k->sliding_window)
            fprintf(out, "window       %d tokens; one global layer in every %d (RoPE base %g on "
                    "window layers)\n", k->sliding_window, k->swa_period, k->rope_base_swa);
        fprintf(out, "norm         %s, eps %g\n", k->norm == MODEL_NORM_RMS ? "RMSNorm" : "LayerNorm",
                k->norm_eps);
        fprintf(out, "positions    RoPE %s, base %g, %d dims\n", rope_name(k->rope), k->rope_base,
                k->rope_dims);
        fprintf(out, "embeddings   %s\n", k->tied_embeddings ? "tied" : "separate output matrix");
        fprintf(out, "types       ");
        for (int i = 0; i < TENSOR_NTYPES; i++)
            if (cn.params[i])
                fprintf(out, " %s %.1f%%", tensor_type_name((uint32_t)i),
                        100.0 * cn.params[i] / cn.total);
        fprintf(out, "\ntokenizer    %s, %d tokens, bos %d, eos %d\n", tok_describe(t),
                tok_n_vocab(t), tok_bos(t), tok_eos(t));
        if (sm.enabled) {
            char list[512];
            fprintf(out, "sinks        p_gen %g, k %d per source, backbone %d + pool %d units, "
                    "seed %llu%s\n", sm.layout.p_gen, sm.layout.k, sm.layout.n_backbone,
                    sm.layout.pool, (unsigned long long)sm.layout.seed,
                    sm.has_router ? ", router" : "");
            fprintf(out, "sources      %d: %s\n", sm.sources.n,
                    sink_sources_list(&sm.sources, 8, list, sizeof list));
            fprintf(out, "switched off");
            if (!sm.n_off)
                fprintf(out, " none");
            for (int i = 0; i < sm.n_off; i++)
                fprintf(out, "%s %s", i ? "," : "", sm.sources.names[sm.off[i] - 1]);
            fprintf(out, "\n");
        }
        if (check && wc.bad)
            fprintf(out, "check        FAILED: %s element %lld (row %lld, column %lld) is %s\n",
                    wc.tensor, (long long)wc.element, (long long)wc.row, (long long)wc.col,
                    isnan(wc.value) ? "NaN" : wc.value > 0 ? "+inf" : "-inf");
        else if (check)
            fprintf(out, "check        OK: %lld values in %lld tensors are finite\n",
                    (long long)wc.n_values, (long long)wc.n_tensors);
        fflush(out);
        len = (size_t)ftell(out);
        fclose(out);
        json_decref(r);
        if (output) {
            rc = file_write_atomic(output, buf, len, &e) ? cli_report(&e) : 0;
        } else {
            fwrite(buf, 1, len, stdout);
        }
    }
    sink_model_free(&sm);
    model_free(m);
    if (!rc && wc.bad) {
        fprintf(stderr, "cape info: %s has a non-finite weight (%s element %lld)\n", argv[optind],
                wc.tensor, (long long)wc.element);
        rc = CAPE_EFAIL;
    }
    return rc;
}
