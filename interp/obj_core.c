/* interp/obj_core.c - the interpreter's scalar types and the generic object protocol.
 *
 * Owns: float and bool (True/False are immortal singletons; bool counts as an int in
 * arithmetic, as in Python), type names for messages, truth testing, repr/str (floats in
 * Python's shortest round-trip form), hashing with Python's rules (1 == 1.0 == True hash alike;
 * lists and dicts are unhashable), equality and ordering across types (== of unrelated types
 * is False, < raises TypeError), and len().
 */
#include "interp.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

tally_object *py_None, *py_True, *py_False;

const tally_type py_float_type = { .name = "float", .size = sizeof(py_float) };
const tally_type py_bool_type = { .name = "bool", .size = sizeof(py_boolobj) };

tally_object *py_float_new(double v)
{
    tally_object *o = tally_new(&py_float_type);
    if (!o)
        return py_err_nomem();
    ((py_float *)o)->value = v;
    return o;
}

tally_object *py_str_from(const char *s, size_t n)
{
    char buf[256];
    char *tmp = n < sizeof buf ? buf : malloc(n + 1);
    if (!tmp)
        return py_err_nomem();
    memcpy(tmp, s, n);
    tmp[n] = 0;
    tally_object *o = tally_str_new(tmp);
    if (tmp != buf)
        free(tmp);
    if (!o)
        return py_err_nomem();
    return o;
}

tally_object *py_int_checked(__int128 v)
{
    if (v > INT64_MAX || v < INT64_MIN) {
        py_err_set(exc_OverflowError, "integer result does not fit in 64 bits (this interpreter's ints are 64-bit)");
        return NULL;
    }
    tally_object *o = tally_int_new((int64_t)v);
    if (!o)
        return py_err_nomem();
    return o;
}

tally_object *py_tuple_pack(size_t n, tally_object *const *items)
{
    tally_object *t = tally_tuple_new(n, items);
    if (!t)
        return py_err_nomem();
    return t;
}

int objects_init(void)
{
    py_None = tally_none();
    py_True = tally_new(&py_bool_type);
    py_False = tally_new(&py_bool_type);
    if (!py_True || !py_False)
        return -1;
    ((py_boolobj *)py_True)->value = 1;
    tally_set_immortal(py_True);
    tally_set_immortal(py_False);
    return 0;
}

const char *py_type_name(tally_object *o)
{
    if (o == py_None)
        return "NoneType";
    if (TYPE(o) == &py_instance_type)
        return tally_str_value(((py_class *)((py_instance *)o)->cls)->name);
    if (TYPE(o) == &py_class_type)
        return "type";
    return TYPE(o)->name;
}

int64_t py_len(tally_object *o)
{
    const tally_type *t = TYPE(o);
    if (t == &tally_str_type) return (int64_t)py_str_len(o);
    if (t == &tally_list_type) return (int64_t)tally_list_len(o);
    if (t == &tally_tuple_type) return (int64_t)tally_tuple_len(o);
    if (t == &py_dict_type || t == &py_set_type) return (int64_t)py_dict_size(o);
    if (t == &py_range_type) return ((py_range *)o)->len;
    if (t == &py_dictview_type) return (int64_t)py_dict_size(((py_dictview *)o)->dict);
    if (t == &py_class_type && ((py_class *)o)->is_enum) {
        tally_object *members = py_enum_members(o);   /* len(E): its members (mod_enum.c) */
        if (!members) return -1;
        int64_t n = (int64_t)tally_list_len(members);
        tally_decref(members);
        return n;
    }
    if (t == &py_instance_type) {
        bool found;
        tally_object *r = py_call_dunder(o, "__len__", NULL, 0, &found);
        if (r) {
            /* CPython: an int (or bool) of at least 0; r's type is read before it is released */
            if (!IS_INT(r) && !IS_BOOL(r)) {
                py_err_format(exc_TypeError, "'%s' object cannot be interpreted as an integer", py_type_name(r));
                tally_decref(r);
                return -1;
            }
            int64_t n = IS_INT(r) ? tally_int_value(r) : ((py_boolobj *)r)->value;
            tally_decref(r);
            if (n < 0) {
                py_err_set(exc_ValueError, "__len__() should return >= 0");
                return -1;
            }
            return n;
        }
        if (found || py_err_occurred()) return -1;
    }
    py_err_format(exc_TypeError, "object of type '%s' has no len()", py_type_name(o));
    return -1;
}

