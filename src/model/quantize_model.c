/* quantize_model: the llama-quantize recipe over cape's GGUF reader and
 * writer. See quantize_model.h. */
#include "model/quantize_model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/file.h"
#include "model/gguf.h"
#include "tensor/pool.h"
#include "tensor/quant.h"
#include "tensor/quantize.h"

/* llama_ftype values (llama.h) */
enum {
    FT_F32 = 0, FT_F16 = 1, FT_Q4_0 = 2, FT_Q4_1 = 3, FT_Q8_0 = 7, FT_Q5_0 = 8, FT_Q5_1 = 9,
    FT_Q2_K = 10, FT_Q3_K_M = 12, FT_Q4_K_M = 15, FT_Q5_K_M = 17, FT_Q6_K = 18, FT_BF16 = 32
};

static const quantize_recipe RECIPES[] = {
    {"q8_0", "Q8_0", TENSOR_Q8_0, FT_Q8_0},     {"q4_0", "Q4_0", TENSOR_Q4_0, FT_Q4_0},
    {"q4_1", "Q4_1", TENSOR_Q4_1, FT_Q4_1},     {"q5_0", "Q5_0", TENSOR_Q5_0, FT_Q5_0},
    {"q5_1", "Q5_1", TENSOR_Q5_1, FT_Q5_1},     {"q4_k", "Q4_K_M", TENSOR_Q4_K, FT_Q4_K_M},
    {"q5_k", "Q5_K_M", TENSOR_Q5_K, FT_Q5_K_M}, {"q6_k", "Q6_K", TENSOR_Q6_K, FT_Q6_K},
    {"q2_k", "Q2_K", TENSOR_Q2_K, FT_Q2_K},     {"q3_k", "Q3_K_M", TENSOR_Q3_K, FT_Q3_K_M},
    {"f16", "F16", TENSOR_F16, FT_F16},         {"bf16", "BF16", TENSOR_BF16, FT_BF16},
    {"f32", "F32", TENSOR_F32, FT_F32},
};
enum { NRECIPES = sizeof RECIPES / sizeof *RECIPES };

const quantize_recipe *quantize_recipe_find(const char *name)
{
    if (!name)
        return NULL;
    for (int i = 0; i < NRECIPES; i++)
        if (!strcasecmp(name, RECIPES[i].name) || !strcasecmp(name, RECIPES[i].label))
            return &RECIPES[i];
    return NULL;
}

const char *quantize_recipe_names(void)
{
    static char buf[256];
    if (!buf[0])
        for (int i = 0; i < NRECIPES; i++) {
            if (i)
                strcat(buf, "|");
            strcat(buf, RECIPES[i].name);
        }
    return buf;
}

/* ---- which tensors, and to what type (llama-quant.cpp's rules) ---- */

typedef enum {
    C_TOKEN_EMBD, C_ATTN_Q, C_ATTN_V, C_ATTN_K, C_ATTN_QKV, C_ATTN_KV_B, C_ATTN_OUT, C_FFN_UP,
    C_FFN_GATE, C_FFN_DOWN, C_OUTPUT, C_OTHER
} category;

static int has(const char *s, const char *sub) { return strstr(s, sub) != NULL; }

static category categorise(const char *name)
{
    if (!strcmp(name, "output.weight"))
        return C_OUTPUT;
    if (!strcmp(name, "token_embd.weight") || !strcmp(name, "per_layer_token_embd.weight"))
        return C_TOKEN_EMBD;
    static const struct {
        const char *sub;
        category c;
    } by_sub[] = {{"attn_qkv.weight", C_ATTN_QKV}, {"attn_kv_b.weight", C_ATTN_KV_B},
                  {"attn_v.weight", C_ATTN_V},     {"attn_k.weight", C_ATTN_K},
                  {"attn_q.weight", C_ATTN_Q},     {"attn_output.weight", C_ATTN_OUT},
                  {"ffn_up", C_FFN_UP},            {"ffn_gate", C_FFN_GATE},
                  {"ffn_down", C_FFN_DOWN}};
    for (size_t i = 0; i < sizeof by_sub / sizeof *by_sub; i++)
        if (has(name, by_sub[i].sub))
            return by_sub[i].c;
    return C_OTHER;
}

