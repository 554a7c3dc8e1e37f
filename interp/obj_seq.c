/* interp/obj_seq.c - sequences, subscripts and iteration.
 *
 * Owns: range, slice and the iterator type (list, tuple, str, range, dict keys/values/items),
 * subscripting with negative indices and slices (with steps) for str, list, tuple and dict,
 * item assignment and deletion, `in`, and the iteration protocol the evaluation loop's FOR_ITER
 * falls back on.  A list iterator holds a strong reference to its list and returns each item
 * as a new reference (CPython's listiterator); a dict iterator raises RuntimeError when the
 * dict's size changes under it.
 */
#include "interp.h"

#include <stdlib.h>
#include <string.h>

const tally_type py_range_type = { .name = "range", .size = sizeof(py_range) };

tally_object *py_range_new(int64_t start, int64_t stop, int64_t step)
{
    if (step == 0) {
        py_err_set(exc_ValueError, "range() arg 3 must not be zero");
        return NULL;
    }
    py_range *r = (py_range *)tally_new(&py_range_type);
    if (!r) return py_err_nomem();
    r->start = start;
    r->stop = stop;
    r->step = step;
    __int128 len = 0;
    if (step > 0 && start < stop) len = ((__int128)stop - start - 1) / step + 1;
    else if (step < 0 && start > stop) len = ((__int128)start - stop - 1) / (-(__int128)step) + 1;
    r->len = (int64_t)len;
    return (tally_object *)r;
}

/* ---- slices ------------------------------------------------------------------------------ */
static int slice_traverse(tally_object *self, tally_visitproc visit, void *arg)
{
    py_slice *s = (py_slice *)self;
    int r;
    if (s->start && (r = visit(s->start, arg))) return r;
    if (s->stop && (r = visit(s->stop, arg))) return r;
    if (s->step && (r = visit(s->step, arg))) return r;
    return 0;
}
static void slice_destroy(tally_object *self)
{
    py_slice *s = (py_slice *)self;
    tally_xdecref(s->start);
    tally_xdecref(s->stop);
    tally_xdecref(s->step);
}
const tally_type py_slice_type = { .name = "slice", .size = sizeof(py_slice), .traverse = slice_traverse,
                                   .destroy = slice_destroy };

tally_object *py_slice_new(tally_object *start, tally_object *stop, tally_object *step)
{
    py_slice *s = (py_slice *)tally_new(&py_slice_type);
    if (!s) return py_err_nomem();
    s->start = tally_newref(start);
    s->stop = tally_newref(stop);
    s->step = tally_newref(step);
    return (tally_object *)s;
}

static int slice_part(tally_object *o, int64_t *v, bool *none)
{
    *none = o == py_None;
    if (*none) return 0;
    if (IS_INT(o)) { *v = tally_int_value(o); return 0; }
    if (IS_BOOL(o)) { *v = ((py_boolobj *)o)->value; return 0; }
    py_err_set(exc_TypeError, "slice indices must be integers or None or have an __index__ method");
    return -1;
}

/* CPython's PySlice_GetIndicesEx: start, step and the number of items */
static int slice_indices(tally_object *so, int64_t len, int64_t *start, int64_t *step, int64_t *count)
{
    py_slice *s = (py_slice *)so;
    int64_t st = 1, lo = 0, hi = 0;
    bool n1, n2, n3;
    if (slice_part(s->step, &st, &n3) < 0) return -1;
    if (n3) st = 1;
    if (st == 0) {
        py_err_set(exc_ValueError, "slice step cannot be zero");
        return -1;
    }
    if (slice_part(s->start, &lo, &n1) < 0 || slice_part(s->stop, &hi, &n2) < 0) return -1;
    if (n1) lo = st < 0 ? len - 1 : 0;
    else {
        if (lo < 0) { lo += len; if (lo < 0) lo = st < 0 ? -1 : 0; }
        else if (lo >= len) lo = st < 0 ? len - 1 : len;
    }
    if (n2) hi = st < 0 ? -1 : len;
    else {
        if (hi < 0) { hi += len; if (hi < 0) hi = st < 0 ? -1 : 0; }
        else if (hi >= len) hi = st < 0 ? len - 1 : len;
    }
    int64_t n = 0;
    if (st < 0) { if (hi < lo) n = (lo - hi - 1) / (-st) + 1; }
    else if (lo < hi) n = (hi - lo - 1) / st + 1;
    *start = lo;
    *step = st;
    *count = n;
    return 0;
}

