/* What the safetensors reader, writer and parameter checkpoints share: the
 * dtype table and shape formatting for messages. Not part of the public API. */
#ifndef UZ_SAFETENSORS_INTERNAL_H
#define UZ_SAFETENSORS_INTERNAL_H

#include "safetensors.h"

/* Bytes per element; 0 for a value outside the enum. */
size_t uz_st_dtype_size(uz_dtype d);
/* The header spelling ("F32"); NULL for a value outside the enum. */
const char *uz_st_dtype_name(uz_dtype d);
/* "[2,3]" into buf (returns buf), for messages. */
const char *uz_st_dims_str(int ndim, const int64_t *shape, char *buf, size_t n);

#endif
