/* safetensors: round trips over every dtype, byte-exact agreement with files
 * the reference (Python) library wrote, rejection of every kind of malformed
 * file with a message naming it, atomic writes, parameter checkpoints and
 * the golden-test helpers. */
#include <check.h>
#include <dirent.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check_main.h"
#include "golden.h"
#include "gradcheck.h"

/* ---- scratch directory and file helpers ------------------------------------ */

static char tmp_dir[64];

static void tmp_make(void)
{
    snprintf(tmp_dir, sizeof tmp_dir, "/tmp/uz_st_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmp_dir));
}

static void rm_rf(const char *path)
{
    struct stat sb;
    if (lstat(path, &sb) != 0)
        return;
    if (S_ISDIR(sb.st_mode)) {
        chmod(path, 0700);
        DIR *d = opendir(path);
        struct dirent *e;
        while (d && (e = readdir(d))) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            char sub[512];
            snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
            rm_rf(sub);
        }
        if (d)
            closedir(d);
        rmdir(path);
    } else {
        unlink(path);
    }
}

static const char *tmp_path(char *buf, const char *name)
{
    snprintf(buf, 256, "%s/%s", tmp_dir, name);
    return buf;
}

static int cmp_str(const void *a, const void *b) { return strcmp(a, b); }

/* Names in a directory, sorted and joined with ' ' (for "no temp file left"). */
static void dir_listing(const char *dir, char *out, size_t n)
{
    char names[16][256];
    int k = 0;
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    struct dirent *e;
    while ((e = readdir(d)) && k < 16)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            snprintf(names[k++], sizeof names[0], "%s", e->d_name);
    closedir(d);
    qsort(names, (size_t)k, sizeof names[0], cmp_str);
    out[0] = '\0';
    for (int i = 0; i < k; i++) {
        strncat(out, i ? " " : "", n - strlen(out) - 1);
        strncat(out, names[i], n - strlen(out) - 1);
    }
}

static void write_bytes(const char *path, const void *p, size_t n)
{
    FILE *fp = fopen(path, "wb");
    ck_assert_ptr_nonnull(fp);
    ck_assert_uint_eq(fwrite(p, 1, n, fp), n);
    ck_assert_int_eq(fclose(fp), 0);
}

static unsigned char *read_bytes(const char *path, size_t *n)
{
    FILE *fp = fopen(path, "rb");
    ck_assert_ptr_nonnull(fp);
    fseek(fp, 0, SEEK_END);
    long len = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    unsigned char *p = malloc((size_t)len + 1);
    ck_assert_uint_eq(fread(p, 1, (size_t)len, fp), (size_t)len);
    fclose(fp);
    *n = (size_t)len;
    return p;
}

/* A file with this header text (its length as the 8-byte prefix) and
 * data_len zero bytes of data. */
static void write_raw(const char *path, uint64_t hlen, const char *header, size_t data_len)
{
    size_t len = strlen(header), total = 8 + len + data_len;
    unsigned char *b = calloc(total, 1);
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)(hlen >> (8 * i));
    memcpy(b + 8, header, len);
    write_bytes(path, b, total);
    free(b);
}

static void expect_reject(const char *path, const char *needle)
{
    uz_error_clear();
    uz_st_file *f = (uz_st_file *)&f; /* must come back NULL */
    uz_status st = uz_st_open(path, &f);
    const char *msg = uz_error_message();
    ck_assert_msg(st == UZ_ERR_FORMAT, "expected a format error (%s), got %s: %s", needle,
                  uz_status_name(st), msg);
    ck_assert_ptr_null(f);
    ck_assert_msg(strstr(msg, path), "message does not name the file: %s", msg);
    ck_assert_msg(!needle || strstr(msg, needle), "expected '%s' in: %s", needle, msg);
}

/* ---- round trip ----------------------------------------------------------------- */

static const float rt_f32[6] = {1.0f, -2.5f, 3.25f, 0.0f, 1e-7f, -1e6f};
static const double rt_f64[4] = {0.5, -1.0 / 3.0, 1e300, -4.0};
static const int32_t rt_i32[4] = {1, -2, 2147483647, -2147483647 - 1};
static const int64_t rt_i64[3] = {7, -5, 1234567};
static const uint8_t rt_u8[5] = {0, 1, 127, 128, 255};
static const uint16_t rt_bf16[3] = {0x3F80, 0xC020, 0x3E20};                  /* 1, -2.5, 0.15625 */
static const uint16_t rt_f16[5] = {0x3C00, 0xC000, 0x7BFF, 0x0001, 0x7C00}; /* 1, -2, 65504, 2^-24, inf */
static const float rt_scalar = 3.5f;
static const int64_t rt_big = (int64_t)1 << 40;
static const char rt_odd_name[] = "a.b/c \"q\" \xc3\xbc\n";

