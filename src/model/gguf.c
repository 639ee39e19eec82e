#include "model/gguf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/file.h"

#define GGUF_MAGIC "GGUF"

static const struct {
    const char *name;
    int size; /* bytes of a scalar; 0 for string and array */
} TYPE_INFO[GGUF_NTYPES] = {
    [GGUF_UINT8] = {"uint8", 1},     [GGUF_INT8] = {"int8", 1},
    [GGUF_UINT16] = {"uint16", 2},   [GGUF_INT16] = {"int16", 2},
    [GGUF_UINT32] = {"uint32", 4},   [GGUF_INT32] = {"int32", 4},
    [GGUF_FLOAT32] = {"float32", 4}, [GGUF_BOOL] = {"bool", 1},
    [GGUF_STRING] = {"string", 0},   [GGUF_ARRAY] = {"array", 0},
    [GGUF_UINT64] = {"uint64", 8},   [GGUF_INT64] = {"int64", 8},
    [GGUF_FLOAT64] = {"float64", 8},
};

const char *gguf_type_name(gguf_type t)
{
    return (unsigned)t < GGUF_NTYPES ? TYPE_INFO[t].name : "invalid";
}

struct gguf_file {
    char *path;
    const uint8_t *base;
    size_t size;
    int mapped;
    uint32_t version;
    uint64_t alignment;
    uint64_t data_off;
    int64_t n_kv, n_tensors;
    gguf_kv *kv;
    gguf_tensor *tensors;
};

/* ---- little-endian loads (the file need not be aligned) ---- */

