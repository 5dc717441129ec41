/* Per-thread last error message. */
#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

enum { UZ_ERROR_LEN = 1024 };

static _Thread_local char uz_err_msg[UZ_ERROR_LEN];
static _Thread_local uz_status uz_err_status;

uz_status uz_error_set(uz_status st, const char *file, int line, const char *fmt, ...)
{
    /* Only the file's base name: messages stay short and build-path free. */
    const char *base = strrchr(file, '/');
    base = base ? base + 1 : file;
    int n = snprintf(uz_err_msg, UZ_ERROR_LEN, "%s:%d: ", base, line);
    if (n < 0 || n >= UZ_ERROR_LEN)
        n = 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(uz_err_msg + n, (size_t)(UZ_ERROR_LEN - n), fmt, ap);
    va_end(ap);
    uz_err_status = st;
    return st;
}

void uz_error_context(const char *fmt, ...)
{
    char prefix[UZ_ERROR_LEN];
    char old[UZ_ERROR_LEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, uz_err_msg, UZ_ERROR_LEN);
    /* Truncation of very long messages is acceptable. */
    size_t n = strnlen(prefix, UZ_ERROR_LEN - 3);
    memcpy(uz_err_msg, prefix, n);
    memcpy(uz_err_msg + n, ": ", 2);
    size_t room = UZ_ERROR_LEN - n - 3;
    size_t m = strnlen(old, room);
    memcpy(uz_err_msg + n + 2, old, m);
    uz_err_msg[n + 2 + m] = '\0';
}

const char *uz_error_message(void) { return uz_err_msg[0] ? uz_err_msg : "no error"; }
uz_status uz_error_status(void) { return uz_err_status; }

void uz_error_clear(void)
{
    uz_err_msg[0] = '\0';
    uz_err_status = UZ_OK;
}

const char *uz_status_name(uz_status st)
{
    switch (st) {
    case UZ_OK: return "ok";
    case UZ_ERR_ARG: return "invalid argument";
    case UZ_ERR_NOMEM: return "out of memory";
    case UZ_ERR_IO: return "i/o error";
    case UZ_ERR_FORMAT: return "malformed input";
    case UZ_ERR_NUMERIC: return "non-finite value";
    case UZ_ERR_DEVICE: return "device error";
    }
    return "unknown";
}
