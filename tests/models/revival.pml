/* tests/models/revival.pml - the biased backend's revival for a finalizer against a concurrent
 * try-incref, and the owner's zero against the reader's MAYBE_WEAKREF announcement.
 *
 * Modelled from runtime/rc_biased.c (_tally_rc_try_incref, owner_zero_is_dead,
 * decref_shared_is_dead, _tally_rc_resurrect_begin/_end, _tally_biased_explicit_merge),
 * include/tally/static/rc_biased.h and runtime/object.c (call_with_resurrection, dealloc_one:
 * finalizer once for GC objects, re-link on the collector's list before the resurrection
 * reference is dropped).  The scenario of ContainersMT.ReadersRaceTheDeathOf(OneSlots)Items-
 * WithFinalizers: a GC object with a finalizer sits in a shared container, owned by thread 0
 * with count 1 (the container's reference, in the owner's local count).  READERS threads have
 * loaded its pointer from the container (QSBR keeps the memory valid: tests/models/qsbr.pml)
 * and may call try-incref on it at any moment; a reader that gets a reference uses the object
 * and drops it.  The owner removes it from the container and drops the container's reference:
 * local 1 -> 0, owner_zero_is_dead, and if dead the deallocation: finalizer with the object
 * revived (resurrect_begin, finalizer, re-link, resurrect_end), then destroy unless a reader
 * took a reference meanwhile.  The owner then exits (merges its queue until empty).
 *
 * Memory model: the owner's plain stores to the header (ob_ref_local, ob_tid, the reset of the
 * shared word) go through per-location store buffers (one slot each) that a flusher process
 * drains in any order, so relaxed stores to different locations become visible out of order
 * and a store can still be invisible to another thread when the owner's next load executes
 * (store -> load reordering, the Dekker pattern between the owner's `local = 0; load shared` and
 * the reader's `CAS shared; load local`).  A release store drains the owner's earlier stores
 * first; an RMW / CAS of the owner drains its buffers (a locked instruction; the code's RMWs are
 * acq_rel / seq_cst).  Loads read the own buffer, else memory.  The readers' writes are all
 * CAS, which act on memory at once.  -DNO_STORE_BUFFERS makes every store immediate (SC).
 *
 * Abstracted: the container and QSBR (the readers hold a valid pointer; "destroyed" below is
 * the destructor's decision, the memory itself stays valid until the grace period), immortality,
 * weakrefs, detaching (the owner stays attached until it exits), the collector; the finalizer
 * does nothing with the object.
 *
 * Properties:
 *   P1 no use after free: a try-incref never succeeds on an object that was destroyed, a reader
 *      that holds a reference never finds it destroyed, and nobody writes to the object
 *      (re-link, merge stores) after it was destroyed;
 *   P2 no double destroy, no decrement of an object whose merged count is already 0, and no
 *      negative merged count (the erased-increment symptom: "tally_decref: negative refcount");
 *   P3 no leak: at the end the object was destroyed exactly once;  P4 no deadlock.
 *
 * Broken variants (-D):
 *   BROKEN_REVIVAL_ORDER     resurrect_begin sets ob_tid and local = 1 before it resets the
 *                            shared word (the order fixed in commit f7b885b)
 *   BROKEN_REVIVAL_RELAXED   the order kept, but local = 1 stored relaxed, not release (needs the
 *                            store buffers: -DNO_STORE_BUFFERS accepts it)
 *   BROKEN_NO_RMW_REREAD     owner_zero_is_dead re-reads the shared word with a plain load, not
 *                            an RMW (needs the store buffers with one reader)
 *   BROKEN_REREAD_FETCH_ADD  the code before commit d066767: the owner re-reads the word with
 *                            fetch_add 0 (an RMW, but no claim): rejected with two readers
 *   BROKEN_NO_ANNOUNCE       try-incref on DEFAULT|0 increments directly, without announcing
 *                            MAYBE_WEAKREF and re-reading local
 *   BROKEN_TRACK_AFTER_DROP  the deallocating thread re-links the revived object after it drops
 *                            its resurrection reference
 * Since commit d066767 the owner claims a death with a CAS DEFAULT|0 -> MERGED|0 (modelled by
 * default), which leaves every dead object's shared word at MERGED|0.  That makes the revival
 * order, its release and the announcement redundant for safety: SPIN accepts
 * BROKEN_REVIVAL_ORDER, BROKEN_REVIVAL_RELAXED and BROKEN_NO_ANNOUNCE alone, with 2 readers.
 * They are load-bearing on the code before it: run_models.sh checks them combined with
 * -DBROKEN_REREAD_FETCH_ADD and one reader (where that code verifies).
 *
 * The claim CAS in owner_zero_is_dead is the fix of commit d066767 for the race this model
 * found with two readers in the code before it (BROKEN_REREAD_FETCH_ADD; docs/models.md, "A bug
 * the model found").  -DNO_FINALIZER: a type without a finalizer (the plain death path).
 */
#ifndef READERS
#define READERS 2
#endif
#define NT (READERS + 1)
#define OWNER 0
#define NOTID 255

