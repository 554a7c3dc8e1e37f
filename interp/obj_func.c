/* interp/obj_func.c - code, functions, built-in functions, classes, instances, modules.
 *
 * Owns: the object types the evaluation loop calls and looks attributes up on (code objects,
 * Python functions, built-in functions and methods, bound methods, classes with single
 * inheritance, instances with a dict, exception instances with args and a traceback, modules,
 * the two file objects), attribute get/set, method lookup for LOAD_METHOD, calls of everything
 * that is not a Python function (those run in eval.c), and f-string field formatting.
 */
#include "interp.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- code ------------------------------------------------------------------------------------ */
static void code_destroy(tally_object *self)
{
    py_code *c = (py_code *)self;
    free(c->instrs);
    free(c->lines);
    free(c->caches);
    free(c->constv);
    free(c->namev);
    free(c->freeslots);
    tally_xdecref(c->consts);
    tally_xdecref(c->names);
    tally_xdecref(c->varnames);
    tally_xdecref(c->name);
    tally_xdecref(c->qualname);
    tally_xdecref(c->filename);
}
const tally_type py_code_type = { .name = "code", .size = sizeof(py_code), .destroy = code_destroy };

/* ---- functions -------------------------------------------------------------------------------- */
static int func_traverse(tally_object *self, tally_visitproc visit, void *arg)
{
    py_function *f = (py_function *)self;
    int r;
    if (f->code && (r = visit(f->code, arg))) return r;
    if (f->globals && (r = visit(f->globals, arg))) return r;
    if (f->defaults && (r = visit(f->defaults, arg))) return r;
    if (f->name && (r = visit(f->name, arg))) return r;
    if (f->owner && (r = visit(f->owner, arg))) return r;
    if (f->closure && (r = visit(f->closure, arg))) return r;
    if (f->kwdefaults && (r = visit(f->kwdefaults, arg))) return r;
    return 0;
}
static int func_clear(tally_object *self)
{
    py_function *f = (py_function *)self;
    tally_object *g = f->globals, *d = f->defaults, *o = f->owner, *c = f->closure;
    f->globals = NULL;
    f->defaults = NULL;
    f->owner = NULL;
    f->closure = NULL;
    tally_xdecref(c);
    tally_object *kd = f->kwdefaults;
    f->kwdefaults = NULL;
    tally_xdecref(kd);
    tally_xdecref(g);
    tally_xdecref(d);
    tally_xdecref(o);
    return 0;
}
static void func_destroy(tally_object *self)
{
    py_function *f = (py_function *)self;
    func_clear(self);
    tally_xdecref(f->code);
    tally_xdecref(f->name);
}
const tally_type py_function_type = { .name = "function", .size = sizeof(py_function), .flags = TALLY_TYPE_GC,
                                      .traverse = func_traverse, .clear = func_clear, .destroy = func_destroy };

/* ---- cells (closures) ------------------------------------------------------------------------ */
PY_ONE_REF_SLOTS(cell, py_cell, ref)
const tally_type py_cell_type = { .name = "cell", .size = sizeof(py_cell), .flags = TALLY_TYPE_GC,
                                  .traverse = cell_traverse, .clear = cell_clear, .destroy = cell_destroy };

/* ---- staticmethod / classmethod ------------------------------------------------------------ */
static int sm_traverse(tally_object *self, tally_visitproc visit, void *arg)
{
    py_smethod *m = (py_smethod *)self;
    return m->func ? visit(m->func, arg) : 0;
}
static int sm_clear(tally_object *self)
{
    py_smethod *m = (py_smethod *)self;
    tally_object *f = m->func;
    m->func = NULL;
    tally_xdecref(f);
    return 0;
}
static void sm_destroy(tally_object *self) { sm_clear(self); }
const tally_type py_smethod_type = { .name = "staticmethod", .size = sizeof(py_smethod), .flags = TALLY_TYPE_GC,
                                     .traverse = sm_traverse, .clear = sm_clear, .destroy = sm_destroy };

