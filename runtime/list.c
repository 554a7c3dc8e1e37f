/* runtime/list.c - lists.
 *
 * Owns: tally_list_type (growable arrays of strong references; GC containers) and their
 * thread-safety protocol.
 *
 * Layout: the object holds `size` and a pointer to a separately allocated array that carries its
 * own capacity ({cap, items[cap]}), so a reader that loaded an array pointer always knows that
 * array's bounds.  Slots at or beyond `size` are NULL in the current array.
 *
 * gil / racy: plain loads and stores; the GIL (or nothing, for racy) orders them.
 *
 * Free-threaded backends (atomic, biased, deferred), after CPython 3.13t's listobject.c:
 *  - Writers (append, set, pop, clear, the collector's clear) hold the per-object lock, never
 *    run user code under it (no decref, no object allocation: new arrays are allocated with the
 *    lock dropped and the operation retried), and publish with release stores: an item before
 *    the size that makes it visible, a filled array before the pointer to it.
 *  - tally_list_get takes no lock: acquire-load size, array and slot (pairing with those release
 *    stores), take a reference with _tally_rc_try_incref, then re-load the slot; if it no longer
 *    holds the item (a set or pop raced us) drop the reference and redo the read under the lock.
 *    Any failure (empty slot, item dying, no conditional reference in this backend) also falls
 *    back to the lock, so the lock-free path only ever returns an item that was in the list
 *    while we read it and of which we now hold a reference.
 *  - Memory safety of that read: the reader holds a reference to the list, so the list lives.
 *    An array replaced by a resize or detached by clear is freed through QSBR
 *    (_tally_free_delayed) whenever the list is SHARED, and an item is SHARED from the moment it
 *    is stored, so object.c frees it through QSBR too: nothing the reader touches between two of
 *    its safepoints is freed under it (a tally_list_get has no safepoint inside).
 *  - SHARED on the list (CPython's ensure_shared_on_read/resize): the list remembers the thread
 *    that created it (in a header word its backend leaves free, runtime/seq_layout.h); the first lock-free read by any other thread sets SHARED while holding the
 *    list's lock, and so does a write by any other thread.  A writer decides between mi_free and
 *    a delayed free under the lock, after that bit can have been set, so a reader that read
 *    SHARED as clear and skipped the lock can only be the owner itself, which never races its
 *    own writes.  Single-threaded lists therefore free their old arrays at once.
 */
#include "runtime/seq_layout.h"

#include <mimalloc.h>
#include <string.h>

#if defined(TALLY_FREE_THREADED)
#  define LD_ACQ(p) tally_atomic_load_acquire(p)
#  define LD_RLX(p) tally_atomic_load_relaxed(p)
#  define ST_REL(p, v) tally_atomic_store_release(p, v)
#else
#  define LD_ACQ(p) (*(p))
#  define LD_RLX(p) (*(p))
#  define ST_REL(p, v) (*(p) = (v))
#endif

#define LIST_MIN_CAP 4
#define LIST_SHRINK_MIN_CAP 16

static int list_traverse(tally_object *self, tally_visitproc visit, void *arg);
static int list_clear_slot(tally_object *self);
static void list_destroy(tally_object *self);

const tally_type tally_list_type = {
    .name = "list",
    .size = sizeof(tally_list),
    .flags = TALLY_TYPE_GC,
    .traverse = list_traverse,
    .clear = list_clear_slot,
    .destroy = list_destroy,
};

static inline bool is_list(tally_object *o)
{
    return o && o->ob_type == &tally_list_type;
}

#define CHECK_LIST(o, what, fail)                                          \
    do {                                                                   \
        if (tally_unlikely(!is_list(o))) {                                 \
            _tally_misuse((o), "%s: not a list", (what));                  \
            return fail;                                                   \
        }                                                                  \
    } while (0)


/* ---- sharing (free-threaded builds) ------------------------------------------------------- */
static inline bool list_is_shared(tally_list *l)
{
#if defined(TALLY_FREE_THREADED)
    return (tally_atomic_load_relaxed(&l->ob_base.ob_gc_bits) & TALLY_GC_BIT_SHARED) != 0;
#else
    (void)l;
    return false;
#endif
}