static int is_attn_v(category c) { return c == C_ATTN_V || c == C_ATTN_QKV || c == C_ATTN_KV_B; }

/* ggml_n_dims: trailing dimensions of size 1 do not count */
static int n_dims(const gguf_tensor *t)
{
    for (int i = GGUF_MAX_DIMS - 1; i >= 1; i--)
        if (t->ne[i] > 1)
            return i + 1;
    return 1;
}

/* Names llama.cpp never quantises (small, or not matrices in the usual sense). */
static const char *const EXEMPT[] = {
    "_norm.weight", "ffn_gate_inp.weight", "ffn_gate_tid2eid.weight", "altup", "laurel",
    "per_layer_model_proj", "ssm_conv1d", "shortconv.conv.weight", "indexer.k_proj.weight",
    "indexer.q_proj.weight", "time_mix_first.weight", "time_mix_w0.weight", "time_mix_w1.weight",
    "time_mix_w2.weight", "time_mix_v0.weight", "time_mix_v1.weight", "time_mix_v2.weight",
    "time_mix_a0.weight", "time_mix_a1.weight", "time_mix_a2.weight", "time_mix_g1.weight",
    "time_mix_g2.weight", "time_mix_decay_w1.weight", "time_mix_decay_w2.weight",
    "time_mix_lerp_fused.weight", "attn_rel_b.weight", ".position_embd", "sam.pos_embd",
    "sam.neck.", "sam.net_", ".rel_pos", ".patch_embd", ".patch_merger", "a.rvq.codebook",
    "mm.a.code_embd"};

static int allows_quantization(const gguf_tensor *t, int keep_output)
{
    if (n_dims(t) < 2)
        return 0;
    const char *name = t->name;
    size_t len = strlen(name);
    if (len < 6 || strcmp(name + len - 6, "weight"))
        return 0;
    if (keep_output && !strcmp(name, "output.weight"))
        return 0;
    if (!strcmp(name, "position_embd.weight") || !strcmp(name, "token_types.weight"))
        return 0;
    for (size_t i = 0; i < sizeof EXEMPT / sizeof *EXEMPT; i++)
        if (has(name, EXEMPT[i]))
            return 0;
    return 1;
}

typedef struct {
    int ftype, falcon, is_70b, tied;
    int64_t n_gqa;
    int n_attention_wv, i_attention_wv, n_ffn_down, i_ffn_down;
} recipe_state;

static int use_more_bits(int i, int n) { return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2; }

/* llama_tensor_get_type_impl, for the mixes cape offers */
static tensor_type mix_type(recipe_state *s, const gguf_tensor *t, category c, tensor_type nt)
{
    const int ft = s->ftype;
    if (c == C_OUTPUT || (s->tied && c == C_TOKEN_EMBD)) {
        if (s->falcon || t->ne[0] % tensor_type_get(nt)->block)
            nt = TENSOR_Q8_0;
        else if (nt != TENSOR_Q8_0)
            nt = TENSOR_Q6_K;
    } else if (c == C_TOKEN_EMBD) {
        /* an untied embedding takes the main type */
    } else if (is_attn_v(c)) {
        if (ft == FT_Q2_K)
            nt = s->n_gqa >= 4 ? TENSOR_Q4_K : TENSOR_Q3_K;
        else if (ft == FT_Q3_K_M)
            nt = s->i_attention_wv < 2 ? TENSOR_Q5_K : TENSOR_Q4_K;
        else if ((ft == FT_Q4_K_M || ft == FT_Q5_K_M) &&
                 use_more_bits(s->i_attention_wv, s->n_attention_wv))
            nt = TENSOR_Q6_K;
        if (s->is_70b && (nt == TENSOR_Q3_K || nt == TENSOR_Q4_K))
            nt = TENSOR_Q5_K;
        s->i_attention_wv++;
    } else if (c == C_FFN_DOWN) {
        int i = s->i_ffn_down, n = s->n_ffn_down;
        if (ft == FT_Q2_K)
            nt = TENSOR_Q3_K;
        else if (ft == FT_Q3_K_M)
            nt = i < n / 16 ? TENSOR_Q5_K
                 : !s->falcon || use_more_bits(i, n) ? TENSOR_Q4_K
                                                     : TENSOR_Q3_K;
        else if (ft == FT_Q4_K_M) {
            if (s->falcon)
                nt = i < n / 16 ? TENSOR_Q6_K : use_more_bits(i, n) ? TENSOR_Q5_K : TENSOR_Q4_K;
            else if (use_more_bits(i, n))
                nt = TENSOR_Q6_K;
        } else if (ft == FT_Q5_K_M && use_more_bits(i, n))
            nt = TENSOR_Q6_K;
        s->i_ffn_down++;
    } else if (c == C_ATTN_OUT) {
        if (!s->falcon) {
            if (ft == FT_Q2_K)
                nt = TENSOR_Q3_K;
            else if (ft == FT_Q3_K_M)
                nt = TENSOR_Q4_K;
        }
    }
    /* (llama.cpp's separate attn_qkv rule is never reached: attn_qkv counts as attn_v) */
    return nt;
}

