#include "tensor/matmul.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/isa.h"
#include "tensor/arm/arm.h"
#include "tensor/qmm.h"
#include "tensor/qdot.h"
#include "tensor/quant.h"
#include "tensor/vexp.h"

void tensor_force_generic(int on) { cape_isa_force(on ? CAPE_ISA_SCALAR : -1); }
int tensor_generic_forced(void) { return cape_isa_level() == CAPE_ISA_SCALAR; }

static int exact_mode;
void tensor_set_exact(int on) { exact_mode = on; }
int tensor_exact(void) { return exact_mode; }

#if defined(__x86_64__)
static int have_avx512(void) { return cape_isa_allows(CAPE_ISA_AVX512); }
static int have_avx2(void) { return cape_isa_allows(CAPE_ISA_AVX2); }
#endif

const char *tensor_isa(void) { return cape_isa_name(cape_isa_level()); }

tensor_mat tensor_mat_make(tensor_type type, int64_t cols, int64_t rows, const void *data)
{
    tensor_mat m = {type, cols, rows, (size_t)tensor_row_bytes(type, cols), data};
    return m;
}

void tensor_mat_row(const tensor_mat *w, int64_t r, float *out)
{
    quant_dequant_row(w->type, (const char *)w->data + (size_t)r * w->row_bytes, out, w->cols);
}

/* ---- f32 dot products ---- */

static float dot_generic(const float *a, const float *b, int64_t n)
{
    float acc[8] = {0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++)
            acc[k] += a[i + k] * b[i + k];
    float s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
    for (; i < n; i++)
        s += a[i] * b[i];
    return s;
}

#if defined(__x86_64__)
__attribute__((target("avx2,fma"))) static float dot_avx2(const float *a, const float *b,
                                                          int64_t n)
{
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
    }
    s0 = _mm256_add_ps(s0, s1);
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(s0), _mm256_extractf128_ps(s0, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    h = _mm_add_ss(h, _mm_movehdup_ps(h));
    float s = _mm_cvtss_f32(h);
    for (; i < n; i++)
        s += a[i] * b[i];
    return s;
}

__attribute__((target("avx512f"))) static float dot_avx512(const float *a, const float *b,
                                                           int64_t n)
{
    __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
        s1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), s1);
    }
    for (; i + 16 <= n; i += 16)
        s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
    if (i < n) {
        __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        s1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i), s1);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
}
#endif

/* Four dot products of one row a with b[0..3], each summed exactly as the
 * level's single dot product sums it (the same accumulators, tail and
 * reduction), so that a token's result does not depend on its neighbours;
 * the row is read once for the four. */
typedef void (*dot4_fn)(const float *a, const float *const b[4], int64_t n, float out[4]);

#if defined(__x86_64__)
__attribute__((target("avx2,fma"))) static void dot4_avx2(const float *a, const float *const b[4],
                                                          int64_t n, float out[4])
{
    __m256 s0[4], s1[4];
    for (int k = 0; k < 4; k++)
        s0[k] = s1[k] = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m256 a0 = _mm256_loadu_ps(a + i), a1 = _mm256_loadu_ps(a + i + 8);
        for (int k = 0; k < 4; k++) {
            s0[k] = _mm256_fmadd_ps(a0, _mm256_loadu_ps(b[k] + i), s0[k]);
            s1[k] = _mm256_fmadd_ps(a1, _mm256_loadu_ps(b[k] + i + 8), s1[k]);
        }
    }
    for (int k = 0; k < 4; k++) {
        __m256 t = _mm256_add_ps(s0[k], s1[k]);
        __m128 h = _mm_add_ps(_mm256_castps256_ps128(t), _mm256_extractf128_ps(t, 1));
        h = _mm_add_ps(h, _mm_movehl_ps(h, h));
        h = _mm_add_ss(h, _mm_movehdup_ps(h));
        float v = _mm_cvtss_f32(h);
        for (int64_t e = i; e < n; e++)
            v += a[e] * b[k][e];
        out[k] = v;
    }
}

