/* interp/errors.c - exceptions: the built-in classes, the current exception, tracebacks.
 *
 * Owns: the exception class hierarchy of the subset (classes are py_class objects, so user
 * classes can derive from them later), raising (one current exception per interpreter, held
 * as a strong reference), matching for `except`, the traceback entries an exception collects
 * while frames unwind (a list of (code, line) pairs, innermost last added), and printing it
 * the way CPython 3.11 does (without the ~^~ markers).  Out of memory raises a MemoryError
 * instance made at start-up, so raising it never allocates.
 */
#include "interp.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

tally_object *exc_BaseException, *exc_Exception, *exc_TypeError, *exc_ValueError, *exc_KeyError,
    *exc_IndexError, *exc_AttributeError, *exc_ZeroDivisionError, *exc_OverflowError,
    *exc_RecursionError, *exc_NameError, *exc_UnboundLocalError, *exc_RuntimeError, *exc_StopIteration,
    *exc_MemoryError, *exc_SystemExit, *exc_NotImplementedError, *exc_AssertionError, *exc_ImportError,
    *exc_ArithmeticError, *exc_LookupError, *exc_KeyboardInterrupt, *exc_ModuleNotFoundError,
    *exc_GeneratorExit, *exc_SyntaxError;

static tally_object *memory_error_instance;

/* BaseException.__init__(self, *args): sets args, as CPython's does, so that a user exception's
 * __init__ can call super().__init__(message); the exception was made with all the call's
 * arguments as args, which stay when the user's __init__ does not call it */
static tally_object *exc_init(tally_object *self, tally_object *const *args, size_t nargs, tally_object *kwnames)
{
    if (kwnames && tally_tuple_len(kwnames)) {
        py_err_format(exc_TypeError, "%s() takes no keyword arguments", py_type_name(self));
        return NULL;
    }
    if (TYPE(self) != &py_instance_type || !((py_class *)((py_instance *)self)->cls)->is_exception) {
        py_err_format(exc_TypeError, "descriptor '__init__' requires a 'BaseException' object but received a '%s'",
                      py_type_name(self));
        return NULL;
    }
    tally_object *t = py_tuple_pack(nargs, args);
    if (!t) return NULL;
    /* exchanged whole; another thread may be reading the old tuple (py_getattr "args") */
    tally_object *old = tally_atomic_exchange_acq_rel(&((py_instance *)self)->args, t);
    if (old) py_decref_delayed(old);
    return tally_newref(py_None);
}

int errors_init(tally_object *builtins)
{
    struct { tally_object **slot; const char *name; tally_object **base; } table[] = {
        { &exc_BaseException, "BaseException", NULL },
        { &exc_SystemExit, "SystemExit", &exc_BaseException },
        { &exc_KeyboardInterrupt, "KeyboardInterrupt", &exc_BaseException },
        { &exc_GeneratorExit, "GeneratorExit", &exc_BaseException },
        { &exc_Exception, "Exception", &exc_BaseException },
        { &exc_ArithmeticError, "ArithmeticError", &exc_Exception },
        { &exc_ZeroDivisionError, "ZeroDivisionError", &exc_ArithmeticError },
        { &exc_OverflowError, "OverflowError", &exc_ArithmeticError },
        { &exc_LookupError, "LookupError", &exc_Exception },
        { &exc_KeyError, "KeyError", &exc_LookupError },
        { &exc_IndexError, "IndexError", &exc_LookupError },
        { &exc_TypeError, "TypeError", &exc_Exception },
        { &exc_ValueError, "ValueError", &exc_Exception },
        { &exc_AttributeError, "AttributeError", &exc_Exception },
        { &exc_NameError, "NameError", &exc_Exception },
        { &exc_UnboundLocalError, "UnboundLocalError", &exc_NameError },
        { &exc_RuntimeError, "RuntimeError", &exc_Exception },
        { &exc_RecursionError, "RecursionError", &exc_RuntimeError },
        { &exc_NotImplementedError, "NotImplementedError", &exc_RuntimeError },
        { &exc_StopIteration, "StopIteration", &exc_Exception },
        { &exc_MemoryError, "MemoryError", &exc_Exception },
        { &exc_AssertionError, "AssertionError", &exc_Exception },
        { &exc_ImportError, "ImportError", &exc_Exception },
        { &exc_ModuleNotFoundError, "ModuleNotFoundError", &exc_ImportError },
        { &exc_SyntaxError, "SyntaxError", &exc_Exception },
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        tally_object *c = py_class_new(table[i].name, table[i].base ? *table[i].base : NULL, true);
        if (!c) return -1;
        *table[i].slot = c;
        if (py_dict_setstr(builtins, table[i].name, c) < 0) return -1;
        /* the builtins dict holds it; the global pointer borrows (builtins live to the end) */
        tally_decref(c);
    }
    tally_object *init = py_builtin_new("__init__", exc_init, NULL);
    if (!init) return -1;
    ((py_builtin *)init)->method = true;
    int r = py_dict_setstr(((py_class *)exc_BaseException)->dict, "__init__", init);
    tally_decref(init);
    if (r < 0) return -1;
    tally_object *empty = tally_tuple_new(0, NULL);
    if (!empty) return -1;
    memory_error_instance = py_exc_new(exc_MemoryError, empty);
    tally_decref(empty);
    return memory_error_instance ? 0 : -1;
}

