/* What the optimizer files share: the optimizer object, its per-tensor
 * segments and the fixed chunking behind every parallel loop. Each chunk
 * lies inside one tensor and has a fixed place, so a reduction that sums
 * per-chunk partials in chunk order gives the same bits whatever the
 * thread count. */
#ifndef UZ_OPTIM_INTERNAL_H
#define UZ_OPTIM_INTERNAL_H

#include "fp8.h"
#include "optim.h"

#include <math.h>
#if defined(__SSE__)
#include <xmmintrin.h>
#endif

/* A multiple of UZ_FP8_GROUP, so FP8 groups never straddle two chunks. */
enum { UZ_OPTIM_CHUNK = 16384, UZ_OPTIM_MAX_STATES = 8 };

/* One trainable parameter tensor and its resolved hyper-parameters. */
typedef struct uz_optim_seg {
    const char *name;
    int64_t off, n;       /* elements [off, off+n) of the flat store */
    int64_t group0;       /* its first FP8 group */
    float lr_scale, wd;
    bool adapt;           /* LAMB/LARS: apply the trust ratio */
} uz_optim_seg;

typedef struct uz_optim_chunk {
    int seg;
    int64_t off, n;       /* elements [off, off+n) of the flat store */
} uz_optim_chunk;

struct uz_optim {
    uz_optim_kind kind;
    float weight_decay, momentum, beta1, beta2, eps, lars_eta;
    double beta1_dec, beta2_dec; /* the betas as the decimals they were written as */
    bool nesterov, bias_correction, fp8;
    float max_grad_norm;
    uz_params *p;
    int64_t numel;        /* of the whole store: state buffers are indexed like it */
    int n_seg, n_chunk;
    uz_optim_seg *seg;
    uz_optim_chunk *chunk;
    double *part_a, *part_b;  /* per-chunk partial sums */
    double *seg_g2;       /* per-segment squared gradient norms of this step */
    double *seg_a, *seg_b;    /* per-segment scratch sums (LAMB, LARS) */
    float *seg_ratio;     /* per-segment trust ratio / scaled lr of this step */
    int64_t step;
    float *m, *v;         /* f32 first/second moments; SGD/LARS momentum in m, AdaGrad sum in v */
    uint8_t *qm, *qv;     /* FP8 codes of m and v */
    float *sm, *km, *sv, *kv; /* FP8 per-group scale and exponent */
    int64_t n_groups;
    double b2;            /* AdaGrad-Norm accumulator */
    int n_state;
    uz_optim_state state[UZ_OPTIM_MAX_STATES];
};

/* Sum of x[i]^2 in double with a fixed association (deterministic). */
double uz_optim_sumsq(const float *x, int64_t n);
/* part[c] = sumsq of chunk c of x, in parallel. */
void uz_optim_chunk_sumsq(const uz_optim *o, const float *x, double *part);
/* out[s] = sum of part over segment s's chunks, in chunk order. */
void uz_optim_reduce(const uz_optim *o, const double *part, double *out);

/* One family's update, after the driver has checked the gradients, counted
 * the step and computed the per-segment gradient norms (seg_g2). gscale
 * multiplies every gradient (clipping, MT-AdamW's normalisation). */
void uz_optim_sgd_update(uz_optim *o, float lr, float gscale);
void uz_optim_lars_update(uz_optim *o, float lr, float gscale);
/* Both moments' new-gradient coefficients are divided by ratio = s_k
 * (MT-AdamW's sampling ratio; 1 for AdamW). */
void uz_optim_adamw_update(uz_optim *o, float lr, float gscale, float ratio);
void uz_optim_lamb_update(uz_optim *o, float lr, float gscale);
void uz_optim_adagrad_update(uz_optim *o, float lr, float gscale);
void uz_optim_adagrad_norm_update(uz_optim *o, float lr, float gscale, double total_g2);

/* out[i] = sqrt(x[i]). A loop calling sqrtf does not vectorise (the call
 * may set errno, and -fno-math-errno is not ours to set), so on x86 the
 * SSE instruction does four at once; both are IEEE correctly rounded, so
 * the bits are the same either way. In place (out == x) is fine. */
static inline void uz_optim_sqrt(float *out, const float *x, int64_t n)
{
    int64_t i = 0;
#if defined(__SSE__)
    for (; i + 4 <= n; i += 4)
        _mm_storeu_ps(out + i, _mm_sqrt_ps(_mm_loadu_ps(x + i)));
#endif
    for (; i < n; i++)
        out[i] = sqrtf(x[i]);
}

/* Parallel loop over the chunks: `#pragma omp parallel for` needs the
 * pragma spelled out at each loop, so this is the shared condition. */
#define UZ_OPTIM_PARALLEL(o) ((o)->n_chunk > 1 && (o)->numel > UZ_OPTIM_CHUNK)

#endif
