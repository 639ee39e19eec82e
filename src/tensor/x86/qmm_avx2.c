/* The many-token kernels for AVX2 (+FMA, F16C).
 *
 * The panels are the VNNI kernel's (qmm.h): per sub-block, vectors of four
 * consecutive codes of 16 rows; a 32-byte half holds 8 rows. A register
 * tile is 8 rows x QMM_TOKENS tokens: vpmaddubsw multiplies the 8 rows' codes
 * by four activation values broadcast to every lane (pairs summed to int16),
 * four such steps (two for Q6_K) are added in int16, and vpmaddwd by ones
 * widens the sums to int32. The int16 sums cannot saturate: codes are at most
 * 31 (8 * 31 * 128 < 32768), or 63 for Q6_K (4 * 63 * 128 < 32768). Q8_0
 * enters as its signed values; the tile multiplies |w| by x carrying w's sign,
 * one step at a time (2 * 128 * 127 < 32768), and its sums start at zero, not
 * at the code offset's correction. */
#if defined(__x86_64__)
#include <immintrin.h>
#include <string.h>

#include "tensor/qmm_impl.h"
#include "tensor/qunpack.h"

#define KERN __attribute__((target("avx2,fma,f16c")))
#define INLINE static inline __attribute__((always_inline))

int qmm_avx2_supported(uint32_t t)
{
    return t == TENSOR_Q4_0 || t == TENSOR_Q5_0 || t == TENSOR_Q8_0 || t == TENSOR_Q4_K ||
           t == TENSOR_Q5_K || t == TENSOR_Q6_K;
}

#include "tensor/x86/qmm_panels.h"

QMM_EXPANDERS(0) /* the signed Q8_0 values: see tile8 */
/* four bytes broadcast to every 32-bit lane */
KERN INLINE __m256i bcast4(const char *p)
{
    int32_t v;
    memcpy(&v, p, 4);
    return _mm256_set1_epi32(v);
}

/* Repeats X for each token of a register tile (kept in registers). */
#define EACH_TOKEN(X) X(0) X(1) X(2) X(3) X(4) X(5)

/* One register tile: rows 8g..8g+7 of the panel times tokens
 * t0..t0+QMM_TOKENS-1, into out[t * QMM_ROWS + 8g ...]. ks, per_block and
 * mins are constants in each instantiation below. */
