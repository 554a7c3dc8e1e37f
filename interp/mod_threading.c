/* interp/mod_threading.c - the threading module: Python threads on attached Tally threads.
 *
 * Owns: thread start-up and exit (each Python thread is a pthread that attaches to Tally, gets
 * its own interp_state, frame stack and QSBR record, runs its target and releases all of it),
 * the thread handles that join waits on, Lock and RLock, threading.local (a dict per thread,
 * keyed by the thread's serial number), get_ident, the wait for running threads at exit, and
 * the Python half of the module (Thread, current_thread, main_thread, active_count, enumerate,
 * Condition, Event, Semaphore, BoundedSemaphore, Barrier, Timer, on Lock as CPython's
 * threading.py builds them), which is Python source run in the module's dict.
 *
 * Blocking: join, a contended acquire and the start-up handshake wait detached from Tally and
 * offline for the interpreter's QSBR (PY_BEGIN_BLOCKING), so a stop-the-world, the GIL's next
 * holder and delayed decrefs never wait for them.  The pthread mutexes inside handles and locks
 * are leaves: held only for a few field updates (a cond wait releases them), never across an
 * attach, an allocation or Python code, so an attached thread may block on one briefly.
 */
#include "interp.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define THREAD_STACK_SIZE ((size_t)16 << 20)

static int64_t thread_serials = 1;   /* the main thread is 1 (main.c) */

/* running threads (not counting the main one), and those of them that are daemons */
static pthread_mutex_t run_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t run_cv = PTHREAD_COND_INITIALIZER;
static int nrunning, ndaemons;

/* ---- handles ------------------------------------------------------------------------------- */
typedef struct tshared {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int refs;          /* the handle object and the thread (under mu) */
    bool started, done;
    int64_t ident;
} tshared;
typedef struct { TALLY_OBJECT_HEAD; tshared *sh; } py_thandle;

static void tshared_unref(tshared *sh)
{
    pthread_mutex_lock(&sh->mu);
    bool last = --sh->refs == 0;
    pthread_mutex_unlock(&sh->mu);
    if (last) {
        pthread_mutex_destroy(&sh->mu);
        pthread_cond_destroy(&sh->cv);
        free(sh);
    }
}
static void thandle_destroy(tally_object *self)
{
    py_thandle *h = (py_thandle *)self;
    if (h->sh) tshared_unref(h->sh);
    h->sh = NULL;
}
const tally_type py_thandle_type = { .name = "_thread._ThreadHandle", .size = sizeof(py_thandle),
                                     .destroy = thandle_destroy };

/* the CLOCK_REALTIME time `timeout` seconds (>= 0) from now, for pthread_cond_timedwait */
static struct timespec deadline_after(double timeout)
{
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    double s = floor(timeout);
    dl.tv_sec += (time_t)s;
    dl.tv_nsec += (long)((timeout - s) * 1e9);
    if (dl.tv_nsec >= 1000000000L) {
        dl.tv_sec++;
        dl.tv_nsec -= 1000000000L;
    }
    return dl;
}

/* one wait on cv (mu held) until signalled or the deadline (NULL: none); false on time-out */
static bool wait_once(pthread_mutex_t *mu, pthread_cond_t *cv, const struct timespec *dl)
{
    if (!dl) return pthread_cond_wait(cv, mu), true;
    return pthread_cond_timedwait(cv, mu, dl) != ETIMEDOUT;
}

/* wait on cv (mu held) until *flag or the deadline (timeout < 0: none); detached */
static void wait_flag(pthread_mutex_t *mu, pthread_cond_t *cv, bool *flag, double timeout)
{
    struct timespec dl = timeout >= 0 ? deadline_after(timeout) : (struct timespec){ 0, 0 };
    while (!*flag && wait_once(mu, cv, timeout >= 0 ? &dl : NULL)) {
    }
}

/* timeout argument: None or a number >= 0 (-1 from None) */
static int arg_timeout(tally_object *o, double *out)
{
    *out = -1;
    if (!o || o == py_None) return 0;
    if (py_arg_double(o, out) < 0) return -1;
    if (*out < 0) {
        py_err_set(exc_ValueError, "timeout value must be a non-negative number");
        return -1;
    }
    return 0;
}

static tally_object *handle_join(tally_object *self, tally_object *const *args, size_t nargs, tally_object *kwnames)
{
    if (py_arg_count("join", nargs, kwnames, 0, 1) < 0) return NULL;
    double timeout;
    if (arg_timeout(nargs ? args[0] : NULL, &timeout) < 0) return NULL;
    tshared *sh = ((py_thandle *)self)->sh;
    if (sh->ident == (int64_t)pthread_self()) {
        py_err_set(exc_RuntimeError, "cannot join current thread");
        return NULL;
    }
    PY_BEGIN_BLOCKING
    pthread_mutex_lock(&sh->mu);
    wait_flag(&sh->mu, &sh->cv, &sh->done, timeout);
    pthread_mutex_unlock(&sh->mu);
    PY_END_BLOCKING
    return tally_newref(py_None);
}

