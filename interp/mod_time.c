/* interp/mod_time.c - the built-in module `time`.
 *
 * Owns: perf_counter, perf_counter_ns (CLOCK_MONOTONIC), time (CLOCK_REALTIME), and sleep, which
 * detaches the calling Tally thread while it sleeps (a blocking call must not hold up a
 * stop-the-world or, under gil, the lock) and attaches it again after.
 */
#include "interp.h"

#include <errno.h>
#include <math.h>
#include <time.h>

static double clock_seconds(clockid_t c)
{
    struct timespec ts;
    clock_gettime(c, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static tally_object *t_perf_counter(tally_object *self, tally_object *const *args, size_t nargs, tally_object *kwnames)
{
    (void)self; (void)args;
    if (py_arg_count("perf_counter", nargs, kwnames, 0, 0) < 0) return NULL;
    return py_float_new(clock_seconds(CLOCK_MONOTONIC));
}

static tally_object *t_perf_counter_ns(tally_object *self, tally_object *const *args, size_t nargs, tally_object *kwnames)
{
    (void)self; (void)args;
    if (py_arg_count("perf_counter_ns", nargs, kwnames, 0, 0) < 0) return NULL;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return py_int_checked((__int128)ts.tv_sec * 1000000000 + ts.tv_nsec);
}

static tally_object *t_time(tally_object *self, tally_object *const *args, size_t nargs, tally_object *kwnames)
{
    (void)self; (void)args;
    if (py_arg_count("time", nargs, kwnames, 0, 0) < 0) return NULL;
    return py_float_new(clock_seconds(CLOCK_REALTIME));
}

static tally_object *t_sleep(tally_object *self, tally_object *const *args, size_t nargs, tally_object *kwnames)
{
    (void)self;
    double secs;
    if (py_arg_count("sleep", nargs, kwnames, 1, 1) < 0 || py_arg_double(args[0], &secs) < 0) return NULL;
    if (isnan(secs)) {
        py_err_set(exc_ValueError, "Invalid value NaN (not a number)");
        return NULL;
    }
    if (secs < 0) {
        py_err_set(exc_ValueError, "sleep length must be non-negative");
        return NULL;
    }
    struct timespec ts;
    ts.tv_sec = (time_t)secs;
    ts.tv_nsec = (long)((secs - (double)ts.tv_sec) * 1e9);
    /* detached (CPython's Py_BEGIN_ALLOW_THREADS): no Tally object is touched until the thread
     * attaches again, so a stop-the-world or the GIL's next holder does not wait for the sleep;
     * offline for the interpreter's QSBR too, so no delayed decref waits for it */
    PY_BEGIN_BLOCKING
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
    PY_END_BLOCKING
    return tally_newref(py_None);
}

int mod_time_init(tally_object *d)
{
    if (py_add_fn(d, "perf_counter", t_perf_counter) < 0 || py_add_fn(d, "perf_counter_ns", t_perf_counter_ns) < 0 ||
        py_add_fn(d, "time", t_time) < 0 || py_add_fn(d, "sleep", t_sleep) < 0)
        return -1;
    return 0;
}