static uint64_t load_le(const uint8_t *p, int size)
{
    uint64_t v = 0;
    for (int i = size - 1; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static int is_signed(gguf_type t)
{
    return t == GGUF_INT8 || t == GGUF_INT16 || t == GGUF_INT32 || t == GGUF_INT64;
}

static int is_integer(gguf_type t)
{
    return t == GGUF_UINT8 || t == GGUF_UINT16 || t == GGUF_UINT32 || t == GGUF_UINT64 ||
           is_signed(t) || t == GGUF_BOOL;
}

static int64_t scalar_int(gguf_type t, const uint8_t *p)
{
    uint64_t v = load_le(p, TYPE_INFO[t].size);
    switch (t) {
    case GGUF_INT8: return (int8_t)v;
    case GGUF_INT16: return (int16_t)v;
    case GGUF_INT32: return (int32_t)v;
    default: return (int64_t)v;
    }
}

static double scalar_float(gguf_type t, const uint8_t *p)
{
    if (t == GGUF_FLOAT32) {
        uint32_t b = (uint32_t)load_le(p, 4);
        float f;
        memcpy(&f, &b, 4);
        return f;
    }
    if (t == GGUF_FLOAT64) {
        uint64_t b = load_le(p, 8);
        double d;
        memcpy(&d, &b, 8);
        return d;
    }
    if (t == GGUF_UINT64)
        return (double)load_le(p, 8);
    return (double)scalar_int(t, p);
}

/* ---- parsing ---- */

typedef struct {
    const uint8_t *p;
    size_t size, off;
    const char *name;
    cape_err *e;
} cursor;

static int need(cursor *c, uint64_t n, const char *what)
{
    if (n > c->size - c->off)
        return err_set(c->e, CAPE_EINPUT, "%s: truncated at byte %zu reading %s (file has %zu bytes)",
                       c->name, c->off, what, c->size);
    return 0;
}

static int read_u32(cursor *c, uint32_t *v, const char *what)
{
    if (need(c, 4, what))
        return -1;
    *v = (uint32_t)load_le(c->p + c->off, 4);
    c->off += 4;
    return 0;
}

static int read_u64(cursor *c, uint64_t *v, const char *what)
{
    if (need(c, 8, what))
        return -1;
    *v = load_le(c->p + c->off, 8);
    c->off += 8;
    return 0;
}

static int read_str(cursor *c, gguf_str *s, const char *what)
{
    uint64_t len;
    if (read_u64(c, &len, what) || need(c, len, what))
        return -1;
    s->ptr = (const char *)c->p + c->off;
    s->len = len;
    c->off += len;
    return 0;
}

static char *dup_str(gguf_str s)
{
    char *out = malloc(s.len + 1);
    if (out) {
        memcpy(out, s.ptr, s.len);
        out[s.len] = 0;
    }
    return out;
}

static int read_array(cursor *c, gguf_kv *kv)
{
    uint32_t et;
    uint64_t n;
    if (read_u32(c, &et, "array type") || read_u64(c, &n, "array length"))
        return -1;
    if (et >= GGUF_NTYPES || et == GGUF_ARRAY)
        return err_set(c->e, CAPE_EINPUT, "%s: key '%s': unsupported array element type %u",
                       c->name, kv->key, et);
    gguf_arr *a = &kv->v.a;
    a->type = (gguf_type)et;
    a->n = n;
    a->data = c->p + c->off;
    a->strs = NULL;
    if (et != GGUF_STRING) {
        uint64_t sz = (uint64_t)TYPE_INFO[et].size;
        if (n > (c->size - c->off) / sz)
            return err_set(c->e, CAPE_EINPUT,
                           "%s: key '%s': array of %llu %s runs past the end of the file", c->name,
                           kv->key, (unsigned long long)n, TYPE_INFO[et].name);
        c->off += n * sz;
        return 0;
    }
    if (n > (c->size - c->off) / 8) /* each string has at least its length */
        return err_set(c->e, CAPE_EINPUT,
                       "%s: key '%s': array of %llu strings runs past the end of the file",
                       c->name, kv->key, (unsigned long long)n);
    gguf_str *strs = malloc((n ? n : 1) * sizeof *strs);
    if (!strs)
        return err_set(c->e, CAPE_EFAIL, "%s: out of memory", c->name);
    a->strs = strs;
    for (uint64_t i = 0; i < n; i++)
        if (read_str(c, &strs[i], "string array element"))
            return -1;
    return 0;
}

static int read_value(cursor *c, gguf_kv *kv)
{
    gguf_type t = kv->type;
    if (t == GGUF_STRING)
        return read_str(c, &kv->v.s, "string value");
    if (t == GGUF_ARRAY)
        return read_array(c, kv);
    int sz = TYPE_INFO[t].size;
    if (need(c, (uint64_t)sz, "value"))
        return -1;
    const uint8_t *p = c->p + c->off;
    if (t == GGUF_FLOAT32 || t == GGUF_FLOAT64)
        kv->v.f = scalar_float(t, p);
    else if (is_signed(t))
        kv->v.i = scalar_int(t, p);
    else
        kv->v.u = load_le(p, sz);
    if (t == GGUF_BOOL && kv->v.u > 1)
        return err_set(c->e, CAPE_EINPUT, "%s: key '%s': bool value %llu is not 0 or 1", c->name,
                       kv->key, (unsigned long long)kv->v.u);
    c->off += (size_t)sz;
    return 0;
}

static int read_kvs(cursor *c, gguf_file *f)
{
    for (int64_t i = 0; i < f->n_kv; i++) {
        gguf_kv *kv = &f->kv[i];
        gguf_str key;
        uint32_t type;
        if (read_str(c, &key, "metadata key"))
            return -1;
        if (!(kv->key = dup_str(key)))
            return err_set(c->e, CAPE_EFAIL, "%s: out of memory", c->name);
        if (read_u32(c, &type, "metadata type"))
            return -1;
        if (type >= GGUF_NTYPES)
            return err_set(c->e, CAPE_EINPUT, "%s: key '%s': unknown value type %u", c->name,
                           kv->key, type);
        kv->type = (gguf_type)type;
        if (read_value(c, kv))
            return -1;
        for (int64_t j = 0; j < i; j++)
            if (strcmp(f->kv[j].key, kv->key) == 0)
                return err_set(c->e, CAPE_EINPUT, "%s: duplicate metadata key '%s'", c->name,
                               kv->key);
    }
    return 0;
}

static int read_tensor_info(cursor *c, gguf_file *f, gguf_tensor *t)
{
    gguf_str name;
    uint32_t nd, type;
    if (read_str(c, &name, "tensor name"))
        return -1;
    if (!(t->name = dup_str(name)))
        return err_set(c->e, CAPE_EFAIL, "%s: out of memory", c->name);
    if (read_u32(c, &nd, "tensor dimension count"))
        return -1;
    if (nd == 0 || nd > GGUF_MAX_DIMS)
        return err_set(c->e, CAPE_EINPUT, "%s: tensor '%s': %u dimensions (1 to %d allowed)",
                       c->name, t->name, nd, GGUF_MAX_DIMS);
    t->n_dims = nd;
    for (int d = 0; d < GGUF_MAX_DIMS; d++)
        t->ne[d] = 1;
    for (uint32_t d = 0; d < nd; d++) {
        uint64_t v;
        if (read_u64(c, &v, "tensor dimension"))
            return -1;
        if (v > (uint64_t)INT64_MAX)
            return err_set(c->e, CAPE_EINPUT, "%s: tensor '%s': dimension %u is too large",
                           c->name, t->name, d);
        t->ne[d] = (int64_t)v;
    }
    if (read_u32(c, &type, "tensor type") || read_u64(c, &t->offset, "tensor offset"))
        return -1;
    if (!tensor_type_get(type))
        return err_set(c->e, CAPE_EINPUT, "%s: tensor '%s': unknown or unsupported type %u",
                       c->name, t->name, type);
    t->type = (tensor_type)type;
    int64_t row = tensor_row_bytes(type, t->ne[0]);
    if (row < 0)
        return err_set(c->e, CAPE_EINPUT,
                       "%s: tensor '%s': row of %lld is not a whole number of %s blocks (%d)",
                       c->name, t->name, (long long)t->ne[0], tensor_type_name(type),
                       tensor_type_get(type)->block);
    uint64_t bytes = (uint64_t)row;
    for (int d = 1; d < GGUF_MAX_DIMS; d++) {
        if (t->ne[d] && bytes > (uint64_t)INT64_MAX / (uint64_t)t->ne[d])
            return err_set(c->e, CAPE_EINPUT, "%s: tensor '%s': dimensions overflow", c->name,
                           t->name);
        bytes *= (uint64_t)t->ne[d];
    }
    t->nbytes = bytes;
    if (t->offset % f->alignment)
        return err_set(c->e, CAPE_EINPUT, "%s: tensor '%s': offset %llu is not a multiple of the "
                       "alignment %llu", c->name, t->name, (unsigned long long)t->offset,
                       (unsigned long long)f->alignment);
    return 0;
}

static int parse(gguf_file *f, cape_err *e)
{
    cursor c = {f->base, f->size, 0, f->path, e};
    if (f->size < 4 || memcmp(f->base, GGUF_MAGIC, 4) != 0)
        return err_set(e, CAPE_EINPUT, "%s: not a GGUF file (bad magic)", f->path);
    c.off = 4;
    uint64_t nt, nkv;
    if (read_u32(&c, &f->version, "version"))
        return -1;
    if (f->version != 2 && f->version != 3)
        return err_set(e, CAPE_EINPUT, "%s: GGUF version %u is not supported (2 and 3 are)",
                       f->path, f->version);
    if (read_u64(&c, &nt, "tensor count") || read_u64(&c, &nkv, "metadata count"))
        return -1;
    /* every pair takes at least 12 bytes and every tensor info 24 */
    if (nkv > (c.size - c.off) / 12 || nt > (c.size - c.off) / 24)
        return err_set(e, CAPE_EINPUT, "%s: header claims %llu keys and %llu tensors, more than "
                       "the file can hold", f->path, (unsigned long long)nkv,
                       (unsigned long long)nt);
    f->kv = calloc(nkv ? nkv : 1, sizeof *f->kv);
    f->tensors = calloc(nt ? nt : 1, sizeof *f->tensors);
    if (!f->kv || !f->tensors)
        return err_set(e, CAPE_EFAIL, "%s: out of memory", f->path);
    f->n_kv = (int64_t)nkv;
    if (read_kvs(&c, f))
        return -1;
    f->alignment = GGUF_DEFAULT_ALIGNMENT;
    const gguf_kv *al = gguf_find_kv(f, "general.alignment");
    if (al) {
        if (!is_integer(al->type) || is_signed(al->type) || al->v.u == 0 ||
            (al->v.u & (al->v.u - 1)) || al->v.u > (1u << 30))
            return err_set(e, CAPE_EINPUT, "%s: general.alignment must be a power of two",
                           f->path);
        f->alignment = al->v.u;
    }
    f->n_tensors = (int64_t)nt;
    for (int64_t i = 0; i < f->n_tensors; i++) {
        if (read_tensor_info(&c, f, &f->tensors[i]))
            return -1;
        for (int64_t j = 0; j < i; j++)
            if (strcmp(f->tensors[j].name, f->tensors[i].name) == 0)
                return err_set(e, CAPE_EINPUT, "%s: duplicate tensor name '%s'", f->path,
                               f->tensors[i].name);
    }
    f->data_off = (c.off + f->alignment - 1) / f->alignment * f->alignment;
    for (int64_t i = 0; i < f->n_tensors; i++) {
        gguf_tensor *t = &f->tensors[i];
        if (f->data_off > f->size || t->offset > f->size - f->data_off ||
            t->nbytes > f->size - f->data_off - t->offset)
            return err_set(e, CAPE_EINPUT, "%s: tensor '%s': data (%llu bytes at offset %llu) runs "
                           "past the end of the file", f->path, t->name,
                           (unsigned long long)t->nbytes, (unsigned long long)t->offset);
        t->data = f->base + f->data_off + t->offset;
    }
    return 0;
}

static gguf_file *finish_open(gguf_file *f, cape_err *e)
{
    if (parse(f, e)) {
        if (!e->code)
            err_set(e, CAPE_EINPUT, "%s: malformed GGUF", f->path);
        gguf_close(f);
        return NULL;
    }
    return f;
}

gguf_file *gguf_open_buffer(const void *data, size_t len, const char *name, cape_err *e)
{
    gguf_file *f = calloc(1, sizeof *f);
    if (!f || !(f->path = strdup(name ? name : "<buffer>"))) {
        free(f);
        err_set(e, CAPE_EFAIL, "out of memory");
        return NULL;
    }
    f->base = data;
    f->size = len;
    return finish_open(f, e);
}

gguf_file *gguf_open(const char *path, cape_err *e)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        err_set(e, CAPE_EINPUT, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        err_set(e, CAPE_EINPUT, "%s: not a regular file", path);
        return NULL;
    }
    if (st.st_size < 4) {
        close(fd);
        err_set(e, CAPE_EINPUT, "%s: not a GGUF file (%lld bytes)", path, (long long)st.st_size);
        return NULL;
    }
    void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (m == MAP_FAILED) {
        err_set(e, CAPE_EINPUT, "%s: cannot map: %s", path, strerror(errno));
        return NULL;
    }
    gguf_file *f = calloc(1, sizeof *f);
    if (!f || !(f->path = strdup(path))) {
        free(f);
        munmap(m, (size_t)st.st_size);
        err_set(e, CAPE_EFAIL, "%s: out of memory", path);
        return NULL;
    }
    f->base = m;
    f->size = (size_t)st.st_size;
    f->mapped = 1;
    return finish_open(f, e);
}

void gguf_close(gguf_file *f)
{
    if (!f)
        return;
    for (int64_t i = 0; f->kv && i < f->n_kv; i++) {
        free((char *)f->kv[i].key);
        if (f->kv[i].type == GGUF_ARRAY)
            free((gguf_str *)f->kv[i].v.a.strs);
    }
    for (int64_t i = 0; f->tensors && i < f->n_tensors; i++)
        free((char *)f->tensors[i].name);
    free(f->kv);
    free(f->tensors);
    if (f->mapped)
        munmap((void *)f->base, f->size);
    free(f->path);
    free(f);
}

const char *gguf_path(const gguf_file *f) { return f->path; }
uint32_t gguf_version(const gguf_file *f) { return f->version; }
uint64_t gguf_alignment(const gguf_file *f) { return f->alignment; }
size_t gguf_file_size(const gguf_file *f) { return f->size; }
uint64_t gguf_data_offset(const gguf_file *f) { return f->data_off; }
int64_t gguf_n_kv(const gguf_file *f) { return f->n_kv; }
int64_t gguf_n_tensors(const gguf_file *f) { return f->n_tensors; }

const gguf_kv *gguf_kv_at(const gguf_file *f, int64_t i)
{
    return i >= 0 && i < f->n_kv ? &f->kv[i] : NULL;
}

const gguf_kv *gguf_find_kv(const gguf_file *f, const char *key)
{
    for (int64_t i = 0; i < f->n_kv; i++)
        if (f->kv[i].key && strcmp(f->kv[i].key, key) == 0)
            return &f->kv[i];
    return NULL;
}

const gguf_tensor *gguf_tensor_at(const gguf_file *f, int64_t i)
{
    return i >= 0 && i < f->n_tensors ? &f->tensors[i] : NULL;
}

const gguf_tensor *gguf_find_tensor(const gguf_file *f, const char *name)
{
    for (int64_t i = 0; i < f->n_tensors; i++)
        if (strcmp(f->tensors[i].name, name) == 0)
            return &f->tensors[i];
    return NULL;
}

int64_t gguf_tensor_nelements(const gguf_tensor *t)
{
    return t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3];
}

