/* `unizoo infer --ckpt CKPT --task classify|detect|caption|retrieve
 * (--image FILE | --list FILE) ...`: a generalist checkpoint on the user's
 * images, in batches, one JSON object per image on stdout (JSON Lines), and
 * optionally each image drawn with its result. The model is built from the
 * checkpoint's stored config without its training data; only its tokenizer
 * has to be at hand. */
#include "cli.h"
#include "infer_draw.h"

#include "core/clock.h"
#include "datasets/datasets.h"
#include "models/generalist_model.h"
#include "vision/image.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum {
    MAX_SETS = 64,
    CAPTION_TEXT = 512,
    TEXT_BATCH = 64,
    FMNIST_SIDE = 28 /* classification was trained on 28 x 28 items, centred */
};

static void usage(FILE *f)
{
    fprintf(f,
            "usage: unizoo infer --ckpt CKPT --task classify|detect|caption|retrieve\n"
            "                    (--image FILE | --list FILE) [--text T ...] [--texts FILE]\n"
            "                    [--topk K] [--beam N] [--threshold S]\n"
            "                    [--draw OUT.png | --draw-dir DIR] [--batch N] [--set path=value]\n"
            "  --ckpt       a generalist run directory or checkpoint file; the model is built\n"
            "               from its stored config, without the training data (its tokenizer,\n"
            "               model.tokenizer, must exist; --set model.tokenizer=FILE moves it)\n"
            "  --task       classify: top-k class labels (the image is taken as one item, as a\n"
            "                 Fashion-MNIST picture: 28 x 28, centred on the model's canvas)\n"
            "               detect: boxes [x, y, w, h] in the image's pixels with labels\n"
            "               caption: a caption (beam search with --beam N > 1, else greedy)\n"
            "               retrieve: the texts ranked by cosine similarity to the image\n"
            "  --image      one image (JPEG, PNG, BMP, GIF, PNM)\n"
            "  --list       a file of image paths, one per line (blank lines skipped;\n"
            "               relative paths are from the working directory)\n"
            "  --text       a text to rank (retrieve; repeatable)\n"
            "  --texts      a file of texts to rank, one per line (retrieve)\n"
            "  --topk       results per image: classify (default 5), detect and retrieve\n"
            "               (default all)\n"
            "  --beam       caption beam width (default 1: greedy)\n"
            "  --threshold  detect: the lowest score kept (default 0.3)\n"
            "  --draw       write the image with its result drawn on it (--image only)\n"
            "  --draw-dir   write each image drawn, as DIR/NAME.png (NAME: the file name\n"
            "               without extension; a repeated name gets -LINE, its list line)\n"
            "  --batch      images per forward pass (default 32)\n"
            "  --set        override a field of the stored config, e.g. model.tokenizer=FILE\n"
            "Prints one JSON object per image on stdout; a summary goes to stderr.\n");
}

/* A growable list of owned strings, with the list-file line of each. */
typedef struct str_list {
    char **s;
    int64_t *line;
    int64_t n, cap;
} str_list;

static bool list_push(str_list *l, const char *s, int64_t line)
{
    if (l->n == l->cap) {
        int64_t cap = l->cap ? 2 * l->cap : 16;
        char **ns = realloc(l->s, sizeof(char *) * (size_t)cap);
        if (ns)
            l->s = ns;
        int64_t *nl = ns ? realloc(l->line, sizeof(int64_t) * (size_t)cap) : NULL;
        if (!nl)
            return false;
        l->line = nl;
        l->cap = cap;
    }
    if (!(l->s[l->n] = strdup(s)))
        return false;
    l->line[l->n++] = line;
    return true;
}

static void list_free(str_list *l)
{
    for (int64_t i = 0; i < l->n; i++)
        free(l->s[i]);
    free(l->s);
    free(l->line);
    *l = (str_list){0};
}

