/* interp/builtins.c - the built-in functions, the methods of the built-in types, and `sys`.
 *
 * Owns: print (sep=, end=, file=, flush=), len, range, str, repr, int, float, bool, abs, min,
 * max (key=, default=), sum, list, tuple, dict, isinstance, type, sorted; the methods of list
 * (append pop insert remove extend index count reverse copy clear sort), dict (get keys values
 * items pop setdefault update copy clear) and str (join split strip lstrip rstrip lower upper
 * startswith endswith replace find count isdigit isalpha isspace splitlines); the sys module
 * (argv exit stdout stderr setrecursionlimit getrecursionlimit modules); stdout buffering.
 * Every function follows py_cfunc: borrowed arguments, a new reference or NULL with an
 * exception set.
 */
#include "interp.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

tally_object *py_stdout, *py_stderr;
static tally_object *list_methods, *dict_methods, *str_methods, *set_methods, *gen_methods;
static tally_object *bi_set_obj;
static tally_object *bi_int_obj, *bi_float_obj, *bi_str_obj, *bi_list_obj, *bi_tuple_obj, *bi_dict_obj,
    *bi_bool_obj, *bi_range_obj, *none_type_obj;

void py_flush_stdout(void) { fflush(stdout); }

/* ---- argument helpers ---------------------------------------------------------------------- */
static tally_object *kwarg(tally_object *kwnames, tally_object *const *kwvalues, const char *name)
{
    if (!kwnames) return NULL;
    size_t n = tally_tuple_len(kwnames);
    for (size_t i = 0; i < n; i++)
        if (strcmp(tally_str_value(tally_tuple_get(kwnames, i)), name) == 0)
            return kwvalues[i];
    return NULL;
}

static int check_kw(const char *fname, tally_object *kwnames, const char *const *allowed)
{
    if (!kwnames) return 0;
    size_t n = tally_tuple_len(kwnames);
    for (size_t i = 0; i < n; i++) {
        const char *k = tally_str_value(tally_tuple_get(kwnames, i));
        bool ok = false;
        for (const char *const *a = allowed; a && *a; a++)
            if (strcmp(*a, k) == 0) ok = true;
        if (!ok) {
            if (!allowed || !allowed[0])
                py_err_format(exc_TypeError, "%s() takes no keyword arguments", fname);
            else
                py_err_format(exc_TypeError, "'%s' is an invalid keyword argument for %s()", k, fname);
            return -1;
        }
    }
    return 0;
}

static int nargs_check(const char *fname, size_t nargs, size_t lo, size_t hi)
{
    if (nargs >= lo && nargs <= hi) return 0;
    if (lo == hi)
        py_err_format(exc_TypeError, "%s() takes exactly %s (%zu given)", fname,
                      lo == 0 ? "no arguments" : lo == 1 ? "one argument" : "two arguments", nargs);
    else if (nargs < lo)
        py_err_format(exc_TypeError, "%s expected at least %zu argument%s, got %zu", fname, lo, lo == 1 ? "" : "s", nargs);
    else
        py_err_format(exc_TypeError, "%s expected at most %zu argument%s, got %zu", fname, hi, hi == 1 ? "" : "s", nargs);
    return -1;
}

static bool get_int(tally_object *o, int64_t *v)
{
    if (IS_INT(o)) { *v = tally_int_value(o); return true; }
    if (IS_BOOL(o)) { *v = ((py_boolobj *)o)->value; return true; }
    return false;
}

static int need_int(tally_object *o, int64_t *v)
{
    if (get_int(o, v)) return 0;
    py_err_format(exc_TypeError, "'%s' object cannot be interpreted as an integer", py_type_name(o));
    return -1;
}

/* ---- output ------------------------------------------------------------------------------- */
static int file_write(tally_object *file, const char *s)
{
    if (TYPE(file) != &py_file_type) {
        py_err_format(exc_AttributeError, "'%s' object has no attribute 'write'", py_type_name(file));
        return -1;
    }
    FILE *fp = ((py_file *)file)->fp;
    if (fp == stderr) fflush(stdout);
    fputs(s, fp);
    return 0;
}

static tally_object *bi_print(tally_object *self, tally_object *const *args, size_t nargs, tally_object *kwnames)
{
    static const char *const kws[] = { "sep", "end", "file", "flush", NULL };
    if (check_kw("print", kwnames, kws) < 0) return NULL;
    tally_object *sep = kwarg(kwnames, args + nargs, "sep"), *end = kwarg(kwnames, args + nargs, "end");
    tally_object *file = kwarg(kwnames, args + nargs, "file"), *flush = kwarg(kwnames, args + nargs, "flush");
    if (sep == py_None) sep = NULL;
    if (end == py_None) end = NULL;
    if (file == py_None) file = NULL;
    if ((sep && !IS_STR(sep)) || (end && !IS_STR(end))) {
        py_err_format(exc_TypeError, "%s must be None or a string, not %s", sep && !IS_STR(sep) ? "sep" : "end",
                      py_type_name(sep && !IS_STR(sep) ? sep : end));
        return NULL;
    }
    if (!file) file = py_stdout;
    sbuf b;
    sb_init(&b);
    for (size_t i = 0; i < nargs; i++) {
        if (i) sb_puts(&b, sep ? tally_str_value(sep) : " ");
        if (py_str_to(&b, args[i]) < 0) {
            sb_free(&b);
            return NULL;
        }
    }
    sb_puts(&b, end ? tally_str_value(end) : "\n");
    if (b.oom) {
        sb_free(&b);
        return py_err_nomem();
    }
    int r = file_write(file, sb_cstr(&b));
    sb_free(&b);
    if (r < 0) return NULL;
    if (flush && py_truth(flush) > 0 && TYPE(file) == &py_file_type) fflush(((py_file *)file)->fp);
    return py_None;
}

/* ---- conversions --------------------------------------------------------------------------- */
static tally_object *parse_int(const char *s0, int base, tally_object *orig)
{
    const char *s = s0;
    while (isspace((unsigned char)*s)) s++;
    bool neg = false;
    if (*s == '+' || *s == '-') neg = *s++ == '-';
    if (base == 0 || base == 16 || base == 8 || base == 2) {
        if (s[0] == '0' && (s[1] | 32) == 'x' && (base == 0 || base == 16)) { base = 16; s += 2; }
        else if (s[0] == '0' && (s[1] | 32) == 'o' && (base == 0 || base == 8)) { base = 8; s += 2; }
        else if (s[0] == '0' && (s[1] | 32) == 'b' && (base == 0 || base == 2)) { base = 2; s += 2; }
        else if (base == 0) base = 10;
    }
    uint64_t v = 0;
    bool any = false, overflow = false;
    for (; *s; s++) {
        if (*s == '_' && any && s[1] && s[1] != '_') continue;
        int d;
        if (*s >= '0' && *s <= '9') d = *s - '0';
        else if (isalpha((unsigned char)*s)) d = (*s | 32) - 'a' + 10;
        else break;
        if (d >= base) break;
        if (v > (UINT64_MAX - (uint64_t)d) / (uint64_t)base) overflow = true;
        else v = v * (uint64_t)base + (uint64_t)d;
        any = true;
    }
    while (isspace((unsigned char)*s)) s++;
    if (!any || *s) {
        sbuf b;
        sb_init(&b);
        py_repr_to(&b, orig, 0);
        py_err_format(exc_ValueError, "invalid literal for int() with base %d: %s", base, sb_cstr(&b));
        sb_free(&b);
        return NULL;
    }
    if (overflow || v > (uint64_t)INT64_MAX + (neg ? 1 : 0))
        return py_int_checked((__int128)INT64_MAX + 1);
    return py_int_checked(neg ? -(__int128)v : (__int128)v);
}

static tally_object *bi_int(tally_object *self, tally_object *const *args, size_t nargs, tally_object *kwnames)
{
    static const char *const kws[] = { "base", NULL };
    if (check_kw("int", kwnames, kws) < 0) return NULL;
    tally_object *basearg = nargs > 1 ? args[1] : kwarg(kwnames, args + nargs, "base");
    if (nargs > 2) return nargs_check("int", nargs, 0, 2), NULL;
    if (nargs == 0) return tally_int_new(0);
    tally_object *x = args[0];
    int64_t v;
    if (basearg) {
        int64_t base;
        if (need_int(basearg, &base) < 0) return NULL;
        if (!IS_STR(x)) {
            py_err_set(exc_TypeError, "int() can't convert non-string with explicit base");
            return NULL;
        }
        if (base != 0 && (base < 2 || base > 36)) {
            py_err_set(exc_ValueError, "int() base must be >= 2 and <= 36, or 0");
            return NULL;
        }
        return parse_int(tally_str_value(x), (int)base, x);
    }
    if (get_int(x, &v)) return py_int_checked(v);
    if (IS_FLOAT(x)) {
        double d = py_float_value(x);
        if (isnan(d)) { py_err_set(exc_ValueError, "cannot convert float NaN to integer"); return NULL; }
        if (isinf(d)) { py_err_set(exc_OverflowError, "cannot convert float infinity to integer"); return NULL; }
        d = trunc(d);
        if (d >= 9223372036854775808.0 || d < -9223372036854775808.0) return py_int_checked((__int128)INT64_MAX + 1);
        return py_int_checked((int64_t)d);
    }
    if (IS_STR(x)) return parse_int(tally_str_value(x), 10, x);
    py_err_format(exc_TypeError, "int() argument must be a string, a bytes-like object or a real number, not '%s'",
                  py_type_name(x));
    return NULL;
}

static tally_object *bi_float(tally_object *self, tally_object *const *args, size_t nargs, tally_object *kwnames)
{
    if (check_kw("float", kwnames, NULL) < 0 || nargs_check("float", nargs, 0, 1) < 0) return NULL;
    if (nargs == 0) return py_float_new(0.0);
    tally_object *x = args[0];
    int64_t v;
    if (IS_FLOAT(x)) return tally_newref(x);
    if (get_int(x, &v)) return py_float_new((double)v);
    if (IS_STR(x)) {
        const char *s = tally_str_value(x);
        while (isspace((unsigned char)*s)) s++;
        char buf[128];
        size_t k = 0;
        for (const char *p = s; *p && k < sizeof buf - 1; p++)
            if (*p != '_') buf[k++] = *p;
        while (k && isspace((unsigned char)buf[k - 1])) k--;
        buf[k] = 0;
        const char *t = buf;
        bool neg = false;
        if (*t == '+' || *t == '-') neg = *t++ == '-';
        if (strcasecmp(t, "inf") == 0 || strcasecmp(t, "infinity") == 0) return py_float_new(neg ? -INFINITY : INFINITY);
        if (strcasecmp(t, "nan") == 0) return py_float_new(NAN);
        char *end;
        errno = 0;
        double d = strtod(buf, &end);
        bool hex = strchr(buf, 'x') || strchr(buf, 'X');
        if (k && !*end && !hex && !(isalpha((unsigned char)*t) && *t != '.')) return py_float_new(d);
        sbuf b;
        sb_init(&b);
        py_repr_to(&b, x, 0);
        py_err_format(exc_ValueError, "could not convert string to float: %s", sb_cstr(&b));
        sb_free(&b);
        return NULL;
    }
    py_err_format(exc_TypeError, "float() argument must be a string or a real number, not '%s'", py_type_name(x));
    return NULL;
}

