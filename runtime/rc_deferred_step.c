/* runtime/rc_deferred_step.c - the `deferred` backend's epochs: cuts, reconciliation steps, ZCT.
 *
 * Owns: the cut (a thread reads the epoch E and ships its log), applying shipped entries to the
 * counts, the zero-count table and its check, routing the deaths a step finds to the inbox of the
 * thread that caused them, the call_rcu chain of two grace periods that completes a cut, the
 * reconciliation step (solo and normal), the step a safepoint runs when one is due (with its
 * backpressure wait), and _tally_rc_flush.  The argument for the epochs and the memory-ordering
 * contract are in runtime/rc_deferred.c's header comment.
 */
#include "runtime/rc_deferred_internal.h"

#include <urcu/urcu-qsbr.h>

#define BACKLOG_LOGS 32   /* shipped logs beyond which a safepoint waits for the epoch */

/* ---- cuts ----------------------------------------------------------------------------------- */
/* A cut: read E, then ship.  Everything this thread logged before is in the queue now. */
void _tally_rcd_cut(rc_thread *t, bool refill)
{
    uint64_t e = tally_atomic_load_acquire(&_tally_rcd.epoch);  /* pairs with the release store of E */
    _tally_rcd_ship(t, refill);
    t->seen = e;
    /* Release: everything this thread did before the cut (also reads of objects whose
     * incref/decref pair cancelled and left no entry) happens before the step that relies on
     * this cut; the step acquires it (the grace period orders it too, invisibly to TSan). */
    tally_atomic_store_release(&t->cut_seq, t->cut_seq + 1);
}

/* ---- applying entries (under lock, or world stopped) --------------------------------------- */
/* A run of k increments of one object: one load and one store of its count. */
static inline void apply_inc_n(tally_object *o, uint32_t k)
{
    uint32_t c = tally_atomic_load_relaxed(&o->ob_ref_local);
    if (c == TALLY_IMMORTAL_REFCNT)
        return;
    /* reaching UINT32_MAX: immortal, as one at a time would */
    uint32_t n = (uint64_t)c + k >= TALLY_IMMORTAL_REFCNT ? TALLY_IMMORTAL_REFCNT : c + k;
    tally_atomic_store_relaxed(&o->ob_ref_local, n);
}

/* Runs of one entry repeated (a burst of increments or decrements of one object: a thread's
 * borrow of an object it does not hold last) are applied with one read-modify-write of the
 * count instead of one per entry, which would each wait for the previous store. */
static void apply_incs_range(const uintptr_t *p, const uintptr_t *end)
{
    while (p < end) {
        uintptr_t e = *p++;
        if ((e & 1u) || e == 0)
            continue;
        uint32_t k = 1;
        while (p < end && *p == e && k < UINT32_MAX / 2) {
            p++;
            k++;
        }
        apply_inc_n((tally_object *)e, k);
    }
}

/* Under `lock`. */
void _tally_rcd_apply_incs(const rc_batch *bt)
{
    for (rc_buf *b = bt->head; b; b = b->next) {
        apply_incs_range(b->e, b->e + b->n);
        if (b->counted) {   /* its owner's shipped increments: one log fewer unapplied */
            b->counted = 0;
            if (b->owner)
                tally_atomic_fetch_sub_relaxed(&b->owner->unapplied, (size_t)1);
        }
    }
}

/* Under `lock`; o already carries RC_QUEUED.  Out of memory for the table: into the spill
 * chain (owner forgotten; checked no earlier than its newest tag allows). */
static void zct_add(tally_object *o, uint64_t tag, rc_thread *owner)
{
    if (_tally_rcd.zct_n == _tally_rcd.zct_cap) {
        size_t cap = _tally_rcd.zct_cap ? _tally_rcd.zct_cap * 2 : 256;
        zct_entry *n = mi_realloc(_tally_rcd.zct, cap * sizeof *n);
        if (!n) {
            STAT_ADD(n_spilled, 1);
            chain_push(&_tally_rcd.zct_spill, o);
            if (tag > _tally_rcd.zct_spill_tag)
                _tally_rcd.zct_spill_tag = tag;
            return;
        }
        _tally_rcd.zct = n;
        _tally_rcd.zct_cap = cap;
    }
    _tally_rcd.zct[_tally_rcd.zct_n].o = o;
    _tally_rcd.zct[_tally_rcd.zct_n].tag = tag;
    _tally_rcd.zct[_tally_rcd.zct_n].owner = owner;
    _tally_rcd.zct_n++;
}

