/* pickle.c — the restricted unpickler (see pickle.h for what it accepts and why).
 *
 * Objects live in one flat list owned by the parser and are freed together at the end, so the
 * memo, DUP and self-referencing containers need no reference counting and cannot cause
 * double frees. Every length read from the stream is checked against the bytes left before use. */
#include "model/weights/pickle.h"

#include "util/error.h"
#include "util/ds.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum { O_NONE, O_BOOL, O_INT, O_FLOAT, O_STR, O_BYTES, O_TUPLE, O_LIST, O_DICT, O_GLOBAL, O_STORAGE, O_TENSOR } okind;

typedef enum { G_ORDERED_DICT, G_REBUILD_TENSOR_V2, G_REBUILD_TENSOR, G_REBUILD_PARAMETER, G_REBUILD_PARAMETER_STATE, G_STORAGE_TYPE } gkind;

typedef struct obj {
    okind kind;
    int64_t i;             /* O_BOOL, O_INT */
    double f;              /* O_FLOAT */
    char *s;               /* O_STR, O_BYTES (NUL-terminated copy), O_STORAGE key */
    size_t slen;
    struct obj **items;    /* stb_ds array: O_TUPLE / O_LIST items; O_DICT key, value, key, value... */
    gkind global;          /* O_GLOBAL */
    vk_dtype dtype;        /* O_GLOBAL storage types, O_STORAGE, O_TENSOR */
    vk_pickle_tensor t;    /* O_TENSOR (name unset; storage_key borrowed from the storage object) */
} obj;

typedef struct {
    const char *label;
    const unsigned char *p;
    size_t len, pos, op_pos;
    obj **all;      /* every object made, for freeing */
    obj **stack;
    size_t *marks;  /* stack heights at MARK */
    obj **memo;     /* stb_ds array indexed by memo slot; NULL = never stored */
} unpickler;

static int fail(unpickler *u, const char *fmt, ...) VK_PRINTF(2, 3);
static int fail(unpickler *u, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return vk_err_set("%s: pickle: %s (at byte %zu)", u->label, msg, u->op_pos);
}

static obj *new_obj(unpickler *u, okind k) {
    obj *o = calloc(1, sizeof *o);
    if (!o) return NULL;
    o->kind = k;
    arrput(u->all, o);
    return o;
}

static const char *kind_name(const obj *o) {
    static const char *const names[] = {"None", "a bool", "an int", "a float", "a str", "bytes", "a tuple",
                                        "a list", "a dict", "a global", "a storage", "a tensor"};
    return names[o->kind];
}

static int need(unpickler *u, size_t n) {
    if (u->len - u->pos < n) return fail(u, "truncated: the stream ends inside an opcode");
    return 0;
}

