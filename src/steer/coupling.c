#include "steer/coupling.h"

#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

double coup_gelu(double x)
{
    return 0.5 * x * (1.0 + erf(x / sqrt(2.0)));
}

static void mean_rows(const float *X, int n, int d, int gelu, double *m)
{
    memset(m, 0, (size_t)d * sizeof *m);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < d; j++) {
            double v = X[(size_t)i * d + j];
            m[j] += (gelu ? coup_gelu(v) : v) / n;
        }
}

double coup_mean_cosine(const float *A, int na, const float *B, int nb, int d, int apply_gelu)
{
    if (na < 1 || nb < 1 || d < 1)
        return NAN;
    double *ma = malloc(2 * (size_t)d * sizeof *ma);
    if (!ma)
        return NAN;
    double *mb = ma + d;
    mean_rows(A, na, d, apply_gelu, ma);
    mean_rows(B, nb, d, apply_gelu, mb);
    double c = coup_cosine_of_means(ma, mb, d);
    free(ma);
    return c;
}

double coup_cosine_of_means(const double *ma, const double *mb, int d)
{
    double na2 = 0, nb2 = 0;
    for (int j = 0; j < d; j++) {
        na2 += ma[j] * ma[j];
        nb2 += mb[j] * mb[j];
    }
    double sa = sqrt(na2) + 1e-8, sb = sqrt(nb2) + 1e-8, dot = 0;
    for (int j = 0; j < d; j++)
        dot += (ma[j] / sa) * (mb[j] / sb);
    return dot;
}

coup_head_counts coup_count_heads(const double *c, int nheads)
{
    coup_head_counts h = {0};
    double sum = 0;
    for (int i = 0; i < nheads; i++) {
        if (isnan(c[i]))
            continue;
        h.heads++;
        h.cooperative += c[i] > 0;
        h.competing += c[i] < -0.5;
        h.near_zero += fabs(c[i]) < 0.1;
        sum += c[i];
    }
    h.net = h.heads ? sum / h.heads : NAN;
    return h;
}

int coup_participation_ratio(const float *X, int n, int d, double *out, cape_err *e)
{
    if (n < 2)
        return err_set(e, CAPE_EINPUT, "d_rep needs at least two vectors");
    double *C = malloc(((size_t)n * d + (size_t)n * n + n + d) * sizeof *C);
    if (!C)
        return err_set(e, CAPE_EFAIL, "out of memory");
    double *G = C + (size_t)n * d, *w = G + (size_t)n * n, *m = w + n;
    memset(m, 0, (size_t)d * sizeof *m);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < d; j++)
            m[j] += (double)X[(size_t)i * d + j] / n;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < d; j++)
            C[(size_t)i * d + j] = X[(size_t)i * d + j] - m[j];
    for (int a = 0; a < n; a++)
        for (int b = 0; b <= a; b++) {
            double s = 0;
            for (int j = 0; j < d; j++)
                s += C[(size_t)a * d + j] * C[(size_t)b * d + j];
            G[(size_t)a * n + b] = G[(size_t)b * n + a] = s;
        }
    int rc = 0;
    if (LAPACKE_dsyev(LAPACK_ROW_MAJOR, 'N', 'U', n, G, n, w) != 0) {
        rc = err_set(e, CAPE_EFAIL, "eigendecomposition failed");
    } else {
        /* The Gram matrix shares the covariance's nonzero eigenvalues (up to
         * the 1/(n-1) factor, which cancels in the ratio). */
        double s1 = 0, s2 = 0;
        for (int i = 0; i < n; i++) {
            double l = w[i] > 0 ? w[i] : 0;
            s1 += l;
            s2 += l * l;
        }
        if (!(s2 > 0))
            rc = err_set(e, CAPE_EINPUT, "all vectors are identical: d_rep undefined");
        else
            *out = s1 * s1 / s2;
    }
    free(C);
    return rc;
}
