/* collector/gc_traverse.h - how the collector's hot passes traverse one object.
 *
 * Owns: gc_traverse(), called by subtract_refs and move_unreachable instead of the traverse slot.
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

static inline __attribute__((always_inline)) void gc_traverse(tally_object *o, tally_visitproc visit, void *arg)
{
    const tally_type *t = o->ob_type;
    if (t == &tally_list_type) {
        const tally_list *l = (const tally_list *)o;
        size_t n = l->size;
        tally_object *const *items = n ? l->arr->items : NULL;
        for (size_t i = 0; i < n; i++)
            (void)visit(items[i], arg);
    } else if (t == &tally_tuple_type) {
        const tally_tuple *tu = (const tally_tuple *)o;
        size_t n = tu->n;
        for (size_t i = 0; i < n; i++)
            if (tu->items[i])
                (void)visit(tu->items[i], arg);
    } else if (t->traverse) {
        (void)t->traverse(o, visit, arg);
    }
}

#endif
