/* loader.c — the prefetching batch loader (see loader.h for the contract).
 *
 * The stream: every example the run will see has a global sequence number g = epoch * n +
 * position (training) or g = record index (eval). Workers claim g in increasing order into a
 * ring of R image slots (slot g % R), decode + tokenize it there, and mark it good or bad. The
 * consumer walks g in the same order, copying good slots into the batch and skipping bad ones.
 * Which example fills which batch row is therefore decided by the consumer alone, in g order:
 * worker count and timing only change WHEN a slot is ready, never what is in it.
 *
 * A worker may claim g only while g < cursor + R (cursor = the consumer's next g), so slot
 * g % R is free: its previous occupant g - R was consumed. Slots pass between threads under
 * `mu`: a worker fills a BUSY slot without the lock and publishes it by setting GOOD/BAD under
 * the lock; the consumer reads it after seeing that state under the lock.
 *
 * The copy from the slot into the batch (1.7 MB per 384x384 image, ~0.2 ms) is the price of
 * keeping batches full when an image is bad: a batch's rows are only known once every example
 * before them is known to be good or bad. */
#include "data/loader.h"

#include "data/shuffle.h"
#include "util/error.h"

#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { SLOT_FREE, SLOT_BUSY, SLOT_GOOD, SLOT_BAD };

typedef struct {
    int state;
    int64_t g;           /* sequence number it holds */
    int64_t item;        /* example index (train) or record index (eval) */
    int bad_image;       /* BAD because the image failed (else the text failed) */
    float *px;           /* image_preproc_numel floats */
    int64_t *ids;        /* up to max_length tokens */
    int len;
    char *err;           /* BAD: why (NULL when the image was already known bad) */
} slot;

typedef struct {
    int64_t epoch;
    int64_t *perm;
} perm_entry;

struct loader {
    const caption_dataset *ds;
    loader_opts o;
    size_t numel;          /* floats per image */
    int64_t n_items;       /* per epoch: examples (train) or records (eval) */
    int64_t g_end;         /* first g never produced */
    int64_t cursor;        /* consumer: next g to consume (mu) */
    int64_t next_claim;    /* next g a worker takes (mu) */
    int R;
    slot *slots;
    pthread_mutex_t mu;
    pthread_cond_t work_cv;   /* workers: a slot was freed, or stop */
    pthread_cond_t done_cv;   /* consumer: a slot was finished */
    int stop, oom;            /* (mu) */
    pthread_t *threads;
    int n_threads;
    perm_entry *perms;        /* permutations of the epochs in flight (mu) */
    int n_perms;
    unsigned char *rec_bad;   /* per record: its image failed to decode (mu) */

    /* consumer-only state */
    unsigned char *rec_reported;
    int64_t n_bad_images;
    char **warnings;
    int n_warnings;
    char *fail_msg;           /* sticky error */
    int prompt_ntok;          /* prompt tokens without specials */
    int64_t *prefix;          /* eval: [CLS]/bos + prompt tokens */
    int prefix_len;
    int64_t *stage;           /* batch_size x max_length token staging before padding */
    loader_batch batch;

    /* sharding (shard_count > 1, train mode): g counts this rank's own positions; see loader.h */
    int sharded;
    int64_t sh_G;             /* positions per global step */
    int64_t sh_F;             /* full global steps per epoch */
    int64_t sh_M;             /* positions of the short last step (0: none) */
    int64_t sh_rem;           /* this rank's share of them */
    int64_t sh_off;           /* where that share starts in the short step */
    int64_t sh_L;             /* this rank's positions per epoch */
    int64_t sh_steps;         /* global steps per epoch */
    int64_t step;             /* consumer: the next global step (epoch * sh_steps + k) */
};

