/* vlkit search — text -> image search over an index (vlkit index), image -> text ranking of
 * captions, image -> image search; cosine similarity, optionally re-ranked by the ITM head. */
#include "cli/commands.h"
#include "model/blip_index.h"
#include "model/blip_retriever.h"
#include "util/args.h"
#include "util/error.h"
#include "util/fileio.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RERANK_BATCH 16

typedef struct {
    int64_t row;   /* index row / text line */
    float cosine;
    float itm;     /* match probability, or -1 when not re-ranked */
} hit;

static int by_itm_desc(const void *a, const void *b) {
    const hit *x = a, *y = b;
    if (x->itm != y->itm) return x->itm > y->itm ? -1 : 1;
    return x->row < y->row ? -1 : x->row > y->row;
}

static void print_hit(int rank, const hit *h, const char *key, const char *value, int json) {
    float score = h->itm >= 0 ? h->itm : h->cosine;
    if (!json) {
        printf("%d\t%.6f\t%s\n", rank, score, value);
        return;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "rank", rank);
    cJSON_AddNumberToObject(o, "score", score);
    cJSON_AddNumberToObject(o, "cosine", h->cosine);
    if (h->itm >= 0) cJSON_AddNumberToObject(o, "itm", h->itm);
    cJSON_AddStringToObject(o, key, value);
    char *s = cJSON_PrintUnformatted(o);
    if (s) puts(s);
    free(s);
    cJSON_Delete(o);
}

/* Lines of a text file (trailing \r and empty lines dropped). */
static int read_lines(const char *path, char ***out, int *n) {
    size_t len;
    char *buf = vk_read_file(path, &len, 0);
    if (!buf) return -1;
    char **lines = NULL;
    int k = 0, cap = 0;
    for (char *s = buf, *e; s < buf + len; s = e + 1) {
        e = memchr(s, '\n', (size_t)(buf + len - s));
        if (!e) e = buf + len;
        *e = 0;
        if (e > s && e[-1] == '\r') e[-1] = 0;
        if (!*s) continue;
        if (k == cap) {
            char **l = realloc(lines, sizeof *l * (size_t)(cap = cap ? 2 * cap : 64));
            if (!l) break;
            lines = l;
        }
        if (!(lines[k] = strdup(s))) break;
        k++;
    }
    free(buf);
    *out = lines;
    *n = k;
    return 0;
}

/* Re-score hits[0..n) of one text against images (paths[hit.row]) with the ITM head. */
static int rerank_images(const blip_retriever *r, const char *text, hit *hits, int n, char *const *paths) {
    size_t per = image_preproc_numel(&r->preproc);
    float *px = malloc(sizeof(float) * per * RERANK_BATCH), prob[RERANK_BATCH];
    int idx[RERANK_BATCH];
    if (!px) return vk_err_set("out of memory");
    for (int start = 0; start < n;) {
        int k = 0;
        for (; start < n && k < RERANK_BATCH; start++) {
            if (image_preprocess_file(&r->preproc, paths[hits[start].row], px + per * (size_t)k)) {
                /* the image moved or changed since it was indexed: it keeps its cosine, ranks last */
                vk_print_warning("search: cannot re-rank %s", vk_err_msg());
                hits[start].itm = 0;
                continue;
            }
            idx[k++] = start;
        }
        if (k && blip_retriever_match_images(r, text, px, k, prob)) {
            free(px);
            return -1;
        }
        for (int i = 0; i < k; i++) hits[idx[i]].itm = prob[i];
    }
    free(px);
    return 0;
}

