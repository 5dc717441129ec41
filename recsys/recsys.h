/* Sequential recommendation: data, splits and batches, ranking metrics,
 * offline top-K. Other parts add their header here with one include line. */
#ifndef UZ_RECSYS_H
#define UZ_RECSYS_H

#include "datasets/seqrec.h"
#include "recsys/split.h"
#include "recsys/metrics.h"
#include "recsys/recommend.h"
#include "recsys/augment.h"
#include "recsys/mclrec.h"
#include "recsys/sasrec.h"

#endif
