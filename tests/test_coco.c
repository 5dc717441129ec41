/* COCO reader and writer: a hand-written instances + captions pair read
 * back field by field with its per-image lookups, every kind of malformed
 * input (each a clean error naming the file and the entry), the image-root
 * check, and writer -> reader round trips with exact, stable text. */
#include <check.h>
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

static char g_dir[64];
static char g_inst[128], g_caps[128];

static void setup(void)
{
    snprintf(g_dir, sizeof g_dir, "/tmp/uz_coco_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(g_dir));
    snprintf(g_inst, sizeof g_inst, "%s/instances.json", g_dir);
    snprintf(g_caps, sizeof g_caps, "%s/captions.json", g_dir);
}

static void teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    ck_assert_int_eq(system(cmd), 0);
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(text, 1, strlen(text), f), strlen(text));
    fclose(f);
}

static char *read_all(const char *path)
{
    char *s;
    size_t n;
    UZ_CK_OK(uz_file_read_all(path, SIZE_MAX, &s, &n));
    return s;
}

static const char *GOOD_INSTANCES =
    "{\n"
    "  \"info\": {\"description\": \"ignored\"},\n"
    "  \"images\": [\n"
    "    {\"id\": 7, \"file_name\": \"a.jpg\", \"width\": 64, \"height\": 48},\n"
    "    {\"id\": 3, \"file_name\": \"b.jpg\", \"width\": 32, \"height\": 32, \"license\": 1},\n"
    "    {\"id\": 9, \"file_name\": \"c.jpg\", \"width\": 10, \"height\": 10}\n"
    "  ],\n"
    "  \"categories\": [{\"id\": 2, \"name\": \"sneaker\", \"supercategory\": \"shoe\"},\n"
    "                 {\"id\": 1, \"name\": \"bag\"}],\n"
    "  \"annotations\": [\n"
    "    {\"id\": 10, \"image_id\": 7, \"category_id\": 2, \"bbox\": [1.5, 2, 10, 20.25],\n"
    "     \"area\": 150.5, \"iscrowd\": 0, \"segmentation\": [[1, 2, 3, 4]]},\n"
    "    {\"id\": 11, \"image_id\": 3, \"category_id\": 1, \"bbox\": [0, 0, 32, 32]},\n"
    "    {\"id\": 12, \"image_id\": 7, \"category_id\": 1, \"bbox\": [-0.5, 40, 64.9, 8.5],\n"
    "     \"iscrowd\": 1}\n"
    "  ]\n"
    "}\n";

static const char *GOOD_CAPTIONS =
    "{\"images\": [{\"id\": 3, \"file_name\": \"b.jpg\", \"width\": 32, \"height\": 32}],\n"
    " \"annotations\": [{\"id\": 1, \"image_id\": 3, \"caption\": \"a bag\"},\n"
    "                 {\"id\": 2, \"image_id\": 7, \"caption\": \"a sneaker above a bag\"},\n"
    "                 {\"id\": 5, \"image_id\": 3, \"caption\": \"one bag \\u00e9\"}]}\n";

