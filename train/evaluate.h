/* evaluate.h — caption a held-out set and score it with the built-in evaluators (CIDEr-D,
 * BLEU-1..4, ROUGE-L with the PTB tokenisation of pycocoevalcap): `vlkit eval` and the
 * evaluation during training. One caption per image (record), its references all the record's
 * captions; the prompt is not part of the scored caption (BLIP scores caption[len(prompt):]). */
#ifndef VLKIT_TRAIN_EVALUATE_H
#define VLKIT_TRAIN_EVALUATE_H

#include "data/caption_dataset.h"
#include "model/blip_captioner.h"
#include "train/dist.h"

typedef struct {
    double bleu[4], rouge_l, cider;
    int n_images;  /* captioned and scored */
    int n_failed;  /* images that could not be read (skipped, reported in warnings) */
} caption_eval_scores;

typedef struct {
    int max_samples;      /* 0: every record */
    int batch_size;
    const char *prompt;   /* NULL or "" for none */
    blip_gen_params gen;
    const char *results_path; /* COCO results JSON to write ([{"image_id", "caption"}]), or NULL */
    void (*on_warning)(const char *msg); /* bad images; NULL: silent (counted) */
    train_dist *dist;         /* NULL or one rank: everything here. Several: rank r captions the records
                                 i % world == r, rank 0 gathers and scores (the others get n_images 0) */
    const char *dist_key;     /* unique per evaluation of a run (e.g. the step), for the gather */
} caption_eval_options;

int caption_evaluate(const blip_captioner *c, const caption_dataset *ds, const caption_eval_options *o,
                     caption_eval_scores *out);

#endif
