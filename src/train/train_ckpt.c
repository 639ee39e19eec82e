#include "train/train_ckpt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/file.h"

enum { ALIGN = 32 };

static const size_t SCALAR_SIZE[] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};

void ckpt_free(ckpt_file *f)
{
    for (int i = 0; i < f->n_kv; i++) {
        free(f->kv[i].key);
        free(f->kv[i].val);
    }
    for (int i = 0; i < f->n_t; i++) {
        free(f->t[i].name);
        free(f->t[i].owned);
    }
    free(f->kv);
    free(f->t);
    memset(f, 0, sizeof *f);
}

/* ---- building --------------------------------------------------------- */

static int set_raw(ckpt_file *f, const char *key, uint32_t type, uint8_t *val, size_t len)
{
    if (!val)
        return -1;
    for (int i = 0; i < f->n_kv; i++)
        if (strcmp(f->kv[i].key, key) == 0) {
            free(f->kv[i].val);
            f->kv[i].type = type;
            f->kv[i].val = val;
            f->kv[i].len = len;
            return 0;
        }
    if (f->n_kv == f->cap_kv) {
        int cap = f->cap_kv ? 2 * f->cap_kv : 32;
        ckpt_kv *nk = realloc(f->kv, sizeof *nk * cap);
        if (!nk) {
            free(val);
            return -1;
        }
        f->kv = nk;
        f->cap_kv = cap;
    }
    char *k = strdup(key);
    if (!k) {
        free(val);
        return -1;
    }
    f->kv[f->n_kv++] = (ckpt_kv){k, type, val, len};
    return 0;
}

static uint8_t *dup_bytes(const void *p, size_t n)
{
    uint8_t *b = malloc(n ? n : 1);
    if (b && n)
        memcpy(b, p, n);
    return b;
}

int ckpt_set_str(ckpt_file *f, const char *key, const char *v)
{
    uint64_t n = strlen(v);
    uint8_t *b = malloc(8 + n);
    if (!b)
        return -1;
    memcpy(b, &n, 8);
    memcpy(b + 8, v, n);
    return set_raw(f, key, GGUF_T_STRING, b, 8 + n);
}

int ckpt_set_u32(ckpt_file *f, const char *key, uint32_t v)
{
    return set_raw(f, key, GGUF_T_UINT32, dup_bytes(&v, 4), 4);
}

int ckpt_set_u64(ckpt_file *f, const char *key, uint64_t v)
{
    return set_raw(f, key, GGUF_T_UINT64, dup_bytes(&v, 8), 8);
}

int ckpt_set_f32(ckpt_file *f, const char *key, float v)
{
    return set_raw(f, key, GGUF_T_FLOAT32, dup_bytes(&v, 4), 4);
}

static int set_array(ckpt_file *f, const char *key, uint32_t type, const void *v, size_t n,
                     size_t elem)
{
    uint64_t cnt = n;
    uint8_t *b = malloc(12 + n * elem);
    if (!b)
        return -1;
    memcpy(b, &type, 4);
    memcpy(b + 4, &cnt, 8);
    if (n)
        memcpy(b + 12, v, n * elem);
    return set_raw(f, key, GGUF_T_ARRAY, b, 12 + n * elem);
}

int ckpt_set_f32s(ckpt_file *f, const char *key, const float *v, size_t n)
{
    return set_array(f, key, GGUF_T_FLOAT32, v, n, 4);
}

int ckpt_set_i32s(ckpt_file *f, const char *key, const int32_t *v, size_t n)
{
    return set_array(f, key, GGUF_T_INT32, v, n, 4);
}

int ckpt_set_strs(ckpt_file *f, const char *key, const char *const *v, size_t n)
{
    size_t len = 12;
    for (size_t i = 0; i < n; i++)
        len += 8 + strlen(v[i]);
    uint8_t *b = malloc(len), *p = b + 12;
    if (!b)
        return -1;
    uint32_t type = GGUF_T_STRING;
    uint64_t cnt = n;
    memcpy(b, &type, 4);
    memcpy(b + 4, &cnt, 8);
    for (size_t i = 0; i < n; i++) {
        uint64_t sl = strlen(v[i]);
        memcpy(p, &sl, 8);
        memcpy(p + 8, v[i], sl);
        p += 8 + sl;
    }
    return set_raw(f, key, GGUF_T_ARRAY, b, len);
}