static tally_object *handle_done(tally_object *self, tally_object *const *args, size_t nargs, tally_object *kwnames)
{
    (void)args;
    if (py_arg_count("is_done", nargs, kwnames, 0, 0) < 0) return NULL;
    tshared *sh = ((py_thandle *)self)->sh;
    pthread_mutex_lock(&sh->mu);
    bool done = sh->done;
    pthread_mutex_unlock(&sh->mu);
    return py_bool(done);
}

static tally_object *handle_ident(tally_object *self, tally_object *const *args, size_t nargs, tally_object *kwnames)
{
    (void)args;
    if (py_arg_count("ident", nargs, kwnames, 0, 0) < 0) return NULL;
    /* written by the thread before start() returned (under mu; start waited for it) */
    return py_int_checked(((py_thandle *)self)->sh->ident);
}

/* ---- thread start and exit ----------------------------------------------------------------- */
typedef struct tstart {
    tshared *sh;
    tally_object *func;       /* strong: moved to the thread */
    bool daemon;
    interp_state state;       /* the starting thread's, copied there (shared fields only used) */
} tstart;

static void thread_finished(bool daemon)
{
    pthread_mutex_lock(&run_mu);
    nrunning--;
    if (daemon) ndaemons--;
    pthread_cond_broadcast(&run_cv);
    pthread_mutex_unlock(&run_mu);
}

static void forget_locals(void);   /* threading.local, below */

static void *thread_main(void *arg)
{
    tstart *st = arg;
    tshared *sh = st->sh;
    bool daemon = st->daemon;
    interp_state ts;
    memset(&ts, 0, sizeof ts);
    ts.recursion_limit = st->state.recursion_limit;
    ts.builtins = st->state.builtins;
    ts.sys_module = st->state.sys_module;
    ts.modules = st->state.modules;
    ts.main_globals = st->state.main_globals;
    ts.script_dir = st->state.script_dir;
    char stack_mark;
    ts.stack_base = &stack_mark;
    ts.stack_budget = THREAD_STACK_SIZE - (1u << 20);
    I = &ts;
    py_thread_serial = tally_atomic_fetch_add(&thread_serials, 1) + 1;
    bool attached = tally_thread_attach() == 0;
    if (attached && py_qsbr_thread_online() < 0) {
        /* no QSBR record: this thread cannot run Python code safely; give up at once */
        fprintf(stderr, "threading: out of memory starting a thread\n");
        tally_decref(st->func);
        st->func = NULL;
    }
    pthread_mutex_lock(&sh->mu);
    sh->ident = (int64_t)pthread_self();
    sh->started = true;
    pthread_cond_broadcast(&sh->cv);
    pthread_mutex_unlock(&sh->mu);
    if (!attached) {
        fprintf(stderr, "threading: cannot attach a thread: %s\n", tally_last_error());
    } else if (st->func) {
        tally_object *r = py_call(st->func, NULL, 0, NULL);
        if (r) {
            tally_decref(r);
        } else {
            tally_object *e = py_err_fetch();
            if (e && !py_exc_matches(e, exc_SystemExit)) {
                py_flush_stdout();
                fprintf(stderr, "Unhandled exception in thread started by %s\n", py_type_name(st->func));
                py_print_exception(e, stderr);
            }
            tally_xdecref(e);
        }
        tally_decref(st->func);
        py_err_clear();
        forget_locals();
        py_qsbr_thread_exit();
        eval_thread_fini();
        tally_thread_release();
    }
    free(st);
    /* after the release: a joiner (or the exit path) finds the thread gone from Tally */
    pthread_mutex_lock(&sh->mu);
    sh->done = true;
    pthread_cond_broadcast(&sh->cv);
    pthread_mutex_unlock(&sh->mu);
    tshared_unref(sh);
    thread_finished(daemon);
    return NULL;
}

