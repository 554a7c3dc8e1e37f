/* stress/workloads/hammer.c - every thread increments and decrements one shared object.
 *
 * Owns: the lost-update detector.  Rounds: the threads meet at a spinning rendezvous (so that
 * their bursts overlap in time rather than follow each other's barrier wake-ups), then each
 * thread does `burst` increments of the shared
 * object, then `burst` decrements (a compiler barrier between operations keeps every one of
 * them a separate read-modify-write), flushes its deferred operations and waits at a barrier.
 * Thread 0 then checks, with every other thread parked detached at the barrier, that
 * tally_refcount() equals the `cushion` references it holds: with correct counts the increments
 * and decrements of a round cancel exactly; with racy counts some are lost and the count is
 * off.  A wrong count is one refcount violation (and its drift is recorded); thread 0 restores
 * the count with single-threaded increments/decrements, so the next round starts clean.
 * The cushion is 2 * threads * burst (the most a round can move any value written) capped at
 * 2^22, so a racy count rarely reaches zero; if it does, the stress.obj del check counts an
 * early free and resurrects the object (immortal), and the following rounds report it.
 * Long bursts (default 2^22, several milliseconds each: longer than a time slice) span
 * scheduler ticks, so even on a loaded
 * machine where the threads rarely run at the same time a thread is preempted between the
 * load and the store of a racy increment while another one runs its burst.
 * Thread 0 creates the object (biased: it is the owner; the others are non-owners, shared
 * counts and merges) and releases the cushion at the end.
 */
#include "harness.h"

#include <sched.h>
#include <stdlib.h>

typedef struct hammer {
    hobj *obj;
    uint64_t cushion, burst;
    stress_barrier bar;
    int go;                   /* written by thread 0 before it arrives at the rendezvous */
    unsigned nthreads;
    uint64_t arrived;         /* rendezvous: arrivals so far (release add / acquire load) */
    uint64_t rounds, bad_rounds;
    int64_t max_drift;
} hammer;

#define COMPILER_BARRIER() __asm__ volatile("" ::: "memory")

static void check_round(stress_thread *th, hammer *s)
{
    tally_object *o = &s->obj->ob_base;
    tally_flush();
    intptr_t rc = tally_refcount(o);
    s->rounds++;
    if (rc != (intptr_t)s->cushion) {
        int64_t drift = (int64_t)rc - (int64_t)s->cushion;
        stress_violation_add(SV_REFCOUNT, 1);
        s->bad_rounds++;
        if (llabs(drift) > llabs(s->max_drift))
            s->max_drift = drift;
        if (!tally_is_immortal(o)) {
            /* every other thread is parked: these are exact */
            for (; rc < (intptr_t)s->cushion; rc++)
                tally_incref(o);
            for (; rc > (intptr_t)s->cushion; rc--)
                tally_decref(o);
            tally_flush();
        }
    }
    if (!hobj_check(s->obj))
        s->go = 0;
    else
        s->go = !stress_done(th);
}

/* All threads arrive (detached, spinning with yields) before any leaves: round r completes
 * when r * nthreads arrivals were counted.  The release add of thread 0 publishes `go`; the
 * acquire loads that see every arrival read it. */
static void rendezvous(hammer *s, uint64_t round)
{
    uint64_t want = round * s->nthreads;
    TALLY_BEGIN_ALLOW_THREADS
    tally_atomic_fetch_add_release(&s->arrived, 1);
    unsigned spins = 0;
    while (tally_atomic_load_acquire(&s->arrived) < want) {
        if (++spins > 64)
            sched_yield();
    }
    TALLY_END_ALLOW_THREADS
}

static void hammer_thread(stress_thread *th)
{
    hammer *s = th->arg;
    if (th->index == 0) {
        s->obj = hobj_new(0xA11);
        /* the cushion: thread 0 holds this many references (model, then runtime) */
        tally_atomic_store_relaxed(&s->obj->held, (int64_t)s->cushion);
        for (uint64_t i = 1; i < s->cushion; i++)
            tally_incref(&s->obj->ob_base);
        tally_flush();
    }
    stress_barrier_wait(&s->bar);
    tally_object *o = &s->obj->ob_base;
    uint64_t burst = s->burst;
    for (uint64_t round = 1;; round++) {
        rendezvous(s, round);
        if (!s->go)
            break;
        /* increments (cut short when the run is stopping), then exactly as many decrements */
        uint64_t done = 0;
        for (; done < burst; done++) {
            tally_incref(o);
            COMPILER_BARRIER();
            if ((done & 255) == 255) {
                stress_chaos(th);
                tally_safepoint();
                if ((done & 65535) == 65535 && stress_stopping(th->run)) {
                    done++;
                    break;
                }
            }
        }
        for (uint64_t i = 0; i < done; i++) {
            tally_decref(o);
            COMPILER_BARRIER();
            if ((i & 255) == 255) {
                stress_chaos(th);
                tally_safepoint();
            }
        }
        stress_op(th, 2 * done);
        tally_flush();
        stress_barrier_wait(&s->bar);
        if (th->index == 0)
            check_round(th, s);
    }
    if (th->index == 0) {
        /* drop the cushion: the model first (so the death is not an early free) */
        tally_atomic_store_relaxed(&s->obj->held, 0);
        if (!tally_is_immortal(o))
            for (uint64_t i = 0; i < s->cushion; i++)
                tally_decref(o);
        tally_flush();
    }
}

int stress_wl_hammer(stress_run *r)
{
    const stress_config *c = r->cfg;
    hammer s = { 0 };
    s.burst = c->burst ? c->burst : 4194304;
    /* the cushion (2 * threads * burst) must stay far below the immortal count */
    if (s.burst > (UINT64_C(1) << 31) / (2 * c->threads))
        s.burst = (UINT64_C(1) << 31) / (2 * c->threads);
    s.nthreads = (unsigned)c->threads;
    s.go = 1;
    /* 2 * threads * burst bounds how far a round can move the count; above 2^22 the cushion
     * is capped (its set-up would cost more than a round): a racy drift beyond it kills the
     * object, which the del check then counts as an early free and keeps alive */
    s.cushion = 2 * c->threads * s.burst + 16;
    if (s.cushion > (UINT64_C(1) << 22) + 16)
        s.cushion = (UINT64_C(1) << 22) + 16;
    if (stress_barrier_init(&s.bar, (unsigned)c->threads) != 0)
        return -1;
    r->phase = "hammer";
    int rc = stress_run_threads(r, (unsigned)c->threads, hammer_thread, &s,
                                c->ops_set ? c->ops : 0);
    stress_barrier_destroy(&s.bar);
    stress_figure_set(r, "hammer_rounds", (double)s.rounds, true);
    stress_figure_set(r, "hammer_bad_rounds", (double)s.bad_rounds, true);
    stress_figure_set(r, "hammer_max_drift", (double)s.max_drift, true);
    stress_figure_set(r, "hammer_burst", (double)s.burst, true);
    return rc;
}
