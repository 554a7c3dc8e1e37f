/* tests/models/deferred.pml - the deferred backend's epochs: logs, cuts, reconciliation steps,
 * the zero-count table and try-incref.
 *
 * Modelled from runtime/rc_deferred*.c: cut / ship, _tally_rc_safepoint (quiescent state, then
 * a cut if E changed, then maybe_step), _tally_rc_on_detach (a cut, then offline), step_locked
 * (take the shipped logs = batch k; apply its increments; check the ZCT; apply the decrements
 * of batch k-1; publish E+1 and start a grace-period chain if work remains), zct_check,
 * zero_reached, gp_chain_cb (two grace periods, then cut_done = target), _tally_rc_try_incref
 * (refuse a count of 0, else log an increment) and tally_flush's loop at the end.
 *
 * One object o.  At the start a shared container (one slot) holds the only reference (count 1,
 * applied).  N threads, STEPS0 rounds for thread 0 and STEPS for the others, choose between:
 *   - get o through its weakref: try-incref (a logged increment if the count read is > 0); a
 *     weakref can be read at any moment until o dies (its weakrefs are cleared at death; here,
 *     at the step's decision), unlike a container, whose readers load the item before their
 *     next quiescent state;
 *   - remove o from the slot (the container's reference dropped: a logged decrement);
 *   - append a copy of a held reference to the empty slot (a logged increment);
 *   - drop a held reference (a logged decrement);
 *   - pass a safepoint; ship a full log (a cut); detach and re-attach.
 * Steps run at the threads' safepoints (maybe_step: cut, then step if the cut is complete) and
 * in a `reconciler` process that stands for other threads' tally_flush / safepoints (it logs
 * nothing and is offline while it waits, as a flushing thread is).  A `chain` process is the
 * call_rcu grace-period chain.
 * At the end a thread drops what it holds and detaches (a cut, then offline); when every
 * thread has ended, a last thread flushes (tally_flush: grace periods, steps until nothing is
 * shipped, pending or in the ZCT).
 *
 * The log of one object is two counters (increments, decrements): the reconciler never
 * depends on the order inside a log, only on which batch an entry is in.  The `last` slot and
 * its cancelling pairs, run-length application, the cascade, the collector's prepare / settle,
 * solo mode, backpressure, resurrection (DYING), inboxes (a death is routed to a thread that
 * frees it later: here the death is the step's decision) and fork are not modelled.
 * Grace periods are liburcu's contract, as in tests/models/qsbr.pml: gp counter, ctr per thread
 * (0 offline), synchronize_rcu waits until every ctr is 0 or >= its new gp.  Sequentially
 * consistent: the orders the argument uses are the acquire load of E at a cut against the
 * release store of E after the step's zero stores, the ship_lock / lock hand-overs, and the
 * full barriers of urcu-qsbr's quiescent states and grace periods.
 *
 * Properties:
 *   P1 no use after free: a thread never holds (copies, drops, uses) a reference to o after o
 *      was found dead; try-incref never succeeds on it; no step applies an entry to it;
 *   P2 a count never goes below zero (apply_dec of a count of 0);
 *   P3 no leak: after the final flush o is dead (every reference was dropped);
 *   P4 no deadlock.
 *
 * Broken variants (-D):
 *   BROKEN_DECS_SAME_EPOCH   a step applies its own batch's decrements, not the previous one's
 *   BROKEN_NO_ZCT            a count that reaches zero is dead at once (no zero-count table)
 *   BROKEN_ZCT_BEFORE_INCS   the ZCT is checked before the batch's increments are applied
 *   BROKEN_ONE_GRACE_PERIOD  the chain sets cut_done after one grace period, not two
 *   BROKEN_DETACH_NO_CUT     detach goes offline without shipping its log
 *   BROKEN_EPOCH_BEFORE_DECS the step publishes E+1 before it applies the decrements (rejected
 *                            with -DLAST_STARTS_DETACHED -DSTEPS0=2 -DSTEPS=4: the reader needs
 *                            four rounds, attaching inside the step)
 * -DLAST_STARTS_DETACHED: the last thread starts detached (offline), so that grace periods pass
 * without it until it attaches.
 */
