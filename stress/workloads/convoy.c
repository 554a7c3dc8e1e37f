/* stress/workloads/convoy.c - wake-up latency of a sleeping thread next to CPU-bound threads.
 *
 * Owns: the GIL convoy measurement (bpo-7946).  Thread 0 sleeps 1 ms detached, then attaches
 * again and records the time from waking up to being attached (and so, under the GIL, to
 * holding it): `wake_to_run_ns`.  The other threads are CPU-bound: they count references on a
 * private object and pass safepoints, never blocking.  gil: the sleeper waits for a holder to
 * drop the GIL, up to the switch interval; free-threaded backends: the same measurement shows
 * the attach cost alone.  Also records the sleep's own overshoot (`sleep_overshoot_ns`).
 */
#include "harness.h"

#include <assert.h>
#include <stdlib.h>
#include <time.h>

typedef struct convoy {
    stress_hist wake[1];
    stress_hist overshoot[1];
    unsigned spinners_left;     /* atomic */
    uint64_t ops;               /* --ops: operations of the CPU-bound threads in all; 0: timed */
    unsigned spinners;
} convoy;

static void spinner(stress_thread *th, convoy *s)
{
    hobj *h = hobj_new(th->index);
    /* --ops N: the CPU-bound threads share N exactly (the sleeper's wake-ups come on top) */
    unsigned k = th->index - 1;
    uint64_t quota = s->ops ? s->ops / s->spinners + (k < s->ops % s->spinners ? 1 : 0) : 0;
    while (!stress_stopping(th->run) && (!quota || th->ops < quota)) {
        uint64_t batch = quota && quota - th->ops < 64 ? quota - th->ops : 64;
        for (uint64_t i = 0; i < batch; i++) {
            hobj_incref(h);
            hobj_decref(h);
        }
        stress_op(th, batch);
        tally_safepoint();
    }
    hobj_decref(h);
    tally_atomic_fetch_sub_relaxed(&s->spinners_left, 1);
}

static void sleeper(stress_thread *th, convoy *s)
{
    while (!stress_stopping(th->run) && tally_atomic_load_relaxed(&s->spinners_left)) {
        uint64_t t0 = stress_now_ns(), woke = 0;
        TALLY_BEGIN_ALLOW_THREADS
        struct timespec ts = { 0, 1000000 };
        nanosleep(&ts, NULL);
        woke = stress_now_ns();
        TALLY_END_ALLOW_THREADS
        uint64_t ran = stress_now_ns();
        stress_hist_add(s->wake, ran - woke);
        stress_hist_add(s->overshoot, woke - t0 > 1000000 ? woke - t0 - 1000000 : 0);
        stress_op(th, 1);
    }
}

static void convoy_thread(stress_thread *th)
{
    convoy *s = th->arg;
    if (th->index == 0)
        sleeper(th, s);
    else
        spinner(th, s);
}

int stress_wl_convoy(stress_run *r)
{
    convoy *s = calloc(1, sizeof *s);
    if (!s)
        return -1;
    stress_hist_init(s->wake);
    stress_hist_init(s->overshoot);
    /* stress_options_parse refuses fewer than 2 (the sleeper and a CPU-bound thread), so the
     * thread count in the JSON is the one that ran */
    assert(r->cfg->threads >= 2);
    unsigned n = (unsigned)r->cfg->threads;
    s->spinners_left = n - 1;
    s->spinners = n - 1;
    s->ops = r->cfg->ops_set ? r->cfg->ops : 0;
    r->phase = "convoy";
    /* --ops: the CPU-bound threads share the operations (their own quotas, above); the sleeper
     * runs until they finish */
    int rc = stress_run_threads(r, n, convoy_thread, s, 0);
    stress_hist *w = malloc(sizeof *w), *o = malloc(sizeof *o);
    if (w && o) {
        *w = *s->wake;
        *o = *s->overshoot;
        stress_hist_publish(r, "wake_to_run_ns", w);
        stress_hist_publish(r, "sleep_overshoot_ns", o);
    } else {
        free(w), free(o);
    }
    stress_figure_set(r, "convoy_wakeups", (double)s->wake->count, true);
    stress_figure_set(r, "convoy_cpu_threads", n - 1, true);
    free(s);
    return rc;
}