/* what a class attribute becomes when read through an instance or the class (new reference) */
static tally_object *bind_class_attr(tally_object *v, tally_object *inst, tally_object *cls)
{
    if (TYPE(v) == &py_smethod_type) {
        py_smethod *sm = (py_smethod *)v;
        if (sm->kind == 0) return tally_newref(sm->func);
        inst = cls;
        v = sm->func;
    } else if (inst && TYPE(v) == &py_builtin_type && ((py_builtin *)v)->method && !((py_builtin *)v)->self) {
        /* a built-in method in a class dict (BaseException.__init__), bound to the instance */
        return py_builtin_new(((py_builtin *)v)->name, ((py_builtin *)v)->fn, inst);
    } else if (!inst || TYPE(v) != &py_function_type) {
        return tally_newref(v);
    }
    py_method *m = (py_method *)tally_new(&py_method_type);
    if (!m) return py_err_nomem();
    m->self = tally_newref(inst);
    m->func = tally_newref(v);
    return (tally_object *)m;
}

/* ---- built-in functions ------------------------------------------------------------------- */
static int builtin_traverse(tally_object *self, tally_visitproc visit, void *arg)
{
    py_builtin *b = (py_builtin *)self;
    return b->self ? visit(b->self, arg) : 0;
}
static int builtin_clear(tally_object *self)
{
    py_builtin *b = (py_builtin *)self;
    tally_object *s = b->self;
    b->self = NULL;
    tally_xdecref(s);
    return 0;
}
static void builtin_destroy(tally_object *self) { builtin_clear(self); }
const tally_type py_builtin_type = { .name = "builtin_function_or_method", .size = sizeof(py_builtin),
                                     .flags = TALLY_TYPE_GC, .traverse = builtin_traverse,
                                     .clear = builtin_clear, .destroy = builtin_destroy };

tally_object *py_builtin_new(const char *name, py_cfunc fn, tally_object *self)
{
    py_builtin *b = (py_builtin *)tally_new(&py_builtin_type);
    if (!b) return py_err_nomem();
    b->name = name;
    b->fn = fn;
    b->self = self ? tally_newref(self) : NULL;
    return (tally_object *)b;
}

/* ---- bound methods ------------------------------------------------------------------------- */
static int method_traverse(tally_object *self, tally_visitproc visit, void *arg)
{
    py_method *m = (py_method *)self;
    int r;
    if (m->self && (r = visit(m->self, arg))) return r;
    if (m->func && (r = visit(m->func, arg))) return r;
    return 0;
}
static int method_clear(tally_object *self)
{
    py_method *m = (py_method *)self;
    tally_object *s = m->self, *f = m->func;
    m->self = m->func = NULL;
    tally_xdecref(s);
    tally_xdecref(f);
    return 0;
}
static void method_destroy(tally_object *self) { method_clear(self); }
const tally_type py_method_type = { .name = "method", .size = sizeof(py_method), .flags = TALLY_TYPE_GC,
                                    .traverse = method_traverse, .clear = method_clear, .destroy = method_destroy };

/* ---- classes and instances ------------------------------------------------------------------ */
static int class_traverse(tally_object *self, tally_visitproc visit, void *arg)
{
    py_class *c = (py_class *)self;
    int r;
    if (c->name && (r = visit(c->name, arg))) return r;
    if (c->base && (r = visit(c->base, arg))) return r;
    if (c->dict && (r = visit(c->dict, arg))) return r;
    return 0;
}
static int class_clear(tally_object *self)
{
    py_class *c = (py_class *)self;
    tally_object *b = c->base, *d = c->dict;
    c->base = c->dict = NULL;
    tally_xdecref(b);
    tally_xdecref(d);
    return 0;
}
static void class_destroy(tally_object *self)
{
    class_clear(self);
    tally_xdecref(((py_class *)self)->name);
}
const tally_type py_class_type = { .name = "type", .size = sizeof(py_class), .flags = TALLY_TYPE_GC,
                                   .traverse = class_traverse, .clear = class_clear, .destroy = class_destroy };

tally_object *py_class_new(const char *name, tally_object *base, bool is_exc)
{
    py_class *c = (py_class *)tally_new(&py_class_type);
    if (!c) return py_err_nomem();
    c->name = tally_str_new(name);
    c->dict = py_dict_new();
    c->base = base ? tally_newref(base) : NULL;
    c->is_exception = is_exc;
    if (!c->name || !c->dict) {
        tally_decref((tally_object *)c);
        return py_err_nomem();
    }
    return (tally_object *)c;
}

