/* load_st: Hugging Face checkpoints (config.json + safetensors +
 * tokenizer.json). Tensor names are translated to GGUF names so the rest of
 * the runtime sees one naming; the few layout differences are undone here:
 * GPT-2's Conv1D weights are stored transposed, GPT-NeoX interleaves q, k, v
 * per head, and Gemma stores RMSNorm weights as w where the model uses 1 + w. */
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "model/model_impl.h"
#include "base/json.h"
#include "model/safetensors.h"
#include "tensor/quant.h"

/* An integer field of config.json (def when absent); a value outside
 * [0, 2^31) is recorded as an error in *e (the first one wins) and gives 0. */
typedef struct {
    const char *path;
    cape_err *e;
} jctx;

static int jint(const jctx *j, json_t *o, const char *k, int def)
{
    json_t *v = json_object_get(o, k);
    if (!json_is_integer(v))
        return def;
    json_int_t x = json_integer_value(v);
    if (x < 0 || x > INT32_MAX) {
        err_set(j->e, CAPE_EINPUT, "%s: \"%s\" = %" JSON_INTEGER_FORMAT " is out of range "
                "(0 to %d)", j->path, k, x, INT32_MAX);
        return 0;
    }
    return (int)x;
}

static double jnum(json_t *o, const char *k, double def)
{
    json_t *v = json_object_get(o, k);
    return json_is_number(v) ? json_number_value(v) : def;
}

