#include "train/train_init.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/model_impl.h"
#include "tensor/quant.h"

#define SUPPORTED "llama, qwen2, qwen3, gemma3"

int train_init_open(train_init_src *s, const char *path, train_config *cfg, cape_err *e)
{
    memset(s, 0, sizeof *s);
    memset(cfg, 0, sizeof *cfg);
    snprintf(s->path, sizeof s->path, "%s", path);
    FILE *fp = fopen(path, "rb");
    char magic[4] = {0};
    if (fp) {
        if (fread(magic, 1, 4, fp) != 4)
            memset(magic, 0, 4);
        fclose(fp);
    }
    if (fp && memcmp(magic, "GGUF", 4) != 0)
        return err_set(e, CAPE_EINPUT, "%s: --init takes a GGUF model (" SUPPORTED ")", path);
    if (!(s->meta = gguf_open(path, e)))
        return e->code;
    char arch[64] = "";
    gguf_get_cstr(s->meta, "general.architecture", arch, sizeof arch);
    train_arch ta;
    if (train_arch_parse(arch, &ta) || ta == TRAIN_GPT2) {
        int rc = err_set(e, CAPE_EINPUT, "%s: architecture '%s' cannot be fine-tuned; the trainer "
                         "supports " SUPPORTED, path, arch);
        train_init_close(s);
        return rc;
    }
    if (!(s->src = model_load(path, NULL, e))) {
        train_init_close(s);
        return e->code;
    }
    const model_config *c = model_cfg(s->src);
    const model *m = s->src;
    const model_layer *L0 = &m->layers[0];
    const char *why = NULL;
    if (c->rope != MODEL_ROPE_NORMAL && c->rope != MODEL_ROPE_NEOX)
        why = "has no rotary embedding";
    else if (c->rope_dims != c->head_dim)
        why = "rotates only part of each head";
    else if (c->rope_scale != 1.0f || m->rope_freqs)
        why = "scales its rotary frequencies";
    else if (c->norm != MODEL_NORM_RMS || c->parallel_residual)
        why = "uses another block layout";
    else if (c->mlp == MODEL_MLP_GELU || (c->mlp == MODEL_MLP_GEGLU && c->gelu != MODEL_GELU_TANH))
        why = "uses another MLP";
    else if (fabsf(c->attn_scale * sqrtf((float)c->head_dim) - 1.0f) > 1e-6f)
        why = "scales attention scores otherwise than by 1/sqrt(head size)";
    else if (L0->wqkv.data || L0->bo || L0->b_up || L0->b_down || (!!L0->bq != !!L0->bk) ||
             (!!L0->bq != !!L0->bv))
        why = "has fused or other biased projections";
    if (!why)
        for (int l = 0; l < c->n_layers; l++) {
            const model_layer *L = &m->layers[l];
            if (!!L->bq != !!L0->bq || !!L->q_norm != !!c->qk_norm ||
                !!L->post_attn_norm != !!c->post_norms || !!L->post_ffn_norm != !!c->post_norms ||
                L->wqkv.data || L->bo || L->b_up || L->b_down)
                why = "has layers that differ in their tensors";
        }
    if (why) {
        int rc = err_set(e, CAPE_EINPUT, "%s: this %s model %s, which the trainer does not "
                         "implement (it fine-tunes " SUPPORTED ")", path, arch, why);
        train_init_close(s);
        return rc;
    }
    cfg->arch = ta;
    cfg->vocab = c->n_vocab;
    cfg->dim = c->dim;
    cfg->n_layers = c->n_layers;
    cfg->n_heads = c->n_heads;
    cfg->n_kv_heads = c->n_kv_heads;
    cfg->head_dim = c->head_dim;
    cfg->hidden = c->ffn_dim;
    cfg->ctx = c->n_ctx_train > 65536 ? 65536 : c->n_ctx_train;
    cfg->norm_eps = c->norm_eps;
    cfg->rope_theta = c->rope_base;
    cfg->rope_theta_swa = c->rope_base_swa;
    cfg->rope_neox = c->rope == MODEL_ROPE_NEOX;
    cfg->sliding_window = c->sliding_window;
    cfg->swa_period = c->swa_period;
    cfg->qkv_bias = L0->bq != NULL;
    cfg->qk_norm = c->qk_norm;
    cfg->post_norms = c->post_norms;
    cfg->geglu = c->mlp == MODEL_MLP_GEGLU;
    cfg->tied = c->tied_embeddings;
    cfg->embed_scale = c->embed_scale != 1.0f ? c->embed_scale : 0.0f;
    if (train_config_check(cfg, e)) {
        char msg[sizeof e->msg];
        snprintf(msg, sizeof msg, "%s", e->msg);
        err_clear(e);
        train_init_close(s);
        return err_set(e, CAPE_EINPUT, "%s: %s", path, msg);
    }
    return 0;
}

