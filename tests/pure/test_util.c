/* test_util.c — the base layer: error messages, checked file reads, atomic writes, argument tables. */
#include "tests/common/fixtures.h"
#include "util/args.h"
#include "util/error.h"
#include "util/fileio.h"

#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

Test(util_error, set_prefix_and_clear) {
    cr_assert_eq(vk_err_set("%s: bad %d", "file.json", 3), -1);
    cr_assert_str_eq(vk_err_msg(), "file.json: bad 3");
    cr_assert_eq(vk_err_prefix("loading %s", "model"), -1);
    cr_assert_str_eq(vk_err_msg(), "loading model: file.json: bad 3");
    char big[5000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = 0;
    vk_err_set("%s", big); /* truncated, not overflowed */
    cr_assert(strlen(vk_err_msg()) < sizeof big);
    vk_err_clear();
    cr_assert_str_eq(vk_err_msg(), "");
}

Test(util_fileio, read_file_and_limits) {
    char *dir = test_tmpdir();
    char *p = vk_path_join(dir, "a.txt");
    cr_assert_eq(vk_write_file_atomic(p, "hello\0world", 11), 0, "%s", vk_err_msg());
    size_t n = 0;
    char *s = vk_read_file(p, &n, 0);
    cr_assert_not_null(s);
    cr_assert_eq(n, 11);
    cr_assert_eq(memcmp(s, "hello\0world", 11), 0);
    cr_assert_eq(s[11], 0);
    free(s);
    cr_assert_null(vk_read_file(p, &n, 5));
    cr_assert(strstr(vk_err_msg(), "a.txt") && strstr(vk_err_msg(), "limit"), "%s", vk_err_msg());
    char *missing = vk_path_join(dir, "missing.txt");
    cr_assert_null(vk_read_file(missing, &n, 0));
    cr_assert(strstr(vk_err_msg(), "missing.txt") && strstr(vk_err_msg(), "No such file"), "%s", vk_err_msg());
    cr_assert_null(vk_read_file(dir, &n, 0));
    cr_assert(strstr(vk_err_msg(), "directory"), "%s", vk_err_msg());
    vk_mapped_file m;
    cr_assert_eq(vk_map_file(p, &m), 0);
    cr_assert_eq(m.size, 11);
    cr_assert_eq(m.data[6], 'w');
    vk_unmap_file(&m);
    cr_assert_eq(vk_map_file(missing, &m), -1);
    cr_assert_eq(vk_map_file(dir, &m), -1);
    cr_assert(vk_is_dir(dir) && !vk_is_dir(p) && vk_file_exists(p) && !vk_file_exists(missing));
    free(missing);
    free(p);
    free(dir);
}

static int count_entries(const char *dir) {
    DIR *d = opendir(dir);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        if (e->d_name[0] != '.') n++;
    closedir(d);
    return n;
}

Test(util_fileio, atomic_write_replaces_whole_or_nothing) {
    char *dir = test_tmpdir();
    char *p = vk_path_join(dir, "out.json");
    cr_assert_eq(vk_write_file_atomic(p, "old", 3), 0);
    vk_atomic_file af;
    cr_assert_eq(vk_atomic_open(&af, p), 0);
    fputs("new content", af.fp);
    /* before commit the destination still holds the old file; the new one has a temporary name */
    size_t n;
    char *s = vk_read_file(p, &n, 0);
    cr_assert_str_eq(s, "old");
    free(s);
    cr_assert_eq(count_entries(dir), 2);
    vk_atomic_abort(&af);
    cr_assert_eq(count_entries(dir), 1, "abort left the temporary file behind");
    s = vk_read_file(p, &n, 0);
    cr_assert_str_eq(s, "old");
    free(s);
    cr_assert_eq(vk_atomic_open(&af, p), 0);
    fputs("new content", af.fp);
    cr_assert_eq(vk_atomic_commit(&af), 0);
    s = vk_read_file(p, &n, 0);
    cr_assert_str_eq(s, "new content");
    free(s);
    cr_assert_eq(count_entries(dir), 1);
    /* an unwritable destination is an error naming it */
    char *bad = vk_path_join(dir, "no/such/dir/x.json");
    cr_assert_eq(vk_write_file_atomic(bad, "x", 1), -1);
    cr_assert(strstr(vk_err_msg(), "no/such/dir/x.json"), "%s", vk_err_msg());
    free(bad);
    free(p);
    free(dir);
}

Test(util_fileio, disk_full_is_reported_and_leaves_nothing) {
    /* /dev/full fails every write with ENOSPC; the writer must report it as a full disk */
    struct stat st;
    cr_assert_eq(stat("/dev/full", &st), 0, "/dev/full is needed for this test");
    vk_atomic_file af = {0};
    af.fp = fopen("/dev/full", "w");
    cr_assert_not_null(af.fp);
    af.final_path = strdup("/dev/null/x");
    af.tmp_path = strdup("/dev/null/x.tmp"); /* unlink fails harmlessly */
    char buf[8192];
    memset(buf, 'a', sizeof buf);
    fwrite(buf, 1, sizeof buf, af.fp);
    cr_assert_eq(vk_atomic_commit(&af), -1);
    cr_assert(strstr(vk_err_msg(), "disk full"), "%s", vk_err_msg());
    cr_assert_null(af.fp);
}

/* ---- argument tables ------------------------------------------------------------------------ */

static int flag;
static const char *name;
static int beams;
static double lr;
static vk_strlist sets;
static const vk_arg opts[] = {
    {"--name", "DIR", VK_ARG_STRING, &name, "model folder", NULL, 1},
    {"--beams", "N", VK_ARG_INT, &beams, "beam width", "VLKIT_TEST_BEAMS", 0},
    {"--lr", "X", VK_ARG_DOUBLE, &lr, "learning rate", NULL, 0},
    {"--set", "K=V", VK_ARG_STRINGS, &sets, "override", NULL, 0},
    {"--flag", NULL, VK_ARG_FLAG, &flag, "a switch", NULL, 0},
    {0}};
static const vk_argspec spec = {"demo", "[options] FILE...", "a demo command", opts, 1, 2, NULL};

static void reset(void) {
    flag = 0, name = NULL, beams = 1, lr = 0;
    vk_strlist_free(&sets);
}

static int parse(int argc, char **argv, vk_strlist *pos) {
    reset();
    return vk_args_parse(&spec, argc, argv, pos);
}

Test(util_args, parses_every_kind, .init = cr_redirect_stderr) {
    char *argv[] = {"demo", "--name=m", "a.jpg", "--beams", "3", "--lr", "2e-4", "--set", "x=1", "--set=y=2", "--flag", "--", "-b.jpg"};
    vk_strlist pos = {0};
    cr_assert_eq(parse(13, argv, &pos), VK_ARGS_OK);
    cr_assert_str_eq(name, "m");
    cr_assert_eq(beams, 3);
    cr_assert_float_eq(lr, 2e-4, 1e-18);
    cr_assert_eq(flag, 1);
    cr_assert_eq(sets.n, 2);
    cr_assert_str_eq(sets.items[1], "y=2");
    cr_assert_eq(pos.n, 2);
    cr_assert_str_eq(pos.items[0], "a.jpg");
    cr_assert_str_eq(pos.items[1], "-b.jpg");
    vk_strlist_free(&pos);
    reset();
}

Test(util_args, rejects_bad_input_with_that_option_usage, .init = cr_redirect_stderr) {
    vk_strlist pos = {0};
    char *bad_int[] = {"demo", "--name", "m", "--beams", "three", "f"};
    cr_assert_eq(parse(6, bad_int, &pos), VK_ARGS_ERROR);
    char *overflow[] = {"demo", "--name", "m", "--beams", "99999999999", "f"};
    cr_assert_eq(parse(6, overflow, &pos), VK_ARGS_ERROR);
    char *nan_lr[] = {"demo", "--name", "m", "--lr", "nan", "f"};
    cr_assert_eq(parse(6, nan_lr, &pos), VK_ARGS_ERROR);
    char *unknown[] = {"demo", "--name", "m", "--bogus", "f"};
    cr_assert_eq(parse(5, unknown, &pos), VK_ARGS_ERROR);
    char *missing_value[] = {"demo", "f", "--name"};
    cr_assert_eq(parse(3, missing_value, &pos), VK_ARGS_ERROR);
    char *missing_required[] = {"demo", "f"};
    cr_assert_eq(parse(2, missing_required, &pos), VK_ARGS_ERROR);
    char *no_positional[] = {"demo", "--name", "m"};
    cr_assert_eq(parse(3, no_positional, &pos), VK_ARGS_ERROR);
    char *too_many[] = {"demo", "--name", "m", "a", "b", "c"};
    cr_assert_eq(parse(6, too_many, &pos), VK_ARGS_ERROR);
    char *flag_value[] = {"demo", "--name", "m", "--flag=1", "a"};
    cr_assert_eq(parse(5, flag_value, &pos), VK_ARGS_ERROR);
    cr_assert_eq(pos.n, 0, "positionals are released on error");
    fflush(stderr);
    cr_assert_stderr_neq_str("");
    reset();
}

Test(util_args, bad_value_prints_only_that_option, .init = cr_redirect_stderr) {
    char *bad_int[] = {"demo", "--name", "m", "--beams", "three", "f"};
    vk_strlist pos = {0};
    cr_assert_eq(parse(6, bad_int, &pos), VK_ARGS_ERROR);
    fflush(stderr);
    cr_assert_stderr_eq_str("vlkit: error: demo: --beams: expected an integer, got 'three'\n"
                            "usage:\n"
                            "  --beams N                  beam width [env VLKIT_TEST_BEAMS]\n");
    reset();
}

static void redirect_both(void) {
    cr_redirect_stdout();
    cr_redirect_stderr();
}

Test(util_args, environment_mirror_and_help, .init = redirect_both) {
    vk_strlist pos = {0};
    setenv("VLKIT_TEST_BEAMS", "5", 1);
    char *argv[] = {"demo", "--name", "m", "f"};
    cr_assert_eq(parse(4, argv, &pos), VK_ARGS_OK);
    cr_assert_eq(beams, 5);
    vk_strlist_free(&pos);
    char *argv2[] = {"demo", "--name", "m", "--beams", "2", "f"};
    cr_assert_eq(parse(6, argv2, &pos), VK_ARGS_OK);
    cr_assert_eq(beams, 2, "the command line wins over the environment");
    vk_strlist_free(&pos);
    unsetenv("VLKIT_TEST_BEAMS");
    char *help[] = {"demo", "--beams", "x", "--help"};
    cr_assert_eq(parse(4, help, &pos), VK_ARGS_ERROR, "options before --help are still checked");
    char *help2[] = {"demo", "--help"};
    cr_assert_eq(parse(2, help2, &pos), VK_ARGS_HELP);
    fflush(stdout);
    cr_assert_stdout_neq_str("");
    reset();
}
