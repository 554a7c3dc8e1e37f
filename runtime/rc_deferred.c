/* runtime/rc_deferred.c - the `deferred` backend: buffered reference counting in epochs.
 *
 * Owns: the logs - the per-thread log _tally_rclog_tls that the inline fast path (include/tally/
 * static/rc_deferred.h) appends to, _tally_deferred_log_slow, shipping a log to the global queue,
 * the log buffers, the thread records and their lifetime (attach, detach, safepoints), the count
 * queries (_tally_rc_get, try_incref) - and the backend's shared state.  The backend implements
 * the backend interface (runtime/internal.h) for buffered counts after the Recycler (Bacon et
 * al., PLDI 2001 / ECOOP 2001) and the Gilectomy in four files, in data-flow order: this one;
 * runtime/rc_deferred_step.c (cuts, grace periods, reconciliation steps, the ZCT, flush);
 * runtime/rc_deferred_cascade.c (freeing confirmed deaths, resurrection); runtime/
 * rc_deferred_gc.c (the collector's hooks, fork); what they share is in runtime/
 * rc_deferred_internal.h.  docs/backend-deferred.md has the full argument; in short:
 *
 *  - incref/decref append the object pointer (bit 0 set for a decrement) to a thread-private log;
 *    no atomic instruction, no write to the object.  The newest increment waits in the log's
 *    `last` slot (a decrement of the same object cancels it); everything here that reads a log
 *    accounts for it.  A full log is *shipped* (handed to a global queue under ship_lock) and
 *    replaced; the thread asks itself (TALLY_BREAK_RC) to reconcile at its next safepoint or
 *    allocation.  Backpressure: a safepoint that finds BACKLOG_LOGS logs waiting waits for the
 *    epoch itself (detached) and reconciles.
 *  - Epochs.  `epoch` E is a global counter.  A thread *cuts* its log when it ships it after
 *    having read E: every entry logged before the cut is then in the shipped queue.  The cut for
 *    E is complete once every thread cut after E was published; the reconciler learns that from
 *    liburcu's QSBR grace periods: each safepoint is a quiescent state (after which the thread
 *    reads E and cuts if it changed), detaching cuts before going offline, and two grace periods
 *    after E was stored (a call_rcu chain, or synchronize_rcu() twice in tally_flush) every
 *    thread has passed a whole safepoint after the store, hence cut.  No thread is stopped.
 *  - A reconciliation step runs (one at a time, under `lock`) when the cut for the current E is
 *    complete: grab every shipped log (batch k); apply its increments; check the zero-count table
 *    (below); apply the decrements of batch k-1 (one epoch late); publish E+1.  Any increment
 *    that happened before a decrement of batch k-1 was logged before its thread's cut for E, so
 *    it is in batch k or earlier and is applied first: no count reaches zero while a thread holds
 *    a reference whose increment is still unapplied.
 *  - Zero-count table (ZCT, Deutsch-Bobrow): an object whose count reaches zero is not freed at
 *    once but one epoch later, if its count is still zero after the next batch's increments.
 *    This makes _tally_rc_try_incref (weakrefs, lock-free container reads) a plain logged
 *    increment: a reader that saw a positive count did so before its cut for E+1 (the zero store
 *    happens before E+1 is published, and the cut reads E with acquire), so its increment is in
 *    the next batch and revives the object before the check.
 *  - Solo mode: when the calling thread is the only registered thread (single-threaded
 *    programs, fork children, the last thread at shutdown) nothing can be unapplied elsewhere, so
 *    a step applies everything at once and frees at once, holding ship_lock so that no thread
 *    registers meanwhile.  The collector's world-stopped prepare does the same for all threads.
 *
 * Counts: ob_ref_local, written only by the reconciler (under `lock`, or with the world stopped)
 * with relaxed atomic stores; the fast path reads it relaxed for the immortality test only.
 * ob_ref_shared (unused by this backend's header layout) holds transient backend flags: QUEUED
 * while the object sits in the ZCT or the collector's release list, DYING while a finalizer of
 * the object runs (try_incref refuses it then; the bits above hold a log-ship count).
 *
 * Memory ordering:
 *  - log entries: written by the owner, handed over under ship_lock (unlock -> lock), so the
 *    reconciler sees them and every write the logging thread made to the object before them.
 *  - epoch: stored with release under `lock` after the step's zero stores; read with acquire at
 *    cuts.  Pairs so that a thread that cut for E+1 sees every count the step for E wrote.
 *  - cut_done: atomic max with release by the call_rcu chain / flush; read with acquire before a
 *    step (the grace periods themselves order the cuts before the chain's callback: urcu-qsbr's
 *    quiescent state and grace-period wait are full barriers).
 *  - cut_seq: each cut releases it, each step acquires every thread's (the same order the grace
 *    periods give, made visible to TSan, which does not see inside liburcu).
 *  - deallocation runs outside every lock: a death found by a step goes to the inbox of the
 *    thread whose decrement caused it (inbox_lock; freed at that thread's next safepoint or
 *    allocation), or is freed by the stepping thread when that thread is gone; tally_flush also
 *    frees what waits for detached threads.  Finalizers and weakref callbacks run there.
 * Lock order: lock -> ship_lock -> inbox_lock.  None is held while running user code.
 */
