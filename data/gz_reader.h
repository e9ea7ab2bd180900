/* gz_reader.h — read a whole file, gunzipping it when it is gzip-compressed.
 *
 *   size_t n;
 *   char *text = gz_read_file("captions.jsonl.gz", &n);   // or a plain file: read as it is
 *   if (!text) report(vk_err_msg());
 *   ... free(text);
 *
 * zlib's gzread passes a file without the gzip magic through unchanged, so one reader serves
 * "x.json" and "x.json.gz" alike and the suffix is never trusted (a renamed file still reads).
 * Errors (NULL, vk_err starting with the path): cannot open, a directory, corrupt or truncated
 * gzip data, out of memory, more than max_bytes after decompression (0 = no limit; a small
 * .gz can expand a thousandfold, so callers that read untrusted files should pass a limit). */
#ifndef VLKIT_DATA_GZ_READER_H
#define VLKIT_DATA_GZ_READER_H

#include <stddef.h>

/* The (decompressed) contents, NUL-terminated, malloc'd; *len excludes the NUL. */
char *gz_read_file(const char *path, size_t *len, size_t max_bytes);

/* 1 if the name ends in ".gz" (any case). */
int gz_has_suffix(const char *name);

#endif