START_TEST(test_read_good)
{
    write_text(g_inst, GOOD_INSTANCES);
    write_text(g_caps, GOOD_CAPTIONS);
    uz_coco c;
    UZ_CK_OK(uz_coco_load(g_inst, g_caps, NULL, &c));
    ck_assert_int_eq(c.n_images, 3);
    ck_assert_int_eq(c.n_categories, 2);
    ck_assert_int_eq(c.n_annotations, 3);
    ck_assert_int_eq(c.n_captions, 3);
    ck_assert_int_eq(c.images[0].id, 7);
    ck_assert_str_eq(c.images[1].file_name, "b.jpg");
    ck_assert_int_eq(c.images[0].width, 64);
    ck_assert_int_eq(c.images[0].height, 48);
    ck_assert_str_eq(c.categories[0].name, "sneaker");

    const uz_coco_annotation *a = &c.annotations[0];
    ck_assert_int_eq(a->id, 10);
    ck_assert(a->bbox[0] == 1.5f && a->bbox[1] == 2.0f && a->bbox[2] == 10.0f &&
              a->bbox[3] == 20.25f);
    ck_assert(a->area == 150.5f);
    ck_assert_int_eq(a->image, 0);
    ck_assert_int_eq(a->category, 0);
    /* area defaults to w * h, iscrowd to 0 */
    ck_assert(c.annotations[1].area == 1024.0f);
    ck_assert_int_eq(c.annotations[1].iscrowd, 0);
    ck_assert_int_eq(c.annotations[1].image, 1);
    ck_assert_int_eq(c.annotations[1].category, 1);
    ck_assert_int_eq(c.annotations[2].iscrowd, 1); /* within the border slack */

    ck_assert_int_eq(uz_coco_image_index(&c, 9), 2);
    ck_assert_int_eq(uz_coco_image_index(&c, 8), -1);
    ck_assert_int_eq(uz_coco_category_index(&c, 1), 1);
    ck_assert_int_eq(uz_coco_category_index(&c, 3), -1);

    int64_t n;
    const int64_t *idx = uz_coco_image_annotations(&c, 0, &n);
    ck_assert_int_eq(n, 2);
    ck_assert_int_eq(idx[0], 0);
    ck_assert_int_eq(idx[1], 2);
    idx = uz_coco_image_annotations(&c, 2, &n);
    ck_assert_int_eq(n, 0);
    idx = uz_coco_image_captions(&c, 1, &n);
    ck_assert_int_eq(n, 2);
    ck_assert_str_eq(c.captions[idx[0]].caption, "a bag");
    ck_assert_str_eq(c.captions[idx[1]].caption, "one bag \xc3\xa9");
    idx = uz_coco_image_captions(&c, 0, &n);
    ck_assert_int_eq(n, 1);
    ck_assert_str_eq(c.captions[idx[0]].caption, "a sneaker above a bag");
    uz_coco_free(&c);

    /* Either file alone. */
    UZ_CK_OK(uz_coco_load(g_inst, NULL, NULL, &c));
    ck_assert_int_eq(c.n_captions, 0);
    ck_assert_int_eq(uz_coco_image_captions(&c, 0, &n) != NULL, 1);
    ck_assert_int_eq(n, 0);
    uz_coco_free(&c);
    const char *caps_alone =
        "{\"images\": [{\"id\": 1, \"file_name\": \"x.png\", \"width\": 5, \"height\": 6}],"
        " \"annotations\": [{\"id\": 4, \"image_id\": 1, \"caption\": \"hello\"}]}";
    write_text(g_caps, caps_alone);
    UZ_CK_OK(uz_coco_load(NULL, g_caps, NULL, &c));
    ck_assert_int_eq(c.n_images, 1);
    ck_assert_int_eq(c.n_categories, 0);
    ck_assert_int_eq(c.captions[0].image, 0);
    uz_coco_free(&c);

    ck_assert_int_eq(uz_coco_load(NULL, NULL, NULL, &c), UZ_ERR_ARG);
    char missing[160];
    snprintf(missing, sizeof missing, "%s/nope.json", g_dir);
    ck_assert_int_eq(uz_coco_load(missing, NULL, NULL, &c), UZ_ERR_IO);
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "nope.json: cannot open"));
}
END_TEST

/* One malformed instances file and the message it must produce (after
 * "<path>: "). */
typedef struct bad_case {
    const char *json, *message;
} bad_case;

#define IMG1 "{\"id\": 1, \"file_name\": \"a.jpg\", \"width\": 20, \"height\": 10}"
#define CAT1 "\"categories\": [{\"id\": 1, \"name\": \"bag\"}]"
#define ANN(body) "{\"images\": [" IMG1 "], " CAT1 ", \"annotations\": [" body "]}"
#define GOOD_ANN "{\"id\": 1, \"image_id\": 1, \"category_id\": 1, \"bbox\": [1, 1, 5, 5]}"

