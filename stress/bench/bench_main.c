/* stress/bench/bench_main.c - `tally bench`: the whole backend comparison, written as a report.
 *
 * Owns: the command line of `tally bench`, the measurement plan and its execution.  Every
 * configuration runs in its own process so that backends never share a heap or a runtime:
 *   - microbenchmarks: bench_rc_<backend> and bench_gc_<backend> (Google Benchmark, JSON),
 *     found by stress/paths.c (PREFIX/libexec/tally, or beside `tally` in a build tree); each
 *     memory row alone in a fresh process;
 *   - the CPython anchor: python3 stress/anchors/cpython_gc.py (when python3 and the script
 *     are there);
 *   - the matrix backends x workloads x thread counts x repetitions of
 *     `tally stress --backend B --workload W --threads N --seconds S --seed K --json`;
 *   - whole programs: tally-binary-trees-<backend> (stress/programs/binary_trees.c) with 1 and 2
 *     threads, rounds interleaved with python3 stress/programs/binary_trees.py at the same depth.
 * Results: medians with min and max over the repetitions, in results.json (schema
 * BENCH_SCHEMA_VERSION), then results.csv, report.md and plots (bench_report.c).
 * `--compare A/results.json B/results.json` (bench_compare.c) compares two runs.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "bench.h"
#include "../cli.h"
#include "../harness/options.h"

#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PROG "tally bench"
#define MAX_LIST 32

/* The backends: stress_backend_names (harness/options.c), generated from the build's one list
 * (TALLY_BACKEND_LIST, CMakeLists.txt), the list `tally stress --backend` accepts. */
/* Used when `tally stress --help` cannot be read. */
static const char *const fallback_workloads[] = {"hammer", "private", "handoff", "readmostly", "cycles", "graph",
                                                 "churn", "forkcow", "convoy", NULL};

typedef struct {
    bool quick;
    const char *out;
    uint64_t reps;
    double seconds;
    const char *threads_arg, *backends_arg, *workloads_arg;
    const char *compare_a, *compare_b;
    int threads[MAX_LIST];
    size_t nthreads;
    const char *backends[MAX_LIST];
    size_t nbackends;
    const char *workloads[MAX_LIST];
    size_t nworkloads;
    double micro_min_time;
    uint64_t micro_reps;
    uint64_t gc_reps;     /* bench_gc rows are long (10^6 objects each): fewer in --quick */
} bench_opts;

/* ---- list arguments ------------------------------------------------------------------- */
static char *dup_or_die(const char *s)
{
    char *d = strdup(s);
    if (!d) {
        fprintf(stderr, PROG ": out of memory\n");
        exit(1);
    }
    return d;
}

/* The next item of a comma-separated list, cut in place (*s advances past its comma); NULL at
 * the end.  An empty item (",,", a leading or trailing comma) is returned as "", for the caller
 * to refuse: strtok_r would skip it and accept "1,,2". */
static char *next_item(char **s)
{
    if (!*s)
        return NULL;
    char *item = *s, *comma = strchr(item, ',');
    if (comma) {
        *comma = '\0';
        *s = comma + 1;
    } else {
        *s = NULL;
    }
    return item;
}

/* Split a comma-separated list of names, each one of `accepted`. */
static int parse_name_list(const char *arg, const char *val, const char *const *accepted, const char **out,
                           size_t *n)
{
    char buf[1024];
    *n = 0;
    char *copy = dup_or_die(val);
    for (char *rest = copy, *tok; (tok = next_item(&rest)) != NULL;) {
        if (!*tok) {
            free(copy);
            return tally_cli_error(PROG, "invalid value '%s' for %s: an empty item; accepted values are a "
                                   "comma-separated list of %s", val, arg, tally_cli_join(accepted, buf, sizeof buf));
        }
        size_t i;
        for (i = 0; accepted[i]; i++)
            if (strcmp(accepted[i], tok) == 0)
                break;
        if (!accepted[i] || *n >= MAX_LIST) {
            int rc = tally_cli_error(PROG, "invalid value '%s' for %s: accepted values are a comma-separated list of %s",
                                     tok, arg, tally_cli_join(accepted, buf, sizeof buf));
            free(copy);
            return rc;
        }
        out[(*n)++] = accepted[i];
    }
    free(copy);
    if (*n == 0)
        return tally_cli_error(PROG, "invalid value '%s' for %s: accepted values are a comma-separated list of %s",
                               val, arg, tally_cli_join(accepted, buf, sizeof buf));
    return 0;
}

static int parse_threads_list(const char *val, int *out, size_t *n)
{
    *n = 0;
    char *copy = dup_or_die(val);
    int rc = 0;
    for (char *rest = copy, *tok; (tok = next_item(&rest)) != NULL;) {
        uint64_t t;
        if (!*tok) {
            rc = tally_cli_error(PROG, "invalid value '%s' for --threads: an empty item; expected a comma-separated "
                                 "list of integers from 1 to 256, such as 1,2,4", val);
            break;
        }
        if (*n >= MAX_LIST) {
            rc = tally_cli_error(PROG, "invalid value '%s' for --threads: at most %d thread counts", val, MAX_LIST);
            break;
        }
        if ((rc = tally_cli_parse_uint(PROG, "--threads", tok, 1, 256, &t)) != 0)
            break;
        out[(*n)++] = (int)t;
    }
    free(copy);
    if (!rc && *n == 0)
        rc = tally_cli_error(PROG, "invalid value '%s' for --threads: expected a comma-separated list of integers from 1 to 256", val);
    return rc;
}

/* ---- discovering what the stress command offers ----------------------------------------- */
/* From `tally stress --help`, the {a, b, c} choices printed on the line of `option`. */
static size_t stress_choices(const char *help, const char *option, char **out, size_t max)
{
    const char *line = help;
    while (line && *line) {
        const char *p = line;
        while (*p == ' ')
            p++;
        size_t olen = strlen(option);
        if (strncmp(p, option, olen) == 0 && (p[olen] == ' ' || p[olen] == '=')) {
            const char *eol = strchr(p, '\n');
            const char *lb = strchr(p, '{');
            const char *rb = lb ? strchr(lb, '}') : NULL;
            if (!lb || !rb || (eol && rb > eol))
                return 0;
            size_t n = 0;
            char *inner = strndup(lb + 1, (size_t)(rb - lb - 1));
            for (char *save = NULL, *tok = strtok_r(inner, ", ", &save); tok && n < max;
                 tok = strtok_r(NULL, ", ", &save))
                out[n++] = dup_or_die(tok);
            free(inner);
            return n;
        }
        line = strchr(line, '\n');
        if (line)
            line++;
    }
    return 0;
}

static char *discovered_workloads[MAX_LIST + 1];

static const char *const *discover_workloads(void)
{
    char *argv[] = {(char *)bench_exe_path(), "stress", "--help", NULL};
    bench_proc_result r;
    if (bench_run(argv, 30, &r) == 0) {
        size_t n = stress_choices(r.out, "--workload", discovered_workloads, MAX_LIST);
        bench_proc_result_free(&r);
        if (n > 0) {
            discovered_workloads[n] = NULL;
            return (const char *const *)discovered_workloads;
        }
    }
    return fallback_workloads;
}

/* ---- running and recording -------------------------------------------------------------- */
static double t_start;
static size_t steps_done, steps_total;
/* Estimated seconds of the whole plan, of the steps done so far, and per kind of step. */
static double est_total_s, est_done_s;
static double est_stress_run, est_micro_rows, est_memory, est_gc, est_anchor, est_program_run;

static void step_done(double est_s)
{
    steps_done++;
    est_done_s += est_s;
}

static void fmt_duration(double s, char *buf, size_t len)
{
    if (s < 0)
        s = 0;
    int m = (int)(s / 60), sec = (int)s % 60;
    snprintf(buf, len, "%d:%02d", m, sec);
}

static void progress(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void progress(const char *fmt, ...)
{
    char el[32], left[32], msg[512];
    double elapsed = bench_now() - t_start;
    double frac = est_total_s > 0 ? est_done_s / est_total_s : 0;
    /* Remaining time: what the plan has left, scaled by how fast the plan has gone so far. */
    double remaining = est_done_s > 0 ? (est_total_s - est_done_s) * elapsed / est_done_s : est_total_s - elapsed;
    fmt_duration(elapsed, el, sizeof el);
    fmt_duration(remaining, left, sizeof left);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "[%3zu/%zu %3.0f%%] %s  (%s elapsed, ~%s left)\n", steps_done, steps_total, 100 * frac, msg,
            el, left);
}

/* A run that bench_stop_signal cut short (or did not start) says nothing: it is dropped from
 * its list, and the caller stops its loop. */
static bool drop_if_interrupted(bj *runs, bench_proc_result *r)
{
    if (!r->interrupted)
        return false;
    json_object_array_del_idx(runs, bj_len(runs) - 1, 1);
    bench_proc_result_free(r);
    return true;
}

/* Numeric leaves of a JSON object as dotted keys ("pauses.p99_us"); arrays are skipped. */
static void flatten(const bj *v, const char *prefix, bj *out)
{
    if (bj_is_num(v) || bj_is_bool(v)) {
        bj_set(out, prefix, bj_num(bj_numval(v)));
        return;
    }
    /* Echoes of the configuration and of the machine are stored once, not per run. */
    static const char *const echoes[] = {"machine", "seed", "threads", "seconds_requested", "interrupted", "chaos",
                                         NULL};
    BJ_EACH(v, m) {
        bool echo = false;
        for (size_t e = 0; !prefix[0] && echoes[e]; e++)
            echo |= strcmp(BJ_KEY(m), echoes[e]) == 0;
        if (echo)
            continue;
        char key[256];
        if (prefix[0])
            snprintf(key, sizeof key, "%s.%s", prefix, BJ_KEY(m));
        else
            snprintf(key, sizeof key, "%s", BJ_KEY(m));
        flatten(BJ_VAL(m), key, out);
    }
}

/* Sum of every numeric leaf whose key contains "violations" (the stress JSON contract). */
static double violations_of(const bj *flat)
{
    double sum = 0;
    BJ_EACH(flat, m)
        if (strstr(BJ_KEY(m), "violations") && bj_is_num(BJ_VAL(m)) && isfinite(bj_numval(BJ_VAL(m))))
            sum += bj_numval(BJ_VAL(m));
    return sum;
}

/* Median/min/max over the repetitions of every key present in a run's "metrics". */
static bj *summarise(const bj *runs, const char *field)
{
    bj *sum = bj_obj();
    for (size_t r = 0; r < bj_len(runs); r++) {
        const bj *m = bj_get(bj_at(runs, r), field);
        BJ_EACH(m, k) {
            const char *key = BJ_KEY(k);
            if (bj_get(sum, key))
                continue;
            double vals[256];
            size_t nv = 0;
            for (size_t q = 0; q < bj_len(runs) && nv < 256; q++) {
                const bj *x = bj_get(bj_get(bj_at(runs, q), field), key);
                if (bj_is_num(x) && isfinite(bj_numval(x)))
                    vals[nv++] = bj_numval(x);
            }
            if (!nv)
                continue;
            double med, mn, mx;
            bench_stats(vals, nv, &med, &mn, &mx);
            bj *s = bj_set(sum, key, bj_obj());
            bj_set(s, "median", bj_num(med));
            bj_set(s, "min", bj_num(mn));
            bj_set(s, "max", bj_num(mx));
            bj_set(s, "n", bj_num((double)nv));
        }
    }
    return sum;
}

static bj *proc_record(const bench_proc_result *r)
{
    bj *rec = bj_obj();
    bj_set(rec, "exit", bj_num(r->exit_code));
    bj_set(rec, "signal", bj_num(r->term_signal));
    bj_set(rec, "timed_out", bj_bool(r->timed_out));
    bj_set(rec, "killed_descendants", bj_bool(r->killed_descendants));
    bj_set(rec, "wall_s", bj_num(r->wall_s));
    bj_set(rec, "cpu_s", bj_num(r->cpu_s));
    bj_set(rec, "peak_rss_kb", bj_num((double)r->peak_rss_kb));
    return rec;
}

