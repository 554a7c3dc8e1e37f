/* runtime/fault_inject.c - make a chosen allocation of the library fail (AddressSanitizer builds).
 *
 * Owns: the allocation hook of builds compiled with TALLY_FAULT_INJECTION (CMakeLists.txt turns
 * it on with TALLY_SANITIZE=address).  runtime/internal.h routes the library's malloc, calloc and
 * realloc (and the mi_* names, which map to them in these builds) through the wrappers below.
 * tally_debug_fail_allocation(n) arms a one-shot fault: the n-th allocation from then on (0:
 * the next one) returns NULL, once; tally_debug_fail_allocations(n, count) makes that one and
 * the count-1 after it fail (memory that stays short; count < 0: every one until disarmed with
 * tally_debug_fail_allocation(-1)).  With TALLY_FAULT_TRACE set, the stack of each failing call
 * is printed.  tests/core/test_faults.cc sweeps n over every allocation of a scenario and checks
 * that each API call fails cleanly (an error return, a message, nothing half-done) and that
 * nothing is lost or leaked.  Not built into release libraries.
 *
 * Concurrency: the countdown is one atomic word; a thread that takes it from 1 to 0 (a CAS, so
 * exactly one) is the one whose allocation fails first; from then on each allocation takes one
 * from the run left (atomic), until none is left.
 */
#include "runtime/internal.h"

#if defined(TALLY_FAULT_INJECTION)
#  undef malloc
#  undef calloc
#  undef realloc

#  include <stdlib.h>
void __sanitizer_print_stack_trace(void);

static long fi_countdown;   /* 0: off; k > 0: the k-th allocation from now fails */
static long fi_count = 1;   /* how many fail from there (< 0: all) */
static long fi_run;         /* failures left in the run that started (< 0: unbounded) */
static long fi_failed;      /* faults injected so far */

static bool fault_hit(void)
{
    tally_atomic_fetch_add_relaxed(&fi_failed, 1);
    if (getenv("TALLY_FAULT_TRACE"))   /* where the injected fault lands */
        __sanitizer_print_stack_trace();
    return true;
}

static bool fault_now(void)
{
    long r = tally_atomic_load_relaxed(&fi_run);
    while (r != 0) {   /* a run of failures under way */
        if (r < 0)
            return fault_hit();
        if (tally_atomic_cas(&fi_run, &r, r - 1))
            return fault_hit();
    }
    long c = tally_atomic_load_relaxed(&fi_countdown);
    while (c > 0) {
        if (tally_atomic_cas(&fi_countdown, &c, c - 1)) {
            if (c == 1) {
                long k = tally_atomic_load_relaxed(&fi_count);
                tally_atomic_store_relaxed(&fi_run, k < 0 ? -1 : k - 1);
                return fault_hit();
            }
            return false;
        }
    }
    return false;
}

void *_tally_fault_malloc(size_t n) { return fault_now() ? NULL : malloc(n); }
void *_tally_fault_calloc(size_t n, size_t m) { return fault_now() ? NULL : calloc(n, m); }
void *_tally_fault_realloc(void *p, size_t n) { return fault_now() ? NULL : realloc(p, n); }

TALLY_API void tally_debug_fail_allocations(long n, long count)
{
    tally_atomic_store_relaxed(&fi_run, 0);
    tally_atomic_store_relaxed(&fi_count, count);
    tally_atomic_store_relaxed(&fi_countdown, n < 0 || count == 0 ? 0 : n + 1);
}

TALLY_API void tally_debug_fail_allocation(long n) { tally_debug_fail_allocations(n, 1); }

TALLY_API long tally_debug_failed_allocations(void)
{
    return tally_atomic_load_relaxed(&fi_failed);
}
#endif
