// The CUDA runtime layer: one stream and one cuBLAS handle for the process,
// device memory and copies (core/device.c's side), the first-failure record,
// and the staging buffers through which host index arrays reach kernels.
#include "cuda_internal.h"

#include <algorithm>
#include <atomic>
#include <mutex>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

namespace {

struct runtime {
    cudaStream_t stream = nullptr;
    cublasHandle_t blas = nullptr;
    // Index uploads: pinned host staging, its device copy, and an event
    // marking when the last copy out of the pinned buffer has finished.
    int32_t *pinned[UZ_CU_SLOTS] = {};
    int32_t *dev_i32[UZ_CU_SLOTS] = {};
    size_t i32_cap[UZ_CU_SLOTS] = {};
    cudaEvent_t copied[UZ_CU_SLOTS] = {};
    void *scratch[UZ_CU_SLOTS] = {};
    size_t scratch_cap[UZ_CU_SLOTS] = {};
    void *host[UZ_CU_SLOTS] = {};
    size_t host_cap[UZ_CU_SLOTS] = {};
};

std::atomic<uint64_t> g_allocs{0};
// TF32 switch: -1 until read from UZ_CUDA_TF32. Kept apart from the runtime
// so that setting it does not start CUDA.
std::atomic<int> g_tf32{-1};
std::atomic<bool> g_started{false};
std::mutex g_fail_lock;
uz_status g_failed = UZ_OK;
char g_fail_msg[512];

void remember_failure()
{
    std::lock_guard<std::mutex> hold(g_fail_lock);
    if (g_failed == UZ_OK) {
        g_failed = UZ_ERR_DEVICE;
        snprintf(g_fail_msg, sizeof g_fail_msg, "%s", uz_error_message());
    }
}

bool env_flag(const char *name)
{
    const char *v = getenv(name);
    return v && v[0] && strcmp(v, "0") != 0;
}

bool tf32_on()
{
    int v = g_tf32.load();
    if (v < 0) {
        int unset = -1;
        g_tf32.compare_exchange_strong(unset, env_flag("UZ_CUDA_TF32") ? 1 : 0);
        v = g_tf32.load();
    }
    return v == 1;
}

void apply_math_mode(runtime &r)
{
    uz_cu_blas_ok(cublasSetMathMode(r.blas, tf32_on() ? CUBLAS_TF32_TENSOR_OP_MATH
                                                      : CUBLAS_DEFAULT_MATH),
                  "cublasSetMathMode");
}

runtime &rt()
{
    static runtime r;
    static std::once_flag once;
    std::call_once(once, [] {
        if (!uz_cu_ok(cudaStreamCreateWithFlags(&r.stream, cudaStreamNonBlocking),
                      "creating the stream"))
            return;
        for (int i = 0; i < UZ_CU_SLOTS; i++)
            uz_cu_ok(cudaEventCreateWithFlags(&r.copied[i], cudaEventDisableTiming),
                     "creating an event");
        if (uz_cu_blas_ok(cublasCreate(&r.blas), "cublasCreate")) {
            uz_cu_blas_ok(cublasSetStream(r.blas, r.stream), "cublasSetStream");
            apply_math_mode(r);
        }
        g_started = true;
    });
    return r;
}

const char *blas_status_name(cublasStatus_t s)
{
    switch (s) {
    case CUBLAS_STATUS_NOT_INITIALIZED: return "not initialized";
    case CUBLAS_STATUS_ALLOC_FAILED: return "allocation failed";
    case CUBLAS_STATUS_INVALID_VALUE: return "invalid value";
    case CUBLAS_STATUS_ARCH_MISMATCH: return "architecture mismatch";
    case CUBLAS_STATUS_MAPPING_ERROR: return "mapping error";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "execution failed";
    case CUBLAS_STATUS_INTERNAL_ERROR: return "internal error";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "not supported";
    default: return "error";
    }
}

} // namespace

// ---- failures ----------------------------------------------------------------------

bool uz_cu_ok(cudaError_t e, const char *what)
{
    if (e == cudaSuccess)
        return true;
    UZ_FAIL(UZ_ERR_DEVICE, "cuda: %s: %s (%s)", what, cudaGetErrorString(e), cudaGetErrorName(e));
    remember_failure();
    return false;
}

