/* Config loading: the defaults tree (which doubles as the schema: a field
 * exists iff it has a default, and its default fixes its JSON type), the
 * merge of the user's file into it, `--set` overrides, and value checks.
 * Overrides are applied to the user's tree and the result resolved again,
 * so a --set that changes optim.kind or family also brings that kind's
 * defaults (e.g. AdamW's weight decay) rather than the old kind's. */
#include "train/config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { PATH_LEN = 256 };

/* Arrays whose elements are objects: each element is resolved against this
 * template (the array's own default may be empty). */
static const struct {
    const char *path;
    const char *tmpl;
} object_arrays[] = {
    {"optim.groups", "{\"match\":\"\",\"lr_scale\":1,\"weight_decay\":0,\"no_adapt\":false}"},
    {"tasks", "{\"name\":\"\",\"ratio\":1,\"weight\":1,\"batch\":0}"},
};

const char *const uz_config_resume_free[] = {"train.steps", "train.log_every", "train.eval_every",
                                             "train.ckpt_every"};
const int uz_config_resume_free_count =
    (int)(sizeof uz_config_resume_free / sizeof uz_config_resume_free[0]);

static const char *type_name(const cJSON *j)
{
    if (cJSON_IsNumber(j))
        return "a number";
    if (cJSON_IsString(j))
        return "a string";
    if (cJSON_IsBool(j))
        return "true or false";
    if (cJSON_IsArray(j))
        return "an array";
    if (cJSON_IsObject(j))
        return "an object";
    return "null";
}

static bool same_type(const cJSON *a, const cJSON *b)
{
    return (cJSON_IsNumber(a) && cJSON_IsNumber(b)) || (cJSON_IsString(a) && cJSON_IsString(b)) ||
           (cJSON_IsBool(a) && cJSON_IsBool(b)) || (cJSON_IsArray(a) && cJSON_IsArray(b)) ||
           (cJSON_IsObject(a) && cJSON_IsObject(b));
}

static void join(char *out, const char *path, const char *key)
{
    if (path[0])
        snprintf(out, PATH_LEN, "%s.%s", path, key);
    else
        snprintf(out, PATH_LEN, "%s", key);
}

static void keys_of(const cJSON *obj, char *buf, size_t n)
{
    size_t used = 0;
    buf[0] = '\0';
    for (const cJSON *c = obj ? obj->child : NULL; c && used < n; c = c->next) {
        int w = snprintf(buf + used, n - used, "%s%s", used ? ", " : "", c->string);
        if (w < 0)
            break;
        used += (size_t)w;
    }
}

static const char *array_template(const char *path)
{
    for (size_t i = 0; i < sizeof object_arrays / sizeof object_arrays[0]; i++)
        if (strcmp(object_arrays[i].path, path) == 0)
            return object_arrays[i].tmpl;
    return NULL;
}

static uz_status fill(cJSON *r, const cJSON *d, const char *path);

static uz_status fill_array(cJSON *arr, const cJSON *d, const char *path)
{
    const char *tmpl = array_template(path);
    cJSON *t = tmpl ? cJSON_Parse(tmpl) : NULL;
    if (tmpl && !t)
        return UZ_FAIL(UZ_ERR_NOMEM, "config %s: out of memory", path);
    const cJSON *elem_def = t ? t : cJSON_GetArrayItem(d, 0);
    uz_status st = UZ_OK;
    int i = 0;
    for (cJSON *e = arr->child; e && st == UZ_OK; e = e->next, i++) {
        char p[PATH_LEN + 16];
        snprintf(p, sizeof p, "%s.%d", path, i);
        if (!elem_def)
            st = UZ_FAIL(UZ_ERR_ARG, "config %s: this array takes no entries", p);
        else if (!same_type(e, elem_def))
            st = UZ_FAIL(UZ_ERR_ARG, "config %s: expected %s, got %s", p, type_name(elem_def),
                         type_name(e));
        else if (cJSON_IsObject(e))
            st = fill(e, elem_def, p);
    }
    cJSON_Delete(t);
    return st;
}

/* Checks r (the user's object, being resolved in place) against d and adds
 * every default r lacks. */