/* _start(func, daemon): run func() in a new thread; returns its handle once it has started */
static tally_object *th_start(tally_object *self, tally_object *const *args, size_t nargs, tally_object *kwnames)
{
    (void)self;
    if (py_arg_count("_start", nargs, kwnames, 2, 2) < 0) return NULL;
    int daemon = py_truth(args[1]);
    if (daemon < 0) return NULL;
    py_thandle *h = (py_thandle *)tally_new(&py_thandle_type);
    tshared *sh = calloc(1, sizeof *sh);
    tstart *st = malloc(sizeof *st);
    if (!h || !sh || !st) {
        if (h) tally_decref((tally_object *)h);
        free(sh);
        free(st);
        return py_err_nomem();
    }
    pthread_mutex_init(&sh->mu, NULL);
    pthread_cond_init(&sh->cv, NULL);
    sh->refs = 2;
    h->sh = sh;
    st->sh = sh;
    st->func = tally_newref(args[0]);
    st->daemon = daemon;
    st->state = *I;
    pthread_mutex_lock(&run_mu);
    nrunning++;
    if (daemon) ndaemons++;
    pthread_mutex_unlock(&run_mu);
    pthread_attr_t attr;
    pthread_t tid;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, THREAD_STACK_SIZE);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    int rc = pthread_create(&tid, &attr, thread_main, st);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        thread_finished(daemon);
        tally_decref(st->func);
        free(st);
        sh->refs = 1;
        tally_decref((tally_object *)h);
        py_err_set(exc_RuntimeError, "can't start new thread");
        return NULL;
    }
    /* as CPython's start(): return once the thread runs (its ident is then known) */
    PY_BEGIN_BLOCKING
    pthread_mutex_lock(&sh->mu);
    wait_flag(&sh->mu, &sh->cv, &sh->started, -1);
    pthread_mutex_unlock(&sh->mu);
    PY_END_BLOCKING
    return (tally_object *)h;
}

void threading_wait_all(void)
{
    pthread_mutex_lock(&run_mu);
    bool waiting = nrunning > ndaemons;
    pthread_mutex_unlock(&run_mu);
    if (!waiting) return;
    PY_BEGIN_BLOCKING
    pthread_mutex_lock(&run_mu);
    while (nrunning > ndaemons) pthread_cond_wait(&run_cv, &run_mu);
    pthread_mutex_unlock(&run_mu);
    PY_END_BLOCKING
}

int threading_running(void)
{
    pthread_mutex_lock(&run_mu);
    int n = nrunning;
    pthread_mutex_unlock(&run_mu);
    return n;
}

static tally_object *th_get_ident(tally_object *self, tally_object *const *args, size_t nargs, tally_object *kwnames)
{
    (void)self;
    (void)args;
    if (py_arg_count("get_ident", nargs, kwnames, 0, 0) < 0) return NULL;
    return py_int_checked((int64_t)pthread_self());
}

/* _print_exc(name, exc): the report of an exception that ended a thread (threading.excepthook) */
static tally_object *th_print_exc(tally_object *self, tally_object *const *args, size_t nargs, tally_object *kwnames)
{
    (void)self;
    if (py_arg_count("_print_exc", nargs, kwnames, 2, 2) < 0) return NULL;
    tally_object *name = py_str(args[0]);
    if (!name) return NULL;
    py_flush_stdout();
    fprintf(stderr, "Exception in thread %s:\n", tally_str_value(name));
    tally_decref(name);
    py_print_exception(args[1], stderr);
    fflush(stderr);
    return tally_newref(py_None);
}

static tally_object *th_perf_counter(tally_object *self, tally_object *const *args, size_t nargs, tally_object *kwnames)
{
    (void)self;
    (void)args;
    if (py_arg_count("_perf_counter", nargs, kwnames, 0, 0) < 0) return NULL;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return py_float_new((double)ts.tv_sec + (double)ts.tv_nsec * 1e-9);
}

/* ---- Lock and RLock ------------------------------------------------------------------------ */
typedef struct {
    TALLY_OBJECT_HEAD;
    pthread_mutex_t mu;   /* guards count and owner; a leaf */
    pthread_cond_t cv;
    uint64_t count;       /* 0: free; RLock: recursion depth */
    int64_t owner;        /* py_thread_serial of the holder */
    bool rlock;
} py_lockobj;

static void lock_destroy(tally_object *self)
{
    py_lockobj *l = (py_lockobj *)self;
    pthread_mutex_destroy(&l->mu);
    pthread_cond_destroy(&l->cv);
}
const tally_type py_lock_type = { .name = "_thread.lock", .size = sizeof(py_lockobj), .destroy = lock_destroy };

static tally_object *lock_new(bool rlock)
{
    py_lockobj *l = (py_lockobj *)tally_new(&py_lock_type);
    if (!l) return py_err_nomem();
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->cv, NULL);
    l->rlock = rlock;
    return (tally_object *)l;
}
static tally_object *th_lock(tally_object *self, tally_object *const *args, size_t nargs, tally_object *kwnames)
{
    (void)self;
    (void)args;
    if (py_arg_count("Lock", nargs, kwnames, 0, 0) < 0) return NULL;
    return lock_new(false);
}
static tally_object *th_rlock(tally_object *self, tally_object *const *args, size_t nargs, tally_object *kwnames)
{
    (void)self;
    (void)args;
    if (py_arg_count("RLock", nargs, kwnames, 0, 0) < 0) return NULL;
    return lock_new(true);
}

