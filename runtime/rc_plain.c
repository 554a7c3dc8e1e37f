/* runtime/rc_plain.c - the backend interface for plain (non-atomic) counts: `gil` and `racy`.
 *
 * Owns: everything of the backend interface (runtime/internal.h) except init/fini, which
 * rc_gil.c and rc_racy.c provide.  The count is ob_ref_local, written with plain stores.
 * gil: every access happens with the GIL held (ordered by its mutex).  racy: nothing orders
 * them; that is the point of the negative control.  Nothing is deferred: flush and the
 * collector's prepare/after steps do nothing, and the collector reads the count as it is.
 */
#include "runtime/internal.h"

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
    o->ob_ref_local = 1;
}

intptr_t _tally_rc_get(tally_object *o)
{
    return (intptr_t)o->ob_ref_local;
}

void _tally_rc_set_immortal(tally_object *o)
{
    o->ob_ref_local = TALLY_IMMORTAL_REFCNT;
}

bool _tally_rc_try_incref(tally_object *o)
{
    uint32_t n = o->ob_ref_local;
    if (n == 0 || _TALLY_REFCNT_IS_DEAD(n))   /* dead (debug mode: destroyed, quarantined) */
        return false;
    if (n != TALLY_IMMORTAL_REFCNT)
        o->ob_ref_local = n + 1;
    return true;
}

void _tally_rc_resurrect_begin(tally_object *o)
{
    o->ob_ref_local = 1;
}

bool _tally_rc_resurrect_end(tally_object *o)
{
    uint32_t n = o->ob_ref_local;
    if (n == TALLY_IMMORTAL_REFCNT)
        return true;
    o->ob_ref_local = --n;
    return n != 0;
}

void _tally_rc_flush(void) {}
void _tally_rc_gc_prepare(void) {}
void _tally_rc_gc_after(void) {}
void _tally_rc_fork_child(void) {}