int py_truth(tally_object *o)
{
    if (o == py_True) return 1;
    if (o == py_False || o == py_None) return 0;
    const tally_type *t = TYPE(o);
    if (t == &tally_int_type) return tally_int_value(o) != 0;
    if (t == &py_float_type) return py_float_value(o) != 0.0;
    if (t == &tally_str_type) return tally_str_value(o)[0] != 0;
    if (t == &tally_list_type || t == &tally_tuple_type || t == &py_dict_type || t == &py_range_type ||
        t == &py_dictview_type || t == &py_set_type) {
        int64_t n = py_len(o);
        return n < 0 ? -1 : n != 0;
    }
    if (t == &py_instance_type) {
        bool found;
        tally_object *r = py_call_dunder(o, "__bool__", NULL, 0, &found);
        if (r) {
            int b = r == py_True ? 1 : r == py_False ? 0 : -1;
            tally_decref(r);
            if (b < 0) py_err_set(exc_TypeError, "__bool__ should return bool");
            return b;
        }
        if (found || py_err_occurred()) return -1;
        if (py_class_lookup(((py_instance *)o)->cls, py_intern("__len__"))) {
            int64_t n = py_len(o);
            return n < 0 ? -1 : n != 0;
        }
    }
    return 1;
}

/* ---- repr / str ------------------------------------------------------------------------------ */
void py_float_repr(sbuf *b, double x)
{
    if (isnan(x)) { sb_puts(b, "nan"); return; }
    if (isinf(x)) { sb_puts(b, x > 0 ? "inf" : "-inf"); return; }
    if (x == 0) { sb_puts(b, signbit(x) ? "-0.0" : "0.0"); return; }
    char buf[64];
    int prec;
    for (prec = 1; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*e", prec - 1, x);
        if (strtod(buf, NULL) == x)
            break;
    }
    /* buf: [-]d.ddde[+-]XX; digits and exponent */
    char digits[32];
    int nd = 0;
    const char *p = buf;
    bool neg = false;
    if (*p == '-') { neg = true; p++; }
    for (; *p && *p != 'e'; p++)
        if (*p >= '0' && *p <= '9') digits[nd++] = *p;
    int exp = atoi(p + 1);
    while (nd > 1 && digits[nd - 1] == '0') nd--;
    if (neg) sb_putc(b, '-');
    if (exp < -4 || exp >= 16) {
        sb_putc(b, digits[0]);
        if (nd > 1) {
            sb_putc(b, '.');
            sb_putn(b, digits + 1, (size_t)nd - 1);
        }
        sb_printf(b, "e%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
        return;
    }
    if (exp < 0) {
        sb_puts(b, "0.");
        for (int i = 0; i < -exp - 1; i++) sb_putc(b, '0');
        sb_putn(b, digits, (size_t)nd);
        return;
    }
    for (int i = 0; i <= exp; i++) sb_putc(b, i < nd ? digits[i] : '0');
    sb_putc(b, '.');
    if (nd > exp + 1) sb_putn(b, digits + exp + 1, (size_t)(nd - exp - 1));
    else sb_putc(b, '0');
}

static void str_repr(sbuf *b, const char *s)
{
    char q = (strchr(s, '\'') && !strchr(s, '"')) ? '"' : '\'';
    sb_putc(b, q);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == (unsigned char)q || c == '\\') { sb_putc(b, '\\'); sb_putc(b, (char)c); }
        else if (c == '\n') sb_puts(b, "\\n");
        else if (c == '\r') sb_puts(b, "\\r");
        else if (c == '\t') sb_puts(b, "\\t");
        else if (c < 32 || c == 127) sb_printf(b, "\\x%02x", c);
        else sb_putc(b, (char)c);
    }
    sb_putc(b, q);
}

