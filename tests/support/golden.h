/* Golden tests: reference tensors that a PyTorch script saved as
 * tests/golden/<name> (safetensors), and a comparison that says where the
 * worst error is. */
#ifndef UZ_TEST_GOLDEN_H
#define UZ_TEST_GOLDEN_H

#include "core/unizoo.h"

/* $UZ_SOURCE_DIR/tests/golden/<name> (UZ_SOURCE_DIR is set by CTest), or
 * tests/golden/<name> under the current directory when it is unset, in
 * buf; NULL with the error set when it does not fit. */
const char *uz_golden_path(const char *name, char *buf, size_t n);

/* Opens uz_golden_path(name). NULL with the error set on failure; close
 * with uz_st_close. */
uz_st_file *uz_golden_open(const char *name);

/* $UZ_SOURCE_DIR/../shared/<rel> (or ./../shared/<rel>) in buf when it is
 * readable; otherwise NULL, after a "skipped" line on stderr (tests on the
 * shared data sets skip when ../shared is absent). */
const char *uz_test_shared_file(const char *rel, char *buf, size_t n);

/* Tensor `name` of the file as a new float32 tensor of the file's shape
 * (converted from any stored dtype); NULL with the error set. */
uz_tensor *uz_golden_tensor(uz_ctx *ctx, const uz_st_file *f, const char *name);

/* True when got and want have the same shape and every element satisfies
 * |got - want| <= atol + rtol * |want| (NaN never does). msg always receives
 * the largest |got - want|, its index and both values, and on failure how
 * many elements are out of tolerance. */
bool uz_golden_close_enough(const uz_tensor *got, const uz_tensor *want, double atol, double rtol,
                            char *msg, size_t n);

#endif
