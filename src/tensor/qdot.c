#include "tensor/qdot.h"
#include "tensor/qunpack.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif
#include <math.h>
#include <string.h>

#define H(x) tensor_f16_to_f32(x)

#include "base/isa.h"
#include "tensor/arm/arm.h"

int qdot_supported(uint32_t t)
{
    return t == TENSOR_Q4_0 || t == TENSOR_Q5_0 || t == TENSOR_Q8_0 || t == TENSOR_Q4_K ||
           t == TENSOR_Q5_K || t == TENSOR_Q6_K;
}

static int k_quant(uint32_t t)
{
    return t == TENSOR_Q4_K || t == TENSOR_Q5_K || t == TENSOR_Q6_K;
}

size_t qdot_act_bytes(uint32_t t, int64_t n)
{
    return k_quant(t) ? (size_t)(n / QK_K) * sizeof(block_q8_k) : (size_t)(n / QK) * sizeof(qa_block);
}

static void quant_qa(const float *x, qa_block *y, int64_t n)
{
    for (int64_t b = 0; b < n / QK; b++, x += QK) {
        float amax = 0;
        for (int j = 0; j < QK; j++)
            amax = fmaxf(amax, fabsf(x[j]));
        /* as ggml's q8_0: scale kept in f16, values rounded half to even */
        float id = amax ? 127.f / amax : 0.f;
        int sum = 0;
        for (int j = 0; j < QK; j++) {
            int q = (int)nearbyintf(x[j] * id);
            y[b].qs[j] = (int8_t)q;
            sum += q;
        }
        y[b].d = tensor_f16_to_f32(tensor_f32_to_f16(amax / 127.f));
        y[b].sum = sum;
    }
}

#if defined(__x86_64__)
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

#endif

void qdot_quantize(uint32_t t, const float *x, int64_t n, void *act)
{
#if defined(__aarch64__)
    if (cape_isa_allows(CAPE_ISA_NEON)) {
        qdot_quantize_neon(t, x, n, act);
        return;
    }
#endif
#if defined(__x86_64__)
    int fast = qdot_have_vnni();
    if (k_quant(t))
        fast ? quant_q8_k_avx512(x, act, n) : quant_q8_k_row(x, act, n);
    else
        fast ? quant_qa_avx512(x, act, n) : quant_qa(x, act, n);
#else
    if (k_quant(t))
        quant_q8_k_row(x, act, n);
    else
        quant_qa(x, act, n);
#endif
}

/* ---- scalar kernels ---- */

static float g_q8_0(const block_q8_0 *w, const qa_block *a, int64_t nb)
{
    float s = 0;
    for (int64_t b = 0; b < nb; b++) {
        int i = 0;
        for (int j = 0; j < QK; j++)
            i += w[b].qs[j] * a[b].qs[j];
        s += H(w[b].d) * a[b].d * (float)i;
    }
    return s;
}

static float g_q4_0(const block_q4_0 *w, const qa_block *a, int64_t nb)
{
    float s = 0;
    for (int64_t b = 0; b < nb; b++) {
        int i = 0;
        for (int j = 0; j < QK / 2; j++)
            i += ((w[b].qs[j] & 0xF) - 8) * a[b].qs[j] + ((w[b].qs[j] >> 4) - 8) * a[b].qs[j + 16];
        s += H(w[b].d) * a[b].d * (float)i;
    }
    return s;
}

static float g_q5_0(const block_q5_0 *w, const qa_block *a, int64_t nb)
{
    float s = 0;
    for (int64_t b = 0; b < nb; b++) {
        uint32_t qh;
        memcpy(&qh, w[b].qh, 4);
        int i = 0;
        for (int j = 0; j < QK / 2; j++) {
            int lo = (w[b].qs[j] & 0xF) | (((qh >> j) & 1) << 4);
            int hi = (w[b].qs[j] >> 4) | (((qh >> (j + 16)) & 1) << 4);
            i += (lo - 16) * a[b].qs[j] + (hi - 16) * a[b].qs[j + 16];
        }
        s += H(w[b].d) * a[b].d * (float)i;
    }
    return s;
}

/* One 256-value super-block of Q4_K or Q5_K (qh: Q5_K's fifth bits, NULL for
 * Q4_K) against Q8_K activations. */
static float g_k4_block(const uint8_t *scales, const uint8_t *qs, const uint8_t *qh, float d,
                        float dmin, const block_q8_k *a)
{
    int isum = 0, msum = 0;
    for (int j = 0; j < 8; j++) {
        uint8_t sc, m;
        quant_k4_scale_min(j, scales, &sc, &m);
        const uint8_t *q = qs + 32 * (j / 2);
        const int8_t *x = a->qs + 32 * j;
        int dot = 0;
        for (int l = 0; l < 32; l++) {
            int v = j & 1 ? q[l] >> 4 : q[l] & 0xF;
            if (qh)
                v += ((qh[l] >> j) & 1) << 4;
            dot += v * x[l];
        }
        isum += sc * dot;
        msum += m * (a->bsums[2 * j] + a->bsums[2 * j + 1]);
    }
    return a->d * (d * (float)isum - dmin * (float)msum);
}