int py_repr_to(sbuf *b, tally_object *o, int depth)
{
    if (py_c_stack_exhausted())
        return -1;
    if (depth > PY_MAX_NEST * 5) {
        py_err_set(exc_RecursionError, "maximum recursion depth exceeded while getting the repr of an object");
        return -1;
    }
    const tally_type *t = TYPE(o);
    if (o == py_None) { sb_puts(b, "None"); return 0; }
    if (o == py_True) { sb_puts(b, "True"); return 0; }
    if (o == py_False) { sb_puts(b, "False"); return 0; }
    if (t == &tally_int_type) { sb_printf(b, "%lld", (long long)tally_int_value(o)); return 0; }
    if (t == &py_float_type) { py_float_repr(b, py_float_value(o)); return 0; }
    if (t == &tally_str_type) { str_repr(b, tally_str_value(o)); return 0; }
    if (t == &tally_list_type || t == &tally_tuple_type) {
        bool list = t == &tally_list_type;
        sb_putc(b, list ? '[' : '(');
        size_t n = list ? tally_list_len(o) : tally_tuple_len(o);
        for (size_t i = 0; i < n; i++) {
            if (i) sb_puts(b, ", ");
            tally_object *it = list ? tally_list_get(o, i) : tally_newref(tally_tuple_get(o, i));
            if (!it) break;   /* the list shrank meanwhile */
            if (it == o) {
                sb_puts(b, list ? "[...]" : "(...)");
                tally_decref(it);
                continue;
            }
            int r = py_repr_to(b, it, depth + 1);
            tally_decref(it);
            if (r < 0) return -1;
        }
        if (!list && n == 1) sb_putc(b, ',');
        sb_putc(b, list ? ']' : ')');
        return 0;
    }
    if (t == &py_dict_type) {
        sb_putc(b, '{');
        bool first = true;
        size_t pos = 0;
        tally_object *k, *v;
        while (py_dict_next(o, &pos, &k, &v)) {
            if (!first) sb_puts(b, ", ");
            first = false;
            tally_incref(k);
            tally_incref(v);
            int r = py_repr_to(b, k, depth + 1);
            sb_puts(b, ": ");
            if (r == 0) r = v == o ? (sb_puts(b, "{...}"), 0) : py_repr_to(b, v, depth + 1);
            tally_decref(k);
            tally_decref(v);
            if (r < 0) return -1;
        }
        sb_putc(b, '}');
        return 0;
    }
    if (t == &py_set_type) {
        if (!py_dict_size(o)) {
            sb_puts(b, "set()");
            return 0;
        }
        sb_putc(b, '{');
        bool first = true;
        size_t pos = 0;
        tally_object *k;
        while (py_dict_next(o, &pos, &k, NULL)) {
            if (!first) sb_puts(b, ", ");
            first = false;
            tally_incref(k);
            int r = py_repr_to(b, k, depth + 1);
            tally_decref(k);
            if (r < 0) return -1;
        }
        sb_putc(b, '}');
        return 0;
    }
    if (t == &py_range_type) {
        py_range *r = (py_range *)o;
        if (r->step == 1) sb_printf(b, "range(%lld, %lld)", (long long)r->start, (long long)r->stop);
        else sb_printf(b, "range(%lld, %lld, %lld)", (long long)r->start, (long long)r->stop, (long long)r->step);
        return 0;
    }
    if (t == &py_function_type) {
        sb_printf(b, "<function %s at %p>", tally_str_value(((py_code *)((py_function *)o)->code)->qualname), (void *)o);
        return 0;
    }
    if (t == &py_builtin_type) {
        py_builtin *f = (py_builtin *)o;
        if (f->self)
            sb_printf(b, "<built-in method %s of %s object at %p>", f->name, py_type_name(f->self), (void *)f->self);
        else
            sb_printf(b, "<built-in function %s>", f->name);
        return 0;
    }
    if (t == &py_class_type) {
        py_class *c = (py_class *)o;
        sb_printf(b, "<class '%s%s'>", c->is_exception || !c->base ? "" : "__main__.", tally_str_value(c->name));
        return 0;
    }
    if (t == &py_module_type) {
        sb_printf(b, "<module '%s' (built-in)>", tally_str_value(((py_module *)o)->name));
        return 0;
    }
    if (t == &py_instance_type) {
        py_instance *in = (py_instance *)o;
        py_class *c = (py_class *)in->cls;
        if (c->is_exception) {
            sb_puts(b, tally_str_value(c->name));
            if (in->args && tally_tuple_len(in->args) == 1) {
                sb_putc(b, '(');
                if (py_repr_to(b, tally_tuple_get(in->args, 0), depth + 1) < 0) return -1;
                sb_putc(b, ')');
                return 0;
            }
            return py_repr_to(b, in->args ? in->args : py_None, depth + 1);
        }
        bool found;
        tally_object *r = py_call_dunder(o, "__repr__", NULL, 0, &found);
        if (found || r) {
            if (!r) return -1;
            if (!IS_STR(r)) {
                py_err_format(exc_TypeError, "__repr__ returned non-string (type %s)", py_type_name(r));
                tally_decref(r);
                return -1;
            }
            sb_puts(b, tally_str_value(r));
            tally_decref(r);
            return 0;
        }
        if (py_err_occurred()) return -1;
        sb_printf(b, "<__main__.%s object at %p>", tally_str_value(c->name), (void *)o);
        return 0;
    }
    if (t == &py_dictview_type) {
        py_dictview *v = (py_dictview *)o;
        static const char *names[] = { "dict_keys", "dict_values", "dict_items" };
        sb_printf(b, "%s([", names[v->kind]);
        bool first = true;
        size_t pos = 0;
        tally_object *ek, *ev;
        while (py_dict_next(v->dict, &pos, &ek, &ev)) {
            if (!first) sb_puts(b, ", ");
            first = false;
            tally_incref(ek);
            tally_incref(ev);
            int r = 0;
            if (v->kind == 2) sb_putc(b, '(');
            if (v->kind != 1) r = py_repr_to(b, ek, depth + 1);
            if (v->kind == 2) sb_puts(b, ", ");
            if (r == 0 && v->kind != 0) r = py_repr_to(b, ev, depth + 1);
            if (v->kind == 2) sb_putc(b, ')');
            tally_decref(ek);
            tally_decref(ev);
            if (r < 0) return -1;
        }
        sb_puts(b, "])");
        return 0;
    }
    if (t == &py_file_type) {
        sb_printf(b, "<_io.TextIOWrapper name='<%s>' mode='w' encoding='utf-8'>", ((py_file *)o)->name);
        return 0;
    }
    sb_printf(b, "<%s object at %p>", t->name, (void *)o);
    return 0;
}

