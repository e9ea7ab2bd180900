/* ds.h — stb_ds (dynamic arrays and hash maps) usable under the project's flags.
 *
 * Include this instead of <stb_ds.h>. The implementation lives in -lstb; never define
 * STB_DS_IMPLEMENTATION in the tree.
 *
 * Why a wrapper: stb_ds's hm* macros (hmput, hmget, hmgeti, hmdel, ...) take the address of the
 * key through STBDS_ADDRESSOF, which on GCC expands to the GNU keyword `typeof` — not a keyword
 * under -std=c11, so every hm* use fails to compile ("implicit declaration of function
 * 'typeof'"). `__typeof__` is accepted by GCC and Clang in every -std mode, so it is used here.
 * The sh* (string key) and arr* macros never needed it.
 *
 * Usage rules that keep -Wall -Wextra -Werror quiet:
 *   - every stb_ds macro assigns to its table argument, so use at most ONE macro per table in
 *     one expression (`int a = shgeti(m, k); ... shget(m, k2)` on separate lines); two in one
 *     expression is undefined behaviour (-Wsequence-point).
 *   - arrlen() is ptrdiff_t and arrlenu() is size_t: pick the one that matches the loop index
 *     (-Wsign-compare).
 *   - arrsetlen(a, 0) no longer trips -Wtype-limits ("unsigned < 0 is always false"): the
 *     capacity comparison goes through a function here.
 *   - string maps: call sh_new_arena() (keys copied into an arena, never deleted) or
 *     sh_new_strdup() before the first put, or the map keeps the caller's pointers.
 *   - look-ups from several threads at once: hmgeti_ts / shgeti_ts on a thread's own copy of
 *     the table pointer (the plain getters write the table's header), and never on a NULL
 *     table (a get on NULL allocates one).
 *   - creating a table (sh_new_arena / sh_new_strdup, the first hmput / shput into NULL) reads
 *     and updates stb_ds's one global hash seed without a lock: where another thread may be
 *     creating one at the same time, do it between vk_ds_create_lock() and _unlock().
 *
 * Integer keys that differ only above bit 32 hash alike here (stb_ds's 64-bit integer hash reads
 * the key's low half with a sign extension that wipes the high half whenever bit 31 is set):
 * still correct, only slower; the hot maps of the scorers are uthash (util/ht.h). */
#ifndef VLKIT_UTIL_DS_H
#define VLKIT_UTIL_DS_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <stb_ds.h>

#if defined(__GNUC__) || defined(__clang__)
#undef STBDS_ADDRESSOF
#define STBDS_ADDRESSOF(typevar, value) ((__typeof__(typevar)[1]){value})
#endif

/* stb's arrsetlen compares the capacity with (size_t)n inline, which -Wtype-limits flags when
 * n is the constant 0. Same expression, comparison moved into a function. */
static inline int vk_ds_size_lt(size_t a, size_t b) { return a < b; }
#undef stbds_arrsetlen
#define stbds_arrsetlen(a, n)                                                                   \
    ((vk_ds_size_lt(stbds_arrcap(a), (size_t)(n)) ? stbds_arrsetcap((a), (size_t)(n)), 0 : 0), \
     (a) ? stbds_header(a)->length = (size_t)(n) : 0)

/* shgeti for look-ups from several threads at once (stb_ds has hmgeti_ts but no sh form): the
 * index of string key k in t, or -1, with temp (a ptrdiff_t) as the scratch; t must not be NULL
 * and is assigned to, so pass a thread's own copy of the table pointer. */
#define vk_shgeti_ts(t, k, temp) \
    ((t) = stbds_hmget_key_ts((t), sizeof *(t), (void *)(k), sizeof(t)->key, &(temp), STBDS_HM_STRING), (temp))

/* Hold around creating a stb_ds table while another thread may create one (see above). */
void vk_ds_create_lock(void);
void vk_ds_create_unlock(void);

#endif
