/* tests/tsan_user/user_program.c - a correct user program, run under ThreadSanitizer.
 *
 * Owns: the promise that a user's correct program linked to a TSan build of a Tally library gets
 * no report with only the installed suppressions (share/tally/tsan.supp, liburcu's own code).
 * Four threads attach, share one list (appends, reads, pops), make and drop cycles, flush and
 * collect, and exit; the main thread then finalises the runtime.  Built by
 * tests/tsan_user/run.sh against each backend's library, as an outside program.
 */
#include <tally/tally.h>

#include <pthread.h>
#include <stdio.h>

#define THREADS 4
#define ROUNDS 2000

static tally_object *shared;

static void *worker(void *arg)
{
    (void)arg;
    if (tally_thread_attach() != 0)
        return (void *)1;
    for (int i = 0; i < ROUNDS; i++) {
        tally_object *item = tally_int_new(100000 + i);
        if (!item || tally_list_append(shared, item) != 0)
            return (void *)2;
        tally_decref(item);
        tally_object *got = tally_list_get(shared, (size_t)i / 2);
        tally_xdecref(got);
        if (i % 3 == 0)
            tally_xdecref(tally_list_pop(shared));
        tally_object *a = tally_list_new(), *b = tally_list_new();   /* a garbage cycle */
        if (!a || !b || tally_list_append(a, b) != 0 || tally_list_append(b, a) != 0)
            return (void *)3;
        tally_decref(a);
        tally_decref(b);
        if (i % 500 == 0) {
            tally_flush();
            if (tally_gc_collect(0) < 0)
                return (void *)4;
        }
        tally_safepoint();
    }
    tally_thread_release();
    return NULL;
}

int main(void)
{
    if (tally_init(NULL) != 0) {
        fprintf(stderr, "tally_init: %s\n", tally_last_error());
        return 1;
    }
    shared = tally_list_new();
    pthread_t t[THREADS];
    TALLY_BEGIN_ALLOW_THREADS
    for (int i = 0; i < THREADS; i++)
        pthread_create(&t[i], NULL, worker, NULL);
    for (int i = 0; i < THREADS; i++) {
        void *r = NULL;
        pthread_join(t[i], &r);
        if (r)
            return 10 + (int)(intptr_t)r;
    }
    TALLY_END_ALLOW_THREADS
    tally_decref(shared);
    tally_gc_collect(2);
    tally_fini();
    printf("user program: %s, %d threads, no report expected\n", tally_backend(), THREADS);
    return 0;
}
