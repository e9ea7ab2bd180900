#include "train/vqa_answer.h"

#include "util/error.h"
#include "util/fileio.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

vqa_answerer *vqa_answerer_load(const char *model_dir, const char *adapter_dir) {
    vqa_answerer *a = calloc(1, sizeof *a);
    if (!a) {
        vk_err_set("out of memory");
        return NULL;
    }
    if (!(a->model = blip_vqa_load(model_dir)) || !(a->tokenizer = wordpiece_load(model_dir))) goto fail;
    if (blip_vqa_linears(a->model, &a->linears)) goto fail;
    if (adapter_dir && lora_load_adapter(&a->linears, adapter_dir, NULL)) goto fail;
    char *pre = vk_path_join(model_dir, "preprocessor_config.json");
    int have = vk_file_exists(pre), rc = have ? image_preproc_load(pre, &a->preproc) : 0;
    free(pre);
    if (!have) {
        a->preproc = image_preproc_default();
        a->preproc.height = a->preproc.width = a->model->cfg.vision.image_size;
    }
    if (rc) goto fail;
    return a;
fail:
    vqa_answerer_free(a);
    return NULL;
}

void vqa_answerer_free(vqa_answerer *a) {
    if (!a) return;
    lora_detach(&a->linears);
    free(a->linears.items);
    blip_vqa_free(a->model);
    wordpiece_free(a->tokenizer);
    free(a);
}

int vqa_answer_batch(const vqa_answerer *a, const char *const *images, const char *const *questions, int n,
                     const vqa_answer_options *o, char **answers) {
    size_t per = image_preproc_numel(&a->preproc);
    float *px = malloc(sizeof(float) * per * (size_t)(n ? n : 1));
    const char **qs = malloc(sizeof(char *) * (size_t)(n ? n : 1));
    int *row = malloc(sizeof(int) * (size_t)(n ? n : 1));
    int k = 0, rc = px && qs && row ? 0 : vk_err_set("out of memory");
    for (int i = 0; !rc && i < n; i++) {
        answers[i] = NULL;
        if (image_preprocess_file(&a->preproc, images[i], px + per * (size_t)k)) {
            if (o->on_warning) o->on_warning(vk_err_msg());
            continue;
        }
        qs[k] = questions[i];
        row[k++] = i;
    }
    if (!rc && k) {
        wordpiece_encode_opts eo = wordpiece_encode_defaults();
        eo.padding = WORDPIECE_PAD_LONGEST;
        eo.max_length = a->model->cfg.text.max_position_embeddings;
        wordpiece_batch b;
        int64_t S = a->model->cfg.vision.image_size;
        if (wordpiece_encode(a->tokenizer, qs, k, &eo, &b)) rc = -1;
        else {
            int grad = tt_set_grad_enabled(0);
            tt_scope_begin();
            tt_tensor *img = blip_vision_forward(&a->model->vision, tt_from_blob(px, (int64_t[]){k, 3, S, S}, 4, TT_F32, NULL, NULL),
                                                 NULL, 0);
            tt_tensor *ids = tt_from_data(b.ids, (int64_t[]){b.rows, b.cols}, 2, TT_I64);
            tt_tensor *q = img ? blip_vqa_question_embeds(a->model, img, ids, b.mask, 0) : NULL;
            blip_gen_output g = {0};
            if (!q) rc = vk_err_set("question encoder: %s", vk_err_msg()[0] ? vk_err_msg() : tt_last_error());
            else rc = blip_vqa_answer(a->model, q, b.mask, o->mask_question_padding, &o->gen, &g);
            tt_free(q);
            tt_scope_end();
            tt_set_grad_enabled(grad);
            for (int r = 0; !rc && r < k; r++) {
                answers[row[r]] = wordpiece_decode(a->tokenizer, g.ids + r * g.len, (size_t)g.len, 1, -1);
                if (!answers[row[r]]) rc = vk_err_set("out of memory");
            }
            blip_gen_output_free(&g);
            wordpiece_batch_free(&b);
        }
    }
    free(px), free(qs), free(row);
    return rc;
}

typedef struct {
    long long question_id;
    char *image;
    char *question;
} vqa_query;

static char *image_path(const char *root, const char *subtype, long long image_id) {
    char name[128];
    snprintf(name, sizeof name, "COCO_%s_%012lld.jpg", subtype ? subtype : "val2014", image_id);
    char *p = vk_path_join(root, name);
    if (p && !vk_file_exists(p)) {
        char alt[64];
        snprintf(alt, sizeof alt, "%lld.jpg", image_id);
        char *q = vk_path_join(root, alt);
        if (q && vk_file_exists(q)) {
            free(p);
            return q;
        }
        free(q);
    }
    return p;
}