/* A count reached zero: queue it once (QUEUED flag), either in the ZCT (tag) or in `out`, and
 * then, when `out_owners` is given (gc_prepare), its owner in the parallel `out_owners`. */
void _tally_rcd_zero_reached(tally_object *o, uint64_t tag, obj_vec *out, thread_vec *out_owners,
                             rc_thread *owner)
{
    if (tally_atomic_load_relaxed(&o->ob_ref_shared) & RC_QUEUED)
        return;
    if (out) {
        tally_atomic_store_relaxed(&o->ob_ref_shared, 0);
        if (out_owners)
            vec_push_owned(out, out_owners, o, owner);
        else
            vec_push(out, o);
    } else {
        tally_atomic_store_relaxed(&o->ob_ref_shared, RC_QUEUED);
        zct_add(o, tag, owner);
    }
}

static void apply_decs_range(const uintptr_t *p, const uintptr_t *end, uint64_t tag, obj_vec *zeros_out,
                             thread_vec *owners_out, rc_thread *owner)
{
    while (p < end) {
        uintptr_t e = *p++;
        if (!(e & 1u) || e == 1u)
            continue;
        tally_object *o = (tally_object *)(e & ~(uintptr_t)1);
        uint32_t k = 1;
        while (p < end && *p == e && k < UINT32_MAX / 2) {
            p++;
            k++;
        }
        uint32_t c = tally_atomic_load_relaxed(&o->ob_ref_local);
        if (c != TALLY_IMMORTAL_REFCNT && c > k) {
            tally_atomic_store_relaxed(&o->ob_ref_local, c - k);   /* the run, at once */
            continue;
        }
        /* The run reaches zero (or an immortal count, or misuse): one at a time, as before. */
        bool zero = false;
        for (uint32_t i = 0; i < k; i++)
            zero |= apply_dec(o);
        if (zero)
            _tally_rcd_zero_reached(o, tag, zeros_out, owners_out, owner);
    }
}

/* The same for entries in place (a log that is not shipped: _tally_rc_gc_prepare). */
void _tally_rcd_apply_incs_range(const uintptr_t *p, const uintptr_t *end) { apply_incs_range(p, end); }
void _tally_rcd_apply_decs_range(const uintptr_t *p, const uintptr_t *end, uint64_t tag, obj_vec *zeros_out,
                                 thread_vec *owners_out, rc_thread *owner)
{
    apply_decs_range(p, end, tag, zeros_out, owners_out, owner);
}

/* Zeros go to the ZCT, or with zeros_out to zeros_out (and their owners to owners_out). */
void _tally_rcd_apply_decs(const rc_batch *bt, uint64_t tag, obj_vec *zeros_out, thread_vec *owners_out)
{
    for (rc_buf *b = bt->head; b; b = b->next) {
        apply_decs_range(b->e, b->e + b->n, tag, zeros_out, owners_out, b->owner);
        if (b->counted_decs) {
            b->counted_decs = 0;
            /* Release: the count stores above happen before a lock-free tally_refcount that
             * reads in_flight == 0 (acquire). */
            if (b->owner)
                tally_atomic_fetch_sub_release(&b->owner->in_flight, (size_t)1);
        }
    }
}

/* A death found by `self`'s step: into the inbox of the thread whose decrement caused it. */
static void route_dead(tally_object *o, rc_thread *owner, rc_thread *self, obj_vec *dead)
{
    if (!owner || owner == self) {
        vec_push(dead, o);
        return;
    }
    pthread_mutex_lock(&owner->inbox_lock);
    vec_push(&owner->inbox, o);
    tally_atomic_store_relaxed(&owner->inbox_n, vec_hint(&owner->inbox));
    pthread_mutex_unlock(&owner->inbox_lock);
    tally_atomic_fetch_or(&owner->ts->breaker, TALLY_BREAK_RC);
}

