/* The generalist's speed, task by task, at the "generalist" family's
 * default sizes (width 128, 4 heads, backbone 16/32/64/128, 16 queries, 2
 * attention pools, 2 proposal / text / decoder layers, text_len 8,
 * caption_len 16, embedding table 512, the MoE decoder with 4 experts, top
 * 2) with the 225 pieces a scene tokenizer has as the caption candidates,
 * batch 32, digits 32x32 and scenes 64x64.
 *
 * The data is made here, the same for every run: 512 digits and 512 scenes
 * composed by the scene generator (vision/scenes.h, 1 to 4 items with tight
 * boxes, three captions each) from 500 drawn items that stand in for
 * Fashion-MNIST (a textured ellipse, box or trapezoid of random size and
 * ink), and the scene captions cut into pieces a word at a time (a word
 * longer than six letters gives two), so texts are as long as a real
 * tokenizer makes them (~8 pieces with the eos).
 *
 * Inference first (gradients off, weights as initialised): per task REPS
 * calls on one batch after WARMUP untimed ones, uz_gen_classify,
 * uz_gen_detect, uz_gen_caption_beam at beam 1 (greedy, caption_len steps at most) and
 * uz_gen_image_embedding for retrieval. Then training: per task WARMUP +
 * STEPS steps on batches drawn in a shuffled order, each timed whole: the
 * loss (images normalised from bytes inside it), the backward, one AdamW
 * step (PyTorch's defaults, lr 1e-4) and the zeroing of the gradients.
 * One JSON line per task and mode: ms per call (min, median), the least
 * CPU time of a call (all threads), images/s of the minimum, and the first
 * step's loss (a check against PyTorch's, which starts from the same
 * weights: run one task per process for that).
 *
 * --dump DIR writes DIR/data.safetensors (the pools, the class names and
 * every task's batch order) and DIR/params.safetensors (the initial
 * weights) for bench/reference/generalist_torch.py.
 *
 * usage: bench_generalist [--tasks classify,detect,caption,retrieve] [--mode train|infer|both]
 *                         [--steps N] [--reps N] [--warmup W] [--batch B] [--dump DIR]
 * (threads: OMP_NUM_THREADS) */
#include "bench/support/bench_time.h"
#include "core/rng.h"
#include "core/safetensors.h"
#include "models/generalist.h"
#include "train/optim.h"
#include "vision/scenes.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

enum {
    POOL = 512,           /* digits and scenes */
    N_ITEMS = 500,        /* drawn items the scenes compose */
    ITEM = 28,
    CLS_SIZE = 32,
    SCENE_SIZE = 64,
    TEXT_LEN = 8,
    CAPTION_LEN = 16,
    VOCAB = 512,          /* the family's default embedding table */
    PIECES = 225,         /* a scene tokenizer's vocabulary */
    PAD = 0, UNK = 1, BOS = 2, EOS = 3, SPE = 4,
    FIRST_WORD = 5,       /* ids below are special pieces */
    N_NAMES = UZ_GEN_CLASSES + 1,
};

static const uint64_t SEED = 2024;
static const float LR = 1e-4f;

static double peak_rss_mb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_maxrss / 1024.0;
}

static float uniform(uint64_t stream, uint64_t i)
{
    return uz_rng_uniform(SEED, stream, i);
}

/* ---- the data ------------------------------------------------------------------------ */

/* One stand-in item, 28x28 in [0, 1]: a textured ellipse, box or trapezoid. */
static void draw_item(float *px, int64_t k)
{
    uint64_t s = 1000 + (uint64_t)k;
    int shape = (int)(uniform(s, 0) * 3.0f);
    float a = 5.0f + 8.0f * uniform(s, 1), b = 5.0f + 8.0f * uniform(s, 2);
    float cx = 13.5f + 2.0f * (uniform(s, 3) - 0.5f), cy = 13.5f + 2.0f * (uniform(s, 4) - 0.5f);
    float ink = 0.35f + 0.65f * uniform(s, 5);
    for (int y = 0; y < ITEM; y++)
        for (int x = 0; x < ITEM; x++) {
            float u = ((float)x - cx) / a, v = ((float)y - cy) / b;
            bool in = shape == 0   ? u * u + v * v <= 1.0f
                      : shape == 1 ? fabsf(u) <= 1.0f && fabsf(v) <= 1.0f
                                   : fabsf(v) <= 1.0f && fabsf(u) <= 0.6f + 0.4f * v;
            float tex = 0.7f + 0.3f * uniform(s, 16 + (uint64_t)(y * ITEM + x));
            px[y * ITEM + x] = in ? ink * tex : 0.0f;
        }
}

