#include "steer/apply.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "steer/capture.h"
#include "steer/direction.h"

int steer_plan_make(const steer_cfg *c, const model_config *mc, steer_plan *p, cape_err *e)
{
    memset(p, 0, sizeof *p);
    const cvec *cv = c->cv;
    if (cv->n_embd != mc->dim)
        return err_set(e, CAPE_EINPUT, "control vector width %d does not match the model's %d",
                       cv->n_embd, mc->dim);
    int lo = c->layer_lo, hi = c->layer_hi;
    if (lo < 0)
        lo = 0;
    if (hi < 0)
        hi = mc->n_layers - 1;
    if (lo > hi || hi >= mc->n_layers)
        return err_set(e, CAPE_EINPUT, "layers %d-%d are out of range: the model has blocks 0..%d",
                       c->layer_lo, c->layer_hi, mc->n_layers - 1);
    p->vec = calloc((size_t)mc->n_layers * mc->dim, sizeof *p->vec);
    p->on = calloc((size_t)mc->n_layers, 1);
    if (!p->vec || !p->on) {
        steer_plan_free(p);
        return err_set(e, CAPE_EFAIL, "out of memory");
    }
    if (c->relative && !cv->resid_norm) {
        steer_plan_free(p);
        return err_set(e, CAPE_EINPUT,
                       "a relative scale needs the residual norms that cape steer build stores; "
                       "this vector has none (give an absolute scale)");
    }
    p->first_layer = -1;
    for (int l = lo; l <= hi && l < cv->n_slots; l++) {
        if (!cv->present[l])
            continue;
        float k = c->relative ? cv->resid_norm[l] : 1.0f;
        for (int j = 0; j < mc->dim; j++)
            p->vec[(size_t)l * mc->dim + j] = k * cv->v[(size_t)l * mc->dim + j];
        p->on[l] = 1;
        if (p->first_layer < 0)
            p->first_layer = l;
    }
    if (p->first_layer < 0) {
        steer_plan_free(p);
        return err_set(e, CAPE_EINPUT, "the control vector has no direction for blocks %d-%d", lo,
                       hi);
    }
    return 0;
}

void steer_plan_free(steer_plan *p)
{
    free(p->vec);
    free(p->on);
    memset(p, 0, sizeof *p);
}

void steer_plan_hook(const steer_plan *p, const steer_cfg *c, const model_config *mc,
                     int n_prompt, float strength, steer_hook *h)
{
    memset(h, 0, sizeof *h);
    h->n_layers = mc->n_layers;
    h->dim = mc->dim;
    h->head_width = mc->n_heads * mc->head_dim;
    h->capture_pos = -1;
    h->vec = p->vec;
    h->on = p->on;
    h->scale = c->scale * strength;
    h->add_from_pos = c->last_only ? n_prompt - 1 : 0;
}

int steer_gate(model_session *s, const model *m, const steer_cfg *c, const steer_plan *p,
               const int *ids, int n, double *cosine, float *strength, cape_err *e)
{
    *cosine = NAN;
    *strength = 1.0f;
    if (!c->gate)
        return 0;
    const model_config *mc = model_cfg(m);
    int gl = c->gate_layer >= 0 ? c->gate_layer : p->first_layer;
    if (gl >= mc->n_layers || gl >= c->cv->n_slots || !c->cv->present[gl])
        return err_set(e, CAPE_EINPUT, "the gate reads block %d, which the vector does not cover",
                       gl);
    float *resid = malloc((size_t)mc->n_layers * mc->dim * sizeof *resid);
    if (!resid)
        return err_set(e, CAPE_EFAIL, "out of memory");
    steer_hook h = {.n_layers = mc->n_layers, .dim = mc->dim, .capture_pos = n - 1,
                    .resid = resid};
    model_session_set_hook(s, steer_hook_fn, &h);
    model_session_rewind(s, 0);
    int rc = model_eval(s, ids, n, MODEL_LOGITS_NONE, e);
    model_session_set_hook(s, NULL, NULL);
    if (!rc) {
        *cosine = dir_cosine(resid + (size_t)gl * mc->dim, c->cv->v + (size_t)gl * mc->dim,
                             mc->dim);
        *strength = (float)dir_gate_strength(*cosine);
    }
    free(resid);
    return rc;
}