/* 1 acquired, 0 not (non-blocking or timed out) */
static int lock_acquire_impl(py_lockobj *l, bool blocking, double timeout)
{
    int64_t me = py_thread_serial;
    pthread_mutex_lock(&l->mu);
    if (l->count && l->rlock && l->owner == me) {
        l->count++;
        pthread_mutex_unlock(&l->mu);
        return 1;
    }
    if (!l->count || !blocking) {
        int got = l->count == 0;
        if (got) {
            l->count = 1;
            l->owner = me;
        }
        pthread_mutex_unlock(&l->mu);
        return got;
    }
    pthread_mutex_unlock(&l->mu);
    int got;
    PY_BEGIN_BLOCKING
    pthread_mutex_lock(&l->mu);
    struct timespec dl = timeout >= 0 ? deadline_after(timeout) : (struct timespec){ 0, 0 };
    while (l->count && wait_once(&l->mu, &l->cv, timeout >= 0 ? &dl : NULL)) {
    }
    got = l->count == 0;
    if (got) {
        l->count = 1;
        l->owner = me;
    }
    pthread_mutex_unlock(&l->mu);
    PY_END_BLOCKING
    return got;
}

static tally_object *lock_acquire(tally_object *self, tally_object *const *args, size_t nargs, tally_object *kwnames)
{
    tally_object *blocking_o = nargs > 0 ? args[0] : NULL, *timeout_o = nargs > 1 ? args[1] : NULL;
    size_t nkw = kwnames ? tally_tuple_len(kwnames) : 0;
    if (nargs > 2) {
        py_err_format(exc_TypeError, "acquire() takes at most 2 arguments (%zu given)", nargs);
        return NULL;
    }
    for (size_t i = 0; i < nkw; i++) {
        const char *k = tally_str_value(tally_tuple_get(kwnames, i));
        if (strcmp(k, "blocking") == 0 && !blocking_o) blocking_o = args[nargs + i];
        else if (strcmp(k, "timeout") == 0 && !timeout_o) timeout_o = args[nargs + i];
        else {
            py_err_format(exc_TypeError, "acquire() got an unexpected keyword argument '%s'", k);
            return NULL;
        }
    }
    int blocking = blocking_o ? py_truth(blocking_o) : 1;
    if (blocking < 0) return NULL;
    double timeout = -1;
    if (timeout_o && py_arg_double(timeout_o, &timeout) < 0) return NULL;
    if (timeout != -1 && !blocking) {
        py_err_set(exc_ValueError, "can't specify a timeout for a non-blocking call");
        return NULL;
    }
    if (timeout < 0 && timeout != -1) {
        py_err_set(exc_ValueError, "timeout value must be a non-negative number");
        return NULL;
    }
    return py_bool(lock_acquire_impl((py_lockobj *)self, blocking, timeout));
}

static tally_object *lock_release(tally_object *self, tally_object *const *args, size_t nargs, tally_object *kwnames)
{
    (void)args;
    (void)nargs;
    (void)kwnames;
    py_lockobj *l = (py_lockobj *)self;
    pthread_mutex_lock(&l->mu);
    const char *err = !l->count ? (l->rlock ? "cannot release un-acquired lock" : "release unlocked lock")
                    : l->rlock && l->owner != py_thread_serial ? "cannot release un-acquired lock" : NULL;
    if (!err && --l->count == 0) pthread_cond_signal(&l->cv);
    pthread_mutex_unlock(&l->mu);
    if (err) {
        py_err_set(exc_RuntimeError, err);
        return NULL;
    }
    return tally_newref(py_None);
}

/* held at all, or (by_me) held by the calling thread: an RLock's owner; a Lock has none */
static bool lock_held(py_lockobj *l, bool by_me)
{
    pthread_mutex_lock(&l->mu);
    bool held = l->count && (!by_me || !l->rlock || l->owner == py_thread_serial);
    pthread_mutex_unlock(&l->mu);
    return held;
}

static tally_object *lock_locked(tally_object *self, tally_object *const *args, size_t nargs, tally_object *kwnames)
{
    (void)args;
    if (py_arg_count("locked", nargs, kwnames, 0, 0) < 0) return NULL;
    return py_bool(lock_held((py_lockobj *)self, false));
}

/* Condition's helpers (CPython's RLock has them too): give the lock up completely, returning
 * what restores it; take it back; whether the calling thread holds it (a Lock: held by anyone) */
static tally_object *lock_release_save(tally_object *self, tally_object *const *args, size_t nargs, tally_object *kwnames)
{
    (void)args;
    if (py_arg_count("_release_save", nargs, kwnames, 0, 0) < 0) return NULL;
    py_lockobj *l = (py_lockobj *)self;
    pthread_mutex_lock(&l->mu);
    bool owned = l->count && (!l->rlock || l->owner == py_thread_serial);
    uint64_t count = owned ? l->count : 0;
    if (owned) {
        l->count = 0;
        pthread_cond_signal(&l->cv);
    }
    pthread_mutex_unlock(&l->mu);
    if (!owned) {
        py_err_set(exc_RuntimeError, "cannot release un-acquired lock");
        return NULL;
    }
    return py_int_checked((int64_t)count);
}

