/* The generalist's data in memory: Fashion-MNIST for classification, a
 * COCO-style scene set (boxes and captions) for detection, captioning and
 * retrieval, and the tokenized texts (class names, captions). Images are
 * kept as 8-bit CHW planes and normalised per batch, (p / 255 - 0.5) / 0.5,
 * so 60k digits cost 60 MB rather than 240. */
#ifndef UZ_GENERALIST_DATA_H
#define UZ_GENERALIST_DATA_H

#include <stdbool.h>
#include <stdint.h>

#include "datasets/coco.h"
#include "text/tokenizer.h"
#include "vision/image.h"

/* n square images of side `size`, `channels` planes each. */
typedef struct uz_gen_images {
    int64_t n;
    int channels, size;
    uint8_t *pixels;   /* n * channels * size * size */
} uz_gen_images;

/* Token ids, one row of `len` per text, right-padded with the pad id 0. */
typedef struct uz_gen_texts {
    int64_t n, len;
    int32_t *ids;
    int64_t *lengths;  /* ids before the padding */
} uz_gen_texts;

typedef struct uz_gen_scenes {
    uz_gen_images images;  /* in the order of coco.images */
    uz_coco coco;
    uz_gen_texts captions; /* the kept images' captions in file order; each ends with eos */
    int64_t *caption_image; /* the image (index into images) of each caption */
    /* Captions of image i: rows image_caption_start[i] .. [i + 1] - 1 of
     * captions (captions are kept grouped by image). */
    int64_t *image_caption_start;
} uz_gen_scenes;

/* Classification images of Fashion-MNIST: 28 x 28 centred on a side-`size`
 * canvas (32 by default: a multiple of 8 for the backbone's strides). */
typedef struct uz_gen_digits {
    uz_gen_images images;
    int32_t *labels;
} uz_gen_digits;

/* Everything the generalist trains and evaluates on: [0] train, [1] test,
 * and for each split the class (index into the class names) of each of the
 * scene set's categories. */
typedef struct uz_gen_data {
    uz_gen_digits digits[2];
    uz_gen_scenes scenes[2];
    int32_t *category_class[2];
} uz_gen_data;

/* The batch of images idx[0..n) as normalised floats [n, channels, size, size]
 * into dst. */
void uz_gen_images_batch(const uz_gen_images *im, const int64_t *idx, int64_t n, float *dst);

/* One image of any size with `channels` channels (load it with that many:
 * uz_image_load converts) resized to size x size and normalised, into
 * dst[channels * size * size]; other channel counts are an error. */
uz_status uz_gen_image_prepare(const uz_image *img, int channels, int size, float *dst);

uz_status uz_gen_digits_load(const char *dir, bool train, int size, int64_t limit,
                             uz_gen_digits *out);
void uz_gen_digits_free(uz_gen_digits *d);

/* Reads DIR/instances.json, DIR/captions.json and DIR/images/ (as written
 * by `unizoo data scenes`, or a user's own COCO-style set), resizing every
 * image to size x size (boxes are kept relative to the image, so any
 * original size works) and tokenizing the captions to at most caption_len
 * ids (eos included). limit > 0 keeps the first `limit` images. */
uz_status uz_gen_scenes_load(const char *dir, const uz_tokenizer *tok, int channels, int size,
                             int64_t caption_len, int64_t limit, uz_gen_scenes *out);
void uz_gen_scenes_free(uz_gen_scenes *s);

/* Tokenizes texts[0..n) (no bos/eos unless eos) into rows of len. A text
 * longer than len is cut (its last id becomes eos when eos is asked for). */
uz_status uz_gen_texts_encode(const uz_tokenizer *tok, const char *const *texts, int64_t n,
                              int64_t len, bool eos, uz_gen_texts *out);
void uz_gen_texts_free(uz_gen_texts *t);

#endif
