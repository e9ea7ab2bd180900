/* train_config.c — one table of keys drives everything: applying the file and --set values,
 * unknown-key suggestions, the JSON output and the comparison. Adding a key is one table row
 * (plus its default, its struct field and its line in docs/train-config.md). */
#include "util/train_config.h"

#include "util/error.h"
#include "util/fileio.h"
#include "util/suggest.h"

#include <cjson/cJSON.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- names ------------------------------------------------------------------------------------ */

static const char *const task_names[] = {"caption", "vqa", NULL};
static const char *const weighting_names[] = {"blip", "single", NULL};
static const char *const format_names[] = {"auto", "jsonl", "coco", "karpathy", "imagefolder", NULL};
static const char *const schedule_names[] = {"constant", "linear", "cosine", NULL};
static const char *const precision_names[] = {"fp32", "bf16", NULL};
static const char *const backend_names[] = {"gloo", "nccl", NULL};
static const char *const bos_names[] = {"dec", "cls", NULL};
/* the result keys of the eval/ scorers, so the metric can be looked up there by name */
static const char *const metric_names[] = {"CIDEr", "Bleu_4", "ROUGE_L", "val_loss", NULL};
static const char *const on_error_names[] = {"skip", "fail", NULL};

static const char *name_of(const char *const *names, int v) {
    for (int i = 0; names[i]; i++)
        if (i == v) return names[i];
    return "?";
}
const char *train_data_format_name(train_data_format f) { return name_of(format_names, (int)f); }
const char *train_schedule_type_name(train_schedule_type t) { return name_of(schedule_names, (int)t); }
const char *train_precision_name(train_precision p) { return name_of(precision_names, (int)p); }
const char *train_bos_name(train_bos b) { return name_of(bos_names, (int)b); }
const char *train_metric_name(train_metric m) { return name_of(metric_names, (int)m); }
const char *train_on_error_name(train_on_error e) { return name_of(on_error_names, (int)e); }
const char *train_task_name(train_task t) { return name_of(task_names, (int)t); }
const char *train_dist_backend_name(train_dist_backend b) { return name_of(backend_names, (int)b); }
int train_metric_higher_is_better(train_metric m) { return m != TRAIN_METRIC_VAL_LOSS; }

/* ---- the key table ---------------------------------------------------------------------------- */

typedef enum {
    K_OBJECT,
    K_STRING,  /* char * */
    K_INT,     /* int */
    K_INT64,   /* long long */
    K_NUMBER,  /* double */
    K_BOOL,    /* int */
    K_ENUM,    /* int-sized enum, names[] */
    K_STRLIST, /* train_strlist; null or a bare string accepted */
    K_PAIR,    /* double[2] */
    K_TARGETS, /* train_strlist at off, char *regex at off2 */
} kind;

enum {
    NULLABLE = 1, /* null = not set (NULL string, TRAIN_UNSET number) */
    NONEMPTY = 2, /* strings: "" refused */
    REQUIRED = 4, /* must be set once everything is applied */
    MIN_OPEN = 8, /* range excludes min */
    MAX_OPEN = 16 /* range excludes max */
};

typedef struct {
    const char *key; /* full dotted path */
    kind k;
    size_t off;
    unsigned flags;
    double min, max; /* numbers: the valid range (INFINITY: unbounded) */
    const char *const *names;
    size_t off2;
} field;

#define OFF(m) offsetof(train_config, m)
#define INF INFINITY
#define MAX53 9007199254740991.0 /* 2^53 - 1: the largest integer a JSON number holds exactly */

#define DATA_FIELDS(p, m, pathflags)                                                      \
    {p, K_OBJECT, 0, 0, 0, 0, NULL, 0},                                                   \
        {p ".path", K_STRING, OFF(m.path), NULLABLE | NONEMPTY | (pathflags), 0, 0, NULL, 0}, \
        {p ".format", K_ENUM, OFF(m.format), 0, 0, 0, format_names, 0},                   \
        {p ".image_root", K_STRING, OFF(m.image_root), NULLABLE | NONEMPTY, 0, 0, NULL, 0}, \
        {p ".split", K_STRING, OFF(m.split), NULLABLE | NONEMPTY, 0, 0, NULL, 0},          \
        {p ".annotations", K_STRING, OFF(m.annotations), NULLABLE | NONEMPTY, 0, 0, NULL, 0}

