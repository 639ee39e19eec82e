/* Block formats: dequantisation against the numpy implementation of the
 * `gguf` package (tests/ref/quant.bin from make_quant_fixtures.py), f16/bf16
 * conversions against hand-checked values, and the int8 dot-product kernels
 * (the scalar ones and the current ISA level's) against float dot products of
 * dequantised rows. */
#include "testutil.h"

#include <string.h>

#include "base/file.h"
#include "base/rng.h"
#include "tensor/matmul.h"
#include "tensor/pool.h"
#include "tensor/qdot.h"
#include "tensor/qmm.h"
#include "tensor/quant.h"

typedef struct {
    int type, n, nbytes;
    const uint8_t *raw;
    const float *want;
} qcase;

static int load_cases(qcase *c, int max, char **buf)
{
    size_t len;
    cape_err e = {0};
    *buf = file_read_all("tests/ref/quant.bin", &len, &e);
    if (!*buf)
        fail_msg("%s", e.msg);
    size_t off = 0;
    int k = 0;
    while (off + 12 <= len && k < max) {
        memcpy(&c[k].type, *buf + off, 4);
        memcpy(&c[k].n, *buf + off + 4, 4);
        memcpy(&c[k].nbytes, *buf + off + 8, 4);
        c[k].raw = (const uint8_t *)*buf + off + 12;
        c[k].want = (const float *)(*buf + off + 12 + c[k].nbytes);
        off += 12 + (size_t)c[k].nbytes + 4 * (size_t)c[k].n;
        k++;
    }
    return k;
}

static void dequant_matches_gguf_py(void **state)
{
    (void)state;
    qcase c[16];
    char *buf;
    int n = load_cases(c, 16, &buf);
    assert_int_equal(n, 12);
    for (int k = 0; k < n; k++) {
        assert_int_equal(tensor_row_bytes((uint32_t)c[k].type, c[k].n), c[k].nbytes);
        float *y = malloc((size_t)c[k].n * 4);
        quant_dequant_row((uint32_t)c[k].type, c[k].raw, y, c[k].n);
        for (int i = 0; i < c[k].n; i++)
            if (!(fabsf(y[i] - c[k].want[i]) <= 1e-6f * fmaxf(1.f, fabsf(c[k].want[i]))))
                fail_msg("%s value %d: %g, gguf-py %g", tensor_type_name((uint32_t)c[k].type), i,
                         y[i], c[k].want[i]);
        free(y);
    }
    free(buf);
}

static void half_conversions(void **state)
{
    (void)state;
    assert_true(tensor_f16_to_f32(0x3c00) == 1.0f);
    assert_true(tensor_f16_to_f32(0xc000) == -2.0f);
    assert_true(tensor_f16_to_f32(0x0001) == 0x1p-24f);
    assert_true(tensor_f16_to_f32(0x7bff) == 65504.f);
    assert_int_equal(tensor_f32_to_f16(1.0f), 0x3c00);
    assert_int_equal(tensor_f32_to_f16(65520.f), 0x7c00);     /* rounds to infinity */
    assert_int_equal(tensor_f32_to_f16(1.0f + 0x1p-11f), 0x3c00); /* tie to even */
    assert_int_equal(tensor_f32_to_f16(0x1p-25f), 0x0000);    /* tie to even (zero) */
    assert_int_equal(tensor_f32_to_f16(3 * 0x1p-25f), 0x0002);
    for (uint32_t h = 0; h < 0x7c00; h++) /* every finite half round-trips */
        assert_int_equal(tensor_f32_to_f16(tensor_f16_to_f32((uint16_t)h)), h);
    assert_int_equal(tensor_f32_to_bf16(1.0f), 0x3f80);
    assert_true(tensor_bf16_to_f32(0x4049) == 3.140625f);
}

/* int8 kernels: close to the float dot of the dequantised row (activation
 * rounding is the only error), and scalar and vector kernels agree. */
