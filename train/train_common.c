#include "train/train_common.h"

#include "util/error.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

double train_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int train_lora_setup(const train_config *c, lora_linears *ls, lora_config *lc, int *matched) {
    memset(lc, 0, sizeof *lc);
    if (c->lora.init_adapter) {
        if (lora_load_adapter(ls, c->lora.init_adapter, lc)) return -1;
        *matched = lora_count(ls, NULL);
        return 0;
    }
    lc->r = c->lora.r;
    lc->alpha = c->lora.alpha;
    lc->dropout = c->lora.dropout;
    lc->use_rslora = c->lora.use_rslora;
    lc->base_model = strdup(c->model);
    if (c->lora.target_regex) {
        lc->target_regex = strdup(c->lora.target_regex);
    } else {
        lc->targets = calloc((size_t)c->lora.target_modules.n + 1, sizeof *lc->targets);
        if (!lc->targets) return vk_err_set("out of memory");
        for (int i = 0; i < c->lora.target_modules.n; i++) lc->targets[lc->ntargets++] = strdup(c->lora.target_modules.items[i]);
    }
    lc->modules_to_save = calloc((size_t)c->lora.modules_to_save.n + 1, sizeof *lc->modules_to_save);
    if (!lc->modules_to_save) return vk_err_set("out of memory");
    for (int i = 0; i < c->lora.modules_to_save.n; i++)
        lc->modules_to_save[lc->nmodules_to_save++] = strdup(c->lora.modules_to_save.items[i]);
    return lora_attach(ls, lc, matched);
}

void train_lora_report_saved(const lora_linears *ls, int quiet) {
    if (quiet || !ls->nsaved_modules) return;
    for (int m = 0; m < ls->nsaved_modules; m++) {
        int64_t n = 0;
        for (int i = 0; i < ls->nsaved; i++) {
            int first = 1;
            for (int j = 0; j < i && first; j++) first = ls->saved[j].handle != ls->saved[i].handle;
            if (ls->saved[i].module == m && first) n += tt_numel(ls->saved[i].handle);
        }
        fprintf(stderr, "modules_to_save: %s (%lld parameters, trained in full)\n", ls->saved_modules[m], (long long)n);
    }
}

int train_optimizer_setup(const train_config *c, const lora_linears *ls, train_params *tp, tt_optim **opt) {
    tp->n = lora_parameters(ls, &tp->params, &tp->names);
    *opt = tt_adamw_new(c->optim.lr, c->optim.betas[0], c->optim.betas[1], c->optim.eps, c->optim.weight_decay);
    if (!*opt || tt_optim_add_group(*opt, tp->params, tp->n, c->optim.lr, c->optim.weight_decay) < 0)
        return vk_err_set("optimizer: %s", tt_last_error());
    return 0;
}

int train_resume(const train_run_options *o, const char *output_dir, tt_optim *opt, const train_params *tp,
                 train_state *st, char **from) {
    *from = NULL;
    if (o->resume == TRAIN_RESUME_NONE) return 0;
    int none = 0;
    char *dir = o->resume == TRAIN_RESUME_DIR ? strdup(o->resume_dir) : checkpoint_latest(output_dir, &none);
    if (!dir) return o->resume == TRAIN_RESUME_DIR || !none ? vk_err_set("out of memory") : 0;
    if (checkpoint_load(dir, opt, tp, st)) {
        vk_err_prefix("resume from %s", dir);
        free(dir);
        return -1;
    }
    *from = dir;
    return 0;
}

static volatile sig_atomic_t stop_signal;
static struct sigaction old_int, old_term;
static void on_signal(int sig) { stop_signal = sig; }

void train_signals_install(void) {
    stop_signal = 0;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
}

void train_signals_restore(void) {
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
}

int train_stop_signal(void) { return (int)stop_signal; }
