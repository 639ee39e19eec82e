/* Tokenizers against the expected ids that Hugging Face's reference
 * tokenizers give for llama.cpp's tokenizer test strings
 * (shared/data/tokenizers: SentencePiece Llama and Phi-3 vocabularies,
 * byte-level GPT-2, GPT-NeoX (mpt) and Falcon ones), and round trips. */
#include "testutil.h"

#include <string.h>

#include "base/file.h"
#include "model/gguf.h"
#include "model/tok.h"

static const char *SEP = "\n__ggml_vocab_test__\n";

static void check_vocab(const char *name)
{
    char rel[256];
    cape_err e = {0};
    snprintf(rel, sizeof rel, "data/tokenizers/ggml-vocab-%s.gguf", name);
    gguf_file *f = gguf_open(test_shared_path(rel), &e);
    if (!f)
        fail_msg("%s", e.msg);
    tok *t = tok_from_gguf(f, &e);
    if (!t)
        fail_msg("%s", e.msg);
    size_t ilen, olen;
    snprintf(rel, sizeof rel, "data/tokenizers/ggml-vocab-%s.gguf.inp", name);
    char *inp = file_read_all(test_shared_path(rel), &ilen, &e);
    snprintf(rel, sizeof rel, "data/tokenizers/ggml-vocab-%s.gguf.out", name);
    char *out = file_read_all(test_shared_path(rel), &olen, &e);
    assert_non_null(inp);
    assert_non_null(out);
    char *ip = inp, *op = out;
    int cases = 0, bad = 0;
    for (;;) {
        char *end = strstr(ip, SEP);
        if (!end)
            break;
        char *oend = strchr(op, '\n');
        assert_non_null(oend);
        *oend = 0;
        int *ids, n;
        assert_int_equal(tok_encode(t, ip, (size_t)(end - ip), TOK_PARSE_SPECIAL, &ids, &n, &e), 0);
        char got[8192] = "";
        size_t k = 0;
        for (int i = 0; i < n && k < sizeof got - 16; i++)
            k += (size_t)snprintf(got + k, sizeof got - k, " %d", ids[i]);
        if (strcmp(got, op) != 0) {
            bad++;
            print_message("%s case %d: '%.*s'\n  got     %s\n  expected%s\n", name, cases,
                          (int)(end - ip), ip, got, op);
        }
        /* decoding gives the text back (these vocabularies cover every input) */
        char *dec = tok_decode(t, ids, n, 0);
        if (strlen(dec) != (size_t)(end - ip) || memcmp(dec, ip, (size_t)(end - ip)) != 0) {
            bad++;
            print_message("%s case %d: decodes to '%s'\n", name, cases, dec);
        }
        free(dec);
        free(ids);
        cases++;
        ip = end + strlen(SEP);
        op = oend + 1;
    }
    assert_int_equal(cases, 46);
    if (bad)
        fail_msg("%s: %d of %d cases differ", name, bad, cases);
    free(inp);
    free(out);
    tok_free(t);
    gguf_close(f);
}

static void llama_spm(void **state) { (void)state; check_vocab("llama-spm"); }
static void phi3_spm(void **state) { (void)state; check_vocab("phi-3"); }
static void gpt2_bpe(void **state) { (void)state; check_vocab("gpt-2"); }
static void neox_bpe(void **state) { (void)state; check_vocab("mpt"); }
static void falcon_bpe(void **state) { (void)state; check_vocab("falcon"); }

/* A hand-checked SentencePiece-style tokenizer.json (merges by rank, byte
 * fallback, Prepend normaliser, BOS from the post-processor). */
static void hf_json_spm_ranked(void **state)
{
    (void)state;
    cape_err e = {0};
    tok *t = tok_from_hf_json("tests/fuzz/seeds/tokjson/spm.json", &e);
    if (!t)
        fail_msg("%s", e.msg);
    int *ids, n;
    assert_int_equal(tok_encode(t, "ab a", 4, TOK_ADD_BOS, &ids, &n, &e), 0);
    int want[] = {1, 7, 6, 7}; /* <s> \u2581a b \u2581a */
    assert_int_equal(n, 4);
    assert_memory_equal(ids, want, sizeof want);
    free(ids);
    assert_int_equal(tok_encode(t, "A", 1, 0, &ids, &n, &e), 0);
    int want2[] = {4, 3}; /* \u2581 <0x41> */
    assert_int_equal(n, 2);
    assert_memory_equal(ids, want2, sizeof want2);
    char *d = tok_decode(t, ids, n, 0);
    assert_string_equal(d, "A");
    free(d);
    free(ids);
    tok_free(t);
    /* a tokenizer.json that does not parse names the file, line and column */
    assert_null(tok_from_hf_json_buffer("{\"model\": [", 12, "bad.json", &e));
    assert_non_null(strstr(e.msg, "bad.json:1:"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(llama_spm), cmocka_unit_test(phi3_spm), cmocka_unit_test(gpt2_bpe),
        cmocka_unit_test(neox_bpe), cmocka_unit_test(falcon_bpe), cmocka_unit_test(hf_json_spm_ranked),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
