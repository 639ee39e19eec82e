/* The many-token int8 kernel on aarch64: every product of 5 tokens or more
 * in the few-token layout of qmm.h, 16 tokens at a time. A panel of 32
 * weight rows is unpacked once to signed int8 values (qdec_neon.h) with the
 * scales of its sub-blocks; then, for each group of 16 tokens, tiles of 2
 * rows x 16 tokens: four consecutive values of one row are duplicated into
 * every 32-bit lane and multiplied against four consecutive values of four
 * tokens (SDOT, or widening multiplies on plain NEON), so that a lane holds
 * one token's sum. Signed values need no code offsets, so the integer sums
 * start at zero. The float steps are the x86 lane tiles' in their order. */
#if defined(__aarch64__)
#include <arm_neon.h>
#include <string.h>

#include "base/isa.h"
#include "tensor/arm/arm.h"
#include "tensor/arm/qdec_neon.h"
#include "tensor/dtype.h"
#include "tensor/qmm_impl.h"

static inline float hf(uint16_t h) { return tensor_f16_to_f32(h); }

/* ---- one weight row unpacked: values, sub-block scales and minimums ---- */

/* vals: cols signed values; dw[s * QMM_ROWS], mw[s * QMM_ROWS] per sub-block
 * (32 values, 16 for Q6_K), as the x86 panels hold them */
static void unpack_row(uint32_t t, const void *row, int64_t cols, int8_t *vals, float *dw, float *mw)
{
    const int R = QMM_ROWS;
    if (legacy(t)) {
        for (int64_t b = 0; b < cols / QK; b++) {
            int8x16_t v[2];
            uint16_t d16;
            if (t == TENSOR_Q8_0) {
                const block_q8_0 *w = (const block_q8_0 *)row + b;
                dec_q8_0(w, v);
                d16 = w->d;
            } else if (t == TENSOR_Q4_0) {
                const block_q4_0 *w = (const block_q4_0 *)row + b;
                dec_q4_0(w, v);
                d16 = w->d;
            } else {
                const block_q5_0 *w = (const block_q5_0 *)row + b;
                dec_q5_0(w, v);
                d16 = w->d;
            }
            vst1q_s8(vals + QK * b, v[0]);
            vst1q_s8(vals + QK * b + 16, v[1]);
            dw[b * R] = hf(d16);
        }
        return;
    }
    for (int64_t b = 0; b < cols / QK_K; b++) {
        int8x16_t v[16];
        int32_t sc16[16];
        int16_t mn[8];
        if (t == TENSOR_Q6_K) {
            const block_q6_k *w = (const block_q6_k *)row + b;
            dec_q6_k(w, v, sc16);
            float d = hf(w->d);
            for (int g = 0; g < 16; g++)
                dw[(b * 16 + g) * R] = d * (float)sc16[g];
        } else {
            float d, dmin;
            if (t == TENSOR_Q4_K) {
                const block_q4_k *w = (const block_q4_k *)row + b;
                dec_q45_k(w->scales, w->qs, NULL, v, sc16, mn);
                d = hf(w->d), dmin = hf(w->dmin);
            } else {
                const block_q5_k *w = (const block_q5_k *)row + b;
                dec_q45_k(w->scales, w->qs, w->qh, v, sc16, mn);
                d = hf(w->d), dmin = hf(w->dmin);
            }
            for (int k = 0; k < 8; k++) {
                dw[(b * 8 + k) * R] = d * (float)sc16[2 * k];
                mw[(b * 8 + k) * R] = dmin * (float)mn[k];
            }
        }
        for (int g = 0; g < 16; g++)
            vst1q_s8(vals + QK_K * b + 16 * g, v[g]);
    }
}

/* ---- the lane tile, once per level ---- */

/* four bytes of four tokens against four bytes of one row, in 4 lanes */
static inline int32x4_t dot4_plain(int32x4_t acc, int8x16_t w, int8x16_t x)
{
    int16x8_t p = vpaddq_s16(vmull_s8(vget_low_s8(w), vget_low_s8(x)), vmull_high_s8(w, x));
    return vpadalq_s16(acc, p);
}

#define SFX(name) name##_plain
#define KATTR
#define DOT4 dot4_plain
#include "tensor/arm/qmm_neon_body.h"
#undef SFX
#undef KATTR
#undef DOT4

#define SFX(name) name##_dotprod
#define KATTR __attribute__((target("arch=armv8.2-a+dotprod")))
#define DOT4 vdotq_s32
#include "tensor/arm/qmm_neon_body.h"
#undef SFX
#undef KATTR
#undef DOT4

void qmm_rows_neon(const qmm_job *j, int64_t r0, int64_t r1, void *workspace)
{
    const uint32_t t = j->type;
    const int64_t cols = j->cols, subs = cols / sub_len(t);
    const int groups = (int)((j->n + QMM_LANES - 1) / QMM_LANES);
    const size_t gb = qmm_lanes_bytes(t, cols);
    int8_t *vals = (int8_t *)qmm_align64(workspace);
    float *dw = (float *)((uint8_t *)vals + (size_t)QMM_ROWS * cols + (size_t)QMM_ROWS * QK_K);
    float *mw = dw + subs * QMM_ROWS;
    float *out = mw + subs * QMM_ROWS; /* [QMM_ROWS][QMM_LANES] */
    const int dot = cape_isa_allows(CAPE_ISA_DOTPROD);
    if (!j->lanes)
        return;
    for (int64_t rp = r0; rp < r1; rp += QMM_ROWS) {
        int nr = (int)(j->rows - rp < QMM_ROWS ? j->rows - rp : QMM_ROWS);
        const char *w = (const char *)j->w + (size_t)rp * j->row_bytes;
        for (int i = 0; i < nr; i++)
            unpack_row(t, w + (size_t)i * j->row_bytes, cols, vals + (size_t)i * (size_t)cols, dw + i,
                       mw + i);
        if (nr % 2) { /* the tile's second row past the end: zeros, not stored */
            memset(vals + (size_t)nr * (size_t)cols, 0, (size_t)cols);
            for (int64_t s = 0; s < subs; s++)
                dw[s * QMM_ROWS + nr] = mw[s * QMM_ROWS + nr] = 0;
        }
        for (int g = 0; g < groups; g++) {
            const void *lanes = (const char *)j->lanes + gb * (size_t)g;
            for (int r = 0; r < nr; r += 2) {
                if (dot)
                    tile_dotprod(j, lanes, vals, dw, mw, r, out);
                else
                    tile_plain(j, lanes, vals, dw, mw, r, out);
            }
            for (int64_t l = 0; l < QMM_LANES && (int64_t)g * QMM_LANES + l < j->n; l++) {
                float *y = j->y + ((int64_t)g * QMM_LANES + l) * j->rows + rp;
                for (int r = 0; r < nr; r++)
                    y[r] = out[(size_t)r * QMM_LANES + (size_t)l];
            }
        }
    }
}

#endif
