/* The optimizer object: configuration checks, parameter groups and
 * exclusion, the deterministic chunking, the step driver (gradient norms,
 * non-finite detection, clipping, MT-AdamW's normalisation) and the state
 * buffers for checkpoints. The per-family updates live in optim_*.c. */
#include "optim_internal.h"

#include "core/alloc.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const KIND_NAMES[] = {"sgd",  "adamw",   "mt-adamw",    "lamb",
                                         "lars", "adagrad", "adagrad-norm"};
enum { N_KINDS = (int)(sizeof KIND_NAMES / sizeof KIND_NAMES[0]) };

uz_optim_config uz_optim_defaults(uz_optim_kind kind)
{
    uz_optim_config c = {.kind = kind, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f,
                         .bias_correction = true};
    switch (kind) {
    case UZ_OPTIM_SGD: break;
    case UZ_OPTIM_ADAMW:
    case UZ_OPTIM_MT_ADAMW: c.weight_decay = 0.01f; break;
    case UZ_OPTIM_LAMB:
        /* apex FusedLAMB's defaults; bias and LayerNorm tensors (named
         * "*.bias", "ln1.weight", "norm.weight", "LayerNorm.weight") get
         * neither decay nor a trust ratio, as in BERT/ALBERT. */
        c.weight_decay = 0.01f;
        c.eps = 1e-6f;
        c.exclude = "bias,norm,Norm,ln";
        break;
    case UZ_OPTIM_LARS:
        /* tfa.LARS / apex FusedLARS, with MomentumLARS's eps = 0. */
        c.momentum = 0.9f;
        c.weight_decay = 1e-4f;
        c.lars_eta = 0.001f;
        c.eps = 0.0f;
        c.exclude = "bias,norm,Norm,ln,bn";
        break;
    case UZ_OPTIM_ADAGRAD: c.eps = 1e-10f; break;
    case UZ_OPTIM_ADAGRAD_NORM:
        c.eps = 1e-10f;
        c.initial_accumulator = 1e-2f;
        break;
    }
    return c;
}

const char *uz_optim_kind_name(uz_optim_kind kind)
{
    return (int)kind >= 0 && (int)kind < N_KINDS ? KIND_NAMES[kind] : "?";
}

uz_status uz_optim_kind_parse(const char *name, uz_optim_kind *out)
{
    for (int i = 0; name && i < N_KINDS; i++)
        if (strcmp(name, KIND_NAMES[i]) == 0) {
            *out = (uz_optim_kind)i;
            return UZ_OK;
        }
    return UZ_FAIL(UZ_ERR_ARG,
                   "optim: unknown optimizer '%s' (allowed: sgd, adamw, mt-adamw, lamb, lars, "
                   "adagrad, adagrad-norm)",
                   name ? name : "(null)");
}

/* True when `name` contains one of the comma-separated substrings of
 * `patterns` (surrounding spaces ignored, empty entries skipped). */
static bool name_matches(const char *name, const char *patterns)
{
    if (!patterns)
        return false;
    const char *s = patterns;
    while (*s) {
        while (*s == ' ' || *s == ',')
            s++;
        const char *e = s;
        while (*e && *e != ',')
            e++;
        size_t len = (size_t)(e - s);
        while (len && s[len - 1] == ' ')
            len--;
        if (len)
            for (const char *q = name; *q; q++)
                if (strncmp(q, s, len) == 0)
                    return true;
        s = e;
    }
    return false;
}

static bool is_nonneg(float x) { return isfinite(x) && x >= 0.0f; }

