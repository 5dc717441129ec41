/* COCO-format instances and captions: a validating reader and an atomic,
 * stable writer over cJSON. Reading is three steps: JSON -> typed arrays
 * (presence and types of fields), the value checks shared with the writer
 * (ranges, unique ids, references, boxes inside images), then the lookups. */
#include "datasets/coco.h"

#include "core/alloc.h"
#include "core/file_io.h"

#include <cjson/cJSON.h>
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Integers beyond 2^53 are not exact in a JSON number (a double). */
#define MAX_EXACT_INT 9007199254740992.0

/* ---- reading the file ---------------------------------------------------- */

/* 1-based line and column of byte offset `at`. */
static void line_col(const char *buf, size_t at, long *line, long *col)
{
    *line = 1;
    size_t start = 0;
    for (size_t i = 0; i < at; i++)
        if (buf[i] == '\n') {
            (*line)++;
            start = i + 1;
        }
    *col = (long)(at - start) + 1;
}

/* The parse position comes from return_parse_end, the thread-safe form of
 * cJSON_GetErrorPtr (files may be read from several threads). */
static uz_status parse_json(const char *path, cJSON **root)
{
    *root = NULL;
    char *buf = NULL;
    size_t len = 0;
    uz_status st = uz_file_read_all(path, SIZE_MAX, &buf, &len);
    if (st != UZ_OK)
        return st;
    const char *end = NULL;
    cJSON *r = cJSON_ParseWithLengthOpts(buf, len, &end, 0);
    size_t at = end ? (size_t)(end - buf) : 0;
    if (r)
        while (at < len && strchr(" \t\r\n", buf[at]))
            at++;
    if (!r || at < len) {
        long line, col;
        line_col(buf, at > len ? len : at, &line, &col);
        st = UZ_FAIL(UZ_ERR_FORMAT, "%s: %s at line %ld, column %ld (byte %zu)", path,
                     r ? "trailing data after the JSON value" : "malformed JSON", line, col, at);
        cJSON_Delete(r);
    } else if (!cJSON_IsObject(r)) {
        st = UZ_FAIL(UZ_ERR_FORMAT, "%s: the top level must be a JSON object", path);
        cJSON_Delete(r);
    } else {
        *root = r;
    }
    uz_free(buf);
    return st;
}

static uz_status get_array(const char *path, const cJSON *root, const char *key, const cJSON **out)
{
    *out = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!*out)
        return UZ_FAIL(UZ_ERR_FORMAT, "%s: missing \"%s\" array", path, key);
    if (!cJSON_IsArray(*out))
        return UZ_FAIL(UZ_ERR_FORMAT, "%s: \"%s\" must be an array", path, key);
    return UZ_OK;
}

/* ---- typed fields of one entry ------------------------------------------- */

typedef struct entry {
    const char *path, *array; /* for messages: "path: array[i]: ..." */
    int64_t i;
    const cJSON *obj;
} entry;

static const cJSON *field(const entry *e, const char *key)
{
    return cJSON_GetObjectItemCaseSensitive(e->obj, key);
}

static uz_status missing(const entry *e, const char *key)
{
    return UZ_FAIL(UZ_ERR_FORMAT, "%s: %s[%lld]: missing \"%s\"", e->path, e->array,
                   (long long)e->i, key);
}

static uz_status get_int(const entry *e, const char *key, bool optional, int64_t *out)
{
    const cJSON *v = field(e, key);
    if (!v)
        return optional ? UZ_OK : missing(e, key);
    double d = cJSON_IsNumber(v) ? v->valuedouble : NAN;
    if (!(fabs(d) <= MAX_EXACT_INT) || d != floor(d))
        return UZ_FAIL(UZ_ERR_FORMAT, "%s: %s[%lld]: \"%s\" must be an integer", e->path,
                       e->array, (long long)e->i, key);
    *out = (int64_t)d;
    return UZ_OK;
}

static uz_status get_small_int(const entry *e, const char *key, bool optional, int *out)
{
    int64_t v = *out;
    uz_status st = get_int(e, key, optional, &v);
    if (st != UZ_OK)
        return st;
    if (v < INT_MIN || v > INT_MAX)
        return UZ_FAIL(UZ_ERR_FORMAT, "%s: %s[%lld]: \"%s\" %lld is out of range", e->path,
                       e->array, (long long)e->i, key, (long long)v);
    *out = (int)v;
    return UZ_OK;
}