KERN INLINE void tile8(const qmm_job *j, const qmm_panel *p, int64_t t0, int g, float *out,
                       const int ks, const int per_block, const int mins, const int grp,
                       const int q8)
{
    const act_shape sh = shape_of(j->type, j->cols);
    const int32_t *start0 = j->info;
    const float *dx0 = (const float *)(start0 + j->npad * sh.subs), *xs0 = dx0 + j->npad * sh.blocks;
    const int32_t *start = start0 + t0 * sh.subs;
    const float *dxs = dx0 + t0 * sh.blocks, *xs = xs0 + t0 * sh.blocks * 8;
    const char *xa = j->act + (size_t)t0 * j->act_bytes + sh.qs_offset;
    const size_t ab = j->act_bytes;
    const __m256i ones = _mm256_set1_epi16(1);
    const size_t half = (size_t)(g / 2) * 16 * ks + (size_t)(g % 2) * 32;
#define DECL(t) __m256 f_##t = _mm256_setzero_ps();
    EACH_TOKEN(DECL)
    for (int64_t s = 0; s < sh.subs; s++) {
        const int64_t b = s / per_block;
        const char *xq = xa + (size_t)b * sh.block_bytes + (size_t)(s % per_block) * ks;
        const uint8_t *pw = p->panel + s * 2 * 16 * ks + half;
#define START(t) __m256i i_##t = q8 ? _mm256_setzero_si256() : _mm256_set1_epi32(start[t * sh.subs + s]);
        EACH_TOKEN(START)
        if (q8) {
            /* Q8_0: |w| against x with w's sign, one step at a time */
#pragma GCC unroll 1
            for (int k = 0; k < ks / 4; k++) {
                __m256i w0 = _mm256_load_si256((const __m256i *)(pw + k * 64));
                __m256i a0 = _mm256_abs_epi8(w0);
#define DOT8(t)                                                                                    \
    {                                                                                              \
        __m256i x = _mm256_sign_epi8(bcast4(xq + t * ab + 4 * k), w0);                             \
        i_##t = _mm256_add_epi32(i_##t, _mm256_madd_epi16(_mm256_maddubs_epi16(a0, x), ones));     \
    }
                EACH_TOKEN(DOT8)
            }
        } else {
            /* grp steps of four values summed in int16, then widened */
#pragma GCC unroll 1
            for (int k = 0; k < ks / 4; k += grp) {
                __m256i w0 = _mm256_load_si256((const __m256i *)(pw + k * 64));
                __m256i w1 = _mm256_load_si256((const __m256i *)(pw + k * 64 + 64));
                __m256i w2 = grp == 4 ? _mm256_load_si256((const __m256i *)(pw + k * 64 + 128)) : w0;
                __m256i w3 = grp == 4 ? _mm256_load_si256((const __m256i *)(pw + k * 64 + 192)) : w0;
#define BX(t, o) bcast4(xq + t * ab + 4 * (k + o))
#define DOT(t)                                                                                     \
    {                                                                                              \
        __m256i s16 = _mm256_add_epi16(_mm256_maddubs_epi16(w0, BX(t, 0)),                         \
                                       _mm256_maddubs_epi16(w1, BX(t, 1)));                        \
        if (grp == 4)                                                                              \
            s16 = _mm256_add_epi16(s16, _mm256_add_epi16(_mm256_maddubs_epi16(w2, BX(t, 2)),       \
                                                          _mm256_maddubs_epi16(w3, BX(t, 3))));    \
        i_##t = _mm256_add_epi32(i_##t, _mm256_madd_epi16(s16, ones));                             \
    }
                EACH_TOKEN(DOT)
            }
        }
        __m256 d = _mm256_load_ps(p->dw + s * QMM_ROWS + 8 * g);
#define SCALE(t)                                                                                   \
    f_##t = _mm256_fmadd_ps(_mm256_cvtepi32_ps(i_##t),                                             \
                            _mm256_mul_ps(d, _mm256_set1_ps(dxs[t * sh.blocks + b])), f_##t);
        EACH_TOKEN(SCALE)
        if (mins && s % per_block == per_block - 1) {
            /* minus the minimums: sum over sub-blocks of mw * d_x * (sum of x) */
            const float *mwb = p->mw + (s - per_block + 1) * QMM_ROWS + 8 * g;
            for (int k = 0; k < 8; k++) {
                __m256 m = _mm256_load_ps(mwb + k * QMM_ROWS);
#define MINS(t) f_##t = _mm256_fnmadd_ps(m, _mm256_set1_ps(xs[(t * sh.blocks + b) * 8 + k]), f_##t);
                EACH_TOKEN(MINS)
            }
        }
    }
#define STORE(t) _mm256_store_ps(out + t * QMM_ROWS + 8 * g, f_##t);
    EACH_TOKEN(STORE)
#undef DECL
#undef START
#undef DOT
#undef DOT8
#undef BX
#undef SCALE
#undef MINS
#undef STORE
}

KERN static void tile_q32(const qmm_job *j, const qmm_panel *p, int64_t t0, int g, float *out)
{
    tile8(j, p, t0, g, out, 32, 1, 0, 4, 0);
}
KERN static void tile_q8(const qmm_job *j, const qmm_panel *p, int64_t t0, int g, float *out)
{
    tile8(j, p, t0, g, out, 32, 1, 0, 1, 1);
}
KERN static void tile_qk45(const qmm_job *j, const qmm_panel *p, int64_t t0, int g, float *out)
{
    tile8(j, p, t0, g, out, 32, 8, 1, 4, 0);
}
KERN static void tile_q6k(const qmm_job *j, const qmm_panel *p, int64_t t0, int g, float *out)
{
    tile8(j, p, t0, g, out, 16, 16, 0, 2, 0);
}


