/* test_train_config.c — the train config: defaults, a full file, every --set form, the JSON round
 * trip, and that every kind of error names the key (full dotted path) and its source. */
#include "tests/common/fixtures.h"
#include "util/error.h"
#include "util/fileio.h"
#include "util/suggest.h"
#include "util/train_config.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The smallest config that loads: the three things a run cannot guess. */
#define MINIMAL "{\"model\": \"m\", \"train\": {\"path\": \"t.jsonl\"}, \"epochs\": 1}"

static char *write_tmp(const char *name, const char *text) {
    char *dir = test_tmpdir();
    char *p = vk_path_join(dir, name);
    free(dir);
    cr_assert_eq(vk_write_file_atomic(p, text, strlen(text)), 0, "%s", vk_err_msg());
    return p;
}

/* Load MINIMAL plus sets; assert success. */
static void load_ok(train_config *c, const char *const *sets, int n) {
    int rc = train_config_load_string(MINIMAL, "t.json", sets, n, c);
    cr_assert_eq(rc, 0, "%s", vk_err_msg());
}

/* Load json with sets; assert failure and that the message contains every needle. */
static void load_fails(const char *json, const char *set, const char *n1, const char *n2) {
    train_config c;
    const char *sets[1] = {set};
    int rc = train_config_load_string(json, "t.json", sets, set ? 1 : 0, &c);
    cr_assert_eq(rc, -1, "loaded but should fail (%s / %s)", json, set ? set : "");
    const char *m = vk_err_msg();
    cr_assert(strstr(m, n1), "'%s' lacks '%s'", m, n1);
    if (n2) cr_assert(strstr(m, n2), "'%s' lacks '%s'", m, n2);
    /* a failed load leaves a zeroed struct that is safe to free */
    cr_assert_null(c.model);
    train_config_free(&c);
}

Test(train_config, defaults_are_blips_recipe) {
    train_config c;
    cr_assert_eq(train_config_defaults(&c), 0);
    cr_assert_null(c.model);
    cr_assert_eq(c.epochs, TRAIN_UNSET);
    cr_assert_eq(c.max_steps, TRAIN_UNSET);
    cr_assert_float_eq(c.optim.lr, 1e-4, 0);
    cr_assert_float_eq(c.optim.weight_decay, 0.05, 0);
    cr_assert(c.optim.betas[0] == 0.9 && c.optim.betas[1] == 0.999 && c.optim.eps == 1e-8);
    cr_assert_eq(c.schedule.type, TRAIN_SCHEDULE_COSINE);
    cr_assert_str_eq(c.text.prompt, "a picture of ");
    cr_assert_eq(c.text.bos, TRAIN_BOS_DEC);
    cr_assert_eq(c.text.label_smoothing, 0.1);
    cr_assert_eq(c.eval.beams, 3);
    cr_assert_eq(c.eval.min_length, 5);
    cr_assert_eq(c.eval.max_length, 20);
    cr_assert_eq(c.eval.metric, TRAIN_METRIC_CIDER);
    cr_assert_eq(c.lora.r, 8);
    cr_assert_eq(c.lora.alpha, 16);
    cr_assert_eq(c.lora.dropout, 0.05);
    cr_assert_eq(c.lora.target_modules.n, 2);
    cr_assert_str_eq(c.lora.target_modules.items[0], "query");
    cr_assert_str_eq(c.lora.target_modules.items[1], "value");
    cr_assert_null(c.lora.target_regex);
    cr_assert_eq(c.lora.modules_to_save.n, 0);
    cr_assert_eq(c.data.on_error, TRAIN_ON_ERROR_SKIP);
    cr_assert_eq(c.precision, TRAIN_PRECISION_FP32);
    cr_assert_str_eq(c.output_dir, "output");
    train_config_free(&c);
    cr_assert_null(c.text.prompt);
    train_config_free(&c); /* twice is harmless */
}

