/* blip_index.c — the image index file (see blip_index.h for the format). */
#include "model/blip_index.h"

#include "model/weights/safetensors.h"
#include "util/ds.h"
#include "util/error.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define INDEX_VERSION "1"

typedef struct {
    char *key;
    int64_t value;
} path_row;

int blip_index_init(blip_index *ix, int dim, const char *model, int image_size) {
    memset(ix, 0, sizeof *ix);
    if (dim <= 0) return vk_err_set("index: embedding size must be positive, not %d", dim);
    ix->dim = dim;
    ix->image_size = image_size;
    if (!(ix->model = strdup(model ? model : ""))) return vk_err_set("out of memory");
    path_row *map = NULL;
    sh_new_strdup(map);
    ix->lookup = map;
    return 0;
}

void blip_index_free(blip_index *ix) {
    if (!ix) return;
    for (int64_t i = 0; i < ix->n; i++) free(ix->paths[i]);
    free(ix->paths);
    free(ix->emb);
    free(ix->model);
    path_row *map = ix->lookup;
    shfree(map);
    memset(ix, 0, sizeof *ix);
}

int64_t blip_index_find(const blip_index *ix, const char *path) {
    path_row *map = ix->lookup;
    ptrdiff_t i = shgeti(map, path);
    return i < 0 ? -1 : map[i].value;
}

int blip_index_add(blip_index *ix, const char *path, const float *vec) {
    if (blip_index_find(ix, path) >= 0) return vk_err_set("index: %s is already in the index", path);
    if (ix->n == ix->cap) {
        int64_t cap = ix->cap ? ix->cap * 2 : 256;
        float *e = realloc(ix->emb, sizeof(float) * (size_t)cap * (size_t)ix->dim);
        if (e) ix->emb = e;
        char **p = e ? realloc(ix->paths, sizeof(char *) * (size_t)cap) : NULL;
        if (p) ix->paths = p;
        if (!e || !p) return vk_err_set("index: out of memory for %lld images", (long long)cap);
        ix->cap = cap;
    }
    char *copy = strdup(path);
    if (!copy) return vk_err_set("out of memory");
    memcpy(ix->emb + ix->n * ix->dim, vec, sizeof(float) * (size_t)ix->dim);
    ix->paths[ix->n] = copy;
    path_row *map = ix->lookup;
    shput(map, path, ix->n);
    ix->lookup = map;
    ix->n++;
    return 0;
}

/* ---- file ---------------------------------------------------------------------------------- */

static int meta_int(const vk_weights *w, const char *path, const char *key, long long *out) {
    const char *s = vk_weights_metadata_get(w, key);
    if (!s) return vk_err_set("%s: not a vlkit index (no '%s' in the metadata)", path, key);
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < 0 || v > INT_MAX) return vk_err_set("%s: metadata '%s' is not a count: '%s'", path, key, s);
    *out = v;
    return 0;
}

int blip_index_read(const char *path, blip_index *out) {
    memset(out, 0, sizeof *out);
    vk_weights *w = vk_weights_open(path);
    if (!w) return -1; /* vk_err names the file */
    blip_index ix = {0};
    cJSON *paths = NULL;
    const char *version = vk_weights_metadata_get(w, "vlkit_index");
    long long dim, count, image_size = 0;
    if (!version) {
        vk_err_set("%s: not a vlkit index (no 'vlkit_index' in the metadata; make one with vlkit index)", path);
        goto fail;
    }
    if (strcmp(version, INDEX_VERSION) != 0) {
        vk_err_set("%s: index format version %s; this vlkit reads version %s", path, version, INDEX_VERSION);
        goto fail;
    }
    if (meta_int(w, path, "dim", &dim) || meta_int(w, path, "count", &count)) goto fail;
    if (vk_weights_metadata_get(w, "image_size") && meta_int(w, path, "image_size", &image_size)) goto fail;
    const vk_tensor_view *e = vk_weights_find(w, "embeddings");
    if (!e) {
        vk_err_set("%s: no tensor 'embeddings'", path);
        goto fail;
    }
    if (e->dtype != VK_DTYPE_F32 || e->ndim != 2 || e->shape[0] != count || e->shape[1] != dim) {
        vk_err_set("%s: 'embeddings' must be F32 [%lld, %lld] (count, dim in the metadata)", path, count, dim);
        goto fail;
    }
    const char *pj = vk_weights_metadata_get(w, "paths");
    paths = pj ? cJSON_Parse(pj) : NULL;
    if (!cJSON_IsArray(paths) || cJSON_GetArraySize(paths) != count) {
        vk_err_set("%s: metadata 'paths' must be a JSON array of %lld strings", path, count);
        goto fail;
    }
    const char *model = vk_weights_metadata_get(w, "model");
    if (blip_index_init(&ix, (int)dim, model ? model : "", (int)image_size)) goto fail;
    int64_t i = 0;
    for (const cJSON *p = paths->child; p; p = p->next, i++) {
        if (!cJSON_IsString(p)) {
            vk_err_set("%s: paths[%lld] is not a string", path, (long long)i);
            goto fail;
        }
        if (blip_index_find(&ix, p->valuestring) >= 0) {
            vk_err_set("%s: %s is listed twice", path, p->valuestring);
            goto fail;
        }
        if (blip_index_add(&ix, p->valuestring, (const float *)e->data + i * dim)) goto fail;
    }
    cJSON_Delete(paths);
    vk_weights_close(w);
    *out = ix;
    return 0;
fail:
    cJSON_Delete(paths);
    blip_index_free(&ix);
    vk_weights_close(w);
    return -1;
}

