/* text: strict parsing of numbers and model sizes, and name normalisation
 * for matching column headers against aliases. */
#ifndef CAPE_TEXT_H
#define CAPE_TEXT_H

#include <stddef.h>

/* Parses a finite decimal number occupying the whole string (surrounding
 * blanks allowed). Returns 0 on success, -1 otherwise (NaN/inf rejected). */
int text_parse_double(const char *s, double *out);
int text_parse_int(const char *s, long *out);

/* A parameter count such as "410M", "1.4B", "7e9", "70m", "1.5T", "125k".
 * A bare number is multiplied by `bare_unit` (1 for raw counts, 1e9 when
 * the column is in billions). *had_suffix tells whether a unit was written. */
int text_parse_size(const char *s, double bare_unit, double *out, int *had_suffix);

/* Lower-cases and keeps only [a-z0-9]: "HellaSwag (10-shot)" -> "hellaswag10shot". */
void text_normalise(const char *in, char *out, size_t outsz);
int text_is_blank(const char *s);
/* Formats a size as "410M", "1.4B", "70B" (shortest exact-ish form). */
void text_format_size(double n, char *out, size_t outsz);

/* A copy of s in which each maximal ill-formed UTF-8 subsequence is
 * replaced by U+FFFD (the Unicode recommendation, which Python's
 * errors="replace" follows; NULL when out of memory). The n form takes
 * bytes that may hold NUL, and gives the length of the copy. */
char *text_utf8_copy(const char *s);
char *text_utf8_copyn(const char *s, size_t n, size_t *out_len);

#endif