static const field fields[] = {
    {"task", K_ENUM, OFF(task), 0, 0, 0, task_names, 0},
    {"model", K_STRING, OFF(model), NULLABLE | NONEMPTY | REQUIRED, 0, 0, NULL, 0},
    DATA_FIELDS("train", train, REQUIRED),
    DATA_FIELDS("val", val, 0),
    {"output_dir", K_STRING, OFF(output_dir), NONEMPTY, 0, 0, NULL, 0},
    {"seed", K_INT64, OFF(seed), 0, 0, MAX53, NULL, 0},
    {"epochs", K_NUMBER, OFF(epochs), NULLABLE | MIN_OPEN, 0, 1e6, NULL, 0},
    {"max_steps", K_INT64, OFF(max_steps), NULLABLE, 1, MAX53, NULL, 0},
    {"batch_size", K_INT, OFF(batch_size), 0, 1, 65536, NULL, 0},
    {"grad_accum", K_INT, OFF(grad_accum), 0, 1, 65536, NULL, 0},
    {"optim", K_OBJECT, 0, 0, 0, 0, NULL, 0},
    {"optim.lr", K_NUMBER, OFF(optim.lr), MIN_OPEN, 0, 1, NULL, 0},
    {"optim.weight_decay", K_NUMBER, OFF(optim.weight_decay), 0, 0, INF, NULL, 0},
    {"optim.betas", K_PAIR, OFF(optim.betas), MAX_OPEN, 0, 1, NULL, 0},
    {"optim.eps", K_NUMBER, OFF(optim.eps), MIN_OPEN, 0, 1, NULL, 0},
    {"schedule", K_OBJECT, 0, 0, 0, 0, NULL, 0},
    {"schedule.type", K_ENUM, OFF(schedule.type), 0, 0, 0, schedule_names, 0},
    {"schedule.warmup_steps", K_INT64, OFF(schedule.warmup_steps), NULLABLE, 0, MAX53, NULL, 0},
    {"schedule.warmup_ratio", K_NUMBER, OFF(schedule.warmup_ratio), NULLABLE, 0, 1, NULL, 0},
    {"schedule.min_lr", K_NUMBER, OFF(schedule.min_lr), 0, 0, INF, NULL, 0},
    {"max_grad_norm", K_NUMBER, OFF(max_grad_norm), 0, 0, INF, NULL, 0},
    {"precision", K_ENUM, OFF(precision), 0, 0, 0, precision_names, 0},
    {"threads", K_INT, OFF(threads), 0, 0, 4096, NULL, 0},
    {"lora", K_OBJECT, 0, 0, 0, 0, NULL, 0},
    {"lora.r", K_INT, OFF(lora.r), 0, 1, 65536, NULL, 0},
    {"lora.alpha", K_NUMBER, OFF(lora.alpha), MIN_OPEN, 0, INF, NULL, 0},
    {"lora.dropout", K_NUMBER, OFF(lora.dropout), MAX_OPEN, 0, 1, NULL, 0},
    {"lora.target_modules", K_TARGETS, OFF(lora.target_modules), 0, 0, 0, NULL, OFF(lora.target_regex)},
    {"lora.use_rslora", K_BOOL, OFF(lora.use_rslora), 0, 0, 0, NULL, 0},
    {"lora.modules_to_save", K_STRLIST, OFF(lora.modules_to_save), 0, 0, 0, NULL, 0},
    {"lora.init_adapter", K_STRING, OFF(lora.init_adapter), NULLABLE | NONEMPTY, 0, 0, NULL, 0},
    {"text", K_OBJECT, 0, 0, 0, 0, NULL, 0},
    {"text.prompt", K_STRING, OFF(text.prompt), 0, 0, 0, NULL, 0},
    {"text.max_length", K_INT, OFF(text.max_length), 0, 2, 512, NULL, 0},
    {"text.bos", K_ENUM, OFF(text.bos), 0, 0, 0, bos_names, 0},
    {"text.label_smoothing", K_NUMBER, OFF(text.label_smoothing), MAX_OPEN, 0, 1, NULL, 0},
    {"eval", K_OBJECT, 0, 0, 0, 0, NULL, 0},
    {"eval.every_steps", K_INT, OFF(eval.every_steps), 0, 0, INF, NULL, 0},
    {"eval.max_samples", K_INT, OFF(eval.max_samples), 0, 0, INF, NULL, 0},
    {"eval.beams", K_INT, OFF(eval.beams), 0, 1, 64, NULL, 0},
    {"eval.max_length", K_INT, OFF(eval.max_length), 0, 1, 512, NULL, 0},
    {"eval.min_length", K_INT, OFF(eval.min_length), 0, 0, 512, NULL, 0},
    {"eval.metric", K_ENUM, OFF(eval.metric), 0, 0, 0, metric_names, 0},
    {"save", K_OBJECT, 0, 0, 0, 0, NULL, 0},
    {"save.every_steps", K_INT, OFF(save.every_steps), 0, 0, INF, NULL, 0},
    {"save.keep_last", K_INT, OFF(save.keep_last), 0, 0, INF, NULL, 0},
    {"logging", K_OBJECT, 0, 0, 0, 0, NULL, 0},
    {"logging.every_steps", K_INT, OFF(logging.every_steps), 0, 1, INF, NULL, 0},
    {"vqa", K_OBJECT, 0, 0, 0, 0, NULL, 0},
    {"vqa.answer_weighting", K_ENUM, OFF(vqa.answer_weighting), 0, 0, 0, weighting_names, 0},
    {"vqa.answer_max_length", K_INT, OFF(vqa.answer_max_length), 0, 2, 512, NULL, 0},
    {"data", K_OBJECT, 0, 0, 0, 0, NULL, 0},
    {"data.on_error", K_ENUM, OFF(data.on_error), 0, 0, 0, on_error_names, 0},
    {"data.max_bad", K_INT, OFF(data.max_bad), 0, -1, INF, NULL, 0},
    {"data.workers", K_INT, OFF(data.workers), 0, 0, 256, NULL, 0},
    {"distributed", K_OBJECT, 0, 0, 0, 0, NULL, 0},
    {"distributed.backend", K_ENUM, OFF(distributed.backend), 0, 0, 0, backend_names, 0},
    {"distributed.timeout_s", K_NUMBER, OFF(distributed.timeout_s), MIN_OPEN, 0, 86400, NULL, 0},
    {"distributed.check_every_steps", K_INT, OFF(distributed.check_every_steps), 0, 0, INF, NULL, 0},
};
#define NFIELDS (sizeof fields / sizeof fields[0])

