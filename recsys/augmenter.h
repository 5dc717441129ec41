/* MCLRec's learnable augmenter F_phi (the official Extractor): a 3-layer
 * MLP d -> d/2 -> d/4 -> d with GELU (erf) after the first two layers and a
 * row-wise L2 normalisation of the output, applied to a sequence
 * representation [B, d]. The official code hard-codes 64 -> 32 -> 16 -> 64;
 * here the widths follow the hidden size d (a multiple of 4).
 *
 * Parameter names are the official module's under a prefix:
 * "<prefix>.dense_{1,2,3}.{weight,bias}" (MCLRec uses "aug_1" and "aug_2"),
 * weights [out, in] as PyTorch's Linear. */
#ifndef UZ_RECSYS_AUGMENTER_H
#define UZ_RECSYS_AUGMENTER_H

#include "core/unizoo.h"

enum { UZ_AUGMENTER_LAYERS = 3 };

typedef struct uz_augmenter {
    int64_t width[UZ_AUGMENTER_LAYERS + 1];    /* d, d/2, d/4, d */
    uz_tensor *weight[UZ_AUGMENTER_LAYERS];
    uz_tensor *bias[UZ_AUGMENTER_LAYERS];
} uz_augmenter;

/* Declares the augmenter's parameters in p as "<prefix>.dense_<i>.*". */
uz_status uz_augmenter_declare(uz_augmenter *a, uz_params *p, const char *prefix, int64_t hidden);

/* PyTorch's default Linear init (kaiming-uniform with a = sqrt(5)):
 * U(-1/sqrt(in), 1/sqrt(in)) for weights and biases, the official code
 * applying no init of its own to the augmenters. Tensor i draws from Philox
 * stream first_stream + i. Call after uz_params_finalize. */
void uz_augmenter_init(const uz_augmenter *a, uint64_t seed, uint64_t first_stream);

/* h [B, d] -> z [B, d] with unit rows. */
uz_tensor *uz_augmenter_forward(uz_ctx *ctx, const uz_augmenter *a, uz_tensor *h);

/* Turns the augmenter's parameters' requires_grad on or off (MCLRec's
 * frozen augmenters in the encoder steps). */
void uz_augmenter_set_trainable(const uz_augmenter *a, bool on);

#endif
