/* gguf: reader and writer of GGUF files (llama.cpp's model format, versions
 * 2 and 3).
 *
 * Reading maps the file and checks every length, count, dimension and offset
 * against the file size before anything points into it, so a truncated or
 * hostile file yields one error message, never an out-of-bounds read. Keys,
 * string values and tensor data are views into the mapping: they stay valid
 * until gguf_close().
 *
 * Writing collects key/value pairs (any GGUF value type, arrays included) and
 * tensors, then writes the file atomically (temp file, fsync, rename).
 *
 *   gguf_file *f = gguf_open("model.gguf", &e);
 *   int64_t n;  gguf_get_int(f, "llama.block_count", &n);
 *   const gguf_tensor *t = gguf_find_tensor(f, "token_embd.weight");
 *   ... t->data, t->type, t->ne[0] (row length), t->ne[1] (rows) ...
 *   gguf_close(f);
 *
 *   gguf_writer *w = gguf_writer_new();
 *   gguf_writer_set_str(w, "general.architecture", "llama");
 *   gguf_writer_add_tensor(w, "output.weight", TENSOR_F32, 2, ne, data);
 *   gguf_writer_write(w, "out.gguf", &e);
 *   gguf_writer_free(w);
 */
#ifndef CAPE_GGUF_H
#define CAPE_GGUF_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "tensor/dtype.h"

#define GGUF_MAX_DIMS 4
#define GGUF_DEFAULT_ALIGNMENT 32

/* Value types, numbered as in the file. */
typedef enum {
    GGUF_UINT8 = 0,
    GGUF_INT8 = 1,
    GGUF_UINT16 = 2,
    GGUF_INT16 = 3,
    GGUF_UINT32 = 4,
    GGUF_INT32 = 5,
    GGUF_FLOAT32 = 6,
    GGUF_BOOL = 7,
    GGUF_STRING = 8,
    GGUF_ARRAY = 9,
    GGUF_UINT64 = 10,
    GGUF_INT64 = 11,
    GGUF_FLOAT64 = 12,
    GGUF_NTYPES
} gguf_type;

const char *gguf_type_name(gguf_type t);

/* A string in the file: not NUL-terminated. */
typedef struct {
    const char *ptr;
    uint64_t len;
} gguf_str;

/* An array value. Scalars lie packed (little-endian, possibly unaligned:
 * read them with the gguf_arr_* accessors); strings are indexed. */
typedef struct {
    gguf_type type; /* element type, never GGUF_ARRAY */
    uint64_t n;
    const uint8_t *data;
    const gguf_str *strs; /* when type == GGUF_STRING */
} gguf_arr;

typedef struct {
    const char *key; /* NUL-terminated copy */
    gguf_type type;
    union {
        uint64_t u; /* every unsigned type and bool */
        int64_t i;  /* every signed type */
        double f;   /* float32 and float64 */
        gguf_str s;
        gguf_arr a;
    } v;
} gguf_kv;

typedef struct {
    const char *name; /* NUL-terminated copy */
    uint32_t n_dims;
    int64_t ne[GGUF_MAX_DIMS]; /* ne[0] is the row length (contiguous); unused dims are 1 */
    tensor_type type;
    uint64_t offset;  /* relative to the data section */
    uint64_t nbytes;
    const void *data; /* into the mapping */
} gguf_tensor;

typedef struct gguf_file gguf_file;

/* Maps and validates the file. NULL on error (e filled, code CAPE_EINPUT for
 * a malformed file). */
gguf_file *gguf_open(const char *path, cape_err *e);
/* Parses a buffer the caller keeps alive (tests, fuzzing); nothing is copied.
 * `name` only labels error messages. */
gguf_file *gguf_open_buffer(const void *data, size_t len, const char *name, cape_err *e);
void gguf_close(gguf_file *f);
/* 1 when the file at path starts with GGUF's magic (0 for any other file,
 * or one that cannot be read). */
int gguf_path_is_gguf(const char *path);

const char *gguf_path(const gguf_file *f);
uint32_t gguf_version(const gguf_file *f);
uint64_t gguf_alignment(const gguf_file *f);
size_t gguf_file_size(const gguf_file *f);
/* Offset of the tensor data section in the file. */
uint64_t gguf_data_offset(const gguf_file *f);

int64_t gguf_n_kv(const gguf_file *f);
const gguf_kv *gguf_kv_at(const gguf_file *f, int64_t i);
const gguf_kv *gguf_find_kv(const gguf_file *f, const char *key);

/* Typed getters: 1 when the key exists with a convertible type and *out was
 * set, 0 when it is absent or has another type (then *out is untouched).
 * gguf_get_int takes any integer type (and bool), gguf_get_float any number. */