/* Lock held: the list has just become shared (deferred: mark what it holds). */
static inline void list_mark_items_locked(tally_list *l)
{
#if defined(TALLY_FREE_THREADED) && TALLY_ITEMS_MARKED_LAZILY
    list_array *a = l->arr;
    for (size_t i = 0, n = l->size; a && i < n; i++) {
        tally_object *o = a->items[i];
        if (o)
            _tally_object_mark_shared(o);
    }
#else
    (void)l;
#endif
}

/* Lock held: a write by a thread other than the creator makes the list shared. */
static inline void list_ensure_shared_locked(tally_list *l)
{
#if defined(TALLY_FREE_THREADED)
    if (_tally_list_owner(l) != _tally_thread_id() && !list_is_shared(l)) {
        list_mark_items_locked(l);
        _tally_object_mark_shared(&l->ob_base);
    }
#else
    (void)l;
#endif
}

#if defined(TALLY_FREE_THREADED)
/* Before a lock-free read: another thread's first read sets SHARED under the lock, so every
 * later writer sees it before choosing how to free a replaced array. */
static inline void list_ensure_shared_on_read(tally_list *l)
{
    if (tally_likely(list_is_shared(l)) || _tally_list_owner(l) == _tally_thread_id())
        return;
    _tally_object_lock(&l->ob_base);
    if (!list_is_shared(l))
        list_mark_items_locked(l);
    _tally_object_mark_shared(&l->ob_base);
    _tally_object_unlock(&l->ob_base);
}
#endif

/* A stored item may be read lock-free by another thread: free it through QSBR when it dies.
 * Called with the lock held, after list_ensure_shared_locked. */
static inline void item_mark_shared_locked(tally_list *l, tally_object *o)
{
#if defined(TALLY_FREE_THREADED)
    if (!TALLY_ITEMS_MARKED_LAZILY || list_is_shared(l))
        _tally_object_mark_shared(o);
#else
    (void)l;
    (void)o;
#endif
}

/* ---- arrays ----------------------------------------------------------------------------- */
static list_array *array_alloc(size_t cap)
{
    if (cap > (SIZE_MAX - sizeof(list_array)) / sizeof(tally_object *))
        return NULL;
    list_array *a = mi_malloc(sizeof(list_array) + cap * sizeof(tally_object *));
    if (a)
        a->cap = cap;
    return a;
}

/* Fill a not-yet-published array: the first n items of src (if any), NULL after them, so a
 * reader with a stale size finds NULL (and takes the lock) rather than garbage. */
static void array_fill(list_array *dst, const list_array *src, size_t n)
{
    if (n)
        memcpy(dst->items, src->items, n * sizeof(tally_object *));
    memset(dst->items + n, 0, (dst->cap - n) * sizeof(tally_object *));
}

/* Free an array that is no longer reachable from the list.  `delayed`: the list was shared when
 * the array was unpublished (decided under the lock), so readers may still be on it. */
static void array_release(list_array *a, bool delayed)
{
    if (!a)
        return;
    if (delayed)
        _tally_free_delayed(a);
    else
        mi_free(a);
}

/* Over-allocate by half (amortised O(1) appends with few copies, each of which may cost a
 * delayed free). */
static size_t grow_cap(size_t need)
{
    size_t c = need + (need >> 1) + LIST_MIN_CAP;
    return c < need ? need : c;
}

/* ---- public API ------------------------------------------------------------------------- */
tally_object *tally_list_new(void)
{
    tally_list *l = (tally_list *)tally_new(&tally_list_type);
    if (!l)
        return NULL;
#if defined(TALLY_FREE_THREADED)
    /* (biased: ob_tid already holds this thread, the owner; the store writes the same value) */
    tally_atomic_store_relaxed(_tally_list_owner_word(l), _tally_thread_id());
#endif
    return &l->ob_base;
}

size_t tally_list_len(tally_object *lo)
{
    CHECK_LIST(lo, "tally_list_len", 0);
    return LD_RLX(&((tally_list *)lo)->size);
}

