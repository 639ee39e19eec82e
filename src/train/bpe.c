#include "train/bpe.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

/* ---- pre-tokenizer ---------------------------------------------------- */

enum { CL_SPACE, CL_LETTER, CL_DIGIT, CL_OTHER };

static int byte_class(uint8_t c)
{
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f')
        return CL_SPACE;
    if (c >= 0x80 || isalpha(c))
        return CL_LETTER;
    if (isdigit(c))
        return CL_DIGIT;
    return CL_OTHER;
}

static size_t piece_end(const uint8_t *s, size_t i, size_t n)
{
    if (s[i] == '\'' && i + 1 < n) {
        uint8_t a = s[i + 1], b = i + 2 < n ? s[i + 2] : 0;
        if (a == 's' || a == 't' || a == 'm' || a == 'd')
            return i + 2;
        if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l'))
            return i + 3;
    }
    size_t j = i;
    if (s[i] == ' ' && i + 1 < n && byte_class(s[i + 1]) != CL_SPACE)
        j = i + 1;
    int cls = byte_class(s[j]);
    size_t k = j + 1;
    if (cls == CL_SPACE) {
        while (k < n && byte_class(s[k]) == CL_SPACE)
            k++;
        return (k < n && k - j > 1) ? k - 1 : k;
    }
    while (k < n && byte_class(s[k]) == cls)
        k++;
    return k;
}

/* ---- small hash maps -------------------------------------------------- */

