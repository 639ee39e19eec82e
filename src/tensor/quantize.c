/* quantize: ggml's reference quantisers, written from their description.
 * See quantize.h. Every expression keeps the operand order of the reference
 * (float addition is not associative), which is what makes the bytes equal. */
#include "tensor/quantize.h"

#include <float.h>
#include <math.h>
#include <string.h>

#include "tensor/dtype.h"

#define EPS_ZERO 1e-15f /* a group whose largest magnitude is below this is all zero */

static inline int imin(int a, int b) { return a < b ? a : b; }
static inline int imax(int a, int b) { return a > b ? a : b; }

/* Round to nearest, ties to even, for |f| < 2^22: adding 1.5 * 2^23 leaves
 * the rounded integer in the low mantissa bits. */
static inline int round_even(float f)
{
    float v = f + 12582912.f;
    int32_t bits;
    memcpy(&bits, &v, 4);
    return (bits & 0x007fffff) - 0x00400000;
}

/* the reference's MIN(15, ...) and MIN(31, ...); the lower end only matters
 * outside the normal range, where the reference is undefined */
static inline int clamp15(int v) { return imax(0, imin(15, v)); }
static inline int clamp31(int v) { return imax(0, imin(31, v)); }

static inline float h2f(uint16_t h) { return tensor_f16_to_f32(h); }

/* (int)v, defined for every float: the reference casts directly, which is
 * undefined for NaN and out-of-range values (a block of subnormals makes
 * 1/d infinite); in range the result is the same. */
static inline int trunc_int(float v)
{
    if (!(v == v))
        return 0;
    if (v >= 2147483520.f)
        return INT32_MAX;
    if (v <= -2147483648.f)
        return INT32_MIN;
    return (int)v;
}

/* ---- legacy formats: 32 values per block ---- */

/* The value of largest magnitude, keeping its sign (the first one on ties). */
static float signed_absmax(const float *x, int n)
{
    float amax = 0, max = 0;
    for (int j = 0; j < n; j++)
        if (fabsf(x[j]) > amax) {
            amax = fabsf(x[j]);
            max = x[j];
        }
    return max;
}

static void min_max(const float *x, int n, float *mn, float *mx)
{
    float lo = FLT_MAX, hi = -FLT_MAX;
    for (int j = 0; j < n; j++) {
        if (x[j] < lo)
            lo = x[j];
        if (x[j] > hi)
            hi = x[j];
    }
    *mn = lo;
    *mx = hi;
}

void tquant_row_q4_0(const float *x, block_q4_0 *y, int64_t n)
{
    for (int64_t b = 0; b < n / QK; b++, x += QK) {
        /* scale so that the extreme value maps to -8, the end with one more level */
        float d = signed_absmax(x, QK) / -8, id = d ? 1.0f / d : 0.0f;
        y[b].d = tensor_f32_to_f16(d);
        for (int j = 0; j < QK / 2; j++) {
            int lo = clamp15(trunc_int(x[j] * id + 8.5f));
            int hi = clamp15(trunc_int(x[j + QK / 2] * id + 8.5f));
            y[b].qs[j] = (uint8_t)(lo | (hi << 4));
        }
    }
}

void tquant_row_q4_1(const float *x, block_q4_1 *y, int64_t n)
{
    for (int64_t b = 0; b < n / QK; b++, x += QK) {
        float mn, mx;
        min_max(x, QK, &mn, &mx);
        float d = (mx - mn) / 15, id = d ? 1.0f / d : 0.0f;
        y[b].d = tensor_f32_to_f16(d);
        y[b].m = tensor_f32_to_f16(mn);
        for (int j = 0; j < QK / 2; j++) {
            int lo = clamp15(trunc_int((x[j] - mn) * id + 0.5f));
            int hi = clamp15(trunc_int((x[j + QK / 2] - mn) * id + 0.5f));
            y[b].qs[j] = (uint8_t)(lo | (hi << 4));
        }
    }
}

