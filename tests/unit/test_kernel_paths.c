/* The kernels of the ISA level in use (CAPE_ISA, as `make check` and
 * `make check-arm` run each level) against the scalar reference of the same
 * process (cape_isa_force(CAPE_ISA_SCALAR)), on random blocks of every int8
 * type with odd block counts, and f32 kernels and attention at lengths and
 * head sizes that leave tails. The int8 dots must agree to the order of float
 * additions (on aarch64, where the kernels keep the scalar order, exactly);
 * the activation quantisers bit for bit; the vector exp within its error. */
#include "testutil.h"

#include <string.h>

#include "base/isa.h"
#include "base/rng.h"
#include "tensor/act.h"
#include "tensor/attn.h"
#include "tensor/matmul.h"
#include "tensor/qdot.h"
#include "tensor/quant.h"

static const uint32_t TYPES[] = {TENSOR_Q8_0, TENSOR_Q4_0, TENSOR_Q5_0,
                                 TENSOR_Q4_K, TENSOR_Q5_K, TENSOR_Q6_K};

static int kq(uint32_t t) { return t == TENSOR_Q4_K || t == TENSOR_Q5_K || t == TENSOR_Q6_K; }

/* random code bytes, every f16 scale replaced by a sane random one */
static void random_rows(rng_fast *g, uint32_t t, int64_t rows, int64_t cols, uint8_t *w)
{
    size_t rb = (size_t)tensor_row_bytes(t, cols);
    for (size_t i = 0; i < rb * (size_t)rows; i++)
        w[i] = (uint8_t)rng_fast_u64(g);
    size_t bs = (size_t)tensor_row_bytes(t, kq(t) ? QK_K : QK);
    for (size_t o = 0; o < rb * (size_t)rows; o += bs) {
        uint16_t d = tensor_f32_to_f16((float)(0.001 + 0.01 * rng_fast_double(g)));
        uint16_t m = tensor_f32_to_f16((float)(0.001 + 0.01 * rng_fast_double(g)));
        switch (t) {
        case TENSOR_Q4_K: memcpy(w + o + offsetof(block_q4_k, d), &d, 2); memcpy(w + o + offsetof(block_q4_k, dmin), &m, 2); break;
        case TENSOR_Q5_K: memcpy(w + o + offsetof(block_q5_k, d), &d, 2); memcpy(w + o + offsetof(block_q5_k, dmin), &m, 2); break;
        case TENSOR_Q6_K: memcpy(w + o + offsetof(block_q6_k, d), &d, 2); break;
        default: memcpy(w + o, &d, 2); break;
        }
    }
}

/* activations with a spread of magnitudes, an all-zero block, sign ties */
static void random_x(rng_fast *g, float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        x[i] = (float)((rng_fast_double(g) - 0.5) * (i % 11 == 0 ? 20.0 : 2.0));
    if (n >= 64)
        memset(x + 32, 0, 32 * sizeof *x);
    if (n >= 300) {
        x[260] = 25.f;
        x[270] = -25.f;
    }
}

static void quantisers_match_scalar(void **state)
{
    (void)state;
    rng_fast g;
    rng_fast_seed(&g, 3);
    const int64_t sizes[] = {32, 96, 256, 768, 1280};
    float *x = malloc(1280 * sizeof *x);
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++)
        for (int k = 0; k < 2; k++) {
            uint32_t t = k ? TENSOR_Q6_K : TENSOR_Q8_0;
            int64_t n = sizes[s];
            if (t == TENSOR_Q6_K && n % QK_K)
                continue;
            random_x(&g, x, n);
            size_t nb = qdot_act_bytes(t, n);
            char *a = calloc(1, nb), *b = calloc(1, nb);
            qdot_quantize(t, x, n, a);
            cape_isa_force(CAPE_ISA_SCALAR);
            qdot_quantize(t, x, n, b);
            cape_isa_force(-1);
            if (memcmp(a, b, nb))
                fail_msg("%s activations of %d values differ from the scalar quantiser (%s)",
                         kq(t) ? "Q8_K" : "Q8_0", (int)n, tensor_isa());
            free(a);
            free(b);
        }
    free(x);
}

/* sum of |w_i x_i| of the dequantised row: the scale of rounding errors */
static double magnitude(uint32_t t, const uint8_t *w, const float *x, int64_t n)
{
    float *d = malloc((size_t)n * sizeof *d);
    quant_dequant_row(t, w, d, n);
    double m = 0;
    for (int64_t i = 0; i < n; i++)
        m += fabs((double)d[i] * x[i]);
    free(d);
    return m;
}

