/* examples/hello.c - the smallest complete Tally program.
 *
 * Owns: a tour of the public API as a user program sees it: start the runtime, build a dict of
 * lists, read it back, make a reference cycle that only the collector can free, collect it,
 * print the counts and the backend name, shut down.  Exits 1 if anything does not add up, so
 * the install test can use it as a check.
 *
 * Build against an installed Tally:
 *     cc hello.c $(pkg-config --cflags --libs tally-atomic) -o hello
 */
#include <stdio.h>
#include <tally/tally.h>

#define CHECK(cond)                                                                         \
    do {                                                                                    \
        if (!(cond)) {                                                                      \
            fprintf(stderr, "hello: check failed: %s (%s)\n", #cond, tally_last_error());   \
            return 1;                                                                       \
        }                                                                                   \
    } while (0)

int main(void)
{
    if (tally_init(NULL) != 0) {
        fprintf(stderr, "hello: tally_init failed: %s\n", tally_last_error());
        return 1;
    }
    printf("tally %s (headers %s), backend %s\n", tally_version(), TALLY_VERSION_STRING, tally_backend());

    /* A dict mapping three names to lists of squares. */
    static const char *const names[] = {"alpha", "beta", "gamma"};
    tally_object *d = tally_dict_new();
    CHECK(d != NULL);
    for (int i = 0; i < 3; i++) {
        tally_object *l = tally_list_new();
        CHECK(l != NULL);
        for (int j = 0; j < 10 * (i + 1); j++) {
            tally_object *v = tally_int_new((int64_t)j * j);
            CHECK(tally_list_append(l, v) == 0);
            tally_decref(v);
        }
        tally_object *k = tally_str_new(names[i]);
        CHECK(tally_dict_set(d, k, l) == 0); /* the dict takes its own references */
        tally_decref(k);
        tally_decref(l);
    }
    CHECK(tally_dict_len(d) == 3);

    /* Read it back: str keys compare by value, so a fresh key finds the entry. */
    for (int i = 0; i < 3; i++) {
        tally_object *k = tally_str_new(names[i]);
        tally_object *l = tally_dict_get(d, k); /* new reference */
        CHECK(l != NULL);
        int64_t sum = 0;
        size_t n = tally_list_len(l);
        for (size_t j = 0; j < n; j++) {
            tally_object *v = tally_list_get(l, j);
            sum += tally_int_value(v);
            tally_decref(v);
        }
        int64_t m = 10 * (i + 1);
        CHECK(sum == (m - 1) * m * (2 * m - 1) / 6);
        printf("  %-5s -> list of %zu squares, sum %lld\n", names[i], n, (long long)sum);
        tally_decref(l);
        tally_decref(k);
    }

    /* A cycle: a list holding a dict that holds the list.  Refcounting alone cannot free it. */
    tally_object *a = tally_list_new();
    tally_object *b = tally_dict_new();
    tally_object *back = tally_str_new("back");
    CHECK(a && b && back);
    CHECK(tally_list_append(a, b) == 0);
    CHECK(tally_dict_set(b, back, a) == 0);
    tally_object *w = tally_weakref_new(a, NULL, NULL);
    CHECK(w != NULL);
    tally_decref(back);
    tally_decref(b);
    tally_decref(a);
    tally_flush();
    tally_object *still = tally_weakref_get(w);
    CHECK(still == a); /* alive: the cycle keeps it */
    tally_decref(still);
    intptr_t collected = tally_gc_collect(2);
    printf("gc.collect(2) found %ld unreachable objects\n", (long)collected);
    CHECK(collected >= 2);
    CHECK(tally_weakref_get(w) == NULL); /* the cycle is gone */
    tally_decref(w);

    tally_decref(d);
    tally_flush();
    tally_alloc_stats st;
    tally_get_alloc_stats(&st);
    printf("objects: %llu allocated, %llu freed, %llu live (cached ints, None, pending frees)\n",
           (unsigned long long)st.allocated, (unsigned long long)st.freed, (unsigned long long)st.live);
    tally_gc_stats gs;
    CHECK(tally_gc_get_stats(2, &gs) == 0);
    printf("generation 2: %llu collections, %llu collected\n", (unsigned long long)gs.collections,
           (unsigned long long)gs.collected);
    tally_fini();
    printf("ok\n");
    return 0;
}
