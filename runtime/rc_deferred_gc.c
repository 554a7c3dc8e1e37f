/* runtime/rc_deferred_gc.c - the `deferred` backend's collector hooks and fork.
 *
 * Owns: settling the collector's operations on its final unreachable set at once during the
 * clear loop (gc_settle_log, _tally_rc_gc_settle), the world-stopped prepare that applies every
 * log and makes the counts exact (_tally_rc_gc_prepare) and the release after the restart
 * (_tally_rc_gc_after), and fork: the atfork handlers that keep grace-period chains and half-done
 * steps out of a child, and the child's adoption of the other threads' logs and deaths.
 */
#include "runtime/rc_deferred_internal.h"

#include <time.h>
#include <urcu/urcu-qsbr.h>

#define FORK_WAIT_NS (500u * 1000u * 1000u)   /* fork: longest wait for queued chains */

/* ---- the collector's clear loop -------------------------------------------------------------
 * While its thread state has gc_clearing set, this thread is the collector breaking the cycles
 * of its final unreachable set U (objects with the UNREACHABLE bit; collector/gc.c, step 9).
 * Since the last stop of the world no other thread holds or can obtain a reference to a member
 * of U (nothing outside U refers to it, its weakrefs are cleared), and that stop applied every
 * log (_tally_rc_gc_prepare), so every operation on U since then is this thread's own and sits
 * in its log.  The epochs exist for increments that other threads have not shipped yet; there
 * are none for U, so these entries are applied here at once, the increments before the
 * decrements as in a step (in program order a count can touch zero and come back: the loop
 * takes a reference to each member of U, also to one whose last reference an earlier clear()
 * dropped with its decrement still in the log).  After both, a count is this thread's exact
 * view, so a zero is a death: no ZCT delay, and no grace period for the memory
 * (_tally_free_needs_grace).  This runs
 * whenever the log fills and before it is shipped for any reason, so no entry of U ever
 * reaches the epochs during the loop: one entry applied here and another of the same object
 * one epoch later could take its count to zero early.  Each call looks only at the entries
 * logged since the previous one (gc_seen: those before are kept, not of U; the bit is never
 * set again during the loop).  The collector's loop calls _tally_rc_gc_settle after every
 * object, so a 2-cycle dies in its first member's turn, as in the other backends (its second
 * member gets no turn of its own).  Deaths found when the log fills wait in gc_dead (that may
 * happen inside an object's critical section, where nothing may be freed) until that call; the
 * loop skips them meanwhile (try_incref sees zero).  The rest of the log is kept in order.
 * Settling only when the log filled (one turn per member of a 2-cycle, deaths in batches of
 * the log's size) measured 46.8-48.2 against 43.7-45.5 ns per object of a 1M-object 2-cycle
 * reclaim (7 collections per run, builds alternated); an earlier build had measured the
 * opposite (61 against 52), so the figure is worth re-checking when this code changes. */
void _tally_rcd_gc_settle_log(rc_thread *t)
{
    uintptr_t last = t->log->last;
    if (last && in_gc_unreachable(last)) {
        apply_inc((tally_object *)last);
        t->log->last = 0;
    }
    /* Increments of U applied and dropped (and holes erased by resurrect_end), the rest kept in
     * order; then the decrements of U the same way. */
    size_t n = (size_t)(t->log->pos - t->log->base);
    uintptr_t *from = t->log->base + (t->gc_seen < n ? t->gc_seen : n);
    uintptr_t *w = from;
    for (const uintptr_t *p = from; p < t->log->pos; p++) {
        uintptr_t e = *p;
        if (e <= 1u)
            continue;
        if ((e & 1u) || !in_gc_unreachable(e))
            *w++ = e;
        else
            apply_inc((tally_object *)e);
    }
    t->log->pos = w;
    w = from;
    for (const uintptr_t *p = from; p < t->log->pos; p++) {
        uintptr_t e = *p;
        if (!(e & 1u) || !in_gc_unreachable(e))
            *w++ = e;
        else if (apply_dec((tally_object *)(e & ~(uintptr_t)1)))
            vec_push(&t->gc_dead, (tally_object *)(e & ~(uintptr_t)1));
    }
    t->log->pos = w;
    t->gc_seen = (size_t)(w - t->log->base);
    t->settled = 0;   /* entries moved: the cascade rescans the log's increments */
}

