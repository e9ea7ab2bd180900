/* torchbin.c — zip + restricted pickle -> tensor views. */
#include "model/weights/torchbin.h"

#include "model/weights/pickle.h"
#include "model/weights/weights_impl.h"
#include "model/weights/zip.h"
#include "util/error.h"
#include "util/ds.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const unsigned char *data; /* whole storage */
    uint64_t nbytes;
} storage_bytes;

typedef struct {
    char *key;
    storage_bytes value;
} storage_slot;

typedef struct {
    const char *path;
    vk_weights *w;
    vk_zip zip;
    char *prefix;        /* "<a>/" (or "" for an archive without a top folder) */
    storage_slot *cache; /* stb_ds map storage key -> bytes */
} loader;

static char *join(const char *a, const char *b) {
    size_t n = strlen(a) + strlen(b) + 1;
    char *s = malloc(n);
    if (s) snprintf(s, n, "%s%s", a, b);
    return s;
}

/* The pickle is the one "<a>/data.pkl" record; <a> names the archive (the file's stem when it
 * was written, but anything after a rename). */
static int find_prefix(loader *L) {
    const vk_zip_entry *pkl = NULL;
    for (size_t i = 0; i < L->zip.n; i++) {
        const char *name = L->zip.entries[i].name, *slash = strchr(name, '/');
        int top = strcmp(name, "data.pkl") == 0 || (slash && strcmp(slash, "/data.pkl") == 0);
        if (!top) continue;
        if (pkl) return vk_err_set("%s: more than one data.pkl ('%s', '%s'): not a single torch checkpoint", L->path, pkl->name, name);
        pkl = &L->zip.entries[i];
    }
    if (!pkl) return vk_err_set("%s: a zip archive without <name>/data.pkl: not a PyTorch checkpoint", L->path);
    size_t plen = strlen(pkl->name) - strlen("data.pkl");
    L->prefix = strndup(pkl->name, plen);
    return L->prefix ? 0 : vk_err_set("%s: out of memory", L->path);
}

static int check_byteorder(loader *L) {
    char *name = join(L->prefix, "byteorder");
    if (!name) return vk_err_set("%s: out of memory", L->path);
    const vk_zip_entry *e = vk_zip_find(&L->zip, name);
    free(name);
    if (!e) return 0; /* written only since torch 2.1; older files are little-endian */
    const unsigned char *d;
    void *owned;
    if (vk_zip_read(&L->zip, e, &d, &owned) != 0) return -1;
    int little = e->size == 6 && memcmp(d, "little", 6) == 0, big = e->size == 3 && memcmp(d, "big", 3) == 0;
    free(owned);
    if (big) return vk_err_set("%s: a big-endian checkpoint (byteorder 'big'): not supported", L->path);
    if (!little) return vk_err_set("%s: unknown byteorder record (expected 'little')", L->path);
    return 0;
}

static int get_storage(loader *L, const vk_pickle_tensor *t, const unsigned char **data, uint64_t *nbytes) {
    ptrdiff_t i = shgeti(L->cache, t->storage_key);
    if (i < 0) {
        char *rel = join("data/", t->storage_key), *name = rel ? join(L->prefix, rel) : NULL;
        free(rel);
        if (!name) return vk_err_set("%s: out of memory", L->path);
        const vk_zip_entry *e = vk_zip_find(&L->zip, name);
        free(name);
        if (!e)
            return vk_err_set("%s: tensor '%s': storage record '%sdata/%s' is missing", L->path, t->name, L->prefix,
                              t->storage_key);
        const unsigned char *d;
        void *owned;
        if (vk_zip_read(&L->zip, e, &d, &owned) != 0) return vk_err_prefix("tensor '%s'", t->name);
        if (owned) vk_weights_own_buffer_(L->w, owned);
        storage_bytes b = {d, e->size};
        shput(L->cache, t->storage_key, b);
        i = shgeti(L->cache, t->storage_key);
    }
    *data = L->cache[i].value.data;
    *nbytes = L->cache[i].value.nbytes;
    return 0;
}

/* Copy a strided view into row-major order, one element at a time (checkpoints are nearly
 * always contiguous; this path is for the rare view saved as is). */
static void gather(unsigned char *dst, const unsigned char *src, const vk_pickle_tensor *t, size_t es) {
    int64_t idx[VK_MAX_DIMS] = {0};
    int64_t numel = 1;
    for (int d = 0; d < t->ndim; d++) numel *= t->shape[d];
    for (int64_t k = 0; k < numel; k++) {
        int64_t off = (int64_t)t->offset;
        for (int d = 0; d < t->ndim; d++) off += idx[d] * t->stride[d];
        memcpy(dst + (size_t)k * es, src + (size_t)off * es, es);
        for (int d = t->ndim - 1; d >= 0; d--) {
            if (++idx[d] < t->shape[d]) break;
            idx[d] = 0;
        }
    }
}

