/* stress/workloads/graph.c - threads mutate one shared object graph; a model checks it.
 *
 * Owns: the end-to-end oracle.  The graph: R root slots (harness references) and nodes
 * (stress.obj, 4 edge slots each).  Threads at random: put a new node in a root, link a node
 * reached from a root to another such node, unlink an edge, or walk edges from a root.  Every
 * mutation of a root or of a node's slots happens under a striped harness lock together with
 * the same change to the model (model roots, model edges by node index), so the model is
 * always the true graph.  Periodically, and at the end, all threads park at a barrier and
 * thread 0, after tally_flush() and a full collection, checks both directions:
 *   every node reachable in the model is alive, its slots hold exactly the model's edges and
 *   its count equals its in-degree in the model (roots + edges; no reference is in flight);
 *   every node unreachable in the model is gone (registry says freed), cycles included.
 * Lock order: at most one harness lock at a time; a reference is taken under the lock that
 * protects the slot it was read from, so the slot cannot drop it meanwhile.
 */
#include "harness.h"

#include <stdlib.h>
#include <string.h>

#define NSTRIPE 64
#define MAX_NODES (1u << 22)
#define CHUNK (1u << 14)

typedef struct mnode {
    uint32_t edge[HOBJ_SLOTS];   /* model: node index + 1 of each edge, 0 = none */
    uint64_t hid;                /* stress.obj id, for the registry */
    hobj *obj;                   /* valid while the node is reachable in the model */
    uint8_t checked_dead;
} mnode;

typedef struct graph {
    unsigned nroots;
    hobj **roots;
    uint32_t *mroot;             /* model: node index + 1 per root, 0 = empty */
    pthread_mutex_t root_lock[NSTRIPE], node_lock[NSTRIPE];
    mnode *chunks[MAX_NODES / CHUNK];
    uint32_t next_node;          /* atomic: nodes created */
    uint32_t live_from;          /* nodes below this were all found dead */
    stress_barrier bar;
    int check_req;               /* atomic: park for a check */
    unsigned quota_done;         /* atomic (relaxed): threads whose --ops share is done; thread 0
                                  * reads it between the check barriers, which order every
                                  * increment made before a thread's barrier wait */
    int go;                      /* written by thread 0 between barriers */
    uint64_t next_check_ns;
    uint64_t checks, checked_alive, checked_dead;
    uint8_t *mark;               /* reachability scratch (thread 0, world parked) */
    size_t mark_cap;
} graph;

static mnode *mn(graph *g, uint32_t idx)
{
    return &g->chunks[idx / CHUNK][idx % CHUNK];
}

/* New node (model entry + object); NULL when the model is full. */
static hobj *new_node(graph *g)
{
    uint32_t idx = tally_atomic_fetch_add_relaxed(&g->next_node, 1);
    if (idx >= MAX_NODES)
        return NULL;
    /* chunks are allocated by thread 0 ahead of use (see prepare_chunks) */
    mnode *m = mn(g, idx);
    hobj *h = hobj_new(idx);
    m->hid = h->id;
    m->obj = h;
    return h;
}

static hobj *take_root(graph *g, unsigned r)
{
    pthread_mutex_lock(&g->root_lock[r % NSTRIPE]);
    hobj *h = g->roots[r];
    if (h)
        hobj_incref(h);
    pthread_mutex_unlock(&g->root_lock[r % NSTRIPE]);
    return h;
}

/* Take a reference to the target of edge k of a (which the caller holds). */
static hobj *take_edge(graph *g, hobj *a, int k)
{
    uint32_t idx = (uint32_t)a->payload;
    pthread_mutex_lock(&g->node_lock[idx % NSTRIPE]);
    tally_object *o = hobj_slot_load(a, k);
    uint32_t want = mn(g, idx)->edge[k];
    hobj *c = NULL;
    if ((o ? (uint32_t)((hobj *)o)->payload + 1 : 0) != want)
        stress_violation_add(SV_CONTENT, 1);
    if (o && hobj_is(o)) {
        c = (hobj *)o;
        hobj_incref(c);
    }
    pthread_mutex_unlock(&g->node_lock[idx % NSTRIPE]);
    return c;
}

/* A node reached from a random root by a short random walk (a reference), or NULL. */
static hobj *pick(stress_thread *th, graph *g)
{
    hobj *h = take_root(g, (unsigned)stress_rand_below(&th->rng, g->nroots));
    unsigned steps = (unsigned)stress_rand_below(&th->rng, 4);
    for (unsigned s = 0; h && s < steps; s++) {
        if (!hobj_check(h))
            break;
        hobj *c = take_edge(g, h, (int)stress_rand_below(&th->rng, HOBJ_SLOTS));
        if (!c)
            break;
        stress_chaos(th);
        hobj_decref(h);
        h = c;
    }
    return h;
}

