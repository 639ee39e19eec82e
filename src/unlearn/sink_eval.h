/* sink_eval: loss of documents under the inference modes of a sink model
 * (own sinks, backbone only, all sinks scaled, switched off and routed), so
 * that what a source's sinks hold can be measured. */
#ifndef CAPE_SINK_EVAL_H
#define CAPE_SINK_EVAL_H

#include <stdint.h>

#include "base/err.h"
#include "train/train_model.h"
#include "unlearn/sink_model.h"

typedef struct {
    int *tokens;       /* len tokens */
    int *targets;      /* len targets, -1 = not scored */
    int len;
    uint32_t source;   /* 1-based id in the model's source list, 0 = unknown */
    const char *query; /* text used for routing */
} sink_eval_item;

/* Mean loss over each item's scored targets (NAN when none). mode is
 * ignored for a model without sinks (s NULL or disabled). With off_own, the
 * item's own source is switched off in addition to the model's set (the
 * "off" condition for that source). routed (may be NULL) gets the source
 * whose sinks were used. Items are batched B at a time; m must have
 * activations for B x T with T >= every len. */
int sink_eval_losses(train_model *m, const sink_model *s, sink_mode mode, int off_own,
                     const sink_eval_item *items, int n, float *loss, uint32_t *routed,
                     cape_err *e);

#endif
