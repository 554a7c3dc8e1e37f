/* stress/bench/bench_report.c - the report of `tally bench`: CSV, Markdown, plots.
 *
 * Owns: turning results.json (built by bench_main.c) into results.csv (one row per figure),
 * report.md (machine, targets met/missed, microbenchmarks against the anchors, throughput per
 * backend and thread count, pause percentiles, memory, GIL switching, race detection, the
 * collector against CPython, whole programs: binary-trees per backend with 1 and 2 threads
 * against CPython) and gnuplot plots in PNG and SVG (throughput vs threads per
 * workload, each role apart for the two-role workloads (role_figures), pause CDFs per backend,
 * memory per object).  Every throughput table says what one operation is
 * (stress_workload_operation, stress/harness/options.c).  The gnuplot script and its data files
 * stay in the output directory so the plots can be redrawn.
 *
 * The stress figures are read by name from the flattened `tally stress --json` output:
 * throughput from the first key found among throughput_keys, pauses from keys that name a
 * pause histogram (…pause…p50/p90/p99/p999/max), GIL figures from keys starting "gil".
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "bench.h"
#include "../harness/options.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const throughput_keys[] = {"ops_per_s", "ops_per_sec", "ops_per_second", "throughput",
                                              "throughput_ops_s", NULL};

/* ---- helpers ------------------------------------------------------------------------------ */
static const char *last_component(const char *key)
{
    const char *dot = strrchr(key, '.');
    return dot ? dot + 1 : key;
}

/* The summary entry {median,min,max} of the first candidate key (whole key or last component). */
static const bj *find_metric(const bj *summary, const char *const *cands, const char **key_out)
{
    for (size_t c = 0; cands[c]; c++)
        BJ_EACH(summary, m)
            if (strcmp(BJ_KEY(m), cands[c]) == 0 || strcmp(last_component(BJ_KEY(m)), cands[c]) == 0) {
                if (key_out)
                    *key_out = BJ_KEY(m);
                return BJ_VAL(m);
            }
    return NULL;
}

static double med(const bj *stat) { return bj_getnum(stat, "median", NAN); }

/* Human-readable number: 3 significant digits with k/M/G. */
static const char *fmt_num(double v, char *buf, size_t len)
{
    if (!isfinite(v))
        snprintf(buf, len, "n/a");
    else if (fabs(v) >= 1e9)
        snprintf(buf, len, "%.3gG", v / 1e9);
    else if (fabs(v) >= 1e6)
        snprintf(buf, len, "%.3gM", v / 1e6);
    else if (fabs(v) >= 1e4)
        snprintf(buf, len, "%.3gk", v / 1e3);
    else if (fabs(v) >= 100 || v == floor(v))
        snprintf(buf, len, "%.0f", v);
    else
        snprintf(buf, len, "%.3g", v);
    return buf;
}

/* "median [min–max]" */
static const char *fmt_stat(const bj *stat, char *buf, size_t len)
{
    char a[32], b[32], c[32];
    if (!stat || !isfinite(med(stat))) {
        snprintf(buf, len, "–");
        return buf;
    }
    double mn = bj_getnum(stat, "min", NAN), mx = bj_getnum(stat, "max", NAN);
    if (mn == mx || !isfinite(mn))
        snprintf(buf, len, "%s", fmt_num(med(stat), a, sizeof a));
    else
        snprintf(buf, len, "%s [%s–%s]", fmt_num(med(stat), a, sizeof a), fmt_num(mn, b, sizeof b),
                 fmt_num(mx, c, sizeof c));
    return buf;
}

static size_t distinct_threads(const bj *arr, int *out, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < bj_len(arr); i++) {
        int t = (int)bj_getnum(bj_at(arr, i), "threads", 0);
        size_t j;
        for (j = 0; j < n; j++)
            if (out[j] == t)
                break;
        if (j == n && n < max)
            out[n++] = t;
    }
    for (size_t i = 1; i < n; i++) /* insertion sort */
        for (size_t j = i; j > 0 && out[j - 1] > out[j]; j--) {
            int x = out[j];
            out[j] = out[j - 1];
            out[j - 1] = x;
        }
    return n;
}

static const bj *find_cfg(const bj *cfgs, const char *backend, const char *workload, int threads)
{
    for (size_t i = 0; i < bj_len(cfgs); i++) {
        const bj *c = bj_at(cfgs, i);
        if (strcmp(bj_getstr(c, "backend", ""), backend) == 0 && strcmp(bj_getstr(c, "workload", ""), workload) == 0 &&
            (int)bj_getnum(c, "threads", -1) == threads)
            return c;
    }
    return NULL;
}

/* Quantile named by a histogram key's last component, as `tally stress --json` writes them:
 * p50 -> 0.5, p99 -> 0.99, p99_9 -> 0.999, max -> 1; NaN for anything else (count, mean, min). */
static double key_quantile(const char *comp)
{
    if (strcmp(comp, "max") == 0)
        return 1.0;
    if (comp[0] != 'p' || comp[1] < '0' || comp[1] > '9')
        return NAN;
    char pct[16];
    size_t n = 0;
    for (const char *p = comp + 1; *p && n < sizeof pct - 1; p++) {
        if (*p >= '0' && *p <= '9')
            pct[n++] = *p;
        else if (*p == '_')
            pct[n++] = '.';
        else
            return NAN;
    }
    pct[n] = 0;
    return atof(pct) / 100.0;
}

/* The stop-the-world pause histogram of the stress JSON (nanoseconds) and its quantiles. */
#define PAUSE_HIST "gc_stw_pause_ns"
static const char *const pause_quantiles[] = {"p50", "p90", "p99", "p99_9", "max", NULL};

/* Median over the repetitions of `hist`.`field` in a configuration's summary. */
static double hist_field(const bj *cfg, const char *hist, const char *field)
{
    char key[128];
    snprintf(key, sizeof key, "%s.%s", hist, field);
    return med(bj_get(bj_get(cfg, "summary"), key));
}

/* The names listed under parameters.<key> of results.json (backends, workloads). */
static size_t param_names(const bj *res, const char *key, const char **out, size_t max)
{
    const bj *l = bj_get(bj_get(res, "parameters"), key);
    size_t n = 0;
    for (size_t i = 0; i < bj_len(l) && n < max; i++)
        if (bj_is_str(bj_at(l, i)))
            out[n++] = json_object_get_string(bj_at(l, i));
    return n;
}

/* ---- results.csv -------------------------------------------------------------------------- */
static int write_csv(const char *dir, const bj *res)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/results.csv", dir);
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    fprintf(f, "figure,median,min,max\n");
    const bj *figs = bj_get(res, "figures");
    for (size_t i = 0; i < bj_len(figs); i++) {
        const bj *x = bj_at(figs, i);
        fprintf(f, "\"%s\",%.6g,%.6g,%.6g\n", bj_getstr(x, "id", ""), bj_getnum(x, "median", NAN),
                bj_getnum(x, "min", NAN), bj_getnum(x, "max", NAN));
    }
    const bj *t = bj_get(res, "targets");
    for (size_t i = 0; i < bj_len(t); i++) {
        double v = bj_getnum(bj_at(t, i), "value", NAN);
        fprintf(f, "\"target/%s/%s\",%.6g,%.6g,%.6g\n", bj_getstr(bj_at(t, i), "id", ""),
                bj_getstr(bj_at(t, i), "status", ""), v, v, v);
    }
    return fclose(f);
}

/* ---- plots ---------------------------------------------------------------------------------- */
typedef struct {
    FILE *gp;          /* the gnuplot script */
    const char *dir;
    int nplots;
} plotter;

/* How a backend is named in the plots' keys: racy is the harness's negative control (plain
 * counts, no synchronisation), not a backend to choose, so it is marked as such, and its lines
 * are dashed (racy_style). */
static const char *plot_label(const char *backend)
{
    return strcmp(backend, "racy") == 0 ? "racy (control)" : backend;
}

static const char *racy_style(const char *backend)
{
    return strcmp(backend, "racy") == 0 ? " dashtype 2 lc rgb 'gray40'" : "";
}

/* Emit the same plot for PNG and SVG.  The terminals use gnuplot's enhanced text: ^ and _ start
 * a superscript and a subscript ("2^{20}", never "2^20", which reads 2²0). */
static void plot_both(plotter *p, const char *name, const char *body)
{
    fprintf(p->gp, "set terminal pngcairo size 900,560 font ',10'\nset output '%s.png'\n%s\n", name, body);
    fprintf(p->gp, "set terminal svg size 900,560 dynamic font ',10'\nset output '%s.svg'\n%s\n", name, body);
    p->nplots++;
}

/* Workloads whose threads have two roles, reported apart: the figure of each role (a rate of
 * all its threads together) and how many threads had it. */
typedef struct {
    const char *workload, *role, *legend, *count_key, *rate_key, *op;
} role_figure;
static const role_figure role_figures[] = {
    {"readmostly", "reader", "reads/s, all readers", "readmostly_readers", "readmostly_reads_per_s",
     "reads per second, all readers"},
    {"readmostly", "writer", "writes/s, the writer", "readmostly_writers", "readmostly_writes_per_s",
     "writes per second, the writer"},
};
#define NROLE_FIGURES (sizeof role_figures / sizeof role_figures[0])

