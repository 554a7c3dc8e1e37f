/* interp/obj_dict.c - the interpreter's dict.
 *
 * Owns: py_dict, an insertion-ordered hash table in CPython's compact layout (an index array
 * of entry numbers over a dense array of (hash, key, value) entries), with Python hashing and
 * equality for keys, deletion by tombstone and compaction on resize, a version number that
 * changes when the key set changes (the evaluation loop's global caches and the iterators'
 * size check read it), and its traverse/clear for the cycle collector.
 * Tally's built-in dict is not used: it compares only int and str keys by value and has no
 * iteration (docs/interpreter.md, "API gaps").
 *
 * Threads (free-threaded backends; on gil py_mutex is empty and the GIL serialises): every field
 * is read and written under d->mutex, except `used` and `version`, which are also read without
 * it (len(), iterators' size check) and so are stored and loaded atomically (relaxed: a reader
 * that wants the entries takes the mutex).  Lookups return borrowed values, valid until the
 * reader's next quiescent point: a value or key that leaves a dict that another thread has
 * touched (`shared`) is released by py_decref_delayed (interp/pysync.c), and a dict only its
 * creator has touched releases at once.  No decref, allocation of a Tally object or Python code
 * runs with the mutex held: key comparisons that may run Python code (__eq__ of instances,
 * containers) drop it, and the lookup starts again if the dict changed meanwhile (the version).
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
static void bump_version(py_dict *d) { tally_atomic_store_relaxed(&d->version, new_version()); }
static void set_used(py_dict *d, size_t n) { tally_atomic_store_relaxed(&d->used, n); }

/* mutex held: note a thread other than the creator */
static inline void touch(py_dict *d)
{
#if PY_FREE_THREADED
    if (PY_UNLIKELY(!d->shared) && d->owner != py_thread_serial) d->shared = true;
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
static void release_removed(py_dict *d, tally_object *o, bool shared)
{
    (void)d;
    if (shared) py_decref_delayed(o);
    else tally_decref(o);
}

size_t py_dict_size(tally_object *d) { return tally_atomic_load_relaxed(&((py_dict *)d)->used); }

static int dict_traverse(tally_object *self, tally_visitproc visit, void *arg)
{
    py_dict *d = (py_dict *)self;
    for (size_t i = 0; i < d->nentries; i++) {
        py_dentry *e = &d->entries[i];
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
    py_dentry *ents = d->entries;
    size_t n = d->nentries;
    int32_t *index = d->index;
    bool shared = d->shared;
    d->entries = NULL;
    d->index = NULL;
    d->nentries = d->entcap = 0;
    set_used(d, 0);
    d->mask = 0;
    bump_version(d);
    unlock(d);
    free(index);
    for (size_t i = 0; i < n; i++) {
        if (ents[i].key) {
            release_removed(d, ents[i].key, shared);
            release_removed(d, ents[i].value, shared);
        }
    }
    free(ents);
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

tally_object *py_set_new(void)
{
    tally_object *d = tally_new(&py_set_type);
    if (!d)
        return py_err_nomem();
    ((py_dict *)d)->owner = py_thread_serial;
    return d;
}

tally_object *py_dict_new(void)
{
    tally_object *d = tally_new(&py_dict_type);
    if (!d)
        return py_err_nomem();
    ((py_dict *)d)->owner = py_thread_serial;
    return d;
}

/* mutex held (malloc only; readers of the old arrays all hold the mutex, so they go at once) */
static int rebuild(py_dict *d, size_t want)
{
    size_t size = 8;
    while (size * 2 < want * 3) size *= 2;
    int32_t *index = malloc(sizeof(int32_t) * size);
    size_t entcap = size * 2 / 3 + 1;
    py_dentry *ents = malloc(sizeof(py_dentry) * entcap);
    if (!index || !ents || size > (size_t)INT32_MAX) {
        free(index);
        free(ents);
        return -1;   /* the caller sets MemoryError after unlocking */
    }
    memset(index, 0xFF, sizeof(int32_t) * size);   /* -1 */
    size_t k = 0;
    for (size_t i = 0; i < d->nentries; i++) {
        py_dentry *e = &d->entries[i];
        if (!e->key) continue;
        ents[k] = *e;
        size_t mask = size - 1;
        uint64_t perturb = (uint64_t)e->hash;
        size_t j = (size_t)e->hash & mask;
        while (index[j] != -1) {
            perturb >>= 5;
            j = (j * 5 + 1 + (size_t)perturb) & mask;
        }
        index[j] = (int32_t)k;
        k++;
    }
    free(d->index);
    free(d->entries);
    d->index = index;
    d->entries = ents;
    d->entcap = entcap;
    d->mask = size - 1;
    d->nentries = k;
    set_used(d, k);
    bump_version(d);
    return 0;
}

/* equality that runs no Python code and allocates nothing */
static bool simple_key(tally_object *k)
{
    const tally_type *t = TYPE(k);
    return t == &tally_str_type || t == &tally_int_type || t == &py_float_type || t == &py_bool_type ||
           k == py_None;
}

/* slot in index for key (found: *found true), or the slot to insert into; mutex held (it is
 * dropped and taken again around a comparison that may run Python code) */
static int64_t lookup_slot(py_dict *d, tally_object *key, int64_t hash, bool *found, bool *err)
{
    *found = false;
    if (!d->index)
        return -1;
    size_t mask = d->mask;
    uint64_t perturb = (uint64_t)hash;
    size_t j = (size_t)hash & mask;
    int64_t free_slot = -1;
    for (;;) {
        int32_t ix = d->index[j];
        if (ix == -1)
            return free_slot >= 0 ? free_slot : (int64_t)j;
        if (ix == -2) {
            if (free_slot < 0) free_slot = (int64_t)j;
        } else {
            py_dentry *e = &d->entries[ix];
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
                    tally_object *k = tally_newref(e->key);
                    unlock(d);
                    r = py_eq(k, key);
                    tally_decref(k);
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
        perturb >>= 5;
        j = (j * 5 + 1 + (size_t)perturb) & mask;
    }
}

tally_object *py_dict_lookup(tally_object *dobj, tally_object *key, bool *err)
{
    py_dict *d = (py_dict *)dobj;
    int64_t h = py_hash(key, err);
    if (*err) return NULL;
    bool found;
    lock(d);
    int64_t slot = lookup_slot(d, key, h, &found, err);
    tally_object *v = *err || !found ? NULL : d->entries[d->index[slot]].value;
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
    return found ? d->index[slot] : -1;
}

bool py_dict_next(tally_object *dobj, size_t *pos, tally_object **key, tally_object **value)
{
    py_dict *d = (py_dict *)dobj;
    bool ok = false;
    lock(d);
    size_t i = *pos;
    while (i < d->nentries && !d->entries[i].key) i++;
    if (i < d->nentries) {
        *key = d->entries[i].key;
        if (value) *value = d->entries[i].value;
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
again:
    slot = lookup_slot(d, key, h, &found, &err);
    if (err) {
        unlock(d);
        return -1;
    }
    if (found) {
        py_dentry *e = &d->entries[d->index[slot]];
        tally_object *old = e->value;
        bool shared = d->shared;
        e->value = tally_newref(value);
        unlock(d);
        release_removed(d, old, shared);
        return 0;
    }
    if (!d->index || d->nentries >= d->entcap) {
        if (rebuild(d, d->used + 1 > d->used * 2 ? d->used + 1 : d->used * 2) < 0) {
            unlock(d);
            py_err_nomem();
            return -1;
        }
        goto again;   /* the comparisons may have let another thread in: look again */
    }
    py_dentry *e = &d->entries[d->nentries];
    e->key = tally_newref(key);
    e->value = tally_newref(value);
    e->hash = h;
    d->index[slot] = (int32_t)d->nentries;
    d->nentries++;
    set_used(d, d->used + 1);
    bump_version(d);
    unlock(d);
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
    py_dentry *e = &d->entries[d->index[slot]];
    tally_object *k = e->key, *v = e->value;
    bool shared = d->shared;
    e->key = e->value = NULL;
    d->index[slot] = -2;
    set_used(d, d->used - 1);
    bump_version(d);
    unlock(d);
    release_removed(d, k, shared);
    release_removed(d, v, shared);
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
static int view_traverse(tally_object *self, tally_visitproc visit, void *arg)
{
    py_dictview *v = (py_dictview *)self;
    return v->dict ? visit(v->dict, arg) : 0;
}
static int view_clear(tally_object *self)
{
    py_dictview *v = (py_dictview *)self;
    tally_object *d = v->dict;
    v->dict = NULL;
    tally_xdecref(d);
    return 0;
}
static void view_destroy(tally_object *self) { view_clear(self); }
const tally_type py_dictview_type = {
    .name = "dict_view", .size = sizeof(py_dictview), .flags = TALLY_TYPE_GC,
    .traverse = view_traverse, .clear = view_clear, .destroy = view_destroy,
};