Test(train_config, full_file) {
    const char *json =
        "{\n"
        "  \"model\": \"models/blip-base\",\n"
        "  \"train\": {\"path\": \"data/train.jsonl.gz\", \"format\": \"jsonl\", \"image_root\": \"img\", \"split\": \"train\"},\n"
        "  \"val\": {\"path\": \"data/karpathy.json\", \"format\": \"KARPATHY\", \"split\": \"val\"},\n"
        "  \"output_dir\": \"runs/x\", \"seed\": 7, \"max_steps\": 1000, \"batch_size\": 16, \"grad_accum\": 4,\n"
        "  \"optim\": {\"lr\": 2e-4, \"weight_decay\": 0.01, \"betas\": [0.9, 0.98], \"eps\": 1e-6},\n"
        "  \"schedule\": {\"type\": \"linear\", \"warmup_ratio\": 0.1, \"min_lr\": 1e-6},\n"
        "  \"max_grad_norm\": 0, \"precision\": \"bf16\", \"threads\": 4,\n"
        "  \"lora\": {\"r\": 16, \"alpha\": 32, \"dropout\": 0, \"target_modules\": \".*\\\\.(query|value)$\",\n"
        "           \"use_rslora\": true, \"modules_to_save\": [\"cls\"], \"init_adapter\": \"ad\"},\n"
        "  \"text\": {\"prompt\": \"\", \"max_length\": 32, \"bos\": \"cls\", \"label_smoothing\": 0},\n"
        "  \"eval\": {\"every_steps\": 100, \"max_samples\": 0, \"beams\": 1, \"max_length\": 30, \"min_length\": 0,\n"
        "           \"metric\": \"val_loss\"},\n"
        "  \"save\": {\"every_steps\": 200, \"keep_last\": 0}, \"logging\": {\"every_steps\": 1},\n"
        "  \"data\": {\"on_error\": \"fail\", \"max_bad\": -1, \"workers\": 0}\n"
        "}\n";
    char *p = write_tmp("full.json", json);
    train_config c;
    cr_assert_eq(train_config_load(p, NULL, 0, &c), 0, "%s", vk_err_msg());
    cr_assert_str_eq(c.model, "models/blip-base");
    cr_assert_str_eq(c.train.path, "data/train.jsonl.gz");
    cr_assert_eq(c.train.format, TRAIN_FORMAT_JSONL);
    cr_assert_str_eq(c.train.image_root, "img");
    cr_assert_str_eq(c.train.split, "train");
    cr_assert_eq(c.val.format, TRAIN_FORMAT_KARPATHY); /* enum names are case-insensitive */
    cr_assert_null(c.val.image_root);
    cr_assert_str_eq(c.output_dir, "runs/x");
    cr_assert_eq(c.seed, 7);
    cr_assert_eq(c.max_steps, 1000);
    cr_assert_eq(c.epochs, TRAIN_UNSET);
    cr_assert_eq(c.batch_size, 16);
    cr_assert_eq(c.grad_accum, 4);
    cr_assert(c.optim.lr == 2e-4 && c.optim.weight_decay == 0.01 && c.optim.betas[1] == 0.98 && c.optim.eps == 1e-6);
    cr_assert_eq(c.schedule.type, TRAIN_SCHEDULE_LINEAR);
    cr_assert_eq(c.schedule.warmup_ratio, 0.1);
    cr_assert_eq(c.schedule.warmup_steps, TRAIN_UNSET);
    cr_assert_eq(c.schedule.min_lr, 1e-6);
    cr_assert_eq(c.max_grad_norm, 0);
    cr_assert_eq(c.precision, TRAIN_PRECISION_BF16);
    cr_assert_eq(c.threads, 4);
    cr_assert_eq(c.lora.r, 16);
    cr_assert_eq(c.lora.alpha, 32);
    cr_assert_eq(c.lora.dropout, 0);
    cr_assert_str_eq(c.lora.target_regex, ".*\\.(query|value)$");
    cr_assert_eq(c.lora.target_modules.n, 0);
    cr_assert_eq(c.lora.use_rslora, 1);
    cr_assert_eq(c.lora.modules_to_save.n, 1);
    cr_assert_str_eq(c.lora.modules_to_save.items[0], "cls");
    cr_assert_str_eq(c.lora.init_adapter, "ad");
    cr_assert_str_eq(c.text.prompt, "");
    cr_assert_eq(c.text.max_length, 32);
    cr_assert_eq(c.text.bos, TRAIN_BOS_CLS);
    cr_assert_eq(c.text.label_smoothing, 0);
    cr_assert(c.eval.every_steps == 100 && c.eval.max_samples == 0 && c.eval.beams == 1 && c.eval.max_length == 30 &&
              c.eval.min_length == 0);
    cr_assert_eq(c.eval.metric, TRAIN_METRIC_VAL_LOSS);
    cr_assert(!train_metric_higher_is_better(c.eval.metric));
    cr_assert(c.save.every_steps == 200 && c.save.keep_last == 0 && c.logging.every_steps == 1);
    cr_assert(c.data.on_error == TRAIN_ON_ERROR_FAIL && c.data.max_bad == -1 && c.data.workers == 0);
    /* 1000 steps, 10% warm-up: HF Trainer's ceil(ratio * total) */
    cr_assert_eq(train_config_total_steps(&c, 123), 1000);
    cr_assert_eq(train_config_warmup_steps(&c, 1000), 100);
    train_config_free(&c);
    free(p);
}