static tally_object *lock_acquire_restore(tally_object *self, tally_object *const *args, size_t nargs, tally_object *kwnames)
{
    if (py_arg_count("_acquire_restore", nargs, kwnames, 1, 1) < 0) return NULL;
    int64_t count;
    if (py_arg_int(args[0], &count) < 0) return NULL;
    py_lockobj *l = (py_lockobj *)self;
    lock_acquire_impl(l, true, -1);
    pthread_mutex_lock(&l->mu);
    l->count = count > 0 ? (uint64_t)count : 1;
    pthread_mutex_unlock(&l->mu);
    return tally_newref(py_None);
}

static tally_object *lock_is_owned(tally_object *self, tally_object *const *args, size_t nargs, tally_object *kwnames)
{
    (void)args;
    if (py_arg_count("_is_owned", nargs, kwnames, 0, 0) < 0) return NULL;
    return py_bool(lock_held((py_lockobj *)self, true));
}

static tally_object *lock_enter(tally_object *self, tally_object *const *args, size_t nargs, tally_object *kwnames)
{
    (void)args;
    if (py_arg_count("__enter__", nargs, kwnames, 0, 0) < 0) return NULL;
    return py_bool(lock_acquire_impl((py_lockobj *)self, true, -1));
}

static tally_object *lock_exit(tally_object *self, tally_object *const *args, size_t nargs, tally_object *kwnames)
{
    (void)args;
    (void)nargs;
    return lock_release(self, NULL, 0, kwnames);
}

/* ---- threading.local ----------------------------------------------------------------------- */
/* Each thread's attributes are a dict in `dicts`, keyed by the thread's serial number (never
 * reused, unlike pthread ids); a thread's dict is taken out when the thread ends (forget_locals). */
typedef struct { TALLY_OBJECT_HEAD; tally_object *dicts; } py_localobj;

PY_ONE_REF_SLOTS(local, py_localobj, dicts)
const tally_type py_local_type = { .name = "_thread._local", .size = sizeof(py_localobj), .flags = TALLY_TYPE_GC,
                                   .traverse = local_traverse, .clear = local_clear, .destroy = local_destroy };

static tally_object *th_local(tally_object *self, tally_object *const *args, size_t nargs, tally_object *kwnames)
{
    (void)self;
    (void)args;
    if (py_arg_count("local", nargs, kwnames, 0, 0) < 0) return NULL;
    tally_object *d = py_dict_new();
    if (!d) return NULL;
    py_localobj *l = (py_localobj *)tally_new(&py_local_type);
    if (!l) {
        tally_decref(d);
        return py_err_nomem();
    }
    l->dicts = d;
    return (tally_object *)l;
}

/* The locals this thread has a dict in, as weak references: when the thread ends its dicts are
 * taken out of them (CPython drops a thread's local dicts at its exit too), so many short threads
 * writing one local do not pile dicts up in it.  Out of memory: the dict stays until the local
 * dies. */
static _Thread_local tally_object **my_locals;
static _Thread_local size_t nmy_locals, capmy_locals;

static void remember_local(tally_object *o)
{
    if (nmy_locals == capmy_locals) {
        size_t cap = capmy_locals ? capmy_locals * 2 : 8;
        tally_object **v = realloc(my_locals, cap * sizeof *v);
        if (!v) return;
        my_locals = v;
        capmy_locals = cap;
    }
    tally_object *wr = tally_weakref_new(o, NULL, NULL);
    if (wr) my_locals[nmy_locals++] = wr;
}

static void forget_locals(void)
{
    tally_object *key = nmy_locals ? py_int_checked(py_thread_serial) : NULL;
    for (size_t i = 0; i < nmy_locals; i++) {
        tally_object *l = key ? tally_weakref_get(my_locals[i]) : NULL;   /* new reference */
        if (l) {
            tally_object *dicts = ((py_localobj *)l)->dicts;
            if (dicts && py_dict_del(dicts, key) < 0) py_err_clear();
            tally_decref(l);
        }
        tally_decref(my_locals[i]);
    }
    tally_xdecref(key);
    free(my_locals);
    my_locals = NULL;
    nmy_locals = capmy_locals = 0;
}

/* the calling thread's attribute dict (borrowed), created when `create`; NULL: none or error */
static tally_object *local_dict(tally_object *o, bool create)
{
    py_localobj *l = (py_localobj *)o;
    if (!l->dicts) return NULL;
    tally_object *key = py_int_checked(py_thread_serial);
    if (!key) return NULL;
    bool err = false;
    tally_object *d = py_dict_lookup(l->dicts, key, &err);
    if (!d && !err && create) {
        tally_object *nd = py_dict_new();
        /* only this thread adds its own key: no other thread can race the insertion */
        if (nd && py_dict_set(l->dicts, key, nd) == 0) {
            d = nd;
            if (py_thread_serial != 1) remember_local(o);   /* the main thread's go with the local */
        }
        tally_xdecref(nd);   /* the dicts dict holds it */
    }
    tally_decref(key);
    return d;
}