/* Appends every non-blank line of path (trailing whitespace and CR cut). */
static bool read_lines(const char *path, str_list *out)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "unizoo infer: cannot read '%s': %s\n", path, strerror(errno));
        return false;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    bool ok = true;
    for (int64_t no = 1; ok && (len = getline(&line, &cap, f)) >= 0; no++) {
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r' ||
                           line[len - 1] == ' ' || line[len - 1] == '\t'))
            line[--len] = '\0';
        if (len > 0 && !list_push(out, line, no)) {
            fprintf(stderr, "unizoo infer: out of memory reading '%s'\n", path);
            ok = false;
        }
    }
    if (ok && ferror(f)) {
        fprintf(stderr, "unizoo infer: cannot read '%s'\n", path);
        ok = false;
    }
    free(line);
    fclose(f);
    return ok;
}

typedef struct infer_args {
    const char *ckpt, *task, *image, *list, *texts_file, *draw, *draw_dir;
    const char *sets[MAX_SETS];
    int n_sets;
    str_list texts;
    long long topk, batch;
    int beam;
    double threshold;
    bool has_topk, has_beam, has_threshold;
} infer_args;

/* The option (string-valued) that s names, or NULL. */
static const char **string_opt(infer_args *a, const char *s)
{
    static const char *const names[] = {"--ckpt",  "--task",  "--image",   "--list",
                                        "--texts", "--draw",  "--draw-dir"};
    const char **slots[] = {&a->ckpt,       &a->task, &a->image,   &a->list,
                            &a->texts_file, &a->draw, &a->draw_dir};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(s, names[i]) == 0)
            return slots[i];
    return NULL;
}

/* 1: help printed; -1: error printed; 0: parsed. */
static int parse(int argc, char **argv, infer_args *a)
{
    for (int i = 0; i < argc; i++) {
        const char *s = argv[i];
        if (strcmp(s, "--help") == 0 || strcmp(s, "-h") == 0) {
            usage(stdout);
            return 1;
        }
        const char *v = uz_cli_option_value("infer", argc, argv, &i);
        if (!v)
            return -1;
        const char **slot = string_opt(a, s);
        long long x;
        if (slot) {
            if (*slot) {
                fprintf(stderr, "unizoo infer: %s given twice\n", s);
                return -1;
            }
            *slot = v;
        } else if (strcmp(s, "--text") == 0) {
            if (!list_push(&a->texts, v, 0)) {
                fprintf(stderr, "unizoo infer: out of memory\n");
                return -1;
            }
        } else if (strcmp(s, "--topk") == 0) {
            if (!uz_cli_parse_int("infer", s, v, 1, 1000000, &a->topk))
                return -1;
            a->has_topk = true;
        } else if (strcmp(s, "--batch") == 0) {
            if (!uz_cli_parse_int("infer", s, v, 1, 4096, &a->batch))
                return -1;
        } else if (strcmp(s, "--beam") == 0) {
            if (!uz_cli_parse_int("infer", s, v, 1, 64, &x))
                return -1;
            a->beam = (int)x;
            a->has_beam = true;
        } else if (strcmp(s, "--threshold") == 0) {
            char *end;
            a->threshold = strtod(v, &end);
            if (end == v || *end || !(a->threshold >= 0.0 && a->threshold <= 1.0)) {
                fprintf(stderr, "unizoo infer: --threshold '%s' is not a number in [0, 1]\n", v);
                return -1;
            }
            a->has_threshold = true;
        } else if (strcmp(s, "--set") == 0 && a->n_sets < MAX_SETS) {
            a->sets[a->n_sets++] = v;
        } else {
            fprintf(stderr, "unizoo infer: unknown option '%s' (see unizoo infer --help)\n", s);
            return -1;
        }
    }
    return 0;
}

/* Whether uz_image_save writes path (by its extension). */
static bool drawable(const char *path)
{
    const char *dot = strrchr(path, '.');
    static const char *const ext[] = {".png", ".jpg", ".jpeg", ".bmp"};
    for (size_t i = 0; dot && i < sizeof ext / sizeof ext[0]; i++)
        if (strcasecmp(dot, ext[i]) == 0)
            return true;
    return false;
}

