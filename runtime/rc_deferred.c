/* runtime/rc_deferred.c - the `deferred` backend: buffered reference counting in epochs.
 *
 * Owns: the backend interface (runtime/internal.h) for buffered counts after the Recycler
 * (Bacon et al., PLDI 2001 / ECOOP 2001) and the Gilectomy, plus _tally_deferred_log_slow and
 * the per-thread log _tally_rclog_tls that the inline fast path (include/tally/static/
 * rc_deferred.h) appends to.  docs/backend-deferred.md has the full argument; in short:
 *
 *  - incref/decref append the object pointer (bit 0 set for a decrement) to a thread-private log;
 *    no atomic instruction, no write to the object.  The newest increment waits in the log's
 *    `last` slot (a decrement of the same object cancels it); everything here that reads a log
 *    accounts for it.  A full log is *shipped* (handed to a global queue under ship_lock) and
 *    replaced; the thread asks itself (TALLY_BREAK_RC) to reconcile at its next safepoint or
 *    allocation.  Backpressure: a safepoint that finds BACKLOG_LOGS logs waiting waits for the
 *    epoch itself (detached) and reconciles.
 *  - Epochs.  `epoch` E is a global counter.  A thread *cuts* its log when it ships it after
 *    having read E: every entry logged before the cut is then in the shipped queue.  The cut for
 *    E is complete once every thread cut after E was published; the reconciler learns that from
 *    liburcu's QSBR grace periods: each safepoint is a quiescent state (after which the thread
 *    reads E and cuts if it changed), detaching cuts before going offline, and two grace periods
 *    after E was stored (a call_rcu chain, or synchronize_rcu() twice in tally_flush) every
 *    thread has passed a whole safepoint after the store, hence cut.  No thread is stopped.
 *  - A reconciliation step runs (one at a time, under `lock`) when the cut for the current E is
 *    complete: grab every shipped log (batch k); apply its increments; check the zero-count table
 *    (below); apply the decrements of batch k-1 (one epoch late); publish E+1.  Any increment
 *    that happened before a decrement of batch k-1 was logged before its thread's cut for E, so
 *    it is in batch k or earlier and is applied first: no count reaches zero while a thread holds
 *    a reference whose increment is still unapplied.
 *  - Zero-count table (ZCT, Deutsch-Bobrow): an object whose count reaches zero is not freed at
 *    once but one epoch later, if its count is still zero after the next batch's increments.
 *    This makes _tally_rc_try_incref (weakrefs, lock-free container reads) a plain logged
 *    increment: a reader that saw a positive count did so before its cut for E+1 (the zero store
 *    happens before E+1 is published, and the cut reads E with acquire), so its increment is in
 *    the next batch and revives the object before the check.
 *  - Solo mode: when the calling thread is the only registered thread (single-threaded
 *    programs, fork children, the last thread at shutdown) nothing can be unapplied elsewhere, so
 *    a step applies everything at once and frees at once, holding ship_lock so that no thread
 *    registers meanwhile.  The collector's world-stopped prepare does the same for all threads.
 *
 * Counts: ob_ref_local, written only by the reconciler (under `lock`, or with the world stopped)
 * with relaxed atomic stores; the fast path reads it relaxed for the immortality test only.
 * ob_ref_shared (unused by this backend's header layout) holds transient backend flags: QUEUED
 * while the object sits in the ZCT or the collector's release list, DYING while a finalizer of
 * the object runs (try_incref refuses it then; the bits above hold a log-ship count).
 *
 * Memory ordering:
 *  - log entries: written by the owner, handed over under ship_lock (unlock -> lock), so the
 *    reconciler sees them and every write the logging thread made to the object before them.
 *  - epoch: stored with release under `lock` after the step's zero stores; read with acquire at
 *    cuts.  Pairs so that a thread that cut for E+1 sees every count the step for E wrote.
 *  - cut_done: atomic max with release by the call_rcu chain / flush; read with acquire before a
 *    step (the grace periods themselves order the cuts before the chain's callback: urcu-qsbr's
 *    quiescent state and grace-period wait are full barriers).
 *  - cut_seq: each cut releases it, each step acquires every thread's (the same order the grace
 *    periods give, made visible to TSan, which does not see inside liburcu).
 *  - deallocation runs outside every lock: a death found by a step goes to the inbox of the
 *    thread whose decrement caused it (inbox_lock; freed at that thread's next safepoint or
 *    allocation), or is freed by the stepping thread when that thread is gone; tally_flush also
 *    frees what waits for detached threads.  Finalizers and weakref callbacks run there.
 * Lock order: lock -> ship_lock -> inbox_lock.  None is held while running user code.
 */
#include "runtime/internal.h"

#include <mimalloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <urcu/urcu-qsbr.h>

/* The `last` of a thread without a log (include/tally/static/rc_deferred.h): an immortal
 * object that is never logged, applied or freed; only its address and count are ever read. */
static tally_object rclog_no_log = { .ob_ref_local = TALLY_IMMORTAL_REFCNT, .ob_flags = TALLY_OBF_STATIC };
#define RCLOG_NO_LOG ((uintptr_t)&rclog_no_log)

TALLY_API _Thread_local struct _tally_rclog _tally_rclog_tls
    __attribute__((tls_model("initial-exec"))) = { .last = RCLOG_NO_LOG };

/* ob_ref_shared flags (this backend only) */
#define RC_QUEUED ((intptr_t)1)   /* in the ZCT or the release list */
#define RC_DYING  ((intptr_t)2)   /* finalizer running (resurrect_begin .. resurrect_end) */
#define RC_SHIFT  2               /* DYING: the thread's ship count at resurrect_begin above */

#define FREE_BUFS_MAX 64
#define BACKLOG_LOGS 32   /* shipped logs beyond which a safepoint waits for the epoch */
#define FORK_WAIT_NS (500u * 1000u * 1000u)   /* fork: longest wait for queued chains */

struct rc_thread;
typedef struct rc_buf {
    struct rc_buf *next;
    struct rc_thread *owner;   /* the thread that logged it (NULL once that thread is gone) */
    size_t n;          /* entries in e[] (set when shipped) */
    int counted;       /* shipped by ship(): counted in owner->unapplied until its increments are */
    int counted_decs;  /* ... and in owner->in_flight until its decrements are applied */
    uintptr_t e[];     /* rc.cap entries */
} rc_buf;

typedef struct rc_batch {
    rc_buf *head, *tail;
    size_t entries;
} rc_batch;

typedef struct obj_vec {
    tally_object **v;
    size_t n, cap;
} obj_vec;

struct rc_thread;
/* Thread records: the thread whose decrement zeroed each object of a parallel obj_vec. */
typedef struct thread_vec {
    struct rc_thread **v;
    size_t n, cap;
} thread_vec;

typedef struct rc_thread {
    struct rc_thread *next, *prev;  /* rc.threads, under ship_lock */
    tally_thread_state *ts;
    struct _tally_rclog *log;       /* &_tally_rclog_tls of that thread */
    rc_buf *buf;                    /* the buffer the log points into (NULL while detached) */
    uint64_t seen;                  /* epoch read at the last cut (owner only) */
    uint64_t cut_seq;               /* cuts made; release store at each cut (see step_locked) */
    uint64_t ships;                 /* logs shipped by this thread (owner only) */
    int tearing_down;               /* inside thread_teardown (its flush may detach) */
    /* Deaths this thread's decrements caused, found by another thread's step: freed by this
     * thread at its next safepoint (so each thread pays for its own garbage). */
    pthread_mutex_t inbox_lock;
    obj_vec inbox;
    size_t inbox_n;                 /* hint, relaxed */
    /* Members of the collector's final unreachable set whose count this thread, clearing it,
     * brought to zero (gc_settle_log); freed by _tally_rc_gc_settle.  Owner only. */
    obj_vec gc_dead;
    obj_vec gc_dying;               /* the deaths being freed (kept to reuse its memory) */
    size_t gc_seen;                 /* leading log entries gc_settle_log has kept (not of U) */
    /* The cascade (cascade_free): this thread deallocating objects whose death is confirmed,
     * releasing their references directly (owner only; see "the cascade" below). */
    int cascading;                  /* inside cascade_free */
    int seg_mode;                   /* SEG_*: how the entries of the current death are settled */
    tally_object *seg_obj;          /* the object being deallocated */
    size_t settled;                 /* log entries before this index hold no increment */
    size_t seg_dec;                 /* log index from which decrements may be direct */
    uint64_t log_gen;               /* buffers installed or cleared (log_install, log_clear) */
    uint64_t seg_gen;               /* log_gen when the death began: any other buffer since (a
                                     * ship, a detach, the collector's world-stopped take-over of
                                     * a parked thread's log) turns SEG_* off */
    obj_vec cascade;                /* deaths found by cascade_settle, to deallocate next */
    uint64_t zct_queued;            /* zeros cascade_settle put in the ZCT (tally_flush waits) */
    unsigned ncredit;               /* SEG_CREDITS: the references seg_obj holds (traverse) */
    tally_object *credit[16];
    /* Logs this thread shipped whose increments no step has applied yet: incremented by ship()
     * (atomic, owner), decremented by whoever applies their increments (under `lock`); read
     * under `lock` by cascade_settle, which then sees every decrement made before. */
    size_t unapplied;
    /* Logs this thread shipped whose decrements no step has applied yet (>= unapplied):
     * incremented by ship(), decremented with release after the decrements are applied; zero
     * (acquire) lets tally_refcount read the count without the locks. */
    size_t in_flight;
} rc_thread;

typedef struct zct_entry {
    tally_object *o;
    uint64_t tag;                   /* epoch when its count was set to zero */
    struct rc_thread *owner;        /* thread whose decrement zeroed it (NULL: unknown/gone) */
} zct_entry;

