#include "train/train_adamw.h"

#include <math.h>
#include <stdlib.h>

int adamw_init(adamw_state *s, size_t n, cape_err *e)
{
    s->n = n;
    s->t = 0;
    s->m = calloc(n, sizeof(float));
    s->v = calloc(n, sizeof(float));
    if (!s->m || !s->v) {
        adamw_free(s);
        return err_set(e, CAPE_EINPUT, "optimizer state for %zu parameters does not fit in memory",
                       n);
    }
    return 0;
}

void adamw_free(adamw_state *s)
{
    free(s->m);
    free(s->v);
    s->m = s->v = NULL;
}

static void update_range(adamw_state *s, float *p, const float *g, size_t off, size_t n, float lr,
                         float wd, const adamw_hparams *h, float step_size, float bc2_sqrt)
{
    float *m = s->m + off, *v = s->v + off;
    float b1 = h->beta1, b2 = h->beta2;
    for (size_t i = 0; i < n; i++) {
        if (wd != 0.0f)
            p[i] *= 1.0f - lr * wd;
        m[i] += (g[i] - m[i]) * (1.0f - b1);
        v[i] = v[i] * b2 + (1.0f - b2) * g[i] * g[i];
        float denom = sqrtf(v[i]) / bc2_sqrt + h->eps;
        p[i] -= step_size * (m[i] / denom);
    }
}

void adamw_step(adamw_state *s, train_model *m, float lr, const adamw_hparams *h)
{
    s->t++;
    double bc1 = 1.0 - pow(h->beta1, (double)s->t);
    double bc2 = 1.0 - pow(h->beta2, (double)s->t);
    float step_size = (float)(lr / bc1), bc2_sqrt = (float)sqrt(bc2);
    for (int i = 0; i < m->n_tensors; i++) {
        const train_tensor *t = &m->tensors[i];
        update_range(s, m->params + t->offset, m->grads + t->offset, t->offset, t->size, lr,
                     t->decay ? h->weight_decay : 0.0f, h, step_size, bc2_sqrt);
    }
}

double train_grad_norm(const train_model *m)
{
    double ss = 0.0;
    for (size_t i = 0; i < m->n_params; i++)
        ss += (double)m->grads[i] * m->grads[i];
    return sqrt(ss);
}

double train_clip_grads(train_model *m, double max_norm)
{
    double norm = train_grad_norm(m);
    if (max_norm <= 0.0)
        return norm;
    float coef = (float)(max_norm / (norm + 1e-6));
    if (coef < 1.0f)
        for (size_t i = 0; i < m->n_params; i++)
            m->grads[i] *= coef;
    return norm;
}

float train_lr_at(long step, long warmup, long total, float lr, float lr_min)
{
    if (step < warmup)
        return lr * (float)(step + 1) / (float)warmup;
    long span = total - warmup;
    double progress = span > 1 ? (double)(step - warmup) / (double)(span - 1) : 1.0;
    if (progress > 1.0)
        progress = 1.0;
    return (float)(lr_min + 0.5 * (lr - lr_min) * (1.0 + cos(M_PI * progress)));
}
