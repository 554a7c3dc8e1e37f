/* sync/gil.c - the global interpreter lock of the `gil` backend, after CPython 3.2+'s
 * Python/ceval_gil.c.
 *
 * Owns: taking and dropping the GIL, the switch interval, drop requests and forced switching,
 * and the hand-over statistics (tally_gil_get_stats).
 *
 * Design (CPython's "new GIL", Antoine Pitrou 2009):
 *  - `locked` is guarded by `mu`; waiters sleep on `cond` with a timeout of one switch interval
 *    (default 5 ms).  A waiter whose wait timed out while no switch happened (switch_number
 *    unchanged) sets TALLY_BREAK_GIL_DROP in the holder's breaker; the holder honours it at its
 *    next safepoint by dropping and re-taking the GIL.
 *  - Forced switching: a holder that drops because it was asked to waits on `switch_cond` until
 *    another thread has taken the GIL, so it cannot take it straight back (on a multi-core machine
 *    the releasing thread would otherwise usually win the race).
 * Memory ordering: every object access by Tally threads happens while holding the GIL; the
 * unlock of `mu` in drop and the lock of `mu` in take order them (release/acquire).  `holder`
 * and the breaker bits are atomics because they are also read outside `mu`.
 */
#include "runtime/internal.h"

#include <errno.h>
#include <string.h>
#include <time.h>

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cond;           /* GIL released */
    pthread_mutex_t switch_mu;
    pthread_cond_t switch_cond;    /* GIL taken (forced switching) */
    int locked;                    /* under mu */
    tally_thread_state *holder;    /* current (or last) holder; atomic */
    uint64_t switch_number;        /* under mu: hand-overs to a different thread */
    unsigned interval_us;          /* atomic */
    tally_gil_stats stats;         /* under mu */
} gil = {
    PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, PTHREAD_MUTEX_INITIALIZER,
    PTHREAD_COND_INITIALIZER, 0, NULL, 0, 5000, { 0, 0, 0, 0, 0, 0 },
};

static pthread_condattr_t monotonic_attr;

static void init_conds(void)
{
    pthread_condattr_init(&monotonic_attr);
    pthread_condattr_setclock(&monotonic_attr, CLOCK_MONOTONIC);
    pthread_cond_init(&gil.cond, &monotonic_attr);
    pthread_cond_init(&gil.switch_cond, NULL);
}

void _tally_gil_init(unsigned interval_us)
{
    pthread_mutex_init(&gil.mu, NULL);
    pthread_mutex_init(&gil.switch_mu, NULL);
    init_conds();
    gil.locked = 0;
    tally_atomic_store_relaxed(&gil.holder, NULL);
    gil.switch_number = 0;
    tally_atomic_store_relaxed(&gil.interval_us, interval_us ? interval_us : 5000u);
    memset(&gil.stats, 0, sizeof gil.stats);
}

void _tally_gil_take(tally_thread_state *ts)
{
    uint64_t t0 = _tally_now_ns();
    pthread_mutex_lock(&gil.mu);
    while (gil.locked) {
        uint64_t saved_switch = gil.switch_number;
        unsigned us = tally_atomic_load_relaxed(&gil.interval_us);
        struct timespec dl;
        clock_gettime(CLOCK_MONOTONIC, &dl);
        dl.tv_sec += us / 1000000u;
        dl.tv_nsec += (long)(us % 1000000u) * 1000;
        if (dl.tv_nsec >= 1000000000L) {
            dl.tv_sec++;
            dl.tv_nsec -= 1000000000L;
        }
        int r = pthread_cond_timedwait(&gil.cond, &gil.mu, &dl);
        if (r == ETIMEDOUT && gil.locked && gil.switch_number == saved_switch) {
            /* The holder had a whole interval: ask it to drop at its next safepoint.  It is
             * alive: it holds the GIL, and it cannot release it without taking mu. */
            tally_thread_state *h = tally_atomic_load_relaxed(&gil.holder);
            if (h)
                tally_atomic_fetch_or(&h->breaker, TALLY_BREAK_GIL_DROP);
            gil.stats.drop_requests++;
        }
    }
    gil.locked = 1;
    tally_thread_state *prev = tally_atomic_load_relaxed(&gil.holder);
    if (prev != ts) {
        tally_atomic_store_relaxed(&gil.holder, ts);
        gil.switch_number++;
        gil.stats.switches++;
    }
    gil.stats.acquisitions++;
    uint64_t waited = _tally_now_ns() - t0;
    gil.stats.wait_ns_total += waited;
    if (waited > gil.stats.wait_ns_max)
        gil.stats.wait_ns_max = waited;
    /* A drop request aimed at this thread's previous tenure is stale now. */
    tally_atomic_fetch_and(&ts->breaker, ~TALLY_BREAK_GIL_DROP);
    pthread_mutex_unlock(&gil.mu);

    /* Forced switching: wake a thread waiting for the hand-over to happen. */
    pthread_mutex_lock(&gil.switch_mu);
    pthread_cond_signal(&gil.switch_cond);
    pthread_mutex_unlock(&gil.switch_mu);
}

void _tally_gil_drop(tally_thread_state *ts, bool forced_switch)
{
    /* Take switch_mu before releasing, so a taker's signal cannot slip in between our release
     * and our wait (the signal needs switch_mu). */
    if (forced_switch)
        pthread_mutex_lock(&gil.switch_mu);
    pthread_mutex_lock(&gil.mu);
    gil.locked = 0;
    pthread_cond_signal(&gil.cond);
    if (forced_switch)
        gil.stats.forced_switches++;
    pthread_mutex_unlock(&gil.mu);
    if (forced_switch) {
        /* Wait (once) until somebody else took the GIL; CPython waits the same way. */
        if (tally_atomic_load_relaxed(&gil.holder) == ts) {
            struct timespec dl;
            clock_gettime(CLOCK_REALTIME, &dl);
            dl.tv_nsec += 50 * 1000000L; /* bounded: a waiter may have given up meanwhile */
            if (dl.tv_nsec >= 1000000000L) {
                dl.tv_sec++;
                dl.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&gil.switch_cond, &gil.switch_mu, &dl);
        }
        pthread_mutex_unlock(&gil.switch_mu);
    }
}

void _tally_gil_fork_child(tally_thread_state *ts)
{
    /* The child has one thread: the forker.  It keeps the GIL if it held it. */
    int held = ts && tally_atomic_load_relaxed(&ts->state) == TALLY_TS_ATTACHED;
    pthread_mutex_init(&gil.mu, NULL);
    pthread_mutex_init(&gil.switch_mu, NULL);
    init_conds();
    gil.locked = held;
    tally_atomic_store_relaxed(&gil.holder, held ? ts : NULL);
}

int tally_gil_get_stats(tally_gil_stats *out)
{
    if (!out)
        return -1;
    pthread_mutex_lock(&gil.mu);
    *out = gil.stats;
    pthread_mutex_unlock(&gil.mu);
    return 0;
}

void tally_gil_reset_stats(void)
{
    pthread_mutex_lock(&gil.mu);
    memset(&gil.stats, 0, sizeof gil.stats);
    pthread_mutex_unlock(&gil.mu);
}

int tally_set_switch_interval(unsigned us)
{
    if (us == 0) {
        _tally_set_error("tally_set_switch_interval: 0 us is not accepted (1..10000000)");
        return -1;
    }
    tally_atomic_store_relaxed(&gil.interval_us, us);
    return 0;
}

unsigned tally_get_switch_interval(void)
{
    return tally_atomic_load_relaxed(&gil.interval_us);
}
