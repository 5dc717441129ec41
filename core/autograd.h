/* Reverse-mode autograd: the tape that ops record into and uz_backward.
 * Op implementations use uz_record / uz_grad_buf; models only call uz_backward. */
#ifndef UZ_AUTOGRAD_H
#define UZ_AUTOGRAD_H

#include "tensor.h"

typedef uz_status (*uz_backward_fn)(uz_ctx *ctx, uz_node *node);

struct uz_node {
    const char *op;
    uz_backward_fn backward;
    uz_tensor *out;
    uz_tensor **in;
    int n_in;
    void *saved;      /* op-specific state, step lifetime */
    uz_node *prev;    /* tape order: producers come before consumers */
};

/* True when an op over these inputs must be recorded. */
bool uz_needs_grad(const uz_ctx *ctx, int n_in, uz_tensor *const *in);

/* Appends a node producing `out` (marks out->requires_grad, out->node) with
 * `saved_bytes` of zeroed op state. NULL (error set) when out of memory. */
uz_node *uz_record(uz_ctx *ctx, const char *op, uz_backward_fn backward, uz_tensor *out,
                   int n_in, uz_tensor *const *in, size_t saved_bytes);

/* Contiguous gradient of t to accumulate into (zeroed on first use); NULL when
 * t does not require grad, or on allocation failure (check uz_error_status). */
float *uz_grad_buf(uz_ctx *ctx, uz_tensor *t);

/* As uz_grad_buf, but a buffer created by this call is left uninitialised
 * and *fresh set: the caller must then write (=) every element of it
 * instead of adding, which saves the zero-fill and a read of the buffer. */
float *uz_grad_buf_fresh(uz_ctx *ctx, uz_tensor *t, bool *fresh);

/* When t requires grad and has no gradient yet, makes `grad` (contiguous,
 * t's numel, living at least as long as the step) t's gradient without a
 * copy and returns true; the caller must not write to it afterwards.
 * Otherwise returns false, with *fail set on allocation failure. */
bool uz_grad_adopt(uz_ctx *ctx, uz_tensor *t, float *grad, bool *fail);

/* Accumulates d(loss)/d(x) into x->grad for every x that requires grad and
 * that loss depends on; loss must hold one element. Parameter gradients add
 * up over calls (gradient accumulation) until the optimizer zeroes them. */
uz_status uz_backward(uz_ctx *ctx, uz_tensor *loss);

/* Backward from any tensor with a given upstream gradient (contiguous, t's
 * shape), as PyTorch's t.backward(gradient). */
uz_status uz_backward_with(uz_ctx *ctx, uz_tensor *t, const float *grad);

#endif
