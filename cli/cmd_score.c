/* vlkit score — score prediction files with the built-in evaluators (eval/eval.h): COCO caption
 * metrics (BLEU-1..4, ROUGE-L, CIDEr-D after PTB tokenisation) or the official VQA accuracy.
 * No model, no Java, no Python. docs/score.md is the user documentation.
 *
 * The result is built as one JSON object (the --json output); the table is rendered from the
 * same object, so the two never disagree. METEOR and SPICE are never printed: their official
 * implementations need Java jars and data that vlkit does not have, and a made-up number would
 * be worse than none. */
#include "cli/commands.h"
#include "eval/eval.h"
#include "util/args.h"
#include "util/error.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static const char *task, *annotations, *results, *questions, *metrics_opt, *df_path, *write_df;
static int per_image, per_question, as_json, pretokenized, timing;

static const vk_arg score_args[] = {
    {"--task", "caption|vqa", VK_ARG_STRING, &task, "what the results are", NULL, 1},
    {"--annotations", "FILE", VK_ARG_STRING, &annotations,
     "references: COCO captions / Karpathy / JSON(L) records; or VQA v2 annotations", NULL, 0},
    {"--results", "FILE", VK_ARG_STRING, &results, "predictions: [{\"image_id\", \"caption\"}] or [{\"question_id\", \"answer\"}]",
     NULL, 0},
    {"--questions", "FILE", VK_ARG_STRING, &questions, "VQA v2 questions file (--task vqa)", NULL, 0},
    {"--metrics", "LIST", VK_ARG_STRING, &metrics_opt, "caption metrics, comma-separated: bleu,rouge,cider (default all)",
     NULL, 0},
    {"--per-image", NULL, VK_ARG_FLAG, &per_image, "also report every image's scores (caption)", NULL, 0},
    {"--per-question", NULL, VK_ARG_FLAG, &per_question, "also report every question's accuracy (vqa)", NULL, 0},
    {"--json", NULL, VK_ARG_FLAG, &as_json, "print one JSON object instead of a table", NULL, 0},
    {"--pretokenized", NULL, VK_ARG_FLAG, &pretokenized,
     "captions are already tokenised (lower-case, space-separated, no punctuation): skip the PTB tokenizer", NULL, 0},
    {"--df", "FILE", VK_ARG_STRING, &df_path,
     "CIDEr-D document frequencies from FILE (e.g. COCO-train, as self-critical training uses) instead of the "
     "evaluated references",
     NULL, 0},
    {"--timing", NULL, VK_ARG_FLAG, &timing, "print the time of each stage (read, tokenize, score) to stderr", NULL, 0},
    {"--write-df", "FILE", VK_ARG_STRING, &write_df,
     "write the document-frequency table of --annotations' references to FILE (for --df) and exit", NULL, 0},
    {0},
};

static const vk_argspec score_spec = {
    "score",
    "--task caption|vqa [options]",
    "score prediction files: BLEU-1..4, ROUGE-L, CIDEr-D (as pycocoevalcap) or VQA accuracy (as vqaEval.py)",
    score_args,
    0,
    0,
    "examples:\n"
    "  vlkit score --task caption --annotations captions_val2014.json --results results.json\n"
    "  vlkit score --task caption --annotations ann.json --results res.json --metrics cider --per-image --json\n"
    "  vlkit score --task caption --annotations captions_train2014.json --write-df coco-train-df.json\n"
    "  vlkit score --task caption --annotations ann.json --results res.json --df coco-train-df.json\n"
    "  vlkit score --task vqa --questions questions.json --annotations annotations.json --results results.json\n"
    "\nMETEOR and SPICE are not computed (they need Java jars and data files); see docs/score.md.\n",
};

static void reset_options(void) {
    task = annotations = results = questions = metrics_opt = df_path = write_df = NULL;
    per_image = per_question = as_json = pretokenized = timing = 0;
}

/* "bleu,rouge,cider" -> CAPTION_METRIC_* bits; 0 on a bad name (printed). */
static int parse_metrics(const char *s) {
    if (!s) return CAPTION_METRIC_ALL;
    int bits = 0;
    const char *p = s;
    while (*p) {
        const char *e = strchr(p, ',');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n == 4 && strncmp(p, "bleu", 4) == 0)
            bits |= CAPTION_METRIC_BLEU;
        else if ((n == 5 && strncmp(p, "rouge", 5) == 0) || (n == 7 && strncmp(p, "rouge_l", 7) == 0))
            bits |= CAPTION_METRIC_ROUGE;
        else if ((n == 5 && strncmp(p, "cider", 5) == 0) || (n == 7 && strncmp(p, "cider-d", 7) == 0))
            bits |= CAPTION_METRIC_CIDER;
        else if ((n == 6 && strncmp(p, "meteor", 6) == 0) || (n == 5 && strncmp(p, "spice", 5) == 0)) {
            vk_print_error("score: --metrics: %.*s is not available: its official implementation needs Java jars and "
                           "data files (see docs/score.md); choose from bleu, rouge, cider",
                           (int)n, p);
            return 0;
        } else {
            vk_print_error("score: --metrics: unknown metric '%.*s' (choose from bleu, rouge, cider)", (int)n, p);
            return 0;
        }
        p += n;
        if (*p == ',') p++;
    }
    if (!bits) vk_print_error("score: --metrics: empty list (choose from bleu, rouge, cider)");
    return bits;
}