static uz_status fill(cJSON *r, const cJSON *d, const char *path)
{
    for (cJSON *c = r->child; c; c = c->next) {
        char p[PATH_LEN];
        join(p, path, c->string);
        const cJSON *dc = cJSON_GetObjectItemCaseSensitive(d, c->string);
        if (!dc) {
            char allowed[512];
            keys_of(d, allowed, sizeof allowed);
            return UZ_FAIL(UZ_ERR_ARG, "config %s: unknown field (allowed: %s)", p,
                           allowed[0] ? allowed : "none");
        }
        if (!same_type(c, dc))
            return UZ_FAIL(UZ_ERR_ARG, "config %s: expected %s, got %s", p, type_name(dc),
                           type_name(c));
        uz_status st = UZ_OK;
        if (cJSON_IsObject(c))
            st = fill(c, dc, p);
        else if (cJSON_IsArray(c))
            st = fill_array(c, dc, p);
        if (st != UZ_OK)
            return st;
    }
    for (const cJSON *dc = d->child; dc; dc = dc->next) {
        if (cJSON_GetObjectItemCaseSensitive(r, dc->string))
            continue;
        cJSON *copy = cJSON_Duplicate(dc, 1);
        if (!copy || !cJSON_AddItemToObject(r, dc->string, copy)) {
            cJSON_Delete(copy);
            return UZ_FAIL(UZ_ERR_NOMEM, "config %s: out of memory", path);
        }
        /* A default array of objects gets its template's fields too. */
        char p[PATH_LEN];
        join(p, path, dc->string);
        uz_status st = cJSON_IsArray(copy) ? fill_array(copy, dc, p) : UZ_OK;
        if (st != UZ_OK)
            return st;
    }
    return UZ_OK;
}

/* A float default as the shortest decimal that reads back as the same float,
 * so the resolved config says 0.9 rather than 0.899999976158. */
static double float_json(float f)
{
    char buf[32];
    for (int prec = 6; prec <= 9; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, (double)f);
        double v = strtod(buf, NULL);
        if ((float)v == f)
            return v;
    }
    return (double)f;
}

static cJSON *optim_defaults(uz_optim_kind kind)
{
    uz_optim_config d = uz_optim_defaults(kind);
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON_AddStringToObject(o, "kind", uz_optim_kind_name(kind));
    cJSON_AddNumberToObject(o, "weight_decay", float_json(d.weight_decay));
    cJSON_AddNumberToObject(o, "momentum", float_json(d.momentum));
    cJSON_AddBoolToObject(o, "nesterov", d.nesterov);
    cJSON_AddNumberToObject(o, "beta1", float_json(d.beta1));
    cJSON_AddNumberToObject(o, "beta2", float_json(d.beta2));
    cJSON_AddNumberToObject(o, "eps", float_json(d.eps));
    cJSON_AddBoolToObject(o, "bias_correction", d.bias_correction);
    cJSON_AddNumberToObject(o, "lars_eta", float_json(d.lars_eta));
    cJSON_AddNumberToObject(o, "initial_accumulator", float_json(d.initial_accumulator));
    cJSON_AddStringToObject(o, "exclude", d.exclude ? d.exclude : "");
    cJSON_AddArrayToObject(o, "groups");
    cJSON_AddNumberToObject(o, "max_grad_norm", float_json(d.max_grad_norm));
    cJSON_AddBoolToObject(o, "fp8_states", d.fp8_states);
    return o;
}

static const char trainer_defaults[] =
    "{\"name\":\"\",\"family\":\"\",\"description\":\"\",\"model\":{},"
    "\"train\":{\"steps\":1000,\"batch\":32,\"micro_batches\":1,\"seed\":0,\"log_every\":50,"
    "\"eval_every\":0,\"ckpt_every\":0,\"early_stop\":\"\",\"patience\":0},"
    "\"optim\":{},"
    "\"lr\":{\"base\":0.01,\"warmup_steps\":0,\"decay\":\"constant\",\"total_steps\":0,"
    "\"min_lr\":0,\"step_size\":0,\"gamma\":0.1},"
    "\"batch_schedule\":{\"kind\":\"fixed\",\"eta\":0.1,\"b_max\":4096,\"lr_rule\":\"auto\"},"
    "\"tasks\":[{\"name\":\"main\"}],"
    "\"sampling\":\"unmixed\"}";

static void family_list(const uz_model_family *const *fams, int n, char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < n && used < len; i++) {
        int w = snprintf(buf + used, len - used, "%s%s", i ? ", " : "", fams[i]->name);
        if (w < 0)
            break;
        used += (size_t)w;
    }
}

static void kind_list(char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int k = UZ_OPTIM_SGD; k <= UZ_OPTIM_ADAGRAD_NORM && used < len; k++) {
        int w = snprintf(buf + used, len - used, "%s%s", k ? ", " : "",
                         uz_optim_kind_name((uz_optim_kind)k));
        if (w < 0)
            break;
        used += (size_t)w;
    }
}

/* The defaults for this user tree: they depend on its family and optimizer
 * kind, read (and checked) first. */
