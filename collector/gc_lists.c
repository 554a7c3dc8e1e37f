/* collector/gc_lists.c - generation lists, nurseries and the object core's hooks.
 *
 * Owns: the collector state (_tally_gc), _tally_gc_init/fini, the per-thread nurseries of young
 * objects (collector/gc_internal.h), linking at allocation, unlinking at free/untrack,
 * tally_gc_track/untrack/is_tracked/is_finalized, the young count and the threshold check
 * (_tally_gc_maybe_collect), back-pressure, freeze/unfreeze, get_objects, fork.
 *
 * Young objects live in the nursery of the thread that allocated them: linking one is two plain
 * stores by its owner, and taking one out (its free or untrack, by any thread) is one store into
 * its slot; no lock and no shared counter is written on either path.  Older objects are in the
 * global lists under gc.lock, whose tag in gc_next is 0.  No lock is held across user code, an
 * allocation of a GC object or a safepoint, so a holder never waits for a stop-the-world and a
 * stopped world never waits for a holder.  With the world stopped the collector reads and resets
 * the nurseries and touches lists without locks (every other thread is parked outside these
 * critical sections).  Whatever reads every nursery (a collection, freeze, get_objects) stops the
 * world.
 * Memory ordering: list words are relaxed atomics ordered by gc.lock (acquire on lock, release on
 * unlock) or by the stop-the-world hand-over; nursery slots are relaxed atomics ordered by the
 * stop-the-world hand-over; the young count is a relaxed atomic (it only decides when to
 * collect).
 */
#include "collector/gc_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

gc_state _tally_gc;
static int fork_locked;   /* the fork handlers hold every collector lock */
static pthread_once_t gc_atfork_once = PTHREAD_ONCE_INIT;
static void gc_register_atfork(void);

/* ---- locks -------------------------------------------------------------------------------- */
bool _tally_gc_lock_list_of(_tally_gc_head *g)
{
    /* A nursery object never enters a global list while the world runs except through its own
     * untrack/track, which its caller does not race; a global list's tag stays 0 until its
     * object is unlinked under gc.lock, so re-reading the word under the lock is enough. */
    uintptr_t next = gc_ld(&g->gc_next);
    if (next == 0 || next == GC_NURSERY)
        return false;
    gc_global_lock();
    next = gc_ld(&g->gc_next);
    if (next == 0 || next == GC_NURSERY) {
        gc_global_unlock();
        return false;
    }
    return true;
}

/* ---- nurseries ---------------------------------------------------------------------------- */
#define GC_NURSERY_KEEP 4        /* chunks a reset keeps */
#define GC_NURSERY_SPILL 64      /* chunks (about 65,000 slots) that make a nursery spill */
#define SLOT_FREE_BIT ((uintptr_t)1)

static gc_nursery_chunk *nursery_chunk_new(gc_nursery *owner)
{
    gc_nursery_chunk *c = aligned_alloc(GC_NURSERY_CHUNK_BYTES, GC_NURSERY_CHUNK_BYTES);
    if (!c)
        return NULL;
    memset(c, 0, GC_NURSERY_CHUNK_BYTES);
    tally_atomic_store_relaxed(&c->owner, owner);
    return c;
}

static inline gc_nursery_chunk *slot_chunk(uintptr_t *slot)
{
    return (gc_nursery_chunk *)((uintptr_t)slot & ~(uintptr_t)(GC_NURSERY_CHUNK_BYTES - 1));
}

static inline bool slot_holds_object(uintptr_t v) { return v != 0 && !(v & SLOT_FREE_BIT); }

static gc_nursery *nursery_new(void)
{
    gc_nursery *n = calloc(1, sizeof *n);
    if (!n)
        return NULL;
    n->first = n->cur = nursery_chunk_new(n);
    if (!n->first) {
        free(n);
        return NULL;
    }
    n->nchunks = 1;
    return n;
}

static void nursery_free(gc_nursery *n)
{
    for (gc_nursery_chunk *c = n->first, *next; c; c = next) {
        next = c->next;
        free(c);
    }
    free(n);
}

/* The used part of chunk c (world stopped, or the owner). */
static inline size_t chunk_used(gc_nursery *n, gc_nursery_chunk *c)
{
    return c == n->cur ? tally_atomic_load_relaxed(&n->pos) : (size_t)tally_atomic_load_relaxed(&c->used);
}

/* World stopped: move n's objects to gc.young_list (tagged young, in slot order) and reset n:
 * the gather of a collection, into the young list instead of W. */
static void nursery_gather_ws(gc_nursery *n, _tally_gc_head *to);
static void nursery_spill_ws(gc_nursery *n)
{
    nursery_gather_ws(n, &_tally_gc.young_list);
}