void train_init_close(train_init_src *s)
{
    model_free(s->src);
    gguf_close(s->meta);
    s->src = NULL;
    s->meta = NULL;
}

static int copy_mat(float *dst, const tensor_mat *w, int64_t rows, int64_t cols, const char *name,
                    const char *path, cape_err *e)
{
    if (!w->data || w->rows != rows || w->cols != cols)
        return err_set(e, CAPE_EINPUT, "%s: tensor %s is missing or of another shape", path,
                       name);
    for (int64_t r = 0; r < rows; r++)
        tensor_mat_row(w, r, dst + r * cols);
    return 0;
}

/* w (rows, cols) into the first cols columns of dst (rows, stride); the
 * columns past cols are zeroed (retrofitted sink units: no output at first). */
static int copy_mat_wide(float *dst, int64_t stride, const tensor_mat *w, int64_t rows,
                         int64_t cols, const char *name, const char *path, cape_err *e)
{
    if (!w->data || w->rows != rows || w->cols != cols)
        return err_set(e, CAPE_EINPUT, "%s: tensor %s is missing or of another shape", path,
                       name);
    for (int64_t r = 0; r < rows; r++) {
        tensor_mat_row(w, r, dst + r * stride);
        memset(dst + r * stride + cols, 0, sizeof(float) * (size_t)(stride - cols));
    }
    return 0;
}

static int copy_vec(float *dst, const float *v, int64_t n, const char *name, const char *path,
                    cape_err *e)
{
    if (!v)
        return err_set(e, CAPE_EINPUT, "%s: tensor %s is missing", path, name);
    memcpy(dst, v, sizeof(float) * (size_t)n);
    return 0;
}

int train_init_load(train_model *m, const train_init_src *s, cape_err *e)
{
    const train_config *c = &m->cfg;
    const model *src = s->src;
    int64_t C = c->dim, I = c->hidden, V = c->vocab, hs = train_head_dim(c);
    /* a wider MLP than the source's: the source's units come first, the
     * rest (sink units) keep their initial gate/up rows and get zero
     * down-projection columns, so the function is unchanged */
    int64_t I0 = model_cfg(src)->ffn_dim;
    if (I < I0)
        return err_set(e, CAPE_EINPUT, "%s: MLP width %lld is below the source's %lld", s->path,
                       (long long)I, (long long)I0);
    int64_t QD = c->n_heads * hs, KV = c->n_kv_heads * hs;
    const char *p = s->path;
    int rc = copy_mat(m->p.tok_emb, &src->tok_embd, V, C, "token_embd.weight", p, e);
    rc = rc || copy_vec(m->p.norm_w, src->out_norm, C, "output_norm.weight", p, e);
    if (!rc && !c->tied)
        rc = copy_mat(m->p.head, &src->output, V, C, "output.weight", p, e);
    for (int l = 0; l < c->n_layers && !rc; l++) {
        const model_layer *S = &src->layers[l];
        train_layer_params *D = &m->p.layers[l];
        rc = copy_vec(D->norm1_w, S->attn_norm, C, "attn_norm.weight", p, e) ||
             copy_mat(D->wq, &S->wq, QD, C, "attn_q.weight", p, e) ||
             copy_mat(D->wk, &S->wk, KV, C, "attn_k.weight", p, e) ||
             copy_mat(D->wv, &S->wv, KV, C, "attn_v.weight", p, e) ||
             copy_mat(D->wo, &S->wo, C, QD, "attn_output.weight", p, e) ||
             copy_vec(D->norm2_w, S->ffn_norm, C, "ffn_norm.weight", p, e) ||
             copy_mat(D->w_gate, &S->w_gate, I0, C, "ffn_gate.weight", p, e) ||
             copy_mat(D->w_up, &S->w_up, I0, C, "ffn_up.weight", p, e) ||
             copy_mat_wide(D->w_down, I, &S->w_down, C, I0, "ffn_down.weight", p, e);
        if (!rc && c->qkv_bias)
            rc = copy_vec(D->bq, S->bq, QD, "attn_q.bias", p, e) ||
                 copy_vec(D->bk, S->bk, KV, "attn_k.bias", p, e) ||
                 copy_vec(D->bv, S->bv, KV, "attn_v.bias", p, e);
        if (!rc && c->qk_norm)
            rc = copy_vec(D->q_norm, S->q_norm, hs, "attn_q_norm.weight", p, e) ||
                 copy_vec(D->k_norm, S->k_norm, hs, "attn_k_norm.weight", p, e);
        if (!rc && c->post_norms)
            rc = copy_vec(D->post_attn, S->post_attn_norm, C, "post_attention_norm.weight", p, e) ||
                 copy_vec(D->post_ffn, S->post_ffn_norm, C, "post_ffw_norm.weight", p, e);
    }
    return rc ? e->code : 0;
}