static int config_from_json(model *m, json_t *cj, const char *path, cape_err *e)
{
    const jctx jc = {path, e};
    model_config *c = &m->cfg;
    json_t *tc = json_object_get(cj, "text_config");
    if (json_is_object(tc))
        cj = tc;
    const char *mt = json_string_value(json_object_get(cj, "model_type"));
    static const struct {
        const char *hf;
        model_arch arch;
    } MT[] = {{"llama", MODEL_ARCH_LLAMA}, {"mistral", MODEL_ARCH_LLAMA},
              {"qwen2", MODEL_ARCH_QWEN2}, {"qwen3", MODEL_ARCH_QWEN3},
              {"gemma3_text", MODEL_ARCH_GEMMA3}, {"gemma3", MODEL_ARCH_GEMMA3},
              {"gpt_neox", MODEL_ARCH_GPTNEOX}, {"gpt2", MODEL_ARCH_GPT2}};
    int found = 0;
    for (size_t i = 0; mt && i < sizeof MT / sizeof *MT; i++)
        if (strcmp(mt, MT[i].hf) == 0) {
            c->arch = MT[i].arch;
            found = 1;
        }
    if (!found)
        return err_set(e, CAPE_EINPUT, "%s: config.json model_type '%s' is not supported", m->path,
                       mt ? mt : "(missing)");
    model_arch_defaults(c);
    c->rope = c->rope == MODEL_ROPE_NONE ? MODEL_ROPE_NONE : MODEL_ROPE_NEOX; /* HF rotate_half */
    c->dim = jint(&jc, cj, "hidden_size", jint(&jc, cj, "n_embd", 0));
    c->n_layers = jint(&jc, cj, "num_hidden_layers", jint(&jc, cj, "n_layer", 0));
    c->n_heads = jint(&jc, cj, "num_attention_heads", jint(&jc, cj, "n_head", 0));
    c->n_kv_heads = jint(&jc, cj, "num_key_value_heads", c->n_heads);
    c->head_dim = jint(&jc, cj, "head_dim", c->n_heads > 0 ? c->dim / c->n_heads : 0);
    c->ffn_dim = jint(&jc, cj, "intermediate_size", 0);
    if (c->arch == MODEL_ARCH_GPT2)
        c->ffn_dim = jint(&jc, cj, "n_inner", c->dim <= (1 << 28) ? 4 * c->dim : 0);
    c->n_vocab = jint(&jc, cj, "vocab_size", 0);
    c->n_ctx_train = jint(&jc, cj, "max_position_embeddings", jint(&jc, cj, "n_positions", 2048));
    if (e->code)
        return e->code;
    if (c->n_ctx_train == 0)
        return err_set(e, CAPE_EINPUT, "%s: \"%s\" = 0: the trained context must be at least 1 "
                       "token", jc.path, json_object_get(cj, "max_position_embeddings")
                                           ? "max_position_embeddings" : "n_positions");
    c->norm_eps = (float)jnum(cj, "rms_norm_eps",
                              jnum(cj, "layer_norm_eps", jnum(cj, "layer_norm_epsilon", c->norm_eps)));
    c->rope_base = (float)jnum(cj, "rope_theta", jnum(cj, "rotary_emb_base", c->rope_base));
    c->rope_base_swa = (float)jnum(cj, "rope_local_base_freq", 10000.0);
    c->rope_dims = (int)(c->head_dim * jnum(cj, "rotary_pct", jnum(cj, "partial_rotary_factor", 1.0)));
    json_t *rs = json_object_get(cj, "rope_scaling");
    if (json_is_object(rs)) {
        const char *ty = json_string_value(json_object_get(rs, "rope_type"));
        if (!ty)
            ty = json_string_value(json_object_get(rs, "type"));
        if (ty && strcmp(ty, "linear") == 0 && jnum(rs, "factor", 1) > 0)
            c->rope_scale = (float)(1.0 / jnum(rs, "factor", 1));
        else if (ty && strcmp(ty, "default") != 0)
            return err_set(e, CAPE_EINPUT, "%s: rope_scaling type '%s' is not supported", m->path, ty);
    }
    json_t *pr = json_object_get(cj, "use_parallel_residual");
    if (json_is_boolean(pr))
        c->parallel_residual = json_is_true(pr);
    const char *act = json_string_value(json_object_get(cj, "hidden_act"));
    if (!act)
        act = json_string_value(json_object_get(cj, "hidden_activation"));
    if (!act)
        act = json_string_value(json_object_get(cj, "activation_function"));
    if (act && strcmp(act, "gelu") == 0)
        c->gelu = MODEL_GELU_ERF;
    else if (act && (strstr(act, "tanh") || strcmp(act, "gelu_new") == 0 || strcmp(act, "gelu_fast") == 0))
        c->gelu = MODEL_GELU_TANH;
    if (c->arch == MODEL_ARCH_GEMMA3) {
        json_t *sw = json_object_get(cj, "sliding_window");
        c->sliding_window = json_is_integer(sw) ? jint(&jc, cj, "sliding_window", 0) : 0;
        c->swa_period = jint(&jc, cj, "sliding_window_pattern", 6);
        if (e->code)
            return e->code;
        json_t *lt = json_object_get(cj, "layer_types"), *x;
        size_t i;
        json_array_foreach(lt, i, x) {
            const char *s = json_string_value(x);
            if (s && strcmp(s, "full_attention") == 0) {
                c->swa_period = (int)i + 1; /* the first global layer closes the period */
                break;
            }
        }
        c->embed_scale = sqrtf((float)c->dim);
        c->attn_scale = (float)(1.0 / sqrt(jnum(cj, "query_pre_attn_scalar", c->head_dim)));
    }
    return 0;
}

typedef struct {
    model *m;
    tensor_table tab;
    int cap;
    cape_err *e;
} st_builder;

static gguf_tensor *push(st_builder *b, const char *name, const st_tensor *t)
{
    if (b->tab.n == b->cap) {
        int cap = b->cap ? 2 * b->cap : 128;
        gguf_tensor *n = realloc(b->tab.t, (size_t)cap * sizeof *n);
        if (!n)
            return NULL;
        b->tab.t = n;
        b->cap = cap;
    }
    gguf_tensor *g = &b->tab.t[b->tab.n];
    memset(g, 0, sizeof *g);
    g->name = model_own(b->m, strdup(name));
    if (!g->name)
        return NULL;
    g->n_dims = (uint32_t)(t->n_dims ? t->n_dims : 1);
    for (int d = 0; d < GGUF_MAX_DIMS; d++)
        g->ne[d] = 1;
    for (int d = 0; d < t->n_dims && d < GGUF_MAX_DIMS; d++)
        g->ne[d] = t->shape[t->n_dims - 1 - d];
    g->type = t->type;
    g->data = t->data;
    g->nbytes = t->nbytes;
    /* safetensors does not align its data (the header length is free); the
     * kernels read f32/f16/bf16 as arrays of their type, so a misaligned
     * tensor is copied once to aligned memory */
    if ((uintptr_t)g->data % 4 && g->nbytes) {
        void *copy = model_own(b->m, malloc(g->nbytes));
        if (!copy)
            return NULL;
        memcpy(copy, g->data, g->nbytes);
        g->data = copy;
    }
    b->tab.n++;
    return g;
}

