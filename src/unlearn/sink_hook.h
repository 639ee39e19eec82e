/* sink_hook: the inference side of sink models for the runtime: reads a
 * model's sink metadata, picks the mask of a mode (a named source, backbone
 * only, all sinks scaled, or routed to the most similar surviving source)
 * and applies it to the MLP hidden activation through the model's hook
 * (MODEL_HOOK_MLP_HIDDEN), before the down-projection, in every block. */
#ifndef CAPE_SINK_HOOK_H
#define CAPE_SINK_HOOK_H

#include "model/model.h"
#include "unlearn/sink_model.h"

typedef struct {
    sink_model sm;
    int enabled;     /* the model has sinks */
    int width;       /* ffn_dim */
    float *mask;
    sink_mode mode;
    uint32_t source; /* SOURCE mode: the named source */
    uint32_t used;   /* source whose sinks the current mask uses (0 none) */
    model_hook_fn next; /* another hook to call after the mask (steering) */
    void *next_user;
} sink_hook;

/* Reads the sink metadata of the GGUF at path (a model without sinks gives
 * enabled = 0). mode_name NULL means "off" routing when no source is named,
 * else "source". A mode or source given for a model without sinks, an
 * unknown mode or an unknown source is an input error. */
int sink_hook_open(sink_hook *h, const char *path, int ffn_dim, const char *mode_name,
                   const char *source, cape_err *e);
/* Chooses the mask for a query (the text routed in "off" mode). */
void sink_hook_select(sink_hook *h, const char *query);
/* Whether the mask depends on the query (then each query needs its own
 * pass). */
int sink_hook_per_query(const sink_hook *h);
void sink_hook_fn(const model_hook_info *info, float *x, void *user);
/* Multiplies the rows of an MLP hidden activation by mask when the hook
 * point is MLP_HIDDEN of h's width (what sink_hook_fn does with h's own
 * mask; callers that keep a mask per sequence pass that one). */
void sink_hook_apply_mask(const sink_hook *h, const model_hook_info *info, float *x,
                          const float *mask);
void sink_hook_free(sink_hook *h);

#endif