/* The names HF Trainer, torchtune, axolotl and PEFT use for keys vlkit spells differently, so a
 * config written from habit gets "did you mean 'optim.lr'?" instead of a bare "unknown key".
 * Matched against the whole dotted key and against its last part. */
static const struct {
    const char *theirs, *ours;
} aliases[] = {
    {"learning_rate", "optim.lr"},
    {"lr", "optim.lr"},
    {"weight_decay", "optim.weight_decay"},
    {"adam_beta1", "optim.betas"},
    {"adam_beta2", "optim.betas"},
    {"adam_epsilon", "optim.eps"},
    {"optimizer", "optim"},
    {"num_train_epochs", "epochs"},
    {"num_epochs", "epochs"},
    {"per_device_train_batch_size", "batch_size"},
    {"train_batch_size", "batch_size"},
    {"micro_batch_size", "batch_size"},
    {"gradient_accumulation_steps", "grad_accum"},
    {"lr_scheduler_type", "schedule.type"},
    {"lr_scheduler", "schedule.type"},
    {"scheduler", "schedule"},
    {"num_warmup_steps", "schedule.warmup_steps"},
    {"bf16", "precision"},
    {"fp16", "precision"},
    {"dtype", "precision"},
    {"lora_r", "lora.r"},
    {"lora_rank", "lora.r"},
    {"rank", "lora.r"},
    {"lora_alpha", "lora.alpha"},
    {"lora_dropout", "lora.dropout"},
    {"lora_target_modules", "lora.target_modules"},
    {"lora_attn_modules", "lora.target_modules"},
    {"target_modules", "lora.target_modules"},
    {"use_rslora", "lora.use_rslora"},
    {"modules_to_save", "lora.modules_to_save"},
    {"lora_model_dir", "lora.init_adapter"},
    {"adapter", "lora.init_adapter"},
    {"save_steps", "save.every_steps"},
    {"save_total_limit", "save.keep_last"},
    {"eval_steps", "eval.every_steps"},
    {"num_beams", "eval.beams"},
    {"metric_for_best_model", "eval.metric"},
    {"logging_steps", "logging.every_steps"},
    {"ddp_backend", "distributed.backend"},
    {"ddp_timeout", "distributed.timeout_s"},
    {"log_every_n_steps", "logging.every_steps"},
    {"model_name_or_path", "model"},
    {"base_model", "model"},
    {"train_file", "train.path"},
    {"validation_file", "val.path"},
    {"dataset", "train"},
    {"datasets", "train"},
    {"validation", "val"},
    {"max_seq_length", "text.max_length"},
    {"sequence_len", "text.max_length"},
    {"dataloader_num_workers", "data.workers"},
    {"num_workers", "data.workers"},
    {"num_threads", "threads"},
};

static const field *find_field(const char *key) {
    for (size_t i = 0; i < NFIELDS; i++)
        if (strcmp(fields[i].key, key) == 0) return &fields[i];
    return NULL;
}

static const char *last_part(const char *key) {
    const char *d = strrchr(key, '.');
    return d ? d + 1 : key;
}

/* The key the user probably meant, or NULL. */
static const char *suggest_key(const char *key) {
    const char *tail = last_part(key);
    for (size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++)
        if (strcasecmp(key, aliases[i].theirs) == 0 || strcasecmp(tail, aliases[i].theirs) == 0) return aliases[i].ours;
    /* the right name under the wrong parent ("warmup_steps" at the top): when only one key has it */
    const char *only = NULL;
    int matches = 0;
    for (size_t i = 0; i < NFIELDS; i++)
        if (strcmp(last_part(fields[i].key), tail) == 0 && strcmp(fields[i].key, key) != 0) {
            only = fields[i].key;
            matches++;
        }
    if (matches == 1) return only;
    const char *keys[NFIELDS];
    for (size_t i = 0; i < NFIELDS; i++) keys[i] = fields[i].key;
    return vk_suggest(key, keys, NFIELDS);
}

