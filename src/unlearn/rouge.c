/* rouge: rouge_score's default tokenizer with use_stemmer=True, NLTK's Porter
 * stemmer (NLTK_EXTENSIONS mode) and the ROUGE-1 / ROUGE-L scores built on
 * them. Written from the published algorithm (Porter 1980) and the rules
 * NLTK adds to it; every rule below names the step it belongs to. */
#include "unlearn/rouge.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- Porter */

static int is_vowel(char c)
{
    return c == 'a' || c == 'e' || c == 'i' || c == 'o' || c == 'u';
}

/* w[i] is a consonant: not a vowel, and a 'y' only when the letter before it
 * is a vowel (or it starts the word). A run of y's alternates. */
static int cons(const char *w, size_t i)
{
    int negate = 0;
    while (i > 0 && w[i] == 'y') {
        negate = !negate;
        i--;
    }
    return (!is_vowel(w[i])) != negate;
}

/* m, the number of vowel-run -> consonant-run transitions in w[0..n). */
static int measure(const char *w, size_t n)
{
    int m = 0, prev = 1; /* previous flag: consonant */
    for (size_t i = 0; i < n; i++) {
        int c;
        if (is_vowel(w[i]))
            c = 0;
        else if (w[i] == 'y')
            c = i == 0 ? 1 : !prev;
        else
            c = 1;
        if (i > 0 && !prev && c)
            m++;
        prev = c;
    }
    return m;
}

static int contains_vowel(const char *w, size_t n)
{
    int prev = 1;
    for (size_t i = 0; i < n; i++) {
        int c;
        if (is_vowel(w[i]))
            c = 0;
        else if (w[i] == 'y')
            c = i == 0 ? 1 : !prev;
        else
            c = 1;
        if (!c)
            return 1;
        prev = c;
    }
    return 0;
}

static int ends_double_cons(const char *w, size_t n)
{
    return n >= 2 && w[n - 1] == w[n - 2] && cons(w, n - 1);
}

/* *o: ends consonant-vowel-consonant, the last not w, x or y; NLTK also
 * accepts a two-letter vowel-consonant word. */
static int ends_cvc(const char *w, size_t n)
{
    if (n >= 3 && cons(w, n - 3) && !cons(w, n - 2) && cons(w, n - 1) && w[n - 1] != 'w' &&
        w[n - 1] != 'x' && w[n - 1] != 'y')
        return 1;
    return n == 2 && !cons(w, 0) && cons(w, 1);
}

/* w[0..n) ends with the sl bytes of suf (suffixes are short: a plain loop,
 * last byte first, beats a library call) */
static inline int ends(const char *w, size_t n, const char *suf, size_t sl)
{
    if (n < sl)
        return 0;
    for (size_t i = sl; i-- > 0;)
        if (w[n - sl + i] != suf[i])
            return 0;
    return 1;
}

/* w[0..*n) loses its last `cut` bytes and gains rep (rl bytes) */
static void replace_tail_n(char *w, size_t *n, size_t cut, const char *rep, size_t rl)
{
    for (size_t i = 0; i < rl; i++)
        w[*n - cut + i] = rep[i];
    *n = *n - cut + rl;
}

static void replace_tail(char *w, size_t *n, size_t cut, const char *rep)
{
    replace_tail_n(w, n, cut, rep, strlen(rep));
}

enum { C_NONE, C_M0, C_M1, C_ION, C_LOGI };

typedef struct {
    const char *suf, *rep;
    unsigned char sl, rl;
    int cond;
} porter_rule;

/* a rule: suffix, replacement (lengths taken at compile time), condition */
#define R(suf, rep, cond) {suf, rep, sizeof suf - 1, sizeof rep - 1, cond}

static int rule_holds(const char *w, size_t n, size_t stem, int cond)
{
    switch (cond) {
    case C_M0:
        return measure(w, stem) > 0;
    case C_M1:
        return measure(w, stem) > 1;
    case C_ION:
        return measure(w, stem) > 1 && stem > 0 && (w[stem - 1] == 's' || w[stem - 1] == 't');
    case C_LOGI: /* the 'l' of -logi stays with the stem when measuring */
        return measure(w, n - 3) > 0;
    default:
        return 1;
    }
}

