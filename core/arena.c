/* Chunked bump arena that converges to a single chunk. */
#include "arena.h"

#include "alloc.h"
#include "error.h"

#include <string.h>

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
};

static uz_chunk *chunk_new(size_t cap)
{
    uz_chunk *c = uz_malloc(sizeof *c, "arena chunk header");
    if (!c)
        return NULL;
    c->mem = uz_malloc(cap, "arena chunk");
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
    uz_arena *a = uz_calloc(sizeof *a, "arena");
    if (!a)
        return NULL;
    a->limit = limit;
    a->head = chunk_new(initial_bytes ? initial_bytes : (size_t)1 << 20);
    if (!a->head) {
        uz_free(a);
        return NULL;
    }
    return a;
}

static void chunks_free(uz_chunk *c)
{
    while (c) {
        uz_chunk *n = c->next;
        uz_free(c->mem);
        uz_free(c);
        c = n;
    }
}

void uz_arena_free(uz_arena *a)
{
    if (!a)
        return;
    chunks_free(a->head);
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
    if (c->cap - c->used < need) {
        size_t cap = c->cap * 2 > need ? c->cap * 2 : need;
        uz_chunk *n = chunk_new(cap);
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
    if (p)
        memset(p, 0, bytes);
    return p;
}

void uz_arena_reset(uz_arena *a)
{
    if (a->head->next) {
        uz_chunk *one = chunk_new(a->peak);
        if (one) {
            chunks_free(a->head);
            a->head = one;
        } else {
            /* Keep the old chunks: still correct, just not coalesced. */
            for (uz_chunk *c = a->head; c; c = c->next)
                c->used = 0;
        }
    }
    a->head->used = 0;
    a->live = 0;
}

size_t uz_arena_used(const uz_arena *a) { return a->live; }
size_t uz_arena_peak(const uz_arena *a) { return a->peak; }
