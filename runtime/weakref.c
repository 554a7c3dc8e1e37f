/* runtime/weakref.c - weak references.
 *
 * Owns: tally_weakref_type, the global weakref table (referent -> its weakrefs), clearing on
 * refcount death (_tally_clear_weakrefs, called by object.c) and by the collector
 * (_tally_weakrefs_clear_for_gc, _tally_weakref_call), and a weakref's own death
 * (_tally_weakref_forget).
 *
 * Table: referents carry no field for weakrefs.  A table maps a referent's address to the list
 * of its weakrefs (newest first, doubly linked through the weakrefs).  It is split into
 * WR_SHARDS shards by a hash of the address; each shard is a chained hash map under its own
 * pthread mutex.  Creating a weakref sets TALLY_GC_BIT_WEAKREFS on the referent (atomic or),
 * so object.c looks the table up only for objects that have (or had) weakrefs; the bit is
 * sticky, like CPython's _Py_REF_MAYBE_WEAKREF.
 *
 * Invariant: a weakref w with w->target == t is linked in t's list, and t's memory is valid.
 * Both change only under t's shard lock: the referent's death clears every weakref to it
 * (target = NULL, unlinked) under that lock before object.c frees the referent's memory, and
 * w's own death unlinks w under it before w's memory goes.  Hence:
 *  - tally_weakref_get reads w->target (acquire) only to find the shard, then re-reads it under
 *    the shard lock; if it still names t, t's memory is valid and _tally_rc_try_incref(t)
 *    either takes a reference (t alive) or fails (t's count already reached zero: it is dying,
 *    so the weakref is dead from then on).
 *  - the clearing side may _tally_rc_try_incref(w) under the lock: a weakref whose own count
 *    reached zero is being deallocated and never calls its callback.
 * Callbacks run without any lock held, after all weakrefs to the referent were cleared, newest
 * first, each with a reference to its weakref held across the call; a weakref's callback is
 * taken (set to NULL) when its referent dies, so it runs at most once (CPython: afterwards
 * __callback__ is None).
 *
 * Weakrefs are GC objects (as in CPython) with nothing to traverse: the collector must see a
 * weakref that is itself garbage (TALLY_GC_BIT_UNREACHABLE) so that its callback is dropped
 * rather than run on trash.
 *
 * Lock order: a shard lock is a leaf (no object lock, no other shard lock, no decref, no
 * safepoint is taken while holding it).  Memory ordering: w->target is stored under the shard
 * lock with release and may be loaded without it (acquire) only as a hint; every decision is
 * re-made under the lock, whose acquire/release order everything else.
 */
#include "runtime/internal.h"

#include <mimalloc.h>
#include <string.h>

#define WR_SHARDS 64          /* power of two */
#define WR_MIN_BUCKETS 16

typedef struct tally_weakref tally_weakref;
struct tally_weakref {
    TALLY_OBJECT_HEAD;
    tally_object *target;            /* referent; NULL once cleared (never set again) */
    tally_weakref_callback cb;       /* under the shard lock; taken when the referent dies */
    void *arg;                       /* immutable */
    tally_weakref *prev, *next;      /* in the referent's list; under the shard lock */
    tally_weakref *pending_next;     /* private list of callbacks to run (clearing thread) */
};

typedef struct wr_entry {
    tally_object *target;
    tally_weakref *head;             /* newest first; never empty while the entry exists */
    tally_weakref *basic;            /* newest callback-less ref (shared, CPython's basic ref) */
    struct wr_entry *chain;
} wr_entry;

typedef struct wr_shard {
    pthread_mutex_t lock;
    wr_entry **buckets;              /* NULL until the first weakref in this shard */
    size_t nbuckets;                 /* power of two */
    size_t count;                    /* referents with weakrefs */
} __attribute__((aligned(TALLY_CACHELINE))) wr_shard;

static wr_shard shards[WR_SHARDS];
static pthread_once_t shards_once = PTHREAD_ONCE_INIT;

static int weakref_traverse(tally_object *self, tally_visitproc visit, void *arg);
static int weakref_clear(tally_object *self);
static void weakref_destroy(tally_object *self);

const tally_type tally_weakref_type = {
    .name = "weakref",
    .size = sizeof(tally_weakref),
    .flags = TALLY_TYPE_GC,
    .traverse = weakref_traverse,
    .clear = weakref_clear,
    .destroy = weakref_destroy,
};

/* ---- the sharded table ------------------------------------------------------------------ */
/* fork(): the child must not inherit a shard lock held by a thread that does not exist there,
 * nor a table in the middle of a change.  Take every shard lock around fork() (leaf locks: a
 * holder never waits for anything, so this cannot deadlock) and release them on both sides.
 * Registered after the runtime's own handlers, so this prepare runs before theirs. */
