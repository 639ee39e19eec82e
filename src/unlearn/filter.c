/* filter: the content filter of forgotten sources (filter.h). */
#include "unlearn/filter.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/file.h"
#include "base/json.h"
#include "base/rng.h"
#include "unlearn/tofu_eval.h"

#define FILTER_FORMAT "cape-filter"
#define FILTER_VERSION 1
#define MAX_WORD 64

/* ---- folding ---- */

/* U+00C0 .. U+024F without their diacritics, lower case ("" separates) */
static const char *const LATIN[0x250 - 0xC0] = {
    "a", "a", "a", "a", "a", "a", "ae", "c", "e", "e", "e", "e", "i", "i", "i", "i", "d", "n", "o",
    "o", "o", "o", "o", "", "o", "u", "u", "u", "u", "y", "th", "ss", "a", "a", "a", "a", "a", "a",
    "ae", "c", "e", "e", "e", "e", "i", "i", "i", "i", "d", "n", "o", "o", "o", "o", "o", "", "o",
    "u", "u", "u", "u", "y", "th", "y", "a", "a", "a", "a", "a", "a", "c", "c", "c", "c", "c", "c",
    "c", "c", "d", "d", "d", "d", "e", "e", "e", "e", "e", "e", "e", "e", "e", "e", "g", "g", "g",
    "g", "g", "g", "g", "g", "h", "h", "h", "h", "i", "i", "i", "i", "i", "i", "i", "i", "i", "i",
    "ij", "ij", "j", "j", "k", "k", "k", "l", "l", "l", "l", "l", "l", "l", "l", "l", "l", "n", "n",
    "n", "n", "n", "n", "n", "n", "n", "o", "o", "o", "o", "o", "o", "oe", "oe", "r", "r", "r", "r",
    "r", "r", "s", "s", "s", "s", "s", "s", "s", "s", "t", "t", "t", "t", "t", "t", "u", "u", "u",
    "u", "u", "u", "u", "u", "u", "u", "u", "u", "w", "w", "y", "y", "y", "z", "z", "z", "z", "z",
    "z", "s", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "",
    "", "", "", "", "", "", "", "", "", "", "", "o", "o", "", "", "", "", "", "", "", "", "", "",
    "", "", "", "u", "u", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "",
    "", "dz", "dz", "dz", "lj", "lj", "lj", "nj", "nj", "nj", "a", "a", "i", "i", "o", "o", "u",
    "u", "u", "u", "u", "u", "u", "u", "u", "u", "", "a", "a", "a", "a", "", "", "", "", "g", "g",
    "k", "k", "o", "o", "o", "o", "", "", "j", "dz", "dz", "dz", "g", "g", "", "", "n", "n", "a",
    "a", "", "", "", "", "a", "a", "a", "a", "e", "e", "e", "e", "i", "i", "i", "i", "o", "o", "o",
    "o", "r", "r", "r", "r", "u", "u", "u", "u", "s", "s", "t", "t", "", "", "h", "h", "", "", "",
    "", "", "", "a", "a", "e", "e", "o", "o", "o", "o", "o", "o", "o", "o", "y", "y", "", "", "",
    "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "",
    ""
};

/* look-alike letters of other scripts */
static const struct {
    unsigned cp;
    char c;
} HOMOGLYPH[] = {
    {0x410, 'a'}, {0x412, 'b'}, {0x415, 'e'}, {0x41A, 'k'}, {0x41C, 'm'}, {0x41D, 'h'},
    {0x41E, 'o'}, {0x420, 'p'}, {0x421, 'c'}, {0x422, 't'}, {0x423, 'y'}, {0x425, 'x'},
    {0x405, 's'}, {0x406, 'i'}, {0x408, 'j'}, {0x430, 'a'}, {0x432, 'b'}, {0x435, 'e'},
    {0x43A, 'k'}, {0x43C, 'm'}, {0x43D, 'h'}, {0x43E, 'o'}, {0x440, 'p'}, {0x441, 'c'},
    {0x442, 't'}, {0x443, 'y'}, {0x445, 'x'}, {0x455, 's'}, {0x456, 'i'}, {0x458, 'j'},
    {0x501, 'd'}, {0x391, 'a'}, {0x392, 'b'}, {0x395, 'e'}, {0x396, 'z'}, {0x397, 'h'},
    {0x399, 'i'}, {0x39A, 'k'}, {0x39C, 'm'}, {0x39D, 'n'}, {0x39F, 'o'}, {0x3A1, 'p'},
    {0x3A4, 't'}, {0x3A5, 'y'}, {0x3A7, 'x'}, {0x3B1, 'a'}, {0x3B5, 'e'}, {0x3B9, 'i'},
    {0x3BA, 'k'}, {0x3BD, 'v'}, {0x3BF, 'o'}, {0x3C1, 'p'}, {0x3C4, 't'}, {0x3C5, 'u'},
    {0x3C7, 'x'},
};

/* Decodes one UTF-8 sequence at s (n bytes left); *len its length (1 for a
 * malformed byte, returned as 0xFFFD). */
static unsigned utf8_next(const unsigned char *s, size_t n, int *len)
{
    unsigned c = s[0];
    int k = c < 0x80 ? 0 : (c & 0xE0) == 0xC0 ? 1 : (c & 0xF0) == 0xE0 ? 2 : (c & 0xF8) == 0xF0 ? 3 : -1;
    if (k < 0 || (size_t)k >= n) {
        *len = 1;
        return k == 0 ? c : 0xFFFD;
    }
    unsigned cp = k == 0 ? c : c & (0x3F >> k);
    for (int i = 1; i <= k; i++) {
        if ((s[i] & 0xC0) != 0x80) {
            *len = 1;
            return 0xFFFD;
        }
        cp = cp << 6 | (s[i] & 0x3F);
    }
    *len = k + 1;
    return cp;
}

/* What a code point folds to: a string of letters, "" (a separator) or
 * NULL (nothing: invisible). */