/* tensor_type_fallback: a row length the type cannot hold */
static tensor_type fallback(const gguf_tensor *t, tensor_type nt, int64_t *n_fallback)
{
    if (t->ne[0] % tensor_type_get(nt)->block == 0)
        return nt;
    (*n_fallback)++;
    switch (nt) {
    case TENSOR_Q2_K: case TENSOR_Q3_K: nt = TENSOR_Q4_0; break;
    case TENSOR_Q4_K: nt = TENSOR_Q5_0; break;
    case TENSOR_Q5_K: nt = TENSOR_Q5_1; break;
    case TENSOR_Q6_K: nt = TENSOR_Q8_0; break;
    default: break; /* Q4_0..Q8_0: F16 below */
    }
    if (t->ne[0] % tensor_type_get(nt)->block)
        nt = TENSOR_F16;
    return nt;
}

static int is_quantised(tensor_type t) { return t != TENSOR_F32 && t != TENSOR_F16 && t != TENSOR_BF16; }

/* llama.cpp visits tensors by layer, then by name (its weight_name_comparer);
 * the attn_v counter depends on that order. */
static int layer_of(const char *name)
{
    int l = -1;
    if (sscanf(name, "blk.%d.", &l) != 1)
        l = -1;
    return l;
}

typedef struct {
    int layer;
    const char *name;
    int64_t index;
} visit;

static int by_layer_name(const void *a, const void *b)
{
    const visit *x = a, *y = b;
    if (x->layer != y->layer)
        return x->layer < y->layer ? -1 : 1;
    return strcmp(x->name, y->name);
}

static int64_t arch_int(const gguf_file *f, const char *arch, const char *suffix, int64_t dflt)
{
    char key[256];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    int64_t v;
    return gguf_get_int(f, key, &v) ? v : dflt;
}

/* ---- conversion ---- */

typedef struct {
    const gguf_tensor *t;
    tensor_type to;
    int64_t n, row_in, row_out;
    uint8_t *dst;
    float **scratch; /* per thread */
    int64_t bad_row; /* first row holding NaN or infinity, or -1 */
} conv_job;

static void conv_rows(void *arg, int64_t begin, int64_t end, int ith)
{
    conv_job *j = arg;
    const uint8_t *src = j->t->data;
    for (int64_t r = begin; r < end; r++) {
        const float *x;
        if (j->t->type == TENSOR_F32) {
            x = (const float *)(src + r * j->row_in); /* GGUF data is 32-byte aligned */
        } else {
            quant_dequant_row(j->t->type, src + r * j->row_in, j->scratch[ith], j->n);
            x = j->scratch[ith];
        }
        if (tquant_rows(j->to, x, j->dst + r * j->row_out, 1, j->n)) {
            int64_t cur = __atomic_load_n(&j->bad_row, __ATOMIC_RELAXED);
            while ((cur < 0 || r < cur) &&
                   !__atomic_compare_exchange_n(&j->bad_row, &cur, r, 0, __ATOMIC_RELAXED,
                                                __ATOMIC_RELAXED)) {
            }
        }
    }
}