__attribute__((target("avx512f"))) static void dot4_avx512(const float *a, const float *const b[4],
                                                           int64_t n, float out[4])
{
    __m512 s0[4], s1[4];
    for (int k = 0; k < 4; k++)
        s0[k] = s1[k] = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        const __m512 a0 = _mm512_loadu_ps(a + i), a1 = _mm512_loadu_ps(a + i + 16);
        for (int k = 0; k < 4; k++) {
            s0[k] = _mm512_fmadd_ps(a0, _mm512_loadu_ps(b[k] + i), s0[k]);
            s1[k] = _mm512_fmadd_ps(a1, _mm512_loadu_ps(b[k] + i + 16), s1[k]);
        }
    }
    for (; i + 16 <= n; i += 16) {
        const __m512 a0 = _mm512_loadu_ps(a + i);
        for (int k = 0; k < 4; k++)
            s0[k] = _mm512_fmadd_ps(a0, _mm512_loadu_ps(b[k] + i), s0[k]);
    }
    if (i < n) {
        __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        const __m512 a0 = _mm512_maskz_loadu_ps(m, a + i);
        for (int k = 0; k < 4; k++)
            s1[k] = _mm512_fmadd_ps(a0, _mm512_maskz_loadu_ps(m, b[k] + i), s1[k]);
    }
    for (int k = 0; k < 4; k++)
        out[k] = _mm512_reduce_add_ps(_mm512_add_ps(s0[k], s1[k]));
}
#endif

/* the other levels: four single dot products */
static void dot4_each(const float *a, const float *const b[4], int64_t n, float out[4])
{
    for (int k = 0; k < 4; k++)
        out[k] = tensor_dot_f32(a, b[k], n);
}

static dot4_fn dot4_now(void)
{
#if defined(__x86_64__)
    if (have_avx512())
        return dot4_avx512;
    if (have_avx2())
        return dot4_avx2;
#endif
    return dot4_each;
}

float tensor_dot_f32(const float *a, const float *b, int64_t n)
{
#if defined(__x86_64__)
    if (have_avx512())
        return dot_avx512(a, b, n);
    if (have_avx2())
        return dot_avx2(a, b, n);
#elif defined(__aarch64__)
    if (cape_isa_allows(CAPE_ISA_NEON))
        return f32_dot_neon(a, b, n);
#endif
    return dot_generic(a, b, n);
}

#if defined(__x86_64__)
__attribute__((target("avx512f"))) static void axpy_avx512(float a, const float *x, float *y,
                                                           int64_t n)
{
    __m512 va = _mm512_set1_ps(a);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(y + i, _mm512_fmadd_ps(va, _mm512_loadu_ps(x + i), _mm512_loadu_ps(y + i)));
    if (i < n) {
        __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        _mm512_mask_storeu_ps(y + i, m, _mm512_fmadd_ps(va, _mm512_maskz_loadu_ps(m, x + i),
                                                        _mm512_maskz_loadu_ps(m, y + i)));
    }
}

/* AVX2 + FMA variants of the f32 helpers; tails through masked loads and
 * stores (vmask_epi32) or the scalar loop where the order of a sum matters
 * no more than elsewhere. */
#define AVX2 __attribute__((target("avx2,fma")))

static inline AVX2 __m256i tail_mask(int64_t left)
{
    return vmask_epi32(left > 8 ? 8 : (int)left);
}

AVX2 static void axpy_avx2(float a, const float *x, float *y, int64_t n)
{
    __m256 va = _mm256_set1_ps(a);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
    if (i < n) {
        __m256i m = tail_mask(n - i);
        _mm256_maskstore_ps(y + i, m, _mm256_fmadd_ps(va, _mm256_maskload_ps(x + i, m),
                                                      _mm256_maskload_ps(y + i, m)));
    }
}

AVX2 static double sumsq_avx2(const float *x, int64_t n)
{
    __m256d s0 = _mm256_setzero_pd(), s1 = _mm256_setzero_pd();
    __m256d s2 = _mm256_setzero_pd(), s3 = _mm256_setzero_pd();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256d a = _mm256_cvtps_pd(_mm_loadu_ps(x + i)), b = _mm256_cvtps_pd(_mm_loadu_ps(x + i + 4));
        __m256d c = _mm256_cvtps_pd(_mm_loadu_ps(x + i + 8)), d = _mm256_cvtps_pd(_mm_loadu_ps(x + i + 12));
        s0 = _mm256_fmadd_pd(a, a, s0);
        s1 = _mm256_fmadd_pd(b, b, s1);
        s2 = _mm256_fmadd_pd(c, c, s2);
        s3 = _mm256_fmadd_pd(d, d, s3);
    }
    __m256d s = _mm256_add_pd(_mm256_add_pd(s0, s1), _mm256_add_pd(s2, s3));
    __m128d h = _mm_add_pd(_mm256_castpd256_pd128(s), _mm256_extractf128_pd(s, 1));
    double r = _mm_cvtsd_f64(_mm_add_sd(h, _mm_unpackhi_pd(h, h)));
    for (; i < n; i++)
        r += (double)x[i] * x[i];
    return r;
}