static uz_status check_config(const uz_optim_config *c)
{
    if ((int)c->kind < 0 || (int)c->kind >= N_KINDS)
        return UZ_FAIL(UZ_ERR_ARG, "optim: unknown optimizer kind %d", (int)c->kind);
    const char *k = KIND_NAMES[c->kind];
    if (!is_nonneg(c->weight_decay))
        return UZ_FAIL(UZ_ERR_ARG, "%s: weight_decay %g must be >= 0", k, (double)c->weight_decay);
    if (!is_nonneg(c->momentum) || c->momentum >= 1.0f)
        return UZ_FAIL(UZ_ERR_ARG, "%s: momentum %g must be in [0, 1)", k, (double)c->momentum);
    if (c->nesterov && c->momentum <= 0.0f && (c->kind == UZ_OPTIM_SGD || c->kind == UZ_OPTIM_LARS))
        return UZ_FAIL(UZ_ERR_ARG, "%s: nesterov needs momentum > 0 (got %g)", k,
                       (double)c->momentum);
    if (!is_nonneg(c->beta1) || c->beta1 >= 1.0f || !is_nonneg(c->beta2) || c->beta2 >= 1.0f)
        return UZ_FAIL(UZ_ERR_ARG, "%s: betas (%g, %g) must be in [0, 1)", k, (double)c->beta1,
                       (double)c->beta2);
    if (!is_nonneg(c->eps))
        return UZ_FAIL(UZ_ERR_ARG, "%s: eps %g must be >= 0", k, (double)c->eps);
    if (c->kind == UZ_OPTIM_LARS && !(isfinite(c->lars_eta) && c->lars_eta > 0.0f))
        return UZ_FAIL(UZ_ERR_ARG, "lars: lars_eta %g must be > 0", (double)c->lars_eta);
    if (c->kind == UZ_OPTIM_ADAGRAD && !is_nonneg(c->initial_accumulator))
        return UZ_FAIL(UZ_ERR_ARG, "adagrad: initial_accumulator %g must be >= 0",
                       (double)c->initial_accumulator);
    if (c->kind == UZ_OPTIM_ADAGRAD_NORM &&
        !(isfinite(c->initial_accumulator) && c->initial_accumulator > 0.0f))
        return UZ_FAIL(UZ_ERR_ARG, "adagrad-norm: initial_accumulator (b0^2) %g must be > 0",
                       (double)c->initial_accumulator);
    if (!is_nonneg(c->max_grad_norm))
        return UZ_FAIL(UZ_ERR_ARG, "%s: max_grad_norm %g must be >= 0 (0 = off)", k,
                       (double)c->max_grad_norm);
    if (c->fp8_states && c->kind != UZ_OPTIM_ADAMW && c->kind != UZ_OPTIM_MT_ADAMW &&
        c->kind != UZ_OPTIM_LAMB)
        return UZ_FAIL(UZ_ERR_ARG, "%s: fp8_states is only for adamw, mt-adamw and lamb", k);
    if (c->n_groups < 0 || c->n_groups > UZ_OPTIM_MAX_GROUPS)
        return UZ_FAIL(UZ_ERR_ARG, "%s: n_groups %d must be in [0, %d]", k, c->n_groups,
                       UZ_OPTIM_MAX_GROUPS);
    bool any_wd = c->weight_decay > 0.0f;
    for (int i = 0; i < c->n_groups; i++) {
        const uz_optim_group *g = &c->groups[i];
        if (!g->match || !g->match[0])
            return UZ_FAIL(UZ_ERR_ARG, "%s: group %d has no match pattern", k, i);
        if (!is_nonneg(g->lr_scale) || !is_nonneg(g->weight_decay))
            return UZ_FAIL(UZ_ERR_ARG,
                           "%s: group %d ('%s'): lr_scale %g and weight_decay %g must be >= 0", k,
                           i, g->match, (double)g->lr_scale, (double)g->weight_decay);
        any_wd = any_wd || g->weight_decay > 0.0f;
    }
    /* The scalar step size is AdaGrad-Norm's only state: a decay term would
     * need its own norm pass and has no reference form. */
    if (c->kind == UZ_OPTIM_ADAGRAD_NORM && any_wd)
        return UZ_FAIL(UZ_ERR_ARG, "adagrad-norm: weight decay is not supported (set it to 0)");
    return UZ_OK;
}

