/* inspect_config.h — summaries of config.json / adapter_config.json for `vlkit inspect`.
 *
 * Both return a new cJSON object (the caller deletes it) holding only the facts a user checks
 * first, or NULL with vk_err set when the file cannot be read or is not a JSON object. */
#ifndef VLKIT_CLI_INSPECT_CONFIG_H
#define VLKIT_CLI_INSPECT_CONFIG_H

#include <cjson/cJSON.h>

/* {"model_type", "architectures", "vision": {...}, "text": {...}, "defaults": ["text.num_attention_heads", ...]}
 * For BLIP configs, keys that transformers left out of config.json (it writes only non-default
 * values) are filled with the BlipVisionConfig / BlipTextConfig defaults and listed in "defaults". */
cJSON *inspect_model_config(const char *path);

/* {"peft_type", "r", "lora_alpha", "scaling", "lora_dropout", "target_modules", "bias",
 *  "base_model_name_or_path", "task_type", "use_rslora", "use_dora"} — those present. */
cJSON *inspect_adapter_config(const char *path);

#endif