#include "runtime/rc_deferred_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>


/* The `last` of a thread without a log (include/tally/static/rc_deferred.h): an immortal
 * object that is never logged, applied or freed; only its address and count are ever read. */
static tally_object rclog_no_log = { .ob_ref_local = TALLY_IMMORTAL_REFCNT, .ob_flags = TALLY_OBF_STATIC };
#define RCLOG_NO_LOG ((uintptr_t)&rclog_no_log)

TALLY_API _Thread_local struct _tally_rclog _tally_rclog_tls
    __attribute__((tls_model("initial-exec"))) = { .last = RCLOG_NO_LOG };


rcd_state _tally_rcd = {
    .lock = PTHREAD_MUTEX_INITIALIZER,
    .ship_lock = PTHREAD_MUTEX_INITIALIZER,
};

#define FREE_BUFS_MAX 64   /* recycled log buffers kept */

/* ---- buffers and logs ----------------------------------------------------------------------- */
/* A log buffer: a recycled one, or a new one; NULL when out of memory (the caller goes on
 * without: see log_without_buffer). */
rc_buf *_tally_rcd_buf_new(void)
{
    pthread_mutex_lock(&_tally_rcd.ship_lock);
    rc_buf *b = buf_get_locked();
    pthread_mutex_unlock(&_tally_rcd.ship_lock);
    /* One slot past `end` for a pending `last` written out when the log is shipped. */
    return b ? b : mi_malloc(sizeof(rc_buf) + (_tally_rcd.cap + 1) * sizeof(uintptr_t));
}

/* Under ship_lock: recycle the buffers of a batch whose entries have all been applied. */
void _tally_rcd_batch_release_locked(rc_batch *bt)
{
    TALLY_ASSERT_HELD(&_tally_rcd.ship_lock);
    rc_buf *b = bt->head;
    while (b) {
        rc_buf *next = b->next;
        if (_tally_rcd.nfree < FREE_BUFS_MAX) {
            b->next = _tally_rcd.free_bufs;
            _tally_rcd.free_bufs = b;
            _tally_rcd.nfree++;
        } else {
            mi_free(b);
        }
        b = next;
    }
    bt->head = bt->tail = NULL;
    bt->entries = 0;
}

void _tally_rcd_log_install(rc_thread *t, rc_buf *b)
{
    t->buf = b;
    t->log->base = b->e;
    t->log->pos = b->e;
    t->log->end = b->e + _tally_rcd.cap;
    t->log->last = 0;
    t->gc_seen = 0;
    t->settled = 0;
    t->log_gen++;
}

static void log_clear(rc_thread *t)
{
    t->log->base = t->log->pos = t->log->end = NULL;
    t->log->last = RCLOG_NO_LOG;
    t->gc_seen = 0;
    t->settled = 0;
    t->log_gen++;
}

/* ---- shipping (the cut that ships is in runtime/rc_deferred_step.c) ------------------------ */
/* Hand the owner's current log to the reconciler and install a fresh buffer (`refill`), or
 * leave the thread without one.  Owner only. */
