#include "unlearn/sink_model.h"

#include "model/gguf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int sink_model_write(const sink_model *s, ckpt_file *f)
{
    if (!s->enabled)
        return 0;
    const sink_layout *l = &s->layout;
    int rc = ckpt_set_f32(f, "cape.sink.p_gen", l->p_gen) |
             ckpt_set_u32(f, "cape.sink.k", (uint32_t)l->k) |
             ckpt_set_u64(f, "cape.sink.seed", l->seed) |
             ckpt_set_u32(f, "cape.sink.n_backbone", (uint32_t)l->n_backbone) |
             ckpt_set_strs(f, "cape.sink.sources", (const char *const *)s->sources.names,
                           (size_t)s->sources.n);
    if (l->retrofit)
        rc |= ckpt_set_u32(f, "cape.sink.retrofit", 1);
    const char **off = malloc(sizeof(char *) * (s->n_off ? s->n_off : 1));
    if (!off)
        return -1;
    for (int i = 0; i < s->n_off; i++)
        off[i] = s->sources.names[s->off[i] - 1];
    rc |= ckpt_set_strs(f, "cape.sink.off", off, (size_t)s->n_off);
    free(off);
    if (s->has_router)
        rc |= ckpt_set_u32(f, "cape.route.dim", SINK_ROUTE_DIM) |
              ckpt_set_f32s(f, "cape.route.idf", s->router.idf, SINK_ROUTE_DIM) |
              ckpt_set_f32s(f, "cape.route.centroids", s->router.centroids,
                            (size_t)s->router.n_sources * SINK_ROUTE_DIM);
    return rc ? -1 : 0;
}

int sink_model_read(sink_model *s, const ckpt_file *f, int hidden, const char *what, cape_err *e)
{
    memset(s, 0, sizeof *s);
    float p_gen;
    uint64_t k, seed;
    if (ckpt_get_f32(f, "cape.sink.p_gen", &p_gen))
        return 0;
    if (ckpt_get_u64(f, "cape.sink.k", &k) || ckpt_get_u64(f, "cape.sink.seed", &seed) ||
        k > (uint64_t)hidden)
        return err_set(e, CAPE_EINPUT, "%s: cape.sink.k or cape.sink.seed is missing or invalid",
                       what);
    if (sink_layout_init(&s->layout, hidden, p_gen, (int)k, seed, e))
        return CAPE_EINPUT;
    uint64_t v;
    if (!ckpt_get_u64(f, "cape.sink.n_backbone", &v) && v != (uint64_t)s->layout.n_backbone)
        return err_set(e, CAPE_EINPUT, "%s: cape.sink.n_backbone %llu disagrees with "
                       "cape.sink.p_gen %g of %d MLP units", what, (unsigned long long)v,
                       p_gen, hidden);
    s->layout.retrofit = !ckpt_get_u64(f, "cape.sink.retrofit", &v) && v;
    char **names = NULL, **off = NULL;
    size_t n = 0, noff = 0;
    if (ckpt_get_strs(f, "cape.sink.sources", &names, &n) || n > (1u << 30))
        return err_set(e, CAPE_EINPUT, "%s: cape.sink.sources is missing", what);
    s->sources.names = names;
    s->sources.n = s->sources.cap = (int)n;
    s->enabled = 1;
    if (!ckpt_get_strs(f, "cape.sink.off", &off, &noff)) {
        int rc = 0;
        for (size_t i = 0; i < noff && !rc; i++)
            rc = sink_model_switch_off(s, off[i], e);
        ckpt_free_strs(off, noff);
        if (rc) {
            sink_model_free(s);
            return rc;
        }
    }
    float *idf = NULL, *cent = NULL;
    size_t nidf = 0, ncent = 0;
    if (!ckpt_get_f32s(f, "cape.route.idf", &idf, &nidf) &&
        !ckpt_get_f32s(f, "cape.route.centroids", &cent, &ncent)) {
        if (nidf != SINK_ROUTE_DIM || ncent != n * SINK_ROUTE_DIM) {
            free(idf);
            free(cent);
            sink_model_free(s);
            return err_set(e, CAPE_EINPUT, "%s: cape.route.* arrays have the wrong size", what);
        }
        memcpy(s->router.idf, idf, sizeof s->router.idf);
        s->router.centroids = cent;
        s->router.n_sources = (int)n;
        s->has_router = 1;
    }
    free(idf);
    return 0;
}

void sink_model_free(sink_model *s)
{
    sink_sources_free(&s->sources);
    sink_router_free(&s->router);
    free(s->off);
    memset(s, 0, sizeof *s);
}

int sink_mode_parse(const char *s, sink_mode *out)
{
    static const char *names[] = {"source", "backbone", "all", "off"};
    for (int i = 0; i < 4; i++)
        if (strcmp(s, names[i]) == 0) {
            *out = (sink_mode)i;
            return 0;
        }
    return -1;
}

const char *sink_mode_name(sink_mode m)
{
    static const char *names[] = {"source", "backbone", "all", "off", "own"};
    return names[m];
}

int sink_model_is_off(const sink_model *s, uint32_t id)
{
    for (int i = 0; i < s->n_off; i++)
        if (s->off[i] == id)
            return 1;
    return 0;
}

const char *sink_sources_list(const sink_sources *s, int max, char *buf, size_t n)
{
    size_t len = 0;
    buf[0] = 0;
    for (int i = 0; i < s->n && i < max && len < n; i++)
        len += (size_t)snprintf(buf + len, n - len, "%s%s", i ? ", " : "", s->names[i]);
    if (s->n > max && len < n)
        snprintf(buf + len, n - len, ", ... (%d in all)", s->n);
    return buf;
}

