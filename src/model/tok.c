/* tok: vocabulary tables, the SentencePiece-style and byte-level BPE encoders,
 * decoding, and the GGUF and llama2.c vocabulary loaders.
 *
 * The encoders follow the published algorithms as llama.cpp implements them
 * (llama-vocab.cpp, MIT) and Hugging Face tokenizers define them: SPM merges
 * the adjacent pair with the highest score (ties: leftmost) until no pair is
 * in the vocabulary, then spells leftovers as byte tokens; BPE splits text
 * with the pre-tokenizer regexes, maps bytes to GPT-2's printable alphabet and
 * merges the pair of lowest rank (ties: leftmost). */
#include "model/tok_impl.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/file.h"
#include "model/gguf.h"

/* ---- string map ---- */

static uint32_t hash_bytes(const char *s, uint32_t n)
{
    uint32_t h = 2166136261u;
    for (uint32_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)s[i]) * 16777619u;
    return h;
}

int strmap_init(strmap *m, uint32_t n)
{
    uint32_t cap = 16;
    while (cap < 2 * n + 16)
        cap *= 2;
    m->cap = cap;
    m->key = calloc(cap, sizeof *m->key);
    m->klen = calloc(cap, sizeof *m->klen);
    m->val = calloc(cap, sizeof *m->val);
    return m->key && m->klen && m->val ? 0 : -1;
}

void strmap_free(strmap *m)
{
    free(m->key);
    free(m->klen);
    free(m->val);
    memset(m, 0, sizeof *m);
}

int strmap_put(strmap *m, const char *key, uint32_t len, int val)
{
    uint32_t i = hash_bytes(key, len) & (m->cap - 1);
    while (m->key[i]) {
        if (m->klen[i] == len && memcmp(m->key[i], key, len) == 0)
            return -1;
        i = (i + 1) & (m->cap - 1);
    }
    m->key[i] = key;
    m->klen[i] = len;
    m->val[i] = val;
    return 0;
}

int strmap_get(const strmap *m, const char *key, uint32_t len)
{
    if (!m->cap)
        return -1;
    uint32_t i = hash_bytes(key, len) & (m->cap - 1);
    while (m->key[i]) {
        if (m->klen[i] == len && memcmp(m->key[i], key, len) == 0)
            return m->val[i];
        i = (i + 1) & (m->cap - 1);
    }
    return -1;
}

/* ---- construction ---- */

int tok_alloc(tok *t, int n)
{
    t->n = n;
    t->text = calloc((size_t)n + 1, sizeof *t->text);
    t->len = calloc((size_t)n + 1, sizeof *t->len);
    t->score = calloc((size_t)n + 1, sizeof *t->score);
    t->type = calloc((size_t)n + 1, sizeof *t->type);
    if (!t->text || !t->len || !t->score || !t->type)
        return -1;
    for (int i = 0; i < n; i++)
        t->type[i] = TOK_TYPE_NORMAL;
    return 0;
}

int tok_set_text(tok *t, int id, const char *s, uint32_t len)
{
    char *c = malloc((size_t)len + 1);
    if (!c)
        return -1;
    memcpy(c, s, len);
    c[len] = 0;
    free(t->text[id]);
    t->text[id] = c;
    t->len[id] = len;
    return 0;
}

void tok_free(tok *t)
{
    if (!t)
        return;
    for (int i = 0; t->text && i < t->n; i++)
        free(t->text[i]);
    free(t->text);
    free(t->len);
    free(t->score);
    free(t->type);
    free(t->special);
    free(t->custom_re);
    strmap_free(&t->ids);
    if (t->merges.key) {
        for (uint32_t i = 0; i < t->merges.cap; i++)
            free((char *)t->merges.key[i]);
    }
    strmap_free(&t->merges);
    for (int i = 0; i < t->n_re; i++)
        pcre2_code_free(t->re[i]);
    pcre2_match_context_free(t->mctx);
    free(t);
}

static int cmp_special_len(const void *a, const void *b, void *ctx)
{
    const tok *t = ctx;
    int x = *(const int *)a, y = *(const int *)b;
    if (t->len[x] != t->len[y])
        return t->len[x] > t->len[y] ? -1 : 1;
    return x - y;
}

