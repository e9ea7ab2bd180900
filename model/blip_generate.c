#include "model/blip_generate.h"

#include "util/error.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

blip_gen_params blip_gen_default_params(const blip_text_config *cfg) {
    blip_gen_params g = {1, 20, 0, 1.0, 1.0, 0, cfg->sep_token_id, cfg->pad_token_id};
    return g;
}

void blip_gen_output_free(blip_gen_output *o) {
    free(o->ids);
    free(o->step_scores);
    free(o->sequence_scores);
    memset(o, 0, sizeof *o);
}

/* ---- one decoding step ------------------------------------------------------------------ */

typedef struct {
    const blip_text *t;
    blip_cross_kv cross;
    blip_kv_cache cache;
    int64_t V;
    const int64_t *prompt_mask; /* [batch, P] or NULL; generated tokens are always attended */
    int64_t prompt_len;
    int rows_per_item;          /* beams per batch item */
} decoder_state;

/* The self-attention mask for `total` tokens: the prompt's own mask, then ones. */
static int64_t *step_mask(const decoder_state *s, int64_t rows, int64_t total) {
    int64_t *m = malloc(sizeof(int64_t) * (size_t)(rows * total));
    for (int64_t r = 0; m && r < rows; r++)
        for (int64_t j = 0; j < total; j++)
            m[r * total + j] = j < s->prompt_len ? s->prompt_mask[(r / s->rows_per_item) * s->prompt_len + j] : 1;
    return m;
}

/* Feed tokens [rows, L] (the whole prompt first, then one token per step); host scores of the
 * last position go to out [rows, V] (log-softmaxed when log_probs). */
static int decode_step(decoder_state *s, const int64_t *tokens, int64_t rows, int64_t L, int log_probs, float *out) {
    int64_t *mask = s->prompt_mask ? step_mask(s, rows, s->cache.len + L) : NULL;
    if (s->prompt_mask && !mask) return vk_err_set("generate: out of memory");
    tt_scope_begin();
    tt_tensor *ids = tt_from_data(tokens, (int64_t[]){rows, L}, 2, TT_I64);
    blip_text_args a = {.input_ids = ids, .attn_mask = mask, .causal = 1, .cross = &s->cross, .cache = &s->cache};
    tt_tensor *h = ids ? blip_text_forward(s->t, &a) : NULL;
    free(mask);
    tt_tensor *logits = NULL;
    if (h) {
        /* only the last position predicts the next token */
        logits = blip_text_lm_head(s->t, tt_narrow(h, 1, L - 1, 1), 0);
        tt_tensor *last = tt_reshape(logits, (int64_t[]){rows, s->V}, 2);
        if (log_probs) last = tt_log_softmax(last, -1);
        last = tt_to_dtype(last, TT_F32);
        if (!last || tt_copy_to(last, out, sizeof(float) * (size_t)(rows * s->V)) != 0) logits = NULL;
        tt_free(h);
    }
    tt_scope_end();
    if (!logits) return vk_err_set("generate: decoder step failed: %s", vk_err_msg()[0] ? vk_err_msg() : tt_last_error());
    return 0;
}

/* ---- logits processors (on one row of scores) ------------------------------------------- */

static void apply_processors(const blip_gen_params *gp, const int64_t *seq, int64_t len, float *scores, int64_t V) {
    if (gp->repetition_penalty != 1.0) {
        /* every distinct token already in the sequence, prompt and [DEC] included */
        for (int64_t i = 0; i < len; i++) {
            int64_t tok = seq[i];
            int seen = 0;
            for (int64_t j = 0; j < i && !seen; j++) seen = seq[j] == tok;
            if (seen || tok < 0 || tok >= V) continue;
            float s = scores[tok];
            scores[tok] = s < 0 ? (float)(s * gp->repetition_penalty) : (float)(s / gp->repetition_penalty);
        }
    }
    int n = gp->no_repeat_ngram_size;
    if (n > 0 && len + 1 >= n) {
        /* ban every token that would repeat an n-gram: match the last n-1 tokens */
        for (int64_t start = 0; start + n <= len; start++) {
            int match = 1;
            for (int k = 0; k < n - 1 && match; k++) match = seq[start + k] == seq[len - (n - 1) + k];
            if (match && seq[start + n - 1] >= 0 && seq[start + n - 1] < V) scores[seq[start + n - 1]] = -INFINITY;
        }
    }
    if (len < gp->min_length && gp->stop_token_id >= 0 && gp->stop_token_id < V) scores[gp->stop_token_id] = -INFINITY;
}

