/* The per-step context: arena, tape, grad mode and random stream counter. */
#include "context.h"

#include "alloc.h"

uz_ctx *uz_ctx_new(size_t arena_bytes, size_t arena_limit)
{
    uz_ctx *ctx = uz_calloc(sizeof *ctx, "context");
    if (!ctx)
        return NULL;
    ctx->arena = uz_arena_new(arena_bytes, arena_limit);
    if (!ctx->arena) {
        uz_free(ctx);
        return NULL;
    }
    ctx->grad_enabled = true;
    ctx->arena_bytes = arena_bytes;
    ctx->arena_limit = arena_limit;
    return ctx;
}

void uz_ctx_free(uz_ctx *ctx)
{
    if (!ctx)
        return;
    uz_arena_free(ctx->arena);
    uz_arena_free(ctx->dev_arena);
    uz_free(ctx);
}

void uz_ctx_reset(uz_ctx *ctx)
{
    uz_arena_reset(ctx->arena);
    if (ctx->dev_arena)
        uz_arena_reset(ctx->dev_arena);
    ctx->tape = NULL;
}

size_t uz_ctx_arena_peak(const uz_ctx *ctx) { return uz_arena_peak(ctx->arena); }
void *uz_ctx_alloc(uz_ctx *ctx, size_t bytes) { return uz_arena_alloc(ctx->arena, bytes); }
void *uz_ctx_zalloc(uz_ctx *ctx, size_t bytes) { return uz_arena_zalloc(ctx->arena, bytes); }

bool uz_grad_enable(uz_ctx *ctx, bool on)
{
    bool was = ctx->grad_enabled;
    ctx->grad_enabled = on;
    return was;
}

bool uz_grad_enabled(const uz_ctx *ctx) { return ctx->grad_enabled; }

void uz_ctx_set_seed(uz_ctx *ctx, uint64_t seed)
{
    ctx->seed = seed;
    ctx->stream = 0;
}

uint64_t uz_ctx_seed(const uz_ctx *ctx) { return ctx->seed; }
uint64_t uz_ctx_next_stream(uz_ctx *ctx) { return ctx->stream++; }
uint64_t uz_ctx_stream(const uz_ctx *ctx) { return ctx->stream; }
void uz_ctx_set_stream(uz_ctx *ctx, uint64_t stream) { ctx->stream = stream; }