/* Move t's inbox into `dead`. */
void _tally_rcd_take_inbox(rc_thread *t, obj_vec *dead)
{
    if (!tally_atomic_load_relaxed(&t->inbox_n))
        return;
    obj_vec got = { NULL, 0, 0, NULL };
    pthread_mutex_lock(&t->inbox_lock);
    got = t->inbox;
    t->inbox = (obj_vec){ NULL, 0, 0, NULL };
    tally_atomic_store_relaxed(&t->inbox_n, 0);
    pthread_mutex_unlock(&t->inbox_lock);
    vec_move_all(dead, &got);
}

/* Flush: the deaths waiting for threads that are not attached now (they would free them only
 * after attaching again), and the caller's own.  Under ship_lock (the thread list). */
static void take_inboxes_of_detached(rc_thread *self, obj_vec *dead)
{
    _tally_rcd_take_inbox(self, dead);
    pthread_mutex_lock(&_tally_rcd.ship_lock);
    for (rc_thread *t = _tally_rcd.threads; t; t = t->next) {
        if (t != self && tally_atomic_load_relaxed(&t->ts->state) != TALLY_TS_ATTACHED)
            _tally_rcd_take_inbox(t, dead);
    }
    pthread_mutex_unlock(&_tally_rcd.ship_lock);
}

/* ZCT entries zeroed before the current epoch: dead if their count is still zero (every
 * increment a racing reader logged is applied by now), otherwise revived.  `all`: check every
 * entry (solo mode / world stopped: nothing can be pending). */
void _tally_rcd_zct_check(uint64_t e, bool all, obj_vec *dead, rc_thread *self)
{
    if (_tally_rcd.zct_spill && (all || _tally_rcd.zct_spill_tag < e)) {
        tally_object *o;
        while ((o = chain_pop(&_tally_rcd.zct_spill))) {
            tally_atomic_store_relaxed(&o->ob_ref_shared, 0);
            if (tally_atomic_load_relaxed(&o->ob_ref_local) == 0)
                route_dead(o, NULL, self, dead);
        }
        _tally_rcd.zct_spill_tag = 0;
    }
    size_t keep = 0;
    for (size_t i = 0; i < _tally_rcd.zct_n; i++) {
        zct_entry z = _tally_rcd.zct[i];
        if (!all && z.tag >= e) {
            _tally_rcd.zct[keep++] = z;
            continue;
        }
        tally_atomic_store_relaxed(&z.o->ob_ref_shared, 0);
        if (tally_atomic_load_relaxed(&z.o->ob_ref_local) == 0)
            route_dead(z.o, all ? NULL : z.owner, self, dead);
    }
    _tally_rcd.zct_n = keep;
}

/* ---- grace periods: the call_rcu chain ------------------------------------------------------ */
typedef struct gp_chain {
    struct rcu_head head;
    uint64_t target;
    int stage;
} gp_chain;

void _tally_rcd_cut_done_max(uint64_t e)
{
    uint64_t cur = tally_atomic_load_relaxed(&_tally_rcd.cut_done);
    while (cur < e &&
           !tally_atomic_cas_release(&_tally_rcd.cut_done, &cur, e))
        ;
}

/* Runs in urcu's call_rcu worker.  Stage 0: one grace period after E was stored, every online
 * thread passed a quiescent state, after which its safepoint reads E and cuts; queue again, and
 * a second grace period later those cuts are done (each thread passed one more safepoint). */
static void gp_chain_cb(struct rcu_head *h)
{
    gp_chain *c = caa_container_of(h, gp_chain, head);
    /* The block was written by the thread that queued it; liburcu's queue orders that before
     * this callback, invisibly to TSan (its release is in gp_chain_start / below). */
    TALLY_TSAN_ACQUIRE(c);
    if (c->stage == 0) {
        c->stage = 1;
        TALLY_TSAN_RELEASE(c);
        urcu_qsbr_call_rcu(&c->head, gp_chain_cb);
        return;
    }
    _tally_rcd_cut_done_max(c->target);
    tally_atomic_fetch_sub(&_tally_rcd.inflight, 1);
    mi_free(c);
}