static bool has_roles(const char *workload)
{
    for (size_t r = 0; r < NROLE_FIGURES; r++)
        if (strcmp(role_figures[r].workload, workload) == 0)
            return true;
    return false;
}

/* One data block of a plot: "threads median min max" for each thread count where one of keys
 * has a figure, then the blank lines that end a gnuplot index.  Returns the rows. */
static int write_series(FILE *d, const bj *cfgs, const char *backend, const char *workload, const int *threads,
                        size_t nt, const char *const *keys)
{
    int rows = 0;
    for (size_t t = 0; t < nt; t++) {
        const bj *c = find_cfg(cfgs, backend, workload, threads[t]);
        const bj *s = c ? find_metric(bj_get(c, "summary"), keys, NULL) : NULL;
        if (!s)
            continue;
        fprintf(d, "%d %.6g %.6g %.6g\n", threads[t], med(s), bj_getnum(s, "min", NAN), bj_getnum(s, "max", NAN));
        rows++;
    }
    fprintf(d, "\n\n");
    return rows;
}

/* The data file <kind>_<workload>.dat of a plot, opened for writing; name gets "<kind>_<workload>". */
static FILE *open_plot_data(const plotter *p, const char *kind, const char *workload, char *name, size_t len)
{
    char dat[4096];
    snprintf(name, len, "%s_%s", kind, workload);
    snprintf(dat, sizeof dat, "%s/%s.dat", p->dir, name);
    return fopen(dat, "w");
}

static void plot_throughput(plotter *p, const bj *cfgs, const char **workloads, size_t nw, const char **backends,
                            size_t nb, bj *plots)
{
    for (size_t w = 0; w < nw; w++) {
        char name[256];
        FILE *d = open_plot_data(p, "throughput", workloads[w], name, sizeof name);
        if (!d)
            continue;
        int threads[64];
        size_t nt = distinct_threads(cfgs, threads, 64);
        int blocks = 0;
        char cmd[8192];
        size_t pos = (size_t)snprintf(cmd, sizeof cmd,
                                      "reset\nset title 'Throughput vs threads: %s (median, bars min-max)'\n"
                                      "set xlabel 'threads'\nset ylabel 'operations per second'\n"
                                      "set key outside right\nset grid\nset logscale x 2\nset xtics (",
                                      workloads[w]);
        for (size_t t = 0; t < nt; t++)
            pos += (size_t)snprintf(cmd + pos, sizeof cmd - pos, "%s%d", t ? ", " : "", threads[t]);
        pos += (size_t)snprintf(cmd + pos, sizeof cmd - pos, ")\nset offsets graph 0.03, graph 0.03, 0, 0\nset yrange [0:*]\nplot");
        for (size_t b = 0; b < nb; b++) {
            fprintf(d, "# %s\n", backends[b]);
            int rows = write_series(d, cfgs, backends[b], workloads[w], threads, nt, throughput_keys);
            if (rows)
                pos += (size_t)snprintf(cmd + pos, sizeof cmd - pos,
                                        "%s '%s.dat' index %d using 1:2:3:4 with yerrorlines lw 2%s title '%s'",
                                        blocks ? "," : "", name, (int)b, racy_style(backends[b]),
                                        plot_label(backends[b]));
            blocks += rows > 0;
        }
        fclose(d);
        if (!blocks)
            continue;
        plot_both(p, name, cmd);
        bj_push(plots, bj_strf("%s", name));
    }
}

/* The roles of a two-role workload apart (role_figures): each role's rate vs the thread count,
 * one colour per backend, the first role solid and the second dashed, a log y axis (reads
 * outnumber writes by 10-100x). */
static void plot_roles(plotter *p, const bj *cfgs, const char **workloads, size_t nw, const char **backends,
                       size_t nb, bj *plots)
{
    for (size_t w = 0; w < nw; w++) {
        if (!has_roles(workloads[w]))
            continue;
        char name[256];
        FILE *d = open_plot_data(p, "roles", workloads[w], name, sizeof name);
        if (!d)
            continue;
        int threads[64];
        size_t nt = distinct_threads(cfgs, threads, 64);
        char cmd[8192];
        size_t pos = (size_t)snprintf(cmd, sizeof cmd,
                                      "reset\nset title '%s: each role apart (median, bars min-max)'\n"
                                      "set xlabel 'threads (1 writer, the others readers)'\n"
                                      "set ylabel 'operations per second of the role'\nset key outside right\n"
                                      "set grid\nset logscale x 2\nset logscale y\nset offsets graph 0.03, graph 0.03, 0, 0\nplot",
                                      workloads[w]);
        int blocks = 0, idx = 0;
        for (size_t b = 0; b < nb; b++)
            for (size_t r = 0; r < NROLE_FIGURES; r++) {
                const role_figure *rf = &role_figures[r];
                if (strcmp(rf->workload, workloads[w]) != 0)
                    continue;
                fprintf(d, "# %s %s\n", backends[b], rf->role);
                const char *const rk[] = {rf->rate_key, NULL};
                int rows = write_series(d, cfgs, backends[b], workloads[w], threads, nt, rk);
                if (rows && pos < sizeof cmd)
                    pos += (size_t)snprintf(cmd + pos, sizeof cmd - pos,
                                            "%s '%s.dat' index %d using 1:2:3:4 with yerrorlines lw 2 lc %d%s title '%s %s'",
                                            blocks ? "," : "", name, idx, (int)b + 1, r ? " dt 2" : "",
                                            plot_label(backends[b]), rf->legend);
                blocks += rows > 0;
                idx++;
            }
        fclose(d);
        if (!blocks || pos >= sizeof cmd)
            continue;
        plot_both(p, name, cmd);
        bj_push(plots, bj_strf("%s", name));
    }
}

/* Pause CDF per backend: for each workload at the largest thread count, the pause percentiles
 * (x: pause in microseconds, log scale; y: fraction of pauses at or below). */
static void plot_pause_cdfs(plotter *p, const bj *cfgs, const char **workloads, size_t nw, const char **backends,
                            size_t nb, bj *plots)
{
    int threads[64];
    size_t nt = distinct_threads(cfgs, threads, 64);
    if (!nt)
        return;
    for (size_t b = 0; b < nb; b++) {
        char dat[4096], name[256];
        snprintf(name, sizeof name, "pause_cdf_%s", backends[b]);
        snprintf(dat, sizeof dat, "%s/%s.dat", p->dir, name);
        FILE *d = fopen(dat, "w");
        if (!d)
            continue;
        char cmd[8192];
        size_t pos = (size_t)snprintf(cmd, sizeof cmd,
                                      "reset\nset title 'Stop-the-world pause CDF: %s (every histogram bucket, pooled over repetitions)'\n"
                                      "set xlabel 'pause (microseconds, log scale)'\n"
                                      "set ylabel 'fraction of pauses <= x'\nset logscale x\nset yrange [0:1.02]\n"
                                      "set key outside right\nset grid\nplot",
                                      plot_label(backends[b]));
        int block = 0, drawn = 0;
        for (size_t w = 0; w < nw; w++) {
            /* the largest thread count that has pause figures */
            for (size_t t = nt; t-- > 0;) {
                const bj *c = find_cfg(cfgs, backends[b], workloads[w], threads[t]);
                /* only configurations with collections during the run (not just the final one) */
                if (!c || !(hist_field(c, PAUSE_HIST, "count") >= 2))
                    continue;
                /* The whole distribution, pooled over the repetitions, when the run kept it (a
                 * step per histogram bucket); otherwise the six percentiles joined by lines. */
                const bj *pb = bj_get(c, "pause_buckets");
                bool buckets = bj_len(pb) >= 2;
                size_t cap = 16 + (buckets ? bj_len(pb) : 0), n = 0;
                double *qs = malloc(cap * sizeof *qs), *us = malloc(cap * sizeof *us);
                if (!qs || !us) {
                    free(qs), free(us);
                    continue;
                }
                if (buckets) {
                    double total = 0, seen = 0;
                    for (size_t i = 0; i < bj_len(pb); i++)
                        total += bj_numval(bj_at(bj_at(pb, i), 1));
                    for (size_t i = 0; i < bj_len(pb); i++) {
                        seen += bj_numval(bj_at(bj_at(pb, i), 1));
                        us[n] = bj_numval(bj_at(bj_at(pb, i), 0)) * 1e-3;
                        qs[n++] = seen / total;
                    }
                } else {
                    double lo = hist_field(c, PAUSE_HIST, "min") * 1e-3; /* the CDF starts at the shortest pause */
                    if (lo > 0) {
                        qs[n] = 0;
                        us[n++] = lo;
                    }
                    for (size_t k = 0; pause_quantiles[k]; k++) {
                        double v = hist_field(c, PAUSE_HIST, pause_quantiles[k]) * 1e-3;
                        if (v > 0) {
                            qs[n] = key_quantile(pause_quantiles[k]);
                            us[n++] = v;
                        }
                    }
                    for (size_t i = 1; i < n; i++)
                        for (size_t j = i; j > 0 && qs[j - 1] > qs[j]; j--) {
                            double x = qs[j];
                            qs[j] = qs[j - 1];
                            qs[j - 1] = x;
                            x = us[j];
                            us[j] = us[j - 1];
                            us[j - 1] = x;
                        }
                }
                bool drew = n >= 2;
                if (drew) {
                    fprintf(d, "# %s threads=%d%s\n", workloads[w], threads[t],
                            buckets ? " (every bucket of the pooled histogram)" : " (percentiles)");
                    for (size_t i = 0; i < n; i++)
                        fprintf(d, "%.6g %.6g\n", us[i], qs[i]);
                    fprintf(d, "\n\n");
                    pos += (size_t)snprintf(cmd + pos, sizeof cmd - pos,
                                            "%s '%s.dat' index %d using 1:2 with %s lw 2 title '%s, %d threads'",
                                            drawn ? "," : "", name, block, buckets ? "steps" : "linespoints",
                                            workloads[w], threads[t]);
                    block++;
                    drawn++;
                }
                free(qs);
                free(us);
                if (drew)
                    break;
            }
        }
        fclose(d);
        if (!drawn)
            continue;
        plot_both(p, name, cmd);
        bj_push(plots, bj_strf("%s", name));
    }
}

