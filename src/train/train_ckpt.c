#include "train/train_ckpt.h"

#include <stdlib.h>
#include <string.h>

void ckpt_free(ckpt_file *f)
{
    gguf_writer_free(f->w);
    gguf_close(f->r);
    memset(f, 0, sizeof *f);
}

/* The writer, created on first use; for a file that was read it starts as a
 * copy of every key and tensor. */
static gguf_writer *writer(ckpt_file *f)
{
    if (f->w)
        return f->w;
    f->w = gguf_writer_new();
    if (!f->w)
        return NULL;
    if (f->r) {
        int rc = 0;
        for (int64_t i = 0; i < gguf_n_kv(f->r); i++)
            rc |= gguf_writer_copy_kv(f->w, gguf_kv_at(f->r, i));
        for (int64_t i = 0; i < gguf_n_tensors(f->r); i++) {
            const gguf_tensor *t = gguf_tensor_at(f->r, i);
            rc |= gguf_writer_add_tensor(f->w, t->name, t->type, t->n_dims, t->ne, t->data);
        }
        if (rc)
            f->failed = 1;
    }
    return f->w;
}

static int done(ckpt_file *f, int rc)
{
    if (rc)
        f->failed = 1;
    return rc ? -1 : 0;
}

int ckpt_set_str(ckpt_file *f, const char *key, const char *v)
{
    gguf_writer *w = writer(f);
    return done(f, !w || gguf_writer_set_str(w, key, v));
}

int ckpt_set_u32(ckpt_file *f, const char *key, uint32_t v)
{
    gguf_writer *w = writer(f);
    return done(f, !w || gguf_writer_set_u32(w, key, v));
}

int ckpt_set_u64(ckpt_file *f, const char *key, uint64_t v)
{
    gguf_writer *w = writer(f);
    return done(f, !w || gguf_writer_set_u64(w, key, v));
}

int ckpt_set_f32(ckpt_file *f, const char *key, float v)
{
    gguf_writer *w = writer(f);
    return done(f, !w || gguf_writer_set_f32(w, key, v));
}

int ckpt_set_strs(ckpt_file *f, const char *key, const char *const *v, size_t n)
{
    gguf_writer *w = writer(f);
    return done(f, !w || gguf_writer_set_arr_str(w, key, v, n));
}

int ckpt_set_f32s(ckpt_file *f, const char *key, const float *v, size_t n)
{
    gguf_writer *w = writer(f);
    return done(f, !w || gguf_writer_set_arr(w, key, GGUF_FLOAT32, v, n));
}

int ckpt_set_i32s(ckpt_file *f, const char *key, const int32_t *v, size_t n)
{
    gguf_writer *w = writer(f);
    return done(f, !w || gguf_writer_set_arr(w, key, GGUF_INT32, v, n));
}

int ckpt_copy_kv(ckpt_file *f, const gguf_kv *kv)
{
    gguf_writer *w = writer(f);
    return done(f, !w || gguf_writer_copy_kv(w, kv));
}

int ckpt_add_tensor(ckpt_file *f, const char *name, uint64_t rows, uint64_t cols,
                    const float *data)
{
    gguf_writer *w = writer(f);
    int64_t ne[2] = {(int64_t)(cols ? cols : rows), (int64_t)(cols ? rows : 1)};
    return done(f, !w || gguf_writer_add_tensor(w, name, TENSOR_F32, cols ? 2 : 1, ne, data));
}

int ckpt_write(ckpt_file *f, const char *path, cape_err *e)
{
    gguf_writer *w = writer(f);
    if (!w || f->failed)
        return err_set(e, CAPE_EFAIL, "%s: out of memory building the file", path);
    return gguf_writer_write(w, path, e);
}

static int check_f32(ckpt_file *f, cape_err *e)
{
    for (int64_t i = 0; i < gguf_n_tensors(f->r); i++) {
        const gguf_tensor *t = gguf_tensor_at(f->r, i);
        if (t->type != TENSOR_F32) {
            int rc = err_set(e, CAPE_EINPUT, "%s: tensor '%s' has type %s; cape reads only F32 "
                             "checkpoints", gguf_path(f->r), t->name, tensor_type_name(t->type));
            ckpt_free(f);
            return rc;
        }
    }
    return 0;
}

