#include "train/train_loop.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/file.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static uint64_t fnv_bytes(uint64_t h, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

uint64_t train_resume_hash(const train_model *m, const train_options *o, const train_dataset *ds)
{
    const train_config *c = &m->cfg;
    int32_t f[] = {(int32_t)c->arch, c->vocab,  c->dim, c->n_layers, c->n_heads, c->n_kv_heads,
                   c->hidden,        c->ctx,    o->B,   o->T,        o->accum};
    uint64_t h = fnv_bytes(0xcbf29ce484222325ull, f, sizeof f);
    h = fnv_bytes(h, &o->seed, sizeof o->seed);
    if (m->freeze_embd) /* only then, so that older checkpoints keep their hash */
        h = fnv_bytes(h, "frozen embeddings", 17);
    if (m->freeze_backbone)
        h = fnv_bytes(h, &m->freeze_backbone, sizeof m->freeze_backbone);
    return fnv_bytes(h, &ds->hash, sizeof ds->hash);
}

/* ---- GGUF ------------------------------------------------------------- */

int train_model_to_ckpt(const train_model *m, ckpt_file *f)
{
    const train_config *c = &m->cfg;
    const char *a = train_arch_name(c->arch);
    char k[96];
    int rc = ckpt_set_str(f, "general.architecture", a);
    rc |= ckpt_set_u32(f, "general.alignment", 32);
    rc |= ckpt_set_u32(f, "general.file_type", 0);
#define KEY(s) (snprintf(k, sizeof k, "%s." s, a), k)
    rc |= ckpt_set_u32(f, KEY("context_length"), (uint32_t)c->ctx);
    rc |= ckpt_set_u32(f, KEY("embedding_length"), (uint32_t)c->dim);
    rc |= ckpt_set_u32(f, KEY("block_count"), (uint32_t)c->n_layers);
    rc |= ckpt_set_u32(f, KEY("feed_forward_length"), (uint32_t)c->hidden);
    rc |= ckpt_set_u32(f, KEY("attention.head_count"), (uint32_t)c->n_heads);
    rc |= ckpt_set_u32(f, KEY("vocab_size"), (uint32_t)c->vocab);
    if (c->arch == TRAIN_LLAMA) {
        rc |= ckpt_set_u32(f, KEY("attention.head_count_kv"), (uint32_t)c->n_kv_heads);
        rc |= ckpt_set_f32(f, KEY("attention.layer_norm_rms_epsilon"), c->norm_eps);
        rc |= ckpt_set_f32(f, KEY("rope.freq_base"), c->rope_theta);
        rc |= ckpt_set_u32(f, KEY("rope.dimension_count"), (uint32_t)(c->dim / c->n_heads));
    } else {
        rc |= ckpt_set_f32(f, KEY("attention.layer_norm_epsilon"), c->norm_eps);
    }
#undef KEY
    for (int i = 0; i < m->n_tensors && !rc; i++) {
        const train_tensor *t = &m->tensors[i];
        rc |= ckpt_add_tensor(f, t->name, (uint64_t)t->shape[0],
                              t->ndim == 2 ? (uint64_t)t->shape[1] : 0, m->params + t->offset);
    }
    return rc;
}

static int need_u(const ckpt_file *f, const char *arch, const char *key, int *out,
                  const char *what, cape_err *e)
{
    char k[96];
    uint64_t v;
    snprintf(k, sizeof k, "%s.%s", arch, key);
    if (ckpt_get_u64(f, k, &v) || v > (1u << 30))
        return err_set(e, CAPE_EINPUT, "%s: metadata key %s is missing or not an integer", what,
                       k);
    *out = (int)v;
    return 0;
}