static int read_queries(const char *path, const char *root, vqa_query **out, int *n) {
    size_t len;
    char *text = vk_read_file(path, &len, 1u << 30);
    if (!text) return -1;
    *out = NULL;
    *n = 0;
    int rc = 0, cap = 0;
    cJSON *root_json = cJSON_ParseWithLength(text, len);
    if (root_json && cJSON_IsObject(root_json)) {
        /* VQA v2 questions file */
        const cJSON *qs = cJSON_GetObjectItemCaseSensitive(root_json, "questions");
        const cJSON *sub = cJSON_GetObjectItemCaseSensitive(root_json, "data_subtype");
        if (!cJSON_IsArray(qs)) rc = vk_err_set("%s: no \"questions\" array (not a VQA v2 questions file)", path);
        int i = 0;
        const cJSON *q;
        cJSON_ArrayForEach(q, qs) {
            const cJSON *qid = cJSON_GetObjectItemCaseSensitive(q, "question_id"),
                        *iid = cJSON_GetObjectItemCaseSensitive(q, "image_id"),
                        *qt = cJSON_GetObjectItemCaseSensitive(q, "question");
            if (!cJSON_IsNumber(qid) || !cJSON_IsNumber(iid) || !cJSON_IsString(qt)) {
                rc = vk_err_set("%s: questions[%d]: needs question_id, image_id (numbers) and question (string)", path, i);
                break;
            }
            if (*n == cap) *out = realloc(*out, sizeof **out * (size_t)(cap = cap ? 2 * cap : 256));
            (*out)[*n] = (vqa_query){(long long)qid->valuedouble,
                                     image_path(root ? root : ".", cJSON_IsString(sub) ? sub->valuestring : NULL,
                                                (long long)iid->valuedouble),
                                     strdup(qt->valuestring)};
            (*n)++, i++;
        }
    } else {
        /* JSONL: {"image", "question", "question_id"?} */
        char *dir = strdup(path), *slash = strrchr(dir, '/');
        if (slash) *slash = 0;
        else strcpy(dir, ".");
        int line = 0;
        for (char *s = text, *e; s && *s && !rc; s = e ? e + 1 : NULL) {
            e = strchr(s, '\n');
            if (e) *e = 0;
            line++;
            if (!*s) continue;
            cJSON *o = cJSON_Parse(s);
            const cJSON *im = cJSON_GetObjectItemCaseSensitive(o, "image"), *qt = cJSON_GetObjectItemCaseSensitive(o, "question"),
                        *qid = cJSON_GetObjectItemCaseSensitive(o, "question_id");
            if (!cJSON_IsString(im) || !cJSON_IsString(qt)) {
                rc = vk_err_set("%s:%d: needs \"image\" and \"question\" strings", path, line);
            } else {
                if (*n == cap) *out = realloc(*out, sizeof **out * (size_t)(cap = cap ? 2 * cap : 256));
                const char *base = root ? root : dir;
                (*out)[*n] = (vqa_query){cJSON_IsNumber(qid) ? (long long)qid->valuedouble : *n,
                                         im->valuestring[0] == '/' ? strdup(im->valuestring) : vk_path_join(base, im->valuestring),
                                         strdup(qt->valuestring)};
                (*n)++;
            }
            cJSON_Delete(o);
        }
        free(dir);
    }
    cJSON_Delete(root_json);
    free(text);
    return rc;
}

int vqa_answer_file(const vqa_answerer *a, const char *questions_path, const char *image_root, const char *results_path,
                    const vqa_answer_options *o, int *answered, int *failed) {
    vqa_query *q = NULL;
    int n = 0;
    *answered = *failed = 0;
    int rc = read_queries(questions_path, image_root, &q, &n);
    int total = n; /* all of them are freed, even when only the first max_questions are answered */
    if (!rc && o->max_questions > 0 && n > o->max_questions) n = o->max_questions;
    int B = o->batch_size > 0 ? o->batch_size : 8;
    char **answers = calloc((size_t)n + 1, sizeof *answers);
    const char **imgs = malloc(sizeof(char *) * (size_t)B), **qs = malloc(sizeof(char *) * (size_t)B);
    for (int s = 0; !rc && s < n; s += B) {
        int k = n - s < B ? n - s : B;
        for (int i = 0; i < k; i++) imgs[i] = q[s + i].image, qs[i] = q[s + i].question;
        rc = vqa_answer_batch(a, imgs, qs, k, o, answers + s);
    }
    cJSON *arr = cJSON_CreateArray();
    for (int i = 0; !rc && i < n; i++) {
        if (!answers[i]) {
            (*failed)++;
            continue;
        }
        cJSON *r = cJSON_CreateObject();
        cJSON_AddNumberToObject(r, "question_id", (double)q[i].question_id);
        cJSON_AddStringToObject(r, "answer", answers[i]);
        cJSON_AddItemToArray(arr, r);
        (*answered)++;
    }
    if (!rc) {
        char *text = cJSON_PrintUnformatted(arr);
        rc = text ? vk_write_file_atomic(results_path, text, strlen(text)) : vk_err_set("out of memory");
        free(text);
    }
    cJSON_Delete(arr);
    for (int i = 0; i < n; i++) free(answers[i]);
    for (int i = 0; q && i < total; i++) free(q[i].image), free(q[i].question);
    free(q), free(answers), free(imgs), free(qs);
    return rc;
}
