/* stress/workloads/forkcow.c - copy-on-write cost of refcounting and collection after fork().
 *
 * Owns: the Instagram/CPython measurement (bpo-40255, gc.freeze()).  The parent builds a heap
 * of `objects` stress.obj (default 200000) in a list, chained through slot 0, with a string
 * in slot 1 of every fourth, then forks --threads children at a time, in three variants:
 *   plain     the children read every object (list get: a reference taken and dropped) and
 *             run a full collection: counts and collector words are written, pages copied;
 *   frozen    tally_gc_freeze() before the fork: the collection skips the heap (no gc_refs
 *             writes), the reads still write counts;
 *   immortal  frozen and every heap object made immortal: reads write nothing either.
 * Each child runs the full collection first, then the read pass, and reports the growth of
 * its Private_Dirty (smaps_rollup) and its minor faults after each, through a pipe (the read
 * pass only pays for the pages the collection left clean).  plain and frozen repeat
 * until the time is up (medians reported); immortal runs last (its objects stay immortal, the
 * run expects them alive).  Parent single-threaded; children _exit() without tally_fini().
 */
#include "harness.h"

#include <errno.h>

#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct cow_result {
    long read_dirty_kb, gc_dirty_kb;
    long read_minflt, gc_minflt;
    uint64_t read_ns, gc_ns;
    int ok;
} cow_result;

static long minflt(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_minflt;
}

static void child(tally_object *list, int fd)
{
    cow_result res = { 0 };
    /* the collection first (the measurement the variants differ in), then the read pass */
    long d0 = stress_private_dirty_kb(), f0 = minflt();
    uint64_t t0 = stress_now_ns();
    tally_gc_collect(2);
    uint64_t t1 = stress_now_ns();
    long d1 = stress_private_dirty_kb(), f1 = minflt();
    size_t n = tally_list_len(list);
    uint64_t sum = 0;
    for (size_t i = 0; i < n; i++) {
        tally_object *o = tally_list_get(list, i);
        if (o) {
            sum += ((hobj *)o)->payload;
            tally_decref(o);
        }
    }
    uint64_t t2 = stress_now_ns();
    long d2 = stress_private_dirty_kb(), f2 = minflt();
    res.gc_dirty_kb = d1 - d0;
    res.read_dirty_kb = d2 - d1;
    res.gc_minflt = f1 - f0;
    res.read_minflt = f2 - f1;
    res.gc_ns = t1 - t0;
    res.read_ns = t2 - t1;
    res.ok = d0 >= 0 && sum != 1;
    ssize_t w = write(fd, &res, sizeof res);
    _exit(w == (ssize_t)sizeof res ? 0 : 1);
}

/* Fork k children at once; append their results. */
static int fork_round(tally_object *list, unsigned k, cow_result *out, size_t *nout)
{
    int fds[64][2];
    pid_t pids[64];
    if (k > 64)
        k = 64;
    fflush(NULL);
    unsigned started = 0;
    for (; started < k; started++) {
        if (pipe(fds[started]) != 0)
            break;
        pid_t p = fork();
        if (p == 0) {
            close(fds[started][0]);
            child(list, fds[started][1]);
        }
        close(fds[started][1]);
        if (p < 0) {
            close(fds[started][0]);
            break;
        }
        pids[started] = p;
    }
    int bad = 0;
    TALLY_BEGIN_ALLOW_THREADS
    for (unsigned i = 0; i < started; i++) {
        /* SIGINT/SIGTERM (the run's stop request, no SA_RESTART) interrupts these waits: retry,
         * the children finish their round and the run stops after it */
        cow_result res;
        ssize_t got = 0;
        while (got < (ssize_t)sizeof res) {
            ssize_t n = read(fds[i][0], (char *)&res + got, sizeof res - (size_t)got);
            if (n > 0)
                got += n;
            else if (n == 0 || errno != EINTR)
                break;
        }
        close(fds[i][0]);
        int st = 0;
        while (waitpid(pids[i], &st, 0) < 0 && errno == EINTR)
            ;
        if (got == (ssize_t)sizeof res && res.ok && WIFEXITED(st) && WEXITSTATUS(st) == 0)
            out[(*nout)++] = res;
        else
            bad++;
    }
    TALLY_END_ALLOW_THREADS
    return started == k && !bad ? 0 : -1;
}

static int cmp_long(const void *a, const void *b)
{
    long x = *(const long *)a, y = *(const long *)b;
    return (x > y) - (x < y);
}

static double median_of(const cow_result *r, size_t n, size_t off)
{
    if (!n)
        return 0;
    long *v = malloc(n * sizeof *v);
    if (!v)
        return 0;
    for (size_t i = 0; i < n; i++)
        v[i] = *(const long *)((const char *)&r[i] + off);
    qsort(v, n, sizeof *v, cmp_long);
    double m = n % 2 ? (double)v[n / 2] : ((double)v[n / 2 - 1] + (double)v[n / 2]) / 2;
    free(v);
    return m;
}