static int unknown_key(const char *source, const char *key) {
    const char *s = suggest_key(key);
    if (s) return vk_err_set("%s: %s: unknown key (did you mean '%s'?)", source, key, s);
    return vk_err_set("%s: %s: unknown key (docs/train-config.md lists them)", source, key);
}

/* ---- defaults and freeing --------------------------------------------------------------------- */

static void strlist_free(train_strlist *l) {
    for (int i = 0; i < l->n; i++) free(l->items[i]);
    free(l->items);
    l->items = NULL;
    l->n = 0;
}

static int strlist_push(train_strlist *l, const char *s) {
    char *copy = strdup(s);
    char **p = copy ? realloc(l->items, sizeof *p * (size_t)(l->n + 1)) : NULL;
    if (!p) {
        free(copy);
        return vk_err_set("out of memory");
    }
    l->items = p;
    l->items[l->n++] = copy;
    return 0;
}

static int set_string(char **dst, const char *s) {
    char *copy = s ? strdup(s) : NULL;
    if (s && !copy) return vk_err_set("out of memory");
    free(*dst);
    *dst = copy;
    return 0;
}

void train_config_free(train_config *c) {
    for (size_t i = 0; i < NFIELDS; i++) {
        const field *f = &fields[i];
        char *base = (char *)c;
        if (f->k == K_STRING) free(*(char **)(base + f->off));
        if (f->k == K_STRLIST || f->k == K_TARGETS) strlist_free((train_strlist *)(base + f->off));
        if (f->k == K_TARGETS) free(*(char **)(base + f->off2));
    }
    memset(c, 0, sizeof *c);
}

int train_config_defaults(train_config *out) {
    train_config c;
    memset(&c, 0, sizeof c);
    c.train.format = c.val.format = TRAIN_FORMAT_AUTO;
    c.seed = 42; /* HF Trainer's default */
    c.epochs = TRAIN_UNSET;
    c.max_steps = TRAIN_UNSET;
    c.batch_size = 8;
    c.grad_accum = 1;
    c.optim.lr = 1e-4;
    c.optim.weight_decay = 0.05;
    c.optim.betas[0] = 0.9;
    c.optim.betas[1] = 0.999;
    c.optim.eps = 1e-8;
    c.schedule.type = TRAIN_SCHEDULE_COSINE;
    c.schedule.warmup_steps = TRAIN_UNSET;
    c.schedule.warmup_ratio = TRAIN_UNSET;
    c.schedule.min_lr = 0;
    c.max_grad_norm = 1.0;
    c.precision = TRAIN_PRECISION_FP32;
    c.threads = 0;
    c.lora.r = 8;
    c.lora.alpha = 16;
    c.lora.dropout = 0.05;
    c.lora.use_rslora = 0;
    c.text.max_length = 40;
    c.text.bos = TRAIN_BOS_DEC;
    c.text.label_smoothing = 0.1;
    c.eval.every_steps = 500;
    c.eval.max_samples = 500;
    c.eval.beams = 3;
    c.eval.max_length = 20;
    c.eval.min_length = 5;
    c.eval.metric = TRAIN_METRIC_CIDER;
    c.save.every_steps = 500;
    c.save.keep_last = 2;
    c.logging.every_steps = 10;
    c.data.on_error = TRAIN_ON_ERROR_SKIP;
    c.data.max_bad = 1000;
    c.data.workers = 2;
    c.vqa.answer_weighting = TRAIN_VQA_WEIGHT_BLIP;
    c.vqa.answer_max_length = 12;
    c.distributed.backend = TRAIN_DIST_GLOO;
    c.distributed.timeout_s = 300;
    c.distributed.check_every_steps = 50;
    if (set_string(&c.output_dir, "output") || set_string(&c.text.prompt, "a picture of ") ||
        strlist_push(&c.lora.target_modules, "query") || strlist_push(&c.lora.target_modules, "value")) {
        train_config_free(&c);
        return -1;
    }
    *out = c;
    return 0;
}

/* ---- applying JSON values --------------------------------------------------------------------- */

typedef struct {
    const char *source; /* "cfg.json" or "--set lora.r=0": the front of every message */
    int from_set;       /* a --set: setting one of a pair clears the other (see the header) */
} apply_ctx;

/* What a JSON value is, for "expected X, got Y". */
static void describe(const cJSON *v, char *buf, size_t cap) {
    if (cJSON_IsString(v))
        snprintf(buf, cap, "the string \"%.60s%s\"", v->valuestring, strlen(v->valuestring) > 60 ? "..." : "");
    else if (cJSON_IsNumber(v))
        snprintf(buf, cap, "%.15g", v->valuedouble);
    else if (cJSON_IsBool(v))
        snprintf(buf, cap, "%s", cJSON_IsTrue(v) ? "true" : "false");
    else if (cJSON_IsNull(v))
        snprintf(buf, cap, "null");
    else if (cJSON_IsArray(v))
        snprintf(buf, cap, "a list");
    else
        snprintf(buf, cap, "an object");
}