/* ---- greedy ----------------------------------------------------------------------------- */

static int greedy(decoder_state *s, const int64_t *prompt, int64_t B, int64_t P, const blip_gen_params *gp, int keep_scores,
                  blip_gen_output *out) {
    int64_t V = s->V, maxlen = gp->max_length > P ? gp->max_length : P + 1;
    int64_t *seq = malloc(sizeof(int64_t) * (size_t)(B * maxlen));
    float *scores = malloc(sizeof(float) * (size_t)(B * V));
    float *kept = keep_scores ? malloc(sizeof(float) * (size_t)(B * (maxlen - P) * V)) : NULL;
    int *unfinished = malloc(sizeof(int) * (size_t)B);
    int64_t *step_tokens = malloc(sizeof(int64_t) * (size_t)B);
    if (!seq || !scores || (keep_scores && !kept) || !unfinished || !step_tokens) {
        free(seq), free(scores), free(kept), free(unfinished), free(step_tokens);
        return vk_err_set("generate: out of memory");
    }
    for (int64_t b = 0; b < B; b++) {
        memcpy(seq + b * maxlen, prompt + b * P, sizeof(int64_t) * (size_t)P);
        unfinished[b] = 1;
    }
    int64_t len = P, steps = 0;
    int rc = 0;
    const int64_t *feed = prompt;
    int64_t feed_len = P;
    for (;;) {
        if ((rc = decode_step(s, feed, B, feed_len, 0, scores))) break;
        int any = 0;
        for (int64_t b = 0; b < B; b++) {
            float *row = scores + b * V;
            apply_processors(gp, seq + b * maxlen, len, row, V);
            if (kept) memcpy(kept + (b * (maxlen - P) + steps) * V, row, sizeof(float) * (size_t)V);
            int64_t best = 0;
            for (int64_t v = 1; v < V; v++)
                if (row[v] > row[best]) best = v; /* first maximum, as torch.argmax */
            int64_t tok = unfinished[b] ? best : gp->pad_token_id;
            seq[b * maxlen + len] = tok;
            step_tokens[b] = tok;
            if (tok == gp->stop_token_id) unfinished[b] = 0;
            any |= unfinished[b];
        }
        len++;
        steps++;
        feed = step_tokens;
        feed_len = 1;
        if (!any || len >= maxlen) break;
    }
    if (!rc) {
        out->rows = B;
        out->len = len;
        out->ids = malloc(sizeof(int64_t) * (size_t)(B * len));
        for (int64_t b = 0; b < B && out->ids; b++) memcpy(out->ids + b * len, seq + b * maxlen, sizeof(int64_t) * (size_t)len);
        if (kept) {
            out->steps = steps;
            out->step_scores = malloc(sizeof(float) * (size_t)(B * steps * V));
            for (int64_t b = 0; b < B && out->step_scores; b++)
                memcpy(out->step_scores + b * steps * V, kept + b * (maxlen - P) * V, sizeof(float) * (size_t)(steps * V));
        }
        if (!out->ids || (kept && !out->step_scores)) rc = vk_err_set("generate: out of memory");
    }
    free(seq), free(scores), free(kept), free(unfinished), free(step_tokens);
    return rc;
}

/* ---- beam search (BeamSearchScorer + BeamHypotheses) -------------------------------------- */

typedef struct {
    double score;
    int64_t *ids; /* without the stop token */
    int64_t len;
} hypothesis;

typedef struct {
    hypothesis *hyps; /* up to num_beams + 1 while adding */
    int n;
    double worst;
    int done;
} hypotheses;

