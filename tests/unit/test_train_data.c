/* BPE training and encoding (hand-checked merges), the GGUF checkpoint
 * reader/writer, the tokenizer metadata, the corpus and TOFU loaders and the
 * deterministic batch order (numpy's RandomState.shuffle). */
#include "testutil.h"

#include <string.h>

#include "base/file.h"
#include "model/gguf.h"
#include "train/bpe.h"
#include "train/train_ckpt.h"
#include "train/train_data.h"
#include "train/train_tok.h"

static void test_bpe_hand(void **state)
{
    (void)state;
    /* "aaab" twice: pairs aa x4, ab x2 -> merge (a,a)=256; then (a,b) and
     * (256,a) tie at 2 and the smaller pair (a,b)=257 wins; then (256,257). */
    const char *texts[] = {"aaab", "aaab"};
    bpe_vocab v;
    cape_err e = {0};
    assert_int_equal(bpe_train(&v, texts, 2, 260, &e), 0);
    assert_int_equal(v.n_merges, 3);
    assert_int_equal(v.merges[0][0], 'a');
    assert_int_equal(v.merges[0][1], 'a');
    assert_int_equal(v.merges[1][0], 'a');
    assert_int_equal(v.merges[1][1], 'b');
    assert_int_equal(v.merges[2][0], 256);
    assert_int_equal(v.merges[2][1], 257);
    assert_int_equal(v.eot, 259);
    int *ids = NULL;
    size_t n = 0, cap = 0;
    assert_int_equal(bpe_encode(&v, "aaab", &ids, &n, &cap), 1);
    assert_int_equal(ids[0], 258);
    /* pieces never cross a space boundary: " aab" keeps its space apart */
    n = 0;
    assert_int_equal(bpe_encode(&v, "ab aab", &ids, &n, &cap), 4);
    int want[] = {257, ' ', 256, 'b'};
    assert_memory_equal(ids, want, sizeof want);
    free(ids);
    char *s = bpe_token_string(&v, ' ');
    assert_string_equal(s, "\xc4\xa0"); /* GPT-2 maps the space to U+0120 */
    uint8_t raw[4];
    assert_int_equal(bpe_string_bytes(s, raw, 4), 1);
    assert_int_equal(raw[0], ' ');
    free(s);
    bpe_free(&v);
}

static void test_bpe_roundtrip(void **state)
{
    (void)state;
    const char *texts[] = {"The author's novels, written in 1985, won 3 awards!\n\nShe's   here.",
                           "Über café naïve — ünïcödé text   with  spaces\tand tabs.",
                           "the the the then there their"};
    bpe_vocab v;
    cape_err e = {0};
    assert_int_equal(bpe_train(&v, texts, 3, 300, &e), 0);
    for (int i = 0; i < 3; i++) {
        int *ids = NULL;
        size_t n = 0, cap = 0;
        assert_true(bpe_encode(&v, texts[i], &ids, &n, &cap) > 0);
        assert_true(n < strlen(texts[i])); /* merges did compress */
        char out[512];
        bpe_decode(&v, ids, n, out, sizeof out);
        assert_string_equal(out, texts[i]);
        free(ids);
    }
    /* GGUF tokenizer metadata round trip gives the same encodings */
    ckpt_file f = {0};
    assert_int_equal(train_tok_to_ckpt(&v, &f), 0);
    uint8_t *buf;
    size_t len;
    assert_int_equal(gguf_writer_to_buffer(f.w, &buf, &len, &e), 0);
    ckpt_free(&f);
    assert_int_equal(ckpt_parse(&f, buf, len, "mem", &e), 0);
    bpe_vocab w;
    assert_int_equal(train_tok_from_ckpt(&f, &w, "mem", &e), 0);
    assert_int_equal(w.n_vocab, v.n_vocab);
    assert_memory_equal(w.merges, v.merges, sizeof *v.merges * v.n_merges);
    ckpt_free(&f);
    free(buf);
    bpe_free(&w);
    bpe_free(&v);
}

