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
 * Immortality: an immortal object has ob_ref_local == TALLY_IMMORTAL_REFCNT *and* the mark
 * TALLY_ATOMIC_IMMORTAL_MARK in ob_tid (a word this backend does not otherwise use).  The fast
 * paths test the mark, not the count: on x86 a load of the word a locked read-modify-write has
 * just written waits for that RMW to retire, and the load before each `lock add`/`lock sub` of
 * the count made an incref+decref pair cost 1.8x two bare locked operations (43 ns vs 24 ns on
 * the 2-core test machine); a load of the neighbouring word does not (docs/backend-atomic.md).  The mark is written once (tally_set_immortal, or static init) and
 * never cleared, so a relaxed load suffices: a thread that does not yet see it adds to or
 * subtracts from the saturated count, and the result of its own locked operation tells it so:
 *  - increment: old >= TALLY_IMMORTAL_REFCNT - 1 (the count reached the saturation value, or
 *    wrapped from it): tally_set_immortal restores the saturated count and sets the mark.
 *  - decrement: one unsigned compare, old - 2 >= TALLY_IMMORTAL_REFCNT - 2, catches the three
 *    edges: old == 1 (last reference: acquire, deallocate), old == TALLY_IMMORTAL_REFCNT (a
 *    decrement that raced tally_set_immortal: restore) and old == 0 (decref below zero: misuse).
 */
#ifndef TALLY_STATIC_RC_ATOMIC_H
#define TALLY_STATIC_RC_ATOMIC_H

#define TALLY_HAVE_INLINE_REFCOUNT 1

/* Traits (runtime/internal.h, "backend traits"): free-threaded; an immortal object carries the
 * mark in ob_tid, so a list's creating thread lives in ob_ref_shared, which this backend leaves
 * free (runtime/seq_layout.h). */
#define TALLY_RC_FREE_THREADED 1
#define TALLY_RC_IMMORTAL_TID TALLY_ATOMIC_IMMORTAL_MARK
#define TALLY_RC_LIST_OWNER_FIELD ob_ref_shared

/* o is never NULL here (tally_xincref/xdecref test it first).  Saying so keeps GCC 12 at -O3
 * from unswitching a loop into a NULL copy and warning (-Wstringop-overflow) about the atomic
 * write it would make there. */
#define _TALLY_ATOMIC_NONNULL(o) do { if (!(o)) __builtin_unreachable(); } while (0)

static inline void _tally_incref_fast(tally_object *o)
{
    _TALLY_ATOMIC_NONNULL(o);
    if (tally_unlikely(tally_atomic_load_relaxed(&o->ob_tid) != 0))   /* immortal mark */
        return;
    uint32_t old = tally_atomic_fetch_add_relaxed(&o->ob_ref_local, 1);
    if (tally_unlikely(old >= TALLY_IMMORTAL_REFCNT - 1))
        tally_set_immortal(o);   /* saturated (or raced tally_set_immortal): immortal for good */
}

static inline void _tally_decref_fast(tally_object *o)
{
    _TALLY_ATOMIC_NONNULL(o);
    if (tally_unlikely(tally_atomic_load_relaxed(&o->ob_tid) != 0))   /* immortal mark */
        return;
    uint32_t old = tally_atomic_fetch_sub_release(&o->ob_ref_local, 1);
#ifdef TALLY_DEBUG
    if (tally_unlikely(_TALLY_REFCNT_IS_DEAD(old))) {
        _tally_refcount_dead_error(o, "decref");
        return;
    }
#endif
    if (tally_unlikely(old - 2u >= TALLY_IMMORTAL_REFCNT - 2u)) {   /* old is 1, 0 or immortal */
        if (old == 1) {
            tally_atomic_acquire_after(&o->ob_ref_local); /* pairs with the release decrements of other threads */
            _tally_dealloc(o);
        } else if (old == TALLY_IMMORTAL_REFCNT) {
            tally_set_immortal(o);
        } else {
            _tally_refcount_error(o, "decref of an object whose refcount is already 0");
        }
    }
}

#endif
