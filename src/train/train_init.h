/* train_init: fine-tuning an existing model. The runtime's loader
 * (model/model.h) reads it (a GGUF of llama, qwen2, qwen3 or gemma3, any
 * weight type the runtime computes with); its configuration becomes a
 * train_config of the llama-style block with the architecture's variants
 * switched on (train_model.h), and every weight is dequantised into the
 * f32 master copy. The fine-tuned model is written as a GGUF of the same
 * architecture: all the source's metadata (architecture keys, tokenizer,
 * general.*) copied unchanged, the tensors under the source's names, 2-D
 * ones as f32, f16, bf16 or q8_0, vectors (norms, biases) as f32. */
#ifndef CAPE_TRAIN_INIT_H
#define CAPE_TRAIN_INIT_H

#include "base/err.h"
#include "model/gguf.h"
#include "model/model.h"
#include "train/train_model.h"

/* The source model of a fine-tuning run. */
typedef struct {
    model *src;      /* the runtime's model: weights (mapped) and tokenizer */
    gguf_file *meta; /* the same file, for its metadata */
    char path[1024];
} train_init_src;

/* Opens the source and fills cfg (ce_chunk left 0). An architecture or a
 * variant the trainer does not implement is an input error naming the
 * supported ones; so is a file the runtime refuses (tensors that do not
 * match the metadata, ...). */
int train_init_open(train_init_src *s, const char *path, train_config *cfg, cape_err *e);
void train_init_close(train_init_src *s);
/* Dequantises every weight of the source into m's parameters (m built from
 * the cfg train_init_open gave, possibly with another ce_chunk). A wider
 * MLP (cfg.hidden above the source's, retrofitted sink units) keeps the
 * source's units first; the new units keep the gate/up rows m holds (its
 * seeded init) and get zero down-projection columns, so the model computes
 * the source's function until it is trained. */
int train_init_load(train_model *m, const train_init_src *s, cape_err *e);

/* Output tensor types. */
typedef enum { TRAIN_OUT_F32, TRAIN_OUT_F16, TRAIN_OUT_BF16, TRAIN_OUT_Q8_0 } train_out_type;
int train_out_type_parse(const char *s, train_out_type *out);

/* Extra keys for the written file (cape.train.*): 0, or -1 when out of
 * memory. */
typedef int (*train_init_meta_fn)(void *ctx, gguf_writer *w);

/* Writes m as a GGUF of the source's architecture and metadata. */
int train_init_save(const train_model *m, const train_init_src *s, train_out_type type,
                    train_init_meta_fn meta, void *meta_ctx, const char *path, cape_err *e);

#endif
