/* ks: the two-sample Kolmogorov-Smirnov test as scipy.stats.ks_2samp
 * computes it (two-sided, method 'auto'), the distribution of the one-sample
 * statistic it falls back on (scipy.stats.kstwo), and the ROC AUC as
 * sklearn.metrics.roc_auc_score computes it. The branches and thresholds
 * follow scipy's, so that the p-values agree to rounding; the arithmetic is
 * our own (long double where scipy uses double-double or long double).
 *
 * References: Hodges (1958) for the exact two-sample law; Viehmann (2021,
 * arXiv 2102.08037) for its 1 - p recursion; Simard & L'Ecuyer (2011) for
 * the choice of method for Kolmogorov's law; Marsaglia, Tsang & Wang (2003),
 * Pomeranz (1974) and Pelz & Good (1976) for the methods; Birnbaum & Tingey
 * (1951) for the one-sided (Smirnov) law. */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "stats/stats.h"

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double clip01(double p)
{
    return p < 0 ? 0 : p > 1 ? 1 : p;
}

/* ------------------------------------------------ Smirnov (one-sided) sf */

/* log of the smallest positive double (cephes' MINLOG): below it the
 * one-sided tail is reported as 0, as scipy.special.smirnov does */
#define KS_MINLOG (-7.451332191019412076235E2)

/* Pr(D+_n >= x) by the Birnbaum-Tingey sum, every term positive:
 *   x * sum_{v=0}^{floor(n(1-x))} C(n,v) (x + v/n)^(v-1) (1 - x - v/n)^(n-v),
 * with n*x split into its integer part and a remainder (an FMA keeps the
 * product exact) so that the bases are formed without cancellation. */
static double smirnov_sf(int n, double x)
{
    if (!(n > 0 && x >= 0.0 && x <= 1.0))
        return NAN;
    if (n == 1)
        return 1 - x;
    if (x == 0.0)
        return 1.0;
    if (x == 1.0)
        return 0.0;
    double nxh = (double)n * x, nxl = fma((double)n, x, -nxh);
    double fl = floor(nxh);
    long double alpha = (long double)(nxh - fl) + nxl;
    if (alpha < 0) {
        fl -= 1;
        alpha += 1;
    }
    int nxfl = (int)fl;
    if ((double)alpha >= 1.0) {
        nxfl += 1;
        alpha = 0;
    }
    if ((double)alpha == 0.0)
        alpha = 0;
    if (nxfl == 0 || (nxfl == 1 && alpha == 0)) /* x <= 1/n */
        return 1 - (double)((long double)x * powl(1.0L + x, n - 1));
    if (-2 * n * x * x < KS_MINLOG)
        return 0;
    if (nxfl >= n - 1) /* x >= 1 - 1/n */
        return (double)powl(1.0L - x, n);
    if (n > 1000000) {
        double logp = -pow(6.0 * n * x + 1, 2) / 18.0 / n;
        return logp < -M_LN2 ? exp(logp) : 1 + expm1(logp);
    }
    /* terms v = 0 .. n - floor(nx) - 1, where 1 - x - v/n > 0 */
    int last = n - nxfl - 1;
    long double sum = 0, lgn = lgammal(n + 1.0L);
    for (int v = 0; v <= last; v++) {
        long double up = ((long double)(n - nxfl - v) - alpha) / n; /* 1 - x - v/n */
        long double lo = ((long double)(nxfl + v) + alpha) / n;     /* x + v/n */
        if (up <= 0)
            break;
        long double lt = lgn - lgammal(v + 1.0L) - lgammal(n - v + 1.0L) + (n - v) * logl(up) +
                         (v - 1) * logl(lo);
        sum += expl(lt);
    }
    return clip01((double)((long double)x * sum));
}

/* ----------------------------------------- Kolmogorov's law, finite n */

#define KS_E128 128

/* n! / n^n in logs, Stirling's series with n log n taken out first */
static double log_nfact_div_npow(int n)
{
    static const double c[] = {-2.955065359477124183e-2, 6.4102564102564102564e-3,
                               -1.9175269175269175269e-3, 8.4175084175084175084e-4,
                               -5.952380952380952381e-4, 7.9365079365079365079e-4,
                               -2.7777777777777777778e-3, 8.3333333333333333333e-2};
    double rn = 1.0 / n, t = rn / n, poly = 0;
    for (int i = 0; i < 8; i++)
        poly = poly * t + c[i];
    return log((double)n) / 2 - n + log(2 * M_PI) / 2 + rn * poly;
}

