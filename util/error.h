/* error.h — one error message per thread, set where a failure is detected, read by the caller.
 *
 * Library code (util, data, eval, model) never prints and never exits: a failing function
 * sets the message with vk_err_set() and returns -1 / NULL. The CLI prints it once as
 * "vlkit: error: <message>" and exits non-zero. Messages name the file and the problem. */
#ifndef VLKIT_UTIL_ERROR_H
#define VLKIT_UTIL_ERROR_H

#include <stdarg.h>

#if defined(__GNUC__)
#define VK_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define VK_PRINTF(a, b)
#endif

/* Replace the current message. Always returns -1 so callers can `return vk_err_set(...)`. */
int vk_err_set(const char *fmt, ...) VK_PRINTF(1, 2);
int vk_err_vset(const char *fmt, va_list ap);
/* Put context in front of the current message: "ctx: <old message>". Returns -1. */
int vk_err_prefix(const char *fmt, ...) VK_PRINTF(1, 2);
/* The current message ("" when none). Valid until the next vk_err_* call on this thread. */
const char *vk_err_msg(void);
void vk_err_clear(void);

/* CLI helpers: print "vlkit: error: ..." / "vlkit: warning: ..." to stderr. */
void vk_print_error(const char *fmt, ...) VK_PRINTF(1, 2);
void vk_print_warning(const char *fmt, ...) VK_PRINTF(1, 2);

#endif
