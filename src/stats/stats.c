#include "stats/stats.h"

#include <float.h>
#include <gsl/gsl_cdf.h>
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/rng.h"

double stats_mean(const double *x, int n)
{
    double s = 0;
    for (int i = 0; i < n; i++)
        s += x[i];
    return n ? s / n : NAN;
}

double stats_sd(const double *x, int n, int ddof)
{
    if (n - ddof <= 0)
        return NAN;
    double m = stats_mean(x, n), s = 0;
    for (int i = 0; i < n; i++)
        s += (x[i] - m) * (x[i] - m);
    return sqrt(s / (n - ddof));
}

double stats_pearson(const double *x, const double *y, int n)
{
    if (n < 2)
        return NAN;
    double mx = stats_mean(x, n), my = stats_mean(y, n);
    double sxy = 0, sxx = 0, syy = 0;
    for (int i = 0; i < n; i++) {
        double dx = x[i] - mx, dy = y[i] - my;
        sxy += dx * dy;
        sxx += dx * dx;
        syy += dy * dy;
    }
    if (sxx <= 0 || syy <= 0)
        return NAN;
    double r = sxy / sqrt(sxx * syy);
    return r > 1 ? 1 : r < -1 ? -1 : r;
}

typedef struct {
    double v;
    int i;
} val_idx;

static int cmp_val_idx(const void *a, const void *b)
{
    const val_idx *p = a, *q = b;
    if (p->v < q->v)
        return -1;
    if (p->v > q->v)
        return 1;
    return p->i - q->i;
}

void stats_rank_average(const double *x, int n, double *rank)
{
    val_idx *v = malloc((size_t)n * sizeof *v);
    if (!v) {
        for (int i = 0; i < n; i++)
            rank[i] = NAN;
        return;
    }
    for (int i = 0; i < n; i++)
        v[i] = (val_idx){x[i], i};
    qsort(v, (size_t)n, sizeof *v, cmp_val_idx);
    for (int i = 0; i < n;) {
        int j = i;
        while (j + 1 < n && v[j + 1].v == v[i].v)
            j++;
        double avg = (i + j) / 2.0 + 1.0;
        for (int k = i; k <= j; k++)
            rank[v[k].i] = avg;
        i = j + 1;
    }
    free(v);
}

double stats_spearman(const double *x, const double *y, int n)
{
    if (n < 2)
        return NAN;
    double *rx = malloc(2 * (size_t)n * sizeof *rx);
    if (!rx)
        return NAN;
    double *ry = rx + n;
    stats_rank_average(x, n, rx);
    stats_rank_average(y, n, ry);
    double r = stats_pearson(rx, ry, n);
    free(rx);
    return r;
}

double stats_corr_pvalue(double r, int n)
{
    if (n < 3 || !isfinite(r))
        return NAN;
    if (fabs(r) >= 1.0)
        return 0.0;
    double df = n - 2;
    double t = fabs(r) * sqrt(df / ((1 - r) * (1 + r)));
    return 2.0 * gsl_cdf_tdist_Q(t, df);
}

static double tie_orders(const double *rank, int n, int *palindrome)
{
    /* ranks sorted: runs of equal ranks are the tie groups */
    double *s = malloc((size_t)n * sizeof *s);
    int *run = malloc((size_t)n * sizeof *run);
    double k = 1;
    int nrun = 0;
    if (!s || !run) {
        free(s);
        free(run);
        *palindrome = 0;
        return NAN;
    }
    memcpy(s, rank, (size_t)n * sizeof *s);
    stats_sort(s, n);
    for (int i = 0; i < n;) {
        int j = i;
        while (j + 1 < n && s[j + 1] == s[i])
            j++;
        run[nrun++] = j - i + 1;
        for (int m = 2; m <= j - i + 1; m++)
            k *= m;
        i = j + 1;
    }
    *palindrome = 1;
    for (int i = 0; i < nrun / 2; i++)
        *palindrome &= run[i] == run[nrun - 1 - i];
    free(s);
    free(run);
    return k;
}

double stats_spearman_pvalue(const double *x, const double *y, int n)
{
    if (n < 3)
        return NAN;
    double *rx = malloc(2 * (size_t)n * sizeof *rx);
    if (!rx)
        return NAN;
    double *ry = rx + n, p = NAN;
    stats_rank_average(x, n, rx);
    stats_rank_average(y, n, ry);
    double rho = stats_pearson(rx, ry, n);
    if (!isfinite(rho)) {
        free(rx);
        return NAN;
    }
    if (n <= 10) {
        perm_result pr;
        cape_err e = {0};
        if (stats_perm_test(rx, ry, n, PERM_TWO_SIDED, 10, 1, 0, &pr, &e) == 0)
            p = pr.p;
    } else if (fabs(rho) < 1 - 1e-12) {
        p = stats_corr_pvalue(rho, n);
    } else {
        /* only the orders that keep y's tie groups in place give rho = +-1;
         * the opposite sign is reachable when the tie pattern is symmetric */
        int pal;
        double keep = tie_orders(ry, n, &pal), total = 1;
        for (int m = 2; m <= n; m++)
            total *= m;
        p = fmin(1.0, (pal ? 2 : 1) * keep / total);
    }
    free(rx);
    return p;
}

