/* qdot kernels for AVX-512 (F/BW/VL/DQ): the activation quantisers, and the
 * products with AVX-512 VNNI (vpdpbusd on 256-bit vectors). The avx512 level
 * pairs these quantisers with the AVX2 products (qdot_avx2.c). */
#if defined(__x86_64__)
#include <immintrin.h>
#include <string.h>

#include "tensor/qunpack.h"
#include "tensor/x86/qdot_x86.h"

#define VNNIQ __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,f16c")))

/* The same roundings as quant_qa and quant_q8_k_row, sixteen values at a time. */
VNNIQ static void quant_qa_avx512(const float *x, qa_block *y, int64_t n)
{
    const __m512 absmask = _mm512_castsi512_ps(_mm512_set1_epi32(0x7fffffff));
    for (int64_t b = 0; b < n / QK; b++, x += QK) {
        __m512 v0 = _mm512_loadu_ps(x), v1 = _mm512_loadu_ps(x + 16);
        float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_and_ps(v0, absmask),
                                                        _mm512_and_ps(v1, absmask)));
        float id = amax ? 127.f / amax : 0.f;
        __m512 vid = _mm512_set1_ps(id);
        __m512i q0 = _mm512_cvt_roundps_epi32(_mm512_mul_ps(v0, vid), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        __m512i q1 = _mm512_cvt_roundps_epi32(_mm512_mul_ps(v1, vid), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        _mm_storeu_si128((__m128i *)y[b].qs, _mm512_cvtsepi32_epi8(q0));
        _mm_storeu_si128((__m128i *)(y[b].qs + 16), _mm512_cvtsepi32_epi8(q1));
        y[b].sum = _mm512_reduce_add_epi32(_mm512_add_epi32(q0, q1));
        y[b].d = _cvtsh_ss(_cvtss_sh(amax / 127.f, _MM_FROUND_TO_NEAREST_INT));
    }
}

VNNIQ static void quant_q8_k_avx512(const float *x, block_q8_k *y, int64_t n)
{
    const __m512 absmask = _mm512_castsi512_ps(_mm512_set1_epi32(0x7fffffff));
    for (int64_t b = 0; b < n / QK_K; b++, x += QK_K) {
        __m512 m = _mm512_setzero_ps();
        for (int i = 0; i < QK_K; i += 16)
            m = _mm512_max_ps(m, _mm512_and_ps(_mm512_loadu_ps(x + i), absmask));
        float amax = _mm512_reduce_max_ps(m);
        if (amax == 0) {
            memset(&y[b], 0, sizeof y[b]);
            continue;
        }
        float max = 0; /* the first value of largest magnitude, with its sign */
        for (int i = 0; i < QK_K; i += 16) {
            __mmask16 k = _mm512_cmp_ps_mask(_mm512_and_ps(_mm512_loadu_ps(x + i), absmask),
                                             _mm512_set1_ps(amax), _CMP_EQ_OQ);
            if (k) {
                max = x[i + __builtin_ctz(k)];
                break;
            }
        }
        float iscale = -127.f / max;
        __m512 vs = _mm512_set1_ps(iscale);
        for (int i = 0; i < QK_K; i += 16) {
            __m512i q = _mm512_cvt_roundps_epi32(_mm512_mul_ps(_mm512_loadu_ps(x + i), vs),
                                                 _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
            q = _mm512_min_epi32(q, _mm512_set1_epi32(127));
            _mm_storeu_si128((__m128i *)(y[b].qs + i), _mm512_cvtsepi32_epi8(q));
            y[b].bsums[i / 16] = (int16_t)_mm512_reduce_add_epi32(q);
        }
        y[b].d = 1 / iscale;
    }
}

/* ---- AVX-512 VNNI kernels (256-bit vectors) ---- */

#define VNNI __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx512dq,avx2,fma,f16c")))

/* f16 to f32 in one instruction (F16C comes with every AVX-512 CPU). */
VNNI static inline float hf(uint16_t h) { return _cvtsh_ss(h); }

VNNI static inline float hsum8(__m256 v)
{
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    h = _mm_add_ss(h, _mm_movehdup_ps(h));
    return _mm_cvtss_f32(h);
}

VNNI static float v_q8_0(const block_q8_0 *w, const qa_block *a, int64_t nb)
{
    __m256 acc = _mm256_setzero_ps(), acc2 = _mm256_setzero_ps();
    int64_t b = 0;
    for (; b + 2 <= nb; b += 2) {
        __m256i w0 = _mm256_loadu_si256((const __m256i *)w[b].qs);
        __m256i x0 = _mm256_loadu_si256((const __m256i *)a[b].qs);
        __m256i w1 = _mm256_loadu_si256((const __m256i *)w[b + 1].qs);
        __m256i x1 = _mm256_loadu_si256((const __m256i *)a[b + 1].qs);
        __m256i d0 = _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_sign_epi8(w0, w0),
                                         _mm256_sign_epi8(x0, w0));
        __m256i d1 = _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_sign_epi8(w1, w1),
                                         _mm256_sign_epi8(x1, w1));
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(d0), _mm256_set1_ps(hf(w[b].d) * a[b].d), acc);
        acc2 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(d1), _mm256_set1_ps(hf(w[b + 1].d) * a[b + 1].d), acc2);
    }
    acc = _mm256_add_ps(acc, acc2);
    for (; b < nb; b++) {
        __m256i wv = _mm256_loadu_si256((const __m256i *)w[b].qs);
        __m256i xv = _mm256_loadu_si256((const __m256i *)a[b].qs);
        __m256i d = _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_sign_epi8(wv, wv),
                                        _mm256_sign_epi8(xv, wv));
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(d), _mm256_set1_ps(hf(w[b].d) * a[b].d), acc);
    }
    return hsum8(acc);
}

