/* sync/qsbr.c - quiescent-state-based reclamation for the free-threaded backends, on liburcu's
 * QSBR flavour (urcu-qsbr).
 *
 * Owns: registering attached threads with urcu-qsbr, taking them offline while detached,
 * reporting a quiescent state at each safepoint, and delayed frees (_tally_free_delayed).
 *
 * Contract (the liburcu QSBR flavour's own rule, repeated here as the docs ask): a thread must be
 * registered before it reads RCU-protected data; tally_thread_attach() registers it, so every
 * attached thread may read shared containers lock-free.  Between two safepoints an attached
 * thread is inside one long read-side critical section.  A detached thread is offline and never
 * holds back a grace period.
 *
 * Delayed frees: pointers are collected per thread in batches; a full batch is handed to
 * call_rcu (urcu_qsbr_call_rcu), whose worker, after a grace period (every online thread has
 * passed a safepoint or gone offline since the batch was queued), links it on the ready list;
 * the mutators free ready batches at their safepoints (see free_batch_cb).  Pairing:
 * the grace-period machinery of urcu-qsbr orders a reader's last access (before its quiescent
 * state, which has a full barrier) before the free in the callback.
 *
 * gil and racy: nothing is read lock-free, so memory is freed at once and liburcu is not used.
 * After fork(): liburcu's state in the child is not trustworthy (its registry lists the parent's
 * threads, its call_rcu workers are gone, its locks may be held), so the child never calls it
 * again.  Instead, delayed frees are freed at once while the child has a single thread and
 * otherwise parked on a list that the next stop-the-world releases: with every other thread
 * parked at a safepoint no lock-free reader can hold the memory (CPython frees its delayed
 * memory during the collector's stop-the-world the same way).
 */
#include "runtime/internal.h"

#include <mimalloc.h>
#include <sys/mman.h>
#include <time.h>

#if defined(TALLY_FREE_THREADED)
#include <urcu/urcu-qsbr.h>

#define FREE_BATCH 126

struct free_batch {
    struct rcu_head head;
    struct free_batch *ready_next;   /* on the ready list (below), under ready.mu */
    size_t n;
    void *ptrs[FREE_BATCH];
};

static _Thread_local struct free_batch *cur_batch __attribute__((tls_model("initial-exec")));
static _Thread_local int registered;
static int child_mode; /* set in a fork child, never cleared; read relaxed */
/* Threads between _tally_qsbr_thread_register and _tally_qsbr_thread_unregister, the fork
 * child's included (where liburcu is not used): only they may read lock-free, so a child with
 * one of them frees delayed memory at once.  Relaxed counter; `counted` is this thread's part. */
static size_t nthreads;
static _Thread_local int counted;

/* Child mode: memory waiting for the next stop-the-world. */
static pthread_mutex_t child_pending_mu = PTHREAD_MUTEX_INITIALIZER;
static void **child_pending;
static size_t child_pending_n, child_pending_cap;

/* ThreadSanitizer does not see inside liburcu, so it cannot see that a grace period orders
 * every reader's accesses before the free.  Model it with one sync object: each quiescent state
 * (a safepoint, going offline, unregistering) releases it, and each free after a grace period
 * acquires it first.  That adds only edges that exist (an access before a quiescent state that
 * precedes the acquire is over before the free) and may hide an access made after the reader's
 * last needed quiescent state, which the suppression this replaces hid as well.  Without it every
 * block freed by the callback was handled by TSan as a (suppressed) race: one lookup in TSan's
 * table of racy addresses per block, quadratic, and a 1-second `tally stress` run of the atomic
 * backend took more than 600 s to shut down. */
#if defined(TALLY_TSAN)
static char qsbr_tsan_sync;
#endif
#define TSAN_QUIESCENT() TALLY_TSAN_RELEASE(&qsbr_tsan_sync)
#define TSAN_GRACE_PERIOD_OVER() TALLY_TSAN_ACQUIRE(&qsbr_tsan_sync)

static void free_batch_now(struct free_batch *b)
{
    for (size_t i = 0; i < b->n; i++)
        mi_free(b->ptrs[i]);
    mi_free(b);
}

