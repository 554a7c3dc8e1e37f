/* interp/modules.c - import: user modules, packages and the built-in modules.
 *
 * Owns: `import m`, `import p.m`, `from m import a`, `__import__`; the search (the main script's
 * directory first: m.py, then m/__init__.py, a package; then the built-in modules, so a user
 * module shadows a built-in one); running a user module's code in its own globals, registered
 * in sys.modules before it runs (circular imports see the partial module) and removed when it
 * fails; the source texts of imported modules (tracebacks print their lines), freed at exit;
 * and the helpers the built-in modules (mod_*.c) share to fill their dicts.
 */
#include "interp.h"

#include <pthread.h>

#include <stdlib.h>
#include <string.h>

typedef struct src_node { struct src_node *next; char *text; } src_node;
static src_node *sources;   /* every imported module's source, kept for tracebacks */

static const struct { const char *name; int (*init)(tally_object *dict); } builtin_modules[] = {
    { "math", mod_math_init }, { "time", mod_time_init }, { "random", mod_random_init }, { "gc", mod_gc_init },
    { "threading", mod_threading_init }, { "abc", mod_abc_init }, { "enum", mod_enum_init },
};

int py_add_fn(tally_object *dict, const char *name, py_cfunc fn)
{
    tally_object *b = py_builtin_new(name, fn, NULL);
    if (!b) return -1;
    int r = py_dict_setstr(dict, name, b);
    tally_decref(b);
    return r;
}

int py_add_value(tally_object *dict, const char *name, tally_object *v)
{
    if (!v) return -1;
    int r = py_dict_setstr(dict, name, v);
    tally_decref(v);
    return r;
}

int py_arg_count(const char *fname, size_t nargs, tally_object *kwnames, size_t lo, size_t hi)
{
    if (kwnames && tally_tuple_len(kwnames)) {
        py_err_format(exc_TypeError, "%s() takes no keyword arguments", fname);
        return -1;
    }
    if (nargs >= lo && nargs <= hi) return 0;
    if (lo == hi)
        py_err_format(exc_TypeError, "%s() takes exactly %zu argument%s (%zu given)", fname, lo, lo == 1 ? "" : "s", nargs);
    else if (nargs < lo)
        py_err_format(exc_TypeError, "%s expected at least %zu argument%s, got %zu", fname, lo, lo == 1 ? "" : "s", nargs);
    else
        py_err_format(exc_TypeError, "%s expected at most %zu argument%s, got %zu", fname, hi, hi == 1 ? "" : "s", nargs);
    return -1;
}

int py_arg_double(tally_object *o, double *out)
{
    if (IS_FLOAT(o)) *out = py_float_value(o);
    else if (IS_INT(o)) *out = (double)tally_int_value(o);
    else if (IS_BOOL(o)) *out = (double)((py_boolobj *)o)->value;
    else {
        py_err_format(exc_TypeError, "must be real number, not %s", py_type_name(o));
        return -1;
    }
    return 0;
}

int py_args_doubles(const char *fname, tally_object *const *args, size_t nargs, tally_object *kwnames, double *out,
                    size_t n)
{
    if (py_arg_count(fname, nargs, kwnames, n, n) < 0) return -1;
    for (size_t i = 0; i < n; i++)
        if (py_arg_double(args[i], &out[i]) < 0) return -1;
    return 0;
}

int py_arg_int(tally_object *o, int64_t *out)
{
    if (IS_INT(o)) *out = tally_int_value(o);
    else if (IS_BOOL(o)) *out = ((py_boolobj *)o)->value;
    else {
        py_err_format(exc_TypeError, "'%s' object cannot be interpreted as an integer", py_type_name(o));
        return -1;
    }
    return 0;
}

static char *read_source(const char *path)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) return NULL;
    sbuf b;
    sb_init(&b);
    char chunk[8192];
    size_t got;
    while ((got = fread(chunk, 1, sizeof chunk, fp)) > 0) sb_putn(&b, chunk, got);
    fclose(fp);
    if (b.oom) {
        sb_free(&b);
        return NULL;
    }
    sb_cstr(&b);
    return b.data ? b.data : calloc(1, 1);
}

/* Parse and compile a module's source (kept alive by the caller: tracebacks quote it).  The code
 * object, or NULL with SyntaxError (file:line:col) or MemoryError set. */
