/* Every tokenizer.ggml.pre name llama.cpp knows, against llama.cpp's own ids
 * (tests/ref/pretok, made by tests/ref/make_pretok_fixtures.py): one small
 * synthetic vocabulary, loaded through the GGUF reader with each name in
 * turn, tokenizes the same strings as llama.cpp did with that name. Also:
 * an unknown name is refused, a missing one falls back to "default". */
#include "testutil.h"

#include <string.h>

#include "base/file.h"
#include "model/gguf.h"
#include "model/tok.h"

#define DIR "tests/ref/pretok/"
#define MAX_STR 64

static const char *SEP = "\n__ggml_vocab_test__\n";

/* The rule sets that merge raw UTF-8 use the second vocabulary. */
static int is_raw(const char *name)
{
    return !strcmp(name, "gemma4") || !strcmp(name, "granite-embed-multi-311m") ||
           !strcmp(name, "sarvam-moe") || !strcmp(name, "whitespace");
}

typedef struct {
    char *text;
    size_t len;
} str;

static int load_strings(char *buf, str *s)
{
    int n = 0;
    for (char *p = buf, *end; (end = strstr(p, SEP)) && n < MAX_STR; p = end + strlen(SEP)) {
        s[n].text = p;
        s[n].len = (size_t)(end - p);
        n++;
    }
    return n;
}

static void every_name_matches_llama_cpp(void **state)
{
    (void)state;
    cape_err e = {0};
    size_t len;
    char *sbuf = file_read_all(DIR "strings.txt", &len, &e);
    char *ebuf = file_read_all(DIR "expected.txt", &len, &e);
    assert_non_null(sbuf);
    assert_non_null(ebuf);
    str s[MAX_STR];
    int ns = load_strings(sbuf, s);
    assert_true(ns >= 30);
    gguf_file *fb = gguf_open(DIR "vocab-bpe.gguf", &e), *fr = gguf_open(DIR "vocab-raw.gguf", &e);
    assert_non_null(fb);
    assert_non_null(fr);
    int n_known = tok_pre_count();
    int *seen = calloc((size_t)n_known, sizeof *seen);
    tok *t = NULL;
    char cur[64] = "";
    int lines = 0, bad = 0;
    for (char *line = ebuf, *nl; (nl = strchr(line, '\n')); line = nl + 1) {
        *nl = 0;
        char *tab1 = strchr(line, '\t'), *tab2 = tab1 ? strchr(tab1 + 1, '\t') : NULL;
        assert_non_null(tab2);
        *tab1 = *tab2 = 0;
        int idx = atoi(tab1 + 1);
        assert_true(idx >= 0 && idx < ns);
        if (strcmp(cur, line) != 0) {
            tok_free(t);
            snprintf(cur, sizeof cur, "%s", line);
            t = tok_from_gguf_pre(is_raw(cur) ? fr : fb, cur, &e);
            if (!t)
                fail_msg("%s: %s", cur, e.msg);
        }
        for (int i = 0; i < n_known; i++)
            if (!strcmp(tok_pre_name_at(i), cur))
                seen[i]++;
        int *ids, n;
        assert_int_equal(tok_encode(t, s[idx].text, s[idx].len, 0, &ids, &n, &e), 0);
        char got[4096] = "";
        size_t k = 0;
        for (int i = 0; i < n && k < sizeof got - 16; i++)
            k += (size_t)snprintf(got + k, sizeof got - k, "%s%d", i ? " " : "", ids[i]);
        int wrong = 0;
        if (strcmp(got, tab2 + 1) != 0) {
            wrong = 1;
            print_message("%s string %d '%.*s'\n  cape      %s\n  llama.cpp %s\n", cur, idx,
                          (int)s[idx].len, s[idx].text, got, tab2 + 1);
        }
        /* and the ids decode to the text */
        char *dec = tok_decode(t, ids, n, 0);
        if (strlen(dec) != s[idx].len || memcmp(dec, s[idx].text, s[idx].len) != 0) {
            wrong = 1;
            print_message("%s string %d decodes to '%s'\n", cur, idx, dec);
        }
        free(dec);
        free(ids);
        bad += wrong;
        lines++;
    }
    tok_free(t);
    /* every name, on (nearly) every string: the "whitespace" rule set lacks the
     * strings llama.cpp aborts on (see the fixture script) */
    for (int i = 0; i < n_known; i++)
        if (seen[i] < ns - 8) {
            bad++;
            print_message("reference ids for '%s' on %d strings only\n", tok_pre_name_at(i), seen[i]);
        }
    if (bad)
        fail_msg("%d of %d cases differ from llama.cpp", bad, lines);
    assert_true(lines >= n_known * (ns - 1));
    free(seen);
    gguf_close(fb);
    gguf_close(fr);
    free(sbuf);
    free(ebuf);
}