int train_out_type_parse(const char *s, train_out_type *out)
{
    static const char *names[] = {"f32", "f16", "bf16", "q8_0"};
    for (int i = 0; i < 4; i++)
        if (strcmp(s, names[i]) == 0) {
            *out = (train_out_type)i;
            return 0;
        }
    return -1;
}

/* The data of one tensor in the output type; *type gets the type used. */
static void *convert(const float *x, int64_t rows, int64_t cols, train_out_type want,
                     tensor_type *type)
{
    size_t n = (size_t)rows * (size_t)cols;
    if (rows == 1 || want == TRAIN_OUT_F32 || (want == TRAIN_OUT_Q8_0 && cols % 32)) {
        /* vectors stay f32 (as llama.cpp's converters write norms); a
         * matrix whose rows are not whole q8_0 blocks stays f32 too */
        *type = TENSOR_F32;
        return NULL;
    }
    if (want == TRAIN_OUT_Q8_0) {
        block_q8_0 *q = malloc(sizeof(block_q8_0) * (n / 32));
        for (int64_t r = 0; q && r < rows; r++)
            quant_q8_0_row(x + r * cols, q + r * (cols / 32), cols);
        *type = TENSOR_Q8_0;
        return q;
    }
    uint16_t *h = malloc(2 * n);
    for (size_t i = 0; h && i < n; i++)
        h[i] = want == TRAIN_OUT_F16 ? tensor_f32_to_f16(x[i]) : tensor_f32_to_bf16(x[i]);
    *type = want == TRAIN_OUT_F16 ? TENSOR_F16 : TENSOR_BF16;
    return h;
}

int train_init_save(const train_model *m, const train_init_src *s, train_out_type type,
                    train_init_meta_fn meta, void *meta_ctx, const char *path, cape_err *e)
{
    gguf_writer *w = gguf_writer_new();
    void **owned = calloc((size_t)m->n_tensors, sizeof *owned);
    int rc = !w || !owned;
    for (int64_t i = 0; !rc && i < gguf_n_kv(s->meta); i++)
        rc = gguf_writer_copy_kv(w, gguf_kv_at(s->meta, i));
    static const uint32_t ftype[] = {0, 1, 32, 7}; /* llama.cpp's LLAMA_FTYPE_* */
    if (!rc)
        rc = gguf_writer_set_u32(w, "general.file_type", ftype[type]);
    /* the MLP width, wider than the source's with retrofitted sink units */
    char arch[64] = "", key[96];
    gguf_get_cstr(s->meta, "general.architecture", arch, sizeof arch);
    snprintf(key, sizeof key, "%s.feed_forward_length", arch);
    if (!rc)
        rc = gguf_writer_set_u32(w, key, (uint32_t)m->cfg.hidden);
    if (!rc && meta)
        rc = meta(meta_ctx, w);
    for (int i = 0; i < m->n_tensors && !rc; i++) {
        const train_tensor *t = &m->tensors[i];
        const float *x = m->params + t->offset;
        int64_t rows = t->ndim == 2 ? t->shape[0] : 1, cols = t->ndim == 2 ? t->shape[1] : t->shape[0];
        tensor_type tt;
        owned[i] = convert(x, rows, cols, type, &tt);
        if (tt != TENSOR_F32 && !owned[i]) {
            rc = -1;
            break;
        }
        int64_t ne[2] = {cols, rows};
        rc = gguf_writer_add_tensor(w, t->name, tt, (uint32_t)t->ndim, ne,
                                    owned[i] ? owned[i] : (const void *)x);
    }
    if (rc)
        rc = err_set(e, CAPE_EFAIL, "%s: out of memory building the model file", path);
    else
        rc = gguf_writer_write(w, path, e);
    for (int i = 0; owned && i < m->n_tensors; i++)
        free(owned[i]);
    free(owned);
    gguf_writer_free(w);
    return rc;
}
