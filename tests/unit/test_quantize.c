/* Weight quantisers (src/tensor/quantize.c): bytes against ggml's reference
 * quantisers and the gguf package's numpy ones (tests/ref/quantize.bin from
 * make_quantize_ref.py), the same bytes for any number of threads, and the
 * round-trip error through the runtime's dequantisers within each format's
 * expected bound. */
#include "testutil.h"

#include <string.h>
#include <unistd.h>

#include "base/file.h"
#include "base/rng.h"
#include "model/gguf.h"
#include "model/quantize_model.h"
#include "tensor/pool.h"
#include "tensor/quant.h"
#include "tensor/quantize.h"

static void bytes_match_references(void **state)
{
    (void)state;
    size_t len;
    cape_err e = {0};
    char *buf = file_read_all("tests/ref/quantize.bin", &len, &e);
    if (!buf)
        fail_msg("%s", e.msg);
    int32_t rows, n;
    memcpy(&rows, buf, 4);
    memcpy(&n, buf + 4, 4);
    const float *x = (const float *)(buf + 8);
    size_t off = 8 + (size_t)rows * (size_t)n * 4;
    int ntypes = 0;
    while (off + 8 <= len) {
        int32_t type, nbytes;
        memcpy(&type, buf + off, 4);
        memcpy(&nbytes, buf + off + 4, 4);
        const uint8_t *want = (const uint8_t *)buf + off + 8;
        off += 8 + (size_t)nbytes;
        assert_true(off <= len);
        int64_t rb = tensor_row_bytes((uint32_t)type, n);
        assert_int_equal(rb * rows, nbytes);
        uint8_t *got = calloc((size_t)nbytes, 1);
        /* whole matrix at once, then row by row: the same bytes */
        assert_int_equal(tquant_rows((uint32_t)type, x, got, rows, n), 0);
        for (int r = 0; r < rows; r++) {
            for (int64_t i = 0; i < rb; i++)
                if (got[r * rb + i] != want[r * rb + i])
                    fail_msg("%s row %d byte %lld (block %lld): %02x, reference %02x",
                             tensor_type_name((uint32_t)type), r, (long long)i,
                             (long long)(i / tensor_type_get((uint32_t)type)->bytes),
                             got[r * rb + i], want[r * rb + i]);
            uint8_t *one = calloc((size_t)rb, 1);
            assert_int_equal(tquant_rows((uint32_t)type, x + (size_t)r * n, one, 1, n), 0);
            assert_memory_equal(one, want + r * rb, (size_t)rb);
            free(one);
        }
        free(got);
        ntypes++;
    }
    assert_int_equal(ntypes, 12);
    free(buf);
}

static const uint32_t ALL[] = {TENSOR_F32,  TENSOR_F16,  TENSOR_BF16, TENSOR_Q4_0, TENSOR_Q4_1,
                               TENSOR_Q5_0, TENSOR_Q5_1, TENSOR_Q8_0, TENSOR_Q2_K, TENSOR_Q3_K,
                               TENSOR_Q4_K, TENSOR_Q5_K, TENSOR_Q6_K};

static float *gauss_rows(int64_t rows, int64_t n, uint64_t seed)
{
    rng_fast g;
    rng_fast_seed(&g, seed);
    float *x = malloc((size_t)(rows * n) * 4);
    for (int64_t i = 0; i < rows * n; i += 2) { /* Box-Muller */
        double u = rng_fast_double(&g), v = rng_fast_double(&g);
        double r = sqrt(-2 * log(u > 0 ? u : 1e-300));
        x[i] = (float)(r * cos(2 * M_PI * v));
        x[i + 1] = (float)(r * sin(2 * M_PI * v));
    }
    return x;
}

static void same_bytes_for_any_thread_count(void **state)
{
    (void)state;
    const int64_t rows = 37, n = 1024;
    float *x = gauss_rows(rows, n, 99);
    pool *p2 = pool_new(2), *p3 = pool_new(3);
    assert_non_null(p2);
    assert_non_null(p3);
    for (size_t k = 0; k < sizeof ALL / sizeof ALL[0]; k++) {
        size_t nb = (size_t)(tensor_row_bytes(ALL[k], n) * rows);
        uint8_t *a = malloc(nb), *b = malloc(nb), *c = malloc(nb);
        assert_int_equal(tquant_rows_mt(NULL, ALL[k], x, a, rows, n), 0);
        assert_int_equal(tquant_rows_mt(p2, ALL[k], x, b, rows, n), 0);
        assert_int_equal(tquant_rows_mt(p3, ALL[k], x, c, rows, n), 0);
        assert_memory_equal(a, b, nb);
        assert_memory_equal(a, c, nb);
        free(a);
        free(b);
        free(c);
    }
    pool_free(p2);
    pool_free(p3);
    free(x);
}

