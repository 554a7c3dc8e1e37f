/* runtime/rc_biased.c - the `biased` backend: biased reference counting (Choi, Shull, Torrellas,
 * PACT 2018) as CPython 3.13t does it (Objects/object.c, Include/refcount.h).
 *
 * Owns: the backend interface of runtime/internal.h for biased counts and the out-of-line
 * slow paths of include/tally/static/rc_biased.h: the owner's local count reaching zero
 * (_tally_biased_merge_zero_local), the non-owner decrement (_tally_biased_decref_shared), the
 * explicit merge, the conditional increment, resurrection.  The merge queues are in
 * runtime/rc_biased_queue.c; the design and the safety argument in docs/backend-biased.md.
 *
 * Fields: ob_tid = owner (the creating thread's _tally_thread_id(), an id never reused; 0 =
 * unowned), ob_ref_local =
 * count written only by the owner (relaxed stores), ob_ref_shared = shared << 2 | state, RMW by
 * everyone.  Total = local + (shared >> 2).  States only move upward:
 *     DEFAULT(0) -> MAYBE_WEAKREF(1) -> QUEUED(2) -> MERGED(3)
 * (with MERGED, TALLY_REF_IN_QUEUE (4) when the owner merged a QUEUED object: a queue still holds
 * it, and one unit of the count is that queue's reference until the queue's merge),
 * (resurrection of a dead object is the one exception: it restarts at DEFAULT).
 * Invariants (paper's Table 2): the total is >= 0; the shared count may be negative only while
 * QUEUED (then the local count covers it); an object is queued at most once; only DEFAULT /
 * MAYBE_WEAKREF objects with shared == 0 are freed by the owner without a CAS, only MERGED
 * objects are freed by a non-owner; ob_tid == 0 and a non-immortal object imply merged (or a
 * merge in progress: ob_tid is cleared first, gh-119999/gh-121794).
 *
 * Memory ordering:
 *  - non-owner decrement: release CAS (all of this thread's accesses to the object happen
 *    before its decrement is visible).  The thread that frees acquires first: an acquire load
 *    (owner, shared == 0), an acq_rel CAS (owner merge, explicit merge) or an acquire edge after
 *    the decrement that reached MERGED|0 - each pairs with the release CASes of every other
 *    thread that decremented, so destructors see all their writes.
 *  - queue hand-over: the queue's mutex (runtime/rc_biased_queue.c) orders the queuer's accesses before
 *    the owner's merge.
 *  - increments: relaxed (the caller holds a reference); try-increment: acquire CAS, pairing
 *    with the release of whoever published the object (as the atomic backend).
 *
 * Conditional increments (_tally_rc_try_incref: lock-free container reads, weakrefs, the
 * collector) are exact: they fail only on a dying object, or one whose last reference waits in
 * its owner's merge queue (the rule and its race argument above _tally_rc_try_incref).  The one
 * hard case is shared == 0 in the DEFAULT state, where the owner frees without an RMW when its
 * local count reaches zero.  The reader then first CASes the state to MAYBE_WEAKREF and re-reads the local count,
 * and the owner re-reads the shared word with an RMW after its zero store: either the owner's
 * RMW comes later and sees the flag (it merges with a CAS, which the reader's increment races
 * correctly), or the reader's CAS reads from the owner's release RMW and sees the zero (it
 * fails).  The owner pays that RMW only for objects a reader can reach: GC objects (the
 * collector) and objects marked SHARED/WEAKREFS (the marks that make object.c free through
 * QSBR); a private non-GC object dies with a load and no RMW, as in CPython.
 */
#include "runtime/internal.h"
#include "runtime/rc_biased_queue.h"

#define SHIFT TALLY_REF_SHARED_SHIFT
#define ONE ((intptr_t)1 << SHIFT)
#define STATE(s) ((s) & TALLY_REF_SHARED_FLAG_MASK)
#define COUNT(s) ((s) >> SHIFT)   /* arithmetic shift: the count may be negative while QUEUED */
/* The queue's reference: counted in the word but already dropped by the program (QUEUED, or
 * MERGED with the in-queue bit). */
