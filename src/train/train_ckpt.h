/* train_ckpt: the trainer's checkpoint files.
 *
 * Models are GGUF v3 files (llama.cpp's format): metadata key/value pairs,
 * then F32 tensors aligned to 32 bytes. This module reads and writes only
 * what the trainer produces (every GGUF value type in the metadata, F32
 * tensors); values it does not interpret are kept as raw bytes so a file
 * can be rewritten with a key changed and nothing else touched. It is the
 * trainer's small private interface until the runtime's GGUF library is
 * available; callers use only the functions below.
 *
 * The optimizer state goes to a second file (see train_loop.h). */
#ifndef CAPE_TRAIN_CKPT_H
#define CAPE_TRAIN_CKPT_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

enum {
    GGUF_T_UINT8 = 0, GGUF_T_INT8, GGUF_T_UINT16, GGUF_T_INT16, GGUF_T_UINT32, GGUF_T_INT32,
    GGUF_T_FLOAT32, GGUF_T_BOOL, GGUF_T_STRING, GGUF_T_ARRAY, GGUF_T_UINT64, GGUF_T_INT64,
    GGUF_T_FLOAT64,
};

typedef struct {
    char *key;
    uint32_t type;
    uint8_t *val; /* the encoded value as it appears in the file after its type */
    size_t len;
} ckpt_kv;

typedef struct {
    char *name;
    int ndim;
    uint64_t ne[4]; /* GGUF order: ne[0] is the contiguous dimension */
    const float *data;
    float *owned;
} ckpt_tensor;

typedef struct {
    ckpt_kv *kv;
    int n_kv, cap_kv;
    ckpt_tensor *t;
    int n_t, cap_t;
} ckpt_file;

void ckpt_free(ckpt_file *f);

/* Setters replace an existing key. Return 0, or -1 when out of memory. */
int ckpt_set_str(ckpt_file *f, const char *key, const char *v);
int ckpt_set_u32(ckpt_file *f, const char *key, uint32_t v);
int ckpt_set_u64(ckpt_file *f, const char *key, uint64_t v);
int ckpt_set_f32(ckpt_file *f, const char *key, float v);
int ckpt_set_strs(ckpt_file *f, const char *key, const char *const *v, size_t n);
int ckpt_set_f32s(ckpt_file *f, const char *key, const float *v, size_t n);
int ckpt_set_i32s(ckpt_file *f, const char *key, const int32_t *v, size_t n);
int ckpt_remove(ckpt_file *f, const char *key);
/* A 1-D (cols = 0) or 2-D (rows, cols) row-major F32 tensor; data is not
 * copied and must outlive the write. */
int ckpt_add_tensor(ckpt_file *f, const char *name, uint64_t rows, uint64_t cols,
                    const float *data);

int ckpt_write(const ckpt_file *f, const char *path, cape_err *e);
/* Reads a whole GGUF file; any malformed or truncated part, or a tensor
 * that is not F32, is an error naming the file and what is wrong. */
int ckpt_read(ckpt_file *f, const char *path, cape_err *e);
int ckpt_parse(ckpt_file *f, const uint8_t *buf, size_t len, const char *what, cape_err *e);

const ckpt_kv *ckpt_get(const ckpt_file *f, const char *key);
/* Typed getters: 0 on success, -1 when absent or of another type (integer
 * getters accept any integer type whose value fits). */
int ckpt_get_str(const ckpt_file *f, const char *key, char *out, size_t outsz);
int ckpt_get_u64(const ckpt_file *f, const char *key, uint64_t *out);
int ckpt_get_f32(const ckpt_file *f, const char *key, float *out);
/* Array getters allocate: strings as a malloc'ed array of malloc'ed
 * strings. */
int ckpt_get_strs(const ckpt_file *f, const char *key, char ***out, size_t *n);
int ckpt_get_f32s(const ckpt_file *f, const char *key, float **out, size_t *n);
int ckpt_get_i32s(const ckpt_file *f, const char *key, int32_t **out, size_t *n);
void ckpt_free_strs(char **v, size_t n);
const ckpt_tensor *ckpt_tensor_get(const ckpt_file *f, const char *name);

#endif
