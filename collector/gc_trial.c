/* collector/gc_trial.c - trial deletion with gc_refs in the prev words (CPython's layout).
 *
 * Owns: update_refs, subtract_refs, their fused walk (generation 0 and full collections) and
 * move_unreachable, as the young, generation-1 and incremental collections and the step-8
 * recomputation run them (full collections with incremental mode off use
 * collector/gc_side_table.c instead).  World stopped (or the GIL held), collecting thread only:
 * every list word and gc_refs is read and written without atomics beyond the relaxed accessors.
 */
#include "collector/gc_trial.h"

static inline intptr_t gc_get_refs(_tally_gc_head *g) { return (intptr_t)(gc_ld(&g->gc_prev) >> GC_REFS_SHIFT); }
static inline void gc_set_refs(_tally_gc_head *g, intptr_t r)
{
    gc_st(&g->gc_prev, ((uintptr_t)r << GC_REFS_SHIFT) | GC_PREV_COLLECTING);
}

static inline bool in_pending_old(tally_object *o, _tally_gc_head *g, int visited_space)
{
    uint8_t b = gc_bits(o);
    if (!(b & TALLY_GC_BIT_TRACKED) || (b & TALLY_GC_BIT_FROZEN))
        return false;
    uintptr_t prev = gc_ld(&g->gc_prev);
    if (prev & GC_PREV_COLLECTING)
        return false;
    return (int)(prev & GC_PREV_SPACE) != visited_space;
}

/* Incremental closure: a pending gen2 object referenced from W joins W (at its tail, so the
 * update_refs walk reaches it too).  Objects of the visited half stay outside: they are
 * external to this increment, which is conservative (trial deletion is sound for any W). */
static int visit_pull_in(tally_object *o, void *arg)
{
    pass_ctx *c = arg;
    if (!o || !_TALLY_IS_GC(o))
        return 0;
    _tally_gc_head *g = _TALLY_AS_GC(o);
    if (!in_pending_old(o, g, c->visited_space))
        return 0;
    gc_list_move(g, c->work);
    c->pulled++;
    return 0;
}



/* gc_refs = the backend's true count (world stopped).  No atomics needed: every other thread is
 * parked.  Objects pulled in by the incremental closure are appended to W and reached by this
 * same walk. */
void _tally_gc_update_refs(pass_ctx *c)
{
    TALLY_ASSERT(_tally_world_is_stopped());   /* by this thread (or it holds the GIL) */
    _tally_gc_head *w = c->work;
    _tally_gc_head *g = gc_next(w);
    while (g != w) {
        tally_object *o = _TALLY_FROM_GC(g);
        GC_PREFETCH(gc_next(g));
        gc_st(&g->gc_next, gc_ld(&g->gc_next) & GC_PTR_MASK);   /* tag 0: collector-owned */
        intptr_t rc;
        if (tally_unlikely(!gc_is_candidate(o, &rc))) {
            _tally_gc_head *next = gc_next(g);
            gc_list_unlink(g);
            exclude_unlinked(c, g, o);
            g = next;
            continue;
        }
        if (c->pull_old && o->ob_type->traverse)
            gc_traverse_slot(o, visit_pull_in, c);
        gc_set_refs(g, rc);
        c->candidates++;
        g = gc_next(g);
    }
}

/* One internal reference to o: -1 on its gc_refs if it is being counted (COLLECTING); false
 * when it is not (outside W, or not reached yet by the fused walk). */
static inline bool gc_refs_decrement(tally_object *o, _tally_gc_head *g)
{
    uintptr_t prev = gc_ld(&g->gc_prev);
    if (!(prev & GC_PREV_COLLECTING))
        return false;
    if (tally_likely(prev >> GC_REFS_SHIFT))
        gc_st(&g->gc_prev, prev - ((uintptr_t)1 << GC_REFS_SHIFT));
    else
        _tally_misuse(o, "cycle collector: refcount is too small (traverse visits more references than the count holds)");
    return true;
}

static inline int visit_decref(tally_object *o, void *arg)
{
    (void)arg;
    if (o && _TALLY_IS_GC(o))
        (void)gc_refs_decrement(o, _TALLY_AS_GC(o));
    return 0;
}