static const bad_case BAD_INSTANCES[] = {
    {"{\"images\": [}", "malformed JSON at line 1, column 13 (byte 12)"},
    {"{\n  \"images\": [\n    {\"id\": 1,,}\n  ]\n}", "malformed JSON at line 3, column 15"},
    {"", "malformed JSON at line 1, column 1"},
    {"{\"images\": [], \"categories\": [], \"annotations\": []} x",
     "trailing data after the JSON value at line 1, column 53 (byte 52)"},
    {"[1, 2]", "the top level must be a JSON object"},
    {"{\"categories\": [], \"annotations\": []}", "missing \"images\" array"},
    {"{\"images\": {}, \"categories\": [], \"annotations\": []}", "\"images\" must be an array"},
    {"{\"images\": [], \"annotations\": []}", "missing \"categories\" array"},
    {"{\"images\": [], \"categories\": []}", "missing \"annotations\" array"},
    {"{\"images\": [3], " CAT1 ", \"annotations\": []}", "images[0] must be an object"},
    {"{\"images\": [" IMG1 ", {\"id\": 2, \"width\": 3, \"height\": 3}], " CAT1
     ", \"annotations\": []}",
     "images[1]: missing \"file_name\""},
    {"{\"images\": [{\"id\": 1.5, \"file_name\": \"a.jpg\", \"width\": 20, \"height\": 10}], " CAT1
     ", \"annotations\": []}",
     "images[0]: \"id\" must be an integer"},
    {"{\"images\": [{\"id\": \"1\", \"file_name\": \"a.jpg\", \"width\": 20, \"height\": 10}], " CAT1
     ", \"annotations\": []}",
     "images[0]: \"id\" must be an integer"},
    {"{\"images\": [{\"id\": -4, \"file_name\": \"a.jpg\", \"width\": 20, \"height\": 10}], " CAT1
     ", \"annotations\": []}",
     "images[0]: id -4 is negative"},
    {"{\"images\": [{\"id\": 1, \"file_name\": 5, \"width\": 20, \"height\": 10}], " CAT1
     ", \"annotations\": []}",
     "images[0]: \"file_name\" must be a string"},
    {"{\"images\": [{\"id\": 1, \"file_name\": \"\", \"width\": 20, \"height\": 10}], " CAT1
     ", \"annotations\": []}",
     "images[0]: file_name is empty"},
    {"{\"images\": [{\"id\": 1, \"file_name\": \"a.jpg\", \"width\": 0, \"height\": 10}], " CAT1
     ", \"annotations\": []}",
     "images[0] 'a.jpg': width and height must be positive (got 0 x 10)"},
    {"{\"images\": [{\"id\": 1, \"file_name\": \"a.jpg\", \"width\": 5, \"height\": -2}], " CAT1
     ", \"annotations\": []}",
     "images[0] 'a.jpg': width and height must be positive (got 5 x -2)"},
    {"{\"images\": [{\"id\": 1, \"file_name\": \"a.jpg\", \"width\": 1e12, \"height\": 2}], " CAT1
     ", \"annotations\": []}",
     "images[0]: \"width\" 1000000000000 is out of range"},
    {"{\"images\": [" IMG1 ", " IMG1 "], " CAT1 ", \"annotations\": []}",
     "images[1]: duplicate id 1 (images[0] has it too)"},
    {"{\"images\": [" IMG1 "], \"categories\": [{\"id\": 1}], \"annotations\": []}",
     "categories[0]: missing \"name\""},
    {"{\"images\": [" IMG1 "], \"categories\": [{\"id\": 1, \"name\": \"\"}], \"annotations\": []}",
     "categories[0]: name is empty"},
    {"{\"images\": [" IMG1 "], \"categories\": [{\"id\": 4, \"name\": \"a\"}, {\"id\": 2, "
     "\"name\": \"b\"}, {\"id\": 4, \"name\": \"c\"}], \"annotations\": []}",
     "categories[2]: duplicate id 4 (categories[0] has it too)"},
    {ANN(GOOD_ANN ", {\"id\": 2, \"image_id\": 1, \"category_id\": 1, \"bbox\": [1, 2, 3]}"),
     "annotations[1]: bbox must have 4 numbers"},
    {ANN("{\"id\": 2, \"image_id\": 1, \"category_id\": 1, \"bbox\": [1, 2, 3, \"4\"]}"),
     "annotations[0]: bbox must have 4 numbers"},
    {ANN("{\"id\": 2, \"image_id\": 1, \"category_id\": 1, \"bbox\": {\"x\": 1}}"),
     "annotations[0]: bbox must have 4 numbers"},
    {ANN("{\"id\": 2, \"image_id\": 1, \"category_id\": 1}"), "annotations[0]: missing \"bbox\""},
    {ANN("{\"id\": 2, \"category_id\": 1, \"bbox\": [1, 1, 1, 1]}"),
     "annotations[0]: missing \"image_id\""},
    {ANN("{\"id\": 2, \"image_id\": 5, \"category_id\": 1, \"bbox\": [1, 1, 1, 1]}"),
     "annotations[0]: unknown image_id 5"},
    {ANN("{\"id\": 2, \"image_id\": 1, \"category_id\": 3, \"bbox\": [1, 1, 1, 1]}"),
     "annotations[0]: unknown category_id 3"},
    {ANN("{\"id\": 2, \"image_id\": 1, \"category_id\": 1, \"bbox\": [1, 1, 0, 1]}"),
     "annotations[0]: bbox width and height must be positive (got 0 x 1)"},
    {ANN("{\"id\": 2, \"image_id\": 1, \"category_id\": 1, \"bbox\": [1, 1, 3, -1]}"),
     "annotations[0]: bbox width and height must be positive (got 3 x -1)"},
    {ANN("{\"id\": 2, \"image_id\": 1, \"category_id\": 1, \"bbox\": [15, 1, 7.5, 3]}"),
     "annotations[0]: bbox [15, 1, 7.5, 3] lies outside image 1 'a.jpg' (20 x 10)"},
    {ANN("{\"id\": 2, \"image_id\": 1, \"category_id\": 1, \"bbox\": [-2, 1, 5, 3]}"),
     "annotations[0]: bbox [-2, 1, 5, 3] lies outside image 1"},
    {ANN("{\"id\": 2, \"image_id\": 1, \"category_id\": 1, \"bbox\": [1, 1, 1, 1e39]}"),
     "annotations[0]: bbox must have 4 finite numbers"},
    {ANN("{\"id\": 2, \"image_id\": 1, \"category_id\": 1, \"bbox\": [1, 1, 1, 1], \"area\": -1}"),
     "annotations[0]: area must be >= 0 (got -1)"},
    {ANN("{\"id\": 2, \"image_id\": 1, \"category_id\": 1, \"bbox\": [1, 1, 1, 1], \"area\": "
         "\"big\"}"),
     "annotations[0]: \"area\" must be a number"},
    {ANN("{\"id\": 2, \"image_id\": 1, \"category_id\": 1, \"bbox\": [1, 1, 1, 1], \"iscrowd\": "
         "2}"),
     "annotations[0]: iscrowd must be 0 or 1 (got 2)"},
    {ANN(GOOD_ANN ", " GOOD_ANN), "annotations[1]: duplicate id 1 (annotations[0] has it too)"},
    {ANN("{\"id\": -1, \"image_id\": 1, \"category_id\": 1, \"bbox\": [1, 1, 1, 1]}"),
     "annotations[0]: id -1 is negative"},
    {ANN(GOOD_ANN ", null"), "annotations[1] must be an object"},
};

