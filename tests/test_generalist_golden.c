/* The whole generalist (models/generalist_net.c and generalist_loss.c over
 * the image encoder, text encoder and unified decoder) against its PyTorch
 * twin tests/reference/uzgen/generalist.py, from the file that
 * tests/reference/gen_generalist_golden.py wrote: for a tiny config, dense
 * and MoE, the training loss of each task (classify, detect, caption,
 * retrieve) on a fixed hand-made uz_gen_data batch, and its gradient with
 * respect to every parameter. Weights are not stored: both sides fill them
 * from their names with the same integer hash (fill_param).
 *
 * Gradients are checked through what fits the file: per parameter tensor,
 * P = 4 fixed random projections sum(grad * r_k) (r_k uniform in [-1, 1) from
 * the name hash) and the L2 norm; the whole gradient of every tensor of at
 * most 128 elements (biases, layer norms, logit scales, the <SPE> vector...).
 * A gradient the reference has exactly zero (no path to the loss: the
 * objectness heads in classification, experts no route chose) must be
 * exactly zero here, and so must the padding id's embedding row.
 *
 * Tolerance, per tensor t of a task: every projection, the norm and every
 * stored element within TOL * max(|g_t|, FLOOR * |g|) of the reference, |g_t|
 * the tensor's gradient norm and |g| the whole gradient's (the floor keeps
 * nearly-zero gradients, whose float32 error is set by the larger terms they
 * cancel from, to an absolute scale); the loss within TOL * max(1, |loss|).
 * TOL 1e-4, FLOOR 1e-3. The reference is float64 on the same float32 inputs
 * and weights; unizoo is float32 through ~200 ops (backbone, proposal
 * decoder, attention pools, text encoder, unified decoder, projections,
 * cosine scores, and detection's matched box losses on every prediction
 * set). Measured worst errors: 4.7e-6 of the scale for a gradient (the box
 * encoding's weight in detection; 20x inside TOL), 4.6e-7 relative for a
 * loss. A wrong mask, part order, MoE attribute, match, normalisation or
 * weight errs by O(1e-2) relative or more in the loss or some tensor's
 * gradient (checked by breaking the reference: background weight 0.2,
 * retrieval texts routed as inputs, caption queries shifted by one). The
 * generator picks images whose ReLU inputs, top-Q objectness gaps,
 * Hungarian cost gaps and box-loss kinks clear float32 rounding by orders
 * of magnitude, so every discrete choice agrees. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "golden.h"
#include "gradcheck.h"
#include "models/generalist.h"

#define TOL 1e-4
#define FLOOR 1e-3
#define FILE_NAME "generalist.safetensors"

enum {
    P = 4,          /* projections per tensor */
    SMALL = 128,    /* tensors up to this size are stored whole */
    N_DIGITS = 4,
    N_SCENES = 4,
    N_ANN = 6,
    N_CAT = 4,
    N_CAPTIONS = 5,
    N_NAMES = UZ_GEN_CLASSES + 1,
    CLS_SIZE = 32,
    SCENE_SIZE = 48,
    TEXT_LEN = 4,
    CAPTION_LEN = 6,
    VOCAB = 40,
    EOS = 3,
};

static uz_gen_config tiny_config(bool moe)
{
    return (uz_gen_config){.channels = 1, .cls_size = CLS_SIZE, .scene_size = SCENE_SIZE,
                           .width = 32, .heads = 2, .widths = {8, 8, 16, 32},
                           .rpn_layers = 1, .queries = 4, .pools = 1,
                           .text_layers = 1, .decoder_layers = 1, .vocab = VOCAB,
                           .text_len = TEXT_LEN, .caption_len = CAPTION_LEN, .moe = moe,
                           .experts = 4, .top_k = 2, .dropout = 0.0f,
                           .cost_obj = 2.0f, .cost_l1 = 5.0f, .cost_giou = 2.0f,
                           .w_obj = 1.0f, .w_l1 = 5.0f, .w_giou = 2.0f, .bg_weight = 0.1f};
}

/* ---- the generator's hashes ------------------------------------------------------- */

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 14695981039346656037ull;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}