static void plot_memory(plotter *p, const bj *micro, const char **backends, size_t nb, bj *plots)
{
    char dat[4096];
    snprintf(dat, sizeof dat, "%s/memory_per_object.dat", p->dir);
    FILE *d = fopen(dat, "w");
    if (!d)
        return;
    fprintf(d, "backend object list\n");
    int rows = 0;
    for (size_t b = 0; b < nb; b++) {
        const bj *r = bj_get(bj_get(micro, backends[b]), "rows");
        double o = bj_getnum(bj_get(bj_get(r, "memory/object/iterations:1/repeats:1"), "bytes_per_object"), "median",
                             NAN);
        double l = bj_getnum(bj_get(bj_get(r, "memory/list/iterations:1/repeats:1"), "bytes_per_object"), "median",
                             NAN);
        if (!isfinite(o) && !isfinite(l))
            continue;
        /* racy apart (its label says why), after a gap */
        fprintf(d, "%s%s %.4g %.4g\n", strcmp(backends[b], "racy") == 0 && rows ? "\"\" NaN NaN\n" : "",
                strcmp(backends[b], "racy") == 0 ? "\"racy (control)\"" : backends[b], o, l);
        rows++;
    }
    fclose(d);
    if (!rows)
        return;
    plot_both(p, "memory_per_object",
              "reset\nset title 'Resident memory per live object (2^{20} alive): one 32-byte header layout on "
              "every backend, so the bars are equal'\n"
              "set ylabel 'bytes per object'\nset xlabel 'backend'\nset style data histograms\n"
              "set style histogram clustered gap 1\nset style fill solid 0.8 border -1\nset boxwidth 0.9\n"
              "set yrange [0:*]\nset grid ytics\nset key outside right\n"
              "plot 'memory_per_object.dat' using 2:xtic(1) title columnheader(2), '' using 3 title columnheader(3)");
    bj_push(plots, bj_str("memory_per_object"));
}

/* ---- report.md ------------------------------------------------------------------------------- */
static void md_machine(FILE *f, const bj *res)
{
    const bj *m = bj_get(res, "machine"), *v = bj_get(res, "versions"), *par = bj_get(res, "parameters");
    fprintf(f, "## Machine\n\n");
    fprintf(f, "- CPU: %s, %g cores online (%s)\n", bj_getstr(m, "cpu_model", "?"), bj_getnum(m, "cores_online", 0),
            bj_getstr(m, "virtualization", "?"));
    fprintf(f, "- Memory: %.0f MiB; kernel %s; %s\n", bj_getnum(m, "memory_mb", 0), bj_getstr(m, "kernel", "?"),
            bj_getstr(v, "libc", ""));
    fprintf(f, "- Load average when the run started: %.2f\n", bj_getnum(m, "loadavg_at_start", NAN));
    fprintf(f, "- Tally %s, built with %s; %s; %s\n", bj_getstr(v, "tally", "?"), bj_getstr(v, "compiler", "?"),
            bj_getstr(v, "gnuplot", "no gnuplot"), bj_getstr(v, "python3", "no python3"));
    fprintf(f, "- Run: %s, %s mode, %g repetitions of every stress configuration (%g s each), "
               "microbenchmarks %g repetitions of at least %g s; took %.0f s\n\n",
            bj_getstr(res, "date", "?"), bj_getnum(par, "quick", 0) ? "quick" : "full", bj_getnum(par, "reps", 0),
            bj_getnum(par, "seconds_per_stress_run", 0), bj_getnum(par, "micro_repetitions", 0),
            bj_getnum(par, "micro_min_time_s", 0), bj_getnum(res, "duration_s", 0));
    double cores = bj_getnum(m, "cores_online", 1), load0 = bj_getnum(m, "loadavg_at_start", NAN),
           load1 = bj_getnum(res, "loadavg_at_end", NAN);
    if (load0 > cores || load1 > cores)
        fprintf(f, "> **Warning: the machine was busy** (load average %.1f at the start, %.1f at the end, on %g "
                   "cores): other processes took CPU time during the run, so absolute figures are low and "
                   "noisy, and multi-thread scaling is understated.  Ratios inside one microbenchmark binary "
                   "(the targets) hold up better than absolute figures.\n\n",
                load0, load1, cores);
    fprintf(f, "**All absolute figures are for this machine only** (%g cores, load average %.2f at the "
               "start and %.2f at the end of the run); compare backends with each other and with the "
               "anchors measured in the same run, not with other machines.  Every figure is the median "
               "over the repetitions, with [min–max] where they differ.\n\n",
            bj_getnum(m, "cores_online", 0), load0, load1);
}

static void md_targets(FILE *f, const bj *res)
{
    const bj *t = bj_get(res, "targets");
    fprintf(f, "## Targets\n\n| target | backend | figure | limit | status | measured |\n|---|---|---|---|---|---|\n");
    int met = 0, missed = 0, nm = 0;
    for (size_t i = 0; i < bj_len(t); i++) {
        const bj *x = bj_at(t, i);
        const char *st = bj_getstr(x, "status", "?");
        char v[64], num[32];
        double val = bj_getnum(x, "value", NAN);
        if (isfinite(val))
            snprintf(v, sizeof v, "%s %s", fmt_num(val, num, sizeof num), bj_getstr(x, "unit", ""));
        else
            snprintf(v, sizeof v, "n/a");
        fprintf(f, "| %s | %s | %s | %s %g %s | **%s** | %s |\n", bj_getstr(x, "target", ""), bj_getstr(x, "backend", ""),
                v, bj_getstr(x, "op", ""), bj_getnum(x, "limit", 0), bj_getstr(x, "unit", ""), st,
                bj_getstr(x, "detail", ""));
        met += strcmp(st, "met") == 0;
        missed += strcmp(st, "missed") == 0;
        nm += strcmp(st, "not measured") == 0;
    }
    fprintf(f, "\n%d met, %d missed, %d not measured.\n\n", met, missed, nm);
}

static const char *const micro_rows[] = {
    "anchor/plain_incdec", "anchor/locked_addsub", "anchor/locked_add_contended/threads:2/manual_time",
    "anchor/shared_ptr_copy", "rc/pair_own", "rc/pair_immortal", "rc/pair_shared/threads:2/manual_time",
    "alloc/object", "alloc/list", "container/list_get", "container/list_set", "container/dict_get",
    "container/dict_set", "anchor/parallel_read/threads:1/manual_time",
    "anchor/parallel_read/threads:2/manual_time", "readmostly/immortal_object/threads:1/manual_time",
    "readmostly/immortal_object/threads:2/manual_time", "readmostly/list_immortal_items/threads:1/manual_time",
    "readmostly/list_immortal_items/threads:2/manual_time", "readmostly/dict_get/threads:1/manual_time",
    "readmostly/dict_get/threads:2/manual_time", "readmostly/list_mortal_items/threads:1/manual_time",
    "readmostly/list_mortal_items/threads:2/manual_time", NULL};

