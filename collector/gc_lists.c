/* collector/gc_lists.c - generation lists, young shards and the object core's hooks.
 *
 * Owns: the collector state (_tally_gc), _tally_gc_init/fini, per-thread shard assignment,
 * linking at allocation, unlinking at free/untrack, tally_gc_track/untrack/is_tracked/
 * is_finalized, the allocation count and the threshold check (_tally_gc_maybe_collect),
 * freeze/unfreeze, get_objects, fork.
 *
 * Locking: a tracked object's list is named by the tag in its gc_next (collector/gc_internal.h):
 * a young shard (its byte lock) or the global lists (gc.lock).  Lock order: gc.lock, then shards
 * in index order.  No lock is held across user code, an allocation of a GC object or a
 * safepoint, so a holder never waits for a stop-the-world and a stopped world never waits for a
 * holder.  With the world stopped the collector touches lists without locks (every other thread
 * is parked outside these critical sections).
 * A tag changes only with the world stopped (young shard -> collector) or while the object is
 * untracked, so "read tag, lock, re-read tag" finds the right lock.
 * Memory ordering: list words are relaxed atomics ordered by the lock that guards them
 * (acquire on lock, release on unlock); the young count is a relaxed atomic counter (it only
 * decides when to collect).
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
bool _tally_gc_lock_list_of(_tally_gc_head *g, gc_shard **shard)
{
    for (;;) {
        uintptr_t next = gc_ld(&g->gc_next);
        if (next == 0)
            return false;
        unsigned tag = (unsigned)(next & GC_TAG_MASK);
        gc_shard *s = tag ? &_tally_gc.shards[tag - 1] : NULL;
        if (s)
            gc_shard_lock(s);
        else
            gc_global_lock();
        uintptr_t again = gc_ld(&g->gc_next);
        if (again != 0 && (again & GC_TAG_MASK) == tag) {
            *shard = s;
            return true;
        }
        _tally_gc_unlock_list(s);
    }
}

void _tally_gc_unlock_list(gc_shard *s)
{
    if (s)
        gc_shard_unlock(s);
    else
        gc_global_unlock();
}

void _tally_gc_lock_all(void)
{
    gc_global_lock();
    for (int i = 0; i < GC_NSHARDS; i++)
        gc_shard_lock(&_tally_gc.shards[i]);
}

void _tally_gc_unlock_all(void)
{
    for (int i = GC_NSHARDS - 1; i >= 0; i--)
        gc_shard_unlock(&_tally_gc.shards[i]);
    gc_global_unlock();
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
    for (int i = 0; i < GC_NSHARDS; i++)
        gc_list_init(&gc->shards[i].head, (unsigned)i + 1);
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

int _tally_gc_thread_init(tally_thread_state *ts)
{
    ts->gc_data = &_tally_gc.shards[(ts->serial ? ts->serial - 1 : 0) % GC_NSHARDS];
    return 0;
}

void _tally_gc_thread_fini(tally_thread_state *ts)
{
    /* The shard outlives the thread: its objects stay young until the next collection, and
     * other threads mapped to the same shard keep using it.  Its unpublished count is folded. */
    _tally_gc_count_thread_fold(ts);
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
    for (int i = 0; i < GC_NSHARDS; i++)
        gc->shards[i].lock = 0;
    fork_locked = 0;
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
 * attached forker can never meet one, since the world cannot stop without it), then gc.lock and
 * every shard lock (none is ever held across a wait, so this terminates); the parent
 * releases them, the child re-initialises them in _tally_gc_fork_child (runtime/runtime.c's child
 * handler calls it).  Registered in _tally_gc_init, before runtime.c's handlers, so it runs after
 * their prepare and before their parent/child handlers. */
static void gc_fork_prepare(void)
{
    if (!tally_atomic_load_acquire(&_tally_runtime.initialized))
        return;
    pthread_mutex_lock(&_tally_gc.stw_phase);
    _tally_gc_lock_all();
    fork_locked = 1;
}

static void gc_fork_parent(void)
{
    if (fork_locked) {
        fork_locked = 0;
        _tally_gc_unlock_all();
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
 * every 512).  The batch is threshold0 / 8 (at most GC_COUNT_BATCH_MAX, at least 1), so a
 * collection is triggered at most threads * batch allocations late.  With one thread the count
 * is exact: a free lowers it only while count[0] + the thread's delta is above 0, which is the
 * clamp at 0 applied at every free.  tally_gc_get_count adds the deltas of every thread.
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
    if (tally_likely(d < gc_count_batch())) {
        tally_atomic_store_relaxed(&ts->gc_alloc_delta, d);
        return;
    }
    tally_atomic_store_relaxed(&ts->gc_alloc_delta, 0);
    int c = gc_count_fold(d);
    int t0 = tally_atomic_load_relaxed(&gc->threshold[0]);
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
    _tally_gc_collect_generations();
}

