/* runtime/dict.c - dicts.
 *
 * Owns: tally_dict_type (hash maps of strong references; GC containers), dict-key identity and
 * the dict thread-safety protocol.
 *
 * Keys: ints compare by value, strs by value (cached hash, then bytes), everything else by
 * identity (the object's address).  An int never equals a str.  Setting an existing key keeps
 * the key object already stored and replaces the value (CPython's rule).
 *
 * Table: open addressing with linear probing over a power-of-two array of {key, value} slots.
 * A slot is EMPTY (key NULL), a TOMBSTONE (deleted) or live.  Within one table a slot never
 * goes back to EMPTY, and at least a third of the slots are EMPTY or TOMBSTONE (resize when live
 * + tombstones would pass two thirds; the new table is at most a third full and has no
 * tombstones), so every probe sequence reaches an EMPTY slot and ends.  Hashes are not stored:
 * they come from the key objects (int: mixed value, str: cached, others: mixed address), which
 * are immutable.
 *
 * gil / racy: plain accesses; the GIL (or nothing) orders them.
 *
 * Free-threaded backends (after CPython 3.13t's _Py_dict_lookup_threadsafe):
 *  - Writers hold the per-object lock, run no user code under it (decrefs happen after unlock;
 *    a new table is allocated with the lock dropped, then the operation is retried) and publish
 *    with release stores: insertion stores the value, then the key; replacement stores the new
 *    value; deletion stores TOMBSTONE into the key, then NULL into the value; a resize fills
 *    the new table completely before the release store of the table pointer.
 *  - tally_dict_get takes no lock: acquire-load the table, then along the probe sequence
 *    acquire-load each key (pairing with the key's release store, so the value stored before
 *    it is visible), compare, acquire-load the value, _tally_rc_try_incref it, and re-load key
 *    and value: if either changed (a concurrent replace/delete) drop the reference and redo the
 *    lookup under the lock, as on any other failure (value NULL, value dying, no conditional
 *    reference).  Reaching an EMPTY slot means the key was absent from that table at that
 *    moment (slots never revert to EMPTY, and a replaced table is frozen).
 *  - Memory safety: the reader holds a reference to the dict.  Keys and values are marked
 *    SHARED when stored, so object.c frees them through QSBR, and str keys free their
 *    out-of-line bytes through QSBR too (runtime/str.c): comparing a key that was just deleted
 *    and freed still reads valid memory.  A table replaced by a resize or detached by a clear
 *    is freed through QSBR whenever the dict is SHARED.  SHARED on the dict follows the list
 *    rule (runtime/list.c): set under the lock by the first read or write from a thread other
 *    than the creator, and read under the lock by the writer that frees a table.
 */
#include "runtime/internal.h"

#include <mimalloc.h>
#include <string.h>

#if defined(TALLY_FREE_THREADED)
#  define LD_ACQ(p) tally_atomic_load_acquire(p)
#  define LD_RLX(p) tally_atomic_load_relaxed(p)
#  define ST_REL(p, v) tally_atomic_store_release(p, v)
#  define ST_RLX(p, v) tally_atomic_store_relaxed(p, v)
#else
#  define LD_ACQ(p) (*(p))
#  define LD_RLX(p) (*(p))
#  define ST_REL(p, v) (*(p) = (v))
#  define ST_RLX(p, v) (*(p) = (v))
#endif

#define DICT_MIN_CAP 8

/* A distinct address that is never an object: the key of a deleted slot. */
static const char tombstone_mark;
#define TOMBSTONE ((tally_object *)(uintptr_t)&tombstone_mark)

typedef struct dict_slot {
    tally_object *key;     /* NULL (empty), TOMBSTONE, or a key (strong reference) */
    tally_object *value;   /* strong reference while key is live; NULL otherwise */
} dict_slot;

typedef struct dict_table {
    size_t mask;           /* capacity - 1; immutable */
    dict_slot slots[];
} dict_table;

typedef struct tally_dict {
    TALLY_OBJECT_HEAD;
    uintptr_t owner;       /* _tally_thread_id() of the creating thread */
    size_t len;            /* live entries; written under the lock, read relaxed */
    size_t used;           /* live + tombstones in table; under the lock */
    dict_table *table;     /* NULL until the first insertion; release/acquire */
} tally_dict;

static int dict_traverse(tally_object *self, tally_visitproc visit, void *arg);
static int dict_clear_slot(tally_object *self);
static void dict_destroy(tally_object *self);

const tally_type tally_dict_type = {
    .name = "dict",
    .size = sizeof(tally_dict),
    .flags = TALLY_TYPE_GC,
    .traverse = dict_traverse,
    .clear = dict_clear_slot,
    .destroy = dict_destroy,
};