VNNI static inline __m256i nibbles(const uint8_t *qs)
{
    __m128i q = _mm_loadu_si128((const __m128i *)qs), m = _mm_set1_epi8(0x0F);
    return _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(q, 4), m), _mm_and_si128(q, m));
}

VNNI static float v_q4_0(const block_q4_0 *w, const qa_block *a, int64_t nb)
{
    __m256 acc = _mm256_setzero_ps();
    float corr = 0;
    for (int64_t b = 0; b < nb; b++) {
        __m256i d = _mm256_dpbusd_epi32(_mm256_setzero_si256(), nibbles(w[b].qs),
                                        _mm256_loadu_si256((const __m256i *)a[b].qs));
        float dd = hf(w[b].d) * a[b].d;
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(d), _mm256_set1_ps(dd), acc);
        corr += dd * (float)(8 * a[b].sum);
    }
    return hsum8(acc) - corr;
}

VNNI static float v_q5_0(const block_q5_0 *w, const qa_block *a, int64_t nb)
{
    __m256 acc = _mm256_setzero_ps();
    float corr = 0;
    for (int64_t b = 0; b < nb; b++) {
        uint32_t qh;
        memcpy(&qh, w[b].qh, 4);
        __m256i q = _mm256_or_si256(nibbles(w[b].qs), _mm256_maskz_mov_epi8(qh, _mm256_set1_epi8(0x10)));
        __m256i d = _mm256_dpbusd_epi32(_mm256_setzero_si256(), q,
                                        _mm256_loadu_si256((const __m256i *)a[b].qs));
        float dd = hf(w[b].d) * a[b].d;
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(d), _mm256_set1_ps(dd), acc);
        corr += dd * (float)(16 * a[b].sum);
    }
    return hsum8(acc) - corr;
}

VNNI static float v_q45_k(const uint8_t *scales, const uint8_t *qs, const uint8_t *qh,
                          uint16_t d16, uint16_t dmin16, const block_q8_k *a, __m256 *acc)
{
    const __m256i m4 = _mm256_set1_epi8(0x0F), one = _mm256_set1_epi8(1);
    __m256i isum = _mm256_setzero_si256();
    __m256i hv = qh ? _mm256_loadu_si256((const __m256i *)qh) : _mm256_setzero_si256();
    int msum = 0;
    for (int p = 0; p < 4; p++) {
        uint8_t s0, m0, s1, m1;
        quant_k4_scale_min(2 * p, scales, &s0, &m0);
        quant_k4_scale_min(2 * p + 1, scales, &s1, &m1);
        __m256i qv = _mm256_loadu_si256((const __m256i *)(qs + 32 * p));
        __m256i lo = _mm256_and_si256(qv, m4);
        __m256i hi = _mm256_and_si256(_mm256_srli_epi16(qv, 4), m4);
        if (qh) {
            __m256i b0 = _mm256_and_si256(_mm256_srli_epi16(hv, 2 * p), one);
            __m256i b1 = _mm256_and_si256(_mm256_srli_epi16(hv, 2 * p + 1), one);
            lo = _mm256_or_si256(lo, _mm256_slli_epi16(b0, 4));
            hi = _mm256_or_si256(hi, _mm256_slli_epi16(b1, 4));
        }
        __m256i d0 = _mm256_dpbusd_epi32(_mm256_setzero_si256(), lo,
                                         _mm256_loadu_si256((const __m256i *)(a->qs + 64 * p)));
        __m256i d1 = _mm256_dpbusd_epi32(_mm256_setzero_si256(), hi,
                                         _mm256_loadu_si256((const __m256i *)(a->qs + 64 * p + 32)));
        isum = _mm256_add_epi32(isum, _mm256_mullo_epi32(d0, _mm256_set1_epi32(s0)));
        isum = _mm256_add_epi32(isum, _mm256_mullo_epi32(d1, _mm256_set1_epi32(s1)));
        msum += m0 * (a->bsums[4 * p] + a->bsums[4 * p + 1]) +
                m1 * (a->bsums[4 * p + 2] + a->bsums[4 * p + 3]);
    }
    *acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_set1_ps(hf(d16) * a->d), *acc);
    return hf(dmin16) * a->d * (float)msum;
}

