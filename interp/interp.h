/* interp/interp.h - the declarations every part of the Python-subset interpreter shares.
 *
 * Owns: the interpreter's object layouts (float, bool, dict, range, iterators, code, function,
 * built-in function, class, instance, module, file), the AST node, the bytecode format and the
 * opcode list, the per-thread interpreter state (current exception, recursion depth, frame
 * stack) and the prototypes of each file's entry points.  Only <tally/tally.h> is included from
 * Tally: the interpreter is an ordinary client of the public API.
 */
#ifndef TALLY_INTERP_H
#define TALLY_INTERP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <tally/tally.h>

#define PY_UNUSED __attribute__((unused))
#define PY_LIKELY(x) __builtin_expect(!!(x), 1)
#define PY_UNLIKELY(x) __builtin_expect(!!(x), 0)

/* ---- growable byte buffer (sbuf.c) ---------------------------------------------------------- */
typedef struct sbuf {
    char *data;
    size_t len, cap;
    bool oom;           /* an append failed: the contents are truncated */
} sbuf;
void sb_init(sbuf *b);
void sb_free(sbuf *b);
void sb_putc(sbuf *b, char c);
void sb_puts(sbuf *b, const char *s);
void sb_putn(sbuf *b, const char *s, size_t n);
void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
const char *sb_cstr(sbuf *b);   /* NUL-terminated view ("" when empty) */

/* ---- threads: per-object locks and delayed decrefs (pysync.c) --------------------------------
 * On the gil backend every attached thread holds the GIL, which serialises all object access:
 * the locks below compile to nothing and decrefs are immediate.  On the free-threaded backends
 * (atomic, biased, deferred) the interpreter's own mutable containers carry a py_mutex (its
 * dicts, which are also sets, instance and class attribute dicts, module globals; cells use
 * atomics), and a value that leaves a dict another thread may be reading is released through
 * py_decref_delayed: its decref waits until every attached Python thread has passed a quiescent
 * point (QSBR).  Contract: a borrowed reference read from a dict or cell stays valid until the
 * reading thread's next quiescent point, which the evaluation loop reports at its safepoint
 * polls and blocking calls report when they detach; C code never holds a borrowed reference
 * across a call into Python code (which would be wrong single-threaded as well). */
#if defined(TALLY_BACKEND_GIL)
#  define PY_FREE_THREADED 0
#else
#  define PY_FREE_THREADED 1
#endif
/* A futex word: 0 free, 1 held, 2 held with waiters.  A holder never waits for another lock
 * of its kind and never reaches a safepoint, allocation, decref or Python code while holding
 * it, so an attached thread may spin or sleep on it without holding back a stop-the-world. */
typedef struct { uint32_t v; } py_mutex;
void py_mutex_lock_slow(py_mutex *m);
void py_mutex_unlock_slow(py_mutex *m);
static inline void py_mutex_lock(py_mutex *m)
{
#if PY_FREE_THREADED
    uint32_t expected = 0;
    if (!tally_atomic_cas_acq_rel(&m->v, &expected, 1)) py_mutex_lock_slow(m);
#else
    (void)m;
#endif
}
static inline void py_mutex_unlock(py_mutex *m)
{
#if PY_FREE_THREADED
    if (tally_atomic_exchange_acq_rel(&m->v, 0) == 2) py_mutex_unlock_slow(m);
#else
    (void)m;
#endif
}
/* the calling thread's serial number (main thread 1; never reused), for threading.local */
extern _Thread_local int64_t py_thread_serial;
/* QSBR over the interpreter's threads (no-ops on gil) */
void py_decref_delayed(tally_object *o);     /* gil: tally_decref */
void py_free_delayed(void *p);                /* free() after a grace period; gil: free */
void py_qsbr_quiescent_slow(void);
extern uint64_t py_qsbr_seq;                  /* bumped by each delayed decref */
extern _Thread_local uint64_t py_qsbr_seen;   /* this thread's last reported value */
static inline void py_qsbr_quiescent(void)
{
#if PY_FREE_THREADED
    if (PY_UNLIKELY(tally_atomic_load_relaxed(&py_qsbr_seq) != py_qsbr_seen)) py_qsbr_quiescent_slow();
#endif
}
int py_qsbr_thread_online(void);             /* register the calling thread (0 / -1) */
void py_qsbr_offline(void);                   /* blocking call: reports quiescence while away */
void py_qsbr_online(void);
void py_qsbr_thread_exit(void);               /* hand pending decrefs over; unregister */
void py_qsbr_drain_all(void);                 /* at exit, the last thread: apply every pending decref */
/* detach from Tally and go offline for QSBR around a blocking call */
#define PY_BEGIN_BLOCKING { py_qsbr_offline(); TALLY_BEGIN_ALLOW_THREADS
#define PY_END_BLOCKING   TALLY_END_ALLOW_THREADS py_qsbr_online(); }

