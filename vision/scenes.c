/* The scene generator: placement, compositing, captions and the COCO
 * output of `unizoo data scenes`. */
/* For syncfs(2) (see sync_split); strerror_r is then the GNU form. */
#define _GNU_SOURCE
#include "vision/scenes.h"

#include "core/alloc.h"
#include "core/file_io.h"
#include "core/rng.h"
#include "vision/boxes.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum { PLACE_TRIES = 64, PATH_LEN = 4096, JPEG_QUALITY = 95 };

uint64_t uz_scene_stream(bool train, int64_t i)
{
    /* The top bit keeps the two splits' streams apart for any n. */
    return (train ? 0 : (uint64_t)1 << 63) | (uint64_t)i;
}

/* ---- random draws: 32-bit Philox words of the scene's stream, in order --- */

typedef struct draws {
    uint64_t seed, stream, next; /* next word to use */
    uint32_t block[4];
} draws;

static uint32_t draw_word(draws *d)
{
    if ((d->next & 3u) == 0)
        uz_philox(d->seed, d->stream, d->next >> 2, d->block);
    return d->block[d->next++ & 3u];
}

/* Uniform in 0..n-1 (n <= 2^32; the bias of the multiply-shift is < n / 2^32). */
static int64_t draw_below(draws *d, int64_t n)
{
    return (int64_t)(((uint64_t)draw_word(d) * (uint64_t)n) >> 32);
}

/* ---- rendering ------------------------------------------------------------ */

/* The tight box of item's pixels above the threshold; false when none are. */
static bool tight_box(const uz_image *item, int box[4])
{
    int x0 = item->width, y0 = item->height, x1 = -1, y1 = -1;
    for (int y = 0; y < item->height; y++)
        for (int x = 0; x < item->width; x++)
            if (item->pixels[(int64_t)y * item->width + x] > UZ_SCENE_THRESHOLD) {
                x0 = x < x0 ? x : x0;
                x1 = x > x1 ? x : x1;
                y0 = y < y0 ? y : y0;
                y1 = y > y1 ? y : y1;
            }
    if (x1 < 0)
        return false;
    box[0] = x0;
    box[1] = y0;
    box[2] = x1 - x0 + 1;
    box[3] = y1 - y0 + 1;
    return true;
}

static void to_xyxy(const int box[4], float out[4])
{
    out[0] = (float)box[0];
    out[1] = (float)box[1];
    out[2] = (float)(box[0] + box[2]);
    out[3] = (float)(box[1] + box[3]);
}

static bool fits(const uz_scene *s, const int box[4])
{
    if (s->n_items == 0)
        return true;
    float a[4], b[4 * UZ_SCENE_MAX_ITEMS], iou[UZ_SCENE_MAX_ITEMS];
    to_xyxy(box, a);
    for (int k = 0; k < s->n_items; k++)
        to_xyxy(s->items[k].box, b + 4 * k);
    uz_box_iou_matrix(iou, a, 1, b, s->n_items);
    for (int k = 0; k < s->n_items; k++)
        if (iou[k] > UZ_SCENE_MAX_IOU)
            return false;
    return true;
}

/* The 28 x 28 item `index` of src scaled to side x side. */
static uz_status scaled_item(const uz_fmnist *src, int64_t index, int side, uz_image *out)
{
    uz_image raw;
    uz_status st = uz_image_alloc(&raw, 28, 28, 1);
    if (st != UZ_OK)
        return st;
    const float *p = src->images + index * 784;
    for (int i = 0; i < 784; i++) /* the loader stored byte / 255: this restores the byte */
        raw.pixels[i] = (uint8_t)lrintf(p[i] * 255.0f);
    st = uz_image_resize(&raw, side, side, out);
    uz_image_free(&raw);
    return st;
}

static void composite_max(uz_image *canvas, const uz_image *item, int x, int y)
{
    for (int r = 0; r < item->height; r++) {
        uint8_t *dst = canvas->pixels + (int64_t)(y + r) * canvas->width + x;
        const uint8_t *src = item->pixels + (int64_t)r * item->width;
        for (int c = 0; c < item->width; c++)
            dst[c] = src[c] > dst[c] ? src[c] : dst[c];
    }
}

