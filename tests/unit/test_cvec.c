/* Control vectors: llama.cpp's own file (made by its cvector-generator from
 * six happy/sad pairs on stories260K) loads, round-trips, and bad files are
 * refused with a message naming the problem. */
#include "testutil.h"

#include <math.h>
#include <string.h>
#include <unistd.h>

#include "model/gguf.h"
#include "steer/cvec.h"

static void loads_llama_cpp_file(void **state)
{
    (void)state;
    cvec cv;
    cape_err e = {0};
    assert_int_equal(cvec_load("tests/ref/cv_happy_mean.gguf", 64, &cv, &e), 0);
    assert_int_equal(cv.n_embd, 64);
    assert_int_equal(cv.n_slots, 5);
    assert_false(cv.present[0]);
    for (int s = 1; s <= 4; s++) {
        assert_true(cv.present[s]);
        double norm = 0; /* the generator writes unit vectors */
        for (int j = 0; j < 64; j++)
            norm += (double)cv.v[s * 64 + j] * cv.v[s * 64 + j];
        assert_close(norm, 1.0, 1e-5);
    }
    assert_string_equal(cv.model_hint, "llama");
    char path[] = "/tmp/cape-cvec-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(cvec_save(&cv, path, "llama", &e), 0);
    double norms[5] = {1, 2, 3, 4, 5};
    assert_int_equal(cvec_set_norms(&cv, norms, 5, &e), 0);
    assert_int_equal(cvec_save(&cv, path, "llama", &e), 0);
    cvec back;
    assert_int_equal(cvec_load(path, 0, &back, &e), 0);
    assert_int_equal(back.n_slots, 5);
    assert_non_null(back.resid_norm); /* cape's residual norms travel with the file */
    for (int s = 0; s < 5; s++)
        assert_close(back.resid_norm[s], norms[s], 0);
    assert_memory_equal(back.v, cv.v, 5 * 64 * sizeof(float));
    cvec_add(&back, &cv, -1.0f, &e);
    for (int j = 0; j < 5 * 64; j++)
        assert_close(back.v[j], 0.0, 0);
    cvec_free(&back);
    assert_int_equal(cvec_load("tests/ref/cv_happy_mean.gguf", 128, &back, &e), CAPE_EINPUT);
    assert_non_null(strstr(e.msg, "model's width is 128"));
    cvec_free(&cv);
    unlink(path);
}

static void write_tensor_file(const char *path, const char *name, int n_dims, int64_t n)
{
    float v[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    int64_t ne[2] = {n, 1};
    gguf_writer *w = gguf_writer_new();
    gguf_writer_set_str(w, "general.architecture", "controlvector");
    gguf_writer_add_tensor(w, name, TENSOR_F32, (uint32_t)n_dims, ne, v);
    cape_err e = {0};
    assert_int_equal(gguf_writer_write(w, path, &e), 0);
    gguf_writer_free(w);
}

static void refuses_bad_files(void **state)
{
    (void)state;
    char path[] = "/tmp/cape-cvec-XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    struct {
        const char *name;
        int dims;
        const char *msg;
    } cases[] = {
        {"direction.0", 1, "expected names direction.N with N >= 1"},
        {"dir.3", 1, "expected names direction.N"},
        {"direction.2x", 1, "expected names direction.N"},
        {"direction.2", 2, "expected a 1-D F32 vector"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        write_tensor_file(path, cases[i].name, cases[i].dims, 8);
        cvec cv;
        cape_err e = {0};
        assert_int_equal(cvec_load(path, 0, &cv, &e), CAPE_EINPUT);
        if (!strstr(e.msg, cases[i].msg))
            fail_msg("case %zu: '%s'", i, e.msg);
    }
    /* a NaN or infinity in a direction is refused, naming the tensor and element */
    const float bad[2] = {NAN, INFINITY};
    for (int k = 0; k < 2; k++) {
        float v[4] = {0.5f, -1, 2, 0.25f};
        v[2] = bad[k];
        int64_t ne[1] = {4};
        gguf_writer *w = gguf_writer_new();
        gguf_writer_set_str(w, "general.architecture", "controlvector");
        gguf_writer_add_tensor(w, "direction.1", TENSOR_F32, 1, ne, (float[4]){1, 2, 3, 4});
        gguf_writer_add_tensor(w, "direction.2", TENSOR_F32, 1, ne, v);
        cape_err we = {0};
        assert_int_equal(gguf_writer_write(w, path, &we), 0);
        gguf_writer_free(w);
        cvec cv;
        cape_err e = {0};
        assert_int_equal(cvec_load(path, 0, &cv, &e), CAPE_EINPUT);
        if (!strstr(e.msg, "'direction.2' has a non-finite value") || !strstr(e.msg, "element 2"))
            fail_msg("non-finite case %d: '%s'", k, e.msg);
    }
    cvec cv;
    cape_err e = {0};
    assert_int_equal(cvec_init(&cv, 3, 4, &e), 0);
    cv.present[0] = 1;
    cv.v[0] = 1;
    assert_int_equal(cvec_save(&cv, path, "x", &e), CAPE_EINPUT);
    assert_non_null(strstr(e.msg, "block 0"));
    cvec_free(&cv);
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(loads_llama_cpp_file),
        cmocka_unit_test(refuses_bad_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
