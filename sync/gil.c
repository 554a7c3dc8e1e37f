/* sync/gil.c - the global interpreter lock of the `gil` backend, after CPython 3.2+'s
 * Python/ceval_gil.c, with an optional fair mode (FIFO hand-off with priority for threads that
 * come back from a blocking call; bpo-7946).
 *
 * Owns: taking and dropping the GIL in both modes, the switch interval, drop requests and
 * forced switching, the fair mode's waiter queue, and the hand-over statistics
 * (tally_gil_get_stats, tally_gil_waiters).
 *
 * Default mode (CPython's "new GIL", Antoine Pitrou 2009):
 *  - `locked` is guarded by `mu`; waiters sleep on `cond` with a timeout of one switch interval
 *    (default 5 ms).  A waiter whose wait timed out while no switch happened (switch_number
 *    unchanged) sets TALLY_BREAK_GIL_DROP in the holder's breaker; the holder honours it at its
 *    next safepoint by dropping and re-taking the GIL.
 *  - Forced switching: a holder that drops because it was asked to waits on `switch_cond` until
 *    another thread has taken the GIL, so it cannot take it straight back (on a multi-core machine
 *    the releasing thread would otherwise usually win the race).
 *  - Waiters race for `cond`: a thread that wakes from I/O waits up to a whole interval behind a
 *    CPU-bound holder (the convoy effect, Beazley 2010).
 *
 * Fair mode (tally_options.gil_fair, TALLY_GIL_FAIR=1): the two remedies discussed on bpo-7946,
 * together.
 *  - FIFO hand-off: a thread that finds the GIL held takes a ticket and joins `queue` (in ticket
 *    order).  Dropping never just unlocks while somebody waits: the dropper picks the next waiter
 *    and makes it the holder under `mu` (`locked` stays 1), so nobody can barge in between and
 *    the dropper cannot take the lock straight back (forced switching comes for free).
 *  - Priority requests: a take that follows a voluntary release (TALLY_END_ALLOW_THREADS, a
 *    thread's attach) is a *priority* request; a take that follows a drop the holder was asked
 *    for (a CPU-bound thread at a safepoint) is a *normal* one.  A priority waiter asks the
 *    holder to drop once the holder has had a short slice (interval / TALLY_GIL_FAIR_SHORT_DIV,
 *    500 us by default); a normal waiter only once the holder has had a whole interval, so
 *    hand-offs between CPU-bound threads stay at the switch interval, and the short slice
 *    bounds how often a thread that blocks very often can cut a CPU-bound holder short.
 *  - Choice of the next holder: the oldest (lowest ticket) waiter that is priority or has waited
 *    at least one interval ("aged"); if none, the oldest waiter.
 *  - Polling (more than one CPU): a waiter that expects the GIL soon (a priority waiter that has
 *    asked the holder to drop, or any waiter behind a priority holder) polls its `granted` flag
 *    for up to 100 us (pausing, then yielding the CPU between polls) before it sleeps, once per
 *    take.  In the convoy pattern neither side then sleeps on a futex: the
 *    CPU-bound thread keeps its core while the I/O thread runs its few microseconds.
 *  Invariants (under `mu`):
 *    F1 locked == 0 implies the queue is empty (a drop with waiters hands over instead);
 *    F2 a queued waiter has granted == 0; granted == 1 means it was unlinked and is the holder;
 *    F3 the queue is in strictly increasing ticket order (tickets are taken under `mu`);
 *    F4 `tenure` counts hand-overs and takes; `requested` is the tenure a drop request was made
 *       for, so each tenure gets at most one request and a stale bit is cleared at hand-over.
 *  No starvation: a waiter W is aged one interval after it queued; from then on only waiters
 *  with a lower ticket (queued before W: finitely many) can be chosen before it, and every
 *  holder is asked to drop at most one interval after its tenure began (by W itself, a normal
 *  request), so W gets the GIL provided holders pass safepoints - the assumption CPython makes.
 *  No lost wakeup: the grant (granted = 1) is written under `mu` and followed by a broadcast of
 *  `fair_cond` while `mu` is still held; a waiter tests `granted` under `mu` before every wait,
 *  so it either sees the flag or is already waiting when the broadcast comes.
 *
 * Memory ordering (both modes): every object access by Tally threads happens while holding the
 * GIL.  The unlock of `mu` in drop (after the release or hand-over) and the lock of `mu` in take
 * (when the taker sees locked == 0 or granted == 1) order them (release/acquire), so the previous
 * holder's writes happen-before the next holder's reads.  `holder`, `interval_us` and the breaker
 * bits are atomics because they are also read outside `mu` (relaxed: they are hints; the hand-off
 * itself goes through `mu`).
 */
