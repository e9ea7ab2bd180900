#include "model/blip_params.h"

#include "model/weights/weights.h"
#include "util/error.h"
#include "util/fileio.h"

#include <cjson/cJSON.h>
#include "util/ds.h"
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *key;
    tt_tensor *value;
    int used;
} param_entry;

/* The mapped files outlive blip_params_free while tensors still point into them: every
 * zero-copy tensor holds a reference, released by the shim when its storage dies. */
typedef struct {
    atomic_int refs;
    vk_weights **files;
    int nfiles;
} mapped_files;

struct blip_params {
    param_entry *map; /* stb_ds string hash map */
    mapped_files *mapped;
    char source[512];
    char problems[1024];
    int nproblems;
};

static void mapped_release(void *ctx) {
    mapped_files *m = ctx;
    if (atomic_fetch_sub(&m->refs, 1) == 1) {
        for (int i = 0; i < m->nfiles; i++) vk_weights_close(m->files[i]);
        free(m->files);
        free(m);
    }
}

static int add_tensor(blip_params *p, const vk_tensor_view *v, const char *path) {
    if (shgeti(p->map, v->name) >= 0) return 0; /* shards: first wins; the index says which */
    tt_dtype src;
    switch (v->dtype) {
    case VK_DTYPE_F32: src = TT_F32; break;
    case VK_DTYPE_F16: src = TT_F16; break;
    case VK_DTYPE_BF16: src = TT_BF16; break;
    case VK_DTYPE_F64: src = TT_F64; break;
    case VK_DTYPE_I64: src = TT_I64; break;
    default: return 0; /* buffers of other types are not parameters of BLIP */
    }
    tt_tensor *t;
    if (src == TT_F32 || src == TT_I64) {
        atomic_fetch_add(&p->mapped->refs, 1);
        t = tt_from_blob((void *)v->data, v->shape, v->ndim, src, mapped_release, p->mapped);
        if (!t) atomic_fetch_sub(&p->mapped->refs, 1);
    } else {
        tt_tensor *raw = tt_from_blob((void *)v->data, v->shape, v->ndim, src, NULL, NULL);
        t = raw ? tt_to_dtype(raw, TT_F32) : NULL;
        tt_free(raw);
    }
    if (!t) return vk_err_set("%s: tensor %s: %s", path, v->name, tt_last_error());
    tt_persist(t);
    char *key = strdup(v->name);
    if (!key) {
        tt_free(t);
        return vk_err_set("out of memory");
    }
    param_entry e = {key, t, 0};
    shputs(p->map, e);
    return 0;
}

static int open_file(blip_params *p, const char *path) {
    vk_weights *w = vk_weights_open(path);
    if (!w) return -1;
    vk_weights **files = realloc(p->mapped->files, sizeof *files * (size_t)(p->mapped->nfiles + 1));
    if (!files) {
        vk_weights_close(w);
        return vk_err_set("out of memory");
    }
    p->mapped->files = files;
    files[p->mapped->nfiles++] = w;
    for (size_t i = 0; i < vk_weights_count(w); i++)
        if (add_tensor(p, vk_weights_tensor(w, i), path) != 0) return -1;
    return 0;
}

/* model.safetensors.index.json: {"weight_map": {"tensor": "shard file", ...}} */
static int open_sharded(blip_params *p, const char *dir, const char *index_path) {
    size_t n;
    char *text = vk_read_file(index_path, &n, 64u << 20);
    if (!text) return -1;
    cJSON *root = cJSON_Parse(text);
    free(text);
    const cJSON *map = root ? cJSON_GetObjectItemCaseSensitive(root, "weight_map") : NULL;
    if (!cJSON_IsObject(map)) {
        cJSON_Delete(root);
        return vk_err_set("%s: not an index file (no \"weight_map\" object)", index_path);
    }
    char **opened = NULL;
    int rc = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, map) {
        if (!cJSON_IsString(e) || strchr(e->valuestring, '/')) {
            rc = vk_err_set("%s: weight_map[%s] must be a file name in the same folder", index_path, e->string);
            break;
        }
        int seen = 0;
        for (ptrdiff_t i = 0; i < arrlen(opened); i++) seen |= strcmp(opened[i], e->valuestring) == 0;
        if (seen) continue;
        arrput(opened, e->valuestring);
        char *path = vk_path_join(dir, e->valuestring);
        rc = open_file(p, path);
        free(path);
        if (rc) break;
    }
    arrfree(opened);
    cJSON_Delete(root);
    return rc;
}