#ifndef N
#define N 2
#endif
#ifndef STEPS0
#define STEPS0 3                  /* rounds of thread 0 */
#endif
#ifndef STEPS
#define STEPS 3                   /* rounds of the other threads */
#endif
#ifndef MAXHELD
#define MAXHELD 1                 /* references a thread holds at most */
#endif

/* the object */
byte count = 1;                   /* ob_ref_local: the container's reference */
bool dead;                        /* the step found it dead (freed) */
bool slot = 1;                    /* the container holds o */

/* logs: the current (unshipped) log of each thread, the shipped queue, the pending batch */
byte linc[N], ldec[N];
byte sh_inc, sh_dec;              /* rc.shipped */
byte prev_dec;                    /* rc.prev: decrements waiting one epoch */
bool zct;                         /* o in the zero-count table (RC_QUEUED) */
byte zct_tag;

byte E = 1;                       /* rc.epoch */
byte cut_done = 1;                /* rc.cut_done */
byte chain_want;                  /* highest target a grace-period chain was started for */
byte lk;                          /* rc.lock: 0 free, else holder + 1 */

/* urcu-qsbr */
byte gp = 1;
byte ctr[N];

byte held[N];                     /* ghost: references each thread holds */
byte ended;

#define USE assert(!dead)          /* P1 */

inline synchronize() {
    atomic { gp++; g = gp };
    for (t : 0 .. N - 1) { (ctr[t] == 0 || ctr[t] >= g) }
    t = 0
}

/* cut(): read E (acquire), ship under ship_lock */
inline cut() {
    atomic {
        e = E;
        sh_inc = sh_inc + linc[me]; sh_dec = sh_dec + ldec[me];
        linc[me] = 0; ldec[me] = 0;
        seen = e
    }
}

/* step_locked, with rc.lock held (not solo) */
inline step() {
    atomic { e = E; ci = sh_inc; cd = sh_dec; sh_inc = 0; sh_dec = 0 };
#ifdef BROKEN_ZCT_BEFORE_INCS
    zct_check();
#endif
    atomic {                                      /* apply the increments of batch k */
        if :: ci > 0 -> USE :: else fi;
        count = count + ci
    };
#ifndef BROKEN_ZCT_BEFORE_INCS
    zct_check();
#endif
#ifdef BROKEN_DECS_SAME_EPOCH
    prev_dec = prev_dec + cd; cd = 0;
#endif
#ifdef BROKEN_EPOCH_BEFORE_DECS
    atomic { if :: prev_dec > 0 || cd > 0 || zct -> E = e + 1 :: else fi };
#endif
    atomic {                                      /* apply the decrements of batch k-1 */
        if
        :: prev_dec > 0 ->
            USE;
            assert(count >= prev_dec);           /* P2 */
            count = count - prev_dec;
            if
            :: count == 0 && !zct ->              /* zero_reached */
#ifdef BROKEN_NO_ZCT
                dead = 1
#else
                zct = 1; zct_tag = e
#endif
            :: else
            fi
        :: else
        fi;
        prev_dec = cd;                            /* rc.prev = cur */
        rem = (prev_dec > 0 || zct)
    };
    if
    :: rem -> atomic { E = e + 1; if :: chain_want < e + 1 -> chain_want = e + 1 :: else fi }
    :: else
    fi
}

inline zct_check() {
    atomic {
        if
        :: zct && zct_tag < e ->
            zct = 0;
            if
            :: count == 0 -> USE; dead = 1        /* dead: freed (route_dead) */
            :: else                               /* revived by a reader's increment */
            fi
        :: else
        fi
    }
}

/* maybe_step at a safepoint */
inline maybe_step() {
    if
    :: atomic { (sh_inc > 0 || sh_dec > 0 || prev_dec > 0 || zct) && cut_done >= E && lk == 0 -> lk = me + 1 } ->
        cut();
        if
        :: cut_done >= E -> step()
        :: else
        fi;
        lk = 0
    :: else
    fi
}

