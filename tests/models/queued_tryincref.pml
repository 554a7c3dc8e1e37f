/* tests/models/queued_tryincref.pml - the biased backend's try-incref on a QUEUED object: a
 * weakref read must not revive an object whose last reference waits in its owner's merge queue,
 * and must not refuse one that is still referenced.
 *
 * Modelled from runtime/rc_biased.c (_tally_rc_try_incref, decref_shared_is_dead,
 * _tally_biased_explicit_merge, owner_zero_is_dead) and runtime/rc_biased_queue.c
 * (_tally_brc_queue_object, _tally_brc_merge_own, _tally_brc_thread_remove).  The scenario of
 * the fuzz finding (docs/fuzzing.md) and of BiasedQueued.* (tests/threads/test_biased_queued.cc):
 * an object with a weakref (so its shared word starts at MAYBE_WEAKREF|0), owned by thread O,
 * local count 1 + OWN: one reference handed to thread B, and OWN (0 or 1, chosen at the start)
 * kept by O.  B drops its reference (a non-owner drop at count 0: QUEUED, pushed on O's queue,
 * or merged by B if O has exited), then reads the weakref (try-incref) and drops what it got.
 * A reader R reads the weakref once at any moment and drops what it got, or hands it to O (it
 * is counted in the shared word, and O drops it through its owner path: O's local count can
 * then reach 0 while the object is QUEUED, and O's zero path merges it with the in-queue bit).
 * O may drop its references, merge its queue at a safepoint (twice at most), and exits (merging
 * its queue) once R is done.
 *
 * Memory model: sequentially consistent (each statement below is one atomic step; the merge's
 * `ob_tid = 0`, `local = 0` and CAS are separate steps, so a reader can run between them).  The
 * acquire/release orders that make a non-owner's view of ob_ref_local fresh enough are argued in
 * docs/backend-biased.md ("Queued deaths"); this model checks the decision rule and the
 * interleavings, revival.pml checks store-buffer effects of the owner's plain stores.
 *
 * Ghost: `held` counts the references the threads hold (the program's view of the total).
 * Properties:
 *   P1 no use after free, no free while a reference is held, no double free, no negative count;
 *   P2 a try-incref that succeeds judged a total >= 1: `held >= 1` at the step it judged on (its
 *      read of local for a QUEUED word, its CAS otherwise) - so B's read after its own last drop
 *      fails unless R or O holds a reference;
 *   P3 a try-incref that refuses judged a total of 0: `held == 0` at its read of local or at its
 *      re-read of the shared word (a refusal may be placed at either: between them only an
 *      acquisition and a drop by others, which leave the word as it was, can change `held`;
 *      O does not take new references here, the case docs/backend-biased.md leaves inexact);
 *   P4 no leak (the object is freed by the end), no deadlock.
 *
 * Broken variants (-D):
 *   BROKEN_CPYTHON_RULE   try-incref refuses only MERGED|0 (CPython 3.13t's _Py_TryIncRefShared):
 *                         B's read after its drop revives the object (P2)
 *   BROKEN_NO_MERGE_WAIT  a non-owner that reads local 0 on a QUEUED word (a merge between its
 *                         `local = 0` and its CAS) judges with it instead of waiting: refuses an
 *                         object O still holds (P3)
 *   BROKEN_NO_REREAD      the non-owner judges local with the word it read before it, without
 *                         checking that the word is still that: R's new reference lands in
 *                         between, O drops its own, and B refuses an object R holds (P3)
 *   BROKEN_NO_INQ_BIT     O's zero path merges a QUEUED object to MERGED|count without the
 *                         in-queue bit: the count still holds the queue's reference, and a read
 *                         after the last drop finds MERGED|1 and revives the object (P2)
 *   BROKEN_UNQUEUED_PLAIN_DROP  a queuer that finds tid 0 (O's zero path in flight) drops the
 *                         queue's reference with a plain shared decrement: the in-queue bit that
 *                         O's merge sets is never cleared and the object is never freed (P4)
 */
#define NOTID 255
#define O_ID 0

#define DEFAULT 0
#define MAYBE_WEAKREF 1
#define QUEUED 2
#define MERGED 3