static bool index_of(tally_object *o, int64_t *v)
{
    if (IS_INT(o)) { *v = tally_int_value(o); return true; }
    if (IS_BOOL(o)) { *v = ((py_boolobj *)o)->value; return true; }
    return false;
}

static tally_object *str_char(const char *s, int64_t i)
{
    return py_str_from(s + i, 1);
}

tally_object *py_getitem(tally_object *o, tally_object *key)
{
    const tally_type *t = TYPE(o);
    int64_t i;
    if (t == &py_dict_type) {
        bool err = false;
        tally_object *v = py_dict_lookup(o, key, &err);
        if (err) return NULL;
        if (!v) {
            tally_object *args = py_tuple_pack(1, &key);
            if (!args) return NULL;
            tally_object *e = py_exc_new(exc_KeyError, args);
            tally_decref(args);
            if (e) py_err_set_obj(e);
            return NULL;
        }
        return tally_newref(v);
    }
    if (t == &tally_list_type || t == &tally_tuple_type || t == &tally_str_type || t == &py_range_type) {
        int64_t len = py_len(o);
        if (index_of(key, &i)) {
            if (i < 0) i += len;
            if (i < 0 || i >= len) {
                py_err_format(exc_IndexError, "%s index out of range",
                              t == &tally_list_type ? "list" : t == &tally_tuple_type ? "tuple" : t == &py_range_type ? "range object" : "string");
                return NULL;
            }
            if (t == &tally_list_type) {
                tally_object *v = tally_list_get(o, (size_t)i);
                if (!v) py_err_set(exc_IndexError, "list index out of range");
                return v;
            }
            if (t == &tally_tuple_type) return tally_newref(tally_tuple_get(o, (size_t)i));
            if (t == &py_range_type) {
                py_range *r = (py_range *)o;
                return py_int_checked((__int128)r->start + (__int128)i * r->step);
            }
            return str_char(tally_str_value(o), i);
        }
        if (TYPE(key) == &py_slice_type) {
            int64_t start, step, n;
            if (slice_indices(key, len, &start, &step, &n) < 0) return NULL;
            if (t == &tally_str_type) {
                const char *s = tally_str_value(o);
                char *buf = malloc((size_t)n + 1);
                if (!buf) return py_err_nomem();
                for (int64_t k = 0; k < n; k++) buf[k] = s[start + k * step];
                buf[n] = 0;
                tally_object *r = tally_str_new(buf);
                free(buf);
                if (!r) return py_err_nomem();
                return r;
            }
            if (t == &py_range_type) {
                py_range *r = (py_range *)o;
                return py_range_new(r->start + start * r->step, r->start + (start + n * step) * r->step, r->step * step);
            }
            tally_object **items = malloc(sizeof(tally_object *) * ((size_t)n + 1));
            if (!items) return py_err_nomem();
            int64_t got = 0;
            for (int64_t k = 0; k < n; k++) {
                tally_object *v = t == &tally_list_type ? tally_list_get(o, (size_t)(start + k * step))
                                                        : tally_newref(tally_tuple_get(o, (size_t)(start + k * step)));
                if (!v) break;
                items[got++] = v;
            }
            tally_object *r;
            if (t == &tally_tuple_type) {
                r = py_tuple_pack((size_t)got, items);
            } else {
                r = tally_list_new();
                if (!r) py_err_nomem();
                for (int64_t k = 0; r && k < got; k++)
                    if (tally_list_append(r, items[k]) < 0) {
                        tally_decref(r);
                        r = py_err_nomem();
                    }
            }
            for (int64_t k = 0; k < got; k++) tally_decref(items[k]);
            free(items);
            return r;
        }
        py_err_format(exc_TypeError, "%s indices must be integers or slices, not %s",
                      t == &tally_str_type ? "string" : t->name, py_type_name(key));
        return NULL;
    }
    if (t == &py_instance_type) {
        bool found;
        tally_object *r = py_call_dunder(o, "__getitem__", &key, 1, &found);
        if (found || r || py_err_occurred()) return r;
    }
    py_err_format(exc_TypeError, "'%s' object is not subscriptable", py_type_name(o));
    return NULL;
}

int py_list_del_index(tally_object *l, size_t i)
{
    size_t n = tally_list_len(l);
    if (i >= n) return -1;
    for (size_t k = i; k + 1 < n; k++) {
        tally_object *next = tally_list_get(l, k + 1);
        if (!next) return -1;
        tally_list_set(l, k, next);
        tally_decref(next);
    }
    tally_object *last = tally_list_pop(l);
    tally_xdecref(last);
    return 0;
}