static int type_error(const apply_ctx *x, const char *key, const char *expected, const cJSON *v) {
    char got[96];
    describe(v, got, sizeof got);
    return vk_err_set("%s: %s: expected %s, got %s", x->source, key, expected, got);
}

static void fmt_num(char *buf, size_t cap, double v) { snprintf(buf, cap, "%g", v); }

/* "> 0", ">= 1", "in [0, 1)" */
static void range_text(const field *f, char *buf, size_t cap) {
    char lo[32], hi[32];
    fmt_num(lo, sizeof lo, f->min);
    fmt_num(hi, sizeof hi, f->max);
    if (isinf(f->max) || f->max >= MAX53)
        snprintf(buf, cap, "%s %s", f->flags & MIN_OPEN ? ">" : ">=", lo);
    else
        snprintf(buf, cap, "in %c%s, %s%c", f->flags & MIN_OPEN ? '(' : '[', lo, hi, f->flags & MAX_OPEN ? ')' : ']');
}

static int in_range(const field *f, double v) {
    if (f->flags & MIN_OPEN ? !(v > f->min) : !(v >= f->min)) return 0;
    if (f->flags & MAX_OPEN ? !(v < f->max) : !(v <= f->max)) return 0;
    return 1;
}

static int range_error(const apply_ctx *x, const field *f, const char *what, double v) {
    char r[96];
    range_text(f, r, sizeof r);
    return vk_err_set("%s: %s: must be %s %s, got %.15g", x->source, f->key, what, r, v);
}

static int enum_index(const char *const *names, const char *s) {
    for (int i = 0; names[i]; i++)
        if (strcasecmp(names[i], s) == 0) return i;
    return -1;
}

static int apply_strlist(const apply_ctx *x, const field *f, const cJSON *v, train_strlist *out, int allow_empty) {
    train_strlist l = {0};
    if (cJSON_IsString(v)) {
        if (!*v->valuestring) return vk_err_set("%s: %s: must not be empty", x->source, f->key);
        if (strlist_push(&l, v->valuestring) != 0) return -1;
    } else if (cJSON_IsArray(v)) {
        int i = 0;
        for (const cJSON *e = v->child; e; e = e->next, i++) {
            if (!cJSON_IsString(e) || !*e->valuestring) {
                char got[96];
                describe(e, got, sizeof got);
                strlist_free(&l);
                return vk_err_set("%s: %s[%d]: expected a non-empty string (a module name), got %s", x->source, f->key,
                                  i, got);
            }
            if (strlist_push(&l, e->valuestring) != 0) {
                strlist_free(&l);
                return -1;
            }
        }
        if (!allow_empty && l.n == 0)
            return vk_err_set("%s: %s: must name at least one module (a list of names or a regex string)", x->source,
                              f->key);
    } else if (!cJSON_IsNull(v)) {
        return type_error(x, f->key, "a list of module names", v);
    }
    strlist_free(out);
    *out = l;
    return 0;
}

/* Setting one of these from --set clears its partner (see the header). */
static void clear_partner(train_config *c, const char *key) {
    if (strcmp(key, "epochs") == 0) c->max_steps = TRAIN_UNSET;
    if (strcmp(key, "max_steps") == 0) c->epochs = TRAIN_UNSET;
    if (strcmp(key, "schedule.warmup_steps") == 0) c->schedule.warmup_ratio = TRAIN_UNSET;
    if (strcmp(key, "schedule.warmup_ratio") == 0) c->schedule.warmup_steps = TRAIN_UNSET;
}

static int apply_object(train_config *c, const apply_ctx *x, const char *prefix, const cJSON *obj);

