/* train_loop: the training loop, checkpoints and resume.
 *
 * A step: gradients of `accum` micro-batches of B rows (each micro-batch's
 * mean loss weighted 1/accum), global-norm clipping, the scheduled learning
 * rate, one AdamW update. The rows of micro-batch j of step s start at
 * global row position (s * accum + j) * B of the epoch order (train_data.h),
 * so a step's data depends on nothing but its number.
 *
 * Checkpoints go to OUT/ckpt-SSSSSSSS.gguf (the model, a GGUF that carries
 * the step) and OUT/ckpt-SSSSSSSS.opt (AdamW moments, step, and hashes of
 * the configuration and the data); both are written atomically, the .opt
 * first, so a checkpoint counts only when its .gguf exists. The newest
 * `keep` checkpoints are kept. Resuming from step s reloads weights and
 * moments bit for bit, and the remaining steps are then identical to an
 * uninterrupted run. */
#ifndef CAPE_TRAIN_LOOP_H
#define CAPE_TRAIN_LOOP_H

#include <stdint.h>

#include "base/err.h"
#include "train/train_adamw.h"
#include "train/train_ckpt.h"
#include "train/train_data.h"
#include "train/train_model.h"

typedef struct {
    long step, steps; /* step just finished (1-based), total */
    float loss, lr;
    double grad_norm;
    double tok_per_s, elapsed_s, eta_s;
    uint64_t tokens; /* input positions processed since the start of training */
    uint64_t targets;    /* counted (non-padding) targets of this step */
    double useful_per_s; /* counted targets per second since this process started */
    int has_val;
    float val_loss;
    int checkpointed;
} train_progress;

typedef struct {
    int B, T, accum;
    long steps, warmup;
    float lr, lr_min;
    adamw_hparams adam;
    double clip;
    uint64_t seed;
    long val_every;
    int val_rows; /* at most this many validation rows per evaluation */
    long ckpt_every;
    int keep;
    const char *out_dir;
    /* Sinks: fills mask[hidden] for a row of this source; NULL = none. */
    void (*row_mask)(void *ctx, uint32_t source, float *mask);
    void *mask_ctx;
    /* Adds the caller's metadata (tokenizer, sinks) to each saved model. */
    int (*add_meta)(void *ctx, ckpt_file *f);
    void *meta_ctx;
    /* Writes the model instead of the built-in writer (fine-tuned models
     * keep their source's format): final is 1 for model.gguf, 0 for a
     * checkpoint. NULL = the trainer's own GGUF layout. */
    int (*save)(void *ctx, const train_model *m, long step, const char *path, int final,
                cape_err *e);
    void *save_ctx;
    void (*on_step)(void *ctx, const train_progress *p);
    void *step_ctx;
    volatile int *stop; /* set asynchronously: checkpoint and return */
    long stop_after;    /* > 0: checkpoint after this step and return (no model.gguf) */
} train_options;

/* Runs steps start_step .. steps-1 and writes OUT/model.gguf at the end.
 * opt must hold the moments for start_step (zero for a fresh run). */
int train_run(train_model *m, const train_dataset *ds, const train_options *o, long start_step,
              adamw_state *opt, cape_err *e);

/* Hash of what must match for a resume: model configuration, B, T, accum,
 * seed and the data. */
uint64_t train_resume_hash(const train_model *m, const train_options *o, const train_dataset *ds);

/* Model <-> GGUF. */
int train_model_to_ckpt(const train_model *m, ckpt_file *f);
int train_config_from_ckpt(const ckpt_file *f, train_config *c, const char *what, cape_err *e);
/* Copies weights by name; a missing tensor or another shape is an error. */
int train_model_load_params(train_model *m, ckpt_file *f, const char *what, cape_err *e);

/* The newest complete checkpoint in dir: its step and paths; 1 when there
 * is none, 0 when found. */
int train_find_checkpoint(const char *dir, long *step, char *gguf, char *opt, size_t pathsz);
int train_opt_save(const char *path, const adamw_state *s, long step, uint64_t hash,
                   cape_err *e);
/* Loads moments saved for `want_hash`; a mismatch is an input error. */
int train_opt_load(const char *path, adamw_state *s, long *step, uint64_t want_hash,
                   cape_err *e);
/* The same from the file's len bytes (name is for messages); s->n must be
 * the model's parameter count. */
int train_opt_parse(const uint8_t *buf, size_t len, const char *name, adamw_state *s, long *step,
                    uint64_t want_hash, cape_err *e);

#endif
