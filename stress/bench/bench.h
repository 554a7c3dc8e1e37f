/* stress/bench/bench.h - interfaces between the parts of `tally bench`.
 *
 * Owns: the JSON helpers over json-c (bench_json.c) used both to read what the measured programs
 * print (`tally stress --json`, Google Benchmark's JSON, cpython_gc.py) and to write
 * results.json; child processes and machine facts (bench_proc.c); the statistics and the
 * benchmark-row lookup that the measuring and the report share (bench_stats.c); the report
 * writers (bench_report.c: results.csv, report.md, gnuplot plots); the command itself
 * (bench_main.c: arguments, the measurement matrix, results.json) and --compare
 * (bench_compare.c).  The dependencies point one way: bench_main.c calls the report, the
 * report calls neither bench_main.c nor bench_compare.c.
 *
 * Single-threaded program: no synchronisation anywhere in these files.
 */
#ifndef TALLY_STRESS_BENCH_H
#define TALLY_STRESS_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>

/* results.json schema version: bumped on every incompatible change. */
#define BENCH_SCHEMA_VERSION 1

/* ==== JSON (bench_json.c, on json-c) ===================================================== */
/* A JSON value is a json-c object (libjson-c-dev); JSON null is the NULL pointer, as in json-c.
 * These helpers add what json-c leaves to its callers: lookups with defaults and dotted paths,
 * NULL-safe iteration, numbers stored as integers when they are whole, and a writer that puts
 * null for NaN and infinities (JSON has neither; json-c would print NaN).  json-c was chosen
 * over jansson because its tokener reads the NaN and Infinity that Google Benchmark prints
 * for a counter without a value; jansson rejects them with every decoding flag and cannot
 * even hold a NaN (json_real(NAN) returns NULL). */
#include <json-c/json.h>

typedef struct json_object bj;

/* Parse one JSON value (leading/trailing blanks allowed; NaN/Infinity accepted as numbers).
 * NULL on error, with a message in err. */
bj *bj_parse(const char *text, char *err, size_t errlen);
/* Parse the object that starts on the first line beginning with '{' (programs may print lines
 * before it, and nothing after it matters). */
bj *bj_parse_embedded(const char *text, char *err, size_t errlen);
static inline void bj_free(bj *v) { json_object_put(v); }

static inline bj *bj_null(void) { return NULL; }
static inline bj *bj_bool(bool b) { return json_object_new_boolean(b); }
bj *bj_num(double x);   /* an integer when x is whole and below 1e15 in magnitude, else a double */
static inline bj *bj_str(const char *s) { return json_object_new_string(s ? s : ""); }
bj *bj_strf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline bj *bj_arr(void) { return json_object_new_array(); }
static inline bj *bj_obj(void) { return json_object_new_object(); }
/* Append to an array / set a key of an object (replacing the value of an existing key in its
 * place); takes ownership of v and returns it. */
bj *bj_push(bj *arr, bj *v);
bj *bj_set(bj *obj, const char *key, bj *v);
bj *bj_clone(const bj *v);

static inline bool bj_is_obj(const bj *v) { return json_object_is_type(v, json_type_object); }
static inline bool bj_is_arr(const bj *v) { return json_object_is_type(v, json_type_array); }
static inline bool bj_is_str(const bj *v) { return json_object_is_type(v, json_type_string); }
static inline bool bj_is_bool(const bj *v) { return json_object_is_type(v, json_type_boolean); }
bool bj_is_num(const bj *v);                      /* an integer or a double */
/* Value of a number or a boolean (1/0); NaN for anything else. */
double bj_numval(const bj *v);
/* Items of an array (0 for anything else) and the i-th of them. */
static inline size_t bj_len(const bj *arr) { return bj_is_arr(arr) ? json_object_array_length(arr) : 0; }
static inline bj *bj_at(const bj *arr, size_t i) { return json_object_array_get_idx(arr, i); }
/* Members of an object in insertion order; no loop when v is not an object (or NULL):
 *   BJ_EACH(obj, e) { use BJ_KEY(e), BJ_VAL(e) }      (break and continue work) */
#define BJ_EACH(obj, e) \
    for (struct lh_entry *e = bj_is_obj(obj) ? json_object_get_object(obj)->head : NULL; e; e = e->next)
#define BJ_KEY(e) ((const char *)lh_entry_k(e))
#define BJ_VAL(e) ((bj *)lh_entry_v(e))