byte tid = O_ID;
short lcount;            /* ob_ref_local */
short scount = 0;        /* ob_ref_shared >> 2 */
byte state = MAYBE_WEAKREF;
bool inq = false;        /* the object is in O's queue */
bool o_gone = false;     /* O unregistered (exited) */
bool handing = true;     /* R may still hand O a reference: O does not exit before */
bool qbit = false;       /* TALLY_REF_IN_QUEUE: with MERGED, a queue's reference is in scount */
bool freed = false;
byte frees = 0;
short held;              /* ghost: references the threads hold */
byte own;                /* references O holds (it drops them through its owner path) */

/* ---- a free: the deciding step reached count 0 ---------------------------------------------- */
inline do_free()
{
    assert(!freed && held == 0);   /* P1 */
    freed = true;
    frees++
}

/* ---- _tally_biased_explicit_merge(o, -1) by whoever may merge; frees at 0 -------------------- */
/* uses the caller's locals ml, mn */
inline explicit_merge_q()
{
    tid = NOTID;
    ml = lcount;
    lcount = 0;
    atomic {
        mn = scount + ml - 1;
        assert(mn >= 0);           /* P1: negative merged count */
        scount = mn;
        state = MERGED;
        qbit = false;
        if
        :: mn == 0 -> do_free()
        :: else -> skip
        fi
    }
}

/* ---- a non-owner drop (decref_shared_is_dead + _tally_brc_queue_object) --------------------- */
/* uses the caller's locals queued, ml, mn */
inline nonowner_drop()
{
    queued = false;
    atomic {
        assert(!freed);
        assert(!(state == MERGED && scount - qbit <= 0));   /* P1: over-decrement */
        held--;
        if
        :: (state == DEFAULT || state == MAYBE_WEAKREF) && scount == 0 -> state = QUEUED; queued = true
        :: else ->
            scount--;
            if
            :: state == MERGED && scount == 0 && !qbit -> do_free()
            :: else -> skip
            fi
        fi
    }
    if
    :: queued ->
        /* the queue hand-over: bucket mutex; O's exit drains and unregisters under it */
        if
        :: tid == NOTID ->
#ifdef BROKEN_UNQUEUED_PLAIN_DROP
            /* the code before _tally_biased_drop_unqueued: an ordinary shared drop */
            atomic {
                scount--;
                if
                :: state == MERGED && scount == 0 && !qbit -> do_free()
                :: else -> skip
                fi }
#else
            /* O's zero path is merging (it cleared tid first): wait for its CAS, then drop the
             * queue's reference and the in-queue bit together (_tally_biased_drop_unqueued) */
            atomic { state == MERGED ->
               assert(qbit && scount >= 1);
               scount--;
               qbit = false;
               if
               :: scount == 0 -> do_free()
               :: else -> skip
               fi }
#endif
        :: atomic { tid != NOTID && o_gone -> skip }; explicit_merge_q()
        :: atomic { tid != NOTID && !o_gone -> inq = true }
        fi
    :: else -> skip
    fi
}