static void gp_chain_start(uint64_t target)
{
    if (_tally_qsbr_in_fork_child() || tally_atomic_load(&_tally_rcd.forking))
        return;   /* tally_flush waits for its own grace periods */
    gp_chain *c = mi_malloc(sizeof *c);
    if (!c)
        return;   /* tally_flush waits for grace periods itself */
    c->target = target;
    c->stage = 0;
    tally_atomic_fetch_add(&_tally_rcd.inflight, 1);
    TALLY_TSAN_RELEASE(c);   /* pairs with the acquire in gp_chain_cb */
    urcu_qsbr_call_rcu(&c->head, gp_chain_cb);
}


/* ---- the reconciliation step ---------------------------------------------------------------- */
/* Under `lock` and ship_lock: the shipped logs, as one batch. */
static rc_batch take_shipped_locked(void)
{
    TALLY_ASSERT_HELD(&_tally_rcd.ship_lock);
    rc_batch cur = { NULL, NULL, 0 };
    batch_append(&cur, &_tally_rcd.shipped);
    tally_atomic_store_relaxed(&_tally_rcd.backlog, 0);
    return cur;
}

/* A step in solo mode: under `lock` and ship_lock, `self` the only registered thread; returns
 * with ship_lock released (held until then, so no thread registers and reads a count before the
 * zero stores of this step are published by the unlock).  Nothing can be unapplied anywhere:
 * everything at once, deaths into `dead` now.  `own_log` (tally_flush): also self's current log
 * and `last`, applied in place and emptied, and self's inbox. */
static void solo_step_locked(rc_thread *self, obj_vec *dead, bool own_log)
{
    TALLY_ASSERT_HELD(&_tally_rcd.lock);
    TALLY_ASSERT(solo_locked(self));
    uint64_t e = _tally_rcd.epoch;
    rc_batch cur = take_shipped_locked();
    struct _tally_rclog *l = self->log;
    uintptr_t *b = l->base, *p = own_log ? l->pos : l->base;
    if (own_log)
        STAT_ADD(n_solo, 1);
    else
        STAT_ADD(n_steps, 1);
    STAT_ADD(n_entries, cur.entries + (size_t)(p - b));
    _tally_rcd_apply_incs(&cur);
    apply_incs_range(b, p);
    if (own_log && l->last)
        apply_inc((tally_object *)l->last);   /* the pending increment */
    _tally_rcd_zct_check(e, true, dead, self);
    _tally_rcd_apply_decs(&_tally_rcd.prev, e, dead, NULL);
    _tally_rcd_apply_decs(&cur, e, dead, NULL);
    if (own_log) {
        apply_decs_range(b, p, e, dead, NULL, self);
        _tally_rcd_take_inbox(self, dead);
        l->pos = b;
        l->last = 0;
        self->gc_seen = 0;
        self->settled = 0;
    }
    _tally_rcd_batch_release_locked(&_tally_rcd.prev);
    _tally_rcd_batch_release_locked(&cur);
    tally_atomic_store_relaxed(&_tally_rcd.need_step, 0);   /* nothing shipped since: ship_lock held */
    pthread_mutex_unlock(&_tally_rcd.ship_lock);
    _tally_rcd_cut_done_max(e);
}

/* Called with `lock` held and the cut for the current epoch complete (or solo).  Deaths are
 * appended to `dead` (freed by the caller outside the locks).  Returns true when work remains
 * (a later step is needed). */