static tally_object *bi_str(tally_object *self, tally_object *const *args, size_t nargs, tally_object *kwnames)
{
    if (check_kw("str", kwnames, NULL) < 0 || nargs_check("str", nargs, 0, 1) < 0) return NULL;
    if (nargs == 0) {
        tally_object *s = tally_str_new("");
        return s ? s : py_err_nomem();
    }
    return py_str(args[0]);
}

static tally_object *bi_repr(tally_object *self, tally_object *const *args, size_t nargs, tally_object *kwnames)
{
    if (check_kw("repr", kwnames, NULL) < 0 || nargs_check("repr", nargs, 1, 1) < 0) return NULL;
    return py_repr(args[0]);
}

static tally_object *bi_bool(tally_object *self, tally_object *const *args, size_t nargs, tally_object *kwnames)
{
    if (check_kw("bool", kwnames, NULL) < 0 || nargs_check("bool", nargs, 0, 1) < 0) return NULL;
    if (nargs == 0) return py_False;
    int t = py_truth(args[0]);
    return t < 0 ? NULL : py_bool(t);
}

static tally_object *bi_len(tally_object *self, tally_object *const *args, size_t nargs, tally_object *kwnames)
{
    if (check_kw("len", kwnames, NULL) < 0) return NULL;
    if (nargs != 1) {
        py_err_format(exc_TypeError, "len() takes exactly one argument (%zu given)", nargs);
        return NULL;
    }
    int64_t n = py_len(args[0]);
    return n < 0 ? NULL : py_int_checked(n);
}

static tally_object *bi_abs(tally_object *self, tally_object *const *args, size_t nargs, tally_object *kwnames)
{
    if (check_kw("abs", kwnames, NULL) < 0) return NULL;
    if (nargs != 1) {
        py_err_format(exc_TypeError, "abs() takes exactly one argument (%zu given)", nargs);
        return NULL;
    }
    int64_t v;
    if (get_int(args[0], &v)) return py_int_checked(v < 0 ? -(__int128)v : v);
    if (IS_FLOAT(args[0])) return py_float_new(fabs(py_float_value(args[0])));
    py_err_format(exc_TypeError, "bad operand type for abs(): '%s'", py_type_name(args[0]));
    return NULL;
}

static tally_object *bi_range(tally_object *self, tally_object *const *args, size_t nargs, tally_object *kwnames)
{
    if (check_kw("range", kwnames, NULL) < 0) return NULL;
    if (nargs == 0 || nargs > 3) {
        if (nargs == 0) py_err_set(exc_TypeError, "range expected at least 1 argument, got 0");
        else py_err_format(exc_TypeError, "range expected at most 3 arguments, got %zu", nargs);
        return NULL;
    }
    int64_t v[3] = { 0, 0, 1 };
    for (size_t i = 0; i < nargs; i++)
        if (need_int(args[i], &v[i]) < 0) return NULL;
    if (nargs == 1) return py_range_new(0, v[0], 1);
    return py_range_new(v[0], v[1], nargs == 3 ? v[2] : 1);
}

static tally_object *minmax(tally_object *const *args, size_t nargs, tally_object *kwnames, int op, const char *name)
{
    static const char *const kws[] = { "key", "default", NULL };
    if (check_kw(name, kwnames, kws) < 0) return NULL;
    tally_object *key = kwarg(kwnames, args + nargs, "key"), *dflt = kwarg(kwnames, args + nargs, "default");
    if (key == py_None) key = NULL;
    if (nargs == 0) {
        py_err_format(exc_TypeError, "%s expected at least 1 argument, got 0", name);
        return NULL;
    }
    if (nargs > 1 && dflt) {
        py_err_format(exc_TypeError, "Cannot specify a default for %s() with multiple positional arguments", name);
        return NULL;
    }
    tally_object *it = nargs == 1 ? py_getiter(args[0]) : NULL;
    if (nargs == 1 && !it) return NULL;
    tally_object *best = NULL, *bestkey = NULL;
    for (size_t i = 0;; i++) {
        tally_object *v;
        if (it) {
            v = py_iternext(it);
            if (!v) break;
        } else {
            if (i >= nargs) break;
            v = tally_newref(args[i]);
        }
        tally_object *k = key ? py_call(key, &v, 1, NULL) : tally_newref(v);
        if (!k) {
            tally_decref(v);
            goto fail;
        }
        if (!best) {
            best = v;
            bestkey = k;
            continue;
        }
        int r = py_compare_bool(k, bestkey, op);
        if (r < 0) {
            tally_decref(v);
            tally_decref(k);
            goto fail;
        }
        if (r) {
            tally_decref(best);
            tally_decref(bestkey);
            best = v;
            bestkey = k;
        } else {
            tally_decref(v);
            tally_decref(k);
        }
    }
    tally_xdecref(it);
    if (py_err_occurred()) {
        tally_xdecref(best);
        tally_xdecref(bestkey);
        return NULL;
    }
    if (!best) {
        if (dflt) return tally_newref(dflt);
        py_err_format(exc_ValueError, "%s() arg is an empty sequence", name);
        return NULL;
    }
    tally_decref(bestkey);
    return best;
fail:
    tally_xdecref(it);
    tally_xdecref(best);
    tally_xdecref(bestkey);
    return NULL;
}

static tally_object *bi_min(tally_object *self, tally_object *const *args, size_t nargs, tally_object *kwnames)
{
    return minmax(args, nargs, kwnames, CMP_LT, "min");
}
static tally_object *bi_max(tally_object *self, tally_object *const *args, size_t nargs, tally_object *kwnames)
{
    return minmax(args, nargs, kwnames, CMP_GT, "max");
}

/* all(it) (want false) and any(it) (want true): stop at the first item whose truth is `stop` */
static tally_object *all_any(const char *fname, bool stop, tally_object *const *args, size_t nargs, tally_object *kwnames)
{
    if (check_kw(fname, kwnames, NULL) < 0 || nargs_check(fname, nargs, 1, 1) < 0) return NULL;
    tally_object *it = py_getiter(args[0]);
    if (!it) return NULL;
    tally_object *v;
    bool found = false;
    while (!found && (v = py_iternext(it))) {
        int t = py_truth(v);
        tally_decref(v);
        if (t < 0) break;
        found = (t == 1) == stop;
    }
    tally_decref(it);
    if (py_err_occurred()) return NULL;
    return py_bool(found == stop);
}
static tally_object *bi_all(tally_object *self, tally_object *const *args, size_t nargs, tally_object *kwnames)
{
    (void)self;
    return all_any("all", false, args, nargs, kwnames);
}
static tally_object *bi_any(tally_object *self, tally_object *const *args, size_t nargs, tally_object *kwnames)
{
    (void)self;
    return all_any("any", true, args, nargs, kwnames);
}

static tally_object *bi_sum(tally_object *self, tally_object *const *args, size_t nargs, tally_object *kwnames)
{
    static const char *const kws[] = { "start", NULL };
    if (check_kw("sum", kwnames, kws) < 0 || nargs_check("sum", nargs, 1, 2) < 0) return NULL;
    tally_object *start = nargs > 1 ? args[1] : kwarg(kwnames, args + nargs, "start");
    if (start && IS_STR(start)) {
        py_err_set(exc_TypeError, "sum() can't sum strings [use ''.join(seq) instead]");
        return NULL;
    }
    tally_object *acc = start ? tally_newref(start) : tally_int_new(0);
    tally_object *it = py_getiter(args[0]);
    if (!it) {
        tally_decref(acc);
        return NULL;
    }
    tally_object *v;
    while ((v = py_iternext(it))) {
        tally_object *r = py_binary(BIN_ADD, acc, v);
        tally_decref(v);
        tally_decref(acc);
        acc = r;
        if (!acc) break;
    }
    tally_decref(it);
    if (py_err_occurred()) {
        tally_xdecref(acc);
        return NULL;
    }
    return acc;
}

static tally_object *collect_list(tally_object *src)
{
    tally_object *l = tally_list_new();
    if (!l) return py_err_nomem();
    tally_object *it = py_getiter(src);
    if (!it) {
        tally_decref(l);
        return NULL;
    }
    tally_object *v;
    while ((v = py_iternext(it))) {
        int r = tally_list_append(l, v);
        tally_decref(v);
        if (r < 0) {
            py_err_nomem();
            break;
        }
    }
    tally_decref(it);
    if (py_err_occurred()) {
        tally_decref(l);
        return NULL;
    }
    return l;
}

static tally_object *bi_list(tally_object *self, tally_object *const *args, size_t nargs, tally_object *kwnames)
{
    if (check_kw("list", kwnames, NULL) < 0 || nargs_check("list", nargs, 0, 1) < 0) return NULL;
    if (nargs == 0) {
        tally_object *l = tally_list_new();
        return l ? l : py_err_nomem();
    }
    return collect_list(args[0]);
}

static tally_object *bi_tuple(tally_object *self, tally_object *const *args, size_t nargs, tally_object *kwnames)
{
    if (check_kw("tuple", kwnames, NULL) < 0 || nargs_check("tuple", nargs, 0, 1) < 0) return NULL;
    if (nargs == 0) return py_tuple_pack(0, NULL);
    if (IS_TUPLE(args[0])) return tally_newref(args[0]);
    tally_object *l = collect_list(args[0]);
    if (!l) return NULL;
    size_t n = tally_list_len(l);
    tally_object **items = malloc(sizeof(tally_object *) * (n + 1));
    if (!items) {
        tally_decref(l);
        return py_err_nomem();
    }
    size_t got = 0;
    for (; got < n; got++) {
        items[got] = tally_list_get(l, got);
        if (!items[got]) break;
    }
    tally_object *t = py_tuple_pack(got, items);
    for (size_t i = 0; i < got; i++) tally_decref(items[i]);
    free(items);
    tally_decref(l);
    return t;
}