#define QUEUE_REF(s) ((STATE(s) == TALLY_REF_QUEUED || ((s) & TALLY_REF_IN_QUEUE)) ? 1 : 0)
#define READER_BITS (TALLY_GC_BIT_SHARED | TALLY_GC_BIT_WEAKREFS)

static inline intptr_t make_shared(intptr_t count, intptr_t state)
{
    return (intptr_t)((uintptr_t)count << SHIFT) | state;
}

static inline bool is_owner(tally_object *o)
{
    return tally_atomic_load_relaxed(&o->ob_tid) == _tally_thread_id();
}

static inline bool is_immortal(tally_object *o)
{
    return tally_atomic_load_relaxed(&o->ob_ref_local) == TALLY_IMMORTAL_REFCNT;
}

/* ---- life cycle and threads -------------------------------------------------------------- */
int _tally_rc_init(const tally_options *opt)
{
    (void)opt;
    _tally_brc_init();
    return 0;
}

void _tally_rc_fini(void) { _tally_brc_fini(); }

/* runtime/thread_state.c registers the thread with QSBR before thread_init and puts it online
 * before on_attach, offline after on_detach, through a quiescent state before each safepoint. */
int _tally_rc_thread_init(tally_thread_state *ts)
{
    return _tally_brc_thread_add(ts);
}

void _tally_rc_thread_fini(tally_thread_state *ts)
{
    _tally_brc_thread_remove(ts);   /* still attached: merges and frees what was queued */
}

void _tally_rc_on_attach(tally_thread_state *ts)
{
    _tally_brc_set_attached(ts, true);   /* before this thread's first object access */
}

void _tally_rc_on_detach(tally_thread_state *ts)
{
    _tally_brc_set_attached(ts, false);  /* after its last one: queuers merge for it now */
}

void _tally_rc_safepoint(tally_thread_state *ts) { (void)ts; }

void _tally_rc_handle_pending(tally_thread_state *ts, unsigned bits)
{
    if (bits & TALLY_BREAK_MERGE)
        _tally_brc_merge_own(ts);   /* clears the bit under the queue mutex */
    if (bits & ~TALLY_BREAK_MERGE)
        tally_atomic_fetch_and(&ts->breaker, ~(bits & ~TALLY_BREAK_MERGE));
}

/* ---- counts ------------------------------------------------------------------------------ */
void _tally_rc_object_init(tally_object *o, tally_thread_state *ts)
{
    (void)ts;
    /* Not yet visible to any other thread (published with the object); relaxed atomic stores
     * only so that ThreadSanitizer, which cannot see mimalloc's reuse of the memory, never
     * pairs them with the previous occupant's atomics. */
    tally_atomic_store_relaxed(&o->ob_tid, _tally_thread_id());
    tally_atomic_store_relaxed(&o->ob_ref_local, 1);
    tally_atomic_store_relaxed(&o->ob_ref_shared, 0);
}

intptr_t _tally_rc_get(tally_object *o)
{
    uint32_t local = tally_atomic_load_relaxed(&o->ob_ref_local);
    if (local == TALLY_IMMORTAL_REFCNT)
        return (intptr_t)TALLY_IMMORTAL_REFCNT;
    intptr_t shared = tally_atomic_load_relaxed(&o->ob_ref_shared);
    /* While QUEUED (or MERGED and still in a queue) the queue holds one reference that was
     * dropped by the program already (it is given up at the queue's merge): not counted, as an
     * immediate backend would not count it. */
    return (intptr_t)local + COUNT(shared) - QUEUE_REF(shared);
}

void _tally_rc_set_immortal(tally_object *o)
{
    if (is_immortal(o))
        return;   /* sticky; never written again */
    /* Local first: every fast path tests it before writing, so no count changes after this
     * (the caller must be the owner, or o must not be in use by other threads: an owner's
     * increment in flight could overwrite it, as with CPython's _Py_SetImmortal). */
    tally_atomic_store_relaxed(&o->ob_ref_local, TALLY_IMMORTAL_REFCNT);
    tally_atomic_store_relaxed(&o->ob_tid, 0);
    tally_atomic_store_relaxed(&o->ob_ref_shared, 0);
}

