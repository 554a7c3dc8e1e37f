/* interp/eval.c - the evaluation loop.
 *
 * Owns: frames (allocated LIFO from a chunked frame stack, never on the C stack, so a Python
 * call does not recurse in C), argument binding with defaults and keywords, the bytecode
 * dispatch (computed goto under GCC/Clang, a switch otherwise: -DPY_NO_COMPUTED_GOTO), the
 * fast paths for small-int and float arithmetic, list/range iteration and cached global
 * lookups, exception unwinding through the frame's block stack, traceback entries, the
 * recursion limit, generator frames (on the heap, owned by their generator, resumed by a
 * nested loop and suspended by YIELD_VALUE: obj_gen.c), and the safepoint polls
 * (tally_safepoint() at every backward jump and every Python call: CPython's eval breaker,
 * which also report the thread's quiescent points to the interpreter's QSBR: pysync.c).
 *
 * Reference traffic mirrors CPython 3.11: a stack slot owns a strong reference (LOAD_FAST and
 * LOAD_CONST incref, POP_TOP and every consumer decref), a local owns one (STORE_FAST drops the
 * old value), a frame owns its function and code, and a call of a Python function moves the
 * argument references from the caller's stack into the callee's locals without touching them.
 */
#include "interp.h"

#include <stdlib.h>
#include <string.h>

_Thread_local interp_state *I;
interp_state *py_main_state;

#define MAX_BLOCKS 32
typedef struct frame {
    struct frame *back;
    tally_object *func;        /* strong; NULL for module code */
    py_code *co;               /* strong */
    tally_object *globals;     /* borrowed from func, or from the module's caller */
    tally_object *ns;          /* strong: a class body's namespace dict, else NULL */
    uint32_t *pc;
    tally_object **sp;
    int nblocks;
    bool entry;                /* returning from it returns to C */
    bool heap;                 /* a generator's frame: malloc'd, outside the LIFO frame stack */
    tally_object *gen;         /* borrowed: the generator owning a heap frame (told when it ends) */
    struct { uint32_t handler, level; } blocks[MAX_BLOCKS];
    tally_object *localsplus[]; /* nlocals, then the evaluation stack */
} frame;

/* ---- the frame stack ------------------------------------------------------------------------ */
typedef struct fchunk { struct fchunk *prev; size_t size, top; char data[]; } fchunk;
static _Thread_local fchunk *cur_chunk, *spare_chunk;   /* each thread has its frame stack */

void eval_thread_fini(void)
{
    /* the thread's frames have all returned: only empty chunks remain */
    while (cur_chunk) {
        fchunk *c = cur_chunk;
        cur_chunk = c->prev;
        free(c);
    }
    free(spare_chunk);
    spare_chunk = NULL;
}

static frame *frame_alloc(py_code *co)
{
    size_t bytes = sizeof(frame) + sizeof(tally_object *) * (size_t)(co->nlocals + co->stacksize);
    bytes = (bytes + 15) & ~(size_t)15;
    frame *f;
    if (co->is_generator) {
        /* a generator's frame outlives the call that made it: it lives on the heap, and the
         * generator object owns it (it is freed when the frame ends or the generator dies) */
        f = malloc(bytes);
        if (!f) return NULL;
        f->heap = true;
        goto init;
    }
    if (!cur_chunk || cur_chunk->top + bytes > cur_chunk->size) {
        fchunk *c = spare_chunk;
        if (c && c->size >= bytes) {
            spare_chunk = NULL;
        } else {
            size_t size = bytes > (1u << 20) ? bytes : (1u << 20);
            c = malloc(sizeof(fchunk) + size);
            if (!c) return NULL;
            c->size = size;
        }
        c->top = 0;
        c->prev = cur_chunk;
        cur_chunk = c;
    }
    f = (frame *)(cur_chunk->data + cur_chunk->top);
    cur_chunk->top += bytes;
    f->heap = false;
init:
    f->gen = NULL;
    /* the block stack is written before it is read: only the fixed fields are set */
    f->back = NULL;
    f->func = NULL;
    f->co = NULL;
    f->globals = NULL;
    f->ns = NULL;
    f->pc = NULL;
    f->sp = NULL;
    f->nblocks = 0;
    f->entry = false;
    for (int i = 0; i < co->nlocals; i++)
        f->localsplus[i] = NULL;
    return f;
}

static void frame_free(frame *f)
{
    if (f->heap) {
        if (f->gen) py_gen_frame_ended(f->gen);
        free(f);
        return;
    }
    fchunk *c = cur_chunk;
    c->top = (size_t)((char *)f - c->data);
    if (c->top == 0 && c->prev) {
        cur_chunk = c->prev;
        if (spare_chunk) free(spare_chunk);
        spare_chunk = c;
    }
}

/* Release everything a frame holds (locals, stack remnants, function, code) and free it. */
static void frame_clear(frame *f, tally_object **sp)
{
    py_code *co = f->co;
    tally_object **stack = f->localsplus + co->nlocals;
    while (sp > stack) {
        tally_object *o = *--sp;
        tally_xdecref(o);
    }
    for (int i = 0; i < co->nlocals; i++) {
        tally_object *o = f->localsplus[i];
        f->localsplus[i] = NULL;
        tally_xdecref(o);
    }
    tally_xdecref(f->func);
    tally_xdecref(f->ns);
    tally_decref((tally_object *)co);
    frame_free(f);
}

/* ---- argument binding -------------------------------------------------------------------------- */
static void missing_args(py_function *fn, py_code *co, tally_object **locals, int nreq)
{
    int missing = 0;
    for (int i = 0; i < nreq; i++)
        if (!locals[i]) missing++;
    sbuf b;
    sb_init(&b);
    int k = 0;
    for (int i = 0; i < nreq; i++) {
        if (locals[i]) continue;
        if (k) sb_puts(&b, missing == 2 ? " and " : k == missing - 1 ? ", and " : ", ");
        sb_printf(&b, "'%s'", tally_str_value(tally_tuple_get(co->varnames, (size_t)i)));
        k++;
    }
    py_err_format(exc_TypeError, "%s() missing %d required positional argument%s: %s", tally_str_value(co->qualname),
                  missing, missing == 1 ? "" : "s", sb_cstr(&b));
    sb_free(&b);
}

static void missing_kwonly(py_function *fn, py_code *co, tally_object **locals)
{
    int missing = 0, first = co->nargs, last = co->nargs + co->nkwonly;
    for (int i = first; i < last; i++)
        if (!locals[i]) missing++;
    sbuf b;
    sb_init(&b);
    int k = 0;
    for (int i = first; i < last; i++) {
        if (locals[i]) continue;
        if (k) sb_puts(&b, missing == 2 ? " and " : k == missing - 1 ? ", and " : ", ");
        sb_printf(&b, "'%s'", tally_str_value(tally_tuple_get(co->varnames, (size_t)i)));
        k++;
    }
    py_err_format(exc_TypeError, "%s() missing %d required keyword-only argument%s: %s", tally_str_value(co->qualname),
                  missing, missing == 1 ? "" : "s", sb_cstr(&b));
    sb_free(&b);
}

/* Bind args[0..nargs) and the keyword values after them into locals: positional parameters,
 * *args, keyword and keyword-only parameters, **kwargs, then defaults.  steal: the references in
 * args are the callee's now (moved into its locals, dropped on failure); otherwise borrowed.
 * 0 / -1 (the caller releases the locals bound so far with the frame). */