AVX2 static void scale_mul_avx2(float *y, const float *x, float r, const float *w, int64_t n)
{
    __m256 vr = _mm256_set1_ps(r);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_mul_ps(_mm256_mul_ps(_mm256_loadu_ps(x + i), vr),
                                              _mm256_loadu_ps(w + i)));
    for (; i < n; i++)
        y[i] = x[i] * r * w[i];
}

AVX2 static void rotate_avx2(float *a, float *b, const float *co, const float *si, int64_t n)
{
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 x0 = _mm256_loadu_ps(a + i), x1 = _mm256_loadu_ps(b + i);
        __m256 c = _mm256_loadu_ps(co + i), s = _mm256_loadu_ps(si + i);
        /* unfused, as the scalar and AVX-512 loops round */
        _mm256_storeu_ps(a + i, _mm256_sub_ps(_mm256_mul_ps(x0, c), _mm256_mul_ps(x1, s)));
        _mm256_storeu_ps(b + i, _mm256_add_ps(_mm256_mul_ps(x0, s), _mm256_mul_ps(x1, c)));
    }
    for (; i < n; i++) {
        float x0 = a[i], x1 = b[i];
        a[i] = x0 * co[i] - x1 * si[i];
        b[i] = x0 * si[i] + x1 * co[i];
    }
}
#endif

void tensor_axpy(float a, const float *x, float *y, int64_t n)
{
#if defined(__x86_64__)
    if (have_avx512()) {
        axpy_avx512(a, x, y, n);
        return;
    }
    if (have_avx2()) {
        axpy_avx2(a, x, y, n);
        return;
    }
#elif defined(__aarch64__)
    if (cape_isa_allows(CAPE_ISA_NEON)) {
        f32_axpy_neon(a, x, y, n);
        return;
    }
#endif
    for (int64_t i = 0; i < n; i++)
        y[i] += a * x[i];
}

#if defined(__x86_64__)
__attribute__((target("avx512f"))) static double sumsq_avx512(const float *x, int64_t n)
{
    __m512d s0 = _mm512_setzero_pd(), s1 = _mm512_setzero_pd();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512d a = _mm512_cvtps_pd(_mm256_loadu_ps(x + i)), b = _mm512_cvtps_pd(_mm256_loadu_ps(x + i + 8));
        s0 = _mm512_fmadd_pd(a, a, s0);
        s1 = _mm512_fmadd_pd(b, b, s1);
    }
    double s = _mm512_reduce_add_pd(_mm512_add_pd(s0, s1));
    for (; i < n; i++)
        s += (double)x[i] * x[i];
    return s;
}

#endif

double tensor_sumsq(const float *x, int64_t n)
{
#if defined(__x86_64__)
    if (have_avx512())
        return sumsq_avx512(x, n);
    if (have_avx2())
        return sumsq_avx2(x, n);
#elif defined(__aarch64__)
    if (cape_isa_allows(CAPE_ISA_NEON))
        return f32_sumsq_neon(x, n);
#endif
    double s = 0;
    for (int64_t i = 0; i < n; i++)
        s += (double)x[i] * x[i];
    return s;
}

#if defined(__x86_64__)
__attribute__((target("avx512f"))) static void scale_mul_avx512(float *y, const float *x, float r,
                                                                const float *w, int64_t n)
{
    __m512 vr = _mm512_set1_ps(r);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(y + i, _mm512_mul_ps(_mm512_mul_ps(_mm512_loadu_ps(x + i), vr),
                                              _mm512_loadu_ps(w + i)));
    for (; i < n; i++)
        y[i] = x[i] * r * w[i];
}

#endif

