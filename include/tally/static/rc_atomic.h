/* tally/static/rc_atomic.h - inline refcount fast path of the `atomic` backend.
 *
 * Owns: atomic increments and decrements of ob_ref_local, after Linux's refcount_t contract.
 *
 * Memory ordering (as include/linux/refcount.h documents it):
 *  - increment: relaxed.  The caller already holds a reference, so the object cannot be freed
 *    under it and no other memory access needs ordering against the increment.
 *  - decrement: release.  Every access this thread made to the object happens before the
 *    decrement is visible; on the 1 -> 0 transition an acquire fence pairs with the release
 *    decrements of all other threads, so the destructor sees all their writes (RELEASE/ACQUIRE
 *    on the last put).
 *
 * Saturation: the count is 32-bit; an increment that reaches TALLY_IMMORTAL_REFCNT leaves the
 * object immortal.  Immortal objects are tested with a relaxed load first and never written.
 */
#ifndef TALLY_STATIC_RC_ATOMIC_H
#define TALLY_STATIC_RC_ATOMIC_H

#define TALLY_HAVE_INLINE_REFCOUNT 1

static inline void _tally_incref_fast(tally_object *o)
{
    if (tally_unlikely(tally_atomic_load_relaxed(&o->ob_ref_local) == TALLY_IMMORTAL_REFCNT))
        return;
    tally_atomic_fetch_add_relaxed(&o->ob_ref_local, 1);
}

static inline void _tally_decref_fast(tally_object *o)
{
    if (tally_unlikely(tally_atomic_load_relaxed(&o->ob_ref_local) == TALLY_IMMORTAL_REFCNT))
        return;
    uint32_t old = tally_atomic_fetch_sub_release(&o->ob_ref_local, 1);
    if (tally_unlikely(old == 1)) {
        tally_atomic_acquire_after(&o->ob_ref_local); /* pairs with the release decrements of other threads */
        _tally_dealloc(o);
    }
#ifdef TALLY_DEBUG
    else if (tally_unlikely(old == 0))
        _tally_refcount_error(o, "decref of an object whose refcount is already 0");
#endif
}

#endif