int steer_attach(model_session *s, const model *m, const steer_cfg *c, const int *ids, int n,
                 steer_plan *p, steer_hook *h, double *gate_cosine, cape_err *e)
{
    const model_config *mc = model_cfg(m);
    float strength = 1.0f;
    double cosv = NAN;
    int rc;
    if ((rc = steer_plan_make(c, mc, p, e)) ||
        (rc = steer_gate(s, m, c, p, ids, n, &cosv, &strength, e)))
        return rc;
    steer_plan_hook(p, c, mc, n, strength, h);
    model_session_set_hook(s, steer_hook_fn, h);
    if (gate_cosine)
        *gate_cosine = cosv;
    return 0;
}

typedef struct {
    char *buf;
    size_t len, cap;
} strbuf;

static void sb_add(strbuf *b, const char *s, int n)
{
    if (b->len + (size_t)n + 1 > b->cap) {
        size_t nc = (b->cap ? b->cap * 2 : 256) + (size_t)n;
        char *nb = realloc(b->buf, nc);
        if (!nb)
            return;
        b->buf = nb;
        b->cap = nc;
    }
    memcpy(b->buf + b->len, s, (size_t)n);
    b->len += (size_t)n;
    b->buf[b->len] = 0;
}

int steer_generate(model_session *s, const model *m, const char *prompt, const steer_cfg *c,
                   const sample_opts *so, int n_predict, int ignore_eos, steer_token_fn fn,
                   void *user, char **text, double *gate_cosine, cape_err *e)
{
    const model_config *mc = model_cfg(m);
    const tok *t = model_tok(m);
    int *ids = NULL, n = 0, rc;
    if ((rc = capture_tokenize(m, prompt, -1, &ids, &n, e)))
        return rc;
    if (n + n_predict > model_session_n_ctx(s)) {
        free(ids);
        return err_set(e, CAPE_EINPUT, "%d prompt tokens + %d to generate exceed the context of %d",
                       n, n_predict, model_session_n_ctx(s));
    }
    steer_plan plan = {0};
    steer_hook h;
    if (c && (rc = steer_attach(s, m, c, ids, n, &plan, &h, gate_cosine, e)))
        goto done;
    sampler sm;
    if (sample_init(&sm, so)) {
        rc = err_set(e, CAPE_EFAIL, "out of memory");
        goto done;
    }
    strbuf out = {0};
    sb_add(&out, "", 0);
    model_session_rewind(s, 0);
    rc = model_eval(s, ids, n, MODEL_LOGITS_LAST, e);
    char piece[256];
    for (int k = 0; k < n_predict && !rc; k++) {
        int next = sample_next(&sm, model_logits(s, 0), mc->n_vocab);
        if (next < 0) {
            rc = err_set(e, CAPE_EFAIL, "out of memory");
            break;
        }
        if (!ignore_eos && next == tok_eos(t))
            break;
        int len = tok_piece(t, next, 0, piece, sizeof piece);
        if (len > (int)sizeof piece)
            len = (int)sizeof piece;
        sb_add(&out, piece, len);
        if (fn)
            fn(user, piece, len);
        if (k + 1 < n_predict)
            rc = model_eval(s, &next, 1, MODEL_LOGITS_LAST, e);
    }
    sample_free(&sm);
    if (text)
        *text = out.buf;
    else
        free(out.buf);
done:
    model_session_set_hook(s, NULL, NULL);
    steer_plan_free(&plan);
    free(ids);
    return rc;
}
