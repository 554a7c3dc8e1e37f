/* stress/harness/sync.c - worker threads, the monitor, barriers, chaos points and sleeps.
 *
 * Owns: starting and joining the attached worker threads of a phase, the main thread's
 * monitor (deadline, SIGINT, progress line), detached barriers and sleeps, seeded streams.
 * The main thread creates, monitors and joins the workers detached (TALLY_BEGIN_ALLOW_THREADS):
 * a stop-the-world or GIL hand-over never waits on it.
 *
 * Synchronisation: `running` and the condition variable are guarded by done_lock (the exit of
 * a worker happens before the monitor sees running drop, by the mutex).  `stop` is a relaxed
 * flag: it only asks workers to finish; what they did is published by pthread_join.  Per-thread
 * `ops` counters are relaxed (progress line only); the totals are read after the joins.
 */
#include "harness.h"

#include <errno.h>
#include <inttypes.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

stress_run *stress_current;

static pthread_mutex_t done_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t done_cond;
static pthread_once_t cond_once = PTHREAD_ONCE_INIT;

static void cond_init(void)
{
    pthread_condattr_t a;
    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    pthread_cond_init(&done_cond, &a);
    pthread_condattr_destroy(&a);
}

uint64_t stress_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t stress_seed_for(const stress_run *r, uint64_t stream)
{
    /* splitmix64 of (seed, stream): distinct, well-mixed, never zero (xorshift needs != 0) */
    uint64_t z = r->cfg->seed + 0x9E3779B97F4A7C15ULL * (stream + 1);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    z ^= z >> 31;
    return z ? z : 0x1234567;
}

void stress_chaos_slow(stress_thread *th)
{
    uint64_t x = stress_rand(&th->rng);
    if ((x & 31) == 0) {
        sched_yield();
    } else if ((x & 1023) == 1) {
        struct timespec ts = { 0, (long)(1000 + (x >> 20) % 50000) };  /* 1..51 us */
        nanosleep(&ts, NULL);
    }
}

int stress_barrier_init(stress_barrier *b, unsigned n)
{
    return pthread_barrier_init(&b->b, NULL, n) == 0 ? 0 : -1;
}

void stress_barrier_destroy(stress_barrier *b)
{
    pthread_barrier_destroy(&b->b);
}

bool stress_barrier_wait(stress_barrier *b)
{
    int rc;
    TALLY_BEGIN_ALLOW_THREADS
    rc = pthread_barrier_wait(&b->b);
    TALLY_END_ALLOW_THREADS
    return rc == PTHREAD_BARRIER_SERIAL_THREAD;
}

void stress_sleep_ns(uint64_t ns)
{
    struct timespec ts = { (time_t)(ns / 1000000000u), (long)(ns % 1000000000u) };
    TALLY_BEGIN_ALLOW_THREADS
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
    TALLY_END_ALLOW_THREADS
}

void stress_figure_set(stress_run *r, const char *key, double value, bool integer)
{
    pthread_mutex_lock(&r->lock);
    size_t i;
    for (i = 0; i < r->nfigures; i++)
        if (strcmp(r->figures[i].key, key) == 0)
            break;
    if (i < STRESS_MAX_FIGURES) {
        r->figures[i].key = key;
        r->figures[i].value = value;
        r->figures[i].integer = integer;
        if (i == r->nfigures)
            r->nfigures++;
    }
    pthread_mutex_unlock(&r->lock);
}

void stress_figure_add(stress_run *r, const char *key, double value, bool integer)
{
    pthread_mutex_lock(&r->lock);
    size_t i;
    for (i = 0; i < r->nfigures; i++)
        if (strcmp(r->figures[i].key, key) == 0)
            break;
    if (i < STRESS_MAX_FIGURES) {
        if (i == r->nfigures) {
            r->figures[i].key = key;
            r->figures[i].value = 0;
            r->nfigures++;
        }
        r->figures[i].value += value;
        r->figures[i].integer = integer;
    }
    pthread_mutex_unlock(&r->lock);
}

void stress_hist_publish(stress_run *r, const char *key, stress_hist *h)
{
    pthread_mutex_lock(&r->lock);
    if (r->nhists < STRESS_MAX_HISTS) {
        r->hists[r->nhists].key = key;
        r->hists[r->nhists].hist = h;
        r->nhists++;
        h = NULL;
    }
    pthread_mutex_unlock(&r->lock);
    free(h);
}

/* ---- monitor ---------------------------------------------------------------------------- */
static uint64_t progress_ops(stress_run *r)
{
    uint64_t sum = tally_atomic_load_relaxed(&r->progress_extra);
    stress_thread *t = tally_atomic_load_acquire(&r->threads);
    unsigned n = tally_atomic_load_relaxed(&r->nthreads);
    for (unsigned i = 0; t && i < n; i++)
        sum += tally_atomic_load_relaxed(&t[i].ops);
    return sum;
}

static bool want_progress(const stress_run *r)
{
    return !r->cfg->quiet && isatty(2);
}