/* Pr(D_n <= d): Durbin's matrix, the k-th diagonal entry of H^n scaled by
 * n!/n^n, as Marsaglia, Tsang and Wang compute it (powers by squaring with
 * an exponent kept aside). */
static double kolmogn_dmtw(int n, double d)
{
    if (d >= 1.0)
        return 1.0;
    double nd = n * d;
    if (nd <= 0.5)
        return 0.0;
    int k = (int)ceil(nd);
    double h = k - nd;
    int m = 2 * k - 1;
    double *H = calloc((size_t)m * m, sizeof *H), *P = calloc((size_t)m * m, sizeof *P),
           *T = malloc((size_t)m * m * sizeof *T), *v = malloc((size_t)m * sizeof *v),
           *w = malloc((size_t)m * sizeof *w);
    if (!H || !P || !T || !v || !w) {
        free(H), free(P), free(T), free(v), free(w);
        return NAN;
    }
    double fac = 1.0;
    for (int j = 1; j <= m; j++) {
        v[j - 1] = 1.0 - pow(h, j);
        w[j - 1] = fac;
        fac /= j;
        v[j - 1] *= fac;
    }
    double tt = pow(fmax(2 * h - 1.0, 0), m) - 2 * pow(h, m);
    v[m - 1] = (1.0 + tt) * fac;
    for (int i = 1; i < m; i++)
        for (int r = i - 1; r < m; r++)
            H[(size_t)r * m + i] = w[r - (i - 1)];
    for (int r = 0; r < m; r++)
        H[(size_t)r * m] = v[r];
    for (int c = 0; c < m; c++)
        H[(size_t)(m - 1) * m + c] = v[m - 1 - c];
    for (int i = 0; i < m; i++)
        P[(size_t)i * m + i] = 1;
    int nn = n, expnt = 0, hexpnt = 0;
    while (nn > 0) {
        if (nn % 2) {
            for (int i = 0; i < m; i++)
                for (int j = 0; j < m; j++) {
                    long double s = 0;
                    for (int l = 0; l < m; l++)
                        s += (long double)P[(size_t)i * m + l] * H[(size_t)l * m + j];
                    T[(size_t)i * m + j] = (double)s;
                }
            memcpy(P, T, (size_t)m * m * sizeof *T);
            expnt += hexpnt;
        }
        for (int i = 0; i < m; i++)
            for (int j = 0; j < m; j++) {
                long double s = 0;
                for (int l = 0; l < m; l++)
                    s += (long double)H[(size_t)i * m + l] * H[(size_t)l * m + j];
                T[(size_t)i * m + j] = (double)s;
            }
        memcpy(H, T, (size_t)m * m * sizeof *T);
        hexpnt *= 2;
        if (fabs(H[(size_t)(k - 1) * m + (k - 1)]) > ldexp(1.0, KS_E128)) {
            for (size_t i = 0; i < (size_t)m * m; i++)
                H[i] = ldexp(H[i], -KS_E128);
            hexpnt += KS_E128;
        }
        nn /= 2;
    }
    long double p = P[(size_t)(k - 1) * m + (k - 1)];
    for (int i = 1; i <= n; i++) {
        p = i * p / n;
        if (fabsl(p) < ldexpl(1.0L, -KS_E128)) {
            p = ldexpl(p, KS_E128);
            expnt -= KS_E128;
        }
    }
    if (expnt != 0)
        p = ldexpl(p, expnt);
    free(H), free(P), free(T), free(v), free(w);
    return clip01((double)p);
}

static void pomeranz_j1j2(int i, int n, int ll, int ceilf, int roundf, int *j1, int *j2)
{
    int a, b;
    if (i == 0) {
        a = -ll - ceilf - 1;
        b = ll + ceilf - 1;
    } else {
        int half = (i + 1) / 2, odd = (i + 1) % 2 == 0;
        if (odd) {
            if (half == n + 1) {
                a = n - ll - ceilf - 1;
                b = n + ll + ceilf - 1;
            } else {
                a = half - 1 - ll - roundf - 1;
                b = half + ll - 1 + ceilf - 1;
            }
        } else {
            a = half - 1 - ll - 1;
            b = half + ll + roundf - 1;
        }
    }
    *j1 = a + 2 > 0 ? a + 2 : 0;
    *j2 = b < n ? b : n;
}

