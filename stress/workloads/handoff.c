/* stress/workloads/handoff.c - producers pass objects to consumers on other threads.
 *
 * Owns: cross-thread reference traffic.  Half the threads produce, half consume.  A producer
 * creates an object, takes a second reference, publishes one through a short queue and keeps
 * the other in a small ring of recent objects that it re-reads until the slot is reused.  It
 * starts reading the new object (a burst: increments, then as many decrements) once a
 * consumer has popped it, and that consumer reads it with a burst of its own at the same
 * time, then drops the queue's reference.  So both threads count the same object at once:
 * with racy counts updates are lost, and objects die while the producer still holds them
 * (early_free_violations, counted by the stress.obj del check, which keeps them alive) or
 * never die (leak_violations at the end).  Biased: the consumer is never the owner (shared
 * counts, merge queues to the producer).  Bursts are short (64 increments, then 64
 * decrements), except for every 16th object, whose bursts last 8 ms: long overlapping bursts
 * on one object are what a racy count cannot survive, even on a loaded machine where the two
 * threads are preempted more often than they run in parallel.
 *
 * ops = the increments and decrements of the bursts (both sides, on handed-over objects), not the
 * objects: a long burst ends at 8 ms or at --burst increments, whichever comes first, so a backend
 * whose increments are cheap does more of them per object (deferred reaches 4 Mi in 2-4 ms where a
 * contended atomic count does a few hundred thousand in 8 ms), and objects per second then
 * compared different work (deferred looked 0.45x atomic; with the same burst of 200,000 on both it
 * handed over 3.2x as many objects).  The objects handed over are `handoff_objects_consumed`, and
 * --ops N still counts objects (N objects are handed over in all).
 *
 * Queue: a ring under a pthread mutex; the mutex orders a producer's writes to an object
 * before the consumer's reads (publication).  `len` and `producers_left` are written under
 * the mutex with relaxed atomic stores so that waiters may peek at them (relaxed loads, a
 * hint only: the decision is taken again under the mutex).  Waiting is done detached.
 */
#include "harness.h"

#include <assert.h>
#include <sched.h>
#include <stdlib.h>
#include <time.h>

#define QCAP 16      /* short: a consumer picks an object up while its producer still reads it */
#define RING 8       /* the producer keeps its RING most recent objects */
#define READ 2       /* and re-reads READ of them (round robin) after each publication */
#define SHORT 64     /* increments (then decrements) each side takes on a fresh object */
#define LONG_EVERY 16 /* every 16th object of a producer gets a long burst on both sides */
#define BURST 4194304 /* most increments of a long burst (--burst) */
#define LONG_NS 8000000u /* a long burst's increments stop after 8 ms: longer than a time slice */
#define LONG_BIT (UINT64_C(1) << 39)
#define TOUCH 4

typedef struct handoff {
    pthread_mutex_t m;
    pthread_cond_t nonempty, nonfull;
    hobj *q[QCAP];
    size_t head, len;
    unsigned producers, producers_left;
    uint64_t quota;           /* objects per producer with --ops, else 0 */
    uint64_t burst;           /* most increments of a long burst */
    uint64_t consumed, content_bad;
} handoff;

static void wait_detached(handoff *s, pthread_cond_t *cv)
{
    /* called with s->m held; returns with it held */
    pthread_mutex_unlock(&s->m);
    TALLY_BEGIN_ALLOW_THREADS
    pthread_mutex_lock(&s->m);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += 1000000;
    if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
    }
    pthread_cond_timedwait(cv, &s->m, &ts);
    pthread_mutex_unlock(&s->m);
    TALLY_END_ALLOW_THREADS
    pthread_mutex_lock(&s->m);
}

/* Before blocking, yield a while detached (relaxed peeks at len): the other side is usually
 * about to make progress, and producer and consumer keep running at the same time. */
static void spin_until(handoff *s, bool want_room)
{
    TALLY_BEGIN_ALLOW_THREADS
    for (int i = 0; i < 200; i++) {
        size_t len = tally_atomic_load_relaxed(&s->len);
        if (want_room ? len < QCAP : (len > 0 || !tally_atomic_load_relaxed(&s->producers_left)))
            break;
        sched_yield();
    }
    TALLY_END_ALLOW_THREADS
}

static void push(handoff *s, hobj *h)
{
    if (tally_atomic_load_relaxed(&s->len) == QCAP)
        spin_until(s, true);
    pthread_mutex_lock(&s->m);
    while (s->len == QCAP)
        wait_detached(s, &s->nonfull);
    s->q[(s->head + s->len) % QCAP] = h;
    tally_atomic_store_relaxed(&s->len, s->len + 1);
    pthread_cond_signal(&s->nonempty);
    pthread_mutex_unlock(&s->m);
}

/* NULL when every producer has finished and the queue is empty. */
static hobj *pop(handoff *s)
{
    if (tally_atomic_load_relaxed(&s->len) == 0)
        spin_until(s, false);
    pthread_mutex_lock(&s->m);
    while (s->len == 0 && s->producers_left > 0)
        wait_detached(s, &s->nonempty);
    hobj *h = NULL;
    if (s->len) {
        h = s->q[s->head];
        s->head = (s->head + 1) % QCAP;
        tally_atomic_store_relaxed(&s->len, s->len - 1);
        pthread_cond_signal(&s->nonfull);
    }
    pthread_mutex_unlock(&s->m);
    return h;
}

