// The conv family on CUDA: 2-D convolution through cuDNN with deterministic
// algorithms only (so gradients do not change from run to run, as on the
// CPU), f32 FMA math unless TF32 is switched on; the bias gradient is the
// reduce family's sum. Pooling is ours: one thread per output forward and
// one per input element backward, visiting the windows that cover it in
// the CPU's order, so no atomics are needed and the sums are the CPU's.
#include "cuda_internal.h"

#include <cudnn.h>

#include <math.h>
#include <mutex>

namespace {

constexpr int THREADS = 256;

bool dnn_ok(cudnnStatus_t s, const char *what)
{
    if (s == CUDNN_STATUS_SUCCESS)
        return true;
    uz_cu_fail(what, cudnnGetErrorString(s));
    return false;
}

cudnnHandle_t dnn()
{
    static cudnnHandle_t h = nullptr;
    static std::once_flag once;
    std::call_once(once, [] {
        if (dnn_ok(cudnnCreate(&h), "cudnnCreate"))
            dnn_ok(cudnnSetStream(h, uz_cu_stream()), "cudnnSetStream");
    });
    return h;
}

// Descriptors of one convolution geometry.
struct conv_desc {
    cudnnTensorDescriptor_t x = nullptr, y = nullptr, b = nullptr;
    cudnnFilterDescriptor_t w = nullptr;
    cudnnConvolutionDescriptor_t conv = nullptr;
    bool ok = false;

    explicit conv_desc(const uz_conv2d_geom *g)
    {
        const int64_t dims[] = {g->n, g->c, g->h, g->w, g->o, g->kh, g->kw, g->oh, g->ow,
                                g->pad_h, g->pad_w, g->stride_h, g->stride_w, g->groups};
        for (int64_t v : dims)
            if (v > INT32_MAX) {
                uz_cu_fail("conv2d", "a size exceeds cuDNN's 32-bit dims");
                return;
            }
        ok = dnn_ok(cudnnCreateTensorDescriptor(&x), "tensor descriptor") &&
             dnn_ok(cudnnCreateTensorDescriptor(&y), "tensor descriptor") &&
             dnn_ok(cudnnCreateTensorDescriptor(&b), "tensor descriptor") &&
             dnn_ok(cudnnCreateFilterDescriptor(&w), "filter descriptor") &&
             dnn_ok(cudnnCreateConvolutionDescriptor(&conv), "convolution descriptor") &&
             dnn_ok(cudnnSetTensor4dDescriptor(x, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, (int)g->n,
                                               (int)g->c, (int)g->h, (int)g->w),
                    "x descriptor") &&
             dnn_ok(cudnnSetTensor4dDescriptor(y, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, (int)g->n,
                                               (int)g->o, (int)g->oh, (int)g->ow),
                    "y descriptor") &&
             dnn_ok(cudnnSetTensor4dDescriptor(b, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, 1,
                                               (int)g->o, 1, 1),
                    "bias descriptor") &&
             dnn_ok(cudnnSetFilter4dDescriptor(w, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW,
                                               (int)g->o, (int)(g->c / g->groups), (int)g->kh,
                                               (int)g->kw),
                    "w descriptor") &&
             dnn_ok(cudnnSetConvolution2dDescriptor(conv, (int)g->pad_h, (int)g->pad_w,
                                                    (int)g->stride_h, (int)g->stride_w, 1, 1,
                                                    CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT),
                    "convolution descriptor") &&
             dnn_ok(cudnnSetConvolutionGroupCount(conv, (int)g->groups), "group count") &&
             dnn_ok(cudnnSetConvolutionMathType(conv, math()), "math type");
    }
    ~conv_desc()
    {
        cudnnDestroyTensorDescriptor(x);
        cudnnDestroyTensorDescriptor(y);
        cudnnDestroyTensorDescriptor(b);
        cudnnDestroyFilterDescriptor(w);
        cudnnDestroyConvolutionDescriptor(conv);
    }
    conv_desc(const conv_desc &) = delete;
    conv_desc &operator=(const conv_desc &) = delete;