/* ---- few tokens: the tokens in the lanes (qmm.h) ---- */

/* Rows per lane tile; each row keeps an integer and a float vector of 8
 * tokens (16 tokens go as two halves over the same expanded codes). */
#define EACH_ROW(X) X(0) X(1) X(2) X(3)
enum { LANE_ROWS = 4 };

/* Rows r0..r0+3 of the expanded panel times tokens 8h..8h+7, into
 * out[r * QMM_LANES + 8h ...]. The integer steps are the panel tile's
 * (tile8 above), with the weights broadcast instead of the activations;
 * Q8_0's magnitudes |w| come from mags (laid out as codes), taken once per
 * row rather than once per broadcast. */
KERN INLINE void lane_tile(const qmm_job *j, const uint8_t *codes, const uint8_t *mags,
                           const float *dw, const float *mw, int r0, int h, float *out, const char *pf, size_t pf_lines, size_t per_s,
                           const int ks, const int per_block, const int mins, const int grp,
                           const int q8)
{
    const act_shape sh = shape_of(j->type, j->cols);
    const qmm_lanes_view v = qmm_lanes_of(j->type, j->cols, j->lanes);
    const size_t cols = (size_t)j->cols;
    const uint8_t *cw = codes + (size_t)r0 * cols;
    const __m256i ones = _mm256_set1_epi16(1);
#define LDECL(r) __m256 f_##r = _mm256_setzero_ps();
    EACH_ROW(LDECL)
    for (int64_t s = 0; s < sh.subs; s++) {
        const int64_t b = s / per_block;
        for (size_t k = 0, l = (size_t)s * per_s; k < per_s && l < pf_lines; k++, l++)
            _mm_prefetch(pf + 64 * l, _MM_HINT_T1);
        const __m256i st = q8 ? _mm256_setzero_si256()
                              : _mm256_loadu_si256((const __m256i *)(v.start + s * QMM_LANES + 8 * h));
        const uint8_t *xq = v.x + (size_t)s * (size_t)ks * QMM_LANES + 32 * h;
        const uint8_t *cs = cw + (size_t)s * (size_t)ks;
        const uint8_t *ms = q8 ? mags + (size_t)r0 * cols + (size_t)s * (size_t)ks : NULL;
#define LSTART(r) __m256i i_##r = st;
        EACH_ROW(LSTART)
        if (q8) {
#pragma GCC unroll 1
            for (int k = 0; k < ks / 4; k++) {
                const __m256i x = _mm256_load_si256((const __m256i *)(xq + 64 * k));
#define LDOT8(r)                                                                                   \
    {                                                                                              \
        const __m256i w = bcast4((const char *)cs + (size_t)(r) * cols + 4 * k);                   \
        const __m256i a = bcast4((const char *)ms + (size_t)(r) * cols + 4 * k);                   \
        i_##r = _mm256_add_epi32(i_##r, _mm256_madd_epi16(_mm256_maddubs_epi16(a, _mm256_sign_epi8(x, w)), \
                                                          ones));                                  \
    }
                EACH_ROW(LDOT8)
            }
        } else {
#pragma GCC unroll 1
            for (int k = 0; k < ks / 4; k += grp) {
                const __m256i x0 = _mm256_load_si256((const __m256i *)(xq + 64 * k));
                const __m256i x1 = _mm256_load_si256((const __m256i *)(xq + 64 * k + 64));
                const __m256i x2 = grp == 4 ? _mm256_load_si256((const __m256i *)(xq + 64 * k + 128)) : x0;
                const __m256i x3 = grp == 4 ? _mm256_load_si256((const __m256i *)(xq + 64 * k + 192)) : x0;
#define CW(r, o) bcast4((const char *)cs + (size_t)(r) * cols + 4 * (k + (o)))
#define LDOT(r)                                                                                    \
    {                                                                                              \
        __m256i s16 = _mm256_add_epi16(_mm256_maddubs_epi16(CW(r, 0), x0),                         \
                                       _mm256_maddubs_epi16(CW(r, 1), x1));                        \
        if (grp == 4)                                                                              \
            s16 = _mm256_add_epi16(s16, _mm256_add_epi16(_mm256_maddubs_epi16(CW(r, 2), x2),       \
                                                          _mm256_maddubs_epi16(CW(r, 3), x3)));    \
        i_##r = _mm256_add_epi32(i_##r, _mm256_madd_epi16(s16, ones));                             \
    }
                EACH_ROW(LDOT)
            }
        }
        const __m256 dx = _mm256_loadu_ps(v.dx + b * QMM_LANES + 8 * h);
        const float *d = dw + s * QMM_ROWS + r0;