/* The first rule whose suffix ends the word decides: it applies when its
 * condition holds, and no later rule is tried either way. */
static void apply_rules(char *w, size_t *n, const porter_rule *r, size_t nr)
{
    if (*n == 0)
        return;
    char last = w[*n - 1];
    for (size_t k = 0; k < nr; k++) {
        size_t sl = r[k].sl;
        if (r[k].suf[sl - 1] != last || !ends(w, *n, r[k].suf, sl))
            continue;
        if (rule_holds(w, *n, *n - sl, r[k].cond))
            replace_tail_n(w, n, sl, r[k].rep, r[k].rl);
        return;
    }
}

static void step1a(char *w, size_t *n)
{
    if (*n == 4 && ends(w, *n, "ies", 3)) { /* NLTK: dies -> die */
        replace_tail(w, n, 3, "ie");
        return;
    }
    static const porter_rule r[] = {
        R("sses", "ss", C_NONE), R("ies", "i", C_NONE), R("ss", "ss", C_NONE), R("s", "", C_NONE)};
    apply_rules(w, n, r, sizeof r / sizeof *r);
}

static void step1b(char *w, size_t *n)
{
    if (ends(w, *n, "ied", 3)) { /* NLTK: died -> die, spied -> spi */
        replace_tail(w, n, 3, *n == 4 ? "ie" : "i");
        return;
    }
    if (ends(w, *n, "eed", 3)) {
        if (measure(w, *n - 3) > 0)
            *n -= 1;
        return;
    }
    size_t s;
    if (ends(w, *n, "ed", 2) && contains_vowel(w, *n - 2))
        s = *n - 2;
    else if (ends(w, *n, "ing", 3) && contains_vowel(w, *n - 3))
        s = *n - 3;
    else
        return;
    *n = s; /* the suffix is gone; now tidy the stem */
    if (ends(w, s, "at", 2) || ends(w, s, "bl", 2) || ends(w, s, "iz", 2)) {
        w[(*n)++] = 'e';
        return;
    }
    if (ends_double_cons(w, s)) {
        char last = w[s - 1];
        if (last != 'l' && last != 's' && last != 'z')
            *n = s - 1;
        return;
    }
    if (measure(w, s) == 1 && ends_cvc(w, s))
        w[(*n)++] = 'e';
}

static void step1c(char *w, size_t *n)
{
    /* NLTK: y -> i only after a consonant that is not the whole stem */
    if (ends(w, *n, "y", 1) && *n - 1 > 1 && cons(w, *n - 2))
        w[*n - 1] = 'i';
}

static void step2(char *w, size_t *n)
{
    static const porter_rule r[] = {
        R("ational", "ate", C_M0), R("tional", "tion", C_M0), R("enci", "ence", C_M0),
        R("anci", "ance", C_M0),   R("izer", "ize", C_M0),    R("bli", "ble", C_M0),
        R("alli", "al", C_M0),     R("entli", "ent", C_M0),   R("eli", "e", C_M0),
        R("ousli", "ous", C_M0),   R("ization", "ize", C_M0), R("ation", "ate", C_M0),
        R("ator", "ate", C_M0),    R("alism", "al", C_M0),    R("iveness", "ive", C_M0),
        R("fulness", "ful", C_M0), R("ousness", "ous", C_M0), R("aliti", "al", C_M0),
        R("iviti", "ive", C_M0),   R("biliti", "ble", C_M0),  R("fulli", "ful", C_M0),
        R("logi", "log", C_LOGI)};
    /* NLTK: -alli -> -al first, and the result goes through step 2 again */
    while (ends(w, *n, "alli", 4) && measure(w, *n - 4) > 0)
        *n -= 2;
    apply_rules(w, n, r, sizeof r / sizeof *r);
}

static void step3(char *w, size_t *n)
{
    static const porter_rule r[] = {R("icate", "ic", C_M0), R("ative", "", C_M0),
                                    R("alize", "al", C_M0), R("iciti", "ic", C_M0),
                                    R("ical", "ic", C_M0),  R("ful", "", C_M0),
                                    R("ness", "", C_M0)};
    apply_rules(w, n, r, sizeof r / sizeof *r);
}

