/* runtime/thread_state.c - thread states: creation, the registry, attach/detach, safepoints,
 * thread exit and fork().
 *
 * Owns: tally_thread_attach/detach/release, tally_safepoint, TALLY_BEGIN/END_ALLOW_THREADS and
 * the dispatch of breaker requests (GIL drop, stop-the-world park, refcount merges, scheduled
 * collections).
 *
 * Life of a thread state: created on the first attach (registered, state DETACHED, then
 * attached), kept across detach/attach, released by tally_thread_release() or automatically at
 * thread exit (a pthread key destructor), which gives the backend and the collector the chance
 * to hand over what the thread still owns (merge queues, refcount logs, young objects).
 * Lock order: registry_lock is never requested by an attached thread without the parkable
 * wrapper (_tally_registry_lock), so a stop-the-world can never wait for a thread blocked on it;
 * gil: a thread takes the GIL only after dropping the registry lock.
 */
#include "runtime/internal.h"

#include <mimalloc.h>
#include <stdlib.h>
#include <string.h>

_Thread_local tally_thread_state *_tally_tstate_tls __attribute__((tls_model("initial-exec")));
/* The calling thread's id (include/tally/static/thread_id.h): a fresh one for every thread
 * state, never reused, so that no object's owner field (biased ob_tid) or a list's or dict's
 * creator id can name a later thread.  Starts at 2: 0 is "unowned", 1 the atomic backend's
 * immortal mark. */
__thread uintptr_t _tally_thread_id_tls __attribute__((tls_model("initial-exec"), visibility("default")))
    = TALLY_THREAD_ID_NONE;
static uint64_t next_thread_id = 2;
static pthread_key_t tstate_key;
static pthread_once_t tstate_key_once = PTHREAD_ONCE_INIT;

static void tstate_destructor(void *p);

static void make_key(void)
{
    pthread_key_create(&tstate_key, tstate_destructor);
}

tally_thread_state *_tally_tstate_require(const char *what)
{
    tally_thread_state *ts = _tally_tstate_tls;
    if (tally_likely(ts && tally_atomic_load_relaxed(&ts->state) == TALLY_TS_ATTACHED))
        return ts;
    _tally_misuse(NULL, "%s: the calling thread is not attached (call tally_thread_attach first)", what);
    return NULL;
}

/* ---- attach / detach transitions (GIL or stop-the-world aware) ---------------------------- */
static void do_attach(tally_thread_state *ts)
{
#if defined(TALLY_RC_GIL)
    _tally_gil_take(ts, true);   /* an attach follows a voluntary release: priority in fair mode */
    tally_atomic_store_relaxed(&ts->state, TALLY_TS_ATTACHED);
#else
    _tally_stw_attach(ts);
#endif
    _tally_qsbr_online();     /* before the backend's hook and this thread's first object access */
    _tally_rc_on_attach(ts);
}

static void do_detach(tally_thread_state *ts)
{
    _tally_rc_on_detach(ts);
    _tally_qsbr_offline();    /* after the backend's hook (deferred ships its log there) */
#if defined(TALLY_RC_GIL)
    tally_atomic_store_relaxed(&ts->state, TALLY_TS_DETACHED);
    _tally_gil_drop(ts, false);
#else
    _tally_stw_detach(ts);
#endif
}

static tally_thread_state *create_tstate(void)
{
    tally_thread_state *ts = mi_zalloc(sizeof *ts);
    if (!ts)
        return NULL;
    /* A new id even for a thread that had a state before (tally_thread_release, then attach):
     * objects of its old state are merged by whoever drops them, as an exited thread's. */
    _tally_thread_id_tls = (uintptr_t)tally_atomic_fetch_add_relaxed(&next_thread_id, 1);
    ts->tid = _tally_thread_id();
    ts->thread = pthread_self();
    ts->state = TALLY_TS_DETACHED;
    _tally_registry_lock();
    ts->serial = ++_tally_runtime.next_serial;
    ts->next = _tally_runtime.threads;
    if (ts->next)
        ts->next->prev = ts;
    _tally_runtime.threads = ts;
    _tally_runtime.nthreads++;
    _tally_registry_unlock();
    _tally_tstate_tls = ts;
    pthread_once(&tstate_key_once, make_key);
    pthread_setspecific(tstate_key, ts);
    return ts;
}

