/* attack_model: the attacked model in the trainer, for the attacks that
 * fine-tune it (relearn) or differentiate through it (gcg).
 *
 * Two kinds of file reach the trainer by different roads:
 *   - a model cape train wrote from scratch (llama or gpt2 in the trainer's
 *     own tensor layout, its BPE or a borrowed tokenizer): read back as a
 *     checkpoint (train_config_from_ckpt, train_model_load_params) and
 *     written back the same way;
 *   - any other GGUF the fine-tuning trainer takes (llama, qwen2, qwen3,
 *     gemma3: a base model, or one cape train --init fine-tuned, retrofitted
 *     sinks and all): opened by train_init_open, its weights dequantised by
 *     train_init_load, written back by train_init_save with every metadata
 *     key of the source (sinks, router, switched-off set, tokenizer).
 * The key cape.train.init marks the second kind among cape's own files. */
#include <string.h>

#include "train/train_init.h"
#include "train/train_loop.h"
#include "unlearn/attack.h"

static int from_scratch(const ckpt_file *f)
{
    char arch[32] = "";
    uint64_t step;
    ckpt_get_str(f, "general.architecture", arch, sizeof arch);
    return !ckpt_get_u64(f, "cape.train.step", &step) && !gguf_find_kv(f->r, "cape.train.init") &&
           (!strcmp(arch, "llama") || !strcmp(arch, "gpt2"));
}

const char *attack_model_road(const attack_model *a)
{
    return a->scratch ? "checkpoint" : "init";
}

int attack_model_open(attack_model *a, const char *path, const char *what, cape_err *e)
{
    memset(a, 0, sizeof *a);
    a->path = path;
    ckpt_file meta = {0};
    int rc = ckpt_read_meta(&meta, path, e);
    if (rc) {
        ckpt_free(&meta);
        return rc; /* the reader's message names the file */
    }
    a->scratch = from_scratch(&meta);
    ckpt_free(&meta);
    if (a->scratch) {
        if ((rc = ckpt_read(&a->ck, path, e)) ||
            (rc = train_config_from_ckpt(&a->ck, &a->cfg, path, e)) ||
            (rc = sink_model_read(&a->sinks, &a->ck, a->cfg.hidden, path, e)) ||
            (rc = train_tokenizer_from_model(&a->tk, path, e)))
            attack_model_close(a);
        return rc;
    }
    if ((rc = train_init_open(&a->init, path, &a->cfg, e))) {
        /* its message starts with the path; say which argument it was and
         * that cape's own from-scratch models are taken too */
        char msg[sizeof e->msg];
        snprintf(msg, sizeof msg, "%s", e->msg);
        err_clear(e);
        attack_model_close(a);
        return err_set(e, CAPE_EINPUT, "%s %s (or a model cape train wrote from scratch)", what,
                       msg);
    }
    ckpt_file f = {.r = a->init.meta};
    rc = sink_model_read_gguf(&a->sinks, &f, path, e);
    if (!rc)
        rc = train_tokenizer_from_gguf(&a->tk, path, e);
    if (rc)
        attack_model_close(a);
    return rc;
}

int attack_model_load(const attack_model *a, train_model *m, cape_err *e)
{
    if (a->scratch)
        return train_model_load_params(m, (ckpt_file *)&a->ck, a->path, e);
    return train_init_load(m, &a->init, e);
}

static int step_meta(void *ctx, gguf_writer *w)
{
    return gguf_writer_set_u64(w, "cape.relearn.step", *(const uint64_t *)ctx) ? -1 : 0;
}

int attack_model_save(const attack_model *a, const train_model *m, uint64_t step,
                      const char *path, cape_err *e)
{
    if (!a->scratch) /* f32: the evaluated weights are the trained ones */
        return train_init_save(m, &a->init, TRAIN_OUT_F32, step_meta, &step, path, e);
    ckpt_file f = {0};
    int brc = 0;
    for (int64_t i = 0; i < gguf_n_kv(a->ck.r) && !brc; i++)
        brc |= ckpt_copy_kv(&f, gguf_kv_at(a->ck.r, i));
    brc |= train_model_to_ckpt(m, &f);
    brc |= ckpt_set_u64(&f, "cape.relearn.step", step);
    int rc = brc ? err_set(e, CAPE_EFAIL, "out of memory") : ckpt_write(&f, path, e);
    ckpt_free(&f);
    return rc;
}

void attack_model_close(attack_model *a)
{
    ckpt_free(&a->ck);
    train_init_close(&a->init);
    sink_model_free(&a->sinks);
    train_tokenizer_free(&a->tk);
}