/* The owner, its nursery grown to GC_NURSERY_SPILL chunks (the collector is off, or another
 * thread's frees left it full of holes): its objects move to gc.young_list with the world
 * stopped (unless this thread already holds the world), where they stay young under gc.lock,
 * and the nursery starts again.  A bulk load of 1M objects with the collector off pays about
 * 15 short stops (each links the objects it moves, which the next collection's gather would
 * otherwise do inside its pause); an allocate-and-free loop reuses its slots and pays none. */
static void nursery_spill(gc_nursery *n)
{
    if (_tally_world_is_stopped() || _tally_stop_the_world(NULL) != 0)
        return;
    pthread_mutex_lock(&_tally_gc.stw_phase);
    nursery_spill_ws(n);
    pthread_mutex_unlock(&_tally_gc.stw_phase);
    _tally_start_the_world();
}

/* Owner only.  -1 when a new chunk cannot be had (nothing changed). */
static int nursery_append(gc_nursery *n, _tally_gc_head *g)
{
    uintptr_t *slot = n->free_slot;
    if (slot) {
        n->free_slot = (uintptr_t *)(gc_ld(slot) & ~SLOT_FREE_BIT);
        gc_st(slot, (uintptr_t)g);
    } else {
        size_t pos = n->pos;
        gc_nursery_chunk *c = n->cur;
        if (tally_unlikely(pos == GC_NURSERY_CHUNK) && !c->next && n->nchunks >= GC_NURSERY_SPILL) {
            nursery_spill(n);   /* empties n, unless it cannot stop the world: then n grows */
            pos = n->pos;
            c = n->cur;
        }
        if (tally_unlikely(pos == GC_NURSERY_CHUNK)) {
            gc_nursery_chunk *next = c->next;
            if (!next) {
                next = nursery_chunk_new(n);
                if (!next)
                    return -1;
                n->nchunks++;
                tally_atomic_store_release(&c->next, next);
            }
            tally_atomic_store_relaxed(&c->used, (uintptr_t)GC_NURSERY_CHUNK);
            n->cur = c = next;
            pos = 0;
        }
        slot = &c->slot[pos];
        gc_st(slot, (uintptr_t)g);
        /* release: a fork() child that sees the new pos sees the slot written */
        tally_atomic_store_release(&n->pos, pos + 1);
    }
    gc_st(&g->gc_prev, (uintptr_t)slot);
    gc_st(&g->gc_next, GC_NURSERY);
    return 0;
}

/* Any thread: take g (in a nursery) out.  The owner keeps the slot for its next young object;
 * another thread leaves it 0 until the collector's next reset. */
static void nursery_remove(_tally_gc_head *g)
{
    uintptr_t *slot = (uintptr_t *)gc_ld(&g->gc_prev);
    TALLY_ASSERT(slot && gc_ld(slot) == (uintptr_t)g);
    tally_thread_state *ts = _tally_tstate();
    gc_nursery *mine = ts ? ts->gc_data : NULL;
    if (mine && tally_atomic_load_relaxed(&slot_chunk(slot)->owner) == mine) {
        gc_st(slot, (uintptr_t)mine->free_slot | SLOT_FREE_BIT);
        mine->free_slot = slot;
    } else {
        gc_st(slot, 0);
    }
    gc_st(&g->gc_next, 0);
    gc_st(&g->gc_prev, 0);
}

/* World stopped: append n's objects to `to` (tag GC_TAG_YOUNG) and reset it, keeping the first
 * GC_NURSERY_KEEP chunks (a bulk load with the collector disabled leaves no lasting nursery). */
static void nursery_reset_ws(gc_nursery *n)
{
    n->cur = n->first;
    tally_atomic_store_relaxed(&n->pos, 0);
    n->free_slot = NULL;
    gc_nursery_chunk *c = n->first;
    size_t k = 1;
    for (; k < GC_NURSERY_KEEP && c->next; k++)
        c = c->next;
    for (gc_nursery_chunk *x = c->next, *next; x; x = next) {
        next = x->next;
        free(x);
    }
    c->next = NULL;
    n->nchunks = k;
}

static void nursery_gather_ws(gc_nursery *n, _tally_gc_head *to)
{
    _tally_gc_head *tail = gc_prev(to);
    for (gc_nursery_chunk *c = n->first; c; c = c->next) {
        size_t used = chunk_used(n, c);
        for (size_t i = 0; i < used; i++) {
            uintptr_t v = gc_ld(&c->slot[i]);
            if (!slot_holds_object(v))
                continue;
            _tally_gc_head *g = (_tally_gc_head *)v;
            gc_st(&g->gc_prev, (uintptr_t)tail);
            gc_set_next(tail, g);
            gc_st(&g->gc_next, GC_TAG_YOUNG);   /* its successor is written next */
            tail = g;
        }
        if (c == n->cur)
            break;
    }
    gc_set_next(tail, to);
    gc_st(&to->gc_prev, (uintptr_t)tail);
    nursery_reset_ws(n);
}