#define N_RT 11
static void rt_entries(uz_st_entry *e)
{
    static const int64_t s23[] = {2, 3}, s4[] = {4}, s22[] = {2, 2}, s3[] = {3}, s5[] = {5},
                         s03[] = {0, 3}, s1[] = {1};
    e[0] = (uz_st_entry){"f32", UZ_F32, 2, s23, rt_f32};
    e[1] = (uz_st_entry){"f64", UZ_F64, 1, s4, rt_f64};
    e[2] = (uz_st_entry){"i32", UZ_I32, 2, s22, rt_i32};
    e[3] = (uz_st_entry){"i64", UZ_I64, 1, s3, rt_i64};
    e[4] = (uz_st_entry){"u8", UZ_U8, 1, s5, rt_u8};
    e[5] = (uz_st_entry){"bf16", UZ_BF16, 1, s3, rt_bf16};
    e[6] = (uz_st_entry){"f16", UZ_F16, 1, s5, rt_f16};
    e[7] = (uz_st_entry){"scalar", UZ_F32, 0, NULL, &rt_scalar};
    e[8] = (uz_st_entry){"empty", UZ_F32, 2, s03, NULL};
    e[9] = (uz_st_entry){"big", UZ_I64, 1, s1, &rt_big};
    e[10] = (uz_st_entry){rt_odd_name, UZ_U8, 1, s1, rt_u8 + 4};
}

static const char *const rt_keys[] = {"format", "note"};
static const char *const rt_values[] = {"pt", "hello \"world\"\n\xe2\x82\xac"};

START_TEST(test_round_trip)
{
    tmp_make();
    char path[256];
    tmp_path(path, "rt.safetensors");
    uz_st_entry e[N_RT];
    rt_entries(e);
    UZ_CK_OK(uz_st_write(path, e, N_RT, rt_keys, rt_values, 2));

    uz_st_file *f = NULL;
    UZ_CK_OK(uz_st_open(path, &f));
    ck_assert_int_eq(uz_st_count(f), N_RT);
    for (int i = 0; i < N_RT; i++) {
        const uz_st_tensor *t = uz_st_find(f, e[i].name);
        UZ_CK_NOTNULL(t);
        ck_assert_str_eq(t->name, e[i].name);
        ck_assert_int_eq(t->dtype, e[i].dtype);
        ck_assert_int_eq(t->ndim, e[i].ndim);
        size_t bytes = e[i].dtype == UZ_F64 || e[i].dtype == UZ_I64 ? 8
                       : e[i].dtype == UZ_U8                        ? 1
                       : e[i].dtype == UZ_F32 || e[i].dtype == UZ_I32 ? 4
                                                                       : 2;
        for (int d = 0; d < t->ndim; d++) {
            ck_assert_int_eq(t->shape[d], e[i].shape[d]);
            bytes *= (size_t)e[i].shape[d];
        }
        ck_assert_uint_eq(t->nbytes, bytes);
        ck_assert(bytes == 0 || memcmp(t->data, e[i].data, bytes) == 0);
    }
    /* uz_st_at walks the data area in order; larger dtypes first keeps
     * every tensor aligned to its element size. */
    const unsigned char *prev = NULL;
    for (int i = 0; i < N_RT; i++) {
        const uz_st_tensor *t = uz_st_at(f, i);
        const unsigned char *p = t->data;
        ck_assert(!prev || p >= prev);
        size_t esize = t->dtype == UZ_F64 || t->dtype == UZ_I64 ? 8
                       : t->dtype == UZ_F32 || t->dtype == UZ_I32 ? 4
                       : t->dtype == UZ_U8                        ? 1
                                                                  : 2;
        ck_assert_uint_eq((uintptr_t)p % esize, 0);
        prev = p;
    }
    ck_assert_ptr_null(uz_st_at(f, N_RT));
    ck_assert_str_eq(uz_st_metadata(f, "format"), "pt");
    ck_assert_str_eq(uz_st_metadata(f, "note"), rt_values[1]);
    ck_assert_ptr_null(uz_st_metadata(f, "absent"));

    /* Conversions to float32. */
    float out[6];
    UZ_CK_OK(uz_st_read_f32(f, "f32", 2, (int64_t[]){2, 3}, out));
    for (int i = 0; i < 6; i++)
        ck_assert_float_eq(out[i], rt_f32[i]);
    UZ_CK_OK(uz_st_read_f32(f, "f64", 1, (int64_t[]){4}, out));
    for (int i = 0; i < 4; i++)
        ck_assert_float_eq(out[i], (float)rt_f64[i]);
    UZ_CK_OK(uz_st_read_f32(f, "i64", 1, (int64_t[]){3}, out));
    ck_assert_float_eq(out[1], -5.0f);
    UZ_CK_OK(uz_st_read_f32(f, "i32", 2, (int64_t[]){2, 2}, out));
    ck_assert_float_eq(out[1], -2.0f);
    UZ_CK_OK(uz_st_read_f32(f, "u8", 1, (int64_t[]){5}, out));
    ck_assert_float_eq(out[4], 255.0f);
    UZ_CK_OK(uz_st_read_f32(f, "bf16", 1, (int64_t[]){3}, out));
    ck_assert_float_eq(out[0], 1.0f);
    ck_assert_float_eq(out[1], -2.5f);
    ck_assert_float_eq(out[2], 0.15625f);
    UZ_CK_OK(uz_st_read_f32(f, "f16", 1, (int64_t[]){5}, out));
    ck_assert_float_eq(out[0], 1.0f);
    ck_assert_float_eq(out[1], -2.0f);
    ck_assert_float_eq(out[2], 65504.0f);
    ck_assert_float_eq(out[3], 5.9604644775390625e-8f);
    ck_assert(isinf(out[4]) && out[4] > 0.0f);
    UZ_CK_OK(uz_st_read_f32(f, "scalar", 0, NULL, out));
    ck_assert_float_eq(out[0], 3.5f);
    UZ_CK_OK(uz_st_read_f32(f, "empty", 2, (int64_t[]){0, 3}, out));

    /* Conversions to int32, with range checks. */
    int32_t iout[5];
    UZ_CK_OK(uz_st_read_i32(f, "i32", 2, (int64_t[]){2, 2}, iout));
    ck_assert_int_eq(iout[3], rt_i32[3]);
    UZ_CK_OK(uz_st_read_i32(f, "i64", 1, (int64_t[]){3}, iout));
    ck_assert_int_eq(iout[2], 1234567);
    UZ_CK_OK(uz_st_read_i32(f, "u8", 1, (int64_t[]){5}, iout));
    ck_assert_int_eq(iout[4], 255);
    ck_assert_int_eq(uz_st_read_i32(f, "big", 1, (int64_t[]){1}, iout), UZ_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "outside the int32 range"));
    ck_assert_int_eq(uz_st_read_i32(f, "f32", 2, (int64_t[]){2, 3}, iout), UZ_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "has dtype F32"));

    /* Lookups that fail name the file, the tensor and both shapes. */
    ck_assert_ptr_null(uz_st_find(f, "nope"));
    ck_assert_ptr_nonnull(strstr(uz_error_message(), path));
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "'nope'"));
    ck_assert_int_eq(uz_st_read_f32(f, "f32", 2, (int64_t[]){3, 2}, out), UZ_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "'f32' has shape [2,3], expected [3,2]"));
    ck_assert_int_eq(uz_st_read_f32(f, "f32", 1, (int64_t[]){6}, out), UZ_ERR_FORMAT);
    uz_st_close(f);

    /* No tensors at all is a valid file. */
    tmp_path(path, "none.safetensors");
    UZ_CK_OK(uz_st_write(path, NULL, 0, NULL, NULL, 0));
    UZ_CK_OK(uz_st_open(path, &f));
    ck_assert_int_eq(uz_st_count(f), 0);
    ck_assert_ptr_null(uz_st_metadata(f, "format"));
    uz_st_close(f);
    rm_rf(tmp_dir);
}
END_TEST

