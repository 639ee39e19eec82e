/* The f32/f16 kernels of every ISA path against their scalar versions:
 * activations and exp-sums (tensor/act.h), blocked attention
 * (tensor/attn.h), the f32 helpers of tensor/matmul.h, f16 rows and the
 * dequantisation of the types without an int8 kernel (tensor/quant.h), and
 * the trainer's activation, cross-entropy and LayerNorm layers
 * (train/train_layers.h) and AdamW (train/train_adamw.h).
 * Each runs on every level this host allows (cape_isa_force), on sizes with
 * odd tails, and is compared with the same call forced to scalar. */
#include "testutil.h"

#include <stddef.h>
#include <string.h>

#include "base/isa.h"
#include "base/rng.h"
#include "tensor/act.h"
#include "tensor/attn.h"
#include "tensor/dtype.h"
#include "tensor/matmul.h"
#include "tensor/quant.h"
#include "train/train_adamw.h"
#include "train/train_layers.h"
#include "train/train_pool.h"

static const int SIZES[] = {1, 3, 7, 8, 9, 15, 16, 17, 31, 33, 64, 100, 257};
enum { NSIZES = sizeof SIZES / sizeof *SIZES, MAXN = 257 };

static int top_level(void)
{
    cape_isa_force(-1);
    return (int)cape_isa_level();
}

static void fill(rng_fast *r, float *x, int n, double lo, double hi)
{
    for (int i = 0; i < n; i++)
        x[i] = (float)(lo + (hi - lo) * rng_fast_double(r));
}

/* |a - b| <= tol * (|b| + floor) element by element */
static void near(const char *what, int level, int n, const float *a, const float *b, double tol,
                 double floor)
{
    for (int i = 0; i < n; i++)
        if (!(fabs((double)a[i] - b[i]) <= tol * (fabs((double)b[i]) + floor)))
            fail_msg("%s (%s, n %d): [%d] = %.9g, scalar %.9g", what, cape_isa_name((cape_isa)level),
                     n, i, a[i], b[i]);
}

static void activations_match_scalar(void **state)
{
    (void)state;
    int top = top_level();
    rng_fast r;
    rng_fast_seed(&r, 3);
    float x[MAXN], m[MAXN], want[MAXN], got[MAXN + 1], v512[MAXN];
    const act_kind kinds[] = {ACT_SILU, ACT_GELU_TANH, ACT_GELU_ERF};
    for (int s = 0; s < NSIZES; s++) {
        int n = SIZES[s];
        fill(&r, x, n, -12, 12);
        fill(&r, m, n, -2, 2);
        x[0] = -100.f; /* past the clamp of the exp */
        for (size_t k = 0; k < sizeof kinds / sizeof *kinds; k++)
            for (int masked = 0; masked < 2; masked++) {
                cape_isa_force(CAPE_ISA_SCALAR);
                act_apply(kinds[k], x, masked ? m : NULL, want, (size_t)n);
                for (int l = CAPE_ISA_AVX2; l <= top; l++) {
                    cape_isa_force(l);
                    memset(got, 0xff, sizeof got);
                    act_apply(kinds[k], x, masked ? m : NULL, got, (size_t)n);
                    /* libm's 1 + tanh(u) loses digits where GELU is tiny, hence
                     * the absolute floor (6e-8 |x| at most for x in [-12, 12]) */
                    near("act_apply", l, n, got, want, 2e-6, 0.5);
                    for (int i = n; i <= MAXN; i++) /* nothing past n is written */
                        if (!isnan(got[i]))
                            fail_msg("act_apply wrote y[%d] past n = %d", i, n);
                    /* the 8- and 16-lane exp give the same bits (on the
                     * whole vectors of 16 that the AVX-512 loop computes) */
                    if (l == CAPE_ISA_AVX512 && n >= 16) {
                        memcpy(v512, got, sizeof(float) * (size_t)n);
                        cape_isa_force(CAPE_ISA_AVX2);
                        act_apply(kinds[k], x, masked ? m : NULL, got, (size_t)n);
                        if (kinds[k] != ACT_GELU_ERF)
                            assert_memory_equal(got, v512, sizeof(float) * (size_t)(n / 16 * 16));
                    }
                }
            }
    }
    /* exp and sum, in place */
    for (int s = 0; s < NSIZES; s++) {
        int n = SIZES[s];
        fill(&r, x, n, -30, 0);
        x[n - 1] = n > 1 ? -200.f : x[n - 1];
        memcpy(want, x, sizeof(float) * (size_t)n);
        cape_isa_force(CAPE_ISA_SCALAR);
        double ws = act_exp_sum(want, (size_t)n, -1.5f);
        for (int l = CAPE_ISA_AVX2; l <= top; l++) {
            cape_isa_force(l);
            memcpy(got, x, sizeof(float) * (size_t)n);
            got[n] = 7.f;
            double gs = act_exp_sum(got, (size_t)n, -1.5f);
            near("act_exp_sum values", l, n, got, want, 1e-6, 1e-30);
            assert_close(gs, ws, 1e-6 * ws + 1e-37); /* the vector exp clamps at -87 */
            assert_true(got[n] == 7.f);
        }
    }
    cape_isa_force(-1);
}