static void int8_dots(void **state)
{
    (void)state;
    qcase c[16];
    char *buf;
    int n = load_cases(c, 16, &buf);
    float x[512];
    for (int i = 0; i < 512; i++)
        x[i] = sinf(0.37f * i) + 0.25f * cosf(1.3f * i);
    int tested = 0;
    for (int k = 0; k < n; k++) {
        uint32_t t = (uint32_t)c[k].type;
        if (!qdot_supported(t))
            continue;
        tested++;
        double exact = 0, mag = 0;
        for (int i = 0; i < c[k].n; i++) {
            exact += (double)c[k].want[i] * x[i];
            mag += fabs((double)c[k].want[i] * x[i]);
        }
        char *act = malloc(qdot_act_bytes(t, c[k].n));
        qdot_quantize(t, x, c[k].n, act);
        float g = qdot_row_generic(t, c[k].raw, act, c[k].n);
        float v = qdot_row(t, c[k].raw, act, c[k].n);
        if (!(fabs(g - exact) <= 0.01 * mag))
            fail_msg("%s: int8 dot %g, float dot %g (magnitude %g)", tensor_type_name(t), g, exact, mag);
        assert_close(v, g, 1e-4 * mag);
        /* the four-row kernel equals four single-row dots */
        {
            int64_t cols = c[k].n / 2, nb = cols / 32;
            size_t ab = qdot_act_bytes(t, cols);
            char *acts = malloc(4 * ab);
            float sc[2 * 8 * 4], o[4];
            for (int tok = 0; tok < 4; tok++) {
                float xt[256];
                for (int i = 0; i < 256; i++)
                    xt[i] = x[i] * (1 + tok) - 0.1f * tok;
                qdot_quantize(t, xt, cols, acts + tok * ab);
                if (!qdot_supported(t) || t == TENSOR_Q4_K || t == TENSOR_Q5_K || t == TENSOR_Q6_K)
                    continue;
                const qa_block *q = (const qa_block *)(acts + tok * ab);
                for (int64_t b = 0; b < nb; b++) {
                    sc[b * 4 + tok] = q[b].d;
                    sc[nb * 4 + b * 4 + tok] = q[b].d * (float)q[b].sum;
                }
            }
            qdot_scales qs = {sc, sc + nb * 4, 4};
            if (qdot_rows4(t, c[k].raw, acts, ab, cols, &qs, 0, o)) {
                for (int tok = 0; tok < 4; tok++) {
                    float one = qdot_row(t, c[k].raw, acts + tok * ab, cols);
                    if (!(fabsf(o[tok] - one) <= 1e-5f * fmaxf(1.f, fabsf(one))))
                        fail_msg("%s: four-row kernel token %d = %g, single %g", tensor_type_name(t), tok, o[tok], one);
                }
            }
            free(acts);
        }
        /* through the matmul: two rows, five tokens (four-row kernel and the rest) */
        tensor_mat w = tensor_mat_make(t, c[k].n / 2, 2, c[k].raw);
        float xs[5 * 256], y[10];
        for (int i = 0; i < 5 * 256; i++)
            xs[i] = x[i % 256] * (1 + i / 256);
        tensor_matmul(NULL, &w, xs, 5, y);
        for (int tok = 0; tok < 5; tok++)
            for (int r = 0; r < 2; r++) {
                double e2 = 0, m2 = 0;
                for (int i = 0; i < 256; i++) {
                    double p = (double)c[k].want[r * 256 + i] * xs[tok * 256 + i];
                    e2 += p;
                    m2 += fabs(p);
                }
                assert_close(y[tok * 2 + r], e2, 0.01 * m2 + 1e-6);
            }
        free(act);
    }
    assert_int_equal(tested, 6);
    free(buf);
}

/* The vector quantisers round exactly as the scalar ones. */
static void activation_quantisers_agree(void **state)
{
    (void)state;
    float x[512];
    for (int i = 0; i < 512; i++)
        x[i] = (float)(((i * 7919) % 1000) - 500) / 37.f + (i % 3 == 0 ? 0.5f : 0.f);
    x[17] = -x[5] * 3; /* a magnitude tie between signs in one block */
    x[300] = 40.f;
    x[301] = -40.f;
    uint32_t types[2] = {TENSOR_Q8_0, TENSOR_Q4_K};
    for (int k = 0; k < 2; k++) {
        size_t nb = qdot_act_bytes(types[k], 512);
        char *a = calloc(1, nb), *b = calloc(1, nb);
        qdot_quantize(types[k], x, 512, a);
        tensor_force_generic(1);
        qdot_quantize(types[k], x, 512, b);
        tensor_force_generic(0);
        assert_memory_equal(a, b, nb);
        free(a);
        free(b);
    }
}

/* Random blocks of every int8 type: random code bytes, then every f16 scale
 * field overwritten with a sane random scale (random bits could be NaN). */
