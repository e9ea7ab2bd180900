/* eval.h — the built-in evaluators, in pure C (no libtorch, no Java, no Python).
 *
 * Captions: BLEU-1..4, ROUGE-L and CIDEr-D exactly as pycocoevalcap computes them, after the
 * tokenisation of its PTBTokenizer wrapper (Stanford CoreNLP 3.4.1, -preserveLines -lowerCase,
 * then punctuation tokens dropped). VQA: the official accuracy of GT-Vision-Lab/VQA vqaEval.py.
 * The rules are pinned by ../shared/fixtures/eval/README.md and its fixtures.
 *
 * Basic usage (captions):
 *
 *     caption_set set;
 *     if (caption_set_load(&set, "captions_val.json", "results.json") != 0 ||
 *         caption_set_tokenize(&set) != 0)          // skip this call for pretokenised text
 *         fail(vk_err_msg());
 *     caption_scores s;
 *     if (caption_scores_compute(&set, NULL, 1, &s) != 0) fail(vk_err_msg());
 *     printf("CIDEr %.4f\n", s.cider);            // s.per_image[i] belongs to set.items[i]
 *     caption_scores_free(&s);
 *     caption_set_free(&set);
 *
 * Basic usage (VQA):
 *
 *     vqa_set v;
 *     vqa_result r;
 *     if (vqa_set_load(&v, "questions.json", "annotations.json", "results.json") != 0 ||
 *         vqa_evaluate(&v, &r) != 0) fail(vk_err_msg());
 *     printf("%.2f\n", r.overall_rounded);
 *     vqa_result_free(&r);
 *     vqa_set_free(&v);
 *
 * Every function that can fail sets vk_err (util/error.h) with the file and the problem and
 * returns -1 / NULL; nothing here prints or exits. All text is UTF-8. Loading, tokenising and
 * scoring use a second thread (util/pair_run.h; VLKIT_SCORE_THREADS=1 keeps one); the results
 * and errors never depend on it. */
#ifndef VLKIT_EVAL_EVAL_H
#define VLKIT_EVAL_EVAL_H

#include <stddef.h>

/* ------------------------------------------------------------------ PTB tokenizer (ptb_tokenizer.c) */

/* Tokenise captions the way pycocoevalcap's PTBTokenizer wrapper does: the captions are joined
 * with "\n" (a "\n" inside a caption becomes a space), run through the CoreNLP 3.4.1 PTB lexer
 * (so an abbreviation at the end of one caption can look at the first letter of the next one),
 * lower-cased with Java's English rules, and the punctuation tokens '' ' `` ` -LRB- -RRB- -LCB-
 * -RCB- . ? ! , : - -- ... ; are dropped. out[i] (malloc'd) is caption i's tokens joined by one
 * space. Other line breaks the lexer knows (\r, VT, FF, U+0085, U+2028, U+2029) are treated as
 * spaces (the official wrapper would shift every later caption by one line). Input must be valid
 * UTF-8 without NUL bytes. Returns 0, or -1 with vk_err set (out untouched). */
int ptb_tokenize_lines(const char *const *captions, size_t n, char **out);
/* One caption on its own (as the only line of the input). malloc'd result, NULL on error. */
char *ptb_tokenize(const char *caption);

/* ------------------------------------------------------------------ caption data (caption_data.c) */

typedef struct {
    long long image_id;
    char *cand;   /* the candidate (result) caption */
    char **refs;  /* n_refs reference captions */
    int n_refs;
} caption_item;

typedef struct {
    caption_item *items; /* the evaluated images, in the order the official code visits them */
    size_t n;
    size_t n_unscored;          /* annotated images without a result: not evaluated (see docs/score.md) */
    long long first_unscored;   /* the first of them, for the warning */
    char *ann_path, *res_path;  /* copies, for messages */
    void *strings;              /* internal: after caption_set_tokenize, the pool that holds every caption (NULL: each is malloc'd) */
} caption_set;

/* Read the references (COCO captions file; Karpathy dataset_*.json; a JSON array or JSON-lines
 * file of {"image_id"|"image", "caption"|"captions"}) and a COCO results file
 * ([{"image_id": int, "caption": str}]). The evaluated set is the annotated images that have a
 * result (what COCOEvalCap evaluates with params['image_id'] = cocoRes.getImgIds()). Errors: a
 * result for an image id that is not in the annotations, two results for one image, missing or
 * mistyped fields, ids that are not integers, invalid UTF-8 or NUL characters, an image with a
 * result but no references. */
int caption_set_load(caption_set *set, const char *ann_path, const char *res_path);
/* Replace every caption by its PTB tokenisation (the references and the candidates are tokenised
 * as two separate runs, in the official order, as COCOEvalCap.evaluate() does). */
int caption_set_tokenize(caption_set *set);
void caption_set_free(caption_set *set);

/* Read every reference of an annotation file (all images, file order), e.g. to build a CIDEr-D
 * document-frequency table. Fills a caption_set whose items have cand == NULL. */
int caption_refs_load(caption_set *set, const char *ann_path);

/* ------------------------------------------------------------------ scorers (bleu.c rouge.c cider.c) */