/* ---- slice assignment and deletion on lists (a[i:j] = x, a[i:j:k] = x, del a[i:j:k]) ----------
 * Tally's list has no slice operations (docs/interpreter.md, gap 2), so these are built from
 * get/set/pop/append: the items from the first changed index on are taken out (new references),
 * and the list is refilled in its new order.  The right-hand side is read into an array before
 * the list changes, so `a[1:] = a` sees the old items, as in CPython. */
typedef struct { tally_object **v; size_t n, cap; } ref_array;

static int refs_push(ref_array *a, tally_object *o)   /* steals o */
{
    if (a->n == a->cap) {
        size_t cap = a->cap ? 2 * a->cap : 16;
        tally_object **v = realloc(a->v, cap * sizeof *v);
        if (!v) {
            tally_decref(o);
            py_err_nomem();
            return -1;
        }
        a->v = v;
        a->cap = cap;
    }
    a->v[a->n++] = o;
    return 0;
}

static void refs_free(ref_array *a)
{
    for (size_t i = 0; i < a->n; i++) tally_decref(a->v[i]);
    free(a->v);
}

/* pops l's items from index `from` on into tail (in order); 0 / -1 */
static int list_cut(tally_object *l, size_t from, ref_array *tail)
{
    size_t n = tally_list_len(l);
    if (from >= n) return 0;
    size_t k = n - from;
    ref_array rev = { NULL, 0, 0 };
    for (size_t i = 0; i < k; i++) {
        tally_object *x = tally_list_pop(l);
        if (!x || refs_push(&rev, x) < 0) {
            refs_free(&rev);
            if (!py_err_occurred()) py_err_nomem();
            return -1;
        }
    }
    for (size_t i = rev.n; i > 0; i--) {
        if (refs_push(tail, rev.v[i - 1]) < 0) {
            rev.n = i - 1;   /* the rest were not moved */
            refs_free(&rev);
            return -1;
        }
    }
    free(rev.v);
    return 0;
}

static int list_refill(tally_object *l, ref_array *items, size_t from)
{
    for (size_t i = from; i < items->n; i++)
        if (tally_list_append(l, items->v[i]) < 0) {
            py_err_nomem();
            return -1;
        }
    return 0;
}

static int list_set_slice(tally_object *l, tally_object *slice, tally_object *v)
{
    int64_t start, step, n;
    if (slice_indices(slice, (int64_t)tally_list_len(l), &start, &step, &n) < 0) return -1;
    ref_array src = { NULL, 0, 0 };
    tally_object *it = py_getiter(v);
    if (!it) {
        if (py_exc_matches(py_err_occurred(), exc_TypeError)) {
            py_err_clear();
            py_err_set(exc_TypeError, step == 1 ? "can only assign an iterable" : "must assign iterable to extended slice");
        }
        return -1;
    }
    for (tally_object *x; (x = py_iternext(it));)
        if (refs_push(&src, x) < 0) break;
    tally_decref(it);
    if (py_err_occurred()) {
        refs_free(&src);
        return -1;
    }
    int rc = 0;
    if (step != 1) {
        if ((int64_t)src.n != n) {
            py_err_format(exc_ValueError, "attempt to assign sequence of size %zu to extended slice of size %lld",
                          src.n, (long long)n);
            rc = -1;
        }
        for (int64_t k = 0; rc == 0 && k < n; k++)
            if (tally_list_set(l, (size_t)(start + k * step), src.v[k]) < 0) {
                py_err_set(exc_IndexError, "list assignment index out of range");
                rc = -1;
            }
        refs_free(&src);
        return rc;
    }
    /* l[start:start+n] = src: cut from start, put src, then what followed the slice back */
    ref_array tail = { NULL, 0, 0 };
    rc = list_cut(l, (size_t)start, &tail);
    if (rc == 0) rc = list_refill(l, &src, 0);
    if (rc == 0) rc = list_refill(l, &tail, (size_t)n);
    refs_free(&tail);
    refs_free(&src);
    return rc;
}