/* Batches whose grace period is over, freed by the mutators at their safepoints rather than by
 * liburcu's call_rcu worker.  The worker is a third thread: on a machine with as many mutators
 * as cores, each of its runs (thousands of mi_free calls after a grace period) took a core from a
 * mutator, which then reached its safepoint late.  Measured on the 2-core VM (cycles, atomic, 2
 * threads): time to safepoint p99 164-209 us with the worker freeing, 58-65 us with no worker at
 * all.  Now the worker only links the batch here (a mutex and two stores) and the next safepoint
 * of any thread frees up to DRAIN_PER_SAFEPOINT batches (at most 504 blocks, a few microseconds,
 * so no stop of the world waits long for it).  Bounded: past READY_MAX batches (129,024 blocks)
 * the worker frees a batch itself, as before; the barrier frees them all.
 * Ordering: the worker acquires the grace period (TSAN_GRACE_PERIOD_OVER) before it links the
 * batch under ready.mu; a mutator unlinks it under ready.mu, so its frees happen after the grace
 * period.  `head` is also read relaxed without the lock, as a hint only. */
#define READY_MAX 1024
#define DRAIN_PER_SAFEPOINT 4
static struct {
    pthread_mutex_t mu;
    struct free_batch *head;
    size_t n;
} ready = { PTHREAD_MUTEX_INITIALIZER, NULL, 0 };

/* Batches handed to call_rcu, and those whose callback has run (linked or freed): monotonic
 * counters for _tally_qsbr_wait_delayed_frees.  queued: relaxed increment before call_rcu;
 * done: release increment at the end of the callback, read with acquire. */
static uint64_t batches_queued, batches_done;

static void free_batch_cb(struct rcu_head *head)
{
    TSAN_GRACE_PERIOD_OVER();
    struct free_batch *b = caa_container_of(head, struct free_batch, head);
    pthread_mutex_lock(&ready.mu);
    if (ready.n < READY_MAX) {
        b->ready_next = ready.head;
        tally_atomic_store_relaxed(&ready.head, b);
        ready.n++;
        pthread_mutex_unlock(&ready.mu);
    } else {
        pthread_mutex_unlock(&ready.mu);
        free_batch_now(b);
    }
    tally_atomic_fetch_add_release(&batches_done, 1);
}

/* Free up to `max` ready batches; `wait` false: give up if another thread is draining. */
static void drain_ready(size_t max, bool wait)
{
    for (size_t i = 0; i < max; i++) {
        if (wait)
            pthread_mutex_lock(&ready.mu);
        else if (pthread_mutex_trylock(&ready.mu) != 0)
            return;
        struct free_batch *b = ready.head;
        if (b) {
            tally_atomic_store_relaxed(&ready.head, b->ready_next);
            ready.n--;
        }
        pthread_mutex_unlock(&ready.mu);
        if (!b)
            return;
        free_batch_now(b);
    }
}

static inline void drain_some(void)
{
    if (tally_unlikely(tally_atomic_load_relaxed(&ready.head) != NULL))
        drain_ready(DRAIN_PER_SAFEPOINT, false);
}

static void flush_batch(void)
{
    struct free_batch *b = cur_batch;
    if (!b)
        return;
    cur_batch = NULL;
    if (b->n == 0) {
        mi_free(b);
        return;
    }
    if (!registered) {
        free_batch_cb(&b->head);
        return;
    }
    tally_atomic_fetch_add_relaxed(&batches_queued, 1);
    urcu_qsbr_call_rcu(&b->head, free_batch_cb);
}

/* liburcu creates its call_rcu worker (a record and a thread) at the first call_rcu and dies
 * (urcu_die: abort) when it cannot; that first call_rcu may come at any time (a delayed free, a
 * grace-period chain of the deferred backend).  So tally_init creates it, where running out of
 * memory can be an error: first it checks that the record and the thread's stack fit (mapped,
 * then given back at once), then lets liburcu create them (a shortage in between is the only
 * window left).  Once created, the worker is never created again. */
static int callrcu_created;