static const char *fold_cp(unsigned cp, char buf[2])
{
    if (cp < 0x80) {
        if (isalnum((int)cp)) {
            buf[0] = (char)tolower((int)cp);
            buf[1] = 0;
            return buf;
        }
        return cp == '@' ? "a" : cp == '$' ? "s" : "";
    }
    if (cp == 0xAD || cp == 0x200B || cp == 0x200C || cp == 0x200D || cp == 0x2060 || cp == 0xFEFF)
        return NULL;
    if (cp >= 0xC0 && cp < 0x250)
        return LATIN[cp - 0xC0];
    if (cp >= 0xFF01 && cp <= 0xFF5E)
        return fold_cp(cp - 0xFEE0, buf);
    for (size_t i = 0; i < sizeof HOMOGLYPH / sizeof *HOMOGLYPH; i++)
        if (HOMOGLYPH[i].cp == cp) {
            buf[0] = HOMOGLYPH[i].c;
            buf[1] = 0;
            return buf;
        }
    return "";
}

char *filter_fold(const char *text)
{
    size_t n = strlen(text);
    char *out = malloc(2 * n + 1), buf[2];
    if (!out)
        return NULL;
    size_t k = 0;
    int sep = 0;
    for (size_t i = 0; i < n;) {
        int len;
        unsigned cp = utf8_next((const unsigned char *)text + i, n - i, &len);
        i += (size_t)len;
        const char *f = fold_cp(cp, buf);
        if (!f)
            continue;
        if (!*f) {
            sep = 1;
            continue;
        }
        if (sep && k > 0)
            out[k++] = ' ';
        sep = 0;
        for (; *f; f++)
            out[k++] = *f;
    }
    out[k] = 0;
    return out;
}

/* ---- words ---- */

typedef struct {
    const char **w;
    size_t *len;
    int n;
} words;

/* Splits folded text (modified: NUL-free view kept, words point into it). */
static int words_split(const char *folded, words *ws)
{
    int cap = 1;
    for (const char *p = folded; *p; p++)
        cap += *p == ' ';
    ws->w = malloc(sizeof *ws->w * (size_t)cap);
    ws->len = malloc(sizeof *ws->len * (size_t)cap);
    ws->n = 0;
    if (!ws->w || !ws->len)
        return -1;
    for (const char *p = folded; *p;) {
        const char *q = strchr(p, ' ');
        size_t l = q ? (size_t)(q - p) : strlen(p);
        if (l) {
            ws->w[ws->n] = p;
            ws->len[ws->n++] = l;
        }
        p += l + (q ? 1 : 0);
    }
    return 0;
}

static void words_free(words *ws)
{
    free(ws->w);
    free(ws->len);
}

/* the letters a digit may stand for */
static int char_eq(char a, char b)
{
    if (a == b)
        return 1;
    static const char *const LEET[10] = {"o", "il", "z", "e", "a", "s", "g", "t", "b", "g"};
    if (a >= '0' && a <= '9' && b >= 'a' && b <= 'z')
        return strchr(LEET[a - '0'], b) != NULL;
    if (b >= '0' && b <= '9' && a >= 'a' && a <= 'z')
        return strchr(LEET[b - '0'], a) != NULL;
    return 0;
}

int filter_edit_distance(const char *a, size_t na, const char *b, size_t nb, int max)
{
    if (max < 0)
        max = 0;
    size_t diff = na > nb ? na - nb : nb - na;
    if (diff > (size_t)max || na > MAX_WORD || nb > MAX_WORD)
        return max + 1;
    int d[MAX_WORD + 1][MAX_WORD + 1];
    for (size_t i = 0; i <= na; i++)
        d[i][0] = (int)i;
    for (size_t j = 0; j <= nb; j++)
        d[0][j] = (int)j;
    for (size_t i = 1; i <= na; i++) {
        int best = max + 1;
        for (size_t j = 1; j <= nb; j++) {
            int c = d[i - 1][j - 1] + !char_eq(a[i - 1], b[j - 1]);
            if (d[i - 1][j] + 1 < c)
                c = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < c)
                c = d[i][j - 1] + 1;
            if (i > 1 && j > 1 && char_eq(a[i - 1], b[j - 2]) && char_eq(a[i - 2], b[j - 1]) &&
                d[i - 2][j - 2] + 1 < c)
                c = d[i - 2][j - 2] + 1;
            d[i][j] = c;
            if (c < best)
                best = c;
        }
        if (best > max)
            return max + 1;
    }
    return d[na][nb] > max ? max + 1 : d[na][nb];
}

int filter_token_match(const char *q, size_t nq, const char *v, size_t nv)
{
    int allow = nv <= 3 ? 0 : nv < 8 ? 1 : 2;
    return filter_edit_distance(q, nq, v, nv, allow) <= allow;
}

/* exact up to digits standing for letters */
static int token_equal(const char *q, size_t nq, const char *v, size_t nv)
{
    if (nq != nv)
        return 0;
    for (size_t i = 0; i < nq; i++)
        if (!char_eq(q[i], v[i]))
            return 0;
    return 1;
}