static void md_micro(FILE *f, const bj *res, const char **backends, size_t nb)
{
    const bj *micro = bj_get(res, "micro");
    fprintf(f, "## Microbenchmarks (bench_rc_<backend>)\n\n");
    fprintf(f, "Nanoseconds per operation (an incref+decref pair, an allocation+free, a get or a set); "
               "threaded rows: wall time / operations of all threads together, so perfect 2-thread "
               "scaling halves the figure.  `anchor/*` rows are the machine's limits measured in the same "
               "binary: `plain_incdec` = ++ and -- of a memory word with a compiler barrier after each "
               "(no lock: the floor for any count); `locked_addsub` = `lock add` + `lock sub` by one "
               "thread (the floor for an atomic count); `locked_add_contended` = the same by 2 threads on "
               "one word (cache-line ping-pong); `shared_ptr_copy` = C++ std::shared_ptr copy + destroy "
               "(libstdc++, atomic counts); `parallel_read` = every thread reads one shared word in a "
               "loop, no runtime, in the same worker pool as the readmostly rows and just before them "
               "(the machine's own 1- to 2-thread scaling at that moment: the ceiling for the readmostly "
               "ratios).\n\n| row |");
    for (size_t b = 0; b < nb; b++)
        fprintf(f, " %s |", backends[b]);
    fprintf(f, "\n|---|");
    for (size_t b = 0; b < nb; b++)
        fprintf(f, "---|");
    fprintf(f, "\n");
    for (size_t r = 0; micro_rows[r]; r++) {
        char name[160];
        snprintf(name, sizeof name, "%s", micro_rows[r]);
        char *mt = strstr(name, "/manual_time");
        if (mt)
            *mt = 0;
        fprintf(f, "| %s |", name);
        for (size_t b = 0; b < nb; b++) {
            const bj *row = bj_get(bj_get(bj_get(micro, backends[b]), "rows"), micro_rows[r]);
            char buf[96];
            fprintf(f, " %s |", fmt_stat(bj_get(row, "ns_per_op"), buf, sizeof buf));
        }
        fprintf(f, "\n");
    }
    /* Ratios against the anchors of the same binary. */
    fprintf(f, "\nRatios to the anchors of the same run (median / median):\n\n| backend | pair_own / plain | "
               "pair_own / locked | pair_immortal / plain | pair_shared(2) / locked contended | alloc/object / "
               "pair_own |\n|---|---|---|---|---|---|\n");
    for (size_t b = 0; b < nb; b++) {
        const bj *rows = bj_get(bj_get(micro, backends[b]), "rows");
#define M(row) med(bj_get(bj_get(rows, row), "ns_per_op"))
        double own = M("rc/pair_own"), plain = M("anchor/plain_incdec"), locked = M("anchor/locked_addsub"),
               imm = M("rc/pair_immortal"), sh = M("rc/pair_shared/threads:2/manual_time"),
               lc = M("anchor/locked_add_contended/threads:2/manual_time"), al = M("alloc/object");
#undef M
        fprintf(f, "| %s | %.2f | %.2f | %.2f | %.2f | %.1f |\n", backends[b], own / plain, own / locked, imm / plain,
                sh / lc, al / own);
    }
    fprintf(f, "\n");
    for (size_t b = 0; b < nb; b++) {
        const char *err = bj_getstr(bj_get(micro, backends[b]), "error", NULL);
        if (err)
            fprintf(f, "- %s: %s\n", backends[b], err);
    }
    fprintf(f, "\n");
}

static void md_roles(FILE *f, const bj *cfgs, const char *workload, const char **backends, size_t nb,
                     const int *threads, size_t nt, const bj *plots)
{
    if (!has_roles(workload))
        return;
    fprintf(f, "\nThe roles apart (thread 0 writes, the others read: the total above mixes a writer whose "
               "rate need not grow with readers whose rate can):\n\n| backend | figure |");
    for (size_t t = 0; t < nt; t++)
        fprintf(f, " %d thread%s |", threads[t], threads[t] == 1 ? "" : "s");
    fprintf(f, "\n|---|---|");
    for (size_t t = 0; t < nt; t++)
        fprintf(f, "---|");
    fprintf(f, "\n");
    for (size_t b = 0; b < nb; b++)
        for (size_t r = 0; r < NROLE_FIGURES; r++) {
            const role_figure *rf = &role_figures[r];
            if (strcmp(rf->workload, workload) != 0)
                continue;
            fprintf(f, "| %s | %s |", backends[b], rf->op);
            for (size_t t = 0; t < nt; t++) {
                const bj *c = find_cfg(cfgs, backends[b], workload, threads[t]);
                const bj *sum = c ? bj_get(c, "summary") : NULL;
                const char *const rk[] = {rf->rate_key, NULL}, *const ck[] = {rf->count_key, NULL};
                const bj *rate = sum ? find_metric(sum, rk, NULL) : NULL;
                const bj *count = sum ? find_metric(sum, ck, NULL) : NULL;
                char buf[96];
                if (rate && count)
                    fprintf(f, " %s (%.0f %s%s) |", fmt_stat(rate, buf, sizeof buf), med(count), rf->role,
                            med(count) == 1 ? "" : "s");
                else
                    fprintf(f, " – |");
            }
            fprintf(f, "\n");
        }
    for (size_t i = 0; i < bj_len(plots); i++) {
        char want[256];
        snprintf(want, sizeof want, "roles_%s", workload);
        if (strcmp(json_object_get_string(bj_at(plots, i)), want) == 0)
            fprintf(f, "\n![the roles apart vs threads, %s](%s.svg)\n", workload, want);
    }
}

static void md_throughput(FILE *f, const bj *cfgs, const char **workloads, size_t nw, const char **backends, size_t nb,
                          const bj *plots)
{
    int threads[64];
    size_t nt = distinct_threads(cfgs, threads, 64);
    fprintf(f, "## Throughput per backend and thread count (tally stress)\n\n"
               "Operations per second of all threads together, median [min–max] over the repetitions; "
               "each configuration ran in its own process.  A crashed or failed run has no figure.\n\n");
    if (nt == 0) {   /* interrupted before any configuration finished */
        fprintf(f, "No configuration finished.\n\n");
        return;
    }
    for (size_t w = 0; w < nw; w++) {
        const char *op = stress_workload_operation(workloads[w]);
        fprintf(f, "### %s\n\n", workloads[w]);
        if (op)
            fprintf(f, "One operation: %s.\n\n", op);
        fprintf(f, "| backend |");
        for (size_t t = 0; t < nt; t++)
            fprintf(f, " %d thread%s |", threads[t], threads[t] == 1 ? "" : "s");
        fprintf(f, " scaling %d→%d |\n|---|", threads[0], threads[nt - 1]);
        for (size_t t = 0; t <= nt; t++)
            fprintf(f, "---|");
        fprintf(f, "\n");
        for (size_t b = 0; b < nb; b++) {
            fprintf(f, "| %s |", backends[b]);
            double first = NAN, last = NAN;
            for (size_t t = 0; t < nt; t++) {
                const bj *c = find_cfg(cfgs, backends[b], workloads[w], threads[t]);
                const bj *s = c ? find_metric(bj_get(c, "summary"), throughput_keys, NULL) : NULL;
                char buf[96];
                int bad = c ? (int)(bj_getnum(c, "crashes", 0) + bj_getnum(c, "failures", 0)) : 0;
                fprintf(f, " %s%s |", fmt_stat(s, buf, sizeof buf), bad ? " (!)" : "");
                if (t == 0)
                    first = med(s);
                last = med(s);
            }
            if (isfinite(last / first))
                fprintf(f, " %.2fx |\n", last / first);
            else
                fprintf(f, " – |\n");
        }
        for (size_t i = 0; i < bj_len(plots); i++) {
            char want[256];
            snprintf(want, sizeof want, "throughput_%s", workloads[w]);
            if (strcmp(json_object_get_string(bj_at(plots, i)), want) == 0)
                fprintf(f, "\n![throughput vs threads, %s](%s.svg)\n", workloads[w], want);
        }
        md_roles(f, cfgs, workloads[w], backends, nb, threads, nt, plots);
        fprintf(f, "\n");
    }
    fprintf(f, "(!) = at least one repetition crashed, timed out or failed; see the race-detection table.\n\n");
}

/* Stop-the-world pauses of every configuration that collected during the run. */
static int md_pause_rows(FILE *f, const bj *cfgs, bool oversubscribed, double cores)
{
    int rows = 0;
    for (size_t i = 0; i < bj_len(cfgs); i++) {
        const bj *c = bj_at(cfgs, i);
        double count = hist_field(c, PAUSE_HIST, "count");
        int threads = (int)bj_getnum(c, "threads", 0);
        if (!(count >= 2) || (threads > cores) != oversubscribed)
            continue;
        fprintf(f, "| %s | %s | %d | %.0f |", bj_getstr(c, "backend", ""), bj_getstr(c, "workload", ""), threads,
                count);
        for (size_t q = 0; pause_quantiles[q]; q++)
            fprintf(f, " %.1f |", hist_field(c, PAUSE_HIST, pause_quantiles[q]) * 1e-3);
        fprintf(f, " %.1f | %.1f |\n", hist_field(c, "gc_time_to_safepoint_ns", "p99") * 1e-3,
                hist_field(c, "gc_collection_ns", "p99") * 1e-3);
        rows++;
    }
    if (!rows)
        fprintf(f, "| (no configuration collected during its run) |||||||||||\n");
    return rows;
}