bj *bj_get(const bj *obj, const char *key);       /* NULL if absent, null, or obj not an object */
/* Dotted path lookup: "a.b.c" */
bj *bj_path(const bj *obj, const char *path);
double bj_getnum(const bj *obj, const char *key, double dflt);
const char *bj_getstr(const bj *obj, const char *key, const char *dflt);

/* Write indented (null for non-finite numbers); 0 on success, -1 with errno on failure. */
int bj_write_file(const char *path, bj *v);
bj *bj_read_file(const char *path, char *err, size_t errlen);

/* ==== processes and the machine (bench_proc.c) =========================================== */
/* The signal (SIGINT, SIGTERM) that asked `tally bench` to stop, 0 while none did (its handler
 * is installed by tally_bench_main for a measuring run).  bench_run then stops the running child
 * (SIGTERM to its process group: tally stress reports and exits, a benchmark ends; SIGKILL 2 s
 * later) and starts no new one; the plan skips what is left and the results so far are written. */
extern volatile sig_atomic_t bench_stop_signal;

typedef struct bench_proc_result {
    int exit_code;        /* exit status, or -1 if killed by a signal or not started */
    int term_signal;      /* signal that ended it, 0 if none */
    bool timed_out;       /* killed by us after the time limit */
    bool killed_descendants; /* it exited, but processes it started held its output: killed */
    bool interrupted;     /* stopped (or not started) because bench_stop_signal was set */
    double wall_s;
    double cpu_s;         /* user + system CPU time of the child (all its threads), from wait4 */
    long peak_rss_kb;     /* ru_maxrss of the child */
    char *out;            /* stdout (NUL-terminated, owned) */
    char *err;            /* stderr (NUL-terminated, owned) */
} bench_proc_result;

/* Run argv (argv[0] is a path), capture stdout/stderr, kill after timeout_s.  Returns 0 if the
 * process ran (whatever its status), -1 if it could not be started. */
int bench_run(char *const argv[], double timeout_s, bench_proc_result *r);
void bench_proc_result_free(bench_proc_result *r);

double bench_now(void);                       /* monotonic seconds */
/* Directory of the running executable (no trailing slash). */
const char *bench_exe_dir(void);
const char *bench_exe_path(void);
/* A data file by its source-tree path ("stress/anchors/cpython_gc.py"): PREFIX/share/tally in
 * an installed copy, the source tree from a build tree (stress/paths.h).  malloc'd or NULL. */
char *bench_find_source_file(const char *relpath);
/* A per-backend program (bench_rc_gil, tally-binary-trees-atomic, ...): PREFIX/libexec/tally or
 * PREFIX/bin when installed, the build tree otherwise.  malloc'd or NULL; searched (may be
 * NULL) gets the directories looked in. */
char *bench_find_program(const char *name, char *searched, size_t len);
bool bench_file_exists(const char *path);
int bench_mkdir_p(const char *path);
/* Machine facts: cpu model, cores, memory, kernel, compiler, tools. */
bj *bench_machine_info(void);
bj *bench_versions(void);

/* ==== report (bench_report.c) ============================================================= */
/* Write results.csv, report.md and the plots (gnuplot, PNG and SVG) into dir from results. */
int bench_write_report(const char *dir, const bj *results);

/* ==== --compare (bench_compare.c) ========================================================== */
/* Print the targets whose status changed, then the figures in both files whose median moved by
 * threshold_pct percent or more, largest change first, with a Mann-Whitney U test where both
 * have repetitions.  0 on success, 2 (a one-line error printed) when a file cannot be read. */
int bench_compare(const char *a_path, const char *b_path, double threshold_pct);

/* ==== statistics and rows (bench_stats.c), shared by the measuring and the report ========= */
/* Median, min and max of n values (n >= 1; v is sorted in place). */
void bench_stats(double *v, size_t n, double *median, double *min, double *max);
/* The first Google Benchmark row (of rows[name][counter]) whose name contains needle and that
 * has the counter; NULL if none. */
const bj *bench_find_row(const bj *rows, const char *needle, const char *counter);
/* The first configuration of the array cfgs whose string member k1 is v1, whose member k2 is v2
 * (k2 NULL: any) and whose "threads" is `threads` (< 0: any); NULL if none. */
const bj *bench_find_cfg(const bj *cfgs, const char *k1, const char *v1, const char *k2, const char *v2, int threads);

/* ==== the command (bench_main.c) ========================================================== */
int tally_bench_main(int argc, char **argv);

#endif
