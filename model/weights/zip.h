/* zip.h — a read-only view of a zip archive held in memory (a mapped file).
 *
 * Enough of PKWARE's APPNOTE for PyTorch checkpoints and anything a normal zip tool writes:
 * the central directory (zip64 records included), stored and deflated entries, CRC-32 checks.
 * Not supported (refused with a message): encryption, multi-disk archives, other methods.
 * Every offset and size is checked against the buffer before use. */
#ifndef VLKIT_MODEL_WEIGHTS_ZIP_H
#define VLKIT_MODEL_WEIGHTS_ZIP_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    char *name;              /* NUL-terminated copy */
    uint16_t method;         /* 0 stored, 8 deflated */
    uint32_t crc32;
    uint64_t comp_size, size;
    uint64_t data_offset;    /* of the (compressed) bytes, past the local header */
} vk_zip_entry;

typedef struct {
    const char *path;        /* for messages; not owned */
    const unsigned char *base;
    size_t len;
    vk_zip_entry *entries;   /* malloc'd, in central-directory order */
    size_t n;
    struct vk_zip_slot *by_name; /* stb_ds map name -> index (first of duplicates) */
} vk_zip;

/* Index the archive (path is only used in messages and must outlive z). */
int vk_zip_open(vk_zip *z, const char *path, const unsigned char *data, size_t len);
void vk_zip_close(vk_zip *z);
/* NULL when absent. Duplicate names in an archive are refused by vk_zip_open. */
const vk_zip_entry *vk_zip_find(const vk_zip *z, const char *name);
/* The entry's bytes, CRC-checked. Stored entries point into the archive (*owned = NULL);
 * deflated ones are inflated into a malloc'd buffer returned in *owned (the caller frees it). */
int vk_zip_read(const vk_zip *z, const vk_zip_entry *e, const unsigned char **data, void **owned);

#endif