static tally_object *compile_source(const char *src, const char *filename)
{
    parse_result pr;
    int st = parse_module(src, filename, &pr);
    if (st != 0) {
        if (st == -2) py_err_nomem();
        else py_err_format(exc_SyntaxError, "%s:%d:%d: %s", filename, pr.errline, pr.errcol, pr.errmsg);
        arena_free(pr.arena);
        return NULL;
    }
    char errmsg[256];
    int errline = 0, errcol = 0;
    tally_object *code = compile_module(pr.module, filename, src, pr.arena, errmsg, sizeof errmsg, &errline, &errcol);
    arena_free(pr.arena);
    if (!code && errmsg[0]) py_err_format(exc_SyntaxError, "%s:%d:%d: %s", filename, errline, errcol, errmsg);
    return code;
}

int py_exec_source(tally_object *dict, const char *src, const char *filename)
{
    tally_object *code = compile_source(src, filename);
    if (!code) return -1;
    tally_object *r = eval_code(code, dict);
    tally_decref(code);
    if (!r) return -1;
    tally_decref(r);
    return 0;
}

/* Run the source at path as module `name` (registered before it runs).  New ref or NULL. */
static tally_object *exec_user_module(tally_object *name, const char *path)
{
    char *src = read_source(path);
    if (!src) return py_err_nomem();
    src_node *sn = malloc(sizeof *sn);
    if (!sn) {
        free(src);
        return py_err_nomem();
    }
    sn->text = src;
    sn->next = sources;
    sources = sn;
    tally_object *code = compile_source(src, path);
    if (!code) return NULL;
    tally_object *m = py_module_new(tally_str_value(name));
    if (!m) {
        tally_decref(code);
        return NULL;
    }
    tally_object *d = ((py_module *)m)->dict;
    if (py_dict_setstr(d, "__name__", name) < 0 || py_add_value(d, "__file__", tally_str_new(path)) < 0 ||
        py_dict_set(I->modules, name, m) < 0) {
        tally_decref(code);
        tally_decref(m);
        return NULL;
    }
    tally_object *r = eval_code(code, d);
    tally_decref(code);
    if (!r) {
        tally_object *e = py_err_fetch();
        py_dict_del(I->modules, name);
        py_err_set_obj(e);
        tally_decref(m);
        return NULL;
    }
    tally_decref(r);
    return m;
}

/* Find and load the module with this full (dotted) name, its parent already imported. */
static tally_object *load_module(tally_object *name)
{
    const char *n = tally_str_value(name);
    sbuf rel;
    sb_init(&rel);
    for (const char *p = n; *p; p++) sb_putc(&rel, *p == '.' ? '/' : *p);
    if (I->script_dir && !rel.oom) {
        sbuf path;
        sb_init(&path);
        sb_printf(&path, "%s/%s.py", I->script_dir, sb_cstr(&rel));
        FILE *fp = path.oom ? NULL : fopen(sb_cstr(&path), "rb");
        if (!fp) {
            path.len = 0;
            sb_printf(&path, "%s/%s/__init__.py", I->script_dir, sb_cstr(&rel));
            fp = path.oom ? NULL : fopen(sb_cstr(&path), "rb");
        }
        if (fp) {
            fclose(fp);
            tally_object *m = exec_user_module(name, sb_cstr(&path));
            sb_free(&path);
            sb_free(&rel);
            return m;
        }
        sb_free(&path);
    }
    sb_free(&rel);
    for (size_t i = 0; i < sizeof builtin_modules / sizeof builtin_modules[0]; i++) {
        if (strcmp(builtin_modules[i].name, n) != 0) continue;
        tally_object *m = py_module_new(n);
        if (!m) return NULL;
        if (builtin_modules[i].init(((py_module *)m)->dict) < 0 || py_dict_set(I->modules, name, m) < 0) {
            if (!py_err_occurred()) py_err_nomem();
            tally_decref(m);
            return NULL;
        }
        return m;
    }
    py_err_format(exc_ModuleNotFoundError, "No module named '%s'", n);
    return NULL;
}

/* The module `name` (dotted: each package first, each submodule an attribute of its package).
 * leaf: return the named module itself, else the top-level package (what `import a.b` binds). */
/* The import lock: a thread that finds a module missing from sys.modules loads it holding this
 * lock (one for the process; CPython has one per module), so two threads never run one module
 * twice and none sees another's partial module except through a circular import of its own.
 * Re-entrant (a module importing others); waited for detached.  imp_mu is a leaf. */
static pthread_mutex_t imp_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t imp_cv = PTHREAD_COND_INITIALIZER;
static int64_t imp_owner;
static int imp_depth;

