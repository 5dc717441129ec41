/* The CPU nn kernel table; the kernels live in one file per op. */
#include "kernels_cpu.h"
#include "nn.h"

const struct uz_kernels_nn uz_cpu_kernels_nn = {
    .softmax_forward = uz_cpu_softmax_forward,
    .softmax_backward = uz_cpu_softmax_backward,
    .cross_entropy_forward = uz_cpu_cross_entropy_forward,
    .cross_entropy_backward = uz_cpu_cross_entropy_backward,
    .layer_norm_forward = uz_cpu_layer_norm_forward,
    .layer_norm_backward = uz_cpu_layer_norm_backward,
    .dropout_forward = uz_cpu_dropout_forward,
    .dropout_backward = uz_cpu_dropout_backward,
    .embedding_forward = uz_cpu_embedding_forward,
    .embedding_backward = uz_cpu_embedding_backward,
    .l2_normalize_forward = uz_cpu_l2_normalize_forward,
    .l2_normalize_backward = uz_cpu_l2_normalize_backward,
    .bce_logits_forward = uz_cpu_bce_logits_forward,
    .bce_logits_backward = uz_cpu_bce_logits_backward,
    .focal_logits_forward = uz_cpu_focal_logits_forward,
    .focal_logits_backward = uz_cpu_focal_logits_backward,
    .giou_loss_forward = uz_cpu_giou_loss_forward,
    .giou_loss_backward = uz_cpu_giou_loss_backward,
};