static uint64_t fnv1a(const char *s, size_t n)
{
    uint64_t h = 14695981039346656037ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)s[i]) * 1099511628211ull;
    return h;
}

static int32_t piece(const char *s, size_t n)
{
    return FIRST_WORD + (int32_t)(fnv1a(s, n) % (uint64_t)(PIECES - FIRST_WORD));
}

/* Text -> ids[len], a piece per word (two for a word over six letters),
 * the eos last when asked (replacing the last piece of a text cut short),
 * padded with PAD; returns the length. */
static int64_t tokenize(const char *text, bool eos, int32_t *ids, int64_t len)
{
    int64_t n = 0, room = eos ? len - 1 : len;
    for (const char *p = text; *p && n < room;) {
        while (*p == ' ')
            p++;
        size_t w = strcspn(p, " ");
        if (w == 0)
            break;
        ids[n++] = piece(p, w > 6 ? 6 : w);
        if (w > 6 && n < room)
            ids[n++] = piece(p + 6, w - 6);
        p += w;
    }
    if (eos)
        ids[n++] = EOS;
    for (int64_t i = n; i < len; i++)
        ids[i] = PAD;
    return n;
}

typedef struct bench_data {
    uz_gen_data d;
    uint8_t *digit_px, *scene_px;
    int32_t *labels, category_class[UZ_GEN_CLASSES];
    uz_coco_image *images;
    uz_coco_annotation *ann;
    int64_t *ann_start, *ann_index, n_ann;
    int32_t *cap_ids;
    int64_t *cap_len, *cap_image, *image_cap_start;
    int32_t class_ids[N_NAMES * TEXT_LEN];
    int64_t class_len[N_NAMES];
} bench_data;

static void data_free(bench_data *b)
{
    free(b->digit_px);
    free(b->scene_px);
    free(b->labels);
    free(b->images);
    free(b->ann);
    free(b->ann_start);
    free(b->ann_index);
    free(b->cap_ids);
    free(b->cap_len);
    free(b->cap_image);
    free(b->image_cap_start);
}