static void attention_matches_scalar(void **state)
{
    (void)state;
    int top = top_level();
    rng_fast r;
    rng_fast_seed(&r, 5);
    const int groups[] = {1, 3, 4, 5, 8}, heads[] = {8, 24, 40, 64, 72, 12};
    const int n_pos = 83, ld = (n_pos + 63) / 64 * 64;
    for (size_t a = 0; a < sizeof groups / sizeof *groups; a++)
        for (size_t b = 0; b < sizeof heads / sizeof *heads; b++) {
            int G = groups[a], hd = heads[b];
            size_t stride = (size_t)hd + 5;
            float *k = malloc(sizeof(float) * stride * n_pos), *v = malloc(sizeof(float) * stride * n_pos);
            float *q = malloc(sizeof(float) * (size_t)(G * hd)), *kt = malloc(sizeof(float) * (size_t)(hd * ld));
            float *sc = malloc(sizeof(float) * attn_scratch_floats(G, ld));
            float *want = malloc(sizeof(float) * (size_t)(G * hd)), *got = malloc(sizeof(float) * (size_t)(G * hd));
            fill(&r, k, (int)(stride * n_pos), -1, 1);
            fill(&r, v, (int)(stride * n_pos), -1, 1);
            fill(&r, q, G * hd, -2, 2);
            attn_keys_transpose(k, stride, 0, n_pos, hd, kt, ld);
            const int win[][2] = {{0, 0}, {0, 82}, {9, 82}, {17, 40}, {3, 10}};
            for (size_t w = 0; w < sizeof win / sizeof *win; w++) {
                cape_isa_force(CAPE_ISA_SCALAR);
                attn_group(q, G, hd, kt, ld, v, stride, win[w][0], win[w][1], 0.3f, sc, want);
                for (int l = CAPE_ISA_AVX2; l <= top; l++) {
                    cape_isa_force(l);
                    attn_group(q, G, hd, kt, ld, v, stride, win[w][0], win[w][1], 0.3f, sc, got);
                    for (int i = 0; i < G * hd; i++)
                        if (!(fabs(got[i] - want[i]) <= 2e-6))
                            fail_msg("attn (%s) G %d hd %d window %d..%d: [%d] %.8f, scalar %.8f",
                                     cape_isa_name((cape_isa)l), G, hd, win[w][0], win[w][1], i,
                                     got[i], want[i]);
                }
            }
            free(k), free(v), free(q), free(kt), free(sc), free(want), free(got);
        }
    cape_isa_force(-1);
}