static void shards_fork_prepare(void)
{
    for (int i = 0; i < WR_SHARDS; i++)
        pthread_mutex_lock(&shards[i].lock);
}

static void shards_fork_release(void)
{
    for (int i = WR_SHARDS; i-- > 0;)
        pthread_mutex_unlock(&shards[i].lock);
}

static void shards_init_once(void)
{
    for (int i = 0; i < WR_SHARDS; i++)
        pthread_mutex_init(&shards[i].lock, NULL);
    pthread_atfork(shards_fork_prepare, shards_fork_release, shards_fork_release);
}

static inline uint64_t addr_hash(const tally_object *o)
{
    return _tally_ptr_hash(o);
}

static inline wr_shard *shard_of(const tally_object *o)
{
    /* High bits pick the shard, low bits the bucket: independent parts of one hash. */
    return &shards[addr_hash(o) >> (64 - 6)];
}
_Static_assert(WR_SHARDS == 64, "shard_of() takes the top 6 bits of the hash");

static inline void shard_lock(wr_shard *s)
{
    pthread_mutex_lock(&s->lock);
}

static inline void shard_unlock(wr_shard *s)
{
    pthread_mutex_unlock(&s->lock);
}

/* Lock held. */
static wr_entry *entry_find(wr_shard *s, const tally_object *t)
{
    if (!s->buckets)
        return NULL;
    for (wr_entry *e = s->buckets[addr_hash(t) & (s->nbuckets - 1)]; e; e = e->chain)
        if (e->target == t)
            return e;
    return NULL;
}

/* Lock held.  Unlink e from its bucket (the caller frees it). */
static void entry_remove(wr_shard *s, wr_entry *e)
{
    wr_entry **pp = &s->buckets[addr_hash(e->target) & (s->nbuckets - 1)];
    while (*pp != e)
        pp = &(*pp)->chain;
    *pp = e->chain;
    s->count--;
}

/* Lock held (a pthread mutex, so allocating here blocks no stop-the-world: no thread parks
 * while holding it).  Doubles the buckets when chains would average more than one entry;
 * a failed growth only lengthens the chains. */
static void shard_maybe_grow(wr_shard *s)
{
    if (s->buckets && s->count < s->nbuckets)
        return;
    size_t nb = s->buckets ? s->nbuckets * 2 : WR_MIN_BUCKETS;
    wr_entry **b = mi_calloc(nb, sizeof *b);
    if (!b)
        return;
    for (size_t i = 0; i < s->nbuckets; i++) {
        wr_entry *e = s->buckets[i];
        while (e) {
            wr_entry *next = e->chain;
            size_t j = addr_hash(e->target) & (nb - 1);
            e->chain = b[j];
            b[j] = e;
            e = next;
        }
    }
    mi_free(s->buckets);
    s->buckets = b;
    s->nbuckets = nb;
}

/* Lock held.  Unlink w from e's list; frees nothing. */
static void list_unlink(wr_entry *e, tally_weakref *w)
{
    if (e->basic == w)
        e->basic = NULL;
    if (w->prev)
        w->prev->next = w->next;
    else
        e->head = w->next;
    if (w->next)
        w->next->prev = w->prev;
    w->prev = w->next = NULL;
}

/* ---- public API ------------------------------------------------------------------------- */
/* The caller holds a reference to target (a live object): a weakref to an object whose
 * deallocation already cleared its weakrefs would outlive it in the table. */
tally_object *tally_weakref_new(tally_object *target, tally_weakref_callback cb, void *arg)
{
    TALLY_CHECK_ATTACHED("tally_weakref_new", NULL);
    if (!target) {
        _tally_set_error("tally_weakref_new: NULL referent");
        return NULL;
    }
    pthread_once(&shards_once, shards_init_once);
    wr_shard *s = shard_of(target);

    /* CPython reuses the referent's callback-less ref for another callback-less request.  The
     * entry points at it, so this is O(1) however many weakrefs with callbacks there are. */
    if (!cb) {
        tally_object *found = NULL;
        shard_lock(s);
        wr_entry *e = entry_find(s, target);
        if (e && e->basic && _tally_rc_try_incref(&e->basic->ob_base))
            found = &e->basic->ob_base;
        shard_unlock(s);
        if (found)
            return found;
    }

    /* Allocate outside the lock: a GC allocation may run a collection. */
    tally_weakref *w = (tally_weakref *)tally_new(&tally_weakref_type);
    if (!w)
        return NULL;
    w->cb = cb;
    w->arg = arg;

    wr_entry *fresh = mi_malloc(sizeof *fresh);   /* used only if t has no entry yet */
    shard_lock(s);
    wr_entry *e = entry_find(s, target);
    if (!e) {
        if (fresh)
            shard_maybe_grow(s);
        if (!fresh || !s->buckets) {
            shard_unlock(s);
            mi_free(fresh);
            _tally_set_error("tally_weakref_new: out of memory");
            tally_decref(&w->ob_base);   /* never linked: destroy finds no referent */
            return NULL;
        }
        e = fresh;
        fresh = NULL;
        e->target = target;
        e->head = NULL;
        e->basic = NULL;
        size_t b = addr_hash(target) & (s->nbuckets - 1);
        e->chain = s->buckets[b];
        s->buckets[b] = e;
        s->count++;
    }
    w->next = e->head;
    w->prev = NULL;
    if (e->head)
        e->head->prev = w;
    e->head = w;
    if (!cb)
        e->basic = w;
    tally_atomic_store_release(&w->target, target);
    /* Before the caller can drop its reference to target: the thread that deallocates target
     * acquires that reference's release decrement and so sees the bit.  (biased: the bit also
     * makes the owner's last decrement take the RMW path that races correctly with
     * tally_weakref_get's _tally_rc_try_incref, see runtime/rc_biased.c.) */
    tally_atomic_fetch_or(&target->ob_gc_bits, (uint8_t)TALLY_GC_BIT_WEAKREFS);
    shard_unlock(s);
    mi_free(fresh);
    return &w->ob_base;
}