static int list_del_slice(tally_object *l, tally_object *slice)
{
    int64_t start, step, n;
    if (slice_indices(slice, (int64_t)tally_list_len(l), &start, &step, &n) < 0) return -1;
    if (n == 0) return 0;
    /* the lowest index deleted, and a step walking up from it */
    int64_t lo = step > 0 ? start : start + (n - 1) * step, up = step > 0 ? step : -step;
    ref_array tail = { NULL, 0, 0 }, keep = { NULL, 0, 0 };
    int rc = list_cut(l, (size_t)lo, &tail);
    for (size_t i = 0; rc == 0 && i < tail.n; i++) {
        bool deleted = (int64_t)i % up == 0 && (int64_t)i / up < n;
        if (!deleted) {
            tally_incref(tail.v[i]);
            rc = refs_push(&keep, tail.v[i]);
        }
    }
    if (rc == 0) rc = list_refill(l, &keep, 0);
    refs_free(&keep);
    refs_free(&tail);
    return rc;
}

int py_setitem(tally_object *o, tally_object *key, tally_object *v)
{
    const tally_type *t = TYPE(o);
    int64_t i;
    if (t == &py_dict_type)
        return py_dict_set(o, key, v);
    if (t == &tally_list_type) {
        if (TYPE(key) == &py_slice_type) return list_set_slice(o, key, v);
        if (!index_of(key, &i)) {
            py_err_format(exc_TypeError, "list indices must be integers or slices, not %s", py_type_name(key));
            return -1;
        }
        int64_t len = (int64_t)tally_list_len(o);
        if (i < 0) i += len;
        if (i < 0 || i >= len || tally_list_set(o, (size_t)i, v) < 0) {
            py_err_set(exc_IndexError, "list assignment index out of range");
            return -1;
        }
        return 0;
    }
    if (t == &py_instance_type) {
        bool found;
        tally_object *a[2] = { key, v };
        tally_object *r = py_call_dunder(o, "__setitem__", a, 2, &found);
        if (r) {
            tally_decref(r);
            return 0;
        }
        if (found || py_err_occurred()) return -1;
    }
    py_err_format(exc_TypeError, "'%s' object does not support item assignment", py_type_name(o));
    return -1;
}

int py_delitem(tally_object *o, tally_object *key)
{
    const tally_type *t = TYPE(o);
    int64_t i;
    if (t == &py_dict_type) {
        int r = py_dict_del(o, key);
        if (r == 1) {
            tally_object *args = py_tuple_pack(1, &key);
            if (!args) return -1;
            tally_object *e = py_exc_new(exc_KeyError, args);
            tally_decref(args);
            if (e) py_err_set_obj(e);
            return -1;
        }
        return r;
    }
    if (t == &tally_list_type && TYPE(key) == &py_slice_type) return list_del_slice(o, key);
    if (t == &tally_list_type && index_of(key, &i)) {
        int64_t len = (int64_t)tally_list_len(o);
        if (i < 0) i += len;
        if (i < 0 || i >= len || py_list_del_index(o, (size_t)i) < 0) {
            py_err_set(exc_IndexError, "list assignment index out of range");
            return -1;
        }
        return 0;
    }
    py_err_format(exc_TypeError, "'%s' object doesn't support item deletion", py_type_name(o));
    return -1;
}

int py_contains(tally_object *c, tally_object *item)
{
    const tally_type *t = TYPE(c);
    if (t == &py_dict_type || t == &py_set_type || (t == &py_dictview_type && ((py_dictview *)c)->kind == 0)) {
        bool err = false;
        tally_object *d = t == &py_dictview_type ? ((py_dictview *)c)->dict : c;
        tally_object *v = py_dict_lookup(d, item, &err);
        if (err) return -1;
        return v != NULL;
    }
    if (t == &tally_str_type) {
        if (!IS_STR(item)) {
            py_err_format(exc_TypeError, "'in <string>' requires string as left operand, not %s", py_type_name(item));
            return -1;
        }
        return strstr(tally_str_value(c), tally_str_value(item)) != NULL;
    }
    if (t == &py_range_type) {
        int64_t v;
        py_range *r = (py_range *)c;
        if (index_of(item, &v)) {
            if (r->step > 0 ? (v < r->start || v >= r->stop) : (v > r->start || v <= r->stop)) return 0;
            return ((__int128)v - r->start) % r->step == 0;
        }
    }
    if (t == &tally_list_type || t == &tally_tuple_type) {
        bool list = t == &tally_list_type;
        size_t n = list ? tally_list_len(c) : tally_tuple_len(c);
        for (size_t i = 0; i < n; i++) {
            tally_object *x = list ? tally_list_get(c, i) : tally_newref(tally_tuple_get(c, i));
            if (!x) break;
            int r = py_eq(x, item);
            tally_decref(x);
            if (r) return r;
        }
        return 0;
    }
    if (t == &py_instance_type) {
        bool found;
        tally_object *r = py_call_dunder(c, "__contains__", &item, 1, &found);
        if (r) {
            int b = py_truth(r);
            tally_decref(r);
            return b;
        }
        if (found || py_err_occurred()) return -1;
    }
    tally_object *it = py_getiter(c);
    if (!it) {
        py_err_clear();
        py_err_format(exc_TypeError, "argument of type '%s' is not iterable", py_type_name(c));
        return -1;
    }
    for (;;) {
        tally_object *x = py_iternext(it);
        if (!x) break;
        int r = py_eq(x, item);
        tally_decref(x);
        if (r) {
            tally_decref(it);
            return r;
        }
    }
    tally_decref(it);
    return py_err_occurred() ? -1 : 0;
}