static void md_pauses(FILE *f, const bj *res, const bj *cfgs, const bj *plots)
{
    double cores = bj_getnum(bj_get(res, "machine"), "cores_online", 1);
    static const char *head = "| backend | workload | threads | pauses | p50 | p90 | p99 | p99.9 | max | "
                              "to safepoint p99 | collection p99 |\n|---|---|---|---|---|---|---|---|---|---|---|\n";
    fprintf(f, "## Pauses\n\nStop-the-world pauses of the collector (`" PAUSE_HIST "` of `tally stress --json`), "
               "in microseconds, for every configuration with at least 2 collections during the run (the "
               "final collection alone is not listed); time to safepoint = from the stop request until every "
               "thread parked; collection = the whole collection.  Medians over the repetitions.  The "
               "targets (above) hold the runs with at most as many threads as cores to 2x the 1-thread p99 "
               "(1 ms where that is under 0.5 ms) and 50 us to safepoint; oversubscribed runs are listed "
               "apart: a thread that the kernel has descheduled cannot reach its safepoint, whatever the "
               "runtime does.\n\n### Threads <= cores (%g)\n\n%s", cores, head);
    md_pause_rows(f, cfgs, false, cores);
    fprintf(f, "\n### Oversubscribed (threads > cores)\n\n%s", head);
    md_pause_rows(f, cfgs, true, cores);
    fprintf(f, "\nCDF of the pauses per backend (one line per workload, at the largest thread count "
               "that collected):\n\n");
    for (size_t i = 0; i < bj_len(plots); i++)
        if (strncmp(json_object_get_string(bj_at(plots, i)), "pause_cdf_", 10) == 0)
            fprintf(f, "![%s](%s.svg)\n\n", json_object_get_string(bj_at(plots, i)), json_object_get_string(bj_at(plots, i)));
}

static void md_memory(FILE *f, const bj *res, const char **workloads, size_t nw, const char **backends, size_t nb,
                      const bj *plots)
{
    const bj *micro = bj_get(res, "micro"), *cfgs = bj_get(res, "stress");
    fprintf(f, "## Memory\n\nResident bytes per live object (bench_rc_<backend> memory rows: RSS growth while "
               "2^20 objects are alive / 2^20, in a fresh process; header, payload, GC pre-header and "
               "allocator overhead together).  Every backend uses the same 32-byte object header (owner "
               "thread, local and shared counts, lock byte, GC bits, flags, type), so the figures are "
               "the same for all of them: a difference here means a layout or allocator change.  racy is "
               "the negative control, not a backend to choose.\n\n| backend | non-GC object (8-byte payload) | empty list (GC) |\n"
               "|---|---|---|\n");
    for (size_t b = 0; b < nb; b++) {
        const bj *r = bj_get(bj_get(micro, backends[b]), "rows");
        double o = bj_getnum(bj_get(bj_get(r, "memory/object/iterations:1/repeats:1"), "bytes_per_object"), "median",
                             NAN);
        double l = bj_getnum(bj_get(bj_get(r, "memory/list/iterations:1/repeats:1"), "bytes_per_object"), "median",
                             NAN);
        fprintf(f, "| %s | %.1f | %.1f |\n", backends[b], o, l);
    }
    for (size_t i = 0; i < bj_len(plots); i++)
        if (strcmp(json_object_get_string(bj_at(plots, i)), "memory_per_object") == 0)
            fprintf(f, "\n![memory per object](memory_per_object.svg)\n");
    int threads[64];
    size_t nt = distinct_threads(cfgs, threads, 64);
    if (!nt)
        return;
    int tmax = threads[nt - 1];
    fprintf(f, "\nPeak RSS of the stress processes at %d threads (MiB, ru_maxrss from wait4; median "
               "[min–max] over the repetitions):\n\n| workload |", tmax);
    for (size_t b = 0; b < nb; b++)
        fprintf(f, " %s |", backends[b]);
    fprintf(f, "\n|---|");
    for (size_t b = 0; b < nb; b++)
        fprintf(f, "---|");
    fprintf(f, "\n");
    for (size_t w = 0; w < nw; w++) {
        fprintf(f, "| %s |", workloads[w]);
        for (size_t b = 0; b < nb; b++) {
            const bj *c = find_cfg(cfgs, backends[b], workloads[w], tmax);
            const bj *s = bj_get(bj_get(c, "summary"), "peak_rss_kb");
            bj *mb = bj_obj();
            if (s) {
                bj_set(mb, "median", bj_num(med(s) / 1024));
                bj_set(mb, "min", bj_num(bj_getnum(s, "min", NAN) / 1024));
                bj_set(mb, "max", bj_num(bj_getnum(s, "max", NAN) / 1024));
            }
            char buf[96];
            fprintf(f, " %s |", fmt_stat(s ? mb : NULL, buf, sizeof buf));
            bj_free(mb);
        }
        fprintf(f, "\n");
    }
    fprintf(f, "\n");
}

/* GIL hand-overs (the stress JSON's "gil" object, gil backend only) and the convoy workload's
 * wake-to-run latency on every backend. */
static void md_gil(FILE *f, const bj *cfgs, const char **backends, size_t nb)
{
    static const char *const cols[] = {"gil.acquisitions", "gil.switches", "gil.drop_requests", "gil.forced_switches",
                                       NULL};
    fprintf(f, "## GIL switching (gil backend)\n\nHand-overs of the GIL per run (`gil` of `tally stress --json`); "
               "wait = time threads spent waiting to take the GIL.\n\n| workload | threads | acquisitions | "
               "switches | drop requests | forced switches | wait total (ms) | longest wait (ms) |\n"
               "|---|---|---|---|---|---|---|---|\n");
    for (size_t i = 0; i < bj_len(cfgs); i++) {
        const bj *c = bj_at(cfgs, i), *s = bj_get(c, "summary");
        if (!bj_get(s, "gil.switches"))
            continue;
        fprintf(f, "| %s | %d |", bj_getstr(c, "workload", ""), (int)bj_getnum(c, "threads", 0));
        for (size_t k = 0; cols[k]; k++) {
            char buf[96];
            fprintf(f, " %s |", fmt_stat(bj_get(s, cols[k]), buf, sizeof buf));
        }
        fprintf(f, " %.1f | %.2f |\n", med(bj_get(s, "gil.wait_ns_total")) * 1e-6,
                med(bj_get(s, "gil.wait_ns_max")) * 1e-6);
    }
    fprintf(f, "\nConvoy workload: a thread that sleeps and wakes while CPU-bound threads run; wake-to-run "
               "latency in microseconds (median over repetitions of p50 / p99):\n\n| backend |");
    int threads[64];
    size_t nt = distinct_threads(cfgs, threads, 64);
    for (size_t t = 0; t < nt; t++)
        fprintf(f, " %d thread%s |", threads[t], threads[t] == 1 ? "" : "s");
    fprintf(f, "\n|---|");
    for (size_t t = 0; t < nt; t++)
        fprintf(f, "---|");
    fprintf(f, "\n");
    for (size_t b = 0; b <= nb; b++) {
        /* the backends, then the fair GIL (gil-fair: `tally stress --gil-fair`) when it ran */
        const char *name = b < nb ? backends[b] : "gil-fair";
        if (b == nb && !find_cfg(cfgs, name, "convoy", threads[nt ? nt - 1 : 0]))
            break;
        fprintf(f, "| %s |", b < nb ? name : "gil (fair)");
        for (size_t t = 0; t < nt; t++) {
            const bj *c = find_cfg(cfgs, name, "convoy", threads[t]);
            fprintf(f, " %.1f / %.1f |", hist_field(c, "wake_to_run_ns", "p50") * 1e-3,
                    hist_field(c, "wake_to_run_ns", "p99") * 1e-3);
        }
        fprintf(f, "\n");
    }
    fprintf(f, "\n");
}

static void md_races(FILE *f, const bj *cfgs, const char **backends, size_t nb)
{
    fprintf(f, "## Race detection (negative control)\n\n"
               "`racy` counts without any synchronisation; the stress workloads must catch it (violations "
               "or a crash), and must find nothing on every other backend.  Violations are the sum of every "
               "`*violations` figure of `tally stress --json`.\n\n"
               "| backend | runs | runs with violations | violations | crashed or timed out | failed | verdict |\n"
               "|---|---|---|---|---|---|---|\n");
    for (size_t b = 0; b < nb; b++) {
        double runs = 0, withv = 0, v = 0, crashes = 0, fails = 0;
        for (size_t i = 0; i < bj_len(cfgs); i++) {
            const bj *c = bj_at(cfgs, i);
            if (strcmp(bj_getstr(c, "backend", ""), backends[b]) != 0)
                continue;
            runs += (double)bj_len(bj_get(c, "runs"));
            withv += bj_getnum(c, "runs_with_violations", 0);
            v += bj_getnum(c, "violations", 0);
            crashes += bj_getnum(c, "crashes", 0);
            fails += bj_getnum(c, "failures", 0);
        }
        bool racy = strcmp(backends[b], "racy") == 0;
        const char *verdict;
        if (runs == 0)
            verdict = "not run";
        else if (racy)
            verdict = (withv + crashes) > 0 ? "races detected (expected)" : "**races NOT detected**";
        else
            verdict = (withv + crashes + fails) == 0 ? "clean" : "**problems found**";
        fprintf(f, "| %s | %.0f | %.0f | %.0f | %.0f | %.0f | %s |\n", backends[b], runs, withv, v, crashes, fails,
                verdict);
    }
    fprintf(f, "\nPer workload (runs with violations or crashes / runs):\n\n| backend | workload | threads | runs | "
               "with violations | violations | crashed | failed | last stderr line |\n|---|---|---|---|---|---|---|---|---|\n");
    for (size_t i = 0; i < bj_len(cfgs); i++) {
        const bj *c = bj_at(cfgs, i);
        double withv = bj_getnum(c, "runs_with_violations", 0), cr = bj_getnum(c, "crashes", 0),
               fl = bj_getnum(c, "failures", 0);
        if (withv + cr + fl == 0)
            continue;
        const bj *runs = bj_get(c, "runs");
        const char *tail = "";
        for (size_t r = 0; r < bj_len(runs); r++)
            if (bj_getstr(bj_at(runs, r), "stderr_tail", NULL))
                tail = bj_getstr(bj_at(runs, r), "stderr_tail", "");
        char clean[160];
        size_t j = 0;
        for (const char *p = tail; *p && j < sizeof clean - 1; p++)
            clean[j++] = (*p == '|' || *p == '\r' || *p == '\033') ? ' ' : *p;
        clean[j] = 0;
        fprintf(f, "| %s | %s | %d | %zu | %.0f | %.0f | %.0f | %.0f | %s |\n", bj_getstr(c, "backend", ""),
                bj_getstr(c, "workload", ""), (int)bj_getnum(c, "threads", 0), bj_len(runs), withv,
                bj_getnum(c, "violations", 0), cr, fl, clean);
    }
    fprintf(f, "\n");
}

