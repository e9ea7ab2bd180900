/* launch.h — `vlkit train --nproc N`: start N local ranks of the same command and supervise them.
 *
 * Each rank is this program again (/proc/self/exe) with the torchrun environment (RANK,
 * WORLD_SIZE, LOCAL_RANK, MASTER_ADDR=127.0.0.1, MASTER_PORT: MASTER_PORT when set, else a free
 * port) and `--set threads=T` appended (the cores, or the config's threads, split between the
 * ranks). SIGINT/SIGTERM are passed on to every rank (which then stop together with a
 * checkpoint). When a rank fails, the others see the closed connections and fail on their own;
 * any still running grace_s seconds later are killed. */
#ifndef VLKIT_TRAIN_LAUNCH_H
#define VLKIT_TRAIN_LAUNCH_H

/* args: the command line after the program name, without --nproc ("train", CONFIG, ...).
 * Returns the exit status for the launcher: 0 when every rank exited 0, else the first failing
 * rank's status (a message on stderr names it); -1 with vk_err when nothing could start. */
int train_launch(int nproc, int threads_total, const char *const *args, int nargs, double grace_s);

#endif
