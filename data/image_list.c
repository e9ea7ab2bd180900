#include "data/image_list.h"

#include "util/error.h"
#include "util/fileio.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int image_list_has_image_ext(const char *name) {
    static const char *const exts[] = {".jpg", ".jpeg", ".png", ".bmp", ".gif"};
    size_t n = strlen(name);
    for (size_t i = 0; i < sizeof exts / sizeof exts[0]; i++) {
        size_t k = strlen(exts[i]);
        if (n > k && strcasecmp(name + n - k, exts[i]) == 0) return 1;
    }
    return 0;
}

static int push(image_list *l, char *path) {
    if (!path) return vk_err_set("out of memory");
    char **p = realloc(l->paths, sizeof *p * (size_t)(l->n + 1));
    if (!p) {
        free(path);
        return vk_err_set("out of memory");
    }
    l->paths = p;
    l->paths[l->n++] = path;
    return 0;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int image_list_expand(const char *const *args, int nargs, image_list *out) {
    out->paths = NULL;
    out->n = 0;
    for (int i = 0; i < nargs; i++) {
        if (!vk_is_dir(args[i])) {
            /* a missing or unreadable file is reported when it is decoded, with the others kept */
            if (push(out, strdup(args[i]))) goto fail;
            continue;
        }
        DIR *d = opendir(args[i]);
        if (!d) {
            vk_err_set("%s: cannot read folder: %s", args[i], strerror(errno));
            goto fail;
        }
        int first = out->n;
        for (struct dirent *e; (e = readdir(d));) {
            if (e->d_name[0] == '.' || !image_list_has_image_ext(e->d_name)) continue;
            char *p = vk_path_join(args[i], e->d_name);
            if (p && vk_is_dir(p)) {
                free(p);
                continue;
            }
            if (push(out, p)) {
                closedir(d);
                goto fail;
            }
        }
        closedir(d);
        qsort(out->paths + first, (size_t)(out->n - first), sizeof(char *), cmp_str);
        if (out->n == first) {
            vk_err_set("%s: no images in this folder (looked for .jpg .jpeg .png .bmp .gif)", args[i]);
            goto fail;
        }
    }
    return 0;
fail:
    image_list_free(out);
    return -1;
}

void image_list_free(image_list *l) {
    for (int i = 0; i < l->n; i++) free(l->paths[i]);
    free(l->paths);
    l->paths = NULL;
    l->n = 0;
}
