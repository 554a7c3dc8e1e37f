/* runtime/options.c - tally_options defaults and TALLY_<OPTION> environment overrides.
 *
 * Owns: resolving the options in force from (defaults, the caller's struct, the environment),
 * in that order of increasing priority, with validation.  A bad environment value is reported
 * through tally_init's error (the name, the bad value and what is accepted).
 */
#include "runtime/internal.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *env;       /* environment variable */
    size_t offset;         /* into tally_options */
    int is_unsigned;
    long long min, max;
} option_desc;

#define OPT(name, field, uns, lo, hi) { name, offsetof(tally_options, field), uns, lo, hi }
static const option_desc option_table[] = {
    OPT("TALLY_SWITCH_INTERVAL_US", switch_interval_us, 1, 1, 10000000),
    OPT("TALLY_GC_THRESHOLD0", gc_threshold0, 0, 0, INT_MAX),
    OPT("TALLY_GC_THRESHOLD1", gc_threshold1, 0, 0, INT_MAX),
    OPT("TALLY_GC_THRESHOLD2", gc_threshold2, 0, 0, INT_MAX),
    OPT("TALLY_GC_ENABLED", gc_enabled, 0, 0, 1),
    OPT("TALLY_GC_INCREMENTAL", gc_incremental, 0, 0, 1),
    OPT("TALLY_GC_INCREMENT_SIZE", gc_increment_size, 1, 1, 100000000),
    OPT("TALLY_RCLOG_SIZE", rclog_size, 1, 16, 1 << 24),
    OPT("TALLY_DEBUG", debug, 0, -1, 1),
    OPT("TALLY_GIL_FAIR", gil_fair, 0, 0, 1),
    OPT("TALLY_GC_TRIM_MIN", gc_trim_min, 1, 0, 4000000000LL),
};

static int set_field(tally_options *o, const option_desc *d, long long v)
{
    if (v < d->min || v > d->max)
        return -1;
    char *p = (char *)o + d->offset;
    if (d->is_unsigned)
        *(unsigned *)p = (unsigned)v;
    else
        *(int *)p = (int)v;
    return 0;
}

static long long get_field(const tally_options *o, const option_desc *d)
{
    const char *p = (const char *)o + d->offset;
    return d->is_unsigned ? (long long)*(const unsigned *)p : (long long)*(const int *)p;
}

int _tally_options_resolve_checked(const tally_options *in, tally_options *out)
{
    static const tally_options defaults = TALLY_OPTIONS_INIT;
    *out = defaults;
    if (in) {
        if (in->size < sizeof(size_t) || in->size > sizeof(tally_options) * 4) {
            _tally_set_error("tally_init: tally_options.size is %zu; use TALLY_OPTIONS_INIT "
                             "(expected %zu)", in->size, sizeof(tally_options));
            return -1;
        }
        size_t n = in->size < sizeof(tally_options) ? in->size : sizeof(tally_options);
        memcpy(out, in, n);
        out->size = sizeof(tally_options);
        for (size_t i = 0; i < sizeof option_table / sizeof option_table[0]; i++) {
            const option_desc *d = &option_table[i];
            if (d->offset >= n)
                continue;
            long long v = get_field(out, d);
            if (v < d->min || v > d->max) {
                _tally_set_error("tally_init: option %s = %lld is out of range (accepted: %lld..%lld)",
                                 d->env + 6, v, d->min, d->max);
                return -1;
            }
        }
    }
    for (size_t i = 0; i < sizeof option_table / sizeof option_table[0]; i++) {
        const option_desc *d = &option_table[i];
        const char *s = getenv(d->env);
        if (!s || !*s)
            continue;
        char *end;
        errno = 0;
        long long v = strtoll(s, &end, 10);
        if (errno || *end || set_field(out, d, v) < 0) {
            _tally_set_error("tally_init: environment %s='%s' is not accepted (an integer in %lld..%lld)",
                             d->env, s, d->min, d->max);
            return -1;
        }
    }
    return 0;
}

void _tally_options_resolve(const tally_options *in, tally_options *out)
{
    if (_tally_options_resolve_checked(in, out) < 0) {
        static const tally_options defaults = TALLY_OPTIONS_INIT;
        *out = defaults;
    }
}

void tally_get_options(tally_options *out)
{
    if (out)
        *out = _tally_runtime.opt;
}