static int bind_args(py_function *fn, py_code *co, tally_object **locals, tally_object *const *args, size_t nargs,
                     tally_object *kwnames, bool steal)
{
    size_t np = (size_t)co->nargs;
    if (PY_LIKELY(!kwnames && nargs == np && !co->nkwonly && !co->pflags)) {
        /* the common call: exactly the positional parameters */
        for (size_t i = 0; i < nargs; i++)
            locals[i] = steal ? args[i] : tally_newref(args[i]);
        return 0;
    }
    size_t nkw = kwnames ? tally_tuple_len(kwnames) : 0;
    size_t nko = (size_t)co->nkwonly;
    size_t ndef = fn->defaults ? tally_tuple_len(fn->defaults) : 0;
    bool varargs = co->pflags & PF_VARARGS, varkw = co->pflags & PF_VARKW;
    size_t va_slot = np + nko, kw_slot = np + nko + (varargs ? 1 : 0);
    size_t total = nargs + nkw;
    uint8_t moved[512];
    if (steal) {
        if (total > sizeof moved) {
            py_err_set(exc_TypeError, "too many arguments");
            goto fail;
        }
        memset(moved, 0, total);
    }
    if (nargs > np && !varargs) {
        if (ndef)
            py_err_format(exc_TypeError, "%s() takes from %zu to %zu positional arguments but %zu were given",
                          tally_str_value(co->qualname), np - ndef, np, nargs);
        else
            py_err_format(exc_TypeError, "%s() takes %zu positional argument%s but %zu %s given",
                          tally_str_value(co->qualname), np, np == 1 ? "" : "s", nargs, nargs == 1 ? "was" : "were");
        goto fail;
    }
    size_t npos = nargs < np ? nargs : np;
    for (size_t i = 0; i < npos; i++) {
        locals[i] = steal ? args[i] : tally_newref(args[i]);
        if (steal) moved[i] = 1;
    }
    if (varargs) {
        tally_object *t = tally_tuple_new(nargs - npos, nargs > npos ? args + npos : NULL);
        if (!t) {
            py_err_nomem();
            goto fail;
        }
        locals[va_slot] = t;   /* the tuple increfed the items; stolen ones are dropped at the end */
    }
    tally_object *kwdict = NULL;
    if (varkw) {
        kwdict = py_dict_new();
        if (!kwdict) goto fail;
        locals[kw_slot] = kwdict;
    }
    for (size_t k = 0; k < nkw; k++) {
        tally_object *name = tally_tuple_get(kwnames, k);
        tally_object *v = args[nargs + k];
        size_t j;
        for (j = 0; j < np + nko; j++) {
            tally_object *pn = tally_tuple_get(co->varnames, j);
            if (pn == name || strcmp(tally_str_value(pn), tally_str_value(name)) == 0)
                break;
        }
        if (j == np + nko) {
            if (kwdict) {
                bool err = false;
                if (py_dict_lookup(kwdict, name, &err) || err) {
                    if (!err)
                        py_err_format(exc_TypeError, "%s() got multiple values for keyword argument '%s'",
                                      tally_str_value(co->qualname), tally_str_value(name));
                    goto fail;
                }
                if (py_dict_set(kwdict, name, v) < 0) goto fail;
                continue;
            }
            py_err_format(exc_TypeError, "%s() got an unexpected keyword argument '%s'", tally_str_value(co->qualname),
                          tally_str_value(name));
            goto fail;
        }
        if (locals[j]) {
            py_err_format(exc_TypeError, "%s() got multiple values for argument '%s'", tally_str_value(co->qualname),
                          tally_str_value(name));
            goto fail;
        }
        locals[j] = steal ? v : tally_newref(v);
        if (steal) moved[nargs + k] = 1;
    }
    for (size_t i = nargs; i < np; i++) {
        if (locals[i]) continue;
        if (i >= np - ndef) {
            locals[i] = tally_newref(tally_tuple_get(fn->defaults, i - (np - ndef)));
        } else {
            missing_args(fn, co, locals, (int)(np - ndef));
            goto fail;
        }
    }
    bool kw_missing = false;
    for (size_t i = np; i < np + nko; i++) {
        if (locals[i]) continue;
        bool err = false;
        tally_object *d = fn->kwdefaults ? py_dict_lookup(fn->kwdefaults, tally_tuple_get(co->varnames, i), &err) : NULL;
        if (err) goto fail;
        if (d) locals[i] = tally_newref(d);
        else kw_missing = true;
    }
    if (kw_missing) {
        missing_kwonly(fn, co, locals);
        goto fail;
    }
    if (steal)
        for (size_t i = 0; i < total; i++)
            if (!moved[i]) tally_decref(args[i]);
    return 0;
fail:
    if (steal)
        for (size_t i = 0; i < total; i++)
            if (!moved[i]) tally_decref(args[i]);
    return -1;
}

static frame *push_function_frame(tally_object *func, tally_object *const *args, size_t nargs, tally_object *kwnames,
                                  bool steal)
{
    py_function *fn = (py_function *)func;
    py_code *co = (py_code *)fn->code;
    size_t ntotal = nargs + (kwnames ? tally_tuple_len(kwnames) : 0);
    if (I->depth >= I->recursion_limit) {
        py_err_set(exc_RecursionError, "maximum recursion depth exceeded");
        goto fail;
    }
    frame *f = frame_alloc(co);
    if (!f) {
        py_err_nomem();
        goto fail;
    }
    f->co = co;
    tally_incref((tally_object *)co);
    f->func = steal ? func : tally_newref(func);
    f->globals = fn->globals;
    f->pc = co->instrs;
    f->sp = f->localsplus + co->nlocals;
    I->depth++;
    if (bind_args(fn, co, f->localsplus, args, nargs, kwnames, steal) < 0) {
        I->depth--;
        frame_clear(f, f->sp);
        return NULL;
    }
    for (int i = 0; i < co->nfree; i++)
        f->localsplus[co->freeslots[i]] = tally_newref(tally_tuple_get(fn->closure, (size_t)i));
    return f;
fail:
    if (steal) {
        for (size_t i = 0; i < ntotal; i++) tally_decref(args[i]);
        tally_decref(func);
    }
    return NULL;
}

/* ---- helpers for the loop ------------------------------------------------------------------- */
static tally_object *name_error(tally_object *name)
{
    py_err_format(exc_NameError, "name '%s' is not defined", tally_str_value(name));
    return NULL;
}

/* A cache tag: (version << 24 | ix), ix < 0 (absent) as PY_CACHE_NONE, or 0 (never matches:
 * versions start at 1) when the version or the index does not fit */
static uint64_t cache_tag(uint64_t ver, int64_t ix)
{
    if (ver >= ((uint64_t)1 << 40) || ix >= (int64_t)PY_CACHE_NONE)
        return 0;
    return ver << 24 | (ix < 0 ? PY_CACHE_NONE : (uint64_t)ix);
}

/* a dict this thread may read without its mutex (obj_dict.c's contract) */
static inline bool lockfree_ok(py_dict *d)
{
    return d->owner == py_thread_serial || tally_atomic_load_acquire(&d->shared);
}

/* A new reference to the global or builtin `name`.
 * Hit: no lock.  The cache's words are read whole; a tag whose version is the dict's current
 * one names the entry (or the absence) at that version, and py_dict_value_at re-validates the
 * version after loading the keys block.  Module globals and the builtins are marked shared at
 * creation, so their values leave through delayed decrefs and the incref below is on a live
 * object.  Miss: under the globals dict's mutex, the builtins' inside it (globals -> builtins,
 * the only nesting of two dict mutexes); names are str keys, so the lookups run no code. */
