/* runtime/object.c - the object core: allocation, deallocation, immortality, the exported
 * refcount entry points.
 *
 * Owns: tally_new, _tally_dealloc (CPython's subtype_dealloc order), the bounded-depth
 * deallocation ("trashcan"), object memory release, tally_set_immortal / tally_is_immortal,
 * tally_refcount, tally_flush, and the out-of-line tally_incref/tally_decref that programs
 * compiled without TALLY_BACKEND_<NAME> call.
 *
 * Deallocation order (CPython 3.x subtype_dealloc):
 *   untrack -> finalize (GC objects: once, FINALIZED bit; non-GC: every death); resurrected?
 *   stop, re-track, weakrefs intact -> clear weakrefs, run their callbacks -> del (no once-only
 *   guard); resurrected? stop -> destroy -> collector bookkeeping -> free.
 * Bounded recursion: a thread's nested deallocations stop at TRASH_DEPTH; deeper objects are
 * pushed on the thread's trash stack and released by the outermost call, so a chain of
 * 1,000,000 lists freed by one decref uses constant C stack.  Objects on the trash stack are
 * untracked first, so a collection that runs in between never sees a dead object.
 */
#include "runtime/internal.h"

#include <mimalloc.h>
#include <string.h>

#define TRASH_DEPTH 48

/* ---- allocation -------------------------------------------------------------------------- */
tally_object *tally_new(const tally_type *t)
{
    tally_thread_state *ts = _tally_tstate_require("tally_new");
    if (!ts)
        return NULL;
    if (!t || t->size < sizeof(tally_object)) {
        _tally_set_error("tally_new: type %s has size %zu, below the %zu-byte object header",
                         t && t->name ? t->name : "(null)", t ? t->size : (size_t)0,
                         sizeof(tally_object));
        return NULL;
    }
    /* An allocation is a safepoint: a thread that only allocates still lets the world stop. */
    if (tally_unlikely(tally_atomic_load_relaxed(&ts->breaker) != 0))
        _tally_handle_pending(ts);
    bool gc = (t->flags & TALLY_TYPE_GC) != 0;
    if (gc)
        _tally_gc_maybe_collect(ts);
    size_t pre = gc ? sizeof(_tally_gc_head) : 0;
    char *mem = mi_zalloc(pre + t->size);
    if (!mem) {
        _tally_set_error("tally_new: out of memory allocating a %s of %zu bytes", t->name, t->size);
        return NULL;
    }
    tally_object *o = (tally_object *)(mem + pre);
    o->ob_type = t;
    o->ob_flags = gc ? TALLY_OBF_GC : 0;
    if (gc && _tally_gc_on_alloc(ts, o) != 0) {   /* error set; nothing else saw o */
        mi_free(mem);
        return NULL;
    }
    _tally_rc_object_init(o, ts);
    tally_atomic_store_relaxed(&ts->allocated, ts->allocated + 1);
    if (tally_unlikely(_tally_debug_objects_on()))
        _tally_registry_add(o);
    return o;
}

void _tally_static_object_init(tally_object *o, const tally_type *t)
{
    memset(o, 0, sizeof *o);
    o->ob_type = t;
    o->ob_flags = TALLY_OBF_STATIC;
    o->ob_ref_local = TALLY_IMMORTAL_REFCNT;
    _tally_registry_add(o);
    o->ob_tid = TALLY_RC_IMMORTAL_TID;   /* the atomic backend's immortal mark, else 0 */
}

void _tally_object_mark_shared(tally_object *o)
{
#if defined(TALLY_FREE_THREADED)
    if (!(tally_atomic_load_relaxed(&o->ob_gc_bits) & TALLY_GC_BIT_SHARED))
        tally_atomic_fetch_or_relaxed(&o->ob_gc_bits, (uint8_t)TALLY_GC_BIT_SHARED);
#else
    (void)o;
#endif
}

void _tally_object_free(tally_object *o)
{
    if (o->ob_flags & TALLY_OBF_STATIC)
        return;
    if (tally_unlikely(_tally_debug_objects_on())) {   /* debug mode */
        _tally_registry_remove(o);
        _tally_quarantine_put(o);
        return;
    }
    _tally_object_release_memory(o);
}

void _tally_object_release_memory(tally_object *o)
{
    void *mem = _TALLY_IS_GC(o) ? (void *)_TALLY_AS_GC(o) : (void *)o;
#if defined(TALLY_FREE_THREADED)
    /* Another thread may still read this header lock-free (a container read racing the removal,
     * or a weakref lookup): keep the memory until every thread has passed a safepoint. */
    if (_tally_free_needs_grace(o)) {
        _tally_free_delayed(mem);
        return;
    }
#endif
    mi_free(mem);
}