static struct {
    pthread_mutex_t lock;           /* one reconciler: prev, zct, release, count writes */
    pthread_mutex_t ship_lock;      /* shipped, free buffers, thread list */
    size_t cap;                     /* entries per log */
    uint64_t epoch;                 /* E; written under lock (release), read acquire */
    uint64_t cut_done;              /* highest E whose cut is complete (atomic max) */
    int need_step;                  /* something is shipped or pending (hint, relaxed) */
    int inflight;                   /* call_rcu chains not yet finished (atomic) */
    int forking;                    /* fork() in progress: start no chain (atomic) */
    size_t backlog;                 /* entries in `shipped` (hint, relaxed; set under ship_lock) */
    /* under ship_lock */
    rc_batch shipped;
    rc_buf *free_bufs;
    size_t nfree;
    rc_thread *threads;
    size_t nthreads;
    /* under lock */
    rc_batch prev;                  /* increments applied, decrements waiting one epoch */
    zct_entry *zct;
    size_t zct_n, zct_cap;
    obj_vec release;                /* gc_prepare -> gc_after: zero counts kept at 1 */
    thread_vec release_owner;       /* ... and the thread whose decrement zeroed each */
    /* figures (relaxed atomics), printed at fini when TALLY_DEFERRED_STATS is set */
    uint64_t n_steps, n_solo, n_flush, n_waits, n_deaths, n_ships, n_entries, n_direct;
} rc = {
    .lock = PTHREAD_MUTEX_INITIALIZER,
    .ship_lock = PTHREAD_MUTEX_INITIALIZER,
};

#define STAT_ADD(f, v) tally_atomic_fetch_add_relaxed(&rc.f, (uint64_t)(v))

/* ---- small helpers ------------------------------------------------------------------------ */
static void vec_push(obj_vec *v, tally_object *o)
{
    if (v->n == v->cap)
        v->v = _tally_grow_ptrs(v->v, &v->cap, 64, "the deferred backend's pending objects");
    v->v[v->n++] = o;
}


static void vec_free(obj_vec *v)
{
    mi_free(v->v);
    v->v = NULL;
    v->n = v->cap = 0;
}

static void thread_vec_push(thread_vec *v, struct rc_thread *t)
{
    if (v->n == v->cap)
        v->v = _tally_grow_ptrs(v->v, &v->cap, 64, "the deferred backend's release list");
    v->v[v->n++] = t;
}

static void thread_vec_free(thread_vec *v)
{
    mi_free(v->v);
    v->v = NULL;
    v->n = v->cap = 0;
}

static void batch_append(rc_batch *dst, rc_batch *src)
{
    if (!src->head)
        return;
    if (dst->tail)
        dst->tail->next = src->head;
    else
        dst->head = src->head;
    dst->tail = src->tail;
    dst->entries += src->entries;
    src->head = src->tail = NULL;
    src->entries = 0;
}

static void batch_push(rc_batch *dst, rc_buf *b)
{
    b->next = NULL;
    rc_batch one = { b, b, b->n };
    batch_append(dst, &one);
}

/* Under ship_lock. */
static inline bool solo_locked(rc_thread *self)
{
    TALLY_ASSERT_HELD(&rc.ship_lock);
    return rc.nthreads == 1 && rc.threads == self;
}

/* Under ship_lock. */
static rc_buf *buf_get_locked(void)
{
    TALLY_ASSERT_HELD(&rc.ship_lock);
    rc_buf *b = rc.free_bufs;
    if (b) {
        rc.free_bufs = b->next;
        rc.nfree--;
    }
    return b;
}

static rc_buf *buf_new(void)
{
    /* One slot past `end` for a pending `last` written out when the log is shipped. */
    rc_buf *b = mi_malloc(sizeof(rc_buf) + (rc.cap + 1) * sizeof(uintptr_t));
    if (!b)
        _tally_fatal("deferred refcounts: out of memory for a %zu-entry log", rc.cap);
    return b;
}

/* Under ship_lock: recycle the buffers of a batch whose entries have all been applied. */
static void batch_release_locked(rc_batch *bt)
{
    TALLY_ASSERT_HELD(&rc.ship_lock);
    rc_buf *b = bt->head;
    while (b) {
        rc_buf *next = b->next;
        if (rc.nfree < FREE_BUFS_MAX) {
            b->next = rc.free_bufs;
            rc.free_bufs = b;
            rc.nfree++;
        } else {
            mi_free(b);
        }
        b = next;
    }
    bt->head = bt->tail = NULL;
    bt->entries = 0;
}

static void log_install(rc_thread *t, rc_buf *b)
{
    t->buf = b;
    t->log->base = b->e;
    t->log->pos = b->e;
    t->log->end = b->e + rc.cap;
    t->log->last = 0;
    t->gc_seen = 0;
    t->settled = 0;
    t->log_gen++;
}

static void log_clear(rc_thread *t)
{
    t->log->base = t->log->pos = t->log->end = NULL;
    t->log->last = RCLOG_NO_LOG;
    t->gc_seen = 0;
    t->settled = 0;
    t->log_gen++;
}

static inline rc_thread *rc_self(void)
{
    tally_thread_state *ts = _tally_tstate();
    return ts ? (rc_thread *)ts->rc_data : NULL;
}

static void gc_settle_log(rc_thread *t);

/* ---- shipping and cuts ---------------------------------------------------------------------- */
/* Hand the owner's current log to the reconciler and install a fresh buffer (`refill`), or
 * leave the thread without one.  Owner only. */
static void ship(rc_thread *t, bool refill)
{
    rc_buf *b = t->buf;
    if (!b || !t->log->base)
        return;   /* detached: already shipped */
    if (t->ts->gc_clearing)
        gc_settle_log(t);   /* no operation on the unreachable set leaves this thread */
    if (t->log->last) {   /* the pending increment: into the log (the spare slot if full) */
        *t->log->pos++ = t->log->last;
        t->log->last = 0;
    }
    size_t n = (size_t)(t->log->pos - b->e);
    if (n == 0) {
        if (!refill) {
            log_clear(t);
            /* keep t->buf for the next attach */
        }
        return;
    }
    b->n = n;
    b->owner = t->tearing_down ? NULL : t;   /* a thread going away receives no more deaths */
    b->counted = b->counted_decs = b->owner != NULL;
    if (b->counted) {
        tally_atomic_fetch_add_relaxed(&t->unapplied, (size_t)1);
        tally_atomic_fetch_add_relaxed(&t->in_flight, (size_t)1);
    }
    STAT_ADD(n_ships, 1);
    rc_buf *fresh = NULL;
    pthread_mutex_lock(&rc.ship_lock);
    batch_push(&rc.shipped, b);
    tally_atomic_store_relaxed(&rc.backlog, rc.shipped.entries);
    tally_atomic_store_relaxed(&rc.need_step, 1);
    if (refill)
        fresh = buf_get_locked();
    pthread_mutex_unlock(&rc.ship_lock);
    t->ships++;
    if (refill) {
        log_install(t, fresh ? fresh : buf_new());
    } else {
        t->buf = NULL;
        log_clear(t);
    }
}

/* A cut: read E, then ship.  Everything this thread logged before is in the queue now. */
static void cut(rc_thread *t, bool refill)
{
    uint64_t e = tally_atomic_load_acquire(&rc.epoch);  /* pairs with the release store of E */
    ship(t, refill);
    t->seen = e;
    /* Release: everything this thread did before the cut (also reads of objects whose
     * incref/decref pair cancelled and left no entry) happens before the step that relies on
     * this cut; the step acquires it (the grace period orders it too, invisibly to TSan). */
    tally_atomic_store_release(&t->cut_seq, t->cut_seq + 1);
}

/* ---- applying entries (under lock, or world stopped) --------------------------------------- */
static inline void apply_inc(tally_object *o)
{
    uint32_t c = tally_atomic_load_relaxed(&o->ob_ref_local);
    if (c == TALLY_IMMORTAL_REFCNT)
        return;
    tally_atomic_store_relaxed(&o->ob_ref_local, c + 1);  /* reaching UINT32_MAX: immortal */
}

/* Returns true when the count reached zero. */
static inline bool apply_dec(tally_object *o)
{
    uint32_t c = tally_atomic_load_relaxed(&o->ob_ref_local);
    if (c == TALLY_IMMORTAL_REFCNT)
        return false;
    if (tally_unlikely(c == 0)) {
        _tally_misuse(o, "tally_decref: negative refcount (deferred: a decrement applied to a count of 0)");
        return false;
    }
    if (tally_unlikely(_TALLY_REFCNT_IS_DEAD(c))) {
        _tally_refcount_dead_error(o, "tally_decref");   /* quarantined (runtime/quarantine.c) */
        return false;
    }
    tally_atomic_store_relaxed(&o->ob_ref_local, c - 1);
    return c == 1;
}

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
static void apply_incs(const rc_batch *bt)
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

static void zct_add(tally_object *o, uint64_t tag, rc_thread *owner)
{
    if (rc.zct_n == rc.zct_cap) {
        size_t cap = rc.zct_cap ? rc.zct_cap * 2 : 256;
        zct_entry *n = mi_realloc(rc.zct, cap * sizeof *n);
        if (!n)
            _tally_fatal("deferred refcounts: out of memory for the zero-count table (%zu)", cap);
        rc.zct = n;
        rc.zct_cap = cap;
    }
    rc.zct[rc.zct_n].o = o;
    rc.zct[rc.zct_n].tag = tag;
    rc.zct[rc.zct_n].owner = owner;
    rc.zct_n++;
}

/* A count reached zero: queue it once (QUEUED flag), either in the ZCT (tag) or in `out`, and
 * then, when `out_owners` is given (gc_prepare), its owner in the parallel `out_owners`. */