static int inst_traverse(tally_object *self, tally_visitproc visit, void *arg)
{
    py_instance *in = (py_instance *)self;
    int r;
    if (in->cls && (r = visit(in->cls, arg))) return r;
    if (in->dict && (r = visit(in->dict, arg))) return r;
    if (in->args && (r = visit(in->args, arg))) return r;
    if (in->tb && (r = visit(in->tb, arg))) return r;
    return 0;
}
static int inst_clear(tally_object *self)
{
    py_instance *in = (py_instance *)self;
    tally_object *d = in->dict, *a = in->args, *t = in->tb;
    in->dict = in->args = in->tb = NULL;
    tally_xdecref(d);
    tally_xdecref(a);
    tally_xdecref(t);
    return 0;
}
static void inst_destroy(tally_object *self)
{
    inst_clear(self);
    tally_object *c = ((py_instance *)self)->cls;
    ((py_instance *)self)->cls = NULL;
    tally_xdecref(c);
}
const tally_type py_instance_type = { .name = "object", .size = sizeof(py_instance), .flags = TALLY_TYPE_GC,
                                      .traverse = inst_traverse, .clear = inst_clear, .destroy = inst_destroy };

/* ---- modules and files -------------------------------------------------------------------- */
static int module_traverse(tally_object *self, tally_visitproc visit, void *arg)
{
    py_module *m = (py_module *)self;
    int r;
    if (m->name && (r = visit(m->name, arg))) return r;
    if (m->dict && (r = visit(m->dict, arg))) return r;
    return 0;
}
static int module_clear(tally_object *self)
{
    py_module *m = (py_module *)self;
    tally_object *d = m->dict;
    m->dict = NULL;
    tally_xdecref(d);
    return 0;
}
static void module_destroy(tally_object *self)
{
    module_clear(self);
    tally_xdecref(((py_module *)self)->name);
}
const tally_type py_module_type = { .name = "module", .size = sizeof(py_module), .flags = TALLY_TYPE_GC,
                                    .traverse = module_traverse, .clear = module_clear, .destroy = module_destroy };

tally_object *py_module_new(const char *name)
{
    py_module *m = (py_module *)tally_new(&py_module_type);
    if (!m) return py_err_nomem();
    m->name = tally_str_new(name);
    m->dict = py_dict_new();
    if (!m->name || !m->dict) {
        tally_decref((tally_object *)m);
        return py_err_nomem();
    }
    py_dict_mark_shared(m->dict);   /* globals: read without the mutex (LOAD_GLOBAL) */
    return (tally_object *)m;
}

const tally_type py_file_type = { .name = "TextIOWrapper", .size = sizeof(py_file) };

/* ---- super ---------------------------------------------------------------------------------- */
static int super_traverse(tally_object *self, tally_visitproc visit, void *arg)
{
    py_super *s = (py_super *)self;
    int r;
    if (s->cls && (r = visit(s->cls, arg))) return r;
    if (s->obj && (r = visit(s->obj, arg))) return r;
    return 0;
}
static int super_clear(tally_object *self)
{
    py_super *s = (py_super *)self;
    tally_object *c = s->cls, *o = s->obj;
    s->cls = s->obj = NULL;
    tally_xdecref(c);
    tally_xdecref(o);
    return 0;
}
static void super_destroy(tally_object *self) { super_clear(self); }
const tally_type py_super_type = { .name = "super", .size = sizeof(py_super), .flags = TALLY_TYPE_GC,
                                   .traverse = super_traverse, .clear = super_clear, .destroy = super_destroy };

tally_object *py_object_class;

/* ---- interned names ------------------------------------------------------------------------- */
/* Keyed by the address of a string literal: the dunder names the runtime looks up by C string. */
/* Threads: entries are written before ninterned is raised (release) and never change after,
 * so readers scan without a lock (acquire); insertions are serialised by intern_mu, which is
 * never held across an allocation (tally_new may park for a stop-the-world). */
static struct { const char *key; tally_object *str; } interned[128];
static int ninterned;
static py_mutex intern_mu;

static tally_object *intern_find(const char *s, int from, int to)
{
    for (int i = from; i < to; i++)
        if (interned[i].key == s)
            return interned[i].str;
    return NULL;
}

tally_object *py_intern(const char *s)
{
    int n = tally_atomic_load_acquire(&ninterned);
    tally_object *found = intern_find(s, 0, n);
    if (found)
        return found;
    tally_object *o = tally_str_new(s);
    if (!o)
        return NULL;
    py_mutex_lock(&intern_mu);
    int m = ninterned;
    found = intern_find(s, n, m);   /* another thread may have added it meanwhile */
    if (!found && m < (int)(sizeof interned / sizeof interned[0])) {
        tally_set_immortal(o);
        interned[m].key = s;
        interned[m].str = o;
        tally_atomic_store_release(&ninterned, m + 1);
        found = o;
        o = NULL;
    }
    py_mutex_unlock(&intern_mu);
    if (!found) {   /* the table is full: the caller gets a string of its own (immortal: kept) */
        tally_set_immortal(o);
        return o;
    }
    if (o) tally_decref(o);
    return found;
}