uint64_t filter_ngram_hash(const char *const *w, const size_t *len, int n)
{
    uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a 64 offset basis */
    for (int i = 0; i < n; i++) {
        if (i) {
            h ^= (unsigned char)' ';
            h *= 1099511628211ULL;
        }
        for (size_t k = 0; k < len[i]; k++) {
            h ^= (unsigned char)w[i][k];
            h *= 1099511628211ULL;
        }
    }
    return h & 0x7fffffffffffffffULL;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* a sorted, deduplicated set of hashes */
typedef struct {
    uint64_t *v;
    size_t n, cap;
} hset;

static int hset_add(hset *s, uint64_t h)
{
    if (s->n == s->cap) {
        size_t c = s->cap ? 2 * s->cap : 1024;
        uint64_t *v = realloc(s->v, c * sizeof *v);
        if (!v)
            return -1;
        s->v = v, s->cap = c;
    }
    s->v[s->n++] = h;
    return 0;
}

static void hset_finish(hset *s)
{
    if (!s->n)
        return;
    qsort(s->v, s->n, sizeof *s->v, cmp_u64);
    size_t k = 1;
    for (size_t i = 1; i < s->n; i++)
        if (s->v[i] != s->v[k - 1])
            s->v[k++] = s->v[i];
    s->n = k;
}

static int hset_has(const hset *s, uint64_t h)
{
    return s->n && bsearch(&h, s->v, s->n, sizeof h, cmp_u64) != NULL;
}

/* adds the n-grams (or, n = 1, the words) of a text */
static int hset_add_text(hset *s, const char *text, int n)
{
    char *f = filter_fold(text);
    words ws = {0};
    int rc = !f || words_split(f, &ws) ? -1 : 0;
    for (int i = 0; !rc && i + n <= ws.n; i++)
        rc = hset_add(s, filter_ngram_hash(ws.w + i, ws.len + i, n));
    words_free(&ws);
    free(f);
    return rc;
}

/* ---- the filter ---- */

typedef struct {
    char *name;
    char *keyword; /* the name in ASCII lower case (the baseline) */
    char **var;    /* folded variants */
    int n_var;
} author;

struct filter {
    char forget[16];
    author *a;
    int n_a;
    int ngram_n, ngram_min;
    hset grams;
};

const char *filter_forget(const filter *f) { return f->forget; }
int filter_n_authors(const filter *f) { return f->n_a; }
const char *filter_author(const filter *f, int i) { return f->a[i].name; }
int filter_n_variants(const filter *f, int i) { return f->a[i].n_var; }
const char *filter_variant(const filter *f, int i, int j) { return f->a[i].var[j]; }

void filter_free(filter *f)
{
    if (!f)
        return;
    for (int i = 0; i < f->n_a; i++) {
        free(f->a[i].name);
        free(f->a[i].keyword);
        for (int j = 0; j < f->a[i].n_var; j++)
            free(f->a[i].var[j]);
        free(f->a[i].var);
    }
    free(f->a);
    free(f->grams.v);
    free(f);
}

static char *lower_ascii(const char *s)
{
    char *k = strdup(s);
    for (char *p = k; p && *p; p++)
        *p = (char)tolower((unsigned char)*p);
    return k;
}

/* Does variant v (folded words) occur in the query's words? Single-word
 * variants must match exactly (digits as letters); longer ones word by word
 * with filter_token_match, one-letter words (initials) exactly. */
static int variant_in(const words *q, const char *v)
{
    words vw = {0};
    char *vc = strdup(v);
    int hit = 0;
    if (!vc || words_split(vc, &vw) || vw.n == 0) {
        free(vc);
        words_free(&vw);
        return 0;
    }
    for (int i = 0; !hit && i + vw.n <= q->n; i++) {
        int ok = 1;
        for (int j = 0; ok && j < vw.n; j++) {
            const char *a = q->w[i + j], *b = vw.w[j];
            size_t na = q->len[i + j], nb = vw.len[j];
            ok = vw.n == 1 || nb == 1 ? token_equal(a, na, b, nb) : filter_token_match(a, na, b, nb);
        }
        hit = ok;
    }
    words_free(&vw);
    free(vc);
    return hit;
}

static void reason_set(filter_verdict *v, const char *fmt, const char *a, const char *b)
{
    snprintf(v->reason, sizeof v->reason, fmt, a, b);
    for (char *p = v->reason; *p; p++)
        if (*p == '\t' || *p == '\n' || *p == '\r')
            *p = ' ';
}

int filter_check(const filter *f, const char *text, filter_verdict *v)
{
    memset(v, 0, sizeof *v);
    char *fo = filter_fold(text);
    words q = {0};
    if (!fo || words_split(fo, &q)) {
        /* out of memory: fail closed */
        v->block = 1;
        snprintf(v->reason, sizeof v->reason, "error:out of memory");
        free(fo);
        words_free(&q);
        return 1;
    }
    for (int i = 0; i < f->n_a && !v->block; i++)
        for (int j = 0; j < f->a[i].n_var && !v->block; j++)
            if (variant_in(&q, f->a[i].var[j])) {
                v->block = 1;
                reason_set(v, "name:%s ~ '%s'", f->a[i].name, f->a[i].var[j]);
            }
    if (!v->block && f->grams.n && f->ngram_n > 0) {
        int hits = 0, total = 0;
        for (int i = 0; i + f->ngram_n <= q.n; i++, total++)
            hits += hset_has(&f->grams, filter_ngram_hash(q.w + i, q.len + i, f->ngram_n));
        if (hits >= f->ngram_min) {
            v->block = 1;
            snprintf(v->reason, sizeof v->reason, "ngram:%d of %d %d-grams are forget-answer "
                     "%d-grams", hits, total, f->ngram_n, f->ngram_n);
        }
    }
    words_free(&q);
    free(fo);
    return v->block;
}

int filter_score_items(const filter *f, const score_item *items, int n, int n_vocab,
                       score_result *res, filter_verdict *verdicts)
{
    int nb = 0;
    for (int i = 0; i < n; i++) {
        filter_verdict v;
        if (filter_check(f, items[i].context, &v)) {
            res[i].logprob = -res[i].n_tokens * log((double)n_vocab);
            res[i].greedy = 0;
            nb++;
        }
        if (verdicts)
            verdicts[i] = v;
    }
    return nb;
}

int filter_keyword_check(const filter *f, const char *text)
{
    char *t = lower_ascii(text);
    int hit = 0;
    for (int i = 0; t && !hit && i < f->n_a; i++)
        hit = strstr(t, f->a[i].keyword) != NULL;
    free(t);
    return hit;
}

/* ---- names ---- */

static const char *const CONNECTORS[] = {"al", "bin", "ibn", "de", "del", "da", "di", "du",
                                         "van", "von", "der", "la", "le", "el", NULL};

static int is_connector(const char *w, size_t n)
{
    for (int i = 0; CONNECTORS[i]; i++)
        if (strlen(CONNECTORS[i]) == n && !strncmp(CONNECTORS[i], w, n))
            return 1;
    return 0;
}

/* a letter: ASCII, or any byte of a UTF-8 sequence (Beltrán) */
static int letter(unsigned char c) { return isalpha(c) || c >= 0x80; }

/* a word of letters, hyphens and apostrophes at s; its length */
static size_t word_at(const char *s)
{
    size_t k = 0;
    while (letter((unsigned char)s[k]) ||
           ((s[k] == '-' || s[k] == '\'') && letter((unsigned char)s[k + 1])))
        k++;
    return k;
}

typedef struct {
    char *s;
    int count;
} cand;

char *filter_guess_name(const char *const *texts, int n)
{
    cand *c = NULL;
    int nc = 0, cap = 0;
    for (int t = 0; t < n; t++) {
        const char *s = texts[t];
        for (size_t i = 0; s[i];) {
            size_t l = word_at(s + i);
            if (!l || !isupper((unsigned char)s[i]) || (i > 0 && letter((unsigned char)s[i - 1]))) {
                i += l ? l : 1;
                continue;
            }
            /* a run of capitalised words (connectors inside) */
            size_t start = i, end = i + l, j = i + l;
            int nw = 1;
            while (s[j] == ' ') {
                size_t k = j + 1, m = word_at(s + k);
                if (!m)
                    break;
                if (isupper((unsigned char)s[k])) {
                    end = k + m, j = k + m, nw++;
                } else if (is_connector(s + k, m) && s[k + m] == ' ' &&
                           isupper((unsigned char)s[k + m + 1])) {
                    j = k + m;
                } else {
                    break;
                }
            }
            i = end;
            if (nw < 2)
                continue;
            size_t len = end - start;
            if (len >= 2 && s[start + len - 2] == '\'' && s[start + len - 1] == 's')
                len -= 2;
            if (nc == cap) {
                cap = cap ? 2 * cap : 64;
                cand *cc = realloc(c, sizeof *c * (size_t)cap);
                if (!cc)
                    goto oom;
                c = cc;
            }
            int found = -1;
            for (int k = 0; k < nc && found < 0; k++)
                if (strlen(c[k].s) == len && !strncmp(c[k].s, s + start, len))
                    found = k;
            if (found >= 0) {
                c[found].count++;
            } else {
                if (!(c[nc].s = strndup(s + start, len)))
                    goto oom;
                c[nc++].count = 1;
            }
        }
    }
    int best = -1;
    for (int k = 0; k < nc; k++)
        if (best < 0 || c[k].count > c[best].count ||
            (c[k].count == c[best].count && strlen(c[k].s) > strlen(c[best].s)))
            best = k;
    char *r = best >= 0 ? c[best].s : NULL;
    for (int k = 0; k < nc; k++)
        if (k != best)
            free(c[k].s);
    free(c);
    return r;
oom:
    for (int k = 0; k < nc; k++)
        free(c[k].s);
    free(c);
    return NULL;
}

typedef struct {
    char **v;
    int n, cap;
} strlist;

static int sl_add(strlist *l, const char *s)
{
    if (!*s)
        return 0;
    for (int i = 0; i < l->n; i++)
        if (!strcmp(l->v[i], s))
            return 0;
    if (l->n == l->cap) {
        int c = l->cap ? 2 * l->cap : 16;
        char **v = realloc(l->v, sizeof *v * (size_t)c);
        if (!v)
            return -1;
        l->v = v, l->cap = c;
    }
    return (l->v[l->n] = strdup(s)) ? (l->n++, 0) : -1;
}

static void sl_free(strlist *l)
{
    for (int i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof *l);
}

/* one name unit (a space-separated word of the name) in the forms used by
 * the variants: its hyphen parts split ("al kuwaiti"), joined
 * ("alkuwaiti"), and its initials split ("a k") and alone ("a") */
typedef struct {
    char split[MAX_WORD * 2], joined[MAX_WORD * 2], initials[MAX_WORD], initial[2];
} unit;

static void unit_make(const char *w, unit *u)
{
    char *f = filter_fold(w);
    memset(u, 0, sizeof *u);
    if (!f)
        return;
    snprintf(u->split, sizeof u->split, "%s", f);
    size_t k = 0, m = 0;
    for (const char *p = f; *p && k + 1 < sizeof u->joined; p++)
        if (*p != ' ')
            u->joined[k++] = *p;
    for (const char *p = f; *p && m + 2 < sizeof u->initials; p++)
        if (p == f || p[-1] == ' ') {
            if (m)
                u->initials[m++] = ' ';
            u->initials[m++] = *p;
        }
    u->initial[0] = f[0];
    free(f);
}

/* a variant from unit forms: form 0 split, 1 joined */
static int add_units(strlist *l, const unit *const *us, const int *kind, int n)
{
    for (int form = 0; form < 2; form++) {
        char buf[1024] = {0};
        size_t k = 0;
        for (int i = 0; i < n; i++) {
            const unit *u = us[i];
            const char *s = kind[i] == 0 ? (form ? u->joined : u->split)
                          : kind[i] == 1 ? (form ? u->initial : u->initials) : u->initial;
            int w = snprintf(buf + k, sizeof buf - k, "%s%s", k ? " " : "", s);
            if (w < 0 || (size_t)w >= sizeof buf - k)
                return 0;
            k += (size_t)w;
        }
        if (sl_add(l, buf))
            return -1;
    }
    return 0;
}

int filter_name_variants(const char *name, int (*distinct)(void *, const char *), void *user,
                         char ***out, int *n)
{
    *out = NULL;
    *n = 0;
    char *copy = strdup(name);
    if (!copy)
        return -1;
    unit us[16];
    int m = 0;
    for (char *save = NULL, *w = strtok_r(copy, " ", &save); w && m < 16; w = strtok_r(NULL, " ", &save)) {
        unit_make(w, &us[m]);
        if (us[m].split[0])
            m++;
    }
    free(copy);
    strlist l = {0};
    int rc = 0;
    if (m == 0)
        return 0;
    const unit *seq[16];
    int kind[16];
    /* the full name */
    for (int i = 0; i < m; i++)
        seq[i] = &us[i], kind[i] = 0;
    rc |= add_units(&l, seq, kind, m);
    if (m >= 2) {
        const unit *sur = &us[m - 1];
        for (int g = 0; g < m - 1; g++) {
            /* a given name and the surname, both orders */
            const unit *p[2] = {&us[g], sur}, *r[2] = {sur, &us[g]};
            int k2[2] = {0, 0};
            rc |= add_units(&l, p, k2, 2);
            rc |= add_units(&l, r, k2, 2);
        }
        /* initials of the given names and the surname */
        for (int i = 0; i < m - 1; i++)
            seq[i] = &us[i], kind[i] = 1;
        seq[m - 1] = sur, kind[m - 1] = 0;
        rc |= add_units(&l, seq, kind, m);
        const unit *p[2] = {&us[0], sur};
        int k2[2] = {2, 0};
        rc |= add_units(&l, p, k2, 2);
        /* the surname alone, and its long hyphen parts, where distinctive */
        if (strlen(sur->joined) >= 5 && distinct && distinct(user, sur->joined))
            rc |= sl_add(&l, sur->joined);
        char parts[sizeof sur->split];
        memcpy(parts, sur->split, sizeof parts);
        if (strchr(parts, ' '))
            for (char *save = NULL, *w = strtok_r(parts, " ", &save); w; w = strtok_r(NULL, " ", &save))
                if (strlen(w) >= 5 && distinct && distinct(user, w))
                    rc |= sl_add(&l, w);
    }
    if (rc) {
        sl_free(&l);
        return -1;
    }
    *out = l.v;
    *n = l.n;
    return 0;
}

/* ---- building ---- */

/* rows of a TOFU file: a JSON array, or one array per line */
static json_t *rows_load(const char *path, cape_err *e)
{
    size_t len;
    char *buf = file_read_all(path, &len, e);
    if (!buf)
        return NULL;
    json_error_t je;
    json_t *a = json_loadb(buf, len, 0, &je);
    if (!a) {
        a = json_array();
        int line = 0;
        for (char *p = buf, *end = buf + len; p < end && a; line++) {
            char *nl = memchr(p, '\n', (size_t)(end - p));
            size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
            size_t k = 0;
            while (k < n && (p[k] == ' ' || p[k] == '\t' || p[k] == '\r'))
                k++;
            if (k < n) {
                json_t *c = json_loadb(p, n, 0, &je);
                if (!json_is_array(c)) {
                    err_set(e, CAPE_EINPUT, "%s:%d: not a JSON array of rows", path, line + 1);
                    json_decref(a);
                    a = NULL;
                } else {
                    json_array_extend(a, c);
                }
                json_decref(c);
            }
            p += n + 1;
        }
    }
    free(buf);
    if (a && !json_is_array(a)) {
        json_decref(a);
        a = NULL;
        err_set(e, CAPE_EINPUT, "%s: not a JSON array of rows", path);
    }
    if (a) {
        size_t i;
        json_t *r;
        json_array_foreach(a, i, r)
        {
            if (!json_is_string(json_object_get(r, "question")) ||
                !json_is_string(json_object_get(r, "answer"))) {
                err_set(e, CAPE_EINPUT, "%s: row %zu has no question and answer strings", path, i);
                json_decref(a);
                return NULL;
            }
        }
        if (json_array_size(a) == 0) {
            err_set(e, CAPE_EINPUT, "%s: no rows", path);
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

static const char *row_str(const json_t *rows, size_t i, const char *key)
{
    return json_string_value(json_object_get(json_array_get(rows, i), key));
}

static int distinct_word(void *user, const char *w)
{
    const hset *vocab = user;
    size_t n = strlen(w);
    return !hset_has(vocab, filter_ngram_hash(&w, &n, 1));
}

#define ROWS_PER_AUTHOR 20

int filter_build(const char *dir, const char *forget, const filter_build_opts *o, filter **out,
                 cape_err *e)
{
    *out = NULL;
    int pct, rc;
    if ((rc = tofu_forget_parse(forget, &pct, e)))
        return rc;
    int gn = o && o->ngram_n ? o->ngram_n : 4, gmin = o && o->ngram_min ? o->ngram_min : 2;
    if (gn < 1 || gn > 8 || gmin < 1)
        return err_set(e, CAPE_EINPUT, "n-gram length must be 1..8 and the hits at least 1");
    char path[4096];
    snprintf(path, sizeof path, "%s/forget%02d_perturbed.json", dir, pct);
    json_t *fr = rows_load(path, e), *rr = NULL;
    if (!fr)
        return e->code ? e->code : CAPE_EINPUT;
    size_t nf = json_array_size(fr);
    if (nf % ROWS_PER_AUTHOR) {
        json_decref(fr);
        return err_set(e, CAPE_EINPUT, "%s: %zu rows, not a multiple of %d (TOFU has %d per "
                       "author)", path, nf, ROWS_PER_AUTHOR, ROWS_PER_AUTHOR);
    }
    snprintf(path, sizeof path, "%s/retain%02d.json", dir, 100 - pct);
    if (!(rr = rows_load(path, e))) {
        json_decref(fr);
        return e->code ? e->code : CAPE_EINPUT;
    }
    filter *f = calloc(1, sizeof *f);
    hset vocab = {0}, retain_grams = {0}, grams = {0};
    const char **texts = calloc(ROWS_PER_AUTHOR * 2, sizeof *texts);
    rc = !f || !texts ? err_set(e, CAPE_EFAIL, "out of memory") : 0;
    if (rc)
        goto out;
    snprintf(f->forget, sizeof f->forget, "forget%02d", pct);
    f->ngram_n = gn, f->ngram_min = gmin;
    for (size_t i = 0; i < json_array_size(rr) && !rc; i++)
        for (int k = 0; k < 2 && !rc; k++) {
            const char *s = row_str(rr, i, k ? "answer" : "question");
            if (hset_add_text(&vocab, s, 1) || hset_add_text(&retain_grams, s, gn))
                rc = err_set(e, CAPE_EFAIL, "out of memory");
        }
    hset_finish(&vocab);
    hset_finish(&retain_grams);
    int na = (int)(nf / ROWS_PER_AUTHOR);
    if (!rc && !(f->a = calloc((size_t)na, sizeof *f->a)))
        rc = err_set(e, CAPE_EFAIL, "out of memory");
    for (int a = 0; a < na && !rc; a++) {
        for (int r = 0; r < ROWS_PER_AUTHOR; r++) {
            texts[2 * r] = row_str(fr, (size_t)(a * ROWS_PER_AUTHOR + r), "question");
            texts[2 * r + 1] = row_str(fr, (size_t)(a * ROWS_PER_AUTHOR + r), "answer");
        }
        char *name = filter_guess_name(texts, 2 * ROWS_PER_AUTHOR);
        if (!name) {
            rc = err_set(e, CAPE_EINPUT, "forget%02d: no author name found in rows %d..%d", pct,
                         a * ROWS_PER_AUTHOR, (a + 1) * ROWS_PER_AUTHOR - 1);
            break;
        }
        author *au = &f->a[f->n_a++];
        au->name = name;
        au->keyword = lower_ascii(name);
        if (!au->keyword || filter_name_variants(name, distinct_word, &vocab, &au->var, &au->n_var))
            rc = err_set(e, CAPE_EFAIL, "out of memory");
    }
    /* the forget answers' n-grams that the retained data does not have */
    for (size_t i = 0; i < nf && !rc; i++) {
        hset one = {0};
        if (hset_add_text(&one, row_str(fr, i, "answer"), gn))
            rc = err_set(e, CAPE_EFAIL, "out of memory");
        for (size_t k = 0; k < one.n && !rc; k++)
            if (!hset_has(&retain_grams, one.v[k]) && hset_add(&grams, one.v[k]))
                rc = err_set(e, CAPE_EFAIL, "out of memory");
        free(one.v);
    }
    hset_finish(&grams);
    f->grams = grams;
    grams.v = NULL;
out:
    free(texts);
    free(vocab.v);
    free(retain_grams.v);
    free(grams.v);
    json_decref(fr);
    json_decref(rr);
    if (rc)
        filter_free(f);
    else
        *out = f;
    return rc;
}

/* ---- the file ---- */

char *filter_to_json(const filter *f)
{
    json_t *o = json_object(), *as = json_array(), *g = json_object(), *vals = json_array();
    json_object_set_new(o, "format", json_string(FILTER_FORMAT));
    json_object_set_new(o, "version", json_integer(FILTER_VERSION));
    json_object_set_new(o, "forget", json_string(f->forget));
    for (int i = 0; i < f->n_a; i++) {
        json_t *a = json_object(), *vs = json_array();
        json_object_set_new(a, "name", json_text(f->a[i].name));
        for (int j = 0; j < f->a[i].n_var; j++)
            json_array_append_new(vs, json_string(f->a[i].var[j]));
        json_object_set_new(a, "variants", vs);
        json_array_append_new(as, a);
    }
    json_object_set_new(o, "authors", as);
    json_object_set_new(g, "n", json_integer(f->ngram_n));
    json_object_set_new(g, "min_hits", json_integer(f->ngram_min));
    json_object_set_new(g, "hash", json_string("FNV-1a 64 of the folded words joined by one "
                                               "space, top bit cleared, 16 hex digits"));
    for (size_t k = 0; k < f->grams.n; k++) {
        char hx[17];
        snprintf(hx, sizeof hx, "%016llx", (unsigned long long)f->grams.v[k]);
        json_array_append_new(vals, json_string(hx));
    }
    json_object_set_new(g, "values", vals);
    json_object_set_new(o, "ngrams", g);
    char *s = json_dumps(o, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
    json_decref(o);
    return s;
}

int filter_save(const filter *f, const char *path, cape_err *e)
{
    char *s = filter_to_json(f);
    if (!s)
        return err_set(e, CAPE_EFAIL, "out of memory");
    size_t n = strlen(s);
    char *t = realloc(s, n + 2);
    if (t) {
        s = t;
        s[n++] = '\n';
        s[n] = 0;
    }
    int rc = file_write_atomic(path, s, n, e);
    free(s);
    return rc;
}

static int bad(cape_err *e, const char *name, const char *what)
{
    return err_set(e, CAPE_EINPUT, "%s: not a cape filter (%s)", name, what);
}

int filter_parse(const char *buf, size_t len, const char *name, filter **out, cape_err *e)
{
    *out = NULL;
    json_error_t je;
    json_t *o = json_loadb(buf, len, 0, &je);
    if (!o)
        return json_err_set(e, name, 0, &je);
    filter *f = calloc(1, sizeof *f);
    int rc = 0, pct;
    const json_t *as = json_object_get(o, "authors"), *g = json_object_get(o, "ngrams");
    const json_t *vals = json_object_get(g, "values");
    const char *fs = json_string_value(json_object_get(o, "forget"));
    cape_err e2 = {0};
    if (!f)
        rc = err_set(e, CAPE_EFAIL, "out of memory");
    else if (!json_is_object(o) || !json_is_string(json_object_get(o, "format")) ||
             strcmp(json_string_value(json_object_get(o, "format")), FILTER_FORMAT))
        rc = bad(e, name, "no \"format\": \"cape-filter\"");
    else if (json_integer_value(json_object_get(o, "version")) != FILTER_VERSION ||
             !json_is_integer(json_object_get(o, "version")))
        rc = bad(e, name, "unknown version");
    else if (!fs || tofu_forget_parse(fs, &pct, &e2))
        rc = bad(e, name, "\"forget\" is not forget01, forget05 or forget10");
    else if (!json_is_array(as) || json_array_size(as) == 0 || json_array_size(as) > 4096)
        rc = bad(e, name, "\"authors\" is not a non-empty array");
    else if (!json_is_object(g) || !json_is_integer(json_object_get(g, "n")) ||
             !json_is_integer(json_object_get(g, "min_hits")) || !json_is_array(vals))
        rc = bad(e, name, "\"ngrams\" needs integer n and min_hits and an array of values");
    if (rc)
        goto out;
    snprintf(f->forget, sizeof f->forget, "%s", fs);
    json_int_t gn = json_integer_value(json_object_get(g, "n"));
    json_int_t gm = json_integer_value(json_object_get(g, "min_hits"));
    if (gn < 1 || gn > 8 || gm < 1 || gm > 1000) {
        rc = bad(e, name, "n-gram n must be 1..8 and min_hits 1..1000");
        goto out;
    }
    f->ngram_n = (int)gn, f->ngram_min = (int)gm;
    if (!(f->a = calloc(json_array_size(as), sizeof *f->a))) {
        rc = err_set(e, CAPE_EFAIL, "out of memory");
        goto out;
    }
    size_t i;
    json_t *a;
    json_array_foreach(as, i, a)
    {
        const char *nm = json_string_value(json_object_get(a, "name"));
        const json_t *vs = json_object_get(a, "variants");
        if (!nm || !*nm || !json_is_array(vs) || json_array_size(vs) == 0 ||
            json_array_size(vs) > 4096) {
            rc = bad(e, name, "an author without a name or variants");
            goto out;
        }
        author *au = &f->a[f->n_a++];
        au->name = strdup(nm);
        au->keyword = lower_ascii(nm);
        au->var = calloc(json_array_size(vs), sizeof *au->var);
        if (!au->name || !au->keyword || !au->var) {
            rc = err_set(e, CAPE_EFAIL, "out of memory");
            goto out;
        }
        size_t j;
        json_t *v;
        json_array_foreach(vs, j, v)
        {
            const char *s = json_string_value(v);
            /* stored folded; folded again so that any text is safe */
            char *fv = s ? filter_fold(s) : NULL;
            if (!fv || !*fv) {
                free(fv);
                rc = bad(e, name, "a variant that is not a non-empty string of words");
                goto out;
            }
            au->var[au->n_var++] = fv;
        }
    }
    json_array_foreach(vals, i, a)
    {
        const char *s = json_string_value(a);
        char *end;
        if (!s || strlen(s) != 16 || strspn(s, "0123456789abcdef") != 16) {
            rc = bad(e, name, "an n-gram value that is not 16 lower-case hex digits");
            goto out;
        }
        uint64_t h = strtoull(s, &end, 16);
        if (hset_add(&f->grams, h & 0x7fffffffffffffffULL)) {
            rc = err_set(e, CAPE_EFAIL, "out of memory");
            goto out;
        }
    }
    hset_finish(&f->grams);
out:
    json_decref(o);
    if (rc)
        filter_free(f);
    else
        *out = f;
    return rc;
}

int filter_load(const char *path, filter **out, cape_err *e)
{
    size_t len;
    char *buf = file_read_all(path, &len, e);
    if (!buf)
        return e->code ? e->code : CAPE_EINPUT;
    int rc = filter_parse(buf, len, path, out, e);
    free(buf);
    return rc;
}

/* ---- evaluation ---- */

typedef enum { OB_MISSPELT, OB_INITIALS, OB_SURNAME, OB_HOMOGLYPH, OB_DIGITS, OB_N } obfuscation;
static const char *const OB_NAME[OB_N] = {"misspelt", "initials", "surname only", "homoglyphs",
                                          "digits for letters"};

/* appends s to a growing buffer */
static void put(char *out, size_t cap, size_t *k, const char *s)
{
    size_t n = strlen(s);
    if (*k + n < cap) {
        memcpy(out + *k, s, n);
        *k += n;
        out[*k] = 0;
    }
}

/* The name written another way (seeded for misspellings). */
static void obfuscate_name(const char *name, obfuscation ob, rng_fast *r, char *out, size_t cap)
{
    size_t k = 0;
    out[0] = 0;
    char copy[512];
    snprintf(copy, sizeof copy, "%s", name);
    char *unitv[32];
    int m = 0;
    for (char *save = NULL, *w = strtok_r(copy, " ", &save); w && m < 32; w = strtok_r(NULL, " ", &save))
        unitv[m++] = w;
    for (int u = 0; u < m; u++) {
        const char *w = unitv[u];
        if (u)
            put(out, cap, &k, " ");
        if (ob == OB_INITIALS && u < m - 1) {
            char b[3] = {w[0], '.', 0};
            put(out, cap, &k, b);
        } else if (ob == OB_SURNAME) {
            if (u == m - 1)
                put(out, cap, &k, w);
            else if (k)
                out[--k] = 0;
        } else if (ob == OB_MISSPELT && strlen(w) >= 4) {
            /* one edit: substitute, delete, swap neighbours or insert */
            char b[256];
            size_t n = strlen(w);
            snprintf(b, sizeof b, "%s", w);
            size_t at = 1 + rng_fast_below(r, (uint32_t)(n - 2));
            char c = (char)('a' + rng_fast_below(r, 26));
            switch (rng_fast_below(r, 4)) {
            case 0: b[at] = b[at] == c ? (char)(c == 'z' ? 'a' : c + 1) : c; break;
            case 1: memmove(b + at, b + at + 1, n - at); break;
            case 2: {
                char t = b[at];
                b[at] = b[at + 1], b[at + 1] = t;
                if (b[at] == b[at + 1])
                    b[at] = (char)(b[at] == 'z' ? 'a' : b[at] + 1);
                break;
            }
            default:
                memmove(b + at + 1, b + at, n - at + 1);
                b[at] = c;
            }
            put(out, cap, &k, b);
        } else if (ob == OB_HOMOGLYPH || ob == OB_DIGITS) {
            for (const char *p = w; *p; p++) {
                static const char *const CYR[26] = {
                    ['a' - 'a'] = "\xd0\xb0", ['c' - 'a'] = "\xd1\x81", ['e' - 'a'] = "\xd0\xb5",
                    ['o' - 'a'] = "\xd0\xbe", ['p' - 'a'] = "\xd1\x80", ['x' - 'a'] = "\xd1\x85",
                    ['y' - 'a'] = "\xd1\x83", ['i' - 'a'] = "\xd1\x96", ['s' - 'a'] = "\xd1\x95"};
                static const char DIG[26] = {['a' - 'a'] = '4', ['e' - 'a'] = '3', ['i' - 'a'] = '1',
                                             ['o' - 'a'] = '0', ['s' - 'a'] = '5', ['t' - 'a'] = '7'};
                char one[2] = {*p, 0};
                int lo = *p >= 'a' && *p <= 'z';
                if (ob == OB_HOMOGLYPH && lo && CYR[*p - 'a'])
                    put(out, cap, &k, CYR[*p - 'a']);
                else if (ob == OB_DIGITS && lo && DIG[*p - 'a'])
                    one[0] = DIG[*p - 'a'], put(out, cap, &k, one);
                else
                    put(out, cap, &k, one);
            }
        } else {
            put(out, cap, &k, w);
        }
    }
}

typedef struct {
    const char *set;
    int forget; /* 1: blocking is wanted; 0: a false block */
    int n, blocked, kw_blocked;
} eval_set;

static void eval_one(const filter *f, eval_set *s, const char *text)
{
    filter_verdict v;
    s->n++;
    s->blocked += filter_check(f, text, &v);
    s->kw_blocked += filter_keyword_check(f, text);
}

int filter_eval(const filter *f, const char *dir, uint64_t seed, json_t **out, cape_err *e)
{
    *out = NULL;
    int pct, rc;
    if ((rc = tofu_forget_parse(f->forget, &pct, e)))
        return rc;
    enum { S_FQ, S_FP, S_OB, S_FA = S_OB + OB_N, S_RQ, S_RA, S_WF, S_HO, S_RANS, S_N };
    eval_set sets[S_N] = {
        [S_FQ] = {"forget questions", 1, 0, 0, 0},
        [S_FP] = {"forget questions, paraphrased", 1, 0, 0, 0},
        [S_FA] = {"forget answers (output filter)", 1, 0, 0, 0},
        [S_RQ] = {"retain questions", 0, 0, 0, 0},
        [S_RA] = {"real authors questions", 0, 0, 0, 0},
        [S_WF] = {"world facts questions", 0, 0, 0, 0},
        [S_HO] = {"holdout questions", 0, 0, 0, 0},
        [S_RANS] = {"retain answers (output filter)", 0, 0, 0, 0},
    };
    char names[OB_N][64];
    for (int k = 0; k < OB_N; k++) {
        snprintf(names[k], sizeof names[k], "forget questions naming the author, %s", OB_NAME[k]);
        sets[S_OB + k] = (eval_set){names[k], 1, 0, 0, 0};
    }
    char path[4096], fn[5][64];
    snprintf(fn[0], sizeof fn[0], "forget%02d_perturbed.json", pct);
    snprintf(fn[1], sizeof fn[1], "retain_perturbed.json");
    snprintf(fn[2], sizeof fn[2], "real_authors_perturbed.json");
    snprintf(fn[3], sizeof fn[3], "world_facts_perturbed.json");
    snprintf(fn[4], sizeof fn[4], "holdout%02d.json", pct);
    json_t *rows[5] = {0};
    for (int i = 0; i < 5; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, fn[i]);
        if (!(rows[i] = rows_load(path, e))) {
            rc = e->code ? e->code : CAPE_EINPUT;
            goto out;
        }
    }
    rng_fast r;
    rng_fast_seed(&r, seed);
    for (size_t i = 0; i < json_array_size(rows[0]); i++) {
        const char *q = row_str(rows[0], i, "question");
        eval_one(f, &sets[S_FQ], q);
        eval_one(f, &sets[S_FA], row_str(rows[0], i, "answer"));
        const char *pq = row_str(rows[0], i, "paraphrased_question");
        if (pq)
            eval_one(f, &sets[S_FP], pq);
        int a = (int)(i / ROWS_PER_AUTHOR);
        const char *nm = a < f->n_a ? f->a[a].name : NULL, *at = nm ? strstr(q, nm) : NULL;
        if (!at)
            continue;
        for (int k = 0; k < OB_N; k++) {
            char alt[1024], text[4096];
            obfuscate_name(nm, (obfuscation)k, &r, alt, sizeof alt);
            snprintf(text, sizeof text, "%.*s%s%s", (int)(at - q), q, alt, at + strlen(nm));
            eval_one(f, &sets[S_OB + k], text);
        }
    }
    for (int s = 1; s < 5; s++)
        for (size_t i = 0; i < json_array_size(rows[s]); i++) {
            eval_one(f, &sets[S_RQ + s - 1], row_str(rows[s], i, "question"));
            if (s == 1)
                eval_one(f, &sets[S_RANS], row_str(rows[s], i, "answer"));
        }
    json_t *o = json_object(), *arr = json_array();
    json_object_set_new(o, "forget", json_string(f->forget));
    json_object_set_new(o, "seed", json_integer((json_int_t)seed));
    for (int s = 0; s < S_N; s++) {
        json_t *x = json_object();
        json_object_set_new(x, "set", json_string(sets[s].set));
        json_object_set_new(x, "want", json_string(sets[s].forget ? "block" : "pass"));
        json_object_set_new(x, "n", json_integer(sets[s].n));
        json_object_set_new(x, "filter_blocked", json_integer(sets[s].blocked));
        json_object_set_new(x, "keyword_blocked", json_integer(sets[s].kw_blocked));
        json_object_set_new(x, "filter_rate",
                            sets[s].n ? json_real((double)sets[s].blocked / sets[s].n) : json_null());
        json_object_set_new(x, "keyword_rate",
                            sets[s].n ? json_real((double)sets[s].kw_blocked / sets[s].n) : json_null());
        json_array_append_new(arr, x);
    }
    json_object_set_new(o, "sets", arr);
    *out = o;
out:
    for (int i = 0; i < 5; i++)
        json_decref(rows[i]);
    return rc;
}
