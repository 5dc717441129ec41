/* safetensors reader: maps the file read-only and validates the whole header
 * against the data area before any tensor is handed out, so that later
 * reads never have to doubt a pointer or a size. */
#include "safetensors.h"

#include "alloc.h"
#include "safetensors_internal.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors data is little-endian and is copied as is"
#endif

/* The reference implementation refuses larger headers before parsing them. */
#define ST_MAX_HEADER 100000000ull
/* Offsets and sizes arrive as JSON numbers (doubles): beyond 2^53 they are
 * no longer exact, so they are refused rather than rounded. */
#define ST_MAX_JSON_INT 9007199254740992.0

typedef struct st_item {
    uz_st_tensor t;
    uint64_t begin, end; /* data_offsets, relative to the data area */
} st_item;

struct uz_st_file {
    char *path;
    unsigned char *map;
    size_t size;
    cJSON *root;            /* tensor names and metadata strings point into it */
    const cJSON *meta;
    st_item *items;         /* in data-offset order */
    const st_item **by_name;
    int n;
};

/* ---- dtype table ----------------------------------------------------------- */

static const struct {
    uz_dtype dtype;
    const char *name;
    size_t size;
} st_dtypes[] = {
    {UZ_F32, "F32", 4}, {UZ_F64, "F64", 8}, {UZ_I32, "I32", 4}, {UZ_I64, "I64", 8},
    {UZ_U8, "U8", 1},   {UZ_BF16, "BF16", 2}, {UZ_F16, "F16", 2},
};
enum { ST_N_DTYPES = (int)(sizeof st_dtypes / sizeof st_dtypes[0]) };

size_t uz_st_dtype_size(uz_dtype d)
{
    for (int i = 0; i < ST_N_DTYPES; i++)
        if (st_dtypes[i].dtype == d)
            return st_dtypes[i].size;
    return 0;
}

const char *uz_st_dtype_name(uz_dtype d)
{
    for (int i = 0; i < ST_N_DTYPES; i++)
        if (st_dtypes[i].dtype == d)
            return st_dtypes[i].name;
    return NULL;
}

static bool dtype_parse(const char *s, uz_dtype *out)
{
    for (int i = 0; i < ST_N_DTYPES; i++)
        if (strcmp(st_dtypes[i].name, s) == 0) {
            *out = st_dtypes[i].dtype;
            return true;
        }
    return false;
}

const char *uz_st_dims_str(int ndim, const int64_t *shape, char *buf, size_t n)
{
    size_t len = 0;
    buf[0] = '\0';
    len += (size_t)snprintf(buf, n, "[");
    for (int i = 0; i < ndim && len < n; i++)
        len += (size_t)snprintf(buf + len, n - len, i ? ",%lld" : "%lld", (long long)shape[i]);
    if (len < n)
        snprintf(buf + len, n - len, "]");
    return buf;
}

/* ---- header validation ------------------------------------------------------ */

/* cJSON accepts raw control bytes and arbitrary bytes inside strings; JSON
 * (and the reference parser) does not. Returns the offset of the first bad
 * byte, or n when the header is clean. */
static size_t bad_header_byte(const unsigned char *s, size_t n, const char **why)
{
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        if (c < 0x80) {
            if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') {
                *why = "a raw control byte";
                return i;
            }
            i++;
            continue;
        }
        size_t len;
        uint32_t cp, min;
        if ((c & 0xE0u) == 0xC0u) {
            len = 2, cp = c & 0x1Fu, min = 0x80;
        } else if ((c & 0xF0u) == 0xE0u) {
            len = 3, cp = c & 0x0Fu, min = 0x800;
        } else if ((c & 0xF8u) == 0xF0u) {
            len = 4, cp = c & 0x07u, min = 0x10000;
        } else {
            *why = "invalid UTF-8";
            return i;
        }
        if (len > n - i) {
            *why = "invalid UTF-8";
            return i;
        }
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0u) != 0x80u) {
                *why = "invalid UTF-8";
                return i;
            }
            cp = (cp << 6) | (s[i + k] & 0x3Fu);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
            *why = "invalid UTF-8";
            return i;
        }
        i += len;
    }
    return n;
}