VNNI static float v_q4_k(const block_q4_k *w, const block_q8_k *a, int64_t nb)
{
    __m256 acc = _mm256_setzero_ps();
    float corr = 0;
    for (int64_t b = 0; b < nb; b++)
        corr += v_q45_k(w[b].scales, w[b].qs, NULL, w[b].d, w[b].dmin, &a[b], &acc);
    return hsum8(acc) - corr;
}

VNNI static float v_q5_k(const block_q5_k *w, const block_q8_k *a, int64_t nb)
{
    __m256 acc = _mm256_setzero_ps();
    float corr = 0;
    for (int64_t b = 0; b < nb; b++)
        corr += v_q45_k(w[b].scales, w[b].qs, w[b].qh, w[b].d, w[b].dmin, &a[b], &acc);
    return hsum8(acc) - corr;
}

VNNI static float v_q6_k(const block_q6_k *w, const block_q8_k *a, int64_t nb)
{
    __m256 acc = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        __m256i isum = _mm256_setzero_si256();
        int corr = 0;
        for (int h = 0; h < 2; h++) {
            const uint8_t *ql = w[b].ql + 64 * h, *qh = w[b].qh + 32 * h;
            const int8_t *sc = w[b].scales + 8 * h, *x = a[b].qs + 128 * h;
            __m256i q[4];
            qunpack_q6_k_half(ql, qh, q);
            for (int k = 0; k < 4; k++) {
                __m256i d = _mm256_dpbusd_epi32(_mm256_setzero_si256(), q[k],
                                                _mm256_loadu_si256((const __m256i *)(x + 32 * k)));
                int s0 = sc[2 * k], s1 = sc[2 * k + 1];
                isum = _mm256_add_epi32(isum, _mm256_mullo_epi32(d, _mm256_setr_epi32(s0, s0, s0, s0, s1, s1, s1, s1)));
                corr += s0 * a[b].bsums[8 * h + 2 * k] + s1 * a[b].bsums[8 * h + 2 * k + 1];
            }
        }
        isum = _mm256_sub_epi32(isum, _mm256_setr_epi32(32 * corr, 0, 0, 0, 0, 0, 0, 0));
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_set1_ps(hf(w[b].d) * a[b].d), acc);
    }
    return hsum8(acc);
}

/* Four activation rows against one weight row: the weight block is decoded
 * once, the four integer dots are reduced to one 4-lane vector and scaled
 * with the activations' block scales read four at a time (transposed by
 * the caller), so no scalar work remains per block and token. */