static void step4(char *w, size_t *n)
{
    static const porter_rule r[] = {
        R("al", "", C_M1),   R("ance", "", C_M1), R("ence", "", C_M1),  R("er", "", C_M1),
        R("ic", "", C_M1),   R("able", "", C_M1), R("ible", "", C_M1),  R("ant", "", C_M1),
        R("ement", "", C_M1), R("ment", "", C_M1), R("ent", "", C_M1),  R("ion", "", C_ION),
        R("ou", "", C_M1),   R("ism", "", C_M1),  R("ate", "", C_M1),   R("iti", "", C_M1),
        R("ous", "", C_M1),  R("ive", "", C_M1),  R("ize", "", C_M1)};
    apply_rules(w, n, r, sizeof r / sizeof *r);
}

static void step5(char *w, size_t *n)
{
    if (ends(w, *n, "e", 1)) { /* 5a */
        int m = measure(w, *n - 1);
        if (m > 1 || (m == 1 && !ends_cvc(w, *n - 1)))
            *n -= 1;
    }
    if (ends(w, *n, "ll", 2) && measure(w, *n - 1) > 1) /* 5b */
        *n -= 1;
}

/* NLTK's table of irregular forms, looked up before any rule */
static const char *const porter_pool[][2] = {
    {"sky", "sky"},         {"skies", "sky"},       {"dying", "die"},     {"lying", "lie"},
    {"tying", "tie"},       {"news", "news"},       {"innings", "inning"}, {"inning", "inning"},
    {"outings", "outing"},  {"outing", "outing"},   {"cannings", "canning"},
    {"canning", "canning"}, {"howe", "howe"},       {"proceed", "proceed"},
    {"exceed", "exceed"},   {"succeed", "succeed"}};

size_t rouge_porter_stem(const char *word, size_t len, char *out)
{
    for (size_t k = 0; len >= 3 && len <= 8 && k < sizeof porter_pool / sizeof *porter_pool; k++)
        if (porter_pool[k][0][0] == word[0] && strlen(porter_pool[k][0]) == len &&
            memcmp(porter_pool[k][0], word, len) == 0) {
            size_t l = strlen(porter_pool[k][1]);
            memcpy(out, porter_pool[k][1], l + 1);
            return l;
        }
    memmove(out, word, len);
    out[len] = 0;
    if (len <= 2)
        return len;
    size_t n = len;
    step1a(out, &n);
    step1b(out, &n);
    step1c(out, &n);
    step2(out, &n);
    step3(out, &n);
    step4(out, &n);
    step5(out, &n);
    out[n] = 0;
    return n;
}

/* ------------------------------------------------------------- tokenizer */

typedef struct {
    char *buf;      /* the words, each NUL-terminated */
    const char **s; /* token i: its text (in buf, or in a repeat's first copy) */
    size_t *len;    /* its length */
    uint32_t *id;   /* its id, shared between the two texts */
    size_t n;
} token_list;

static void tokens_free(token_list *t)
{
    free(t->buf);
    free(t->s);
    free(t->len);
    free(t->id);
    memset(t, 0, sizeof *t);
}

/* Python's str.lower() followed by [^a-z0-9]+ -> ' ': ASCII letters fold,
 * digits stay, and of all non-ASCII characters only two lower-case into
 * ASCII: U+0130 (to "i" and a combining dot, which then separates) and the
 * Kelvin sign U+212A (to "k"). Returns the byte count consumed and sets *c
 * to the kept character or 0 for a separator. */
static size_t next_char(const unsigned char *s, size_t L, size_t i, char *c)
{
    unsigned char b = s[i];
    *c = 0;
    if (b >= 'A' && b <= 'Z')
        *c = (char)(b - 'A' + 'a');
    else if ((b >= 'a' && b <= 'z') || (b >= '0' && b <= '9'))
        *c = (char)b;
    else if (b == 0xC4 && i + 1 < L && s[i + 1] == 0xB0)
        *c = 'i'; /* the next byte, 0xB0, then separates as the dot does */
    else if (b == 0xE2 && i + 2 < L && s[i + 1] == 0x84 && s[i + 2] == 0xAA) {
        *c = 'k';
        return 3;
    }
    return 1;
}