tally_object *py_local_getattr(tally_object *o, tally_object *name)
{
    tally_object *d = local_dict(o, false);
    if (py_err_occurred()) return NULL;
    if (d) {
        bool err = false;
        tally_object *v = py_dict_lookup(d, name, &err);
        if (err) return NULL;
        if (v) return tally_newref(v);
    }
    py_err_format(exc_AttributeError, "'_thread._local' object has no attribute '%s'", tally_str_value(name));
    return NULL;
}

int py_local_setattr(tally_object *o, tally_object *name, tally_object *v)
{
    tally_object *d = local_dict(o, v != NULL);
    if (!d) {
        if (!py_err_occurred())
            py_err_format(exc_AttributeError, "'_thread._local' object has no attribute '%s'", tally_str_value(name));
        return -1;
    }
    if (v) return py_dict_set(d, name, v);
    int r = py_dict_del(d, name);
    if (r == 1)
        py_err_format(exc_AttributeError, "'_thread._local' object has no attribute '%s'", tally_str_value(name));
    return r ? -1 : 0;
}

/* ---- methods and the module ---------------------------------------------------------------- */
static tally_object *lock_methods, *handle_methods;

tally_object *threading_method_lookup(tally_object *o, tally_object *name)
{
    tally_object *table = TYPE(o) == &py_lock_type ? lock_methods : TYPE(o) == &py_thandle_type ? handle_methods : NULL;
    if (!table) return NULL;
    bool err = false;
    tally_object *m = py_dict_lookup(table, name, &err);
    if (err) py_err_clear();
    return m;
}

typedef struct { const char *name; py_cfunc fn; } methdef;
static int add_methods(tally_object **table, tally_object *holder, const char *key, const methdef *m, size_t n)
{
    if (*table) return 0;
    tally_object *t = py_dict_new();
    if (!t) return -1;
    for (size_t i = 0; i < n; i++) {
        tally_object *b = py_builtin_new(m[i].name, m[i].fn, NULL);
        if (!b || py_dict_setstr(t, m[i].name, b) < 0) {
            tally_xdecref(b);
            tally_decref(t);
            return -1;
        }
        ((py_builtin *)b)->method = true;
        tally_decref(b);
    }
    /* the module keeps the table alive (and the collector sees it); the pointer is borrowed */
    if (py_dict_setstr(holder, key, t) < 0) {
        tally_decref(t);
        return -1;
    }
    *table = t;
    tally_decref(t);
    return 0;
}