static uz_status build_defaults(const cJSON *user, const uz_model_family *const *fams, int n_fams,
                                cJSON **out, const uz_model_family **fam_out)
{
    char list[512];
    const cJSON *fj = cJSON_GetObjectItemCaseSensitive(user, "family");
    family_list(fams, n_fams, list, sizeof list);
    if (!fj)
        return UZ_FAIL(UZ_ERR_ARG, "config family: missing (one of %s)", list);
    if (!cJSON_IsString(fj))
        return UZ_FAIL(UZ_ERR_ARG, "config family: expected a string, got %s", type_name(fj));
    const uz_model_family *fam = NULL;
    for (int i = 0; i < n_fams; i++)
        if (strcmp(fams[i]->name, fj->valuestring) == 0)
            fam = fams[i];
    if (!fam)
        return UZ_FAIL(UZ_ERR_ARG, "config family: '%s' is not one of %s", fj->valuestring, list);

    uz_optim_kind kind = UZ_OPTIM_SGD;
    const cJSON *kj = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(user, "optim"), "kind");
    if (cJSON_IsString(kj) && uz_optim_kind_parse(kj->valuestring, &kind) != UZ_OK) {
        kind_list(list, sizeof list);
        return UZ_FAIL(UZ_ERR_ARG, "config optim.kind: '%s' is not one of %s", kj->valuestring,
                       list);
    }

    cJSON *d = cJSON_Parse(trainer_defaults);
    cJSON *model = cJSON_Parse(fam->defaults);
    cJSON *optim = optim_defaults(kind);
    if (!d || !model || !optim || !cJSON_IsObject(model)) {
        cJSON_Delete(d);
        cJSON_Delete(model);
        cJSON_Delete(optim);
        return UZ_FAIL(UZ_ERR_FORMAT, "config: the defaults of family '%s' are not a JSON object",
                       fam->name);
    }
    cJSON_ReplaceItemInObjectCaseSensitive(d, "model", model);
    cJSON_ReplaceItemInObjectCaseSensitive(d, "optim", optim);
    *out = d;
    *fam_out = fam;
    return UZ_OK;
}

static uz_status resolve(const cJSON *user, const uz_model_family *const *fams, int n_fams, cJSON **out,
                         const uz_model_family **fam)
{
    if (!cJSON_IsObject(user))
        return UZ_FAIL(UZ_ERR_ARG, "config: expected a JSON object at the top level, got %s",
                       type_name(user));
    cJSON *d = NULL;
    uz_status st = build_defaults(user, fams, n_fams, &d, fam);
    if (st != UZ_OK)
        return st;
    cJSON *r = cJSON_Duplicate(user, 1);
    if (!r) {
        cJSON_Delete(d);
        return UZ_FAIL(UZ_ERR_NOMEM, "config: out of memory");
    }
    st = fill(r, d, "");
    cJSON_Delete(d);
    if (st != UZ_OK) {
        cJSON_Delete(r);
        return st;
    }
    *out = r;
    return UZ_OK;
}

/* ---- --set ---------------------------------------------------------------- */

static bool parse_index(const char *s, int size, int *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (!*s || *end || v < 0 || v >= size)
        return false;
    *out = (int)v;
    return true;
}

static cJSON *child_of(cJSON *node, const char *seg)
{
    if (cJSON_IsObject(node))
        return cJSON_GetObjectItemCaseSensitive(node, seg);
    int i;
    if (cJSON_IsArray(node) && parse_index(seg, cJSON_GetArraySize(node), &i))
        return cJSON_GetArrayItem(node, i);
    return NULL;
}

static cJSON *typed_value(const cJSON *like, const char *path, const char *v)
{
    if (cJSON_IsNumber(like)) {
        char *end;
        double x = strtod(v, &end);
        if (!*v || *end || !isfinite(x)) {
            UZ_FAIL(UZ_ERR_ARG, "config --set %s: '%s' is not a number", path, v);
            return NULL;
        }
        return cJSON_CreateNumber(x);
    }
    if (cJSON_IsBool(like)) {
        if (strcmp(v, "true") == 0 || strcmp(v, "false") == 0)
            return cJSON_CreateBool(v[0] == 't');
        UZ_FAIL(UZ_ERR_ARG, "config --set %s: '%s' is not true or false", path, v);
        return NULL;
    }
    if (cJSON_IsString(like))
        return cJSON_CreateString(v);
    cJSON *j = cJSON_Parse(v);
    if (!j || !same_type(j, like)) {
        cJSON_Delete(j);
        UZ_FAIL(UZ_ERR_ARG, "config --set %s: '%s' is not %s in JSON", path, v, type_name(like));
        return NULL;
    }
    return j;
}

/* Applies one "path=value" to the user's tree; the path and the value's type
 * come from the resolved tree. */