static void zero_reached(tally_object *o, uint64_t tag, obj_vec *out, thread_vec *out_owners, rc_thread *owner)
{
    if (tally_atomic_load_relaxed(&o->ob_ref_shared) & RC_QUEUED)
        return;
    if (out) {
        tally_atomic_store_relaxed(&o->ob_ref_shared, 0);
        vec_push(out, o);
        if (out_owners)
            thread_vec_push(out_owners, owner);
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
            zero_reached(o, tag, zeros_out, owners_out, owner);
    }
}

/* Zeros go to the ZCT, or with zeros_out to zeros_out (and their owners to owners_out). */
static void apply_decs(const rc_batch *bt, uint64_t tag, obj_vec *zeros_out, thread_vec *owners_out)
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
    tally_atomic_store_relaxed(&owner->inbox_n, owner->inbox.n);
    pthread_mutex_unlock(&owner->inbox_lock);
    tally_atomic_fetch_or(&owner->ts->breaker, TALLY_BREAK_RC);
}

/* Move t's inbox into `dead`. */
static void take_inbox(rc_thread *t, obj_vec *dead)
{
    if (!tally_atomic_load_relaxed(&t->inbox_n))
        return;
    obj_vec got = { NULL, 0, 0 };
    pthread_mutex_lock(&t->inbox_lock);
    got = t->inbox;
    t->inbox = (obj_vec){ NULL, 0, 0 };
    tally_atomic_store_relaxed(&t->inbox_n, 0);
    pthread_mutex_unlock(&t->inbox_lock);
    if (dead->n == 0) {
        vec_free(dead);
        *dead = got;
        return;
    }
    for (size_t i = 0; i < got.n; i++)
        vec_push(dead, got.v[i]);
    vec_free(&got);
}

/* Flush: the deaths waiting for threads that are not attached now (they would free them only
 * after attaching again), and the caller's own.  Under ship_lock (the thread list). */
static void take_inboxes_of_detached(rc_thread *self, obj_vec *dead)
{
    take_inbox(self, dead);
    pthread_mutex_lock(&rc.ship_lock);
    for (rc_thread *t = rc.threads; t; t = t->next) {
        if (t != self && tally_atomic_load_relaxed(&t->ts->state) != TALLY_TS_ATTACHED)
            take_inbox(t, dead);
    }
    pthread_mutex_unlock(&rc.ship_lock);
}

/* ZCT entries zeroed before the current epoch: dead if their count is still zero (every
 * increment a racing reader logged is applied by now), otherwise revived.  `all`: check every
 * entry (solo mode / world stopped: nothing can be pending). */
static void zct_check(uint64_t e, bool all, obj_vec *dead, rc_thread *self)
{
    size_t keep = 0;
    for (size_t i = 0; i < rc.zct_n; i++) {
        zct_entry z = rc.zct[i];
        if (!all && z.tag >= e) {
            rc.zct[keep++] = z;
            continue;
        }
        tally_atomic_store_relaxed(&z.o->ob_ref_shared, 0);
        if (tally_atomic_load_relaxed(&z.o->ob_ref_local) == 0)
            route_dead(z.o, all ? NULL : z.owner, self, dead);
    }
    rc.zct_n = keep;
}

/* ---- grace periods: the call_rcu chain ------------------------------------------------------ */
typedef struct gp_chain {
    struct rcu_head head;
    uint64_t target;
    int stage;
} gp_chain;

static void cut_done_max(uint64_t e)
{
    uint64_t cur = tally_atomic_load_relaxed(&rc.cut_done);
    while (cur < e &&
           !__atomic_compare_exchange_n(&rc.cut_done, &cur, e, 0, __ATOMIC_RELEASE, __ATOMIC_RELAXED))
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
    cut_done_max(c->target);
    tally_atomic_fetch_sub(&rc.inflight, 1);
    mi_free(c);
}

static void gp_chain_start(uint64_t target)
{
    if (_tally_qsbr_in_fork_child() || tally_atomic_load(&rc.forking))
        return;   /* tally_flush waits for its own grace periods */
    gp_chain *c = mi_malloc(sizeof *c);
    if (!c)
        return;   /* tally_flush waits for grace periods itself */
    c->target = target;
    c->stage = 0;
    tally_atomic_fetch_add(&rc.inflight, 1);
    TALLY_TSAN_RELEASE(c);   /* pairs with the acquire in gp_chain_cb */
    urcu_qsbr_call_rcu(&c->head, gp_chain_cb);
}

/* ---- the reconciliation step ---------------------------------------------------------------- */
/* Under `lock` and ship_lock: the shipped logs, as one batch. */
static rc_batch take_shipped_locked(void)
{
    TALLY_ASSERT_HELD(&rc.ship_lock);
    rc_batch cur = { NULL, NULL, 0 };
    batch_append(&cur, &rc.shipped);
    tally_atomic_store_relaxed(&rc.backlog, 0);
    return cur;
}

/* A step in solo mode: under `lock` and ship_lock, `self` the only registered thread; returns
 * with ship_lock released (held until then, so no thread registers and reads a count before the
 * zero stores of this step are published by the unlock).  Nothing can be unapplied anywhere:
 * everything at once, deaths into `dead` now.  `own_log` (tally_flush): also self's current log
 * and `last`, applied in place and emptied, and self's inbox. */
static void solo_step_locked(rc_thread *self, obj_vec *dead, bool own_log)
{
    TALLY_ASSERT_HELD(&rc.lock);
    TALLY_ASSERT(solo_locked(self));
    uint64_t e = rc.epoch;
    rc_batch cur = take_shipped_locked();
    struct _tally_rclog *l = self->log;
    uintptr_t *b = l->base, *p = own_log ? l->pos : l->base;
    if (own_log)
        STAT_ADD(n_solo, 1);
    else
        STAT_ADD(n_steps, 1);
    STAT_ADD(n_entries, cur.entries + (size_t)(p - b));
    apply_incs(&cur);
    apply_incs_range(b, p);
    if (own_log && l->last)
        apply_inc((tally_object *)l->last);   /* the pending increment */
    zct_check(e, true, dead, self);
    apply_decs(&rc.prev, e, dead, NULL);
    apply_decs(&cur, e, dead, NULL);
    if (own_log) {
        apply_decs_range(b, p, e, dead, NULL, self);
        take_inbox(self, dead);
        l->pos = b;
        l->last = 0;
        self->gc_seen = 0;
        self->settled = 0;
    }
    batch_release_locked(&rc.prev);
    batch_release_locked(&cur);
    tally_atomic_store_relaxed(&rc.need_step, 0);   /* nothing shipped since: ship_lock held */
    pthread_mutex_unlock(&rc.ship_lock);
    cut_done_max(e);
}

/* Called with `lock` held and the cut for the current epoch complete (or solo).  Deaths are
 * appended to `dead` (freed by the caller outside the locks).  Returns true when work remains
 * (a later step is needed). */
static bool step_locked(rc_thread *self, obj_vec *dead)
{
    TALLY_ASSERT_HELD(&rc.lock);
    pthread_mutex_lock(&rc.ship_lock);
    if (self && solo_locked(self)) {
        solo_step_locked(self, dead, false);
        return false;
    }
    uint64_t e = rc.epoch;
    rc_batch cur = take_shipped_locked();
    STAT_ADD(n_steps, 1);
    STAT_ADD(n_entries, cur.entries);
    pthread_mutex_unlock(&rc.ship_lock);

    apply_incs(&cur);
    /* Acquire every thread's latest cut (pairs with the release in cut()). */
    pthread_mutex_lock(&rc.ship_lock);
    for (rc_thread *t = rc.threads; t; t = t->next)
        (void)tally_atomic_load_acquire(&t->cut_seq);
    pthread_mutex_unlock(&rc.ship_lock);
    zct_check(e, false, dead, self);
    apply_decs(&rc.prev, e, NULL, NULL);
    pthread_mutex_lock(&rc.ship_lock);
    batch_release_locked(&rc.prev);
    rc.prev = cur;
    bool remaining = rc.prev.head != NULL || rc.zct_n > 0;
    tally_atomic_store_relaxed(&rc.need_step, remaining || rc.shipped.head != NULL);
    pthread_mutex_unlock(&rc.ship_lock);
    if (remaining) {
        /* The zero stores above happen before E+1 is visible: a reader that cuts for E+1 sees
         * them (acquire load of E in cut()). */
        tally_atomic_store_release(&rc.epoch, e + 1);
        gp_chain_start(e + 1);
    }
    return remaining;
}

/* ---- the collector's clear loop -------------------------------------------------------------
 * While its thread state has gc_clearing set, this thread is the collector breaking the cycles
 * of its final unreachable set U (objects with the UNREACHABLE bit; collector/gc.c, step 9).
 * Since the last stop of the world no other thread holds or can obtain a reference to a member
 * of U (nothing outside U refers to it, its weakrefs are cleared), and that stop applied every
 * log (_tally_rc_gc_prepare), so every operation on U since then is this thread's own and sits
 * in its log.  The epochs exist for increments that other threads have not shipped yet; there
 * are none for U, so these entries are applied here at once, the increments before the
 * decrements as in a step (in program order a count can touch zero and come back: the loop
 * takes a reference to each member of U, also to one whose last reference an earlier clear()
 * dropped with its decrement still in the log).  After both, a count is this thread's exact
 * view, so a zero is a death: no ZCT delay, and no grace period for the memory
 * (_tally_free_needs_grace).  This runs
 * whenever the log fills and before it is shipped for any reason, so no entry of U ever
 * reaches the epochs during the loop: one entry applied here and another of the same object
 * one epoch later could take its count to zero early.  Each call looks only at the entries
 * logged since the previous one (gc_seen: those before are kept, not of U; the bit is never
 * set again during the loop).  The collector's loop calls _tally_rc_gc_settle after every
 * object, so a 2-cycle dies in its first member's turn, as in the other backends (its second
 * member gets no turn of its own).  Deaths found when the log fills wait in gc_dead (that may
 * happen inside an object's critical section, where nothing may be freed) until that call; the
 * loop skips them meanwhile (try_incref sees zero).  The rest of the log is kept in order.
 * Settling only when the log filled (one turn per member of a 2-cycle, deaths in batches of
 * the log's size) measured 46.8-48.2 against 43.7-45.5 ns per object of a 1M-object 2-cycle
 * reclaim (7 collections per run, builds alternated); an earlier build had measured the
 * opposite (61 against 52), so the figure is worth re-checking when this code changes. */
