/* falsify_json: the documented --json schema of the stress tests
 * (docs/JSON.md, "cape falsify"). */
#ifndef CAPE_FALSIFY_JSON_H
#define CAPE_FALSIFY_JSON_H

#include <jansson.h>

#include "phase/falsify.h"

/* The options and one object per table ("tables"). */
json_t *falsify_result_json(const falsify_result *r);
json_t *falsify_table_json(const falsify_table *t, const falsify_options *o);

#endif
