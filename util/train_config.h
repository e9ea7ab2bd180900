/* train_config.h — the configuration of a `vlkit train` run: defaults, JSON file, --set overrides.
 *
 *   train_config cfg;
 *   const char *sets[] = {"lora.r=16", "optim.lr=2e-4"};
 *   if (train_config_load("configs/caption-lora-base.json", sets, 2, &cfg) != 0)
 *       vk_print_error("%s", vk_err_msg());      // "configs/...json: lora.rank: unknown key (did you mean 'lora.r'?)"
 *   char *json = train_config_to_json(&cfg);      // the effective config (--print-config, checkpoints)
 *   ...
 *   free(json);
 *   train_config_free(&cfg);
 *
 * Keys are nested JSON objects; on the command line they are dotted paths (`lora.r`). Every key,
 * its type, default and range is in docs/train-config.md. Order of application: defaults, then
 * the file, then each --set in order. Loading validates everything and publishes nothing on
 * failure; the one error message names the source (the file, or the --set argument) and the full
 * dotted key. Relative paths are kept as given (they are relative to the working directory, as
 * with HF Trainer and axolotl).
 *
 * Run length and warm-up can each be given two ways. As in HF Trainer, max_steps overrides epochs
 * and warmup_steps overrides warmup_ratio when a file gives both; a --set of either one clears
 * the other, so `--set epochs=3` on a config with max_steps does what it says. Use
 * train_config_total_steps() / train_config_warmup_steps() rather than reading the fields.
 *
 * This is pure C (cJSON only): it builds and is tested under ASan with the core library. */
#ifndef VLKIT_UTIL_TRAIN_CONFIG_H
#define VLKIT_UTIL_TRAIN_CONFIG_H

#include <stddef.h>

/* The value of an optional number that was not given (emitted as null in JSON). */
#define TRAIN_UNSET (-1)

typedef enum { TRAIN_FORMAT_AUTO, TRAIN_FORMAT_JSONL, TRAIN_FORMAT_COCO, TRAIN_FORMAT_KARPATHY, TRAIN_FORMAT_IMAGEFOLDER } train_data_format;
typedef enum { TRAIN_SCHEDULE_CONSTANT, TRAIN_SCHEDULE_LINEAR, TRAIN_SCHEDULE_COSINE } train_schedule_type;
typedef enum { TRAIN_PRECISION_FP32, TRAIN_PRECISION_BF16 } train_precision;
typedef enum { TRAIN_BOS_DEC, TRAIN_BOS_CLS } train_bos;
typedef enum { TRAIN_METRIC_CIDER, TRAIN_METRIC_BLEU_4, TRAIN_METRIC_ROUGE_L, TRAIN_METRIC_VAL_LOSS } train_metric;
typedef enum { TRAIN_ON_ERROR_SKIP, TRAIN_ON_ERROR_FAIL } train_on_error;
typedef enum { TRAIN_TASK_CAPTION, TRAIN_TASK_VQA } train_task;
typedef enum { TRAIN_VQA_WEIGHT_BLIP, TRAIN_VQA_WEIGHT_SINGLE } train_vqa_weighting;
typedef enum { TRAIN_DIST_GLOO, TRAIN_DIST_NCCL } train_dist_backend;

/* A list of owned strings. */
typedef struct {
    char **items;
    int n;
} train_strlist;

/* One dataset. */
typedef struct {
    char *path;               /* "data/coco_karpathy_train.json"; NULL: none (val only: no evaluation) */
    train_data_format format; /* auto: from the file's name and first bytes */
    char *image_root;         /* "data/coco/images"; NULL: image paths are relative to the dataset file */
    char *split;              /* "train": keep only records of this split (Karpathy/COCO split field); NULL: all */
    char *annotations;        /* task vqa: the VQA v2 annotations file (path is then the questions file) */
} train_data_spec;