/* The task of a->task, checking which options go with it; -1 with the
 * error printed. */
static int check_args(const infer_args *a)
{
    if (!a->ckpt || !a->task || (!a->image == !a->list)) {
        fprintf(stderr, "unizoo infer: --ckpt, --task and one of --image or --list are required "
                        "(see unizoo infer --help)\n");
        return -1;
    }
    int task = -1;
    for (int t = 0; t < UZ_GEN_TASKS; t++)
        if (strcmp(a->task, uz_gen_task_names[t]) == 0)
            task = t;
    const char *bad = NULL;
    if (task < 0)
        fprintf(stderr, "unizoo infer: --task '%s' is not classify, detect, caption or "
                        "retrieve\n",
                a->task);
    else if (task != UZ_GEN_RETRIEVE && (a->texts.n || a->texts_file))
        bad = "--text and --texts go with --task retrieve";
    else if (task == UZ_GEN_RETRIEVE && !a->texts.n && !a->texts_file)
        bad = "--task retrieve needs texts to rank: --text T (repeatable) or --texts FILE";
    else if (task != UZ_GEN_CAPTION && a->has_beam)
        bad = "--beam goes with --task caption";
    else if (task != UZ_GEN_DETECT && a->has_threshold)
        bad = "--threshold goes with --task detect";
    else if (task == UZ_GEN_CAPTION && a->has_topk)
        bad = "--topk goes with classify, detect and retrieve";
    else if (a->draw && a->draw_dir)
        bad = "give --draw or --draw-dir, not both";
    else if (a->draw && a->list)
        bad = "--draw writes one image; with --list use --draw-dir DIR";
    else if (a->draw && !drawable(a->draw))
        bad = "--draw writes .png, .jpg, .jpeg or .bmp files";
    if (bad)
        fprintf(stderr, "unizoo infer: %s\n", bad);
    return bad ? -1 : task;
}

/* ---- the model -------------------------------------------------------------- */

/* The generalist of the checkpoint with its tokenizer, trained for task;
 * false with the error printed. */
static bool check_model(const uz_model *m, const uz_train_config *cfg, int task)
{
    if (!uz_gen_model_net(m)) {
        fprintf(stderr, "unizoo infer: the checkpoint holds a %s model; infer serves the "
                        "generalist family\n",
                cfg->family);
        return false;
    }
    if (!uz_gen_model_tokenizer(m)) {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(cfg->model, "tokenizer");
        char path[4096];
        uz_data_path_resolve(cJSON_IsString(t) ? t->valuestring : "", path, sizeof path);
        fprintf(stderr, "unizoo infer: the model's tokenizer '%s' is not readable (the run's "
                        "model.tokenizer; point to it with --set model.tokenizer=FILE)\n",
                path);
        return false;
    }
    if (uz_gen_model_check_tokenizer(m) != UZ_OK) {
        fprintf(stderr, "unizoo infer: %s\n", uz_error_message());
        return false;
    }
    const cJSON *tasks = cJSON_GetObjectItemCaseSensitive(cfg->model, "tasks");
    char have[64] = "";
    const cJSON *t;
    cJSON_ArrayForEach(t, tasks)
    {
        if (!cJSON_IsString(t))
            continue;
        if (strcmp(t->valuestring, uz_gen_task_names[task]) == 0)
            return true;
        size_t n = strlen(have);
        snprintf(have + n, sizeof have - n, "%s%s", n ? ", " : "", t->valuestring);
    }
    fprintf(stderr, "unizoo infer: the checkpoint was not trained for %s (its tasks: %s)\n",
            uz_gen_task_names[task], have);
    return false;
}