int py_str_to(sbuf *b, tally_object *o)
{
    if (IS_STR(o)) {
        sb_puts(b, tally_str_value(o));
        return 0;
    }
    if (TYPE(o) == &py_instance_type) {
        bool found;
        tally_object *r = py_call_dunder(o, "__str__", NULL, 0, &found);
        if (found || r) {
            if (!r) return -1;
            if (!IS_STR(r)) {
                py_err_format(exc_TypeError, "__str__ returned non-string (type %s)", py_type_name(r));
                tally_decref(r);
                return -1;
            }
            sb_puts(b, tally_str_value(r));
            tally_decref(r);
            return 0;
        }
        if (py_err_occurred()) return -1;
        if (!((py_class *)((py_instance *)o)->cls)->is_exception)
            return py_repr_to(b, o, 0);
    }
    if (TYPE(o) == &py_instance_type && ((py_class *)((py_instance *)o)->cls)->is_exception) {
        tally_object *args = ((py_instance *)o)->args;
        size_t n = args ? tally_tuple_len(args) : 0;
        if (n == 0) return 0;
        if (n == 1) {
            tally_object *a = tally_tuple_get(args, 0);
            if (py_exc_matches(o, exc_KeyError))
                return py_repr_to(b, a, 0);
            return py_str_to(b, a);
        }
        return py_repr_to(b, args, 0);
    }
    return py_repr_to(b, o, 0);
}

static tally_object *sb_to_str(sbuf *b)
{
    if (b->oom) {
        sb_free(b);
        return py_err_nomem();
    }
    tally_object *s = tally_str_new(sb_cstr(b));
    sb_free(b);
    if (!s)
        return py_err_nomem();
    return s;
}

