#include "train/train_adamw.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/isa.h"
#include "train/train_pool.h"

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

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

/* The update on 8 lanes (AVX2): the scalar loop's operations in its order,
 * no fused multiply-add, and IEEE square root and division, so both give
 * the same bits and a run resumes identically on any path. Returns how many
 * leading elements it did (a multiple of 8). */
__attribute__((target("avx2"))) static size_t update_avx2(float *p, const float *g, float *m,
                                                           float *v, size_t n, float lr, float wd,
                                                           const adamw_hparams *h,
                                                           float step_size, float bc2_sqrt,
                                                           float gscale)
{
    const __m256 one_b1 = _mm256_set1_ps(1.0f - h->beta1), b2 = _mm256_set1_ps(h->beta2);
    const __m256 one_b2 = _mm256_set1_ps(1.0f - h->beta2), eps = _mm256_set1_ps(h->eps);
    const __m256 bc2 = _mm256_set1_ps(bc2_sqrt), st = _mm256_set1_ps(step_size);
    const __m256 decay = _mm256_set1_ps(1.0f - lr * wd), gs = _mm256_set1_ps(gscale);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 gi = _mm256_loadu_ps(g + i);
        if (gscale != 1.0f)
            gi = _mm256_mul_ps(gi, gs);
        __m256 pi = _mm256_loadu_ps(p + i), mi = _mm256_loadu_ps(m + i), vi = _mm256_loadu_ps(v + i);
        if (wd != 0.0f)
            pi = _mm256_mul_ps(pi, decay);
        mi = _mm256_add_ps(mi, _mm256_mul_ps(_mm256_sub_ps(gi, mi), one_b1));
        vi = _mm256_add_ps(_mm256_mul_ps(vi, b2), _mm256_mul_ps(_mm256_mul_ps(one_b2, gi), gi));
        __m256 denom = _mm256_add_ps(_mm256_div_ps(_mm256_sqrt_ps(vi), bc2), eps);
        pi = _mm256_sub_ps(pi, _mm256_mul_ps(st, _mm256_div_ps(mi, denom)));
        _mm256_storeu_ps(m + i, mi);
        _mm256_storeu_ps(v + i, vi);
        _mm256_storeu_ps(p + i, pi);
    }
    return i;
}
#endif

static void update_range(adamw_state *s, float *p, const float *g, size_t off, size_t n, float lr,
                         float wd, const adamw_hparams *h, float step_size, float bc2_sqrt,
                         float gscale)
{
    float *m = s->m + off, *v = s->v + off;
    float b1 = h->beta1, b2 = h->beta2;
    size_t done = 0;
#if defined(__x86_64__) && defined(__GNUC__)
    if (cape_isa_allows(CAPE_ISA_AVX2))
        done = update_avx2(p, g, m, v, n, lr, wd, h, step_size, bc2_sqrt, gscale);
#endif
    for (size_t i = done; i < n; i++) {
        float gi = gscale == 1.0f ? g[i] : g[i] * gscale;
        if (wd != 0.0f)
            p[i] *= 1.0f - lr * wd;
        m[i] += (gi - m[i]) * (1.0f - b1);
        v[i] = v[i] * b2 + (1.0f - b2) * gi * gi;
        float denom = sqrtf(v[i]) / bc2_sqrt + h->eps;
        p[i] -= step_size * (m[i] / denom);
    }
}

/* The flat parameter range [0, n) is cut into one contiguous piece per
 * thread; each piece is the same on every run. */
typedef struct {
    adamw_state *s;
    train_model *m;
    const adamw_hparams *h;
    float lr, step_size, bc2_sqrt, coef, gscale;
    size_t chunk;
    double partial[64];
} opt_job;

static void piece(const opt_job *j, int i, size_t *lo, size_t *hi)
{
    *lo = (size_t)i * j->chunk;
    *hi = *lo + j->chunk < j->m->n_params ? *lo + j->chunk : j->m->n_params;
    if (*lo > *hi)
        *lo = *hi;
}

/* The trainable block of a partly frozen tensor inside the flat range
 * [a, b): row by row, only columns from part_col0 of rows from part_row0
 * (frozen elements get neither the update nor the weight decay). */
static void partial_update(const opt_job *j, const train_tensor *t, size_t a, size_t b, float wd)
{
    size_t cols = t->ndim > 1 ? (size_t)t->shape[1] : 1;
    for (size_t r = (a - t->offset) / cols; r < (size_t)t->shape[0]; r++) {
        size_t row = t->offset + r * cols;
        size_t lo = row + (size_t)t->part_col0, hi = row + cols;
        if (row >= b)
            break;
        if ((int64_t)r < t->part_row0)
            continue;
        lo = lo > a ? lo : a;
        hi = hi < b ? hi : b;
        if (lo < hi)
            update_range(j->s, j->m->params + lo, j->m->grads + lo, lo, hi - lo, j->lr, wd, j->h,
                         j->step_size, j->bc2_sqrt, j->gscale);
    }
}

