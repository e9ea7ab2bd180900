#include "model/weights/weights.h"

#include "model/weights/weights_impl.h"
#include "util/error.h"
#include "util/ds.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    char *key;
    size_t value; /* index into views */
} name_slot;

struct vk_weights {
    char *path;
    vk_weights_format format;
    vk_tensor_view *views;   /* stb_ds array, file order */
    name_slot *by_name;      /* stb_ds string map (keys strdup'd: view names point at them) */
    char **meta;             /* stb_ds array: key, value, key, value, ... */
    vk_mapped_file *maps;    /* stb_ds array */
    void **buffers;          /* stb_ds array */
};

int64_t vk_tensor_numel(const vk_tensor_view *t) {
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= t->shape[i];
    return n;
}

vk_weights *vk_weights_new_(const char *path, vk_weights_format format) {
    vk_weights *w = calloc(1, sizeof *w);
    if (!w || !(w->path = strdup(path))) {
        free(w);
        vk_err_set("%s: out of memory", path);
        return NULL;
    }
    w->format = format;
    sh_new_strdup(w->by_name);
    return w;
}

void vk_weights_own_map_(vk_weights *w, vk_mapped_file map) { arrput(w->maps, map); }

int vk_weights_own_buffer_(vk_weights *w, void *buf) {
    arrput(w->buffers, buf);
    return 0;
}

int vk_weights_add_(vk_weights *w, const vk_tensor_view *view) {
    if (view->ndim < 0 || view->ndim > VK_MAX_DIMS)
        return vk_err_set("%s: tensor '%s': %d dimensions (at most %d are supported)", w->path, view->name,
                          view->ndim, VK_MAX_DIMS);
    if (shgeti(w->by_name, view->name) >= 0)
        return vk_err_set("%s: tensor '%s' appears more than once", w->path, view->name);
    shput(w->by_name, view->name, arrlenu(w->views));
    vk_tensor_view v = *view;
    v.name = shgetp(w->by_name, view->name)->key;
    arrput(w->views, v);
    return 0;
}

int vk_weights_add_metadata_(vk_weights *w, const char *key, const char *value) {
    char *k = strdup(key), *v = strdup(value);
    if (!k || !v) {
        free(k);
        free(v);
        return vk_err_set("%s: out of memory", w->path);
    }
    arrput(w->meta, k);
    arrput(w->meta, v);
    return 0;
}

void vk_weights_close(vk_weights *w) {
    if (!w) return;
    for (size_t i = 0; i < arrlenu(w->maps); i++) vk_unmap_file(&w->maps[i]);
    for (size_t i = 0; i < arrlenu(w->buffers); i++) free(w->buffers[i]);
    for (size_t i = 0; i < arrlenu(w->meta); i++) free(w->meta[i]);
    arrfree(w->maps);
    arrfree(w->buffers);
    arrfree(w->meta);
    arrfree(w->views);
    shfree(w->by_name);
    free(w->path);
    free(w);
}

vk_weights_format vk_weights_format_of(const vk_weights *w) { return w->format; }
const char *vk_weights_format_name(vk_weights_format f) {
    return f == VK_WEIGHTS_SAFETENSORS ? "safetensors" : "pytorch";
}
const char *vk_weights_path(const vk_weights *w) { return w->path; }
size_t vk_weights_count(const vk_weights *w) { return arrlenu(w->views); }

const vk_tensor_view *vk_weights_tensor(const vk_weights *w, size_t i) {
    return i < arrlenu(w->views) ? &w->views[i] : NULL;
}

const vk_tensor_view *vk_weights_find(const vk_weights *w, const char *name) {
    /* shgeti takes a non-const map; the lookup does not modify it. */
    ptrdiff_t i = shgeti(((vk_weights *)w)->by_name, name);
    return i < 0 ? NULL : &w->views[w->by_name[i].value];
}

size_t vk_weights_metadata_count(const vk_weights *w) { return arrlenu(w->meta) / 2; }

int vk_weights_metadata_at(const vk_weights *w, size_t i, const char **key, const char **value) {
    if (i >= arrlenu(w->meta) / 2) return -1;
    *key = w->meta[2 * i];
    *value = w->meta[2 * i + 1];
    return 0;
}

const char *vk_weights_metadata_get(const vk_weights *w, const char *key) {
    for (size_t i = 0; i + 1 < arrlenu(w->meta); i += 2)
        if (strcmp(w->meta[i], key) == 0) return w->meta[i + 1];
    return NULL;
}

vk_weights *vk_weights_open(const char *path) {
    vk_mapped_file map;
    if (vk_map_file(path, &map) != 0) return NULL;
    /* A zip archive (PyTorch's format since 1.6) starts with a local file header "PK\3\4";
     * anything else is read as safetensors, whose own checks then explain what is wrong. */
    if (map.size >= 4 && memcmp(map.data, "PK\003\004", 4) == 0) return vk_torchbin_from_map_(path, map);
    /* torch.save before 1.6 wrote a bare pickle stream that starts with its magic number
     * (PROTO 2, LONG1 of 10 bytes). As a safetensors length those bytes would exceed 100 MB,
     * so no valid safetensors file is mistaken for one. */
    if (map.size >= 4 && memcmp(map.data, "\x80\x02\x8a\x0a", 4) == 0) {
        vk_unmap_file(&map);
        vk_err_set("%s: a legacy (pre-1.6, non-zip) torch.save file: not supported; re-save it with a newer "
                   "torch or convert it to safetensors",
                   path);
        return NULL;
    }
    return vk_safetensors_from_map_(path, map);
}
