/* The core's public API: tensors, autograd, ops, parameters, RNG,
 * safetensors. */
#ifndef UNIZOO_CORE_H
#define UNIZOO_CORE_H

#include "alloc.h"
#include "autograd.h"
#include "device.h"
#include "error.h"
#include "ops.h"
#include "params.h"
#include "rng.h"
#include "safetensors.h"
#include "tensor.h"

#endif