int tok_finish(tok *t, const char *name, cape_err *e)
{
    if (strmap_init(&t->ids, (uint32_t)t->n))
        return err_set(e, CAPE_EFAIL, "out of memory");
    for (int i = 0; i < t->n; i++) {
        if (!t->text[i] && tok_set_text(t, i, "", 0))
            return err_set(e, CAPE_EFAIL, "out of memory");
        strmap_put(&t->ids, t->text[i], t->len[i], i); /* duplicates: the first id wins */
    }
    for (int b = 0; b < 256; b++) {
        char buf[8];
        snprintf(buf, sizeof buf, "<0x%02X>", b);
        t->byte_tok[b] = strmap_get(&t->ids, buf, 6);
    }
    t->special = malloc(((size_t)t->n + 1) * sizeof *t->special);
    if (!t->special)
        return err_set(e, CAPE_EFAIL, "out of memory");
    for (int i = 0; i < t->n; i++)
        if ((t->type[i] == TOK_TYPE_CONTROL || t->type[i] == TOK_TYPE_USER ||
             t->type[i] == TOK_TYPE_UNKNOWN) && t->len[i] > 0)
            t->special[t->n_special++] = i;
    qsort_r(t->special, (size_t)t->n_special, sizeof *t->special, cmp_special_len, t);
    if (t->kind == TOK_BPE) {
        if (!(t->mctx = pcre2_match_context_create(NULL)))
            return err_set(e, CAPE_EFAIL, "out of memory");
        pcre2_set_match_limit(t->mctx, 1000000);
        pcre2_set_depth_limit(t->mctx, 10000);
        const char *custom[2] = {t->custom_re, NULL};
        const char *const *res = t->custom_re ? custom : tok_pre_rules(t->pre);
        t->split_empty = !t->custom_re;
        for (int i = 0; i < TOK_MAX_RE && res[i]; i++) {
            int err;
            PCRE2_SIZE off;
            /* the built-in rules run as llama.cpp runs them: its category
             * reading of the pattern, and $ only at the end of the piece */
            char *pat = t->custom_re ? NULL : tok_pre_pattern(res[i]);
            if (!t->custom_re && !pat)
                return err_set(e, CAPE_EFAIL, "out of memory");
            uint32_t opt = PCRE2_UTF | PCRE2_UCP | PCRE2_NO_UTF_CHECK;
            if (!t->custom_re)
                opt |= PCRE2_DOLLAR_ENDONLY;
            t->re[i] = pcre2_compile((PCRE2_SPTR)(pat ? pat : res[i]), PCRE2_ZERO_TERMINATED, opt,
                                     &err, &off, NULL);
            free(pat);
            if (!t->re[i])
                return err_set(e, CAPE_EINPUT, "%s: pre-tokenizer regex does not compile "
                               "(PCRE2 error %d at offset %zu)", name, err, (size_t)off);
            pcre2_jit_compile(t->re[i], PCRE2_JIT_COMPLETE);
            t->n_re = i + 1;
        }
        snprintf(t->desc, sizeof t->desc, "bpe-%s", tok_pre_rule_name(t->pre));
    } else {
        snprintf(t->desc, sizeof t->desc, t->ranked ? "spm-ranked" : "spm");
    }
    if (t->bos >= t->n)
        t->bos = -1;
    if (t->eos >= t->n)
        t->eos = -1;
    if (t->unk >= t->n)
        t->unk = -1;
    return 0;
}

/* ---- accessors ---- */

tok_kind tok_get_kind(const tok *t) { return t->kind; }
const char *tok_describe(const tok *t) { return t->desc; }
int tok_n_vocab(const tok *t) { return t->n; }
int tok_bos(const tok *t) { return t->bos; }
int tok_eos(const tok *t) { return t->eos; }
int tok_wants_bos(const tok *t) { return t->add_bos && t->bos >= 0; }
const char *tok_warning(const tok *t) { return t->warning; }

tok_type tok_token_type(const tok *t, int id)
{
    return id >= 0 && id < t->n ? (tok_type)t->type[id] : TOK_TYPE_UNUSED;
}

const char *tok_text(const tok *t, int id)
{
    return id >= 0 && id < t->n ? t->text[id] : "";
}

/* ---- output buffer ---- */

typedef struct {
    int *ids;
    int n, cap;
    int oom;
} idbuf;

static void push(idbuf *b, int id)
{
    if (b->oom)
        return;
    if (b->n == b->cap) {
        int cap = b->cap ? 2 * b->cap : 64;
        int *n = realloc(b->ids, (size_t)cap * sizeof *n);
        if (!n) {
            b->oom = 1;
            return;
        }
        b->ids = n;
        b->cap = cap;
    }
    b->ids[b->n++] = id;
}

/* ---- shared merge machinery ----
 * Symbols form a linked list over the text; candidate pairs sit in a binary
 * heap ordered by priority (higher first), then by left position. A popped
 * pair is stale when either side has changed length since it was pushed. */

typedef struct {
    int prev, next;
    uint32_t off, n;
} sym;

typedef struct {
    double prio;
    int left, right;
    uint32_t size;
} pair;

typedef struct {
    pair *h;
    int n, cap;
} heap;

static int pair_before(const pair *a, const pair *b)
{
    return a->prio > b->prio || (a->prio == b->prio && a->left < b->left);
}