inline safepoint() {
    ctr[me] = gp;                                 /* urcu_qsbr_quiescent_state */
    if
    :: E != seen -> cut()
    :: else
    fi;
    maybe_step()
}

inline try_incref() {
    atomic {
        if
        :: count > 0 && held[me] < MAXHELD ->   /* acquire load of the count */
            USE;                                  /* P1: a positive count of a dead object */
            linc[me]++; held[me]++
        :: else
        fi
    }
}

proctype T(byte me) {
    byte k, e, seen = 1, g, t, ci, cd;
    bool rem, att = 1;
#ifdef LAST_STARTS_DETACHED
    if
    :: me == N - 1 -> atomic { att = 0; ctr[me] = 0 }   /* starts detached (offline) */
    :: else
    fi;
#endif
    do
    :: (me == 0 && k < STEPS0) || (me != 0 && k < STEPS) ->
        k++;
        if
        :: att -> try_incref()
        :: atomic { att && slot -> slot = 0; ldec[me]++ }          /* remove it: the container drops */
        :: atomic { att && !slot && held[me] > 0 -> USE; slot = 1; linc[me]++ }   /* append a copy */
        :: atomic { att && held[me] > 0 -> USE; ldec[me]++; held[me]-- }           /* drop one */
        :: att -> safepoint()
        :: att -> cut()                           /* the log is full: shipped (a cut) */
        :: att ->                                 /* detach: a cut, then offline */
#ifndef BROKEN_DETACH_NO_CUT
            cut();
#endif
            atomic { ctr[me] = 0; att = 0 }
        :: !att -> atomic { ctr[me] = gp; seen = E; att = 1 }   /* attach: online, seen = E */
        fi
    :: else -> break
    od;
    if
    :: !att -> atomic { ctr[me] = gp; seen = E; att = 1 }
    :: else
    fi;
    do
    :: atomic { held[me] > 0 -> USE; ldec[me]++; held[me]-- }
    :: else -> break
    od;
    cut();                                        /* detach at exit */
    ctr[me] = 0;
    ended++
}

/* Steps run by some other thread (its tally_flush, or its safepoint after an idle period):
 * detached while it waits, so it holds back no grace period, and with nothing of its own logged. */
active proctype reconciler() {
    byte me = N + 1, e, ci, cd;
    bool rem;
end:
    do
    :: atomic { (sh_inc > 0 || sh_dec > 0 || prev_dec > 0 || zct) && cut_done >= E && lk == 0 -> lk = me + 1 };
        if
        :: cut_done >= E -> step()
        :: else
        fi;
        lk = 0
    od
}

/* the call_rcu chain: two grace periods after the step stored E, then cut_done = target */
active proctype chain() {
    byte want, g, t;
end:
    do
    :: atomic { chain_want > cut_done -> want = chain_want };
        synchronize();
#ifndef BROKEN_ONE_GRACE_PERIOD
        synchronize();
#endif
        atomic { if :: cut_done < want -> cut_done = want :: else fi }
    od
}

init {
    byte i, me, e, seen, g, t, ci, cd;
    bool rem;
    atomic {
        for (i : 0 .. N - 1) { ctr[i] = gp }
        for (i : 0 .. N - 1) { run T(i) }
    }
    ended == N;
    /* the container's reference: the last thread drops it (tally_fini's release) */
    if
    :: slot -> slot = 0; sh_dec++
    :: else
    fi;
    /* tally_flush: wait for the cut, step, until nothing is shipped, pending or in the ZCT */
    me = N;
    do
    :: atomic { lk == 0 -> lk = me + 1 };
        if
        :: !(sh_inc > 0 || sh_dec > 0 || prev_dec > 0 || zct) -> lk = 0; break
        :: else
        fi;
        e = E;
        lk = 0;
        synchronize(); synchronize();             /* wait_cut: two grace periods */
        atomic { if :: cut_done < e -> cut_done = e :: else fi };
        atomic { lk == 0 -> lk = me + 1 };
        if
        :: cut_done >= E -> step()
        :: else
        fi;
        lk = 0
    od;
    assert(dead && count == 0)                    /* P3 */
}
