/* sync/stw.c - stop-the-world: park every other attached thread at a safepoint.
 *
 * Owns: the thread-state transitions ATTACHED <-> DETACHED <-> SUSPENDED and the stop/restart
 * protocol (after CPython's Python/pystate.c, simplified: every transition happens under one
 * mutex, so attach/detach cost a lock but the protocol has no lost wake-ups to argue about).
 *
 * Protocol:
 *  - stop: the requester (attached) takes `owner` (one stop at a time; while it waits for it, it
 *    still honours stop requests from the current owner), then the registry lock (the thread
 *    list cannot change until restart), then `mu`: every DETACHED thread becomes SUSPENDED at
 *    once (it cannot attach until restart; the collector never waits for it), every ATTACHED
 *    thread gets TALLY_BREAK_STOP and is counted.  It waits on `parked` until the count is 0.
 *  - an attached thread that sees TALLY_BREAK_STOP at a safepoint, or that detaches while it is
 *    set, becomes SUSPENDED under `mu`, decrements the count and signals.  A parked thread then
 *    waits on `restart` until its state is no longer SUSPENDED, and re-attaches.
 *  - restart: every SUSPENDED thread becomes DETACHED, `restart` is broadcast, locks released.
 * Memory ordering: all state changes and the count are under `mu`; the unlock/lock pairs give the
 * happens-before edges (a parked thread's writes before the collector's reads, the collector's
 * writes before a resumed thread's reads).  TALLY_BREAK_STOP is only a hint read relaxed at
 * safepoints; the authoritative state is read under `mu`.
 * Spinning before sleeping: a stop costs the requester one wait for the last thread to park and
 * each parked thread one wait for the restart.  On a condition variable each is a futex sleep and
 * wake-up, tens of microseconds on the 2-core VM, paid by every young collection of a two-thread
 * program (the cycles workload on atomic ran 5.5-5.6M ops/s with them, 6.0-6.2M without; the
 * longer young collections of two threads come from elsewhere: docs/collector.md, "Under
 * concurrent mutators").  So both sides first poll
 * the word they wait for (countdown, their own state) for up to STW_SPIN_NS, with the mutex
 * released, and sleep on the condition variable only if it has not changed by then.  The polled
 * words are relaxed atomics, written under `mu` as before; a poller that sees the change takes
 * `mu` before going on, which gives it the writer's happens-before edge as the condition wait
 * did.  The wake-ups (signal, broadcast) are made as before, so a sleeper is never missed.
 * QSBR: parked threads and a requester waiting for them are offline, so no grace period (and no
 * thread waiting for one) can wait for a stopped world.
 * gil: the collector holds the GIL, so no other thread runs Tally code; a stop only takes the
 * registry lock (the thread list stays stable) and measures nothing.
 */
#include "runtime/internal.h"

#include <sched.h>
#include <time.h>

#define STW_SPIN_NS 50000   /* how long a waiter polls before it sleeps */

/* Poll *word (a relaxed atomic) until (*word == value) is `want_equal`, or STW_SPIN_NS have
 * passed; true when it got there.  Called with `mu` released. */
static bool stw_poll(const int *word, int value, bool want_equal)
{
    uint64_t t0 = 0;
    for (unsigned i = 0;; i++) {
        if ((tally_atomic_load_relaxed(word) == value) == want_equal)
            return true;
        _tally_cpu_relax();
        if ((i & 63) == 63) {
            uint64_t now = _tally_now_ns();
            if (!t0)
                t0 = now;
            else if (now - t0 > STW_SPIN_NS)
                return false;
        }
    }
}

static struct {
    pthread_mutex_t owner;      /* held by the thread that stopped the world */
    pthread_mutex_t mu;         /* guards every ts->state transition and `countdown` */
    pthread_cond_t parked;      /* signalled when countdown reaches 0 */
    pthread_cond_t restart;     /* broadcast when the world restarts */
    int countdown;              /* attached threads not yet parked */
    int stopped;                /* every other attached thread parked (under mu; _tally_world_is_stopped) */
    tally_thread_state *requester;
} stw = {
    PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER,
    PTHREAD_COND_INITIALIZER, 0, 0, NULL,
};