static bool step_locked(rc_thread *self, obj_vec *dead)
{
    TALLY_ASSERT_HELD(&_tally_rcd.lock);
    pthread_mutex_lock(&_tally_rcd.ship_lock);
    if (self && solo_locked(self)) {
        solo_step_locked(self, dead, false);
        return false;
    }
    uint64_t e = _tally_rcd.epoch;
    rc_batch cur = take_shipped_locked();
    STAT_ADD(n_steps, 1);
    STAT_ADD(n_entries, cur.entries);
    pthread_mutex_unlock(&_tally_rcd.ship_lock);

    _tally_rcd_apply_incs(&cur);
    /* Acquire every thread's latest cut (pairs with the release in _tally_rcd_cut()). */
    pthread_mutex_lock(&_tally_rcd.ship_lock);
    for (rc_thread *t = _tally_rcd.threads; t; t = t->next)
        (void)tally_atomic_load_acquire(&t->cut_seq);
    pthread_mutex_unlock(&_tally_rcd.ship_lock);
    _tally_rcd_zct_check(e, false, dead, self);
    _tally_rcd_apply_decs(&_tally_rcd.prev, e, NULL, NULL);
    pthread_mutex_lock(&_tally_rcd.ship_lock);
    _tally_rcd_batch_release_locked(&_tally_rcd.prev);
    _tally_rcd.prev = cur;
    bool remaining = _tally_rcd.prev.head != NULL || zct_pending_locked();
    tally_atomic_store_relaxed(&_tally_rcd.need_step, remaining || _tally_rcd.shipped.head != NULL);
    pthread_mutex_unlock(&_tally_rcd.ship_lock);
    if (remaining) {
        /* The zero stores above happen before E+1 is visible: a reader that cuts for E+1 sees
         * them (acquire load of E in _tally_rcd_cut()). */
        tally_atomic_store_release(&_tally_rcd.epoch, e + 1);
        gp_chain_start(e + 1);
    }
    return remaining;
}


/* Run a step if one is due and nobody else is running one.  Attached caller, no locks held. */
static void wait_cut(void);

void _tally_rcd_maybe_step(rc_thread *t)
{
    if (!tally_atomic_load_relaxed(&_tally_rcd.need_step))
        return;
    uint64_t e = tally_atomic_load_acquire(&_tally_rcd.epoch);
    bool solo = tally_atomic_load_relaxed(&_tally_rcd.nthreads) == 1;
    if (!solo && tally_atomic_load_acquire(&_tally_rcd.cut_done) < e) {
        /* Backpressure: when the shipped logs pile up faster than the asynchronous grace
         * periods complete, the thread at this safepoint waits for the cut itself (detached,
         * so nobody waits for it) and reconciles: producers of refcount traffic pay for it,
         * and the backlog stays near BACKLOG_LOGS logs. */
        if (tally_atomic_load_relaxed(&_tally_rcd.backlog) < BACKLOG_LOGS * _tally_rcd.cap)
            return;
        wait_cut();
    }
    if (pthread_mutex_trylock(&_tally_rcd.lock) != 0)
        return;
    _tally_rcd_cut(t, true);
    obj_vec dead = { NULL, 0, 0, NULL };
    pthread_mutex_lock(&_tally_rcd.ship_lock);
    solo = solo_locked(t);
    pthread_mutex_unlock(&_tally_rcd.ship_lock);
    if (solo || tally_atomic_load_acquire(&_tally_rcd.cut_done) >= _tally_rcd.epoch)
        step_locked(t, &dead);
    pthread_mutex_unlock(&_tally_rcd.lock);
    _tally_rcd_cascade_free(t, &dead);
    vec_free(&dead);
}


/* Wait until the cut for the current epoch is complete: two grace periods, detached so that
 * neither this thread nor a stop-the-world waits for the other. */
