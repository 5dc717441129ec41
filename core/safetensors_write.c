/* safetensors writer. The layout matches the reference implementation byte
 * for byte (tensor order, compact JSON, space padding to 8 bytes), and the
 * file appears atomically: a crash leaves either the old file or the new
 * one, never a torn checkpoint. */
#include "safetensors.h"

#include "alloc.h"
#include "file_io.h"
#include "safetensors_internal.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The reference writer puts larger dtypes first (so every tensor starts
 * aligned to its element size) and breaks ties by name; this is its dtype
 * order, highest first. */
static int dtype_rank(uz_dtype d)
{
    switch (d) {
    case UZ_I64: return 7;
    case UZ_F64: return 6;
    case UZ_F32: return 5;
    case UZ_I32: return 4;
    case UZ_BF16: return 3;
    case UZ_F16: return 2;
    case UZ_U8: return 1;
    }
    return 0;
}

static int cmp_layout(const void *a, const void *b)
{
    const uz_st_entry *const *x = a, *const *y = b;
    int rx = dtype_rank((*x)->dtype), ry = dtype_rank((*y)->dtype);
    if (rx != ry)
        return rx > ry ? -1 : 1;
    return strcmp((*x)->name, (*y)->name);
}

static uint64_t entry_bytes(const uz_st_entry *e)
{
    uint64_t n = uz_st_dtype_size(e->dtype);
    for (int d = 0; d < e->ndim; d++)
        n *= (uint64_t)e->shape[d];
    return n;
}

static int cmp_name(const void *a, const void *b)
{
    const uz_st_entry *const *x = a, *const *y = b;
    return strcmp((*x)->name, (*y)->name);
}

static uz_status check_entries(const char *path, const uz_st_entry *entries, int n,
                               const char *const *meta_keys, const char *const *meta_values,
                               int n_meta)
{
    if (n < 0 || n_meta < 0 || (n > 0 && !entries) || (n_meta > 0 && (!meta_keys || !meta_values)))
        return UZ_FAIL(UZ_ERR_ARG, "%s: bad entry or metadata arrays (n=%d, n_meta=%d)", path, n,
                       n_meta);
    /* Offsets are written as int64: the whole data area must fit. */
    uint64_t total = 0;
    for (int i = 0; i < n; i++) {
        const uz_st_entry *e = &entries[i];
        if (!e->name)
            return UZ_FAIL(UZ_ERR_ARG, "%s: entry %d has no name", path, i);
        if (strcmp(e->name, "__metadata__") == 0)
            return UZ_FAIL(UZ_ERR_ARG, "%s: \"__metadata__\" is reserved, not a tensor name", path);
        if (!uz_st_dtype_name(e->dtype))
            return UZ_FAIL(UZ_ERR_ARG, "%s: tensor '%s': invalid dtype %d", path, e->name,
                           (int)e->dtype);
        if (e->ndim < 0 || e->ndim > UZ_MAX_DIMS || (e->ndim > 0 && !e->shape))
            return UZ_FAIL(UZ_ERR_ARG, "%s: tensor '%s': %d dims, between 0 and %d supported",
                           path, e->name, e->ndim, UZ_MAX_DIMS);
        uint64_t bytes = uz_st_dtype_size(e->dtype);
        for (int d = 0; d < e->ndim; d++) {
            if (e->shape[d] < 0)
                return UZ_FAIL(UZ_ERR_ARG, "%s: tensor '%s': negative size %lld in dim %d", path,
                               e->name, (long long)e->shape[d], d);
            if (e->shape[d] > 0 && bytes > (uint64_t)INT64_MAX / (uint64_t)e->shape[d])
                return UZ_FAIL(UZ_ERR_ARG, "%s: tensor '%s' is too large", path, e->name);
            bytes *= (uint64_t)e->shape[d];
        }
        if (bytes > (uint64_t)INT64_MAX - total)
            return UZ_FAIL(UZ_ERR_ARG, "%s: tensors too large for one file", path);
        total += bytes;
        if (bytes > 0 && !e->data)
            return UZ_FAIL(UZ_ERR_ARG, "%s: tensor '%s' has no data", path, e->name);
    }
    for (int i = 0; i < n_meta; i++) {
        if (!meta_keys[i] || !meta_values[i])
            return UZ_FAIL(UZ_ERR_ARG, "%s: metadata pair %d has a NULL key or value", path, i);
        for (int j = 0; j < i; j++)
            if (strcmp(meta_keys[j], meta_keys[i]) == 0)
                return UZ_FAIL(UZ_ERR_ARG, "%s: duplicate metadata key '%s'", path, meta_keys[i]);
    }
    return UZ_OK;
}