int cmd_search(int argc, char **argv) {
    static const char *index_path = NULL, *model = NULL, *text = NULL, *image = NULL, *texts_path = NULL, *dtype = "fp32";
    static int top = 10, rerank = 0, json = 0, threads = 0;
    static const vk_arg opts[] = {
        {"--index", "INDEX", VK_ARG_STRING, &index_path, "index written by vlkit index (text->image, image->image)", "VLKIT_INDEX", 0},
        {"--model", "DIR", VK_ARG_STRING, &model, "the retrieval model folder (the index's model)", "VLKIT_MODEL", 1},
        {"--text", "TEXT", VK_ARG_STRING, &text, "query text: rank the index's images", NULL, 0},
        {"--image", "IMG", VK_ARG_STRING, &image, "query image: rank --texts, or the index's images", NULL, 0},
        {"--texts", "FILE", VK_ARG_STRING, &texts_path, "captions to rank for --image, one per line", NULL, 0},
        {"--top", "K", VK_ARG_INT, &top, "results to print (default 10; 0 = all)", NULL, 0},
        {"--rerank", "N", VK_ARG_INT, &rerank, "re-score the best N by cosine with the ITM head, sort by match probability", NULL, 0},
        {"--json", NULL, VK_ARG_FLAG, &json, "JSON lines {\"rank\", \"score\", \"cosine\", [\"itm\",] \"path\"|\"text\"}", NULL, 0},
        {"--dtype", "fp32|bf16", VK_ARG_STRING, &dtype, "matrix-product precision (default fp32)", NULL, 0},
        {"--threads", "N", VK_ARG_INT, &threads, "CPU threads (default: all cores)", "VLKIT_THREADS", 0},
        {0}};
    static const vk_argspec spec = {
        "search", "--model DIR (--index INDEX --text TEXT | --image IMG --texts FILE | --index INDEX --image IMG) [options]",
        "Rank by cosine similarity of the contrastive features (BLIP's ITC); --rerank N re-scores the\n"
        "best N with the image-text matching head (ITM) and sorts them by match probability (the\n"
        "score printed then), the rest follow by cosine. Prints rank<TAB>score<TAB>path|text.",
        opts, 0, 0,
        "examples:\n  vlkit search --index photos.safetensors --model models/blip-itm-base-coco --text \"a dog on a beach\"\n"
        "  vlkit search --index photos.safetensors --model models/blip-itm-base-coco --text \"a red car\" --rerank 20 --top 5\n"
        "  vlkit search --model models/blip-itm-base-coco --image photo.jpg --texts captions.txt\n"};
    int rc = vk_args_parse(&spec, argc, argv, NULL);
    if (rc != VK_ARGS_OK) return rc == VK_ARGS_HELP ? 0 : 2;
    const char *bad = !!text + !!image != 1 ? "give one query: --text TEXT or --image IMG"
                      : text && texts_path ? "--texts goes with --image (captions to rank for an image)"
                      : !texts_path && !index_path ? "--index is required (or --image with --texts)"
                      : top < 0 ? "--top must be >= 0"
                      : rerank < 0 ? "--rerank must be >= 0"
                      : strcmp(dtype, "fp32") && strcmp(dtype, "bf16") ? "--dtype must be fp32 or bf16"
                                                                         : NULL;
    if (bad) {
        vk_print_error("search: %s", bad);
        return 2;
    }
    if (threads > 0) tt_set_num_threads(threads);
    int status = 1, nlines = 0;
    blip_index ix = {0};
    blip_retriever *r = NULL;
    char **lines = NULL;
    float *query = NULL, *scores = NULL, *feats = NULL, *px = NULL;
    int64_t *rows = NULL;
    hit *hits = NULL;
    /* the cheap checks first: the index and the texts before the model */
    if (!texts_path && blip_index_read(index_path, &ix)) {
        vk_print_error("search: %s", vk_err_msg());
        return 1;
    }
    if (texts_path) {
        if (read_lines(texts_path, &lines, &nlines)) {
            vk_print_error("search: %s", vk_err_msg());
            goto done;
        }
        if (!nlines) {
            vk_print_error("search: %s: no captions (one per line)", texts_path);
            goto done;
        }
    }
    if (!(r = blip_retriever_load(model))) {
        vk_print_error("search: %s", vk_err_msg());
        goto done;
    }
    if (!texts_path && ix.dim != r->dim) {
        vk_print_error("search: %s holds %d-dim embeddings (model %s) but %s makes %d-dim ones", index_path, ix.dim,
                       ix.model, model, r->dim);
        goto done;
    }
    if (strcmp(dtype, "bf16") == 0 && blip_itm_set_dtype(r->model, TT_BF16)) {
        vk_print_error("search: %s", vk_err_msg());
        goto done;
    }
    query = malloc(sizeof(float) * (size_t)r->dim);
    px = malloc(sizeof(float) * image_preproc_numel(&r->preproc));
    if (!query || !px) {
        vk_print_error("search: out of memory");
        goto done;
    }
    if (text ? blip_retriever_text_features(r, &text, 1, query)
             : image_preprocess_file(&r->preproc, image, px) || blip_retriever_image_features(r, px, 1, query)) {
        vk_print_error("search: %s", vk_err_msg());
        goto done;
    }
    int64_t n = texts_path ? nlines : ix.n;
    rows = malloc(sizeof(int64_t) * (size_t)(n ? n : 1));
    scores = malloc(sizeof(float) * (size_t)(n ? n : 1));
    hits = malloc(sizeof(hit) * (size_t)(n ? n : 1));
    if (!rows || !scores || !hits) {
        vk_print_error("search: out of memory");
        goto done;
    }
    int64_t m;
    if (texts_path) {
        /* image -> text: cosine with every caption's feature */
        feats = malloc(sizeof(float) * (size_t)r->dim * (size_t)nlines);
        if (!feats || blip_retriever_text_features(r, (const char *const *)lines, nlines, feats)) {
            vk_print_error("search: %s", feats ? vk_err_msg() : "out of memory");
            goto done;
        }
        for (int j = 0; j < nlines; j++) {
            double acc = 0;
            for (int d = 0; d < r->dim; d++) acc += (double)query[d] * feats[(size_t)j * (size_t)r->dim + (size_t)d];
            scores[j] = (float)acc;
        }
        m = blip_rank_scores(scores, n, 0, rows);
        for (int64_t i = 0; i < m; i++) hits[i] = (hit){rows[i], scores[rows[i]], -1};
    } else {
        m = blip_index_rank(&ix, query, 0, rows, scores);
        for (int64_t i = 0; i < m; i++) hits[i] = (hit){rows[i], scores[i], -1};
    }
    if (m < 0) {
        vk_print_error("search: %s", vk_err_msg());
        goto done;
    }
    int nre = rerank < m ? rerank : (int)m;
    if (nre > 0) {
        if (text) {
            if (rerank_images(r, text, hits, nre, ix.paths)) {
                vk_print_error("search: %s", vk_err_msg());
                goto done;
            }
        } else if (texts_path) {
            const char **cand = malloc(sizeof(char *) * (size_t)nre);
            float *prob = malloc(sizeof(float) * (size_t)nre);
            int ok = cand && prob;
            for (int i = 0; ok && i < nre; i++) cand[i] = lines[hits[i].row];
            if (ok) ok = blip_retriever_match_texts(r, px, cand, nre, prob) == 0;
            for (int i = 0; ok && i < nre; i++) hits[i].itm = prob[i];
            free(cand), free(prob);
            if (!ok) {
                vk_print_error("search: %s", vk_err_msg());
                goto done;
            }
        } else {
            /* image -> image: the ITM head matches images with texts, not images with images */
            vk_print_warning("search: --rerank applies to text queries and to --texts; ignored for image -> image");
            nre = 0;
        }
        qsort(hits, (size_t)nre, sizeof *hits, by_itm_desc);
    }
    int64_t shown = top == 0 || top > m ? m : top;
    for (int64_t i = 0; i < shown; i++)
        print_hit((int)i + 1, &hits[i], texts_path ? "text" : "path", texts_path ? lines[hits[i].row] : ix.paths[hits[i].row], json);
    fflush(stdout);
    status = 0;
done:
    for (int i = 0; i < nlines; i++) free(lines[i]);
    free(lines);
    free(query), free(scores), free(feats), free(px), free(rows), free(hits);
    blip_index_free(&ix);
    blip_retriever_free(r);
    return status;
}
