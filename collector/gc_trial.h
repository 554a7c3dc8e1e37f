/* collector/gc_trial.h - what the trial-deletion passes share with the collection that runs them.
 *
 * Owns: the passes' contexts (pass_ctx for update_refs/subtract_refs, mu_ctx for
 * move_unreachable), the candidate test and the exclusion of non-candidates, and the entry points
 * of the two implementations: gc_refs in the prev words (collector/gc_trial.c: young,
 * generation-1, incremental and step-8 passes) and gc_refs in the side table
 * (collector/gc_side_table.c: full collections with incremental mode off).  All of them run
 * with the world stopped (or the GIL held) on the collecting thread.
 */
#ifndef TALLY_COLLECTOR_GC_TRIAL_H
#define TALLY_COLLECTOR_GC_TRIAL_H

#include "collector/gc_internal.h"
#include "collector/gc_traverse.h"

/* The walks are pointer chases through memory in allocation order: the next node's header is
 * prefetched while the current one is traversed. */
#define GC_PREFETCH(p) __builtin_prefetch((const void *)(p), 1, 3)

typedef struct pass_ctx {
    _tally_gc_head *work;       /* W: the list being examined */
    _tally_gc_head *excluded;   /* where left-out objects go (an old list) */
    bool excluded_space;        /* left-out objects enter the visited half of gen2 */
    bool pull_old;              /* incremental: pull pending gen2 objects into W */
    int visited_space;
    uint64_t candidates;
    uint64_t pulled;
} pass_ctx;

/* move_unreachable's context: W, and what it learns about U on the way. */
typedef struct mu_ctx {
    _tally_gc_head *w;
    size_t to_u, moved_back;   /* |U| = to_u - moved_back */
    bool any_del;              /* some object sent to U has a legacy finalizer */
    bool need_walk;            /* some object sent to U is or has weakrefs, or needs finalize */
} mu_ctx;

/* A candidate for W: not inside its deallocation, and a true count above 0 (0: the backend
 * releases it after the restart).  *rc gets the count.  World stopped. */
static inline __attribute__((always_inline)) bool gc_is_candidate(tally_object *o, intptr_t *rc)
{
    if (gc_bits(o) & TALLY_GC_BIT_DEALLOCATING)
        return false;
    *rc = _tally_rc_gc_refcount(o);
    return *rc > 0;
}

/* A non-candidate (count 0 at the stop: the backend releases it after the restart; or inside
 * its deallocation), already unlinked from W, joins the excluded (old) list: its references
 * then count as external.  World stopped. */
static inline void exclude_unlinked(pass_ctx *c, _tally_gc_head *g, tally_object *o)
{
    gc_list_append(g, c->excluded);
    gc_st(&g->gc_prev, (gc_ld(&g->gc_prev) & GC_PTR_MASK) | (c->excluded_space ? GC_PREV_SPACE : 0));
    if (gc_bits(o) & TALLY_GC_BIT_UNREACHABLE)
        gc_bits_clear_ws(o, TALLY_GC_BIT_UNREACHABLE);
}

/* Append g (already out of W) to U as move_unreachable leaves it: prev address | COLLECTING,
 * UNREACHABLE set; note in c what the later passes over U must do (the header line is loaded
 * anyway).  World stopped. */
static inline void gc_append_unreachable(mu_ctx *c, _tally_gc_head *g, _tally_gc_head *u)
{
    _tally_gc_head *last = gc_prev(u);
    gc_set_next(last, g);
    gc_st(&g->gc_prev, (uintptr_t)last | GC_PREV_COLLECTING);
    gc_st(&g->gc_next, (uintptr_t)u);
    gc_st(&u->gc_prev, (uintptr_t)g);
    tally_object *o = _TALLY_FROM_GC(g);
    uint8_t bits = gc_bits(o);
    tally_atomic_store_relaxed(&o->ob_gc_bits, (uint8_t)(bits | TALLY_GC_BIT_UNREACHABLE));
    const tally_type *t = o->ob_type;
    c->to_u++;
    if (t->del)
        c->any_del = true;
    if ((bits & TALLY_GC_BIT_WEAKREFS) || t == &tally_weakref_type ||
        (t->finalize && !(bits & TALLY_GC_BIT_FINALIZED)))
        c->need_walk = true;
}

/* gc_refs in the prev words (collector/gc_trial.c). */
TALLY_HIDDEN void _tally_gc_update_refs(pass_ctx *c);
TALLY_HIDDEN void _tally_gc_subtract_refs(_tally_gc_head *w);
/* update_refs and subtract_refs in one walk: generation 0 (young = true) or a full collection. */
TALLY_HIDDEN void _tally_gc_update_subtract_refs(pass_ctx *c, bool young);
/* Returns the number of reachable objects; c gets |U| = to_u - moved_back and the hints. */
TALLY_HIDDEN size_t _tally_gc_move_unreachable(mu_ctx *c, _tally_gc_head *u, _tally_gc_head *tuples);

/* gc_refs in the side table (collector/gc_side_table.c): the same results for a full collection
 * with incremental mode off. */
TALLY_HIDDEN void _tally_gc_side_update_subtract_refs(pass_ctx *c);
TALLY_HIDDEN size_t _tally_gc_side_move_unreachable(mu_ctx *c, _tally_gc_head *u, _tally_gc_head *tuples);

#endif
