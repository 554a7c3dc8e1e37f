/* stress/micro/bench_rss.c - how much of its memory a process gets back after a large release
 * (issue 13: RSS after freeing 50M small objects and collecting must fall to at most 1.2x the RSS
 * before they were allocated).
 *
 * Owns: bench_rss_<backend>, a program on the public API.  It warms up (builds, frees and collects
 * a small heap, so the code paths and the runtime's own structures are resident), reads its RSS
 * (`before`), builds N small objects (ints, held 1,000 to a list, the lists held by one list per
 * thread), reads RSS (`built`), drops every list from the main thread, runs tally_gc_collect(2)
 * and reads RSS at once (`after`), waits until every object of the build is freed (`all_freed_ms`
 * after the collection: biased owners free what other threads released when they merge), and
 * reads it again after 100 ms more in which every attached thread passes safepoints
 * (`settled`).  With --threads 2 a second attached thread builds half of the objects
 * and hands them over, then idles in tally_safepoint() until the end, so the blocks the main
 * thread frees belong to another thread's heap.  The program checks that every object was freed
 * (the runtime's live count is back to its value before the build) and exits 1 if not.
 *
 * usage: bench_rss_<backend> [--objects N] [--threads 1|2] [--json]
 * Output: one line "rss objects=N threads=T backend=B before_mib=.. built_mib=.. after_mib=..
 * settled_mib=.. ratio=settled/before", or with --json one JSON object with the same fields.
 */
#define _GNU_SOURCE
#include <tally/tally.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PER_LIST 1000

static double rss_mib(void)
{
    long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f)
        return -1;
    if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
        resident = -1;
    fclose(f);
    return resident < 0 ? -1 : (double)resident * (double)sysconf(_SC_PAGESIZE) / 1048576.0;
}

static int64_t live_objects(void)
{
    tally_alloc_stats st;
    tally_get_alloc_stats(&st);
    return (int64_t)st.live;
}

/* A list of n/PER_LIST lists of PER_LIST ints each (ints past any small-int cache). */
static tally_object *build(size_t n, int64_t base)
{
    tally_object *outer = tally_list_new();
    for (size_t done = 0; outer && done < n;) {
        tally_object *l = tally_list_new();
        if (!l)
            goto fail;
        for (size_t j = 0; j < PER_LIST && done < n; j++, done++) {
            tally_object *v = tally_int_new(base + (int64_t)done);
            if (!v || tally_list_append(l, v) != 0) {
                tally_xdecref(v);
                tally_decref(l);
                goto fail;
            }
            tally_decref(v);
        }
        int rc = tally_list_append(outer, l);
        tally_decref(l);
        if (rc != 0)
            goto fail;
    }
    return outer;
fail:
    tally_xdecref(outer);
    return NULL;
}

/* ---- the second thread ------------------------------------------------------------------- */
static size_t other_n;
/* A safepoint, then 1 ms asleep detached. */
static void safepoint_nap(void)
{
    tally_safepoint();
    TALLY_BEGIN_ALLOW_THREADS
    usleep(1000);
    TALLY_END_ALLOW_THREADS
}

static tally_object *other_heap;   /* published with a release store, read with acquire */
static int other_done, other_stop;

static void *other_main(void *arg)
{
    (void)arg;
    if (tally_thread_attach() != 0)
        return NULL;
    tally_object *h = build(other_n, 1000000000);
    tally_atomic_store_release(&other_heap, h);
    tally_atomic_store_release(&other_done, 1);
    while (!tally_atomic_load_acquire(&other_stop))
        tally_safepoint();
    tally_thread_release();
    return NULL;
}

static int usage(const char *bad)
{
    fprintf(stderr, "bench_rss: invalid argument '%s' (accepted: --objects N (1000..1000000000), "
                    "--threads 1|2, --json)\n", bad);
    return 2;
}