/* ((splitmix64(h + i) >> 40) - 2^23) / 2^23, in [-1, 1). */
static double hash_uniform(uint64_t h, int64_t i)
{
    uint64_t x = h + (uint64_t)i + 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    x ^= x >> 31;
    return (double)((int64_t)(x >> 40) - (1 << 23)) / (double)(1 << 23);
}

static bool ends_with(const char *s, const char *tail)
{
    size_t n = strlen(s), m = strlen(tail);
    return n >= m && strcmp(s + n - m, tail) == 0;
}

/* fill_param of the generator: rank >= 2 v sqrt(3 / fan_in), logit scales
 * log(1/0.07) + 0.1 v, other 1-D weights (layer norms) 1 + 0.1 v, the rest 0.1 v. */
static void fill_param(uz_tensor *t)
{
    uint64_t h = fnv1a(t->name);
    int64_t n = uz_tensor_numel(t), fan_in = t->ndim > 0 ? n / t->shape[0] : 1;
    for (int64_t i = 0; i < n; i++) {
        double v = hash_uniform(h, i);
        if (t->ndim >= 2)
            v *= sqrt(3.0 / (double)fan_in);
        else if (ends_with(t->name, "logit_scale"))
            v = log(1.0 / 0.07) + 0.1 * v;
        else
            v = ends_with(t->name, ".weight") ? 1.0 + 0.1 * v : 0.1 * v;
        t->data[i] = (float)v;
    }
}

/* ---- the golden data as a uz_gen_data ---------------------------------------------- */

typedef struct fixture {
    uz_st_file *f;
    uz_generalist g;
    uz_params *p;
    uz_gen_data d;
    uint8_t digit_px[N_DIGITS * CLS_SIZE * CLS_SIZE], scene_px[N_SCENES * SCENE_SIZE * SCENE_SIZE];
    int32_t labels[N_DIGITS], category_class[N_CAT];
    uz_coco_image images[N_SCENES];
    uz_coco_annotation ann[N_ANN];
    int64_t ann_start[N_SCENES + 1], ann_index[N_ANN];
    int32_t caption_ids[N_CAPTIONS * CAPTION_LEN], class_ids[N_NAMES * TEXT_LEN];
    int64_t caption_lengths[N_CAPTIONS], class_lengths[N_NAMES];
    int64_t caption_image[N_CAPTIONS], image_caption_start[N_SCENES + 1];
} fixture;

static void read_i32(const fixture *fx, const char *name, int ndim, const int64_t *shape,
                     int32_t *dst)
{
    UZ_CK_OK(uz_st_read_i32(fx->f, name, ndim, shape, dst));
}

static void read_u8(const fixture *fx, const char *name, int64_t n, uint8_t *dst)
{
    const uz_st_tensor *t = uz_st_find(fx->f, name);
    ck_assert_msg(t != NULL, "%s", uz_error_message());
    ck_assert_msg(t->dtype == UZ_U8 && t->nbytes == (size_t)n, "%s: expected %lld bytes", name,
                  (long long)n);
    memcpy(dst, t->data, (size_t)n);
}

static int64_t text_length(const int32_t *ids, int64_t len)
{
    int64_t n = 0;
    while (n < len && ids[n] != UZ_TEXT_PAD_ID)
        n++;
    return n;
}