static void check_dot(uint32_t t, int64_t n, float got, float want, double mag, const char *what)
{
#if defined(__aarch64__)
    (void)mag;
    if (got != want)
#else
    if (!(fabs(got - want) <= 2e-6 * mag + 1e-30))
#endif
        fail_msg("%s %s, %d values, %s: %.9g, scalar %.9g", tensor_type_name(t), what, (int)n,
                 tensor_isa(), got, want);
}

/* one row and four rows at once, every type, odd numbers of blocks */
static void int8_dots_match_scalar(void **state)
{
    (void)state;
    rng_fast g;
    rng_fast_seed(&g, 5);
    const int nblocks[] = {1, 3, 5, 9};
    int checked = 0;
    for (size_t k = 0; k < sizeof TYPES / sizeof *TYPES; k++)
        for (size_t s = 0; s < sizeof nblocks / sizeof *nblocks; s++) {
            uint32_t t = TYPES[k];
            int64_t n = (int64_t)nblocks[s] * (kq(t) ? QK_K : QK) * (kq(t) ? 1 : 7);
            size_t rb = (size_t)tensor_row_bytes(t, n), ab = qdot_act_bytes(t, n);
            uint8_t *w = malloc(rb);
            float *x = malloc(4 * (size_t)n * sizeof *x);
            char *act = malloc(4 * ab);
            random_rows(&g, t, 1, n, w);
            random_x(&g, x, 4 * n);
            for (int tok = 0; tok < 4; tok++)
                qdot_quantize(t, x + tok * n, n, act + tok * ab);
            float want[4];
            for (int tok = 0; tok < 4; tok++) {
                want[tok] = qdot_row_generic(t, w, act + tok * ab, n);
                float got = qdot_row(t, w, act + tok * ab, n);
                check_dot(t, n, got, want[tok], magnitude(t, w, x + tok * n, n), "row");
                checked++;
            }
            /* the four-row kernel, with the transposed block scales it may read */
            int64_t nb = n / QK;
            float *sc = calloc(2 * (size_t)(kq(t) ? 1 : nb) * 4, sizeof *sc);
            if (!kq(t))
                for (int tok = 0; tok < 4; tok++) {
                    const qa_block *q = (const qa_block *)(act + tok * ab);
                    for (int64_t b = 0; b < nb; b++) {
                        sc[b * 4 + tok] = q[b].d;
                        sc[nb * 4 + b * 4 + tok] = q[b].d * (float)q[b].sum;
                    }
                }
            qdot_scales qs = {sc, sc + (kq(t) ? 0 : nb * 4), 4};
            float o[4];
            if (qdot_rows4(t, w, act, ab, n, &qs, 0, o))
                for (int tok = 0; tok < 4; tok++)
                    check_dot(t, n, o[tok], want[tok], magnitude(t, w, x + tok * n, n), "four rows");
            free(sc);
            free(w);
            free(x);
            free(act);
        }
    assert_int_equal(checked, 6 * 4 * 4);
}

/* tensor_dot_f32, tensor_axpy, tensor_sumsq, tensor_rotate_half and
 * tensor_scale_mul at every length up to 70 and a long odd one */