/* Last line of a program's stderr, for the report when it failed. */
static bj *stderr_tail(const char *err)
{
    if (!err || !*err)
        return bj_str("");
    size_t len = strlen(err);
    while (len && (err[len - 1] == '\n' || err[len - 1] == ' '))
        len--;
    size_t start = len;
    while (start && err[start - 1] != '\n')
        start--;
    char buf[300];
    snprintf(buf, sizeof buf, "%.*s", (int)(len - start > 299 ? 299 : len - start), err + start);
    return bj_str(buf);
}

/* Order of two [largest value, count] pairs by value (json_object_array_sort's comparator: it
 * receives pointers to the array's elements). */
static int by_bucket_value(const void *a, const void *b)
{
    double x = bj_numval(bj_at(*(bj *const *)a, 0)), y = bj_numval(bj_at(*(bj *const *)b, 0));
    return (x > y) - (x < y);
}

/* Add a run's pause histogram ([largest value, count] per non-empty bucket) to the pooled one of
 * its configuration (kept sorted by value): the report draws the whole distribution from it. */
static void pool_buckets(bj *pooled, const bj *buckets)
{
    for (size_t i = 0; i < bj_len(buckets); i++) {
        const bj *pair = bj_at(buckets, i);
        if (bj_len(pair) != 2 || !bj_is_num(bj_at(pair, 0)) || !bj_is_num(bj_at(pair, 1)))
            continue;
        double hi = bj_numval(bj_at(pair, 0)), count = bj_numval(bj_at(pair, 1));
        size_t k = 0, n = bj_len(pooled);
        while (k < n && bj_numval(bj_at(bj_at(pooled, k), 0)) != hi)
            k++;
        if (k < n) {
            bj *old = bj_at(pooled, k);
            json_object_array_put_idx(old, 1, bj_num(bj_numval(bj_at(old, 1)) + count));
            continue;
        }
        bj *np = bj_push(pooled, bj_arr());
        bj_push(np, bj_num(hi));
        bj_push(np, bj_num(count));
    }
    json_object_array_sort(pooled, by_bucket_value);
}

/* One configuration, o->reps runs.  `label` names it in results.json (the backend, or a variant
 * of it such as "gil-fair"); `extra` is one more option for tally stress, or NULL. */
static void run_stress_config(const bench_opts *o, const char *backend, const char *label, const char *extra,
                              const char *workload, int threads, bj *configs)
{
    bj *cfg = bj_push(configs, bj_obj());
    bj_set(cfg, "backend", bj_str(label));
    bj_set(cfg, "workload", bj_str(workload));
    bj_set(cfg, "threads", bj_num(threads));
    bj *runs = bj_set(cfg, "runs", bj_arr());
    bj *pause_buckets = bj_set(cfg, "pause_buckets", bj_arr());   /* pooled over the repetitions */
    int crashes = 0, failures = 0, with_violations = 0;
    double violations = 0;
    for (uint64_t rep = 0; rep < o->reps; rep++) {
        char th[16], secs[32], seed[32];
        snprintf(th, sizeof th, "%d", threads);
        snprintf(secs, sizeof secs, "%g", o->seconds);
        snprintf(seed, sizeof seed, "%llu", (unsigned long long)(1000 + rep));
        char *argv[] = {(char *)bench_exe_path(), "stress", "--backend", (char *)backend, "--workload",
                        (char *)workload, "--threads", th, "--seconds", secs, "--seed", seed, "--json",
                        (char *)extra, NULL};
        bench_proc_result r;
        bj *run = bj_push(runs, bj_obj());
        /* generous for a busy machine, short enough that a hung run costs little */
        int started = bench_run(argv, o->seconds * 5 + 15, &r);
        if (drop_if_interrupted(runs, &r))
            break;
        if (started != 0) {
            bj_set(run, "error", bj_str("could not start tally stress"));
            failures++;
            step_done(est_stress_run);
            continue;
        }
        bj_set(run, "process", proc_record(&r));
        bj_set(run, "seed", bj_num((double)(1000 + rep)));
        char err[256];
        bj *doc = bj_parse_embedded(r.out, err, sizeof err);
        bj *flat = bj_obj();
        bool parsed = doc != NULL;
        if (doc) {
            /* every number of the stress JSON is kept (flattened); its strings say nothing new */
            flatten(doc, "", flat);
            pool_buckets(pause_buckets, bj_get(bj_get(doc, "gc_stw_pause_ns"), "buckets"));
            bj_free(doc);
        } else {
            bj_set(run, "parse_error", bj_str(err));
        }
        bj_set(flat, "peak_rss_kb", bj_num((double)r.peak_rss_kb));
        bj_set(flat, "wall_s", bj_num(r.wall_s));
        double v = violations_of(flat);
        bj_set(run, "metrics", flat);
        bj_set(run, "violations", bj_num(v));
        violations += v;
        if (v > 0)
            with_violations++;
        /* a hang counts as a crash: timed out, or descendants left holding its output */
        bool crashed = r.term_signal != 0 || r.timed_out || r.killed_descendants;
        if (crashed)
            crashes++;
        else if (r.exit_code != 0 && !(parsed && v > 0))
            failures++;
        if (r.exit_code != 0 || crashed)
            bj_set(run, "stderr_tail", stderr_tail(r.err));
        step_done(est_stress_run);
        if (crashed)
            progress("stress %s/%s threads=%d rep %llu/%llu: %s (exit %d, signal %d)", label, workload, threads,
                     (unsigned long long)rep + 1, (unsigned long long)o->reps,
                     r.timed_out ? "timed out" : r.killed_descendants ? "left processes behind" : "crashed",
                     r.exit_code, r.term_signal);
        else
            progress("stress %s/%s threads=%d rep %llu/%llu: exit %d, %.0f violations, %.2f s", label, workload,
                     threads, (unsigned long long)rep + 1, (unsigned long long)o->reps, r.exit_code, v, r.wall_s);
        bench_proc_result_free(&r);
    }
    bj_set(cfg, "summary", summarise(runs, "metrics"));
    bj_set(cfg, "crashes", bj_num(crashes));
    bj_set(cfg, "failures", bj_num(failures));
    bj_set(cfg, "runs_with_violations", bj_num(with_violations));
    bj_set(cfg, "violations", bj_num(violations));
}

/* ---- Google Benchmark programs ---------------------------------------------------------- */
static bool is_standard_gb_key(const char *k)
{
    static const char *const std_keys[] = {"name", "family_index", "per_family_instance_index", "run_name",
                                           "run_type", "repetitions", "repetition_index", "threads",
                                           "iterations", "real_time", "cpu_time", "time_unit",
                                           "aggregate_name", "aggregate_unit", "error_occurred",
                                           "error_message", NULL};
    for (size_t i = 0; std_keys[i]; i++)
        if (strcmp(k, std_keys[i]) == 0)
            return true;
    return false;
}

/* Fold Google Benchmark's JSON into rows[run_name][counter] = {median, min, max}.  Rows with
 * aggregates use the median/min/max aggregates; a row run once uses its only value. */
static void fold_gb(const bj *doc, bj *rows)
{
    const bj *list = bj_get(doc, "benchmarks");
    for (size_t i = 0; i < bj_len(list); i++) {
        const bj *b = bj_at(list, i);
        const char *run = bj_getstr(b, "run_name", bj_getstr(b, "name", "?"));
        const char *type = bj_getstr(b, "run_type", "iteration");
        const char *agg = bj_getstr(b, "aggregate_name", "");
        bool aggregate = strcmp(type, "aggregate") == 0;
        if (aggregate && strcmp(agg, "median") && strcmp(agg, "min") && strcmp(agg, "max"))
            continue;
        bj *row = bj_get(rows, run);
        if (!row)
            row = bj_set(rows, run, bj_obj());
        if (bj_getnum(b, "error_occurred", 0) != 0)
            bj_set(row, "error", bj_str(bj_getstr(b, "error_message", "error")));
        BJ_EACH(b, m) {
            const char *key = BJ_KEY(m);
            bool is_time = strcmp(key, "real_time") == 0;
            if ((!is_time && is_standard_gb_key(key)) || !bj_is_num(BJ_VAL(m)))
                continue;
            double val = bj_numval(BJ_VAL(m));
            if (is_time) { /* per-iteration wall time, in ns */
                const char *unit = bj_getstr(b, "time_unit", "ns");
                val *= !strcmp(unit, "us") ? 1e3 : !strcmp(unit, "ms") ? 1e6 : !strcmp(unit, "s") ? 1e9 : 1;
                key = "real_time_ns";
            }
            bj *c = bj_get(row, key);
            if (!c)
                c = bj_set(row, key, bj_obj());
            if (aggregate) {
                bj_set(c, agg, bj_num(val));
            } else {
                /* Single runs (no aggregates): a run reported once gives all three. */
                bj *vals = bj_get(c, "_values");
                if (!vals)
                    vals = bj_set(c, "_values", bj_arr());
                bj_push(vals, bj_num(val));
            }
        }
    }
    /* Rows without aggregates: median/min/max of their runs. */
    BJ_EACH(rows, r) {
        BJ_EACH(BJ_VAL(r), k) {
            bj *c = BJ_VAL(k);
            bj *vals = bj_get(c, "_values");
            if (!vals)
                continue;
            if (!bj_get(c, "median") && bj_len(vals)) {
                double v[256];
                size_t n = bj_len(vals) < 256 ? bj_len(vals) : 256;
                for (size_t q = 0; q < n; q++)
                    v[q] = bj_numval(bj_at(vals, q));
                double med, mn, mx;
                bench_stats(v, n, &med, &mn, &mx);
                bj_set(c, "median", bj_num(med));
                bj_set(c, "min", bj_num(mn));
                bj_set(c, "max", bj_num(mx));
            }
            json_object_object_del(c, "_values");   /* the scratch list */
        }
    }
}

/* Run one Google Benchmark program; fold its rows into `into` (an object with "rows"). */
static void run_gb(const char *path, const char *filter, uint64_t reps, double min_time, bj *into)
{
    char f_filter[256], f_reps[64], f_min[64];
    snprintf(f_filter, sizeof f_filter, "--benchmark_filter=%s", filter);
    snprintf(f_reps, sizeof f_reps, "--benchmark_repetitions=%llu", (unsigned long long)reps);
    snprintf(f_min, sizeof f_min, "--benchmark_min_time=%g", min_time);
    /* Random interleaving: the repetitions of all rows run in a random order, so a ratio of two
     * rows (2 threads / 1, a backend / its anchor) compares measurements spread over the same
     * minutes instead of two blocks taken at different moments of a noisy shared machine. */
    char *argv[] = {(char *)path, f_filter, f_reps, f_min, "--benchmark_report_aggregates_only=true",
                    "--benchmark_enable_random_interleaving=true", "--benchmark_format=json", NULL};
    bench_proc_result r;
    bj *procs = bj_get(into, "processes");
    if (!procs)
        procs = bj_set(into, "processes", bj_arr());
    int started = bench_run(argv, 900, &r);
    if (r.interrupted) {   /* its rows are not all there: none are kept */
        bench_proc_result_free(&r);
        return;
    }
    if (started != 0) {
        bj_set(into, "error", bj_strf("could not start %s", path));
        return;
    }
    bj *rec = bj_push(procs, proc_record(&r));
    bj_set(rec, "filter", bj_str(filter));
    char err[256];
    bj *doc = bj_parse_embedded(r.out, err, sizeof err);
    if (!doc || r.exit_code != 0 || r.term_signal) {
        bj_set(rec, "error", bj_strf("%s%s", doc ? "" : err, doc ? "" : "; "));
        bj_set(rec, "stderr_tail", stderr_tail(r.err));
        bj_set(into, "error", bj_strf("%s (filter %s) failed: exit %d signal %d", path, filter, r.exit_code,
                                      r.term_signal));
    }
    if (doc) {
        if (!bj_get(into, "context") && bj_get(doc, "context"))
            bj_set(into, "context", bj_clone(bj_get(doc, "context")));
        bj *rows = bj_get(into, "rows");
        if (!rows)
            rows = bj_set(into, "rows", bj_obj());
        fold_gb(doc, rows);
        bj_free(doc);
    }
    bench_proc_result_free(&r);
}