static void print_json(cJSON *root) {
    char *text = cJSON_PrintUnformatted(root);
    if (text) {
        fputs(text, stdout);
        fputc('\n', stdout);
        free(text);
    }
}

static int write_df_table(void) {
    caption_set refs;
    if (caption_refs_load(&refs, annotations) != 0) return -1;
    if (!pretokenized && caption_set_tokenize(&refs) != 0) {
        caption_set_free(&refs);
        return -1;
    }
    caption_ngrams *g = caption_ngrams_build(refs.items, refs.n);
    cider_df *df = g ? cider_df_build(g) : NULL;
    int rc = df ? cider_df_save(df, write_df) : -1;
    if (rc == 0)
        fprintf(stderr, "vlkit: wrote %s: document frequencies of %zu n-grams over %zu images\n", write_df,
                cider_df_size(df), refs.n);
    cider_df_free(df);
    caption_ngrams_free(g);
    caption_set_free(&refs);
    return rc;
}

static void add_caption_metrics(cJSON *o, const caption_scores *s, int bits, size_t i, int corpus) {
    static const char *bleu_names[4] = {"Bleu_1", "Bleu_2", "Bleu_3", "Bleu_4"};
    if (bits & CAPTION_METRIC_BLEU)
        for (int k = 0; k < 4; k++) cJSON_AddNumberToObject(o, bleu_names[k], corpus ? s->bleu[k] : s->per_image_bleu[i][k]);
    if (bits & CAPTION_METRIC_ROUGE) cJSON_AddNumberToObject(o, "ROUGE_L", corpus ? s->rouge_l : s->per_image_rouge[i]);
    if (bits & CAPTION_METRIC_CIDER) cJSON_AddNumberToObject(o, "CIDEr", corpus ? s->cider : s->per_image_cider[i]);
}

static int run_caption(void) {
    int bits = parse_metrics(metrics_opt);
    if (!bits) return 2;
    if (!annotations) {
        vk_print_error("score: --task caption needs --annotations FILE");
        return 2;
    }
    if (write_df) return write_df_table() == 0 ? 0 : 1;
    if (!results) {
        vk_print_error("score: --task caption needs --results FILE");
        return 2;
    }
    cider_df *df = NULL;
    if (df_path && !(df = cider_df_load(df_path))) return 1;
    caption_set set;
    double t0 = now_s();
    if (caption_set_load(&set, annotations, results) != 0) {
        cider_df_free(df);
        return 1;
    }
    double t1 = now_s(), t2 = t1, t3 = t1;
    if (set.n_unscored)
        vk_print_warning("%zu annotated image%s in %s have no result (first: image_id %lld) and are not scored, as in "
                         "the official evaluation of the result images",
                         set.n_unscored, set.n_unscored == 1 ? "" : "s", annotations, set.first_unscored);
    caption_scores s;
    int rc = 1;
    if ((pretokenized || caption_set_tokenize(&set) == 0) && (t2 = now_s()) > 0 &&
        caption_scores_compute(&set, df, bits, per_image, &s) == 0) {
        rc = 0;
        t3 = now_s();
        if (timing)
            fprintf(stderr, "vlkit: timing: read %.4f s, tokenize %.4f s, score %.4f s, total %.4f s (%zu images)\n",
                    t1 - t0, t2 - t1, t3 - t2, t3 - t0, set.n);
        cJSON *root = cJSON_CreateObject();
        add_caption_metrics(root, &s, bits, 0, 1);
        if (per_image) {
            cJSON *pi = cJSON_AddObjectToObject(root, "per_image");
            for (size_t i = 0; i < set.n; i++) {
                char id[32];
                snprintf(id, sizeof id, "%lld", set.items[i].image_id);
                cJSON *o = cJSON_AddObjectToObject(pi, id);
                add_caption_metrics(o, &s, bits, i, 0);
            }
        }
        if (as_json) {
            print_json(root);
        } else {
            size_t nrefs = 0;
            for (size_t i = 0; i < set.n; i++) nrefs += (size_t)set.items[i].n_refs;
            printf("captions: %zu images, %zu references%s%s\n", set.n, nrefs,
                   pretokenized ? ", pretokenized" : ", PTB-tokenized", df ? ", CIDEr-D df from --df" : "");
            for (cJSON *m = root->child; m; m = m->next)
                if (cJSON_IsNumber(m)) printf("  %-8s %.6f\n", m->string, m->valuedouble);
            if (per_image) {
                printf("\nper image:\n  %-12s", "image_id");
                cJSON *first = cJSON_GetObjectItemCaseSensitive(root, "per_image")->child;
                for (cJSON *m = first ? first->child : NULL; m; m = m->next) printf(" %9s", m->string);
                putchar('\n');
                for (cJSON *o = first; o; o = o->next) {
                    printf("  %-12s", o->string);
                    for (cJSON *m = o->child; m; m = m->next) printf(" %9.6f", m->valuedouble);
                    putchar('\n');
                }
            }
        }
        cJSON_Delete(root);
        caption_scores_free(&s);
    }
    caption_set_free(&set);
    cider_df_free(df);
    return rc;
}

