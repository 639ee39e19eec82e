/* load: model_load() and the GGUF and llama2.c loaders. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "model/model_impl.h"

/* ---- GGUF ---- */

static int get_i(const gguf_file *f, const char *arch, const char *key, int64_t *out)
{
    char k[128];
    snprintf(k, sizeof k, "%s.%s", arch, key);
    return gguf_get_int(f, k, out);
}

static int get_f(const gguf_file *f, const char *arch, const char *key, double *out)
{
    char k[128];
    snprintf(k, sizeof k, "%s.%s", arch, key);
    return gguf_get_float(f, k, out);
}

static int need_i(const gguf_file *f, const char *arch, const char *key, int64_t lo, int64_t hi,
                  int *out, cape_err *e)
{
    char k[128];
    int64_t v;
    snprintf(k, sizeof k, "%s.%s", arch, key);
    if (gguf_need_int(f, k, &v, e))
        return e->code;
    if (v < lo || v > hi)
        return err_set(e, CAPE_EINPUT, "%s: metadata '%s' = %lld is out of range [%lld, %lld]",
                       gguf_path(f), k, (long long)v, (long long)lo, (long long)hi);
    *out = (int)v;
    return 0;
}

static int gguf_config(model *m, const gguf_file *f, cape_err *e)
{
    model_config *c = &m->cfg;
    char arch[32];
    if (!gguf_get_cstr(f, "general.architecture", arch, sizeof arch))
        return err_set(e, CAPE_EINPUT, "%s: missing metadata key 'general.architecture'",
                       m->path);
    if (model_arch_from_name(arch, &c->arch))
        return err_set(e, CAPE_EINPUT, "%s: architecture '%s' is not supported (llama, qwen2, "
                       "qwen3, gemma3, gptneox, gpt2 are)", m->path, arch);
    model_arch_defaults(c);
    if (need_i(f, arch, "embedding_length", 1, 1 << 20, &c->dim, e) ||
        need_i(f, arch, "block_count", 1, 4096, &c->n_layers, e) ||
        need_i(f, arch, "feed_forward_length", 1, 1 << 22, &c->ffn_dim, e) ||
        need_i(f, arch, "attention.head_count", 1, 4096, &c->n_heads, e))
        return e->code;
    int64_t v = 0;
    double d;
    c->n_kv_heads = c->n_heads;
    if (get_i(f, arch, "attention.head_count_kv", &v) &&
        need_i(f, arch, "attention.head_count_kv", 1, 4096, &c->n_kv_heads, e))
        return e->code;
    c->head_dim = c->dim / c->n_heads;
    if (get_i(f, arch, "attention.key_length", &v) &&
        need_i(f, arch, "attention.key_length", 1, 4096, &c->head_dim, e))
        return e->code;
    c->rope_dims = c->head_dim;
    if (get_i(f, arch, "rope.dimension_count", &v) &&
        need_i(f, arch, "rope.dimension_count", 1, 4096, &c->rope_dims, e))
        return e->code;
    if (get_i(f, arch, "context_length", &v)) {
        if (v <= 0)
            return err_set(e, CAPE_EINPUT, "%s: metadata '%s.context_length' = %lld: the trained "
                           "context must be at least 1 token", m->path, arch, (long long)v);
        c->n_ctx_train = v > (1 << 24) ? (1 << 24) : (int)v;
    }
    if (get_f(f, arch, "attention.layer_norm_rms_epsilon", &d) ||
        get_f(f, arch, "attention.layer_norm_epsilon", &d))
        c->norm_eps = (float)d;
    if (get_f(f, arch, "rope.freq_base", &d))
        c->rope_base = (float)d;
    char key[128], st[32] = "";
    snprintf(key, sizeof key, "%s.rope.scaling.type", arch);
    gguf_get_cstr(f, key, st, sizeof st);
    if (strcmp(st, "linear") == 0 && get_f(f, arch, "rope.scaling.factor", &d) && d > 0)
        c->rope_scale = (float)(1.0 / d);
    if (get_i(f, arch, "attention.sliding_window", &v) &&
        need_i(f, arch, "attention.sliding_window", 0, (1 << 30) - 1, &c->sliding_window, e))
        return e->code;
    if (get_i(f, arch, "attention.sliding_window_pattern", &v) &&
        need_i(f, arch, "attention.sliding_window_pattern", 0, 4095, &c->swa_period, e))
        return e->code;
    int b;
    snprintf(key, sizeof key, "%s.use_parallel_residual", arch);
    if (gguf_get_bool(f, key, &b))
        c->parallel_residual = b;
    if (c->arch == MODEL_ARCH_GEMMA3) {
        c->embed_scale = sqrtf((float)c->dim);
        c->attn_scale = 1.f / sqrtf((float)c->head_dim);
    }
    return 0;
}

