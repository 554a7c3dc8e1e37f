/* stress/micro/bench_drop.c - the time to drop a large structure with one decref (issue 13).
 *
 * Owns: bench_drop_<backend>, a program on the public API that times two drops, each with the
 * calling thread alone and with a second attached thread idling in tally_safepoint():
 *   list   a list of N ints (default 10,000,000): one decref of the list, then tally_flush();
 *   chain  N lists (default 1,000,000), each holding the next: one decref of the head, then
 *          tally_flush().
 * Building is not timed.  The figure is the median of --reps runs (default 3), in seconds, with
 * the fastest and slowest; the program checks that every int or list was freed (the runtime's
 * live-object count returns to its value before the build) and exits 1 if not.
 *
 * usage: bench_drop_<backend> [--list N] [--chain N] [--reps R] [--only list|chain]
 *                             [--threads 1|2|both]
 * One line per (drop, threads): "drop <what> n=<N> threads=<T> backend=<B> median=<s> min=<s>
 * max=<s>".
 */
#define _GNU_SOURCE
#include <tally/tally.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int64_t live_objects(void)
{
    tally_alloc_stats st;
    tally_get_alloc_stats(&st);
    return (int64_t)st.live;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* ---- the second thread: attached, idling in tally_safepoint() ---------------------------- */
static volatile int idler_stop;
static volatile int idler_ready;

static void *idler(void *arg)
{
    (void)arg;
    if (tally_thread_attach() != 0)
        return NULL;
    tally_atomic_store_release(&idler_ready, 1);
    while (!tally_atomic_load_acquire(&idler_stop))
        tally_safepoint();
    tally_thread_release();
    return NULL;
}

/* ---- the structures ---------------------------------------------------------------------- */
static tally_object *build_list(size_t n)
{
    tally_object *l = tally_list_new();
    if (!l)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        tally_object *v = tally_int_new((int64_t)(i + 1000003));   /* past any small-int cache */
        if (!v || tally_list_append(l, v) != 0) {
            tally_xdecref(v);
            tally_decref(l);
            return NULL;
        }
        tally_decref(v);
    }
    return l;
}

static tally_object *build_chain(size_t n)
{
    tally_object *next = NULL;
    for (size_t i = 0; i < n; i++) {
        tally_object *l = tally_list_new();
        if (!l) {
            tally_xdecref(next);
            return NULL;
        }
        if (next) {
            if (tally_list_append(l, next) != 0) {
                tally_decref(l);
                tally_decref(next);
                return NULL;
            }
            tally_decref(next);
        }
        next = l;
    }
    return next;
}

/* One timed drop; returns seconds, or -1 on a build failure or a leak. */
static double one_drop(bool chain, size_t n)
{
    tally_flush();
    int64_t live0 = live_objects();
    tally_object *o = chain ? build_chain(n) : build_list(n);
    if (!o) {
        fprintf(stderr, "bench_drop: building the %s failed: %s\n", chain ? "chain" : "list",
                tally_last_error());
        return -1;
    }
    tally_flush();   /* the build's own log work is not timed */
    double t0 = now_s();
    tally_decref(o);
    tally_flush();
    double t = now_s() - t0;
    int64_t live1 = live_objects();
    if (live1 != live0) {
        fprintf(stderr, "bench_drop: %lld objects still alive after dropping the %s (before %lld, after %lld)\n",
                (long long)(live1 - live0), chain ? "chain" : "list", (long long)live0, (long long)live1);
        return -1;
    }
    return t;
}

static int run(bool chain, size_t n, int threads, int reps)
{
    pthread_t th;
    if (threads == 2) {
        idler_stop = 0;
        idler_ready = 0;
        if (pthread_create(&th, NULL, idler, NULL) != 0) {
            fprintf(stderr, "bench_drop: cannot start the second thread\n");
            return 1;
        }
        while (!tally_atomic_load_acquire(&idler_ready))
            tally_safepoint();
    }
    double t[64];
    int bad = 0;
    for (int r = 0; r < reps; r++) {
        t[r] = one_drop(chain, n);
        if (t[r] < 0)
            bad = 1;
    }
    if (threads == 2) {
        tally_atomic_store_release(&idler_stop, 1);
        TALLY_BEGIN_ALLOW_THREADS
        pthread_join(th, NULL);
        TALLY_END_ALLOW_THREADS
    }
    if (bad)
        return 1;
    qsort(t, (size_t)reps, sizeof t[0], cmp_double);
    printf("drop %s n=%zu threads=%d backend=%s median=%.4f min=%.4f max=%.4f\n", chain ? "chain" : "list",
           n, threads, tally_backend(), t[reps / 2], t[0], t[reps - 1]);
    fflush(stdout);
    return 0;
}

static long parse_num(const char *opt, const char *s, long lo, long hi)
{
    char *end;
    long v = strtol(s ? s : "", &end, 10);
    if (!s || *end || v < lo || v > hi) {
        fprintf(stderr, "bench_drop: %s %s: expected an integer in [%ld..%ld]\n", opt, s ? s : "(missing)", lo, hi);
        exit(2);
    }
    return v;
}

int main(int argc, char **argv)
{
    size_t nlist = 10000000, nchain = 1000000;
    int reps = 3;
    const char *only = NULL, *threads = "both";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--list"))
            nlist = (size_t)parse_num(a, v, 1, 100000000), i++;
        else if (!strcmp(a, "--chain"))
            nchain = (size_t)parse_num(a, v, 1, 100000000), i++;
        else if (!strcmp(a, "--reps"))
            reps = (int)parse_num(a, v, 1, 63), i++;
        else if (!strcmp(a, "--only") && v && (!strcmp(v, "list") || !strcmp(v, "chain")))
            only = v, i++;
        else if (!strcmp(a, "--threads") && v && (!strcmp(v, "1") || !strcmp(v, "2") || !strcmp(v, "both")))
            threads = v, i++;
        else {
            fprintf(stderr, "bench_drop: bad argument '%s' (accepted: --list N, --chain N, --reps R, "
                            "--only list|chain, --threads 1|2|both)\n", a);
            return 2;
        }
    }
    tally_options opt = TALLY_OPTIONS_INIT;
    if (tally_init(&opt) != 0 || tally_thread_attach() != 0) {
        fprintf(stderr, "bench_drop: tally_init: %s\n", tally_last_error());
        return 3;
    }
    tally_gc_disable();   /* the drops only: no collection of the (acyclic) structures */
    int rc = 0;
    for (int t = 1; t <= 2; t++) {
        if (strcmp(threads, "both") && atoi(threads) != t)
            continue;
        if (!only || !strcmp(only, "list"))
            rc |= run(false, nlist, t, reps);
        if (!only || !strcmp(only, "chain"))
            rc |= run(true, nchain, t, reps);
    }
    tally_thread_release();
    tally_fini();
    return rc;
}