Test(train_config, every_set_form) {
    train_config c;
    const char *sets[] = {
        "lora.r=16",                        /* integer */
        "optim.lr=2e-4",                    /* number in exponent form */
        "optim.betas=[0.9,0.98]",           /* JSON list */
        "lora.target_modules=[\"query\",\"key\"]", /* JSON list of strings */
        "lora.use_rslora=true",             /* bool */
        "text.prompt=a photo of ",          /* not JSON: the raw text, trailing space kept */
        "model=models/other",               /* not JSON: a path */
        "val.split=2014",                   /* JSON number for a string key: the text */
        "val.path=\"v.json\"",              /* JSON string */
        "train.image_root=null",            /* null unsets */
        "schedule.type=LINEAR",             /* enum, any case */
        "lora={\"alpha\": 8, \"dropout\": 0.1}", /* an object merges into the section */
        "output_dir=a=b",                   /* only the first '=' splits */
    };
    load_ok(&c, sets, (int)(sizeof sets / sizeof sets[0]));
    cr_assert_eq(c.lora.r, 16);
    cr_assert_eq(c.optim.lr, 2e-4);
    cr_assert(c.optim.betas[0] == 0.9 && c.optim.betas[1] == 0.98);
    cr_assert_eq(c.lora.target_modules.n, 2);
    cr_assert_str_eq(c.lora.target_modules.items[1], "key");
    cr_assert_eq(c.lora.use_rslora, 1);
    cr_assert_str_eq(c.text.prompt, "a photo of ");
    cr_assert_str_eq(c.model, "models/other");
    cr_assert_str_eq(c.val.split, "2014");
    cr_assert_str_eq(c.val.path, "v.json");
    cr_assert_null(c.train.image_root);
    cr_assert_eq(c.schedule.type, TRAIN_SCHEDULE_LINEAR);
    cr_assert_eq(c.lora.alpha, 8);
    cr_assert_eq(c.lora.dropout, 0.1);
    cr_assert_eq(c.lora.r, 16); /* merging a section keeps the keys it does not name */
    cr_assert_str_eq(c.output_dir, "a=b");
    train_config_free(&c);

    /* a bare string target is PEFT's regex form, and replaces the list */
    const char *regex[] = {"lora.target_modules=.*attention\\.self\\.(query|value)"};
    load_ok(&c, regex, 1);
    cr_assert_str_eq(c.lora.target_regex, ".*attention\\.self\\.(query|value)");
    cr_assert_eq(c.lora.target_modules.n, 0);
    train_config_free(&c);
    /* ... and a list replaces the regex again; a bare string is a one-item modules_to_save */
    const char *back[] = {"lora.target_modules=query", "lora.target_modules=[\"dense\"]", "lora.modules_to_save=cls"};
    load_ok(&c, back, 3);
    cr_assert_null(c.lora.target_regex);
    cr_assert_eq(c.lora.target_modules.n, 1);
    cr_assert_str_eq(c.lora.target_modules.items[0], "dense");
    cr_assert_eq(c.lora.modules_to_save.n, 1);
    train_config_free(&c);
}

Test(train_config, run_length_and_warmup_precedence) {
    train_config c;
    /* a file with both: max_steps wins, as in HF Trainer; both are kept */
    const char *both = "{\"model\": \"m\", \"train\": {\"path\": \"t\"}, \"epochs\": 3, \"max_steps\": 50,"
                       " \"schedule\": {\"warmup_steps\": 5, \"warmup_ratio\": 0.5}}";
    cr_assert_eq(train_config_load_string(both, "b.json", NULL, 0, &c), 0, "%s", vk_err_msg());
    cr_assert_eq(c.epochs, 3);
    cr_assert_eq(train_config_total_steps(&c, 1000), 50);
    cr_assert_eq(train_config_warmup_steps(&c, 50), 5);
    train_config_free(&c);
    /* a --set of one clears the other, so the override does what it says */
    const char *sets[] = {"epochs=2.5", "schedule.warmup_ratio=0.1"};
    cr_assert_eq(train_config_load_string(both, "b.json", sets, 2, &c), 0, "%s", vk_err_msg());
    cr_assert_eq(c.max_steps, TRAIN_UNSET);
    cr_assert_eq(c.schedule.warmup_steps, TRAIN_UNSET);
    cr_assert_eq(train_config_total_steps(&c, 10), 25);
    cr_assert_eq(train_config_total_steps(&c, 3), 8); /* ceil(7.5) */
    cr_assert_eq(train_config_warmup_steps(&c, 25), 3);
    train_config_free(&c);
    const char *sets2[] = {"max_steps=7"};
    load_ok(&c, sets2, 1);
    cr_assert_eq(c.epochs, TRAIN_UNSET);
    cr_assert_eq(train_config_total_steps(&c, 1000), 7);
    cr_assert_eq(train_config_warmup_steps(&c, 7), 0);
    train_config_free(&c);
}