void _tally_rcd_ship(rc_thread *t, bool refill)
{
    rc_buf *b = t->buf;
    if (!b || !t->log->base)
        return;   /* detached: already shipped */
    if (t->ts->gc_clearing)
        _tally_rcd_gc_settle_log(t);   /* no operation on the unreachable set leaves this thread */
    if (t->log->last) {   /* the pending increment: into the log (the spare slot if full) */
        *t->log->pos++ = t->log->last;
        t->log->last = 0;
    }
    size_t n = (size_t)(t->log->pos - b->e);
    if (n == 0) {
        if (!refill) {
            log_clear(t);
            /* keep t->buf for the next attach */
        }
        return;
    }
    b->n = n;
    b->owner = t->tearing_down ? NULL : t;   /* a thread going away receives no more deaths */
    b->counted = b->counted_decs = b->owner != NULL;
    if (b->counted) {
        tally_atomic_fetch_add_relaxed(&t->unapplied, (size_t)1);
        tally_atomic_fetch_add_relaxed(&t->in_flight, (size_t)1);
    }
    STAT_ADD(n_ships, 1);
    rc_buf *fresh = NULL;
    pthread_mutex_lock(&_tally_rcd.ship_lock);
    batch_push(&_tally_rcd.shipped, b);
    tally_atomic_store_relaxed(&_tally_rcd.backlog, _tally_rcd.shipped.entries);
    tally_atomic_store_relaxed(&_tally_rcd.need_step, 1);
    if (refill)
        fresh = buf_get_locked();
    pthread_mutex_unlock(&_tally_rcd.ship_lock);
    t->ships++;
    if (refill && !fresh)
        fresh = _tally_rcd_buf_new();   /* NULL (out of memory): the thread goes on without a log */
    if (fresh) {
        _tally_rcd_log_install(t, fresh);
    } else {
        t->buf = NULL;
        log_clear(t);
    }
}


/* ---- the backend interface ------------------------------------------------------------------ */

int _tally_rc_init(const tally_options *opt)
{
    _tally_rcd.cap = opt && opt->rclog_size >= 16 ? opt->rclog_size : 4096;
    _tally_rcd.epoch = 1;
    _tally_rcd.cut_done = 1;
    _tally_rcd.need_step = 0;
    _tally_rcd.shipped = (rc_batch){ NULL, NULL, 0 };
    _tally_rcd.prev = (rc_batch){ NULL, NULL, 0 };
    _tally_rcd.threads = NULL;
    _tally_rcd.nthreads = 0;
    _tally_rcd.zct_n = 0;
    _tally_rcd.zct_spill = NULL;
    _tally_rcd.zct_spill_tag = 0;
    _tally_rcd.release.n = 0;
    /* Before runtime.c's handlers: this prepare runs after theirs, this child handler first. */
    _tally_rcd_register_atfork_inner();
    return 0;
}

void _tally_rc_fini(void)
{
    if (getenv("TALLY_DEFERRED_STATS"))
        fprintf(stderr,
                "tally deferred: epoch %llu, steps %llu (solo flush rounds %llu), flushes %llu, "
                "grace-period waits %llu, logs shipped %llu, entries applied %llu, deaths %llu "
                "(direct %llu); out of memory: spilled %llu, with no log %llu, recycles %llu\n",
                (unsigned long long)_tally_rcd.epoch, (unsigned long long)_tally_rcd.n_steps,
                (unsigned long long)_tally_rcd.n_solo, (unsigned long long)_tally_rcd.n_flush,
                (unsigned long long)_tally_rcd.n_waits, (unsigned long long)_tally_rcd.n_ships,
                (unsigned long long)_tally_rcd.n_entries, (unsigned long long)_tally_rcd.n_deaths,
                (unsigned long long)_tally_rcd.n_direct, (unsigned long long)_tally_rcd.n_spilled,
                (unsigned long long)_tally_rcd.n_nolog, (unsigned long long)_tally_rcd.n_recycles);
    _tally_rcd.n_steps = _tally_rcd.n_solo = _tally_rcd.n_flush = _tally_rcd.n_waits = 0;
    _tally_rcd.n_deaths = _tally_rcd.n_ships = _tally_rcd.n_entries = _tally_rcd.n_direct = 0;
    _tally_rcd.n_spilled = _tally_rcd.n_nolog = _tally_rcd.n_recycles = 0;
    /* Wait for the grace-period chains still queued (a chain re-queues itself once).  Polled,
     * not urcu_qsbr_barrier(): this thread is unregistered, so they complete on their own. */
    while (tally_atomic_load(&_tally_rcd.inflight) > 0) {
        struct timespec nap = { 0, 100000 };
        nanosleep(&nap, NULL);
    }
    pthread_mutex_lock(&_tally_rcd.lock);
    pthread_mutex_lock(&_tally_rcd.ship_lock);
    /* Normally empty: the last thread flushed when it detached.  What is left has no attached
     * thread to run finalizers on: dropped with the logs. */
    _tally_rcd_batch_release_locked(&_tally_rcd.prev);
    _tally_rcd_batch_release_locked(&_tally_rcd.shipped);
    for (size_t i = 0; i < _tally_rcd.zct_n; i++)
        tally_atomic_store_relaxed(&_tally_rcd.zct[i].o->ob_ref_shared, 0);
    for (tally_object *o; (o = chain_pop(&_tally_rcd.zct_spill));)
        tally_atomic_store_relaxed(&o->ob_ref_shared, 0);
    for (tally_object *o; (o = chain_pop(&_tally_rcd.release.spill));)
        tally_atomic_store_relaxed(&o->ob_ref_shared, 0);
    mi_free(_tally_rcd.zct);
    _tally_rcd.zct = NULL;
    _tally_rcd.zct_n = _tally_rcd.zct_cap = 0;
    vec_free(&_tally_rcd.release);
    thread_vec_free(&_tally_rcd.release_owner);
    while (_tally_rcd.free_bufs) {
        rc_buf *b = _tally_rcd.free_bufs;
        _tally_rcd.free_bufs = b->next;
        mi_free(b);
    }
    _tally_rcd.nfree = 0;
    pthread_mutex_unlock(&_tally_rcd.ship_lock);
    pthread_mutex_unlock(&_tally_rcd.lock);
}