/* f32 copy of a 2-D tensor, transposed (Conv1D [in, out] -> rows of out). */
static int transpose(st_builder *b, gguf_tensor *g)
{
    int64_t rows = g->ne[1], cols = g->ne[0];
    float *src = malloc((size_t)(rows * cols) * 4), *dst = model_own(b->m, malloc((size_t)(rows * cols) * 4));
    if (!src || !dst) {
        free(src);
        return err_set(b->e, CAPE_EFAIL, "out of memory");
    }
    for (int64_t r = 0; r < rows; r++)
        quant_dequant_row(g->type, (const char *)g->data + (size_t)r * (size_t)tensor_row_bytes(g->type, cols),
                          src + r * cols, cols);
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < cols; c++)
            dst[c * rows + r] = src[r * cols + c];
    free(src);
    g->ne[0] = rows;
    g->ne[1] = cols;
    g->type = TENSOR_F32;
    g->data = dst;
    g->nbytes = (uint64_t)(rows * cols) * 4;
    return 0;
}

/* GPT-NeoX query_key_value: rows ordered [head][q|k|v][head_dim] -> [q all; k all; v all]. */
static int uninterleave_qkv(st_builder *b, gguf_tensor *g)
{
    const model_config *c = &b->m->cfg;
    int64_t hd = c->head_dim, nh = c->n_heads;
    int vec = g->n_dims == 1;
    int64_t rows = vec ? g->ne[0] : g->ne[1];
    if (rows != 3 * nh * hd)
        return err_set(b->e, CAPE_EINPUT, "%s: '%s' has %lld rows, expected %lld", b->m->path,
                       g->name, (long long)rows, (long long)(3 * nh * hd));
    size_t rb = (size_t)tensor_row_bytes(g->type, vec ? 1 : g->ne[0]);
    char *dst = model_own(b->m, malloc(rb * (size_t)rows));
    if (!dst)
        return err_set(b->e, CAPE_EFAIL, "out of memory");
    for (int64_t h = 0; h < nh; h++)
        for (int part = 0; part < 3; part++)
            for (int64_t i = 0; i < hd; i++) {
                int64_t from = (h * 3 + part) * hd + i, to = part * nh * hd + h * hd + i;
                memcpy(dst + (size_t)to * rb, (const char *)g->data + (size_t)from * rb, rb);
            }
    g->data = dst;
    return 0;
}

/* Gemma's RMSNorm scales by (1 + w). */
static int plus_one(st_builder *b, gguf_tensor *g)
{
    int64_t n = gguf_tensor_nelements(g);
    float *v = model_own(b->m, malloc((size_t)n * 4));
    if (!v)
        return err_set(b->e, CAPE_EFAIL, "out of memory");
    quant_dequant_row(g->type, g->data, v, n);
    for (int64_t i = 0; i < n; i++)
        v[i] += 1.f;
    g->type = TENSOR_F32;
    g->data = v;
    g->nbytes = (uint64_t)n * 4;
    return 0;
}

typedef struct {
    const char *hf, *gguf;
} name_map;

static const name_map LLAMA_LIKE[] = {
    {"input_layernorm.weight", "attn_norm.weight"},
    {"self_attn.q_proj.weight", "attn_q.weight"}, {"self_attn.q_proj.bias", "attn_q.bias"},
    {"self_attn.k_proj.weight", "attn_k.weight"}, {"self_attn.k_proj.bias", "attn_k.bias"},
    {"self_attn.v_proj.weight", "attn_v.weight"}, {"self_attn.v_proj.bias", "attn_v.bias"},
    {"self_attn.o_proj.weight", "attn_output.weight"},
    {"self_attn.q_norm.weight", "attn_q_norm.weight"},
    {"self_attn.k_norm.weight", "attn_k_norm.weight"},
    {"mlp.gate_proj.weight", "ffn_gate.weight"}, {"mlp.up_proj.weight", "ffn_up.weight"},
    {"mlp.down_proj.weight", "ffn_down.weight"},
    {"pre_feedforward_layernorm.weight", "ffn_norm.weight"},
    {"post_feedforward_layernorm.weight", "post_ffw_norm.weight"},
    {NULL, NULL}};

