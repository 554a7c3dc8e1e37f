/* tally/atomic.h - the one atomics vocabulary used by Tally's inline fast paths and sources.
 *
 * Owns: thin wrappers over the GCC/Clang __atomic builtins with the memory order in the name
 * (mimalloc style).  Plain integer fields are used in public structs so that the headers also
 * compile as C++ (googletest); every concurrent access to such a field goes through these
 * helpers, in the library, its tests and the stress harness alike.  A name without an order
 * suffix means seq_cst.  A compare-and-swap's suffix is the order of a success; a failure is a
 * load that stored nothing, and orders as said beside each.
 */
#ifndef TALLY_ATOMIC_H
#define TALLY_ATOMIC_H

#define tally_atomic_load_relaxed(p)        __atomic_load_n((p), __ATOMIC_RELAXED)
#define tally_atomic_load_acquire(p)        __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define tally_atomic_load(p)                __atomic_load_n((p), __ATOMIC_SEQ_CST)
#define tally_atomic_store_relaxed(p, v)    __atomic_store_n((p), (v), __ATOMIC_RELAXED)
#define tally_atomic_store_release(p, v)    __atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define tally_atomic_store(p, v)            __atomic_store_n((p), (v), __ATOMIC_SEQ_CST)
#define tally_atomic_fetch_add_relaxed(p, v) __atomic_fetch_add((p), (v), __ATOMIC_RELAXED)
#define tally_atomic_fetch_add_release(p, v) __atomic_fetch_add((p), (v), __ATOMIC_RELEASE)
/* A count whose holder both publishes what it did before and sees what the others did. */
#define tally_atomic_fetch_add_acq_rel(p, v) __atomic_fetch_add((p), (v), __ATOMIC_ACQ_REL)
#define tally_atomic_fetch_add(p, v)        __atomic_fetch_add((p), (v), __ATOMIC_SEQ_CST)
#define tally_atomic_fetch_sub_relaxed(p, v) __atomic_fetch_sub((p), (v), __ATOMIC_RELAXED)
#define tally_atomic_fetch_sub_release(p, v) __atomic_fetch_sub((p), (v), __ATOMIC_RELEASE)
#define tally_atomic_fetch_sub(p, v)        __atomic_fetch_sub((p), (v), __ATOMIC_SEQ_CST)
#define tally_atomic_fetch_or_relaxed(p, v) __atomic_fetch_or((p), (v), __ATOMIC_RELAXED)
#define tally_atomic_fetch_or(p, v)         __atomic_fetch_or((p), (v), __ATOMIC_SEQ_CST)
#define tally_atomic_fetch_and_relaxed(p, v) __atomic_fetch_and((p), (v), __ATOMIC_RELAXED)
#define tally_atomic_fetch_and(p, v)        __atomic_fetch_and((p), (v), __ATOMIC_SEQ_CST)
#define tally_atomic_exchange(p, v)         __atomic_exchange_n((p), (v), __ATOMIC_SEQ_CST)
#define tally_atomic_exchange_acq_rel(p, v) __atomic_exchange_n((p), (v), __ATOMIC_ACQ_REL)
/* Compare-and-swap, strong unless named weak; *expected is updated on failure.  The suffix is the
 * order of a success; a failure (a load that stored nothing) orders as listed:
 *   cas                  seq_cst; failure seq_cst
 *   cas_acq_rel          acq_rel; failure acquire (the caller goes on with *expected)
 *   cas_acquire          acquire (taking a lock, a reference: the winner sees what the last
 *                        releaser did); failure relaxed (the loser orders nothing on it)
 *   cas_acquire_acquire  acquire; failure acquire (the caller decides on the value a failure
 *                        read, then loads what the writer of that value released)
 *   cas_weak_acquire     as cas_acquire, but may fail spuriously (retry loops)
 *   cas_release          release (publishing a value, an atomic maximum: what the caller wrote
 *                        before happens before an acquire load of the new value); failure relaxed
 *   cas_relaxed          relaxed; failure relaxed */
#define TALLY_CAS_(p, e, d, weak, s, f) __atomic_compare_exchange_n((p), (e), (d), (weak), (s), (f))
#define tally_atomic_cas(p, e, d) TALLY_CAS_(p, e, d, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)
#define tally_atomic_cas_acq_rel(p, e, d) TALLY_CAS_(p, e, d, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)
#define tally_atomic_cas_acquire(p, e, d) TALLY_CAS_(p, e, d, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)
#define tally_atomic_cas_acquire_acquire(p, e, d) TALLY_CAS_(p, e, d, 0, __ATOMIC_ACQUIRE, __ATOMIC_ACQUIRE)
#define tally_atomic_cas_weak_acquire(p, e, d) TALLY_CAS_(p, e, d, 1, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)
#define tally_atomic_cas_release(p, e, d) TALLY_CAS_(p, e, d, 0, __ATOMIC_RELEASE, __ATOMIC_RELAXED)
#define tally_atomic_cas_relaxed(p, e, d) TALLY_CAS_(p, e, d, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED)
#define tally_atomic_fence_acquire()        __atomic_thread_fence(__ATOMIC_ACQUIRE)
#define tally_atomic_fence_release()        __atomic_thread_fence(__ATOMIC_RELEASE)
#define tally_atomic_fence()                __atomic_thread_fence(__ATOMIC_SEQ_CST)

/* An acquire fence after a load of *p that decided something (Linux smp_acquire__after_ctrl_dep).
 * ThreadSanitizer does not model standalone fences, so under TSan this is an acquire re-load
 * of the same location, which gives the same happens-before edge. */
#if defined(__SANITIZE_THREAD__)
#  define TALLY_TSAN 1
#elif defined(__has_feature)
#  if __has_feature(thread_sanitizer)
#    define TALLY_TSAN 1
#  endif
#endif
#ifdef TALLY_TSAN
#  define tally_atomic_acquire_after(p) ((void)__atomic_load_n((p), __ATOMIC_ACQUIRE))
#else
#  define tally_atomic_acquire_after(p) __atomic_thread_fence(__ATOMIC_ACQUIRE)
#endif

#define tally_likely(x)   __builtin_expect(!!(x), 1)
#define tally_unlikely(x) __builtin_expect(!!(x), 0)

#endif /* TALLY_ATOMIC_H */