static void unlink_tstate(tally_thread_state *ts)
{
    /* Caller holds the registry lock. */
    if (ts->prev)
        ts->prev->next = ts->next;
    else
        _tally_runtime.threads = ts->next;
    if (ts->next)
        ts->next->prev = ts->prev;
    _tally_runtime.nthreads--;
    _tally_runtime.allocated_by_dead_threads += tally_atomic_load_relaxed(&ts->allocated);
    _tally_runtime.freed_by_dead_threads += tally_atomic_load_relaxed(&ts->freed);
}

int tally_thread_attach(void)
{
    if (!tally_atomic_load_acquire(&_tally_runtime.initialized)) {
        _tally_set_error("tally_thread_attach: the runtime is not initialised (call tally_init)");
        return -1;
    }
    tally_thread_state *ts = _tally_tstate_tls;
    if (ts && tally_atomic_load_relaxed(&ts->state) == TALLY_TS_ATTACHED)
        return 0;
    bool first = false;
    if (!ts) {
        ts = create_tstate();
        if (!ts) {
            _tally_set_error("tally_thread_attach: out of memory");
            return -1;
        }
        first = true;
    }
    do_attach(ts);
    if (first) {
        /* Online from here on (sync/qsbr.c): before the backend links the thread anywhere other
         * threads' grace periods or lock-free reads could see it.  A failed set-up is undone by
         * the release, which unregisters. */
        _tally_qsbr_thread_register(ts);
        if (_tally_rc_thread_init(ts) != 0 || _tally_gc_thread_init(ts) != 0) {
            tally_thread_release();
            if (!*tally_last_error())
                _tally_set_error("tally_thread_attach: thread set-up failed");
            return -1;
        }
    }
    return 0;
}

void tally_thread_detach(void)
{
    tally_thread_state *ts = _tally_tstate_tls;
    if (!ts || tally_atomic_load_relaxed(&ts->state) != TALLY_TS_ATTACHED) {
        _tally_misuse(NULL, "tally_thread_detach: the calling thread is not attached");
        return;
    }
    do_detach(ts);
}

bool tally_thread_is_attached(void)
{
    tally_thread_state *ts = _tally_tstate_tls;
    return ts && tally_atomic_load_relaxed(&ts->state) == TALLY_TS_ATTACHED;
}

static void release_tstate(tally_thread_state *ts)
{
    if (tally_atomic_load_relaxed(&ts->state) != TALLY_TS_ATTACHED)
        do_attach(ts);
    ts->released = 1;
    /* Hand over what the thread still owns while it can still run Tally code. */
    _tally_rc_thread_fini(ts);
    _tally_gc_thread_fini(ts);
    mi_free(ts->trash);
    ts->trash = NULL;
    ts->trash_len = ts->trash_cap = 0;
    do_detach(ts);
    /* Offline already; after the backend's last hook, whose frees (deferred's teardown in its
     * detach) still go through the batches of a registered thread. */
    _tally_qsbr_thread_unregister(ts);
    /* Detached (possibly suspended by a stop-the-world: then the registry lock waits for it). */
    pthread_mutex_lock(&_tally_runtime.registry_lock);
    unlink_tstate(ts);
    pthread_mutex_unlock(&_tally_runtime.registry_lock);
    _tally_tstate_tls = NULL;
    _tally_thread_id_tls = TALLY_THREAD_ID_NONE;   /* after the last object access of the state */
    pthread_setspecific(tstate_key, NULL);
    mi_free(ts);
}

