/* interp/obj_number.c - arithmetic: binary and unary operators on every type of the subset.
 *
 * Owns: Python's numeric semantics on 64-bit ints (overflow raises OverflowError, never a
 * wrong number), floor division and modulo rounding towards negative infinity, true division,
 * int and float powers, shifts and bitwise operators (bool & bool stays bool), float
 * arithmetic with CPython's ZeroDivisionError messages, and the sequence operators (str, list
 * and tuple concatenation and repetition, and printf-style str % formatting).
 */
#include "interp.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const op_sym[BIN_COUNT] = { "+", "-", "*", "/", "//", "%", "** or pow()", "<<", ">>",
                                               "&", "|", "^", "@" };

static bool int_of(tally_object *o, int64_t *v)
{
    if (IS_INT(o)) { *v = tally_int_value(o); return true; }
    if (IS_BOOL(o)) { *v = ((py_boolobj *)o)->value; return true; }
    return false;
}
static bool float_of(tally_object *o, double *v)
{
    int64_t i;
    if (IS_FLOAT(o)) { *v = py_float_value(o); return true; }
    if (int_of(o, &i)) { *v = (double)i; return true; }
    return false;
}

static tally_object *int_result(int64_t v)
{
    tally_object *o = tally_int_new(v);
    if (!o) return py_err_nomem();
    return o;
}

static tally_object *overflow(void)
{
    py_err_set(exc_OverflowError, "integer result does not fit in 64 bits (this interpreter's ints are 64-bit)");
    return NULL;
}

static tally_object *int_pow(int64_t base, int64_t exp)
{
    if (exp < 0) {
        if (base == 0) {
            py_err_set(exc_ZeroDivisionError, "0.0 cannot be raised to a negative power");
            return NULL;
        }
        return py_float_new(pow((double)base, (double)exp));
    }
    int64_t result = 1;
    int64_t b = base;
    while (exp) {
        if (exp & 1) {
            if (__builtin_mul_overflow(result, b, &result)) return overflow();
        }
        exp >>= 1;
        if (exp && __builtin_mul_overflow(b, b, &b)) return overflow();
    }
    return int_result(result);
}

static tally_object *int_binary(int op, int64_t a, int64_t b, bool both_bool)
{
    int64_t r;
    switch (op) {
    case BIN_ADD: if (__builtin_add_overflow(a, b, &r)) return overflow(); return int_result(r);
    case BIN_SUB: if (__builtin_sub_overflow(a, b, &r)) return overflow(); return int_result(r);
    case BIN_MUL: if (__builtin_mul_overflow(a, b, &r)) return overflow(); return int_result(r);
    case BIN_TRUEDIV:
        if (b == 0) { py_err_set(exc_ZeroDivisionError, "division by zero"); return NULL; }
        return py_float_new((double)a / (double)b);
    case BIN_FLOORDIV: case BIN_MOD: {
        if (b == 0) {
            py_err_set(exc_ZeroDivisionError, op == BIN_MOD ? "integer modulo by zero" : "integer division or modulo by zero");
            return NULL;
        }
        if (a == INT64_MIN && b == -1) {
            if (op == BIN_MOD) return int_result(0);
            return overflow();
        }
        int64_t q = a / b, m = a % b;
        if (m != 0 && ((m < 0) != (b < 0))) {
            q -= 1;
            m += b;
        }
        return int_result(op == BIN_MOD ? m : q);
    }
    case BIN_POW: return int_pow(a, b);
    case BIN_LSHIFT:
        if (b < 0) { py_err_set(exc_ValueError, "negative shift count"); return NULL; }
        if (a == 0) return int_result(0);
        if (b >= 63) return overflow();
        r = (int64_t)((uint64_t)a << b);
        if ((r >> b) != a) return overflow();
        return int_result(r);
    case BIN_RSHIFT:
        if (b < 0) { py_err_set(exc_ValueError, "negative shift count"); return NULL; }
        return int_result(b >= 63 ? (a < 0 ? -1 : 0) : a >> b);
    case BIN_AND: return both_bool ? py_bool(a & b) : int_result(a & b);
    case BIN_OR: return both_bool ? py_bool(a | b) : int_result(a | b);
    case BIN_XOR: return both_bool ? py_bool(a ^ b) : int_result(a ^ b);
    }
    return NULL;
}