void _tally_rc_gc_settle(void)
{
    rc_thread *t = rc_self();
    if (!t || !t->buf || !t->log->base)
        return;
    size_t deaths = 0;
    for (;;) {
        _tally_rcd_gc_settle_log(t);
        if (vec_empty(&t->gc_dead))
            break;
        /* The deallocations log decrements of what the dead held (and may fill the log, which
         * settles into gc_dead again): swap the vectors first. */
        obj_vec dead = t->gc_dead;
        t->gc_dead = t->gc_dying;
        deaths += vec_hint(&dead);
        _tally_rcd_dealloc_vec(&dead);
        t->gc_dying = dead;
    }
    if (deaths)
        STAT_ADD(n_deaths, deaths);
}

/* Keep o (count zero, found by prepare) at 1 for the collection, QUEUED, to be released by
 * gc_after; the owner is forgotten when the release list cannot grow (it spills). */
static void release_keep(tally_object *o, rc_thread *owner)
{
    tally_atomic_store_relaxed(&o->ob_ref_local, 1u);
    tally_atomic_store_relaxed(&o->ob_ref_shared, RC_QUEUED);
    vec_push_owned(&_tally_rcd.release, &_tally_rcd.release_owner, o, owner);
}

/* World stopped (every other thread parked at a safepoint or detached, its log shipped): apply
 * every log - the shipped ones, and each attached thread's current log in place (its buffer
 * stays: nothing is allocated, so this also serves as the last resort of a thread that has no
 * memory for a log buffer, runtime/rc_deferred.c) - all increments then all decrements; nothing
 * can be pending anywhere, so the counts are exact.  Objects left at zero are kept at 1 (the
 * collector sees them reachable) and released after the restart. */
void _tally_rc_gc_prepare(void)
{
    TALLY_ASSERT(_tally_world_is_stopped());   /* by this thread (or it holds the GIL) */
    pthread_mutex_lock(&_tally_rcd.lock);
    pthread_mutex_lock(&_tally_rcd.ship_lock);
    for (rc_thread *t = _tally_rcd.threads; t; t = t->next) {
        if (t->log->base && t->log->last) {   /* a parked thread's pending increment: apply it now */
            apply_inc((tally_object *)t->log->last);
            t->log->last = 0;
        }
    }
    rc_batch all = { NULL, NULL, 0 };
    batch_append(&all, &_tally_rcd.shipped);
    tally_atomic_store_relaxed(&_tally_rcd.backlog, 0);
    _tally_rcd_apply_incs(&all);
    for (rc_thread *t = _tally_rcd.threads; t; t = t->next)
        if (t->buf && t->log->base)
            _tally_rcd_apply_incs_range(t->log->base, t->log->pos);
    obj_vec zeros = { NULL, 0, 0, NULL };
    thread_vec owners = { NULL, 0, 0 };
    obj_vec ownerless = { NULL, 0, 0, NULL };
    _tally_rcd_zct_check(_tally_rcd.epoch, true, &ownerless, NULL);
    _tally_rcd_apply_decs(&_tally_rcd.prev, _tally_rcd.epoch, &zeros, &owners);
    _tally_rcd_apply_decs(&all, _tally_rcd.epoch, &zeros, &owners);
    for (rc_thread *t = _tally_rcd.threads; t; t = t->next) {
        if (!t->buf || !t->log->base)
            continue;   /* detached (shipped when it detached) */
        if (t->log->pos != t->log->base) {
            /* Parked (or this thread): its log is ours to empty in place. */
            _tally_rcd_apply_decs_range(t->log->base, t->log->pos, _tally_rcd.epoch, &zeros, &owners, t);
            _tally_rcd_log_install(t, t->buf);
        }
    }
    _tally_rcd_batch_release_locked(&_tally_rcd.prev);
    _tally_rcd_batch_release_locked(&all);
    for (size_t i = 0; i < zeros.n; i++)
        release_keep(zeros.v[i], owners.v[i]);
    for (tally_object *o; (o = vec_pop(&ownerless)) || (o = chain_pop(&zeros.spill));)
        release_keep(o, NULL);
    vec_free(&zeros);
    vec_free(&ownerless);
    thread_vec_free(&owners);
    tally_atomic_store_relaxed(&_tally_rcd.need_step, !vec_empty(&_tally_rcd.release));
    pthread_mutex_unlock(&_tally_rcd.ship_lock);
    _tally_rcd_cut_done_max(_tally_rcd.epoch);   /* every log is empty: the cut is trivially complete */
    pthread_mutex_unlock(&_tally_rcd.lock);
}

