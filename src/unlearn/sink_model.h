/* sink_model: the sink side of a trained model: layout, source names,
 * router and the switched-off set, as stored in GGUF metadata
 * (cape.sink.*, cape.route.*), and the mask each inference mode uses. */
#ifndef CAPE_SINK_MODEL_H
#define CAPE_SINK_MODEL_H

#include <stdint.h>

#include "base/err.h"
#include "train/train_ckpt.h"
#include "unlearn/sink.h"

typedef struct {
    int enabled;
    sink_layout layout;
    sink_sources sources;
    int has_router;
    sink_router router;
    uint32_t *off; /* switched-off source ids */
    int n_off;
} sink_model;

typedef enum {
    SINK_MODE_SOURCE,   /* a named source's sinks on (minus switched-off units) */
    SINK_MODE_BACKBONE, /* all sinks off, backbone rescaled */
    SINK_MODE_ALL,      /* all sinks at their keep rate (switched-off units 0) */
    SINK_MODE_OFF,      /* route the query to the most similar surviving source */
} sink_mode;

int sink_model_write(const sink_model *s, ckpt_file *f);
/* Reads the sink keys; a model without them gives enabled = 0. */
int sink_model_read(sink_model *s, const ckpt_file *f, int hidden, const char *what, cape_err *e);
void sink_model_free(sink_model *s);
int sink_mode_parse(const char *s, sink_mode *out);
const char *sink_mode_name(sink_mode m);

/* Adds source `name` to the switched-off set; unknown names are an input
 * error. */
int sink_model_switch_off(sink_model *s, const char *name, cape_err *e);
int sink_model_is_off(const sink_model *s, uint32_t id);

/* The mask for one query: mode, the query's own source id (SOURCE mode;
 * a switched-off source is routed like OFF), and its text (for routing).
 * Returns the source whose sinks were used (0 for none). */
uint32_t sink_model_mask(const sink_model *s, sink_mode mode, uint32_t id, const char *text,
                         float *mask);

#endif
