/* BPE training and encoding (hand-checked merges), the GGUF checkpoint
 * reader/writer, the tokenizer metadata, the corpus and TOFU loaders and the
 * deterministic batch order (numpy's RandomState.shuffle). */
#include "testutil.h"

#include <string.h>
#include <unistd.h>

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
    int tokens[10], targets[10];
    uint16_t pos[10];
    uint32_t src[10], doc[10];
    for (int i = 0; i < 10; i++)
        tokens[i] = i, targets[i] = i + 100, pos[i] = 0, src[i] = (uint32_t)i, doc[i] = 0;
    r.tokens = tokens, r.targets = targets, r.pos = pos, r.source = src, r.doc = doc;
    train_batcher b;
    cape_err e = {0};
    assert_int_equal(train_batcher_init(&b, &r, 6, &e), 0);
    int tk[10], tg[10], ps[10];
    uint32_t s[10];
    train_batch_at(&b, 0, 10, tk, tg, ps, s);
    /* numpy: a = arange(10); RandomState(6).shuffle(a) */
    uint32_t numpy[10] = {8, 1, 7, 0, 6, 5, 2, 4, 3, 9};
    assert_memory_equal(s, numpy, sizeof numpy);
    assert_int_equal(tk[0], 8);
    assert_int_equal(tg[0], 108);
    /* the same position always gives the same rows, across epochs too */
    uint32_t s2[3];
    train_batch_at(&b, 13, 3, tk, tg, ps, s2); /* epoch 1 order, then cached */
    train_batch_at(&b, 2, 2, tk, tg, ps, s);
    assert_int_equal(s[0], 7);
    uint32_t s3[3];
    train_batch_at(&b, 13, 3, tk, tg, ps, s3);
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

/* A byte-only BPE (no merges): a text of n bytes is n tokens, so a document
 * is a piece of n + 1 input positions. */
static void byte_tokenizer(train_tokenizer *tk)
{
    const char *texts[] = {"x"};
    bpe_vocab v;
    cape_err e = {0};
    assert_int_equal(bpe_train(&v, texts, 1, 257, &e), 0);
    train_tokenizer_from_bpe(tk, &v);
    assert_int_equal(tk->n_vocab, 257);
    assert_int_equal(tk->start, 256);
}

/* Row r as a string of its documents: "a:abcd|a:ef" (source letter, then
 * the bytes of each document's inputs after its start token). */
static void row_string(const train_rows *r, size_t row, char *out)
{
    const int *tk = r->tokens + row * r->T, *tg = r->targets + row * r->T;
    const uint16_t *ps = r->pos + row * r->T;
    char *o = out;
    for (int t = 0; t < r->T && tg[t] >= 0; t++) {
        if (ps[t] == 0)
            o += sprintf(o, "%s%c:", t ? "|" : "", 'a' + (int)r->source[row] - 1);
        else
            *o++ = (char)tk[t];
        /* targets are the inputs shifted by one inside a document */
        if (t + 1 < r->T && tg[t + 1] >= 0 && ps[t + 1] != 0)
            assert_int_equal(tg[t], tk[t + 1]);
        else if (t + 1 < r->T)
            assert_int_equal(tg[t], 256); /* the document's end token */
    }
    *o = 0;
}