static void f32_helpers_match_scalar(void **state)
{
    (void)state;
    int top = top_level();
    rng_fast r;
    rng_fast_seed(&r, 9);
    float x[MAXN], w[MAXN], y0[MAXN + 1], want[MAXN + 1], got[MAXN + 1], b0[MAXN], wb[MAXN], gb[MAXN];
    float co[MAXN], si[MAXN];
    for (int s = 0; s < NSIZES; s++) {
        int n = SIZES[s];
        fill(&r, x, n, -3, 3);
        fill(&r, w, n, -2, 2);
        fill(&r, y0, n + 1, -3, 3);
        fill(&r, b0, n, -3, 3);
        for (int i = 0; i < n; i++) {
            double a = 6.283 * rng_fast_double(&r);
            co[i] = (float)cos(a), si[i] = (float)sin(a);
        }
        cape_isa_force(CAPE_ISA_SCALAR);
        double dot_w = tensor_dot_f32(x, w, n), ss_w = tensor_sumsq(x, n);
        memcpy(want, y0, sizeof want);
        tensor_axpy(0.37f, x, want, n);
        float sm_w[MAXN], sm_g[MAXN];
        tensor_scale_mul(sm_w, x, 0.77f, w, n);
        memcpy(wb, b0, sizeof wb);
        float ra[MAXN];
        memcpy(ra, y0, sizeof ra);
        tensor_rotate_half(ra, wb, co, si, n);
        for (int l = CAPE_ISA_AVX2; l <= top; l++) {
            cape_isa_force(l);
            assert_close(tensor_dot_f32(x, w, n), dot_w, 1e-5 * n);
            assert_rel(tensor_sumsq(x, n), ss_w, 1e-12);
            memcpy(got, y0, sizeof got);
            tensor_axpy(0.37f, x, got, n);
            for (int i = 0; i < n; i++) /* fused or not: within an ulp of the terms */
                assert_close(got[i], want[i], 2.4e-7 * (fabs(y0[i]) + fabs(0.37 * x[i])));
            assert_true(got[n] == y0[n]); /* the tail is masked */
            tensor_scale_mul(sm_g, x, 0.77f, w, n);
            assert_memory_equal(sm_g, sm_w, sizeof(float) * (size_t)n);
            float ga[MAXN];
            memcpy(ga, y0, sizeof ga);
            memcpy(gb, b0, sizeof gb);
            tensor_rotate_half(ga, gb, co, si, n);
            assert_memory_equal(ga, ra, sizeof(float) * (size_t)n);
            assert_memory_equal(gb, wb, sizeof(float) * (size_t)n);
        }
    }
    cape_isa_force(-1);
}

/* Random code bytes with sane random f16 scales (random bits could be NaN). */
static void random_blocks(rng_fast *g, uint32_t t, int64_t cols, uint8_t *w)
{
    size_t rb = (size_t)tensor_row_bytes(t, cols);
    for (size_t i = 0; i < rb; i++)
        w[i] = (uint8_t)rng_fast_u64(g);
    int kq = t == TENSOR_Q2_K || t == TENSOR_Q3_K || t == TENSOR_Q4_K || t == TENSOR_Q5_K ||
             t == TENSOR_Q6_K;
    size_t bs = (size_t)tensor_row_bytes(t, kq ? QK_K : QK), od = 0, om = 1;
    switch (t) { /* where d and the minimum (or m) are; om = 1: none */
    case TENSOR_Q2_K: od = offsetof(block_q2_k, d), om = offsetof(block_q2_k, dmin); break;
    case TENSOR_Q3_K: od = offsetof(block_q3_k, d); break;
    case TENSOR_Q4_K: od = offsetof(block_q4_k, d), om = offsetof(block_q4_k, dmin); break;
    case TENSOR_Q5_K: od = offsetof(block_q5_k, d), om = offsetof(block_q5_k, dmin); break;
    case TENSOR_Q6_K: od = offsetof(block_q6_k, d); break;
    case TENSOR_Q4_1: om = offsetof(block_q4_1, m); break;
    case TENSOR_Q5_1: om = offsetof(block_q5_1, m); break;
    default: break; /* Q4_0, Q5_0, Q8_0: d first */
    }
    for (size_t o = 0; o < rb; o += bs) {
        uint16_t d = tensor_f32_to_f16((float)(0.001 + 0.01 * rng_fast_double(g)));
        uint16_t m = tensor_f32_to_f16((float)(-0.01 + 0.02 * rng_fast_double(g)));
        memcpy(w + o + od, &d, 2);
        if (om != 1)
            memcpy(w + o + om, &m, 2);
    }
}

