/* Loading the generalist's data sets into memory and making batches. */
#include "models/generalist_data.h"

#include "core/alloc.h"
#include "datasets/datasets.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { FMNIST_SIDE = 28 };

void uz_gen_images_batch(const uz_gen_images *im, const int64_t *idx, int64_t n, float *dst)
{
    int64_t plane = (int64_t)im->channels * im->size * im->size;
    #pragma omp parallel for if (n * plane > 65536)
    for (int64_t i = 0; i < n; i++) {
        const uint8_t *src = im->pixels + idx[i] * plane;
        float *out = dst + i * plane;
        for (int64_t j = 0; j < plane; j++)
            out[j] = (float)src[j] * (2.0f / 255.0f) - 1.0f;
    }
}

/* img resized to size x size as CHW bytes in dst[channels * size * size]. */
static uz_status image_planes(const uz_image *img, int channels, int size, uint8_t *dst)
{
    if (img->channels != channels)
        return UZ_FAIL(UZ_ERR_ARG, "image has %d channels, the model takes %d", img->channels,
                       channels);
    uz_image resized = {0};
    const uz_image *src = img;
    if (img->width != size || img->height != size) {
        uz_status st = uz_image_resize(img, size, size, &resized);
        if (st != UZ_OK)
            return st;
        src = &resized;
    }
    int64_t hw = (int64_t)size * size;
    for (int c = 0; c < channels; c++)
        for (int64_t j = 0; j < hw; j++)
            dst[c * hw + j] = src->pixels[j * channels + c];
    uz_image_free(&resized);
    return UZ_OK;
}

uz_status uz_gen_image_prepare(const uz_image *img, int channels, int size, float *dst)
{
    int64_t plane = (int64_t)channels * size * size;
    uint8_t *bytes = uz_malloc((size_t)plane, "image");
    if (!bytes)
        return UZ_ERR_NOMEM;
    uz_status st = image_planes(img, channels, size, bytes);
    if (st == UZ_OK) {
        uz_gen_images one = {.n = 1, .channels = channels, .size = size, .pixels = bytes};
        uz_gen_images_batch(&one, (int64_t[]){0}, 1, dst);
    }
    uz_free(bytes);
    return st;
}

static uz_status images_alloc(uz_gen_images *im, int64_t n, int channels, int size,
                              const char *what)
{
    *im = (uz_gen_images){.n = n, .channels = channels, .size = size};
    im->pixels = uz_malloc((size_t)(n * channels * size * size), what);
    return im->pixels ? UZ_OK : UZ_ERR_NOMEM;
}

uz_status uz_gen_digits_load(const char *dir, bool train, int size, int64_t limit,
                             uz_gen_digits *out)
{
    *out = (uz_gen_digits){0};
    if (size < FMNIST_SIDE)
        return UZ_FAIL(UZ_ERR_ARG, "classification image size %d is below Fashion-MNIST's 28",
                       size);
    uz_fmnist f;
    uz_status st = uz_fmnist_load(dir, train, &f);
    if (st != UZ_OK)
        return st;
    int64_t n = limit > 0 && limit < f.n ? limit : f.n;
    st = images_alloc(&out->images, n, 1, size, "classification images");
    out->labels = st == UZ_OK ? uz_malloc(sizeof(int32_t) * (size_t)n, "labels") : NULL;
    if (!out->labels) {
        uz_fmnist_free(&f);
        uz_gen_digits_free(out);
        return UZ_ERR_NOMEM;
    }
    /* Centred on a black canvas: the pad value is the background's 0. */
    int off = (size - FMNIST_SIDE) / 2;
    memset(out->images.pixels, 0, (size_t)(n * size * size));
    for (int64_t i = 0; i < n; i++) {
        uint8_t *dst = out->images.pixels + i * size * size;
        const float *src = f.images + i * FMNIST_SIDE * FMNIST_SIDE;
        for (int y = 0; y < FMNIST_SIDE; y++)
            for (int x = 0; x < FMNIST_SIDE; x++)
                dst[(y + off) * size + x + off] =
                    (uint8_t)(src[y * FMNIST_SIDE + x] * 255.0f + 0.5f);
        out->labels[i] = f.labels[i];
    }
    uz_fmnist_free(&f);
    return UZ_OK;
}

void uz_gen_digits_free(uz_gen_digits *d)
{
    uz_free(d->images.pixels);
    uz_free(d->labels);
    *d = (uz_gen_digits){0};
}

uz_status uz_gen_texts_encode(const uz_tokenizer *tok, const char *const *texts, int64_t n,
                              int64_t len, bool eos, uz_gen_texts *out)
{
    *out = (uz_gen_texts){.n = n, .len = len};
    out->ids = uz_malloc(sizeof(int32_t) * (size_t)(n * len), "token ids");
    out->lengths = uz_malloc(sizeof(int64_t) * (size_t)n, "text lengths");
    if (!out->ids || !out->lengths) {
        uz_gen_texts_free(out);
        return UZ_ERR_NOMEM;
    }
    memset(out->ids, 0, sizeof(int32_t) * (size_t)(n * len));
    int32_t eos_id = uz_tokenizer_eos_id(tok);
    if (eos && eos_id < 0) {
        uz_gen_texts_free(out);
        return UZ_FAIL(UZ_ERR_ARG, "the tokenizer has no eos symbol, which captions need");
    }
    for (int64_t i = 0; i < n; i++) {
        int32_t *row = out->ids + i * len;
        int64_t got = uz_tokenizer_encode(tok, texts[i], eos ? UZ_TOK_EOS : 0, row, len);
        if (got < 0) {
            uz_gen_texts_free(out);
            return uz_error_status();
        }
        if (got == 0) {
            uz_gen_texts_free(out);
            return UZ_FAIL(UZ_ERR_ARG, "text %lld ('%s') has no tokens", (long long)i, texts[i]);
        }
        if (got > len) {
            got = len;
            if (eos)
                row[len - 1] = eos_id;
        }
        out->lengths[i] = got;
    }
    return UZ_OK;
}