/* ---- typed getters ---- */

int gguf_get_int(const gguf_file *f, const char *key, int64_t *out)
{
    const gguf_kv *kv = gguf_find_kv(f, key);
    if (!kv || !is_integer(kv->type))
        return 0;
    if (!is_signed(kv->type) && kv->v.u > (uint64_t)INT64_MAX)
        return 0;
    *out = is_signed(kv->type) ? kv->v.i : (int64_t)kv->v.u;
    return 1;
}

int gguf_get_float(const gguf_file *f, const char *key, double *out)
{
    const gguf_kv *kv = gguf_find_kv(f, key);
    if (!kv)
        return 0;
    if (kv->type == GGUF_FLOAT32 || kv->type == GGUF_FLOAT64)
        *out = kv->v.f;
    else if (is_signed(kv->type))
        *out = (double)kv->v.i;
    else if (is_integer(kv->type))
        *out = (double)kv->v.u;
    else
        return 0;
    return 1;
}

int gguf_get_bool(const gguf_file *f, const char *key, int *out)
{
    const gguf_kv *kv = gguf_find_kv(f, key);
    if (!kv || kv->type != GGUF_BOOL)
        return 0;
    *out = kv->v.u != 0;
    return 1;
}

int gguf_get_str(const gguf_file *f, const char *key, gguf_str *out)
{
    const gguf_kv *kv = gguf_find_kv(f, key);
    if (!kv || kv->type != GGUF_STRING)
        return 0;
    *out = kv->v.s;
    return 1;
}

