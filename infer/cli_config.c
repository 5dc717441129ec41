/* Config lookup, option parsing and error printing shared by the subcommands. */
#include "cli.h"

#include "core/file_io.h"
#include "models/zoo.h"

#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *uz_cli_config_text(const char *cmd, const char *name_or_file)
{
    const uz_zoo_entry *e = uz_zoo_find(name_or_file);
    if (e) {
        char *copy = malloc(strlen(e->json) + 1);
        if (copy)
            memcpy(copy, e->json, strlen(e->json) + 1);
        return copy;
    }
    char *text;
    size_t n;
    if (uz_file_read_all(name_or_file, SIZE_MAX, &text, &n) != UZ_OK) {
        char what[512];
        snprintf(what, sizeof what,
                 "'%s' is neither a built-in model (see `unizoo zoo`) nor a readable config file",
                 name_or_file);
        uz_cli_error(cmd, what);
        return NULL;
    }
    return text;
}

bool uz_cli_load_config(const char *cmd, const char *text, const char *source,
                        const char *const *sets, int n_sets, uz_train_config *cfg)
{
    int n_fams;
    const uz_model_family *const *fams = uz_zoo_families(&n_fams);
    if (uz_config_load(text, source, fams, n_fams, sets, n_sets, cfg) != UZ_OK) {
        uz_cli_error(cmd, NULL);
        return false;
    }
    return true;
}

/* Drops every "name.c:123: " location from the message. */
static void strip_locations(const char *in, char *out, size_t n)
{
    size_t o = 0;
    for (size_t i = 0; in[i] && o + 1 < n;) {
        size_t j = i;
        while (isalnum((unsigned char)in[j]) || in[j] == '_')
            j++;
        bool loc = j > i && in[j] == '.' && in[j + 1] == 'c' && in[j + 2] == ':' &&
                   isdigit((unsigned char)in[j + 3]);
        if (loc) {
            size_t k = j + 3;
            while (isdigit((unsigned char)in[k]))
                k++;
            if (in[k] == ':' && in[k + 1] == ' ') {
                i = k + 2;
                continue;
            }
        }
        out[o++] = in[i++];
    }
    out[o] = '\0';
}

void uz_cli_error(const char *cmd, const char *what)
{
    char msg[1024];
    strip_locations(uz_error_message(), msg, sizeof msg);
    if (what)
        fprintf(stderr, "unizoo %s: %s: %s\n", cmd, what, msg);
    else
        fprintf(stderr, "unizoo %s: %s\n", cmd, msg);
}

const char *uz_cli_option_value(const char *cmd, int argc, char **argv, int *i)
{
    const char *s = argv[*i];
    if (*i + 1 >= argc || s[0] != '-') {
        fprintf(stderr, s[0] == '-' ? "unizoo %s: %s needs a value\n"
                                    : "unizoo %s: unexpected argument '%s'\n",
                cmd, s);
        return NULL;
    }
    return argv[++*i];
}

bool uz_cli_parse_int(const char *cmd, const char *opt, const char *v, long long lo, long long hi,
                      long long *out)
{
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (end == v || *end || errno || x < lo || x > hi) {
        fprintf(stderr, "unizoo %s: %s '%s' is not an integer in [%lld, %lld]\n", cmd, opt, v, lo,
                hi);
        return false;
    }
    *out = x;
    return true;
}