static inline bool is_dict(tally_object *o)
{
    return o && o->ob_type == &tally_dict_type;
}

#define CHECK_DICT(o, what, fail)                                          \
    do {                                                                   \
        if (tally_unlikely(!is_dict(o))) {                                 \
            _tally_misuse((o), "%s: not a dict", (what));                  \
            return fail;                                                   \
        }                                                                  \
    } while (0)


/* ---- keys ------------------------------------------------------------------------------- */
static inline uint64_t key_hash(tally_object *k)
{
    const tally_type *t = k->ob_type;
    if (t == &tally_str_type)
        return _tally_str_hash(k);
    if (t == &tally_int_type)
        return _tally_int_hash(k);
    return _tally_ptr_hash(k);
}

/* a is a stored key (possibly already removed by another thread: its memory is still valid,
 * see the header), b the caller's key. */
static inline bool key_equal(tally_object *a, tally_object *b)
{
    if (a == b)
        return true;
    const tally_type *t = a->ob_type;
    if (t != b->ob_type)
        return false;
    if (t == &tally_str_type)
        return _tally_str_equal(a, b);
    if (t == &tally_int_type)
        return _tally_int_equal(a, b);
    return false;
}

/* ---- sharing (as runtime/list.c) -------------------------------------------------------- */
static inline bool dict_is_shared(tally_dict *d)
{
#if defined(TALLY_FREE_THREADED)
    return (tally_atomic_load_relaxed(&d->ob_base.ob_gc_bits) & TALLY_GC_BIT_SHARED) != 0;
#else
    (void)d;
    return false;
#endif
}

/* Lock held: the dict has just become shared (deferred: mark its keys and values). */
static inline void dict_mark_entries_locked(tally_dict *d)
{
#if defined(TALLY_FREE_THREADED) && TALLY_ITEMS_MARKED_LAZILY
    dict_table *t = d->table;
    for (size_t i = 0; t && i <= t->mask; i++) {
        tally_object *k = t->slots[i].key;
        if (k && k != TOMBSTONE) {
            _tally_object_mark_shared(k);
            if (t->slots[i].value)
                _tally_object_mark_shared(t->slots[i].value);
        }
    }
#else
    (void)d;
#endif
}

static inline void dict_ensure_shared_locked(tally_dict *d)
{
#if defined(TALLY_FREE_THREADED)
    if (d->owner != _tally_thread_id() && !dict_is_shared(d)) {
        dict_mark_entries_locked(d);
        _tally_object_mark_shared(&d->ob_base);
    }
#else
    (void)d;
#endif
}

#if defined(TALLY_FREE_THREADED)
static inline void dict_ensure_shared_on_read(tally_dict *d)
{
    if (tally_likely(dict_is_shared(d)) || d->owner == _tally_thread_id())
        return;
    _tally_object_lock(&d->ob_base);
    if (!dict_is_shared(d))
        dict_mark_entries_locked(d);
    _tally_object_mark_shared(&d->ob_base);
    _tally_object_unlock(&d->ob_base);
}
#endif

/* Lock held, after dict_ensure_shared_locked. */
static inline void entry_mark_shared_locked(tally_dict *d, tally_object *k, tally_object *v)
{
#if defined(TALLY_FREE_THREADED)
    if (!TALLY_ITEMS_MARKED_LAZILY || dict_is_shared(d)) {
        _tally_object_mark_shared(k);
        _tally_object_mark_shared(v);
    }
#else
    (void)d;
    (void)k;
    (void)v;
#endif
}

/* ---- tables ----------------------------------------------------------------------------- */
static dict_table *table_alloc(size_t cap)
{
    if (cap > (SIZE_MAX - sizeof(dict_table)) / sizeof(dict_slot))
        return NULL;
    dict_table *t = mi_zalloc(sizeof(dict_table) + cap * sizeof(dict_slot));
    if (t)
        t->mask = cap - 1;
    return t;
}

static inline size_t table_cap(const dict_table *t)
{
    return t ? t->mask + 1 : 0;
}

/* Smallest power of two >= DICT_MIN_CAP that holds n entries at most a third full. */
static size_t cap_for(size_t n)
{
    size_t c = DICT_MIN_CAP;
    while (c / 3 < n && c < (SIZE_MAX >> 2))
        c <<= 1;
    return c;
}

/* May `used` slots (live + tombstones) sit in a table of capacity cap? (<= two thirds) */
static inline bool fits(size_t used, size_t cap)
{
    return used * 3 <= cap * 2;
}

static void table_release(dict_table *t, bool delayed)
{
    if (!t)
        return;
    if (delayed)
        _tally_free_delayed(t);
    else
        mi_free(t);
}