/* ---- type tests ----------------------------------------------------------------------------- */
static inline const tally_type *TYPE(tally_object *o) { return o->ob_type; }
#define IS_INT(o)   (TYPE(o) == &tally_int_type)
#define IS_STR(o)   (TYPE(o) == &tally_str_type)
#define IS_TUPLE(o) (TYPE(o) == &tally_tuple_type)
#define IS_LIST(o)  (TYPE(o) == &tally_list_type)
#define IS_NONE(o)  ((o) == py_None)
#define IS_FLOAT(o) (TYPE(o) == &py_float_type)
#define IS_BOOL(o)  (TYPE(o) == &py_bool_type)
#define IS_DICT(o)  (TYPE(o) == &py_dict_type)
#define IS_SET(o)   (TYPE(o) == &py_set_type)

extern tally_object *py_None;
extern tally_object *py_True;
extern tally_object *py_False;
static inline tally_object *py_bool(bool b) { return b ? py_True : py_False; }

/* traverse, clear and destroy of a container whose one reference is `field`: defines
 * prefix_traverse, prefix_clear and prefix_destroy (for its tally_type) */
#define PY_ONE_REF_SLOTS(prefix, ctype, field)                                                   \
    static int prefix##_traverse(tally_object *self, tally_visitproc visit, void *arg)         \
    {                                                                                          \
        tally_object *r_ = ((ctype *)self)->field;                                             \
        return r_ ? visit(r_, arg) : 0;                                                        \
    }                                                                                          \
    static int prefix##_clear(tally_object *self)                                              \
    {                                                                                          \
        tally_object *r_ = ((ctype *)self)->field;                                             \
        ((ctype *)self)->field = NULL;                                                         \
        tally_xdecref(r_);                                                                     \
        return 0;                                                                              \
    }                                                                                          \
    static void prefix##_destroy(tally_object *self) { prefix##_clear(self); }

/* ---- interpreter object types ---------------------------------------------------------------- */
typedef struct { TALLY_OBJECT_HEAD; double value; } py_float;
typedef struct { TALLY_OBJECT_HEAD; int64_t value; } py_boolobj;   /* value 0 or 1 */
extern const tally_type py_float_type, py_bool_type;

/* dict: CPython's compact, insertion-ordered layout with Python hashing and equality (Tally's
 * dict compares only int and str keys by value and cannot be iterated: docs/interpreter.md) */
typedef struct { tally_object *key, *value; int64_t hash; } py_dentry;
/* one allocation, replaced as a whole on resize (obj_dict.c: the lock-free readers' contract) */
typedef struct py_dkeys {
    size_t mask;        /* index size - 1 */
    size_t entcap;
    size_t nentries;    /* entries written, deleted ones included (mutex) */
    py_dentry *entries; /* in the same block, after the index */
    struct py_dkeys *retired;   /* replaced blocks waiting to be freed by the writer (mutex) */
    int32_t index[];    /* -1 empty, -2 deleted, else entry number */
} py_dkeys;
typedef struct {
    TALLY_OBJECT_HEAD;
    size_t used;        /* live entries */
    py_dkeys *keys;     /* NULL while empty */
    uint64_t version;   /* bumped when the key set or the block changes */
    py_mutex mutex;     /* free-threaded backends: held by every writer */
    bool shared;        /* a thread other than the creator has touched it (set under mutex) */
    int64_t owner;      /* py_thread_serial of the creator */
} py_dict;
extern const tally_type py_dict_type;
/* set: a py_dict whose values are all None, with its own type */
extern const tally_type py_set_type;
tally_object *py_set_new(void);
extern uint64_t py_dict_version_tag;
tally_object *py_dict_new(void);
/* borrowed value or NULL; NULL with an exception set on error (*err = true) */
tally_object *py_dict_lookup(tally_object *d, tally_object *key, bool *err);
int py_dict_set(tally_object *d, tally_object *key, tally_object *value);   /* 0 / -1 */
int py_dict_del(tally_object *d, tally_object *key);   /* 0, 1 absent, -1 error */
tally_object *py_dict_getstr(tally_object *d, const char *key);   /* borrowed; NULL absent */
int py_dict_setstr(tally_object *d, const char *key, tally_object *value);
/* index of a str key's entry or -1; no exception */
int64_t py_dict_find_str(tally_object *d, tally_object *key);
/* iteration: the entry at or after *pos (borrowed key and value, valid as a lookup's result);
 * false at the end.  *pos advances past it. */
