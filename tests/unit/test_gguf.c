/* gguf: reading files written by llama.cpp's tools (stories260K converted by
 * convert-llama2c-to-ggml, a control vector from llama-cvector-generator),
 * rewriting them byte for byte, a round trip through every value type, and
 * rejection of malformed input. */
#include "testutil.h"

#include <string.h>
#include <unistd.h>

#include "base/file.h"
#include "model/gguf.h"

static void reads_stories260k(void **state)
{
    (void)state;
    cape_err e = {0};
    gguf_file *f = gguf_open(test_shared_path("data/models/stories260K/stories260K.gguf"), &e);
    if (!f)
        fail_msg("%s", e.msg);
    assert_int_equal(gguf_version(f), 3);
    assert_int_equal(gguf_n_tensors(f), 48);
    char arch[32];
    assert_true(gguf_get_cstr(f, "general.architecture", arch, sizeof arch));
    assert_string_equal(arch, "llama");
    int64_t v;
    assert_true(gguf_get_int(f, "llama.context_length", &v));
    assert_int_equal(v, 128);
    assert_true(gguf_get_int(f, "llama.block_count", &v));
    assert_int_equal(v, 5);
    assert_true(gguf_get_int(f, "llama.embedding_length", &v));
    assert_int_equal(v, 64);
    assert_false(gguf_get_int(f, "general.architecture", &v)); /* a string, not an int */
    assert_false(gguf_get_int(f, "no.such.key", &v));
    assert_int_equal(gguf_need_int(f, "no.such.key", &v, &e), CAPE_EINPUT);
    assert_non_null(strstr(e.msg, "missing metadata key 'no.such.key'"));
    gguf_arr toks;
    assert_true(gguf_get_arr(f, "tokenizer.ggml.tokens", &toks));
    assert_int_equal(toks.type, GGUF_STRING);
    assert_int_equal(toks.n, 512);
    assert_int_equal(toks.strs[1].len, 3);
    assert_memory_equal(toks.strs[1].ptr, "<s>", 3);
    const gguf_tensor *t = gguf_find_tensor(f, "token_embd.weight");
    assert_non_null(t);
    assert_int_equal(t->type, TENSOR_F32);
    assert_int_equal(t->n_dims, 2);
    assert_int_equal(t->ne[0], 64);
    assert_int_equal(t->ne[1], 512);
    assert_int_equal(t->nbytes, 64 * 512 * 4);
    assert_int_equal(((uintptr_t)t->data) % 32, 0);
    assert_null(gguf_find_tensor(f, "nope"));
    gguf_close(f);
}

/* Reads every key and tensor of a file and writes them again. */
static uint8_t *rewrite(const gguf_file *f, size_t *len)
{
    gguf_writer *w = gguf_writer_new();
    gguf_writer_set_version(w, gguf_version(f));
    for (int64_t i = 0; i < gguf_n_kv(f); i++)
        assert_int_equal(gguf_writer_copy_kv(w, gguf_kv_at(f, i)), 0);
    for (int64_t i = 0; i < gguf_n_tensors(f); i++) {
        const gguf_tensor *t = gguf_tensor_at(f, i);
        assert_int_equal(gguf_writer_add_tensor(w, t->name, t->type, t->n_dims, t->ne, t->data), 0);
    }
    uint8_t *buf;
    cape_err e = {0};
    assert_int_equal(gguf_writer_to_buffer(w, &buf, len, &e), 0);
    gguf_writer_free(w);
    return buf;
}

static void rewrites_llama_cpp_files_byte_for_byte(void **state)
{
    (void)state;
    const char *paths[] = {"tests/ref/cv_happy_mean.gguf",
                           test_shared_path("data/models/stories260K/stories260K.gguf")};
    for (int k = 0; k < 2; k++) {
        cape_err e = {0};
        size_t n;
        char *orig = file_read_all(paths[k], &n, &e);
        if (!orig)
            fail_msg("%s", e.msg);
        gguf_file *f = gguf_open(paths[k], &e);
        assert_non_null(f);
        size_t m;
        uint8_t *again = rewrite(f, &m);
        assert_int_equal(m, n);
        assert_memory_equal(again, orig, n);
        free(again);
        free(orig);
        gguf_close(f);
    }
}