static void load_data(fixture *fx)
{
    read_u8(fx, "digits.images", (int64_t)sizeof fx->digit_px, fx->digit_px);
    read_u8(fx, "scenes.images", (int64_t)sizeof fx->scene_px, fx->scene_px);
    read_i32(fx, "digits.labels", 1, (int64_t[]){N_DIGITS}, fx->labels);
    read_i32(fx, "category_class", 1, (int64_t[]){N_CAT}, fx->category_class);

    int32_t size[N_SCENES * 2], ann_image[N_ANN], ann_cat[N_ANN];
    float bbox[N_ANN * 4];
    read_i32(fx, "coco.image_size", 2, (int64_t[]){N_SCENES, 2}, size);
    read_i32(fx, "coco.image", 1, (int64_t[]){N_ANN}, ann_image);
    read_i32(fx, "coco.category", 1, (int64_t[]){N_ANN}, ann_cat);
    UZ_CK_OK(uz_st_read_f32(fx->f, "coco.bbox", 2, (int64_t[]){N_ANN, 4}, bbox));
    for (int i = 0; i < N_SCENES; i++)
        fx->images[i] = (uz_coco_image){.id = 100 + i, .width = size[2 * i],
                                        .height = size[2 * i + 1]};
    /* The CSR lookup as the reader builds it: each image's annotations in file order. */
    int64_t k = 0;
    for (int i = 0; i < N_SCENES; i++) {
        fx->ann_start[i] = k;
        for (int a = 0; a < N_ANN; a++)
            if (ann_image[a] == i)
                fx->ann_index[k++] = a;
    }
    fx->ann_start[N_SCENES] = k;
    for (int a = 0; a < N_ANN; a++) {
        fx->ann[a] = (uz_coco_annotation){.id = a + 1, .image_id = 100 + ann_image[a],
                                          .category_id = ann_cat[a] + 1,
                                          .area = bbox[4 * a + 2] * bbox[4 * a + 3],
                                          .image = ann_image[a], .category = ann_cat[a]};
        memcpy(fx->ann[a].bbox, bbox + 4 * a, sizeof fx->ann[a].bbox);
    }

    int32_t cap_image[N_CAPTIONS];
    read_i32(fx, "captions.ids", 2, (int64_t[]){N_CAPTIONS, CAPTION_LEN}, fx->caption_ids);
    read_i32(fx, "caption_image", 1, (int64_t[]){N_CAPTIONS}, cap_image);
    int64_t c = 0;
    for (int i = 0; i < N_SCENES; i++) {
        fx->image_caption_start[i] = c;
        while (c < N_CAPTIONS && cap_image[c] == i)
            c++;
    }
    fx->image_caption_start[N_SCENES] = c;
    ck_assert_int_eq(c, N_CAPTIONS); /* captions grouped by image */
    for (int i = 0; i < N_CAPTIONS; i++) {
        fx->caption_image[i] = cap_image[i];
        fx->caption_lengths[i] = text_length(fx->caption_ids + i * CAPTION_LEN, CAPTION_LEN);
        ck_assert_int_eq(fx->caption_ids[i * CAPTION_LEN + fx->caption_lengths[i] - 1], EOS);
    }
    read_i32(fx, "classes.ids", 2, (int64_t[]){N_NAMES, TEXT_LEN}, fx->class_ids);
    for (int i = 0; i < N_NAMES; i++)
        fx->class_lengths[i] = text_length(fx->class_ids + i * TEXT_LEN, TEXT_LEN);

    uz_gen_scenes *sc = &fx->d.scenes[0];
    fx->d.digits[0] = (uz_gen_digits){
        .images = {.n = N_DIGITS, .channels = 1, .size = CLS_SIZE, .pixels = fx->digit_px},
        .labels = fx->labels};
    sc->images = (uz_gen_images){.n = N_SCENES, .channels = 1, .size = SCENE_SIZE,
                                 .pixels = fx->scene_px};
    sc->coco = (uz_coco){.images = fx->images, .n_images = N_SCENES,
                         .annotations = fx->ann, .n_annotations = N_ANN,
                         .n_categories = N_CAT, .ann_start = fx->ann_start,
                         .ann_index = fx->ann_index};
    sc->captions = (uz_gen_texts){.n = N_CAPTIONS, .len = CAPTION_LEN, .ids = fx->caption_ids,
                                  .lengths = fx->caption_lengths};
    sc->caption_image = fx->caption_image;
    sc->image_caption_start = fx->image_caption_start;
    fx->d.category_class[0] = fx->category_class;
}

/* The model of a run with the hashed weights, and the text side by hand:
 * class names from the file, the vocabulary as the caption candidates. */