Test(train_config, round_trip) {
    train_config a, b, d;
    const char *sets[] = {"lora.target_modules=.*(query|value)", "optim.lr=0.0001234567890123",
                          "seed=9007199254740991", "schedule.warmup_ratio=0.07", "val.path=v.jsonl",
                          "text.prompt=tab\there \"quoted\" \\ ünïcode", "lora.modules_to_save=[\"a\",\"b\"]"};
    load_ok(&a, sets, (int)(sizeof sets / sizeof sets[0]));
    char *json = train_config_to_json(&a);
    cr_assert_not_null(json);
    /* every section is there, unset values as null */
    cr_assert(strstr(json, "\"max_steps\":\tnull") || strstr(json, "\"max_steps\": null"), "%s", json);
    cr_assert(strstr(json, "\"lora\":") && strstr(json, "\"init_adapter\":"), "%s", json);
    cr_assert_eq(train_config_load_string(json, "saved.json", NULL, 0, &b), 0, "%s\n%s", vk_err_msg(), json);
    cr_assert(train_config_equal(&a, &b), "round trip changed the config:\n%s", json);
    char *json2 = train_config_to_json(&b);
    cr_assert_str_eq(json, json2);
    /* and the defaults-heavy list form, through a file */
    load_ok(&d, NULL, 0);
    char *json3 = train_config_to_json(&d);
    char *p = write_tmp("saved.json", json3);
    train_config e;
    cr_assert_eq(train_config_load(p, NULL, 0, &e), 0, "%s", vk_err_msg());
    cr_assert(train_config_equal(&d, &e));
    cr_assert(!train_config_equal(&a, &d));
    train_config_free(&e);
    free(p);
    free(json3);
    free(json2);
    free(json);
    train_config_free(&a);
    train_config_free(&b);
    train_config_free(&d);
}

Test(train_config, type_errors_name_the_key) {
    load_fails("{\"model\": 3}", NULL, "t.json: model: expected a string", "got 3");
    load_fails("{\"optim\": {\"lr\": \"1e-4\"}}", NULL, "t.json: optim.lr: expected a number", "\"1e-4\"");
    load_fails("{\"lora\": {\"r\": 2.5}}", NULL, "lora.r: expected an integer", "2.5");
    load_fails("{\"lora\": {\"use_rslora\": 1}}", NULL, "lora.use_rslora: expected true or false", NULL);
    load_fails("{\"lora\": {\"target_modules\": 5}}", NULL, "lora.target_modules: expected a list", NULL);
    load_fails("{\"lora\": {\"target_modules\": [\"query\", 3]}}", NULL, "lora.target_modules[1]", NULL);
    load_fails("{\"lora\": {\"target_modules\": []}}", NULL, "lora.target_modules: must name at least one", NULL);
    load_fails("{\"lora\": 16}", NULL, "t.json: lora: expected an object", NULL);
    load_fails("{\"optim\": {\"betas\": [0.9]}}", NULL, "optim.betas: expected a list of two numbers", NULL);
    load_fails("{\"schedule\": {\"type\": \"cosin\"}}", NULL, "schedule.type: expected one of \"constant\"", "(did you mean \"cosine\"?)");
    load_fails("{\"precision\": \"fp16\"}", NULL, "precision: expected one of \"fp32\", \"bf16\"", NULL);
    load_fails("{\"eval\": {\"metric\": \"METEOR\"}}", NULL, "eval.metric: expected one of \"CIDEr\"", NULL);
    load_fails("{\"model\": null, \"output_dir\": null}", NULL, "output_dir: expected a string, got null", NULL);
    load_fails("{\"output_dir\": \"\"}", NULL, "output_dir: must not be empty", NULL);
    load_fails(MINIMAL, "lora.r=sixteen", "--set lora.r=sixteen: lora.r: expected an integer", "\"sixteen\"");
    load_fails(MINIMAL, "optim.betas=0.9", "--set optim.betas=0.9: optim.betas: expected a list", NULL);
}