int gguf_get_cstr(const gguf_file *f, const char *key, char *buf, size_t bufsz)
{
    gguf_str s;
    if (!bufsz || !gguf_get_str(f, key, &s))
        return 0;
    size_t n = s.len < bufsz - 1 ? (size_t)s.len : bufsz - 1;
    memcpy(buf, s.ptr, n);
    buf[n] = 0;
    return 1;
}

int gguf_get_arr(const gguf_file *f, const char *key, gguf_arr *out)
{
    const gguf_kv *kv = gguf_find_kv(f, key);
    if (!kv || kv->type != GGUF_ARRAY)
        return 0;
    *out = kv->v.a;
    return 1;
}

static int missing(const gguf_file *f, const char *key, const char *want, cape_err *e)
{
    const gguf_kv *kv = gguf_find_kv(f, key);
    if (!kv)
        return err_set(e, CAPE_EINPUT, "%s: missing metadata key '%s'", f->path, key);
    return err_set(e, CAPE_EINPUT, "%s: metadata key '%s' is %s, expected %s", f->path, key,
                   gguf_type_name(kv->type), want);
}

int gguf_need_int(const gguf_file *f, const char *key, int64_t *out, cape_err *e)
{
    return gguf_get_int(f, key, out) ? 0 : missing(f, key, "an integer", e);
}