/* The retrieval candidates [n, D], encoded once for every image. */
static float *embed_texts(uz_ctx *ctx, const uz_generalist *g, const uz_tokenizer *tok,
                          const str_list *texts, int64_t *dim)
{
    uz_gen_texts t;
    if (uz_gen_texts_encode(tok, (const char *const *)texts->s, texts->n, g->cfg.caption_len,
                            true, &t) != UZ_OK)
        return NULL;
    float *out = NULL;
    for (int64_t s = 0; s < t.n; s += TEXT_BATCH) {
        int64_t b = t.n - s < TEXT_BATCH ? t.n - s : TEXT_BATCH;
        uz_tensor *e = uz_gen_embed_texts(ctx, g, UZ_GEN_RETRIEVE, true, t.ids + s * t.len, b,
                                          t.len, false);
        if (e && !out) {
            *dim = e->shape[1];
            if (!(out = malloc(sizeof(float) * (size_t)(t.n * *dim))))
                UZ_FAIL(UZ_ERR_NOMEM, "out of memory for the text embeddings");
        }
        if (!e || !out) {
            free(out);
            out = NULL;
            break;
        }
        uz_tensor_copy_out(e, out + s * *dim);
        uz_ctx_reset(ctx);
    }
    uz_gen_texts_free(&t);
    uz_ctx_reset(ctx);
    return out;
}

/* ---- one batch ----------------------------------------------------------------- */

/* One result of an image: a class, a proposal or a text, and its score. */
typedef struct ranked {
    float score;
    int64_t i;
} ranked;

typedef struct infer_run {
    const uz_generalist *g;
    const uz_tokenizer *tok;
    uz_ctx *ctx;
    int task;
    const infer_args *a;
    const str_list *inputs; /* image paths (line 0: from --image) */
    char **draw_paths;      /* per input, NULL when not drawing */
    float *text_emb;        /* retrieve: [texts, D] */
    int64_t text_dim;
    /* per batch */
    int64_t b, plane, size;
    float *pixels;          /* [b, C, size, size] */
    int *width, *height;    /* original sizes */
    float *probs;           /* classify [b, classes] */
    uz_gen_detection *dets; /* detect [b, Q] */
    int32_t *ids;           /* caption [b, L] */
    int64_t *lengths;
    char *captions;         /* [b, CAPTION_TEXT] */
    float *sims;            /* retrieve [b, texts] */
    ranked *order;          /* the current image's results, best first */
    float *scores;
    uz_infer_box *boxes;    /* the current image's detections, drawn */
} infer_run;

/* The error of input i, naming where it came from: the list file and line. */
static void image_error(const infer_run *r, int64_t i)
{
    char where[4200];
    if (r->inputs->line[i])
        snprintf(where, sizeof where, "%s:%lld", r->a->list, (long long)r->inputs->line[i]);
    uz_cli_error("infer", r->inputs->line[i] ? where : NULL);
}

/* Input i as the model's floats into dst: scenes resized to the scene
 * size; classification items resized to 28 x 28 and centred on the
 * black canvas of side cls_size, as Fashion-MNIST was in training. */
static uz_status prepare(const infer_run *r, int64_t i, float *dst, int *w, int *h)
{
    const uz_gen_config *c = &r->g->cfg;
    uz_image img = {0}, small = {0}, canvas = {0};
    uz_status st = uz_image_load(r->inputs->s[i], c->channels, &img);
    *w = img.width;
    *h = img.height;
    if (st == UZ_OK && r->task == UZ_GEN_CLASSIFY) {
        int off = (c->cls_size - FMNIST_SIDE) / 2;
        st = uz_image_resize(&img, FMNIST_SIDE, FMNIST_SIDE, &small);
        if (st == UZ_OK)
            st = uz_image_pad(&small, c->cls_size, c->cls_size, off, off, 0, &canvas);
        if (st == UZ_OK)
            st = uz_gen_image_prepare(&canvas, c->channels, c->cls_size, dst);
    } else if (st == UZ_OK) {
        st = uz_gen_image_prepare(&img, c->channels, c->scene_size, dst);
    }
    uz_image_free(&img);
    uz_image_free(&small);
    uz_image_free(&canvas);
    return st;
}

