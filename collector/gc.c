/* collector/gc.c - one collection: CPython 3.13's generational cycle collector, run with the
 * world stopped for the graph work and restarted for user code (PEP 703's two pauses).
 *
 * Owns: _tally_gc_collect_main and the generation choice (_tally_gc_collect_generations).
 *
 * Sequence of collect(g) (numbers are gc-semantics.md steps):
 *   callbacks "start" (1); counts (2); flush the backend (world running); STOP #1;
 *   backend gc_prepare; gather the working set W (nurseries + younger generations [+ an
 *   increment of gen2 and its closure]) (2); update_refs / subtract_refs / move_unreachable (3)
 *   (full collections with incremental mode off: over the side table, gc_side_table.h);
 *   untrack atomic tuples, survivors to g+1 (4); legacy finalizers and what they reach out of
 *   the unreachable set U (5); clear weakrefs to U, queue callbacks of live weakrefs (6);
 *   START; backend gc_after; run weakref callbacks (6) and PEP 442 finalizers (7);
 *   if any user code ran: STOP #2, recompute reachability inside U from true counts (8), clear
 *   weakrefs created meanwhile to what is still trash, START; clear() the rest (9);
 *   uncollectable to gc.garbage (10); stats (11); callbacks "stop" (12); return n + m (13).
 *
 * Safety while other threads are attached (free-threaded backends):
 *  - The graph is only read with every other thread parked (stop-the-world) after the backend
 *    made each count exact (_tally_rc_gc_prepare): the counts and the edges are one snapshot.
 *  - After STOP #1 nothing outside U references U (that is what trial deletion proved) and every
 *    weakref to U is cleared, so no other thread can reach U.  Only user code run by the
 *    collector (weakref callbacks, finalizers) can publish a U object; STOP #2 re-checks with
 *    true counts and resurrects whatever became referenced, before any clear().
 *  - While the world runs, objects of U can still die by refcount (a finalizer dropped the last
 *    reference, or a deferred decrement was applied): their deallocation untracks them under
 *    gc.lock, which the collector holds for every list access of that phase; the collector takes
 *    references with _tally_rc_try_incref, which refuses a dying object.
 *  - Objects whose true count is 0 at a stop (the backend releases them after the restart) and
 *    objects inside their deallocation are left out of W: their outgoing references then count
 *    as external, which is conservative, and they are never traversed half-destroyed.
 * Memory ordering: the stop/start pair orders the collector's plain list/flag writes with every
 * other thread (sync/stw.c's mutex hand-over); in the running phases gc.lock orders list words,
 * and ob_gc_bits changes are atomic RMWs.  `collecting` is taken with an acq_rel CAS and released
 * with a release store, so consecutive collections on different threads see each other's lists.
 */
#include "collector/gc_trial.h"

#include <stdio.h>
#include <stdlib.h>

/* ---- survivors -------------------------------------------------------------------------- */

/* CPython's _PyTuple_MaybeUntrack: a tuple whose items are all atomic, or tuples that are
 * themselves untracked, can never be part of a cycle. */
static bool gc_may_be_tracked(tally_object *o)
{
    if (!_TALLY_IS_GC(o))
        return false;
    if (o->ob_type == &tally_tuple_type)
        return (gc_bits(o) & TALLY_GC_BIT_TRACKED) != 0;
    return true;
}

/* `w` holds the reachable tuples in the order move_unreachable reached them: a tuple that was
 * reached through another comes after it.  Walking from the end sees items before the tuples that
 * hold them, so a nest of tuples whose leaves are atomic is untracked in one collection instead
 * of one level per collection (CPython's walk from the front, which untracks a binary tree of
 * depth d over d collections, each of which examines what is left).  Every tuple untracked still
 * holds only atomic or untracked items when it is untracked, which is CPython's rule. */
