/* blip_folder.h — the start every BLIP model load shares: config.json (with the class defaults),
 * the architecture check, and the folder's weights. */
#ifndef VLKIT_MODEL_BLIP_FOLDER_H
#define VLKIT_MODEL_BLIP_FOLDER_H

#include "model/blip_config.h"
#include "model/blip_params.h"

/* what: "captioning model" etc. for the message; allow_unknown: accept a config without
 * "architectures". On failure nothing is left allocated and vk_err names the folder. */
int blip_folder_open(const char *dir, blip_arch want, int allow_unknown, const char *what, blip_config *cfg,
                     blip_params **params);

#endif
