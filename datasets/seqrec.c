/* Readers for sequential-recommendation data (S3-Rec text, RecBole atomic
 * files) into CSR. The whole file is read into memory and tokenised in place;
 * tokens are interned in one string pool keyed by an open-addressing map. */
#include "seqrec.h"

#include "core/alloc.h"
#include "core/file_io.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---- growable arrays --------------------------------------------------- */

typedef struct vec {
    char *p;
    size_t n, cap, elem;
} vec;

#define VEC(type) ((vec){.elem = sizeof(type)})
#define VEC_AT(v, type, i) (((type *)(v).p)[i])

static bool vec_reserve(vec *v, size_t need, const char *what)
{
    if (need <= v->cap)
        return true;
    size_t cap = v->cap ? v->cap : 64;
    while (cap < need)
        cap *= 2;
    char *p = uz_malloc(cap * v->elem, what);
    if (!p)
        return false;
    if (v->n)
        memcpy(p, v->p, v->n * v->elem);
    uz_free(v->p);
    v->p = p;
    v->cap = cap;
    return true;
}

static void *vec_push(vec *v, const char *what)
{
    if (!vec_reserve(v, v->n + 1, what))
        return NULL;
    return v->p + v->elem * v->n++;
}

/* Exact-size copy, so a loaded data set holds no growth slack. */
static void *vec_take(const vec *v, const char *what)
{
    void *p = uz_malloc(v->n ? v->n * v->elem : 1, what);
    if (p && v->n)
        memcpy(p, v->p, v->n * v->elem);
    return p;
}

/* ---- interned tokens ----------------------------------------------------- */

typedef struct tokmap {
    int32_t *slot; /* id + 1; 0 = empty */
    size_t size;   /* power of two */
    vec off;       /* int64_t: pool offset of each id's token */
} tokmap;