static void test_ckpt_errors(void **state)
{
    (void)state;
    ckpt_file f = {0};
    cape_err e = {0};
    static const float w[6] = {1, 2, 3, 4, 5, 6};
    assert_int_equal(ckpt_set_str(&f, "general.architecture", "llama"), 0);
    assert_int_equal(ckpt_set_u32(&f, "n", 7), 0);
    assert_int_equal(ckpt_set_u32(&f, "n", 8), 0); /* replaces */
    assert_int_equal(ckpt_add_tensor(&f, "w", 2, 3, w), 0);
    const char *path = "build/test_ckpt.gguf";
    assert_int_equal(ckpt_write(&f, path, &e), 0);
    ckpt_free(&f);
    size_t len;
    char *buf = file_read_all(path, &len, &e);
    assert_non_null(buf);
    assert_int_equal(ckpt_parse(&f, (uint8_t *)buf, len, "x", &e), 0);
    uint64_t n;
    assert_int_equal(ckpt_get_u64(&f, "n", &n), 0);
    assert_int_equal((int)n, 8);
    assert_int_equal(gguf_n_kv(f.r), 2);
    const ckpt_tensor *t = ckpt_tensor_get(&f, "w");
    assert_int_equal((int)t->ne[0], 3); /* GGUF: contiguous dimension first */
    assert_int_equal((int)t->ne[1], 2);
    assert_memory_equal(t->data, w, sizeof w);
    ckpt_free(&f);
    /* the project's general GGUF reader sees the same file */
    gguf_file *g = gguf_open(path, &e);
    assert_non_null(g);
    int64_t gi;
    assert_int_equal(gguf_get_int(g, "n", &gi), 1);
    assert_int_equal((int)gi, 8);
    const gguf_tensor *gt = gguf_find_tensor(g, "w");
    assert_non_null(gt);
    assert_int_equal((int)gt->ne[0], 3);
    assert_int_equal((int)gt->ne[1], 2);
    assert_int_equal(gt->type, TENSOR_F32);
    assert_memory_equal(gt->data, w, sizeof w);
    gguf_close(g);
    /* every truncation short of the data end (the last 8 bytes are padding)
     * is an error, never a crash */
    for (size_t cut = 0; cut < len - 8; cut += 3) {
        err_clear(&e);
        assert_int_equal(ckpt_parse(&f, (uint8_t *)buf, cut, "cut", &e), CAPE_EINPUT);
    }
    /* a quantised tensor type is refused by name */
    char *bad = malloc(len);
    memcpy(bad, buf, len);
    /* the tensor record: u64 name length 1, "w", u32 ndim 2, u64 ne[2], u32 type */
    size_t at = 0;
    for (size_t i = 24; i + 13 < len && !at; i++)
        if (memcmp(bad + i, "\x01\x00\x00\x00\x00\x00\x00\x00w\x02\x00\x00\x00", 13) == 0)
            at = i + 13 + 16;
    assert_true(at > 0);
    uint32_t q8 = 1; /* F16 */
    memcpy(bad + at, &q8, 4);
    err_clear(&e);
    assert_int_equal(ckpt_parse(&f, (uint8_t *)bad, len, "q.gguf", &e), CAPE_EINPUT);
    assert_non_null(strstr(e.msg, "only F32"));
    memcpy(bad, "GGUX", 4);
    err_clear(&e);
    assert_int_equal(ckpt_parse(&f, (uint8_t *)bad, len, "q.gguf", &e), CAPE_EINPUT);
    assert_non_null(strstr(e.msg, "not a GGUF"));
    free(bad);
    free(buf);
    remove(path);
}

static void test_batch_order(void **state)
{
    (void)state;
    train_rows r = {.T = 1, .n_rows = 10};
    int tokens[20], nv[10];
    uint32_t src[10], doc[10];
    for (int i = 0; i < 10; i++)
        tokens[2 * i] = i, tokens[2 * i + 1] = i + 100, nv[i] = 1, src[i] = (uint32_t)i, doc[i] = 0;
    r.tokens = tokens, r.n_valid = nv, r.source = src, r.doc = doc;
    train_batcher b;
    cape_err e = {0};
    assert_int_equal(train_batcher_init(&b, &r, 6, &e), 0);
    int tk[10], tg[10];
    uint32_t s[10];
    train_batch_at(&b, 0, 10, tk, tg, s);
    /* numpy: a = arange(10); RandomState(6).shuffle(a) */
    uint32_t numpy[10] = {8, 1, 7, 0, 6, 5, 2, 4, 3, 9};
    assert_memory_equal(s, numpy, sizeof numpy);
    assert_int_equal(tk[0], 8);
    assert_int_equal(tg[0], 108);
    /* the same position always gives the same rows, across epochs too */
    uint32_t s2[3];
    train_batch_at(&b, 13, 3, tk, tg, s2); /* epoch 1 order, then cached */
    train_batch_at(&b, 2, 2, tk, tg, s);
    assert_int_equal(s[0], 7);
    uint32_t s3[3];
    train_batch_at(&b, 13, 3, tk, tg, s3);
    assert_memory_equal(s2, s3, sizeof s2);
    train_batcher_free(&b);
}

static void test_tofu_loader(void **state)
{
    (void)state;
    train_corpus c = {0};
    cape_err e = {0};
    if (train_corpus_load_tofu(&c, test_shared_path("data/tofu"), &e)) {
        skip();
        return;
    }
    assert_int_equal((int)c.n, 4000);
    assert_string_equal(c.docs[0].source, "tofu-001");
    assert_string_equal(c.docs[3999].source, "tofu-200");
    assert_string_equal(c.docs[20].source, "tofu-002");
    assert_true(strncmp(c.docs[0].text, "Question: Who is this celebrated LGBTQ+ author", 46) == 0);
    assert_non_null(strstr(c.docs[0].text, "\nAnswer: The author in question is Jaime Vasquez"));
    train_corpus_free(&c);
    assert_int_equal(train_corpus_load_tofu(&c, "no/such/dir", &e), CAPE_EINPUT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bpe_hand),     cmocka_unit_test(test_bpe_roundtrip),
        cmocka_unit_test(test_ckpt_errors),  cmocka_unit_test(test_batch_order),
        cmocka_unit_test(test_tofu_loader),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