static inline bool in_gc_unreachable(uintptr_t e)
{
    tally_object *o = (tally_object *)(e & ~(uintptr_t)1);
    return (tally_atomic_load_relaxed(&o->ob_gc_bits) & TALLY_GC_BIT_UNREACHABLE) != 0;
}

static void gc_settle_log(rc_thread *t)
{
    uintptr_t last = t->log->last;
    if (last && in_gc_unreachable(last)) {
        apply_inc((tally_object *)last);
        t->log->last = 0;
    }
    /* Increments of U applied and dropped (and holes erased by resurrect_end), the rest kept in
     * order; then the decrements of U the same way. */
    size_t n = (size_t)(t->log->pos - t->log->base);
    uintptr_t *from = t->log->base + (t->gc_seen < n ? t->gc_seen : n);
    uintptr_t *w = from;
    for (const uintptr_t *p = from; p < t->log->pos; p++) {
        uintptr_t e = *p;
        if (e <= 1u)
            continue;
        if ((e & 1u) || !in_gc_unreachable(e))
            *w++ = e;
        else
            apply_inc((tally_object *)e);
    }
    t->log->pos = w;
    w = from;
    for (const uintptr_t *p = from; p < t->log->pos; p++) {
        uintptr_t e = *p;
        if (!(e & 1u) || !in_gc_unreachable(e))
            *w++ = e;
        else if (apply_dec((tally_object *)(e & ~(uintptr_t)1)))
            vec_push(&t->gc_dead, (tally_object *)(e & ~(uintptr_t)1));
    }
    t->log->pos = w;
    t->gc_seen = (size_t)(w - t->log->base);
    t->settled = 0;   /* entries moved: the cascade rescans the log's increments */
}

static void dealloc_vec(obj_vec *dead);

void _tally_rc_gc_settle(void)
{
    rc_thread *t = rc_self();
    if (!t || !t->buf || !t->log->base)
        return;
    size_t deaths = 0;
    for (;;) {
        gc_settle_log(t);
        if (t->gc_dead.n == 0)
            break;
        /* The deallocations log decrements of what the dead held (and may fill the log, which
         * settles into gc_dead again): swap the vectors first. */
        obj_vec dead = t->gc_dead;
        t->gc_dead = t->gc_dying;
        deaths += dead.n;
        dealloc_vec(&dead);
        t->gc_dying = dead;
    }
    if (deaths)
        STAT_ADD(n_deaths, deaths);
}

/* Weakrefs that died in the same batch as their referent go first: a weakref being deallocated
 * never calls back (CPython), and deaths found together have no order of their own. */
static void weakrefs_first(obj_vec *dead)
{
    size_t w = 0;
    for (size_t i = 0; i < dead->n && dead->n > 1; i++) {
        if (_tally_is_weakref(dead->v[i])) {
            tally_object *t = dead->v[w];
            dead->v[w++] = dead->v[i];
            dead->v[i] = t;
        }
    }
}

static void dealloc_vec(obj_vec *dead)
{
    weakrefs_first(dead);
    for (size_t i = 0; i < dead->n; i++)
        _tally_dealloc(dead->v[i]);
    dead->n = 0;
}

static void dealloc_all(obj_vec *dead)
{
    STAT_ADD(n_deaths, dead->n);
    dealloc_vec(dead);
}


/* ---- the cascade: a confirmed death releases its references directly -----------------------
 * When a step (or solo mode) has confirmed a death, the thread that deallocates the object
 * (cascade_free) applies the decrements that its destroy makes of the references the object
 * held at once, instead of logging them for the epochs, as the Recycler's collector decrements
 * the children of an object it frees (Bacon et al., PLDI 2001, "Release").  A chain of a
 * million lists then dies in one pass instead of one epoch (two grace periods and a ZCT round)
 * per level.  Why a direct decrement of such a reference R to C is safe:
 *
 *  1. R's increment is applied.  It was logged by a thread while that thread held the dying
 *     object X, so before the decrement of that hold, which a step applied (X's count reached
 *     zero and stayed there at the ZCT check); by the epoch argument every increment that
 *     happened before an applied decrement is applied.  (In solo mode everything is.)
 *  2. Every copy of R that another thread made is applied for the same reason: it was made
 *     while that thread could still reach X, i.e. before X's death was confirmed.  Copies made
 *     since are this thread's own (X is unreachable from elsewhere): cascade_settle applies
 *     this thread's increments first - every one in its current log and `last` (always safe:
 *     a thread's own increments may be applied early) - and applies nothing directly while a
 *     log it shipped still waits to have its increments applied (`unapplied`).
 *  3. So when a direct decrement takes C's count to zero, no reference to C is left and no
 *     increment of C is pending anywhere: C is dead at once, unless a reader may reach it
 *     without a reference (SHARED: an item a lock-free container read may be on; WEAKREFS: a
 *     weakref get; a weakref object itself: tally_weakref_new reuses a basic weakref through
 *     try_incref, and a callback is taken that way).  Such a C goes to the ZCT, tagged with the current epoch under `lock`, as a
 *     step would put it: its zero store happens before E+1 is published (the step's release),
 *     so a racing try_incref's increment is applied before the check.  An object already
 *     QUEUED (ZCT, collector's release list) or DYING keeps its entry in the log.
 *  4. Which decrements are releases of X's references: for a list, tuple or dict without
 *     weakrefs (SEG_ALL), every decrement its destroy makes (runtime code that releases exactly
 *     its items and runs no user code).  For another type with `traverse` (SEG_CREDITS), at most
 *     as many decrements of each object as traverse lists references to it, taken when the
 *     destroy starts (or again after a finalizer or `del` found it dead: during one, nothing is
 *     direct, SEG_PENDING).  Anything else (types without traverse, more than 16 references,
 *     the log buffer replaced meanwhile: log_gen) goes through the epochs as before.
 * The assumption, the one CPython states for tp_clear and that the collector's clear loop makes
 * (gc_settle_log): a destroy (or a finalizer, weakref callback or del of a dying object) does
 * not exchange references with other threads while it runs - it does not hand a borrowed
 * pointer to one of its object's references to another thread and wait for that thread to take
 * a reference, nor release a reference another thread handed it to an object that the dying
 * object also holds.  The runtime's own types never do; the harness's stress.obj never does.
 * Deaths found here are deallocated by this thread right after the object whose destroy found
 * them (t->cascade, last in first out), outside any lock, also when the log filled inside a
 * destroy (log_make_room settles, and the deaths wait in t->cascade).
 */
#define SEG_NONE    0   /* this death's entries go through the epochs */
#define SEG_ALL     1   /* every decrement its destroy makes is a release of its references */
#define SEG_CREDITS 2   /* at most the references traverse listed (t->credit) */
#define SEG_PENDING 3   /* a finalizer or del is running: nothing direct until it ends */

static int credit_visit(tally_object *o, void *arg)
{
    rc_thread *t = arg;
    if (!o)
        return 0;
    if (t->ncredit == sizeof t->credit / sizeof t->credit[0])
        return 1;   /* too many: give up */
    t->credit[t->ncredit++] = o;
    return 0;
}

/* The references x holds now, as credits (SEG_CREDITS), or SEG_NONE when they cannot be listed. */
static int credits_take(rc_thread *t, tally_object *x)
{
    t->ncredit = 0;
    if (!x->ob_type->traverse || x->ob_type->traverse(x, credit_visit, t) != 0) {
        t->ncredit = 0;
        return SEG_NONE;
    }
    return SEG_CREDITS;
}

static bool credit_use(rc_thread *t, tally_object *o)
{
    for (unsigned i = 0; i < t->ncredit; i++) {
        if (t->credit[i] == o) {
            t->credit[i] = t->credit[--t->ncredit];
            return true;
        }
    }
    return false;
}

static void seg_begin(rc_thread *t, tally_object *x)
{
    const tally_type *ty = x->ob_type;
    t->seg_obj = x;
    t->seg_gen = t->log_gen;
    t->seg_dec = (size_t)(t->log->pos - t->log->base);
    t->ncredit = 0;
    if ((ty == &tally_list_type || ty == &tally_tuple_type || ty == &tally_dict_type) &&
        !(tally_atomic_load_relaxed(&x->ob_gc_bits) & TALLY_GC_BIT_WEAKREFS))
        t->seg_mode = SEG_ALL;
    else
        t->seg_mode = credits_take(t, x);
}

/* Apply this thread's entries of the current death: every increment logged since seg_inc (and
 * `last`), and the decrements since seg_dec that release the dying object's references (see
 * above); the other entries stay in the log, in order.  Owner only, no lock held on entry. */