static tally_object *float_binary(int op, double a, double b)
{
    switch (op) {
    case BIN_ADD: return py_float_new(a + b);
    case BIN_SUB: return py_float_new(a - b);
    case BIN_MUL: return py_float_new(a * b);
    case BIN_TRUEDIV:
        if (b == 0) { py_err_set(exc_ZeroDivisionError, "float division by zero"); return NULL; }
        return py_float_new(a / b);
    case BIN_FLOORDIV: case BIN_MOD: {
        if (b == 0) {
            py_err_set(exc_ZeroDivisionError, op == BIN_MOD ? "float modulo" : "float floor division by zero");
            return NULL;
        }
        double mod = fmod(a, b);
        double div = (a - mod) / b;
        if (mod != 0) {
            if ((b < 0) != (mod < 0)) {
                mod += b;
                div -= 1.0;
            }
        } else {
            mod = copysign(0.0, b);
        }
        double floordiv;
        if (div != 0) {
            floordiv = floor(div);
            if (div - floordiv > 0.5) floordiv += 1.0;
        } else {
            floordiv = copysign(0.0, a / b);
        }
        return py_float_new(op == BIN_MOD ? mod : floordiv);
    }
    case BIN_POW: {
        if (a == 0 && b < 0) {
            py_err_set(exc_ZeroDivisionError, "0.0 cannot be raised to a negative power");
            return NULL;
        }
        if (a < 0 && b != floor(b)) {
            py_err_set(exc_ValueError, "complex results are not supported by this interpreter");
            return NULL;
        }
        double r = pow(a, b);
        if (isinf(r) && !isinf(a) && !isinf(b)) {
            py_err_set(exc_OverflowError, "(34, 'Numerical result out of range')");
            return NULL;
        }
        return py_float_new(r);
    }
    }
    return NULL;
}

static tally_object *seq_repeat(tally_object *seq, int64_t n)
{
    if (n < 0) n = 0;
    if (IS_STR(seq)) {
        const char *s = tally_str_value(seq);
        size_t len = strlen(s);
        if (len && (uint64_t)n > (SIZE_MAX / 2) / len) return py_err_nomem();
        char *buf = malloc(len * (size_t)n + 1);
        if (!buf) return py_err_nomem();
        for (int64_t i = 0; i < n; i++) memcpy(buf + (size_t)i * len, s, len);
        buf[len * (size_t)n] = 0;
        tally_object *r = tally_str_new(buf);
        free(buf);
        if (!r) return py_err_nomem();
        return r;
    }
    if (IS_LIST(seq)) {
        tally_object *r = tally_list_new();
        if (!r) return py_err_nomem();
        size_t len = tally_list_len(seq);
        for (int64_t i = 0; i < n && len; i++) {
            for (size_t k = 0; k < len; k++) {
                tally_object *it = tally_list_get(seq, k);
                if (!it) break;
                int rc = tally_list_append(r, it);
                tally_decref(it);
                if (rc < 0) {
                    tally_decref(r);
                    return py_err_nomem();
                }
            }
            if (i % 1024 == 1023) tally_safepoint();
        }
        return r;
    }
    size_t len = tally_tuple_len(seq);
    if (len && (uint64_t)n > (SIZE_MAX / sizeof(void *) / 2) / len) return py_err_nomem();
    tally_object **items = malloc(sizeof(tally_object *) * (len * (size_t)n + 1));
    if (!items) return py_err_nomem();
    for (int64_t i = 0; i < n; i++)
        for (size_t k = 0; k < len; k++)
            items[(size_t)i * len + k] = tally_tuple_get(seq, k);
    tally_object *r = py_tuple_pack(len * (size_t)n, items);
    free(items);
    return r;
}

