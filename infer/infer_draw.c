/* Drawing inference results onto their images (infer/infer_draw.h). */
#include "infer_draw.h"

#include "vision/image.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

enum { LABEL_TEXT = 96, TEXT_MAX = 2048 };

/* Ten well-separated colours (one per Fashion-MNIST class). */
static const uint8_t PALETTE[10][3] = {
    {230, 25, 75},  {60, 180, 75},  {255, 225, 25}, {0, 130, 200}, {245, 130, 48},
    {145, 30, 180}, {70, 240, 240}, {240, 50, 230}, {210, 245, 60}, {250, 190, 212}};
static const uint8_t WHITE[3] = {255, 255, 255}, BLACK[3] = {0, 0, 0};

/* The image at src in colour, upscaled to UZ_INFER_DRAW_MIN_SIDE on its
 * longer side; *scale is the factor. */
static uz_status load_upscaled(const char *src, uz_image *out, int *scale)
{
    uz_image rgb = {0};
    uz_status st = uz_image_load(src, 3, &rgb);
    if (st != UZ_OK)
        return st;
    int side = rgb.width > rgb.height ? rgb.width : rgb.height;
    int k = side < UZ_INFER_DRAW_MIN_SIDE ? (UZ_INFER_DRAW_MIN_SIDE + side - 1) / side : 1;
    st = uz_image_resize(&rgb, rgb.width * k, rgb.height * k, out);
    uz_image_free(&rgb);
    *scale = k;
    return st;
}

uz_status uz_infer_draw_boxes(const char *src, const uz_infer_box *boxes, int64_t n,
                              const char *dst)
{
    uz_image img = {0};
    int k;
    uz_status st = load_upscaled(src, &img, &k);
    for (int64_t i = n - 1; st == UZ_OK && i >= 0; i--) {
        const uz_infer_box *b = &boxes[i];
        float s = (float)k;
        int x0 = (int)lrintf(b->box[0] * s), y0 = (int)lrintf(b->box[1] * s);
        int x1 = (int)lrintf((b->box[0] + b->box[2]) * s) - 1;
        int y1 = (int)lrintf((b->box[1] + b->box[3]) * s) - 1;
        const uint8_t *c = PALETTE[(b->colour % 10 + 10) % 10];
        uz_image_draw_rect(&img, x0, y0, x1, y1, c, 2);
        char label[LABEL_TEXT];
        snprintf(label, sizeof label, "%s %.2f", b->label, (double)b->score);
        /* Above the box when it fits, else just inside its top edge, kept
         * inside the image; a filled tag (a rectangle thick enough to
         * close) behind the text. */
        int tw = 6 * (int)strlen(label) + 1, ty = y0 >= 10 ? y0 - 10 : y0 + 2;
        int tx = x0 + tw < img.width ? x0 : img.width - 1 - tw;
        tx = tx > 0 ? tx : 0;
        uz_image_draw_rect(&img, tx, ty, tx + tw, ty + 9, c, 5);
        uz_image_draw_text(&img, tx + 1, ty + 1, label, BLACK, 1);
    }
    if (st == UZ_OK)
        st = uz_image_save(dst, &img, 95);
    uz_image_free(&img);
    return st;
}

/* text with '\n' between words so that no line exceeds cols characters
 * (longer words are cut), into out[cap]; returns the number of lines. */
static int wrap(const char *text, int cols, char *out, size_t cap)
{
    size_t o = 0;
    int lines = 1, col = 0;
    for (const char *p = text; *p && o + 2 < cap;) {
        size_t word = strcspn(p, " ");
        if (word == 0) {
            p++;
            continue;
        }
        if (col > 0 && col + 1 + (int)word > cols) {
            out[o++] = '\n';
            lines++;
            col = 0;
        } else if (col > 0) {
            out[o++] = ' ';
            col++;
        }
        for (size_t i = 0; i < word && o + 2 < cap; i++) {
            if (col == cols) {
                out[o++] = '\n';
                lines++;
                col = 0;
            }
            out[o++] = p[i];
            col++;
        }
        p += word;
    }
    out[o] = '\0';
    return lines;
}