static void cascade_settle(rc_thread *t)
{
    if (t->seg_mode != SEG_ALL && t->seg_mode != SEG_CREDITS)
        return;
    struct _tally_rclog *l = t->log;
    if (t->log_gen != t->seg_gen || !l->base || !t->buf) {
        t->seg_mode = SEG_NONE;   /* entries of this death were shipped: the epochs decide */
        return;
    }
    size_t n = (size_t)(l->pos - l->base);
    uintptr_t *from = l->base + (t->settled < n ? t->settled : n);
    uintptr_t *dfrom = l->base + (t->seg_dec < n ? t->seg_dec : n);
    size_t queued = 0;
    pthread_mutex_lock(&rc.lock);
    if (tally_atomic_load_relaxed(&t->unapplied) != 0) {
        /* A log this thread shipped still holds increments no step applied (point 2). */
        pthread_mutex_unlock(&rc.lock);
        return;
    }
    if (l->last) {   /* this thread's pending increment */
        apply_inc((tally_object *)l->last);
        l->last = 0;
    }
    uintptr_t *w = from;
    for (uintptr_t *p = from; p < l->pos; p++) {
        uintptr_t e = *p;
        if (e <= 1u)
            continue;   /* erased by resurrect_end */
        if (!(e & 1u)) {
            apply_inc((tally_object *)e);
            continue;
        }
        tally_object *o = (tally_object *)(e & ~(uintptr_t)1);
        if (p >= dfrom && !(tally_atomic_load_relaxed(&o->ob_ref_shared) & (RC_QUEUED | RC_DYING)) &&
            (t->seg_mode == SEG_ALL || credit_use(t, o))) {
            if (apply_dec(o)) {
                if ((tally_atomic_load_relaxed(&o->ob_gc_bits) & (TALLY_GC_BIT_SHARED | TALLY_GC_BIT_WEAKREFS)) ||
                    _tally_is_weakref(o)) {
                    zero_reached(o, rc.epoch, NULL, NULL, t);   /* a reader may be on it: the ZCT */
                    queued++;
                    t->zct_queued++;
                } else {
                    vec_push(&t->cascade, o);
                }
            }
            continue;
        }
        *w++ = e;
    }
    l->pos = w;
    if (queued)
        tally_atomic_store_relaxed(&rc.need_step, 1);
    pthread_mutex_unlock(&rc.lock);
    t->settled = t->seg_dec = (size_t)(w - l->base);
    t->gc_seen = 0;
}

static void cascade_one(rc_thread *t, tally_object *x)
{
    seg_begin(t, x);
    _tally_dealloc(x);
    cascade_settle(t);
    t->seg_mode = SEG_NONE;
    t->seg_obj = NULL;
}

/* Deallocate deaths a step confirmed, and what their deallocation kills directly (above).
 * Attached caller, no lock held. */
static void cascade_free(rc_thread *t, obj_vec *dead)
{
    if (t->cascading || t->ts->gc_clearing || !t->buf || !t->log->base ||
        tally_atomic_load_relaxed(&t->ts->state) != TALLY_TS_ATTACHED) {
        dealloc_all(dead);
        return;
    }
    weakrefs_first(dead);
    t->cascading = 1;
    size_t direct = 0;
    for (size_t i = 0; i < dead->n; i++) {
        cascade_one(t, dead->v[i]);
        while (t->cascade.n > 0) {
            tally_object *o = t->cascade.v[--t->cascade.n];
            direct++;
            cascade_one(t, o);
        }
    }
    t->cascading = 0;
    STAT_ADD(n_deaths, dead->n + direct);
    STAT_ADD(n_direct, direct);
    dead->n = 0;
}

/* Free the deaths other threads' steps found for this thread.  Attached, no locks held. */
static void drain_inbox(rc_thread *t)
{
    if (!tally_atomic_load_relaxed(&t->inbox_n))
        return;
    obj_vec dead = { NULL, 0, 0 };
    take_inbox(t, &dead);
    cascade_free(t, &dead);
    vec_free(&dead);
}

/* Run a step if one is due and nobody else is running one.  Attached caller, no locks held. */
static void wait_cut(void);

static void maybe_step(rc_thread *t)
{
    if (!tally_atomic_load_relaxed(&rc.need_step))
        return;
    uint64_t e = tally_atomic_load_acquire(&rc.epoch);
    bool solo = tally_atomic_load_relaxed(&rc.nthreads) == 1;
    if (!solo && tally_atomic_load_acquire(&rc.cut_done) < e) {
        /* Backpressure: when the shipped logs pile up faster than the asynchronous grace
         * periods complete, the thread at this safepoint waits for the cut itself (detached,
         * so nobody waits for it) and reconciles: producers of refcount traffic pay for it,
         * and the backlog stays near BACKLOG_LOGS logs. */
        if (tally_atomic_load_relaxed(&rc.backlog) < BACKLOG_LOGS * rc.cap)
            return;
        wait_cut();
    }
    if (pthread_mutex_trylock(&rc.lock) != 0)
        return;
    cut(t, true);
    obj_vec dead = { NULL, 0, 0 };
    pthread_mutex_lock(&rc.ship_lock);
    solo = solo_locked(t);
    pthread_mutex_unlock(&rc.ship_lock);
    if (solo || tally_atomic_load_acquire(&rc.cut_done) >= rc.epoch)
        step_locked(t, &dead);
    pthread_mutex_unlock(&rc.lock);
    cascade_free(t, &dead);
    vec_free(&dead);
}

/* ---- fork ----------------------------------------------------------------------------------- */
/* A grace-period chain queued in the parent would run in the child, whose urcu registry still
 * lists the parent's other threads, and wait for them forever (holding urcu's locks).  So:
 *  - the `outer` handlers are registered after runtime.c's (at the first thread init), so this
 *    prepare runs before runtime.c's call_rcu_before_fork: it stops new chains (`forking`) and
 *    waits, detached (a stop-the-world or a grace period never waits for it), until the queued
 *    ones are done;
 *  - the `inner` handlers (registered first, prepare runs last, after call_rcu_before_fork)
 *    hold `lock` and ship_lock, so no step is half-done in the child.  Parent and child
 *    release everything. */
static void atfork_outer_prepare(void)
{
    tally_atomic_store(&rc.forking, 1);
    if (tally_atomic_load(&rc.inflight) == 0 || _tally_qsbr_in_fork_child())
        return;
#if defined(TALLY_TSAN)
    /* TSan's fork interceptor already holds most of its lock budget here (its deadlock
     * detector aborts beyond 64 held locks): do not detach and wait.  A chain still queued can
     * only stall a child that starts threads, which TSan does not support after a
     * multi-threaded fork anyway. */
    return;
#endif
    tally_thread_state *ts = tally_thread_is_attached() ? _tally_allow_threads_begin() : NULL;
    bool was_online = urcu_qsbr_read_ongoing();
    if (was_online)
        urcu_qsbr_thread_offline();
    /* Bounded: an attached thread that never reaches a safepoint holds every grace period
     * back; then fork anyway (the child only needs the call_rcu worker to start threads). */
    uint64_t t0 = _tally_now_ns();
    while (tally_atomic_load(&rc.inflight) > 0 && _tally_now_ns() - t0 < FORK_WAIT_NS) {
        struct timespec nap = { 0, 200000 };
        nanosleep(&nap, NULL);
    }
    if (was_online)
        urcu_qsbr_thread_online();
    if (ts)
        _tally_allow_threads_end(ts);
}
static void atfork_outer_after(void) { tally_atomic_store(&rc.forking, 0); }
static void atfork_inner_prepare(void)
{
    pthread_mutex_lock(&rc.lock);
    pthread_mutex_lock(&rc.ship_lock);
}
static void atfork_inner_after(void)
{
    pthread_mutex_unlock(&rc.ship_lock);
    pthread_mutex_unlock(&rc.lock);
}

static pthread_once_t atfork_inner_once = PTHREAD_ONCE_INIT;
static pthread_once_t atfork_outer_once = PTHREAD_ONCE_INIT;
static void register_atfork_inner(void)
{
    pthread_atfork(atfork_inner_prepare, atfork_inner_after, atfork_inner_after);
}
static void register_atfork_outer(void)
{
    pthread_atfork(atfork_outer_prepare, atfork_outer_after, atfork_outer_after);
}

/* ---- the backend interface ------------------------------------------------------------------ */

int _tally_rc_init(const tally_options *opt)
{
    rc.cap = opt && opt->rclog_size >= 16 ? opt->rclog_size : 4096;
    rc.epoch = 1;
    rc.cut_done = 1;
    rc.need_step = 0;
    rc.shipped = (rc_batch){ NULL, NULL, 0 };
    rc.prev = (rc_batch){ NULL, NULL, 0 };
    rc.threads = NULL;
    rc.nthreads = 0;
    rc.zct_n = 0;
    rc.release.n = 0;
    /* Before runtime.c's handlers: this prepare runs after theirs, this child handler first. */
    pthread_once(&atfork_inner_once, register_atfork_inner);
    return 0;
}

void _tally_rc_fini(void)
{
    if (getenv("TALLY_DEFERRED_STATS"))
        fprintf(stderr,
                "tally deferred: epoch %llu, steps %llu (solo flush rounds %llu), flushes %llu, "
                "grace-period waits %llu, logs shipped %llu, entries applied %llu, deaths %llu "
                "(direct %llu)\n",
                (unsigned long long)rc.epoch, (unsigned long long)rc.n_steps,
                (unsigned long long)rc.n_solo, (unsigned long long)rc.n_flush,
                (unsigned long long)rc.n_waits, (unsigned long long)rc.n_ships,
                (unsigned long long)rc.n_entries, (unsigned long long)rc.n_deaths,
                (unsigned long long)rc.n_direct);
    rc.n_steps = rc.n_solo = rc.n_flush = rc.n_waits = rc.n_deaths = rc.n_ships = rc.n_entries = 0;
    rc.n_direct = 0;
    /* Wait for the grace-period chains still queued (a chain re-queues itself once).  Polled,
     * not urcu_qsbr_barrier(): this thread is unregistered, so they complete on their own. */
    while (tally_atomic_load(&rc.inflight) > 0) {
        struct timespec nap = { 0, 100000 };
        nanosleep(&nap, NULL);
    }
    pthread_mutex_lock(&rc.lock);
    pthread_mutex_lock(&rc.ship_lock);
    /* Normally empty: the last thread flushed when it detached.  What is left has no attached
     * thread to run finalizers on: dropped with the logs. */
    batch_release_locked(&rc.prev);
    batch_release_locked(&rc.shipped);
    for (size_t i = 0; i < rc.zct_n; i++)
        tally_atomic_store_relaxed(&rc.zct[i].o->ob_ref_shared, 0);
    mi_free(rc.zct);
    rc.zct = NULL;
    rc.zct_n = rc.zct_cap = 0;
    vec_free(&rc.release);
    thread_vec_free(&rc.release_owner);
    while (rc.free_bufs) {
        rc_buf *b = rc.free_bufs;
        rc.free_bufs = b->next;
        mi_free(b);
    }
    rc.nfree = 0;
    pthread_mutex_unlock(&rc.ship_lock);
    pthread_mutex_unlock(&rc.lock);
}

