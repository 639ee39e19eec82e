/* The many-token kernels for AVX-512 VNNI: 64-byte panels, vpdpbusd tiles of
 * 32 rows x QMM_TOKENS tokens (qmm.h describes the layout). */
#if defined(__x86_64__)
#include <immintrin.h>
#include <string.h>

#include "tensor/qmm_impl.h"
#include "tensor/qunpack.h"


#define KERN __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx2,fma,f16c")))
#define INLINE static inline __attribute__((always_inline))

#include "tensor/x86/qmm_panels.h"

QMM_EXPANDERS(1)

typedef qmm_panel panel;

/* Repeats X for each token of a register tile (kept in registers: gcc does
 * not promote arrays of vectors indexed in loops). */
#define EACH_TOKEN(X) X(0) X(1) X(2) X(3) X(4) X(5)

/* One register tile: the panel's 32 rows times tokens t0..t0+QMM_TOKENS-1,
 * into out[QMM_TOKENS][32]. ks, per_block and mins are constants in each
 * instantiation below. */
KERN INLINE void tile(const qmm_job *j, const panel *p, int64_t t0, float *out, const int ks,
                      const int per_block, const int mins)
{
    const act_shape sh = shape_of(j->type, j->cols);
    const int32_t *start0 = j->info;
    const float *dx0 = (const float *)(start0 + j->npad * sh.subs), *xs0 = dx0 + j->npad * sh.blocks;
    const int32_t *start = start0 + t0 * sh.subs;
    const float *dxs = dx0 + t0 * sh.blocks, *xs = xs0 + t0 * sh.blocks * 8;
    const char *xa = j->act + (size_t)t0 * j->act_bytes + sh.qs_offset;
    const size_t ab = j->act_bytes;
#define DECL(t) __m512 f0_##t = _mm512_setzero_ps(), f1_##t = _mm512_setzero_ps();
    EACH_TOKEN(DECL)
    for (int64_t s = 0; s < sh.subs; s++) {
        const int64_t b = s / per_block;
        const char *xq = xa + (size_t)b * sh.block_bytes + (size_t)(s % per_block) * ks;
        const uint8_t *pw = p->panel + s * 2 * 16 * ks;
#define START(t) __m512i i0_##t = _mm512_set1_epi32(start[t * sh.subs + s]), i1_##t = i0_##t;
        EACH_TOKEN(START)
#pragma GCC unroll 8
        for (int k4 = 0; k4 < ks / 4; k4++) {
            __m512i w0 = _mm512_load_si512(pw + k4 * 64);
            __m512i w1 = _mm512_load_si512(pw + 16 * ks + k4 * 64);
#define DOT(t)                                                                                     \
    {                                                                                              \
        int32_t x4;                                                                                \
        memcpy(&x4, xq + t * ab + 4 * k4, 4);                                                      \
        __m512i x = _mm512_set1_epi32(x4);                                                         \
        i0_##t = _mm512_dpbusd_epi32(i0_##t, w0, x);                                               \
        i1_##t = _mm512_dpbusd_epi32(i1_##t, w1, x);                                               \
    }
            EACH_TOKEN(DOT)
        }
        __m512 d0 = _mm512_load_ps(p->dw + s * QMM_ROWS), d1 = _mm512_load_ps(p->dw + s * QMM_ROWS + 16);
#define SCALE(t)                                                                                   \
    {                                                                                              \
        __m512 dx = _mm512_set1_ps(dxs[t * sh.blocks + b]);                                        \
        f0_##t = _mm512_fmadd_ps(_mm512_cvtepi32_ps(i0_##t), _mm512_mul_ps(d0, dx), f0_##t);       \
        f1_##t = _mm512_fmadd_ps(_mm512_cvtepi32_ps(i1_##t), _mm512_mul_ps(d1, dx), f1_##t);       \
    }
        EACH_TOKEN(SCALE)
        if (mins && s % per_block == per_block - 1) {
            /* minus the minimums: sum over sub-blocks of mw * d_x * (sum of x) */
            const float *mwb = p->mw + (s - per_block + 1) * QMM_ROWS;
            for (int k = 0; k < 8; k++) {
                __m512 m0 = _mm512_load_ps(mwb + k * QMM_ROWS), m1 = _mm512_load_ps(mwb + k * QMM_ROWS + 16);
#define MINS(t)                                                                                    \
    {                                                                                              \
        __m512 x = _mm512_set1_ps(xs[(t * sh.blocks + b) * 8 + k]);                                \
        f0_##t = _mm512_fnmadd_ps(m0, x, f0_##t);                                                  \
        f1_##t = _mm512_fnmadd_ps(m1, x, f1_##t);                                                  \
    }
                EACH_TOKEN(MINS)
            }
        }
    }
#define STORE(t)                                                                                   \
    _mm512_store_ps(out + t * QMM_ROWS, f0_##t);                                                   \
    _mm512_store_ps(out + t * QMM_ROWS + 16, f1_##t);
    EACH_TOKEN(STORE)
#undef DECL
#undef START
#undef DOT
#undef SCALE
#undef MINS
#undef STORE
}

KERN static void tile_q32(const qmm_job *j, const panel *p, int64_t t0, float *out)
{
    tile(j, p, t0, out, 32, 1, 0);
}
KERN static void tile_qk45(const qmm_job *j, const panel *p, int64_t t0, float *out)
{
    tile(j, p, t0, out, 32, 8, 1);
}
KERN static void tile_q6k(const qmm_job *j, const panel *p, int64_t t0, float *out)
{
    tile(j, p, t0, out, 16, 16, 0);
}


KERN void qmm_rows_vnni(const qmm_job *j, int64_t r0, int64_t r1, void *workspace)
{
    const uint32_t t = j->type;
    const int ks = sub_len(t), bs = legacy(t) ? QK : QK_K, per = bs / ks;
    const int64_t cols = j->cols, subs = cols / ks;
    uint8_t *pn = (uint8_t *)qmm_align64(workspace);
    uint8_t *q = pn + (size_t)QMM_ROWS * cols; /* one scale block of the 32 rows */
    float *dw = (float *)(q + (size_t)QMM_ROWS * QK_K);
    float *mw = dw + subs * QMM_ROWS;
    float *out = mw + subs * QMM_ROWS;
    panel p = {pn, dw, mw};
    void (*kernel)(const qmm_job *, const panel *, int64_t, float *) =
        legacy(t) ? tile_q32 : has_mins(t) ? tile_qk45 : tile_q6k;
    void (*expand)(const char *, size_t, int, int64_t, int, uint8_t *, float *, float *) =
        t == TENSOR_Q8_0 ? expand_q8_0 : t == TENSOR_Q4_0 ? expand_q4_0 : t == TENSOR_Q5_0 ? expand_q5_0
        : t == TENSOR_Q4_K ? expand_q4_k : t == TENSOR_Q5_K ? expand_q5_k : expand_q6_k;
    for (int64_t rp = r0; rp < r1; rp += QMM_ROWS) {
        int nr = (int)(j->rows - rp < QMM_ROWS ? j->rows - rp : QMM_ROWS);
        const char *w = (const char *)j->w + (size_t)rp * j->row_bytes;
        if (nr < QMM_ROWS) { /* rows past the end: zero weights */
            memset(q, 0, (size_t)QMM_ROWS * bs);
            for (int64_t s = 0; s < subs; s++)
                for (int i = nr; i < QMM_ROWS; i++)
                    dw[s * QMM_ROWS + i] = mw[s * QMM_ROWS + i] = 0;
        }
        const size_t wb = j->row_bytes / (size_t)(cols / bs); /* bytes of one weight block */
        for (int64_t b = 0; b < cols / bs; b++) {
            for (int i = 0; i < nr; i++)
                _mm_prefetch(w + (size_t)i * j->row_bytes + (size_t)(b + 3) * wb, _MM_HINT_T0);
            expand(w, j->row_bytes, nr, b, bs, q, dw + b * per * QMM_ROWS, mw + b * per * QMM_ROWS);
            for (int k = 0; k < per; k++)
                for (int h = 0; h < 2; h++) {
                    const uint8_t *src = q + (size_t)16 * h * bs + (size_t)k * ks;
                    uint8_t *dst = pn + ((b * per + k) * 2 + h) * 16 * ks;
                    if (ks == 32)
                        transpose_16x32(src, (size_t)bs, dst);
                    else
                        transpose_16x16(src, (size_t)bs, dst);
                }
        }
        __mmask16 m0 = (__mmask16)(nr >= 16 ? 0xFFFF : (1u << nr) - 1);
        __mmask16 m1 = (__mmask16)(nr >= 32 ? 0xFFFF : nr <= 16 ? 0 : (1u << (nr - 16)) - 1);
        /* while this panel computes, the next one's rows come in from memory */
        const char *next = w + (size_t)QMM_ROWS * j->row_bytes;
        size_t next_bytes = rp + 2 * QMM_ROWS <= r1 ? (size_t)QMM_ROWS * j->row_bytes
                            : rp + QMM_ROWS < r1 ? (size_t)(r1 - rp - QMM_ROWS) * j->row_bytes : 0;
        size_t per_tile = (next_bytes / 64 + 1) / ((size_t)(j->n + QMM_TOKENS - 1) / QMM_TOKENS) + 1;
        size_t line = 0;
        for (int64_t t0 = 0; t0 < j->n; t0 += QMM_TOKENS) {
            for (size_t k = 0; k < per_tile && line * 64 < next_bytes; k++, line++)
                _mm_prefetch(next + line * 64, _MM_HINT_T0);
            kernel(j, &p, t0, out);
            int64_t nt = j->n - t0 < QMM_TOKENS ? j->n - t0 : QMM_TOKENS;
            for (int64_t tt = 0; tt < nt; tt++) {
                float *y = j->y + (t0 + tt) * j->rows + rp;
                _mm512_mask_storeu_ps(y, m0, _mm512_load_ps(out + tt * QMM_ROWS));
                _mm512_mask_storeu_ps(y + 16, m1, _mm512_load_ps(out + tt * QMM_ROWS + 16));
            }
        }
    }
}

#endif
