/* stress/harness/runner.c - main() of the per-backend stress worker tally-stress-<backend>.
 *
 * Owns: argument parsing (the same table as the front end), runtime start-up with the
 * requested collector threshold and switch interval, running one workload, the invariant
 * checks every run ends with, and the report (text, or one JSON object with --json).
 *
 * End-of-run invariants, after the workload has dropped every reference it held and checked
 * its own model, and after tally_flush() and a full collection:
 *   every stress.obj created was destroyed exactly once, or rescued (an early free kept alive
 *   on purpose), or deliberately left immortal (leak_violations otherwise);
 *   tally_get_alloc_stats().live is back to its value at start-up plus the objects left alive
 *   on purpose (live_count_violations otherwise).
 */
#include "harness.h"

#include <execinfo.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "../cli.h"

#ifndef TALLY_STRESS_BACKEND
#  error "compile with -DTALLY_STRESS_BACKEND=\"<backend>\""
#endif

volatile sig_atomic_t stress_sigint_seen;

const char *const stress_violation_keys[SV_COUNT] = {
    "refcount_violations", "early_free_violations", "double_free_violations",
    "use_after_free_violations", "leak_violations", "live_count_violations",
    "content_violations",
};

static const stress_workload workloads[] = {
    { "hammer", stress_wl_hammer },
    { "private", stress_wl_private },
    { "handoff", stress_wl_handoff },
    { "readmostly", stress_wl_readmostly },
    { "cycles", stress_wl_cycles },
    { "graph", stress_wl_graph },
    { "churn", stress_wl_churn },
    { "forkcow", stress_wl_forkcow },
    { "convoy", stress_wl_convoy },
};

/* SIGINT and SIGTERM: the first asks the run to stop; it then finishes its current round, runs
 * the end-of-run checks, prints the report (marked INTERRUPTED) and exits with 128 + the
 * signal's number, as a shell reports a process that the signal ended.  A second one ends the
 * process at once (the default action), for a run that does not stop. */
static void on_sigint(int sig)
{
    if (stress_sigint_seen) {
        signal(sig, SIG_DFL);
        raise(sig);
        return;
    }
    stress_sigint_seen = sig;
}

/* ---- a crash is a finding too, and so is a hang ------------------------------------------
 * A fatal signal in a worker (racy counts can free an object twice, and the allocator then
 * hands the same memory out twice) ends the run with what was counted so far, a
 * crash_violations count of 1 and the signal, in the requested format, then exits 1.
 * A timed run that has not finished its end-of-run checks WATCHDOG_GRACE_S seconds after its
 * deadline (plus its own length) is ended the same way by SIGALRM, marked "hung": a heap
 * that racy counts corrupted can leave a thread looping over a broken list, possibly
 * allocating as it goes (once seen: a racy run killed by the kernel's OOM killer at 24 GB,
 * no report at all).  Only async-signal-safe calls: write() of text formatted by hand. */
#define WATCHDOG_GRACE_S 30
static const stress_config *crash_cfg;

static size_t put_str(char *buf, size_t pos, size_t cap, const char *s)
{
    while (*s && pos + 1 < cap)
        buf[pos++] = *s++;
    return pos;
}

static size_t put_u64(char *buf, size_t pos, size_t cap, uint64_t v)
{
    char tmp[24];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n && pos + 1 < cap)
        buf[pos++] = tmp[--n];
    return pos;
}

static int crash_reporting;