static uint64_t fnv(const uint8_t *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

static uint64_t mix(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

typedef struct {
    int *sym;
    int len;
    long count;
    uint64_t hash;
    const uint8_t *src; /* for equality while counting */
    int srclen;
} word;

typedef struct {
    word *w;
    size_t n, cap;
    size_t *slots; /* index + 1, 0 = empty */
    size_t nslots;
} word_table;

static int wt_grow(word_table *t)
{
    size_t ns = t->nslots ? 2 * t->nslots : 4096;
    size_t *slots = calloc(ns, sizeof *slots);
    if (!slots)
        return -1;
    for (size_t i = 0; i < t->n; i++) {
        size_t h = t->w[i].hash & (ns - 1);
        while (slots[h])
            h = (h + 1) & (ns - 1);
        slots[h] = i + 1;
    }
    free(t->slots);
    t->slots = slots;
    t->nslots = ns;
    return 0;
}

static int wt_add(word_table *t, const uint8_t *p, int len)
{
    if (2 * (t->n + 1) > t->nslots && wt_grow(t))
        return -1;
    uint64_t h = fnv(p, len);
    size_t s = h & (t->nslots - 1);
    while (t->slots[s]) {
        word *w = &t->w[t->slots[s] - 1];
        if (w->hash == h && w->srclen == len && memcmp(w->src, p, len) == 0) {
            w->count++;
            return 0;
        }
        s = (s + 1) & (t->nslots - 1);
    }
    if (t->n == t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 4096;
        word *nw = realloc(t->w, sizeof *nw * cap);
        if (!nw)
            return -1;
        t->w = nw;
        t->cap = cap;
    }
    word *w = &t->w[t->n];
    w->sym = malloc(sizeof(int) * len);
    if (!w->sym)
        return -1;
    for (int i = 0; i < len; i++)
        w->sym[i] = p[i];
    w->len = len;
    w->count = 1;
    w->hash = h;
    w->src = p;
    w->srclen = len;
    t->slots[s] = ++t->n;
    return 0;
}

/* pair -> long count */
typedef struct {
    uint64_t *key;
    long *val;
    size_t cap, n;
} pair_map;

static int pm_reset(pair_map *m, size_t want)
{
    size_t cap = 1024;
    while (cap < 2 * want)
        cap *= 2;
    if (cap != m->cap) {
        free(m->key);
        free(m->val);
        m->key = malloc(sizeof(uint64_t) * cap);
        m->val = malloc(sizeof(long) * cap);
        if (!m->key || !m->val)
            return -1;
        m->cap = cap;
    }
    memset(m->key, 0xff, sizeof(uint64_t) * cap);
    m->n = 0;
    return 0;
}

static void pm_add(pair_map *m, uint64_t key, long v)
{
    size_t s = mix(key) & (m->cap - 1);
    while (m->key[s] != UINT64_MAX && m->key[s] != key)
        s = (s + 1) & (m->cap - 1);
    if (m->key[s] == UINT64_MAX) {
        m->key[s] = key;
        m->val[s] = 0;
        m->n++;
    }
    m->val[s] += v;
}

/* ---- vocabulary ------------------------------------------------------- */

static uint64_t pair_key(int a, int b)
{
    return ((uint64_t)(uint32_t)a << 32) | (uint32_t)b;
}

static int build_tables(bpe_vocab *v, cape_err *e)
{
    v->n_vocab = 256 + v->n_merges + 1;
    v->eot = v->n_vocab - 1;
    v->bytes = calloc(v->n_vocab, sizeof *v->bytes);
    v->len = calloc(v->n_vocab, sizeof *v->len);
    v->pair_cap = 1024;
    while (v->pair_cap < 2 * (size_t)(v->n_merges + 1))
        v->pair_cap *= 2;
    v->pair_keys = malloc(sizeof(uint64_t) * v->pair_cap);
    v->pair_rank = malloc(sizeof(int) * v->pair_cap);
    if (!v->bytes || !v->len || !v->pair_keys || !v->pair_rank)
        return err_set(e, CAPE_EFAIL, "out of memory for the BPE vocabulary");
    memset(v->pair_keys, 0xff, sizeof(uint64_t) * v->pair_cap);
    for (int i = 0; i < 256; i++) {
        v->bytes[i] = malloc(1);
        if (!v->bytes[i])
            return err_set(e, CAPE_EFAIL, "out of memory for the BPE vocabulary");
        v->bytes[i][0] = (uint8_t)i;
        v->len[i] = 1;
    }
    for (int m = 0; m < v->n_merges; m++) {
        int a = v->merges[m][0], b = v->merges[m][1], id = 256 + m;
        if (a < 0 || b < 0 || a >= id || b >= id)
            return err_set(e, CAPE_EINPUT, "BPE merge %d refers to token %d or %d not yet made", m,
                           a, b);
        v->len[id] = v->len[a] + v->len[b];
        v->bytes[id] = malloc(v->len[id]);
        if (!v->bytes[id])
            return err_set(e, CAPE_EFAIL, "out of memory for the BPE vocabulary");
        memcpy(v->bytes[id], v->bytes[a], v->len[a]);
        memcpy(v->bytes[id] + v->len[a], v->bytes[b], v->len[b]);
        uint64_t k = pair_key(a, b);
        size_t s = mix(k) & (v->pair_cap - 1);
        while (v->pair_keys[s] != UINT64_MAX && v->pair_keys[s] != k)
            s = (s + 1) & (v->pair_cap - 1);
        if (v->pair_keys[s] == UINT64_MAX) {
            v->pair_keys[s] = k;
            v->pair_rank[s] = m;
        }
    }
    static const char eot[] = "<|endoftext|>";
    v->len[v->eot] = (int)strlen(eot);
    v->bytes[v->eot] = malloc(v->len[v->eot]);
    if (!v->bytes[v->eot])
        return err_set(e, CAPE_EFAIL, "out of memory for the BPE vocabulary");
    memcpy(v->bytes[v->eot], eot, v->len[v->eot]);
    return 0;
}

static int rank_of(const bpe_vocab *v, int a, int b)
{
    uint64_t k = pair_key(a, b);
    size_t s = mix(k) & (v->pair_cap - 1);
    while (v->pair_keys[s] != UINT64_MAX) {
        if (v->pair_keys[s] == k)
            return v->pair_rank[s];
        s = (s + 1) & (v->pair_cap - 1);
    }
    return -1;
}

int bpe_from_merges(bpe_vocab *v, const int (*merges)[2], int n_merges, cape_err *e)
{
    memset(v, 0, sizeof *v);
    v->n_merges = n_merges;
    v->merges = malloc(sizeof *v->merges * (n_merges ? n_merges : 1));
    if (!v->merges)
        return err_set(e, CAPE_EFAIL, "out of memory for the BPE vocabulary");
    memcpy(v->merges, merges, sizeof *v->merges * n_merges);
    int rc = build_tables(v, e);
    if (rc)
        bpe_free(v);
    return rc;
}

void bpe_free(bpe_vocab *v)
{
    if (v->bytes)
        for (int i = 0; i < v->n_vocab; i++)
            free(v->bytes[i]);
    free(v->bytes);
    free(v->len);
    free(v->merges);
    free(v->pair_keys);
    free(v->pair_rank);
    memset(v, 0, sizeof *v);
}

static void merge_word(word *w, int a, int b, int id)
{
    int o = 0;
    for (int i = 0; i < w->len; i++) {
        if (i + 1 < w->len && w->sym[i] == a && w->sym[i + 1] == b) {
            w->sym[o++] = id;
            i++;
        } else {
            w->sym[o++] = w->sym[i];
        }
    }
    w->len = o;
}

int bpe_train(bpe_vocab *v, const char *const *texts, size_t n_texts, int vocab_size, cape_err *e)
{
    memset(v, 0, sizeof *v);
    if (vocab_size < 257 || vocab_size > (1 << 20))
        return err_set(e, CAPE_EINPUT, "vocab: %d is out of range [257, 1048576] for BPE",
                       vocab_size);
    word_table wt = {0};
    int rc = 0;
    for (size_t d = 0; d < n_texts && !rc; d++) {
        const uint8_t *s = (const uint8_t *)texts[d];
        size_t n = strlen(texts[d]);
        for (size_t i = 0; i < n && !rc;) {
            size_t j = piece_end(s, i, n);
            rc = wt_add(&wt, s + i, (int)(j - i));
            i = j;
        }
    }
    int want = vocab_size - 257, got = 0;
    v->merges = malloc(sizeof *v->merges * (want ? want : 1));
    pair_map pm = {0};
    if (rc || !v->merges) {
        rc = err_set(e, CAPE_EFAIL, "out of memory training the BPE vocabulary");
        goto done;
    }
    while (got < want) {
        size_t npairs = 0;
        for (size_t i = 0; i < wt.n; i++)
            npairs += wt.w[i].len > 1 ? (size_t)wt.w[i].len - 1 : 0;
        if (pm_reset(&pm, npairs)) {
            rc = err_set(e, CAPE_EFAIL, "out of memory training the BPE vocabulary");
            goto done;
        }
        for (size_t i = 0; i < wt.n; i++)
            for (int j = 0; j + 1 < wt.w[i].len; j++)
                pm_add(&pm, pair_key(wt.w[i].sym[j], wt.w[i].sym[j + 1]), wt.w[i].count);
        uint64_t best = UINT64_MAX;
        long best_n = 1;
        for (size_t s = 0; s < pm.cap; s++)
            if (pm.key[s] != UINT64_MAX &&
                (pm.val[s] > best_n || (pm.val[s] == best_n && best != UINT64_MAX && pm.key[s] < best)))
                best = pm.key[s], best_n = pm.val[s];
        if (best == UINT64_MAX)
            break;
        int a = (int)(best >> 32), b = (int)(uint32_t)best, id = 256 + got;
        v->merges[got][0] = a;
        v->merges[got][1] = b;
        got++;
        for (size_t i = 0; i < wt.n; i++)
            merge_word(&wt.w[i], a, b, id);
    }
    v->n_merges = got;
    rc = build_tables(v, e);
done:
    for (size_t i = 0; i < wt.n; i++)
        free(wt.w[i].sym);
    free(wt.w);
    free(wt.slots);
    free(pm.key);
    free(pm.val);
    if (rc)
        bpe_free(v);
    return rc;
}

static int push(int **ids, size_t *n, size_t *cap, int id)
{
    if (*n == *cap) {
        size_t c = *cap ? 2 * *cap : 256;
        int *ni = realloc(*ids, sizeof(int) * c);
        if (!ni)
            return -1;
        *ids = ni;
        *cap = c;
    }
    (*ids)[(*n)++] = id;
    return 0;
}

long bpe_encode(const bpe_vocab *v, const char *text, int **ids, size_t *n, size_t *cap)
{
    const uint8_t *s = (const uint8_t *)text;
    size_t len = strlen(text), before = *n;
    int buf[256], *sym = buf;
    for (size_t i = 0; i < len;) {
        size_t j = piece_end(s, i, len);
        int m = (int)(j - i);
        if (m > 256 && sym == buf)
            sym = NULL;
        if (m > 256) {
            int *ns = realloc(sym, sizeof(int) * m);
            if (!ns) {
                free(sym);
                return -1;
            }
            sym = ns;
        }
        for (int k = 0; k < m; k++)
            sym[k] = s[i + k];
        for (;;) {
            int best = -1, at = -1;
            for (int k = 0; k + 1 < m; k++) {
                int r = rank_of(v, sym[k], sym[k + 1]);
                if (r >= 0 && (best < 0 || r < best))
                    best = r, at = k;
            }
            if (best < 0)
                break;
            word w = {.sym = sym, .len = m};
            (void)at;
            merge_word(&w, v->merges[best][0], v->merges[best][1], 256 + best);
            m = w.len;
        }
        for (int k = 0; k < m; k++)
            if (push(ids, n, cap, sym[k])) {
                if (sym != buf)
                    free(sym);
                return -1;
            }
        if (sym != buf) {
            free(sym);
            sym = buf;
        }
        i = j;
    }
    return (long)(*n - before);
}

size_t bpe_decode(const bpe_vocab *v, const int *ids, size_t n, char *out, size_t outsz)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= v->n_vocab)
            continue;
        for (int k = 0; k < v->len[ids[i]] && o + 1 < outsz; k++)
            out[o++] = (char)v->bytes[ids[i]][k];
    }
    if (outsz)
        out[o] = 0;
    return o;
}