uz_status uz_infer_draw_text(const char *src, const char *text, const char *dst)
{
    uz_image img = {0}, out = {0};
    int k;
    uz_status st = load_upscaled(src, &img, &k);
    if (st == UZ_OK) {
        /* Double-size glyphs unless the image is too narrow for them. */
        int scale = img.width >= 2 * UZ_INFER_DRAW_MIN_SIDE / 3 ? 2 : 1, margin = 4;
        int cols = (img.width - 2 * margin) / (6 * scale);
        char wrapped[2 * TEXT_MAX];
        int lines = wrap(text, cols > 0 ? cols : 1, wrapped, sizeof wrapped);
        int band = lines * 8 * scale + 2 * margin;
        st = uz_image_pad(&img, img.width, img.height + band, 0, 0, 0, &out);
        if (st == UZ_OK) {
            uz_image_draw_text(&out, margin, img.height + margin, wrapped, WHITE, scale);
            st = uz_image_save(dst, &out, 95);
        }
    }
    uz_image_free(&img);
    uz_image_free(&out);
    return st;
}

/* Creates dir and its parents. */
static uz_status mkdir_p(const char *dir)
{
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", dir);
    for (char *p = buf + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char c = *p;
        *p = '\0';
        if (mkdir(buf, 0777) != 0 && errno != EEXIST)
            return UZ_FAIL(UZ_ERR_IO, "cannot create %s: %s", buf, strerror(errno));
        if (!(*p = c))
            return UZ_OK;
    }
}

typedef struct stem_ref {
    const char *stem;
    int64_t i;
} stem_ref;

/* By name, then by input order, so a repeated name's first keeps it. */
static int by_stem(const void *pa, const void *pb)
{
    const stem_ref *a = pa, *b = pb;
    int c = strcmp(a->stem, b->stem);
    return c ? c : (a->i > b->i) - (a->i < b->i);
}

static void free_strings(char **s, int64_t n)
{
    for (int64_t i = 0; s && i < n; i++)
        free(s[i]);
    free(s);
}

char **uz_infer_draw_paths(const char *dir, char *const *paths, const int64_t *lines, int64_t n)
{
    if (mkdir_p(dir) != UZ_OK)
        return NULL;
    char **out = calloc((size_t)n, sizeof(char *));
    char **stems = calloc((size_t)n, sizeof(char *));
    stem_ref *refs = calloc((size_t)n, sizeof(stem_ref));
    bool ok = out && stems && refs;
    for (int64_t i = 0; ok && i < n; i++) {
        const char *base = strrchr(paths[i], '/');
        base = base ? base + 1 : paths[i];
        const char *dot = strrchr(base, '.');
        size_t len = dot && dot > base ? (size_t)(dot - base) : strlen(base);
        if ((ok = (stems[i] = malloc(len + 1)) != NULL)) {
            memcpy(stems[i], base, len);
            stems[i][len] = '\0';
            refs[i] = (stem_ref){stems[i], i};
        }
    }
    if (ok)
        qsort(refs, (size_t)n, sizeof *refs, by_stem);
    for (int64_t k = 0; ok && k < n; k++) {
        int64_t i = refs[k].i;
        bool repeat = k > 0 && strcmp(refs[k - 1].stem, refs[k].stem) == 0;
        size_t cap = strlen(dir) + strlen(stems[i]) + 32;
        if ((ok = (out[i] = malloc(cap)) != NULL)) {
            if (repeat)
                snprintf(out[i], cap, "%s/%s-%lld.png", dir, stems[i], (long long)lines[i]);
            else
                snprintf(out[i], cap, "%s/%s.png", dir, stems[i]);
        }
    }
    free_strings(stems, n);
    free(refs);
    if (!ok) {
        free_strings(out, n);
        UZ_FAIL(UZ_ERR_NOMEM, "out of memory naming the drawings");
        return NULL;
    }
    return out;
}
