/* vqa_trainer.h — `vlkit train` with task "vqa" (see vqa_trainer.c for the recipe). */
#ifndef VLKIT_TRAIN_VQA_TRAINER_H
#define VLKIT_TRAIN_VQA_TRAINER_H

#include "train/trainer.h"

int vqa_train_run(const train_config *cfg, const char *config_json, train_run_options *o);

#endif
