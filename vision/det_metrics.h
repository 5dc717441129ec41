/* COCO-style box mean average precision, computed as pycocotools'
 * COCOeval(iouType="bbox") does for area range "all" and maxDets 100. */
#ifndef UZ_VISION_DET_METRICS_H
#define UZ_VISION_DET_METRICS_H

#include <stdbool.h>
#include <stdint.h>

#include "core/error.h"

/* One detection: box is COCO xywh (top-left corner, width, height). */
typedef struct uz_det_pred {
    int64_t image_id;
    int64_t category_id;
    double score;
    double box[4];
} uz_det_pred;

/* One ground-truth object. A crowd region is never a miss: a detection it
 * matches is neither a true nor a false positive, and it may absorb many. */
typedef struct uz_det_gt {
    int64_t image_id;
    int64_t category_id;
    double box[4];
    bool iscrowd;
} uz_det_gt;

enum { UZ_DET_N_IOU = 10 }; /* IoU thresholds .50:.05:.95 */

typedef struct uz_det_map {
    double ap;                   /* mean over the ten thresholds (COCO "AP") */
    double ap50, ap75;
    double ap_at[UZ_DET_N_IOU];  /* per threshold, .50 first */
    int64_t n_categories;        /* categories with non-crowd ground truth */
} uz_det_map;

/* Per category and image, detections are ranked by score (descending,
 * stable in input order), only the first 100 kept, and each is matched
 * greedily at every threshold to the unmatched ground truth it overlaps
 * most (IoU >= threshold; a crowd region's IoU is intersection over the
 * detection's area). Per category, precision over the pooled ranking is
 * made monotone and read at the 101 recall points 0:.01:1; AP averages them.
 * Categories without non-crowd ground truth are left out of the mean
 * (their detections count nowhere); with none left, every AP is -1, as
 * pycocotools reports. Image and category ids are arbitrary integers.
 * Boxes must be finite with width, height >= 0 and scores finite, else an
 * error names the entry. */
uz_status uz_det_map_compute(const uz_det_pred *dets, int64_t n_dets, const uz_det_gt *gts,
                             int64_t n_gts, uz_det_map *out);

/* One category's AP (mean over the ten thresholds) and AP@.5. */
typedef struct uz_det_category_ap {
    int64_t category_id;
    double ap, ap50;
} uz_det_category_ap;

/* uz_det_map_compute, and the APs its mean is taken over: one entry per
 * category with non-crowd ground truth, in ascending id, into cats (room
 * for cap), *n_cats set to their number. More categories than cap is an
 * error that leaves *n_cats 0 and out unset. */
uz_status uz_det_map_compute_categories(const uz_det_pred *dets, int64_t n_dets,
                                        const uz_det_gt *gts, int64_t n_gts, uz_det_map *out,
                                        uz_det_category_ap *cats, int64_t cap, int64_t *n_cats);

/* Keeps each image's per_image highest-scoring detections (input order
 * breaks ties) whatever their category, as DETR-family detectors report
 * their top (query, class) pairs: compacts dets in input order and sets
 * *n_kept. Detections are checked as uz_det_map_compute checks them. */
uz_status uz_det_keep_top(uz_det_pred *dets, int64_t n_dets, int64_t per_image,
                          int64_t *n_kept);

#endif