static int same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
           sa.st_ino == sb.st_ino;
}

static uint64_t file_size(const char *p)
{
    struct stat s;
    return stat(p, &s) == 0 ? (uint64_t)s.st_size : 0;
}

int quantize_model(const char *in, const char *out, const quantize_opts *o, quantize_stats *st,
                   cape_err *e)
{
    memset(st, 0, sizeof *st);
    if (!o->recipe)
        return err_set(e, CAPE_EINPUT, "no target type given");
    if (same_file(in, out))
        return err_set(e, CAPE_EINPUT, "%s: the output is the input file; choose another path",
                       out);
    if (file_check_output(out, e))
        return e->code;
    gguf_file *f = gguf_open(in, e);
    if (!f)
        return e->code;

    int64_t nt = gguf_n_tensors(f);
    tensor_type *to = calloc((size_t)(nt ? nt : 1), sizeof *to);
    uint8_t **bufs = calloc((size_t)(nt ? nt : 1), sizeof *bufs);
    visit *order = calloc((size_t)(nt ? nt : 1), sizeof *order);
    gguf_writer *w = gguf_writer_new();
    pool *p = NULL;
    float **scratch = NULL;
    int nth = o->n_threads > 0 ? o->n_threads : (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (nth < 1)
        nth = 1;
    int rc = 0;
    if (!to || !bufs || !order || !w) {
        rc = err_set(e, CAPE_EFAIL, "out of memory");
        goto done;
    }

    /* the plan */
    char arch[64] = "";
    gguf_get_cstr(f, "general.architecture", arch, sizeof arch);
    recipe_state s = {.ftype = o->recipe->ftype, .falcon = !strcmp(arch, "falcon"), .tied = 1};
    int64_t n_head = arch_int(f, arch, "attention.head_count", 0);
    int64_t n_head_kv = arch_int(f, arch, "attention.head_count_kv", n_head);
    int64_t n_layer = arch_int(f, arch, "block_count", 0);
    s.n_gqa = n_head_kv > 0 && n_head > 0 ? n_head / n_head_kv : 1;
    s.is_70b = !strcmp(arch, "llama") && n_layer == 80 && n_head != n_head_kv;
    int n_down = 0;
    for (int64_t i = 0; i < nt; i++) {
        const gguf_tensor *t = gguf_tensor_at(f, i);
        category c = categorise(t->name);
        if (c == C_OUTPUT)
            s.tied = 0;
        if (is_attn_v(c))
            s.n_attention_wv++;
        if (c == C_FFN_DOWN)
            n_down++;
        order[i] = (visit){layer_of(t->name), t->name, i};
    }
    s.n_ffn_down = n_layer > 0 ? (int)n_layer : n_down;
    qsort(order, (size_t)nt, sizeof *order, by_layer_name);
    for (int64_t k = 0; k < nt; k++) {
        int64_t i = order[k].index;
        const gguf_tensor *t = gguf_tensor_at(f, i);
        tensor_type want = t->type;
        if (allows_quantization(t, o->keep_output)) {
            want = o->recipe->type;
            if (is_quantised(want)) {
                want = mix_type(&s, t, categorise(t->name), want);
                want = fallback(t, want, &st->n_fallback);
            }
        }
        if (gguf_tensor_nelements(t) == 0)
            want = t->type; /* nothing to convert */
        if (want != t->type && !quant_supported(t->type)) {
            rc = err_set(e, CAPE_EINPUT, "%s: tensor %s has type %s, which cape cannot convert",
                         in, t->name, tensor_type_name(t->type));
            goto done;
        }
        to[i] = want;
    }

    /* metadata: everything, then the type of the file */
    for (int64_t i = 0; i < gguf_n_kv(f); i++) {
        const gguf_kv *kv = gguf_kv_at(f, i);
        if (!strcmp(kv->key, "general.file_type") ||
            !strcmp(kv->key, "general.quantization_version") || !strncmp(kv->key, "split.", 6))
            continue;
        gguf_writer_copy_kv(w, kv);
    }
    gguf_writer_set_u32(w, "general.quantization_version", 2);
    gguf_writer_set_u32(w, "general.file_type", (uint32_t)o->recipe->ftype);

    if (nth > 1 && !(p = pool_new(nth))) {
        rc = err_set(e, CAPE_EFAIL, "cannot start %d threads", nth);
        goto done;
    }
    scratch = calloc((size_t)nth, sizeof *scratch);
    if (!scratch) {
        rc = err_set(e, CAPE_EFAIL, "out of memory");
        goto done;
    }
    int64_t max_row = 1;
    for (int64_t i = 0; i < nt; i++) /* the longest row to convert (its tensor is in the file) */
        if (to[i] != gguf_tensor_at(f, i)->type && gguf_tensor_at(f, i)->ne[0] > max_row)
            max_row = gguf_tensor_at(f, i)->ne[0];
    for (int k = 0; k < nth; k++)
        if (!(scratch[k] = malloc((size_t)max_row * sizeof(float)))) {
            rc = err_set(e, CAPE_EFAIL, "out of memory");
            goto done;
        }

    for (int64_t i = 0; i < nt; i++) {
        const gguf_tensor *t = gguf_tensor_at(f, i);
        int64_t nel = gguf_tensor_nelements(t), rows = t->ne[0] > 0 ? nel / t->ne[0] : 0;
        const void *data = t->data;
        uint64_t nbytes = t->nbytes;
        st->count_in[t->type]++;
        st->data_in += t->nbytes;
        st->n_elements += nel;
        if (to[i] != t->type) {
            int64_t row_out = tensor_row_bytes(to[i], t->ne[0]);
            int64_t row_in = tensor_row_bytes(t->type, t->ne[0]);
            if (row_out < 0 || row_in < 0) {
                rc = err_set(e, CAPE_EINPUT, "%s: tensor %s: row of %lld values cannot be %s", in,
                             t->name, (long long)t->ne[0], tensor_type_name(to[i]));
                goto done;
            }
            nbytes = (uint64_t)(row_out * rows);
            if (!(bufs[i] = malloc(nbytes ? nbytes : 1))) {
                rc = err_set(e, CAPE_EFAIL, "out of memory for tensor %s (%llu bytes)", t->name,
                             (unsigned long long)nbytes);
                goto done;
            }
            conv_job j = {t, to[i], t->ne[0], row_in, row_out, bufs[i], scratch, -1};
            int64_t grain = t->ne[0] >= 8192 || t->ne[0] < 1 ? 1 : 8192 / t->ne[0];
            pool_for(p, rows, grain, conv_rows, &j);
            if (j.bad_row >= 0) {
                rc = err_set(e, CAPE_EINPUT,
                             "%s: tensor %s row %lld holds NaN or infinity; cannot quantise it to %s",
                             in, t->name, (long long)j.bad_row, tensor_type_name(to[i]));
                goto done;
            }
            data = bufs[i];
            st->n_converted++;
        }
        st->count_out[to[i]]++;
        st->data_out += nbytes;
        gguf_writer_add_tensor(w, t->name, to[i], t->n_dims, t->ne, data);
        if (o->progress)
            o->progress(o->progress_user, (long)(i + 1), (long)nt);
    }
    st->n_tensors = nt;
    st->file_in = gguf_file_size(f);
    if ((rc = gguf_writer_write(w, out, e)))
        goto done;
    st->file_out = file_size(out);

done:
    if (scratch)
        for (int k = 0; k < nth; k++)
            free(scratch[k]);
    free(scratch);
    pool_free(p);
    gguf_writer_free(w);
    if (bufs)
        for (int64_t i = 0; i < nt; i++)
            free(bufs[i]);
    free(bufs);
    free(order);
    free(to);
    gguf_close(f);
    return rc;
}
