#include "steer/cvec.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/gguf.h"

int cvec_init(cvec *cv, int n_slots, int n_embd, cape_err *e)
{
    memset(cv, 0, sizeof *cv);
    if (n_slots < 1 || n_embd < 1)
        return err_set(e, CAPE_EINPUT, "control vector needs a positive width and layer count");
    cv->v = calloc((size_t)n_slots * n_embd, sizeof *cv->v);
    cv->present = calloc((size_t)n_slots, 1);
    if (!cv->v || !cv->present) {
        cvec_free(cv);
        return err_set(e, CAPE_EFAIL, "out of memory");
    }
    cv->n_slots = n_slots;
    cv->n_embd = n_embd;
    cv->chosen = -1;
    return 0;
}

/* "direction.N" with N a decimal integer >= 1 and nothing after it. */
static int parse_slot(const char *name)
{
    const char *p = name + strlen("direction.");
    if (strncmp(name, "direction.", 10) != 0 || *p < '1' || *p > '9')
        return -1;
    long n = 0;
    for (; *p; p++) {
        if (*p < '0' || *p > '9' || n > 100000)
            return -1;
        n = n * 10 + (*p - '0');
    }
    return (int)n;
}

int cvec_load(const char *path, int expect_n_embd, cvec *cv, cape_err *e)
{
    memset(cv, 0, sizeof *cv);
    gguf_file *f = gguf_open(path, e);
    if (!f)
        return e->code;
    int rc = 0, n_embd = -1, max_slot = 0;
    int64_t nt = gguf_n_tensors(f);
    if (nt == 0)
        rc = err_set(e, CAPE_EINPUT, "%s: no direction tensors", path);
    for (int64_t i = 0; i < nt && !rc; i++) {
        const gguf_tensor *t = gguf_tensor_at(f, i);
        int slot = parse_slot(t->name);
        if (slot < 1)
            rc = err_set(e, CAPE_EINPUT,
                         "%s: tensor '%s': expected names direction.N with N >= 1", path, t->name);
        else if (t->type != TENSOR_F32 || t->n_dims != 1)
            rc = err_set(e, CAPE_EINPUT, "%s: tensor '%s': expected a 1-D F32 vector", path,
                         t->name);
        else if (n_embd >= 0 && t->ne[0] != n_embd)
            rc = err_set(e, CAPE_EINPUT, "%s: tensor '%s' has %lld values, the others %d", path,
                         t->name, (long long)t->ne[0], n_embd);
        else if (expect_n_embd > 0 && t->ne[0] != expect_n_embd)
            rc = err_set(e, CAPE_EINPUT,
                         "%s: tensor '%s' has width %lld but the model's width is %d", path,
                         t->name, (long long)t->ne[0], expect_n_embd);
        n_embd = (int)t->ne[0];
        if (slot > max_slot)
            max_slot = slot;
    }
    if (!rc)
        rc = cvec_init(cv, max_slot + 1, n_embd, e);
    for (int64_t i = 0; i < nt && !rc; i++) {
        const gguf_tensor *t = gguf_tensor_at(f, i);
        int slot = parse_slot(t->name);
        if (cv->present[slot]) {
            rc = err_set(e, CAPE_EINPUT, "%s: tensor '%s' appears twice", path, t->name);
            break;
        }
        float *dst = cv->v + (size_t)slot * n_embd;
        memcpy(dst, t->data, (size_t)n_embd * sizeof(float));
        for (int j = 0; j < n_embd && !rc; j++)
            if (!isfinite(dst[j]))
                rc = err_set(e, CAPE_EINPUT, "%s: tensor '%s' has a non-finite value (%g) at "
                             "element %d", path, t->name, (double)dst[j], j);
        cv->present[slot] = 1;
    }
    if (!rc)
        gguf_get_cstr(f, "controlvector.model_hint", cv->model_hint, sizeof cv->model_hint);
    int64_t chosen;
    if (!rc && gguf_get_int(f, "cape.chosen_block", &chosen) && chosen >= 0 &&
        chosen < cv->n_slots)
        cv->chosen = (int)chosen;
    gguf_arr norms;
    if (!rc && gguf_get_arr(f, "cape.residual_norm", &norms)) {
        if (norms.type != GGUF_FLOAT32 || norms.n > 100000)
            rc = err_set(e, CAPE_EINPUT, "%s: cape.residual_norm must be an array of float32",
                         path);
        else if (!(cv->resid_norm = calloc((size_t)cv->n_slots, sizeof *cv->resid_norm)))
            rc = err_set(e, CAPE_EFAIL, "out of memory");
        for (uint64_t i = 0; !rc && i < norms.n && i < (uint64_t)cv->n_slots; i++)
            cv->resid_norm[i] = (float)gguf_arr_float(&norms, i);
    }
    gguf_close(f);
    if (rc)
        cvec_free(cv);
    return rc;
}

