/* `unizoo infer` end to end (UZ_CLI names the binary; skipped when Debian's
 * Fashion-MNIST is absent): a tiny generalist trained for 2 steps on a
 * 12-scene set serves the four tasks; each answers one JSON object of the
 * right shape per image (ranked, top-k, threshold, beam); detection boxes
 * are in the original image's pixels (an image upscaled 2 x 3 by pixel
 * repetition, which the model sees exactly as the original, gives the same
 * boxes scaled); a list runs in batches with the results of single runs and
 * draws decodable PNGs under unique names; bad inputs (corrupt, truncated or
 * missing images, a bad list line, retrieval without texts, an unknown
 * task, a task the checkpoint was not trained for, a missing tokenizer)
 * fail with one line and a non-zero exit. */
#include <check.h>
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check_main.h"
#include "datasets/datasets.h"
#include "gradcheck.h"
#include "subprocess.h"
#include "vision/image.h"

enum { QUERIES = 4 };

static char g_dir[64], g_run[128], g_img[160], g_img2[160];
static bool g_skip, g_ready;
static char g_setup_log[4096];

/* Runs a setup command; false with the output kept for the report. */
static bool setup_step(const char *const *args)
{
    char *out, *err;
    int rc = uz_test_run_cli(args, &out, &err);
    if (rc != 0)
        snprintf(g_setup_log, sizeof g_setup_log, "`%s %s` exited %d:\n%s%s", args[0], args[1],
                 rc, out, err);
    free(out);
    free(err);
    return rc == 0;
}

/* Once for the suite (in the runner's process): scenes, tokenizer, and a
 * tiny generalist trained for 2 steps. */
static void setup(void)
{
    if (access(UZ_FMNIST_DEFAULT_DIR "/train-images-idx3-ubyte.gz", R_OK) != 0) {
        g_skip = true;
        return;
    }
    if (!uz_test_cli()) {
        snprintf(g_setup_log, sizeof g_setup_log, "UZ_CLI (the unizoo binary) is not set");
        return;
    }
    snprintf(g_dir, sizeof g_dir, "/tmp/uz_gencli_XXXXXX");
    if (!mkdtemp(g_dir)) {
        snprintf(g_setup_log, sizeof g_setup_log, "mkdtemp failed");
        return;
    }
    char sc[128], tok[160], caps[160], set_sc[200], set_tok[200];
    snprintf(sc, sizeof sc, "%s/sc", g_dir);
    snprintf(tok, sizeof tok, "%s/tokenizer", sc);
    snprintf(caps, sizeof caps, "%s/train/captions.json", sc);
    snprintf(g_run, sizeof g_run, "%s/run", g_dir);
    snprintf(g_img, sizeof g_img, "%s/test/images/000001.jpg", sc);
    snprintf(g_img2, sizeof g_img2, "%s/test/images/000002.jpg", sc);
    snprintf(set_sc, sizeof set_sc, "model.scenes=%s", sc);
    snprintf(set_tok, sizeof set_tok, "model.tokenizer=%s.model", tok);
    g_ready =
        setup_step((const char *[]){"data", "scenes", "--out", sc, "--n", "12", "--seed", "3",
                                    NULL}) &&
        setup_step((const char *[]){"text", "train-tokenizer", "--out", tok, "--vocab", "512",
                                    "--captions", caps, "--classes", "fashion-mnist",
                                    "--model-type", "bpe", NULL}) &&
        setup_step((const char *[]){
            "train", "generalist", "--out", g_run, "--progress", "off", "--set", set_sc, "--set",
            set_tok, "--set", "train.steps=2", "--set", "train.batch=4", "--set",
            "model.width=32", "--set", "model.heads=2", "--set", "model.backbone=[8,8,16,32]",
            "--set", "model.queries=4", "--set", "model.rpn_layers=1", "--set",
            "model.text_layers=1", "--set", "model.decoder_layers=1", "--set", "model.pools=1",
            "--set", "model.caption_len=8", "--set", "model.train_limit=32", "--set",
            "model.test_limit=8", "--set", "model.eval_limit=8", "--set",
            "model.pretrain_steps=2", NULL});
}

