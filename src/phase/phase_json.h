/* phase_json: the documented --json schema of a diagnosis (docs/JSON.md). */
#ifndef CAPE_PHASE_JSON_H
#define CAPE_PHASE_JSON_H

#include <jansson.h>

#include "phase/phase.h"

json_t *phase_diagnosis_json(const phase_diagnosis *d);

#endif