tally_object *py_call_dunder(tally_object *obj, const char *name, tally_object *const *args, size_t nargs, bool *found)
{
    *found = false;
    if (TYPE(obj) != &py_instance_type)
        return NULL;
    tally_object *key = py_intern(name);
    if (!key)
        return py_err_nomem();
    tally_object *m = py_class_lookup(((py_instance *)obj)->cls, key);
    if (!m)
        return NULL;
    *found = true;
    tally_object *stack[8];
    if (nargs > 6) {
        py_err_set(exc_TypeError, "too many arguments");
        return NULL;
    }
    stack[0] = obj;
    for (size_t i = 0; i < nargs; i++) stack[i + 1] = args[i];
    tally_incref(m);
    tally_object *r = py_call(m, stack, nargs + 1, NULL);
    tally_decref(m);
    return r;
}

/* ---- attributes ---------------------------------------------------------------------------- */
tally_object *py_class_lookup(tally_object *cls, tally_object *name)
{
    if (!name)
        return py_err_nomem();   /* py_intern ran out of memory */
    for (tally_object *c = cls; c; c = ((py_class *)c)->base) {
        bool err = false;
        tally_object *v = py_dict_lookup(((py_class *)c)->dict, name, &err);
        if (err) return NULL;   /* the exception stays set */
        if (v) return v;
    }
    return NULL;
}

static tally_object *no_attr(tally_object *o, tally_object *name)
{
    if (TYPE(o) == &py_module_type)
        py_err_format(exc_AttributeError, "module '%s' has no attribute '%s'",
                      tally_str_value(((py_module *)o)->name), tally_str_value(name));
    else if (TYPE(o) == &py_class_type)
        py_err_format(exc_AttributeError, "type object '%s' has no attribute '%s'",
                      tally_str_value(((py_class *)o)->name), tally_str_value(name));
    else
        py_err_format(exc_AttributeError, "'%s' object has no attribute '%s'", py_type_name(o), tally_str_value(name));
    return NULL;
}

tally_object *py_getattr(tally_object *o, tally_object *name)
{
    const tally_type *t = TYPE(o);
    const char *n = tally_str_value(name);
    if (t == &py_local_type)
        return py_local_getattr(o, name);
    if (t == &py_super_type) {
        py_super *sp = (py_super *)o;
        tally_object *v = py_class_lookup(((py_class *)sp->cls)->base, name);
        if (!v) {
            py_err_format(exc_AttributeError, "'super' object has no attribute '%s'", n);
            return NULL;
        }
        tally_object *objcls = TYPE(sp->obj) == &py_instance_type ? ((py_instance *)sp->obj)->cls : sp->obj;
        return bind_class_attr(v, TYPE(sp->obj) == &py_instance_type ? sp->obj : NULL, objcls);
    }
    if (t == &py_instance_type) {
        py_instance *in = (py_instance *)o;
        tally_object *idict = tally_atomic_load_acquire(&in->dict);   /* set once: py_setattr */
        if (idict) {
            bool err = false;
            tally_object *v = py_dict_lookup(idict, name, &err);
            if (err) return NULL;
            if (v) return tally_newref(v);
        }
        if (strcmp(n, "args") == 0 && ((py_class *)in->cls)->is_exception)
            return tally_newref(in->args ? in->args : py_None);
        if (strcmp(n, "__class__") == 0)
            return tally_newref(in->cls);
        tally_object *v = py_class_lookup(in->cls, name);
        if (v) return bind_class_attr(v, o, in->cls);
        return no_attr(o, name);
    }
    if (t == &py_module_type) {
        tally_object *v = py_dict_getstr(((py_module *)o)->dict, n);
        if (v) return tally_newref(v);
        if (strcmp(n, "__name__") == 0) return tally_newref(((py_module *)o)->name);
        return no_attr(o, name);
    }
    if (t == &py_class_type) {
        if (strcmp(n, "__name__") == 0) return tally_newref(((py_class *)o)->name);
        tally_object *v = py_class_lookup(o, name);
        if (v) return bind_class_attr(v, NULL, o);
        return no_attr(o, name);
    }
    if (t == &py_function_type && strcmp(n, "__name__") == 0)
        return tally_newref(tally_atomic_load_acquire(&((py_function *)o)->name));   /* see py_setattr */
    if (t == &py_method_type && strcmp(n, "__name__") == 0)
        return py_getattr(((py_method *)o)->func, name);   /* a bound method's is its function's */
    if (t == &py_function_type && ((py_function *)o)->abstract && strcmp(n, "__isabstractmethod__") == 0)
        return tally_newref(py_True);   /* set by abc.abstractmethod (mod_abc.c) */
    if (t == &py_builtin_type && strcmp(n, "__name__") == 0) {
        tally_object *s = tally_str_new(((py_builtin *)o)->name);
        return s ? s : py_err_nomem();
    }
    tally_object *m = builtin_method_lookup(o, name);
    if (m) return py_builtin_new(((py_builtin *)m)->name, ((py_builtin *)m)->fn, o);
    if (py_err_occurred()) return NULL;
    return no_attr(o, name);
}