void tquant_row_q5_0(const float *x, block_q5_0 *y, int64_t n)
{
    for (int64_t b = 0; b < n / QK; b++, x += QK) {
        float d = signed_absmax(x, QK) / -16, id = d ? 1.0f / d : 0.0f;
        y[b].d = tensor_f32_to_f16(d);
        uint32_t high = 0;
        for (int j = 0; j < QK / 2; j++) {
            int lo = clamp31(trunc_int(x[j] * id + 16.5f));
            int hi = clamp31(trunc_int(x[j + QK / 2] * id + 16.5f));
            y[b].qs[j] = (uint8_t)((lo & 15) | ((hi & 15) << 4));
            high |= (uint32_t)(lo >> 4 & 1) << j;
            high |= (uint32_t)(hi >> 4 & 1) << (j + QK / 2);
        }
        memcpy(y[b].qh, &high, 4);
    }
}

void tquant_row_q5_1(const float *x, block_q5_1 *y, int64_t n)
{
    for (int64_t b = 0; b < n / QK; b++, x += QK) {
        float mn, mx;
        min_max(x, QK, &mn, &mx);
        float d = (mx - mn) / 31, id = d ? 1.0f / d : 0.0f;
        y[b].d = tensor_f32_to_f16(d);
        y[b].m = tensor_f32_to_f16(mn);
        uint32_t high = 0;
        for (int j = 0; j < QK / 2; j++) {
            int lo = (uint8_t)trunc_int((x[j] - mn) * id + 0.5f);
            int hi = (uint8_t)trunc_int((x[j + QK / 2] - mn) * id + 0.5f);
            y[b].qs[j] = (uint8_t)((lo & 15) | ((hi & 15) << 4));
            high |= (uint32_t)(lo >> 4 & 1) << j;
            high |= (uint32_t)(hi >> 4 & 1) << (j + QK / 2);
        }
        memcpy(y[b].qh, &high, 4);
    }
}

void tquant_row_q8_0(const float *x, block_q8_0 *y, int64_t n)
{
    for (int64_t b = 0; b < n / QK; b++, x += QK) {
        float amax = 0;
        for (int j = 0; j < QK; j++)
            amax = fmaxf(amax, fabsf(x[j]));
        float d = amax / 127, id = d ? 1.0f / d : 0.0f;
        y[b].d = tensor_f32_to_f16(d);
        for (int j = 0; j < QK; j++)
            y[b].qs[j] = (int8_t)trunc_int(roundf(x[j] * id));
    }
}

/* ---- fitting helpers of the K-quants ---- */

/* Symmetric levels -nmax..nmax-1 for n values, weighted by x^2: the scale
 * 1/iscale from the extreme value, then a least-squares scale for it and for
 * 18 nearby iscales, keeping the one that maximises (sum w x l)^2 / sum w l^2.
 * L gets the levels shifted by nmax. Returns the scale. */
