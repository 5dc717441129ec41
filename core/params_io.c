/* Parameter checkpoints as safetensors: one F32 tensor per parameter, under
 * its PyTorch-style name, so the files load in PyTorch as a state dict. */
#include "alloc.h"
#include "device.h"
#include "params.h"
#include "safetensors.h"
#include "safetensors_internal.h"

#include <string.h>

/* Parameters on a device pass through a host copy of the whole store: the
 * file is written from it, or read into it and copied over once every
 * tensor has been read. *host stays NULL for parameters on the CPU. */
static uz_status host_copy(uz_params *p, float **host)
{
    *host = NULL;
    if (uz_params_device(p) == UZ_DEVICE_CPU)
        return UZ_OK;
    size_t bytes = sizeof(float) * (size_t)uz_params_numel(p);
    *host = uz_malloc(bytes, "checkpoint staging");
    if (!*host)
        return uz_error_status();
    return uz_memcpy(*host, UZ_DEVICE_CPU, uz_params_data(p), uz_params_device(p), bytes);
}

/* Where t's values are on the host: in t itself, or at its offset in host. */
static float *at_host(uz_params *p, float *host, const uz_tensor *t)
{
    return host ? host + (t->data - uz_params_data(p)) : t->data;
}

uz_status uz_params_save(uz_params *p, const char *path)
{
    if (!p || !path)
        return UZ_FAIL(UZ_ERR_ARG, "params save: NULL argument");
    int n = uz_params_count(p);
    if (n > 0 && !uz_params_data(p))
        return UZ_FAIL(UZ_ERR_ARG, "params save %s: parameters are not finalized", path);
    float *host = NULL;
    uz_status st = host_copy(p, &host);
    if (st != UZ_OK)
        return st;
    uz_st_entry *e = uz_malloc(sizeof *e * (size_t)(n ? n : 1), "checkpoint entries");
    if (!e) {
        uz_free(host);
        return uz_error_status();
    }
    for (int i = 0; i < n; i++) {
        const uz_tensor *t = uz_params_at(p, i);
        e[i] = (uz_st_entry){t->name, UZ_F32, t->ndim, t->shape, at_host(p, host, t)};
    }
    /* transformers' loaders ask for format "pt" before trusting a file. */
    static const char *const keys[] = {"format"}, *const values[] = {"pt"};
    st = uz_st_write(path, e, n, keys, values, 1);
    uz_free(e);
    uz_free(host);
    return st;
}

/* Checks every name and shape before copying anything, so a failed load
 * leaves the parameters as they were. */
static uz_status check_match(uz_params *p, const uz_st_file *f, const char *path)
{
    int n = uz_params_count(p);
    for (int i = 0; i < n; i++) {
        const uz_tensor *t = uz_params_at(p, i);
        const uz_st_tensor *s = uz_st_find(f, t->name);
        if (!s)
            return UZ_FAIL(UZ_ERR_FORMAT, "%s: parameter '%s' is missing from the file", path,
                           t->name);
        bool same = s->ndim == t->ndim;
        for (int d = 0; same && d < t->ndim; d++)
            same = s->shape[d] == t->shape[d];
        if (!same) {
            char have[UZ_SHAPE_STR_LEN], want[UZ_SHAPE_STR_LEN];
            return UZ_FAIL(UZ_ERR_FORMAT, "%s: tensor '%s' has shape %s in the file but %s in the model",
                           path, t->name, uz_st_dims_str(s->ndim, s->shape, have, sizeof have),
                           uz_shape_str(t, want, sizeof want));
        }
    }
    /* Names are unique on both sides, so equal counts mean no extras. */
    if (uz_st_count(f) != n)
        for (int i = 0; i < uz_st_count(f); i++) {
            const char *name = uz_st_at(f, i)->name;
            if (!uz_params_find(p, name))
                return UZ_FAIL(UZ_ERR_FORMAT, "%s: tensor '%s' is not a parameter of the model",
                               path, name);
        }
    return UZ_OK;
}

uz_status uz_params_load(uz_params *p, const char *path)
{
    if (!p || !path)
        return UZ_FAIL(UZ_ERR_ARG, "params load: NULL argument");
    int n = uz_params_count(p);
    if (n > 0 && !uz_params_data(p))
        return UZ_FAIL(UZ_ERR_ARG, "params load %s: parameters are not finalized", path);
    uz_st_file *f = NULL;
    uz_status st = uz_st_open(path, &f);
    if (st != UZ_OK)
        return st;
    st = check_match(p, f, path);
    float *host = NULL;
    if (st == UZ_OK)
        st = host_copy(p, &host);
    for (int i = 0; st == UZ_OK && i < n; i++) {
        uz_tensor *t = uz_params_at(p, i);
        st = uz_st_read_f32(f, t->name, t->ndim, t->shape, at_host(p, host, t));
    }
    if (st == UZ_OK && host)
        st = uz_memcpy(uz_params_data(p), uz_params_device(p), host, UZ_DEVICE_CPU,
                       sizeof(float) * (size_t)uz_params_numel(p));
    uz_free(host);
    uz_st_close(f);
    return st;
}
