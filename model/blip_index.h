/* blip_index.h — an image index for text->image search: unit-length image embeddings with the
 * paths they came from, in one safetensors file.
 *
 *   blip_index ix;
 *   blip_index_init(&ix, 256, "models/blip-itm-base-coco", 384);
 *   blip_index_add(&ix, "/photos/a.jpg", vec);                  // vec: 256 floats
 *   blip_index_write(&ix, "photos.safetensors");                // atomic
 *   blip_index_free(&ix);
 *   blip_index_read("photos.safetensors", &ix);                 // then blip_index_find / _rank
 *
 * File format (safetensors, readable by safetensors.torch.load_file):
 *   tensor "embeddings": F32 [N, D], row i = L2-normalised vision_proj(CLS) of image i;
 *   __metadata__ (string -> string):
 *     "format": "pt", "vlkit_index": "1" (format version), "model": the model folder (absolute),
 *     "dim": D, "count": N, "image_size": the model's input size, "paths": a JSON array of N
 *     strings (the images' absolute paths, row order).
 * Everything a reader needs is checked (version, dim/count against the tensor, paths count). */
#ifndef VLKIT_MODEL_BLIP_INDEX_H
#define VLKIT_MODEL_BLIP_INDEX_H

#include <stdint.h>

typedef struct {
    int64_t n, cap;   /* rows used / allocated */
    int dim;          /* D = image_text_hidden_size */
    float *emb;       /* [n, dim] row-major, owned */
    char **paths;     /* n malloc'd strings */
    char *model;      /* the model folder it was made with */
    int image_size;   /* 0 when unknown */
    void *lookup;     /* path -> row (stb_ds string map), private */
} blip_index;

/* An empty index. Returns 0 or -1 + vk_err (out of memory). */
int blip_index_init(blip_index *ix, int dim, const char *model, int image_size);
void blip_index_free(blip_index *ix);

/* Read an index file. On error nothing is allocated and vk_err names the file and the problem. */
int blip_index_read(const char *path, blip_index *out);
/* Write atomically (temporary name, fsync, rename): an existing file is replaced only once the
 * new one is complete. An empty index is refused. */
int blip_index_write(const blip_index *ix, const char *path);

/* Append a row (dim floats, copied). The path must not be in the index yet. */
int blip_index_add(blip_index *ix, const char *path, const float *vec);
/* Row of a path, or -1. */
int64_t blip_index_find(const blip_index *ix, const char *path);

/* Cosine scores of a unit query (dim floats) against every row, best first: the first k rows
 * (all when k <= 0 or k > n) go to rows[] / scores[] (caller's arrays of at least k, or n,
 * entries); ties keep index order. Returns the number written, -1 + vk_err on error. */
int64_t blip_index_rank(const blip_index *ix, const float *query, int64_t k, int64_t *rows, float *scores);

/* Rank arbitrary scores the same way (best first, ties in index order); used for texts too. */
int64_t blip_rank_scores(const float *scores, int64_t n, int64_t k, int64_t *rows);

#endif
