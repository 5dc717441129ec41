/* Reading whole files and replacing files atomically (see file_io.h). */
#include "file_io.h"

#include "alloc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void errno_text(int err, char *buf, size_t n)
{
    if (err == 0)
        snprintf(buf, n, "write error");
    else if (strerror_r(err, buf, n) != 0)
        snprintf(buf, n, "errno %d", err);
}

/* ---- reading ----------------------------------------------------------------- */

static uz_status too_large(const char *path, size_t max_bytes)
{
    return UZ_FAIL(UZ_ERR_FORMAT, "%s: file is too large (more than %zu bytes)", path, max_bytes);
}

/* Reads fd to its end into a buffer sized for `expect` bytes, growing it
 * when the file holds more (pipes, or a file that grew). */
static uz_status read_fd(int fd, const char *path, size_t expect, size_t max_bytes, char **data,
                         size_t *n)
{
    size_t cap = expect + 1, len = 0;
    char *buf = uz_malloc(cap, path);
    if (!buf)
        return uz_error_status();
    for (;;) {
        /* A full buffer reads into chunk, so a file of exactly the expected
         * size ends with a zero-byte read instead of a doubled buffer. */
        char chunk[4096];
        size_t room = cap - 1 - len;
        ssize_t r = room ? read(fd, buf + len, room) : read(fd, chunk, sizeof chunk);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            char ebuf[128];
            errno_text(errno, ebuf, sizeof ebuf);
            uz_free(buf);
            return UZ_FAIL(UZ_ERR_IO, "%s: read failed after %zu bytes: %s", path, len, ebuf);
        }
        if (r == 0)
            break;
        if (room) {
            len += (size_t)r;
            continue;
        }
        if ((size_t)r > max_bytes - len) {
            uz_free(buf);
            return too_large(path, max_bytes);
        }
        size_t want = len + (size_t)r + 1;
        cap = 2 * cap > want ? 2 * cap : want;
        if (cap - 1 > max_bytes)
            cap = max_bytes + 1;
        char *grown = uz_malloc(cap, path);
        if (!grown) {
            uz_free(buf);
            return uz_error_status();
        }
        memcpy(grown, buf, len);
        memcpy(grown + len, chunk, (size_t)r);
        uz_free(buf);
        buf = grown;
        len += (size_t)r;
    }
    buf[len] = '\0';
    *data = buf;
    *n = len;
    return UZ_OK;
}

uz_status uz_file_read_all(const char *path, size_t max_bytes, char **data, size_t *n)
{
    *data = NULL;
    *n = 0;
    char ebuf[128];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        errno_text(errno, ebuf, sizeof ebuf);
        return UZ_FAIL(UZ_ERR_IO, "%s: cannot open: %s", path, ebuf);
    }
    uz_status st;
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        errno_text(errno, ebuf, sizeof ebuf);
        st = UZ_FAIL(UZ_ERR_IO, "%s: cannot stat: %s", path, ebuf);
    } else if (S_ISDIR(sb.st_mode)) {
        st = UZ_FAIL(UZ_ERR_IO, "%s: a directory, not a regular file", path);
    } else if (S_ISREG(sb.st_mode) && (uint64_t)sb.st_size > (uint64_t)max_bytes) {
        st = UZ_FAIL(UZ_ERR_FORMAT, "%s: file of %lld bytes is too large (at most %zu)", path,
                     (long long)sb.st_size, max_bytes);
    } else {
        size_t expect = S_ISREG(sb.st_mode) ? (size_t)sb.st_size : 0;
        st = read_fd(fd, path, expect, max_bytes, data, n);
    }
    close(fd);
    return st;
}

/* ---- atomic writing ---------------------------------------------------------- */

/* Makes the rename itself durable; 0 or an errno. */
static int sync_dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    char dir[4096];
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else if (slash == path)
        snprintf(dir, sizeof dir, "/");
    else if ((size_t)(slash - path) < sizeof dir)
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    else
        return ENAMETOOLONG;
    int fd = open(dir, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno;
    int err = fsync(fd) == 0 ? 0 : errno;
    close(fd);
    /* Some file systems cannot sync a directory; the data itself is synced. */
    return err == EINVAL ? 0 : err;
}

/* Tells apart the temporary files of threads saving to the same path. */
static atomic_uint tmp_serial;

uz_status uz_atomic_file_begin(uz_atomic_file *f, const char *path)
{
    *f = (uz_atomic_file){.path = path};
    size_t tlen = strlen(path) + 48;
    f->tmp = uz_malloc(tlen, "temporary file name");
    if (!f->tmp)
        return uz_error_status();
    snprintf(f->tmp, tlen, "%s.tmp.%ld.%u", path, (long)getpid(),
             atomic_fetch_add(&tmp_serial, 1u));
    int fd = open(f->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    f->fp = fd < 0 ? NULL : fdopen(fd, "wb");
    if (!f->fp) {
        int err = errno;
        if (fd >= 0) {
            close(fd);
            remove(f->tmp);
        }
        char ebuf[128];
        errno_text(err, ebuf, sizeof ebuf);
        uz_status st = UZ_FAIL(UZ_ERR_IO, "%s: cannot create %s: %s", path, f->tmp, ebuf);
        uz_free(f->tmp);
        f->tmp = NULL;
        return st;
    }
    return UZ_OK;
}

void uz_atomic_file_write(uz_atomic_file *f, const void *data, size_t n)
{
    if (f->err || n == 0)
        return;
    errno = 0;
    if (fwrite(data, 1, n, f->fp) != n)
        f->err = errno ? errno : EIO;
}

uz_status uz_atomic_file_commit(uz_atomic_file *f, bool durable)
{
    const char *step = "write";
    bool ok = f->err == 0 && !ferror(f->fp);
    int err = ok ? 0 : f->err ? f->err : errno;
    if (ok) {
        step = "flush";
        ok = fflush(f->fp) == 0;
    }
    if (ok && durable) {
        step = "sync";
        ok = fsync(fileno(f->fp)) == 0;
    }
    if (!ok && !err)
        err = errno;
    if (fclose(f->fp) != 0 && ok) {
        step = "close";
        ok = false;
        err = errno;
    }
    if (ok) {
        step = "rename";
        ok = rename(f->tmp, f->path) == 0;
        err = ok ? 0 : errno;
    }
    char ebuf[128];
    uz_status st = UZ_OK;
    if (!ok) {
        remove(f->tmp);
        errno_text(err, ebuf, sizeof ebuf);
        st = UZ_FAIL(UZ_ERR_IO, "%s: %s of %s failed: %s", f->path, step, f->tmp, ebuf);
    } else if (durable && (err = sync_dir_of(f->path)) != 0) {
        errno_text(err, ebuf, sizeof ebuf);
        st = UZ_FAIL(UZ_ERR_IO, "%s: written, but syncing its directory failed: %s", f->path,
                     ebuf);
    }
    uz_free(f->tmp);
    *f = (uz_atomic_file){0};
    return st;
}

void uz_atomic_file_abort(uz_atomic_file *f)
{
    fclose(f->fp);
    remove(f->tmp);
    uz_free(f->tmp);
    *f = (uz_atomic_file){0};
}

uz_status uz_file_write_atomic(const char *path, const void *data, size_t n)
{
    uz_atomic_file f;
    uz_status st = uz_atomic_file_begin(&f, path);
    if (st != UZ_OK)
        return st;
    uz_atomic_file_write(&f, data, n);
    return uz_atomic_file_commit(&f, true);
}