static const char threading_source[] =
    "_counter = 0\n"
    "_active = {}\n"
    "class Thread:\n"
    "    def __init__(self, group=None, target=None, name=None, args=(), kwargs=None, *, daemon=None):\n"
    "        global _counter\n"
    "        if name is None:\n"
    "            _counter += 1\n"
    "            name = 'Thread-%d' % _counter\n"
    "            if target is not None and hasattr(target, '__name__'):\n"
    "                name = name + ' (' + target.__name__ + ')'\n"
    "        self._target = target\n"
    "        self._args = tuple(args)\n"
    "        self._kwargs = {} if kwargs is None else kwargs\n"
    "        self.name = str(name)\n"
    "        if daemon is None:\n"
    "            daemon = current_thread().daemon\n"
    "        self.daemon = bool(daemon)\n"
    "        self.ident = None\n"
    "        self.native_id = None\n"
    "        self._handle = None\n"
    "        self._started = False\n"
    "    def start(self):\n"
    "        if self._started:\n"
    "            raise RuntimeError('threads can only be started once')\n"
    "        self._started = True\n"
    "        self._handle = _start(self._bootstrap_inner, self.daemon)\n"
    "        self.ident = self._handle.ident()\n"
    "        self.native_id = self.ident\n"
    "    def _bootstrap_inner(self):\n"
    "        ident = get_ident()\n"
    "        _active[ident] = self\n"
    "        try:\n"
    "            self.run()\n"
    "        except SystemExit:\n"
    "            pass\n"
    "        except BaseException as e:\n"
    "            _print_exc(self.name, e)\n"
    "        finally:\n"
    "            _active.pop(ident, None)\n"
    "    def run(self):\n"
    "        if self._target is not None:\n"
    "            self._target(*self._args, **self._kwargs)\n"
    "    def join(self, timeout=None):\n"
    "        if not self._started:\n"
    "            raise RuntimeError('cannot join thread before it is started')\n"
    "        if self._handle is None:\n"
    "            raise RuntimeError('cannot join current thread')\n"
    "        self._handle.join(timeout)\n"
    "    def is_alive(self):\n"
    "        return self._started and (self._handle is None or not self._handle.is_done())\n"
    "    def getName(self):\n"
    "        return self.name\n"
    "    def setName(self, name):\n"
    "        self.name = str(name)\n"
    "    def isDaemon(self):\n"
    "        return self.daemon\n"
    "    def setDaemon(self, daemonic):\n"
    "        self.daemon = bool(daemonic)\n"
    "    def __repr__(self):\n"
    "        status = 'initial'\n"
    "        if self._started:\n"
    "            status = 'started' if self.is_alive() else 'stopped'\n"
    "        if self.daemon:\n"
    "            status += ' daemon'\n"
    "        if self.ident is not None:\n"
    "            status += ' %d' % self.ident\n"
    "        return '<%s(%s, %s)>' % (self.__class__.__name__, self.name, status)\n"
    "class _MainThread(Thread):\n"
    "    def __init__(self):\n"
    "        self._target = None\n"
    "        self.name = 'MainThread'\n"
    "        self.daemon = False\n"
    "        self.ident = get_ident()\n"
    "        self.native_id = self.ident\n"
    "        self._handle = None\n"
    "        self._started = True\n"
    "_main_thread = _MainThread()\n"
    "_active[_main_thread.ident] = _main_thread\n"
    "def current_thread():\n"
    "    return _active.get(get_ident(), _main_thread)\n"
    "def main_thread():\n"
    "    return _main_thread\n"
    "def active_count():\n"
    "    return len(_active)\n"
    "def enumerate():\n"
    "    return list(_active.values())\n"
    "def _time():\n"
    "    return _perf_counter()\n"
    "class Condition:\n"
    "    def __init__(self, lock=None):\n"
    "        if lock is None:\n"
    "            lock = RLock()\n"
    "        self._lock = lock\n"
    "        self.acquire = lock.acquire\n"
    "        self.release = lock.release\n"
    "        self._waiters = []\n"
    "    def __enter__(self):\n"
    "        return self._lock.__enter__()\n"
    "    def __exit__(self, *args):\n"
    "        return self._lock.__exit__(*args)\n"
    "    def wait(self, timeout=None):\n"
    "        if not self._lock._is_owned():\n"
    "            raise RuntimeError('cannot wait on un-acquired lock')\n"
    "        waiter = Lock()\n"
    "        waiter.acquire()\n"
    "        self._waiters.append(waiter)\n"
    "        saved = self._lock._release_save()\n"
    "        gotit = False\n"
    "        try:\n"
    "            if timeout is None:\n"
    "                waiter.acquire()\n"
    "                gotit = True\n"
    "            elif timeout > 0:\n"
    "                gotit = waiter.acquire(True, timeout)\n"
    "            else:\n"
    "                gotit = waiter.acquire(False)\n"
    "            return gotit\n"
    "        finally:\n"
    "            self._lock._acquire_restore(saved)\n"
    "            if not gotit:\n"
    "                try:\n"
    "                    self._waiters.remove(waiter)\n"
    "                except ValueError:\n"
    "                    pass\n"
    "    def wait_for(self, predicate, timeout=None):\n"
    "        endtime = None\n"
    "        waittime = timeout\n"
    "        result = predicate()\n"
    "        while not result:\n"
    "            if waittime is not None:\n"
    "                if endtime is None:\n"
    "                    endtime = _time() + waittime\n"
    "                else:\n"
    "                    waittime = endtime - _time()\n"
    "                    if waittime <= 0:\n"
    "                        break\n"
    "            self.wait(waittime)\n"
    "            result = predicate()\n"
    "        return result\n"
    "    def notify(self, n=1):\n"
    "        if not self._lock._is_owned():\n"
    "            raise RuntimeError('cannot notify on un-acquired lock')\n"
    "        for waiter in self._waiters[:n]:\n"
    "            waiter.release()\n"
    "            try:\n"
    "                self._waiters.remove(waiter)\n"
    "            except ValueError:\n"
    "                pass\n"
    "    def notify_all(self):\n"
    "        self.notify(len(self._waiters))\n"
    "    notifyAll = notify_all\n"
    "class Event:\n"
    "    def __init__(self):\n"
    "        self._cond = Condition(Lock())\n"
    "        self._flag = False\n"
    "    def is_set(self):\n"
    "        return self._flag\n"
    "    isSet = is_set\n"
    "    def set(self):\n"
    "        with self._cond:\n"
    "            self._flag = True\n"
    "            self._cond.notify_all()\n"
    "    def clear(self):\n"
    "        with self._cond:\n"
    "            self._flag = False\n"
    "    def wait(self, timeout=None):\n"
    "        with self._cond:\n"
    "            signaled = self._flag\n"
    "            if not signaled:\n"
    "                signaled = self._cond.wait(timeout)\n"
    "            return signaled\n"
    "class Semaphore:\n"
    "    def __init__(self, value=1):\n"
    "        if value < 0:\n"
    "            raise ValueError('semaphore initial value must be >= 0')\n"
    "        self._cond = Condition(Lock())\n"
    "        self._value = value\n"
    "    def acquire(self, blocking=True, timeout=None):\n"
    "        if not blocking and timeout is not None:\n"
    "            raise ValueError(\"can't specify timeout for non-blocking acquire\")\n"
    "        rc = False\n"
    "        endtime = None\n"
    "        with self._cond:\n"
    "            while self._value == 0:\n"
    "                if not blocking:\n"
    "                    break\n"
    "                if timeout is not None:\n"
    "                    if endtime is None:\n"
    "                        endtime = _time() + timeout\n"
    "                    else:\n"
    "                        timeout = endtime - _time()\n"
    "                        if timeout <= 0:\n"
    "                            break\n"
    "                self._cond.wait(timeout)\n"
    "            else:\n"
    "                self._value -= 1\n"
    "                rc = True\n"
    "        return rc\n"
    "    def __enter__(self):\n"
    "        return self.acquire()\n"
    "    def release(self, n=1):\n"
    "        if n < 1:\n"
    "            raise ValueError('n must be one or more')\n"
    "        with self._cond:\n"
    "            self._value += n\n"
    "            for i in range(n):\n"
    "                self._cond.notify()\n"
    "    def __exit__(self, t, v, tb):\n"
    "        self.release()\n"
    "class BoundedSemaphore(Semaphore):\n"
    "    def __init__(self, value=1):\n"
    "        Semaphore.__init__(self, value)\n"
    "        self._initial_value = value\n"
    "    def release(self, n=1):\n"
    "        if n < 1:\n"
    "            raise ValueError('n must be one or more')\n"
    "        with self._cond:\n"
    "            if self._value + n > self._initial_value:\n"
    "                raise ValueError('Semaphore released too many times')\n"
    "            self._value += n\n"
    "            for i in range(n):\n"
    "                self._cond.notify()\n"
    "class Barrier:\n"
    "    def __init__(self, parties, action=None, timeout=None):\n"
    "        self._cond = Condition(Lock())\n"
    "        self._action = action\n"
    "        self.parties = parties\n"
    "        self._count = 0\n"
    "        self._generation = 0\n"
    "    def wait(self, timeout=None):\n"
    "        with self._cond:\n"
    "            generation = self._generation\n"
    "            index = self._count\n"
    "            self._count += 1\n"
    "            if self._count == self.parties:\n"
    "                if self._action is not None:\n"
    "                    self._action()\n"
    "                self._count = 0\n"
    "                self._generation += 1\n"
    "                self._cond.notify_all()\n"
    "            else:\n"
    "                while generation == self._generation:\n"
    "                    self._cond.wait(timeout)\n"
    "            return index\n"
    "class Timer(Thread):\n"
    "    def __init__(self, interval, function, args=None, kwargs=None):\n"
    "        Thread.__init__(self)\n"
    "        self.interval = interval\n"
    "        self.function = function\n"
    "        self.args = args if args is not None else []\n"
    "        self.kwargs = kwargs if kwargs is not None else {}\n"
    "        self.finished = Event()\n"
    "    def cancel(self):\n"
    "        self.finished.set()\n"
    "    def run(self):\n"
    "        self.finished.wait(self.interval)\n"
    "        if not self.finished.is_set():\n"
    "            self.function(*self.args, **self.kwargs)\n"
    "        self.finished.set()\n"
    "get_native_id = get_ident\n"
    "currentThread = current_thread\n"
    "activeCount = active_count\n";