static void on_fatal(int sig)
{
    /* the first crashing thread reports; any other one waits for its _exit */
    if (tally_atomic_exchange_acq_rel(&crash_reporting, 1))
        for (;;)
            pause();
    char buf[2048];
    size_t p = 0, cap = sizeof buf;
    const stress_config *c = crash_cfg;
    uint64_t total = 1;
    for (int v = 0; v < SV_COUNT; v++)
        total += tally_atomic_load_relaxed(&stress_current->violations[v]);
    if (c && c->json) {
        p = put_str(buf, p, cap, "\n{\"tool\":\"tally stress\",\"backend\":\"");
        p = put_str(buf, p, cap, c->backend);
        p = put_str(buf, p, cap, "\",\"workload\":\"");
        p = put_str(buf, p, cap, c->workload);
        p = put_str(buf, p, cap, "\",\"threads\":");
        p = put_u64(buf, p, cap, c->threads);
        p = put_str(buf, p, cap, ",\"seed\":");
        p = put_u64(buf, p, cap, c->seed);
        p = put_str(buf, p, cap, ",\"crashed\":true,\"signal\":");
        p = put_u64(buf, p, cap, (uint64_t)sig);
        if (sig == SIGALRM)
            p = put_str(buf, p, cap, ",\"hung\":true");
        for (int v = 0; v < SV_COUNT; v++) {
            p = put_str(buf, p, cap, ",\"");
            p = put_str(buf, p, cap, stress_violation_keys[v]);
            p = put_str(buf, p, cap, "\":");
            p = put_u64(buf, p, cap, tally_atomic_load_relaxed(&stress_current->violations[v]));
        }
        p = put_str(buf, p, cap, ",\"crash_violations\":1,\"violations_total\":");
        p = put_u64(buf, p, cap, total);
        p = put_str(buf, p, cap, "}\n");
        if (write(1, buf, p) < 0)
            _exit(1);
    } else {
        bool hung = sig == SIGALRM;
        p = put_str(buf, p, cap, hung ? "\ntally stress: HUNG (still running long after its deadline; watchdog signal "
                                      : "\ntally stress: CRASHED with signal ");
        p = put_u64(buf, p, cap, (uint64_t)sig);
        if (hung)
            p = put_str(buf, p, cap, ")");
        p = put_str(buf, p, cap, "; counted so far:");
        for (int v = 0; v < SV_COUNT; v++) {
            p = put_str(buf, p, cap, " ");
            p = put_str(buf, p, cap, stress_violation_keys[v]);
            p = put_str(buf, p, cap, " ");
            p = put_u64(buf, p, cap, tally_atomic_load_relaxed(&stress_current->violations[v]));
        }
        p = put_str(buf, p, cap, ", crash_violations 1\n  result: VIOLATIONS FOUND\n");
        if (write(1, buf, p) < 0)
            _exit(1);
    }
    if (getenv("TALLY_STRESS_BACKTRACE")) {
        void *frames[32];
        int n = backtrace(frames, 32);
        backtrace_symbols_fd(frames, n, 2);
    }
    _exit(1);
}

static void install_fatal_handlers(const stress_config *c)
{
    crash_cfg = c;
    void *warm[2];
    backtrace(warm, 2);   /* loads the unwinder now, not inside the handler */
    static char altstack[1 << 16];   /* the main thread's; workers report on their own stack */
    stack_t ss = { .ss_sp = altstack, .ss_size = sizeof altstack, .ss_flags = 0 };
    sigaltstack(&ss, NULL);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_fatal;
    sa.sa_flags = SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    int sigs[] = { SIGSEGV, SIGBUS, SIGABRT, SIGFPE, SIGILL, SIGALRM };
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        sigaction(sigs[i], &sa, NULL);
}

static void fmt_ns(char *buf, size_t len, uint64_t ns)
{
    if (ns < 10000)
        snprintf(buf, len, "%" PRIu64 "ns", ns);
    else if (ns < 10000000)
        snprintf(buf, len, "%.1fus", (double)ns / 1e3);
    else if (ns < 10000000000ULL)
        snprintf(buf, len, "%.2fms", (double)ns / 1e6);
    else
        snprintf(buf, len, "%.2fs", (double)ns / 1e9);
}

static const double quantiles[] = { 0.5, 0.9, 0.99, 0.999 };
static const char *const qkeys[] = { "p50", "p90", "p99", "p99_9" };