Test(train_config, range_errors_name_the_key) {
    load_fails(MINIMAL, "optim.lr=0", "--set optim.lr=0: optim.lr: must be a number in (0, 1]", "got 0");
    load_fails(MINIMAL, "optim.lr=-1e-4", "optim.lr: must be", NULL);
    load_fails(MINIMAL, "lora.r=0", "lora.r: must be an integer in [1, 65536]", NULL);
    load_fails(MINIMAL, "lora.dropout=1", "lora.dropout: must be a number in [0, 1)", "got 1");
    load_fails(MINIMAL, "lora.dropout=-0.1", "lora.dropout", NULL);
    load_fails(MINIMAL, "lora.alpha=0", "lora.alpha: must be a number > 0", NULL);
    load_fails(MINIMAL, "batch_size=0", "batch_size: must be an integer", NULL);
    load_fails(MINIMAL, "grad_accum=0", "grad_accum", NULL);
    load_fails(MINIMAL, "schedule.warmup_ratio=1.5", "schedule.warmup_ratio: must be a number in [0, 1]", NULL);
    load_fails(MINIMAL, "schedule.warmup_steps=-1", "schedule.warmup_steps: must be an integer >= 0", NULL);
    load_fails(MINIMAL, "epochs=0", "epochs: must be a number in (0,", NULL);
    load_fails(MINIMAL, "max_steps=0", "max_steps: must be an integer >= 1", NULL);
    load_fails(MINIMAL, "optim.betas=[0.9,1]", "optim.betas[1]: must be in [0, 1)", NULL);
    load_fails(MINIMAL, "text.label_smoothing=1", "text.label_smoothing", NULL);
    load_fails(MINIMAL, "eval.beams=0", "eval.beams", NULL);
    load_fails(MINIMAL, "seed=-1", "seed: must be an integer >= 0", NULL);
    load_fails(MINIMAL, "threads=1e10", "threads: must be an integer in [0, 4096]", NULL);
    load_fails(MINIMAL, "data.max_bad=-2", "data.max_bad: must be an integer >= -1", NULL);
    load_fails(MINIMAL, "logging.every_steps=0", "logging.every_steps", NULL);
    /* checks that need two keys name the one to change */
    load_fails(MINIMAL, "schedule.min_lr=1e-3", "schedule.min_lr: must not exceed optim.lr", NULL);
    load_fails(MINIMAL, "eval.min_length=30", "eval.min_length: must not exceed eval.max_length", NULL);
}

Test(train_config, required_keys) {
    load_fails("{\"train\": {\"path\": \"t\"}, \"epochs\": 1}", NULL, "t.json: model: required", NULL);
    load_fails("{\"model\": \"m\", \"epochs\": 1}", NULL, "t.json: train.path: required", NULL);
    load_fails("{\"model\": \"m\", \"train\": {\"path\": \"t\"}}", NULL, "epochs or max_steps: one is required", NULL);
    /* unsetting the only run length from the command line */
    load_fails(MINIMAL, "epochs=null", "epochs or max_steps", NULL);
    /* no file at all: defaults and sets only */
    train_config c;
    const char *sets[] = {"model=m", "train.path=t", "max_steps=3"};
    cr_assert_eq(train_config_load_string(NULL, NULL, sets, 3, &c), 0, "%s", vk_err_msg());
    train_config_free(&c);
}