int model_load_gguf(model *m, const char *path, const model_load_opts *o, cape_err *e)
{
    snprintf(m->format, sizeof m->format, "gguf");
    if (!(m->gguf = gguf_open(path, e)))
        return e->code;
    if (gguf_config(m, m->gguf, e))
        return e->code;
    /* the tensor infos are already the table build needs */
    tensor_table tab = {(gguf_tensor *)gguf_tensor_at(m->gguf, 0), (int)gguf_n_tensors(m->gguf)};
    if (model_build(m, &tab, e))
        return e->code;
    if (!(m->tok = tok_from_gguf_pre(m->gguf, o ? o->pre : NULL, e)))
        return e->code;
    /* special token ids must name a token: a file that says otherwise is broken */
    static const char *special[] = {"tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id"};
    int64_t id;
    for (int i = 0; i < 2; i++)
        if (gguf_get_int(m->gguf, special[i], &id) &&
            (id < 0 || id >= tok_n_vocab(m->tok) || id >= m->cfg.n_vocab))
            return err_set(e, CAPE_EINPUT, "%s: metadata '%s' = %lld is not a token id (the "
                           "vocabulary has %d tokens)", path, special[i], (long long)id,
                           tok_n_vocab(m->tok) < m->cfg.n_vocab ? tok_n_vocab(m->tok)
                                                                 : m->cfg.n_vocab);
    if (model_check_tok_size(m, path, e))
        return e->code;
    m->cfg.bos_id = tok_bos(m->tok);
    m->cfg.eos_id = tok_eos(m->tok);
    return 0;
}

/* ---- llama2.c checkpoints ---- */

static int map_file(model *m, const char *path, cape_err *e)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return err_set(e, CAPE_EINPUT, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) || !S_ISREG(st.st_mode) || st.st_size == 0) {
        close(fd);
        return err_set(e, CAPE_EINPUT, "%s: not a regular non-empty file", path);
    }
    void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (p == MAP_FAILED)
        return err_set(e, CAPE_EINPUT, "%s: cannot map: %s", path, strerror(errno));
    m->map = p;
    m->map_len = (size_t)st.st_size;
    return 0;
}

/* The tokenizer of a llama2.c checkpoint: the given path, else tokenizer.bin
 * or tok<vocab>.bin next to the checkpoint. */
static int find_llama2c_tokenizer(const char *ckpt, int n_vocab, char *out, size_t outsz)
{
    const char *slash = strrchr(ckpt, '/');
    int dlen = slash ? (int)(slash - ckpt + 1) : 0;
    char cand[2][64];
    snprintf(cand[0], sizeof cand[0], "tok%d.bin", n_vocab);
    snprintf(cand[1], sizeof cand[1], "tokenizer.bin");
    for (int i = 0; i < 2; i++) {
        snprintf(out, outsz, "%.*s%s", dlen, ckpt, cand[i]);
        if (access(out, R_OK) == 0)
            return 0;
    }
    return -1;
}

