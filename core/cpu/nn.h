/* The CPU nn kernels, one file per op (softmax.c, cross_entropy.c, ...),
 * gathered into uz_cpu_kernels_nn by nn.c. */
#ifndef UZ_CPU_NN_H
#define UZ_CPU_NN_H

#include "../kernels_nn.h"

/* Below this many elements an op runs on one thread: forking costs more. */
#define UZ_NN_PAR_MIN 32768

void uz_cpu_softmax_forward(float *y, const float *x, const uz_nn_mask *mask, int64_t n,
                            int64_t c, bool log_space);
void uz_cpu_softmax_backward(float *dx, const float *dy, const float *y, int64_t n, int64_t c,
                             bool log_space);

void uz_cpu_cross_entropy_forward(float *loss, float *lse, float *row_loss, const float *x,
                                  const int32_t *targets, int64_t n, int64_t c,
                                  int32_t ignore_index, float smoothing, int64_t count);
void uz_cpu_cross_entropy_backward(float *dx, bool dx_assign, const float *dloss, const float *x,
                                   const float *lse, const int32_t *targets, int64_t n, int64_t c,
                                   int32_t ignore_index, float smoothing, int64_t count);

void uz_cpu_layer_norm_forward(float *y, float *mean, float *rstd, const float *x,
                               const float *w, const float *b, int64_t n, int64_t c, float eps);
void uz_cpu_layer_norm_backward(float *dx, bool dx_assign, float *dw, float *db, const float *dy,
                                const float *x, const float *w, const float *mean,
                                const float *rstd, int64_t n, int64_t c, float *scratch);

void uz_cpu_dropout_forward(float *y, const float *x, int64_t n, float p, uint64_t seed,
                            uint64_t stream);
void uz_cpu_dropout_backward(float *dx, bool dx_assign, const float *dy, int64_t n, float p,
                             uint64_t seed, uint64_t stream);

void uz_cpu_embedding_forward(float *y, const float *table, const int32_t *ids, int64_t n,
                              int64_t d);
void uz_cpu_embedding_backward(float *dtable, const float *dy, const int32_t *ids, int64_t n,
                               int64_t d, int32_t padding_idx);

void uz_cpu_l2_normalize_forward(float *y, float *norm, const float *x, int64_t n, int64_t c,
                                 float eps);
void uz_cpu_l2_normalize_backward(float *dx, const float *dy, const float *y, const float *norm,
                                  int64_t n, int64_t c, float eps);

void uz_cpu_bce_logits_forward(float *loss, const float *x, const float *y, const float *w,
                               int64_t n);
void uz_cpu_bce_logits_backward(float *dx, const float *dloss, const float *x, const float *y,
                                const float *w, int64_t n);
void uz_cpu_focal_logits_forward(float *loss, const float *x, const float *y, int64_t n,
                                 float alpha, float gamma);
void uz_cpu_focal_logits_backward(float *dx, const float *dloss, const float *x, const float *y,
                                  int64_t n, float alpha, float gamma);

void uz_cpu_giou_loss_forward(float *loss, const float *pred, const float *target, int64_t n);
void uz_cpu_giou_loss_backward(float *dpred, float *dtarget, const float *dloss,
                               const float *pred, const float *target, int64_t n);

#endif