static uz_status apply_set(cJSON *user, cJSON *resolved, const char *set)
{
    const char *eq = strchr(set, '=');
    if (!eq || eq == set)
        return UZ_FAIL(UZ_ERR_ARG, "config --set '%s': expected path=value", set);
    size_t plen = (size_t)(eq - set);
    if (plen >= PATH_LEN)
        return UZ_FAIL(UZ_ERR_ARG, "config --set: path too long");
    char path[PATH_LEN], segs[PATH_LEN];
    memcpy(path, set, plen);
    path[plen] = '\0';
    memcpy(segs, path, plen + 1);

    /* Walk the resolved tree to find the field and its parent in both trees. */
    cJSON *r = resolved, *u = user;
    char done[PATH_LEN] = "";
    char *save = NULL;
    char *seg = strtok_r(segs, ".", &save);
    while (seg) {
        char *next = strtok_r(NULL, ".", &save);
        cJSON *rc = child_of(r, seg);
        if (!rc) {
            char allowed[512] = "";
            if (cJSON_IsObject(r))
                keys_of(r, allowed, sizeof allowed);
            else if (cJSON_IsArray(r))
                snprintf(allowed, sizeof allowed, "indices 0..%d", cJSON_GetArraySize(r) - 1);
            return UZ_FAIL(UZ_ERR_ARG, "config --set %s: no such field%s%s%s%s%s", path,
                           allowed[0] ? " (" : "", done[0] ? done : "", done[0] ? " has " : "",
                           allowed[0] ? allowed : "", allowed[0] ? ")" : "");
        }
        /* The user's tree may lack this level (defaulted): copy it in. */
        cJSON *uc = child_of(u, seg);
        if (!next) {
            cJSON *v = typed_value(rc, path, eq + 1);
            if (!v)
                return uz_error_status();
            bool ok;
            if (cJSON_IsArray(u)) {
                ok = cJSON_ReplaceItemInArray(u, atoi(seg), v);
            } else if (uc) {
                ok = cJSON_ReplaceItemInObjectCaseSensitive(u, seg, v);
            } else {
                ok = cJSON_AddItemToObject(u, seg, v);
            }
            if (!ok) {
                cJSON_Delete(v);
                return UZ_FAIL(UZ_ERR_NOMEM, "config --set %s: out of memory", path);
            }
            return UZ_OK;
        }
        if (!uc) {
            uc = cJSON_IsObject(rc) ? cJSON_CreateObject() : cJSON_Duplicate(rc, 1);
            if (!uc || !cJSON_AddItemToObject(u, seg, uc)) {
                cJSON_Delete(uc);
                return UZ_FAIL(UZ_ERR_NOMEM, "config --set %s: out of memory", path);
            }
        }
        size_t dl = strlen(done);
        snprintf(done + dl, sizeof done - dl, "%s%s", dl ? "." : "", seg);
        r = rc;
        u = uc;
        seg = next;
    }
    return UZ_FAIL(UZ_ERR_ARG, "config --set '%s': empty path", set);
}

/* ---- value checks ------------------------------------------------------------ */

/* The field's path for messages ("lr.base"; top-level fields have no section). */
static const cJSON *field(const cJSON *obj, const char *section, const char *key, char *fp)
{
    join(fp, section, key);
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!j)
        UZ_FAIL(UZ_ERR_ARG, "config %s: missing", fp);
    return j;
}

uz_status uz_cfg_int(const cJSON *obj, const char *section, const char *key, int64_t lo,
                     int64_t hi, int64_t *out)
{
    char fp[PATH_LEN];
    const cJSON *j = field(obj, section, key, fp);
    if (!j)
        return uz_error_status();
    if (!cJSON_IsNumber(j))
        return UZ_FAIL(UZ_ERR_ARG, "config %s: expected a number, got %s", fp, type_name(j));
    double v = j->valuedouble;
    if (v != floor(v) || v < (double)lo || v > (double)hi)
        return UZ_FAIL(UZ_ERR_ARG, "config %s: %.15g is not allowed (integers in [%lld, %lld])",
                       fp, v, (long long)lo, (long long)hi);
    *out = (int64_t)v;
    return UZ_OK;
}

static void fmt_bound(char *buf, size_t n, double v)
{
    if (isinf(v))
        snprintf(buf, n, "%sinf", v < 0 ? "-" : "");
    else
        snprintf(buf, n, "%g", v);
}

uz_status uz_cfg_num(const cJSON *obj, const char *section, const char *key, double lo,
                     bool lo_open, double hi, bool hi_open, double *out)
{
    char fp[PATH_LEN];
    const cJSON *j = field(obj, section, key, fp);
    if (!j)
        return uz_error_status();
    if (!cJSON_IsNumber(j))
        return UZ_FAIL(UZ_ERR_ARG, "config %s: expected a number, got %s", fp, type_name(j));
    double v = j->valuedouble;
    if (!(isfinite(v) && (lo_open ? v > lo : v >= lo) && (hi_open ? v < hi : v <= hi))) {
        char a[32], b[32];
        fmt_bound(a, sizeof a, lo);
        fmt_bound(b, sizeof b, hi);
        return UZ_FAIL(UZ_ERR_ARG, "config %s: %g is not allowed (numbers in %c%s, %s%c)", fp, v,
                       lo_open ? '(' : '[', a, b, hi_open ? ')' : ']');
    }
    *out = v;
    return UZ_OK;
}

