/* tally/runtime.h - runtime start-up and shutdown, options, errors, threads, statistics.
 *
 * Owns: the public API for the runtime's life cycle and for threads (attach, detach,
 * safepoints).  Implemented in runtime/runtime.c, runtime/options.c, runtime/thread_state.c.
 */
#ifndef TALLY_RUNTIME_H
#define TALLY_RUNTIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <tally/object.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Options.  The first field is the struct's size so it can grow; TALLY_OPTIONS_INIT gives the
 * defaults.  Each option can be overridden by the environment variable TALLY_<NAME> (upper
 * case), e.g. TALLY_SWITCH_INTERVAL_US=1000 or TALLY_GC_THRESHOLD0=0. */
typedef struct tally_options {
    size_t size;
    unsigned switch_interval_us;  /* gil: switch interval, microseconds (default 5000) */
    int gc_threshold0;            /* default 2000; 0 turns automatic collection off */
    int gc_threshold1;            /* default 10 */
    int gc_threshold2;            /* default 10 */
    int gc_enabled;               /* default 1 */
    int gc_incremental;           /* default 0: scan the old generation in increments */
    unsigned gc_increment_size;   /* objects per old-generation increment (default 20000) */
    unsigned rclog_size;          /* deferred: entries per thread log (default 4096) */
    int debug;                    /* 1: API misuse aborts with a message (default: debug builds) */
    /* gil: 1 selects the fair GIL (default 0, CPython's GIL; TALLY_GIL_FAIR=1).  Waiters are
     * served in arrival order, and a thread coming back from a blocking call
     * (TALLY_END_ALLOW_THREADS, an attach) is served first: it asks the holder to drop after a
     * short slice (switch interval / 10) instead of a whole interval.  Hand-overs between
     * CPU-bound threads stay at the switch interval.  Ignored by the other backends (accepted,
     * reported by tally_get_options, no effect).  docs/backend-gil.md, "Fair mode". */
    int gil_fair;
    /* A full collection gives freed memory back to the OS (every thread's mimalloc heap
     * collected, runtime/memory_trim.c) when the objects freed since the last time are at least
     * this many and twice the objects still alive (default 4000000; 0: never;
     * TALLY_GC_TRIM_MIN).  docs/collector.md, "Memory given back after a large release". */
    unsigned gc_trim_min;
} tally_options;

#define TALLY_OPTIONS_INIT \
    { sizeof(tally_options), 5000u, 2000, 10, 10, 1, 0, 20000u, 4096u, -1, 0, 4000000u }

TALLY_API int tally_init(const tally_options *opt);
TALLY_API void tally_fini(void);
TALLY_API bool tally_is_initialized(void);
TALLY_API const char *tally_last_error(void);
TALLY_API const char *tally_version(void);
TALLY_API const char *tally_backend(void);
/* The options in force (after environment overrides). */
TALLY_API void tally_get_options(tally_options *out);

/* ---- threads -------------------------------------------------------------------------- */
/* Attach the calling thread to the runtime: it may then touch objects.  gil: takes the GIL.
 * Free-threaded backends: registers the thread with liburcu's QSBR flavour (a thread that
 * touches shared containers must be registered; this does it).  Attaching an attached thread
 * is a no-op returning 0.  Nonzero and tally_last_error() on failure (runtime not initialised). */
TALLY_API int tally_thread_attach(void);
/* Detach: the thread stops touching objects (gil: releases the GIL; elsewhere it no longer
 * holds back a stop-the-world or an epoch).  Its thread state is kept for a later attach and
 * released at thread exit. */
TALLY_API void tally_thread_detach(void);
/* Detach and release the thread state now (what thread exit does on its own). */
TALLY_API void tally_thread_release(void);
TALLY_API bool tally_thread_is_attached(void);
/* Cheap poll: hand over the GIL if asked, park for a stop-the-world, merge queued refcounts,
 * report a quiescent state, run a scheduled collection. */
TALLY_API void tally_safepoint(void);

typedef struct tally_thread_state tally_thread_state;
TALLY_API tally_thread_state *_tally_allow_threads_begin(void);
TALLY_API void _tally_allow_threads_end(tally_thread_state *ts);

#define TALLY_BEGIN_ALLOW_THREADS { tally_thread_state *_tally_saved_ts = _tally_allow_threads_begin();
#define TALLY_END_ALLOW_THREADS   _tally_allow_threads_end(_tally_saved_ts); }

/* ---- statistics ----------------------------------------------------------------------- */
typedef struct tally_alloc_stats {
    uint64_t allocated;   /* objects created by tally_new (all threads, since init) */
    uint64_t freed;       /* objects whose memory was released */
    uint64_t live;        /* allocated - freed */
} tally_alloc_stats;
TALLY_API void tally_get_alloc_stats(tally_alloc_stats *out);

/* GIL hand-over figures (gil backend; every other backend returns -1 and zeroes *out). */
typedef struct tally_gil_stats {
    uint64_t acquisitions;     /* take_gil calls that got the lock */
    uint64_t switches;         /* acquisitions by a thread other than the last holder */
    uint64_t drop_requests;    /* waits that timed out and asked the holder to drop */
    uint64_t forced_switches;  /* drops that waited for another thread to take over */
    uint64_t wait_ns_total;    /* time spent waiting to take the GIL */
    uint64_t wait_ns_max;
} tally_gil_stats;
TALLY_API int tally_gil_get_stats(tally_gil_stats *out);
TALLY_API void tally_gil_reset_stats(void);
/* Switch interval in microseconds (gil); -1 elsewhere. */
TALLY_API int tally_set_switch_interval(unsigned us);
TALLY_API unsigned tally_get_switch_interval(void);
/* Threads waiting to take the GIL right now (gil, either mode); -1 and tally_last_error()
 * elsewhere.  A snapshot: it may change as soon as it is returned. */
TALLY_API int tally_gil_waiters(void);

#ifdef __cplusplus
}
#endif
#endif