int train_config_from_ckpt(const ckpt_file *f, train_config *c, const char *what, cape_err *e)
{
    char arch[32];
    memset(c, 0, sizeof *c);
    if (ckpt_get_str(f, "general.architecture", arch, sizeof arch))
        return err_set(e, CAPE_EINPUT, "%s: metadata key general.architecture is missing", what);
    if (train_arch_parse(arch, &c->arch) || !(c->arch == TRAIN_LLAMA || c->arch == TRAIN_GPT2))
        return err_set(e, CAPE_EINPUT, "%s: architecture '%s' is not one cape trains (llama, gpt2)",
                       what, arch);
    char k[96];
    if (need_u(f, arch, "context_length", &c->ctx, what, e) ||
        need_u(f, arch, "embedding_length", &c->dim, what, e) ||
        need_u(f, arch, "block_count", &c->n_layers, what, e) ||
        need_u(f, arch, "feed_forward_length", &c->hidden, what, e) ||
        need_u(f, arch, "attention.head_count", &c->n_heads, what, e) ||
        need_u(f, arch, "vocab_size", &c->vocab, what, e))
        return CAPE_EINPUT;
    if (c->arch == TRAIN_LLAMA) {
        if (need_u(f, arch, "attention.head_count_kv", &c->n_kv_heads, what, e))
            return CAPE_EINPUT;
        snprintf(k, sizeof k, "%s.attention.layer_norm_rms_epsilon", arch);
        ckpt_get_f32(f, k, &c->norm_eps);
        snprintf(k, sizeof k, "%s.rope.freq_base", arch);
        ckpt_get_f32(f, k, &c->rope_theta);
    } else {
        c->n_kv_heads = c->n_heads;
        snprintf(k, sizeof k, "%s.attention.layer_norm_epsilon", arch);
        ckpt_get_f32(f, k, &c->norm_eps);
    }
    train_config_defaults(c);
    if (train_config_check(c, e)) {
        char msg[sizeof e->msg];
        snprintf(msg, sizeof msg, "%s", e->msg);
        err_clear(e);
        return err_set(e, CAPE_EINPUT, "%s: %s", what, msg);
    }
    return 0;
}

int train_model_load_params(train_model *m, ckpt_file *f, const char *what, cape_err *e)
{
    for (int i = 0; i < m->n_tensors; i++) {
        const train_tensor *t = &m->tensors[i];
        const ckpt_tensor *ct = ckpt_tensor_get(f, t->name);
        if (!ct)
            return err_set(e, CAPE_EINPUT, "%s: tensor %s is missing (another architecture?)",
                           what, t->name);
        uint64_t rows = ct->ndim == 2 ? ct->ne[1] : ct->ne[0];
        uint64_t cols = ct->ndim == 2 ? ct->ne[0] : 1;
        if (ct->ndim != t->ndim || rows != (uint64_t)t->shape[0] ||
            cols != (uint64_t)t->shape[1])
            return err_set(e, CAPE_EINPUT, "%s: tensor %s has another shape than the model's "
                           "(another architecture?)", what, t->name);
        memcpy(m->params + t->offset, ct->data, sizeof(float) * t->size);
    }
    return 0;
}

/* ---- optimizer state -------------------------------------------------- */

/* Two layouts. OPT1: magic, header, m, v, checksum. OPT2 (written now):
 * magic, header, one byte per block of OPT_BLOCK moments of m then of v
 * (1: stored, 0: all zero), the stored blocks, checksum. Frozen parameters
 * never move their moments off zero, so a run that freezes most of a model
 * (a retrofit with the backbone frozen, frozen embeddings) writes only what
 * trains: a Gemma 3 270M checkpoint with the backbone frozen shrinks from
 * 2.2 GB to what its new units need. */
static const char OPT1_MAGIC[8] = {'C', 'A', 'P', 'E', 'O', 'P', 'T', '1'};
static const char OPT2_MAGIC[8] = {'C', 'A', 'P', 'E', 'O', 'P', 'T', '2'};
enum { OPT_BLOCK = 1024 };

static int block_is_zero(const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (x[i] != 0.0f || signbit(x[i]))
            return 0;
    return 1;
}

/* Block b of the 2 * nb blocks (m's, then v's) and its length. */
static const float *opt_block(const adamw_state *s, size_t nb, size_t b, size_t *len)
{
    const float *base = b < nb ? s->m : s->v;
    size_t i = (b < nb ? b : b - nb) * OPT_BLOCK;
    *len = s->n - i < OPT_BLOCK ? s->n - i : OPT_BLOCK;
    return base + i;
}

