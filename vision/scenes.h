/* Synthetic scenes for detection, captioning and retrieval: 1 to 4
 * Fashion-MNIST items at random positions and scales on a dark square
 * canvas, each with its tight box, and three captions describing the items
 * and their layout ("a sneaker left of a bag"). Written as JPEG files plus
 * COCO instances / captions JSON; everything follows from the seed.
 *
 * Scene i of a split draws only from its own Philox stream (uz_scene_stream),
 * so it is the same whatever the thread count or the number of scenes. */
#ifndef UZ_VISION_SCENES_H
#define UZ_VISION_SCENES_H

#include <stdbool.h>
#include <stdint.h>

#include "datasets/datasets.h"
#include "vision/image.h"

#define UZ_SCENE_DEFAULT_SIZE 64
#define UZ_SCENE_MIN_SIZE 16
#define UZ_SCENE_MAX_SIZE 1024
#define UZ_SCENE_MAX_ITEMS 4
#define UZ_SCENE_CAPTIONS 3
#define UZ_SCENE_CAPTION_LEN 128
/* A scaled item's pixels above this (of 255) make up its box: bilinear
 * upscaling leaves a faint fringe that is not part of the object. */
#define UZ_SCENE_THRESHOLD 16
/* A placement overlapping an earlier item's box by more than this IoU is
 * redrawn. */
#define UZ_SCENE_MAX_IOU 0.1f

typedef struct uz_scene_item {
    int label;      /* Fashion-MNIST class, 0..9 */
    int64_t source; /* index of the item in its split */
    int box[4];     /* x, y, width, height in pixels (COCO's xywh) */
} uz_scene_item;

typedef struct uz_scene {
    uz_image image; /* size x size, 1 channel, items composited with max */
    int n_items;
    uz_scene_item items[UZ_SCENE_MAX_ITEMS]; /* in placement order */
    /* 0: the items left to right ("a bag, a dress and a sandal");
     * 1: one item's place ("a sneaker at the top left") or how the two
     *    largest lie ("a shirt above a coat", "a sneaker left of a bag");
     * 2: the count, items top to bottom ("two items: a shirt and a coat"). */
    char captions[UZ_SCENE_CAPTIONS][UZ_SCENE_CAPTION_LEN];
} uz_scene;

/* The Philox stream of scene i (0-based) of the train or test split. */
uint64_t uz_scene_stream(bool train, int64_t i);

/* Renders one size x size scene from the items of src (one split) with
 * (seed, stream). Item sides are drawn in size/4 .. size/2 (16..32 px at 64);
 * each placement is retried (a fresh item, scale and position) until it
 * overlaps the earlier ones by at most UZ_SCENE_MAX_IOU, and an item that
 * finds no place after 64 tries is left out, so a scene has 1 to 4 items. */
uz_status uz_scene_render(const uz_fmnist *src, int size, uint64_t seed, uint64_t stream,
                          uz_scene *out);
void uz_scene_free(uz_scene *s);

/* Writes n scenes of a split under dir/<split>/ (split "train" or "test";
 * directories are created): images/%06d.jpg (JPEG quality 95, numbered from
 * 1 like the image ids), instances.json (categories: the 10 classes with
 * ids 1..10 and their caption names) and captions.json (3 per image). File
 * names in the JSON are relative to dir/<split>/images. Rendering and
 * encoding run in parallel (OpenMP); the output is the same for any thread
 * count. Images are renamed into place and the file system is synced once
 * before the JSON files are written (atomically), so a split whose JSON
 * exists has all its images. *n_items (may be NULL) receives the number of
 * items placed. */
uz_status uz_scenes_write(const char *dir, bool train, const uz_fmnist *src, int64_t n,
                          uint64_t seed, int size, int64_t *n_items);

#endif