static void hyps_add(hypotheses *h, int K, const int64_t *ids, int64_t len, double sum_logprobs, int64_t gen_len,
                     double length_penalty) {
    double score = sum_logprobs / pow((double)gen_len, length_penalty);
    if (h->n >= K && !(score > h->worst)) return;
    hypothesis *slot = &h->hyps[h->n++];
    slot->score = score;
    slot->len = len;
    slot->ids = malloc(sizeof(int64_t) * (size_t)(len ? len : 1));
    if (slot->ids) memcpy(slot->ids, ids, sizeof(int64_t) * (size_t)len);
    if (h->n > K) {
        /* drop the worst (the first of equal scores, as Python's sorted() of (score, index)) */
        int worst = 0, second = -1;
        for (int i = 1; i < h->n; i++)
            if (h->hyps[i].score < h->hyps[worst].score) worst = i;
        free(h->hyps[worst].ids);
        memmove(&h->hyps[worst], &h->hyps[worst + 1], sizeof(hypothesis) * (size_t)(h->n - worst - 1));
        h->n--;
        for (int i = 0; i < h->n; i++)
            if (second < 0 || h->hyps[i].score < h->hyps[second].score) second = i;
        h->worst = h->hyps[second].score;
    } else {
        h->worst = score < h->worst ? score : h->worst;
    }
}

static int hyps_is_done(const hypotheses *h, int K, double best_sum_logprobs, int64_t cur_len, int64_t prompt_len,
                        double length_penalty) {
    if (h->n < K) return 0;
    double highest = best_sum_logprobs / pow((double)(cur_len - prompt_len), length_penalty);
    return h->worst >= highest;
}

typedef struct {
    float score;
    int64_t index; /* k * V + v */
} candidate;

/* Sorted top-n of scores[0..m): descending, lower index first on ties. */
static void top_candidates(const float *scores, int64_t m, int n, candidate *top) {
    int filled = 0;
    for (int64_t i = 0; i < m; i++) {
        float s = scores[i];
        if (filled == n && !(s > top[n - 1].score)) continue;
        int pos = filled < n ? filled++ : n - 1;
        while (pos > 0 && s > top[pos - 1].score) {
            top[pos] = top[pos - 1];
            pos--;
        }
        top[pos].score = s;
        top[pos].index = i;
    }
}

