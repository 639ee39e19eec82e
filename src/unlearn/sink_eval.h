/* sink_eval: loss of documents under the inference modes of a sink model
 * (own sinks, backbone only, all sinks scaled, switched off and routed), so
 * that what a source's sinks hold can be measured. */
#ifndef CAPE_SINK_EVAL_H
#define CAPE_SINK_EVAL_H

#include <jansson.h>
#include <stdint.h>

#include "base/err.h"
#include "train/train_ckpt.h"
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

/* ---- per-source evaluation (cape forget --eval) ---------------------------- */

typedef struct {
    int tofu;                 /* the corpus is a TOFU directory: only the answer tokens count */
    const char *const *names; /* sources to evaluate (NULL: the first max_sources, or all) */
    int n_names;
    int max_sources;          /* 0: all */
    int batch;                /* items per forward pass (16) */
} sink_eval_options;

void sink_eval_options_default(sink_eval_options *o);

enum { SINK_EVAL_MAX_MODES = 4 };

typedef struct {
    char *source;
    int docs;                 /* documents with a scored token */
    double loss[SINK_EVAL_MAX_MODES]; /* mean loss under each of the result's modes */
    char *routed_to;          /* off mode: the source its queries went to most often (NULL:
                                 none, or no sinks) */
    int routed_n;             /* of docs, how many went there */
} sink_eval_row;

typedef struct {
    char *model;              /* the model's path, as given */
    int sinks;                /* the model has sinks: modes source, backbone, all, off */
    int answer_only;          /* the loss counts answer tokens only (TOFU) */
    int n_modes;              /* 4 with sinks, else 1 (plain) */
    sink_mode modes[SINK_EVAL_MAX_MODES];
    sink_eval_row *rows;      /* the evaluated sources with a scored document, in model order */
    int n_rows;
    double mean[SINK_EVAL_MAX_MODES]; /* mean over rows of each mode's loss */
} sink_eval_result;

/* Name of column k: the mode's name, or "plain" for a model without sinks. */
const char *sink_eval_mode_label(const sink_eval_result *r, int k);

/* Mean loss of each selected source's documents of the corpus (a JSON-lines
 * file, or a TOFU directory when o->tofu) under every inference mode of the
 * model f (read from path model, a model cape train wrote): its own sinks on,
 * backbone only, all sinks at their keep rate, and the source switched off
 * with its queries routed. A model without sinks gives one mode (plain) and
 * takes its source names from the corpus. Errors (unknown source, no document
 * of the selected sources, nothing scored within the context) are input
 * errors naming the file. */
int sink_eval_sources(ckpt_file *f, const char *model, const char *corpus,
                      const sink_eval_options *o, sink_eval_result *r, cape_err *e);
void sink_eval_result_free(sink_eval_result *r);

/* {"model", "sinks", "loss", "sources": [{"source", "docs", "loss": {mode: x},
 * "off_routed_to"}], "mean": {mode: x}} (docs/JSON.md, cape forget --eval). */
json_t *sink_eval_result_json(const sink_eval_result *r);

#endif
