/* runtime/runtime.c - the runtime's life cycle: tally_init, tally_fini, fork handlers, version,
 * backend name and allocation statistics.
 *
 * Owns: the order in which the parts start and stop.  Start: options -> QSBR -> backend -> GIL
 * -> collector -> built-in objects -> attach the calling thread.  Stop (on an attached thread):
 * final collection with finalizers -> built-ins -> this thread's state -> backend -> QSBR.
 */
#include "runtime/internal.h"

#include <mimalloc.h>
#include <string.h>

_tally_runtime_t _tally_runtime = {
    .registry_lock = PTHREAD_MUTEX_INITIALIZER,
    .opt = TALLY_OPTIONS_INIT,
};

void _tally_threads_fork_child(void);

/* fork(): like CPython's PyOS_BeforeFork, the forking thread stops the world first, so the child
 * inherits a consistent heap (no thread in the middle of a container update, a refcount merge or
 * a collection's stopped phase) and every other thread offline in QSBR (liburcu's registry in the
 * child then holds no online reader that can never report).  Then liburcu's call_rcu workers are
 * paused, and released (parent) or re-created (child). */
static int fork_stopped_world;

static void fork_prepare(void)
{
    if (!tally_atomic_load_relaxed(&_tally_runtime.initialized))
        return;
    fork_stopped_world = tally_thread_is_attached() && _tally_stop_the_world(NULL) == 0;
    _tally_qsbr_fork_prepare();
}

static void fork_parent(void)
{
    if (!tally_atomic_load_relaxed(&_tally_runtime.initialized))
        return;
    _tally_qsbr_fork_parent();
    if (fork_stopped_world)
        _tally_start_the_world();
    fork_stopped_world = 0;
}

static void fork_child(void)
{
    if (!tally_atomic_load_relaxed(&_tally_runtime.initialized))
        return;
    fork_stopped_world = 0;
    _tally_threads_fork_child();
}

static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;
static void register_atfork(void)
{
    pthread_atfork(fork_prepare, fork_parent, fork_child);
}

int tally_init(const tally_options *opt)
{
    if (tally_atomic_load_acquire(&_tally_runtime.initialized)) {
        _tally_set_error("tally_init: the runtime is already initialised (call tally_fini first)");
        return -1;
    }
    tally_options resolved;
    if (_tally_options_resolve_checked(opt, &resolved) < 0)
        return -1;
    _tally_runtime.opt = resolved;
    _tally_registry_enable(_tally_debug_enabled());   /* before the static objects exist */
    _tally_runtime.threads = NULL;
    _tally_runtime.nthreads = 0;
    _tally_runtime.allocated_by_dead_threads = 0;
    _tally_runtime.freed_by_dead_threads = 0;
    mi_process_init();
    if (_tally_qsbr_init() != 0)
        return -1;
    if (_tally_rc_init(&resolved) != 0)
        return -1;
#if defined(TALLY_RC_GIL)
    _tally_gil_init(resolved.switch_interval_us, resolved.gil_fair != 0);
#endif
    if (_tally_gc_init(&resolved) != 0)
        return -1;
    pthread_once(&atfork_once, register_atfork);
    tally_atomic_store_release(&_tally_runtime.initialized, 1);
    if (tally_thread_attach() != 0) {
        tally_atomic_store_release(&_tally_runtime.initialized, 0);
        return -1;
    }
    if (_tally_builtins_init() != 0) {
        tally_thread_release();
        _tally_gc_free_orphans();   /* the released thread's nursery (tally_fini does the same) */
        tally_atomic_store_release(&_tally_runtime.initialized, 0);
        return -1;
    }
    _tally_set_error("%s", "");
    return 0;
}

bool tally_is_initialized(void)
{
    return tally_atomic_load_acquire(&_tally_runtime.initialized) != 0;
}

void tally_fini(void)
{
    if (!tally_atomic_load_acquire(&_tally_runtime.initialized))
        return;
    if (!tally_thread_is_attached() && tally_thread_attach() != 0)
        return;
    _tally_gc_fini();          /* final collection: finalizers run */
    _tally_rc_flush();
    _tally_builtins_fini();
    tally_thread_release();
    _tally_gc_free_orphans();
    _tally_rc_fini();
    _tally_quarantine_drain();   /* debug mode: destroyed objects kept back, checked and freed */
    _tally_registry_clear();
    _tally_qsbr_fini();
    tally_atomic_store_release(&_tally_runtime.initialized, 0);
}

const char *tally_version(void)
{
    return TALLY_VERSION_STRING;
}

/* The symbol that programs compiled for this backend reference (include/tally/object.h). */
TALLY_API extern const char _TALLY_LINKED_BACKEND;
TALLY_API const char _TALLY_LINKED_BACKEND = 1;

const char *tally_backend(void)
{
    return TALLY_BACKEND_NAME;
}

void tally_get_alloc_stats(tally_alloc_stats *out)
{
    if (!out)
        return;
    uint64_t a, f;
    _tally_registry_lock();
    a = _tally_runtime.allocated_by_dead_threads;
    f = _tally_runtime.freed_by_dead_threads;
    _TALLY_FOREACH_THREAD(ts) {
        a += tally_atomic_load_relaxed(&ts->allocated);
        f += tally_atomic_load_relaxed(&ts->freed);
    }
    _tally_registry_unlock();
    out->allocated = a;
    out->freed = f;
    out->live = a >= f ? a - f : 0;
}

#if !defined(TALLY_RC_GIL)
/* No GIL in this backend: the GIL figures do not exist. */
int tally_gil_get_stats(tally_gil_stats *out)
{
    if (out)
        memset(out, 0, sizeof *out);
    _tally_set_error("tally_gil_get_stats: the %s backend has no GIL", TALLY_BACKEND_NAME);
    return -1;
}
void tally_gil_reset_stats(void) {}
int tally_set_switch_interval(unsigned us)
{
    (void)us;
    _tally_set_error("tally_set_switch_interval: the %s backend has no GIL", TALLY_BACKEND_NAME);
    return -1;
}
unsigned tally_get_switch_interval(void) { return 0; }
int tally_gil_waiters(void)
{
    _tally_set_error("tally_gil_waiters: the %s backend has no GIL", TALLY_BACKEND_NAME);
    return -1;
}
#endif
