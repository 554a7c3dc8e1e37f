/* tests/models/biased_queue.pml - the biased backend's merge protocol and merge queue.
 *
 * Modelled from include/tally/static/rc_biased.h (_tally_incref_fast, _tally_decref_fast),
 * runtime/rc_biased.c (owner_zero_is_dead, decref_shared_is_dead, _tally_biased_explicit_merge)
 * and runtime/rc_biased_queue.c (_tally_brc_queue_object, _tally_brc_merge_own, _tally_brc_set_attached,
 * _tally_brc_thread_remove).
 *
 * One object, created by thread 0 (its owner) and shared with threads 1 .. N-1: at the start
 * every thread holds one reference; a non-owner's is counted either in the owner's local count
 * (the owner increfed on its behalf and handed the object over) or in the shared count (the
 * thread increfed it itself), every combination.  In each of STEPS rounds a thread takes
 * another reference (incref), drops one (decref), or - the owner only - passes a safepoint
 * (merges its queue if TALLY_BREAK_MERGE is set) or detaches and re-attaches (on_detach /
 * on_attach under the bucket mutex).  At the end every thread drops what it still holds; the
 * owner then exits (_tally_brc_thread_remove: merge until the queue is empty, unregister in the
 * same critical section).
 *
 * The header: tid (owner or 0), lcount (written by the owner, or by a merger while the owner
 * provably cannot run), the shared word as (scount, sstate) changed only by CAS / RMW (a step
 * of its own), the state only moving up DEFAULT(0) -> MAYBE_WEAKREF(1) -> QUEUED(2) ->
 * MERGED(3).  The owner's record in the bucket: registered, attached, the queue (inq: the object
 * is in it; one object, so at most once) and the MERGE bit, all under the bucket mutex `bmu`.
 *
 * Sequentially consistent: the code's orderings that matter here are program order between a
 * thread's own steps before a publishing CAS (release / acq_rel) and the mutex hand-overs; the
 * model keeps every header access as its own step, so the orders it relies on are those
 * (broken variants move a store across the publishing CAS).  Not modelled: try-incref and the
 * MAYBE_WEAKREF announcement (tests/models/revival.pml), immortality, the world-stopped merge
 * and the kept list (the collector), fork, out-of-memory, thread-id reuse, several objects in
 * one queue (an object is queued at most once, I5; the queue's order does not matter).
 *
 * Properties:
 *   P1 no use after free: every access by a thread that holds a reference, and every write to
 *      the header (merges included), finds the object not freed;
 *   P2 no double free, and no decrement of a dead object (merged count already 0);
 *   P3 no lost merge / no leak: when every thread has dropped its references and ended, the
 *      object is freed and no queue holds it;
 *   P4 no deadlock.
 *
 * Broken variants (-D):
 *   BROKEN_QUEUE_SUBTRACTS     a non-owner at DEFAULT|0 subtracts instead of setting QUEUED
 *   BROKEN_ZERO_LOCAL_AFTER_CAS the explicit merge zeroes lcount after its CAS (CPython's order)
 *   BROKEN_TID_AFTER_MERGED    the owner's zero path clears ob_tid after the MERGED CAS
 *                              (CPython gh-121794)
 *   BROKEN_EXIT_UNLINK_LATE    thread exit unregisters in a later critical section than the one
 *                              that found the queue empty
 *   BROKEN_DETACH_EARLY        on_detach runs before the owner's last object access
 */
#ifndef N
#define N 3
#endif
#ifndef STEPS
#define STEPS 2
#endif
#define MAXREF 2

#define DEFAULT 0
#define MAYBE_WEAKREF 1
#define QUEUED 2
#define MERGED 3

#define OWNER 0
#define NOTID 255                 /* ob_tid == 0 */

/* the object */
byte tid = OWNER;
short lcount = 1;                 /* the owner's reference; init adds the others' */
short scount = 0;
byte sstate = DEFAULT;
bool freed;
byte nfree;

/* the owner's record in its bucket (under bmu) */
byte bmu;
bool registered = 1, attached = 1, inq, merge_bit;

byte refs[N];                     /* ghost: references each thread holds */
byte done;

#define ALIVE assert(!freed)      /* P1 */

inline lock()   { atomic { bmu == 0 -> bmu = me + 1 } }
inline unlock() { bmu = 0 }

inline dealloc() {
    atomic { assert(!freed); freed = 1; nfree++ }  /* P2 */
}

/* _tally_biased_explicit_merge(o, -1): n = the merged count */
inline explicit_merge() {
    atomic { ALIVE; l = lcount };
    atomic { ALIVE; tid = NOTID };
#ifndef BROKEN_ZERO_LOCAL_AFTER_CAS
    atomic { ALIVE; lcount = 0 };
#endif
    atomic { sc = scount; ss = sstate };
    do
    :: atomic {
        ALIVE;
        if
        :: scount == sc && sstate == ss -> scount = sc + l - 1; sstate = MERGED; n = scount; break
        :: else -> sc = scount; ss = sstate          /* CAS failed: retry with the new value */
        fi
       }
    od;
#ifdef BROKEN_ZERO_LOCAL_AFTER_CAS
    atomic { ALIVE; lcount = 0 };
#endif
    assert(n >= 0)
}