static char *micro_path(const char *kind, const char *backend)
{
    char name[64];
    snprintf(name, sizeof name, "bench_%s_%s", kind, backend);
    return bench_find_program(name, NULL, 0);
}

static void run_micro(const bench_opts *o, bj *micro, bj *gc)
{
    for (size_t i = 0; i < o->nbackends && !bench_stop_signal; i++) {
        const char *b = o->backends[i];
        char *rc = micro_path("rc", b);
        bj *m = bj_set(micro, b, bj_obj());
        if (!rc) {
            bj_set(m, "error", bj_strf("bench_rc_%s not found (beside %s or in its libexec/tally)", b, bench_exe_path()));
            step_done(est_micro_rows + est_memory);
            progress("micro %s: not built", b);
        } else {
            run_gb(rc, "-memory/", o->micro_reps, o->micro_min_time, m);
            step_done(est_micro_rows);
            progress("micro %s: refcount, allocation and container rows", b);
            run_gb(rc, "^memory/object/", 1, o->micro_min_time, m);
            run_gb(rc, "^memory/list/", 1, o->micro_min_time, m);
            step_done(est_memory);
            progress("micro %s: memory per object", b);
            free(rc);
        }
        char *gcp = micro_path("gc", b);
        bj *g = bj_set(gc, b, bj_obj());
        if (!gcp) {
            bj_set(g, "error", bj_strf("bench_gc_%s not found (beside %s or in its libexec/tally)", b, bench_exe_path()));
        } else {
            run_gb(gcp, ".", o->gc_reps, o->micro_min_time, g);
            free(gcp);
        }
        step_done(est_gc);
        progress("micro %s: collector rows", b);
    }
}

static bj *run_cpython_anchor(void)
{
    bj *res = bj_obj();
    if (bench_stop_signal) {
        bj_set(res, "error", bj_str("not run: tally bench was interrupted"));
        return res;
    }
    char *script = bench_find_source_file("stress/anchors/cpython_gc.py");
    if (!script) {
        bj_set(res, "error", bj_str("stress/anchors/cpython_gc.py not found"));
        return res;
    }
    bj_set(res, "script", bj_str(script));
    char *argv[] = {(char *)"/usr/bin/env", "python3", script, NULL};
    bench_proc_result r;
    if (bench_run(argv, 600, &r) != 0 || r.interrupted) {
        bj_set(res, "error", bj_str(r.interrupted ? "interrupted" : "could not start python3"));
        bench_proc_result_free(&r);
        free(script);
        return res;
    }
    bj_set(res, "process", proc_record(&r));
    char err[256];
    bj *doc = bj_parse_embedded(r.out, err, sizeof err);
    if (doc)
        bj_set(res, "result", doc);
    if (!doc || r.exit_code != 0) {
        bj_set(res, "error", bj_strf("cpython_gc.py: exit %d%s%s", r.exit_code, doc ? "" : ", ", doc ? "" : err));
        bj_set(res, "stderr_tail", stderr_tail(r.err));
    }
    bench_proc_result_free(&r);
    free(script);
    return res;
}

/* ---- targets and figures ------------------------------------------------------------------ */
static double micro_median(const bj *micro, const char *backend, const char *row, const char *counter)
{
    const bj *c = bj_get(bj_get(bj_get(bj_get(micro, backend), "rows"), row), counter);
    return bj_getnum(c, "median", NAN);
}

static void add_target(bj *targets, const char *id, const char *backend, const char *what, double value,
                       const char *op, double limit, const char *unit, const char *detail)
{
    bj *t = bj_push(targets, bj_obj());
    bj_set(t, "id", bj_str(id));
    bj_set(t, "backend", bj_str(backend));
    bj_set(t, "target", bj_str(what));
    bj_set(t, "value", isfinite(value) ? bj_num(value) : bj_null());
    bj_set(t, "op", bj_str(op));
    bj_set(t, "limit", bj_num(limit));
    bj_set(t, "unit", bj_str(unit));
    bj_set(t, "detail", bj_str(detail));
    const char *status;
    if (!isfinite(value))
        status = "not measured";
    else if (strcmp(op, "<=") == 0)
        status = value <= limit ? "met" : "missed";
    else
        status = value >= limit ? "met" : "missed";
    bj_set(t, "status", bj_str(status));
}

static void micro_targets(const bj *micro, bj *targets)
{
    char d[256];
    const char *own = "rc/pair_own", *plain = "anchor/plain_incdec", *locked = "anchor/locked_addsub";
    double g = micro_median(micro, "gil", own, "ns_per_op"), gp = micro_median(micro, "gil", plain, "ns_per_op");
    snprintf(d, sizeof d, "gil pair %.2f ns / plain inc+dec %.2f ns", g, gp);
    add_target(targets, "gil_pair_vs_plain", "gil", "gil incref+decref pair <= 1.5x the plain limit", g / gp, "<=",
               1.5, "x", d);
    double a = micro_median(micro, "atomic", own, "ns_per_op"),
           al = micro_median(micro, "atomic", locked, "ns_per_op");
    snprintf(d, sizeof d, "atomic pair %.2f ns / locked add+sub %.2f ns", a, al);
    add_target(targets, "atomic_pair_vs_locked", "atomic", "atomic pair <= 1.2x the locked limit", a / al, "<=", 1.2,
               "x", d);
    double b = micro_median(micro, "biased", own, "ns_per_op"), bp = micro_median(micro, "biased", plain, "ns_per_op");
    snprintf(d, sizeof d, "biased owner pair %.2f ns / plain inc+dec %.2f ns", b, bp);
    add_target(targets, "biased_owner_vs_plain", "biased", "biased owner pair <= 2x plain", b / bp, "<=", 2.0, "x", d);
    snprintf(d, sizeof d, "atomic pair %.2f ns / biased owner pair %.2f ns", a, b);
    add_target(targets, "biased_vs_atomic", "biased", "biased owner pair >= 2.5x faster than atomic", a / b, ">=", 2.5,
               "x", d);
    double df = micro_median(micro, "deferred", own, "ns_per_op"),
           dp = micro_median(micro, "deferred", plain, "ns_per_op");
    snprintf(d, sizeof d, "deferred pair %.2f ns / plain inc+dec %.2f ns", df, dp);
    add_target(targets, "deferred_vs_plain", "deferred", "deferred fast path <= 2x plain", df / dp, "<=", 2.0, "x", d);

    /* Read-mostly scaling: throughput(2 threads) / throughput(1 thread) = ns(1) / ns(2). */
    static const char *const rows[] = {"readmostly/immortal_object", "readmostly/list_immortal_items",
                                       "readmostly/dict_get", NULL};
    static const char *const ft[] = {"atomic", "biased", "deferred", NULL};
    for (size_t r = 0; rows[r]; r++) {
        for (size_t i = 0; ft[i]; i++) {
            char r1[128], r2[128], id[160], what[200];
            snprintf(r1, sizeof r1, "%s/threads:1/manual_time", rows[r]);
            snprintf(r2, sizeof r2, "%s/threads:2/manual_time", rows[r]);
            double t1 = micro_median(micro, ft[i], r1, "ns_per_op"), t2 = micro_median(micro, ft[i], r2, "ns_per_op");
            /* The machine's own scaling in the same binary, just before (anchor/parallel_read). */
            double m1 = micro_median(micro, ft[i], "anchor/parallel_read/threads:1/manual_time", "ns_per_op"),
                   m2 = micro_median(micro, ft[i], "anchor/parallel_read/threads:2/manual_time", "ns_per_op");
            int dn = snprintf(d, sizeof d, "1 thread %.2f ns/op, 2 threads %.2f ns/op (aggregate)", t1, t2);
            if (isfinite(m1) && isfinite(m2) && m2 > 0 && dn > 0 && (size_t)dn < sizeof d)
                snprintf(d + dn, sizeof d - (size_t)dn, "; machine's plain 2-thread read loop: %.2fx", m1 / m2);
            snprintf(id, sizeof id, "scaling_%s_%s", rows[r] + strlen("readmostly/"), ft[i]);
            snprintf(what, sizeof what, "2 threads >= 1.8x one thread: %s", rows[r]);
            add_target(targets, id, ft[i], what, t1 / t2, ">=", 1.8, "x", d);
        }
    }
}

/* Collector targets from bench_gc_<backend> rows: the counters the collector's benchmark
 * reports (ns_per_object for full collections and 2-cycle reclaim, p99 pause in us). */
static void gc_targets(const bench_opts *o, const bj *gc, bj *targets)
{
    char d[256], id[128];
    for (size_t i = 0; i < o->nbackends; i++) {
        const char *b = o->backends[i];
        if (strcmp(b, "racy") == 0)
            continue; /* the negative control: its collector figures are no target */
        /* A missing bench_gc_<backend> still lists its targets, as not measured. */
        const bj *rows = bj_get(bj_get(gc, b), "rows");
        /* Wall time is the figure; the CPU time beside it shows how much a busy machine added. */
        const bj *full = bench_find_row(rows, "full", "ns_per_object");
        double v = full ? bj_getnum(bj_get(full, "ns_per_object"), "median", NAN) : NAN;
        /* Memory-bound: the machine's sequential read bandwidth, measured in the same binary. */
        const bj *bw = bench_find_row(rows, "seq_read", "gb_per_s");
        snprintf(d, sizeof d,
                 "bench_gc_%s full collection: wall %.1f ns/object, CPU %.1f ns/object (the first one of the heap, "
                 "untimed by the row: %.1f); sequential read %.1f GB/s", b,
                 v, full ? bj_getnum(bj_get(full, "cpu_ns_per_object"), "median", NAN) : NAN,
                 full ? bj_getnum(bj_get(full, "first_ns_per_object"), "median", NAN) : NAN,
                 bw ? bj_getnum(bj_get(bw, "gb_per_s"), "median", NAN) : NAN);
        snprintf(id, sizeof id, "gc_full_%s", b);
        add_target(targets, id, b, "full collection <= 15 ns/object", v, "<=", 15, "ns/object", d);
        /* The first full collection of a heap built with the collector off (flat and chain shapes):
         * wall time as the other rows, the larger of the two shapes; missing when either row is. */
        const bj *ff = bench_find_row(rows, "first_collection/flat", "ns_per_object");
        const bj *fc = bench_find_row(rows, "first_collection/chain", "ns_per_object");
        double vf = ff ? bj_getnum(bj_get(ff, "ns_per_object"), "median", NAN) : NAN;
        double vc = fc ? bj_getnum(bj_get(fc, "ns_per_object"), "median", NAN) : NAN;
        snprintf(d, sizeof d, "first full collection of a fresh 1M heap: flat %.1f, chain %.1f ns/object (CPU %.1f, "
                 "%.1f); later ones %.1f, %.1f", vf, vc,
                 ff ? bj_getnum(bj_get(ff, "cpu_ns_per_object"), "median", NAN) : NAN,
                 fc ? bj_getnum(bj_get(fc, "cpu_ns_per_object"), "median", NAN) : NAN,
                 ff ? bj_getnum(bj_get(ff, "later_ns_per_object"), "median", NAN) : NAN,
                 fc ? bj_getnum(bj_get(fc, "later_ns_per_object"), "median", NAN) : NAN);
        snprintf(id, sizeof id, "gc_first_full_%s", b);
        add_target(targets, id, b, "first full collection of a fresh heap <= 30 ns/object (flat and chain)",
                   isnan(vf) || isnan(vc) ? NAN : (vf > vc ? vf : vc), "<=", 30, "ns/object", d);
        const bj *cyc = bench_find_row(rows, "cycle", "ns_per_object");
        v = cyc ? bj_getnum(bj_get(cyc, "ns_per_object"), "median", NAN) : NAN;
        snprintf(d, sizeof d, "bench_gc_%s 2-cycle reclaim: wall %.1f ns/object, CPU %.1f ns/object", b, v,
                 cyc ? bj_getnum(bj_get(cyc, "cpu_ns_per_object"), "median", NAN) : NAN);
        snprintf(id, sizeof id, "gc_cycle_%s", b);
        add_target(targets, id, b, "2-cycle reclaim <= 50 ns/object", v, "<=", 50, "ns/object", d);
        /* Young pauses with 0 and 1,000,000 old objects. */
        double p0 = NAN, p1 = NAN;
        BJ_EACH(rows, r) {
            const char *name = BJ_KEY(r);
            if (!strstr(name, "young"))
                continue;
            double p = bj_getnum(bj_get(BJ_VAL(r), "p99_us"), "median", NAN);
            if (strstr(name, "1000000") || strstr(name, "old:1M") || strstr(name, "1M"))
                p1 = p;
            else if (strstr(name, "/0") || strstr(name, "old:0"))
                p0 = p;
        }
        snprintf(d, sizeof d, "young p99 with 0 old objects: %.1f us", p0);
        snprintf(id, sizeof id, "gc_young_p99_0_%s", b);
        add_target(targets, id, b, "young pause p99 <= 50 us, 0 old objects", p0, "<=", 50, "us", d);
        snprintf(d, sizeof d, "young p99 with 1,000,000 old objects: %.1f us", p1);
        snprintf(id, sizeof id, "gc_young_p99_1M_%s", b);
        add_target(targets, id, b, "young pause p99 <= 15 us, 1,000,000 old objects", p1, "<=", 15, "us", d);
        snprintf(d, sizeof d, "p99 %.1f us (1M old) / %.1f us (0 old)", p1, p0);
        snprintf(id, sizeof id, "gc_young_ratio_%s", b);
        add_target(targets, id, b, "young pause p99 with 1M old objects within 2x of 0 old", p1 / p0, "<=", 2.0, "x", d);
    }
}