int _tally_qsbr_init(void)
{
    if (tally_atomic_load_relaxed(&child_mode) || callrcu_created)
        return 0;   /* liburcu is not used in a fork child */
    size_t stack = (size_t)8 << 20;
    pthread_attr_t attr;
    if (pthread_attr_init(&attr) == 0) {   /* the default attributes liburcu's thread gets */
        (void)pthread_attr_getstacksize(&attr, &stack);
        pthread_attr_destroy(&attr);
    }
    size_t span = stack + ((size_t)64 << 10);   /* and a guard page */
    void *map = mmap(NULL, span, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    void *record = mi_malloc(4096);   /* the call_rcu_data record, generously */
    if (map != MAP_FAILED)
        munmap(map, span);
    mi_free(record);
    if (map == MAP_FAILED || !record) {
        _tally_set_error("tally_init: out of memory for liburcu's call_rcu worker");
        return -1;
    }
    (void)urcu_qsbr_get_default_call_rcu_data();
    callrcu_created = 1;
    return 0;
}

static void child_free_pending_locked(void)
{
    for (size_t i = 0; i < child_pending_n; i++)
        mi_free(child_pending[i]);
    child_pending_n = 0;
}

/* Called by the stop-the-world requester with every other thread parked. */
void _tally_qsbr_world_stopped(void)
{
    if (!tally_atomic_load_relaxed(&child_mode))
        return;
    pthread_mutex_lock(&child_pending_mu);
    child_free_pending_locked();
    pthread_mutex_unlock(&child_pending_mu);
}

/* Out of memory for the child's list: free p with every other thread parked at a safepoint,
 * where no lock-free reader can hold it (the stop also frees the list: _tally_qsbr_world_stopped).
 * Memory is released outside object locks (runtime/list.c, dict.c, object.c), so the stop cannot
 * wait on the caller's lock.  A caller that already stopped the world frees at once; a detached
 * one (it cannot stop the world) waits for memory and tries the list again.  False: try again. */
static bool child_free_stopped(void *p)
{
    tally_thread_state *self = _tally_tstate();
    if (!self || tally_atomic_load_relaxed(&self->state) != TALLY_TS_ATTACHED) {
        struct timespec nap = { 0, 1000000 };
        int c = _tally_nocancel_begin();
        nanosleep(&nap, NULL);
        _tally_nocancel_end(c);
        return false;
    }
    bool mine = _tally_stop_the_world(NULL) == 0;   /* else a nested request: stopped by us */
    mi_free(p);
    if (mine)
        _tally_start_the_world();
    return true;
}

static void child_free_delayed(void *p)
{
again:
    if (tally_atomic_load_relaxed(&nthreads) <= 1) {
        mi_free(p);   /* one thread: no concurrent reader */
        return;
    }
    pthread_mutex_lock(&child_pending_mu);
    if (child_pending_n == child_pending_cap) {
        size_t cap = child_pending_cap ? child_pending_cap * 2 : 1024;
        void **n = mi_realloc(child_pending, cap * sizeof *n);
        if (!n) {
            pthread_mutex_unlock(&child_pending_mu);
            if (!child_free_stopped(p))
                goto again;
            return;
        }
        child_pending = n;
        child_pending_cap = cap;
    }
    child_pending[child_pending_n++] = p;
    pthread_mutex_unlock(&child_pending_mu);
}

void _tally_qsbr_fini(void)
{
    flush_batch();
    _tally_qsbr_barrier();
}

void _tally_qsbr_thread_register(tally_thread_state *ts)
{
    (void)ts;
    if (!counted) {
        counted = 1;
        tally_atomic_fetch_add_relaxed(&nthreads, 1);
    }
    if (tally_atomic_load_relaxed(&child_mode))
        return;   /* liburcu is not used in a fork child */
    if (!registered) {
        urcu_qsbr_register_thread();   /* online from here on */
        registered = 1;
    }
}

void _tally_qsbr_thread_unregister(tally_thread_state *ts)
{
    (void)ts;
    flush_batch();
    if (registered) {
        TSAN_QUIESCENT();
        urcu_qsbr_unregister_thread();
        registered = 0;
    }
    if (counted) {
        counted = 0;
        tally_atomic_fetch_sub_relaxed(&nthreads, 1);
    }
}

void _tally_qsbr_online(void)
{
    if (registered)
        urcu_qsbr_thread_online();
}

void _tally_qsbr_offline(void)
{
    if (registered) {
        flush_batch();
        TSAN_QUIESCENT();
        urcu_qsbr_thread_offline();
    }
}

void _tally_qsbr_quiescent(void)
{
    if (registered) {
        TSAN_QUIESCENT();
        urcu_qsbr_quiescent_state();
        drain_some();
    }
}

/* Wait for a grace period here (not a cancellation point: internal.h's _tally_nocancel_begin). */
static void grace_period_wait(void)
{
    int c = _tally_nocancel_begin();
    urcu_qsbr_synchronize_rcu();
    TSAN_GRACE_PERIOD_OVER();
    _tally_nocancel_end(c);
}

void _tally_free_delayed(void *p)
{
    if (!p)
        return;
    if (tally_unlikely(tally_atomic_load_relaxed(&child_mode))) {
        child_free_delayed(p);
        return;
    }
    if (tally_unlikely(!registered)) {
        /* An unregistered thread (shutdown, a thread exit) frees memory that registered readers
         * may have seen: wait for a grace period first. */
        grace_period_wait();
        mi_free(p);
        return;
    }
    struct free_batch *b = cur_batch;
    if (!b) {
        b = mi_malloc(sizeof *b);
        if (!b) {
            /* Out of memory for the batch: wait for a grace period and free now. */
            grace_period_wait();
            mi_free(p);
            return;
        }
        b->n = 0;
        cur_batch = b;
    }
    b->ptrs[b->n++] = p;
    if (b->n == FREE_BATCH)
        flush_batch();
}

/* Caller offline or unregistered: a grace period, then wait (100 us naps; at most max_naps of
 * them, 0: no bound) until the call_rcu callbacks of the first `target` batches have run (one
 * worker, FIFO), then free the ready list they were linked on. */
static void wait_callbacks(uint64_t target, unsigned max_naps)
{
    int c = _tally_nocancel_begin();
    urcu_qsbr_synchronize_rcu();
    for (unsigned i = 0; max_naps == 0 || i < max_naps; i++) {
        if (tally_atomic_load_acquire(&batches_done) >= target)
            break;
        struct timespec nap = { 0, 100000 };
        nanosleep(&nap, NULL);
    }
    _tally_nocancel_end(c);
    drain_ready(SIZE_MAX, true);   /* the callbacks only linked their batches */
}

void _tally_qsbr_barrier(void)
{
    flush_batch();
    if (tally_atomic_load_relaxed(&child_mode)) {
        if (tally_atomic_load_relaxed(&nthreads) <= 1) {
            pthread_mutex_lock(&child_pending_mu);
            child_free_pending_locked();
            pthread_mutex_unlock(&child_pending_mu);
        }
        return;
    }
    /* Not urcu_qsbr_barrier(): it hands a record it allocates to the worker to free, which
     * ThreadSanitizer reports as a race once its history of the record is gone (the suppression
     * needs a stack it can restore).  Instead: a grace period, then wait until the worker has run
     * the callback of every batch queued so far (exact once no thread queues any more, as at
     * tally_fini), then free the ready list.  This thread must not hold the grace period back. */
    if (registered) {
        TSAN_QUIESCENT();
        urcu_qsbr_thread_offline();
    }
    wait_callbacks(tally_atomic_load_relaxed(&batches_queued), 0);
    if (registered)
        urcu_qsbr_thread_online();
}

/* Free every block whose delayed free was queued before the call (this thread's batch included),
 * as _tally_qsbr_barrier does, but for at most 200 ms of waiting for the worker (the caller only
 * wants memory back, nothing depends on it for safety), and leaving a detached caller offline. */
void _tally_qsbr_wait_delayed_frees(void)
{
    if (tally_atomic_load_relaxed(&child_mode)) {
        _tally_qsbr_barrier();
        return;
    }
    flush_batch();
    uint64_t target = tally_atomic_load_relaxed(&batches_queued);
    bool was_online = registered && urcu_qsbr_read_ongoing();
    if (was_online) {
        TSAN_QUIESCENT();
        urcu_qsbr_thread_offline();
    }
    wait_callbacks(target, 2000);
    if (was_online)
        urcu_qsbr_thread_online();
}

bool _tally_qsbr_in_fork_child(void)
{
    return tally_atomic_load_relaxed(&child_mode) != 0;
}

/* The forking thread goes offline while liburcu pauses its call_rcu workers (a worker may be
 * waiting for a grace period that needs this thread's quiescent state). */
void _tally_qsbr_fork_prepare(void)
{
    _tally_qsbr_offline();
    urcu_qsbr_call_rcu_before_fork();
}

void _tally_qsbr_fork_parent(void)
{
    urcu_qsbr_call_rcu_after_fork_parent();
    _tally_qsbr_online();
}

void _tally_qsbr_fork_child(void)
{
    /* Not urcu_qsbr_call_rcu_after_fork_child(): liburcu is never used again in the child, and
     * its worker would only wait for the parent's threads.  Batches queued before the fork are
     * the parent's to free. */
    tally_atomic_store_relaxed(&child_mode, 1);
    tally_atomic_store_relaxed(&nthreads, (size_t)counted);   /* the forking thread only */
    registered = 0;
    cur_batch = NULL;
    pthread_mutex_init(&child_pending_mu, NULL);
    /* Ready batches are past their grace period: the child may free its copies (the parent
     * frees its own); the lock may have been held by a thread that is gone. */
    pthread_mutex_init(&ready.mu, NULL);
}

#else /* gil, racy: no lock-free readers */

int _tally_qsbr_init(void) { return 0; }
void _tally_qsbr_fini(void) {}
/* the thread calls are empty inlines in runtime/internal.h */
void _tally_free_delayed(void *p) { mi_free(p); }
void _tally_qsbr_world_stopped(void) {}
void _tally_qsbr_barrier(void) {}
void _tally_qsbr_wait_delayed_frees(void) {}
bool _tally_qsbr_in_fork_child(void) { return false; }
void _tally_qsbr_fork_prepare(void) {}
void _tally_qsbr_fork_parent(void) {}
void _tally_qsbr_fork_child(void) {}

#endif
