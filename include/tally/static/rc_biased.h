/* tally/static/rc_biased.h - inline refcount fast path of the `biased` backend.
 *
 * Owns: the owner/non-owner split of biased reference counting (Choi, Shull, Torrellas,
 * PACT 2018; CPython 3.13t Include/refcount.h).  The slow paths live in runtime/rc_biased.c.
 *
 * Fields: ob_tid = owner thread id (never reused; 0 = unowned/merged), ob_ref_local = count only
 * the owner writes, ob_ref_shared = (count << TALLY_REF_SHARED_SHIFT) | in-queue bit | state,
 * written with atomics by everyone.  States only move upward: DEFAULT -> MAYBE_WEAKREF ->
 * QUEUED -> MERGED.  TALLY_REF_IN_QUEUE goes with MERGED only: the owner merged the object
 * while it was QUEUED, so a merge queue still holds it and the count includes that queue's
 * reference (which the program already dropped) until the queue's merge removes both.
 *
 * Memory ordering:
 *  - owner increment/decrement: relaxed load + relaxed store of ob_ref_local (single writer);
 *    other threads read it only with relaxed loads, or with the world stopped.
 *  - non-owner increment: relaxed fetch_add on ob_ref_shared (the caller holds a reference).
 *  - non-owner decrement: release CAS in _tally_biased_decref_shared(); the thread that frees
 *    acquires first (see runtime/rc_biased.c).
 */
#ifndef TALLY_STATIC_RC_BIASED_H
#define TALLY_STATIC_RC_BIASED_H

#include <tally/static/thread_id.h>

#define TALLY_HAVE_INLINE_REFCOUNT 1

#define TALLY_REF_SHARED_SHIFT    3
#define TALLY_REF_SHARED_FLAG_MASK 0x3   /* the state */
#define TALLY_REF_IN_QUEUE        0x4    /* with MERGED: still in a merge queue (see above) */
#define TALLY_REF_DEFAULT         0x0
#define TALLY_REF_MAYBE_WEAKREF   0x1
#define TALLY_REF_QUEUED          0x2
#define TALLY_REF_MERGED          0x3

/* Traits (runtime/internal.h, "backend traits"): free-threaded; the count is split over two
 * words, so a decref below zero is found by the slow paths, a quarantined object keeps MERGED
 * in its shared word, and the collector's count adds both words. */
#define TALLY_RC_FREE_THREADED 1
#define TALLY_RC_CHECKS_NEGATIVE_DECREF 1
#define TALLY_RC_DEAD_SHARED ((intptr_t)TALLY_REF_MERGED)
#define TALLY_RC_HAVE_GC_REFCOUNT 1
/* The true count with the world stopped, after _tally_rc_gc_prepare merged every queue (the
 * collector reads it once per object; runtime/internal.h): the owner's local part plus the shared
 * part, merged or not; immortal stays the marker.  Relaxed loads for the sanitizers. */
static inline intptr_t _tally_rc_gc_refcount(tally_object *o)
{
    uint32_t local = tally_atomic_load_relaxed(&o->ob_ref_local);
    if (local == TALLY_IMMORTAL_REFCNT)
        return (intptr_t)TALLY_IMMORTAL_REFCNT;
    return (intptr_t)local + (tally_atomic_load_relaxed(&o->ob_ref_shared) >> TALLY_REF_SHARED_SHIFT);
}

TALLY_API void _tally_biased_merge_zero_local(tally_object *o);
TALLY_API void _tally_biased_decref_shared(tally_object *o);

static inline void _tally_incref_fast(tally_object *o)
{
    uint32_t local = tally_atomic_load_relaxed(&o->ob_ref_local);
    uint32_t n = local + 1;
    if (tally_unlikely(n == 0))
        return; /* immortal: no write */
    if (tally_likely(tally_atomic_load_relaxed(&o->ob_tid) == _tally_thread_id()))
        tally_atomic_store_relaxed(&o->ob_ref_local, n);
    else
        tally_atomic_fetch_add_relaxed(&o->ob_ref_shared, (intptr_t)1 << TALLY_REF_SHARED_SHIFT);
}

static inline void _tally_decref_fast(tally_object *o)
{
    uint32_t local = tally_atomic_load_relaxed(&o->ob_ref_local);
    if (tally_unlikely(local == TALLY_IMMORTAL_REFCNT))
        return;
    if (tally_likely(tally_atomic_load_relaxed(&o->ob_tid) == _tally_thread_id())) {
#ifdef TALLY_DEBUG
        if (tally_unlikely(local == 0)) {
            _tally_refcount_error(o, "tally_decref: negative refcount (owner decref of an object whose local count is already 0)");
            return;
        }
#endif
        tally_atomic_store_relaxed(&o->ob_ref_local, --local);
        if (tally_unlikely(local == 0))
            _tally_biased_merge_zero_local(o);
    } else {
        _tally_biased_decref_shared(o);
    }
}

#endif