static uz_status make_data(bench_data *b)
{
    int64_t n_cap = POOL * UZ_SCENE_CAPTIONS;
    uz_fmnist src = {.n = N_ITEMS};
    src.images = malloc(sizeof(float) * N_ITEMS * ITEM * ITEM);
    src.labels = malloc(sizeof(int32_t) * N_ITEMS);
    b->digit_px = calloc((size_t)POOL * CLS_SIZE * CLS_SIZE, 1);
    b->scene_px = malloc((size_t)POOL * SCENE_SIZE * SCENE_SIZE);
    b->labels = malloc(sizeof(int32_t) * POOL);
    b->images = calloc(POOL, sizeof(uz_coco_image));
    b->ann = calloc((size_t)POOL * UZ_SCENE_MAX_ITEMS, sizeof(uz_coco_annotation));
    b->ann_start = malloc(sizeof(int64_t) * (POOL + 1));
    b->ann_index = malloc(sizeof(int64_t) * POOL * UZ_SCENE_MAX_ITEMS);
    b->cap_ids = malloc(sizeof(int32_t) * (size_t)(n_cap * CAPTION_LEN));
    b->cap_len = malloc(sizeof(int64_t) * (size_t)n_cap);
    b->cap_image = malloc(sizeof(int64_t) * (size_t)n_cap);
    b->image_cap_start = malloc(sizeof(int64_t) * (POOL + 1));
    if (!src.images || !src.labels || !b->digit_px || !b->scene_px || !b->labels || !b->images ||
        !b->ann || !b->ann_start || !b->ann_index || !b->cap_ids || !b->cap_len ||
        !b->cap_image || !b->image_cap_start) {
        free(src.images);
        free(src.labels);
        return UZ_FAIL(UZ_ERR_NOMEM, "bench_generalist: out of memory for the data");
    }
    for (int64_t k = 0; k < N_ITEMS; k++) {
        draw_item(src.images + k * ITEM * ITEM, k);
        src.labels[k] = (int32_t)(uniform(2, (uint64_t)k) * UZ_GEN_CLASSES) % UZ_GEN_CLASSES;
    }
    /* Digits: an item centred on the 32x32 canvas, as Fashion-MNIST's 28x28 is. */
    int off = (CLS_SIZE - ITEM) / 2;
    for (int64_t i = 0; i < POOL; i++) {
        int64_t k = i % N_ITEMS;
        for (int y = 0; y < ITEM; y++)
            for (int x = 0; x < ITEM; x++)
                b->digit_px[i * CLS_SIZE * CLS_SIZE + (y + off) * CLS_SIZE + x + off] =
                    (uint8_t)lrintf(src.images[k * ITEM * ITEM + y * ITEM + x] * 255.0f);
        b->labels[i] = src.labels[k];
    }
    uz_status st = UZ_OK;
    for (int64_t i = 0; i < POOL && st == UZ_OK; i++) {
        uz_scene s;
        if ((st = uz_scene_render(&src, SCENE_SIZE, SEED, uz_scene_stream(true, i), &s)) != UZ_OK)
            break;
        memcpy(b->scene_px + i * SCENE_SIZE * SCENE_SIZE, s.image.pixels,
               SCENE_SIZE * SCENE_SIZE);
        b->images[i] = (uz_coco_image){.id = i + 1, .width = SCENE_SIZE, .height = SCENE_SIZE};
        b->ann_start[i] = b->n_ann;
        for (int k = 0; k < s.n_items; k++) {
            uz_coco_annotation *a = &b->ann[b->n_ann];
            *a = (uz_coco_annotation){.id = b->n_ann + 1, .image_id = i + 1,
                                      .category_id = s.items[k].label + 1, .image = i,
                                      .category = s.items[k].label};
            for (int j = 0; j < 4; j++)
                a->bbox[j] = (float)s.items[k].box[j];
            a->area = a->bbox[2] * a->bbox[3];
            b->ann_index[b->n_ann] = b->n_ann;
            b->n_ann++;
        }
        b->image_cap_start[i] = i * UZ_SCENE_CAPTIONS;
        for (int c = 0; c < UZ_SCENE_CAPTIONS; c++) {
            int64_t r = i * UZ_SCENE_CAPTIONS + c;
            b->cap_len[r] = tokenize(s.captions[c], true, b->cap_ids + r * CAPTION_LEN,
                                     CAPTION_LEN);
            b->cap_image[r] = i;
        }
        uz_scene_free(&s);
    }
    b->ann_start[POOL] = b->n_ann;
    b->image_cap_start[POOL] = n_cap;
    free(src.images);
    free(src.labels);
    if (st != UZ_OK)
        return st;
    for (int k = 0; k < UZ_GEN_CLASSES; k++)
        b->category_class[k] = k;
    for (int k = 0; k < N_NAMES; k++)
        b->class_len[k] = tokenize(k < UZ_GEN_CLASSES ? uz_fmnist_caption_names[k] : "background",
                                   false, b->class_ids + k * TEXT_LEN, TEXT_LEN);

    uz_gen_scenes *sc = &b->d.scenes[0];
    b->d.digits[0] = (uz_gen_digits){
        .images = {.n = POOL, .channels = 1, .size = CLS_SIZE, .pixels = b->digit_px},
        .labels = b->labels};
    sc->images = (uz_gen_images){.n = POOL, .channels = 1, .size = SCENE_SIZE,
                                 .pixels = b->scene_px};
    sc->coco = (uz_coco){.images = b->images, .n_images = POOL, .annotations = b->ann,
                         .n_annotations = b->n_ann, .n_categories = UZ_GEN_CLASSES,
                         .ann_start = b->ann_start, .ann_index = b->ann_index};
    sc->captions = (uz_gen_texts){.n = n_cap, .len = CAPTION_LEN, .ids = b->cap_ids,
                                  .lengths = b->cap_len};
    sc->caption_image = b->cap_image;
    sc->image_caption_start = b->image_cap_start;
    b->d.category_class[0] = b->category_class;
    return UZ_OK;
}

/* The examples a task's batches draw from: digits, scenes or captions. */
static int64_t task_pool(uz_gen_task t)
{
    return t == UZ_GEN_CAPTION ? POOL * UZ_SCENE_CAPTIONS : POOL;
}

