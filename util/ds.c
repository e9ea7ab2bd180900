/* ds.c — the lock around creating stb_ds tables (see ds.h). */
#include "util/ds.h"

#include <pthread.h>

static pthread_mutex_t create_lock = PTHREAD_MUTEX_INITIALIZER;

void vk_ds_create_lock(void) { pthread_mutex_lock(&create_lock); }
void vk_ds_create_unlock(void) { pthread_mutex_unlock(&create_lock); }
