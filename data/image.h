/* image.h — decode an image file (or bytes in memory) to 8-bit RGB, as PIL's convert('RGB').
 *
 *   image_rgb img;
 *   if (image_decode_file("cat.jpg", &img) != 0) { report(vk_err_msg()); ... }
 *   use(img.rgb, img.width, img.height);          // HWC, 3 bytes per pixel, rows packed
 *   image_rgb_free(&img);
 *
 * Formats: whatever stb_image reads — JPEG (baseline and progressive), PNG (8/16-bit, palette),
 * BMP, GIF (first frame), TGA, PSD, HDR, PIC, PNM. Channels become RGB the way BLIP's processor
 * (PIL img.convert('RGB')) does it: grey is replicated, an alpha channel is DROPPED (not
 * composited over a background), palettes are expanded.
 * Known differences from PIL, by decoder: JPEG pixels differ by up to 2 levels (stb_image vs
 * libjpeg-turbo IDCT/upsampling); 16-bit PNGs are reduced by taking the high byte; a GIF's
 * transparent pixels come out black (PIL gives the palette colour); EXIF orientation is ignored
 * (as PIL and transformers ignore it).
 *
 * Errors (return -1, vk_err set, message starting with the file name, nothing to free): missing
 * or unreadable file, empty file, unknown format, corrupt or truncated data, a zero dimension,
 * or more than IMAGE_MAX_PIXELS pixels — checked from the header BEFORE decoding, so a tiny file
 * claiming a huge size costs nothing. Thread-safe (no global state is touched). */
#ifndef VLKIT_DATA_IMAGE_H
#define VLKIT_DATA_IMAGE_H

#include <stddef.h>
#include <stdint.h>

/* 16384 x 16384 (2^28) pixels: about 0.75 GiB as RGB — the most a decode may allocate.
 * Far above any photo (a 100-megapixel camera is 2^26.6) but stops decompression bombs. */
#define IMAGE_MAX_PIXELS (1ll << 28)

typedef struct {
    int width, height;   /* pixels, both > 0 */
    uint8_t *rgb;        /* width*height*3 bytes, HWC; owned, release with image_rgb_free */
} image_rgb;

/* Decode the file at `path`. */
int image_decode_file(const char *path, image_rgb *out);

/* Decode `len` bytes at `data`; `name` (e.g. the file name or "<stdin>") prefixes messages. */
int image_decode_memory(const void *data, size_t len, const char *name, image_rgb *out);

/* Read only the header: width and height without decoding (same errors as decoding, except
 * corruption past the header). */
int image_probe_memory(const void *data, size_t len, const char *name, int *width, int *height);

/* Free the pixels and zero the struct; safe on a zeroed or already-freed struct. */
void image_rgb_free(image_rgb *img);

#endif
