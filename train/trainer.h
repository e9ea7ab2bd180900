/* trainer.h — `vlkit train`: LoRA fine-tuning of a BLIP captioning model.
 *
 * One optimizer step = grad_accum micro-batches of batch_size examples from the loader; loss =
 * transformers' LM loss over the caption tokens (prompt and padding masked with -100), label
 * smoothing from the config; AdamW (torch's) on LoRA + modules_to_save, the schedule, gradient
 * clipping; a non-finite loss or gradient skips the step (counted; too many in a row stops the
 * run, the last checkpoint intact). Checkpoints, metrics.jsonl, evaluation with the built-in
 * scorers and the best adapter go to output_dir. */
#ifndef VLKIT_TRAIN_TRAINER_H
#define VLKIT_TRAIN_TRAINER_H

#include "util/train_config.h"

typedef enum { TRAIN_RESUME_NONE, TRAIN_RESUME_AUTO, TRAIN_RESUME_DIR } train_resume_mode;

typedef struct {
    train_resume_mode resume;
    const char *resume_dir;   /* TRAIN_RESUME_DIR: a checkpoint folder */
    int quiet;                /* no progress output (tests) */
    int vision_cache;         /* 1: cache frozen vision outputs per image (default); 0: off */
    double final_loss;        /* out: the loss of the last step */
    long long steps_done;     /* out */
} train_run_options;

/* config_json: the effective config (saved into every checkpoint). 0, or -1 with vk_err. A run
 * stopped by SIGINT/SIGTERM saves a checkpoint and returns 0 with steps_done < total. */
int train_run(const train_config *cfg, const char *config_json, train_run_options *o);

#endif