static int dict_update(tally_object *d, tally_object *src)
{
    if (IS_DICT(src)) {
        size_t pos = 0;
        tally_object *k, *v;
        while (py_dict_next(src, &pos, &k, &v)) {
            tally_incref(k);
            tally_incref(v);
            int r = py_dict_set(d, k, v);
            tally_decref(k);
            tally_decref(v);
            if (r < 0) return -1;
        }
        return 0;
    }
    tally_object *it = py_getiter(src);
    if (!it) return -1;
    tally_object *pair;
    size_t idx = 0;
    while ((pair = py_iternext(it))) {
        tally_object *kv[2];
        if (!(IS_TUPLE(pair) || IS_LIST(pair))) {
            py_err_format(exc_TypeError, "cannot convert dictionary update sequence element #%zu to a sequence", idx);
            tally_decref(pair);
            break;
        }
        if (py_len(pair) != 2) {
            py_err_format(exc_ValueError, "dictionary update sequence element #%zu has length %lld; 2 is required", idx,
                          (long long)py_len(pair));
            tally_decref(pair);
            break;
        }
        idx++;
        for (int k = 0; k < 2; k++)
            kv[k] = IS_TUPLE(pair) ? tally_newref(tally_tuple_get(pair, (size_t)k)) : tally_list_get(pair, (size_t)k);
        int r = kv[0] && kv[1] ? py_dict_set(d, kv[0], kv[1]) : -1;
        tally_xdecref(kv[0]);
        tally_xdecref(kv[1]);
        tally_decref(pair);
        if (r < 0) break;
    }
    tally_decref(it);
    return py_err_occurred() ? -1 : 0;
}

static tally_object *bi_dict(tally_object *self, tally_object *const *args, size_t nargs, tally_object *kwnames)
{
    if (nargs_check("dict", nargs, 0, 1) < 0) return NULL;
    tally_object *d = py_dict_new();
    if (!d) return NULL;
    if (nargs == 1 && dict_update(d, args[0]) < 0) {
        tally_decref(d);
        return NULL;
    }
    size_t nkw = kwnames ? tally_tuple_len(kwnames) : 0;
    for (size_t i = 0; i < nkw; i++)
        if (py_dict_set(d, tally_tuple_get(kwnames, i), args[nargs + i]) < 0) {
            tally_decref(d);
            return NULL;
        }
    return d;
}

static tally_object *bi_set(tally_object *self, tally_object *const *args, size_t nargs, tally_object *kwnames)
{
    if (check_kw("set", kwnames, NULL) < 0 || nargs_check("set", nargs, 0, 1) < 0) return NULL;
    tally_object *s = py_set_new();
    if (!s || nargs == 0) return s;
    tally_object *it = py_getiter(args[0]);
    if (!it) {
        tally_decref(s);
        return NULL;
    }
    tally_object *v;
    while ((v = py_iternext(it))) {
        int r = py_dict_set(s, v, py_None);
        tally_decref(v);
        if (r < 0) break;
    }
    tally_decref(it);
    if (py_err_occurred()) {
        tally_decref(s);
        return NULL;
    }
    return s;
}

static bool isinstance_of(tally_object *o, tally_object *cls)
{
    if (cls == bi_set_obj) return IS_SET(o);
    if (TYPE(cls) == &py_class_type)
        return TYPE(o) == &py_instance_type && py_class_is_subclass(((py_instance *)o)->cls, cls);
    if (cls == bi_int_obj) return IS_INT(o) || IS_BOOL(o);
    if (cls == bi_float_obj) return IS_FLOAT(o);
    if (cls == bi_str_obj) return IS_STR(o);
    if (cls == bi_list_obj) return IS_LIST(o);
    if (cls == bi_tuple_obj) return IS_TUPLE(o);
    if (cls == bi_dict_obj) return IS_DICT(o);
    if (cls == bi_bool_obj) return IS_BOOL(o);
    if (cls == bi_range_obj) return TYPE(o) == &py_range_type;
    return false;
}

static bool is_type_object(tally_object *cls)
{
    return TYPE(cls) == &py_class_type || cls == bi_set_obj || cls == bi_int_obj || cls == bi_float_obj || cls == bi_str_obj ||
           cls == bi_list_obj || cls == bi_tuple_obj || cls == bi_dict_obj || cls == bi_bool_obj || cls == bi_range_obj;
}

static tally_object *bi_isinstance(tally_object *self, tally_object *const *args, size_t nargs, tally_object *kwnames)
{
    if (check_kw("isinstance", kwnames, NULL) < 0) return NULL;
    if (nargs != 2) {
        py_err_format(exc_TypeError, "isinstance expected 2 arguments, got %zu", nargs);
        return NULL;
    }
    tally_object *c = args[1];
    if (IS_TUPLE(c)) {
        size_t n = tally_tuple_len(c);
        for (size_t i = 0; i < n; i++) {
            tally_object *ci = tally_tuple_get(c, i);
            if (!is_type_object(ci)) goto bad;
            if (isinstance_of(args[0], ci)) return py_True;
        }
        return py_False;
    }
    if (!is_type_object(c)) goto bad;
    return py_bool(isinstance_of(args[0], c));
bad:
    py_err_set(exc_TypeError, "isinstance() arg 2 must be a type, a tuple of types, or a union");
    return NULL;
}

tally_object *py_type_object(tally_object *o)
{
    if (TYPE(o) == &py_instance_type) return tally_newref(((py_instance *)o)->cls);
    if (IS_BOOL(o)) return tally_newref(bi_bool_obj);
    if (IS_INT(o)) return tally_newref(bi_int_obj);
    if (IS_FLOAT(o)) return tally_newref(bi_float_obj);
    if (IS_STR(o)) return tally_newref(bi_str_obj);
    if (IS_LIST(o)) return tally_newref(bi_list_obj);
    if (IS_TUPLE(o)) return tally_newref(bi_tuple_obj);
    if (IS_DICT(o)) return tally_newref(bi_dict_obj);
    if (IS_SET(o)) return tally_newref(bi_set_obj);
    if (TYPE(o) == &py_range_type) return tally_newref(bi_range_obj);
    if (o == py_None) return tally_newref(none_type_obj);
    py_err_format(exc_NotImplementedError, "type() of a '%s' object is not supported yet", py_type_name(o));
    return NULL;
}

static tally_object *bi_type(tally_object *self, tally_object *const *args, size_t nargs, tally_object *kwnames)
{
    if (check_kw("type", kwnames, NULL) < 0) return NULL;
    if (nargs != 1) {
        py_err_set(exc_TypeError, "type() takes 1 argument (3-argument type() is not supported yet)");
        return NULL;
    }
    return py_type_object(args[0]);
}

static tally_object *bi_super(tally_object *self, tally_object *const *args, size_t nargs, tally_object *kwnames)
{
    if (check_kw("super", kwnames, NULL) < 0) return NULL;
    if (nargs != 2) {
        py_err_set(exc_RuntimeError, "super(): no arguments (super() outside a method is not supported)");
        return NULL;
    }
    if (TYPE(args[0]) != &py_class_type) {
        py_err_format(exc_TypeError, "super() argument 1 must be a type, not %s", py_type_name(args[0]));
        return NULL;
    }
    if (!(TYPE(args[1]) == &py_instance_type && py_class_is_subclass(((py_instance *)args[1])->cls, args[0])) &&
        !(TYPE(args[1]) == &py_class_type && py_class_is_subclass(args[1], args[0]))) {
        py_err_set(exc_TypeError, "super(type, obj): obj must be an instance or subtype of type");
        return NULL;
    }
    py_super *sp = (py_super *)tally_new(&py_super_type);
    if (!sp) return py_err_nomem();
    sp->cls = tally_newref(args[0]);
    sp->obj = tally_newref(args[1]);
    return (tally_object *)sp;
}

static tally_object *bi_enumerate(tally_object *self, tally_object *const *args, size_t nargs, tally_object *kwnames)
{
    static const char *const kws[] = { "start", NULL };
    if (check_kw("enumerate", kwnames, kws) < 0 || nargs_check("enumerate", nargs, 1, 2) < 0) return NULL;
    tally_object *st = nargs > 1 ? args[1] : kwarg(kwnames, args + nargs, "start");
    int64_t start = 0;
    if (st && need_int(st, &start) < 0) return NULL;
    tally_object *inner = py_getiter(args[0]);
    if (!inner) return NULL;
    tally_object *r = py_iter_wrap(ITER_ENUMERATE, inner, start);
    tally_decref(inner);
    return r;
}

static tally_object *bi_zip(tally_object *self, tally_object *const *args, size_t nargs, tally_object *kwnames)
{
    if (check_kw("zip", kwnames, NULL) < 0) return NULL;
    if (nargs > 16) {
        py_err_set(exc_TypeError, "zip() of more than 16 iterables is not supported");
        return NULL;
    }
    tally_object *its[16];
    for (size_t i = 0; i < nargs; i++) {
        its[i] = py_getiter(args[i]);
        if (!its[i]) {
            py_err_clear();
            py_err_format(exc_TypeError, "'%s' object is not iterable", py_type_name(args[i]));
            for (size_t k = 0; k < i; k++) tally_decref(its[k]);
            return NULL;
        }
    }
    tally_object *t = py_tuple_pack(nargs, its);
    for (size_t k = 0; k < nargs; k++) tally_decref(its[k]);
    if (!t) return NULL;
    tally_object *r = py_iter_wrap(ITER_ZIP, t, 0);
    tally_decref(t);
    return r;
}

static tally_object *bi_reversed(tally_object *self, tally_object *const *args, size_t nargs, tally_object *kwnames)
{
    if (check_kw("reversed", kwnames, NULL) < 0 || nargs_check("reversed", nargs, 1, 1) < 0) return NULL;
    tally_object *o = args[0];
    if (!(IS_LIST(o) || IS_TUPLE(o) || IS_STR(o) || TYPE(o) == &py_range_type)) {
        py_err_format(exc_TypeError, "'%s' object is not reversible", py_type_name(o));
        return NULL;
    }
    return py_iter_wrap(ITER_REVERSED, o, py_len(o) - 1);
}

static tally_object *bi_iter(tally_object *self, tally_object *const *args, size_t nargs, tally_object *kwnames)
{
    if (check_kw("iter", kwnames, NULL) < 0 || nargs_check("iter", nargs, 1, 1) < 0) return NULL;
    return py_getiter(args[0]);
}

static tally_object *bi_next(tally_object *self, tally_object *const *args, size_t nargs, tally_object *kwnames)
{
    if (check_kw("next", kwnames, NULL) < 0 || nargs_check("next", nargs, 1, 2) < 0) return NULL;
    if (TYPE(args[0]) != &py_iter_type && TYPE(args[0]) != &py_instance_type && TYPE(args[0]) != &py_gen_type) {
        py_err_format(exc_TypeError, "'%s' object is not an iterator", py_type_name(args[0]));
        return NULL;
    }
    tally_object *v = py_iternext(args[0]);
    if (v || py_err_occurred()) return v;
    if (nargs > 1) return tally_newref(args[1]);
    if (TYPE(args[0]) == &py_gen_type) return py_gen_stop_iteration(args[0]);
    tally_object *empty = py_tuple_pack(0, NULL);
    if (!empty) return NULL;
    tally_object *e = py_exc_new(exc_StopIteration, empty);
    tally_decref(empty);
    if (e) py_err_set_obj(e);
    return NULL;
}