/* Streamed (the moments can be large). */
int train_opt_save(const char *path, const adamw_state *s, long step, uint64_t hash,
                   cape_err *e)
{
    uint64_t hdr[4] = {(uint64_t)step, s->t, s->n, hash};
    size_t nb = (s->n + OPT_BLOCK - 1) / OPT_BLOCK;
    unsigned char *stored = malloc(nb ? 2 * nb : 1);
    if (!stored)
        return err_set(e, CAPE_EFAIL, "out of memory");
    for (size_t b = 0; b < 2 * nb; b++) {
        size_t len;
        const float *x = opt_block(s, nb, b, &len);
        stored[b] = !block_is_zero(x, len);
    }
    file_atomic a;
    if (file_atomic_open(&a, path, e)) {
        free(stored);
        return e->code;
    }
    uint64_t sum = fnv_bytes(0xcbf29ce484222325ull, OPT2_MAGIC, 8);
    sum = fnv_bytes(sum, hdr, sizeof hdr);
    sum = fnv_bytes(sum, stored, 2 * nb);
    int ok = fwrite(OPT2_MAGIC, 8, 1, a.fp) == 1 && fwrite(hdr, sizeof hdr, 1, a.fp) == 1 &&
             fwrite(stored, 1, 2 * nb, a.fp) == 2 * nb;
    for (size_t b = 0; ok && b < 2 * nb; b++) {
        size_t len;
        const float *x = opt_block(s, nb, b, &len);
        if (!stored[b])
            continue;
        sum = fnv_bytes(sum, x, 4 * len);
        ok = fwrite(x, 4, len, a.fp) == len;
    }
    ok = ok && fwrite(&sum, 8, 1, a.fp) == 1;
    free(stored);
    if (!ok) {
        file_atomic_abort(&a);
        return err_set(e, CAPE_EFAIL, "%s: write failed", path);
    }
    return file_atomic_commit(&a, e);
}

/* The moments of an OPT2 body (after magic and header, before the
 * checksum): 0, or -1 when its length does not add up. */
static int opt2_read(adamw_state *s, const uint8_t *p, size_t len)
{
    size_t nb = (s->n + OPT_BLOCK - 1) / OPT_BLOCK;
    if (len < 2 * nb)
        return -1;
    const uint8_t *stored = p, *q = p + 2 * nb, *end = p + len;
    for (size_t b = 0; b < 2 * nb; b++) {
        size_t n;
        float *x = (float *)opt_block(s, nb, b, &n);
        if (stored[b] > 1)
            return -1;
        if (!stored[b]) {
            memset(x, 0, 4 * n);
            continue;
        }
        if ((size_t)(end - q) < 4 * n)
            return -1;
        memcpy(x, q, 4 * n);
        q += 4 * n;
    }
    return q == end ? 0 : -1;
}

int train_opt_load(const char *path, adamw_state *s, long *step, uint64_t want_hash, cape_err *e)
{
    size_t len;
    uint8_t *buf = (uint8_t *)file_read_all(path, &len, e);
    if (!buf)
        return e->code ? e->code : CAPE_EINPUT;
    int rc = train_opt_parse(buf, len, path, s, step, want_hash, e);
    free(buf);
    return rc;
}

int train_opt_parse(const uint8_t *buf, size_t len, const char *path, adamw_state *s, long *step,
                    uint64_t want_hash, cape_err *e)
{
    uint64_t hdr[4], sum;
    int rc = 0, v2 = len >= 8 && !memcmp(buf, OPT2_MAGIC, 8);
    if (len < 8 + sizeof hdr + 8 || (!v2 && memcmp(buf, OPT1_MAGIC, 8)))
        rc = err_set(e, CAPE_EINPUT, "%s: not a cape optimizer-state file", path);
    if (!rc) {
        memcpy(&sum, buf + len - 8, 8);
        if (sum != fnv_bytes(0xcbf29ce484222325ull, buf, len - 8))
            rc = err_set(e, CAPE_EINPUT, "%s: checksum mismatch (damaged file)", path);
    }
    if (!rc) {
        memcpy(hdr, buf + 8, sizeof hdr);
        if (hdr[2] != s->n || (!v2 && len != 8 + sizeof hdr + 8 * hdr[2] + 8))
            rc = err_set(e, CAPE_EINPUT, "%s: holds %llu parameters, the model has %zu", path,
                         (unsigned long long)hdr[2], s->n);
    }
    if (!rc && hdr[3] != want_hash)
        rc = err_set(e, CAPE_EINPUT, "%s: was written for another configuration, batch shape, "
                     "seed or corpus; resume with the same ones", path);
    if (!rc) {
        const uint8_t *body = buf + 8 + sizeof hdr;
        size_t body_len = len - 8 - sizeof hdr - 8;
        if (v2 && opt2_read(s, body, body_len))
            rc = err_set(e, CAPE_EINPUT, "%s: the block table does not match the file's length "
                         "(damaged file)", path);
        if (!v2) {
            memcpy(s->m, body, 4 * s->n);
            memcpy(s->v, body + 4 * s->n, 4 * s->n);
        }
    }
    if (!rc) {
        *step = (long)hdr[0];
        s->t = hdr[1];
    }
    return rc;
}

