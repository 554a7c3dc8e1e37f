/* runtime/rc_deferred_cascade.c - the `deferred` backend's deaths: freeing them, the cascade.
 *
 * Owns: deallocating the deaths a step confirmed (weakrefs first), the cascade by which such a
 * death releases the references it held directly instead of through the epochs (with the
 * argument for why that is safe, below), freeing a thread's inbox, and resurrection: the DYING
 * state while a finalizer of a dying object runs and the exact or deferred outcome after it.
 */
#include "runtime/rc_deferred_internal.h"

/* ---- deallocating deaths -------------------------------------------------------------------- */
/* Weakrefs that died in the same batch as their referent go first: a weakref being deallocated
 * never calls back (CPython), and deaths found together have no order of their own.  The deaths
 * of a vector in that order: its array's weakrefs (moved to the front), the weakrefs of its
 * spill, the rest of the array, the rest of the spill (the spill split in two chains first). */
typedef struct death_order {
    obj_vec *v;
    size_t i, nweak;
    tally_object *weak, *rest;   /* the spill's weakrefs and other deaths (chains) */
} death_order;

static void deaths_begin(death_order *d, obj_vec *dead)
{
    size_t w = 0;
    for (size_t i = 0; i < dead->n && (dead->n > 1 || dead->spill); i++) {
        if (_tally_is_weakref(dead->v[i])) {
            tally_object *t = dead->v[w];
            dead->v[w++] = dead->v[i];
            dead->v[i] = t;
        }
    }
    *d = (death_order){ dead, 0, w, NULL, NULL };
    tally_object *o;
    while ((o = chain_pop(&dead->spill)))
        chain_push(_tally_is_weakref(o) ? &d->weak : &d->rest, o);
}

/* The next death, or NULL (then the vector is empty). */
static tally_object *deaths_next(death_order *d)
{
    if (d->i < d->nweak)
        return d->v->v[d->i++];
    if (d->weak)
        return chain_pop(&d->weak);
    if (d->i < d->v->n)
        return d->v->v[d->i++];
    if (d->rest)
        return chain_pop(&d->rest);
    d->v->n = 0;
    return NULL;
}

/* Returns how many were deallocated. */
static size_t dealloc_vec(obj_vec *dead)
{
    death_order d;
    deaths_begin(&d, dead);
    size_t n = 0;
    for (tally_object *o; (o = deaths_next(&d)); n++)
        _tally_dealloc(o);
    return n;
}

void _tally_rcd_dealloc_vec(obj_vec *dead) { (void)dealloc_vec(dead); }

void _tally_rcd_dealloc_all(obj_vec *dead) { STAT_ADD(n_deaths, dealloc_vec(dead)); }


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
void _tally_rcd_cascade_settle(rc_thread *t)
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
    pthread_mutex_lock(&_tally_rcd.lock);
    if (tally_atomic_load_relaxed(&t->unapplied) != 0) {
        /* A log this thread shipped still holds increments no step applied (point 2). */
        pthread_mutex_unlock(&_tally_rcd.lock);
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
                    /* a reader may be on it: the ZCT */
                    _tally_rcd_zero_reached(o, _tally_rcd.epoch, NULL, NULL, t);
                    queued++;
                    t->zct_queued++;
                } else {
                    vec_push(&t->cascade, o);   /* never fails: spills when out of memory */
                }
            }
            continue;
        }
        *w++ = e;
    }
    l->pos = w;
    if (queued)
        tally_atomic_store_relaxed(&_tally_rcd.need_step, 1);
    pthread_mutex_unlock(&_tally_rcd.lock);
    t->settled = t->seg_dec = (size_t)(w - l->base);
    t->gc_seen = 0;
}

static void cascade_one(rc_thread *t, tally_object *x)
{
    seg_begin(t, x);
    _tally_dealloc(x);
    _tally_rcd_cascade_settle(t);
    t->seg_mode = SEG_NONE;
    t->seg_obj = NULL;
}

/* Deallocate deaths a step confirmed, and what their deallocation kills directly (above).
 * Attached caller, no lock held. */
void _tally_rcd_cascade_free(rc_thread *t, obj_vec *dead)
{
    if (t->cascading || t->ts->gc_clearing || !t->buf || !t->log->base ||
        tally_atomic_load_relaxed(&t->ts->state) != TALLY_TS_ATTACHED) {
        _tally_rcd_dealloc_all(dead);
        return;
    }
    death_order d;
    deaths_begin(&d, dead);
    t->cascading = 1;
    size_t direct = 0, found = 0;
    for (tally_object *x; (x = deaths_next(&d)); found++) {
        cascade_one(t, x);
        for (tally_object *o; (o = vec_pop(&t->cascade));) {
            direct++;
            cascade_one(t, o);
        }
    }
    t->cascading = 0;
    STAT_ADD(n_deaths, found + direct);
    STAT_ADD(n_direct, direct);
}

/* Free the deaths other threads' steps found for this thread.  Attached, no locks held. */
void _tally_rcd_drain_inbox(rc_thread *t)
{
    if (!tally_atomic_load_relaxed(&t->inbox_n))
        return;
    obj_vec dead = { NULL, 0, 0, NULL };
    _tally_rcd_take_inbox(t, &dead);
    _tally_rcd_cascade_free(t, &dead);
    vec_free(&dead);
}

/* ---- resurrection: a finalizer of a dying object ---------------------------------------------- */
void _tally_rc_resurrect_begin(tally_object *o)
{
    rc_thread *t = rc_self();
    pthread_mutex_lock(&_tally_rcd.lock);
    /* DYING first, then the count with release: a try_incref that reads 1 sees DYING. */
    tally_atomic_store_relaxed(&o->ob_ref_shared,
                               RC_DYING | (intptr_t)(((t ? t->ships : 0) & 0xffffffffu) << RC_SHIFT));
    tally_atomic_store_release(&o->ob_ref_local, 1u);
    pthread_mutex_unlock(&_tally_rcd.lock);
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
    pthread_mutex_lock(&_tally_rcd.lock);
    uint32_t c = tally_atomic_load_relaxed(&o->ob_ref_local);
    intptr_t flags = tally_atomic_load_relaxed(&o->ob_ref_shared);
    tally_atomic_store_relaxed(&o->ob_ref_shared, 0);
    if (c == TALLY_IMMORTAL_REFCNT) {
        pthread_mutex_unlock(&_tally_rcd.lock);
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
        pthread_mutex_unlock(&_tally_rcd.lock);
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
    pthread_mutex_unlock(&_tally_rcd.lock);
    if (t)
        _tally_decref_fast(o);   /* the finalizer's reference, dropped one epoch late */
    return true;
}