static int apply_value(train_config *c, const apply_ctx *x, const field *f, const cJSON *v) {
    char *base = (char *)c;
    void *dst = base + f->off;
    if (cJSON_IsNull(v) && (f->flags & NULLABLE)) {
        if (f->k == K_STRING) return set_string(dst, NULL);
        if (f->k == K_INT64) *(long long *)dst = TRAIN_UNSET;
        if (f->k == K_NUMBER) *(double *)dst = TRAIN_UNSET;
        return 0;
    }
    switch (f->k) {
    case K_OBJECT:
        if (!cJSON_IsObject(v)) return type_error(x, f->key, "an object", v);
        return apply_object(c, x, f->key, v);
    case K_STRING:
        if (!cJSON_IsString(v)) return type_error(x, f->key, "a string", v);
        if ((f->flags & NONEMPTY) && !*v->valuestring) return vk_err_set("%s: %s: must not be empty", x->source, f->key);
        if (set_string(dst, v->valuestring) != 0) return -1;
        break;
    case K_INT:
    case K_INT64: {
        if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble))
            return type_error(x, f->key, "an integer", v);
        double d = v->valuedouble;
        double hi = f->k == K_INT ? INT_MAX : MAX53;
        if (!in_range(f, d) || d > hi || d < -hi) return range_error(x, f, "an integer", d);
        if (f->k == K_INT)
            *(int *)dst = (int)d;
        else
            *(long long *)dst = (long long)d;
        break;
    }
    case K_NUMBER:
        if (!cJSON_IsNumber(v)) return type_error(x, f->key, "a number", v);
        if (!in_range(f, v->valuedouble)) return range_error(x, f, "a number", v->valuedouble);
        *(double *)dst = v->valuedouble;
        break;
    case K_BOOL:
        if (!cJSON_IsBool(v)) return type_error(x, f->key, "true or false", v);
        *(int *)dst = cJSON_IsTrue(v) ? 1 : 0;
        break;
    case K_ENUM: {
        char expected[128] = "one of";
        for (int i = 0; f->names[i]; i++) {
            size_t n = strlen(expected);
            snprintf(expected + n, sizeof expected - n, "%s \"%s\"", i ? "," : "", f->names[i]);
        }
        if (!cJSON_IsString(v)) return type_error(x, f->key, expected, v);
        int i = enum_index(f->names, v->valuestring);
        if (i < 0) {
            int n = 0;
            while (f->names[n]) n++;
            const char *s = vk_suggest(v->valuestring, (const char *const *)f->names, (size_t)n);
            if (!s) return type_error(x, f->key, expected, v);
            char got[96];
            describe(v, got, sizeof got);
            return vk_err_set("%s: %s: expected %s, got %s (did you mean \"%s\"?)", x->source, f->key, expected, got, s);
        }
        *(int *)dst = i;
        break;
    }
    case K_STRLIST:
        if (apply_strlist(x, f, v, dst, 1) != 0) return -1;
        break;
    case K_PAIR: {
        if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) != 2 || !cJSON_IsNumber(v->child) ||
            !cJSON_IsNumber(v->child->next))
            return type_error(x, f->key, "a list of two numbers ([0.9, 0.999])", v);
        double p[2] = {v->child->valuedouble, v->child->next->valuedouble};
        for (int i = 0; i < 2; i++)
            if (!in_range(f, p[i])) {
                char r[96];
                range_text(f, r, sizeof r);
                return vk_err_set("%s: %s[%d]: must be %s, got %.15g", x->source, f->key, i, r, p[i]);
            }
        memcpy(dst, p, sizeof p);
        break;
    }
    case K_TARGETS: {
        char **regex = (char **)(base + f->off2);
        if (cJSON_IsString(v)) {
            /* PEFT: a string is a regex full-matched against each module's whole name */
            if (!*v->valuestring) return vk_err_set("%s: %s: must not be empty", x->source, f->key);
            if (set_string(regex, v->valuestring) != 0) return -1;
            strlist_free(dst);
        } else {
            if (!cJSON_IsArray(v))
                return type_error(x, f->key, "a list of module names ([\"query\", \"value\"]) or a regex string", v);
            if (apply_strlist(x, f, v, dst, 0) != 0) return -1;
            set_string(regex, NULL);
        }
        break;
    }
    }
    if (x->from_set) clear_partner(c, f->key);
    return 0;
}

static int apply_object(train_config *c, const apply_ctx *x, const char *prefix, const cJSON *obj) {
    for (const cJSON *m = obj->child; m; m = m->next) {
        char key[256];
        if (snprintf(key, sizeof key, "%s%s%s", prefix ? prefix : "", prefix ? "." : "", m->string) >= (int)sizeof key)
            return vk_err_set("%s: %.60s...: unknown key (too long)", x->source, key);
        /* cJSON keeps both copies of a repeated key; which one wins would be an accident */
        for (const cJSON *e = obj->child; e != m; e = e->next)
            if (strcmp(e->string, m->string) == 0) return vk_err_set("%s: %s: given twice", x->source, key);
        const field *f = find_field(key);
        if (!f) return unknown_key(x->source, key);
        if (apply_value(c, x, f, m) != 0) return -1;
    }
    return 0;
}

/* ---- whole-config checks ---------------------------------------------------------------------- */

static int check_whole(const train_config *c, const char *source) {
    if (!c->model) return vk_err_set("%s: model: required: the HF model folder to fine-tune (e.g. \"models/blip-base\")", source);
    if (!c->train.path)
        return vk_err_set("%s: train.path: required: the training captions (JSONL, COCO, Karpathy or imagefolder)", source);
    if (c->epochs == TRAIN_UNSET && c->max_steps == TRAIN_UNSET)
        return vk_err_set("%s: epochs or max_steps: one is required (e.g. \"epochs\": 3 or \"max_steps\": 1000)", source);
    if (c->schedule.min_lr > c->optim.lr)
        return vk_err_set("%s: schedule.min_lr: must not exceed optim.lr (%g > %g)", source, c->schedule.min_lr, c->optim.lr);
    if (c->eval.min_length > c->eval.max_length)
        return vk_err_set("%s: eval.min_length: must not exceed eval.max_length (%d > %d)", source, c->eval.min_length,
                          c->eval.max_length);
    if (c->max_steps != TRAIN_UNSET && c->schedule.warmup_steps > c->max_steps)
        return vk_err_set("%s: schedule.warmup_steps: more than max_steps (%lld > %lld)", source, c->schedule.warmup_steps,
                          c->max_steps);
    return 0;
}

