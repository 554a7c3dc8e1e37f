/* runtime/rc_deferred_internal.h - what the files of the `deferred` backend share (private).
 *
 * Owns: the backend's types (log buffers, batches, thread records, ZCT entries), its one shared
 * state `_tally_rcd` with the lock that guards each field, the object flags it keeps in
 * ob_ref_shared, the small inline helpers every file uses (vectors, batches, applying one entry)
 * and the functions one file of the backend calls in another.  The design, the memory-ordering
 * contract and the lock order are in runtime/rc_deferred.c's header comment; the files, in the
 * order the data flows through them:
 *   runtime/rc_deferred.c          logs: the fast path's slow path, shipping, thread records,
 *                                  safepoints, count queries
 *   runtime/rc_deferred_step.c     cuts, grace periods, reconciliation steps, the ZCT, flush
 *   runtime/rc_deferred_cascade.c  freeing confirmed deaths (the cascade), resurrection
 *   runtime/rc_deferred_gc.c       the collector's hooks (clear-loop settling, world-stopped
 *                                  prepare, after) and fork
 */
#ifndef TALLY_RC_DEFERRED_INTERNAL_H
#define TALLY_RC_DEFERRED_INTERNAL_H

#include "runtime/internal.h"

#include <mimalloc.h>

/* ob_ref_shared flags (this backend only) */
#define RC_QUEUED ((intptr_t)1)   /* in the ZCT or the release list */
#define RC_DYING  ((intptr_t)2)   /* finalizer running (resurrect_begin .. resurrect_end) */
#define RC_SHIFT  2               /* DYING: the thread's ship count at resurrect_begin above */

/* How the entries of the death being deallocated by the cascade are settled (rc_thread.seg_mode;
 * runtime/rc_deferred_cascade.c). */
#define SEG_NONE    0   /* this death's entries go through the epochs */
#define SEG_ALL     1   /* every decrement its destroy makes is a release of its references */
#define SEG_CREDITS 2   /* at most the references traverse listed (t->credit) */
#define SEG_PENDING 3   /* a finalizer or del is running: nothing direct until it ends */

struct rc_thread;
typedef struct rc_buf {
    struct rc_buf *next;
    struct rc_thread *owner;   /* the thread that logged it (NULL once that thread is gone) */
    size_t n;          /* entries in e[] (set when shipped) */
    int counted;       /* shipped by a thread: counted in owner->unapplied until its increments are */
    int counted_decs;  /* ... and in owner->in_flight until its decrements are applied */
    uintptr_t e[];     /* _tally_rcd.cap entries */
} rc_buf;

typedef struct rc_batch {
    rc_buf *head, *tail;
    size_t entries;
} rc_batch;

/* Objects (deaths, zeros, the collector's release list).  When the array cannot grow (out of
 * memory), a push links the object into `spill` instead, through its ob_ref_shared word: the next
 * object's address, with the word's RC_QUEUED bit kept (objects are 16-byte aligned, so the low
 * bits are free).  Nothing else reads that word while the object sits in the vector: a death or
 * zero has count 0 (try_incref reads the count first and refuses), and a release entry is only
 * tested for RC_QUEUED and RC_DYING (never set with a link).  So a push never fails and loses
 * nothing; a spilled object loses only its parallel thread_vec entry (its owner: NULL, unknown,
 * which every consumer accepts). */
typedef struct obj_vec {
    tally_object **v;
    size_t n, cap;
    tally_object *spill;
} obj_vec;

struct rc_thread;
/* Thread records: the thread whose decrement zeroed each object of a parallel obj_vec. */
typedef struct thread_vec {
    struct rc_thread **v;
    size_t n, cap;
} thread_vec;

typedef struct rc_thread {
    struct rc_thread *next, *prev;  /* _tally_rcd.threads, under ship_lock */
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
     * releasing their references directly (owner only; see runtime/rc_deferred_cascade.c). */
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
    /* Logs this thread shipped whose increments no step has applied yet: incremented by the ship
     * (atomic, owner), decremented by whoever applies their increments (under `lock`); read
     * under `lock` by cascade_settle, which then sees every decrement made before. */
    size_t unapplied;
    /* Logs this thread shipped whose decrements no step has applied yet (>= unapplied):
     * incremented by the ship, decremented with release after the decrements are applied; zero
     * (acquire) lets tally_refcount read the count without the locks. */
    size_t in_flight;
} rc_thread;

typedef struct zct_entry {
    tally_object *o;
    uint64_t tag;                   /* epoch when its count was set to zero */
    struct rc_thread *owner;        /* thread whose decrement zeroed it (NULL: unknown/gone) */
} zct_entry;