int gguf_get_int(const gguf_file *f, const char *key, int64_t *out);
int gguf_get_float(const gguf_file *f, const char *key, double *out);
int gguf_get_bool(const gguf_file *f, const char *key, int *out);
int gguf_get_str(const gguf_file *f, const char *key, gguf_str *out);
int gguf_get_arr(const gguf_file *f, const char *key, gguf_arr *out);
/* Copies a string value into buf (NUL-terminated, truncated to fit). */
int gguf_get_cstr(const gguf_file *f, const char *key, char *buf, size_t bufsz);

/* The same, but a missing key or a wrong type is an error naming the file
 * and the key (CAPE_EINPUT). */
int gguf_need_int(const gguf_file *f, const char *key, int64_t *out, cape_err *e);
int gguf_need_float(const gguf_file *f, const char *key, double *out, cape_err *e);
int gguf_need_str(const gguf_file *f, const char *key, gguf_str *out, cape_err *e);
int gguf_need_arr(const gguf_file *f, const char *key, gguf_type elem, gguf_arr *out,
                  cape_err *e);

/* Element i of a scalar array, converted. */
int64_t gguf_arr_int(const gguf_arr *a, uint64_t i);
double gguf_arr_float(const gguf_arr *a, uint64_t i);

int64_t gguf_n_tensors(const gguf_file *f);
const gguf_tensor *gguf_tensor_at(const gguf_file *f, int64_t i);
const gguf_tensor *gguf_find_tensor(const gguf_file *f, const char *name);
int64_t gguf_tensor_nelements(const gguf_tensor *t);

/* ---- writer ---- */

typedef struct gguf_writer gguf_writer;

gguf_writer *gguf_writer_new(void);
void gguf_writer_free(gguf_writer *w);
/* GGUF version to write (3, the default, or 2) and the data alignment
 * (a power of two; written as general.alignment when not 32). */
void gguf_writer_set_version(gguf_writer *w, uint32_t version);
int gguf_writer_set_alignment(gguf_writer *w, uint32_t alignment);

/* Setting a key that exists replaces its value in place (order is kept).
 * All return 0, or -1 when out of memory (then gguf_writer_write fails). */
int gguf_writer_set_u8(gguf_writer *w, const char *key, uint8_t v);
int gguf_writer_set_i8(gguf_writer *w, const char *key, int8_t v);
int gguf_writer_set_u16(gguf_writer *w, const char *key, uint16_t v);
int gguf_writer_set_i16(gguf_writer *w, const char *key, int16_t v);
int gguf_writer_set_u32(gguf_writer *w, const char *key, uint32_t v);
int gguf_writer_set_i32(gguf_writer *w, const char *key, int32_t v);
int gguf_writer_set_u64(gguf_writer *w, const char *key, uint64_t v);
int gguf_writer_set_i64(gguf_writer *w, const char *key, int64_t v);
int gguf_writer_set_f32(gguf_writer *w, const char *key, float v);
int gguf_writer_set_f64(gguf_writer *w, const char *key, double v);
int gguf_writer_set_bool(gguf_writer *w, const char *key, int v);
int gguf_writer_set_str(gguf_writer *w, const char *key, const char *v);
int gguf_writer_set_strn(gguf_writer *w, const char *key, const char *v, size_t len);
/* An array of n scalars of `type`, packed little-endian as in memory
 * (int32_t[] for GGUF_INT32, float[] for GGUF_FLOAT32, uint8_t 0/1 for bool). */
int gguf_writer_set_arr(gguf_writer *w, const char *key, gguf_type type, const void *data,
                        uint64_t n);
int gguf_writer_set_arr_str(gguf_writer *w, const char *key, const char *const *strs,
                            uint64_t n);
/* Copies one key (any type) from a file being read. */
int gguf_writer_copy_kv(gguf_writer *w, const gguf_kv *kv);
int gguf_writer_remove(gguf_writer *w, const char *key);

/* Adds a tensor. The data is NOT copied: it must stay valid until
 * gguf_writer_write returns. ne[0] is the row length; its size must be a
 * whole number of blocks of `type`. Returns 0, or -1 for a duplicate name,
 * bad shape or no memory (gguf_writer_write then reports it). */
int gguf_writer_add_tensor(gguf_writer *w, const char *name, tensor_type type, uint32_t n_dims,
                           const int64_t *ne, const void *data);

/* Writes the file atomically. 0 or an error code. */
int gguf_writer_write(gguf_writer *w, const char *path, cape_err *e);
/* The same bytes into a malloc'ed buffer (tests, fuzz seeds). */
int gguf_writer_to_buffer(gguf_writer *w, uint8_t **out, size_t *len, cape_err *e);

#endif
