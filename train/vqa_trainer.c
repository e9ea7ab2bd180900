/* vqa_trainer.c — `vlkit train` with task "vqa": LoRA fine-tuning of BlipForQuestionAnswering.
 *
 * Loss, per the config's vqa.answer_weighting:
 *   blip    BLIP's recipe (blip_vqa.py): the question states are repeated for each distinct
 *           answer, each answer sequence's token losses (label smoothing text.label_smoothing)
 *           are summed, weighted by the answer's share of the human answers, and the weighted
 *           sum is divided by the number of questions;
 *   single  transformers' one-label fine-tuning: the LM loss (mean over answer tokens) of the
 *           most common answer.
 * Answers start with [DEC] (text.bos = dec, BLIP's and generate()'s start) or [CLS].
 * Schedules, clipping, non-finite steps, checkpoints, resume and metrics.jsonl are those of the
 * caption trainer; evaluation is the val loss (the training loss averaged over all val
 * questions, or answer tokens with single, whatever the batch size) and the VQA accuracy
 * (vqaEval.py's rules) of generated answers on up to eval.max_samples val questions. With ranks
 * (train/dist.h) each takes an even share of every global batch, and of the val batches. The data order is the shuffle of
 * (seed, epoch); the data position is saved for resume. Images are decoded in the training
 * thread. */
#include "train/vqa_trainer.h"

#include "data/shuffle.h"
#include "data/vqa_dataset.h"
#include "eval/eval.h"
#include "train/checkpoint.h"
#include "train/dist.h"
#include "train/schedule.h"
#include "train/train_common.h"
#include "train/vqa_answer.h"
#include "util/error.h"
#include "util/fileio.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_NONFINITE_IN_A_ROW 20

#define now train_now

typedef struct {
    const train_config *cfg;
    train_run_options *opt;
    vqa_answerer *a;
    lora_config lc;
    train_params tp;
    tt_optim *optim;
    vqa_dataset *train, *val;
    int64_t *order; /* this epoch's permutation */
    int64_t order_epoch;
    train_state st;
    int vision_trains;
    FILE *metrics;   /* rank 0 only */
    train_dist dist; /* world 1: one process */
} vqa_trainer;

/* One batch of questions, their images and the answer rows. */
typedef struct {
    int n;             /* questions */
    float *pixels;
    wordpiece_batch q; /* question ids + mask */
    wordpiece_batch ans;
    int64_t *row_of;   /* per answer row: its question */
    double *weight;    /* per answer row */
    int rows;
    int64_t *q_mask_rep; /* question mask repeated per answer row */
} vqa_batch;

static void batch_free(vqa_batch *b) {
    free(b->pixels);
    wordpiece_batch_free(&b->q);
    wordpiece_batch_free(&b->ans);
    free(b->row_of), free(b->weight), free(b->q_mask_rep);
    memset(b, 0, sizeof *b);
}