/* Relative RMSE of quantise -> runtime dequantise on unit Gaussian rows,
 * against a bound per format. The bounds follow from the step sizes: a
 * uniform quantiser of step d has RMSE d/sqrt(12), and the step is the block
 * range over the number of levels (Q8_0: 2*amax/254 with amax of 32 Gaussian
 * values ~2.1, so ~0.005; 4 bits ~0.08; 5 bits ~0.04; the K-quants fit their
 * scales and do somewhat better than the plain formula at the same bits). The
 * errors must also fall with the number of bits. */
static void round_trip_error_within_bounds(void **state)
{
    (void)state;
    const int64_t rows = 64, n = 4096;
    float *x = gauss_rows(rows, n, 5);
    float *y = malloc((size_t)n * 4);
    struct {
        uint32_t type;
        double bound;
    } cases[] = {{TENSOR_F16, 3e-4},  {TENSOR_BF16, 2.5e-3}, {TENSOR_Q8_0, 0.0065},
                 {TENSOR_Q6_K, 0.02}, {TENSOR_Q5_1, 0.040},  {TENSOR_Q5_0, 0.045},
                 {TENSOR_Q5_K, 0.042}, {TENSOR_Q4_1, 0.09}, {TENSOR_Q4_0, 0.10},
                 {TENSOR_Q4_K, 0.082}, {TENSOR_Q3_K, 0.17},  {TENSOR_Q2_K, 0.34}};
    double rmse[16];
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        int64_t rb = tensor_row_bytes(cases[k].type, n);
        uint8_t *q = malloc((size_t)(rb * rows));
        assert_int_equal(tquant_rows(cases[k].type, x, q, rows, n), 0);
        double se = 0, ss = 0;
        for (int64_t r = 0; r < rows; r++) {
            quant_dequant_row(cases[k].type, q + r * rb, y, n);
            for (int64_t i = 0; i < n; i++) {
                double d = (double)y[i] - x[r * n + i];
                se += d * d;
                ss += (double)x[r * n + i] * x[r * n + i];
            }
        }
        rmse[k] = sqrt(se / ss);
        print_message("   %-5s relative RMSE %.5f (bound %.4f)\n", tensor_type_name(cases[k].type),
                      rmse[k], cases[k].bound);
        if (!(rmse[k] <= cases[k].bound))
            fail_msg("%s: relative RMSE %g above %g", tensor_type_name(cases[k].type), rmse[k],
                     cases[k].bound);
        free(q);
    }
    /* more bits, less error: Q8_0 < Q6_K < Q5_K < Q4_K < Q3_K < Q2_K, and the
     * legacy 5-bit formats beat the 4-bit ones */
    assert_true(rmse[2] < rmse[3] && rmse[3] < rmse[6] && rmse[6] < rmse[9]);
    assert_true(rmse[9] < rmse[10] && rmse[10] < rmse[11]);
    assert_true(rmse[4] < rmse[7] && rmse[5] < rmse[8]);
    free(y);
    free(x);
}

static void bad_arguments_refused(void **state)
{
    (void)state;
    float x[64] = {0};
    uint8_t y[256];
    assert_int_equal(tquant_rows(TENSOR_Q4_K, x, y, 1, 64), -1); /* not a whole super-block */
    assert_int_equal(tquant_rows(TENSOR_Q8_0, x, y, 1, 48), -1);
    assert_int_equal(tquant_rows(TENSOR_I32, x, y, 1, 64), -1);
    assert_int_equal(tquant_can_write(TENSOR_Q8_1), 0);
    assert_int_equal(tquant_rows(TENSOR_Q8_0, x, y, 2, 32), 0);
    for (int i = 0; i < 2 * 34; i++) /* zeros quantise to zero blocks */
        assert_int_equal(y[i], 0);
    /* NaN or infinity: refused for block formats, carried by the float ones */
    float z[256] = {0};
    static uint8_t big[4 * 256];
    z[77] = NAN;
    assert_int_equal(tquant_rows(TENSOR_Q4_K, z, big, 1, 256), -2);
    assert_int_equal(tquant_rows(TENSOR_Q8_0, z, big, 1, 256), -2);
    assert_int_equal(tquant_rows(TENSOR_F16, z, big, 1, 256), 0);
    z[77] = INFINITY;
    assert_int_equal(tquant_rows(TENSOR_Q5_1, z, big, 1, 256), -2);
    /* subnormal and huge blocks (1/d overflows; the range overflows): defined
     * behaviour (checked under UBSan), and the type's block layout */
    static const uint32_t types[] = {TENSOR_Q4_0, TENSOR_Q4_1, TENSOR_Q5_0, TENSOR_Q5_1,
                                     TENSOR_Q8_0, TENSOR_Q2_K, TENSOR_Q3_K, TENSOR_Q4_K,
                                     TENSOR_Q5_K, TENSOR_Q6_K};
    for (int i = 0; i < 256; i++)
        z[i] = (i % 3 ? 1e-41f : -2e-41f) * (float)(i % 7);
    for (size_t k = 0; k < sizeof types / sizeof *types; k++)
        assert_int_equal(tquant_rows(types[k], z, big, 1, 256), 0);
    for (int i = 0; i < 256; i++)
        z[i] = i % 2 ? 3e38f : -3e38f;
    for (size_t k = 0; k < sizeof types / sizeof *types; k++)
        assert_int_equal(tquant_rows(types[k], z, big, 1, 256), 0);
}