void tensor_scale_mul(float *y, const float *x, float r, const float *w, int64_t n)
{
#if defined(__x86_64__)
    if (have_avx512()) {
        scale_mul_avx512(y, x, r, w, n);
        return;
    }
    if (have_avx2()) {
        scale_mul_avx2(y, x, r, w, n);
        return;
    }
#elif defined(__aarch64__)
    if (cape_isa_allows(CAPE_ISA_NEON)) {
        f32_scale_mul_neon(y, x, r, w, n);
        return;
    }
#endif
    for (int64_t i = 0; i < n; i++)
        y[i] = x[i] * r * w[i];
}

#if defined(__x86_64__)
__attribute__((target("avx512f"))) static void rotate_avx512(float *a, float *b, const float *co,
                                                             const float *si, int64_t n)
{
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512 x0 = _mm512_loadu_ps(a + i), x1 = _mm512_loadu_ps(b + i);
        __m512 c = _mm512_loadu_ps(co + i), s = _mm512_loadu_ps(si + i);
        _mm512_storeu_ps(a + i, _mm512_sub_ps(_mm512_mul_ps(x0, c), _mm512_mul_ps(x1, s)));
        _mm512_storeu_ps(b + i, _mm512_add_ps(_mm512_mul_ps(x0, s), _mm512_mul_ps(x1, c)));
    }
    for (; i < n; i++) {
        float x0 = a[i], x1 = b[i];
        a[i] = x0 * co[i] - x1 * si[i];
        b[i] = x0 * si[i] + x1 * co[i];
    }
}

#endif

void tensor_rotate_half(float *a, float *b, const float *co, const float *si, int64_t n)
{
#if defined(__x86_64__)
    if (have_avx512()) {
        rotate_avx512(a, b, co, si, n);
        return;
    }
    if (have_avx2()) {
        rotate_avx2(a, b, co, si, n);
        return;
    }
#elif defined(__aarch64__)
    if (cape_isa_allows(CAPE_ISA_NEON)) {
        f32_rotate_half_neon(a, b, co, si, n);
        return;
    }
#endif
    for (int64_t i = 0; i < n; i++) {
        float x0 = a[i], x1 = b[i];
        a[i] = x0 * co[i] - x1 * si[i];
        b[i] = x0 * si[i] + x1 * co[i];
    }
}

/* ---- matmul ---- */

typedef struct {
    const tensor_mat *w;
    const float *x;
    int64_t n;
    float *y;
    const char *act; /* quantised activations, or NULL */
    size_t act_bytes;
    const qdot_scales *sc; /* their block scales, transposed (32-blocks only) */
    const qmm_job *qmm;    /* the many-token kernels' job, or NULL */
    char *qmm_ws;          /* their scratch, qmm_ws_bytes per thread */
    size_t qmm_ws_bytes;
} mm_job;

#ifndef MM_PREFETCH
#define MM_PREFETCH 4096
#endif