/* ---- deallocation ------------------------------------------------------------------------ */
/* Runs a finalizer slot with o temporarily alive (count 1, ours); true when o is resurrected.
 *
 * In the free-threaded backends another thread may take a reference while o is temporarily
 * alive (a lock-free container read or weakref lookup that raced the last decref: its
 * try-incref sees the count of 1) and drop it again right after _tally_rc_resurrect_end.  That
 * thread then deallocates o.  So everything this deallocation does to a resurrected object - put
 * it back on the collector's list - happens before _tally_rc_resurrect_end drops our reference:
 * the release of that decrement pairs with the acquire of whichever decrement reaches zero next,
 * so the next deallocation sees o tracked, and this thread never touches o after a true return. */
static bool call_with_resurrection(tally_object *o, void (*fn)(tally_object *), bool was_tracked)
{
    _tally_rc_resurrect_begin(o);
    fn(o);
    if (was_tracked)
        tally_gc_track(o);
    if (_tally_rc_resurrect_end(o))
        return true;
    if (was_tracked)
        tally_gc_untrack(o);
    return false;
}

static void dealloc_one(tally_thread_state *ts, tally_object *o, bool was_tracked)
{
    const tally_type *t = o->ob_type;
    bool gc = _TALLY_IS_GC(o);

    if (t->finalize) {
        if (!gc || !(tally_atomic_load_relaxed(&o->ob_gc_bits) & TALLY_GC_BIT_FINALIZED)) {
            if (gc)
                tally_atomic_fetch_or_relaxed(&o->ob_gc_bits, (uint8_t)TALLY_GC_BIT_FINALIZED);
            if (call_with_resurrection(o, t->finalize, was_tracked))
                return; /* resurrected: weakrefs stay intact */
        }
    }
    if (tally_atomic_load_relaxed(&o->ob_gc_bits) & TALLY_GC_BIT_WEAKREFS)
        _tally_clear_weakrefs(o, true);
    if (t->del) {
        if (call_with_resurrection(o, t->del, was_tracked))
            return;
    }
    if (gc)
        _tally_gc_on_free(ts, o);
    /* From here on o is being destroyed: a decref through the exported tally_decref (one that
     * destroy itself makes, say) is misuse and is reported instead of being applied to memory
     * about to be freed. */
    tally_atomic_fetch_or_relaxed(&o->ob_gc_bits, (uint8_t)TALLY_GC_BIT_DEALLOCATING);
    if (t->destroy)
        t->destroy(o);
    if (ts)
        tally_atomic_store_relaxed(&ts->freed, ts->freed + 1);
    _tally_object_free(o);
}

/* False when the stack cannot grow (out of memory): the caller deallocates o in place, one
 * level deeper on the C stack (only while memory is short). */
static bool trash_push(tally_thread_state *ts, tally_object *o)
{
    if (ts->trash_len == ts->trash_cap) {
        tally_object **n = _tally_grow_ptrs_try(ts->trash, &ts->trash_cap, 256);
        if (!n)
            return false;
        ts->trash = n;
    }
    ts->trash[ts->trash_len++] = o;
    return true;
}

void _tally_dealloc(tally_object *o)
{
    tally_thread_state *ts = _tally_tstate_tls;
    bool was_tracked = false;
    if (_TALLY_IS_GC(o) && tally_gc_is_tracked(o)) {
        _tally_gc_untrack_dying(o);
        was_tracked = true;
    }
    if (tally_unlikely(!ts || tally_atomic_load_relaxed(&ts->state) != TALLY_TS_ATTACHED)) {
        /* Misuse: destroying it here would run its destroy (user code) outside the GIL or the
         * stop-the-world protocol, racing the threads that are attached.  It is left alive,
         * untracked (a leak, the same on every backend), and the error names it. */
        _tally_misuse(o, "last reference dropped by a thread that is not attached (call "
                         "tally_thread_attach first): the object is leaked, not destroyed");
        return;
    }
    if (ts->dealloc_depth >= TRASH_DEPTH) {
        /* Too deep: finish it later from the outermost deallocation.  Whether it was tracked
         * is remembered in the DEALLOCATING bit until then. */
        if (trash_push(ts, o)) {
            if (was_tracked)
                tally_atomic_fetch_or_relaxed(&o->ob_gc_bits, (uint8_t)TALLY_GC_BIT_DEALLOCATING);
            return;
        }
        ts->dealloc_depth++;
        dealloc_one(ts, o, was_tracked);
        ts->dealloc_depth--;
        return;
    }
    /* Nested (a destroy releasing its items): a wide structure freed at once (a depth-16 tree is
     * 131,071 nodes, 5-10 ms, never deeper than TRASH_DEPTH) must let a waiting stop-the-world
     * in too, not only the trash loop below.  Not at the outermost level: a plain decref by
     * the program does not park.  The objects being destroyed above this one on the C stack are
     * untracked with their remaining items still counted, so a collection that runs while this
     * thread is parked sees those items as referenced from outside: they survive it. */
    if (ts->dealloc_depth > 0)
        _tally_poll_stop(ts);
    ts->dealloc_depth++;
    dealloc_one(ts, o, was_tracked);
    if (ts->dealloc_depth == 1) {
        while (ts->trash_len > 0) {
            _tally_poll_stop(ts);   /* a 1M-deep chain must not hold a stop-the-world off */
            tally_object *d = ts->trash[--ts->trash_len];
            bool tracked = (tally_atomic_load_relaxed(&d->ob_gc_bits) & TALLY_GC_BIT_DEALLOCATING) != 0;
            if (tracked)
                tally_atomic_fetch_and_relaxed(&d->ob_gc_bits, (uint8_t)~TALLY_GC_BIT_DEALLOCATING);
            dealloc_one(ts, d, tracked);
        }
    }
    ts->dealloc_depth--;
}