/* Groups, exclusion and the chunk list. */
static uz_status build_segments(uz_optim *o, const uz_optim_config *c)
{
    int np = uz_params_count(o->p), n_seg = 0;
    int64_t n_chunk = 0;
    for (int i = 0; i < np; i++) {
        const uz_tensor *t = uz_params_at(o->p, i);
        int64_t n = uz_tensor_numel(t);
        if (t->requires_grad && n > 0) {
            n_seg++;
            n_chunk += (n + UZ_OPTIM_CHUNK - 1) / UZ_OPTIM_CHUNK;
        }
    }
    if (n_seg == 0)
        return UZ_FAIL(UZ_ERR_ARG, "%s: no trainable parameters", KIND_NAMES[c->kind]);
    o->seg = uz_calloc(sizeof *o->seg * (size_t)n_seg, "optimizer segments");
    o->chunk = uz_calloc(sizeof *o->chunk * (size_t)n_chunk, "optimizer chunks");
    o->part_a = uz_calloc(sizeof(double) * (size_t)n_chunk, "optimizer partial sums");
    o->part_b = uz_calloc(sizeof(double) * (size_t)n_chunk, "optimizer partial sums");
    o->seg_g2 = uz_calloc(sizeof(double) * (size_t)n_seg, "optimizer norms");
    o->seg_a = uz_calloc(sizeof(double) * (size_t)n_seg, "optimizer norms");
    o->seg_b = uz_calloc(sizeof(double) * (size_t)n_seg, "optimizer norms");
    o->seg_ratio = uz_calloc(sizeof(float) * (size_t)n_seg, "optimizer ratios");
    if (!o->seg || !o->chunk || !o->part_a || !o->part_b || !o->seg_g2 || !o->seg_a ||
        !o->seg_b || !o->seg_ratio)
        return UZ_ERR_NOMEM;
    const float *base = uz_params_data(o->p);
    int s = 0, ch = 0;
    int64_t groups = 0;
    for (int i = 0; i < np; i++) {
        const uz_tensor *t = uz_params_at(o->p, i);
        int64_t n = uz_tensor_numel(t);
        if (!t->requires_grad || n == 0)
            continue;
        uz_optim_seg *sg = &o->seg[s];
        *sg = (uz_optim_seg){.name = t->name, .off = t->data - base, .n = n, .group0 = groups,
                             .lr_scale = 1.0f, .wd = c->weight_decay, .adapt = true};
        for (int g = 0; g < c->n_groups; g++)
            if (name_matches(t->name, c->groups[g].match)) {
                sg->lr_scale = c->groups[g].lr_scale;
                sg->wd = c->groups[g].weight_decay;
                sg->adapt = !c->groups[g].no_adapt;
                break;
            }
        if (name_matches(t->name, c->exclude)) {
            sg->wd = 0.0f;
            sg->adapt = false;
        }
        groups += (n + UZ_FP8_GROUP - 1) / UZ_FP8_GROUP;
        for (int64_t off = 0; off < n; off += UZ_OPTIM_CHUNK)
            o->chunk[ch++] = (uz_optim_chunk){
                .seg = s, .off = sg->off + off, .n = n - off < UZ_OPTIM_CHUNK ? n - off : UZ_OPTIM_CHUNK};
        s++;
    }
    o->n_seg = n_seg;
    o->n_chunk = (int)n_chunk;
    o->n_groups = groups;
    return UZ_OK;
}

static void add_state(uz_optim *o, const char *name, uz_dtype dtype, int64_t numel, void *data)
{
    o->state[o->n_state++] = (uz_optim_state){.name = name, .dtype = dtype, .numel = numel,
                                              .data = data};
}

static float *alloc_f32(int64_t n, float value, const char *what)
{
    float *x = uz_calloc(sizeof(float) * (size_t)(n ? n : 1), what);
    if (x && value != 0.0f)
        for (int64_t i = 0; i < n; i++)
            x[i] = value;
    return x;
}