/* Oldest first, as the walks expect (a full collection's pass A goes from the youngest end):
 * what nurseries spilled earlier, then the nurseries of exited threads, then the live ones. */
void _tally_gc_gather_young_ws(_tally_gc_head *to)
{
    gc_state *gc = &_tally_gc;
    /* the young objects outside any nursery: already tagged young, spliced in whole */
    _tally_gc_head *first = gc_next(&gc->young_list);
    if (first != &gc->young_list) {
        _tally_gc_head *last = gc_prev(&gc->young_list);
        _tally_gc_head *tail = gc_prev(to);
        gc_set_next(tail, first);
        gc_set_prev(first, tail);
        gc_st(&last->gc_next, (uintptr_t)to | GC_TAG_YOUNG);
        gc_st(&to->gc_prev, (uintptr_t)last);
        gc_list_init(&gc->young_list, GC_TAG_YOUNG);
    }
    while (gc->orphans) {
        gc_nursery *n = gc->orphans;
        gc->orphans = n->next_orphan;
        nursery_gather_ws(n, to);
        nursery_free(n);
    }
    _TALLY_FOREACH_THREAD(t) {
        if (t->gc_data)
            nursery_gather_ws(t->gc_data, to);
    }
}

/* ---- back-pressure -----------------------------------------------------------------------
 * One thread collects while the others run on.  In a program whose allocations become garbage
 * (most of them), collecting an object costs about as much as allocating one, so while one
 * collection clears what it found, the other threads can allocate more than it collects: every
 * collection then started with a larger young generation than the last and took longer, and the
 * pauses grew from 0.1 ms to 40-130 ms with two threads.  So a thread that finds the young count
 * above GC_BACKLOG_FACTOR thresholds while another thread's collection runs waits for that
 * collection to end, detached (a stop-the-world never waits for it), for at most
 * GC_BACKLOG_WAIT_NS at a time: a user lock that the thread holds and a finalizer of that
 * collection needs cannot deadlock them.  The young generation at a stop is then bounded by about
 * GC_BACKLOG_FACTOR thresholds plus a batch per thread, whatever the number of threads.
 * Ordering: the collector clears `collecting`, then increments `finished` and broadcasts under
 * done_lock; a waiter reads `finished` and `collecting` under done_lock, so it either sees the
 * collection over or is woken by that broadcast. */
#define GC_BACKLOG_FACTOR 2
#define GC_BACKLOG_WAIT_NS 2000000

static void gc_done_init(gc_state *gc)
{
    pthread_condattr_t a;
    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    pthread_mutex_init(&gc->done_lock, NULL);
    pthread_cond_init(&gc->done_cond, &a);
    pthread_condattr_destroy(&a);
}

void _tally_gc_collection_done(void)
{
    gc_state *gc = &_tally_gc;
    pthread_mutex_lock(&gc->done_lock);
    gc->finished++;
    pthread_cond_broadcast(&gc->done_cond);
    pthread_mutex_unlock(&gc->done_lock);
}

#if defined(TALLY_FREE_THREADED)
static void gc_wait_for_collection(void)
{
    gc_state *gc = &_tally_gc;
    int c = _tally_nocancel_begin();
    tally_thread_state *saved = _tally_allow_threads_begin();
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_nsec += GC_BACKLOG_WAIT_NS;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&gc->done_lock);
    uint64_t seen = gc->finished;
    while (gc->finished == seen && tally_atomic_load_relaxed(&gc->collecting)) {
        if (pthread_cond_timedwait(&gc->done_cond, &gc->done_lock, &deadline) != 0)
            break;
    }
    pthread_mutex_unlock(&gc->done_lock);
    _tally_allow_threads_end(saved);
    _tally_nocancel_end(c);
}
#endif

/* ---- life cycle --------------------------------------------------------------------------- */
int _tally_gc_init(const tally_options *opt)
{
    gc_state *gc = &_tally_gc;
    tally_gc_pause *ring = gc->pauses;
    gc_callback_entry *cbs = gc->callbacks;
    size_t cbcap = gc->cbcap;
    memset(gc, 0, sizeof *gc);
    gc->lock = 0;
    pthread_mutex_init(&gc->cb_lock, NULL);
    pthread_mutex_init(&gc->pause_lock, NULL);
    pthread_mutex_init(&gc->stw_phase, NULL);
    gc_done_init(gc);
    gc_list_init(&gc->gen1, 0);
    gc_list_init(&gc->gen2, 0);
    gc_list_init(&gc->gen2_visited, 0);
    gc_list_init(&gc->permanent, 0);
    gc_list_init(&gc->young_list, GC_TAG_YOUNG);
    gc->orphans = NULL;
    gc->threshold[0] = opt->gc_threshold0;
    gc->threshold[1] = opt->gc_threshold1;
    gc->threshold[2] = opt->gc_threshold2;
    gc->enabled = opt->gc_enabled != 0;
    gc->incremental = opt->gc_incremental != 0;
    gc->increment_size = opt->gc_increment_size ? opt->gc_increment_size : 20000u;
    if (!ring)
        ring = calloc(TALLY_GC_PAUSE_RING, sizeof *ring);
    if (!ring) {
        _tally_set_error("tally_init: out of memory for the collector's pause records");
        return -1;
    }
    gc->pauses = ring;
    pthread_once(&gc_atfork_once, gc_register_atfork);
    gc->callbacks = cbs;   /* callbacks are cleared (kept allocated) across a re-init */
    gc->cbcap = cbcap;
    gc->ncallbacks = 0;
    return 0;
}