static bool json_uint(const cJSON *v, uint64_t *out)
{
    if (!cJSON_IsNumber(v))
        return false;
    double d = v->valuedouble;
    if (!(d >= 0.0 && d <= ST_MAX_JSON_INT) || floor(d) != d)
        return false;
    *out = (uint64_t)d;
    return true;
}

static uz_status parse_entry(const char *path, const cJSON *c, size_t data_len, st_item *it)
{
    const char *name = c->string;
    if (!cJSON_IsObject(c))
        return UZ_FAIL(UZ_ERR_FORMAT, "%s: tensor '%s': entry is not a JSON object", path, name);
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(c, "dtype");
    const cJSON *sh = cJSON_GetObjectItemCaseSensitive(c, "shape");
    const cJSON *of = cJSON_GetObjectItemCaseSensitive(c, "data_offsets");
    if (!dt || !sh || !of)
        return UZ_FAIL(UZ_ERR_FORMAT, "%s: tensor '%s': missing \"%s\"", path, name,
                       !dt ? "dtype" : !sh ? "shape" : "data_offsets");
    if (!cJSON_IsString(dt))
        return UZ_FAIL(UZ_ERR_FORMAT, "%s: tensor '%s': \"dtype\" is not a string", path, name);
    if (!dtype_parse(dt->valuestring, &it->t.dtype))
        return UZ_FAIL(UZ_ERR_FORMAT,
                       "%s: tensor '%s': unknown dtype \"%s\" (supported: F32 F64 I32 I64 U8 BF16 F16)",
                       path, name, dt->valuestring);

    if (!cJSON_IsArray(sh))
        return UZ_FAIL(UZ_ERR_FORMAT, "%s: tensor '%s': \"shape\" is not an array", path, name);
    int ndim = cJSON_GetArraySize(sh);
    if (ndim > UZ_MAX_DIMS)
        return UZ_FAIL(UZ_ERR_FORMAT, "%s: tensor '%s': %d dims, at most %d supported", path, name,
                       ndim, UZ_MAX_DIMS);
    it->t.ndim = ndim;
    int64_t numel = 1;
    bool overflow = false;
    for (int d = 0; d < ndim; d++) {
        uint64_t v;
        if (!json_uint(cJSON_GetArrayItem(sh, d), &v))
            return UZ_FAIL(UZ_ERR_FORMAT,
                           "%s: tensor '%s': shape entry %d is not a non-negative integer", path,
                           name, d);
        it->t.shape[d] = (int64_t)v;
        if (v != 0 && numel > INT64_MAX / (int64_t)v)
            overflow = true;
        else
            numel *= (int64_t)v;
    }
    char sbuf[UZ_SHAPE_STR_LEN];
    uz_st_dims_str(ndim, it->t.shape, sbuf, sizeof sbuf);
    size_t esize = uz_st_dtype_size(it->t.dtype);
    if (overflow || (uint64_t)numel > UINT64_MAX / esize)
        return UZ_FAIL(UZ_ERR_FORMAT, "%s: tensor '%s': shape %s is too large", path, name, sbuf);
    uint64_t need = (uint64_t)numel * esize;

    if (!cJSON_IsArray(of) || cJSON_GetArraySize(of) != 2 ||
        !json_uint(cJSON_GetArrayItem(of, 0), &it->begin) ||
        !json_uint(cJSON_GetArrayItem(of, 1), &it->end))
        return UZ_FAIL(UZ_ERR_FORMAT,
                       "%s: tensor '%s': \"data_offsets\" is not a pair of non-negative integers",
                       path, name);
    if (it->end < it->begin)
        return UZ_FAIL(UZ_ERR_FORMAT, "%s: tensor '%s': data_offsets [%llu,%llu] end before they begin",
                       path, name, (unsigned long long)it->begin, (unsigned long long)it->end);
    if (it->end - it->begin != need)
        return UZ_FAIL(UZ_ERR_FORMAT,
                       "%s: tensor '%s': data_offsets [%llu,%llu] hold %llu bytes but %s %s needs %llu",
                       path, name, (unsigned long long)it->begin, (unsigned long long)it->end,
                       (unsigned long long)(it->end - it->begin), dt->valuestring, sbuf,
                       (unsigned long long)need);
    if (it->end > data_len)
        return UZ_FAIL(UZ_ERR_FORMAT,
                       "%s: tensor '%s': data_offsets [%llu,%llu] lie outside the data area of %zu bytes",
                       path, name, (unsigned long long)it->begin, (unsigned long long)it->end,
                       data_len);
    it->t.name = name;
    it->t.nbytes = (size_t)need;
    return UZ_OK;
}