static void set_edge(graph *g, hobj *a, int k, hobj *b)
{
    /* b: the caller's reference, given to the slot (the model stops counting it) */
    uint32_t idx = (uint32_t)a->payload;
    if (b)
        tally_atomic_fetch_sub_relaxed(&b->held, 1);
    pthread_mutex_lock(&g->node_lock[idx % NSTRIPE]);
    tally_object *old = hobj_slot_exchange(a, k, b ? &b->ob_base : NULL);
    mn(g, idx)->edge[k] = b ? (uint32_t)b->payload + 1 : 0;
    pthread_mutex_unlock(&g->node_lock[idx % NSTRIPE]);
    tally_xdecref(old);
}

static void step(stress_thread *th, graph *g)
{
    unsigned op = (unsigned)stress_rand_below(&th->rng, 10);
    if (op < 3) {                       /* new node into a root */
        hobj *h = new_node(g);
        if (!h)
            return;
        unsigned r = (unsigned)stress_rand_below(&th->rng, g->nroots);
        stress_chaos(th);
        pthread_mutex_lock(&g->root_lock[r % NSTRIPE]);
        hobj *old = g->roots[r];
        g->roots[r] = h;
        g->mroot[r] = (uint32_t)h->payload + 1;
        pthread_mutex_unlock(&g->root_lock[r % NSTRIPE]);
        if (old)
            hobj_decref(old);
    } else if (op < 6) {                /* link */
        hobj *a = pick(th, g);
        hobj *b = a ? pick(th, g) : NULL;
        if (a && b && hobj_check(a) && hobj_check(b)) {
            stress_chaos(th);
            set_edge(g, a, (int)stress_rand_below(&th->rng, HOBJ_SLOTS), b);
            b = NULL;
        }
        if (b)
            hobj_decref(b);
        if (a)
            hobj_decref(a);
    } else if (op < 8) {                /* unlink */
        hobj *a = pick(th, g);
        if (a && hobj_check(a))
            set_edge(g, a, (int)stress_rand_below(&th->rng, HOBJ_SLOTS), NULL);
        if (a)
            hobj_decref(a);
    } else {                            /* walk */
        hobj *a = pick(th, g);
        if (a) {
            hobj_check(a);
            hobj_decref(a);
        }
    }
}

/* Thread 0, every other thread parked detached at the barrier. */
static void check(graph *g)
{
    tally_flush();
    tally_gc_collect(2);
    tally_flush();
    uint32_t n = tally_atomic_load_relaxed(&g->next_node);
    if (n > MAX_NODES)
        n = MAX_NODES;
    memset(g->mark, 0, n);
    /* model reachability from the roots; in-degree counted into indeg */
    uint32_t *stack = malloc(sizeof *stack * (n + 1));
    uint32_t *indeg = calloc(n + 1, sizeof *indeg);
    if (!stack || !indeg) {
        free(stack), free(indeg);
        return;
    }
    size_t sp = 0;
    for (unsigned r = 0; r < g->nroots; r++) {
        uint32_t e = g->mroot[r];
        if (!e)
            continue;
        indeg[e - 1]++;
        if (!g->mark[e - 1]) {
            g->mark[e - 1] = 1;
            stack[sp++] = e - 1;
        }
    }
    while (sp) {
        uint32_t i = stack[--sp];
        mnode *m = mn(g, i);
        for (int k = 0; k < HOBJ_SLOTS; k++) {
            uint32_t e = m->edge[k];
            if (!e)
                continue;
            indeg[e - 1]++;
            if (!g->mark[e - 1]) {
                g->mark[e - 1] = 1;
                stack[sp++] = e - 1;
            }
        }
    }
    uint32_t first_live = n;
    for (uint32_t i = g->live_from; i < n; i++) {
        mnode *m = mn(g, i);
        if (m->checked_dead)
            continue;
        int st = hobj_state(m->hid);
        if (g->mark[i]) {
            if (i < first_live)
                first_live = i;
            g->checked_alive++;
            if (st == HREG_FREED) {
                stress_violation_add(SV_EARLY_FREE, 1);
                continue;
            }
            hobj *h = m->obj;
            if (!hobj_check(h))
                continue;
            for (int k = 0; k < HOBJ_SLOTS; k++) {
                tally_object *o = hobj_slot_load(h, k);
                uint32_t got = o && hobj_is(o) ? (uint32_t)((hobj *)o)->payload + 1 : 0;
                if (got != m->edge[k])
                    stress_violation_add(SV_CONTENT, 1);
            }
            if (st != HREG_RESCUED && tally_refcount(&h->ob_base) != (intptr_t)indeg[i])
                stress_violation_add(SV_REFCOUNT, 1);
        } else {
            if (st == HREG_ALIVE) {
                stress_violation_add(SV_LEAK, 1);
                continue;   /* checked again next time */
            }
            /* m->obj stays set only for the final teardown of rescued nodes */
            m->checked_dead = 1;
            g->checked_dead++;
        }
    }
    /* nodes below first_live are all dead and checked: skip them from now on */
    while (g->live_from < first_live && g->live_from < n && mn(g, g->live_from)->checked_dead)
        g->live_from++;
    g->checks++;
    free(stack);
    free(indeg);
}

