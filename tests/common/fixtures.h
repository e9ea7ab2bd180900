/* fixtures.h — where the golden fixtures are: $VLKIT_FIXTURES, else ../shared/fixtures
 * (relative to the project root, where `make check` runs the tests). */
#ifndef VLKIT_TESTS_FIXTURES_H
#define VLKIT_TESTS_FIXTURES_H

#include <cjson/cJSON.h>

const char *fixtures_root(void);
/* fixtures_root() + "/" + rel, in a static rotating buffer (8 slots). */
const char *fixture_path(const char *rel);
/* Parse a JSON fixture file; aborts the test (cr_assert) when it cannot be read. */
cJSON *fixture_json(const char *rel);
/* A fresh empty temporary directory for the test's outputs (malloc'd path). */
char *test_tmpdir(void);
/* A six-image caption training set over the fixture's preprocess images ("train.jsonl" in dir,
 * absolute image paths); malloc'd path. */
char *fixture_caption_jsonl(const char *dir);

#endif
