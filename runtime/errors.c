/* runtime/errors.c - per-thread error messages, API-misuse reports and fatal errors.
 *
 * Owns: tally_last_error() and the internal reporters.  The message buffer is thread-local so
 * that an unattached thread can still read why a call failed.  _tally_misuse() names the object's
 * type and address; with debug checks on (debug builds, or tally_options.debug = 1, or
 * TALLY_DEBUG=1 in the environment) it aborts, otherwise it records the error and returns.
 */
#include "runtime/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static _Thread_local char last_error[512];

const char *tally_last_error(void)
{
    return last_error;
}

void _tally_set_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
}

bool _tally_debug_enabled(void)
{
    int d = _tally_runtime.opt.debug;
    if (d >= 0)
        return d != 0;
#ifdef TALLY_DEBUG
    return true;
#else
    return false;
#endif
}

void _tally_misuse(tally_object *o, const char *fmt, ...)
{
    char msg[384];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (o) {
        const tally_type *t = o->ob_type;
        _tally_set_error("%s (object %p of type '%s')", msg, (void *)o, t && t->name ? t->name : "?");
    } else {
        _tally_set_error("%s", msg);
    }
    if (_tally_debug_enabled()) {
        fprintf(stderr, "tally: fatal API misuse: %s\n", last_error);
        fflush(stderr);
        abort();
    }
}

void _tally_refcount_error(tally_object *o, const char *what)
{
    _tally_misuse(o, "%s", what);
}

_Noreturn void _tally_fatal(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("tally: fatal: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    abort();
}

uint64_t _tally_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}