static void adamw_task(void *p, int i)
{
    opt_job *j = p;
    size_t lo, hi;
    piece(j, i, &lo, &hi);
    for (int k = 0; k < j->m->n_tensors; k++) {
        const train_tensor *t = &j->m->tensors[k];
        size_t a = t->offset > lo ? t->offset : lo;
        size_t b = t->offset + t->size < hi ? t->offset + t->size : hi;
        if (a >= b || t->frozen)
            continue;
        float wd = t->decay ? j->h->weight_decay : 0.0f;
        if (t->partial) {
            partial_update(j, t, a, b, wd);
            continue;
        }
        update_range(j->s, j->m->params + a, j->m->grads + a, a, b - a, j->lr, wd, j->h,
                     j->step_size, j->bc2_sqrt, j->gscale);
    }
}

static int n_pieces(opt_job *j)
{
    int nt = tp_threads() < 64 ? tp_threads() : 64;
    j->chunk = (j->m->n_params + nt - 1) / nt;
    return nt;
}

void adamw_step_scaled(adamw_state *s, train_model *m, float lr, const adamw_hparams *h,
                       float gscale)
{
    s->t++;
    double bc1 = 1.0 - pow(h->beta1, (double)s->t);
    double bc2 = 1.0 - pow(h->beta2, (double)s->t);
    opt_job j = {.s = s, .m = m, .h = h, .lr = lr, .step_size = (float)(lr / bc1),
                 .bc2_sqrt = (float)sqrt(bc2), .gscale = gscale};
    tp_run(n_pieces(&j), adamw_task, &j);
}

void adamw_step(adamw_state *s, train_model *m, float lr, const adamw_hparams *h)
{
    adamw_step_scaled(s, m, lr, h, 1.0f);
}

float train_clip_coef(double norm, double max_norm)
{
    if (max_norm <= 0.0)
        return 1.0f;
    float coef = (float)(max_norm / (norm + 1e-6));
    return coef < 1.0f ? coef : 1.0f;
}

#if defined(__x86_64__) && defined(__GNUC__)
/* Sum of squares of g[lo, hi) in double, 4 x 4 lanes; returns where the
 * scalar loop goes on. */
__attribute__((target("avx2,fma"))) static size_t sumsq_avx2(const float *g, size_t lo, size_t hi,
                                                              double *out)
{
    __m256d s0 = _mm256_setzero_pd(), s1 = s0, s2 = s0, s3 = s0;
    size_t k = lo;
    for (; k + 16 <= hi; k += 16) {
        __m256d a = _mm256_cvtps_pd(_mm_loadu_ps(g + k)), b = _mm256_cvtps_pd(_mm_loadu_ps(g + k + 4));
        __m256d c = _mm256_cvtps_pd(_mm_loadu_ps(g + k + 8));
        __m256d d = _mm256_cvtps_pd(_mm_loadu_ps(g + k + 12));
        s0 = _mm256_fmadd_pd(a, a, s0);
        s1 = _mm256_fmadd_pd(b, b, s1);
        s2 = _mm256_fmadd_pd(c, c, s2);
        s3 = _mm256_fmadd_pd(d, d, s3);
    }
    __m256d s = _mm256_add_pd(_mm256_add_pd(s0, s1), _mm256_add_pd(s2, s3));
    __m128d h = _mm_add_pd(_mm256_castpd256_pd128(s), _mm256_extractf128_pd(s, 1));
    *out = _mm_cvtsd_f64(_mm_add_sd(h, _mm_unpackhi_pd(h, h)));
    return k;
}
#endif

static void norm_task(void *p, int i)
{
    opt_job *j = p;
    size_t lo, hi;
    piece(j, i, &lo, &hi);
    double ss = 0.0;
    size_t k = lo;
#if defined(__x86_64__) && defined(__GNUC__)
    if (cape_isa_allows(CAPE_ISA_AVX2))
        k = sumsq_avx2(j->m->grads, lo, hi, &ss);
#endif
    for (; k < hi; k++)
        ss += (double)j->m->grads[k] * j->m->grads[k];
    j->partial[i] = ss;
}

double train_grad_norm(const train_model *m)
{
    opt_job j = {.m = (train_model *)m};
    int n = n_pieces(&j);
    tp_run(n, norm_task, &j);
    double ss = 0.0;
    for (int i = 0; i < n; i++)
        ss += j.partial[i];
    return sqrt(ss);
}

static void scale_task(void *p, int i)
{
    opt_job *j = p;
    size_t lo, hi;
    piece(j, i, &lo, &hi);
    for (size_t k = lo; k < hi; k++)
        j->m->grads[k] *= j->coef;
}

double train_clip_grads(train_model *m, double max_norm)
{
    double norm = train_grad_norm(m);
    if (max_norm <= 0.0)
        return norm;
    float coef = (float)(max_norm / (norm + 1e-6));
    if (coef < 1.0f) {
        opt_job j = {.m = m, .coef = coef};
        tp_run(n_pieces(&j), scale_task, &j);
    }
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