static uz_status alloc_states(uz_optim *o, const uz_optim_config *c)
{
    int64_t n = o->numel, G = o->n_groups;
    switch (c->kind) {
    case UZ_OPTIM_SGD:
    case UZ_OPTIM_LARS:
        if (c->momentum > 0.0f) {
            if (!(o->m = alloc_f32(n, 0.0f, "optimizer momentum")))
                return UZ_ERR_NOMEM;
            add_state(o, "optim.momentum_buffer", UZ_F32, n, o->m);
        }
        break;
    case UZ_OPTIM_ADAMW:
    case UZ_OPTIM_MT_ADAMW:
    case UZ_OPTIM_LAMB:
        if (c->fp8_states) {
            /* Empty groups: codes 0, scale 0, k 1 dequantize to zero. */
            o->qm = uz_calloc((size_t)(n ? n : 1), "optimizer fp8 exp_avg");
            o->qv = uz_calloc((size_t)(n ? n : 1), "optimizer fp8 exp_avg_sq");
            o->sm = alloc_f32(G, 0.0f, "optimizer fp8 scales");
            o->sv = alloc_f32(G, 0.0f, "optimizer fp8 scales");
            o->km = alloc_f32(G, 1.0f, "optimizer fp8 exponents");
            o->kv = alloc_f32(G, 1.0f, "optimizer fp8 exponents");
            if (!o->qm || !o->qv || !o->sm || !o->sv || !o->km || !o->kv)
                return UZ_ERR_NOMEM;
            add_state(o, "optim.exp_avg.fp8", UZ_U8, n, o->qm);
            add_state(o, "optim.exp_avg.scale", UZ_F32, G, o->sm);
            add_state(o, "optim.exp_avg.k", UZ_F32, G, o->km);
            add_state(o, "optim.exp_avg_sq.fp8", UZ_U8, n, o->qv);
            add_state(o, "optim.exp_avg_sq.scale", UZ_F32, G, o->sv);
            add_state(o, "optim.exp_avg_sq.k", UZ_F32, G, o->kv);
        } else {
            o->m = alloc_f32(n, 0.0f, "optimizer exp_avg");
            o->v = alloc_f32(n, 0.0f, "optimizer exp_avg_sq");
            if (!o->m || !o->v)
                return UZ_ERR_NOMEM;
            add_state(o, "optim.exp_avg", UZ_F32, n, o->m);
            add_state(o, "optim.exp_avg_sq", UZ_F32, n, o->v);
        }
        break;
    case UZ_OPTIM_ADAGRAD:
        if (!(o->v = alloc_f32(n, c->initial_accumulator, "optimizer adagrad sum")))
            return UZ_ERR_NOMEM;
        add_state(o, "optim.sum", UZ_F32, n, o->v);
        break;
    case UZ_OPTIM_ADAGRAD_NORM:
        o->b2 = (double)c->initial_accumulator;
        add_state(o, "optim.b2", UZ_F64, 1, &o->b2);
        break;
    }
    add_state(o, "optim.step", UZ_I64, 1, &o->step);
    return UZ_OK;
}

/* The shortest decimal that rounds to x, as a double. Betas are written in
 * decimal (0.999) but held as floats (0.999000013), and 1 - beta and
 * 1 - beta^t cancel four of the float's digits (1.3e-5 relative for 0.999):
 * computing them from the decimal instead matches PyTorch, which does this
 * arithmetic in double on the Python value. */
static double decimal_of(float x)
{
    char buf[32];
    for (int digits = 1; digits < 9; digits++) {
        snprintf(buf, sizeof buf, "%.*g", digits, (double)x);
        double d = strtod(buf, NULL);
        if ((float)d == x)
            return d;
    }
    return (double)x;
}