/* ---- iterators --------------------------------------------------------------------------- */
static int iter_traverse(tally_object *self, tally_visitproc visit, void *arg)
{
    py_iter *it = (py_iter *)self;
    return it->seq ? visit(it->seq, arg) : 0;
}
static int iter_clear(tally_object *self)
{
    py_iter *it = (py_iter *)self;
    /* an iterator shared by threads is not thread-safe (as in CPython 3.13t: items may repeat or
     * be skipped), but ending it is: only the thread that swaps seq out releases it */
    tally_object *s = tally_atomic_exchange_acq_rel(&it->seq, NULL);
    tally_xdecref(s);
    return 0;
}
static void iter_destroy(tally_object *self) { iter_clear(self); }
const tally_type py_iter_type = { .name = "iterator", .size = sizeof(py_iter), .flags = TALLY_TYPE_GC,
                                  .traverse = iter_traverse, .clear = iter_clear, .destroy = iter_destroy };

tally_object *py_getiter(tally_object *o)
{
    const tally_type *t = TYPE(o);
    int kind;
    tally_object *seq = o;
    if (t == &py_iter_type || t == &py_gen_type) return tally_newref(o);
    if (t == &tally_list_type) kind = ITER_LIST;
    else if (t == &tally_tuple_type) kind = ITER_TUPLE;
    else if (t == &tally_str_type) kind = ITER_STR;
    else if (t == &py_range_type) kind = ITER_RANGE;
    else if (t == &py_dict_type || t == &py_set_type) kind = ITER_DICT_KEYS;
    else if (t == &py_dictview_type) {
        kind = ITER_DICT_KEYS + ((py_dictview *)o)->kind;
        seq = ((py_dictview *)o)->dict;
    } else if (t == &py_class_type && ((py_class *)o)->is_enum) {
        /* iter(E) for an enum: its members in definition order (mod_enum.c) */
        tally_object *members = py_enum_members(o);
        if (!members) return NULL;
        tally_object *it = py_getiter(members);
        tally_decref(members);
        return it;
    } else {
        if (t == &py_instance_type) {
            bool found;
            tally_object *r = py_call_dunder(o, "__iter__", NULL, 0, &found);
            if (found || r) return r;
            if (py_err_occurred()) return NULL;
            if (py_class_lookup(((py_instance *)o)->cls, py_intern("__getitem__")) == NULL) {
                py_err_format(exc_TypeError, "'%s' object is not iterable", py_type_name(o));
                return NULL;
            }
            return py_iter_wrap(ITER_GETITEM, o, 0);   /* the old sequence protocol */
        }
        py_err_format(exc_TypeError, "'%s' object is not iterable", py_type_name(o));
        return NULL;
    }
    py_iter *it = (py_iter *)tally_new(&py_iter_type);
    if (!it) return py_err_nomem();
    it->kind = kind;
    if (kind == ITER_RANGE) {
        py_range *r = (py_range *)o;
        it->index = r->start;
        it->stop = r->len;   /* items left */
        it->step = r->step;
        it->seq = NULL;
        return (tally_object *)it;
    }
    it->seq = tally_newref(seq);
    if (kind >= ITER_DICT_KEYS) {
        it->dsize = py_dict_size(seq);
    }
    return (tally_object *)it;
}

