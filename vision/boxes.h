/* Axis-aligned boxes: format conversions, IoU / GIoU matrices on plain
 * float arrays (for matching costs and metrics), and the differentiable
 * GIoU loss for training box regression.
 *
 * Formats, rows of 4 floats: cxcywh (centre, width, height: what the
 * detector predicts, normalised to [0, 1]), xyxy (corners x0, y0, x1, y1)
 * and xywh (COCO's top-left corner, width, height). A box with a negative
 * width or height counts as empty (area 0) everywhere here. */
#ifndef UZ_VISION_BOXES_H
#define UZ_VISION_BOXES_H

#include <stdint.h>

#include "core/tensor.h"

/* n rows converted from in to out; out may be in (in place). */
void uz_box_cxcywh_to_xyxy(float *out, const float *in, int64_t n);
void uz_box_xyxy_to_cxcywh(float *out, const float *in, int64_t n);
void uz_box_xywh_to_xyxy(float *out, const float *in, int64_t n);
void uz_box_xyxy_to_xywh(float *out, const float *in, int64_t n);

/* out[i * m + j] = IoU of a[i] and b[j], boxes xyxy; two empty boxes have
 * IoU 0 (not NaN). */
void uz_box_iou_matrix(float *out, const float *a, int64_t n, const float *b, int64_t m);
/* The same for GIoU = IoU - (C - U) / C, C the area of the smallest box
 * enclosing both, U the union; the second term is 0 when C is 0. In [-1, 1]. */
void uz_box_giou_matrix(float *out, const float *a, int64_t n, const float *b, int64_t m);

/* 1 - GIoU of pred[i] and target[i], both [..., 4] cxcywh of one shape ->
 * [...]: torchvision's generalized_box_iou_loss (reduction "none", eps 1e-7
 * on the union and the enclosing area) on the converted boxes, with widths
 * and heights clamped at 0 (a clamped size gets no gradient). Differentiable
 * in both inputs; finite for degenerate (zero-size, coincident) boxes. Ties
 * between corners inside the min/max split the gradient evenly, as PyTorch. */
uz_tensor *uz_box_giou_loss(uz_ctx *ctx, uz_tensor *pred, uz_tensor *target);

#endif