static void print_hist_text(const char *key, const stress_hist *h)
{
    printf("  %-26s n=%" PRIu64, key, h->count);
    if (!h->count) {
        printf("\n");
        return;
    }
    char b[32];
    for (int i = 0; i < 4; i++) {
        fmt_ns(b, sizeof b, stress_hist_quantile(h, quantiles[i]));
        printf(" %s %s", qkeys[i], b);
    }
    fmt_ns(b, sizeof b, h->max);
    printf(" max %s\n", b);
}

static void print_hist_json(stress_json *j, const char *key, const stress_hist *h)
{
    sj_obj(j, key);
    sj_u64(j, "count", h->count);
    for (int i = 0; i < 4; i++)
        sj_u64(j, qkeys[i], stress_hist_quantile(h, quantiles[i]));
    sj_u64(j, "min", h->count ? h->min : 0);
    sj_u64(j, "max", h->max);
    sj_f64(j, "mean", h->count ? (double)h->sum / (double)h->count : 0.0);
    /* The whole distribution: [largest value of the bucket, count] for every non-empty bucket
     * (log buckets with 32 linear sub-buckets: at most 1/32 relative error), for plots. */
    sj_arr(j, "buckets");
    for (unsigned i = 0; i < STRESS_HIST_BUCKETS; i++) {
        if (!h->bucket[i])
            continue;
        sj_arr(j, NULL);
        uint64_t hi = stress_hist_bucket_high(i);
        sj_u64(j, NULL, hi > h->max ? h->max : hi);
        sj_u64(j, NULL, h->bucket[i]);
        sj_arr_end(j);
    }
    sj_arr_end(j);
    sj_obj_end(j);
}

typedef struct end_figures {
    double elapsed_s;
    tally_alloc_stats alloc_base, alloc_end;
    tally_gc_stats gen[3];
    tally_gil_stats gil;
    int gil_rc;
    long peak_rss_kb;
    int gc_threshold[3];
    hobj_counts hc;
    uint64_t total_violations;
} end_figures;

static void report_text(const stress_run *r, const end_figures *e)
{
    const stress_config *c = r->cfg;
    tally_options in_force;
    tally_get_options(&in_force);
    printf("tally stress: workload %s, backend %s, %" PRIu64 " threads, seed %" PRIu64 "%s%s%s\n",
           c->workload, c->backend, c->threads, c->seed, c->chaos ? ", chaos" : "",
           in_force.gil_fair ? ", gil fair" : "",
           !r->interrupted ? "" : stress_sigint_seen == SIGTERM ? ", INTERRUPTED by SIGTERM" : ", INTERRUPTED by SIGINT");
    double per_s = e->elapsed_s > 0 ? (double)r->ops_total / e->elapsed_s : 0;
    printf("  %-26s %" PRIu64 " in %.3f s: %.4g ops/s, %.4g ops/s per thread\n", "ops",
           r->ops_total, e->elapsed_s, per_s, r->nthreads ? per_s / r->nthreads : 0.0);
    printf("  %-26s %s\n", "one op", stress_workload_operation(c->workload));
    printf("  %-26s allocated %" PRIu64 ", freed %" PRIu64 ", live at end %" PRIu64
           " (start %" PRIu64 ", left on purpose %" PRIu64 ")\n", "objects",
           e->alloc_end.allocated - e->alloc_base.allocated,
           e->alloc_end.freed - e->alloc_base.freed, e->alloc_end.live, e->alloc_base.live,
           r->expected_live);
    printf("  %-26s created %" PRIu64 ", destroyed %" PRIu64 ", rescued %" PRIu64 "\n",
           "stress.obj", e->hc.created, e->hc.destroyed, e->hc.rescued);
    printf("  %-26s", "collections");
    for (int g = 0; g < 3; g++)
        printf(" gen%d %" PRIu64 " (collected %" PRIu64 ", %.3f s)%s", g, e->gen[g].collections,
               e->gen[g].collected, e->gen[g].duration, g < 2 ? "," : "");
    printf("  [threshold %d/%d/%d]\n", e->gc_threshold[0], e->gc_threshold[1], e->gc_threshold[2]);
    for (size_t i = 0; i < r->nhists; i++)
        print_hist_text(r->hists[i].key, r->hists[i].hist);
    if (e->gil_rc == 0) {
        printf("  %-26s acquisitions %" PRIu64 ", switches %" PRIu64 ", drop requests %" PRIu64
               ", forced %" PRIu64 ", wait total %.3f ms, wait max %.1f us\n", "gil",
               e->gil.acquisitions, e->gil.switches, e->gil.drop_requests, e->gil.forced_switches,
               (double)e->gil.wait_ns_total / 1e6, (double)e->gil.wait_ns_max / 1e3);
    }
    printf("  %-26s %ld kB\n", "peak rss", e->peak_rss_kb);
    for (size_t i = 0; i < r->nfigures; i++) {
        if (r->figures[i].integer)
            printf("  %-26s %.0f\n", r->figures[i].key, r->figures[i].value);
        else
            printf("  %-26s %.6g\n", r->figures[i].key, r->figures[i].value);
    }
    printf("  %-26s", "violations");
    for (int v = 0; v < SV_COUNT; v++)
        printf(" %s %" PRIu64 "%s", stress_violation_keys[v], r->violations[v],
               v + 1 < SV_COUNT ? "," : "");
    printf("\n  result: %s\n", e->total_violations ? "VIOLATIONS FOUND" : "no violations");
}