/* True only on the thread that stopped the world, from the moment every attached thread has
 * parked until its restart: `stopped` is set under `mu` after the countdown reached 0 and
 * cleared under `mu` before any parked thread resumes, and no other thread runs Tally code in
 * between.  (Set before the wait, as it once was, a thread still running towards its safepoint
 * read it as "stopped", and the biased queue merged an object as if its owner were parked while
 * the owner could still write its local count: ThreadSanitizer reported the free racing with
 * the owner's accesses in stress_graph_biased, about one run in 30.) */
bool _tally_world_is_stopped(void)
{
    return tally_atomic_load_relaxed(&stw.stopped) != 0;
}

/* Take `m` while attached without blocking a stop-the-world in progress: park if asked. */
static void lock_parkable(pthread_mutex_t *m, tally_thread_state *self)
{
    unsigned spins = 0;
    while (pthread_mutex_trylock(m) != 0) {
        if (self && (tally_atomic_load_relaxed(&self->breaker) & TALLY_BREAK_STOP))
            _tally_stw_park(self);
        if (++spins < 16) {
            sched_yield();
        } else {
            struct timespec ts = { 0, 50000 };
            nanosleep(&ts, NULL);
        }
    }
}

void _tally_registry_lock(void)
{
    tally_thread_state *ts = _tally_tstate();
    lock_parkable(&_tally_runtime.registry_lock,
                  ts && tally_atomic_load_relaxed(&ts->state) == TALLY_TS_ATTACHED ? ts : NULL);
}

void _tally_registry_unlock(void)
{
    pthread_mutex_unlock(&_tally_runtime.registry_lock);
}

int _tally_stop_the_world(uint64_t *to_safepoint_ns)
{
    tally_thread_state *self = _tally_tstate();
    if (!self || tally_atomic_load_relaxed(&self->state) != TALLY_TS_ATTACHED) {
        _tally_set_error("stop-the-world requested by a thread that is not attached");
        return -1;
    }
    if (tally_atomic_load_relaxed(&stw.requester) == self) {  /* only self stores self */
        _tally_set_error("stop-the-world: nested request");
        return -1;
    }
    uint64_t t0 = _tally_now_ns();
    int cancel_state = _tally_nocancel_begin();
#if defined(TALLY_RC_GIL)
    /* The GIL already excludes every other thread from Tally code. */
    _tally_registry_lock();
    tally_atomic_store_relaxed(&stw.requester, self);
    tally_atomic_store_relaxed(&stw.stopped, 1);
#else
    lock_parkable(&stw.owner, self);
    _tally_registry_lock();
    pthread_mutex_lock(&stw.mu);
    tally_atomic_store_relaxed(&stw.requester, self);
    tally_atomic_store_relaxed(&stw.countdown, 0);
    _TALLY_FOREACH_THREAD(ts) {
        if (ts == self)
            continue;
        if (tally_atomic_load_relaxed(&ts->state) == TALLY_TS_DETACHED) {
            tally_atomic_store_relaxed(&ts->state, TALLY_TS_SUSPENDED);
        } else if (tally_atomic_load_relaxed(&ts->state) == TALLY_TS_ATTACHED) {
            tally_atomic_fetch_or(&ts->breaker, TALLY_BREAK_STOP);
            tally_atomic_store_relaxed(&stw.countdown, tally_atomic_load_relaxed(&stw.countdown) + 1);
        }
    }
    if (tally_atomic_load_relaxed(&stw.countdown) > 0) {
        /* Offline while waiting: a thread that is inside a grace-period wait (deferred
         * reconciliation, a delayed-free barrier) must be able to finish it and reach its
         * safepoint. */
        _tally_qsbr_offline();
        if (tally_atomic_load_relaxed(&stw.countdown) > 0) {
            /* Poll first (mu released: the parkers need it), then sleep. */
            pthread_mutex_unlock(&stw.mu);
            (void)stw_poll(&stw.countdown, 0, true);
            pthread_mutex_lock(&stw.mu);
        }
        while (tally_atomic_load_relaxed(&stw.countdown) > 0)
            pthread_cond_wait(&stw.parked, &stw.mu);
        tally_atomic_store_relaxed(&stw.stopped, 1);
        pthread_mutex_unlock(&stw.mu);
        _tally_qsbr_online();
    } else {
        tally_atomic_store_relaxed(&stw.stopped, 1);
        pthread_mutex_unlock(&stw.mu);
    }
#endif
    if (to_safepoint_ns)
        *to_safepoint_ns = _tally_now_ns() - t0;
    _tally_qsbr_world_stopped();   /* fork child: release delayed frees */
    _tally_nocancel_end(cancel_state);
    return 0;
}

