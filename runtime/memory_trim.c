/* runtime/memory_trim.c - giving memory back to the operating system after a large release.
 *
 * Owns: the trim that follows a full collection once the program has freed many more objects than
 * it still holds (issue 13: RSS after freeing 50M small objects must fall back near its level
 * before they were allocated).  mimalloc keeps the pages of freed blocks committed in the heap of
 * the thread that allocated them: blocks freed by another thread (a QSBR delayed free, or a block
 * of another thread's heap) wait on their page's cross-thread list until the owner collects, and
 * an empty page is decommitted only when its heap is collected.  Nothing of that happens while a
 * program that freed 2 GB sits idle, so its RSS stayed at 60x its starting level (atomic).
 *
 * What a trim does, after a full collection has ended (world running, `collecting` clear):
 *  1. the collecting thread, detached, waits for every pending QSBR delayed free
 *     (_tally_qsbr_wait_delayed_frees): their blocks are back on their pages afterwards;
 *  2. it asks every other attached thread for a trim of its own (TALLY_BREAK_TRIM, honoured at
 *     its next safepoint: _tally_memory_trim_self), since only a heap's owner may collect it;
 *  3. it trims itself: drops its deallocation stack if it grew past its initial size, and
 *     collects its mimalloc heap with force (mi_collect(true): empty pages are freed, abandoned
 *     segments of exited threads reclaimed and released);
 *  4. every thread that trimmed collects its heap again 5, 10 ... 640 ms later (arm, below): the
 *     blocks of the release that reach a heap after its owner collected it.
 * When: a full collection trims if the objects freed since the last trim are at least
 * tally_options.gc_trim_min (default 4M, about 200 MB of small objects) and at least twice the
 * objects still alive, so a program whose heap is steady (or that frees a
 * little at a time) never pays for it: the collector benchmark's 1M live lists do not trim, its
 * reclaim rows (1M objects freed per collection) trim about one collection in four.
 * Ordering: the counts are relaxed sums (an estimate is enough to decide); the breaker bit is an
 * atomic OR read at the owner's safepoint like every other request; the wait for delayed frees
 * is sync/qsbr.c's (a grace period, then its batch counters).
 */
#include "runtime/internal.h"

#include <mimalloc.h>

/* Objects freed (all threads) when the last trim was decided.  Relaxed atomic: a collecting thread
 * and a thread checking after its merges can decide at once; the one whose CAS from the value it
 * read succeeds trims, the other returns.  (An estimate steers a heuristic: no ordering needed.) */
static uint64_t freed_at_last_trim;

#define TRIM_AGAIN 65536u  /* objects a thread's own trim freed that make the others trim again */

/* Every other thread, attached or not: one just restarted by the collection may not have
 * re-attached yet, and a detached one trims at its first safepoint back. */
static void request_others(tally_thread_state *self)
{
    _tally_registry_lock();
    _TALLY_FOREACH_THREAD(ts) {
        if (ts != self)
            tally_atomic_fetch_or(&ts->breaker, TALLY_BREAK_TRIM);
    }
    _tally_registry_unlock();
}

/* Wait, detached (no stop of the world waits for it), until every QSBR delayed free queued so far
 * (this thread's batch included) is done: their blocks are then back on their pages. */
static void delayed_frees_done(void)
{
    int c = _tally_nocancel_begin();
    tally_thread_state *saved = _tally_allow_threads_begin();
    _tally_qsbr_wait_delayed_frees();
    _tally_allow_threads_end(saved);
    _tally_nocancel_end(c);
}

/* Collect this thread's mimalloc heap with force, its decommit delay at 0 for the length of
 * the collect.  mimalloc 2.0 decommits the spans an empty page leaves only when that delay has
 * passed and the segment is touched again, so one forced collect left 30 MB of 580 resident
 * until some later allocation.  Another thread's allocations meanwhile decommit at once too,
 * which costs only time; the option is a plain word of mimalloc's that it reads afresh on each
 * use.  The option is one word for the process, so trims are serialised: two threads trimming
 * at once (the decider and a thread answering its request) each saved what the other had set,
 * one collect ran with the delay already restored (20-30 MB of deferred's 2-thread release
 * stayed resident) and the delay was left at 0 for good. */
static pthread_mutex_t collect_mu = PTHREAD_MUTEX_INITIALIZER;

static void collect_heap(void)
{
    if (pthread_mutex_trylock(&collect_mu) != 0) {
        /* Wait detached: a stop-the-world must not wait for the other thread's collect. */
        int c = _tally_nocancel_begin();
        tally_thread_state *saved = _tally_allow_threads_begin();
        pthread_mutex_lock(&collect_mu);
        _tally_allow_threads_end(saved);
        _tally_nocancel_end(c);
    }
    long delay = mi_option_get(mi_option_decommit_delay);
    mi_option_set(mi_option_decommit_delay, 0);
    mi_collect(true);
    mi_option_set(mi_option_decommit_delay, delay);
    pthread_mutex_unlock(&collect_mu);
}

/* The release a trim follows may still be dying when the trim runs: biased owners free what
 * they find in their merge queues, deferred's deaths arrive over epochs, and the blocks of SHARED
 * objects come back through QSBR delayed frees that the mutators drain at their safepoints, often
 * into another thread's heap.  Whatever lands on a page after its owner collected stays resident
 * (2 threads, 5M objects: 20-45 MB of 290 in one run of two, on every free-threaded backend).  So
 * a thread that trimmed stays armed: it keeps TALLY_BREAK_TRIM set and collects its heap again
 * at its safepoints 5, 10, 20 ... 640 ms later (8 more collects, bounded; each of a heap that is
 * mostly empty by then), while the safepoints in between cost a decrement, and a clock read at
 * one in 256. */