static void control_vector_layout(void **state)
{
    (void)state;
    cape_err e = {0};
    gguf_file *f = gguf_open("tests/ref/cv_happy_mean.gguf", &e);
    assert_non_null(f);
    char s[64];
    assert_true(gguf_get_cstr(f, "general.architecture", s, sizeof s));
    assert_string_equal(s, "controlvector");
    int64_t n;
    assert_true(gguf_get_int(f, "controlvector.layer_count", &n));
    assert_int_equal(n, 4);
    assert_int_equal(gguf_n_tensors(f), 4);
    assert_int_equal(gguf_data_offset(f), 352);
    const gguf_tensor *t = gguf_find_tensor(f, "direction.3");
    assert_non_null(t);
    assert_int_equal(t->ne[0], 64);
    double norm = 0;
    for (int i = 0; i < 64; i++) {
        float x;
        memcpy(&x, (const char *)t->data + 4 * i, 4);
        norm += (double)x * x;
    }
    assert_close(norm, 1.0, 1e-5); /* the generator writes unit vectors */
    gguf_close(f);
}

static gguf_writer *every_type(void)
{
    gguf_writer *w = gguf_writer_new();
    gguf_writer_set_u8(w, "t.u8", 200);
    gguf_writer_set_i8(w, "t.i8", -100);
    gguf_writer_set_u16(w, "t.u16", 60000);
    gguf_writer_set_i16(w, "t.i16", -30000);
    gguf_writer_set_u32(w, "t.u32", 4000000000u);
    gguf_writer_set_i32(w, "t.i32", -2000000000);
    gguf_writer_set_u64(w, "t.u64", 1ull << 60);
    gguf_writer_set_i64(w, "t.i64", -(1ll << 60));
    gguf_writer_set_f32(w, "t.f32", 0.1f);
    gguf_writer_set_f64(w, "t.f64", 0.1);
    gguf_writer_set_bool(w, "t.bool", 1);
    gguf_writer_set_str(w, "t.str", "héllo");
    int32_t ia[3] = {-1, 2, 3};
    float fa[2] = {1.5f, -2.25f};
    uint8_t ba[2] = {1, 0};
    const char *sa[3] = {"a", "", "ccc"};
    gguf_writer_set_arr(w, "t.ai32", GGUF_INT32, ia, 3);
    gguf_writer_set_arr(w, "t.af32", GGUF_FLOAT32, fa, 2);
    gguf_writer_set_arr(w, "t.abool", GGUF_BOOL, ba, 2);
    gguf_writer_set_arr_str(w, "t.astr", sa, 3);
    gguf_writer_set_str(w, "t.replaced", "old");
    gguf_writer_set_i32(w, "t.replaced", 7); /* replaces in place, type changes */
    return w;
}