static void test_packing(void **state)
{
    (void)state;
    train_tokenizer tk;
    byte_tokenizer(&tk);
    /* source a: pieces of 5, 3, 4, 2, 2 positions; source b: 6, 1; c: 11 =
     * 8 + 3 (cut in two pieces); T = 8 */
    train_corpus c = {0};
    const char *docs[][2] = {{"a", "abcd"}, {"b", "bbbbb"}, {"a", "ef"}, {"a", "ghi"},
                             {"c", "0123456789"}, {"a", "j"}, {"b", ""}, {"a", "k"}};
    uint32_t src[8];
    for (int i = 0; i < 8; i++) {
        assert_int_equal(train_corpus_add(&c, docs[i][0], docs[i][1]), 0);
        src[i] = (uint32_t)(docs[i][0][0] - 'a' + 1);
    }
    train_dataset ds, flat;
    cape_err e = {0};
    assert_int_equal(train_dataset_build(&ds, &c, src, &tk, 8, 0.0, 1, 1, &e), 0);
    assert_int_equal(train_dataset_build(&flat, &c, src, &tk, 8, 0.0, 1, 0, &e), 0);
    /* first-fit decreasing by hand, longest first: a: abcd (5) opens row 0,
     * ghi (4) does not fit beside it and opens row 1, ef (3) fills row 0, j
     * and k (2 each) join row 1; b: [bbbbb|""]; c: its first 8 positions,
     * then the rest "789" (pos 0 at '7'). Rows in the order of their first
     * document. */
    const char *want[] = {"a:abcd|a:ef", "b:bbbbb|b:", "a:ghi|a:j|a:k", "c:0123456", "c:89"};
    assert_int_equal((int)ds.train.n_rows, 5);
    char buf[256];
    for (int r = 0; r < 5; r++) {
        row_string(&ds.train, (size_t)r, buf);
        assert_string_equal(buf, want[r]);
    }
    assert_int_equal(ds.train.tokens[4 * 8], '7');
    assert_int_equal(ds.train.targets[3 * 8 + 7], '7');
    assert_int_equal(ds.train.targets[4 * 8 + 2], 256);
    assert_int_equal((int)ds.train.n_targets, 5 + 3 + 4 + 2 + 2 + 6 + 1 + 11);
    assert_int_equal((int)flat.train.n_rows, 9);
    assert_int_equal((int)flat.train.n_targets, (int)ds.train.n_targets);
    for (int r = 0; r < 9; r++) { /* unpacked: one piece per row, in corpus order */
        row_string(&flat.train, (size_t)r, buf);
        assert_true(strchr(buf, '|') == NULL);
    }
    assert_true(ds.hash != flat.hash);
    /* deterministic */
    train_dataset again;
    assert_int_equal(train_dataset_build(&again, &c, src, &tk, 8, 0.0, 1, 1, &e), 0);
    assert_true(again.hash == ds.hash);
    assert_memory_equal(again.train.tokens, ds.train.tokens, sizeof(int) * 5 * 8);
    train_dataset_free(&again);
    train_dataset_free(&ds);
    train_dataset_free(&flat);
    train_corpus_free(&c);
    train_tokenizer_free(&tk);
}

/* TOFU with the byte tokenizer: packing keeps every target, restarts
 * positions at each document and fills most positions. */
static void test_packing_tofu(void **state)
{
    (void)state;
    train_corpus c = {0};
    cape_err e = {0};
    if (train_corpus_load_tofu(&c, test_shared_path("data/tofu"), &e)) {
        skip();
        return;
    }
    train_tokenizer tk;
    byte_tokenizer(&tk);
    uint32_t *src = malloc(sizeof *src * c.n);
    for (size_t d = 0; d < c.n; d++)
        src[d] = (uint32_t)(d / 20 + 1);
    train_dataset ds, flat;
    assert_int_equal(train_dataset_build(&ds, &c, src, &tk, 512, 0.1, 3, 1, &e), 0);
    assert_int_equal(train_dataset_build(&flat, &c, src, &tk, 512, 0.1, 3, 0, &e), 0);
    assert_int_equal((int)ds.train.n_targets, (int)flat.train.n_targets);
    assert_int_equal((int)ds.val.n_targets, (int)flat.val.n_targets);
    double fill = (double)ds.train.n_targets / ((double)ds.train.n_rows * 512);
    double flat_fill = (double)flat.train.n_targets / ((double)flat.train.n_rows * 512);
    print_message("TOFU, T 512, bytes: packed rows %zu fill %.3f, unpacked rows %zu fill %.3f\n",
                  ds.train.n_rows, fill, flat.train.n_rows, flat_fill);
    assert_true(fill > 0.8 && flat_fill < 0.55);
    /* first fit: a piece opens a new row only when it fits in no earlier row
     * of its source, so no two rows of a source are both at most half full */
    int half_full[200] = {0};
    for (size_t r = 0; r < ds.train.n_rows; r++) {
        int used = 0;
        for (int t = 0; t < 512; t++)
            used += ds.train.targets[r * 512 + (size_t)t] >= 0;
        if (used <= 256)
            assert_true(++half_full[ds.train.source[r] - 1] <= 1);
    }
    for (size_t r = 0; r < ds.train.n_rows; r++)
        for (int t = 0; t < 512; t++) {
            size_t i = r * 512 + (size_t)t;
            /* a document never sees the previous one: positions restart */
            if (t > 0 && ds.train.pos[i] != 0)
                assert_int_equal(ds.train.pos[i], ds.train.pos[i - 1] + 1);
        }
    /* each row's documents are of the row's source */
    for (size_t r = 0; r < ds.train.n_rows; r++)
        assert_int_equal((int)ds.train.source[r], (int)(ds.train.doc[r] / 20 + 1));
    train_dataset_free(&ds);
    train_dataset_free(&flat);
    free(src);
    train_tokenizer_free(&tk);
    train_corpus_free(&c);
}

