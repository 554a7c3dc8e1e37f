/* runtime/internal.h - interfaces between Tally's parts (never installed).
 *
 * Owns: the thread state, the backend interface every runtime/rc_<backend>.c implements, the
 * object-memory helpers, the hooks between the object core and the collector, the per-object
 * lock, stop-the-world and delayed (QSBR) frees.  Grouped by the file that implements them.
 *
 * Naming: `tally_` is public API, `_tally_` is internal and cross-file (hidden visibility unless
 * an inline fast path in a public header needs it), file-local code is `static`.
 */
#ifndef TALLY_RUNTIME_INTERNAL_H
#define TALLY_RUNTIME_INTERNAL_H

#ifndef TALLY_BUILD_CORE
#  error "runtime/internal.h is for Tally's own sources"
#endif

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <tally/tally.h>
#include <tally/static/thread_id.h>

#include <mimalloc.h>
/* The sanitizers cannot see inside mimalloc (not instrumented): ThreadSanitizer would take every
 * reuse of a block freed by another thread for a race, and AddressSanitizer would miss every
 * use-after-free and double free of an object.  TSan and ASan builds therefore route the same
 * calls to the C allocator, which both intercept.  Every other build uses mimalloc. */
#if defined(__SANITIZE_ADDRESS__) && !defined(TALLY_ASAN)
#  define TALLY_ASAN 1
#elif defined(__has_feature)
#  if __has_feature(address_sanitizer) && !defined(TALLY_ASAN)
#    define TALLY_ASAN 1
#  endif
#endif
#if defined(TALLY_TSAN) || defined(TALLY_ASAN)
#  include <stdlib.h>
#  define mi_malloc(n) malloc(n)
#  define mi_zalloc(n) calloc(1, (n))
#  define mi_calloc(n, m) calloc((n), (m))
#  define mi_realloc(p, n) realloc((p), (n))
#  define mi_free(p) free(p)
#  define mi_process_init() ((void)0)
#endif
/* Fault injection (AddressSanitizer builds, runtime/fault_inject.c): every allocation of the
 * library - the C allocator's, which the mi_* names map to above - can be made to fail. */
#if defined(TALLY_FAULT_INJECTION)
#  if !defined(TALLY_ASAN)
#    error "TALLY_FAULT_INJECTION needs the C allocator mapping of an AddressSanitizer build"
#  endif
#  include <stdlib.h>
void *_tally_fault_malloc(size_t n);
void *_tally_fault_calloc(size_t n, size_t m);
void *_tally_fault_realloc(void *p, size_t n);
#  define malloc(n) _tally_fault_malloc(n)
#  define calloc(n, m) _tally_fault_calloc((n), (m))
#  define realloc(p, n) _tally_fault_realloc((p), (n))
#endif

/* Hand-overs that ThreadSanitizer cannot see, because they run through liburcu (not
 * instrumented): the handing thread releases an address, the receiving thread acquires it. */
#if defined(TALLY_TSAN)
void __tsan_acquire(void *addr);
void __tsan_release(void *addr);
#  define TALLY_TSAN_RELEASE(p) __tsan_release((void *)(p))
#  define TALLY_TSAN_ACQUIRE(p) __tsan_acquire((void *)(p))
#else
#  define TALLY_TSAN_RELEASE(p) ((void)0)
#  define TALLY_TSAN_ACQUIRE(p) ((void)0)
#endif

#define TALLY_HIDDEN __attribute__((visibility("hidden")))
#define TALLY_NOINLINE __attribute__((noinline))
#define TALLY_CACHELINE 64

/* ==== backend traits (include/tally/static/rc_<backend>.h) ================================= */
/* The library is built with -DTALLY_BACKEND_<NAME> (CMakeLists.txt, from TALLY_BACKEND_LIST), so
 * tally/object.h has included that backend's static header (through the generated
 * tally/backends.h).  A backend says how it differs from a plain single-word count in macros of
 * that header; the defaults are here (docs/new-backend.md has the table):
 *  TALLY_RC_FREE_THREADED        no GIL: per-object locks, stop-the-world, QSBR (TALLY_FREE_THREADED)
 *  TALLY_RC_GIL                  threads run one at a time under sync/gil.c
 *  TALLY_RC_IMMORTAL_TID         ob_tid of an immortal object (default 0)
 *  TALLY_RC_LIST_OWNER_FIELD     header word of a list's creating thread (default ob_tid)
 *  TALLY_RC_CHECKS_NEGATIVE_DECREF  _tally_rc_get may lag: the slow paths find a decref below 0
 *  TALLY_RC_DEAD_SHARED          ob_ref_shared of a quarantined object (default 0)
 *  TALLY_RC_HAVE_GC_REFCOUNT     the header defines _tally_rc_gc_refcount (default: ob_ref_local)
 *  TALLY_RC_GC_SETTLE            the backend defines _tally_rc_gc_settle (default: empty inline)
 *  TALLY_RC_ITEMS_MARKED_LAZILY  container items marked shared with their container
 *  TALLY_RC_NO_POLL_STOP         the runtime's release loops never park for a stop-the-world */
