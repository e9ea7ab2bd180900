#include "train/checkpoint.h"

#include "model/weights/safetensors.h"
#include "model/weights/weights.h"
#include "util/error.h"
#include "util/fileio.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>


static int write_optimizer(const char *dir, tt_optim *opt, const train_params *tp) {
    int n = tp->n, rc = 0, k = 0;
    vk_tensor_view *views = calloc((size_t)(2 * n) + 1, sizeof *views);
    char **names = calloc((size_t)(2 * n) + 1, sizeof *names);
    float **bufs = calloc((size_t)(2 * n) + 1, sizeof *bufs);
    if (!views || !names || !bufs) rc = vk_err_set("out of memory");
    for (int i = 0; !rc && i < n; i++) {
        int64_t step;
        tt_tensor *m[2] = {NULL, NULL};
        if (tt_optim_get_state(opt, 0, i, &step, &m[0], &m[1])) {
            rc = vk_err_set("optimizer state: %s", tt_last_error());
            break;
        }
        for (int j = 0; j < 2 && m[0]; j++, k++) {
            size_t len = strlen(tp->names[i]) + 16;
            names[k] = malloc(len);
            snprintf(names[k], len, "%s.%s", tp->names[i], j ? "exp_avg_sq" : "exp_avg");
            size_t bytes = sizeof(float) * (size_t)tt_numel(m[j]);
            bufs[k] = malloc(bytes ? bytes : 1);
            if (!bufs[k] || tt_copy_to(m[j], bufs[k], bytes)) rc = vk_err_set("optimizer state: %s", tt_last_error());
            views[k] = (vk_tensor_view){.name = names[k], .dtype = VK_DTYPE_F32, .data = bufs[k], .nbytes = bytes};
            views[k].ndim = tt_shape(m[j], views[k].shape, VK_MAX_DIMS);
        }
        tt_free(m[0]);
        tt_free(m[1]);
    }
    if (!rc) {
        char *path = vk_path_join(dir, "optimizer.safetensors");
        rc = vk_safetensors_write(path, views, (size_t)k, NULL, 0);
        free(path);
    }
    for (int i = 0; i < k; i++) {
        free(names[i]);
        free(bufs[i]);
    }
    free(views), free(names), free(bufs);
    return rc;
}

static int write_state(const char *dir, const train_state *st, tt_optim *opt, const train_params *tp) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "step", (double)st->step);
    cJSON_AddNumberToObject(o, "epoch", (double)st->epoch);
    cJSON_AddNumberToObject(o, "position", (double)st->position);
    cJSON_AddNumberToObject(o, "nonfinite_skips", (double)st->nonfinite_skips);
    if (isnan(st->best_metric)) cJSON_AddNullToObject(o, "best_metric");
    else cJSON_AddNumberToObject(o, "best_metric", st->best_metric);
    cJSON_AddNumberToObject(o, "best_step", (double)st->best_step);
    int64_t adam_step = 0;
    if (tp->n) tt_optim_get_state(opt, 0, 0, &adam_step, NULL, NULL);
    cJSON_AddNumberToObject(o, "optimizer_step", (double)adam_step);
    char *text = cJSON_Print(o);
    cJSON_Delete(o);
    char *path = vk_path_join(dir, "trainer_state.json");
    int rc = text && path ? vk_write_file_atomic(path, text, strlen(text)) : vk_err_set("out of memory");
    free(text), free(path);
    return rc;
}

int checkpoint_save(const char *dir, const lora_linears *ls, const lora_config *lc, tt_optim *opt, const train_params *tp,
                    const train_state *st, const char *config_json) {
    char *tmp = vk_tmp_dir_name(dir);
    if (!tmp) return vk_err_set("out of memory");
    vk_remove_flat_dir(tmp);
    int rc = mkdir(tmp, 0777) ? vk_err_set("%s: cannot create: %s", tmp, strerror(errno)) : 0;
    if (!rc) rc = lora_write_adapter_files(ls, lc, tmp);
    if (!rc) rc = write_optimizer(tmp, opt, tp);
    if (!rc) {
        uint8_t *rng = NULL;
        size_t len = 0;
        char *p = vk_path_join(tmp, "rng.bin");
        rc = tt_rng_state_get(&rng, &len) ? vk_err_set("rng state: %s", tt_last_error()) : vk_write_file_atomic(p, rng, len);
        free(rng), free(p);
    }
    if (!rc) {
        char *p = vk_path_join(tmp, "train_config.json");
        rc = vk_write_file_atomic(p, config_json, strlen(config_json));
        free(p);
    }
    if (!rc) rc = write_state(tmp, st, opt, tp);
    if (!rc) rc = vk_replace_dir(tmp, dir); /* the same step saved again replaces it whole */
    if (rc) vk_remove_flat_dir(tmp);
    free(tmp);
    return rc;
}

static int read_state(const char *dir, train_state *st, int64_t *adam_step) {
    char *path = vk_path_join(dir, "trainer_state.json");
    size_t n;
    char *text = vk_read_file(path, &n, 1u << 20);
    cJSON *o = text ? cJSON_ParseWithLength(text, n) : NULL;
    free(text);
    const char *keys[] = {"step", "epoch", "position", "nonfinite_skips", "best_step", "optimizer_step"};
    int rc = o ? 0 : vk_err_set("%s: missing or not JSON", path);
    double v[6] = {0};
    for (int i = 0; !rc && i < 6; i++) {
        const cJSON *e = cJSON_GetObjectItemCaseSensitive(o, keys[i]);
        if (!cJSON_IsNumber(e)) rc = vk_err_set("%s: %s missing", path, keys[i]);
        else v[i] = e->valuedouble;
    }
    if (!rc) {
        st->step = (long long)v[0];
        st->epoch = (long long)v[1];
        st->position = (long long)v[2];
        st->nonfinite_skips = (long long)v[3];
        st->best_step = (long long)v[4];
        *adam_step = (int64_t)v[5];
        const cJSON *b = cJSON_GetObjectItemCaseSensitive(o, "best_metric");
        st->best_metric = cJSON_IsNumber(b) ? b->valuedouble : NAN;
    }
    cJSON_Delete(o);
    free(path);
    return rc;
}