static void random_rows(rng_fast *g, uint32_t t, int64_t rows, int64_t cols, uint8_t *w)
{
    size_t rb = (size_t)tensor_row_bytes(t, cols);
    for (size_t i = 0; i < rb * (size_t)rows; i++)
        w[i] = (uint8_t)rng_fast_u64(g);
    size_t bs = (size_t)tensor_row_bytes(t, t == TENSOR_Q4_K || t == TENSOR_Q5_K || t == TENSOR_Q6_K ? QK_K : QK);
    for (size_t o = 0; o < rb * (size_t)rows; o += bs) {
        uint16_t d = tensor_f32_to_f16((float)(0.001 + 0.01 * rng_fast_double(g)));
        uint16_t m = tensor_f32_to_f16((float)(0.001 + 0.01 * rng_fast_double(g)));
        switch (t) {
        case TENSOR_Q4_K: memcpy(w + o + offsetof(block_q4_k, d), &d, 2); memcpy(w + o + offsetof(block_q4_k, dmin), &m, 2); break;
        case TENSOR_Q5_K: memcpy(w + o + offsetof(block_q5_k, d), &d, 2); memcpy(w + o + offsetof(block_q5_k, dmin), &m, 2); break;
        case TENSOR_Q6_K: memcpy(w + o + offsetof(block_q6_k, d), &d, 2); break;
        default: memcpy(w + o, &d, 2); break; /* d leads the legacy blocks */
        }
    }
}

/* The many-token kernels (qmm, through tensor_matmul) give every row and
 * token the scalar kernel's dot product of the same int8 activations, up to
 * the order of the float additions; with one thread and with two, row and
 * token counts that leave partial panels and tiles. */
static void many_token_kernels_match_scalar(void **state)
{
    (void)state;
    if (!qmm_available()) {
        print_message("no many-token kernels at this ISA level\n");
        return;
    }
    const uint32_t types[] = {TENSOR_Q4_0, TENSOR_Q5_0, TENSOR_Q8_0, TENSOR_Q4_K, TENSOR_Q5_K, TENSOR_Q6_K};
    const int64_t cols = 768, rows = 45, n = 13;
    rng_fast g;
    rng_fast_seed(&g, 7);
    float *x = malloc(sizeof(float) * (size_t)(n * cols)), *y = malloc(sizeof(float) * (size_t)(n * rows));
    float *deq = malloc(sizeof(float) * (size_t)cols);
    pool *two = pool_new(2);
    assert_non_null(two);
    for (int64_t i = 0; i < n * cols; i++)
        x[i] = (float)((rng_fast_double(&g) - 0.5) * (i % 7 == 0 ? 8.0 : 1.0));
    for (size_t k = 0; k < sizeof types / sizeof *types; k++) {
        uint32_t t = types[k];
        size_t rb = (size_t)tensor_row_bytes(t, cols), ab = qdot_act_bytes(t, cols);
        uint8_t *w = malloc(rb * (size_t)rows);
        char *act = malloc(ab);
        random_rows(&g, t, rows, cols, w);
        tensor_mat m = tensor_mat_make(t, cols, rows, w);
        for (int threads = 1; threads <= 2; threads++) {
            memset(y, 0, sizeof(float) * (size_t)(n * rows));
            tensor_matmul(threads == 1 ? NULL : two, &m, x, n, y);
            for (int64_t tok = 0; tok < n; tok++) {
                qdot_quantize(t, x + tok * cols, cols, act);
                for (int64_t r = 0; r < rows; r++) {
                    float want = qdot_row_generic(t, w + (size_t)r * rb, act, cols);
                    quant_dequant_row(t, w + (size_t)r * rb, deq, cols);
                    double mag = 0;
                    for (int64_t i = 0; i < cols; i++)
                        mag += fabs((double)deq[i] * x[tok * cols + i]);
                    float got = y[tok * rows + r];
                    if (!(fabs(got - want) <= 2e-6 * mag))
                        fail_msg("%s, %d thread(s), token %d row %d: %.9g, scalar %.9g (magnitude %g)",
                                 tensor_type_name(t), threads, (int)tok, (int)r, got, want, mag);
                }
            }
        }
        free(w);
        free(act);
    }
    pool_free(two);
    free(x);
    free(y);
    free(deq);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(dequant_matches_gguf_py),
        cmocka_unit_test(half_conversions),
        cmocka_unit_test(int8_dots),
        cmocka_unit_test(activation_quantisers_agree),
        cmocka_unit_test(many_token_kernels_match_scalar),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
