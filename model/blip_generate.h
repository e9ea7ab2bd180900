/* blip_generate.h — greedy and beam-search decoding with the BLIP text decoder, token for token
 * what transformers' generate() produces (4.43: GenerationMixin._sample / _beam_search with
 * BeamSearchScorer), but with the cross-attention keys/values of each image computed once and a
 * self-attention KV cache, so a step costs one token's work.
 *
 * Logits processors, in transformers' order: repetition_penalty, no_repeat_ngram_size,
 * min_length (bans the stop token while the sequence is shorter). */
#ifndef VLKIT_MODEL_BLIP_GENERATE_H
#define VLKIT_MODEL_BLIP_GENERATE_H

#include "model/blip_text.h"

typedef struct {
    int num_beams;             /* 1: greedy */
    int max_length;            /* total tokens incl. [DEC] and the prompt (transformers' max_length) */
    int min_length;            /* same counting; 0: off */
    double length_penalty;     /* beam: score = sum_logprobs / generated_len ** length_penalty */
    double repetition_penalty; /* 1.0: off (CTRL's penalty, transformers' definition) */
    int no_repeat_ngram_size;  /* 0: off */
    int stop_token_id;         /* [SEP] */
    int pad_token_id;          /* [PAD] */
} blip_gen_params;

/* max_length 20, min_length 0, 1 beam, penalties off; stop/pad from the text config. */
blip_gen_params blip_gen_default_params(const blip_text_config *cfg);

typedef struct {
    int64_t *ids;         /* [rows, len], row-major; starts with the prompt ([DEC] ...) */
    int64_t rows, len;
    float *step_scores;   /* greedy with keep_scores: processed logits [rows, steps, V] */
    int64_t steps;
    double *sequence_scores; /* beam: the winning normalised score per row */
} blip_gen_output;
void blip_gen_output_free(blip_gen_output *o);

/* image_embeds [B, S, D] (the encoder output the decoder attends to); encoder_mask [B, S] or
 * NULL (all attended). prompt [B, P]: decoder input ids on the host starting with [DEC];
 * prompt_mask [B, P] (NULL: all ones) masks padding inside right-padded prompts of different
 * lengths. Returns 0, or -1 with vk_err set. */
int blip_generate(const blip_text *t, tt_tensor *image_embeds, tt_tensor *encoder_mask, const int64_t *prompt,
                  const int64_t *prompt_mask, int64_t batch, int64_t prompt_len, const blip_gen_params *gp, int keep_scores,
                  blip_gen_output *out);

#endif