tally_object *tally_weakref_get(tally_object *wo)
{
    TALLY_CHECK_ATTACHED("tally_weakref_get", NULL);
    if (tally_unlikely(!_tally_is_weakref(wo))) {
        _tally_misuse(wo, "tally_weakref_get: not a weakref");
        return NULL;
    }
    tally_weakref *w = (tally_weakref *)wo;
    tally_object *t = tally_atomic_load_acquire(&w->target);   /* a hint: re-checked below */
    if (!t)
        return NULL;
    wr_shard *s = shard_of(t);
    tally_object *r = NULL;
    shard_lock(s);
    if (tally_atomic_load_relaxed(&w->target) == t && _tally_rc_try_incref(t))
        r = t;
    shard_unlock(s);
    return r;
}

/* ---- hooks for object.c and the collector ----------------------------------------------- */
/* Lock held: clear every weakref in e's list.  With `pending`, weakrefs that have a callback
 * and can be kept alive (try_incref succeeds) are appended to *pending in list order
 * (newest first) with that reference and their callback left in place; every other
 * weakref's callback is dropped. */
static void clear_list_locked(wr_entry *e, tally_weakref **pending)
{
    tally_weakref **tail = pending;
    tally_weakref *w = e->head;
    e->head = NULL;
    e->basic = NULL;
    while (w) {
        tally_weakref *next = w->next;
        w->prev = w->next = NULL;
        if (pending && tally_atomic_load_relaxed(&w->cb) && _tally_rc_try_incref(&w->ob_base)) {
            w->pending_next = NULL;
            *tail = w;
            tail = &w->pending_next;
        } else {
            tally_atomic_store_relaxed(&w->cb, NULL);
        }
        /* Last: a dying w (count 0, try_incref refused it) reads target with acquire in its
         * destroy and, finding NULL, frees w without taking this lock; this release orders
         * every access above before that free.  (Cleared first, w could be freed while we
         * still read its count: a TSan report in ContainersMT.WeakrefGetsRaceReferentDeaths.)
         * A kept w is ours: touching it after this store is safe. */
        tally_atomic_store_release(&w->target, NULL);
        w = next;
    }
}

void _tally_clear_weakrefs(tally_object *o, bool run_callbacks)
{
    pthread_once(&shards_once, shards_init_once);
    wr_shard *s = shard_of(o);
    tally_weakref *pending = NULL;
    shard_lock(s);
    wr_entry *e = entry_find(s, o);
    if (e) {
        entry_remove(s, e);
        clear_list_locked(e, run_callbacks ? &pending : NULL);
    }
    shard_unlock(s);
    mi_free(e);
    /* Every weakref to o is cleared; now the callbacks, newest first, no lock held. */
    while (pending) {
        tally_weakref *w = pending;
        pending = w->pending_next;
        w->pending_next = NULL;
        _tally_weakref_call(&w->ob_base);
        tally_decref(&w->ob_base);
    }
}

bool _tally_has_weakrefs(tally_object *o)
{
    if (!(tally_atomic_load_relaxed(&o->ob_gc_bits) & TALLY_GC_BIT_WEAKREFS))
        return false;
    wr_shard *s = shard_of(o);
    shard_lock(s);
    bool r = entry_find(s, o) != NULL;
    shard_unlock(s);
    return r;
}

