/* stress/workloads/handoff.c - producers pass objects to consumers on other threads.
 *
 * Owns: cross-thread reference traffic.  A producer creates an object, takes a second
 * reference, publishes one through a bounded queue and keeps the other in a small ring of
 * recent objects that it keeps reading (increment, decrement) until the slot is reused.  A
 * consumer pops the object, checks it, takes and drops references of its own and drops the
 * queue's.  So both threads count the same object at the same time: with racy counts updates
 * are lost, objects die while the producer still holds them (early_free_violations, counted by
 * the stress.obj finalizer, which keeps them alive) or never die (leak_violations at the end).
 * Biased: the consumer is never the owner (shared counts, merge queues to the producer).
 *
 * Queue: a ring under a pthread mutex; the mutex orders a producer's writes to an object
 * before the consumer's reads (publication).  Waiting for room or items is done detached.
 */
#include "harness.h"

#include <stdlib.h>
#include <time.h>

#define QCAP 1024
#define RING 8
#define TOUCH 4

typedef struct handoff {
    pthread_mutex_t m;
    pthread_cond_t nonempty, nonfull;
    hobj *q[QCAP];
    size_t head, len;
    unsigned producers, producers_left;
    uint64_t quota;           /* objects per producer with --ops, else 0 */
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

static void push(handoff *s, hobj *h)
{
    pthread_mutex_lock(&s->m);
    while (s->len == QCAP)
        wait_detached(s, &s->nonfull);
    s->q[(s->head + s->len) % QCAP] = h;
    s->len++;
    pthread_cond_signal(&s->nonempty);
    pthread_mutex_unlock(&s->m);
}

/* NULL when every producer has finished and the queue is empty. */
static hobj *pop(handoff *s)
{
    pthread_mutex_lock(&s->m);
    while (s->len == 0 && s->producers_left > 0)
        wait_detached(s, &s->nonempty);
    hobj *h = NULL;
    if (s->len) {
        h = s->q[s->head];
        s->head = (s->head + 1) % QCAP;
        s->len--;
        pthread_cond_signal(&s->nonfull);
    }
    pthread_mutex_unlock(&s->m);
    return h;
}

static void touch(stress_thread *th, hobj *h)
{
    for (int k = 0; k < TOUCH; k++) {
        hobj_incref(h);
        stress_chaos(th);
        hobj_decref(h);
    }
}

static void producer(stress_thread *th, handoff *s)
{
    hobj *ring[RING] = { 0 };
    uint64_t made = 0;
    unsigned k = 0;
    while (!stress_stopping(th->run) && (!s->quota || made < s->quota)) {
        hobj *h = hobj_new(((uint64_t)th->index << 40) | made);
        hobj_incref(h);              /* one for the queue, one for the ring */
        stress_chaos(th);
        push(s, h);                  /* publication: the queue owns one reference now */
        hobj *old = ring[k];
        ring[k] = h;
        k = (k + 1) % RING;
        for (unsigned i = 0; i < RING; i++)
            if (ring[i] && hobj_check(ring[i]))
                touch(th, ring[i]);
        if (old) {
            stress_chaos(th);
            hobj_decref(old);        /* drop: races with the consumer's references */
        }
        made++;
        stress_op(th, 1);
        if ((made & 63) == 0)
            tally_safepoint();
    }
    for (unsigned i = 0; i < RING; i++)
        if (ring[i])
            hobj_decref(ring[i]);
    pthread_mutex_lock(&s->m);
    s->producers_left--;
    pthread_cond_broadcast(&s->nonempty);
    pthread_mutex_unlock(&s->m);
}

static void consumer(stress_thread *th, handoff *s)
{
    uint64_t got = 0, bad = 0;
    hobj *h;
    while ((h = pop(s)) != NULL) {
        if (hobj_check(h)) {
            if ((h->payload >> 40) >= s->producers)
                bad++;
            touch(th, h);
        }
        stress_chaos(th);
        hobj_decref(h);              /* the queue's reference */
        got++;
        if ((got & 63) == 0)
            tally_safepoint();
    }
    __atomic_fetch_add(&s->consumed, got, __ATOMIC_RELAXED);
    __atomic_fetch_add(&s->content_bad, bad, __ATOMIC_RELAXED);
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
    unsigned n = c->threads < 2 ? 2 : (unsigned)c->threads;
    handoff *s = calloc(1, sizeof *s);
    if (!s)
        return -1;
    pthread_mutex_init(&s->m, NULL);
    pthread_cond_init(&s->nonempty, NULL);
    pthread_cond_init(&s->nonfull, NULL);
    s->producers = n / 2;
    s->producers_left = s->producers;
    if (c->ops_set)
        s->quota = (c->ops + s->producers - 1) / s->producers;
    r->phase = "handoff";
    int rc = stress_run_threads(r, n, handoff_thread, s, 0);
    stress_figure_set(r, "handoff_producers", s->producers, true);
    stress_figure_set(r, "handoff_consumers", n - s->producers, true);
    stress_figure_set(r, "handoff_objects_consumed", (double)s->consumed, true);
    pthread_cond_destroy(&s->nonempty);
    pthread_cond_destroy(&s->nonfull);
    pthread_mutex_destroy(&s->m);
    free(s);
    return rc;
}
