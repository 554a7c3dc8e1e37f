/* tests/models/stw.pml - the stop-the-world handshake of sync/stw.c, with store buffers.
 *
 * Modelled from _tally_stop_the_world, _tally_start_the_world, _tally_stw_park, park_locked,
 * _tally_stw_attach, _tally_stw_detach and lock_parkable.  N threads; each is attached, and in
 * each of STEPS rounds it touches its object, passes a safepoint, detaches and re-attaches, or
 * stops the world (takes `owner` parkably, asks the others to park, "collects": reads and writes
 * every other thread's object, restarts).  At the end it detaches (thread exit).
 *
 * Memory model: SPIN is sequentially consistent, so the stores that another thread may read
 * without holding `mu` go through per-thread, per-location store buffers (one slot each), which
 * a separate process flushes in any order (stores to different locations may become visible
 * out of program order, as relaxed C11 stores may; PSO-like):
 *   - the objects' data (plain stores of the mutators and of the collector),
 *   - `countdown` (written by a parker under mu, polled relaxed by the requester),
 *   - each thread's `state` (written by the restart under mu, polled relaxed by the parked thread).
 * pthread_mutex_unlock is a release: it drains the caller's buffers.  pthread_mutex_lock is an
 * acquire only: it drains nothing (a store before it may become visible after it, as on Arm).
 * A seq_cst RMW (the fetch_or/fetch_and of the breaker word) drains the caller's buffers.
 * Loads are not reordered (they read the own buffer, else memory).  Everything else written
 * under mu and read under mu is stored directly: the unlock/lock pair orders it anyway.
 *
 * Abstracted: the registry lock (same parkable pattern as `owner`, covered by it), QSBR
 * offline/online around the waits, the gil backend (no handshake), timing of the 50 us poll (a
 * poll either sees the awaited value or gives up, at any moment), spurious condvar wake-ups.
 *
 * Properties:
 *   P1 (every thread parked when the world is stopped): when the requester starts to collect, no
 *      other thread is attached and running (ghost `running`), and no thread touches its object
 *      while another thread has the world stopped (assert in `access`).
 *   P2 (no stale data across the handshake): every read of an object sees the last value
 *      written to it in program/handshake order (ghost `ghost[]`): the collector sees what a
 *      parked thread wrote before it parked, a resumed thread sees what the collector wrote.
 *   P3 (no deadlock): SPIN's invalid-end-state check (every thread ends detached).
 *
 * Broken variants (-D):
 *   BROKEN_NO_COUNTDOWN       the requester does not count attached threads (stops at once)
 *   BROKEN_ATTACH_NO_WAIT     _tally_stw_attach does not wait while SUSPENDED
 *   BROKEN_DETACH_NO_PARK     _tally_stw_detach ignores TALLY_BREAK_STOP (not counted as parked)
 *   BROKEN_NO_SIGNAL          park_locked does not signal `parked` when the count reaches 0
 *   BROKEN_OWNER_NOT_PARKABLE the requester blocks on `owner` without honouring a stop
 *   BROKEN_RESUME_NO_LOCK     a parked thread whose poll saw the restart reads its object
 *                             before it takes mu (relaxed poll, no acquire before the first
 *                             access): needs the store buffers
 *                             (with -DNO_STORE_BUFFERS, stores go straight to memory and SPIN
 *                             accepts this variant: sequential consistency hides the bug)
 */
#ifndef N
#define N 2
#endif
#ifndef STEPS
#define STEPS 2
#endif
#define VMOD 4                    /* object values wrap: only equality matters */

#define ATTACHED  0
#define DETACHED  1
#define SUSPENDED 2

/* shared locations (mem[]), and the buffered store slots pend/pval[writer*L + location] */
#define DATA(i)  (i)
#define COUNT    (N)
#define STATE(i) (N + 1 + (i))
#define L        (2 * N + 1)
#define SLOTS    (N * L)