static void f32_kernels_match_scalar(void **state)
{
    (void)state;
    rng_fast g;
    rng_fast_seed(&g, 9);
    enum { MAXN = 1031 };
    float *a = malloc(MAXN * sizeof *a), *b = malloc(MAXN * sizeof *b);
    float *y1 = malloc(MAXN * sizeof *y1), *y2 = malloc(MAXN * sizeof *y2);
    for (int i = 0; i < MAXN; i++) {
        a[i] = (float)(rng_fast_double(&g) * 2 - 1);
        b[i] = (float)(rng_fast_double(&g) * 2 - 1);
    }
    for (int n = 0; n <= MAXN; n = n < 70 ? n + 1 : MAXN + (n == MAXN)) {
        double exact = 0, mag = 0;
        for (int i = 0; i < n; i++) {
            exact += (double)a[i] * b[i];
            mag += fabs((double)a[i] * b[i]);
        }
        float d = tensor_dot_f32(a, b, n);
        if (!(fabs(d - exact) <= 1e-6 * mag + 1e-30))
            fail_msg("dot of %d values (%s): %.9g, exact %.9g", n, tensor_isa(), d, exact);
        for (int i = 0; i < n + 1 && i < MAXN; i++)
            y1[i] = y2[i] = b[i];
        tensor_axpy(0.375f, a, y1, n);
        for (int i = 0; i < n; i++)
            y2[i] += 0.375f * a[i];
        for (int i = 0; i < n + 1 && i < MAXN; i++) /* one past the end: untouched */
            if (!(fabsf(y1[i] - y2[i]) <= 1e-6f))
                fail_msg("axpy of %d values (%s), index %d: %.9g, want %.9g", n, tensor_isa(), i,
                         y1[i], y2[i]);
    }
    /* sum of squares, norm scaling and the rotary rotation, same lengths */
    float *c = malloc(MAXN * sizeof *c), *d = malloc(MAXN * sizeof *d);
    float *z1 = malloc(MAXN * sizeof *z1), *z2 = malloc(MAXN * sizeof *z2);
    for (int i = 0; i < MAXN; i++) {
        c[i] = cosf(0.1f * (float)i);
        d[i] = sinf(0.1f * (float)i);
    }
    for (int n = 0; n <= MAXN; n = n < 70 ? n + 1 : MAXN + (n == MAXN)) {
        double s1 = tensor_sumsq(a, n);
        memcpy(y1, a, sizeof(float) * (size_t)n);
        memcpy(z1, b, sizeof(float) * (size_t)n);
        tensor_rotate_half(y1, z1, c, d, n);
        memcpy(y2, a, sizeof(float) * (size_t)n);
        memcpy(z2, b, sizeof(float) * (size_t)n);
        cape_isa_force(CAPE_ISA_SCALAR);
        double s2 = tensor_sumsq(a, n);
        tensor_rotate_half(y2, z2, c, d, n);
        cape_isa_force(-1);
        if (!(fabs(s1 - s2) <= 1e-12 * s2))
            fail_msg("sum of squares of %d values (%s): %.17g, scalar %.17g", n, tensor_isa(), s1, s2);
        for (int i = 0; i < n; i++)
            if (!(fabsf(y1[i] - y2[i]) <= 1e-6f && fabsf(z1[i] - z2[i]) <= 1e-6f))
                fail_msg("rotation of %d values (%s), index %d", n, tensor_isa(), i);
        tensor_scale_mul(y1, a, 0.7f, b, n);
        cape_isa_force(CAPE_ISA_SCALAR);
        tensor_scale_mul(y2, a, 0.7f, b, n);
        cape_isa_force(-1);
        for (int i = 0; i < n; i++)
            if (!(fabsf(y1[i] - y2[i]) <= 1e-6f))
                fail_msg("scale_mul of %d values (%s), index %d: %.9g, scalar %.9g", n, tensor_isa(),
                         i, y1[i], y2[i]);
    }
    free(a), free(b), free(y1), free(y2), free(c), free(d), free(z1), free(z2);
}

/* attention at head sizes that are not multiples of 4 or 16, odd groups */
static void attention_matches_scalar(void **state)
{
    (void)state;
    rng_fast g;
    rng_fast_seed(&g, 13);
    const int heads[] = {7, 12, 20, 33}, groups[] = {1, 3};
    const int n_pos = 45, ld = 64;
    for (size_t h = 0; h < sizeof heads / sizeof *heads; h++)
        for (size_t gi = 0; gi < sizeof groups / sizeof *groups; gi++) {
            int hd = heads[h], G = groups[gi];
            size_t stride = (size_t)hd + 1;
            float *k = malloc(sizeof(float) * stride * n_pos), *v = malloc(sizeof(float) * stride * n_pos);
            float *q = malloc(sizeof(float) * (size_t)(G * hd)), *kt = calloc((size_t)hd * ld, sizeof(float));
            float *o1 = malloc(sizeof(float) * (size_t)(G * hd)), *o2 = malloc(sizeof(float) * (size_t)(G * hd));
            float *scr = malloc(sizeof(float) * attn_scratch_floats(G, ld));
            for (size_t i = 0; i < stride * n_pos; i++) {
                k[i] = (float)(rng_fast_double(&g) * 2 - 1);
                v[i] = (float)(rng_fast_double(&g) * 2 - 1);
            }
            for (int i = 0; i < G * hd; i++)
                q[i] = (float)(rng_fast_double(&g) * 2 - 1);
            attn_keys_transpose(k, stride, 0, n_pos, hd, kt, ld);
            const int win[3][2] = {{0, 0}, {0, 44}, {13, 38}};
            for (int w = 0; w < 3; w++) {
                attn_group(q, G, hd, kt, ld, v, stride, win[w][0], win[w][1], 0.4f, scr, o1);
                cape_isa_force(CAPE_ISA_SCALAR);
                attn_group(q, G, hd, kt, ld, v, stride, win[w][0], win[w][1], 0.4f, scr, o2);
                cape_isa_force(-1);
                for (int i = 0; i < G * hd; i++)
                    if (!(fabsf(o1[i] - o2[i]) <= 2e-6f))
                        fail_msg("attention G %d hd %d positions %d..%d (%s): out[%d] %.8f, scalar %.8f",
                                 G, hd, win[w][0], win[w][1], tensor_isa(), i, o1[i], o2[i]);
            }
            free(k), free(v), free(q), free(kt), free(o1), free(o2), free(scr);
        }
}