    static cudnnMathType_t math() { return uz_cu_tf32() ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH; }
};

// The algorithms chosen for a geometry (and math mode), cached: cuDNN's
// heuristics are asked once per shape.
struct choice {
    uz_conv2d_geom g;
    bool tf32;
    cudnnConvolutionFwdAlgo_t fwd;
    cudnnConvolutionBwdDataAlgo_t bwd_data;
    cudnnConvolutionBwdFilterAlgo_t bwd_filter;
    cudnnMathType_t fwd_math, data_math, filter_math;
    size_t workspace; // bytes, the most any of the three needs
};

constexpr int CACHE = 64;
choice g_cache[CACHE];
int g_cached = 0, g_next = 0;
std::mutex g_cache_lock;

bool same_geom(const uz_conv2d_geom &a, const uz_conv2d_geom &b)
{
    return a.n == b.n && a.c == b.c && a.h == b.h && a.w == b.w && a.o == b.o && a.kh == b.kh &&
           a.kw == b.kw && a.stride_h == b.stride_h && a.stride_w == b.stride_w &&
           a.pad_h == b.pad_h && a.pad_w == b.pad_w && a.groups == b.groups && a.oh == b.oh &&
           a.ow == b.ow;
}

// First usable algorithm of a heuristic ranking: it ran and is
// deterministic; without TF32, one reported as FMA math if there is one,
// else any that is not a tensor-op kernel (it then runs under the
// descriptor's FMA math, see math_for).
template <typename Perf>
const Perf *pick(const Perf *perf, int n, bool tf32)
{
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < n; i++) {
            const Perf &p = perf[i];
            if (p.status != CUDNN_STATUS_SUCCESS || p.determinism != CUDNN_DETERMINISTIC)
                continue;
            bool tensor_op = p.mathType == CUDNN_TENSOR_OP_MATH ||
                             p.mathType == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION;
            if (tf32 || p.mathType == CUDNN_FMA_MATH || (pass == 1 && !tensor_op))
                return &p;
        }
    return nullptr;
}

// The math type a chosen algorithm runs under: its own with TF32 allowed,
// else plain FMA.
cudnnMathType_t math_for(const choice &c, cudnnMathType_t chosen)
{
    return c.tf32 ? chosen : CUDNN_FMA_MATH;
}