static void teardown(void)
{
    if (g_dir[0]) {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", g_dir);
    }
}

/* false when the suite is skipped; fails when the setup failed. */
static bool ready(void)
{
    if (g_skip) {
        fprintf(stderr, "skipped: Fashion-MNIST is not installed (%s)\n", UZ_FMNIST_DEFAULT_DIR);
        return false;
    }
    ck_assert_msg(g_ready, "setup failed: %s", g_setup_log);
    return true;
}

/* Runs an infer that must succeed; its JSON lines parsed into objs (n of
 * them, at most cap). */
static int infer_ok(const char *const *args, cJSON **objs, int cap)
{
    char *out, *err;
    int rc = uz_test_run_cli(args, &out, &err);
    ck_assert_msg(rc == 0, "exit %d: %s%s", rc, out, err);
    ck_assert_msg(strstr(err, "images/s"), "no summary on stderr: %s", err);
    int n = 0;
    for (char *line = out, *nl; *line; line = nl + 1) {
        ck_assert_msg((nl = strchr(line, '\n')) != NULL, "unterminated line: %s", line);
        *nl = '\0';
        ck_assert_int_lt(n, cap);
        objs[n] = cJSON_Parse(line);
        ck_assert_msg(objs[n] != NULL, "not JSON: %s", line);
        n++;
    }
    free(out);
    free(err);
    return n;
}

static cJSON *infer_one(const char *const *args)
{
    cJSON *o;
    ck_assert_int_eq(infer_ok(args, &o, 1), 1);
    return o;
}

static const cJSON *field(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    ck_assert_msg(v != NULL, "no \"%s\" in %s", key, cJSON_PrintUnformatted(o));
    return v;
}

static double number(const cJSON *o, const char *key)
{
    const cJSON *v = field(o, key);
    ck_assert(cJSON_IsNumber(v));
    return v->valuedouble;
}

static void check_head(const cJSON *o, const char *image, const char *task)
{
    ck_assert_str_eq(field(o, "image")->valuestring, image);
    ck_assert_str_eq(field(o, "task")->valuestring, task);
}

static bool is_class_name(const char *s)
{
    for (int k = 0; k < 10; k++)
        if (strcmp(s, uz_fmnist_caption_names[k]) == 0)
            return true;
    return false;
}

/* An array of n objects with scores in [lo, hi], best first. */
static const cJSON *ranked(const cJSON *o, const char *key, int n, double lo, double hi)
{
    const cJSON *a = field(o, key);
    ck_assert(cJSON_IsArray(a));
    ck_assert_int_eq(cJSON_GetArraySize(a), n);
    double prev = INFINITY;
    const cJSON *e;
    cJSON_ArrayForEach(e, a)
    {
        double s = number(e, "score");
        ck_assert_msg(s >= lo && s <= hi && s <= prev, "score %g (previous %g)", s, prev);
        prev = s;
    }
    return a;
}

static void check_png(const char *path, int min_w, int min_h)
{
    uz_image img;
    UZ_CK_OK(uz_image_load(path, 0, &img));
    ck_assert_msg(img.width >= min_w && img.height >= min_h, "%s is %dx%d", path, img.width,
                  img.height);
    uz_image_free(&img);
}