int py_setattr(tally_object *o, tally_object *name, tally_object *v)
{
    const tally_type *t = TYPE(o);
    tally_object *d = NULL;
    if (t == &py_instance_type) {
        py_instance *in = (py_instance *)o;
        /* the attribute dict is made on the first store; two threads may race to make it: the
         * first compare-and-swap wins (release: the new dict's fields are visible to readers) */
        d = tally_atomic_load_acquire(&in->dict);
        if (!d) {
            tally_object *nd = py_dict_new(), *expected = NULL;
            if (!nd) return -1;
            if (tally_atomic_cas_acq_rel(&in->dict, &expected, nd)) {
                d = nd;
            } else {
                tally_decref(nd);
                d = expected;
            }
        }
    } else if (t == &py_local_type) {
        return py_local_setattr(o, name, v);
    } else if (t == &py_module_type) {
        d = ((py_module *)o)->dict;
    } else if (t == &py_class_type) {
        d = ((py_class *)o)->dict;
    } else if (t == &py_function_type && strcmp(tally_str_value(name), "__name__") == 0) {
        /* f.__name__ = s (decorators copying a name): exchanged whole, the old name released
         * after a grace period, since another thread may be reading it (acquire load above) */
        if (!IS_STR(v)) {
            py_err_set(exc_TypeError, "__name__ must be set to a string object");
            return -1;
        }
        tally_object *old = tally_atomic_exchange_acq_rel(&((py_function *)o)->name, tally_newref(v));
        py_decref_delayed(old);
        return 0;
    }
    if (!d) {
        py_err_format(exc_AttributeError, "'%s' object has no attribute '%s'", py_type_name(o), tally_str_value(name));
        return -1;
    }
    return py_dict_set(d, name, v);
}

int py_delattr(tally_object *o, tally_object *name)
{
    const tally_type *t = TYPE(o);
    tally_object *d = NULL;
    if (t == &py_instance_type) d = tally_atomic_load_acquire(&((py_instance *)o)->dict);   /* set once */
    else if (t == &py_module_type) d = ((py_module *)o)->dict;
    else if (t == &py_class_type) d = ((py_class *)o)->dict;
    int r = d ? py_dict_del(d, name) : 1;
    if (r != 1) return r;
    /* absent: CPython's messages for del (a module's is the generic one) */
    if (t == &py_class_type)
        py_err_format(exc_AttributeError, "type object '%s' has no attribute '%s'",
                      tally_str_value(((py_class *)o)->name), tally_str_value(name));
    else
        py_err_format(exc_AttributeError, "'%s' object has no attribute '%s'",
                      t == &py_module_type ? "module" : py_type_name(o), tally_str_value(name));
    return -1;
}

tally_object *py_getmethod(tally_object *o, tally_object *name, bool *unbound)
{
    *unbound = false;
    const tally_type *t = TYPE(o);
    if (t == &py_super_type)
        return py_getattr(o, name);   /* a bound method: self is the super object's obj */
    if (t == &py_instance_type) {
        py_instance *in = (py_instance *)o;
        tally_object *idict = tally_atomic_load_acquire(&in->dict);   /* set once: py_setattr */
        if (idict) {
            bool err = false;
            tally_object *v = py_dict_lookup(idict, name, &err);
            if (err) return NULL;
            if (v) return tally_newref(v);
        }
        tally_object *v = py_class_lookup(in->cls, name);
        if (v && TYPE(v) == &py_function_type) {
            *unbound = true;
            return tally_newref(v);
        }
        return py_getattr(o, name);
    }
    if (t == &py_module_type || t == &py_class_type)
        return py_getattr(o, name);
    tally_object *m = builtin_method_lookup(o, name);
    if (m) {
        *unbound = true;
        return tally_newref(m);
    }
    if (py_err_occurred()) return NULL;
    return py_getattr(o, name);
}