int gguf_need_float(const gguf_file *f, const char *key, double *out, cape_err *e)
{
    return gguf_get_float(f, key, out) ? 0 : missing(f, key, "a number", e);
}

int gguf_need_str(const gguf_file *f, const char *key, gguf_str *out, cape_err *e)
{
    return gguf_get_str(f, key, out) ? 0 : missing(f, key, "a string", e);
}

int gguf_need_arr(const gguf_file *f, const char *key, gguf_type elem, gguf_arr *out,
                  cape_err *e)
{
    if (!gguf_get_arr(f, key, out))
        return missing(f, key, "an array", e);
    int ok = out->type == elem || (is_integer(elem) && is_integer(out->type)) ||
             ((elem == GGUF_FLOAT32 || elem == GGUF_FLOAT64) &&
              (out->type == GGUF_FLOAT32 || out->type == GGUF_FLOAT64));
    if (!ok)
        return err_set(e, CAPE_EINPUT, "%s: metadata key '%s' is an array of %s, expected %s",
                       f->path, key, gguf_type_name(out->type), gguf_type_name(elem));
    return 0;
}

int64_t gguf_arr_int(const gguf_arr *a, uint64_t i)
{
    if (i >= a->n || !is_integer(a->type))
        return 0;
    return scalar_int(a->type, a->data + i * (uint64_t)TYPE_INFO[a->type].size);
}

double gguf_arr_float(const gguf_arr *a, uint64_t i)
{
    if (i >= a->n || a->type == GGUF_STRING)
        return 0;
    return scalar_float(a->type, a->data + i * (uint64_t)TYPE_INFO[a->type].size);
}

/* ---- writer ---- */

typedef struct {
    char *key;
    gguf_type type;
    uint8_t *val; /* the value exactly as it is written after the type tag */
    size_t len;
} wkv;

typedef struct {
    char *name;
    tensor_type type;
    uint32_t n_dims;
    int64_t ne[GGUF_MAX_DIMS];
    const void *data;
    uint64_t nbytes;
} wtensor;

struct gguf_writer {
    uint32_t version, alignment;
    wkv *kv;
    size_t n_kv, cap_kv;
    wtensor *t;
    size_t n_t, cap_t;
    int failed; /* a set/add call could not be honoured */
    char why[256];
};

gguf_writer *gguf_writer_new(void)
{
    gguf_writer *w = calloc(1, sizeof *w);
    if (w) {
        w->version = 3;
        w->alignment = GGUF_DEFAULT_ALIGNMENT;
    }
    return w;
}

void gguf_writer_free(gguf_writer *w)
{
    if (!w)
        return;
    for (size_t i = 0; i < w->n_kv; i++) {
        free(w->kv[i].key);
        free(w->kv[i].val);
    }
    for (size_t i = 0; i < w->n_t; i++)
        free(w->t[i].name);
    free(w->kv);
    free(w->t);
    free(w);
}

void gguf_writer_set_version(gguf_writer *w, uint32_t version)
{
    w->version = version == 2 ? 2 : 3;
}

static int fail(gguf_writer *w, const char *why)
{
    if (!w->failed)
        snprintf(w->why, sizeof w->why, "%s", why);
    w->failed = 1;
    return -1;
}