/* This rank's g-th position -> the global sequence number epoch * n + position. */
static int64_t shard_to_global(const loader *ld, int64_t g) {
    int64_t B = ld->o.batch_size, e = g / ld->sh_L, j = g % ld->sh_L, pos;
    if (j < ld->sh_F * B) pos = (j / B) * ld->sh_G + (int64_t)ld->o.shard_index * B + j % B;
    else pos = ld->sh_F * ld->sh_G + ld->sh_off + (j - ld->sh_F * B);
    return e * ld->n_items + pos;
}

loader_opts loader_default_opts(void) {
    loader_opts o = {
        .mode = LOADER_TRAIN,
        .batch_size = 8,
        .workers = 2,
        .prefetch = 2,
        .seed = 0,
        .shuffle = 1,
        .drop_last = 0,
        .epochs = 0,
        .start_epoch = 0,
        .start_position = 0,
        .limit = 0,
        .image = image_preproc_default(),
        .tokenizer = NULL,
        .max_length = 40,
        .prompt = NULL,
        .bos_id = -1,
        .shard_index = 0,
        .shard_count = 1,
    };
    return o;
}

/* ---- the order ------------------------------------------------------------------------------ */

/* The item at sequence number g (under mu). -1 when a permutation cannot be allocated. */
static int64_t item_at(loader *ld, int64_t g) {
    if (ld->o.mode == LOADER_EVAL) return g;
    int64_t gg = ld->sharded ? shard_to_global(ld, g) : g;
    int64_t epoch = gg / ld->n_items, pos = gg % ld->n_items;
    if (!ld->o.shuffle) return pos;
    for (int i = 0; i < ld->n_perms; i++)
        if (ld->perms[i].epoch == epoch) return ld->perms[i].perm[pos];
    /* drop the epochs the consumer has left behind, then add this one */
    int64_t oldest = ld->sharded ? ld->cursor / ld->sh_L : ld->cursor / ld->n_items;
    int k = 0;
    for (int i = 0; i < ld->n_perms; i++) {
        if (ld->perms[i].epoch < oldest) free(ld->perms[i].perm);
        else ld->perms[k++] = ld->perms[i];
    }
    ld->n_perms = k;
    perm_entry *np = realloc(ld->perms, (size_t)(k + 1) * sizeof *np);
    int64_t *perm = malloc((size_t)ld->n_items * sizeof *perm);
    if (np) ld->perms = np;
    if (!np || !perm) {
        free(perm);
        return -1;
    }
    shuffle_permutation(ld->o.seed, epoch, ld->n_items, perm);
    ld->perms[k] = (perm_entry){.epoch = epoch, .perm = perm};
    ld->n_perms = k + 1;
    return perm[pos];
}

static int64_t record_of(const loader *ld, int64_t item) {
    return ld->o.mode == LOADER_EVAL ? item : ld->ds->examples[item].record;
}

static const char *caption_of(const loader *ld, int64_t item) {
    if (ld->o.mode == LOADER_EVAL) return NULL;
    const caption_example *e = &ld->ds->examples[item];
    return ld->ds->records[e->record].captions[e->caption];
}

/* ---- one example ---------------------------------------------------------------------------- */

/* Claim the next sequence number (under mu, with next_claim < g_end and a free slot). NULL when
 * out of memory (ld->oom set). *known_bad: the image already failed elsewhere. */
static slot *claim(loader *ld, int *known_bad) {
    int64_t g = ld->next_claim;
    int64_t item = item_at(ld, g);
    if (item < 0) {
        ld->oom = 1;
        return NULL;
    }
    ld->next_claim++;
    slot *s = &ld->slots[g % ld->R];
    s->state = SLOT_BUSY;
    s->g = g;
    s->item = item;
    *known_bad = ld->rec_bad[record_of(ld, item)];
    return s;
}

