/* interp/obj_gen.c - generator objects.
 *
 * Owns: the generator type (what calling a generator function returns): resuming its suspended
 * frame (next, send, iteration), StopIteration with the returned value, PEP 479 (a StopIteration
 * escaping the body becomes RuntimeError), close() (GeneratorExit thrown in at the yield), the
 * finalizer that closes a generator dropped while suspended inside try/with (PEP 442: it may run
 * code, so it runs outside the collector's stopped world), and the collector's view of it.
 *
 * The frame is on the heap, not the LIFO frame stack (eval.c allocates it so for a code object
 * with is_generator), and the generator holds the only pointer to it: the frame holds strong
 * references (function, code, locals, the saved evaluation stack), so the generator is a GC
 * container whose traverse visits them; a cycle through a suspended frame (a generator stored
 * in one of its own locals, or reachable from an object it holds) is left to the collector.
 * A running generator's frame is not traversed: its saved stack pointer is stale between calls,
 * and it is reachable from the running C stack anyway, so the collector treats its references
 * as external (it never frees what a running frame holds).
 * Threads: `running` is the generator's lock.  A resume or close takes it with a
 * compare-and-swap (acquire) and gives it back with a release store; a second thread finds it
 * taken and gets "generator already executing", as in CPython.  Every other field is touched
 * only by the thread holding it, by the collector (world stopped, or the last reference gone)
 * and by the finalizer (last reference gone).
 */
#include "interp.h"

#include <stdlib.h>

static bool gen_enter(py_gen *g)
{
    bool expected = false;
    if (tally_atomic_cas_acq_rel(&g->running, &expected, true)) return true;
    py_err_set(exc_ValueError, "generator already executing");
    return false;
}
static void gen_leave(py_gen *g) { tally_atomic_store_release(&g->running, false); }

static int gen_traverse(tally_object *self, tally_visitproc visit, void *arg)
{
    py_gen *g = (py_gen *)self;
    int r;
    if (g->retval && (r = visit(g->retval, arg))) return r;
    if (g->frame && !g->running) return eval_frame_traverse(g->frame, visit, arg);
    return 0;
}

static int gen_clear(tally_object *self)
{
    py_gen *g = (py_gen *)self;
    tally_object *rv = g->retval;
    g->retval = NULL;
    tally_xdecref(rv);
    if (g->frame && !g->running) {
        struct frame *f = g->frame;
        g->frame = NULL;
        eval_frame_release(f);
    }
    return 0;
}

/* close(): throw GeneratorExit in at the yield; 0, or -1 with an exception */
static int gen_close_impl(py_gen *g)
{
    if (!gen_enter(g)) return -1;
    if (!g->frame) {
        gen_leave(g);
        return 0;
    }
    if (!g->started) {
        /* never started: nothing to run, the frame (its arguments) is just dropped */
        struct frame *f = g->frame;
        g->frame = NULL;
        gen_leave(g);
        eval_frame_release(f);
        return 0;
    }
    tally_object *empty = py_tuple_pack(0, NULL);
    tally_object *e = empty ? py_exc_new(exc_GeneratorExit, empty) : NULL;
    tally_xdecref(empty);
    if (!e) {
        gen_leave(g);
        return -1;
    }
    py_err_set_obj(e);
    tally_object *v = eval_resume(g->frame, NULL, true);
    gen_leave(g);
    if (v) {
        tally_decref(v);
        py_err_set(exc_RuntimeError, "generator ignored GeneratorExit");
        return -1;
    }
    tally_object *exc = py_err_occurred();
    if (exc && (py_exc_matches(exc, exc_GeneratorExit) || py_exc_matches(exc, exc_StopIteration)))
        py_err_clear();
    return py_err_occurred() ? -1 : 0;
}

/* PEP 442 finalizer: a generator dropped while suspended inside try/finally or with is closed,
 * so its finally blocks and __exit__ run (CPython does the same).  The exception being handled
 * around the death is kept; one raised by the closing is reported and dropped. */
