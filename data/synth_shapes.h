/* synth_shapes.h — a synthetic caption dataset: coloured shapes on coloured backgrounds, with
 * captions from a small grammar. For the demo and for tests: it is small, learnable in minutes
 * on two cores, and scored with the same CIDEr as real data.
 *
 * Writes DIR/images/<split>_NNNNN.png, DIR/{train,val,test}.jsonl ({"image", "captions"}, paths
 * relative to DIR) and DIR/vocab.txt (BERT-style: the special tokens, then every word of the
 * grammar and single characters, so the captions tokenize to whole words). The same seed gives
 * the same files. Two caption styles: SHORT ("red circle") and LONG ("a small red circle on a
 * blue background", plus a second reference "a red circle on blue"). */
#ifndef VLKIT_DATA_SYNTH_SHAPES_H
#define VLKIT_DATA_SYNTH_SHAPES_H

#include <stdint.h>

typedef enum { SYNTH_STYLE_SHORT, SYNTH_STYLE_LONG } synth_style;

typedef struct {
    const char *out_dir;
    int n_train, n_val, n_test;
    int image_size;   /* pixels per side */
    uint64_t seed;
    synth_style style;
} synth_shapes_options;

int synth_shapes_write(const synth_shapes_options *o);

#endif