VNNI static inline __attribute__((always_inline)) void v4_q32(uint32_t t, const void *wrow,
                                                              const char *act, size_t stride,
                                                              const qdot_scales *sc, int64_t t0,
                                                              int64_t nb, float *out)
{
    __m128 acc = _mm_setzero_ps(), cacc = _mm_setzero_ps();
    const qa_block *a0 = (const qa_block *)act, *a1 = (const qa_block *)(act + stride);
    const qa_block *a2 = (const qa_block *)(act + 2 * stride), *a3 = (const qa_block *)(act + 3 * stride);
    const __m256i z = _mm256_setzero_si256();
    for (int64_t b = 0; b < nb; b++) {
        __m256i u, wv = z;
        float dw;
        int bias = 0;
        if (t == TENSOR_Q8_0) {
            const block_q8_0 *w = (const block_q8_0 *)wrow + b;
            wv = _mm256_loadu_si256((const __m256i *)w->qs);
            u = _mm256_sign_epi8(wv, wv);
            dw = hf(w->d);
        } else if (t == TENSOR_Q4_0) {
            const block_q4_0 *w = (const block_q4_0 *)wrow + b;
            u = nibbles(w->qs);
            dw = hf(w->d);
            bias = 8;
        } else {
            const block_q5_0 *w = (const block_q5_0 *)wrow + b;
            uint32_t qh;
            memcpy(&qh, w->qh, 4);
            u = _mm256_or_si256(nibbles(w->qs), _mm256_maskz_mov_epi8(qh, _mm256_set1_epi8(0x10)));
            dw = hf(w->d);
            bias = 16;
        }
        __m256i x0 = _mm256_loadu_si256((const __m256i *)a0[b].qs);
        __m256i x1 = _mm256_loadu_si256((const __m256i *)a1[b].qs);
        __m256i x2 = _mm256_loadu_si256((const __m256i *)a2[b].qs);
        __m256i x3 = _mm256_loadu_si256((const __m256i *)a3[b].qs);
        if (t == TENSOR_Q8_0) {
            x0 = _mm256_sign_epi8(x0, wv);
            x1 = _mm256_sign_epi8(x1, wv);
            x2 = _mm256_sign_epi8(x2, wv);
            x3 = _mm256_sign_epi8(x3, wv);
        }
        __m256i d01 = _mm256_hadd_epi32(_mm256_dpbusd_epi32(z, u, x0), _mm256_dpbusd_epi32(z, u, x1));
        __m256i d23 = _mm256_hadd_epi32(_mm256_dpbusd_epi32(z, u, x2), _mm256_dpbusd_epi32(z, u, x3));
        __m256i d = _mm256_hadd_epi32(d01, d23);
        __m128i r = _mm_add_epi32(_mm256_castsi256_si128(d), _mm256_extracti128_si256(d, 1));
        __m128 vdw = _mm_set1_ps(dw);
        const float *scb = sc->sc + b * sc->npad + t0;
        acc = _mm_fmadd_ps(_mm_cvtepi32_ps(r), _mm_mul_ps(vdw, _mm_loadu_ps(scb)), acc);
        if (bias)
            cacc = _mm_fmadd_ps(_mm_loadu_ps(sc->scs + b * sc->npad + t0),
                                _mm_mul_ps(vdw, _mm_set1_ps((float)bias)), cacc);
    }
    _mm_storeu_ps(out, _mm_sub_ps(acc, cacc));
}

/* one specialised copy per type (the type test folds away) */
VNNI static void v4_q8_0(const void *w, const char *act, size_t stride, const qdot_scales *sc,
                         int64_t t0, int64_t nb, float *out)
{
    v4_q32(TENSOR_Q8_0, w, act, stride, sc, t0, nb, out);
}
VNNI static void v4_q4_0(const void *w, const char *act, size_t stride, const qdot_scales *sc,
                         int64_t t0, int64_t nb, float *out)
{
    v4_q32(TENSOR_Q4_0, w, act, stride, sc, t0, nb, out);
}
VNNI static void v4_q5_0(const void *w, const char *act, size_t stride, const qdot_scales *sc,
                         int64_t t0, int64_t nb, float *out)
{
    v4_q32(TENSOR_Q5_0, w, act, stride, sc, t0, nb, out);
}

/* K-quants, four activation rows: u8 x s8 pairs with vpmaddubsw, then the
 * sub-block scales applied by vpdpwssd in the same step; the minimum and
 * offset terms come from the activations' 16-value group sums, all kept in
 * vectors and reduced once per row. */
VNNI static void v4_q4_k(const block_q4_k *w, const char *act, size_t stride, int64_t nb, float *out)
{
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    for (int64_t b = 0; b < nb; b++) {
        uint8_t sc[8], mn[8];
        for (int j = 0; j < 8; j++)
            quant_k4_scale_min(j, w[b].scales, &sc[j], &mn[j]);
        __m256i lo[4], hi[4], s16[8];
        for (int p = 0; p < 4; p++) {
            __m256i qv = _mm256_loadu_si256((const __m256i *)(w[b].qs + 32 * p));
            lo[p] = _mm256_and_si256(qv, m4);
            hi[p] = _mm256_and_si256(_mm256_srli_epi16(qv, 4), m4);
        }
        for (int j = 0; j < 8; j++)
            s16[j] = _mm256_set1_epi16(sc[j]);
        /* mins per 16-value group: group g belongs to sub-block g / 2 */
        __m256i m16 = _mm256_setr_epi16(mn[0], mn[0], mn[1], mn[1], mn[2], mn[2], mn[3], mn[3],
                                        mn[4], mn[4], mn[5], mn[5], mn[6], mn[6], mn[7], mn[7]);
        float d = hf(w[b].d), dmin = hf(w[b].dmin);
        for (int k = 0; k < 4; k++) {
            const block_q8_k *a = (const block_q8_k *)(act + (size_t)k * stride) + b;
            __m256i isum = _mm256_setzero_si256();
            for (int p = 0; p < 4; p++) {
                __m256i x0 = _mm256_loadu_si256((const __m256i *)(a->qs + 64 * p));
                __m256i x1 = _mm256_loadu_si256((const __m256i *)(a->qs + 64 * p + 32));
                isum = _mm256_dpwssd_epi32(isum, _mm256_maddubs_epi16(lo[p], x0), s16[2 * p]);
                isum = _mm256_dpwssd_epi32(isum, _mm256_maddubs_epi16(hi[p], x1), s16[2 * p + 1]);
            }
            __m256i msum = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)a->bsums), m16);
            acc[k] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_set1_ps(d * a->d), acc[k]);
            acc[k] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(msum), _mm256_set1_ps(-dmin * a->d), acc[k]);
        }
    }
    for (int k = 0; k < 4; k++)
        out[k] = hsum8(acc[k]);
}