static void thread_link(rc_thread *t, rc_buf *b)
{
    pthread_mutex_lock(&_tally_rcd.ship_lock);
    t->next = _tally_rcd.threads;
    t->prev = NULL;
    if (_tally_rcd.threads)
        _tally_rcd.threads->prev = t;
    _tally_rcd.threads = t;
    tally_atomic_store_relaxed(&_tally_rcd.nthreads, _tally_rcd.nthreads + 1);
    pthread_mutex_unlock(&_tally_rcd.ship_lock);
    _tally_rcd_log_install(t, b);
}

/* Under lock and ship_lock: t goes away; buffers and ZCT entries stop naming it. */
void _tally_rcd_forget_owner_locked(rc_thread *t)
{
    TALLY_ASSERT_HELD(&_tally_rcd.lock);
    TALLY_ASSERT_HELD(&_tally_rcd.ship_lock);
    rc_batch *bs[2] = { &_tally_rcd.shipped, &_tally_rcd.prev };
    for (int k = 0; k < 2; k++)
        for (rc_buf *b = bs[k]->head; b; b = b->next)
            if (b->owner == t)
                b->owner = NULL;
    for (size_t i = 0; i < _tally_rcd.zct_n; i++)
        if (_tally_rcd.zct[i].owner == t)
            _tally_rcd.zct[i].owner = NULL;
    for (size_t i = 0; i < _tally_rcd.release_owner.n; i++)
        if (_tally_rcd.release_owner.v[i] == t)
            _tally_rcd.release_owner.v[i] = NULL;
}

void _tally_rcd_thread_unlink_locked(rc_thread *t)
{
    TALLY_ASSERT_HELD(&_tally_rcd.ship_lock);
    if (t->prev)
        t->prev->next = t->next;
    else
        _tally_rcd.threads = t->next;
    if (t->next)
        t->next->prev = t->prev;
    tally_atomic_store_relaxed(&_tally_rcd.nthreads, _tally_rcd.nthreads - 1);
}

int _tally_rc_thread_init(tally_thread_state *ts)
{
    rc_thread *t = mi_zalloc(sizeof *t);
    rc_buf *b = t ? _tally_rcd_buf_new() : NULL;
    if (!b) {
        mi_free(t);
        _tally_set_error("tally_thread_attach: out of memory for the refcount log");
        return -1;
    }
    t->ts = ts;
    t->log = &_tally_rclog_tls;
    pthread_mutex_init(&t->inbox_lock, NULL);
    /* After runtime.c's handlers (tally_init registered them before attaching this thread). */
    _tally_rcd_register_atfork_outer();
    thread_link(t, b);   /* online already: runtime/thread_state.c registered the thread with QSBR */
    t->seen = tally_atomic_load_acquire(&_tally_rcd.epoch);
    ts->rc_data = t;
    return 0;
}