/* 0, or -1 when the object could not be built or written (sj_end says why on stderr) */
static int report_json(const stress_run *r, const end_figures *e)
{
    const stress_config *c = r->cfg;
    stress_json j;
    sj_begin(&j, stdout);
    sj_str(&j, "tool", "tally stress");
    sj_str(&j, "version", tally_version());
    sj_str(&j, "backend", tally_backend());
    sj_str(&j, "workload", c->workload);
    sj_str(&j, "operation", stress_workload_operation(c->workload));   /* what one of "ops" is */
    sj_u64(&j, "threads", c->threads);   /* as run: two-role workloads refuse fewer than 2 */
    if (c->ops_set)
        sj_u64(&j, "ops_requested", c->ops);
    else
        sj_f64(&j, "seconds_requested", c->seconds);
    sj_u64(&j, "seed", c->seed);
    sj_bool(&j, "chaos", c->chaos);
    tally_options in_force;
    tally_get_options(&in_force);
    /* the mode in force: --gil-fair or TALLY_GIL_FAIR (meaningful for the gil backend only) */
    sj_bool(&j, "gil_fair", in_force.gil_fair != 0);
    sj_arr(&j, "gc_threshold");
    for (int g = 0; g < 3; g++)
        sj_i64(&j, NULL, e->gc_threshold[g]);
    sj_arr_end(&j);
    if (c->objects)
        sj_u64(&j, "objects_requested", c->objects);
    sj_obj(&j, "machine");
    char cpu[256];
    stress_cpu_model(cpu, sizeof cpu);
    sj_i64(&j, "cores", sysconf(_SC_NPROCESSORS_ONLN));
    sj_str(&j, "cpu_model", cpu);
    struct utsname u;
    if (uname(&u) == 0) {
        sj_str(&j, "kernel", u.release);
        sj_str(&j, "arch", u.machine);
    }
    sj_obj_end(&j);
    sj_bool(&j, "interrupted", r->interrupted != 0);
    sj_f64(&j, "elapsed_s", e->elapsed_s);
    sj_u64(&j, "ops", r->ops_total);
    double per_s = e->elapsed_s > 0 ? (double)r->ops_total / e->elapsed_s : 0;
    sj_f64(&j, "ops_per_s", per_s);
    sj_f64(&j, "ops_per_s_per_thread", r->nthreads ? per_s / r->nthreads : 0.0);
    sj_u64(&j, "objects_allocated", e->alloc_end.allocated - e->alloc_base.allocated);
    sj_u64(&j, "objects_freed", e->alloc_end.freed - e->alloc_base.freed);
    sj_u64(&j, "objects_live_start", e->alloc_base.live);
    sj_u64(&j, "objects_live_end", e->alloc_end.live);
    sj_u64(&j, "objects_left_alive_on_purpose", r->expected_live);
    sj_u64(&j, "stress_obj_created", e->hc.created);
    sj_u64(&j, "stress_obj_destroyed", e->hc.destroyed);
    sj_u64(&j, "stress_obj_rescued", e->hc.rescued);
    sj_obj(&j, "gc");
    for (int g = 0; g < 3; g++) {
        static const char *const gk[] = { "gen0", "gen1", "gen2" };
        sj_obj(&j, gk[g]);
        sj_u64(&j, "collections", e->gen[g].collections);
        sj_u64(&j, "collected", e->gen[g].collected);
        sj_u64(&j, "uncollectable", e->gen[g].uncollectable);
        sj_u64(&j, "candidates", e->gen[g].candidates);
        sj_f64(&j, "duration_s", e->gen[g].duration);
        sj_obj_end(&j);
    }
    sj_obj_end(&j);
    for (size_t i = 0; i < r->nhists; i++)
        print_hist_json(&j, r->hists[i].key, r->hists[i].hist);
    if (e->gil_rc == 0) {
        sj_obj(&j, "gil");
        sj_u64(&j, "acquisitions", e->gil.acquisitions);
        sj_u64(&j, "switches", e->gil.switches);
        sj_u64(&j, "drop_requests", e->gil.drop_requests);
        sj_u64(&j, "forced_switches", e->gil.forced_switches);
        sj_u64(&j, "wait_ns_total", e->gil.wait_ns_total);
        sj_u64(&j, "wait_ns_max", e->gil.wait_ns_max);
        sj_obj_end(&j);
    } else {
        sj_str(&j, "gil", NULL);
    }
    sj_i64(&j, "peak_rss_kb", e->peak_rss_kb);
    for (size_t i = 0; i < r->nfigures; i++) {
        if (r->figures[i].integer)
            sj_i64(&j, r->figures[i].key, (int64_t)llround(r->figures[i].value));
        else
            sj_f64(&j, r->figures[i].key, r->figures[i].value);
    }
    for (int v = 0; v < SV_COUNT; v++)
        sj_u64(&j, stress_violation_keys[v], r->violations[v]);
    sj_u64(&j, "violations_total", e->total_violations);
    return sj_end(&j);
}