/* Copies the string into the pool (or, with no pool, points into the JSON). */
static uz_status get_string(const entry *e, const char *key, char **pool, const char **out)
{
    const cJSON *v = field(e, key);
    if (!v)
        return missing(e, key);
    if (!cJSON_IsString(v))
        return UZ_FAIL(UZ_ERR_FORMAT, "%s: %s[%lld]: \"%s\" must be a string", e->path, e->array,
                       (long long)e->i, key);
    if (!pool) {
        *out = v->valuestring;
        return UZ_OK;
    }
    size_t n = strlen(v->valuestring) + 1;
    memcpy(*pool, v->valuestring, n);
    *out = *pool;
    *pool += n;
    return UZ_OK;
}

static uz_status get_bbox(const entry *e, float bbox[4])
{
    const cJSON *v = field(e, "bbox");
    if (!v)
        return missing(e, "bbox");
    bool ok = cJSON_IsArray(v) && cJSON_GetArraySize(v) == 4;
    int k = 0;
    const cJSON *x;
    cJSON_ArrayForEach(x, v) {
        if (!ok || !cJSON_IsNumber(x)) {
            ok = false;
            break;
        }
        bbox[k++] = (float)x->valuedouble;
    }
    if (!ok)
        return UZ_FAIL(UZ_ERR_FORMAT, "%s: %s[%lld]: bbox must have 4 numbers", e->path, e->array,
                       (long long)e->i);
    return UZ_OK;
}

static uz_status get_float(const entry *e, const char *key, bool optional, float *out)
{
    const cJSON *v = field(e, key);
    if (!v)
        return optional ? UZ_OK : missing(e, key);
    if (!cJSON_IsNumber(v))
        return UZ_FAIL(UZ_ERR_FORMAT, "%s: %s[%lld]: \"%s\" must be a number", e->path, e->array,
                       (long long)e->i, key);
    *out = (float)v->valuedouble;
    return UZ_OK;
}

/* Each entry must be an object; sets e->obj. */
static uz_status entry_at(entry *e, const cJSON *item)
{
    e->obj = item;
    if (!cJSON_IsObject(item))
        return UZ_FAIL(UZ_ERR_FORMAT, "%s: %s[%lld] must be an object", e->path, e->array,
                       (long long)e->i);
    return UZ_OK;
}

/* ---- the arrays ------------------------------------------------------------ */

/* Bytes the pool needs for key's strings in arr (non-strings fail later). */
static size_t string_bytes(const cJSON *arr, const char *key)
{
    size_t n = 0;
    const cJSON *item;
    cJSON_ArrayForEach(item, arr) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(item, key);
        if (cJSON_IsString(v))
            n += strlen(v->valuestring) + 1;
    }
    return n;
}

/* Reads one entry's fields into slot (pool as in get_string). */
typedef uz_status (*entry_reader)(const entry *e, char **pool, void *slot);

/* Runs read over the objects of arr, filling the `stride`-byte slots at out. */
static uz_status parse_array(const char *path, const char *array, const cJSON *arr, char **pool,
                             void *out, size_t stride, entry_reader read)
{
    entry e = {path, array, 0, NULL};
    const cJSON *item;
    cJSON_ArrayForEach(item, arr) {
        uz_status st = entry_at(&e, item);
        if (st == UZ_OK)
            st = read(&e, pool, (char *)out + (size_t)e.i * stride);
        if (st != UZ_OK)
            return st;
        e.i++;
    }
    return UZ_OK;
}

static uz_status read_image(const entry *e, char **pool, void *slot)
{
    uz_coco_image *im = slot;
    uz_status st = get_int(e, "id", false, &im->id);
    if (st == UZ_OK)
        st = get_string(e, "file_name", pool, &im->file_name);
    if (st == UZ_OK)
        st = get_small_int(e, "width", false, &im->width);
    if (st == UZ_OK)
        st = get_small_int(e, "height", false, &im->height);
    return st;
}

static uz_status read_category(const entry *e, char **pool, void *slot)
{
    uz_coco_category *c = slot;
    uz_status st = get_int(e, "id", false, &c->id);
    if (st == UZ_OK)
        st = get_string(e, "name", pool, &c->name);
    return st;
}