/* The model's outputs for the batch of inputs s .. s + r->b - 1. */
static uz_status run_batch(infer_run *r, int64_t s)
{
    const uz_generalist *g = r->g;
    for (int64_t i = 0; i < r->b; i++)
        if (prepare(r, s + i, r->pixels + i * r->plane, &r->width[i], &r->height[i]) != UZ_OK) {
            image_error(r, s + i);
            return UZ_ERR_ARG;
        }
    int64_t C = g->cfg.channels, S = r->size, L = g->cfg.caption_len;
    uz_ctx *ctx = r->ctx;
    uz_tensor *x = uz_tensor_from(ctx, 4, (int64_t[]){r->b, C, S, S}, r->pixels);
    uz_status st = x ? UZ_OK : uz_error_status();
    if (st == UZ_OK && r->task == UZ_GEN_CLASSIFY) {
        st = uz_gen_classify(ctx, g, x, r->probs);
    } else if (st == UZ_OK && r->task == UZ_GEN_DETECT) {
        st = uz_gen_detect(ctx, g, x, 1, r->dets);
    } else if (st == UZ_OK && r->task == UZ_GEN_CAPTION) {
        st = uz_gen_caption_beam(ctx, g, x, r->a->beam, L, r->ids, r->lengths);
    } else if (st == UZ_OK) {
        /* Both sides are unit vectors: the cosine is their dot product. */
        uz_image_encoding enc;
        uz_tensor *e = uz_gen_image_embedding(ctx, g, UZ_GEN_RETRIEVE, x, false, &enc);
        uz_tensor *t = e ? uz_tensor_wrap(ctx, 2, (int64_t[]){r->a->texts.n, r->text_dim},
                                          r->text_emb)
                         : NULL;
        uz_tensor *sim = t ? uz_matmul(ctx, e, uz_transpose(ctx, t, 0, 1)) : NULL;
        if (sim)
            uz_tensor_copy_out(sim, r->sims);
        st = sim ? UZ_OK : uz_error_status();
    }
    for (int64_t i = 0; st == UZ_OK && r->task == UZ_GEN_CAPTION && i < r->b; i++)
        st = uz_gen_caption_text(g, r->tok, r->ids + i * L, r->lengths[i],
                                 r->captions + i * CAPTION_TEXT, CAPTION_TEXT);
    uz_ctx_reset(ctx);
    if (st != UZ_OK)
        uz_cli_error("infer", NULL);
    return st;
}

/* ---- output ---------------------------------------------------------------------- */

static void json_string(const char *s)
{
    putchar('"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            printf("\\%c", *p);
        else if (*p == '\n')
            fputs("\\n", stdout);
        else if (*p < 0x20)
            printf("\\u%04x", *p);
        else
            putchar(*p);
    }
    putchar('"');
}

/* JSON has no NaN or infinity. */
static void json_number(double v, const char *fmt)
{
    if (isfinite(v))
        printf(fmt, v);
    else
        fputs("null", stdout);
}

/* Higher score first; ties by index, so the order is reproducible. */
static int by_score(const void *pa, const void *pb)
{
    const ranked *a = pa, *b = pb;
    if (a->score != b->score)
        return a->score > b->score ? -1 : 1;
    return (a->i > b->i) - (a->i < b->i);
}

/* The ranking of scores[0..n) in r->order (those >= floor), at most k:
 * returns how many. */
static int64_t rank(infer_run *r, const float *scores, int64_t n, float floor, int64_t k)
{
    int64_t m = 0;
    for (int64_t i = 0; i < n; i++)
        if (scores[i] >= floor)
            r->order[m++] = (ranked){scores[i], i};
    qsort(r->order, (size_t)m, sizeof *r->order, by_score);
    return m < k ? m : k;
}

/* Detection i of the batch as [x, y, w, h] in the original pixels,
 * clipped to the image. */