static void dequantisation_matches_scalar(void **state)
{
    (void)state;
    int top = top_level();
    rng_fast g;
    rng_fast_seed(&g, 21);
    const uint32_t types[] = {TENSOR_Q4_1, TENSOR_Q5_1, TENSOR_Q2_K, TENSOR_Q3_K, TENSOR_F16,
                              TENSOR_BF16, TENSOR_Q4_0, TENSOR_Q5_0, TENSOR_Q8_0, TENSOR_Q4_K,
                              TENSOR_Q5_K, TENSOR_Q6_K};
    const int64_t ncols[] = {256, 768, 1280};
    for (size_t k = 0; k < sizeof types / sizeof *types; k++)
        for (size_t c = 0; c < 3; c++) {
            uint32_t t = types[k];
            int64_t cols = ncols[c];
            if (t == TENSOR_F16 || t == TENSOR_BF16)
                cols += 2 * (int64_t)c + 5; /* odd lengths: a scalar tail */
            size_t rb = (size_t)tensor_row_bytes(t, cols);
            uint8_t *w = malloc(rb);
            float *want = malloc(sizeof(float) * (size_t)(cols + 1));
            float *got = malloc(sizeof(float) * (size_t)(cols + 1));
            if (t == TENSOR_F16 || t == TENSOR_BF16)
                for (size_t i = 0; i < rb; i++) /* every bit pattern: subnormals, inf, NaN */
                    w[i] = (uint8_t)rng_fast_u64(&g);
            else
                random_blocks(&g, t, cols, w);
            cape_isa_force(CAPE_ISA_SCALAR);
            quant_dequant_row(t, w, want, cols);
            for (int l = CAPE_ISA_AVX2; l <= top; l++) {
                cape_isa_force(l);
                got[cols] = 42.f;
                quant_dequant_row(t, w, got, cols);
                assert_true(got[cols] == 42.f);
                for (int64_t i = 0; i < cols; i++) {
                    int same = isnan(want[i]) ? isnan(got[i])
                                              : memcmp(&got[i], &want[i], sizeof(float)) == 0;
                    if (!same)
                        fail_msg("%s (%s) cols %d: [%d] = %.9g, scalar %.9g", tensor_type_name(t),
                                 cape_isa_name((cape_isa)l), (int)cols, (int)i, got[i], want[i]);
                }
            }
            free(w), free(want), free(got);
        }
    cape_isa_force(-1);
}

/* The trainer's row kernels: GELU and SwiGLU forward and backward (with and
 * without the sink mask), cross-entropy forward and backward. */
