/* safetensors: reader of Hugging Face safetensors files (an 8-byte header
 * length, a JSON header naming each tensor's dtype, shape and byte range,
 * then the data), single or sharded with model.safetensors.index.json.
 * Files are memory-mapped; every range is checked against the file. */
#ifndef CAPE_SAFETENSORS_H
#define CAPE_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "tensor/dtype.h"

#define ST_MAX_DIMS 8

typedef struct {
    char *name;
    tensor_type type; /* F32, F16, BF16, F64, I8..I64; others are rejected */
    int n_dims;
    int64_t shape[ST_MAX_DIMS]; /* row-major, as torch: the last dim is contiguous */
    const void *data;
    uint64_t nbytes;
} st_tensor;

typedef struct st_set st_set;

/* path: a .safetensors file, a *.safetensors.index.json, or a directory
 * holding model.safetensors or model.safetensors.index.json. */
st_set *st_open(const char *path, cape_err *e);
/* One file held in memory by the caller (tests, fuzzing). */
st_set *st_open_buffer(const void *data, size_t len, const char *name, cape_err *e);
void st_close(st_set *s);
int st_n_tensors(const st_set *s);
const st_tensor *st_tensor_at(const st_set *s, int i);
const st_tensor *st_find(const st_set *s, const char *name);

#endif