static const name_map NEOX[] = {
    {"input_layernorm.weight", "attn_norm.weight"}, {"input_layernorm.bias", "attn_norm.bias"},
    {"post_attention_layernorm.weight", "ffn_norm.weight"},
    {"post_attention_layernorm.bias", "ffn_norm.bias"},
    {"attention.query_key_value.weight", "attn_qkv.weight"},
    {"attention.query_key_value.bias", "attn_qkv.bias"},
    {"attention.dense.weight", "attn_output.weight"}, {"attention.dense.bias", "attn_output.bias"},
    {"mlp.dense_h_to_4h.weight", "ffn_up.weight"}, {"mlp.dense_h_to_4h.bias", "ffn_up.bias"},
    {"mlp.dense_4h_to_h.weight", "ffn_down.weight"}, {"mlp.dense_4h_to_h.bias", "ffn_down.bias"},
    {NULL, NULL}};

static const name_map GPT2[] = {
    {"ln_1.weight", "attn_norm.weight"}, {"ln_1.bias", "attn_norm.bias"},
    {"ln_2.weight", "ffn_norm.weight"}, {"ln_2.bias", "ffn_norm.bias"},
    {"attn.c_attn.weight", "attn_qkv.weight"}, {"attn.c_attn.bias", "attn_qkv.bias"},
    {"attn.c_proj.weight", "attn_output.weight"}, {"attn.c_proj.bias", "attn_output.bias"},
    {"mlp.c_fc.weight", "ffn_up.weight"}, {"mlp.c_fc.bias", "ffn_up.bias"},
    {"mlp.c_proj.weight", "ffn_down.weight"}, {"mlp.c_proj.bias", "ffn_down.bias"},
    {NULL, NULL}};

static const char *strip(const char *name, const char *prefix)
{
    size_t n = strlen(prefix);
    return strncmp(name, prefix, n) == 0 ? name + n : NULL;
}

/* GGUF name of an HF tensor ("" to skip). */
static int translate(const model_config *c, const char *hf, char *out, size_t outsz)
{
    const char *r;
    *out = 0;
    const char *top[][2] = {{"model.embed_tokens.weight", "token_embd.weight"},
                            {"embed_tokens.weight", "token_embd.weight"},
                            {"model.norm.weight", "output_norm.weight"},
                            {"norm.weight", "output_norm.weight"},
                            {"lm_head.weight", "output.weight"},
                            {"gpt_neox.embed_in.weight", "token_embd.weight"},
                            {"embed_out.weight", "output.weight"},
                            {"gpt_neox.final_layer_norm.weight", "output_norm.weight"},
                            {"gpt_neox.final_layer_norm.bias", "output_norm.bias"},
                            {"transformer.wte.weight", "token_embd.weight"},
                            {"transformer.wpe.weight", "position_embd.weight"},
                            {"transformer.ln_f.weight", "output_norm.weight"},
                            {"transformer.ln_f.bias", "output_norm.bias"},
                            {"wte.weight", "token_embd.weight"},
                            {"wpe.weight", "position_embd.weight"},
                            {"ln_f.weight", "output_norm.weight"},
                            {"ln_f.bias", "output_norm.bias"}};
    for (size_t i = 0; i < sizeof top / sizeof *top; i++)
        if (strcmp(hf, top[i][0]) == 0) {
            snprintf(out, outsz, "%s", top[i][1]);
            return 0;
        }
    const char *pfx[] = {"model.layers.", "layers.", "gpt_neox.layers.", "transformer.h.", "h."};
    for (size_t i = 0; i < sizeof pfx / sizeof *pfx; i++) {
        if (!(r = strip(hf, pfx[i])))
            continue;
        char *end;
        long l = strtol(r, &end, 10);
        if (end == r || *end != '.' || l < 0 || l > 100000)
            return 0;
        const char *rest = end + 1;
        const name_map *map = c->arch == MODEL_ARCH_GPTNEOX ? NEOX : c->arch == MODEL_ARCH_GPT2 ? GPT2 : LLAMA_LIKE;
        if (strcmp(rest, "post_attention_layernorm.weight") == 0 && map == LLAMA_LIKE) {
            snprintf(out, outsz, "blk.%ld.%s", l,
                     c->arch == MODEL_ARCH_GEMMA3 ? "post_attention_norm.weight" : "ffn_norm.weight");
            return 0;
        }
        for (int k = 0; map[k].hf; k++)
            if (strcmp(rest, map[k].hf) == 0) {
                snprintf(out, outsz, "blk.%ld.%s", l, map[k].gguf);
                return 0;
            }
        return 0;
    }
    return 0;
}

