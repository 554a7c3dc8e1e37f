/* interp/mod_abc.c - the built-in module `abc`: ABC and abstractmethod.
 *
 * Owns: abc.abstractmethod (marks a function, or the function of a staticmethod/classmethod;
 * `f.__isabstractmethod__` reads the mark), abc.ABC, and the work CPython's ABCMeta does for
 * ABC's subclasses without a metaclass: when a class statement creates a subclass of ABC,
 * py_abc_class_created() computes the names of its abstract methods once (its own marked
 * entries, and the names its base lists that still resolve to a marked function), stores them
 * sorted as the tuple `__abstractmethods__` (CPython: a frozenset) and flags the class, and
 * calling a flagged class raises CPython 3.11's TypeError ("Can't instantiate abstract class C
 * with abstract method(s) a, b").  As in CPython, changing the class afterwards does not
 * recompute the names, and a class that does not derive from ABC is never checked.
 */
#include "interp.h"

#include <stdlib.h>
#include <string.h>

static bool is_abstract(tally_object *v)
{
    if (!v) return false;
    if (TYPE(v) == &py_smethod_type) v = ((py_smethod *)v)->func;
    return TYPE(v) == &py_function_type && ((py_function *)v)->abstract;
}

static tally_object *abc_abstractmethod(tally_object *self, tally_object *const *args, size_t nargs, tally_object *kwnames)
{
    (void)self;
    if (py_arg_count("abstractmethod", nargs, kwnames, 1, 1) < 0) return NULL;
    tally_object *f = args[0];
    tally_object *fn = TYPE(f) == &py_smethod_type ? ((py_smethod *)f)->func : f;
    if (TYPE(fn) != &py_function_type) {
        /* CPython sets the attribute: objects without a __dict__ refuse it */
        py_err_format(exc_AttributeError, "'%s' object has no attribute '__isabstractmethod__'", py_type_name(f));
        return NULL;
    }
    ((py_function *)fn)->abstract = true;   /* while the class body runs: not yet shared */
    return tally_newref(f);
}

/* the names, borrowed from the class dicts, kept sorted and without duplicates */
typedef struct { tally_object **v; size_t n, cap; } name_set;

static int names_add(name_set *s, tally_object *name)
{
    const char *k = tally_str_value(name);
    size_t i = 0;
    while (i < s->n && strcmp(tally_str_value(s->v[i]), k) < 0) i++;
    if (i < s->n && strcmp(tally_str_value(s->v[i]), k) == 0) return 0;
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 8;
        tally_object **v = realloc(s->v, cap * sizeof *v);
        if (!v) {
            py_err_nomem();
            return -1;
        }
        s->v = v;
        s->cap = cap;
    }
    memmove(s->v + i + 1, s->v + i, (s->n - i) * sizeof *s->v);
    s->v[i] = name;
    s->n++;
    return 0;
}

int py_abc_class_created(tally_object *cls)
{
    py_class *c = (py_class *)cls;
    py_class *base = (py_class *)c->base;
    if (!base || !base->abc) return 0;
    c->abc = true;
    name_set s = { NULL, 0, 0 };
    size_t pos = 0;
    tally_object *k, *v;
    while (py_dict_next(c->dict, &pos, &k, &v))
        if (IS_STR(k) && is_abstract(v) && names_add(&s, k) < 0) goto fail;
    bool err = false;
    tally_object *inherited = py_dict_lookup(base->dict, py_intern("__abstractmethods__"), &err);
    if (err) goto fail;
    if (inherited && IS_TUPLE(inherited)) {
        size_t n = tally_tuple_len(inherited);
        for (size_t i = 0; i < n; i++) {
            tally_object *name = tally_tuple_get(inherited, i);
            if (is_abstract(py_class_lookup(cls, name)) && names_add(&s, name) < 0) goto fail;
            if (py_err_occurred()) goto fail;
        }
    }
    tally_object *t = py_tuple_pack(s.n, s.v);
    if (!t) goto fail;
    int r = py_dict_setstr(c->dict, "__abstractmethods__", t);
    tally_decref(t);
    if (r < 0) goto fail;
    c->is_abstract = s.n > 0;
    free(s.v);
    return 0;
fail:
    free(s.v);
    return -1;
}

tally_object *py_abc_instantiate_error(tally_object *cls)
{
    py_class *c = (py_class *)cls;
    bool err = false;
    tally_object *names = py_dict_lookup(c->dict, py_intern("__abstractmethods__"), &err);
    if (err) return NULL;
    sbuf b;
    sb_init(&b);
    size_t n = names && IS_TUPLE(names) ? tally_tuple_len(names) : 0;
    for (size_t i = 0; i < n; i++) {
        if (i) sb_puts(&b, ", ");
        sb_puts(&b, tally_str_value(tally_tuple_get(names, i)));
    }
    if (b.oom) {
        sb_free(&b);
        return py_err_nomem();
    }
    py_err_format(exc_TypeError, "Can't instantiate abstract class %s with abstract method%s %s",
                  tally_str_value(c->name), n == 1 ? "" : "s", sb_cstr(&b));
    sb_free(&b);
    return NULL;
}

int mod_abc_init(tally_object *d)
{
    if (py_add_fn(d, "abstractmethod", abc_abstractmethod) < 0) return -1;
    tally_object *abc = py_class_new("ABC", py_object_class, false);
    if (!abc) return -1;
    ((py_class *)abc)->abc = true;
    tally_object *none = py_tuple_pack(0, NULL);
    int r = none ? py_dict_setstr(((py_class *)abc)->dict, "__abstractmethods__", none) : -1;
    tally_xdecref(none);
    if (r == 0) r = py_dict_setstr(d, "ABC", abc);
    tally_decref(abc);
    return r;
}