/* Takes ownership of val. */
static int put_kv(gguf_writer *w, const char *key, gguf_type type, uint8_t *val, size_t len)
{
    if (!val && len)
        return fail(w, "out of memory");
    for (size_t i = 0; i < w->n_kv; i++) {
        if (strcmp(w->kv[i].key, key) == 0) {
            free(w->kv[i].val);
            w->kv[i].type = type;
            w->kv[i].val = val;
            w->kv[i].len = len;
            return 0;
        }
    }
    if (w->n_kv == w->cap_kv) {
        size_t cap = w->cap_kv ? 2 * w->cap_kv : 16;
        wkv *nk = realloc(w->kv, cap * sizeof *nk);
        if (!nk) {
            free(val);
            return fail(w, "out of memory");
        }
        w->kv = nk;
        w->cap_kv = cap;
    }
    char *k = strdup(key);
    if (!k) {
        free(val);
        return fail(w, "out of memory");
    }
    w->kv[w->n_kv++] = (wkv){k, type, val, len};
    return 0;
}

static uint64_t load_host(const uint8_t *p, int size)
{
    uint8_t u8;
    uint16_t u16;
    uint32_t u32;
    uint64_t u64;
    switch (size) {
    case 1: memcpy(&u8, p, 1); return u8;
    case 2: memcpy(&u16, p, 2); return u16;
    case 4: memcpy(&u32, p, 4); return u32;
    default: memcpy(&u64, p, 8); return u64;
    }
}