tally_object *py_iternext(tally_object *o)
{
    if (TYPE(o) == &py_gen_type)
        return py_gen_next(o);
    if (TYPE(o) != &py_iter_type) {
        bool found;
        tally_object *v = py_call_dunder(o, "__next__", NULL, 0, &found);
        if (!found && !py_err_occurred())
            py_err_format(exc_TypeError, "'%s' object is not an iterator", py_type_name(o));
        if (!v && py_err_occurred() && py_exc_matches(py_err_occurred(), exc_StopIteration))
            py_err_clear();
        return v;
    }
    py_iter *it = (py_iter *)o;
    switch (it->kind) {
    case ITER_RANGE: {
        if (it->stop <= 0) return NULL;
        int64_t v = it->index;
        if (--it->stop > 0)
            it->index += it->step;
        return py_int_checked(v);
    }
    case ITER_LIST: {
        if (!it->seq) return NULL;
        tally_object *v = tally_list_get(it->seq, (size_t)it->index);
        if (!v) {
            iter_clear(o);
            return NULL;
        }
        it->index++;
        return v;
    }
    case ITER_TUPLE: {
        if (!it->seq) return NULL;
        if ((size_t)it->index >= tally_tuple_len(it->seq)) {
            iter_clear(o);
            return NULL;
        }
        return tally_newref(tally_tuple_get(it->seq, (size_t)it->index++));
    }
    case ITER_STR: {
        if (!it->seq) return NULL;
        const char *s = tally_str_value(it->seq);
        if (!s[it->index]) {
            iter_clear(o);
            return NULL;
        }
        return str_char(s, it->index++);
    }
    case ITER_ENUMERATE: {
        if (!it->seq) return NULL;
        tally_object *v = py_iternext(it->seq);
        if (!v) return NULL;
        tally_object *n = py_int_checked(it->index++);
        if (!n) {
            tally_decref(v);
            return NULL;
        }
        tally_object *pair[2] = { n, v };
        tally_object *t = py_tuple_pack(2, pair);
        tally_decref(n);
        tally_decref(v);
        return t;
    }
    case ITER_ZIP: {
        if (!it->seq) return NULL;
        size_t n = tally_tuple_len(it->seq);
        if (n == 0) return NULL;
        tally_object *items[16];
        size_t got = 0;
        for (; got < n; got++) {
            items[got] = py_iternext(tally_tuple_get(it->seq, got));
            if (!items[got]) break;
        }
        tally_object *t = got == n ? py_tuple_pack(n, items) : NULL;
        for (size_t k = 0; k < got; k++) tally_decref(items[k]);
        if (got < n && !py_err_occurred()) iter_clear(o);
        return t;
    }
    case ITER_GETITEM: {
        /* o[0], o[1], ... until __getitem__ raises IndexError (or StopIteration), as CPython's
         * iterator over a class with __getitem__ and no __iter__ */
        if (!it->seq) return NULL;
        tally_object *key = py_int_checked(it->index++);
        if (!key) return NULL;
        tally_object *v = py_getitem(it->seq, key);
        tally_decref(key);
        if (!v && py_err_occurred() && (py_exc_matches(py_err_occurred(), exc_IndexError) ||
                                        py_exc_matches(py_err_occurred(), exc_StopIteration))) {
            py_err_clear();
            iter_clear(o);
        }
        return v;
    }
    case ITER_REVERSED: {
        if (!it->seq || it->index < 0) return NULL;
        tally_object *key = py_int_checked(it->index--);
        if (!key) return NULL;
        tally_object *v = py_getitem(it->seq, key);
        tally_decref(key);
        if (!v && py_err_occurred() && py_exc_matches(py_err_occurred(), exc_IndexError)) {
            py_err_clear();
            iter_clear(o);
        }
        return v;
    }
    default: {
        if (!it->seq) return NULL;
        if (py_dict_size(it->seq) != it->dsize) {
            py_err_set(exc_RuntimeError, TYPE(it->seq) == &py_set_type ? "Set changed size during iteration"
                                                                       : "dictionary changed size during iteration");
            it->dsize = (size_t)-1;
            return NULL;
        }
        size_t pos = (size_t)it->index;
        tally_object *k, *v;
        if (!py_dict_next(it->seq, &pos, &k, &v)) {
            iter_clear(o);
            return NULL;
        }
        it->index = (int64_t)pos;
        if (it->kind == ITER_DICT_KEYS) return tally_newref(k);
        if (it->kind == ITER_DICT_VALUES) return tally_newref(v);
        tally_object *pair[2] = { k, v };
        return py_tuple_pack(2, pair);
    }
    }
}

tally_object *py_iter_wrap(int kind, tally_object *seq, int64_t start)
{
    py_iter *it = (py_iter *)tally_new(&py_iter_type);
    if (!it) return py_err_nomem();
    it->kind = kind;
    it->seq = tally_newref(seq);
    it->index = start;
    return (tally_object *)it;
}