static tally_object *bi_round(tally_object *self, tally_object *const *args, size_t nargs, tally_object *kwnames)
{
    static const char *const kws[] = { "ndigits", NULL };
    if (check_kw("round", kwnames, kws) < 0 || nargs_check("round", nargs, 1, 2) < 0) return NULL;
    tally_object *nd = nargs > 1 ? args[1] : kwarg(kwnames, args + nargs, "ndigits");
    if (nd == py_None) nd = NULL;
    int64_t iv, digits = 0;
    if (nd && need_int(nd, &digits) < 0) return NULL;
    if (get_int(args[0], &iv)) {
        if (!nd || digits >= 0) return py_int_checked(iv);
        /* round half to even at 10**-digits */
        if (digits < -18) return py_int_checked(0);
        int64_t p = 1;
        for (int64_t i = 0; i < -digits; i++) p *= 10;
        int64_t q = iv / p, r = iv % p;
        if (r < 0) { r += p; q -= 1; }
        if (2 * r > p || (2 * r == p && (q & 1))) q += 1;
        return py_int_checked((__int128)q * p);
    }
    if (!IS_FLOAT(args[0])) {
        py_err_format(exc_TypeError, "type %s doesn't define __round__ method", py_type_name(args[0]));
        return NULL;
    }
    double x = py_float_value(args[0]);
    if (!nd) {
        if (isnan(x)) { py_err_set(exc_ValueError, "cannot convert float NaN to integer"); return NULL; }
        if (isinf(x)) { py_err_set(exc_OverflowError, "cannot convert float infinity to integer"); return NULL; }
        double r = nearbyint(x);   /* the default rounding mode: half to even */
        if (r >= 9223372036854775808.0 || r < -9223372036854775808.0) return py_int_checked((__int128)INT64_MAX + 1);
        return py_int_checked((int64_t)r);
    }
    if (isnan(x) || isinf(x) || digits > 300) return py_float_new(x);
    /* correctly rounded through the shortest decimal string, as CPython's float.__round__ */
    char buf[400];
    if (digits >= 0) {
        snprintf(buf, sizeof buf, "%.*f", (int)digits, x);
        return py_float_new(strtod(buf, NULL));
    }
    double p = pow(10.0, (double)-digits);
    double r = nearbyint(x / p) * p;
    return py_float_new(r);
}

static tally_object *bi_divmod(tally_object *self, tally_object *const *args, size_t nargs, tally_object *kwnames)
{
    if (check_kw("divmod", kwnames, NULL) < 0 || nargs_check("divmod", nargs, 2, 2) < 0) return NULL;
    tally_object *q = py_binary(BIN_FLOORDIV, args[0], args[1]);
    if (!q) return NULL;
    tally_object *r = py_binary(BIN_MOD, args[0], args[1]);
    if (!r) {
        tally_decref(q);
        return NULL;
    }
    tally_object *pair[2] = { q, r };
    tally_object *t = py_tuple_pack(2, pair);
    tally_decref(q);
    tally_decref(r);
    return t;
}

static tally_object *bi_ord(tally_object *self, tally_object *const *args, size_t nargs, tally_object *kwnames)
{
    if (check_kw("ord", kwnames, NULL) < 0 || nargs_check("ord", nargs, 1, 1) < 0) return NULL;
    if (!IS_STR(args[0])) {
        py_err_format(exc_TypeError, "ord() expected string of length 1, but %s found", py_type_name(args[0]));
        return NULL;
    }
    const unsigned char *s = (const unsigned char *)tally_str_value(args[0]);
    size_t n = strlen((const char *)s);
    uint32_t cp;
    size_t need;
    if (s[0] < 0x80) { cp = s[0]; need = 1; }
    else if ((s[0] & 0xE0) == 0xC0) { cp = s[0] & 0x1F; need = 2; }
    else if ((s[0] & 0xF0) == 0xE0) { cp = s[0] & 0x0F; need = 3; }
    else { cp = s[0] & 0x07; need = 4; }
    if (n != need || n == 0) {
        py_err_format(exc_TypeError, "ord() expected a character, but string of length %zu found", n);
        return NULL;
    }
    for (size_t i = 1; i < need; i++) cp = (cp << 6) | (s[i] & 0x3F);
    return py_int_checked(cp);
}

static tally_object *bi_chr(tally_object *self, tally_object *const *args, size_t nargs, tally_object *kwnames)
{
    if (check_kw("chr", kwnames, NULL) < 0 || nargs_check("chr", nargs, 1, 1) < 0) return NULL;
    int64_t v;
    if (need_int(args[0], &v) < 0) return NULL;
    if (v < 0 || v > 0x10FFFF) {
        py_err_set(exc_ValueError, "chr() arg not in range(0x110000)");
        return NULL;
    }
    if (v == 0) {
        py_err_set(exc_ValueError, "chr(0): NUL characters are not supported by this interpreter");
        return NULL;
    }
    char buf[5];
    size_t n;
    uint32_t cp = (uint32_t)v;
    if (cp < 0x80) { buf[0] = (char)cp; n = 1; }
    else if (cp < 0x800) { buf[0] = (char)(0xC0 | (cp >> 6)); buf[1] = (char)(0x80 | (cp & 0x3F)); n = 2; }
    else if (cp < 0x10000) { buf[0] = (char)(0xE0 | (cp >> 12)); buf[1] = (char)(0x80 | ((cp >> 6) & 0x3F)); buf[2] = (char)(0x80 | (cp & 0x3F)); n = 3; }
    else { buf[0] = (char)(0xF0 | (cp >> 18)); buf[1] = (char)(0x80 | ((cp >> 12) & 0x3F)); buf[2] = (char)(0x80 | ((cp >> 6) & 0x3F)); buf[3] = (char)(0x80 | (cp & 0x3F)); n = 4; }
    return py_str_from(buf, n);
}

static tally_object *bi_hash(tally_object *self, tally_object *const *args, size_t nargs, tally_object *kwnames)
{
    if (check_kw("hash", kwnames, NULL) < 0 || nargs_check("hash", nargs, 1, 1) < 0) return NULL;
    bool err = false;
    int64_t h = py_hash(args[0], &err);
    return err ? NULL : py_int_checked(h);
}

static tally_object *bi_id(tally_object *self, tally_object *const *args, size_t nargs, tally_object *kwnames)
{
    if (check_kw("id", kwnames, NULL) < 0 || nargs_check("id", nargs, 1, 1) < 0) return NULL;
    return py_int_checked((int64_t)(uintptr_t)args[0]);
}

static tally_object *bi_getattr(tally_object *self, tally_object *const *args, size_t nargs, tally_object *kwnames)
{
    if (check_kw("getattr", kwnames, NULL) < 0 || nargs_check("getattr", nargs, 2, 3) < 0) return NULL;
    if (!IS_STR(args[1])) {
        py_err_set(exc_TypeError, "attribute name must be string");
        return NULL;
    }
    tally_object *v = py_getattr(args[0], args[1]);
    if (!v && nargs > 2 && py_exc_matches(py_err_occurred(), exc_AttributeError)) {
        py_err_clear();
        return tally_newref(args[2]);
    }
    return v;
}

static tally_object *bi_setattr(tally_object *self, tally_object *const *args, size_t nargs, tally_object *kwnames)
{
    if (check_kw("setattr", kwnames, NULL) < 0 || nargs_check("setattr", nargs, 3, 3) < 0) return NULL;
    if (!IS_STR(args[1])) {
        py_err_set(exc_TypeError, "attribute name must be string");
        return NULL;
    }
    return py_setattr(args[0], args[1], args[2]) < 0 ? NULL : py_None;
}

static tally_object *bi_delattr(tally_object *self, tally_object *const *args, size_t nargs, tally_object *kwnames)
{
    if (check_kw("delattr", kwnames, NULL) < 0 || nargs_check("delattr", nargs, 2, 2) < 0) return NULL;
    if (!IS_STR(args[1])) {
        py_err_set(exc_TypeError, "attribute name must be string");
        return NULL;
    }
    return py_delattr(args[0], args[1]) < 0 ? NULL : py_None;
}

static tally_object *bi_hasattr(tally_object *self, tally_object *const *args, size_t nargs, tally_object *kwnames)
{
    if (check_kw("hasattr", kwnames, NULL) < 0 || nargs_check("hasattr", nargs, 2, 2) < 0) return NULL;
    if (!IS_STR(args[1])) {
        py_err_set(exc_TypeError, "attribute name must be string");
        return NULL;
    }
    tally_object *v = py_getattr(args[0], args[1]);
    if (v) {
        tally_decref(v);
        return py_True;
    }
    if (py_exc_matches(py_err_occurred(), exc_AttributeError)) {
        py_err_clear();
        return py_False;
    }
    return NULL;
}

static tally_object *bi_issubclass(tally_object *self, tally_object *const *args, size_t nargs, tally_object *kwnames)
{
    if (check_kw("issubclass", kwnames, NULL) < 0 || nargs_check("issubclass", nargs, 2, 2) < 0) return NULL;
    if (TYPE(args[0]) != &py_class_type) {
        py_err_set(exc_TypeError, "issubclass() arg 1 must be a class");
        return NULL;
    }
    tally_object *c = args[1];
    size_t n = IS_TUPLE(c) ? tally_tuple_len(c) : 1;
    for (size_t i = 0; i < n; i++) {
        tally_object *ci = IS_TUPLE(c) ? tally_tuple_get(c, i) : c;
        if (TYPE(ci) != &py_class_type) {
            py_err_set(exc_TypeError, "issubclass() arg 2 must be a class, a tuple of classes, or a union");
            return NULL;
        }
        if (py_class_is_subclass(args[0], ci)) return py_True;
    }
    return py_False;
}

static tally_object *make_smethod(const char *name, tally_object *const *args, size_t nargs, tally_object *kwnames,
                                  int kind)
{
    if (check_kw(name, kwnames, NULL) < 0 || nargs_check(name, nargs, 1, 1) < 0) return NULL;
    py_smethod *m = (py_smethod *)tally_new(&py_smethod_type);
    if (!m) return py_err_nomem();
    m->func = tally_newref(args[0]);
    m->kind = kind;
    return (tally_object *)m;
}
static tally_object *bi_staticmethod(tally_object *self, tally_object *const *args, size_t nargs, tally_object *kwnames)
{
    return make_smethod("staticmethod", args, nargs, kwnames, 0);
}
static tally_object *bi_classmethod(tally_object *self, tally_object *const *args, size_t nargs, tally_object *kwnames)
{
    return make_smethod("classmethod", args, nargs, kwnames, 1);
}