static void thread_link(rc_thread *t)
{
    pthread_mutex_lock(&rc.ship_lock);
    t->next = rc.threads;
    t->prev = NULL;
    if (rc.threads)
        rc.threads->prev = t;
    rc.threads = t;
    tally_atomic_store_relaxed(&rc.nthreads, rc.nthreads + 1);
    rc_buf *b = buf_get_locked();
    pthread_mutex_unlock(&rc.ship_lock);
    log_install(t, b ? b : buf_new());
}

/* Under lock and ship_lock: t goes away; buffers and ZCT entries stop naming it. */
static void forget_owner_locked(rc_thread *t)
{
    TALLY_ASSERT_HELD(&rc.lock);
    TALLY_ASSERT_HELD(&rc.ship_lock);
    rc_batch *bs[2] = { &rc.shipped, &rc.prev };
    for (int k = 0; k < 2; k++)
        for (rc_buf *b = bs[k]->head; b; b = b->next)
            if (b->owner == t)
                b->owner = NULL;
    for (size_t i = 0; i < rc.zct_n; i++)
        if (rc.zct[i].owner == t)
            rc.zct[i].owner = NULL;
    for (size_t i = 0; i < rc.release_owner.n; i++)
        if (rc.release_owner.v[i] == t)
            rc.release_owner.v[i] = NULL;
}

static void thread_unlink_locked(rc_thread *t)
{
    TALLY_ASSERT_HELD(&rc.ship_lock);
    if (t->prev)
        t->prev->next = t->next;
    else
        rc.threads = t->next;
    if (t->next)
        t->next->prev = t->prev;
    tally_atomic_store_relaxed(&rc.nthreads, rc.nthreads - 1);
}

int _tally_rc_thread_init(tally_thread_state *ts)
{
    rc_thread *t = mi_zalloc(sizeof *t);
    if (!t) {
        _tally_set_error("tally_thread_attach: out of memory for the refcount log");
        return -1;
    }
    t->ts = ts;
    t->log = &_tally_rclog_tls;
    pthread_mutex_init(&t->inbox_lock, NULL);
    /* After runtime.c's handlers (tally_init registered them before attaching this thread). */
    pthread_once(&atfork_outer_once, register_atfork_outer);
    _tally_qsbr_thread_register(ts);   /* online from here on */
    thread_link(t);
    t->seen = tally_atomic_load_acquire(&rc.epoch);
    ts->rc_data = t;
    return 0;
}

/* Release (still attached): ship what is left; the last thread also reconciles everything.
 * The record itself goes in the detach that follows (the collector may still log). */
void _tally_rc_thread_fini(tally_thread_state *ts)
{
    rc_thread *t = ts->rc_data;
    if (!t)
        return;
    cut(t, true);
}

static void thread_teardown(tally_thread_state *ts, rc_thread *t)
{
    /* Last thread: nobody else will reconcile, so do it now while still attached. */
    t->tearing_down = 1;   /* from here on its shipped logs name no owner */
    if (tally_atomic_load_relaxed(&rc.nthreads) == 1)
        _tally_rc_flush();
    /* Stop steps from sending deaths here, then free those already sent (still attached: the
     * deallocations may log), then ship the rest. */
    pthread_mutex_lock(&rc.lock);
    pthread_mutex_lock(&rc.ship_lock);
    forget_owner_locked(t);
    pthread_mutex_unlock(&rc.ship_lock);
    pthread_mutex_unlock(&rc.lock);
    obj_vec dead = { NULL, 0, 0 };
    take_inbox(t, &dead);
    dealloc_all(&dead);
    vec_free(&dead);
    cut(t, false);
    pthread_mutex_lock(&rc.ship_lock);
    thread_unlink_locked(t);
    if (t->buf) {
        t->buf->next = rc.free_bufs;
        rc.free_bufs = t->buf;
        rc.nfree++;
    }
    pthread_mutex_unlock(&rc.ship_lock);
    log_clear(t);
    pthread_mutex_destroy(&t->inbox_lock);
    vec_free(&t->gc_dead);
    vec_free(&t->gc_dying);
    vec_free(&t->cascade);
    ts->rc_data = NULL;
    mi_free(t);
    _tally_qsbr_thread_unregister(ts);
}

void _tally_rc_on_attach(tally_thread_state *ts)
{
    rc_thread *t = ts->rc_data;
    if (!t)
        return;   /* first attach: _tally_rc_thread_init follows */
    _tally_qsbr_online();
    if (!t->buf) {
        pthread_mutex_lock(&rc.ship_lock);
        rc_buf *b = buf_get_locked();
        pthread_mutex_unlock(&rc.ship_lock);
        t->buf = b ? b : buf_new();
    }
    log_install(t, t->buf);
    t->seen = tally_atomic_load_acquire(&rc.epoch);
}

void _tally_rc_on_detach(tally_thread_state *ts)
{
    rc_thread *t = ts->rc_data;
    if (!t)
        return;
    if (ts->released && !t->tearing_down) {
        thread_teardown(ts, t);
        return;
    }
    /* A detach is a cut: ship before going offline, so no grace period can end while entries
     * logged before it are still private. */
    cut(t, false);
    _tally_qsbr_offline();
}

/* A safepoint of t (tally_safepoint, or a TALLY_BREAK_RC request met at a safepoint or an
 * allocation): a quiescent state, so a thread that only allocates still lets epochs advance;
 * then cut if E moved, step if one is due, and free this thread's deaths. */
static void reconcile_at_safepoint(rc_thread *t)
{
    _tally_qsbr_quiescent();
    /* After the quiescent state (a full barrier): a grace period that counted it began after
     * E was stored, so this load sees E and the cut below completes this thread's part. */
    if (tally_atomic_load_acquire(&rc.epoch) != t->seen)
        cut(t, true);
    maybe_step(t);
    drain_inbox(t);
}

void _tally_rc_safepoint(tally_thread_state *ts)
{
    rc_thread *t = ts->rc_data;
    if (t)
        reconcile_at_safepoint(t);
}

void _tally_rc_handle_pending(tally_thread_state *ts, unsigned bits)
{
    tally_atomic_fetch_and(&ts->breaker, ~bits);
    if (!(bits & TALLY_BREAK_RC))
        return;
    rc_thread *t = ts->rc_data;
    if (t)
        reconcile_at_safepoint(t);
}

/* The attached caller's log is full: make room.  In the collector's clear loop settling its
 * operations on the unreachable set usually does; otherwise ship the log (a cut; ship writes
 * `last` into the spare slot) and reconcile at the next safepoint, never here, where the caller
 * may hold an object lock. */
static void log_make_room(rc_thread *t, tally_thread_state *ts)
{
    if (ts->gc_clearing)
        gc_settle_log(t);
    else
        cascade_settle(t);   /* inside a destroy of the cascade: its releases, applied */
    /* Not even half the log freed: ship it rather than rescan what stays at every append. */
    if ((size_t)(t->log->pos - t->log->base) > rc.cap / 2) {
        cut(t, true);
        tally_atomic_fetch_or(&ts->breaker, TALLY_BREAK_RC);
    }
}

/* entry != 0: append that entry (a decrement, or try_incref's direct increment).  entry == 0: an
 * increment through `last` (the fast path already stored o there; spill is what it held). */
void _tally_deferred_log_slow(tally_object *o, uintptr_t entry, uintptr_t spill)
{
    struct _tally_rclog *l = &_tally_rclog_tls;
    tally_thread_state *ts = _tally_tstate();
    rc_thread *t = ts ? ts->rc_data : NULL;
    if (tally_unlikely(!t || !t->buf || tally_atomic_load_relaxed(&ts->state) != TALLY_TS_ATTACHED)) {
        if (!entry)
            l->last = spill ? spill : RCLOG_NO_LOG;   /* the fast path's store is undone */
        _tally_misuse(o, "tally_%s: the calling thread is not attached (call tally_thread_attach first)",
                      (entry & 1u) ? "decref" : "incref");
        return;
    }
    if (!entry)   /* program order: the spilled increment goes into this log first */
        l->last = spill && tally_atomic_load_relaxed(&((tally_object *)spill)->ob_ref_local) != TALLY_IMMORTAL_REFCNT
                      ? spill : 0;
    if (l->pos == l->end)
        log_make_room(t, ts);
    if (!entry && l->last) {
        *l->pos++ = l->last;
        l->last = 0;
    }
    if (entry)
        *l->pos++ = entry;
    else
        l->last = (uintptr_t)o;   /* pending, as on the fast path */
}

void _tally_rc_object_init(tally_object *o, tally_thread_state *ts)
{
    (void)ts;
    o->ob_ref_local = 1;   /* not yet visible to any other thread: the creator's reference */
    o->ob_ref_shared = 0;
}

/* Net delta of o in the entries e[0, n) (only decrements when incs is false). */
static intptr_t entries_delta(const uintptr_t *e, size_t n, tally_object *o, bool incs)
{
    intptr_t d = 0;
    for (size_t i = 0; i < n; i++) {
        if (incs && e[i] == (uintptr_t)o)
            d++;
        else if (e[i] == ((uintptr_t)o | 1u))
            d--;
    }
    return d;
}