tally_object *py_exc_new(tally_object *cls, tally_object *args)
{
    py_instance *in = (py_instance *)tally_new(&py_instance_type);
    if (!in) {
        py_err_nomem();
        return NULL;
    }
    in->cls = tally_newref(cls);
    in->args = tally_newref(args);
    return (tally_object *)in;
}

tally_object *py_err_occurred(void) { return I->exc; }

void py_err_set_obj(tally_object *exc)
{
    tally_object *old = I->exc;
    I->exc = exc;
    tally_xdecref(old);
}

void py_err_set(tally_object *cls, const char *msg)
{
    tally_object *s = tally_str_new(msg);
    if (!s) {
        py_err_nomem();
        return;
    }
    tally_object *args = tally_tuple_new(1, &s);
    tally_decref(s);
    if (!args) {
        py_err_nomem();
        return;
    }
    tally_object *e = py_exc_new(cls, args);
    tally_decref(args);
    if (e)
        py_err_set_obj(e);
}

void py_err_format(tally_object *cls, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    py_err_set(cls, buf);
}

tally_object *py_err_fetch(void)
{
    tally_object *e = I->exc;
    I->exc = NULL;
    return e;
}

void py_err_clear(void) { py_err_set_obj(NULL); }

tally_object *py_err_nomem(void)
{
    if (memory_error_instance) {
        /* a fresh traceback each time */
        py_instance *in = (py_instance *)memory_error_instance;
        tally_object *tb = in->tb;
        in->tb = NULL;
        tally_xdecref(tb);
        py_err_set_obj(tally_newref(memory_error_instance));
    }
    return NULL;
}

bool py_class_is_subclass(tally_object *cls, tally_object *base)
{
    for (tally_object *c = cls; c; c = ((py_class *)c)->base)
        if (c == base)
            return true;
    return false;
}

bool py_exc_matches(tally_object *exc, tally_object *cls)
{
    if (TYPE(exc) != &py_instance_type)
        return false;
    return py_class_is_subclass(((py_instance *)exc)->cls, cls);
}

void py_tb_add(tally_object *exc, tally_object *code, int line)
{
    if (TYPE(exc) != &py_instance_type)
        return;
    py_instance *in = (py_instance *)exc;
    if (!in->tb && !(in->tb = tally_list_new()))
        return;   /* out of memory: the traceback is shorter */
    tally_object *ln = tally_int_new(line);
    if (!ln)
        return;
    tally_object *pair[2] = { code, ln };
    tally_object *t = tally_tuple_new(2, pair);
    tally_decref(ln);
    if (!t)
        return;
    tally_list_append(in->tb, t);
    tally_decref(t);
}

static void print_source_line(FILE *out, const char *src, int line)
{
    if (!src)
        return;
    const char *p = src;
    for (int l = 1; l < line && *p; l++) {
        p = strchr(p, '\n');
        if (!p) return;
        p++;
    }
    while (*p == ' ' || *p == '\t' || *p == '\f') p++;
    const char *e = p;
    while (*e && *e != '\n') e++;
    while (e > p && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r')) e--;
    if (e > p)
        fprintf(out, "    %.*s\n", (int)(e - p), p);
}

void py_print_exception(tally_object *exc, FILE *out)
{
    py_flush_stdout();
    if (TYPE(exc) != &py_instance_type) {
        fprintf(out, "error: %s\n", py_type_name(exc));
        return;
    }
    py_instance *in = (py_instance *)exc;
    if (in->tb && tally_list_len(in->tb)) {
        fprintf(out, "Traceback (most recent call last):\n");
        size_t n = tally_list_len(in->tb);
        /* CPython's traceback.py: after 3 identical entries in a row, one summary line */
        tally_object *last_code = NULL;
        int last_line = -1, count = 0;
        for (size_t i = n; i-- > 0;) {
            tally_object *t = tally_list_get(in->tb, i);
            if (!t) continue;
            py_code *co = (py_code *)tally_tuple_get(t, 0);
            int line = (int)tally_int_value(tally_tuple_get(t, 1));
            if ((tally_object *)co != last_code || line != last_line) {
                if (count > 3)
                    fprintf(out, "  [Previous line repeated %d more time%s]\n", count - 3, count - 3 > 1 ? "s" : "");
                last_code = (tally_object *)co;
                last_line = line;
                count = 0;
            }
            count++;
            if (count <= 3) {
                fprintf(out, "  File \"%s\", line %d, in %s\n", tally_str_value(co->filename), line,
                        tally_str_value(co->name));
                print_source_line(out, co->source, line);
            }
            tally_decref(t);
        }
        if (count > 3)
            fprintf(out, "  [Previous line repeated %d more time%s]\n", count - 3, count - 3 > 1 ? "s" : "");
    }
    sbuf b;
    sb_init(&b);
    int r = py_str_to(&b, exc);
    const char *name = tally_str_value(((py_class *)in->cls)->name);
    if (r < 0) {
        py_err_clear();
        fprintf(out, "%s: <exception str() failed>\n", name);
    } else if (b.len) {
        fprintf(out, "%s: %s\n", name, sb_cstr(&b));
    } else {
        fprintf(out, "%s\n", name);
    }
    sb_free(&b);
    fflush(out);
}