START_TEST(test_read_bad_instances)
{
    size_t n = sizeof BAD_INSTANCES / sizeof BAD_INSTANCES[0];
    for (size_t i = 0; i < n; i++) {
        write_text(g_inst, BAD_INSTANCES[i].json);
        uz_coco c;
        uz_status st = uz_coco_load(g_inst, NULL, NULL, &c);
        ck_assert_msg(st == UZ_ERR_FORMAT, "case %zu: status %d", i, (int)st);
        ck_assert_ptr_null(c.images); /* nothing left allocated */
        char want[512];
        snprintf(want, sizeof want, "%s: %s", g_inst, BAD_INSTANCES[i].message);
        ck_assert_msg(strstr(uz_error_message(), want) != NULL, "case %zu: '%s' lacks '%s'", i,
                      uz_error_message(), want);
    }
}
END_TEST

#define CAP_IMG "{\"id\": 1, \"file_name\": \"a.jpg\", \"width\": 20, \"height\": 10}"
#define CAPS(body) "{\"images\": [" CAP_IMG "], \"annotations\": [" body "]}"

static const bad_case BAD_CAPTIONS[] = {
    {CAPS("{\"id\": 1, \"image_id\": 1}"), "annotations[0]: missing \"caption\""},
    {CAPS("{\"id\": 1, \"image_id\": 1, \"caption\": \"\"}"), "annotations[0]: caption is empty"},
    {CAPS("{\"id\": 1, \"image_id\": 1, \"caption\": [\"a\"]}"),
     "annotations[0]: \"caption\" must be a string"},
    {CAPS("{\"id\": 1, \"image_id\": 2, \"caption\": \"a\"}"), "annotations[0]: unknown image_id 2"},
    {CAPS("{\"id\": 1, \"image_id\": 1, \"caption\": \"a\"}, {\"id\": 1, \"image_id\": 1, "
          "\"caption\": \"b\"}"),
     "annotations[1]: duplicate id 1 (annotations[0] has it too)"},
    {"{\"images\": [" CAP_IMG "]}", "missing \"annotations\" array"},
};