static void gen_finalize(tally_object *self)
{
    py_gen *g = (py_gen *)self;
    if (!g->frame || !g->started || g->running || I->finalizing || !eval_frame_in_try(g->frame))
        return;
    tally_object *saved = py_err_fetch();
    if (gen_close_impl(g) < 0) {
        tally_object *e = py_err_fetch();
        py_flush_stdout();
        fprintf(stderr, "Exception ignored in: <generator object %s>\n", tally_str_value(g->qualname));
        if (e) {
            py_print_exception(e, stderr);
            tally_decref(e);
        }
    }
    if (saved) py_err_set_obj(saved);
}

static void gen_destroy(tally_object *self)
{
    py_gen *g = (py_gen *)self;
    g->running = false;
    gen_clear(self);
    tally_xdecref(g->name);
    tally_xdecref(g->qualname);
}

const tally_type py_gen_type = { .name = "generator", .size = sizeof(py_gen), .flags = TALLY_TYPE_GC,
                                 .traverse = gen_traverse, .clear = gen_clear, .finalize = gen_finalize,
                                 .destroy = gen_destroy };

tally_object *py_gen_new(struct frame *f, tally_object *name, tally_object *qualname)
{
    py_gen *g = (py_gen *)tally_new(&py_gen_type);
    if (!g) return py_err_nomem();
    g->frame = f;
    g->name = tally_newref(name);
    g->qualname = tally_newref(qualname);
    return (tally_object *)g;
}

void py_gen_frame_ended(tally_object *gen)
{
    ((py_gen *)gen)->frame = NULL;
}

/* Resume with `sent` (borrowed; None for next()).  The yielded value, or NULL: finished (no
 * exception; a returned value other than None is kept in retval) or an exception. */
static tally_object *gen_send_ex(py_gen *g, tally_object *sent)
{
    if (!gen_enter(g)) return NULL;
    if (!g->frame) {
        gen_leave(g);
        return NULL;
    }
    if (!g->started && sent != py_None) {
        gen_leave(g);
        py_err_set(exc_TypeError, "can't send non-None value to a just-started generator");
        return NULL;
    }
    tally_object *in = g->started ? tally_newref(sent) : NULL;
    g->started = true;
    tally_incref((tally_object *)g);   /* the frame may drop the last other reference */
    tally_object *v = eval_resume(g->frame, in, false);
    if (!g->frame) {
        /* the frame ended: v is what it returned, or NULL with its exception */
        if (v) {
            if (v != py_None) {
                /* exchanged: py_gen_stop_iteration may take it in another thread */
                tally_object *old = tally_atomic_exchange_acq_rel(&g->retval, v);
                tally_xdecref(old);
            } else {
                tally_decref(v);
            }
            v = NULL;
        } else if (py_exc_matches(py_err_occurred(), exc_StopIteration)) {
            py_err_clear();
            py_err_set(exc_RuntimeError, "generator raised StopIteration");
        }
    }
    gen_leave(g);
    tally_decref((tally_object *)g);
    return v;
}

tally_object *py_gen_next(tally_object *gen)
{
    return gen_send_ex((py_gen *)gen, py_None);
}

tally_object *py_gen_stop_iteration(tally_object *gen)
{
    py_gen *g = (py_gen *)gen;
    tally_object *rv = tally_atomic_exchange_acq_rel(&g->retval, NULL);
    tally_object *args = py_tuple_pack(rv ? 1 : 0, &rv);
    tally_xdecref(rv);
    if (!args) return NULL;
    tally_object *e = py_exc_new(exc_StopIteration, args);
    tally_decref(args);
    if (e) py_err_set_obj(e);
    return NULL;
}

tally_object *py_gen_send(tally_object *self, tally_object *const *args, size_t nargs, tally_object *kwnames)
{
    if (kwnames || nargs != 1 || TYPE(self) != &py_gen_type) {
        py_err_format(exc_TypeError, "send() takes exactly one argument (%zu given)", nargs);
        return NULL;
    }
    tally_object *v = gen_send_ex((py_gen *)self, args[0]);
    if (v || py_err_occurred()) return v;
    return py_gen_stop_iteration(self);
}

tally_object *py_gen_close(tally_object *self, tally_object *const *args, size_t nargs, tally_object *kwnames)
{
    (void)args;
    if (kwnames || nargs != 0 || TYPE(self) != &py_gen_type) {
        py_err_format(exc_TypeError, "close() takes no arguments (%zu given)", nargs);
        return NULL;
    }
    if (gen_close_impl((py_gen *)self) < 0) return NULL;
    return tally_newref(py_None);
}