intptr_t _tally_biased_explicit_merge(tally_object *o, intptr_t extra)
{
    uint32_t local = tally_atomic_load_relaxed(&o->ob_ref_local);
    if (local == TALLY_IMMORTAL_REFCNT)
        return 1;   /* made immortal while queued (CPython gh-152276): nothing to merge */
    /* gh-119999/gh-121794: ob_tid = 0 before the shared word says MERGED, so that MERGED
     * implies unowned.  The local count is zeroed before the CAS publishes the sum: once the
     * CAS is visible another thread may free o, and we must not write to it after that. */
    tally_atomic_store_relaxed(&o->ob_tid, 0);
    tally_atomic_store_relaxed(&o->ob_ref_local, 0);
    intptr_t shared = tally_atomic_load_relaxed(&o->ob_ref_shared);
    intptr_t refcnt;
    /* Every caller is a queue's merge (extra -1, the queue's reference): the in-queue bit, if
     * the owner's zero path set it, goes with that reference. */
    TALLY_ASSERT(extra == -1);
    do {
        refcnt = COUNT(shared) + (intptr_t)local + extra;
    } while (!tally_atomic_cas_acq_rel(&o->ob_ref_shared, &shared, make_shared(refcnt, TALLY_REF_MERGED)));
    /* acq_rel: release our accesses; acquire those of every thread whose (release) decrement
     * we just summed, for the caller that frees at zero. */
    if (tally_unlikely(refcnt < 0))
        _tally_refcount_error(o, "tally_decref: negative refcount (found when merging the owner's count)");
    return refcnt;
}

/* The owner's local count is 0 (its relaxed store is sequenced before this call): decide
 * whether o is dead, merging otherwise (o is unowned from then on). */
static bool owner_zero_is_dead(tally_object *o)
{
    TALLY_ASSERT(is_owner(o));
    /* Acquire: pairs with the release CAS of every non-owner decrement that brought shared
     * back to zero, so the destructor sees their writes. */
    intptr_t shared = tally_atomic_load_acquire(&o->ob_ref_shared);
    if (shared == 0) {
        /* No RMW needed unless a conditional increment may race with us.  Only GC objects (the
         * collector) and objects marked SHARED/WEAKREFS (lock-free container reads, weakrefs;
         * the marks that make object.c free through QSBR) can be reached by one. */
        if (!(o->ob_flags & TALLY_OBF_GC) && !(tally_atomic_load_relaxed(&o->ob_gc_bits) & READER_BITS))
            return true;
        /* Against try_incref's [CAS shared 0 -> MAYBE_WEAKREF; load local]: claim the death
         * with a CAS DEFAULT|0 -> MERGED|0, an RMW, so it is ordered with the reader's CAS in
         * the word's modification order.  If the reader's announcement came first, our CAS
         * fails (we see the flag) and we merge below; if ours came first, the reader's
         * announcement fails on MERGED|0, which every try-incref refuses.  The earlier re-read
         * (fetch_add 0) left the word at DEFAULT|0 on a dead object: a reader whose
         * announcement then landed (and saw local 0) left MAYBE_WEAKREF|0 behind, and a second
         * reader's +1 on that succeeded - a reference to a destroyed object.  Found by the SPIN
         * model tests/models (revival.r2.*) and by debug mode's quarantine in
         * ContainersMT.ReadersRaceTheDeathOfItemsWithFinalizers. */
        if (tally_atomic_cas_acq_rel(&o->ob_ref_shared, &shared, (intptr_t)TALLY_REF_MERGED))
            return true;
    }
    tally_atomic_store_relaxed(&o->ob_tid, 0);   /* gh-121794: before the store to shared */
    intptr_t merged;
    do {
        /* QUEUED: a queue still holds o and its reference is in the count; the in-queue bit
         * says so until that queue's merge (try-incref and tally_refcount discount it). */
        merged = (shared & ~(intptr_t)TALLY_REF_SHARED_FLAG_MASK) | TALLY_REF_MERGED |
                 (STATE(shared) == TALLY_REF_QUEUED ? TALLY_REF_IN_QUEUE : 0);
    } while (!tally_atomic_cas_acq_rel(&o->ob_ref_shared, &shared, merged));
    return merged == TALLY_REF_MERGED;   /* count 0, merged, in no queue */
}