void _tally_gc_fini(void)
{
    gc_state *gc = &_tally_gc;
    tally_atomic_store_relaxed(&gc->shutting_down, 1);
    /* Final collection: finalizers run, no callbacks (CPython's finalize_garbage at exit). */
    _tally_gc_collect_main(2, false);
    tally_object *garbage = gc->garbage;
    if (garbage) {
        size_t n = tally_list_len(garbage);
        unsigned debug = tally_atomic_load_relaxed(&gc->debug);
        if (n && !(debug & TALLY_GC_DEBUG_SAVEALL)) {
            if (debug & TALLY_GC_DEBUG_UNCOLLECTABLE)
                fprintf(stderr, "tally: gc: %zu uncollectable objects at shutdown\n", n);
            else
                fprintf(stderr, "tally: gc: %zu uncollectable objects at shutdown; use "
                                "tally_gc_set_debug(TALLY_GC_DEBUG_UNCOLLECTABLE) to list them\n", n);
        }
        gc->garbage = NULL;
        tally_decref(garbage);
    }
    pthread_mutex_lock(&gc->cb_lock);
    gc->ncallbacks = 0;
    pthread_mutex_unlock(&gc->cb_lock);
}

/* tally_fini, after the last thread state of this thread was released: no collection gathers
 * the orphaned nurseries any more, so their chunks are freed (objects still tracked in them
 * outlive the runtime as leaks, as any object alive at tally_fini). */
void _tally_gc_free_orphans(void)
{
    gc_global_lock();
    gc_nursery *n = _tally_gc.orphans;
    _tally_gc.orphans = NULL;
    gc_global_unlock();
    while (n) {
        gc_nursery *next = n->next_orphan;
        nursery_free(n);
        n = next;
    }
}

int _tally_gc_thread_init(tally_thread_state *ts)
{
    gc_nursery *n = nursery_new();
    if (!n) {
        _tally_set_error("tally_thread_attach: out of memory for the thread's nursery");
        return -1;
    }
    ts->gc_data = n;
    return 0;
}

/* The nursery outlives its thread: its objects stay young until the next collection, which
 * gathers and frees it, and other threads may still take objects out of it meanwhile.  The
 * thread's unpublished count is folded. */
static void nursery_orphan_locked(tally_thread_state *ts)
{
    gc_nursery *n = ts->gc_data;
    if (!n)
        return;
    n->next_orphan = _tally_gc.orphans;
    _tally_gc.orphans = n;
    ts->gc_data = NULL;
}

void _tally_gc_thread_fini(tally_thread_state *ts)
{
    _tally_gc_count_thread_fold(ts);
    gc_global_lock();
    nursery_orphan_locked(ts);
    gc_global_unlock();
}

void _tally_gc_fork_child(void)
{
    gc_state *gc = &_tally_gc;
    _TALLY_FOREACH_THREAD(t)   /* the states of threads gone with the fork are dropped next */
        _tally_gc_count_thread_fold(t);
    gc->lock = 0;
    pthread_mutex_init(&gc->cb_lock, NULL);
    pthread_mutex_init(&gc->pause_lock, NULL);
    pthread_mutex_init(&gc->stw_phase, NULL);
    gc_done_init(gc);
    fork_locked = 0;
    /* The nurseries of the threads gone with the fork join the orphans (their chunks are intact
     * in the child; an append caught half-way is not counted: pos is stored last, with release). */
    tally_thread_state *self = _tally_tstate();
    _TALLY_FOREACH_THREAD(t) {
        if (t != self)
            nursery_orphan_locked(t);
    }
    /* A collection that another thread was running is gone with that thread.  Its private lists
     * (list heads on that thread's stack, which the child's copy of memory still has) were left
     * consistent by the fork handlers: their objects join gen2 with their scratch flags cleared,
     * so the child's collections treat them as ordinary old objects. */
    if (tally_atomic_load_relaxed(&gc->collecting) && !pthread_equal(gc->collector, pthread_self())) {
        for (size_t i = 0; i < gc->ncur_lists; i++) {
            _tally_gc_head *l = gc->cur_lists[i];
            for (_tally_gc_head *g = gc_next(l); g != l; g = gc_next(g)) {
                gc_st(&g->gc_prev, gc_ld(&g->gc_prev) & GC_PTR_MASK);
                gc_st(&g->gc_next, gc_ld(&g->gc_next) & GC_PTR_MASK);
                gc_bits_clear_ws(_TALLY_FROM_GC(g), TALLY_GC_BIT_UNREACHABLE);
            }
            gc_list_merge(l, &gc->gen2);
        }
        gc->cur_lists = NULL;
        gc->ncur_lists = 0;
        gc->space_valid = 0;
        tally_atomic_store_relaxed(&gc->collecting, 0);
    }
}

