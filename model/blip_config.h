/* blip_config.h — BlipConfig as transformers defines it, read from an HF config.json.
 *
 * transformers writes only the values that differ from the class defaults (to_diff_dict), so
 * every missing key takes the BlipTextConfig / BlipVisionConfig default (shared/spec). Keys of
 * the wrong type or out of range are errors naming the file and the key. */
#ifndef VLKIT_MODEL_BLIP_CONFIG_H
#define VLKIT_MODEL_BLIP_CONFIG_H

typedef struct {
    int hidden_size;         /* 768 */
    int intermediate_size;   /* 3072 */
    int num_hidden_layers;   /* 12 */
    int num_attention_heads; /* 12 */
    int image_size;          /* 384 */
    int patch_size;          /* 16 */
    double layer_norm_eps;   /* 1e-5 */
} blip_vision_config;

typedef struct {
    int vocab_size;              /* 30524 */
    int hidden_size;             /* 768 */
    int encoder_hidden_size;     /* = vision hidden_size, always */
    int intermediate_size;       /* 3072 */
    int num_hidden_layers;       /* 12 */
    int num_attention_heads;     /* 8 by class default; 12 in the real checkpoints */
    int max_position_embeddings; /* 512 */
    double layer_norm_eps;       /* 1e-12 */
    double label_smoothing;      /* 0.0 (transformers >= 4.38) */
    int bos_token_id;            /* 30522 = [DEC] */
    int eos_token_id;            /* 2: placeholder, NOT the stop token */
    int pad_token_id;            /* 0 */
    int sep_token_id;            /* 102 = [SEP], the stop token */
} blip_text_config;

typedef enum { BLIP_ARCH_CAPTION, BLIP_ARCH_VQA, BLIP_ARCH_RETRIEVAL, BLIP_ARCH_UNKNOWN } blip_arch;

typedef struct {
    blip_vision_config vision;
    blip_text_config text;
    int projection_dim;         /* 512 */
    int image_text_hidden_size; /* 256 */
    blip_arch arch;             /* from "architectures" */
} blip_config;

/* The class defaults (what an empty config.json means). */
blip_config blip_config_default(void);
/* Parse config.json (path to the file). Returns 0, or -1 with vk_err set. */
int blip_config_load(const char *path, blip_config *out);
/* Parse from a JSON string; `origin` names it in errors. */
int blip_config_parse(const char *json, const char *origin, blip_config *out);
const char *blip_arch_name(blip_arch a);

#endif