/* Under a permutation of y, Pearson r is an increasing function of sum x*y
 * (means and variances do not change), so the test compares dot products. */
static int more_extreme(double s, double s_obs, double centre, perm_side side, double tol)
{
    switch (side) {
    case PERM_LESS: return s <= s_obs + tol;
    case PERM_GREATER: return s >= s_obs - tol;
    default: return fabs(s - centre) >= fabs(s_obs - centre) - tol;
    }
}

int stats_perm_test(const double *x, const double *y, int n, perm_side side, int exact_max,
                    uint64_t mc_draws, uint32_t seed, perm_result *out, cape_err *e)
{
    memset(out, 0, sizeof *out);
    if (n < 3)
        return err_set(e, CAPE_EINPUT, "permutation test needs at least 3 pairs, got %d", n);
    if (exact_max > 12)
        exact_max = 12;
    out->r = stats_pearson(x, y, n);
    if (!isfinite(out->r))
        return err_set(e, CAPE_EINPUT, "permutation test: a series is constant");
    double mx = stats_mean(x, n), my = stats_mean(y, n);
    double *xc = malloc(2 * (size_t)n * sizeof *xc);
    if (!xc)
        return err_set(e, CAPE_EFAIL, "out of memory");
    double *yp = xc + n;
    double s_obs = 0, scale = 0;
    for (int i = 0; i < n; i++) {
        xc[i] = x[i] - mx;
        yp[i] = y[i] - my;
        s_obs += xc[i] * yp[i];
        scale += fabs(xc[i] * yp[i]);
    }
    /* Ties in y give permutations with exactly the observed statistic; a
     * relative tolerance keeps rounding from splitting them. */
    double tol = 1e-9 * (scale > 0 ? scale : 1), centre = 0;
    uint64_t count = 0, total = 0;
    if (n <= exact_max) {
        int c[12] = {0};
        double s = s_obs;
        count = more_extreme(s, s_obs, centre, side, tol);
        total = 1;
        for (int i = 1; i < n;) {
            if (c[i] < i) {
                int j = (i & 1) ? c[i] : 0;
                s += (xc[i] - xc[j]) * (yp[j] - yp[i]);
                double t = yp[i];
                yp[i] = yp[j];
                yp[j] = t;
                total++;
                count += more_extreme(s, s_obs, centre, side, tol);
                c[i]++;
                i = 1;
            } else {
                c[i] = 0;
                i++;
            }
        }
        out->exact = 1;
        out->p = (double)count / (double)total;
    } else {
        /* Shuffling the already shuffled vector is still a uniform draw, so
         * the permutation is applied in place, draw after draw. */
        rng_fast r;
        rng_fast_seed(&r, seed);
        for (uint64_t d = 0; d < mc_draws; d++) {
            for (int i = n - 1; i > 0; i--) {
                int j = (int)rng_fast_below(&r, (uint32_t)i + 1);
                double t = yp[i];
                yp[i] = yp[j];
                yp[j] = t;
            }
            double s = 0;
            for (int i = 0; i < n; i++)
                s += xc[i] * yp[i];
            count += more_extreme(s, s_obs, centre, side, tol);
        }
        total = mc_draws;
        out->exact = 0;
        out->p = (double)(count + 1) / (double)(total + 1);
    }
    out->count = count;
    out->total = total;
    free(xc);
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double p = *(const double *)a, q = *(const double *)b;
    return (p > q) - (p < q);
}

void stats_sort(double *x, int n)
{
    qsort(x, (size_t)n, sizeof *x, cmp_double);
}

double stats_percentile_sorted(const double *s, int n, double q)
{
    if (n <= 0)
        return NAN;
    double pos = q / 100.0 * (n - 1);
    int lo = (int)floor(pos);
    if (lo >= n - 1)
        return s[n - 1];
    if (lo < 0)
        return s[0];
    double f = pos - lo;
    return s[lo] + f * (s[lo + 1] - s[lo]);
}

