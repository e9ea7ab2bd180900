/* lora.h — LoRA adapters as PEFT defines them, on the Linear layers of a BLIP model.
 *
 *   y = x W^T + b + scaling * dropout(x) A^T B^T,   A = lora_A [r, in], B = lora_B [out, r],
 *   scaling = alpha / r (or alpha / sqrt(r) with rsLoRA). Merge: W' = W + scaling * B A.
 *
 * Targets are chosen by module name exactly as PEFT's check_target_module_exists does: a list
 * matches a module whose name equals an entry or ends in "." + entry; a string is a regular
 * expression that must match the whole name (POSIX extended syntax here). Adapters are read
 * and written in PEFT's format (adapter_config.json + adapter_model.safetensors with keys
 * "base_model.model.<module>.lora_A.weight"), so they load with PeftModel.from_pretrained.
 *
 * modules_to_save (modules trained in full) as PEFT's _set_trainable chooses them: every module
 * of the model (every state-dict name prefix ending before a '.') whose name ends with an entry
 * (plain string suffix: "dense" matches "...output.dense", "cls" matches "text_decoder.cls").
 * Their parameters train in float32 and are saved under PEFT's keys
 * "base_model.model.<module>.<param>" (get_peft_model_state_dict drops "modules_to_save.default");
 * the optimizer knows them by PEFT's parameter names "base_model.model.<module>.modules_to_save.
 * default.<param>". Every entry must match a module; a match inside another match, or a module
 * that also holds a LoRA target, is refused. */
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
    char **modules_to_save; /* modules trained in full, e.g. {"cls.predictions.transform"} */
    int nmodules_to_save;
} lora_config;

lora_config lora_config_default(void); /* r 8, alpha 16, dropout 0.05, targets query,value */
void lora_config_free(lora_config *c);
double lora_scaling(const lora_config *c);
/* Read <dir>/adapter_config.json. Refuses what vlkit cannot apply exactly (fan_in_fan_out,
 * DoRA, bias other than "none", rank/alpha patterns, non-LORA peft types) with a clear error. */
int lora_config_load(const char *dir, lora_config *out);

/* 1 if `module` (e.g. "text_decoder.bert.encoder.layer.0.attention.self.query") is a target. */
int lora_matches(const lora_config *c, const char *module);

/* One tensor of a module trained in full: the model's parameter handle (borrowed from
 * blip_params, shared by the model structs) is rebound to a trainable float32 copy while the
 * adapter is attached, so the forward, the optimizer and export all see the trained values. */
typedef struct {
    char *name;        /* state-dict name, "text_decoder.cls.predictions.transform.dense.weight" */
    int module;        /* index into lora_linears.saved_modules */
    tt_tensor *handle; /* the model's handle */
    tt_tensor *base;   /* the frozen tensor it held (owned); NULL on a second name of a shared tensor
                        * (cls.predictions.decoder.bias is cls.predictions.bias) */
} lora_saved_tensor;

/* A model's Linear layers, by state-dict module name, and the modules trained in full. */
typedef struct {
    blip_linear **items;
    int n;
    blip_params *params;       /* the model's tensors (set by blip_*_linears), for modules_to_save */
    char **saved_modules;      /* matched modules_to_save modules, e.g. "text_decoder.cls.predictions.transform" */
    int nsaved_modules;
    lora_saved_tensor *saved;  /* their tensors */
    int nsaved;
} lora_linears;

/* Attach fresh adapters to every matching linear: A kaiming-uniform(a=sqrt(5)) as PEFT (drawn
 * from the shim's generator, seed it with tt_manual_seed), B zeros. Every list entry must match
 * at least one module, else an error names it. *matched (optional) receives the count. The
 * modules_to_save modules become trainable float32 copies of the base (ls->params needed). */
int lora_attach(lora_linears *ls, const lora_config *c, int *matched);
/* Read a PEFT adapter folder and attach its tensors (shapes checked), modules_to_save included
 * (each of their tensors must be in the file). */
int lora_load_adapter(lora_linears *ls, const char *dir, lora_config *cfg_out);
/* Write adapter_config.json + adapter_model.safetensors into an existing folder. */
int lora_write_adapter_files(const lora_linears *ls, const lora_config *c, const char *dir);
/* Write a PEFT adapter folder atomically (written to DIR.tmp-PID, then renamed over DIR). */
int lora_save_adapter(const lora_linears *ls, const lora_config *c, const char *dir);
/* The trainable tensors (A then B of each adapted layer, in layer order, then each tensor of
 * the modules_to_save modules once) and their PEFT parameter names
 * ("base_model.model.<module>.lora_A.default.weight",
 * "base_model.model.<module>.modules_to_save.default.weight"); arrays malloc'd, names malloc'd
 * strings. Returns the count. */
int lora_parameters(const lora_linears *ls, tt_tensor ***params, char ***names);
void lora_free_names(char **names, int n);
/* Number of adapted layers; *elements (optional): trainable elements, LoRA and modules_to_save. */
int lora_count(const lora_linears *ls, int64_t *elements);
/* The adapter-file key of a PEFT parameter name (as lora_parameters gives): ".default" and
 * "modules_to_save.default." dropped as get_peft_model_state_dict does. 0, or -1 if cap is short. */
int lora_adapter_key(const char *param_name, char *buf, size_t cap);
/* 1 when something under `prefix` (e.g. "vision_model.") trains: a LoRA layer or a module in full. */
int lora_trains_under(const lora_linears *ls, const char *prefix);
/* W + scaling * B A for one adapted linear (new float32 handle); NULL for a plain linear. */
tt_tensor *lora_merged_weight(const blip_linear *l);
/* Drop every adapter (tensors freed) and give the modules_to_save modules their base tensors back. */
void lora_detach(lora_linears *ls);

#endif