typedef struct {
    train_task task;        /* caption (BlipForConditionalGeneration) or vqa (BlipForQuestionAnswering) */
    char *model;            /* "models/blip-base": an HF model folder (required) */
    train_data_spec train;  /* path required */
    train_data_spec val;    /* optional */
    char *output_dir;       /* "runs/caption-lora": checkpoints, metrics.jsonl */
    long long seed;         /* 42; in [0, 2^53) */
    double epochs;          /* 3 (may be fractional) or TRAIN_UNSET; one of epochs / max_steps is required */
    long long max_steps;    /* 1000 optimizer steps, or TRAIN_UNSET; overrides epochs */
    int batch_size;         /* 8 examples per micro-batch */
    int grad_accum;         /* 1 micro-batches per optimizer step */
    struct {
        double lr;           /* 1e-4 (BLIP fine-tunes in full at 1e-5; LoRA wants ~10x more) */
        double weight_decay; /* 0.05 (BLIP), decoupled (AdamW) */
        double betas[2];     /* 0.9, 0.999 */
        double eps;          /* 1e-8 */
    } optim;
    struct {
        train_schedule_type type; /* cosine (BLIP) */
        long long warmup_steps;   /* TRAIN_UNSET or >= 0; overrides warmup_ratio */
        double warmup_ratio;      /* TRAIN_UNSET or in [0, 1]: fraction of the total steps */
        double min_lr;            /* 0: where linear/cosine end; <= optim.lr */
    } schedule;
    double max_grad_norm;     /* 1.0; 0 = no clipping */
    train_precision precision; /* fp32 */
    int threads;              /* 0 = all cores */
    struct {
        int r;                        /* 8 */
        double alpha;                 /* 16: scaling alpha/r (alpha/sqrt(r) with use_rslora) */
        double dropout;               /* 0.05, in [0, 1) */
        train_strlist target_modules; /* ["query", "value"]: module-name suffixes (PEFT's list form) */
        char *target_regex;           /* PEFT's string form: a regex full-matched against module names;
                                         when set, target_modules is empty */
        int use_rslora;               /* 0 */
        train_strlist modules_to_save;/* []: modules trained in full (PEFT's modules_to_save) */
        char *init_adapter;           /* NULL, or a PEFT adapter folder to start from */
    } lora;
    struct {
        char *prompt;           /* "a picture of " (BLIP's captioning prompt; its tokens are not trained on) */
        int max_length;         /* 40 tokens, prompt included (BLIP truncates captions at 40) */
        train_bos bos;          /* dec: BLIP's [DEC] first token; cls: transformers' training behaviour */
        double label_smoothing; /* 0.1 (BLIP); in [0, 1) */
    } text;
    struct {
        int every_steps;     /* 500; 0 = only at the end */
        int max_samples;     /* 500 images captioned per evaluation; 0 = all */
        int beams;           /* 3 */
        int max_length;      /* 20 generated tokens */
        int min_length;      /* 5 */
        train_metric metric; /* CIDEr: which result keeps the best checkpoint */
    } eval;
    struct {
        int every_steps; /* 500; 0 = only at the end */
        int keep_last;   /* 2 newest checkpoints kept (the best is kept besides); 0 = keep all */
    } save;
    struct {
        int every_steps; /* 10 */
    } logging;
    struct {
        train_vqa_weighting answer_weighting; /* blip: every distinct answer, weighted by its share of the
                                                 human answers (BLIP's recipe); single: the most common one */
        int answer_max_length;                /* 12 tokens per answer, specials included */
    } vqa;
    struct {
        train_on_error on_error; /* skip: bad records are reported, counted and skipped */
        int max_bad;             /* 1000: with skip, more bad records than this stop the run; -1 = no limit */
        int workers;             /* 2 loader threads; 0 = load in the training thread */
    } data;
    struct {
        train_dist_backend backend; /* gloo (CPU); nccl needs a CUDA libtorch */
        double timeout_s;           /* 300: rendezvous and every collective; a dead peer is seen at once */
        int check_every_steps;      /* 50: compare a weight checksum across ranks; 0 = never */
    } distributed;
} train_config;

/* The defaults (model and train.path NULL, epochs and max_steps unset: a run needs them).
 * Returns -1 only when out of memory. */
int train_config_defaults(train_config *out);

/* Defaults, then the JSON file at path, then each "key=value" of sets in order, then the checks
 * that need the whole config (required keys, min_lr <= lr, min_length <= max_length). A --set
 * value is JSON when it parses as JSON ("16", "2e-4", "[0.9,0.98]", "\"x\"", "null"), else the
 * raw text as a string (`text.prompt=a photo of`); string keys always take the raw text unless
 * it is a JSON string or null. On failure sets vk_err, returns -1 and leaves *out zeroed. */
int train_config_load(const char *path, const char *const *sets, int nsets, train_config *out);
/* The same with the JSON text given (source names it in messages, e.g. a checkpoint's file).
 * json may be NULL: defaults and sets only. */
int train_config_load_string(const char *json, const char *source, const char *const *sets, int nsets,
                             train_config *out);

/* The whole effective config as indented JSON (malloc'd; NULL when out of memory). Every key is
 * present, unset optional values as null; loading it again gives an equal config. */
char *train_config_to_json(const train_config *c);

/* 1 when every key has the same value (numbers compared exactly). */
int train_config_equal(const train_config *a, const train_config *b);

/* Optimizer steps of the run: max_steps when set, else ceil(epochs * steps_per_epoch). */
long long train_config_total_steps(const train_config *c, long long steps_per_epoch);
/* Warm-up steps: warmup_steps when set, else ceil(warmup_ratio * total_steps), else 0. */
long long train_config_warmup_steps(const train_config *c, long long total_steps);

/* Names as they appear in the JSON ("cosine", "bf16", "CIDEr", ...). */
const char *train_data_format_name(train_data_format f);
const char *train_schedule_type_name(train_schedule_type t);
const char *train_precision_name(train_precision p);
const char *train_bos_name(train_bos b);
const char *train_metric_name(train_metric m);
const char *train_on_error_name(train_on_error e);
const char *train_task_name(train_task t);
const char *train_dist_backend_name(train_dist_backend b);
/* 1 for scores (CIDEr, Bleu_4, ROUGE_L), 0 for val_loss: which way "best" points. */
int train_metric_higher_is_better(train_metric m);

/* Frees every owned string and zeroes *c (safe on a zeroed or failed-load struct). */
void train_config_free(train_config *c);

#endif
