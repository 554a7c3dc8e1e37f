/* interp/obj_dict.c - the interpreter's dict.
 *
 * Owns: py_dict, an insertion-ordered hash table in CPython's compact layout (an index array
 * of entry numbers over a dense array of (hash, key, value) entries, both in one "keys" block),
 * with Python hashing and equality for keys, deletion by tombstone and compaction on resize, a
 * version number that changes when the key set changes (the evaluation loop's global caches,
 * the iterators' size check and the lock-free readers' validation read it), and its
 * traverse/clear for the cycle collector.  Tally's built-in dict is not used: it compares only
 * int and str keys by value and has no iteration (docs/interpreter.md, "API gaps").
 *
 * Threads (free-threaded backends; on gil py_mutex is empty and the GIL serialises).
 * Writers hold d->mutex.  Readers of simple keys (str, int, float, bool, None: equality runs no
 * code) read without it, in the spirit of CPython 3.13t, when they are the dict's creator or the
 * dict is `shared` (an acquire load, pairing with the release store that set it under the
 * mutex: so every write made before the marking is visible); other readers take the mutex,
 * which marks the dict shared first.
 * Memory-ordering contract:
 *  - the keys block is replaced as a whole (resize, clear): the writer bumps `version` (release)
 *    BEFORE it publishes the new block (release), and frees the old one after a grace period
 *    (py_free_delayed) when the dict is shared;
 *  - a published block changes in place only by release stores of index slots and entry fields
 *    (an entry is written before the index slot that names it; deletion clears the fields);
 *  - a lock-free reader loads `version` (acquire), the block (acquire), probes with acquire
 *    loads, and loads `version` again: if it is unchanged the block was the current one, else
 *    it retries (a block it read after a replacement has made the second load see the bump);
 *  - a value or key that leaves a shared dict is released by py_decref_delayed, so a borrowed
 *    result stays valid until the reader's next quiescent point; a dict only its creator has
 *    touched releases at once (no other thread can hold anything from it).
 * Invariant: no decref, allocation of a Tally object or Python code runs with the mutex held:
 * key comparisons that may run Python code (__eq__ of instances, tuples) drop it, and the lookup
 * starts again if the dict changed meanwhile (the version).
 */
#include "interp.h"

#include <stdlib.h>
#include <string.h>

/* one counter for every dict, so that a version names one state of one dict (CPython's
 * ma_version_tag): a cache keyed by version alone cannot confuse two dicts */
uint64_t py_dict_version_tag;

/* versions are handed out to each thread in blocks, so that inserting does not make every
 * thread write one shared counter */
static _Thread_local uint64_t ver_next, ver_end;
static uint64_t new_version(void)
{
    if (ver_next == ver_end) {
        ver_next = tally_atomic_fetch_add_relaxed(&py_dict_version_tag, 1024) + 1;
        ver_end = ver_next + 1024;
    }
    return ver_next++;
}
static void bump_version(py_dict *d) { tally_atomic_store_release(&d->version, new_version()); }
static void set_used(py_dict *d, size_t n) { tally_atomic_store_relaxed(&d->used, n); }

/* mutex held: note a thread other than the creator */
static inline void touch(py_dict *d)
{
#if PY_FREE_THREADED
    if (PY_UNLIKELY(!d->shared) && d->owner != py_thread_serial) tally_atomic_store_release(&d->shared, true);
#else
    (void)d;
#endif
}
static inline void lock(py_dict *d)
{
    py_mutex_lock(&d->mutex);
    touch(d);
}
static inline void unlock(py_dict *d) { py_mutex_unlock(&d->mutex); }
/* release what left the dict (after unlock) */
static void release_removed(tally_object *o, bool shared)
{
    if (shared) py_decref_delayed(o);
    else tally_decref(o);
}
/* after unlocking: a replaced block and those retired before it */
static void free_keys(py_dkeys *k, bool shared)
{
    while (k) {
        py_dkeys *next = k->retired;
        if (shared) py_free_delayed(k);
        else free(k);
        k = next;
    }
}

void py_dict_mark_shared(tally_object *d) { tally_atomic_store_release(&((py_dict *)d)->shared, true); }

size_t py_dict_size(tally_object *d) { return tally_atomic_load_relaxed(&((py_dict *)d)->used); }

