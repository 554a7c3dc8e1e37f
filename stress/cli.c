/* stress/cli.c - the table-driven option parser of the `tally` command line (see cli.h).
 *
 * Owns: parsing and checking of option values, the one-line error format and --help output.
 * Single-threaded; no allocation (values point into argv or into the option tables).
 */
#include "cli.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

int tally_cli_error(const char *prog, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s: ", prog);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return TALLY_CLI_EXIT_USAGE;
}

int tally_cli_close_stdout(const char *prog, int rc)
{
    /* ferror first: an earlier failed write may have cleared errno since */
    bool failed = ferror(stdout) != 0;
    errno = 0;
    if (fflush(stdout) != 0)
        failed = true;
    int saved = errno;
    if (fclose(stdout) != 0 && !failed) {
        failed = true;
        saved = errno;
    }
    if (!failed)
        return rc;
    fprintf(stderr, "%s: cannot write the output: %s\n", prog, saved ? strerror(saved) : "write error");
    return TALLY_CLI_EXIT_OUTPUT;
}

const char *tally_cli_join(const char *const *list, char *buf, size_t len)
{
    size_t pos = 0;
    buf[0] = '\0';
    for (size_t i = 0; list && list[i]; i++) {
        int n = snprintf(buf + pos, len - pos, "%s%s", i ? ", " : "", list[i]);
        if (n < 0 || (size_t)n >= len - pos)
            break;
        pos += (size_t)n;
    }
    return buf;
}

int tally_cli_parse_uint(const char *prog, const char *arg, const char *val, uint64_t min,
                         uint64_t max, uint64_t *out)
{
    /* digits first: strtoull would also take leading blanks and a sign (" 4", "+4") */
    const char *p = val;
    if (!isdigit((unsigned char)*p))
        goto bad;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(p, &end, 10);
    if (errno || end == p)
        goto bad;
    uint64_t mult = 1;
    if (*end == 'k' || *end == 'K')
        mult = 1000, end++;
    else if (*end == 'M')
        mult = 1000000, end++;
    else if (*end == 'G')
        mult = 1000000000, end++;
    if (*end != '\0')
        goto bad;
    if (v > UINT64_MAX / mult)
        goto bad;
    v *= mult;
    if (v < min || v > max)
        goto bad;
    *out = v;
    return 0;
bad:
    return tally_cli_error(prog, "invalid value '%s' for %s: expected an integer from %" PRIu64
                           " to %" PRIu64, val, arg, min, max);
}

int tally_cli_parse_double(const char *prog, const char *arg, const char *val, double min,
                           double max, double *out)
{
    errno = 0;
    char *end;
    double v = strtod(val, &end);
    /* strtod would take leading blanks (" 2") */
    if (isspace((unsigned char)*val) || errno || end == val || *end != '\0' || !isfinite(v) || v < min ||
        v > max)
        return tally_cli_error(prog, "invalid value '%s' for %s: expected a number from %g to %g",
                               val, arg, min, max);
    *out = v;
    return 0;
}

int tally_cli_parse_choice(const char *prog, const char *arg, const char *val,
                           const char *const *choices, const char **out)
{
    for (size_t i = 0; choices && choices[i]; i++) {
        if (strcmp(val, choices[i]) == 0) {
            *out = choices[i];
            return 0;
        }
    }
    char buf[512];
    return tally_cli_error(prog, "invalid value '%s' for %s: accepted values are %s", val, arg,
                           tally_cli_join(choices, buf, sizeof buf));
}

tally_cli_opt *tally_cli_find(tally_cli_opt *opts, size_t nopts, const char *name)
{
    for (size_t i = 0; i < nopts; i++)
        if (strcmp(opts[i].name, name) == 0)
            return &opts[i];
    return NULL;
}

static void list_names(const tally_cli_opt *opts, size_t nopts, char *buf, size_t len)
{
    size_t pos = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < nopts; i++) {
        int n = snprintf(buf + pos, len - pos, "%s%s", i ? ", " : "", opts[i].name);
        if (n < 0 || (size_t)n >= len - pos)
            break;
        pos += (size_t)n;
    }
}