static tally_object *seq_concat(tally_object *a, tally_object *b)
{
    if (IS_STR(a)) {
        const char *x = tally_str_value(a), *y = tally_str_value(b);
        size_t nx = strlen(x), ny = strlen(y);
        char buf[512];
        char *t = nx + ny < sizeof buf ? buf : malloc(nx + ny + 1);
        if (!t) return py_err_nomem();
        memcpy(t, x, nx);
        memcpy(t + nx, y, ny + 1);
        tally_object *r = tally_str_new(t);
        if (t != buf) free(t);
        if (!r) return py_err_nomem();
        return r;
    }
    if (IS_LIST(a)) {
        tally_object *r = tally_list_new();
        if (!r) return py_err_nomem();
        for (int pass = 0; pass < 2; pass++) {
            tally_object *src = pass ? b : a;
            size_t n = tally_list_len(src);
            for (size_t i = 0; i < n; i++) {
                tally_object *it = tally_list_get(src, i);
                if (!it) break;
                int rc = tally_list_append(r, it);
                tally_decref(it);
                if (rc < 0) {
                    tally_decref(r);
                    return py_err_nomem();
                }
            }
        }
        return r;
    }
    size_t na = tally_tuple_len(a), nb = tally_tuple_len(b);
    tally_object **items = malloc(sizeof(tally_object *) * (na + nb + 1));
    if (!items) return py_err_nomem();
    for (size_t i = 0; i < na; i++) items[i] = tally_tuple_get(a, i);
    for (size_t i = 0; i < nb; i++) items[na + i] = tally_tuple_get(b, i);
    tally_object *r = py_tuple_pack(na + nb, items);
    free(items);
    return r;
}

static bool is_seq(tally_object *o) { return IS_STR(o) || IS_LIST(o) || IS_TUPLE(o); }

/* printf-style formatting: "%s %d %r %f" % args (flags - + space 0 #, width, precision, and the
 * conversions s r a d i u f F e E g G x X o c %) */
