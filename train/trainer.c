#include "train/trainer.h"

#include "data/caption_dataset.h"
#include "data/loader.h"
#include "model/blip_captioner.h"
#include "model/lora.h"
#include "train/checkpoint.h"
#include "train/dist.h"
#include "train/evaluate.h"
#include "train/schedule.h"
#include "train/train_common.h"
#include "util/error.h"
#include "util/fileio.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Consecutive skipped (non-finite) steps that end the run. */
#define MAX_NONFINITE_IN_A_ROW 20
/* The frozen-vision cache stops growing past this many bytes. */
#define VISION_CACHE_BYTES (4ll << 30)

#define now train_now

typedef struct {
    const train_config *cfg;
    train_run_options *opt;
    blip_captioner *cap;
    lora_linears ls;
    lora_config lc;
    train_params tp;
    tt_optim *optim;
    caption_dataset *train_ds, *val_ds;
    loader *ld;
    train_state st;
    int vision_trains;
    tt_tensor **vcache; /* per record: image embeddings, or NULL */
    long long vcache_bytes;
    FILE *metrics;
    const char *config_json;
    train_dist dist; /* world 1: a single process */
    int lead;        /* rank 0: the one that logs and writes */
} trainer;

static void log_line(const trainer *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void log_line(const trainer *t, const char *fmt, ...) {
    if (t->opt->quiet || !t->lead) return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

static caption_dataset *load_dataset(const train_config *c, const train_data_spec *d, trainer *t) {
    caption_dataset_opts o = caption_dataset_default_opts();
    static const caption_format formats[] = {CAPTION_FORMAT_AUTO, CAPTION_FORMAT_JSONL, CAPTION_FORMAT_COCO,
                                             CAPTION_FORMAT_KARPATHY, CAPTION_FORMAT_IMAGEFOLDER};
    o.format = formats[d->format];
    o.image_root = d->image_root;
    o.split = d->split;
    o.on_error = c->data.on_error == TRAIN_ON_ERROR_FAIL ? CAPTION_ON_ERROR_FAIL : CAPTION_ON_ERROR_SKIP;
    o.max_bad = c->data.max_bad;
    caption_dataset *ds = caption_dataset_load(d->path, &o);
    if (ds)
        for (int i = 0; i < ds->n_warnings; i++) log_line(t, "vlkit: warning: %s", ds->warnings[i]);
    return ds;
}

/* The loader options of both the training and the val-loss loaders: this rank's share of each
 * global batch, tokenized as the model and the config say. */
static loader_opts loader_opts_of(const trainer *t) {
    const train_config *c = t->cfg;
    loader_opts o = loader_default_opts();
    o.batch_size = c->batch_size;
    o.workers = c->data.workers;
    o.image = t->cap->preproc;
    o.tokenizer = t->cap->tokenizer;
    o.max_length = c->text.max_length;
    o.prompt = c->text.prompt;
    o.bos_id = c->text.bos == TRAIN_BOS_DEC ? t->cap->model->cfg.text.bos_token_id : -1;
    o.shard_index = t->dist.rank;
    o.shard_count = t->dist.world;
    return o;
}

static int open_loader(trainer *t, long long epoch, long long position) {
    loader_opts o = loader_opts_of(t);
    o.seed = (uint64_t)t->cfg->seed;
    o.start_epoch = epoch;
    o.start_position = position;
    t->ld = loader_new(t->train_ds, &o);
    return t->ld ? 0 : -1;
}

/* labels: the ids, -100 on padding and on [CLS]/bos + prompt (not trained on) */
static tt_tensor *make_labels(const loader_batch *b) {
    int64_t n = (int64_t)b->n * b->cols;
    int64_t *l = malloc(sizeof(int64_t) * (size_t)n);
    if (!l) return NULL;
    for (int r = 0; r < b->n; r++)
        for (int j = 0; j < b->cols; j++) {
            int64_t k = (int64_t)r * b->cols + j;
            l[k] = b->mask[k] && j >= b->prompt_len[r] ? b->ids[k] : -100;
        }
    tt_tensor *t = tt_from_data(l, (int64_t[]){b->n, b->cols}, 2, TT_I64);
    free(l);
    return t;
}

/* Target tokens of a batch: the positions the shifted LM loss averages over. */
static long long target_tokens(const loader_batch *b) {
    long long n = 0;
    for (int r = 0; r < b->n; r++)
        for (int j = 1; j < b->cols; j++) n += b->mask[(int64_t)r * b->cols + j] && j >= b->prompt_len[r];
    return n;
}

/* The image embeddings of a batch: from the cache, or the vision tower (without autograd when
 * nothing in it trains). Returned handle belongs to the current scope. */
static tt_tensor *image_embeds(trainer *t, const loader_batch *b) {
    blip_caption *m = t->cap->model;
    int64_t S = b->height;
    int all_cached = t->vcache != NULL;
    for (int r = 0; all_cached && r < b->n; r++) all_cached = t->vcache[b->record[r]] != NULL;
    if (all_cached) {
        tt_tensor **rows = malloc(sizeof *rows * (size_t)b->n);
        for (int r = 0; r < b->n; r++) rows[r] = t->vcache[b->record[r]];
        tt_tensor *e = tt_stack(rows, b->n, 0);
        free(rows);
        return e; /* as stored (bf16 in a bf16 run): the cross-attention casts to its dtype once */
    }
    tt_tensor *px = tt_from_data(b->pixels, (int64_t[]){b->n, 3, S, b->width}, 4, TT_F32);
    int grad = t->vision_trains ? tt_is_grad_enabled() : tt_set_grad_enabled(0);
    tt_tensor *e = blip_vision_forward(&m->vision, px, NULL, 1);
    if (!t->vision_trains) tt_set_grad_enabled(grad);
    if (e && t->vcache) {
        size_t per = (size_t)(tt_numel(e) / b->n) * (t->cfg->precision == TRAIN_PRECISION_BF16 ? 2 : 4);
        for (int r = 0; r < b->n && t->vcache_bytes + (long long)per <= VISION_CACHE_BYTES; r++) {
            if (t->vcache[b->record[r]]) continue;
            tt_tensor *row = tt_select(e, 0, r);
            tt_tensor *kept = t->cfg->precision == TRAIN_PRECISION_BF16 ? tt_to_dtype(row, TT_BF16) : tt_clone(row);
            t->vcache[b->record[r]] = tt_persist(kept);
            tt_free(row);
            t->vcache_bytes += (long long)per;
        }
    }
    return e;
}

/* One micro-batch: forward, loss, backward of loss * share / grad_accum (share: this rank's part
 * of the step's target tokens with several ranks, so the summed gradients are those of the
 * mean over all the step's tokens, as one process with the whole batch has; 1 alone). */
static int micro_step(trainer *t, const loader_batch *b, double share, double *loss_out) {
    const train_config *c = t->cfg;
    tt_scope_begin();
    tt_tensor *labels = make_labels(b);
    tt_tensor *ids = tt_from_data(b->ids, (int64_t[]){b->n, b->cols}, 2, TT_I64);
    tt_tensor *emb = image_embeds(t, b);
    tt_tensor *logits = emb ? blip_caption_logits_from_embeds(t->cap->model, emb, ids, b->mask, 1) : NULL;
    tt_tensor *loss = logits ? blip_lm_loss(logits, labels, c->text.label_smoothing) : NULL;
    int rc = 0;
    if (!loss) {
        rc = vk_err_set("forward: %s", vk_err_msg()[0] ? vk_err_msg() : tt_last_error());
    } else {
        *loss_out = tt_item(loss);
        tt_tensor *scaled = share == 1.0 ? loss : tt_mul_scalar(loss, share);
        if (isfinite(*loss_out) && tt_backward(tt_div_scalar(scaled, c->grad_accum)))
            rc = vk_err_set("backward: %s", tt_last_error());
    }
    tt_scope_end();
    return rc;
}

static int write_metrics(trainer *t, const char *json_line) {
    if (!t->metrics) return 0;
    if (fputs(json_line, t->metrics) < 0 || fputc('\n', t->metrics) < 0 || fflush(t->metrics) != 0)
        return vk_err_set("%s/metrics.jsonl: write failed: %s", t->cfg->output_dir, strerror(errno));
    return 0;
}

static int save_checkpoint(trainer *t) {
    if (!t->lead) return 0; /* every rank holds the same weights (checked); rank 0 writes them */
    char name[64];
    snprintf(name, sizeof name, "checkpoint-%lld", t->st.step);
    char *dir = vk_path_join(t->cfg->output_dir, name);
    int rc = checkpoint_save(dir, &t->ls, &t->lc, t->optim, &t->tp, &t->st, t->config_json);
    if (!rc) {
        checkpoint_prune(t->cfg->output_dir, t->cfg->save.keep_last, t->st.best_step);
        log_line(t, "saved %s", dir);
    }
    free(dir);
    return rc;
}

static void warn_line(const char *msg) { fprintf(stderr, "vlkit: warning: %s\n", msg); }

/* Val loss over up to eval.max_samples val examples and the caption metrics over up to
 * eval.max_samples val images; keeps the best adapter. */
static int evaluate(trainer *t) {
    const train_config *c = t->cfg;
    if (!t->val_ds) return 0;
    double t0 = now();
    /* teacher-forced loss, no dropout, no autograd */
    loader_opts o = loader_opts_of(t);
    o.shuffle = 0;
    o.epochs = 1;
    loader *vl = loader_new(t->val_ds, &o);
    if (!vl) return -1;
    int grad = tt_set_grad_enabled(0);
    double loss_sum = 0;
    long long tokens = 0, seen = 0;
    int rc = 0;
    for (;;) {
        const loader_batch *b;
        if (loader_next(vl, &b)) {
            rc = -1;
            break;
        }
        if (b->end || (c->eval.max_samples > 0 && (t->dist.world > 1 ? b->position : seen) >= c->eval.max_samples)) break;
        if (!b->n) continue; /* a rank with no rows in this step (see loader.h) */
        tt_scope_begin();
        tt_tensor *labels = make_labels(b);
        tt_tensor *ids = tt_from_data(b->ids, (int64_t[]){b->n, b->cols}, 2, TT_I64);
        tt_tensor *px = tt_from_data(b->pixels, (int64_t[]){b->n, 3, b->height, b->width}, 4, TT_F32);
        tt_tensor *logits = blip_caption_logits(t->cap->model, px, ids, b->mask, 0);
        tt_tensor *loss = logits ? blip_lm_loss(logits, labels, 0.0) : NULL;
        long long nt = target_tokens(b);
        if (loss) loss_sum += tt_item(loss) * (double)nt, tokens += nt;
        else rc = vk_err_set("val loss: %s", tt_last_error());
        tt_scope_end();
        seen += b->n;
        if (rc) break;
    }
    loader_free(vl);
    tt_set_grad_enabled(grad);
    if (rc) return -1;
    double sums[2] = {loss_sum, (double)tokens};
    if (train_dist_sum(&t->dist, sums, 2)) return -1;
    loss_sum = sums[0], tokens = (long long)sums[1];
    double val_loss = tokens ? loss_sum / (double)tokens : NAN;
    caption_eval_options eo = {c->eval.max_samples, c->batch_size, c->text.prompt,
                               blip_gen_default_params(&t->cap->model->cfg.text), NULL, t->opt->quiet ? NULL : warn_line, NULL, NULL};
    eo.gen.num_beams = c->eval.beams;
    eo.gen.max_length = c->eval.max_length;
    eo.gen.min_length = c->eval.min_length;
    char key[48];
    snprintf(key, sizeof key, "eval-%lld", t->st.step);
    eo.dist = &t->dist;
    eo.dist_key = key;
    caption_eval_scores s;
    if (caption_evaluate(t->cap, t->val_ds, &eo, &s)) return -1;
    if (!t->lead) return 0; /* rank 0 scored the gathered captions; it alone records them */
    double value = c->eval.metric == TRAIN_METRIC_CIDER     ? s.cider
                   : c->eval.metric == TRAIN_METRIC_BLEU_4  ? s.bleu[3]
                   : c->eval.metric == TRAIN_METRIC_ROUGE_L ? s.rouge_l
                                                            : val_loss;
    int better = isnan(t->st.best_metric) ||
                 (train_metric_higher_is_better(c->eval.metric) ? value > t->st.best_metric : value < t->st.best_metric);
    char line[640], val_text[32];
    /* JSON has no NaN: a val set without target tokens gives null */
    if (isfinite(val_loss)) snprintf(val_text, sizeof val_text, "%.6f", val_loss);
    else snprintf(val_text, sizeof val_text, "null");
    snprintf(line, sizeof line,
             "{\"step\": %lld, \"eval\": {\"val_loss\": %s, \"CIDEr\": %.6f, \"Bleu_4\": %.6f, \"Bleu_1\": %.6f, "
             "\"ROUGE_L\": %.6f, \"images\": %d, \"seconds\": %.2f}}",
             t->st.step, val_text, s.cider, s.bleu[3], s.bleu[0], s.rouge_l, s.n_images, now() - t0);
    if (write_metrics(t, line)) return -1;
    log_line(t, "eval step %lld: val_loss %.4f  CIDEr %.4f  Bleu_4 %.4f  ROUGE_L %.4f (%d images)%s", t->st.step, val_loss,
             s.cider, s.bleu[3], s.rouge_l, s.n_images, better ? "  [best]" : "");
    if (better && isfinite(value)) {
        t->st.best_metric = value;
        t->st.best_step = t->st.step;
        char *best = vk_path_join(c->output_dir, "best");
        int brc = lora_save_adapter(&t->ls, &t->lc, best);
        free(best);
        if (brc) return -1;
    }
    return 0;
}

static void progress(trainer *t, long long total, double loss_ema, double lr, double sps, double eta, int tty) {
    if (t->opt->quiet || !t->lead) return;
    if (tty) {
        fprintf(stderr, "\rstep %lld/%lld  epoch %lld  loss %.4f  lr %.3g  %.2f samples/s  ETA %02d:%02d:%02d ", t->st.step,
                total, t->st.epoch, loss_ema, lr, sps, (int)(eta / 3600), (int)fmod(eta / 60, 60), (int)fmod(eta, 60));
        fflush(stderr);
    } else if (t->cfg->logging.every_steps > 0 && t->st.step % t->cfg->logging.every_steps == 0) {
        fprintf(stderr, "step %lld/%lld epoch %lld loss %.4f lr %.3g %.2f samples/s\n", t->st.step, total, t->st.epoch,
                loss_ema, lr, sps);
    }
}

static void trainer_free(trainer *t) {
    loader_free(t->ld);
    if (t->vcache)
        for (int64_t i = 0; i < t->train_ds->n_records; i++) tt_free(t->vcache[i]);
    free(t->vcache);
    tt_optim_free(t->optim);
    lora_free_names(t->tp.names, t->tp.n);
    free(t->tp.params);
    lora_config_free(&t->lc);
    blip_captioner_free(t->cap); /* detaches the adapters */
    caption_dataset_free(t->train_ds);
    caption_dataset_free(t->val_ds);
    if (t->metrics) fclose(t->metrics);
}

int train_run(const train_config *c, const char *config_json, train_run_options *opt) {
    trainer t;
    memset(&t, 0, sizeof t);
    t.cfg = c;
    t.opt = opt;
    t.config_json = config_json;
    t.st.best_metric = NAN;
    t.st.best_step = -1;
    opt->steps_done = 0;
    int rc = -1;
    if (c->task != TRAIN_TASK_CAPTION) return vk_err_set("train_run is the caption trainer (task %s)", train_task_name(c->task));
    if (c->threads > 0) tt_set_num_threads(c->threads);
    tt_manual_seed((uint64_t)c->seed);
    if (mkdir(c->output_dir, 0777) && errno != EEXIST) {
        vk_err_set("%s: cannot create: %s", c->output_dir, strerror(errno));
        return -1;
    }
    /* first, so a port in use or a missing peer is reported before minutes of loading */
    if (train_dist_init(c, &t.dist)) return -1;
    t.lead = t.dist.rank == 0;
    if (t.dist.world > 1)
        log_line(&t, "distributed: %d ranks (%s), global batch %d x %d ranks", t.dist.world,
                 train_dist_backend_name(c->distributed.backend), c->batch_size, t.dist.world);
    if (!(t.cap = blip_captioner_load(c->model, NULL))) goto done;
    int matched = 0;
    if (train_lora_setup(c, &t.cap->linears, &t.lc, &matched)) goto done;
    t.ls = t.cap->linears;
    int64_t elements = 0;
    lora_count(&t.ls, &elements);
    for (int i = 0; i < t.ls.n; i++) {
        if (!t.ls.items[i]->lora_a) continue;
        if (!strncmp(t.ls.items[i]->name, "vision_model.", 13)) t.vision_trains = 1;
        log_line(&t, "lora: %s", t.ls.items[i]->name);
    }
    t.vision_trains |= lora_trains_under(&t.ls, "vision_model.");
    train_lora_report_saved(&t.ls, opt->quiet);
    log_line(&t, "lora: %d modules, %lld trainable parameters (r=%d, alpha=%g, scaling %g)", matched, (long long)elements, t.lc.r,
             t.lc.alpha, lora_scaling(&t.lc));
    if (c->precision == TRAIN_PRECISION_BF16 && blip_caption_set_dtype(t.cap->model, TT_BF16)) goto done;
    if (!(t.train_ds = load_dataset(c, &c->train, &t))) goto done;
    if (c->val.path && !(t.val_ds = load_dataset(c, &c->val, &t))) goto done;
    if (train_optimizer_setup(c, &t.ls, &t.tp, &t.optim)) goto done;
    char *from = NULL;
    if (train_resume(opt, c->output_dir, t.optim, &t.tp, &t.st, &from)) goto done;
    if (from) log_line(&t, "resumed from %s (step %lld)", from, t.st.step);
    free(from);
    /* the ranks must start from the same place: the same checkpoint (output_dir shared by all),
     * the same data, and (checked every distributed.check_every_steps) the same weights */
    if (train_dist_same(&t.dist, t.st.step, "the resumed step (is output_dir on a filesystem every rank sees?)") ||
        train_dist_same(&t.dist, t.train_ds->n_examples, "the number of training examples") ||
        train_dist_check_weights(&t.dist, t.tp.params, t.tp.n, t.st.step, 1))
        goto done;
    if (opt->vision_cache && !t.vision_trains) t.vcache = calloc((size_t)t.train_ds->n_records + 1, sizeof *t.vcache);
    if (open_loader(&t, t.st.epoch, t.st.position)) goto done;
    long long per_epoch = (loader_batches_per_epoch(t.ld) + c->grad_accum - 1) / c->grad_accum;
    long long total = train_config_total_steps(c, per_epoch > 0 ? per_epoch : 1);
    long long warmup = train_config_warmup_steps(c, total);
    if (t.lead) {
        char *mp = vk_path_join(c->output_dir, "metrics.jsonl");
        t.metrics = fopen(mp, "a");
        if (!t.metrics) {
            vk_err_set("%s: cannot open: %s", mp, strerror(errno));
            free(mp);
            goto done;
        }
        free(mp);
    }
    log_line(&t, "train: %lld examples (%lld images), %lld steps (%lld per epoch), batch %d x %d%s, warmup %lld",
             (long long)t.train_ds->n_examples, (long long)t.train_ds->n_records, total, per_epoch, c->batch_size, c->grad_accum,
             t.dist.world > 1 ? " x ranks" : "", warmup);
    train_signals_install();
    int tty = isatty(STDERR_FILENO), stop = 0;
    double loss_ema = NAN, t_start = now(), last_log = now();
    long long samples = 0, in_a_row = 0, start_step = t.st.step;
    rc = 0;
    /* One process checks the stop signal before a step; ranks learn of a signal on any rank from
     * the step's all-reduce and stop together after it. */
    while (t.st.step < total && !(stop = t.dist.world > 1 ? stop : train_stop_signal())) {
        double lr = train_schedule_lr(c, t.st.step, total, warmup);
        double loss_sum = 0, n_rows = 0;
        int finite = 1;
        tt_optim_zero_grad(t.optim);
        double step_t0 = now();
        t.dist.comm_s = 0; /* with ranks: this step's seconds in collectives (bench, metrics) */
        train_dist_seed_step(&t.dist, c->seed, t.st.step);
        for (int a = 0; a < c->grad_accum && !rc; a++) {
            const loader_batch *b;
            if (loader_next(t.ld, &b)) {
                rc = -1;
                break;
            }
            double l = 0, share;
            int none;
            if (train_dist_share(&t.dist, (double)target_tokens(b), &share, &none)) {
                rc = -1;
                break;
            }
            if (none) finite = 0; /* no target token in the whole step: as one process, a NaN loss */
            if (b->n && share > 0 && micro_step(&t, b, share, &l)) {
                rc = -1;
                break;
            }
            finite &= isfinite(l);
            loss_sum += l * share / c->grad_accum;
            n_rows += b->n;
            t.st.epoch = b->next_epoch;
            t.st.position = b->next_position;
        }
        if (rc) break;
        if (train_dist_end_step(&t.dist, t.tp.params, t.tp.n, &loss_sum, &n_rows, &finite, &stop)) {
            rc = -1;
            break;
        }
        double gnorm = tt_clip_grad_norm(t.tp.params, t.tp.n, c->max_grad_norm > 0 ? c->max_grad_norm : INFINITY);
        if (!finite || !isfinite(gnorm)) {
            t.st.nonfinite_skips++;
            log_line(&t, "%svlkit: warning: step %lld: non-finite %s, step skipped (%lld so far)", tty ? "\n" : "", t.st.step + 1,
                     finite ? "gradient" : "loss", t.st.nonfinite_skips);
            tt_optim_zero_grad(t.optim);
            if (stop) break;
            if (++in_a_row >= MAX_NONFINITE_IN_A_ROW) {
                rc = vk_err_set("%lld non-finite steps in a row (last good checkpoint left intact; try a lower optim.lr)", in_a_row);
                break;
            }
            continue;
        }
        in_a_row = 0;
        tt_optim_set_lr(t.optim, -1, lr);
        if (tt_optim_step(t.optim)) {
            rc = vk_err_set("optimizer: %s", tt_last_error());
            break;
        }
        t.st.step++;
        samples += (long long)n_rows;
        if (train_dist_check_weights(&t.dist, t.tp.params, t.tp.n, t.st.step, c->distributed.check_every_steps)) {
            rc = -1;
            break;
        }
        opt->final_loss = loss_sum;
        loss_ema = isnan(loss_ema) ? loss_sum : 0.9 * loss_ema + 0.1 * loss_sum;
        double elapsed = now() - t_start, sps = samples / (elapsed > 0 ? elapsed : 1);
        double eta = (double)(total - t.st.step) * elapsed / (double)(t.st.step - start_step);
        char line[600], comm[200] = "";
        if (t.dist.world > 1) {
            long long bytes = 0;
            for (int i = 0; i < t.tp.n; i++) bytes += tt_numel(t.tp.params[i]) * 4;
            snprintf(comm, sizeof comm, ", \"ranks\": %d, \"comm_s\": %.4f, \"allreduce_bytes\": %lld", t.dist.world, t.dist.comm_s, bytes);
        }
        snprintf(line, sizeof line,
                 "{\"step\": %lld, \"epoch\": %lld, \"loss\": %.6f, \"lr\": %.6g, \"grad_norm\": %.6g, \"samples_per_s\": %.3f, \"step_s\": %.4f%s}",
                 t.st.step, t.st.epoch, loss_sum, lr, gnorm, sps, now() - step_t0, comm);
        if (write_metrics(&t, line)) {
            rc = -1;
            break;
        }
        int log_due = c->logging.every_steps > 0 && t.st.step % c->logging.every_steps == 0;
        if ((tty && now() - last_log > 0.2) || (!tty && log_due) || t.st.step == total) {
            progress(&t, total, loss_ema, lr, sps, eta, tty);
            last_log = now();
        }
        int last = t.st.step == total;
        if ((c->eval.every_steps > 0 && t.st.step % c->eval.every_steps == 0) || last) {
            if (tty && !opt->quiet && t.lead) fputc('\n', stderr);
            if (evaluate(&t)) {
                rc = -1;
                break;
            }
        }
        if ((c->save.every_steps > 0 && t.st.step % c->save.every_steps == 0) || last) {
            if (save_checkpoint(&t)) {
                rc = -1;
                break;
            }
        }
    }
    if (tty && !opt->quiet && t.lead) fputc('\n', stderr);
    if (!rc && stop && t.st.step < total) {
        if (train_stop_signal()) log_line(&t, "stopped by signal %d at step %lld: saving a checkpoint", train_stop_signal(), t.st.step);
        else log_line(&t, "stopped by a signal on another rank at step %lld: saving a checkpoint", t.st.step);
        rc = save_checkpoint(&t);
    }
    /* no rank leaves before rank 0 has written the last checkpoint: a failure there fails all */
    if (!rc && t.dist.world > 1) {
        double failed[1] = {0};
        rc = train_dist_sum(&t.dist, failed, 1);
    }
    train_signals_restore();
    if (!rc && t.st.nonfinite_skips) log_line(&t, "vlkit: warning: %lld steps were skipped (non-finite)", t.st.nonfinite_skips);
    if (t.ld && loader_bad_images(t.ld) && !opt->quiet) {
        /* every rank reports the images of its own share */
        int nw = 0;
        const char *const *w = loader_warnings(t.ld, &nw);
        for (int i = 0; i < nw; i++) fprintf(stderr, "vlkit: warning: %s%s\n", t.dist.where, w[i]);
        fprintf(stderr, "vlkit: warning: %s%lld images could not be read and were skipped\n", t.dist.where,
                (long long)loader_bad_images(t.ld));
    }
    opt->steps_done = t.st.step;
done:
    trainer_free(&t);
    train_dist_free(&t.dist);
    return rc;
}