int blip_index_write(const blip_index *ix, const char *path) {
    if (ix->n <= 0) return vk_err_set("%s: no images to write", path);
    cJSON *arr = cJSON_CreateArray();
    for (int64_t i = 0; arr && i < ix->n; i++) {
        cJSON *s = cJSON_CreateString(ix->paths[i]);
        if (!s || !cJSON_AddItemToArray(arr, s)) {
            cJSON_Delete(s);
            cJSON_Delete(arr);
            arr = NULL;
        }
    }
    char *paths = arr ? cJSON_PrintUnformatted(arr) : NULL;
    cJSON_Delete(arr);
    if (!paths) return vk_err_set("%s: out of memory", path);
    char dim[32], count[32], size[32];
    snprintf(dim, sizeof dim, "%d", ix->dim);
    snprintf(count, sizeof count, "%lld", (long long)ix->n);
    snprintf(size, sizeof size, "%d", ix->image_size);
    const vk_safetensors_kv meta[] = {{"format", "pt"}, {"vlkit_index", INDEX_VERSION}, {"model", ix->model},
                                      {"dim", dim},     {"count", count},              {"image_size", size},
                                      {"paths", paths}};
    vk_tensor_view t = {.name = "embeddings", .dtype = VK_DTYPE_F32, .ndim = 2, .shape = {ix->n, ix->dim},
                        .data = ix->emb, .nbytes = sizeof(float) * (size_t)ix->n * (size_t)ix->dim};
    int rc = vk_safetensors_write(path, &t, 1, meta, sizeof meta / sizeof meta[0]);
    free(paths);
    return rc;
}

/* ---- ranking ------------------------------------------------------------------------------- */

static const float *sort_scores; /* qsort has no context argument; ranking is not reentrant */

static int by_score_desc(const void *a, const void *b) {
    int64_t i = *(const int64_t *)a, j = *(const int64_t *)b;
    float x = sort_scores[i], y = sort_scores[j];
    if (x != y) return x > y ? -1 : 1;
    return i < j ? -1 : i > j;
}

int64_t blip_rank_scores(const float *scores, int64_t n, int64_t k, int64_t *rows) {
    if (k <= 0 || k > n) k = n;
    int64_t *all = malloc(sizeof(int64_t) * (size_t)(n ? n : 1));
    if (!all) return vk_err_set("out of memory ranking %lld scores", (long long)n);
    for (int64_t i = 0; i < n; i++) all[i] = i;
    sort_scores = scores;
    qsort(all, (size_t)n, sizeof *all, by_score_desc);
    memcpy(rows, all, sizeof(int64_t) * (size_t)k);
    free(all);
    return k;
}

int64_t blip_index_rank(const blip_index *ix, const float *query, int64_t k, int64_t *rows, float *scores) {
    float *s = malloc(sizeof(float) * (size_t)(ix->n ? ix->n : 1));
    if (!s) return vk_err_set("out of memory ranking %lld images", (long long)ix->n);
    for (int64_t i = 0; i < ix->n; i++) {
        const float *e = ix->emb + i * ix->dim;
        double acc = 0;
        for (int d = 0; d < ix->dim; d++) acc += (double)e[d] * query[d];
        s[i] = (float)acc;
    }
    int64_t m = blip_rank_scores(s, ix->n, k, rows);
    for (int64_t i = 0; i < m; i++) scores[i] = s[rows[i]];
    free(s);
    return m;
}