/* fork(): the lists must not be caught half-linked by another thread.  The prepare handler takes
 * stw_phase (a detached forker waits for a stopped-world phase of a collection to end; an
 * attached forker can never meet one, since the world cannot stop without it), then gc.lock
 * (never held across a wait, so this terminates).  Nurseries take no lock: an append caught
 * half-way by the fork is simply not in the child's nursery (see _tally_gc_fork_child); the parent
 * releases them, the child re-initialises them in _tally_gc_fork_child (runtime/runtime.c's child
 * handler calls it).  Registered in _tally_gc_init, before runtime.c's handlers, so it runs after
 * their prepare and before their parent/child handlers. */
static void gc_fork_prepare(void)
{
    if (!tally_atomic_load_acquire(&_tally_runtime.initialized))
        return;
    pthread_mutex_lock(&_tally_gc.stw_phase);
    gc_global_lock();
    fork_locked = 1;
}

static void gc_fork_parent(void)
{
    if (fork_locked) {
        fork_locked = 0;
        gc_global_unlock();
        pthread_mutex_unlock(&_tally_gc.stw_phase);
    }
}

static void gc_register_atfork(void)
{
    pthread_atfork(gc_fork_prepare, gc_fork_parent, NULL);
}

/* ---- the young count ----------------------------------------------------------------------
 * count[0] is CPython's "allocations minus deallocations of GC objects, never below 0".  Every
 * thread writing it on every allocation and free made it the hottest shared line of a threaded
 * program, so each thread keeps the part it has not yet published in ts->gc_alloc_delta and
 * folds it into count[0] once it reaches a batch (CPython 3.13t's per-thread alloc_count, folded
 * every 512).  The batch is threshold0 / 8 (at most GC_COUNT_BATCH_MAX, at least 1), and a thread
 * also folds as soon as count[0] plus its delta passes the threshold, so one thread triggers at
 * the exact count and several at most one batch per other thread late.  A free lowers the count
 * only while count[0] + the freeing thread's delta is above 0, which is CPython's clamp at 0
 * applied at every free: exact with one thread.  With several, a thread that frees what another
 * allocated (a consumer, or the deferred backend's reconciler) may find its own view at 0 while
 * the total is not, and that free is not counted: the count then errs high, and a collection
 * comes early, never late.  tally_gc_get_count adds the deltas of every thread.
 * The collector's own frees of what it collected (the clear loop, gc_clearing) are not counted:
 * those objects were counted in the count[0] that the collection reset, and uncounting them again
 * erased the allocations other threads made meanwhile, so each collection under threads started
 * later than the last and grew (4096 young collections with one thread became 188-286 larger
 * ones with two).  At the stop that begins a collection, count[0] and every delta are zeroed.
 * Memory ordering: count[0] is a relaxed atomic (it only decides when to collect); a delta is
 * written by its owner and read by others only as an estimate, or with the world stopped. */
#define GC_COUNT_BATCH_MAX 256

static inline int gc_count_batch(void)
{
    int b = tally_atomic_load_relaxed(&_tally_gc.threshold[0]) / 8;
    return b < 1 ? 1 : (b > GC_COUNT_BATCH_MAX ? GC_COUNT_BATCH_MAX : b);
}

/* Add delta to count[0], never taking it below 0; returns the new value. */
static int gc_count_fold(int delta)
{
    int *c0 = &_tally_gc.count[0];
    if (delta >= 0)
        return tally_atomic_fetch_add_relaxed(c0, delta) + delta;
    int c = tally_atomic_load_relaxed(c0), n;
    do {
        n = c + delta < 0 ? 0 : c + delta;
    } while (!tally_atomic_cas_relaxed(c0, &c, n));
    return n;
}

void _tally_gc_count_thread_fold(tally_thread_state *ts)
{
    int d = tally_atomic_load_relaxed(&ts->gc_alloc_delta);
    if (d) {
        tally_atomic_store_relaxed(&ts->gc_alloc_delta, 0);
        gc_count_fold(d);
    }
}

/* World stopped: the collection that begins counts every young object as collected. */
void _tally_gc_count_reset_ws(void)
{
    tally_atomic_store_relaxed(&_tally_gc.count[0], 0);
    _TALLY_FOREACH_THREAD(t)
        tally_atomic_store_relaxed(&t->gc_alloc_delta, 0);
}