/* "[CLS] prompt caption [SEP]" truncated to max_length into s->ids. */
static int tokenize(loader *ld, slot *s, const char *caption) {
    const char *prompt = ld->o.prompt ? ld->o.prompt : "";
    size_t np = strlen(prompt), nc = strlen(caption);
    int space = np > 0 && prompt[np - 1] != ' ';
    char *text = malloc(np + space + nc + 1);
    if (!text) return vk_err_set("out of memory");
    memcpy(text, prompt, np);
    if (space) text[np] = ' ';
    memcpy(text + np + space, caption, nc + 1);
    wordpiece_encode_opts eo = wordpiece_encode_defaults();
    eo.max_length = ld->o.max_length;
    wordpiece_batch wb;
    const char *texts[1] = {text};
    int rc = wordpiece_encode(ld->o.tokenizer, texts, 1, &eo, &wb);
    free(text);
    if (rc) return -1;
    s->len = wb.lengths[0];
    memcpy(s->ids, wb.ids, (size_t)s->len * sizeof *s->ids);
    wordpiece_batch_free(&wb);
    return 0;
}

/* Decode and tokenize a claimed slot (no lock held; touches only the slot and read-only data).
 * Returns the state to publish. */
static int process(loader *ld, slot *s, int known_bad) {
    s->err = NULL;
    s->bad_image = 0;
    s->len = 0;
    const caption_record *rec = &ld->ds->records[record_of(ld, s->item)];
    if (known_bad || image_preprocess_file(&ld->o.image, rec->image, s->px) != 0) {
        s->bad_image = 1;
        if (!known_bad) s->err = strdup(vk_err_msg());
        return SLOT_BAD;
    }
    const char *caption = caption_of(ld, s->item);
    if (caption && ld->o.tokenizer && tokenize(ld, s, caption) != 0) {
        s->err = strdup(vk_err_msg());
        return SLOT_BAD;
    }
    return SLOT_GOOD;
}

/* Publish a processed slot (under mu). */
static void finish(loader *ld, slot *s, int state) {
    s->state = state;
    if (s->bad_image) ld->rec_bad[record_of(ld, s->item)] = 1;
    pthread_cond_signal(&ld->done_cv);
}

static int can_claim(const loader *ld) {
    return !ld->oom && ld->next_claim < ld->g_end && ld->next_claim < ld->cursor + ld->R;
}

static void *worker_main(void *arg) {
    loader *ld = arg;
    pthread_mutex_lock(&ld->mu);
    for (;;) {
        while (!ld->stop && !can_claim(ld)) pthread_cond_wait(&ld->work_cv, &ld->mu);
        if (ld->stop) break;
        int known_bad;
        slot *s = claim(ld, &known_bad);
        if (!s) {
            pthread_cond_signal(&ld->done_cv);   /* let the consumer see ld->oom */
            continue;
        }
        pthread_mutex_unlock(&ld->mu);
        int state = process(ld, s, known_bad);
        pthread_mutex_lock(&ld->mu);
        finish(ld, s, state);
    }
    pthread_mutex_unlock(&ld->mu);
    return NULL;
}

/* ---- setup ---------------------------------------------------------------------------------- */

static int tokenize_prompt(loader *ld) {
    const char *prompt = ld->o.prompt ? ld->o.prompt : "";
    int64_t *ids = NULL;
    size_t n = 0;
    if (wordpiece_tokenize(ld->o.tokenizer, prompt, &ids, &n) != 0) return vk_err_prefix("prompt");
    ld->prompt_ntok = (int)n;
    /* eval rows: [CLS] prompt, as BLIP's generate() starts (its [SEP] dropped) */
    ld->prefix_len = 1 + (int)n;
    ld->prefix = malloc((size_t)ld->prefix_len * sizeof *ld->prefix);
    if (!ld->prefix) {
        free(ids);
        return vk_err_set("out of memory");
    }
    wordpiece_special_ids sp = wordpiece_specials(ld->o.tokenizer);
    ld->prefix[0] = ld->o.bos_id >= 0 ? ld->o.bos_id : sp.cls;
    if (n) memcpy(ld->prefix + 1, ids, n * sizeof *ids);
    free(ids);
    return 0;
}