uz_status uz_cfg_bool(const cJSON *obj, const char *section, const char *key, bool *out)
{
    char fp[PATH_LEN];
    const cJSON *j = field(obj, section, key, fp);
    if (!j)
        return uz_error_status();
    if (!cJSON_IsBool(j))
        return UZ_FAIL(UZ_ERR_ARG, "config %s: expected true or false, got %s", fp, type_name(j));
    *out = cJSON_IsTrue(j);
    return UZ_OK;
}

uz_status uz_cfg_str(const cJSON *obj, const char *section, const char *key, const char **out)
{
    char fp[PATH_LEN];
    const cJSON *j = field(obj, section, key, fp);
    if (!j)
        return uz_error_status();
    if (!cJSON_IsString(j))
        return UZ_FAIL(UZ_ERR_ARG, "config %s: expected a string, got %s", fp, type_name(j));
    *out = j->valuestring;
    return UZ_OK;
}

uz_status uz_cfg_enum(const cJSON *obj, const char *section, const char *key,
                      const char *const *names, int n, int *out)
{
    const char *s;
    uz_status st = uz_cfg_str(obj, section, key, &s);
    if (st != UZ_OK)
        return st;
    for (int i = 0; i < n; i++)
        if (strcmp(s, names[i]) == 0) {
            *out = i;
            return UZ_OK;
        }
    char list[512], fp[PATH_LEN];
    size_t used = 0;
    list[0] = '\0';
    for (int i = 0; i < n && used < sizeof list; i++) {
        int w = snprintf(list + used, sizeof list - used, "%s%s", i ? ", " : "", names[i]);
        if (w < 0)
            break;
        used += (size_t)w;
    }
    join(fp, section, key);
    return UZ_FAIL(UZ_ERR_ARG, "config %s: '%s' is not one of %s", fp, s, list);
}

uz_status uz_cfg_int_array(const cJSON *obj, const char *section, const char *key, int n_min,
                           int n_max, int64_t lo, int64_t hi, int64_t *out, int *n)
{
    char fp[PATH_LEN];
    const cJSON *j = field(obj, section, key, fp);
    if (!j)
        return uz_error_status();
    int len = cJSON_IsArray(j) ? cJSON_GetArraySize(j) : -1;
    if (len < n_min || len > n_max)
        return UZ_FAIL(UZ_ERR_ARG, "config %s: expected an array of %d to %d integers", fp, n_min,
                       n_max);
    int i = 0;
    for (const cJSON *e = j->child; e; e = e->next, i++) {
        double v = e->valuedouble;
        if (!cJSON_IsNumber(e) || v != floor(v) || v < (double)lo || v > (double)hi)
            return UZ_FAIL(UZ_ERR_ARG, "config %s.%d: %g is not allowed (integers in [%lld, %lld])",
                           fp, i, v, (long long)lo, (long long)hi);
        out[i] = (int64_t)v;
    }
    *n = len;
    return UZ_OK;
}

/* ---- the trainer's sections ---------------------------------------------------- */

#define TRY(x)                                                                                     \
    do {                                                                                           \
        uz_status st_ = (x);                                                                       \
        if (st_ != UZ_OK)                                                                          \
            return st_;                                                                            \
    } while (0)

static uz_status check_train(uz_train_config *c)
{
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(c->root, "train");
    int64_t v;
    TRY(uz_cfg_int(t, "train", "steps", 1, INT64_C(1) << 40, &c->steps));
    TRY(uz_cfg_int(t, "train", "batch", 1, INT64_C(1) << 30, &c->batch));
    TRY(uz_cfg_int(t, "train", "micro_batches", 1, 4096, &v));
    c->micro_batches = (int)v;
    if (v > c->batch)
        return UZ_FAIL(UZ_ERR_ARG,
                       "config train.micro_batches: %lld is more than train.batch (%lld)",
                       (long long)v, (long long)c->batch);
    /* Integers above 2^53 do not survive JSON's doubles. */
    TRY(uz_cfg_int(t, "train", "seed", 0, INT64_C(1) << 53, &v));
    c->seed = (uint64_t)v;
    TRY(uz_cfg_int(t, "train", "log_every", 1, INT64_C(1) << 40, &c->log_every));
    TRY(uz_cfg_int(t, "train", "eval_every", 0, INT64_C(1) << 40, &c->eval_every));
    TRY(uz_cfg_int(t, "train", "ckpt_every", 0, INT64_C(1) << 40, &c->ckpt_every));
    TRY(uz_cfg_str(t, "train", "early_stop", &c->early_stop));
    TRY(uz_cfg_int(t, "train", "patience", 0, INT64_C(1) << 40, &c->patience));
    if (c->patience > 0 && !c->early_stop[0])
        return UZ_FAIL(UZ_ERR_ARG, "config train.patience: %lld needs train.early_stop (the "
                                   "metric to watch, e.g. \"valid/mrr@10\")",
                       (long long)c->patience);
    return UZ_OK;
}