uz_status uz_optim_new(const uz_optim_config *cfg, uz_params *p, uz_optim **out)
{
    *out = NULL;
    if (!cfg || !p)
        return UZ_FAIL(UZ_ERR_ARG, "optim: NULL %s", cfg ? "parameter store" : "config");
    uz_status st = check_config(cfg);
    if (st != UZ_OK)
        return st;
    if (!uz_params_data(p))
        return UZ_FAIL(UZ_ERR_ARG, "%s: parameter store is not finalized", KIND_NAMES[cfg->kind]);
    uz_optim *o = uz_calloc(sizeof *o, "optimizer");
    if (!o)
        return UZ_ERR_NOMEM;
    /* Only scalars are kept: the pattern strings are resolved into the
     * segments here, so the caller's config need not outlive this call. */
    o->kind = cfg->kind;
    o->weight_decay = cfg->weight_decay;
    o->momentum = cfg->momentum;
    o->nesterov = cfg->nesterov;
    o->beta1 = cfg->beta1;
    o->beta2 = cfg->beta2;
    o->beta1_dec = decimal_of(cfg->beta1);
    o->beta2_dec = decimal_of(cfg->beta2);
    o->eps = cfg->eps;
    o->lars_eta = cfg->lars_eta;
    o->bias_correction = cfg->bias_correction;
    o->fp8 = cfg->fp8_states;
    o->max_grad_norm = cfg->max_grad_norm;
    o->p = p;
    o->numel = uz_params_numel(p);
    if ((st = build_segments(o, cfg)) != UZ_OK || (st = alloc_states(o, cfg)) != UZ_OK) {
        uz_optim_free(o);
        return st;
    }
    *out = o;
    return UZ_OK;
}

void uz_optim_free(uz_optim *o)
{
    if (!o)
        return;
    uz_free(o->seg);
    uz_free(o->chunk);
    uz_free(o->part_a);
    uz_free(o->part_b);
    uz_free(o->seg_g2);
    uz_free(o->seg_a);
    uz_free(o->seg_b);
    uz_free(o->seg_ratio);
    uz_free(o->m);
    uz_free(o->v);
    uz_free(o->qm);
    uz_free(o->qv);
    uz_free(o->sm);
    uz_free(o->km);
    uz_free(o->sv);
    uz_free(o->kv);
    uz_free(o);
}

