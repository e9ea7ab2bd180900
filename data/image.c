/* image.c — stb_image decoding to RGB with the checks a loader facing user files needs. */
#include "data/image.h"
#include "data/jpeg_check.h"

#include "util/error.h"
#include "util/fileio.h"

#include <limits.h>
#include <stdint.h>
#include <stb_image.h>
#include <stdlib.h>
#include <string.h>

/* stb_image's failure reason is thread-local in this build (STBI_THREAD_LOCAL) but terse
 * ("bad huffman code", "unknown image type"); spell out the common ones. */
static const char *decode_reason(void) {
    const char *r = stbi_failure_reason();
    if (!r) return "corrupt or truncated image data";
    if (strcmp(r, "unknown image type") == 0)
        return "not an image in a supported format (JPEG, PNG, BMP, GIF, TGA, PSD, HDR, PIC, PNM)";
    return r;
}

/* ---- header sniffing ----------------------------------------------------------------------
 * stb_image refuses some oversized headers itself, but then reports only "unknown image type"
 * (it tries every format in turn). Reading the size of the common formats here first lets the
 * message say what is wrong: the image is too large, or has a zero side. */

static uint32_t be32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }
static uint32_t le32(const uint8_t *p) { return (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0]; }

/* 1 and the size when the header of a PNG, GIF, BMP or JPEG states it; 0 when unknown. */
static int sniff_size(const uint8_t *b, size_t n, const char **fmt, long long *w, long long *h) {
    if (n >= 24 && memcmp(b, "\x89PNG\r\n\x1a\n", 8) == 0 && memcmp(b + 12, "IHDR", 4) == 0) {
        *fmt = "PNG";
        *w = be32(b + 16);
        *h = be32(b + 20);
        return 1;
    }
    if (n >= 10 && (memcmp(b, "GIF87a", 6) == 0 || memcmp(b, "GIF89a", 6) == 0)) {
        *fmt = "GIF";
        *w = b[6] | b[7] << 8;
        *h = b[8] | b[9] << 8;
        return 1;
    }
    if (n >= 26 && b[0] == 'B' && b[1] == 'M' && le32(b + 14) >= 40) {   /* BITMAPINFOHEADER+ */
        *fmt = "BMP";
        *w = (int32_t)le32(b + 18);
        *h = (int32_t)le32(b + 22);
        if (*h < 0) *h = -*h;   /* negative height = top-down rows */
        return 1;
    }
    if (n >= 4 && b[0] == 0xFF && b[1] == 0xD8) {   /* walk the markers up to the frame header */
        size_t i = 2;
        while (i + 4 <= n) {
            if (b[i] != 0xFF) return 0;
            uint8_t m = b[i + 1];
            if (m == 0xFF) { i++; continue; }   /* fill byte */
            if (m == 0xD8 || m == 0x01 || (m >= 0xD0 && m <= 0xD7)) { i += 2; continue; }
            size_t seg = (size_t)b[i + 2] << 8 | b[i + 3];
            if (m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC) {
                if (i + 9 > n) return 0;
                *fmt = "JPEG";
                *h = b[i + 5] << 8 | b[i + 6];
                *w = b[i + 7] << 8 | b[i + 8];
                return 1;
            }
            if (m == 0xDA || m == 0xD9 || seg < 2) return 0;
            i += 2 + seg;
        }
    }
    return 0;
}

static int check_size(const char *name, const char *fmt, long long w, long long h) {
    if (w <= 0 || h <= 0) return vk_err_set("%s: %s image has zero size (%lldx%lld)", name, fmt, w, h);
    /* sides come from 32-bit header fields: their product needs unsigned 64-bit arithmetic */
    unsigned long long px = (unsigned long long)w * (unsigned long long)h;
    if (px > (unsigned long long)IMAGE_MAX_PIXELS)
        return vk_err_set("%s: %s image too large: %lldx%lld = %llu pixels (limit %lld)", name, fmt,
                          w, h, px, (long long)IMAGE_MAX_PIXELS);
    return 0;
}

int image_probe_memory(const void *data, size_t len, const char *name, int *width, int *height) {
    if (len == 0) return vk_err_set("%s: empty file (0 bytes), not an image", name);
    if (len > INT_MAX) return vk_err_set("%s: file too large (%zu bytes)", name, len);
    /* before any stb call: stbi_info already builds the Huffman tables it meets */
    if (jpeg_check_dht(data, len) != 0) return vk_err_set("%s: corrupt JPEG: bad DHT header (more than 256 codes)", name);
    const char *fmt = NULL;
    long long sw, sh;
    if (sniff_size(data, len, &fmt, &sw, &sh) && check_size(name, fmt, sw, sh) != 0) return -1;
    int w = 0, h = 0, comp = 0;
    if (!stbi_info_from_memory(data, (int)len, &w, &h, &comp)) {
        if (fmt) return vk_err_set("%s: corrupt or unsupported %s header", name, fmt);
        return vk_err_set("%s: cannot read image header: %s", name, decode_reason());
    }
    if (check_size(name, fmt ? fmt : "the", w, h) != 0) return -1;
    *width = w;
    *height = h;
    return 0;
}

int image_decode_memory(const void *data, size_t len, const char *name, image_rgb *out) {
    memset(out, 0, sizeof *out);
    int w, h;
    if (image_probe_memory(data, len, name, &w, &h) != 0) return -1;
    int dw = 0, dh = 0, comp = 0;
    /* req_comp = 3: stb converts grey -> RGB by replication and drops alpha (RGBA -> RGB,
     * grey+alpha -> RGB), which is exactly PIL's convert('RGB'). 16-bit sources are reduced to
     * 8 bits by stbi_load. */
    uint8_t *px = stbi_load_from_memory(data, (int)len, &dw, &dh, &comp, 3);
    if (!px) return vk_err_set("%s: cannot decode image: %s", name, decode_reason());
    if (dw != w || dh != h) {   /* a multi-part format disagreeing with its own header */
        stbi_image_free(px);
        return vk_err_set("%s: decoded size %dx%d differs from header %dx%d", name, dw, dh, w, h);
    }
    /* stb allocates with malloc (STBI_MALLOC default), so the caller may free() it; we still
     * route frees through image_rgb_free to keep that an implementation detail. */
    out->width = w;
    out->height = h;
    out->rgb = px;
    return 0;
}

int image_decode_file(const char *path, image_rgb *out) {
    memset(out, 0, sizeof *out);
    vk_mapped_file m;
    if (vk_map_file(path, &m) != 0) return -1;   /* vk_err names the path and errno */
    int rc = image_decode_memory(m.data, m.size, path, out);
    vk_unmap_file(&m);
    return rc;
}

void image_rgb_free(image_rgb *img) {
    if (!img) return;
    if (img->rgb) stbi_image_free(img->rgb);
    memset(img, 0, sizeof *img);
}
