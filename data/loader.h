/* loader.h — batches of (image pixels, caption tokens) decoded ahead of the model by worker
 * threads.
 *
 *   loader_opts o = loader_default_opts();
 *   o.batch_size = 8; o.workers = 2; o.seed = 42;
 *   o.image = cfg;                        // image_preproc_load(model_dir, &cfg)
 *   o.tokenizer = tok;                    // wordpiece_load(model_dir)
 *   o.prompt = "a picture of ";           // o.bos_id = wordpiece_specials(tok).bos  ([DEC])
 *   o.start_epoch = e; o.start_position = p;   // resume: from a checkpoint's next_epoch/next_position
 *   loader *ld = loader_new(ds, &o);
 *   if (!ld) die(vk_err_msg());
 *   for (step...) {
 *       const loader_batch *b;
 *       if (loader_next(ld, &b) != 0) die(vk_err_msg());   // a bad image under on_error=fail, ...
 *       if (b->n == 0) break;                              // only with o.epochs > 0, or in eval mode
 *       train_step(b->pixels, b->ids, b->mask, b->prompt_len, b->n, b->cols);
 *       save_position(b->next_epoch, b->next_position);
 *   }
 *   loader_free(ld);
 *
 * Training mode walks ds->examples (every (image, caption) pair). The order of epoch e is
 * shuffle_permutation(seed, e, n_examples) (data/shuffle.h), or the dataset order without
 * shuffle; it depends on nothing else — not on the number of workers, not on timing — and
 * batches come out in that order. A batch never spans two epochs: the last one of an epoch is
 * short, or dropped with drop_last. Starting at (start_epoch, start_position) gives exactly the
 * batches an uninterrupted run gives from there.
 *
 * Text: each example is tokenized as "[CLS] prompt caption [SEP]" (the prompt, then a space
 * unless the prompt ends in one, then the caption — BLIP's prompt + caption), truncated to
 * max_length tokens (specials included, as transformers truncates), right-padded with [PAD] to
 * the longest row of the batch; mask is 1 on tokens. prompt_len[r] counts [CLS] plus the
 * prompt's tokens (BLIP's len(tokenizer(prompt).input_ids) - 1, at most the row's length): the
 * trainer masks those label positions. bos_id >= 0 replaces the first token (BLIP's [DEC]).
 *
 * Bad images: an image that fails to decode (corrupt, truncated, unknown format) is a bad
 * record under the dataset's policy (caption_dataset.on_error / max_bad; the dataset's own bad
 * records count towards max_bad too). Skipped: the example is replaced by the next one in the
 * order so batches stay full, every other example of that image is skipped too, and the image
 * is counted once (loader_bad_images) with a message (loader_warnings). Because the order is
 * fixed and an image's badness is a property of its bytes, the batches are the same for any
 * number of workers. With on_error FAIL (or past max_bad) loader_next returns -1 with the
 * message "<file:line>: <image>: <why>", and keeps returning it.
 *
 * Evaluation mode (mode = LOADER_EVAL): one row per RECORD (image), in file order, one pass;
 * ids hold the generation prefix [CLS]/bos + prompt tokens (no [SEP]) in every row, example[r]
 * is the record index; after the last record loader_next gives n == 0.
 *
 * Threads: loader_new starts `workers` threads; they decode into a ring of prefetch*batch_size
 * image slots, the caller's thread copies finished slots into the batch. All loader_* calls
 * must come from one thread (the consumer). The dataset, the tokenizer and the prompt string are
 * borrowed (read-only, shared with the workers) and must outlive the loader. */
#ifndef VLKIT_DATA_LOADER_H
#define VLKIT_DATA_LOADER_H

#include "data/caption_dataset.h"
#include "data/preprocess.h"
#include "data/wordpiece.h"

#include <stdint.h>

typedef enum {
    LOADER_TRAIN,   /* examples, shuffled per epoch, endless unless epochs > 0 */
    LOADER_EVAL,    /* records (one per image) in file order, one pass */
} loader_mode;