static int beam_search(decoder_state *s, const int64_t *prompt, int64_t B, int64_t P, const blip_gen_params *gp,
                       blip_gen_output *out) {
    int K = gp->num_beams;
    int64_t V = s->V, R = B * K, maxlen = gp->max_length > P ? gp->max_length : P + 1;
    int rc = 0;
    int64_t *seq = malloc(sizeof(int64_t) * (size_t)(R * maxlen));
    int64_t *next_seq = malloc(sizeof(int64_t) * (size_t)(R * maxlen));
    float *logp = malloc(sizeof(float) * (size_t)(R * V));
    float *beam_scores = malloc(sizeof(float) * (size_t)R), *next_scores = malloc(sizeof(float) * (size_t)R);
    int64_t *beam_idx = malloc(sizeof(int64_t) * (size_t)R), *tokens = malloc(sizeof(int64_t) * (size_t)R);
    candidate *top = malloc(sizeof(candidate) * (size_t)(2 * K));
    hypotheses *hy = calloc((size_t)B, sizeof *hy);
    for (int64_t b = 0; hy && b < B; b++) {
        hy[b].hyps = calloc((size_t)K + 1, sizeof(hypothesis));
        hy[b].worst = 1e9;
        if (!hy[b].hyps) rc = -1;
    }
    if (!seq || !next_seq || !logp || !beam_scores || !next_scores || !beam_idx || !tokens || !top || !hy || rc) {
        rc = vk_err_set("generate: out of memory");
        goto done;
    }
    /* every beam starts from the prompt; only beam 0 counts at first (the others at -1e9) */
    int64_t *expanded = malloc(sizeof(int64_t) * (size_t)(R * P));
    if (!expanded) {
        rc = vk_err_set("generate: out of memory");
        goto done;
    }
    for (int64_t r = 0; r < R; r++) {
        memcpy(seq + r * maxlen, prompt + (r / K) * P, sizeof(int64_t) * (size_t)P);
        memcpy(expanded + r * P, prompt + (r / K) * P, sizeof(int64_t) * (size_t)P);
        beam_scores[r] = r % K == 0 ? 0.0f : -1e9f;
    }
    int64_t len = P;
    rc = decode_step(s, expanded, R, P, 1, logp);
    free(expanded);
    while (!rc) {
        int64_t cur_len = len + 1; /* length once this step's token is appended */
        float *cand = malloc(sizeof(float) * (size_t)(K * V));
        if (!cand) {
            rc = vk_err_set("generate: out of memory");
            break;
        }
        for (int64_t b = 0; b < B; b++) {
            for (int k = 0; k < K; k++) {
                int64_t r = b * K + k;
                float *row = logp + r * V;
                apply_processors(gp, seq + r * maxlen, len, row, V);
                for (int64_t v = 0; v < V; v++) cand[k * V + v] = row[v] + beam_scores[r];
            }
            top_candidates(cand, K * V, 2 * K, top);
            if (hy[b].done) {
                for (int k = 0; k < K; k++) {
                    next_scores[b * K + k] = 0;
                    tokens[b * K + k] = gp->pad_token_id;
                    beam_idx[b * K + k] = 0;
                }
                continue;
            }
            int filled = 0;
            for (int rank = 0; rank < 2 * K && filled < K; rank++) {
                int64_t k = top[rank].index / V, tok = top[rank].index % V, src = b * K + k;
                if (tok == gp->stop_token_id) {
                    if (rank >= K) continue;
                    hyps_add(&hy[b], K, seq + src * maxlen, len, (double)top[rank].score, cur_len - P, gp->length_penalty);
                } else {
                    next_scores[b * K + filled] = top[rank].score;
                    tokens[b * K + filled] = tok;
                    beam_idx[b * K + filled] = src;
                    filled++;
                }
            }
            hy[b].done = hy[b].done || hyps_is_done(&hy[b], K, (double)top[0].score, cur_len, P, gp->length_penalty);
        }
        free(cand);
        for (int64_t r = 0; r < R; r++) {
            memcpy(next_seq + r * maxlen, seq + beam_idx[r] * maxlen, sizeof(int64_t) * (size_t)len);
            next_seq[r * maxlen + len] = tokens[r];
            beam_scores[r] = next_scores[r];
        }
        int64_t *tmp = seq;
        seq = next_seq;
        next_seq = tmp;
        len = cur_len;
        int all_done = 1;
        for (int64_t b = 0; b < B; b++) all_done &= hy[b].done;
        if (all_done || len >= maxlen) break;
        /* reorder the cache to follow the surviving beams, then feed their new tokens */
        tt_tensor *rows = tt_from_data(beam_idx, (int64_t[]){R}, 1, TT_I64);
        if (!rows || blip_kv_cache_select(&s->cache, rows)) rc = vk_err_set("generate: %s", tt_last_error());
        tt_free(rows);
        if (!rc) rc = decode_step(s, tokens, R, 1, 1, logp);
    }
    if (rc) goto done;
    /* finalize: running beams of unfinished items become hypotheses */
    for (int64_t b = 0; b < B; b++) {
        if (hy[b].done) continue;
        for (int k = 0; k < K; k++) {
            int64_t r = b * K + k;
            hyps_add(&hy[b], K, seq + r * maxlen, len, (double)beam_scores[r], len - P, gp->length_penalty);
        }
    }
    int64_t longest = 0;
    int *best = malloc(sizeof(int) * (size_t)B);
    if (!best) {
        rc = vk_err_set("generate: out of memory");
        goto done;
    }
    for (int64_t b = 0; b < B; b++) {
        /* the best score; among equal scores the one added last (sorted() then pop()) */
        int bi = 0;
        for (int i = 1; i < hy[b].n; i++)
            if (hy[b].hyps[i].score >= hy[b].hyps[bi].score) bi = i;
        best[b] = bi;
        if (hy[b].hyps[bi].len > longest) longest = hy[b].hyps[bi].len;
    }
    int64_t width = longest + 1 < maxlen ? longest + 1 : maxlen;
    out->rows = B;
    out->len = width;
    out->ids = malloc(sizeof(int64_t) * (size_t)(B * width));
    out->sequence_scores = malloc(sizeof(double) * (size_t)B);
    if (!out->ids || !out->sequence_scores) {
        free(best);
        rc = vk_err_set("generate: out of memory");
        goto done;
    }
    for (int64_t b = 0; b < B; b++) {
        const hypothesis *h = &hy[b].hyps[best[b]];
        int64_t *row = out->ids + b * width;
        for (int64_t i = 0; i < width; i++) row[i] = gp->pad_token_id;
        memcpy(row, h->ids, sizeof(int64_t) * (size_t)h->len);
        if (h->len < width) row[h->len] = gp->stop_token_id;
        out->sequence_scores[b] = h->score;
    }
    free(best);
done:
    for (int64_t b = 0; hy && b < B; b++) {
        for (int i = 0; hy[b].hyps && i < hy[b].n; i++) free(hy[b].hyps[i].ids);
        free(hy[b].hyps);
    }
    free(hy), free(seq), free(next_seq), free(logp), free(beam_scores), free(next_scores), free(beam_idx), free(tokens),
        free(top);
    if (rc) blip_gen_output_free(out);
    return rc;
}