static int cmp_offset(const void *a, const void *b)
{
    const st_item *x = a, *y = b;
    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end)
        return x->end < y->end ? -1 : 1;
    return strcmp(x->t.name, y->t.name);
}

static int cmp_name(const void *a, const void *b)
{
    const st_item *const *x = a, *const *y = b;
    return strcmp((*x)->t.name, (*y)->t.name);
}

static int cmp_key_name(const void *key, const void *elem)
{
    const st_item *const *y = elem;
    return strcmp(key, (*y)->t.name);
}

static uz_status check_metadata(const char *path, const cJSON *meta)
{
    if (!cJSON_IsObject(meta))
        return UZ_FAIL(UZ_ERR_FORMAT, "%s: \"__metadata__\" is not a JSON object", path);
    const cJSON *v;
    cJSON_ArrayForEach(v, meta) {
        if (!cJSON_IsString(v))
            return UZ_FAIL(UZ_ERR_FORMAT, "%s: \"__metadata__\" value '%s' is not a string", path,
                           v->string);
    }
    return UZ_OK;
}

/* safetensors requires the tensors to cover the data area exactly: no byte
 * shared, none left over. */
static uz_status check_coverage(const uz_st_file *f, size_t data_len)
{
    uint64_t pos = 0;
    for (int i = 0; i < f->n; i++) {
        const st_item *it = &f->items[i];
        if (it->begin < pos)
            return UZ_FAIL(UZ_ERR_FORMAT,
                           "%s: tensor '%s' (data_offsets [%llu,%llu]) overlaps tensor '%s' (ending at %llu)",
                           f->path, it->t.name, (unsigned long long)it->begin,
                           (unsigned long long)it->end, f->items[i - 1].t.name,
                           (unsigned long long)pos);
        if (it->begin > pos)
            return UZ_FAIL(UZ_ERR_FORMAT,
                           "%s: gap in the data area: bytes [%llu,%llu) before tensor '%s' belong to no tensor",
                           f->path, (unsigned long long)pos, (unsigned long long)it->begin,
                           it->t.name);
        pos = it->end;
    }
    if (pos != data_len)
        return UZ_FAIL(UZ_ERR_FORMAT,
                       "%s: data area has %zu bytes but the tensors cover only %llu", f->path,
                       data_len, (unsigned long long)pos);
    return UZ_OK;
}