/* One item: up to PLACE_TRIES draws of (source, side, position). */
static uz_status place_item(uz_scene *s, const uz_fmnist *src, int size, draws *d)
{
    const int lo = size / 4, hi = size / 2;
    for (int t = 0; t < PLACE_TRIES; t++) {
        int64_t index = draw_below(d, src->n);
        int side = lo + (int)draw_below(d, hi - lo + 1);
        int x = (int)draw_below(d, size - side + 1);
        int y = (int)draw_below(d, size - side + 1);
        uz_image item;
        uz_status st = scaled_item(src, index, side, &item);
        if (st != UZ_OK)
            return st;
        int box[4];
        bool ok = tight_box(&item, box);
        if (ok) {
            box[0] += x;
            box[1] += y;
            ok = fits(s, box);
        }
        if (ok) {
            composite_max(&s->image, &item, x, y);
            uz_scene_item *it = &s->items[s->n_items++];
            it->label = src->labels[index];
            it->source = index;
            memcpy(it->box, box, sizeof box);
        }
        uz_image_free(&item);
        if (ok)
            return UZ_OK;
    }
    return UZ_OK;
}

/* ---- captions ----------------------------------------------------------------- */

static const char *const COUNT_WORDS[UZ_SCENE_MAX_ITEMS + 1] = {"", "one", "two", "three",
                                                                "four"};

typedef struct text {
    char *buf;
    size_t len;
} text;

/* Captions are short by construction (at most 4 items of at most 10
 * letters): UZ_SCENE_CAPTION_LEN bounds them with room to spare. */
static void put(text *t, const char *s)
{
    int n = snprintf(t->buf + t->len, UZ_SCENE_CAPTION_LEN - t->len, "%s", s);
    if (n > 0)
        t->len += (size_t)n;
    if (t->len >= UZ_SCENE_CAPTION_LEN)
        t->len = UZ_SCENE_CAPTION_LEN - 1;
}

static void put_item(text *t, const uz_scene_item *it)
{
    const char *name = uz_fmnist_caption_names[it->label];
    put(t, strchr("aeiou", name[0]) ? "an " : "a ");
    put(t, name);
}

/* "a, b and c" */
static void put_list(text *t, const uz_scene *s, const int *order)
{
    for (int k = 0; k < s->n_items; k++) {
        if (k > 0)
            put(t, k == s->n_items - 1 ? " and " : ", ");
        put_item(t, &s->items[order[k]]);
    }
}

/* Box centres doubled, to stay in integers. */
static int centre2(const uz_scene_item *it, int axis) { return 2 * it->box[axis] + it->box[axis + 2]; }

/* Item order along axis (0: left to right, 1: top to bottom); ties by the
 * other axis, then by placement. */
static void sort_items(const uz_scene *s, int axis, int *order)
{
    for (int k = 0; k < s->n_items; k++)
        order[k] = k;
    for (int i = 1; i < s->n_items; i++)
        for (int j = i; j > 0; j--) {
            const uz_scene_item *a = &s->items[order[j - 1]], *b = &s->items[order[j]];
            int ka = centre2(a, axis), kb = centre2(b, axis);
            int la = centre2(a, 1 - axis), lb = centre2(b, 1 - axis);
            bool swap = ka > kb || (ka == kb && (la > lb || (la == lb && order[j - 1] > order[j])));
            if (!swap)
                break;
            int tmp = order[j];
            order[j] = order[j - 1];
            order[j - 1] = tmp;
        }
}

static void put_region(text *t, const uz_scene_item *it, int size)
{
    static const char *const where[3][3] = {
        {" at the top left", " at the top", " at the top right"},
        {" on the left", " in the centre", " on the right"},
        {" at the bottom left", " at the bottom", " at the bottom right"}};
    int col = 3 * centre2(it, 0) / (2 * size), row = 3 * centre2(it, 1) / (2 * size);
    put(t, where[row][col]);
}

