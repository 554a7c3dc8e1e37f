/* stress/workloads/private.c - each thread allocates, links, counts and frees its own objects.
 *
 * Owns: the uncontended baseline.  Per batch a thread creates `objects` stress.obj linked in
 * a chain (slot 0 -> next), a list holding all of them, and some ints and strings; takes and
 * drops extra references; checks every count exactly (its own objects: nobody else touches
 * them); then drops everything and checks in the registry that every object of the batch was
 * destroyed (after tally_flush, without touching their memory).  Nothing is shared, so every
 * backend, racy included, must be clean; the figures show the cost of uncontended counting
 * and allocation (atomic instructions, deferred logs, biased owner paths).
 */
#include "harness.h"

#include <stdlib.h>
#include <string.h>

static void private_thread(stress_thread *th)
{
    size_t n = th->run->cfg->objects ? th->run->cfg->objects : 256;
    hobj **objs = calloc(n, sizeof *objs);
    uint64_t *ids = calloc(n, sizeof *ids);
    if (!objs || !ids) {
        free(objs), free(ids);
        return;
    }
    uint64_t batch = 0;
    const bool defers_deaths = strcmp(tally_backend(), "deferred") == 0;
    while (!stress_done(th)) {
        tally_object *list = tally_list_new();
        for (size_t i = 0; i < n; i++) {
            objs[i] = hobj_new(((uint64_t)th->index << 48) | i);
            ids[i] = objs[i]->id;
            tally_list_append(list, &objs[i]->ob_base);
            if (i) {   /* chain: objs[i-1].slot[0] owns a reference to objs[i] */
                tally_incref(&objs[i]->ob_base);
                tally_xdecref(hobj_slot_exchange(objs[i - 1], 0, &objs[i]->ob_base));
            }
            if ((i & 7) == 0) {   /* a str in slot 1, an int in slot 2 */
                tally_xdecref(hobj_slot_exchange(objs[i], 1, tally_str_new("private")));
                tally_xdecref(hobj_slot_exchange(objs[i], 2,
                                                 tally_int_new((int64_t)(100000 + batch + i))));
            }
        }
        /* extra references, taken and dropped */
        for (int rep = 0; rep < 4; rep++) {
            for (size_t i = 0; i < n; i++)
                hobj_incref(objs[i]);
            for (size_t i = 0; i < n; i++)
                hobj_decref(objs[i]);
        }
        tally_flush();
        /* exact counts: ours + the list's + the chain's (all but the first) */
        for (size_t i = 0; i < n; i++) {
            if (!hobj_check(objs[i]))
                continue;
            intptr_t want = 2 + (i ? 1 : 0);
            if (tally_refcount(&objs[i]->ob_base) != want)
                stress_violation_add(SV_REFCOUNT, 1);
            tally_object *got = tally_list_get(list, i);
            if (got != &objs[i]->ob_base)
                stress_violation_add(SV_CONTENT, 1);
            tally_xdecref(got);
        }
        /* drop: the list, then our references (the head's frees the whole chain) */
        tally_decref(list);
        for (size_t i = n; i-- > 0;)
            hobj_decref(objs[i]);
        tally_flush();
        /* Prompt deaths: after this thread's flush every object of the batch is gone.  Not for
         * `deferred` while other threads are attached: there a flush settles the epochs it
         * waited for, but deaths found by another thread's reconciliation step can still be
         * released after it returns (docs/backend-deferred.md, "flush").  Those objects are
         * still checked: the end of the run requires every object destroyed exactly once. */
        if (!defers_deaths || th->run->cfg->threads == 1) {
            for (size_t i = 0; i < n; i++) {
                int st = hobj_state(ids[i]);
                if (st == HREG_ALIVE)
                    stress_violation_add(SV_LEAK, 1);
            }
        }
        stress_op(th, n);
        batch++;
        tally_safepoint();
    }
    free(objs);
    free(ids);
}

int stress_wl_private(stress_run *r)
{
    r->phase = "private";
    return stress_run_threads(r, (unsigned)r->cfg->threads, private_thread, NULL,
                              r->cfg->ops_set ? r->cfg->ops : 0);
}