static int check_opts(const caption_dataset *ds, const loader_opts *o) {
    if (!ds || ds->n_records <= 0) return vk_err_set("loader: an empty dataset");
    if (o->mode != LOADER_TRAIN && o->mode != LOADER_EVAL) return vk_err_set("loader: unknown mode %d", (int)o->mode);
    if (o->batch_size < 1 || o->batch_size > 65536) return vk_err_set("loader: batch_size %d out of range (1..65536)", o->batch_size);
    if (o->workers < 0 || o->workers > 256) return vk_err_set("loader: workers %d out of range (0..256)", o->workers);
    if (o->prefetch < 0 || o->prefetch > 1024) return vk_err_set("loader: prefetch %d out of range (0..1024)", o->prefetch);
    if (o->epochs < 0) return vk_err_set("loader: epochs %lld is negative", (long long)o->epochs);
    if (o->start_epoch < 0 || o->start_position < 0)
        return vk_err_set("loader: start (epoch %lld, position %lld) is negative", (long long)o->start_epoch,
                          (long long)o->start_position);
    if (o->limit < 0) return vk_err_set("loader: limit %lld is negative", (long long)o->limit);
    if (o->shard_count < 1 || o->shard_count > 65536 || o->shard_index < 0 || o->shard_index >= o->shard_count)
        return vk_err_set("loader: shard %d of %d out of range", o->shard_index, o->shard_count);
    if (o->shard_count > 1 && o->mode != LOADER_TRAIN) return vk_err_set("loader: sharding is for training mode");
    if (o->tokenizer && (o->max_length < 2 || o->max_length > 1 << 20))
        return vk_err_set("loader: max_length %d out of range (2..%d)", o->max_length, 1 << 20);
    if (o->image.height < 1 || o->image.width < 1) return vk_err_set("loader: image size %dx%d", o->image.width, o->image.height);
    return 0;
}

/* The sharded stream's constants, and its start (*start: global in, this rank's g out). */
static int shard_setup(loader *ld, int64_t *start) {
    const loader_opts *o = &ld->o;
    int64_t W = o->shard_count, r = o->shard_index, B = o->batch_size, N = ld->n_items;
    ld->sharded = 1;
    ld->sh_G = W * B;
    ld->sh_F = N / ld->sh_G;
    ld->sh_M = o->drop_last ? 0 : N % ld->sh_G;
    ld->sh_off = r * ld->sh_M / W;
    ld->sh_rem = (r + 1) * ld->sh_M / W - ld->sh_off;
    ld->sh_L = ld->sh_F * B + ld->sh_rem;
    ld->sh_steps = ld->sh_F + (ld->sh_M > 0);
    if (ld->sh_steps == 0)
        return vk_err_set("loader: drop_last with %lld examples, fewer than one global batch of %lld (%lld ranks x %lld)",
                          (long long)N, (long long)ld->sh_G, (long long)W, (long long)B);
    int64_t e = o->start_epoch, p = o->start_position;
    if (p % ld->sh_G && p != N)
        return vk_err_set("loader: start position %lld is not at a step boundary of %lld ranks x batch %lld "
                          "(was it saved with another number of ranks or batch size?)",
                          (long long)p, (long long)W, (long long)B);
    int64_t k = p / ld->sh_G;
    if (k >= ld->sh_steps) e++, k = 0;
    ld->step = e * ld->sh_steps + k;
    *start = e * ld->sh_L + (k < ld->sh_F ? k * B : ld->sh_F * B);
    ld->g_end = ld->sh_L == 0 ? 0 : o->epochs ? o->epochs * ld->sh_L : INT64_MAX;
    return 0;
}