/* The words of a text, lower-cased and not yet stemmed */
static int tokenize(const char *text, token_list *t)
{
    memset(t, 0, sizeof *t);
    size_t L = text ? strlen(text) : 0;
    const unsigned char *s = (const unsigned char *)text;
    t->buf = malloc(L + 2);
    t->s = malloc((L / 2 + 1) * sizeof *t->s);
    t->len = malloc((L / 2 + 1) * sizeof *t->len);
    t->id = malloc((L / 2 + 1) * sizeof *t->id);
    if (!t->buf || !t->s || !t->len || !t->id) {
        tokens_free(t);
        return -1;
    }
    size_t w = 0, start = 0;
    int in_tok = 0;
    for (size_t i = 0; i <= L;) {
        char c = 0;
        size_t adv = i < L ? next_char(s, L, i, &c) : 1;
        if (c) {
            if (!in_tok) {
                start = w;
                in_tok = 1;
            }
            t->buf[w++] = c;
        } else if (in_tok) {
            size_t len = w - start;
            t->buf[w++] = 0;
            t->s[t->n] = t->buf + start;
            t->len[t->n] = len;
            t->n++;
            in_tok = 0;
        }
        i += adv;
    }
    return 0;
}

/* Gives equal tokens of the two lists equal ids 0..k-1 (open addressing on
 * an FNV-1a hash); returns k, or -1 when out of memory. */
static long intern(token_list *a, token_list *b)
{
    size_t total = a->n + b->n, cap = 16;
    while (cap < 2 * total)
        cap <<= 1;
    struct slot {
        const char *s;
        size_t len;
        uint32_t id;
    } *tab = calloc(cap, sizeof *tab);
    if (!tab)
        return -1;
    uint32_t next = 0;
    token_list *lists[2] = {a, b};
    for (int l = 0; l < 2; l++) {
        token_list *t = lists[l];
        for (size_t i = 0; i < t->n; i++) {
            const char *s = t->s[i];
            size_t len = t->len[i];
            uint64_t h = 1469598103934665603ULL;
            for (size_t k = 0; k < len; k++)
                h = (h ^ (unsigned char)s[k]) * 1099511628211ULL;
            size_t p = (size_t)h & (cap - 1);
            while (tab[p].s && !(tab[p].len == len && memcmp(tab[p].s, s, len) == 0))
                p = (p + 1) & (cap - 1);
            if (!tab[p].s) {
                tab[p].s = s;
                tab[p].len = len;
                tab[p].id = next++;
            }
            t->id[i] = tab[p].id;
        }
    }
    free(tab);
    return (long)next;
}

/* LCS length by the classic table, one row kept */
static long lcs_table(const token_list *ref, const token_list *gen)
{
    size_t *row = calloc(gen->n + 1, sizeof *row);
    if (!row)
        return -1;
    for (size_t i = 0; i < ref->n; i++) {
        size_t diag = 0; /* row[j - 1] of the previous reference token */
        uint32_t r = ref->id[i];
        for (size_t j = 1; j <= gen->n; j++) {
            size_t up = row[j];
            if (r == gen->id[j - 1])
                row[j] = diag + 1;
            else if (row[j - 1] > up)
                row[j] = row[j - 1];
            diag = up;
        }
    }
    long l = (long)row[gen->n];
    free(row);
    return l;
}

/* LCS length, bit-parallel over the generated tokens (Allison & Dix 1986,
 * Hyyro 2004): bit j of V is 0 where the table's row steps up at column j;
 * one reference token updates all columns with a masked add,
 * V <- (V + (V & M)) | (V & ~M), M the positions of that token. The LCS is
 * the count of zero bits. Falls back on the table for very long texts. */