/* Build the batch of examples ex[0..k) (images that fail are skipped with a warning). */
static int make_batch(vqa_trainer *t, const vqa_dataset *ds, const int64_t *ex, int k, vqa_batch *b) {
    const train_config *c = t->cfg;
    memset(b, 0, sizeof *b);
    size_t per = image_preproc_numel(&t->a->preproc);
    b->pixels = malloc(sizeof(float) * per * (size_t)k);
    const char **qs = malloc(sizeof(char *) * (size_t)k);
    int total_answers = 0;
    for (int i = 0; i < k; i++) total_answers += ds->items[ex[i]].n_answers;
    const char **as = malloc(sizeof(char *) * (size_t)(total_answers + 1));
    b->row_of = malloc(sizeof(int64_t) * (size_t)(total_answers + 1));
    b->weight = malloc(sizeof(double) * (size_t)(total_answers + 1));
    int rc = b->pixels && qs && as && b->row_of && b->weight ? 0 : vk_err_set("out of memory");
    for (int i = 0; !rc && i < k; i++) {
        const vqa_example *e = &ds->items[ex[i]];
        if (image_preprocess_file(&t->a->preproc, e->image, b->pixels + per * (size_t)b->n)) {
            if (!t->opt->quiet) fprintf(stderr, "vlkit: warning: %s\n", vk_err_msg());
            if (c->data.on_error == TRAIN_ON_ERROR_FAIL) rc = -1;
            continue;
        }
        qs[b->n] = e->question;
        for (int j = 0; j < e->n_answers; j++) {
            as[b->rows] = e->answers[j];
            b->row_of[b->rows] = b->n;
            b->weight[b->rows] = e->weights[j];
            b->rows++;
        }
        b->n++;
    }
    if (!rc && b->n) {
        wordpiece_encode_opts qo = wordpiece_encode_defaults();
        qo.padding = WORDPIECE_PAD_LONGEST;
        qo.max_length = c->text.max_length;
        wordpiece_encode_opts ao = qo;
        ao.max_length = c->vqa.answer_max_length;
        if (wordpiece_encode(t->a->tokenizer, qs, b->n, &qo, &b->q) || wordpiece_encode(t->a->tokenizer, as, b->rows, &ao, &b->ans))
            rc = -1;
    }
    if (!rc && b->n) {
        if (c->text.bos == TRAIN_BOS_DEC)
            for (int r = 0; r < b->rows; r++) b->ans.ids[(int64_t)r * b->ans.cols] = t->a->model->cfg.text.bos_token_id;
        b->q_mask_rep = malloc(sizeof(int64_t) * (size_t)b->rows * (size_t)b->q.cols);
        for (int r = 0; b->q_mask_rep && r < b->rows; r++)
            memcpy(b->q_mask_rep + (int64_t)r * b->q.cols, b->q.mask + b->row_of[r] * b->q.cols, sizeof(int64_t) * (size_t)b->q.cols);
        if (!b->q_mask_rep) rc = vk_err_set("out of memory");
    }
    free(qs), free(as);
    if (rc) batch_free(b);
    return rc;
}

/* The loss of a batch (a scalar in the current scope), NULL on error. */
static tt_tensor *batch_loss(vqa_trainer *t, const vqa_batch *b, int train) {
    const train_config *c = t->cfg;
    blip_vqa *m = t->a->model;
    int64_t S = m->cfg.vision.image_size, V = m->cfg.text.vocab_size;
    tt_tensor *px = tt_from_data(b->pixels, (int64_t[]){b->n, 3, S, S}, 4, TT_F32);
    int grad = t->vision_trains ? tt_is_grad_enabled() : tt_set_grad_enabled(0);
    tt_tensor *img = blip_vision_forward(&m->vision, px, NULL, train && t->vision_trains);
    if (!t->vision_trains) tt_set_grad_enabled(grad);
    tt_tensor *q_ids = tt_from_data(b->q.ids, (int64_t[]){b->q.rows, b->q.cols}, 2, TT_I64);
    tt_tensor *q = img ? blip_vqa_question_embeds(m, img, q_ids, b->q.mask, train) : NULL;
    tt_tensor *rows = tt_from_data(b->row_of, (int64_t[]){b->rows}, 1, TT_I64);
    tt_tensor *q_rep = q ? tt_index_select(q, 0, rows) : NULL;
    tt_tensor *a_ids = tt_from_data(b->ans.ids, (int64_t[]){b->ans.rows, b->ans.cols}, 2, TT_I64);
    tt_tensor *logits = q_rep ? blip_vqa_answer_logits(m, q_rep, b->q_mask_rep, a_ids, b->ans.mask, train) : NULL;
    if (!logits) return NULL;
    tt_tensor *labels = tt_masked_fill(a_ids, tt_eq_scalar(tt_from_data(b->ans.mask, (int64_t[]){b->ans.rows, b->ans.cols}, 2, TT_I64), 0),
                                       -100);
    if (c->vqa.answer_weighting == TRAIN_VQA_WEIGHT_SINGLE) return blip_lm_loss(logits, labels, c->text.label_smoothing);
    /* BLIP: per-sequence summed token losses, weighted, summed, over the number of questions */
    int64_t A = b->rows, L = b->ans.cols;
    tt_tensor *pred = tt_reshape(tt_narrow(logits, 1, 0, L - 1), (int64_t[]){A * (L - 1), V}, 2);
    tt_tensor *target = tt_reshape(tt_narrow(labels, 1, 1, L - 1), (int64_t[]){A * (L - 1)}, 1);
    tt_tensor *tok = tt_cross_entropy(pred, target, TT_REDUCE_NONE, -100, c->text.label_smoothing);
    tt_tensor *seq = tt_sum_dim(tt_view(tok, (int64_t[]){A, L - 1}, 2), 1, 0);
    float *w = malloc(sizeof(float) * (size_t)A);
    for (int64_t r = 0; w && r < A; r++) w[r] = (float)b->weight[r];
    tt_tensor *wt = w ? tt_from_data(w, (int64_t[]){A}, 1, TT_F32) : NULL;
    free(w);
    return tt_div_scalar(tt_sum(tt_mul(seq, wt)), (double)b->n);
}