/* Release (still attached): ship what is left; the last thread also reconciles everything.
 * The record itself goes in the detach that follows (the collector may still log). */
void _tally_rc_thread_fini(tally_thread_state *ts)
{
    rc_thread *t = ts->rc_data;
    if (!t)
        return;
    _tally_rcd_cut(t, true);
}

static void thread_teardown(tally_thread_state *ts, rc_thread *t)
{
    /* Last thread: nobody else will reconcile, so do it now while still attached. */
    t->tearing_down = 1;   /* from here on its shipped logs name no owner */
    if (tally_atomic_load_relaxed(&_tally_rcd.nthreads) == 1)
        _tally_rc_flush();
    /* Stop steps from sending deaths here, then free those already sent (still attached: the
     * deallocations may log), then ship the rest. */
    pthread_mutex_lock(&_tally_rcd.lock);
    pthread_mutex_lock(&_tally_rcd.ship_lock);
    _tally_rcd_forget_owner_locked(t);
    pthread_mutex_unlock(&_tally_rcd.ship_lock);
    pthread_mutex_unlock(&_tally_rcd.lock);
    obj_vec dead = { NULL, 0, 0, NULL };
    _tally_rcd_take_inbox(t, &dead);
    _tally_rcd_dealloc_all(&dead);
    vec_free(&dead);
    _tally_rcd_cut(t, false);
    pthread_mutex_lock(&_tally_rcd.ship_lock);
    _tally_rcd_thread_unlink_locked(t);
    if (t->buf) {
        t->buf->next = _tally_rcd.free_bufs;
        _tally_rcd.free_bufs = t->buf;
        _tally_rcd.nfree++;
    }
    pthread_mutex_unlock(&_tally_rcd.ship_lock);
    log_clear(t);
    pthread_mutex_destroy(&t->inbox_lock);
    vec_free(&t->gc_dead);
    vec_free(&t->gc_dying);
    vec_free(&t->cascade);
    ts->rc_data = NULL;
    mi_free(t);
    /* runtime/thread_state.c takes the thread offline and unregisters it after this detach */
}

void _tally_rc_on_attach(tally_thread_state *ts)
{
    rc_thread *t = ts->rc_data;
    if (!t)
        return;   /* first attach: _tally_rc_thread_init follows */
    /* online already (runtime/thread_state.c, before this hook) */
    if (!t->buf)
        t->buf = _tally_rcd_buf_new();
    if (t->buf)   /* else out of memory: no log until _tally_deferred_log_slow finds a buffer */
        _tally_rcd_log_install(t, t->buf);
    t->seen = tally_atomic_load_acquire(&_tally_rcd.epoch);
}

void _tally_rc_on_detach(tally_thread_state *ts)
{
    rc_thread *t = ts->rc_data;
    if (!t)
        return;
    if (ts->released && !t->tearing_down) {
        thread_teardown(ts, t);
        return;
    }
    /* A detach is a cut: ship before going offline (runtime/thread_state.c, after this hook),
     * so no grace period can end while entries logged before it are still private. */
    _tally_rcd_cut(t, false);
}

/* A safepoint of t (tally_safepoint, or a TALLY_BREAK_RC request met at a safepoint or an
 * allocation), after a quiescent state (the caller's), so a thread that only allocates still lets
 * epochs advance: cut if E moved, step if one is due, and free this thread's deaths. */
static void reconcile_at_safepoint(rc_thread *t)
{
    /* After the quiescent state (a full barrier): a grace period that counted it began after
     * E was stored, so this load sees E and the cut below completes this thread's part. */
    if (tally_atomic_load_acquire(&_tally_rcd.epoch) != t->seen)
        _tally_rcd_cut(t, true);
    _tally_rcd_maybe_step(t);
    _tally_rcd_drain_inbox(t);
}

void _tally_rc_safepoint(tally_thread_state *ts)
{
    rc_thread *t = ts->rc_data;
    if (t)
        reconcile_at_safepoint(t);   /* runtime/thread_state.c made the quiescent state */
}

void _tally_rc_handle_pending(tally_thread_state *ts, unsigned bits)
{
    tally_atomic_fetch_and(&ts->breaker, ~bits);
    if (!(bits & TALLY_BREAK_RC))
        return;
    rc_thread *t = ts->rc_data;
    if (t) {
        _tally_qsbr_quiescent();
        reconcile_at_safepoint(t);
    }
}

