/* IDX reader on zlib (gzread passes raw files through unchanged). */
#include "datasets.h"

#include "core/alloc.h"

#include <zlib.h>

static uz_status read_exact(gzFile f, const char *path, void *buf, size_t n, const char *what)
{
    int got = gzread(f, buf, (unsigned)n);
    if (got < 0 || (size_t)got != n)
        return UZ_FAIL(UZ_ERR_FORMAT, "%s: truncated %s (wanted %zu bytes, got %d)", path, what, n,
                       got < 0 ? 0 : got);
    return UZ_OK;
}

uz_status uz_idx_load(const char *path, uz_idx *out)
{
    *out = (uz_idx){0};
    gzFile f = gzopen(path, "rb");
    if (!f)
        return UZ_FAIL(UZ_ERR_IO, "%s: cannot open", path);
    unsigned char magic[4];
    uz_status st = read_exact(f, path, magic, 4, "header");
    if (st == UZ_OK && (magic[0] != 0 || magic[1] != 0 || magic[2] != 0x08 || magic[3] < 1 || magic[3] > 4))
        st = UZ_FAIL(UZ_ERR_FORMAT, "%s: not an unsigned-byte IDX file (magic %02x %02x %02x %02x)",
                     path, magic[0], magic[1], magic[2], magic[3]);
    int64_t total = 1;
    if (st == UZ_OK) {
        out->ndim = magic[3];
        for (int i = 0; i < out->ndim && st == UZ_OK; i++) {
            unsigned char d[4];
            st = read_exact(f, path, d, 4, "dimension");
            out->dims[i] = (int64_t)d[0] << 24 | (int64_t)d[1] << 16 | (int64_t)d[2] << 8 | d[3];
            total *= out->dims[i];
        }
    }
    if (st == UZ_OK && (total <= 0 || total > ((int64_t)1 << 32)))
        st = UZ_FAIL(UZ_ERR_FORMAT, "%s: implausible payload size %lld", path, (long long)total);
    if (st == UZ_OK) {
        out->data = uz_malloc((size_t)total, path);
        st = out->data ? read_exact(f, path, out->data, (size_t)total, "payload") : UZ_ERR_NOMEM;
    }
    gzclose(f);
    if (st != UZ_OK)
        uz_idx_free(out);
    return st;
}

void uz_idx_free(uz_idx *idx)
{
    uz_free(idx->data);
    idx->data = NULL;
}
