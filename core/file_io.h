/* Whole files in and out: reading one into memory, and replacing one
 * atomically (written under a temporary name in the same directory, then
 * renamed over the target), so that a crash or a concurrent reader sees the
 * old file or the new one, never part of one. Every message names the file. */
#ifndef UZ_FILE_IO_H
#define UZ_FILE_IO_H

#include "error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* The whole file in a fresh buffer (uz_free it) with a '\0' after the last
 * byte, so that text parsers can take it as a string; *n counts the bytes
 * without that '\0'. A file larger than max_bytes is refused (UZ_ERR_FORMAT),
 * before anything is read when its size is known. A directory is refused;
 * pipes and devices are read to their end. */
uz_status uz_file_read_all(const char *path, size_t max_bytes, char **data, size_t *n);

/* A file being written under a temporary name next to its path. */
typedef struct uz_atomic_file {
    FILE *fp; /* the temporary file: write with uz_atomic_file_write or stdio */
    const char *path;
    char *tmp;
    int err; /* errno of the first failed uz_atomic_file_write */
} uz_atomic_file;

/* Creates the temporary file, path.tmp.<pid>.<serial>: distinct for every
 * process and thread saving to the same path. path must stay valid until
 * uz_atomic_file_commit. */
uz_status uz_atomic_file_begin(uz_atomic_file *f, const char *path);

/* Writes n bytes. After a failure later writes do nothing, and commit
 * reports the first one. */
void uz_atomic_file_write(uz_atomic_file *f, const void *data, size_t n);

/* Closes the temporary file and renames it to path; on any failure
 * (an earlier write included) removes it and fails naming path, the step
 * and the temporary file. durable: the data is fsync'd before the rename
 * and the directory after it, so the new file also survives a power loss;
 * without it a caller that writes many files syncs once when done (e.g.
 * syncfs), which is far faster. Releases f either way. */
uz_status uz_atomic_file_commit(uz_atomic_file *f, bool durable);

/* Drops the temporary file, leaving path as it was; releases f. */
void uz_atomic_file_abort(uz_atomic_file *f);

/* begin, write, commit (durable): a whole file from one buffer. */
uz_status uz_file_write_atomic(const char *path, const void *data, size_t n);

#endif