static float fit_symmetric(int n, int nmax, const float *x, int8_t *L)
{
    float max = signed_absmax(x, n);
    if (fabsf(max) < EPS_ZERO) {
        memset(L, 0, (size_t)n);
        return 0.f;
    }
    float iscale = -nmax / max;
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; i++) {
        int l = imax(-nmax, imin(nmax - 1, round_even(iscale * x[i])));
        L[i] = (int8_t)(l + nmax);
        float w = x[i] * x[i];
        sumlx += w * x[i] * l;
        suml2 += w * l * l;
    }
    float scale = suml2 ? sumlx / suml2 : 0.0f;
    float best = scale * sumlx;
    for (int is = -9; is <= 9; is++) {
        if (!is)
            continue;
        iscale = -(nmax + 0.1f * is) / max;
        sumlx = suml2 = 0;
        for (int i = 0; i < n; i++) {
            int l = imax(-nmax, imin(nmax - 1, round_even(iscale * x[i])));
            float w = x[i] * x[i];
            sumlx += w * x[i] * l;
            suml2 += w * l * l;
        }
        if (suml2 > 0 && sumlx * sumlx > best * suml2) {
            for (int i = 0; i < n; i++)
                L[i] = (int8_t)(nmax + imax(-nmax, imin(nmax - 1, round_even(iscale * x[i]))));
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    return scale;
}

/* Symmetric levels for Q3_K: start from the extreme value's scale, then up
 * to five passes that move single values to the level that improves the
 * weighted (w = x^2) least-squares fit. L gets levels shifted by nmax (all
 * zero, unshifted, for an all-zero group). */
static float fit_q3(int n, int nmax, const float *x, int8_t *L)
{
    float max = signed_absmax(x, n);
    if (fabsf(max) < EPS_ZERO) {
        memset(L, 0, (size_t)n);
        return 0.f;
    }
    float iscale = -nmax / max;
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; i++) {
        int l = imax(-nmax, imin(nmax - 1, round_even(iscale * x[i])));
        L[i] = (int8_t)l;
        float w = x[i] * x[i];
        sumlx += w * x[i] * l;
        suml2 += w * l * l;
    }
    for (int pass = 0; pass < 5; pass++) {
        int changed = 0;
        for (int i = 0; i < n; i++) {
            float w = x[i] * x[i];
            float slx = sumlx - w * x[i] * L[i];
            if (slx > 0) {
                float sl2 = suml2 - w * L[i] * L[i];
                int nl = imax(-nmax, imin(nmax - 1, round_even(x[i] * sl2 / slx)));
                if (nl != L[i]) {
                    slx += w * x[i] * nl;
                    sl2 += w * nl * nl;
                    if (sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2) {
                        L[i] = (int8_t)nl;
                        sumlx = slx;
                        suml2 = sl2;
                        changed++;
                    }
                }
            }
        }
        if (!changed)
            break;
    }
    for (int i = 0; i < n; i++)
        L[i] = (int8_t)(L[i] + nmax);
    return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

/* Asymmetric levels 0..nmax with a minimum (x ~ scale*l - the_min): start
 * from the range, then try nstep+1 iscales (rmin + rdelta*is + nmax)/range,
 * solving the weighted least squares for scale and minimum at each and
 * keeping the smallest weighted error (absolute when use_mad, squared
 * otherwise). The minimum is kept <= 0 (a nonnegative offset). */
static float fit_scale_min(int n, int nmax, const float *x, const float *w, uint8_t *L,
                           float *the_min, uint8_t *Laux, float rmin, float rdelta, int nstep,
                           int use_mad)
{
    float min = x[0], max = x[0];
    float sum_w = w[0], sum_x = sum_w * x[0];
    for (int i = 1; i < n; i++) {
        if (x[i] < min)
            min = x[i];
        if (x[i] > max)
            max = x[i];
        sum_w += w[i];
        sum_x += w[i] * x[i];
    }
    if (min > 0)
        min = 0;
    if (max == min) {
        memset(L, 0, (size_t)n);
        *the_min = -min;
        return 0.f;
    }
    float iscale = nmax / (max - min), scale = 1 / iscale;
    float best = 0;
    for (int i = 0; i < n; i++) {
        int l = round_even(iscale * (x[i] - min));
        L[i] = (uint8_t)imax(0, imin(nmax, l));
        float diff = scale * L[i] + min - x[i];
        diff = use_mad ? fabsf(diff) : diff * diff;
        best += w[i] * diff;
    }
    if (nstep < 1) {
        *the_min = -min;
        return scale;
    }
    for (int is = 0; is <= nstep; is++) {
        iscale = (rmin + rdelta * is + nmax) / (max - min);
        float sum_l = 0, sum_l2 = 0, sum_xl = 0;
        for (int i = 0; i < n; i++) {
            int l = imax(0, imin(nmax, round_even(iscale * (x[i] - min))));
            Laux[i] = (uint8_t)l;
            sum_l += w[i] * l;
            sum_l2 += w[i] * l * l;
            sum_xl += w[i] * l * x[i];
        }
        float D = sum_w * sum_l2 - sum_l * sum_l;
        if (D > 0) {
            float s = (sum_w * sum_xl - sum_x * sum_l) / D;
            float m = (sum_l2 * sum_x - sum_l * sum_xl) / D;
            if (m > 0) {
                m = 0;
                s = sum_xl / sum_l2;
            }
            float err = 0;
            for (int i = 0; i < n; i++) {
                float diff = s * Laux[i] + m - x[i];
                diff = use_mad ? fabsf(diff) : diff * diff;
                err += w[i] * diff;
            }
            if (err < best) {
                memcpy(L, Laux, (size_t)n);
                best = err;
                scale = s;
                min = m;
            }
        }
    }
    *the_min = -min;
    return scale;
}

/* ---- K-quants: 256 values per super-block ---- */

void tquant_row_q2_k(const float *x, block_q2_k *y, int64_t n)
{
    uint8_t L[QK_K], Laux[16];
    float w[16], mins[QK_K / 16], scales[QK_K / 16];
    for (int64_t b = 0; b < n / QK_K; b++, x += QK_K) {
        float max_scale = 0, max_min = 0;
        for (int j = 0; j < QK_K / 16; j++) {
            for (int l = 0; l < 16; l++)
                w[l] = fabsf(x[16 * j + l]);
            scales[j] = fit_scale_min(16, 3, x + 16 * j, w, L + 16 * j, &mins[j], Laux, -0.5f,
                                      0.1f, 15, 1);
            if (scales[j] > max_scale)
                max_scale = scales[j];
            if (mins[j] > max_min)
                max_min = mins[j];
        }
        /* 4-bit scales and 4-bit minima relative to the super-block's largest */
        if (max_scale > 0) {
            float iscale = 15.f / max_scale;
            for (int j = 0; j < QK_K / 16; j++)
                y[b].scales[j] = (uint8_t)round_even(iscale * scales[j]);
            y[b].d = tensor_f32_to_f16(max_scale / 15.f);
        } else {
            memset(y[b].scales, 0, sizeof y[b].scales);
            y[b].d = tensor_f32_to_f16(0.f);
        }
        if (max_min > 0) {
            float iscale = 15.f / max_min;
            for (int j = 0; j < QK_K / 16; j++)
                y[b].scales[j] = (uint8_t)(y[b].scales[j] | (unsigned)round_even(iscale * mins[j]) << 4);
            y[b].dmin = tensor_f32_to_f16(max_min / 15.f);
        } else {
            y[b].dmin = tensor_f32_to_f16(0.f);
        }
        /* requantise with the scales as stored */
        for (int j = 0; j < QK_K / 16; j++) {
            float d = h2f(y[b].d) * (y[b].scales[j] & 0xF);
            if (!d)
                continue;
            float dm = h2f(y[b].dmin) * (y[b].scales[j] >> 4);
            for (int i = 0; i < 16; i++)
                L[16 * j + i] = (uint8_t)imax(0, imin(3, round_even((x[16 * j + i] + dm) / d)));
        }
        for (int j = 0; j < QK_K; j += 128)
            for (int l = 0; l < 32; l++)
                y[b].qs[j / 4 + l] = (uint8_t)(L[j + l] | L[j + l + 32] << 2 |
                                               L[j + l + 64] << 4 | L[j + l + 96] << 6);
    }
}

void tquant_row_q3_k(const float *x, block_q3_k *y, int64_t n)
{
    int8_t L[QK_K];
    float scales[QK_K / 16];
    for (int64_t b = 0; b < n / QK_K; b++, x += QK_K) {
        float max_scale = 0, amax = 0;
        for (int j = 0; j < QK_K / 16; j++) {
            scales[j] = fit_q3(16, 4, x + 16 * j, L + 16 * j);
            if (fabsf(scales[j]) > amax) {
                amax = fabsf(scales[j]);
                max_scale = scales[j];
            }
        }
        /* 6-bit signed scales: low nibbles in bytes 0..7, two high bits each in 8..11 */
        memset(y[b].scales, 0, 12);
        if (max_scale) {
            float iscale = -32.f / max_scale;
            for (int j = 0; j < QK_K / 16; j++) {
                int8_t l = (int8_t)round_even(iscale * scales[j]);
                l = (int8_t)(imax(-32, imin(31, l)) + 32);
                if (j < 8)
                    y[b].scales[j] = (uint8_t)(l & 0xF);
                else
                    y[b].scales[j - 8] = (uint8_t)(y[b].scales[j - 8] | (l & 0xF) << 4);
                l = (int8_t)(l >> 4);
                y[b].scales[j % 4 + 8] = (uint8_t)(y[b].scales[j % 4 + 8] | l << (2 * (j / 4)));
            }
            y[b].d = tensor_f32_to_f16(1 / iscale);
        } else {
            y[b].d = tensor_f32_to_f16(0.f);
        }
        for (int j = 0; j < QK_K / 16; j++) {
            int lo = j < 8 ? y[b].scales[j] & 0xF : y[b].scales[j - 8] >> 4;
            int sc = (lo | ((y[b].scales[8 + j % 4] >> (2 * (j / 4))) & 3) << 4) - 32;
            float d = h2f(y[b].d) * sc;
            if (!d)
                continue;
            for (int i = 0; i < 16; i++)
                L[16 * j + i] = (int8_t)(imax(-4, imin(3, round_even(x[16 * j + i] / d))) + 4);
        }
        /* the high bit of value j goes to bit j/32 of hmask[j%32] */
        memset(y[b].hmask, 0, QK_K / 8);
        for (int j = 0; j < QK_K; j++)
            if (L[j] > 3) {
                y[b].hmask[j % 32] = (uint8_t)(y[b].hmask[j % 32] | 1 << (j / 32));
                L[j] = (int8_t)(L[j] - 4);
            }
        for (int j = 0; j < QK_K; j += 128)
            for (int l = 0; l < 32; l++)
                y[b].qs[j / 4 + l] = (uint8_t)(L[j + l] | L[j + l + 32] << 2 |
                                               L[j + l + 64] << 4 | L[j + l + 96] << 6);
    }
}

/* Packs eight 6-bit scales and minima into the 12 bytes of Q4_K/Q5_K. */
static void pack_k4_scales(uint8_t *q, const uint8_t *ls, const uint8_t *lm)
{
    for (int j = 0; j < 8; j++) {
        if (j < 4) {
            q[j] = ls[j];
            q[j + 4] = lm[j];
        } else {
            q[j + 4] = (uint8_t)((ls[j] & 0xF) | (lm[j] & 0xF) << 4);
            q[j - 4] = (uint8_t)(q[j - 4] | (ls[j] >> 4) << 6);
            q[j] = (uint8_t)(q[j] | (lm[j] >> 4) << 6);
        }
    }
}

/* Q4_K and Q5_K share the scale fit: nmax 15 or 31. L gets the levels. */
static void k45_block(const float *x, int nmax, float rmin, float rdelta, int nstep,
                      uint8_t *scales_out, uint16_t *d_out, uint16_t *dmin_out, uint8_t *L)
{
    uint8_t Laux[32], ls[8], lm[8];
    float w[32], mins[8], scales[8];
    float max_scale = 0, max_min = 0;
    for (int j = 0; j < 8; j++) {
        float sum_x2 = 0;
        for (int l = 0; l < 32; l++)
            sum_x2 += x[32 * j + l] * x[32 * j + l];
        float av_x = sqrtf(sum_x2 / 32);
        for (int l = 0; l < 32; l++)
            w[l] = av_x + fabsf(x[32 * j + l]);
        scales[j] = fit_scale_min(32, nmax, x + 32 * j, w, L + 32 * j, &mins[j], Laux, rmin,
                                  rdelta, nstep, 0);
        if (scales[j] > max_scale)
            max_scale = scales[j];
        if (mins[j] > max_min)
            max_min = mins[j];
    }
    float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
    float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
    for (int j = 0; j < 8; j++) {
        uint8_t s = (uint8_t)round_even(inv_scale * scales[j]);
        uint8_t m = (uint8_t)round_even(inv_min * mins[j]);
        ls[j] = s < 63 ? s : 63;
        lm[j] = m < 63 ? m : 63;
    }
    pack_k4_scales(scales_out, ls, lm);
    *d_out = tensor_f32_to_f16(max_scale / 63.f);
    *dmin_out = tensor_f32_to_f16(max_min / 63.f);
    for (int j = 0; j < 8; j++) {
        uint8_t sc, m;
        quant_k4_scale_min(j, scales_out, &sc, &m);
        float d = h2f(*d_out) * sc;
        if (!d)
            continue;
        float dm = h2f(*dmin_out) * m;
        for (int i = 0; i < 32; i++)
            L[32 * j + i] = (uint8_t)imax(0, imin(nmax, round_even((x[32 * j + i] + dm) / d)));
    }
}

void tquant_row_q4_k(const float *x, block_q4_k *y, int64_t n)
{
    uint8_t L[QK_K];
    for (int64_t b = 0; b < n / QK_K; b++, x += QK_K) {
        k45_block(x, 15, -1.f, 0.1f, 20, y[b].scales, &y[b].d, &y[b].dmin, L);
        uint8_t *q = y[b].qs;
        for (int j = 0; j < QK_K; j += 64, q += 32)
            for (int l = 0; l < 32; l++)
                q[l] = (uint8_t)(L[j + l] | L[j + l + 32] << 4);
    }
}

void tquant_row_q5_k(const float *x, block_q5_k *y, int64_t n)
{
    uint8_t L[QK_K];
    for (int64_t b = 0; b < n / QK_K; b++, x += QK_K) {
        k45_block(x, 31, -0.5f, 0.1f, 15, y[b].scales, &y[b].d, &y[b].dmin, L);
        uint8_t *qh = y[b].qh, *ql = y[b].qs;
        memset(qh, 0, QK_K / 8);
        /* pair p (values 64p..64p+63): low nibbles in ql, fifth bits in bits 2p, 2p+1 of qh */
        for (int p = 0; p < QK_K / 64; p++, ql += 32)
            for (int j = 0; j < 32; j++) {
                int a = L[64 * p + j], c = L[64 * p + j + 32];
                if (a > 15) {
                    a -= 16;
                    qh[j] = (uint8_t)(qh[j] | 1 << (2 * p));
                }
                if (c > 15) {
                    c -= 16;
                    qh[j] = (uint8_t)(qh[j] | 2 << (2 * p));
                }
                ql[j] = (uint8_t)(a | c << 4);
            }
    }
}

void tquant_row_q6_k(const float *x, block_q6_k *y, int64_t n)
{
    int8_t L[QK_K];
    float scales[QK_K / 16];
    for (int64_t b = 0; b < n / QK_K; b++, x += QK_K) {
        float max_scale = 0, max_abs = 0;
        for (int j = 0; j < QK_K / 16; j++) {
            scales[j] = fit_symmetric(16, 32, x + 16 * j, L + 16 * j);
            if (fabsf(scales[j]) > max_abs) {
                max_abs = fabsf(scales[j]);
                max_scale = scales[j];
            }
        }
        if (max_abs < EPS_ZERO) {
            memset(&y[b], 0, sizeof y[b]);
            continue;
        }
        float iscale = -128.f / max_scale;
        y[b].d = tensor_f32_to_f16(1 / iscale);
        for (int j = 0; j < QK_K / 16; j++)
            y[b].scales[j] = (int8_t)imin(127, round_even(iscale * scales[j]));
        for (int j = 0; j < QK_K / 16; j++) {
            float d = h2f(y[b].d) * y[b].scales[j];
            if (!d)
                continue;
            for (int i = 0; i < 16; i++)
                L[16 * j + i] = (int8_t)(imax(-32, imin(31, round_even(x[16 * j + i] / d))) + 32);
        }
        uint8_t *ql = y[b].ql, *qh = y[b].qh;
        for (int j = 0; j < QK_K; j += 128, ql += 64, qh += 32)
            for (int l = 0; l < 32; l++) {
                int q1 = L[j + l], q2 = L[j + l + 32], q3 = L[j + l + 64], q4 = L[j + l + 96];
                ql[l] = (uint8_t)((q1 & 0xF) | (q3 & 0xF) << 4);
                ql[l + 32] = (uint8_t)((q2 & 0xF) | (q4 & 0xF) << 4);
                qh[l] = (uint8_t)(q1 >> 4 | (q2 >> 4) << 2 | (q3 >> 4) << 4 | (q4 >> 4) << 6);
            }
    }
}

/* ---- rows of any writable type ---- */

int tquant_can_write(uint32_t type)
{
    switch (type) {
    case TENSOR_F32: case TENSOR_F16: case TENSOR_BF16: case TENSOR_Q4_0: case TENSOR_Q4_1:
    case TENSOR_Q5_0: case TENSOR_Q5_1: case TENSOR_Q8_0: case TENSOR_Q2_K: case TENSOR_Q3_K:
    case TENSOR_Q4_K: case TENSOR_Q5_K: case TENSOR_Q6_K:
        return 1;
    default:
        return 0;
    }
}

static int block_type(uint32_t t) { return t != TENSOR_F32 && t != TENSOR_F16 && t != TENSOR_BF16; }

static int row_finite(const float *x, int64_t n)
{
    int ok = 1;
    for (int64_t i = 0; i < n; i++)
        ok &= isfinite(x[i]) != 0;
    return ok;
}

static void quant_one_row(uint32_t type, const float *x, void *y, int64_t n)
{
    switch (type) {
    case TENSOR_F32: memcpy(y, x, (size_t)n * 4); break;
    case TENSOR_F16:
        for (int64_t i = 0; i < n; i++)
            ((uint16_t *)y)[i] = tensor_f32_to_f16(x[i]);
        break;
    case TENSOR_BF16:
        for (int64_t i = 0; i < n; i++)
            ((uint16_t *)y)[i] = tensor_f32_to_bf16(x[i]);
        break;
    case TENSOR_Q4_0: tquant_row_q4_0(x, y, n); break;
    case TENSOR_Q4_1: tquant_row_q4_1(x, y, n); break;
    case TENSOR_Q5_0: tquant_row_q5_0(x, y, n); break;
    case TENSOR_Q5_1: tquant_row_q5_1(x, y, n); break;
    case TENSOR_Q8_0: tquant_row_q8_0(x, y, n); break;
    case TENSOR_Q2_K: tquant_row_q2_k(x, y, n); break;
    case TENSOR_Q3_K: tquant_row_q3_k(x, y, n); break;
    case TENSOR_Q4_K: tquant_row_q4_k(x, y, n); break;
    case TENSOR_Q5_K: tquant_row_q5_k(x, y, n); break;
    case TENSOR_Q6_K: tquant_row_q6_k(x, y, n); break;
    default: break;
    }
}

typedef struct {
    uint32_t type;
    const float *src;
    uint8_t *dst;
    int64_t n, row_bytes;
    int bad; /* set when a row holds NaN or infinity */
} rows_job;

static void rows_range(void *arg, int64_t begin, int64_t end, int ith)
{
    (void)ith;
    rows_job *j = arg;
    for (int64_t r = begin; r < end; r++) {
        const float *x = j->src + r * j->n;
        if (block_type(j->type) && !row_finite(x, j->n)) {
            memset(j->dst + r * j->row_bytes, 0, (size_t)j->row_bytes);
            __atomic_store_n(&j->bad, 1, __ATOMIC_RELAXED);
            continue;
        }
        quant_one_row(j->type, x, j->dst + r * j->row_bytes, j->n);
    }
}

int tquant_rows_mt(pool *p, uint32_t type, const float *src, void *dst, int64_t nrows,
                   int64_t n_per_row)
{
    int64_t rb = tensor_row_bytes(type, n_per_row);
    if (!tquant_can_write(type) || rb < 0 || nrows < 0)
        return -1;
    rows_job j = {type, src, dst, n_per_row, rb, 0};
    int64_t grain = n_per_row >= 4096 ? 1 : 4096 / (n_per_row ? n_per_row : 1);
    pool_for(p, nrows, grain, rows_range, &j);
    return j.bad ? -2 : 0;
}

int tquant_rows(uint32_t type, const float *src, void *dst, int64_t nrows, int64_t n_per_row)
{
    return tquant_rows_mt(NULL, type, src, dst, nrows, n_per_row);
}