/* Batch order of a task: a seeded shuffle of its pool, cycled. */
static void task_order(uz_gen_task t, int64_t *order, int64_t n)
{
    int64_t m = task_pool(t), perm[POOL * UZ_SCENE_CAPTIONS];
    for (int64_t i = 0; i < m; i++)
        perm[i] = i;
    for (int64_t i = m - 1; i > 0; i--) {
        uint32_t r[4];
        uz_philox(SEED, 100 + (uint64_t)t, (uint64_t)i, r);
        int64_t j = (int64_t)((((uint64_t)r[0] << 32) | r[1]) % (uint64_t)(i + 1));
        int64_t x = perm[i];
        perm[i] = perm[j];
        perm[j] = x;
    }
    for (int64_t i = 0; i < n; i++)
        order[i] = perm[i % m];
}

static uz_status dump_data(const char *dir, const bench_data *b, int batch, int total)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/data.safetensors", dir);
    int64_t n_cap = POOL * UZ_SCENE_CAPTIONS, n_order = (int64_t)batch * total;
    float *boxes = malloc(sizeof(float) * (size_t)(4 * b->n_ann + 4));
    int32_t *cls = malloc(sizeof(int32_t) * (size_t)(b->n_ann + 1));
    int32_t *start = malloc(sizeof(int32_t) * (POOL + 1));
    int32_t *cap_len = malloc(sizeof(int32_t) * (size_t)n_cap);
    int32_t *cap_image = malloc(sizeof(int32_t) * (size_t)n_cap);
    int32_t *orders = malloc(sizeof(int32_t) * (size_t)(UZ_GEN_TASKS * n_order));
    int64_t *order = malloc(sizeof(int64_t) * (size_t)n_order);
    uz_status st = UZ_OK;
    if (!boxes || !cls || !start || !cap_len || !cap_image || !orders || !order)
        st = UZ_FAIL(UZ_ERR_NOMEM, "bench_generalist: out of memory for the dump");
    for (int64_t i = 0; i < b->n_ann && st == UZ_OK; i++) {
        /* cxcywh relative to the image, as detection's loss gathers it. */
        const float *bb = b->ann[i].bbox;
        boxes[4 * i] = (bb[0] + 0.5f * bb[2]) / (float)SCENE_SIZE;
        boxes[4 * i + 1] = (bb[1] + 0.5f * bb[3]) / (float)SCENE_SIZE;
        boxes[4 * i + 2] = bb[2] / (float)SCENE_SIZE;
        boxes[4 * i + 3] = bb[3] / (float)SCENE_SIZE;
        cls[i] = b->category_class[b->ann[i].category];
    }
    for (int64_t i = 0; i <= POOL && st == UZ_OK; i++)
        start[i] = (int32_t)b->ann_start[i];
    for (int64_t i = 0; i < n_cap && st == UZ_OK; i++) {
        cap_len[i] = (int32_t)b->cap_len[i];
        cap_image[i] = (int32_t)b->cap_image[i];
    }
    for (int t = 0; t < UZ_GEN_TASKS && st == UZ_OK; t++) {
        task_order((uz_gen_task)t, order, n_order);
        for (int64_t i = 0; i < n_order; i++)
            orders[t * n_order + i] = (int32_t)order[i];
    }
    if (st == UZ_OK) {
        uz_st_entry e[] = {
            {"digits.images", UZ_U8, 4, (int64_t[]){POOL, 1, CLS_SIZE, CLS_SIZE}, b->digit_px},
            {"digits.labels", UZ_I32, 1, (int64_t[]){POOL}, b->labels},
            {"scenes.images", UZ_U8, 4, (int64_t[]){POOL, 1, SCENE_SIZE, SCENE_SIZE},
             b->scene_px},
            {"truth.start", UZ_I32, 1, (int64_t[]){POOL + 1}, start},
            {"truth.boxes", UZ_F32, 2, (int64_t[]){b->n_ann, 4}, boxes},
            {"truth.cls", UZ_I32, 1, (int64_t[]){b->n_ann}, cls},
            {"captions.ids", UZ_I32, 2, (int64_t[]){n_cap, CAPTION_LEN}, b->cap_ids},
            {"captions.lengths", UZ_I32, 1, (int64_t[]){n_cap}, cap_len},
            {"captions.image", UZ_I32, 1, (int64_t[]){n_cap}, cap_image},
            {"classes.ids", UZ_I32, 2, (int64_t[]){N_NAMES, TEXT_LEN}, b->class_ids},
            {"order", UZ_I32, 3, (int64_t[]){UZ_GEN_TASKS, total, batch}, orders},
        };
        char pieces[16], eos[16], banned[32];
        snprintf(pieces, sizeof pieces, "%d", PIECES);
        snprintf(eos, sizeof eos, "%d", EOS);
        snprintf(banned, sizeof banned, "%d,%d,%d,%d", PAD, UNK, BOS, SPE);
        const char *keys[] = {"pieces", "eos", "banned"}, *values[] = {pieces, eos, banned};
        st = uz_st_write(path, e, (int)(sizeof e / sizeof e[0]), keys, values, 3);
    }
    free(boxes);
    free(cls);
    free(start);
    free(cap_len);
    free(cap_image);
    free(orders);
    free(order);
    return st;
}