static float g_q4_k(const block_q4_k *w, const block_q8_k *a, int64_t nb)
{
    float s = 0;
    for (int64_t b = 0; b < nb; b++)
        s += g_k4_block(w[b].scales, w[b].qs, NULL, H(w[b].d), H(w[b].dmin), &a[b]);
    return s;
}

static float g_q5_k(const block_q5_k *w, const block_q8_k *a, int64_t nb)
{
    float s = 0;
    for (int64_t b = 0; b < nb; b++)
        s += g_k4_block(w[b].scales, w[b].qs, w[b].qh, H(w[b].d), H(w[b].dmin), &a[b]);
    return s;
}

static float g_q6_k(const block_q6_k *w, const block_q8_k *a, int64_t nb)
{
    float s = 0;
    for (int64_t b = 0; b < nb; b++) {
        int isum = 0;
        for (int h = 0; h < 2; h++) {
            const uint8_t *ql = w[b].ql + 64 * h, *qh = w[b].qh + 32 * h;
            const int8_t *sc = w[b].scales + 8 * h, *x = a[b].qs + 128 * h;
            for (int l = 0; l < 32; l++) {
                int q[4] = {(ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4),
                            (ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4),
                            (ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4),
                            (ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)};
                for (int k = 0; k < 4; k++)
                    isum += sc[l / 16 + 2 * k] * (q[k] - 32) * x[l + 32 * k];
            }
        }
        s += H(w[b].d) * a[b].d * (float)isum;
    }
    return s;
}

float qdot_row_generic(uint32_t t, const void *w, const void *act, int64_t n)
{
    switch (t) {
    case TENSOR_Q8_0: return g_q8_0(w, act, n / QK);
    case TENSOR_Q4_0: return g_q4_0(w, act, n / QK);
    case TENSOR_Q5_0: return g_q5_0(w, act, n / QK);
    case TENSOR_Q4_K: return g_q4_k(w, act, n / QK_K);
    case TENSOR_Q5_K: return g_q5_k(w, act, n / QK_K);
    case TENSOR_Q6_K: return g_q6_k(w, act, n / QK_K);
    default: return 0;
    }
}

#if defined(__x86_64__)
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

#endif

int qdot_rows4(uint32_t t, const void *w, const void *act, size_t stride, int64_t n,
               const qdot_scales *sc, int64_t t0, float *out)
{
#if defined(__aarch64__)
    if (cape_isa_allows(CAPE_ISA_NEON))
        return qdot_rows4_neon(t, w, act, stride, n, sc, t0, out);
#endif
#if !defined(__x86_64__)
    (void)t, (void)w, (void)act, (void)stride, (void)n, (void)sc, (void)t0, (void)out;
    return 0;
#else
    if (!qdot_have_vnni())
        return 0;
    switch (t) {
    case TENSOR_Q8_0: if (!sc) return 0; v4_q8_0(w, act, stride, sc, t0, n / QK, out); return 1;
    case TENSOR_Q4_0: if (!sc) return 0; v4_q4_0(w, act, stride, sc, t0, n / QK, out); return 1;
    case TENSOR_Q5_0: if (!sc) return 0; v4_q5_0(w, act, stride, sc, t0, n / QK, out); return 1;
    case TENSOR_Q4_K: v4_q4_k(w, act, stride, n / QK_K, out); return 1;
    case TENSOR_Q6_K: v4_q6_k(w, act, stride, n / QK_K, out); return 1;
    default: return 0;
    }
#endif
}

int qdot_have_vnni(void)
{
    return cape_isa_allows(CAPE_ISA_VNNI);
}


float qdot_row(uint32_t t, const void *w, const void *act, int64_t n)
{
#if defined(__aarch64__)
    if (cape_isa_allows(CAPE_ISA_NEON))
        return qdot_row_neon(t, w, act, n);
#endif
#if !defined(__x86_64__)
    return qdot_row_generic(t, w, act, n);
#else
    if (!qdot_have_vnni())
        return qdot_row_generic(t, w, act, n);
    switch (t) {
    case TENSOR_Q8_0: return v_q8_0(w, act, n / QK);
    case TENSOR_Q4_0: return v_q4_0(w, act, n / QK);
    case TENSOR_Q5_0: return v_q5_0(w, act, n / QK);
    case TENSOR_Q4_K: return v_q4_k(w, act, n / QK_K);
    case TENSOR_Q5_K: return v_q5_k(w, act, n / QK_K);
    case TENSOR_Q6_K: return v_q6_k(w, act, n / QK_K);
    default: return 0;
    }
#endif
}