/* ---- agreement with the reference library ---------------------------------------- */

/* safetensors.numpy.save({"x": np.array([[1, 2], [3, 4]], np.float32)}) */
static const unsigned char py_single[88] = {
    0x40, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x7b, 0x22, 0x78, 0x22, 0x3a, 0x7b, 0x22, 0x64,
    0x74, 0x79, 0x70, 0x65, 0x22, 0x3a, 0x22, 0x46, 0x33, 0x32, 0x22, 0x2c, 0x22, 0x73, 0x68, 0x61,
    0x70, 0x65, 0x22, 0x3a, 0x5b, 0x32, 0x2c, 0x32, 0x5d, 0x2c, 0x22, 0x64, 0x61, 0x74, 0x61, 0x5f,
    0x6f, 0x66, 0x66, 0x73, 0x65, 0x74, 0x73, 0x22, 0x3a, 0x5b, 0x30, 0x2c, 0x31, 0x36, 0x5d, 0x7d,
    0x7d, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0x40,
    0x00, 0x00, 0x40, 0x40, 0x00, 0x00, 0x80, 0x40,
};

START_TEST(test_python_single)
{
    tmp_make();
    char path[256], ours[256];
    tmp_path(path, "py.safetensors");
    write_bytes(path, py_single, sizeof py_single);
    uz_st_file *f = NULL;
    UZ_CK_OK(uz_st_open(path, &f));
    ck_assert_int_eq(uz_st_count(f), 1);
    const uz_st_tensor *t = uz_st_at(f, 0);
    ck_assert_str_eq(t->name, "x");
    ck_assert_int_eq(t->dtype, UZ_F32);
    ck_assert_int_eq(t->ndim, 2);
    float v[4];
    UZ_CK_OK(uz_st_read_f32(f, "x", 2, (int64_t[]){2, 2}, v));
    for (int i = 0; i < 4; i++)
        ck_assert_float_eq(v[i], (float)(i + 1));
    uz_st_close(f);

    /* And we write the very same bytes. */
    static const float x[4] = {1, 2, 3, 4};
    uz_st_entry e = {"x", UZ_F32, 2, (int64_t[]){2, 2}, x};
    tmp_path(ours, "ours.safetensors");
    UZ_CK_OK(uz_st_write(ours, &e, 1, NULL, NULL, 0));
    size_t n;
    unsigned char *b = read_bytes(ours, &n);
    ck_assert_uint_eq(n, sizeof py_single);
    ck_assert(memcmp(b, py_single, n) == 0);
    free(b);
    rm_rf(tmp_dir);
}
END_TEST