int sink_unknown_source(const sink_model *s, const char *name, cape_err *e)
{
    char list[384];
    return err_set(e, CAPE_EINPUT, "unknown source '%s'; the model's %d sources are %s", name,
                   s->sources.n, sink_sources_list(&s->sources, 8, list, sizeof list));
}

int sink_model_read_gguf(sink_model *s, const ckpt_file *f, const char *what, cape_err *e)
{
    char arch[64], key[96];
    uint64_t hidden;
    memset(s, 0, sizeof *s);
    if (ckpt_get_str(f, "general.architecture", arch, sizeof arch))
        return err_set(e, CAPE_EINPUT, "%s: general.architecture is missing", what);
    snprintf(key, sizeof key, "%s.feed_forward_length", arch);
    if (ckpt_get_u64(f, key, &hidden) || hidden < 1 || hidden > (1u << 24))
        return err_set(e, CAPE_EINPUT, "%s: %s is missing or invalid", what, key);
    return sink_model_read(s, f, (int)hidden, what, e);
}

int sink_model_read_file(sink_model *s, const char *path, int hidden, cape_err *e)
{
    memset(s, 0, sizeof *s);
    if (!gguf_path_is_gguf(path)) /* only GGUF files carry sink metadata */
        return 0;
    ckpt_file f = {0};
    int rc = ckpt_read_meta(&f, path, e);
    if (rc == 0)
        rc = sink_model_read(s, &f, hidden, path, e);
    ckpt_free(&f);
    return rc;
}

int sink_model_file_has_sinks(const char *path)
{
    if (!gguf_path_is_gguf(path))
        return 0;
    ckpt_file f = {0};
    cape_err e = {0};
    sink_model s;
    int has = 0;
    if (ckpt_read_meta(&f, path, &e) == 0) {
        if (sink_model_read_gguf(&s, &f, path, &e) == 0)
            has = s.enabled;
        sink_model_free(&s);
    }
    ckpt_free(&f);
    return has;
}

int sink_model_require_cape(const ckpt_file *f, const char *what, cape_err *e)
{
    uint64_t step;
    if (ckpt_get_u64(f, "cape.train.step", &step))
        return err_set(e, CAPE_EINPUT, "%s: not a model written by cape train (it has no "
                       "cape.train.* metadata); cape forget works on models trained with cape "
                       "train", what);
    return 0;
}

int sink_model_switch_off(sink_model *s, const char *name, cape_err *e)
{
    uint32_t id = sink_sources_id(&s->sources, name, 0);
    if (!id)
        return sink_unknown_source(s, name, e);
    if (sink_model_is_off(s, id))
        return 0;
    uint32_t *no = realloc(s->off, sizeof *no * (s->n_off + 1));
    if (!no)
        return err_set(e, CAPE_EFAIL, "out of memory");
    s->off = no;
    s->off[s->n_off++] = id;
    return 0;
}

uint32_t sink_model_mask(const sink_model *s, sink_mode mode, uint32_t id, const char *text,
                         float *mask)
{
    const sink_layout *l = &s->layout;
    switch (mode) {
    case SINK_MODE_BACKBONE:
        sink_mask_backbone(l, mask);
        return 0;
    case SINK_MODE_OWN:
        if (!id) {
            sink_mask_backbone(l, mask);
            return 0;
        }
        sink_mask_source_excluding(l, id, s->off, s->n_off, mask);
        return sink_model_is_off(s, id) ? 0 : id;
    case SINK_MODE_ALL:
        sink_mask_all(l, s->off, s->n_off, mask);
        return 0;
    case SINK_MODE_SOURCE:
        if (id && !sink_model_is_off(s, id)) {
            sink_mask_source_excluding(l, id, s->off, s->n_off, mask);
            return id;
        }
        /* a switched-off source is routed */
        __attribute__((fallthrough));
    case SINK_MODE_OFF:
    default: {
        uint32_t to = s->has_router ? sink_route(&s->router, text ? text : "", s->off, s->n_off,
                                                 NULL)
                                    : 0;
        sink_mask_source_excluding(l, to, s->off, s->n_off, mask);
        return to;
    }
    }
}

int sink_model_check_resume(const ckpt_file *f, const sink_layout *want, const char *path,
                            cape_err *e)
{
    sink_model had = {0};
    int rc = sink_model_read_gguf(&had, f, path, e);
    if (rc)
        return rc;
    const sink_layout *h = &had.layout;
    if (!want && had.enabled)
        rc = err_set(e, CAPE_EINPUT, "%s: the checkpoint has sinks (k %d, seed %llu); resume "
                     "with --sinks", path, h->k, (unsigned long long)h->seed);
    else if (!want)
        rc = 0;
    else if (!had.enabled)
        rc = err_set(e, CAPE_EINPUT, "%s: the checkpoint has no sinks; resume without --sinks",
                     path);
    else if (h->n_backbone != want->n_backbone || h->pool != want->pool || h->k != want->k ||
             h->seed != want->seed)
        rc = err_set(e, CAPE_EINPUT, "%s: the checkpoint's sinks are %d backbone + %d pool "
                     "units, k %d, seed %llu, not the layout the flags give (%d + %d, k %d, "
                     "seed %llu): resume with --sink-k %d --sink-seed %llu", path, h->n_backbone,
                     h->pool, h->k, (unsigned long long)h->seed, want->n_backbone, want->pool,
                     want->k, (unsigned long long)want->seed, h->k, (unsigned long long)h->seed);
    sink_model_free(&had);
    return rc;
}
