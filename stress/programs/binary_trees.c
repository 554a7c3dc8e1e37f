/* stress/programs/binary_trees.c - the Benchmarks Game binary-trees program on Tally's public API.
 *
 * Owns: tally-binary-trees-<backend>, an allocation-heavy program written the way an outside
 * user writes one (only <tally/tally.h>, linked with tally::<backend>).  Shape of the Benchmarks
 * Game program (and of stress/programs/binary_trees.py, which prints the same lines):
 *   - a stretch tree of depth max+1 is built, checked and dropped;
 *   - a long-lived tree of depth max is built and kept to the end;
 *   - for d = 4, 6, ..., max: 2^(max-d+4) trees of depth d are built, checked and dropped;
 *   - the long-lived tree is checked last.
 * A node is a 2-tuple (tally_tuple_new(2, items)), as a Python program's nodes are; a leaf is the
 * tuple (None, None), exactly what the Python program builds: every node is then one allocation
 * of the same size, and None is immortal, so storing it costs no refcount write.  (An empty tuple
 * would be a distinct allocation per leaf in Tally, which has no empty-tuple singleton, and
 * would not be the object CPython's program allocates.)  check = number of nodes.
 *
 * Threads (--threads T): the main thread and T-1 others, each attached, share the iterations of
 * every depth: thread k builds trees [k*n/T, (k+1)*n/T) of the n trees of that depth.  Every
 * depth allocates the same number of nodes (2^(max-d+4) trees of 2^(d+1)-1 nodes), so this keeps
 * the threads equally loaded where handing out whole depths (7 depths at depth 16) would leave one
 * thread with a depth more than the other.  The stretch and long-lived trees belong to the main
 * thread.  Each thread writes only its own row of per-depth sums; the main thread reads them after
 * pthread_join (the join orders the writes before the reads) and prints the lines in depth order,
 * so the output does not depend on T.  No object is ever shared between threads.
 *
 * Exit status: 0 when every check equals the node count of its trees, 1 on a wrong count or an
 * error (out of memory is reported, never an abort), 2 on bad arguments.  --json adds one JSON
 * object after the lines: backend, depth, threads, wall time, the collector's statistics per
 * generation and from its pause records, allocation counts, and GIL figures on the gil backend.
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime under -std=c11 */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <tally/tally.h>

#define PROG "tally-binary-trees"
#define MIN_DEPTH 4
#define DEPTH_MIN 6   /* the smallest max depth of the Benchmarks Game program (min + 2) */
#define DEPTH_MAX 22  /* a depth-23 stretch tree: 16.7M nodes, about 1.3 GB */
#define THREADS_MAX 64
#define NDEPTHS ((DEPTH_MAX - MIN_DEPTH) / 2 + 1)

static int max_depth = 16;
static int nthreads = 1;

/* One row per thread: written only by that thread, read by main after the join. */
typedef struct {
    int index;
    pthread_t tid;
    bool started;
    int64_t check[NDEPTHS];   /* sum of the checks of this thread's trees, per depth */
    int failed;               /* 1: a tree could not be built */
    char error[256];          /* tally_last_error() of that thread (it is per thread) */
} worker;

static worker workers[THREADS_MAX];

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* A new reference to a tree of `depth` levels below its root, or NULL (out of memory). */
static tally_object *make_tree(int depth)
{
    tally_object *items[2];
    if (depth == 0) {
        items[0] = items[1] = tally_none();
        return tally_tuple_new(2, items);
    }
    items[0] = make_tree(depth - 1);
    if (!items[0])
        return NULL;
    items[1] = make_tree(depth - 1);
    if (!items[1]) {
        tally_decref(items[0]);
        return NULL;
    }
    tally_object *node = tally_tuple_new(2, items); /* takes its own references */
    tally_decref(items[0]);
    tally_decref(items[1]);
    return node;
}

/* The walk allocates nothing, so it reaches no safepoint by itself: it polls every 1024 nodes,
 * as an interpreter running the Python program polls its eval breaker at every call (a depth-16
 * tree is 131,071 nodes, 1-3 ms of walking that a stop-the-world requested by the other thread
 * would otherwise wait out). */
static _Thread_local unsigned walk_count;

static int64_t check_tree(tally_object *node)
{
    if (tally_unlikely((++walk_count & 1023) == 0))
        tally_safepoint();
    tally_object *left = tally_tuple_get(node, 0);
    if (left == tally_none())
        return 1;
    return 1 + check_tree(left) + check_tree(tally_tuple_get(node, 1));
}

static int64_t nodes_of(int depth) { return ((int64_t)1 << (depth + 1)) - 1; }
static int64_t iterations_of(int depth) { return (int64_t)1 << (max_depth - depth + MIN_DEPTH); }

static void record_error(worker *w, const char *what)
{
    w->failed = 1;
    snprintf(w->error, sizeof w->error, "%s: %s", what, tally_last_error() ? tally_last_error() : "unknown error");
}