/* safetensors.numpy.save({"w": f32 [1.5, -2], "a": i64 [7], "b": u8 [1, 2, 3],
 * "c": f16 [1], "d": f64 [1]}, metadata={"format": "pt", "k2": "v"}): the
 * reference orders by dtype (largest first), then name. */
static const char py_multi_header[] =
    "{\"__metadata__\":{\"format\":\"pt\",\"k2\":\"v\"},"
    "\"a\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[0,8]},"
    "\"d\":{\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[8,16]},"
    "\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[16,24]},"
    "\"c\":{\"dtype\":\"F16\",\"shape\":[1],\"data_offsets\":[24,26]},"
    "\"b\":{\"dtype\":\"U8\",\"shape\":[3],\"data_offsets\":[26,29]}}";
static const unsigned char py_multi_data[29] = {
    0x07, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xf0, 0x3f,
    0x00, 0x00, 0xc0, 0x3f, 0x00, 0x00, 0x00, 0xc0, 0x00, 0x3c, 0x01, 0x02, 0x03,
};

START_TEST(test_python_multi)
{
    tmp_make();
    /* 312 header bytes: already a multiple of 8, so no padding. */
    size_t hlen = sizeof py_multi_header - 1;
    ck_assert_uint_eq(hlen, 312);
    unsigned char want[8 + 312 + 29] = {0x38, 0x01};
    memcpy(want + 8, py_multi_header, hlen);
    memcpy(want + 8 + hlen, py_multi_data, sizeof py_multi_data);

    static const float w[2] = {1.5f, -2.0f};
    static const int64_t a = 7;
    static const uint8_t b[3] = {1, 2, 3};
    static const uint16_t c = 0x3C00;
    static const double d = 1.0;
    const uz_st_entry e[5] = {
        {"w", UZ_F32, 1, (int64_t[]){2}, w}, {"a", UZ_I64, 1, (int64_t[]){1}, &a},
        {"b", UZ_U8, 1, (int64_t[]){3}, b},  {"c", UZ_F16, 1, (int64_t[]){1}, &c},
        {"d", UZ_F64, 1, (int64_t[]){1}, &d},
    };
    static const char *const keys[] = {"format", "k2"}, *const values[] = {"pt", "v"};
    char path[256];
    tmp_path(path, "multi.safetensors");
    UZ_CK_OK(uz_st_write(path, e, 5, keys, values, 2));
    size_t n;
    unsigned char *got = read_bytes(path, &n);
    ck_assert_uint_eq(n, sizeof want);
    ck_assert(memcmp(got, want, n) == 0);
    free(got);

    tmp_path(path, "py_multi.safetensors");
    write_bytes(path, want, sizeof want);
    uz_st_file *f = NULL;
    UZ_CK_OK(uz_st_open(path, &f));
    ck_assert_int_eq(uz_st_count(f), 5);
    ck_assert_str_eq(uz_st_metadata(f, "k2"), "v");
    float v[3];
    UZ_CK_OK(uz_st_read_f32(f, "w", 1, (int64_t[]){2}, v));
    ck_assert_float_eq(v[0], 1.5f);
    ck_assert_float_eq(v[1], -2.0f);
    UZ_CK_OK(uz_st_read_f32(f, "c", 1, (int64_t[]){1}, v));
    ck_assert_float_eq(v[0], 1.0f);
    UZ_CK_OK(uz_st_read_f32(f, "d", 1, (int64_t[]){1}, v));
    ck_assert_float_eq(v[0], 1.0f);
    int32_t iv[3];
    UZ_CK_OK(uz_st_read_i32(f, "a", 1, (int64_t[]){1}, iv));
    ck_assert_int_eq(iv[0], 7);
    UZ_CK_OK(uz_st_read_i32(f, "b", 1, (int64_t[]){3}, iv));
    ck_assert_int_eq(iv[2], 3);
    uz_st_close(f);
    rm_rf(tmp_dir);
}
END_TEST

/* ---- malformed files ---------------------------------------------------------------- */

START_TEST(test_reject_truncated)
{
    tmp_make();
    char path[256], cut[256];
    tmp_path(path, "full.safetensors");
    tmp_path(cut, "cut.safetensors");
    static const float x[6] = {1, 2, 3, 4, 5, 6};
    static const uint8_t y[3] = {9, 8, 7};
    const uz_st_entry e[2] = {{"x", UZ_F32, 2, (int64_t[]){2, 3}, x},
                              {"y", UZ_U8, 1, (int64_t[]){3}, y}};
    static const char *const k[] = {"format"}, *const v[] = {"pt"};
    UZ_CK_OK(uz_st_write(path, e, 2, k, v, 1));
    size_t n;
    unsigned char *b = read_bytes(path, &n);
    /* Every cut point: inside the length, inside the header, inside the data. */
    for (size_t len = 0; len < n; len++) {
        write_bytes(cut, b, len);
        expect_reject(cut, len < 8 ? "fewer than the 8-byte header length" : NULL);
    }
    free(b);
    rm_rf(tmp_dir);
}
END_TEST

typedef struct bad_case {
    const char *header;
    size_t data_len;
    const char *needle;
} bad_case;

#define T(dt, sh, off) "{\"dtype\":" dt ",\"shape\":" sh ",\"data_offsets\":" off "}"