int _tally_gc_count_young(void)
{
    int c = tally_atomic_load_relaxed(&_tally_gc.count[0]);
    _tally_registry_lock();
    _TALLY_FOREACH_THREAD(t)
        c += tally_atomic_load_relaxed(&t->gc_alloc_delta);
    _tally_registry_unlock();
    return c < 0 ? 0 : c;
}

/* ---- the object core's hooks ------------------------------------------------------------- */
void _tally_gc_maybe_collect(tally_thread_state *ts)
{
    TALLY_ASSERT(ts != NULL);
    gc_state *gc = &_tally_gc;
    int d = tally_atomic_load_relaxed(&ts->gc_alloc_delta) + 1;
    int t0 = tally_atomic_load_relaxed(&gc->threshold[0]);
    /* Fold a full batch, or as soon as this thread's view of the count passes the threshold
     * (so one thread triggers its collections exactly where CPython would: a young generation
     * 12% larger, a batch late, measured 20 -> 25 us young pauses).  count[0] is read, not
     * written: its line is only written by folds.  With automatic collection disabled the count
     * stays over the threshold, and folding at every allocation made count[0]'s line the hottest
     * of a 2-thread program (binary-trees, deferred: 24% of its CPU in this function): then a
     * thread folds by batches only. */
    if (tally_likely(d < gc_count_batch() && (t0 == 0 || tally_atomic_load_relaxed(&gc->count[0]) + d <= t0 ||
                                              !tally_atomic_load_relaxed(&gc->enabled)))) {
        tally_atomic_store_relaxed(&ts->gc_alloc_delta, d);
        return;
    }
    tally_atomic_store_relaxed(&ts->gc_alloc_delta, 0);
    int c = gc_count_fold(d);
    if (tally_likely(c <= t0) || t0 == 0)
        return;
    if (!tally_atomic_load_relaxed(&gc->enabled))
        return;
    if (tally_atomic_load_relaxed(&gc->collecting)) {
#if defined(TALLY_FREE_THREADED)
        /* Not while this thread is the collector (a finalizer allocating) or holds the world. */
        if (c > GC_BACKLOG_FACTOR * t0 && tally_atomic_load_relaxed(&gc->collector_ts) != ts &&
            !_tally_world_is_stopped())
            gc_wait_for_collection();
#endif
        return;
    }
    /* A GC allocation made while this thread holds the world stopped (from another subsystem)
     * must not start a collection: the stop would nest.  Only the stopping thread ever sees
     * the flag set (sync/stw.c); a thread racing another's stop starts its collection and its
     * own stop waits for the first one to finish. */
    if (_tally_world_is_stopped())
        return;
    /* Deaths the backend has not applied yet count as young objects (deferred: every decrement
     * still in a log; biased: objects queued for their owner's merge).  Apply them first, with
     * the world running and no collection in progress, and collect only if the young generation
     * is still over half the threshold: a program that drops what it allocates (binary-trees)
     * otherwise collected on deferred twice as often as on atomic, each collection a flush that
     * freed the dead trees while the other thread waited for it (2 threads: 2.3x the 1-thread
     * time).  The half is the hysteresis that keeps a young generation of live objects near the
     * threshold from paying a flush at every batch.  The collection's own flush (world_stop)
     * is then skipped: nothing ran in between but this thread's CAS of `collecting`. */
    _tally_rc_flush();
    if (tally_atomic_load_relaxed(&gc->count[0]) + tally_atomic_load_relaxed(&ts->gc_alloc_delta) <= t0 / 2)
        return;
    ts->gc_preflushed = 1;
    _tally_gc_collect_generations();
    ts->gc_preflushed = 0;
}

int _tally_gc_on_alloc(tally_thread_state *ts, tally_object *o)
{
    TALLY_ASSERT(ts && ts->gc_data);
    /* The object is private to this thread until tally_new returns: no RMW needed. */
    if (tally_unlikely(nursery_append(ts->gc_data, _TALLY_AS_GC(o)) != 0)) {
        _tally_set_error("tally_new: out of memory growing the thread's nursery");
        return -1;
    }
    tally_atomic_store_relaxed(&o->ob_gc_bits, (uint8_t)(gc_bits(o) | TALLY_GC_BIT_TRACKED));
    return 0;
}

void _tally_gc_on_free(tally_thread_state *ts, tally_object *o)
{
    if (gc_bits(o) & TALLY_GC_BIT_TRACKED)
        tally_gc_untrack(o);
    if (!ts) {   /* an unattached caller (misuse, reported elsewhere): count it directly */
        gc_count_fold(-1);
        return;
    }
    if (ts->gc_clearing)
        return;   /* the collector freeing what it collected: counted by its reset */
    int d = tally_atomic_load_relaxed(&ts->gc_alloc_delta);
    /* -1 unless the count is already 0 as far as this thread knows (it never goes below). */
    if (d > 0 || tally_atomic_load_relaxed(&_tally_gc.count[0]) + d > 0)
        d--;
    if (tally_unlikely(d <= -gc_count_batch())) {
        gc_count_fold(d);
        d = 0;
    }
    tally_atomic_store_relaxed(&ts->gc_alloc_delta, d);
}