/* The backend's shared state (defined in runtime/rc_deferred.c). */
typedef struct rcd_state {
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
    /* ZCT entries the table had no memory for: a chain through ob_ref_shared (RC_QUEUED kept,
     * owner unknown), checked once the epoch passed the newest of their tags, zct_spill_tag. */
    tally_object *zct_spill;
    uint64_t zct_spill_tag;
    obj_vec release;                /* gc_prepare -> gc_after: zero counts kept at 1 */
    thread_vec release_owner;       /* ... and the thread whose decrement zeroed each */
    /* figures (relaxed atomics), printed at fini when TALLY_DEFERRED_STATS is set */
    uint64_t n_steps, n_solo, n_flush, n_waits, n_deaths, n_ships, n_entries, n_direct;
    /* out of memory: objects spilled into chains, operations made with no log, world stops
     * made to recycle log buffers (docs/backend-deferred.md, "Out of memory") */
    uint64_t n_spilled, n_nolog, n_recycles;
} rcd_state;

TALLY_HIDDEN extern rcd_state _tally_rcd;

#define STAT_ADD(f, v) tally_atomic_fetch_add_relaxed(&_tally_rcd.f, (uint64_t)(v))

/* ---- small helpers ------------------------------------------------------------------------ */
#define RCD_LINK_MASK (~(intptr_t)3)   /* the link bits of ob_ref_shared in a spill chain */

/* Link o in front of the chain *head (RC_QUEUED kept), and take the first object off it (its
 * word left with RC_QUEUED only, as it was before it was linked). */
static inline void chain_push(tally_object **head, tally_object *o)
{
    intptr_t q = tally_atomic_load_relaxed(&o->ob_ref_shared) & RC_QUEUED;
    tally_atomic_store_relaxed(&o->ob_ref_shared, (intptr_t)*head | q);
    *head = o;
}
static inline tally_object *chain_pop(tally_object **head)
{
    tally_object *o = *head;
    if (o) {
        intptr_t w = tally_atomic_load_relaxed(&o->ob_ref_shared);
        *head = (tally_object *)(w & RCD_LINK_MASK);
        tally_atomic_store_relaxed(&o->ob_ref_shared, w & RC_QUEUED);
    }
    return o;
}

/* Room for one more entry in a vector of pointers; false when out of memory. */
#define RCD_VEC_ROOM(vec)                                                                       \
    ((vec)->n < (vec)->cap || (((vec)->v = _tally_grow_ptrs_keep((vec)->v, &(vec)->cap, 64)),   \
                               (vec)->n < (vec)->cap))
static inline void *_tally_grow_ptrs_keep(void *v, size_t *cap, size_t first)
{
    void *p = _tally_grow_ptrs_try(v, cap, first);
    return p ? p : v;   /* out of memory: the array and *cap unchanged */
}

static inline void vec_push(obj_vec *v, tally_object *o)
{
    if (tally_likely(RCD_VEC_ROOM(v)))
        v->v[v->n++] = o;
    else
        STAT_ADD(n_spilled, 1), chain_push(&v->spill, o);
}
/* o and its owner into the parallel vectors; o into the spill (owner forgotten) when either
 * cannot grow. */
static inline void vec_push_owned(obj_vec *v, thread_vec *owners, tally_object *o, struct rc_thread *owner)
{
    TALLY_ASSERT(v->n == owners->n);
    if (RCD_VEC_ROOM(v) && RCD_VEC_ROOM(owners)) {
        v->v[v->n++] = o;
        owners->v[owners->n++] = owner;
    } else {
        STAT_ADD(n_spilled, 1);
        chain_push(&v->spill, o);
    }
}
static inline bool vec_empty(const obj_vec *v) { return v->n == 0 && !v->spill; }
static inline size_t vec_hint(const obj_vec *v) { return v->n + (v->spill != NULL); }
/* Last in, first out: the array, then the spill. */
static inline tally_object *vec_pop(obj_vec *v)
{
    if (v->n)
        return v->v[--v->n];
    return chain_pop(&v->spill);
}
/* Move everything in src to dst (src left empty, its array freed). */
static inline void vec_move_all(obj_vec *dst, obj_vec *src)
{
    if (vec_empty(dst)) {
        mi_free(dst->v);
        *dst = *src;
        *src = (obj_vec){ NULL, 0, 0, NULL };
        return;
    }
    for (size_t i = 0; i < src->n; i++)
        vec_push(dst, src->v[i]);
    tally_object *o;
    while ((o = chain_pop(&src->spill)))
        chain_push(&dst->spill, o);
    mi_free(src->v);
    *src = (obj_vec){ NULL, 0, 0, NULL };
}
static inline void vec_free(obj_vec *v)
{
    TALLY_ASSERT(!v->spill);   /* a spilled object would be lost */
    mi_free(v->v);
    *v = (obj_vec){ NULL, 0, 0, NULL };
}
static inline void thread_vec_free(thread_vec *v) { mi_free(v->v), v->v = NULL, v->n = v->cap = 0; }

