/* test_export.c — `vlkit export`'s merge equals PEFT's merge_and_unload() folder
 * (blip-tiny/captioning/lora/merged): the same key names, the 8 adapted weights within 1e-6,
 * every other tensor bit-identical; bf16 exports load; refusals leave nothing behind. */
#include "model/blip_caption.h"
#include "model/blip_export.h"
#include "tests/torch/expect.h"
#include "util/fileio.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

Test(export, merged_folder_equals_peft_merge_and_unload) {
    char *dir = test_tmpdir();
    char *out = vk_path_join(dir, "merged");
    blip_export_options o = {fixture_path("blip-tiny/captioning/model"), fixture_path("blip-tiny/captioning/lora/adapter"), out,
                             TT_F32, 0, 0};
    cr_assert_eq(blip_export(&o), 0, "%s", vk_err_msg());
    cr_assert_lt(o.max_abs_diff, 1e-4);
    char *mine_path = vk_path_join(out, "model.safetensors");
    vk_weights *mine = vk_weights_open(mine_path);
    vk_weights *theirs = expect_open("blip-tiny/captioning/lora/merged/model.safetensors");
    cr_assert_not_null(mine, "%s", vk_err_msg());
    cr_assert_eq(vk_weights_count(mine), vk_weights_count(theirs));
    cJSON *ej = fixture_json("blip-tiny/captioning/lora/expected.json");
    const cJSON *changed = cJSON_GetObjectItemCaseSensitive(ej, "merged_model_changed_keys");
    for (size_t i = 0; i < vk_weights_count(theirs); i++) {
        const vk_tensor_view *t = vk_weights_tensor(theirs, i), *m = vk_weights_find(mine, t->name);
        cr_assert_not_null(m, "export lacks %s", t->name);
        cr_assert_eq(m->nbytes, t->nbytes, "%s size", t->name);
        int is_changed = 0;
        const cJSON *k;
        cJSON_ArrayForEach(k, changed) is_changed |= strcmp(k->valuestring, t->name) == 0;
        if (!is_changed) {
            cr_assert_eq(memcmp(m->data, t->data, t->nbytes), 0, "%s changed but the adapter does not touch it", t->name);
            continue;
        }
        const float *a = m->data, *b = t->data;
        for (size_t j = 0; j < t->nbytes / 4; j++) cr_assert(fabsf(a[j] - b[j]) <= 1e-6f, "%s[%zu]: %g vs %g", t->name, j, a[j], b[j]);
    }
    /* the sibling files came along */
    const char *files[] = {"config.json", "vocab.txt", "preprocessor_config.json", "tokenizer_config.json"};
    for (int i = 0; i < 4; i++) {
        char *p = vk_path_join(out, files[i]);
        cr_assert(vk_file_exists(p), "%s missing", files[i]);
        free(p);
    }
    /* exporting again without --force is refused and leaves the folder as it was */
    cr_assert_eq(blip_export(&o), -1);
    cr_assert(strstr(vk_err_msg(), "already exists"), "%s", vk_err_msg());
    cr_assert(vk_file_exists(mine_path));
    cJSON_Delete(ej);
    vk_weights_close(mine);
    vk_weights_close(theirs);
    /* bf16 weights load as a model */
    char *out16 = vk_path_join(dir, "merged-bf16");
    blip_export_options o16 = {fixture_path("blip-tiny/captioning/model"), fixture_path("blip-tiny/captioning/lora/adapter"),
                               out16, TT_BF16, 0, 0};
    cr_assert_eq(blip_export(&o16), 0, "%s", vk_err_msg());
    blip_caption *m16 = blip_caption_load(out16);
    cr_assert_not_null(m16, "%s", vk_err_msg());
    blip_caption_free(m16);
    /* a bad adapter: error, and no output folder */
    char *bad = vk_path_join(dir, "bad");
    blip_export_options ob = {fixture_path("blip-tiny/captioning/model"), fixture_path("blip-tiny/captioning/model"), bad, TT_F32,
                              0, 0};
    cr_assert_eq(blip_export(&ob), -1);
    cr_assert(strstr(vk_err_msg(), "adapter_config.json"), "%s", vk_err_msg());
    cr_assert(!vk_is_dir(bad));
    free(bad), free(out16), free(mine_path), free(out), free(dir);
}
