/* train_ckpt: the trainer's view of its GGUF files, over the project's GGUF
 * reader and writer (src/model/gguf.h).
 *
 * A ckpt_file collects keys and F32 tensors to write (setters, add_tensor,
 * ckpt_write), or holds a file that was read (ckpt_read / ckpt_parse), whose
 * keys the getters see. Setting a key on a file that was read starts a
 * rewrite that keeps every other key and tensor as it was, so cape forget
 * changes one key and nothing else. The trainer only reads F32 models; any
 * other tensor type is an error naming the tensor. The optimizer state goes
 * to a second file (see train_loop.h). */
#ifndef CAPE_TRAIN_CKPT_H
#define CAPE_TRAIN_CKPT_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "model/gguf.h"

typedef struct {
    int ndim;
    uint64_t ne[4]; /* GGUF order: ne[0] is the contiguous dimension */
    const float *data;
} ckpt_tensor;

typedef struct {
    gguf_writer *w; /* what will be written; NULL until something is set */
    gguf_file *r;   /* a file that was read, or NULL */
    ckpt_tensor view;
    int failed;     /* a setter ran out of memory */
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
/* Copies a key (any type) from another GGUF that was read. */
int ckpt_copy_kv(ckpt_file *f, const gguf_kv *kv);
/* A 1-D (cols = 0) or 2-D (rows, cols) row-major F32 tensor; data is not
 * copied and must outlive the write. */
int ckpt_add_tensor(ckpt_file *f, const char *name, uint64_t rows, uint64_t cols,
                    const float *data);

int ckpt_write(ckpt_file *f, const char *path, cape_err *e);
/* Reads a GGUF file (or a buffer the caller keeps alive); malformed input
 * or a tensor that is not F32 is an input error naming the file. */
int ckpt_read(ckpt_file *f, const char *path, cape_err *e);
int ckpt_parse(ckpt_file *f, const uint8_t *buf, size_t len, const char *what, cape_err *e);
/* Reads only for the metadata: tensors of any type are accepted. */
int ckpt_read_meta(ckpt_file *f, const char *path, cape_err *e);

/* Getters see the file that was read: 0 on success, -1 when absent or of
 * another type (integer getters accept any integer type whose value fits). */
int ckpt_get_str(const ckpt_file *f, const char *key, char *out, size_t outsz);
int ckpt_get_u64(const ckpt_file *f, const char *key, uint64_t *out);
int ckpt_get_f32(const ckpt_file *f, const char *key, float *out);
/* Array getters allocate: strings as a malloc'ed array of malloc'ed
 * strings. */
int ckpt_get_strs(const ckpt_file *f, const char *key, char ***out, size_t *n);
int ckpt_get_f32s(const ckpt_file *f, const char *key, float **out, size_t *n);
int ckpt_get_i32s(const ckpt_file *f, const char *key, int32_t **out, size_t *n);
void ckpt_free_strs(char **v, size_t n);
/* An F32 tensor of the file that was read (the view is overwritten by the
 * next call), or NULL. */
const ckpt_tensor *ckpt_tensor_get(ckpt_file *f, const char *name);

#endif
