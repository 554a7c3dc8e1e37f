/* collector/gc_validate.c - debug-build check of a collector list against the flag table.
 *
 * Owns: _tally_gc_validate_list (TALLY_DEBUG builds only; GC_VALIDATE in collector/gc_internal.h
 * is empty elsewhere), CPython's validate_list for Tally's encoding.  It walks one list and
 * checks every object against the row of the flag table in collector/gc_internal.h that the
 * list is in at that phase: the links (each node's prev names the node before it, the head's
 * prev the last node), the tag of gc_next (0: every list the collection checks is a private or
 * global list), the COLLECTING bit of gc_prev, the UNREACHABLE bit of ob_gc_bits, and TRACKED.
 * A violation stops the process (_tally_fatal) naming the phase, the row, the object's position,
 * address and type, and the flag that is wrong.  Called by collector/gc.c at the boundaries of
 * a collection's phases, by the thread that owns the list then: the world stopped, or gc.lock
 * held (the lists the collection keeps privately while the world runs).  Cost: one pass over
 * the list's headers, in debug builds only.
 */
#include "collector/gc_internal.h"

#if defined(TALLY_DEBUG)

static const char *const row_names[] = {
    [GC_VL_REACHABLE] = "reachable (generation lists, survivors, legacy finalizers)",
    [GC_VL_UNREACHABLE] = "unreachable (move_unreachable's U, finalize and clear phases)",
};

void _tally_gc_validate_list(_tally_gc_head *head, int row, const char *where)
{
    TALLY_ASSERT(row == GC_VL_REACHABLE || row == GC_VL_UNREACHABLE);
    bool want = row == GC_VL_UNREACHABLE;   /* COLLECTING and UNREACHABLE, both set or both clear */
    size_t i = 0;
    _tally_gc_head *prev = head;
    for (_tally_gc_head *g = gc_next(head); g != head; prev = g, g = gc_next(g), i++) {
        tally_object *o = _TALLY_FROM_GC(g);
        uint8_t bits = gc_bits(o);
        const char *bad = NULL;
        if (gc_prev(g) != prev)
            bad = "its gc_prev does not name the object before it";
        else if (gc_tag(g) != 0)
            bad = "gc_next carries a tag";
        else if (((gc_ld(&g->gc_prev) & GC_PREV_COLLECTING) != 0) != want)
            bad = want ? "COLLECTING is clear" : "COLLECTING is set";
        else if (((bits & TALLY_GC_BIT_UNREACHABLE) != 0) != want)
            bad = want ? "UNREACHABLE is clear" : "UNREACHABLE is set";
        else if (!(bits & TALLY_GC_BIT_TRACKED))
            bad = "TRACKED is clear";
        if (bad)
            _tally_fatal("gc_validate_list (%s, a %s list): object %zu (%p, a %s): %s", where, row_names[row], i,
                         (void *)o, o->ob_type ? o->ob_type->name : "?", bad);
    }
    if (gc_prev(head) != prev)
        _tally_fatal("gc_validate_list (%s, a %s list): the head's gc_prev does not name its last object (%zu objects)",
                     where, row_names[row], i);
}

#endif