double uz_optim_sumsq(const float *x, int64_t n)
{
    /* Eight lanes so the loop vectorises without reassociating a sum. */
    double acc[8] = {0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++)
            acc[k] += (double)x[i + k] * (double)x[i + k];
    for (int k = 0; i < n; i++, k++)
        acc[k] += (double)x[i] * (double)x[i];
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

void uz_optim_chunk_sumsq(const uz_optim *o, const float *x, double *part)
{
    const uz_optim_chunk *ch = o->chunk;
#pragma omp parallel for schedule(static) if (UZ_OPTIM_PARALLEL(o))
    for (int c = 0; c < o->n_chunk; c++)
        part[c] = uz_optim_sumsq(x + ch[c].off, ch[c].n);
}

void uz_optim_reduce(const uz_optim *o, const double *part, double *out)
{
    for (int s = 0; s < o->n_seg; s++)
        out[s] = 0.0;
    for (int c = 0; c < o->n_chunk; c++)
        out[o->chunk[c].seg] += part[c];
}

/* Names the first non-finite gradient element (segments in store order). */
static uz_status non_finite(const uz_optim *o, const float *g)
{
    for (int s = 0; s < o->n_seg; s++) {
        if (isfinite(o->seg_g2[s]))
            continue;
        const uz_optim_seg *sg = &o->seg[s];
        for (int64_t i = 0; i < sg->n; i++)
            if (!isfinite(g[sg->off + i]))
                return UZ_FAIL(UZ_ERR_NUMERIC,
                               "%s: non-finite gradient in parameter '%s' (element %lld is %g) "
                               "at step %lld; nothing was updated",
                               KIND_NAMES[o->kind], sg->name, (long long)i,
                               (double)g[sg->off + i], (long long)o->step + 1);
    }
    return UZ_OK;
}

uz_status uz_optim_step(uz_optim *o, float lr, const uz_optim_task *task, float *grad_norm)
{
    if (!o)
        return UZ_FAIL(UZ_ERR_ARG, "optim: NULL optimizer");
    const char *k = KIND_NAMES[o->kind];
    if (!is_nonneg(lr))
        return UZ_FAIL(UZ_ERR_ARG, "%s: learning rate %g must be finite and >= 0", k, (double)lr);
    if (o->kind == UZ_OPTIM_MT_ADAMW) {
        if (!task)
            return UZ_FAIL(UZ_ERR_ARG, "mt-adamw: step needs the task's weight and ratio");
        if (!is_nonneg(task->weight) || !(task->ratio > 0.0f && task->ratio <= 1.0f))
            return UZ_FAIL(UZ_ERR_ARG,
                           "mt-adamw: task weight %g must be >= 0 and ratio %g in (0, 1]",
                           (double)task->weight, (double)task->ratio);
    }
    const float *g = uz_params_grad(o->p);
    uz_optim_chunk_sumsq(o, g, o->part_a);
    uz_optim_reduce(o, o->part_a, o->seg_g2);
    double total = 0.0;
    for (int s = 0; s < o->n_seg; s++)
        total += o->seg_g2[s];
    if (!isfinite(total))
        return non_finite(o, g);
    double norm = sqrt(total);
    if (grad_norm)
        *grad_norm = (float)norm;
    float gscale = 1.0f;
    if (o->max_grad_norm > 0.0f && norm > (double)o->max_grad_norm)
        gscale = (float)((double)o->max_grad_norm / norm);
    o->step++;
    switch (o->kind) {
    case UZ_OPTIM_SGD: uz_optim_sgd_update(o, lr, gscale); break;
    case UZ_OPTIM_LARS: uz_optim_lars_update(o, lr, gscale); break;
    case UZ_OPTIM_ADAMW: uz_optim_adamw_update(o, lr, gscale, 1.0f); break;
    case UZ_OPTIM_MT_ADAMW:
        /* g = omega_k * g / ||g|| with the norm global over every trainable
         * parameter (clipping cannot change a normalised gradient). A zero
         * norm means an all-zero gradient: normalising is skipped (0/0), so
         * the moments just decay. */
        gscale = norm > 0.0 ? (float)((double)task->weight / norm) : task->weight;
        uz_optim_adamw_update(o, lr, gscale, task->ratio);
        break;
    case UZ_OPTIM_LAMB: uz_optim_lamb_update(o, lr, gscale); break;
    case UZ_OPTIM_ADAGRAD: uz_optim_adagrad_update(o, lr, gscale); break;
    case UZ_OPTIM_ADAGRAD_NORM:
        uz_optim_adagrad_norm_update(o, lr, gscale, total * (double)gscale * (double)gscale);
        break;
    }
    return UZ_OK;
}

int64_t uz_optim_steps(const uz_optim *o) { return o->step; }

int uz_optim_state_count(const uz_optim *o) { return o->n_state; }

uz_optim_state uz_optim_state_at(const uz_optim *o, int i)
{
    if (i < 0 || i >= o->n_state)
        return (uz_optim_state){0};
    return o->state[i];
}

static size_t dtype_size(uz_dtype d)
{
    switch (d) {
    case UZ_F64:
    case UZ_I64: return 8;
    case UZ_U8: return 1;
    case UZ_BF16:
    case UZ_F16: return 2;
    case UZ_F32:
    case UZ_I32: return 4;
    }
    return 4;
}

size_t uz_optim_state_bytes(const uz_optim *o)
{
    size_t bytes = 0;
    for (int i = 0; i < o->n_state; i++)
        bytes += (size_t)o->state[i].numel * dtype_size(o->state[i].dtype);
    return bytes;
}