static tally_object *load_global(py_code *co, tally_object *globals, uint32_t arg)
{
    py_cache *c = &co->caches[arg >> 12];
    tally_object *name = co->namev[arg & 0xFFF];
    py_dict *g = (py_dict *)globals, *b = (py_dict *)I->builtins;
    tally_object *v = NULL;
    if (lockfree_ok(g) && lockfree_ok(b)) {
        uint64_t gver = tally_atomic_load_acquire(&g->version);
        uint64_t gtag = tally_atomic_load_relaxed(&c->gtag);
        if (gtag && gtag >> 24 == gver) {
            uint32_t ix = (uint32_t)(gtag & PY_CACHE_NONE);
            if (ix != PY_CACHE_NONE) {
                v = py_dict_value_at(globals, gver, ix);
            } else {
                uint64_t bver = tally_atomic_load_acquire(&b->version);
                uint64_t btag = tally_atomic_load_relaxed(&c->btag);
                uint32_t bix = (uint32_t)(btag & PY_CACHE_NONE);
                if (btag && btag >> 24 == bver && bix != PY_CACHE_NONE) {
                    v = py_dict_value_at(I->builtins, bver, bix);
                    if (tally_atomic_load_acquire(&g->version) != gver) v = NULL;   /* defined since */
                }
            }
            if (v) {
                tally_incref(v);
                return v;
            }
        }
    }
    py_mutex_lock(&g->mutex);
    int64_t ix = py_dict_find_str(globals, name);
    if (ix >= 0) {
        tally_atomic_store_relaxed(&c->gtag, cache_tag(g->version, ix));
        v = tally_newref(g->keys->entries[ix].value);
        py_mutex_unlock(&g->mutex);
        return v;
    }
    py_mutex_lock(&b->mutex);
    ix = py_dict_find_str(I->builtins, name);
    if (ix >= 0) {
        tally_atomic_store_relaxed(&c->gtag, cache_tag(g->version, -1));
        tally_atomic_store_relaxed(&c->btag, cache_tag(b->version, ix));
        v = tally_newref(b->keys->entries[ix].value);
    }
    py_mutex_unlock(&b->mutex);
    py_mutex_unlock(&g->mutex);
    return v ? v : name_error(name);
}

static int unpack(tally_object *seq, int n, tally_object **out)   /* out[0] = first item */
{
    if (IS_TUPLE(seq) || IS_LIST(seq)) {
        size_t len = IS_TUPLE(seq) ? tally_tuple_len(seq) : tally_list_len(seq);
        if (len != (size_t)n) {
            if (len > (size_t)n) py_err_format(exc_ValueError, "too many values to unpack (expected %d)", n);
            else py_err_format(exc_ValueError, "not enough values to unpack (expected %d, got %zu)", n, len);
            return -1;
        }
        for (int i = 0; i < n; i++) {
            out[i] = IS_TUPLE(seq) ? tally_newref(tally_tuple_get(seq, (size_t)i)) : tally_list_get(seq, (size_t)i);
            if (!out[i]) {
                for (int k = 0; k < i; k++) tally_decref(out[k]);
                py_err_set(exc_RuntimeError, "list changed size during unpacking");
                return -1;
            }
        }
        return 0;
    }
    tally_object *it = py_getiter(seq);
    if (!it) {
        py_err_clear();
        py_err_format(exc_TypeError, "cannot unpack non-iterable %s object", py_type_name(seq));
        return -1;
    }
    int got = 0;
    for (; got < n; got++) {
        out[got] = py_iternext(it);
        if (!out[got]) break;
    }
    if (got < n || py_err_occurred()) {
        for (int k = 0; k < got; k++) tally_decref(out[k]);
        tally_decref(it);
        if (!py_err_occurred())
            py_err_format(exc_ValueError, "not enough values to unpack (expected %d, got %d)", n, got);
        return -1;
    }
    tally_object *extra = py_iternext(it);
    tally_decref(it);
    if (extra || py_err_occurred()) {
        tally_xdecref(extra);
        for (int k = 0; k < n; k++) tally_decref(out[k]);
        if (!py_err_occurred())
            py_err_format(exc_ValueError, "too many values to unpack (expected %d)", n);
        return -1;
    }
    return 0;
}

static int exc_match(tally_object *exc, tally_object *type)
{
    if (IS_TUPLE(type)) {
        size_t n = tally_tuple_len(type);
        for (size_t i = 0; i < n; i++) {
            int r = exc_match(exc, tally_tuple_get(type, i));
            if (r) return r;
        }
        return 0;
    }
    if (TYPE(type) != &py_class_type || !py_class_is_subclass(type, exc_BaseException)) {
        py_err_set(exc_TypeError, "catching classes that do not inherit from BaseException is not allowed");
        return -1;
    }
    return py_exc_matches(exc, type);
}

static tally_object *build_string(tally_object **items, size_t n)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++) total += py_str_len(items[i]);
    char *buf = malloc(total + 1);
    if (!buf) return py_err_nomem();
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const char *s = tally_str_value(items[i]);
        size_t l = strlen(s);
        memcpy(buf + k, s, l);
        k += l;
    }
    buf[k] = 0;
    tally_object *r = tally_str_new(buf);
    free(buf);
    return r ? r : py_err_nomem();
}

static int list_extend(tally_object *l, tally_object *src)
{
    if (IS_LIST(src) || IS_TUPLE(src)) {
        size_t n = IS_LIST(src) ? tally_list_len(src) : tally_tuple_len(src);
        for (size_t i = 0; i < n; i++) {
            tally_object *v = IS_LIST(src) ? tally_list_get(src, i) : tally_newref(tally_tuple_get(src, i));
            if (!v) break;
            int r = tally_list_append(l, v);
            tally_decref(v);
            if (r < 0) {
                py_err_nomem();
                return -1;
            }
        }
        return 0;
    }
    tally_object *it = py_getiter(src);
    if (!it) return -1;
    tally_object *v;
    while ((v = py_iternext(it))) {
        int r = tally_list_append(l, v);
        tally_decref(v);
        if (r < 0) {
            tally_decref(it);
            py_err_nomem();
            return -1;
        }
    }
    tally_decref(it);
    return py_err_occurred() ? -1 : 0;
}

/* ---- generators -------------------------------------------------------------------------------- */
/* A generator function's call: its frame (bound, not started, on the heap) goes to a new
 * generator object, which owns it from now on.  NULL with an exception (the frame released). */
static tally_object *make_generator(frame *f)
{
    I->depth--;   /* pushed for the binding; it runs only when resumed */
    tally_object *g = py_gen_new(f, ((py_function *)f->func)->name, f->co->qualname);
    if (!g) {
        frame_clear(f, f->sp);
        return NULL;
    }
    f->gen = g;
    return g;
}

int eval_frame_traverse(struct frame *f, tally_visitproc visit, void *arg)
{
    int r;
    if (f->func && (r = visit(f->func, arg))) return r;
    if ((r = visit((tally_object *)f->co, arg))) return r;
    if (f->ns && (r = visit(f->ns, arg))) return r;
    for (tally_object **p = f->localsplus; p < f->sp; p++)   /* locals, then the saved stack */
        if (*p && (r = visit(*p, arg))) return r;
    return 0;
}

void eval_frame_release(struct frame *f)
{
    f->gen = NULL;   /* the generator already forgot it */
    frame_clear(f, f->sp);
}

bool eval_frame_in_try(struct frame *f)
{
    return f->nblocks > 0;
}

static tally_object *run(frame *f, bool throwing);

tally_object *eval_resume(struct frame *f, tally_object *sent, bool throwing)
{
    if (py_c_stack_exhausted() || I->depth >= I->recursion_limit) {
        if (!py_err_occurred())
            py_err_set(exc_RecursionError, "maximum recursion depth exceeded");
        tally_xdecref(sent);
        return NULL;
    }
    if (sent)
        *f->sp++ = sent;   /* the value of the yield expression it is suspended at */
    f->back = NULL;
    f->entry = true;
    I->depth++;
    return run(f, throwing);
}

/* ---- the loop ------------------------------------------------------------------------------- */
#if defined(__GNUC__) && !defined(PY_NO_COMPUTED_GOTO)
#  define USE_COMPUTED_GOTO 1
#endif

