/* examples/threads.c - several threads sharing one list, as an embedding program does it.
 *
 * Owns: the threading rules of the public API in a runnable form: every thread that touches
 * objects attaches first and detaches when done; the main thread detaches around its blocking
 * join (TALLY_BEGIN/END_ALLOW_THREADS); long loops poll tally_safepoint().  Each worker appends
 * its own ints to a shared list; the main thread checks that none was lost and prints the time
 * and, under the gil backend, the GIL hand-over figures.  Exits 1 on any mismatch.
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime under -std=c11 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <tally/tally.h>

#define NTHREADS 4
#define PER_THREAD 50000

static tally_object *shared;

static void *worker(void *arg)
{
    long id = (long)arg;
    if (tally_thread_attach() != 0) {
        fprintf(stderr, "threads: attach failed: %s\n", tally_last_error());
        return (void *)1;
    }
    for (long i = 0; i < PER_THREAD; i++) {
        tally_object *v = tally_int_new(id * PER_THREAD + i);
        if (tally_list_append(shared, v) != 0)
            return (void *)1;
        tally_decref(v);
        if (i % 256 == 0)
            tally_safepoint(); /* lets the GIL, a stop-the-world or a merge through */
    }
    tally_thread_detach();
    return NULL;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(void)
{
    if (tally_init(NULL) != 0) {
        fprintf(stderr, "threads: tally_init failed: %s\n", tally_last_error());
        return 1;
    }
    shared = tally_list_new();
    tally_gil_reset_stats();
    double t0 = now_s();
    pthread_t th[NTHREADS];
    int failed = 0;
    for (long i = 0; i < NTHREADS; i++)
        pthread_create(&th[i], NULL, worker, (void *)i);
    TALLY_BEGIN_ALLOW_THREADS
    for (int i = 0; i < NTHREADS; i++) {
        void *r;
        pthread_join(th[i], &r);
        failed |= r != NULL;
    }
    TALLY_END_ALLOW_THREADS
    double elapsed = now_s() - t0;

    /* Every value 0 .. NTHREADS*PER_THREAD-1 must be present exactly once. */
    size_t n = tally_list_len(shared);
    char *seen = calloc(NTHREADS * PER_THREAD, 1);
    for (size_t i = 0; i < n && seen; i++) {
        tally_object *v = tally_list_get(shared, i);
        int64_t x = tally_int_value(v);
        if (x < 0 || x >= NTHREADS * PER_THREAD || seen[x]++)
            failed = 1;
        tally_decref(v);
    }
    free(seen);
    printf("backend %s: %d threads appended %zu ints (expected %d) in %.3f s\n", tally_backend(), NTHREADS, n,
           NTHREADS * PER_THREAD, elapsed);
    tally_gil_stats gs;
    if (tally_gil_get_stats(&gs) == 0)
        printf("GIL: %llu acquisitions, %llu switches, %llu drop requests\n", (unsigned long long)gs.acquisitions,
               (unsigned long long)gs.switches, (unsigned long long)gs.drop_requests);
    else
        printf("no GIL in this backend\n");
    tally_decref(shared);
    tally_fini();
    if (failed || n != (size_t)NTHREADS * PER_THREAD) {
        fprintf(stderr, "threads: lost or duplicated items\n");
        return 1;
    }
    printf("ok\n");
    return 0;
}