/* The counter of the first bench_gc row whose name contains `needle`. */
static const bj *gc_stat(const bj *rows, const char *needle, const char *counter)
{
    return bj_get(bench_find_row(rows, needle, counter), counter);
}

static void md_gc(FILE *f, const bj *res, const char **backends, size_t nb)
{
    const bj *gc = bj_get(res, "gc");
    const bj *cp = bj_get(bj_get(res, "cpython_gc"), "result");
    fprintf(f, "## Collector (bench_gc_<backend>) and the CPython anchor\n\n"
               "The same graph shapes in every backend and in CPython (stress/anchors/cpython_gc.py): a full "
               "collection over 1,000,000 live lists; 500,000 garbage 2-cycles reclaimed by one young "
               "collection; automatic young collections (threshold 2000) with 0 and 1,000,000 old objects "
               "(p99 of the stop-the-world time; CPython: the whole collection, under its GIL).  Medians "
               "[min–max] over the repetitions.\n\n"
               "| | full collection (ns/object) | first full collection of a fresh heap, flat / chain (later ones) "
               "(ns/object) | 2-cycle reclaim (ns/object) | young p50 / p99, 0 old (us) | "
               "young p50 / p99, 1M old (us) | young collection p99, 1M old (us) |\n|---|---|---|---|---|---|---|\n");
    for (size_t b = 0; b < nb; b++) {
        const bj *g = bj_get(gc, backends[b]);
        const bj *rows = bj_get(g, "rows");
        if (!rows) {
            fprintf(f, "| %s | %s ||||||\n", backends[b], bj_getstr(g, "error", "no rows"));
            continue;
        }
        char a[96], c[96], y0[96], y0b[96], y1[96], y1b[96], yc[96], ff[96], fc[96], lf[96], lc[96];
        fprintf(f, "| %s | %s | %s / %s (%s / %s) | %s | %s / %s | %s / %s | %s |\n", backends[b],
                fmt_stat(gc_stat(rows, "full", "ns_per_object"), a, sizeof a),
                fmt_stat(gc_stat(rows, "first_collection/flat", "ns_per_object"), ff, sizeof ff),
                fmt_stat(gc_stat(rows, "first_collection/chain", "ns_per_object"), fc, sizeof fc),
                fmt_stat(gc_stat(rows, "first_collection/flat", "later_ns_per_object"), lf, sizeof lf),
                fmt_stat(gc_stat(rows, "first_collection/chain", "later_ns_per_object"), lc, sizeof lc),
                fmt_stat(gc_stat(rows, "cycle", "ns_per_object"), c, sizeof c),
                fmt_stat(gc_stat(rows, "old:0", "p50_us"), y0, sizeof y0),
                fmt_stat(gc_stat(rows, "old:0", "p99_us"), y0b, sizeof y0b),
                fmt_stat(gc_stat(rows, "old:1M", "p50_us"), y1, sizeof y1),
                fmt_stat(gc_stat(rows, "old:1M", "p99_us"), y1b, sizeof y1b),
                fmt_stat(gc_stat(rows, "old:1M", "collection_p99_us"), yc, sizeof yc));
    }
    if (cp)
        fprintf(f, "| CPython %s | %.1f | – | %.1f | %.1f / %.1f | %.1f / %.1f | %.1f |\n",
                bj_getstr(cp, "python_version", "?"), bj_getnum(cp, "full_ns_per_object", NAN),
                bj_getnum(cp, "cycle_ns_per_object", NAN), bj_getnum(cp, "young_old0_p50_us", NAN),
                bj_getnum(cp, "young_old0_p99_us", NAN), bj_getnum(cp, "young_old1M_p50_us", NAN),
                bj_getnum(cp, "young_old1M_p99_us", NAN), bj_getnum(cp, "young_old1M_p99_us", NAN));
    else
        fprintf(f, "\nCPython anchor: %s\n", bj_getstr(bj_get(res, "cpython_gc"), "error", "not run"));
    if (cp) {
        fprintf(f, "\nRatio to CPython (tally / CPython; below 1 = faster than CPython):\n\n"
                   "| backend | full collection | 2-cycle reclaim | young p99, 1M old |\n|---|---|---|---|\n");
        for (size_t b = 0; b < nb; b++) {
            const bj *rows = bj_get(bj_get(gc, backends[b]), "rows");
            if (!rows)
                continue;
            fprintf(f, "| %s | %.2f | %.2f | %.2f |\n", backends[b],
                    med(gc_stat(rows, "full", "ns_per_object")) / bj_getnum(cp, "full_ns_per_object", NAN),
                    med(gc_stat(rows, "cycle", "ns_per_object")) / bj_getnum(cp, "cycle_ns_per_object", NAN),
                    med(gc_stat(rows, "old:1M", "p99_us")) / bj_getnum(cp, "young_old1M_p99_us", NAN));
        }
    }
    fprintf(f, "\nEvery counter of bench_gc_<backend>:\n\n| backend | row | counter | median [min–max] |\n"
               "|---|---|---|---|\n");
    for (size_t b = 0; b < nb; b++) {
        const bj *rows = bj_get(bj_get(gc, backends[b]), "rows");
        BJ_EACH(rows, r)
            BJ_EACH(BJ_VAL(r), c) {
                const char *cn = BJ_KEY(c);
                if (strcmp(cn, "error") == 0)
                    continue;
                char buf[96];
                fprintf(f, "| %s | %s | %s | %s |\n", backends[b], BJ_KEY(r), cn, fmt_stat(BJ_VAL(c), buf, sizeof buf));
            }
    }
    fprintf(f, "\n");
}

/* Memory returned after a large release (bench_rss_<backend>, issue 13). */
static void md_memory_return(FILE *f, const bj *res)
{
    const bj *mr = bj_get(res, "memory_return");
    if (!mr)
        return;
    const bj *cfgs = bj_get(mr, "configs");
    fprintf(f, "## Memory returned after a large release\n\n"
               "`bench_rss_<backend> --objects %.0f --threads T` (stress/micro/bench_rss.c): RSS before "
               "building %.0fM small objects (ints held 1,000 to a list), once built, right after dropping "
               "them all from the main thread and `tally_gc_collect(2)`, and 100 ms after the last of them "
               "was freed (biased: the second thread frees its half when it merges its queue; `freed after`: "
               "how long after the collection that was), every attached thread passing safepoints.  With 2 "
               "threads the second thread builds half and idles "
               "attached, so the main thread frees blocks of another thread's heap.  Before = after a "
               "warm-up build, drop and collection of 100,000 objects (which is not large enough to be "
               "given back, so the ratio can be below 1).  MiB, median [min–max] of %g runs; target: the "
               "settled RSS at most 1.2x before (runtime/memory_trim.c gives the memory back).\n\n"
               "| backend | threads | before | built | right after | freed after (ms) | settled | ratio (target <= 1.2) |\n"
               "|---|---|---|---|---|---|---|---|\n",
            bj_getnum(mr, "objects", 0), bj_getnum(mr, "objects", 0) / 1e6, bj_getnum(mr, "reps", 0));
    for (size_t i = 0; i < bj_len(cfgs); i++) {
        const bj *c = bj_at(cfgs, i), *sm = bj_get(c, "summary");
        const char *err = bj_getstr(c, "error", NULL);
        char a[96], b[96], d[96], e[96], ms[96], r[64];
        double ratio = med(bj_get(sm, "ratio"));
        if (isfinite(ratio))
            snprintf(r, sizeof r, "%.2f%s", ratio, ratio <= 1.2 ? " met" : " **missed**");
        else
            snprintf(r, sizeof r, "–");
        fprintf(f, "| %s%s | %d | %s | %s | %s | %s | %s | %s |\n", bj_getstr(c, "backend", "?"),
                bj_getnum(c, "failures", 0) > 0 ? " (!)" : "", (int)bj_getnum(c, "threads", 0),
                fmt_stat(bj_get(sm, "before_mib"), a, sizeof a), fmt_stat(bj_get(sm, "built_mib"), b, sizeof b),
                fmt_stat(bj_get(sm, "after_mib"), d, sizeof d), fmt_stat(bj_get(sm, "all_freed_ms"), ms, sizeof ms),
                fmt_stat(bj_get(sm, "settled_mib"), e, sizeof e), err ? err : r);
    }
    fprintf(f, "\n");
}