int blip_generate(const blip_text *t, tt_tensor *image_embeds, tt_tensor *encoder_mask, const int64_t *prompt,
                  const int64_t *prompt_mask, int64_t batch, int64_t prompt_len, const blip_gen_params *gp, int keep_scores,
                  blip_gen_output *out) {
    memset(out, 0, sizeof *out);
    if (!t->has_lm_head) return vk_err_set("generate: this text tower has no LM head");
    if (gp->num_beams < 1) return vk_err_set("generate: num_beams must be at least 1 (got %d)", gp->num_beams);
    if (prompt_len < 1 || batch < 1) return vk_err_set("generate: empty prompt (it must start with [DEC])");
    if (gp->max_length > t->cfg.max_position_embeddings)
        return vk_err_set("generate: max_length %d exceeds the model's max_position_embeddings %d", gp->max_length,
                          t->cfg.max_position_embeddings);
    if (gp->length_penalty != gp->length_penalty || gp->repetition_penalty <= 0)
        return vk_err_set("generate: repetition_penalty must be > 0");
    int grad = tt_set_grad_enabled(0);
    decoder_state s = {.t = t,
                       .V = t->cfg.vocab_size,
                       .prompt_mask = prompt_mask,
                       .prompt_len = prompt_len,
                       .rows_per_item = gp->num_beams};
    /* each row forwards max_length - 1 tokens at most (the prompt, then one per step) */
    int64_t rows = (int64_t)gp->num_beams * (gp->max_length > prompt_len ? gp->max_length - 1 : prompt_len);
    int rc = blip_text_cross_kv(t, image_embeds, encoder_mask, &s.cross, 0, rows);
    /* each image's keys/values serve all of its beams (rows 0,0,0,1,1,1,...): beams are only
     * ever reordered within their image, so the row -> image map holds to the end */
    if (!rc && gp->num_beams > 1 && blip_cross_kv_repeat(&s.cross, gp->num_beams)) rc = vk_err_set("generate: %s", vk_err_msg());
    if (!rc) rc = blip_kv_cache_init(&s.cache, t->cfg.num_hidden_layers);
    if (!rc)
        rc = gp->num_beams == 1 ? greedy(&s, prompt, batch, prompt_len, gp, keep_scores, out)
                                : beam_search(&s, prompt, batch, prompt_len, gp, out);
    blip_kv_cache_free(&s.cache);
    blip_cross_kv_free(&s.cross);
    tt_set_grad_enabled(grad);
    return rc;
}
