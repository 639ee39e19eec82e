#include "model/safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/file.h"
#include "base/json.h"

typedef struct {
    void *map;
    size_t len;
} st_map;

struct st_set {
    st_tensor *t;
    int n, cap;
    st_map *maps;
    int n_maps;
};

static const struct {
    const char *name;
    tensor_type type;
} DTYPES[] = {
    {"F32", TENSOR_F32}, {"F16", TENSOR_F16}, {"BF16", TENSOR_BF16}, {"F64", TENSOR_F64},
    {"I8", TENSOR_I8},   {"I16", TENSOR_I16}, {"I32", TENSOR_I32},   {"I64", TENSOR_I64},
};

const st_tensor *st_find(const st_set *s, const char *name);

static int add_tensor(st_set *s, st_tensor *t)
{
    if (s->n == s->cap) {
        int cap = s->cap ? 2 * s->cap : 64;
        st_tensor *n = realloc(s->t, (size_t)cap * sizeof *n);
        if (!n)
            return -1;
        s->t = n;
        s->cap = cap;
    }
    s->t[s->n++] = *t;
    return 0;
}

/* Parses one file's header and adds its tensors. */
static int parse_file(st_set *s, const uint8_t *base, size_t len, const char *name, cape_err *e)
{
    if (len < 8)
        return err_set(e, CAPE_EINPUT, "%s: too short for a safetensors file", name);
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--)
        hl = (hl << 8) | base[i];
    if (hl > len - 8 || hl > (100u << 20))
        return err_set(e, CAPE_EINPUT, "%s: header length %llu runs past the end of the file",
                       name, (unsigned long long)hl);
    json_error_t je;
    json_t *root = json_loadb((const char *)base + 8, hl, JSON_REJECT_DUPLICATES, &je);
    if (!root || !json_is_object(root)) {
        json_decref(root);
        if (!root) {
            cape_err je2 = {0};
            json_err_set(&je2, "header", 0, &je);
            return err_set(e, CAPE_EINPUT, "%s: the JSON header is malformed: %s", name,
                           je2.msg + strlen("header: "));
        }
        return err_set(e, CAPE_EINPUT, "%s: header is not a JSON object", name);
    }
    const uint8_t *data = base + 8 + hl;
    uint64_t dlen = len - 8 - hl;
    const char *key;
    json_t *v;
    int rc = 0;
    json_object_foreach(root, key, v) {
        if (strcmp(key, "__metadata__") == 0)
            continue;
        const char *dt = json_string_value(json_object_get(v, "dtype"));
        json_t *shape = json_object_get(v, "shape"), *offs = json_object_get(v, "data_offsets");
        if (!dt || !json_is_array(shape) || !json_is_array(offs) || json_array_size(offs) != 2) {
            rc = err_set(e, CAPE_EINPUT, "%s: tensor '%s': needs dtype, shape and data_offsets",
                         name, key);
            break;
        }
        st_tensor t = {0};
        int found = 0;
        for (size_t i = 0; i < sizeof DTYPES / sizeof *DTYPES; i++)
            if (strcmp(dt, DTYPES[i].name) == 0) {
                t.type = DTYPES[i].type;
                found = 1;
            }
        if (!found) {
            rc = err_set(e, CAPE_EINPUT, "%s: tensor '%s': unsupported dtype '%s'", name, key, dt);
            break;
        }
        size_t nd = json_array_size(shape);
        if (nd > ST_MAX_DIMS) {
            rc = err_set(e, CAPE_EINPUT, "%s: tensor '%s': %zu dimensions", name, key, nd);
            break;
        }
        uint64_t count = 1;
        int bad = 0;
        for (size_t d = 0; d < nd; d++) {
            json_t *x = json_array_get(shape, d);
            json_int_t k = json_is_integer(x) ? json_integer_value(x) : -1;
            if (k < 0 || (k && count > UINT64_MAX / 16 / (uint64_t)k)) {
                bad = 1;
                break;
            }
            t.shape[d] = k;
            count *= (uint64_t)k;
        }
        json_t *o0 = json_array_get(offs, 0), *o1 = json_array_get(offs, 1);
        json_int_t b = json_is_integer(o0) ? json_integer_value(o0) : -1;
        json_int_t en = json_is_integer(o1) ? json_integer_value(o1) : -1;
        uint64_t want = count * (uint64_t)tensor_type_get(t.type)->bytes;
        if (bad || b < 0 || en < b || (uint64_t)en > dlen || (uint64_t)(en - b) != want) {
            rc = err_set(e, CAPE_EINPUT, "%s: tensor '%s': shape, dtype and data_offsets disagree "
                         "or run past the end of the file", name, key);
            break;
        }
        if (st_find(s, key)) {
            rc = err_set(e, CAPE_EINPUT, "%s: tensor '%s' appears twice", name, key);
            break;
        }
        t.n_dims = (int)nd;
        t.data = data + b;
        t.nbytes = want;
        t.name = strdup(key);
        if (!t.name || add_tensor(s, &t)) {
            free(t.name);
            rc = err_set(e, CAPE_EFAIL, "out of memory");
            break;
        }
    }
    json_decref(root);
    return rc;
}