/* A burst: up to n increments (for at most max_ns when max_ns > 0), then as many decrements,
 * by a thread that holds a reference (counted in `held`) throughout, so the burst leaves the
 * model unchanged.  Increments in a row (not pairs) make any lost update a net change of the
 * count, as in hammer: a pair interleaved with a stale store can cancel out, a run of
 * increments cannot.  The compiler barriers keep every operation a separate read-modify-write.
 * A long burst is bounded by time rather than by count so that it spans scheduler ticks on
 * every backend, fast or slow: a thread preempted between the load and the store of a racy
 * increment while the other side goes on then writes back a stale count. */
static void touch_n(stress_thread *th, hobj *h, uint64_t n, uint64_t max_ns)
{
    tally_object *o = &h->ob_base;
    uint64_t t0 = max_ns ? stress_now_ns() : 0;
    uint64_t done = 0;
    while (done < n) {
        tally_incref(o);
        __asm__ volatile("" ::: "memory");
        done++;
        if ((done & 1023) == 0) {
            stress_chaos(th);
            if (max_ns && stress_now_ns() - t0 >= max_ns)
                break;
        }
    }
    for (uint64_t k = 0; k < done; k++) {
        tally_decref(o);
        __asm__ volatile("" ::: "memory");
        if ((k & 1023) == 1023)
            stress_chaos(th);
    }
    stress_op(th, 2 * done);
}

static void touch(stress_thread *th, hobj *h)
{
    touch_n(th, h, TOUCH, 0);
}

/* Let the consumer's burst and ours overlap: wait (detached, bounded) until a consumer has
 * popped the object.  Pairs with the consumer's release store of `picked`. */
static void wait_picked(hobj *h)
{
    TALLY_BEGIN_ALLOW_THREADS
    for (int i = 0; i < 4000 && !tally_atomic_load_acquire(&h->picked); i++) {
        if (i > 32)
            sched_yield();
    }
    TALLY_END_ALLOW_THREADS
}

static void producer(stress_thread *th, handoff *s)
{
    hobj *ring[RING] = { 0 };
    uint64_t made = 0;
    unsigned k = 0, cursor = 0;
    while (!stress_stopping(th->run) && (!s->quota || made < s->quota)) {
        bool lng = made % LONG_EVERY == LONG_EVERY - 1;
        hobj *h = hobj_new(((uint64_t)th->index << 40) | (lng ? LONG_BIT : 0) | made);
        hobj_incref(h);              /* one for the queue, one for the ring */
        stress_chaos(th);
        push(s, h);                  /* publication: the queue owns one reference now */
        wait_picked(h);
        touch_n(th, h, lng ? s->burst : SHORT, lng ? LONG_NS : 0);   /* while the consumer does too */
        hobj *old = ring[k];
        ring[k] = h;
        k = (k + 1) % RING;
        for (unsigned j = 0; j < READ; j++) {
            hobj *e = ring[cursor];
            cursor = (cursor + 1) % RING;
            if (e && hobj_check(e))
                touch(th, e);
        }
        if (old) {
            stress_chaos(th);
            hobj_decref(old);        /* drop: races with the consumer's references */
        }
        made++;
        if ((made & 63) == 0)
            tally_safepoint();
    }
    for (unsigned i = 0; i < RING; i++)
        if (ring[i])
            hobj_decref(ring[i]);
    pthread_mutex_lock(&s->m);
    tally_atomic_store_relaxed(&s->producers_left, s->producers_left - 1);
    pthread_cond_broadcast(&s->nonempty);
    pthread_mutex_unlock(&s->m);
}

static void consumer(stress_thread *th, handoff *s)
{
    uint64_t got = 0, bad = 0;
    hobj *h;
    while ((h = pop(s)) != NULL) {
        tally_atomic_store_release(&h->picked, 1);
        if (hobj_check(h)) {
            if ((h->payload >> 40) >= s->producers)
                bad++;
            bool lng = (h->payload & LONG_BIT) != 0;
            touch_n(th, h, lng ? s->burst : SHORT, lng ? LONG_NS : 0);
        }
        stress_chaos(th);
        hobj_decref(h);              /* the queue's reference */
        got++;
        if ((got & 63) == 0)
            tally_safepoint();
    }
    tally_atomic_fetch_add_relaxed(&s->consumed, got);
    tally_atomic_fetch_add_relaxed(&s->content_bad, bad);
    stress_violation_add(SV_CONTENT, bad);
}

static void handoff_thread(stress_thread *th)
{
    handoff *s = th->arg;
    if (th->index < s->producers)
        producer(th, s);
    else
        consumer(th, s);
}

int stress_wl_handoff(stress_run *r)
{
    const stress_config *c = r->cfg;
    /* stress_options_parse refuses fewer than 2 (a producer and a consumer), so the thread
     * count in the JSON is the one that ran */
    assert(c->threads >= 2);
    unsigned n = (unsigned)c->threads;
    handoff *s = calloc(1, sizeof *s);
    if (!s)
        return -1;
    pthread_mutex_init(&s->m, NULL);
    pthread_cond_init(&s->nonempty, NULL);
    pthread_cond_init(&s->nonfull, NULL);
    s->producers = n / 2;
    s->burst = c->burst ? c->burst : BURST;
    s->producers_left = s->producers;
    if (c->ops_set)
        s->quota = (c->ops + s->producers - 1) / s->producers;
    r->phase = "handoff";
    int rc = stress_run_threads(r, n, handoff_thread, s, 0);
    stress_figure_set(r, "handoff_producers", s->producers, true);
    stress_figure_set(r, "handoff_consumers", n - s->producers, true);
    stress_figure_set(r, "handoff_objects_consumed", (double)s->consumed, true);
    stress_figure_set(r, "handoff_long_burst_max", (double)s->burst, true);
    pthread_cond_destroy(&s->nonempty);
    pthread_cond_destroy(&s->nonfull);
    pthread_mutex_destroy(&s->m);
    free(s);
    return rc;
}