int tally_cli_parse(const char *prog, int argc, char **argv, int first, tally_cli_opt *opts,
                    size_t nopts)
{
    for (int i = first; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)
            return 1;
        if (strncmp(a, "--", 2) != 0) {
            char buf[1024];
            list_names(opts, nopts, buf, sizeof buf);
            return tally_cli_error(prog, "unexpected argument '%s': accepted options are %s, --help",
                                   a, buf);
        }
        /* --name=value or --name value */
        char name[64];
        const char *eq = strchr(a, '=');
        size_t nlen = eq ? (size_t)(eq - a) : strlen(a);
        if (nlen >= sizeof name)
            nlen = sizeof name - 1;
        memcpy(name, a, nlen);
        name[nlen] = '\0';
        tally_cli_opt *o = tally_cli_find(opts, nopts, name);
        if (!o) {
            char buf[1024];
            list_names(opts, nopts, buf, sizeof buf);
            return tally_cli_error(prog, "unknown option '%s': accepted options are %s, --help",
                                   name, buf);
        }
        const char *val = NULL;
        if (o->kind == TALLY_CLI_FLAG) {
            if (eq)
                return tally_cli_error(prog, "invalid value '%s' for %s: it takes no value",
                                       eq + 1, o->name);
            *(bool *)o->dest = true;
            o->seen = true;
            continue;
        }
        if (eq) {
            val = eq + 1;
        } else {
            if (i + 1 >= argc) {
                if (o->kind == TALLY_CLI_CHOICE) {
                    char buf[512];
                    return tally_cli_error(prog, "missing value for %s: accepted values are %s",
                                           o->name, tally_cli_join(o->choices, buf, sizeof buf));
                }
                if (o->kind == TALLY_CLI_UINT)
                    return tally_cli_error(prog, "missing value for %s: expected an integer from %" PRIu64
                                           " to %" PRIu64, o->name, o->min, o->max);
                if (o->kind == TALLY_CLI_DOUBLE)
                    return tally_cli_error(prog, "missing value for %s: expected a number from %g to %g",
                                           o->name, o->dmin, o->dmax);
                return tally_cli_error(prog, "missing value for %s: expected %s (%s)", o->name,
                                       o->metavar ? o->metavar : "a value", o->help ? o->help : "");
            }
            val = argv[++i];
        }
        int rc = 0;
        switch (o->kind) {
        case TALLY_CLI_UINT:
            rc = tally_cli_parse_uint(prog, o->name, val, o->min, o->max, (uint64_t *)o->dest);
            break;
        case TALLY_CLI_DOUBLE:
            rc = tally_cli_parse_double(prog, o->name, val, o->dmin, o->dmax, (double *)o->dest);
            break;
        case TALLY_CLI_CHOICE:
            rc = tally_cli_parse_choice(prog, o->name, val, o->choices, (const char **)o->dest);
            break;
        case TALLY_CLI_STRING:
            if (*val == '\0')
                rc = tally_cli_error(prog, "invalid value '' for %s: expected a non-empty %s",
                                     o->name, o->metavar ? o->metavar : "string");
            else
                *(const char **)o->dest = val;
            break;
        case TALLY_CLI_FLAG:
            break;
        }
        if (rc)
            return rc;
        o->seen = true;
    }
    return 0;
}

void tally_cli_usage(FILE *f, const char *usage_line, const char *summary,
                     const tally_cli_opt *opts, size_t nopts)
{
    fprintf(f, "usage: %s\n", usage_line);
    if (summary && *summary)
        fprintf(f, "\n%s\n", summary);
    fprintf(f, "\noptions:\n");
    for (size_t i = 0; i < nopts; i++) {
        const tally_cli_opt *o = &opts[i];
        char lhs[64];
        if (o->kind == TALLY_CLI_FLAG)
            snprintf(lhs, sizeof lhs, "%s", o->name);
        else
            snprintf(lhs, sizeof lhs, "%s %s", o->name, o->metavar ? o->metavar : "VALUE");
        fprintf(f, "  %-24s %s", lhs, o->help ? o->help : "");
        char buf[512];
        switch (o->kind) {
        case TALLY_CLI_UINT:
            fprintf(f, " [%" PRIu64 "..%" PRIu64 "]", o->min, o->max);
            break;
        case TALLY_CLI_DOUBLE:
            fprintf(f, " [%g..%g]", o->dmin, o->dmax);
            break;
        case TALLY_CLI_CHOICE:
            fprintf(f, " {%s}", tally_cli_join(o->choices, buf, sizeof buf));
            break;
        default:
            break;
        }
        if (o->def)
            fprintf(f, " (default: %s)", o->def);
        fputc('\n', f);
    }
    fprintf(f, "  %-24s %s\n", "--help", "show this help and exit");
}