static int heap_push(heap *q, pair p)
{
    if (q->n == q->cap) {
        int cap = q->cap ? 2 * q->cap : 64;
        pair *n = realloc(q->h, (size_t)cap * sizeof *n);
        if (!n)
            return -1;
        q->h = n;
        q->cap = cap;
    }
    int i = q->n++;
    while (i > 0 && pair_before(&p, &q->h[(i - 1) / 2])) {
        q->h[i] = q->h[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    q->h[i] = p;
    return 0;
}

static pair heap_pop(heap *q)
{
    pair top = q->h[0], last = q->h[--q->n];
    int i = 0;
    for (;;) {
        int c = 2 * i + 1;
        if (c >= q->n)
            break;
        if (c + 1 < q->n && pair_before(&q->h[c + 1], &q->h[c]))
            c++;
        if (!pair_before(&q->h[c], &last))
            break;
        q->h[i] = q->h[c];
        i = c;
    }
    q->h[i] = last;
    return top;
}

typedef struct {
    const tok *t;
    const char *text;
    sym *s;
    int ns;
    heap q;
    char *scratch; /* for "left right" merge keys */
    pcre2_match_data *md[TOK_MAX_RE]; /* one per pre-tokenizer regex */
    const char *mapped, *orig; /* text the regexes see, and the text it stands for */
    size_t *orig_off;          /* offset in orig of each byte of mapped (and its end) */
    size_t scratch_cap;
    int oom;
} merger;

static uint32_t utf8_len(uint8_t c)
{
    static const uint8_t lut[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    return lut[c >> 4];
}

/* Priority of merging symbols a and b; 0 when they cannot merge. */
static int pair_prio(merger *m, int a, int b, double *prio)
{
    const tok *t = m->t;
    const char *l = m->text + m->s[a].off, *r = m->text + m->s[b].off;
    uint32_t ln = m->s[a].n, rn = m->s[b].n;
    if (t->kind == TOK_SPM && !t->ranked) {
        int id = strmap_get(&t->ids, l, ln + rn); /* l and r are adjacent in text */
        if (id < 0)
            return 0;
        *prio = t->score[id];
        return 1;
    }
    size_t need = (size_t)ln + rn + 1;
    if (need > m->scratch_cap) {
        char *n = realloc(m->scratch, need * 2);
        if (!n) {
            m->oom = 1;
            return 0;
        }
        m->scratch = n;
        m->scratch_cap = need * 2;
    }
    memcpy(m->scratch, l, ln);
    m->scratch[ln] = ' ';
    memcpy(m->scratch + ln + 1, r, rn);
    int rank = strmap_get(&t->merges, m->scratch, (uint32_t)need);
    if (rank < 0)
        return 0;
    *prio = -(double)rank;
    return 1;
}

static void try_pair(merger *m, int a, int b)
{
    double prio;
    if (a < 0 || b < 0 || !pair_prio(m, a, b, &prio))
        return;
    if (heap_push(&m->q, (pair){prio, a, b, m->s[a].n + m->s[b].n}))
        m->oom = 1;
}

/* Splits text[0..n) into UTF-8 characters and merges them. */
static int merge_text(merger *m, const char *text, uint32_t n)
{
    m->text = text;
    m->ns = 0;
    m->q.n = 0;
    free(m->s);
    m->s = malloc(((size_t)n + 1) * sizeof *m->s);
    if (!m->s)
        return -1;
    for (uint32_t off = 0; off < n;) {
        uint32_t k = utf8_len((uint8_t)text[off]);
        if (k > n - off)
            k = n - off;
        m->s[m->ns] = (sym){m->ns - 1, off + k == n ? -1 : m->ns + 1, off, k};
        m->ns++;
        off += k;
    }
    for (int i = 1; i < m->ns; i++)
        try_pair(m, i - 1, i);
    while (m->q.n > 0 && !m->oom) {
        pair p = heap_pop(&m->q);
        sym *l = &m->s[p.left], *r = &m->s[p.right];
        if (l->n == 0 || r->n == 0 || l->n + r->n != p.size || l->next != p.right)
            continue;
        l->n += r->n;
        r->n = 0;
        l->next = r->next;
        if (r->next >= 0)
            m->s[r->next].prev = p.left;
        try_pair(m, l->prev, p.left);
        try_pair(m, p.left, l->next);
    }
    return m->oom ? -1 : 0;
}

static void merger_free(merger *m)
{
    for (int i = 0; i < TOK_MAX_RE; i++)
        pcre2_match_data_free(m->md[i]);
    free(m->s);
    free(m->q.h);
    free(m->scratch);
}

/* ---- SPM ---- */

static void spm_byte(const tok *t, uint8_t c, idbuf *out)
{
    if (t->byte_tok[c] >= 0) {
        push(out, t->byte_tok[c]);
        return;
    }
    char s[2] = {(char)c, 0};
    int id = strmap_get(&t->ids, s, 1);
    push(out, id >= 0 ? id : t->unk >= 0 ? t->unk : 0);
}

/* One fragment of raw text: spaces become U+2581, merge, emit. */
static int spm_fragment(const tok *t, merger *m, const char *s, size_t n, int prefix, idbuf *out)
{
    size_t cap = 3 * n + 4, k = 0;
    char *buf = malloc(cap);
    if (!buf)
        return -1;
    if (prefix) {
        memcpy(buf, "\xe2\x96\x81", 3);
        k = 3;
    }
    for (size_t i = 0; i < n; i++) {
        if (s[i] == ' ') {
            memcpy(buf + k, "\xe2\x96\x81", 3);
            k += 3;
        } else {
            buf[k++] = s[i];
        }
    }
    if (k > UINT32_MAX || merge_text(m, buf, (uint32_t)k)) {
        free(buf);
        return -1;
    }
    for (int i = 0; i < m->ns; i = m->s[i].next) {
        const sym *y = &m->s[i];
        int id = strmap_get(&t->ids, buf + y->off, y->n);
        if (id >= 0) {
            push(out, id);
        } else {
            for (uint32_t j = 0; j < y->n; j++)
                spm_byte(t, (uint8_t)buf[y->off + j], out);
        }
        if (y->next < 0)
            break;
    }
    free(buf);
    return 0;
}

/* ---- byte-level BPE ---- */

/* GPT-2's map from bytes to printable code points: printable Latin-1 bytes
 * map to themselves, the other 68 bytes to U+0100 onwards, in byte order. */
static uint32_t byte_cp(uint8_t b)
{
    static uint32_t map[256];
    static int ready;
    if (!ready) {
        int n = 0;
        for (int c = 0; c < 256; c++) {
            int printable = (c >= '!' && c <= '~') || (c >= 0xA1 && c <= 0xAC) || c >= 0xAE;
            map[c] = printable ? (uint32_t)c : 256u + (uint32_t)n++;
        }
        ready = 1;
    }
    return map[b];
}

static int put_utf8(char *o, uint32_t cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Decodes one UTF-8 code point; returns its length (1 for invalid bytes). */
static int get_utf8(const uint8_t *s, size_t n, uint32_t *cp)
{
    uint32_t k = utf8_len(s[0]);
    if (k == 1 || k > n) {
        *cp = s[0];
        return 1;
    }
    uint32_t v = s[0] & (0xFF >> (k + 1));
    for (uint32_t i = 1; i < k; i++) {
        if ((s[i] & 0xC0) != 0x80) {
            *cp = s[0];
            return 1;
        }
        v = (v << 6) | (s[i] & 0x3F);
    }
    *cp = v;
    return (int)k;
}

static int bpe_piece(const tok *t, merger *m, const char *s, size_t n, idbuf *out)
{
    if (m->mapped) { /* back from the text the regexes saw to the real one */
        size_t a = (size_t)(s - m->mapped);
        s = m->orig + m->orig_off[a];
        n = m->orig_off[a + n] - m->orig_off[a];
    }
    char *buf = malloc(2 * n + 1);
    if (!buf)
        return -1;
    size_t k = 0;
    int raw = (t->pre_flags & TOK_PRE_RAW) != 0;
    if (raw) { /* pieces are merged as they are (SentencePiece-style vocabularies) */
        memcpy(buf, s, n);
        k = n;
    } else {
        for (size_t i = 0; i < n; i++)
            k += (size_t)put_utf8(buf + k, byte_cp((uint8_t)s[i]));
    }
    int whole = -1, newlines = (t->pre_flags & TOK_PRE_NL_WHOLE) != 0;
    for (size_t i = 0; newlines && i < n; i++)
        newlines = s[i] == '\n';
    if (t->ignore_merges || newlines)
        whole = strmap_get(&t->ids, buf, (uint32_t)k);
    if (whole >= 0) {
        push(out, whole);
        free(buf);
        return 0;
    }
    if (merge_text(m, buf, (uint32_t)k)) {
        free(buf);
        return -1;
    }
    for (int i = 0; m->ns > 0; i = m->s[i].next) {
        const sym *y = &m->s[i];
        int id = strmap_get(&t->ids, buf + y->off, y->n);
        if (id >= 0) {
            push(out, id);
        } else if (raw) { /* outside the vocabulary: its bytes as <0xXX> tokens */
            for (uint32_t j = 0; j < y->n; j++) {
                int b = t->byte_tok[(uint8_t)buf[y->off + j]];
                if (b >= 0)
                    push(out, b);
            }
        } else { /* a symbol outside the vocabulary: spell its characters */
            for (uint32_t j = 0; j < y->n;) {
                uint32_t c = utf8_len((uint8_t)buf[y->off + j]);
                c = c > y->n - j ? y->n - j : c;
                int one = strmap_get(&t->ids, buf + y->off + j, c);
                push(out, one >= 0 ? one : t->unk >= 0 ? t->unk : 0);
                j += c;
            }
        }
        if (y->next < 0)
            break;
    }
    free(buf);
    return 0;
}

/* Splits [s, s+n) by regex `level` (the matches and the text between them
 * are both pieces) and hands each piece to the next level. With the built-in
 * rules an empty match splits the text where it matches, and the search goes
 * on as C++'s std::regex_iterator does (llama.cpp's reading): first a
 * non-empty match at the same place, else from the next character. */
static int bpe_split(const tok *t, merger *m, int level, const char *s, size_t n, idbuf *out)
{
    if (n == 0)
        return 0;
    if (level == t->n_re)
        return bpe_piece(t, m, s, n, out);
    if (!m->md[level] && !(m->md[level] = pcre2_match_data_create_from_pattern(t->re[level], NULL)))
        return -1;
    pcre2_match_data *md = m->md[level];
    size_t pos = 0, last = 0;
    uint32_t retry = 0;
    int rc = 0;
    while (pos <= n && !rc) {
        int r = pcre2_match(t->re[level], (PCRE2_SPTR)s, n, pos, PCRE2_NO_UTF_CHECK | retry, md,
                            t->mctx);
        if (r == PCRE2_ERROR_NOMATCH && retry) { /* no non-empty match here: go on from the next character */
            retry = 0;
            if (pos >= n)
                break;
            pos += utf8_len((uint8_t)s[pos]);
            continue;
        }
        if (r == PCRE2_ERROR_NOMATCH)
            break;
        if (r < 0) { /* match or depth limit: a pattern too costly for this text */
            rc = -2;
            break;
        }
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        size_t a = ov[0], b = ov[1];
        if (b == a && !t->split_empty) { /* tokenizer.json rules: an empty match is skipped */
            if (a >= n)
                break;
            pos = a + utf8_len((uint8_t)s[a]);
            continue;
        }
        if (a > last)
            rc = bpe_split(t, m, level + 1, s + last, a - last, out);
        last = a;
        if (b == a) {
            retry = PCRE2_NOTEMPTY_ATSTART | PCRE2_ANCHORED;
            pos = a;
            continue;
        }
        retry = 0;
        rc = rc ? rc : bpe_split(t, m, level + 1, s + a, b - a, out);
        last = pos = b;
    }
    if (last < n && !rc)
        rc = bpe_split(t, m, level + 1, s + last, n - last, out);
    return rc;
}

/* Invalid UTF-8 would make PCRE2 (told not to check) misbehave: replace
 * every invalid byte with U+FFFD, as a UTF-8 decoder does. */
static char *valid_utf8(const char *s, size_t n, size_t *out_n)
{
    char *o = malloc(3 * n + 1);
    if (!o)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        const uint8_t *u = (const uint8_t *)s + i;
        int len = get_utf8(u, n - i, &cp);
        int ok = !(len == 1 && u[0] >= 0x80) && !(cp >= 0xD800 && cp <= 0xDFFF) && cp <= 0x10FFFF &&
                 !(len == 2 && cp < 0x80) && !(len == 3 && cp < 0x800) && !(len == 4 && cp < 0x10000);
        if (ok) {
            memcpy(o + k, u, (size_t)len);
            k += (size_t)len;
        } else {
            memcpy(o + k, "\xef\xbf\xbd", 3);
            k += 3;
            len = 1;
        }
        i += (size_t)len;
    }
    *out_n = k;
    return o;
}

/* The whitespace above ASCII in llama.cpp's tables. llama.cpp hands its
 * regexes each of these as \v: \s matches it, no literal character class
 * does (a range such as U+0800-U+4E00 leaves U+3000 alone). */
static int llama_space(uint32_t c)
{
    return c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 ||
           c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

/* Splits s[0..n) with the built-in rules as llama.cpp sees the text. */
static int bpe_split_spaces(const tok *t, merger *m, const char *s, size_t n, idbuf *out)
{
    size_t i = 0, k = 0;
    uint32_t c;
    while (i < n) {
        int l = get_utf8((const uint8_t *)s + i, n - i, &c);
        if (llama_space(c))
            break;
        i += (size_t)l;
    }
    if (i == n) /* nothing to map */
        return bpe_split(t, m, 0, s, n, out);
    char *mt = malloc(n + 1);
    size_t *off = malloc((n + 1) * sizeof *off);
    if (!mt || !off) {
        free(mt);
        free(off);
        return -1;
    }
    for (i = 0; i < n;) {
        int l = get_utf8((const uint8_t *)s + i, n - i, &c);
        if (llama_space(c)) {
            off[k] = i;
            mt[k++] = '\v';
        } else {
            for (int j = 0; j < l; j++) {
                off[k] = i + (size_t)j;
                mt[k++] = s[i + (size_t)j];
            }
        }
        i += (size_t)l;
    }
    off[k] = n;
    m->mapped = mt;
    m->orig = s;
    m->orig_off = off;
    int rc = bpe_split(t, m, 0, mt, k, out);
    m->mapped = m->orig = NULL;
    m->orig_off = NULL;
    free(mt);
    free(off);
    return rc;
}

/* One fragment of raw text for byte-level BPE. prefix: read it as if it began
 * with a space (ByteLevel add_prefix_space); spaces become U+2581 where the
 * pre-tokenizer says so (llama.cpp's escape_whitespaces). */
static int bpe_fragment(const tok *t, merger *m, const char *s, size_t n, int prefix, idbuf *out)
{
    int esc = (t->pre_flags & TOK_PRE_ESCAPE_WS) != 0;
    if (!prefix && !esc)
        return t->split_empty ? bpe_split_spaces(t, m, s, n, out) : bpe_split(t, m, 0, s, n, out);
    char *b = malloc(3 * (n + 1));
    if (!b)
        return -1;
    size_t k = 0;
    if (prefix)
        b[k++] = ' ';
    memcpy(b + k, s, n);
    k += n;
    if (esc) {
        size_t j = 0;
        char *e2 = malloc(3 * k + 1);
        if (!e2) {
            free(b);
            return -1;
        }
        for (size_t i = 0; i < k; i++) {
            if (b[i] == ' ') {
                memcpy(e2 + j, "\xe2\x96\x81", 3);
                j += 3;
            } else {
                e2[j++] = b[i];
            }
        }
        free(b);
        b = e2;
        k = j;
    }
    int rc = t->split_empty ? bpe_split_spaces(t, m, b, k, out) : bpe_split(t, m, 0, b, k, out);
    free(b);
    return rc;
}

/* ---- encode ---- */

/* Finds the earliest special token in s[0..n); ties go to the longest. */
static int find_special(const tok *t, const char *s, size_t n, int parse_control, size_t *at)
{
    int best = -1;
    size_t best_at = n;
    for (int k = 0; k < t->n_special; k++) {
        int id = t->special[k];
        if (!parse_control && t->type[id] != TOK_TYPE_USER)
            continue;
        if (t->len[id] > n)
            continue;
        size_t hay = best_at < n ? best_at + t->len[id] - 1 : n;
        const char *p = memmem(s, hay < n ? hay : n, t->text[id], t->len[id]);
        if (p && (size_t)(p - s) < best_at) {
            best_at = (size_t)(p - s);
            best = id;
        }
    }
    *at = best_at;
    return best;
}

int tok_encode(const tok *t, const char *text, size_t len, int flags, int **ids, int *n,
               cape_err *e)
{
    idbuf out = {0};
    merger m = {.t = t};
    size_t vn;
    char *v = valid_utf8(text, len, &vn);
    if (!v)
        return err_set(e, CAPE_EFAIL, "out of memory");
    if ((flags & TOK_ADD_BOS) && t->bos >= 0)
        push(&out, t->bos);
    int prev_special = 1, rc = 0;
    size_t pos = 0;
    while (pos < vn && !rc) {
        size_t at;
        int sp = find_special(t, v + pos, vn - pos, flags & TOK_PARSE_SPECIAL, &at);
        if (at > 0) {
            if (t->kind == TOK_SPM)
                rc = spm_fragment(t, &m, v + pos, at, t->add_space_prefix && prev_special, &out);
            else
                rc = bpe_fragment(t, &m, v + pos, at, t->add_space_prefix && pos == 0 && v[0] != ' ',
                                  &out);
            prev_special = 0;
        }
        if (sp >= 0) {
            push(&out, sp);
            prev_special = 1;
            at += t->len[sp];
        }
        pos += at;
    }
    free(v);
    merger_free(&m);
    if (rc || out.oom) {
        free(out.ids);
        if (rc == -2)
            return err_set(e, CAPE_EINPUT, "the tokenizer's pre-tokenizer regex exceeded its "
                           "match limit on this text");
        return err_set(e, CAPE_EFAIL, "out of memory while tokenizing");
    }
    *ids = out.ids;
    *n = out.n;
    return 0;
}

/* ---- decode ---- */

int tok_piece(const tok *t, int id, int special, char *buf, int bufsz)
{
    if (id < 0 || id >= t->n)
        return 0;
    char tmp[8];
    const char *src = t->text[id];
    size_t n = t->len[id];
    int ty = t->type[id];
    if (ty == TOK_TYPE_CONTROL || ty == TOK_TYPE_UNUSED) {
        if (!special)
            return 0;
    } else if (ty == TOK_TYPE_BYTE) {
        unsigned b;
        if (sscanf(src, "<0x%02X>", &b) == 1) {
            tmp[0] = (char)b;
            src = tmp;
            n = 1;
        }
    } else if (ty == TOK_TYPE_UNKNOWN) {
        src = "\xe2\x96\x85";
        n = 3;
    }
    int k = 0;
    if (t->kind == TOK_BPE && ty == TOK_TYPE_NORMAL && !(t->pre_flags & TOK_PRE_RAW)) {
        /* map printable code points back to bytes */
        for (size_t i = 0; i < n;) {
            uint32_t cp;
            int l = get_utf8((const uint8_t *)src + i, n - i, &cp);
            int byte = -1;
            if (cp < 0x100 && byte_cp((uint8_t)cp) == cp)
                byte = (int)cp;
            else if (cp >= 0x100 && cp < 0x100 + 68)
                for (int b = 0; b < 256 && byte < 0; b++)
                    if (byte_cp((uint8_t)b) == cp)
                        byte = b;
            if (byte >= 0) {
                if (k < bufsz)
                    buf[k] = (char)byte;
                k++;
            } else {
                for (int j = 0; j < l; j++, k++)
                    if (k < bufsz)
                        buf[k] = src[i + j];
            }
            i += (size_t)l;
        }
        return k;
    }
    for (size_t i = 0; i < n; i++) {
        if ((t->kind == TOK_SPM || (t->pre_flags & TOK_PRE_ESCAPE_WS)) && i + 3 <= n &&
            !memcmp(src + i, "\xe2\x96\x81", 3)) {
            if (k < bufsz)
                buf[k] = ' ';
            k++;
            i += 2;
            continue;
        }
        if (k < bufsz)
            buf[k] = src[i];
        k++;
    }
    return k;
}

char *tok_decode(const tok *t, const int *ids, int n, int special)
{
    size_t cap = 64, len = 0;
    char *out = malloc(cap);
    if (!out)
        return NULL;
    int at_start = 1;
    for (int i = 0; i < n; i++) {
        char piece[512];
        int k = tok_piece(t, ids[i], special, piece, sizeof piece);
        if (k > (int)sizeof piece)
            k = (int)sizeof piece;
        int skip = 0;
        if (at_start && t->kind == TOK_SPM && t->add_space_prefix && k > 0 && piece[0] == ' ')
            skip = 1;
        if (k > 0)
            at_start = 0;
        if (len + (size_t)k + 1 > cap) {
            while (len + (size_t)k + 1 > cap)
                cap *= 2;
            char *nb = realloc(out, cap);
            if (!nb) {
                free(out);
                return NULL;
            }
            out = nb;
        }
        memcpy(out + len, piece + skip, (size_t)(k - skip));
        len += (size_t)(k - skip);
    }
    out[len] = 0;
    return out;
}

/* ---- GGUF vocabularies ---- */

/* The names tok_pre_lookup knows, space-separated, as many as fit in n. */
static void known_pre_names(char *buf, size_t n)
{
    size_t k = 0;
    buf[0] = 0;
    for (int i = 0; i < tok_pre_count(); i++) {
        const char *name = tok_pre_name_at(i);
        size_t l = strlen(name);
        if (k + l + 5 >= n) {
            snprintf(buf + k, n - k, "...");
            return;
        }
        k += (size_t)snprintf(buf + k, n - k, "%s%s", k ? " " : "", name);
    }
}

tok *tok_from_gguf(const gguf_file *f, cape_err *e) { return tok_from_gguf_pre(f, NULL, e); }

tok *tok_from_gguf_pre(const gguf_file *f, const char *pre_override, cape_err *e)
{
    const char *path = gguf_path(f);
    char model[32] = "";
    if (!gguf_get_cstr(f, "tokenizer.ggml.model", model, sizeof model)) {
        err_set(e, CAPE_EINPUT, "%s: missing metadata key 'tokenizer.ggml.model'", path);
        return NULL;
    }
    tok *t = calloc(1, sizeof *t);
    if (!t) {
        err_set(e, CAPE_EFAIL, "out of memory");
        return NULL;
    }
    if (pre_override && strcmp(model, "gpt2") != 0) {
        err_set(e, CAPE_EINPUT, "%s: --pre applies to byte-level BPE vocabularies "
                "(tokenizer.ggml.model 'gpt2'); this one is '%s'", path, model);
        free(t);
        return NULL;
    }
    if (strcmp(model, "llama") == 0) {
        t->kind = TOK_SPM;
        t->add_space_prefix = 1;
        t->add_bos = 1;
        t->bos = 1;
        t->eos = 2;
        t->unk = 0;
    } else if (strcmp(model, "gpt2") == 0) {
        /* llama.cpp: a missing name means "default" (with a warning); an
         * unknown one is an error */
        char pre[64] = "default", known[640];
        tok_pre_info info;
        int have = gguf_get_cstr(f, "tokenizer.ggml.pre", pre, sizeof pre);
        if (pre_override) {
            if (tok_pre_lookup(pre_override, &info)) {
                known_pre_names(known, sizeof known);
                err_set(e, CAPE_EINPUT, "--pre '%s' is not a pre-tokenizer cape knows; known: %s",
                        pre_override, known);
                free(t);
                return NULL;
            }
        } else if (tok_pre_lookup(pre, &info)) {
            known_pre_names(known, sizeof known);
            err_set(e, CAPE_EINPUT, "%s: tokenizer.ggml.pre '%s' is not a pre-tokenizer cape knows; "
                    "override with --pre NAME; known: %s", path, pre, known);
            free(t);
            return NULL;
        } else if (!have) {
            snprintf(t->warning, sizeof t->warning, "%s has no tokenizer.ggml.pre; using the "
                     "'default' pre-tokenizer (set one with --pre NAME)", path);
        }
        t->kind = TOK_BPE;
        t->pre = info.rule;
        t->pre_flags = info.flags;
        t->ignore_merges = (info.flags & TOK_PRE_IGNORE_MERGES) != 0;
        t->add_bos = (info.flags & TOK_PRE_ADD_BOS) != 0;
        t->bos = (info.flags & TOK_PRE_NO_BOS) ? -1 : 11;
        t->eos = 11;
        t->unk = -1;
    } else {
        err_set(e, CAPE_EINPUT, "%s: tokenizer model '%s' is not supported (llama, gpt2 are)",
                path, model);
        free(t);
        return NULL;
    }
    gguf_arr toks, scores, types, merges;
    if (gguf_need_arr(f, "tokenizer.ggml.tokens", GGUF_STRING, &toks, e))
        goto fail;
    if (toks.n == 0 || toks.n > (1u << 24)) {
        err_set(e, CAPE_EINPUT, "%s: tokenizer.ggml.tokens has %llu entries", path,
                (unsigned long long)toks.n);
        goto fail;
    }
    if (tok_alloc(t, (int)toks.n)) {
        err_set(e, CAPE_EFAIL, "out of memory");
        goto fail;
    }
    for (int i = 0; i < t->n; i++) {
        if (toks.strs[i].len > (1u << 20) ||
            tok_set_text(t, i, toks.strs[i].ptr, (uint32_t)toks.strs[i].len)) {
            err_set(e, CAPE_EINPUT, "%s: token %d is too long", path, i);
            goto fail;
        }
    }
    if (gguf_get_arr(f, "tokenizer.ggml.scores", &scores)) {
        if (scores.n != toks.n || (scores.type != GGUF_FLOAT32 && scores.type != GGUF_FLOAT64)) {
            err_set(e, CAPE_EINPUT, "%s: tokenizer.ggml.scores must be %llu floats", path,
                    (unsigned long long)toks.n);
            goto fail;
        }
        for (int i = 0; i < t->n; i++)
            t->score[i] = (float)gguf_arr_float(&scores, (uint64_t)i);
    }
    if (gguf_get_arr(f, "tokenizer.ggml.token_type", &types)) {
        if (types.n != toks.n || types.type == GGUF_STRING) {
            err_set(e, CAPE_EINPUT, "%s: tokenizer.ggml.token_type must be %llu integers", path,
                    (unsigned long long)toks.n);
            goto fail;
        }
        for (int i = 0; i < t->n; i++) {
            int64_t ty = gguf_arr_int(&types, (uint64_t)i);
            t->type[i] = (uint8_t)(ty >= 1 && ty <= 6 ? ty : TOK_TYPE_NORMAL);
        }
    }
    if (t->kind == TOK_BPE) {
        if (gguf_need_arr(f, "tokenizer.ggml.merges", GGUF_STRING, &merges, e))
            goto fail;
        if (merges.n > (1u << 24) || strmap_init(&t->merges, (uint32_t)merges.n)) {
            err_set(e, CAPE_EINPUT, "%s: too many merges", path);
            goto fail;
        }
        for (uint64_t i = 0; i < merges.n; i++) {
            char *k = malloc(merges.strs[i].len + 1);
            if (!k) {
                err_set(e, CAPE_EFAIL, "out of memory");
                goto fail;
            }
            memcpy(k, merges.strs[i].ptr, merges.strs[i].len);
            k[merges.strs[i].len] = 0;
            if (merges.strs[i].len > UINT32_MAX ||
                strmap_put(&t->merges, k, (uint32_t)merges.strs[i].len, (int)i))
                free(k); /* a repeated merge keeps its first rank */
        }
    }
    int64_t v;
    int b;
    if (gguf_get_int(f, "tokenizer.ggml.bos_token_id", &v))
        t->bos = v >= 0 && v < t->n ? (int)v : -1;
    if (gguf_get_int(f, "tokenizer.ggml.eos_token_id", &v))
        t->eos = v >= 0 && v < t->n ? (int)v : -1;
    if (gguf_get_int(f, "tokenizer.ggml.unknown_token_id", &v))
        t->unk = v >= 0 && v < t->n ? (int)v : -1;
    if (gguf_get_bool(f, "tokenizer.ggml.add_bos_token", &b))
        t->add_bos = b;
    /* llama.cpp reads it for SentencePiece vocabularies only */
    if (t->kind == TOK_SPM && gguf_get_bool(f, "tokenizer.ggml.add_space_prefix", &b))
        t->add_space_prefix = b;
    if (tok_finish(t, path, e))
        goto fail;
    return t;
fail:
    tok_free(t);
    return NULL;
}

/* ---- llama2.c tokenizer.bin ----
 * int32 max_token_length, then per token: float score, int32 length, bytes.
 * Pieces use a plain space where SentencePiece has U+2581. */

tok *tok_from_llama2c(const char *path, int n_vocab, cape_err *e)
{
    size_t len;
    char *data = file_read_all(path, &len, e);
    if (!data)
        return NULL;
    tok *t = calloc(1, sizeof *t);
    if (!t || tok_alloc(t, n_vocab)) {
        free(data);
        tok_free(t);
        err_set(e, CAPE_EFAIL, "out of memory");
        return NULL;
    }
    t->kind = TOK_SPM;
    t->add_space_prefix = t->add_bos = 1;
    t->unk = 0;
    t->bos = 1;
    t->eos = 2;
    size_t off = 4;
    for (int i = 0; i < n_vocab; i++) {
        int32_t n;
        if (len < 8 || off > len - 8) {
            err_set(e, CAPE_EINPUT, "%s: truncated at token %d of %d", path, i, n_vocab);
            goto fail;
        }
        memcpy(&t->score[i], data + off, 4);
        memcpy(&n, data + off + 4, 4);
        off += 8;
        if (n < 0 || (size_t)n > len - off || n > 4096) {
            err_set(e, CAPE_EINPUT, "%s: token %d has a bad length %d", path, i, n);
            goto fail;
        }
        char *s = malloc(3 * (size_t)n + 1);
        if (!s) {
            err_set(e, CAPE_EFAIL, "out of memory");
            goto fail;
        }
        uint32_t k = 0;
        for (int j = 0; j < n; j++) {
            if (data[off + j] == ' ') {
                memcpy(s + k, "\xe2\x96\x81", 3);
                k += 3;
            } else {
                s[k++] = data[off + j];
            }
        }
        tok_set_text(t, i, s, k);
        free(s);
        off += (size_t)n;
        unsigned b;
        char tail;
        if (t->len[i] == 6 && sscanf(t->text[i], "<0x%2X>%c", &b, &tail) == 1)
            t->type[i] = TOK_TYPE_BYTE;
    }
    t->type[0] = TOK_TYPE_UNKNOWN;
    if (n_vocab > 2)
        t->type[1] = t->type[2] = TOK_TYPE_CONTROL;
    free(data);
    data = NULL;
    if (tok_finish(t, path, e))
        goto fail;
    return t;
fail:
    free(data);
    tok_free(t);
    return NULL;
}