void _tally_weakrefs_clear_for_gc(tally_object *o, _tally_wr_chain *pending)
{
    if (!(tally_atomic_load_relaxed(&o->ob_gc_bits) & TALLY_GC_BIT_WEAKREFS))
        return;
    wr_shard *s = shard_of(o);
    shard_lock(s);
    wr_entry *e = entry_find(s, o);
    if (e) {
        entry_remove(s, e);
        /* A weakref that is itself garbage never calls back (its callback is dropped); the
         * others keep theirs for _tally_weakrefs_call_pending.  A weakref leaves its referent's
         * list here, so it is on no other pending_next chain (only list members are chained). */
        tally_weakref *w = e->head;
        e->head = NULL;
        e->basic = NULL;
        while (w) {
            tally_weakref *next = w->next;
            w->prev = w->next = NULL;
            tally_atomic_store_release(&w->target, NULL);
            bool trash = (tally_atomic_load_relaxed(&w->ob_base.ob_gc_bits) & TALLY_GC_BIT_UNREACHABLE) != 0;
            if (tally_atomic_load_relaxed(&w->cb) && !trash && pending) {
                /* World stopped (or GIL held): w is reachable and nothing can drop it before
                 * the chain holds its reference. */
                tally_incref(&w->ob_base);
                w->pending_next = NULL;
                *(pending->tail ? pending->tail : &pending->head) = w;
                pending->tail = &w->pending_next;
            } else {
                tally_atomic_store_relaxed(&w->cb, NULL);
            }
            w = next;
        }
    }
    shard_unlock(s);
    mi_free(e);
}

size_t _tally_weakrefs_call_pending(_tally_wr_chain *pending)
{
    tally_weakref *head = pending->head;
    pending->head = NULL;
    pending->tail = NULL;
    if (!head)
        return 0;
    /* The chain is this thread's alone: no collection can start before this one ends, and a
     * chained weakref is in no referent's list, so user code in a callback cannot chain it. */
    for (tally_weakref *w = head; w; w = w->pending_next)
        _tally_weakref_call(&w->ob_base);
    /* Weakrefs that only the chain still holds die with it. */
    _tally_rc_flush();
    size_t died = 0;
    while (head) {
        tally_weakref *w = head;
        head = w->pending_next;
        w->pending_next = NULL;
        if (_tally_rc_get(&w->ob_base) == 1)
            died++;
        tally_decref(&w->ob_base);
    }
    return died;
}

void _tally_weakref_call(tally_object *wo)
{
    if (!_tally_is_weakref(wo))
        return;
    tally_weakref *w = (tally_weakref *)wo;
    /* Take the callback: it runs at most once even if two parties ask. */
    tally_weakref_callback cb = tally_atomic_exchange_acq_rel(&w->cb, (tally_weakref_callback)NULL);
    if (cb)
        cb(wo, w->arg);
}

void _tally_weakref_forget(tally_object *wo)
{
    if (!_tally_is_weakref(wo))
        return;
    tally_weakref *w = (tally_weakref *)wo;
    tally_object *t = tally_atomic_load_acquire(&w->target);
    if (t) {
        wr_shard *s = shard_of(t);
        wr_entry *dead = NULL;
        shard_lock(s);
        if (tally_atomic_load_relaxed(&w->target) == t) {   /* not cleared meanwhile by t's death */
            wr_entry *e = entry_find(s, t);
            list_unlink(e, w);
            tally_atomic_store_release(&w->target, NULL);
            if (!e->head) {
                entry_remove(s, e);
                dead = e;
            }
        }
        shard_unlock(s);
        mi_free(dead);
    }
    tally_atomic_store_relaxed(&w->cb, NULL);
}

/* ---- type slots ------------------------------------------------------------------------- */
static int weakref_traverse(tally_object *self, tally_visitproc visit, void *arg)
{
    (void)self;
    (void)visit;
    (void)arg;
    return 0;   /* the referent is not a strong reference; the callback is C code */
}

static int weakref_clear(tally_object *self)
{
    _tally_weakref_forget(self);
    return 0;
}

static void weakref_destroy(tally_object *self)
{
    _tally_weakref_forget(self);
}

/* ---- start-up / shutdown ---------------------------------------------------------------- */
void _tally_weakref_init(void)
{
    pthread_once(&shards_once, shards_init_once);
}

/* tally_fini: weakrefs that outlived the runtime (leaked) are cleared and the table emptied. */
void _tally_weakref_fini(void)
{
    for (int i = 0; i < WR_SHARDS; i++) {
        wr_shard *s = &shards[i];
        shard_lock(s);
        for (size_t b = 0; s->buckets && b < s->nbuckets; b++) {
            wr_entry *e = s->buckets[b];
            while (e) {
                wr_entry *next = e->chain;
                clear_list_locked(e, NULL);
                mi_free(e);
                e = next;
            }
        }
        mi_free(s->buckets);
        s->buckets = NULL;
        s->nbuckets = 0;
        s->count = 0;
        shard_unlock(s);
    }
}