/* Net delta of o in the caller's current log and `last`.  Owner only.  Outside the cascade and
 * the collector's clear loop (which keep indices into the log), an increment immediately followed
 * by the decrement of the same object is erased on the way: a try_incref and its release with
 * nothing logged in between (tally_list_get and its decref) are net zero, and the caller dropped
 * nothing while it held the object, so the pair orders no death (try_incref's reason to log).
 * A caller that queries counts in a loop then rescans a short log, not every pair since its last
 * ship. */
static intptr_t current_log_delta(rc_thread *t, tally_object *o)
{
    struct _tally_rclog *l = t->log;
    if (!t->buf || !l->base)
        return 0;
    intptr_t d = l->last == (uintptr_t)o;
    bool compact = !t->ts->gc_clearing && !t->cascading && t->seg_mode == SEG_NONE;
    uintptr_t *w = l->base;
    for (uintptr_t *p = l->base; p < l->pos; p++) {
        uintptr_t e = *p;
        if (compact && !(e & 1u) && e > 1u && p + 1 < l->pos && p[1] == (e | 1u)) {
            p++;   /* a pair: net zero */
            continue;
        }
        if (e == (uintptr_t)o)
            d++;
        else if (e == ((uintptr_t)o | 1u))
            d--;
        if (compact)
            *w++ = e;
    }
    if (compact && w != l->pos) {
        l->pos = w;
        t->settled = 0;
        t->gc_seen = 0;
    }
    return d;
}

/* Net delta of o in what the caller logged and no step has applied yet: its current log and
 * `last`, its shipped logs (nothing applied), and its logs of the previous batch (increments
 * applied, decrements not).  Under lock and ship_lock, so no step runs meanwhile. */
static intptr_t own_delta_locked(rc_thread *t, tally_object *o)
{
    TALLY_ASSERT_HELD(&rc.lock);
    TALLY_ASSERT_HELD(&rc.ship_lock);
    intptr_t d = current_log_delta(t, o);
    for (rc_buf *b = rc.shipped.head; b; b = b->next)
        if (b->owner == t)
            d += entries_delta(b->e, b->n, o, true);
    for (rc_buf *b = rc.prev.head; b; b = b->next)
        if (b->owner == t)
            d += entries_delta(b->e, b->n, o, false);
    return d;
}

/* The reconciled count plus the caller's own unapplied operations: exact for a thread's own
 * increments and decrements whatever the log's shipping did with them (not a hot path: it
 * scans the caller's logs). */
intptr_t _tally_rc_get(tally_object *o)
{
    uint32_t c = tally_atomic_load_relaxed(&o->ob_ref_local);
    rc_thread *t = rc_self();
    if (c == TALLY_IMMORTAL_REFCNT || !t)
        return (intptr_t)c;   /* immortal, or a thread with no log of its own */
    if (tally_atomic_load_acquire(&t->in_flight) == 0) {
        /* Every log this thread shipped is applied (acquire: pairs with apply_decs' release, so
         * the count includes them): its unapplied operations are all in its current log.  No
         * lock: other threads' operations are concurrent with this query either way. */
        c = tally_atomic_load_relaxed(&o->ob_ref_local);
        if (c == TALLY_IMMORTAL_REFCNT)
            return (intptr_t)c;
        return (intptr_t)c + current_log_delta(t, o);
    }
    pthread_mutex_lock(&rc.lock);
    pthread_mutex_lock(&rc.ship_lock);
    c = tally_atomic_load_relaxed(&o->ob_ref_local);
    intptr_t d = own_delta_locked(t, o);
    pthread_mutex_unlock(&rc.ship_lock);
    pthread_mutex_unlock(&rc.lock);
    if (c == TALLY_IMMORTAL_REFCNT)
        return (intptr_t)TALLY_IMMORTAL_REFCNT;
    return (intptr_t)c + d;
}

void _tally_rc_set_immortal(tally_object *o)
{
    /* Under the reconciler's lock so that a step's load/store cannot undo it. */
    pthread_mutex_lock(&rc.lock);
    tally_atomic_store_relaxed(&o->ob_ref_local, TALLY_IMMORTAL_REFCNT);
    pthread_mutex_unlock(&rc.lock);
}

bool _tally_rc_try_incref(tally_object *o)
{
    struct _tally_rclog *l = &_tally_rclog_tls;
    tally_thread_state *self = _tally_tstate();
    if (tally_unlikely(l->pos == l->end && l->base)) {
        /* Room first: in the collector's clear loop that settles the log, which may take o's
         * count to zero (gc_settle_log); the count must be read after that, not before. */
        if (self && self->rc_data && tally_atomic_load_relaxed(&self->state) == TALLY_TS_ATTACHED)
            log_make_room(self->rc_data, self);
    }
    /* Acquire: pairs with the release store of resurrect_begin (see below) and orders the
     * caller's reads of o after the check.  A count of zero means reconciled dead (in the ZCT
     * or being freed): refuse.  A positive count read here was read before this thread's cut for
     * the epoch after any zero store, so the logged increment is applied before the ZCT check
     * that would free o, and revives it (docs/backend-deferred.md). */
    uint32_t c = tally_atomic_load_acquire(&o->ob_ref_local);
    if (c == TALLY_IMMORTAL_REFCNT)
        return true;
    if (c == 0 || _TALLY_REFCNT_IS_DEAD(c))   /* dead (debug mode: destroyed, quarantined) */
        return false;
    if (tally_atomic_load_relaxed(&o->ob_ref_shared) & RC_DYING)
        return false;   /* a finalizer of o is running: o is dying */
    if (tally_unlikely(self && self->gc_clearing) && in_gc_unreachable((uintptr_t)o)) {
        /* The collector's clear loop taking its reference to a member of U: through `last`, so
         * that its release cancels it.  The reason below does not apply: no other thread and
         * no weakref can reach o, and gc_settle_log applies all of this thread's entries for U.
         * The log has room (made above), so the spill cannot settle between the read of the
         * count and the increment. */
        _tally_incref_fast(o);
        return true;
    }
    /* Straight into the log, not the `last` slot: the caller's matching decrement is then
     * logged too, so o's death is decided in the same step as (or after) the deaths of what the
     * caller dropped while holding o.  (Cancelled in the slot, the pair would leave o's death to
     * another thread's earlier decrement, and a weakref the caller dropped before its own drop
     * of o could still be registered, and called back, at o's death.) */
    if (tally_unlikely(l->pos == l->end))
        _tally_deferred_log_slow(o, (uintptr_t)o, 0);   /* unattached: reported; full: shipped */
    else
        *l->pos++ = (uintptr_t)o;
    return true;
}

void _tally_rc_resurrect_begin(tally_object *o)
{
    rc_thread *t = rc_self();
    pthread_mutex_lock(&rc.lock);
    /* DYING first, then the count with release: a try_incref that reads 1 sees DYING. */
    tally_atomic_store_relaxed(&o->ob_ref_shared,
                               RC_DYING | (intptr_t)(((t ? t->ships : 0) & 0xffffffffu) << RC_SHIFT));
    tally_atomic_store_release(&o->ob_ref_local, 1u);
    pthread_mutex_unlock(&rc.lock);
    if (t && t->seg_obj == o && t->seg_mode != SEG_NONE)
        t->seg_mode = SEG_PENDING;   /* user code with o alive: nothing direct meanwhile */
}

/* After a finalizer (or del) of o ran with o's count held at 1.  Other threads cannot have
 * taken a reference through try_incref (DYING); any reference the finalizer created was logged
 * by this thread.  If all its entries for o are still in this thread's log, the outcome is
 * exact: apply them now (erasing them) and drop the finalizer's reference.  If its log was
 * shipped meanwhile, or o was published to a shared container and withdrawn again (another
 * thread may hold a reference taken in between, with its increment still in its log), decide
 * later: apply only this thread's increments now (always safe), keep o alive and drop the
 * finalizer's reference with a logged decrement; o then dies through the ZCT like any object. */
bool _tally_rc_resurrect_end(tally_object *o)
{
    rc_thread *t = rc_self();
    pthread_mutex_lock(&rc.lock);
    uint32_t c = tally_atomic_load_relaxed(&o->ob_ref_local);
    intptr_t flags = tally_atomic_load_relaxed(&o->ob_ref_shared);
    tally_atomic_store_relaxed(&o->ob_ref_shared, 0);
    if (c == TALLY_IMMORTAL_REFCNT) {
        pthread_mutex_unlock(&rc.lock);
        return true;
    }
    uint64_t ships_then = (uint64_t)flags >> RC_SHIFT;
    bool shipped = !t || !(flags & RC_DYING) || (t->ships & 0xffffffffu) != ships_then;
    intptr_t incs = 0, decs = 0;
    bool in_last = t && t->log->last == (uintptr_t)o;
    incs += in_last;
    if (t && t->buf) {
        for (uintptr_t *p = t->log->base; p < t->log->pos; p++) {
            if (*p == (uintptr_t)o)
                incs++;
            else if (*p == ((uintptr_t)o | 1u))
                decs++;
        }
    }
    bool exact = !shipped &&
                 (decs == 0 || !(tally_atomic_load_relaxed(&o->ob_gc_bits) & TALLY_GC_BIT_SHARED));
    if (exact) {
        if (incs || decs) {
            for (uintptr_t *p = t->log->base; p < t->log->pos; p++)
                if ((*p & ~(uintptr_t)1) == (uintptr_t)o)
                    *p = 0;   /* erased: the reconciler skips it */
            if (in_last)
                t->log->last = 0;
        }
        intptr_t n = (intptr_t)c + incs - decs - 1;
        if (n < 0) {
            _tally_misuse(o, "tally_decref: negative refcount during a finalizer (%ld)", (long)n);
            n = 0;
        }
        tally_atomic_store_relaxed(&o->ob_ref_local, (uint32_t)n);
        pthread_mutex_unlock(&rc.lock);
        if (n == 0 && t->seg_obj == o && t->seg_mode == SEG_PENDING) {
            /* Dead, exactly (no other thread took a reference meanwhile): its destroy releases
             * what it holds now. */
            t->seg_dec = (size_t)(t->log->pos - t->log->base);
            t->seg_mode = credits_take(t, o);
        }
        return n > 0;
    }
    if (incs) {
        for (uintptr_t *p = t->log->base; p < t->log->pos; p++)
            if (*p == (uintptr_t)o)
                *p = 0;
        if (in_last)
            t->log->last = 0;
    }
    tally_atomic_store_relaxed(&o->ob_ref_local, c + (uint32_t)incs);
    pthread_mutex_unlock(&rc.lock);
    if (t)
        _tally_decref_fast(o);   /* the finalizer's reference, dropped one epoch late */
    return true;
}

