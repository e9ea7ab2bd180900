/* train_common.h — the parts of a training run that do not depend on the task (caption, vqa):
 * LoRA set-up from the config, the optimizer, resuming, stop signals, the clock. */
#ifndef VLKIT_TRAIN_TRAIN_COMMON_H
#define VLKIT_TRAIN_TRAIN_COMMON_H

#include "train/checkpoint.h"
#include "train/trainer.h"

double train_now(void); /* seconds, monotonic */

/* lc from the config's lora section (or from lora.init_adapter, which is then loaded, its own
 * modules_to_save included), adapters attached to ls, the modules_to_save modules made
 * trainable; *matched = adapted layers. */
int train_lora_setup(const train_config *c, lora_linears *ls, lora_config *lc, int *matched);
/* One stderr line per modules_to_save module (trained in full) with its parameter count. */
void train_lora_report_saved(const lora_linears *ls, int quiet);
/* AdamW over the LoRA tensors (one group, the config's lr and weight decay). */
int train_optimizer_setup(const train_config *c, const lora_linears *ls, train_params *tp, tt_optim **opt);
/* --resume: restore the newest complete checkpoint (or o->resume_dir) into tp / opt / st.
 * *from receives its path (malloc'd) or NULL when there was nothing to resume. */
int train_resume(const train_run_options *o, const char *output_dir, tt_optim *opt, const train_params *tp,
                 train_state *st, char **from);

/* SIGINT / SIGTERM set a flag the loop checks: the run saves a checkpoint and returns. */
void train_signals_install(void);
void train_signals_restore(void);
int train_stop_signal(void); /* 0, or the signal received */

#endif
