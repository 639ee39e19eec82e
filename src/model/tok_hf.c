/* tok_hf: vocabularies from Hugging Face tokenizer.json files (model type
 * BPE): byte-level ones (GPT-2, GPT-NeoX, Llama 3, Qwen) become TOK_BPE with
 * the pre-tokenizer rules recognised from the file; the others (byte_fallback,
 * spaces as U+2581: Llama 2, Gemma) become rank-merged SPM. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/tok_impl.h"
#include "base/json.h"

/* Calls fn on the object and, for Sequence types, on each member. */
static int any_part(json_t *o, int (*fn)(json_t *, void *), void *ctx)
{
    if (!json_is_object(o))
        return 0;
    if (fn(o, ctx))
        return 1;
    json_t *list = json_object_get(o, "pretokenizers");
    if (!list)
        list = json_object_get(o, "normalizers");
    size_t i;
    json_t *v;
    json_array_foreach(list, i, v) if (any_part(v, fn, ctx)) return 1;
    return 0;
}

static int type_is(json_t *o, void *name)
{
    const char *t = json_string_value(json_object_get(o, "type"));
    return t && strcmp(t, name) == 0;
}

static int split_pattern(json_t *o, void *out)
{
    if (!type_is(o, "Split"))
        return 0;
    json_t *p = json_object_get(o, "pattern");
    const char *re = json_string_value(json_object_get(p, "Regex"));
    if (re)
        *(const char **)out = re;
    return re != NULL;
}

static int prefix_space(json_t *o, void *out)
{
    if (type_is(o, "ByteLevel") && json_is_true(json_object_get(o, "add_prefix_space")))
        return *(int *)out = 1;
    if (type_is(o, "Prepend")) {
        const char *p = json_string_value(json_object_get(o, "prepend"));
        if (p && strcmp(p, "\xe2\x96\x81") == 0)
            return *(int *)out = 1;
    }
    if (type_is(o, "Metaspace")) {
        const char *s = json_string_value(json_object_get(o, "prepend_scheme"));
        if (!s || strcmp(s, "never") != 0)
            return *(int *)out = 1;
    }
    return 0;
}

static int add_merge(tok *t, const char *s, size_t n, int rank)
{
    char *k = malloc(n + 1);
    if (!k)
        return -1;
    memcpy(k, s, n);
    k[n] = 0;
    if (n > UINT32_MAX || strmap_put(&t->merges, k, (uint32_t)n, rank))
        free(k);
    return 0;
}

static tok *fail(tok *t, json_t *root, cape_err *e, const char *name, const char *msg)
{
    err_set(e, CAPE_EINPUT, "%s: %s", name, msg);
    tok_free(t);
    json_decref(root);
    return NULL;
}

