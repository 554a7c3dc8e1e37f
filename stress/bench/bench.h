/* stress/bench/bench.h - interfaces between the parts of `tally bench`.
 *
 * Owns: the JSON document model (bench_json.c) used both to read what the measured programs
 * print (`tally stress --json`, Google Benchmark's JSON, cpython_gc.py) and to write
 * results.json; child processes and machine facts (bench_proc.c); the report writers
 * (bench_report.c: results.json, results.csv, report.md, gnuplot plots); the command itself
 * (bench_main.c: arguments, the measurement matrix, --compare).
 *
 * Single-threaded program: no synchronisation anywhere in these files.
 */
#ifndef TALLY_STRESS_BENCH_H
#define TALLY_STRESS_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* results.json schema version: bumped on every incompatible change. */
#define BENCH_SCHEMA_VERSION 1

/* ==== JSON (bench_json.c) ================================================================= */
typedef enum { BJ_NULL, BJ_BOOL, BJ_NUM, BJ_STR, BJ_ARR, BJ_OBJ } bj_type;

typedef struct bj {
    bj_type type;
    bool b;
    double num;
    char *str;            /* BJ_STR */
    size_t n, cap;        /* BJ_ARR / BJ_OBJ: number of items */
    char **keys;          /* BJ_OBJ: keys[i] names items[i] */
    struct bj **items;
} bj;

/* Parse one JSON value (leading/trailing blanks allowed; NaN/Infinity accepted as numbers).
 * NULL on error, with a message in err (at least 128 bytes). */
bj *bj_parse(const char *text, char *err, size_t errlen);
/* Parse the first '{' ... matching '}' found in text (programs may print lines before it). */
bj *bj_parse_embedded(const char *text, char *err, size_t errlen);
void bj_free(bj *v);

bj *bj_null(void);
bj *bj_bool(bool b);
bj *bj_num(double x);
bj *bj_str(const char *s);
bj *bj_strf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
bj *bj_arr(void);
bj *bj_obj(void);
/* Append to an array / set a key of an object (replaces an existing key); takes ownership of
 * v and returns it. */
bj *bj_push(bj *arr, bj *v);
bj *bj_set(bj *obj, const char *key, bj *v);
bj *bj_clone(const bj *v);

bj *bj_get(const bj *obj, const char *key);       /* NULL if absent or obj not an object */
/* Dotted path lookup: "a.b.c" */
bj *bj_path(const bj *obj, const char *path);
double bj_getnum(const bj *obj, const char *key, double dflt);
const char *bj_getstr(const bj *obj, const char *key, const char *dflt);
bool bj_is_num(const bj *v);

/* Serialise (indent 0: one line). */
void bj_write(FILE *f, const bj *v, int indent);
int bj_write_file(const char *path, const bj *v);
bj *bj_read_file(const char *path, char *err, size_t errlen);

/* ==== processes and the machine (bench_proc.c) =========================================== */
typedef struct bench_proc_result {
    int exit_code;        /* exit status, or -1 if killed by a signal or not started */
    int term_signal;      /* signal that ended it, 0 if none */
    bool timed_out;       /* killed by us after the time limit */
    bool killed_descendants; /* it exited, but processes it started held its output: killed */
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
/* Locate a file by a relative path: the current directory, then each parent of the
 * executable's directory.  Returns a malloc'd path or NULL. */
char *bench_find_source_file(const char *relpath);
bool bench_file_exists(const char *path);
int bench_mkdir_p(const char *path);
/* Machine facts: cpu model, cores, memory, kernel, compiler, tools. */
bj *bench_machine_info(void);
bj *bench_versions(void);

/* ==== report (bench_report.c) ============================================================= */
/* Write results.csv, report.md and the plots (gnuplot, PNG and SVG) into dir from results. */
int bench_write_report(const char *dir, const bj *results);
/* --compare: print ratios B/A per figure; 0 on success, 2 on bad input. */
int bench_compare(const char *a_path, const char *b_path);

/* ==== helpers (bench_main.c) ============================================================== */
/* Median, min and max of n values (n >= 1; v is sorted in place). */
void bench_stats(double *v, size_t n, double *median, double *min, double *max);
/* The first Google Benchmark row (of rows[name][counter]) whose name contains needle and that
 * has the counter; NULL if none. */
const bj *bench_find_row(const bj *rows, const char *needle, const char *counter);

int tally_bench_main(int argc, char **argv);

#endif