static void untrack_tuples(_tally_gc_head *w)
{
    for (_tally_gc_head *g = gc_prev(w), *next; g != w; g = next) {
        next = gc_prev(g);
        tally_object *o = _TALLY_FROM_GC(g);
        size_t n = tally_tuple_len(o);
        bool keep = false;
        for (size_t i = 0; i < n && !keep; i++) {
            tally_object *it = tally_tuple_get(o, i);
            keep = it == NULL || gc_may_be_tracked(it);
        }
        if (!keep) {
            gc_list_unlink(g);
            gc_st(&g->gc_next, 0);
            gc_st(&g->gc_prev, 0);
            gc_bits_clear_ws(o, TALLY_GC_BIT_TRACKED);
        }
    }
}

/* Move every object of `from` (tag 0) to the old list `to`.  Incremental gen2: they enter the
 * visited half with SPACE = visited_space.  ws: world stopped (plain bit writes). */
static void merge_into_old(_tally_gc_head *from, _tally_gc_head *to, bool set_space, int space, bool ws, bool clean)
{
    /* clean: every object already has a plain prev pointer and no UNREACHABLE bit. */
    for (_tally_gc_head *g = gc_next(from); g != from && !(clean && !(set_space && space)); g = gc_next(g)) {
        uintptr_t prev = gc_ld(&g->gc_prev) & GC_PTR_MASK;
        if (set_space && space)
            prev |= GC_PREV_SPACE;
        gc_st(&g->gc_prev, prev);
        tally_object *o = _TALLY_FROM_GC(g);
        if (gc_bits(o) & TALLY_GC_BIT_UNREACHABLE) {
            if (ws)
                gc_bits_clear_ws(o, TALLY_GC_BIT_UNREACHABLE);
            else
                gc_bits_clear_rt(o, TALLY_GC_BIT_UNREACHABLE);
        }
    }
    gc_list_merge(from, to);
}

/* One object to the old list (world running, gc.lock held). */
static void move_one_to_old(_tally_gc_head *g, _tally_gc_head *to, bool set_space, int space)
{
    gc_list_unlink(g);
    uintptr_t prev = gc_ld(&g->gc_prev) & GC_PTR_MASK;
    gc_st(&g->gc_prev, prev);
    gc_list_append(g, to);
    if (set_space && space)
        gc_st(&g->gc_prev, gc_ld(&g->gc_prev) | GC_PREV_SPACE);
    gc_bits_clear_rt(_TALLY_FROM_GC(g), TALLY_GC_BIT_UNREACHABLE);
}

/* ---- legacy finalizers (step 5) ----------------------------------------------------------- */

static int visit_move_to_finalizers(tally_object *o, void *arg)
{
    if (!o || !_TALLY_IS_GC(o))
        return 0;
    _tally_gc_head *g = _TALLY_AS_GC(o);
    if ((gc_ld(&g->gc_prev) & GC_PREV_COLLECTING) && (gc_bits(o) & TALLY_GC_BIT_UNREACHABLE)) {
        gc_list_move(g, arg);
        gc_st(&g->gc_prev, gc_ld(&g->gc_prev) & ~GC_PREV_COLLECTING);
        gc_bits_clear_ws(o, TALLY_GC_BIT_UNREACHABLE);
    }
    return 0;
}

static void move_legacy_finalizers(_tally_gc_head *u, _tally_gc_head *fin)
{
    for (_tally_gc_head *g = gc_next(u), *next; g != u; g = next) {
        next = gc_next(g);
        tally_object *o = _TALLY_FROM_GC(g);
        if (o->ob_type->del) {
            gc_list_move(g, fin);
            gc_st(&g->gc_prev, gc_ld(&g->gc_prev) & ~GC_PREV_COLLECTING);
            gc_bits_clear_ws(o, TALLY_GC_BIT_UNREACHABLE);
        }
    }
    /* Everything reachable from them is uncollectable too (the walk sees appended objects). */
    for (_tally_gc_head *g = gc_next(fin); g != fin; g = gc_next(g)) {
        tally_object *o = _TALLY_FROM_GC(g);
        if (o->ob_type->traverse)
            gc_traverse_slot(o, visit_move_to_finalizers, fin);
    }
}