/* Writer-side probe (lock held, or the table not yet published).  Returns the key's slot and
 * sets *found, or the slot an insertion should use (the first tombstone on the way, else the
 * empty slot that ended the probe). */
static size_t table_find(const dict_table *t, tally_object *k, uint64_t h, bool *found)
{
    size_t mask = t->mask, i = h & mask, tomb = SIZE_MAX;
    for (;;) {
        tally_object *key = t->slots[i].key;
        if (!key) {
            *found = false;
            return tomb != SIZE_MAX ? tomb : i;
        }
        if (key == TOMBSTONE) {
            if (tomb == SIZE_MAX)
                tomb = i;
        } else if (key_equal(key, k)) {
            *found = true;
            return i;
        }
        i = (i + 1) & mask;
    }
}

/* Copy the live entries of src into the empty, unpublished dst (plain stores). */
static void table_rehash(dict_table *dst, const dict_table *src)
{
    if (!src)
        return;
    for (size_t j = 0; j <= src->mask; j++) {
        tally_object *key = src->slots[j].key;
        if (!key || key == TOMBSTONE)
            continue;
        size_t i = key_hash(key) & dst->mask;
        while (dst->slots[i].key)
            i = (i + 1) & dst->mask;
        dst->slots[i].key = key;
        dst->slots[i].value = src->slots[j].value;
    }
}

/* ---- public API ------------------------------------------------------------------------- */
tally_object *tally_dict_new(void)
{
    tally_dict *d = (tally_dict *)tally_new(&tally_dict_type);
    if (!d)
        return NULL;
    d->owner = _tally_thread_id();
    return &d->ob_base;
}

size_t tally_dict_len(tally_object *dobj)
{
    CHECK_DICT(dobj, "tally_dict_len", 0);
    return LD_RLX(&((tally_dict *)dobj)->len);
}

int tally_dict_set(tally_object *dobj, tally_object *k, tally_object *v)
{
    CHECK_DICT(dobj, "tally_dict_set", -1);
    TALLY_CHECK_ATTACHED("tally_dict_set", -1);
    if (!k || !v) {
        _tally_misuse(dobj, "tally_dict_set: NULL %s", k ? "value" : "key");
        return -1;
    }
    tally_dict *d = (tally_dict *)dobj;
    uint64_t h = key_hash(k);
    tally_incref(k);      /* the dict's references (k's is dropped again if the key exists) */
    tally_incref(v);
    dict_table *spare = NULL;   /* allocated with the lock dropped */
    for (;;) {
        _tally_object_lock(dobj);
        dict_ensure_shared_locked(d);
        entry_mark_shared_locked(d, k, v);
        dict_table *t = d->table;
        bool found = false;
        size_t i = t ? table_find(t, k, h, &found) : 0;
        if (found) {
            tally_object *old = t->slots[i].value;
            ST_REL(&t->slots[i].value, v);
            _tally_object_unlock(dobj);
            mi_free(spare);
            tally_decref(k);      /* the stored key object stays */
            tally_decref(old);
            return 0;
        }
        bool reuse = t && t->slots[i].key == TOMBSTONE;
        if (t && (reuse || fits(d->used + 1, table_cap(t)))) {
            ST_REL(&t->slots[i].value, v);    /* value first ... */
            ST_REL(&t->slots[i].key, k);      /* ... then the key that exposes it */
            if (!reuse)
                d->used++;
            ST_RLX(&d->len, d->len + 1);
            _tally_object_unlock(dobj);
            mi_free(spare);
            return 0;
        }
        /* Grow (or rebuild without tombstones). */
        size_t want = cap_for(d->len + 1);
        if (spare && table_cap(spare) >= want) {
            table_rehash(spare, t);
            size_t j = h & spare->mask;
            while (spare->slots[j].key)
                j = (j + 1) & spare->mask;
            spare->slots[j].key = k;
            spare->slots[j].value = v;
            ST_REL(&d->table, spare);         /* a complete table before the pointer to it */
            d->used = d->len + 1;
            ST_RLX(&d->len, d->len + 1);
            bool delayed = dict_is_shared(d);
            _tally_object_unlock(dobj);
            table_release(t, delayed);
            return 0;
        }
        size_t n = d->len;
        _tally_object_unlock(dobj);
        mi_free(spare);
        spare = table_alloc(want);
        if (!spare) {
            tally_decref(k);
            tally_decref(v);
            _tally_set_error("tally_dict_set: out of memory growing a dict of %zu entries", n);
            return -1;
        }
    }
}

static tally_object *dict_get_locked(tally_dict *d, tally_object *k, uint64_t h)
{
    tally_object *v = NULL;
    _tally_object_lock(&d->ob_base);
    dict_table *t = d->table;
    if (t) {
        bool found;
        size_t i = table_find(t, k, h, &found);
        if (found) {
            v = t->slots[i].value;
            tally_incref(v);      /* an increment under the lock runs no user code */
        }
    }
    _tally_object_unlock(&d->ob_base);
    return v;
}