int train_find_checkpoint(const char *dir, long *step, char *gguf, char *opt, size_t pathsz)
{
    DIR *d = opendir(dir);
    if (!d)
        return 1;
    long best = -1;
    struct dirent *de;
    while ((de = readdir(d))) {
        long s;
        char tail[16];
        if (sscanf(de->d_name, "ckpt-%8ld.%15s", &s, tail) == 2 && strcmp(tail, "gguf") == 0 &&
            s > best) {
            char o[4096];
            snprintf(o, sizeof o, "%s/ckpt-%08ld.opt", dir, s);
            if (access(o, R_OK) == 0)
                best = s;
        }
    }
    closedir(d);
    if (best < 0)
        return 1;
    *step = best;
    snprintf(gguf, pathsz, "%s/ckpt-%08ld.gguf", dir, best);
    snprintf(opt, pathsz, "%s/ckpt-%08ld.opt", dir, best);
    return 0;
}

static void prune(const char *dir, long newest, int keep)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *de;
    long *steps = NULL;
    int n = 0, cap = 0;
    while ((de = readdir(d))) {
        long s;
        char tail[16];
        if (sscanf(de->d_name, "ckpt-%8ld.%15s", &s, tail) == 2 && strcmp(tail, "gguf") == 0 &&
            s < newest) {
            if (n == cap) {
                cap = cap ? 2 * cap : 16;
                long *ns = realloc(steps, sizeof *ns * cap);
                if (!ns)
                    break;
                steps = ns;
            }
            steps[n++] = s;
        }
    }
    closedir(d);
    /* keep the keep-1 newest older ones */
    for (int i = 0; i < n; i++) {
        int newer = 0;
        for (int j = 0; j < n; j++)
            newer += steps[j] > steps[i];
        if (newer >= keep - 1) {
            char p[4096];
            snprintf(p, sizeof p, "%s/ckpt-%08ld.gguf", dir, steps[i]);
            unlink(p);
            snprintf(p, sizeof p, "%s/ckpt-%08ld.opt", dir, steps[i]);
            unlink(p);
        }
    }
    free(steps);
}

static int save_model(const train_model *m, const train_options *o, long step, const char *path,
                      cape_err *e, int final)
{
    if (o->save)
        return o->save(o->save_ctx, m, step, path, final, e);
    ckpt_file f = {0};
    int rc = train_model_to_ckpt(m, &f) | ckpt_set_u64(&f, "cape.train.step", (uint64_t)step);
    if (!rc && o->add_meta)
        rc = o->add_meta(o->meta_ctx, &f);
    if (rc)
        rc = err_set(e, CAPE_EFAIL, "%s: out of memory building the checkpoint", path);
    else
        rc = ckpt_write(&f, path, e);
    ckpt_free(&f);
    return rc;
}

static int checkpoint(const train_model *m, const train_options *o, const adamw_state *opt,
                      long step, uint64_t hash, cape_err *e)
{
    char g[4096], p[4096];
    snprintf(p, sizeof p, "%s/ckpt-%08ld.opt", o->out_dir, step);
    snprintf(g, sizeof g, "%s/ckpt-%08ld.gguf", o->out_dir, step);
    if (train_opt_save(p, opt, step, hash, e) || save_model(m, o, step, g, e, 0))
        return e->code;
    prune(o->out_dir, step, o->keep > 0 ? o->keep : 1);
    return 0;
}

/* ---- the loop --------------------------------------------------------- */

typedef struct {
    int *tokens, *targets, *pos;
    uint32_t *sources;
    float *masks;
} batch_buf;

static void fill_masks(const train_options *o, const train_model *m, batch_buf *b, int B)
{
    if (!o->row_mask)
        return;
    for (int i = 0; i < B; i++)
        o->row_mask(o->mask_ctx, b->sources[i], b->masks + (size_t)i * m->cfg.hidden);
}

static float validate(train_model *m, const train_dataset *ds, const train_options *o,
                      batch_buf *b)
{
    size_t n = ds->val.n_rows;
    if (o->val_rows > 0 && (size_t)o->val_rows < n)
        n = (size_t)o->val_rows;
    double sum = 0.0;
    long count = 0;
    int T = o->T;
    for (size_t r = 0; r < n; r += o->B) {
        for (int i = 0; i < o->B; i++) {
            size_t row = r + i;
            if (row < n) {
                train_row_get(&ds->val, row, b->tokens + (size_t)i * T, b->targets + (size_t)i * T,
                              b->pos + (size_t)i * T);
                b->sources[i] = ds->val.source[row];
            } else {
                for (int t = 0; t < T; t++)
                    b->tokens[i * T + t] = 0, b->targets[i * T + t] = -1, b->pos[i * T + t] = t;
                b->sources[i] = 0;
            }
        }
        fill_masks(o, m, b, o->B);
        int cnt;
        float loss = train_forward(m, b->tokens, b->targets, o->row_mask ? b->masks : NULL, b->pos,
                                   o->B, T, &cnt);
        sum += (double)loss * cnt;
        count += cnt;
    }
    return count ? (float)(sum / count) : NAN;
}