/* ---- the runs ------------------------------------------------------------------------ */

typedef struct options {
    const char *dump;
    bool tasks[UZ_GEN_TASKS];
    bool train, infer;
    int steps, reps, warmup, batch;
} options;

static bool parse_tasks(const char *list, bool *on)
{
    memset(on, 0, sizeof(bool) * UZ_GEN_TASKS);
    for (const char *p = list; *p;) {
        size_t w = strcspn(p, ",");
        int found = -1;
        for (int t = 0; t < UZ_GEN_TASKS; t++)
            if (strlen(uz_gen_task_names[t]) == w && strncmp(p, uz_gen_task_names[t], w) == 0)
                found = t;
        if (found < 0)
            return false;
        on[found] = true;
        p += w + (p[w] == ',');
    }
    return true;
}

static bool parse(int argc, char **argv, options *o)
{
    *o = (options){.train = true, .infer = true, .steps = 8, .reps = 5, .warmup = 2,
                   .batch = 32};
    parse_tasks("classify,detect,caption,retrieve", o->tasks);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) {
            fprintf(stderr, "bench_generalist: %s needs a value\n", a);
            return false;
        }
        i++;
        if (strcmp(a, "--dump") == 0)
            o->dump = v;
        else if (strcmp(a, "--steps") == 0)
            o->steps = atoi(v);
        else if (strcmp(a, "--reps") == 0)
            o->reps = atoi(v);
        else if (strcmp(a, "--warmup") == 0)
            o->warmup = atoi(v);
        else if (strcmp(a, "--batch") == 0)
            o->batch = atoi(v);
        else if (strcmp(a, "--tasks") == 0) {
            if (!parse_tasks(v, o->tasks)) {
                fprintf(stderr, "bench_generalist: bad --tasks %s\n", v);
                return false;
            }
        } else if (strcmp(a, "--mode") == 0) {
            bool both = strcmp(v, "both") == 0;
            o->train = both || strcmp(v, "train") == 0;
            o->infer = both || strcmp(v, "infer") == 0;
            if (!o->train && !o->infer) {
                fprintf(stderr, "bench_generalist: bad --mode %s\n", v);
                return false;
            }
        } else {
            fprintf(stderr, "bench_generalist: bad argument %s\n", a);
            return false;
        }
    }
    if (o->steps < 1 || o->reps < 1 || o->warmup < 0 || o->batch < 2 || o->batch > POOL) {
        fprintf(stderr, "bench_generalist: need --steps, --reps >= 1, --warmup >= 0 and "
                        "--batch in 2..%d\n", POOL);
        return false;
    }
    return true;
}

/* times[0..n) wall and cpu[0..n) CPU milliseconds of the timed calls. */
static void report(const char *mode, uz_gen_task t, const options *o, double *times, double *cpu,
                   int n, double loss0, int64_t decode_steps)
{
    bench_sort(times, n);
    bench_sort(cpu, n);
    const char *policy = getenv("OMP_WAIT_POLICY");
    char loss[32] = "null";
    if (!isnan(loss0))
        snprintf(loss, sizeof loss, "%.6g", loss0);
    printf("{\"impl\": \"unizoo\", \"mode\": \"%s\", \"task\": \"%s\", \"threads\": %d, "
           "\"wait_policy\": \"%s\", \"batch\": %d, \"runs\": %d, \"ms_min\": %.2f, "
           "\"ms_median\": %.2f, \"cpu_ms_min\": %.2f, \"images_per_s\": %.1f, \"loss0\": %s, "
           "\"decode_steps\": %lld, \"peak_rss_mb\": %.0f}\n",
           mode, uz_gen_task_names[t], omp_get_max_threads(), policy ? policy : "default",
           o->batch, n, times[0], times[n / 2], cpu[0], 1e3 * o->batch / times[0], loss,
           (long long)decode_steps, peak_rss_mb());
    fflush(stdout);
}

