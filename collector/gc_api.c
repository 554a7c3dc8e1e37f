/* collector/gc_api.c - the collector's public control, introspection and telemetry API.
 *
 * Owns: tally_gc_collect, enable/disable, thresholds, counts, stats, debug flags, gc.garbage,
 * the start/stop callbacks, the pause records (telemetry ring) and the incremental switch.
 * Scalars are relaxed atomics (each is one independent setting); stats and lists are read
 * under gc.lock; callbacks under cb_lock (copied out before they are called, so a callback may
 * add or remove callbacks); the pause ring under pause_lock.
 */
#include "collector/gc_internal.h"

#include <stdlib.h>
#include <string.h>

/* ---- collection ---------------------------------------------------------------------------- */
intptr_t tally_gc_collect(int generation)
{
    if (generation < 0 || generation > 2) {
        _tally_set_error("tally_gc_collect: generation %d is out of range (accepted: 0, 1, 2)", generation);
        return -1;
    }
    if (!_tally_tstate_require("tally_gc_collect"))
        return -1;
    /* CPython 3.14: with incremental collection on, collect(1) is one increment. */
    if (generation == 1 && tally_atomic_load_relaxed(&_tally_gc.incremental))
        return _tally_gc_collect_main(1, true);
    return _tally_gc_collect_main(generation, false);
}

void tally_gc_enable(void) { tally_atomic_store_relaxed(&_tally_gc.enabled, 1); }
void tally_gc_disable(void) { tally_atomic_store_relaxed(&_tally_gc.enabled, 0); }
bool tally_gc_is_enabled(void) { return tally_atomic_load_relaxed(&_tally_gc.enabled) != 0; }

void tally_gc_set_threshold(int t0, int t1, int t2)
{
    if (t0 < 0 || t1 < 0 || t2 < 0) {
        _tally_set_error("tally_gc_set_threshold: thresholds must be >= 0 (got %d, %d, %d)", t0, t1, t2);
        return;
    }
    tally_atomic_store_relaxed(&_tally_gc.threshold[0], t0);
    tally_atomic_store_relaxed(&_tally_gc.threshold[1], t1);
    tally_atomic_store_relaxed(&_tally_gc.threshold[2], t2);
}

void tally_gc_get_threshold(int out[3])
{
    for (int i = 0; i < 3; i++)
        out[i] = tally_atomic_load_relaxed(&_tally_gc.threshold[i]);
}

void tally_gc_get_count(int out[3])
{
    out[0] = _tally_gc_count_young();   /* count[0] plus every thread's unpublished part */
    for (int i = 1; i < 3; i++)
        out[i] = tally_atomic_load_relaxed(&_tally_gc.count[i]);
}

int tally_gc_get_stats(int generation, tally_gc_stats *out)
{
    if (generation < 0 || generation > 2 || !out) {
        _tally_set_error("tally_gc_get_stats: generation %d is out of range (accepted: 0, 1, 2)", generation);
        return -1;
    }
    gc_global_lock();
    *out = _tally_gc.stats[generation];
    gc_global_unlock();
    return 0;
}

void tally_gc_set_debug(unsigned flags) { tally_atomic_store_relaxed(&_tally_gc.debug, flags); }
unsigned tally_gc_get_debug(void) { return tally_atomic_load_relaxed(&_tally_gc.debug); }

/* ---- gc.garbage ----------------------------------------------------------------------------- */
tally_object *_tally_gc_garbage_list(void)
{
    tally_object *g = tally_atomic_load_acquire(&_tally_gc.garbage);
    if (g)
        return g;
    tally_object *l = tally_list_new();
    if (!l)
        return NULL;
    tally_object *expected = NULL;
    /* Release pairs with the acquire load above: a reader sees the initialised list. */
    if (!tally_atomic_cas_acq_rel(&_tally_gc.garbage, &expected, l)) {
        tally_decref(l);
        return expected;
    }
    return l;
}

tally_object *tally_gc_garbage(void)
{
    if (!_tally_tstate_require("tally_gc_garbage"))
        return NULL;
    return _tally_gc_garbage_list();
}

