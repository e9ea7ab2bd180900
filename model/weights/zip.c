/* zip.c — central-directory reader. Sizes and offsets come from the central directory, never
 * from local headers alone: PyTorch's writer (like many streaming writers) leaves the local
 * sizes zero and puts them in a data descriptor after the data. */
#include "model/weights/zip.h"

#include "util/error.h"
#include "util/ds.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

struct vk_zip_slot {
    char *key; /* points at the entry's name */
    size_t value;
};

#define SIG_LOCAL 0x04034b50u
#define SIG_CENTRAL 0x02014b50u
#define SIG_EOCD 0x06054b50u
#define SIG_EOCD64 0x06064b50u
#define SIG_EOCD64_LOC 0x07064b50u

static uint16_t rd16(const unsigned char *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t rd32(const unsigned char *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }
static uint64_t rd64(const unsigned char *p) { return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32; }

/* True when [off, off + n) lies inside the buffer (overflow-safe). */
static int inside(const vk_zip *z, uint64_t off, uint64_t n) { return off <= z->len && n <= z->len - off; }

/* The end-of-central-directory record is the last 22+ bytes, followed by a comment of at most
 * 64 KiB: search backwards for its signature. */
static int find_eocd(const vk_zip *z, size_t *at) {
    if (z->len < 22) return vk_err_set("%s: not a zip archive (only %zu bytes; truncated?)", z->path, z->len);
    size_t lo = z->len > 22 + 65535 ? z->len - 22 - 65535 : 0;
    for (size_t i = z->len - 22 + 1; i-- > lo;)
        if (rd32(z->base + i) == SIG_EOCD && i + 22 + rd16(z->base + i + 20) == z->len) {
            *at = i;
            return 0;
        }
    return vk_err_set("%s: zip end-of-central-directory record not found (truncated or corrupt archive)", z->path);
}

/* Replace 0xFFFF... placeholders by the values of the zip64 extra field (id 1), which lists
 * only the fields whose 32-bit slot overflowed, in this fixed order. */
static int apply_zip64_extra(const vk_zip *z, const unsigned char *extra, size_t len, uint64_t *size,
                             uint64_t *comp, uint64_t *local, const char *name) {
    int need_size = *size == 0xFFFFFFFFu, need_comp = *comp == 0xFFFFFFFFu, need_local = *local == 0xFFFFFFFFu;
    if (!need_size && !need_comp && !need_local) return 0;
    size_t i = 0;
    while (i + 4 <= len) {
        uint16_t id = rd16(extra + i), n = rd16(extra + i + 2);
        if (i + 4 + n > len) break;
        if (id == 1) {
            const unsigned char *p = extra + i + 4, *end = p + n;
            if (need_size) { if (p + 8 > end) break; *size = rd64(p); p += 8; }
            if (need_comp) { if (p + 8 > end) break; *comp = rd64(p); p += 8; }
            if (need_local) { if (p + 8 > end) break; *local = rd64(p); }
            return 0;
        }
        i += 4 + (size_t)n;
    }
    return vk_err_set("%s: zip entry '%s': zip64 sizes missing or malformed", z->path, name);
}

static int read_central(vk_zip *z, uint64_t cd_off, uint64_t cd_size, uint64_t count) {
    if (!inside(z, cd_off, cd_size))
        return vk_err_set("%s: zip central directory [%llu, +%llu) lies outside the file (truncated?)", z->path,
                          (unsigned long long)cd_off, (unsigned long long)cd_size);
    /* Each central record is at least 46 bytes: a count beyond that is a lie. */
    if (count > cd_size / 46) return vk_err_set("%s: zip central directory claims %llu entries in %llu bytes", z->path,
                                                (unsigned long long)count, (unsigned long long)cd_size);
    z->entries = calloc(count ? count : 1, sizeof *z->entries);
    if (!z->entries) return vk_err_set("%s: out of memory", z->path);
    const unsigned char *p = z->base + cd_off, *end = p + cd_size;
    for (uint64_t k = 0; k < count; k++) {
        if (end - p < 46 || rd32(p) != SIG_CENTRAL)
            return vk_err_set("%s: zip central directory entry %llu is corrupt", z->path, (unsigned long long)k);
        uint16_t flags = rd16(p + 8), method = rd16(p + 10);
        uint16_t nlen = rd16(p + 28), xlen = rd16(p + 30), clen = rd16(p + 32), disk = rd16(p + 34);
        if ((size_t)(end - p) < 46u + nlen + xlen + clen)
            return vk_err_set("%s: zip central directory entry %llu is truncated", z->path, (unsigned long long)k);
        vk_zip_entry *e = &z->entries[z->n];
        e->name = malloc((size_t)nlen + 1);
        if (!e->name) return vk_err_set("%s: out of memory", z->path);
        memcpy(e->name, p + 46, nlen);
        e->name[nlen] = 0;
        z->n++;
        if (memchr(e->name, 0, nlen)) return vk_err_set("%s: zip entry %llu has a NUL in its name", z->path, (unsigned long long)k);
        /* Two entries of one name would make "which one is read" depend on the reader. */
        if (shgeti(z->by_name, e->name) >= 0)
            return vk_err_set("%s: zip entry '%s' appears more than once", z->path, e->name);
        shput(z->by_name, e->name, z->n - 1);
        e->method = method;
        e->crc32 = rd32(p + 16);
        e->comp_size = rd32(p + 20);
        e->size = rd32(p + 24);
        uint64_t local = rd32(p + 42);
        if (apply_zip64_extra(z, p + 46 + nlen, xlen, &e->size, &e->comp_size, &local, e->name) != 0) return -1;
        if (flags & 1) return vk_err_set("%s: zip entry '%s' is encrypted (not supported)", z->path, e->name);
        if (disk != 0 && disk != 0xFFFF) return vk_err_set("%s: multi-disk zip archives are not supported", z->path);
        if (method != 0 && method != 8)
            return vk_err_set("%s: zip entry '%s' uses compression method %u (only stored and deflated are supported)",
                              z->path, e->name, method);
        if (method == 0 && e->comp_size != e->size)
            return vk_err_set("%s: zip entry '%s' is stored but its sizes differ (%llu vs %llu)", z->path, e->name,
                              (unsigned long long)e->comp_size, (unsigned long long)e->size);
        /* The local header repeats the name and has its own extra field; the data follows. */
        if (!inside(z, local, 30) || rd32(z->base + local) != SIG_LOCAL)
            return vk_err_set("%s: zip entry '%s': local header at %llu is missing or corrupt", z->path, e->name,
                              (unsigned long long)local);
        uint64_t data = local + 30 + rd16(z->base + local + 26) + rd16(z->base + local + 28);
        if (rd16(z->base + local + 26) != nlen || !inside(z, local + 30, nlen) || memcmp(z->base + local + 30, e->name, nlen) != 0)
            return vk_err_set("%s: zip entry '%s': local header names another file", z->path, e->name);
        if (!inside(z, data, e->comp_size))
            return vk_err_set("%s: zip entry '%s': data [%llu, +%llu) runs past the end of the file (truncated?)", z->path,
                              e->name, (unsigned long long)data, (unsigned long long)e->comp_size);
        e->data_offset = data;
        p += 46 + nlen + xlen + clen;
    }
    return 0;
}

int vk_zip_open(vk_zip *z, const char *path, const unsigned char *data, size_t len) {
    memset(z, 0, sizeof *z);
    z->path = path;
    z->base = data;
    z->len = len;
    size_t eocd = 0;
    if (find_eocd(z, &eocd) != 0) return -1;
    const unsigned char *q = z->base + eocd;
    uint64_t count = rd16(q + 10), cd_size = rd32(q + 12), cd_off = rd32(q + 16);
    if ((rd16(q + 4) != 0 && rd16(q + 4) != 0xFFFF) || (rd16(q + 6) != 0 && rd16(q + 6) != 0xFFFF))
        return vk_err_set("%s: multi-disk zip archives are not supported", path);
    /* Zip64: the classic record holds 0xFFFF placeholders and a locator just before it points
     * at the zip64 end record with the real values. */
    if (count == 0xFFFF || cd_size == 0xFFFFFFFFu || cd_off == 0xFFFFFFFFu) {
        if (eocd < 20 || rd32(z->base + eocd - 20) != SIG_EOCD64_LOC)
            return vk_err_set("%s: zip64 end-of-central-directory locator missing (corrupt archive)", path);
        uint64_t at = rd64(z->base + eocd - 20 + 8);
        if (!inside(z, at, 56) || rd32(z->base + at) != SIG_EOCD64)
            return vk_err_set("%s: zip64 end-of-central-directory record missing (corrupt archive)", path);
        count = rd64(z->base + at + 32);
        cd_size = rd64(z->base + at + 40);
        cd_off = rd64(z->base + at + 48);
    }
    if (read_central(z, cd_off, cd_size, count) != 0) {
        vk_zip_close(z);
        return -1;
    }
    return 0;
}

void vk_zip_close(vk_zip *z) {
    shfree(z->by_name);
    for (size_t i = 0; i < z->n; i++) free(z->entries[i].name);
    free(z->entries);
    z->entries = NULL;
    z->n = 0;
}

const vk_zip_entry *vk_zip_find(const vk_zip *z, const char *name) {
    ptrdiff_t i = shgeti(((vk_zip *)z)->by_name, (char *)name);
    return i < 0 ? NULL : &z->entries[z->by_name[i].value];
}

/* zlib's crc32 takes uInt lengths: feed large buffers in pieces. */
static uint32_t crc_of(const unsigned char *p, uint64_t n) {
    uLong c = crc32(0L, Z_NULL, 0);
    while (n) {
        uInt k = n > (1u << 30) ? (1u << 30) : (uInt)n;
        c = crc32(c, p, k);
        p += k;
        n -= k;
    }
    return (uint32_t)c;
}

static int inflate_entry(const vk_zip *z, const vk_zip_entry *e, unsigned char *out) {
    z_stream s;
    memset(&s, 0, sizeof s);
    if (inflateInit2(&s, -MAX_WBITS) != Z_OK) return vk_err_set("%s: zip entry '%s': zlib init failed", z->path, e->name);
    const unsigned char *in = z->base + e->data_offset;
    uint64_t in_given = 0;
    /* One spare byte beyond the declared size: a stream that is longer shows up as a size
     * mismatch instead of being cut silently. zlib counts in uInt, hence the 1 GiB chunks. */
    uint64_t out_cap = e->size + 1, out_given = 0;
    int rc;
    do {
        if (s.avail_in == 0 && in_given < e->comp_size) {
            uint64_t k = e->comp_size - in_given;
            s.next_in = (unsigned char *)in + in_given;
            s.avail_in = k > (1u << 30) ? (1u << 30) : (uInt)k;
            in_given += s.avail_in;
        }
        if (s.avail_out == 0 && out_given < out_cap) {
            uint64_t k = out_cap - out_given;
            s.next_out = out + out_given;
            s.avail_out = k > (1u << 30) ? (1u << 30) : (uInt)k;
            out_given += s.avail_out;
        }
        rc = inflate(&s, Z_NO_FLUSH);
    } while (rc == Z_OK);
    uint64_t produced = s.total_out;
    inflateEnd(&s);
    if (rc != Z_STREAM_END)
        return vk_err_set("%s: zip entry '%s': deflate data is corrupt or truncated (%s)", z->path, e->name,
                          rc == Z_DATA_ERROR ? "invalid data" : rc == Z_BUF_ERROR ? "stream ends early or is too long" : "zlib error");
    if (produced != e->size)
        return vk_err_set("%s: zip entry '%s': inflates to %llu bytes, the directory says %llu", z->path, e->name,
                          (unsigned long long)produced, (unsigned long long)e->size);
    return 0;
}

int vk_zip_read(const vk_zip *z, const vk_zip_entry *e, const unsigned char **data, void **owned) {
    *data = NULL;
    *owned = NULL;
    if (e->method == 0) {
        *data = z->base + e->data_offset;
    } else {
        /* Deflate cannot expand more than ~1032:1; a larger claim is a zip bomb or corruption,
         * refused before allocating. */
        if (e->size / 1032 > e->comp_size + 1)
            return vk_err_set("%s: zip entry '%s' claims %llu bytes from %llu compressed (impossible ratio)", z->path,
                              e->name, (unsigned long long)e->size, (unsigned long long)e->comp_size);
        unsigned char *buf = malloc(e->size + 1);
        if (!buf) return vk_err_set("%s: zip entry '%s': out of memory for %llu bytes", z->path, e->name, (unsigned long long)e->size);
        if (inflate_entry(z, e, buf) != 0) {
            free(buf);
            return -1;
        }
        *data = buf;
        *owned = buf;
    }
    uint32_t crc = crc_of(*data, e->size);
    if (crc != e->crc32) {
        free(*owned);
        *owned = NULL;
        *data = NULL;
        return vk_err_set("%s: zip entry '%s': CRC-32 mismatch (%08x, the directory says %08x): corrupt file", z->path,
                          e->name, crc, e->crc32);
    }
    return 0;
}
