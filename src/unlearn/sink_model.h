/* sink_model: the sink side of a trained model: layout, source names,
 * router and the switched-off set, as stored in GGUF metadata
 * (cape.sink.*, cape.route.*), and the mask each inference mode uses. */
#ifndef CAPE_SINK_MODEL_H
#define CAPE_SINK_MODEL_H

#include <stddef.h>
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
    SINK_MODE_OWN,      /* the query's own source as the caller knows it (an evaluation
                         * with labelled items), minus switched-off units, never routed;
                         * no source: backbone only. Not a mode users name: sink_mode_parse
                         * does not accept it */
} sink_mode;

int sink_model_write(const sink_model *s, ckpt_file *f);
/* Reads the sink keys; a model without them gives enabled = 0. */
int sink_model_read(sink_model *s, const ckpt_file *f, int hidden, const char *what, cape_err *e);
/* The same for any architecture (a from-scratch model or one with
 * retrofitted sinks): the MLP width is the GGUF's
 * <general.architecture>.feed_forward_length. */
int sink_model_read_gguf(sink_model *s, const ckpt_file *f, const char *what, cape_err *e);
/* A resumed run must mask with the checkpoint's sink layout: the same
 * backbone, pool, units per source and seed (a default that changed, or
 * other flags, would otherwise go on training with other masks). want is
 * NULL for a run without sinks; a mismatch is an input error naming path
 * and the flags that resume it. */
int sink_model_check_resume(const ckpt_file *f, const sink_layout *want, const char *path,
                            cape_err *e);
void sink_model_free(sink_model *s);
int sink_mode_parse(const char *s, sink_mode *out);
const char *sink_mode_name(sink_mode m);

/* Reads the sink metadata of the model file at path (only GGUF files carry
 * it; any other file, or a GGUF without sink keys, gives enabled = 0). */
int sink_model_read_file(sink_model *s, const char *path, int hidden, cape_err *e);
/* 1 when the model file at path carries sinks (cape train --sinks), else 0
 * (also for a file that cannot be read: the load reports that). */
int sink_model_file_has_sinks(const char *path);
/* An input error unless the checkpoint was written by cape train. */
int sink_model_require_cape(const ckpt_file *f, const char *what, cape_err *e);
/* "a, b, c, ... (N in all)": the first `max` source names, into buf. */
const char *sink_sources_list(const sink_sources *s, int max, char *buf, size_t n);
/* The input error for a source the model does not have, naming some it has. */
int sink_unknown_source(const sink_model *s, const char *name, cape_err *e);

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