static tok *from_root(json_t *root, const char *name, cape_err *e)
{
    json_t *model = json_object_get(root, "model");
    const char *mt = json_string_value(json_object_get(model, "type"));
    json_t *vocab = json_object_get(model, "vocab"), *merges = json_object_get(model, "merges");
    json_t *added = json_object_get(root, "added_tokens");
    if (!mt || strcmp(mt, "BPE") != 0)
        return fail(NULL, root, e, name, "only tokenizer.json files of model type BPE are supported");
    if (!json_is_object(vocab) || !json_is_array(merges))
        return fail(NULL, root, e, name, "model.vocab must be an object and model.merges an array");
    long n = 0;
    const char *key;
    json_t *v;
    json_object_foreach(vocab, key, v) {
        json_int_t id = json_is_integer(v) ? json_integer_value(v) : -1;
        if (id < 0 || id >= (1 << 24))
            return fail(NULL, root, e, name, "model.vocab ids must be integers in [0, 2^24)");
        n = id + 1 > n ? (long)id + 1 : n;
    }
    size_t i;
    json_array_foreach(added, i, v) {
        json_int_t id = json_integer_value(json_object_get(v, "id"));
        if (!json_is_string(json_object_get(v, "content")) || id < 0 || id >= (1 << 24))
            return fail(NULL, root, e, name, "added_tokens entries need an id and a content");
        n = id + 1 > n ? (long)id + 1 : n;
    }
    if (n == 0)
        return fail(NULL, root, e, name, "empty vocabulary");
    tok *t = calloc(1, sizeof *t);
    if (!t || tok_alloc(t, (int)n))
        return fail(t, root, e, name, "out of memory");
    t->bos = t->eos = t->unk = -1;
    json_object_foreach(vocab, key, v) {
        int id = (int)json_integer_value(v);
        if (tok_set_text(t, id, key, (uint32_t)strlen(key)))
            return fail(t, root, e, name, "out of memory");
    }
    json_array_foreach(added, i, v) {
        int id = (int)json_integer_value(json_object_get(v, "id"));
        const char *c = json_string_value(json_object_get(v, "content"));
        if (tok_set_text(t, id, c, (uint32_t)json_string_length(json_object_get(v, "content"))))
            return fail(t, root, e, name, "out of memory");
        t->type[id] = json_is_true(json_object_get(v, "special")) ? TOK_TYPE_CONTROL : TOK_TYPE_USER;
    }
    json_t *pre = json_object_get(root, "pre_tokenizer"), *dec = json_object_get(root, "decoder");
    json_t *norm = json_object_get(root, "normalizer");
    int byte_level = any_part(pre, type_is, "ByteLevel") || any_part(dec, type_is, "ByteLevel");
    t->kind = byte_level ? TOK_BPE : TOK_SPM;
    t->ranked = !byte_level;
    t->byte_fallback = json_is_true(json_object_get(model, "byte_fallback"));
    t->ignore_merges = json_is_true(json_object_get(model, "ignore_merges"));
    any_part(pre, prefix_space, &t->add_space_prefix);
    any_part(norm, prefix_space, &t->add_space_prefix);
    if (byte_level) {
        const char *re = NULL;
        any_part(pre, split_pattern, &re);
        t->pre = TOK_PRE_GPT2;
        if (re && strstr(re, "\\p{N}{1,3}"))
            t->pre = TOK_PRE_LLAMA3;
        else if (re && strstr(re, "[^\\r\\n\\p{L}\\p{N}]?\\p{L}+"))
            t->pre = TOK_PRE_QWEN2;
        else if (any_part(pre, type_is, "Punctuation"))
            t->pre = TOK_PRE_FALCON;
        if (re && !(t->custom_re = strdup(re))) /* the file's own split rule */
            return fail(t, root, e, name, "out of memory");
    }
    if (strmap_init(&t->merges, (uint32_t)json_array_size(merges)))
        return fail(t, root, e, name, "out of memory");
    json_array_foreach(merges, i, v) {
        int rc = 0;
        if (json_is_string(v)) {
            rc = add_merge(t, json_string_value(v), json_string_length(v), (int)i);
        } else if (json_is_array(v) && json_array_size(v) == 2 &&
                   json_is_string(json_array_get(v, 0)) && json_is_string(json_array_get(v, 1))) {
            const char *a = json_string_value(json_array_get(v, 0)), *b = json_string_value(json_array_get(v, 1));
            size_t la = strlen(a), lb = strlen(b);
            char *s = malloc(la + lb + 2);
            if (!s)
                return fail(t, root, e, name, "out of memory");
            memcpy(s, a, la);
            s[la] = ' ';
            memcpy(s + la + 1, b, lb + 1);
            rc = add_merge(t, s, la + lb + 1, (int)i);
            free(s);
        } else {
            return fail(t, root, e, name, "model.merges entries must be \"a b\" or [\"a\", \"b\"]");
        }
        if (rc)
            return fail(t, root, e, name, "out of memory");
    }
    for (int id = 0; id < t->n; id++) {
        unsigned b;
        char tail;
        if (t->text[id] && t->len[id] == 6 && sscanf(t->text[id], "<0x%2X>%c", &b, &tail) == 1 &&
            !byte_level)
            t->type[id] = TOK_TYPE_BYTE;
    }
    /* BOS: what the post-processor puts first; EOS: a conventional name */
    json_t *single = json_object_get(json_object_get(root, "post_processor"), "single");
    const char *first = json_string_value(
        json_object_get(json_object_get(json_array_get(single, 0), "SpecialToken"), "id"));
    static const char *eos_names[] = {"</s>", "<eos>", "<|endoftext|>", "<|end_of_text|>", "<|im_end|>"};
    static const char *bos_names[] = {"<s>", "<bos>", "<|begin_of_text|>", "<|endoftext|>"};
    for (int id = 0; id < t->n; id++) {
        if (!t->text[id] || t->type[id] != TOK_TYPE_CONTROL)
            continue;
        if (first && strcmp(t->text[id], first) == 0) {
            t->bos = id;
            t->add_bos = 1;
        }
        for (size_t k = 0; k < 5; k++)
            if (t->eos < 0 && strcmp(t->text[id], eos_names[k]) == 0)
                t->eos = id;
        for (size_t k = 0; k < 4; k++)
            if (t->bos < 0 && strcmp(t->text[id], bos_names[k]) == 0)
                t->bos = id;
        if (strcmp(t->text[id], "<unk>") == 0)
            t->unk = id, t->type[id] = TOK_TYPE_UNKNOWN;
    }
    json_decref(root);
    if (tok_finish(t, name, e)) {
        tok_free(t);
        return NULL;
    }
    return t;
}

tok *tok_from_hf_json_buffer(const char *json, size_t len, const char *name, cape_err *e)
{
    json_error_t je;
    json_t *root = json_loadb(json, len, 0, &je);
    if (!root) {
        json_err_set(e, name, 0, &je);
        return NULL;
    }
    if (!json_is_object(root))
        return fail(NULL, root, e, name, "not a JSON object");
    return from_root(root, name, e);
}

tok *tok_from_hf_json(const char *path, cape_err *e)
{
    json_error_t je;
    json_t *root = json_load_file(path, 0, &je);
    if (!root) {
        json_err_set(e, path, 0, &je);
        return NULL;
    }
    if (!json_is_object(root))
        return fail(NULL, root, e, path, "not a JSON object");
    return from_root(root, path, e);
}