/* This thread's share of every depth's trees. */
static void run_share(worker *w)
{
    assert(w->index >= 0 && w->index < nthreads && tally_thread_is_attached());
    for (int d = MIN_DEPTH, i = 0; d <= max_depth; d += 2, i++) {
        int64_t n = iterations_of(d);
        int64_t lo = n * w->index / nthreads, hi = n * (w->index + 1) / nthreads;
        int64_t sum = 0;
        for (int64_t k = lo; k < hi; k++) {
            tally_object *t = make_tree(d);
            if (!t) {
                record_error(w, "building a tree");
                return;
            }
            sum += check_tree(t);
            tally_decref(t);
            tally_safepoint(); /* GIL hand-over, stop-the-world, merges, quiescent state */
        }
        w->check[i] = sum;
    }
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    if (tally_thread_attach() != 0) {
        record_error(w, "tally_thread_attach");
        return NULL;
    }
    run_share(w);
    tally_thread_release();
    return NULL;
}

/* ---- arguments ------------------------------------------------------------------------------ */
static void usage(FILE *f)
{
    fprintf(f, "usage: %s [--depth N] [--threads T] [--json]\n"
               "  --depth N    max depth, %d to %d (default 16)\n"
               "  --threads T  threads sharing the trees of every depth, 1 to %d (default 1)\n"
               "  --json       after the lines, one JSON object: backend, depth, threads, wall time,\n"
               "               collector statistics\n",
            PROG, DEPTH_MIN, DEPTH_MAX, THREADS_MAX);
}

static int parse_int(const char *opt, const char *val, long lo, long hi, int *out)
{
    if (!val) {
        fprintf(stderr, PROG ": missing value for %s: expected an integer from %ld to %ld\n", opt, lo, hi);
        return 2;
    }
    char *end;
    errno = 0;
    long v = strtol(val, &end, 10);
    if (errno || end == val || *end || v < lo || v > hi) {
        fprintf(stderr, PROG ": invalid value '%s' for %s: expected an integer from %ld to %ld\n", val, opt, lo, hi);
        return 2;
    }
    *out = (int)v;
    return 0;
}

static int parse_args(int argc, char **argv, bool *json)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        int rc = 0;
        if (strcmp(a, "--depth") == 0) {
            rc = parse_int("--depth", val, DEPTH_MIN, DEPTH_MAX, &max_depth);
            i++;
        } else if (strcmp(a, "--threads") == 0) {
            rc = parse_int("--threads", val, 1, THREADS_MAX, &nthreads);
            i++;
        } else if (strcmp(a, "--json") == 0) {
            *json = true;
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            exit(0);
        } else {
            fprintf(stderr, PROG ": unknown option '%s': accepted options are --depth N (%d to %d), "
                            "--threads T (1 to %d), --json, --help\n", a, DEPTH_MIN, DEPTH_MAX, THREADS_MAX);
            rc = 2;
        }
        if (rc)
            return rc;
    }
    return 0;
}

/* ---- the JSON object -------------------------------------------------------------------------- */
static void print_json(double wall_s, bool ok)
{
    printf("{\"program\": \"binary-trees\", \"backend\": \"%s\", \"depth\": %d, \"threads\": %d, "
           "\"wall_s\": %.6f, \"checks_ok\": %s,\n",
           tally_backend(), max_depth, nthreads, wall_s, ok ? "true" : "false");
    printf(" \"gc\": {");
    uint64_t collections = 0, collected = 0;
    for (int g = 0; g < 3; g++) {
        tally_gc_stats s;
        memset(&s, 0, sizeof s);
        tally_gc_get_stats(g, &s);
        collections += s.collections;
        collected += s.collected;
        printf("\"gen%d\": {\"collections\": %" PRIu64 ", \"collected\": %" PRIu64 ", \"uncollectable\": %" PRIu64
               ", \"candidates\": %" PRIu64 ", \"duration_s\": %.6f}, ",
               g, s.collections, s.collected, s.uncollectable, s.candidates, s.duration);
    }
    printf("\"collections\": %" PRIu64 ", \"collected\": %" PRIu64 ",\n", collections, collected);
    /* The pause records: the ring keeps the last TALLY_GC_PAUSE_RING collections. */
    static tally_gc_pause p[TALLY_GC_PAUSE_RING];
    size_t n = tally_gc_get_pauses(p, TALLY_GC_PAUSE_RING);
    uint64_t stw_total = 0, stw_max = 0, total = 0, total_max = 0, tts_max = 0;
    for (size_t i = 0; i < n; i++) {
        stw_total += p[i].stw_ns;
        total += p[i].total_ns;
        if (p[i].stw_ns > stw_max)
            stw_max = p[i].stw_ns;
        if (p[i].total_ns > total_max)
            total_max = p[i].total_ns;
        if (p[i].time_to_safepoint_ns > tts_max)
            tts_max = p[i].time_to_safepoint_ns;
    }
    printf("  \"pauses\": {\"count\": %" PRIu64 ", \"recorded\": %zu, \"stw_ns_total\": %" PRIu64
           ", \"stw_ns_max\": %" PRIu64 ", \"collection_ns_total\": %" PRIu64 ", \"collection_ns_max\": %" PRIu64
           ", \"time_to_safepoint_ns_max\": %" PRIu64 "}},\n",
           tally_gc_pause_count(), n, stw_total, stw_max, total, total_max, tts_max);
    tally_alloc_stats a;
    tally_get_alloc_stats(&a);
    printf(" \"alloc\": {\"allocated\": %" PRIu64 ", \"freed\": %" PRIu64 ", \"live\": %" PRIu64 "}", a.allocated,
           a.freed, a.live);
    tally_gil_stats g;
    if (tally_gil_get_stats(&g) == 0)
        printf(",\n \"gil\": {\"acquisitions\": %" PRIu64 ", \"switches\": %" PRIu64 ", \"drop_requests\": %" PRIu64
               ", \"forced_switches\": %" PRIu64 ", \"wait_ns_total\": %" PRIu64 ", \"wait_ns_max\": %" PRIu64 "}",
               g.acquisitions, g.switches, g.drop_requests, g.forced_switches, g.wait_ns_total, g.wait_ns_max);
    printf("}\n");
}

