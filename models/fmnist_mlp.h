/* The "mlp" model family: Fashion-MNIST through a shared MLP trunk and one
 * linear head per task. Each head learns its own labelling of the same
 * images: "classes" (the 10 classes) or "coarse" (5 groups: tops, trousers,
 * dresses, footwear, bags), which makes a small multi-task problem for
 * unmixed sampling and MT-AdamW. Parameters: "trunk.fc<i>.weight/bias",
 * "head<k>.fc0.weight/bias". */
#ifndef UZ_FMNIST_MLP_H
#define UZ_FMNIST_MLP_H

#include "train/model.h"

extern const uz_model_family uz_family_mlp;

/* The coarse group (0..4) of each Fashion-MNIST class. */
extern const int32_t uz_fmnist_coarse[10];

#endif