/* ---- sorting (a stable merge sort, as list.sort must be) -------------------------------------- */
static int merge_sort(tally_object **keys, tally_object **vals, tally_object **tk, tally_object **tv, size_t n, bool rev)
{
    if (n < 2) return 0;
    size_t h = n / 2;
    if (merge_sort(keys, vals, tk, tv, h, rev) < 0 || merge_sort(keys + h, vals + h, tk, tv, n - h, rev) < 0) return -1;
    size_t i = 0, j = h, k = 0;
    while (i < h && j < n) {
        /* take from the right only when it is strictly before the left (stability) */
        int r = rev ? py_compare_bool(keys[i], keys[j], CMP_LT) : py_compare_bool(keys[j], keys[i], CMP_LT);
        if (r < 0) return -1;
        if (r) { tk[k] = keys[j]; tv[k++] = vals[j++]; }
        else { tk[k] = keys[i]; tv[k++] = vals[i++]; }
    }
    while (i < h) { tk[k] = keys[i]; tv[k++] = vals[i++]; }
    while (j < n) { tk[k] = keys[j]; tv[k++] = vals[j++]; }
    memcpy(keys, tk, sizeof(tally_object *) * n);
    memcpy(vals, tv, sizeof(tally_object *) * n);
    return 0;
}

static int list_sort(tally_object *l, tally_object *key, bool reverse)
{
    size_t n = tally_list_len(l);
    tally_object **buf = calloc(4 * n + 1, sizeof(tally_object *));
    if (!buf) {
        py_err_nomem();
        return -1;
    }
    tally_object **vals = buf, **keys = buf + n, **tk = buf + 2 * n, **tv = buf + 3 * n;
    size_t got = 0, kgot = 0;
    int rc = -1;
    for (; got < n; got++) {
        vals[got] = tally_list_get(l, got);
        if (!vals[got]) break;
    }
    n = got;
    for (; kgot < n; kgot++) {
        keys[kgot] = key ? py_call(key, &vals[kgot], 1, NULL) : tally_newref(vals[kgot]);
        if (!keys[kgot]) goto out;
    }
    if (merge_sort(keys, vals, tk, tv, n, reverse) < 0) goto out;
    if (reverse) {
        /* merge_sort(rev) ordered by descending key keeping ties in order: done */
    }
    for (size_t i = 0; i < n; i++) tally_list_set(l, i, vals[i]);
    rc = 0;
out:
    for (size_t i = 0; i < kgot; i++) tally_decref(keys[i]);
    for (size_t i = 0; i < got; i++) tally_decref(vals[i]);
    free(buf);
    return rc;
}

static tally_object *bi_sorted(tally_object *self, tally_object *const *args, size_t nargs, tally_object *kwnames)
{
    static const char *const kws[] = { "key", "reverse", NULL };
    if (check_kw("sorted", kwnames, kws) < 0) return NULL;
    if (nargs != 1) {
        py_err_format(exc_TypeError, "sorted expected 1 argument, got %zu", nargs);
        return NULL;
    }
    tally_object *key = kwarg(kwnames, args + nargs, "key"), *rev = kwarg(kwnames, args + nargs, "reverse");
    tally_object *l = collect_list(args[0]);
    if (!l) return NULL;
    int r = rev ? py_truth(rev) : 0;
    if (r < 0 || list_sort(l, key == py_None ? NULL : key, r > 0) < 0) {
        tally_decref(l);
        return NULL;
    }
    return l;
}

/* ---- list methods ------------------------------------------------------------------------------ */
#define METHOD(name) static tally_object *name(tally_object *self, tally_object *const *args, size_t nargs, tally_object *kwnames)
#define NOKW(fname) if (check_kw(fname, kwnames, NULL) < 0) return NULL

METHOD(list_append)
{
    NOKW("append");
    if (nargs != 1) { py_err_format(exc_TypeError, "list.append() takes exactly one argument (%zu given)", nargs); return NULL; }
    if (tally_list_append(self, args[0]) < 0) return py_err_nomem();
    return py_None;
}

METHOD(list_pop)
{
    NOKW("pop");
    if (nargs_check("pop", nargs, 0, 1) < 0) return NULL;
    size_t n = tally_list_len(self);
    if (n == 0) { py_err_set(exc_IndexError, "pop from empty list"); return NULL; }
    if (nargs == 0) {
        tally_object *v = tally_list_pop(self);
        if (!v) py_err_set(exc_IndexError, "pop from empty list");
        return v;
    }
    int64_t i;
    if (need_int(args[0], &i) < 0) return NULL;
    if (i < 0) i += (int64_t)n;
    if (i < 0 || i >= (int64_t)n) { py_err_set(exc_IndexError, "pop index out of range"); return NULL; }
    tally_object *v = tally_list_get(self, (size_t)i);
    if (!v || py_list_del_index(self, (size_t)i) < 0) {
        tally_xdecref(v);
        py_err_set(exc_IndexError, "pop index out of range");
        return NULL;
    }
    return v;
}

METHOD(list_insert)
{
    NOKW("insert");
    if (nargs != 2) { py_err_format(exc_TypeError, "insert expected 2 arguments, got %zu", nargs); return NULL; }
    int64_t i;
    if (need_int(args[0], &i) < 0) return NULL;
    int64_t n = (int64_t)tally_list_len(self);
    if (i < 0) { i += n; if (i < 0) i = 0; }
    if (i > n) i = n;
    if (tally_list_append(self, args[1]) < 0) return py_err_nomem();
    for (int64_t k = n; k > i; k--) {
        tally_object *prev = tally_list_get(self, (size_t)(k - 1));
        if (!prev) break;
        tally_list_set(self, (size_t)k, prev);
        tally_decref(prev);
    }
    tally_list_set(self, (size_t)i, args[1]);
    return py_None;
}

static int64_t list_find(tally_object *l, tally_object *x)
{
    size_t n = tally_list_len(l);
    for (size_t i = 0; i < n; i++) {
        tally_object *v = tally_list_get(l, i);
        if (!v) break;
        int r = py_eq(v, x);
        tally_decref(v);
        if (r < 0) return -2;
        if (r) return (int64_t)i;
    }
    return -1;
}

METHOD(list_remove)
{
    NOKW("remove");
    if (nargs != 1) { py_err_format(exc_TypeError, "list.remove() takes exactly one argument (%zu given)", nargs); return NULL; }
    int64_t i = list_find(self, args[0]);
    if (i == -2) return NULL;
    if (i < 0) { py_err_set(exc_ValueError, "list.remove(x): x not in list"); return NULL; }
    py_list_del_index(self, (size_t)i);
    return py_None;
}

METHOD(list_index)
{
    NOKW("index");
    if (nargs_check("index", nargs, 1, 1) < 0) return NULL;
    int64_t i = list_find(self, args[0]);
    if (i == -2) return NULL;
    if (i < 0) {
        sbuf b;
        sb_init(&b);
        py_repr_to(&b, args[0], 0);
        py_err_format(exc_ValueError, "%s is not in list", sb_cstr(&b));
        sb_free(&b);
        return NULL;
    }
    return py_int_checked(i);
}

METHOD(list_count)
{
    NOKW("count");
    if (nargs_check("count", nargs, 1, 1) < 0) return NULL;
    int64_t c = 0;
    size_t n = tally_list_len(self);
    for (size_t i = 0; i < n; i++) {
        tally_object *v = tally_list_get(self, i);
        if (!v) break;
        int r = py_eq(v, args[0]);
        tally_decref(v);
        if (r < 0) return NULL;
        c += r;
    }
    return py_int_checked(c);
}

static int list_extend_from(tally_object *l, tally_object *src)
{
    tally_object *items = IS_LIST(src) && src == l ? collect_list(src) : tally_newref(src);
    if (!items) return -1;
    tally_object *it = py_getiter(items);
    tally_decref(items);
    if (!it) return -1;
    tally_object *v;
    while ((v = py_iternext(it))) {
        int r = tally_list_append(l, v);
        tally_decref(v);
        if (r < 0) {
            py_err_nomem();
            break;
        }
    }
    tally_decref(it);
    return py_err_occurred() ? -1 : 0;
}

METHOD(list_extend)
{
    NOKW("extend");
    if (nargs != 1) { py_err_format(exc_TypeError, "list.extend() takes exactly one argument (%zu given)", nargs); return NULL; }
    return list_extend_from(self, args[0]) < 0 ? NULL : py_None;
}

METHOD(list_reverse)
{
    NOKW("reverse");
    if (nargs_check("reverse", nargs, 0, 0) < 0) return NULL;
    size_t n = tally_list_len(self);
    for (size_t i = 0; i < n / 2; i++) {
        tally_object *a = tally_list_get(self, i), *b = tally_list_get(self, n - 1 - i);
        if (a && b) {
            tally_list_set(self, i, b);
            tally_list_set(self, n - 1 - i, a);
        }
        tally_xdecref(a);
        tally_xdecref(b);
    }
    return py_None;
}

METHOD(list_copy)
{
    NOKW("copy");
    if (nargs_check("copy", nargs, 0, 0) < 0) return NULL;
    return collect_list(self);
}

METHOD(list_clear)
{
    NOKW("clear");
    if (nargs_check("clear", nargs, 0, 0) < 0) return NULL;
    tally_list_clear(self);
    return py_None;
}

METHOD(list_sort_m)
{
    static const char *const kws[] = { "key", "reverse", NULL };
    if (check_kw("sort", kwnames, kws) < 0) return NULL;
    if (nargs) { py_err_set(exc_TypeError, "sort() takes no positional arguments"); return NULL; }
    tally_object *key = kwarg(kwnames, args + nargs, "key"), *rev = kwarg(kwnames, args + nargs, "reverse");
    int r = rev ? py_truth(rev) : 0;
    if (r < 0 || list_sort(self, key == py_None ? NULL : key, r > 0) < 0) return NULL;
    return py_None;
}

/* ---- dict methods ----------------------------------------------------------------------------- */
METHOD(dict_get)
{
    NOKW("get");
    if (nargs_check("get", nargs, 1, 2) < 0) return NULL;
    bool err = false;
    tally_object *v = py_dict_lookup(self, args[0], &err);
    if (err) return NULL;
    if (v) return tally_newref(v);
    return tally_newref(nargs > 1 ? args[1] : py_None);
}

