/* checkpoint.h — what `vlkit train` saves and resumes from.
 *
 * OUTPUT_DIR/checkpoint-<step>/ holds the adapter in PEFT's format (adapter_config.json,
 * adapter_model.safetensors: loadable by PeftModel.from_pretrained and by --adapter),
 * optimizer.safetensors (AdamW's two moments per trainable tensor), rng.bin (the generator
 * state: dropout), trainer_state.json (step, data position, best metric, counters) and
 * train_config.json (the effective config). It is written as checkpoint-<step>.tmp-PID, every
 * file fsynced, then renamed: a folder named checkpoint-<step> is always complete, so a crash
 * at any moment leaves the previous checkpoint as the newest one resume finds. */
#ifndef VLKIT_TRAIN_CHECKPOINT_H
#define VLKIT_TRAIN_CHECKPOINT_H

#include "model/lora.h"
#include "shim/tt.h"

typedef struct {
    long long step;           /* optimizer steps done */
    long long epoch;          /* data position: the next batch's epoch ... */
    long long position;       /* ... and its index in that epoch's order */
    long long nonfinite_skips;
    double best_metric;       /* best eval value so far (NaN: none yet) */
    long long best_step;      /* -1: none */
} train_state;

typedef struct {
    tt_tensor **params; /* trainable tensors, in optimizer order (group 0) */
    char **names;       /* their PEFT parameter names */
    int n;
} train_params;

int checkpoint_save(const char *dir, const lora_linears *ls, const lora_config *lc, tt_optim *opt, const train_params *tp,
                    const train_state *st, const char *config_json);
/* Restore the adapter tensors (copied into tp's tensors: LoRA layers, modules_to_save), optimizer
 * state, RNG state and *st from a checkpoint folder. Shapes and names must match the run. */
int checkpoint_load(const char *dir, tt_optim *opt, const train_params *tp, train_state *st);
/* The newest complete checkpoint-<step> folder in output_dir (malloc'd path), or NULL with
 * *none = 1 when there is none (not an error). */
char *checkpoint_latest(const char *output_dir, int *none);
/* Delete all but the keep_last newest checkpoints (never the one of step keep_step). */
int checkpoint_prune(const char *output_dir, int keep_last, long long keep_step);

#endif
