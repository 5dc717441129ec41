/* Readers for on-disk data sets. */
#ifndef UZ_DATASETS_H
#define UZ_DATASETS_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "datasets/coco.h"
#include "datasets/seqrec.h"

/* A data path as the models read it: "~/" expands to $HOME; a relative
 * path that does not exist from the working directory is tried relative
 * to the repository of the running executable (the parent of its build
 * directory), so the zoo's "../shared/..." paths work from anywhere. */
void uz_data_path_resolve(const char *path, char *out, size_t n);

/* An IDX file (the MNIST format), gzip-compressed or raw. */
typedef struct uz_idx {
    uint8_t *data;        /* unsigned-byte payload, row-major */
    int ndim;
    int64_t dims[4];
} uz_idx;

/* Validates magic, type (unsigned byte only), rank and that the payload is
 * complete; errors name the file. */
uz_status uz_idx_load(const char *path, uz_idx *out);
void uz_idx_free(uz_idx *idx);

/* Fashion-MNIST from Debian's dataset-fashion-mnist package. */
#define UZ_FMNIST_DEFAULT_DIR "/usr/share/datasets/fashion-mnist"

typedef struct uz_fmnist {
    float *images;        /* n x 784, pixel / 255 */
    int32_t *labels;      /* n, in 0..9 */
    int64_t n;
} uz_fmnist;

/* Loads the train (60k) or test (10k) split from dir (NULL = default). */
uz_status uz_fmnist_load(const char *dir, int train, uz_fmnist *out);
void uz_fmnist_free(uz_fmnist *d);
extern const char *const uz_fmnist_classes[10];
/* The classes as words in a sentence ("a sneaker left of an ankle boot"). */
extern const char *const uz_fmnist_caption_names[10];

#endif