int mod_threading_init(tally_object *d)
{
    static const methdef lockm[] = {
        { "acquire", lock_acquire }, { "release", lock_release }, { "locked", lock_locked },
        { "__enter__", lock_enter }, { "__exit__", lock_exit },
        { "acquire_lock", lock_acquire }, { "release_lock", lock_release },
        { "_release_save", lock_release_save }, { "_acquire_restore", lock_acquire_restore },
        { "_is_owned", lock_is_owned },
    };
    static const methdef handlem[] = {
        { "join", handle_join }, { "is_done", handle_done }, { "ident", handle_ident },
    };
    if (add_methods(&lock_methods, I->builtins, "$lock_methods", lockm, sizeof lockm / sizeof lockm[0]) < 0 ||
        add_methods(&handle_methods, I->builtins, "$handle_methods", handlem,
                    sizeof handlem / sizeof handlem[0]) < 0)
        return -1;
    if (py_add_fn(d, "_start", th_start) < 0 || py_add_fn(d, "get_ident", th_get_ident) < 0 ||
        py_add_fn(d, "_print_exc", th_print_exc) < 0 || py_add_fn(d, "Lock", th_lock) < 0 ||
        py_add_fn(d, "RLock", th_rlock) < 0 || py_add_fn(d, "local", th_local) < 0 ||
        py_add_fn(d, "allocate_lock", th_lock) < 0 || py_add_fn(d, "_perf_counter", th_perf_counter) < 0)
        return -1;
    return py_exec_source(d, threading_source, "<threading>");
}