/* ---- immortality and counts ------------------------------------------------------------- */
/* Heap objects made immortal are never freed.  They are listed here so that they stay reachable
 * from a global: a leak checker (LeakSanitizer in the asan preset) then sees memory the runtime
 * keeps on purpose, not memory it lost.  Appends only; a duplicate entry (two threads making the
 * same object immortal at once) is harmless. */
static pthread_mutex_t immortal_list_mu = PTHREAD_MUTEX_INITIALIZER;
static tally_object **immortal_list;
static size_t immortal_n, immortal_cap;

static void immortal_list_add(tally_object *o)
{
    pthread_mutex_lock(&immortal_list_mu);
    if (immortal_n == immortal_cap) {
        size_t cap = immortal_cap ? immortal_cap * 2 : 64;
        tally_object **n = mi_realloc(immortal_list, cap * sizeof *n);
        if (!n) {
            pthread_mutex_unlock(&immortal_list_mu);
            return;   /* only a leak checker would notice */
        }
        immortal_list = n;
        immortal_cap = cap;
    }
    immortal_list[immortal_n++] = o;
    pthread_mutex_unlock(&immortal_list_mu);
}

void tally_set_immortal(tally_object *o)
{
    if (!o) {
        _tally_misuse(NULL, "tally_set_immortal(NULL)");
        return;
    }
    bool was = tally_is_immortal(o);
    _tally_rc_set_immortal(o);   /* also restores a saturated count (atomic backend) */
    if (!was && !(o->ob_flags & TALLY_OBF_STATIC))
        immortal_list_add(o);
}

bool tally_is_immortal(tally_object *o)
{
    /* A backend with an immortal mark in ob_tid (atomic) tests the mark: its count may be
     * restored to the saturated value later (tally/static/rc_atomic.h). */
    if (TALLY_RC_IMMORTAL_TID != 0 && o && tally_atomic_load_relaxed(&o->ob_tid) != 0)
        return true;
    return o && tally_atomic_load_relaxed(&o->ob_ref_local) == TALLY_IMMORTAL_REFCNT;
}

intptr_t tally_refcount(tally_object *o)
{
    if (!o)
        return 0;
    if (tally_is_immortal(o))
        return (intptr_t)TALLY_IMMORTAL_REFCNT;
    return _tally_rc_get(o);
}

void tally_flush(void)
{
    _tally_rc_flush();
}

const tally_type *tally_type_of(tally_object *o)
{
    return o ? o->ob_type : NULL;
}

/* ---- out-of-line entry points ------------------------------------------------------------ */
/* Programs compiled without TALLY_BACKEND_<NAME> (and function pointers to these) land here.
 * Unlike the inline paths they always check for NULL and for a count already at zero. */
void (tally_incref)(tally_object *o)
{
    if (tally_unlikely(!o)) {
        _tally_misuse(NULL, "tally_incref(NULL)");
        return;
    }
    if (tally_unlikely(_TALLY_REFCNT_IS_DEAD(tally_atomic_load_relaxed(&o->ob_ref_local)))) {
        _tally_refcount_dead_error(o, "tally_incref");
        return;
    }
    _tally_incref_fast(o);
}

void (tally_decref)(tally_object *o)
{
    if (tally_unlikely(!o)) {
        _tally_misuse(NULL, "tally_decref(NULL)");
        return;
    }
    if (tally_unlikely(tally_atomic_load_relaxed(&o->ob_gc_bits) & TALLY_GC_BIT_DEALLOCATING)) {
        _tally_misuse(o, "tally_decref: negative refcount (a decref of an object inside its own deallocation)");
        return;
    }
    if (tally_unlikely(_TALLY_REFCNT_IS_DEAD(tally_atomic_load_relaxed(&o->ob_ref_local)))) {
        _tally_refcount_dead_error(o, "tally_decref");
        return;
    }
#if !defined(TALLY_RC_CHECKS_NEGATIVE_DECREF)
    /* Exact counts (gil, racy, atomic): a decref at zero is detectable.  (biased and deferred
     * report it in their slow paths.) */
    if (tally_unlikely(_tally_rc_get(o) <= 0)) {
        _tally_misuse(o, "tally_decref: negative refcount (the count is already %ld)",
                      (long)_tally_rc_get(o));
        return;
    }
#endif
    _tally_decref_fast(o);
}

void (tally_xincref)(tally_object *o)
{
    if (o)
        _tally_incref_fast(o);
}

void (tally_xdecref)(tally_object *o)
{
    if (o)
        (tally_decref)(o);
}

tally_object *(tally_newref)(tally_object *o)
{
    (tally_incref)(o);
    return o;
}