/* How the two largest items lie: along the axis where their centres are
 * further apart, the left / upper one first. */
static void put_relation(text *t, const uz_scene *s)
{
    int a = 0, b = -1;
    for (int k = 1; k < s->n_items; k++) {
        int area = s->items[k].box[2] * s->items[k].box[3];
        if (area > s->items[a].box[2] * s->items[a].box[3]) {
            b = a;
            a = k;
        } else if (b < 0 || area > s->items[b].box[2] * s->items[b].box[3]) {
            b = k;
        }
    }
    const uz_scene_item *p = &s->items[a], *q = &s->items[b];
    int dx = centre2(q, 0) - centre2(p, 0), dy = centre2(q, 1) - centre2(p, 1);
    bool horizontal = abs(dx) >= abs(dy);
    if ((horizontal ? dx : dy) < 0) {
        const uz_scene_item *tmp = p;
        p = q;
        q = tmp;
    }
    put_item(t, p);
    put(t, horizontal ? " left of " : " above ");
    put_item(t, q);
}

static void write_captions(uz_scene *s, int size)
{
    int ltr[UZ_SCENE_MAX_ITEMS], ttb[UZ_SCENE_MAX_ITEMS];
    sort_items(s, 0, ltr);
    sort_items(s, 1, ttb);
    text t0 = {s->captions[0], 0}, t1 = {s->captions[1], 0}, t2 = {s->captions[2], 0};
    put_list(&t0, s, ltr);
    put(&t2, COUNT_WORDS[s->n_items]);
    if (s->n_items == 1) {
        put_item(&t1, &s->items[0]);
        put_region(&t1, &s->items[0], size);
        put(&t2, " ");
        put(&t2, uz_fmnist_caption_names[s->items[0].label]);
    } else {
        put_relation(&t1, s);
        put(&t2, " items: ");
        put_list(&t2, s, ttb);
    }
}

uz_status uz_scene_render(const uz_fmnist *src, int size, uint64_t seed, uint64_t stream,
                          uz_scene *out)
{
    *out = (uz_scene){0};
    if (!src || src->n <= 0)
        return UZ_FAIL(UZ_ERR_ARG, "scene: no source items");
    if (size < UZ_SCENE_MIN_SIZE || size > UZ_SCENE_MAX_SIZE)
        return UZ_FAIL(UZ_ERR_ARG, "scene: size %d is not in %d..%d", size, UZ_SCENE_MIN_SIZE,
                       UZ_SCENE_MAX_SIZE);
    uz_status st = uz_image_alloc(&out->image, size, size, 1);
    if (st != UZ_OK)
        return st;
    draws d = {seed, stream, 0, {0}};
    int want = 1 + (int)draw_below(&d, UZ_SCENE_MAX_ITEMS);
    for (int k = 0; k < want && st == UZ_OK; k++)
        st = place_item(out, src, size, &d);
    if (st == UZ_OK && out->n_items == 0)
        st = UZ_FAIL(UZ_ERR_FORMAT, "scene: %d items drawn from the source are all blank",
                     PLACE_TRIES);
    if (st != UZ_OK) {
        uz_scene_free(out);
        return st;
    }
    write_captions(out, size);
    return UZ_OK;
}

void uz_scene_free(uz_scene *s)
{
    uz_image_free(&s->image);
    *s = (uz_scene){0};
}

/* ---- writing a split -------------------------------------------------------------- */

static uz_status make_dirs(const char *dir)
{
    char buf[PATH_LEN + 16], ebuf[128];
    size_t n = strlen(dir);
    if (n == 0 || n >= sizeof buf)
        return UZ_FAIL(UZ_ERR_ARG, "scenes: directory '%s' is empty or too long", dir);
    memcpy(buf, dir, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] != '/' && buf[i] != '\0')
            continue;
        char c = buf[i];
        buf[i] = '\0';
        if (mkdir(buf, 0777) != 0 && errno != EEXIST)
            return UZ_FAIL(UZ_ERR_IO, "scenes: cannot create directory '%s': %s", buf,
                           strerror_r(errno, ebuf, sizeof ebuf));
        buf[i] = c;
    }
    return UZ_OK;
}