static tally_object *run(frame *f, bool throwing)
{
    py_code *co;
    uint32_t *pc;
    tally_object **sp, **locals, **consts;
    uint32_t ins, arg;
    tally_object *res;
    bool reraise = false;

#define LOAD_FRAME() do { co = f->co; pc = f->pc; sp = f->sp; locals = f->localsplus; consts = co->constv; } while (0)
#define SAVE_FRAME() do { f->pc = pc; f->sp = sp; } while (0)
#define PUSH(v) (*sp++ = (v))
#define POP() (*--sp)
#define TOP() (sp[-1])
#define SECOND() (sp[-2])

#ifdef USE_COMPUTED_GOTO
#  define PY_OP_LABEL(n) &&TARGET_##n,
    static void *const targets[OP__COUNT] = { PY_OPCODES(PY_OP_LABEL) };
#  undef PY_OP_LABEL
#  define TARGET(n) TARGET_##n:
#  define DISPATCH() do { ins = *pc++; arg = ins >> 8; goto *targets[ins & 0xFF]; } while (0)
#else
#  define TARGET(n) case OP_##n:
#  define DISPATCH() goto dispatch_top
#endif

    LOAD_FRAME();
    if (throwing)
        goto error;   /* an exception thrown into a suspended generator, at its yield */
#ifdef USE_COMPUTED_GOTO
    DISPATCH();
#else
dispatch_top:
    ins = *pc++;
    arg = ins >> 8;
    switch (ins & 0xFF) {
#endif
    {
    TARGET(NOP)
        DISPATCH();
    TARGET(POP_TOP) {
        tally_object *v = POP();
        tally_decref(v);
        DISPATCH();
    }
    TARGET(DUP_TOP) {
        tally_object *v = TOP();
        tally_incref(v);
        PUSH(v);
        DISPATCH();
    }
    TARGET(DUP_TOP_TWO) {
        tally_object *a = SECOND(), *b = TOP();
        tally_incref(a);
        tally_incref(b);
        PUSH(a);
        PUSH(b);
        DISPATCH();
    }
    TARGET(ROT_TWO) {
        tally_object *t = TOP();
        TOP() = SECOND();
        SECOND() = t;
        DISPATCH();
    }
    TARGET(ROT_THREE) {
        tally_object *t = TOP();
        sp[-1] = sp[-2];
        sp[-2] = sp[-3];
        sp[-3] = t;
        DISPATCH();
    }
    TARGET(LOAD_CONST) {
        tally_object *v = consts[arg];
        tally_incref(v);
        PUSH(v);
        DISPATCH();
    }
    TARGET(LOAD_FAST) {
        tally_object *v = locals[arg];
        if (PY_UNLIKELY(!v)) {
            py_err_format(exc_UnboundLocalError, "cannot access local variable '%s' where it is not associated with a value",
                          tally_str_value(tally_tuple_get(co->varnames, arg)));
            goto error;
        }
        tally_incref(v);
        PUSH(v);
        DISPATCH();
    }
    TARGET(STORE_FAST) {
        tally_object *old = locals[arg];
        locals[arg] = POP();
        tally_xdecref(old);
        DISPATCH();
    }
    TARGET(DELETE_FAST) {
        tally_object *old = locals[arg];
        const char *nm = tally_str_value(tally_tuple_get(co->varnames, arg));
        if (!old && nm[0] != '$') {
            py_err_format(exc_UnboundLocalError, "cannot access local variable '%s' where it is not associated with a value", nm);
            goto error;
        }
        locals[arg] = NULL;
        tally_xdecref(old);
        DISPATCH();
    }
    TARGET(LOAD_GLOBAL) {
        tally_object *v = load_global(co, f->globals, arg);
        if (!v) goto error;
        PUSH(v);
        DISPATCH();
    }
    TARGET(STORE_GLOBAL) {
        tally_object *v = POP();
        int r = py_dict_set(f->globals, co->namev[arg], v);
        tally_decref(v);
        if (r < 0) goto error;
        DISPATCH();
    }
    TARGET(DELETE_GLOBAL) {
        int r = py_dict_del(f->globals, co->namev[arg]);
        if (r < 0) goto error;
        if (r == 1) {
            name_error(co->namev[arg]);
            goto error;
        }
        DISPATCH();
    }
    TARGET(LOAD_ATTR) {
        tally_object *o = TOP();
        tally_object *v = py_getattr(o, co->namev[arg]);
        if (!v) goto error;
        TOP() = v;
        tally_decref(o);
        DISPATCH();
    }
    TARGET(STORE_ATTR) {
        tally_object *o = POP(), *v = POP();
        int r = py_setattr(o, co->namev[arg], v);
        tally_decref(o);
        tally_decref(v);
        if (r < 0) goto error;
        DISPATCH();
    }
    TARGET(DELETE_ATTR) {
        tally_object *o = POP();
        int r = py_delattr(o, co->namev[arg]);
        tally_decref(o);
        if (r < 0) goto error;
        DISPATCH();
    }
    TARGET(LOAD_METHOD) {
        tally_object *o = TOP();
        bool unbound;
        tally_object *m = py_getmethod(o, co->namev[arg], &unbound);
        if (!m) goto error;
        if (unbound) {
            TOP() = m;
            PUSH(o);            /* the object's reference moves to the self slot */
        } else {
            TOP() = NULL;
            PUSH(m);
            tally_decref(o);
        }
        DISPATCH();
    }
    {
        tally_object **base;   /* the callable's slot */
        tally_object **args;
        size_t nargs;
        tally_object *kwnames;
        size_t npop;
    TARGET(CALL)
        kwnames = NULL;
        base = sp - arg - 1;
        args = sp - arg;
        nargs = arg;
        npop = arg + 1;
        goto do_call;
    TARGET(CALL_KW)
        kwnames = consts[arg >> 8];
        arg &= 0xFF;
        base = sp - arg - 1;
        args = sp - arg;
        nargs = arg - tally_tuple_len(kwnames);
        npop = arg + 1;
        goto do_call;
    TARGET(CALL_METHOD)
        kwnames = NULL;
        goto do_call_method;
    TARGET(CALL_METHOD_KW)
        kwnames = consts[arg >> 8];
        arg &= 0xFF;
    do_call_method:
        npop = arg + 2;
        if (sp[-(int)arg - 2]) {
            base = sp - arg - 2;
            args = sp - arg - 1;
            nargs = arg + 1;
        } else {
            base = sp - arg - 1;
            args = sp - arg;
            nargs = arg;
        }
        if (kwnames) nargs -= tally_tuple_len(kwnames);
    do_call: {
        tally_object *callable = *base;
        py_qsbr_quiescent();
        tally_safepoint();
        if (TYPE(callable) == &py_function_type) {
            /* the arguments' and the callable's references move into the new frame */
            sp -= npop;
            SAVE_FRAME();
            frame *nf = push_function_frame(callable, args, nargs, kwnames, true);
            if (!nf) goto error;
            if (PY_UNLIKELY(nf->heap)) {
                res = make_generator(nf);
                if (!res) goto error;
                PUSH(res);
                DISPATCH();
            }
            nf->back = f;
            f = nf;
            LOAD_FRAME();
            DISPATCH();
        }
        if (TYPE(callable) == &py_method_type && ((py_method *)callable)->func &&
            TYPE(((py_method *)callable)->func) == &py_function_type && base + 1 == args && npop < 256) {
            /* a bound method: self goes where the method was, the function is called */
            py_method *m = (py_method *)callable;
            tally_object *fn = tally_newref(m->func);
            *base = tally_newref(m->self);
            tally_decref(callable);
            sp -= npop;
            SAVE_FRAME();
            frame *nf = push_function_frame(fn, base, nargs + 1, kwnames, true);
            if (!nf) goto error;
            if (PY_UNLIKELY(nf->heap)) {
                res = make_generator(nf);
                if (!res) goto error;
                PUSH(res);
                DISPATCH();
            }
            nf->back = f;
            f = nf;
            LOAD_FRAME();
            DISPATCH();
        }
        SAVE_FRAME();
        res = py_call(callable, args, nargs, kwnames);
        {
            /* every slot of the call (the NULL or callable, self, arguments) is consumed */
            tally_object **bottom = sp - npop;
            while (sp > bottom) {
                tally_object *o = *--sp;
                tally_xdecref(o);
            }
        }
        if (!res) goto error;
        PUSH(res);
        DISPATCH();
    }
    }
    TARGET(BINARY_OP)
    TARGET(INPLACE_OP) {
        tally_object *b = POP(), *a = TOP();
        if (IS_INT(a) && IS_INT(b)) {
            int64_t x = tally_int_value(a), y = tally_int_value(b), r;
            bool ok = false;
            switch (arg) {
            case BIN_ADD: ok = !__builtin_add_overflow(x, y, &r); break;
            case BIN_SUB: ok = !__builtin_sub_overflow(x, y, &r); break;
            case BIN_MUL: ok = !__builtin_mul_overflow(x, y, &r); break;
            default: break;
            }
            if (ok) {
                res = tally_int_new(r);
                if (!res) {
                    py_err_nomem();
                    TOP() = NULL;
                    tally_decref(a);
                    tally_decref(b);
                    sp--;
                    goto error;
                }
                goto binop_done;
            }
        } else if (IS_FLOAT(a) && IS_FLOAT(b) && arg <= BIN_MUL) {
            double x = py_float_value(a), y = py_float_value(b);
            res = py_float_new(arg == BIN_ADD ? x + y : arg == BIN_SUB ? x - y : x * y);
            if (!res) {
                sp--;
                tally_decref(a);
                tally_decref(b);
                goto error;
            }
            goto binop_done;
        }
        if ((ins & 0xFF) == OP_INPLACE_OP && arg == BIN_ADD && IS_LIST(a)) {
            if (!IS_LIST(b) && !IS_TUPLE(b) && !IS_STR(b) && TYPE(b) != &py_range_type && TYPE(b) != &py_dict_type) {
                py_err_format(exc_TypeError, "'%s' object is not iterable", py_type_name(b));
                res = NULL;
            } else {
                res = list_extend(a, b) < 0 ? NULL : tally_newref(a);
            }
        } else {
            res = py_binary((int)arg, a, b);
        }
        if (!res) {
            sp--;
            tally_decref(a);
            tally_decref(b);
            goto error;
        }
    binop_done:
        TOP() = res;
        tally_decref(a);
        tally_decref(b);
        DISPATCH();
    }
    TARGET(UNARY_OP) {
        tally_object *a = TOP();
        res = py_unary((int)arg, a);
        if (!res) {
            sp--;
            tally_decref(a);
            goto error;
        }
        TOP() = res;
        tally_decref(a);
        DISPATCH();
    }
    TARGET(COMPARE_OP) {
        tally_object *b = POP(), *a = TOP();
        if (IS_INT(a) && IS_INT(b)) {
            int64_t x = tally_int_value(a), y = tally_int_value(b);
            bool r;
            switch (arg) {
            case CMP_LT: r = x < y; break;
            case CMP_LE: r = x <= y; break;
            case CMP_EQ: r = x == y; break;
            case CMP_NE: r = x != y; break;
            case CMP_GT: r = x > y; break;
            default: r = x >= y; break;
            }
            res = py_bool(r);
        } else {
            res = py_compare(a, b, (int)arg);
            if (!res) {
                sp--;
                tally_decref(a);
                tally_decref(b);
                goto error;
            }
        }
        TOP() = res;
        tally_decref(a);
        tally_decref(b);
        DISPATCH();
    }
    TARGET(IS_OP) {
        tally_object *b = POP(), *a = TOP();
        TOP() = py_bool((a == b) ^ (arg != 0));
        tally_decref(a);
        tally_decref(b);
        DISPATCH();
    }
    TARGET(CONTAINS_OP) {
        tally_object *b = POP(), *a = TOP();
        int r = py_contains(b, a);
        if (r < 0) {
            sp--;
            tally_decref(a);
            tally_decref(b);
            goto error;
        }
        TOP() = py_bool(r ^ (arg != 0));
        tally_decref(a);
        tally_decref(b);
        DISPATCH();
    }
    TARGET(JUMP) {
        pc = co->instrs + arg;
        DISPATCH();
    }
    TARGET(JUMP_BACK) {
        pc = co->instrs + arg;
        py_qsbr_quiescent();
        tally_safepoint();
        DISPATCH();
    }
    TARGET(POP_JUMP_IF_FALSE) {
        tally_object *v = POP();
        if (v == py_False) { pc = co->instrs + arg; DISPATCH(); }
        if (v == py_True) DISPATCH();
        int t = py_truth(v);
        tally_decref(v);
        if (t < 0) goto error;
        if (!t) pc = co->instrs + arg;
        DISPATCH();
    }
    TARGET(POP_JUMP_IF_TRUE) {
        tally_object *v = POP();
        if (v == py_True) { pc = co->instrs + arg; DISPATCH(); }
        if (v == py_False) DISPATCH();
        int t = py_truth(v);
        tally_decref(v);
        if (t < 0) goto error;
        if (t) pc = co->instrs + arg;
        DISPATCH();
    }
    TARGET(JUMP_IF_FALSE_OR_POP)
    TARGET(JUMP_IF_TRUE_OR_POP) {
        tally_object *v = TOP();
        int t = py_truth(v);
        if (t < 0) goto error;
        if (t == ((ins & 0xFF) == OP_JUMP_IF_TRUE_OR_POP)) {
            pc = co->instrs + arg;
        } else {
            sp--;
            tally_decref(v);
        }
        DISPATCH();
    }
    TARGET(GET_ITER) {
        tally_object *o = TOP();
        tally_object *it = py_getiter(o);
        if (!it) goto error;
        TOP() = it;
        tally_decref(o);
        DISPATCH();
    }
    TARGET(FOR_ITER) {
        py_iter *it = (py_iter *)TOP();
        tally_object *v;
        if (TYPE((tally_object *)it) != &py_iter_type) {
            goto for_iter_generic;
        } else if (it->kind == ITER_RANGE) {
            if (it->stop > 0) {
                int64_t x = it->index;
                if (--it->stop > 0)
                    it->index += it->step;
                v = tally_int_new(x);
                if (!v) {
                    py_err_nomem();
                    goto error;
                }
                PUSH(v);
                DISPATCH();
            }
            v = NULL;
        } else if (it->kind == ITER_LIST) {
            v = it->seq ? tally_list_get(it->seq, (size_t)it->index) : NULL;
            if (v) {
                it->index++;
                PUSH(v);
                DISPATCH();
            }
        } else {
        for_iter_generic:
            SAVE_FRAME();
            v = py_iternext((tally_object *)it);
            if (v) {
                PUSH(v);
                DISPATCH();
            }
            if (py_err_occurred()) goto error;
        }
        sp--;
        tally_decref((tally_object *)it);
        pc = co->instrs + arg;
        DISPATCH();
    }
    TARGET(BUILD_TUPLE) {
        /* Tally's tuple constructor increfs: the stack's references are dropped after */
        res = tally_tuple_new(arg, sp - arg);
        if (!res) {
            py_err_nomem();
            goto error;
        }
        while (arg--) {
            tally_object *o = POP();
            tally_decref(o);
        }
        PUSH(res);
        DISPATCH();
    }
    TARGET(BUILD_LIST) {
        res = tally_list_new();
        if (!res) {
            py_err_nomem();
            goto error;
        }
        for (uint32_t i = 0; i < arg; i++) {
            if (tally_list_append(res, sp[(int)i - (int)arg]) < 0) {
                tally_decref(res);
                py_err_nomem();
                goto error;
            }
        }
        while (arg--) {
            tally_object *o = POP();
            tally_decref(o);
        }
        PUSH(res);
        DISPATCH();
    }
    TARGET(BUILD_DICT) {
        res = py_dict_new();
        if (!res) goto error;
        for (uint32_t i = 0; i < arg; i++) {
            if (py_dict_set(res, sp[2 * ((int)i - (int)arg)], sp[2 * ((int)i - (int)arg) + 1]) < 0) {
                tally_decref(res);
                goto error;
            }
        }
        for (uint32_t i = 0; i < 2 * arg; i++) {
            tally_object *o = POP();
            tally_decref(o);
        }
        PUSH(res);
        DISPATCH();
    }
    TARGET(BUILD_SET) {
        res = py_set_new();
        if (!res) goto error;
        for (uint32_t i = 0; i < arg; i++) {
            if (py_dict_set(res, sp[(int)i - (int)arg], py_None) < 0) {
                tally_decref(res);
                goto error;
            }
        }
        while (arg--) {
            tally_object *o = POP();
            tally_decref(o);
        }
        PUSH(res);
        DISPATCH();
    }
    TARGET(BUILD_SLICE) {
        tally_object *step = POP(), *stop = POP(), *start = TOP();
        res = py_slice_new(start, stop, step);
        tally_decref(step);
        tally_decref(stop);
        if (!res) goto error;
        TOP() = res;
        tally_decref(start);
        DISPATCH();
    }
    TARGET(BINARY_SUBSCR) {
        tally_object *key = POP(), *o = TOP();
        if (IS_LIST(o) && IS_INT(key)) {
            int64_t i = tally_int_value(key);
            if (i < 0) i += (int64_t)tally_list_len(o);
            res = i >= 0 ? tally_list_get(o, (size_t)i) : NULL;
            if (!res) py_err_set(exc_IndexError, "list index out of range");
        } else if (IS_TUPLE(o) && IS_INT(key)) {
            int64_t i = tally_int_value(key);
            int64_t n = (int64_t)tally_tuple_len(o);
            if (i < 0) i += n;
            if (i >= 0 && i < n) res = tally_newref(tally_tuple_get(o, (size_t)i));
            else {
                res = NULL;
                py_err_set(exc_IndexError, "tuple index out of range");
            }
        } else {
            res = py_getitem(o, key);
        }
        if (!res) {
            sp--;
            tally_decref(o);
            tally_decref(key);
            goto error;
        }
        TOP() = res;
        tally_decref(o);
        tally_decref(key);
        DISPATCH();
    }
    TARGET(STORE_SUBSCR) {
        tally_object *key = POP(), *o = POP(), *v = POP();
        int r = py_setitem(o, key, v);
        tally_decref(key);
        tally_decref(o);
        tally_decref(v);
        if (r < 0) goto error;
        DISPATCH();
    }
    TARGET(DELETE_SUBSCR) {
        tally_object *key = POP(), *o = POP();
        int r = py_delitem(o, key);
        tally_decref(key);
        tally_decref(o);
        if (r < 0) goto error;
        DISPATCH();
    }
    TARGET(UNPACK_SEQUENCE) {
        tally_object *seq = TOP();
        if (IS_TUPLE(seq) && tally_tuple_len(seq) == arg) {
            /* the common case (a, b = pair): the items, last first, each a new reference */
            sp--;
            for (uint32_t i = arg; i-- > 0;) {
                tally_object *v = tally_tuple_get(seq, i);
                tally_incref(v);
                PUSH(v);
            }
            tally_decref(seq);
            DISPATCH();
        }
        sp--;
        tally_object *items[256];
        tally_object **out = arg <= 256 ? items : malloc(sizeof(tally_object *) * arg);
        if (!out) {
            tally_decref(seq);
            py_err_nomem();
            goto error;
        }
        int r = unpack(seq, (int)arg, out);
        tally_decref(seq);
        if (r < 0) {
            if (out != items) free(out);
            goto error;
        }
        for (uint32_t i = arg; i-- > 0;)
            PUSH(out[i]);
        if (out != items) free(out);
        DISPATCH();
    }
    TARGET(MAKE_FUNCTION) {
        tally_object *code = POP();
        tally_object *closure = (arg & 2) ? POP() : NULL;
        tally_object *kwdefaults = (arg & 4) ? POP() : NULL;
        tally_object *defaults = (arg & 1) ? POP() : NULL;
        py_function *fn = (py_function *)tally_new(&py_function_type);
        if (!fn) {
            tally_decref(code);
            tally_xdecref(closure);
            tally_xdecref(kwdefaults);
            tally_xdecref(defaults);
            py_err_nomem();
            goto error;
        }
        fn->code = code;
        fn->closure = closure;
        fn->kwdefaults = kwdefaults;
        fn->defaults = defaults;
        fn->globals = tally_newref(f->globals);
        fn->name = tally_newref(((py_code *)code)->name);
        PUSH((tally_object *)fn);
        DISPATCH();
    }
    TARGET(RETURN_VALUE) {
        tally_object *rv = POP();
        frame *back = f->back;
        bool entry = f->entry;
        frame_clear(f, sp);
        I->depth--;
        if (entry)
            return rv;
        f = back;
        LOAD_FRAME();
        PUSH(rv);
        DISPATCH();
    }
    TARGET(SETUP_EXCEPT) {
        if (f->nblocks >= MAX_BLOCKS) {
            py_err_set(exc_RuntimeError, "too many nested try blocks");
            goto error;
        }
        f->blocks[f->nblocks].handler = arg;
        f->blocks[f->nblocks].level = (uint32_t)(sp - (locals + co->nlocals));
        f->nblocks++;
        DISPATCH();
    }
    TARGET(POP_BLOCK) {
        f->nblocks--;
        DISPATCH();
    }
    TARGET(RAISE) {
        if (arg == 0) {
            py_err_set(exc_RuntimeError, "No active exception to reraise");
            goto error;
        }
        if (arg == 2) {
            tally_object *cause = POP();
            tally_decref(cause);
        }
        tally_object *e = POP();
        if (TYPE(e) == &py_class_type && py_class_is_subclass(e, exc_BaseException)) {
            SAVE_FRAME();
            tally_object *inst = py_call(e, NULL, 0, NULL);
            tally_decref(e);
            if (!inst) goto error;
            py_err_set_obj(inst);
            goto error;
        }
        if (TYPE(e) == &py_instance_type && py_exc_matches(e, exc_BaseException)) {
            py_err_set_obj(e);
            goto error;
        }
        tally_decref(e);
        py_err_set(exc_TypeError, "exceptions must derive from BaseException");
        goto error;
    }
    TARGET(RERAISE) {
        tally_object *e = POP();
        py_err_set_obj(e);
        reraise = true;
        goto error;
    }
    TARGET(CHECK_EXC_MATCH) {
        tally_object *type = POP(), *e = TOP();
        int r = exc_match(e, type);
        tally_decref(type);
        if (r < 0) goto error;
        TOP() = py_bool(r);
        tally_decref(e);
        DISPATCH();
    }
    TARGET(FORMAT_VALUE) {
        tally_object *spec = (arg & 4) ? POP() : NULL;
        tally_object *v = TOP();
        tally_object *conv = v;
        if ((arg & 3) == 1) conv = py_repr(v);
        else if ((arg & 3) == 2) conv = py_str(v);
        if (!conv) {
            tally_xdecref(spec);
            goto error;
        }
        res = (spec || !IS_STR(conv)) ? py_format_value(conv, spec) : tally_newref(conv);
        if (conv != v) tally_decref(conv);
        tally_xdecref(spec);
        if (!res) goto error;
        TOP() = res;
        tally_decref(v);
        DISPATCH();
    }
    TARGET(BUILD_STRING) {
        res = build_string(sp - arg, arg);
        if (!res) goto error;
        while (arg--) {
            tally_object *o = POP();
            tally_decref(o);
        }
        PUSH(res);
        DISPATCH();
    }
    TARGET(IMPORT_NAME) {
        /* argument: the name's index, bit 20 set to get the dotted name's last module */
        SAVE_FRAME();
        tally_object *m = py_import(co->namev[arg & 0xFFFFF], (arg >> 20) & 1);
        if (!m) goto error;
        PUSH(m);
        DISPATCH();
    }
    TARGET(IMPORT_FROM) {
        SAVE_FRAME();
        tally_object *v = py_import_from(TOP(), co->namev[arg]);
        if (!v) goto error;
        PUSH(v);
        DISPATCH();
    }
    TARGET(LIST_APPEND) {
        tally_object *v = POP();
        int r = tally_list_append(sp[-(int)arg], v);
        tally_decref(v);
        if (r < 0) {
            py_err_nomem();
            goto error;
        }
        DISPATCH();
    }
    TARGET(ASSERT_FAIL) {
        if (arg) {
            tally_object *msg = POP();
            tally_object *a = py_tuple_pack(1, &msg);
            tally_decref(msg);
            if (!a) goto error;
            tally_object *e = py_exc_new(exc_AssertionError, a);
            tally_decref(a);
            if (e) py_err_set_obj(e);
        } else {
            tally_object *a = py_tuple_pack(0, NULL);
            if (!a) goto error;
            tally_object *e = py_exc_new(exc_AssertionError, a);
            tally_decref(a);
            if (e) py_err_set_obj(e);
        }
        goto error;
    }
    TARGET(LOAD_BUILD_CLASS) {
        tally_object *base = POP(), *name = POP(), *body = TOP();
        SAVE_FRAME();
        res = NULL;
        if (base != py_None && TYPE(base) != &py_class_type) {
            py_err_format(exc_TypeError, "a class's base must be a class, not '%s' (built-in types as bases are not supported yet)",
                          py_type_name(base));
        } else {
            tally_object *ns = py_dict_new();
            tally_object *r = ns ? eval_class_body(body, ns) : NULL;
            if (r) {
                tally_decref(r);
                res = py_class_new(tally_str_value(name), base == py_None ? py_object_class : base,
                                   base != py_None && ((py_class *)base)->is_exception);
                if (res) {
                    py_class *c = (py_class *)res;
                    tally_object *old = c->dict;
                    c->dict = tally_newref(ns);
                    tally_decref(old);
                    /* methods learn their class, for super() without arguments */
                    size_t pos = 0;
                    tally_object *k, *v;
                    while (py_dict_next(ns, &pos, &k, &v))
                        if (TYPE(v) == &py_function_type && !((py_function *)v)->owner)
                            ((py_function *)v)->owner = tally_newref(res);
                    /* what ABCMeta and EnumMeta would do for subclasses of abc.ABC and enum.Enum */
                    if (py_abc_class_created(res) < 0 || py_enum_class_created(res) < 0) {
                        tally_decref(res);
                        res = NULL;
                    }
                }
            }
            tally_xdecref(ns);
        }
        tally_decref(base);
        tally_decref(name);
        if (!res) goto error;
        TOP() = res;
        tally_decref(body);
        DISPATCH();
    }
    TARGET(STORE_NAME_CLASS) {
        tally_object *v = POP();
        int r = py_dict_set(f->ns, co->namev[arg], v);
        tally_decref(v);
        if (r < 0) goto error;
        DISPATCH();
    }
    TARGET(LOAD_NAME_CLASS) {
        tally_object *name = co->namev[arg];
        bool err = false;
        tally_object *v = py_dict_lookup(f->ns, name, &err);
        if (!v && !err) v = py_dict_lookup(f->globals, name, &err);
        if (!v && !err) v = py_dict_lookup(I->builtins, name, &err);
        if (!v) {
            if (!err) name_error(name);
            goto error;
        }
        tally_incref(v);
        PUSH(v);
        DISPATCH();
    }
    TARGET(LOAD_OWNER_CLASS) {
        tally_object *owner = f->func ? ((py_function *)f->func)->owner : NULL;
        if (!owner) {
            py_err_set(exc_RuntimeError, "super(): __class__ cell not found");
            goto error;
        }
        tally_incref(owner);
        PUSH(owner);
        DISPATCH();
    }
    TARGET(MAKE_CELL) {
        py_cell *c = (py_cell *)tally_new(&py_cell_type);
        if (!c) {
            py_err_nomem();
            goto error;
        }
        c->ref = locals[arg];   /* the local's reference moves into the cell */
        locals[arg] = (tally_object *)c;
        DISPATCH();
    }
    TARGET(LOAD_DEREF) {
        /* acquire: pairs with STORE_DEREF's release (the value's contents are visible); the
         * old value is released after a grace period, so the incref below is on a live object */
        tally_object *v = tally_atomic_load_acquire(&((py_cell *)locals[arg])->ref);
        if (!v) {
            const char *nm = tally_str_value(tally_tuple_get(co->varnames, arg));
            bool is_free = false;
            for (int i = 0; i < co->nfree; i++)
                if (co->freeslots[i] == (int32_t)arg) is_free = true;
            if (is_free)
                py_err_format(exc_NameError, "cannot access free variable '%s' where it is not associated with a value in enclosing scope", nm);
            else
                py_err_format(exc_UnboundLocalError, "cannot access local variable '%s' where it is not associated with a value", nm);
            goto error;
        }
        tally_incref(v);
        PUSH(v);
        DISPATCH();
    }
    TARGET(STORE_DEREF) {
        py_cell *c = (py_cell *)locals[arg];
        tally_object *old = tally_atomic_exchange_acq_rel(&c->ref, POP());
        if (old) py_decref_delayed(old);
        DISPATCH();
    }
    TARGET(LOAD_CLOSURE) {
        tally_object *c = locals[arg];
        tally_incref(c);
        PUSH(c);
        DISPATCH();
    }
    TARGET(LIST_EXTEND) {
        tally_object *v = POP();
        int r = list_extend(sp[-(int)arg], v);
        if (r < 0 && py_exc_matches(py_err_occurred(), exc_TypeError) && TYPE(v) != &py_instance_type) {
            /* CPython names the callee, which sits below the list being built */
            tally_object *callee = sp[-(int)arg - 1];
            const char *cname = TYPE(callee) == &py_function_type ? tally_str_value(((py_code *)((py_function *)callee)->code)->qualname)
                              : TYPE(callee) == &py_builtin_type ? ((py_builtin *)callee)->name : py_type_name(callee);
            py_err_clear();
            py_err_format(exc_TypeError, "%s%s() argument after * must be an iterable, not %s",
                          TYPE(callee) == &py_function_type ? "__main__." : "", cname, py_type_name(v));
        }
        tally_decref(v);
        if (r < 0) goto error;
        DISPATCH();
    }
    TARGET(LIST_TO_TUPLE) {
        tally_object *l = TOP();
        size_t n = tally_list_len(l);
        tally_object **items = malloc(sizeof(tally_object *) * (n + 1));
        if (!items) {
            py_err_nomem();
            goto error;
        }
        size_t got = 0;
        for (; got < n; got++) {
            items[got] = tally_list_get(l, got);
            if (!items[got]) break;
        }
        res = py_tuple_pack(got, items);
        for (size_t i = 0; i < got; i++) tally_decref(items[i]);
        free(items);
        if (!res) goto error;
        TOP() = res;
        tally_decref(l);
        DISPATCH();
    }
    TARGET(DICT_SET) {
        tally_object *v = POP(), *k = POP();
        int r = py_dict_set(sp[-(int)arg], k, v);
        tally_decref(k);
        tally_decref(v);
        if (r < 0) goto error;
        DISPATCH();
    }
    TARGET(DICT_MERGE) {
        tally_object *m = POP();
        tally_object *d = sp[-(int)arg];
        int r = 0;
        if (!IS_DICT(m)) {
            py_err_format(exc_TypeError, "argument after ** must be a mapping, not %s", py_type_name(m));
            r = -1;
        } else {
            size_t pos = 0;
            tally_object *k, *mv;
            while (r == 0 && py_dict_next(m, &pos, &k, &mv)) {
                bool err = false;
                if (!IS_STR(k)) {
                    py_err_set(exc_TypeError, "keywords must be strings");
                    r = -1;
                } else if (py_dict_lookup(d, k, &err) || err) {
                    if (!err)
                        py_err_format(exc_TypeError, "got multiple values for keyword argument '%s'", tally_str_value(k));
                    r = -1;
                } else {
                    r = py_dict_set(d, k, mv);
                }
            }
        }
        tally_decref(m);
        if (r < 0) goto error;
        DISPATCH();
    }
    TARGET(CALL_FUNCTION_EX) {
        tally_object *kw = (arg & 1) ? POP() : NULL;
        tally_object *argt = POP();
        tally_object *callable = TOP();
        size_t n = tally_tuple_len(argt);
        size_t nkw = kw ? py_dict_size(kw) : 0;   /* kw: a new dict only this frame holds */
        tally_object **items = malloc(sizeof(tally_object *) * (n + nkw + 1));
        tally_object **names = malloc(sizeof(tally_object *) * (nkw + 1));
        tally_object *kwnames = NULL;
        bool ok = items && names;
        if (ok) {
            for (size_t i = 0; i < n; i++) items[i] = tally_tuple_get(argt, i);
            size_t k = 0;
            if (kw) {
                size_t pos = 0;
                while (k < nkw && py_dict_next(kw, &pos, &names[k], &items[n + k])) k++;
                kwnames = py_tuple_pack(k, names);
                ok = kwnames != NULL;
            }
        } else {
            py_err_nomem();
        }
        free(names);
        if (ok && TYPE(callable) == &py_function_type) {
            SAVE_FRAME();
            frame *nf = push_function_frame(callable, items, n, kwnames, false);
            free(items);
            tally_xdecref(kwnames);
            tally_decref(argt);
            tally_xdecref(kw);
            if (!nf) goto error;
            if (PY_UNLIKELY(nf->heap)) {
                res = make_generator(nf);
                if (!res) goto error;
                TOP() = res;
                tally_decref(callable);
                DISPATCH();
            }
            sp--;
            f->sp = sp;
            tally_decref(callable);   /* the frame holds its own reference */
            nf->back = f;
            f = nf;
            LOAD_FRAME();
            DISPATCH();
        }
        if (ok) {
            SAVE_FRAME();
            res = py_call(callable, items, n, kwnames);
        } else {
            res = NULL;
        }
        free(items);
        tally_xdecref(kwnames);
        tally_decref(argt);
        tally_xdecref(kw);
        if (!res) goto error;
        TOP() = res;
        tally_decref(callable);
        DISPATCH();
    }
    TARGET(BEFORE_WITH) {
        tally_object *mgr = TOP();
        SAVE_FRAME();
        tally_object *exitm = py_getattr(mgr, py_intern("__exit__"));
        if (!exitm) {
            if (py_exc_matches(py_err_occurred(), exc_AttributeError)) {
                py_err_clear();
                py_err_format(exc_TypeError, "'%s' object does not support the context manager protocol", py_type_name(mgr));
            }
            goto error;
        }
        tally_object *enterm = py_getattr(mgr, py_intern("__enter__"));
        tally_object *entered = enterm ? py_call(enterm, NULL, 0, NULL) : NULL;
        tally_xdecref(enterm);
        if (!entered) {
            tally_decref(exitm);
            goto error;
        }
        TOP() = exitm;
        tally_decref(mgr);
        PUSH(entered);
        DISPATCH();
    }
    TARGET(WITH_EXIT_EXC) {
        tally_object *e = TOP();
        tally_object *cls = TYPE(e) == &py_instance_type ? ((py_instance *)e)->cls : py_None;
        tally_object *a[3] = { cls, e, py_None };
        SAVE_FRAME();
        res = py_call(locals[arg], a, 3, NULL);
        if (!res) goto error;
        TOP() = res;
        tally_decref(e);
        DISPATCH();
    }
    TARGET(YIELD_VALUE) {
        /* only in a generator's own frame, which is always an entry frame: suspend it (its
         * state stays in the frame, which its generator owns) and return the value to C */
        res = POP();
        SAVE_FRAME();
        I->depth--;
        return res;
    }
    TARGET(SET_ADD) {
        tally_object *v = POP();
        int r = py_dict_set(sp[-(int)arg], v, py_None);
        tally_decref(v);
        if (r < 0) goto error;
        DISPATCH();
    }
    TARGET(SETUP_ANNOTATIONS) {
        py_err_set(exc_NotImplementedError, "opcode not implemented yet");
        goto error;
    }
    }
#ifndef USE_COMPUTED_GOTO
    default:
        py_err_set(exc_RuntimeError, "bad opcode");
        goto error;
    }
#endif

error:
    if (!py_err_occurred())
        py_err_set(exc_RuntimeError, "error return without an exception set");
    if (!reraise)
        py_tb_add(I->exc, (tally_object *)co, co->lines[pc - 1 - co->instrs]);
    reraise = false;
    for (;;) {
        if (f->nblocks > 0) {
            f->nblocks--;
            tally_object **level = locals + co->nlocals + f->blocks[f->nblocks].level;
            while (sp > level) {
                tally_object *o = POP();
                tally_xdecref(o);
            }
            PUSH(py_err_fetch());
            pc = co->instrs + f->blocks[f->nblocks].handler;
            DISPATCH();
        }
        frame *back = f->back;
        bool entry = f->entry;
        frame_clear(f, sp);
        I->depth--;
        if (entry)
            return NULL;
        f = back;
        LOAD_FRAME();
        py_tb_add(I->exc, (tally_object *)co, co->lines[pc - 1 - co->instrs]);
    }
#undef TARGET
#undef DISPATCH
}