static uz_status read_annotation(const entry *e, char **pool, void *slot)
{
    (void)pool;
    uz_coco_annotation *a = slot;
    uz_status st = get_int(e, "id", false, &a->id);
    if (st == UZ_OK)
        st = get_int(e, "image_id", false, &a->image_id);
    if (st == UZ_OK)
        st = get_int(e, "category_id", false, &a->category_id);
    if (st == UZ_OK)
        st = get_bbox(e, a->bbox);
    a->area = a->bbox[2] * a->bbox[3];
    if (st == UZ_OK)
        st = get_float(e, "area", true, &a->area);
    a->iscrowd = 0;
    if (st == UZ_OK)
        st = get_small_int(e, "iscrowd", true, &a->iscrowd);
    return st;
}

static uz_status read_caption(const entry *e, char **pool, void *slot)
{
    uz_coco_caption *c = slot;
    uz_status st = get_int(e, "id", false, &c->id);
    if (st == UZ_OK)
        st = get_int(e, "image_id", false, &c->image_id);
    if (st == UZ_OK)
        st = get_string(e, "caption", pool, &c->caption);
    return st;
}

/* ---- value checks, shared by the reader and the writer --------------------- */

typedef struct id_pos {
    int64_t id, pos;
} id_pos;

static int cmp_id_pos(const void *a, const void *b)
{
    const id_pos *x = a, *y = b;
    if (x->id != y->id)
        return x->id < y->id ? -1 : 1;
    return x->pos < y->pos ? -1 : x->pos > y->pos;
}

/* The int64 id at byte `offset` of entry i of the `stride`-byte entries at base. */
static int64_t id_at(const void *base, size_t stride, size_t offset, int64_t i)
{
    int64_t id;
    memcpy(&id, (const char *)base + (size_t)i * stride + offset, sizeof id);
    return id;
}

/* Checks that the n ids (id_at) are unique, reporting the later of a
 * duplicate pair, and returns the positions in id order in *order
 * (uz_malloc'd) when order is non-NULL. */
static uz_status unique_ids(const char *path, const char *array, const void *base, size_t stride,
                            size_t offset, int64_t n, int64_t **order)
{
    if (order)
        *order = NULL;
    id_pos *p = uz_malloc(sizeof(id_pos) * (size_t)n, "COCO id index");
    int64_t *o = order ? uz_malloc(sizeof(int64_t) * (size_t)n, "COCO id index") : NULL;
    if (!p || (order && !o)) {
        uz_free(p);
        uz_free(o);
        return uz_error_status();
    }
    for (int64_t i = 0; i < n; i++)
        p[i] = (id_pos){id_at(base, stride, offset, i), i};
    qsort(p, (size_t)n, sizeof(id_pos), cmp_id_pos);
    uz_status st = UZ_OK;
    for (int64_t i = 1; i < n && st == UZ_OK; i++)
        if (p[i].id == p[i - 1].id)
            st = UZ_FAIL(UZ_ERR_FORMAT, "%s: %s[%lld]: duplicate id %lld (%s[%lld] has it too)",
                         path, array, (long long)p[i].pos, (long long)p[i].id, array,
                         (long long)p[i - 1].pos);
    for (int64_t i = 0; o && i < n; i++)
        o[i] = p[i].pos;
    uz_free(p);
    if (st != UZ_OK) {
        uz_free(o);
        return st;
    }
    if (order)
        *order = o;
    return UZ_OK;
}

/* Position of the entry with this id (id_at) through order, the positions
 * in id order that unique_ids returns, or -1. */
