/* Private declarations of the serving module. */
#ifndef VEIL_SERVING_INTERNAL_H
#define VEIL_SERVING_INTERNAL_H

#include "veil/serving.h"

/* Load one YAML document into a jansson value (core schema scalars),
 * bounded by VEIL_SERVICE_MAX_{DOC,DEPTH,NODES}; aliases count as the
 * nodes they expand to. */
json_t *veil_serving_yaml_load (const void *data, size_t len, veil_error_t **err);

#endif