static int is_norm(const char *g)
{
    return strstr(g, "norm.weight") != NULL;
}

static int dir_of(const char *path, char *dir, size_t n)
{
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        snprintf(dir, n, "%s", path);
        return 0;
    }
    const char *slash = strrchr(path, '/');
    if (slash)
        snprintf(dir, n, "%.*s", (int)(slash - path), path);
    else
        snprintf(dir, n, ".");
    return 0;
}

int model_load_safetensors(model *m, const char *path, const model_load_opts *o, cape_err *e)
{
    snprintf(m->format, sizeof m->format, "safetensors");
    char dir[2048], p[2200];
    dir_of(path, dir, sizeof dir);
    snprintf(p, sizeof p, "%s/config.json", dir);
    json_error_t je;
    json_t *cj = json_load_file(p, 0, &je);
    if (!cj)
        return json_err_set(e, p, 0, &je);
    int rc = config_from_json(m, cj, p, e);
    json_decref(cj);
    if (rc)
        return rc;
    st_set *st = st_open(path, e);
    if (!st)
        return e->code;
    m->st = st;
    st_builder b = {m, {NULL, 0}, 0, e};
    for (int i = 0; i < st_n_tensors(st) && !rc; i++) {
        const st_tensor *t = st_tensor_at(st, i);
        char g[128];
        translate(&m->cfg, t->name, g, sizeof g);
        if (!*g)
            continue;
        if (t->type != TENSOR_F32 && t->type != TENSOR_F16 && t->type != TENSOR_BF16) {
            rc = err_set(e, CAPE_EINPUT, "%s: tensor '%s' has an unsupported dtype %s", path,
                         t->name, tensor_type_name(t->type));
            break;
        }
        gguf_tensor *gt = push(&b, g, t);
        if (!gt) {
            rc = err_set(e, CAPE_EFAIL, "out of memory");
            break;
        }
        if (m->cfg.arch == MODEL_ARCH_GPT2 && gt->n_dims == 2 &&
            (strstr(g, "attn_qkv.weight") || strstr(g, "attn_output.weight") ||
             strstr(g, "ffn_up.weight") || strstr(g, "ffn_down.weight")))
            rc = transpose(&b, gt);
        else if (m->cfg.arch == MODEL_ARCH_GPTNEOX && strstr(g, "attn_qkv."))
            rc = uninterleave_qkv(&b, gt);
        else if (m->cfg.arch == MODEL_ARCH_GEMMA3 && is_norm(g))
            rc = plus_one(&b, gt);
    }
    model_own(m, b.tab.t);
    if (!rc)
        rc = model_build(m, &b.tab, e);
    if (rc)
        return rc;
    const char *tp = o && o->tokenizer_path ? o->tokenizer_path : NULL;
    if (!tp) {
        snprintf(p, sizeof p, "%s/tokenizer.json", dir);
        tp = p;
    }
    if (!(m->tok = tok_from_hf_json(tp, e)) || model_check_tok_size(m, tp, e))
        return e->code;
    m->cfg.bos_id = tok_bos(m->tok);
    m->cfg.eos_id = tok_eos(m->tok);
    return 0;
}