void uz_gen_texts_free(uz_gen_texts *t)
{
    uz_free(t->ids);
    uz_free(t->lengths);
    *t = (uz_gen_texts){0};
}

uz_status uz_gen_scenes_load(const char *dir, const uz_tokenizer *tok, int channels, int size,
                             int64_t caption_len, int64_t limit, uz_gen_scenes *out)
{
    *out = (uz_gen_scenes){0};
    char inst[1024], caps[1024], root[1024];
    snprintf(inst, sizeof inst, "%s/instances.json", dir);
    snprintf(caps, sizeof caps, "%s/captions.json", dir);
    snprintf(root, sizeof root, "%s/images", dir);
    uz_status st = uz_coco_load(inst, caps, root, &out->coco);
    if (st != UZ_OK)
        return st;
    uz_coco *c = &out->coco;
    int64_t n = limit > 0 && limit < c->n_images ? limit : c->n_images;
    if (n == 0 || c->n_captions == 0) {
        uz_gen_scenes_free(out);
        return UZ_FAIL(UZ_ERR_FORMAT, "%s: no images or no captions", dir);
    }
    if ((st = images_alloc(&out->images, n, channels, size, "scene images")) != UZ_OK) {
        uz_gen_scenes_free(out);
        return st;
    }
    /* Decoding is reentrant, so images load in parallel; the first failure
     * in image order is reported (loaded again: the other threads' errors
     * overwrite the message). */
    int64_t failed = n;
    int64_t plane = (int64_t)channels * size * size;
    #pragma omp parallel for schedule(dynamic, 16)
    for (int64_t i = 0; i < n; i++) {
        char path[2048];
        snprintf(path, sizeof path, "%s/%s", root, c->images[i].file_name);
        uz_image img = {0};
        uz_status e = uz_image_load(path, channels, &img);
        if (e == UZ_OK)
            e = image_planes(&img, channels, size, out->images.pixels + i * plane);
        uz_image_free(&img);
        if (e != UZ_OK) {
            #pragma omp critical(uz_gen_scene_fail)
            failed = i < failed ? i : failed;
        }
    }
    if (failed != n) {
        char path[2048];
        snprintf(path, sizeof path, "%s/%s", root, c->images[failed].file_name);
        uz_image img = {0};
        st = uz_image_load(path, channels, &img);
        if (st == UZ_OK)
            st = image_planes(&img, channels, size, out->images.pixels + failed * plane);
        uz_image_free(&img);
        uz_gen_scenes_free(out);
        return st != UZ_OK ? st : UZ_FAIL(UZ_ERR_FORMAT, "%s: failed to load", path);
    }
    /* Captions grouped by image (file order within an image). */
    out->image_caption_start = uz_malloc(sizeof(int64_t) * (size_t)(n + 1), "caption starts");
    if (!out->image_caption_start) {
        uz_gen_scenes_free(out);
        return UZ_ERR_NOMEM;
    }
    int64_t n_caps = 0;
    for (int64_t i = 0; i < n; i++) {
        int64_t k;
        uz_coco_image_captions(c, i, &k);
        if (k == 0) {
            uz_gen_scenes_free(out);
            return UZ_FAIL(UZ_ERR_FORMAT, "%s: images[%lld] '%s' has no caption", caps,
                           (long long)i, c->images[i].file_name);
        }
        out->image_caption_start[i] = n_caps;
        n_caps += k;
    }
    out->image_caption_start[n] = n_caps;
    const char **texts = malloc(sizeof(char *) * (size_t)n_caps);
    out->caption_image = uz_malloc(sizeof(int64_t) * (size_t)n_caps, "caption images");
    if (!texts || !out->caption_image) {
        free(texts);
        uz_gen_scenes_free(out);
        return UZ_FAIL(UZ_ERR_NOMEM, "out of memory for captions");
    }
    for (int64_t i = 0, r = 0; i < n; i++) {
        int64_t k;
        const int64_t *ci = uz_coco_image_captions(c, i, &k);
        for (int64_t j = 0; j < k; j++, r++) {
            out->caption_image[r] = i;
            texts[r] = c->captions[ci[j]].caption;
        }
    }
    st = uz_gen_texts_encode(tok, texts, n_caps, caption_len, true, &out->captions);
    free(texts);
    if (st != UZ_OK)
        uz_gen_scenes_free(out);
    return st;
}

void uz_gen_scenes_free(uz_gen_scenes *s)
{
    uz_free(s->images.pixels);
    uz_coco_free(&s->coco);
    uz_gen_texts_free(&s->captions);
    uz_free(s->caption_image);
    uz_free(s->image_caption_start);
    *s = (uz_gen_scenes){0};
}
