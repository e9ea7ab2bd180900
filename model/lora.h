/* lora.h — LoRA adapters as PEFT defines them, on the Linear layers of a BLIP model.
 *
 *   y = x W^T + b + scaling * dropout(x) A^T B^T,   A = lora_A [r, in], B = lora_B [out, r],
 *   scaling = alpha / r (or alpha / sqrt(r) with rsLoRA). Merge: W' = W + scaling * B A.
 *
 * Targets are chosen by module name exactly as PEFT's check_target_module_exists does: a list
 * matches a module whose name equals an entry or ends in "." + entry; a string is a regular
 * expression that must match the whole name (POSIX extended syntax here). Adapters are read
 * and written in PEFT's format (adapter_config.json + adapter_model.safetensors with keys
 * "base_model.model.<module>.lora_A.weight"), so they load with PeftModel.from_pretrained. */
#ifndef VLKIT_MODEL_LORA_H
#define VLKIT_MODEL_LORA_H

#include "model/blip_layers.h"

#include <stdint.h>

typedef struct {
    int r;                 /* 8 */
    double alpha;          /* lora_alpha, 16 */
    double dropout;        /* lora_dropout, 0.05 */
    int use_rslora;        /* scaling alpha / sqrt(r) */
    char **targets;        /* target_modules as a list ... */
    int ntargets;
    char *target_regex;    /* ... or as one regular expression (then ntargets == 0) */
    char *base_model;      /* base_model_name_or_path (informational) */
} lora_config;

lora_config lora_config_default(void); /* r 8, alpha 16, dropout 0.05, targets query,value */
void lora_config_free(lora_config *c);
double lora_scaling(const lora_config *c);
/* Read <dir>/adapter_config.json. Refuses what vlkit cannot apply exactly (fan_in_fan_out,
 * DoRA, bias other than "none", rank/alpha patterns, non-LORA peft types) with a clear error. */
int lora_config_load(const char *dir, lora_config *out);

/* 1 if `module` (e.g. "text_decoder.bert.encoder.layer.0.attention.self.query") is a target. */
int lora_matches(const lora_config *c, const char *module);

/* A model's Linear layers, by state-dict module name. */
typedef struct {
    blip_linear **items;
    int n;
} lora_linears;

/* Attach fresh adapters to every matching linear: A kaiming-uniform(a=sqrt(5)) as PEFT (drawn
 * from the shim's generator, seed it with tt_manual_seed), B zeros. Every list entry must match
 * at least one module, else an error names it. *matched (optional) receives the count. */
int lora_attach(lora_linears *ls, const lora_config *c, int *matched);
/* Read a PEFT adapter folder and attach its tensors (shapes checked). */
int lora_load_adapter(lora_linears *ls, const char *dir, lora_config *cfg_out);
/* Write adapter_config.json + adapter_model.safetensors into an existing folder. */
int lora_write_adapter_files(const lora_linears *ls, const lora_config *c, const char *dir);
/* Write a PEFT adapter folder atomically (written to DIR.tmp-PID, then renamed over DIR). */
int lora_save_adapter(const lora_linears *ls, const lora_config *c, const char *dir);
/* The trainable tensors (A then B of each adapted layer, in layer order) and their PEFT
 * parameter names ("base_model.model.<module>.lora_A.default.weight"); arrays malloc'd,
 * names malloc'd strings. Returns the count. */
int lora_parameters(const lora_linears *ls, tt_tensor ***params, char ***names);
void lora_free_names(char **names, int n);
/* Number of adapted layers and of trainable LoRA elements. */
int lora_count(const lora_linears *ls, int64_t *elements);
/* W + scaling * B A for one adapted linear (new float32 handle); NULL for a plain linear. */
tt_tensor *lora_merged_weight(const blip_linear *l);
/* Drop every adapter (tensors freed). */
void lora_detach(lora_linears *ls);

#endif
