#include "util/error.h"

#include <stdio.h>
#include <string.h>

#define VK_ERR_CAP 2048
static _Thread_local char err_buf[VK_ERR_CAP];

int vk_err_vset(const char *fmt, va_list ap) {
    vsnprintf(err_buf, sizeof err_buf, fmt, ap);
    return -1;
}

int vk_err_set(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vk_err_vset(fmt, ap);
    va_end(ap);
    return -1;
}

int vk_err_prefix(const char *fmt, ...) {
    char old[VK_ERR_CAP];
    memcpy(old, err_buf, sizeof old);
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(err_buf, sizeof err_buf, fmt, ap);
    va_end(ap);
    /* append ": <old>", truncating to the buffer (memcpy, not snprintf: no truncation warning) */
    size_t len = n < 0 ? 0 : (size_t)n < sizeof err_buf ? (size_t)n : sizeof err_buf - 1;
    const char *parts[2] = {": ", old};
    for (int i = 0; i < 2; i++) {
        size_t k = strlen(parts[i]), room = sizeof err_buf - 1 - len;
        if (k > room) k = room;
        memcpy(err_buf + len, parts[i], k);
        len += k;
    }
    err_buf[len] = 0;
    return -1;
}

const char *vk_err_msg(void) { return err_buf; }
void vk_err_clear(void) { err_buf[0] = 0; }

static void print_tagged(const char *tag, const char *fmt, va_list ap) {
    fprintf(stderr, "vlkit: %s: ", tag);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

void vk_print_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    print_tagged("error", fmt, ap);
    va_end(ap);
}

void vk_print_warning(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    print_tagged("warning", fmt, ap);
    va_end(ap);
}