loader *loader_new(const caption_dataset *ds, const loader_opts *opts) {
    loader_opts o = opts ? *opts : loader_default_opts();
    if (check_opts(ds, &o)) return NULL;
    loader *ld = calloc(1, sizeof *ld);
    if (!ld) {
        vk_err_set("out of memory");
        return NULL;
    }
    ld->ds = ds;
    ld->o = o;
    ld->numel = image_preproc_numel(&o.image);
    int B = o.batch_size;
    int64_t start;
    if (o.mode == LOADER_EVAL) {
        ld->n_items = o.limit && o.limit < ds->n_records ? o.limit : ds->n_records;
        ld->g_end = ld->n_items;
        start = o.start_position;
        if (start > ld->n_items) start = ld->n_items;
    } else {
        ld->n_items = ds->n_examples;
        if (o.start_position > ld->n_items || o.start_epoch > INT64_MAX / ld->n_items - 2 ||
            (o.epochs && o.epochs > INT64_MAX / ld->n_items)) {
            vk_err_set("loader: start (epoch %lld, position %lld) or epochs %lld out of range for %lld examples",
                       (long long)o.start_epoch, (long long)o.start_position, (long long)o.epochs,
                       (long long)ld->n_items);
            free(ld);
            return NULL;
        }
        start = o.start_epoch * ld->n_items + o.start_position;
        ld->g_end = o.epochs ? o.epochs * ld->n_items : INT64_MAX;
        if (o.shard_count > 1 && shard_setup(ld, &start)) {
            free(ld);
            return NULL;
        }
    }
    ld->cursor = ld->next_claim = start;
    ld->R = o.workers ? B * (o.prefetch ? o.prefetch : 1) : 1;
    pthread_mutex_init(&ld->mu, NULL);
    pthread_cond_init(&ld->work_cv, NULL);
    pthread_cond_init(&ld->done_cv, NULL);

    int maxlen = o.tokenizer ? o.max_length : 0;
    loader_batch *b = &ld->batch;
    ld->slots = calloc((size_t)ld->R, sizeof *ld->slots);
    ld->rec_bad = calloc((size_t)ds->n_records, 1);
    ld->rec_reported = calloc((size_t)ds->n_records, 1);
    b->pixels = malloc((size_t)B * ld->numel * sizeof(float));
    b->lengths = calloc((size_t)B, sizeof *b->lengths);
    b->prompt_len = calloc((size_t)B, sizeof *b->prompt_len);
    b->example = calloc((size_t)B, sizeof *b->example);
    b->record = calloc((size_t)B, sizeof *b->record);
    b->image_id = calloc((size_t)B, sizeof *b->image_id);
    b->image = calloc((size_t)B, sizeof *b->image);
    b->caption = calloc((size_t)B, sizeof *b->caption);
    int ok = ld->slots && ld->rec_bad && ld->rec_reported && b->pixels && b->lengths && b->prompt_len &&
             b->example && b->record && b->image_id && b->image && b->caption;
    if (ok && maxlen) {
        ld->stage = malloc((size_t)B * (size_t)maxlen * sizeof *ld->stage);
        b->ids = malloc((size_t)B * (size_t)maxlen * sizeof *b->ids);
        b->mask = malloc((size_t)B * (size_t)maxlen * sizeof *b->mask);
        ok = ld->stage && b->ids && b->mask;
    }
    for (int i = 0; ok && i < ld->R; i++) {
        ld->slots[i].px = malloc(ld->numel * sizeof(float));
        ld->slots[i].ids = maxlen ? malloc((size_t)maxlen * sizeof(int64_t)) : NULL;
        ok = ld->slots[i].px && (!maxlen || ld->slots[i].ids);
    }
    if (!ok) {
        vk_err_set("loader: out of memory (%d image slots of %zu bytes)", ld->R, ld->numel * sizeof(float));
        loader_free(ld);
        return NULL;
    }
    if (o.tokenizer && tokenize_prompt(ld)) {
        loader_free(ld);
        return NULL;
    }
    if (o.mode == LOADER_EVAL && o.tokenizer && ld->prefix_len > maxlen) {
        /* the eval prefix is written into ids (B x max_length): it must fit a row */
        vk_err_set("loader: the prompt takes %d tokens, more than max_length %d", ld->prefix_len, maxlen);
        loader_free(ld);
        return NULL;
    }

    ld->threads = calloc((size_t)o.workers + 1, sizeof *ld->threads);
    if (!ld->threads) {
        vk_err_set("out of memory");
        loader_free(ld);
        return NULL;
    }
    for (int i = 0; i < o.workers; i++) {
        if (pthread_create(&ld->threads[i], NULL, worker_main, ld) != 0) {
            vk_err_set("loader: cannot start worker thread %d", i);
            loader_free(ld);
            return NULL;
        }
        ld->n_threads++;
    }
    return ld;
}