/* Integers as raw JSON text: cJSON prints numbers from doubles and would
 * switch to exponent notation for large ones. */
static cJSON *json_int_array(const int64_t *v, int n)
{
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; a && i < n; i++) {
        char num[32];
        snprintf(num, sizeof num, "%lld", (long long)v[i]);
        cJSON *item = cJSON_CreateRaw(num);
        if (!item || !cJSON_AddItemToArray(a, item)) {
            cJSON_Delete(item);
            cJSON_Delete(a);
            return NULL;
        }
    }
    return a;
}

/* Compact JSON text of the header (cJSON_free it), NULL when out of memory. */
static char *build_header(const uz_st_entry *const *order, int n, const char *const *meta_keys,
                          const char *const *meta_values, int n_meta)
{
    cJSON *root = cJSON_CreateObject();
    if (!root)
        return NULL;
    bool ok = true;
    if (n_meta > 0) {
        cJSON *meta = cJSON_AddObjectToObject(root, "__metadata__");
        ok = meta != NULL;
        for (int i = 0; ok && i < n_meta; i++)
            ok = cJSON_AddStringToObject(meta, meta_keys[i], meta_values[i]) != NULL;
    }
    int64_t off = 0;
    for (int i = 0; ok && i < n; i++) {
        const uz_st_entry *e = order[i];
        int64_t span[2] = {off, off + (int64_t)entry_bytes(e)};
        off = span[1];
        cJSON *t = cJSON_AddObjectToObject(root, e->name);
        ok = t && cJSON_AddStringToObject(t, "dtype", uz_st_dtype_name(e->dtype));
        cJSON *shape = ok ? json_int_array(e->shape, e->ndim) : NULL;
        ok = shape && cJSON_AddItemToObject(t, "shape", shape);
        if (!ok) {
            cJSON_Delete(shape);
            break;
        }
        cJSON *offs = json_int_array(span, 2);
        ok = offs && cJSON_AddItemToObject(t, "data_offsets", offs);
        if (!ok)
            cJSON_Delete(offs);
    }
    char *text = ok ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    return text;
}

static uz_status write_file(const char *path, const char *header, const uz_st_entry *const *order,
                            int n)
{
    size_t hlen = strlen(header), pad = (8 - hlen % 8) % 8;
    uint64_t total = hlen + pad;
    unsigned char prefix[8];
    for (int i = 0; i < 8; i++)
        prefix[i] = (unsigned char)(total >> (8 * i));
    uz_atomic_file f;
    uz_status st = uz_atomic_file_begin(&f, path);
    if (st != UZ_OK)
        return st;
    uz_atomic_file_write(&f, prefix, 8);
    uz_atomic_file_write(&f, header, hlen);
    uz_atomic_file_write(&f, "        ", pad);
    for (int i = 0; i < n; i++)
        uz_atomic_file_write(&f, order[i]->data, (size_t)entry_bytes(order[i]));
    return uz_atomic_file_commit(&f, true);
}

uz_status uz_st_write(const char *path, const uz_st_entry *entries, int n,
                      const char *const *meta_keys, const char *const *meta_values, int n_meta)
{
    if (!path)
        return UZ_FAIL(UZ_ERR_ARG, "safetensors write: NULL path");
    uz_status st = check_entries(path, entries, n, meta_keys, meta_values, n_meta);
    if (st != UZ_OK)
        return st;
    const uz_st_entry **order = uz_malloc(sizeof *order * (size_t)(n ? n : 1), "tensor order");
    if (!order)
        return uz_error_status();
    for (int i = 0; i < n; i++)
        order[i] = &entries[i];
    qsort(order, (size_t)n, sizeof *order, cmp_name);
    for (int i = 1; i < n; i++)
        if (strcmp(order[i - 1]->name, order[i]->name) == 0) {
            st = UZ_FAIL(UZ_ERR_ARG, "%s: duplicate tensor name '%s'", path, order[i]->name);
            uz_free(order);
            return st;
        }
    qsort(order, (size_t)n, sizeof *order, cmp_layout);
    char *header = build_header(order, n, meta_keys, meta_values, n_meta);
    if (!header) {
        uz_free(order);
        return UZ_FAIL(UZ_ERR_NOMEM, "%s: out of memory building the header", path);
    }
    st = write_file(path, header, order, n);
    cJSON_free(header);
    uz_free(order);
    return st;
}
