/* The vision folder's public header: image I/O and transforms, boxes,
 * matching, detection metrics and the synthetic scene generator. */
#ifndef UZ_VISION_H
#define UZ_VISION_H

#include "vision/image.h"
#include "vision/scenes.h"
#include "vision/boxes.h"
#include "vision/hungarian.h"
#include "vision/det_metrics.h"
#include "vision/retrieval_metrics.h"

#endif