static uz_status parse_header(uz_st_file *f)
{
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--)
        hlen = (hlen << 8) | f->map[i];
    if (hlen > ST_MAX_HEADER)
        return UZ_FAIL(UZ_ERR_FORMAT, "%s: header length %llu exceeds the 100 MB limit", f->path,
                       (unsigned long long)hlen);
    if (hlen > f->size - 8)
        return UZ_FAIL(UZ_ERR_FORMAT,
                       "%s: header length %llu exceeds the %zu bytes that follow it (truncated file?)",
                       f->path, (unsigned long long)hlen, f->size - 8);
    const unsigned char *hdr = f->map + 8;
    size_t hn = (size_t)hlen;
    const char *why = NULL;
    size_t bad = bad_header_byte(hdr, hn, &why);
    if (bad < hn)
        return UZ_FAIL(UZ_ERR_FORMAT, "%s: header is not valid JSON: %s at header offset %zu",
                       f->path, why, bad);

    /* A private NUL-terminated copy: the parser never reads past the mapping. */
    char *buf = uz_malloc(hn + 1, "safetensors header");
    if (!buf)
        return uz_error_status();
    memcpy(buf, hdr, hn);
    buf[hn] = '\0';
    const char *end = NULL;
    f->root = cJSON_ParseWithLengthOpts(buf, hn, &end, 0);
    size_t stop = end ? (size_t)(end - buf) : 0;
    uz_free(buf);
    if (!f->root)
        return UZ_FAIL(UZ_ERR_FORMAT, "%s: header is not valid JSON (error near header offset %zu)",
                       f->path, stop);
    /* The writer pads with spaces; anything else after the object is junk. */
    for (size_t i = stop; i < hn; i++)
        if (!strchr(" \t\r\n", hdr[i]))
            return UZ_FAIL(UZ_ERR_FORMAT, "%s: header has trailing data at header offset %zu",
                           f->path, i);
    if (!cJSON_IsObject(f->root))
        return UZ_FAIL(UZ_ERR_FORMAT, "%s: header is not a JSON object", f->path);

    int count = cJSON_GetArraySize(f->root);
    f->items = uz_calloc(sizeof(st_item) * (size_t)(count ? count : 1), "safetensors index");
    f->by_name = uz_malloc(sizeof(st_item *) * (size_t)(count ? count : 1), "safetensors index");
    if (!f->items || !f->by_name)
        return uz_error_status();
    size_t data_off = 8 + hn, data_len = f->size - data_off;
    const cJSON *c;
    cJSON_ArrayForEach(c, f->root) {
        if (strcmp(c->string, "__metadata__") == 0) {
            if (f->meta)
                return UZ_FAIL(UZ_ERR_FORMAT, "%s: \"__metadata__\" appears twice", f->path);
            uz_status st = check_metadata(f->path, c);
            if (st != UZ_OK)
                return st;
            f->meta = c;
            continue;
        }
        uz_status st = parse_entry(f->path, c, data_len, &f->items[f->n]);
        if (st != UZ_OK)
            return st;
        f->n++;
    }

    for (int i = 0; i < f->n; i++)
        f->by_name[i] = &f->items[i];
    qsort(f->by_name, (size_t)f->n, sizeof *f->by_name, cmp_name);
    for (int i = 1; i < f->n; i++)
        if (strcmp(f->by_name[i - 1]->t.name, f->by_name[i]->t.name) == 0)
            return UZ_FAIL(UZ_ERR_FORMAT, "%s: duplicate tensor name '%s'", f->path,
                           f->by_name[i]->t.name);

    qsort(f->items, (size_t)f->n, sizeof *f->items, cmp_offset);
    uz_status st = check_coverage(f, data_len);
    if (st != UZ_OK)
        return st;
    /* The offset sort moved the items: index them again. */
    for (int i = 0; i < f->n; i++) {
        f->items[i].t.data = f->map + data_off + f->items[i].begin;
        f->by_name[i] = &f->items[i];
    }
    qsort(f->by_name, (size_t)f->n, sizeof *f->by_name, cmp_name);
    return UZ_OK;
}

/* ---- open / close -------------------------------------------------------------- */

static void errno_text(int err, char *buf, size_t n)
{
    if (strerror_r(err, buf, n) != 0)
        snprintf(buf, n, "errno %d", err);
}

