/* Config lookup and error printing shared by the subcommands. */
#include "cli.h"

#include "models/zoo.h"

#include <ctype.h>
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
    FILE *f = fopen(name_or_file, "rb");
    if (!f) {
        fprintf(stderr,
                "unizoo %s: '%s' is neither a built-in model (see `unizoo zoo`) nor a readable "
                "config file\n",
                cmd, name_or_file);
        return NULL;
    }
    char *text = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len + 4096 + 1 > cap) {
            cap = cap ? 2 * cap : 8192;
            char *t = realloc(text, cap);
            if (!t) {
                free(text);
                fclose(f);
                fprintf(stderr, "unizoo %s: out of memory reading '%s'\n", cmd, name_or_file);
                return NULL;
            }
            text = t;
        }
        size_t got = fread(text + len, 1, 4096, f);
        len += got;
        if (got < 4096)
            break;
    }
    bool bad = ferror(f);
    fclose(f);
    if (bad) {
        free(text);
        fprintf(stderr, "unizoo %s: cannot read '%s'\n", cmd, name_or_file);
        return NULL;
    }
    text[len] = '\0';
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