START_TEST(test_read_bad_captions)
{
    size_t n = sizeof BAD_CAPTIONS / sizeof BAD_CAPTIONS[0];
    for (size_t i = 0; i < n; i++) {
        write_text(g_caps, BAD_CAPTIONS[i].json);
        uz_coco c;
        ck_assert_msg(uz_coco_load(NULL, g_caps, NULL, &c) == UZ_ERR_FORMAT, "case %zu", i);
        char want[512];
        snprintf(want, sizeof want, "%s: %s", g_caps, BAD_CAPTIONS[i].message);
        ck_assert_msg(strstr(uz_error_message(), want) != NULL, "case %zu: '%s' lacks '%s'", i,
                      uz_error_message(), want);
    }

    /* Against an instances file, the captions file's images must be its. */
    write_text(g_inst, ANN(GOOD_ANN));
    uz_coco c;
    write_text(g_caps, "{\"images\": [{\"id\": 1, \"file_name\": \"z.jpg\", \"width\": 20, "
                       "\"height\": 10}], \"annotations\": []}");
    ck_assert_int_eq(uz_coco_load(g_inst, g_caps, NULL, &c), UZ_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "captions.json: images[0]: 'z.jpg' (20 x 10) "
                                                     "differs from the instances file's image 1 "
                                                     "'a.jpg' (20 x 10)"));
    write_text(g_caps, "{\"images\": [{\"id\": 2, \"file_name\": \"a.jpg\", \"width\": 20, "
                       "\"height\": 10}], \"annotations\": []}");
    ck_assert_int_eq(uz_coco_load(g_inst, g_caps, NULL, &c), UZ_ERR_FORMAT);
    ck_assert_ptr_nonnull(
        strstr(uz_error_message(), "captions.json: images[0]: id 2 is not in the instances file"));
    write_text(g_caps, "{\"images\": [], \"annotations\": [{\"id\": 1, \"image_id\": 3, "
                       "\"caption\": \"x\"}]}");
    ck_assert_int_eq(uz_coco_load(g_inst, g_caps, NULL, &c), UZ_ERR_FORMAT);
    ck_assert_ptr_nonnull(
        strstr(uz_error_message(), "captions.json: annotations[0]: unknown image_id 3"));
}
END_TEST

