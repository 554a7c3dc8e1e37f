/* runtime/rc_biased_queue.c - merge queues of the biased backend (CPython's Python/brc.c, after
 * Choi, Shull, Torrellas PACT 2018 "QueuedObjects").
 *
 * Owns: the owner registry (257 buckets keyed by thread id, each a mutex and a chain of
 * records), each owner's queue of objects to merge, the hand-over rules for owners that exited
 * or are detached, the world-stopped drain of every queue and the list of objects the collector
 * keeps alive until the world restarts.
 *
 * A non-owner whose decrement would take an object's shared count below zero sets QUEUED
 * without subtracting (runtime/rc_biased.c): the queue now holds that reference.  Here:
 *  - owner registered and attached: push on its queue and set TALLY_BREAK_MERGE on it; it
 *    merges everything at its next safepoint (_tally_brc_merge_own, extra -1 per object).
 *  - owner not registered (exited, or released its state): merge now.  Nobody writes the
 *    object's ob_ref_local any more; the exiting owner's last writes happen before its
 *    unregistration (bucket unlock), which happens before our lookup (bucket lock).
 *  - owner detached (between _tally_rc_on_detach and _tally_rc_on_attach), CPython gh-157838:
 *    merge its whole queue and this object on its behalf instead of letting them wait for it.
 *    Race-free against re-attaching: `attached` is read and written only under the bucket
 *    mutex; the owner clears it in on_detach after its last object access and sets it in
 *    on_attach before its first one, so while we hold the mutex and see 0 the owner does not
 *    touch ob_ref_local, and its earlier writes are visible (its unlock -> our lock); our writes
 *    (ob_tid = 0, ob_ref_local = 0, MERGED) are visible to it after it re-attaches (our unlock
 *    -> its lock), so it takes the non-owner path on those objects from then on.
 *  - world stopped (the caller is the collector; every owner is parked or detached): merge now;
 *    a count that reaches zero keeps one reference on the kept list (no destructor runs while
 *    the world is stopped) and is released by _tally_brc_release_kept() after the restart.
 * Deallocations always happen after the bucket mutex is released: destructors drop other
 * references, which may queue to the same bucket.  No thread parks at a safepoint while it
 * holds a bucket mutex (nothing in between is a safepoint), so a stop-the-world never waits on
 * one and the collector may take them with the world stopped.
 *
 * Bookkeeping (records, queue arrays) uses libc malloc, not mimalloc: ThreadSanitizer intercepts
 * it, so reuse of a block freed by another thread is not mistaken for a race.
 *
 * Invariants: an object is in at most one queue (QUEUED is set once, by one CAS, and states
 * only move upward); a record is in its bucket from _tally_brc_thread_add to the end of
 * _tally_brc_thread_remove, and its queue is empty when it leaves.  Queue arrays are swapped
 * out under the mutex and processed outside it.  `pending` and `t->n` are relaxed counters
 * written under the mutexes, read as hints.
 */
#include "runtime/rc_biased_queue.h"

#include <stdlib.h>
#include <string.h>

#define BRC_BUCKETS 257   /* prime, as CPython's _Py_BRC_NUM_BUCKETS */

typedef struct objstack {
    tally_object **v;
    size_t len, cap;
} objstack;

typedef struct brc_thread {
    uintptr_t tid;
    tally_thread_state *ts;
    struct brc_thread *next;   /* bucket chain, under the bucket mutex */
    objstack q;                /* objects to merge, under the bucket mutex */
    size_t n;                  /* q.len mirrored for lock-free hints (relaxed) */
    int attached;              /* under the bucket mutex */
} brc_thread;

typedef struct brc_bucket {
    pthread_mutex_t mu;
    brc_thread *head;
} __attribute__((aligned(TALLY_CACHELINE))) brc_bucket;

static brc_bucket table[BRC_BUCKETS];
static size_t pending;   /* objects in all queues (relaxed) */

/* Objects the collector merged to zero while the world was stopped (each holds one reference). */
static struct {
    pthread_mutex_t mu;
    objstack s;
    size_t n;            /* s.len mirrored (relaxed) */
} kept = { PTHREAD_MUTEX_INITIALIZER, { NULL, 0, 0 }, 0 };

static brc_bucket *bucket_of(uintptr_t tid) { return &table[tid % BRC_BUCKETS]; }

static brc_thread *find_locked(brc_bucket *b, uintptr_t tid)
{
    TALLY_ASSERT_HELD(&b->mu);
    for (brc_thread *t = b->head; t; t = t->next)
        if (t->tid == tid)
            return t;
    return NULL;
}

static void unlink_locked(brc_bucket *b, brc_thread *t)
{
    TALLY_ASSERT_HELD(&b->mu);
    for (brc_thread **p = &b->head; *p; p = &(*p)->next) {
        if (*p == t) {
            *p = t->next;
            t->next = NULL;
            return;
        }
    }
}

