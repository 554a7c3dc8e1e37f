/* stress/harness/options.h - the options of `tally stress`, shared by the front end and the
 * per-backend workers.
 *
 * Owns: the stress_config structure, the option table (names, ranges, defaults, help), the list
 * of workloads with their one-line summaries and what one operation of each is, and the
 * cross-option checks.  No runtime calls:
 * the front end `tally` links this file without any libtally-<backend>.
 */
#ifndef TALLY_STRESS_OPTIONS_H
#define TALLY_STRESS_OPTIONS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

typedef struct stress_config {
    const char *backend;
    const char *workload;
    uint64_t threads;
    double seconds;           /* run time; ignored when ops > 0 */
    uint64_t ops;             /* total operations over all threads; 0: run for `seconds` */
    uint64_t seed;
    bool json;
    bool chaos;
    bool quiet;               /* no progress line even on a terminal */
    uint64_t gc_threshold;    /* threshold0 of the collector (0: automatic collection off) */
    bool gc_threshold_set;
    uint64_t switch_interval_us;  /* gil switch interval; 0: the runtime's default */
    bool gil_fair;            /* gil: the fair GIL (tally_options.gil_fair); ignored elsewhere */
    uint64_t objects;         /* workload size (objects per thread / heap / graph); 0: default */
    uint64_t burst;           /* hammer: increments per thread per round; 0: default */
    bool seconds_set, ops_set;
} stress_config;

/* NULL-terminated list of workload names, and their summaries (same order). */
extern const char *const stress_workload_names[];
extern const char *const stress_workload_summaries[];

/* What one operation of a workload is (its "ops"), one line; NULL for an unknown workload. */
const char *stress_workload_operation(const char *workload);

/* Fewest threads a workload runs with: 2 for those whose threads have two roles (convoy: a
 * sleeper and a CPU-bound thread; handoff: producers and consumers; readmostly: a writer and
 * readers), 1 for the others.  --threads below it is refused (one message, exit status 2), and
 * `tally bench` leaves those thread counts out for that workload. */
unsigned stress_workload_min_threads(const char *workload);

/* NULL-terminated list of the backends this build has (from CMake's TALLY_BACKENDS). */
extern const char *const stress_backend_names[];

/* Parse `stress` arguments (argv[first..]).  0: ok; 1: --help printed; 2: error printed. */
int stress_options_parse(const char *prog, int argc, char **argv, int first, stress_config *cfg);
void stress_options_usage(FILE *f, const char *prog);

#endif
