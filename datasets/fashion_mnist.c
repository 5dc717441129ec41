/* Fashion-MNIST (Xiao et al., 2017) from its four IDX files. */
#include "datasets.h"

#include "core/alloc.h"

#include <stdio.h>

const char *const uz_fmnist_classes[10] = {"t-shirt", "trouser", "pullover", "dress", "coat",
                                           "sandal",  "shirt",   "sneaker",  "bag",   "boot"};
const char *const uz_fmnist_caption_names[10] = {"t-shirt", "trouser", "pullover", "dress",
                                                 "coat",    "sandal",  "shirt",    "sneaker",
                                                 "bag",     "ankle boot"};

uz_status uz_fmnist_load(const char *dir, int train, uz_fmnist *out)
{
    *out = (uz_fmnist){0};
    if (!dir)
        dir = UZ_FMNIST_DEFAULT_DIR;
    const char *prefix = train ? "train" : "t10k";
    char ipath[1024], lpath[1024];
    snprintf(ipath, sizeof ipath, "%s/%s-images-idx3-ubyte.gz", dir, prefix);
    snprintf(lpath, sizeof lpath, "%s/%s-labels-idx1-ubyte.gz", dir, prefix);
    uz_idx im, lb;
    uz_status st = uz_idx_load(ipath, &im);
    if (st != UZ_OK)
        return st;
    st = uz_idx_load(lpath, &lb);
    if (st != UZ_OK) {
        uz_idx_free(&im);
        return st;
    }
    if (im.ndim != 3 || im.dims[1] != 28 || im.dims[2] != 28 || lb.ndim != 1 ||
        lb.dims[0] != im.dims[0]) {
        st = UZ_FAIL(UZ_ERR_FORMAT, "%s: expected n x 28 x 28 images with n labels in %s", ipath, lpath);
        goto done;
    }
    int64_t n = im.dims[0];
    out->images = uz_malloc(sizeof(float) * (size_t)(n * 784), "fashion-mnist images");
    out->labels = uz_malloc(sizeof(int32_t) * (size_t)n, "fashion-mnist labels");
    if (!out->images || !out->labels) {
        st = UZ_ERR_NOMEM;
        goto done;
    }
    for (int64_t i = 0; i < n * 784; i++)
        out->images[i] = (float)im.data[i] * (1.0f / 255.0f);
    for (int64_t i = 0; i < n; i++) {
        if (lb.data[i] > 9) {
            st = UZ_FAIL(UZ_ERR_FORMAT, "%s: label %d of item %lld is not in 0..9", lpath,
                         lb.data[i], (long long)i);
            goto done;
        }
        out->labels[i] = lb.data[i];
    }
    out->n = n;
done:
    uz_idx_free(&im);
    uz_idx_free(&lb);
    if (st != UZ_OK)
        uz_fmnist_free(out);
    return st;
}

void uz_fmnist_free(uz_fmnist *d)
{
    uz_free(d->images);
    uz_free(d->labels);
    *d = (uz_fmnist){0};
}