bool _tally_gc_is_collecting(tally_thread_state *ts)
{
    gc_state *gc = &_tally_gc;
    return tally_atomic_load_relaxed(&gc->collecting) && tally_atomic_load_relaxed(&gc->collector_ts) == ts;
}

void _tally_gc_run_scheduled(tally_thread_state *ts)
{
    (void)ts;
    gc_state *gc = &_tally_gc;
    if (tally_atomic_load_relaxed(&gc->enabled) && tally_atomic_load_relaxed(&gc->threshold[0]) != 0)
        _tally_gc_collect_generations();
}

/* ---- tracking ----------------------------------------------------------------------------- */
bool tally_gc_is_tracked(tally_object *o)
{
    return o && _TALLY_IS_GC(o) && (gc_bits(o) & TALLY_GC_BIT_TRACKED);
}

bool tally_gc_is_finalized(tally_object *o)
{
    return o && _TALLY_IS_GC(o) && (gc_bits(o) & TALLY_GC_BIT_FINALIZED);
}

void tally_gc_track(tally_object *o)
{
    if (!o || !_TALLY_IS_GC(o)) {
        _tally_misuse(o, "tally_gc_track: not a GC object");
        return;
    }
    if (o->ob_flags & TALLY_OBF_STATIC)
        return;
    /* The caller owns o's tracking (track and untrack of one object are not run concurrently,
     * as in CPython): an object already in a nursery or a list stays where it is. */
    _tally_gc_head *g = _TALLY_AS_GC(o);
    if (gc_ld(&g->gc_next) != 0)
        return;
    tally_thread_state *ts = _tally_tstate();
    if (ts && ts->gc_data && nursery_append(ts->gc_data, g) == 0) {
        gc_bits_set_rt(o, TALLY_GC_BIT_TRACKED);
        return;
    }
    /* No nursery (an unattached caller), or no memory to grow it: the young orphans list. */
    gc_global_lock();
    if (gc_ld(&g->gc_next) == 0) {
        gc_st(&g->gc_prev, 0);
        gc_list_append(g, &_tally_gc.young_list);
        gc_bits_set_rt(o, TALLY_GC_BIT_TRACKED);
    }
    gc_global_unlock();
}

static inline void gc_untrack(tally_object *o, bool dying)
{
    _tally_gc_head *g = _TALLY_AS_GC(o);
    if (gc_ld(&g->gc_next) == GC_NURSERY) {
        nursery_remove(g);   /* no lock: one store into the slot */
        if (dying)
            gc_bits_clear_ws(o, TALLY_GC_BIT_TRACKED);
        else
            gc_bits_clear_rt(o, TALLY_GC_BIT_TRACKED);
        return;
    }
    if (!_tally_gc_lock_list_of(g))
        return;
    gc_list_unlink(g);
    gc_st(&g->gc_next, 0);
    gc_st(&g->gc_prev, 0);
    if (dying)
        gc_bits_clear_ws(o, TALLY_GC_BIT_TRACKED);   /* the collector writes them under gc.lock */
    else
        gc_bits_clear_rt(o, TALLY_GC_BIT_TRACKED);
    gc_global_unlock();
}

void tally_gc_untrack(tally_object *o)
{
    if (o && _TALLY_IS_GC(o))
        gc_untrack(o, false);
}

void _tally_gc_untrack_dying(tally_object *o)
{
    gc_untrack(o, true);
}

/* ---- freeze ------------------------------------------------------------------------------ */
static void set_frozen(_tally_gc_head *l, bool on)
{
    for (_tally_gc_head *g = gc_next(l); g != l; g = gc_next(g)) {
        if (on)
            gc_bits_set_rt(_TALLY_FROM_GC(g), TALLY_GC_BIT_FROZEN);
        else
            gc_bits_clear_rt(_TALLY_FROM_GC(g), TALLY_GC_BIT_FROZEN);
    }
}

/* freeze() stops the world (it reads every nursery): every young and old object moves to the
 * permanent generation. */