/* ---- weakrefs (step 6, world stopped) ----------------------------------------------------- */

/* Clear weakrefs that are trash themselves and every weakref to trash; weakrefs with a
 * callback that are not trash are chained on `pending` (new references).  The same walk counts U and
 * notes whether any object still needs its PEP 442 finalizer.  World stopped. */
static size_t clear_weakrefs_of(_tally_gc_head *u, _tally_wr_chain *pending, bool trash_weakrefs, bool *need_finalize)
{
    size_t n = 0;
    for (_tally_gc_head *g = gc_next(u); g != u; g = gc_next(g)) {
        tally_object *o = _TALLY_FROM_GC(g);
        GC_PREFETCH(gc_next(g));
        n++;
        const tally_type *t = o->ob_type;
        uint8_t bits = gc_bits(o);
        if (trash_weakrefs && t == &tally_weakref_type)
            _tally_weakref_forget(o);
        if ((bits & TALLY_GC_BIT_WEAKREFS) && _tally_has_weakrefs(o))
            _tally_weakrefs_clear_for_gc(o, pending);
        if (t->finalize && !(bits & TALLY_GC_BIT_FINALIZED))
            *need_finalize = true;
    }
    return n;
}

/* ---- helpers ------------------------------------------------------------------------------ */

static void debug_object(const char *what, tally_object *o)
{
    fprintf(stderr, "gc: %s <%s %p>\n", what, o->ob_type && o->ob_type->name ? o->ob_type->name : "?", (void *)o);
}


typedef struct stw_clock {
    uint64_t t_request;
    uint64_t to_safepoint;
} stw_clock;

/* Flush with the world running, then stop it and make every count exact. */
static void world_stop(stw_clock *clk)
{
    tally_thread_state *self = _tally_tstate();
    if (self && self->gc_preflushed)
        self->gc_preflushed = 0;   /* the first stop of an automatic collection: just flushed */
    else
        _tally_rc_flush();
    clk->t_request = _tally_now_ns();
    uint64_t tsp = 0;
    if (_tally_stop_the_world(&tsp) != 0)
        _tally_fatal("cycle collector: cannot stop the world: %s", tally_last_error());
    clk->to_safepoint += tsp;
    pthread_mutex_lock(&_tally_gc.stw_phase);
    _tally_rc_gc_prepare();
}

static uint64_t world_start(stw_clock *clk)
{
    pthread_mutex_unlock(&_tally_gc.stw_phase);
    _tally_start_the_world();
    uint64_t held = _tally_now_ns() - clk->t_request;
    _tally_rc_gc_after();
    return held;
}

/* ---- the collection ------------------------------------------------------------------------ */

