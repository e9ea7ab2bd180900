/* schedule.h — learning-rate schedules as transformers' get_*_schedule_with_warmup define them
 * (the rate used by optimizer step `step`, 0-based), with a floor min_lr for linear and cosine. */
#ifndef VLKIT_TRAIN_SCHEDULE_H
#define VLKIT_TRAIN_SCHEDULE_H

#include "util/train_config.h"

double train_schedule_lr(const train_config *c, long long step, long long total_steps, long long warmup_steps);

#endif