START_TEST(each_task_answers_in_json)
{
    if (!ready())
        return;
    char draw[200], texts[200];
    snprintf(draw, sizeof draw, "%s/classify.png", g_dir);
    cJSON *o = infer_one((const char *[]){"infer", "--ckpt", g_run, "--task", "classify",
                                          "--image", g_img, "--topk", "3", "--draw", draw, NULL});
    check_head(o, g_img, "classify");
    const cJSON *e;
    cJSON_ArrayForEach(e, ranked(o, "labels", 3, 0.0, 1.0))
        ck_assert(is_class_name(field(e, "label")->valuestring));
    ck_assert_str_eq(field(o, "draw")->valuestring, draw);
    cJSON_Delete(o);
    check_png(draw, 256, 257); /* the label in a band below the image */

    /* Threshold 0 keeps every proposal; no score reaches 1. */
    snprintf(draw, sizeof draw, "%s/detect.png", g_dir);
    o = infer_one((const char *[]){"infer", "--ckpt", g_run, "--task", "detect", "--image", g_img,
                                   "--threshold", "0", "--draw", draw, NULL});
    check_head(o, g_img, "detect");
    cJSON_ArrayForEach(e, ranked(o, "detections", QUERIES, 0.0, 1.0))
    {
        ck_assert(is_class_name(field(e, "label")->valuestring));
        const cJSON *box = field(e, "box");
        ck_assert_int_eq(cJSON_GetArraySize(box), 4);
        double b[4];
        for (int k = 0; k < 4; k++)
            b[k] = cJSON_GetArrayItem(box, k)->valuedouble;
        ck_assert(b[0] >= 0 && b[1] >= 0 && b[2] >= 0 && b[3] >= 0);
        ck_assert(b[0] + b[2] <= 64.001 && b[1] + b[3] <= 64.001);
    }
    cJSON_Delete(o);
    check_png(draw, 256, 256);
    o = infer_one((const char *[]){"infer", "--ckpt", g_run, "--task", "detect", "--image", g_img,
                                   "--threshold", "1", NULL});
    ranked(o, "detections", 0, 0.0, 1.0);
    cJSON_Delete(o);

    for (int beam = 1; beam <= 2; beam++) {
        o = infer_one((const char *[]){"infer", "--ckpt", g_run, "--task", "caption", "--image",
                                       g_img, "--beam", beam == 1 ? "1" : "2", NULL});
        check_head(o, g_img, "caption");
        ck_assert(cJSON_IsString(field(o, "caption")));
        cJSON_Delete(o);
    }

    snprintf(texts, sizeof texts, "%s/texts.txt", g_dir);
    FILE *f = fopen(texts, "w");
    fputs("a shirt above a bag\n\na sandal\n", f);
    fclose(f);
    static const char *const all[] = {"a bag", "a sneaker left of a coat", "a shirt above a bag",
                                      "a sandal"};
    for (int topk = 2; topk <= 4; topk += 2) {
        char k[8];
        snprintf(k, sizeof k, "%d", topk);
        o = infer_one((const char *[]){"infer", "--ckpt", g_run, "--task", "retrieve", "--image",
                                       g_img, "--text", all[0], "--text", all[1], "--texts", texts,
                                       "--topk", k, NULL});
        check_head(o, g_img, "retrieve");
        cJSON_ArrayForEach(e, ranked(o, "texts", topk, -1.0001, 1.0001))
        {
            bool known = false;
            for (int i = 0; i < 4; i++)
                known = known || strcmp(field(e, "text")->valuestring, all[i]) == 0;
            ck_assert_msg(known, "unknown text %s", field(e, "text")->valuestring);
        }
        cJSON_Delete(o);
    }
}
END_TEST

/* Upscaling by pixel repetition, 2 x across and 3 x down: the bilinear
 * resize back to 64 x 64 samples exactly the original pixels, so the model
 * sees the same input and only the pixel scale of the boxes changes. */
START_TEST(boxes_are_in_the_original_pixels)
{
    if (!ready())
        return;
    uz_image in, big;
    UZ_CK_OK(uz_image_load(g_img, 1, &in));
    UZ_CK_OK(uz_image_alloc(&big, 2 * in.width, 3 * in.height, 1));
    for (int y = 0; y < big.height; y++)
        for (int x = 0; x < big.width; x++)
            big.pixels[y * big.width + x] = in.pixels[(y / 3) * in.width + x / 2];
    char path[200];
    snprintf(path, sizeof path, "%s/big.png", g_dir);
    UZ_CK_OK(uz_image_save(path, &big, 95));
    uz_image_free(&in);
    uz_image_free(&big);
    cJSON *a = infer_one((const char *[]){"infer", "--ckpt", g_run, "--task", "detect",
                                          "--image", g_img, "--threshold", "0", NULL});
    cJSON *b = infer_one((const char *[]){"infer", "--ckpt", g_run, "--task", "detect",
                                          "--image", path, "--threshold", "0", NULL});
    const cJSON *da = ranked(a, "detections", QUERIES, 0.0, 1.0);
    const cJSON *db = ranked(b, "detections", QUERIES, 0.0, 1.0);
    static const double scale[4] = {2, 3, 2, 3};
    for (int i = 0; i < QUERIES; i++) {
        const cJSON *ea = cJSON_GetArrayItem(da, i), *eb = cJSON_GetArrayItem(db, i);
        ck_assert_str_eq(field(ea, "label")->valuestring, field(eb, "label")->valuestring);
        ck_assert_double_eq_tol(number(ea, "score"), number(eb, "score"), 1e-5);
        for (int k = 0; k < 4; k++) {
            double va = cJSON_GetArrayItem(field(ea, "box"), k)->valuedouble;
            double vb = cJSON_GetArrayItem(field(eb, "box"), k)->valuedouble;
            /* Boxes are printed to 0.01 px. */
            ck_assert_double_eq_tol(vb, scale[k] * va, 0.005 * (1 + scale[k]) + 1e-9);
        }
    }
    cJSON_Delete(a);
    cJSON_Delete(b);
}
END_TEST