/* ---- calls ------------------------------------------------------------------------------- */
static tally_object *instantiate(tally_object *cls, tally_object *const *args, size_t nargs, tally_object *kwnames)
{
    py_class *c = (py_class *)cls;
    if (c->is_abstract) return py_abc_instantiate_error(cls);
    if (c->is_enum) return py_enum_call(cls, args, nargs, kwnames);
    if (c->is_exception) {
        if (kwnames && tally_tuple_len(kwnames)) {
            py_err_format(exc_TypeError, "%s() takes no keyword arguments", tally_str_value(c->name));
            return NULL;
        }
        tally_object *a = py_tuple_pack(nargs, args);
        if (!a) return NULL;
        tally_object *e = py_exc_new(cls, a);
        tally_decref(a);
        if (!e) return NULL;
        tally_object *init = py_class_lookup(cls, py_intern("__init__"));
        if (init && TYPE(init) == &py_function_type) {
            tally_object *stack[257];
            if (nargs > 255) {
                tally_decref(e);
                py_err_set(exc_TypeError, "too many arguments");
                return NULL;
            }
            stack[0] = e;
            if (nargs) memcpy(stack + 1, args, sizeof(tally_object *) * nargs);
            tally_object *r = py_call(init, stack, nargs + 1, NULL);
            if (!r) {
                tally_decref(e);
                return NULL;
            }
            tally_decref(r);
        }
        return e;
    }
    py_instance *in = (py_instance *)tally_new(&py_instance_type);
    if (!in) return py_err_nomem();
    in->cls = tally_newref(cls);
    tally_object *init = py_class_lookup(cls, py_intern("__init__"));
    if (!init && py_err_occurred()) {
        tally_decref((tally_object *)in);
        return NULL;
    }
    if (init) {
        tally_object *stack[257];
        size_t total = nargs + (kwnames ? tally_tuple_len(kwnames) : 0);
        if (total > 255) {
            tally_decref((tally_object *)in);
            py_err_set(exc_TypeError, "too many arguments");
            return NULL;
        }
        stack[0] = (tally_object *)in;
        if (total) memcpy(stack + 1, args, sizeof(tally_object *) * total);
        tally_object *r = py_call(init, stack, nargs + 1, kwnames);
        if (!r) {
            tally_decref((tally_object *)in);
            return NULL;
        }
        if (r != py_None) {
            tally_decref(r);
            tally_decref((tally_object *)in);
            py_err_format(exc_TypeError, "__init__() should return None, not '%s'", py_type_name(r));
            return NULL;
        }
        tally_decref(r);
    } else if (nargs || (kwnames && tally_tuple_len(kwnames))) {
        tally_decref((tally_object *)in);
        py_err_format(exc_TypeError, "%s() takes no arguments", tally_str_value(c->name));
        return NULL;
    }
    return (tally_object *)in;
}

tally_object *py_call(tally_object *callable, tally_object *const *args, size_t nargs, tally_object *kwnames)
{
    const tally_type *t = TYPE(callable);
    if (t == &py_function_type)
        return eval_call_function(callable, args, nargs, kwnames);
    if (t == &py_builtin_type) {
        py_builtin *b = (py_builtin *)callable;
        if (b->method && !b->self) {
            if (nargs == 0) {
                py_err_format(exc_TypeError, "unbound method %s() needs an argument", b->name);
                return NULL;
            }
            return b->fn(args[0], args + 1, nargs - 1, kwnames);
        }
        return b->fn(b->self, args, nargs, kwnames);
    }
    if (t == &py_method_type) {
        py_method *m = (py_method *)callable;
        tally_object *stack[257];
        size_t total = nargs + (kwnames ? tally_tuple_len(kwnames) : 0);
        if (total > 255) {
            py_err_set(exc_TypeError, "too many arguments");
            return NULL;
        }
        stack[0] = m->self;
        if (total) memcpy(stack + 1, args, sizeof(tally_object *) * total);
        return py_call(m->func, stack, nargs + 1, kwnames);
    }
    if (t == &py_class_type) {
        return instantiate(callable, args, nargs, kwnames);
    }
    if (t == &py_instance_type) {
        tally_object *m = py_class_lookup(((py_instance *)callable)->cls, py_intern("__call__"));
        if (m) {
            tally_object *stack[257];
            size_t total = nargs + (kwnames ? tally_tuple_len(kwnames) : 0);
            if (total > 255) {
                py_err_set(exc_TypeError, "too many arguments");
                return NULL;
            }
            stack[0] = callable;
            if (total) memcpy(stack + 1, args, sizeof(tally_object *) * total);
            tally_incref(m);
            tally_object *r = py_call(m, stack, nargs + 1, kwnames);
            tally_decref(m);
            return r;
        }
    }
    py_err_format(exc_TypeError, "'%s' object is not callable", py_type_name(callable));
    return NULL;
}