uz_status uz_st_open(const char *path, uz_st_file **out)
{
    if (!out)
        return UZ_FAIL(UZ_ERR_ARG, "safetensors open: NULL output pointer");
    *out = NULL;
    if (!path)
        return UZ_FAIL(UZ_ERR_ARG, "safetensors open: NULL path");
    char ebuf[128];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        errno_text(errno, ebuf, sizeof ebuf);
        return UZ_FAIL(UZ_ERR_IO, "%s: cannot open: %s", path, ebuf);
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        errno_text(errno, ebuf, sizeof ebuf);
        close(fd);
        return UZ_FAIL(UZ_ERR_IO, "%s: cannot stat: %s", path, ebuf);
    }
    if (!S_ISREG(sb.st_mode)) {
        close(fd);
        return UZ_FAIL(UZ_ERR_IO, "%s: not a regular file", path);
    }
    size_t size = (size_t)sb.st_size;
    if (size < 8) {
        close(fd);
        return UZ_FAIL(UZ_ERR_FORMAT, "%s: file has %zu bytes, fewer than the 8-byte header length",
                       path, size);
    }
    void *map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    int map_err = errno;
    close(fd); /* the mapping keeps the file open */
    if (map == MAP_FAILED) {
        errno_text(map_err, ebuf, sizeof ebuf);
        return UZ_FAIL(UZ_ERR_IO, "%s: cannot map: %s", path, ebuf);
    }

    uz_st_file *f = uz_calloc(sizeof *f, "safetensors file");
    size_t plen = strlen(path) + 1;
    char *p = uz_malloc(plen, "safetensors path");
    if (!f || !p) {
        munmap(map, size);
        uz_free(f);
        uz_free(p);
        return uz_error_status();
    }
    memcpy(p, path, plen);
    f->path = p;
    f->map = map;
    f->size = size;
    uz_status st = parse_header(f);
    if (st != UZ_OK) {
        uz_st_close(f);
        return st;
    }
    *out = f;
    return UZ_OK;
}

void uz_st_close(uz_st_file *f)
{
    if (!f)
        return;
    munmap(f->map, f->size);
    cJSON_Delete(f->root);
    uz_free(f->items);
    uz_free(f->by_name);
    uz_free(f->path);
    uz_free(f);
}

/* ---- queries ---------------------------------------------------------------------- */

int uz_st_count(const uz_st_file *f) { return f ? f->n : 0; }

const uz_st_tensor *uz_st_at(const uz_st_file *f, int i)
{
    if (!f || i < 0 || i >= f->n) {
        UZ_FAIL(UZ_ERR_ARG, "%s: tensor index %d out of range [0,%d)", f ? f->path : "(null)", i,
                f ? f->n : 0);
        return NULL;
    }
    return &f->items[i].t;
}

const uz_st_tensor *uz_st_find(const uz_st_file *f, const char *name)
{
    if (!f || !name) {
        UZ_FAIL(UZ_ERR_ARG, "safetensors find: NULL argument");
        return NULL;
    }
    const st_item *const *hit =
        bsearch(name, f->by_name, (size_t)f->n, sizeof *f->by_name, cmp_key_name);
    if (!hit) {
        UZ_FAIL(UZ_ERR_FORMAT, "%s: no tensor named '%s'", f->path, name);
        return NULL;
    }
    return &(*hit)->t;
}

const char *uz_st_metadata(const uz_st_file *f, const char *key)
{
    if (!f || !f->meta || !key)
        return NULL;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(f->meta, key);
    return v ? v->valuestring : NULL;
}

/* ---- typed reads -------------------------------------------------------------------- */

static const uz_st_tensor *find_shaped(const uz_st_file *f, const char *name, int ndim,
                                       const int64_t *shape)
{
    const uz_st_tensor *t = uz_st_find(f, name);
    if (!t)
        return NULL;
    bool same = t->ndim == ndim;
    for (int i = 0; same && i < ndim; i++)
        same = t->shape[i] == shape[i];
    if (!same) {
        char have[UZ_SHAPE_STR_LEN], want[UZ_SHAPE_STR_LEN];
        UZ_FAIL(UZ_ERR_FORMAT, "%s: tensor '%s' has shape %s, expected %s", f->path, name,
                uz_st_dims_str(t->ndim, t->shape, have, sizeof have),
                ndim >= 0 && ndim <= UZ_MAX_DIMS ? uz_st_dims_str(ndim, shape, want, sizeof want)
                                                 : "(invalid)");
        return NULL;
    }
    return t;
}