/* --ops N: each thread does its share (N / threads, stress_run_threads) and the run ends when
 * every thread has done it, so the run does exactly N operations.  A thread whose share is done
 * waits (detached) for the others between checks; it still parks for each check. */
static void graph_thread(stress_thread *th)
{
    graph *g = th->arg;
    stress_run *r = th->run;
    bool counted = false;
    for (;;) {
        while (!stress_done(th) && !tally_atomic_load_relaxed(&g->check_req)) {
            step(th, g);
            stress_op(th, 1);
            if ((th->ops & 31) == 0)
                tally_safepoint();
            if (th->index == 0 && stress_now_ns() >= g->next_check_ns)
                tally_atomic_store_relaxed(&g->check_req, 1);
        }
        if (stress_done(th) && !stress_stopping(r)) {
            /* this thread's share is done, maybe not the others': the last one to finish
             * asks for the final check; thread 0 still asks for the periodic ones */
            if (!counted) {
                counted = true;
                if (tally_atomic_fetch_add_relaxed(&g->quota_done, 1) + 1 == r->nthreads)
                    tally_atomic_store_relaxed(&g->check_req, 1);
            }
            while (!tally_atomic_load_relaxed(&g->check_req) && !stress_stopping(r)) {
                if (th->index == 0 && stress_now_ns() >= g->next_check_ns)
                    tally_atomic_store_relaxed(&g->check_req, 1);
                stress_sleep_ns(200000);
            }
        }
        /* a deadline or a signal stops everyone: whoever stops first makes everyone park */
        tally_atomic_store_relaxed(&g->check_req, 1);
        tally_flush();
        stress_barrier_wait(&g->bar);
        if (th->index == 0) {
            check(g);
            g->go = !stress_stopping(r) && tally_atomic_load_relaxed(&g->quota_done) < r->nthreads;
            tally_atomic_store_relaxed(&g->check_req, 0);
            g->next_check_ns = stress_now_ns() + 200000000u;
        }
        stress_barrier_wait(&g->bar);
        if (!g->go)
            break;
    }
}

int stress_wl_graph(stress_run *r)
{
    const stress_config *c = r->cfg;
    graph *g = calloc(1, sizeof *g);
    if (!g)
        return -1;
    g->nroots = c->objects ? (unsigned)c->objects : 256;
    g->roots = calloc(g->nroots, sizeof *g->roots);
    g->mroot = calloc(g->nroots, sizeof *g->mroot);
    g->mark = calloc(MAX_NODES, 1);
    for (unsigned i = 0; i < MAX_NODES / CHUNK; i++)
        g->chunks[i] = calloc(CHUNK, sizeof(mnode));
    for (unsigned i = 0; i < MAX_NODES / CHUNK; i++)
        if (!g->chunks[i])
            return -1;
    if (!g->roots || !g->mroot || !g->mark)
        return -1;
    for (int i = 0; i < NSTRIPE; i++) {
        pthread_mutex_init(&g->root_lock[i], NULL);
        pthread_mutex_init(&g->node_lock[i], NULL);
    }
    stress_barrier_init(&g->bar, (unsigned)c->threads);
    g->next_check_ns = stress_now_ns() + 200000000u;
    r->phase = "graph";
    int rc = stress_run_threads(r, (unsigned)c->threads, graph_thread, g, c->ops_set ? c->ops : 0);
    /* teardown: drop the roots, then everything must go (checked by the runner) */
    for (unsigned i = 0; i < g->nroots; i++) {
        if (g->roots[i])
            hobj_decref(g->roots[i]);
        g->roots[i] = NULL;
        g->mroot[i] = 0;
    }
    check(g);   /* every node is unreachable now: all must be gone */
    stress_figure_set(r, "graph_nodes_created", (double)(g->next_node > MAX_NODES ? MAX_NODES : g->next_node), true);
    stress_figure_set(r, "graph_checks", (double)g->checks, true);
    stress_figure_set(r, "graph_checked_alive", (double)g->checked_alive, true);
    stress_figure_set(r, "graph_checked_dead", (double)g->checked_dead, true);
    stress_barrier_destroy(&g->bar);
    for (unsigned i = 0; i < MAX_NODES / CHUNK; i++)
        free(g->chunks[i]);
    free(g->roots), free(g->mroot), free(g->mark), free(g);
    return rc;
}