void _tally_gc_subtract_refs(_tally_gc_head *w)
{
    TALLY_ASSERT(_tally_world_is_stopped());   /* by this thread (or it holds the GIL) */
    for (_tally_gc_head *g = gc_next(w); g != w; g = gc_next(g)) {
        GC_PREFETCH(gc_next(g));
        GC_TRAVERSE(_TALLY_FROM_GC(g), visit_decref, NULL);
    }
}

/* ---- update_refs and subtract_refs fused (one walk instead of two) --------------------------
 * When membership of W can be read off an object that has not been reached yet, subtract_refs
 * can run in update_refs' walk: a reference to a W object not yet given its gc_refs gives it
 * gc_refs = count - 1 on the spot (lazy initialisation), and the walk, reaching an object that
 * already has COLLECTING, only traverses it.  The result is the same gc_refs as the two passes
 * (each W object is initialised once, from the same exact count, and loses one per internal
 * reference), so move_unreachable is unchanged.  Membership tests, before initialisation:
 *   young (generation 0): W is the nurseries, linked in with tag GC_TAG_YOUNG; every other
 *                         list has tag 0.
 *   full (generation 2, not an incremental step): W is every tracked object that is not frozen.
 * Generation 1 and incremental steps mix tag-0 objects in and out of W and use the two walks.
 * Objects that are not candidates (count 0, being destroyed) are never initialised: a lazy visit
 * skips them (their references count as external) and the walk moves them out when it gets
 * there.  While the walk runs, prev words of W objects ahead of it may hold gc_refs, so an
 * object is unlinked through the walk's own predecessor and a successor's prev is rewritten
 * only while it is still a pointer; move_unreachable rebuilds every prev pointer of W. */
enum { FUSE_YOUNG, FUSE_FULL };

static inline __attribute__((always_inline)) int visit_decref_fused(tally_object *o, bool *saw_gc, int mode)
{
    if (!o || !_TALLY_IS_GC(o))
        return 0;
    *saw_gc = true;
    _tally_gc_head *g = _TALLY_AS_GC(o);
    if (gc_refs_decrement(o, g))
        return 0;
    bool in_w = mode == FUSE_YOUNG ? gc_tag(g) != 0
                                   : (gc_bits(o) & (TALLY_GC_BIT_TRACKED | TALLY_GC_BIT_FROZEN)) == TALLY_GC_BIT_TRACKED;
    intptr_t rc;
    if (in_w && gc_is_candidate(o, &rc))
        gc_set_refs(g, rc - 1);   /* rc >= 1: this reference is one of them */
    return 0;
}
static inline int visit_decref_young(tally_object *o, void *arg) { return visit_decref_fused(o, arg, FUSE_YOUNG); }
static inline int visit_decref_full(tally_object *o, void *arg) { return visit_decref_fused(o, arg, FUSE_FULL); }

static inline __attribute__((always_inline)) void update_subtract_refs(pass_ctx *c, int mode)
{
    _tally_gc_head *w = c->work;
    _tally_gc_head *kept = w;   /* the walk's predecessor in W */
    _tally_gc_head *g = gc_next(w);
    while (g != w) {
        tally_object *o = _TALLY_FROM_GC(g);
        _tally_gc_head *next = gc_next(g);
        GC_PREFETCH(next);
        if (!(gc_ld(&g->gc_prev) & GC_PREV_COLLECTING)) {
            intptr_t rc;
            if (tally_unlikely(!gc_is_candidate(o, &rc))) {
                /* Not a candidate: out of W, unlinked through `kept`. */
                gc_set_next(kept, next);
                if (!(gc_ld(&next->gc_prev) & GC_PREV_COLLECTING))
                    gc_set_prev(next, kept);
                exclude_unlinked(c, g, o);
                g = next;
                continue;
            }
            gc_set_refs(g, rc);
        }
        c->candidates++;
        bool saw_gc = false;
        if (mode == FUSE_YOUNG)
            GC_TRAVERSE(o, visit_decref_young, &saw_gc);
        else
            GC_TRAVERSE(o, visit_decref_full, &saw_gc);
        /* tag 0 (collector-owned), or GC_NEXT_LEAF: nothing for move_unreachable to traverse */
        gc_st(&g->gc_next, (uintptr_t)next | (saw_gc ? 0 : GC_NEXT_LEAF));
        kept = g;
        g = next;
    }
}