/* A name in the file that cape does not know is an error that names the file,
 * the key and the way out; --pre overrides it. */
static void unknown_name_refused(void **state)
{
    (void)state;
    cape_err e = {0};
    gguf_file *f = gguf_open(DIR "bad-pre.gguf", &e);
    assert_non_null(f);
    assert_null(tok_from_gguf(f, &e));
    assert_int_equal(e.code, CAPE_EINPUT);
    assert_non_null(strstr(e.msg, "bad-pre.gguf: tokenizer.ggml.pre 'no-such-pre' is not a "
                                  "pre-tokenizer cape knows"));
    assert_non_null(strstr(e.msg, "--pre NAME"));
    assert_non_null(strstr(e.msg, "llama-bpe"));
    assert_null(strchr(e.msg, '\n'));
    tok *t = tok_from_gguf_pre(f, "qwen2", &e);
    assert_non_null(t);
    assert_string_equal(tok_describe(t), "bpe-qwen2");
    assert_string_equal(tok_warning(t), "");
    tok_free(t);
    e = (cape_err){0};
    assert_null(tok_from_gguf_pre(f, "nonsense", &e));
    assert_non_null(strstr(e.msg, "--pre 'nonsense' is not a pre-tokenizer cape knows"));
    gguf_close(f);
}

/* A file without tokenizer.ggml.pre gets llama.cpp's "default" rules (its
 * ids equal those of the same vocabulary named "default") and a warning. */
static void missing_name_is_default(void **state)
{
    (void)state;
    cape_err e = {0};
    gguf_file *f = gguf_open(DIR "no-pre.gguf", &e), *g = gguf_open(DIR "vocab-bpe.gguf", &e);
    assert_non_null(f);
    assert_non_null(g);
    tok *t = tok_from_gguf(f, &e), *d = tok_from_gguf_pre(g, "default", &e), *l = tok_from_gguf(g, &e);
    assert_non_null(t);
    assert_non_null(d);
    assert_non_null(l);
    assert_string_equal(tok_describe(t), "bpe-default");
    assert_non_null(strstr(tok_warning(t), "no-pre.gguf has no tokenizer.ggml.pre"));
    assert_non_null(strstr(tok_warning(t), "'default'"));
    const char *text = "it's 1234567 ... Hello   world";
    int *a, *b, *c, na, nb, nc;
    assert_int_equal(tok_encode(t, text, strlen(text), 0, &a, &na, &e), 0);
    assert_int_equal(tok_encode(d, text, strlen(text), 0, &b, &nb, &e), 0);
    assert_int_equal(tok_encode(l, text, strlen(text), 0, &c, &nc, &e), 0);
    assert_int_equal(na, nb);
    assert_memory_equal(a, b, (size_t)na * sizeof *a);
    /* the file's own "gpt-2" splits differently: the fallback is not a no-op */
    assert_true(na != nc || memcmp(a, c, (size_t)na * sizeof *a) != 0);
    free(a);
    free(b);
    free(c);
    tok_free(t);
    tok_free(d);
    tok_free(l);
    gguf_close(f);
    gguf_close(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_name_matches_llama_cpp),
        cmocka_unit_test(unknown_name_refused),
        cmocka_unit_test(missing_name_is_default),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