#define DEFAULT 0
#define MAYBE_WEAKREF 1
#define QUEUED 2
#define MERGED 3

/* the header, in memory */
byte tid = OWNER;
short lcount = 1;                 /* the container's reference */
short scount = 0;
byte sstate = DEFAULT;
bool finalized;                   /* TALLY_GC_BIT_FINALIZED */

/* the owner's store buffers: ob_tid, ob_ref_local, the shared word */
bool p_tid, p_local, p_shared;
byte v_tid;
short v_local, v_scount;
byte v_sstate;

/* the owner's merge queue (one object), under the bucket mutex */
byte bmu;
bool registered = 1, inq;

/* ghosts */
bool destroyed;
byte ndestroy;
byte done;

#define W_ALIVE assert(!destroyed)    /* P1 for writes and holders */

inline drain() {
    d_step {
        if :: p_tid -> tid = v_tid; p_tid = 0 :: else fi;
        if :: p_local -> lcount = v_local; p_local = 0 :: else fi;
        if :: p_shared -> scount = v_scount; sstate = v_sstate; p_shared = 0 :: else fi
    }
}

#ifdef NO_STORE_BUFFERS
#define ST_TID(v)        tid = v
#define ST_LOCAL(v)      lcount = v
#define ST_SHARED(c, s)  scount = c; sstate = s
#else
#define ST_TID(v)        if :: p_tid -> tid = v_tid :: else fi; p_tid = 1; v_tid = v
#define ST_LOCAL(v)      if :: p_local -> lcount = v_local :: else fi; p_local = 1; v_local = v
#define ST_SHARED(c, s)  if :: p_shared -> scount = v_scount; sstate = v_sstate :: else fi; \
                         p_shared = 1; v_scount = c; v_sstate = s
#endif
/* the owner's loads (store forwarding) */
#define LD_TID    (p_tid -> v_tid : tid)
#define LD_LOCAL  (p_local -> v_local : lcount)

inline lock()   { atomic { bmu == 0 -> bmu = me + 1 } }
inline unlock() { bmu = 0 }

inline destroy() {
    atomic { assert(!destroyed); destroyed = 1; ndestroy++ }   /* P2 */
}

/* _tally_biased_explicit_merge(o, -1), by the owner (drains its buffers at the CAS) */
inline explicit_merge() {
    atomic { l = LD_LOCAL };
    atomic { W_ALIVE; ST_TID(NOTID) };
    atomic { W_ALIVE; ST_LOCAL(0) };
    drain();
    atomic { sc = scount; ss = sstate };
    do
    :: atomic {
        W_ALIVE;
        if
        :: scount == sc && sstate == ss -> scount = sc + l - 1; sstate = MERGED; n = scount; break
        :: else -> sc = scount; ss = sstate
        fi
       }
    od;
    assert(n >= 0)                                /* P2: negative merged count */
}

/* owner_zero_is_dead for a GC object (the owner's local store of 0 is already issued) */
inline owner_zero_is_dead() {
    atomic {                                      /* acquire load (own buffer first) */
        if
        :: p_shared -> sc = v_scount; ss = v_sstate
        :: else -> sc = scount; ss = sstate
        fi
    };
    dead = 0;
    if
    :: sc == 0 && ss == DEFAULT ->
#if defined(BROKEN_REREAD_FETCH_ADD)
        drain();                                  /* the code before d066767: fetch_add 0 */
        atomic { sc = scount; ss = sstate };
#elif defined(BROKEN_NO_RMW_REREAD)
        atomic {                                  /* a plain load */
            if
            :: p_shared -> sc = v_scount; ss = v_sstate
            :: else -> sc = scount; ss = sstate
            fi
        };
#else
        /* claim the death: CAS DEFAULT|0 -> MERGED|0, acq_rel (a locked RMW); on success the
         * object is dead and every later try-incref refuses the word; on failure sc/ss hold the
         * reader's announcement and the merge below follows */
        drain();
        atomic {
            if
            :: scount == 0 && sstate == DEFAULT -> sstate = MERGED; sc = 0; ss = DEFAULT
            :: else -> sc = scount; ss = sstate
            fi
        };
#endif
        dead = (sc == 0 && ss == DEFAULT)
    :: else
    fi;
    if
    :: !dead ->
        atomic { W_ALIVE; ST_TID(NOTID) };
        drain();                                  /* the CAS below is acq_rel */
        do
        :: atomic {
            W_ALIVE;
            if
            :: scount == sc && sstate == ss -> sstate = MERGED; n = scount; break
            :: else -> sc = scount; ss = sstate
            fi
           }
        od;
        dead = (n == 0)
    :: else
    fi
}