/* Pauses under concurrent mutators (issue 13's targets), for every backend but racy and every
 * workload, at each thread count from 2 up to the cores (oversubscribed runs are reported, not
 * targeted): stop-the-world pause p99 at most 2x the same workload's 1-thread p99, or at most
 * 1 ms where the 1-thread p99 is under 0.5 ms (a tiny 1-thread figure doubled would measure the
 * noise); time to safepoint p99 at most 50 us.  Medians over the repetitions; configurations
 * with fewer than 2 collections are skipped (the final collection alone says nothing). */
static const bj *stress_cfg(const bj *cfgs, const char *backend, const char *workload, int threads)
{
    return bench_find_cfg(cfgs, "backend", backend, "workload", workload, threads);
}

static double stress_med(const bj *cfg, const char *key)
{
    return bj_getnum(bj_get(bj_get(cfg, "summary"), key), "median", NAN);
}

/* deferred keeps up with atomic: on every workload with a throughput (forkcow's figures are
 * pages, convoy's a GIL's) and every thread count up to the cores, deferred's operations per
 * second are at least 0.7x atomic's in the same run. */
static void deferred_throughput_targets(const bench_opts *o, const bj *cfgs, long cores, bj *targets)
{
    char d[256], id[160], what[192];
    for (size_t w = 0; w < o->nworkloads; w++) {
        const char *wl = o->workloads[w];
        if (strcmp(wl, "forkcow") == 0 || strcmp(wl, "convoy") == 0)
            continue;
        for (size_t t = 0; t < o->nthreads; t++) {
            int th = o->threads[t];
            if (th > cores || th < (int)stress_workload_min_threads(wl))
                continue;
            const bj *cd = stress_cfg(cfgs, "deferred", wl, th), *ca = stress_cfg(cfgs, "atomic", wl, th);
            if (!cd || !ca)
                continue;
            double od = stress_med(cd, "ops_per_s"), oa = stress_med(ca, "ops_per_s");
            snprintf(d, sizeof d, "%s, %d thread%s: deferred %.3g ops/s, atomic %.3g ops/s (medians)", wl, th,
                     th == 1 ? "" : "s", od, oa);
            snprintf(id, sizeof id, "deferred_vs_atomic_%s_%d", wl, th);
            snprintf(what, sizeof what, "%s, %d thread%s: deferred throughput >= 0.7x atomic's", wl, th,
                     th == 1 ? "" : "s");
            add_target(targets, id, "deferred", what, oa > 0 ? od / oa : NAN, ">=", 0.7, "x", d);
        }
    }
}

static void stress_targets(const bench_opts *o, const bj *cfgs, long cores, bj *targets)
{
    char d[256], id[160], what[192];
    for (size_t b = 0; b < o->nbackends; b++) {
        const char *be = o->backends[b];
        if (strcmp(be, "racy") == 0)
            continue;
        for (size_t w = 0; w < o->nworkloads; w++) {
            const char *wl = o->workloads[w];
            /* the base: 1 thread, or the fewest the workload runs with (2 for convoy, handoff,
             * readmostly: their "1 thread" configuration used to run 2 as well) */
            int base = (int)stress_workload_min_threads(wl);
            const bj *c1 = stress_cfg(cfgs, be, wl, base);
            double p1 = stress_med(c1, "gc_stw_pause_ns.p99") * 1e-3;
            for (size_t t = 0; t < o->nthreads; t++) {
                int th = o->threads[t];
                if (th < 2 || th > cores)
                    continue;
                const bj *c = stress_cfg(cfgs, be, wl, th);
                if (!c || !(stress_med(c, "gc_stw_pause_ns.count") >= 2))
                    continue;
                double pt = stress_med(c, "gc_stw_pause_ns.p99") * 1e-3;
                double limit = p1 < 500 ? 1000 : 2 * p1;
                snprintf(d, sizeof d, "%s, %d threads: pause p99 %.1f us; %d thread%s %.1f us", wl, th, pt, base,
                         base == 1 ? "" : "s", p1);
                snprintf(id, sizeof id, "stress_pause_p99_%s_%s_%d", wl, be, th);
                snprintf(what, sizeof what, "%s, %d threads (<= cores): pause p99 <= %s", wl, th,
                         p1 < 500 ? "1 ms (1-thread p99 < 0.5 ms)" : "2x the 1-thread p99");
                add_target(targets, id, be, what, isnan(p1) ? NAN : pt, "<=", limit, "us", d);
                double tsp = stress_med(c, "gc_time_to_safepoint_ns.p99") * 1e-3;
                snprintf(d, sizeof d, "%s, %d threads: time to safepoint p99 %.1f us, max %.1f us", wl, th, tsp,
                         stress_med(c, "gc_time_to_safepoint_ns.max") * 1e-3);
                snprintf(id, sizeof id, "stress_tsp_p99_%s_%s_%d", wl, be, th);
                snprintf(what, sizeof what, "%s, %d threads (<= cores): time to safepoint p99 <= 50 us", wl, th);
                add_target(targets, id, be, what, tsp, "<=", 50, "us", d);
            }
        }
    }
    deferred_throughput_targets(o, cfgs, cores, targets);
}

/* The fair GIL (sync/gil.c): a waking thread runs within 1 ms (p99) next to one CPU-bound thread
 * (convoy --threads 2), and the CPU-bound thread loses at most 5% of its throughput to it. */
static void gil_fair_targets(const bench_opts *o, const bj *cfgs, bj *targets)
{
    bool have_gil = false;
    for (size_t b = 0; b < o->nbackends; b++)
        have_gil |= strcmp(o->backends[b], "gil") == 0;
    bool have_convoy = false;
    for (size_t w = 0; w < o->nworkloads; w++)
        have_convoy |= strcmp(o->workloads[w], "convoy") == 0;
    if (!have_gil || !have_convoy)
        return;
    const bj *fair = stress_cfg(cfgs, "gil-fair", "convoy", 2), *dflt = stress_cfg(cfgs, "gil", "convoy", 2);
    char d[256];
    double p99 = stress_med(fair, "wake_to_run_ns.p99") * 1e-6;
    snprintf(d, sizeof d, "convoy, 1 CPU-bound thread: wake-to-run p50 / p99 %.3f / %.3f ms fair, %.3f / %.3f ms default",
             stress_med(fair, "wake_to_run_ns.p50") * 1e-6, p99, stress_med(dflt, "wake_to_run_ns.p50") * 1e-6,
             stress_med(dflt, "wake_to_run_ns.p99") * 1e-6);
    add_target(targets, "gil_fair_convoy_wake_p99", "gil", "gil fair: convoy wake-to-run p99 <= 1 ms with 1 CPU-bound thread",
               p99, "<=", 1.0, "ms", d);
    /* CPU-bound work: every operation but the sleeper's wake-ups. */
    double tf = (stress_med(fair, "ops") - stress_med(fair, "wake_to_run_ns.count")) / stress_med(fair, "elapsed_s");
    double td = (stress_med(dflt, "ops") - stress_med(dflt, "wake_to_run_ns.count")) / stress_med(dflt, "elapsed_s");
    snprintf(d, sizeof d, "convoy, 1 CPU-bound thread: %.2f Mops/s fair, %.2f Mops/s default (medians)", tf * 1e-6,
             td * 1e-6);
    add_target(targets, "gil_fair_cpu_throughput", "gil",
               "gil fair: CPU-bound throughput >= 0.95x the default GIL (convoy, 1 CPU-bound thread)", tf / td, ">=",
               0.95, "x", d);
}

/* Every figure as one flat list: id, median, min, max (what --compare reads). */
static void add_figure(bj *figs, const char *id, const bj *stat)
{
    if (!stat || !bj_get(stat, "median"))
        return;
    bj *f = bj_push(figs, bj_obj());
    bj_set(f, "id", bj_str(id));
    bj_set(f, "median", bj_num(bj_getnum(stat, "median", NAN)));
    bj_set(f, "min", bj_num(bj_getnum(stat, "min", NAN)));
    bj_set(f, "max", bj_num(bj_getnum(stat, "max", NAN)));
}

static void collect_figures(const bj *res, bj *figs)
{
    static const char *const gbkinds[] = {"micro", "gc", NULL};
    for (size_t k = 0; gbkinds[k]; k++) {
        const bj *all = bj_get(res, gbkinds[k]);
        BJ_EACH(all, b) {
            const bj *rows = bj_get(BJ_VAL(b), "rows");
            BJ_EACH(rows, r)
                BJ_EACH(BJ_VAL(r), c) {
                    /* the time per iteration says nothing more where the row has ns_per_op */
                    if (strcmp(BJ_KEY(c), "real_time_ns") == 0 && bj_get(BJ_VAL(r), "ns_per_op"))
                        continue;
                    char id[512];
                    snprintf(id, sizeof id, "%s/%s/%s/%s", gbkinds[k], BJ_KEY(b), BJ_KEY(r), BJ_KEY(c));
                    add_figure(figs, id, BJ_VAL(c));
                }
        }
    }
    const bj *cp = bj_get(bj_get(res, "cpython_gc"), "result");
    BJ_EACH(cp, k) {
        if (!bj_is_num(BJ_VAL(k)) || strstr(BJ_KEY(k), "version"))
            continue;
        char id[256];
        snprintf(id, sizeof id, "cpython_gc/%s", BJ_KEY(k));
        bj *one = bj_obj();
        double x = bj_numval(BJ_VAL(k));
        bj_set(one, "median", bj_num(x));
        bj_set(one, "min", bj_num(x));
        bj_set(one, "max", bj_num(x));
        add_figure(figs, id, one);
        bj_free(one);
    }
    const bj *bt = bj_path(res, "programs.binary_trees");
    const bj *btc = bj_get(bt, "configs");
    for (size_t i = 0; i < bj_len(btc); i++) {
        const bj *c = bj_at(btc, i);
        BJ_EACH(bj_get(c, "summary"), k) {
            char id[512];
            snprintf(id, sizeof id, "programs/binary_trees/%s/t%d/%s", bj_getstr(c, "backend", "?"),
                     (int)bj_getnum(c, "threads", 0), BJ_KEY(k));
            add_figure(figs, id, BJ_VAL(k));
        }
    }
    BJ_EACH(bj_path(bt, "cpython.summary"), k) {
        char id[512];
        snprintf(id, sizeof id, "programs/binary_trees/cpython/%s", BJ_KEY(k));
        add_figure(figs, id, BJ_VAL(k));
    }
    const bj *cfgs = bj_get(res, "stress");
    for (size_t i = 0; i < bj_len(cfgs); i++) {
        const bj *cfg = bj_at(cfgs, i);
        BJ_EACH(bj_get(cfg, "summary"), k) {
            char id[512];
            snprintf(id, sizeof id, "stress/%s/%s/t%d/%s", bj_getstr(cfg, "backend", "?"),
                     bj_getstr(cfg, "workload", "?"), (int)bj_getnum(cfg, "threads", 0), BJ_KEY(k));
            add_figure(figs, id, BJ_VAL(k));
        }
    }
}

