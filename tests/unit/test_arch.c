/* Every architecture against Hugging Face transformers: tiny random models
 * made by tests/ref/make_fixtures.py, loaded from safetensors and from GGUF
 * (written with the gguf package as llama.cpp's converter does), must give
 * transformers' float32 logits at every position, batched and token by
 * token through the KV cache. The fixtures' byte-level BPE tokenizer must
 * give the ids the `tokenizers` library gives. */
#include "testutil.h"

#include <jansson.h>
#include <string.h>
#include <unistd.h>

#include "base/file.h"
#include "model/gguf.h"
#include "model/model.h"
#include "model/safetensors.h"

typedef struct {
    int n, vocab;
    int *ids;
    float *logits;
    char *buf;
} ref;

static void load_ref(const char *arch, ref *r)
{
    char p[256];
    snprintf(p, sizeof p, "tests/ref/hf/%s.ref", arch);
    size_t len;
    cape_err e = {0};
    r->buf = file_read_all(p, &len, &e);
    if (!r->buf)
        fail_msg("%s", e.msg);
    memcpy(&r->n, r->buf, 4);
    memcpy(&r->vocab, r->buf + 4, 4);
    assert_int_equal(len, 8 + 4 * (size_t)r->n + 4 * (size_t)r->n * r->vocab);
    r->ids = (int *)(r->buf + 8);
    r->logits = (float *)(r->buf + 8 + 4 * r->n);
}

static void compare_rows(const char *what, const float *got, const float *want, int vocab, int pos)
{
    for (int i = 0; i < vocab; i++) {
        double tol = 1e-4 * (fabs(want[i]) > 1 ? fabs(want[i]) : 1);
        if (!(fabs(got[i] - want[i]) <= tol))
            fail_msg("%s: position %d logit %d = %.7f, transformers %.7f", what, pos, i, got[i],
                     want[i]);
    }
}

static void check(const char *arch, const char *path)
{
    ref r;
    load_ref(arch, &r);
    cape_err e = {0};
    model *m = model_load(path, NULL, &e);
    if (!m)
        fail_msg("%s", e.msg);
    assert_int_equal(model_cfg(m)->n_vocab, r.vocab);
    model_session *s = model_session_new(m, &(model_session_opts){.n_batch = 16}, &e);
    assert_non_null(s);
    /* batched (in chunks of 16), logits for every position */
    assert_int_equal(model_eval(s, r.ids, r.n, MODEL_LOGITS_ALL, &e), 0);
    for (int t = 0; t < r.n; t++)
        compare_rows(path, model_logits(s, t), r.logits + (size_t)t * r.vocab, r.vocab, t);
    /* one token at a time through the cache */
    model_session_rewind(s, 0);
    for (int t = 0; t < r.n; t++) {
        assert_int_equal(model_eval(s, &r.ids[t], 1, MODEL_LOGITS_LAST, &e), 0);
        compare_rows(path, model_logits(s, 0), r.logits + (size_t)t * r.vocab, r.vocab, t);
    }
    model_session_free(s);
    model_free(m);
    free(r.buf);
}