/* try-incref by a reader (never the owner) */
inline try_incref() {
    got = 0;
    atomic { sc = scount; ss = sstate };
    do
    :: atomic { ss == MERGED && sc <= 0 } -> break   /* merged and zero: being freed */
    :: else ->
#ifndef BROKEN_NO_ANNOUNCE
        if
        :: sc == 0 && ss == DEFAULT ->
            atomic {                              /* CAS DEFAULT -> MAYBE_WEAKREF */
                if
                :: scount == 0 && sstate == DEFAULT -> sstate = MAYBE_WEAKREF; ok = 1
                :: else -> sc = scount; ss = sstate; ok = 0
                fi
            };
            if
            :: !ok -> goto retry
            :: else
            fi;
            if
            :: lcount == 0 -> break               /* seq_cst load of local: dying */
            :: else
            fi;
            ss = MAYBE_WEAKREF
        :: else
        fi;
#endif
        atomic {                                  /* CAS +1, acquire */
            if
            :: scount == sc && sstate == ss ->
                scount = sc + 1; got = 1;
                assert(!destroyed)                /* P1: an increment of a destroyed object */
            :: else -> sc = scount; ss = sstate
            fi
        };
        if
        :: got -> break
        :: else
        fi;
retry:  skip
    od
}

/* a reader's drop: decref_shared_is_dead, then _tally_brc_queue_object or the free */
inline reader_decref() {
    requeue = 1;
    do
    :: requeue ->
        requeue = 0;
        atomic { sc = scount; ss = sstate };
        do
        :: atomic {
            W_ALIVE;
            assert(!(ss == MERGED && sc <= 0));   /* P2: decref of a dead object */
            q = (sc == 0 && ss <= MAYBE_WEAKREF);
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
        :: q ->                                   /* queue to the owner */
            q = 0;
            if
            :: tid == NOTID -> requeue = 1        /* merged meanwhile */
            :: else ->
                lock();
                if
                :: registered -> inq = 1; unlock()
                :: else ->                        /* owner gone: merge here (one owner-free path) */
                    unlock();
                    assert(false)                 /* not reached: the owner exits last */
                fi
            fi
        :: !q && ss == MERGED && n == 0 -> destroy()   /* finalizer ran already: destroy */
        :: else
        fi
    :: else -> break
    od
}

proctype Reader(byte me) {
    byte ss, q, ok, got, requeue;
    short sc, n;
    try_incref();
    if
    :: got ->
        W_ALIVE;                                  /* P1: uses the object */
        reader_decref()
    :: else
    fi;
    done++
}

proctype Owner() {
    byte me = OWNER;
    byte ss;
    short sc, l, n;
    bool dead, revived;
    /* the container drops the object: the owner's decref, local 1 -> 0 */
    atomic { ST_LOCAL(0) };
    owner_zero_is_dead();
    if
#ifdef NO_FINALIZER
    :: dead -> destroy()                          /* a type without a finalizer */
#else
    :: dead ->
        /* _tally_dealloc -> dealloc_one: the finalizer, once (GC object) */
        assert(!finalized);
        finalized = 1;
        /* _tally_rc_resurrect_begin */
#ifdef BROKEN_REVIVAL_ORDER
        atomic { ST_TID(me) };
        atomic { ST_LOCAL(1) };
        atomic { ST_SHARED(0, DEFAULT) };
#else
        atomic { ST_SHARED(0, DEFAULT) };
        atomic { ST_TID(me) };
#ifndef BROKEN_REVIVAL_RELAXED
        drain();                                  /* release: earlier stores first */
#endif
        atomic { ST_LOCAL(1) };
#endif
        /* the finalizer runs (does nothing with the object) */
#ifndef BROKEN_TRACK_AFTER_DROP
        W_ALIVE;                                  /* tally_gc_track: re-link on the GC list */
#endif
        /* _tally_rc_resurrect_end: still the owner (it did not detach) */
        atomic { assert(LD_TID == me); l = LD_LOCAL };
        assert(l >= 1);
        if
        :: l > 1 -> atomic { ST_LOCAL(l - 1) }; revived = 1
        :: else ->
            atomic { ST_LOCAL(0) };
            owner_zero_is_dead();
            revived = !dead
        fi;
#ifdef BROKEN_TRACK_AFTER_DROP
        if
        :: revived -> W_ALIVE                     /* re-link after the drop */
        :: else
        fi;
#endif
        if
        :: !revived -> destroy()
        :: else                                   /* a reader holds it: it dies at its drop */
        fi
#endif
    :: else                                       /* merged: a reader's drop destroys it */
    fi;
    /* exit: _tally_brc_thread_remove */
    do
    :: lock();
        if
        :: !inq -> registered = 0; unlock(); break
        :: else ->
            inq = 0;
            unlock();
            explicit_merge();
            if
            :: n == 0 -> destroy()
            :: else
            fi
        fi
    od;
    drain();
    done++
}

/* makes the owner's buffered stores visible, one location at a time, in any order */
active proctype flusher() {
end:
    do
    :: d_step { p_tid -> tid = v_tid; p_tid = 0 }
    :: d_step { p_local -> lcount = v_local; p_local = 0 }
    :: d_step { p_shared -> scount = v_scount; sstate = v_sstate; p_shared = 0 }
    od
}

init {
    byte i;
    atomic {
        run Owner();
        for (i : 1 .. READERS) { run Reader(i) }
    }
    done == NT;
    assert(ndestroy == 1 && !inq)                 /* P3 */
}