/* The "(!)" lines of a section's run errors (an array of strings). */
static void md_errors(FILE *f, const bj *errs)
{
    for (size_t i = 0; i < bj_len(errs); i++)
        fprintf(f, "\n(!) %s\n", bj_is_str(bj_at(errs, i)) ? json_object_get_string(bj_at(errs, i)) : "?");
}

/* Dropping a large structure (bench_drop_<backend>): one row per backend, seconds per shape and
 * thread count, and deferred's ratio to atomic (target <= 1.5x with the second thread). */
static void md_drop(FILE *f, const bj *res, const char **backends, size_t nb)
{
    const bj *dr = bj_get(res, "drop");
    if (!dr)
        return;
    const bj *cfgs = bj_get(dr, "configs");
    double nl = 0, nc = 0;
    for (size_t i = 0; i < bj_len(cfgs); i++) {
        const bj *c = bj_at(cfgs, i);
        if (strcmp(bj_getstr(c, "what", ""), "list") == 0)
            nl = bj_getnum(c, "n", 0);
        else
            nc = bj_getnum(c, "n", 0);
    }
    fprintf(f, "## Dropping a large structure\n\n"
               "`bench_drop_<backend>` (stress/micro/bench_drop.c): the time of the one decref that frees a "
               "list of %.0f ints, or the head of a chain of %.0f lists each holding the next, then "
               "`tally_flush()`; with the thread alone (1) and with a second attached thread idling at "
               "safepoints (2).  Building is not timed; every object must be freed.  Seconds, median "
               "[min–max] of %g drops; target: deferred at most 1.5x atomic with the second thread.\n\n"
               "| backend | list, 1 thread | list, 2 threads | chain, 1 thread | chain, 2 threads |\n"
               "|---|---|---|---|---|\n",
            nl, nc, bj_getnum(dr, "reps", 0));
    static const char *const shapes[] = {"list", "chain"};
    for (size_t b = 0; b < nb; b++) {   /* the run's backends (racy has no rows: not measured) */
        char cell[4][64];
        bool any = false;
        for (int k = 0; k < 4; k++) {
            const bj *hit = bench_find_cfg(cfgs, "backend", backends[b], "what", shapes[k / 2], k % 2 + 1);
            if (hit) {
                snprintf(cell[k], sizeof cell[k], "%.3f [%.3f–%.3f]", bj_getnum(hit, "median_s", NAN),
                         bj_getnum(hit, "min_s", NAN), bj_getnum(hit, "max_s", NAN));
                any = true;
            } else {
                snprintf(cell[k], sizeof cell[k], "–");
            }
        }
        if (any)
            fprintf(f, "| %s | %s | %s | %s | %s |\n", backends[b], cell[0], cell[1], cell[2], cell[3]);
    }
    md_errors(f, bj_get(dr, "errors"));
    fprintf(f, "\n");
}

/* The interpreter's programs (tally-py-<backend>, stress/programs/NAME.py): one thread, per
 * program the median CPU time (wall in brackets) of python3 and of each backend of the run that
 * has figures, then gil/python3 and each other backend's ratio to gil; the last row is the
 * geometric mean of each ratio column. */
static void md_py_programs(FILE *f, const bj *res, const char **backends, size_t nb)
{
    const bj *pp = bj_path(res, "programs.interpreter");
    if (!pp)
        return;
    const bj *cfgs = bj_get(pp, "configs");
    /* runners: python3, then the run's backends that ran a program (racy has no interpreter runs) */
    const char *runners[16] = {"python3"};
    size_t nr = 1;
    for (size_t b = 0; b < nb && nr < 16; b++)
        if (bench_find_cfg(cfgs, "runner", backends[b], NULL, NULL, -1))
            runners[nr++] = backends[b];
    fprintf(f, "## Programs: the interpreter\n\n"
               "The benchmark programs of stress/programs/ (docs/interpreter.md: what each does and checks) run "
               "by `tally-py-<backend> PROGRAM.py SIZE` and by `python3` on the same file, one thread, %s; "
               "rounds alternate python3 and every backend.  A run counts when it exits 0 (each program "
               "checks its result) and prints python3's lines; (!) marks a runner with a failed run.  Cells: "
               "median CPU seconds (user + system, all threads) [wall seconds] of %g run%s, then the ratio of "
               "the CPU medians to gil's (gil/python3 in the first ratio column).  Targets: gil at most 1.5x "
               "CPython 3.11, biased and deferred at most 1.10x gil, over the geometric mean of the CPU "
               "times (on a shared machine they move far less than the wall times); none with `--quick`, "
               "whose sizes are mostly start-up.\n\n| program |",
            bj_getnum(pp, "quick", 0) ? "each program's small default size (`--quick`)"
                                      : "at the timing sizes of docs/interpreter.md",
            bj_getnum(pp, "reps", 0), bj_getnum(pp, "reps", 0) == 1 ? "" : "s");
    for (size_t r = 0; r < nr; r++)
        fprintf(f, " %s |", runners[r]);
    /* ratio column r (r >= 1): runner r over gil, and for gil itself gil over python3 */
    for (size_t r = 1; r < nr; r++)
        fprintf(f, strcmp(runners[r], "gil") == 0 ? " gil / python3 |" : " %s / gil |", runners[r]);
    fprintf(f, "\n|---|");
    for (size_t r = 1; r < 2 * nr; r++)
        fprintf(f, "---|");
    fprintf(f, "\n");
    double logsum[16] = {0};
    int nlog[16] = {0};
    for (size_t i = 0; i < bj_len(cfgs); i++) {
        const char *prog = bj_getstr(bj_at(cfgs, i), "program", "?");
        if (bench_find_cfg(cfgs, "program", prog, NULL, NULL, -1) != bj_at(cfgs, i))
            continue;   /* not this program's first configuration: its row is written */
        double t[16];
        fprintf(f, "| %s |", prog);
        for (size_t r = 0; r < nr; r++) {
            const bj *c = bench_find_cfg(cfgs, "program", prog, "runner", runners[r], -1);
            const bj *sm = bj_get(c, "summary");
            bool failed = bj_getnum(c, "failures", 0) > 0;
            t[r] = med(bj_get(sm, "cpu_s"));
            if (isfinite(t[r]))
                fprintf(f, " %.2f [%.2f]%s |", t[r], med(bj_get(sm, "wall_s")), failed ? " (!)" : "");
            else
                fprintf(f, " %s |", failed ? "(!)" : "–");
        }
        double gil = NAN;
        for (size_t r = 1; r < nr; r++)
            if (strcmp(runners[r], "gil") == 0)
                gil = t[r];
        for (size_t r = 1; r < nr; r++) {
            double num = t[r], den = strcmp(runners[r], "gil") == 0 ? t[0] : gil;
            if (num > 0 && den > 0) {
                fprintf(f, " %.2fx |", num / den);
                logsum[r] += log(num / den);
                nlog[r]++;
            } else {
                fprintf(f, " – |");
            }
        }
        fprintf(f, "\n");
    }
    fprintf(f, "| geometric mean |");
    for (size_t r = 0; r < nr; r++)
        fprintf(f, " |");
    for (size_t r = 1; r < nr; r++) {
        if (nlog[r])
            fprintf(f, " %.2fx (%d) |", exp(logsum[r] / nlog[r]), nlog[r]);
        else
            fprintf(f, " – |");
    }
    fprintf(f, "\n");
    md_errors(f, bj_get(pp, "errors"));
    fprintf(f, "\nThe threads half of the section (N copies in N threads, the collector's pauses, refcount "
               "traffic, the shared-object policies) is not measured yet.\n\n");
}