#include "runtime/internal.h"

#if defined(TALLY_RC_GIL)   /* compiled into every library; empty unless the backend has a GIL */

#include <errno.h>
#include <sched.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* A priority waiter asks the holder to drop once it has held the GIL interval / 10. */
#define TALLY_GIL_FAIR_SHORT_DIV 10u
/* Fair mode, more than one CPU: how long a waiter polls before it sleeps on fair_cond, when the
 * GIL should come soon (a priority waiter asked the holder to drop, or the holder is a priority
 * holder, which typically runs briefly between two blocking calls).  A hand-over then costs no
 * futex sleep and wake-up on either side, so the CPU-bound thread keeps its core.  The poll pauses
 * TALLY_GIL_FAIR_SPIN_PAUSES times, then yields the CPU between polls: on a busy machine the
 * holder may be queued on the poller's own CPU, and a pure spin would keep it off for the whole
 * bound (measured: wake-to-run p50 108 us with a pure 100 us spin against 3.9 us with the
 * yielding poll, convoy, 2 threads, shared 2-core VM). */
#define TALLY_GIL_FAIR_SPIN_NS 100000u
#define TALLY_GIL_FAIR_SPIN_PAUSES 32u

#ifdef TALLY_DEBUG
#  define GIL_ASSERT(cond, what) \
      do { if (!(cond)) _tally_fatal("gil: broken invariant: %s (%s)", #cond, what); } while (0)
#else
#  define GIL_ASSERT(cond, what) ((void)0)
#endif

/* A thread waiting in fair mode; lives on the waiter's stack while it is queued. */
typedef struct gil_waiter {
    struct gil_waiter *next;       /* under mu */
    tally_thread_state *ts;
    uint64_t ticket;               /* arrival order (F3) */
    uint64_t queued_ns;            /* when it queued: aged one interval later */
    int priority;                  /* a take after a voluntary release */
    int granted;                   /* written under mu by the dropper that handed the GIL over
                                    * (F2), store-release; read under mu, or by the spinning
                                    * waiter with load-acquire (it then takes mu anyway) */
} gil_waiter;

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cond;           /* default mode: GIL released */
    pthread_mutex_t switch_mu;
    pthread_cond_t switch_cond;    /* default mode: GIL taken (forced switching) */
    int locked;                    /* under mu */
    tally_thread_state *holder;    /* current (or last) holder; atomic */
    uint64_t switch_number;        /* under mu: hand-overs to a different thread */
    unsigned interval_us;          /* atomic */
    tally_gil_stats stats;         /* under mu */
    unsigned waiting;              /* under mu: threads inside take waiting for the GIL */
    /* fair mode (all under mu; `fair` is fixed between init and fini) */
    int fair;
    int spin;                      /* fair: spin before sleeping (more than one CPU online) */
    int holder_priority;           /* fair, under mu: the current tenure began with a priority take */
    pthread_cond_t fair_cond;      /* broadcast at every hand-over */
    gil_waiter *head, *tail;       /* the queue, ticket order */
    uint64_t next_ticket;
    uint64_t tenure;               /* F4 */
    uint64_t requested;            /* the tenure a drop request was made for (F4) */
    uint64_t taken_ns;             /* when the current tenure began */
} gil = {
    PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, PTHREAD_MUTEX_INITIALIZER,
    PTHREAD_COND_INITIALIZER, 0, NULL, 0, 5000, { 0, 0, 0, 0, 0, 0 }, 0,
    0, 0, 0, PTHREAD_COND_INITIALIZER, NULL, NULL, 0, 0, 0, 0,
};

static pthread_condattr_t monotonic_attr;

static void init_conds(void)
{
    pthread_condattr_init(&monotonic_attr);
    pthread_condattr_setclock(&monotonic_attr, CLOCK_MONOTONIC);
    pthread_cond_init(&gil.cond, &monotonic_attr);
    pthread_cond_init(&gil.fair_cond, &monotonic_attr);
    pthread_cond_init(&gil.switch_cond, NULL);
}

static void reset_fair_queue(void)
{
    gil.head = gil.tail = NULL;
    gil.next_ticket = 0;
    gil.tenure = 0;
    gil.requested = UINT64_MAX;
    gil.taken_ns = _tally_now_ns();
}

void _tally_gil_init(unsigned interval_us, bool fair)
{
    pthread_mutex_init(&gil.mu, NULL);
    pthread_mutex_init(&gil.switch_mu, NULL);
    init_conds();
    gil.locked = 0;
    tally_atomic_store_relaxed(&gil.holder, NULL);
    gil.switch_number = 0;
    tally_atomic_store_relaxed(&gil.interval_us, interval_us ? interval_us : 5000u);
    memset(&gil.stats, 0, sizeof gil.stats);
    gil.waiting = 0;
    gil.fair = fair;
    gil.spin = sysconf(_SC_NPROCESSORS_ONLN) > 1;
    gil.holder_priority = 0;
    reset_fair_queue();
}

static struct timespec deadline_after_ns(uint64_t ns)
{
    struct timespec dl;
    clock_gettime(CLOCK_MONOTONIC, &dl);
    dl.tv_sec += (time_t)(ns / 1000000000u);
    dl.tv_nsec += (long)(ns % 1000000000u);
    if (dl.tv_nsec >= 1000000000L) {
        dl.tv_sec++;
        dl.tv_nsec -= 1000000000L;
    }
    return dl;
}

static void account_wait(uint64_t t0)
{
    uint64_t waited = _tally_now_ns() - t0;
    gil.stats.wait_ns_total += waited;
    if (waited > gil.stats.wait_ns_max)
        gil.stats.wait_ns_max = waited;
}

/* Under mu: ts becomes the holder (a new tenure). */
static void become_holder(tally_thread_state *ts, uint64_t now)
{
    gil.locked = 1;
    tally_thread_state *prev = tally_atomic_load_relaxed(&gil.holder);
    if (prev != ts) {
        tally_atomic_store_relaxed(&gil.holder, ts);
        gil.switch_number++;
        gil.stats.switches++;
    }
    gil.stats.acquisitions++;
    gil.tenure++;
    gil.taken_ns = now;
    /* A drop request aimed at this thread's previous tenure is stale now.  In fair mode this
     * runs in the dropper for a granted waiter: that thread runs no Tally code until it wakes. */
    tally_atomic_fetch_and(&ts->breaker, ~TALLY_BREAK_GIL_DROP);
}

/* ---- default mode ------------------------------------------------------------------------ */
static void take_default(tally_thread_state *ts)
{
    uint64_t t0 = _tally_now_ns();
    pthread_mutex_lock(&gil.mu);
    bool counted = false;
    while (gil.locked) {
        if (!counted) {
            gil.waiting++;
            counted = true;
        }
        uint64_t saved_switch = gil.switch_number;
        unsigned us = tally_atomic_load_relaxed(&gil.interval_us);
        struct timespec dl = deadline_after_ns((uint64_t)us * 1000u);
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
    if (counted)
        gil.waiting--;
    become_holder(ts, t0);
    account_wait(t0);
    pthread_mutex_unlock(&gil.mu);

    /* Forced switching: wake a thread waiting for the hand-over to happen. */
    pthread_mutex_lock(&gil.switch_mu);
    pthread_cond_signal(&gil.switch_cond);
    pthread_mutex_unlock(&gil.switch_mu);
}

static void drop_default(tally_thread_state *ts, bool forced_switch)
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

/* ---- fair mode --------------------------------------------------------------------------- */
/* Lock/ordering contract: every field of the queue and every tenure field is read and written
 * under mu.  The one exception is a waiter's own `granted` flag, which it may poll outside mu
 * while spinning; the dropper sets it last, under mu, with a release store, and the waiter, once
 * it sees it, takes mu before it returns - so the hand-over's happens-before edge is always the
 * dropper's unlock of mu and the new holder's lock of mu. */
/* Under mu: the waiter to hand over to (see "Choice of the next holder"), or NULL. */
static gil_waiter *fair_pick(uint64_t now, uint64_t interval_ns, gil_waiter **before)
{
    gil_waiter *prev = NULL;
    for (gil_waiter *w = gil.head; w; prev = w, w = w->next) {
        GIL_ASSERT(!w->granted, "F2: a queued waiter was already granted");
        GIL_ASSERT(!w->next || w->next->ticket > w->ticket, "F3: queue out of ticket order");
        if (w->priority || now - w->queued_ns >= interval_ns) {
            *before = prev;
            return w;
        }
    }
    *before = NULL;
    return gil.head;
}

static void take_fair(tally_thread_state *ts, bool priority)
{
    uint64_t t0 = _tally_now_ns();
    pthread_mutex_lock(&gil.mu);
    GIL_ASSERT(!gil.locked || tally_atomic_load_relaxed(&gil.holder) != ts,
               "a thread takes the GIL it holds");
    if (!gil.locked) {
        GIL_ASSERT(gil.head == NULL, "F1: GIL free while threads wait");
        become_holder(ts, t0);
        gil.holder_priority = priority;
        account_wait(t0);
        pthread_mutex_unlock(&gil.mu);
        return;
    }
    gil_waiter me = { NULL, ts, gil.next_ticket++, t0, priority, 0 };
    if (gil.tail)
        gil.tail->next = &me;
    else
        gil.head = &me;
    gil.tail = &me;
    gil.waiting++;
    bool spun = false;
    while (!tally_atomic_load_relaxed(&me.granted)) {
        /* Ask the holder to drop once it has had its slice: a short one when this waiter comes
         * back from a blocking call, a whole interval otherwise.  One request per tenure (F4). */
        uint64_t interval_ns = (uint64_t)tally_atomic_load_relaxed(&gil.interval_us) * 1000u;
        uint64_t slice = priority ? interval_ns / TALLY_GIL_FAIR_SHORT_DIV : interval_ns;
        uint64_t now = _tally_now_ns();
        uint64_t due = gil.taken_ns + slice;
        uint64_t wait_ns;
        /* Poll first only around priority tenures (short ones, between blocking calls), never
         * between CPU-bound threads: there the yields would cost the poller its share of the CPU
         * on a busy machine (measured on `private`: wait max 90-250 ms against 30-40 ms). */
        bool soon = gil.holder_priority;
        if (now >= due) {
            soon = soon || priority;
            if (gil.requested != gil.tenure) {
                /* The holder is alive: it holds the GIL and cannot release it without mu. */
                tally_thread_state *h = tally_atomic_load_relaxed(&gil.holder);
                GIL_ASSERT(h != NULL && h != ts, "fair: a waiter found no other holder");
                tally_atomic_fetch_or(&h->breaker, TALLY_BREAK_GIL_DROP);
                gil.requested = gil.tenure;
                gil.stats.drop_requests++;
            }
            /* Woken by the hand-over (broadcast); the timeout only re-checks a holder that is
             * slow to reach its safepoint. */
            wait_ns = interval_ns;
        } else {
            wait_ns = due - now;
        }
        if (soon && gil.spin && !spun) {
            /* Spin (once per take, bounded) outside mu for the hand-over; then re-check under mu,
             * which also orders the previous holder's writes before ours (acquire). */
            spun = true;
            pthread_mutex_unlock(&gil.mu);
            uint64_t end = _tally_now_ns() + TALLY_GIL_FAIR_SPIN_NS;
            for (unsigned i = 1; !tally_atomic_load_acquire(&me.granted); i++) {
                if (i <= TALLY_GIL_FAIR_SPIN_PAUSES) {
                    _tally_cpu_relax();
                    continue;
                }
                sched_yield();
                if (_tally_now_ns() >= end)
                    break;
            }
            pthread_mutex_lock(&gil.mu);
            continue;
        }
        struct timespec dl = deadline_after_ns(wait_ns ? wait_ns : 1);
        pthread_cond_timedwait(&gil.fair_cond, &gil.mu, &dl);
    }
    /* The dropper unlinked us and made us the holder (become_holder) before the broadcast. */
    GIL_ASSERT(gil.locked && tally_atomic_load_relaxed(&gil.holder) == ts,
               "fair: granted without holding");
    account_wait(t0);
    pthread_mutex_unlock(&gil.mu);
}

static void drop_fair(tally_thread_state *ts, bool forced_switch)
{
    pthread_mutex_lock(&gil.mu);
    GIL_ASSERT(gil.locked && tally_atomic_load_relaxed(&gil.holder) == ts,
               "fair: the GIL is dropped by a thread that does not hold it");
    (void)ts;
    uint64_t now = _tally_now_ns();
    uint64_t interval_ns = (uint64_t)tally_atomic_load_relaxed(&gil.interval_us) * 1000u;
    gil_waiter *before;
    gil_waiter *w = fair_pick(now, interval_ns, &before);
    if (w) {
        /* Hand over: unlink w, make it the holder, wake it (F1, F2). */
        if (before)
            before->next = w->next;
        else
            gil.head = w->next;
        if (gil.tail == w)
            gil.tail = before;
        w->next = NULL;
        gil.waiting--;
        become_holder(w->ts, now);
        gil.holder_priority = w->priority;
        tally_atomic_store_release(&w->granted, 1);
        if (forced_switch)
            gil.stats.forced_switches++;
        pthread_cond_broadcast(&gil.fair_cond);
    } else {
        gil.locked = 0;
    }
    pthread_mutex_unlock(&gil.mu);
}

/* ---- entry points ------------------------------------------------------------------------ */
void _tally_gil_take(tally_thread_state *ts, bool after_blocking)
{
    int c = _tally_nocancel_begin();
    if (gil.fair)
        take_fair(ts, after_blocking);
    else
        take_default(ts);
    _tally_nocancel_end(c);
}

void _tally_gil_drop(tally_thread_state *ts, bool forced_switch)
{
    int c = _tally_nocancel_begin();   /* a forced switch waits for the taker */
    if (gil.fair)
        drop_fair(ts, forced_switch);
    else
        drop_default(ts, forced_switch);
    _tally_nocancel_end(c);
}

void _tally_gil_fork_child(tally_thread_state *ts)
{
    /* The child has one thread: the forker.  It keeps the GIL if it held it; the queue's waiters
     * (other threads, their stacks gone) are forgotten. */
    int held = ts && tally_atomic_load_relaxed(&ts->state) == TALLY_TS_ATTACHED;
    pthread_mutex_init(&gil.mu, NULL);
    pthread_mutex_init(&gil.switch_mu, NULL);
    init_conds();
    gil.locked = held;
    gil.waiting = 0;
    reset_fair_queue();
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

int tally_gil_waiters(void)
{
    pthread_mutex_lock(&gil.mu);
    int n = (int)gil.waiting;
    pthread_mutex_unlock(&gil.mu);
    return n;
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

#endif /* TALLY_RC_GIL */