static const bad_case bad_cases[] = {
    {"", 0, "not valid JSON"},
    {"{not json}", 0, "not valid JSON"},
    {"{\"a\":", 0, "not valid JSON"},
    {"[1,2]", 0, "not a JSON object"},
    {"\"x\"", 0, "not a JSON object"},
    {"{} x", 0, "trailing data"},
    {"{\"a\":1}", 0, "tensor 'a': entry is not a JSON object"},
    {"{\"a\":" T("\"F33\"", "[1]", "[0,4]") "}", 4, "tensor 'a': unknown dtype \"F33\""},
    {"{\"a\":" T("\"f32\"", "[1]", "[0,4]") "}", 4, "tensor 'a': unknown dtype \"f32\""},
    {"{\"a\":" T("\"BOOL\"", "[1]", "[0,1]") "}", 1, "tensor 'a': unknown dtype \"BOOL\""},
    {"{\"a\":" T("32", "[1]", "[0,4]") "}", 4, "tensor 'a': \"dtype\" is not a string"},
    {"{\"a\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "tensor 'a': missing \"dtype\""},
    {"{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4, "tensor 'a': missing \"shape\""},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4, "tensor 'a': missing \"data_offsets\""},
    {"{\"a\":" T("\"F32\"", "[-1]", "[0,4]") "}", 4, "tensor 'a': shape entry 0 is not a non-negative"},
    {"{\"a\":" T("\"F32\"", "[2,1.5]", "[0,12]") "}", 12, "tensor 'a': shape entry 1 is not"},
    {"{\"a\":" T("\"F32\"", "[\"2\"]", "[0,8]") "}", 8, "tensor 'a': shape entry 0 is not"},
    {"{\"a\":" T("\"F32\"", "2", "[0,8]") "}", 8, "tensor 'a': \"shape\" is not an array"},
    {"{\"a\":" T("\"F32\"", "[1,1,1,1,1,1]", "[0,4]") "}", 4, "tensor 'a': 6 dims, at most 5"},
    {"{\"a\":" T("\"F32\"", "[4294967296,4294967296,4294967296]", "[0,4]") "}", 4,
     "tensor 'a': shape [4294967296,4294967296,4294967296] is too large"},
    {"{\"a\":" T("\"F32\"", "[2,2]", "[0,12]") "}", 12,
     "tensor 'a': data_offsets [0,12] hold 12 bytes but F32 [2,2] needs 16"},
    {"{\"a\":" T("\"F32\"", "[4]", "[0,16]") "}", 8,
     "tensor 'a': data_offsets [0,16] lie outside the data area of 8 bytes"},
    {"{\"a\":" T("\"F32\"", "[0]", "[8,0]") "}", 8, "tensor 'a': data_offsets [8,0] end before"},
    {"{\"a\":" T("\"F32\"", "[1]", "[0]") "}", 4, "tensor 'a': \"data_offsets\" is not a pair"},
    {"{\"a\":" T("\"F32\"", "[1]", "[0,4,8]") "}", 8, "tensor 'a': \"data_offsets\" is not a pair"},
    {"{\"a\":" T("\"F32\"", "[1]", "[0,1e300]") "}", 4, "tensor 'a': \"data_offsets\" is not a pair"},
    {"{\"a\":" T("\"F32\"", "[1]", "[-4,0]") "}", 4, "tensor 'a': \"data_offsets\" is not a pair"},
    {"{\"a\":" T("\"F32\"", "[4]", "[0,16]") ",\"b\":" T("\"F32\"", "[4]", "[8,24]") "}", 24,
     "tensor 'b' (data_offsets [8,24]) overlaps tensor 'a'"},
    {"{\"a\":" T("\"F32\"", "[2]", "[0,8]") ",\"b\":" T("\"F32\"", "[2]", "[16,24]") "}", 24,
     "gap in the data area: bytes [8,16) before tensor 'b'"},
    {"{\"a\":" T("\"F32\"", "[2]", "[8,16]") "}", 16, "bytes [0,8) before tensor 'a'"},
    {"{\"a\":" T("\"F32\"", "[2]", "[0,8]") "}", 16, "data area has 16 bytes but the tensors cover only 8"},
    {"{\"a\":" T("\"F32\"", "[1]", "[0,4]") ",\"a\":" T("\"F32\"", "[1]", "[4,8]") "}", 8,
     "duplicate tensor name 'a'"},
    {"{\"__metadata__\":{\"k\":1}}", 0, "\"__metadata__\" value 'k' is not a string"},
    {"{\"__metadata__\":\"x\"}", 0, "\"__metadata__\" is not a JSON object"},
    {"{\"__metadata__\":{},\"__metadata__\":{}}", 0, "\"__metadata__\" appears twice"},
    {"{\"a\x01\":1}", 0, "control byte at header offset 3"},
    {"{\"a\xff\":1}", 0, "invalid UTF-8 at header offset 3"},
    {"{\"a\xc0\xaf\":1}", 0, "invalid UTF-8"}, /* overlong encoding */
    {"{\"a\xe2\x82\":1}", 0, "invalid UTF-8"},  /* cut sequence */
};