static void wait_cut(void)
{
    uint64_t e = tally_atomic_load_acquire(&_tally_rcd.epoch);
    if (_tally_qsbr_in_fork_child()) {
        if (tally_atomic_load_relaxed(&_tally_rcd.nthreads) > 1) {
            /* No grace periods in a child (liburcu is not used there): another thread started in
             * the child may hold operations in its unshipped log (an increment on an object
             * whose last other reference this thread dropped).  A stop-the-world parks it, and
             * the world-stopped prepare applies every log and completes the cut, as for a
             * collection. */
            bool held = _tally_world_is_stopped();   /* by this thread: the others are parked */
            if (!held && _tally_stop_the_world(NULL) != 0)
                _tally_fatal("deferred: cannot stop the world in a fork child: %s", tally_last_error());
            _tally_rc_gc_prepare();
            if (!held)
                _tally_start_the_world();
            _tally_rc_gc_after();
        }
        _tally_rcd_cut_done_max(e);   /* alone: this thread's cut is the whole cut */
        return;
    }
    STAT_ADD(n_waits, 1);
    /* Ask every other attached thread to pass a quiescent state and cut at its next allocation
     * or safepoint (TALLY_BREAK_RC), not only at its next explicit safepoint: a thread busy
     * allocating would otherwise hold each of the two grace periods for a whole batch of work. */
    pthread_mutex_lock(&_tally_rcd.ship_lock);
    tally_thread_state *self_ts = _tally_tstate();
    for (rc_thread *t = _tally_rcd.threads; t; t = t->next)
        if (t->ts != self_ts && tally_atomic_load_relaxed(&t->ts->state) == TALLY_TS_ATTACHED)
            tally_atomic_fetch_or(&t->ts->breaker, TALLY_BREAK_RC);
    pthread_mutex_unlock(&_tally_rcd.ship_lock);
    int c = _tally_nocancel_begin();
    tally_thread_state *ts = _tally_allow_threads_begin();   /* cuts this thread's log */
    urcu_qsbr_synchronize_rcu();
    urcu_qsbr_synchronize_rcu();
    _tally_allow_threads_end(ts);
    _tally_nocancel_end(c);
    _tally_rcd_cut_done_max(e);
}

/* Apply the caller's log and every shipped log, wait for epochs until no pending decrement,
 * ZCT entry or death of theirs remains, and free what died (on this thread).  Other attached
 * threads' unshipped logs are taken at their next safepoint (they cut during our waits). */
void _tally_rc_flush(void)
{
    tally_thread_state *ts = _tally_tstate_require("tally_flush");
    if (!ts)
        return;
    STAT_ADD(n_flush, 1);
    obj_vec dead = { NULL, 0, 0, NULL };
    /* The caller cuts while holding `lock`, so no step is running: what it ships, and what
     * others shipped before, is grabbed by the step at the current epoch E; the decrements are
     * applied at E+1 and their zeros checked at E+2.  Others' later work does not prolong it. */
    uint64_t need_until = 0;
    bool first = true;
    uint64_t queued = 0;   /* t->zct_queued when the window was last set */
    for (;;) {
        rc_thread *t = ts->rc_data;
        if (!t)
            break;
        pthread_mutex_lock(&_tally_rcd.lock);
        pthread_mutex_lock(&_tally_rcd.ship_lock);
        if (solo_locked(t) && t->log->base) {
            /* Alone: apply everything, this thread's log in place, and free at once; repeat
             * while the deaths log more (a chain of a million lists is a million rounds). */
            solo_step_locked(t, &dead, true);
            pthread_mutex_unlock(&_tally_rcd.lock);
            if (vec_empty(&dead))
                break;
            _tally_rcd_cascade_free(t, &dead);
            continue;
        }
        pthread_mutex_unlock(&_tally_rcd.ship_lock);
        bool had = t->log->base && t->log->pos != t->log->base;
        _tally_rcd_cut(t, true);
        /* Zeros this flush's own cascades queued in the ZCT extend the window too. */
        if (had || first || t->zct_queued != queued)
            need_until = _tally_rcd.epoch + 2;
        queued = t->zct_queued;
        first = false;
        pthread_mutex_lock(&_tally_rcd.ship_lock);
        bool idle = !_tally_rcd.shipped.head && !_tally_rcd.prev.head && !zct_pending_locked();
        pthread_mutex_unlock(&_tally_rcd.ship_lock);
        if (idle || _tally_rcd.epoch > need_until) {
            pthread_mutex_unlock(&_tally_rcd.lock);
            take_inboxes_of_detached(t, &dead);
            if (vec_empty(&dead))
                break;
            _tally_rcd_cascade_free(t, &dead);   /* may log more: go round again */
            continue;
        }
        if (tally_atomic_load_acquire(&_tally_rcd.cut_done) < _tally_rcd.epoch) {
            pthread_mutex_unlock(&_tally_rcd.lock);
            wait_cut();
            continue;
        }
        step_locked(t, &dead);
        pthread_mutex_unlock(&_tally_rcd.lock);
        take_inboxes_of_detached(t, &dead);
        _tally_rcd_cascade_free(t, &dead);
    }
    vec_free(&dead);
}

