/* tally/gc.h - the cycle collector's public API (CPython 3.13's `gc` module in C).
 *
 * Owns: control, introspection and telemetry of the one collector every backend feeds.
 * Implemented under collector/.
 */
#ifndef TALLY_GC_H
#define TALLY_GC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <tally/object.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TALLY_GC_DEBUG_STATS         1
#define TALLY_GC_DEBUG_COLLECTABLE   2
#define TALLY_GC_DEBUG_UNCOLLECTABLE 4
#define TALLY_GC_DEBUG_SAVEALL       32
#define TALLY_GC_DEBUG_LEAK          38

#define TALLY_GC_START 0
#define TALLY_GC_STOP  1

typedef struct tally_gc_stats {
    uint64_t collections;
    uint64_t collected;
    uint64_t uncollectable;
    uint64_t candidates;   /* objects examined */
    double duration;       /* seconds, summed over collections */
} tally_gc_stats;

typedef struct tally_gc_info {
    int generation;
    intptr_t collected;
    intptr_t uncollectable;
} tally_gc_info;

typedef void (*tally_gc_callback)(int phase, const tally_gc_info *info, void *arg);

TALLY_API intptr_t tally_gc_collect(int generation);
TALLY_API void tally_gc_enable(void);
TALLY_API void tally_gc_disable(void);
TALLY_API bool tally_gc_is_enabled(void);
TALLY_API void tally_gc_set_threshold(int t0, int t1, int t2);
TALLY_API void tally_gc_get_threshold(int out[3]);
/* After a full collection, give freed memory back to the OS when at least `n` objects were freed
 * since the last time and twice as many as are still alive (0: never).  Default
 * tally_options.gc_trim_min (4000000).  The getter returns the value in force. */
TALLY_API void tally_gc_set_trim_min(unsigned n);
TALLY_API unsigned tally_gc_get_trim_min(void);
TALLY_API void tally_gc_get_count(int out[3]);
TALLY_API void tally_gc_freeze(void);
TALLY_API void tally_gc_unfreeze(void);
TALLY_API size_t tally_gc_get_freeze_count(void);
TALLY_API int tally_gc_get_stats(int generation, tally_gc_stats *out);
TALLY_API bool tally_gc_is_tracked(tally_object *o);
TALLY_API bool tally_gc_is_finalized(tally_object *o);
TALLY_API void tally_gc_track(tally_object *o);
TALLY_API void tally_gc_untrack(tally_object *o);
TALLY_API tally_object *tally_gc_garbage(void);          /* borrowed */
TALLY_API void tally_gc_set_debug(unsigned flags);
TALLY_API unsigned tally_gc_get_debug(void);
TALLY_API int tally_gc_callback_add(tally_gc_callback cb, void *arg);
TALLY_API int tally_gc_callback_remove(tally_gc_callback cb, void *arg);
TALLY_API tally_object *tally_gc_get_objects(int generation);  /* new list; -1: all */

/* ---- telemetry: one record per collection, newest last ------------------------------------ */
typedef struct tally_gc_pause {
    int generation;
    int incremental;          /* 1: an increment of the old generation */
    uint64_t candidates;
    uint64_t collected;
    uint64_t uncollectable;
    uint64_t time_to_safepoint_ns; /* from the stop request until every thread parked */
    uint64_t stw_ns;          /* total time other threads were held stopped */
    uint64_t update_refs_ns;  /* phase times (world stopped).  Generation-0 and full collections
                               * fuse subtract_refs into update_refs' walk: their whole time is
                               * update_refs_ns and subtract_refs_ns is 0 */
    uint64_t subtract_refs_ns;
    uint64_t move_unreachable_ns;
    uint64_t finalize_ns;     /* weakref callbacks + finalizers (world running) */
    uint64_t clear_ns;        /* tp_clear of the garbage (world running) */
    uint64_t total_ns;
} tally_gc_pause;

/* Copy up to n of the most recent records (oldest first) into out; returns how many. */
TALLY_API size_t tally_gc_get_pauses(tally_gc_pause *out, size_t n);
/* Total collections recorded since init (the ring keeps the last TALLY_GC_PAUSE_RING). */
TALLY_API uint64_t tally_gc_pause_count(void);
TALLY_API void tally_gc_reset_pauses(void);
#define TALLY_GC_PAUSE_RING 4096

/* Incremental old-generation mode (off by default; see docs/collector.md). */
TALLY_API void tally_gc_set_incremental(bool on, size_t increment_objects);
TALLY_API bool tally_gc_get_incremental(void);

#ifdef __cplusplus
}
#endif
#endif