static void setup(fixture *fx, bool moe)
{
    memset(fx, 0, sizeof *fx);
    fx->f = uz_golden_open(FILE_NAME);
    ck_assert_msg(fx->f != NULL, "%s", uz_error_message());
    load_data(fx);
    fx->p = uz_params_new();
    uz_gen_config cfg = tiny_config(moe);
    UZ_CK_OK(uz_gen_declare(&fx->g, fx->p, &cfg, 1));
    for (int i = 0; i < uz_params_count(fx->p); i++)
        fill_param(uz_params_at(fx->p, i));
    fx->g.classes = (uz_gen_texts){.n = N_NAMES, .len = TEXT_LEN, .ids = fx->class_ids,
                                   .lengths = fx->class_lengths};
    fx->g.n_pieces = VOCAB;
    fx->g.eos_id = EOS;
    fx->g.banned[0] = 0; /* pad, unk, bos */
    fx->g.banned[1] = 1;
    fx->g.banned[2] = 2;
    fx->g.n_banned = 3;
}

static void teardown(fixture *fx)
{
    uz_params_free(fx->p);
    uz_st_close(fx->f);
}

/* ---- comparison ----------------------------------------------------------------------- */

static int by_name(const void *a, const void *b)
{
    return strcmp((*(uz_tensor *const *)a)->name, (*(uz_tensor *const *)b)->name);
}

/* Reference tensor `name`, [rows, cols] (cols > 0) or [rows] (cols 0). */
static float *ref_f32(const fixture *fx, const char *name, int64_t rows, int64_t cols)
{
    float *v = malloc(sizeof(float) * (size_t)(rows * (cols > 0 ? cols : 1) + 1));
    ck_assert_ptr_nonnull(v);
    UZ_CK_OK(uz_st_read_f32(fx->f, name, cols > 0 ? 2 : 1, (int64_t[]){rows, cols}, v));
    return v;
}