/* ---- whole programs: binary-trees ------------------------------------------------------------ */
/* Depth of the binary-trees rows (the Benchmarks Game's usual 21 is minutes per run here), and
 * the smallest number of runs per configuration (medians of at least 3, even in --quick). */
#define BT_DEPTH 16
#define BT_DEPTH_QUICK 14
#define BT_MIN_REPS 3
static const int bt_threads[] = {1, 2};
#define BT_NTHREADS (sizeof bt_threads / sizeof bt_threads[0])

/* The lines a binary-trees run printed before its JSON object (all of stdout without --json). */
static char *bt_lines(const char *out)
{
    const char *brace = strchr(out, '{');
    size_t n = brace ? (size_t)(brace - out) : strlen(out);
    return strndup(out, n);
}

/* One run of tally-binary-trees-<backend>.  Its metrics (the program's JSON, flattened, plus the
 * process's wall time and peak RSS) go into the run only when it succeeded: exit 0, checks_ok,
 * and the same lines as CPython's run of binary_trees.py when there is one. */
/* Run `path OPT VALUE --threads T --json` for configuration cfg: a new entry in cfg's runs, or
 * NULL when tally bench was interrupted (the run is dropped).  *started: bench_run's status. */
static bj *start_program_run(const char *path, const char *opt, const char *value, int threads, bj *cfg,
                             bench_proc_result *r, int *started)
{
    char t[16];
    snprintf(t, sizeof t, "%d", threads);
    char *argv[] = {(char *)path, (char *)opt, (char *)value, "--threads", t, "--json", NULL};
    bj *run = bj_push(bj_get(cfg, "runs"), bj_obj());
    *started = bench_run(argv, 600, r);
    if (drop_if_interrupted(bj_get(cfg, "runs"), r))
        return NULL;
    return run;
}

static void bt_run_one(const char *path, int depth, int threads, const char *reference, bj *cfg)
{
    char d[16];
    snprintf(d, sizeof d, "%d", depth);
    bench_proc_result r;
    int started;
    bj *run = start_program_run(path, "--depth", d, threads, cfg, &r, &started);
    if (!run)
        return;
    if (started != 0) {
        bj_set(run, "error", bj_strf("could not start %s", path));
        bj_set(cfg, "failures", bj_num(bj_getnum(cfg, "failures", 0) + 1));
        return;
    }
    bj_set(run, "process", proc_record(&r));
    char err[256];
    bj *doc = bj_parse_embedded(r.out, err, sizeof err);
    char *lines = bt_lines(r.out);
    bool checks_ok = bj_is_bool(bj_get(doc, "checks_ok")) && json_object_get_boolean(bj_get(doc, "checks_ok"));
    bool same = !reference || (lines && strcmp(lines, reference) == 0);
    bj_set(run, "checks_ok", bj_bool(checks_ok));
    if (reference)
        bj_set(run, "matches_cpython", bj_bool(same));
    bool ok = r.exit_code == 0 && !r.term_signal && !r.timed_out && checks_ok && same;
    if (ok) {
        bj *all = bj_obj(), *flat = bj_obj();
        flatten(doc, "", all);
        /* echoes of the configuration and the verdict are no figures */
        BJ_EACH(all, k)
            if (strcmp(BJ_KEY(k), "depth") != 0 && strcmp(BJ_KEY(k), "checks_ok") != 0)
                bj_set(flat, BJ_KEY(k), bj_clone(BJ_VAL(k)));
        bj_free(all);
        /* the process as a whole (start-up and tally_fini included), as CPython's is measured */
        bj_set(flat, "wall_s", bj_num(r.wall_s));
        bj_set(flat, "program_wall_s", bj_num(bj_getnum(doc, "wall_s", NAN)));
        /* CPU time of all its threads: on a busy shared machine less disturbed than wall time */
        bj_set(flat, "cpu_s", bj_num(r.cpu_s));
        bj_set(flat, "peak_rss_kb", bj_num((double)r.peak_rss_kb));
        bj_set(run, "metrics", flat);
    } else {
        bj_set(cfg, "failures", bj_num(bj_getnum(cfg, "failures", 0) + 1));
        bj_set(run, "stderr_tail", stderr_tail(r.err));
        if (!doc)
            bj_set(run, "parse_error", bj_str(err));
    }
    progress("program binary-trees %s threads=%d depth %d: %s, %.2f s", bj_getstr(cfg, "backend", "?"), threads,
             depth, ok ? "ok" : !checks_ok ? "FAILED (check counts)" : !same ? "FAILED (output differs from CPython's)"
                                                                          : "FAILED",
             r.wall_s);
    free(lines);
    bj_free(doc);
    bench_proc_result_free(&r);
}

/* One run of python3 binary_trees.py; returns its lines (malloc'd) when it succeeded. */
static char *bt_run_cpython(const char *script, int depth, bj *cp)
{
    char d[16];
    snprintf(d, sizeof d, "%d", depth);
    char *argv[] = {(char *)"/usr/bin/env", "python3", (char *)script, "--depth", d, NULL};
    bj *run = bj_push(bj_get(cp, "runs"), bj_obj());
    bench_proc_result r;
    int started = bench_run(argv, 600, &r);
    if (drop_if_interrupted(bj_get(cp, "runs"), &r))
        return NULL;
    if (started != 0) {
        bj_set(run, "error", bj_str("could not start python3"));
        return NULL;
    }
    bj_set(run, "process", proc_record(&r));
    char *lines = NULL;
    if (r.exit_code == 0 && !r.term_signal && !r.timed_out) {
        bj *m = bj_set(run, "metrics", bj_obj());
        bj_set(m, "wall_s", bj_num(r.wall_s));
        bj_set(m, "cpu_s", bj_num(r.cpu_s));
        bj_set(m, "peak_rss_kb", bj_num((double)r.peak_rss_kb));
        lines = bt_lines(r.out);
    } else {
        bj_set(run, "stderr_tail", stderr_tail(r.err));
        bj_set(cp, "failures", bj_num(bj_getnum(cp, "failures", 0) + 1));
    }
    progress("program binary-trees CPython (binary_trees.py) depth %d: %s, %.2f s", depth,
             lines ? "ok" : "FAILED", r.wall_s);
    bench_proc_result_free(&r);
    return lines;
}

/* Rounds: each round runs CPython once, then every backend with 1 and then 2 threads, so the
 * two sides of every ratio (t2/t1, gil/CPython) are spread over the same minutes of a shared
 * machine instead of being measured in blocks at different moments.  racy is left out: it is
 * the stress harness's negative control, not a backend anyone runs programs on. */
static bj *run_programs(const bench_opts *o, size_t reps, int depth)
{
    bj *bt = bj_obj();
    bj_set(bt, "program", bj_str("binary-trees"));
    bj_set(bt, "depth", bj_num(depth));
    bj_set(bt, "reps", bj_num((double)reps));
    bj *cp = bj_set(bt, "cpython", bj_obj());
    bj_set(cp, "runs", bj_arr());
    char *script = bench_find_source_file("stress/programs/binary_trees.py");
    bool python = false;
    if (!script) {
        bj_set(cp, "error", bj_str("stress/programs/binary_trees.py not found"));
    } else {
        bj_set(cp, "script", bj_str(script));
        char *argv[] = {(char *)"/usr/bin/env", "python3", "--version", NULL};
        bench_proc_result r;
        python = bench_run(argv, 30, &r) == 0 && r.exit_code == 0;
        if (python)
            bj_set(cp, "python_version", bj_strf("%.*s", (int)strcspn(r.out, "\n"), r.out));
        else
            bj_set(cp, "error", bj_str(r.interrupted ? "not run: tally bench was interrupted"
                                                     : "python3 not found: no CPython anchor"));
        bench_proc_result_free(&r);
    }
    bj *configs = bj_set(bt, "configs", bj_arr());
    char *paths[MAX_LIST] = {0};
    for (size_t b = 0; b < o->nbackends; b++) {
        if (strcmp(o->backends[b], "racy") == 0)
            continue;
        char name[64], searched[1024];
        snprintf(name, sizeof name, "tally-binary-trees-%s", o->backends[b]);
        char *p = bench_find_program(name, searched, sizeof searched);
        paths[b] = p;
        for (size_t t = 0; t < BT_NTHREADS; t++) {
            bj *cfg = bj_push(configs, bj_obj());
            bj_set(cfg, "backend", bj_str(o->backends[b]));
            bj_set(cfg, "threads", bj_num(bt_threads[t]));
            bj_set(cfg, "failures", bj_num(0));
            bj_set(cfg, "runs", bj_arr());
            if (!p)
                bj_set(cfg, "error", bj_strf("tally-binary-trees-%s not found (looked in %s)", o->backends[b], searched));
        }
    }
    char *reference = NULL;
    for (size_t rep = 0; rep < reps && !bench_stop_signal; rep++) {
        if (python) {
            char *lines = bt_run_cpython(script, depth, cp);
            if (!reference)
                reference = lines;
            else
                free(lines);
        }
        step_done(python ? est_program_run : 0);
        for (size_t i = 0; i < bj_len(configs) && !bench_stop_signal; i++) {
            bj *cfg = bj_at(configs, i);
            size_t b;
            for (b = 0; b < o->nbackends; b++)
                if (strcmp(o->backends[b], bj_getstr(cfg, "backend", "")) == 0)
                    break;
            if (b < o->nbackends && paths[b])
                bt_run_one(paths[b], depth, (int)bj_getnum(cfg, "threads", 1), reference, cfg);
            step_done(est_program_run);
        }
    }
    for (size_t i = 0; i < bj_len(configs); i++)
        bj_set(bj_at(configs, i), "summary", summarise(bj_get(bj_at(configs, i), "runs"), "metrics"));
    bj_set(cp, "summary", summarise(bj_get(cp, "runs"), "metrics"));
    for (size_t b = 0; b < MAX_LIST; b++)
        free(paths[b]);
    free(reference);
    free(script);
    return bt;
}

static const bj *bt_config(const bj *bt, const char *backend, int threads)
{
    const bj *cfgs = bj_get(bt, "configs");
    for (size_t i = 0; i < bj_len(cfgs); i++)
        if (strcmp(bj_getstr(bj_at(cfgs, i), "backend", ""), backend) == 0 &&
            (int)bj_getnum(bj_at(cfgs, i), "threads", 0) == threads)
            return bj_at(cfgs, i);
    return NULL;
}

static double bt_wall(const bj *cfg) { return bj_getnum(bj_path(cfg, "summary.wall_s"), "median", NAN); }

/* binary-trees targets: 2 threads take at most 0.56x the one-thread time (free-threaded
 * backends: the work of one run split in two should nearly halve it); gil with one thread at
 * least 2x faster than CPython running binary_trees.py at the same depth. */