tally_object *tally_dict_get(tally_object *dobj, tally_object *k)
{
    CHECK_DICT(dobj, "tally_dict_get", NULL);
    TALLY_CHECK_ATTACHED("tally_dict_get", NULL);
    if (!k) {
        _tally_misuse(dobj, "tally_dict_get: NULL key");
        return NULL;
    }
    tally_dict *d = (tally_dict *)dobj;
    uint64_t h = key_hash(k);
#if defined(TALLY_FREE_THREADED)
    dict_ensure_shared_on_read(d);
    dict_table *t = LD_ACQ(&d->table);      /* pairs with ST_REL(&d->table) */
    if (!t)
        return NULL;
    size_t mask = t->mask, i = h & mask;
    for (size_t probes = 0; probes <= mask; probes++, i = (i + 1) & mask) {
        dict_slot *s = &t->slots[i];
        tally_object *key = LD_ACQ(&s->key);    /* pairs with ST_REL(&s->key) */
        if (!key)
            return NULL;                        /* absent from this table */
        if (key == TOMBSTONE || !key_equal(key, k))
            continue;
        tally_object *v = LD_ACQ(&s->value);
        if (v && _tally_rc_try_incref(v)) {
            /* Same key and value after our reference was taken: the entry was in the dict
             * at that moment and the reference is ours. */
            if (tally_likely(LD_ACQ(&s->key) == key && LD_ACQ(&s->value) == v))
                return v;
            tally_decref(v);
        }
        break;                                  /* raced with a writer: take the lock */
    }
#endif
    return dict_get_locked(d, k, h);
}

int tally_dict_del(tally_object *dobj, tally_object *k)
{
    CHECK_DICT(dobj, "tally_dict_del", -1);
    TALLY_CHECK_ATTACHED("tally_dict_del", -1);
    if (!k) {
        _tally_misuse(dobj, "tally_dict_del: NULL key");
        return -1;
    }
    tally_dict *d = (tally_dict *)dobj;
    uint64_t h = key_hash(k);
    _tally_object_lock(dobj);
    dict_ensure_shared_locked(d);
    dict_table *t = d->table;
    bool found = false;
    size_t i = t ? table_find(t, k, h, &found) : 0;
    if (!found) {
        _tally_object_unlock(dobj);
        _tally_set_error("tally_dict_del: key not found");
        return -1;
    }
    tally_object *key = t->slots[i].key, *v = t->slots[i].value;
    ST_REL(&t->slots[i].key, TOMBSTONE);   /* key first: a reader that matched it re-checks */
    ST_REL(&t->slots[i].value, NULL);
    ST_RLX(&d->len, d->len - 1);
    _tally_object_unlock(dobj);
    tally_decref(key);
    tally_decref(v);
    return 0;
}

/* Detach the table under the lock, release the entries outside it. */
static void dict_clear_impl(tally_dict *d)
{
    _tally_object_lock(&d->ob_base);
    dict_ensure_shared_locked(d);
    dict_table *t = d->table;
    ST_REL(&d->table, NULL);
    ST_RLX(&d->len, 0);
    d->used = 0;
    bool delayed = dict_is_shared(d);
    _tally_object_unlock(&d->ob_base);
    if (!t)
        return;
    tally_thread_state *ts = _tally_tstate();
    for (size_t j = 0; j <= t->mask; j++) {
        if ((j % TALLY_POLL_EVERY) == TALLY_POLL_EVERY - 1)
            _tally_poll_stop(ts);   /* `t` is private to this thread now */
        tally_object *key = t->slots[j].key;
        if (!key || key == TOMBSTONE)
            continue;
        tally_decref(key);
        tally_decref(t->slots[j].value);
    }
    table_release(t, delayed);
}

/* ---- type slots ------------------------------------------------------------------------- */
/* World stopped (or GIL held): no writer is inside its critical section. */
static int dict_traverse(tally_object *self, tally_visitproc visit, void *arg)
{
    dict_table *t = ((tally_dict *)self)->table;
    if (!t)
        return 0;
    for (size_t j = 0; j <= t->mask; j++) {
        tally_object *key = t->slots[j].key;
        if (!key || key == TOMBSTONE)
            continue;
        int r = visit(key, arg);
        if (!r)
            r = visit(t->slots[j].value, arg);
        if (r)
            return r;
    }
    return 0;
}

static int dict_clear_slot(tally_object *self)
{
    dict_clear_impl((tally_dict *)self);
    return 0;
}

static void dict_destroy(tally_object *self)
{
    dict_clear_impl((tally_dict *)self);
}
