/* fuzz_util.h — helpers shared by the libFuzzer targets (tests/fuzz/fuzz_*.c).
 *
 * Most parsers take a path, so the input is written to a memfd and handed over as
 * /proc/self/fd/N: no disk traffic per input, and mmap-based readers see a real file. */
#ifndef VLKIT_TESTS_FUZZ_UTIL_H
#define VLKIT_TESTS_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* The input as a file; slot 0..3 gives independent files (for loaders that read several).
 * Returns a path valid until the next call with the same slot. */
static inline const char *fuzz_file(int slot, const uint8_t *data, size_t size) {
    static int fds[4] = {-1, -1, -1, -1};
    static char paths[4][64];
    if (fds[slot] < 0) {
        fds[slot] = memfd_create("vlkit-fuzz", 0);
        if (fds[slot] < 0) {
            perror("memfd_create");
            abort();
        }
        snprintf(paths[slot], sizeof paths[slot], "/proc/self/fd/%d", fds[slot]);
    }
    if (ftruncate(fds[slot], 0) != 0 || pwrite(fds[slot], data, size, 0) != (ssize_t)size) {
        perror("fuzz_file");
        abort();
    }
    return paths[slot];
}

/* A NUL-terminated copy of the input (malloc'd). */
static inline char *fuzz_cstr(const uint8_t *data, size_t size) {
    char *s = malloc(size + 1);
    if (!s) abort();
    memcpy(s, data, size);
    s[size] = 0;
    return s;
}

/* $VLKIT_FIXTURES/rel (the seed corpora come from the fixtures too; see scripts/fuzz.sh). */
static inline const char *fuzz_fixture(const char *rel) {
    static char buf[4096];
    const char *root = getenv("VLKIT_FIXTURES");
    snprintf(buf, sizeof buf, "%s/%s", root && *root ? root : "../shared/fixtures", rel);
    return buf;
}

#endif