int ckpt_read(ckpt_file *f, const char *path, cape_err *e)
{
    memset(f, 0, sizeof *f);
    f->r = gguf_open(path, e);
    if (!f->r)
        return e->code ? e->code : CAPE_EINPUT;
    return check_f32(f, e);
}

int ckpt_read_meta(ckpt_file *f, const char *path, cape_err *e)
{
    memset(f, 0, sizeof *f);
    f->r = gguf_open(path, e);
    return f->r ? 0 : (e->code ? e->code : CAPE_EINPUT);
}

int ckpt_parse(ckpt_file *f, const uint8_t *buf, size_t len, const char *what, cape_err *e)
{
    memset(f, 0, sizeof *f);
    f->r = gguf_open_buffer(buf, len, what, e);
    if (!f->r)
        return e->code ? e->code : CAPE_EINPUT;
    return check_f32(f, e);
}

int ckpt_get_str(const ckpt_file *f, const char *key, char *out, size_t outsz)
{
    gguf_str s;
    if (!f->r || !gguf_get_str(f->r, key, &s) || s.len >= outsz)
        return -1;
    memcpy(out, s.ptr, s.len);
    out[s.len] = 0;
    return 0;
}

int ckpt_get_u64(const ckpt_file *f, const char *key, uint64_t *out)
{
    const gguf_kv *kv = f->r ? gguf_find_kv(f->r, key) : NULL;
    int64_t v;
    if (!kv || kv->type == GGUF_BOOL || !gguf_get_int(f->r, key, &v))
        return -1;
    if (kv->type == GGUF_UINT64) {
        *out = kv->v.u;
        return 0;
    }
    if (v < 0)
        return -1;
    *out = (uint64_t)v;
    return 0;
}

int ckpt_get_f32(const ckpt_file *f, const char *key, float *out)
{
    const gguf_kv *kv = f->r ? gguf_find_kv(f->r, key) : NULL;
    if (!kv || (kv->type != GGUF_FLOAT32 && kv->type != GGUF_FLOAT64))
        return -1;
    *out = (float)kv->v.f;
    return 0;
}

static int array_of(const ckpt_file *f, const char *key, gguf_type type, gguf_arr *a)
{
    return f->r && gguf_get_arr(f->r, key, a) && a->type == type ? 0 : -1;
}

int ckpt_get_f32s(const ckpt_file *f, const char *key, float **out, size_t *n)
{
    gguf_arr a;
    if (array_of(f, key, GGUF_FLOAT32, &a) || !(*out = malloc(4 * (a.n ? a.n : 1))))
        return -1;
    memcpy(*out, a.data, 4 * a.n);
    *n = a.n;
    return 0;
}

int ckpt_get_i32s(const ckpt_file *f, const char *key, int32_t **out, size_t *n)
{
    gguf_arr a;
    if (array_of(f, key, GGUF_INT32, &a) || !(*out = malloc(4 * (a.n ? a.n : 1))))
        return -1;
    memcpy(*out, a.data, 4 * a.n);
    *n = a.n;
    return 0;
}

int ckpt_get_strs(const ckpt_file *f, const char *key, char ***out, size_t *n)
{
    gguf_arr a;
    if (array_of(f, key, GGUF_STRING, &a))
        return -1;
    char **v = calloc(a.n ? a.n : 1, sizeof *v);
    if (!v)
        return -1;
    for (uint64_t i = 0; i < a.n; i++) {
        v[i] = malloc(a.strs[i].len + 1);
        if (!v[i]) {
            ckpt_free_strs(v, i);
            return -1;
        }
        memcpy(v[i], a.strs[i].ptr, a.strs[i].len);
        v[i][a.strs[i].len] = 0;
    }
    *out = v;
    *n = a.n;
    return 0;
}

void ckpt_free_strs(char **v, size_t n)
{
    for (size_t i = 0; i < n && v; i++)
        free(v[i]);
    free(v);
}

const ckpt_tensor *ckpt_tensor_get(ckpt_file *f, const char *name)
{
    const gguf_tensor *t = f->r ? gguf_find_tensor(f->r, name) : NULL;
    if (!t || t->type != TENSOR_F32)
        return NULL;
    f->view.ndim = (int)t->n_dims;
    for (int d = 0; d < 4; d++)
        f->view.ne[d] = (uint64_t)t->ne[d];
    f->view.data = t->data;
    return &f->view;
}
