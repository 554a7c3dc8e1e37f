/* interp/mod_gc.c - the built-in module `gc`, on Tally's public collector API (tally/gc.h).
 *
 * Owns: collect enable disable isenabled freeze unfreeze get_freeze_count get_count
 * get_threshold set_threshold and garbage (the collector's own list, the same object for the
 * whole run, as CPython's gc.garbage).  Counts are Tally's: what gc.collect() returns counts
 * Tally objects, so a program should not expect CPython's exact numbers.
 */
#include "interp.h"

static tally_object *int_triple(const int v[3])
{
    tally_object *items[3];
    for (int i = 0; i < 3; i++) items[i] = tally_int_new(v[i]);
    tally_object *t = items[0] && items[1] && items[2] ? py_tuple_pack(3, items) : py_err_nomem();
    for (int i = 0; i < 3; i++) tally_xdecref(items[i]);
    return t;
}

static tally_object *gc_collect(tally_object *self, tally_object *const *args, size_t nargs, tally_object *kwnames)
{
    (void)self;
    int64_t gen = 2;
    if (py_arg_count("collect", nargs, kwnames, 0, 1) < 0) return NULL;
    if (nargs == 1 && py_arg_int(args[0], &gen) < 0) return NULL;
    if (gen < 0 || gen > 2) {
        py_err_set(exc_ValueError, "invalid generation");
        return NULL;
    }
    py_flush_stdout();
    intptr_t n = tally_gc_collect((int)gen);
    if (py_err_occurred()) return NULL;
    return py_int_checked(n < 0 ? 0 : n);
}

/* the functions of no arguments that only switch the collector (they return None) */
#define GC_ACTION(pyname, call) \
    static tally_object *gc_##pyname(tally_object *self, tally_object *const *args, size_t nargs, tally_object *kwnames) \
    { \
        (void)self; (void)args; \
        if (py_arg_count(#pyname, nargs, kwnames, 0, 0) < 0) return NULL; \
        call; \
        return tally_newref(py_None); \
    }
GC_ACTION(enable, tally_gc_enable())
GC_ACTION(disable, tally_gc_disable())
GC_ACTION(freeze, tally_gc_freeze())
GC_ACTION(unfreeze, tally_gc_unfreeze())

static tally_object *gc_isenabled(tally_object *self, tally_object *const *args, size_t nargs, tally_object *kwnames)
{
    (void)self; (void)args;
    if (py_arg_count("isenabled", nargs, kwnames, 0, 0) < 0) return NULL;
    return tally_newref(py_bool(tally_gc_is_enabled()));
}

static tally_object *gc_get_freeze_count(tally_object *self, tally_object *const *args, size_t nargs, tally_object *kwnames)
{
    (void)self; (void)args;
    if (py_arg_count("get_freeze_count", nargs, kwnames, 0, 0) < 0) return NULL;
    return py_int_checked((__int128)tally_gc_get_freeze_count());
}

/* get_count() / get_threshold(): the collector's three numbers as a tuple */
static tally_object *gc_triple(const char *name, void (*get)(int out[3]), size_t nargs, tally_object *kwnames)
{
    if (py_arg_count(name, nargs, kwnames, 0, 0) < 0) return NULL;
    int v[3];
    get(v);
    return int_triple(v);
}

static tally_object *gc_get_count(tally_object *self, tally_object *const *args, size_t nargs, tally_object *kwnames)
{
    (void)self; (void)args;
    return gc_triple("get_count", tally_gc_get_count, nargs, kwnames);
}

static tally_object *gc_get_threshold(tally_object *self, tally_object *const *args, size_t nargs, tally_object *kwnames)
{
    (void)self; (void)args;
    return gc_triple("get_threshold", tally_gc_get_threshold, nargs, kwnames);
}

static tally_object *gc_set_threshold(tally_object *self, tally_object *const *args, size_t nargs, tally_object *kwnames)
{
    (void)self;
    if (py_arg_count("set_threshold", nargs, kwnames, 1, 3) < 0) return NULL;
    int cur[3];
    tally_gc_get_threshold(cur);
    for (size_t i = 0; i < nargs; i++) {
        int64_t v;
        if (py_arg_int(args[i], &v) < 0) return NULL;
        if (v < 0 || v > 0x7FFFFFFF) {
            py_err_set(exc_ValueError, "threshold out of range");
            return NULL;
        }
        cur[i] = (int)v;
    }
    tally_gc_set_threshold(cur[0], cur[1], cur[2]);
    return tally_newref(py_None);
}

int mod_gc_init(tally_object *d)
{
    static const struct { const char *name; py_cfunc fn; } fns[] = {
        { "collect", gc_collect }, { "enable", gc_enable }, { "disable", gc_disable },
        { "isenabled", gc_isenabled }, { "freeze", gc_freeze }, { "unfreeze", gc_unfreeze },
        { "get_freeze_count", gc_get_freeze_count }, { "get_count", gc_get_count },
        { "get_threshold", gc_get_threshold }, { "set_threshold", gc_set_threshold },
    };
    for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++)
        if (py_add_fn(d, fns[i].name, fns[i].fn) < 0) return -1;
    tally_object *garbage = tally_gc_garbage();   /* borrowed: the collector keeps it */
    if (!garbage) {
        py_err_nomem();
        return -1;
    }
    return py_dict_setstr(d, "garbage", garbage);
}