/* What batch_loss averages over: questions (blip weighting) or answer target tokens (single). */
static double loss_denominator(const vqa_trainer *t, const vqa_batch *b) {
    if (t->cfg->vqa.answer_weighting != TRAIN_VQA_WEIGHT_SINGLE) return b->n;
    double n = 0;
    for (int r = 0; r < b->ans.rows; r++)
        for (int j = 1; j < b->ans.cols; j++) n += b->ans.mask[(int64_t)r * b->ans.cols + j] != 0;
    return n;
}

static int next_examples(vqa_trainer *t, int64_t *ex, int want) {
    int k = 0;
    while (k < want) {
        if (t->order_epoch != t->st.epoch) {
            shuffle_permutation((uint64_t)t->cfg->seed, t->st.epoch, t->train->n, t->order);
            t->order_epoch = t->st.epoch;
        }
        if (t->st.position >= t->train->n) {
            /* a batch never spans two epochs */
            t->st.epoch++;
            t->st.position = 0;
            if (k) break;
            continue;
        }
        ex[k++] = t->order[t->st.position++];
    }
    return k;
}

static int write_metrics(vqa_trainer *t, const char *line) {
    if (!t->metrics) return 0;
    if (fputs(line, t->metrics) < 0 || fputc('\n', t->metrics) < 0 || fflush(t->metrics))
        return vk_err_set("%s/metrics.jsonl: write failed: %s", t->cfg->output_dir, strerror(errno));
    return 0;
}

static int save(vqa_trainer *t, const char *config_json) {
    if (t->dist.rank != 0) return 0; /* the ranks hold the same weights (checked); rank 0 writes */
    char name[64];
    snprintf(name, sizeof name, "checkpoint-%lld", t->st.step);
    char *dir = vk_path_join(t->cfg->output_dir, name);
    int rc = checkpoint_save(dir, &t->a->linears, &t->lc, t->optim, &t->tp, &t->st, config_json);
    if (!rc) checkpoint_prune(t->cfg->output_dir, t->cfg->save.keep_last, t->st.best_step);
    if (!rc && !t->opt->quiet) fprintf(stderr, "saved %s\n", dir);
    free(dir);
    return rc;
}

/* One question for the accuracy: its ground truth and the generated answer (taken over). */
static void scored_item(vqa_item *it, const vqa_example *e, char *answer) {
    it->question_id = e->question_id;
    it->question_type = strdup("unknown");
    it->answer_type = strdup("unknown");
    it->n_gt = e->n_gt;
    it->gt = calloc((size_t)e->n_gt, sizeof(char *));
    for (int g = 0; it->gt && g < e->n_gt; g++) it->gt[g] = strdup(e->gt[g]);
    it->answer = answer;
}

