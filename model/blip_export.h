/* blip_export.h — merge a LoRA adapter into its base and write an HF model folder that
 * BlipForConditionalGeneration.from_pretrained loads unchanged: config.json,
 * model.safetensors with the original key names (W + scaling * B A for adapted layers, every
 * other tensor as it was), generation_config.json and the tokenizer / processor files. The
 * folder is written under a temporary name, reloaded and checked (logits of the export vs the
 * base + adapter on a probe input) before it is renamed into place. */
#ifndef VLKIT_MODEL_BLIP_EXPORT_H
#define VLKIT_MODEL_BLIP_EXPORT_H

#include "shim/tt.h"

typedef struct {
    const char *model_dir;
    const char *adapter_dir; /* NULL: re-save the base (format/dtype conversion) */
    const char *out_dir;     /* must not exist, or be a folder vlkit may replace (--force) */
    tt_dtype dtype;          /* TT_F32, TT_BF16 or TT_F16 */
    int force;
    double max_abs_diff;     /* out: the reload check's max |logit difference| */
} blip_export_options;

int blip_export(blip_export_options *o);

#endif
