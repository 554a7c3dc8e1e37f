/* interp/pysync.c - the interpreter's own synchronisation for the free-threaded backends.
 *
 * Owns: py_mutex's slow paths (a futex word: 0 free, 1 held, 2 held with waiters, Drepper's
 * "mutex 3"), and QSBR over the interpreter's threads: py_decref_delayed and py_free_delayed
 * (a dict's old keys block), the registry of
 * attached Python threads with the sequence number each has last seen, and the per-thread
 * queues of decrefs waiting for a grace period.  On the gil backend all of it reduces to plain
 * decrefs: the GIL already serialises every object access (docs/interpreter.md, "Threads").
 *
 * QSBR contract.  py_qsbr_seq only grows.  A delayed decref of o takes goal = ++seq after o
 * has left its container (under the container's lock).  A thread reports a quiescent point by
 * storing the seq it reads (seq_cst, after every use of the borrowed references it read before)
 * into its record; a thread away in a blocking call stores OFFLINE.  The decref runs once every
 * registered record is >= goal: each thread that could have read o from the container before
 * it left has passed a quiescent point since, so no borrowed reference to o remains.
 * Invariants: a thread holds no borrowed dict or cell reference at a quiescent point (the
 * evaluation loop's safepoint polls, detaching calls); a record going online re-reads seq with
 * seq_cst before the thread touches any container, so a concurrent scan that saw OFFLINE cannot
 * miss a reference it takes afterwards (those containers no longer hold the removed values).
 */
#include "interp.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

_Thread_local int64_t py_thread_serial;