/* Pr(D_n <= x) by Pomeranz's recursion: rows of Poisson-weighted
 * convolutions over the few reachable states, rescaled against underflow. */
static double kolmogn_pomeranz(int n, double x)
{
    double t = n * x;
    int ll = (int)floor(t);
    double f = t - ll, g = fmin(f, 1.0 - f);
    int ceilf = f > 0, roundf = f > 0.5;
    int np = 2 * (ll + 1);
    double *gp = malloc((size_t)np * sizeof *gp), *g2 = malloc((size_t)np * sizeof *g2),
           *g12 = malloc((size_t)np * sizeof *g12), *A = calloc((size_t)np, sizeof *A),
           *B = calloc((size_t)np, sizeof *B);
    if (!gp || !g2 || !g12 || !A || !B) {
        free(gp), free(g2), free(g12), free(A), free(B);
        return NAN;
    }
    gp[0] = g2[0] = g12[0] = 1.0;
    double go = g / n, g2o = 2 * g / n, g12o = (1 - 2 * g) / n;
    for (int m = 1; m < np; m++) {
        gp[m] = gp[m - 1] * go / m;
        g2[m] = g2[m - 1] * g2o / m;
        g12[m] = g12[m - 1] * g12o / m;
    }
    double *V0 = A, *V1 = B;
    V1[0] = 1;
    int V0s = 0, V1s = 0, j1, j2, expnt = 0;
    pomeranz_j1j2(0, n, ll, ceilf, roundf, &j1, &j2);
    for (int i = 1; i < 2 * n + 2; i++) {
        int k1 = j1;
        double *tmp = V0;
        V0 = V1;
        V1 = tmp;
        int ts = V0s;
        V0s = V1s;
        V1s = ts;
        memset(V1, 0, (size_t)np * sizeof *V1);
        pomeranz_j1j2(i, n, ll, ceilf, roundf, &j1, &j2);
        const double *pw = (i == 1 || i == 2 * n + 1) ? gp : (i % 2 ? g2 : g12);
        int ln2 = j2 - k1 + 1;
        if (ln2 > 0) {
            int s = k1 - V0s, e = s + ln2;
            if (s < 0)
                s = 0;
            if (e > np)
                e = np;
            int len = e > s ? e - s : 0, cstart = j1 - k1, clen = j2 - j1 + 1;
            /* full convolution of V0[s..e) with pw[0..ln2), entries cstart.. */
            double vmax = 0;
            for (int c = 0; c < clen && c < np; c++) {
                int idx = cstart + c;
                long double acc = 0;
                for (int a = 0; a < len; a++) {
                    int b = idx - a;
                    if (b >= 0 && b < ln2 && b < np)
                        acc += (long double)V0[s + a] * pw[b];
                }
                V1[c] = (double)acc;
                if (V1[c] > vmax)
                    vmax = V1[c];
            }
            if (vmax > 0 && vmax < ldexp(1.0, -KS_E128)) {
                for (int c = 0; c < np; c++)
                    V1[c] = ldexp(V1[c], KS_E128);
                expnt -= KS_E128;
            }
            V1s = V0s + j1 - k1;
        }
    }
    int at = n - V1s;
    long double ans = at >= 0 && at < np ? V1[at] : 0;
    for (int m = 1; m <= n; m++) {
        if (fabsl(ans) > ldexpl(1.0L, KS_E128)) {
            ans = ldexpl(ans, -KS_E128);
            expnt += KS_E128;
        }
        ans *= m;
    }
    if (expnt != 0)
        ans = ldexpl(ans, expnt);
    free(gp), free(g2), free(g12), free(A), free(B);
    return clip01((double)ans);
}

/* Pr(D_n <= x) by the Pelz-Good expansion in 1/sqrt(n), its theta-function
 * form for small z = x sqrt(n). Not clipped (as scipy's). */
