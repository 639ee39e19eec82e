/* json: small helpers over jansson for writing results. NaN becomes null,
 * never a number. */
#ifndef CAPE_JSON_H
#define CAPE_JSON_H

#include <jansson.h>

#include "base/err.h"

json_t *json_num(double v);
/* Writes `root` (indented, keys in insertion order) to path, atomically, or
 * to stdout when path is NULL or "-". Steals the reference. */
int json_emit(json_t *root, const char *path, cape_err *e);
/* The text json_emit writes (the same indentation and key order, ending in
 * a newline), malloc'd; NULL when out of memory. Does not steal root. */
char *json_emit_string(const json_t *root, size_t *len);

/* Records a jansson parse error of `path` as a one-line input error:
 * "PATH:LINE:COL: what" (LINE overrides jansson's when > 0; unknown line
 * and column, reported by jansson as -1, are left out), with jansson's
 * internal wording about NUL characters replaced. Returns CAPE_EINPUT. */
int json_err_set(cape_err *e, const char *path, int line, const json_error_t *je);

/* A JSON string of text that may not be valid UTF-8 (a continuation cut
 * inside a character, a name read from a file): invalid bytes become
 * U+FFFD, so the value is kept rather than dropped. NULL gives null. */
json_t *json_text(const char *s);

#endif