#if !defined(TALLY_COMPILED_BACKEND)
#  error "compile with -DTALLY_BACKEND_<NAME> of a backend in TALLY_BACKEND_LIST"
#endif
#define TALLY_BACKEND_NAME TALLY_COMPILED_BACKEND
#if defined(TALLY_RC_FREE_THREADED)
#  define TALLY_FREE_THREADED 1
#endif
#if defined(TALLY_RC_FREE_THREADED) && defined(TALLY_RC_GIL)
#  error "a backend is either free-threaded or runs under the GIL"
#endif
#if !defined(TALLY_RC_IMMORTAL_TID)
#  define TALLY_RC_IMMORTAL_TID ((uintptr_t)0)
#endif
#if !defined(TALLY_RC_LIST_OWNER_FIELD)
#  define TALLY_RC_LIST_OWNER_FIELD ob_tid
#endif
#if !defined(TALLY_RC_DEAD_SHARED)
#  define TALLY_RC_DEAD_SHARED ((intptr_t)0)
#endif

/* ==== the GC pre-header (collector/) ======================================================= */
/* Every object of a TALLY_TYPE_GC type is allocated with this just before its tally_object.
 * The collector owns both words (its generation lists; gc_refs during a collection). */
typedef struct _tally_gc_head {
    uintptr_t gc_next;
    uintptr_t gc_prev;
} _tally_gc_head;

#define _TALLY_AS_GC(o) ((_tally_gc_head *)(o) - 1)
#define _TALLY_FROM_GC(g) ((tally_object *)((_tally_gc_head *)(g) + 1))
#define _TALLY_IS_GC(o) (((o)->ob_flags & TALLY_OBF_GC) != 0)

/* ==== thread states (runtime/thread_state.c) ============================================== */
enum {
    TALLY_TS_DETACHED = 0,   /* not touching objects; may be suspended by a stop-the-world */
    TALLY_TS_ATTACHED = 1,   /* touching objects; must reach a safepoint to be stopped */
    TALLY_TS_SUSPENDED = 2,  /* parked by a stop-the-world; cannot attach until it ends */
};

/* Bits of tally_thread_state.breaker: requests honoured at the thread's next safepoint. */
#define TALLY_BREAK_GIL_DROP   0x01u  /* gil: another thread timed out waiting */
#define TALLY_BREAK_STOP       0x02u  /* a stop-the-world is waiting for this thread */
#define TALLY_BREAK_MERGE      0x04u  /* biased: objects queued for this owner */
#define TALLY_BREAK_GC         0x08u  /* a collection is scheduled */
#define TALLY_BREAK_RC         0x10u  /* deferred: an epoch wants this thread's log */
#define TALLY_BREAK_TRIM       0x20u  /* give freed memory back (runtime/memory_trim.c) */

struct tally_thread_state {
    uintptr_t tid;                 /* _tally_thread_id() of the thread (biased owner id) */
    pthread_t thread;
    uint64_t serial;               /* 1, 2, ... in order of creation */
    int state;                     /* TALLY_TS_*; atomic (CAS by the thread and by stop-the-world) */
    unsigned breaker;              /* TALLY_BREAK_*; atomic or/and */
    int released;                  /* thread state being torn down */
    struct tally_thread_state *next, *prev;  /* registry list, under _tally_runtime.registry_lock */

    /* object core */
    int dealloc_depth;             /* nesting of _tally_dealloc on this thread */
    tally_object **trash;          /* deallocations postponed to bound the C stack */
    size_t trash_len, trash_cap;
    uint64_t allocated, freed;     /* written by this thread only (relaxed atomics), read by stats */