/* World running again: the objects kept at 1 drop that reference.  Through the ZCT, because a
 * reader may have taken a reference while the count read 1. */
static void release_drop(tally_object *o, rc_thread *owner)
{
    tally_atomic_store_relaxed(&o->ob_ref_shared, 0);
    if (apply_dec(o))
        _tally_rcd_zero_reached(o, _tally_rcd.epoch, NULL, NULL, owner);
}

void _tally_rc_gc_after(void)
{
    pthread_mutex_lock(&_tally_rcd.lock);
    if (!vec_empty(&_tally_rcd.release)) {
        for (size_t i = 0; i < _tally_rcd.release.n; i++)
            release_drop(_tally_rcd.release.v[i], _tally_rcd.release_owner.v[i]);
        _tally_rcd.release.n = 0;
        _tally_rcd.release_owner.n = 0;
        for (tally_object *o; (o = chain_pop(&_tally_rcd.release.spill));)
            release_drop(o, NULL);
        tally_atomic_store_relaxed(&_tally_rcd.need_step, 1);
    }
    pthread_mutex_unlock(&_tally_rcd.lock);
}

/* ---- fork ----------------------------------------------------------------------------------- */
/* A grace-period chain queued in the parent would run in the child, whose urcu registry still
 * lists the parent's other threads, and wait for them forever (holding urcu's locks).  So:
 *  - the `outer` handlers are registered after runtime.c's (at the first thread init), so this
 *    prepare runs before runtime.c's call_rcu_before_fork: it stops new chains (`forking`) and
 *    waits, detached (a stop-the-world or a grace period never waits for it), until the queued
 *    ones are done;
 *  - the `inner` handlers (registered first, prepare runs last, after call_rcu_before_fork)
 *    hold `lock` and ship_lock, so no step is half-done in the child.  Parent and child
 *    release everything. */
static void atfork_outer_prepare(void)
{
    tally_atomic_store(&_tally_rcd.forking, 1);
    if (tally_atomic_load(&_tally_rcd.inflight) == 0 || _tally_qsbr_in_fork_child())
        return;
#if defined(TALLY_TSAN)
    /* TSan's fork interceptor already holds most of its lock budget here (its deadlock
     * detector aborts beyond 64 held locks): do not detach and wait.  A chain still queued can
     * only stall a child that starts threads, which TSan does not support after a
     * multi-threaded fork anyway. */
    return;
#endif
    tally_thread_state *ts = tally_thread_is_attached() ? _tally_allow_threads_begin() : NULL;
    bool was_online = urcu_qsbr_read_ongoing();
    if (was_online)
        urcu_qsbr_thread_offline();
    /* Bounded: an attached thread that never reaches a safepoint holds every grace period
     * back; then fork anyway (the child only needs the call_rcu worker to start threads). */
    uint64_t t0 = _tally_now_ns();
    while (tally_atomic_load(&_tally_rcd.inflight) > 0 && _tally_now_ns() - t0 < FORK_WAIT_NS) {
        struct timespec nap = { 0, 200000 };
        nanosleep(&nap, NULL);
    }
    if (was_online)
        urcu_qsbr_thread_online();
    if (ts)
        _tally_allow_threads_end(ts);
}
static void atfork_outer_after(void) { tally_atomic_store(&_tally_rcd.forking, 0); }
static void atfork_inner_prepare(void)
{
    pthread_mutex_lock(&_tally_rcd.lock);
    pthread_mutex_lock(&_tally_rcd.ship_lock);
}
static void atfork_inner_after(void)
{
    pthread_mutex_unlock(&_tally_rcd.ship_lock);
    pthread_mutex_unlock(&_tally_rcd.lock);
}

