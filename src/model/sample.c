#include "model/sample.h"

#include <math.h>
#include <stdlib.h>

/* The first index of the largest value; NaNs never win, except that a NaN
 * at index 0 is kept (the comparison "x[i] > x[best]" of the plain loop).
 * Two passes: the maximum over 16 independent lanes (no loop-carried
 * dependency, so the compiler vectorises it), then its first position. A
 * large vocabulary's argmax is otherwise a visible part of a batched
 * decoding step. */
int sample_argmax(const float *x, int n)
{
    enum { LANES = 16 };
    if (n <= 0 || x[0] != x[0])
        return 0;
    float lane[LANES];
    for (int k = 0; k < LANES; k++)
        lane[k] = x[0];
    int i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int k = 0; k < LANES; k++)
            lane[k] = x[i + k] > lane[k] ? x[i + k] : lane[k];
    float best = lane[0];
    for (int k = 1; k < LANES; k++)
        best = lane[k] > best ? lane[k] : best;
    for (; i < n; i++)
        best = x[i] > best ? x[i] : best;
    for (i = 0; i < n; i++)
        if (x[i] == best)
            return i;
    return 0;
}

int sample_init(sampler *s, const sample_opts *o)
{
    s->o = *o;
    if (!(s->o.top_p > 0) || s->o.top_p > 1)
        s->o.top_p = 1;
    rng_fast_seed(&s->rng, o->seed);
    s->idx = NULL;
    s->prob = NULL;
    s->cap = 0;
    return 0;
}

void sample_free(sampler *s)
{
    free(s->idx);
    free(s->prob);
    s->idx = NULL;
    s->prob = NULL;
}

static int by_logit_desc(const void *a, const void *b, void *ctx)
{
    const float *lg = ctx;
    float x = lg[*(const int *)a], y = lg[*(const int *)b];
    if (x != y)
        return x > y ? -1 : 1;
    return *(const int *)a - *(const int *)b;
}

int sample_next(sampler *s, const float *logits, int n)
{
    if (s->o.temp <= 0)
        return sample_argmax(logits, n);
    if (n > s->cap) {
        int *ni = realloc(s->idx, (size_t)n * sizeof *ni);
        if (ni)
            s->idx = ni;
        float *np = realloc(s->prob, (size_t)n * sizeof *np);
        if (np)
            s->prob = np;
        if (!ni || !np)
            return -1;
        s->cap = n;
    }
    int k = s->o.top_k > 0 && s->o.top_k < n ? s->o.top_k : n;
    if (k < n) {
        /* the k largest by a min-heap on the logit (ties: the lower id wins) */
        int m = 0;
        for (int i = 0; i < n; i++) {
            if (m < k) {
                int j = m++;
                while (j > 0 && by_logit_desc(&s->idx[(j - 1) / 2], &i, (void *)logits) < 0) {
                    s->idx[j] = s->idx[(j - 1) / 2];
                    j = (j - 1) / 2;
                }
                s->idx[j] = i;
            } else if (by_logit_desc(&i, &s->idx[0], (void *)logits) < 0) {
                int j = 0;
                for (;;) { /* sift the new element down from the root */
                    int c = 2 * j + 1;
                    if (c >= k)
                        break;
                    if (c + 1 < k && by_logit_desc(&s->idx[c + 1], &s->idx[c], (void *)logits) > 0)
                        c++;
                    if (by_logit_desc(&s->idx[c], &i, (void *)logits) <= 0)
                        break;
                    s->idx[j] = s->idx[c];
                    j = c;
                }
                s->idx[j] = i;
            }
        }
        qsort_r(s->idx, (size_t)k, sizeof *s->idx, by_logit_desc, (void *)logits);
    } else {
        for (int i = 0; i < n; i++)
            s->idx[i] = i;
        qsort_r(s->idx, (size_t)n, sizeof *s->idx, by_logit_desc, (void *)logits);
    }
    double sum = 0, mx = logits[s->idx[0]];
    for (int i = 0; i < k; i++) {
        s->prob[i] = (float)exp((logits[s->idx[i]] - mx) / s->o.temp);
        sum += s->prob[i];
    }
    /* nucleus: keep the smallest prefix whose mass reaches top_p */
    double cum = 0;
    int keep = k;
    for (int i = 0; i < k; i++) {
        cum += s->prob[i] / sum;
        if (cum >= s->o.top_p) {
            keep = i + 1;
            break;
        }
    }
    double mass = 0;
    for (int i = 0; i < keep; i++)
        mass += s->prob[i];
    double r = rng_fast_double(&s->rng) * mass, acc = 0;
    for (int i = 0; i < keep; i++) {
        acc += s->prob[i];
        if (r < acc)
            return s->idx[i];
    }
    return s->idx[keep - 1];
}