tally_object *py_repr(tally_object *o)
{
    sbuf b;
    sb_init(&b);
    if (py_repr_to(&b, o, 0) < 0) {
        sb_free(&b);
        return NULL;
    }
    return sb_to_str(&b);
}

tally_object *py_str(tally_object *o)
{
    if (IS_STR(o))
        return tally_newref(o);
    sbuf b;
    sb_init(&b);
    if (py_str_to(&b, o) < 0) {
        sb_free(&b);
        return NULL;
    }
    return sb_to_str(&b);
}

/* ---- hashing and equality -------------------------------------------------------------------- */
#define HASH_MODULUS (((int64_t)1 << 61) - 1)

static int64_t hash_int(int64_t v)
{
    /* CPython: |v| mod (2**61 - 1) with v's sign; -1 becomes -2 */
    uint64_t m = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    int64_t h = (int64_t)(m % (uint64_t)HASH_MODULUS);
    if (v < 0) h = -h;
    return h == -1 ? -2 : h;
}

int64_t py_hash(tally_object *o, bool *err)
{
    const tally_type *t = TYPE(o);
    if (t == &tally_int_type) return hash_int(tally_int_value(o));
    if (t == &py_bool_type) return ((py_boolobj *)o)->value;
    if (t == &tally_str_type) {
        uint64_t h = 1469598103934665603ull;
        for (const unsigned char *s = (const unsigned char *)tally_str_value(o); *s; s++)
            h = (h ^ *s) * 1099511628211ull;
        int64_t r = (int64_t)(h >> 1);
        return r == -1 ? -2 : r;
    }
    if (t == &py_float_type) {
        double x = py_float_value(o);
        if (x == floor(x) && fabs(x) < 9.2e18)
            return hash_int((int64_t)x);
        if (isinf(x)) return x > 0 ? 314159 : -314159;
        if (isnan(x)) return (int64_t)((uintptr_t)o >> 4);
        uint64_t bits;
        memcpy(&bits, &x, sizeof bits);
        return (int64_t)((bits ^ (bits >> 29)) >> 2);
    }
    if (t == &tally_tuple_type) {
        if (py_c_stack_exhausted()) {
            *err = true;
            return -1;
        }
        uint64_t acc = 2870177450012600261ull;
        size_t n = tally_tuple_len(o);
        for (size_t i = 0; i < n; i++) {
            int64_t h = py_hash(tally_tuple_get(o, i), err);
            if (*err) return -1;
            acc += (uint64_t)h * 14029467366897019727ull;
            acc = (acc << 31) | (acc >> 33);
            acc *= 11400714785074694791ull;
        }
        acc += n ^ (2870177450012600261ull ^ 3527539ul);
        int64_t r = (int64_t)(acc >> 1);
        return r == -1 ? -2 : r;
    }
    if (t == &py_instance_type) {
        bool found;
        tally_object *r = py_call_dunder(o, "__hash__", NULL, 0, &found);
        if (r) {
            int64_t h = IS_INT(r) ? tally_int_value(r) : 0;
            bool ok = IS_INT(r);
            tally_decref(r);
            if (!ok) {
                py_err_set(exc_TypeError, "__hash__ method should return an integer");
                *err = true;
                return -1;
            }
            return h == -1 ? -2 : h;
        }
        if (found || py_err_occurred()) {
            *err = true;
            return -1;
        }
        if (py_class_lookup(((py_instance *)o)->cls, py_intern("__eq__"))) {
            py_err_format(exc_TypeError, "unhashable type: '%s'", py_type_name(o));
            *err = true;
            return -1;
        }
    }
    if (t == &tally_list_type || t == &py_dict_type || t == &py_set_type) {
        py_err_format(exc_TypeError, "unhashable type: '%s'", py_type_name(o));
        *err = true;
        return -1;
    }
    return (int64_t)((uintptr_t)o >> 4);
}

static bool as_number(tally_object *o, int64_t *iv, double *fv, bool *is_float)
{
    const tally_type *t = TYPE(o);
    if (t == &tally_int_type) { *iv = tally_int_value(o); *is_float = false; return true; }
    if (t == &py_bool_type) { *iv = ((py_boolobj *)o)->value; *is_float = false; return true; }
    if (t == &py_float_type) { *fv = py_float_value(o); *is_float = true; return true; }
    return false;
}

