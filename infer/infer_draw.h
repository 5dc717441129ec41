/* Drawings of `unizoo infer` results: the input image in colour, upscaled
 * so that labels stay legible, with detection boxes and their labels on it
 * or a text (a caption, the top label) in a band below it; and the file
 * names the drawings of a list get. */
#ifndef UZ_INFER_DRAW_H
#define UZ_INFER_DRAW_H

#include <stdint.h>

#include "core/error.h"

/* Drawings of images whose longer side is below this are upscaled by the
 * smallest integer factor that reaches it (the font is 6 x 8 pixels). */
enum { UZ_INFER_DRAW_MIN_SIDE = 256 };

typedef struct uz_infer_box {
    float box[4];      /* x, y, w, h in the source image's pixels */
    float score;
    const char *label;
    int colour;        /* palette entry (the class), any int */
} uz_infer_box;

/* The image at src with boxes[0..n) (best first: the best label is drawn
 * last, on top), saved to dst (by its extension). */
uz_status uz_infer_draw_boxes(const char *src, const uz_infer_box *boxes, int64_t n,
                              const char *dst);
/* The image at src with text in a band below it, wrapped at spaces, saved
 * to dst. */
uz_status uz_infer_draw_text(const char *src, const char *text, const char *dst);

/* The drawing of each of paths[0..n), created under dir (made with its
 * parents when missing): dir/NAME.png, NAME the file name without its
 * extension; a NAME that repeats gets "-LINE" (lines[i]) after the first.
 * malloc'd strings in a malloc'd array; NULL with the error set. */
char **uz_infer_draw_paths(const char *dir, char *const *paths, const int64_t *lines, int64_t n);

#endif