/* ---- loading ---------------------------------------------------------------------------------- */

static int json_error(const char *source, const char *text, const char *at) {
    int line = 1, col = 1;
    for (const char *p = text; at && p < at && *p; p++) {
        if (*p == '\n') {
            line++;
            col = 1;
        } else {
            col++;
        }
    }
    /* cJSON's position is where it gave up, often just past the real mistake: show both sides */
    char near[32] = "";
    if (at && *at) {
        const char *from = at - text > 12 ? at - 12 : text;
        size_t n = 0;
        for (const char *p = from; *p && n < sizeof near - 1 && p < at + 12; p++) near[n++] = *p == '\n' || *p == '\t' ? ' ' : *p;
        near[n] = 0;
    }
    if (!*near) return vk_err_set("%s:%d:%d: invalid JSON (unexpected end of file)", source, line, col);
    return vk_err_set("%s:%d:%d: invalid JSON near '%s' (strict JSON: no comments, no trailing commas)", source, line,
                      col, near);
}

static int apply_set(train_config *c, const char *set) {
    char source[320];
    snprintf(source, sizeof source, "--set %.300s", set);
    apply_ctx x = {source, 1};
    const char *eq = strchr(set, '=');
    if (!eq || eq == set) return vk_err_set("%s: expected key=value (e.g. --set lora.r=16)", source);
    char key[256];
    size_t klen = (size_t)(eq - set);
    if (klen >= sizeof key) return vk_err_set("%s: key too long", source);
    memcpy(key, set, klen);
    key[klen] = 0;
    const char *raw = eq + 1;
    const field *f = find_field(key);
    if (!f) return unknown_key(source, key);
    cJSON *v = cJSON_ParseWithOpts(raw, NULL, 1);
    /* Not JSON, or a number/bool for a string key: the text itself is the string the user meant
     * (`--set model=models/blip-base`, `--set val.split=2014`). */
    if (!v || (f->k == K_STRING && !cJSON_IsString(v) && !cJSON_IsNull(v))) {
        cJSON_Delete(v);
        v = cJSON_CreateString(raw);
        if (!v) return vk_err_set("out of memory");
    }
    int rc = apply_value(c, &x, f, v);
    cJSON_Delete(v);
    return rc;
}

int train_config_load_string(const char *json, const char *source, const char *const *sets, int nsets,
                             train_config *out) {
    memset(out, 0, sizeof *out);
    if (!source) source = "config";
    train_config c;
    if (train_config_defaults(&c) != 0) return -1;
    if (json) {
        const char *end = NULL;
        cJSON *root = cJSON_ParseWithOpts(json, &end, 1);
        if (!root) {
            train_config_free(&c);
            return json_error(source, json, end);
        }
        int rc = 0;
        if (!cJSON_IsObject(root)) {
            rc = vk_err_set("%s: expected a JSON object of settings ({\"model\": ..., \"train\": {...}, ...})", source);
        } else {
            apply_ctx x = {source, 0};
            rc = apply_object(&c, &x, NULL, root);
        }
        cJSON_Delete(root);
        if (rc != 0) {
            train_config_free(&c);
            return -1;
        }
    }
    for (int i = 0; i < nsets; i++)
        if (apply_set(&c, sets[i]) != 0) {
            train_config_free(&c);
            return -1;
        }
    if (check_whole(&c, source) != 0) {
        train_config_free(&c);
        return -1;
    }
    *out = c;
    return 0;
}

int train_config_load(const char *path, const char *const *sets, int nsets, train_config *out) {
    memset(out, 0, sizeof *out);
    size_t len;
    /* a config is a few KB; a multi-MB "config" is a dataset passed by mistake */
    char *text = vk_read_file(path, &len, 16u << 20);
    if (!text) return -1;
    if (strlen(text) != len) {
        free(text);
        return vk_err_set("%s: not a JSON text file (contains a NUL byte)", path);
    }
    int rc = train_config_load_string(text, path, sets, nsets, out);
    free(text);
    return rc;
}

/* ---- output and comparison -------------------------------------------------------------------- */

static cJSON *strlist_json(const train_strlist *l) {
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; a && i < l->n; i++) cJSON_AddItemToArray(a, cJSON_CreateString(l->items[i]));
    return a;
}

/* cJSON prints doubles with 15 digits unless they differ beyond a relative epsilon, which loses
 * the last bits of some values; the saved config must reload to the same numbers, so print the
 * shortest form that reads back exactly. */
static cJSON *exact_number(double v) {
    char buf[40];
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, v);
        if (strtod(buf, NULL) == v) break;
    }
    return cJSON_CreateRaw(buf);
}

