/* test_eval_retrieval.c — Recall@K of `vlkit eval --task retrieval` against ranks computed here
 * from the model's own features (cosine) and ITM probabilities, on the fixture images with
 * several captions per image (the image->text "any caption" rule included). */
#include "tests/common/fixtures.h"
#include "train/eval_retrieval.h"
#include "util/error.h"
#include "util/fileio.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *imgs[4] = {"img0_landscape_rgb.png", "img2_gray.png", "img3_rgba.png", "img5_small_q95_444.jpg"};
static const char *caps[4][2] = {{"a cat sitting on the couch", "a cat on a sofa"}, {"two dogs playing", "dogs on the beach"},
                                 {"a red car on the street", "a car"}, {"a man riding a wave", "surfing"}};

static int rank_desc(const float *s, int n, int target) {
    int r = 0;
    for (int i = 0; i < n; i++) r += s[i] > s[target] || (s[i] == s[target] && i < target);
    return r;
}

static void expected(const blip_retriever *r, int use_itm, retrieval_scores *want) {
    size_t per = image_preproc_numel(&r->preproc);
    float *px = malloc(sizeof(float) * per * 4), ifeat[4 * 256], tfeat[8 * 256], sim[8][4];
    cr_assert_leq(r->dim, 256);
    for (int i = 0; i < 4; i++) {
        char *p = vk_path_join(fixture_path("blip-tiny/preprocess/images"), imgs[i]);
        cr_assert_eq(image_preprocess_file(&r->preproc, p, px + per * (size_t)i), 0);
        free(p);
    }
    cr_assert_eq(blip_retriever_image_features(r, px, 4, ifeat), 0);
    const char *texts[8];
    for (int t = 0; t < 8; t++) texts[t] = caps[t / 2][t % 2];
    cr_assert_eq(blip_retriever_text_features(r, texts, 8, tfeat), 0);
    for (int t = 0; t < 8; t++)
        for (int i = 0; i < 4; i++) {
            if (use_itm) {
                float prob;
                cr_assert_eq(blip_retriever_match_images(r, texts[t], px + per * (size_t)i, 1, &prob), 0);
                sim[t][i] = prob;
            } else {
                double s = 0;
                for (int d = 0; d < r->dim; d++) s += (double)tfeat[t * r->dim + d] * ifeat[i * r->dim + d];
                sim[t][i] = (float)s;
            }
        }
    memset(want, 0, sizeof *want);
    const int ks[3] = {1, 5, 10};
    for (int t = 0; t < 8; t++) {
        int rk = rank_desc(sim[t], 4, t / 2);
        for (int j = 0; j < 3; j++) want->t2i[j] += rk < ks[j] ? 100.0 / 8 : 0;
    }
    for (int i = 0; i < 4; i++) {
        float col[8];
        for (int t = 0; t < 8; t++) col[t] = sim[t][i];
        int best = 8;
        for (int c = 0; c < 2; c++) {
            int rk = rank_desc(col, 8, 2 * i + c);
            if (rk < best) best = rk;
        }
        for (int j = 0; j < 3; j++) want->i2t[j] += best < ks[j] ? 100.0 / 4 : 0;
    }
    free(px);
}

Test(eval_retrieval, recall_equals_ranks_from_the_model_features) {
    char *dir = test_tmpdir(), *root = realpath(fixture_path("blip-tiny/preprocess/images"), NULL), text[4096] = "";
    for (int i = 0; i < 4; i++)
        snprintf(text + strlen(text), sizeof text - strlen(text), "{\"image\": \"%s/%s\", \"captions\": [\"%s\", \"%s\"]}\n", root,
                 imgs[i], caps[i][0], caps[i][1]);
    char *data = vk_path_join(dir, "ret.jsonl");
    cr_assert_eq(vk_write_file_atomic(data, text, strlen(text)), 0);
    caption_dataset_opts o = caption_dataset_default_opts();
    caption_dataset *ds = caption_dataset_load(data, &o);
    cr_assert_not_null(ds, "%s", vk_err_msg());
    blip_retriever *r = blip_retriever_load(fixture_path("blip-tiny/itm/model"));
    cr_assert_not_null(r, "%s", vk_err_msg());
    for (int itm = 0; itm < 2; itm++) {
        retrieval_scores got, want;
        /* re-ranking all candidates orders purely by the ITM probability */
        cr_assert_eq(eval_retrieval(r, ds, 0, itm ? 8 : 0, 3, NULL, &got), 0, "%s", vk_err_msg());
        expected(r, itm, &want);
        cr_assert_eq(got.images, 4);
        cr_assert_eq(got.texts, 8);
        for (int j = 0; j < 3; j++) {
            cr_assert_float_eq(got.t2i[j], want.t2i[j], 1e-9, "itm=%d t2i R@%d", itm, j);
            cr_assert_float_eq(got.i2t[j], want.i2t[j], 1e-9, "itm=%d i2t R@%d", itm, j);
        }
    }
    blip_retriever_free(r);
    caption_dataset_free(ds);
    free(data), free(root), free(dir);
}
