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
 *     segments of exited threads reclaimed and released).
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

/* The owner's part: only the thread that owns a mimalloc heap may collect it. */
void _tally_memory_trim_self(tally_thread_state *ts)
{
    tally_atomic_fetch_and(&ts->breaker, ~TALLY_BREAK_TRIM);
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
    /* mimalloc 2.0 decommits the spans an empty page leaves only when its decommit delay has
     * passed and the segment is touched again, so one forced collect left 30 MB of 580 resident
     * until some later allocation.  The delay is made 0 for the length of this collect: another
     * thread's allocations meanwhile decommit at once too, which costs only time; the option is a
     * plain word of mimalloc's that it reads afresh on each use. */
    long delay = mi_option_get(mi_option_decommit_delay);
    mi_option_set(mi_option_decommit_delay, 0);
    mi_collect(true);
    mi_option_set(mi_option_decommit_delay, delay);
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