void loader_free(loader *ld) {
    if (!ld) return;
    pthread_mutex_lock(&ld->mu);
    ld->stop = 1;
    pthread_cond_broadcast(&ld->work_cv);
    pthread_mutex_unlock(&ld->mu);
    for (int i = 0; i < ld->n_threads; i++) pthread_join(ld->threads[i], NULL);
    free(ld->threads);
    pthread_cond_destroy(&ld->work_cv);
    pthread_cond_destroy(&ld->done_cv);
    pthread_mutex_destroy(&ld->mu);
    for (int i = 0; ld->slots && i < ld->R; i++) {
        free(ld->slots[i].px);
        free(ld->slots[i].ids);
        free(ld->slots[i].err);
    }
    free(ld->slots);
    for (int i = 0; i < ld->n_perms; i++) free(ld->perms[i].perm);
    free(ld->perms);
    free(ld->rec_bad);
    free(ld->rec_reported);
    for (int i = 0; i < ld->n_warnings; i++) free(ld->warnings[i]);
    free(ld->warnings);
    free(ld->fail_msg);
    free(ld->prefix);
    free(ld->stage);
    loader_batch *b = &ld->batch;
    free(b->pixels);
    free(b->ids);
    free(b->mask);
    free(b->lengths);
    free(b->prompt_len);
    free(b->example);
    free(b->record);
    free(b->image_id);
    free(b->image);
    free(b->caption);
    free(ld);
}

/* ---- the consumer --------------------------------------------------------------------------- */

int64_t loader_bad_images(const loader *ld) { return ld->n_bad_images; }

const char *const *loader_warnings(const loader *ld, int *n) {
    *n = ld->n_warnings;
    return (const char *const *)ld->warnings;
}

int64_t loader_batches_per_epoch(const loader *ld) {
    int64_t B = ld->o.batch_size;
    if (ld->sharded) return ld->sh_steps;
    return ld->o.drop_last && ld->o.mode == LOADER_TRAIN ? ld->n_items / B : (ld->n_items + B - 1) / B;
}

/* Make the error sticky: every later loader_next returns it. */
static int fail(loader *ld, const char *msg) {
    if (!ld->fail_msg) ld->fail_msg = strdup(msg);
    return vk_err_set("%s", msg);
}

/* A slot came out bad: apply the dataset's policy. 0 = skip it, -1 = stop (vk_err set). */
static int on_bad(loader *ld, const slot *s) {
    int64_t r = record_of(ld, s->item);
    char where[4096], msg[8192];
    caption_dataset_where(ld->ds, r, where, sizeof where);
    if (!s->bad_image) {
        /* only out-of-memory reaches here: captions are checked for UTF-8 when loaded */
        snprintf(msg, sizeof msg, "%s: caption: %s", where, s->err ? s->err : "cannot tokenize");
        return fail(ld, msg);
    }
    if (ld->rec_reported[r]) return 0;   /* that image was counted at its first example */
    ld->rec_reported[r] = 1;
    ld->n_bad_images++;
    snprintf(msg, sizeof msg, "%s: %s", where, s->err ? s->err : "the image cannot be decoded");
    if (ld->ds->on_error == CAPTION_ON_ERROR_FAIL) return fail(ld, msg);
    int64_t total = ld->ds->n_bad + ld->n_bad_images;
    if (ld->ds->max_bad >= 0 && total > ld->ds->max_bad) {
        char m2[8400];
        snprintf(m2, sizeof m2, "more than max_bad = %lld bad records; the last: %s", (long long)ld->ds->max_bad, msg);
        return fail(ld, m2);
    }
    if (ld->n_warnings < CAPTION_MAX_WARNINGS) {
        char *copy = strdup(msg);
        char **nw = realloc(ld->warnings, (size_t)(ld->n_warnings + 1) * sizeof *nw);
        if (!copy || !nw) {
            free(copy);
            if (nw) ld->warnings = nw;
            return fail(ld, "out of memory");
        }
        ld->warnings = nw;
        ld->warnings[ld->n_warnings++] = copy;
    }
    return 0;
}