/* ---- py_mutex ------------------------------------------------------------------------------ */
static void futex_wait(uint32_t *addr, uint32_t val)
{
    syscall(SYS_futex, addr, FUTEX_WAIT_PRIVATE, val, NULL, NULL, 0);
}
static void futex_wake_one(uint32_t *addr)
{
    syscall(SYS_futex, addr, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

void py_mutex_lock_slow(py_mutex *m)
{
    /* a holder's critical section is short (no Python code, no allocation): spin a little */
    for (int i = 0; i < 100; i++) {
        uint32_t expected = 0;
        if (tally_atomic_load_relaxed(&m->v) == 0 && tally_atomic_cas_acq_rel(&m->v, &expected, 1))
            return;
        cpu_relax();
    }
    /* mark contended and sleep until the holder's unlock wakes us */
    while (tally_atomic_exchange_acq_rel(&m->v, 2) != 0)
        futex_wait(&m->v, 2);
}

void py_mutex_unlock_slow(py_mutex *m) { futex_wake_one(&m->v); }

/* ---- QSBR ---------------------------------------------------------------------------------- */
#define OFFLINE UINT64_MAX

typedef struct qsrec { uint64_t seen; struct qsrec *next; } qsrec;
typedef struct { void *p; uint64_t goal; bool mem; } pending;   /* mem: free(p), else decref */

uint64_t py_qsbr_seq = 1;
_Thread_local uint64_t py_qsbr_seen;
static uint32_t nthreads;                 /* registered records (atomic) */
static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;   /* registry and orphans */
static qsrec *registry;
static pending *orphans;                  /* queues of threads that ended, under reg_mu */
static size_t norphans, caporphans;
static uint32_t orphans_pending;          /* norphans != 0, for polls without reg_mu (atomic) */

static _Thread_local qsrec *me;
static _Thread_local pending *queue;
static _Thread_local size_t nqueue, capqueue;
static _Thread_local unsigned polls;

int py_qsbr_thread_online(void)
{
    qsrec *r = calloc(1, sizeof *r);
    if (!r) return -1;
    pthread_mutex_lock(&reg_mu);
    r->next = registry;
    registry = r;
    tally_atomic_fetch_add(&nthreads, 1);
    tally_atomic_store(&r->seen, tally_atomic_load(&py_qsbr_seq));
    pthread_mutex_unlock(&reg_mu);
    me = r;
    py_qsbr_seen = r->seen;
    return 0;
}

/* the smallest seq every registered thread has reported; reg_mu held */
static uint64_t min_seen_locked(void)
{
    uint64_t m = OFFLINE;
    for (qsrec *r = registry; r; r = r->next) {
        uint64_t s = tally_atomic_load(&r->seen);
        if (s < m) m = s;
    }
    return m;
}

static void run_pending(pending *p)
{
    if (p->mem) free(p->p);
    else tally_decref((tally_object *)p->p);
}

/* apply the entries of q[0..*n) whose grace period is over; keep the rest in order */
static void apply_ready(pending *q, size_t *n, uint64_t min)
{
    size_t k = 0, len = *n;
    pending ready[64];
    size_t nready = 0;
    for (size_t i = 0; i < len; i++) {
        if (q[i].goal <= min && nready < 64)
            ready[nready++] = q[i];
        else
            q[k++] = q[i];
    }
    *n = k;
    /* after the queue is consistent: a decref may run a destructor that defers again */
    for (size_t i = 0; i < nready; i++) run_pending(&ready[i]);
}

static void process(void)
{
    pthread_mutex_lock(&reg_mu);
    uint64_t min = min_seen_locked();
    pending ready[64];
    size_t nready = 0;
    if (norphans) {
        size_t k = 0;
        for (size_t i = 0; i < norphans; i++) {
            if (orphans[i].goal <= min && nready < 64) ready[nready++] = orphans[i];
            else orphans[k++] = orphans[i];
        }
        norphans = k;
        tally_atomic_store_relaxed(&orphans_pending, norphans != 0);
    }
    pthread_mutex_unlock(&reg_mu);
    for (size_t i = 0; i < nready; i++) run_pending(&ready[i]);
    if (nqueue) apply_ready(queue, &nqueue, min);
}

void py_qsbr_quiescent_slow(void)
{
    if (!me) return;
    uint64_t s = tally_atomic_load(&py_qsbr_seq);
    tally_atomic_store(&me->seen, s);
    py_qsbr_seen = s;
    if ((nqueue || tally_atomic_load_relaxed(&orphans_pending)) && (nqueue >= 32 || (++polls & 15) == 0))
        process();
}

static void defer(void *p, bool mem)
{
    pending now = { p, 0, mem };
#if PY_FREE_THREADED
    /* alone (or not a registered thread at start-up or exit): nobody else can hold a borrowed
     * reference, so it runs at once; a second thread is only ever started by this one */
    if (!me || tally_atomic_load_acquire(&nthreads) <= 1) {
        run_pending(&now);
        return;
    }
    uint64_t goal = tally_atomic_fetch_add(&py_qsbr_seq, 1) + 1;
    if (nqueue == capqueue) {
        size_t cap = capqueue ? capqueue * 2 : 64;
        pending *q = realloc(queue, cap * sizeof *q);
        if (!q) {
            /* out of memory for the queue: wait for the grace period here (polling, so that a
             * stop-the-world or a GIL hand-over is never held back) */
            py_qsbr_quiescent_slow();
            for (;;) {
                pthread_mutex_lock(&reg_mu);
                uint64_t min = min_seen_locked();
                pthread_mutex_unlock(&reg_mu);
                if (min >= goal) break;
                tally_safepoint();
                sched_yield();
            }
            run_pending(&now);
            return;
        }
        queue = q;
        capqueue = cap;
    }
    now.goal = goal;
    queue[nqueue++] = now;
    if (nqueue >= 256) {
        py_qsbr_quiescent_slow();
        process();
    }
#else
    run_pending(&now);
#endif
}

void py_decref_delayed(tally_object *o) { defer(o, false); }
void py_free_delayed(void *p) { defer(p, true); }

void py_qsbr_offline(void)
{
    if (me) tally_atomic_store(&me->seen, OFFLINE);
}

void py_qsbr_online(void)
{
    if (!me) return;
    uint64_t s = tally_atomic_load(&py_qsbr_seq);
    tally_atomic_store(&me->seen, s);
    py_qsbr_seen = s;
}

void py_qsbr_thread_exit(void)
{
    if (!me) return;
    pthread_mutex_lock(&reg_mu);
    for (qsrec **p = &registry; *p; p = &(*p)->next) {
        if (*p == me) {
            *p = me->next;
            break;
        }
    }
    tally_atomic_fetch_sub(&nthreads, 1);
    /* the queue goes to the orphans; if they cannot grow, it is applied when it is safe */
    bool moved = true;
    if (nqueue && norphans + nqueue > caporphans) {
        size_t cap = caporphans ? caporphans : 64;
        while (cap < norphans + nqueue) cap *= 2;
        pending *o = realloc(orphans, cap * sizeof *o);
        if (o) {
            orphans = o;
            caporphans = cap;
        } else {
            moved = false;
        }
    }
    if (moved) {
        for (size_t i = 0; i < nqueue; i++) orphans[norphans++] = queue[i];
        nqueue = 0;
        tally_atomic_store_relaxed(&orphans_pending, norphans != 0);
    }
    pthread_mutex_unlock(&reg_mu);
    while (nqueue) {   /* out of memory only: wait for the others' quiescent points */
        pthread_mutex_lock(&reg_mu);
        uint64_t min = min_seen_locked();
        pthread_mutex_unlock(&reg_mu);
        apply_ready(queue, &nqueue, min);
        if (nqueue) {
            tally_safepoint();
            sched_yield();
        }
    }
    free(queue);
    queue = NULL;
    capqueue = 0;
    free(me);
    me = NULL;
}

void py_qsbr_drain_all(void)
{
    /* the last thread: no other one is registered, every grace period is over */
    for (;;) {
        pthread_mutex_lock(&reg_mu);
        pending *o = orphans;
        size_t n = norphans;
        orphans = NULL;
        norphans = caporphans = 0;
        tally_atomic_store_relaxed(&orphans_pending, 0);
        pthread_mutex_unlock(&reg_mu);
        pending *q = queue;
        size_t nq = nqueue;
        queue = NULL;
        nqueue = capqueue = 0;
        if (!n && !nq) {
            free(o);
            free(q);
            return;
        }
        for (size_t i = 0; i < n; i++) run_pending(&o[i]);
        for (size_t i = 0; i < nq; i++) run_pending(&q[i]);
        free(o);
        free(q);
    }
}