static void program_targets(const bench_opts *o, const bj *bt, bj *targets)
{
    if (!bt)
        return;
    int depth = (int)bj_getnum(bt, "depth", 0);
    char d[256], what[160], id[128];
    for (size_t b = 0; b < o->nbackends; b++) {
        const char *be = o->backends[b];
        if (strcmp(be, "racy") == 0)
            continue;
        const bj *c1 = bt_config(bt, be, 1), *c2 = bt_config(bt, be, 2);
        double t1 = bt_wall(c1), t2 = bt_wall(c2);
        if (strcmp(be, "gil") != 0) {
            snprintf(d, sizeof d, "depth %d: 1 thread %.3f s, 2 threads %.3f s (process wall time, medians)", depth,
                     t1, t2);
            snprintf(id, sizeof id, "binary_trees_scaling_%s", be);
            snprintf(what, sizeof what, "binary-trees: 2 threads <= 0.56x the 1-thread time");
            add_target(targets, id, be, what, t2 / t1, "<=", 0.56, "x", d);
        } else {
            const bj *cp = bj_get(bt, "cpython");
            double tc = bj_getnum(bj_path(cp, "summary.wall_s"), "median", NAN);
            const char *why = bj_getstr(cp, "error", NULL);
            if (why)
                snprintf(d, sizeof d, "depth %d: gil 1 thread %.3f s; %s", depth, t1, why);
            else
                snprintf(d, sizeof d, "depth %d: %s %.3f s / gil 1 thread %.3f s (process wall time, medians)", depth,
                         bj_getstr(cp, "python_version", "python3"), tc, t1);
            add_target(targets, "binary_trees_gil_vs_cpython", be,
                       "binary-trees: gil (1 thread) at least 2x faster than CPython 3.11", tc / t1, ">=", 2.0, "x",
                       d);
        }
    }
}

/* ---- memory returned after a large release: bench_rss_<backend> ----------------------------- */
/* RSS before N small objects are built, after they are dropped and collected, and 100 ms later
 * (stress/micro/bench_rss.c), with 1 and 2 threads (the second builds half).  Target: the settled
 * RSS at most 1.2x the RSS before the build (issue 13). */
#define RSS_OBJECTS 50000000
#define RSS_OBJECTS_QUICK 5000000
static double est_rss_run;

static void rss_run_one(const char *path, size_t objects, int threads, bj *cfg)
{
    char n[32];
    snprintf(n, sizeof n, "%zu", objects);
    bench_proc_result r;
    int started;
    bj *run = start_program_run(path, "--objects", n, threads, cfg, &r, &started);
    if (!run)
        return;
    char err[256] = "";
    bj *doc = started == 0 ? bj_parse_embedded(r.out, err, sizeof err) : NULL;
    bool ok = started == 0 && r.exit_code == 0 && !r.term_signal && !r.timed_out && doc;
    if (ok) {
        bj *m = bj_obj();
        static const char *const keys[] = {"before_mib", "built_mib", "after_mib", "all_freed_ms", "settled_mib",
                                           "ratio"};
        for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
            bj_set(m, keys[i], bj_num(bj_getnum(doc, keys[i], NAN)));
        bj_set(m, "wall_s", bj_num(r.wall_s));
        bj_set(run, "metrics", m);
    } else {
        bj_set(cfg, "failures", bj_num(bj_getnum(cfg, "failures", 0) + 1));
        bj_set(run, "error", started != 0 ? bj_strf("could not start %s", path) : bj_str(err[0] ? err : "failed"));
        if (started == 0)
            bj_set(run, "stderr_tail", stderr_tail(r.err));
    }
    progress("memory return %s threads=%d, %zu objects: %s, %.2f s", bj_getstr(cfg, "backend", "?"), threads, objects,
             ok ? "ok" : "FAILED", r.wall_s);
    bj_free(doc);
    if (started == 0)
        bench_proc_result_free(&r);
}

static bj *run_rss(const bench_opts *o, size_t reps, size_t objects)
{
    bj *mr = bj_obj();
    bj_set(mr, "objects", bj_num((double)objects));
    bj_set(mr, "reps", bj_num((double)reps));
    bj *configs = bj_set(mr, "configs", bj_arr());
    for (size_t b = 0; b < o->nbackends; b++) {
        if (strcmp(o->backends[b], "racy") == 0)
            continue;
        char name[64], searched[1024];
        snprintf(name, sizeof name, "bench_rss_%s", o->backends[b]);
        char *p = bench_find_program(name, searched, sizeof searched);
        for (int t = 1; t <= 2; t++) {
            bj *cfg = bj_push(configs, bj_obj());
            bj_set(cfg, "backend", bj_str(o->backends[b]));
            bj_set(cfg, "threads", bj_num(t));
            bj_set(cfg, "failures", bj_num(0));
            bj_set(cfg, "runs", bj_arr());
            if (!p)
                bj_set(cfg, "error", bj_strf("%s not found (looked in %s)", name, searched));
            for (size_t rep = 0; p && rep < reps && !bench_stop_signal; rep++) {
                rss_run_one(p, objects, t, cfg);
                step_done(est_rss_run);
            }
            bj_set(cfg, "summary", summarise(bj_get(cfg, "runs"), "metrics"));
        }
        free(p);
    }
    return mr;
}

static void rss_targets(const bj *mr, bj *targets)
{
    const bj *cfgs = bj_get(mr, "configs");
    for (size_t i = 0; i < bj_len(cfgs); i++) {
        const bj *c = bj_at(cfgs, i);
        const char *be = bj_getstr(c, "backend", "?");
        int t = (int)bj_getnum(c, "threads", 1);
        const bj *sum = bj_get(c, "summary");
        double before = bj_getnum(bj_get(sum, "before_mib"), "median", NAN);
        double settled = bj_getnum(bj_get(sum, "settled_mib"), "median", NAN);
        double ratio = bj_getnum(bj_get(sum, "ratio"), "median", NAN);
        char id[96], what[160], d[256];
        snprintf(id, sizeof id, "rss_return_%s_t%d", be, t);
        snprintf(what, sizeof what, "RSS after freeing %.0fM small objects and collecting <= 1.2x before (%d thread%s)",
                 bj_getnum(mr, "objects", 0) / 1e6, t, t == 1 ? "" : "s");
        snprintf(d, sizeof d, "before %.1f MiB, built %.1f MiB, right after the collection %.1f MiB, settled (100 ms "
                              "after the last object was freed) %.1f MiB (medians)", before, bj_getnum(bj_get(sum, "built_mib"), "median", NAN),
                 bj_getnum(bj_get(sum, "after_mib"), "median", NAN), settled);
        add_target(targets, id, be, what, ratio, "<=", 1.2, "x", d);
    }
}

/* ---- dropping a large structure: bench_drop_<backend> ----------------------------------------- */
/* The time of one decref that frees a list of N ints or a chain of N lists, with the thread alone
 * and with a second thread attached (stress/micro/bench_drop.c); every backend but racy.  Target
 * (issue 13): deferred at most 1.5x atomic's time with the second thread attached. */
#define DROP_LIST 10000000
#define DROP_CHAIN 1000000
static double est_drop_run;

/* Parse bench_drop's lines "drop <what> n=<N> threads=<T> backend=<B> median=<s> min=<s> max=<s>"
 * into cfgs (one entry per backend, shape and thread count). */
static int drop_parse(const char *out, const char *backend, bj *cfgs)
{
    int n = 0;
    for (const char *l = out; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        char what[16];
        size_t count;
        int threads;
        double med, lo, hi;
        if (sscanf(l, "drop %15s n=%zu threads=%d backend=%*s median=%lf min=%lf max=%lf", what, &count, &threads,
                   &med, &lo, &hi) != 6)
            continue;
        bj *c = bj_push(cfgs, bj_obj());
        bj_set(c, "backend", bj_str(backend));
        bj_set(c, "what", bj_str(what));
        bj_set(c, "n", bj_num((double)count));
        bj_set(c, "threads", bj_num(threads));
        bj_set(c, "median_s", bj_num(med));
        bj_set(c, "min_s", bj_num(lo));
        bj_set(c, "max_s", bj_num(hi));
        n++;
    }
    return n;
}

static bj *run_drop(const bench_opts *o, size_t reps, size_t list_n, size_t chain_n)
{
    bj *dr = bj_obj();
    bj_set(dr, "reps", bj_num((double)reps));
    bj *cfgs = bj_set(dr, "configs", bj_arr()), *errors = bj_set(dr, "errors", bj_arr());
    char ln[32], cn[32], rn[16];
    snprintf(ln, sizeof ln, "%zu", list_n);
    snprintf(cn, sizeof cn, "%zu", chain_n);
    snprintf(rn, sizeof rn, "%zu", reps);
    for (size_t b = 0; b < o->nbackends && !bench_stop_signal; b++) {
        const char *be = o->backends[b];
        if (strcmp(be, "racy") == 0)
            continue;
        char name[64], searched[1024];
        snprintf(name, sizeof name, "bench_drop_%s", be);
        char *p = bench_find_program(name, searched, sizeof searched);
        if (!p) {
            bj_push(errors, bj_strf("%s not found (looked in %s)", name, searched));
            continue;
        }
        char *argv[] = {p, "--list", ln, "--chain", cn, "--reps", rn, "--threads", "both", NULL};
        bench_proc_result r;
        int started = bench_run(argv, 900, &r);
        bool ok = started == 0 && r.exit_code == 0 && !r.term_signal && !r.timed_out;
        int rows = ok ? drop_parse(r.out, be, cfgs) : 0;
        if (!ok || rows != 4) {
            bj_push(errors, bj_strf("%s: %s", name, started != 0 ? "could not start" : ok ? "unexpected output" : "failed"));
            if (started == 0)
                bj_push(errors, stderr_tail(r.err));
        }
        progress("drop %s: %s, %.2f s", be, ok && rows == 4 ? "ok" : "FAILED", started == 0 ? r.wall_s : 0.0);
        if (started == 0)
            bench_proc_result_free(&r);
        free(p);
        step_done(est_drop_run);
    }
    return dr;
}

static void drop_targets(const bj *dr, bj *targets)
{
    static const char *const shapes[] = {"list", "chain"};
    for (size_t i = 0; i < 2; i++) {
        const bj *cfgs = bj_get(dr, "configs");
        const bj *d = bench_find_cfg(cfgs, "backend", "deferred", "what", shapes[i], 2),
                 *a = bench_find_cfg(cfgs, "backend", "atomic", "what", shapes[i], 2);
        if (!d && !a)
            continue;
        double td = bj_getnum(d, "median_s", NAN), ta = bj_getnum(a, "median_s", NAN);
        char id[64], what[192], det[256];
        snprintf(id, sizeof id, "drop_%s_deferred_vs_atomic", shapes[i]);
        snprintf(what, sizeof what, "dropping a %gM-%s (second thread attached): deferred <= 1.5x atomic's time",
                 bj_getnum(d ? d : a, "n", 0) / 1e6, i == 0 ? "int list" : "deep chain of lists");
        snprintf(det, sizeof det, "deferred %.3f s, atomic %.3f s (medians)", td, ta);
        add_target(targets, id, "deferred", what, ta > 0 ? td / ta : NAN, "<=", 1.5, "x", det);
    }
}

/* ---- the interpreter's programs: tally-py-<backend> on stress/programs/<name>.py --------------- */
/* One thread, every backend but racy and python3 on the same file, in rounds (python3, then each
 * backend) so both sides of every ratio share the same minutes.  A run counts when it exits 0 (each
 * program checks its own result) and prints what python3 printed for the same file when python3
 * ran; the others are failures with no figure.  Targets (issue 14): over the programs' geometric
 * mean, gil at most 1.5x CPython 3.11, biased and deferred at most 1.10x gil. */
static const struct {
    const char *name, *size;   /* the timing size of docs/interpreter.md's table; --quick: default */
} py_programs[] = {
    {"richards", "40"},    {"deltablue", "40000"}, {"nbody", "200000"}, {"queens", "12"},
    {"gcbench", "14"},     {"json_bench", "300"},  {"havlak", "30"},    {"cd", "200"},
    {"gc_collect", "150"}, {"gc_traversal", "60"},
};
#define NPY_PROGRAMS (sizeof py_programs / sizeof py_programs[0])
static double est_py_run;

static bj *py_cfg(bj *cfgs, const char *program, const char *runner)
{
    const bj *found = bench_find_cfg(cfgs, "program", program, "runner", runner, -1);
    if (found)
        return (bj *)found;
    bj *c = bj_push(cfgs, bj_obj());
    bj_set(c, "program", bj_str(program));
    bj_set(c, "runner", bj_str(runner));
    bj_set(c, "failures", bj_num(0));
    bj_set(c, "runs", bj_arr());
    return c;
}

