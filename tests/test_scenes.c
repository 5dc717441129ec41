/* The scene generator on the real Fashion-MNIST test split: rendered
 * scenes (item counts, tight boxes inside the canvas, little overlap,
 * nothing visible outside the boxes, captions that name exactly the items
 * and state their layout correctly), a small split written to disk and read
 * back through the COCO reader with its image check, determinism across
 * runs and thread counts, and argument / I/O errors. */
#include <check.h>
#include <dirent.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check_main.h"
#include "core/alloc.h"
#include "core/file_io.h"
#include "datasets/datasets.h"
#include "gradcheck.h"
#include "vision/vision.h"

static uz_fmnist g_src;
static bool g_have;

/* Loaded once in the parent: the forked tests share it. */
static void load_source(void)
{
    g_have = access(UZ_FMNIST_DEFAULT_DIR "/t10k-images-idx3-ubyte.gz", R_OK) == 0;
    if (g_have)
        ck_assert_int_eq(uz_fmnist_load(NULL, 0, &g_src), UZ_OK);
}

static void free_source(void)
{
    if (g_have)
        uz_fmnist_free(&g_src);
}

static bool skip(void)
{
    if (!g_have)
        fprintf(stderr, "skipped: dataset-fashion-mnist not installed\n");
    return !g_have;
}

