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

#endif
