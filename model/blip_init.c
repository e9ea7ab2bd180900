#include "model/blip_init.h"

#include "model/blip_config.h"
#include "model/blip_layout.h"
#include "model/weights/safetensors.h"
#include "shim/tt.h"
#include "util/error.h"
#include "util/fileio.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int write_json(const char *dir, const char *name, cJSON *obj) {
    char *text = cJSON_Print(obj);
    char *path = vk_path_join(dir, name);
    int rc = text && path ? 0 : vk_err_set("out of memory");
    if (!rc) {
        size_t n = strlen(text);
        char *withnl = malloc(n + 2);
        if (!withnl) rc = vk_err_set("out of memory");
        else {
            memcpy(withnl, text, n);
            withnl[n] = '\n';
            rc = vk_write_file_atomic(path, withnl, n + 1);
            free(withnl);
        }
    }
    free(text);
    free(path);
    cJSON_Delete(obj);
    return rc;
}

/* Placeholder WordPiece vocabulary: the special tokens where the config expects them (and where
 * bert-base-uncased has them when the vocabulary is that big), single characters and their
 * "##" forms so any ASCII text tokenizes, then [unusedN]. Real checkpoints ship bert-base-uncased. */
static int write_placeholder_vocab(const char *path, const blip_text_config *t, int lines) {
    char **tok = calloc((size_t)lines, sizeof *tok);
    if (!tok) return vk_err_set("out of memory");
    int big = lines >= 30522;
    struct {
        const char *s;
        int id;
    } specials[] = {{"[PAD]", t->pad_token_id}, {"[SEP]", t->sep_token_id}, {"[UNK]", big ? 100 : -1},
                    {"[CLS]", big ? 101 : -1},  {"[MASK]", big ? 103 : -1}};
    int rc = 0;
    for (size_t i = 0; i < sizeof specials / sizeof specials[0]; i++) {
        int id = specials[i].id;
        if (id < 0) /* next free slot */
            for (id = 0; id < lines && tok[id]; id++) {
            }
        if (id >= lines || tok[id]) {
            rc = vk_err_set("vocab: no room for %s (vocab_size too small?)", specials[i].s);
            break;
        }
        tok[id] = strdup(specials[i].s);
    }
    int next = big ? 999 : 0; /* bert-base-uncased starts its single characters at 999 */
    char buf[32];
    for (int pass = 0; pass < 2 && !rc; pass++)
        for (int c = 33; c < 127; c++) {
            if (pass && !((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))) continue;
            if (c >= 'A' && c <= 'Z') continue; /* lower-cased before lookup */
            while (next < lines && tok[next]) next++;
            if (next >= lines) break;
            snprintf(buf, sizeof buf, pass ? "##%c" : "%c", c);
            tok[next] = strdup(buf);
        }
    vk_atomic_file af;
    if (!rc && vk_atomic_open(&af, path) == 0) {
        int unused = 0;
        for (int i = 0; i < lines; i++) {
            if (tok[i]) fprintf(af.fp, "%s\n", tok[i]);
            else fprintf(af.fp, "[unused%d]\n", unused++);
        }
        rc = vk_atomic_commit(&af);
    } else if (!rc) {
        rc = -1;
    }
    for (int i = 0; i < lines; i++) free(tok[i]);
    free(tok);
    return rc;
}

static int copy_vocab(const char *src, const char *dst, int lines) {
    size_t n;
    char *text = vk_read_file(src, &n, 64u << 20);
    if (!text) return -1;
    int count = 0;
    for (size_t i = 0; i < n; i++) count += text[i] == '\n';
    if (n && text[n - 1] != '\n') count++;
    int rc = count == lines ? vk_write_file_atomic(dst, text, n)
                            : vk_err_set("%s: %d lines, but text_config.vocab_size %d needs %d (+ [DEC], [ENC])", src, count,
                                         lines + 2, lines);
    free(text);
    return rc;
}

