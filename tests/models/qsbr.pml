/* tests/models/qsbr.pml - QSBR-delayed frees (sync/qsbr.c on liburcu's urcu-qsbr) against
 * lock-free readers.
 *
 * Modelled from _tally_free_delayed, flush_batch, free_batch_cb, _tally_qsbr_offline/online,
 * _tally_qsbr_quiescent, _tally_qsbr_thread_unregister, and the readers' pattern in
 * runtime/list.c / dict.c / weakref.c: load an item pointer from a shared container without a
 * lock, read the item's header (try-incref), and keep it only if the count was positive.
 *
 * One shared slot (a container's item) holds an object.  N threads, each attached (online) in
 * each of STEPS rounds:
 *   - reads the slot lock-free and try-increfs the object it found (holding it if that worked),
 *   - drops the object it holds (its last reference: a delayed free),
 *   - replaces the slot's object with a fresh one and drops the old one (delayed free),
 *   - passes a safepoint (a quiescent state),
 *   - detaches and re-attaches (offline, with the batch flushed first, then online).
 * At the end a thread drops what it holds and unregisters; thread 0 then clears the slot, as a
 * thread's exit or tally_fini drops references after unregistering (the unregistered path:
 * synchronize_rcu, then free).
 *
 * Delayed frees go to the thread's current batch; a batch is handed to call_rcu when it is full
 * (nondeterministic here: at any delayed free) or when the thread goes offline or unregisters.
 * The call_rcu worker takes every queued batch, waits for a grace period, frees their objects.
 *
 * Grace periods (liburcu's urcu-qsbr, abstracted): a counter gp; a thread's ctr is 0 while it is
 * offline and the value of gp at its last quiescent state otherwise; synchronize_rcu increments
 * gp to g and waits until every thread's ctr is 0 or >= g.  liburcu's own barriers (its formal
 * model checks them) are assumed: a quiescent state is a full barrier, so sequential consistency
 * is the right model at this level.
 *
 * Properties:
 *   P1 no use after free: a reader's header access (try-incref) and every access to an object
 *      it holds find the object not freed;
 *   P2 no double free; P3 no deadlock (invalid end states).
 *
 * Broken variants (-D):
 *   BROKEN_FREE_NOW         _tally_free_delayed frees at once (no grace period)
 *   BROKEN_QS_IN_READ       a quiescent state between the load of the slot and the try-incref
 *                           (a safepoint, e.g. an allocation, inside the lock-free read)
 *   BROKEN_BATCH_REUSED     flush_batch hands the batch to call_rcu but keeps it as the current
 *                           batch: a later free joins a batch whose grace period already began
 *   BROKEN_UNREGISTERED_NOW an unregistered thread frees at once (no synchronize_rcu)
 *   BROKEN_ONLINE_LATE      a re-attaching thread reads the slot before it comes back online
 */
#ifndef N
#define N 2
#endif
#ifndef STEPS
#define STEPS 3
#endif
#ifndef O
#define O      3                  /* objects: 0 in the slot at start, then fresh ones */
#endif
#define NONE   O
#define NB     (2 * N + 1)        /* batch slots */
#define NOB    NB

byte slot = 0;                    /* the container's item */
byte count[O + 1];                /* refcounts (count[NONE] unused) */
bool freed[O + 1];
byte next_obj = 1;                /* next fresh object */

byte gp = 1;                      /* urcu-qsbr grace-period counter */
byte ctr[N];                      /* 0: offline; else gp at the thread's last quiescent state */
bool registered[N];

byte bstate[NB];                  /* 0 free, 1 filling, 2 queued (call_rcu), 3 taken by worker */
byte bmask[NB];                   /* objects in the batch (bit o) */
byte nqueued;                     /* batches in state 2 */

inline quiescent() { ctr[me] = gp }   /* urcu_qsbr_quiescent_state: full barriers, then ctr = gp */

inline synchronize() {
    atomic { gp++; g = gp };
    for (t : 0 .. N - 1) { (ctr[t] == 0 || ctr[t] >= g) }
    t = 0
}

inline flush_batch() {
    if
    :: cur != NOB ->
        atomic {
            if
            :: bstate[cur] != 2 -> nqueued++
            :: else
            fi;
            bstate[cur] = 2
        };
#ifndef BROKEN_BATCH_REUSED
        cur = NOB
#endif
    :: else
    fi
}