static uint64_t hash_bytes(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

static bool pool_add(vec *pool, const char *s, size_t n, int64_t *off)
{
    if (!vec_reserve(pool, pool->n + n + 1, "seqrec strings"))
        return false;
    *off = (int64_t)pool->n;
    memcpy(pool->p + pool->n, s, n);
    pool->p[pool->n + n] = '\0';
    pool->n += n + 1;
    return true;
}

static bool tokmap_rehash(tokmap *m, const vec *pool)
{
    size_t size = m->size ? m->size * 2 : 1024;
    int32_t *slot = uz_calloc(size * sizeof *slot, "seqrec token map");
    if (!slot)
        return false;
    for (size_t i = 0; i < m->off.n; i++) {
        const char *t = pool->p + VEC_AT(m->off, int64_t, i);
        size_t j = hash_bytes(t, strlen(t)) & (size - 1);
        while (slot[j])
            j = (j + 1) & (size - 1);
        slot[j] = (int32_t)(i + 1);
    }
    uz_free(m->slot);
    m->slot = slot;
    m->size = size;
    return true;
}

/* Returns the 0-based id of token s[0..n), adding it to the pool when new
 * (*added says which); -1 when out of memory or out of int32 ids. */
static int64_t tokmap_intern(tokmap *m, vec *pool, const char *s, size_t n, bool *added)
{
    if (m->off.n * 2 >= m->size && !tokmap_rehash(m, pool))
        return -1;
    size_t j = hash_bytes(s, n) & (m->size - 1);
    while (m->slot[j]) {
        int64_t id = m->slot[j] - 1;
        const char *t = pool->p + VEC_AT(m->off, int64_t, id);
        if (strncmp(t, s, n) == 0 && t[n] == '\0') {
            *added = false;
            return id;
        }
        j = (j + 1) & (m->size - 1);
    }
    if (m->off.n >= (size_t)INT32_MAX - 1) {
        UZ_FAIL(UZ_ERR_FORMAT, "seqrec: more than %d distinct tokens", INT32_MAX - 1);
        return -1;
    }
    int64_t off;
    int64_t *slot_off = pool_add(pool, s, n, &off) ? vec_push(&m->off, "seqrec token map") : NULL;
    if (!slot_off)
        return -1;
    *slot_off = off;
    m->slot[j] = (int32_t)m->off.n;
    *added = true;
    return (int64_t)m->off.n - 1;
}

static void tokmap_free(tokmap *m)
{
    uz_free(m->slot);
    uz_free(m->off.p);
}

/* ---- file and lines ------------------------------------------------------ */

typedef struct lines {
    char *buf;
    size_t len, pos;
    int64_t no; /* 1-based number of the current line */
} lines;

static bool is_blank(const char *s, const char *end)
{
    for (; s < end; s++)
        if (*s != ' ' && *s != '\t' && *s != '\r' && *s != '\n')
            return false;
    return true;
}

/* Next line, NUL-terminated in place without its "\n" or "\r\n". Returns
 * false at the end, or when only blank lines remain (a trailing empty line is
 * an editor artefact, not data). */
static bool next_line(lines *it, char **line, size_t *n)
{
    if (it->pos >= it->len || is_blank(it->buf + it->pos, it->buf + it->len))
        return false;
    char *s = it->buf + it->pos;
    char *nl = memchr(s, '\n', it->len - it->pos);
    char *e = nl ? nl : it->buf + it->len;
    it->pos = (size_t)(e - it->buf) + (nl ? 1 : 0);
    if (e > s && e[-1] == '\r')
        e--;
    *e = '\0';
    it->no++;
    *line = s;
    *n = (size_t)(e - s);
    return true;
}

/* ---- assembling the result ----------------------------------------------- */

typedef struct builder {
    vec offsets;   /* int64_t, starts with 0 */
    vec items;     /* int32_t */
    vec pool;      /* char */
    tokmap users;  /* user tokens (canonical) */
    tokmap items_map;
    vec user_line; /* int64_t: line where each user first appeared */
    vec titles;    /* int64_t per dense item id: pool offset, -1 = none */
    bool named_items;
    int64_t n_items;
} builder;

static void builder_free(builder *b)
{
    uz_free(b->offsets.p);
    uz_free(b->items.p);
    uz_free(b->pool.p);
    tokmap_free(&b->users);
    tokmap_free(&b->items_map);
    uz_free(b->user_line.p);
    uz_free(b->titles.p);
}

static uz_status set_stats(uz_seqrec *d, const char *path)
{
    d->min_len = INT64_MAX;
    d->max_len = 0;
    for (int64_t u = 0; u < d->n_users; u++) {
        int64_t n = uz_seqrec_len(d, u);
        d->min_len = n < d->min_len ? n : d->min_len;
        d->max_len = n > d->max_len ? n : d->max_len;
    }
    uint8_t *seen = uz_calloc((size_t)d->n_items + 1, path);
    if (!seen)
        return UZ_ERR_NOMEM;
    d->n_items_seen = 0;
    for (int64_t i = 0; i < d->n_inter; i++)
        if (!seen[d->items[i]]) {
            seen[d->items[i]] = 1;
            d->n_items_seen++;
        }
    uz_free(seen);
    return UZ_OK;
}

static uz_status builder_finish(builder *b, const char *path, uz_seqrec *out)
{
    uz_seqrec d = {0};
    d.n_users = (int64_t)b->offsets.n - 1;
    d.n_inter = (int64_t)b->items.n;
    d.n_items = b->n_items;
    d.offsets = vec_take(&b->offsets, "seqrec offsets");
    d.items = vec_take(&b->items, "seqrec items");
    d.strings = vec_take(&b->pool, "seqrec strings");
    d.user_names = uz_malloc((size_t)d.n_users * sizeof *d.user_names + 1, "seqrec user names");
    if (b->named_items)
        d.item_names = uz_malloc(((size_t)d.n_items + 1) * sizeof *d.item_names, "seqrec item names");
    if (b->titles.n)
        d.titles = uz_malloc(((size_t)d.n_items + 1) * sizeof *d.titles, "seqrec titles");
    if (!d.offsets || !d.items || !d.strings || !d.user_names || (b->named_items && !d.item_names) ||
        (b->titles.n && !d.titles)) {
        uz_seqrec_free(&d);
        return UZ_ERR_NOMEM;
    }
    for (int64_t u = 0; u < d.n_users; u++)
        d.user_names[u] = d.strings + VEC_AT(b->users.off, int64_t, u);
    if (d.item_names) {
        d.item_names[0] = "[PAD]";
        for (int64_t i = 1; i <= d.n_items; i++)
            d.item_names[i] = d.strings + VEC_AT(b->items_map.off, int64_t, i - 1);
    }
    if (d.titles) {
        d.titles[0] = NULL;
        for (int64_t i = 1; i <= d.n_items; i++) {
            int64_t off = (size_t)i < b->titles.n ? VEC_AT(b->titles, int64_t, i) : -1;
            d.titles[i] = off >= 0 ? d.strings + off : NULL;
        }
    }
    uz_status st = set_stats(&d, path);
    if (st != UZ_OK) {
        uz_seqrec_free(&d);
        return st;
    }
    *out = d;
    return UZ_OK;
}

/* ---- S3-Rec text format -------------------------------------------------- */

static bool is_sep(char c) { return c == ' ' || c == '\t'; }

/* Parses a run of decimal digits into *v (no sign, no overflow past limit). */
static bool parse_uint(const char *s, size_t n, int64_t limit, int64_t *v)
{
    if (n == 0)
        return false;
    int64_t x = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        x = x * 10 + (s[i] - '0');
        if (x > limit)
            return false;
    }
    *v = x;
    return true;
}