VNNI static void v4_q6_k(const block_q6_k *w, const char *act, size_t stride, int64_t nb, float *out)
{
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    for (int64_t b = 0; b < nb; b++) {
        __m256i q[2][4], s16[2][4];
        for (int h = 0; h < 2; h++) {
            const uint8_t *ql = w[b].ql + 64 * h, *qh = w[b].qh + 32 * h;
            const int8_t *sc = w[b].scales + 8 * h;
            qunpack_q6_k_half(ql, qh, q[h]);
            for (int k = 0; k < 4; k++)
                s16[h][k] = _mm256_set_m128i(_mm_set1_epi16(sc[2 * k + 1]), _mm_set1_epi16(sc[2 * k]));
        }
        /* the -32 offset: 32 * sum over groups of scale * group sum */
        __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)w[b].scales));
        float d = hf(w[b].d);
        for (int t = 0; t < 4; t++) {
            const block_q8_k *a = (const block_q8_k *)(act + (size_t)t * stride) + b;
            __m256i isum = _mm256_setzero_si256();
            for (int h = 0; h < 2; h++)
                for (int k = 0; k < 4; k++) {
                    __m256i x = _mm256_loadu_si256((const __m256i *)(a->qs + 128 * h + 32 * k));
                    isum = _mm256_dpwssd_epi32(isum, _mm256_maddubs_epi16(q[h][k], x), s16[h][k]);
                }
            __m256i off = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)a->bsums), sc16);
            isum = _mm256_sub_epi32(isum, _mm256_slli_epi32(off, 5));
            acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_set1_ps(d * a->d), acc[t]);
        }
    }
    for (int k = 0; k < 4; k++)
        out[k] = hsum8(acc[k]);
}

static int rows4_vnni(uint32_t t, const void *w, const void *act, size_t stride, int64_t n,
                      const qdot_scales *sc, int64_t t0, float *out)
{
    switch (t) {
    case TENSOR_Q8_0: if (!sc) return 0; v4_q8_0(w, act, stride, sc, t0, n / QK, out); return 1;
    case TENSOR_Q4_0: if (!sc) return 0; v4_q4_0(w, act, stride, sc, t0, n / QK, out); return 1;
    case TENSOR_Q5_0: if (!sc) return 0; v4_q5_0(w, act, stride, sc, t0, n / QK, out); return 1;
    case TENSOR_Q4_K: v4_q4_k(w, act, stride, n / QK_K, out); return 1;
    case TENSOR_Q6_K: v4_q6_k(w, act, stride, n / QK_K, out); return 1;
    default: return 0;
    }
}

static float row_vnni(uint32_t t, const void *w, const void *act, int64_t n)
{
    switch (t) {
    case TENSOR_Q8_0: return v_q8_0(w, act, n / QK);
    case TENSOR_Q4_0: return v_q4_0(w, act, n / QK);
    case TENSOR_Q5_0: return v_q5_0(w, act, n / QK);
    case TENSOR_Q4_K: return v_q4_k(w, act, n / QK_K);
    case TENSOR_Q5_K: return v_q5_k(w, act, n / QK_K);
    case TENSOR_Q6_K: return v_q6_k(w, act, n / QK_K);
    default: return 0;
    }
}

const qdot_kernels qdot_kernels_avx512 = {"avx512", quant_qa_avx512, quant_q8_k_avx512,
                                          qdot_avx2_row, qdot_avx2_rows4};
const qdot_kernels qdot_kernels_vnni = {"vnni", quant_qa_avx512, quant_q8_k_avx512, row_vnni,
                                        rows4_vnni};

#endif