/* Wait until the cut for the current epoch is complete: two grace periods, detached so that
 * neither this thread nor a stop-the-world waits for the other. */
static void wait_cut(void)
{
    uint64_t e = tally_atomic_load_acquire(&rc.epoch);
    if (_tally_qsbr_in_fork_child()) {
        if (tally_atomic_load_relaxed(&rc.nthreads) > 1) {
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
        cut_done_max(e);   /* alone: this thread's cut is the whole cut */
        return;
    }
    STAT_ADD(n_waits, 1);
    /* Ask every other attached thread to pass a quiescent state and cut at its next allocation
     * or safepoint (TALLY_BREAK_RC), not only at its next explicit safepoint: a thread busy
     * allocating would otherwise hold each of the two grace periods for a whole batch of work. */
    pthread_mutex_lock(&rc.ship_lock);
    tally_thread_state *self_ts = _tally_tstate();
    for (rc_thread *t = rc.threads; t; t = t->next)
        if (t->ts != self_ts && tally_atomic_load_relaxed(&t->ts->state) == TALLY_TS_ATTACHED)
            tally_atomic_fetch_or(&t->ts->breaker, TALLY_BREAK_RC);
    pthread_mutex_unlock(&rc.ship_lock);
    int c = _tally_nocancel_begin();
    tally_thread_state *ts = _tally_allow_threads_begin();   /* cuts this thread's log */
    urcu_qsbr_synchronize_rcu();
    urcu_qsbr_synchronize_rcu();
    _tally_allow_threads_end(ts);
    _tally_nocancel_end(c);
    cut_done_max(e);
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
    obj_vec dead = { NULL, 0, 0 };
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
        pthread_mutex_lock(&rc.lock);
        pthread_mutex_lock(&rc.ship_lock);
        if (solo_locked(t) && t->log->base) {
            /* Alone: apply everything, this thread's log in place, and free at once; repeat
             * while the deaths log more (a chain of a million lists is a million rounds). */
            solo_step_locked(t, &dead, true);
            pthread_mutex_unlock(&rc.lock);
            if (dead.n == 0)
                break;
            cascade_free(t, &dead);
            continue;
        }
        pthread_mutex_unlock(&rc.ship_lock);
        bool had = t->log->base && t->log->pos != t->log->base;
        cut(t, true);
        /* Zeros this flush's own cascades queued in the ZCT extend the window too. */
        if (had || first || t->zct_queued != queued)
            need_until = rc.epoch + 2;
        queued = t->zct_queued;
        first = false;
        pthread_mutex_lock(&rc.ship_lock);
        bool idle = !rc.shipped.head && !rc.prev.head && rc.zct_n == 0;
        pthread_mutex_unlock(&rc.ship_lock);
        if (idle || rc.epoch > need_until) {
            pthread_mutex_unlock(&rc.lock);
            take_inboxes_of_detached(t, &dead);
            if (dead.n == 0)
                break;
            cascade_free(t, &dead);   /* may log more: go round again */
            continue;
        }
        if (tally_atomic_load_acquire(&rc.cut_done) < rc.epoch) {
            pthread_mutex_unlock(&rc.lock);
            wait_cut();
            continue;
        }
        step_locked(t, &dead);
        pthread_mutex_unlock(&rc.lock);
        take_inboxes_of_detached(t, &dead);
        cascade_free(t, &dead);
    }
    vec_free(&dead);
}

/* World stopped (every other thread parked at a safepoint or detached, its log shipped): take
 * every log, apply all increments then all decrements; nothing can be pending anywhere, so the
 * counts are exact.  Objects left at zero are kept at 1 (the collector sees them reachable) and
 * released after the restart. */
void _tally_rc_gc_prepare(void)
{
    TALLY_ASSERT(_tally_world_is_stopped());   /* by this thread (or it holds the GIL) */
    pthread_mutex_lock(&rc.lock);
    pthread_mutex_lock(&rc.ship_lock);
    rc_batch all = { NULL, NULL, 0 };
    for (rc_thread *t = rc.threads; t; t = t->next) {
        if (t->log->base && t->log->last) {   /* a parked thread's pending increment: apply it now */
            apply_inc((tally_object *)t->log->last);
            t->log->last = 0;
        }
        if (!t->buf || !t->log->base || t->log->pos == t->log->base)
            continue;   /* detached (shipped when it detached) or empty */
        t->buf->n = (size_t)(t->log->pos - t->buf->e);
        t->buf->owner = t;
        t->buf->counted = t->buf->counted_decs = 0;   /* not shipped: applied right here */
        batch_push(&all, t->buf);
        rc_buf *b = buf_get_locked();
        log_install(t, b ? b : buf_new());   /* parked: its log is ours to replace */
    }
    batch_append(&all, &rc.shipped);
    apply_incs(&all);
    obj_vec zeros = { NULL, 0, 0 };
    thread_vec owners = { NULL, 0, 0 };
    zct_check(rc.epoch, true, &zeros, NULL);
    for (size_t i = 0; i < zeros.n; i++)
        thread_vec_push(&owners, NULL);
    apply_decs(&rc.prev, rc.epoch, &zeros, &owners);
    apply_decs(&all, rc.epoch, &zeros, &owners);
    batch_release_locked(&rc.prev);
    batch_release_locked(&all);
    for (size_t i = 0; i < zeros.n; i++) {
        tally_object *o = zeros.v[i];
        tally_atomic_store_relaxed(&o->ob_ref_local, 1u);
        tally_atomic_store_relaxed(&o->ob_ref_shared, RC_QUEUED);
        vec_push(&rc.release, o);
        thread_vec_push(&rc.release_owner, owners.v[i]);
    }
    vec_free(&zeros);
    thread_vec_free(&owners);
    tally_atomic_store_relaxed(&rc.need_step, rc.release.n > 0);
    pthread_mutex_unlock(&rc.ship_lock);
    cut_done_max(rc.epoch);   /* every log is empty: the cut is trivially complete */
    pthread_mutex_unlock(&rc.lock);
}

/* World running again: the objects kept at 1 drop that reference.  Through the ZCT, because a
 * reader may have taken a reference while the count read 1. */
void _tally_rc_gc_after(void)
{
    pthread_mutex_lock(&rc.lock);
    if (rc.release.n) {
        for (size_t i = 0; i < rc.release.n; i++) {
            tally_object *o = rc.release.v[i];
            tally_atomic_store_relaxed(&o->ob_ref_shared, 0);
            if (apply_dec(o))
                zero_reached(o, rc.epoch, NULL, NULL, rc.release_owner.v[i]);
        }
        rc.release.n = 0;
        rc.release_owner.n = 0;
        tally_atomic_store_relaxed(&rc.need_step, 1);
    }
    pthread_mutex_unlock(&rc.lock);
}

/* fork() child: only the forking thread exists.  The other threads' logs are intact in this
 * memory: ship them as they are (they hold real operations) and forget those threads; from now
 * on this thread is alone, so steps run in solo mode and need no grace period. */
void _tally_rc_fork_child(void)
{
    rc_thread *self = rc_self();
    pthread_mutex_lock(&rc.lock);
    pthread_mutex_lock(&rc.ship_lock);
    rc_thread *t = rc.threads;
    while (t) {
        rc_thread *next = t->next;
        if (t != self) {
            if (t->log->last) {   /* its pending increment */
                apply_inc((tally_object *)t->log->last);
                t->log->last = 0;
            }
            if (t->buf) {
                size_t n = t->log->base ? (size_t)(t->log->pos - t->buf->e) : 0;
                if (n > 0 && n <= rc.cap + 1) {
                    t->buf->n = n;
                    t->buf->owner = NULL;
                    t->buf->counted = t->buf->counted_decs = 0;
                    batch_push(&rc.shipped, t->buf);
                } else {
                    mi_free(t->buf);
                }
            }
            thread_unlink_locked(t);
            forget_owner_locked(t);
            /* Its inbox (deaths it had not freed yet) becomes ours, and so do the deaths its
             * clear loop had found (it was the collector; this process adopts its lists). */
            for (size_t i = 0; self && i < t->inbox.n; i++)
                vec_push(&self->inbox, t->inbox.v[i]);
            for (size_t i = 0; self && i < t->gc_dead.n; i++)
                vec_push(&self->inbox, t->gc_dead.v[i]);
            for (size_t i = 0; self && i < t->cascade.n; i++)   /* its cascade's deaths */
                vec_push(&self->inbox, t->cascade.v[i]);
            vec_free(&t->inbox);
            vec_free(&t->gc_dead);
            vec_free(&t->cascade);
            vec_free(&t->gc_dying);
            if (t->ts)
                t->ts->rc_data = NULL;
            mi_free(t);
        }
        t = next;
    }
    if (self) {
        pthread_mutex_init(&self->inbox_lock, NULL);
        tally_atomic_store_relaxed(&self->inbox_n, self->inbox.n);
    }
    tally_atomic_store_relaxed(&rc.inflight, 0);   /* queued chains belong to the parent */
    tally_atomic_store_relaxed(&rc.need_step, 1);
    cut_done_max(rc.epoch);
    pthread_mutex_unlock(&rc.ship_lock);
    pthread_mutex_unlock(&rc.lock);
}