static void round_trip_every_type(void **state)
{
    (void)state;
    static float data[2][64];
    static uint8_t q8[2 * 34];
    for (int i = 0; i < 128; i++)
        data[i / 64][i % 64] = (float)i * 0.5f;
    for (int i = 0; i < 68; i++)
        q8[i] = (uint8_t)i;
    for (uint32_t version = 2; version <= 3; version++) {
        gguf_writer *w = every_type();
        gguf_writer_set_version(w, version);
        assert_int_equal(gguf_writer_set_alignment(w, 64), 0);
        int64_t ne[2] = {64, 2}, ne8[1] = {64};
        assert_int_equal(gguf_writer_add_tensor(w, "a", TENSOR_F32, 2, ne, data), 0);
        assert_int_equal(gguf_writer_add_tensor(w, "b", TENSOR_Q8_0, 1, ne8, q8), 0);
        assert_int_equal(gguf_writer_add_tensor(w, "a", TENSOR_F32, 2, ne, data), -1);
        char path[] = "/tmp/cape-gguf-XXXXXX";
        int fd = mkstemp(path);
        close(fd);
        cape_err e = {0};
        /* the duplicate tensor makes writing fail, and leaves no file behind */
        assert_int_equal(gguf_writer_write(w, path, &e), CAPE_EINPUT);
        gguf_writer_free(w);
        w = every_type();
        gguf_writer_set_version(w, version);
        gguf_writer_set_alignment(w, 64);
        gguf_writer_add_tensor(w, "a", TENSOR_F32, 2, ne, data);
        gguf_writer_add_tensor(w, "b", TENSOR_Q8_0, 1, ne8, q8);
        err_clear(&e);
        assert_int_equal(gguf_writer_write(w, path, &e), 0);
        gguf_writer_free(w);

        gguf_file *f = gguf_open(path, &e);
        if (!f)
            fail_msg("%s", e.msg);
        assert_int_equal(gguf_version(f), version);
        assert_int_equal(gguf_alignment(f), 64);
        int64_t i;
        double d;
        int b;
        gguf_str s;
        gguf_arr a;
        assert_true(gguf_get_int(f, "t.u8", &i) && i == 200);
        assert_true(gguf_get_int(f, "t.i8", &i) && i == -100);
        assert_true(gguf_get_int(f, "t.u16", &i) && i == 60000);
        assert_true(gguf_get_int(f, "t.i16", &i) && i == -30000);
        assert_true(gguf_get_int(f, "t.u32", &i) && i == 4000000000ll);
        assert_true(gguf_get_int(f, "t.i32", &i) && i == -2000000000);
        assert_true(gguf_get_int(f, "t.u64", &i) && i == 1ll << 60);
        assert_true(gguf_get_int(f, "t.i64", &i) && i == -(1ll << 60));
        assert_true(gguf_get_int(f, "t.replaced", &i) && i == 7);
        assert_true(gguf_get_float(f, "t.f32", &d) && d == (double)0.1f);
        assert_true(gguf_get_float(f, "t.f64", &d) && d == 0.1);
        assert_true(gguf_get_bool(f, "t.bool", &b) && b == 1);
        assert_true(gguf_get_str(f, "t.str", &s) && s.len == 6 && !memcmp(s.ptr, "héllo", 6));
        assert_true(gguf_get_arr(f, "t.ai32", &a) && a.type == GGUF_INT32 && a.n == 3);
        assert_int_equal(gguf_arr_int(&a, 0), -1);
        assert_int_equal(gguf_arr_int(&a, 2), 3);
        assert_true(gguf_get_arr(f, "t.af32", &a) && a.n == 2);
        assert_true(gguf_arr_float(&a, 1) == -2.25);
        assert_true(gguf_get_arr(f, "t.abool", &a) && a.type == GGUF_BOOL);
        assert_int_equal(gguf_arr_int(&a, 0), 1);
        assert_true(gguf_get_arr(f, "t.astr", &a) && a.n == 3);
        assert_int_equal(a.strs[1].len, 0);
        assert_memory_equal(a.strs[2].ptr, "ccc", 3);
        assert_int_equal(gguf_need_arr(f, "t.astr", GGUF_INT32, &a, &e), CAPE_EINPUT);
        const gguf_tensor *t = gguf_find_tensor(f, "a");
        assert_int_equal(t->ne[1], 2);
        assert_memory_equal(t->data, data, sizeof data);
        assert_int_equal(((uintptr_t)t->data - (uintptr_t)gguf_find_tensor(f, "b")->data) % 64,
                         0);
        assert_memory_equal(gguf_find_tensor(f, "b")->data, q8, sizeof q8);
        gguf_close(f);
        unlink(path);
    }
}

/* A small valid file to corrupt. */
static uint8_t *small_file(size_t *len)
{
    gguf_writer *w = every_type();
    static float data[32];
    int64_t ne[2] = {16, 2};
    gguf_writer_add_tensor(w, "x", TENSOR_F32, 2, ne, data);
    uint8_t *buf;
    cape_err e = {0};
    assert_int_equal(gguf_writer_to_buffer(w, &buf, len, &e), 0);
    gguf_writer_free(w);
    return buf;
}