/* Scene images skip uz_image_save's two fsyncs per file, which made a
 * 60k-scene split take minutes instead of seconds: they are committed
 * without `durable` (still renamed into place, so no half-written file ever
 * has the final name), and sync_split syncs the file system once before the JSON files
 * (atomic and synced themselves) are written: a split whose JSON exists has
 * every image on disk. */
static uz_status write_image(const char *path, const uz_image *img)
{
    uint8_t *bytes = NULL;
    size_t n = 0;
    uz_status st = uz_image_encode_jpeg(img, JPEG_QUALITY, &bytes, &n);
    if (st != UZ_OK)
        return st;
    uz_atomic_file f;
    st = uz_atomic_file_begin(&f, path);
    if (st == UZ_OK) {
        uz_atomic_file_write(&f, bytes, n);
        st = uz_atomic_file_commit(&f, false);
    }
    uz_free(bytes);
    return st;
}

static uz_status sync_split(const char *images_dir)
{
    int fd = open(images_dir, O_RDONLY | O_CLOEXEC);
    int err = fd < 0 ? errno : syncfs(fd) == 0 ? 0 : errno;
    if (fd >= 0)
        close(fd);
    if (!err)
        return UZ_OK;
    char ebuf[128];
    return UZ_FAIL(UZ_ERR_IO, "scenes: syncing %s failed: %s", images_dir,
                   strerror_r(err, ebuf, sizeof ebuf));
}

/* What the JSON needs of a scene once its image is on disk. */
typedef struct scene_record {
    int n_items;
    uz_scene_item items[UZ_SCENE_MAX_ITEMS];
    char captions[UZ_SCENE_CAPTIONS][UZ_SCENE_CAPTION_LEN];
    char file_name[32];
} scene_record;

/* Renders and saves scenes 0..n-1, in parallel; on failure, the error of the
 * lowest failing scene, so the message does not depend on the schedule. */
static uz_status render_all(const char *images_dir, bool train, const uz_fmnist *src, int64_t n,
                            uint64_t seed, int size, scene_record *rec)
{
    int64_t first_bad = n;
    uz_status bad_status = UZ_OK;
    char bad_message[1024] = "";
#pragma omp parallel for schedule(dynamic, 8)
    for (int64_t i = 0; i < n; i++) {
        scene_record *r = &rec[i];
        snprintf(r->file_name, sizeof r->file_name, "%06lld.jpg", (long long)(i + 1));
        uz_scene s;
        uz_status st = uz_scene_render(src, size, seed, uz_scene_stream(train, i), &s);
        if (st == UZ_OK) {
            char path[PATH_LEN + 64];
            snprintf(path, sizeof path, "%s/%s", images_dir, r->file_name);
            st = write_image(path, &s.image);
            r->n_items = s.n_items;
            memcpy(r->items, s.items, sizeof s.items);
            memcpy(r->captions, s.captions, sizeof s.captions);
            uz_scene_free(&s);
        }
        if (st != UZ_OK) {
#pragma omp critical(uz_scenes_error)
            if (i < first_bad) {
                first_bad = i;
                bad_status = st;
                snprintf(bad_message, sizeof bad_message, "%s", uz_error_message());
            }
        }
    }
    if (first_bad < n)
        return UZ_FAIL(bad_status, "scenes: scene %lld: %s", (long long)first_bad, bad_message);
    return UZ_OK;
}