/* val loss + VQA accuracy of greedy/beam answers on up to eval.max_samples val questions */
static int evaluate(vqa_trainer *t) {
    const train_config *c = t->cfg;
    if (!t->val) return 0;
    int64_t n = t->val->n;
    if (c->eval.max_samples > 0 && c->eval.max_samples < n) n = c->eval.max_samples;
    int B = c->batch_size, grad = tt_set_grad_enabled(0), rc = 0;
    double loss_sum = 0, loss_den = 0; /* the val loss: a mean over questions (or tokens), not over batches */
    vqa_item *items = calloc((size_t)n + 1, sizeof *items);
    int n_items = 0;
    vqa_answer_options ao = {blip_gen_default_params(&t->a->model->cfg.text), 0, B, 0, NULL};
    ao.gen.num_beams = c->eval.beams;
    ao.gen.max_length = c->eval.max_length;
    int W = t->dist.world, R = t->dist.rank;
    char **answer_of = calloc((size_t)n + 1, sizeof *answer_of); /* per val question: the generated answer */
    if (!items || !answer_of) rc = vk_err_set("out of memory");
    for (int64_t s = (int64_t)R * B; !rc && s < n; s += (int64_t)B * W) {
        int k = (int)(n - s < B ? n - s : B);
        int64_t ex[512];
        for (int i = 0; i < k; i++) ex[i] = s + i;
        vqa_batch b;
        if (make_batch(t, t->val, ex, k, &b)) {
            rc = -1;
            break;
        }
        if (b.n) {
            tt_scope_begin();
            tt_tensor *l = batch_loss(t, &b, 0);
            double den = loss_denominator(t, &b);
            if (l) loss_sum += tt_item(l) * den, loss_den += den;
            else rc = vk_err_set("val loss: %s", tt_last_error());
            tt_scope_end();
        }
        batch_free(&b);
        /* answers for the accuracy */
        const char *imgs[512], *qs[512];
        char *ans[512];
        for (int i = 0; i < k; i++) imgs[i] = t->val->items[s + i].image, qs[i] = t->val->items[s + i].question;
        if (!rc && vqa_answer_batch(t->a, imgs, qs, k, &ao, ans)) rc = -1;
        for (int i = 0; !rc && i < k; i++) answer_of[s + i] = ans[i];
    }
    tt_set_grad_enabled(grad);
    if (W > 1) {
        /* rank 0 gathers every rank's answers (by question) and the val loss sums */
        double sums[2] = {loss_sum, loss_den};
        char key[48], **all = NULL;
        snprintf(key, sizeof key, "vqa-eval-%lld", t->st.step);
        int64_t *idx = malloc(sizeof(int64_t) * ((size_t)n + 1));
        char **text = malloc(sizeof(char *) * ((size_t)n + 1));
        int m = 0;
        for (int64_t q = 0; idx && text && q < n; q++)
            if (answer_of[q]) idx[m] = q, text[m++] = answer_of[q];
        if (!rc && (!idx || !text)) rc = vk_err_set("out of memory");
        if (!rc && (train_dist_sum(&t->dist, sums, 2) || train_dist_gather_texts(&t->dist, key, idx, text, m, n, &all))) rc = -1;
        loss_sum = sums[0], loss_den = sums[1];
        for (int64_t q = 0; answer_of && q < n; q++) free(answer_of[q]);
        free(answer_of), free(idx), free(text);
        answer_of = all; /* NULL on the other ranks */
        if (!rc && R != 0) {
            free(items);
            return 0;
        }
    }
    for (int64_t q = 0; answer_of && q < n; q++) {
        if (!answer_of[q]) continue;
        if (rc) free(answer_of[q]);
        else scored_item(&items[n_items++], &t->val->items[q], answer_of[q]);
    }
    free(answer_of);
    double acc = NAN;
    vqa_set set = {items, (size_t)n_items, 0, 0, NULL};
    if (!rc && n_items) {
        vqa_result r;
        if (vqa_evaluate(&set, &r) == 0) {
            acc = r.overall;
            vqa_result_free(&r);
        }
    }
    vqa_set_free(&set);
    if (rc) return -1;
    double val_loss = loss_den > 0 ? loss_sum / loss_den : NAN;
    char line[256], vl[32], ac[32];
    snprintf(vl, sizeof vl, isfinite(val_loss) ? "%.6f" : "null", val_loss);
    snprintf(ac, sizeof ac, isfinite(acc) ? "%.4f" : "null", acc);
    snprintf(line, sizeof line, "{\"step\": %lld, \"eval\": {\"val_loss\": %s, \"vqa_accuracy\": %s}}", t->st.step, vl, ac);
    if (write_metrics(t, line)) return -1;
    /* the best checkpoint: val_loss when asked for, else the accuracy */
    int by_loss = c->eval.metric == TRAIN_METRIC_VAL_LOSS;
    double value = by_loss ? val_loss : acc;
    int better = isfinite(value) && (isnan(t->st.best_metric) || (by_loss ? value < t->st.best_metric : value > t->st.best_metric));
    if (!t->opt->quiet)
        fprintf(stderr, "eval step %lld: val_loss %.4f  VQA accuracy %.2f%s\n", t->st.step, val_loss, acc, better ? "  [best]" : "");
    if (better) {
        t->st.best_metric = value;
        t->st.best_step = t->st.step;
        char *best = vk_path_join(c->output_dir, "best");
        int brc = lora_save_adapter(&t->a->linears, &t->lc, best);
        free(best);
        if (brc) return -1;
    }
    return 0;
}