int train_run(train_model *m, const train_dataset *ds, const train_options *o, long start_step,
              adamw_state *opt, cape_err *e)
{
    int B = o->B, T = o->T, rc = 0;
    batch_buf b = {0};
    b.tokens = malloc(sizeof(int) * B * T);
    b.targets = malloc(sizeof(int) * B * T);
    b.pos = malloc(sizeof(int) * B * T);
    b.sources = malloc(sizeof(uint32_t) * B);
    b.masks = malloc(sizeof(float) * B * (size_t)m->cfg.hidden);
    train_batcher bat = {0};
    if (!b.tokens || !b.targets || !b.pos || !b.sources || !b.masks) {
        rc = err_set(e, CAPE_EINPUT, "batch buffers do not fit in memory");
        goto done;
    }
    if ((rc = train_batcher_init(&bat, &ds->train, o->seed, e)))
        goto done;
    uint64_t hash = train_resume_hash(m, o, ds);
    double t0 = now_s();
    uint64_t tok_per_step = (uint64_t)B * T * o->accum, useful = 0;
    for (long step = start_step; step < o->steps; step++) {
        train_zero_grads(m);
        float loss = 0.0f;
        uint64_t counted = 0;
        for (int j = 0; j < o->accum; j++) {
            uint64_t at = ((uint64_t)step * o->accum + j) * B;
            train_batch_at(&bat, at, B, b.tokens, b.targets, b.pos, b.sources);
            fill_masks(o, m, &b, B);
            const float *mk = o->row_mask ? b.masks : NULL;
            int cnt;
            loss += train_forward(m, b.tokens, b.targets, mk, b.pos, B, T, &cnt) / o->accum;
            train_backward(m, b.tokens, b.targets, mk, b.pos, B, T, 1.0f / o->accum);
            counted += (uint64_t)cnt;
        }
        useful += counted;
        train_model_drop_frozen_grads(m);
        double norm = train_grad_norm(m);
        float lr = train_lr_at(step, o->warmup, o->steps, o->lr, o->lr_min);
        adamw_step_scaled(opt, m, lr, &o->adam, train_clip_coef(norm, o->clip));
        if (!isfinite(loss)) {
            rc = err_set(e, CAPE_EFAIL, "loss became %g at step %ld; lower --lr or raise --clip",
                         loss, step + 1);
            goto done;
        }
        train_progress p = {0};
        p.step = step + 1;
        p.steps = o->steps;
        p.loss = loss;
        p.lr = lr;
        p.grad_norm = norm;
        p.elapsed_s = now_s() - t0;
        p.tokens = (uint64_t)(step + 1) * tok_per_step;
        long done_here = step + 1 - start_step;
        p.tok_per_s = p.elapsed_s > 0 ? (double)(done_here * tok_per_step) / p.elapsed_s : 0;
        p.targets = counted;
        p.useful_per_s = p.elapsed_s > 0 ? (double)useful / p.elapsed_s : 0;
        p.eta_s = p.elapsed_s / done_here * (double)(o->steps - step - 1);
        int last = step + 1 == o->steps;
        int stop = (o->stop && *o->stop) || (o->stop_after > 0 && step + 1 == o->stop_after);
        if (ds->val.n_rows && ((o->val_every > 0 && (step + 1) % o->val_every == 0) || last)) {
            p.has_val = 1;
            p.val_loss = validate(m, ds, o, &b);
        }
        if ((o->ckpt_every > 0 && (step + 1) % o->ckpt_every == 0) || last || stop) {
            if ((rc = checkpoint(m, o, opt, step + 1, hash, e)))
                goto done;
            p.checkpointed = 1;
        }
        if (o->on_step)
            o->on_step(o->step_ctx, &p);
        if (stop && !last) {
            if (o->stop && *o->stop)
                rc = err_set(e, CAPE_EFAIL, "interrupted after step %ld (checkpoint written); continue with --resume",
                             step + 1);
            goto done;
        }
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/model.gguf", o->out_dir);
    rc = save_model(m, o, o->steps, path, e, 1);
done:
    train_batcher_free(&bat);
    free(b.tokens);
    free(b.targets);
    free(b.pos);
    free(b.sources);
    free(b.masks);
    return rc;
}