/* One run; returns its stdout (malloc'd) when it succeeded (and matched `expect` if given). */
static char *py_run_one(char *const argv[], const char *program, const char *runner, const char *expect, bj *cfg)
{
    bench_proc_result r;
    bj *run = bj_push(bj_get(cfg, "runs"), bj_obj());
    int started = bench_run(argv, 900, &r);
    if (drop_if_interrupted(bj_get(cfg, "runs"), &r))
        return NULL;
    char *out = NULL;
    const char *why = NULL;
    if (started != 0)
        why = "could not start";
    else if (r.term_signal || r.timed_out || r.exit_code != 0)
        why = r.timed_out ? "timed out" : r.term_signal ? "crashed" : "exited non-zero (a check failed)";
    else if (expect && strcmp(expect, r.out) != 0)
        why = "printed other lines than python3";
    if (why) {
        bj_set(run, "error", bj_str(why));
        bj_set(cfg, "failures", bj_num(bj_getnum(cfg, "failures", 0) + 1));
        if (started == 0)
            bj_set(run, "stderr_tail", stderr_tail(r.err));
    } else {
        bj *m = bj_obj();
        bj_set(m, "wall_s", bj_num(r.wall_s));
        bj_set(m, "cpu_s", bj_num(r.cpu_s));
        bj_set(m, "peak_rss_kb", bj_num((double)r.peak_rss_kb));
        bj_set(run, "metrics", m);
        out = strdup(r.out);
    }
    progress("program %s on %s: %s, %.2f s", program, runner, why ? why : "ok", started == 0 ? r.wall_s : 0.0);
    if (started == 0)
        bench_proc_result_free(&r);
    step_done(est_py_run);
    return out;
}

static bj *run_py_programs(const bench_opts *o, size_t reps, bool quick)
{
    bj *pp = bj_obj();
    bj_set(pp, "reps", bj_num((double)reps));
    bj_set(pp, "quick", bj_bool(quick));
    bj *cfgs = bj_set(pp, "configs", bj_arr()), *errors = bj_set(pp, "errors", bj_arr());
    char *py[16] = {0};
    char searched[1024];
    for (size_t b = 0; b < o->nbackends && b < 16; b++) {
        char name[64];
        snprintf(name, sizeof name, "tally-py-%s", o->backends[b]);
        if (strcmp(o->backends[b], "racy") != 0 && !(py[b] = bench_find_program(name, searched, sizeof searched)))
            bj_push(errors, bj_strf("%s not found (looked in %s)", name, searched));
    }
    for (size_t rep = 0; rep < reps && !bench_stop_signal; rep++)
        for (size_t i = 0; i < NPY_PROGRAMS && !bench_stop_signal; i++) {
            char rel[96];
            snprintf(rel, sizeof rel, "stress/programs/%s.py", py_programs[i].name);
            char *script = bench_find_source_file(rel);
            if (!script) {
                if (rep == 0)
                    bj_push(errors, bj_strf("%s not found", rel));
                continue;
            }
            char *size = quick ? NULL : (char *)py_programs[i].size;
            char *argv_py[] = {(char *)"/usr/bin/env", "python3", script, size, NULL};
            char *expect = py_run_one(argv_py, py_programs[i].name, "python3", NULL, py_cfg(cfgs, py_programs[i].name, "python3"));
            for (size_t b = 0; b < o->nbackends && b < 16 && !bench_stop_signal; b++) {
                if (!py[b])
                    continue;
                char *argv_b[] = {py[b], script, size, NULL};
                free(py_run_one(argv_b, py_programs[i].name, o->backends[b], expect,
                                py_cfg(cfgs, py_programs[i].name, o->backends[b])));
            }
            free(expect);
            free(script);
        }
    for (size_t i = 0; i < bj_len(cfgs); i++)
        bj_set(bj_at(cfgs, i), "summary", summarise(bj_get(bj_at(cfgs, i), "runs"), "metrics"));
    for (size_t b = 0; b < 16; b++)
        free(py[b]);
    return pp;
}

/* Geometric mean over the programs of runner a's median CPU time over runner b's (NAN unless
 * every program has both).  CPU time (user + system, every thread of the process): on a shared
 * machine it moves far less than the wall time, and it still counts the work of a backend's
 * helper thread. */
static double py_geomean_ratio(const bj *pp, const char *a, const char *b, int *nprog)
{
    double logsum = 0;
    int n = 0;
    const bj *cfgs = bj_get(pp, "configs");
    for (size_t i = 0; i < NPY_PROGRAMS; i++) {
        const bj *ca = bench_find_cfg(cfgs, "program", py_programs[i].name, "runner", a, -1),
                 *cb = bench_find_cfg(cfgs, "program", py_programs[i].name, "runner", b, -1);
        double ta = bj_getnum(bj_get(bj_get(ca, "summary"), "cpu_s"), "median", NAN),
               tb = bj_getnum(bj_get(bj_get(cb, "summary"), "cpu_s"), "median", NAN);
        if (!(ta > 0) || !(tb > 0))
            return NAN;
        logsum += log(ta / tb);
        n++;
    }
    *nprog = n;
    return n ? exp(logsum / n) : NAN;
}

static void py_targets(const bj *pp, bj *targets)
{
    if (!pp)
        return;
    /* --quick runs the programs' test sizes, 10-200 ms, mostly start-up: no speed figure */
    bool quick = bj_getnum(pp, "quick", 0) != 0;
    char d[256];
    int n = 0;
    double g = quick ? NAN : py_geomean_ratio(pp, "gil", "python3", &n);
    snprintf(d, sizeof d, quick ? "--quick: test sizes, too short to time" :
             "geometric mean over %d programs of gil's median CPU time / python3's", n);
    add_target(targets, "py_programs_gil_vs_cpython", "gil", "programs, 1 thread: gil at most 1.5x CPython 3.11 (geometric mean)",
               g, "<=", 1.5, "x", d);
    static const char *const fts[] = {"biased", "deferred"};
    for (size_t i = 0; i < 2; i++) {
        char id[64], what[128];
        double r = quick ? NAN : py_geomean_ratio(pp, fts[i], "gil", &n);
        snprintf(id, sizeof id, "py_programs_%s_vs_gil", fts[i]);
        snprintf(what, sizeof what, "programs, 1 thread: %s at most 1.10x gil (geometric mean)", fts[i]);
        if (quick)
            snprintf(d, sizeof d, "--quick: test sizes, too short to time");
        else
            snprintf(d, sizeof d, "geometric mean over %d programs of %s's median CPU time / gil's", n, fts[i]);
        add_target(targets, id, fts[i], what, r, "<=", 1.10, "x", d);
    }
}

/* ---- the command ---------------------------------------------------------------------------- */
/* --render: the report of an existing results.json (after the report code changed, say). */
static int render_only(const char *path, const char *out)
{
    char err[512];
    bj *res = bj_read_file(path, err, sizeof err);
    if (!res || strcmp(bj_getstr(res, "schema", ""), "tally-bench-results") != 0) {
        int rc = tally_cli_error(PROG, "invalid value '%s' for --render: %s", path,
                                 res ? "not a tally bench results.json" : err);
        bj_free(res);
        return rc;
    }
    if (bench_mkdir_p(out) != 0) {
        fprintf(stderr, PROG ": cannot create output directory %s\n", out);
        bj_free(res);
        return 1;
    }
    char dst[4096];
    snprintf(dst, sizeof dst, "%s/results.json", out);
    int rc = bj_write_file(dst, res) != 0 ? 1 : bench_write_report(out, res);
    if (!rc)
        fprintf(stderr, PROG ": wrote %s/results.json, results.csv, report.md and plots from %s\n", out, path);
    bj_free(res);
    return rc;
}


/* SIGINT, SIGTERM: stop the plan (bench_stop_signal, bench_proc.c), write what was measured,
 * exit 128 + the signal.  A second one ends the process at once. */
static void on_stop(int sig)
{
    if (bench_stop_signal) {
        signal(sig, SIG_DFL);
        raise(sig);
        return;
    }
    bench_stop_signal = sig;
}

static void usage(FILE *f, tally_cli_opt *opts, size_t n)
{
    tally_cli_usage(f, "tally bench [--quick] [--out DIR] [--reps N] [--threads LIST] [--backends LIST] "
                       "[--workloads LIST] [--compare A/results.json B/results.json [--threshold PCT]]",
                    "Measure every backend (microbenchmarks, collector, stress workloads x thread counts,\n"
                    "each configuration in its own process) and write results.json, results.csv,\n"
                    "report.md and plots to DIR.  --compare A B lists the targets whose status changed and\n"
                    "the figures whose median moved, largest change first.",
                    opts, n);
}