static void det_box(const infer_run *r, int64_t i, const uz_gen_detection *d, float out[4])
{
    float W = (float)r->width[i], H = (float)r->height[i];
    float x0 = (d->box[0] - 0.5f * d->box[2]) * W, y0 = (d->box[1] - 0.5f * d->box[3]) * H;
    float x1 = x0 + d->box[2] * W, y1 = y0 + d->box[3] * H;
    x0 = fminf(fmaxf(x0, 0.0f), W);
    y0 = fminf(fmaxf(y0, 0.0f), H);
    x1 = fminf(fmaxf(x1, 0.0f), W);
    y1 = fminf(fmaxf(y1, 0.0f), H);
    out[0] = x0;
    out[1] = y0;
    out[2] = x1 - x0;
    out[3] = y1 - y0;
}

/* The results of image i of the batch (input s + i) ranked into r->order
 * (n of them): classes, detections (their query index) or texts. */
static int64_t results(infer_run *r, int64_t i)
{
    const infer_args *a = r->a;
    if (r->task == UZ_GEN_CLASSIFY)
        return rank(r, r->probs + i * UZ_GEN_CLASSES, UZ_GEN_CLASSES, -INFINITY,
                    a->has_topk ? a->topk : 5);
    if (r->task == UZ_GEN_DETECT) {
        int64_t Q = r->g->cfg.queries;
        for (int64_t q = 0; q < Q; q++)
            r->scores[q] = r->dets[i * Q + q].score;
        return rank(r, r->scores, Q, (float)a->threshold, a->has_topk ? a->topk : Q);
    }
    if (r->task == UZ_GEN_RETRIEVE)
        return rank(r, r->sims + i * a->texts.n, a->texts.n, -INFINITY,
                    a->has_topk ? a->topk : a->texts.n);
    return 0;
}

static void print_result(infer_run *r, int64_t i, int64_t input, int64_t n)
{
    printf("{\"image\": ");
    json_string(r->inputs->s[input]);
    printf(", \"task\": \"%s\", ", uz_gen_task_names[r->task]);
    if (r->task == UZ_GEN_CAPTION) {
        printf("\"caption\": ");
        json_string(r->captions + i * CAPTION_TEXT);
    } else {
        printf(r->task == UZ_GEN_CLASSIFY ? "\"labels\": [" : r->task == UZ_GEN_DETECT
                                                                   ? "\"detections\": ["
                                                                   : "\"texts\": [");
        for (int64_t k = 0; k < n; k++) {
            int64_t j = r->order[k].i;
            printf(k ? ", {" : "{");
            if (r->task == UZ_GEN_CLASSIFY) {
                printf("\"label\": ");
                json_string(uz_fmnist_caption_names[j]);
                printf(", \"score\": ");
                json_number(r->probs[i * UZ_GEN_CLASSES + j], "%.6g");
            } else if (r->task == UZ_GEN_DETECT) {
                const uz_gen_detection *d = &r->dets[i * r->g->cfg.queries + j];
                float box[4];
                det_box(r, i, d, box);
                printf("\"label\": ");
                json_string(uz_fmnist_caption_names[d->cls]);
                printf(", \"score\": ");
                json_number(d->score, "%.6g");
                printf(", \"box\": [");
                for (int c = 0; c < 4; c++) {
                    json_number(box[c], "%.2f");
                    printf(c < 3 ? ", " : "]");
                }
            } else {
                printf("\"text\": ");
                json_string(r->a->texts.s[j]);
                printf(", \"score\": ");
                json_number(r->sims[i * r->a->texts.n + j], "%.6g");
            }
            putchar('}');
        }
        putchar(']');
    }
    if (r->draw_paths) {
        printf(", \"draw\": ");
        json_string(r->draw_paths[input]);
    }
    printf("}\n");
}

/* ---- drawing ----------------------------------------------------------------------- */