static void trainer_layers_match_scalar(void **state)
{
    (void)state;
    int top = top_level();
    rng_fast r;
    rng_fast_seed(&r, 13);
    const int widths[] = {1, 7, 9, 24, 37, 130};
    const int N = 6, T = 3;
    for (size_t wi = 0; wi < sizeof widths / sizeof *widths; wi++) {
        int I = widths[wi], NI = N * I;
        float *a = malloc(sizeof(float) * NI), *b = malloc(sizeof(float) * NI), *dh = malloc(sizeof(float) * NI);
        float *mk = malloc(sizeof(float) * 2 * I), *out[2], *da[2], *db[2];
        for (int k = 0; k < 2; k++) {
            out[k] = malloc(sizeof(float) * (NI + 1));
            da[k] = malloc(sizeof(float) * (NI + 1));
            db[k] = malloc(sizeof(float) * (NI + 1));
        }
        fill(&r, a, NI, -6, 6);
        fill(&r, b, NI, -2, 2);
        fill(&r, dh, NI, -1, 1);
        for (int i = 0; i < 2 * I; i++)
            mk[i] = (float)(rng_fast_u64(&r) & 1);
        for (int masked = 0; masked < 2; masked++)
            for (int gelu = 0; gelu < 2; gelu++)
                for (int l = CAPE_ISA_SCALAR; l <= top; l++) {
                    int k = l != CAPE_ISA_SCALAR;
                    cape_isa_force(l);
                    const float *m = masked ? mk : NULL;
                    for (int i = 0; i <= NI; i++)
                        out[k][i] = 5.f, da[k][i] = 0.25f, db[k][i] = -0.5f;
                    if (gelu) {
                        gelu_forward(out[k], a, m, N, T, I);
                        gelu_backward(da[k], dh, a, m, N, T, I);
                    } else {
                        swiglu_forward(out[k], a, b, m, N, T, I);
                        swiglu_backward(da[k], db[k], dh, a, b, m, N, T, I);
                    }
                    assert_true(out[k][NI] == 5.f && da[k][NI] == 0.25f && db[k][NI] == -0.5f);
                    if (k) {
                        const char *f = gelu ? "gelu forward" : "swiglu forward";
                        /* absolute floors: libm's 1 + tanh(u) where GELU is tiny */
                        near(f, l, NI, out[1], out[0], 2e-6, 0.3);
                        /* and the vector tanh's clamp at |u| = 9: 2e-6 in GELU' */
                        near(gelu ? "gelu da" : "swiglu da", l, NI, da[1], da[0], 2e-6, 1.0);
                        near("swiglu db", l, NI, db[1], db[0], 2e-6, 0.3);
                    }
                }
        free(a), free(b), free(dh), free(mk);
        for (int k = 0; k < 2; k++)
            free(out[k]), free(da[k]), free(db[k]);
    }
    /* cross-entropy over vocabularies with odd tails; one ignored target */
    const int vocabs[] = {1, 5, 8, 17, 100, 515};
    for (size_t vi = 0; vi < sizeof vocabs / sizeof *vocabs; vi++) {
        int V = vocabs[vi], N = 5;
        float *lg = malloc(sizeof(float) * (size_t)(N * V + 1)), *g[2], loss[2][5];
        int tg[5];
        fill(&r, lg, N * V, -8, 8);
        for (int n = 0; n < N; n++)
            tg[n] = n == 2 ? -1 : (int)(rng_fast_u64(&r) % (uint64_t)V);
        g[0] = malloc(sizeof(float) * (size_t)(N * V + 1));
        g[1] = malloc(sizeof(float) * (size_t)(N * V + 1));
        for (int l = CAPE_ISA_SCALAR; l <= top; l++) {
            int k = l != CAPE_ISA_SCALAR, cnt;
            cape_isa_force(l);
            double tot = crossentropy_forward(loss[k], lg, tg, N, V, &cnt);
            assert_int_equal(cnt, N - 1);
            memcpy(g[k], lg, sizeof(float) * (size_t)(N * V));
            g[k][N * V] = 3.f;
            crossentropy_backward(g[k], tg, N, V, 0.5f);
            assert_true(g[k][N * V] == 3.f);
            if (k) {
                near("crossentropy loss", l, N, loss[1], loss[0], 1e-5, 1e-6);
                near("crossentropy dlogits", l, N * V, g[1], g[0], 1e-5, 1e-7);
                double sum = 0;
                for (int n = 0; n < N; n++)
                    sum += loss[0][n];
                assert_rel(tot, sum, 1e-5);
            }
        }
        free(lg), free(g[0]), free(g[1]);
    }
    cape_isa_force(-1);
}

/* LayerNorm forward and backward, 1 and 2 threads (rows in parallel, the
 * weight gradients summed per thread), against the scalar path on 1 thread. */
static void layernorm_matches_scalar(void **state)
{
    (void)state;
    int top = top_level();
    rng_fast r;
    rng_fast_seed(&r, 17);
    const int widths[] = {1, 7, 9, 37, 130};
    const int N = 70;
    for (size_t wi = 0; wi < sizeof widths / sizeof *widths; wi++) {
        int C = widths[wi], NC = N * C;
        float *x = malloc(sizeof(float) * NC), *d = malloc(sizeof(float) * NC);
        float *w = malloc(sizeof(float) * C), *b = malloc(sizeof(float) * C);
        float *out[2], *dx[2], *dw[2], *db[2], mean[2][70], rstd[2][70];
        for (int k = 0; k < 2; k++) {
            out[k] = malloc(sizeof(float) * (NC + 1));
            dx[k] = malloc(sizeof(float) * (NC + 1));
            dw[k] = malloc(sizeof(float) * (C + 1));
            db[k] = malloc(sizeof(float) * (C + 1));
        }
        fill(&r, x, NC, -3, 5);
        fill(&r, d, NC, -1, 1);
        fill(&r, w, C, 0.5, 1.5);
        fill(&r, b, C, -0.5, 0.5);
        for (int l = CAPE_ISA_SCALAR; l <= top; l++)
            for (int threads = 1; threads <= 2; threads++) {
                int k = l != CAPE_ISA_SCALAR || threads != 1;
                if (!k && threads != 1)
                    continue;
                cape_isa_force(l);
                tp_set_threads(threads);
                out[k][NC] = 9.f;
                for (int i = 0; i <= NC; i++)
                    dx[k][i] = 0.125f;
                for (int i = 0; i <= C; i++)
                    dw[k][i] = 1.f, db[k][i] = -1.f;
                layernorm_forward(out[k], mean[k], rstd[k], x, w, b, N, C, 1e-5f);
                layernorm_backward(dx[k], dw[k], db[k], d, x, w, mean[k], rstd[k], N, C);
                tp_set_threads(1);
                assert_true(out[k][NC] == 9.f && dx[k][NC] == 0.125f);
                assert_true(dw[k][C] == 1.f && db[k][C] == -1.f);
                if (k) {
                    near("layernorm out", l, NC, out[1], out[0], 1e-5, 1.0); /* x^ w + b cancels */
                    near("layernorm mean", l, N, mean[1], mean[0], 1e-5, 1e-3);
                    near("layernorm rstd", l, N, rstd[1], rstd[0], 1e-5, 0);
                    near("layernorm dx", l, NC, dx[1], dx[0], 1e-5, 1e-2);
                    near("layernorm dw", l, C, dw[1], dw[0], 1e-5, 1.0); /* sums of 70 terms */
                    near("layernorm db", l, C, db[1], db[0], 1e-5, 1.0);
                }
            }
        free(x), free(d), free(w), free(b);
        for (int k = 0; k < 2; k++)
            free(out[k]), free(dx[k]), free(dw[k]), free(db[k]);
    }
    cape_isa_force(-1);
}