bool py_dict_next(tally_object *d, size_t *pos, tally_object **key, tally_object **value);
size_t py_dict_size(tally_object *d);
/* the value of entry ix if the dict is still at version ver (borrowed), else NULL: the
 * lock-free half of the LOAD_GLOBAL cache */
tally_object *py_dict_value_at(tally_object *d, uint64_t ver, int64_t ix);
/* from now on read without the mutex by any thread (module globals, builtins) */
void py_dict_mark_shared(tally_object *d);
void py_dict_clear(tally_object *d);

typedef struct { TALLY_OBJECT_HEAD; int64_t start, stop, step, len; } py_range;
extern const tally_type py_range_type;

typedef struct {
    TALLY_OBJECT_HEAD;
    tally_object *seq;    /* strong; NULL once exhausted */
    int64_t index;
    int64_t stop, step;   /* range iterator */
    uint64_t version;     /* dict iterator: size check */
    size_t dsize;
    int kind;             /* ITER_* */
} py_iter;
enum { ITER_LIST, ITER_TUPLE, ITER_STR, ITER_RANGE, ITER_DICT_KEYS, ITER_DICT_VALUES, ITER_DICT_ITEMS,
       ITER_ENUMERATE, ITER_ZIP, ITER_REVERSED, ITER_GETITEM };
tally_object *py_iter_wrap(int kind, tally_object *seq, int64_t start);   /* enumerate / zip / reversed */
extern const tally_type py_iter_type;

typedef struct { TALLY_OBJECT_HEAD; tally_object *start, *stop, *step; } py_slice;
extern const tally_type py_slice_type;
tally_object *py_slice_new(tally_object *start, tally_object *stop, tally_object *step);

/* A dict view (keys(), values(), items()): iterable, len, in */
typedef struct { TALLY_OBJECT_HEAD; tally_object *dict; int kind; } py_dictview;
extern const tally_type py_dictview_type;

/* code object: 32-bit instructions, opcode in the low 8 bits, argument above */
typedef struct {
    TALLY_OBJECT_HEAD;
    uint32_t *instrs;
    int32_t *lines;       /* source line of each instruction */
    size_t ninstrs;
    tally_object *consts; /* tuple */
    tally_object *names;  /* tuple of str (globals, attributes) */
    tally_object *varnames; /* tuple of str: arguments first, then locals, then hidden slots */
    tally_object *name;   /* str */
    tally_object *qualname; /* str: f, C.m, outer.<locals>.inner (argument errors, repr) */
    tally_object *filename; /* str */
    const char *source;   /* the whole source text (owned by the module's code, shared) */
    int nargs;            /* positional parameters */
    int nlocals;
    int stacksize;
    int firstline;
    uint32_t ncaches;
    struct py_cache *caches;  /* LOAD_GLOBAL inline caches */
    tally_object **constv;    /* borrowed views of consts' and names' items */
    tally_object **namev;
    bool is_module;
    bool is_generator;        /* a call makes a generator around its frame */
    int nkwonly;              /* keyword-only parameters, after the positional ones */
    int pflags;               /* PF_VARARGS / PF_VARKW: slots after them hold *args and **kwargs */
    int nfree;                /* free variables: their slots get the closure's cells at entry */
    int32_t *freeslots;
} py_code;
/* a LOAD_GLOBAL cache: two words, each (dict version << 24 | entry index), read and written
 * whole (relaxed atomics), so a thread never pairs one fill's version with another's index;
 * index PY_CACHE_NONE: the name is absent at that version */
typedef struct py_cache { uint64_t gtag, btag; } py_cache;
#define PY_CACHE_NONE 0xFFFFFFu
extern const tally_type py_code_type;

typedef struct {
    TALLY_OBJECT_HEAD;
    tally_object *code;      /* strong */
    tally_object *globals;   /* strong (dict) */
    tally_object *defaults;  /* strong tuple or NULL */
    tally_object *kwdefaults; /* strong dict or NULL (keyword-only defaults) */
    tally_object *name;      /* strong str */
    tally_object *owner;     /* strong: the class whose body defined it (zero-argument super()) */
    tally_object *closure;   /* strong tuple of cells, or NULL */
    bool abstract;           /* marked by abc.abstractmethod (__isabstractmethod__) */
} py_function;
/* a cell's ref is written with release stores (the old value released through
 * py_decref_delayed) and read with acquire loads */