static tally_object *make_view(tally_object *d, int kind)
{
    py_dictview *v = (py_dictview *)tally_new(&py_dictview_type);
    if (!v) return py_err_nomem();
    v->dict = tally_newref(d);
    v->kind = kind;
    return (tally_object *)v;
}
METHOD(dict_keys) { NOKW("keys"); if (nargs_check("keys", nargs, 0, 0) < 0) return NULL; return make_view(self, 0); }
METHOD(dict_values) { NOKW("values"); if (nargs_check("values", nargs, 0, 0) < 0) return NULL; return make_view(self, 1); }
METHOD(dict_items) { NOKW("items"); if (nargs_check("items", nargs, 0, 0) < 0) return NULL; return make_view(self, 2); }

METHOD(dict_pop)
{
    NOKW("pop");
    if (nargs_check("pop", nargs, 1, 2) < 0) return NULL;
    bool err = false;
    tally_object *v = py_dict_lookup(self, args[0], &err);
    if (err) return NULL;
    if (!v) {
        if (nargs > 1) return tally_newref(args[1]);
        return py_getitem(self, args[0]);   /* raises the KeyError */
    }
    tally_incref(v);
    if (py_dict_del(self, args[0]) < 0) {
        tally_decref(v);
        return NULL;
    }
    return v;
}

METHOD(dict_setdefault)
{
    NOKW("setdefault");
    if (nargs_check("setdefault", nargs, 1, 2) < 0) return NULL;
    bool err = false;
    tally_object *v = py_dict_lookup(self, args[0], &err);
    if (err) return NULL;
    if (v) return tally_newref(v);
    tally_object *d = nargs > 1 ? args[1] : py_None;
    if (py_dict_set(self, args[0], d) < 0) return NULL;
    return tally_newref(d);
}

METHOD(dict_update_m)
{
    if (nargs_check("update", nargs, 0, 1) < 0) return NULL;
    if (nargs && dict_update(self, args[0]) < 0) return NULL;
    size_t nkw = kwnames ? tally_tuple_len(kwnames) : 0;
    for (size_t i = 0; i < nkw; i++)
        if (py_dict_set(self, tally_tuple_get(kwnames, i), args[nargs + i]) < 0) return NULL;
    return py_None;
}

METHOD(dict_copy)
{
    NOKW("copy");
    tally_object *d = py_dict_new();
    if (!d) return NULL;
    if (dict_update(d, self) < 0) {
        tally_decref(d);
        return NULL;
    }
    (void)args;
    (void)nargs;
    return d;
}

METHOD(dict_clear_m)
{
    NOKW("clear");
    (void)args;
    (void)nargs;
    py_dict_clear(self);
    return py_None;
}

/* ---- str methods ------------------------------------------------------------------------------- */
static tally_object *new_str(const char *s, size_t n) { return py_str_from(s, n); }

static int need_str(tally_object *o, const char *what)
{
    if (IS_STR(o)) return 0;
    py_err_format(exc_TypeError, "%s arg must be None or str", what);
    return -1;
}

METHOD(str_join)
{
    NOKW("join");
    if (nargs != 1) { py_err_format(exc_TypeError, "str.join() takes exactly one argument (%zu given)", nargs); return NULL; }
    tally_object *l = collect_list(args[0]);
    if (!l) return NULL;
    sbuf b;
    sb_init(&b);
    size_t n = tally_list_len(l);
    for (size_t i = 0; i < n; i++) {
        tally_object *v = tally_list_get(l, i);
        if (!v) break;
        if (!IS_STR(v)) {
            py_err_format(exc_TypeError, "sequence item %zu: expected str instance, %s found", i, py_type_name(v));
            tally_decref(v);
            tally_decref(l);
            sb_free(&b);
            return NULL;
        }
        if (i) sb_puts(&b, tally_str_value(self));
        sb_puts(&b, tally_str_value(v));
        tally_decref(v);
    }
    tally_decref(l);
    if (b.oom) { sb_free(&b); return py_err_nomem(); }
    tally_object *r = tally_str_new(sb_cstr(&b));
    sb_free(&b);
    return r ? r : py_err_nomem();
}

static int append_new(tally_object *l, const char *s, size_t n)
{
    tally_object *p = new_str(s, n);
    if (!p) return -1;
    int r = tally_list_append(l, p);
    tally_decref(p);
    if (r < 0) py_err_nomem();
    return r;
}

METHOD(str_split)
{
    static const char *const kws[] = { "sep", "maxsplit", NULL };
    if (check_kw("split", kwnames, kws) < 0 || nargs_check("split", nargs, 0, 2) < 0) return NULL;
    tally_object *sep = nargs > 0 ? args[0] : kwarg(kwnames, args + nargs, "sep");
    tally_object *ms = nargs > 1 ? args[1] : kwarg(kwnames, args + nargs, "maxsplit");
    int64_t maxsplit = -1;
    if (ms && need_int(ms, &maxsplit) < 0) return NULL;
    if (sep == py_None) sep = NULL;
    if (sep && need_str(sep, "split()") < 0) return NULL;
    const char *s = tally_str_value(self);
    tally_object *l = tally_list_new();
    if (!l) return py_err_nomem();
    if (!sep) {
        const char *p = s;
        for (;;) {
            while (*p && isspace((unsigned char)*p)) p++;
            if (!*p) break;
            if (maxsplit == 0) {
                size_t n = strlen(p);
                while (n && isspace((unsigned char)p[n - 1])) n--;
                if (append_new(l, p, n) < 0) goto fail;
                break;
            }
            const char *q = p;
            while (*q && !isspace((unsigned char)*q)) q++;
            if (append_new(l, p, (size_t)(q - p)) < 0) goto fail;
            if (maxsplit > 0) maxsplit--;
            p = q;
        }
        return l;
    }
    const char *sp = tally_str_value(sep);
    size_t sl = strlen(sp);
    if (sl == 0) {
        py_err_set(exc_ValueError, "empty separator");
        goto fail;
    }
    const char *p = s;
    for (;;) {
        const char *q = maxsplit == 0 ? NULL : strstr(p, sp);
        if (!q) {
            if (append_new(l, p, strlen(p)) < 0) goto fail;
            break;
        }
        if (append_new(l, p, (size_t)(q - p)) < 0) goto fail;
        p = q + sl;
        if (maxsplit > 0) maxsplit--;
    }
    return l;
fail:
    tally_decref(l);
    return NULL;
}

static tally_object *strip_impl(tally_object *self, tally_object *const *args, size_t nargs, tally_object *kwnames,
                                bool left, bool right, const char *name)
{
    if (check_kw(name, kwnames, NULL) < 0 || nargs_check(name, nargs, 0, 1) < 0) return NULL;
    const char *chars = NULL;
    if (nargs && args[0] != py_None) {
        if (need_str(args[0], name) < 0) return NULL;
        chars = tally_str_value(args[0]);
    }
    const char *s = tally_str_value(self);
    size_t n = strlen(s), a = 0, b = n;
#define STRIPPABLE(c) (chars ? strchr(chars, (c)) != NULL && (c) : isspace((unsigned char)(c)))
    if (left) while (a < b && STRIPPABLE(s[a])) a++;
    if (right) while (b > a && STRIPPABLE(s[b - 1])) b--;
#undef STRIPPABLE
    return new_str(s + a, b - a);
}
METHOD(str_strip) { return strip_impl(self, args, nargs, kwnames, true, true, "strip"); }
METHOD(str_lstrip) { return strip_impl(self, args, nargs, kwnames, true, false, "lstrip"); }
METHOD(str_rstrip) { return strip_impl(self, args, nargs, kwnames, false, true, "rstrip"); }

static tally_object *map_case(tally_object *self, int upper)
{
    const char *s = tally_str_value(self);
    size_t n = strlen(s);
    char *buf = malloc(n + 1);
    if (!buf) return py_err_nomem();
    for (size_t i = 0; i <= n; i++) buf[i] = (char)(upper ? toupper((unsigned char)s[i]) : tolower((unsigned char)s[i]));
    tally_object *r = tally_str_new(buf);
    free(buf);
    return r ? r : py_err_nomem();
}
METHOD(str_lower) { NOKW("lower"); if (nargs_check("lower", nargs, 0, 0) < 0) return NULL; return map_case(self, 0); }
METHOD(str_upper) { NOKW("upper"); if (nargs_check("upper", nargs, 0, 0) < 0) return NULL; return map_case(self, 1); }

/* The optional start and end of find, count, startswith and endswith (args[first], args[first+1]):
 * ints or None, read as slice bounds of a string of length n (negative ones count from the end,
 * then clamped to 0; an end past n is n), as CPython's ADJUST_INDICES.  *a may end up past n
 * or past *b: each caller decides what that means, as CPython's do. */
static int str_bounds(tally_object *const *args, size_t nargs, size_t first, size_t n, int64_t *a, int64_t *b)
{
    *a = 0;
    *b = (int64_t)n;
    for (size_t k = 0; k < 2 && first + k < nargs; k++) {
        tally_object *o = args[first + k];
        if (o == py_None) continue;
        int64_t v;
        if (!get_int(o, &v)) {
            py_err_set(exc_TypeError, "slice indices must be integers or None or have an __index__ method");
            return -1;
        }
        if (v < 0) {
            v += (int64_t)n;
            if (v < 0) v = 0;
        } else if (k == 1 && v > (int64_t)n) {
            v = (int64_t)n;
        }
        *(k == 0 ? a : b) = v;
    }
    return 0;
}

static tally_object *affix(tally_object *self, tally_object *const *args, size_t nargs, tally_object *kwnames, bool start)
{
    const char *name = start ? "startswith" : "endswith";
    if (check_kw(name, kwnames, NULL) < 0 || nargs_check(name, nargs, 1, 3) < 0) return NULL;
    tally_object *x = args[0];
    size_t count = IS_TUPLE(x) ? tally_tuple_len(x) : 1;
    const char *s = tally_str_value(self);
    size_t len = strlen(s);
    int64_t lo, hi;
    if (str_bounds(args, nargs, 1, len, &lo, &hi) < 0) return NULL;
    if (!IS_TUPLE(x) && !IS_STR(x)) {
        py_err_format(exc_TypeError, "%s first arg must be str or a tuple of str, not %s", name, py_type_name(x));
        return NULL;
    }
    if (lo > (int64_t)len) return py_False;    /* CPython: a start past the end never matches */
    s += lo;
    size_t n = hi > lo ? (size_t)(hi - lo) : 0;
    bool empty_range = hi < lo;                /* not even "" matches s[3:1] */
    for (size_t i = 0; i < count; i++) {
        tally_object *p = IS_TUPLE(x) ? tally_tuple_get(x, i) : x;
        if (!IS_STR(p)) {
            py_err_format(exc_TypeError, "%s first arg must be str or a tuple of str, not %s", name, py_type_name(p));
            return NULL;
        }
        const char *ps = tally_str_value(p);
        size_t pn = strlen(ps);
        if (!empty_range && pn <= n && memcmp(start ? s : s + n - pn, ps, pn) == 0) return py_True;
    }
    return py_False;
}
METHOD(str_startswith) { return affix(self, args, nargs, kwnames, true); }
METHOD(str_endswith) { return affix(self, args, nargs, kwnames, false); }