void _tally_biased_merge_zero_local(tally_object *o)
{
    if (owner_zero_is_dead(o))
        _tally_dealloc(o);
}

/* Non-owner decrement; true when the caller must free o (count 0 and MERGED). */
static bool decref_shared_is_dead(tally_object *o)
{
    intptr_t shared = tally_atomic_load_relaxed(&o->ob_ref_shared);
    intptr_t next;
    bool queue;
    do {
        if (tally_unlikely(STATE(shared) == TALLY_REF_MERGED && COUNT(shared) - QUEUE_REF(shared) <= 0)) {
            _tally_refcount_error(o, "tally_decref: negative refcount (the merged count is already 0)");
            return false;
        }
        /* Count 0, neither queued nor merged: our reference is counted in the owner's local
         * count.  Set QUEUED without subtracting: the queue holds that reference now. */
        queue = shared == TALLY_REF_DEFAULT || shared == TALLY_REF_MAYBE_WEAKREF;
        next = queue ? TALLY_REF_QUEUED : shared - ONE;   /* may go negative while QUEUED */
    } while (!tally_atomic_cas_release(&o->ob_ref_shared, &shared, next));
    if (queue) {
        _tally_brc_queue_object(o);
        return false;
    }
    if (next == TALLY_REF_MERGED) {
        tally_atomic_acquire_after(&o->ob_ref_shared);   /* pairs with the other release decrements */
        return true;
    }
    return false;
}

bool _tally_biased_drop_unqueued(tally_object *o)
{
    /* _tally_brc_queue_object set QUEUED, then found ob_tid == 0: the owner's zero path is
     * merging o (it clears ob_tid before its CAS).  That CAS sees QUEUED and sets the in-queue
     * bit for the queue's reference, which this thread holds instead of a queue: wait for the
     * CAS (a few instructions of the owner's), then give up that reference and the bit in one
     * CAS.  The owner's CAS found the bit set, so it did not free; we free at 0. */
    intptr_t shared = tally_atomic_load_acquire(&o->ob_ref_shared);
    while (STATE(shared) != TALLY_REF_MERGED) {
        if (is_immortal(o))
            return false;   /* made immortal meanwhile (misuse: it was in use) */
        _tally_cpu_relax();
        shared = tally_atomic_load_acquire(&o->ob_ref_shared);
    }
    intptr_t next;
    do {
        TALLY_ASSERT(shared & TALLY_REF_IN_QUEUE);
        next = make_shared(COUNT(shared) - 1, TALLY_REF_MERGED);
    } while (!tally_atomic_cas_acq_rel(&o->ob_ref_shared, &shared, next));
    return next == TALLY_REF_MERGED;
}

void _tally_biased_decref_shared(tally_object *o)
{
    if (tally_unlikely(_TALLY_REFCNT_IS_DEAD(tally_atomic_load_relaxed(&o->ob_ref_local)))) {
        _tally_refcount_dead_error(o, "tally_decref");   /* quarantined (runtime/quarantine.c) */
        return;
    }
    if (decref_shared_is_dead(o))
        _tally_dealloc(o);
}

