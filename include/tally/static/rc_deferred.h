/* tally/static/rc_deferred.h - inline refcount fast path of the `deferred` backend.
 *
 * Owns: the append of an increment or decrement to the calling thread's refcount log
 * (buffered reference counting after the Recycler, Bacon et al. PLDI 2001).  Nothing is
 * written to the object and no atomic instruction runs.  runtime/rc_deferred.c applies the
 * logs in epochs.
 *
 * Log entry: the object pointer, with bit 0 set for a decrement.  A decrement of the object
 * whose increment is the newest entry cancels it (a pair on one object by one thread is net
 * zero and that thread holds a reference throughout), so short-lived borrows never reach the
 * reconciler.  The newest increment is held in `last` before it is written to the log: the
 * next increment writes it out, a decrement of the same object drops it (a borrow costs two
 * stores to `last` and nothing else).  The order of entries within a log does not matter to the
 * reconciler (a log's increments are applied one epoch before its decrements), so decrements
 * of other objects may be appended meanwhile.  Every buffer has one slot past `end`, where
 * shipping writes a pending `last` (runtime/rc_deferred.c accounts for it everywhere).
 *
 * Memory ordering: the log is thread-private; its hand-over to the reconciler is ordered by
 * the reconciler's lock (see runtime/rc_deferred.c).  The immortality test is a relaxed load.
 * An unattached thread has pos == end == NULL and always takes the slow path, which reports it.
 */
#ifndef TALLY_STATIC_RC_DEFERRED_H
#define TALLY_STATIC_RC_DEFERRED_H

#define TALLY_HAVE_INLINE_REFCOUNT 1

struct _tally_rclog {
    uintptr_t *pos;   /* next free entry */
    uintptr_t *end;   /* one past the last entry; pos == end: full (or not attached) */
    uintptr_t *base;  /* first entry */
    uintptr_t last;   /* an increment not yet written to the log (0: none) */
};

#ifdef __cplusplus
extern thread_local struct _tally_rclog _tally_rclog_tls __attribute__((tls_model("initial-exec")));
#else
extern _Thread_local struct _tally_rclog _tally_rclog_tls __attribute__((tls_model("initial-exec")));
#endif

/* Log full (or thread not attached): reconcile, then record the operation. */
TALLY_API void _tally_deferred_log_slow(tally_object *o, uintptr_t is_decref);

static inline void _tally_incref_fast(tally_object *o)
{
    if (tally_unlikely(tally_atomic_load_relaxed(&o->ob_ref_local) == TALLY_IMMORTAL_REFCNT))
        return;
    struct _tally_rclog *l = &_tally_rclog_tls;
    if (tally_unlikely(l->pos == l->end)) {
        _tally_deferred_log_slow(o, 0);
        return;
    }
    uintptr_t prev = l->last;
    l->last = (uintptr_t)o;
    if (prev)
        *l->pos++ = prev;
}

static inline void _tally_decref_fast(tally_object *o)
{
    if (tally_unlikely(tally_atomic_load_relaxed(&o->ob_ref_local) == TALLY_IMMORTAL_REFCNT))
        return;
    struct _tally_rclog *l = &_tally_rclog_tls;
    if (l->last == (uintptr_t)o) {
        l->last = 0; /* cancels this thread's own pending increment */
        return;
    }
    if (tally_unlikely(l->pos == l->end)) {
        _tally_deferred_log_slow(o, 1);
        return;
    }
    *l->pos++ = (uintptr_t)o | 1u;
}

#endif