static long lcs_length(const token_list *ref, const token_list *gen, size_t k)
{
    size_t W = (gen->n + 63) / 64;
    int32_t *row = malloc(k * sizeof *row);
    if (!row)
        return -1;
    for (size_t i = 0; i < k; i++)
        row[i] = -1;
    size_t nd = 0;
    for (size_t j = 0; j < gen->n; j++)
        if (row[gen->id[j]] < 0)
            row[gen->id[j]] = (int32_t)nd++;
    if (nd * W > ((size_t)1 << 16)) { /* over 512 KiB of masks */
        free(row);
        return lcs_table(ref, gen);
    }
    uint64_t *M = calloc(nd * W + W, sizeof *M);
    if (!M) {
        free(row);
        return -1;
    }
    uint64_t *V = M + nd * W;
    for (size_t j = 0; j < gen->n; j++)
        M[(size_t)row[gen->id[j]] * W + j / 64] |= (uint64_t)1 << (j % 64);
    for (size_t w = 0; w < W; w++)
        V[w] = ~(uint64_t)0;
    for (size_t i = 0; i < ref->n; i++) {
        int32_t r = row[ref->id[i]];
        if (r < 0)
            continue;
        const uint64_t *m = M + (size_t)r * W;
        uint64_t carry = 0;
        for (size_t w = 0; w < W; w++) {
            uint64_t u = V[w] & m[w], sum = V[w] + u, s2 = sum + carry;
            carry = (sum < V[w]) | (s2 < sum);
            V[w] = s2 | (V[w] & ~m[w]);
        }
    }
    long zeros = 0;
    for (size_t j = 0; j < gen->n; j++)
        zeros += !((V[j / 64] >> (j % 64)) & 1);
    free(M);
    free(row);
    return zeros;
}

/* Stems each distinct word of the two lists once (words longer than three
 * characters, as rouge_score) and gives the tokens ids by their stems;
 * returns the number of distinct stems, or -1 when out of memory. */
static long stem_and_intern(token_list *a, token_list *b)
{
    long k = intern(a, b);
    if (k < 0)
        return -1;
    struct rep {
        const char *s;
        size_t len;
    } *rep = calloc((size_t)k + 1, sizeof *rep);
    if (!rep)
        return -1;
    token_list *lists[2] = {a, b};
    for (int l = 0; l < 2; l++) {
        token_list *t = lists[l];
        for (size_t i = 0; i < t->n; i++) {
            struct rep *r = &rep[t->id[i]];
            if (!r->s) {
                char *w = (char *)t->s[i]; /* points into t->buf */
                r->s = w;
                r->len = t->len[i] > 3 ? rouge_porter_stem(w, t->len[i], w) : t->len[i];
            }
            t->s[i] = r->s;
            t->len[i] = r->len;
        }
    }
    free(rep);
    return intern(a, b);
}

static double fmeasure(double p, double r)
{
    return p + r > 0 ? 2 * p * r / (p + r) : 0.0;
}

typedef enum { SCORE_LCS, SCORE_UNIGRAM } score_kind;

static rouge_score score(const char *reference, const char *generated, score_kind kind)
{
    rouge_score out = {0, 0, 0};
    rouge_score fail = {NAN, NAN, NAN};
    token_list ref, gen;
    if (tokenize(reference, &ref) != 0)
        return fail;
    if (tokenize(generated, &gen) != 0) {
        tokens_free(&ref);
        return fail;
    }
    long k = stem_and_intern(&ref, &gen);
    size_t hits = 0;
    if (k < 0)
        goto oom;
    if (kind == SCORE_LCS) {
        if (ref.n == 0 || gen.n == 0)
            goto done; /* rouge_score: 0, 0, 0 */
        long l = lcs_length(&ref, &gen, (size_t)k);
        if (l < 0)
            goto oom;
        hits = (size_t)l;
    } else {
        uint32_t *cnt = calloc((size_t)k + 1, sizeof *cnt);
        if (!cnt)
            goto oom;
        for (size_t i = 0; i < ref.n; i++)
            cnt[ref.id[i]]++;
        for (size_t j = 0; j < gen.n; j++)
            if (cnt[gen.id[j]]) {
                cnt[gen.id[j]]--;
                hits++;
            }
        free(cnt);
    }
    /* unigram: max(count, 1) denominators, as rouge_score's n-gram scorer */
    out.precision = (double)hits / (double)(gen.n ? gen.n : 1);
    out.recall = (double)hits / (double)(ref.n ? ref.n : 1);
    out.fmeasure = fmeasure(out.precision, out.recall);
done:
    tokens_free(&ref);
    tokens_free(&gen);
    return out;
oom:
    tokens_free(&ref);
    tokens_free(&gen);
    return fail;
}

rouge_score rouge_l(const char *reference, const char *generated)
{
    return score(reference, generated, SCORE_LCS);
}

rouge_score rouge_1(const char *reference, const char *generated)
{
    return score(reference, generated, SCORE_UNIGRAM);
}
