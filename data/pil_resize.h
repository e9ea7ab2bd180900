/* pil_resize.h — Pillow's BICUBIC resize (Image.resize(size, Image.BICUBIC)), bit-exact.
 *
 *   uint8_t out[384 * 384 * 3];
 *   if (pil_resize_bicubic(rgb, w, h, 3, out, 384, 384) != 0) { ... vk_err_msg() ... }
 *
 * BLIP's image processor resizes with PIL, and the model was trained on PIL's output, so this
 * replicates Pillow's libImaging/Resample.c (8 bits per channel) exactly rather than using a
 * generic resampler (stb_image_resize differs from PIL by up to 24 levels):
 *   - Keys cubic kernel, a = -0.5; support 2, widened by in/out when downscaling (antialiasing);
 *   - per output index: window [(int)(c - s + 0.5), (int)(c + s + 0.5)) clipped to the image, taps
 *     normalised to sum 1 (no edge clamping), weights in 22-bit fixed point rounded half away
 *     from zero;
 *   - horizontal pass first, rounded and clipped to uint8, then the vertical pass on that image;
 *     a pass whose size is unchanged is skipped (same size in both: a plain copy).
 * Pixels are interleaved (HWC), `channels` per pixel (1..4), rows tightly packed. */
#ifndef VLKIT_DATA_PIL_RESIZE_H
#define VLKIT_DATA_PIL_RESIZE_H

#include <stdint.h>

/* Resize src (in_w x in_h) into dst (out_w x out_h, caller-owned, out_w*out_h*channels bytes).
 * src and dst must not overlap. Returns 0, or -1 with vk_err set (bad sizes, out of memory). */
int pil_resize_bicubic(const uint8_t *src, int in_w, int in_h, int channels,
                       uint8_t *dst, int out_w, int out_h);

#endif
