#include "tensor/qdot.h"

#include <math.h>
#include <string.h>

#define H(x) tensor_f16_to_f32(x)

#include "base/isa.h"
#include "tensor/arm/arm.h"
#include "tensor/x86/qdot_x86.h"

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

static int rows4_none(uint32_t t, const void *w, const void *act, size_t stride, int64_t n,
                      const qdot_scales *sc, int64_t t0, float *out)
{
    (void)t, (void)w, (void)act, (void)stride, (void)n, (void)sc, (void)t0, (void)out;
    return 0;
}

static const qdot_kernels generic = {"scalar", quant_qa, quant_q8_k_row, qdot_row_generic,
                                     rows4_none};

#if defined(__aarch64__)
/* the NEON entry points take the weight type; any type of the family does */
static void neon_quant_qa(const float *x, qa_block *y, int64_t n)
{
    qdot_quantize_neon(TENSOR_Q8_0, x, n, y);
}
static void neon_quant_q8_k(const float *x, block_q8_k *y, int64_t n)
{
    qdot_quantize_neon(TENSOR_Q4_K, x, n, y);
}
/* neon and dotprod share the table: the entry points pick SDOT themselves */
static const qdot_kernels neon = {"neon", neon_quant_qa, neon_quant_q8_k, qdot_row_neon,
                                  qdot_rows4_neon};
#endif

/* ---- dispatch: one table per level ---- */

const qdot_kernels *qdot_kernels_at(int level)
{
#if defined(__x86_64__)
    static const qdot_kernels *const x86[] = {
        [CAPE_ISA_SCALAR] = &generic,
        [CAPE_ISA_AVX2] = &qdot_kernels_avx2,
        [CAPE_ISA_AVX512] = &qdot_kernels_avx512,
        [CAPE_ISA_VNNI] = &qdot_kernels_vnni,
        [CAPE_ISA_AMX] = &qdot_kernels_vnni,
    };
    if (level >= 0 && level < (int)(sizeof x86 / sizeof *x86))
        return x86[level];
#elif defined(__aarch64__)
    if (level >= CAPE_ISA_NEON)
        return &neon;
#else
    (void)level;
#endif
    return &generic;
}

const qdot_kernels *qdot_kernels_now(void) { return qdot_kernels_at((int)cape_isa_level()); }

int qdot_have_vnni(void) { return cape_isa_allows(CAPE_ISA_VNNI); }

void qdot_quantize(uint32_t t, const float *x, int64_t n, void *act)
{
    const qdot_kernels *k = qdot_kernels_now();
    if (k_quant(t))
        k->quant_q8_k(x, act, n);
    else
        k->quant_qa(x, act, n);
}

float qdot_row(uint32_t t, const void *w, const void *act, int64_t n)
{
    return qdot_kernels_now()->row(t, w, act, n);
}

int qdot_rows4(uint32_t t, const void *w, const void *act, size_t stride, int64_t n,
               const qdot_scales *sc, int64_t t0, float *out)
{
    return qdot_kernels_now()->rows4(t, w, act, stride, n, sc, t0, out);
}
