/* stress/workloads/churn.c - threads start and exit mid-run while owning objects.
 *
 * Owns: thread-state hand-over.  A spawner keeps --threads short-lived threads running; each
 * attaches, creates objects (biased: it is their owner), swaps them with objects in a shared
 * exchange (so objects created by threads that have exited are counted, dropped and merged by
 * others), takes and drops references, and after a random number of steps releases its thread
 * state and exits while the exchange still holds objects it owns.  At the end the main thread
 * checks every exchange object's count (exactly 1: the exchange's) and drops them all.
 *
 * The exchange is an array of slots under one mutex (publication of the objects).  Thread
 * slots of the spawner: `finished` is stored with release by the thread as its last action and
 * read with acquire by the spawner before pthread_join.
 */
#include "harness.h"

#include <stdlib.h>
#include <time.h>

#define XSLOTS 64

typedef struct churn churn;
typedef struct churner {
    churn *c;
    pthread_t thread;
    uint64_t rng;
    int started, finished;
} churner;

struct churn {
    stress_run *r;
    pthread_mutex_t m;
    hobj *x[XSLOTS];
    churner *t;
    unsigned n;
    uint64_t ops;               /* atomic: all threads */
    uint64_t threads_started;
    int done;                   /* spawner finished (release) */
};

static void *churn_main(void *p)
{
    churner *me = p;
    churn *c = me->c;
    if (tally_thread_attach() != 0) {
        tally_atomic_store_release(&me->finished, 1);
        return NULL;
    }
    stress_thread th = { .run = c->r, .rng = me->rng };
    unsigned steps = 200 + (unsigned)stress_rand_below(&th.rng, 2000);
    hobj *mine[4] = { 0 };
    for (unsigned s = 0; s < steps && !stress_stopping(c->r); s++) {
        unsigned k = (unsigned)stress_rand_below(&th.rng, 4);
        if (!mine[k])
            mine[k] = hobj_new(s);
        hobj_incref(mine[k]);
        stress_chaos(&th);
        hobj_decref(mine[k]);
        if (stress_rand(&th.rng) & 1) {
            /* swap one of mine into the exchange, take what was there */
            unsigned xi = (unsigned)stress_rand_below(&th.rng, XSLOTS);
            pthread_mutex_lock(&c->m);
            hobj *got = c->x[xi];
            c->x[xi] = mine[k];
            pthread_mutex_unlock(&c->m);
            mine[k] = got;
            if (got && hobj_check(got)) {
                hobj_incref(got);
                stress_chaos(&th);
                hobj_decref(got);
            }
        }
        tally_atomic_fetch_add_relaxed(&c->ops, 1);
        tally_atomic_fetch_add_relaxed(&c->r->progress_extra, 1);
        if ((s & 31) == 0)
            tally_safepoint();
    }
    /* leave: drop some of ours, give the rest to the exchange (still owned by us) */
    for (unsigned k = 0; k < 4; k++) {
        if (!mine[k])
            continue;
        if (k & 1) {
            hobj_decref(mine[k]);
            continue;
        }
        unsigned xi = (unsigned)stress_rand_below(&th.rng, XSLOTS);
        pthread_mutex_lock(&c->m);
        hobj *got = c->x[xi];
        c->x[xi] = mine[k];
        pthread_mutex_unlock(&c->m);
        if (got)
            hobj_decref(got);
    }
    tally_thread_release();
    tally_atomic_store_release(&me->finished, 1);
    return NULL;
}

static void *spawner(void *p)
{
    churn *c = p;
    uint64_t seq = 0;
    uint64_t quota = c->r->cfg->ops_set ? c->r->cfg->ops : 0;
    for (;;) {
        bool stop = stress_stopping(c->r) ||
                    (quota && tally_atomic_load_relaxed(&c->ops) >= quota);
        if (stop)
            tally_atomic_store_relaxed(&c->r->stop, 1);
        unsigned alive = 0;
        for (unsigned i = 0; i < c->n; i++) {
            churner *t = &c->t[i];
            if (t->started && tally_atomic_load_acquire(&t->finished)) {
                pthread_join(t->thread, NULL);
                t->started = 0;
            }
            if (!t->started && !stop) {
                t->c = c;
                t->finished = 0;
                t->rng = stress_seed_for(c->r, 1000 + seq++);
                if (pthread_create(&t->thread, NULL, churn_main, t) == 0) {
                    t->started = 1;
                    c->threads_started++;
                }
            }
            alive += t->started;
        }
        if (stop && !alive)
            break;
        struct timespec ts = { 0, 500000 };
        nanosleep(&ts, NULL);
    }
    tally_atomic_store_release(&c->done, 1);
    return NULL;
}

int stress_wl_churn(stress_run *r)
{
    churn *c = calloc(1, sizeof *c);
    if (!c)
        return -1;
    c->r = r;
    c->n = (unsigned)r->cfg->threads;
    c->t = calloc(c->n, sizeof *c->t);
    pthread_mutex_init(&c->m, NULL);
    r->phase = "churn";
    pthread_t sp;
    if (!c->t || pthread_create(&sp, NULL, spawner, c) != 0) {
        free(c->t), free(c);
        return -1;
    }
    stress_monitor_until(r, &c->done);
    TALLY_BEGIN_ALLOW_THREADS
    pthread_join(sp, NULL);
    TALLY_END_ALLOW_THREADS
    r->ops_total += c->ops;
    r->nthreads = c->n;
    /* the exchange: each object is held by the exchange only */
    tally_flush();
    for (unsigned i = 0; i < XSLOTS; i++) {
        hobj *h = c->x[i];
        if (!h)
            continue;
        if (hobj_check(h) && !tally_is_immortal(&h->ob_base) && tally_refcount(&h->ob_base) != 1)
            stress_violation_add(SV_REFCOUNT, 1);
        hobj_decref(h);
    }
    stress_figure_set(r, "churn_threads_started", (double)c->threads_started, true);
    pthread_mutex_destroy(&c->m);
    free(c->t);
    free(c);
    return 0;
}