/* One inference call of task t on images x: returns the decoding steps of a
 * caption call (its longest caption), 0 otherwise, or -1 on failure. */
static int64_t infer_once(uz_ctx *ctx, const uz_generalist *g, uz_gen_task t, uz_tensor *x,
                          void *out, int64_t *lengths)
{
    int64_t B = x->shape[0]; /* captioning resets the context x lives in */
    uz_status st;
    if (t == UZ_GEN_CLASSIFY)
        st = uz_gen_classify(ctx, g, x, out);
    else if (t == UZ_GEN_DETECT)
        st = uz_gen_detect(ctx, g, x, 1, out);
    else if (t == UZ_GEN_CAPTION) {
        st = uz_gen_caption_beam(ctx, g, x, 1, CAPTION_LEN, out, lengths);
        int64_t longest = 0;
        for (int64_t i = 0; i < B && st == UZ_OK; i++)
            longest = lengths[i] > longest ? lengths[i] : longest;
        return st == UZ_OK ? longest : -1;
    } else {
        uz_image_encoding enc;
        st = uz_gen_image_embedding(ctx, g, UZ_GEN_RETRIEVE, x, false, &enc) ? UZ_OK
                                                                              : uz_error_status();
    }
    return st == UZ_OK ? 0 : -1;
}

static bool run_infer(const options *o, const uz_generalist *g, const bench_data *b,
                      uz_gen_task t, uz_ctx *ctx)
{
    int64_t B = o->batch;
    int64_t *idx = malloc(sizeof(int64_t) * (size_t)B);
    size_t out_bytes = sizeof(uz_gen_detection) * (size_t)(B * g->cfg.queries) +
                       sizeof(float) * (size_t)(B * UZ_GEN_CLASSES) +
                       sizeof(int32_t) * (size_t)(B * CAPTION_LEN);
    void *out = malloc(out_bytes);
    int64_t *lengths = malloc(sizeof(int64_t) * (size_t)B);
    float *pixels = malloc(sizeof(float) * (size_t)(B * SCENE_SIZE * SCENE_SIZE));
    double *times = malloc(sizeof(double) * (size_t)o->reps * 2), *cpu = times + o->reps;
    bool ok = idx && out && lengths && pixels && times;
    if (!ok) {
        fprintf(stderr, "bench_generalist: out of memory\n");
        goto done;
    }
    task_order(t, idx, B);
    for (int64_t i = 0; i < B && t == UZ_GEN_CAPTION; i++)
        idx[i] = b->cap_image[idx[i]];
    const uz_gen_images *im = t == UZ_GEN_CLASSIFY ? &b->d.digits[0].images
                                                   : &b->d.scenes[0].images;
    /* Inference takes normalised images: made once, outside the timing. */
    uz_gen_images_batch(im, idx, B, pixels);
    bool was = uz_grad_enable(ctx, false);
    int64_t steps = 0;
    for (int i = 0; i < o->warmup + o->reps && ok; i++) {
        uz_tensor *x = uz_tensor_wrap(ctx, 4, (int64_t[]){B, im->channels, im->size, im->size},
                                      pixels);
        double t0 = bench_now_ms(), c0 = bench_cpu_ms();
        steps = x ? infer_once(ctx, g, t, x, out, lengths) : -1;
        double t1 = bench_now_ms(), c1 = bench_cpu_ms();
        uz_ctx_reset(ctx);
        ok = steps >= 0;
        if (ok && i >= o->warmup) {
            times[i - o->warmup] = t1 - t0;
            cpu[i - o->warmup] = c1 - c0;
        }
    }
    uz_grad_enable(ctx, was);
    if (ok)
        report("infer", t, o, times, cpu, o->reps, NAN, steps);
    else
        fprintf(stderr, "bench_generalist: infer %s: %s\n", uz_gen_task_names[t],
                uz_error_message());
done:
    free(idx);
    free(out);
    free(lengths);
    free(pixels);
    free(times);
    return ok;
}

