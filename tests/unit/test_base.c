/* base: CSV reader, strict number and size parsing, the numpy-compatible
 * MT19937 (reference values printed by numpy 2.x's legacy RandomState), and
 * atomic files. */
#include "testutil.h"

#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/csv.h"
#include "base/file.h"
#include "base/rng.h"
#include "base/text.h"

static void csv_quotes_crlf_bom(void **state)
{
    (void)state;
    const char *in = "\xEF\xBB\xBFmodel,source\r\n\"a,b\",\"say \"\"hi\"\"\"\r\n\r\nc,\r\n";
    csv_table t;
    cape_err e = {0};
    assert_int_equal(csv_parse(in, strlen(in), "x.csv", &t, &e), 0);
    assert_int_equal(t.nrow, 3);
    assert_string_equal(t.row[0].field[0], "model");
    assert_string_equal(t.row[1].field[0], "a,b");
    assert_string_equal(t.row[1].field[1], "say \"hi\"");
    assert_string_equal(t.row[2].field[1], "");
    assert_int_equal(t.row[2].line, 4);
    csv_free(&t);
}

static void csv_errors_name_line_and_column(void **state)
{
    (void)state;
    struct {
        const char *in, *msg;
    } cases[] = {
        {"a,b\n1,2,3\n", "x.csv:2:1: expected 2 fields as in the header, found 3"},
        {"a,b\n1,\"2\n", "x.csv:2:3: unterminated quoted field"},
        {"a,b\n1,2\"x\n", "x.csv:2:4: quote inside an unquoted field"},
        {"a,b\n\"1\"x,2\n", "x.csv:2:4: expected ',' or end of line after a closing quote"},
        {"", "x.csv:1:1: empty file"},
        {"\n\n", "x.csv:1:1: empty file"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        csv_table t;
        cape_err e = {0};
        assert_int_equal(csv_parse(cases[i].in, strlen(cases[i].in), "x.csv", &t, &e), CAPE_EINPUT);
        if (strncmp(e.msg, cases[i].msg, strlen(cases[i].msg)) != 0)
            fail_msg("case %zu: got '%s', expected prefix '%s'", i, e.msg, cases[i].msg);
    }
    char nul[] = {'a', '\n', 0, '\n'};
    csv_table t;
    cape_err e = {0};
    assert_int_equal(csv_parse(nul, sizeof nul, "x.csv", &t, &e), CAPE_EINPUT);
    assert_non_null(strstr(e.msg, "NUL"));
}

static void numbers_are_strict(void **state)
{
    (void)state;
    double v;
    assert_int_equal(text_parse_double(" 47.64 ", &v), 0);
    assert_true(v == 47.64);
    assert_int_equal(text_parse_double("1e-3", &v), 0);
    assert_true(v == 1e-3);
    const char *bad[] = {"", "  ", "nan", "NaN", "inf", "-inf", "1.2.3x", "12abc", "0x10", "1e999"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        if (text_parse_double(bad[i], &v) == 0)
            fail_msg("'%s' parsed as %g", bad[i], v);
}

static void sizes_with_units(void **state)
{
    (void)state;
    struct {
        const char *s;
        double unit, want;
        int suffix;
    } ok[] = {
        {"410M", 1, 4.1e8, 1}, {"1.4B", 1, 1.4e9, 1}, {"7e9", 1, 7e9, 0}, {"70m", 1, 7e7, 1},
        {"1.5T", 1, 1.5e12, 1}, {"125k", 1, 1.25e5, 1}, {"0.07", 1e9, 7e7, 0}, {"13", 1e9, 1.3e10, 0},
        {" 6.9b ", 1, 6.9e9, 1},
    };
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
        double v;
        int suf;
        assert_int_equal(text_parse_size(ok[i].s, ok[i].unit, &v, &suf), 0);
        assert_rel(v, ok[i].want, 1e-12);
        assert_int_equal(suf, ok[i].suffix);
    }
    double v;
    assert_int_equal(text_parse_size("B", 1, &v, NULL), -1);
    assert_int_equal(text_parse_size("7X", 1, &v, NULL), -1);
    assert_int_equal(text_parse_size("", 1, &v, NULL), -1);
    char buf[32];
    text_format_size(4.1e8, buf, sizeof buf);
    assert_string_equal(buf, "410M");
    text_format_size(1.4e9, buf, sizeof buf);
    assert_string_equal(buf, "1.4B");
    text_format_size(7e10, buf, sizeof buf);
    assert_string_equal(buf, "70B");
    text_normalise("HellaSwag (10-shot)", buf, sizeof buf);
    assert_string_equal(buf, "hellaswag10shot");
}

/* numpy: np.random.seed(42); randint(0, 2**32, 3, dtype=uint64), random_sample(3) */
static void mt19937_replays_numpy(void **state)
{
    (void)state;
    rng_mt r;
    rng_seed(&r, 42);
    assert_int_equal(rng_u32(&r), 1608637542u);
    assert_int_equal(rng_u32(&r), 3421126067u);
    assert_int_equal(rng_u32(&r), 4083286876u);
    rng_seed(&r, 42);
    assert_true(rng_double(&r) == 0.3745401188473625);
    assert_true(rng_double(&r) == 0.9507143064099162);
    assert_true(rng_double(&r) == 0.7319939418114051);
}

/* numpy: np.random.seed(42); np.random.choice(14, 14, replace=True) */
static void bounded_ints_replay_numpy_choice(void **state)
{
    (void)state;
    const int want[14] = {6, 3, 12, 10, 7, 12, 4, 6, 9, 2, 6, 10, 10, 7};
    rng_mt r;
    rng_seed(&r, 42);
    for (int i = 0; i < 14; i++)
        assert_int_equal((int)rng_interval(&r, 13), want[i]);
    /* np.random.seed(1); np.random.randint(0, 1000000, size=4) */
    const int want2[4] = {128037, 491755, 470924, 791624};
    rng_seed(&r, 1);
    for (int i = 0; i < 4; i++)
        assert_int_equal((int)rng_interval(&r, 999999), want2[i]);
}

/* numpy: np.random.seed(7); a = np.arange(10); np.random.shuffle(a) */
static void shuffle_and_gauss_replay_numpy(void **state)
{
    (void)state;
    int a[10], want[10] = {8, 5, 0, 2, 1, 9, 7, 3, 6, 4};
    for (int i = 0; i < 10; i++)
        a[i] = i;
    rng_mt r;
    rng_seed(&r, 7);
    rng_shuffle_int(&r, a, 10);
    for (int i = 0; i < 10; i++)
        assert_int_equal(a[i], want[i]);
    /* np.random.seed(3); np.random.standard_normal(3) */
    rng_seed(&r, 3);
    int has = 0;
    double saved = 0;
    assert_close(rng_gauss(&r, &has, &saved), 1.7886284734303186, 1e-15);
    assert_close(rng_gauss(&r, &has, &saved), 0.43650985051198943, 1e-15);
    assert_close(rng_gauss(&r, &has, &saved), 0.09649746807200862, 1e-15);
}

static void fast_rng_is_uniform(void **state)
{
    (void)state;
    rng_fast r;
    rng_fast_seed(&r, 1);
    int counts[7] = {0};
    for (int i = 0; i < 70000; i++)
        counts[rng_fast_below(&r, 7)]++;
    for (int k = 0; k < 7; k++) /* 10000 expected, SD ~ 93 */
        assert_in_range(counts[k], 9600, 10400);
}

static void atomic_write_replaces_whole_file(void **state)
{
    (void)state;
    char dir[] = "/tmp/cape-test-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof path, "%s/out.txt", dir);
    cape_err e = {0};
    assert_int_equal(file_write_atomic(path, "first\n", 6, &e), 0);
    file_atomic f;
    assert_int_equal(file_atomic_open(&f, path, &e), 0);
    fputs("partial", f.fp);
    file_atomic_abort(&f); /* an interrupted write leaves the old file */
    size_t len;
    char *got = file_read_all(path, &len, &e);
    assert_non_null(got);
    assert_string_equal(got, "first\n");
    free(got);
    assert_int_equal(file_write_atomic(path, "second\n", 7, &e), 0);
    got = file_read_all(path, &len, &e);
    assert_string_equal(got, "second\n");
    free(got);
    unlink(path);
    rmdir(dir);
    snprintf(path, sizeof path, "%s/missing/out.txt", dir);
    assert_int_equal(file_write_atomic(path, "x", 1, &e), CAPE_EINPUT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(csv_quotes_crlf_bom),
        cmocka_unit_test(csv_errors_name_line_and_column),
        cmocka_unit_test(numbers_are_strict),
        cmocka_unit_test(sizes_with_units),
        cmocka_unit_test(mt19937_replays_numpy),
        cmocka_unit_test(bounded_ints_replay_numpy_choice),
        cmocka_unit_test(shuffle_and_gauss_replay_numpy),
        cmocka_unit_test(fast_rng_is_uniform),
        cmocka_unit_test(atomic_write_replaces_whole_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