int main(int argc, char **argv)
{
    bool json = false;
    int rc = parse_args(argc, argv, &json);
    if (rc)
        return rc;
    if (tally_init(NULL) != 0) { /* attaches the main thread */
        fprintf(stderr, PROG ": tally_init failed: %s\n", tally_last_error());
        return 1;
    }
    double t0 = now_s();
    bool ok = true;

    int stretch = max_depth + 1;
    tally_object *t = make_tree(stretch);
    if (!t) {
        fprintf(stderr, PROG ": building the stretch tree: %s\n", tally_last_error());
        tally_fini();
        return 1;
    }
    int64_t c = check_tree(t);
    tally_decref(t);
    ok &= c == nodes_of(stretch);
    printf("stretch tree of depth %d\t check: %" PRId64 "\n", stretch, c);

    tally_object *long_lived = make_tree(max_depth);
    if (!long_lived) {
        fprintf(stderr, PROG ": building the long-lived tree: %s\n", tally_last_error());
        tally_fini();
        return 1;
    }

    for (int k = 0; k < nthreads; k++)
        workers[k].index = k;
    int started_failed = 0;
    /* Detached while creating: a worker that starts allocating can trigger a collection, whose
     * stop-the-world must not wait on this thread (creating hundreds of threads attached
     * livelocked the stress harness, issue 15 item 4). */
    TALLY_BEGIN_ALLOW_THREADS
    for (int k = 1; k < nthreads && !started_failed; k++) {
        int e = pthread_create(&workers[k].tid, NULL, worker_main, &workers[k]);
        if (e) {
            fprintf(stderr, PROG ": cannot start thread %d of %d: %s\n", k + 1, nthreads, strerror(e));
            started_failed = 1;
        } else {
            workers[k].started = true;
        }
    }
    TALLY_END_ALLOW_THREADS
    if (!started_failed)
        run_share(&workers[0]);
    /* The join blocks: detached, this thread lets the others take the GIL or stop the world.
     * Joining also orders every worker's writes to its row before the reads below. */
    TALLY_BEGIN_ALLOW_THREADS
    for (int k = 1; k < nthreads; k++)
        if (workers[k].started)
            pthread_join(workers[k].tid, NULL);
    TALLY_END_ALLOW_THREADS
    bool failed = started_failed;
    for (int k = 0; k < nthreads; k++)
        if (workers[k].failed) {
            fprintf(stderr, PROG ": thread %d: %s\n", k + 1, workers[k].error);
            failed = true;
        }
    if (failed) {
        tally_decref(long_lived);
        tally_fini();
        return 1;
    }

    for (int d = MIN_DEPTH, i = 0; d <= max_depth; d += 2, i++) {
        int64_t sum = 0;
        for (int k = 0; k < nthreads; k++)
            sum += workers[k].check[i];
        ok &= sum == iterations_of(d) * nodes_of(d);
        printf("%" PRId64 "\t trees of depth %d\t check: %" PRId64 "\n", iterations_of(d), d, sum);
    }
    c = check_tree(long_lived);
    ok &= c == nodes_of(max_depth);
    printf("long lived tree of depth %d\t check: %" PRId64 "\n", max_depth, c);
    tally_decref(long_lived);
    double wall = now_s() - t0;

    if (json)
        print_json(wall, ok);
    if (!ok)
        fprintf(stderr, PROG ": a check count differs from the node count of its trees\n");
    fflush(stdout);
    tally_fini();
    return ok ? 0 : 1;
}
