/* test_modules_to_save_cli.c — lora.modules_to_save as a user runs it: `vlkit train` names the
 * modules it trains in full and counts their parameters, the checkpoint is a PEFT adapter (as
 * `vlkit inspect` shows it) whose module tensors `vlkit caption --adapter` and `vlkit export`
 * use (the merged folder holds them under the original names and captions as the adapter does),
 * and an entry that matches nothing is one clear error. Tiny model and fixture images. */
#include "model/weights/weights.h"
#include "tests/common/cli_run.h"
#include "tests/common/fixtures.h"
#include "util/error.h"
#include "util/fileio.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *write_config(const char *dir, const char *modules) {
    char *data = vk_path_join(dir, "train.jsonl");
    FILE *f = fopen(data, "w");
    const char *imgs[] = {"img0_landscape_rgb.png", "img2_gray.png", "img3_rgba.png", "img5_small_q95_444.jpg"};
    const char *caps[] = {"a cat sitting on the couch", "two dogs on the beach", "a red car", "a man riding a wave"};
    char *root = realpath(fixture_path("blip-tiny/preprocess/images"), NULL);
    for (int i = 0; i < 4; i++) fprintf(f, "{\"image\": \"%s/%s\", \"caption\": \"%s\"}\n", root, imgs[i], caps[i]);
    fclose(f);
    free(root);
    char *model = realpath(fixture_path("blip-tiny/captioning/model"), NULL);
    char *cfg = vk_path_join(dir, "train.json"), json[4096];
    snprintf(json, sizeof json,
             "{\"model\": \"%s\", \"train\": {\"path\": \"%s\"}, \"output_dir\": \"%s/out\", \"max_steps\": 4, \"batch_size\": 2,"
             " \"optim\": {\"lr\": 0.01}, \"lora\": {\"r\": 4, \"alpha\": 8, \"dropout\": 0, \"modules_to_save\": %s},"
             " \"eval\": {\"every_steps\": 0}, \"save\": {\"every_steps\": 4}, \"data\": {\"workers\": 1}}",
             model, data, dir, modules);
    cr_assert_eq(vk_write_file_atomic(cfg, json, strlen(json)), 0);
    free(model), free(data);
    return cfg;
}

Test(cli_modules_to_save, train_caption_export) {
    char *dir = test_tmpdir(), *cfg = write_config(dir, "[\"predictions.transform\"]"), cmd[8192], *out;
    snprintf(cmd, sizeof cmd, "%s train %s 2>&1", vlkit(), cfg);
    cr_assert_eq(run(cmd, &out), 0, "%s", out);
    /* blip-tiny: hidden 32, so the transform is dense 32x32 + 32, LayerNorm 32 + 32 */
    cr_assert(strstr(out, "modules_to_save: text_decoder.cls.predictions.transform (1120 parameters"), "%s", out);
    free(out);
    char ck[1024], img[1024];
    snprintf(ck, sizeof ck, "%s/out/checkpoint-4", dir);
    snprintf(img, sizeof img, "%s/img0_landscape_rgb.png", fixture_path("blip-tiny/preprocess/images"));

    snprintf(cmd, sizeof cmd, "%s inspect %s", vlkit(), ck);
    cr_assert_eq(run(cmd, &out), 0, "%s", cmd);
    cr_assert(strstr(out, "modules_to_save [\"predictions.transform\"]"), "%s", out);
    cr_assert(strstr(out, "base_model.model.text_decoder.cls.predictions.transform.LayerNorm.weight"), "%s", out);
    free(out);
    snprintf(cmd, sizeof cmd, "%s caption --json --model %s --adapter %s %s", vlkit(), fixture_path("blip-tiny/captioning/model"), ck, img);
    char *with_adapter;
    cr_assert_eq(run(cmd, &with_adapter), 0, "%s", cmd);
    snprintf(cmd, sizeof cmd, "%s export --model %s --adapter %s --out %s/merged", vlkit(), fixture_path("blip-tiny/captioning/model"), ck,
             dir);
    cr_assert_eq(run(cmd, &out), 0, "%s", cmd);
    free(out);
    /* the merged folder holds the trained tensor under its original name */
    char path[2048];
    snprintf(path, sizeof path, "%s/adapter_model.safetensors", ck);
    vk_weights *ad = vk_weights_open(path);
    snprintf(path, sizeof path, "%s/merged/model.safetensors", dir);
    vk_weights *merged = vk_weights_open(path), *base = vk_weights_open(fixture_path("blip-tiny/captioning/model/model.safetensors"));
    cr_assert(ad && merged && base, "%s", vk_err_msg());
    const char *name = "text_decoder.cls.predictions.transform.dense.weight";
    const vk_tensor_view *a = vk_weights_find(ad, "base_model.model.text_decoder.cls.predictions.transform.dense.weight"),
                         *m = vk_weights_find(merged, name), *b = vk_weights_find(base, name);
    cr_assert(a && m && b);
    cr_assert(a->nbytes == m->nbytes && memcmp(a->data, m->data, a->nbytes) == 0, "export did not write the trained %s", name);
    cr_assert_neq(memcmp(a->data, b->data, a->nbytes), 0, "%s did not train", name);
    vk_weights_close(ad), vk_weights_close(merged), vk_weights_close(base);
    /* ... and captions as base + adapter does */
    snprintf(cmd, sizeof cmd, "%s caption --json --model %s/merged %s", vlkit(), dir, img);
    cr_assert_eq(run(cmd, &out), 0, "%s", cmd);
    const char *ids_a = strstr(with_adapter, "\"ids\""), *ids_m = strstr(out, "\"ids\"");
    cr_assert(ids_a && ids_m);
    cr_assert_eq(strncmp(ids_a, ids_m, strcspn(ids_a, "]")), 0, "adapter: %s\nmerged: %s", with_adapter, out);
    free(out), free(with_adapter), free(cfg), free(dir);
}

Test(cli_modules_to_save, an_entry_matching_nothing_is_an_error) {
    char *dir = test_tmpdir(), *cfg = write_config(dir, "[\"predictions.transform\", \"nope\"]"), cmd[8192], *out;
    snprintf(cmd, sizeof cmd, "%s train %s --quiet 2>&1", vlkit(), cfg);
    cr_assert_neq(run(cmd, &out), 0);
    cr_assert(strstr(out, "vlkit: error:") && strstr(out, "\"nope\"") && strstr(out, "matches no module"), "%s", out);
    free(out), free(cfg), free(dir);
}