static int64_t find_id(const void *base, size_t stride, size_t offset, const int64_t *order,
                       int64_t n, int64_t id)
{
    int64_t lo = 0, hi = n;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        int64_t v = id_at(base, stride, offset, order[mid]);
        if (v == id)
            return order[mid];
        if (v < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

static int64_t find_image(const uz_coco_image *images, const int64_t *order, int64_t n, int64_t id)
{
    return find_id(images, sizeof *images, offsetof(uz_coco_image, id), order, n, id);
}

static int find_category(const uz_coco_category *cats, const int64_t *order, int n, int64_t id)
{
    return (int)find_id(cats, sizeof *cats, offsetof(uz_coco_category, id), order, n, id);
}

/* Which file each part came from (messages), which parts to check, and the
 * id orders it builds (the caller owns them). */
typedef struct checker {
    const char *images_path;
    const char *instances_path; /* NULL: no categories / annotations */
    const char *captions_path;  /* NULL: no captions */
    int64_t *image_order;
    int64_t *category_order;
} checker;

static bool empty(const char *s) { return !s || !s[0]; }

static uz_status check_images(checker *k, const uz_coco *c)
{
    const char *path = k->images_path;
    for (int64_t i = 0; i < c->n_images; i++) {
        const uz_coco_image *im = &c->images[i];
        if (im->id < 0)
            return UZ_FAIL(UZ_ERR_FORMAT, "%s: images[%lld]: id %lld is negative", path,
                           (long long)i, (long long)im->id);
        if (empty(im->file_name))
            return UZ_FAIL(UZ_ERR_FORMAT, "%s: images[%lld]: file_name is empty", path,
                           (long long)i);
        if (im->width <= 0 || im->height <= 0)
            return UZ_FAIL(UZ_ERR_FORMAT,
                           "%s: images[%lld] '%s': width and height must be positive (got %d x %d)",
                           path, (long long)i, im->file_name, im->width, im->height);
    }
    return unique_ids(path, "images", c->images, sizeof(uz_coco_image),
                      offsetof(uz_coco_image, id), c->n_images, &k->image_order);
}

static uz_status check_categories(checker *k, const uz_coco *c)
{
    const char *path = k->instances_path;
    for (int i = 0; i < c->n_categories; i++) {
        if (c->categories[i].id < 0)
            return UZ_FAIL(UZ_ERR_FORMAT, "%s: categories[%d]: id %lld is negative", path, i,
                           (long long)c->categories[i].id);
        if (empty(c->categories[i].name))
            return UZ_FAIL(UZ_ERR_FORMAT, "%s: categories[%d]: name is empty", path, i);
    }
    return unique_ids(path, "categories", c->categories, sizeof(uz_coco_category),
                      offsetof(uz_coco_category, id), c->n_categories, &k->category_order);
}

static uz_status check_annotation(const checker *k, const uz_coco *c, int64_t i)
{
    const char *path = k->instances_path;
    const uz_coco_annotation *a = &c->annotations[i];
    int64_t im = find_image(c->images, k->image_order, c->n_images, a->image_id);
    if (im < 0)
        return UZ_FAIL(UZ_ERR_FORMAT, "%s: annotations[%lld]: unknown image_id %lld", path,
                       (long long)i, (long long)a->image_id);
    if (find_category(c->categories, k->category_order, c->n_categories, a->category_id) < 0)
        return UZ_FAIL(UZ_ERR_FORMAT, "%s: annotations[%lld]: unknown category_id %lld", path,
                       (long long)i, (long long)a->category_id);
    const float *b = a->bbox;
    if (!isfinite(b[0]) || !isfinite(b[1]) || !isfinite(b[2]) || !isfinite(b[3]))
        return UZ_FAIL(UZ_ERR_FORMAT, "%s: annotations[%lld]: bbox must have 4 finite numbers",
                       path, (long long)i);
    if (!(b[2] > 0.0f) || !(b[3] > 0.0f))
        return UZ_FAIL(UZ_ERR_FORMAT,
                       "%s: annotations[%lld]: bbox width and height must be positive (got %g x %g)",
                       path, (long long)i, (double)b[2], (double)b[3]);
    const uz_coco_image *img = &c->images[im];
    const float s = UZ_COCO_BBOX_SLACK;
    if (b[0] < -s || b[1] < -s || b[0] + b[2] > (float)img->width + s ||
        b[1] + b[3] > (float)img->height + s)
        return UZ_FAIL(UZ_ERR_FORMAT,
                       "%s: annotations[%lld]: bbox [%g, %g, %g, %g] lies outside image %lld "
                       "'%s' (%d x %d)",
                       path, (long long)i, (double)b[0], (double)b[1], (double)b[2], (double)b[3],
                       (long long)img->id, img->file_name, img->width, img->height);
    if (!(a->area >= 0.0f) || !isfinite(a->area))
        return UZ_FAIL(UZ_ERR_FORMAT, "%s: annotations[%lld]: area must be >= 0 (got %g)", path,
                       (long long)i, (double)a->area);
    if (a->iscrowd != 0 && a->iscrowd != 1)
        return UZ_FAIL(UZ_ERR_FORMAT, "%s: annotations[%lld]: iscrowd must be 0 or 1 (got %d)",
                       path, (long long)i, a->iscrowd);
    return UZ_OK;
}

static uz_status check_caption(const checker *k, const uz_coco *c, int64_t i)
{
    const char *path = k->captions_path;
    const uz_coco_caption *cap = &c->captions[i];
    if (find_image(c->images, k->image_order, c->n_images, cap->image_id) < 0)
        return UZ_FAIL(UZ_ERR_FORMAT, "%s: annotations[%lld]: unknown image_id %lld", path,
                       (long long)i, (long long)cap->image_id);
    if (empty(cap->caption))
        return UZ_FAIL(UZ_ERR_FORMAT, "%s: annotations[%lld]: caption is empty", path,
                       (long long)i);
    return UZ_OK;
}

/* Annotation and caption ids need not be non-negative to be usable, but
 * COCO's are, and a negative one is a sign of a broken converter. */
static uz_status check_ann_ids(const char *path, const void *base, size_t stride, size_t offset,
                               int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        int64_t id = id_at(base, stride, offset, i);
        if (id < 0)
            return UZ_FAIL(UZ_ERR_FORMAT, "%s: annotations[%lld]: id %lld is negative", path,
                           (long long)i, (long long)id);
    }
    return unique_ids(path, "annotations", base, stride, offset, n, NULL);
}

static void checker_free(checker *k)
{
    uz_free(k->image_order);
    uz_free(k->category_order);
    k->image_order = NULL;
    k->category_order = NULL;
}

static uz_status check_all(checker *k, const uz_coco *c)
{
    uz_status st = check_images(k, c);
    if (st == UZ_OK && k->instances_path) {
        st = check_categories(k, c);
        if (st == UZ_OK)
            st = check_ann_ids(k->instances_path, c->annotations, sizeof(uz_coco_annotation),
                               offsetof(uz_coco_annotation, id), c->n_annotations);
        for (int64_t i = 0; st == UZ_OK && i < c->n_annotations; i++)
            st = check_annotation(k, c, i);
    }
    if (st == UZ_OK && k->captions_path) {
        st = check_ann_ids(k->captions_path, c->captions, sizeof(uz_coco_caption),
                           offsetof(uz_coco_caption, id), c->n_captions);
        for (int64_t i = 0; st == UZ_OK && i < c->n_captions; i++)
            st = check_caption(k, c, i);
    }
    if (st != UZ_OK)
        checker_free(k);
    return st;
}

/* ---- loading ----------------------------------------------------------------- */

/* The captions file's images, read in place, must match the instances'. */
static uz_status match_caption_images(const char *path, const cJSON *arr, const uz_coco *c,
                                      const int64_t *order)
{
    int64_t n = cJSON_GetArraySize(arr);
    uz_coco_image *tmp = uz_calloc(sizeof(uz_coco_image) * (size_t)n, "COCO caption images");
    if (!tmp)
        return uz_error_status();
    uz_status st = parse_array(path, "images", arr, NULL, tmp, sizeof *tmp, read_image);
    for (int64_t i = 0; st == UZ_OK && i < n; i++) {
        int64_t j = find_image(c->images, order, c->n_images, tmp[i].id);
        if (j < 0)
            st = UZ_FAIL(UZ_ERR_FORMAT, "%s: images[%lld]: id %lld is not in the instances file",
                         path, (long long)i, (long long)tmp[i].id);
        else if (strcmp(tmp[i].file_name, c->images[j].file_name) != 0 ||
                 tmp[i].width != c->images[j].width || tmp[i].height != c->images[j].height)
            st = UZ_FAIL(UZ_ERR_FORMAT,
                         "%s: images[%lld]: '%s' (%d x %d) differs from the instances file's "
                         "image %lld '%s' (%d x %d)",
                         path, (long long)i, tmp[i].file_name, tmp[i].width, tmp[i].height,
                         (long long)tmp[i].id, c->images[j].file_name, c->images[j].width,
                         c->images[j].height);
    }
    uz_free(tmp);
    return st;
}

static uz_status build_lookups(uz_coco *c)
{
    int64_t n = c->n_images;
    c->ann_start = uz_calloc(sizeof(int64_t) * (size_t)(n + 1), "COCO annotation index");
    c->ann_index = uz_malloc(sizeof(int64_t) * (size_t)c->n_annotations, "COCO annotation index");
    c->cap_start = uz_calloc(sizeof(int64_t) * (size_t)(n + 1), "COCO caption index");
    c->cap_index = uz_malloc(sizeof(int64_t) * (size_t)c->n_captions, "COCO caption index");
    if (!c->ann_start || !c->ann_index || !c->cap_start || !c->cap_index)
        return uz_error_status();
    for (int64_t i = 0; i < c->n_annotations; i++) {
        uz_coco_annotation *a = &c->annotations[i];
        a->image = uz_coco_image_index(c, a->image_id);
        a->category = uz_coco_category_index(c, a->category_id);
        c->ann_start[a->image + 1]++;
    }
    for (int64_t i = 0; i < c->n_captions; i++) {
        uz_coco_caption *cap = &c->captions[i];
        cap->image = uz_coco_image_index(c, cap->image_id);
        c->cap_start[cap->image + 1]++;
    }
    for (int64_t i = 0; i < n; i++) {
        c->ann_start[i + 1] += c->ann_start[i];
        c->cap_start[i + 1] += c->cap_start[i];
    }
    /* Filling through a moving cursor keeps file order within each image. */
    int64_t *cursor = uz_malloc(sizeof(int64_t) * (size_t)(n + 1), "COCO index cursor");
    if (!cursor)
        return uz_error_status();
    memcpy(cursor, c->ann_start, sizeof(int64_t) * (size_t)(n + 1));
    for (int64_t i = 0; i < c->n_annotations; i++)
        c->ann_index[cursor[c->annotations[i].image]++] = i;
    memcpy(cursor, c->cap_start, sizeof(int64_t) * (size_t)(n + 1));
    for (int64_t i = 0; i < c->n_captions; i++)
        c->cap_index[cursor[c->captions[i].image]++] = i;
    uz_free(cursor);
    return UZ_OK;
}

static uz_status check_files(const char *path, const uz_coco *c, const char *root)
{
    for (int64_t i = 0; i < c->n_images; i++) {
        const char *name = c->images[i].file_name;
        size_t len = strlen(root) + strlen(name) + 2;
        char *full = uz_malloc(len, "image path");
        if (!full)
            return uz_error_status();
        snprintf(full, len, "%s/%s", root, name);
        uz_status st = UZ_OK;
        if (access(full, R_OK) != 0)
            st = UZ_FAIL(UZ_ERR_IO, "%s: images[%lld] '%s': missing image file %s", path,
                         (long long)i, name, full);
        uz_free(full);
        if (st != UZ_OK)
            return st;
    }
    return UZ_OK;
}

static uz_status load(const char *ipath, const char *cpath, const char *root, cJSON *inst,
                      cJSON *caps, uz_coco *c)
{
    const cJSON *images, *cats = NULL, *anns = NULL, *capanns = NULL, *capimages = NULL;
    const char *images_path = ipath ? ipath : cpath;
    uz_status st = get_array(images_path, inst ? inst : caps, "images", &images);
    if (st == UZ_OK && inst)
        st = get_array(ipath, inst, "categories", &cats);
    if (st == UZ_OK && inst)
        st = get_array(ipath, inst, "annotations", &anns);
    if (st == UZ_OK && caps)
        st = get_array(cpath, caps, "annotations", &capanns);
    if (st == UZ_OK && caps && inst)
        st = get_array(cpath, caps, "images", &capimages);
    if (st != UZ_OK)
        return st;

    c->n_images = cJSON_GetArraySize(images);
    c->n_categories = cats ? cJSON_GetArraySize(cats) : 0;
    c->n_annotations = anns ? cJSON_GetArraySize(anns) : 0;
    c->n_captions = capanns ? cJSON_GetArraySize(capanns) : 0;
    size_t pool = string_bytes(images, "file_name") + (cats ? string_bytes(cats, "name") : 0) +
                  (capanns ? string_bytes(capanns, "caption") : 0);
    c->strings = uz_malloc(pool, "COCO strings");
    c->images = uz_calloc(sizeof(uz_coco_image) * (size_t)c->n_images, "COCO images");
    c->categories = uz_calloc(sizeof(uz_coco_category) * (size_t)c->n_categories, "COCO categories");
    c->annotations =
        uz_calloc(sizeof(uz_coco_annotation) * (size_t)c->n_annotations, "COCO annotations");
    c->captions = uz_calloc(sizeof(uz_coco_caption) * (size_t)c->n_captions, "COCO captions");
    if (!c->strings || !c->images || !c->categories || !c->annotations || !c->captions)
        return uz_error_status();

    char *p = c->strings;
    st = parse_array(images_path, "images", images, &p, c->images, sizeof *c->images,
                     read_image);
    if (st == UZ_OK && cats)
        st = parse_array(ipath, "categories", cats, &p, c->categories, sizeof *c->categories,
                         read_category);
    if (st == UZ_OK && anns)
        st = parse_array(ipath, "annotations", anns, &p, c->annotations, sizeof *c->annotations,
                         read_annotation);
    if (st == UZ_OK && capanns)
        st = parse_array(cpath, "annotations", capanns, &p, c->captions, sizeof *c->captions,
                         read_caption);
    if (st != UZ_OK)
        return st;

    checker k = {images_path, ipath, cpath, NULL, NULL};
    st = check_all(&k, c);
    if (st != UZ_OK)
        return st;
    c->image_by_id = k.image_order;
    c->category_by_id = k.category_order;
    if (capimages)
        st = match_caption_images(cpath, capimages, c, c->image_by_id);
    if (st == UZ_OK)
        st = build_lookups(c);
    if (st == UZ_OK && root)
        st = check_files(images_path, c, root);
    return st;
}

uz_status uz_coco_load(const char *instances_path, const char *captions_path,
                       const char *image_root, uz_coco *out)
{
    *out = (uz_coco){0};
    if (!instances_path && !captions_path)
        return UZ_FAIL(UZ_ERR_ARG, "COCO load: no instances or captions file given");
    cJSON *inst = NULL, *caps = NULL;
    uz_status st = UZ_OK;
    if (instances_path)
        st = parse_json(instances_path, &inst);
    if (st == UZ_OK && captions_path)
        st = parse_json(captions_path, &caps);
    if (st == UZ_OK)
        st = load(instances_path, captions_path, image_root, inst, caps, out);
    cJSON_Delete(inst);
    cJSON_Delete(caps);
    if (st != UZ_OK)
        uz_coco_free(out);
    return st;
}

void uz_coco_free(uz_coco *c)
{
    uz_free(c->images);
    uz_free(c->categories);
    uz_free(c->annotations);
    uz_free(c->captions);
    uz_free(c->ann_start);
    uz_free(c->ann_index);
    uz_free(c->cap_start);
    uz_free(c->cap_index);
    uz_free(c->image_by_id);
    uz_free(c->category_by_id);
    uz_free(c->strings);
    *c = (uz_coco){0};
}

int64_t uz_coco_image_index(const uz_coco *c, int64_t id)
{
    return c->image_by_id ? find_image(c->images, c->image_by_id, c->n_images, id) : -1;
}

int uz_coco_category_index(const uz_coco *c, int64_t id)
{
    return c->category_by_id ? find_category(c->categories, c->category_by_id, c->n_categories, id)
                             : -1;
}

const int64_t *uz_coco_image_annotations(const uz_coco *c, int64_t image, int64_t *n)
{
    *n = c->ann_start[image + 1] - c->ann_start[image];
    return c->ann_index + c->ann_start[image];
}

const int64_t *uz_coco_image_captions(const uz_coco *c, int64_t image, int64_t *n)
{
    *n = c->cap_start[image + 1] - c->cap_start[image];
    return c->cap_index + c->cap_start[image];
}

/* ---- writing ------------------------------------------------------------------- */

/* Numbers go in as raw text so their form is ours, not the printer's:
 * integers exactly, floats as the shortest decimal that reads back to the
 * same float (integral values without a fraction). */
static bool add_raw(cJSON *obj, const char *key, const char *text)
{
    cJSON *v = cJSON_CreateRaw(text);
    if (!v)
        return false;
    if (key ? cJSON_AddItemToObject(obj, key, v) : cJSON_AddItemToArray(obj, v))
        return true;
    cJSON_Delete(v);
    return false;
}

static bool add_int(cJSON *obj, const char *key, int64_t v)
{
    char buf[32];
    snprintf(buf, sizeof buf, "%lld", (long long)v);
    return add_raw(obj, key, buf);
}

static bool add_float(cJSON *obj, const char *key, float v)
{
    char buf[48];
    if (v == truncf(v) && fabsf(v) < 1e15f) {
        snprintf(buf, sizeof buf, "%.0f", (double)v);
    } else {
        for (int prec = 1; prec <= 9; prec++) {
            snprintf(buf, sizeof buf, "%.*g", prec, (double)v);
            if (strtof(buf, NULL) == v)
                break;
        }
    }
    return add_raw(obj, key, buf);
}

static bool add_string(cJSON *obj, const char *key, const char *s)
{
    return cJSON_AddStringToObject(obj, key, s) != NULL;
}

static cJSON *add_entry(cJSON *arr)
{
    cJSON *o = cJSON_CreateObject();
    if (o && !cJSON_AddItemToArray(arr, o)) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

static bool put_images(cJSON *root, const uz_coco *c)
{
    cJSON *arr = cJSON_AddArrayToObject(root, "images");
    bool ok = arr != NULL;
    for (int64_t i = 0; ok && i < c->n_images; i++) {
        const uz_coco_image *im = &c->images[i];
        cJSON *o = add_entry(arr);
        ok = o && add_int(o, "id", im->id) && add_string(o, "file_name", im->file_name) &&
             add_int(o, "width", im->width) && add_int(o, "height", im->height);
    }
    return ok;
}

static bool put_instances(cJSON *root, const uz_coco *c)
{
    cJSON *cats = cJSON_AddArrayToObject(root, "categories");
    bool ok = cats != NULL;
    for (int i = 0; ok && i < c->n_categories; i++) {
        cJSON *o = add_entry(cats);
        ok = o && add_int(o, "id", c->categories[i].id) &&
             add_string(o, "name", c->categories[i].name);
    }
    cJSON *anns = ok ? cJSON_AddArrayToObject(root, "annotations") : NULL;
    ok = anns != NULL;
    for (int64_t i = 0; ok && i < c->n_annotations; i++) {
        const uz_coco_annotation *a = &c->annotations[i];
        cJSON *o = add_entry(anns), *bbox = NULL;
        ok = o && add_int(o, "id", a->id) && add_int(o, "image_id", a->image_id) &&
             add_int(o, "category_id", a->category_id) &&
             (bbox = cJSON_AddArrayToObject(o, "bbox")) != NULL;
        for (int j = 0; ok && j < 4; j++)
            ok = add_float(bbox, NULL, a->bbox[j]);
        ok = ok && add_float(o, "area", a->area) && add_int(o, "iscrowd", a->iscrowd);
    }
    return ok;
}

static bool put_captions(cJSON *root, const uz_coco *c)
{
    cJSON *anns = cJSON_AddArrayToObject(root, "annotations");
    bool ok = anns != NULL;
    for (int64_t i = 0; ok && i < c->n_captions; i++) {
        const uz_coco_caption *cap = &c->captions[i];
        cJSON *o = add_entry(anns);
        ok = o && add_int(o, "id", cap->id) && add_int(o, "image_id", cap->image_id) &&
             add_string(o, "caption", cap->caption);
    }
    return ok;
}

static uz_status save(const char *path, const uz_coco *c, bool instances)
{
    if (!path || !c)
        return UZ_FAIL(UZ_ERR_ARG, "COCO save: NULL %s", path ? "dataset" : "path");
    checker k = {path, instances ? path : NULL, instances ? NULL : path, NULL, NULL};
    uz_status st = check_all(&k, c);
    if (st != UZ_OK)
        return st;
    checker_free(&k);
    cJSON *root = cJSON_CreateObject();
    bool ok = root && put_images(root, c) && (instances ? put_instances(root, c) : put_captions(root, c));
    char *text = ok ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    if (!text)
        return UZ_FAIL(UZ_ERR_NOMEM, "%s: out of memory building the JSON text", path);
    uz_atomic_file f;
    st = uz_atomic_file_begin(&f, path);
    if (st == UZ_OK) {
        uz_atomic_file_write(&f, text, strlen(text));
        uz_atomic_file_write(&f, "\n", 1);
        st = uz_atomic_file_commit(&f, true);
    }
    cJSON_free(text);
    return st;
}

uz_status uz_coco_save_instances(const char *path, const uz_coco *c) { return save(path, c, true); }

uz_status uz_coco_save_captions(const char *path, const uz_coco *c) { return save(path, c, false); }