int main(int argc, char **argv)
{
    size_t n = 50000000;
    int threads = 1;
    bool json = false;
    for (int i = 1; i < argc; i++) {
        char *end = NULL;
        if (strcmp(argv[i], "--objects") == 0 && i + 1 < argc) {
            unsigned long long v = strtoull(argv[++i], &end, 10);
            if (!*argv[i] || *end || v < 1000 || v > 1000000000ULL)
                return usage(argv[i]);
            n = (size_t)v;
        } else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
            i++;
            if (strcmp(argv[i], "1") != 0 && strcmp(argv[i], "2") != 0)
                return usage(argv[i]);
            threads = argv[i][0] - '0';
        } else if (strcmp(argv[i], "--json") == 0) {
            json = true;
        } else {
            return usage(argv[i]);
        }
    }
    if (tally_init(NULL) != 0) {
        fprintf(stderr, "bench_rss: tally_init failed: %s\n", tally_last_error());
        return 3;
    }
    /* Warm-up: the paths and structures a build, a drop and a collection touch. */
    tally_object *warm = build(100000, 7000000);
    tally_xdecref(warm);
    tally_flush();
    tally_gc_collect(2);
    tally_flush();

    int64_t live0 = live_objects();
    double before = rss_mib();
    pthread_t th;
    size_t mine = threads == 2 ? n / 2 : n;
    if (threads == 2) {
        other_n = n - mine;
        if (pthread_create(&th, NULL, other_main, NULL) != 0) {
            fprintf(stderr, "bench_rss: cannot start the second thread\n");
            return 3;
        }
    }
    tally_object *heap = build(mine, 2000000000);
    tally_object *theirs = NULL;
    if (threads == 2) {
        TALLY_BEGIN_ALLOW_THREADS
        while (!tally_atomic_load_acquire(&other_done))
            usleep(1000);
        TALLY_END_ALLOW_THREADS
        theirs = tally_atomic_load_acquire(&other_heap);
    }
    if (!heap || (threads == 2 && !theirs)) {
        fprintf(stderr, "bench_rss: building %zu objects failed: %s\n", n, tally_last_error());
        return 3;
    }
    double built = rss_mib();
    tally_decref(heap);
    tally_xdecref(theirs);
    tally_flush();
    tally_gc_collect(2);
    double after = rss_mib();
    /* The release may still be dying after the collection returns: on biased the second thread
     * frees its half when it merges its queue, at its own pace.  Wait (passing safepoints, at
     * most 10 s) until every object of the build is freed, then 100 ms more. */
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < 10000 && live_objects() != live0; i++)
        safepoint_nap();
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double freed_ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    for (int i = 0; i < 100; i++)   /* 100 ms of safepoints on every thread */
        safepoint_nap();
    double settled = rss_mib();
    int64_t live_settled = live_objects() - live0;   /* objects of the build not freed yet */
    tally_flush();
    int64_t live1 = live_objects();
    if (threads == 2) {
        tally_atomic_store_release(&other_stop, 1);
        TALLY_BEGIN_ALLOW_THREADS
        pthread_join(th, NULL);
        TALLY_END_ALLOW_THREADS
    }
    const char *backend = tally_backend();
    if (json)
        printf("{\"objects\": %zu, \"threads\": %d, \"backend\": \"%s\", \"before_mib\": %.2f, \"built_mib\": %.2f, "
               "\"after_mib\": %.2f, \"all_freed_ms\": %.1f, \"settled_mib\": %.2f, \"ratio\": %.4f, \"unfreed_at_settled\": %lld, "
               "\"leaked\": %lld}\n",
               n, threads, backend, before, built, after, freed_ms, settled, settled / before, (long long)live_settled,
               (long long)(live1 - live0));
    else
        printf("rss objects=%zu threads=%d backend=%s before_mib=%.2f built_mib=%.2f after_mib=%.2f all_freed_ms=%.1f "
               "settled_mib=%.2f ratio=%.3f unfreed_at_settled=%lld\n", n, threads, backend, before, built, after, freed_ms, settled,
               settled / before, (long long)live_settled);
    tally_fini();
    if (live1 != live0) {
        fprintf(stderr, "bench_rss: %lld objects still alive after the drop and the collection\n",
                (long long)(live1 - live0));
        return 1;
    }
    return 0;
}