/* The recipe on a hand-built model (zero weights; only names and shapes
 * matter): 8 layers, 4 query heads per key/value head, tied embeddings. The
 * expected types are worked out by hand from llama.cpp's rules: use_more_bits
 * picks layers i < 1, i >= 7 and (i - 1) % 3 == 2, i.e. 0, 3, 6, 7. */
static void recipe_types(void **state)
{
    (void)state;
    char in[] = "/tmp/cape_tq_in_XXXXXX", out[64];
    int fd = mkstemp(in);
    assert_true(fd >= 0);
    close(fd);
    snprintf(out, sizeof out, "%s.out", in);
    static float zeros[512 * 64];
    gguf_writer *w = gguf_writer_new();
    gguf_writer_set_str(w, "general.architecture", "llama");
    gguf_writer_set_u32(w, "llama.block_count", 8);
    gguf_writer_set_u32(w, "llama.attention.head_count", 4);
    gguf_writer_set_u32(w, "llama.attention.head_count_kv", 1);
    gguf_writer_set_u32(w, "general.file_type", 0);
    gguf_writer_set_str(w, "general.note", "kept");
    int64_t emb[2] = {256, 40}, norm[2] = {256, 1}, v[2] = {256, 64}, down[2] = {512, 32},
            o[2] = {256, 32}, narrow[2] = {64, 8}, odd[2] = {48, 8}, col[2] = {256, 1};
    gguf_writer_add_tensor(w, "token_embd.weight", TENSOR_F32, 2, emb, zeros);
    gguf_writer_add_tensor(w, "output_norm.weight", TENSOR_F32, 1, norm, zeros);
    gguf_writer_add_tensor(w, "narrow.weight", TENSOR_F32, 2, narrow, zeros);
    gguf_writer_add_tensor(w, "odd.weight", TENSOR_F32, 2, odd, zeros);
    gguf_writer_add_tensor(w, "column.weight", TENSOR_F32, 2, col, zeros); /* 1-D for ggml */
    gguf_writer_add_tensor(w, "blk.0.ffn_gate_inp.weight", TENSOR_F32, 2, o, zeros);
    char name[64];
    for (int l = 0; l < 8; l++) {
        snprintf(name, sizeof name, "blk.%d.attn_norm.weight", l);
        gguf_writer_add_tensor(w, name, TENSOR_F32, 1, norm, zeros);
        snprintf(name, sizeof name, "blk.%d.attn_v.weight", l);
        gguf_writer_add_tensor(w, name, TENSOR_F32, 2, v, zeros);
        snprintf(name, sizeof name, "blk.%d.attn_output.weight", l);
        gguf_writer_add_tensor(w, name, TENSOR_F32, 2, o, zeros);
        snprintf(name, sizeof name, "blk.%d.ffn_down.weight", l);
        gguf_writer_add_tensor(w, name, TENSOR_F32, 2, down, zeros);
    }
    cape_err e = {0};
    assert_int_equal(gguf_writer_write(w, in, &e), 0);
    gguf_writer_free(w);

    static const struct {
        const char *type;
        int ftype;
        tensor_type embd, narrow, odd, v_more, v_less, v01, down_more, down_less, attn_out;
    } cases[] = {
        /* Q4_K_M: more bits for attn_v/ffn_down in layers 0, 3, 6, 7 */
        {"q4_k", 15, TENSOR_Q6_K, TENSOR_Q5_0, TENSOR_F16, TENSOR_Q6_K, TENSOR_Q4_K, TENSOR_Q6_K,
         TENSOR_Q6_K, TENSOR_Q4_K, TENSOR_Q4_K},
        /* Q3_K_M: attn_v Q5_K in layers 0-1, Q4_K after; ffn_down Q4_K (8/16 = 0 layers get
         * Q5_K); attn_output Q4_K; Q3_K falls back to Q4_0 on 64-wide rows */
        {"q3_k", 12, TENSOR_Q6_K, TENSOR_Q4_0, TENSOR_F16, TENSOR_Q4_K, TENSOR_Q4_K, TENSOR_Q5_K,
         TENSOR_Q4_K, TENSOR_Q4_K, TENSOR_Q4_K},
        /* Q2_K with 4 query heads per KV head: attn_v Q4_K, ffn_down and attn_output Q3_K */
        {"q2_k", 10, TENSOR_Q6_K, TENSOR_Q4_0, TENSOR_F16, TENSOR_Q4_K, TENSOR_Q4_K, TENSOR_Q4_K,
         TENSOR_Q3_K, TENSOR_Q3_K, TENSOR_Q3_K},
        /* Q8_0: the tied embedding stays Q8_0; 48 is no multiple of 32 -> F16 */
        {"q8_0", 7, TENSOR_Q8_0, TENSOR_Q8_0, TENSOR_F16, TENSOR_Q8_0, TENSOR_Q8_0, TENSOR_Q8_0,
         TENSOR_Q8_0, TENSOR_Q8_0, TENSOR_Q8_0},
        /* legacy 4-bit: tied embedding Q6_K, everything else Q4_0 */
        {"q4_0", 2, TENSOR_Q6_K, TENSOR_Q4_0, TENSOR_F16, TENSOR_Q4_0, TENSOR_Q4_0, TENSOR_Q4_0,
         TENSOR_Q4_0, TENSOR_Q4_0, TENSOR_Q4_0},
        /* F16: every quantisable tensor (48-wide too) becomes F16 */
        {"f16", 1, TENSOR_F16, TENSOR_F16, TENSOR_F16, TENSOR_F16, TENSOR_F16, TENSOR_F16,
         TENSOR_F16, TENSOR_F16, TENSOR_F16},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        quantize_opts qo = {.recipe = quantize_recipe_find(cases[k].type), .n_threads = 2};
        assert_non_null(qo.recipe);
        quantize_stats st;
        if (quantize_model(in, out, &qo, &st, &e))
            fail_msg("%s: %s", cases[k].type, e.msg);
        gguf_file *f = gguf_open(out, &e);
        assert_non_null(f);
        int64_t ft;
        assert_true(gguf_get_int(f, "general.file_type", &ft));
        assert_int_equal(ft, cases[k].ftype);
        gguf_str note;
        assert_true(gguf_get_str(f, "general.note", &note));
        assert_int_equal(gguf_find_tensor(f, "token_embd.weight")->type, cases[k].embd);
        assert_int_equal(gguf_find_tensor(f, "narrow.weight")->type, cases[k].narrow);
        assert_int_equal(gguf_find_tensor(f, "odd.weight")->type, cases[k].odd);
        assert_int_equal(gguf_find_tensor(f, "output_norm.weight")->type, TENSOR_F32);
        assert_int_equal(gguf_find_tensor(f, "column.weight")->type, TENSOR_F32);
        assert_int_equal(gguf_find_tensor(f, "blk.0.ffn_gate_inp.weight")->type, TENSOR_F32);
        for (int l = 0; l < 8; l++) {
            int more = l == 0 || l == 3 || l == 6 || l == 7;
            snprintf(name, sizeof name, "blk.%d.attn_v.weight", l);
            tensor_type want = l < 2 ? cases[k].v01 : more ? cases[k].v_more : cases[k].v_less;
            if (strcmp(cases[k].type, "q3_k"))
                want = more ? cases[k].v_more : cases[k].v_less;
            if (gguf_find_tensor(f, name)->type != want)
                fail_msg("%s %s: %s, expected %s", cases[k].type, name,
                         tensor_type_name(gguf_find_tensor(f, name)->type), tensor_type_name(want));
            snprintf(name, sizeof name, "blk.%d.ffn_down.weight", l);
            want = more ? cases[k].down_more : cases[k].down_less;
            assert_int_equal(gguf_find_tensor(f, name)->type, want);
            snprintf(name, sizeof name, "blk.%d.attn_output.weight", l);
            assert_int_equal(gguf_find_tensor(f, name)->type, cases[k].attn_out);
            assert_int_equal(gguf_find_tensor(f, name)->ne[1], 32);
        }
        assert_int_equal(st.n_tensors, gguf_n_tensors(f));
        gguf_close(f);
    }
    quantize_opts qo = {.recipe = quantize_recipe_find("q4_k_m")};
    quantize_stats st;
    assert_non_null(qo.recipe);
    assert_null(quantize_recipe_find("q4_k_x"));
    /* the output path may not be the input */
    assert_int_equal(quantize_model(in, in, &qo, &st, &e), CAPE_EINPUT);
    unlink(in);
    unlink(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bytes_match_references),
        cmocka_unit_test(same_bytes_for_any_thread_count),
        cmocka_unit_test(round_trip_error_within_bounds),
        cmocka_unit_test(bad_arguments_refused),
        cmocka_unit_test(recipe_types),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