/* ---- _tally_rc_try_incref by a non-owner; got = the result ---------------------------------- */
/* uses the caller's locals s_state, s_count, l, h1, h2, judged_queued */
inline try_incref(got)
{
    atomic { s_state = state; s_count = scount; s_q = qbit; h1 = held }
    got = 2;   /* undecided */
    do
    :: got != 2 -> break
    :: else ->
        judged_queued = false;
        if
#ifdef BROKEN_NO_INQ_BIT
        :: s_state == MERGED && s_count <= 0 ->
#else
        :: s_state == MERGED && s_count - s_q <= 0 ->
#endif
            assert(h1 == 0);                  /* P3 (MERGED: the count less the queue's is the total) */
            got = 0
        :: else ->
            assert(s_state != DEFAULT);       /* the weakref set MAYBE_WEAKREF at creation */
#ifndef BROKEN_CPYTHON_RULE
            if
            :: s_state == QUEUED && s_count < 2 ->
                atomic { l = lcount; h2 = held };
                if
#ifndef BROKEN_NO_MERGE_WAIT
                :: l == 0 ->
                    /* a merge between its local = 0 and its CAS: wait for the CAS */
                    atomic { (state != s_state || scount != s_count || qbit != s_q) -> s_state = state; s_count = scount; s_q = qbit; h1 = held };
                    got = 3   /* judge again */
#endif
                :: else ->
                    /* the word again: local was read while the word was still s */
                    atomic {
                        if
#ifdef BROKEN_NO_REREAD
                        :: true ->
#else
                        :: state == s_state && scount == s_count ->
#endif
                            if
                            :: l + s_count <= 1 ->
                                /* 0 when local was read, or now: a drop and a new reference
                                 * by others in between (ABA) left the word as it was */
                                assert(h2 == 0 || held == 0);   /* P3 */
                                got = 0
                            :: else -> judged_queued = true
                            fi
                        :: else -> s_state = state; s_count = scount; s_q = qbit; h1 = held; got = 3
                        fi
                    }
                fi
            :: else -> skip
            fi;
#endif
            if
            :: got == 3 -> got = 2
            :: got == 0 -> skip
            :: got == 2 ->
                atomic {
                    if
                    :: state == s_state && scount == s_count && qbit == s_q ->
                        assert(!freed);                           /* P1 */
                        assert(judged_queued && h2 >= 1 || !judged_queued && held >= 1);   /* P2 */
                        scount++;
                        held++;
                        got = 1
                    :: else -> s_state = state; s_count = scount; s_q = qbit; h1 = held
                    fi
                }
            fi
        fi
    od
}

/* ---- O: drop its own reference, merge at safepoints, exit ------------------------------------ */
proctype Owner()
{
    byte merges = 0;
    bool queued;
    short ml, mn;
    do
    :: own > 0 && tid != O_ID ->
        /* merged (by its queue's merge or its zero path): a shared drop from then on */
        own--;
        nonowner_drop()
    :: own > 0 && tid == O_ID ->
        /* an owner drop: also of a reference R handed over, counted in the shared word */
        /* (a drop that takes local to 0 completes at the zero path's CAS: its ghost decrement
         * is placed there, so a reader that increments before that CAS got a live object) */
        atomic { assert(lcount >= 1); lcount--; own--; if :: lcount > 0 -> held-- :: else -> skip fi };
        if
        :: lcount == 0 ->
            /* owner_zero_is_dead: the word is not 0 (MAYBE_WEAKREF at least): tid first, then
             * the CAS to MERGED, with the in-queue bit if it was QUEUED */
            tid = NOTID;
            atomic {
                held--;
#ifndef BROKEN_NO_INQ_BIT
                qbit = (state == QUEUED);
#endif
                state = MERGED;
                if
                :: scount == 0 && !qbit -> do_free()
                :: else -> skip
                fi
            }
        :: else -> skip
        fi
    :: merges < 2 ->
        merges++;
        if
        :: atomic { inq -> inq = false }; explicit_merge_q()
        :: else -> skip
        fi
    :: own == 0 && !handing ->
        /* exit: merge the queue until it is empty and unregister in the same critical section
         * (_tally_brc_thread_remove) */
        do
        :: atomic { inq -> inq = false }; explicit_merge_q()
        :: atomic { !inq -> o_gone = true }; break
        od;
        break
    od
}

proctype B()
{
    byte got;
    bool queued;
    short ml, mn;
    byte s_state; short s_count; bool s_q; short l; short h1; short h2; bool judged_queued;
    nonowner_drop();
    try_incref(got);
    if
    :: got == 1 -> nonowner_drop()
    :: else -> skip
    fi
}

proctype R()
{
    byte got;
    bool queued;
    short ml, mn;
    byte s_state; short s_count; bool s_q; short l; short h1; short h2; bool judged_queued;
    try_incref(got);
    if
    :: got == 1 -> nonowner_drop()
    :: got == 1 && !o_gone ->
        /* hand the reference (counted in the shared word) to O, which drops it through its
         * owner path: its local count can then reach 0 while the object is QUEUED */
        atomic { !o_gone -> own++ }
    :: else -> skip
    fi;
    handing = false
}

init
{
    atomic {
        if
        :: own = 1
        :: own = 0
        fi;
        lcount = 1 + own;
        held = lcount;
        run Owner();
        run B();
        run R()
    };
    /* P4: when everyone is done, the object was freed, once */
    (_nr_pr == 1);
    assert(freed && frees == 1)
}