/* The new array is installed before the old one is freed and the element before the length, so
 * a fork() that interrupts a push leaves a consistent (at worst leaky) stack in the child. */
static bool stack_push(objstack *s, tally_object *o)
{
    if (s->len == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        tally_object **v = malloc(cap * sizeof *v);
        if (!v)
            return false;
        if (s->len)
            memcpy(v, s->v, s->len * sizeof *v);
        tally_object **old = s->v;
        s->v = v;
        s->cap = cap;
        free(old);
    }
    s->v[s->len] = o;
    s->len++;
    return true;
}

static objstack take_locked(brc_thread *t)
{
    objstack q = t->q;
    t->q = (objstack){ NULL, 0, 0 };
    tally_atomic_store_relaxed(&t->n, 0);
    if (q.len)
        tally_atomic_fetch_sub_relaxed(&pending, q.len);
    return q;
}

/* ---- the kept list (world-stopped merges) ------------------------------------------------ */
/* World stopped: o's merged count reached zero.  Give it back one reference and keep it. */
static void keep_locked_world(tally_object *o)
{
    tally_atomic_fetch_add_relaxed(&o->ob_ref_shared, (intptr_t)1 << TALLY_REF_SHARED_SHIFT);
    pthread_mutex_lock(&kept.mu);
    if (!stack_push(&kept.s, o))
        _tally_fatal("biased: out of memory keeping a merged object until the world restarts");
    tally_atomic_store_relaxed(&kept.n, kept.s.len);
    pthread_mutex_unlock(&kept.mu);
}

void _tally_brc_release_kept(void)
{
    if (tally_atomic_load_relaxed(&kept.n) == 0)
        return;
    pthread_mutex_lock(&kept.mu);
    objstack s = kept.s;
    kept.s = (objstack){ NULL, 0, 0 };
    tally_atomic_store_relaxed(&kept.n, 0);
    pthread_mutex_unlock(&kept.mu);
    /* ob_tid is 0 after the merge: this is a shared-count decrement, which frees at zero. */
    for (size_t i = 0; i < s.len; i++)
        _tally_decref_fast(s.v[i]);
    free(s.v);
}

/* Merge every object of q (each holds the queue's reference: extra -1).  Objects that died are
 * compacted to the front of q; returns how many. */
static size_t merge_stack(objstack *q)
{
    size_t dead = 0;
    for (size_t i = 0; i < q->len; i++) {
        tally_object *o = q->v[i];
        if (_tally_biased_explicit_merge(o, -1) == 0)
            q->v[dead++] = o;
    }
    return dead;
}

static void free_dead(objstack *q, size_t dead)
{
    for (size_t i = 0; i < dead; i++)
        _tally_dealloc(q->v[i]);
    free(q->v);
}

/* ---- registry ---------------------------------------------------------------------------- */
void _tally_brc_init(void)
{
    for (size_t i = 0; i < BRC_BUCKETS; i++) {
        pthread_mutex_init(&table[i].mu, NULL);
        table[i].head = NULL;
    }
    tally_atomic_store_relaxed(&pending, 0);
}

void _tally_brc_fini(void)
{
    /* Every thread has released its state; what is left belongs to states never released
     * (threads still running at tally_fini).  Nothing can be destroyed without an attached
     * thread, so only the bookkeeping goes. */
    for (size_t i = 0; i < BRC_BUCKETS; i++) {
        pthread_mutex_lock(&table[i].mu);
        brc_thread *t = table[i].head;
        table[i].head = NULL;
        pthread_mutex_unlock(&table[i].mu);
        while (t) {
            brc_thread *next = t->next;
            if (t->ts)
                t->ts->rc_data = NULL;
            free(t->q.v);
            free(t);
            t = next;
        }
    }
    pthread_mutex_lock(&kept.mu);
    free(kept.s.v);
    kept.s = (objstack){ NULL, 0, 0 };
    tally_atomic_store_relaxed(&kept.n, 0);
    pthread_mutex_unlock(&kept.mu);
}

int _tally_brc_thread_add(tally_thread_state *ts)
{
    brc_thread *t = calloc(1, sizeof *t);
    if (!t) {
        _tally_set_error("tally_thread_attach: out of memory (biased merge queue)");
        return -1;
    }
    t->tid = ts->tid;
    t->ts = ts;
    t->attached = 1;   /* rc_thread_init runs attached (after do_attach) */
    brc_bucket *b = bucket_of(t->tid);
    pthread_mutex_lock(&b->mu);
    /* Ids are never reused (include/tally/static/thread_id.h): a record with our id could only
     * be a state dropped without _tally_rc_thread_fini, whose id a fork child kept.  Adopt its
     * queue rather than lose it. */
    brc_thread *stale = find_locked(b, t->tid);
    if (stale) {
        unlink_locked(b, stale);
        t->q = stale->q;
        tally_atomic_store_relaxed(&t->n, t->q.len);
        if (t->q.len)
            tally_atomic_fetch_or(&ts->breaker, TALLY_BREAK_MERGE);
        if (stale->ts)
            stale->ts->rc_data = NULL;
        free(stale);
    }
    t->next = b->head;
    b->head = t;
    pthread_mutex_unlock(&b->mu);
    ts->rc_data = t;
    return 0;
}