static cJSON *value_json(const train_config *c, const field *f) {
    const char *base = (const char *)c;
    const void *src = base + f->off;
    switch (f->k) {
    case K_OBJECT:
        return cJSON_CreateObject();
    case K_STRING: {
        const char *s = *(char *const *)src;
        return s ? cJSON_CreateString(s) : cJSON_CreateNull();
    }
    case K_INT:
        return exact_number(*(const int *)src);
    case K_INT64: {
        long long v = *(const long long *)src;
        return (f->flags & NULLABLE) && v == TRAIN_UNSET ? cJSON_CreateNull() : exact_number((double)v);
    }
    case K_NUMBER: {
        double v = *(const double *)src;
        return (f->flags & NULLABLE) && v == TRAIN_UNSET ? cJSON_CreateNull() : exact_number(v);
    }
    case K_BOOL:
        return cJSON_CreateBool(*(const int *)src);
    case K_ENUM:
        return cJSON_CreateString(name_of(f->names, *(const int *)src));
    case K_STRLIST:
        return strlist_json(src);
    case K_PAIR: {
        cJSON *a = cJSON_CreateArray();
        for (int i = 0; a && i < 2; i++) cJSON_AddItemToArray(a, exact_number(((const double *)src)[i]));
        return a;
    }
    case K_TARGETS: {
        const char *re = *(char *const *)(base + f->off2);
        return re ? cJSON_CreateString(re) : strlist_json(src);
    }
    }
    return NULL;
}

char *train_config_to_json(const train_config *c) {
    cJSON *root = cJSON_CreateObject();
    cJSON *nodes[NFIELDS] = {0};
    int ok = root != NULL;
    for (size_t i = 0; ok && i < NFIELDS; i++) {
        const field *f = &fields[i];
        cJSON *parent = root;
        const char *dot = strrchr(f->key, '.');
        if (dot) { /* the parent object is an earlier row of the table */
            parent = NULL;
            for (size_t j = 0; j < i && !parent; j++)
                if (fields[j].k == K_OBJECT && strlen(fields[j].key) == (size_t)(dot - f->key) &&
                    strncmp(fields[j].key, f->key, (size_t)(dot - f->key)) == 0)
                    parent = nodes[j];
        }
        nodes[i] = value_json(c, f);
        ok = parent && nodes[i] && cJSON_AddItemToObject(parent, last_part(f->key), nodes[i]);
        if (!ok) cJSON_Delete(nodes[i]);
    }
    char *s = ok ? cJSON_Print(root) : NULL;
    cJSON_Delete(root);
    return s;
}

static int str_eq(const char *a, const char *b) { return a == b || (a && b && strcmp(a, b) == 0); }

static int strlist_eq(const train_strlist *a, const train_strlist *b) {
    if (a->n != b->n) return 0;
    for (int i = 0; i < a->n; i++)
        if (strcmp(a->items[i], b->items[i]) != 0) return 0;
    return 1;
}

int train_config_equal(const train_config *a, const train_config *b) {
    const char *pa = (const char *)a, *pb = (const char *)b;
    for (size_t i = 0; i < NFIELDS; i++) {
        const field *f = &fields[i];
        const void *x = pa + f->off, *y = pb + f->off;
        int eq = 1;
        switch (f->k) {
        case K_OBJECT:
            break;
        case K_STRING:
            eq = str_eq(*(char *const *)x, *(char *const *)y);
            break;
        case K_INT:
        case K_BOOL:
        case K_ENUM:
            eq = *(const int *)x == *(const int *)y;
            break;
        case K_INT64:
            eq = *(const long long *)x == *(const long long *)y;
            break;
        case K_NUMBER:
            eq = *(const double *)x == *(const double *)y;
            break;
        case K_PAIR:
            eq = ((const double *)x)[0] == ((const double *)y)[0] && ((const double *)x)[1] == ((const double *)y)[1];
            break;
        case K_STRLIST:
            eq = strlist_eq(x, y);
            break;
        case K_TARGETS:
            eq = strlist_eq(x, y) && str_eq(*(char *const *)(pa + f->off2), *(char *const *)(pb + f->off2));
            break;
        }
        if (!eq) return 0;
    }
    return 1;
}

/* ---- derived values --------------------------------------------------------------------------- */

long long train_config_total_steps(const train_config *c, long long steps_per_epoch) {
    if (c->max_steps != TRAIN_UNSET) return c->max_steps;
    if (c->epochs == TRAIN_UNSET || steps_per_epoch <= 0) return 0;
    return (long long)ceil(c->epochs * (double)steps_per_epoch);
}

long long train_config_warmup_steps(const train_config *c, long long total_steps) {
    if (c->schedule.warmup_steps != TRAIN_UNSET) return c->schedule.warmup_steps;
    if (c->schedule.warmup_ratio != TRAIN_UNSET) return (long long)ceil(c->schedule.warmup_ratio * (double)total_steps);
    return 0;
}