#define ARCH_TEST(a)                                                                               \
    static void a##_safetensors(void **state)                                                      \
    {                                                                                              \
        (void)state;                                                                               \
        check(#a, "tests/ref/hf/" #a);                                                             \
    }                                                                                              \
    static void a##_gguf(void **state)                                                             \
    {                                                                                              \
        (void)state;                                                                               \
        check(#a, "tests/ref/hf/" #a ".gguf");                                                     \
    }
ARCH_TEST(llama)
ARCH_TEST(qwen2)
ARCH_TEST(qwen3)
ARCH_TEST(gemma3)
ARCH_TEST(gptneox)
ARCH_TEST(gpt2)

static void tokenizer_matches_hf(void **state)
{
    (void)state;
    cape_err e = {0};
    tok *tj = tok_from_hf_json("tests/ref/hf/tokenizer.json", &e);
    if (!tj)
        fail_msg("%s", e.msg);
    model *m = model_load("tests/ref/hf/gpt2.gguf", NULL, &e);
    assert_non_null(m);
    const tok *tg = model_tok(m);
    size_t len;
    char *lines = file_read_all("tests/ref/hf/tokenizer.tests", &len, &e);
    assert_non_null(lines);
    int cases = 0;
    for (char *save = NULL, *l = strtok_r(lines, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        json_error_t je;
        json_t *o = json_loads(l, 0, &je);
        assert_non_null(o);
        json_t *text = json_object_get(o, "text"), *ids = json_object_get(o, "ids");
        const tok *toks[2] = {tj, tg};
        for (int k = 0; k < 2; k++) {
            int *got, n;
            assert_int_equal(tok_encode(toks[k], json_string_value(text), json_string_length(text),
                                        TOK_PARSE_SPECIAL, &got, &n, &e), 0);
            assert_int_equal(n, (int)json_array_size(ids));
            for (int i = 0; i < n; i++)
                assert_int_equal(got[i], json_integer_value(json_array_get(ids, (size_t)i)));
            char *dec = tok_decode(toks[k], got, n, 0);
            assert_string_equal(dec, json_string_value(text));
            free(dec);
            free(got);
        }
        cases++;
        json_decref(o);
    }
    assert_int_equal(cases, 9);
    free(lines);
    tok_free(tj);
    model_free(m);
}

/* A GGUF model with one thing wrong: one clear error naming it. */
static void bad_model_metadata(void **state)
{
    (void)state;
    cape_err e = {0};
    gguf_file *f = gguf_open("tests/ref/hf/llama.gguf", &e);
    assert_non_null(f);
    static float wrong[32 * 7];
    struct {
        const char *key;   /* metadata key to drop or change */
        int what;          /* 0 drop, 1 set string "mamba", 2 set 0, 3 bad tensor shape, 4 I32 tensor */
        const char *want;
    } cases[] = {
        {"llama.embedding_length", 0, "missing metadata key 'llama.embedding_length'"},
        {"general.architecture", 1, "architecture 'mamba' is not supported"},
        {"llama.attention.head_count_kv", 2, "'llama.attention.head_count_kv' = 0 is out of range"},
        {"blk.1.attn_q.weight", 3, "tensor 'blk.1.attn_q.weight' has shape [7, 32], expected [32, 32]"},
        {"blk.0.ffn_up.weight", 4, "tensor 'blk.0.ffn_up.weight' has type I32"},
        {"tokenizer.ggml.model", 0, "missing metadata key 'tokenizer.ggml.model'"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        gguf_writer *w = gguf_writer_new();
        for (int64_t i = 0; i < gguf_n_kv(f); i++) {
            const gguf_kv *kv = gguf_kv_at(f, i);
            if (strcmp(kv->key, cases[k].key) != 0)
                gguf_writer_copy_kv(w, kv);
            else if (cases[k].what == 1)
                gguf_writer_set_str(w, kv->key, "mamba");
            else if (cases[k].what == 2)
                gguf_writer_set_u32(w, kv->key, 0);
        }
        for (int64_t i = 0; i < gguf_n_tensors(f); i++) {
            const gguf_tensor *t = gguf_tensor_at(f, i);
            if (strcmp(t->name, cases[k].key) == 0 && cases[k].what == 3) {
                int64_t ne[2] = {7, 32};
                gguf_writer_add_tensor(w, t->name, TENSOR_F32, 2, ne, wrong);
            } else if (strcmp(t->name, cases[k].key) == 0 && cases[k].what == 4) {
                gguf_writer_add_tensor(w, t->name, TENSOR_I32, t->n_dims, t->ne, t->data);
            } else {
                gguf_writer_add_tensor(w, t->name, t->type, t->n_dims, t->ne, t->data);
            }
        }
        char path[] = "/tmp/cape-badmodel-XXXXXX";
        close(mkstemp(path));
        err_clear(&e);
        assert_int_equal(gguf_writer_write(w, path, &e), 0);
        gguf_writer_free(w);
        model *m = model_load(path, NULL, &e);
        if (m)
            fail_msg("case %zu loaded", k);
        assert_int_equal(e.code, CAPE_EINPUT);
        if (!strstr(e.msg, cases[k].want))
            fail_msg("case %zu: '%s' lacks '%s'", k, e.msg, cases[k].want);
        unlink(path);
    }
    gguf_close(f);
}

/* A sharded checkpoint: the llama fixture's tensors split over two
 * safetensors files with a model.safetensors.index.json, as
 * transformers' save_pretrained(max_shard_size=...) lays them out. */
static void write_shard(const char *path, const st_set *st, int first, int last)
{
    json_t *h = json_object();
    uint64_t off = 0;
    for (int i = first; i < last; i++) {
        const st_tensor *t = st_tensor_at(st, i);
        json_t *o = json_object(), *shape = json_array();
        for (int d = 0; d < t->n_dims; d++)
            json_array_append_new(shape, json_integer(t->shape[d]));
        json_object_set_new(o, "dtype", json_string(tensor_type_name(t->type)));
        json_object_set_new(o, "shape", shape);
        json_object_set_new(o, "data_offsets", json_pack("[II]", (json_int_t)off, (json_int_t)(off + t->nbytes)));
        json_object_set_new(h, t->name, o);
        off += t->nbytes;
    }
    char *hs = json_dumps(h, JSON_COMPACT);
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    uint64_t hl = strlen(hs);
    fwrite(&hl, 8, 1, fp);
    fwrite(hs, 1, hl, fp);
    for (int i = first; i < last; i++)
        fwrite(st_tensor_at(st, i)->data, 1, st_tensor_at(st, i)->nbytes, fp);
    fclose(fp);
    free(hs);
    json_decref(h);
}

static void sharded_safetensors(void **state)
{
    (void)state;
    cape_err e = {0};
    st_set *st = st_open("tests/ref/hf/llama/model.safetensors", &e);
    assert_non_null(st);
    char dir[] = "/tmp/cape-shards-XXXXXX", p[512];
    assert_non_null(mkdtemp(dir));
    int n = st_n_tensors(st), half = n / 2;
    snprintf(p, sizeof p, "%s/model-00001-of-00002.safetensors", dir);
    write_shard(p, st, 0, half);
    snprintf(p, sizeof p, "%s/model-00002-of-00002.safetensors", dir);
    write_shard(p, st, half, n);
    json_t *wm = json_object();
    for (int i = 0; i < n; i++)
        json_object_set_new(wm, st_tensor_at(st, i)->name,
                            json_string(i < half ? "model-00001-of-00002.safetensors"
                                                 : "model-00002-of-00002.safetensors"));
    json_t *idx = json_pack("{s:{s:i}, s:o}", "metadata", "total_size", 0, "weight_map", wm);
    snprintf(p, sizeof p, "%s/model.safetensors.index.json", dir);
    assert_int_equal(json_dump_file(idx, p, 0), 0);
    json_decref(idx);
    const char *copy[2] = {"config.json", "tokenizer.json"};
    for (int k = 0; k < 2; k++) {
        size_t len;
        char src[256];
        snprintf(src, sizeof src, "tests/ref/hf/llama/%s", copy[k]);
        char *buf = file_read_all(src, &len, &e);
        snprintf(p, sizeof p, "%s/%s", dir, copy[k]);
        assert_int_equal(file_write_atomic(p, buf, len, &e), 0);
        free(buf);
    }
    st_close(st);
    check("llama", dir);
    /* a shard missing from disk is one clear error */
    snprintf(p, sizeof p, "%s/model-00002-of-00002.safetensors", dir);
    unlink(p);
    model *m = model_load(dir, NULL, &e);
    assert_null(m);
    assert_non_null(strstr(e.msg, "model-00002-of-00002.safetensors: cannot open"));
    const char *names[] = {"model-00001-of-00002.safetensors", "model.safetensors.index.json",
                           "config.json", "tokenizer.json"};
    for (int k = 0; k < 4; k++) {
        snprintf(p, sizeof p, "%s/%s", dir, names[k]);
        unlink(p);
    }
    rmdir(dir);
}

/* Llama 3 and Qwen2 split rules: tokenizer.json files with those Split
 * patterns (used as written) and vocabulary-only GGUF files naming the
 * pre-tokenizer (cape's built-in rules) against the tokenizers library. */
static void split_rules_match_hf(void **state)
{
    (void)state;
    const char *names[2] = {"llama3", "qwen2"};
    for (int k = 0; k < 2; k++) {
        char p[256];
        cape_err e = {0};
        snprintf(p, sizeof p, "tests/ref/hf/tokenizer-%s.json", names[k]);
        tok *tj = tok_from_hf_json(p, &e);
        if (!tj)
            fail_msg("%s", e.msg);
        snprintf(p, sizeof p, "tests/ref/hf/vocab-%s.gguf", names[k]);
        gguf_file *g = gguf_open(p, &e);
        assert_non_null(g);
        tok *tg = tok_from_gguf(g, &e);
        if (!tg)
            fail_msg("%s", e.msg);
        assert_string_equal(tok_describe(tg), k == 0 ? "bpe-llama3" : "bpe-qwen2");
        snprintf(p, sizeof p, "tests/ref/hf/tokenizer-%s.tests", names[k]);
        size_t len;
        char *lines = file_read_all(p, &len, &e);
        assert_non_null(lines);
        int cases = 0;
        for (char *save = NULL, *l = strtok_r(lines, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
            json_error_t je;
            json_t *o = json_loads(l, 0, &je);
            assert_non_null(o);
            json_t *text = json_object_get(o, "text"), *ids = json_object_get(o, "ids");
            const tok *toks[2] = {tj, tg};
            for (int v = 0; v < 2; v++) {
                int *got, n;
                assert_int_equal(tok_encode(toks[v], json_string_value(text), json_string_length(text),
                                            TOK_PARSE_SPECIAL, &got, &n, &e), 0);
                int same = n == (int)json_array_size(ids);
                for (int i = 0; same && i < n; i++)
                    same = got[i] == json_integer_value(json_array_get(ids, (size_t)i));
                if (!same)
                    fail_msg("%s (%s) differs from tokenizers on %s", names[k],
                             v ? "gguf, built-in rule" : "tokenizer.json", l);
                free(got);
            }
            cases++;
            json_decref(o);
        }
        assert_int_equal(cases, 13);
        free(lines);
        tok_free(tj);
        tok_free(tg);
        gguf_close(g);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(llama_safetensors),   cmocka_unit_test(llama_gguf),
        cmocka_unit_test(qwen2_safetensors),   cmocka_unit_test(qwen2_gguf),
        cmocka_unit_test(qwen3_safetensors),   cmocka_unit_test(qwen3_gguf),
        cmocka_unit_test(gemma3_safetensors),  cmocka_unit_test(gemma3_gguf),
        cmocka_unit_test(gptneox_safetensors), cmocka_unit_test(gptneox_gguf),
        cmocka_unit_test(gpt2_safetensors),    cmocka_unit_test(gpt2_gguf),
        cmocka_unit_test(tokenizer_matches_hf),
        cmocka_unit_test(split_rules_match_hf),
        cmocka_unit_test(sharded_safetensors),
        cmocka_unit_test(bad_model_metadata),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