static uint64_t rd_le(const unsigned char *p, int n) {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

static int push(unpickler *u, obj *o) {
    if (!o) return fail(u, "out of memory");
    arrput(u->stack, o);
    return 0;
}

static obj *pop(unpickler *u) {
    size_t floor = arrlenu(u->marks) ? u->marks[arrlenu(u->marks) - 1] : 0;
    if (arrlenu(u->stack) <= floor) {
        fail(u, "stack underflow (malformed pickle)");
        return NULL;
    }
    return arrpop(u->stack);
}

static obj *top(unpickler *u) {
    size_t floor = arrlenu(u->marks) ? u->marks[arrlenu(u->marks) - 1] : 0;
    if (arrlenu(u->stack) <= floor) {
        fail(u, "stack underflow (malformed pickle)");
        return NULL;
    }
    return u->stack[arrlenu(u->stack) - 1];
}

/* Pop everything above the last MARK into the items of a new container. */
static obj *pop_mark_into(unpickler *u, okind k) {
    if (arrlenu(u->marks) == 0) {
        fail(u, "no MARK on the stack (malformed pickle)");
        return NULL;
    }
    size_t m = arrpop(u->marks);
    obj *o = new_obj(u, k);
    if (!o) {
        fail(u, "out of memory");
        return NULL;
    }
    for (size_t i = m; i < arrlenu(u->stack); i++) arrput(o->items, u->stack[i]);
    arrsetlen(u->stack, m);
    return o;
}

static obj *make_str(unpickler *u, okind k, size_t n) {
    if (need(u, n) != 0) return NULL;
    obj *o = new_obj(u, k);
    if (!o || !(o->s = malloc(n + 1))) {
        fail(u, "out of memory");
        return NULL;
    }
    memcpy(o->s, u->p + u->pos, n);
    o->s[n] = 0;
    o->slen = n;
    u->pos += n;
    return o;
}

/* Printable copy of an untrusted name for messages. */
static void printable(char *dst, size_t cap, const char *s, size_t n) {
    size_t k = 0;
    for (size_t i = 0; i < n && k + 4 < cap; i++) dst[k++] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
    if (n > 0 && k + 4 >= cap) memcpy(dst + k, "...", 3), k += 3;
    dst[k] = 0;
}

static const struct {
    const char *name;
    vk_dtype dtype;
} storage_types[] = {
    {"FloatStorage", VK_DTYPE_F32}, {"DoubleStorage", VK_DTYPE_F64}, {"HalfStorage", VK_DTYPE_F16},
    {"BFloat16Storage", VK_DTYPE_BF16}, {"LongStorage", VK_DTYPE_I64}, {"IntStorage", VK_DTYPE_I32},
    {"ShortStorage", VK_DTYPE_I16}, {"CharStorage", VK_DTYPE_I8}, {"ByteStorage", VK_DTYPE_U8},
    {"BoolStorage", VK_DTYPE_BOOL}, {"ComplexFloatStorage", VK_DTYPE_C64},
};

/* The allow-list. Anything else is refused here, when it is named: nothing has been built from
 * it, so nothing can run. */
static obj *resolve_global(unpickler *u, const char *mod, size_t mlen, const char *name, size_t nlen) {
    obj *g = new_obj(u, O_GLOBAL);
    if (!g) {
        fail(u, "out of memory");
        return NULL;
    }
#define IS(m, n) (mlen == strlen(m) && memcmp(mod, m, mlen) == 0 && nlen == strlen(n) && memcmp(name, n, nlen) == 0)
    if (IS("collections", "OrderedDict")) g->global = G_ORDERED_DICT;
    else if (IS("torch._utils", "_rebuild_tensor_v2")) g->global = G_REBUILD_TENSOR_V2;
    else if (IS("torch._utils", "_rebuild_tensor")) g->global = G_REBUILD_TENSOR;
    else if (IS("torch._utils", "_rebuild_parameter")) g->global = G_REBUILD_PARAMETER;
    else if (IS("torch._utils", "_rebuild_parameter_with_state")) g->global = G_REBUILD_PARAMETER_STATE;
    else {
        int found = 0;
        for (size_t i = 0; i < sizeof storage_types / sizeof *storage_types && !found; i++)
            if (IS("torch", storage_types[i].name)) {
                g->global = G_STORAGE_TYPE;
                g->dtype = storage_types[i].dtype;
                found = 1;
            }
        if (!found) {
            char m[128], n[128];
            printable(m, sizeof m, mod, mlen);
            printable(n, sizeof n, name, nlen);
            fail(u, "refusing to load %s.%s: only tensor-rebuild globals may appear in a weights file (a pickle "
                    "naming anything else could run code)",
                 m, n);
            return NULL;
        }
    }
#undef IS
    return g;
}

static int op_global(unpickler *u) {
    /* "module\nname\n" */
    const char *start = (const char *)u->p + u->pos;
    const char *nl1 = memchr(start, '\n', u->len - u->pos);
    if (!nl1) return fail(u, "truncated GLOBAL");
    const char *nm = nl1 + 1;
    const char *nl2 = memchr(nm, '\n', (size_t)((const char *)u->p + u->len - nm));
    if (!nl2) return fail(u, "truncated GLOBAL");
    u->pos = (size_t)(nl2 + 1 - (const char *)u->p);
    obj *g = resolve_global(u, start, (size_t)(nl1 - start), nm, (size_t)(nl2 - nm));
    return g ? push(u, g) : -1;
}

static int op_stack_global(unpickler *u) {
    obj *name = pop(u), *mod = name ? pop(u) : NULL;
    if (!mod) return -1;
    if (name->kind != O_STR || mod->kind != O_STR) return fail(u, "STACK_GLOBAL needs two strings");
    obj *g = resolve_global(u, mod->s, mod->slen, name->s, name->slen);
    return g ? push(u, g) : -1;
}

static int get_int(unpickler *u, const obj *o, const char *what, int64_t *v) {
    if (o->kind != O_INT && o->kind != O_BOOL) return fail(u, "%s is %s, not an int", what, kind_name(o));
    *v = o->i;
    return 0;
}

/* ('storage', <storage type>, key, location, numel) -> a storage object. */
static int op_persid(unpickler *u) {
    obj *pid = pop(u);
    if (!pid) return -1;
    if (pid->kind != O_TUPLE || arrlen(pid->items) != 5 || pid->items[0]->kind != O_STR ||
        strcmp(pid->items[0]->s, "storage") != 0)
        return fail(u, "persistent id is not ('storage', type, key, location, numel)");
    obj *type = pid->items[1], *key = pid->items[2], *loc = pid->items[3];
    if (type->kind != O_GLOBAL || type->global != G_STORAGE_TYPE) return fail(u, "persistent id: storage type is not a torch storage class");
    if (key->kind != O_STR || loc->kind != O_STR) return fail(u, "persistent id: key and location must be strings");
    int64_t numel = 0;
    if (get_int(u, pid->items[4], "persistent id: numel", &numel) != 0) return -1;
    if (numel < 0) return fail(u, "persistent id: negative storage size %lld", (long long)numel);
    obj *s = new_obj(u, O_STORAGE);
    if (!s) return fail(u, "out of memory");
    s->dtype = type->dtype;
    s->s = key->s; /* borrowed: the key object lives as long as the parser */
    s->i = numel;
    return push(u, s);
}

static int int_tuple(unpickler *u, const obj *o, const char *what, int64_t *out, int *n) {
    if (o->kind != O_TUPLE) return fail(u, "tensor %s is %s, not a tuple", what, kind_name(o));
    if (arrlen(o->items) > VK_MAX_DIMS)
        return fail(u, "tensor has %d dimensions (at most %d are supported)", (int)arrlen(o->items), VK_MAX_DIMS);
    *n = (int)arrlen(o->items);
    for (int i = 0; i < *n; i++) {
        if (o->items[i]->kind != O_INT) return fail(u, "tensor %s[%d] is %s, not an int", what, i, kind_name(o->items[i]));
        if (o->items[i]->i < 0) return fail(u, "tensor %s[%d] is negative (%lld)", what, i, (long long)o->items[i]->i);
        out[i] = o->items[i]->i;
    }
    return 0;
}

static obj *rebuild_tensor(unpickler *u, obj **a, size_t na) {
    if (a[0]->kind != O_STORAGE) {
        fail(u, "_rebuild_tensor: first argument is %s, not a storage", kind_name(a[0]));
        return NULL;
    }
    obj *t = new_obj(u, O_TENSOR);
    if (!t) {
        fail(u, "out of memory");
        return NULL;
    }
    int64_t off = 0;
    int nstride;
    if (get_int(u, a[1], "storage offset", &off) != 0) return NULL;
    if (off < 0) {
        fail(u, "negative storage offset %lld", (long long)off);
        return NULL;
    }
    if (int_tuple(u, a[2], "size", t->t.shape, &t->t.ndim) != 0 || int_tuple(u, a[3], "stride", t->t.stride, &nstride) != 0)
        return NULL;
    if (nstride != t->t.ndim) {
        fail(u, "tensor size has %d dimensions but stride %d", t->t.ndim, nstride);
        return NULL;
    }
    (void)na;
    t->dtype = t->t.dtype = a[0]->dtype;
    t->t.storage_key = a[0]->s;
    t->t.storage_numel = (uint64_t)a[0]->i;
    t->t.offset = (uint64_t)off;
    return t;
}

static int op_reduce(unpickler *u) {
    obj *args = pop(u), *fn = args ? pop(u) : NULL;
    if (!fn) return -1;
    if (fn->kind != O_GLOBAL) return fail(u, "REDUCE of %s (only allowed globals may be called)", kind_name(fn));
    if (args->kind != O_TUPLE) return fail(u, "REDUCE arguments are %s, not a tuple", kind_name(args));
    obj **a = args->items;
    size_t na = arrlenu(args->items);
    obj *r = NULL;
    switch (fn->global) {
    case G_ORDERED_DICT:
        if (na != 0) return fail(u, "OrderedDict called with arguments");
        r = new_obj(u, O_DICT);
        break;
    case G_REBUILD_TENSOR_V2: /* (storage, offset, size, stride, requires_grad, hooks[, metadata]) */
        if (na != 6 && na != 7) return fail(u, "_rebuild_tensor_v2 takes 6 or 7 arguments, got %zu", na);
        if (!(r = rebuild_tensor(u, a, na))) return -1;
        break;
    case G_REBUILD_TENSOR: /* (storage, offset, size, stride) */
        if (na != 4) return fail(u, "_rebuild_tensor takes 4 arguments, got %zu", na);
        if (!(r = rebuild_tensor(u, a, na))) return -1;
        break;
    case G_REBUILD_PARAMETER:       /* (data, requires_grad, hooks) */
    case G_REBUILD_PARAMETER_STATE: /* (data, requires_grad, hooks, state) */
        if (na != (fn->global == G_REBUILD_PARAMETER ? 3u : 4u) || a[0]->kind != O_TENSOR)
            return fail(u, "_rebuild_parameter needs a tensor and %d more arguments", fn->global == G_REBUILD_PARAMETER ? 2 : 3);
        r = a[0];
        break;
    case G_STORAGE_TYPE:
        return fail(u, "a storage class may only appear inside a persistent id, not be called");
    }
    return push(u, r);
}

static int op_setitems(unpickler *u, int many) {
    obj **kv;
    size_t n;
    size_t m = 0;
    if (many) {
        if (arrlenu(u->marks) == 0) return fail(u, "SETITEMS without MARK");
        m = arrpop(u->marks);
        n = arrlenu(u->stack) - m;
    } else {
        size_t floor = arrlenu(u->marks) ? u->marks[arrlenu(u->marks) - 1] : 0;
        if (arrlenu(u->stack) < floor + 3) return fail(u, "stack underflow (malformed pickle)");
        m = arrlenu(u->stack) - 2;
        n = 2;
    }
    if (n % 2) return fail(u, "SETITEMS with an odd number of items");
    if (m == 0) return fail(u, "stack underflow (malformed pickle)");
    kv = u->stack + m; /* only now: with m == 0 the stack may still be NULL */
    obj *d = u->stack[m - 1];
    if (d->kind != O_DICT) return fail(u, "SETITEM on %s, not a dict", kind_name(d));
    for (size_t i = 0; i < n; i++) arrput(d->items, kv[i]);
    arrsetlen(u->stack, m);
    return 0;
}

static int op_appends(unpickler *u, int many) {
    size_t m;
    if (many) {
        if (arrlenu(u->marks) == 0) return fail(u, "APPENDS without MARK");
        m = arrpop(u->marks);
    } else {
        size_t floor = arrlenu(u->marks) ? u->marks[arrlenu(u->marks) - 1] : 0;
        if (arrlenu(u->stack) < floor + 2) return fail(u, "stack underflow (malformed pickle)");
        m = arrlenu(u->stack) - 1;
    }
    if (m == 0) return fail(u, "stack underflow (malformed pickle)");
    obj *l = u->stack[m - 1];
    if (l->kind != O_LIST) return fail(u, "APPEND to %s, not a list", kind_name(l));
    for (size_t i = m; i < arrlenu(u->stack); i++) arrput(l->items, u->stack[i]);
    arrsetlen(u->stack, m);
    return 0;
}

/* Picklers number memo slots 0, 1, 2, ...; a slot can never exceed the number of bytes in the
 * stream, so a plain array bounded by the stream length serves (no huge allocation from a
 * forged index). */
static int memo_put(unpickler *u, uint64_t idx) {
    obj *o = top(u);
    if (!o) return -1;
    if (idx >= u->len) return fail(u, "memo index %llu is out of range", (unsigned long long)idx);
    size_t old = arrlenu(u->memo);
    if (idx >= old) {
        arrsetlen(u->memo, (size_t)idx + 1);
        memset(u->memo + old, 0, ((size_t)idx + 1 - old) * sizeof *u->memo);
    }
    u->memo[idx] = o;
    return 0;
}

static int memo_get(unpickler *u, uint64_t idx) {
    if (idx >= arrlenu(u->memo) || !u->memo[idx])
        return fail(u, "memo entry %llu was never stored", (unsigned long long)idx);
    return push(u, u->memo[idx]);
}

static int push_int(unpickler *u, int64_t v, okind k) {
    obj *o = new_obj(u, k);
    if (o) o->i = v;
    return push(u, o);
}

/* LONG1 / LONG4: little-endian two's complement of n bytes; only what fits int64. */
static int op_long(unpickler *u, size_t n) {
    if (need(u, n) != 0) return -1;
    if (n > 8) return fail(u, "integer of %zu bytes is too large", n);
    uint64_t v = n ? rd_le(u->p + u->pos, (int)n) : 0;
    if (n && n < 8 && (u->p[u->pos + n - 1] & 0x80)) v |= ~0ull << (8 * n);
    u->pos += n;
    return push_int(u, (int64_t)v, O_INT);
}

static int run(unpickler *u, obj **result) {
    for (;;) {
        u->op_pos = u->pos;
        if (u->pos >= u->len) return fail(u, "truncated: the stream ends before STOP");
        unsigned op = u->p[u->pos++];
        size_t n;
        obj *o;
        switch (op) {
        case 0x80: /* PROTO */
            if (need(u, 1) != 0) return -1;
            if (u->p[u->pos] > 5) return fail(u, "protocol %u is newer than 5", u->p[u->pos]);
            u->pos++;
            break;
        case 0x95: /* FRAME: a length prefix for buffering; the content follows inline */
            if (need(u, 8) != 0) return -1;
            u->pos += 8;
            break;
        case '.': /* STOP */
            if (!(*result = pop(u))) return -1;
            return 0;
        case '(': arrput(u->marks, arrlenu(u->stack)); break;
        case '}': if (push(u, new_obj(u, O_DICT))) return -1; break;
        case ']': if (push(u, new_obj(u, O_LIST))) return -1; break;
        case ')': if (push(u, new_obj(u, O_TUPLE))) return -1; break;
        case 't': if (!(o = pop_mark_into(u, O_TUPLE)) || push(u, o)) return -1; break;
        case 'l': if (!(o = pop_mark_into(u, O_LIST)) || push(u, o)) return -1; break;
        case 'd':
            if (!(o = pop_mark_into(u, O_DICT))) return -1;
            if (arrlenu(o->items) % 2) return fail(u, "DICT with an odd number of items");
            if (push(u, o)) return -1;
            break;
        case 0x85: case 0x86: case 0x87: { /* TUPLE1..3 */
            size_t k = op - 0x84;
            obj *items[3];
            for (size_t i = k; i-- > 0;)
                if (!(items[i] = pop(u))) return -1;
            if (!(o = new_obj(u, O_TUPLE))) return fail(u, "out of memory");
            for (size_t i = 0; i < k; i++) arrput(o->items, items[i]);
            if (push(u, o)) return -1;
            break;
        }
        case 's': if (op_setitems(u, 0)) return -1; break;
        case 'u': if (op_setitems(u, 1)) return -1; break;
        case 'a': if (op_appends(u, 0)) return -1; break;
        case 'e': if (op_appends(u, 1)) return -1; break;
        case 'q': if (need(u, 1) || memo_put(u, u->p[u->pos])) return -1; u->pos += 1; break;
        case 'r': if (need(u, 4) || memo_put(u, rd_le(u->p + u->pos, 4))) return -1; u->pos += 4; break;
        case 0x94: if (memo_put(u, arrlenu(u->memo))) return -1; break; /* MEMOIZE */
        case 'h': if (need(u, 1) || memo_get(u, u->p[u->pos])) return -1; u->pos += 1; break;
        case 'j': if (need(u, 4) || memo_get(u, rd_le(u->p + u->pos, 4))) return -1; u->pos += 4; break;
        case 'c': if (op_global(u)) return -1; break;
        case 0x93: if (op_stack_global(u)) return -1; break;
        case 'X': case 'B': /* BINUNICODE, BINBYTES: 4-byte length */
            if (need(u, 4)) return -1;
            n = (size_t)rd_le(u->p + u->pos, 4);
            u->pos += 4;
            if (!(o = make_str(u, op == 'X' ? O_STR : O_BYTES, n)) || push(u, o)) return -1;
            break;
        case 0x8c: case 'C': /* SHORT_BINUNICODE, SHORT_BINBYTES: 1-byte length */
            if (need(u, 1)) return -1;
            n = u->p[u->pos++];
            if (!(o = make_str(u, op == 0x8c ? O_STR : O_BYTES, n)) || push(u, o)) return -1;
            break;
        case 0x8d: case 0x8e: { /* BINUNICODE8, BINBYTES8 */
            if (need(u, 8)) return -1;
            uint64_t n64 = rd_le(u->p + u->pos, 8);
            u->pos += 8;
            if (n64 > u->len - u->pos) return fail(u, "truncated: a string runs past the end of the stream");
            if (!(o = make_str(u, op == 0x8d ? O_STR : O_BYTES, (size_t)n64)) || push(u, o)) return -1;
            break;
        }
        case 'J': if (need(u, 4) || push_int(u, (int32_t)(uint32_t)rd_le(u->p + u->pos, 4), O_INT)) return -1; u->pos += 4; break;
        case 'K': if (need(u, 1) || push_int(u, u->p[u->pos], O_INT)) return -1; u->pos += 1; break;
        case 'M': if (need(u, 2) || push_int(u, (int64_t)rd_le(u->p + u->pos, 2), O_INT)) return -1; u->pos += 2; break;
        case 0x8a: if (need(u, 1)) return -1; n = u->p[u->pos++]; if (op_long(u, n)) return -1; break;
        case 0x8b:
            if (need(u, 4)) return -1;
            n = (size_t)rd_le(u->p + u->pos, 4);
            u->pos += 4;
            if (op_long(u, n)) return -1;
            break;
        case 0x88: if (push_int(u, 1, O_BOOL)) return -1; break;
        case 0x89: if (push_int(u, 0, O_BOOL)) return -1; break;
        case 'N': if (push(u, new_obj(u, O_NONE))) return -1; break;
        case 'G': { /* BINFLOAT: big-endian IEEE double */
            if (need(u, 8)) return -1;
            uint64_t bits = 0;
            for (int i = 0; i < 8; i++) bits = bits << 8 | u->p[u->pos + i];
            u->pos += 8;
            if (!(o = new_obj(u, O_FLOAT))) return fail(u, "out of memory");
            memcpy(&o->f, &bits, sizeof o->f);
            if (push(u, o)) return -1;
            break;
        }
        case 'R': if (op_reduce(u)) return -1; break;
        case 'Q': if (op_persid(u)) return -1; break;
        case 'b': { /* BUILD: an OrderedDict's attributes (state_dict()._metadata): not needed */
            obj *state = pop(u), *target = state ? top(u) : NULL;
            if (!target) return -1;
            if (target->kind != O_DICT) return fail(u, "BUILD on %s (only a dict's state is accepted)", kind_name(target));
            break;
        }
        case '0': if (!pop(u)) return -1; break;
        case '1': { /* POP_MARK */
            if (arrlenu(u->marks) == 0) return fail(u, "POP_MARK without MARK");
            /* arrsetlen evaluates its length argument twice: pop the mark first, once */
            size_t m = arrpop(u->marks);
            arrsetlen(u->stack, m);
            break;
        }
        case '2': if (!(o = top(u)) || push(u, o)) return -1; break;
        default:
            return fail(u, "opcode 0x%02x is not accepted in a weights file", op);
        }
    }
}

static int collect(unpickler *u, const obj *root, vk_pickle_tensor **out, size_t *n) {
    if (root->kind != O_DICT) return fail(u, "the pickle holds %s, not a state dict (a dict of tensors)", kind_name(root));
    size_t count = arrlenu(root->items) / 2;
    vk_pickle_tensor *ts = calloc(count ? count : 1, sizeof *ts);
    if (!ts) return fail(u, "out of memory");
    for (size_t i = 0; i < count; i++) {
        const obj *k = root->items[2 * i], *v = root->items[2 * i + 1];
        if (k->kind != O_STR) {
            vk_pickle_tensors_free(ts, i);
            return fail(u, "state dict key %zu is %s, not a str", i, kind_name(k));
        }
        if (v->kind != O_TENSOR) {
            char name[256];
            printable(name, sizeof name, k->s, k->slen);
            vk_pickle_tensors_free(ts, i);
            return fail(u, "state dict entry '%s' is %s, not a tensor", name, kind_name(v));
        }
        ts[i] = v->t;
        ts[i].name = strdup(k->s);
        ts[i].storage_key = strdup(v->t.storage_key);
        if (!ts[i].name || !ts[i].storage_key) {
            vk_pickle_tensors_free(ts, i + 1);
            return fail(u, "out of memory");
        }
    }
    *out = ts;
    *n = count;
    return 0;
}

int vk_pickle_load_state_dict(const char *label, const unsigned char *data, size_t len, vk_pickle_tensor **out,
                              size_t *n) {
    unpickler u = {.label = label, .p = data, .len = len};
    obj *root = NULL;
    *out = NULL;
    *n = 0;
    int rc = run(&u, &root);
    if (rc == 0 && u.pos != u.len) rc = fail(&u, "%zu bytes after STOP", u.len - u.pos);
    if (rc == 0) rc = collect(&u, root, out, n);
    for (size_t i = 0; i < arrlenu(u.all); i++) {
        obj *o = u.all[i];
        if (o->kind != O_STORAGE) free(o->s); /* a storage borrows its key's string */
        arrfree(o->items);
        free(o);
    }
    arrfree(u.all);
    arrfree(u.stack);
    arrfree(u.marks);
    arrfree(u.memo);
    return rc;
}

void vk_pickle_tensors_free(vk_pickle_tensor *t, size_t n) {
    if (!t) return;
    for (size_t i = 0; i < n; i++) {
        free(t[i].name);
        free(t[i].storage_key);
    }
    free(t);
}