/* The attached caller's log is full: make room.  In the collector's clear loop settling its
 * operations on the unreachable set usually does; otherwise ship the log (a cut; ship writes
 * `last` into the spare slot) and reconcile at the next safepoint, never here, where the caller
 * may hold an object lock. */
static void log_make_room(rc_thread *t, tally_thread_state *ts)
{
    if (ts->gc_clearing)
        _tally_rcd_gc_settle_log(t);
    else
        _tally_rcd_cascade_settle(t);   /* inside a destroy of the cascade: its releases, applied */
    /* Not even half the log freed: ship it rather than rescan what stays at every append. */
    if ((size_t)(t->log->pos - t->log->base) > _tally_rcd.cap / 2) {
        _tally_rcd_cut(t, true);
        tally_atomic_fetch_or(&ts->breaker, TALLY_BREAK_RC);
    }
}

/* ---- out of memory for a log buffer -------------------------------------------------------
 * A ship that finds no buffer to refill with (none recycled, no memory) leaves the thread without
 * a log: base = pos = end = NULL and `last` = RCLOG_NO_LOG, so every incref and decref comes to
 * _tally_deferred_log_slow, which looks for a buffer again each time.  Until one is found:
 *  - an increment (through `last`, or try_incref's entry) is applied to the count at once, under
 *    `lock`: a thread's own increments may always be applied early (the cascade does the same,
 *    runtime/rc_deferred_cascade.c, point 2);
 *  - a decrement must wait for its epoch, so buffers are made free instead: the world is stopped
 *    and every log applied exactly (_tally_rc_gc_prepare, which allocates nothing and recycles
 *    every shipped buffer), then the decrement is logged in one of them.  Decrements are never
 *    made under an object lock (sync/lock.c), so stopping the world here cannot wait on us. */
static bool log_reinstall(rc_thread *t)
{
    rc_buf *b = _tally_rcd_buf_new();
    if (!b)
        return false;
    uintptr_t keep = t->log->last == RCLOG_NO_LOG ? 0 : t->log->last;   /* a pending increment */
    t->buf = b;
    _tally_rcd_log_install(t, b);
    t->log->last = keep;
    return true;
}

static void recycle_logs(void)
{
    bool held = _tally_world_is_stopped();   /* by this thread: the others are parked */
    if (!held && _tally_stop_the_world(NULL) != 0) {
        struct timespec nap = { 0, 1000000 };   /* cannot stop it now: try again shortly */
        int c = _tally_nocancel_begin();
        nanosleep(&nap, NULL);
        _tally_nocancel_end(c);
        return;
    }
    STAT_ADD(n_recycles, 1);
    _tally_rc_gc_prepare();
    if (!held) {
        _tally_start_the_world();
        _tally_rc_gc_after();
    }
}

/* entry: as for _tally_deferred_log_slow (0: o through `last`, which holds the spilled pending
 * increment, if any). */
static void log_without_buffer(rc_thread *t, tally_object *o, uintptr_t entry)
{
    struct _tally_rclog *l = t->log;
    STAT_ADD(n_nolog, 1);
    if (!(entry & 1u)) {
        uintptr_t pending = l->last;
        l->last = RCLOG_NO_LOG;
        pthread_mutex_lock(&_tally_rcd.lock);
        if (pending && pending != RCLOG_NO_LOG)
            apply_inc((tally_object *)pending);
        apply_inc(o);
        pthread_mutex_unlock(&_tally_rcd.lock);
        return;
    }
    while (!log_reinstall(t))
        recycle_logs();
    *l->pos++ = entry;
}

/* entry != 0: append that entry (a decrement, or try_incref's direct increment).  entry == 0: an
 * increment through `last` (the fast path already stored o there; spill is what it held). */
