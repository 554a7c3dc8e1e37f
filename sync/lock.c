/* sync/lock.c - the slow path of the one-byte per-object lock (ob_mutex).
 *
 * Owns: contention handling for _tally_object_lock() (runtime/internal.h).  Test-and-test-and-set:
 * spin on a relaxed load with a pause, then yield the CPU, then sleep briefly, so a holder that
 * was preempted on a 2-core machine gets to run.  Acquire on success pairs with the release store
 * in _tally_object_unlock().  Critical sections are short and never run user code (no decref,
 * no allocation, no safepoint) while the lock is held, so no stop-the-world can wait on a holder.
 */
#include "runtime/internal.h"

#include <sched.h>
#include <time.h>

void _tally_mutex_lock_slow(uint8_t *m)
{
    for (unsigned spins = 0;; spins++) {
        if (tally_atomic_load_relaxed(m) == 0) {
            uint8_t expected = 0;
            if (tally_atomic_cas_acquire(m, &expected, 1))
                return;
        }
        if (spins < 64) {
            _tally_cpu_relax();
        } else if (spins < 128) {
            sched_yield();
        } else {
            struct timespec ts = { 0, 20000 }; /* 20 us */
            int c = _tally_nocancel_begin();   /* nanosleep is a cancellation point */
            nanosleep(&ts, NULL);
            _tally_nocancel_end(c);
        }
    }
}
