#include "util/fileio.h"

#include "util/error.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

char *vk_read_file(const char *path, size_t *len, size_t max_bytes) {
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        vk_err_set("%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fileno(fp), &st) != 0 || S_ISDIR(st.st_mode)) {
        vk_err_set("%s: cannot read: %s", path, S_ISDIR(st.st_mode) ? "is a directory" : strerror(errno));
        fclose(fp);
        return NULL;
    }
    size_t cap = S_ISREG(st.st_mode) && st.st_size > 0 ? (size_t)st.st_size + 1 : 4096;
    if (max_bytes && S_ISREG(st.st_mode) && (size_t)st.st_size > max_bytes) {
        vk_err_set("%s: file is %lld bytes, more than the limit of %zu", path, (long long)st.st_size, max_bytes);
        fclose(fp);
        return NULL;
    }
    char *buf = malloc(cap);
    size_t n = 0;
    for (;;) {
        if (!buf) {
            vk_err_set("%s: out of memory reading file", path);
            fclose(fp);
            return NULL;
        }
        n += fread(buf + n, 1, cap - 1 - n, fp);
        if (n < cap - 1) break;
        if (max_bytes && n > max_bytes) {
            vk_err_set("%s: file is larger than the limit of %zu bytes", path, max_bytes);
            free(buf);
            fclose(fp);
            return NULL;
        }
        cap *= 2;
        char *nb = realloc(buf, cap);
        if (!nb) free(buf);
        buf = nb;
    }
    if (ferror(fp)) {
        vk_err_set("%s: read error: %s", path, strerror(errno));
        free(buf);
        fclose(fp);
        return NULL;
    }
    fclose(fp);
    buf[n] = 0;
    if (len) *len = n;
    return buf;
}

int vk_map_file(const char *path, vk_mapped_file *out) {
    out->data = NULL;
    out->size = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return vk_err_set("%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return vk_err_set("%s: cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return vk_err_set("%s: not a regular file", path);
    }
    if (st.st_size == 0) {
        close(fd);
        return 0;
    }
    void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);
    if (p == MAP_FAILED) return vk_err_set("%s: cannot map: %s", path, strerror(e));
    out->data = p;
    out->size = (size_t)st.st_size;
    return 0;
}

void vk_unmap_file(vk_mapped_file *m) {
    if (m->data) munmap((void *)m->data, m->size);
    m->data = NULL;
    m->size = 0;
}

char *vk_path_join(const char *dir, const char *name) {
    size_t a = strlen(dir), b = strlen(name);
    char *p = malloc(a + b + 2);
    if (!p) return NULL;
    memcpy(p, dir, a);
    size_t k = a;
    if (a && dir[a - 1] != '/') p[k++] = '/';
    memcpy(p + k, name, b + 1);
    return p;
}

int vk_is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int vk_file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int vk_atomic_open(vk_atomic_file *af, const char *path) {
    memset(af, 0, sizeof *af);
    size_t n = strlen(path) + 32;
    af->final_path = strdup(path);
    af->tmp_path = malloc(n);
    if (!af->final_path || !af->tmp_path) {
        vk_atomic_abort(af);
        return vk_err_set("%s: out of memory", path);
    }
    snprintf(af->tmp_path, n, "%s.tmp.%ld", path, (long)getpid());
    af->fp = fopen(af->tmp_path, "wb");
    if (!af->fp) {
        int e = errno;
        free(af->final_path);
        free(af->tmp_path);
        memset(af, 0, sizeof *af);
        return vk_err_set("%s: cannot create: %s", path, strerror(e));
    }
    return 0;
}

static void fsync_parent_dir(const char *path) {
    char *copy = strdup(path);
    if (!copy) return;
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    free(copy);
}

int vk_atomic_commit(vk_atomic_file *af) {
    if (!af->fp) return vk_err_set("internal: commit of a file that is not open");
    int failed = 0, e = 0;
    if (ferror(af->fp) || fflush(af->fp) != 0) failed = 1, e = errno;
    if (!failed && fsync(fileno(af->fp)) != 0) failed = 1, e = errno;
    if (fclose(af->fp) != 0 && !failed) failed = 1, e = errno;
    af->fp = NULL;
    if (!failed && rename(af->tmp_path, af->final_path) != 0) failed = 1, e = errno;
    if (failed) {
        unlink(af->tmp_path);
        vk_err_set("%s: write failed: %s%s", af->final_path, e ? strerror(e) : "I/O error",
                   e == ENOSPC ? " (disk full; nothing was replaced)" : "");
        vk_atomic_abort(af);
        return -1;
    }
    fsync_parent_dir(af->final_path);
    free(af->final_path);
    free(af->tmp_path);
    memset(af, 0, sizeof *af);
    return 0;
}

void vk_atomic_abort(vk_atomic_file *af) {
    if (af->fp) fclose(af->fp);
    if (af->tmp_path) unlink(af->tmp_path);
    free(af->final_path);
    free(af->tmp_path);
    memset(af, 0, sizeof *af);
}

int vk_write_file_atomic(const char *path, const void *data, size_t len) {
    vk_atomic_file af;
    if (vk_atomic_open(&af, path) != 0) return -1;
    if (len && fwrite(data, 1, len, af.fp) != len) {
        int e = errno;
        vk_atomic_abort(&af);
        return vk_err_set("%s: write failed: %s%s", path, strerror(e), e == ENOSPC ? " (disk full; nothing was replaced)" : "");
    }
    return vk_atomic_commit(&af);
}

char *vk_tmp_dir_name(const char *dest) {
    size_t n = strlen(dest) + 32;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s.tmp-%ld", dest, (long)getpid());
    return p;
}

void vk_remove_flat_dir(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return;
    for (struct dirent *e; (e = readdir(d));) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char *p = vk_path_join(dir, e->d_name);
        if (p) unlink(p);
        free(p);
    }
    closedir(d);
    rmdir(dir);
}

int vk_replace_dir(const char *tmp, const char *dest) {
    size_t n = strlen(dest) + 32;
    char *old = malloc(n);
    if (!old) return vk_err_set("out of memory");
    snprintf(old, n, "%s.old-%ld", dest, (long)getpid());
    int rc = 0;
    if (vk_is_dir(dest) && rename(dest, old)) rc = vk_err_set("%s: cannot replace: %s", dest, strerror(errno));
    if (!rc && rename(tmp, dest)) {
        rc = vk_err_set("%s: cannot rename into place: %s", dest, strerror(errno));
        rename(old, dest); /* put the old one back */
    }
    if (!rc) {
        fsync_parent_dir(dest);
        vk_remove_flat_dir(old);
    }
    free(old);
    return rc;
}