#define LSCALE(r) f_##r = _mm256_fmadd_ps(_mm256_cvtepi32_ps(i_##r), _mm256_mul_ps(_mm256_set1_ps(d[r]), dx), f_##r);
        EACH_ROW(LSCALE)
        if (mins && s % per_block == per_block - 1) {
            const float *mwb = mw + (s - per_block + 1) * QMM_ROWS + r0;
            for (int k = 0; k < 8; k++) {
                const __m256 x = _mm256_loadu_ps(v.xs + (b * 8 + k) * QMM_LANES + 8 * h);
#define LMINS(r) f_##r = _mm256_fnmadd_ps(_mm256_set1_ps(mwb[k * QMM_ROWS + (r)]), x, f_##r);
                EACH_ROW(LMINS)
            }
        }
    }
#define LSTORE(r) _mm256_storeu_ps(out + (size_t)(r0 + (r)) * QMM_LANES + 8 * h, f_##r);
    EACH_ROW(LSTORE)
#undef LDECL
#undef LSTART
#undef LDOT8
#undef CW
#undef LDOT
#undef LSCALE
#undef LMINS
#undef LSTORE
}

#define LANES_KERNEL(name, ks, per_block, mins, grp, q8)                                           \
    KERN static void name(const qmm_job *j, const uint8_t *c, const uint8_t *mags, const float *dw, \
                          const float *mw, int r0, int h, float *out, const char *pf,              \
                          size_t pf_lines, size_t per_s)                                           \
    {                                                                                              \
        lane_tile(j, c, mags, dw, mw, r0, h, out, pf, pf_lines, per_s, ks, per_block, mins, grp,   \
                  q8);                                                                             \
    }
LANES_KERNEL(lanes_q8, 32, 1, 0, 1, 1)
LANES_KERNEL(lanes_q32, 32, 1, 0, 4, 0)
LANES_KERNEL(lanes_qk45, 32, 8, 1, 4, 0)
LANES_KERNEL(lanes_q6k, 16, 16, 0, 2, 0)

/* One weight row's nb blocks expanded (Q8_0 as signed values, see tile8). */
#define LANES_EXPAND_ROW(name, type)                                                               \
    KERN static void name(const char *row, int64_t nb, int bs, int per, uint8_t *codes, float *dw,  \
                          float *mw)                                                               \
    {                                                                                              \
        for (int64_t b = 0; b < nb; b++)                                                           \
            expand_block(type, row, b, codes + (size_t)b * (size_t)bs, dw + b * per * QMM_ROWS,    \
                         mw + b * per * QMM_ROWS, 0);                                              \
    }
LANES_EXPAND_ROW(row_q8_0, TENSOR_Q8_0)
LANES_EXPAND_ROW(row_q4_0, TENSOR_Q4_0)
LANES_EXPAND_ROW(row_q5_0, TENSOR_Q5_0)
LANES_EXPAND_ROW(row_q4_k, TENSOR_Q4_K)
LANES_EXPAND_ROW(row_q5_k, TENSOR_Q5_K)
LANES_EXPAND_ROW(row_q6_k, TENSOR_Q6_K)

/* Panels of QMM_ROWS rows expanded row after row (no transpose), then lane
 * tiles of LANE_ROWS rows for each half of the tokens. */