int cvec_add(cvec *dst, const cvec *src, float scale, cape_err *e)
{
    if (dst->n_embd != src->n_embd)
        return err_set(e, CAPE_EINPUT, "control vectors of widths %d and %d cannot be added",
                       dst->n_embd, src->n_embd);
    if (src->n_slots > dst->n_slots) {
        float *v = realloc(dst->v, (size_t)src->n_slots * dst->n_embd * sizeof *v);
        unsigned char *p = realloc(dst->present, (size_t)src->n_slots);
        if (!v || !p) {
            if (v)
                dst->v = v;
            if (p)
                dst->present = p;
            return err_set(e, CAPE_EFAIL, "out of memory");
        }
        memset(v + (size_t)dst->n_slots * dst->n_embd, 0,
               (size_t)(src->n_slots - dst->n_slots) * dst->n_embd * sizeof *v);
        memset(p + dst->n_slots, 0, (size_t)(src->n_slots - dst->n_slots));
        dst->v = v;
        dst->present = p;
        dst->n_slots = src->n_slots;
    }
    for (int s = 0; s < src->n_slots; s++) {
        if (!src->present[s])
            continue;
        dst->present[s] = 1;
        for (int j = 0; j < src->n_embd; j++)
            dst->v[(size_t)s * dst->n_embd + j] += scale * src->v[(size_t)s * src->n_embd + j];
    }
    return 0;
}

int cvec_set_norms(cvec *cv, const double *norms, int n, cape_err *e)
{
    free(cv->resid_norm);
    cv->resid_norm = calloc((size_t)cv->n_slots, sizeof *cv->resid_norm);
    if (!cv->resid_norm)
        return err_set(e, CAPE_EFAIL, "out of memory");
    for (int i = 0; i < n && i < cv->n_slots; i++)
        cv->resid_norm[i] = (float)norms[i];
    return 0;
}

int cvec_save(const cvec *cv, const char *path, const char *model_hint, cape_err *e)
{
    if (cv->n_slots > 0 && cv->present[0]) {
        for (int j = 0; j < cv->n_embd; j++)
            if (cv->v[j] != 0)
                return err_set(e, CAPE_EINPUT,
                               "%s: a direction after block 0 cannot be stored in a llama.cpp "
                               "control vector (its slots start at 1)",
                               path);
    }
    gguf_writer *w = gguf_writer_new();
    if (!w)
        return err_set(e, CAPE_EFAIL, "out of memory");
    int count = 0;
    for (int s = 1; s < cv->n_slots; s++)
        count += cv->present[s];
    if (count == 0) {
        gguf_writer_free(w);
        return err_set(e, CAPE_EINPUT, "%s: no direction to write", path);
    }
    gguf_writer_set_str(w, "general.architecture", "controlvector");
    gguf_writer_set_str(w, "controlvector.model_hint", model_hint ? model_hint : "");
    gguf_writer_set_i32(w, "controlvector.layer_count", count);
    if (cv->chosen >= 0)
        gguf_writer_set_i32(w, "cape.chosen_block", cv->chosen);
    if (cv->resid_norm)
        gguf_writer_set_arr(w, "cape.residual_norm", GGUF_FLOAT32, cv->resid_norm,
                            (uint64_t)cv->n_slots);
    char name[32];
    int64_t ne[1] = {cv->n_embd};
    for (int s = 1; s < cv->n_slots; s++) {
        if (!cv->present[s])
            continue;
        snprintf(name, sizeof name, "direction.%d", s);
        gguf_writer_add_tensor(w, name, TENSOR_F32, 1, ne, cv->v + (size_t)s * cv->n_embd);
    }
    int rc = gguf_writer_write(w, path, e);
    gguf_writer_free(w);
    return rc;
}

void cvec_free(cvec *cv)
{
    free(cv->resid_norm);
    free(cv->v);
    free(cv->present);
    memset(cv, 0, sizeof *cv);
}