void st_close(st_set *s)
{
    if (!s)
        return;
    for (int i = 0; i < s->n; i++)
        free(s->t[i].name);
    for (int i = 0; i < s->n_maps; i++)
        munmap(s->maps[i].map, s->maps[i].len);
    free(s->maps);
    free(s->t);
    free(s);
}

st_set *st_open_buffer(const void *data, size_t len, const char *name, cape_err *e)
{
    st_set *s = calloc(1, sizeof *s);
    if (!s) {
        err_set(e, CAPE_EFAIL, "out of memory");
        return NULL;
    }
    if (parse_file(s, data, len, name, e)) {
        st_close(s);
        return NULL;
    }
    return s;
}

static int map_add(st_set *s, const char *path, cape_err *e)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return err_set(e, CAPE_EINPUT, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) || !S_ISREG(st.st_mode) || st.st_size < 8) {
        close(fd);
        return err_set(e, CAPE_EINPUT, "%s: not a safetensors file", path);
    }
    void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (p == MAP_FAILED)
        return err_set(e, CAPE_EINPUT, "%s: cannot map: %s", path, strerror(errno));
    st_map *nm = realloc(s->maps, (size_t)(s->n_maps + 1) * sizeof *nm);
    if (!nm) {
        munmap(p, (size_t)st.st_size);
        return err_set(e, CAPE_EFAIL, "out of memory");
    }
    s->maps = nm;
    s->maps[s->n_maps++] = (st_map){p, (size_t)st.st_size};
    return parse_file(s, p, (size_t)st.st_size, path, e);
}

static int open_index(st_set *s, const char *index, cape_err *e)
{
    json_error_t je;
    json_t *root = json_load_file(index, 0, &je);
    json_t *wm = root ? json_object_get(root, "weight_map") : NULL;
    if (!json_is_object(wm)) {
        json_decref(root);
        if (!root)
            return json_err_set(e, index, 0, &je);
        return err_set(e, CAPE_EINPUT, "%s: no \"weight_map\" object", index);
    }
    const char *slash = strrchr(index, '/');
    int dl = slash ? (int)(slash - index + 1) : 0;
    /* each distinct shard once */
    const char **seen = calloc(json_object_size(wm) + 1, sizeof *seen);
    int n_seen = 0, rc = 0;
    const char *key;
    json_t *v;
    json_object_foreach(wm, key, v) {
        const char *f = json_string_value(v);
        if (!f || strchr(f, '/')) {
            rc = err_set(e, CAPE_EINPUT, "%s: weight_map entry '%s' is not a file name", index, key);
            break;
        }
        int dup = 0;
        for (int i = 0; i < n_seen; i++)
            dup |= strcmp(seen[i], f) == 0;
        if (dup)
            continue;
        seen[n_seen++] = f;
        char p[4096];
        snprintf(p, sizeof p, "%.*s%s", dl, index, f);
        if ((rc = map_add(s, p, e)))
            break;
    }
    free(seen);
    json_decref(root);
    return rc;
}

st_set *st_open(const char *path, cape_err *e)
{
    st_set *s = calloc(1, sizeof *s);
    if (!s) {
        err_set(e, CAPE_EFAIL, "out of memory");
        return NULL;
    }
    struct stat st;
    char p[4096];
    int rc;
    size_t n = strlen(path);
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        snprintf(p, sizeof p, "%s/model.safetensors.index.json", path);
        if (access(p, R_OK) == 0) {
            rc = open_index(s, p, e);
        } else {
            snprintf(p, sizeof p, "%s/model.safetensors", path);
            rc = map_add(s, p, e);
        }
    } else if (n > 5 && strcmp(path + n - 5, ".json") == 0) {
        rc = open_index(s, path, e);
    } else {
        rc = map_add(s, path, e);
    }
    if (rc) {
        st_close(s);
        return NULL;
    }
    return s;
}

int st_n_tensors(const st_set *s) { return s->n; }

const st_tensor *st_tensor_at(const st_set *s, int i)
{
    return i >= 0 && i < s->n ? &s->t[i] : NULL;
}

const st_tensor *st_find(const st_set *s, const char *name)
{
    for (int i = 0; i < s->n; i++)
        if (strcmp(s->t[i].name, name) == 0)
            return &s->t[i];
    return NULL;
}