static uz_status check_optim(uz_train_config *c)
{
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(c->root, "optim");
    const char *s = "optim";
    const char *kind;
    TRY(uz_cfg_str(o, s, "kind", &kind));
    uz_optim_kind k;
    if (uz_optim_kind_parse(kind, &k) != UZ_OK) {
        char list[256];
        kind_list(list, sizeof list);
        return UZ_FAIL(UZ_ERR_ARG, "config optim.kind: '%s' is not one of %s", kind, list);
    }
    uz_optim_config *oc = &c->optim;
    *oc = uz_optim_defaults(k);
    double v;
    TRY(uz_cfg_num(o, s, "weight_decay", 0, false, INFINITY, true, &v));
    oc->weight_decay = (float)v;
    TRY(uz_cfg_num(o, s, "momentum", 0, false, 1, true, &v));
    oc->momentum = (float)v;
    TRY(uz_cfg_bool(o, s, "nesterov", &oc->nesterov));
    if (oc->nesterov && oc->momentum <= 0.0f && (k == UZ_OPTIM_SGD || k == UZ_OPTIM_LARS))
        return UZ_FAIL(UZ_ERR_ARG, "config optim.nesterov: needs optim.momentum > 0");
    TRY(uz_cfg_num(o, s, "beta1", 0, false, 1, true, &v));
    oc->beta1 = (float)v;
    TRY(uz_cfg_num(o, s, "beta2", 0, false, 1, true, &v));
    oc->beta2 = (float)v;
    TRY(uz_cfg_num(o, s, "eps", 0, false, 1, false, &v));
    oc->eps = (float)v;
    TRY(uz_cfg_bool(o, s, "bias_correction", &oc->bias_correction));
    TRY(uz_cfg_num(o, s, "lars_eta", 0, false, INFINITY, true, &v));
    oc->lars_eta = (float)v;
    if (k == UZ_OPTIM_LARS && !(v > 0))
        return UZ_FAIL(UZ_ERR_ARG, "config optim.lars_eta: lars needs a trust coefficient > 0");
    TRY(uz_cfg_num(o, s, "initial_accumulator", 0, false, INFINITY, true, &v));
    oc->initial_accumulator = (float)v;
    if (k == UZ_OPTIM_ADAGRAD_NORM && !(v > 0))
        return UZ_FAIL(UZ_ERR_ARG,
                       "config optim.initial_accumulator: adagrad-norm needs b0^2 > 0, got %g", v);
    TRY(uz_cfg_str(o, s, "exclude", &oc->exclude));
    TRY(uz_cfg_num(o, s, "max_grad_norm", 0, false, INFINITY, true, &v));
    oc->max_grad_norm = (float)v;
    TRY(uz_cfg_bool(o, s, "fp8_states", &oc->fp8_states));
    if (oc->fp8_states && k != UZ_OPTIM_ADAMW && k != UZ_OPTIM_MT_ADAMW && k != UZ_OPTIM_LAMB)
        return UZ_FAIL(UZ_ERR_ARG,
                       "config optim.fp8_states: only for adamw, mt-adamw and lamb, not %s", kind);

    const cJSON *groups = cJSON_GetObjectItemCaseSensitive(o, "groups");
    int ng = cJSON_GetArraySize(groups);
    if (ng > UZ_OPTIM_MAX_GROUPS)
        return UZ_FAIL(UZ_ERR_ARG, "config optim.groups: %d groups, at most %d", ng,
                       UZ_OPTIM_MAX_GROUPS);
    oc->n_groups = ng;
    for (int i = 0; i < ng; i++) {
        const cJSON *g = cJSON_GetArrayItem(groups, i);
        char sec[32];
        snprintf(sec, sizeof sec, "optim.groups.%d", i);
        uz_optim_group *og = &oc->groups[i];
        TRY(uz_cfg_str(g, sec, "match", &og->match));
        if (!og->match[0])
            return UZ_FAIL(UZ_ERR_ARG, "config %s.match: must name at least one substring", sec);
        TRY(uz_cfg_num(g, sec, "lr_scale", 0, false, INFINITY, true, &v));
        og->lr_scale = (float)v;
        TRY(uz_cfg_num(g, sec, "weight_decay", 0, false, INFINITY, true, &v));
        og->weight_decay = (float)v;
        TRY(uz_cfg_bool(g, sec, "no_adapt", &og->no_adapt));
    }
    return UZ_OK;
}