static void mm_worker(void *arg, int64_t r0, int64_t r1, int ith)
{
    mm_job *j = arg;
    const tensor_mat *w = j->w;
    if (j->qmm) {
        qmm_rows(j->qmm, r0, r1, j->qmm_ws + (size_t)ith * j->qmm_ws_bytes);
        return;
    }
    if (j->act) {
        const qdot_kernels *k = qdot_kernels_now(); /* once, not per row */
        if (j->n == 1) {
            /* one token: the weights stream through once, and the kernels
             * wait on memory. The hardware prefetchers stop at each 4 KiB
             * page; asking for the lines MM_PREFETCH bytes ahead keeps the
             * stream going across them. */
            const char *base = (const char *)w->data;
            size_t rb = w->row_bytes, end = (size_t)r1 * rb;
            size_t pf = (size_t)r0 * rb + MM_PREFETCH;
            for (int64_t r = r0; r < r1; r++) {
                const char *row = base + (size_t)r * rb;
                for (size_t e = (size_t)(r + 1) * rb + MM_PREFETCH; pf < e && pf < end; pf += 64)
                    __builtin_prefetch(base + pf);
                j->y[r] = k->row(w->type, row, j->act, w->cols);
            }
            return;
        }
        /* tiles of 16 rows x 16 tokens keep both operands in L1 */
        for (int64_t rb = r0; rb < r1; rb += 16) {
            int64_t re = rb + 16 < r1 ? rb + 16 : r1;
            for (int64_t tb = 0; tb < j->n; tb += 16) {
                int64_t te = tb + 16 < j->n ? tb + 16 : j->n;
                for (int64_t r = rb; r < re; r++) {
                    const char *row = (const char *)w->data + (size_t)r * w->row_bytes;
                    int64_t t = tb;
                    float o[4];
                    for (; t + 4 <= te; t += 4) {
                        if (!k->rows4(w->type, row, j->act + (size_t)t * j->act_bytes,
                                      j->act_bytes, w->cols, j->sc, t, o))
                            break;
                        for (int i = 0; i < 4; i++)
                            j->y[(t + i) * w->rows + r] = o[i];
                    }
                    for (; t < te; t++)
                        j->y[t * w->rows + r] =
                            k->row(w->type, row, j->act + (size_t)t * j->act_bytes, w->cols);
                }
            }
        }
        return;
    }
    /* F32 rows are read in place unless the file put them at an offset that
     * is not a multiple of 4 (then copied, as the scalar dot reads floats) */
    const int in_place = w->type == TENSOR_F32 && (uintptr_t)w->data % sizeof(float) == 0 &&
                         w->row_bytes % sizeof(float) == 0;
    float *buf = NULL;
    if (!in_place && r1 > r0) {
        buf = aligned_alloc(64, ((size_t)w->cols * 4 + 63) / 64 * 64);
        if (!buf)
            abort();
    }
    /* tiles of 16 rows x 16 tokens keep both operands in cache (rows that
     * must be converted first: one tile of all tokens, so each row is
     * converted once); four tokens per pass over a row */
    const dot4_fn dot4 = dot4_now();
    const int64_t tile_t = in_place ? 16 : j->n;
    for (int64_t rb = r0; rb < r1; rb += 16) {
        int64_t re = rb + 16 < r1 ? rb + 16 : r1;
        for (int64_t tb = 0; tb < j->n; tb += tile_t) {
            int64_t te = tb + tile_t < j->n ? tb + tile_t : j->n;
            for (int64_t r = rb; r < re; r++) {
                const float *row;
                if (in_place) {
                    row = (const float *)((const char *)w->data + (size_t)r * w->row_bytes);
                } else {
                    tensor_mat_row(w, r, buf);
                    row = buf;
                }
                int64_t t = tb;
                for (; t + 4 <= te; t += 4) {
                    const float *const b4[4] = {j->x + t * w->cols, j->x + (t + 1) * w->cols,
                                                j->x + (t + 2) * w->cols, j->x + (t + 3) * w->cols};
                    float o[4];
                    dot4(row, b4, w->cols, o);
                    for (int i = 0; i < 4; i++)
                        j->y[(t + i) * w->rows + r] = o[i];
                }
                for (; t < te; t++)
                    j->y[t * w->rows + r] = tensor_dot_f32(row, j->x + t * w->cols, w->cols);
            }
        }
    }
    free(buf);
}

/* Scratch that grows and is kept for the next call: fresh large buffers
 * would be mapped and zeroed by the kernel on every matmul. */
static void *scratch(int which, size_t bytes)
{
    static __thread void *buf[4];
    static __thread size_t cap[4];
    if (bytes > cap[which]) {
        free(buf[which]);
        size_t c = bytes + bytes / 4 + 4096;
        buf[which] = malloc(c);
        cap[which] = buf[which] ? c : 0;
    }
    return buf[which];
}

typedef struct {
    const tensor_mat *w;
    const float *x;
    const qmm_job *q;
    void *info;
} quant_job;

/* Activation rows t0..t1-1 quantised (rows past n are the zero padding)
 * and their block data for qmm. */
static void quant_worker(void *arg, int64_t t0, int64_t t1, int ith)
{
    (void)ith;
    quant_job *j = arg;
    const tensor_mat *w = j->w;
    for (int64_t t = t0; t < t1 && t < j->q->n; t++)
        qdot_quantize(w->type, j->x + t * w->cols, w->cols, (char *)j->q->act + (size_t)t * j->q->act_bytes);
    qmm_prepare(j->q, t0, t1, j->info);
}