/* ---- f-string fields ---------------------------------------------------------------------------- */
typedef struct fspec { char fill, align, sign; bool zero, comma, alt; int width, prec; char type; } fspec;

static int parse_spec(const char *s, fspec *f)
{
    memset(f, 0, sizeof *f);
    f->fill = ' ';
    f->prec = -1;
    if (s[0] && (s[1] == '<' || s[1] == '>' || s[1] == '^' || s[1] == '=')) {
        f->fill = s[0];
        f->align = s[1];
        s += 2;
    } else if (*s == '<' || *s == '>' || *s == '^' || *s == '=') {
        f->align = *s++;
    }
    if (*s == '+' || *s == '-' || *s == ' ') f->sign = *s++;
    if (*s == '#') { f->alt = true; s++; }
    if (*s == '0') { f->zero = true; s++; }
    while (*s >= '0' && *s <= '9') { f->width = f->width * 10 + (*s++ - '0'); if (f->width > 10000) return -1; }
    if (*s == ',' || *s == '_') { f->comma = true; s++; }
    if (*s == '.') {
        s++;
        if (!(*s >= '0' && *s <= '9')) return -1;
        f->prec = 0;
        while (*s >= '0' && *s <= '9') { f->prec = f->prec * 10 + (*s++ - '0'); if (f->prec > 1000) return -1; }
    }
    if (*s) f->type = *s++;
    if (*s) return -1;
    return 0;
}

static void group_digits(sbuf *out, const char *digits)
{
    size_t n = strlen(digits);
    for (size_t i = 0; i < n; i++) {
        if (i && (n - i) % 3 == 0) sb_putc(out, ',');
        sb_putc(out, digits[i]);
    }
}

