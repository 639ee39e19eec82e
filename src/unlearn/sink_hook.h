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

/* The masks of a batched session whose mask follows the query (routed
 * "off" mode, or each question's own author): one mask per sequence,
 * chosen when an item or prompt enters its sequence (the scorer's and the
 * generator's callbacks name the sequence) and applied by the hook to the
 * rows of that sequence (model_hook_info.seq). With per_query 0 nothing is
 * allocated and the hook applies h's single mask. */
typedef struct {
    const sink_hook *h;
    int per_query;
    float *masks; /* [n_seq * width] when per_query */
    int n_seq;
} sink_seq_masks;

int sink_seq_masks_init(sink_seq_masks *s, const sink_hook *h, int per_query, int n_seq,
                        cape_err *e);
/* Sequence seq takes the mask of source (SOURCE and OWN modes) or of the
 * query's route (OFF mode); a seq outside the batch is ignored. */
void sink_seq_masks_select(sink_seq_masks *s, int seq, uint32_t source, const char *query);
/* Multiplies each sequence's rows of an MLP hidden activation by its mask. */
void sink_seq_masks_apply(const sink_seq_masks *s, const model_hook_info *info, float *x);
void sink_seq_masks_free(sink_seq_masks *s);

#endif