/* AdamW on the vector path gives the scalar update's bits (same operations,
 * IEEE sqrt and division), with and without decay and a gradient scale, on
 * tensors of odd sizes. */
static void adamw_matches_scalar(void **state)
{
    (void)state;
    int top = top_level();
    rng_fast r;
    rng_fast_seed(&r, 23);
    train_tensor ts[3] = {{.size = 37, .decay = 1}, {.size = 5, .decay = 0}, {.size = 130, .decay = 1}};
    size_t n = 0;
    for (int k = 0; k < 3; k++)
        ts[k].offset = n, n += ts[k].size;
    float *p0 = malloc(sizeof(float) * n), *g = malloc(sizeof(float) * n);
    float *p[2] = {malloc(sizeof(float) * n), malloc(sizeof(float) * n)};
    fill(&r, p0, (int)n, -1, 1);
    fill(&r, g, (int)n, -0.1, 0.1);
    adamw_hparams h = {0.9f, 0.95f, 1e-8f, 0.1f};
    for (int l = CAPE_ISA_AVX2; l <= top; l++)
        for (int threads = 1; threads <= 2; threads++) {
            adamw_state st[2];
            for (int k = 0; k < 2; k++) {
                assert_int_equal(adamw_init(&st[k], n, NULL), 0);
                memcpy(p[k], p0, sizeof(float) * n);
                cape_isa_force(k ? l : CAPE_ISA_SCALAR);
                tp_set_threads(threads);
                train_model m = {.n_tensors = 3, .tensors = ts, .n_params = n, .params = p[k], .grads = g};
                double norm = 0; /* the gradient norm (sums of 16 lanes in double) */
                for (size_t i = 0; i < n; i++)
                    norm += (double)g[i] * g[i];
                assert_rel(train_grad_norm(&m), sqrt(norm), 1e-12);
                for (int step = 0; step < 3; step++)
                    adamw_step_scaled(&st[k], &m, 1e-2f, &h, step == 1 ? 0.5f : 1.0f);
                tp_set_threads(1);
            }
            assert_memory_equal(p[1], p[0], sizeof(float) * n);
            assert_memory_equal(st[1].m, st[0].m, sizeof(float) * n);
            assert_memory_equal(st[1].v, st[0].v, sizeof(float) * n);
            assert_true(memcmp(p[0], p0, sizeof(float) * n) != 0);
            adamw_free(&st[0]), adamw_free(&st[1]);
        }
    free(p0), free(g), free(p[0]), free(p[1]);
    cape_isa_force(-1);
}

int main(void)
{
    tp_set_threads(1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(activations_match_scalar),
        cmocka_unit_test(attention_matches_scalar),
        cmocka_unit_test(f32_helpers_match_scalar),
        cmocka_unit_test(dequantisation_matches_scalar),
        cmocka_unit_test(trainer_layers_match_scalar),
        cmocka_unit_test(layernorm_matches_scalar),
        cmocka_unit_test(adamw_matches_scalar),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