static float half_to_float(uint16_t h)
{
    uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 0x1Fu, mant = h & 0x3FFu;
    if (exp == 0) /* zero or subnormal: mant * 2^-24 is exact in float */
        return sign ? -ldexpf((float)mant, -24) : ldexpf((float)mant, -24);
    uint32_t bits = exp == 0x1F ? (sign | 0x7F800000u | (mant << 13))
                                : (sign | ((exp + 112u) << 23) | (mant << 13));
    float v;
    memcpy(&v, &bits, sizeof v);
    return v;
}

/* Elements go through memcpy: the mapping gives no alignment guarantee. */
#define ST_CONVERT(type, expr)                                         \
    for (int64_t i = 0; i < n; i++) {                                  \
        type x;                                                        \
        memcpy(&x, src + (size_t)i * sizeof x, sizeof x);              \
        dst[i] = (expr);                                               \
    }

uz_status uz_st_read_f32(const uz_st_file *f, const char *name, int ndim, const int64_t *shape,
                         float *dst)
{
    const uz_st_tensor *t = find_shaped(f, name, ndim, shape);
    if (!t)
        return uz_error_status();
    const unsigned char *src = t->data;
    int64_t n = (int64_t)(t->nbytes / uz_st_dtype_size(t->dtype));
    switch (t->dtype) {
    case UZ_F32:
        if (t->nbytes)
            memcpy(dst, src, t->nbytes);
        break;
    case UZ_F64: ST_CONVERT(double, (float)x) break;
    case UZ_I32: ST_CONVERT(int32_t, (float)x) break;
    case UZ_I64: ST_CONVERT(int64_t, (float)x) break;
    case UZ_U8: ST_CONVERT(uint8_t, (float)x) break;
    case UZ_F16: ST_CONVERT(uint16_t, half_to_float(x)) break;
    case UZ_BF16: {
        for (int64_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, src + (size_t)i * 2, 2);
            uint32_t bits = (uint32_t)h << 16;
            memcpy(&dst[i], &bits, sizeof bits);
        }
        break;
    }
    }
    return UZ_OK;
}

uz_status uz_st_read_i32(const uz_st_file *f, const char *name, int ndim, const int64_t *shape,
                         int32_t *dst)
{
    const uz_st_tensor *t = find_shaped(f, name, ndim, shape);
    if (!t)
        return uz_error_status();
    const unsigned char *src = t->data;
    int64_t n = (int64_t)(t->nbytes / uz_st_dtype_size(t->dtype));
    switch (t->dtype) {
    case UZ_I32:
        if (t->nbytes)
            memcpy(dst, src, t->nbytes);
        return UZ_OK;
    case UZ_U8: ST_CONVERT(uint8_t, (int32_t)x) return UZ_OK;
    case UZ_I64:
        for (int64_t i = 0; i < n; i++) {
            int64_t x;
            memcpy(&x, src + (size_t)i * sizeof x, sizeof x);
            if (x < INT32_MIN || x > INT32_MAX)
                return UZ_FAIL(UZ_ERR_FORMAT, "%s: tensor '%s': element %lld = %lld is outside the int32 range",
                               f->path, name, (long long)i, (long long)x);
            dst[i] = (int32_t)x;
        }
        return UZ_OK;
    case UZ_F32:
    case UZ_F64:
    case UZ_BF16:
    case UZ_F16:
        break;
    }
    return UZ_FAIL(UZ_ERR_FORMAT, "%s: tensor '%s' has dtype %s, expected I32, I64 or U8", f->path,
                   name, uz_st_dtype_name(t->dtype));
}