void _tally_brc_thread_remove(tally_thread_state *ts)
{
    brc_thread *t = ts->rc_data;
    if (!t)
        return;
    brc_bucket *b = bucket_of(t->tid);
    /* Merging may free objects whose destructors queue more objects to us: loop until the
     * queue is empty under the mutex, and unregister in that same critical section. */
    for (;;) {
        pthread_mutex_lock(&b->mu);
        if (t->q.len == 0) {
            unlink_locked(b, t);
            tally_atomic_fetch_and(&ts->breaker, ~TALLY_BREAK_MERGE);
            pthread_mutex_unlock(&b->mu);
            break;
        }
        objstack q = take_locked(t);
        pthread_mutex_unlock(&b->mu);
        size_t dead = merge_stack(&q);
        free_dead(&q, dead);
    }
    free(t->q.v);
    free(t);
    ts->rc_data = NULL;
}

void _tally_brc_set_attached(tally_thread_state *ts, bool attached)
{
    brc_thread *t = ts->rc_data;
    if (!t)
        return;
    brc_bucket *b = bucket_of(t->tid);
    pthread_mutex_lock(&b->mu);
    t->attached = attached;
    /* Objects queued before we detached and not merged on our behalf since: merge them at the
     * next safepoint. */
    if (attached && t->q.len)
        tally_atomic_fetch_or(&ts->breaker, TALLY_BREAK_MERGE);
    pthread_mutex_unlock(&b->mu);
}

/* ---- queueing ---------------------------------------------------------------------------- */
static void merge_after_oom(tally_object *o)
{
    /* As CPython: when the queue cannot grow, stop the world so that the owner cannot run,
     * and merge here. */
    if (_tally_world_is_stopped()) {
        if (_tally_biased_explicit_merge(o, -1) == 0)
            keep_locked_world(o);
        return;
    }
    if (_tally_stop_the_world(NULL) != 0)
        _tally_fatal("biased: out of memory queueing %s object %p and the world cannot be stopped",
                     o->ob_type ? o->ob_type->name : "?", (void *)o);
    intptr_t n = _tally_biased_explicit_merge(o, -1);
    _tally_start_the_world();
    if (n == 0)
        _tally_dealloc(o);
}

void _tally_brc_queue_object(tally_object *o)
{
    /* API misuse that the other backends report when they free: a thread that is not attached
     * dropped what may be the last reference.  Reported here, at the decrement (aborts in debug
     * mode); otherwise the object is still handed over and dies at the owner's merge. */
    tally_thread_state *self = _tally_tstate();
    if (tally_unlikely(!self || tally_atomic_load_relaxed(&self->state) != TALLY_TS_ATTACHED))
        _tally_misuse(o, "tally_decref: reference dropped by a thread that is not attached "
                         "(call tally_thread_attach first)");
    uintptr_t tid = tally_atomic_load_relaxed(&o->ob_tid);
    if (tid == 0) {
        /* The owner's count reached 0 concurrently and it is merging o; since o was QUEUED its
         * merge marks the queue's reference with the in-queue bit, but no queue will hold o:
         * drop that reference and the bit here (a plain shared decrement would leave the bit
         * set and o would never be freed). */
        if (_tally_biased_drop_unqueued(o))
            _tally_dealloc(o);
        return;
    }
    brc_bucket *b = bucket_of(tid);
    pthread_mutex_lock(&b->mu);
    brc_thread *t = find_locked(b, tid);
    bool stopped = _tally_world_is_stopped();
    if (!t || stopped) {
        /* Owner exited (its last ob_ref_local writes precede its unregistration under this
         * mutex), or every owner is parked by the world we stopped. */
        intptr_t n = _tally_biased_explicit_merge(o, -1);
        pthread_mutex_unlock(&b->mu);
        if (n == 0) {
            if (stopped)
                keep_locked_world(o);
            else
                _tally_dealloc(o);
        }
        return;
    }
    if (!t->attached) {
        /* gh-157838: the owner is detached (blocked outside the runtime) and excluded from
         * re-attaching by this mutex: merge its whole queue and o on its behalf now. */
        objstack q = take_locked(t);
        tally_atomic_fetch_and(&t->ts->breaker, ~TALLY_BREAK_MERGE);
        intptr_t n = _tally_biased_explicit_merge(o, -1);
        size_t dead = merge_stack(&q);
        pthread_mutex_unlock(&b->mu);
        if (n == 0)
            _tally_dealloc(o);
        free_dead(&q, dead);
        return;
    }
    if (!stack_push(&t->q, o)) {
        pthread_mutex_unlock(&b->mu);
        merge_after_oom(o);
        return;
    }
    tally_atomic_store_relaxed(&t->n, t->q.len);
    tally_atomic_fetch_add_relaxed(&pending, 1);
    /* The owner reads the queue under this mutex; the bit is only the wake-up. */
    tally_atomic_fetch_or(&t->ts->breaker, TALLY_BREAK_MERGE);
    pthread_mutex_unlock(&b->mu);
}