int model_load_llama2c(model *m, const char *path, const model_load_opts *o, cape_err *e)
{
    snprintf(m->format, sizeof m->format, "llama2c");
    if (map_file(m, path, e))
        return e->code;
    if (m->map_len < 28)
        return err_set(e, CAPE_EINPUT, "%s: too short for a llama2.c checkpoint header", path);
    int32_t h[7];
    memcpy(h, m->map, sizeof h);
    for (int i = 0; i < 7; i++) /* before negating h[5]: -INT32_MIN overflows */
        if (h[i] == 0 || (i != 5 && h[i] < 0) || h[i] == INT32_MIN || (h[i] > (1 << 22)))
            return err_set(e, CAPE_EINPUT, "%s: header field %d = %d is not a plausible size",
                           path, i, h[i]);
    model_config *c = &m->cfg;
    c->arch = MODEL_ARCH_LLAMA;
    model_arch_defaults(c);
    int shared = h[5] > 0;
    c->dim = h[0];
    c->ffn_dim = h[1];
    c->n_layers = h[2];
    c->n_heads = h[3];
    c->n_kv_heads = h[4];
    c->n_vocab = shared ? h[5] : -h[5];
    c->n_ctx_train = h[6];
    if (c->dim % c->n_heads || c->n_heads % c->n_kv_heads)
        return err_set(e, CAPE_EINPUT, "%s: dim %d, %d heads and %d KV heads do not divide",
                       path, c->dim, c->n_heads, c->n_kv_heads);
    c->head_dim = c->dim / c->n_heads;
    c->rope_dims = c->head_dim;
    int64_t D = c->dim, F = c->ffn_dim, L = c->n_layers, V = c->n_vocab;
    int64_t KV = (int64_t)c->n_kv_heads * c->head_dim;
    /* sizes in floats, in file order */
    struct {
        const char *name;
        int64_t cols, rows;
        int per_layer;
    } parts[] = {
        {"token_embd.weight", D, V, 0}, {"attn_norm.weight", D, 1, 1},
        {"attn_q.weight", D, D, 1},     {"attn_k.weight", D, KV, 1},
        {"attn_v.weight", D, KV, 1},    {"attn_output.weight", D, D, 1},
        {"ffn_norm.weight", D, 1, 1},   {"ffn_gate.weight", D, F, 1},
        {"ffn_down.weight", F, D, 1},   {"ffn_up.weight", D, F, 1},
        {"output_norm.weight", D, 1, 0}, {"", (int64_t)c->n_ctx_train * c->head_dim / 2, 1, 0},
        {"output.weight", D, V, 0},
    };
    int nparts = shared ? 12 : 13;
    /* the size the header implies (saturating at 2^64 - 1) must be the file's,
     * checked before any table is sized by the header (a few header bytes
     * could ask for gigabytes) */
    uint64_t want = 28;
    for (int p = 0; p < nparts; p++) {
        uint64_t b = 4, k = (uint64_t)(parts[p].per_layer ? L : p == 11 ? 2 : 1);
        if (__builtin_mul_overflow(b, (uint64_t)parts[p].cols, &b) ||
            __builtin_mul_overflow(b, (uint64_t)parts[p].rows, &b) ||
            __builtin_mul_overflow(b, k, &b) || __builtin_add_overflow(want, b, &want))
            want = UINT64_MAX;
    }
    if (want != m->map_len)
        return err_set(e, CAPE_EINPUT, "%s: %sthe file is %zu bytes but its header (dim %d, ffn %d, "
                       "%d layers, %d heads, %d KV heads, vocabulary %d%s, context %d) implies "
                       "%llu bytes", path, want > m->map_len ? "truncated: " : "", m->map_len,
                       c->dim, c->ffn_dim, c->n_layers, c->n_heads, c->n_kv_heads, c->n_vocab, shared ? "" : " unshared",
                       c->n_ctx_train, (unsigned long long)want);
    tensor_table tab = {model_own(m, calloc((size_t)(L * 9 + 4), sizeof(gguf_tensor))), 0};
    char *names = model_own(m, calloc((size_t)(L * 9 + 4), 48));
    if (!tab.t || !names)
        return err_set(e, CAPE_EFAIL, "out of memory");
    uint64_t off = 28;
    for (int p = 0; p < nparts; p++) {
        int64_t count = parts[p].per_layer ? L : 1;
        uint64_t bytes = (uint64_t)parts[p].cols * (uint64_t)parts[p].rows * 4;
        for (int64_t l = 0; l < count; l++) {
            if (bytes > m->map_len || off > m->map_len - bytes)
                return err_set(e, CAPE_EINPUT, "%s: truncated: %s needs %llu bytes at offset %llu"
                               " of %zu", path, parts[p].name[0] ? parts[p].name : "rope tables",
                               (unsigned long long)bytes, (unsigned long long)off, m->map_len);
            if (parts[p].name[0]) {
                gguf_tensor *t = &tab.t[tab.n];
                char *nm = names + 48 * tab.n++;
                if (parts[p].per_layer)
                    snprintf(nm, 48, "blk.%d.%s", (int)l, parts[p].name);
                else
                    snprintf(nm, 48, "%s", parts[p].name);
                t->name = nm;
                t->n_dims = 2;
                t->ne[0] = parts[p].cols;
                t->ne[1] = parts[p].rows;
                t->ne[2] = t->ne[3] = 1;
                t->type = TENSOR_F32;
                t->nbytes = bytes;
                t->data = (const char *)m->map + off;
            }
            off += bytes;
        }
        if (p == 11) /* the rope tables are two arrays (real, imaginary) */
            off += bytes;
    }
    if (model_build(m, &tab, e))
        return e->code;
    char tp[1024];
    const char *tpath = o && o->tokenizer_path ? o->tokenizer_path : NULL;
    if (!tpath) {
        if (find_llama2c_tokenizer(path, c->n_vocab, tp, sizeof tp))
            return err_set(e, CAPE_EINPUT, "%s: no tokenizer found next to the checkpoint "
                           "(tokenizer.bin or tok%d.bin); give one with --tokenizer", path,
                           c->n_vocab);
        tpath = tp;
    }
    if (!(m->tok = tok_from_llama2c(tpath, c->n_vocab, e)) || model_check_tok_size(m, tpath, e))
        return e->code;
    c->bos_id = tok_bos(m->tok);
    c->eos_id = tok_eos(m->tok);
    return 0;
}