/* Words (str.split(): any Unicode whitespace) of every caption, interned, with the counts of
 * their 1..4-grams. Built once, shared by BLEU and CIDEr-D. */
typedef struct caption_ngrams caption_ngrams;
caption_ngrams *caption_ngrams_build(const caption_item *items, size_t n);
void caption_ngrams_free(caption_ngrams *g);

typedef struct {
    double bleu[4];                  /* Bleu_1..Bleu_4, corpus level, 0..1 */
    long long testlen, reflen;       /* corpus sums, "closest" reference length */
    long long guess[4], correct[4];
} bleu_result;
/* Corpus BLEU (and, when per_image != NULL, per_image[i][k] = smoothed sentence Bleu_(k+1)). */
int bleu_score(const caption_ngrams *g, bleu_result *out, double (*per_image)[4]);

/* ROUGE-L (beta = 1.2, tokens = split(" ")): returns the corpus mean in *corpus. */
int rouge_score(const caption_item *items, size_t n, double *corpus, double *per_image);

/* CIDEr-D document frequencies. NULL = the official behaviour (df over the evaluated references,
 * log N with N = the number of evaluated images). A table from cider_df_load / cider_df_build
 * replaces both (self-critical training's "corpus" df, e.g. COCO-train references). */
typedef struct cider_df cider_df;
cider_df *cider_df_load(const char *path);
cider_df *cider_df_build(const caption_ngrams *g);  /* df over every image's reference set */
int cider_df_save(const cider_df *df, const char *path);
size_t cider_df_size(const cider_df *df);
double cider_df_ref_len(const cider_df *df);         /* log of its number of images */
void cider_df_free(cider_df *df);

typedef struct {
    double log_n;         /* the "ref_len" used: log N */
    size_t distinct_df;   /* n-grams with a document frequency (evaluated references) */
} cider_info;
/* CIDEr-D (x10 scale). per_image may be NULL; per_image_ngram[i][k] = 10 * sum_refs sim_(k+1) / m. */
int cider_score(const caption_ngrams *g, const cider_df *df, double *corpus, double *per_image,
                double (*per_image_ngram)[4], cider_info *info);

/* All three metrics in one call, in the scales pycocoevalcap reports. */
typedef struct {
    double bleu[4], rouge_l, cider;
    bleu_result bleu_stats;
    cider_info cider_stats;
    /* per image (when asked for), index = caption_set item index */
    double (*per_image_bleu)[4];
    double *per_image_rouge, *per_image_cider;
} caption_scores;
enum { CAPTION_METRIC_BLEU = 1, CAPTION_METRIC_ROUGE = 2, CAPTION_METRIC_CIDER = 4, CAPTION_METRIC_ALL = 7 };
int caption_scores_compute(const caption_set *set, const cider_df *df, int metrics, int per_image,
                           caption_scores *out);
void caption_scores_free(caption_scores *s);

/* ------------------------------------------------------------------ VQA (vqa_data.c, vqa_eval.c) */

typedef struct {
    long long question_id;
    char *question_type, *answer_type;
    char **gt;      /* the human answers, as in the file */
    int n_gt;       /* 10 in VQA v2; any count >= 1 is accepted */
    char *answer;   /* the result */
} vqa_item;

typedef struct {
    vqa_item *items; /* annotation order */
    size_t n;
    size_t n_duplicate_results;    /* results given twice: the last one counts (as in vqa.py) */
    long long first_duplicate;
    struct text_pool *pool; /* holds the items' strings and gt arrays (vqa_set_load); NULL: each is malloc'd */
} vqa_set;

/* Questions file (VQA v2), annotations file, results [{"question_id": int, "answer": str}].
 * Like vqa.py's loadRes: every annotated question needs a result and no result may name an
 * unknown question (error otherwise). */
int vqa_set_load(vqa_set *set, const char *questions_path, const char *ann_path, const char *res_path);
void vqa_set_free(vqa_set *set);

/* vqaEval.py's answer normalisation (steps 1-4 of the README): normalise the n gt answers and res
 * in place (each is replaced by a malloc'd string; the old ones are freed). Returns 1 when the
 * punctuation / digit / article processing ran (gt answers not all identical), 0 when not, -1 on
 * out of memory. */
int vqa_normalize(char **gt, int n_gt, char **res);
/* processPunctuation and processDigitArticle on their own (malloc'd results). */
char *vqa_process_punctuation(const char *s);
char *vqa_process_digit_article(const char *s);
/* Python 2 round(x, 2): correctly rounded, exact ties away from zero. */
double vqa_round2(double x);

typedef struct {
    char *name;
    double acc;       /* unrounded percent */
    double rounded;   /* official 2-decimal value */
    size_t n;
} vqa_group;

typedef struct {
    double overall, overall_rounded;
    vqa_group *per_answer_type; size_t n_answer_types;      /* first-seen order (stb_ds arrays) */
    vqa_group *per_question_type; size_t n_question_types;  /* first-seen order (stb_ds arrays) */
    double *per_question;          /* unrounded percent, index = vqa_set item index */
    double *per_question_rounded;  /* round(100 * acc, 2) */
} vqa_result;
int vqa_evaluate(const vqa_set *set, vqa_result *out);
void vqa_result_free(vqa_result *r);

#endif
