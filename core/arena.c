/* Chunked bump arena that converges to a single chunk. */
#include "arena.h"

#include "alloc.h"
#include "device.h"
#include "error.h"

typedef struct uz_chunk {
    struct uz_chunk *next;
    size_t cap, used;
    unsigned char *mem;
} uz_chunk;

struct uz_arena {
    uz_chunk *head;   /* current chunk; older ones follow */
    size_t live;      /* bytes handed out since the last reset */
    size_t peak;
    size_t limit;
    uz_device dev;    /* where the chunks' memory lives */
};

static uz_chunk *chunk_new(uz_device dev, size_t cap)
{
    uz_chunk *c = uz_malloc(sizeof *c, "arena chunk header");
    if (!c)
        return NULL;
    c->mem = uz_device_malloc(dev, cap, "arena chunk");
    if (!c->mem) {
        uz_free(c);
        return NULL;
    }
    c->cap = cap;
    c->used = 0;
    c->next = NULL;
    return c;
}

uz_arena *uz_arena_new(size_t initial_bytes, size_t limit)
{
    return uz_arena_new_on(UZ_DEVICE_CPU, initial_bytes, limit);
}

uz_arena *uz_arena_new_on(uz_device dev, size_t initial_bytes, size_t limit)
{
    uz_arena *a = uz_calloc(sizeof *a, "arena");
    if (!a)
        return NULL;
    a->limit = limit;
    a->dev = dev;
    a->head = chunk_new(dev, initial_bytes ? initial_bytes : (size_t)1 << 20);
    if (!a->head) {
        uz_free(a);
        return NULL;
    }
    return a;
}

static void chunks_free(uz_device dev, uz_chunk *c)
{
    while (c) {
        uz_chunk *n = c->next;
        uz_device_free(dev, c->mem);
        uz_free(c);
        c = n;
    }
}

void uz_arena_free(uz_arena *a)
{
    if (!a)
        return;
    chunks_free(a->dev, a->head);
    uz_free(a);
}

void *uz_arena_alloc(uz_arena *a, size_t bytes)
{
    size_t need = (bytes + 63u) & ~(size_t)63u;
    if (a->limit && a->live + need > a->limit) {
        UZ_FAIL(UZ_ERR_NOMEM, "arena limit of %zu bytes reached: %zu live, %zu more requested",
                a->limit, a->live, need);
        return NULL;
    }
    uz_chunk *c = a->head;
    if (!c || c->cap - c->used < need) {
        size_t cap = c && c->cap * 2 > need ? c->cap * 2 : need;
        uz_chunk *n = chunk_new(a->dev, cap);
        if (!n)
            return NULL;
        n->next = c;
        a->head = c = n;
    }
    void *p = c->mem + c->used;
    c->used += need;
    a->live += need;
    if (a->live > a->peak)
        a->peak = a->live;
    return p;
}

void *uz_arena_zalloc(uz_arena *a, size_t bytes)
{
    void *p = uz_arena_alloc(a, bytes);
    if (p && uz_device_zero(a->dev, p, bytes) != UZ_OK)
        return NULL;
    return p;
}

void uz_arena_reset(uz_arena *a)
{
    if (a->dev != UZ_DEVICE_CPU && a->head && a->head->next) {
        /* Device memory is scarce: the old chunks go before the coalesced
         * one is asked for, so the two never coexist. If that request
         * fails, no chunk is left and the next allocation makes one. */
        chunks_free(a->dev, a->head);
        a->head = chunk_new(a->dev, a->peak);
    } else if (a->head && a->head->next) {
        uz_chunk *one = chunk_new(a->dev, a->peak);
        if (one) {
            chunks_free(a->dev, a->head);
            a->head = one;
        } else {
            /* Keep the old chunks: still correct, just not coalesced. */
            for (uz_chunk *c = a->head; c; c = c->next)
                c->used = 0;
        }
    }
    if (a->head)
        a->head->used = 0;
    a->live = 0;
}

size_t uz_arena_used(const uz_arena *a) { return a->live; }
size_t uz_arena_peak(const uz_arena *a) { return a->peak; }
