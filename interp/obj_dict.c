/* interp/obj_dict.c - the interpreter's dict.
 *
 * Owns: py_dict, an insertion-ordered hash table in CPython's compact layout (an index array
 * of entry numbers over a dense array of (hash, key, value) entries), with Python hashing and
 * equality for keys, deletion by tombstone and compaction on resize, a version number that
 * changes when the key set changes (the evaluation loop's global caches and the iterators'
 * size check read it), and its traverse/clear for the cycle collector.
 * Tally's built-in dict is not used: it compares only int and str keys by value and has no
 * iteration (docs/interpreter.md, "API gaps").  Single-threaded for now (no per-object lock in
 * the public API).
 */
#include "interp.h"

#include <stdlib.h>
#include <string.h>

/* one counter for every dict, so that a version names one state of one dict (CPython's
 * ma_version_tag): a cache keyed by version alone cannot confuse two dicts */
uint64_t py_dict_version_tag;

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
    py_dentry *ents = d->entries;
    size_t n = d->nentries;
    free(d->index);
    d->entries = NULL;
    d->index = NULL;
    d->nentries = d->used = d->entcap = 0;
    d->mask = 0;
    d->version = ++py_dict_version_tag;
    for (size_t i = 0; i < n; i++) {
        if (ents[i].key) {
            tally_decref(ents[i].key);
            tally_decref(ents[i].value);
        }
    }
    free(ents);
}

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
    return d;
}

tally_object *py_dict_new(void)
{
    tally_object *d = tally_new(&py_dict_type);
    if (!d)
        return py_err_nomem();
    return d;
}

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
        py_err_nomem();
        return -1;
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
    d->used = k;
    d->version = ++py_dict_version_tag;
    return 0;
}

/* slot in index for key (found: *found true), or the slot to insert into */
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
                tally_object *k = tally_newref(e->key);
                uint64_t ver = d->version;
                int r = py_eq(k, key);
                tally_decref(k);
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
    int64_t slot = lookup_slot(d, key, h, &found, err);
    if (*err || !found) return NULL;
    return d->entries[d->index[slot]].value;
}

int64_t py_dict_find_str(tally_object *dobj, tally_object *key)
{
    bool err = false, found;
    py_dict *d = (py_dict *)dobj;
    int64_t h = py_hash(key, &err);
    int64_t slot = lookup_slot(d, key, h, &found, &err);
    if (err) {
        py_err_clear();
        return -1;
    }
    return found ? d->index[slot] : -1;
}

int py_dict_set(tally_object *dobj, tally_object *key, tally_object *value)
{
    py_dict *d = (py_dict *)dobj;
    bool err = false, found;
    int64_t h = py_hash(key, &err);
    if (err) return -1;
    int64_t slot = lookup_slot(d, key, h, &found, &err);
    if (err) return -1;
    if (found) {
        py_dentry *e = &d->entries[d->index[slot]];
        tally_object *old = e->value;
        e->value = tally_newref(value);
        tally_decref(old);
        return 0;
    }
    if (!d->index || d->nentries >= d->entcap) {
        if (rebuild(d, d->used + 1 > d->used * 2 ? d->used + 1 : d->used * 2) < 0)
            return -1;
        slot = lookup_slot(d, key, h, &found, &err);
        if (err) return -1;
    }
    py_dentry *e = &d->entries[d->nentries];
    e->key = tally_newref(key);
    e->value = tally_newref(value);
    e->hash = h;
    d->index[slot] = (int32_t)d->nentries;
    d->nentries++;
    d->used++;
    d->version = ++py_dict_version_tag;
    return 0;
}

int py_dict_del(tally_object *dobj, tally_object *key)
{
    py_dict *d = (py_dict *)dobj;
    bool err = false, found;
    int64_t h = py_hash(key, &err);
    if (err) return -1;
    int64_t slot = lookup_slot(d, key, h, &found, &err);
    if (err) return -1;
    if (!found) return 1;
    py_dentry *e = &d->entries[d->index[slot]];
    tally_object *k = e->key, *v = e->value;
    e->key = e->value = NULL;
    d->index[slot] = -2;
    d->used--;
    d->version = ++py_dict_version_tag;
    tally_decref(k);
    tally_decref(v);
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