static vqa_dataset *load(const train_config *c, const train_data_spec *d, int quiet) {
    vqa_dataset_opts o = {d->path, d->annotations, d->image_root,
                          c->vqa.answer_weighting == TRAIN_VQA_WEIGHT_SINGLE ? VQA_WEIGHT_SINGLE : VQA_WEIGHT_BLIP,
                          c->data.on_error == TRAIN_ON_ERROR_FAIL, c->data.max_bad};
    vqa_dataset *ds = vqa_dataset_load(&o);
    for (int i = 0; ds && !quiet && i < ds->n_warnings; i++) fprintf(stderr, "vlkit: warning: %s\n", ds->warnings[i]);
    return ds;
}

int vqa_train_run(const train_config *c, const char *config_json, train_run_options *opt) {
    vqa_trainer t;
    memset(&t, 0, sizeof t);
    t.cfg = c;
    t.opt = opt;
    t.st.best_metric = NAN;
    t.st.best_step = -1;
    t.order_epoch = -1;
    int rc = -1;
    if (c->threads > 0) tt_set_num_threads(c->threads);
    tt_manual_seed((uint64_t)c->seed);
    if (mkdir(c->output_dir, 0777) && errno != EEXIST) return vk_err_set("%s: cannot create: %s", c->output_dir, strerror(errno));
    if (train_dist_init(c, &t.dist)) return -1;
    const int W = t.dist.world;
    if (t.dist.rank != 0) opt->quiet = 1; /* rank 0 speaks for all */
    if (W > 1 && !opt->quiet)
        fprintf(stderr, "distributed: %d ranks (%s), global batch %d x %d ranks\n", W, train_dist_backend_name(c->distributed.backend),
                c->batch_size, W);
    if (!(t.a = vqa_answerer_load(c->model, NULL))) goto done;
    int matched = 0;
    if (train_lora_setup(c, &t.a->linears, &t.lc, &matched)) goto done;
    int64_t elements = 0;
    lora_count(&t.a->linears, &elements);
    for (int i = 0; i < t.a->linears.n; i++)
        if (t.a->linears.items[i]->lora_a && !strncmp(t.a->linears.items[i]->name, "vision_model.", 13)) t.vision_trains = 1;
    t.vision_trains |= lora_trains_under(&t.a->linears, "vision_model.");
    train_lora_report_saved(&t.a->linears, opt->quiet);
    if (!opt->quiet)
        fprintf(stderr, "lora: %d modules, %lld trainable parameters (r=%d, alpha=%g)\n", matched, (long long)elements, t.lc.r,
                t.lc.alpha);
    if (c->precision == TRAIN_PRECISION_BF16 && blip_vqa_set_dtype(t.a->model, TT_BF16)) goto done;
    if (!(t.train = load(c, &c->train, opt->quiet))) goto done;
    if (c->val.path && !(t.val = load(c, &c->val, opt->quiet))) goto done;
    t.order = malloc(sizeof(int64_t) * (size_t)t.train->n);
    if (!t.order) {
        vk_err_set("out of memory");
        goto done;
    }
    if (train_optimizer_setup(c, &t.a->linears, &t.tp, &t.optim)) goto done;
    char *from = NULL;
    if (train_resume(opt, c->output_dir, t.optim, &t.tp, &t.st, &from)) goto done;
    if (from && !opt->quiet) fprintf(stderr, "resumed from %s (step %lld)\n", from, t.st.step);
    free(from);
    if (train_dist_same(&t.dist, t.st.step, "the resumed step (is output_dir on a filesystem every rank sees?)") ||
        train_dist_same(&t.dist, t.train->n, "the number of training questions") ||
        train_dist_check_weights(&t.dist, t.tp.params, t.tp.n, t.st.step, 1))
        goto done;
    long long global_batch = (long long)c->batch_size * W;
    long long per_epoch = (t.train->n + global_batch * c->grad_accum - 1) / (global_batch * c->grad_accum);
    long long total = train_config_total_steps(c, per_epoch), warmup = train_config_warmup_steps(c, total);
    char *mp = vk_path_join(c->output_dir, "metrics.jsonl");
    t.metrics = t.dist.rank == 0 ? fopen(mp, "a") : NULL;
    free(mp);
    if (!t.metrics && t.dist.rank == 0) {
        vk_err_set("%s/metrics.jsonl: cannot open: %s", c->output_dir, strerror(errno));
        goto done;
    }
    if (!opt->quiet) fprintf(stderr, "train (vqa): %lld questions, %lld steps\n", (long long)t.train->n, total);
    train_signals_install();
    int64_t *ex = malloc(sizeof(int64_t) * (size_t)global_batch);
    long long in_a_row = 0, samples = 0;
    double t0 = now();
    int stop = 0;
    rc = ex ? 0 : vk_err_set("out of memory");
    /* with ranks, a signal on any rank reaches all through the step's all-reduce (see trainer.c) */
    while (!rc && t.st.step < total && !(stop = W > 1 ? stop : train_stop_signal())) {
        double lr = train_schedule_lr(c, t.st.step, total, warmup), loss_sum = 0, n_rows = 0;
        int finite = 1;
        tt_optim_zero_grad(t.optim);
        train_dist_seed_step(&t.dist, c->seed, t.st.step);
        for (int a = 0; !rc && a < c->grad_accum; a++) {
            /* the global batch; this rank's part is an even share of it (all of it alone) */
            int k = next_examples(&t, ex, (int)global_batch);
            int lo = (int)((long long)t.dist.rank * k / W), hi = (int)((long long)(t.dist.rank + 1) * k / W);
            vqa_batch b;
            if (make_batch(&t, t.train, ex + lo, hi - lo, &b)) {
                rc = -1;
                break;
            }
            /* each rank's share of the step's loss denominator (questions for blip weighting, answer
             * tokens for single), so the summed gradients are those of one process with the whole batch */
            double share;
            int none;
            if (train_dist_share(&t.dist, loss_denominator(&t, &b), &share, &none)) {
                batch_free(&b);
                rc = -1;
                break;
            }
            if (none) finite = 0;
            if (!b.n || share == 0) {
                batch_free(&b);
                continue;
            }
            tt_scope_begin();
            tt_tensor *l = batch_loss(&t, &b, 1);
            double v = l ? tt_item(l) : NAN;
            tt_tensor *scaled = l && share != 1.0 ? tt_mul_scalar(l, share) : l;
            if (!l) rc = vk_err_set("forward: %s", vk_err_msg()[0] ? vk_err_msg() : tt_last_error());
            else if (isfinite(v) && tt_backward(tt_div_scalar(scaled, c->grad_accum))) rc = vk_err_set("backward: %s", tt_last_error());
            tt_scope_end();
            finite &= isfinite(v);
            loss_sum += v * share / c->grad_accum;
            n_rows += b.n;
            batch_free(&b);
        }
        if (rc) break;
        if (train_dist_end_step(&t.dist, t.tp.params, t.tp.n, &loss_sum, &n_rows, &finite, &stop)) {
            rc = -1;
            break;
        }
        samples += (long long)n_rows;
        double gnorm = tt_clip_grad_norm(t.tp.params, t.tp.n, c->max_grad_norm > 0 ? c->max_grad_norm : INFINITY);
        if (!finite || !isfinite(gnorm)) {
            t.st.nonfinite_skips++;
            if (!opt->quiet) fprintf(stderr, "vlkit: warning: step %lld: non-finite loss or gradient, step skipped\n", t.st.step + 1);
            tt_optim_zero_grad(t.optim);
            if (stop) break;
            if (++in_a_row >= MAX_NONFINITE_IN_A_ROW) rc = vk_err_set("%lld non-finite steps in a row (last good checkpoint left intact)", in_a_row);
            continue;
        }
        in_a_row = 0;
        tt_optim_set_lr(t.optim, -1, lr);
        if (tt_optim_step(t.optim)) {
            rc = vk_err_set("optimizer: %s", tt_last_error());
            break;
        }
        t.st.step++;
        opt->final_loss = loss_sum;
        if (train_dist_check_weights(&t.dist, t.tp.params, t.tp.n, t.st.step, c->distributed.check_every_steps)) {
            rc = -1;
            break;
        }
        char line[300];
        snprintf(line, sizeof line, "{\"step\": %lld, \"epoch\": %lld, \"loss\": %.6f, \"lr\": %.6g, \"grad_norm\": %.6g, \"samples_per_s\": %.3f}",
                 t.st.step, t.st.epoch, loss_sum, lr, gnorm, samples / (now() - t0));
        if (write_metrics(&t, line)) rc = -1;
        if (!opt->quiet && c->logging.every_steps > 0 && t.st.step % c->logging.every_steps == 0)
            fprintf(stderr, "step %lld/%lld loss %.4f lr %.3g\n", t.st.step, total, loss_sum, lr);
        int last = t.st.step == total;
        if (!rc && ((c->eval.every_steps > 0 && t.st.step % c->eval.every_steps == 0) || last)) rc = evaluate(&t);
        if (!rc && ((c->save.every_steps > 0 && t.st.step % c->save.every_steps == 0) || last)) rc = save(&t, config_json);
    }
    if (!rc && stop && t.st.step < total) rc = save(&t, config_json);
    if (!rc && W > 1) { /* no rank leaves before rank 0 wrote the last checkpoint */
        double failed[1] = {0};
        rc = train_dist_sum(&t.dist, failed, 1);
    }
    train_signals_restore();
    free(ex);
    opt->steps_done = t.st.step;
done:
    if (t.metrics) fclose(t.metrics);
    tt_optim_free(t.optim);
    lora_free_names(t.tp.names, t.tp.n);
    free(t.tp.params);
    free(t.order);
    lora_config_free(&t.lc);
    vqa_answerer_free(t.a);
    vqa_dataset_free(t.train);
    vqa_dataset_free(t.val);
    train_dist_free(&t.dist);
    return rc;
}