#define RETRIM_FIRST_MS 5u
#define RETRIM_LAST_MS 640u
static uint32_t trim_gen;   /* trims decided so far (relaxed atomic): a new one restarts the arming */

static void arm(tally_thread_state *ts, uint32_t backoff_ms)
{
    ts->trim_backoff_ms = backoff_ms;
    ts->trim_next_ns = _tally_now_ns() + (uint64_t)backoff_ms * 1000000u;
    tally_atomic_fetch_or(&ts->breaker, TALLY_BREAK_TRIM);
}

/* The owner's part: only the thread that owns a mimalloc heap may collect it. */
void _tally_memory_trim_self(tally_thread_state *ts)
{
    tally_atomic_fetch_and(&ts->breaker, ~TALLY_BREAK_TRIM);
    ts->trim_gen_seen = tally_atomic_load_relaxed(&trim_gen);
    /* deferred: deaths that reach this thread's steps only now.  Blocks it frees may belong to
     * heaps whose owners trimmed already: if it freed many, ask them again (this converges: a
     * second round frees far less). */
    uint64_t f0 = tally_atomic_load_relaxed(&ts->freed);
    _tally_rc_flush();
    uint64_t freed_now = tally_atomic_load_relaxed(&ts->freed) - f0;
    if (freed_now > 0)
        delayed_frees_done();
    if (freed_now >= TRIM_AGAIN)
        request_others(ts);
    if (ts->trash_len == 0 && ts->trash_cap > 256) {
        mi_free(ts->trash);
        ts->trash = NULL;
        ts->trash_cap = 0;
    }
    collect_heap();
    arm(ts, RETRIM_FIRST_MS);
}

void _tally_memory_trim_handle(tally_thread_state *ts)
{
    if (ts->trim_next_ns == 0 || ts->trim_gen_seen != tally_atomic_load_relaxed(&trim_gen)) {
        _tally_memory_trim_self(ts);   /* a request from the thread that decided a trim */
        return;
    }
    /* Armed, the bit stays set, so every safepoint and allocation comes here: read the clock at
     * one in 256 of them (a clock read at each cost a churning program 5% of its CPU). */
    if (ts->trim_polls > 0) {
        ts->trim_polls--;
        return;
    }
    ts->trim_polls = 255;
    uint64_t now = _tally_now_ns();
    if (now < ts->trim_next_ns)
        return;
    tally_atomic_fetch_and(&ts->breaker, ~TALLY_BREAK_TRIM);
    uint32_t next = ts->trim_backoff_ms * 2;
    ts->trim_next_ns = 0;
    collect_heap();
    if (next <= RETRIM_LAST_MS)
        arm(ts, next);
}

/* After a full collection, on the collecting thread, or at a safepoint of a thread that has just
 * freed many objects (attached, world running, no collection of its own in progress). */
void _tally_memory_trim_after_full(tally_thread_state *self)
{
    TALLY_ASSERT(self != NULL && !_tally_world_is_stopped());
    self->trim_seen_freed = tally_atomic_load_relaxed(&self->freed);
    tally_alloc_stats st;   /* relaxed sums over the threads: an estimate is enough */
    tally_get_alloc_stats(&st);
    uint64_t min = tally_gc_get_trim_min();
    uint64_t last = tally_atomic_load_relaxed(&freed_at_last_trim);
    if (min == 0 || st.freed < last || st.freed - last < min / 4)
        return;   /* the common case: a steady heap, nothing large was released */
    /* First the deaths the backend still holds, which the counts do not show yet (biased: the
     * other owners' queued objects; deferred: a release that reached other threads' objects dies
     * over the next epochs).  Flush while a round still frees something, at most 8 rounds. */
    for (int round = 0; round < 8; round++) {
        uint64_t f0 = st.freed;
        _tally_rc_flush();
        tally_get_alloc_stats(&st);
        if (st.freed == f0)
            break;
    }
    uint64_t since = st.freed > last ? st.freed - last : 0;
    if (since < min || since < 2 * st.live)
        return;
    if (!tally_atomic_cas_relaxed(&freed_at_last_trim, &last, st.freed))
        return;   /* another thread decided a trim since we read `last` */
    tally_atomic_fetch_add_relaxed(&trim_gen, 1u);
    delayed_frees_done();
    request_others(self);
    _tally_memory_trim_self(self);
}

/* The option lives in the runtime's options (set at tally_init, reported by tally_get_options);
 * a relaxed word: a trim decided on the old value is harmless. */
void tally_gc_set_trim_min(unsigned n)
{
    tally_atomic_store_relaxed(&_tally_runtime.opt.gc_trim_min, n);
}

unsigned tally_gc_get_trim_min(void)
{
    return tally_atomic_load_relaxed(&_tally_runtime.opt.gc_trim_min);
}

/* A check every quarter of the trim's minimum freed by this thread (1M objects by default). */
void _tally_memory_trim_check(tally_thread_state *ts)
{
    uint64_t f = tally_atomic_load_relaxed(&ts->freed), every = tally_gc_get_trim_min() / 4;
    if (tally_likely(every == 0 || f - ts->trim_seen_freed < every) || ts->gc_clearing ||
        _tally_gc_is_collecting(ts))
        return;
    _tally_memory_trim_after_full(ts);
}