static uz_status text_line(builder *b, const char *path, const lines *it, const char *s, size_t n)
{
    const char *e = s + n, *p = s;
    while (p < e && is_sep(*p))
        p++;
    const char *t = p;
    while (p < e && !is_sep(*p))
        p++;
    if (t == p)
        return UZ_FAIL(UZ_ERR_FORMAT, "%s:%lld: blank line", path, (long long)it->no);
    int64_t user;
    if (!parse_uint(t, (size_t)(p - t), INT64_MAX / 10, &user))
        return UZ_FAIL(UZ_ERR_FORMAT, "%s:%lld: user id '%.*s' is not a non-negative integer", path,
                       (long long)it->no, (int)(p - t > 40 ? 40 : p - t), t);
    /* The canonical decimal, so "007" and "7" are the same user. */
    char name[24];
    int name_len = snprintf(name, sizeof name, "%lld", (long long)user);
    bool added;
    int64_t uid = tokmap_intern(&b->users, &b->pool, name, (size_t)name_len, &added);
    if (uid < 0)
        return uz_error_status();
    if (!added)
        return UZ_FAIL(UZ_ERR_FORMAT, "%s:%lld: user %s appears again (first on line %lld)", path,
                       (long long)it->no, name, (long long)VEC_AT(b->user_line, int64_t, uid));
    int64_t *line = vec_push(&b->user_line, "seqrec user lines");
    if (!line)
        return UZ_ERR_NOMEM;
    *line = it->no;
    size_t first = b->items.n;
    for (;;) {
        while (p < e && is_sep(*p))
            p++;
        if (p == e)
            break;
        t = p;
        while (p < e && !is_sep(*p))
            p++;
        int64_t item;
        if (!parse_uint(t, (size_t)(p - t), INT32_MAX - 1, &item) || item == 0)
            return UZ_FAIL(UZ_ERR_FORMAT, "%s:%lld: item id '%.*s' is not an integer in 1..%d", path,
                           (long long)it->no, (int)(p - t > 40 ? 40 : p - t), t, INT32_MAX - 1);
        int32_t *slot = vec_push(&b->items, "seqrec items");
        if (!slot)
            return UZ_ERR_NOMEM;
        *slot = (int32_t)item;
        b->n_items = item > b->n_items ? item : b->n_items;
    }
    if (b->items.n == first)
        return UZ_FAIL(UZ_ERR_FORMAT, "%s:%lld: user %s has no items (empty history)", path,
                       (long long)it->no, name);
    int64_t *off = vec_push(&b->offsets, "seqrec offsets");
    if (!off)
        return UZ_ERR_NOMEM;
    *off = (int64_t)b->items.n;
    return UZ_OK;
}