START_TEST(test_reject_header)
{
    tmp_make();
    char path[256];
    tmp_path(path, "bad.safetensors");
    int n = (int)(sizeof bad_cases / sizeof bad_cases[0]);
    for (int i = 0; i < n; i++) {
        const bad_case *c = &bad_cases[i];
        write_raw(path, strlen(c->header), c->header, c->data_len);
        expect_reject(path, c->needle);
    }
    rm_rf(tmp_dir);
}
END_TEST

START_TEST(test_reject_length)
{
    tmp_make();
    char path[256];
    tmp_path(path, "len.safetensors");
    /* Empty file. */
    write_bytes(path, "", 0);
    expect_reject(path, "file has 0 bytes, fewer than the 8-byte header length");
    /* Header length over the 100 MB limit (and the file). */
    write_raw(path, 200000000ull, "{}      ", 0);
    expect_reject(path, "header length 200000000 exceeds the 100 MB limit");
    write_raw(path, UINT64_MAX, "{}      ", 0);
    expect_reject(path, "exceeds the 100 MB limit");
    /* Header length larger than the file. */
    write_raw(path, 1000, "{}      ", 0);
    expect_reject(path, "header length 1000 exceeds the 8 bytes that follow it");
    /* Header length that cuts the JSON short. */
    write_raw(path, 4, "{\"a\":" T("\"U8\"", "[1]", "[0,1]") "}", 1);
    expect_reject(path, "not valid JSON");
    /* Not a regular file. */
    uz_st_file *f = NULL;
    ck_assert_int_eq(uz_st_open(tmp_dir, &f), UZ_ERR_IO);
    ck_assert_ptr_null(f);
    tmp_path(path, "missing.safetensors");
    ck_assert_int_eq(uz_st_open(path, &f), UZ_ERR_IO);
    ck_assert_ptr_nonnull(strstr(uz_error_message(), path));
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "No such file"));
    rm_rf(tmp_dir);
}
END_TEST

/* ---- writing ------------------------------------------------------------------------- */

START_TEST(test_write_bad_entries)
{
    tmp_make();
    char path[256], list[512];
    tmp_path(path, "w.safetensors");
    static const float x[2] = {1, 2};
    uz_st_entry e[2] = {{"x", UZ_F32, 1, (int64_t[]){2}, x}, {"x", UZ_F32, 1, (int64_t[]){2}, x}};
    ck_assert_int_eq(uz_st_write(path, e, 2, NULL, NULL, 0), UZ_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "duplicate tensor name 'x'"));
    e[1].name = "__metadata__";
    ck_assert_int_eq(uz_st_write(path, e, 2, NULL, NULL, 0), UZ_ERR_ARG);
    e[1].name = "y";
    e[1].ndim = UZ_MAX_DIMS + 1;
    ck_assert_int_eq(uz_st_write(path, e, 2, NULL, NULL, 0), UZ_ERR_ARG);
    e[1].ndim = 1;
    e[1].shape = (int64_t[]){-2};
    ck_assert_int_eq(uz_st_write(path, e, 2, NULL, NULL, 0), UZ_ERR_ARG);
    e[1].shape = (int64_t[]){2};
    e[1].data = NULL;
    ck_assert_int_eq(uz_st_write(path, e, 2, NULL, NULL, 0), UZ_ERR_ARG);
    e[1].data = x;
    e[1].dtype = (uz_dtype)42;
    ck_assert_int_eq(uz_st_write(path, e, 2, NULL, NULL, 0), UZ_ERR_ARG);
    e[1].dtype = UZ_F32;
    static const char *const k[] = {"a", "a"}, *const v[] = {"1", "2"};
    ck_assert_int_eq(uz_st_write(path, e, 2, k, v, 2), UZ_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "duplicate metadata key 'a'"));
    dir_listing(tmp_dir, list, sizeof list);
    ck_assert_str_eq(list, "");
    rm_rf(tmp_dir);
}
END_TEST

static const float atom_old[2] = {1, 2};
static float atom_new[1000];

/* Writes "old" content to path and returns its bytes. */
static unsigned char *write_old(const char *path, size_t *n)
{
    uz_st_entry e = {"old", UZ_F32, 1, (int64_t[]){2}, atom_old};
    UZ_CK_OK(uz_st_write(path, &e, 1, NULL, NULL, 0));
    return read_bytes(path, n);
}

static void expect_unchanged(const char *path, const unsigned char *old, size_t n)
{
    size_t m;
    unsigned char *now = read_bytes(path, &m);
    ck_assert_uint_eq(m, n);
    ck_assert(memcmp(now, old, n) == 0);
    free(now);
}

