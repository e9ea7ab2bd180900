#include "train/schedule.h"

#include <math.h>

double train_schedule_lr(const train_config *c, long long step, long long total, long long warmup) {
    double lr = c->optim.lr, floor_lr = c->schedule.min_lr;
    if (warmup > 0 && step < warmup) return lr * (double)step / (double)warmup;
    if (c->schedule.type == TRAIN_SCHEDULE_CONSTANT) return lr;
    double span = (double)(total - warmup);
    double progress = span > 0 ? (double)(step - warmup) / span : 1.0;
    if (progress > 1) progress = 1;
    double factor = c->schedule.type == TRAIN_SCHEDULE_LINEAR ? 1.0 - progress : 0.5 * (1.0 + cos(M_PI * progress));
    return floor_lr + (lr - floor_lr) * factor;
}
