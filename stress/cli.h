/* stress/cli.h - command-line parsing for the `tally` front end and its subcommands.
 *
 * Owns: a table-driven long-option parser shared by `tally stress` (front end and the
 * per-backend workers) and `tally bench`.  One table describes each option once: its name,
 * kind, accepted range or values, default and help text; the same table prints `--help` and
 * checks values.  Errors are one line on stderr naming the argument, the bad value and the
 * accepted values, and the caller exits with TALLY_CLI_EXIT_USAGE (2).
 *
 * Accepted forms: `--name value`, `--name=value`, and `--flag` for booleans.  Single-threaded.
 */
#ifndef TALLY_STRESS_CLI_H
#define TALLY_STRESS_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define TALLY_CLI_EXIT_USAGE 2

typedef enum tally_cli_kind {
    TALLY_CLI_FLAG,     /* no value; dest is bool */
    TALLY_CLI_UINT,     /* unsigned integer in [min, max]; dest is uint64_t; k/M/G suffixes */
    TALLY_CLI_DOUBLE,   /* real number in [dmin, dmax]; dest is double */
    TALLY_CLI_CHOICE,   /* one of choices[]; dest is const char * (points into choices) */
    TALLY_CLI_STRING,   /* any non-empty string; dest is const char * (points into argv) */
} tally_cli_kind;

typedef struct tally_cli_opt {
    const char *name;             /* with the dashes: "--threads" */
    tally_cli_kind kind;
    const char *metavar;          /* "N", "S", "B" ... (help text) */
    const char *help;             /* one line */
    const char *def;              /* default as shown in --help; NULL: none / required */
    uint64_t min, max;            /* TALLY_CLI_UINT */
    double dmin, dmax;            /* TALLY_CLI_DOUBLE */
    const char *const *choices;   /* TALLY_CLI_CHOICE: NULL-terminated */
    void *dest;
    bool seen;                    /* set by the parser */
} tally_cli_opt;

/* Parse argv[first..argc-1] against opts.  Returns 0 when every argument was accepted,
 * 1 when --help/-h was given (usage already printed on stdout), TALLY_CLI_EXIT_USAGE after
 * printing a one-line error ("<prog>: <message>") on stderr. */
int tally_cli_parse(const char *prog, int argc, char **argv, int first, tally_cli_opt *opts,
                    size_t nopts);

/* Print "usage" then one line per option (metavar, help, default / range / choices). */
void tally_cli_usage(FILE *f, const char *usage_line, const char *summary,
                     const tally_cli_opt *opts, size_t nopts);

/* Find an option of the table by name (NULL if absent). */
tally_cli_opt *tally_cli_find(tally_cli_opt *opts, size_t nopts, const char *name);

/* Value checkers used by the parser, exposed for callers with their own loops.  They return
 * 0 and store the value, or print the one-line error and return TALLY_CLI_EXIT_USAGE. */
int tally_cli_parse_uint(const char *prog, const char *arg, const char *val, uint64_t min,
                         uint64_t max, uint64_t *out);
int tally_cli_parse_double(const char *prog, const char *arg, const char *val, double min,
                           double max, double *out);
int tally_cli_parse_choice(const char *prog, const char *arg, const char *val,
                           const char *const *choices, const char **out);

/* Exit status of a command whose output could not be written (tally_cli_close_stdout). */
#define TALLY_CLI_EXIT_OUTPUT 4

/* Flush and close stdout; when that or any earlier write to it failed (a full disk, a closed
 * pipe), print "<prog>: cannot write the output: <reason>" on stderr and return
 * TALLY_CLI_EXIT_OUTPUT, else return rc.  Called once, when a command has printed everything. */
int tally_cli_close_stdout(const char *prog, int rc);

/* Print "<prog>: <formatted message>\n" on stderr; returns TALLY_CLI_EXIT_USAGE. */
int tally_cli_error(const char *prog, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Join a NULL-terminated list as "a, b, c" into buf. */
const char *tally_cli_join(const char *const *list, char *buf, size_t len);

#endif