/* A conditional increment succeeds only on an object whose total count - the references the
 * program holds - is above zero.  The total is local + shared count, minus one while QUEUED (the
 * queue's reference: the program dropped it, the owner's merge gives it up).  The states:
 *  - DEFAULT|0 (the total is the owner's local count): announce first, see below;
 *  - QUEUED: a non-owner's last drop is waiting for the owner's merge.  Increment only if the
 *    total without the queue's reference is still >= 1, i.e. local + count >= 2; the object
 *    must not come back from a death its dropping thread already saw (docs/fuzzing.md: a
 *    weakref read after the last drop returned the object).  CPython 3.13t's
 *    _Py_TryIncRefShared refuses only 0 and MERGED|0 and so revives such an object;
 *  - MERGED with count <= 0, or 1 with the in-queue bit (the owner merged it while QUEUED and
 *    the count still holds the queue's reference): dead, or dead once the queue merges;
 *  - anything else: count >= 1 somewhere that only a drop of a held reference can take away:
 *    increment with a CAS on the exact word that was judged.
 * The QUEUED test reads ob_ref_local, which the owner writes with plain stores.  The owner
 * itself reads its own count (exact).  A non-owner reads it with acquire after its acquire
 * load of the shared word: every drop that happens before this call (and every reference the
 * caller was handed) is then visible in one of the two words, so a call made after the last
 * drop refuses, and a call made while a reference handed to the caller (or one it was told
 * about) is held succeeds.  A local count of 0 while QUEUED means a merge is in flight (the
 * merger zeroes local, then its CAS stores MERGED): wait for that CAS and judge the merged word.
 * After the load of local the shared word is read again and must be unchanged, so that local and
 * count belong to one moment (another reader's increment between the two loads would be
 * missed otherwise).
 * The +1 CAS compares the whole shared word, so the count and state judged are still the
 * object's when the increment lands; a merge that comes first makes it fail and retry on
 * MERGED, one that comes later sums the increment in. */
bool _tally_rc_try_incref(tally_object *o)
{
    uint32_t local = tally_atomic_load_relaxed(&o->ob_ref_local);
    if (local == TALLY_IMMORTAL_REFCNT)
        return true;
    if (is_owner(o)) {
        /* Only we write the local count.  0 with us still the owner means we are freeing it
         * (the no-CAS path): dead. */
        if (local == 0)
            return false;
        intptr_t shared = tally_atomic_load_relaxed(&o->ob_ref_shared);
        if (STATE(shared) == TALLY_REF_QUEUED && (intptr_t)local + COUNT(shared) <= 1)
            return false;   /* its last reference waits in our queue: dead once we merge */
        tally_atomic_store_relaxed(&o->ob_ref_local, local + 1);
        return true;
    }
    /* Acquire: pairs with the release CAS of a drop that set QUEUED (and of later drops), so
     * that the owner's local count as of those drops is visible to the load of local below. */
    intptr_t shared = tally_atomic_load_acquire(&o->ob_ref_shared);
    for (;;) {
        if (STATE(shared) == TALLY_REF_MERGED && COUNT(shared) - QUEUE_REF(shared) <= 0)
            return false;   /* merged and zero (but for a queue's reference): being freed */
        if (shared == TALLY_REF_DEFAULT) {
            /* The total is the owner's local count, which it may drop to zero and free
             * without a CAS.  Announce a reader first (MAYBE_WEAKREF, as CPython's
             * _PyObject_SetMaybeWeakref), then check the local count: paired with the owner's
             * RMW in owner_zero_is_dead, so a zero we do not see is one whose owner sees our
             * flag and merges with a CAS instead. */
            if (!tally_atomic_cas(&o->ob_ref_shared, &shared, (intptr_t)TALLY_REF_MAYBE_WEAKREF))
                continue;
            if (tally_atomic_load(&o->ob_ref_local) == 0)
                return false;   /* the owner dropped its last reference: dying */
            shared = TALLY_REF_MAYBE_WEAKREF;
        }
        if (STATE(shared) == TALLY_REF_QUEUED && COUNT(shared) < 2) {
            /* count >= 2 would leave a total >= 1 whatever local is; below that, read it. */
            uint32_t l = tally_atomic_load_acquire(&o->ob_ref_local);
            if (l == 0) {
                /* A merge between its `local = 0` and its CAS: wait for the CAS. */
                intptr_t seen = shared;
                while ((shared = tally_atomic_load_acquire(&o->ob_ref_shared)) == seen)
                    _tally_cpu_relax();
                continue;
            }
            /* The word again: l was read while it was still `shared` (else judge again), so
             * the two form one snapshot (tests/models/queued_tryincref.pml: without this, a
             * reference taken by another reader between our two loads, while the owner drops its
             * own, is missed and a live object refused). */
            intptr_t again = tally_atomic_load_acquire(&o->ob_ref_shared);
            if (again != shared) {
                shared = again;
                continue;
            }
            if ((intptr_t)l + COUNT(shared) <= 1)
                return false;   /* the last reference waits in the owner's queue */
        }
        /* Count +1.  Acquire on success: pairs with the publisher's release.  Acquire on failure
         * too (no atomic.h helper has that pair): the word read may be a QUEUED set by a drop's
         * release CAS, and the QUEUED test's load of local must come after acquiring it. */
        if (__atomic_compare_exchange_n(&o->ob_ref_shared, &shared, shared + ONE, 0,
                                        __ATOMIC_ACQUIRE, __ATOMIC_ACQUIRE))
            return true;
    }
}