/* Image i of the batch (input `input`) drawn with its n results. */
static uz_status draw_result(const infer_run *r, int64_t i, int64_t input, int64_t n)
{
    const char *src = r->inputs->s[input], *dst = r->draw_paths[input];
    uz_status st;
    if (r->task == UZ_GEN_DETECT) {
        for (int64_t k = 0; k < n; k++) {
            const uz_gen_detection *d = &r->dets[i * r->g->cfg.queries + r->order[k].i];
            uz_infer_box *b = &r->boxes[k];
            det_box(r, i, d, b->box);
            b->score = d->score;
            b->label = uz_fmnist_caption_names[d->cls];
            b->colour = d->cls;
        }
        st = uz_infer_draw_boxes(src, r->boxes, n, dst);
    } else {
        /* The caption, or the best label or text with its score. */
        char text[CAPTION_TEXT + 32];
        int64_t j = n > 0 ? r->order[0].i : 0;
        if (r->task == UZ_GEN_CAPTION)
            snprintf(text, sizeof text, "%s", r->captions + i * CAPTION_TEXT);
        else if (r->task == UZ_GEN_CLASSIFY)
            snprintf(text, sizeof text, "%s %.2f", uz_fmnist_caption_names[j],
                     (double)r->probs[i * UZ_GEN_CLASSES + j]);
        else
            snprintf(text, sizeof text, "%.*s (%.2f)", CAPTION_TEXT, r->a->texts.s[j],
                     (double)r->sims[i * r->a->texts.n + j]);
        st = uz_infer_draw_text(src, text, dst);
    }
    if (st != UZ_OK)
        uz_cli_error("infer", "drawing");
    return st;
}

/* Where each input is drawn: --draw's file, or under --draw-dir. */
static char **draw_paths(const infer_args *a, const str_list *in)
{
    char **out = NULL;
    if (a->draw_dir) {
        if (!(out = uz_infer_draw_paths(a->draw_dir, in->s, in->line, in->n)))
            uz_cli_error("infer", "--draw-dir");
    } else if (!(out = calloc(1, sizeof(char *))) || !(out[0] = strdup(a->draw))) {
        free(out);
        out = NULL;
        fprintf(stderr, "unizoo infer: out of memory\n");
    }
    return out;
}

/* ---- the command --------------------------------------------------------------------- */

static bool alloc_batch(infer_run *r, int64_t batch)
{
    const uz_gen_config *c = &r->g->cfg;
    int64_t Q = c->queries, L = c->caption_len, T = r->a->texts.n;
    r->size = r->task == UZ_GEN_CLASSIFY ? c->cls_size : c->scene_size;
    r->plane = (int64_t)c->channels * r->size * r->size;
    int64_t n_rank = Q > T ? Q : T;
    n_rank = n_rank > UZ_GEN_CLASSES ? n_rank : UZ_GEN_CLASSES;
    r->pixels = malloc(sizeof(float) * (size_t)(batch * r->plane));
    r->width = malloc(sizeof(int) * (size_t)batch);
    r->height = malloc(sizeof(int) * (size_t)batch);
    r->probs = malloc(sizeof(float) * (size_t)(batch * UZ_GEN_CLASSES));
    r->dets = malloc(sizeof(uz_gen_detection) * (size_t)(batch * Q));
    r->ids = malloc(sizeof(int32_t) * (size_t)(batch * L));
    r->lengths = malloc(sizeof(int64_t) * (size_t)batch);
    r->captions = malloc((size_t)(batch * CAPTION_TEXT));
    r->sims = malloc(sizeof(float) * (size_t)(batch * (T > 0 ? T : 1)));
    r->order = malloc(sizeof(ranked) * (size_t)n_rank);
    r->scores = malloc(sizeof(float) * (size_t)n_rank);
    r->boxes = malloc(sizeof(uz_infer_box) * (size_t)(Q > 0 ? Q : 1));
    bool ok = r->pixels && r->width && r->height && r->probs && r->dets && r->ids &&
              r->lengths && r->captions && r->sims && r->order && r->scores && r->boxes;
    if (!ok)
        fprintf(stderr, "unizoo infer: out of memory for a batch of %lld images\n",
                (long long)batch);
    return ok;
}

static void free_run(infer_run *r)
{
    free(r->pixels);
    free(r->width);
    free(r->height);
    free(r->probs);
    free(r->dets);
    free(r->ids);
    free(r->lengths);
    free(r->captions);
    free(r->sims);
    free(r->order);
    free(r->scores);
    free(r->boxes);
    free(r->text_emb);
    for (int64_t i = 0; r->draw_paths && i < r->inputs->n; i++)
        free(r->draw_paths[i]);
    free(r->draw_paths);
    uz_ctx_free(r->ctx);
}