int stats_ols(const double *x, const double *y, int n, ols_fit *o, cape_err *e)
{
    memset(o, 0, sizeof *o);
    o->n = n;
    if (n < 3)
        return err_set(e, CAPE_EINPUT, "linear fit needs at least 3 points, got %d", n);
    double mx = stats_mean(x, n), my = stats_mean(y, n), sxx = 0, sxy = 0, syy = 0;
    for (int i = 0; i < n; i++) {
        sxx += (x[i] - mx) * (x[i] - mx);
        sxy += (x[i] - mx) * (y[i] - my);
        syy += (y[i] - my) * (y[i] - my);
    }
    if (sxx <= 0)
        return err_set(e, CAPE_EINPUT, "linear fit: all x values are equal");
    o->slope = sxy / sxx;
    o->intercept = my - o->slope * mx;
    double ssr = 0;
    for (int i = 0; i < n; i++) {
        double d = y[i] - (o->slope * x[i] + o->intercept);
        ssr += d * d;
    }
    double s2 = ssr / (n - 2);
    o->se_slope = sqrt(s2 / sxx);
    o->se_intercept = sqrt(s2 * (1.0 / n + mx * mx / sxx));
    o->r = syy > 0 ? sxy / sqrt(sxx * syy) : NAN;
    o->p = stats_corr_pvalue(o->r, n);
    o->r2 = syy > 0 ? 1 - ssr / syy : NAN;
    return 0;
}

int stats_polyfit(const double *x, const double *y, int n, int deg, double *coef, cape_err *e)
{
    int m = deg + 1;
    if (deg < 0 || n < m)
        return err_set(e, CAPE_EINPUT, "degree-%d fit needs at least %d points, got %d", deg, m, n);
    double mx = stats_mean(x, n), sx = 0;
    for (int i = 0; i < n; i++)
        sx = fmax(sx, fabs(x[i] - mx));
    if (sx == 0 && deg > 0)
        return err_set(e, CAPE_EINPUT, "polynomial fit: all x values are equal");
    if (sx == 0)
        sx = 1;
    double *a = malloc(((size_t)n * m + n) * sizeof *a);
    if (!a)
        return err_set(e, CAPE_EFAIL, "out of memory");
    double *b = a + (size_t)n * m;
    for (int i = 0; i < n; i++) {
        double u = (x[i] - mx) / sx, p = 1;
        for (int j = m - 1; j >= 0; j--) {
            a[(size_t)i * m + j] = p; /* column j holds u^(deg - j) */
            p *= u;
        }
        b[i] = y[i];
    }
    double sv[16], rcond = 1e-12;
    lapack_int rank = 0;
    int info = m <= 16 ? LAPACKE_dgelsd(LAPACK_ROW_MAJOR, n, m, 1, a, m, b, 1, sv, rcond, &rank)
                       : -1;
    if (info != 0 || rank < m) {
        free(a);
        return err_set(e, CAPE_EINPUT, "polynomial fit of degree %d is rank deficient", deg);
    }
    /* b[0..m) are coefficients in u = (x - mx) / sx, highest power first;
     * expand back to powers of x. */
    double cu[17] = {0}, cx[17] = {0};
    for (int j = 0; j < m; j++)
        cu[deg - j] = b[j]; /* cu[k]: coefficient of u^k */
    double binom[17][17] = {{0}};
    for (int i = 0; i <= deg; i++) {
        binom[i][0] = 1;
        for (int k = 1; k <= i; k++)
            binom[i][k] = binom[i - 1][k - 1] + (k <= i - 1 ? binom[i - 1][k] : 0);
    }
    for (int k = 0; k <= deg; k++) {
        /* cu[k] * ((x - mx)/sx)^k = cu[k]/sx^k * sum_j C(k,j) x^j (-mx)^(k-j) */
        double f = cu[k] / pow(sx, k);
        for (int j = 0; j <= k; j++)
            cx[j] += f * binom[k][j] * pow(-mx, k - j);
    }
    for (int k = 0; k <= deg; k++)
        coef[deg - k] = cx[k];
    free(a);
    return 0;
}

double stats_polyval(const double *coef, int deg, double x)
{
    double v = 0;
    for (int i = 0; i <= deg; i++)
        v = v * x + coef[i];
    return v;
}

void stats_wilson(int k, int n, double z, double *lo, double *hi)
{
    if (n <= 0) {
        *lo = *hi = NAN;
        return;
    }
    double p = (double)k / n, z2 = z * z, den = 1 + z2 / n;
    double centre = (p + z2 / (2.0 * n)) / den;
    double half = z * sqrt(p * (1 - p) / n + z2 / (4.0 * n * n)) / den;
    *lo = centre - half;
    *hi = centre + half;
}

stats_spread stats_finite_spread(double *v, int n)
{
    stats_spread z = {NAN, NAN, NAN};
    int m = 0;
    double sum = 0;
    for (int i = 0; i < n; i++)
        if (isfinite(v[i])) {
            v[m++] = v[i];
            sum += v[i];
        }
    if (m == 0)
        return z;
    stats_sort(v, m);
    z.mean = sum / m;
    z.p05 = stats_percentile_sorted(v, m, 5);
    z.p95 = stats_percentile_sorted(v, m, 95);
    return z;
}