    /* collector (collector/ owns these) */
    void *gc_data;
    int gc_alloc_delta;            /* GC allocations minus counted frees not yet folded into the
                                    * collector's count[0] (owner: relaxed load/store; zeroed by
                                    * the collector with the world stopped) */
    int gc_clearing;               /* this thread is the collector clearing its final unreachable
                                    * set (owner only; see _tally_free_needs_grace) */
    uint64_t trim_seen_freed;      /* ts->freed at this thread's last trim check (owner only;
                                    * runtime/memory_trim.c) */
    uint64_t trim_next_ns;         /* after a trim: when this thread collects its heap again
                                    * (0: not armed; owner only; runtime/memory_trim.c) */
    uint32_t trim_backoff_ms;      /* ... and the wait after that one (doubles) */
    uint32_t trim_gen_seen;        /* the last trim decision this thread answered (owner only) */
    uint32_t trim_polls;           /* armed: safepoints until the clock is read again (owner only) */
    int gc_preflushed;             /* the backend's pending deaths were just applied, before an
                                    * automatic collection (owner only; collector/gc_lists.c) */

    /* backend (runtime/rc_<backend>.c owns this) */
    void *rc_data;
};

typedef struct _tally_runtime {
    int initialized;
    tally_options opt;
    pthread_mutex_t registry_lock;  /* guards the thread list and serials */
    tally_thread_state *threads;    /* registry: every thread state not yet released */
    size_t nthreads;                /* registered thread states */
    uint64_t next_serial;
    uint64_t freed_by_dead_threads; /* counts of released thread states, under registry_lock */
    uint64_t allocated_by_dead_threads;
} _tally_runtime_t;

TALLY_HIDDEN extern _tally_runtime_t _tally_runtime;
/* initial-exec: a %fs-relative load, not a __tls_get_addr call (the library is loaded at start-up
 * or with static TLS to spare, as it already needs for the deferred log). */
TALLY_HIDDEN extern _Thread_local tally_thread_state *_tally_tstate_tls __attribute__((tls_model("initial-exec")));

static inline tally_thread_state *_tally_tstate(void) { return _tally_tstate_tls; }

/* Must freeing o's memory (or memory only o points to, such as a list's item array) wait for a
 * QSBR grace period?  Yes when o is SHARED or has weak references (a lock-free reader may be on
 * it), except for an object of the collector's final unreachable set (UNREACHABLE) freed by the
 * collector's own clear loop (gc_clearing): after the last stop nothing outside that set refers
 * to it, its weakrefs are cleared, and every thread was at a safepoint then, so no reader can
 * hold or obtain a pointer to it (collector/gc.c, step 9; docs/collector.md).  Weakref'd objects
 * always wait: their weakrefs' readers are not covered by that argument. */
static inline bool _tally_free_needs_grace(tally_object *o)
{
    uint8_t bits = tally_atomic_load_relaxed(&o->ob_gc_bits);
    if (!(bits & (TALLY_GC_BIT_SHARED | TALLY_GC_BIT_WEAKREFS)))
        return false;
    if ((bits & (TALLY_GC_BIT_UNREACHABLE | TALLY_GC_BIT_WEAKREFS)) == TALLY_GC_BIT_UNREACHABLE) {
        tally_thread_state *ts = _tally_tstate_tls;
        return !(ts && ts->gc_clearing);
    }
    return true;
}
/* Long loops of the runtime's own (a deallocation cascade, a container releasing its items) let
 * a waiting stop-the-world in: the thread parks if one is waiting, so the time to safepoint does
 * not grow with the size of what it frees.  Only the stop request is honoured here (no GIL
 * hand-over, no backend work), so the loop's state needs no re-validation: a stopped world only
 * reads the heap, and what the loop is releasing is already untracked (the collector never sees
 * it) and private to this thread.  Callers hold no lock and no pointer obtained from a lock-free
 * read (parking is a QSBR quiescent state).  For the same reason the loop also announces a QSBR
 * quiescent state every 256 objects this thread frees: a release of 2.5M objects (100-200 ms)
 * otherwise held every grace period back, so no delayed free of any thread completed meanwhile
 * (memory grew past its built size while it was being released, and the trim that followed
 * waited 45-170 ms for the grace period; runtime/memory_trim.c). */