static void check_task(bool moe, uz_gen_task task)
{
    const char *run = moe ? "moe" : "dense", *tname = uz_gen_task_names[task];
    fixture *fx = malloc(sizeof *fx);
    ck_assert_ptr_nonnull(fx);
    setup(fx, moe);
    char name[128];

    snprintf(name, sizeof name, "batch.%s", tname);
    const uz_st_tensor *bt = uz_st_find(fx->f, name);
    ck_assert_msg(bt != NULL, "%s", uz_error_message());
    int64_t n = bt->shape[0];
    int32_t idx32[8];
    int64_t idx[8];
    ck_assert_int_le(n, 8);
    read_i32(fx, name, 1, (int64_t[]){n}, idx32);
    for (int64_t i = 0; i < n; i++)
        idx[i] = idx32[i];

    uz_ctx *ctx = uz_ctx_new(0, 0);
    uz_params_zero_grad(fx->p);
    uz_tensor *loss = uz_gen_loss(ctx, &fx->g, &fx->d, task, idx, n);
    ck_assert_msg(loss != NULL, "%s %s: %s", run, tname, uz_error_message());
    UZ_CK_OK(uz_backward(ctx, loss));
    float want_loss;
    snprintf(name, sizeof name, "%s.%s.loss", run, tname);
    UZ_CK_OK(uz_st_read_f32(fx->f, name, 1, (int64_t[]){1}, &want_loss));
    double err = fabs((double)loss->data[0] - want_loss);
    ck_assert_msg(err <= TOL * fmax(1.0, fabs(want_loss)), "%s %s: loss %.7g, reference %.7g",
                  run, tname, (double)loss->data[0], (double)want_loss);

    /* The parameters in the generator's (byte) order of names. */
    int np = uz_params_count(fx->p);
    uz_tensor **ts = malloc(sizeof *ts * (size_t)np);
    int32_t *numel = malloc(sizeof *numel * (size_t)np);
    ck_assert(ts && numel);
    for (int i = 0; i < np; i++)
        ts[i] = uz_params_at(fx->p, i);
    qsort(ts, (size_t)np, sizeof *ts, by_name);
    snprintf(name, sizeof name, "%s.numel", run);
    read_i32(fx, name, 1, (int64_t[]){np}, numel);
    for (int i = 0; i < np; i++)
        ck_assert_msg(numel[i] == uz_tensor_numel(ts[i]), "%s: %d elements, reference %d",
                      ts[i]->name, (int)uz_tensor_numel(ts[i]), (int)numel[i]);

    const uz_tensor *emb = fx->g.text.token_emb;
    for (int64_t j = 0; j < emb->shape[1]; j++)
        ck_assert_float_eq(emb->grad->data[UZ_TEXT_PAD_ID * emb->shape[1] + j], 0.0f);

    snprintf(name, sizeof name, "%s.%s.grad_proj", run, tname);
    float *proj = ref_f32(fx, name, np, P + 1);
    double total = 0.0;
    int64_t n_small = 0;
    for (int i = 0; i < np; i++) {
        total += (double)proj[i * (P + 1) + P] * proj[i * (P + 1) + P];
        n_small += numel[i] <= SMALL ? numel[i] : 0;
    }
    total = sqrt(total);
    snprintf(name, sizeof name, "%s.%s.grad_small", run, tname);
    float *small = ref_f32(fx, name, n_small, 0);

    int64_t s0 = 0;
    for (int i = 0; i < np; i++) {
        const uz_tensor *t = ts[i];
        const float *g = t->grad->data, *want = proj + i * (P + 1);
        int64_t m = uz_tensor_numel(t);
        double scale = fmax((double)want[P], FLOOR * total);
        double got[P + 1] = {0};
        for (int k = 0; k < P; k++) {
            char pname[300];
            snprintf(pname, sizeof pname, "proj%d:%s", k, t->name);
            uint64_t h = fnv1a(pname);
            for (int64_t j = 0; j < m; j++)
                got[k] += hash_uniform(h, j) * (double)g[j];
        }
        for (int64_t j = 0; j < m; j++)
            got[P] += (double)g[j] * g[j];
        got[P] = sqrt(got[P]);
        if (want[P] == 0.0f) {
            for (int64_t j = 0; j < m; j++)
                ck_assert_msg(g[j] == 0.0f, "%s %s: %s.grad[%lld] = %g, reference exactly 0",
                              run, tname, t->name, (long long)j, (double)g[j]);
        }
        for (int k = 0; k <= P; k++) {
            double e = fabs(got[k] - (double)want[k]) / scale;
            ck_assert_msg(e <= TOL, "%s %s: %s.grad %s %.7g, reference %.7g (scale %.3g)", run,
                          tname, t->name, k < P ? "projection" : "norm", got[k],
                          (double)want[k], scale);
        }
        if (m <= SMALL) {
            for (int64_t j = 0; j < m; j++) {
                double e = fabs((double)g[j] - small[s0 + j]) / scale;
                ck_assert_msg(e <= TOL, "%s %s: %s.grad[%lld] %.7g, reference %.7g (scale %.3g)",
                              run, tname, t->name, (long long)j, (double)g[j],
                              (double)small[s0 + j], scale);
            }
            s0 += m;
        }
    }
    free(small);
    free(proj);
    free(numel);
    free(ts);
    uz_ctx_free(ctx);
    teardown(fx);
    free(fx);
}

START_TEST(test_golden)
{
    check_task(_i >= UZ_GEN_TASKS, (uz_gen_task)(_i % UZ_GEN_TASKS));
}
END_TEST

START_TEST(test_unknown_task)
{
    fixture *fx = malloc(sizeof *fx);
    ck_assert_ptr_nonnull(fx);
    setup(fx, false);
    uz_ctx *ctx = uz_ctx_new(0, 0);
    ck_assert_ptr_null(uz_gen_loss(ctx, &fx->g, &fx->d, UZ_GEN_TASKS, (int64_t[]){0}, 1));
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "unknown task 4"));
    uz_ctx_free(ctx);
    teardown(fx);
    free(fx);
}
END_TEST

Suite *make_suite(void)
{
    Suite *s = suite_create("generalist_golden");
    TCase *tc = tcase_create("golden");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, test_golden, 0, 2 * UZ_GEN_TASKS);
    tcase_add_test(tc, test_unknown_task);
    suite_add_tcase(s, tc);
    return s;
}

#include "check_main.h"