tally_object *py_format_value(tally_object *v, tally_object *specobj)
{
    const char *spec = specobj ? tally_str_value(specobj) : "";
    if (!*spec) return py_str(v);
    fspec f;
    if (parse_spec(spec, &f) < 0) {
        py_err_format(exc_ValueError, "Invalid format specifier '%s' for object of type '%s'", spec, py_type_name(v));
        return NULL;
    }
    sbuf body;
    sb_init(&body);
    bool numeric = false;
    bool negative = false;
    int64_t iv;
    if ((IS_INT(v) || IS_BOOL(v)) && f.type != 'f' && f.type != 'e' && f.type != 'g' && f.type != '%' &&
        f.type != 'F' && f.type != 'E' && f.type != 'G') {
        iv = IS_INT(v) ? tally_int_value(v) : ((py_boolobj *)v)->value;
        if (f.type && f.type != 'd' && f.type != 'x' && f.type != 'X' && f.type != 'o' && f.type != 'b' && f.type != 'n') {
            py_err_format(exc_ValueError, "Unknown format code '%c' for object of type '%s'", f.type, py_type_name(v));
            return NULL;
        }
        if (f.prec >= 0) {
            py_err_set(exc_ValueError, "Precision not allowed in integer format specifier");
            return NULL;
        }
        numeric = true;
        negative = iv < 0;
        uint64_t m = negative ? (uint64_t)0 - (uint64_t)iv : (uint64_t)iv;
        char digits[80];
        if (f.type == 'x' || f.type == 'X') snprintf(digits, sizeof digits, f.type == 'x' ? "%llx" : "%llX", (unsigned long long)m);
        else if (f.type == 'o') snprintf(digits, sizeof digits, "%llo", (unsigned long long)m);
        else if (f.type == 'b') {
            int k = 0;
            char tmp[70];
            do { tmp[k++] = (char)('0' + (m & 1)); m >>= 1; } while (m);
            for (int i = 0; i < k; i++) digits[i] = tmp[k - 1 - i];
            digits[k] = 0;
        } else snprintf(digits, sizeof digits, "%llu", (unsigned long long)m);
        if (f.alt && f.type && f.type != 'd') { sb_putc(&body, '0'); sb_putc(&body, f.type == 'X' ? 'X' : f.type); }
        if (f.comma) group_digits(&body, digits);
        else sb_puts(&body, digits);
    } else if (IS_FLOAT(v) || IS_INT(v) || IS_BOOL(v)) {
        double x = IS_FLOAT(v) ? py_float_value(v) : IS_INT(v) ? (double)tally_int_value(v) : (double)((py_boolobj *)v)->value;
        numeric = true;
        negative = signbit(x) && !isnan(x);
        double m = fabs(x);
        char type = f.type;
        if (type && !strchr("eEfFgG%n", type)) {
            py_err_format(exc_ValueError, "Unknown format code '%c' for object of type '%s'", type, py_type_name(v));
            return NULL;
        }
        int prec = f.prec >= 0 ? f.prec : 6;
        char buf[1200];
        if (isinf(m) || isnan(m)) {
            snprintf(buf, sizeof buf, "%s", isnan(m) ? "nan" : "inf");
            if (type == 'F' || type == 'E' || type == 'G') for (char *p = buf; *p; p++) *p = (char)(*p - 32);
        } else if (type == 0) {
            if (f.prec < 0) {
                sbuf r;
                sb_init(&r);
                py_float_repr(&r, m);
                snprintf(buf, sizeof buf, "%s", sb_cstr(&r));
                sb_free(&r);
            } else {
                snprintf(buf, sizeof buf, "%.*g", prec ? prec : 1, m);
                if (!strchr(buf, '.') && !strchr(buf, 'e') && !strchr(buf, 'n')) strcat(buf, ".0");
            }
        } else if (type == '%') {
            snprintf(buf, sizeof buf, "%.*f%%", prec, m * 100);
        } else {
            char fmt[8] = { '%', '.', '*', type == 'n' ? 'g' : type, 0 };
            snprintf(buf, sizeof buf, fmt, (type == 'g' || type == 'G') && prec == 0 ? 1 : prec, m);
        }
        if (f.comma) {
            char *dot = buf;
            while (*dot >= '0' && *dot <= '9') dot++;
            char intpart[400];
            size_t ni = (size_t)(dot - buf);
            if (ni < sizeof intpart) {
                memcpy(intpart, buf, ni);
                intpart[ni] = 0;
                group_digits(&body, intpart);
                sb_puts(&body, dot);
            } else sb_puts(&body, buf);
        } else sb_puts(&body, buf);
    } else {
        if (f.type && f.type != 's') {
            py_err_format(exc_ValueError, "Unknown format code '%c' for object of type '%s'", f.type, py_type_name(v));
            return NULL;
        }
        if (f.sign || f.comma) {
            py_err_format(exc_ValueError, "%s not allowed in string format specifier", f.sign ? "Sign" : "Cannot specify ','");
            return NULL;
        }
        if (py_str_to(&body, v) < 0) {
            sb_free(&body);
            return NULL;
        }
        if (f.prec >= 0 && body.len > (size_t)f.prec) {
            body.len = (size_t)f.prec;
            body.data[body.len] = 0;
        }
    }
    sbuf out;
    sb_init(&out);
    const char *sign = "";
    if (numeric) {
        if (negative) sign = "-";
        else if (f.sign == '+') sign = "+";
        else if (f.sign == ' ') sign = " ";
    }
    size_t len = strlen(sign) + body.len;
    char align = f.align ? f.align : numeric ? '>' : '<';
    char fill = f.fill;
    if (f.zero && !f.align) { align = '='; fill = '0'; }
    size_t pad = (size_t)f.width > len ? (size_t)f.width - len : 0;
    size_t left = align == '>' ? pad : align == '^' ? pad / 2 : 0;
    size_t right = align == '<' ? pad : align == '^' ? pad - pad / 2 : 0;
    if (align == '=') {
        sb_puts(&out, sign);
        for (size_t i = 0; i < pad; i++) sb_putc(&out, fill);
        sb_puts(&out, sb_cstr(&body));
    } else {
        for (size_t i = 0; i < left; i++) sb_putc(&out, fill);
        sb_puts(&out, sign);
        sb_puts(&out, sb_cstr(&body));
        for (size_t i = 0; i < right; i++) sb_putc(&out, fill);
    }
    sb_free(&body);
    if (out.oom) {
        sb_free(&out);
        return py_err_nomem();
    }
    tally_object *r = tally_str_new(sb_cstr(&out));
    sb_free(&out);
    return r ? r : py_err_nomem();
}
