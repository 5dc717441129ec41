/* COCO-format annotation files: instances (images, categories, boxes) and
 * captions, read with full validation and written atomically.
 *
 * The reader's errors name the file and the entry, e.g.
 * "instances.json: annotations[12]: bbox must have 4 numbers", so a user
 * pointing training at their own data learns exactly what to fix. */
#ifndef UZ_DATASETS_COCO_H
#define UZ_DATASETS_COCO_H

#include <stdint.h>

#include "core/error.h"

/* How far (pixels) a box may reach past the image border: real COCO boxes
 * overshoot by rounding, up to a fraction of a pixel. */
#define UZ_COCO_BBOX_SLACK 1.0f

typedef struct uz_coco_image {
    int64_t id;
    const char *file_name; /* relative to the image root */
    int width, height;
} uz_coco_image;

typedef struct uz_coco_category {
    int64_t id;
    const char *name;
} uz_coco_category;

typedef struct uz_coco_annotation {
    int64_t id, image_id, category_id;
    float bbox[4]; /* x, y, width, height in pixels; (x, y) is the top-left corner */
    float area;    /* optional in the file: defaults to width * height */
    int iscrowd;   /* optional in the file: defaults to 0 */
    /* Filled by the reader (the writer ignores them): indices into images
     * and categories. */
    int64_t image;
    int category;
} uz_coco_annotation;

typedef struct uz_coco_caption {
    int64_t id, image_id;
    const char *caption;
    int64_t image; /* filled by the reader: index into images */
} uz_coco_caption;

/* Entries keep the files' order. The writer reads only the four arrays and
 * their counts, so a caller may fill them by hand (with its own strings);
 * the rest is the reader's. */
typedef struct uz_coco {
    uz_coco_image *images;
    int64_t n_images;
    uz_coco_category *categories;
    int n_categories;
    uz_coco_annotation *annotations;
    int64_t n_annotations;
    uz_coco_caption *captions;
    int64_t n_captions;

    /* Per-image lookups (CSR): the annotations of image i are
     * annotations[ann_index[ann_start[i] .. ann_start[i + 1] - 1]], in file
     * order; likewise captions through cap_start / cap_index. */
    int64_t *ann_start, *ann_index;
    int64_t *cap_start, *cap_index;

    /* Reader-owned storage: image / category positions sorted by id for the
     * id lookups, and one pool for every string. */
    int64_t *image_by_id;
    int64_t *category_by_id;
    char *strings;
} uz_coco;

/* Reads an instances file and / or a captions file (either may be NULL, not
 * both). With both, the images come from the instances file, and every image
 * the captions file lists must be there with the same file name and size.
 *
 * Checked: well-formed JSON (errors give line and column), the top-level
 * arrays, every field's presence and type, integral ids, unique image,
 * category, annotation and caption ids, positive image sizes, annotations'
 * and captions' image_id / category_id naming a listed image / category,
 * 4-number bboxes with positive width and height inside the image (within
 * UZ_COCO_BBOX_SLACK), area >= 0 and iscrowd 0 or 1 when present, non-empty
 * file names, category names and captions. Unknown fields (segmentation,
 * supercategory, info, licenses) are ignored.
 *
 * image_root non-NULL also requires every image file to exist under it:
 * "instances.json: images[3] 'x.jpg': missing image file <root>/x.jpg". */
uz_status uz_coco_load(const char *instances_path, const char *captions_path,
                       const char *image_root, uz_coco *out);
void uz_coco_free(uz_coco *c);

/* Writes {"images", "categories", "annotations"} (instances) or
 * {"images", "annotations"} with the captions (captions), after the same
 * checks as the reader, so what is written always reads back. Atomic (temp
 * file, fsync, rename) and stable: the same struct gives the same bytes,
 * fields in a fixed order, floats in their shortest exact form. */
uz_status uz_coco_save_instances(const char *path, const uz_coco *c);
uz_status uz_coco_save_captions(const char *path, const uz_coco *c);

/* Index of the image / category with this id, or -1. Reader-loaded only. */
int64_t uz_coco_image_index(const uz_coco *c, int64_t id);
int uz_coco_category_index(const uz_coco *c, int64_t id);

/* The annotation / caption indices of image i and their count. */
const int64_t *uz_coco_image_annotations(const uz_coco *c, int64_t image, int64_t *n);
const int64_t *uz_coco_image_captions(const uz_coco *c, int64_t image, int64_t *n);

#endif