START_TEST(lists_run_in_batches_and_draw)
{
    if (!ready())
        return;
    /* The third entry repeats the first one's file name from another folder. */
    char sub[200], copy[240], list[200], dir[200], cmd[1024];
    snprintf(sub, sizeof sub, "%s/b", g_dir);
    snprintf(copy, sizeof copy, "%s/000001.jpg", sub);
    snprintf(cmd, sizeof cmd, "mkdir -p '%s' && cp '%s' '%s'", sub, g_img, copy);
    ck_assert_int_eq(system(cmd), 0);
    snprintf(list, sizeof list, "%s/list.txt", g_dir);
    FILE *f = fopen(list, "w");
    fprintf(f, "%s\n\n%s\r\n%s  \n", g_img, g_img2, copy);
    fclose(f);
    const char *images[3] = {g_img, g_img2, copy};
    static const char *const tasks[] = {"classify", "detect", "caption"};
    for (int t = 0; t < 3; t++) {
        snprintf(dir, sizeof dir, "%s/drawn-%s", g_dir, tasks[t]);
        cJSON *o[4];
        int n = infer_ok((const char *[]){"infer", "--ckpt", g_run, "--task", tasks[t], "--list",
                                          list, "--batch", "2", "--draw-dir", dir, NULL},
                         o, 4);
        ck_assert_int_eq(n, 3);
        for (int i = 0; i < 3; i++) {
            check_head(o[i], images[i], tasks[t]);
            char want[300];
            if (i < 2)
                snprintf(want, sizeof want, "%s/%s.png", dir, i == 0 ? "000001" : "000002");
            else
                snprintf(want, sizeof want, "%s/000001-4.png", dir); /* list line 4 */
            ck_assert_str_eq(field(o[i], "draw")->valuestring, want);
            check_png(want, 256, 256);
        }
        /* Batched results equal the single-image runs. */
        for (int i = 0; t == 0 && i < 3; i++) {
            cJSON *one = infer_one((const char *[]){"infer", "--ckpt", g_run, "--task",
                                                    "classify", "--image", images[i], NULL});
            const cJSON *la = field(o[i], "labels"), *lb = field(one, "labels");
            ck_assert_int_eq(cJSON_GetArraySize(la), 5);
            for (int k = 0; k < 5; k++) {
                const cJSON *ea = cJSON_GetArrayItem(la, k), *eb = cJSON_GetArrayItem(lb, k);
                ck_assert_double_eq_tol(number(ea, "score"), number(eb, "score"), 1e-4);
            }
            cJSON_Delete(one);
        }
        for (int i = 0; i < n; i++)
            cJSON_Delete(o[i]);
    }
}
END_TEST

/* A failing infer: exit code rc, nothing on stdout, one line on stderr
 * holding want. */
static void fails(const char *const *args, int rc, const char *want)
{
    char *out, *err;
    int got = uz_test_run_cli(args, &out, &err);
    ck_assert_msg(got == rc, "exit %d, want %d: %s%s", got, rc, out, err);
    ck_assert_msg(strstr(err, want) != NULL, "want '%s' in: %s", want, err);
    ck_assert_msg(strchr(err, '\n') == err + strlen(err) - 1, "not one line: %s", err);
    ck_assert_msg(out[0] == '\0', "stdout: %s", out);
    free(out);
    free(err);
}

