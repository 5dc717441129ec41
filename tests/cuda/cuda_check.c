/* CPU-vs-CUDA agreement and the CUDA gradient check. */
#include "cuda_check.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

enum { MAX_IN = 16 };

typedef struct on_cuda_call {
    uz_gc_fn fn;
    void *user;
} on_cuda_call;

/* fn with the context on CUDA, its inputs moved there and its output
 * brought back: everything in between runs on the CUDA kernels, and the
 * gradients flow back to the CPU inputs through uz_tensor_to. */
static uz_tensor *on_cuda(uz_ctx *ctx, uz_tensor **in, void *user)
{
    const on_cuda_call *c = user;
    uz_device was = uz_ctx_device(ctx);
    if (uz_ctx_set_device(ctx, UZ_DEVICE_CUDA) != UZ_OK)
        return NULL;
    uz_tensor *din[MAX_IN] = {NULL};
    for (int i = 0; i < MAX_IN && in[i]; i++)
        din[i] = uz_tensor_to(ctx, in[i], UZ_DEVICE_CUDA);
    uz_tensor *out = c->fn(ctx, din, c->user);
    uz_ctx_set_device(ctx, was);
    return uz_tensor_to(ctx, out, UZ_DEVICE_CPU);
}

bool uz_cuda_close(const float *got, const float *ref, int64_t n, uz_cuda_tol tol,
                   const char *what, char *msg, size_t msglen)
{
    double scale = 0.0;
    for (int64_t i = 0; i < n; i++)
        if (isfinite(ref[i]) && fabs((double)ref[i]) > scale)
            scale = fabs((double)ref[i]);
    for (int64_t i = 0; i < n; i++) {
        double a = got[i], b = ref[i];
        bool same_special = (isnan(a) && isnan(b)) || (isinf(a) && a == b);
        if (same_special)
            continue;
        if (!(fabs(a - b) <= tol.rtol * (fabs(b) + scale))) {
            snprintf(msg, msglen,
                     "%s element %lld: cuda %.9g vs cpu %.9g (|diff| %.3g, scale %.3g)", what, (long long)i, a, b, fabs(a - b), scale);
            return false;
        }
    }
    return true;
}

/* One run: the output and the input gradients, copied to fresh host arrays. */
typedef struct run {
    float *out;
    int64_t n_out;
    float *grad[MAX_IN];
} run;

static void run_free(run *r, int n_in)
{
    free(r->out);
    for (int i = 0; i < n_in; i++)
        free(r->grad[i]);
}

static bool run_once(uz_tensor **in, int n_in, uz_gc_fn fn, void *user, run *r, char *msg,
                     size_t msglen)
{
    uz_ctx *ctx = uz_ctx_new(0, 0);
    for (int i = 0; i < n_in; i++)
        if (in[i])
            in[i]->grad = NULL;
    uz_tensor *out = fn(ctx, in, user);
    bool ok = out != NULL;
    if (!ok)
        snprintf(msg, msglen, "forward failed: %s", uz_error_message());
    r->n_out = ok ? uz_tensor_numel(out) : 0;
    r->out = calloc((size_t)(r->n_out ? r->n_out : 1), sizeof(float));
    if (ok)
        uz_tensor_copy_out(out, r->out);
    if (ok && out->requires_grad) {
        float *w = malloc(sizeof(float) * (size_t)(r->n_out ? r->n_out : 1));
        uz_rng_fill_uniform(w, r->n_out, 4242, 17, 0, -1.0f, 1.0f);
        ok = uz_backward_with(ctx, out, w) == UZ_OK;
        if (!ok)
            snprintf(msg, msglen, "backward failed: %s", uz_error_message());
        free(w);
    }
    for (int i = 0; ok && i < n_in; i++) {
        if (!in[i] || !in[i]->requires_grad)
            continue;
        int64_t n = uz_tensor_numel(in[i]);
        r->grad[i] = calloc((size_t)(n ? n : 1), sizeof(float));
        if (in[i]->grad)
            uz_tensor_copy_out(in[i]->grad, r->grad[i]);
        in[i]->grad = NULL;
    }
    if (ok && uz_device_sync(UZ_DEVICE_CUDA) != UZ_OK) {
        snprintf(msg, msglen, "device failure: %s", uz_error_message());
        ok = false;
    }
    uz_ctx_free(ctx);
    return ok;
}

bool uz_cuda_agree(uz_tensor **in, int n_in, uz_gc_fn fn, void *user, uz_cuda_tol tol,
                   char *msg, size_t msglen)
{
    if (n_in < 1 || n_in >= MAX_IN) {
        snprintf(msg, msglen, "agree: %d inputs, expected 1..%d", n_in, MAX_IN - 1);
        return false;
    }
    uz_tensor *args[MAX_IN] = {NULL};
    for (int i = 0; i < n_in; i++)
        args[i] = in[i];
    run cpu = {0}, gpu = {0};
    char sub[400];
    bool ok = run_once(args, n_in, fn, user, &cpu, sub, sizeof sub);
    if (!ok)
        snprintf(msg, msglen, "cpu: %s", sub);
    on_cuda_call call = {fn, user};
    if (ok && !(ok = run_once(args, n_in, on_cuda, &call, &gpu, sub, sizeof sub)))
        snprintf(msg, msglen, "cuda: %s", sub);
    if (ok && gpu.n_out != cpu.n_out) {
        snprintf(msg, msglen, "output sizes differ: cuda %lld, cpu %lld", (long long)gpu.n_out,
                 (long long)cpu.n_out);
        ok = false;
    }
    ok = ok && uz_cuda_close(gpu.out, cpu.out, cpu.n_out, tol, "output", msg, msglen);
    for (int i = 0; ok && i < n_in; i++) {
        if (!cpu.grad[i])
            continue;
        char what[32];
        snprintf(what, sizeof what, "grad of input %d", i);
        ok = uz_cuda_close(gpu.grad[i], cpu.grad[i], uz_tensor_numel(in[i]), tol, what, msg,
                           msglen);
    }
    run_free(&cpu, n_in);
    run_free(&gpu, n_in);
    return ok;
}

bool uz_cuda_gradcheck(uz_tensor **in, int n_in, uz_gc_fn fn, void *user, uz_gc_tol tol,
                       char *msg, size_t msglen)
{
    if (n_in < 1 || n_in >= MAX_IN) {
        snprintf(msg, msglen, "gradcheck: %d inputs, expected 1..%d", n_in, MAX_IN - 1);
        return false;
    }
    /* on_cuda walks the inputs up to a NULL, so pass a terminated copy. */
    uz_tensor *args[MAX_IN] = {NULL};
    for (int i = 0; i < n_in; i++)
        args[i] = in[i];
    on_cuda_call call = {fn, user};
    return uz_gradcheck(args, n_in, on_cuda, &call, tol, msg, msglen);
}
