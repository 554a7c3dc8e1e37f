/* interp/mod_math.c - the built-in module `math`.
 *
 * Owns: sqrt sin cos tan atan2 log exp floor ceil fabs isfinite isinf isnan and the constants
 * pi e inf nan, with CPython's errors (ValueError "math domain error" where the C result is NaN
 * from a number, OverflowError "math range error" where it overflows; floor and ceil return
 * ints, refusing infinities and NaN as CPython does).
 */
#include "interp.h"

#include <math.h>

/* one float argument; the C function's result checked as CPython's math_1 does */
static tally_object *math_1(const char *name, double (*fn)(double), tally_object *const *args, size_t nargs,
                            tally_object *kwnames, bool can_overflow)
{
    double x;
    if (py_arg_count(name, nargs, kwnames, 1, 1) < 0 || py_arg_double(args[0], &x) < 0) return NULL;
    double r = fn(x);
    if (isnan(r) && !isnan(x)) {
        py_err_set(exc_ValueError, "math domain error");
        return NULL;
    }
    if (isinf(r) && isfinite(x)) {
        if (can_overflow) py_err_set(exc_OverflowError, "math range error");
        else py_err_set(exc_ValueError, "math domain error");
        return NULL;
    }
    return py_float_new(r);
}

#define MATH_1(pyname, cfn, ovf) \
    static tally_object *m_##pyname(tally_object *self, tally_object *const *args, size_t nargs, tally_object *kwnames) \
    { (void)self; return math_1(#pyname, cfn, args, nargs, kwnames, ovf); }
MATH_1(sqrt, sqrt, false)
MATH_1(sin, sin, false)
MATH_1(cos, cos, false)
MATH_1(tan, tan, false)
MATH_1(exp, exp, true)
MATH_1(fabs, fabs, false)

static tally_object *m_atan2(tally_object *self, tally_object *const *args, size_t nargs, tally_object *kwnames)
{
    (void)self;
    double yx[2];
    if (py_args_doubles("atan2", args, nargs, kwnames, yx, 2) < 0) return NULL;
    return py_float_new(atan2(yx[0], yx[1]));
}

static tally_object *m_log(tally_object *self, tally_object *const *args, size_t nargs, tally_object *kwnames)
{
    (void)self;
    double x, base = 0;
    if (py_arg_count("log", nargs, kwnames, 1, 2) < 0 || py_arg_double(args[0], &x) < 0) return NULL;
    if (nargs == 2 && py_arg_double(args[1], &base) < 0) return NULL;
    if (x <= 0 || (nargs == 2 && (base <= 0 || base == 1))) {
        if (nargs == 2 && base == 1 && x > 0) py_err_set(exc_ZeroDivisionError, "float division by zero");
        else py_err_set(exc_ValueError, "math domain error");
        return NULL;
    }
    return py_float_new(nargs == 2 ? log(x) / log(base) : log(x));
}

static tally_object *round_to_int(const char *name, double (*fn)(double), tally_object *const *args, size_t nargs,
                                  tally_object *kwnames)
{
    if (py_arg_count(name, nargs, kwnames, 1, 1) < 0) return NULL;
    if (IS_INT(args[0])) return tally_newref(args[0]);
    double x;
    if (py_arg_double(args[0], &x) < 0) return NULL;
    if (isnan(x)) {
        py_err_set(exc_ValueError, "cannot convert float NaN to integer");
        return NULL;
    }
    if (isinf(x)) {
        py_err_set(exc_OverflowError, "cannot convert float infinity to integer");
        return NULL;
    }
    double r = fn(x);
    if (r >= 9223372036854775808.0 || r < -9223372036854775808.0) {
        py_err_set(exc_OverflowError, "integer beyond 64 bits (arbitrary precision is not supported)");
        return NULL;
    }
    return py_int_checked((__int128)(int64_t)r);
}

static tally_object *m_floor(tally_object *self, tally_object *const *args, size_t nargs, tally_object *kwnames)
{
    (void)self;
    return round_to_int("floor", floor, args, nargs, kwnames);
}

static tally_object *m_ceil(tally_object *self, tally_object *const *args, size_t nargs, tally_object *kwnames)
{
    (void)self;
    return round_to_int("ceil", ceil, args, nargs, kwnames);
}

static tally_object *classify(const char *name, int which, tally_object *const *args, size_t nargs, tally_object *kwnames)
{
    double x;
    if (py_arg_count(name, nargs, kwnames, 1, 1) < 0 || py_arg_double(args[0], &x) < 0) return NULL;
    bool r = which == 0 ? isfinite(x) : which == 1 ? isinf(x) : isnan(x);
    return tally_newref(py_bool(r));
}

static tally_object *m_isfinite(tally_object *self, tally_object *const *args, size_t nargs, tally_object *kwnames)
{
    (void)self;
    return classify("isfinite", 0, args, nargs, kwnames);
}

static tally_object *m_isinf(tally_object *self, tally_object *const *args, size_t nargs, tally_object *kwnames)
{
    (void)self;
    return classify("isinf", 1, args, nargs, kwnames);
}

static tally_object *m_isnan(tally_object *self, tally_object *const *args, size_t nargs, tally_object *kwnames)
{
    (void)self;
    return classify("isnan", 2, args, nargs, kwnames);
}

int mod_math_init(tally_object *d)
{
    static const struct { const char *name; py_cfunc fn; } fns[] = {
        { "sqrt", m_sqrt }, { "sin", m_sin }, { "cos", m_cos }, { "tan", m_tan }, { "atan2", m_atan2 },
        { "log", m_log }, { "exp", m_exp }, { "floor", m_floor }, { "ceil", m_ceil }, { "fabs", m_fabs },
        { "isfinite", m_isfinite }, { "isinf", m_isinf }, { "isnan", m_isnan },
    };
    for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++)
        if (py_add_fn(d, fns[i].name, fns[i].fn) < 0) return -1;
    if (py_add_value(d, "pi", py_float_new(M_PI)) < 0 || py_add_value(d, "e", py_float_new(M_E)) < 0 ||
        py_add_value(d, "inf", py_float_new(INFINITY)) < 0 || py_add_value(d, "nan", py_float_new(NAN)) < 0)
        return -1;
    return 0;
}