static inline int visit_reachable(tally_object *o, void *arg)
{
    mu_ctx *c = arg;
    _tally_gc_head *reachable = c->w;
    if (!o || !_TALLY_IS_GC(o))
        return 0;
    _tally_gc_head *g = _TALLY_AS_GC(o);
    uintptr_t prev = gc_ld(&g->gc_prev);
    /* Objects of other generations, and those to the left of move_unreachable's position
     * (already traversed, COLLECTING cleared), are skipped. */
    if (!(prev & GC_PREV_COLLECTING))
        return 0;
    if (gc_bits(o) & TALLY_GC_BIT_UNREACHABLE) {
        /* Had gc_refs 0 when move_unreachable got to it, but is reachable after all: back to
         * the tail of W, to be traversed again. */
        gc_list_unlink(g);
        gc_bits_clear_ws(o, TALLY_GC_BIT_UNREACHABLE);
        gc_list_append(g, reachable);
        gc_set_refs(g, 1);
        c->moved_back++;
    } else if ((prev >> GC_REFS_SHIFT) == 0) {
        gc_set_refs(g, 1);   /* still ahead in W: tell move_unreachable it is reachable */
    }
    return 0;
}

/* CPython's move_unreachable: W keeps the reachable objects (prev pointers restored,
 * COLLECTING cleared); U gets those with gc_refs 0 that nothing reachable points to
 * (UNREACHABLE set, prev = pointer | COLLECTING).  Reachable tuples go to `tuples` (if given)
 * for untrack_tuples, which then touches only them.  Returns the number of reachable objects;
 * c gets |U| and conservative hints (objects that came back to W may have set them). */
size_t _tally_gc_move_unreachable(mu_ctx *c, _tally_gc_head *u, _tally_gc_head *tuples)
{
    TALLY_ASSERT(_tally_world_is_stopped());   /* by this thread (or it holds the GIL) */
    _tally_gc_head *w = c->w;
    _tally_gc_head *prev = w;
    _tally_gc_head *g = gc_next(w);
    size_t reachable = 0;
    while (g != w) {
        GC_PREFETCH(gc_next(g));
        if (gc_get_refs(g)) {
            tally_object *o = _TALLY_FROM_GC(g);
            const tally_type *t = o->ob_type;
            uintptr_t next_word = gc_ld(&g->gc_next);
            if (next_word & GC_NEXT_LEAF)
                gc_st(&g->gc_next, next_word & GC_PTR_MASK);   /* no GC referent: no traversal */
            else
                GC_TRAVERSE(o, visit_reachable, c);
            reachable++;
            if (tuples && t == &tally_tuple_type) {
                /* Traversed and reachable: out of W (COLLECTING cleared, so later visits skip it). */
                gc_set_next(prev, gc_next(g));
                _tally_gc_head *last = gc_prev(tuples);
                gc_set_next(last, g);
                gc_st(&g->gc_prev, (uintptr_t)last);
                gc_st(&g->gc_next, (uintptr_t)tuples);
                gc_st(&tuples->gc_prev, (uintptr_t)g);
            } else {
                gc_st(&g->gc_prev, (uintptr_t)prev);   /* COLLECTING and SPACE cleared */
                prev = g;
            }
        } else {
            gc_set_next(prev, gc_next(g));
            gc_append_unreachable(c, g, u);
        }
        g = gc_next(prev);
    }
    gc_st(&w->gc_prev, (uintptr_t)prev);
    return reachable;
}

void _tally_gc_update_subtract_refs(pass_ctx *c, bool young)
{
    TALLY_ASSERT(_tally_world_is_stopped());   /* by this thread (or it holds the GIL) */
    if (young)
        update_subtract_refs(c, FUSE_YOUNG);
    else
        update_subtract_refs(c, FUSE_FULL);
}
