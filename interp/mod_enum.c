/* interp/mod_enum.c - the built-in module `enum`: Enum.
 *
 * Owns: enum.Enum and the work CPython's EnumMeta does, without a metaclass.  When a class
 * statement creates a subclass of Enum, py_enum_class_created() turns each member candidate of
 * its body - any entry but a function, staticmethod or classmethod and _sunder_ or __dunder__
 * names, as in CPython 3.11 - into a member: an instance of the new class, made without
 * calling it, with `name` and `value` (and CPython's `_name_` and `_value_`), then passed to
 * the class's own `__init__` if it defines one (the value's items as arguments when it is a
 * tuple, as CPython does).  A later name whose value equals an earlier member's is an alias:
 * the class attribute is that member.  The members' names, in definition order and without
 * aliases, are the list `_member_names_`.  `iter(E)` and `len(E)` go through the members,
 * `E(value)` returns the member with that value (ValueError otherwise), and a subclass of an
 * enum with members is refused, each with CPython 3.11's message.  repr, str and hash come
 * from Enum's Python source below.
 */
#include "interp.h"

#include <string.h>

static const char enum_source[] =
    "class Enum:\n"
    "    def __repr__(self):\n"
    "        return '<%s.%s: %r>' % (type(self).__name__, self._name_, self._value_)\n"
    "    def __str__(self):\n"
    "        return '%s.%s' % (type(self).__name__, self._name_)\n"
    "    def __hash__(self):\n"
    "        return hash(self._name_)\n";

/* CPython 3.11's rule: a member is any entry but a descriptor (a function, staticmethod or
 * classmethod here), a _sunder_ name or a __dunder__ name */
static bool is_member_candidate(tally_object *name, tally_object *v)
{
    if (!IS_STR(name)) return false;
    const char *s = tally_str_value(name);
    size_t n = strlen(s);
    bool dunder = n > 4 && s[0] == '_' && s[1] == '_' && s[n - 1] == '_' && s[n - 2] == '_' && s[2] != '_' && s[n - 3] != '_';
    bool sunder = n > 2 && s[0] == '_' && s[n - 1] == '_' && s[1] != '_' && s[n - 2] != '_';
    if (dunder || sunder) return false;
    return TYPE(v) != &py_function_type && TYPE(v) != &py_smethod_type;
}

/* borrowed: the class's _member_names_ list, or NULL (none, or an error set) */
static tally_object *member_names(tally_object *cls)
{
    bool err = false;
    tally_object *l = py_dict_lookup(((py_class *)cls)->dict, py_intern("_member_names_"), &err);
    return l && TYPE(l) == &tally_list_type ? l : NULL;
}

tally_object *py_enum_members(tally_object *cls)
{
    tally_object *out = tally_list_new();
    if (!out) return py_err_nomem();
    tally_object *names = member_names(cls);
    size_t n = names ? tally_list_len(names) : 0;
    for (size_t i = 0; i < n; i++) {
        tally_object *name = tally_list_get(names, i);   /* new reference */
        tally_object *m = name ? py_class_lookup(cls, name) : NULL;
        tally_xdecref(name);
        if (!m || tally_list_append(out, m) < 0) {
            if (!py_err_occurred()) py_err_nomem();
            tally_decref(out);
            return NULL;
        }
    }
    return out;
}

static int call_init(tally_object *cls, tally_object *member, tally_object *value)
{
    tally_object *init = py_class_lookup(cls, py_intern("__init__"));
    if (!init || TYPE(init) != &py_function_type) return 0;
    tally_object *stack[257];
    size_t n = IS_TUPLE(value) ? tally_tuple_len(value) : 1;
    if (n > 255) {
        py_err_set(exc_TypeError, "too many arguments");
        return -1;
    }
    stack[0] = member;
    for (size_t i = 0; i < n; i++) stack[i + 1] = IS_TUPLE(value) ? tally_tuple_get(value, i) : value;
    tally_object *r = py_call(init, stack, n + 1, NULL);
    if (!r) return -1;
    tally_decref(r);
    return 0;
}

static tally_object *make_member(tally_object *cls, tally_object *name, tally_object *value)
{
    py_instance *in = (py_instance *)tally_new(&py_instance_type);
    if (!in) return py_err_nomem();
    in->cls = tally_newref(cls);
    tally_object *m = (tally_object *)in;
    if (py_setattr(m, py_intern("_name_"), name) < 0 || py_setattr(m, py_intern("_value_"), value) < 0 ||
        py_setattr(m, py_intern("name"), name) < 0 || py_setattr(m, py_intern("value"), value) < 0 ||
        call_init(cls, m, value) < 0) {
        tally_decref(m);
        return NULL;
    }
    return m;
}