static uz_status save_json(const char *split_dir, const scene_record *rec, int64_t n,
                           int64_t n_items, int size)
{
    uz_coco_category cats[10];
    for (int k = 0; k < 10; k++)
        cats[k] = (uz_coco_category){k + 1, uz_fmnist_caption_names[k]};
    uz_coco c = {.n_images = n, .categories = cats, .n_categories = 10,
                 .n_annotations = n_items, .n_captions = n * UZ_SCENE_CAPTIONS};
    c.images = uz_malloc(sizeof(uz_coco_image) * (size_t)n, "scene images");
    c.annotations = uz_calloc(sizeof(uz_coco_annotation) * (size_t)n_items, "scene boxes");
    c.captions = uz_calloc(sizeof(uz_coco_caption) * (size_t)c.n_captions, "scene captions");
    uz_status st = c.images && c.annotations && c.captions ? UZ_OK : uz_error_status();
    for (int64_t i = 0, a = 0; st == UZ_OK && i < n; i++) {
        const scene_record *r = &rec[i];
        const int64_t id = i + 1;
        c.images[i] = (uz_coco_image){id, r->file_name, size, size};
        for (int k = 0; k < r->n_items; k++, a++) {
            uz_coco_annotation *ann = &c.annotations[a];
            const int *b = r->items[k].box;
            ann->id = a + 1;
            ann->image_id = id;
            ann->category_id = r->items[k].label + 1;
            for (int j = 0; j < 4; j++)
                ann->bbox[j] = (float)b[j];
            ann->area = (float)(b[2] * b[3]);
        }
        for (int k = 0; k < UZ_SCENE_CAPTIONS; k++) {
            const int64_t j = i * UZ_SCENE_CAPTIONS + k;
            c.captions[j] = (uz_coco_caption){j + 1, id, r->captions[k], 0};
        }
    }
    char path[PATH_LEN + 32];
    if (st == UZ_OK) {
        snprintf(path, sizeof path, "%s/instances.json", split_dir);
        st = uz_coco_save_instances(path, &c);
    }
    if (st == UZ_OK) {
        snprintf(path, sizeof path, "%s/captions.json", split_dir);
        st = uz_coco_save_captions(path, &c);
    }
    uz_free(c.images);
    uz_free(c.annotations);
    uz_free(c.captions);
    return st;
}

uz_status uz_scenes_write(const char *dir, bool train, const uz_fmnist *src, int64_t n,
                          uint64_t seed, int size, int64_t *n_items)
{
    if (!dir || !src)
        return UZ_FAIL(UZ_ERR_ARG, "scenes: NULL %s", dir ? "source items" : "directory");
    if (n < 0)
        return UZ_FAIL(UZ_ERR_ARG, "scenes: negative count %lld", (long long)n);
    if (size < UZ_SCENE_MIN_SIZE || size > UZ_SCENE_MAX_SIZE)
        return UZ_FAIL(UZ_ERR_ARG, "scenes: size %d is not in %d..%d", size, UZ_SCENE_MIN_SIZE,
                       UZ_SCENE_MAX_SIZE);
    /* Room for "/<split>/images/<name>" under every path built here. */
    if (strlen(dir) > PATH_LEN - 64)
        return UZ_FAIL(UZ_ERR_ARG, "scenes: directory name is too long (%zu bytes)", strlen(dir));
    char split_dir[PATH_LEN], images_dir[PATH_LEN + 16];
    snprintf(split_dir, sizeof split_dir, "%s/%s", dir, train ? "train" : "test");
    snprintf(images_dir, sizeof images_dir, "%s/images", split_dir);
    uz_status st = make_dirs(images_dir);
    if (st != UZ_OK)
        return st;
    scene_record *rec = uz_calloc(sizeof(scene_record) * (size_t)n, "scene records");
    if (!rec)
        return uz_error_status();
    st = render_all(images_dir, train, src, n, seed, size, rec);
    if (st == UZ_OK)
        st = sync_split(images_dir);
    int64_t total = 0;
    for (int64_t i = 0; i < n; i++)
        total += rec[i].n_items;
    if (st == UZ_OK)
        st = save_json(split_dir, rec, n, total, size);
    uz_free(rec);
    if (st == UZ_OK && n_items)
        *n_items = total;
    return st;
}
