/* runtime/rc_atomic.c - the `atomic` backend: one atomic count per object.
 *
 * Owns: the backend interface (runtime/internal.h) for atomic counts.  The fast paths are in
 * include/tally/static/rc_atomic.h (relaxed increment; release decrement with an acquire edge
 * on reaching zero, Linux refcount.h's contract).  Threads are registered with urcu-qsbr (by
 * runtime/thread_state.c) so that lock-free container reads and try-increments never touch freed
 * memory (sync/qsbr.c).
 *
 * Conditional increment (_tally_rc_try_incref): a CAS loop that never raises a count from zero,
 * so a reader racing the last decrement either gets its reference before the count reached zero
 * (and the object lives) or fails; the memory it reads is kept valid by QSBR.
 */
#include "runtime/internal.h"

int _tally_rc_init(const tally_options *opt) { (void)opt; return 0; }
void _tally_rc_fini(void) {}

/* Nothing per thread: the QSBR registration, online/offline and quiescent states the lock-free
 * readers need are made around these hooks by runtime/thread_state.c. */
int _tally_rc_thread_init(tally_thread_state *ts) { (void)ts; return 0; }
void _tally_rc_thread_fini(tally_thread_state *ts) { (void)ts; }
void _tally_rc_on_attach(tally_thread_state *ts) { (void)ts; }
void _tally_rc_on_detach(tally_thread_state *ts) { (void)ts; }
void _tally_rc_safepoint(tally_thread_state *ts) { (void)ts; }

void _tally_rc_handle_pending(tally_thread_state *ts, unsigned bits)
{
    tally_atomic_fetch_and(&ts->breaker, ~bits);
}

void _tally_rc_object_init(tally_object *o, tally_thread_state *ts)
{
    (void)ts;
    o->ob_ref_local = 1; /* not yet visible to any other thread */
}

intptr_t _tally_rc_get(tally_object *o)
{
    return (intptr_t)tally_atomic_load_relaxed(&o->ob_ref_local);
}

static inline bool is_immortal(tally_object *o)
{
    return tally_atomic_load_relaxed(&o->ob_tid) != 0;
}

/* The count first, then the mark: a thread that still misses the mark and writes the saturated
 * count repairs it itself (tally/static/rc_atomic.h). */
void _tally_rc_set_immortal(tally_object *o)
{
    tally_atomic_store_relaxed(&o->ob_ref_local, TALLY_IMMORTAL_REFCNT);
    tally_atomic_store_relaxed(&o->ob_tid, TALLY_ATOMIC_IMMORTAL_MARK);
}

bool _tally_rc_try_incref(tally_object *o)
{
    if (is_immortal(o))
        return true;
    uint32_t n = tally_atomic_load_relaxed(&o->ob_ref_local);
    for (;;) {
        if (n == 0 || _TALLY_REFCNT_IS_DEAD(n))   /* dead (debug mode: destroyed, quarantined) */
            return false;
        if (n == TALLY_IMMORTAL_REFCNT)
            return true;
        /* Acquire on success: pairs with the release of the thread that published o (a
         * container write), so the reader sees the object's initialised contents. */
        if (tally_atomic_cas_weak_acquire(&o->ob_ref_local, &n, n + 1))
            return true;
    }
}

void _tally_rc_resurrect_begin(tally_object *o)
{
    tally_atomic_store_relaxed(&o->ob_ref_local, 1);
}

bool _tally_rc_resurrect_end(tally_object *o)
{
    if (is_immortal(o))
        return true;
    uint32_t old = tally_atomic_fetch_sub_release(&o->ob_ref_local, 1);
    if (old == 1) {
        tally_atomic_acquire_after(&o->ob_ref_local);
        return false;
    }
    return true;
}

void _tally_rc_flush(void) {}
void _tally_rc_gc_prepare(void) {}
void _tally_rc_gc_after(void) {}
void _tally_rc_fork_child(void) {}
