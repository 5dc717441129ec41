/* Training: the public header of train/. Optimizers, FP8 moment storage,
 * learning-rate and batch-size schedules, task sampling, data-parallel
 * communication, the model interface, configs, checkpoints and the trainer. */
#ifndef UZ_TRAIN_H
#define UZ_TRAIN_H

#include "train/checkpoint.h"
#include "train/comm.h"
#include "train/config.h"
#include "train/fp8.h"
#include "train/model.h"
#include "train/optim.h"
#include "train/order.h"
#include "train/plot.h"
#include "train/sampler.h"
#include "train/schedule.h"
#include "train/trainer.h"

#endif