uz_status uz_seqrec_load_text(const char *path, uz_seqrec *out)
{
    *out = (uz_seqrec){0};
    char *buf;
    size_t len;
    uz_status st = uz_file_read_all(path, SIZE_MAX, &buf, &len);
    if (st != UZ_OK)
        return st;
    builder b = {.offsets = VEC(int64_t), .items = VEC(int32_t), .pool = VEC(char),
                 .users.off = VEC(int64_t), .items_map.off = VEC(int64_t),
                 .user_line = VEC(int64_t), .titles = VEC(int64_t)};
    /* Every id takes at least two bytes ("7 "), which bounds the item count. */
    bool ok = vec_reserve(&b.items, len / 2 + 1, "seqrec items");
    int64_t *zero = ok ? vec_push(&b.offsets, "seqrec offsets") : NULL;
    st = zero ? UZ_OK : UZ_ERR_NOMEM;
    if (zero)
        *zero = 0;
    lines it = {.buf = buf, .len = len};
    char *s;
    size_t n;
    while (st == UZ_OK && next_line(&it, &s, &n))
        st = text_line(&b, path, &it, s, n);
    if (st == UZ_OK && b.offsets.n == 1)
        st = UZ_FAIL(UZ_ERR_FORMAT, "%s: no users in the file", path);
    if (st == UZ_OK)
        st = builder_finish(&b, path, out);
    builder_free(&b);
    uz_free(buf);
    return st;
}

/* ---- RecBole atomic files ------------------------------------------------ */

#define MAX_COLS 64

typedef struct header {
    int n;
    char *name[MAX_COLS];  /* NUL-terminated in the file buffer */
    char *type[MAX_COLS];
    char *text[MAX_COLS];  /* the field as written ("user_id:token"), a copy */
    char copy[1024];       /* storage for text[] */
} header;

static int header_find(const header *h, const char *name)
{
    for (int i = 0; i < h->n; i++)
        if (strcmp(h->name[i], name) == 0)
            return i;
    return -1;
}

/* Splits a line at tabs in place; returns the field count (MAX_COLS + 1
 * when there are more than MAX_COLS). */
static int split_tabs(char *s, char **field)
{
    int n = 0;
    for (;;) {
        if (n == MAX_COLS)
            return MAX_COLS + 1;
        field[n++] = s;
        char *tab = strchr(s, '\t');
        if (!tab)
            return n;
        *tab = '\0';
        s = tab + 1;
    }
}

static uz_status parse_header(const char *path, lines *it, header *h)
{
    char *s;
    size_t n;
    if (!next_line(it, &s, &n))
        return UZ_FAIL(UZ_ERR_FORMAT, "%s: empty file, expected a typed header (name:type ...)",
                       path);
    size_t used = 0;
    if (n + 1 > sizeof h->copy)
        return UZ_FAIL(UZ_ERR_FORMAT, "%s:1: header longer than %zu bytes", path,
                       sizeof h->copy - 1);
    h->n = split_tabs(s, h->name);
    if (h->n > MAX_COLS)
        return UZ_FAIL(UZ_ERR_FORMAT, "%s:1: more than %d header columns", path, MAX_COLS);
    static const char *const types[] = {"token", "token_seq", "float", "float_seq"};
    for (int i = 0; i < h->n; i++) {
        size_t flen = strlen(h->name[i]);
        h->text[i] = h->copy + used;
        memcpy(h->text[i], h->name[i], flen + 1);
        used += flen + 1;
        char *colon = strchr(h->name[i], ':');
        if (!colon || colon == h->name[i])
            return UZ_FAIL(UZ_ERR_FORMAT, "%s:1: header field '%s' is not name:type", path,
                           h->text[i]);
        *colon = '\0';
        h->type[i] = colon + 1;
        bool known = false;
        for (size_t k = 0; k < sizeof types / sizeof *types; k++)
            known = known || strcmp(h->type[i], types[k]) == 0;
        if (!known)
            return UZ_FAIL(UZ_ERR_FORMAT,
                           "%s:1: header field '%s' has type '%s' (token, token_seq, float or "
                           "float_seq)", path, h->text[i], h->type[i]);
        for (int j = 0; j < i; j++)
            if (strcmp(h->name[j], h->name[i]) == 0)
                return UZ_FAIL(UZ_ERR_FORMAT, "%s:1: duplicate header column '%s'", path,
                               h->name[i]);
    }
    return UZ_OK;
}

