#include "train/launch.h"

#include "util/error.h"
#include "util/free_port.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static pid_t ranks[1024];
static int n_ranks;
static volatile sig_atomic_t forwarded;

/* Ctrl-C reaches the ranks through the terminal's process group too; a `kill` of the launcher
 * alone does not, hence the forwarding (a second signal to a rank is harmless). */
static void forward(int sig) {
    forwarded = sig;
    for (int i = 0; i < n_ranks; i++)
        if (ranks[i] > 0) kill(ranks[i], sig);
}

extern char **environ;

/* environ without the launch variables, then this rank's. */
static char **rank_environment(int rank, const char *world, const char *port) {
    static const char *const ours[] = {"RANK=", "WORLD_SIZE=", "LOCAL_RANK=", "MASTER_ADDR=", "MASTER_PORT="};
    int n = 0;
    while (environ[n]) n++;
    char **e = calloc((size_t)n + 6, sizeof *e);
    if (!e) return NULL;
    int k = 0, ok = 1;
    for (int i = 0; i < n && ok; i++) {
        int skip = 0;
        for (size_t j = 0; j < sizeof ours / sizeof ours[0]; j++) skip |= !strncmp(environ[i], ours[j], strlen(ours[j]));
        if (!skip) ok = (e[k++] = strdup(environ[i])) != NULL;
    }
    char buf[64];
    snprintf(buf, sizeof buf, "RANK=%d", rank);
    ok = ok && (e[k++] = strdup(buf));
    snprintf(buf, sizeof buf, "LOCAL_RANK=%d", rank);
    ok = ok && (e[k++] = strdup(buf));
    snprintf(buf, sizeof buf, "WORLD_SIZE=%s", world);
    ok = ok && (e[k++] = strdup(buf));
    ok = ok && (e[k++] = strdup("MASTER_ADDR=127.0.0.1"));
    snprintf(buf, sizeof buf, "MASTER_PORT=%s", port);
    ok = ok && (e[k++] = strdup(buf));
    if (!ok) {
        for (int i = 0; i < k; i++) free(e[i]);
        free(e);
        return NULL;
    }
    return e;
}

static void free_environment(char **e) {
    for (int i = 0; e[i]; i++) free(e[i]);
    free(e);
}

static void describe(int rank, int status, char *buf, size_t n) {
    if (WIFEXITED(status)) snprintf(buf, n, "rank %d exited with status %d", rank, WEXITSTATUS(status));
    else if (WIFSIGNALED(status)) snprintf(buf, n, "rank %d was killed by signal %d (%s)", rank, WTERMSIG(status), strsignal(WTERMSIG(status)));
    else snprintf(buf, n, "rank %d ended abnormally", rank);
}

int train_launch(int nproc, int threads_total, const char *const *args, int nargs, double grace_s) {
    if (nproc < 1 || nproc > (int)(sizeof ranks / sizeof ranks[0]))
        return vk_err_set("--nproc %d out of range (1..%d)", nproc, (int)(sizeof ranks / sizeof ranks[0]));
    if (getenv("RANK") || getenv("WORLD_SIZE"))
        return vk_err_set("--nproc starts its own ranks: it cannot run inside a launched rank (RANK/WORLD_SIZE are set)");
    int port = 0;
    const char *mp = getenv("MASTER_PORT");
    if (mp && *mp) port = atoi(mp);
    else if ((port = vk_free_local_port()) < 0) return vk_err_set("--nproc: no free local port: %s", strerror(errno));
    int per = threads_total / nproc > 0 ? threads_total / nproc : 1;
    char threads_arg[32], port_s[16], world_s[16];
    snprintf(threads_arg, sizeof threads_arg, "threads=%d", per);
    snprintf(port_s, sizeof port_s, "%d", port);
    snprintf(world_s, sizeof world_s, "%d", nproc);
    const char **argv = calloc((size_t)nargs + 4, sizeof *argv);
    if (!argv) return vk_err_set("out of memory");
    argv[0] = "vlkit";
    for (int i = 0; i < nargs; i++) argv[1 + i] = args[i];
    argv[1 + nargs] = "--set";
    argv[2 + nargs] = threads_arg;

    struct sigaction sa, old_int, old_term;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = forward;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    n_ranks = 0;
    forwarded = 0;
    fflush(NULL);
    int rc = 0;
    for (int r = 0; r < nproc; r++) {
        /* the rank's environment, made before fork: the child only calls async-signal-safe
         * functions (libtorch's threads may hold locks in the parent) */
        char **envp = rank_environment(r, world_s, port_s);
        if (!envp) {
            rc = vk_err_set("out of memory");
            break;
        }
        pid_t pid = fork();
        if (pid < 0) {
            rc = vk_err_set("--nproc: cannot start rank %d: %s", r, strerror(errno));
            free_environment(envp);
            break;
        }
        if (pid == 0) {
            sigaction(SIGINT, &old_int, NULL);
            sigaction(SIGTERM, &old_term, NULL);
            execve("/proc/self/exe", (char *const *)argv, envp);
            static const char m[] = "vlkit: train --nproc: cannot run /proc/self/exe\n";
            ssize_t ignored = write(STDERR_FILENO, m, sizeof m - 1);
            (void)ignored;
            _exit(127);
        }
        free_environment(envp);
        ranks[n_ranks++] = pid;
    }
    free(argv);

    /* wait; after the first failure, give the others grace_s to notice, then kill them */
    int first_status = 0, first_rank = -1, left = n_ranks;
    double deadline = 0;
    int status_of[1024] = {0};
    while (left > 0) {
        int st;
        pid_t pid = waitpid(-1, &st, deadline > 0 ? WNOHANG : 0);
        if (pid < 0 && errno == EINTR) continue;
        if (pid < 0) break;
        if (pid == 0) {
            struct timespec now;
            clock_gettime(CLOCK_MONOTONIC, &now);
            if ((double)now.tv_sec + 1e-9 * now.tv_nsec > deadline) {
                for (int i = 0; i < n_ranks; i++)
                    if (ranks[i] > 0) kill(ranks[i], SIGKILL);
                deadline = 0;
            } else {
                nanosleep(&(struct timespec){0, 20000000}, NULL);
            }
            continue;
        }
        for (int i = 0; i < n_ranks; i++) {
            if (ranks[i] != pid) continue;
            ranks[i] = 0;
            status_of[i] = st;
            left--;
            int failed = !(WIFEXITED(st) && WEXITSTATUS(st) == 0);
            if (failed && first_rank < 0) {
                first_rank = i;
                first_status = st;
                struct timespec now;
                clock_gettime(CLOCK_MONOTONIC, &now);
                deadline = (double)now.tv_sec + 1e-9 * now.tv_nsec + grace_s;
            }
        }
    }
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    if (rc) return -1;
    if (first_rank < 0) return 0;
    char msg[160];
    for (int i = 0; i < n_ranks; i++) {
        if (WIFEXITED(status_of[i]) && WEXITSTATUS(status_of[i]) == 0) continue;
        describe(i, status_of[i], msg, sizeof msg);
        fprintf(stderr, "vlkit: train --nproc %d: %s%s\n", nproc, msg, i == first_rank ? " (the first to fail)" : "");
    }
    return WIFEXITED(first_status) ? WEXITSTATUS(first_status) : 128 + WTERMSIG(first_status);
}