static void expect_error(const uint8_t *buf, size_t len, const char *want)
{
    cape_err e = {0};
    gguf_file *f = gguf_open_buffer(buf, len, "bad.gguf", &e);
    if (f)
        fail_msg("accepted a corrupt file (expected '%s')", want);
    assert_int_equal(e.code, CAPE_EINPUT);
    if (!strstr(e.msg, want))
        fail_msg("error '%s' lacks '%s'", e.msg, want);
    assert_null(strchr(e.msg, '\n'));
}

/* Offset of the tensor info of "x" (name length field) in small_file(). */
static size_t find_tensor_info(const uint8_t *buf, size_t len)
{
    for (size_t i = 0; i + 9 < len; i++)
        if (buf[i] == 1 && !memcmp(buf + i + 1, "\0\0\0\0\0\0\0x", 8))
            return i;
    fail_msg("tensor info not found");
    return 0;
}

static void rejects_corrupt_files(void **state)
{
    (void)state;
    size_t len;
    uint8_t *buf = small_file(&len);
    uint8_t *b = malloc(len);
    /* every truncation fails cleanly (ASan checks for reads past the end) */
    for (size_t n = 0; n < len; n++) {
        memcpy(b, buf, n);
        cape_err e = {0};
        gguf_file *f = gguf_open_buffer(b, n, "cut.gguf", &e);
        if (f)
            fail_msg("accepted a file cut at %zu of %zu bytes", n, len);
        assert_int_equal(e.code, CAPE_EINPUT);
    }
    memcpy(b, buf, len);
    b[0] = 'X';
    expect_error(b, len, "bad magic");
    memcpy(b, buf, len);
    b[4] = 1;
    expect_error(b, len, "version 1 is not supported");
    memcpy(b, buf, len);
    b[16] = 0xff; /* n_kv */
    b[20] = 0xff;
    expect_error(b, len, "more than the file can hold");

    size_t ti = find_tensor_info(buf, len);
    size_t dims = ti + 9 + 4, type = dims + 16, off = type + 4;
    memcpy(b, buf, len);
    b[type] = 23; /* IQ4_XS: not supported */
    expect_error(b, len, "unsupported type 23");
    memcpy(b, buf, len);
    b[off + 1] = 0x10; /* offset 4096 */
    expect_error(b, len, "runs past the end");
    memcpy(b, buf, len);
    b[off] = 4; /* misaligned */
    expect_error(b, len, "not a multiple of the alignment");
    memcpy(b, buf, len);
    memset(b + dims + 8, 0, 8);
    b[dims + 15] = 0x40; /* ne[1] = 2^62: 64 * 2^62 bytes overflow */
    expect_error(b, len, "overflow");
    memcpy(b, buf, len);
    b[dims] = 17; /* row of 17 floats: still fine for F32, but data runs past */
    expect_error(b, len, "runs past the end");
    memcpy(b, buf, len);
    b[ti + 9] = 5;
    expect_error(b, len, "5 dimensions");
    /* a duplicate key: rename t.i8 to t.u8 */
    memcpy(b, buf, len);
    uint8_t *k = memmem(b, len, "t.i8", 4);
    memcpy(k, "t.u8", 4);
    expect_error(b, len, "duplicate metadata key 't.u8'");
    memcpy(b, buf, len);
    k = memmem(b, len, "t.bool", 6);
    k[6 + 4] = 2;
    expect_error(b, len, "bool value 2");
    free(b);
    free(buf);
}

static void open_reports_missing_and_bad_files(void **state)
{
    (void)state;
    cape_err e = {0};
    assert_null(gguf_open("/nonexistent/x.gguf", &e));
    assert_non_null(strstr(e.msg, "/nonexistent/x.gguf: cannot open"));
    err_clear(&e);
    assert_null(gguf_open("Makefile", &e));
    assert_non_null(strstr(e.msg, "Makefile: not a GGUF file (bad magic)"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(reads_stories260k),
        cmocka_unit_test(rewrites_llama_cpp_files_byte_for_byte),
        cmocka_unit_test(control_vector_layout),
        cmocka_unit_test(round_trip_every_type),
        cmocka_unit_test(rejects_corrupt_files),
        cmocka_unit_test(open_reports_missing_and_bad_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
