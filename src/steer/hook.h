/* hook: the forward-pass hook behind probing and steering. One hook reads the
 * residual stream after each block (and each attention head's output) at a
 * chosen position, and adds a steering vector after chosen blocks, at every
 * position or from a position on; another hook can be chained after it. */
#ifndef CAPE_STEER_HOOK_H
#define CAPE_STEER_HOOK_H

#include "model/model.h"

typedef struct {
    int n_layers, dim, head_width;
    /* capture: the row at position capture_pos (< 0: none) */
    int capture_pos;
    float *resid; /* [n_layers][dim] RESID_POST, or NULL */
    float *heads; /* [n_layers][head_width] ATTN_HEADS, or NULL */
    /* steering: add scale * vec[layer] after block `layer` when on[layer] */
    const float *vec;        /* [n_layers][dim] */
    const unsigned char *on; /* [n_layers] */
    float scale;
    int add_from_pos; /* rows at positions >= this (0: all positions) */
    /* per sequence of a batched session (model_hook_info.seq < n_from_seq),
     * instead of add_from_pos; NULL: add_from_pos for all */
    const int *from_pos_seq;
    int n_from_seq;
    model_hook_fn next;
    void *next_user;
} steer_hook;

void steer_hook_fn(const model_hook_info *info, float *x, void *user);

#endif