/* ---- callbacks ----------------------------------------------------------------------------- */
int tally_gc_callback_add(tally_gc_callback cb, void *arg)
{
    if (!cb) {
        _tally_set_error("tally_gc_callback_add: callback is NULL");
        return -1;
    }
    gc_state *gc = &_tally_gc;
    pthread_mutex_lock(&gc->cb_lock);
    if (gc->ncallbacks == gc->cbcap) {
        size_t cap = gc->cbcap ? gc->cbcap * 2 : 8;
        gc_callback_entry *n = realloc(gc->callbacks, cap * sizeof *n);
        if (!n) {
            pthread_mutex_unlock(&gc->cb_lock);
            _tally_set_error("tally_gc_callback_add: out of memory");
            return -1;
        }
        gc->callbacks = n;
        gc->cbcap = cap;
    }
    gc->callbacks[gc->ncallbacks++] = (gc_callback_entry){ cb, arg };
    pthread_mutex_unlock(&gc->cb_lock);
    return 0;
}

int tally_gc_callback_remove(tally_gc_callback cb, void *arg)
{
    gc_state *gc = &_tally_gc;
    pthread_mutex_lock(&gc->cb_lock);
    for (size_t i = 0; i < gc->ncallbacks; i++) {
        if (gc->callbacks[i].cb == cb && gc->callbacks[i].arg == arg) {
            memmove(&gc->callbacks[i], &gc->callbacks[i + 1], (gc->ncallbacks - i - 1) * sizeof gc->callbacks[0]);
            gc->ncallbacks--;
            pthread_mutex_unlock(&gc->cb_lock);
            return 0;
        }
    }
    pthread_mutex_unlock(&gc->cb_lock);
    _tally_set_error("tally_gc_callback_remove: callback not registered");
    return -1;
}

void _tally_gc_invoke_callbacks(int phase, int generation, intptr_t collected, intptr_t uncollectable)
{
    gc_state *gc = &_tally_gc;
    gc_callback_entry local[16];
    gc_callback_entry *copy = local;
    pthread_mutex_lock(&gc->cb_lock);
    size_t n = gc->ncallbacks;
    if (n == 0) {
        pthread_mutex_unlock(&gc->cb_lock);
        return;
    }
    if (n > 16)
        copy = malloc(n * sizeof *copy);
    if (copy)
        memcpy(copy, gc->callbacks, n * sizeof *copy);
    pthread_mutex_unlock(&gc->cb_lock);
    if (!copy)
        return;
    tally_gc_info info = { generation, collected, uncollectable };
    for (size_t i = 0; i < n; i++)
        copy[i].cb(phase, &info, copy[i].arg);
    if (copy != local)
        free(copy);
}

/* ---- telemetry ----------------------------------------------------------------------------- */
void _tally_gc_record_pause(const tally_gc_pause *p)
{
    gc_state *gc = &_tally_gc;
    pthread_mutex_lock(&gc->pause_lock);
    gc->pauses[gc->npauses % TALLY_GC_PAUSE_RING] = *p;
    gc->npauses++;
    pthread_mutex_unlock(&gc->pause_lock);
}

size_t tally_gc_get_pauses(tally_gc_pause *out, size_t n)
{
    gc_state *gc = &_tally_gc;
    pthread_mutex_lock(&gc->pause_lock);
    uint64_t total = gc->npauses;
    uint64_t have = total < TALLY_GC_PAUSE_RING ? total : TALLY_GC_PAUSE_RING;
    if (n > have)
        n = (size_t)have;
    for (size_t i = 0; i < n; i++)
        out[i] = gc->pauses[(total - n + i) % TALLY_GC_PAUSE_RING];
    pthread_mutex_unlock(&gc->pause_lock);
    return n;
}

uint64_t tally_gc_pause_count(void)
{
    pthread_mutex_lock(&_tally_gc.pause_lock);
    uint64_t n = _tally_gc.npauses;
    pthread_mutex_unlock(&_tally_gc.pause_lock);
    return n;
}

void tally_gc_reset_pauses(void)
{
    pthread_mutex_lock(&_tally_gc.pause_lock);
    _tally_gc.npauses = 0;
    pthread_mutex_unlock(&_tally_gc.pause_lock);
}

/* ---- incremental mode ------------------------------------------------------------------------ */
void tally_gc_set_incremental(bool on, size_t increment_objects)
{
    if (increment_objects > 0)
        tally_atomic_store_relaxed(&_tally_gc.increment_size,
                                   (unsigned)(increment_objects > 100000000u ? 100000000u : increment_objects));
    /* The old generation's halves are reconciled at the start of the next collection. */
    tally_atomic_store_relaxed(&_tally_gc.incremental, on ? 1 : 0);
}

bool tally_gc_get_incremental(void)
{
    return tally_atomic_load_relaxed(&_tally_gc.incremental) != 0;
}