typedef struct { TALLY_OBJECT_HEAD; tally_object *ref; } py_cell;
/* staticmethod(f) (kind 0) and classmethod(f) (kind 1) */
typedef struct { TALLY_OBJECT_HEAD; tally_object *func; int kind; } py_smethod;
extern const tally_type py_smethod_type;
extern const tally_type py_cell_type;
extern const tally_type py_function_type;

struct interp_state;
/* vectorcall-style: args[0..nargs) positional, then one value per name in kwnames (a tuple or
 * NULL).  Returns a new reference, or NULL with an exception set. */
typedef tally_object *(*py_cfunc)(tally_object *self, tally_object *const *args, size_t nargs,
                                  tally_object *kwnames);
typedef struct {
    TALLY_OBJECT_HEAD;
    const char *name;
    py_cfunc fn;
    tally_object *self;      /* strong or NULL: a bound built-in method */
    bool method;             /* unbound method: the first argument is self */
} py_builtin;
extern const tally_type py_builtin_type;
tally_object *py_builtin_new(const char *name, py_cfunc fn, tally_object *self);

typedef struct {
    TALLY_OBJECT_HEAD;
    tally_object *name;      /* str */
    tally_object *base;      /* class or NULL */
    tally_object *dict;      /* py_dict */
    bool is_exception;
    bool abc;                /* abc.ABC or a subclass (mod_abc.c) */
    bool is_abstract;        /* an ABC with unimplemented abstract methods: cannot be called */
    bool is_enum;            /* enum.Enum or a subclass (mod_enum.c) */
} py_class;
extern const tally_type py_class_type;
typedef struct {
    TALLY_OBJECT_HEAD;
    tally_object *cls;       /* strong */
    tally_object *dict;      /* strong py_dict */
    tally_object *args;      /* exceptions: the args tuple */
    tally_object *tb;        /* exceptions: list of (file, line, name) tuples, innermost last */
} py_instance;
extern const tally_type py_instance_type;

typedef struct { TALLY_OBJECT_HEAD; tally_object *cls; tally_object *self; tally_object *func; } py_method;
/* super(C, obj): attribute lookups start after C in obj's class chain */
typedef struct { TALLY_OBJECT_HEAD; tally_object *cls; tally_object *obj; } py_super;
extern const tally_type py_super_type;
extern tally_object *py_object_class;   /* the class `object` */
tally_object *py_class_lookup(tally_object *cls, tally_object *name);   /* borrowed or NULL */
tally_object *py_intern(const char *s);   /* a str kept for the whole run (borrowed) */
/* call obj's class attribute `name` with obj first; *found false when the class has none */
tally_object *py_call_dunder(tally_object *obj, const char *name, tally_object *const *args, size_t nargs, bool *found);
tally_object *eval_class_body(tally_object *func, tally_object *ns);
extern const tally_type py_method_type;

/* generator (obj_gen.c): owns its suspended frame until the frame returns or raises */
typedef struct {
    TALLY_OBJECT_HEAD;
    struct frame *frame;     /* owned; NULL once finished */
    tally_object *name, *qualname;   /* strong str */
    tally_object *retval;    /* strong: what `return v` gave, until next() raises StopIteration(v) */
    bool running, started;
} py_gen;
extern const tally_type py_gen_type;
tally_object *py_gen_new(struct frame *f, tally_object *name, tally_object *qualname);
void py_gen_frame_ended(tally_object *gen);
/* next value (new ref); NULL and no exception when exhausted */
tally_object *py_gen_next(tally_object *gen);
tally_object *py_gen_send(tally_object *self, tally_object *const *args, size_t nargs, tally_object *kwnames);
tally_object *py_gen_close(tally_object *self, tally_object *const *args, size_t nargs, tally_object *kwnames);
tally_object *py_gen_stop_iteration(tally_object *gen);   /* raise StopIteration(retval); NULL */

typedef struct { TALLY_OBJECT_HEAD; tally_object *name; tally_object *dict; } py_module;
extern const tally_type py_module_type;

typedef struct { TALLY_OBJECT_HEAD; FILE *fp; const char *name; } py_file;
extern const tally_type py_file_type;

/* ---- exceptions (errors.c) ----------------------------------------------------------------- */
extern tally_object *exc_BaseException, *exc_Exception, *exc_TypeError, *exc_ValueError,
    *exc_KeyError, *exc_IndexError, *exc_AttributeError, *exc_ZeroDivisionError,
    *exc_OverflowError, *exc_RecursionError, *exc_NameError, *exc_UnboundLocalError,
    *exc_RuntimeError, *exc_StopIteration, *exc_MemoryError, *exc_SystemExit,
    *exc_NotImplementedError, *exc_AssertionError, *exc_ImportError, *exc_ArithmeticError,
    *exc_LookupError, *exc_KeyboardInterrupt, *exc_ModuleNotFoundError, *exc_GeneratorExit,
    *exc_SyntaxError;