static double kolmogn_pelzgood(int n, double x)
{
    if (x <= 0.0)
        return 0.0;
    if (x >= 1.0)
        return 1.0;
    const double pi2 = M_PI * M_PI, pi4 = pi2 * pi2, pi6 = pi4 * pi2;
    const double sqrt2pi = sqrt(2 * M_PI);
    double z = sqrt((double)n) * x;
    double z2 = z * z, z3 = z * z * z, z4 = z2 * z2, z6 = z4 * z2;
    double qlog = -pi2 / 8 / z2;
    if (qlog < -708)
        return 0.0;
    double q = exp(qlog);
    double k1a = -z2, k1b = pi2 / 4;
    double k2a = 6 * z6 + 2 * z4, k2b = (2 * z4 - 5 * z2) * pi2 / 4,
           k2c = pi4 * (1 - 2 * z2) / 16;
    double k3d = pi6 * (5 - 30 * z2) / 64, k3c = pi4 * (-60 * z2 + 212 * z4) / 16,
           k3b = pi2 * (135 * z4 - 96 * z6) / 4, k3a = -30 * z6 - 90 * pow(z, 8);
    double K[4] = {0, 0, 0, 0};
    int maxk = (int)ceil(16 * z / M_PI);
    for (int k = maxk; k > 0; k--) {
        double mm = 2.0 * k - 1, m2 = mm * mm, m4 = m2 * m2, m6 = m4 * m2;
        double qp = pow(q, 8 * k);
        double c[4] = {1.0, k1a + k1b * m2, k2a + k2b * m2 + k2c * m4,
                       k3a + k3b * m2 + k3c * m4 + k3d * m6};
        for (int i = 0; i < 4; i++)
            K[i] = K[i] * qp + c[i];
    }
    double den[4] = {z, 6 * z4, 72 * pow(z, 7), 6480 * pow(z, 10)};
    for (int i = 0; i < 4; i++)
        K[i] = K[i] * q * sqrt2pi / den[i];
    q = exp(-pi2 / 2 / z2);
    double s2 = 0, s3 = 0, sz = sqrt(3.0) * z;
    for (int k = maxk; k > 0; k--) {
        double k2 = (double)k * k, qk = pow(q, k2), kp = M_PI * k;
        s2 += k2 * qk;
        s3 += (sz + kp) * (sz - kp) * k2 * qk;
    }
    K[2] += s2 * (pi2 * sqrt2pi / (-36 * z3));
    K[3] += s3 * (pi2 * sqrt2pi / (216 * z6));
    double sum = 0;
    for (int i = 0; i < 4; i++)
        sum += K[i] / pow((double)n, i / 2.0);
    return sum;
}

double stats_kstwo_sf(double x, int n)
{
    if (isnan(x) || n <= 0)
        return NAN;
    if (x >= 1.0)
        return 0.0;
    if (x <= 0.0)
        return 1.0;
    double t = n * x;
    if (t <= 1.0) { /* Ruben-Gambino: 1/2n <= x <= 1/n */
        if (t <= 0.5)
            return 1.0;
        double prob;
        if (n <= 140) {
            prob = 1;
            for (int i = 1; i <= n; i++)
                prob *= i * (1.0 / n) * (2 * t - 1);
        } else {
            prob = exp(log_nfact_div_npow(n) + n * log(2 * t - 1));
        }
        return clip01(1.0 - prob);
    }
    if (t >= n - 1) /* Ruben-Gambino at the top */
        return clip01(2 * pow(1.0 - x, n));
    if (x >= 0.5)
        return clip01(2 * smirnov_sf(n, x));
    double nx2 = t * x;
    if (n <= 140) {
        if (nx2 <= 0.754693)
            return clip01(1.0 - kolmogn_dmtw(n, x));
        if (nx2 <= 4)
            return clip01(1.0 - kolmogn_pomeranz(n, x));
        return clip01(2 * smirnov_sf(n, x));
    }
    if (nx2 >= 370.0)
        return 0.0;
    if (nx2 >= 2.2)
        return clip01(2 * smirnov_sf(n, x));
    double cdf;
    if (nx2 >= 18.0)
        cdf = 1.0;
    else if (n <= 100000 && n * pow(x, 1.5) <= 1.4)
        cdf = kolmogn_dmtw(n, x);
    else
        cdf = kolmogn_pelzgood(n, x);
    return clip01(1.0 - cdf);
}

/* ------------------------------------------- exact two-sample law */

/* Pr(D_{n,n} >= h/n): 2 * sum_k (-1)^(k+1) C(2n, n - kh) / C(2n, n) in
 * Horner form */
static double ks_prob_outside_square(int n, int h)
{
    double P = 0.0;
    for (int k = n / h; k >= 0; k--) {
        double p1 = 1.0;
        for (int j = 0; j < h; j++)
            p1 = (double)(n - k * h - j) * p1 / (double)(n + k * h + j + 1);
        P = p1 * (1.0 - P);
    }
    return 2 * P;
}