/* the world is stopped (free-threaded backends) or the GIL held: no writer runs */
static int dict_traverse(tally_object *self, tally_visitproc visit, void *arg)
{
    py_dkeys *k = ((py_dict *)self)->keys;
    for (size_t i = 0; k && i < k->nentries; i++) {
        py_dentry *e = &k->entries[i];
        if (e->key) {
            int r = visit(e->key, arg);
            if (r) return r;
            r = visit(e->value, arg);
            if (r) return r;
        }
    }
    return 0;
}

static void dict_release(py_dict *d)
{
    lock(d);
    py_dkeys *k = d->keys;
    bool shared = d->shared;
    set_used(d, 0);
    bump_version(d);
    tally_atomic_store_release(&d->keys, (py_dkeys *)NULL);
    unlock(d);
    if (!k) return;
    for (size_t i = 0; i < k->nentries; i++) {
        if (k->entries[i].key) {
            release_removed(k->entries[i].key, shared);
            release_removed(k->entries[i].value, shared);
        }
    }
    free_keys(k, shared);
}

void py_dict_clear(tally_object *d) { dict_release((py_dict *)d); }

static int dict_clear(tally_object *self)
{
    dict_release((py_dict *)self);
    return 0;
}

static void dict_destroy(tally_object *self) { dict_release((py_dict *)self); }

const tally_type py_dict_type = {
    .name = "dict", .size = sizeof(py_dict), .flags = TALLY_TYPE_GC,
    .traverse = dict_traverse, .clear = dict_clear, .destroy = dict_destroy,
};

const tally_type py_set_type = {
    .name = "set", .size = sizeof(py_dict), .flags = TALLY_TYPE_GC,
    .traverse = dict_traverse, .clear = dict_clear, .destroy = dict_destroy,
};

static tally_object *dict_alloc(const tally_type *t)
{
    tally_object *d = tally_new(t);
    if (!d)
        return py_err_nomem();
    ((py_dict *)d)->owner = py_thread_serial;
    return d;
}
tally_object *py_set_new(void) { return dict_alloc(&py_set_type); }
tally_object *py_dict_new(void) { return dict_alloc(&py_dict_type); }

static inline size_t probe_next(size_t j, uint64_t *perturb, size_t mask)
{
    *perturb >>= 5;
    return (j * 5 + 1 + (size_t)*perturb) & mask;
}

/* Mutex held.  Build a block for `want` live entries from the current one and publish it; the
 * old block is returned through *old (freed by the caller after unlocking).  -1: no memory. */
static int rebuild(py_dict *d, size_t want, py_dkeys **old)
{
    size_t size = 8;
    while (size * 2 < want * 3) size *= 2;
    size_t entcap = size * 2 / 3 + 1;
    if (size > (size_t)INT32_MAX) return -1;
    size_t ioff = (sizeof(py_dkeys) + sizeof(int32_t) * size + 15) & ~(size_t)15;
    py_dkeys *nk = malloc(ioff + sizeof(py_dentry) * entcap);
    if (!nk) return -1;   /* the caller sets MemoryError after unlocking */
    nk->mask = size - 1;
    nk->entcap = entcap;
    nk->retired = NULL;
    nk->entries = (py_dentry *)((char *)nk + ioff);
    memset(nk->index, 0xFF, sizeof(int32_t) * size);   /* -1 */
    size_t n = 0;
    py_dkeys *ok = d->keys;
    for (size_t i = 0; ok && i < ok->nentries; i++) {
        py_dentry *e = &ok->entries[i];
        if (!e->key) continue;
        nk->entries[n] = *e;
        uint64_t perturb = (uint64_t)e->hash;
        size_t j = (size_t)e->hash & nk->mask;
        while (nk->index[j] != -1) j = probe_next(j, &perturb, nk->mask);
        nk->index[j] = (int32_t)n;
        n++;
    }
    nk->nentries = n;
    set_used(d, n);
    bump_version(d);                               /* before the block: readers' validation */
    tally_atomic_store_release(&d->keys, nk);
    *old = ok;
    return 0;
}

/* equality that runs no Python code and allocates nothing */
static bool simple_key(tally_object *k)
{
    const tally_type *t = TYPE(k);
    return t == &tally_str_type || t == &tally_int_type || t == &py_float_type || t == &py_bool_type ||
           k == py_None;
}

/* slot in the index for key (found: *found true), or the slot to insert into; -1: no block.
 * Mutex held (dropped and taken again around a comparison that may run Python code). */