/* GPT-2's byte -> code point table: printable Latin-1 bytes map to
 * themselves, the others to 256, 257, ... in byte order. */
static int byte_cp(int b)
{
    if ((b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF))
        return b;
    int n = 0;
    for (int x = 0; x < b; x++)
        if (!((x >= '!' && x <= '~') || (x >= 0xA1 && x <= 0xAC) || (x >= 0xAE && x <= 0xFF)))
            n++;
    return 256 + n;
}

char *bpe_token_string(const bpe_vocab *v, int id)
{
    if (id == v->eot)
        return strdup("<|endoftext|>");
    char *s = malloc((size_t)v->len[id] * 2 + 1), *p = s;
    if (!s)
        return NULL;
    for (int k = 0; k < v->len[id]; k++) {
        int cp = byte_cp(v->bytes[id][k]);
        if (cp < 0x80) {
            *p++ = (char)cp;
        } else {
            *p++ = (char)(0xC0 | (cp >> 6));
            *p++ = (char)(0x80 | (cp & 0x3F));
        }
    }
    *p = 0;
    return s;
}

int bpe_string_bytes(const char *s, uint8_t *out, int outsz)
{
    static int inv[512];
    static int ready;
    if (!ready) {
        for (int i = 0; i < 512; i++)
            inv[i] = -1;
        for (int b = 0; b < 256; b++)
            inv[byte_cp(b)] = b;
        ready = 1;
    }
    const uint8_t *p = (const uint8_t *)s;
    int n = 0;
    while (*p) {
        int cp;
        if (*p < 0x80)
            cp = *p++;
        else if ((*p & 0xE0) == 0xC0 && (p[1] & 0xC0) == 0x80)
            cp = ((p[0] & 0x1F) << 6) | (p[1] & 0x3F), p += 2;
        else
            return -1;
        if (cp >= 512 || inv[cp] < 0 || n >= outsz)
            return -1;
        out[n++] = (uint8_t)inv[cp];
    }
    return n;
}