/* Copy a good slot into batch row `row` (tokens into the staging area until cols is known). */
static void take_row(loader *ld, const slot *s, int row) {
    loader_batch *b = &ld->batch;
    memcpy(b->pixels + (size_t)row * ld->numel, s->px, ld->numel * sizeof(float));
    int64_t r = record_of(ld, s->item);
    const caption_record *rec = &ld->ds->records[r];
    b->example[row] = s->item;
    b->record[row] = r;
    b->image_id[row] = rec->image_id;
    b->image[row] = rec->image;
    b->caption[row] = caption_of(ld, s->item);
    if (!ld->o.tokenizer) {
        b->lengths[row] = b->prompt_len[row] = 0;
    } else if (ld->o.mode == LOADER_EVAL) {
        b->lengths[row] = b->prompt_len[row] = ld->prefix_len;
    } else {
        int maxlen = ld->o.max_length;
        memcpy(ld->stage + (size_t)row * maxlen, s->ids, (size_t)s->len * sizeof *s->ids);
        b->lengths[row] = s->len;
        int pl = 1 + ld->prompt_ntok;
        b->prompt_len[row] = pl < s->len ? pl : s->len;
    }
}

/* ids/mask: rows right-padded to the longest, first token replaced by bos_id when asked. */
static void pad_rows(loader *ld, int n) {
    loader_batch *b = &ld->batch;
    b->cols = 0;
    if (!ld->o.tokenizer) return;
    for (int r = 0; r < n; r++)
        if (b->lengths[r] > b->cols) b->cols = b->lengths[r];
    int64_t pad = wordpiece_specials(ld->o.tokenizer).pad;
    int maxlen = ld->o.max_length;
    for (int r = 0; r < n; r++) {
        const int64_t *src = ld->o.mode == LOADER_EVAL ? ld->prefix : ld->stage + (size_t)r * maxlen;
        int64_t *ids = b->ids + (size_t)r * b->cols, *mask = b->mask + (size_t)r * b->cols;
        for (int c = 0; c < b->cols; c++) {
            int real = c < b->lengths[r];
            ids[c] = real ? src[c] : pad;
            mask[c] = real;
        }
        if (ld->o.bos_id >= 0 && b->lengths[r] > 0) ids[0] = ld->o.bos_id;
    }
}

/* Wait for the slot at the cursor (decoding it here without workers) and take it: into row
 * *rows when good, through the bad-record policy when bad. 0, or -1 (vk_err). Called and
 * returns with mu held. */
static int consume_one(loader *ld, int *rows, int64_t *bad_run, int64_t epoch_len) {
    slot *s = &ld->slots[ld->cursor % ld->R];
    if (ld->n_threads == 0) {
        /* no workers: decode here (next_claim == cursor, the ring has one slot) */
        int known_bad;
        slot *c = claim(ld, &known_bad);
        if (c) {
            pthread_mutex_unlock(&ld->mu);
            int state = process(ld, c, known_bad);
            pthread_mutex_lock(&ld->mu);
            finish(ld, c, state);
        }
    }
    while (!ld->oom && !(s->g == ld->cursor && (s->state == SLOT_GOOD || s->state == SLOT_BAD)))
        pthread_cond_wait(&ld->done_cv, &ld->mu);
    if (ld->oom) return fail(ld, "loader: out of memory for an epoch's order");
    /* the slot is the consumer's now: no worker touches it until the cursor moves past it */
    pthread_mutex_unlock(&ld->mu);
    int rc = 0;
    if (s->state == SLOT_GOOD) {
        take_row(ld, s, (*rows)++);
        *bad_run = 0;
    } else {
        rc = on_bad(ld, s);
        if (!rc && ++*bad_run >= epoch_len) {
            char msg[4200];
            snprintf(msg, sizeof msg, "%s: none of the %lld %s has an image that decodes", ld->ds->path,
                     (long long)epoch_len, ld->o.mode == LOADER_TRAIN ? "examples" : "records");
            rc = fail(ld, msg);
        }
    }
    free(s->err);
    s->err = NULL;
    pthread_mutex_lock(&ld->mu);
    s->state = SLOT_FREE;
    ld->cursor++;
    pthread_cond_signal(&ld->work_cv);
    return rc;
}