void tally_gc_freeze(void)
{
    gc_state *gc = &_tally_gc;
    tally_thread_state *self = _tally_tstate_require("tally_gc_freeze");
    if (!self)
        return;
    _Alignas(16) _tally_gc_head moved;
    gc_list_init(&moved, 0);
    if (_tally_stop_the_world(NULL) != 0)
        _tally_fatal("tally_gc_freeze: cannot stop the world: %s", tally_last_error());
    pthread_mutex_lock(&gc->stw_phase);
    gc_global_lock();
    _tally_gc_gather_young_ws(&moved);
    for (_tally_gc_head *g = gc_next(&moved); g != &moved; g = gc_next(g))
        gc_st(&g->gc_next, gc_ld(&g->gc_next) & GC_PTR_MASK);   /* tag 0: a global list */
    gc_list_merge(&gc->gen1, &moved);
    gc_list_merge(&gc->gen2, &moved);
    gc_list_merge(&gc->gen2_visited, &moved);
    set_frozen(&moved, true);
    gc_list_merge(&moved, &gc->permanent);
    gc->space_valid = 0;
    _tally_gc_count_reset_ws();
    gc_global_unlock();
    pthread_mutex_unlock(&gc->stw_phase);
    _tally_start_the_world();
}

void tally_gc_unfreeze(void)
{
    gc_state *gc = &_tally_gc;
    gc_global_lock();
    set_frozen(&gc->permanent, false);
    gc_list_merge(&gc->permanent, &gc->gen2);
    gc->space_valid = 0;
    gc_global_unlock();
}

size_t tally_gc_get_freeze_count(void)
{
    gc_global_lock();
    size_t n = gc_list_size(&_tally_gc.permanent);
    gc_global_unlock();
    return n;
}

/* ---- get_objects ------------------------------------------------------------------------- */
typedef struct obj_vec {
    tally_object **v;
    size_t n, cap;
    bool oom;
} obj_vec;

static void collect_one(obj_vec *out, tally_object *o)
{
    if (out->n == out->cap) {
        size_t cap = out->cap ? out->cap * 2 : 1024;
        tally_object **v = realloc(out->v, cap * sizeof *v);
        if (!v) {
            out->oom = true;
            return;
        }
        out->v = v;
        out->cap = cap;
    }
    /* A listed object's memory is valid (its free unlinks it first, and the world is stopped),
     * but its count may already be 0: only living objects are returned. */
    if (_tally_rc_try_incref(o))
        out->v[out->n++] = o;
}

static void collect_list(obj_vec *out, _tally_gc_head *l)
{
    for (_tally_gc_head *g = gc_next(l); g != l && !out->oom; g = gc_next(g))
        collect_one(out, _TALLY_FROM_GC(g));
}

static void collect_nursery(obj_vec *out, gc_nursery *n)
{
    for (gc_nursery_chunk *c = n->first; c; c = c->next) {
        size_t used = chunk_used(n, c);
        for (size_t i = 0; i < used && !out->oom; i++) {
            uintptr_t v = gc_ld(&c->slot[i]);
            if (slot_holds_object(v))
                collect_one(out, _TALLY_FROM_GC((_tally_gc_head *)v));
        }
        if (c == n->cur)
            break;
    }
}

tally_object *tally_gc_get_objects(int generation)
{
    if (generation < -1 || generation > 2) {
        _tally_set_error("tally_gc_get_objects: generation %d is out of range (accepted: -1, 0, 1, 2)", generation);
        return NULL;
    }
    if (!_tally_tstate_require("tally_gc_get_objects"))
        return NULL;
    gc_state *gc = &_tally_gc;
    tally_object *result = tally_list_new();   /* before any lock: it allocates a GC object */
    if (!result)
        return NULL;
    obj_vec vec = { NULL, 0, 0, false };
    /* The world is stopped to read the nurseries; gc.lock as well, since a collection's
     * world-running phases edit the global lists under it.  Objects of a running collection's
     * unreachable/finalizer sets are in no generation list. */
    if (_tally_stop_the_world(NULL) != 0)
        _tally_fatal("tally_gc_get_objects: cannot stop the world: %s", tally_last_error());
    gc_global_lock();
    if (generation == -1 || generation == 0) {
        _TALLY_FOREACH_THREAD(t) {
            if (t->gc_data)
                collect_nursery(&vec, t->gc_data);
        }
        for (gc_nursery *n = gc->orphans; n; n = n->next_orphan)
            collect_nursery(&vec, n);
        collect_list(&vec, &gc->young_list);
    }
    if (generation == -1 || generation == 1)
        collect_list(&vec, &gc->gen1);
    if (generation == -1 || generation == 2) {
        collect_list(&vec, &gc->gen2);
        collect_list(&vec, &gc->gen2_visited);
    }
    gc_global_unlock();
    _tally_start_the_world();
    int rc = vec.oom ? -1 : 0;
    for (size_t i = 0; i < vec.n; i++) {
        if (rc == 0 && vec.v[i] != result)
            rc = tally_list_append(result, vec.v[i]);
        tally_decref(vec.v[i]);
    }
    free(vec.v);
    if (rc != 0) {
        tally_decref(result);
        _tally_set_error("tally_gc_get_objects: out of memory");
        return NULL;
    }
    return result;
}