typedef struct {
    loader_mode mode;
    int batch_size;              /* rows per batch: 8 */
    int workers;                 /* decoding threads; 0 = decode in the caller's thread */
    int prefetch;                /* batches decoded ahead of the consumer (with workers > 0): 2 */
    uint64_t seed;               /* the order: shuffle_permutation(seed, epoch, n) */
    int shuffle;                 /* 1; 0 = dataset order every epoch */
    int drop_last;               /* 1: no short batch at the end of an epoch */
    int64_t epochs;              /* train: n == 0 after this many epochs; 0 = endless */
    int64_t start_epoch;         /* resume point: the first batch starts at this epoch ... */
    int64_t start_position;      /* ... and this position in its order (eval: record index) */
    int64_t limit;               /* eval: at most this many records; 0 = all */
    image_preproc_config image;  /* size, mean/std: image_preproc_default() */
    const wordpiece *tokenizer;  /* NULL: pixels only (cols = 0, ids/mask NULL) */
    int max_length;              /* tokens per row incl. [CLS]/[SEP]: 40 (BLIP); >= 2 */
    const char *prompt;          /* NULL or "" for none; BLIP captioning: "a picture of " */
    int64_t bos_id;              /* >= 0: the first token of every row ([DEC]); -1: keep [CLS] */
    int shard_index, shard_count;/* train: this rank's part of each global batch (0, 1: all) */
} loader_opts;

/* Sharding (data-parallel training, shard_count = world size W > 1, shard_index = rank r): the
 * epoch's order is cut into global steps of G = W * batch_size positions; rank r's batch of a
 * step is positions [r*B, (r+1)*B) of it, and the last short step of an epoch (without
 * drop_last) is split as evenly as possible: rank r gets [floor(r*M/W), floor((r+1)*M/W)) of
 * its M positions. The W batches of a step are therefore exactly the one batch of G rows that
 * an unsharded loader with batch_size G gives. Every rank gets a batch for every step, possibly
 * with n == 0 (end == 0: "nothing for this rank this step"). A bad image is skipped without
 * replacement (the batch is one row shorter): replacing it would need a rank to know whether
 * another rank's images decode. next_epoch / next_position are global (the same on every rank);
 * a start position must be at a step boundary (a multiple of G). */

/* TRAIN, batch 8, workers 2, prefetch 2, seed 0, shuffle 1, drop_last 0, epochs 0, start (0, 0),
 * limit 0, image_preproc_default(), no tokenizer, max_length 40, no prompt, bos_id -1, shard 0 of 1. */
loader_opts loader_default_opts(void);

/* One batch. Every array is owned by the loader and valid until the next loader_next or
 * loader_free; copy what must live longer (e.g. into a tensor). */
typedef struct {
    int n;                    /* rows; 0 = no more batches (eval end, or epochs reached) */
    int cols;                 /* token columns: the longest row (0 without a tokenizer) */
    int height, width;        /* pixel size per image */
    float *pixels;            /* n x 3 x height x width, CHW per image, normalised */
    int64_t *ids;             /* n x cols, [PAD] after each row's end */
    int64_t *mask;            /* n x cols: 1 token, 0 padding */
    int *lengths;             /* per row: tokens before padding */
    int *prompt_len;          /* per row: leading positions that are [CLS]/bos + prompt */
    int64_t *example;         /* per row: index into ds->examples (train) or ds->records (eval) */
    int64_t *record;          /* per row: index into ds->records */
    int64_t *image_id;        /* per row: the record's image_id */
    const char **image;       /* per row: image path (owned by the dataset) */
    const char **caption;     /* per row: the caption tokenized (train); NULL in eval mode */
    int64_t epoch, position;  /* where this batch started */
    int64_t next_epoch, next_position;   /* where the next batch starts: save these to resume */
    int end;                  /* 1: no more batches (n is 0 then) */
} loader_batch;

typedef struct loader loader;

/* NULL with vk_err on bad options or out of memory (threads not started then). */
loader *loader_new(const caption_dataset *ds, const loader_opts *opts);

/* The next batch into *out (pointer to loader-owned memory). 0, or -1 with vk_err. */
int loader_next(loader *ld, const loader_batch **out);

/* Distinct images that failed to decode so far (skipped). */
int64_t loader_bad_images(const loader *ld);

/* Messages for those images ("file:line: image: why"), the first CAPTION_MAX_WARNINGS, oldest
 * first; *n = how many. Valid until the next loader_next or loader_free. */
const char *const *loader_warnings(const loader *ld, int *n);

/* Batches in one epoch when every image decodes: ceil(n / batch_size), floor with drop_last;
 * sharded: global steps per epoch
 * (n = examples; records in eval mode, after limit). */
int64_t loader_batches_per_epoch(const loader *ld);

/* Stops and joins the workers, frees everything. NULL is fine. */
void loader_free(loader *ld);

#endif