Test(train_config, unknown_keys_suggest) {
    load_fails("{\"lora\": {\"rank\": 16}}", NULL, "t.json: lora.rank: unknown key", "did you mean 'lora.r'?");
    load_fails("{\"lora\": {\"aplha\": 16}}", NULL, "lora.aplha: unknown key", "'lora.alpha'");
    load_fails("{\"optim\": {\"weight_decai\": 0}}", NULL, "optim.weight_decai", "'optim.weight_decay'");
    load_fails("{\"batchsize\": 4}", NULL, "batchsize: unknown key", "'batch_size'");
    load_fails("{\"learning_rate\": 1e-4}", NULL, "learning_rate: unknown key", "'optim.lr'");
    load_fails("{\"warmup_steps\": 10}", NULL, "warmup_steps", "'schedule.warmup_steps'");
    load_fails("{\"gradient_accumulation_steps\": 2}", NULL, "gradient_accumulation_steps", "'grad_accum'");
    load_fails("{\"lora\": {\"lora_alpha\": 2}}", NULL, "lora.lora_alpha", "'lora.alpha'");
    load_fails("{\"zzzzzzzz\": 1}", NULL, "zzzzzzzz: unknown key", "docs/train-config.md");
    load_fails(MINIMAL, "lora.rank=16", "--set lora.rank=16: lora.rank: unknown key", "'lora.r'");
    load_fails(MINIMAL, "optim.lrr=1", "optim.lrr: unknown key", "'optim.lr'");
    load_fails(MINIMAL, "lora.r", "--set lora.r: expected key=value", NULL);
    load_fails(MINIMAL, "=3", "expected key=value", NULL);
    load_fails("{\"lora\": {\"r\": 4, \"r\": 8}}", NULL, "lora.r: given twice", NULL);
}

Test(train_config, file_errors_name_the_file) {
    train_config c;
    char *dir = test_tmpdir();
    char *missing = vk_path_join(dir, "nope.json");
    cr_assert_eq(train_config_load(missing, NULL, 0, &c), -1);
    cr_assert(strstr(vk_err_msg(), "nope.json") && strstr(vk_err_msg(), "No such file"), "%s", vk_err_msg());
    free(missing);
    char *bad = write_tmp("bad.json", "{\n  \"model\": \"m\",\n  \"epochs\": 1,\n}\n");
    cr_assert_eq(train_config_load(bad, NULL, 0, &c), -1);
    cr_assert(strstr(vk_err_msg(), "bad.json:4:") && strstr(vk_err_msg(), "invalid JSON near"), "%s", vk_err_msg());
    char *cut = write_tmp("cut.json", "{\"model\": ");
    cr_assert_eq(train_config_load(cut, NULL, 0, &c), -1);
    cr_assert(strstr(vk_err_msg(), "cut.json:1:") && strstr(vk_err_msg(), "unexpected end"), "%s", vk_err_msg());
    free(cut);
    free(bad);
    char *arr = write_tmp("arr.json", "[1, 2]");
    cr_assert_eq(train_config_load(arr, NULL, 0, &c), -1);
    cr_assert(strstr(vk_err_msg(), "arr.json: expected a JSON object"), "%s", vk_err_msg());
    free(arr);
    char *typo = write_tmp("typo.json", "{\"model\": \"m\", \"train\": {\"path\": \"t\", \"fromat\": \"jsonl\"}}");
    cr_assert_eq(train_config_load(typo, NULL, 0, &c), -1);
    cr_assert(strstr(vk_err_msg(), "typo.json: train.fromat: unknown key (did you mean 'train.format'?)"), "%s",
              vk_err_msg());
    free(typo);
    cr_assert_eq(train_config_load(dir, NULL, 0, &c), -1);
    cr_assert(strstr(vk_err_msg(), "directory"), "%s", vk_err_msg());
    free(dir);
}

Test(train_config, shipped_configs_load) {
    /* the tests run from the project root */
    const char *files[] = {"configs/caption-lora-base.json", "configs/demo.json"};
    for (int i = 0; i < 2; i++) {
        train_config c;
        cr_assert_eq(train_config_load(files[i], NULL, 0, &c), 0, "%s", vk_err_msg());
        train_config_free(&c);
    }
    train_config c;
    cr_assert_eq(train_config_load("configs/caption-lora-base.json", NULL, 0, &c), 0);
    /* BLIP's recipe, as the issue states it */
    cr_assert_eq(c.optim.weight_decay, 0.05);
    cr_assert_eq(c.schedule.type, TRAIN_SCHEDULE_COSINE);
    cr_assert_str_eq(c.text.prompt, "a picture of ");
    cr_assert(c.eval.beams == 3 && c.eval.min_length == 5 && c.eval.max_length == 20);
    train_config_free(&c);
}

Test(suggest, edit_distance) {
    cr_assert_eq(vk_edit_distance("kitten", "sitting"), 3);
    cr_assert_eq(vk_edit_distance("rnak", "rank"), 1); /* a swap is one edit */
    cr_assert_eq(vk_edit_distance("", "abc"), 3);
    cr_assert_eq(vk_edit_distance("LoRA", "lora"), 0);
    const char *c[] = {"seed", "batch_size", "lora.r"};
    cr_assert_str_eq(vk_suggest("batch_sise", c, 3), "batch_size");
    cr_assert_null(vk_suggest("xyz", c, 3));
}