static int add_tensor(loader *L, const vk_pickle_tensor *t) {
    size_t es = vk_dtype_size(t->dtype);
    const unsigned char *sd = NULL;
    uint64_t sbytes = 0;
    if (get_storage(L, t, &sd, &sbytes) != 0) return -1;
    if (t->storage_numel > UINT64_MAX / es || t->storage_numel * es != sbytes)
        return vk_err_set("%s: tensor '%s': storage '%s' has %llu bytes but the pickle declares %llu elements of %s "
                          "(%llu bytes)",
                          L->path, t->name, t->storage_key, (unsigned long long)sbytes,
                          (unsigned long long)t->storage_numel, vk_dtype_name(t->dtype),
                          (unsigned long long)(t->storage_numel * es));
    vk_tensor_view v = {.name = t->name, .dtype = t->dtype, .ndim = t->ndim};
    memcpy(v.shape, t->shape, sizeof v.shape);
    /* numel, and the furthest element the view touches; both checked against the storage. */
    uint64_t numel = 1, last = t->offset;
    int contiguous = 1;
    uint64_t expect = 1;
    for (int d = t->ndim - 1; d >= 0; d--) {
        uint64_t n = (uint64_t)t->shape[d], s = (uint64_t)t->stride[d];
        if (n == 0) numel = 0;
        else if (numel && numel > UINT64_MAX / n) return vk_err_set("%s: tensor '%s': shape overflows", L->path, t->name);
        else numel *= n;
        if (n > 1 && s != expect) contiguous = 0;
        if (n > 1 && s > (UINT64_MAX - last) / (n - 1)) return vk_err_set("%s: tensor '%s': strides overflow", L->path, t->name);
        if (n > 0) last += (n - 1) * s;
        expect *= n ? n : 1;
    }
    if (numel == 0) return vk_weights_add_(L->w, &v);
    if (last >= t->storage_numel)
        return vk_err_set("%s: tensor '%s': offset %llu, shape and stride reach element %llu of storage '%s', which has "
                          "%llu",
                          L->path, t->name, (unsigned long long)t->offset, (unsigned long long)last, t->storage_key,
                          (unsigned long long)t->storage_numel);
    v.nbytes = (size_t)(numel * es);
    const unsigned char *first = sd + t->offset * es;
    if (contiguous && (uintptr_t)first % es == 0) {
        v.data = first; /* zero-copy: into the map, or the inflated record */
    } else {
        unsigned char *copy = malloc(v.nbytes);
        if (!copy) return vk_err_set("%s: tensor '%s': out of memory for %zu bytes", L->path, t->name, v.nbytes);
        if (contiguous) memcpy(copy, first, v.nbytes);
        else gather(copy, sd, t, es);
        vk_weights_own_buffer_(L->w, copy);
        v.data = copy;
    }
    return vk_weights_add_(L->w, &v);
}

static int load(loader *L, const vk_mapped_file *map) {
    if (vk_zip_open(&L->zip, L->path, map->data, map->size) != 0) return -1;
    if (find_prefix(L) != 0 || check_byteorder(L) != 0) return -1;
    char *pkl_name = join(L->prefix, "data.pkl");
    if (!pkl_name) return vk_err_set("%s: out of memory", L->path);
    const vk_zip_entry *pkl = vk_zip_find(&L->zip, pkl_name);
    const unsigned char *pd;
    void *powned;
    char label[4096];
    snprintf(label, sizeof label, "%s: %s", L->path, pkl_name);
    free(pkl_name);
    if (vk_zip_read(&L->zip, pkl, &pd, &powned) != 0) return -1;
    vk_pickle_tensor *ts;
    size_t n;
    int rc = vk_pickle_load_state_dict(label, pd, (size_t)pkl->size, &ts, &n);
    free(powned);
    if (rc != 0) return -1;
    for (size_t i = 0; i < n && rc == 0; i++) rc = add_tensor(L, &ts[i]);
    vk_pickle_tensors_free(ts, n);
    return rc;
}

vk_weights *vk_torchbin_from_map_(const char *path, vk_mapped_file map) {
    vk_weights *w = vk_weights_new_(path, VK_WEIGHTS_TORCHBIN);
    if (!w) {
        vk_unmap_file(&map);
        return NULL;
    }
    vk_weights_own_map_(w, map);
    loader L = {.path = path, .w = w};
    sh_new_strdup(L.cache);
    int rc = load(&L, &map);
    shfree(L.cache);
    vk_zip_close(&L.zip);
    free(L.prefix);
    if (rc != 0) {
        vk_weights_close(w);
        return NULL;
    }
    return w;
}

vk_weights *vk_torchbin_open(const char *path) {
    vk_mapped_file map;
    if (vk_map_file(path, &map) != 0) return NULL;
    return vk_torchbin_from_map_(path, map);
}