/* Many tokens: activations quantised as for qdot and padded with zero rows
 * to whole register tiles, rows handed out a panel at a time (qmm.h). 0
 * when the scratch cannot be had (the caller falls back). */
static int matmul_qmm(pool *p, const tensor_mat *w, const float *x, int64_t n, float *y)
{
    int64_t npad = (n + QMM_TOKENS - 1) / QMM_TOKENS * QMM_TOKENS;
    size_t ab = qdot_act_bytes(w->type, w->cols);
    size_t ws_bytes = (qmm_workspace_bytes(w->type, w->cols) + 63) / 64 * 64;
    char *act = scratch(0, ab * (size_t)npad);
    void *info = scratch(1, qmm_info_bytes(w->type, w->cols, npad));
    char *ws = scratch(2, ws_bytes * (size_t)pool_size(p));
    if (!act || !info || !ws)
        return 0;
    memset(act + (size_t)n * ab, 0, (size_t)(npad - n) * ab);
    qmm_job q = {w->type, w->cols, w->rows, w->row_bytes, w->data, act, ab, info, n, npad, y, NULL};
    quant_job qj = {w, x, &q, info};
    pool_for(n >= 64 ? p : NULL, npad, 16, quant_worker, &qj);
    int groups = qmm_lanes_groups(w->type, n);
    if (groups) {
        void *lanes = scratch(3, qmm_lanes_bytes(w->type, w->cols) * (size_t)groups + 64);
        if (!lanes)
            return 0;
        lanes = (void *)(((uintptr_t)lanes + 63) & ~(uintptr_t)63);
        qmm_prepare_lanes(&q, info, groups, lanes);
        q.lanes = lanes;
    }
    mm_job j = {w, x, n, y, NULL, 0, NULL, &q, ws, ws_bytes};
    /* chunks of several panels, so that a thread streams the next panel of
     * its chunk in while it computes one (about 8 chunks per thread) */
    int64_t grain = w->rows / (8 * (int64_t)pool_size(p)) / QMM_ROWS * QMM_ROWS;
    pool_for(p, w->rows, grain > QMM_ROWS ? grain : QMM_ROWS, mm_worker, &j);
    return 1;
}


void tensor_matmul(pool *p, const tensor_mat *w, const float *x, int64_t n, float *y)
{
    if (n >= qmm_min_tokens(w->type) && !exact_mode && qmm_supported(w->type) && qmm_available() &&
        matmul_qmm(p, w, x, n, y))
        return;
    mm_job j = {w, x, n, y, NULL, 0, NULL, NULL, NULL, 0};
    char *act = NULL;
    float *scales = NULL;
    qdot_scales sc;
    if (qdot_supported(w->type) && !exact_mode) {
        j.act_bytes = qdot_act_bytes(w->type, w->cols);
        act = scratch(0, j.act_bytes * (size_t)n + 64);
        if (act) {
            for (int64_t t = 0; t < n; t++)
                qdot_quantize(w->type, x + t * w->cols, w->cols, act + (size_t)t * j.act_bytes);
            j.act = act;
        }
        int64_t nb = w->cols / 32, npad = (n + 3) / 4 * 4;
        if (act && n >= 4 && (w->type == TENSOR_Q4_0 || w->type == TENSOR_Q5_0 ||
                              w->type == TENSOR_Q8_0) &&
            (scales = scratch(1, (size_t)(2 * nb * npad) * sizeof *scales))) {
            memset(scales, 0, (size_t)(2 * nb * npad) * sizeof *scales);
            for (int64_t t = 0; t < n; t++) {
                const qa_block *q = (const qa_block *)(act + (size_t)t * j.act_bytes);
                for (int64_t b = 0; b < nb; b++) {
                    scales[b * npad + t] = q[b].d;
                    scales[nb * npad + b * npad + t] = q[b].d * (float)q[b].sum;
                }
            }
            sc = (qdot_scales){scales, scales + nb * npad, npad};
            j.sc = &sc;
        }
    }
    /* chunks small enough to balance, large enough that claiming is rare */
    int nth = pool_size(p);
    int64_t grain = w->rows / (16 * nth);
    if (n > 1 && grain > 64)
        grain = 64;
    grain = grain < 4 ? 4 : grain;
    pool_for(p, w->rows, grain, mm_worker, &j);
}
