#include "tests/common/fixtures.h"

#include "util/error.h"
#include "util/fileio.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *fixtures_root(void) {
    const char *e = getenv("VLKIT_FIXTURES");
    return e && *e ? e : "../shared/fixtures";
}

const char *fixture_path(const char *rel) {
    static char bufs[8][4096];
    static int slot;
    char *b = bufs[slot++ % 8];
    snprintf(b, sizeof bufs[0], "%s/%s", fixtures_root(), rel);
    return b;
}

cJSON *fixture_json(const char *rel) {
    const char *p = fixture_path(rel);
    size_t n;
    char *text = vk_read_file(p, &n, 0);
    cr_assert(text != NULL, "cannot read fixture %s: %s", p, vk_err_msg());
    cJSON *j = cJSON_ParseWithLength(text, n);
    free(text);
    cr_assert(j != NULL, "fixture %s is not valid JSON", p);
    return j;
}

char *test_tmpdir(void) {
    const char *base = getenv("TMPDIR");
    char tmpl[4096];
    snprintf(tmpl, sizeof tmpl, "%s/vlkit-test-XXXXXX", base && *base ? base : "/tmp");
    char *d = mkdtemp(tmpl);
    cr_assert(d != NULL, "mkdtemp failed");
    return strdup(d);
}
