/* preprocess.h — BLIP's image processor (transformers BlipImageProcessor) in C.
 *
 *   image_preproc_config cfg;
 *   if (image_preproc_load("model_dir", &cfg) != 0) ...        // preprocessor_config.json
 *   float *px = malloc(image_preproc_numel(&cfg) * n * sizeof(float));   // NCHW batch
 *   for (i...) if (image_preprocess_file(&cfg, paths[i], px + i * image_preproc_numel(&cfg)) != 0)
 *       report(vk_err_msg());                                   // "<file>: <why>"
 *
 * Pipeline (the fixture README pins each step):
 *   1. decode to RGB (data/image.h: grey replicated, alpha dropped);
 *   2. if do_resize and the image is not already height x width: PIL BICUBIC resize to
 *      width x height (aspect ratio not kept, no crop) — data/pil_resize.h, bit-exact;
 *   3. if do_rescale: x = float32(float64(u8) * rescale_factor), else x = float32(u8);
 *      if do_normalize: x = (x - float32(mean[c])) / float32(std[c]) in float32;
 *   4. HWC -> CHW into the caller's buffer.
 * Given the same uint8 image this matches transformers to the last bit. */
#ifndef VLKIT_DATA_PREPROCESS_H
#define VLKIT_DATA_PREPROCESS_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    int height, width;           /* output size; 384 x 384 for the BLIP base/large checkpoints */
    int do_resize;               /* 1: resize with PIL bicubic (resample must be 3) */
    int do_rescale;
    int do_normalize;
    int do_convert_rgb;          /* informational: decoding always yields RGB */
    double rescale_factor;       /* 1/255; kept in double, the product is rounded to float32 */
    float mean[3], std[3];       /* per channel, RGB order */
} image_preproc_config;

/* BlipImageProcessor's defaults: 384x384, bicubic, 1/255, OpenAI CLIP mean/std. */
image_preproc_config image_preproc_default(void);

/* Read preprocessor_config.json; `path` is the file or a model folder containing it. Keys
 * missing from the file keep BlipImageProcessor's defaults (as from_pretrained does). Accepts
 * "size" as {"height", "width"} or a number, or the older "image_size"; "resample" must be 3
 * (BICUBIC) when present. Errors name the file and the key. */
int image_preproc_load(const char *path, image_preproc_config *cfg);

/* The same from JSON text in memory; `name` prefixes error messages. */
int image_preproc_parse(const char *json, size_t len, const char *name, image_preproc_config *cfg);

/* Floats one image occupies in the output: 3 * height * width. */
size_t image_preproc_numel(const image_preproc_config *cfg);

/* Steps 2-4 on an RGB image (HWC, w x h). With do_resize == 0 the image must already be
 * height x width. `out` receives image_preproc_numel(cfg) floats (CHW). */
int image_preprocess_rgb(const image_preproc_config *cfg, const uint8_t *rgb, int w, int h,
                         float *out);

/* Steps 3-4 only: rescale/normalise an image that already has the output size. Never fails. */
void image_preprocess_normalize(const image_preproc_config *cfg, const uint8_t *rgb, float *out);

/* Steps 1-4 from a file or from bytes in memory (`name` prefixes messages). */
int image_preprocess_file(const image_preproc_config *cfg, const char *path, float *out);
int image_preprocess_memory(const image_preproc_config *cfg, const void *data, size_t len,
                            const char *name, float *out);

#endif