int tally_list_append(tally_object *lo, tally_object *o)
{
    CHECK_LIST(lo, "tally_list_append", -1);
    TALLY_CHECK_ATTACHED("tally_list_append", -1);
    if (!o) {
        _tally_misuse(lo, "tally_list_append: NULL item");
        return -1;
    }
    tally_list *l = (tally_list *)lo;
    tally_incref(o);                 /* the list's reference */
    list_array *spare = NULL;        /* allocated with the lock dropped */
    for (;;) {
        _tally_object_lock(lo);
        list_ensure_shared_locked(l);
        item_mark_shared_locked(l, o);
        size_t n = l->size;
        list_array *a = l->arr;
        if (a && n < a->cap) {
            ST_REL(&a->items[n], o);         /* item first ... */
            ST_REL(&l->size, n + 1);         /* ... then the size that exposes it */
            _tally_object_unlock(lo);
            mi_free(spare);
            return 0;
        }
        if (spare && spare->cap > n) {
            array_fill(spare, a, n);
            spare->items[n] = o;             /* unpublished: plain store */
            ST_REL(&l->arr, spare);          /* filled array before the pointer ... */
            ST_REL(&l->size, n + 1);         /* ... and the pointer before the size */
            bool delayed = list_is_shared(l);
            _tally_object_unlock(lo);
            array_release(a, delayed);
            return 0;
        }
        _tally_object_unlock(lo);
        mi_free(spare);
        spare = array_alloc(grow_cap(n + 1));
        if (!spare) {
            tally_decref(o);
            _tally_set_error("tally_list_append: out of memory growing a list of %zu items", n);
            return -1;
        }
    }
}

/* The locked read: the fallback of the lock-free path and the only path in gil/racy. */
static tally_object *list_get_locked(tally_list *l, size_t i)
{
    tally_object *o = NULL;
    _tally_object_lock(&l->ob_base);
    if (i < l->size) {
        o = l->arr->items[i];
        tally_incref(o);              /* an increment under the lock runs no user code */
    }
    size_t n = l->size;
    _tally_object_unlock(&l->ob_base);
    if (!o)
        _tally_set_error("tally_list_get: index %zu out of range (length %zu)", i, n);
    return o;
}

tally_object *tally_list_get(tally_object *lo, size_t i)
{
    CHECK_LIST(lo, "tally_list_get", NULL);
    TALLY_CHECK_ATTACHED("tally_list_get", NULL);
    tally_list *l = (tally_list *)lo;
#if defined(TALLY_FREE_THREADED)
    list_ensure_shared_on_read(l);
    size_t n = LD_ACQ(&l->size);
    if (i >= n) {
        _tally_set_error("tally_list_get: index %zu out of range (length %zu)", i, n);
        return NULL;
    }
    list_array *a = LD_ACQ(&l->arr);       /* pairs with ST_REL(&l->arr) in append/pop/clear */
    if (a && i < a->cap) {
        tally_object *o = LD_ACQ(&a->items[i]);   /* pairs with ST_REL of the slot */
        if (o && _tally_rc_try_incref(o)) {
            /* Still in the slot after we took our reference: it was in the list at that
             * moment and is ours now.  Otherwise a writer replaced it: retry under the lock. */
            if (tally_likely(LD_ACQ(&a->items[i]) == o))
                return o;
            tally_decref(o);
        }
    }
#endif
    return list_get_locked(l, i);
}

int tally_list_set(tally_object *lo, size_t i, tally_object *o)
{
    CHECK_LIST(lo, "tally_list_set", -1);
    TALLY_CHECK_ATTACHED("tally_list_set", -1);
    if (!o) {
        _tally_misuse(lo, "tally_list_set: NULL item");
        return -1;
    }
    tally_list *l = (tally_list *)lo;
    tally_incref(o);
    _tally_object_lock(lo);
    list_ensure_shared_locked(l);
    item_mark_shared_locked(l, o);
    size_t n = l->size;
    if (i >= n) {
        _tally_object_unlock(lo);
        tally_decref(o);     /* the caller still holds its own reference: no destructor runs */
        _tally_set_error("tally_list_set: index %zu out of range (length %zu)", i, n);
        return -1;
    }
    tally_object *old = l->arr->items[i];
    ST_REL(&l->arr->items[i], o);
    _tally_object_unlock(lo);
    tally_decref(old);       /* outside the lock: may run any destructor */
    return 0;
}