static void store_le(uint8_t *p, uint64_t v, int size)
{
    for (int i = 0; i < size; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static int put_scalar(gguf_writer *w, const char *key, gguf_type t, uint64_t bits)
{
    int sz = TYPE_INFO[t].size;
    uint8_t *v = malloc((size_t)sz);
    if (v)
        store_le(v, bits, sz);
    return put_kv(w, key, t, v, (size_t)sz);
}

int gguf_writer_set_u8(gguf_writer *w, const char *k, uint8_t v) { return put_scalar(w, k, GGUF_UINT8, v); }
int gguf_writer_set_i8(gguf_writer *w, const char *k, int8_t v) { return put_scalar(w, k, GGUF_INT8, (uint8_t)v); }
int gguf_writer_set_u16(gguf_writer *w, const char *k, uint16_t v) { return put_scalar(w, k, GGUF_UINT16, v); }
int gguf_writer_set_i16(gguf_writer *w, const char *k, int16_t v) { return put_scalar(w, k, GGUF_INT16, (uint16_t)v); }
int gguf_writer_set_u32(gguf_writer *w, const char *k, uint32_t v) { return put_scalar(w, k, GGUF_UINT32, v); }
int gguf_writer_set_i32(gguf_writer *w, const char *k, int32_t v) { return put_scalar(w, k, GGUF_INT32, (uint32_t)v); }
int gguf_writer_set_u64(gguf_writer *w, const char *k, uint64_t v) { return put_scalar(w, k, GGUF_UINT64, v); }
int gguf_writer_set_i64(gguf_writer *w, const char *k, int64_t v) { return put_scalar(w, k, GGUF_INT64, (uint64_t)v); }
int gguf_writer_set_bool(gguf_writer *w, const char *k, int v) { return put_scalar(w, k, GGUF_BOOL, v != 0); }

int gguf_writer_set_f32(gguf_writer *w, const char *k, float v)
{
    uint32_t b;
    memcpy(&b, &v, 4);
    return put_scalar(w, k, GGUF_FLOAT32, b);
}

int gguf_writer_set_f64(gguf_writer *w, const char *k, double v)
{
    uint64_t b;
    memcpy(&b, &v, 8);
    return put_scalar(w, k, GGUF_FLOAT64, b);
}

int gguf_writer_set_alignment(gguf_writer *w, uint32_t alignment)
{
    if (!alignment || (alignment & (alignment - 1)))
        return fail(w, "alignment must be a power of two");
    w->alignment = alignment;
    return alignment == GGUF_DEFAULT_ALIGNMENT ? gguf_writer_remove(w, "general.alignment")
                                               : gguf_writer_set_u32(w, "general.alignment",
                                                                     alignment);
}

int gguf_writer_set_strn(gguf_writer *w, const char *key, const char *s, size_t len)
{
    uint8_t *v = malloc(8 + len);
    if (v) {
        store_le(v, len, 8);
        memcpy(v + 8, s, len);
    }
    return put_kv(w, key, GGUF_STRING, v, 8 + len);
}

int gguf_writer_set_str(gguf_writer *w, const char *key, const char *s)
{
    return gguf_writer_set_strn(w, key, s, strlen(s));
}

int gguf_writer_set_arr(gguf_writer *w, const char *key, gguf_type type, const void *data,
                        uint64_t n)
{
    if ((unsigned)type >= GGUF_NTYPES || type == GGUF_STRING || type == GGUF_ARRAY)
        return fail(w, "gguf_writer_set_arr: element type must be a scalar");
    size_t sz = (size_t)TYPE_INFO[type].size;
    if (n > (SIZE_MAX - 12) / sz)
        return fail(w, "array too large");
    uint8_t *v = malloc(12 + n * sz);
    if (v) {
        store_le(v, type, 4);
        store_le(v + 4, n, 8);
        const uint8_t *src = data;
        for (uint64_t i = 0; i < n; i++) /* host order to little-endian */
            store_le(v + 12 + i * sz, load_host(src + i * sz, (int)sz), (int)sz);
    }
    return put_kv(w, key, GGUF_ARRAY, v, 12 + n * sz);
}

int gguf_writer_set_arr_str(gguf_writer *w, const char *key, const char *const *strs, uint64_t n)
{
    size_t len = 12;
    for (uint64_t i = 0; i < n; i++)
        len += 8 + strlen(strs[i]);
    uint8_t *v = malloc(len);
    if (v) {
        store_le(v, GGUF_STRING, 4);
        store_le(v + 4, n, 8);
        size_t off = 12;
        for (uint64_t i = 0; i < n; i++) {
            size_t l = strlen(strs[i]);
            store_le(v + off, l, 8);
            memcpy(v + off + 8, strs[i], l);
            off += 8 + l;
        }
    }
    return put_kv(w, key, GGUF_ARRAY, v, len);
}

int gguf_writer_copy_kv(gguf_writer *w, const gguf_kv *kv)
{
    gguf_type t = kv->type;
    if (t == GGUF_STRING)
        return gguf_writer_set_strn(w, kv->key, kv->v.s.ptr, kv->v.s.len);
    if (t == GGUF_FLOAT32)
        return gguf_writer_set_f32(w, kv->key, (float)kv->v.f);
    if (t == GGUF_FLOAT64)
        return gguf_writer_set_f64(w, kv->key, kv->v.f);
    if (t != GGUF_ARRAY) {
        if (strcmp(kv->key, "general.alignment") == 0 && is_integer(t) && kv->v.u &&
            !(kv->v.u & (kv->v.u - 1)) && kv->v.u <= (1u << 30))
            w->alignment = (uint32_t)kv->v.u;
        return put_scalar(w, kv->key, t, kv->v.u);
    }
    const gguf_arr *a = &kv->v.a;
    if (a->type != GGUF_STRING) { /* the file bytes are already little-endian */
        size_t sz = (size_t)TYPE_INFO[a->type].size * a->n;
        uint8_t *v = malloc(12 + sz);
        if (v) {
            store_le(v, a->type, 4);
            store_le(v + 4, a->n, 8);
            memcpy(v + 12, a->data, sz);
        }
        return put_kv(w, kv->key, GGUF_ARRAY, v, 12 + sz);
    }
    size_t len = 12;
    for (uint64_t i = 0; i < a->n; i++)
        len += 8 + a->strs[i].len;
    uint8_t *v = malloc(len);
    if (v) {
        store_le(v, GGUF_STRING, 4);
        store_le(v + 4, a->n, 8);
        size_t off = 12;
        for (uint64_t i = 0; i < a->n; i++) {
            store_le(v + off, a->strs[i].len, 8);
            memcpy(v + off + 8, a->strs[i].ptr, a->strs[i].len);
            off += 8 + a->strs[i].len;
        }
    }
    return put_kv(w, kv->key, GGUF_ARRAY, v, len);
}

int gguf_writer_remove(gguf_writer *w, const char *key)
{
    for (size_t i = 0; i < w->n_kv; i++) {
        if (strcmp(w->kv[i].key, key) == 0) {
            free(w->kv[i].key);
            free(w->kv[i].val);
            memmove(&w->kv[i], &w->kv[i + 1], (w->n_kv - i - 1) * sizeof *w->kv);
            w->n_kv--;
            return 0;
        }
    }
    return 0;
}

int gguf_writer_add_tensor(gguf_writer *w, const char *name, tensor_type type, uint32_t n_dims,
                           const int64_t *ne, const void *data)
{
    if (n_dims == 0 || n_dims > GGUF_MAX_DIMS)
        return fail(w, "tensor must have 1 to 4 dimensions");
    for (size_t i = 0; i < w->n_t; i++)
        if (strcmp(w->t[i].name, name) == 0)
            return fail(w, "duplicate tensor name");
    wtensor t = {.type = type, .n_dims = n_dims, .data = data};
    for (int d = 0; d < GGUF_MAX_DIMS; d++)
        t.ne[d] = d < (int)n_dims ? ne[d] : 1;
    int64_t row = tensor_row_bytes(type, t.ne[0]);
    if (row < 0)
        return fail(w, "tensor row is not a whole number of blocks of its type");
    uint64_t bytes = (uint64_t)row;
    for (int d = 1; d < GGUF_MAX_DIMS; d++) {
        if (t.ne[d] < 0 || (t.ne[d] && bytes > (uint64_t)INT64_MAX / (uint64_t)t.ne[d]))
            return fail(w, "tensor dimensions overflow");
        bytes *= (uint64_t)t.ne[d];
    }
    t.nbytes = bytes;
    if (w->n_t == w->cap_t) {
        size_t cap = w->cap_t ? 2 * w->cap_t : 64;
        wtensor *nt = realloc(w->t, cap * sizeof *nt);
        if (!nt)
            return fail(w, "out of memory");
        w->t = nt;
        w->cap_t = cap;
    }
    if (!(t.name = strdup(name)))
        return fail(w, "out of memory");
    w->t[w->n_t++] = t;
    return 0;
}

/* Output goes either to a FILE or to a growing buffer. */
typedef struct {
    FILE *fp;
    uint8_t *buf;
    size_t len, cap;
    int bad;
} sink;

static void emit(sink *s, const void *p, size_t n)
{
    if (s->bad || !n)
        return;
    if (s->fp) {
        s->bad = fwrite(p, 1, n, s->fp) != n;
        return;
    }
    if (s->len + n > s->cap) {
        size_t cap = s->cap ? s->cap : 4096;
        while (cap < s->len + n)
            cap *= 2;
        uint8_t *nb = realloc(s->buf, cap);
        if (!nb) {
            s->bad = 1;
            return;
        }
        s->buf = nb;
        s->cap = cap;
    }
    memcpy(s->buf + s->len, p, n);
    s->len += n;
}

static void emit_le(sink *s, uint64_t v, int size)
{
    uint8_t b[8];
    store_le(b, v, size);
    emit(s, b, (size_t)size);
}

static void emit_pad(sink *s, uint64_t *pos, uint64_t align)
{
    static const uint8_t zeros[64];
    uint64_t pad = (align - *pos % align) % align;
    *pos += pad;
    while (pad) {
        size_t n = pad < sizeof zeros ? (size_t)pad : sizeof zeros;
        emit(s, zeros, n);
        pad -= n;
    }
}

static void emit_all(gguf_writer *w, sink *s)
{
    uint64_t pos = 0;
    emit(s, GGUF_MAGIC, 4);
    emit_le(s, w->version, 4);
    emit_le(s, w->n_t, 8);
    emit_le(s, w->n_kv, 8);
    pos = 24;
    for (size_t i = 0; i < w->n_kv; i++) {
        size_t kl = strlen(w->kv[i].key);
        emit_le(s, kl, 8);
        emit(s, w->kv[i].key, kl);
        emit_le(s, w->kv[i].type, 4);
        emit(s, w->kv[i].val, w->kv[i].len);
        pos += 8 + kl + 4 + w->kv[i].len;
    }
    uint64_t off = 0;
    for (size_t i = 0; i < w->n_t; i++) {
        const wtensor *t = &w->t[i];
        size_t nl = strlen(t->name);
        emit_le(s, nl, 8);
        emit(s, t->name, nl);
        emit_le(s, t->n_dims, 4);
        for (uint32_t d = 0; d < t->n_dims; d++)
            emit_le(s, (uint64_t)t->ne[d], 8);
        emit_le(s, t->type, 4);
        emit_le(s, off, 8);
        pos += 8 + nl + 4 + 8 * t->n_dims + 4 + 8;
        off += (t->nbytes + w->alignment - 1) / w->alignment * w->alignment;
    }
    if (w->n_t)
        emit_pad(s, &pos, w->alignment);
    for (size_t i = 0; i < w->n_t; i++) {
        emit(s, w->t[i].data, w->t[i].nbytes);
        pos += w->t[i].nbytes;
        emit_pad(s, &pos, w->alignment);
    }
}

int gguf_writer_write(gguf_writer *w, const char *path, cape_err *e)
{
    if (w->failed)
        return err_set(e, CAPE_EINPUT, "%s: cannot write GGUF: %s", path, w->why);
    file_atomic fa;
    if (file_atomic_open(&fa, path, e))
        return e->code;
    sink s = {.fp = fa.fp};
    emit_all(w, &s);
    if (s.bad) {
        file_atomic_abort(&fa);
        return err_set(e, CAPE_EFAIL, "%s: write failed", path);
    }
    return file_atomic_commit(&fa, e);
}

int gguf_writer_to_buffer(gguf_writer *w, uint8_t **out, size_t *len, cape_err *e)
{
    if (w->failed)
        return err_set(e, CAPE_EINPUT, "cannot write GGUF: %s", w->why);
    sink s = {0};
    emit_all(w, &s);
    if (s.bad) {
        free(s.buf);
        return err_set(e, CAPE_EFAIL, "out of memory writing GGUF");
    }
    *out = s.buf;
    *len = s.len;
    return 0;
}

int gguf_path_is_gguf(const char *path)
{
    char magic[4] = {0};
    FILE *fp = fopen(path, "rb");
    int yes = fp && fread(magic, 1, 4, fp) == 4 && memcmp(magic, "GGUF", 4) == 0;
    if (fp)
        fclose(fp);
    return yes;
}