/* ---- checks shared by the loaders ---- */

int model_check_tok_size(const model *m, const char *tok_path, cape_err *e)
{
    int nt = tok_n_vocab(m->tok);
    if (nt <= m->cfg.n_vocab)
        return 0;
    if (strcmp(tok_path, m->path) == 0)
        return err_set(e, CAPE_EINPUT, "%s: the tokenizer has %d tokens but the model's vocabulary "
                       "only %d (token_embd.weight rows)", m->path, nt, m->cfg.n_vocab);
    return err_set(e, CAPE_EINPUT, "%s: the tokenizer has %d tokens but the model %s has a "
                   "vocabulary of only %d", tok_path, nt, m->path, m->cfg.n_vocab);
}

/* ---- dispatch ---- */

static int has_suffix(const char *s, const char *suf)
{
    size_t n = strlen(s), k = strlen(suf);
    return n >= k && strcmp(s + n - k, suf) == 0;
}

model *model_load(const char *path, const model_load_opts *o, cape_err *e)
{
    model *m = calloc(1, sizeof *m);
    if (!m) {
        err_set(e, CAPE_EFAIL, "out of memory");
        return NULL;
    }
    snprintf(m->path, sizeof m->path, "%s", path);
    struct stat st;
    int rc;
    unsigned char magic[4] = {0};
    FILE *fp = fopen(path, "rb");
    if (fp) {
        if (fread(magic, 1, 4, fp) != 4)
            memset(magic, 0, 4);
        fclose(fp);
    }
    if (o && o->pre && memcmp(magic, "GGUF", 4) != 0 && (fp || stat(path, &st) == 0))
        rc = err_set(e, CAPE_EINPUT, "%s: --pre applies to GGUF vocabularies only", path);
    else if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        rc = model_load_safetensors(m, path, o, e);
    else if (!fp)
        rc = err_set(e, CAPE_EINPUT, "%s: cannot open: %s", path, strerror(errno));
    else if (memcmp(magic, "GGUF", 4) == 0)
        rc = model_load_gguf(m, path, o, e);
    else if (has_suffix(path, ".safetensors") || has_suffix(path, ".json"))
        rc = model_load_safetensors(m, path, o, e);
    else if (has_suffix(path, ".bin"))
        rc = model_load_llama2c(m, path, o, e);
    else
        rc = err_set(e, CAPE_EINPUT, "%s: not a GGUF file, llama2.c .bin checkpoint, "
                     "safetensors file or model directory", path);
    if (rc) {
        model_free(m);
        return NULL;
    }
    return m;
}