KERN static void lanes_rows(const qmm_job *j, int64_t r0, int64_t r1, void *workspace)
{
    const uint32_t t = j->type;
    const int ks = sub_len(t), bs = legacy(t) ? QK : QK_K, per = bs / ks;
    const int64_t cols = j->cols, subs = cols / ks, nb = cols / bs;
    const int halves = j->n > 8 ? 2 : 1;
    uint8_t *codes = (uint8_t *)qmm_align64(workspace);
    float *dw = (float *)(codes + (size_t)QMM_ROWS * cols + (size_t)QMM_ROWS * QK_K);
    float *mw = dw + subs * QMM_ROWS;
    float *out = mw + subs * QMM_ROWS; /* [QMM_ROWS][QMM_LANES] */
    uint8_t *mag = (uint8_t *)qmm_align64(out + QMM_ROWS * QMM_LANES); /* Q8_0: |w| */
    const __m256i rows8 = _mm256_setr_epi32(0, 16, 32, 48, 64, 80, 96, 112);
    void (*kernel)(const qmm_job *, const uint8_t *, const uint8_t *, const float *, const float *, int,
                   int, float *, const char *, size_t, size_t) =
        t == TENSOR_Q8_0 ? lanes_q8 : legacy(t) ? lanes_q32 : has_mins(t) ? lanes_qk45 : lanes_q6k;
    void (*expand)(const char *, int64_t, int, int, uint8_t *, float *, float *) =
        t == TENSOR_Q8_0 ? row_q8_0 : t == TENSOR_Q4_0 ? row_q4_0 : t == TENSOR_Q5_0 ? row_q5_0
        : t == TENSOR_Q4_K ? row_q4_k : t == TENSOR_Q5_K ? row_q5_k : row_q6_k;
    for (int64_t rp = r0; rp < r1; rp += QMM_ROWS) {
        int nr = (int)(j->rows - rp < QMM_ROWS ? j->rows - rp : QMM_ROWS);
        const char *w = (const char *)j->w + (size_t)rp * j->row_bytes;
        for (int i = 0; i < nr; i++)
            expand(w + (size_t)i * j->row_bytes, nb, bs, per, codes + (size_t)i * (size_t)cols, dw + i,
                   mw + i);
        if (t == TENSOR_Q8_0)
            for (size_t i = 0; i < (size_t)nr * (size_t)cols; i += 32)
                _mm256_store_si256((__m256i *)(mag + i),
                                   _mm256_abs_epi8(_mm256_load_si256((const __m256i *)(codes + i))));
        /* while this panel computes, the next one comes in from memory */
        const char *next = w + (size_t)QMM_ROWS * j->row_bytes;
        size_t next_bytes = rp + 2 * QMM_ROWS <= r1 ? (size_t)QMM_ROWS * j->row_bytes
                            : rp + QMM_ROWS < r1 ? (size_t)(r1 - rp - QMM_ROWS) * j->row_bytes : 0;
        const int tiles = (nr + LANE_ROWS - 1) / LANE_ROWS * halves;
        const size_t per_s = (next_bytes / 64 + 1) / (size_t)(tiles * subs) + 1;
        int tile = 0;
        for (int g = 0; g < nr; g += LANE_ROWS) {
            if (g + LANE_ROWS > nr) { /* rows past the end: zero codes (read, not stored) */
                memset(codes + (size_t)nr * (size_t)cols, 0, (size_t)(g + LANE_ROWS - nr) * (size_t)cols);
                memset(mag + (size_t)nr * (size_t)cols, 0, (size_t)(g + LANE_ROWS - nr) * (size_t)cols);
                for (int64_t s = 0; s < subs; s++)
                    for (int i = nr; i < g + LANE_ROWS; i++)
                        dw[s * QMM_ROWS + i] = mw[s * QMM_ROWS + i] = 0;
            }
            for (int h = 0; h < halves; h++, tile++) {
                size_t from = (size_t)tile * (size_t)subs * per_s * 64;
                kernel(j, codes, mag, dw, mw, g, h, out, next + from,
                       from < next_bytes ? (next_bytes - from + 63) / 64 : 0, per_s);
            }
        }
        /* the panel's results, token by token: rows gathered from out */
        for (int64_t tt = 0; tt < j->n; tt++) {
            float *y = j->y + tt * j->rows + rp;
            if (nr == QMM_ROWS)
                for (int g = 0; g < 4; g++)
                    _mm256_storeu_ps(y + 8 * g, _mm256_i32gather_ps(out + (size_t)(8 * g) * QMM_LANES + tt, rows8, 4));
            else
                for (int r = 0; r < nr; r++)
                    y[r] = out[(size_t)r * QMM_LANES + tt];
        }
    }
}