/* --tokenizer-gguf: documents tokenised by a GGUF's vocabulary give rows of
 * BOS, the ids Hugging Face's reference tokenizer gives for the text
 * (llama.cpp's test vectors in shared/data/tokenizers), then EOS. */
static void check_gguf_rows(const char *name, int bos, int eos)
{
    char rel[256];
    cape_err e = {0};
    snprintf(rel, sizeof rel, "data/tokenizers/ggml-vocab-%s.gguf", name);
    train_tokenizer tk;
    if (train_tokenizer_from_gguf(&tk, test_shared_path(rel), &e)) {
        skip();
        return;
    }
    assert_null(tk.bpe.merges);
    assert_int_equal(tk.start, bos);
    assert_int_equal(tk.end, eos);
    size_t ilen, olen;
    snprintf(rel, sizeof rel, "data/tokenizers/ggml-vocab-%s.gguf.inp", name);
    char *inp = file_read_all(test_shared_path(rel), &ilen, &e);
    snprintf(rel, sizeof rel, "data/tokenizers/ggml-vocab-%s.gguf.out", name);
    char *out = file_read_all(test_shared_path(rel), &olen, &e);
    assert_non_null(inp);
    assert_non_null(out);
    static const char *SEP = "\n__ggml_vocab_test__\n";
    train_corpus c = {0};
    char *want[64];
    int n = 0;
    for (char *ip = inp, *op = out, *end; (end = strstr(ip, SEP)) && n < 64;
         ip = end + strlen(SEP), n++) {
        *end = 0;
        char *oend = strchr(op, '\n');
        assert_non_null(oend);
        *oend = 0;
        want[n] = op;
        op = oend + 1;
        assert_int_equal(train_corpus_add(&c, "v", ip), 0);
    }
    assert_int_equal(n, 46);
    uint32_t src[64];
    for (int i = 0; i < n; i++)
        src[i] = 1;
    train_dataset ds;
    assert_int_equal(train_dataset_build(&ds, &c, src, &tk, 256, 0.0, 1, 0, &e), 0);
    assert_int_equal((int)ds.train.n_rows, n); /* unpacked: one row per text, in order */
    for (int r = 0; r < n; r++) {
        const int *tok = ds.train.tokens + (size_t)r * 256, *tgt = ds.train.targets + (size_t)r * 256;
        assert_int_equal(tok[0], bos);
        char got[4096] = "";
        size_t k = 0;
        int t = 0;
        for (; tgt[t] >= 0 && tgt[t] != eos; t++)
            k += (size_t)snprintf(got + k, sizeof got - k, " %d", tgt[t]);
        assert_int_equal(tgt[t], eos);
        assert_int_equal(tgt[t + 1], -1);
        if (strcmp(got, want[r]) != 0)
            fail_msg("%s text %d: rows hold%s, reference%s", name, r, got, want[r]);
    }
    train_dataset_free(&ds);
    train_corpus_free(&c);
    free(inp);
    free(out);
    train_tokenizer_free(&tk);
}

static void test_gguf_tokenizer_rows(void **state)
{
    (void)state;
    check_gguf_rows("llama-spm", 1, 2);
    check_gguf_rows("gpt-2", 50256, 50256);
}

/* A GGUF without a vocabulary is an input error naming the file. */
static void test_gguf_tokenizer_errors(void **state)
{
    (void)state;
    char path[] = "/tmp/cape-novocab-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    gguf_writer *w = gguf_writer_new();
    gguf_writer_set_str(w, "general.architecture", "llama");
    cape_err e = {0};
    assert_int_equal(gguf_writer_write(w, path, &e), 0);
    gguf_writer_free(w);
    train_tokenizer tk;
    assert_int_equal(train_tokenizer_from_gguf(&tk, path, &e), CAPE_EINPUT);
    assert_non_null(strstr(e.msg, "has no vocabulary"));
    assert_non_null(strstr(e.msg, path));
    err_clear(&e);
    assert_int_equal(train_tokenizer_from_model(&tk, path, &e), CAPE_EINPUT);
    err_clear(&e);
    assert_int_equal(train_tokenizer_from_gguf(&tk, "no/such/file.gguf", &e), CAPE_EINPUT);
    remove(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bpe_hand),     cmocka_unit_test(test_bpe_roundtrip),
        cmocka_unit_test(test_ckpt_errors),  cmocka_unit_test(test_batch_order),
        cmocka_unit_test(test_tofu_loader),  cmocka_unit_test(test_packing),
        cmocka_unit_test(test_packing_tofu), cmocka_unit_test(test_gguf_tokenizer_rows),
        cmocka_unit_test(test_gguf_tokenizer_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
