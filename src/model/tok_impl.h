/* tok_impl: the tokenizer's tables, shared by the vocabulary loaders
 * (GGUF, llama2.c, tokenizer.json) and the encoder. Not public. */
#ifndef CAPE_TOK_IMPL_H
#define CAPE_TOK_IMPL_H

#include <stdint.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "model/tok.h"

/* Pre-tokenizer rule sets (byte-level BPE). */
typedef enum {
    TOK_PRE_NONE, /* SPM */
    TOK_PRE_GPT2,
    TOK_PRE_LLAMA3,
    TOK_PRE_QWEN2,
    TOK_PRE_FALCON,
    TOK_PRE_DEFAULT,
    TOK_PRE_STARCODER,
} tok_pre;

/* Open-addressing map from a byte string to an int. */
typedef struct {
    const char **key;
    uint32_t *klen;
    int *val;
    uint32_t cap; /* power of two */
} strmap;

struct tok {
    tok_kind kind;
    tok_pre pre;
    int n;
    char **text; /* NUL-terminated (a token may also contain NUL; see len) */
    uint32_t *len;
    float *score;
    uint8_t *type;
    strmap ids;    /* text -> id */
    strmap merges; /* "left right" -> rank (BPE and ranked SPM) */
    int ranked;    /* SPM merged by merge rank instead of score */
    int bos, eos, unk;
    int add_bos, add_space_prefix, byte_fallback, ignore_merges;
    int byte_tok[256]; /* <0xXX> tokens, -1 when absent */
    int *special;      /* ids of specials, longest text first */
    int n_special;
    char *custom_re; /* a tokenizer.json Split pattern, used instead of the built-in rules */
    pcre2_code *re[4];
    pcre2_match_context *mctx; /* bounds the work of one match (hostile patterns) */
    int n_re;
    char desc[32];
};

int strmap_init(strmap *m, uint32_t n);
void strmap_free(strmap *m);
/* Returns 0, or -1 when the key exists already (the first value is kept). */
int strmap_put(strmap *m, const char *key, uint32_t len, int val);
int strmap_get(const strmap *m, const char *key, uint32_t len); /* -1 when absent */

/* Allocates the per-token arrays for n tokens. */
int tok_alloc(tok *t, int n);
int tok_set_text(tok *t, int id, const char *s, uint32_t len);
/* Builds the text map, byte tokens, specials and regexes once tokens,
 * types, kind and pre are set. */
int tok_finish(tok *t, const char *name, cape_err *e);
tok_pre tok_pre_from_name(const char *name);

#endif