int ckpt_remove(ckpt_file *f, const char *key)
{
    for (int i = 0; i < f->n_kv; i++)
        if (strcmp(f->kv[i].key, key) == 0) {
            free(f->kv[i].key);
            free(f->kv[i].val);
            memmove(&f->kv[i], &f->kv[i + 1], sizeof *f->kv * (f->n_kv - i - 1));
            f->n_kv--;
            return 0;
        }
    return -1;
}

int ckpt_add_tensor(ckpt_file *f, const char *name, uint64_t rows, uint64_t cols,
                    const float *data)
{
    if (f->n_t == f->cap_t) {
        int cap = f->cap_t ? 2 * f->cap_t : 64;
        ckpt_tensor *nt = realloc(f->t, sizeof *nt * cap);
        if (!nt)
            return -1;
        f->t = nt;
        f->cap_t = cap;
    }
    ckpt_tensor *t = &f->t[f->n_t];
    memset(t, 0, sizeof *t);
    t->name = strdup(name);
    if (!t->name)
        return -1;
    if (cols) {
        t->ndim = 2;
        t->ne[0] = cols;
        t->ne[1] = rows;
    } else {
        t->ndim = 1;
        t->ne[0] = rows;
    }
    t->data = data;
    f->n_t++;
    return 0;
}

static uint64_t tensor_elems(const ckpt_tensor *t)
{
    uint64_t n = 1;
    for (int d = 0; d < t->ndim; d++)
        n *= t->ne[d];
    return n;
}

/* ---- writing ---------------------------------------------------------- */

static int put(FILE *fp, const void *p, size_t n)
{
    return fwrite(p, 1, n, fp) == n ? 0 : -1;
}

static int put_str(FILE *fp, const char *s)
{
    uint64_t n = strlen(s);
    return put(fp, &n, 8) | put(fp, s, n);
}

static int pad(FILE *fp, uint64_t *pos)
{
    static const uint8_t zero[ALIGN];
    uint64_t p = (ALIGN - *pos % ALIGN) % ALIGN;
    *pos += p;
    return put(fp, zero, p);
}

int ckpt_write(const ckpt_file *f, const char *path, cape_err *e)
{
    file_atomic a;
    if (file_atomic_open(&a, path, e))
        return e->code;
    FILE *fp = a.fp;
    uint32_t version = 3;
    uint64_t nt = f->n_t, nkv = f->n_kv, pos = 0;
    int rc = put(fp, "GGUF", 4) | put(fp, &version, 4) | put(fp, &nt, 8) | put(fp, &nkv, 8);
    pos = 24;
    for (int i = 0; i < f->n_kv && !rc; i++) {
        rc |= put_str(fp, f->kv[i].key) | put(fp, &f->kv[i].type, 4) |
              put(fp, f->kv[i].val, f->kv[i].len);
        pos += 8 + strlen(f->kv[i].key) + 4 + f->kv[i].len;
    }
    uint64_t off = 0;
    for (int i = 0; i < f->n_t && !rc; i++) {
        const ckpt_tensor *t = &f->t[i];
        uint32_t nd = (uint32_t)t->ndim, type = 0;
        rc |= put_str(fp, t->name) | put(fp, &nd, 4) | put(fp, t->ne, 8 * nd) | put(fp, &type, 4) |
              put(fp, &off, 8);
        pos += 8 + strlen(t->name) + 4 + 8 * nd + 4 + 8;
        off += (tensor_elems(t) * 4 + ALIGN - 1) / ALIGN * ALIGN;
    }
    rc |= pad(fp, &pos);
    for (int i = 0; i < f->n_t && !rc; i++) {
        uint64_t bytes = tensor_elems(&f->t[i]) * 4;
        rc |= put(fp, f->t[i].data, bytes);
        pos += bytes;
        rc |= pad(fp, &pos);
    }
    if (rc) {
        file_atomic_abort(&a);
        return err_set(e, CAPE_EFAIL, "%s: write failed", path);
    }
    return file_atomic_commit(&a, e);
}

/* ---- reading ---------------------------------------------------------- */