static void progress(stress_run *r, uint64_t now)
{
    double t = (double)(now - r->start_ns) / 1e9;
    uint64_t ops = progress_ops(r);
    uint64_t v = 0;
    for (int i = 0; i < SV_COUNT; i++)
        v += tally_atomic_load_relaxed(&r->violations[i]);
    fprintf(stderr, "\r\033[K[%s/%s] %s %.1fs  ops %" PRIu64 " (%.3g/s)  violations %" PRIu64,
            r->cfg->workload, r->cfg->backend, r->phase ? r->phase : "", t, ops,
            t > 0 ? (double)ops / t : 0.0, v);
}

/* One monitor tick (caller detached): deadline, SIGINT, progress. */
static void tick(stress_run *r, uint64_t *next_progress)
{
    uint64_t now = stress_now_ns();
    if (stress_sigint_seen && !r->interrupted) {   /* SIGINT or SIGTERM */
        r->interrupted = 1;
        tally_atomic_store_relaxed(&r->stop, 1);
    }
    if (r->deadline_ns && now >= r->deadline_ns)
        tally_atomic_store_relaxed(&r->stop, 1);
    if (want_progress(r) && now >= *next_progress) {
        progress(r, now);
        *next_progress = now + 250000000u;
    }
}

static void progress_clear(stress_run *r)
{
    if (want_progress(r))
        fprintf(stderr, "\r\033[K");
}

void stress_monitor_until(stress_run *r, const int *done)
{
    uint64_t next = stress_now_ns() + 250000000u;
    TALLY_BEGIN_ALLOW_THREADS
    while (!tally_atomic_load_acquire(done)) {
        struct timespec ts = { 0, 20000000 };
        nanosleep(&ts, NULL);
        tick(r, &next);
    }
    TALLY_END_ALLOW_THREADS
    progress_clear(r);
}

static void *thread_main(void *p)
{
    stress_thread *th = p;
    stress_run *r = th->run;
    if (tally_thread_attach() != 0) {
        fprintf(stderr, "tally stress: thread %u cannot attach: %s\n", th->index,
                tally_last_error());
        tally_atomic_store_relaxed(&r->stop, 1);
    } else {
        th->start_ns = stress_now_ns();
        th->fn(th);
        th->end_ns = stress_now_ns();
        tally_thread_release();
    }
    pthread_mutex_lock(&done_lock);
    r->running--;
    pthread_cond_signal(&done_cond);
    pthread_mutex_unlock(&done_lock);
    return NULL;
}

int stress_run_threads(stress_run *r, unsigned n, void (*fn)(stress_thread *), void *arg,
                       uint64_t ops_total)
{
    pthread_once(&cond_once, cond_init);
    stress_thread *t = aligned_alloc(STRESS_CACHELINE, n * sizeof *t);
    if (!t) {
        fprintf(stderr, "tally stress: out of memory for %u threads\n", n);
        return -1;
    }
    memset(t, 0, n * sizeof *t);
    for (unsigned i = 0; i < n; i++) {
        t[i].run = r;
        t[i].index = i;
        t[i].fn = fn;
        t[i].arg = arg;
        t[i].rng = stress_seed_for(r, i + 1);
        if (ops_total) {
            t[i].quota = ops_total / n + (i < ops_total % n ? 1 : 0);
            if (!t[i].quota)
                t[i].quota = 1;
        }
    }
    tally_atomic_store_relaxed(&r->nthreads, n);
    tally_atomic_store_release(&r->threads, t);
    r->running = n;
    unsigned started = 0;
    int rc = 0;
    uint64_t next = stress_now_ns() + 250000000u;
    /* Detached from here to the last join: the threads started first attach and run (and can
     * trigger a collection) while later ones are still being created; an attached creator
     * would be a thread that a stop-the-world (or a GIL drop request) waits for, and with
     * hundreds of threads to create it livelocked (issue 15 item 4). */
    TALLY_BEGIN_ALLOW_THREADS
    for (; started < n; started++) {
        if (pthread_create(&t[started].thread, NULL, thread_main, &t[started]) != 0) {
            fprintf(stderr, "tally stress: cannot start thread %u of %u\n", started, n);
            tally_atomic_store_relaxed(&r->stop, 1);
            pthread_mutex_lock(&done_lock);
            r->running -= n - started;
            pthread_mutex_unlock(&done_lock);
            rc = -1;
            break;
        }
    }
    pthread_mutex_lock(&done_lock);
    while (r->running > 0) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_nsec += 20000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&done_cond, &done_lock, &ts);
        pthread_mutex_unlock(&done_lock);
        tick(r, &next);
        pthread_mutex_lock(&done_lock);
    }
    pthread_mutex_unlock(&done_lock);
    for (unsigned i = 0; i < started; i++)
        pthread_join(t[i].thread, NULL);
    TALLY_END_ALLOW_THREADS
    progress_clear(r);

    /* per-thread figures: the slowest and fastest thread of this phase */
    uint64_t mn = UINT64_MAX, mx = 0;
    for (unsigned i = 0; i < started; i++) {
        r->ops_total += t[i].ops;
        if (t[i].ops < mn)
            mn = t[i].ops;
        if (t[i].ops > mx)
            mx = t[i].ops;
    }
    if (started) {
        stress_figure_set(r, "ops_per_thread_min", (double)mn, true);
        stress_figure_set(r, "ops_per_thread_max", (double)mx, true);
    }
    tally_atomic_store_release(&r->threads, NULL);
    free(t);
    return rc;
}
