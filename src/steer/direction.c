#include "steer/direction.h"

#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static int normalise(float *v, int d)
{
    double s = 0;
    for (int j = 0; j < d; j++)
        s += (double)v[j] * v[j];
    if (!(s > 0))
        return -1;
    double inv = 1.0 / sqrt(s);
    for (int j = 0; j < d; j++)
        v[j] = (float)(v[j] * inv);
    return 0;
}

int dir_mean_diff(const float *pos, int npos, const float *neg, int nneg, int d, float *out,
                  cape_err *e)
{
    if (npos < 1 || nneg < 1)
        return err_set(e, CAPE_EINPUT, "a direction needs at least one example on each side");
    double *acc = calloc((size_t)d, sizeof *acc);
    if (!acc)
        return err_set(e, CAPE_EFAIL, "out of memory");
    for (int i = 0; i < npos; i++)
        for (int j = 0; j < d; j++)
            acc[j] += pos[(size_t)i * d + j] / (double)npos;
    for (int i = 0; i < nneg; i++)
        for (int j = 0; j < d; j++)
            acc[j] -= neg[(size_t)i * d + j] / (double)nneg;
    for (int j = 0; j < d; j++)
        out[j] = (float)acc[j];
    free(acc);
    if (normalise(out, d))
        return err_set(e, CAPE_EINPUT, "the two sets have identical means: no direction");
    return 0;
}

/* The top right-singular vector of D [n x d] is D^T u / |D^T u| for the top
 * eigenvector u of the n x n Gram matrix D D^T, which is cheap when n << d. */
int dir_pca_pairs(const float *pos, const float *neg, int n, int d, int centre, float *out,
                  cape_err *e)
{
    if (n < 1 || (centre && n < 2))
        return err_set(e, CAPE_EINPUT, "PCA of differences needs %d or more pairs",
                       centre ? 2 : 1);
    double *D = malloc(((size_t)n * d + (size_t)n * n + n + d) * sizeof *D);
    if (!D)
        return err_set(e, CAPE_EFAIL, "out of memory");
    double *G = D + (size_t)n * d, *w = G + (size_t)n * n, *mean = w + n;
    memset(mean, 0, (size_t)d * sizeof *mean);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < d; j++) {
            double v = (double)pos[(size_t)i * d + j] - neg[(size_t)i * d + j];
            D[(size_t)i * d + j] = v;
            mean[j] += v / n;
        }
    if (centre)
        for (int i = 0; i < n; i++)
            for (int j = 0; j < d; j++)
                D[(size_t)i * d + j] -= mean[j];
    for (int a = 0; a < n; a++)
        for (int b = 0; b <= a; b++) {
            double s = 0;
            for (int j = 0; j < d; j++)
                s += D[(size_t)a * d + j] * D[(size_t)b * d + j];
            G[(size_t)a * n + b] = G[(size_t)b * n + a] = s;
        }
    int rc = 0;
    if (LAPACKE_dsyev(LAPACK_ROW_MAJOR, 'V', 'U', n, G, n, w) != 0 || !(w[n - 1] > 0)) {
        rc = err_set(e, CAPE_EINPUT, "the paired differences are all zero: no direction");
        goto done;
    }
    /* eigenvalues ascend; the last column of G is the top eigenvector */
    double dot = 0;
    for (int j = 0; j < d; j++) {
        double s = 0;
        for (int i = 0; i < n; i++)
            s += D[(size_t)i * d + j] * G[(size_t)i * n + (n - 1)];
        out[j] = (float)s;
        dot += s * mean[j];
    }
    if (dot < 0)
        for (int j = 0; j < d; j++)
            out[j] = -out[j];
    if (normalise(out, d))
        rc = err_set(e, CAPE_EINPUT, "degenerate differences: no direction");
done:
    free(D);
    return rc;
}

double dir_gate_strength(double c)
{
    if (c < -0.1)
        return 3.0;
    if (c < 0.1)
        return 1.5;
    if (c < 0.3)
        return 0.5;
    return 0.0;
}

double dir_cosine(const float *a, const float *b, int d)
{
    double ab = 0, aa = 0, bb = 0;
    for (int j = 0; j < d; j++) {
        ab += (double)a[j] * b[j];
        aa += (double)a[j] * a[j];
        bb += (double)b[j] * b[j];
    }
    return aa > 0 && bb > 0 ? ab / sqrt(aa * bb) : NAN;
}
