/* The int8 row kernels of one aarch64 level, included by qdot_neon.c with
 * SFX (name suffix), KATTR (target attribute) and DOT16 (acc += the
 * products of 16 int8 pairs, in 4 lanes) defined. Each block's integer dot
 * is exact and the float sums run in the scalar kernels' order. */

/* the integer dot of a 32-block (two vectors) */
KATTR static inline int32_t SFX(dot32)(const int8x16_t v[2], const int8_t *x)
{
    int32x4_t a = DOT16(vdupq_n_s32(0), v[0], vld1q_s8(x));
    return vaddvq_s32(DOT16(a, v[1], vld1q_s8(x + 16)));
}

/* sum over the 16 groups of sc16[g] * (integer dot of group g) */
KATTR static inline int32_t SFX(dot256)(const int8x16_t v[16], const int32_t sc16[16], const int8_t *x)
{
    int32x4_t acc = vdupq_n_s32(0);
    for (int g = 0; g < 16; g++)
        acc = vmlaq_n_s32(acc, DOT16(vdupq_n_s32(0), v[g], vld1q_s8(x + 16 * g)), sc16[g]);
    return vaddvq_s32(acc);
}

/* one 32-block type, rows of nb blocks, against `rows` activation rows */
KATTR static inline __attribute__((always_inline)) void
SFX(q32)(uint32_t t, const void *wrow, const char *act, size_t stride, int rows, int64_t nb,
         float *out)
{
    float s[4] = {0, 0, 0, 0};
    for (int64_t b = 0; b < nb; b++) {
        int8x16_t v[2];
        uint16_t d16;
        if (t == TENSOR_Q8_0) {
            const block_q8_0 *w = (const block_q8_0 *)wrow + b;
            dec_q8_0(w, v);
            d16 = w->d;
        } else if (t == TENSOR_Q4_0) {
            const block_q4_0 *w = (const block_q4_0 *)wrow + b;
            dec_q4_0(w, v);
            d16 = w->d;
        } else {
            const block_q5_0 *w = (const block_q5_0 *)wrow + b;
            dec_q5_0(w, v);
            d16 = w->d;
        }
        float dw = hf(d16);
        for (int k = 0; k < rows; k++) {
            const qa_block *a = (const qa_block *)(act + (size_t)k * stride) + b;
            s[k] += dw * a->d * (float)SFX(dot32)(v, a->qs);
        }
    }
    for (int k = 0; k < rows; k++)
        out[k] = s[k];
}

/* one K-quant type against `rows` activation rows */
KATTR static inline __attribute__((always_inline)) void
SFX(qk)(uint32_t t, const void *wrow, const char *act, size_t stride, int rows, int64_t nb,
        float *out)
{
    float s[4] = {0, 0, 0, 0};
    for (int64_t b = 0; b < nb; b++) {
        int8x16_t v[16];
        int32_t sc16[16];
        int16_t mn[8];
        float d, dmin = 0;
        if (t == TENSOR_Q6_K) {
            const block_q6_k *w = (const block_q6_k *)wrow + b;
            dec_q6_k(w, v, sc16);
            d = hf(w->d);
        } else if (t == TENSOR_Q4_K) {
            const block_q4_k *w = (const block_q4_k *)wrow + b;
            dec_q45_k(w->scales, w->qs, NULL, v, sc16, mn);
            d = hf(w->d);
            dmin = hf(w->dmin);
        } else {
            const block_q5_k *w = (const block_q5_k *)wrow + b;
            dec_q45_k(w->scales, w->qs, w->qh, v, sc16, mn);
            d = hf(w->d);
            dmin = hf(w->dmin);
        }
        for (int k = 0; k < rows; k++) {
            const block_q8_k *a = (const block_q8_k *)(act + (size_t)k * stride) + b;
            int32_t isum = SFX(dot256)(v, sc16, a->qs);
            if (t == TENSOR_Q6_K)
                s[k] += d * a->d * (float)isum;
            else
                s[k] += a->d * (d * (float)isum - dmin * (float)min_sum(mn, a->bsums));
        }
    }
    for (int k = 0; k < rows; k++)
        out[k] = s[k];
}

KATTR static float SFX(row)(uint32_t t, const void *w, const void *act, int64_t n)
{
    float o = 0;
    switch (t) {
    case TENSOR_Q8_0: SFX(q32)(TENSOR_Q8_0, w, act, 0, 1, n / QK, &o); break;
    case TENSOR_Q4_0: SFX(q32)(TENSOR_Q4_0, w, act, 0, 1, n / QK, &o); break;
    case TENSOR_Q5_0: SFX(q32)(TENSOR_Q5_0, w, act, 0, 1, n / QK, &o); break;
    case TENSOR_Q4_K: SFX(qk)(TENSOR_Q4_K, w, act, 0, 1, n / QK_K, &o); break;
    case TENSOR_Q5_K: SFX(qk)(TENSOR_Q5_K, w, act, 0, 1, n / QK_K, &o); break;
    case TENSOR_Q6_K: SFX(qk)(TENSOR_Q6_K, w, act, 0, 1, n / QK_K, &o); break;
    default: break;
    }
    return o;
}

/* four activation rows: each weight block is unpacked once for all four */
KATTR static int SFX(rows4)(uint32_t t, const void *w, const void *act, size_t stride, int64_t n,
                            float *out)
{
    switch (t) {
    case TENSOR_Q8_0: SFX(q32)(TENSOR_Q8_0, w, act, stride, 4, n / QK, out); return 1;
    case TENSOR_Q4_0: SFX(q32)(TENSOR_Q4_0, w, act, stride, 4, n / QK, out); return 1;
    case TENSOR_Q5_0: SFX(q32)(TENSOR_Q5_0, w, act, stride, 4, n / QK, out); return 1;
    case TENSOR_Q4_K: SFX(qk)(TENSOR_Q4_K, w, act, stride, 4, n / QK_K, out); return 1;
    case TENSOR_Q5_K: SFX(qk)(TENSOR_Q5_K, w, act, stride, 4, n / QK_K, out); return 1;
    case TENSOR_Q6_K: SFX(qk)(TENSOR_Q6_K, w, act, stride, 4, n / QK_K, out); return 1;
    default: return 0;
    }
}
