/* vlkit index — embed images with a BLIP retrieval model into a search index (safetensors). */
#include "cli/commands.h"
#include "data/image_list.h"
#include "model/blip_index.h"
#include "model/blip_retriever.h"
#include "util/args.h"
#include "util/ds.h"
#include "util/error.h"
#include "util/fileio.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The absolute path (symlinks resolved) when the file exists, else a copy of the argument. */
static char *absolute(const char *p) {
    char *r = realpath(p, NULL);
    return r ? r : strdup(p);
}

int cmd_index(int argc, char **argv) {
    static const char *model = NULL, *out = NULL, *dtype = "fp32";
    static int batch = 16, threads = 0, quiet = 0;
    static const vk_arg opts[] = {
        {"--model", "DIR", VK_ARG_STRING, &model, "BLIP retrieval model folder (BlipForImageTextRetrieval, HF layout)", "VLKIT_MODEL", 1},
        {"--out", "INDEX", VK_ARG_STRING, &out, "index file to write (.safetensors); if it exists, new images are added", NULL, 1},
        {"--batch-size", "N", VK_ARG_INT, &batch, "images per forward pass (default 16)", NULL, 0},
        {"--dtype", "fp32|bf16", VK_ARG_STRING, &dtype, "matrix-product precision (default fp32; the index is float32 either way)", NULL, 0},
        {"--threads", "N", VK_ARG_INT, &threads, "CPU threads (default: all cores)", "VLKIT_THREADS", 0},
        {"--quiet", NULL, VK_ARG_FLAG, &quiet, "no summary line", NULL, 0},
        {0}};
    static const vk_argspec spec = {
        "index", "--model DIR --out INDEX.safetensors [options] IMAGE|DIR...",
        "Embed images (a folder means every .jpg/.jpeg/.png/.bmp/.gif in it) as L2-normalised\n"
        "vision_proj(CLS) vectors, stored with their absolute paths. An existing index is extended:\n"
        "images already in it are skipped. A bad image is reported and skipped (exit status 1; the\n"
        "others are still written). The file is replaced atomically.",
        opts, 1, -1,
        "examples:\n  vlkit index --model models/blip-itm-base-coco --out photos.safetensors photos/\n"
        "  vlkit index --model models/blip-itm-base-coco --out photos.safetensors new/*.jpg   # adds\n"
        "format: docs/retrieval.md\n"};
    vk_strlist pos = {0};
    int rc = vk_args_parse(&spec, argc, argv, &pos);
    if (rc != VK_ARGS_OK) return rc == VK_ARGS_HELP ? 0 : 2;
    const char *bad = batch < 1 ? "--batch-size must be >= 1"
                      : strcmp(dtype, "fp32") && strcmp(dtype, "bf16") ? "--dtype must be fp32 or bf16"
                                                                         : NULL;
    if (bad) {
        vk_print_error("index: %s", bad);
        vk_strlist_free(&pos);
        return 2;
    }
    if (threads > 0) tt_set_num_threads(threads);
    image_list images;
    rc = image_list_expand(pos.items, pos.n, &images);
    vk_strlist_free(&pos);
    if (rc) {
        vk_print_error("index: %s", vk_err_msg());
        return 1;
    }
    blip_retriever *r = NULL;
    blip_index ix = {0};
    float *pixels = NULL, *feats = NULL;
    char **todo = NULL;
    int ntodo = 0, failed = 0, status = 1;
    char *model_abs = absolute(model);
    int existed = vk_file_exists(out);
    if (!(r = blip_retriever_load(model))) {
        vk_print_error("index: %s", vk_err_msg());
        goto done;
    }
    if (existed) {
        if (blip_index_read(out, &ix)) {
            vk_print_error("index: %s", vk_err_msg());
            goto done;
        }
        if (ix.dim != r->dim) {
            vk_print_error("index: %s holds %d-dim embeddings (model %s) but %s makes %d-dim ones; use another --out",
                           out, ix.dim, ix.model, model, r->dim);
            goto done;
        }
        if (strcmp(ix.model, model_abs) != 0)
            vk_print_warning("index: %s was made with %s; adding embeddings of %s (same size, but only the same "
                             "model's embeddings are comparable)",
                             out, ix.model, model_abs);
    } else if (blip_index_init(&ix, r->dim, model_abs, r->model->cfg.vision.image_size)) {
        vk_print_error("index: %s", vk_err_msg());
        goto done;
    }
    if (strcmp(dtype, "bf16") == 0 && blip_itm_set_dtype(r->model, TT_BF16)) {
        vk_print_error("index: %s", vk_err_msg());
        goto done;
    }
    /* what is new: absolute paths not in the index, each once */
    todo = calloc((size_t)images.n + 1, sizeof *todo);
    if (!todo) {
        vk_print_error("index: out of memory");
        goto done;
    }
    int64_t before = ix.n;
    struct {
        char *key;
        int value;
    } *seen = NULL;
    sh_new_arena(seen);
    for (int i = 0; i < images.n; i++) {
        char *p = absolute(images.paths[i]);
        if (!p || blip_index_find(&ix, p) >= 0 || shgeti(seen, p) >= 0) {
            free(p);
            continue;
        }
        shput(seen, p, 1);
        todo[ntodo++] = p;
    }
    shfree(seen);
    size_t per = image_preproc_numel(&r->preproc);
    pixels = malloc(sizeof(float) * per * (size_t)batch);
    feats = malloc(sizeof(float) * (size_t)r->dim * (size_t)batch);
    const char **names = malloc(sizeof(char *) * (size_t)batch);
    if (!pixels || !feats || !names) {
        vk_print_error("index: out of memory for a batch of %d images", batch);
        free(names);
        goto done;
    }
    double t0 = now_s();
    int fatal = 0;
    for (int start = 0; !fatal && start < ntodo;) {
        int k = 0;
        for (; start < ntodo && k < batch; start++) {
            if (image_preprocess_file(&r->preproc, todo[start], pixels + per * (size_t)k) != 0) {
                vk_print_error("%s", vk_err_msg());
                failed++;
                continue;
            }
            names[k++] = todo[start];
        }
        if (!k) continue;
        if (blip_retriever_image_features(r, pixels, k, feats)) {
            vk_print_error("index: %s", vk_err_msg());
            fatal = 1;
            break;
        }
        for (int i = 0; i < k && !fatal; i++)
            if (blip_index_add(&ix, names[i], feats + (size_t)i * (size_t)r->dim)) {
                vk_print_error("index: %s", vk_err_msg());
                fatal = 1;
            }
    }
    free(names);
    double secs = now_s() - t0;
    if (fatal) goto done; /* nothing written: the old index stays as it was */
    int64_t added = ix.n - before;
    if (failed) vk_print_error("index: %d of %d new images could not be read (see above)", failed, ntodo);
    if (added == 0) {
        if (!quiet) printf("%s: %lld images, nothing new to add\n", out, (long long)ix.n);
        status = failed || ix.n == 0 ? 1 : 0;
        if (ix.n == 0) vk_print_error("index: no image could be indexed; %s not written", out);
        goto done;
    }
    if (blip_index_write(&ix, out)) {
        vk_print_error("index: %s", vk_err_msg());
        goto done;
    }
    if (!quiet)
        printf("%s: %lld images (%lld added, %lld already indexed), %d dims, %.1f images/s (%s)\n", out, (long long)ix.n,
               (long long)added, (long long)before, ix.dim, secs > 0 ? (double)added / secs : 0.0, dtype);
    status = failed ? 1 : 0;
done:
    for (int i = 0; i < ntodo; i++) free(todo[i]);
    free(todo);
    free(pixels);
    free(feats);
    free(model_abs);
    blip_index_free(&ix);
    blip_retriever_free(r);
    image_list_free(&images);
    return status;
}
