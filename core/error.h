/* Status codes and the per-thread "what and where" message behind them.
 * A library never exits: functions return a status (or NULL) and leave the
 * detail here for the caller; only the CLI decides to print and exit. */
#ifndef UZ_ERROR_H
#define UZ_ERROR_H

typedef enum uz_status {
    UZ_OK = 0,
    UZ_ERR_ARG,     /* bad argument: shape mismatch, out of range, ... */
    UZ_ERR_NOMEM,   /* allocation failed or arena limit reached */
    UZ_ERR_IO,      /* file system */
    UZ_ERR_FORMAT,  /* malformed input file */
    UZ_ERR_NUMERIC, /* NaN / Inf where a finite value is required */
    UZ_ERR_DEVICE   /* no kernel or device failure */
} uz_status;

#if defined(__GNUC__)
#define UZ_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define UZ_PRINTF(a, b)
#endif

/* Records "file:line: message" and returns st, so callers write
 * `return UZ_FAIL(UZ_ERR_ARG, "matmul: ...")`. */
uz_status uz_error_set(uz_status st, const char *file, int line, const char *fmt, ...)
    UZ_PRINTF(4, 5);
#define UZ_FAIL(st, ...) uz_error_set((st), __FILE__, __LINE__, __VA_ARGS__)

/* Prefixes the current message with context ("loading x.safetensors: ..."). */
void uz_error_context(const char *fmt, ...) UZ_PRINTF(1, 2);

const char *uz_error_message(void);
uz_status uz_error_status(void);
void uz_error_clear(void);
const char *uz_status_name(uz_status st);

#endif