void _tally_brc_merge_own(tally_thread_state *ts)
{
    brc_thread *t = ts->rc_data;
    if (!t) {
        tally_atomic_fetch_and(&ts->breaker, ~TALLY_BREAK_MERGE);
        return;
    }
    brc_bucket *b = bucket_of(t->tid);
    pthread_mutex_lock(&b->mu);
    /* Cleared under the mutex before the queue is taken: a push after this sets it again. */
    tally_atomic_fetch_and(&ts->breaker, ~TALLY_BREAK_MERGE);
    objstack q = take_locked(t);
    pthread_mutex_unlock(&b->mu);
    size_t dead = merge_stack(&q);
    free_dead(&q, dead);
    _tally_brc_release_kept();
}

bool _tally_brc_own_pending(tally_thread_state *ts)
{
    brc_thread *t = ts->rc_data;
    return t && tally_atomic_load_relaxed(&t->n) != 0;
}

bool _tally_brc_anything_pending(void)
{
    return tally_atomic_load_relaxed(&pending) != 0 || tally_atomic_load_relaxed(&kept.n) != 0;
}

/* ---- collector and fork ------------------------------------------------------------------ */
void _tally_brc_merge_all_stopped(void)
{
    /* World stopped: every owner is parked or detached, so any ob_ref_local may be merged.  The
     * mutexes are free (nobody parks holding one); taking them keeps the records consistent
     * with detached threads that attach/detach concurrently (they touch only `attached`). */
    for (size_t i = 0; i < BRC_BUCKETS; i++) {
        brc_bucket *b = &table[i];
        pthread_mutex_lock(&b->mu);
        for (brc_thread *t = b->head; t; t = t->next) {
            if (t->q.len == 0)
                continue;
            objstack q = take_locked(t);
            tally_atomic_fetch_and(&t->ts->breaker, ~TALLY_BREAK_MERGE);
            size_t dead = merge_stack(&q);
            for (size_t k = 0; k < dead; k++)
                keep_locked_world(q.v[k]);
            free(q.v);
        }
        pthread_mutex_unlock(&b->mu);
    }
}

void _tally_brc_fork_child(void)
{
    /* Only the forking thread runs in the child.  Mutexes may have been held by threads that
     * are gone: re-create them.  Records of the other threads are dropped (thread_state.c frees
     * their states without calling the backend); the objects queued to them are merged here,
     * which is safe with one thread, and those that died wait on the kept list for the next
     * safepoint of this thread, flush or collection. */
    uintptr_t self = _tally_thread_id();
    pthread_mutex_init(&kept.mu, NULL);
    size_t npending = 0;
    brc_thread *me = NULL;
    for (size_t i = 0; i < BRC_BUCKETS; i++) {
        brc_bucket *b = &table[i];
        pthread_mutex_init(&b->mu, NULL);
        brc_thread *t = b->head;
        b->head = NULL;
        while (t) {
            brc_thread *next = t->next;
            if (t->tid == self) {
                t->next = b->head;
                b->head = t;
                me = t;
                npending += t->q.len;
            } else {
                for (size_t k = 0; k < t->q.len; k++) {
                    tally_object *o = t->q.v[k];
                    if (_tally_biased_explicit_merge(o, -1) == 0) {
                        tally_atomic_fetch_add_relaxed(&o->ob_ref_shared,
                                                       (intptr_t)1 << TALLY_REF_SHARED_SHIFT);
                        if (!stack_push(&kept.s, o))
                            _tally_fatal("biased: out of memory in the fork child");
                    }
                }
                free(t->q.v);
                free(t);
            }
            t = next;
        }
    }
    tally_atomic_store_relaxed(&pending, npending);
    tally_atomic_store_relaxed(&kept.n, kept.s.len);
    if (me && (me->q.len || kept.s.len))
        tally_atomic_fetch_or(&me->ts->breaker, TALLY_BREAK_MERGE);
}