static tally_object *str_percent(tally_object *fmtobj, tally_object *args)
{
    const char *f = tally_str_value(fmtobj);
    size_t nargs = IS_TUPLE(args) ? tally_tuple_len(args) : 1;
    size_t ai = 0;
    sbuf out;
    sb_init(&out);
    for (; *f; f++) {
        if (*f != '%') {
            sb_putc(&out, *f);
            continue;
        }
        f++;
        if (*f == '%') {
            sb_putc(&out, '%');
            continue;
        }
        if (*f == '(') {
            sb_free(&out);
            py_err_set(exc_NotImplementedError, "'%(name)' formatting is not supported yet");
            return NULL;
        }
        char spec[32];
        size_t k = 0;
        char fill_flags[8];
        size_t nf = 0;
        while (*f && strchr("-+ 0#", *f) && nf < sizeof fill_flags - 1) fill_flags[nf++] = *f++;
        fill_flags[nf] = 0;
        int width = 0, prec = -1;
        while (*f >= '0' && *f <= '9') width = width * 10 + (*f++ - '0');
        if (*f == '.') {
            f++;
            prec = 0;
            while (*f >= '0' && *f <= '9') prec = prec * 10 + (*f++ - '0');
        }
        char conv = *f;
        if (!conv) {
            sb_free(&out);
            py_err_set(exc_ValueError, "incomplete format");
            return NULL;
        }
        if (ai >= nargs) {
            sb_free(&out);
            py_err_set(exc_TypeError, "not enough arguments for format string");
            return NULL;
        }
        tally_object *v = IS_TUPLE(args) ? tally_tuple_get(args, ai) : args;
        ai++;
        bool left = strchr(fill_flags, '-') != NULL;
        sbuf piece;
        sb_init(&piece);
        if (conv == 's' || conv == 'r' || conv == 'a') {
            int r = conv == 's' ? py_str_to(&piece, v) : py_repr_to(&piece, v, 0);
            if (r < 0) {
                sb_free(&piece);
                sb_free(&out);
                return NULL;
            }
            if (prec >= 0 && piece.len > (size_t)prec) {
                piece.len = (size_t)prec;
                piece.data[piece.len] = 0;
            }
        } else if (strchr("diuxXoc", conv)) {
            int64_t iv;
            double dv;
            if (IS_FLOAT(v) && conv != 'c') {
                dv = py_float_value(v);
                if (isnan(dv) || isinf(dv)) {
                    sb_free(&piece);
                    sb_free(&out);
                    py_err_set(isnan(dv) ? exc_ValueError : exc_OverflowError, "cannot convert float to integer");
                    return NULL;
                }
                iv = (int64_t)dv;
            } else if (!int_of(v, &iv)) {
                sb_free(&piece);
                sb_free(&out);
                py_err_format(exc_TypeError, "%%%c format: a real number is required, not %s", conv, py_type_name(v));
                return NULL;
            }
            if (conv == 'c') {
                sb_putc(&piece, (char)iv);
            } else {
                spec[k++] = '%';
                for (size_t i = 0; i < nf; i++) if (fill_flags[i] != '-') spec[k++] = fill_flags[i];
                spec[k++] = 'l';
                spec[k++] = 'l';
                spec[k++] = conv == 'i' || conv == 'u' ? 'd' : conv;
                spec[k] = 0;
                sb_printf(&piece, spec, (long long)iv);
            }
        } else if (strchr("fFeEgG", conv)) {
            double dv;
            if (!float_of(v, &dv)) {
                sb_free(&piece);
                sb_free(&out);
                py_err_format(exc_TypeError, "must be real number, not %s", py_type_name(v));
                return NULL;
            }
            spec[k++] = '%';
            for (size_t i = 0; i < nf; i++) if (fill_flags[i] != '-') spec[k++] = fill_flags[i];
            spec[k++] = '.';
            spec[k++] = '*';
            spec[k++] = conv;
            spec[k] = 0;
            sb_printf(&piece, spec, prec < 0 ? 6 : prec, dv);
        } else {
            sb_free(&piece);
            sb_free(&out);
            py_err_format(exc_ValueError, "unsupported format character '%c' (0x%x)", conv, (unsigned)(unsigned char)conv);
            return NULL;
        }
        size_t len = piece.len;
        bool zero = strchr(fill_flags, '0') && !left && conv != 's' && conv != 'r';
        if (!left && !zero) for (size_t i = len; i < (size_t)width; i++) sb_putc(&out, ' ');
        if (zero && len < (size_t)width) {
            /* zero padding after the sign */
            const char *p = sb_cstr(&piece);
            if (*p == '-' || *p == '+' || *p == ' ') sb_putc(&out, *p++);
            for (size_t i = len; i < (size_t)width; i++) sb_putc(&out, '0');
            sb_puts(&out, p);
        } else {
            sb_puts(&out, sb_cstr(&piece));
        }
        if (left) for (size_t i = len; i < (size_t)width; i++) sb_putc(&out, ' ');
        sb_free(&piece);
    }
    if (ai < nargs) {
        sb_free(&out);
        py_err_set(exc_TypeError, "not all arguments converted during string formatting");
        return NULL;
    }
    if (out.oom) {
        sb_free(&out);
        return py_err_nomem();
    }
    tally_object *r = tally_str_new(sb_cstr(&out));
    sb_free(&out);
    return r ? r : py_err_nomem();
}

/* set | & - ^ */
static tally_object *set_op(int op, tally_object *a, tally_object *b)
{
    tally_object *r = py_set_new();
    if (!r) return NULL;
    for (int pass = 0; pass < 2; pass++) {
        tally_object *src = pass ? b : a;
        tally_object *other = pass ? a : b;
        size_t pos = 0;
        tally_object *k;
        while (py_dict_next(src, &pos, &k, NULL)) {
            bool err = false;
            tally_incref(k);   /* the lookup may run __eq__ (a quiescent point) */
            bool in_other = py_dict_lookup(other, k, &err) != NULL;
            bool keep = op == BIN_OR || (op == BIN_AND && in_other && !pass) || (op == BIN_SUB && !pass && !in_other) ||
                        (op == BIN_XOR && !in_other);
            int rc = err ? -1 : keep ? py_dict_set(r, k, py_None) : 0;
            tally_decref(k);
            if (rc < 0) goto fail;
        }
        if (op == BIN_AND || op == BIN_SUB) break;
    }
    return r;
fail:
    tally_decref(r);
    return NULL;
}

