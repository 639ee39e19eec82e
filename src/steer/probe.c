#include "steer/probe.h"

#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static double sigmoid(double z)
{
    return z >= 0 ? 1 / (1 + exp(-z)) : exp(z) / (1 + exp(z));
}

int probe_fit(const float *X, const int *y, int n, int d, double lambda, probe_model *m,
              cape_err *e)
{
    memset(m, 0, sizeof *m);
    int n1 = 0;
    for (int i = 0; i < n; i++)
        n1 += y[i] != 0;
    if (n < 2 || n1 == 0 || n1 == n)
        return err_set(e, CAPE_EINPUT, "a probe needs examples of both classes (%d of %d)", n1, n);
    int p = d + 1; /* last coordinate is the bias */
    double *mu = calloc((size_t)d, sizeof *mu), *sd = calloc((size_t)d, sizeof *sd);
    double *Z = malloc((size_t)n * p * sizeof *Z);
    double *beta = calloc((size_t)p, sizeof *beta), *g = malloc((size_t)p * sizeof *g);
    double *H = malloc((size_t)p * p * sizeof *H);
    lapack_int *ipiv = malloc((size_t)p * sizeof *ipiv);
    int rc = 0;
    if (!mu || !sd || !Z || !beta || !g || !H || !ipiv) {
        rc = err_set(e, CAPE_EFAIL, "out of memory");
        goto done;
    }
    for (int i = 0; i < n; i++)
        for (int j = 0; j < d; j++)
            mu[j] += X[(size_t)i * d + j] / (double)n;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < d; j++) {
            double t = X[(size_t)i * d + j] - mu[j];
            sd[j] += t * t / n;
        }
    for (int j = 0; j < d; j++)
        sd[j] = sd[j] > 1e-24 ? sqrt(sd[j]) : 1.0; /* constant features stay at zero */
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < d; j++)
            Z[(size_t)i * p + j] = (X[(size_t)i * d + j] - mu[j]) / sd[j];
        Z[(size_t)i * p + d] = 1.0;
    }
    double *Zw = malloc((size_t)n * p * sizeof *Zw);
    if (!Zw) {
        rc = err_set(e, CAPE_EFAIL, "out of memory");
        goto done;
    }
    for (int it = 0; it < 50; it++) {
        /* gradient Z^T (p - y) / n; Hessian Z^T W Z / n as one BLAS rank-k update */
        memset(g, 0, (size_t)p * sizeof *g);
        for (int i = 0; i < n; i++) {
            const double *z = Z + (size_t)i * p;
            double eta = 0;
            for (int j = 0; j < p; j++)
                eta += z[j] * beta[j];
            double pr = sigmoid(eta), r = pr - (y[i] != 0), sw = sqrt(pr * (1 - pr) / n);
            for (int j = 0; j < p; j++) {
                g[j] += r * z[j] / n;
                Zw[(size_t)i * p + j] = sw * z[j];
            }
        }
        cblas_dsyrk(CblasRowMajor, CblasLower, CblasTrans, p, n, 1.0, Zw, p, 0.0, H, p);
        for (int a = 0; a < p; a++) {
            for (int b = 0; b < a; b++)
                H[(size_t)b * p + a] = H[(size_t)a * p + b];
            if (a < d) {
                g[a] += lambda * beta[a];
                H[(size_t)a * p + a] += lambda;
            } else {
                H[(size_t)a * p + a] += 1e-10; /* keeps separable data solvable */
            }
        }
        if (LAPACKE_dgesv(LAPACK_ROW_MAJOR, p, 1, H, p, ipiv, g, 1) != 0) {
            free(Zw);
            rc = err_set(e, CAPE_EFAIL, "probe: singular Newton system");
            goto done;
        }
        double step = 0;
        for (int j = 0; j < p; j++) {
            beta[j] -= g[j];
            step = fmax(step, fabs(g[j]));
        }
        m->iterations = it + 1;
        if (step < 1e-8) {
            m->converged = 1;
            break;
        }
    }
    free(Zw);
    m->d = d;
    m->w = malloc((size_t)d * sizeof *m->w);
    if (!m->w) {
        rc = err_set(e, CAPE_EFAIL, "out of memory");
        goto done;
    }
    m->b = beta[d];
    for (int j = 0; j < d; j++) {
        m->w[j] = beta[j] / sd[j];
        m->b -= beta[j] * mu[j] / sd[j];
    }
done:
    free(mu);
    free(sd);
    free(Z);
    free(beta);
    free(g);
    free(H);
    free(ipiv);
    return rc;
}

double probe_predict(const probe_model *m, const float *x)
{
    double z = m->b;
    for (int j = 0; j < m->d; j++)
        z += m->w[j] * x[j];
    return sigmoid(z);
}

double probe_accuracy(const probe_model *m, const float *X, const int *y, int n)
{
    int ok = 0;
    for (int i = 0; i < n; i++)
        ok += (probe_predict(m, X + (size_t)i * m->d) > 0.5) == (y[i] != 0);
    return n ? (double)ok / n : NAN;
}

void probe_free(probe_model *m)
{
    free(m->w);
    memset(m, 0, sizeof *m);
}