static uz_status require_column(const char *path, const header *h, const char *name,
                                const char *type, int *col)
{
    *col = header_find(h, name);
    if (*col < 0)
        return UZ_FAIL(UZ_ERR_FORMAT, "%s:1: missing required column %s:%s", path, name, type);
    if (strcmp(h->type[*col], type) != 0)
        return UZ_FAIL(UZ_ERR_FORMAT, "%s:1: column %s must be :%s, not :%s", path, name, type,
                       h->type[*col]);
    return UZ_OK;
}

/* Splits a data row and checks it against the header: column count, a second
 * header line (the key columns spelled as in the header), empty keys. */
static uz_status parse_row(const char *path, const lines *it, const header *h, char *s,
                           char **field, const int *keys, int n_keys)
{
    int n = split_tabs(s, field);
    if (n != h->n)
        return UZ_FAIL(UZ_ERR_FORMAT, "%s:%lld: %s%d columns, the header has %d", path,
                       (long long)it->no, n > MAX_COLS ? "over " : "", n > MAX_COLS ? MAX_COLS : n,
                       h->n);
    bool is_header = true;
    for (int k = 0; k < n_keys; k++)
        is_header = is_header && strcmp(field[keys[k]], h->text[keys[k]]) == 0;
    if (is_header)
        return UZ_FAIL(UZ_ERR_FORMAT, "%s:%lld: duplicate header (the header is line 1)", path,
                       (long long)it->no);
    for (int k = 0; k < n_keys; k++)
        if (field[keys[k]][0] == '\0')
            return UZ_FAIL(UZ_ERR_FORMAT, "%s:%lld: empty %s", path, (long long)it->no,
                           h->name[keys[k]]);
    return UZ_OK;
}

typedef struct inter_row {
    double ts;
    int64_t idx; /* file order, the tie-break that makes the sort stable */
    int32_t user, item;
} inter_row;

static int cmp_inter(const void *a, const void *b)
{
    const inter_row *x = a, *y = b;
    if (x->ts != y->ts)
        return x->ts < y->ts ? -1 : 1;
    return (x->idx > y->idx) - (x->idx < y->idx);
}

static uz_status read_inter(builder *b, const char *path, char *buf, size_t len, vec *rows,
                            bool *timed)
{
    lines it = {.buf = buf, .len = len};
    header h;
    uz_status st = parse_header(path, &it, &h);
    int cu, ci;
    if (st == UZ_OK)
        st = require_column(path, &h, "user_id", "token", &cu);
    if (st == UZ_OK)
        st = require_column(path, &h, "item_id", "token", &ci);
    if (st != UZ_OK)
        return st;
    int ct = header_find(&h, "timestamp");
    if (ct >= 0 && strcmp(h.type[ct], "float") != 0)
        return UZ_FAIL(UZ_ERR_FORMAT, "%s:1: column timestamp must be :float, not :%s", path,
                       h.type[ct]);
    *timed = ct >= 0;
    const int keys[2] = {cu, ci};
    char *field[MAX_COLS];
    char *s;
    size_t n;
    while (next_line(&it, &s, &n)) {
        st = parse_row(path, &it, &h, s, field, keys, 2);
        if (st != UZ_OK)
            return st;
        inter_row r = {.idx = (int64_t)rows->n};
        if (ct >= 0) {
            char *end;
            errno = 0;
            r.ts = strtod(field[ct], &end);
            if (end == field[ct] || *end != '\0' || errno == ERANGE || !isfinite(r.ts))
                return UZ_FAIL(UZ_ERR_FORMAT, "%s:%lld: timestamp '%.40s' is not a finite number",
                               path, (long long)it.no, field[ct]);
        }
        bool added;
        int64_t u = tokmap_intern(&b->users, &b->pool, field[cu], strlen(field[cu]), &added);
        int64_t i = u < 0 ? -1 : tokmap_intern(&b->items_map, &b->pool, field[ci],
                                                 strlen(field[ci]), &added);
        inter_row *slot = i < 0 ? NULL : vec_push(rows, "seqrec interactions");
        if (!slot)
            return uz_error_status();
        r.user = (int32_t)u;
        r.item = (int32_t)(i + 1);
        *slot = r;
    }
    if (rows->n == 0)
        return UZ_FAIL(UZ_ERR_FORMAT, "%s: no interactions after the header", path);
    return UZ_OK;
}