bool uz_cu_blas_ok(cublasStatus_t s, const char *what)
{
    if (s == CUBLAS_STATUS_SUCCESS)
        return true;
    UZ_FAIL(UZ_ERR_DEVICE, "cublas: %s: %s (status %d)", what, blas_status_name(s), (int)s);
    remember_failure();
    return false;
}

bool uz_cu_launched(const char *what) { return uz_cu_ok(cudaGetLastError(), what); }

void uz_cu_fail(const char *what, const char *detail)
{
    UZ_FAIL(UZ_ERR_DEVICE, "cuda: %s: %s", what, detail);
    remember_failure();
}

// ---- handles ---------------------------------------------------------------------------

cudaStream_t uz_cu_stream() { return rt().stream; }
cublasHandle_t uz_cu_cublas() { return rt().blas; }
bool uz_cu_tf32() { return tf32_on(); }

// ---- staging ---------------------------------------------------------------------------

const int32_t *uz_cu_upload_i32(const int32_t *host, int64_t n, int slot)
{
    runtime &r = rt();
    size_t bytes = sizeof(int32_t) * (size_t)(n > 0 ? n : 1);
    // The pinned buffer may still feed the previous copy out of this slot.
    if (!uz_cu_ok(cudaEventSynchronize(r.copied[slot]), "waiting for an index upload"))
        return nullptr;
    if (r.i32_cap[slot] < bytes) {
        size_t cap = std::max(bytes, 2 * r.i32_cap[slot]);
        uz_cu_ok(cudaFreeHost(r.pinned[slot]), "cudaFreeHost");
        uz_cu_ok(cudaFree(r.dev_i32[slot]), "cudaFree");
        r.pinned[slot] = nullptr;
        r.dev_i32[slot] = nullptr;
        r.i32_cap[slot] = 0;
        void *p = nullptr, *d = nullptr;
        if (!uz_cu_ok(cudaMallocHost(&p, cap), "pinned index staging"))
            return nullptr;
        if (!uz_cu_ok(cudaMalloc(&d, cap), "device index staging")) {
            cudaFreeHost(p);
            return nullptr;
        }
        g_allocs++;
        r.pinned[slot] = (int32_t *)p;
        r.dev_i32[slot] = (int32_t *)d;
        r.i32_cap[slot] = cap;
    }
    if (n > 0) {
        memcpy(r.pinned[slot], host, sizeof(int32_t) * (size_t)n);
        if (!uz_cu_ok(cudaMemcpyAsync(r.dev_i32[slot], r.pinned[slot],
                                      sizeof(int32_t) * (size_t)n, cudaMemcpyHostToDevice,
                                      r.stream),
                      "index upload") ||
            !uz_cu_ok(cudaEventRecord(r.copied[slot], r.stream), "recording an upload"))
            return nullptr;
    }
    return r.dev_i32[slot];
}

void *uz_cu_scratch(size_t bytes, int slot)
{
    runtime &r = rt();
    if (r.scratch_cap[slot] < bytes) {
        size_t cap = std::max(bytes, 2 * r.scratch_cap[slot]);
        // cudaFree waits for the device, so no queued kernel still reads it.
        uz_cu_ok(cudaFree(r.scratch[slot]), "cudaFree");
        r.scratch[slot] = nullptr;
        r.scratch_cap[slot] = 0;
        if (!uz_cu_ok(cudaMalloc(&r.scratch[slot], cap), "device scratch"))
            return nullptr;
        g_allocs++;
        r.scratch_cap[slot] = cap;
    }
    return r.scratch[slot];
}

void *uz_cu_host_scratch(size_t bytes, int slot)
{
    runtime &r = rt();
    if (r.host_cap[slot] < bytes) {
        size_t cap = std::max(bytes, 2 * r.host_cap[slot]);
        void *p = realloc(r.host[slot], cap);
        if (!p) {
            uz_cu_fail("host scratch", "out of memory");
            return nullptr;
        }
        r.host[slot] = p;
        r.host_cap[slot] = cap;
    }
    return r.host[slot];
}

