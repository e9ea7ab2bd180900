/* blip_init.h — write a random-initialised BLIP model folder that loads like a hub checkpoint
 * (config.json, generation_config.json, model.safetensors, preprocessor_config.json and the
 * tokenizer files), for tests, demos and benchmarks at real sizes. */
#ifndef VLKIT_MODEL_BLIP_INIT_H
#define VLKIT_MODEL_BLIP_INIT_H

#include <stdint.h>

typedef struct {
    const char *config_path; /* an HF BLIP config.json (e.g. configs/blip-base.json) */
    const char *out_dir;     /* created if missing; existing files of the folder are replaced */
    uint64_t seed;
    const char *vocab_path;  /* a vocab.txt to use (vocab_size - 2 lines), or NULL for a placeholder */
} blip_init_options;

int blip_init_folder(const blip_init_options *o);

#endif