/* gelu (tanh form), silu with and without a gate, in place, and the softmax
 * exponentials, at lengths that leave tails: within the exp polynomial's
 * error of libm */
static void activations_match_scalar(void **state)
{
    (void)state;
    rng_fast g;
    rng_fast_seed(&g, 17);
    enum { MAXN = 1001 };
    float *x = malloc(MAXN * sizeof *x), *m = malloc(MAXN * sizeof *m);
    float *y1 = malloc(MAXN * sizeof *y1), *y2 = malloc(MAXN * sizeof *y2);
    for (int i = 0; i < MAXN; i++) {
        x[i] = (float)((rng_fast_double(&g) - 0.5) * (i % 5 ? 8.0 : 60.0));
        m[i] = (float)(rng_fast_double(&g) * 2 - 1);
    }
    const act_kind kinds[] = {ACT_GELU_TANH, ACT_SILU, ACT_GELU_ERF};
    for (int n = 0; n <= MAXN; n = n < 37 ? n + 1 : MAXN + (n == MAXN))
        for (int k = 0; k < 3; k++)
            for (int gate = 0; gate < 2; gate++) {
                memcpy(y1, x, (size_t)n * sizeof *y1);
                act_apply(kinds[k], y1, gate ? m : NULL, y1, (size_t)n); /* in place */
                cape_isa_force(CAPE_ISA_SCALAR);
                act_apply(kinds[k], x, gate ? m : NULL, y2, (size_t)n);
                cape_isa_force(-1);
                for (int i = 0; i < n; i++)
                    if (!(fabsf(y1[i] - y2[i]) <= 1e-6f * fabsf(y2[i]) + 1e-6f))
                        fail_msg("activation %d of %d values (%s), x[%d] = %g: %.9g, scalar %.9g",
                                 k, n, tensor_isa(), i, x[i], y1[i], y2[i]);
            }
    for (int n = 0; n <= MAXN; n = n < 37 ? n + 1 : MAXN + (n == MAXN)) {
        float mx = -INFINITY;
        for (int i = 0; i < n; i++) {
            y1[i] = y2[i] = x[i] * 0.25f;
            mx = y1[i] > mx ? y1[i] : mx;
        }
        double s1 = act_exp_sum(y1, (size_t)n, mx);
        cape_isa_force(CAPE_ISA_SCALAR);
        double s2 = act_exp_sum(y2, (size_t)n, mx);
        cape_isa_force(-1);
        if (!(fabs(s1 - s2) <= 1e-6 * s2))
            fail_msg("exp sum of %d values (%s): %.9g, scalar %.9g", n, tensor_isa(), s1, s2);
        for (int i = 0; i < n; i++)
            if (!(fabsf(y1[i] - y2[i]) <= 1e-6f * y2[i] + 1e-30f))
                fail_msg("exp of %d values (%s), index %d: %.9g, scalar %.9g", n, tensor_isa(), i,
                         y1[i], y2[i]);
    }
    free(x), free(m), free(y1), free(y2);
}

int main(void)
{
    print_message("kernel path: %s (host %s)\n", tensor_isa(), cape_isa_name(cape_isa_host()));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(quantisers_match_scalar),
        cmocka_unit_test(int8_dots_match_scalar),
        cmocka_unit_test(f32_kernels_match_scalar),
        cmocka_unit_test(attention_matches_scalar),
        cmocka_unit_test(activations_match_scalar),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
