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



/* ---- few tokens: the tokens in the lanes (qmm.h) ---- */

/* Rows per lane tile: each keeps an integer and a float vector of the 16
 * tokens; the activation vector of four values is loaded once for all. */
#define EACH_ROW(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7)
enum { LANE_ROWS = 8 };

/* lane_tile16 (zmm, up to 16 tokens) and lane_tile8 (ymm, up to 8, with
 * twice the instruction throughput of 512-bit VPDPBUSD on most cores):
 * one body, two widths. */
#define LANE_W 16
#include "tensor/x86/qmm_lane_tile.h"
#undef LANE_W
#define LANE_W 8
#include "tensor/x86/qmm_lane_tile.h"
#undef LANE_W

#define LANES_KERNEL(name, tile, ks, per_block, mins)                                              \
    KERN static void name(const qmm_job *j, const uint8_t *c, const float *dw, const float *mw,    \
                          int r0, float *out, const char *pf, size_t pf_lines, size_t per_s)      \
    {                                                                                              \
        tile(j, c, dw, mw, r0, out, pf, pf_lines, per_s, ks, per_block, mins);                    \
    }
LANES_KERNEL(lanes16_q32, lane_tile16, 32, 1, 0)
LANES_KERNEL(lanes16_qk45, lane_tile16, 32, 8, 1)
LANES_KERNEL(lanes16_q6k, lane_tile16, 16, 16, 0)
LANES_KERNEL(lanes8_q32, lane_tile8, 32, 1, 0)
LANES_KERNEL(lanes8_qk45, lane_tile8, 32, 8, 1)
LANES_KERNEL(lanes8_q6k, lane_tile8, 16, 16, 0)

/* One weight row's nb blocks to codes (the type a constant in each). */
#define LANES_EXPAND_ROW(name, type)                                                               \
    KERN static void name(const char *row, int64_t nb, int bs, int per, uint8_t *codes, float *dw,  \
                          float *mw)                                                               \
    {                                                                                              \
        for (int64_t b = 0; b < nb; b++)                                                           \
            expand_block(type, row, b, codes + (size_t)b * (size_t)bs, dw + b * per * QMM_ROWS,    \
                         mw + b * per * QMM_ROWS, 1);                                              \
    }
LANES_EXPAND_ROW(row_q8_0, TENSOR_Q8_0)
LANES_EXPAND_ROW(row_q4_0, TENSOR_Q4_0)
LANES_EXPAND_ROW(row_q5_0, TENSOR_Q5_0)
LANES_EXPAND_ROW(row_q4_k, TENSOR_Q4_K)
LANES_EXPAND_ROW(row_q5_k, TENSOR_Q5_K)
LANES_EXPAND_ROW(row_q6_k, TENSOR_Q6_K)

/* Panels of QMM_ROWS rows expanded to codes, row after row (no transpose),
 * then lane tiles of LANE_ROWS rows. */
KERN static void lanes_rows(const qmm_job *j, int64_t r0, int64_t r1, void *workspace)
{
    const uint32_t t = j->type;
    const int ks = sub_len(t), bs = legacy(t) ? QK : QK_K, per = bs / ks;
    const int64_t cols = j->cols, subs = cols / ks, nb = cols / bs;
    uint8_t *codes = (uint8_t *)qmm_align64(workspace);
    float *dw = (float *)(codes + (size_t)QMM_ROWS * cols + (size_t)QMM_ROWS * QK_K);
    float *mw = dw + subs * QMM_ROWS;
    float *out = mw + subs * QMM_ROWS; /* [QMM_ROWS][QMM_LANES] */
    const __m512i rows16 = _mm512_mullo_epi32(
        _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), _mm512_set1_epi32(QMM_LANES));
    void (*kernel)(const qmm_job *, const uint8_t *, const float *, const float *, int, float *,
                   const char *, size_t, size_t) =
        j->n > 8 ? (legacy(t) ? lanes16_q32 : has_mins(t) ? lanes16_qk45 : lanes16_q6k)
                 : (legacy(t) ? lanes8_q32 : has_mins(t) ? lanes8_qk45 : lanes8_q6k);
    void (*expand)(const char *, int64_t, int, int, uint8_t *, float *, float *) =
        t == TENSOR_Q8_0 ? row_q8_0 : t == TENSOR_Q4_0 ? row_q4_0 : t == TENSOR_Q5_0 ? row_q5_0
        : t == TENSOR_Q4_K ? row_q4_k : t == TENSOR_Q5_K ? row_q5_k : row_q6_k;
    for (int64_t rp = r0; rp < r1; rp += QMM_ROWS) {
        int nr = (int)(j->rows - rp < QMM_ROWS ? j->rows - rp : QMM_ROWS);
        const char *w = (const char *)j->w + (size_t)rp * j->row_bytes;
        for (int i = 0; i < nr; i++)
            expand(w + (size_t)i * j->row_bytes, nb, bs, per, codes + (size_t)i * (size_t)cols, dw + i,
                   mw + i);
        /* while this panel computes, the next one comes in from memory: a
         * few lines per sub-block of every lane tile */
        const char *next = w + (size_t)QMM_ROWS * j->row_bytes;
        size_t next_bytes = rp + 2 * QMM_ROWS <= r1 ? (size_t)QMM_ROWS * j->row_bytes
                            : rp + QMM_ROWS < r1 ? (size_t)(r1 - rp - QMM_ROWS) * j->row_bytes : 0;
        const int tiles = (nr + LANE_ROWS - 1) / LANE_ROWS;
        const size_t per_s = (next_bytes / 64 + 1) / (size_t)(tiles * subs) + 1;
        for (int g = 0; g < nr; g += LANE_ROWS) {
            if (g + LANE_ROWS > nr) { /* rows past the end: zero codes (read, not stored) */
                memset(codes + (size_t)nr * (size_t)cols, 0, (size_t)(g + LANE_ROWS - nr) * (size_t)cols);
                for (int64_t s = 0; s < subs; s++)
                    for (int i = nr; i < g + LANE_ROWS; i++)
                        dw[s * QMM_ROWS + i] = mw[s * QMM_ROWS + i] = 0;
            }
            size_t from = (size_t)(g / LANE_ROWS) * (size_t)subs * per_s * 64;
            kernel(j, codes, dw, mw, g, out, next + from,
                   from < next_bytes ? (next_bytes - from + 63) / 64 : 0, per_s);
        }
        /* the panel's results, token by token: 32 rows gathered from out */
        const __mmask16 m0 = (__mmask16)(nr >= 16 ? 0xFFFF : (1u << nr) - 1);
        const __mmask16 m1 = (__mmask16)(nr >= 32 ? 0xFFFF : nr <= 16 ? 0 : (1u << (nr - 16)) - 1);
        for (int64_t tt = 0; tt < j->n; tt++) {
            float *y = j->y + tt * j->rows + rp;
            _mm512_mask_storeu_ps(y, m0, _mm512_i32gather_ps(rows16, out + tt, 4));
            _mm512_mask_storeu_ps(y + 16, m1, _mm512_i32gather_ps(rows16, out + 16 * QMM_LANES + tt, 4));
        }
    }
}

KERN void qmm_rows_vnni(const qmm_job *j, int64_t r0, int64_t r1, void *workspace)
{
    if (j->lanes) {
        lanes_rows(j, r0, r1, workspace);
        return;
    }
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