/* After a pop left the array mostly empty: move to a smaller one (best effort). */
static void list_maybe_shrink(tally_list *l)
{
    size_t n = LD_RLX(&l->size);
    size_t cap = n * 2 < LIST_SHRINK_MIN_CAP / 2 ? LIST_SHRINK_MIN_CAP / 2 : n * 2;
    list_array *spare = array_alloc(cap);
    if (!spare)
        return;
    _tally_object_lock(&l->ob_base);
    list_array *a = l->arr;
    n = l->size;
    /* Recheck: other threads may have appended or replaced the array meanwhile. */
    if (!a || n > spare->cap || spare->cap * 2 > a->cap) {
        _tally_object_unlock(&l->ob_base);
        mi_free(spare);
        return;
    }
    array_fill(spare, a, n);
    ST_REL(&l->arr, spare);
    bool delayed = list_is_shared(l);
    _tally_object_unlock(&l->ob_base);
    array_release(a, delayed);
}

tally_object *tally_list_pop(tally_object *lo)
{
    CHECK_LIST(lo, "tally_list_pop", NULL);
    TALLY_CHECK_ATTACHED("tally_list_pop", NULL);
    tally_list *l = (tally_list *)lo;
    _tally_object_lock(lo);
    list_ensure_shared_locked(l);
    size_t n = l->size;
    if (n == 0) {
        _tally_object_unlock(lo);
        _tally_set_error("tally_list_pop: pop from an empty list");
        return NULL;
    }
    list_array *a = l->arr;
    tally_object *o = a->items[n - 1];
    ST_REL(&a->items[n - 1], NULL);   /* a reader with the old size finds NULL and locks */
    ST_REL(&l->size, n - 1);
    bool shrink = a->cap >= LIST_SHRINK_MIN_CAP && (n - 1) < a->cap / 4;
    _tally_object_unlock(lo);
    if (shrink)
        list_maybe_shrink(l);
    return o;                          /* the list's reference, now the caller's */
}

/* Detach everything under the lock, release it outside.  Used by tally_list_clear, by the
 * collector (clear slot) and by destroy. */
static void list_clear_impl(tally_list *l)
{
    _tally_object_lock(&l->ob_base);
    list_ensure_shared_locked(l);
    list_array *a = l->arr;
    size_t n = l->size;
    ST_REL(&l->arr, NULL);
    ST_REL(&l->size, 0);
    /* A list of the collector's final unreachable set, cleared by the collector: no reader. */
    bool delayed = list_is_shared(l) && _tally_free_needs_grace(&l->ob_base);
    _tally_object_unlock(&l->ob_base);
    if (!a)
        return;
    /* Last item first (CPython's list_clear); each decref may run arbitrary destructors, which
     * may even touch this list again: it is already empty and consistent. */
    tally_thread_state *ts = _tally_tstate();
    while (n > 0) {
        tally_decref(a->items[--n]);
        if ((n % TALLY_POLL_EVERY) == 0)
            _tally_poll_stop(ts);   /* `a` is private to this thread now */
    }
    array_release(a, delayed);
}

int tally_list_clear(tally_object *lo)
{
    CHECK_LIST(lo, "tally_list_clear", -1);
    TALLY_CHECK_ATTACHED("tally_list_clear", -1);
    list_clear_impl((tally_list *)lo);
    return 0;
}

/* ---- type slots ------------------------------------------------------------------------- */
/* The collector calls traverse with the world stopped (free-threaded) or the GIL held: no
 * writer is inside its critical section (they contain no safepoint), so plain reads are exact. */
static int list_traverse(tally_object *self, tally_visitproc visit, void *arg)
{
    tally_list *l = (tally_list *)self;
    list_array *a = l->arr;
    size_t n = l->size;
    for (size_t i = 0; i < n; i++) {
        int r = visit(a->items[i], arg);
        if (r)
            return r;
    }
    return 0;
}

static int list_clear_slot(tally_object *self)
{
    list_clear_impl((tally_list *)self);
    return 0;
}

static void list_destroy(tally_object *self)
{
    list_clear_impl((tally_list *)self);
}