static inline void batch_append(rc_batch *dst, rc_batch *src)
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

static inline void batch_push(rc_batch *dst, rc_buf *b)
{
    b->next = NULL;
    rc_batch one = { b, b, b->n };
    batch_append(dst, &one);
}

/* Under `lock`: something waits in the ZCT. */
static inline bool zct_pending_locked(void) { return _tally_rcd.zct_n > 0 || _tally_rcd.zct_spill; }

/* Under ship_lock. */
static inline bool solo_locked(rc_thread *self)
{
    TALLY_ASSERT_HELD(&_tally_rcd.ship_lock);
    return _tally_rcd.nthreads == 1 && _tally_rcd.threads == self;
}

/* Under ship_lock. */
static inline rc_buf *buf_get_locked(void)
{
    TALLY_ASSERT_HELD(&_tally_rcd.ship_lock);
    rc_buf *b = _tally_rcd.free_bufs;
    if (b) {
        _tally_rcd.free_bufs = b->next;
        _tally_rcd.nfree--;
    }
    return b;
}

static inline rc_thread *rc_self(void)
{
    tally_thread_state *ts = _tally_tstate();
    return ts ? (rc_thread *)ts->rc_data : NULL;
}

/* Applying one entry (under `lock`, or world stopped). */
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

/* A member of the collector's final unreachable set (runtime/rc_deferred_gc.c). */
static inline bool in_gc_unreachable(uintptr_t e)
{
    tally_object *o = (tally_object *)(e & ~(uintptr_t)1);
    return (tally_atomic_load_relaxed(&o->ob_gc_bits) & TALLY_GC_BIT_UNREACHABLE) != 0;
}

/* ---- runtime/rc_deferred.c: buffers and logs */
TALLY_HIDDEN rc_buf *_tally_rcd_buf_new(void);
TALLY_HIDDEN void _tally_rcd_batch_release_locked(rc_batch *bt);
TALLY_HIDDEN void _tally_rcd_log_install(rc_thread *t, rc_buf *b);
TALLY_HIDDEN void _tally_rcd_ship(rc_thread *t, bool refill);
TALLY_HIDDEN void _tally_rcd_forget_owner_locked(rc_thread *t);
TALLY_HIDDEN void _tally_rcd_thread_unlink_locked(rc_thread *t);

/* ---- runtime/rc_deferred_step.c: cuts, steps, the ZCT */
TALLY_HIDDEN void _tally_rcd_cut(rc_thread *t, bool refill);
TALLY_HIDDEN void _tally_rcd_cut_done_max(uint64_t e);
TALLY_HIDDEN void _tally_rcd_apply_incs(const rc_batch *bt);
TALLY_HIDDEN void _tally_rcd_apply_incs_range(const uintptr_t *p, const uintptr_t *end);
TALLY_HIDDEN void _tally_rcd_apply_decs_range(const uintptr_t *p, const uintptr_t *end, uint64_t tag,
                                              obj_vec *zeros_out, thread_vec *owners_out, rc_thread *owner);
TALLY_HIDDEN void _tally_rcd_apply_decs(const rc_batch *bt, uint64_t tag, obj_vec *zeros_out,
                                         thread_vec *owners_out);
TALLY_HIDDEN void _tally_rcd_zero_reached(tally_object *o, uint64_t tag, obj_vec *out, thread_vec *out_owners,
                                          rc_thread *owner);
TALLY_HIDDEN void _tally_rcd_zct_check(uint64_t e, bool all, obj_vec *dead, rc_thread *self);
TALLY_HIDDEN void _tally_rcd_take_inbox(rc_thread *t, obj_vec *dead);
TALLY_HIDDEN void _tally_rcd_maybe_step(rc_thread *t);

/* ---- runtime/rc_deferred_cascade.c: freeing deaths */
TALLY_HIDDEN void _tally_rcd_dealloc_vec(obj_vec *dead);
TALLY_HIDDEN void _tally_rcd_dealloc_all(obj_vec *dead);
TALLY_HIDDEN void _tally_rcd_cascade_settle(rc_thread *t);
TALLY_HIDDEN void _tally_rcd_cascade_free(rc_thread *t, obj_vec *dead);
TALLY_HIDDEN void _tally_rcd_drain_inbox(rc_thread *t);

/* ---- runtime/rc_deferred_gc.c: the collector's clear loop, fork */
TALLY_HIDDEN void _tally_rcd_gc_settle_log(rc_thread *t);
TALLY_HIDDEN void _tally_rcd_register_atfork_inner(void);
TALLY_HIDDEN void _tally_rcd_register_atfork_outer(void);

#endif
