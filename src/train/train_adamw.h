/* train_adamw: the optimizer side of training: AdamW with decoupled weight
 * decay (Loshchilov & Hutter 2019) in the exact operation order of
 * torch.optim.AdamW, global-norm gradient clipping as in
 * torch.nn.utils.clip_grad_norm_, and a linear-warmup + cosine-decay
 * learning-rate schedule. */
#ifndef CAPE_TRAIN_ADAMW_H
#define CAPE_TRAIN_ADAMW_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "train/train_model.h"

typedef struct {
    float beta1, beta2, eps, weight_decay;
} adamw_hparams;

typedef struct {
    size_t n;
    uint64_t t; /* steps taken */
    float *m, *v;
} adamw_state;

int adamw_init(adamw_state *s, size_t n, cape_err *e);
void adamw_free(adamw_state *s);
/* One update of every parameter of the model with learning rate lr; weight
 * decay only on the tensors whose `decay` flag is set. */
void adamw_step(adamw_state *s, train_model *m, float lr, const adamw_hparams *h);
/* The same with every gradient multiplied by gscale on the way in (the
 * clipping factor, without a separate pass over the gradients). */
void adamw_step_scaled(adamw_state *s, train_model *m, float lr, const adamw_hparams *h,
                       float gscale);

/* L2 norm of all gradients (accumulated in double). */
double train_grad_norm(const train_model *m);
/* Scales the gradients so their norm is at most max_norm (no-op when
 * max_norm <= 0); returns the norm before clipping. */
double train_clip_grads(train_model *m, double max_norm);
/* The clipping factor min(1, max_norm / (norm + 1e-6)); 1 when max_norm <= 0. */
float train_clip_coef(double norm, double max_norm);

/* Learning rate for 0-based step `step` of `total`: linear warmup from
 * lr/warmup to lr over `warmup` steps, then cosine decay to lr_min at the
 * last step. */
float train_lr_at(long step, long warmup, long total, float lr, float lr_min);

#endif
