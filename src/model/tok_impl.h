/* tok_impl: the tokenizer's tables, shared by the vocabulary loaders
 * (GGUF, llama2.c, tokenizer.json) and the encoder. Not public. */
#ifndef CAPE_TOK_IMPL_H
#define CAPE_TOK_IMPL_H

#include <stdint.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "model/tok.h"

/* Pre-tokenizer rule sets (byte-level BPE), numbered as tok_pre.c lists
 * them; the ones the tokenizer.json loader picks have names here. */
typedef enum {
    TOK_PRE_DEFAULT = 0,
    TOK_PRE_LLAMA3 = 1,
    TOK_PRE_FALCON = 8,
    TOK_PRE_STARCODER = 9,
    TOK_PRE_GPT2 = 10,
    TOK_PRE_QWEN2 = 11,
} tok_pre;

#define TOK_MAX_RE 6

/* Settings llama.cpp gives a pre-tokenizer name. */
enum {
    TOK_PRE_IGNORE_MERGES = 1, /* a piece that is a whole token is taken as it is */
    TOK_PRE_ADD_BOS = 2,       /* add BOS unless tokenizer.ggml.add_bos_token says otherwise */
    TOK_PRE_NO_BOS = 4,        /* no BOS unless tokenizer.ggml.bos_token_id names one */
    TOK_PRE_RAW = 8,           /* pieces are merged as raw UTF-8, not GPT-2's byte alphabet */
    TOK_PRE_ESCAPE_WS = 16,    /* spaces become U+2581 before splitting */
    TOK_PRE_NL_WHOLE = 32,     /* a run of newlines that is a token is taken whole (Gemma 4) */
};

typedef struct {
    int rule;
    unsigned flags;
} tok_pre_info;

/* 0 and *out filled, or -1 for a name llama.cpp does not know. */
int tok_pre_lookup(const char *name, tok_pre_info *out);
/* The rule's regexes, NULL-terminated (at most TOK_MAX_RE). */
const char *const *tok_pre_rules(int rule);
const char *tok_pre_rule_name(int rule);
/* A built-in pattern rewritten to run in PCRE2 as llama.cpp runs it (malloc'ed). */
char *tok_pre_pattern(const char *re);

/* Open-addressing map from a byte string to an int. */
typedef struct {
    const char **key;
    uint32_t *klen;
    int *val;
    uint32_t cap; /* power of two */
} strmap;

struct tok {
    tok_kind kind;
    int pre;           /* rule set (tok_pre_rules) */
    unsigned pre_flags; /* TOK_PRE_* settings */
    int split_empty;   /* an empty regex match splits there (llama.cpp's rules) */
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
    pcre2_code *re[TOK_MAX_RE];
    pcre2_match_context *mctx; /* bounds the work of one match (hostile patterns) */
    int n_re;
    char desc[48];
    char warning[160]; /* a note for the user about the file, "" when none */
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

#endif