int errors_init(tally_object *builtins);
tally_object *py_err_occurred(void);               /* borrowed current exception or NULL */
void py_err_set_obj(tally_object *exc);            /* steals: an exception instance */
void py_err_set(tally_object *cls, const char *msg);
void py_err_format(tally_object *cls, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
tally_object *py_err_fetch(void);                  /* new reference, clears */
void py_err_clear(void);
tally_object *py_err_nomem(void);                  /* sets MemoryError, returns NULL */
bool py_exc_matches(tally_object *exc, tally_object *cls);   /* exc instance of cls */
bool py_class_is_subclass(tally_object *cls, tally_object *base);
tally_object *py_exc_new(tally_object *cls, tally_object *args);   /* args tuple borrowed */
void py_tb_add(tally_object *exc, tally_object *code, int line);
void py_print_exception(tally_object *exc, FILE *out);

/* ---- objects (obj_*.c) ---------------------------------------------------------------------- */
int objects_init(void);
const char *py_type_name(tally_object *o);
tally_object *py_float_new(double v);
static inline double py_float_value(tally_object *o) { return ((py_float *)o)->value; }
int py_truth(tally_object *o);           /* 1, 0, -1 error */
tally_object *py_repr(tally_object *o);  /* new str */
tally_object *py_str(tally_object *o);   /* new str */
int py_repr_to(sbuf *b, tally_object *o, int depth);
int py_str_to(sbuf *b, tally_object *o);
void py_float_repr(sbuf *b, double x);
tally_object *py_str_from(const char *s, size_t n);   /* new str from n bytes */
static inline size_t py_str_len(tally_object *s) { return __builtin_strlen(tally_str_value(s)); }
int64_t py_hash(tally_object *o, bool *err);
int py_eq(tally_object *a, tally_object *b);          /* 1, 0, -1 */
tally_object *py_compare(tally_object *a, tally_object *b, int op);   /* new ref */
int py_compare_bool(tally_object *a, tally_object *b, int op);       /* 1, 0, -1 */
tally_object *py_binary(int op, tally_object *a, tally_object *b);
tally_object *py_unary(int op, tally_object *a);
tally_object *py_getitem(tally_object *o, tally_object *key);
int py_setitem(tally_object *o, tally_object *key, tally_object *v);
int py_delitem(tally_object *o, tally_object *key);
int py_contains(tally_object *container, tally_object *item);        /* 1, 0, -1 */
tally_object *py_getiter(tally_object *o);
/* next item (new ref); NULL and no exception when exhausted */
tally_object *py_iternext(tally_object *it);
tally_object *py_getattr(tally_object *o, tally_object *name);
int py_setattr(tally_object *o, tally_object *name, tally_object *v);
int py_delattr(tally_object *o, tally_object *name);   /* del o.name: 0 / -1 */
/* method lookup for CALL: *self_out set to a new ref when the result wants self first */
tally_object *py_getmethod(tally_object *o, tally_object *name, bool *unbound);
int64_t py_len(tally_object *o);        /* -1 with an exception */
tally_object *py_int_checked(__int128 v); /* OverflowError beyond 64 bits */
tally_object *py_range_new(int64_t start, int64_t stop, int64_t step);
tally_object *py_tuple_pack(size_t n, tally_object *const *items);   /* new tuple or NULL+exc */
tally_object *py_class_new(const char *name, tally_object *base, bool is_exc);
tally_object *py_module_new(const char *name);
tally_object *py_format_value(tally_object *v, tally_object *spec);  /* f-string field */
tally_object *py_call(tally_object *callable, tally_object *const *args, size_t nargs, tally_object *kwnames);
tally_object *py_type_object(tally_object *o);   /* the class object for type(o), new ref */
tally_object *builtin_method_lookup(tally_object *o, tally_object *name);  /* unbound builtin or NULL */
int py_list_del_index(tally_object *l, size_t i);

/* ---- lexer, parser, AST (lexer.c, parser.c) ------------------------------------------------ */
enum tok_kind {
    T_EOF, T_NEWLINE, T_INDENT, T_DEDENT, T_NAME, T_INT, T_FLOAT, T_STRING, T_FSTRING, T_OP,
    T_ERROR
};
typedef struct token {
    int kind;
    int line, col;         /* 1-based */
    const char *start;     /* in the source */
    size_t len;
    char *sval;            /* T_STRING / T_FSTRING: decoded (malloc'd by the lexer's arena) */
    size_t slen;
    int64_t ival;
    double fval;
    int op;                /* T_OP: an OP_* code */
} token;

typedef struct arena arena;
typedef struct lexer {
    const char *src, *p, *line_start;
    const char *filename;
    int line;
    int indents[128];
    int nindents;
    int pending_dedents;
    int paren;             /* bracket nesting: newlines ignored inside */
    bool at_line_start;
    char errmsg[256];
    int errline, errcol;
    bool error;
    bool need_newline;     /* a token since the last NEWLINE: EOF emits one first */
    arena *ar;             /* decoded strings live here */
} lexer;
void lexer_init(lexer *lx, const char *src, const char *filename, arena *ar);
int lexer_next(lexer *lx, token *t);   /* 0, or -1 with errmsg set */

/* punctuation / operator codes */
enum {
    OPT_LPAR = 1, OPT_RPAR, OPT_LSQB, OPT_RSQB, OPT_LBRACE, OPT_RBRACE, OPT_COLON, OPT_COMMA,
    OPT_SEMI, OPT_DOT, OPT_ASSIGN, OPT_ARROW,
    OPT_PLUS, OPT_MINUS, OPT_STAR, OPT_SLASH, OPT_DSLASH, OPT_PERCENT, OPT_DSTAR, OPT_AT,
    OPT_LSHIFT, OPT_RSHIFT, OPT_AMP, OPT_PIPE, OPT_CARET, OPT_TILDE,
    OPT_LT, OPT_GT, OPT_LE, OPT_GE, OPT_EQ, OPT_NE,
    OPT_PLUSEQ, OPT_MINUSEQ, OPT_STAREQ, OPT_SLASHEQ, OPT_DSLASHEQ, OPT_PERCENTEQ, OPT_DSTAREQ,
    OPT_LSHIFTEQ, OPT_RSHIFTEQ, OPT_AMPEQ, OPT_PIPEEQ, OPT_CARETEQ, OPT_ATEQ, OPT_WALRUS
};

/* binary operators (BINARY_OP argument), shared by the compiler and the objects */
enum { BIN_ADD, BIN_SUB, BIN_MUL, BIN_TRUEDIV, BIN_FLOORDIV, BIN_MOD, BIN_POW, BIN_LSHIFT,
       BIN_RSHIFT, BIN_AND, BIN_OR, BIN_XOR, BIN_MATMUL, BIN_COUNT };
enum { UN_NEG, UN_POS, UN_INVERT, UN_NOT };
enum { CMP_LT, CMP_LE, CMP_EQ, CMP_NE, CMP_GT, CMP_GE };

typedef enum {
    /* expressions */
    N_NAME, N_CONST_INT, N_CONST_FLOAT, N_CONST_STR, N_CONST_TRUE, N_CONST_FALSE, N_CONST_NONE,
    N_FSTRING, N_BINOP, N_UNARY, N_BOOLOP, N_COMPARE, N_IFEXP, N_CALL, N_ATTR, N_SUBSCRIPT,
    N_SLICE, N_TUPLE, N_LIST, N_DICT, N_SET, N_LISTCOMP, N_LAMBDA, N_STARRED, N_KEYWORD, N_FIELD,
    N_SETCOMP, N_DICTCOMP, N_GENEXP, N_COMPFOR, N_YIELD,
    /* statements */
    N_EXPR_STMT, N_ASSIGN, N_AUGASSIGN, N_IF, N_WHILE, N_FOR, N_BREAK, N_CONTINUE, N_PASS,
    N_RETURN, N_DEF, N_GLOBAL, N_NONLOCAL, N_TRY, N_EXCEPT, N_RAISE, N_IMPORT, N_FROMIMPORT,
    N_CLASS, N_DEL, N_ASSERT, N_MODULE, N_WITH
} node_kind;

typedef struct node node;
typedef struct nodelist { node **v; int n, cap; } nodelist;
struct node {
    node_kind kind;
    int line, col;
    int op;               /* BIN_*, UN_*, CMP_*, boolop: 0 and / 1 or */
    node *a, *b, *c;      /* children; meaning depends on kind (parser.c says) */
    nodelist list;        /* items, args, body, targets, ... */
    nodelist list2;       /* keywords, orelse, handlers, comparators, ... */
    nodelist list3;       /* finally body */
    nodelist list4;       /* try: else body */
    int *ops;             /* N_COMPARE: the CMP_* (or IS/IN codes) of each comparator */
    char *str;            /* names, string constants (NUL-terminated; may hold bytes) */
    size_t slen;
    char **names;         /* N_DEF parameter names, N_GLOBAL names, N_FROMIMPORT names */
    char **names2;        /* N_FROMIMPORT / N_IMPORT: the 'as' names (NULL entries: none) */
    int nnames;
    int64_t ival;
    double fval;
    int nposargs, nkwonly;   /* N_DEF / N_LAMBDA: names = positional, keyword-only, *args, **kwargs */
    int pflags;              /* PF_VARARGS | PF_VARKW */
};
enum { PF_VARARGS = 1, PF_VARKW = 2 };
/* N_COMPARE ops beyond CMP_*: */
enum { CMPX_IS = 6, CMPX_IS_NOT, CMPX_IN, CMPX_NOT_IN };

typedef struct arena arena;
arena *arena_new(void);
void arena_free(arena *a);
void *arena_alloc(arena *a, size_t n);   /* zeroed; NULL when out of memory */

typedef struct parse_result {
    node *module;
    arena *arena;
    char errmsg[256];
    int errline, errcol;
} parse_result;
/* 0 ok; -1 syntax error (errmsg, errline, errcol); -2 out of memory */
int parse_module(const char *src, const char *filename, parse_result *out);
/* an f-string's expression: parsed on its own, positions shifted to (line, col) */
node *parse_fstring_expr(arena *ar, const char *src, size_t len, const char *filename, int line,
                         int col, char *errmsg, size_t errsize, int *errline, int *errcol);

/* ---- compiler (compiler.c) ------------------------------------------------------------------ */
/* new code object, or NULL: a syntax error (message in errmsg, position) or an exception set */
tally_object *compile_module(node *mod, const char *filename, const char *source, arena *ar,
                             char *errmsg, size_t errsize, int *errline, int *errcol);

/* ---- opcodes ------------------------------------------------------------------------------- */
#define PY_OPCODES(X) \
    X(NOP) X(POP_TOP) X(DUP_TOP) X(DUP_TOP_TWO) X(ROT_TWO) X(ROT_THREE) \
    X(LOAD_CONST) X(LOAD_FAST) X(STORE_FAST) X(DELETE_FAST) X(LOAD_GLOBAL) X(STORE_GLOBAL) \
    X(DELETE_GLOBAL) X(LOAD_ATTR) X(STORE_ATTR) X(LOAD_METHOD) X(CALL_METHOD) X(CALL) \
    X(CALL_KW) X(CALL_METHOD_KW) X(BINARY_OP) X(INPLACE_OP) X(UNARY_OP) X(COMPARE_OP) X(IS_OP) \
    X(CONTAINS_OP) X(JUMP) X(JUMP_BACK) X(POP_JUMP_IF_FALSE) X(POP_JUMP_IF_TRUE) \
    X(JUMP_IF_FALSE_OR_POP) X(JUMP_IF_TRUE_OR_POP) X(GET_ITER) X(FOR_ITER) X(BUILD_TUPLE) \
    X(BUILD_LIST) X(BUILD_DICT) X(BUILD_SLICE) X(BINARY_SUBSCR) X(STORE_SUBSCR) \
    X(DELETE_SUBSCR) X(UNPACK_SEQUENCE) X(MAKE_FUNCTION) X(RETURN_VALUE) X(SETUP_EXCEPT) \
    X(POP_BLOCK) X(RAISE) X(RERAISE) X(CHECK_EXC_MATCH) X(FORMAT_VALUE) X(BUILD_STRING) \
    X(IMPORT_NAME) X(LIST_APPEND) X(LOAD_BUILD_CLASS) X(STORE_NAME_CLASS) X(LOAD_NAME_CLASS) \
    X(ASSERT_FAIL) X(SETUP_ANNOTATIONS) X(LOAD_OWNER_CLASS) \
    X(MAKE_CELL) X(LOAD_DEREF) X(STORE_DEREF) X(LOAD_CLOSURE) \
    X(LIST_EXTEND) X(LIST_TO_TUPLE) X(DICT_SET) X(DICT_MERGE) X(CALL_FUNCTION_EX) \
    X(BEFORE_WITH) X(WITH_EXIT_EXC) X(BUILD_SET) X(YIELD_VALUE) X(SET_ADD) X(IMPORT_FROM) \
    X(DELETE_ATTR)
#define PY_OP_ENUM(n) OP_##n,
enum { PY_OPCODES(PY_OP_ENUM) OP__COUNT };
#undef PY_OP_ENUM
#define INSTR(op, arg) ((uint32_t)(op) | ((uint32_t)(arg) << 8))

/* ---- evaluation (eval.c) ------------------------------------------------------------------- */
typedef struct interp_state {
    tally_object *exc;          /* current exception (strong) or NULL */
    int depth;                  /* Python frames */
    int recursion_limit;
    tally_object *builtins;     /* dict */
    tally_object *sys_module;
    tally_object *modules;      /* dict: name -> module */
    tally_object *main_globals;
    char *stack_base;           /* the main thread's C stack, near its top */
    size_t stack_budget;        /* how much of it nested evaluations may use */
    char *script_dir;           /* the main script's directory (absolute): imports look there first */
    bool finalizing;            /* shutting down: builtins are gone, finalizers run no code */
} interp_state;
/* Each thread has its own interp_state: exc, depth and the C stack fields are the thread's;
 * builtins, sys_module, modules, main_globals and script_dir are copied from the main thread's
 * when a thread starts and never change after start-up. */
extern _Thread_local interp_state *I;
extern interp_state *py_main_state;
void eval_thread_fini(void);   /* free the calling thread's frame stack */
tally_object *eval_code(tally_object *code, tally_object *globals);
/* generator frames (eval.c): a suspended frame is resumed with the value its yield evaluates to
 * (stolen; NULL on the first start) or with the current exception thrown in at the yield;
 * returns what it yields or returns (the generator learns which through py_gen_frame_ended) */
struct frame;
tally_object *eval_resume(struct frame *f, tally_object *sent, bool throwing);
int eval_frame_traverse(struct frame *f, tally_visitproc visit, void *arg);
void eval_frame_release(struct frame *f);   /* drop every reference it holds and free it */
bool eval_frame_in_try(struct frame *f);    /* suspended inside try/with: closing it runs code */
/* true, with RecursionError set, when the C stack is nearly used up (recursive C paths poll it) */
bool py_c_stack_exhausted(void);
/* call a Python function object (runs a nested evaluation loop) */
tally_object *eval_call_function(tally_object *func, tally_object *const *args, size_t nargs,
                                 tally_object *kwnames);

/* ---- builtins (builtins.c) ---------------------------------------------------------------- */
int builtins_init(tally_object *builtins, int argc, char **argv);
extern tally_object *py_stdout, *py_stderr;
void py_flush_stdout(void);

/* ---- modules (modules.c, mod_*.c) ---------------------------------------------------------- */
int modules_init(tally_object *builtins);
void modules_fini(void);   /* after tally_fini: the imported sources */
tally_object *py_import(tally_object *name, bool leaf);   /* new ref or NULL */
tally_object *py_import_from(tally_object *module, tally_object *name);
int py_add_fn(tally_object *dict, const char *name, py_cfunc fn);
int py_add_value(tally_object *dict, const char *name, tally_object *v);   /* steals v; NULL: -1 */
int py_arg_count(const char *fname, size_t nargs, tally_object *kwnames, size_t lo, size_t hi);
int py_arg_double(tally_object *o, double *out);
/* exactly n real-number arguments, as doubles */
int py_args_doubles(const char *fname, tally_object *const *args, size_t nargs, tally_object *kwnames, double *out,
                    size_t n);
int py_arg_int(tally_object *o, int64_t *out);
int mod_math_init(tally_object *dict);
int mod_time_init(tally_object *dict);
int mod_random_init(tally_object *dict);
int mod_gc_init(tally_object *dict);
int mod_threading_init(tally_object *dict);
int mod_abc_init(tally_object *dict);
int mod_enum_init(tally_object *dict);
/* what ABCMeta and EnumMeta do when a class is created, called by the class statement once the
 * class exists (0, or -1 with an exception set) */
int py_abc_class_created(tally_object *cls);
int py_enum_class_created(tally_object *cls);
tally_object *py_abc_instantiate_error(tally_object *cls);    /* raises TypeError; NULL */
tally_object *py_enum_call(tally_object *cls, tally_object *const *args, size_t nargs, tally_object *kwnames);
tally_object *py_enum_members(tally_object *cls);             /* new list of the members */
int mod_thread_init(tally_object *dict);
/* run Python source (a built-in module written in Python) in dict; 0 / -1 */
int py_exec_source(tally_object *dict, const char *src, const char *filename);
/* threading (mod_threading.c) */
extern const tally_type py_lock_type, py_local_type, py_thandle_type;
tally_object *threading_method_lookup(tally_object *o, tally_object *name);   /* borrowed or NULL */
tally_object *py_local_getattr(tally_object *o, tally_object *name);          /* new ref or NULL */
int py_local_setattr(tally_object *o, tally_object *name, tally_object *v);   /* v NULL: delete */
void threading_wait_all(void);   /* at exit: wait for the non-daemon threads */
int threading_running(void);     /* threads still running (daemons, after threading_wait_all) */

/* CPython's limit on nested brackets in the parser and repr recursion */
#define PY_MAX_NEST 200

#endif