/* Groups rows by user (users in order of first appearance, rows in file
 * order: a counting sort is stable), then sorts each user's rows by time. */
static uz_status group_rows(builder *b, vec *rows, bool timed)
{
    int64_t n_users = (int64_t)b->users.off.n, n = (int64_t)rows->n;
    if (!vec_reserve(&b->offsets, (size_t)n_users + 1, "seqrec offsets") ||
        !vec_reserve(&b->items, (size_t)n, "seqrec items"))
        return UZ_ERR_NOMEM;
    int64_t *off = (int64_t *)b->offsets.p;
    memset(off, 0, ((size_t)n_users + 1) * sizeof *off);
    const inter_row *r = (const inter_row *)rows->p;
    for (int64_t k = 0; k < n; k++)
        off[r[k].user + 1]++;
    for (int64_t u = 0; u < n_users; u++)
        off[u + 1] += off[u];
    inter_row *g = uz_malloc((size_t)n * sizeof *g, "seqrec grouping");
    int64_t *fill = uz_malloc((size_t)n_users * sizeof *fill + 1, "seqrec grouping");
    if (!g || !fill) {
        uz_free(g);
        uz_free(fill);
        return UZ_ERR_NOMEM;
    }
    memcpy(fill, off, (size_t)n_users * sizeof *fill);
    for (int64_t k = 0; k < n; k++)
        g[fill[r[k].user]++] = r[k];
    if (timed)
        for (int64_t u = 0; u < n_users; u++)
            qsort(g + off[u], (size_t)(off[u + 1] - off[u]), sizeof *g, cmp_inter);
    int32_t *items = (int32_t *)b->items.p;
    for (int64_t k = 0; k < n; k++)
        items[k] = g[k].item;
    b->offsets.n = (size_t)n_users + 1;
    b->items.n = (size_t)n;
    uz_free(g);
    uz_free(fill);
    return UZ_OK;
}

/* Titles from the .item file; items listed only there get new ids after the
 * .inter ones, as RecBole's remapping does. */
static uz_status read_items(builder *b, const char *path, char *buf, size_t len)
{
    lines it = {.buf = buf, .len = len};
    header h;
    uz_status st = parse_header(path, &it, &h);
    int ci;
    if (st == UZ_OK)
        st = require_column(path, &h, "item_id", "token", &ci);
    if (st != UZ_OK)
        return st;
    int ctitle = -1;
    for (int c = 0; c < h.n && ctitle < 0; c++) {
        size_t l = strlen(h.name[c]);
        if (l >= 5 && strcmp(h.name[c] + l - 5, "title") == 0)
            ctitle = c;
    }
    vec listed = VEC(int64_t); /* per dense id: line in the .item file, 0 = none */
    const int keys[1] = {ci};
    char *field[MAX_COLS];
    char *s;
    size_t n;
    while (st == UZ_OK && next_line(&it, &s, &n)) {
        st = parse_row(path, &it, &h, s, field, keys, 1);
        if (st != UZ_OK)
            break;
        bool added;
        int64_t i = tokmap_intern(&b->items_map, &b->pool, field[ci], strlen(field[ci]), &added);
        size_t need = b->items_map.off.n + 1;
        if (i < 0 || !vec_reserve(&listed, need, path) || !vec_reserve(&b->titles, need, path)) {
            st = uz_error_status();
            break;
        }
        for (; listed.n < need; listed.n++)
            VEC_AT(listed, int64_t, listed.n) = 0;
        for (; b->titles.n < need; b->titles.n++)
            VEC_AT(b->titles, int64_t, b->titles.n) = -1;
        int64_t id = i + 1;
        if (VEC_AT(listed, int64_t, id)) {
            st = UZ_FAIL(UZ_ERR_FORMAT, "%s:%lld: item '%s' is listed again (first on line %lld)",
                         path, (long long)it.no, field[ci],
                         (long long)VEC_AT(listed, int64_t, id));
            break;
        }
        VEC_AT(listed, int64_t, id) = it.no;
        int64_t off;
        if (ctitle >= 0 && field[ctitle][0] != '\0') {
            if (!pool_add(&b->pool, field[ctitle], strlen(field[ctitle]), &off)) {
                st = UZ_ERR_NOMEM;
                break;
            }
            VEC_AT(b->titles, int64_t, id) = off;
        }
    }
    uz_free(listed.p);
    if (ctitle < 0)
        b->titles.n = 0; /* no title column: no titles at all */
    return st;
}