static void link_young(gc_shard *s, tally_object *o)
{
    _tally_gc_head *g = _TALLY_AS_GC(o);
    gc_shard_lock(s);
    gc_st(&g->gc_prev, 0);
    gc_list_append(g, &s->head);
    gc_shard_unlock(s);
}

void _tally_gc_on_alloc(tally_thread_state *ts, tally_object *o)
{
    gc_shard *s = ts && ts->gc_data ? ts->gc_data : &_tally_gc.shards[0];
    /* The object is private to this thread until tally_new returns: no RMW needed. */
    tally_atomic_store_relaxed(&o->ob_gc_bits, (uint8_t)(gc_bits(o) | TALLY_GC_BIT_TRACKED));
    link_young(s, o);
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
    /* -1 unless the count is already 0 (it never goes below). */
    if (d > 0 || tally_atomic_load_relaxed(&_tally_gc.count[0]) + d > 0)
        d--;
    if (tally_unlikely(d <= -gc_count_batch())) {
        gc_count_fold(d);
        d = 0;
    }
    tally_atomic_store_relaxed(&ts->gc_alloc_delta, d);
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
    _tally_gc_head *g = _TALLY_AS_GC(o);
    tally_thread_state *ts = _tally_tstate();
    gc_shard *s = ts && ts->gc_data ? ts->gc_data : &_tally_gc.shards[0];
    gc_shard_lock(s);
    if (gc_ld(&g->gc_next) == 0 && !(gc_bits(o) & TALLY_GC_BIT_TRACKED)) {
        gc_bits_set_rt(o, TALLY_GC_BIT_TRACKED);
        gc_st(&g->gc_prev, 0);
        gc_list_append(g, &s->head);
    }
    gc_shard_unlock(s);
}

void tally_gc_untrack(tally_object *o)
{
    if (!o || !_TALLY_IS_GC(o))
        return;
    _tally_gc_head *g = _TALLY_AS_GC(o);
    gc_shard *s;
    if (!_tally_gc_lock_list_of(g, &s))
        return;
    gc_list_unlink(g);
    gc_st(&g->gc_next, 0);
    gc_st(&g->gc_prev, 0);
    gc_bits_clear_rt(o, TALLY_GC_BIT_TRACKED);
    _tally_gc_unlock_list(s);
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

/* Move a shard's objects to a global list (re-tagging each: the shard lock and gc.lock held). */
static void shard_move_to(gc_shard *s, _tally_gc_head *to)
{
    _tally_gc_head *h = &s->head;
    while (!gc_list_is_empty(h)) {
        _tally_gc_head *g = gc_next(h);
        gc_list_unlink(g);
        gc_st(&g->gc_next, 0);
        gc_list_append(g, to);
    }
}

void tally_gc_freeze(void)
{
    gc_state *gc = &_tally_gc;
    _Alignas(16) _tally_gc_head moved;
    gc_list_init(&moved, 0);
    _tally_gc_lock_all();
    for (int i = 0; i < GC_NSHARDS; i++)
        shard_move_to(&gc->shards[i], &moved);
    gc_list_merge(&gc->gen1, &moved);
    gc_list_merge(&gc->gen2, &moved);
    gc_list_merge(&gc->gen2_visited, &moved);
    set_frozen(&moved, true);
    gc_list_merge(&moved, &gc->permanent);
    gc->space_valid = 0;
    tally_atomic_store_relaxed(&gc->count[0], 0);
    tally_thread_state *self = _tally_tstate();
    if (self)   /* other threads' unpublished parts stay: they allocate concurrently */
        tally_atomic_store_relaxed(&self->gc_alloc_delta, 0);
    _tally_gc_unlock_all();
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

static void collect_list(obj_vec *out, _tally_gc_head *l)
{
    for (_tally_gc_head *g = gc_next(l); g != l; g = gc_next(g)) {
        tally_object *o = _TALLY_FROM_GC(g);
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
        /* A listed object's memory is valid (its free unlinks it under this lock first), but
         * its count may already be 0: only living objects are returned. */
        if (_tally_rc_try_incref(o))
            out->v[out->n++] = o;
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
    _tally_gc_lock_all();
    /* Objects of a running collection's unreachable/finalizer sets are in no generation list. */
    if (generation == -1 || generation == 0) {
        for (int i = 0; i < GC_NSHARDS; i++)
            collect_list(&vec, &gc->shards[i].head);
    }
    if (generation == -1 || generation == 1)
        collect_list(&vec, &gc->gen1);
    if (generation == -1 || generation == 2) {
        collect_list(&vec, &gc->gen2);
        collect_list(&vec, &gc->gen2_visited);
    }
    _tally_gc_unlock_all();
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