bool choose(const uz_conv2d_geom *g, choice *out)
{
    bool tf32 = uz_cu_tf32();
    {
        std::lock_guard<std::mutex> hold(g_cache_lock);
        for (int i = 0; i < g_cached; i++)
            if (g_cache[i].tf32 == tf32 && same_geom(g_cache[i].g, *g)) {
                *out = g_cache[i];
                return true;
            }
    }
    conv_desc d(g);
    if (!d.ok)
        return false;
    cudnnHandle_t h = dnn();
    choice c = {};
    c.g = *g;
    c.tf32 = tf32;
    int n = 0;
    cudnnConvolutionFwdAlgoPerf_t fp[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
    if (!dnn_ok(cudnnGetConvolutionForwardAlgorithm_v7(h, d.x, d.w, d.conv, d.y,
                                                       CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &n, fp),
                "choosing the forward algorithm"))
        return false;
    const cudnnConvolutionFwdAlgoPerf_t *f = pick(fp, n, tf32);
    cudnnConvolutionBwdDataAlgoPerf_t dp[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
    if (!dnn_ok(cudnnGetConvolutionBackwardDataAlgorithm_v7(
                    h, d.w, d.y, d.conv, d.x, CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &n, dp),
                "choosing the backward-data algorithm"))
        return false;
    const cudnnConvolutionBwdDataAlgoPerf_t *bd = pick(dp, n, tf32);
    cudnnConvolutionBwdFilterAlgoPerf_t wp[CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT];
    if (!dnn_ok(cudnnGetConvolutionBackwardFilterAlgorithm_v7(
                    h, d.x, d.y, d.conv, d.w, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, &n, wp),
                "choosing the backward-filter algorithm"))
        return false;
    const cudnnConvolutionBwdFilterAlgoPerf_t *bf = pick(wp, n, tf32);
    if (!f || !bd || !bf) {
        uz_cu_fail("conv2d", "cuDNN offers no deterministic algorithm for this shape");
        return false;
    }
    c.fwd = f->algo;
    c.bwd_data = bd->algo;
    c.bwd_filter = bf->algo;
    c.fwd_math = f->mathType;
    c.data_math = bd->mathType;
    c.filter_math = bf->mathType;
    c.workspace = f->memory > bd->memory ? f->memory : bd->memory;
    c.workspace = c.workspace > bf->memory ? c.workspace : bf->memory;
    std::lock_guard<std::mutex> hold(g_cache_lock);
    g_cache[g_next] = c;
    g_next = (g_next + 1) % CACHE;
    g_cached = g_cached < CACHE ? g_cached + 1 : CACHE;
    *out = c;
    return true;
}

int64_t cu_conv2d_workspace(const uz_conv2d_geom *g)
{
    choice c;
    if (!choose(g, &c))
        return 0;
    return (int64_t)((c.workspace + sizeof(float) - 1) / sizeof(float));
}

void cu_conv2d_forward(const uz_conv2d_geom *g, const float *x, const float *w,
                       const float *bias, float *y, float *work)
{
    choice c;
    conv_desc d(g);
    if (!choose(g, &c) || !d.ok)
        return;
    const float one = 1.0f, zero = 0.0f;
    cudnnHandle_t h = dnn();
    if (!dnn_ok(cudnnSetConvolutionMathType(d.conv, math_for(c, c.fwd_math)), "math type") ||
        !dnn_ok(cudnnConvolutionForward(h, &one, d.x, x, d.w, w, d.conv, c.fwd, work,
                                        work ? c.workspace : 0, &zero, d.y, y),
                "conv2d forward"))
        return;
    if (bias)
        dnn_ok(cudnnAddTensor(h, &one, d.b, bias, &one, d.y, y), "conv2d bias");
}

void cu_conv2d_backward(const uz_conv2d_geom *g, const float *x, const float *w,
                        const float *dy, float *dx, float *dw, float *db, float *work)
{
    choice c;
    conv_desc d(g);
    if (!choose(g, &c) || !d.ok)
        return;
    const float one = 1.0f;
    cudnnHandle_t h = dnn();
    size_t ws = work ? c.workspace : 0;
    cudnnMathType_t data_math = math_for(c, c.data_math), filter_math = math_for(c, c.filter_math);
    if (dx && !(dnn_ok(cudnnSetConvolutionMathType(d.conv, data_math), "math type") &&
                dnn_ok(cudnnConvolutionBackwardData(h, &one, d.w, w, d.y, dy, d.conv,
                                                    c.bwd_data, work, ws, &one, d.x, dx),
                       "conv2d backward data")))
        return;
    if (dw && !(dnn_ok(cudnnSetConvolutionMathType(d.conv, filter_math), "math type") &&
                dnn_ok(cudnnConvolutionBackwardFilter(h, &one, d.x, x, d.y, dy, d.conv,
                                                      c.bwd_filter, work, ws, &one, d.w, dw),
                       "conv2d backward filter")))
        return;
    if (db) {
        const int64_t shape[3] = {g->n, g->o, g->oh * g->ow};
        const bool reduce[3] = {true, false, true};
        uz_cuda_kernels_reduce.sum(db, dy, 3, shape, reduce, 1.0f, true);
    }
}

// ---- pooling ---------------------------------------------------------------------------------

struct pgeom {
    int64_t planes, h, w, kh, kw, sh, sw, ph, pw, oh, ow;
};

pgeom pool_geom(const uz_pool2d_geom *g)
{
    return {g->n * g->c, g->h,        g->w,     g->kh,    g->kw, g->stride_h,
            g->stride_w, g->pad_h,    g->pad_w, g->oh,    g->ow};
}

// Output positions [lo, hi) along one axis whose window covers input i.
__device__ void covering(int64_t i, int64_t stride, int64_t pad, int64_t k, int64_t out,
                         int64_t *lo, int64_t *hi)
{
    // o * stride - pad <= i < o * stride - pad + k
    int64_t a = i + pad - k + 1;
    *lo = a <= 0 ? 0 : (a + stride - 1) / stride;
    int64_t b = (i + pad) / stride + 1;
    *hi = b < out ? b : out;
}

__global__ void max_pool_forward_kernel(pgeom g, const float *x, float *y, int64_t *argmax)
{
    UZ_CU_LOOP(t, g.planes * g.oh * g.ow)
    {
        int64_t ox = t % g.ow, oy = t / g.ow % g.oh, p = t / (g.ow * g.oh);
        const float *xp = x + p * g.h * g.w;
        int64_t y0 = max(oy * g.sh - g.ph, (int64_t)0), y1 = min(oy * g.sh - g.ph + g.kh, g.h);
        int64_t x0 = max(ox * g.sw - g.pw, (int64_t)0), x1 = min(ox * g.sw - g.pw + g.kw, g.w);
        int64_t best_i = y0 * g.w + x0;
        float best = xp[best_i];
        for (int64_t iy = y0; iy < y1; iy++)
            for (int64_t ix = x0; ix < x1; ix++) {
                float v = xp[iy * g.w + ix];
                if (v > best || (isnan(v) && !isnan(best))) {
                    best = v;
                    best_i = iy * g.w + ix;
                }
            }
        y[t] = best;
        if (argmax)
            argmax[t] = best_i;
    }
}

__global__ void max_pool_backward_kernel(pgeom g, const int64_t *argmax, const float *dy,
                                         float *dx)
{
    UZ_CU_LOOP(t, g.planes * g.h * g.w)
    {
        int64_t ix = t % g.w, iy = t / g.w % g.h, p = t / (g.w * g.h);
        int64_t oy0, oy1, ox0, ox1;
        covering(iy, g.sh, g.ph, g.kh, g.oh, &oy0, &oy1);
        covering(ix, g.sw, g.pw, g.kw, g.ow, &ox0, &ox1);
        const int64_t *ap = argmax + p * g.oh * g.ow;
        const float *dyp = dy + p * g.oh * g.ow;
        float acc = dx[t];
        for (int64_t oy = oy0; oy < oy1; oy++)
            for (int64_t ox = ox0; ox < ox1; ox++)
                if (ap[oy * g.ow + ox] == iy * g.w + ix)
                    acc += dyp[oy * g.ow + ox];
        dx[t] = acc;
    }
}

__global__ void avg_pool_forward_kernel(pgeom g, const float *x, float *y)
{
    float scale = 1.0f / (float)(g.kh * g.kw);
    UZ_CU_LOOP(t, g.planes * g.oh * g.ow)
    {
        int64_t ox = t % g.ow, oy = t / g.ow % g.oh, p = t / (g.ow * g.oh);
        const float *xp = x + p * g.h * g.w;
        int64_t y0 = max(oy * g.sh - g.ph, (int64_t)0), y1 = min(oy * g.sh - g.ph + g.kh, g.h);
        int64_t x0 = max(ox * g.sw - g.pw, (int64_t)0), x1 = min(ox * g.sw - g.pw + g.kw, g.w);
        float acc = 0.0f;
        for (int64_t iy = y0; iy < y1; iy++)
            for (int64_t ix = x0; ix < x1; ix++)
                acc += xp[iy * g.w + ix];
        y[t] = acc * scale;
    }
}

__global__ void avg_pool_backward_kernel(pgeom g, const float *dy, float *dx)
{
    float scale = 1.0f / (float)(g.kh * g.kw);
    UZ_CU_LOOP(t, g.planes * g.h * g.w)
    {
        int64_t ix = t % g.w, iy = t / g.w % g.h, p = t / (g.w * g.h);
        int64_t oy0, oy1, ox0, ox1;
        covering(iy, g.sh, g.ph, g.kh, g.oh, &oy0, &oy1);
        covering(ix, g.sw, g.pw, g.kw, g.ow, &ox0, &ox1);
        const float *dyp = dy + p * g.oh * g.ow;
        float acc = dx[t];
        for (int64_t oy = oy0; oy < oy1; oy++)
            for (int64_t ox = ox0; ox < ox1; ox++)
                acc += dyp[oy * g.ow + ox] * scale;
        dx[t] = acc;
    }
}

// PyTorch's adaptive window: [floor(o size / out), ceil((o + 1) size / out)).
__device__ int64_t win_lo(int64_t o, int64_t out, int64_t size) { return o * size / out; }
__device__ int64_t win_hi(int64_t o, int64_t out, int64_t size)
{
    return ((o + 1) * size + out - 1) / out;
}

__global__ void adaptive_forward_kernel(int64_t planes, int64_t h, int64_t w, int64_t oh,
                                        int64_t ow, const float *x, float *y)
{
    UZ_CU_LOOP(t, planes * oh * ow)
    {
        int64_t ox = t % ow, oy = t / ow % oh, p = t / (ow * oh);
        const float *xp = x + p * h * w;
        int64_t y0 = win_lo(oy, oh, h), y1 = win_hi(oy, oh, h);
        int64_t x0 = win_lo(ox, ow, w), x1 = win_hi(ox, ow, w);
        float acc = 0.0f;
        for (int64_t iy = y0; iy < y1; iy++)
            for (int64_t ix = x0; ix < x1; ix++)
                acc += xp[iy * w + ix];
        y[t] = acc / (float)((y1 - y0) * (x1 - x0));
    }
}

__global__ void adaptive_backward_kernel(int64_t planes, int64_t h, int64_t w, int64_t oh,
                                         int64_t ow, const float *dy, float *dx)
{
    UZ_CU_LOOP(t, planes * h * w)
    {
        int64_t ix = t % w, iy = t / w % h, p = t / (w * h);
        const float *dyp = dy + p * oh * ow;
        float acc = dx[t];
        // The windows covering iy start at output floor(iy oh / h) and run
        // while they start at or before iy.
        for (int64_t oy = iy * oh / h; oy < oh && win_lo(oy, oh, h) <= iy; oy++) {
            if (win_hi(oy, oh, h) <= iy)
                continue;
            int64_t y0 = win_lo(oy, oh, h), y1 = win_hi(oy, oh, h);
            for (int64_t ox = ix * ow / w; ox < ow && win_lo(ox, ow, w) <= ix; ox++) {
                int64_t x0 = win_lo(ox, ow, w), x1 = win_hi(ox, ow, w);
                if (x1 <= ix)
                    continue;
                acc += dyp[oy * ow + ox] / (float)((y1 - y0) * (x1 - x0));
            }
        }
        dx[t] = acc;
    }
}

void cu_max_pool_forward(const uz_pool2d_geom *g, const float *x, float *y, int64_t *argmax)
{
    pgeom p = pool_geom(g);
    int64_t n = p.planes * p.oh * p.ow;
    if (n == 0)
        return;
    max_pool_forward_kernel<<<uz_cu_blocks(n, THREADS), THREADS, 0, uz_cu_stream()>>>(p, x, y,
                                                                                       argmax);
    uz_cu_launched("max_pool2d");
}

void cu_max_pool_backward(const uz_pool2d_geom *g, const int64_t *argmax, const float *dy,
                          float *dx)
{
    pgeom p = pool_geom(g);
    int64_t n = p.planes * p.h * p.w;
    if (n == 0)
        return;
    max_pool_backward_kernel<<<uz_cu_blocks(n, THREADS), THREADS, 0, uz_cu_stream()>>>(
        p, argmax, dy, dx);
    uz_cu_launched("max_pool2d_backward");
}

void cu_avg_pool_forward(const uz_pool2d_geom *g, const float *x, float *y)
{
    pgeom p = pool_geom(g);
    int64_t n = p.planes * p.oh * p.ow;
    if (n == 0)
        return;
    avg_pool_forward_kernel<<<uz_cu_blocks(n, THREADS), THREADS, 0, uz_cu_stream()>>>(p, x, y);
    uz_cu_launched("avg_pool2d");
}

void cu_avg_pool_backward(const uz_pool2d_geom *g, const float *dy, float *dx)
{
    pgeom p = pool_geom(g);
    int64_t n = p.planes * p.h * p.w;
    if (n == 0)
        return;
    avg_pool_backward_kernel<<<uz_cu_blocks(n, THREADS), THREADS, 0, uz_cu_stream()>>>(p, dy,
                                                                                        dx);
    uz_cu_launched("avg_pool2d_backward");
}

void cu_adaptive_forward(int64_t planes, int64_t h, int64_t w, int64_t oh, int64_t ow,
                         const float *x, float *y)
{
    int64_t n = planes * oh * ow;
    if (n == 0)
        return;
    adaptive_forward_kernel<<<uz_cu_blocks(n, THREADS), THREADS, 0, uz_cu_stream()>>>(
        planes, h, w, oh, ow, x, y);
    uz_cu_launched("adaptive_avg_pool2d");
}

void cu_adaptive_backward(int64_t planes, int64_t h, int64_t w, int64_t oh, int64_t ow,
                          const float *dy, float *dx)
{
    int64_t n = planes * h * w;
    if (n == 0)
        return;
    adaptive_backward_kernel<<<uz_cu_blocks(n, THREADS), THREADS, 0, uz_cu_stream()>>>(
        planes, h, w, oh, ow, dy, dx);
    uz_cu_launched("adaptive_avg_pool2d_backward");
}

} // namespace

extern const struct uz_kernels_conv uz_cuda_kernels_conv;
const struct uz_kernels_conv uz_cuda_kernels_conv = {
    .conv2d_workspace = cu_conv2d_workspace,
    .conv2d_forward = cu_conv2d_forward,
    .conv2d_backward = cu_conv2d_backward,
    .max_pool2d_forward = cu_max_pool_forward,
    .max_pool2d_backward = cu_max_pool_backward,
    .avg_pool2d_forward = cu_avg_pool_forward,
    .avg_pool2d_backward = cu_avg_pool_backward,
    .adaptive_avg_pool2d_forward = cu_adaptive_forward,
    .adaptive_avg_pool2d_backward = cu_adaptive_backward,
};