static void report(stress_run *r, const char *variant, const cow_result *res, size_t n)
{
    static char keys[3][6][48];
    int vi = strcmp(variant, "plain") == 0 ? 0 : strcmp(variant, "frozen") == 0 ? 1 : 2;
    const char *names[6] = { "children", "read_dirty_kb", "gc_dirty_kb", "read_minflt",
                             "gc_minflt", "pages_copied" };
    for (int i = 0; i < 6; i++)
        snprintf(keys[vi][i], sizeof keys[vi][i], "forkcow_%s_%s", variant, names[i]);
    double rd = median_of(res, n, offsetof(cow_result, read_dirty_kb));
    double gd = median_of(res, n, offsetof(cow_result, gc_dirty_kb));
    stress_figure_set(r, keys[vi][0], (double)n, true);
    stress_figure_set(r, keys[vi][1], rd, false);
    stress_figure_set(r, keys[vi][2], gd, false);
    stress_figure_set(r, keys[vi][3], median_of(res, n, offsetof(cow_result, read_minflt)), false);
    stress_figure_set(r, keys[vi][4], median_of(res, n, offsetof(cow_result, gc_minflt)), false);
    stress_figure_set(r, keys[vi][5], (rd + gd) * 1024.0 / (double)sysconf(_SC_PAGESIZE), false);
}

int stress_wl_forkcow(stress_run *r)
{
    const stress_config *c = r->cfg;
    size_t n = c->objects ? c->objects : 200000;
    unsigned k = (unsigned)(c->threads > 64 ? 64 : c->threads);
    r->phase = "forkcow";
    r->nthreads = k;

    tally_object *list = tally_list_new();
    tally_object *str = tally_str_new("forkcow");
    hobj *prev = NULL;
    for (size_t i = 0; i < n; i++) {
        hobj *h = hobj_new(i);
        if ((i & 3) == 0) {
            tally_incref(str);
            tally_xdecref(hobj_slot_exchange(h, 1, str));
        }
        if (prev) {
            tally_incref(&h->ob_base);
            tally_xdecref(hobj_slot_exchange(prev, 0, &h->ob_base));
        }
        tally_list_append(list, &h->ob_base);
        prev = h;
        hobj_decref(h);   /* held by the list (and the chain) only */
    }
    tally_decref(str);
    tally_gc_collect(2);   /* settle the heap in the old generation */
    stress_figure_set(r, "forkcow_heap_objects", (double)n, true);
    stress_figure_set(r, "forkcow_parent_private_dirty_kb", (double)stress_private_dirty_kb(), true);

    size_t cap = 4096;
    cow_result *plain = calloc(cap, sizeof *plain), *frozen = calloc(cap, sizeof *frozen);
    cow_result *imm = calloc(64, sizeof *imm);
    size_t np = 0, nf = 0, ni = 0;
    int rc = 0;
    if (!plain || !frozen || !imm)
        rc = -1;
    for (unsigned round = 0; !rc; round++) {
        if (round > 0 && (stress_stopping(r) || (r->deadline_ns && stress_now_ns() >= r->deadline_ns) ||
                          (c->ops_set && r->ops_total >= c->ops)))
            break;
        if (np + k > cap || nf + k > cap)
            break;
        if (fork_round(list, k, plain, &np) != 0)
            rc = -1;
        tally_gc_freeze();
        if (fork_round(list, k, frozen, &nf) != 0)
            rc = -1;
        tally_gc_unfreeze();
        r->ops_total += 2ull * k * n;
        if (stress_sigint_seen) {
            r->interrupted = 1;
            break;
        }
    }
    /* immortal: freeze, make every heap object immortal (they stay alive: expected) */
    if (!rc) {
        tally_gc_freeze();
        uint64_t made = 0;
        for (size_t i = 0; i < n; i++) {
            tally_object *o = tally_list_get(list, i);
            tally_set_immortal(o);
            made++;
        }
        tally_set_immortal(list);
        /* the string reached from the heap becomes immortal with it */
        tally_object *s0 = hobj_slot_load((hobj *)tally_list_get(list, 0), 1);
        if (s0 && !tally_is_immortal(s0)) {
            tally_set_immortal(s0);
            r->expected_live += 1;
        }
        r->expected_live += made + 1;
        r->expected_hobj_live += made;
        if (fork_round(list, k, imm, &ni) != 0)
            rc = -1;
        tally_gc_unfreeze();
        r->ops_total += (uint64_t)k * n;
    } else {
        tally_decref(list);
    }
    report(r, "plain", plain, np);
    report(r, "frozen", frozen, nf);
    report(r, "immortal", imm, ni);
    free(plain), free(frozen), free(imm);
    if (rc)
        fprintf(stderr, "tally stress: forkcow: a child failed or could not be started\n");
    return rc;
}