int checkpoint_load(const char *dir, tt_optim *opt, const train_params *tp, train_state *st) {
    int64_t adam_step = 0;
    if (read_state(dir, st, &adam_step)) return -1;
    /* adapter tensors: copied into the attached ones so the optimizer keeps its parameters */
    char *ap = vk_path_join(dir, "adapter_model.safetensors"), *op = vk_path_join(dir, "optimizer.safetensors");
    vk_weights *aw = vk_weights_open(ap), *ow = adam_step ? vk_weights_open(op) : NULL;
    int rc = aw && (!adam_step || ow) ? 0 : -1;
    for (int i = 0; !rc && i < tp->n; i++) {
        /* "base_model.model.X.lora_A.default.weight" is stored as "base_model.model.X.lora_A.weight",
         * "base_model.model.M.modules_to_save.default.P" as "base_model.model.M.P" */
        char file_name[600];
        if (lora_adapter_key(tp->names[i], file_name, sizeof file_name)) {
            rc = vk_err_set("%s: parameter name too long", tp->names[i]);
            break;
        }
        const vk_tensor_view *v = vk_weights_find(aw, file_name);
        if (!v || (int64_t)v->nbytes != tt_numel(tp->params[i]) * 4) {
            rc = vk_err_set("%s: %s missing or of another shape", ap, file_name);
            break;
        }
        tt_tensor *src = tt_from_data(v->data, v->shape, v->ndim, TT_F32);
        if (!src || tt_copy_(tp->params[i], src)) rc = vk_err_set("%s: %s", ap, tt_last_error());
        tt_free(src);
        if (rc || !adam_step) continue;
        char mname[640], vname[640];
        snprintf(mname, sizeof mname, "%s.exp_avg", tp->names[i]);
        snprintf(vname, sizeof vname, "%s.exp_avg_sq", tp->names[i]);
        const vk_tensor_view *m = vk_weights_find(ow, mname), *s = vk_weights_find(ow, vname);
        if (!m || !s) {
            rc = vk_err_set("%s: no optimizer state for %s", op, tp->names[i]);
            break;
        }
        tt_tensor *tm = tt_from_data(m->data, m->shape, m->ndim, TT_F32), *ts = tt_from_data(s->data, s->shape, s->ndim, TT_F32);
        if (tt_optim_set_state(opt, 0, i, adam_step, tm, ts)) rc = vk_err_set("%s: %s", op, tt_last_error());
        tt_free(tm);
        tt_free(ts);
    }
    vk_weights_close(aw);
    vk_weights_close(ow);
    free(ap), free(op);
    if (!rc) {
        char *rp = vk_path_join(dir, "rng.bin");
        size_t n;
        char *rng = vk_read_file(rp, &n, 1u << 20);
        rc = rng && !tt_rng_state_set((const uint8_t *)rng, n) ? 0 : vk_err_set("%s: cannot restore: %s", rp, tt_last_error());
        free(rng), free(rp);
    }
    return rc;
}

/* checkpoint-<step> folders of output_dir, with their steps. */
static int list_checkpoints(const char *output_dir, long long **steps) {
    DIR *d = opendir(output_dir);
    int n = 0;
    *steps = NULL;
    if (!d) return 0;
    for (struct dirent *e; (e = readdir(d));) {
        char *end;
        if (strncmp(e->d_name, "checkpoint-", 11) != 0) continue;
        long long s = strtoll(e->d_name + 11, &end, 10);
        if (end == e->d_name + 11 || *end) continue; /* checkpoint-12.tmp-345 is not complete */
        long long *p = realloc(*steps, sizeof *p * (size_t)(n + 1));
        if (!p) break;
        *steps = p;
        p[n++] = s;
    }
    closedir(d);
    return n;
}

char *checkpoint_latest(const char *output_dir, int *none) {
    long long *steps;
    int n = list_checkpoints(output_dir, &steps);
    long long best = -1;
    for (int i = 0; i < n; i++)
        if (steps[i] > best) best = steps[i];
    free(steps);
    *none = best < 0;
    if (best < 0) return NULL;
    char name[64];
    snprintf(name, sizeof name, "checkpoint-%lld", best);
    return vk_path_join(output_dir, name);
}

int checkpoint_prune(const char *output_dir, int keep_last, long long keep_step) {
    if (keep_last <= 0) return 0;
    long long *steps;
    int n = list_checkpoints(output_dir, &steps);
    for (int i = 0; i < n; i++) {
        int newer = 0;
        for (int j = 0; j < n; j++) newer += steps[j] > steps[i];
        if (newer < keep_last || steps[i] == keep_step) continue;
        char name[64];
        snprintf(name, sizeof name, "checkpoint-%lld", steps[i]);
        char *p = vk_path_join(output_dir, name);
        vk_remove_flat_dir(p);
        free(p);
    }
    free(steps);
    return 0;
}