intptr_t _tally_gc_collect_main(int generation, bool incremental_step)
{
    gc_state *gc = &_tally_gc;
    int expected = 0;
    if (!__atomic_compare_exchange_n(&gc->collecting, &expected, 1, 0, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
        return 0;
    gc->collector = pthread_self();
    tally_atomic_store_relaxed(&gc->collector_ts, _tally_tstate());

    uint64_t t_begin = _tally_now_ns();
    unsigned debug = tally_atomic_load_relaxed(&gc->debug);
    bool shutdown = tally_atomic_load_relaxed(&gc->shutting_down) != 0;
    bool saveall = (debug & TALLY_GC_DEBUG_SAVEALL) != 0;
    tally_gc_pause rec = { 0 };
    rec.generation = generation;
    rec.incremental = incremental_step;

    if (!shutdown)
        _tally_gc_invoke_callbacks(TALLY_GC_START, generation, 0, 0);
    if (debug & TALLY_GC_DEBUG_STATS)
        fprintf(stderr, "gc: collecting generation %d%s...\n", generation, incremental_step ? " (incremental)" : "");

    /* Nothing here allocates a Tally object: tally_new is a safepoint, where a GIL build would
     * hand the GIL to another thread mid-collection (which then allocated on, unchecked).  The
     * weakref callbacks to run are chained through the weakrefs; gc.garbage is made when
     * something is saved into it (DEBUG_SAVEALL, or uncollectable objects). */
    _tally_wr_chain pending = { NULL, NULL };
    tally_object *garbage = saveall ? _tally_gc_garbage_list() : NULL;

    /* Step 2: counts, at the start. */
    if (generation + 1 < 3)
        tally_atomic_fetch_add_relaxed(&gc->count[generation + 1], 1);
    for (int i = 0; i <= generation; i++)
        tally_atomic_store_relaxed(&gc->count[i], 0);

    _Alignas(16) _tally_gc_head work, unreachable, finalizers, resurrected, still, seen, tuples, cleared;
    _tally_gc_head *mine[] = { &work, &unreachable, &finalizers, &resurrected, &still, &seen, &tuples, &cleared };
    for (size_t i = 0; i < sizeof mine / sizeof mine[0]; i++)
        gc_list_init(mine[i], 0);
    /* Published for a fork() child, which adopts them if this thread does not survive the fork
     * (the lists are consistent whenever gc.lock is free; the fork handlers hold it). */
    gc_global_lock();
    gc->cur_lists = mine;
    gc->ncur_lists = sizeof mine / sizeof mine[0];
    gc_global_unlock();

    stw_clock clk = { 0, 0 };
    uint64_t stw_total = 0;

    /* ======== STOP #1 ======== */
    world_stop(&clk);
    _tally_gc_count_reset_ws();   /* what was allocated up to the stop is in W */
    bool inc_mode = tally_atomic_load_relaxed(&gc->incremental) != 0;
    if (!inc_mode) {
        gc_list_merge(&gc->gen2_visited, &gc->gen2);
        gc->space_valid = 0;
    } else if (!gc->space_valid) {
        /* Entering incremental mode: every gen2 object is pending. */
        gc_list_merge(&gc->gen2_visited, &gc->gen2);
        for (_tally_gc_head *g = gc_next(&gc->gen2); g != &gc->gen2; g = gc_next(g)) {
            uintptr_t p = gc_ld(&g->gc_prev) & GC_PTR_MASK;
            gc_st(&g->gc_prev, p | (gc->visited_space ? 0 : GC_PREV_SPACE));
        }
        gc->space_valid = 1;
    }
    if (incremental_step && !inc_mode)
        incremental_step = false, rec.incremental = 0;

    /* Gather W: every nursery (tagged young; the first walk clears the tags), then the older
     * generations. */
    _tally_gc_gather_young_ws(&work);
    _tally_gc_head *old;
    bool old_space = false;
    if (generation >= 1 || incremental_step)
        gc_list_merge(&gc->gen1, &work);
    if (incremental_step) {
        if (gc_list_is_empty(&gc->gen2)) {
            /* The old-generation cycle is complete: the visited half becomes pending. */
            gc_list_merge(&gc->gen2_visited, &gc->gen2);
            gc->visited_space ^= 1;
            tally_atomic_store_relaxed(&gc->count[2], 0);
        }
        size_t k = tally_atomic_load_relaxed(&gc->increment_size);
        for (size_t i = 0; i < k && !gc_list_is_empty(&gc->gen2); i++)
            gc_list_move(gc_next(&gc->gen2), &work);
        old = &gc->gen2_visited;
        old_space = true;
    } else if (generation == 2) {
        gc_list_merge(&gc->gen2, &work);
        gc_list_merge(&gc->gen2_visited, &work);
        old = inc_mode ? &gc->gen2_visited : &gc->gen2;
        old_space = inc_mode;
        if (inc_mode)
            tally_atomic_store_relaxed(&gc->count[2], 0);
    } else {
        old = generation == 0 ? &gc->gen1 : (inc_mode ? &gc->gen2_visited : &gc->gen2);
        old_space = generation == 1 && inc_mode;
    }
    int space = gc->visited_space;

    uint64_t t0 = _tally_now_ns();
    pass_ctx pc = { &work, old, old_space && space, incremental_step, space, 0, 0 };
    uint64_t t1, t2;
    /* A full collection with incremental mode off uses the side table; the others (small W,
     * or gen2 SPACE bits in the prev words) keep gc_refs in the prev words. */
    bool side = !incremental_step && generation == 2 && !inc_mode;
    if (side) {
        _tally_gc_side_update_subtract_refs(&pc);
        t1 = t2 = _tally_now_ns();
    } else if (!incremental_step && (generation == 0 || generation == 2)) {
        /* One walk (see update_subtract_refs); its time is recorded as update_refs'. */
        _tally_gc_update_subtract_refs(&pc, generation == 0);
        t1 = t2 = _tally_now_ns();
    } else {
        _tally_gc_update_refs(&pc);
        t1 = _tally_now_ns();
        _tally_gc_subtract_refs(&work);
        t2 = _tally_now_ns();
    }
    mu_ctx mc = { &work, 0, 0, false, false };
    size_t survivors = side ? _tally_gc_side_move_unreachable(&mc, &unreachable, &tuples)
                            : _tally_gc_move_unreachable(&mc, &unreachable, &tuples);
    uint64_t t3 = _tally_now_ns();
    rec.update_refs_ns = t1 - t0;
    rec.subtract_refs_ns = t2 - t1;
    rec.move_unreachable_ns = t3 - t2;
    rec.candidates = pc.candidates;

    untrack_tuples(&tuples);
    gc_list_merge(&tuples, &work);
    GC_VALIDATE(&work, GC_VL_REACHABLE, "survivors of move_unreachable");   /* debug builds */
    GC_VALIDATE(&unreachable, GC_VL_UNREACHABLE, "move_unreachable");
    /* Step 4: survivors to the next generation (gen2 survivors stay). */
    if (generation == 1 && !incremental_step)
        gc->long_lived_pending += (intptr_t)survivors;
    if (generation == 2 && !incremental_step) {
        gc->long_lived_pending = 0;
        gc->long_lived_total = (intptr_t)survivors;
    }
    merge_into_old(&work, old, old_space, space, true, true);

    /* Step 5: legacy finalizers and everything they reach leave U. */
    if (mc.any_del)
        move_legacy_finalizers(&unreachable, &finalizers);
    GC_VALIDATE(&finalizers, GC_VL_REACHABLE, "legacy finalizers");
    /* Step 6 (weakrefs cleared before any user code runs) and the census of U, in one walk, skipped when no object sent to U had weakrefs, was
     * a weakref or needed its finalizer (then |U| is move_unreachable's count). */
    bool need_finalize = false;
    size_t n_unreachable = mc.to_u - mc.moved_back;
    if (mc.need_walk || mc.any_del)
        n_unreachable = clear_weakrefs_of(&unreachable, &pending, true, &need_finalize);

    stw_total += world_start(&clk);
    /* ======== world running ======== */

    uint64_t t_fin0 = _tally_now_ns();
    intptr_t m = 0;
    bool user_code_ran = pending.head != NULL;
    /* Weakrefs that only the chain still held died with it: counted as collected (CPython's
     * handle_weakrefs num_freed). */
    m += (intptr_t)_tally_weakrefs_call_pending(&pending);

    /* Step 7: PEP 442 finalizers, at most once per object. */
    gc_global_lock();
    while (need_finalize && !gc_list_is_empty(&unreachable)) {
        _tally_gc_head *g = gc_next(&unreachable);
        tally_object *o = _TALLY_FROM_GC(g);
        gc_list_move(g, &seen);
        void (*fin)(tally_object *) = o->ob_type->finalize;
        if (fin && !(gc_bits(o) & TALLY_GC_BIT_FINALIZED) && _tally_rc_try_incref(o)) {
            gc_bits_set_rt(o, TALLY_GC_BIT_FINALIZED);
            gc_global_unlock();
            fin(o);
            user_code_ran = true;
            tally_decref(o);
            gc_global_lock();
        }
    }
    gc_list_merge(&seen, &unreachable);
    gc_global_unlock();
    rec.finalize_ns = _tally_now_ns() - t_fin0;

    /* Step 8: resurrection check, only if user code could have published something. */
    if (user_code_ran) {
        world_stop(&clk);
        gc_list_merge(&unreachable, &resurrected);
        for (_tally_gc_head *g = gc_next(&resurrected); g != &resurrected; g = gc_next(g)) {
            gc_st(&g->gc_prev, gc_ld(&g->gc_prev) & ~GC_PREV_COLLECTING);
            gc_bits_clear_ws(_TALLY_FROM_GC(g), TALLY_GC_BIT_UNREACHABLE);
        }
        pass_ctx pc2 = { &resurrected, old, old_space && space, false, space, 0, 0 };
        _tally_gc_update_refs(&pc2);
        _tally_gc_subtract_refs(&resurrected);
        mu_ctx mc2 = { &resurrected, 0, 0, false, false };
        _tally_gc_move_unreachable(&mc2, &still, NULL);
        /* Weakrefs created by user code to what is still trash are cleared too (GH-91636);
         * their callbacks are not called. */
        bool unused2 = false;
        n_unreachable = clear_weakrefs_of(&still, NULL, false, &unused2);
        merge_into_old(&resurrected, old, old_space, space, true, true);
        stw_total += world_start(&clk);
    } else {
        gc_list_merge(&unreachable, &still);
    }

    /* Step 9: break the cycles that are left. */
    uint64_t t_clear0 = _tally_now_ns();
    gc_global_lock();
    m += (intptr_t)n_unreachable;   /* |final unreachable|, counted by the last walk over it */
    GC_VALIDATE(&still, GC_VL_UNREACHABLE, "before the clear loop");
    if (debug & TALLY_GC_DEBUG_COLLECTABLE) {
        for (_tally_gc_head *g = gc_next(&still); g != &still; g = gc_next(g))
            debug_object("collectable", _TALLY_FROM_GC(g));
    }
    /* Objects of `still` freed by this loop skip the QSBR grace period (_tally_free_needs_grace):
     * no other thread can reach them.  Each object goes to `cleared` (still UNREACHABLE) before
     * its clear(); whatever is left there once the backend has settled (deferred applies this
     * thread's operations on the set only now, see _tally_rc_gc_settle) lives on: to old. */
    tally_thread_state *self = _tally_tstate();
    if (self)
        self->gc_clearing = 1;
    while (!gc_list_is_empty(&still)) {
        _tally_gc_head *g = gc_next(&still);
        tally_object *o = _TALLY_FROM_GC(g);
        gc_list_move(g, &cleared);
        if (_tally_rc_try_incref(o)) {
            gc_global_unlock();
            if (saveall) {
                /* out of memory for gc.garbage: o is not cleared and lives on (to old) */
                if (garbage)
                    tally_list_append(garbage, o);
            } else if (o->ob_type->clear) {
                o->ob_type->clear(o);
            }
            tally_decref(o);
            _tally_rc_gc_settle();
            gc_global_lock();
        }
    }
    gc_global_unlock();
    _tally_rc_gc_settle();
    if (self)
        self->gc_clearing = 0;
    gc_global_lock();
    while (!gc_list_is_empty(&cleared))   /* alive (or dying elsewhere): it may die later */
        move_one_to_old(gc_next(&cleared), old, old_space, space);
    gc_global_unlock();
    rec.clear_ns = _tally_now_ns() - t_clear0;

    /* Step 10: the uncollectable. */
    intptr_t n = 0;
    gc_global_lock();
    size_t nfin = gc_list_size(&finalizers);
    tally_object **keep = nfin ? calloc(nfin, sizeof *keep) : NULL;
    size_t nkeep = 0;
    for (_tally_gc_head *g = gc_next(&finalizers); g != &finalizers; g = gc_next(g)) {
        tally_object *o = _TALLY_FROM_GC(g);
        n++;
        if (debug & TALLY_GC_DEBUG_UNCOLLECTABLE)
            debug_object("uncollectable", o);
        if (keep && (saveall || o->ob_type->del) && _tally_rc_try_incref(o))
            keep[nkeep++] = o;
    }
    merge_into_old(&finalizers, old, old_space, space, false, false);
    gc_global_unlock();
    if (nkeep && !garbage)
        garbage = _tally_gc_garbage_list();   /* NULL (out of memory): they stay in old */
    for (size_t i = 0; i < nkeep; i++) {
        if (garbage)
            tally_list_append(garbage, keep[i]);
        tally_decref(keep[i]);
    }
    free(keep);

    /* Step 11: stats and telemetry. */
    uint64_t t_end = _tally_now_ns();
    rec.collected = (uint64_t)m;
    rec.uncollectable = (uint64_t)n;
    rec.time_to_safepoint_ns = clk.to_safepoint;
    rec.stw_ns = stw_total;
    rec.total_ns = t_end - t_begin;
    gc_global_lock();
    tally_gc_stats *st = &gc->stats[generation];
    st->collections++;
    st->collected += (uint64_t)m;
    st->uncollectable += (uint64_t)n;
    st->candidates += pc.candidates;
    st->duration += (double)(rec.total_ns ? rec.total_ns : 1) / 1e9;
    gc_global_unlock();
    _tally_gc_record_pause(&rec);
    if (debug & TALLY_GC_DEBUG_STATS)
        fprintf(stderr, "gc: done, %ld unreachable, %ld uncollectable, %.6fs elapsed (%.1f us stopped)\n",
                (long)(m + n), (long)n, (double)rec.total_ns / 1e9, (double)stw_total / 1e3);

    /* Step 12. */
    if (!shutdown)
        _tally_gc_invoke_callbacks(TALLY_GC_STOP, generation, m, n);
    gc_global_lock();
    gc->cur_lists = NULL;
    gc->ncur_lists = 0;
    gc_global_unlock();
    __atomic_store_n(&gc->collecting, 0, __ATOMIC_RELEASE);
    _tally_gc_collection_done();
    /* Outside the recorded pause and after `collecting` is clear: a full collection that follows
     * a large release gives the freed memory back (runtime/memory_trim.c decides). */
    if (generation == 2 && !incremental_step && !shutdown)
        _tally_memory_trim_after_full(_tally_tstate());
    return n + m;   /* step 13 */
}

/* gc_select_generation of CPython <= 3.13: the oldest generation over its threshold; gen2 only
 * when the objects that survived since the last full collection are at least 25% of those that
 * survived it (long_lived_pending >= long_lived_total / 4).  Incremental mode: whenever gen1 or
 * gen2 would be chosen, gen1 plus an increment of gen2 is collected instead. */
intptr_t _tally_gc_collect_generations(void)
{
    gc_state *gc = &_tally_gc;
    bool inc = tally_atomic_load_relaxed(&gc->incremental) != 0;
    for (int i = 2; i >= 0; i--) {
        if (tally_atomic_load_relaxed(&gc->count[i]) > tally_atomic_load_relaxed(&gc->threshold[i])) {
            if (i == 2 && !inc) {
                gc_global_lock();
                bool skip = gc->long_lived_pending < gc->long_lived_total / 4;
                gc_global_unlock();
                if (skip)
                    continue;
            }
            if (inc && i >= 1)
                return _tally_gc_collect_main(1, true);
            return _tally_gc_collect_main(i, false);
        }
    }
    return 0;
}