/* compare an int with a float exactly (no rounding of the int) */
static int cmp_int_float(int64_t i, double f)
{
    if (isnan(f)) return 2;   /* unordered */
    if (f >= 9.3e18) return -1;
    if (f <= -9.3e18) return 1;
    double fl = floor(f);
    int64_t fi = (int64_t)fl;
    if (i < fi) return -1;
    if (i > fi) return 1;
    return f > fl ? -1 : 0;
}

/* three-way comparison of numbers: -1, 0, 1, or 2 (unordered: NaN) */
static int num_cmp(tally_object *a, tally_object *b)
{
    int64_t ia = 0, ib = 0;
    double fa = 0, fb = 0;
    bool xa = false, xb = false;
    as_number(a, &ia, &fa, &xa);
    as_number(b, &ib, &fb, &xb);
    if (!xa && !xb) return ia < ib ? -1 : ia > ib;
    if (xa && xb) {
        if (isnan(fa) || isnan(fb)) return 2;
        return fa < fb ? -1 : fa > fb;
    }
    if (!xa) return cmp_int_float(ia, fb);
    int r = cmp_int_float(ib, fa);
    return r == 2 ? 2 : -r;
}

static bool is_number(tally_object *o)
{
    const tally_type *t = TYPE(o);
    return t == &tally_int_type || t == &py_bool_type || t == &py_float_type;
}

static int seq_compare(tally_object *a, tally_object *b, int op, int *result);

int py_eq(tally_object *a, tally_object *b)
{
    if (a == b) {
        if (IS_FLOAT(a) && isnan(py_float_value(a))) return 0;
        return 1;
    }
    const tally_type *ta = TYPE(a), *tb = TYPE(b);
    if (ta == &tally_int_type && tb == &tally_int_type)
        return tally_int_value(a) == tally_int_value(b);
    if (ta == &tally_str_type && tb == &tally_str_type)
        return strcmp(tally_str_value(a), tally_str_value(b)) == 0;
    if (ta == &py_instance_type || tb == &py_instance_type) {
        for (int side = 0; side < 2; side++) {
            tally_object *x = side ? b : a, *y = side ? a : b;
            bool found;
            tally_object *r = py_call_dunder(x, "__eq__", &y, 1, &found);
            if (r) {
                int t = py_truth(r);
                tally_decref(r);
                return t;
            }
            if (found || py_err_occurred()) return -1;
        }
        return 0;
    }
    if (is_number(a) && is_number(b))
        return num_cmp(a, b) == 0;
    if (ta != tb)
        return 0;
    if ((ta == &tally_tuple_type || ta == &tally_list_type || ta == &py_dict_type) && py_c_stack_exhausted())
        return -1;
    if (ta == &tally_tuple_type || ta == &tally_list_type) {
        int r;
        if (seq_compare(a, b, CMP_EQ, &r) < 0) return -1;
        return r;
    }
    if (ta == &py_dict_type) {
        if (py_dict_size(a) != py_dict_size(b)) return 0;
        size_t pos = 0;
        tally_object *k, *v;
        while (py_dict_next(a, &pos, &k, &v)) {
            bool err = false;
            tally_incref(k);
            tally_incref(v);
            tally_object *w = py_dict_lookup(b, k, &err);
            if (w) tally_incref(w);
            int r = err ? -1 : !w ? 0 : py_eq(v, w);
            tally_xdecref(w);
            tally_decref(k);
            tally_decref(v);
            if (r <= 0) return r;
        }
        return 1;
    }
    if (ta == &py_set_type) {
        if (py_dict_size(a) != py_dict_size(b)) return 0;
        size_t pos = 0;
        tally_object *k;
        while (py_dict_next(a, &pos, &k, NULL)) {
            bool err = false;
            tally_incref(k);
            tally_object *w = py_dict_lookup(b, k, &err);
            tally_decref(k);
            if (err) return -1;
            if (!w) return 0;
        }
        return 1;
    }
    if (ta == &py_range_type) {
        py_range *x = (py_range *)a, *y = (py_range *)b;
        if (x->len != y->len) return 0;
        if (x->len == 0) return 1;
        if (x->start != y->start) return 0;
        return x->len == 1 || x->step == y->step;
    }
    return 0;
}