void _tally_deferred_log_slow(tally_object *o, uintptr_t entry, uintptr_t spill)
{
    struct _tally_rclog *l = &_tally_rclog_tls;
    tally_thread_state *ts = _tally_tstate();
    rc_thread *t = ts ? ts->rc_data : NULL;
    if (tally_unlikely(!t || (!t->buf && t->tearing_down) ||
                       tally_atomic_load_relaxed(&ts->state) != TALLY_TS_ATTACHED)) {
        if (!entry)
            l->last = spill ? spill : RCLOG_NO_LOG;   /* the fast path's store is undone */
        _tally_misuse(o, "tally_%s: the calling thread is not attached (call tally_thread_attach first)",
                      (entry & 1u) ? "decref" : "incref");
        return;
    }
    if (!entry)   /* program order: the spilled increment goes into this log first */
        l->last = spill && tally_atomic_load_relaxed(&((tally_object *)spill)->ob_ref_local) != TALLY_IMMORTAL_REFCNT
                      ? spill : 0;
    if (t->buf && l->pos == l->end)
        log_make_room(t, ts);   /* may leave the thread without a log (out of memory) */
    if (tally_unlikely(!t->buf) && !log_reinstall(t)) {
        log_without_buffer(t, o, entry);
        return;
    }
    if (!entry && l->last) {
        *l->pos++ = l->last;
        l->last = 0;
    }
    if (entry)
        *l->pos++ = entry;
    else
        l->last = (uintptr_t)o;   /* pending, as on the fast path */
}

/* ---- objects and count queries -------------------------------------------------------------- */
void _tally_rc_object_init(tally_object *o, tally_thread_state *ts)
{
    (void)ts;
    o->ob_ref_local = 1;   /* not yet visible to any other thread: the creator's reference */
    o->ob_ref_shared = 0;
}

/* Net delta of o in the entries e[0, n) (only decrements when incs is false). */
static intptr_t entries_delta(const uintptr_t *e, size_t n, tally_object *o, bool incs)
{
    intptr_t d = 0;
    for (size_t i = 0; i < n; i++) {
        if (incs && e[i] == (uintptr_t)o)
            d++;
        else if (e[i] == ((uintptr_t)o | 1u))
            d--;
    }
    return d;
}

/* Net delta of o in the caller's current log and `last`.  Owner only.  Outside the cascade and
 * the collector's clear loop (which keep indices into the log), an increment immediately followed
 * by the decrement of the same object is erased on the way: a try_incref and its release with
 * nothing logged in between (tally_list_get and its decref) are net zero, and the caller dropped
 * nothing while it held the object, so the pair orders no death (try_incref's reason to log).
 * A caller that queries counts in a loop then rescans a short log, not every pair since its last
 * ship. */
static intptr_t current_log_delta(rc_thread *t, tally_object *o)
{
    struct _tally_rclog *l = t->log;
    if (!t->buf || !l->base)
        return 0;
    intptr_t d = l->last == (uintptr_t)o;
    bool compact = !t->ts->gc_clearing && !t->cascading && t->seg_mode == SEG_NONE;
    uintptr_t *w = l->base;
    for (uintptr_t *p = l->base; p < l->pos; p++) {
        uintptr_t e = *p;
        if (compact && !(e & 1u) && e > 1u && p + 1 < l->pos && p[1] == (e | 1u)) {
            p++;   /* a pair: net zero */
            continue;
        }
        if (e == (uintptr_t)o)
            d++;
        else if (e == ((uintptr_t)o | 1u))
            d--;
        if (compact)
            *w++ = e;
    }
    if (compact && w != l->pos) {
        l->pos = w;
        t->settled = 0;
        t->gc_seen = 0;
    }
    return d;
}

/* Net delta of o in what the caller logged and no step has applied yet: its current log and
 * `last`, its shipped logs (nothing applied), and its logs of the previous batch (increments
 * applied, decrements not).  Under lock and ship_lock, so no step runs meanwhile. */
static intptr_t own_delta_locked(rc_thread *t, tally_object *o)
{
    TALLY_ASSERT_HELD(&_tally_rcd.lock);
    TALLY_ASSERT_HELD(&_tally_rcd.ship_lock);
    intptr_t d = current_log_delta(t, o);
    for (rc_buf *b = _tally_rcd.shipped.head; b; b = b->next)
        if (b->owner == t)
            d += entries_delta(b->e, b->n, o, true);
    for (rc_buf *b = _tally_rcd.prev.head; b; b = b->next)
        if (b->owner == t)
            d += entries_delta(b->e, b->n, o, false);
    return d;
}

/* The reconciled count plus the caller's own unapplied operations: exact for a thread's own
 * increments and decrements whatever the log's shipping did with them (not a hot path: it
 * scans the caller's logs). */