static int write_tokenizer_files(const char *dir, const blip_text_config *t, const char *vocab_path) {
    int lines = t->vocab_size - 2; /* [DEC] and [ENC] are added tokens */
    if (t->bos_token_id != lines)
        return vk_err_set("text_config.bos_token_id is %d; BLIP's tokenizer adds [DEC] at vocab_size - 2 = %d", t->bos_token_id,
                          lines);
    char *path = vk_path_join(dir, "vocab.txt");
    int rc = vocab_path ? copy_vocab(vocab_path, path, lines) : write_placeholder_vocab(path, t, lines);
    free(path);
    if (rc) return rc;
    cJSON *added = cJSON_CreateObject();
    cJSON_AddNumberToObject(added, "[DEC]", lines);
    cJSON_AddNumberToObject(added, "[ENC]", lines + 1);
    if (write_json(dir, "added_tokens.json", added)) return -1;
    cJSON *sp = cJSON_CreateObject();
    cJSON_AddItemToObject(sp, "additional_special_tokens", cJSON_CreateStringArray((const char *[]){"[ENC]"}, 1));
    cJSON_AddStringToObject(sp, "bos_token", "[DEC]");
    cJSON_AddStringToObject(sp, "cls_token", "[CLS]");
    cJSON_AddStringToObject(sp, "mask_token", "[MASK]");
    cJSON_AddStringToObject(sp, "pad_token", "[PAD]");
    cJSON_AddStringToObject(sp, "sep_token", "[SEP]");
    cJSON_AddStringToObject(sp, "unk_token", "[UNK]");
    if (write_json(dir, "special_tokens_map.json", sp)) return -1;
    cJSON *tc = cJSON_CreateObject();
    cJSON_AddStringToObject(tc, "tokenizer_class", "BertTokenizer");
    cJSON_AddBoolToObject(tc, "do_lower_case", 1);
    cJSON_AddBoolToObject(tc, "do_basic_tokenize", 1);
    cJSON_AddBoolToObject(tc, "tokenize_chinese_chars", 1);
    cJSON_AddNullToObject(tc, "strip_accents");
    cJSON_AddBoolToObject(tc, "clean_up_tokenization_spaces", 1);
    cJSON_AddNumberToObject(tc, "model_max_length", t->max_position_embeddings);
    cJSON_AddStringToObject(tc, "bos_token", "[DEC]");
    cJSON_AddItemToObject(tc, "additional_special_tokens", cJSON_CreateStringArray((const char *[]){"[ENC]"}, 1));
    cJSON_AddStringToObject(tc, "processor_class", "BlipProcessor");
    return write_json(dir, "tokenizer_config.json", tc);
}

static int write_processor_files(const char *dir, const blip_config *c) {
    cJSON *p = cJSON_CreateObject();
    cJSON_AddBoolToObject(p, "do_convert_rgb", 1);
    cJSON_AddBoolToObject(p, "do_normalize", 1);
    cJSON_AddBoolToObject(p, "do_rescale", 1);
    cJSON_AddBoolToObject(p, "do_resize", 1);
    /* OpenAI CLIP statistics, as every BLIP checkpoint */
    cJSON_AddItemToObject(p, "image_mean", cJSON_CreateDoubleArray((const double[]){0.48145466, 0.4578275, 0.40821073}, 3));
    cJSON_AddItemToObject(p, "image_std", cJSON_CreateDoubleArray((const double[]){0.26862954, 0.26130258, 0.27577711}, 3));
    cJSON_AddStringToObject(p, "image_processor_type", "BlipImageProcessor");
    cJSON_AddStringToObject(p, "processor_class", "BlipProcessor");
    cJSON_AddNumberToObject(p, "resample", 3);
    cJSON_AddNumberToObject(p, "rescale_factor", 1.0 / 255.0);
    cJSON *size = cJSON_AddObjectToObject(p, "size");
    cJSON_AddNumberToObject(size, "height", c->vision.image_size);
    cJSON_AddNumberToObject(size, "width", c->vision.image_size);
    if (write_json(dir, "preprocessor_config.json", p)) return -1;
    cJSON *g = cJSON_CreateObject();
    cJSON_AddBoolToObject(g, "_from_model_config", 1);
    cJSON_AddNumberToObject(g, "bos_token_id", c->text.bos_token_id);
    cJSON_AddNumberToObject(g, "eos_token_id", c->text.eos_token_id);
    cJSON_AddNumberToObject(g, "pad_token_id", c->text.pad_token_id);
    return write_json(dir, "generation_config.json", g);
}