static void import_lock(void)
{
    int64_t me = py_thread_serial;
    pthread_mutex_lock(&imp_mu);
    bool got = imp_depth == 0 || imp_owner == me;
    if (got) {
        imp_owner = me;
        imp_depth++;
    }
    pthread_mutex_unlock(&imp_mu);
    if (got) return;
    PY_BEGIN_BLOCKING
    pthread_mutex_lock(&imp_mu);
    while (imp_depth) pthread_cond_wait(&imp_cv, &imp_mu);
    imp_owner = me;
    imp_depth = 1;
    pthread_mutex_unlock(&imp_mu);
    PY_END_BLOCKING
}

static void import_unlock(void)
{
    pthread_mutex_lock(&imp_mu);
    if (--imp_depth == 0) {
        imp_owner = 0;
        pthread_cond_broadcast(&imp_cv);
    }
    pthread_mutex_unlock(&imp_mu);
}

tally_object *py_import(tally_object *name, bool leaf)
{
    const char *n = tally_str_value(name);
    tally_object *top = NULL, *cur = NULL;
    const char *p = n;
    for (;;) {
        const char *dot = strchr(p, '.');
        size_t plen = dot ? (size_t)(dot - n) : strlen(n);
        tally_object *sub = py_str_from(n, plen);
        if (!sub) goto fail;
        bool err = false;
        tally_object *m = py_dict_lookup(I->modules, sub, &err);
        if (m) {
            tally_incref(m);
        } else if (!err) {
            import_lock();
            m = py_dict_lookup(I->modules, sub, &err);   /* loaded while this thread waited? */
            if (m) tally_incref(m);
            else if (!err) m = load_module(sub);
            import_unlock();
        }
        if (m && cur && TYPE(cur) == &py_module_type) {
            /* a submodule is an attribute of its package */
            tally_object *attr = py_str_from(p, dot ? (size_t)(dot - p) : strlen(p));
            if (!attr || py_dict_set(((py_module *)cur)->dict, attr, m) < 0) {
                tally_decref(m);
                m = NULL;
            }
            tally_xdecref(attr);
        }
        tally_decref(sub);
        if (!m) goto fail;
        if (!top) top = tally_newref(m);
        tally_xdecref(cur);
        cur = m;
        if (!dot) break;
        p = dot + 1;
    }
    if (leaf) {
        tally_decref(top);
        return cur;
    }
    tally_decref(cur);
    return top;
fail:
    tally_xdecref(top);
    tally_xdecref(cur);
    return NULL;
}

/* from m import name: the attribute, or the submodule m.name of a package (new ref) */
tally_object *py_import_from(tally_object *module, tally_object *name)
{
    if (TYPE(module) == &py_module_type) {
        tally_object *v = py_dict_lookup(((py_module *)module)->dict, name, &(bool){ false });
        if (v) return tally_newref(v);
        sbuf full;
        sb_init(&full);
        sb_printf(&full, "%s.%s", tally_str_value(((py_module *)module)->name), tally_str_value(name));
        tally_object *fname = full.oom ? NULL : tally_str_new(sb_cstr(&full));
        sb_free(&full);
        if (!fname) return py_err_nomem();
        tally_object *m = py_import(fname, true);
        tally_decref(fname);
        if (m) return m;
        if (!py_exc_matches(py_err_occurred(), exc_ModuleNotFoundError)) return NULL;
        py_err_clear();
        tally_object *file = py_dict_getstr(((py_module *)module)->dict, "__file__");
        py_err_format(exc_ImportError, "cannot import name '%s' from '%s' (%s)", tally_str_value(name),
                      tally_str_value(((py_module *)module)->name),
                      file && IS_STR(file) ? tally_str_value(file) : "unknown location");
        return NULL;
    }
    return py_getattr(module, name);
}

static tally_object *bi_import(tally_object *self, tally_object *const *args, size_t nargs, tally_object *kwnames)
{
    (void)self;
    if (py_arg_count("__import__", nargs, kwnames, 1, 1) < 0) return NULL;
    if (!IS_STR(args[0])) {
        py_err_format(exc_TypeError, "__import__() argument 1 must be str, not %s", py_type_name(args[0]));
        return NULL;
    }
    return py_import(args[0], false);
}

int modules_init(tally_object *builtins)
{
    return py_add_fn(builtins, "__import__", bi_import);
}

void modules_fini(void)
{
    while (sources) {
        src_node *n = sources;
        sources = n->next;
        free(n->text);
        free(n);
    }
}