static int64_t lookup_slot(py_dict *d, tally_object *key, int64_t hash, bool *found, bool *err)
{
    *found = false;
    py_dkeys *k = d->keys;
    if (!k)
        return -1;
    size_t mask = k->mask;
    uint64_t perturb = (uint64_t)hash;
    size_t j = (size_t)hash & mask;
    int64_t free_slot = -1;
    for (;;) {
        int32_t ix = k->index[j];
        if (ix == -1)
            return free_slot >= 0 ? free_slot : (int64_t)j;
        if (ix == -2) {
            if (free_slot < 0) free_slot = (int64_t)j;
        } else {
            py_dentry *e = &k->entries[ix];
            if (e->key == key) {
                *found = true;
                return (int64_t)j;
            }
            if (e->hash == hash) {
                int r;
                uint64_t ver = d->version;
                if (simple_key(e->key) && simple_key(key)) {
                    r = py_eq(e->key, key);
                } else {
                    tally_object *kk = tally_newref(e->key);
                    unlock(d);
                    r = py_eq(kk, key);
                    tally_decref(kk);
                    lock(d);
                }
                if (r < 0) {
                    *err = true;
                    return -1;
                }
                if (ver != d->version) {   /* mutated by the comparison: start again */
                    return lookup_slot(d, key, hash, found, err);
                }
                if (r) {
                    *found = true;
                    return (int64_t)j;
                }
            }
        }
        j = probe_next(j, &perturb, mask);
    }
}

/* Lock-free lookup of a simple key (the contract above).  Returns true with the borrowed value
 * (NULL: absent) when it could decide, false when the caller must take the mutex. */
static bool lookup_lockfree(py_dict *d, tally_object *key, int64_t hash, tally_object **out)
{
#if PY_FREE_THREADED
    if (d->owner != py_thread_serial && !tally_atomic_load_acquire(&d->shared))
        return false;   /* the mutex path marks it shared first */
#endif
    for (int attempt = 0; attempt < 4; attempt++) {
        uint64_t ver = tally_atomic_load_acquire(&d->version);
        py_dkeys *k = tally_atomic_load_acquire(&d->keys);
        tally_object *v = NULL;
        bool decided = true;
        if (k) {
            size_t mask = k->mask;
            uint64_t perturb = (uint64_t)hash;
            size_t j = (size_t)hash & mask;
            for (;;) {
                int32_t ix = tally_atomic_load_acquire(&k->index[j]);
                if (ix == -1) break;
                if (ix >= 0) {
                    py_dentry *e = &k->entries[ix];
                    tally_object *ek = tally_atomic_load_acquire(&e->key);
                    if (ek == key) {
                        v = tally_atomic_load_acquire(&e->value);
                        break;
                    }
                    if (ek && tally_atomic_load_relaxed(&e->hash) == hash) {
                        if (!simple_key(ek)) {
                            decided = false;   /* its __eq__ may run code: under the mutex */
                            break;
                        }
                        if (py_eq(ek, key) == 1) {
                            v = tally_atomic_load_acquire(&e->value);
                            break;
                        }
                    }
                }
                j = probe_next(j, &perturb, mask);
            }
        }
        if (!decided) return false;
        if (tally_atomic_load_acquire(&d->version) == ver) {
            *out = v;
            return true;
        }
    }
    return false;
}

tally_object *py_dict_lookup(tally_object *dobj, tally_object *key, bool *err)
{
    py_dict *d = (py_dict *)dobj;
    int64_t h = py_hash(key, err);
    if (*err) return NULL;
    tally_object *v;
    if (simple_key(key) && lookup_lockfree(d, key, h, &v))
        return v;
    bool found;
    lock(d);
    int64_t slot = lookup_slot(d, key, h, &found, err);
    v = *err || !found ? NULL : d->keys->entries[d->keys->index[slot]].value;
    unlock(d);
    return v;
}

/* mutex held by the caller (the evaluation loop's global cache) */
int64_t py_dict_find_str(tally_object *dobj, tally_object *key)
{
    bool err = false, found;
    py_dict *d = (py_dict *)dobj;
    int64_t h = py_hash(key, &err);
    touch(d);
    int64_t slot = lookup_slot(d, key, h, &found, &err);
    if (err) {
        py_err_clear();
        return -1;
    }
    return found ? d->keys->index[slot] : -1;
}

tally_object *py_dict_value_at(tally_object *dobj, uint64_t ver, int64_t ix)
{
    py_dict *d = (py_dict *)dobj;
    py_dkeys *k = tally_atomic_load_acquire(&d->keys);
    if (!k || tally_atomic_load_acquire(&d->version) != ver)
        return NULL;
    /* ix named an entry of the block current at `ver`: k is that block, and it stays allocated
     * until this thread's next quiescent point (a value read here is as a lookup's) */
    return tally_atomic_load_acquire(&k->entries[ix].value);
}

