/* collector/gc_traverse.h - how the collector's hot passes traverse one object.
 *
 * Owns: GC_TRAVERSE(), used by subtract_refs and move_unreachable instead of the traverse slot.
 * Lists and tuples, the containers that make up most heaps, are walked inline with the pass's
 * visit function inlined into the loop: no indirect call per object and none per reference.
 * Every other type goes through its traverse slot, as before.  The result is the same walk as
 * list_traverse / tuple_traverse (runtime/list.c, runtime/tuple.c), which it must mirror: the
 * items [0, size) of a list's array, the non-NULL items of a tuple.
 *
 * Callers hold the world stopped (or the GIL), so no writer is inside a list's critical section
 * and plain reads are exact, as in list_traverse.  The passes' visit functions always return 0;
 * their results are ignored here.
 */
#ifndef TALLY_COLLECTOR_GC_TRAVERSE_H
#define TALLY_COLLECTOR_GC_TRAVERSE_H

#include "runtime/seq_layout.h"

/* Debug mode (runtime/debug_registry.c on): a user type's traverse goes through this, which
 * checks each visited pointer against the set of live objects before the pass's visit sees it.
 * A pointer that is not a live object is reported naming the type whose traverse is wrong, and
 * skipped (without the check, the passes read its "header" and write into it). */
typedef struct gc_checked_visit {
    tally_visitproc visit;
    void *arg;
    tally_object *parent;
} gc_checked_visit;

static inline int gc_visit_checked(tally_object *o, void *arg)
{
    gc_checked_visit *c = (gc_checked_visit *)arg;
    if (tally_unlikely(!_tally_registry_is_live_object(o))) {
        _tally_misuse(c->parent, "cycle collector: traverse visited %p, which is not a live Tally object "
                                 "(the type's traverse reads a field that is not an object reference)", (void *)o);
        return 0;
    }
    return c->visit(o, c->arg);
}

/* A user type's traverse slot, checked in debug mode. */
static inline int gc_traverse_slot(tally_object *o, tally_visitproc visit, void *arg)
{
    if (tally_unlikely(_tally_debug_objects_on())) {
        gc_checked_visit c = { visit, arg, o };
        return o->ob_type->traverse(o, gc_visit_checked, &c);
    }
    return o->ob_type->traverse(o, visit, arg);
}

/* A macro, not a function taking a visitproc: VISIT is named, so the calls in the loops are
 * direct and the compiler inlines the visit function (through a function-pointer parameter,
 * gcc 12 made a direct but out-of-line call: 13% of a full collection in visit_reachable). */
#define GC_TRAVERSE(o, VISIT, arg)                                                   \
    do {                                                                             \
        tally_object *gct_o = (o);                                                   \
        const tally_type *gct_t = gct_o->ob_type;                                    \
        if (gct_t == &tally_list_type) {                                             \
            const tally_list *gct_l = (const tally_list *)gct_o;                     \
            size_t gct_n = gct_l->size;                                              \
            tally_object *const *gct_items = gct_n ? gct_l->arr->items : NULL;       \
            for (size_t gct_i = 0; gct_i < gct_n; gct_i++)                           \
                (void)VISIT(gct_items[gct_i], (arg));                                \
        } else if (gct_t == &tally_tuple_type) {                                     \
            const tally_tuple *gct_tu = (const tally_tuple *)gct_o;                  \
            for (size_t gct_i = 0; gct_i < gct_tu->n; gct_i++)                       \
                if (gct_tu->items[gct_i])                                            \
                    (void)VISIT(gct_tu->items[gct_i], (arg));                        \
        } else if (gct_t->traverse) {                                                \
            (void)gc_traverse_slot(gct_o, VISIT, (arg));                             \
        }                                                                            \
    } while (0)

#endif