byte mem[L];                      /* all 0: data 0, countdown 0, every state ATTACHED */
bool pend[SLOTS];
byte pval[SLOTS];
byte npend;

byte mu;                          /* stw.mu: 0 free, else holder + 1 */
byte owner;                       /* stw.owner */
bool breaker[N];                  /* TALLY_BREAK_STOP (RMW only: never buffered) */
bool wait_parked[N];              /* waiting on cond `parked` */
bool wait_restart[N];             /* waiting on cond `restart` */

/* ghosts */
byte stopped_by;                  /* requester + 1 while it holds the world stopped */
bool running[N];                   /* attached and not parked */
byte ghost[N];                    /* last value written to DATA(i) */

inline ld(w, l, r) {
    if
    :: pend[(w) * L + (l)] -> r = pval[(w) * L + (l)]
    :: else -> r = mem[l]
    fi
}

inline st_buf(w, l, v) {
#ifdef NO_STORE_BUFFERS
    mem[l] = v
#else
    if
    :: pend[(w) * L + (l)] -> mem[l] = pval[(w) * L + (l)]
    :: else -> npend++
    fi;
    pend[(w) * L + (l)] = 1;
    pval[(w) * L + (l)] = v
#endif
}

inline store(w, l, v) { d_step { st_buf(w, l, v) } }

inline drain(w) {
    for (dj : 0 .. L - 1) {
        if
        :: pend[(w) * L + dj] -> mem[dj] = pval[(w) * L + dj]; pend[(w) * L + dj] = 0; npend--
        :: else
        fi
    }
    dj = 0
}

inline lock(m)   { atomic { m == 0 -> m = me + 1 } }
inline unlock(m) { d_step { drain(me); m = 0 } }

/* pthread_cond_wait: release mu atomically with joining the waiters, sleep, re-take mu */
#define cv_wait(cv) \
    d_step { drain(me); cv[me] = 1; mu = 0 }; \
    (cv[me] == 0); \
    lock(mu)

#define broadcast(cv) \
    for (i : 0 .. N - 1) { cv[i] = 0 }; \
    i = 0

/* touch the own object (attached, running) */
inline access() {
    assert(stopped_by == 0 || stopped_by == me + 1);     /* P1 */
    d_step {
        ld(me, DATA(me), v);
        assert(v == ghost[me]);                           /* P2 */
        st_buf(me, DATA(me), (v + 1) % VMOD);
        ghost[me] = (v + 1) % VMOD
    }
}

/* park_locked: under mu */
inline park_locked() {
    d_step { drain(me); breaker[me] = 0 };               /* seq_cst fetch_and: a full fence */
    mem[STATE(me)] = SUSPENDED;
    running[me] = 0;
    left = mem[COUNT] - 1;
    store(me, COUNT, left);
#ifndef BROKEN_NO_SIGNAL
    if
    :: left == 0 -> broadcast(wait_parked)
    :: else
    fi
#endif
}

/* _tally_stw_park: at a safepoint that saw TALLY_BREAK_STOP (relaxed hint) */
inline park() {
    lock(mu);
    if
    :: breaker[me] ->
        park_locked();
        unlock(mu);
        /* stw_poll of the own state, mu released: sees the restart or gives up */
        if
        :: mem[STATE(me)] != SUSPENDED -> saw = 1
        :: true -> saw = 0
        fi;
#ifdef BROKEN_RESUME_NO_LOCK
        /* the first access after the restart moved before the lock of mu */
        if
        :: saw -> d_step { ld(me, DATA(me), v); assert(v == ghost[me]) }   /* P2 */
        :: else
        fi;
#endif
        lock(mu);
        do
        :: mem[STATE(me)] == SUSPENDED -> cv_wait(wait_restart)
        :: else -> break
        od;
        mem[STATE(me)] = ATTACHED;
        running[me] = 1;
        unlock(mu);
        saw = 0;
        /* first access after the restart: sees what the collector wrote */
        d_step { ld(me, DATA(me), v); assert(v == ghost[me]) }   /* P2 */
    :: else -> unlock(mu)
    fi
}