typedef struct {
    const uint8_t *p;
    size_t len, pos;
    const char *what;
    cape_err *e;
} cursor;

static int need(cursor *c, size_t n, const char *field)
{
    if (n > c->len - c->pos)
        return err_set(c->e, CAPE_EINPUT, "%s: truncated at byte %zu (%s)", c->what, c->pos,
                       field);
    return 0;
}

static int get(cursor *c, void *out, size_t n, const char *field)
{
    if (need(c, n, field))
        return -1;
    memcpy(out, c->p + c->pos, n);
    c->pos += n;
    return 0;
}

/* Size of an encoded value of `type` starting at the cursor. */
static int value_size(cursor *c, uint32_t type, size_t *size, int depth)
{
    size_t start = c->pos;
    if (type < sizeof SCALAR_SIZE / sizeof *SCALAR_SIZE && SCALAR_SIZE[type]) {
        if (need(c, SCALAR_SIZE[type], "value"))
            return -1;
        c->pos += SCALAR_SIZE[type];
    } else if (type == GGUF_T_STRING) {
        uint64_t n;
        if (get(c, &n, 8, "string length") || need(c, n, "string"))
            return -1;
        c->pos += n;
    } else if (type == GGUF_T_ARRAY && depth == 0) {
        uint32_t et;
        uint64_t n;
        if (get(c, &et, 4, "array type") || get(c, &n, 8, "array length"))
            return -1;
        if (et == GGUF_T_ARRAY || et > GGUF_T_FLOAT64)
            return err_set(c->e, CAPE_EINPUT, "%s: array of unsupported type %u at byte %zu",
                           c->what, et, c->pos);
        if (et != GGUF_T_STRING) {
            if (n > (c->len - c->pos) / SCALAR_SIZE[et])
                return need(c, c->len - c->pos + 1, "array");
            c->pos += n * SCALAR_SIZE[et];
        } else {
            for (uint64_t i = 0; i < n; i++) {
                size_t s;
                if (value_size(c, GGUF_T_STRING, &s, 1))
                    return -1;
            }
        }
    } else {
        return err_set(c->e, CAPE_EINPUT, "%s: unknown value type %u at byte %zu", c->what, type,
                       c->pos);
    }
    *size = c->pos - start;
    return 0;
}

static char *get_str(cursor *c, const char *field)
{
    uint64_t n;
    if (get(c, &n, 8, field) || need(c, n, field))
        return NULL;
    char *s = malloc(n + 1);
    if (!s) {
        err_set(c->e, CAPE_EFAIL, "%s: out of memory", c->what);
        return NULL;
    }
    memcpy(s, c->p + c->pos, n);
    s[n] = 0;
    c->pos += n;
    return s;
}