/* A call from C (a built-in calling back, __init__, a special method) runs a nested evaluation
 * loop on the C stack; refuse one that would come near the end of it. */
bool py_c_stack_exhausted(void)
{
    char here;
    if (!I->stack_base)
        return false;
    size_t used = (size_t)(I->stack_base > &here ? I->stack_base - &here : &here - I->stack_base);
    if (used <= I->stack_budget)
        return false;
    py_err_set(exc_RecursionError, "maximum recursion depth exceeded (C stack)");
    return true;
}

tally_object *eval_call_function(tally_object *func, tally_object *const *args, size_t nargs, tally_object *kwnames)
{
    if (py_c_stack_exhausted())
        return NULL;
    frame *f = push_function_frame(func, args, nargs, kwnames, false);
    if (!f)
        return NULL;
    if (f->heap)
        return make_generator(f);
    f->entry = true;
    return run(f, false);
}

tally_object *eval_class_body(tally_object *func, tally_object *ns)
{
    if (py_c_stack_exhausted())
        return NULL;
    frame *f = push_function_frame(func, NULL, 0, NULL, false);
    if (!f)
        return NULL;
    f->ns = tally_newref(ns);
    f->entry = true;
    return run(f, false);
}

tally_object *eval_code(tally_object *code, tally_object *globals)
{
    py_code *co = (py_code *)code;
    frame *f = frame_alloc(co);
    if (!f)
        return py_err_nomem();
    f->co = co;
    tally_incref(code);
    f->globals = globals;
    f->pc = co->instrs;
    f->sp = f->localsplus + co->nlocals;
    f->entry = true;
    I->depth++;
    return run(f, false);
}