int tally_bench_main(int argc, char **argv)
{
    bench_opts o;
    memset(&o, 0, sizeof o);
    o.out = "report";
    bool quick = false;
    uint64_t reps = 3;
    double seconds = 0;
    const char *threads_arg = NULL, *backends_arg = NULL, *workloads_arg = NULL, *unused_compare = NULL,
               *render = NULL;
    double threshold = 5;
    tally_cli_opt opts[] = {
        {"--quick", TALLY_CLI_FLAG, NULL, "short runs (under 3 minutes on 2 cores)", NULL, 0, 0, 0, 0, NULL, &quick, false},
        {"--out", TALLY_CLI_STRING, "DIR", "output directory", "report", 0, 0, 0, 0, NULL, &o.out, false},
        {"--reps", TALLY_CLI_UINT, "N", "repetitions of every configuration", "3 (quick: 2)", 1, 100, 0, 0, NULL, &reps, false},
        {"--seconds", TALLY_CLI_DOUBLE, "S", "seconds per stress run", "0.8 (quick: 0.15)", 0, 0, 0.05, 600, NULL,
         &seconds, false},
        {"--threads", TALLY_CLI_STRING, "LIST", "thread counts, comma-separated", "1,2,... up to 2x the cores", 0, 0,
         0, 0, NULL, &threads_arg, false},
        {"--backends", TALLY_CLI_STRING, "LIST", "backends, comma-separated (those of tally stress --backend)",
         "all", 0, 0, 0, 0, NULL, &backends_arg, false},
        {"--workloads", TALLY_CLI_STRING, "LIST", "stress workloads, comma-separated (see tally stress --help)", "all",
         0, 0, 0, 0, NULL, &workloads_arg, false},
        {"--render", TALLY_CLI_STRING, "FILE", "write results.csv, report.md and the plots of an existing "
         "results.json into --out, measuring nothing", NULL, 0, 0, 0, 0, NULL, &render, false},
        /* Listed for --help and error messages; taken out of argv before parsing (two values). */
        {"--compare", TALLY_CLI_STRING, "A B", "compare two results.json (targets whose status changed, then the "
         "figures that moved, with a Mann-Whitney U test) and exit", NULL, 0, 0, 0, 0, NULL, &unused_compare, false},
        {"--threshold", TALLY_CLI_DOUBLE, "PCT", "--compare: list the figures whose median moved by PCT percent "
         "or more", "5", 0, 0, 0, 1e6, NULL, &threshold, false},
    };
    const size_t nopts = sizeof opts / sizeof opts[0];

    /* --compare takes two values: take it out before the table parser sees the rest. */
    char **rest = calloc((size_t)argc + 1, sizeof *rest);
    int nrest = 0;
    for (int i = 0; i < argc; i++) {
        if (i > 0 && strcmp(argv[i], "--compare") == 0) {
            if (i + 2 >= argc || strncmp(argv[i + 1], "--", 2) == 0 || strncmp(argv[i + 2], "--", 2) == 0) {
                free(rest);
                return tally_cli_error(PROG, "missing value for --compare: expected two results.json paths (A B)");
            }
            o.compare_a = argv[i + 1];
            o.compare_b = argv[i + 2];
            i += 2;
            continue;
        }
        rest[nrest++] = argv[i];
    }
    int rc = tally_cli_parse(PROG, nrest, rest, 1, opts, nopts);
    free(rest);
    if (rc == 1) {
        usage(stdout, opts, nopts);
        return 0;
    }
    if (rc)
        return rc;
    if (unused_compare)
        return tally_cli_error(PROG, "invalid value '%s' for --compare: expected two results.json paths (--compare A B)",
                               unused_compare);
    if (o.compare_a)
        return bench_compare(o.compare_a, o.compare_b, threshold);
    if (tally_cli_find(opts, nopts, "--threshold")->seen)
        return tally_cli_error(PROG, "invalid combination --threshold %g: it applies to --compare A B only", threshold);
    if (render)
        return render_only(render, o.out);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop;
    sa.sa_flags = SA_RESTART;   /* bench_run's poll still returns EINTR and looks at the flag */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    o.quick = quick;
    /* quick: 2 repetitions of 0.15 s unless told otherwise; full: 3 of 0.8 s (about 13 minutes
     * on the 2-core machine, 3 when --quick) */
    o.reps = tally_cli_find(opts, nopts, "--reps")->seen ? reps : quick ? 2 : 3;
    o.seconds = seconds > 0 ? seconds : quick ? 0.15 : 0.8;
    o.micro_min_time = quick ? 0.03 : 0.1;
    /* Refcount rows: at least 7 repetitions of 0.1 s, so a median (and the ratios of medians:
     * 2 threads / 1, a pair / its anchor) survives up to 3 repetitions that a busy moment of a
     * shared machine slowed; 3 moved the scaling rows by 0.5x from one run to the next.  The
     * collector rows are long (10^6 objects, 3,000 collections): the --reps of the run. */
    o.micro_reps = quick ? 3 : reps < 7 ? 7 : reps;
    o.gc_reps = quick ? 1 : reps < 3 ? 3 : reps;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    if (cores < 1)
        cores = 1;
    if (threads_arg) {
        if ((rc = parse_threads_list(threads_arg, o.threads, &o.nthreads)) != 0)
            return rc;
    } else {
        for (int t = 1; t <= 2 * cores && o.nthreads < MAX_LIST; t *= 2)
            o.threads[o.nthreads++] = t;
        if (o.threads[o.nthreads - 1] != 2 * cores && o.nthreads < MAX_LIST)
            o.threads[o.nthreads++] = (int)(2 * cores);
    }
    if (backends_arg) {
        if ((rc = parse_name_list("--backends", backends_arg, stress_backend_names, o.backends, &o.nbackends)) != 0)
            return rc;
    } else {
        for (size_t i = 0; stress_backend_names[i] && o.nbackends < MAX_LIST; i++)
            o.backends[o.nbackends++] = stress_backend_names[i];
    }
    const char *const *wl = discover_workloads();
    if (workloads_arg) {
        if ((rc = parse_name_list("--workloads", workloads_arg, wl, o.workloads, &o.nworkloads)) != 0)
            return rc;
    } else {
        for (size_t i = 0; wl[i] && o.nworkloads < MAX_LIST; i++)
            o.workloads[o.nworkloads++] = wl[i];
    }
    if (bench_mkdir_p(o.out) != 0) {
        fprintf(stderr, PROG ": cannot create output directory %s\n", o.out);
        return 1;
    }

    /* Plan and estimate (calibrated on the 2-core machine): per backend the refcount rows
     * (~25 rows x repetitions x min time, plus thread start-up), the two memory rows and the
     * collector's rows; each stress run (its seconds plus process start and final checks);
     * the CPython anchor. */
    size_t nconfigs = 0;   /* workload x thread count pairs that run (see the matrix below) */
    size_t nfair = 0;      /* the fair GIL's extra convoy runs, where gil is measured */
    bool with_gil = false;
    for (size_t i = 0; i < o.nbackends; i++)
        with_gil |= strcmp(o.backends[i], "gil") == 0;
    for (size_t w = 0; w < o.nworkloads; w++)
        for (size_t t = 0; t < o.nthreads; t++) {
            bool runs = (unsigned)o.threads[t] >= stress_workload_min_threads(o.workloads[w]);
            nconfigs += runs;
            nfair += runs && with_gil && strcmp(o.workloads[w], "convoy") == 0;
        }
    size_t nstress = (o.nbackends * nconfigs + nfair) * (size_t)o.reps;
    /* binary-trees: every backend but racy with 1 and 2 threads, and CPython, per round */
    size_t bt_reps = o.reps < BT_MIN_REPS ? BT_MIN_REPS : (size_t)o.reps, bt_backends = 0;
    int bt_depth = quick ? BT_DEPTH_QUICK : BT_DEPTH;
    for (size_t i = 0; i < o.nbackends; i++)
        bt_backends += strcmp(o.backends[i], "racy") != 0;
    size_t nprograms = bt_reps * (bt_backends * BT_NTHREADS + 1);
    size_t rss_objects = quick ? RSS_OBJECTS_QUICK : RSS_OBJECTS, rss_reps = quick ? 1 : 3;
    size_t nrss = bt_backends * 2 * rss_reps;
    size_t drop_list = quick ? DROP_LIST / 10 : DROP_LIST, drop_chain = quick ? DROP_CHAIN / 10 : DROP_CHAIN;
    size_t drop_reps = quick ? 1 : 3;
    size_t py_reps = quick ? 1 : 3, npy = py_reps * NPY_PROGRAMS * (bt_backends + 1);
    steps_total = o.nbackends * 3 + nstress + 1 + nprograms + nrss + bt_backends + npy;
    est_micro_rows = (double)o.micro_reps * o.micro_min_time * 80 + 3;
    est_memory = 1;
    est_gc = (double)o.gc_reps * 10 + 2;
    est_stress_run = o.seconds + 0.25;
    est_anchor = quick ? 10 : 40;
    est_program_run = quick ? 0.5 : 2.0; /* 1.2-5 s at depth 16 on the 2-core machine */
    est_rss_run = quick ? 1.0 : 9.0;     /* about 0.18 s per million objects on the 2-core machine */
    est_drop_run = quick ? 2.0 : 20.0;   /* build and drop, 4 shapes x reps: 5-8 s per rep at full size */
    est_py_run = quick ? 0.3 : 3.0;      /* 1-8 s CPU at the timing sizes on the 2-core machine */
    est_total_s = (double)o.nbackends * (est_micro_rows + est_memory + est_gc) + (double)nstress * est_stress_run +
                  est_anchor + (double)nprograms * est_program_run + (double)nrss * est_rss_run +
                  (double)bt_backends * est_drop_run + (double)npy * est_py_run;
    char est[32];
    fmt_duration(est_total_s, est, sizeof est);
    fprintf(stderr,
            PROG ": %zu backends x %zu (workload, thread count) pairs (%zu workloads x %zu thread counts, less "
                 "those below a workload's minimum) x %llu repetitions = %zu stress runs of %gs,\n"
                 "  plus microbenchmarks and %zu binary-trees runs (depth %d); estimated duration %s (m:ss) on %ld "
                 "cores.  Output: %s/\n",
            o.nbackends, nconfigs, o.nworkloads, o.nthreads, (unsigned long long)o.reps, nstress, o.seconds, nprograms,
            bt_depth, est, cores, o.out);
    t_start = bench_now();

    time_t now = time(NULL);
    char date[64];
    strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    bj *res = bj_obj();
    bj_set(res, "schema", bj_str("tally-bench-results"));
    bj_set(res, "schema_version", bj_num(BENCH_SCHEMA_VERSION));
    bj_set(res, "date", bj_str(date));
    bj_set(res, "machine", bench_machine_info());
    bj_set(res, "versions", bench_versions());
    bj *par = bj_set(res, "parameters", bj_obj());
    bj_set(par, "quick", bj_bool(o.quick));
    bj_set(par, "reps", bj_num((double)o.reps));
    bj_set(par, "seconds_per_stress_run", bj_num(o.seconds));
    bj_set(par, "micro_repetitions", bj_num((double)o.micro_reps));
    bj_set(par, "micro_min_time_s", bj_num(o.micro_min_time));
    bj *l = bj_set(par, "threads", bj_arr());
    for (size_t i = 0; i < o.nthreads; i++)
        bj_push(l, bj_num(o.threads[i]));
    l = bj_set(par, "backends", bj_arr());
    for (size_t i = 0; i < o.nbackends; i++)
        bj_push(l, bj_str(o.backends[i]));
    l = bj_set(par, "workloads", bj_arr());
    for (size_t i = 0; i < o.nworkloads; i++)
        bj_push(l, bj_str(o.workloads[i]));
    bj_set(par, "binary_trees_depth", bj_num(bt_depth));
    bj_set(par, "binary_trees_reps", bj_num((double)bt_reps));
    bj_set(par, "estimated_s", bj_num(est_total_s));

    bj *micro = bj_set(res, "micro", bj_obj());
    bj *gc = bj_set(res, "gc", bj_obj());
    run_micro(&o, micro, gc);
    bj_set(res, "cpython_gc", run_cpython_anchor());
    step_done(est_anchor);
    progress("anchor: CPython collector (cpython_gc.py)");

    bj *configs = bj_set(res, "stress", bj_arr());
    for (size_t w = 0; w < o.nworkloads && !bench_stop_signal; w++)
        for (size_t b = 0; b < o.nbackends && !bench_stop_signal; b++)
            for (size_t t = 0; t < o.nthreads && !bench_stop_signal; t++) {
                /* convoy, handoff, readmostly: two roles, at least 2 threads (tally stress
                 * refuses fewer) */
                if ((unsigned)o.threads[t] < stress_workload_min_threads(o.workloads[w]))
                    continue;
                run_stress_config(&o, o.backends[b], o.backends[b], NULL, o.workloads[w], o.threads[t], configs);
                /* The fair GIL beside the default one, where the convoy measures it. */
                if (strcmp(o.backends[b], "gil") == 0 && strcmp(o.workloads[w], "convoy") == 0 && !bench_stop_signal)
                    run_stress_config(&o, "gil", "gil-fair", "--gil-fair", o.workloads[w], o.threads[t], configs);
            }
    bj *programs = bj_set(res, "programs", bj_obj());
    bj_set(programs, "binary_trees", run_programs(&o, bt_reps, bt_depth));
    bj_set(res, "memory_return", run_rss(&o, rss_reps, rss_objects));
    bj_set(res, "drop", run_drop(&o, drop_reps, drop_list, drop_chain));
    bj_set(programs, "interpreter", run_py_programs(&o, py_reps, quick));

    int stopped_by = bench_stop_signal;
    if (stopped_by) {
        bj_set(res, "interrupted", bj_str(stopped_by == SIGTERM ? "SIGTERM" : "SIGINT"));
        progress("interrupted by %s: writing what was measured", stopped_by == SIGTERM ? "SIGTERM" : "SIGINT");
    }
    bj *targets = bj_set(res, "targets", bj_arr());
    micro_targets(micro, targets);
    gc_targets(&o, gc, targets);
    program_targets(&o, bj_get(programs, "binary_trees"), targets);
    rss_targets(bj_get(res, "memory_return"), targets);
    drop_targets(bj_get(res, "drop"), targets);
    py_targets(bj_get(programs, "interpreter"), targets);
    stress_targets(&o, configs, cores, targets);
    gil_fair_targets(&o, configs, targets);
    bj_set(res, "duration_s", bj_num(bench_now() - t_start));
    double load[1];
    if (getloadavg(load, 1) == 1)
        bj_set(res, "loadavg_at_end", bj_num(load[0]));
    collect_figures(res, bj_set(res, "figures", bj_arr()));

    char path[4096];
    snprintf(path, sizeof path, "%s/results.json", o.out);
    if (bj_write_file(path, res) != 0) {
        fprintf(stderr, PROG ": cannot write %s\n", path);
        bj_free(res);
        return 1;
    }
    rc = bench_write_report(o.out, res);
    char dur[32];
    fmt_duration(bench_now() - t_start, dur, sizeof dur);
    fprintf(stderr, PROG ": %s in %s; wrote %s/results.json, results.csv, report.md and plots%s\n",
            stopped_by ? "INTERRUPTED" : "done", dur, o.out, stopped_by ? " of what was measured" : "");
    bj_free(res);
    return rc ? rc : stopped_by ? 128 + stopped_by : 0;
}