static void md_programs(FILE *f, const bj *res)
{
    const bj *bt = bj_path(res, "programs.binary_trees");
    if (!bt)
        return;
    const bj *cfgs = bj_get(bt, "configs"), *cp = bj_get(bt, "cpython");
    int depth = (int)bj_getnum(bt, "depth", 0);
    fprintf(f, "## Programs: binary-trees\n\n"
               "The Benchmarks Game's binary-trees shape on the public API (stress/programs/binary_trees.c, "
               "`tally-binary-trees-<backend> --depth %d --threads T`): a stretch tree of depth %d, a "
               "long-lived tree of depth %d, then 2^(%d-d+4) trees of each depth d = 4, 6, ..., %d built, "
               "checked and dropped; nodes are 2-tuples, leaves (None, None).  With 2 threads the two "
               "threads split every depth's trees, so the work is the same as with 1.  Time = the whole "
               "process (wall clock, start-up and shutdown included), median [min–max] of %g runs; rounds "
               "interleave CPython and every configuration.  Collector = time in collections of the "
               "1-thread run (its own statistics), collections = their number; CPU = user + system time "
               "of the process, all threads (wait4): on a busy machine it moves less than the wall time, "
               "and with 2 threads it shows the extra work two threads cost.  Every run's lines must "
               "equal CPython's (stress/programs/binary_trees.py, same depth) and its check counts the "
               "node counts, or it counts as failed and has no figure.\n\n"
               "| | 1 thread (s) | 2 threads (s) | t2/t1 (target <= 0.56) | CPU, 1 / 2 threads (s) | "
               "collector, 1 thread (s) | collections, 1 thread | peak RSS, 1 / 2 threads (MiB) |\n"
               "|---|---|---|---|---|---|---|---|\n",
            depth, depth + 1, depth, depth, depth, bj_getnum(bt, "reps", 0));
    /* the configurations come in pairs (1 thread, 2 threads) per backend, in the run's order */
    for (size_t i = 0; i < bj_len(cfgs); i++) {
        const bj *c1 = bj_at(cfgs, i);
        if ((int)bj_getnum(c1, "threads", 0) != 1)
            continue;
        const char *b = bj_getstr(c1, "backend", "?");
        const bj *c2 = NULL;
        for (size_t j = 0; j < bj_len(cfgs); j++)
            if (strcmp(bj_getstr(bj_at(cfgs, j), "backend", ""), b) == 0 &&
                (int)bj_getnum(bj_at(cfgs, j), "threads", 0) == 2)
                c2 = bj_at(cfgs, j);
        const bj *s1 = bj_get(c1, "summary"), *s2 = bj_get(c2, "summary");
        char a[96], bb[96], gct[96], col[96], cpu1[96], cpu2[96];
        double ratio = med(bj_get(s2, "wall_s")) / med(bj_get(s1, "wall_s"));
        char rs[64];
        if (isfinite(ratio))
            snprintf(rs, sizeof rs, "%.2f%s", ratio,
                     strcmp(b, "gil") == 0 ? " (no target: one thread runs at a time)"
                                           : ratio <= 0.56 ? " met" : " **missed**");
        else
            snprintf(rs, sizeof rs, "–");
        /* the collector's time: the sum over the generations of the run's own statistics */
        bj *g = bj_obj();
        const bj *g0 = bj_get(s1, "gc.gen0.duration_s"), *g1 = bj_get(s1, "gc.gen1.duration_s"),
                 *g2 = bj_get(s1, "gc.gen2.duration_s");
        if (g0 && g1 && g2)
            bj_set(g, "median", bj_num(med(g0) + med(g1) + med(g2)));
        int bad = (int)(bj_getnum(c1, "failures", 0) + bj_getnum(c2, "failures", 0));
        fprintf(f, "| %s%s | %s | %s | %s | %s / %s | %s | %s | %.1f / %.1f |\n", b, bad ? " (!)" : "",
                fmt_stat(bj_get(s1, "wall_s"), a, sizeof a), fmt_stat(bj_get(s2, "wall_s"), bb, sizeof bb), rs,
                fmt_num(med(bj_get(s1, "cpu_s")), cpu1, sizeof cpu1), fmt_num(med(bj_get(s2, "cpu_s")), cpu2, sizeof cpu2),
                fmt_stat(bj_get(g, "median") ? g : NULL, gct, sizeof gct),
                fmt_stat(bj_get(s1, "gc.collections"), col, sizeof col), med(bj_get(s1, "peak_rss_kb")) / 1024,
                med(bj_get(s2, "peak_rss_kb")) / 1024);
        bj_free(g);
        const char *err = bj_getstr(c1, "error", NULL);
        if (err)
            fprintf(f, "| %s: %s |||||||\n", b, err);
    }
    const char *cperr = bj_getstr(cp, "error", NULL);
    const bj *cs = bj_get(cp, "summary");
    double tc = med(bj_get(cs, "wall_s"));
    if (!cperr && isfinite(tc)) {
        char a[96], cpu[96];
        fprintf(f, "| CPython (%s) | %s | – | – | %s | – | – | %.1f |\n", bj_getstr(cp, "python_version", "python3"),
                fmt_stat(bj_get(cs, "wall_s"), a, sizeof a), fmt_num(med(bj_get(cs, "cpu_s")), cpu, sizeof cpu),
                med(bj_get(cs, "peak_rss_kb")) / 1024);
        const bj *gil = NULL;
        for (size_t i = 0; i < bj_len(cfgs); i++)
            if (strcmp(bj_getstr(bj_at(cfgs, i), "backend", ""), "gil") == 0 &&
                (int)bj_getnum(bj_at(cfgs, i), "threads", 0) == 1)
                gil = bj_at(cfgs, i);
        double tg = med(bj_path(gil, "summary.wall_s"));
        if (isfinite(tg))
            fprintf(f, "\ngil with 1 thread against CPython: CPython's time / gil's = %.2f (CPython %.3f s, gil "
                       "%.3f s; target: at least 2, i.e. gil at least 2x faster); in CPU time %.2f.\n",
                    tc / tg, tc, tg, med(bj_get(cs, "cpu_s")) / med(bj_path(gil, "summary.cpu_s")));
    } else {
        fprintf(f, "\nCPython: not measured (%s); the gil target is listed as not measured.\n",
                cperr ? cperr : "every run failed");
    }
    fprintf(f, "\n(!) = at least one run failed (exit status, check counts, or lines that differ from "
               "CPython's); see `programs.binary_trees` in results.json.\n\n");
}

static int write_md(const char *dir, const bj *res, const bj *plots)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/report.md", dir);
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    const char *backends[32], *workloads[64];
    size_t nb = param_names(res, "backends", backends, 32), nw = param_names(res, "workloads", workloads, 64);
    const bj *cfgs = bj_get(res, "stress");

    fprintf(f, "# Tally backend comparison\n\n");
    fprintf(f, "Generated by `tally bench` on %s.  Raw data: [results.json](results.json) (schema version %g), "
               "[results.csv](results.csv).  How to read it: docs/report.md.\n\n",
            bj_getstr(res, "date", "?"), bj_getnum(res, "schema_version", 0));
    if (bj_getstr(res, "interrupted", NULL))
        fprintf(f, "**INTERRUPTED by %s**: the run stopped early; what it had not measured is missing "
                   "(targets: not measured).\n\n", bj_getstr(res, "interrupted", ""));
    md_machine(f, res);
    md_targets(f, res);
    md_micro(f, res, backends, nb);
    md_throughput(f, cfgs, workloads, nw, backends, nb, plots);
    md_pauses(f, res, cfgs, plots);
    md_memory(f, res, workloads, nw, backends, nb, plots);
    md_gil(f, cfgs, backends, nb);
    md_races(f, cfgs, backends, nb);
    md_gc(f, res, backends, nb);
    md_programs(f, res);
    md_py_programs(f, res, backends, nb);
    md_memory_return(f, res);
    md_drop(f, res, backends, nb);
    fprintf(f, "## Reproduce\n\n```\nmake report            # build/release/stress/tally bench --out report\n"
               "build/release/stress/tally bench --quick --out /tmp/r\n"
               "build/release/stress/tally bench --compare docs/example-report/results.json report/results.json\n```\n");
    return fclose(f);
}

int bench_write_report(const char *dir, const bj *res)
{
    int rc = 0;
    if (write_csv(dir, res) != 0) {
        fprintf(stderr, "tally bench: cannot write %s/results.csv\n", dir);
        rc = 1;
    }
    const char *backends[32], *workloads[64];
    size_t nb = param_names(res, "backends", backends, 32), nw = param_names(res, "workloads", workloads, 64);

    bj *plots = bj_arr();
    char gpath[4096];
    snprintf(gpath, sizeof gpath, "%s/plots.gp", dir);
    plotter p = {fopen(gpath, "w"), dir, 0};
    if (p.gp) {
        fprintf(p.gp, "# plots.gp - written by tally bench; run `gnuplot plots.gp` in this directory.\n");
        plot_throughput(&p, bj_get(res, "stress"), workloads, nw, backends, nb, plots);
        plot_roles(&p, bj_get(res, "stress"), workloads, nw, backends, nb, plots);
        plot_pause_cdfs(&p, bj_get(res, "stress"), workloads, nw, backends, nb, plots);
        plot_memory(&p, bj_get(res, "micro"), backends, nb, plots);
        fclose(p.gp);
        char cmd[8300];
        snprintf(cmd, sizeof cmd, "cd '%s' && gnuplot plots.gp", dir);
        if (p.nplots && system(cmd) != 0) {
            fprintf(stderr, "tally bench: gnuplot failed (is it installed?); report.md links plots that are missing\n");
            bj_free(plots);
            plots = bj_arr();
        }
    }
    if (write_md(dir, res, plots) != 0) {
        fprintf(stderr, "tally bench: cannot write %s/report.md\n", dir);
        rc = 1;
    }
    bj_free(plots);
    return rc;
}
