/* Pre-training the generalist's backbone. Uni-Perceiver v2 starts from an
 * ImageNet-trained backbone (ResNet-50, Swin); we have no such checkpoint
 * for our small conv net, so a fresh run first trains it alone as an image
 * classifier on the training digits: global average pooling of F3 and a
 * linear layer, cross-entropy, AdamW, linear warm-up over a tenth of the
 * steps then cosine to lr / 100. The conv weights are kept, the head is
 * dropped. Only training-split digits are read. */
#ifndef UZ_BACKBONE_PRETRAIN_H
#define UZ_BACKBONE_PRETRAIN_H

#include "models/backbone.h"
#include "models/generalist_data.h"

typedef struct uz_backbone_pretrain_config {
    int64_t steps, batch;  /* batch digits drawn uniformly with replacement */
    float lr, weight_decay;
    uint64_t seed;         /* the draws and the head's initialisation */
} uz_backbone_pretrain_config;

typedef struct uz_backbone_pretrain_result {
    /* mean training loss and accuracy over the first and the last tenth of
     * the steps (at least one step each) */
    double first_loss, last_loss, first_accuracy, last_accuracy;
    double seconds;
} uz_backbone_pretrain_result;

/* Trains a copy of b (same widths, starting from b's current weights) as a
 * classifier of d's images into n_classes classes and writes its conv
 * weights back into b. Deterministic from cfg->seed. b's parameters must
 * be on the CPU. */
uz_status uz_backbone_pretrain(uz_backbone *b, const uz_gen_digits *d, int n_classes,
                               const uz_backbone_pretrain_config *cfg,
                               uz_backbone_pretrain_result *res);

#endif