tally_object *py_binary(int op, tally_object *a, tally_object *b)
{
    if (IS_SET(a) && IS_SET(b) && (op == BIN_OR || op == BIN_AND || op == BIN_SUB || op == BIN_XOR))
        return set_op(op, a, b);
    int64_t ia, ib;
    double fa, fb;
    if (int_of(a, &ia) && int_of(b, &ib))
        return int_binary(op, ia, ib, IS_BOOL(a) && IS_BOOL(b));
    if ((IS_FLOAT(a) || IS_FLOAT(b)) && float_of(a, &fa) && float_of(b, &fb) &&
        op != BIN_LSHIFT && op != BIN_RSHIFT && op != BIN_AND && op != BIN_OR && op != BIN_XOR && op != BIN_MATMUL)
        return float_binary(op, fa, fb);
    if (op == BIN_ADD && is_seq(a) && TYPE(a) == TYPE(b))
        return seq_concat(a, b);
    if (op == BIN_MUL) {
        if (is_seq(a) && int_of(b, &ib)) return seq_repeat(a, ib);
        if (is_seq(b) && int_of(a, &ia)) return seq_repeat(b, ia);
        if (is_seq(a) || is_seq(b)) {
            py_err_format(exc_TypeError, "can't multiply sequence by non-int of type '%s'",
                          py_type_name(is_seq(a) ? b : a));
            return NULL;
        }
    }
    if (op == BIN_ADD && IS_STR(a)) {
        py_err_format(exc_TypeError, "can only concatenate str (not \"%s\") to str", py_type_name(b));
        return NULL;
    }
    if (op == BIN_ADD && (IS_LIST(a) || IS_TUPLE(a))) {
        py_err_format(exc_TypeError, "can only concatenate %s (not \"%s\") to %s", py_type_name(a), py_type_name(b),
                      py_type_name(a));
        return NULL;
    }
    if (TYPE(a) == &py_instance_type || TYPE(b) == &py_instance_type) {
        static const char *const names[BIN_COUNT] = { "__add__", "__sub__", "__mul__", "__truediv__", "__floordiv__",
            "__mod__", "__pow__", "__lshift__", "__rshift__", "__and__", "__or__", "__xor__", "__matmul__" };
        static const char *const rnames[BIN_COUNT] = { "__radd__", "__rsub__", "__rmul__", "__rtruediv__",
            "__rfloordiv__", "__rmod__", "__rpow__", "__rlshift__", "__rrshift__", "__rand__", "__ror__", "__rxor__",
            "__rmatmul__" };
        bool found;
        tally_object *r = py_call_dunder(a, names[op], &b, 1, &found);
        if (r || found || py_err_occurred()) return r;
        r = py_call_dunder(b, rnames[op], &a, 1, &found);
        if (r || found || py_err_occurred()) return r;
    }
    if (op == BIN_MOD && IS_STR(a))
        return str_percent(a, b);
    py_err_format(exc_TypeError, "unsupported operand type(s) for %s: '%s' and '%s'", op_sym[op], py_type_name(a),
                  py_type_name(b));
    return NULL;
}

tally_object *py_unary(int op, tally_object *a)
{
    int64_t i;
    if (op == UN_NOT) {
        int t = py_truth(a);
        if (t < 0) return NULL;
        return py_bool(!t);
    }
    if (int_of(a, &i)) {
        if (op == UN_NEG) {
            if (i == INT64_MIN) return overflow();
            return int_result(-i);
        }
        if (op == UN_POS) return int_result(i);
        return int_result(~i);
    }
    if (IS_FLOAT(a) && op != UN_INVERT)
        return py_float_new(op == UN_NEG ? -py_float_value(a) : py_float_value(a));
    if (TYPE(a) == &py_instance_type) {
        bool found;
        tally_object *r = py_call_dunder(a, op == UN_NEG ? "__neg__" : op == UN_POS ? "__pos__" : "__invert__", NULL, 0, &found);
        if (r || found || py_err_occurred()) return r;
    }
    py_err_format(exc_TypeError, "bad operand type for unary %s: '%s'", op == UN_NEG ? "-" : op == UN_POS ? "+" : "~",
                  py_type_name(a));
    return NULL;
}
