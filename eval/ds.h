/* ds.h — stb_ds (hash maps and dynamic arrays) for strict C11 (internal to eval/).
 *
 * stb_ds uses GNU `typeof`, which -std=c11 only spells __typeof__, and its macros leave values
 * unused and compare unsigned lengths with 0 by design; those warnings are silenced for the
 * files that include this header rather than weakening the project's flags. */
#ifndef VLKIT_EVAL_DS_H
#define VLKIT_EVAL_DS_H

#if defined(__GNUC__) && !defined(__clang__) && !defined(typeof)
#define typeof __typeof__
#endif
#if defined(__GNUC__)
#pragma GCC diagnostic ignored "-Wunused-value"
#pragma GCC diagnostic ignored "-Wtype-limits"
#pragma GCC diagnostic ignored "-Wsign-compare"
#endif
#include <stb_ds.h>

#endif
