/* stress/workloads/readmostly.c - many readers of shared lists and dicts, one writer.
 *
 * Owns: the read-mostly sharing pattern.  A list and a dict (int keys 0..n-1) hold the same n
 * stress.obj; item i carries payload i | version << 32.  Thread 0 is the writer: it replaces
 * random items with new versions (list set, then dict set, then drops its own reference).
 * The other threads read random items from either container (a new reference each time),
 * check the canary and that the payload belongs to index i (content_violations otherwise), and
 * drop it.  Readers race the writer's replacement of the item they read: container locks,
 * lock-free reads with try-incref and QSBR-delayed frees (free-threaded backends) are what keep
 * that safe.  At the end every item must be counted exactly twice (list + dict) and be the
 * same object in both containers.
 *
 * Two roles, so two figures: --threads N runs 1 writer and N-1 readers (N >= 2, checked by
 * the option parser), and besides the run's "ops" (reads + writes) the JSON reports each role
 * apart: readmostly_readers / _writers, readmostly_reads / _writes, their rates per second
 * (readmostly_reads_per_s, readmostly_writes_per_s) and readmostly_reads_per_s_per_reader.
 * Only the reads scale with the thread count; the writer's rate shows what the readers cost it.
 */
#include "harness.h"

#include <assert.h>
#include <stdlib.h>

typedef struct readmostly {
    tally_object *list, *dict;
    size_t n;
    uint64_t writes, reads;
} readmostly;

static void writer(stress_thread *th, readmostly *s)
{
    uint64_t version = 1;
    while (!stress_done(th)) {
        size_t i = (size_t)stress_rand_below(&th->rng, s->n);
        hobj *h = hobj_new((uint64_t)i | (version++ << 32));
        tally_object *key = tally_int_new((int64_t)i);
        stress_chaos(th);
        tally_list_set(s->list, i, &h->ob_base);      /* publishes; drops the old item */
        stress_chaos(th);
        tally_dict_set(s->dict, key, &h->ob_base);
        tally_decref(key);
        hobj_decref(h);
        stress_op(th, 1);
        tally_atomic_fetch_add_relaxed(&s->writes, 1);
        if ((version & 15) == 0)
            tally_safepoint();
    }
}

static void reader(stress_thread *th, readmostly *s)
{
    uint64_t reads = 0;
    while (!stress_done(th)) {
        size_t i = (size_t)stress_rand_below(&th->rng, s->n);
        tally_object *o;
        if (stress_rand(&th->rng) & 1) {
            o = tally_list_get(s->list, i);
        } else {
            tally_object *key = tally_int_new((int64_t)i);
            o = tally_dict_get(s->dict, key);
            tally_decref(key);
        }
        if (!o || !hobj_is(o)) {
            stress_violation_add(SV_CONTENT, 1);
            tally_xdecref(o);
        } else {
            hobj *h = (hobj *)o;
            hobj_adopt(h);
            if (hobj_check(h) && (h->payload & 0xffffffffu) != i)
                stress_violation_add(SV_CONTENT, 1);
            stress_chaos(th);
            hobj_decref(h);
        }
        reads++;
        stress_op(th, 1);
        if ((reads & 63) == 0)
            tally_safepoint();
    }
    tally_atomic_fetch_add_relaxed(&s->reads, reads);
}

static void readmostly_thread(stress_thread *th)
{
    readmostly *s = th->arg;
    if (th->index == 0)
        writer(th, s);
    else
        reader(th, s);
}

int stress_wl_readmostly(stress_run *r)
{
    const stress_config *c = r->cfg;
    readmostly s = { 0 };
    s.n = c->objects ? c->objects : 64;
    s.list = tally_list_new();
    s.dict = tally_dict_new();
    for (size_t i = 0; i < s.n; i++) {
        hobj *h = hobj_new(i);
        tally_object *key = tally_int_new((int64_t)i);
        tally_list_append(s.list, &h->ob_base);
        tally_dict_set(s.dict, key, &h->ob_base);
        tally_decref(key);
        hobj_decref(h);
    }
    /* stress_options_parse refuses fewer than stress_workload_min_threads("readmostly") */
    assert(c->threads >= 2);
    unsigned n = (unsigned)c->threads;
    r->phase = "readmostly";
    uint64_t t0 = stress_now_ns();
    int rc = stress_run_threads(r, n, readmostly_thread, &s, c->ops_set ? c->ops : 0);
    double secs = (double)(stress_now_ns() - t0) / 1e9;
    /* quiescent: exact counts, same object in both containers */
    tally_flush();
    for (size_t i = 0; i < s.n; i++) {
        tally_object *a = tally_list_get(s.list, i);
        tally_object *key = tally_int_new((int64_t)i);
        tally_object *b = tally_dict_get(s.dict, key);
        tally_decref(key);
        if (!a || a != b || !hobj_is(a)) {
            stress_violation_add(SV_CONTENT, 1);
        } else {
            tally_flush();
            if (tally_refcount(a) != 4)   /* list, dict, a, b */
                stress_violation_add(SV_REFCOUNT, 1);
        }
        tally_xdecref(a);
        tally_xdecref(b);
    }
    tally_decref(s.list);
    tally_decref(s.dict);
    stress_figure_set(r, "readmostly_items", (double)s.n, true);
    stress_figure_set(r, "readmostly_writers", 1, true);
    stress_figure_set(r, "readmostly_readers", n - 1, true);
    stress_figure_set(r, "readmostly_writes", (double)s.writes, true);
    stress_figure_set(r, "readmostly_reads", (double)s.reads, true);
    stress_figure_set(r, "readmostly_writes_per_s", secs > 0 ? (double)s.writes / secs : 0, false);
    stress_figure_set(r, "readmostly_reads_per_s", secs > 0 ? (double)s.reads / secs : 0, false);
    stress_figure_set(r, "readmostly_reads_per_s_per_reader", secs > 0 ? (double)s.reads / secs / (n - 1) : 0,
                      false);
    return rc;
}