void _tally_start_the_world(void)
{
#if defined(TALLY_RC_GIL)
    tally_atomic_store_relaxed(&stw.requester, NULL);
    tally_atomic_store_relaxed(&stw.stopped, 0);
    _tally_registry_unlock();
#else
    pthread_mutex_lock(&stw.mu);
    _TALLY_FOREACH_THREAD(ts) {
        if (tally_atomic_load_relaxed(&ts->state) == TALLY_TS_SUSPENDED)
            tally_atomic_store_relaxed(&ts->state, TALLY_TS_DETACHED);
    }
    tally_atomic_store_relaxed(&stw.requester, NULL);
    tally_atomic_store_relaxed(&stw.stopped, 0);
    pthread_cond_broadcast(&stw.restart);
    pthread_mutex_unlock(&stw.mu);
    _tally_registry_unlock();
    pthread_mutex_unlock(&stw.owner);
#endif
}

/* Under mu: an attached thread that was asked to stop becomes SUSPENDED and is counted. */
static void park_locked(tally_thread_state *ts)
{
    tally_atomic_fetch_and(&ts->breaker, ~TALLY_BREAK_STOP);
    tally_atomic_store_relaxed(&ts->state, TALLY_TS_SUSPENDED);
    int left = tally_atomic_load_relaxed(&stw.countdown) - 1;   /* under mu: no lost update */
    tally_atomic_store_relaxed(&stw.countdown, left);
    if (left == 0)
        pthread_cond_signal(&stw.parked);
}

void _tally_stw_park(tally_thread_state *ts)
{
    /* A parked thread is quiescent: offline in QSBR, so grace periods (delayed frees, deferred
     * epochs, liburcu's fork preparation) never wait for a stopped world. */
    int c = _tally_nocancel_begin();
    _tally_qsbr_offline();
    pthread_mutex_lock(&stw.mu);
    if (tally_atomic_load_relaxed(&ts->breaker) & TALLY_BREAK_STOP) {
        park_locked(ts);
        /* Poll for the restart first (mu released: the requester needs it), then sleep. */
        pthread_mutex_unlock(&stw.mu);
        (void)stw_poll(&ts->state, TALLY_TS_SUSPENDED, false);
        pthread_mutex_lock(&stw.mu);
        while (tally_atomic_load_relaxed(&ts->state) == TALLY_TS_SUSPENDED)
            pthread_cond_wait(&stw.restart, &stw.mu);
        tally_atomic_store_relaxed(&ts->state, TALLY_TS_ATTACHED);
    }
    pthread_mutex_unlock(&stw.mu);
    _tally_qsbr_online();
    _tally_nocancel_end(c);
}

void _tally_stw_attach(tally_thread_state *ts)
{
    int c = _tally_nocancel_begin();
    pthread_mutex_lock(&stw.mu);
    while (tally_atomic_load_relaxed(&ts->state) == TALLY_TS_SUSPENDED)
        pthread_cond_wait(&stw.restart, &stw.mu);
    tally_atomic_store_relaxed(&ts->state, TALLY_TS_ATTACHED);
    pthread_mutex_unlock(&stw.mu);
    _tally_nocancel_end(c);
}

void _tally_stw_detach(tally_thread_state *ts)
{
    pthread_mutex_lock(&stw.mu);
    if (tally_atomic_load_relaxed(&ts->breaker) & TALLY_BREAK_STOP)
        park_locked(ts);   /* counts as parked; stays SUSPENDED until restart */
    else
        tally_atomic_store_relaxed(&ts->state, TALLY_TS_DETACHED);
    pthread_mutex_unlock(&stw.mu);
}

void _tally_stw_fork_child(void)
{
    /* Only the forking thread exists in the child; the locks may have been held by threads that
     * are gone.  Re-create them. */
    pthread_mutex_init(&stw.owner, NULL);
    pthread_mutex_init(&stw.mu, NULL);
    pthread_cond_init(&stw.parked, NULL);
    pthread_cond_init(&stw.restart, NULL);
    tally_atomic_store_relaxed(&stw.countdown, 0);
    stw.stopped = 0;
    stw.requester = NULL;
}