static long floor_div(long a, long b)
{
    long q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

static long ceil_div(long a, long b)
{
    return -floor_div(-a, b);
}

/* Pr(D_{m,n} >= h / lcm): one minus the share of lattice paths from (0,0) to
 * (m,n) that stay strictly inside |x/m - y/n| < h/lcm, computed directly as
 * the probability of leaving (one column, a sliding window). */
static double ks_outer_prob_inside(int m, int n, int g, long h)
{
    if (m < n) {
        int t = m;
        m = n;
        n = t;
    }
    long mg = m / g, ng = n / g;
    long minj = 0, maxj = ceil_div(h, mg);
    if (maxj > n + 1)
        maxj = n + 1;
    long curlen = maxj - minj;
    long lenA = 2 * maxj + 2 < n + 1 ? 2 * maxj + 2 : n + 1;
    double *A = malloc((size_t)lenA * sizeof *A);
    if (!A)
        return NAN;
    for (long i = 0; i < lenA; i++)
        A[i] = i >= minj && i < maxj ? 0.0 : 1.0;
    for (long i = 1; i <= m; i++) {
        long lastminj = minj, lastlen = curlen;
        minj = floor_div(ng * i - h, mg) + 1;
        if (minj < 0)
            minj = 0;
        if (minj > n)
            minj = n;
        maxj = ceil_div(ng * i + h, mg);
        if (maxj > n + 1)
            maxj = n + 1;
        if (maxj <= minj) {
            free(A);
            return 1.0;
        }
        double val = minj == 0 ? 0.0 : 1.0;
        for (long jj = 0; jj < maxj - minj; jj++) {
            long j = jj + minj;
            val = (A[jj + minj - lastminj] * (double)i + val * (double)j) / (double)(i + j);
            A[jj] = val;
        }
        curlen = maxj - minj;
        if (lastlen > curlen)
            for (long r = maxj - minj; r < maxj - minj + (lastlen - curlen) && r < lenA; r++)
                A[r] = 1;
    }
    double p = A[maxj - minj - 1];
    free(A);
    return p;
}

static long gcd_l(long a, long b)
{
    while (b) {
        long t = a % b;
        a = b;
        b = t;
    }
    return a;
}

stats_ks stats_ks_2samp(const double *a, int na, const double *b, int nb)
{
    stats_ks r = {NAN, NAN};
    if (na <= 0 || nb <= 0 || !a || !b)
        return r;
    for (int i = 0; i < na; i++)
        if (isnan(a[i]))
            return r;
    for (int i = 0; i < nb; i++)
        if (isnan(b[i]))
            return r;
    double *x = malloc((size_t)na * sizeof *x), *y = malloc((size_t)nb * sizeof *y);
    if (!x || !y) {
        free(x), free(y);
        return r;
    }
    memcpy(x, a, (size_t)na * sizeof *x);
    memcpy(y, b, (size_t)nb * sizeof *y);
    qsort(x, (size_t)na, sizeof *x, cmp_double);
    qsort(y, (size_t)nb, sizeof *y, cmp_double);
    /* the ECDF difference at every observed value, as doubles the way
     * scipy forms them (k1/n1 - k2/n2) */
    double maxS = -INFINITY, minS = INFINITY;
    int i = 0, j = 0;
    while (i < na || j < nb) {
        double v = (j >= nb || (i < na && x[i] <= y[j])) ? x[i] : y[j];
        while (i < na && x[i] <= v)
            i++;
        while (j < nb && y[j] <= v)
            j++;
        double diff = (double)i / na - (double)j / nb;
        if (diff > maxS)
            maxS = diff;
        if (diff < minS)
            minS = diff;
    }
    free(x), free(y);
    double mins = clip01(-minS);
    double d = mins > maxS ? mins : maxS;
    long g = gcd_l(na, nb);
    double p = NAN;
    int exact = (na > nb ? na : nb) <= 10000;
    if (exact) {
        long lcm = (na / g) * (long)nb;
        long h = (long)nearbyint(d * (double)lcm);
        d = (double)h / (double)lcm;
        if (h == 0) {
            p = 1.0;
        } else {
            p = na == nb ? ks_prob_outside_square(na, (int)h)
                         : ks_outer_prob_inside(na, nb, (int)g, h);
            if (!(p >= 0 && p <= 1))
                exact = 0; /* scipy then falls back on the asymptotic law */
        }
    }
    if (!exact) {
        double m = na > nb ? na : nb, n = na > nb ? nb : na;
        double en = m * n / (m + n);
        p = stats_kstwo_sf(d, (int)nearbyint(en));
    }
    r.d = d;
    r.p = clip01(p);
    return r;
}

/* ------------------------------------------------------------------ AUC */

/* numpy's pairwise summation (add.reduce over a contiguous double array),
 * so that the trapezoid sum rounds as sklearn's does */
static double pairwise_sum(const double *a, long n)
{
    if (n < 8) {
        double s = 0.;
        for (long i = 0; i < n; i++)
            s += a[i];
        return s;
    }
    if (n <= 128) {
        double r[8];
        for (int k = 0; k < 8; k++)
            r[k] = a[k];
        long i;
        for (i = 8; i < n - (n % 8); i += 8)
            for (int k = 0; k < 8; k++)
                r[k] += a[i + k];
        double s = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for (; i < n; i++)
            s += a[i];
        return s;
    }
    long n2 = n / 2;
    n2 -= n2 % 8;
    return pairwise_sum(a, n2) + pairwise_sum(a + n2, n - n2);
}

typedef struct {
    double s;
    int pos;
} scored;

static int cmp_scored_desc(const void *a, const void *b)
{
    double x = ((const scored *)a)->s, y = ((const scored *)b)->s;
    return (x < y) - (x > y);
}

/* sklearn's roc_curve (drop_intermediate=True) then auc: the trapezoid rule
 * over the ROC points, ties between scores forming one diagonal step. */
double stats_roc_auc(const double *pos, int npos, const double *neg, int nneg)
{
    if (npos <= 0 || nneg <= 0 || !pos || !neg)
        return NAN;
    long n = (long)npos + nneg;
    scored *s = malloc((size_t)n * sizeof *s);
    double *tps = malloc((size_t)(n + 1) * sizeof *tps), *fps = malloc((size_t)(n + 1) * sizeof *fps);
    if (!s || !tps || !fps) {
        free(s), free(tps), free(fps);
        return NAN;
    }
    for (int i = 0; i < npos; i++)
        s[i] = (scored){pos[i], 1};
    for (int i = 0; i < nneg; i++)
        s[npos + i] = (scored){neg[i], 0};
    for (long i = 0; i < n; i++)
        if (isnan(s[i].s)) {
            free(s), free(tps), free(fps);
            return NAN;
        }
    qsort(s, (size_t)n, sizeof *s, cmp_scored_desc);
    /* one point per distinct score: positives and negatives at or above it */
    long k = 0;
    double tp = 0;
    for (long i = 0; i < n; i++) {
        tp += s[i].pos;
        if (i == n - 1 || s[i + 1].s != s[i].s) {
            tps[k] = tp;
            fps[k] = (double)(i + 1) - tp;
            k++;
        }
    }
    free(s);
    /* drop points collinear with their neighbours (second differences 0) */
    if (k > 2) {
        long w = 1;
        for (long i = 1; i < k - 1; i++) {
            double d2f = fps[i + 1] - 2 * fps[i] + fps[i - 1];
            double d2t = tps[i + 1] - 2 * tps[i] + tps[i - 1];
            if (d2f != 0 || d2t != 0) {
                tps[w] = tps[i];
                fps[w] = fps[i];
                w++;
            }
        }
        tps[w] = tps[k - 1];
        fps[w] = fps[k - 1];
        k = w + 1;
    }
    /* prepend the origin; normalise to rates */
    memmove(tps + 1, tps, (size_t)k * sizeof *tps);
    memmove(fps + 1, fps, (size_t)k * sizeof *fps);
    tps[0] = fps[0] = 0;
    k++;
    double tn = tps[k - 1], fn = fps[k - 1];
    double *term = malloc((size_t)k * sizeof *term);
    if (!term) {
        free(tps), free(fps);
        return NAN;
    }
    for (long i = 0; i < k; i++) {
        tps[i] /= tn;
        fps[i] /= fn;
    }
    for (long i = 0; i + 1 < k; i++)
        term[i] = (fps[i + 1] - fps[i]) * (tps[i + 1] + tps[i]) / 2.0;
    double auc = pairwise_sum(term, k - 1);
    free(term), free(tps), free(fps);
    return auc;
}