blip_params *blip_params_load(const char *dir) {
    blip_params *p = calloc(1, sizeof *p);
    if (!p || !(p->mapped = calloc(1, sizeof *p->mapped))) {
        free(p);
        vk_err_set("out of memory");
        return NULL;
    }
    atomic_init(&p->mapped->refs, 1);
    int rc;
    if (!vk_is_dir(dir)) {
        snprintf(p->source, sizeof p->source, "%s", dir);
        rc = open_file(p, dir);
    } else {
        static const char *const singles[] = {"model.safetensors", "pytorch_model.bin"};
        char *index = vk_path_join(dir, "model.safetensors.index.json");
        char *paths[2] = {vk_path_join(dir, singles[0]), vk_path_join(dir, singles[1])};
        if (vk_file_exists(paths[0])) {
            snprintf(p->source, sizeof p->source, "%s", paths[0]);
            rc = open_file(p, paths[0]);
        } else if (vk_file_exists(index)) {
            snprintf(p->source, sizeof p->source, "%s", index);
            rc = open_sharded(p, dir, index);
        } else if (vk_file_exists(paths[1])) {
            snprintf(p->source, sizeof p->source, "%s", paths[1]);
            rc = open_file(p, paths[1]);
        } else {
            rc = vk_err_set("%s: no model.safetensors, model.safetensors.index.json or pytorch_model.bin in this folder", dir);
        }
        free(index);
        free(paths[0]);
        free(paths[1]);
    }
    if (rc) {
        blip_params_free(p);
        return NULL;
    }
    return p;
}

void blip_params_free(blip_params *p) {
    if (!p) return;
    for (ptrdiff_t i = 0; i < shlen(p->map); i++) {
        tt_free(p->map[i].value);
        free(p->map[i].key);
    }
    shfree(p->map);
    if (p->mapped) mapped_release(p->mapped);
    free(p);
}

const char *blip_params_source(const blip_params *p) { return p->source; }

tt_tensor *blip_params_find(blip_params *p, const char *name) {
    ptrdiff_t i = shgeti(p->map, name);
    if (i < 0) return NULL;
    p->map[i].used = 1;
    return p->map[i].value;
}

static void add_problem(blip_params *p, const char *fmt, const char *name, const char *detail) {
    size_t len = strlen(p->problems);
    if (p->nproblems < 8 && len + 8 < sizeof p->problems)
        snprintf(p->problems + len, sizeof p->problems - len, fmt, len ? "; " : "", name, detail);
    p->nproblems++;
}

tt_tensor *blip_params_require(blip_params *p, const char *name, int ndim, const int64_t *dims) {
    tt_tensor *t = blip_params_find(p, name);
    if (!t) {
        add_problem(p, "%smissing %s%s", name, "");
        return NULL;
    }
    int64_t shape[8];
    int nd = tt_shape(t, shape, 8);
    int ok = nd == ndim;
    for (int i = 0; ok && i < ndim; i++) ok = dims[i] < 0 || dims[i] == shape[i];
    if (!ok) {
        char want[160] = "[", got[160] = "[";
        for (int i = 0; i < ndim; i++)
            snprintf(want + strlen(want), sizeof want - strlen(want), "%s%lld", i ? ", " : "", (long long)dims[i]);
        for (int i = 0; i < nd && i < 8; i++)
            snprintf(got + strlen(got), sizeof got - strlen(got), "%s%lld", i ? ", " : "", (long long)shape[i]);
        char detail[340];
        snprintf(detail, sizeof detail, " has shape %s], config says %s]", got, want);
        add_problem(p, "%s%s%s", name, detail);
        return NULL;
    }
    return t;
}

int blip_params_check(blip_params *p) {
    if (!p->nproblems) return 0;
    if (p->nproblems > 8)
        return vk_err_set("%s: %d tensor problems: %s; ...", p->source, p->nproblems, p->problems);
    return vk_err_set("%s: %s", p->source, p->problems);
}

int blip_params_unused(blip_params *p, const char **first_name) {
    int n = 0;
    for (ptrdiff_t i = 0; i < shlen(p->map); i++)
        if (!p->map[i].used) {
            if (!n && first_name) *first_name = p->map[i].key;
            n++;
        }
    return n;
}

int blip_params_count(const blip_params *p) { return (int)shlen(p->map); }
const char *blip_params_name_at(const blip_params *p, int i) { return p->map[i].key; }
tt_tensor *blip_params_tensor_at(const blip_params *p, int i) { return p->map[i].value; }
int blip_params_used_at(const blip_params *p, int i) { return p->map[i].used; }
