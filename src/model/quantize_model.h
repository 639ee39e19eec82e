/* quantize_model: re-quantise a GGUF model file, as llama.cpp's
 * llama-quantize does without an importance matrix.
 *
 * Every key/value pair is copied (general.file_type and
 * general.quantization_version set as llama.cpp sets them, split keys
 * dropped); every tensor keeps its name, shape and place in the file. Which
 * tensors are converted, and to what, follows llama.cpp's default recipe for
 * the chosen type (src/llama-quant.cpp):
 *   - only tensors of two or more dimensions whose names end in "weight"
 *     are converted; norms and the small or special tensors llama.cpp
 *     exempts (expert gates, positional and token-type embeddings, ...) keep
 *     their type;
 *   - output.weight, and the token embedding when it is also the output
 *     (no output.weight in the file), become Q6_K for every quantised type
 *     except Q8_0 (Q8_0 when the row length is not a multiple of 256);
 *     --keep-output leaves output.weight as it is;
 *   - the K-quant recipes are llama.cpp's _M mixes: Q3_K is Q3_K_M, Q4_K is
 *     Q4_K_M, Q5_K is Q5_K_M (attn_v and ffn_down of some layers get more
 *     bits), Q2_K is Q2_K (attn_v, attn_output, ffn_down get Q3_K/Q4_K);
 *   - a row length that is not a whole number of the type's blocks falls
 *     back as in llama.cpp (Q4_K -> Q5_0, Q5_K -> Q5_1, Q6_K -> Q8_0,
 *     Q2_K/Q3_K -> Q4_0, then F16).
 * Quantised inputs are dequantised first; a tensor already of its target
 * type is copied unchanged. Weights are quantised with src/tensor/quantize.c
 * (ggml's reference quantisers, byte for byte). */
#ifndef CAPE_QUANTIZE_MODEL_H
#define CAPE_QUANTIZE_MODEL_H

#include <stdint.h>

#include "base/err.h"
#include "tensor/dtype.h"

/* A target: the name users type, the main tensor type, and the value of
 * general.file_type (llama.cpp's llama_ftype). */
typedef struct {
    const char *name;  /* "q4_k" */
    const char *label; /* "Q4_K_M", as llama.cpp names the mix */
    tensor_type type;
    int ftype;
} quantize_recipe;

/* NULL when the name is unknown (case-insensitive; "q4_k_m" is "q4_k"). */
const quantize_recipe *quantize_recipe_find(const char *name);
/* "q8_0|q4_0|...": the names, for usage messages. */
const char *quantize_recipe_names(void);

typedef struct {
    const quantize_recipe *recipe;
    int keep_output; /* leave output.weight in its type */
    int n_threads;   /* <= 0: the number of online CPUs */
    /* called after each tensor with (tensors done, tensors in all) */
    void (*progress)(void *user, long done, long total);
    void *progress_user;
} quantize_opts;

typedef struct {
    int64_t n_tensors, n_converted, n_fallback;
    int64_t n_elements;
    int64_t count_in[TENSOR_NTYPES], count_out[TENSOR_NTYPES]; /* tensors per type */
    uint64_t data_in, data_out; /* bytes of tensor data */
    uint64_t file_in, file_out; /* bytes of the files */
} quantize_stats;

/* Writes OUT (atomically) from IN. Errors: CAPE_EINPUT for a file that is
 * not a readable GGUF, a tensor whose type cannot be converted, OUT the same
 * file as IN, or OUT a directory or device; CAPE_EFAIL for a failed write. */
int quantize_model(const char *in, const char *out, const quantize_opts *o, quantize_stats *st,
                   cape_err *e);

#endif