METHOD(str_replace)
{
    NOKW("replace");
    if (nargs_check("replace", nargs, 2, 3) < 0) return NULL;
    if (!IS_STR(args[0]) || !IS_STR(args[1])) {
        py_err_format(exc_TypeError, "replace() argument %d must be str, not %s", IS_STR(args[0]) ? 2 : 1,
                      py_type_name(IS_STR(args[0]) ? args[1] : args[0]));
        return NULL;
    }
    int64_t count = -1;
    if (nargs > 2 && need_int(args[2], &count) < 0) return NULL;
    const char *s = tally_str_value(self), *old = tally_str_value(args[0]), *new_ = tally_str_value(args[1]);
    size_t ol = strlen(old);
    sbuf b;
    sb_init(&b);
    const char *p = s;
    if (ol == 0) {
        for (; count != 0; count--) {
            sb_puts(&b, new_);
            if (!*p) break;
            sb_putc(&b, *p++);
        }
        sb_puts(&b, p);
    } else {
        while (count != 0) {
            const char *q = strstr(p, old);
            if (!q) break;
            sb_putn(&b, p, (size_t)(q - p));
            sb_puts(&b, new_);
            p = q + ol;
            if (count > 0) count--;
        }
        sb_puts(&b, p);
    }
    if (b.oom) { sb_free(&b); return py_err_nomem(); }
    tally_object *r = tally_str_new(sb_cstr(&b));
    sb_free(&b);
    return r ? r : py_err_nomem();
}

/* the first occurrence of sub in s[a:b) (byte offsets), or NULL */
static const char *find_in(const char *s, int64_t a, int64_t b, const char *sub, size_t sl)
{
    if (b - a < (int64_t)sl) return NULL;
    if (sl == 0) return s + a;
    const char *p = s + a, *last = s + b - sl;   /* memmem is not C11 */
    while (p <= last) {
        p = memchr(p, sub[0], (size_t)(last - p) + 1);
        if (!p) return NULL;
        if (memcmp(p, sub, sl) == 0) return p;
        p++;
    }
    return NULL;
}

METHOD(str_find)
{
    NOKW("find");
    if (nargs_check("find", nargs, 1, 3) < 0) return NULL;
    if (!IS_STR(args[0])) { py_err_format(exc_TypeError, "must be str, not %s", py_type_name(args[0])); return NULL; }
    const char *s = tally_str_value(self), *sub = tally_str_value(args[0]);
    int64_t a, b;
    if (str_bounds(args, nargs, 1, strlen(s), &a, &b) < 0) return NULL;
    if (a > (int64_t)strlen(s)) return py_int_checked(-1);
    const char *q = find_in(s, a, b, sub, strlen(sub));
    return py_int_checked(q ? (int64_t)(q - s) : -1);
}

METHOD(str_count)
{
    NOKW("count");
    if (nargs_check("count", nargs, 1, 3) < 0) return NULL;
    if (!IS_STR(args[0])) { py_err_format(exc_TypeError, "must be str, not %s", py_type_name(args[0])); return NULL; }
    const char *s = tally_str_value(self), *sub = tally_str_value(args[0]);
    size_t sl = strlen(sub);
    int64_t a, b, c = 0;
    if (str_bounds(args, nargs, 1, strlen(s), &a, &b) < 0) return NULL;
    if (a > (int64_t)strlen(s)) return py_int_checked(0);
    if (sl == 0) return py_int_checked(b >= a ? b - a + 1 : 0);
    for (const char *p = find_in(s, a, b, sub, sl); p; p = find_in(s, a, b, sub, sl)) {
        c++;
        a = (int64_t)(p - s) + (int64_t)sl;
    }
    return py_int_checked(c);
}

static tally_object *char_class(tally_object *self, int (*pred)(int))
{
    const char *s = tally_str_value(self);
    if (!*s) return py_False;
    for (; *s; s++)
        if (!pred((unsigned char)*s)) return py_False;
    return py_True;
}
METHOD(str_isdigit) { NOKW("isdigit"); (void)args; (void)nargs; return char_class(self, isdigit); }
METHOD(str_isalpha) { NOKW("isalpha"); (void)args; (void)nargs; return char_class(self, isalpha); }
METHOD(str_isspace) { NOKW("isspace"); (void)args; (void)nargs; return char_class(self, isspace); }

METHOD(str_splitlines)
{
    NOKW("splitlines");
    (void)args;
    (void)nargs;
    tally_object *l = tally_list_new();
    if (!l) return py_err_nomem();
    const char *p = tally_str_value(self);
    while (*p) {
        const char *q = p;
        while (*q && *q != '\n' && *q != '\r') q++;
        if (append_new(l, p, (size_t)(q - p)) < 0) {
            tally_decref(l);
            return NULL;
        }
        if (*q == '\r' && q[1] == '\n') q++;
        p = *q ? q + 1 : q;
    }
    return l;
}

/* str.format: {} {0} {name} with !r / !s and a format spec (no attribute or index fields) */
METHOD(str_format)
{
    const char *f = tally_str_value(self);
    size_t auto_i = 0;
    sbuf out;
    sb_init(&out);
    size_t nkw = kwnames ? tally_tuple_len(kwnames) : 0;
    while (*f) {
        if (*f == '{' && f[1] == '{') { sb_putc(&out, '{'); f += 2; continue; }
        if (*f == '}' && f[1] == '}') { sb_putc(&out, '}'); f += 2; continue; }
        if (*f == '}') {
            sb_free(&out);
            py_err_set(exc_ValueError, "Single '}' encountered in format string");
            return NULL;
        }
        if (*f != '{') { sb_putc(&out, *f++); continue; }
        const char *end = strchr(f, '}');
        if (!end) {
            sb_free(&out);
            py_err_set(exc_ValueError, "Single '{' encountered in format string");
            return NULL;
        }
        char field[256];
        size_t n = (size_t)(end - f - 1);
        if (n >= sizeof field) n = sizeof field - 1;
        memcpy(field, f + 1, n);
        field[n] = 0;
        f = end + 1;
        char *spec = strchr(field, ':');
        if (spec) *spec++ = 0;
        char conv = 0;
        char *bang = strchr(field, '!');
        if (bang) {
            conv = bang[1];
            *bang = 0;
        }
        tally_object *v = NULL;
        if (!field[0]) {
            if (auto_i < nargs) v = args[auto_i++];
            else {
                sb_free(&out);
                py_err_format(exc_IndexError, "Replacement index %zu out of range for positional args tuple", auto_i);
                return NULL;
            }
        } else if (isdigit((unsigned char)field[0])) {
            size_t idx = (size_t)strtoul(field, NULL, 10);
            if (idx < nargs) v = args[idx];
            else {
                sb_free(&out);
                py_err_format(exc_IndexError, "Replacement index %zu out of range for positional args tuple", idx);
                return NULL;
            }
        } else {
            for (size_t i = 0; i < nkw; i++)
                if (strcmp(tally_str_value(tally_tuple_get(kwnames, i)), field) == 0) v = args[nargs + i];
            if (!v) {
                sb_free(&out);
                tally_object *k = tally_str_new(field);
                if (!k) return py_err_nomem();
                tally_object *a = py_tuple_pack(1, &k);
                tally_decref(k);
                if (a) {
                    tally_object *e = py_exc_new(exc_KeyError, a);
                    tally_decref(a);
                    if (e) py_err_set_obj(e);
                }
                return NULL;
            }
        }
        tally_object *cv = conv == 'r' || conv == 'a' ? py_repr(v) : conv == 's' ? py_str(v) : tally_newref(v);
        if (!cv) {
            sb_free(&out);
            return NULL;
        }
        tally_object *specobj = spec && *spec ? tally_str_new(spec) : NULL;
        tally_object *r = py_format_value(cv, specobj);
        tally_xdecref(specobj);
        tally_decref(cv);
        if (!r) {
            sb_free(&out);
            return NULL;
        }
        sb_puts(&out, tally_str_value(r));
        tally_decref(r);
    }
    if (out.oom) {
        sb_free(&out);
        return py_err_nomem();
    }
    tally_object *r = tally_str_new(sb_cstr(&out));
    sb_free(&out);
    return r ? r : py_err_nomem();
}

/* ---- set methods ------------------------------------------------------------------------------- */
METHOD(set_add)
{
    NOKW("add");
    if (nargs_check("add", nargs, 1, 1) < 0) return NULL;
    return py_dict_set(self, args[0], py_None) < 0 ? NULL : py_None;
}
METHOD(set_discard)
{
    NOKW("discard");
    if (nargs_check("discard", nargs, 1, 1) < 0) return NULL;
    return py_dict_del(self, args[0]) < 0 ? NULL : py_None;
}
METHOD(set_remove)
{
    NOKW("remove");
    if (nargs_check("remove", nargs, 1, 1) < 0) return NULL;
    int r = py_dict_del(self, args[0]);
    if (r < 0) return NULL;
    if (r == 1) {
        tally_object *a = py_tuple_pack(1, args);
        if (!a) return NULL;
        tally_object *e = py_exc_new(exc_KeyError, a);
        tally_decref(a);
        if (e) py_err_set_obj(e);
        return NULL;
    }
    return py_None;
}
METHOD(set_clear) { NOKW("clear"); (void)args; (void)nargs; return dict_clear_m(self, NULL, 0, NULL); }
METHOD(set_copy)
{
    NOKW("copy");
    (void)args;
    (void)nargs;
    return py_binary(BIN_OR, self, self);
}
METHOD(set_update)
{
    NOKW("update");
    for (size_t i = 0; i < nargs; i++) {
        tally_object *it = py_getiter(args[i]);
        if (!it) return NULL;
        tally_object *v;
        while ((v = py_iternext(it))) {
            int r = py_dict_set(self, v, py_None);
            tally_decref(v);
            if (r < 0) break;
        }
        tally_decref(it);
        if (py_err_occurred()) return NULL;
    }
    return py_None;
}
static tally_object *set_binop(tally_object *self, tally_object *const *args, size_t nargs, int op, const char *name)
{
    if (nargs_check(name, nargs, 1, 1) < 0) return NULL;
    tally_object *other = IS_SET(args[0]) ? tally_newref(args[0]) : bi_set(NULL, args, 1, NULL);
    if (!other) return NULL;
    tally_object *r = py_binary(op, self, other);
    tally_decref(other);
    return r;
}
METHOD(set_union) { NOKW("union"); return set_binop(self, args, nargs, BIN_OR, "union"); }
METHOD(set_intersection) { NOKW("intersection"); return set_binop(self, args, nargs, BIN_AND, "intersection"); }
METHOD(set_difference) { NOKW("difference"); return set_binop(self, args, nargs, BIN_SUB, "difference"); }
METHOD(set_issubset)
{
    NOKW("issubset");
    tally_object *inter = set_binop(self, args, nargs, BIN_SUB, "issubset");
    if (!inter) return NULL;
    bool empty = py_dict_size(inter) == 0;
    tally_decref(inter);
    return py_bool(empty);
}