static int write_weights(const char *dir, const blip_config *c, uint64_t seed, double std) {
    blip_tensor_spec *spec = NULL;
    int n = blip_layout(c, &spec);
    if (n < 0) return -1;
    size_t total = 0;
    for (int i = 0; i < n; i++) {
        int64_t k = 1;
        for (int d = 0; d < spec[i].ndim; d++) k *= spec[i].shape[d];
        total += (size_t)k;
    }
    float *data = malloc(sizeof(float) * (total ? total : 1));
    vk_tensor_view *views = calloc((size_t)n, sizeof *views);
    int rc = data && views ? 0 : vk_err_set("out of memory (%zu parameters)", total);
    if (!rc) rc = tt_manual_seed(seed) ? vk_err_set("%s", tt_last_error()) : 0;
    size_t off = 0;
    for (int i = 0; i < n && !rc; i++) {
        int64_t k = 1;
        for (int d = 0; d < spec[i].ndim; d++) k *= spec[i].shape[d];
        float *p = data + off;
        off += (size_t)k;
        views[i] = (vk_tensor_view){.name = spec[i].name, .dtype = VK_DTYPE_F32, .ndim = spec[i].ndim, .data = p,
                                    .nbytes = sizeof(float) * (size_t)k};
        memcpy(views[i].shape, spec[i].shape, sizeof(int64_t) * (size_t)spec[i].ndim);
        if (spec[i].init == BLIP_INIT_NORMAL) {
            tt_tensor *t = tt_from_blob(p, spec[i].shape, spec[i].ndim, TT_F32, NULL, NULL);
            if (!t || tt_normal_(t, 0.0, std) != 0) rc = vk_err_set("init %s: %s", spec[i].name, tt_last_error());
            tt_free(t);
        } else {
            float v = spec[i].init == BLIP_INIT_ONES ? 1.0f : 0.0f;
            for (int64_t j = 0; j < k; j++) p[j] = v;
        }
    }
    if (!rc) {
        char *path = vk_path_join(dir, "model.safetensors");
        rc = vk_safetensors_write(path, views, (size_t)n, NULL, 0);
        free(path);
    }
    free(views);
    free(data);
    free(spec);
    return rc;
}

int blip_init_folder(const blip_init_options *o) {
    size_t n;
    char *text = vk_read_file(o->config_path, &n, 16u << 20);
    if (!text) return -1;
    blip_config c;
    int rc = blip_config_parse(text, o->config_path, &c);
    cJSON *root = rc ? NULL : cJSON_Parse(text);
    free(text);
    if (rc) return -1;
    if (!root) return vk_err_set("%s: not valid JSON", o->config_path);
    double std = 0.02;
    const cJSON *ir = cJSON_GetObjectItemCaseSensitive(root, "initializer_range");
    if (cJSON_IsNumber(ir) && ir->valuedouble > 0) std = ir->valuedouble;
    if (c.arch == BLIP_ARCH_UNKNOWN) {
        c.arch = BLIP_ARCH_CAPTION;
        cJSON_DeleteItemFromObjectCaseSensitive(root, "architectures");
        cJSON_AddItemToObject(root, "architectures", cJSON_CreateStringArray((const char *[]){"BlipForConditionalGeneration"}, 1));
    }
    if (!cJSON_GetObjectItemCaseSensitive(root, "model_type")) cJSON_AddStringToObject(root, "model_type", "blip");
    if (mkdir(o->out_dir, 0777) != 0 && errno != EEXIST) {
        cJSON_Delete(root);
        return vk_err_set("%s: cannot create folder: %s", o->out_dir, strerror(errno));
    }
    if (!vk_is_dir(o->out_dir)) {
        cJSON_Delete(root);
        return vk_err_set("%s: exists and is not a folder", o->out_dir);
    }
    /* weights first: the config is written last, so a folder with config.json is complete */
    if (write_weights(o->out_dir, &c, o->seed, std) || write_tokenizer_files(o->out_dir, &c.text, o->vocab_path) ||
        write_processor_files(o->out_dir, &c)) {
        cJSON_Delete(root);
        return -1;
    }
    return write_json(o->out_dir, "config.json", root);
}
