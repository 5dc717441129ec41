/* The generalised-IoU box loss 1 - GIoU on cxcywh rows, a row per iteration
 * of core/box_giou_row.h (shared with the CUDA kernels). */
#include "nn.h"

#include "../box_giou_row.h"

enum { GIOU_PAR_MIN = 4096 }; /* rows */

void uz_cpu_giou_loss_forward(float *loss, const float *pred, const float *target, int64_t n)
{
#pragma omp parallel for if (n > GIOU_PAR_MIN) schedule(static)
    for (int64_t i = 0; i < n; i++)
        loss[i] = uz_giou_row_loss(pred + 4 * i, target + 4 * i);
}

void uz_cpu_giou_loss_backward(float *dpred, float *dtarget, const float *dloss,
                               const float *pred, const float *target, int64_t n)
{
#pragma omp parallel for if (n > GIOU_PAR_MIN) schedule(static)
    for (int64_t i = 0; i < n; i++)
        uz_giou_row_backward(dpred ? dpred + 4 * i : NULL, dtarget ? dtarget + 4 * i : NULL,
                             dloss[i], pred + 4 * i, target + 4 * i);
}