static const char *cmp_sym[] = { "<", "<=", "==", "!=", ">", ">=" };

static int apply3(int c, int op)
{
    switch (op) {
    case CMP_LT: return c == -1;
    case CMP_LE: return c == -1 || c == 0;
    case CMP_EQ: return c == 0;
    case CMP_NE: return c != 0;
    case CMP_GT: return c == 1;
    case CMP_GE: return c == 1 || c == 0;
    }
    return 0;
}

static int seq_compare(tally_object *a, tally_object *b, int op, int *result)
{
    bool list = IS_LIST(a);
    size_t na = list ? tally_list_len(a) : tally_tuple_len(a);
    size_t nb = list ? tally_list_len(b) : tally_tuple_len(b);
    if ((op == CMP_EQ || op == CMP_NE) && na != nb) {
        *result = op == CMP_NE;
        return 0;
    }
    size_t i;
    for (i = 0; i < na && i < nb; i++) {
        tally_object *x = list ? tally_list_get(a, i) : tally_newref(tally_tuple_get(a, i));
        tally_object *y = list ? tally_list_get(b, i) : tally_newref(tally_tuple_get(b, i));
        if (!x || !y) {
            tally_xdecref(x);
            tally_xdecref(y);
            break;
        }
        int e = py_eq(x, y);
        if (e == 0) {
            if (op == CMP_EQ || op == CMP_NE) {
                *result = op == CMP_NE;
            } else {
                int r = py_compare_bool(x, y, op);
                if (r < 0) {
                    tally_decref(x);
                    tally_decref(y);
                    return -1;
                }
                *result = r;
            }
            tally_decref(x);
            tally_decref(y);
            return 0;
        }
        tally_decref(x);
        tally_decref(y);
        if (e < 0) return -1;
    }
    int c = na < nb ? -1 : na > nb;
    *result = apply3(c, op);
    return 0;
}

int py_compare_bool(tally_object *a, tally_object *b, int op)
{
    if (op == CMP_EQ || op == CMP_NE) {
        int r = py_eq(a, b);
        if (r < 0) return -1;
        return op == CMP_EQ ? r : !r;
    }
    const tally_type *ta = TYPE(a), *tb = TYPE(b);
    if (ta == &tally_int_type && tb == &tally_int_type) {
        int64_t x = tally_int_value(a), y = tally_int_value(b);
        return apply3(x < y ? -1 : x > y, op);
    }
    if (is_number(a) && is_number(b)) {
        int c = num_cmp(a, b);
        return c == 2 ? 0 : apply3(c, op);
    }
    if (ta == &tally_str_type && tb == &tally_str_type) {
        int c = strcmp(tally_str_value(a), tally_str_value(b));
        return apply3(c < 0 ? -1 : c > 0, op);
    }
    if (ta == tb && (ta == &tally_tuple_type || ta == &tally_list_type)) {
        if (py_c_stack_exhausted())
            return -1;
        int r;
        if (seq_compare(a, b, op, &r) < 0) return -1;
        return r;
    }
    if (ta == &py_instance_type || tb == &py_instance_type) {
        static const char *const names[] = { "__lt__", "__le__", "__eq__", "__ne__", "__gt__", "__ge__" };
        static const int reflected[] = { CMP_GT, CMP_GE, CMP_EQ, CMP_NE, CMP_LT, CMP_LE };
        bool found;
        tally_object *r = py_call_dunder(a, names[op], &b, 1, &found);
        if (!r && !found && !py_err_occurred())
            r = py_call_dunder(b, names[reflected[op]], &a, 1, &found);
        if (r) {
            int t = py_truth(r);
            tally_decref(r);
            return t;
        }
        if (found || py_err_occurred()) return -1;
    }
    py_err_format(exc_TypeError, "'%s' not supported between instances of '%s' and '%s'", cmp_sym[op],
                  py_type_name(a), py_type_name(b));
    return -1;
}

tally_object *py_compare(tally_object *a, tally_object *b, int op)
{
    int r = py_compare_bool(a, b, op);
    if (r < 0) return NULL;
    return py_bool(r);
}