START_TEST(test_image_root)
{
    write_text(g_inst, GOOD_INSTANCES);
    char root[128], path[192];
    snprintf(root, sizeof root, "%s/img", g_dir);
    ck_assert_int_eq(mkdir(root, 0700), 0);
    const char *names[] = {"a.jpg", "c.jpg"};
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s/%s", root, names[i]);
        write_text(path, "x");
    }
    uz_coco c;
    ck_assert_int_eq(uz_coco_load(g_inst, NULL, root, &c), UZ_ERR_IO);
    char want[512];
    snprintf(want, sizeof want, "%s: images[1] 'b.jpg': missing image file %s/b.jpg", g_inst, root);
    ck_assert_msg(strstr(uz_error_message(), want) != NULL, "'%s'", uz_error_message());
    snprintf(path, sizeof path, "%s/b.jpg", root);
    write_text(path, "x");
    UZ_CK_OK(uz_coco_load(g_inst, NULL, root, &c));
    uz_coco_free(&c);
}
END_TEST

START_TEST(test_write_exact_and_round_trip)
{
    uz_coco_image images[] = {{5, "scene one.jpg", 40, 30}, {2, "two\"quoted\".jpg", 8, 8}};
    uz_coco_category cats[] = {{1, "t-shirt"}, {10, "ankle boot"}};
    uz_coco_annotation anns[] = {
        {.id = 1, .image_id = 5, .category_id = 10, .bbox = {0.1f, 2.0f, 12.5f, 1e-5f},
         .area = 0.000125f},
        {.id = 2, .image_id = 2, .category_id = 1, .bbox = {0, 0, 8, 8}, .area = 64, .iscrowd = 1},
        {.id = 3, .image_id = 5, .category_id = 1, .bbox = {1.0f / 3.0f, 3, 4, 5}, .area = 20}};
    uz_coco_caption caps[] = {{1, 5, "a t-shirt left of\nan ankle boot", 0}, {2, 2, "a t-shirt", 0}};
    uz_coco c = {.images = images, .n_images = 2, .categories = cats, .n_categories = 2,
                 .annotations = anns, .n_annotations = 3, .captions = caps, .n_captions = 2};
    UZ_CK_OK(uz_coco_save_instances(g_inst, &c));
    UZ_CK_OK(uz_coco_save_captions(g_caps, &c));

    char *text = read_all(g_inst);
    ck_assert_str_eq(
        text, "{\"images\":[{\"id\":5,\"file_name\":\"scene one.jpg\",\"width\":40,\"height\":30},"
              "{\"id\":2,\"file_name\":\"two\\\"quoted\\\".jpg\",\"width\":8,\"height\":8}],"
              "\"categories\":[{\"id\":1,\"name\":\"t-shirt\"},{\"id\":10,\"name\":\"ankle boot\"}],"
              "\"annotations\":[{\"id\":1,\"image_id\":5,\"category_id\":10,"
              "\"bbox\":[0.1,2,12.5,1e-05],\"area\":0.000125,\"iscrowd\":0},"
              "{\"id\":2,\"image_id\":2,\"category_id\":1,\"bbox\":[0,0,8,8],\"area\":64,"
              "\"iscrowd\":1},"
              "{\"id\":3,\"image_id\":5,\"category_id\":1,\"bbox\":[0.33333334,3,4,5],"
              "\"area\":20,\"iscrowd\":0}]}\n");
    uz_free(text);

    uz_coco r;
    UZ_CK_OK(uz_coco_load(g_inst, g_caps, NULL, &r));
    ck_assert_int_eq(r.n_images, 2);
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(r.images[i].id, images[i].id);
        ck_assert_str_eq(r.images[i].file_name, images[i].file_name);
        ck_assert_int_eq(r.images[i].width, images[i].width);
        ck_assert_int_eq(r.categories[i].id, cats[i].id);
        ck_assert_str_eq(r.categories[i].name, cats[i].name);
        ck_assert_int_eq(r.captions[i].image_id, caps[i].image_id);
        ck_assert_str_eq(r.captions[i].caption, caps[i].caption);
    }
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(r.annotations[i].category_id, anns[i].category_id);
        ck_assert_int_eq(r.annotations[i].iscrowd, anns[i].iscrowd);
        ck_assert(r.annotations[i].area == anns[i].area);
        for (int j = 0; j < 4; j++) /* floats survive exactly */
            ck_assert(r.annotations[i].bbox[j] == anns[i].bbox[j]);
    }

    /* Stable: what was read writes back byte for byte. */
    char *first_i = read_all(g_inst), *first_c = read_all(g_caps);
    UZ_CK_OK(uz_coco_save_instances(g_inst, &r));
    UZ_CK_OK(uz_coco_save_captions(g_caps, &r));
    char *second_i = read_all(g_inst), *second_c = read_all(g_caps);
    ck_assert_str_eq(first_i, second_i);
    ck_assert_str_eq(first_c, second_c);
    ck_assert_ptr_null(strstr(first_c, "categories"));
    uz_free(first_i);
    uz_free(first_c);
    uz_free(second_i);
    uz_free(second_c);
    uz_coco_free(&r);

    /* The writer checks like the reader and leaves the old file alone. */
    anns[2].category_id = 4;
    ck_assert_int_eq(uz_coco_save_instances(g_inst, &c), UZ_ERR_FORMAT);
    char want[256];
    snprintf(want, sizeof want, "%s: annotations[2]: unknown category_id 4", g_inst);
    ck_assert_ptr_nonnull(strstr(uz_error_message(), want));
    anns[2].category_id = 1;
    images[1].width = 0;
    ck_assert_int_eq(uz_coco_save_captions(g_caps, &c), UZ_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "images[1] 'two\"quoted\".jpg': width and "
                                                     "height must be positive"));
    images[1].width = 8;
    UZ_CK_OK(uz_coco_load(g_inst, g_caps, NULL, &r));
    uz_coco_free(&r);
    /* No temporary file stays behind. */
    char cmd[192];
    snprintf(cmd, sizeof cmd, "test $(ls '%s' | wc -l) -eq 2", g_dir);
    ck_assert_int_eq(system(cmd), 0);

    /* An unwritable destination is an I/O error naming it. */
    char bad[192];
    snprintf(bad, sizeof bad, "%s/no/such/dir/instances.json", g_dir);
    ck_assert_int_eq(uz_coco_save_instances(bad, &c), UZ_ERR_IO);
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "cannot create"));

    /* An empty set is a valid file too. */
    uz_coco none = {0};
    UZ_CK_OK(uz_coco_save_instances(g_inst, &none));
    text = read_all(g_inst);
    ck_assert_str_eq(text, "{\"images\":[],\"categories\":[],\"annotations\":[]}\n");
    uz_free(text);
    UZ_CK_OK(uz_coco_load(g_inst, NULL, NULL, &r));
    ck_assert_int_eq(r.n_images, 0);
    uz_coco_free(&r);
}
END_TEST

Suite *make_suite(void)
{
    Suite *s = suite_create("coco");
    TCase *tc = tcase_create("coco");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_read_good);
    tcase_add_test(tc, test_read_bad_instances);
    tcase_add_test(tc, test_read_bad_captions);
    tcase_add_test(tc, test_image_root);
    tcase_add_test(tc, test_write_exact_and_round_trip);
    suite_add_tcase(s, tc);
    return s;
}