static pthread_once_t atfork_inner_once = PTHREAD_ONCE_INIT;
static pthread_once_t atfork_outer_once = PTHREAD_ONCE_INIT;
static void register_atfork_inner_once(void)
{
    pthread_atfork(atfork_inner_prepare, atfork_inner_after, atfork_inner_after);
}
static void register_atfork_outer_once(void)
{
    pthread_atfork(atfork_outer_prepare, atfork_outer_after, atfork_outer_after);
}

/* At _tally_rc_init: before runtime.c's handlers (this prepare runs after theirs). */
void _tally_rcd_register_atfork_inner(void)
{
    pthread_once(&atfork_inner_once, register_atfork_inner_once);
}

/* At the first thread init: after runtime.c's handlers (tally_init registered them). */
void _tally_rcd_register_atfork_outer(void)
{
    pthread_once(&atfork_outer_once, register_atfork_outer_once);
}


/* fork() child: only the forking thread exists.  The other threads' logs are intact in this
 * memory: ship them as they are (they hold real operations) and forget those threads; from now
 * on this thread is alone, so steps run in solo mode and need no grace period. */
void _tally_rc_fork_child(void)
{
    rc_thread *self = rc_self();
    pthread_mutex_lock(&_tally_rcd.lock);
    pthread_mutex_lock(&_tally_rcd.ship_lock);
    rc_thread *t = _tally_rcd.threads;
    while (t) {
        rc_thread *next = t->next;
        if (t != self) {
            if (t->log->last) {   /* its pending increment */
                apply_inc((tally_object *)t->log->last);
                t->log->last = 0;
            }
            if (t->buf) {
                size_t n = t->log->base ? (size_t)(t->log->pos - t->buf->e) : 0;
                if (n > 0 && n <= _tally_rcd.cap + 1) {
                    t->buf->n = n;
                    t->buf->owner = NULL;
                    t->buf->counted = t->buf->counted_decs = 0;
                    batch_push(&_tally_rcd.shipped, t->buf);
                } else {
                    mi_free(t->buf);
                }
            }
            _tally_rcd_thread_unlink_locked(t);
            _tally_rcd_forget_owner_locked(t);
            /* Its inbox (deaths it had not freed yet) becomes ours, and so do the deaths its
             * clear loop had found (it was the collector; this process adopts its lists). */
            if (self) {
                vec_move_all(&self->inbox, &t->inbox);
                vec_move_all(&self->inbox, &t->gc_dead);
                vec_move_all(&self->inbox, &t->cascade);   /* its cascade's deaths */
            } else {   /* no thread to free them on: dropped, as before */
                t->inbox.spill = t->gc_dead.spill = t->cascade.spill = NULL;
            }
            vec_free(&t->inbox);
            vec_free(&t->gc_dead);
            vec_free(&t->cascade);
            vec_free(&t->gc_dying);
            if (t->ts)
                t->ts->rc_data = NULL;
            mi_free(t);
        }
        t = next;
    }
    if (self) {
        pthread_mutex_init(&self->inbox_lock, NULL);
        tally_atomic_store_relaxed(&self->inbox_n, vec_hint(&self->inbox));
    }
    tally_atomic_store_relaxed(&_tally_rcd.inflight, 0);   /* queued chains belong to the parent */
    tally_atomic_store_relaxed(&_tally_rcd.need_step, 1);
    _tally_rcd_cut_done_max(_tally_rcd.epoch);
    pthread_mutex_unlock(&_tally_rcd.ship_lock);
    pthread_mutex_unlock(&_tally_rcd.lock);
}