/* the owner's local count reached 0 (owner_zero_is_dead + _tally_biased_merge_zero_local) */
inline owner_zero() {
    atomic { ALIVE; sc = scount; ss = sstate };      /* acquire load */
    if
    :: sc == 0 && ss == DEFAULT -> dealloc()         /* a private non-GC object: no RMW */
    :: else ->
#ifndef BROKEN_TID_AFTER_MERGED
        atomic { ALIVE; tid = NOTID };
#endif
        do
        :: atomic {
            ALIVE;
            if
            :: scount == sc && sstate == ss -> sstate = MERGED; n = scount; break
            :: else -> sc = scount; ss = sstate
            fi
           }
        od;
#ifdef BROKEN_TID_AFTER_MERGED
        atomic { ALIVE; tid = NOTID };
#endif
        if
        :: n == 0 -> dealloc()
        :: else
        fi
    fi
}

/* _tally_brc_queue_object (after this thread's CAS to QUEUED) */
inline queue_object() {
    if
    :: tid == NOTID -> requeue = 1                   /* merged meanwhile: a shared decref */
    :: else ->
        lock();
        if
        :: !registered ->                            /* owner gone: merge now */
            explicit_merge();
            unlock();
            if
            :: n == 0 -> dealloc()
            :: else
            fi
        :: registered && !attached ->                /* gh-157838: merge on its behalf */
            assert(!inq);                            /* queued at most once (I5) */
            merge_bit = 0;
            explicit_merge();
            unlock();
            if
            :: n == 0 -> dealloc()
            :: else
            fi
        :: registered && attached ->
            assert(!inq);
            inq = 1;
            merge_bit = 1;
            unlock()
        fi
    fi
}

/* decref_shared_is_dead + _tally_biased_decref_shared */
inline decref_shared() {
    requeue = 1;
    do
    :: requeue ->
        requeue = 0;
        atomic { ALIVE; sc = scount; ss = sstate };
        do
        :: atomic {
            ALIVE;
            assert(!(ss == MERGED && sc <= 0));      /* P2: decref of a dead object */
#ifndef BROKEN_QUEUE_SUBTRACTS
            q = (sc == 0 && ss <= MAYBE_WEAKREF);
#else
            q = 0;
#endif
            if
            :: scount == sc && sstate == ss ->
                if
                :: q -> sstate = QUEUED
                :: else -> scount = sc - 1
                fi;
                n = scount; ss = sstate;
                break
            :: else -> sc = scount; ss = sstate
            fi
           }
        od;
        if
        :: q -> q = 0; queue_object()
        :: !q && ss == MERGED && n == 0 -> dealloc()
        :: else
        fi
    :: else -> break
    od
}

inline incref() {
    atomic {
        ALIVE;
        if
        :: tid == me -> lcount++                      /* owner: relaxed store */
        :: else -> scount++                          /* others: relaxed fetch_add */
        fi;
        refs[me]++
    }
}

inline decref() {
    atomic { ALIVE; refs[me]-- };
    if
    :: tid == me ->
        atomic { ALIVE; lcount--; l = lcount };
        if
        :: l == 0 -> owner_zero()
        :: else
        fi
    :: else -> decref_shared()
    fi
}

/* _tally_brc_merge_own, at a safepoint that saw TALLY_BREAK_MERGE */
inline merge_own() {
    lock();
    merge_bit = 0;
    took = inq;
    inq = 0;
    unlock();
    if
    :: took ->
        took = 0;
        explicit_merge();
        if
        :: n == 0 -> dealloc()
        :: else
        fi
    :: else
    fi
}

/* _tally_brc_thread_remove */
inline thread_remove() {
    do
    :: lock();
        if
        :: !inq ->
#ifndef BROKEN_EXIT_UNLINK_LATE
            registered = 0;
#endif
            merge_bit = 0;
            unlock();
            break
        :: else ->
            inq = 0;
            unlock();
            explicit_merge();
            if
            :: n == 0 -> dealloc()
            :: else
            fi
        fi
    od;
#ifdef BROKEN_EXIT_UNLINK_LATE
    lock(); registered = 0; unlock()
#endif
}

proctype T(byte me) {
    byte k, ss, q, took, requeue;
    short sc, l, n;
    do
    :: k < STEPS ->
        k++;
        if
        :: refs[me] > 0 && refs[me] < MAXREF -> incref()
        :: refs[me] > 0 -> decref()
        :: me == OWNER && merge_bit -> merge_own()
        :: me == OWNER ->                            /* detach, attach */
#ifdef BROKEN_DETACH_EARLY
            lock(); attached = 0; unlock();
            if
            :: refs[me] > 0 -> decref()              /* its last access, after on_detach */
            :: else
            fi;
#else
            if
            :: refs[me] > 0 -> decref()              /* its last access, then on_detach */
            :: else
            fi;
            lock(); attached = 0; unlock();
#endif
            lock(); attached = 1; merge_bit = merge_bit || inq; unlock()
        :: else                                      /* nothing held: nothing to do */
        fi
    :: else -> break
    od;
    do
    :: refs[me] > 0 -> decref()
    :: else -> break
    od;
    if
    :: me == OWNER -> thread_remove()
    :: else
    fi;
    done++
}

init {
    byte i;
    atomic {
        for (i : 0 .. N - 1) {
            refs[i] = 1;
            if                                      /* where a non-owner's reference is counted */
            :: i != OWNER -> lcount++               /* increfed by the owner, handed over */
            :: i != OWNER -> scount++               /* taken by the thread itself */
            :: else
            fi
        }
        for (i : 0 .. N - 1) { run T(i) }
    }
    done == N;
    assert(freed && !inq && nfree == 1)              /* P3 */
}
