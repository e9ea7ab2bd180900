/* gz_reader.c — whole-file reads through zlib (plain files pass through gzread unchanged). */
#include "data/gz_reader.h"

#include "util/error.h"
#include "util/fileio.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

int gz_has_suffix(const char *name) {
    size_t n = strlen(name);
    return n >= 3 && strcasecmp(name + n - 3, ".gz") == 0;
}

char *gz_read_file(const char *path, size_t *len, size_t max_bytes) {
    if (vk_is_dir(path)) {
        vk_err_set("%s: cannot read: is a directory", path);
        return NULL;
    }
    gzFile gz = gzopen(path, "rb");
    if (!gz) {
        vk_err_set("%s: cannot open: %s", path, errno ? strerror(errno) : "out of memory");
        return NULL;
    }
    gzbuffer(gz, 1 << 17);
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (!buf) {
            vk_err_set("%s: out of memory reading file", path);
            gzclose(gz);
            return NULL;
        }
        /* gzread takes an unsigned count: read at most 1 GiB per call */
        size_t want = cap - 1 - n;
        if (want > (1u << 30)) want = 1u << 30;
        int got = gzread(gz, buf + n, (unsigned)want);
        if (got < 0) {
            int errnum;
            const char *msg = gzerror(gz, &errnum);
            vk_err_set("%s: %s: %s", path, errnum == Z_ERRNO ? "read error" : "corrupt gzip data",
                       errnum == Z_ERRNO ? strerror(errno) : msg);
            free(buf);
            gzclose(gz);
            return NULL;
        }
        n += (size_t)got;
        if (max_bytes && n > max_bytes) {
            vk_err_set("%s: more than %zu bytes after decompression", path, max_bytes);
            free(buf);
            gzclose(gz);
            return NULL;
        }
        if (got == 0) break;
        if (n + 1 >= cap) {
            cap *= 2;
            char *nb = realloc(buf, cap);
            if (!nb) free(buf);
            buf = nb;
        }
    }
    /* A truncated .gz ends with gzread returning 0 and the error kept in the stream state. */
    int errnum = Z_OK;
    const char *msg = gzerror(gz, &errnum);
    if (errnum != Z_OK) {
        vk_err_set("%s: corrupt or truncated gzip data: %s", path, msg);
        free(buf);
        gzclose(gz);
        return NULL;
    }
    gzclose(gz);
    buf[n] = 0;
    if (len) *len = n;
    return buf;
}
