#include "util/metrics_read.h"

#include "util/error.h"
#include "util/fileio.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <strings.h>
#include <stdlib.h>
#include <string.h>

static int series_init(vk_series *s, const char *name) {
    memset(s, 0, sizeof *s);
    s->name = strdup(name);
    return s->name ? 0 : vk_err_set("out of memory");
}

static void series_free(vk_series *s) {
    free(s->name);
    free(s->step);
    free(s->value);
    memset(s, 0, sizeof *s);
}

static int series_add(vk_series *s, double step, double value) {
    /* a resumed run repeats steps: the later points supersede the earlier ones (see the header) */
    while (s->n > 0 && s->step[s->n - 1] >= step) s->n--;
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        double *st = realloc(s->step, cap * sizeof *st);
        if (!st) return vk_err_set("out of memory");
        s->step = st;
        double *v = realloc(s->value, cap * sizeof *v);
        if (!v) return vk_err_set("out of memory");
        s->value = v;
        s->cap = cap;
    }
    s->step[s->n] = step;
    s->value[s->n] = value;
    s->n++;
    return 0;
}

/* Add obj[key] to s when it is a number. */
static int add_key(vk_series *s, const cJSON *obj, const char *key, double step) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsNumber(v) ? series_add(s, step, v->valuedouble) : 0;
}

const vk_series *vk_metrics_eval(const vk_metrics *m, const char *name) {
    for (size_t i = 0; i < m->neval; i++)
        if (strcmp(m->eval[i].name, name) == 0) return &m->eval[i];
    return NULL;
}

static int add_eval(vk_metrics *m, const cJSON *ev, double step) {
    for (const cJSON *e = ev->child; e; e = e->next) {
        if (!cJSON_IsNumber(e) || !e->string) continue;
        vk_series *s = (vk_series *)vk_metrics_eval(m, e->string);
        if (!s) {
            vk_series *grown = realloc(m->eval, (m->neval + 1) * sizeof *grown);
            if (!grown) return vk_err_set("out of memory");
            m->eval = grown;
            if (series_init(&m->eval[m->neval], e->string) != 0) return -1;
            s = &m->eval[m->neval++];
        }
        if (series_add(s, step, e->valuedouble) != 0) return -1;
    }
    return 0;
}

/* C's printf writes a NaN as "nan" and Python's json module as "NaN": neither is JSON, but a
 * non-finite value on one key should cost that point, not the whole line. Outside strings, such
 * words ([+-]nan, [+-]inf, [+-]infinity, any case) become null. NULL when there is none. */
static char *null_non_finite(const char *text, size_t len) {
    static const char *const words[] = {"infinity", "nan", "inf"};
    char *out = malloc(2 * len + 8); /* a replacement grows 3 bytes ("nan") to 4 at most */
    if (!out) return NULL;
    size_t n = 0;
    int in_str = 0, changed = 0;
    for (size_t i = 0; i < len;) {
        char ch = text[i];
        if (in_str) {
            out[n++] = ch;
            if (ch == '\\' && i + 1 < len) out[n++] = text[++i];
            else if (ch == '"') in_str = 0;
            i++;
            continue;
        }
        in_str = ch == '"';
        size_t j = i + (ch == '-' || ch == '+'), w = 0;
        if (i == 0 || !isalnum((unsigned char)text[i - 1]))
            for (int k = 0; k < 3 && !w; k++) {
                size_t wl = strlen(words[k]);
                if (j + wl <= len && strncasecmp(text + j, words[k], wl) == 0 &&
                    (j + wl == len || !isalnum((unsigned char)text[j + wl])))
                    w = wl;
            }
        if (w) {
            memcpy(out + n, "null", 4);
            n += 4;
            i = j + w;
            changed = 1;
        } else {
            out[n++] = ch;
            i++;
        }
    }
    out[n] = 0;
    if (!changed) {
        free(out);
        return NULL;
    }
    return out;
}

/* One line: 1 used, 0 malformed, -1 out of memory. */
static int read_line(vk_metrics *m, const char *text, size_t len) {
    cJSON *o = cJSON_ParseWithLength(text, len);
    if (!o) {
        char *fixed = null_non_finite(text, len);
        if (fixed) o = cJSON_Parse(fixed);
        free(fixed);
    }
    const cJSON *step = cJSON_GetObjectItemCaseSensitive(o, "step");
    if (!cJSON_IsObject(o) || !cJSON_IsNumber(step)) {
        cJSON_Delete(o);
        return 0;
    }
    double s = step->valuedouble;
    int rc = 0;
    if (add_key(&m->loss, o, "loss", s) || add_key(&m->lr, o, "lr", s) || add_key(&m->grad_norm, o, "grad_norm", s) ||
        add_key(&m->samples_per_s, o, "samples_per_s", s))
        rc = -1;
    const cJSON *ev = cJSON_GetObjectItemCaseSensitive(o, "eval");
    if (rc == 0 && cJSON_IsObject(ev)) rc = add_eval(m, ev, s);
    cJSON_Delete(o);
    return rc == 0 ? 1 : -1;
}

void vk_metrics_free(vk_metrics *m) {
    series_free(&m->loss);
    series_free(&m->lr);
    series_free(&m->grad_norm);
    series_free(&m->samples_per_s);
    for (size_t i = 0; i < m->neval; i++) series_free(&m->eval[i]);
    free(m->eval);
    memset(m, 0, sizeof *m);
}

static int is_blank(const char *p, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r') return 0;
    return 1;
}

int vk_metrics_read(const char *path, vk_metrics *out) {
    memset(out, 0, sizeof *out);
    size_t len;
    char *text = vk_read_file(path, &len, (size_t)1 << 30);
    if (!text) return -1;
    vk_metrics m;
    memset(&m, 0, sizeof m);
    int rc = series_init(&m.loss, "loss") || series_init(&m.lr, "lr") || series_init(&m.grad_norm, "grad_norm") ||
             series_init(&m.samples_per_s, "samples_per_s") ? -1 : 0;
    size_t lineno = 0;
    for (size_t pos = 0; rc == 0 && pos < len;) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - (text + pos)) : len - pos;
        lineno++;
        if (!is_blank(text + pos, n)) {
            m.lines++;
            int used = read_line(&m, text + pos, n);
            if (used < 0) rc = -1;
            if (used == 0 && m.malformed++ == 0) m.first_malformed_line = lineno;
        }
        pos += n + 1;
    }
    free(text);
    size_t points = m.loss.n + m.lr.n + m.grad_norm.n + m.samples_per_s.n;
    for (size_t i = 0; i < m.neval; i++) points += m.eval[i].n;
    if (rc == 0 && m.lines == 0)
        rc = vk_err_set("%s: empty: no metrics logged yet", path);
    else if (rc == 0 && points == 0 && m.malformed)
        rc = vk_err_set("%s: no metrics: all %zu lines malformed (first at line %zu; expected one JSON object per line "
                        "with a numeric \"step\")", path, m.lines, m.first_malformed_line);
    else if (rc == 0 && points == 0)
        rc = vk_err_set("%s: no metrics: %zu lines, none with loss, lr or eval values", path, m.lines);
    if (rc != 0) {
        vk_metrics_free(&m);
        return -1;
    }
    *out = m;
    return 0;
}