void tally_thread_release(void)
{
    tally_thread_state *ts = _tally_tstate_tls;
    if (!ts)
        return;
    release_tstate(ts);
}

static void tstate_destructor(void *p)
{
    tally_thread_state *ts = p;
    if (!ts || !tally_atomic_load_acquire(&_tally_runtime.initialized))
        return;
    _tally_tstate_tls = ts;   /* TLS may already be torn down in this order; restore it */
    release_tstate(ts);
}

/* ---- safepoints -------------------------------------------------------------------------- */
void _tally_handle_pending(tally_thread_state *ts)
{
    unsigned bits = tally_atomic_load_relaxed(&ts->breaker);
    if (bits & TALLY_BREAK_STOP)
        _tally_stw_park(ts);
#if defined(TALLY_RC_GIL)
    if (bits & TALLY_BREAK_GIL_DROP) {
        tally_atomic_store_relaxed(&ts->state, TALLY_TS_DETACHED);
        _tally_gil_drop(ts, true);
        _tally_gil_take(ts, false);  /* CPU-bound: asked to drop, queues as a normal waiter */
        tally_atomic_store_relaxed(&ts->state, TALLY_TS_ATTACHED);
    }
#endif
    if (bits & (TALLY_BREAK_MERGE | TALLY_BREAK_RC)) {
        _tally_rc_handle_pending(ts, bits & (TALLY_BREAK_MERGE | TALLY_BREAK_RC));
        _tally_memory_trim_check(ts);
    }
    if (bits & TALLY_BREAK_GC) {
        tally_atomic_fetch_and(&ts->breaker, ~TALLY_BREAK_GC);
        _tally_gc_run_scheduled(ts);
    }
    if (bits & TALLY_BREAK_TRIM)
        _tally_memory_trim_handle(ts);
}

void tally_safepoint(void)
{
    tally_thread_state *ts = _tally_tstate_require("tally_safepoint");
    if (!ts)
        return;
    if (tally_unlikely(tally_atomic_load_relaxed(&ts->breaker) != 0))
        _tally_handle_pending(ts);
    _tally_qsbr_quiescent();   /* before the backend's hook (deferred reads its epoch after it) */
    _tally_rc_safepoint(ts);
}

tally_thread_state *_tally_allow_threads_begin(void)
{
    tally_thread_state *ts = _tally_tstate_tls;
    if (!ts || tally_atomic_load_relaxed(&ts->state) != TALLY_TS_ATTACHED) {
        _tally_misuse(NULL, "TALLY_BEGIN_ALLOW_THREADS: the calling thread is not attached");
        return NULL;
    }
    do_detach(ts);
    return ts;
}

void _tally_allow_threads_end(tally_thread_state *ts)
{
    if (!ts)
        return;
    do_attach(ts);
}

/* ---- fork -------------------------------------------------------------------------------- */
/* Child: only the forking thread survives.  The backend and the collector adopt what the other
 * thread states held (their memory is intact in the child), then those states are dropped. */
void _tally_threads_fork_child(void)
{
    tally_thread_state *self = _tally_tstate_tls;
    pthread_mutex_init(&_tally_runtime.registry_lock, NULL);
    _tally_stw_fork_child();
#if defined(TALLY_RC_GIL)
    _tally_gil_fork_child(self);
#endif
    _tally_qsbr_fork_child();
    _tally_rc_fork_child();
    _tally_gc_fork_child();
    tally_thread_state *ts = _tally_runtime.threads;
    while (ts) {
        tally_thread_state *next = ts->next;
        if (ts != self) {
            unlink_tstate(ts);
            mi_free(ts->trash);
            mi_free(ts);
        } else {
            ts->thread = pthread_self();
            ts->tid = _tally_thread_id();
            tally_atomic_store_relaxed(&ts->breaker, 0);
        }
        ts = next;
    }
}
