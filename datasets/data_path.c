/* Where a config's data path points. */
#include "datasets/datasets.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void uz_data_path_resolve(const char *path, char *out, size_t n)
{
    const char *home = getenv("HOME");
    if (strncmp(path, "~/", 2) == 0 && home) {
        snprintf(out, n, "%s/%s", home, path + 2);
        return;
    }
    snprintf(out, n, "%s", path);
    if (path[0] == '/' || access(path, R_OK) == 0)
        return;
    /* The executable lives in REPO/<build dir>/unizoo. */
    char exe[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (len <= 0)
        return;
    exe[len] = '\0';
    for (int up = 0; up < 2; up++) {
        char *slash = strrchr(exe, '/');
        if (!slash)
            return;
        *slash = '\0';
    }
    char cand[PATH_MAX + 1024];
    snprintf(cand, sizeof cand, "%s/%s", exe, path);
    if (access(cand, R_OK) == 0)
        snprintf(out, n, "%s", cand);
}