static uz_status check_lr(uz_train_config *c)
{
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(c->root, "lr");
    const char *s = "lr";
    uz_lr_schedule *l = &c->lr;
    double v;
    int64_t iv;
    TRY(uz_cfg_num(o, s, "base", 0, true, INFINITY, true, &v));
    l->base_lr = (float)v;
    TRY(uz_cfg_int(o, s, "warmup_steps", 0, INT64_C(1) << 40, &l->warmup_steps));
    static const char *const decays[] = {"constant", "cosine", "linear", "step"};
    int d;
    TRY(uz_cfg_enum(o, s, "decay", decays, 4, &d));
    TRY(uz_lr_decay_parse(decays[d], &l->decay));
    TRY(uz_cfg_int(o, s, "total_steps", 0, INT64_C(1) << 40, &iv));
    l->total_steps = iv ? iv : c->steps;
    TRY(uz_cfg_num(o, s, "min_lr", 0, false, (double)l->base_lr, false, &v));
    l->min_lr = (float)v;
    TRY(uz_cfg_int(o, s, "step_size", 0, INT64_C(1) << 40, &l->step_size));
    if (l->decay == UZ_LR_STEP && l->step_size < 1)
        return UZ_FAIL(UZ_ERR_ARG, "config lr.step_size: must be >= 1 when lr.decay is step");
    TRY(uz_cfg_num(o, s, "gamma", 0, true, 1, false, &v));
    l->gamma = (float)v;
    return UZ_OK;
}

static uz_status check_batch_schedule(uz_train_config *c)
{
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(c->root, "batch_schedule");
    const char *s = "batch_schedule";
    static const char *const kinds[] = {"fixed", "adaptive"};
    static const char *const rules[] = {"auto", "none", "linear", "sqrt"};
    int k, r;
    TRY(uz_cfg_enum(o, s, "kind", kinds, 2, &k));
    c->adaptive = k == 1;
    TRY(uz_cfg_num(o, s, "eta", 0, true, INFINITY, true, &c->eta));
    TRY(uz_cfg_int(o, s, "b_max", 1, INT64_C(1) << 30, &c->b_max));
    if (c->adaptive && c->b_max < c->batch)
        return UZ_FAIL(UZ_ERR_ARG, "config batch_schedule.b_max: %lld is below train.batch (%lld)",
                       (long long)c->b_max, (long long)c->batch);
    TRY(uz_cfg_enum(o, s, "lr_rule", rules, 4, &r));
    if (r == 0) {
        /* Linear scaling for the SGD family, square root for adaptive methods. */
        uz_optim_kind kind = c->optim.kind;
        c->lr_rule = kind == UZ_OPTIM_SGD || kind == UZ_OPTIM_LARS ? UZ_LR_RULE_LINEAR
                                                                   : UZ_LR_RULE_SQRT;
    } else {
        c->lr_rule = r == 1 ? UZ_LR_RULE_NONE : r == 2 ? UZ_LR_RULE_LINEAR : UZ_LR_RULE_SQRT;
    }
    return UZ_OK;
}

static uz_status check_tasks(uz_train_config *c)
{
    const cJSON *tasks = cJSON_GetObjectItemCaseSensitive(c->root, "tasks");
    int n = cJSON_GetArraySize(tasks);
    if (n < 1 || n > UZ_MAX_TASKS)
        return UZ_FAIL(UZ_ERR_ARG, "config tasks: %d entries, allowed 1 to %d", n, UZ_MAX_TASKS);
    c->n_tasks = n;
    for (int i = 0; i < n; i++) {
        const cJSON *t = cJSON_GetArrayItem(tasks, i);
        char sec[32];
        snprintf(sec, sizeof sec, "tasks.%d", i);
        uz_task_config *tc = &c->tasks[i];
        TRY(uz_cfg_str(t, sec, "name", &tc->name));
        if (!tc->name[0] || strlen(tc->name) > 32 || strpbrk(tc->name, "\"\\/ "))
            return UZ_FAIL(UZ_ERR_ARG,
                           "config %s.name: '%s' must be 1 to 32 characters without spaces, "
                           "quotes, slashes or backslashes",
                           sec, tc->name);
        for (int j = 0; j < i; j++)
            if (strcmp(c->tasks[j].name, tc->name) == 0)
                return UZ_FAIL(UZ_ERR_ARG, "config %s.name: '%s' is already task %d", sec,
                               tc->name, j);
        TRY(uz_cfg_num(t, sec, "ratio", 0, true, INFINITY, true, &tc->ratio));
        double w;
        TRY(uz_cfg_num(t, sec, "weight", 0, true, INFINITY, true, &w));
        tc->weight = (float)w;
        TRY(uz_cfg_int(t, sec, "batch", 0, INT64_C(1) << 30, &tc->batch));
    }
    static const char *const modes[] = {"unmixed", "mixed"};
    int m;
    TRY(uz_cfg_enum(c->root, "", "sampling", modes, 2, &m));
    c->mixed = m == 1;
    if (c->mixed && c->optim.kind == UZ_OPTIM_MT_ADAMW)
        return UZ_FAIL(UZ_ERR_ARG,
                       "config sampling: 'mixed' cannot be used with optim.kind mt-adamw, which "
                       "needs one task per step (use 'unmixed')");
    for (int i = 0; i < n; i++)
        if (c->tasks[i].batch > 0 && (c->mixed || c->adaptive))
            return UZ_FAIL(UZ_ERR_ARG,
                           "config tasks.%d.batch: a task's own batch size needs unmixed "
                           "sampling and a fixed batch_schedule",
                           i);
    return UZ_OK;
}

