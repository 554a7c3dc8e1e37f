/* stress/workloads/cycles.c - threads build and drop cyclic garbage while collections run.
 *
 * Owns: the collector under concurrent mutation.  Each thread builds rings of 2..17 stress.obj
 * (slot 0 -> next, the last back to the first), self-referencing lists and dicts that hold
 * themselves, and drops them: only the collector can free those.  It keeps up to 8 rings
 * alive for a while and walks them (canary, payload and ring length must be intact: a live
 * ring freed or cleared by a collection is a violation), and now and then asks for a
 * collection of a random generation itself; automatic collections follow the threshold
 * (--gc-threshold).  At the end every object must be gone after one full collection.
 */
#include "harness.h"

#define KEEP 8

typedef struct ring {
    hobj *head;
    unsigned len;
    uint64_t tag;
} ring;

static ring build_ring(stress_thread *th, uint64_t tag)
{
    unsigned len = 2 + (unsigned)stress_rand_below(&th->rng, 16);
    hobj *first = hobj_new(tag << 8);
    hobj *prev = first;
    for (unsigned i = 1; i < len; i++) {
        hobj *h = hobj_new((tag << 8) | i);
        /* prev.slot[0] takes over our reference to h: the model drops it (held -1) */
        tally_atomic_fetch_sub_relaxed(&h->held, 1);
        tally_xdecref(hobj_slot_exchange(prev, 0, &h->ob_base));
        prev = h;
    }
    tally_incref(&first->ob_base);      /* the ring's own reference to its head */
    tally_xdecref(hobj_slot_exchange(prev, 0, &first->ob_base));
    stress_chaos(th);
    return (ring){ first, len, tag };
}

static void walk_ring(ring *rg)
{
    hobj *h = rg->head;
    for (unsigned i = 0; i < rg->len; i++) {
        if (!hobj_check(h))
            return;
        if (h->payload != ((rg->tag << 8) | i)) {
            stress_violation_add(SV_CONTENT, 1);
            return;
        }
        tally_object *next = hobj_slot_load(h, 0);
        if (!next || !hobj_is(next)) {
            stress_violation_add(SV_CONTENT, 1);
            return;
        }
        h = (hobj *)next;
    }
    if (h != rg->head)
        stress_violation_add(SV_CONTENT, 1);
}

static void cycles_thread(stress_thread *th)
{
    ring keep[KEEP] = { 0 };
    uint64_t tag = (uint64_t)th->index << 32;
    uint64_t n = 0;
    while (!stress_done(th)) {
        ring rg = build_ring(th, tag++);
        unsigned k = (unsigned)stress_rand_below(&th->rng, KEEP);
        if (keep[k].head) {
            walk_ring(&keep[k]);
            hobj_decref(keep[k].head);   /* the ring becomes cyclic garbage */
        }
        keep[k] = rg;
        /* built-in cycles: a list that contains itself, a dict that maps to itself */
        tally_object *l = tally_list_new();
        tally_list_append(l, l);
        tally_object *d = tally_dict_new();
        tally_object *key = tally_str_new("self");
        tally_dict_set(d, key, d);
        tally_list_append(l, d);
        tally_decref(key);
        tally_decref(d);
        stress_chaos(th);
        tally_decref(l);
        for (unsigned i = 0; i < KEEP; i++)
            if (keep[i].head && (stress_rand(&th->rng) & 3) == 0)
                walk_ring(&keep[i]);
        n++;
        stress_op(th, rg.len + 3);
        if ((n & 255) == 0)
            tally_gc_collect((int)stress_rand_below(&th->rng, 3));
        tally_safepoint();
    }
    for (unsigned i = 0; i < KEEP; i++) {
        if (keep[i].head) {
            walk_ring(&keep[i]);
            hobj_decref(keep[i].head);
        }
    }
}

int stress_wl_cycles(stress_run *r)
{
    r->phase = "cycles";
    return stress_run_threads(r, (unsigned)r->cfg->threads, cycles_thread, NULL,
                              r->cfg->ops_set ? r->cfg->ops : 0);
}