int ckpt_parse(ckpt_file *f, const uint8_t *buf, size_t len, const char *what, cape_err *e)
{
    memset(f, 0, sizeof *f);
    cursor c = {buf, len, 0, what, e};
    char magic[4];
    uint32_t version;
    uint64_t nt, nkv;
    if (get(&c, magic, 4, "magic") || memcmp(magic, "GGUF", 4))
        return err_set(e, CAPE_EINPUT, "%s: not a GGUF file", what);
    if (get(&c, &version, 4, "version") || get(&c, &nt, 8, "tensor count") ||
        get(&c, &nkv, 8, "key count"))
        return CAPE_EINPUT;
    if (version != 3)
        return err_set(e, CAPE_EINPUT, "%s: GGUF version %u (cape reads version 3)", what,
                       version);
    if (nt > len / 24 || nkv > len / 12)
        return err_set(e, CAPE_EINPUT, "%s: header claims %llu tensors and %llu keys, more than "
                       "the file can hold", what, (unsigned long long)nt,
                       (unsigned long long)nkv);
    int rc = 0;
    uint32_t align = ALIGN;
    for (uint64_t i = 0; i < nkv && !rc; i++) {
        char *key = get_str(&c, "key");
        uint32_t type;
        size_t vs, at;
        if (!key)
            rc = CAPE_EINPUT;
        else if (get(&c, &type, 4, "value type") || (at = c.pos, value_size(&c, type, &vs, 0)))
            rc = CAPE_EINPUT;
        else if (set_raw(f, key, type, dup_bytes(buf + at, vs), vs))
            rc = err_set(e, CAPE_EFAIL, "%s: out of memory", what);
        else if (strcmp(key, "general.alignment") == 0 && type == GGUF_T_UINT32)
            memcpy(&align, buf + at, 4);
        free(key);
    }
    if (!rc && (align == 0 || (align & (align - 1))))
        rc = err_set(e, CAPE_EINPUT, "%s: general.alignment %u is not a power of two", what,
                     align);
    uint64_t *offs = rc ? NULL : malloc(sizeof(uint64_t) * (nt ? nt : 1));
    if (!rc && !offs)
        rc = err_set(e, CAPE_EFAIL, "%s: out of memory", what);
    for (uint64_t i = 0; i < nt && !rc; i++) {
        char *name = get_str(&c, "tensor name");
        uint32_t nd, type;
        if (!name) {
            rc = CAPE_EINPUT;
            break;
        }
        if (ckpt_add_tensor(f, name, 1, 0, NULL)) {
            free(name);
            rc = err_set(e, CAPE_EFAIL, "%s: out of memory", what);
            break;
        }
        ckpt_tensor *t = &f->t[f->n_t - 1];
        if (get(&c, &nd, 4, "tensor dims") || nd < 1 || nd > 4) {
            rc = rc ? rc : err_set(e, CAPE_EINPUT, "%s: tensor '%s' has %u dimensions", what, name, nd);
            free(name);
            break;
        }
        t->ndim = (int)nd;
        uint64_t elems = 1;
        for (uint32_t d = 0; d < nd && !rc; d++) {
            if (get(&c, &t->ne[d], 8, "tensor shape"))
                rc = CAPE_EINPUT;
            else if (t->ne[d] == 0 || t->ne[d] > ((uint64_t)1 << 40) || elems > ((uint64_t)1 << 40) / t->ne[d])
                rc = err_set(e, CAPE_EINPUT, "%s: tensor '%s' has an impossible shape", what, name);
            else
                elems *= t->ne[d];
        }
        if (!rc && (get(&c, &type, 4, "tensor type") || get(&c, &offs[i], 8, "tensor offset")))
            rc = CAPE_EINPUT;
        if (!rc && type != 0)
            rc = err_set(e, CAPE_EINPUT, "%s: tensor '%s' has type %u; cape reads only F32 "
                         "checkpoints", what, name, type);
        free(name);
    }
    size_t data = rc ? 0 : (c.pos + align - 1) / align * align;
    for (int i = 0; i < f->n_t && !rc; i++) {
        ckpt_tensor *t = &f->t[i];
        uint64_t bytes = tensor_elems(t) * 4;
        if (data > len || offs[i] > len - data || bytes > len - data - offs[i] || offs[i] % 4) {
            rc = err_set(e, CAPE_EINPUT, "%s: tensor '%s' lies outside the file", what, t->name);
            break;
        }
        t->owned = malloc(bytes);
        if (!t->owned) {
            rc = err_set(e, CAPE_EFAIL, "%s: out of memory", what);
            break;
        }
        memcpy(t->owned, buf + data + offs[i], bytes);
        t->data = t->owned;
    }
    free(offs);
    if (rc)
        ckpt_free(f);
    return rc;
}

int ckpt_read(ckpt_file *f, const char *path, cape_err *e)
{
    size_t len;
    memset(f, 0, sizeof *f);
    char *buf = file_read_all(path, &len, e);
    if (!buf)
        return e->code ? e->code : CAPE_EINPUT;
    int rc = ckpt_parse(f, (const uint8_t *)buf, len, path, e);
    free(buf);
    return rc;
}

/* ---- getters ---------------------------------------------------------- */

const ckpt_kv *ckpt_get(const ckpt_file *f, const char *key)
{
    for (int i = 0; i < f->n_kv; i++)
        if (strcmp(f->kv[i].key, key) == 0)
            return &f->kv[i];
    return NULL;
}

int ckpt_get_str(const ckpt_file *f, const char *key, char *out, size_t outsz)
{
    const ckpt_kv *kv = ckpt_get(f, key);
    if (!kv || kv->type != GGUF_T_STRING || outsz == 0)
        return -1;
    uint64_t n;
    memcpy(&n, kv->val, 8);
    if (n >= outsz)
        return -1;
    memcpy(out, kv->val + 8, n);
    out[n] = 0;
    return 0;
}

