/* safetensors files (https://github.com/huggingface/safetensors format):
 * 8-byte little-endian header length, a JSON header mapping names to
 * {dtype, shape, data_offsets} (plus an optional "__metadata__" object of
 * strings), then the raw little-endian data. Reading maps the file;
 * writing is atomic (temp file, fsync, rename). */
#ifndef UZ_SAFETENSORS_H
#define UZ_SAFETENSORS_H

#include "params.h"
#include "tensor.h"

typedef enum uz_dtype { UZ_F32, UZ_F64, UZ_I32, UZ_I64, UZ_U8, UZ_BF16, UZ_F16 } uz_dtype;

typedef struct uz_st_tensor {
    const char *name;
    uz_dtype dtype;
    int ndim;
    int64_t shape[UZ_MAX_DIMS];
    const void *data;     /* into the mapping: valid until uz_st_close */
    size_t nbytes;
} uz_st_tensor;

typedef struct uz_st_file uz_st_file;

/* Maps and validates the whole file: header size and JSON, dtypes, shapes,
 * offsets inside the data area, contiguous non-overlapping coverage. Every
 * failure names the file and what is wrong. */
uz_status uz_st_open(const char *path, uz_st_file **out);
void uz_st_close(uz_st_file *f);

int uz_st_count(const uz_st_file *f);
const uz_st_tensor *uz_st_at(const uz_st_file *f, int i);
/* NULL (error set, naming the file and tensor) when absent. */
const uz_st_tensor *uz_st_find(const uz_st_file *f, const char *name);
/* A "__metadata__" string value, or NULL. */
const char *uz_st_metadata(const uz_st_file *f, const char *key);

/* Copies tensor `name` into dst as float32 (from any dtype above),
 * requiring exactly this shape; a mismatch names both shapes. */
uz_status uz_st_read_f32(const uz_st_file *f, const char *name, int ndim, const int64_t *shape,
                         float *dst);
/* Same for integer data into int32 (from I32, I64 or U8), checking range. */
uz_status uz_st_read_i32(const uz_st_file *f, const char *name, int ndim, const int64_t *shape,
                         int32_t *dst);

typedef struct uz_st_entry {
    const char *name;
    uz_dtype dtype;
    int ndim;
    const int64_t *shape;
    const void *data;     /* contiguous, little-endian */
} uz_st_entry;

/* Writes entries (and n_meta key/value metadata string pairs) atomically. */
uz_status uz_st_write(const char *path, const uz_st_entry *entries, int n,
                      const char *const *meta_keys, const char *const *meta_values, int n_meta);

/* Every parameter by name (F32). */
uz_status uz_params_save(uz_params *p, const char *path);
/* Loads every parameter by name; a missing tensor, an extra tensor, or a
 * shape mismatch is an error naming it. */
uz_status uz_params_load(uz_params *p, const char *path);

#endif