TALLY_HIDDEN void _tally_stw_park(tally_thread_state *ts);   /* sync/stw.c */
#if defined(TALLY_FREE_THREADED)
TALLY_HIDDEN void _tally_qsbr_quiescent(void);               /* sync/qsbr.c */
#endif
static inline void _tally_poll_stop(tally_thread_state *ts)
{
#if defined(TALLY_RC_NO_POLL_STOP)
    /* Not in deferred: a release there may be applying its destroy's decrements directly (the
     * cascade, runtime/rc_deferred_cascade.c), which a world-stopped prepare applying every log must not
     * interleave with (parking here made the fork tests hang or fail a count, 1 run in 60).  Nor
     * a quiescent state: deferred's grace periods also stand for "every thread cut its log". */
    (void)ts;
#else
    if (tally_unlikely(ts && (tally_atomic_load_relaxed(&ts->breaker) & TALLY_BREAK_STOP)))
        _tally_stw_park(ts);
#if defined(TALLY_FREE_THREADED)
    else if (ts && (tally_atomic_load_relaxed(&ts->freed) & 255) == 0)
        _tally_qsbr_quiescent();
#endif
#endif
}
#define TALLY_POLL_EVERY 256   /* items a container releases between two polls */

/* The runtime's own waits are not cancellation points.  A pthread_cancel that landed in one
 * (a condition wait in a GIL take, a park, a grace period) unwound the thread with the
 * runtime's mutex held, and the next stop-the-world or GIL take deadlocked every thread.  So each
 * blocking entry point disables cancellation for its duration: a cancelled thread is cancelled
 * at its next cancellation point outside the runtime, and if it is attached then, its
 * thread-exit destructor releases its state as for any thread that exits attached. */
static inline int _tally_nocancel_begin(void)
{
    int old = PTHREAD_CANCEL_DISABLE;
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &old);
    return old;
}
static inline void _tally_nocancel_end(int old)
{
    if (old != PTHREAD_CANCEL_DISABLE)
        pthread_setcancelstate(old, NULL);
}

/* The calling thread's state if it is attached, else NULL with an error set (and an abort in
 * debug mode naming `what`). */
TALLY_HIDDEN tally_thread_state *_tally_tstate_require(const char *what);
/* An API entry point that touches objects returns `fail` (the error set; an abort in debug
 * mode) when the caller is not attached: on deferred its increments would be dropped (a list
 * holding an item it took no reference to), on gil it would run outside the GIL.  One TLS
 * load and a compare. */
#define TALLY_CHECK_ATTACHED(what, fail)                                                       \
    do {                                                                                   \
        tally_thread_state *_ca = _tally_tstate_tls;                                       \
        if (tally_unlikely(!_ca || tally_atomic_load_relaxed(&_ca->state) != TALLY_TS_ATTACHED) && \
            !_tally_tstate_require(what))                                                  \
            return fail;                                                                   \
    } while (0)
TALLY_HIDDEN void _tally_handle_pending(tally_thread_state *ts);
/* Iterate the registry; caller holds registry_lock or has the world stopped. */
#define _TALLY_FOREACH_THREAD(ts) for (tally_thread_state *ts = _tally_runtime.threads; ts; ts = ts->next)
TALLY_HIDDEN void _tally_registry_lock(void);
TALLY_HIDDEN void _tally_registry_unlock(void);

