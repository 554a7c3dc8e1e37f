/* tally/static/rc_plain.h - inline refcount fast path of the `gil` and `racy` backends.
 *
 * Owns: non-atomic increments and decrements of ob_ref_local.
 *
 * Memory ordering: none.  `gil`: every thread that touches an object holds the GIL, whose
 * mutex hand-over (release in drop, acquire in take) orders all count updates.  `racy`: no
 * ordering and no lock at all; concurrent updates lose counts on purpose (negative control).
 *
 * Saturation: an increment that reaches TALLY_IMMORTAL_REFCNT makes the object immortal.
 */
#ifndef TALLY_STATIC_RC_PLAIN_H
#define TALLY_STATIC_RC_PLAIN_H

#define TALLY_HAVE_INLINE_REFCOUNT 1

static inline void _tally_incref_fast(tally_object *o)
{
    uint32_t n = o->ob_ref_local + 1;
    if (tally_unlikely(n == 0))
        return; /* immortal: no write */
    o->ob_ref_local = n;
}

static inline void _tally_decref_fast(tally_object *o)
{
    uint32_t n = o->ob_ref_local;
    if (tally_unlikely(n == TALLY_IMMORTAL_REFCNT))
        return;
#ifdef TALLY_DEBUG
    if (tally_unlikely(n == 0)) {
        _tally_refcount_error(o, "decref of an object whose refcount is already 0");
        return;
    }
    if (tally_unlikely(_TALLY_REFCNT_IS_DEAD(n))) {
        _tally_refcount_dead_error(o, "decref");
        return;
    }
#endif
    o->ob_ref_local = --n;
    if (n == 0)
        _tally_dealloc(o);
}

#endif