int main(int argc, char **argv)
{
    stress_config cfg;
    int rc = stress_options_parse("tally stress", argc, argv, 1, &cfg);
    if (rc == 1)
        return tally_cli_close_stdout("tally stress", 0);
    if (rc)
        return TALLY_CLI_EXIT_USAGE;
    if (strcmp(cfg.backend, TALLY_STRESS_BACKEND) != 0)
        return tally_cli_error("tally stress", "invalid value '%s' for --backend: this worker "
                               "(%s) runs only %s; use the `tally` front end", cfg.backend,
                               argv[0], TALLY_STRESS_BACKEND);
    const stress_workload *wl = NULL;
    for (size_t i = 0; i < sizeof workloads / sizeof workloads[0]; i++)
        if (strcmp(workloads[i].name, cfg.workload) == 0)
            wl = &workloads[i];
    if (!wl)
        return tally_cli_error("tally stress", "invalid value '%s' for --workload", cfg.workload);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    tally_options opt = TALLY_OPTIONS_INIT;
    if (cfg.gc_threshold_set)
        opt.gc_threshold0 = (int)cfg.gc_threshold;
    if (cfg.switch_interval_us)
        opt.switch_interval_us = (unsigned)cfg.switch_interval_us;
    if (cfg.gil_fair)
        opt.gil_fair = 1;
    if (tally_init(&opt) != 0) {
        fprintf(stderr, "tally stress: tally_init failed: %s\n", tally_last_error());
        return 3;
    }
    if (cfg.gc_threshold_set) {  /* an environment override must not win over the flag */
        int th[3];
        tally_gc_get_threshold(th);
        tally_gc_set_threshold((int)cfg.gc_threshold, th[1], th[2]);
    }
    if (cfg.switch_interval_us)
        tally_set_switch_interval((unsigned)cfg.switch_interval_us);

    static stress_run r;
    memset(&r, 0, sizeof r);
    pthread_mutex_init(&r.lock, NULL);
    r.cfg = &cfg;
    stress_current = &r;
    install_fatal_handlers(&cfg);
    /* only cycles and graph link harness objects into cycles */
    hobj_set_acyclic(strcmp(cfg.workload, "cycles") != 0 && strcmp(cfg.workload, "graph") != 0);
    hobj_init();

    end_figures e;
    memset(&e, 0, sizeof e);
    /* one collection first: what the collector allocates once (its garbage list, ...) is
     * then part of the baseline, not of the run */
    tally_gc_collect(2);
    tally_flush();
    tally_get_alloc_stats(&e.alloc_base);
    tally_gc_stats base_gen[3];
    for (int g = 0; g < 3; g++)
        tally_gc_get_stats(g, &base_gen[g]);
    uint64_t pauses_before = tally_gc_pause_count();
    tally_gil_reset_stats();

    r.start_ns = stress_now_ns();
    r.deadline_ns = cfg.ops_set ? 0 : r.start_ns + (uint64_t)(cfg.seconds * 1e9);
    if (!cfg.ops_set)   /* the watchdog (above); an --ops run has no deadline to measure from */
        alarm((unsigned)(2 * cfg.seconds) + 1 + WATCHDOG_GRACE_S);
    rc = wl->run(&r);
    r.end_ns = stress_now_ns();
    e.elapsed_s = (double)(r.end_ns - r.start_ns) / 1e9;

    /* ---- end-of-run invariants ---- */
    tally_flush();
    tally_gc_collect(2);
    tally_flush();
    hobj_get_counts(&e.hc);
    uint64_t accounted = e.hc.destroyed + e.hc.rescued + r.expected_hobj_live;
    if (e.hc.created > accounted)
        stress_violation_add(SV_LEAK, e.hc.created - accounted);
    tally_get_alloc_stats(&e.alloc_end);
    int64_t expect = (int64_t)e.alloc_base.live + (int64_t)r.expected_live + (int64_t)e.hc.rescued;
    int64_t diff = (int64_t)e.alloc_end.live - expect;
    stress_violation_add(SV_LIVE_COUNT, (uint64_t)(diff < 0 ? -diff : diff));

    for (int g = 0; g < 3; g++) {
        tally_gc_stats s;
        tally_gc_get_stats(g, &s);
        e.gen[g].collections = s.collections - base_gen[g].collections;
        e.gen[g].collected = s.collected - base_gen[g].collected;
        e.gen[g].uncollectable = s.uncollectable - base_gen[g].uncollectable;
        e.gen[g].candidates = s.candidates - base_gen[g].candidates;
        e.gen[g].duration = s.duration - base_gen[g].duration;
    }
    tally_gc_get_threshold(e.gc_threshold);
    stress_collect_pauses(&r, pauses_before);
    e.gil_rc = tally_gil_get_stats(&e.gil);
    e.peak_rss_kb = stress_peak_rss_kb();
    alarm(0);   /* the run and its checks are over: what is left is reporting */
    if (stress_sigint_seen)   /* also a signal that came after the workload's last look */
        r.interrupted = 1;
    for (int v = 0; v < SV_COUNT; v++)
        e.total_violations += r.violations[v];

    int json_rc = 0;
    if (cfg.json)
        json_rc = report_json(&r, &e);
    else
        report_text(&r, &e);
    /* a report that could not be written (a full disk, a closed pipe) is an error, not a run */
    int out_rc = tally_cli_close_stdout("tally stress", json_rc ? TALLY_CLI_EXIT_OUTPUT : 0);

    tally_fini();
    hobj_fini();
    for (size_t i = 0; i < r.nhists; i++)
        free(r.hists[i].hist);
    if (out_rc)
        return out_rc;
    if (r.interrupted)
        return 128 + (stress_sigint_seen ? stress_sigint_seen : SIGINT);
    if (rc != 0)
        return 3;
    return e.total_violations ? 1 : 0;
}
