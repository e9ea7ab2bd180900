/* fileio.h — checked file access: whole-file reads, read-only maps, and atomic writes.
 *
 * Every failure sets vk_err (util/error.h) with the path and strerror, and returns -1/NULL.
 * Writers never leave a half-written file at the destination: they write "<path>.tmp.<pid>",
 * fsync it, rename it over the destination, then fsync the directory. */
#ifndef VLKIT_UTIL_FILEIO_H
#define VLKIT_UTIL_FILEIO_H

#include <stddef.h>
#include <stdio.h>

/* Read a whole file into a NUL-terminated malloc'd buffer (the NUL is not counted in *len).
 * max_bytes (0 = no limit) refuses larger files with an error instead of allocating. */
char *vk_read_file(const char *path, size_t *len, size_t max_bytes);

/* A read-only memory map of a whole file. A zero-length file maps to data == NULL, size 0. */
typedef struct {
    const unsigned char *data;
    size_t size;
} vk_mapped_file;
int vk_map_file(const char *path, vk_mapped_file *out);
void vk_unmap_file(vk_mapped_file *m);

/* Atomic writer. vk_atomic_open creates the temporary file; vk_atomic_commit flushes, fsyncs
 * and renames it into place (reporting a full disk as such); vk_atomic_abort removes it. */
typedef struct {
    FILE *fp;
    char *final_path;
    char *tmp_path;
} vk_atomic_file;
int vk_atomic_open(vk_atomic_file *af, const char *path);
int vk_atomic_commit(vk_atomic_file *af);
void vk_atomic_abort(vk_atomic_file *af);
/* Convenience: write one buffer atomically. */
int vk_write_file_atomic(const char *path, const void *data, size_t len);

/* Folders written as a whole (adapters, checkpoints, exported models): build the new one as
 * "<dest>.tmp-<pid>" (vk_tmp_dir_name), then vk_replace_dir puts it in place — an existing
 * dest is moved aside first and removed after, so dest is always the old or the new folder. */
char *vk_tmp_dir_name(const char *dest);           /* malloc'd "<dest>.tmp-<pid>" */
int vk_replace_dir(const char *tmp, const char *dest);
/* Remove a folder and the files directly in it (vlkit's folders have no subfolders). */
void vk_remove_flat_dir(const char *dir);

/* Path helpers (malloc'd results). */
char *vk_path_join(const char *dir, const char *name);
int vk_is_dir(const char *path);
int vk_file_exists(const char *path);

#endif