tally_object *builtin_method_lookup(tally_object *o, tally_object *name)
{
    tally_object *table = IS_LIST(o) ? list_methods : IS_DICT(o) ? dict_methods : IS_STR(o) ? str_methods
                        : IS_SET(o) ? set_methods : TYPE(o) == &py_gen_type ? gen_methods : NULL;
    if (!table) return threading_method_lookup(o, name);
    bool err = false;
    tally_object *m = py_dict_lookup(table, name, &err);
    if (err) py_err_clear();
    return m;
}

/* ---- sys ------------------------------------------------------------------------------------ */
static tally_object *sys_exit(tally_object *self, tally_object *const *args, size_t nargs, tally_object *kwnames)
{
    NOKW("exit");
    if (nargs_check("exit", nargs, 0, 1) < 0) return NULL;
    tally_object *a = py_tuple_pack(nargs, args);
    if (!a) return NULL;
    tally_object *e = py_exc_new(exc_SystemExit, a);
    tally_decref(a);
    if (e) py_err_set_obj(e);
    return NULL;
}

static tally_object *sys_setrecursionlimit(tally_object *self, tally_object *const *args, size_t nargs, tally_object *kwnames)
{
    NOKW("setrecursionlimit");
    if (nargs != 1) { py_err_format(exc_TypeError, "setrecursionlimit() takes exactly one argument (%zu given)", nargs); return NULL; }
    int64_t v;
    if (need_int(args[0], &v) < 0) return NULL;
    if (v < 1) { py_err_set(exc_ValueError, "recursion limit must be greater or equal than 1"); return NULL; }
    if (v > 10000000) v = 10000000;
    if (v <= I->depth) {
        py_err_format(exc_RecursionError, "cannot set the recursion limit to %lld at the recursion depth %d: the limit is too low",
                      (long long)v, I->depth);
        return NULL;
    }
    I->recursion_limit = (int)v;
    return py_None;
}

static tally_object *sys_getrecursionlimit(tally_object *self, tally_object *const *args, size_t nargs, tally_object *kwnames)
{
    NOKW("getrecursionlimit");
    (void)args;
    (void)nargs;
    return py_int_checked(I->recursion_limit);
}

/* ---- registration -------------------------------------------------------------------------------- */
static int add_fn(tally_object *d, const char *name, py_cfunc fn, bool method, tally_object **keep)
{
    tally_object *b = py_builtin_new(name, fn, NULL);
    if (!b) return -1;
    ((py_builtin *)b)->method = method;
    int r = py_dict_setstr(d, name, b);
    if (keep) *keep = b;   /* borrowed: the dict keeps it alive */
    tally_decref(b);
    return r;
}

static tally_object *make_file(FILE *fp, const char *name)
{
    py_file *f = (py_file *)tally_new(&py_file_type);
    if (!f) return NULL;
    f->fp = fp;
    f->name = name;
    return (tally_object *)f;
}

int builtins_init(tally_object *b, int argc, char **argv)
{
    struct { const char *name; py_cfunc fn; tally_object **keep; } fns[] = {
        { "print", bi_print, NULL }, { "len", bi_len, NULL }, { "range", bi_range, &bi_range_obj },
        { "str", bi_str, &bi_str_obj }, { "repr", bi_repr, NULL }, { "int", bi_int, &bi_int_obj },
        { "float", bi_float, &bi_float_obj }, { "bool", bi_bool, &bi_bool_obj }, { "abs", bi_abs, NULL },
        { "min", bi_min, NULL }, { "max", bi_max, NULL }, { "sum", bi_sum, NULL },
        { "all", bi_all, NULL }, { "any", bi_any, NULL },
        { "list", bi_list, &bi_list_obj }, { "tuple", bi_tuple, &bi_tuple_obj }, { "dict", bi_dict, &bi_dict_obj },
        { "isinstance", bi_isinstance, NULL }, { "type", bi_type, NULL }, { "sorted", bi_sorted, NULL },
        { "super", bi_super, NULL }, { "enumerate", bi_enumerate, NULL }, { "zip", bi_zip, NULL },
        { "reversed", bi_reversed, NULL }, { "iter", bi_iter, NULL }, { "next", bi_next, NULL },
        { "round", bi_round, NULL }, { "divmod", bi_divmod, NULL }, { "ord", bi_ord, NULL }, { "chr", bi_chr, NULL },
        { "hash", bi_hash, NULL }, { "id", bi_id, NULL }, { "getattr", bi_getattr, NULL },
        { "setattr", bi_setattr, NULL }, { "delattr", bi_delattr, NULL }, { "hasattr", bi_hasattr, NULL }, { "issubclass", bi_issubclass, NULL },
        { "staticmethod", bi_staticmethod, NULL }, { "classmethod", bi_classmethod, NULL },
        { "set", bi_set, &bi_set_obj },
    };
    for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++)
        if (add_fn(b, fns[i].name, fns[i].fn, false, fns[i].keep) < 0) return -1;
    py_object_class = py_class_new("object", NULL, false);
    if (!py_object_class || py_dict_setstr(b, "object", py_object_class) < 0) return -1;
    tally_decref(py_object_class);   /* the builtins dict keeps it */
    none_type_obj = py_class_new("NoneType", NULL, false);
    if (!none_type_obj) return -1;
    if (py_dict_setstr(b, "$NoneType", none_type_obj) < 0) return -1;
    tally_decref(none_type_obj);

    list_methods = py_dict_new();
    dict_methods = py_dict_new();
    str_methods = py_dict_new();
    set_methods = py_dict_new();
    gen_methods = py_dict_new();
    if (!list_methods || !dict_methods || !str_methods || !set_methods || !gen_methods) return -1;
    struct { tally_object *d; const char *name; py_cfunc fn; } methods[] = {
        { list_methods, "append", list_append }, { list_methods, "pop", list_pop },
        { list_methods, "insert", list_insert }, { list_methods, "remove", list_remove },
        { list_methods, "index", list_index }, { list_methods, "count", list_count },
        { list_methods, "extend", list_extend }, { list_methods, "reverse", list_reverse },
        { list_methods, "copy", list_copy }, { list_methods, "clear", list_clear },
        { list_methods, "sort", list_sort_m },
        { dict_methods, "get", dict_get }, { dict_methods, "keys", dict_keys }, { dict_methods, "values", dict_values },
        { dict_methods, "items", dict_items }, { dict_methods, "pop", dict_pop },
        { dict_methods, "setdefault", dict_setdefault }, { dict_methods, "update", dict_update_m },
        { dict_methods, "copy", dict_copy }, { dict_methods, "clear", dict_clear_m },
        { str_methods, "join", str_join }, { str_methods, "split", str_split }, { str_methods, "strip", str_strip },
        { str_methods, "lstrip", str_lstrip }, { str_methods, "rstrip", str_rstrip }, { str_methods, "lower", str_lower },
        { str_methods, "upper", str_upper }, { str_methods, "startswith", str_startswith },
        { str_methods, "endswith", str_endswith }, { str_methods, "replace", str_replace },
        { str_methods, "find", str_find }, { str_methods, "count", str_count }, { str_methods, "isdigit", str_isdigit },
        { str_methods, "isalpha", str_isalpha }, { str_methods, "isspace", str_isspace },
        { str_methods, "splitlines", str_splitlines }, { str_methods, "format", str_format },
        { set_methods, "add", set_add }, { set_methods, "discard", set_discard }, { set_methods, "remove", set_remove },
        { set_methods, "clear", set_clear }, { set_methods, "copy", set_copy }, { set_methods, "update", set_update },
        { set_methods, "union", set_union }, { set_methods, "intersection", set_intersection },
        { set_methods, "difference", set_difference }, { set_methods, "issubset", set_issubset },
        { gen_methods, "send", py_gen_send }, { gen_methods, "close", py_gen_close },
    };
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++)
        if (add_fn(methods[i].d, methods[i].name, methods[i].fn, true, NULL) < 0) return -1;
    /* the method tables live as long as the builtins dict */
    if (py_dict_setstr(b, "$list_methods", list_methods) < 0 || py_dict_setstr(b, "$dict_methods", dict_methods) < 0 ||
        py_dict_setstr(b, "$str_methods", str_methods) < 0 || py_dict_setstr(b, "$set_methods", set_methods) < 0 ||
        py_dict_setstr(b, "$gen_methods", gen_methods) < 0)
        return -1;
    tally_decref(gen_methods);
    tally_decref(set_methods);
    tally_decref(list_methods);
    tally_decref(dict_methods);
    tally_decref(str_methods);

    /* sys */
    tally_object *sys = py_module_new("sys");
    if (!sys) return -1;
    I->sys_module = sys;
    tally_object *sd = ((py_module *)sys)->dict;
    py_stdout = make_file(stdout, "stdout");
    py_stderr = make_file(stderr, "stderr");
    tally_object *av = tally_list_new();
    if (!py_stdout || !py_stderr || !av) return -1;
    for (int i = 0; i < argc; i++) {
        tally_object *s = tally_str_new(argv[i]);
        if (!s || tally_list_append(av, s) < 0) {
            tally_xdecref(s);
            tally_decref(av);
            return -1;
        }
        tally_decref(s);
    }
    int r = 0;
    r |= py_dict_setstr(sd, "argv", av);
    r |= py_dict_setstr(sd, "stdout", py_stdout);
    r |= py_dict_setstr(sd, "stderr", py_stderr);
    r |= py_dict_setstr(sd, "modules", I->modules);
    r |= py_add_value(sd, "maxsize", tally_int_new(INT64_MAX));
    r |= py_add_value(sd, "platform", tally_str_new("linux"));
    r |= add_fn(sd, "exit", sys_exit, false, NULL);
    r |= add_fn(sd, "setrecursionlimit", sys_setrecursionlimit, false, NULL);
    r |= add_fn(sd, "getrecursionlimit", sys_getrecursionlimit, false, NULL);
    r |= py_dict_setstr(I->modules, "sys", sys);
    tally_decref(av);
    tally_decref(py_stdout);
    tally_decref(py_stderr);
    tally_decref(sys);
    return r ? -1 : 0;
}
