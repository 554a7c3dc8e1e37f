/* runtime/tuple.c - tuples.
 *
 * Owns: tally_tuple_type (fixed-length, immutable sequences; GC containers).  Up to
 * TUPLE_INLINE items live inside the object, longer tuples keep them in a mimalloc block.
 * The items are written by tally_tuple_new before the tuple is returned and never change, so
 * reads take no lock in any backend.  A NULL element (or items == NULL) leaves that slot empty:
 * tally_tuple_get returns NULL for it, traverse and destroy skip it (CPython's "tuple being
 * built").  Like CPython's tuple there is no clear slot: immutable objects cannot close a
 * cycle on their own; the collector breaks cycles through the mutable containers in them.
 */
#include "runtime/seq_layout.h"

#include <mimalloc.h>

static int tuple_traverse(tally_object *self, tally_visitproc visit, void *arg);
static void tuple_destroy(tally_object *self);

const tally_type tally_tuple_type = {
    .name = "tuple",
    .size = sizeof(tally_tuple),
    .flags = TALLY_TYPE_GC,
    .traverse = tuple_traverse,
    .destroy = tuple_destroy,
};

static inline bool is_tuple(tally_object *o)
{
    return o && o->ob_type == &tally_tuple_type;
}

tally_object *tally_tuple_new(size_t n, tally_object *const *items)
{
    tally_object **heap = NULL;
    if (n > TUPLE_INLINE) {
        if (n > SIZE_MAX / sizeof(tally_object *)) {
            _tally_set_error("tally_tuple_new: %zu items is too many", n);
            return NULL;
        }
        heap = mi_malloc(n * sizeof(tally_object *));
        if (!heap) {
            _tally_set_error("tally_tuple_new: out of memory for %zu items", n);
            return NULL;
        }
    }
    tally_tuple *t = (tally_tuple *)tally_new(&tally_tuple_type);
    if (!t) {
        mi_free(heap);
        return NULL;
    }
    t->items = heap ? heap : t->inline_items;
    for (size_t i = 0; i < n; i++) {
        tally_object *o = items ? items[i] : NULL;
        if (o)
            tally_incref(o);
        t->items[i] = o;
    }
    t->n = n;
    return &t->ob_base;
}

tally_object *tally_tuple_get(tally_object *t, size_t i)
{
    if (tally_unlikely(!is_tuple(t))) {
        _tally_misuse(t, "tally_tuple_get: not a tuple");
        return NULL;
    }
    tally_tuple *tp = (tally_tuple *)t;
    if (i >= tp->n) {
        _tally_set_error("tally_tuple_get: index %zu out of range (length %zu)", i, tp->n);
        return NULL;
    }
    return tp->items[i];
}

size_t tally_tuple_len(tally_object *t)
{
    if (tally_unlikely(!is_tuple(t))) {
        _tally_misuse(t, "tally_tuple_len: not a tuple");
        return 0;
    }
    return ((tally_tuple *)t)->n;
}

/* The collector calls this with the world stopped (or the GIL held); items never change. */
static int tuple_traverse(tally_object *self, tally_visitproc visit, void *arg)
{
    tally_tuple *t = (tally_tuple *)self;
    for (size_t i = 0; i < t->n; i++) {
        if (t->items[i]) {
            int r = visit(t->items[i], arg);
            if (r)
                return r;
        }
    }
    return 0;
}

static void tuple_destroy(tally_object *self)
{
    tally_tuple *t = (tally_tuple *)self;
    tally_object **items = t->items;
    size_t n = t->n;
    t->n = 0;
    t->items = t->inline_items;
    /* Last item first, as CPython's tupledealloc; object.c bounds the recursion depth. */
    while (n > 0) {
        tally_object *o = items[--n];
        tally_xdecref(o);
    }
    if (items != t->inline_items)
        mi_free(items);
}