inline attach() {
    lock(mu);
#ifndef BROKEN_ATTACH_NO_WAIT
    do
    :: mem[STATE(me)] == SUSPENDED -> cv_wait(wait_restart)
    :: else -> break
    od;
#endif
    mem[STATE(me)] = ATTACHED;
    running[me] = 1;
    unlock(mu)
}

inline detach() {
    lock(mu);
    if
#ifndef BROKEN_DETACH_NO_PARK
    :: breaker[me] -> park_locked()
#endif
    :: else -> mem[STATE(me)] = DETACHED; running[me] = 0
    fi;
    unlock(mu)
}

inline stop() {
    /* lock_parkable(&stw.owner) */
    do
    :: atomic { owner == 0 -> owner = me + 1 }; break
#ifndef BROKEN_OWNER_NOT_PARKABLE
    :: breaker[me] -> park()
#endif
    od;
    lock(mu);
    mem[COUNT] = 0;
    for (i : 0 .. N - 1) {
        if
        :: i == me
        :: i != me && mem[STATE(i)] == DETACHED -> mem[STATE(i)] = SUSPENDED
        :: i != me && mem[STATE(i)] == ATTACHED ->
            d_step { drain(me); breaker[i] = 1 };         /* seq_cst fetch_or */
#ifndef BROKEN_NO_COUNTDOWN
            mem[COUNT] = mem[COUNT] + 1
#endif
        :: i != me && mem[STATE(i)] == SUSPENDED          /* cannot happen: restart resets all */
        fi
    }
    i = 0;
    if
    :: mem[COUNT] > 0 ->
        unlock(mu);
        /* stw_poll(&countdown, 0): sees 0, or gives up; either way take mu and re-check */
        if
        :: mem[COUNT] == 0
        :: true
        fi;
        lock(mu);
        do
        :: mem[COUNT] > 0 -> cv_wait(wait_parked)
        :: else -> break
        od;
        unlock(mu)
    :: else -> unlock(mu)
    fi;
    d_step {
        stopped_by = me + 1;
        for (i : 0 .. N - 1) { assert(i == me || !running[i]) }   /* P1 */
        i = 0
    }
}

inline collect() {
    for (i : 0 .. N - 1) {
        if
        :: i != me ->
            d_step {
                ld(me, DATA(i), v);
                assert(v == ghost[i]);                    /* P2 */
                st_buf(me, DATA(i), (v + 1) % VMOD);
                ghost[i] = (v + 1) % VMOD
            }
        :: else
        fi
    }
    i = 0
}

inline start() {
    stopped_by = 0;
    lock(mu);
    for (i : 0 .. N - 1) {
        if
        :: mem[STATE(i)] == SUSPENDED -> store(me, STATE(i), DETACHED)
        :: else
        fi
    }
    broadcast(wait_restart);
    unlock(mu);
    unlock(owner)
}

proctype T(byte me) {
    byte k, v, i, dj, left;
    bool saw;
    running[me] = 1;
    do
    :: k < STEPS ->
        k++;
        if
        /* each choice commits before its first step (a lock may then block) */
        :: skip; access()
        :: breaker[me] -> park()         /* safepoint: the relaxed hint */
        :: skip; detach(); attach()
        :: skip; stop(); collect(); start()
        fi
    :: else -> break
    od;
    detach()
}

/* Makes buffered stores visible, one at a time, in any order. */
active proctype flusher() {
    byte f, r;
end:
    do
    :: atomic {
        npend > 0 ->
        f = 0;
        r = npend;
        do
        :: pend[f] && r > 1 -> r--; f++
        :: pend[f] -> break
        :: !pend[f] -> f++
        od;
        mem[f % L] = pval[f];
        pend[f] = 0;
        npend--;
        f = 0;
        r = 0
       }
    od
}

init {
    byte t;
    atomic {
        for (t : 0 .. N - 1) { running[t] = 1; run T(t) }
    }
}