static void make_temp(char *dir, size_t n)
{
    snprintf(dir, n, "/tmp/uz_scenes_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void remove_tree(const char *dir)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}

/* Whole-word occurrence, so "shirt" is not found in "t-shirt". */
static bool mentions(const char *text, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = strstr(text, name); p; p = strstr(p + 1, name)) {
        bool start = p == text || p[-1] == ' ';
        bool end = p[n] == '\0' || p[n] == ' ' || p[n] == ',';
        if (start && end)
            return true;
    }
    return false;
}

static int centre2(const uz_scene_item *it, int axis) { return 2 * it->box[axis] + it->box[axis + 2]; }

static float box_iou(const int *a, const int *b)
{
    int x0 = a[0] > b[0] ? a[0] : b[0], y0 = a[1] > b[1] ? a[1] : b[1];
    int x1 = a[0] + a[2] < b[0] + b[2] ? a[0] + a[2] : b[0] + b[2];
    int y1 = a[1] + a[3] < b[1] + b[3] ? a[1] + a[3] : b[1] + b[3];
    int inter = x1 > x0 && y1 > y0 ? (x1 - x0) * (y1 - y0) : 0;
    return (float)inter / (float)(a[2] * a[3] + b[2] * b[3] - inter);
}

static void phrase(const uz_scene_item *it, char *out, size_t n)
{
    const char *name = uz_fmnist_caption_names[it->label];
    snprintf(out, n, "%s %s", strchr("aeiou", name[0]) ? "an" : "a", name);
}

/* The relation caption names the two largest items, the left / upper one
 * first, along the axis on which their centres are further apart. */
static void check_relation(const uz_scene *s)
{
    int a = -1, b = -1;
    for (int k = 0; k < s->n_items; k++) {
        int area = s->items[k].box[2] * s->items[k].box[3];
        if (a < 0 || area > s->items[a].box[2] * s->items[a].box[3]) {
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
        const uz_scene_item *t = p;
        p = q;
        q = t;
    }
    char first[32], second[32], want[96];
    phrase(p, first, sizeof first);
    phrase(q, second, sizeof second);
    snprintf(want, sizeof want, "%s %s %s", first, horizontal ? "left of" : "above", second);
    ck_assert_str_eq(s->captions[1], want);
}

/* "a, b and c" in centre order along axis (ties: the other axis, then placement). */
static void list_items(const uz_scene *s, int axis, char *out, size_t n)
{
    int order[UZ_SCENE_MAX_ITEMS];
    for (int k = 0; k < s->n_items; k++)
        order[k] = k;
    for (int i = 0; i < s->n_items; i++)
        for (int j = i + 1; j < s->n_items; j++) {
            const uz_scene_item *a = &s->items[order[i]], *b = &s->items[order[j]];
            int ka = centre2(a, axis), kb = centre2(b, axis);
            int la = centre2(a, 1 - axis), lb = centre2(b, 1 - axis);
            if (kb < ka || (kb == ka && (lb < la || (lb == la && order[j] < order[i])))) {
                int t = order[i];
                order[i] = order[j];
                order[j] = t;
            }
        }
    size_t len = 0;
    out[0] = '\0';
    for (int k = 0; k < s->n_items; k++) {
        char item[32];
        phrase(&s->items[order[k]], item, sizeof item);
        len += (size_t)snprintf(out + len, n - len, "%s%s", k == 0 ? "" : k == s->n_items - 1 ? " and " : ", ", item);
    }
}

static void check_scene(const uz_scene *s, int size)
{
    ck_assert_int_ge(s->n_items, 1);
    ck_assert_int_le(s->n_items, UZ_SCENE_MAX_ITEMS);
    ck_assert_int_eq(s->image.width, size);
    ck_assert_int_eq(s->image.height, size);
    ck_assert_int_eq(s->image.channels, 1);
    const uint8_t *px = s->image.pixels;
    for (int k = 0; k < s->n_items; k++) {
        const uz_scene_item *it = &s->items[k];
        const int *b = it->box;
        ck_assert_int_eq(it->label, g_src.labels[it->source]);
        ck_assert(b[2] > 0 && b[3] > 0 && b[0] >= 0 && b[1] >= 0);
        ck_assert(b[0] + b[2] <= size && b[1] + b[3] <= size);
        ck_assert(b[2] <= size / 2 && b[3] <= size / 2); /* no item side beyond size / 2 */
        for (int j = 0; j < k; j++)
            ck_assert_float_le(box_iou(b, s->items[j].box), UZ_SCENE_MAX_IOU);
        /* Tight: every edge row and column of the box has a visible pixel. */
        int top = 0, bottom = 0, left = 0, right = 0;
        for (int x = b[0]; x < b[0] + b[2]; x++) {
            top += px[b[1] * size + x] > UZ_SCENE_THRESHOLD;
            bottom += px[(b[1] + b[3] - 1) * size + x] > UZ_SCENE_THRESHOLD;
        }
        for (int y = b[1]; y < b[1] + b[3]; y++) {
            left += px[y * size + b[0]] > UZ_SCENE_THRESHOLD;
            right += px[y * size + b[0] + b[2] - 1] > UZ_SCENE_THRESHOLD;
        }
        ck_assert(top && bottom && left && right);
    }
    /* Nothing visible outside the boxes (counted: one Check assertion per
     * pixel would cost more than the scene). */
    int visible_outside = 0;
    for (int y = 0; y < size; y++)
        for (int x = 0; x < size; x++) {
            bool inside = false;
            for (int k = 0; k < s->n_items; k++) {
                const int *b = s->items[k].box;
                inside |= x >= b[0] && x < b[0] + b[2] && y >= b[1] && y < b[1] + b[3];
            }
            visible_outside += !inside && px[y * size + x] > UZ_SCENE_THRESHOLD;
        }
    ck_assert_int_eq(visible_outside, 0);
    /* Captions: 0 and 2 name every item and nothing else; 1 states the layout. */
    for (int c = 0; c < 10; c++) {
        bool present = false;
        for (int k = 0; k < s->n_items; k++)
            present |= s->items[k].label == c;
        const char *name = uz_fmnist_caption_names[c];
        ck_assert_msg(mentions(s->captions[0], name) == present, "'%s' vs %s", s->captions[0], name);
        ck_assert_msg(mentions(s->captions[2], name) == present, "'%s' vs %s", s->captions[2], name);
        if (!present)
            ck_assert_msg(!mentions(s->captions[1], name), "'%s' vs %s", s->captions[1], name);
    }
    if (s->n_items == 1) {
        char want[64];
        phrase(&s->items[0], want, sizeof want);
        ck_assert_str_eq(s->captions[0], want);
        ck_assert_msg(strncmp(s->captions[1], want, strlen(want)) == 0 &&
                          (strstr(s->captions[1], " at the ") || strstr(s->captions[1], " on the ") ||
                           strstr(s->captions[1], " in the centre")),
                      "'%s'", s->captions[1]);
        ck_assert_int_eq(strncmp(s->captions[2], "one ", 4), 0);
    } else {
        check_relation(s);
        static const char *const counts[] = {"", "", "two items: ", "three items: ",
                                             "four items: "};
        ck_assert_msg(strncmp(s->captions[2], counts[s->n_items], strlen(counts[s->n_items])) == 0,
                      "'%s'", s->captions[2]);
        /* Caption 0 lists the items left to right, caption 2 top to bottom. */
        char want[UZ_SCENE_CAPTION_LEN];
        list_items(s, 0, want, sizeof want);
        ck_assert_str_eq(s->captions[0], want);
        list_items(s, 1, want, sizeof want);
        ck_assert_str_eq(s->captions[2] + strlen(counts[s->n_items]), want);
    }
}

START_TEST(test_render)
{
    if (skip())
        return;
    int count[UZ_SCENE_MAX_ITEMS + 1] = {0};
    for (int64_t i = 0; i < 200; i++) {
        uz_scene s;
        UZ_CK_OK(uz_scene_render(&g_src, 64, 7, uz_scene_stream(true, i), &s));
        check_scene(&s, 64);
        count[s.n_items]++;
        uz_scene_free(&s);
    }
    for (int k = 1; k <= UZ_SCENE_MAX_ITEMS; k++)
        ck_assert_msg(count[k] >= 20, "%d scenes of 200 have %d items", count[k], k);

    /* Other canvas sizes scale the items. */
    for (int64_t i = 0; i < 20; i++) {
        uz_scene s;
        UZ_CK_OK(uz_scene_render(&g_src, 128, 3, uz_scene_stream(false, i), &s));
        check_scene(&s, 128);
        for (int k = 0; k < s.n_items; k++)
            ck_assert_int_le(s.items[k].box[2], 64);
        uz_scene_free(&s);
        UZ_CK_OK(uz_scene_render(&g_src, UZ_SCENE_MIN_SIZE, 3, uz_scene_stream(false, i), &s));
        check_scene(&s, UZ_SCENE_MIN_SIZE);
        uz_scene_free(&s);
    }

    /* Same (seed, stream): same scene; another seed or split: another. */
    uz_scene a, b, c, d;
    UZ_CK_OK(uz_scene_render(&g_src, 64, 11, uz_scene_stream(true, 5), &a));
    UZ_CK_OK(uz_scene_render(&g_src, 64, 11, uz_scene_stream(true, 5), &b));
    UZ_CK_OK(uz_scene_render(&g_src, 64, 12, uz_scene_stream(true, 5), &c));
    UZ_CK_OK(uz_scene_render(&g_src, 64, 11, uz_scene_stream(false, 5), &d));
    ck_assert_int_eq(memcmp(a.image.pixels, b.image.pixels, 64 * 64), 0);
    ck_assert_int_eq(memcmp(a.items, b.items, sizeof a.items), 0);
    ck_assert_int_eq(memcmp(a.captions, b.captions, sizeof a.captions), 0);
    ck_assert_int_ne(memcmp(a.image.pixels, c.image.pixels, 64 * 64), 0);
    ck_assert_int_ne(memcmp(a.image.pixels, d.image.pixels, 64 * 64), 0);
    uz_scene_free(&a);
    uz_scene_free(&b);
    uz_scene_free(&c);
    uz_scene_free(&d);

    ck_assert_int_eq(uz_scene_render(&g_src, 8, 1, 0, &a), UZ_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "size 8 is not in 16..1024"));
    uz_fmnist empty = {0};
    ck_assert_int_eq(uz_scene_render(&empty, 64, 1, 0, &a), UZ_ERR_ARG);
}
END_TEST

/* Whether two split directories hold byte-identical JSON and images. */
static bool same_output(const char *a, const char *b, int64_t n)
{
    char pa[256], pb[256];
    bool same = true;
    for (int64_t i = -2; i < n && same; i++) {
        const char *rel = i == -2 ? "test/instances.json" : i == -1 ? "test/captions.json" : NULL;
        char img[64];
        if (!rel) {
            snprintf(img, sizeof img, "test/images/%06lld.jpg", (long long)(i + 1));
            rel = img;
        }
        snprintf(pa, sizeof pa, "%s/%s", a, rel);
        snprintf(pb, sizeof pb, "%s/%s", b, rel);
        size_t la, lb;
        char *x, *y;
        UZ_CK_OK(uz_file_read_all(pa, SIZE_MAX, &x, &la));
        UZ_CK_OK(uz_file_read_all(pb, SIZE_MAX, &y, &lb));
        same = la == lb && memcmp(x, y, la) == 0;
        uz_free(x);
        uz_free(y);
    }
    return same;
}

START_TEST(test_write_split)
{
    if (skip())
        return;
    enum { N = 20 };
    char dir[64], dir2[64], dir3[64];
    make_temp(dir, sizeof dir);
    make_temp(dir2, sizeof dir2);
    make_temp(dir3, sizeof dir3);
    int64_t items = -1;
    omp_set_num_threads(2);
    UZ_CK_OK(uz_scenes_write(dir, false, &g_src, N, 42, 64, &items));

    char inst[128], caps[128], root[128];
    snprintf(inst, sizeof inst, "%s/test/instances.json", dir);
    snprintf(caps, sizeof caps, "%s/test/captions.json", dir);
    snprintf(root, sizeof root, "%s/test/images", dir);
    uz_coco c;
    UZ_CK_OK(uz_coco_load(inst, caps, root, &c));
    ck_assert_int_eq(c.n_images, N);
    ck_assert_int_eq(c.n_annotations, items);
    ck_assert_int_eq(c.n_captions, 3 * N);
    ck_assert_int_eq(c.n_categories, 10);
    for (int k = 0; k < 10; k++) {
        ck_assert_int_eq(c.categories[k].id, k + 1);
        ck_assert_str_eq(c.categories[k].name, uz_fmnist_caption_names[k]);
    }
    for (int64_t i = 0; i < N; i++) {
        const uz_coco_image *im = &c.images[i];
        char name[32];
        snprintf(name, sizeof name, "%06lld.jpg", (long long)(i + 1));
        ck_assert_int_eq(im->id, i + 1);
        ck_assert_str_eq(im->file_name, name);
        ck_assert(im->width == 64 && im->height == 64);

        /* The file holds the rendered scene (up to JPEG error) and the JSON its items. */
        uz_scene s;
        UZ_CK_OK(uz_scene_render(&g_src, 64, 42, uz_scene_stream(false, i), &s));
        int64_t na, nc;
        const int64_t *ai = uz_coco_image_annotations(&c, i, &na);
        const int64_t *ci = uz_coco_image_captions(&c, i, &nc);
        ck_assert_int_eq(na, s.n_items);
        ck_assert_int_eq(nc, 3);
        for (int k = 0; k < s.n_items; k++) {
            const uz_coco_annotation *a = &c.annotations[ai[k]];
            ck_assert_int_eq(a->category_id, s.items[k].label + 1);
            for (int j = 0; j < 4; j++)
                ck_assert(a->bbox[j] == (float)s.items[k].box[j]);
            ck_assert(a->area == a->bbox[2] * a->bbox[3]);
            ck_assert_int_eq(a->iscrowd, 0);
        }
        for (int k = 0; k < 3; k++)
            ck_assert_str_eq(c.captions[ci[k]].caption, s.captions[k]);
        char path[192];
        snprintf(path, sizeof path, "%s/%s", root, name);
        uz_image img;
        UZ_CK_OK(uz_image_load(path, 0, &img));
        ck_assert(img.width == 64 && img.height == 64 && img.channels == 1);
        double err = 0;
        for (int p = 0; p < 64 * 64; p++)
            err += abs((int)img.pixels[p] - (int)s.image.pixels[p]);
        ck_assert_msg(err / (64 * 64) < 2.0, "image %lld: mean JPEG error %g", (long long)i,
                      err / (64 * 64));
        uz_image_free(&img);
        uz_scene_free(&s);
    }
    uz_coco_free(&c);

    /* Byte-identical for the same seed, with any thread count; not for another seed. */
    omp_set_num_threads(1);
    UZ_CK_OK(uz_scenes_write(dir2, false, &g_src, N, 42, 64, NULL));
    ck_assert(same_output(dir, dir2, N));
    omp_set_num_threads(2);
    UZ_CK_OK(uz_scenes_write(dir3, false, &g_src, N, 43, 64, NULL));
    ck_assert(!same_output(dir, dir3, 0));
    char img1[128], img3[128];
    snprintf(img1, sizeof img1, "%s/test/images/000001.jpg", dir);
    snprintf(img3, sizeof img3, "%s/test/images/000001.jpg", dir3);
    size_t l1, l3;
    char *x, *y;
    UZ_CK_OK(uz_file_read_all(img1, SIZE_MAX, &x, &l1));
    UZ_CK_OK(uz_file_read_all(img3, SIZE_MAX, &y, &l3));
    ck_assert(l1 != l3 || memcmp(x, y, l1) != 0);
    uz_free(x);
    uz_free(y);

    /* A missing image is named by the reader's image check. */
    char gone[160];
    snprintf(gone, sizeof gone, "%s/000005.jpg", root);
    ck_assert_int_eq(unlink(gone), 0);
    ck_assert_int_eq(uz_coco_load(inst, caps, root, &c), UZ_ERR_IO);
    char want[512];
    snprintf(want, sizeof want, "%s: images[4] '000005.jpg': missing image file %s", inst, gone);
    ck_assert_msg(strstr(uz_error_message(), want) != NULL, "'%s'", uz_error_message());

    /* Errors: a bad size, and a directory that cannot be created. */
    ck_assert_int_eq(uz_scenes_write(dir, true, &g_src, 1, 1, 2000, NULL), UZ_ERR_ARG);
    char blocked[128];
    snprintf(blocked, sizeof blocked, "%s/file", dir);
    FILE *f = fopen(blocked, "w");
    ck_assert_ptr_nonnull(f);
    fclose(f);
    ck_assert_int_eq(uz_scenes_write(blocked, true, &g_src, 1, 1, 64, NULL), UZ_ERR_IO);
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "cannot create directory"));

    remove_tree(dir);
    remove_tree(dir2);
    remove_tree(dir3);
}
END_TEST

Suite *make_suite(void)
{
    Suite *s = suite_create("scenes");
    TCase *tc = tcase_create("scenes");
    tcase_add_unchecked_fixture(tc, load_source, free_source);
    tcase_add_test(tc, test_render);
    tcase_add_test(tc, test_write_split);
    suite_add_tcase(s, tc);
    return s;
}