START_TEST(test_write_atomic)
{
    tmp_make();
    char path[256], list[512];
    uz_st_entry e = {"new", UZ_F32, 1, (int64_t[]){1000}, atom_new};

    /* Into a directory that does not exist. */
    tmp_path(path, "nope/out.safetensors");
    ck_assert_int_eq(uz_st_write(path, &e, 1, NULL, NULL, 0), UZ_ERR_IO);
    ck_assert_ptr_nonnull(strstr(uz_error_message(), path));
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "No such file or directory"));
    dir_listing(tmp_dir, list, sizeof list);
    ck_assert_str_eq(list, "");

    /* Onto a directory: the rename fails after the temp file was written. */
    tmp_path(path, "target");
    ck_assert_int_eq(mkdir(path, 0700), 0);
    ck_assert_int_eq(uz_st_write(path, &e, 1, NULL, NULL, 0), UZ_ERR_IO);
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "rename"));
    dir_listing(tmp_dir, list, sizeof list);
    ck_assert_str_eq(list, "target");
    struct stat sb;
    ck_assert(stat(path, &sb) == 0 && S_ISDIR(sb.st_mode));

    /* Overwriting succeeds and leaves nothing behind. */
    tmp_path(path, "ok.safetensors");
    size_t n;
    unsigned char *old = write_old(path, &n);
    UZ_CK_OK(uz_st_write(path, &e, 1, NULL, NULL, 0));
    uz_st_file *f = NULL;
    UZ_CK_OK(uz_st_open(path, &f));
    UZ_CK_NOTNULL(uz_st_find(f, "new"));
    uz_st_close(f);
    dir_listing(tmp_dir, list, sizeof list);
    ck_assert_str_eq(list, "ok.safetensors target");
    free(old);

    /* A directory we may not write to (root may write anywhere: skipped). */
    char ro[256];
    tmp_path(ro, "ro");
    ck_assert_int_eq(mkdir(ro, 0700), 0);
    tmp_path(path, "ro/out.safetensors");
    old = write_old(path, &n);
    ck_assert_int_eq(chmod(ro, 0500), 0);
    if (access(ro, W_OK) != 0) {
        ck_assert_int_eq(uz_st_write(path, &e, 1, NULL, NULL, 0), UZ_ERR_IO);
        ck_assert_ptr_nonnull(strstr(uz_error_message(), "Permission denied"));
        expect_unchanged(path, old, n);
        dir_listing(ro, list, sizeof list);
        ck_assert_str_eq(list, "out.safetensors");
    }
    chmod(ro, 0700);
    free(old);
    rm_rf(tmp_dir);
}
END_TEST

/* A write that fails part way (file size limit: works even as root). */
START_TEST(test_write_fails_midway)
{
    tmp_make();
    char path[256], list[512];
    tmp_path(path, "ckpt.safetensors");
    size_t n;
    unsigned char *old = write_old(path, &n);
    struct rlimit saved, lim;
    ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &saved), 0);
    lim = saved;
    lim.rlim_cur = 1024;
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
    signal(SIGXFSZ, SIG_IGN);
    uz_st_entry e = {"new", UZ_F32, 1, (int64_t[]){1000}, atom_new};
    ck_assert_int_eq(uz_st_write(path, &e, 1, NULL, NULL, 0), UZ_ERR_IO);
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &saved), 0);
    signal(SIGXFSZ, SIG_DFL);
    ck_assert_ptr_nonnull(strstr(uz_error_message(), path));
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "File too large"));
    expect_unchanged(path, old, n);
    dir_listing(tmp_dir, list, sizeof list);
    ck_assert_str_eq(list, "ckpt.safetensors");
    free(old);
    rm_rf(tmp_dir);
}
END_TEST

/* ---- parameter checkpoints --------------------------------------------------------------- */

typedef struct pdecl {
    const char *name;
    int ndim;
    int64_t shape[3];
} pdecl;

static uz_params *make_params(const pdecl *d, int n, uint64_t seed)
{
    uz_params *p = uz_params_new();
    for (int i = 0; i < n; i++)
        UZ_CK_NOTNULL(uz_params_add(p, d[i].name, d[i].ndim, d[i].shape));
    UZ_CK_OK(uz_params_finalize(p));
    if (seed)
        for (int i = 0; i < n; i++)
            uz_param_init_uniform(uz_params_at(p, i), seed, (uint64_t)i, -1.0f, 1.0f);
    return p;
}

static bool all_zero(uz_params *p)
{
    const float *d = uz_params_data(p);
    for (int64_t i = 0; i < uz_params_numel(p); i++)
        if (d[i] != 0.0f)
            return false;
    return true;
}

static void expect_load_error(const pdecl *d, int n, const char *path, const char *needle)
{
    uz_params *p = make_params(d, n, 0);
    ck_assert_int_eq(uz_params_load(p, path), UZ_ERR_FORMAT);
    ck_assert_msg(strstr(uz_error_message(), needle), "expected '%s' in: %s", needle,
                  uz_error_message());
    ck_assert_ptr_nonnull(strstr(uz_error_message(), path));
    ck_assert(all_zero(p)); /* a failed load changes nothing */
    uz_params_free(p);
}