inline free_now(o) {
    assert(!freed[o]);                          /* P2 */
    freed[o] = 1
}

/* _tally_free_delayed */
inline free_delayed(o) {
#ifdef BROKEN_FREE_NOW
    free_now(o)
#else
    if
    :: !registered[me] ->
#ifndef BROKEN_UNREGISTERED_NOW
        synchronize();
#endif
        free_now(o)
    :: else ->
        atomic {
            if
            :: cur == NOB ->
                for (t : 0 .. NB - 1) {
                    if
                    :: cur == NOB && bstate[t] == 0 -> cur = t
                    :: else
                    fi
                }
                t = 0;
                assert(cur != NOB);
                bstate[cur] = 1
            :: else
            fi;
            bmask[cur] = bmask[cur] | (1 << o)
        };
        if
        :: flush_batch()                         /* the batch is full */
        :: skip
        fi
    fi
#endif
}

/* the decrement that may reach 0 (the atomic / biased free path, reduced to its outcome) */
inline decref(o) {
    atomic {
        assert(!freed[o]);                      /* P1: the holder's access */
        count[o]--;
        dead = (count[o] == 0)
    };
    if
    :: dead -> dead = 0; free_delayed(o)
    :: else
    fi
}

inline read_slot() {
    p = slot;
#ifdef BROKEN_QS_IN_READ
    quiescent();
#endif
    if
    :: p != NONE ->
        atomic {
            assert(!freed[p]);                  /* P1: try-incref reads the header */
            if
            :: count[p] > 0 -> count[p]++; held = p
            :: else
            fi
        }
    :: else
    fi;
    p = NONE
}

inline replace() {
    atomic { n = next_obj; next_obj++; count[n] = 1 };
    atomic { p = slot; slot = n };              /* exchange under the container's lock */
    if
    :: p != NONE -> decref(p)
    :: else
    fi;
    p = NONE; n = 0
}

proctype T(byte me) {
    byte k, p = NONE, n, held = NONE, g, t, cur = NOB;
    bool dead;
    do
    :: k < STEPS ->
        k++;
        if
        :: held == NONE -> read_slot()
        :: held != NONE -> decref(held); held = NONE
        :: next_obj < O -> replace()
        :: skip; quiescent()
        :: skip;                                /* detach: offline (flushes first), attach */
            flush_batch();
            ctr[me] = 0;
#ifdef BROKEN_ONLINE_LATE
            if
            :: held == NONE -> read_slot()
            :: else
            fi;
#endif
            ctr[me] = gp
        fi
    :: else -> break
    od;
    if
    :: held != NONE -> decref(held); held = NONE
    :: else
    fi;
    /* _tally_qsbr_thread_unregister: flush the batch, then offline for good */
    flush_batch();
    atomic { ctr[me] = 0; registered[me] = 0 };
    if
    :: me == 0 ->                               /* drops after unregistering (exit, fini) */
        atomic { p = slot; slot = NONE };
        if
        :: p != NONE -> decref(p)
        :: else
        fi
    :: else
    fi
}

/* liburcu's call_rcu worker: take the queued batches, wait a grace period, free them */
active proctype worker() {
    byte b, o, g, t;
end:
    do
    :: atomic {
        nqueued > 0 ->
        nqueued = 0;
        for (b : 0 .. NB - 1) {
            if
            :: bstate[b] == 2 -> bstate[b] = 3
            :: else
            fi
        }
        b = 0
       };
        synchronize();
        atomic {
            for (b : 0 .. NB - 1) {
                if
                :: bstate[b] == 3 ->
                    for (o : 0 .. O - 1) {
                        if
                        :: bmask[b] & (1 << o) -> free_now(o)
                        :: else
                        fi
                    }
                    o = 0;
                    bmask[b] = 0;
                    bstate[b] = 0
                :: else
                fi
            }
            b = 0
        }
    od
}

init {
    byte i;
    atomic {
        count[0] = 1;                           /* the slot's reference */
        for (i : 0 .. N - 1) { registered[i] = 1; ctr[i] = gp }
        for (i : 0 .. N - 1) { run T(i) }
    }
}
