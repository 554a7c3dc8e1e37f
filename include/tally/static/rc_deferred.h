/* tally/static/rc_deferred.h - inline refcount fast path of the `deferred` backend.
 *
 * Owns: the append of an increment or decrement to the calling thread's refcount log
 * (buffered reference counting after the Recycler, Bacon et al. PLDI 2001).  Nothing is
 * written to the object and no atomic instruction runs.  runtime/rc_deferred*.c apply the
 * logs in epochs.
 *
 * Log entry: the object pointer, with bit 0 set for a decrement.  The newest increment is held
 * in `last` before it is written to the log: the next increment spills it, a decrement of the
 * same object drops it (a pair on one object by one thread is net zero and that thread holds a
 * reference throughout), so a short-lived borrow costs a load and a store of `last` on each
 * side, reads nothing of the object and never reaches the reconciler.  Immortal objects are
 * filtered where an entry is written (a spill, a decrement): they never enter a log, so the
 * reconciler never touches their headers.  The order of entries within a log does not matter
 * to the reconciler (a log's increments are applied one epoch before its decrements), so
 * decrements of other objects may be appended meanwhile.  Every buffer has one slot past `end`,
 * where shipping writes a pending `last` (runtime/rc_deferred*.c account for it everywhere).
 *
 * Threads without a log (never attached, detached): pos == end == NULL and `last` holds the
 * address of an immortal sentinel object of the library, never 0, so an increment always finds
 * something to spill and reaches the slow path, which reports the misuse and puts the sentinel
 * back; a decrement finds `last` != o and reaches the slow path through pos == end.
 *
 * Memory ordering: the log is thread-private; its hand-over to the reconciler is ordered by
 * the reconciler's lock (see runtime/rc_deferred.c).  The immortality test is a relaxed load.
 */
#ifndef TALLY_STATIC_RC_DEFERRED_H
#define TALLY_STATIC_RC_DEFERRED_H

#define TALLY_HAVE_INLINE_REFCOUNT 1

/* Traits (runtime/internal.h, "backend traits"): free-threaded; the reconciled count lags the
 * logs, so a decref below zero is found when the logs are applied; the collector's clear loop
 * settles the deaths its own decrements hold back (_tally_rc_gc_settle); container items are
 * marked shared only with their container; the runtime's release loops never park (a release
 * may be applying decrements directly: runtime/rc_deferred_cascade.c). */
#define TALLY_RC_FREE_THREADED 1
#define TALLY_RC_CHECKS_NEGATIVE_DECREF 1
#define TALLY_RC_GC_SETTLE 1
#define TALLY_RC_ITEMS_MARKED_LAZILY 1
#define TALLY_RC_NO_POLL_STOP 1

struct _tally_rclog {
    uintptr_t *pos;   /* next free entry */
    uintptr_t *end;   /* one past the last entry; pos == end: full (or not attached) */
    uintptr_t *base;  /* first entry */
    uintptr_t last;   /* an increment not yet written to the log (0: none) */
};

#ifdef __cplusplus
/* __thread, not thread_local: a C++ thread_local defined elsewhere may need dynamic
 * initialisation, so every access would first test for (and call) a TLS wrapper function;
 * __thread promises constant initialisation, as the C definition has. */
extern __thread struct _tally_rclog _tally_rclog_tls __attribute__((tls_model("initial-exec")));
#else
extern _Thread_local struct _tally_rclog _tally_rclog_tls __attribute__((tls_model("initial-exec")));
#endif

/* Log full (or thread not attached): ship the log, then record the operation.  entry != 0: that
 * log entry; entry == 0: an increment of o through `last`, spill being the previous `last`. */
TALLY_API void _tally_deferred_log_slow(tally_object *o, uintptr_t entry, uintptr_t spill);

static inline void _tally_incref_fast(tally_object *o)
{
    struct _tally_rclog *l = &_tally_rclog_tls;
    uintptr_t prev = l->last;
    l->last = (uintptr_t)o;
    if (prev) {
        /* Spill the previous pending increment (prev is alive: this thread holds it). */
        if (tally_unlikely(l->pos == l->end)) {
            _tally_deferred_log_slow(o, 0, prev);
            return;
        }
        if (tally_likely(tally_atomic_load_relaxed(&((tally_object *)prev)->ob_ref_local) != TALLY_IMMORTAL_REFCNT))
            *l->pos++ = prev;
    }
}

static inline void _tally_decref_fast(tally_object *o)
{
    struct _tally_rclog *l = &_tally_rclog_tls;
    if (l->last == (uintptr_t)o) {
        l->last = 0; /* cancels this thread's own pending increment */
        return;
    }
    if (tally_unlikely(tally_atomic_load_relaxed(&o->ob_ref_local) == TALLY_IMMORTAL_REFCNT))
        return;
    if (tally_unlikely(l->pos == l->end)) {
        _tally_deferred_log_slow(o, (uintptr_t)o | 1u, 0);
        return;
    }
    *l->pos++ = (uintptr_t)o | 1u;
}

#endif