static uz_status check_all(uz_train_config *c)
{
    TRY(uz_cfg_str(c->root, "", "name", &c->name));
    TRY(uz_cfg_str(c->root, "", "family", &c->family));
    TRY(uz_cfg_str(c->root, "", "description", &c->description));
    c->model = cJSON_GetObjectItemCaseSensitive(c->root, "model");
    TRY(check_train(c));
    TRY(check_optim(c));
    TRY(check_lr(c));
    TRY(check_batch_schedule(c));
    TRY(check_tasks(c));
    return UZ_OK;
}

uz_status uz_config_load(const char *text, const char *source, const uz_model_family *const *families,
                         int n_families, const char *const *sets, int n_sets,
                         uz_train_config *out)
{
    memset(out, 0, sizeof *out);
    const char *end = NULL;
    cJSON *user = cJSON_ParseWithOpts(text, &end, 1);
    if (!user) {
        int line = 1;
        for (const char *p = text; end && p < end; p++)
            line += *p == '\n';
        return UZ_FAIL(UZ_ERR_FORMAT, "config %s: invalid JSON near line %d", source, line);
    }
    cJSON *r = NULL;
    const uz_model_family *fam = NULL;
    uz_status st = resolve(user, families, n_families, &r, &fam);
    for (int i = 0; i < n_sets && st == UZ_OK; i++) {
        st = apply_set(user, r, sets[i]);
        if (st == UZ_OK) {
            cJSON_Delete(r);
            r = NULL;
            st = resolve(user, families, n_families, &r, &fam);
        }
    }
    cJSON_Delete(user);
    if (st != UZ_OK) {
        cJSON_Delete(r);
        return st;
    }
    out->root = r;
    out->model_family = fam;
    st = check_all(out);
    if (st != UZ_OK)
        uz_config_free(out);
    return st;
}

void uz_config_free(uz_train_config *c)
{
    if (!c)
        return;
    cJSON_Delete(c->root);
    memset(c, 0, sizeof *c);
}

char *uz_config_json(const uz_train_config *c)
{
    return cJSON_PrintUnformatted(c->root);
}

static bool ignored(const char *path, const char *const *ignore, int n)
{
    for (int i = 0; i < n; i++)
        if (strcmp(path, ignore[i]) == 0)
            return true;
    return false;
}

static bool diff_at(const cJSON *a, const cJSON *b, const char *path, const char *const *ignore,
                    int n_ignore, char *buf, size_t n)
{
    if (ignored(path, ignore, n_ignore))
        return false;
    if (cJSON_IsObject(a) && cJSON_IsObject(b)) {
        for (const cJSON *c = a->child; c; c = c->next) {
            char p[PATH_LEN];
            join(p, path, c->string);
            const cJSON *bc = cJSON_GetObjectItemCaseSensitive(b, c->string);
            if (!bc) {
                if (ignored(p, ignore, n_ignore))
                    continue;
                snprintf(buf, n, "%s (absent in the other)", p);
                return true;
            }
            if (diff_at(c, bc, p, ignore, n_ignore, buf, n))
                return true;
        }
        for (const cJSON *c = b->child; c; c = c->next) {
            char p[PATH_LEN];
            join(p, path, c->string);
            if (!cJSON_GetObjectItemCaseSensitive(a, c->string) && !ignored(p, ignore, n_ignore)) {
                snprintf(buf, n, "%s (absent in the other)", p);
                return true;
            }
        }
        return false;
    }
    if (cJSON_Compare(a, b, 1))
        return false;
    char *sa = cJSON_PrintUnformatted(a), *sb = cJSON_PrintUnformatted(b);
    snprintf(buf, n, "%s (%s vs %s)", path[0] ? path : "(root)", sa ? sa : "?", sb ? sb : "?");
    free(sa);
    free(sb);
    return true;
}

bool uz_config_diff(const cJSON *a, const cJSON *b, const char *const *ignore, int n_ignore,
                    char *buf, size_t n)
{
    return diff_at(a, b, "", ignore, n_ignore, buf, n);
}