int ckpt_get_u64(const ckpt_file *f, const char *key, uint64_t *out)
{
    const ckpt_kv *kv = ckpt_get(f, key);
    if (!kv)
        return -1;
    switch (kv->type) {
    case GGUF_T_UINT8: *out = kv->val[0]; return 0;
    case GGUF_T_UINT16: { uint16_t v; memcpy(&v, kv->val, 2); *out = v; return 0; }
    case GGUF_T_UINT32: { uint32_t v; memcpy(&v, kv->val, 4); *out = v; return 0; }
    case GGUF_T_UINT64: memcpy(out, kv->val, 8); return 0;
    case GGUF_T_INT32: { int32_t v; memcpy(&v, kv->val, 4); if (v < 0) return -1; *out = (uint64_t)v; return 0; }
    case GGUF_T_INT64: { int64_t v; memcpy(&v, kv->val, 8); if (v < 0) return -1; *out = (uint64_t)v; return 0; }
    default: return -1;
    }
}

int ckpt_get_f32(const ckpt_file *f, const char *key, float *out)
{
    const ckpt_kv *kv = ckpt_get(f, key);
    if (!kv)
        return -1;
    if (kv->type == GGUF_T_FLOAT32) {
        memcpy(out, kv->val, 4);
        return 0;
    }
    if (kv->type == GGUF_T_FLOAT64) {
        double d;
        memcpy(&d, kv->val, 8);
        *out = (float)d;
        return 0;
    }
    return -1;
}

static const ckpt_kv *array_of(const ckpt_file *f, const char *key, uint32_t et, uint64_t *n)
{
    const ckpt_kv *kv = ckpt_get(f, key);
    uint32_t t;
    if (!kv || kv->type != GGUF_T_ARRAY)
        return NULL;
    memcpy(&t, kv->val, 4);
    memcpy(n, kv->val + 4, 8);
    return t == et ? kv : NULL;
}

int ckpt_get_f32s(const ckpt_file *f, const char *key, float **out, size_t *n)
{
    uint64_t cnt;
    const ckpt_kv *kv = array_of(f, key, GGUF_T_FLOAT32, &cnt);
    if (!kv || !(*out = malloc(4 * (cnt ? cnt : 1))))
        return -1;
    memcpy(*out, kv->val + 12, 4 * cnt);
    *n = cnt;
    return 0;
}

int ckpt_get_i32s(const ckpt_file *f, const char *key, int32_t **out, size_t *n)
{
    uint64_t cnt;
    const ckpt_kv *kv = array_of(f, key, GGUF_T_INT32, &cnt);
    if (!kv || !(*out = malloc(4 * (cnt ? cnt : 1))))
        return -1;
    memcpy(*out, kv->val + 12, 4 * cnt);
    *n = cnt;
    return 0;
}

int ckpt_get_strs(const ckpt_file *f, const char *key, char ***out, size_t *n)
{
    uint64_t cnt;
    const ckpt_kv *kv = array_of(f, key, GGUF_T_STRING, &cnt);
    if (!kv)
        return -1;
    char **v = calloc(cnt ? cnt : 1, sizeof *v);
    if (!v)
        return -1;
    const uint8_t *p = kv->val + 12;
    for (uint64_t i = 0; i < cnt; i++) {
        uint64_t sl;
        memcpy(&sl, p, 8);
        v[i] = malloc(sl + 1);
        if (!v[i]) {
            ckpt_free_strs(v, i);
            return -1;
        }
        memcpy(v[i], p + 8, sl);
        v[i][sl] = 0;
        p += 8 + sl;
    }
    *out = v;
    *n = cnt;
    return 0;
}

void ckpt_free_strs(char **v, size_t n)
{
    for (size_t i = 0; i < n && v; i++)
        free(v[i]);
    free(v);
}

const ckpt_tensor *ckpt_tensor_get(const ckpt_file *f, const char *name)
{
    for (int i = 0; i < f->n_t; i++)
        if (strcmp(f->t[i].name, name) == 0)
            return &f->t[i];
    return NULL;
}