/* One global step's share of this rank (see loader.h). */
static int next_sharded(loader *ld, const loader_batch **out) {
    loader_batch *b = &ld->batch;
    const int64_t B = ld->o.batch_size, S = ld->sh_steps;
    if (ld->o.epochs && ld->step >= ld->o.epochs * S) {
        memset(b, 0, offsetof(loader_batch, pixels));
        b->end = 1;
        *out = b;
        return 0;
    }
    int64_t e = ld->step / S, k = ld->step % S;
    int64_t lo = e * ld->sh_L + k * B, hi = lo + (k < ld->sh_F ? B : ld->sh_rem);
    int rows = 0, rc = 0;
    int64_t bad_run = 0;
    pthread_mutex_lock(&ld->mu);
    while (!rc && ld->cursor < hi) rc = consume_one(ld, &rows, &bad_run, ld->sh_L);
    pthread_mutex_unlock(&ld->mu);
    if (rc) return -1;
    b->n = rows;
    b->end = 0;
    b->height = ld->o.image.height;
    b->width = ld->o.image.width;
    pad_rows(ld, rows);
    b->epoch = e;
    b->position = k * ld->sh_G;
    b->next_epoch = k + 1 < S ? e : e + 1;
    b->next_position = k + 1 < S ? (k + 1) * ld->sh_G : 0;
    ld->step++;
    *out = b;
    return 0;
}

int loader_next(loader *ld, const loader_batch **out) {
    *out = NULL;
    if (ld->fail_msg) return vk_err_set("%s", ld->fail_msg);
    if (ld->sharded) return next_sharded(ld, out);
    loader_batch *b = &ld->batch;
    const int B = ld->o.batch_size, train = ld->o.mode == LOADER_TRAIN;
    const int64_t N = ld->n_items;
    int rows = 0, rc = 0;
    int64_t bad_run = 0;   /* consecutive bad examples: a whole epoch of them means none decodes */

    pthread_mutex_lock(&ld->mu);
    int64_t start = ld->cursor;
    while (rows < B && ld->cursor < ld->g_end) {
        if (train && ld->cursor % N == 0 && ld->cursor != start) {
            /* a batch never spans two epochs: end it short, or drop it (with drop_last) */
            if (rows > 0 && !ld->o.drop_last) break;
            rows = 0;
            start = ld->cursor;
        }
        rc = consume_one(ld, &rows, &bad_run, N);
        if (rc) break;
    }
    /* the end of the last epoch: a short batch is dropped there too */
    if (!rc && train && ld->o.drop_last && rows < B && ld->cursor >= ld->g_end) rows = 0;
    int64_t next = ld->cursor;
    pthread_mutex_unlock(&ld->mu);
    if (rc) return -1;

    b->n = rows;
    b->end = rows == 0;
    b->height = ld->o.image.height;
    b->width = ld->o.image.width;
    pad_rows(ld, rows);
    if (train) {
        b->epoch = start / N;
        b->position = start % N;
        b->next_epoch = next / N;
        b->next_position = next % N;
    } else {
        b->epoch = b->next_epoch = 0;
        b->position = start;
        b->next_position = next;
    }
    *out = b;
    return 0;
}