static cJSON *group_object(const vqa_group *g, size_t n, int rounded) {
    cJSON *o = cJSON_CreateObject();
    for (size_t i = 0; i < n; i++) cJSON_AddNumberToObject(o, g[i].name, rounded ? g[i].rounded : g[i].acc);
    return o;
}

static int run_vqa(void) {
    if (!questions || !annotations || !results) {
        vk_print_error("score: --task vqa needs --questions, --annotations and --results");
        return 2;
    }
    if (metrics_opt || df_path || write_df || per_image || pretokenized) {
        vk_print_error("score: --metrics, --df, --write-df, --per-image and --pretokenized are caption options");
        return 2;
    }
    vqa_set v;
    double t0 = now_s();
    if (vqa_set_load(&v, questions, annotations, results) != 0) return 1;
    double t1 = now_s();
    if (v.n_duplicate_results)
        vk_print_warning("%zu results in %s repeat a question (first: question_id %lld); the last answer counts, as in "
                         "the official loadRes",
                         v.n_duplicate_results, results, v.first_duplicate);
    vqa_result r;
    if (vqa_evaluate(&v, &r) != 0) {
        vqa_set_free(&v);
        return 1;
    }
    double t2 = now_s();
    if (timing)
        fprintf(stderr, "vlkit: timing: read %.4f s, score %.4f s, total %.4f s (%zu questions)\n", t1 - t0, t2 - t1,
                t2 - t0, v.n);
    cJSON *root = cJSON_CreateObject();
    cJSON_AddNumberToObject(root, "overall", r.overall_rounded);
    cJSON_AddItemToObject(root, "perAnswerType", group_object(r.per_answer_type, r.n_answer_types, 1));
    cJSON_AddItemToObject(root, "perQuestionType", group_object(r.per_question_type, r.n_question_types, 1));
    cJSON *un = cJSON_AddObjectToObject(root, "unrounded");
    cJSON_AddNumberToObject(un, "overall", r.overall);
    cJSON_AddItemToObject(un, "perAnswerType", group_object(r.per_answer_type, r.n_answer_types, 0));
    cJSON_AddItemToObject(un, "perQuestionType", group_object(r.per_question_type, r.n_question_types, 0));
    if (per_question) {
        cJSON *pq = cJSON_AddObjectToObject(root, "per_question");
        cJSON *upq = cJSON_AddObjectToObject(un, "per_question");
        for (size_t i = 0; i < v.n; i++) {
            char id[32];
            snprintf(id, sizeof id, "%lld", v.items[i].question_id);
            cJSON_AddNumberToObject(pq, id, r.per_question_rounded[i]);
            cJSON_AddNumberToObject(upq, id, r.per_question[i]);
        }
    }
    if (as_json) {
        print_json(root);
    } else {
        /* the official printout: percentages with 2 decimals */
        printf("VQA accuracy: %zu questions\n", v.n);
        printf("Overall Accuracy is: %.02f\n\n", r.overall_rounded);
        printf("Per Answer Type Accuracy is the following:\n");
        for (size_t i = 0; i < r.n_answer_types; i++)
            printf("%s : %.02f\n", r.per_answer_type[i].name, r.per_answer_type[i].rounded);
        printf("\nPer Question Type Accuracy is the following:\n");
        for (size_t i = 0; i < r.n_question_types; i++)
            printf("%s : %.02f\n", r.per_question_type[i].name, r.per_question_type[i].rounded);
        if (per_question) {
            printf("\nPer question:\n");
            for (size_t i = 0; i < v.n; i++) printf("%lld : %.02f\n", v.items[i].question_id, r.per_question_rounded[i]);
        }
    }
    cJSON_Delete(root);
    vqa_result_free(&r);
    vqa_set_free(&v);
    return 0;
}

int cmd_score(int argc, char **argv) {
    reset_options();
    int prc = vk_args_parse(&score_spec, argc, argv, NULL);
    if (prc != VK_ARGS_OK) return prc == VK_ARGS_HELP ? 0 : 2;
    int rc;
    if (strcmp(task, "caption") == 0) {
        if (questions || per_question) {
            vk_print_error("score: --questions and --per-question are VQA options");
            return 2;
        }
        rc = run_caption();
    } else if (strcmp(task, "vqa") == 0) {
        rc = run_vqa();
    } else {
        vk_print_error("score: --task must be caption or vqa, not '%s'", task);
        return 2;
    }
    if (rc == 1) vk_print_error("%s", vk_err_msg());
    fflush(stdout);
    return rc;
}