bool py_dict_next(tally_object *dobj, size_t *pos, tally_object **key, tally_object **value)
{
    py_dict *d = (py_dict *)dobj;
    bool ok = false;
    lock(d);
    py_dkeys *k = d->keys;
    size_t i = *pos;
    while (k && i < k->nentries && !k->entries[i].key) i++;
    if (k && i < k->nentries) {
        *key = k->entries[i].key;
        if (value) *value = k->entries[i].value;
        *pos = i + 1;
        ok = true;
    }
    unlock(d);
    return ok;
}

int py_dict_set(tally_object *dobj, tally_object *key, tally_object *value)
{
    py_dict *d = (py_dict *)dobj;
    bool err = false, found;
    int64_t h = py_hash(key, &err);
    if (err) return -1;
    lock(d);
    int64_t slot;
    py_dkeys *old = NULL;
again:
    slot = lookup_slot(d, key, h, &found, &err);
    if (err) {
        unlock(d);
        return -1;
    }
    bool shared = d->shared;
    if (found) {
        py_dentry *e = &d->keys->entries[d->keys->index[slot]];
        tally_object *prev = e->value;
        tally_atomic_store_release(&e->value, tally_newref(value));
        unlock(d);
        release_removed(prev, shared);
        if (old) free_keys(old, shared);
        return 0;
    }
    if (!d->keys || d->keys->nentries >= d->keys->entcap) {
        py_dkeys *prev = NULL;
        if (rebuild(d, d->used + 1 > d->used * 2 ? d->used + 1 : d->used * 2, &prev) < 0) {
            unlock(d);
            if (old) free_keys(old, shared);
            py_err_nomem();
            return -1;
        }
        if (prev) {   /* no longer published: freed after unlocking (never under the mutex) */
            prev->retired = old;
            old = prev;
        }
        goto again;   /* the comparisons may have let another thread in: look again */
    }
    py_dkeys *k = d->keys;
    py_dentry *e = &k->entries[k->nentries];
    tally_atomic_store_relaxed(&e->hash, h);
    tally_atomic_store_relaxed(&e->value, tally_newref(value));
    tally_atomic_store_relaxed(&e->key, tally_newref(key));
    tally_atomic_store_release(&k->index[slot], (int32_t)k->nentries);   /* the entry first */
    k->nentries++;
    set_used(d, d->used + 1);
    bump_version(d);
    unlock(d);
    if (old) free_keys(old, shared);
    return 0;
}

int py_dict_del(tally_object *dobj, tally_object *key)
{
    py_dict *d = (py_dict *)dobj;
    bool err = false, found;
    int64_t h = py_hash(key, &err);
    if (err) return -1;
    lock(d);
    int64_t slot = lookup_slot(d, key, h, &found, &err);
    if (err || !found) {
        unlock(d);
        return err ? -1 : 1;
    }
    py_dkeys *ks = d->keys;
    py_dentry *e = &ks->entries[ks->index[slot]];
    tally_object *k = e->key, *v = e->value;
    bool shared = d->shared;
    tally_atomic_store_release(&ks->index[slot], (int32_t)-2);
    tally_atomic_store_release(&e->key, (tally_object *)NULL);
    tally_atomic_store_release(&e->value, (tally_object *)NULL);
    set_used(d, d->used - 1);
    bump_version(d);
    unlock(d);
    release_removed(k, shared);
    release_removed(v, shared);
    return 0;
}

tally_object *py_dict_getstr(tally_object *d, const char *key)
{
    tally_object *k = tally_str_new(key);
    if (!k) return NULL;
    bool err = false;
    tally_object *v = py_dict_lookup(d, k, &err);
    tally_decref(k);
    if (err) py_err_clear();
    return v;
}

int py_dict_setstr(tally_object *d, const char *key, tally_object *value)
{
    tally_object *k = tally_str_new(key);
    if (!k) {
        py_err_nomem();
        return -1;
    }
    int r = py_dict_set(d, k, value);
    tally_decref(k);
    return r;
}

/* ---- views ------------------------------------------------------------------------------- */
PY_ONE_REF_SLOTS(view, py_dictview, dict)
const tally_type py_dictview_type = {
    .name = "dict_view", .size = sizeof(py_dictview), .flags = TALLY_TYPE_GC,
    .traverse = view_traverse, .clear = view_clear, .destroy = view_destroy,
};