/* ==== errors and options (runtime/errors.c, runtime/options.c) ============================= */
TALLY_HIDDEN void _tally_set_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* API misuse on object o: message with the type name and address; aborts when debug is on. */
TALLY_HIDDEN void _tally_misuse(tally_object *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
TALLY_HIDDEN _Noreturn void _tally_fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* deferred: a container's item (a list's item, a dict's key or value) is marked SHARED only once
 * a thread other than the owner may read it lock-free, i.e. when it is stored in a shared
 * container or when its container becomes shared (every item then, under the lock, before that
 * thread's first lock-free read).  The deferred backend's
 * cascade frees an unmarked object whose count its direct release took to zero at once, without
 * the zero-count table's epoch (runtime/rc_deferred_cascade.c, "the cascade"); an eager mark would send
 * every container item through the table.  The other backends mark every stored item. */
#if defined(TALLY_RC_ITEMS_MARKED_LAZILY)
#  define TALLY_ITEMS_MARKED_LAZILY 1
#else
#  define TALLY_ITEMS_MARKED_LAZILY 0
#endif

/* A spin-wait hint (x86 pause, AArch64 yield) for the busy-wait loops of sync/. */
static inline void _tally_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* A precondition of the runtime's own code: checked in debug builds (TALLY_DEBUG), where a
 * violation stops the process naming the condition and its place; nothing in release builds. */
#if defined(TALLY_DEBUG)
#  define TALLY_ASSERT(cond) \
    ((cond) ? (void)0 : _tally_fatal("internal assertion failed: %s (%s:%d)", #cond, __FILE__, __LINE__))
#else
#  define TALLY_ASSERT(cond) ((void)0)
#endif
/* Debug builds: mutex m is held (pthread mutexes do not say by whom: this catches a caller that
 * holds none; a trylock that succeeds aborts at once, so it never needs undoing). */
#define TALLY_ASSERT_HELD(m) TALLY_ASSERT(pthread_mutex_trylock(m) == EBUSY)

/* Grow an array of pointers (doubling, `first` entries the first time).  Returns the array and
 * sets *cap to its new capacity, or returns NULL (v and *cap unchanged) when out of memory. */
static inline void *_tally_grow_ptrs_try(void *v, size_t *cap, size_t first)
{
    size_t n = *cap ? *cap * 2 : first;
    void *p = mi_realloc(v, n * sizeof(void *));
    if (p)
        *cap = n;
    return p;
}
/* As above, where out of memory is fatal, naming `what`. */
static inline void *_tally_grow_ptrs(void *v, size_t *cap, size_t first, const char *what)
{
    void *p = _tally_grow_ptrs_try(v, cap, first);
    if (!p)
        _tally_fatal("out of memory growing %s (%zu entries)", what, *cap ? *cap * 2 : first);
    return p;
}
TALLY_HIDDEN void _tally_options_resolve(const tally_options *in, tally_options *out);
/* As above; 0, or -1 with the error set naming the bad option and the accepted range. */
TALLY_HIDDEN int _tally_options_resolve_checked(const tally_options *in, tally_options *out);
TALLY_HIDDEN uint64_t _tally_now_ns(void);   /* CLOCK_MONOTONIC */
TALLY_HIDDEN bool _tally_debug_enabled(void);

/* ==== object core (runtime/object.c) ======================================================= */
/* Memory of a dead object: mi_free now, or after a QSBR grace period when other threads may
 * still read its header (free-threaded backends, TALLY_GC_BIT_SHARED set). */
TALLY_HIDDEN void _tally_object_free(tally_object *o);
/* The allocator side of _tally_object_free (QSBR-delayed where lock-free readers may look). */
TALLY_HIDDEN void _tally_object_release_memory(tally_object *o);
/* runtime/quarantine.c: debug mode keeps destroyed objects poisoned for a while (the caller
 * checks _tally_debug_objects_on).  drain: at tally_fini, check and free every object it holds. */
TALLY_HIDDEN void _tally_quarantine_put(tally_object *o);
TALLY_HIDDEN void _tally_quarantine_drain(void);
/* runtime/debug_registry.c: debug mode's set of live objects (what traverse may visit). */
TALLY_HIDDEN void _tally_registry_enable(bool on);
/* Debug mode's object checks (the registry, the quarantine): set once by tally_init when debug
 * checks are on, cleared by tally_fini, read relaxed.  The only cost on the allocation and free
 * paths when debug mode is off is this load and a predictable branch. */
TALLY_HIDDEN extern int _tally_debug_objects;
static inline bool _tally_debug_objects_on(void)
{
    return tally_atomic_load_relaxed(&_tally_debug_objects) != 0;
}
TALLY_HIDDEN void _tally_registry_add(tally_object *o);
TALLY_HIDDEN void _tally_registry_remove(tally_object *o);
TALLY_HIDDEN bool _tally_registry_is_live_object(const void *p);
TALLY_HIDDEN void _tally_registry_clear(void);
TALLY_HIDDEN void _tally_object_mark_shared(tally_object *o);
/* Run finalize/weakref clearing/del, then destroy and free.  Called by the backends when a
 * count reaches zero (exported as _tally_dealloc for inline fast paths). */
TALLY_HIDDEN void _tally_clear_weakrefs(tally_object *o, bool run_callbacks);
TALLY_HIDDEN void _tally_static_object_init(tally_object *o, const tally_type *t);

/* ==== built-in types (runtime/int.c ... weakref.c) ========================================= */
TALLY_HIDDEN int _tally_builtins_init(void);
TALLY_HIDDEN void _tally_builtins_fini(void);
static inline bool _tally_is_weakref(tally_object *o)
{
    return o && o->ob_type == &tally_weakref_type;
}
/* Weakref support for the collector (world stopped or GIL held). */
TALLY_HIDDEN bool _tally_has_weakrefs(tally_object *o);
/* The weakrefs whose callbacks a collection runs once the world runs again: a chain through
 * the weakrefs themselves (nothing is allocated during a collection: an allocation is a
 * safepoint, where the GIL could pass to another thread mid-collection), in the order they
 * were found; the chain holds one reference to each.  Zero-initialise it. */
typedef struct _tally_wr_chain {
    struct tally_weakref *head;
    struct tally_weakref **tail;   /* NULL while empty */
} _tally_wr_chain;
/* Clear every weakref to o (they return NULL from now on); chain those that have a callback
 * and are not themselves in the unreachable set onto `pending` (NULL: drop their callbacks). */
TALLY_HIDDEN void _tally_weakrefs_clear_for_gc(tally_object *o, _tally_wr_chain *pending);
/* World running, collecting thread: call the chain's callbacks in order, then drop the chain's
 * references.  Returns how many of its weakrefs died with it (CPython counts them collected). */
TALLY_HIDDEN size_t _tally_weakrefs_call_pending(_tally_wr_chain *pending);
TALLY_HIDDEN void _tally_weakref_call(tally_object *wr);
TALLY_HIDDEN void _tally_weakref_forget(tally_object *wr);  /* wr dies: unlink from target */
/* Between the built-in type files (none.c starts and stops the others). */
TALLY_HIDDEN void _tally_none_init(void);
TALLY_HIDDEN int _tally_int_init(void);         /* small-int cache */
TALLY_HIDDEN void _tally_int_fini(void);
TALLY_HIDDEN void _tally_weakref_init(void);
TALLY_HIDDEN void _tally_weakref_fini(void);
/* Dict keys: hashes and value equality of immutable payloads (no type checks). */
TALLY_HIDDEN uint64_t _tally_int_hash(tally_object *o);
TALLY_HIDDEN bool _tally_int_equal(tally_object *a, tally_object *b);
TALLY_HIDDEN uint64_t _tally_str_hash(tally_object *o);
TALLY_HIDDEN bool _tally_str_equal(tally_object *a, tally_object *b);
TALLY_HIDDEN uint64_t _tally_ptr_hash(const void *p);

/* ==== the backend interface (runtime/rc_<backend>.c) ====================================== */
TALLY_HIDDEN int _tally_rc_init(const tally_options *opt);
TALLY_HIDDEN void _tally_rc_fini(void);
TALLY_HIDDEN int _tally_rc_thread_init(tally_thread_state *ts);   /* first attach */
TALLY_HIDDEN void _tally_rc_thread_fini(tally_thread_state *ts);  /* release (still attached) */
TALLY_HIDDEN void _tally_rc_on_attach(tally_thread_state *ts);
TALLY_HIDDEN void _tally_rc_on_detach(tally_thread_state *ts);
TALLY_HIDDEN void _tally_rc_safepoint(tally_thread_state *ts);    /* every safepoint */
TALLY_HIDDEN void _tally_rc_handle_pending(tally_thread_state *ts, unsigned bits); /* MERGE/RC */
TALLY_HIDDEN void _tally_rc_object_init(tally_object *o, tally_thread_state *ts); /* count 1 */
TALLY_HIDDEN intptr_t _tally_rc_get(tally_object *o);
TALLY_HIDDEN void _tally_rc_set_immortal(tally_object *o);
/* Take a new reference if o is still alive (its count above zero); false when it is dying.
 * Safe on an object another thread may be releasing, provided its memory is still valid
 * (QSBR read-side or the weakref lock). */
TALLY_HIDDEN bool _tally_rc_try_incref(tally_object *o);
/* Around finalizers during deallocation: set the count to 1 / drop it again; true when the
 * object was resurrected (the count stayed above zero). */
TALLY_HIDDEN void _tally_rc_resurrect_begin(tally_object *o);
TALLY_HIDDEN bool _tally_rc_resurrect_end(tally_object *o);
TALLY_HIDDEN void _tally_rc_flush(void);
/* Collector side, world stopped (or GIL held): apply queued/buffered operations, then true
 * counts; after the world restarts, release what those operations killed. */
TALLY_HIDDEN void _tally_rc_gc_prepare(void);
/* The true count after _tally_rc_gc_prepare, read by the collector once per object of the
 * working set: inline (the out-of-line call per object cost a full collection 0.9 ns per object
 * with the heap in the caches, 0.2 ns on the 1M-list benchmark).  Relaxed loads for the
 * sanitizers; the world is stopped, so they are exact.  In every backend the count lives in the
 * header words that tally/static/rc_<backend>.h lays out: by default ob_ref_local holds all of
 * it (gil, racy, atomic, deferred); a backend that splits it defines TALLY_RC_HAVE_GC_REFCOUNT
 * and this function in its static header (biased). */
#if !defined(TALLY_RC_HAVE_GC_REFCOUNT)
static inline intptr_t _tally_rc_gc_refcount(tally_object *o)
{
    return (intptr_t)tally_atomic_load_relaxed(&o->ob_ref_local);
}
#endif
TALLY_HIDDEN void _tally_rc_gc_after(void);
/* The collector's clear loop (its thread has gc_clearing set), after each object and once at
 * the end: apply the loop's own operations on the final unreachable set and free the members
 * they killed.  Only `deferred` holds such deaths back (its decrements wait in the log);
 * elsewhere they happen in the decrement itself. */
#if defined(TALLY_RC_GC_SETTLE)
TALLY_HIDDEN void _tally_rc_gc_settle(void);
#else
static inline void _tally_rc_gc_settle(void) {}
#endif
TALLY_HIDDEN void _tally_rc_fork_child(void);

/* ==== the collector's hooks (collector/) =================================================== */
TALLY_HIDDEN int _tally_gc_init(const tally_options *opt);
TALLY_HIDDEN void _tally_gc_fini(void);       /* final collection, runs finalizers */
TALLY_HIDDEN int _tally_gc_thread_init(tally_thread_state *ts);
TALLY_HIDDEN void _tally_gc_thread_fini(tally_thread_state *ts);
/* A GC object was allocated (tally_new, before it is returned): link it into the young
 * generation; may run a scheduled collection first (object not yet linked). */
/* tally_gc_untrack for an object whose deallocation begins (no other thread holds a reference,
 * so none changes its ob_gc_bits but the collector under gc.lock): no atomic read-modify-write. */
TALLY_HIDDEN void _tally_gc_untrack_dying(tally_object *o);
TALLY_HIDDEN void _tally_gc_free_orphans(void);   /* tally_fini: nurseries of released threads */
TALLY_HIDDEN int _tally_gc_on_alloc(tally_thread_state *ts, tally_object *o);   /* -1: out of memory */
/* Before allocating a GC object: count it and collect if the threshold was passed. */
TALLY_HIDDEN void _tally_gc_maybe_collect(tally_thread_state *ts);
TALLY_HIDDEN bool _tally_gc_is_collecting(tally_thread_state *ts);   /* ts runs a collection now */
/* A GC object is being freed: unlink it if tracked, lower the young count. */
TALLY_HIDDEN void _tally_gc_on_free(tally_thread_state *ts, tally_object *o);
TALLY_HIDDEN void _tally_gc_run_scheduled(tally_thread_state *ts);  /* TALLY_BREAK_GC */
TALLY_HIDDEN void _tally_gc_fork_child(void);

/* ==== per-object lock (sync/lock.c) ======================================================== */
/* A one-byte lock in ob_mutex (test-and-test-and-set, spin then yield).  Acquire on lock,
 * release on unlock.  gil/racy builds compile it away: the GIL (or nothing) protects. */
TALLY_HIDDEN void _tally_mutex_lock_slow(uint8_t *m);
static inline void _tally_object_lock(tally_object *o)
{
#if defined(TALLY_FREE_THREADED)
    uint8_t expected = 0;
    if (tally_likely(tally_atomic_cas_acquire(&o->ob_mutex, &expected, 1)))
        return;
    _tally_mutex_lock_slow(&o->ob_mutex);
#else
    (void)o;
#endif
}
static inline void _tally_object_unlock(tally_object *o)
{
#if defined(TALLY_FREE_THREADED)
    tally_atomic_store_release(&o->ob_mutex, 0);
#else
    (void)o;
#endif
}

/* ==== stop-the-world (sync/stw.c) ========================================================== */
/* The caller must be attached.  Returns when every other attached thread is parked at a
 * safepoint and no detached thread can attach; *to_safepoint_ns gets the wait.  gil: holding
 * the GIL already excludes every other thread, so this only records the time (0).
 * Nested calls by the same thread are an error (returns -1). */
TALLY_HIDDEN int _tally_stop_the_world(uint64_t *to_safepoint_ns);
TALLY_HIDDEN void _tally_start_the_world(void);
/* True only on the thread that stopped the world, once every other attached thread parked. */
TALLY_HIDDEN bool _tally_world_is_stopped(void);
/* Called by a thread at a safepoint when TALLY_BREAK_STOP is set: park until restarted. */
TALLY_HIDDEN void _tally_stw_park(tally_thread_state *ts);
/* Attach/detach transitions that respect a pending stop. */
TALLY_HIDDEN void _tally_stw_attach(tally_thread_state *ts);
TALLY_HIDDEN void _tally_stw_detach(tally_thread_state *ts);
TALLY_HIDDEN void _tally_stw_fork_child(void);

/* ==== the GIL (sync/gil.c; gil backend only) =============================================== */
TALLY_HIDDEN void _tally_gil_init(unsigned interval_us, bool fair);
/* after_blocking: the thread comes back from a voluntary release (TALLY_END_ALLOW_THREADS, an
 * attach), not from a drop it was asked for; fair mode serves such takes first. */
TALLY_HIDDEN void _tally_gil_take(tally_thread_state *ts, bool after_blocking);
TALLY_HIDDEN void _tally_gil_drop(tally_thread_state *ts, bool forced_switch);
TALLY_HIDDEN void _tally_gil_fork_child(tally_thread_state *ts);

/* ==== QSBR reclamation (sync/qsbr.c; liburcu's QSBR flavour) =============================== */
/* Free-threaded backends: every attached thread is registered with urcu-qsbr, detached threads
 * are offline, each safepoint is a quiescent state.  Memory handed to _tally_free_delayed() is
 * mi_free'd only after every online thread has passed a quiescent state, so lock-free readers
 * (list/dict reads, try-incref) never touch freed memory.  gil/racy: mi_free at once.
 * The thread calls are made by runtime/thread_state.c for every backend, around the backend's
 * own hooks: register before _tally_rc_thread_init, unregister after the release's last detach,
 * online before _tally_rc_on_attach, offline after _tally_rc_on_detach, a quiescent state before
 * _tally_rc_safepoint.  In gil/racy builds they are empty inlines (no call on their paths). */
TALLY_HIDDEN int _tally_qsbr_init(void);
TALLY_HIDDEN void _tally_qsbr_fini(void);
#if defined(TALLY_FREE_THREADED)
TALLY_HIDDEN void _tally_qsbr_thread_register(tally_thread_state *ts);
TALLY_HIDDEN void _tally_qsbr_thread_unregister(tally_thread_state *ts);
TALLY_HIDDEN void _tally_qsbr_online(void);
TALLY_HIDDEN void _tally_qsbr_offline(void);
TALLY_HIDDEN void _tally_qsbr_quiescent(void);
#else
static inline void _tally_qsbr_thread_register(tally_thread_state *ts) { (void)ts; }
static inline void _tally_qsbr_thread_unregister(tally_thread_state *ts) { (void)ts; }
static inline void _tally_qsbr_online(void) {}
static inline void _tally_qsbr_offline(void) {}
static inline void _tally_qsbr_quiescent(void) {}
#endif
TALLY_HIDDEN void _tally_free_delayed(void *p);
TALLY_HIDDEN void _tally_qsbr_barrier(void);   /* wait until every delayed free is done */
TALLY_HIDDEN void _tally_qsbr_wait_delayed_frees(void);   /* the same, not through liburcu's barrier */
/* runtime/memory_trim.c: after a full collection that followed a large release, wait for the
 * delayed frees and have every thread collect its mimalloc heap (its own at its next safepoint). */
TALLY_HIDDEN void _tally_memory_trim_after_full(tally_thread_state *self);
TALLY_HIDDEN void _tally_memory_trim_self(tally_thread_state *ts);
TALLY_HIDDEN void _tally_memory_trim_handle(tally_thread_state *ts);   /* TALLY_BREAK_TRIM */
/* At a safepoint after backend work (biased merges, deferred steps): a thread that freed many
 * objects there checks whether a trim is due (the full collection's check may have come before
 * those deaths). */
TALLY_HIDDEN void _tally_memory_trim_check(tally_thread_state *ts);
/* True in a fork() child, whatever its thread count: liburcu is not used there any more (no
 * registration, no grace periods), so whoever needs a grace period in a child with more than
 * one thread stops the world instead.  Delayed frees are immediate while the child has one
 * thread, else released by the next stop-the-world (_tally_qsbr_world_stopped). */
TALLY_HIDDEN bool _tally_qsbr_in_fork_child(void);
TALLY_HIDDEN void _tally_qsbr_world_stopped(void);
TALLY_HIDDEN void _tally_qsbr_fork_prepare(void);
TALLY_HIDDEN void _tally_qsbr_fork_parent(void);
TALLY_HIDDEN void _tally_qsbr_fork_child(void);

#endif /* TALLY_RUNTIME_INTERNAL_H */