KERN void qmm_rows_avx2(const qmm_job *j, int64_t r0, int64_t r1, void *workspace)
{
    const uint32_t t = j->type;
    const int ks = sub_len(t), bs = legacy(t) ? QK : QK_K, per = bs / ks;
    const int64_t cols = j->cols, subs = cols / ks;
    uint8_t *pn = (uint8_t *)qmm_align64(workspace);
    uint8_t *q = pn + (size_t)QMM_ROWS * cols; /* one scale block of the 32 rows */
    float *dw = (float *)(q + (size_t)QMM_ROWS * QK_K);
    float *mw = dw + subs * QMM_ROWS;
    float *out = mw + subs * QMM_ROWS;
    qmm_panel p = {pn, dw, mw};
    void (*kernel)(const qmm_job *, const qmm_panel *, int64_t, int, float *) =
        t == TENSOR_Q8_0 ? tile_q8 : legacy(t) ? tile_q32 : has_mins(t) ? tile_qk45 : tile_q6k;
    void (*expand)(const char *, size_t, int, int64_t, int, uint8_t *, float *, float *) =
        t == TENSOR_Q8_0 ? expand_q8_0 : t == TENSOR_Q4_0 ? expand_q4_0 : t == TENSOR_Q5_0 ? expand_q5_0
        : t == TENSOR_Q4_K ? expand_q4_k : t == TENSOR_Q5_K ? expand_q5_k : expand_q6_k;
    if (!qmm_avx2_supported(t))
        return;
    if (j->lanes) {
        lanes_rows(j, r0, r1, workspace);
        return;
    }
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
        const int groups = (nr + 7) / 8; /* 8-row tiles holding real rows */
        /* while this panel computes, the next one's rows come in from memory */
        const char *next = w + (size_t)QMM_ROWS * j->row_bytes;
        size_t next_bytes = rp + 2 * QMM_ROWS <= r1 ? (size_t)QMM_ROWS * j->row_bytes
                            : rp + QMM_ROWS < r1 ? (size_t)(r1 - rp - QMM_ROWS) * j->row_bytes : 0;
        size_t per_tile = (next_bytes / 64 + 1) / ((size_t)(j->n + QMM_TOKENS - 1) / QMM_TOKENS) + 1;
        size_t line = 0;
        for (int64_t t0 = 0; t0 < j->n; t0 += QMM_TOKENS) {
            for (size_t k = 0; k < per_tile && line * 64 < next_bytes; k++, line++)
                _mm_prefetch(next + line * 64, _MM_HINT_T0);
            for (int g = 0; g < groups; g++)
                kernel(j, &p, t0, g, out);
            int64_t nt = j->n - t0 < QMM_TOKENS ? j->n - t0 : QMM_TOKENS;
            for (int64_t tt = 0; tt < nt; tt++) {
                float *y = j->y + (t0 + tt) * j->rows + rp;
                if (nr == QMM_ROWS)
                    for (int g = 0; g < 4; g++)
                        _mm256_storeu_ps(y + 8 * g, _mm256_load_ps(out + tt * QMM_ROWS + 8 * g));
                else
                    memcpy(y, out + tt * QMM_ROWS, sizeof(float) * (size_t)nr);
            }
        }
    }
}

#endif
