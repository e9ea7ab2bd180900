/* eval_retrieval.h — image-text retrieval on a caption dataset with the standard COCO / Flickr30k
 * protocol: every image against every caption of the set; text->image Recall@K counts captions
 * whose image ranks in the top K; image->text Recall@K counts images with any of their captions
 * in the top K. Ranking by the cosine of the contrastive features, optionally re-ranking each
 * query's top `rerank` candidates by the ITM match probability (BLIP uses k = 256 on COCO). */
#ifndef VLKIT_TRAIN_EVAL_RETRIEVAL_H
#define VLKIT_TRAIN_EVAL_RETRIEVAL_H

#include "data/caption_dataset.h"
#include "model/blip_retriever.h"

typedef struct {
    double t2i[3], i2t[3]; /* Recall@1, @5, @10 in percent */
    int images, texts;
} retrieval_scores;

int eval_retrieval(const blip_retriever *r, const caption_dataset *ds, int max_images, int rerank, int batch,
                   void (*on_warning)(const char *), retrieval_scores *out);

#endif
