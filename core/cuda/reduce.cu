// Reductions on CUDA. The dims are coalesced as on the CPU (size 1 dropped,
// neighbours with the same flag merged) and split into kept dims (the
// output, row-major) and reduced dims. Two shapes of work:
//   - innermost dim kept: a thread per output and chunk of reduced rows, so
//     neighbouring threads read neighbouring elements;
//   - innermost dim reduced: a block per output and segment, its threads
//     striding over the segment, combined by a tree in shared memory.
// Chunks and segments come from the shape alone and partials are combined
// in a fixed order, so results never depend on timing. max's combine is
// order-free: the larger value wins (a NaN beats any number), ties go to
// the lower index, which makes it the first maximum whatever the order.
#include "cuda_internal.h"
#include "core/reduce_dims.h"

#include <math.h>

namespace {

constexpr int THREADS = 256;
constexpr int64_t TARGET_THREADS = 1 << 16; // enough threads to fill the GPU
constexpr int64_t MIN_CHUNK = 32;           // reduced rows per thread, at least
constexpr int64_t SEG = 8192;               // reduced elements per block, at most...
constexpr int64_t MAX_SEGS = 1024;          // ...unless that needs more segments

struct rplan {
    int nk, nr;
    uz_cu_dims ks, kst, rs, rst; // kept / reduced sizes and input strides, outer first
    int64_t n_out, n_red;
    bool inner_kept;
};

rplan plan_make(int ndim, const int64_t *shape, const bool *reduce)
{
    int64_t sh[UZ_MAX_DIMS];
    bool red[UZ_MAX_DIMS];
    int m = uz_reduce_coalesce(ndim, shape, reduce, sh, red);
    rplan p = {};
    p.n_out = p.n_red = 1;
    int64_t stride = 1;
    int64_t st[UZ_MAX_DIMS];
    for (int d = m - 1; d >= 0; d--) {
        st[d] = stride;
        stride *= sh[d];
    }
    for (int d = 0; d < m; d++) {
        if (red[d]) {
            p.rs.v[p.nr] = sh[d];
            p.rst.v[p.nr++] = st[d];
            p.n_red *= sh[d];
        } else {
            p.ks.v[p.nk] = sh[d];
            p.kst.v[p.nk++] = st[d];
            p.n_out *= sh[d];
        }
    }
    p.inner_kept = m == 0 || !red[m - 1];
    return p;
}

__device__ int64_t decode(int64_t i, int n, const uz_cu_dims &size, const uz_cu_dims &stride)
{
    int64_t off = 0;
    for (int d = n - 1; d >= 0; d--) {
        off += (i % size.v[d]) * stride.v[d];
        i /= size.v[d];
    }
    return off;
}

__device__ void store(float *out, float v, float scale, bool accumulate)
{
    *out = accumulate ? *out + scale * v : scale * v;
}

__device__ bool beats(float v, float best) { return v > best || (isnan(v) && !isnan(best)); }

struct best_at {
    float v;
    int64_t at;
};

__device__ best_at better(best_at a, best_at b)
{
    if (beats(b.v, a.v))
        return b;
    if (beats(a.v, b.v))
        return a;
    return b.at < a.at ? b : a;
}

// ---- innermost kept: thread per (chunk, output) ----

__global__ void sum_kept_kernel(float *dst, const float *in, rplan p, int64_t chunk,
                                int64_t chunks, float scale, bool accumulate, bool final_store)
{
    UZ_CU_LOOP(t, chunks * p.n_out)
    {
        int64_t c = t / p.n_out, o = t % p.n_out;
        const float *base = in + decode(o, p.nk, p.ks, p.kst);
        int64_t r0 = c * chunk, r1 = min(r0 + chunk, p.n_red);
        float acc = 0.0f;
        for (int64_t r = r0; r < r1; r++)
            acc += base[decode(r, p.nr, p.rs, p.rst)];
        if (final_store)
            store(dst + o, acc, scale, accumulate);
        else
            dst[t] = acc;
    }
}

__global__ void max_kept_kernel(float *vals, int64_t *args, const float *in, rplan p,
                                int64_t chunk, int64_t chunks)
{
    UZ_CU_LOOP(t, chunks * p.n_out)
    {
        int64_t c = t / p.n_out, o = t % p.n_out;
        int64_t base = decode(o, p.nk, p.ks, p.kst);
        int64_t r0 = c * chunk, r1 = min(r0 + chunk, p.n_red);
        best_at b = {in[base + decode(r0, p.nr, p.rs, p.rst)],
                     base + decode(r0, p.nr, p.rs, p.rst)};
        for (int64_t r = r0 + 1; r < r1; r++) {
            int64_t at = base + decode(r, p.nr, p.rs, p.rst);
            if (beats(in[at], b.v))
                b = {in[at], at};
        }
        vals[t] = b.v;
        if (args)
            args[t] = b.at;
    }
}

// ---- innermost reduced: block per (output, segment) ----

__global__ void sum_reduced_kernel(float *dst, const float *in, rplan p, int64_t seg,
                                   int64_t segs, float scale, bool accumulate, bool final_store)
{
    __shared__ float part[THREADS];
    for (int64_t t = blockIdx.x; t < p.n_out * segs; t += gridDim.x) {
        int64_t o = t / segs, s = t % segs;
        const float *base = in + decode(o, p.nk, p.ks, p.kst);
        int64_t j0 = s * seg, j1 = min(j0 + seg, p.n_red);
        float acc = 0.0f;
        for (int64_t j = j0 + threadIdx.x; j < j1; j += THREADS)
            acc += base[decode(j, p.nr, p.rs, p.rst)];
        part[threadIdx.x] = acc;
        __syncthreads();
        for (int w = THREADS / 2; w > 0; w /= 2) {
            if ((int)threadIdx.x < w)
                part[threadIdx.x] += part[threadIdx.x + w];
            __syncthreads();
        }
        if (threadIdx.x == 0) {
            if (final_store)
                store(dst + o, part[0], scale, accumulate);
            else
                dst[t] = part[0];
        }
        __syncthreads();
    }
}

__global__ void max_reduced_kernel(float *vals, int64_t *args, const float *in, rplan p,
                                   int64_t seg, int64_t segs)
{
    __shared__ float pv[THREADS];
    __shared__ int64_t pa[THREADS];
    for (int64_t t = blockIdx.x; t < p.n_out * segs; t += gridDim.x) {
        int64_t o = t / segs, s = t % segs;
        int64_t base = decode(o, p.nk, p.ks, p.kst);
        int64_t j0 = s * seg, j1 = min(j0 + seg, p.n_red);
        best_at b = {0.0f, -1};
        for (int64_t j = j0 + threadIdx.x; j < j1; j += THREADS) {
            int64_t at = base + decode(j, p.nr, p.rs, p.rst);
            best_at c = {in[at], at};
            b = b.at < 0 ? c : better(b, c);
        }
        pv[threadIdx.x] = b.v;
        pa[threadIdx.x] = b.at;
        __syncthreads();
        for (int w = THREADS / 2; w > 0; w /= 2) {
            if ((int)threadIdx.x < w && pa[threadIdx.x + w] >= 0) {
                best_at x = {pv[threadIdx.x], pa[threadIdx.x]};
                best_at y = {pv[threadIdx.x + w], pa[threadIdx.x + w]};
                best_at z = x.at < 0 ? y : better(x, y);
                pv[threadIdx.x] = z.v;
                pa[threadIdx.x] = z.at;
            }
            __syncthreads();
        }
        if (threadIdx.x == 0) {
            vals[t] = pv[0];
            if (args)
                args[t] = pa[0];
        }
        __syncthreads();
    }
}

// ---- combining partials [parts][n_out] (kept) or [n_out][parts] (reduced) ----

__global__ void sum_parts_kernel(float *out, const float *part, int64_t n_out, int64_t parts,
                                 bool outer_parts, float scale, bool accumulate)
{
    UZ_CU_LOOP(o, n_out)
    {
        float acc = 0.0f;
        for (int64_t c = 0; c < parts; c++)
            acc += part[outer_parts ? c * n_out + o : o * parts + c];
        store(out + o, acc, scale, accumulate);
    }
}

__global__ void max_parts_kernel(float *out, int64_t *arg, const float *pv, const int64_t *pa,
                                 int64_t n_out, int64_t parts, bool outer_parts)
{
    UZ_CU_LOOP(o, n_out)
    {
        best_at b = {0.0f, -1};
        for (int64_t c = 0; c < parts; c++) {
            int64_t k = outer_parts ? c * n_out + o : o * parts + c;
            best_at x = {pv[k], pa[k]};
            b = b.at < 0 ? x : better(b, x);
        }
        out[o] = b.v;
        if (arg)
            arg[o] = b.at;
    }
}

__global__ void fill_empty_kernel(float *out, int64_t n, float scale, bool accumulate)
{
    UZ_CU_LOOP(i, n) store(out + i, 0.0f, scale, accumulate);
}

__global__ void sum_backward_kernel(float *grad, const float *gout, int ndim, uz_cu_dims shape,
                                    uz_cu_dims out_stride, int64_t n, float scale)
{
    UZ_CU_LOOP(i, n) grad[i] += scale * gout[decode(i, ndim, shape, out_stride)];
}

__global__ void max_backward_kernel(float *grad, const float *gout, const int64_t *arg,
                                    int64_t n)
{
    UZ_CU_LOOP(i, n) grad[arg[i]] += gout[i];
}

int64_t clamp64(int64_t v, int64_t lo, int64_t hi) { return v < lo ? lo : v > hi ? hi : v; }

// Row chunks for the kept case: enough threads, at least MIN_CHUNK rows each.
int64_t kept_chunks(const rplan &p)
{
    int64_t want = (TARGET_THREADS + p.n_out - 1) / p.n_out;
    int64_t most = (p.n_red + MIN_CHUNK - 1) / MIN_CHUNK;
    return clamp64(want < most ? want : most, 1, 4096);
}

int64_t reduced_segs(const rplan &p)
{
    return clamp64((p.n_red + SEG - 1) / SEG, 1, MAX_SEGS);
}

int64_t numel_of(int ndim, const int64_t *shape)
{
    int64_t n = 1;
    for (int d = 0; d < ndim; d++)
        n *= shape[d];
    return n;
}

int64_t out_numel(int ndim, const int64_t *shape, const bool *reduce)
{
    int64_t n = 1;
    for (int d = 0; d < ndim; d++)
        if (!reduce[d])
            n *= shape[d];
    return n;
}

void cu_sum(float *out, const float *in, int ndim, const int64_t *shape, const bool *reduce,
            float scale, bool accumulate)
{
    int64_t n_out = out_numel(ndim, shape, reduce);
    if (n_out == 0)
        return;
    cudaStream_t s = uz_cu_stream();
    if (numel_of(ndim, shape) == 0) {
        fill_empty_kernel<<<uz_cu_blocks(n_out, THREADS), THREADS, 0, s>>>(out, n_out, scale,
                                                                            accumulate);
        uz_cu_launched("sum");
        return;
    }
    rplan p = plan_make(ndim, shape, reduce);
    if (p.inner_kept) {
        int64_t chunks = kept_chunks(p), chunk = (p.n_red + chunks - 1) / chunks;
        chunks = (p.n_red + chunk - 1) / chunk;
        size_t bytes = sizeof(float) * (size_t)(chunks * p.n_out);
        float *part = chunks > 1 ? (float *)uz_cu_scratch(bytes, 0) : nullptr;
        if (chunks > 1 && !part)
            return;
        sum_kept_kernel<<<uz_cu_blocks(chunks * p.n_out, THREADS), THREADS, 0, s>>>(
            chunks > 1 ? part : out, in, p, chunk, chunks, scale, accumulate, chunks == 1);
        if (chunks > 1)
            sum_parts_kernel<<<uz_cu_blocks(p.n_out, THREADS), THREADS, 0, s>>>(
                out, part, p.n_out, chunks, true, scale, accumulate);
    } else {
        int64_t segs = reduced_segs(p), seg = (p.n_red + segs - 1) / segs;
        segs = (p.n_red + seg - 1) / seg;
        size_t bytes = sizeof(float) * (size_t)(segs * p.n_out);
        float *part = segs > 1 ? (float *)uz_cu_scratch(bytes, 0) : nullptr;
        if (segs > 1 && !part)
            return;
        sum_reduced_kernel<<<uz_cu_blocks(p.n_out * segs, 1), THREADS, 0, s>>>(
            segs > 1 ? part : out, in, p, seg, segs, scale, accumulate, segs == 1);
        if (segs > 1)
            sum_parts_kernel<<<uz_cu_blocks(p.n_out, THREADS), THREADS, 0, s>>>(
                out, part, p.n_out, segs, false, scale, accumulate);
    }
    uz_cu_launched("sum");
}

void cu_max(float *out, int64_t *arg, const float *in, int ndim, const int64_t *shape,
            const bool *reduce)
{
    if (numel_of(ndim, shape) == 0)
        return;
    cudaStream_t s = uz_cu_stream();
    rplan p = plan_make(ndim, shape, reduce);
    bool kept = p.inner_kept;
    int64_t parts, len;
    if (kept) {
        parts = kept_chunks(p);
        len = (p.n_red + parts - 1) / parts;
    } else {
        parts = reduced_segs(p);
        len = (p.n_red + parts - 1) / parts;
    }
    parts = (p.n_red + len - 1) / len;
    float *pv = out;
    int64_t *pa = arg;
    if (parts > 1) {
        size_t n = (size_t)(parts * p.n_out);
        pv = (float *)uz_cu_scratch(sizeof(float) * n, 0);
        pa = (int64_t *)uz_cu_scratch(sizeof(int64_t) * n, 1);
        if (!pv || !pa)
            return;
    }
    if (kept)
        max_kept_kernel<<<uz_cu_blocks(parts * p.n_out, THREADS), THREADS, 0, s>>>(pv, pa, in, p,
                                                                                   len, parts);
    else
        max_reduced_kernel<<<uz_cu_blocks(p.n_out * parts, 1), THREADS, 0, s>>>(pv, pa, in, p,
                                                                                len, parts);
    if (parts > 1)
        max_parts_kernel<<<uz_cu_blocks(p.n_out, THREADS), THREADS, 0, s>>>(out, arg, pv, pa,
                                                                            p.n_out, parts, kept);
    uz_cu_launched("max");
}

void cu_sum_backward(float *grad, const float *gout, int ndim, const int64_t *shape,
                     const bool *reduce, float scale)
{
    int64_t n = numel_of(ndim, shape);
    if (n == 0)
        return;
    uz_cu_dims sh = {}, ost = {};
    int64_t s = 1;
    for (int d = ndim - 1; d >= 0; d--) {
        sh.v[d] = shape[d];
        ost.v[d] = reduce[d] ? 0 : s;
        s *= reduce[d] ? 1 : shape[d];
    }
    sum_backward_kernel<<<uz_cu_blocks(n, THREADS), THREADS, 0, uz_cu_stream()>>>(
        grad, gout, ndim, sh, ost, n, scale);
    uz_cu_launched("sum_backward");
}

void cu_max_backward(float *grad, const float *gout, const int64_t *arg, int64_t n)
{
    if (n <= 0)
        return;
    max_backward_kernel<<<uz_cu_blocks(n, THREADS), THREADS, 0, uz_cu_stream()>>>(grad, gout,
                                                                                   arg, n);
    uz_cu_launched("max_backward");
}

} // namespace

extern const struct uz_kernels_reduce uz_cuda_kernels_reduce;
const struct uz_kernels_reduce uz_cuda_kernels_reduce = {
    .sum = cu_sum,
    .max = cu_max,
    .sum_backward = cu_sum_backward,
    .max_backward = cu_max_backward,
};