uz_status uz_seqrec_load_atomic(const char *inter_path, const char *item_path, uz_seqrec *out)
{
    *out = (uz_seqrec){0};
    char *buf;
    size_t len;
    uz_status st = uz_file_read_all(inter_path, SIZE_MAX, &buf, &len);
    if (st != UZ_OK)
        return st;
    builder b = {.offsets = VEC(int64_t), .items = VEC(int32_t), .pool = VEC(char),
                 .users.off = VEC(int64_t), .items_map.off = VEC(int64_t),
                 .user_line = VEC(int64_t), .titles = VEC(int64_t), .named_items = true};
    vec rows = VEC(inter_row);
    bool timed = false;
    st = read_inter(&b, inter_path, buf, len, &rows, &timed);
    uz_free(buf);
    if (st == UZ_OK)
        st = group_rows(&b, &rows, timed);
    uz_free(rows.p);
    if (st == UZ_OK && item_path) {
        st = uz_file_read_all(item_path, SIZE_MAX, &buf, &len);
        if (st == UZ_OK) {
            st = read_items(&b, item_path, buf, len);
            uz_free(buf);
        }
    }
    if (st == UZ_OK) {
        b.n_items = (int64_t)b.items_map.off.n;
        st = builder_finish(&b, inter_path, out);
    }
    builder_free(&b);
    return st;
}

/* ---- dispatch, summary, names ------------------------------------------- */

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

uz_status uz_seqrec_load(const char *path, uz_seqrec *out)
{
    *out = (uz_seqrec){0};
    if (!path)
        return UZ_FAIL(UZ_ERR_ARG, "seqrec load: NULL path");
    struct stat sb;
    char inter[4096], item[4096];
    if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) {
        size_t n = strlen(path);
        while (n > 1 && path[n - 1] == '/')
            n--;
        size_t base = n;
        while (base > 0 && path[base - 1] != '/')
            base--;
        int w = snprintf(inter, sizeof inter, "%.*s/%.*s.inter", (int)n, path, (int)(n - base),
                         path + base);
        if (w < 0 || (size_t)w >= sizeof inter)
            return UZ_FAIL(UZ_ERR_ARG, "%s: path too long", path);
    } else if (ends_with(path, ".inter")) {
        if (strlen(path) >= sizeof inter)
            return UZ_FAIL(UZ_ERR_ARG, "%s: path too long", path);
        snprintf(inter, sizeof inter, "%s", path);
    } else {
        return uz_seqrec_load_text(path, out);
    }
    snprintf(item, sizeof item, "%.*s.item", (int)(strlen(inter) - strlen(".inter")), inter);
    return uz_seqrec_load_atomic(inter, stat(item, &sb) == 0 ? item : NULL, out);
}

void uz_seqrec_free(uz_seqrec *d)
{
    uz_free(d->offsets);
    uz_free(d->items);
    uz_free((void *)d->user_names);
    uz_free((void *)d->item_names);
    uz_free((void *)d->titles);
    uz_free(d->strings);
    *d = (uz_seqrec){0};
}

void uz_seqrec_summary(const uz_seqrec *d, char *buf, size_t n)
{
    double avg = d->n_users ? (double)d->n_inter / (double)d->n_users : 0.0;
    int w = snprintf(buf, n, "%lld users, %lld items, %lld interactions, avg length %.2f (%lld..%lld)",
                     (long long)d->n_users, (long long)d->n_items, (long long)d->n_inter, avg,
                     (long long)d->min_len, (long long)d->max_len);
    if (d->n_items_seen != d->n_items && w >= 0 && (size_t)w < n)
        snprintf(buf + w, n - (size_t)w, "; %lld items never interacted with",
                 (long long)(d->n_items - d->n_items_seen));
}

const char *uz_seqrec_item_name(const uz_seqrec *d, int32_t item, char *buf, size_t n)
{
    if (d->item_names)
        return d->item_names[item];
    snprintf(buf, n, "%d", (int)item);
    return buf;
}