intptr_t _tally_rc_get(tally_object *o)
{
    uint32_t c = tally_atomic_load_relaxed(&o->ob_ref_local);
    rc_thread *t = rc_self();
    if (c == TALLY_IMMORTAL_REFCNT || !t)
        return (intptr_t)c;   /* immortal, or a thread with no log of its own */
    if (tally_atomic_load_acquire(&t->in_flight) == 0) {
        /* Every log this thread shipped is applied (acquire: pairs with apply_decs' release, so
         * the count includes them): its unapplied operations are all in its current log.  No
         * lock: other threads' operations are concurrent with this query either way. */
        c = tally_atomic_load_relaxed(&o->ob_ref_local);
        if (c == TALLY_IMMORTAL_REFCNT)
            return (intptr_t)c;
        return (intptr_t)c + current_log_delta(t, o);
    }
    pthread_mutex_lock(&_tally_rcd.lock);
    pthread_mutex_lock(&_tally_rcd.ship_lock);
    c = tally_atomic_load_relaxed(&o->ob_ref_local);
    intptr_t d = own_delta_locked(t, o);
    pthread_mutex_unlock(&_tally_rcd.ship_lock);
    pthread_mutex_unlock(&_tally_rcd.lock);
    if (c == TALLY_IMMORTAL_REFCNT)
        return (intptr_t)TALLY_IMMORTAL_REFCNT;
    return (intptr_t)c + d;
}

void _tally_rc_set_immortal(tally_object *o)
{
    /* Under the reconciler's lock so that a step's load/store cannot undo it. */
    pthread_mutex_lock(&_tally_rcd.lock);
    tally_atomic_store_relaxed(&o->ob_ref_local, TALLY_IMMORTAL_REFCNT);
    pthread_mutex_unlock(&_tally_rcd.lock);
}

bool _tally_rc_try_incref(tally_object *o)
{
    struct _tally_rclog *l = &_tally_rclog_tls;
    tally_thread_state *self = _tally_tstate();
    if (tally_unlikely(l->pos == l->end && l->base)) {
        /* Room first: in the collector's clear loop that settles the log, which may take o's
         * count to zero (gc_settle_log); the count must be read after that, not before. */
        if (self && self->rc_data && tally_atomic_load_relaxed(&self->state) == TALLY_TS_ATTACHED)
            log_make_room(self->rc_data, self);
    }
    /* Acquire: pairs with the release store of resurrect_begin (runtime/rc_deferred_cascade.c) and orders the
     * caller's reads of o after the check.  A count of zero means reconciled dead (in the ZCT
     * or being freed): refuse.  A positive count read here was read before this thread's cut for
     * the epoch after any zero store, so the logged increment is applied before the ZCT check
     * that would free o, and revives it (docs/backend-deferred.md). */
    uint32_t c = tally_atomic_load_acquire(&o->ob_ref_local);
    if (c == TALLY_IMMORTAL_REFCNT)
        return true;
    if (c == 0 || _TALLY_REFCNT_IS_DEAD(c))   /* dead (debug mode: destroyed, quarantined) */
        return false;
    if (tally_atomic_load_relaxed(&o->ob_ref_shared) & RC_DYING)
        return false;   /* a finalizer of o is running: o is dying */
    if (tally_unlikely(self && self->gc_clearing) && in_gc_unreachable((uintptr_t)o)) {
        /* The collector's clear loop taking its reference to a member of U: through `last`, so
         * that its release cancels it.  The reason below does not apply: no other thread and
         * no weakref can reach o, and gc_settle_log applies all of this thread's entries for U.
         * The log has room (made above), so the spill cannot settle between the read of the
         * count and the increment. */
        _tally_incref_fast(o);
        return true;
    }
    /* Straight into the log, not the `last` slot: the caller's matching decrement is then
     * logged too, so o's death is decided in the same step as (or after) the deaths of what the
     * caller dropped while holding o.  (Cancelled in the slot, the pair would leave o's death to
     * another thread's earlier decrement, and a weakref the caller dropped before its own drop
     * of o could still be registered, and called back, at o's death.) */
    if (tally_unlikely(l->pos == l->end))
        _tally_deferred_log_slow(o, (uintptr_t)o, 0);   /* unattached: reported; full: shipped */
    else
        *l->pos++ = (uintptr_t)o;
    return true;
}