static bool run_train(const options *o, const uz_generalist *g, uz_params *p, uz_optim *opt,
                      const bench_data *b, uz_gen_task t, uz_ctx *ctx)
{
    int total = o->warmup + o->steps;
    int64_t *order = malloc(sizeof(int64_t) * (size_t)(total * o->batch));
    double *times = malloc(sizeof(double) * (size_t)o->steps * 2), *cpu = times + o->steps;
    bool ok = order && times;
    if (!ok)
        fprintf(stderr, "bench_generalist: out of memory\n");
    else
        task_order(t, order, (int64_t)total * o->batch);
    double loss0 = NAN;
    for (int i = 0; i < total && ok; i++) {
        double t0 = bench_now_ms(), c0 = bench_cpu_ms();
        uz_tensor *loss = uz_gen_loss(ctx, g, &b->d, t, order + (int64_t)i * o->batch, o->batch);
        ok = loss && uz_backward(ctx, loss) == UZ_OK && uz_optim_step(opt, LR, NULL, NULL) == UZ_OK;
        if (ok && i == 0)
            loss0 = loss->data[0];
        uz_params_zero_grad(p);
        uz_ctx_reset(ctx);
        double t1 = bench_now_ms(), c1 = bench_cpu_ms();
        if (ok && i >= o->warmup) {
            times[i - o->warmup] = t1 - t0;
            cpu[i - o->warmup] = c1 - c0;
        }
    }
    if (ok)
        report("train", t, o, times, cpu, o->steps, loss0, 0);
    else if (order && times)
        fprintf(stderr, "bench_generalist: train %s: %s\n", uz_gen_task_names[t],
                uz_error_message());
    free(order);
    free(times);
    return ok;
}

int main(int argc, char **argv)
{
    options o;
    if (!parse(argc, argv, &o))
        return 2;
    bench_data b = {0};
    if (make_data(&b) != UZ_OK) {
        fprintf(stderr, "bench_generalist: %s\n", uz_error_message());
        data_free(&b);
        return 1;
    }
    uz_gen_config cfg = {.channels = 1, .cls_size = CLS_SIZE, .scene_size = SCENE_SIZE,
                         .width = 128, .heads = 4, .widths = {16, 32, 64, 128},
                         .rpn_layers = 2, .queries = 16, .pools = 2, .text_layers = 2,
                         .decoder_layers = 2, .vocab = VOCAB, .text_len = TEXT_LEN,
                         .caption_len = CAPTION_LEN, .moe = true, .experts = 4, .top_k = 2,
                         .dropout = 0.0f, .cost_obj = 2.0f, .cost_l1 = 5.0f, .cost_giou = 2.0f,
                         .w_obj = 1.0f, .w_l1 = 5.0f, .w_giou = 2.0f, .bg_weight = 0.1f};
    uz_generalist g = {0};
    uz_params *p = uz_params_new();
    uz_optim *opt = NULL;
    uz_optim_config oc = uz_optim_defaults(UZ_OPTIM_ADAMW);
    uz_ctx *ctx = uz_ctx_new(0, 0);
    if (!p || !ctx || uz_gen_declare(&g, p, &cfg, SEED) != UZ_OK ||
        uz_optim_new(&oc, p, &opt) != UZ_OK) {
        fprintf(stderr, "bench_generalist: %s\n", uz_error_message());
        return 1;
    }
    g.classes = (uz_gen_texts){.n = N_NAMES, .len = TEXT_LEN, .ids = b.class_ids,
                               .lengths = b.class_len};
    g.n_pieces = PIECES;
    g.eos_id = EOS;
    g.banned[0] = PAD;
    g.banned[1] = UNK;
    g.banned[2] = BOS;
    g.banned[3] = SPE;
    g.n_banned = 4;
    uz_ctx_set_seed(ctx, SEED);
    if (o.dump) {
        char path[4200];
        snprintf(path, sizeof path, "%s/params.safetensors", o.dump);
        if (dump_data(o.dump, &b, o.batch, o.warmup + o.steps) != UZ_OK ||
            uz_params_save(p, path) != UZ_OK) {
            fprintf(stderr, "bench_generalist: %s\n", uz_error_message());
            return 1;
        }
    }
    bool ok = true;
    for (int t = 0; t < UZ_GEN_TASKS && ok && o.infer; t++)
        if (o.tasks[t])
            ok = run_infer(&o, &g, &b, (uz_gen_task)t, ctx);
    for (int t = 0; t < UZ_GEN_TASKS && ok && o.train; t++)
        if (o.tasks[t])
            ok = run_train(&o, &g, p, opt, &b, (uz_gen_task)t, ctx);
    uz_optim_free(opt);
    uz_ctx_free(ctx);
    uz_params_free(p);
    data_free(&b);
    return ok ? 0 : 1;
}