int py_enum_class_created(tally_object *cls)
{
    py_class *c = (py_class *)cls;
    py_class *base = (py_class *)c->base;
    if (!base || !base->is_enum) return 0;
    tally_object *inherited = member_names(c->base);
    if (inherited && tally_list_len(inherited) > 0) {
        py_err_format(exc_TypeError, "<enum '%s'> cannot extend <enum '%s'>", tally_str_value(c->name),
                      tally_str_value(base->name));
        return -1;
    }
    c->is_enum = true;
    /* the candidates first (the loop below stores into the dict it would iterate) */
    tally_object *names = tally_list_new(), *values = tally_list_new(), *members = tally_list_new();
    tally_object *order = tally_list_new();
    int rc = -1;
    if (!names || !values || !members || !order) {
        py_err_nomem();
        goto out;
    }
    size_t pos = 0;
    tally_object *k, *v;
    while (py_dict_next(c->dict, &pos, &k, &v))
        if (is_member_candidate(k, v) && (tally_list_append(names, k) < 0 || tally_list_append(values, v) < 0)) {
            py_err_nomem();
            goto out;
        }
    size_t n = tally_list_len(names);
    for (size_t i = 0; i < n; i++) {
        tally_object *name = tally_list_get(names, i), *value = tally_list_get(values, i);
        tally_object *member = NULL;
        size_t nm = tally_list_len(members);
        for (size_t j = 0; j < nm && !member && !py_err_occurred(); j++) {
            tally_object *other = tally_list_get(members, j);
            tally_object *ov = other ? py_getattr(other, py_intern("_value_")) : NULL;
            int eq = ov ? py_eq(ov, value) : -1;
            tally_xdecref(ov);
            if (eq == 1) member = tally_newref(other);   /* an alias */
            tally_xdecref(other);
            if (eq < 0 && !py_err_occurred()) py_err_nomem();
        }
        bool alias = member != NULL;
        if (!member && !py_err_occurred()) member = make_member(cls, name, value);
        int r = member ? py_dict_set(c->dict, name, member) : -1;
        if (r == 0 && !alias) r = tally_list_append(members, member) < 0 || tally_list_append(order, name) < 0 ? -1 : 0;
        if (r < 0 && !py_err_occurred()) py_err_nomem();
        tally_xdecref(member);
        tally_xdecref(name);
        tally_xdecref(value);
        if (r < 0) goto out;
    }
    rc = py_dict_setstr(c->dict, "_member_names_", order);
out:
    tally_xdecref(names);
    tally_xdecref(values);
    tally_xdecref(members);
    tally_xdecref(order);
    return rc;
}

tally_object *py_enum_call(tally_object *cls, tally_object *const *args, size_t nargs, tally_object *kwnames)
{
    if (py_arg_count(tally_str_value(((py_class *)cls)->name), nargs, kwnames, 1, 1) < 0) return NULL;
    tally_object *members = py_enum_members(cls);
    if (!members) return NULL;
    size_t n = tally_list_len(members);
    tally_object *found = NULL;
    for (size_t i = 0; i < n && !found; i++) {
        tally_object *m = tally_list_get(members, i);
        if (!m) break;
        if (m == args[0]) {
            found = m;   /* E(member) is the member */
            break;
        }
        tally_object *v = py_getattr(m, py_intern("_value_"));
        int eq = v ? py_eq(v, args[0]) : -1;
        tally_xdecref(v);
        if (eq == 1) {
            found = m;
            break;
        }
        tally_decref(m);
        if (eq < 0) break;
    }
    tally_decref(members);
    if (found || py_err_occurred()) return found;
    tally_object *r = py_repr(args[0]);
    if (!r) return NULL;
    py_err_format(exc_ValueError, "%s is not a valid %s", tally_str_value(r), tally_str_value(((py_class *)cls)->name));
    tally_decref(r);
    return NULL;
}

int mod_enum_init(tally_object *d)
{
    if (py_exec_source(d, enum_source, "<enum>") < 0) return -1;
    bool err = false;
    tally_object *e = py_dict_lookup(d, py_intern("Enum"), &err);
    if (!e || TYPE(e) != &py_class_type) {
        if (!err) py_err_set(exc_RuntimeError, "enum: Enum was not defined");
        return -1;
    }
    ((py_class *)e)->is_enum = true;
    return 0;
}