bool uz_cu_group_by_target(const int32_t *targets, int64_t n, int32_t skip, int slot,
                           uz_cu_groups *g)
{
    if (n > INT32_MAX / 4) {
        uz_cu_fail("grouping indices", "more than 2^29 indices");
        return false;
    }
    // Positions sorted by target, stably (so each group keeps index order);
    // then packed as [tgt: count][start: count + 1][pos: m] for one upload.
    int32_t *pos = (int32_t *)uz_cu_host_scratch(sizeof(int32_t) * (size_t)(3 * n + 2), slot);
    if (!pos)
        return false;
    int64_t m = 0;
    for (int64_t i = 0; i < n; i++)
        if (targets[i] != skip)
            pos[m++] = (int32_t)i;
    std::stable_sort(pos, pos + m, [targets](int32_t a, int32_t b) {
        return targets[a] < targets[b];
    });
    int32_t *packed = pos + n;
    int64_t count = 0;
    for (int64_t i = 0; i < m; i++)
        if (i == 0 || targets[pos[i]] != targets[pos[i - 1]])
            count++;
    int32_t *tgt = packed, *start = packed + count, *dst = start + count + 1;
    int64_t u = 0;
    for (int64_t i = 0; i < m; i++) {
        if (i == 0 || targets[pos[i]] != targets[pos[i - 1]]) {
            tgt[u] = targets[pos[i]];
            start[u++] = (int32_t)i;
        }
        dst[i] = pos[i];
    }
    start[count] = (int32_t)m;
    const int32_t *d = uz_cu_upload_i32(packed, 2 * count + 1 + m, slot);
    if (!d)
        return false;
    g->tgt = d;
    g->start = d + count;
    g->pos = d + 2 * count + 1;
    g->count = count;
    return true;
}

// ---- the C face (cuda_api.h) -------------------------------------------------------------

extern "C" {

int uz_cuda_device_count(void)
{
    static int count = -1;
    static std::once_flag once;
    std::call_once(once, [] {
        int n = 0;
        count = cudaGetDeviceCount(&n) == cudaSuccess ? n : 0;
        // A failed probe (no driver, no device) leaves a sticky error behind.
        cudaGetLastError();
    });
    return count;
}

bool uz_cuda_set_tf32(bool on)
{
    bool was = tf32_on();
    g_tf32 = on ? 1 : 0;
    if (g_started && rt().blas)
        apply_math_mode(rt());
    return was;
}

void *uz_cuda_malloc(size_t bytes, const char *what)
{
    void *p = nullptr;
    // cudaMalloc(0) may hand back NULL, which reads as a failure here.
    cudaError_t e = cudaMalloc(&p, bytes ? bytes : 256);
    if (e != cudaSuccess) {
        UZ_FAIL(e == cudaErrorMemoryAllocation ? UZ_ERR_NOMEM : UZ_ERR_DEVICE,
                "cuda: allocating %zu bytes for %s: %s", bytes, what, cudaGetErrorString(e));
        if (e != cudaErrorMemoryAllocation)
            remember_failure();
        else
            cudaGetLastError(); // out of memory is not sticky: clear it
        return nullptr;
    }
    g_allocs++;
    return p;
}

void uz_cuda_free(void *p)
{
    if (p)
        uz_cu_ok(cudaFree(p), "cudaFree");
}

uint64_t uz_cuda_alloc_count(void) { return g_allocs.load(); }

uz_status uz_cuda_memcpy(void *dst, const void *src, size_t bytes, uz_cuda_copy_kind kind)
{
    static const cudaMemcpyKind kinds[] = {cudaMemcpyHostToDevice, cudaMemcpyDeviceToHost,
                                           cudaMemcpyDeviceToDevice};
    cudaStream_t s = uz_cu_stream();
    if (!uz_cu_ok(cudaMemcpyAsync(dst, src, bytes, kinds[kind], s), "memcpy"))
        return UZ_ERR_DEVICE;
    // Host memory is the caller's: it may be reused or freed on return, so
    // copies touching it complete first (and a read reports earlier failures).
    if (kind != UZ_CUDA_D2D)
        return uz_cuda_sync();
    return UZ_OK;
}

uz_status uz_cuda_zero(void *p, size_t bytes)
{
    if (!uz_cu_ok(cudaMemsetAsync(p, 0, bytes, uz_cu_stream()), "memset"))
        return UZ_ERR_DEVICE;
    return UZ_OK;
}

uz_status uz_cuda_sync(void)
{
    uz_cu_ok(cudaStreamSynchronize(uz_cu_stream()), "synchronizing");
    std::lock_guard<std::mutex> hold(g_fail_lock);
    if (g_failed != UZ_OK)
        return UZ_FAIL(g_failed, "an earlier CUDA call failed: %s", g_fail_msg);
    return UZ_OK;
}

} // extern "C"
