/* filter: an input and output content filter for the forgotten sources of a
 * TOFU forget split (docs/UNLEARN.md, "Content filter").
 *
 * A filter holds, per forgotten author, the name and its variants (word
 * sequences in folded form), and the hashed word n-grams of the forget
 * answers that do not also occur in the retained data. A text is blocked
 * when a name variant occurs in it (fuzzily: see filter_check) or when at
 * least min_hits of its n-grams are forget n-grams.
 *
 * Folding (filter_fold) makes case, punctuation, diacritics, common
 * homoglyphs (Cyrillic and Greek look-alikes, full-width forms) and
 * invisible characters irrelevant; digit-for-letter swaps and small
 * misspellings are absorbed when tokens are compared (filter_token_match). */
#ifndef CAPE_FILTER_H
#define CAPE_FILTER_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "model/score.h"

typedef struct filter filter;

typedef struct {
    int block;         /* 1: blocked */
    char reason[192];  /* "name:NAME ~ 'variant'" or "ngram:H/N"; no tab or newline */
} filter_verdict;

typedef struct {
    int ngram_n;       /* words per n-gram (4) */
    int ngram_min;     /* n-gram hits that block (2) */
} filter_build_opts;

/* Builds the filter of forget split `forget` (forget01|05|10) from the TOFU
 * files in dir: forgetNN_perturbed.json (names, n-grams) and retainMM.json
 * (words and n-grams that are not distinctive). */
int filter_build(const char *dir, const char *forget, const filter_build_opts *o, filter **out,
                 cape_err *e);
/* The filter as JSON text (the file format) and an atomic write of it. */
char *filter_to_json(const filter *f);
int filter_save(const filter *f, const char *path, cape_err *e);
/* Parses a filter file's bytes (name is for messages): input error, one
 * line, on anything malformed. */
int filter_parse(const char *buf, size_t len, const char *name, filter **out, cape_err *e);
int filter_load(const char *path, filter **out, cape_err *e);
void filter_free(filter *f);

/* The forget split the filter was built for ("forget10"). */
const char *filter_forget(const filter *f);
int filter_n_authors(const filter *f);
const char *filter_author(const filter *f, int i);
int filter_n_variants(const filter *f, int i);
const char *filter_variant(const filter *f, int i, int j);

/* Checks one text (a query, or generated text so far); returns v->block. */
int filter_check(const filter *f, const char *text, filter_verdict *v);
/* cape score behind a filter, as cape unlearn eval scores a question the
 * filter blocks: each item whose context the filter blocks gets the
 * refusal's score, every continuation token at probability 1 / n_vocab
 * (logprob = -n_tokens log n_vocab), none the argmax. verdicts (NULL: not
 * kept) gets each item's verdict. Returns how many were blocked. */
int filter_score_items(const filter *f, const score_item *items, int n, int n_vocab,
                       score_result *res, filter_verdict *verdicts);
/* The plain keyword baseline: the text contains a full name (ASCII case
 * folded, nothing else). */
int filter_keyword_check(const filter *f, const char *text);

/* ---- pieces, exposed for tests ---- */

/* Folds UTF-8 text into lower-case ASCII words separated by single spaces
 * (no leading or trailing space): letters and digits are kept, Latin
 * letters with diacritics lose them (é -> e, ß -> ss), Cyrillic and Greek
 * look-alikes and full-width forms become their Latin letters, zero-width
 * characters and soft hyphens vanish, '@' -> a and '$' -> s, everything else
 * separates words. Returns a new string (NULL when out of memory). */
char *filter_fold(const char *text);
/* Optimal-string-alignment edit distance (insertions, deletions,
 * substitutions and adjacent transpositions each cost 1) between a and b,
 * with a digit counted equal to the letter it stands for (0 o, 1 i/l, 3 e,
 * 4 a, 5 s, 7 t, 8 b, 9 g); returns max + 1 when above max. */
int filter_edit_distance(const char *a, size_t na, const char *b, size_t nb, int max);
/* Whether query word q matches variant word v: words of up to 3 letters
 * must be equal (digits as letters); 4 to 7 letters may differ by one edit,
 * 8 or more by two. */
int filter_token_match(const char *q, size_t nq, const char *v, size_t nv);
/* FNV-1a (64-bit) of n folded words joined by single spaces, top bit
 * cleared. words[i] has len[i] bytes. */
uint64_t filter_ngram_hash(const char *const *words, const size_t *len, int n);
/* The author name among TOFU rows (text of an author's questions and
 * answers): the most frequent run of two or more capitalised words
 * (connectors such as al, bin, van, de allowed inside), a possessive 's
 * removed; ties go to the longer. A new string, or NULL when none. */
char *filter_guess_name(const char *const *texts, int n);
/* The name variants (folded, deduplicated) of a name; `distinct(word)`
 * says whether a single word may block alone. *out holds *n strings. */
int filter_name_variants(const char *name, int (*distinct)(void *, const char *), void *user,
                         char ***out, int *n);

/* ---- evaluation ---- */

/* Block rates of the filter and of the keyword baseline on: forget
 * questions (original, paraphrased, and obfuscated versions of those that
 * name the author: misspelt, initials, homoglyphs, digits for letters;
 * seeded), forget answers, and the false blocks on the retain, real
 * authors, world facts and holdout questions and retain answers. */
int filter_eval(const filter *f, const char *dir, uint64_t seed, json_t **out, cape_err *e);

#endif