START_TEST(test_params_io)
{
    tmp_make();
    char path[256];
    tmp_path(path, "model.safetensors");
    const pdecl decl[3] = {
        {"layer.0.weight", 2, {3, 4}}, {"layer.0.bias", 1, {4}}, {"emb", 3, {2, 2, 2}}};
    uz_params *a = make_params(decl, 3, 11);
    UZ_CK_OK(uz_params_save(a, path));

    uz_st_file *f = NULL;
    UZ_CK_OK(uz_st_open(path, &f));
    ck_assert_int_eq(uz_st_count(f), 3);
    ck_assert_int_eq(uz_st_find(f, "emb")->dtype, UZ_F32);
    ck_assert_str_eq(uz_st_metadata(f, "format"), "pt");
    uz_st_close(f);

    uz_params *b = make_params(decl, 3, 0);
    UZ_CK_OK(uz_params_load(b, path));
    ck_assert(memcmp(uz_params_data(a), uz_params_data(b),
                     sizeof(float) * (size_t)uz_params_numel(a)) == 0);
    uz_params_free(b);

    const pdecl more[4] = {decl[0], decl[1], decl[2], {"extra.weight", 1, {2}}};
    expect_load_error(more, 4, path, "parameter 'extra.weight' is missing from the file");
    expect_load_error(decl, 2, path, "tensor 'emb' is not a parameter of the model");
    const pdecl wrong[3] = {{"layer.0.weight", 2, {4, 3}}, decl[1], decl[2]};
    expect_load_error(wrong, 3, path,
                      "tensor 'layer.0.weight' has shape [3,4] in the file but [4,3] in the model");
    const pdecl renamed[3] = {{"layer.1.weight", 2, {3, 4}}, decl[1], decl[2]};
    expect_load_error(renamed, 3, path, "parameter 'layer.1.weight' is missing");

    tmp_path(path, "absent.safetensors");
    ck_assert_int_eq(uz_params_load(a, path), UZ_ERR_IO);
    uz_params_free(a);
    rm_rf(tmp_dir);
}
END_TEST

/* ---- golden helpers ------------------------------------------------------------------------ */

START_TEST(test_golden_helpers)
{
    tmp_make();
    char dir[256], path[256];
    ck_assert_int_eq(mkdir(tmp_path(dir, "tests"), 0700), 0);
    ck_assert_int_eq(mkdir(tmp_path(dir, "tests/golden"), 0700), 0);
    static const double y[6] = {1, 2, 3, 4, 5, 6};
    uz_st_entry e = {"y", UZ_F64, 2, (int64_t[]){2, 3}, y};
    UZ_CK_OK(uz_st_write(tmp_path(path, "tests/golden/g.safetensors"), &e, 1, NULL, NULL, 0));
    ck_assert_int_eq(setenv("UZ_SOURCE_DIR", tmp_dir, 1), 0);

    uz_ctx *ctx = uz_ctx_new(0, 0);
    ck_assert_ptr_null(uz_golden_open("absent.safetensors"));
    uz_st_file *f = uz_golden_open("g.safetensors");
    UZ_CK_NOTNULL(f);
    uz_tensor *want = uz_golden_tensor(ctx, f, "y");
    UZ_CK_NOTNULL(want);
    ck_assert_int_eq(want->ndim, 2);
    ck_assert_int_eq(want->shape[1], 3);
    ck_assert_ptr_null(uz_golden_tensor(ctx, f, "z"));
    uz_st_close(f);

    /* got as a transposed (non-contiguous) view of the same values. */
    float gt[6] = {1, 4, 2, 5, 3, 6};
    uz_tensor *got = uz_transpose(ctx, uz_tensor_from(ctx, 2, (int64_t[]){3, 2}, gt), 0, 1);
    char msg[256];
    ck_assert_msg(uz_golden_close_enough(got, want, 1e-6, 1e-6, msg, sizeof msg), "%s", msg);
    gt[5] = 6.5f; /* element [1,2] */
    got = uz_transpose(ctx, uz_tensor_from(ctx, 2, (int64_t[]){3, 2}, gt), 0, 1);
    ck_assert(!uz_golden_close_enough(got, want, 1e-3, 1e-3, msg, sizeof msg));
    ck_assert_msg(strstr(msg, "0.5 at [1,2]") && strstr(msg, "1 of 6"), "%s", msg);
    /* Within a loose relative tolerance it passes. */
    ck_assert_msg(uz_golden_close_enough(got, want, 0.0, 0.1, msg, sizeof msg), "%s", msg);
    got = uz_tensor_from(ctx, 2, (int64_t[]){2, 3}, (float[]){1, 2, 3, 4, 5, NAN});
    ck_assert(!uz_golden_close_enough(got, want, 1.0, 1.0, msg, sizeof msg));
    got = uz_tensor_zeros(ctx, 2, (int64_t[]){3, 2});
    ck_assert(!uz_golden_close_enough(got, want, 1.0, 1.0, msg, sizeof msg));
    ck_assert_msg(strstr(msg, "shape [3,2], expected [2,3]"), "%s", msg);
    uz_ctx_free(ctx);
    rm_rf(tmp_dir);
}
END_TEST

Suite *make_suite(void)
{
    Suite *s = suite_create("safetensors");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_round_trip);
    tcase_add_test(tc, test_python_single);
    tcase_add_test(tc, test_python_multi);
    tcase_add_test(tc, test_reject_truncated);
    tcase_add_test(tc, test_reject_header);
    tcase_add_test(tc, test_reject_length);
    tcase_add_test(tc, test_write_bad_entries);
    tcase_add_test(tc, test_write_atomic);
    tcase_add_test(tc, test_write_fails_midway);
    tcase_add_test(tc, test_params_io);
    tcase_add_test(tc, test_golden_helpers);
    suite_add_tcase(s, tc);
    return s;
}