/* ---- resurrection (finalizers during deallocation) ---------------------------------------- */
void _tally_rc_resurrect_begin(tally_object *o)
{
    /* o is dead (count 0): it restarts as a private object of this thread with count 1.
     *
     * A reader that found o in a container before it died may be inside try_incref now, and
     * try_incref writes the shared word while the count is 0 (its DEFAULT -> MAYBE_WEAKREF
     * announcement), so the plain store of 0 below races with its CASes.  The shared word is
     * therefore reset first and the local count set last, with release: a reader that sees the
     * local 1 (its acquire load after the announcement) then has our store of 0 before its
     * +1 CAS in the shared word's modification order, so the CAS either fails on the 0 and
     * retries from DEFAULT, or lands after it and is counted.  Reset last, the store could land
     * between a reader's +1 and the finalizer's return and erase that reference (found by an
     * ASan run: a reader's drop then reached an already-merged 0). */
    tally_atomic_store_relaxed(&o->ob_ref_shared, 0);
    tally_atomic_store_relaxed(&o->ob_tid, _tally_thread_id());
    tally_atomic_store_release(&o->ob_ref_local, 1);
}

bool _tally_rc_resurrect_end(tally_object *o)
{
    if (is_immortal(o))
        return true;
    if (is_owner(o)) {
        uint32_t local = tally_atomic_load_relaxed(&o->ob_ref_local);
        if (local > 1) {
            tally_atomic_store_relaxed(&o->ob_ref_local, local - 1);
            return true;
        }
        if (local == 1) {
            tally_atomic_store_relaxed(&o->ob_ref_local, 0);
            return !owner_zero_is_dead(o);
        }
        /* local 0 while owner: cannot happen after resurrect_begin; treat as shared. */
    }
    /* Merged on our behalf meanwhile (we detached inside the finalizer): a shared decrement. */
    return !decref_shared_is_dead(o);
}

/* ---- flush, collector, fork -------------------------------------------------------------- */
void _tally_rc_flush(void)
{
    tally_thread_state *ts = _tally_tstate();
    if (!ts || tally_atomic_load_relaxed(&ts->state) != TALLY_TS_ATTACHED)
        return;
    if (_tally_brc_own_pending(ts))
        _tally_brc_merge_own(ts);
    if (!_tally_brc_anything_pending() || _tally_world_is_stopped())
        return;   /* the common case: one relaxed load */
    /* Objects wait in other owners' queues: merge them all with the world stopped (an owner
     * cannot be asked to merge synchronously), then free what died. */
    if (_tally_stop_the_world(NULL) != 0)
        return;
    _tally_brc_merge_all_stopped();
    _tally_start_the_world();
    _tally_brc_release_kept();
}

void _tally_rc_gc_prepare(void)
{
    TALLY_ASSERT(_tally_world_is_stopped());   /* by this thread (or it holds the GIL) */
    _tally_brc_merge_all_stopped();   /* world stopped: merge only, nothing is destroyed */
}

void _tally_rc_gc_after(void)
{
    _tally_brc_release_kept();   /* world running again: objects merged to zero die now */
}

void _tally_rc_fork_child(void)
{
    _tally_brc_fork_child();
}