/* Every input through the model, batch by batch; 0 or 1. */
static int infer_all(infer_run *r)
{
    int64_t n = r->inputs->n, batch = r->a->batch;
    if (!alloc_batch(r, n < batch ? n : batch))
        return 1;
    for (int64_t s = 0; s < n; s += batch) {
        r->b = n - s < batch ? n - s : batch;
        if (run_batch(r, s) != UZ_OK)
            return 1;
        for (int64_t i = 0; i < r->b; i++) {
            int64_t k = results(r, i);
            /* Drawn first, so that a printed "draw" path exists. */
            if (r->draw_paths && draw_result(r, i, s + i, k) != UZ_OK)
                return 1;
            print_result(r, i, s + i, k);
        }
        fflush(stdout);
    }
    return 0;
}

/* The model m on every input; 0, or 1 with the error printed. */
static int infer_with(infer_run *r, const uz_model *m, double t0)
{
    const infer_args *a = r->a;
    if (!(r->ctx = uz_ctx_new(0, 0))) {
        uz_cli_error("infer", NULL);
        return 1;
    }
    uz_grad_enable(r->ctx, false);
    r->g = uz_gen_model_net(m);
    r->tok = uz_gen_model_tokenizer(m);
    if (r->task == UZ_GEN_RETRIEVE &&
        !(r->text_emb = embed_texts(r->ctx, r->g, r->tok, &a->texts, &r->text_dim))) {
        uz_cli_error("infer", "encoding the texts");
        return 1;
    }
    if ((a->draw || a->draw_dir) && !(r->draw_paths = draw_paths(a, r->inputs)))
        return 1;
    double t1 = uz_clock_s();
    if (infer_all(r) != 0)
        return 1;
    double t2 = uz_clock_s(), n = (double)r->inputs->n;
    fprintf(stderr,
            "infer: %.0f images (%s) in %.2f s, %.1f images/s; model load %.2f s; peak memory "
            "%.0f MiB\n",
            n, uz_gen_task_names[r->task], t2 - t1, n / (t2 - t1 > 1e-9 ? t2 - t1 : 1e-9),
            t1 - t0, uz_cli_peak_mb());
    return 0;
}

int uz_cmd_infer(int argc, char **argv)
{
    infer_args a = {.batch = 32, .beam = 1, .threshold = 0.3};
    str_list inputs = {0};
    int r = parse(argc, argv, &a);
    int task = r ? -1 : check_args(&a);
    bool ok = task >= 0 && (!a.texts_file || read_lines(a.texts_file, &a.texts));
    if (ok && a.list)
        ok = read_lines(a.list, &inputs);
    else if (ok)
        ok = list_push(&inputs, a.image, 0);
    if (ok && inputs.n == 0) {
        fprintf(stderr, "unizoo infer: %s lists no images\n", a.list);
        ok = false;
    }
    if (ok && task == UZ_GEN_RETRIEVE && a.texts.n == 0) {
        fprintf(stderr, "unizoo infer: %s holds no texts to rank\n", a.texts_file);
        ok = false;
    }
    if (!ok) {
        list_free(&a.texts);
        list_free(&inputs);
        return r > 0 ? 0 : 2;
    }
    double t0 = uz_clock_s();
    uz_train_config cfg;
    uz_model *m = NULL;
    int rc = 2;
    infer_run run = {.task = task, .a = &a, .inputs = &inputs};
    if (uz_cli_load_model_only("infer", a.ckpt, a.sets, a.n_sets, &cfg, &m)) {
        rc = check_model(m, &cfg, task) ? infer_with(&run, m, t0) : 2;
        uz_model_free(m);
        uz_config_free(&cfg);
    }
    free_run(&run);
    list_free(&a.texts);
    list_free(&inputs);
    return rc;
}