START_TEST(bad_inputs_fail_with_one_line)
{
    if (!ready())
        return;
    char bad[200], trunc[200], missing[200], list[200], tok[240];
    snprintf(bad, sizeof bad, "%s/bad.png", g_dir);
    FILE *f = fopen(bad, "w");
    fputs("not an image at all", f);
    fclose(f);
    snprintf(trunc, sizeof trunc, "%s/trunc.jpg", g_dir);
    char *jpeg = uz_test_slurp(g_img);
    f = fopen(trunc, "wb");
    fwrite(jpeg, 1, 300, f);
    fclose(f);
    free(jpeg);
    snprintf(missing, sizeof missing, "%s/nope.jpg", g_dir);
    const char *paths[] = {bad, trunc, missing};
    for (int i = 0; i < 3; i++)
        fails((const char *[]){"infer", "--ckpt", g_run, "--task", "classify", "--image",
                               paths[i], NULL},
              1, paths[i]);

    snprintf(list, sizeof list, "%s/bad-list.txt", g_dir);
    f = fopen(list, "w");
    fprintf(f, "%s\n%s\n", g_img, trunc);
    fclose(f);
    char where[512];
    snprintf(where, sizeof where, "%s:2: %s", list, trunc);
    fails((const char *[]){"infer", "--ckpt", g_run, "--task", "detect", "--list", list,
                           "--batch", "4", NULL},
          1, where);

    fails((const char *[]){"infer", "--ckpt", g_run, "--task", "retrieve", "--image", g_img,
                           NULL},
          2, "--task retrieve needs texts to rank");
    fails((const char *[]){"infer", "--ckpt", g_run, "--task", "segment", "--image", g_img, NULL},
          2, "--task 'segment' is not classify, detect, caption or retrieve");
    fails((const char *[]){"infer", "--ckpt", g_run, "--task", "caption", "--list", list,
                           "--draw", "x.png", NULL},
          2, "with --list use --draw-dir");
    fails((const char *[]){"infer", "--ckpt", g_run, "--task", "detect", "--image", g_img,
                           "--set", "model.tasks=[\"classify\"]", NULL},
          2, "the checkpoint was not trained for detect (its tasks: classify)");
    snprintf(tok, sizeof tok, "model.tokenizer=%s/none.model", g_dir);
    fails((const char *[]){"infer", "--ckpt", g_run, "--task", "caption", "--image", g_img,
                           "--set", tok, NULL},
          2, "none.model' is not readable");
    fails((const char *[]){"infer", "--ckpt", missing, "--task", "caption", "--image", g_img,
                           NULL},
          2, "nope.jpg");

    /* Another tokenizer over the same texts: its ids mean other pieces. */
    char other[200], caps[200];
    snprintf(other, sizeof other, "%s/other", g_dir);
    snprintf(caps, sizeof caps, "%s/sc/train/captions.json", g_dir);
    char *out = NULL, *err = NULL;
    ck_assert_int_eq(uz_test_run_cli((const char *[]){"text", "train-tokenizer", "--out", other,
                                              "--vocab", "512", "--captions", caps, "--classes",
                                              "fashion-mnist", "--model-type", "unigram", NULL},
                             &out, &err),
                     0);
    free(out);
    free(err);
    snprintf(tok, sizeof tok, "model.tokenizer=%s.model", other);
    fails((const char *[]){"infer", "--ckpt", g_run, "--task", "caption", "--image", g_img,
                           "--set", tok, NULL},
          2, "is not the tokenizer the checkpoint was trained with");
}
END_TEST

Suite *make_suite(void)
{
    Suite *s = suite_create("generalist_cli");
    TCase *tc = tcase_create("infer");
    tcase_set_timeout(tc, 300);
    tcase_add_unchecked_fixture(tc, setup, teardown);
    tcase_add_test(tc, each_task_answers_in_json);
    tcase_add_test(tc, boxes_are_in_the_original_pixels);
    tcase_add_test(tc, lists_run_in_batches_and_draw);
    tcase_add_test(tc, bad_inputs_fail_with_one_line);
    suite_add_tcase(s, tc);
    return s;
}
