/* tests/fuzz/fuzz_api.c - libFuzzer target: the public API against a reachability model.
 *
 * Owns: turning fuzzer bytes into API operations (objects of a GC node type with finalizers,
 * lists, dicts, weakrefs with callbacks, freeze, collections of each generation) on a pool of
 * handle slots, and checking the runtime against a model of the object graph (docs/fuzzing.md).
 *
 * Two halves per operation: exec_real() calls the API and records what it returned (a
 * thread's own slot table decides which objects an operation touches), exec_model() replays the
 * operation on the model and compares.  Built with FUZZ_THREADS=2 (fuzz_api_mt_<backend>), the
 * operations of each round (up to a collection) run on two threads, each on its own half of the
 * slots plus a shared list that both append to; the model replays them after the join.
 *
 * The model (CPython 3.13 semantics, gc-semantics.md, docs/collector.md):
 *  - refcount deaths: an object whose count reaches 0 dies at once (after tally_flush() on
 *    deferred); a GC node with a finalizer is finalized first (at most once) and may resurrect
 *    into the keep list (then it is re-tracked in generation 0 and keeps its weakrefs); a dying
 *    object's weakrefs are cleared and their callbacks run, newest first, unless the weakref
 *    itself dies in the same cascade (then the callback may or may not run: the order of the
 *    releases decides);
 *  - collections of generation g: W = tracked objects of generations 0..g (frozen ones never);
 *    references from outside W are external; U = W minus what external references reach.  Every
 *    weakref in U is forgotten (no callback); every weakref to a U object is cleared, those with
 *    a callback that are not in U call back; U's finalizers run once; what the keep list then
 *    reaches in U is resurrected; the rest dies; survivors and resurrected objects move to
 *    generation min(g + 1, 2); objects outside U left without references die by refcount;
 *  - freeze moves generations 0-2 to the permanent one, unfreeze moves it to generation 2.
 * Checks at every CHECK op and after every collection: every live node is intact (magic,
 * children, not destroyed), every dead node was destroyed exactly once, finalizers ran as the
 * model says (at most once), lists and dicts hold exactly the model's items, weakrefs return
 * their referent or NULL as the model says, witness weakrefs (callback-less, held by the harness)
 * say which lists, dicts and weakrefs are alive, every callback ran as the model says, once,
 * with its weakref already cleared, and the callbacks of one referent ran together, newest
 * first.  After collections and freezes every live object is in the model's generation
 * (tally_gc_get_objects).  Between inputs everything is dropped and collected and the model must
 * be empty.
 */
#include <tally/tally.h>

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef FUZZ_THREADS
#  define FUZZ_THREADS 1
#endif

/* Weakref gets run on every target.  The threaded biased target left them out until the two
 * findings of docs/fuzzing.md were fixed (owner ids are never reused, and try-incref refuses an
 * object whose last reference waits in its owner's merge queue); both inputs are in the corpus. */
#define WREF_GET_OFF 0

/* Backends whose refcount deaths wait for a later point (deferred: the next flush).  Deaths
 * found together there happen in the runtime's order, not the program's: a weakref released in
 * the same interval as its referent, before or after it, may or may not call back.  biased
 * with two threads is not one of them: every object a worker drops is its own (made this round)
 * or an exited worker's (merged at once by the dropper), so no death waits in a live thread's
 * queue; that was only so while owner ids were reused (docs/fuzzing.md, Findings). */
#if defined(TALLY_BACKEND_DEFERRED)
#  define LATE_DEATHS 1
#endif

#define NSLOTS 32
#define SLOTS_PER_THREAD (NSLOTS / FUZZ_THREADS)
#define NCHILD 3
#define NKEYS 8
#define MAXOBJ 512
#define MAXOPS 1024
#define MAXLIST 64
#define LOGMAX (MAXOBJ * 2)
#define NODE_MAGIC 0x600D
#define NODE_DEAD 0xDEAD

/* ---- the fuzz node type ------------------------------------------------------------------- */
typedef struct fnode {
    TALLY_OBJECT_HEAD;
    tally_object *child[NCHILD];
    int mid;            /* model id */
    int magic;
    int resurrect;      /* the finalizer stores the node in the keep list */
} fnode;

static int g_destroyed[MAXOBJ];     /* atomic increments: nodes may die on any thread */
static int g_finalized[MAXOBJ];
static tally_object *g_keep;        /* the finalizers' resurrection root (a list) */
static int g_bad_cb;                /* a callback found its own weakref not cleared */

static int fnode_traverse(tally_object *self, tally_visitproc visit, void *arg)
{
    fnode *n = (fnode *)self;
    for (int i = 0; i < NCHILD; i++)
        if (n->child[i]) {
            int r = visit(n->child[i], arg);
            if (r)
                return r;
        }
    return 0;
}
static int fnode_clear(tally_object *self)
{
    fnode *n = (fnode *)self;
    tally_object *c[NCHILD];
    for (int i = 0; i < NCHILD; i++) {
        c[i] = n->child[i];
        n->child[i] = NULL;
    }
    for (int i = 0; i < NCHILD; i++)
        tally_xdecref(c[i]);
    return 0;
}
static void fnode_destroy(tally_object *self)
{
    fnode *n = (fnode *)self;
    if (n->magic != NODE_MAGIC) {
        fprintf(stderr, "fuzz: destroy of node %d with magic %#x\n", n->mid, n->magic);
        abort();
    }
    tally_atomic_fetch_add_relaxed(&g_destroyed[n->mid], 1);
    n->magic = NODE_DEAD;
    fnode_clear(self);
}
static void fnode_finalize(tally_object *self)
{
    fnode *n = (fnode *)self;
    tally_atomic_fetch_add_relaxed(&g_finalized[n->mid], 1);
    if (n->resurrect)
        tally_list_append(g_keep, self);
}
static const tally_type node_type = {
    "FuzzNode", sizeof(fnode), TALLY_TYPE_GC, fnode_traverse, fnode_clear, NULL, NULL, fnode_destroy,
};
static const tally_type fin_node_type = {
    "FuzzFinNode", sizeof(fnode), TALLY_TYPE_GC, fnode_traverse, fnode_clear, fnode_finalize, NULL, fnode_destroy,
};

/* ---- weakref callbacks: one log per thread -------------------------------------------------- */
typedef struct cblog {
    int n;
    int mid[LOGMAX];
} cblog;
static cblog g_logs[FUZZ_THREADS + 1];     /* [FUZZ_THREADS]: the main thread */
static _Thread_local cblog *t_log;

static void wr_callback(tally_object *wr, void *arg)
{
    tally_object *t = tally_weakref_get(wr);
    if (t) {
        tally_atomic_fetch_add_relaxed(&g_bad_cb, 1);
        tally_decref(t);
    }
    cblog *l = t_log ? t_log : &g_logs[FUZZ_THREADS];
    if (l->n < LOGMAX)
        l->mid[l->n] = (int)(intptr_t)arg;
    l->n++;
}

/* ---- operations ----------------------------------------------------------------------------- */
enum kind { K_NONE, K_NODE, K_LIST, K_DICT, K_WREF };
enum op {
    OP_NEW_NODE, OP_NEW_LIST, OP_NEW_DICT, OP_NEW_WREF, OP_DUP, OP_DROP, OP_NODE_SET,
    OP_LIST_APPEND, OP_LIST_SET, OP_LIST_POP, OP_LIST_GET, OP_LIST_CLEAR, OP_DICT_SET,
    OP_DICT_DEL, OP_DICT_GET, OP_WREF_GET, OP_SHARE, OP_CHECK, OP_COLLECT, OP_FREEZE,
    OP_UNFREEZE, OP_NEW_NODE2, OP_NODE_SET2, OP_DROP2, NOPS
};

typedef struct op_rec {
    uint8_t op, thread, a, b, c;
    /* filled by exec_real */
    int done;              /* 0: skipped (wrong kinds, empty slot, no room) */
    int mid;               /* created object's model id */
    tally_object *ptr;     /* created or returned object */
    tally_object *witness; /* created witness weakref */
    size_t len;            /* container length seen before the operation */
} op_rec;

/* The real side: what each slot holds (a reference the harness owns). */
typedef struct rslot {
    tally_object *p;
    int kind;
} rslot;
static rslot r_slots[NSLOTS];
static int r_next_mid;                /* atomic in the threaded variant */
static tally_object *r_shared;        /* the shared list (both threads append) */
static int r_shares[FUZZ_THREADS];     /* appends to it per thread (bounded) */

static int kind_of(tally_object *o)
{
    const tally_type *t = tally_type_of(o);
    if (t == &node_type || t == &fin_node_type)
        return K_NODE;
    if (t == &tally_list_type)
        return K_LIST;
    if (t == &tally_dict_type)
        return K_DICT;
    if (t == &tally_weakref_type)
        return K_WREF;
    return K_NONE;
}

static void r_put(int s, tally_object *o)   /* steals o */
{
    tally_object *old = r_slots[s].p;
    r_slots[s].p = o;
    r_slots[s].kind = o ? kind_of(o) : K_NONE;
    tally_xdecref(old);
}

static int slot_of(const op_rec *r, uint8_t b)
{
    return r->thread * SLOTS_PER_THREAD + b % SLOTS_PER_THREAD;
}

static int alloc_mid(void)
{
    int m = tally_atomic_fetch_add_relaxed(&r_next_mid, 1);
    return m < MAXOBJ ? m : -1;
}

static tally_object *new_node(int mid, int flags)
{
    fnode *n = (fnode *)tally_new((flags & 1) ? &fin_node_type : &node_type);
    if (!n)
        abort();
    n->mid = mid;
    n->magic = NODE_MAGIC;
    n->resurrect = (flags & 3) == 3;
    return &n->ob_base;
}

static tally_object *int_key(uint8_t k) { return tally_int_new(k % NKEYS); }

/* Run one operation on the API; the thread owns slots [thread * SLOTS_PER_THREAD, ...). */
static void exec_real(op_rec *r)
{
    int s = slot_of(r, r->a), t = slot_of(r, r->b);
    rslot *S = &r_slots[s], *T = &r_slots[t];
    r->done = 0;
    switch (r->op) {
    case OP_NEW_NODE: case OP_NEW_NODE2:
        if ((r->mid = alloc_mid()) < 0)
            return;
        r->ptr = new_node(r->mid, r->b);
        r_put(s, r->ptr);
        break;
    case OP_NEW_LIST: case OP_NEW_DICT:
        if ((r->mid = alloc_mid()) < 0)
            return;
        r->ptr = r->op == OP_NEW_LIST ? tally_list_new() : tally_dict_new();
        r->witness = tally_weakref_new(r->ptr, NULL, NULL);
        r_put(s, r->ptr);
        break;
    case OP_NEW_WREF:
        if (!T->p || (r->mid = alloc_mid()) < 0)
            return;
        r->ptr = tally_weakref_new(T->p, wr_callback, (void *)(intptr_t)r->mid);
        r->witness = tally_weakref_new(r->ptr, NULL, NULL);
        r_put(s, r->ptr);
        break;
    case OP_DUP:
        if (!S->p || s == t)
            return;
        r_put(t, tally_newref(S->p));
        break;
    case OP_DROP: case OP_DROP2:
        if (!S->p)
            return;
        r_put(s, NULL);
        break;
    case OP_NODE_SET: case OP_NODE_SET2: {
        if (S->kind != K_NODE)
            return;
        fnode *n = (fnode *)S->p;
        int i = r->c % NCHILD;
        tally_object *old = n->child[i];
        n->child[i] = (r->c / NCHILD) % 4 == 0 ? NULL : (T->p ? tally_newref(T->p) : NULL);
        tally_xdecref(old);
        break;
    }
    case OP_LIST_APPEND:
        if (S->kind != K_LIST || !T->p || (r->len = tally_list_len(S->p)) >= MAXLIST)
            return;
        if (tally_list_append(S->p, T->p) != 0)
            abort();
        break;
    case OP_LIST_SET:
        if (S->kind != K_LIST || !T->p || (r->len = tally_list_len(S->p)) == 0)
            return;
        if (tally_list_set(S->p, r->c % r->len, T->p) != 0)
            abort();
        break;
    case OP_LIST_POP:
        if (S->kind != K_LIST || (r->len = tally_list_len(S->p)) == 0)
            return;
        r->ptr = tally_list_pop(S->p);
        r_put(t, tally_newref(r->ptr));
        tally_decref(r->ptr);   /* r->ptr stays valid: the slot holds it */
        break;
    case OP_LIST_GET:
        if (S->kind != K_LIST || (r->len = tally_list_len(S->p)) == 0)
            return;
        r->ptr = tally_list_get(S->p, r->c % r->len);
        r_put(t, r->ptr);
        break;
    case OP_LIST_CLEAR:
        if (S->kind != K_LIST)
            return;
        r->len = tally_list_len(S->p);
        tally_list_clear(S->p);
        break;
    case OP_DICT_SET: {
        if (S->kind != K_DICT || !T->p)
            return;
        tally_object *k = int_key(r->c);
        if (tally_dict_set(S->p, k, T->p) != 0)
            abort();
        tally_decref(k);
        break;
    }
    case OP_DICT_DEL: {
        if (S->kind != K_DICT)
            return;
        tally_object *k = int_key(r->c);
        r->len = tally_dict_del(S->p, k) == 0;
        tally_decref(k);
        break;
    }
    case OP_DICT_GET: {
        if (S->kind != K_DICT)
            return;
        tally_object *k = int_key(r->c);
        r->ptr = tally_dict_get(S->p, k);
        tally_decref(k);
        r_put(t, r->ptr);
        break;
    }
    case OP_WREF_GET:
        if (S->kind != K_WREF || WREF_GET_OFF)
            return;
#ifdef TALLY_BACKEND_DEFERRED
        tally_flush();   /* deaths are visible after a flush (this thread's slots only) */
#endif
        r->ptr = tally_weakref_get(S->p);
        r_put(t, r->ptr);
        break;
    case OP_SHARE:
        if (!S->p || r_shares[r->thread] >= 2 * MAXLIST)
            return;
        r_shares[r->thread]++;
        if (tally_list_append(r_shared, S->p) != 0)
            abort();
        break;
    default:
        return;   /* CHECK, COLLECT, FREEZE, UNFREEZE: the main thread, exec_global() */
    }
    r->done = 1;
}

/* ---- the model ------------------------------------------------------------------------------ */
#define MID_KEEP 0
#define MID_SHARED 1

typedef struct mobj {
    int exists, alive, kind, gen;      /* gen 0..2, 3 = frozen */
    tally_object *p;
    tally_object *witness;              /* callback-less weakref the harness holds (not nodes) */
    int witness_stale;                  /* cleared by a collection that resurrected the object */
    int fin, resurrect, finalized;      /* nodes */
    int child[NCHILD];
    int *items, nitems, cap;            /* lists */
    int unordered;                      /* keep and shared lists: compared as multisets */
    int dval[NKEYS];                    /* dicts */
    int wtarget, wcb;                   /* weakrefs: referent (-1 once cleared), callback pending */
    int cb_expect, cb_batch, cb_seen;   /* 0 none, 1 required, 2 optional (dies in the cascade) */
    int cb_epoch;                       /* m_epoch when the callback became due */
    int dead_target, dead_epoch;        /* deferred: referent and flush interval of its death */
    int rc, roots;                      /* strong references: total, and from the harness */
} mobj;

static mobj M[MAXOBJ];
static int m_slot[NSLOTS];
static int m_shares[FUZZ_THREADS];
static int m_batch;
static int m_epoch;   /* flush points (exec_global) so far */
static int m_pending[MAXOBJ * 8], m_npending;
static int g_trace;   /* FUZZ_TRACE=1: print every operation (to read a crash input) */

#define FAIL(...)                                                                             \
    do {                                                                                      \
        fprintf(stderr, "fuzz_api (%s): ", tally_backend());                                  \
        fprintf(stderr, __VA_ARGS__);                                                         \
        fprintf(stderr, "\n");                                                                \
        abort();                                                                              \
    } while (0)

static void m_list_push(mobj *l, int x)
{
    if (l->nitems == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 8;
        l->items = realloc(l->items, (size_t)l->cap * sizeof(int));
        if (!l->items)
            abort();
    }
    l->items[l->nitems++] = x;
}

static void m_incref(int x) { M[x].rc++; }
static void m_decref(int x)
{
    if (--M[x].rc == 0)
        m_pending[m_npending++] = x;
    if (M[x].rc < 0)
        FAIL("model: negative count of object %d", x);
}
static void m_xdecref(int x) { if (x >= 0) m_decref(x); }

/* Apply fn to every strong reference x holds. */
#define FOR_EDGES(x, y, body)                                                                 \
    do {                                                                                      \
        mobj *o_ = &M[x];                                                                     \
        if (o_->kind == K_NODE) {                                                             \
            for (int i_ = 0; i_ < NCHILD; i_++)                                               \
                if ((y = o_->child[i_]) >= 0) { body; }                                       \
        } else if (o_->kind == K_LIST) {                                                      \
            for (int i_ = 0; i_ < o_->nitems; i_++) { y = o_->items[i_]; body; }              \
        } else if (o_->kind == K_DICT) {                                                      \
            for (int i_ = 0; i_ < NKEYS; i_++)                                                \
                if ((y = o_->dval[i_]) >= 0) { body; }                                        \
        }                                                                                     \
    } while (0)

static void m_forget_edges(int x)
{
    mobj *o = &M[x];
    for (int i = 0; i < NCHILD; i++)
        o->child[i] = -1;
    for (int i = 0; i < NKEYS; i++)
        o->dval[i] = -1;
    o->nitems = 0;
}

static void m_keep_append(int x)
{
    m_incref(x);
    m_list_push(&M[MID_KEEP], x);
}

/* Clear the weakrefs to each referent of dying[] (newest first, one batch per referent). */
static void m_clear_weakrefs_to(int x, const char *in_set, int optional_if_in_set)
{
    int b = ++m_batch;
    for (int w = MAXOBJ - 1; w >= 0; w--) {
        mobj *o = &M[w];
        if (!o->exists || o->kind != K_WREF || o->wtarget != x)
            continue;
        o->wtarget = -1;
        if (o->wcb) {
            o->wcb = 0;
            if (!o->alive)
                continue;
            if (in_set && in_set[w]) {
                if (!optional_if_in_set)
                    continue;                /* a weakref in the collector's U: dropped */
                o->cb_expect = 2;
            } else {
                o->cb_expect = 1;
            }
            o->cb_batch = b;
            o->cb_epoch = m_epoch;
        }
    }
#ifdef LATE_DEATHS
    /* A weakref with a callback whose last reference went in the same flush interval, before
     * its referent's: one step finds both deaths and their order is the step's (it frees
     * weakrefs first), so the callback may run. */
    if (!in_set || optional_if_in_set)
        for (int w = MAXOBJ - 1; w >= 0; w--) {
            mobj *o = &M[w];
            if (o->exists && o->kind == K_WREF && !o->alive && o->dead_target == x &&
                o->dead_epoch == m_epoch && o->cb_expect == 0 && o->cb_seen == 0) {
                o->dead_target = -1;
                o->cb_expect = 2;
                o->cb_batch = b;
            }
        }
#endif
}

/* Refcount deaths: everything whose count reached 0, and what that releases. */
static void m_cascade(void)
{
    static char dying[MAXOBJ];
    static int order[MAXOBJ];
    int nd = 0;
    while (m_npending > 0) {
        int x = m_pending[--m_npending];
        mobj *o = &M[x];
        if (!o->alive || o->rc > 0 || dying[x])
            continue;
        if (o->kind == K_NODE && o->fin && !o->finalized) {
            o->finalized = 1;
            if (o->resurrect) {          /* revived into the keep list, re-tracked young */
                m_keep_append(x);
                o->gen = 0;
                continue;
            }
        }
        dying[x] = 1;
        order[nd++] = x;
        int y;
        FOR_EDGES(x, y, m_decref(y));
    }
    for (int i = 0; i < nd; i++)
        m_clear_weakrefs_to(order[i], dying, 1);
    for (int i = 0; i < nd; i++) {
        int x = order[i];
        mobj *o = &M[x];
        if (o->kind == K_WREF) {
            o->dead_target = o->wcb ? o->wtarget : -1;
            o->dead_epoch = m_epoch;
            o->wtarget = -1;
            o->wcb = 0;
#ifdef LATE_DEATHS
            /* deferred applies the decrements at the next flush point, and deaths found by one
             * step free weakrefs first (docs/backend-deferred.md): a weakref dropped before the
             * flush that kills its referent may or may not call back. */
            if (o->cb_expect == 1 && o->cb_epoch == m_epoch)
                o->cb_expect = 2;
#endif
        }
        o->alive = 0;
        m_forget_edges(x);
        dying[x] = 0;
    }
}

static void m_set_slot(int s, int x)   /* x: a new reference (already counted) or -1 */
{
    int old = m_slot[s];
    m_slot[s] = x;
    if (x >= 0)
        M[x].roots++;
    if (old >= 0) {
        M[old].roots--;
        m_decref(old);
    }
    m_cascade();
}

static int m_new(int mid, int kind, tally_object *p, tally_object *witness)
{
    if (mid < 0 || mid >= MAXOBJ || M[mid].exists)
        FAIL("model: bad new object id %d", mid);
    mobj *o = &M[mid];
    int *items = o->items, cap = o->cap;
    memset(o, 0, sizeof *o);
    o->items = items;
    o->cap = cap;
    o->exists = o->alive = 1;
    o->kind = kind;
    o->p = p;
    o->witness = witness;
    o->wtarget = o->dead_target = -1;
    m_forget_edges(mid);
    o->rc = 1;
    return mid;
}

/* A collection of generation g (docs/collector.md "One collection"). */
static void m_collect(int g)
{
    static char inW[MAXOBJ], reach[MAXOBJ], inU[MAXOBJ];
    static int ext[MAXOBJ], stack[MAXOBJ * 8];
    int y;
    for (int x = 0; x < MAXOBJ; x++) {
        inW[x] = M[x].exists && M[x].alive && M[x].gen <= g;
        ext[x] = M[x].roots;
        reach[x] = inU[x] = 0;
    }
    for (int x = 0; x < MAXOBJ; x++)
        if (M[x].exists && M[x].alive && !inW[x])
            FOR_EDGES(x, y, ext[y]++);
    int sp = 0;
    for (int x = 0; x < MAXOBJ; x++)
        if (inW[x] && ext[x] > 0) {
            reach[x] = 1;
            stack[sp++] = x;
        }
    while (sp > 0) {
        int x = stack[--sp];
        FOR_EDGES(x, y, if (inW[y] && !reach[y]) { reach[y] = 1; stack[sp++] = y; });
    }
    int any = 0;
    for (int x = 0; x < MAXOBJ; x++)
        if (inW[x] && !reach[x])
            inU[x] = any = 1;
    int ng = g < 2 ? g + 1 : 2;
    for (int x = 0; x < MAXOBJ; x++)
        if (inW[x] && reach[x])
            M[x].gen = ng;
    if (!any)
        return;
    /* weakrefs: those in U are forgotten, those to U objects cleared (callbacks when not in U) */
    for (int x = 0; x < MAXOBJ; x++)
        if (inU[x] && M[x].kind == K_WREF) {
            M[x].wtarget = -1;
            M[x].wcb = 0;
        }
    for (int x = 0; x < MAXOBJ; x++)
        if (inU[x]) {
            m_clear_weakrefs_to(x, inU, 0);
            if (M[x].witness)
                M[x].witness_stale = 1;
        }
    /* finalizers, once each; resurrection into the keep list */
    for (int x = 0; x < MAXOBJ; x++)
        if (inU[x] && M[x].kind == K_NODE && M[x].fin && !M[x].finalized) {
            M[x].finalized = 1;
            if (M[x].resurrect)
                m_keep_append(x);
        }
    /* what is referenced from outside U now is resurrected with all it reaches in U */
    for (int x = 0; x < MAXOBJ; x++) {
        ext[x] = M[x].roots;
        reach[x] = 0;
    }
    for (int x = 0; x < MAXOBJ; x++)
        if (M[x].exists && M[x].alive && !inU[x])
            FOR_EDGES(x, y, ext[y]++);
    sp = 0;
    for (int x = 0; x < MAXOBJ; x++)
        if (inU[x] && ext[x] > 0) {
            reach[x] = 1;
            stack[sp++] = x;
        }
    while (sp > 0) {
        int x = stack[--sp];
        FOR_EDGES(x, y, if (inU[y] && !reach[y]) { reach[y] = 1; stack[sp++] = y; });
    }
    /* the rest dies: cleared, its references to survivors released (refcount deaths follow) */
    for (int x = 0; x < MAXOBJ; x++) {
        if (!inU[x])
            continue;
        if (reach[x]) {
            M[x].gen = ng;
            continue;
        }
        FOR_EDGES(x, y, if (!inU[y] || reach[y]) m_decref(y));
    }
    for (int x = 0; x < MAXOBJ; x++)
        if (inU[x] && !reach[x]) {
            M[x].alive = 0;
            M[x].rc = 0;
            m_forget_edges(x);
        }
    m_cascade();
}

/* ---- replaying an operation on the model ------------------------------------------------------ */
static int m_kind(int s) { return m_slot[s] >= 0 ? M[m_slot[s]].kind : K_NONE; }

static void expect_done(const op_rec *r, int want)
{
    if (r->done != want)
        FAIL("op %d: the runtime %s it, the model %s", r->op, r->done ? "ran" : "skipped",
             want ? "runs it" : "skips it");
}

static void expect_ptr(const op_rec *r, int x)
{
    tally_object *want = x >= 0 ? M[x].p : NULL;
    if (r->ptr != want)
        FAIL("op %d: returned %p, the model says object %d (%p)", r->op, (void *)r->ptr, x, (void *)want);
}

static void exec_model(const op_rec *r)
{
    int s = slot_of(r, r->a), t = slot_of(r, r->b);
    int S = m_slot[s], T = m_slot[t];
    switch (r->op) {
    case OP_NEW_NODE: case OP_NEW_NODE2: {
        if (!r->done)   /* only the supply of model ids decides */
            return;
        int x = m_new(r->mid, K_NODE, r->ptr, NULL);
        M[x].fin = r->b & 1;
        M[x].resurrect = (r->b & 3) == 3;
        m_set_slot(s, x);
        return;
    }
    case OP_NEW_LIST: case OP_NEW_DICT:
        if (!r->done)
            return;
        m_set_slot(s, m_new(r->mid, r->op == OP_NEW_LIST ? K_LIST : K_DICT, r->ptr, r->witness));
        return;
    case OP_NEW_WREF: {
        if (T < 0) {
            expect_done(r, 0);
            return;
        }
        if (!r->done)
            return;
        int x = m_new(r->mid, K_WREF, r->ptr, r->witness);
        M[x].wtarget = T;
        M[x].wcb = 1;
        m_set_slot(s, x);
        return;
    }
    case OP_DUP:
        expect_done(r, S >= 0 && s != t);
        if (r->done) {
            m_incref(S);
            m_set_slot(t, S);
        }
        return;
    case OP_DROP: case OP_DROP2:
        expect_done(r, S >= 0);
        if (r->done)
            m_set_slot(s, -1);
        return;
    case OP_NODE_SET: case OP_NODE_SET2: {
        expect_done(r, m_kind(s) == K_NODE);
        if (!r->done)
            return;
        int i = r->c % NCHILD;
        int nv = (r->c / NCHILD) % 4 == 0 ? -1 : T;
        int old = M[S].child[i];
        if (nv >= 0)
            m_incref(nv);
        M[S].child[i] = nv;
        m_xdecref(old);
        m_cascade();
        return;
    }
    case OP_LIST_APPEND:
        if (m_kind(s) != K_LIST || T < 0) {
            expect_done(r, 0);
            return;
        }
        if (r->len != (size_t)M[S].nitems)
            FAIL("list %d: length %zu, the model says %d", S, r->len, M[S].nitems);
        expect_done(r, M[S].nitems < MAXLIST);
        if (r->done) {
            m_incref(T);
            m_list_push(&M[S], T);
        }
        return;
    case OP_LIST_SET: case OP_LIST_POP: case OP_LIST_GET: {
        if (m_kind(s) != K_LIST || (r->op == OP_LIST_SET && T < 0)) {
            expect_done(r, 0);
            return;
        }
        if (r->len != (size_t)M[S].nitems)
            FAIL("list %d: length %zu, the model says %d", S, r->len, M[S].nitems);
        expect_done(r, M[S].nitems > 0);
        if (!r->done)
            return;
        mobj *l = &M[S];
        if (r->op == OP_LIST_SET) {
            int i = r->c % l->nitems, old = l->items[i];
            m_incref(T);
            l->items[i] = T;
            m_decref(old);
            m_cascade();
        } else if (r->op == OP_LIST_POP) {
            int x = l->items[--l->nitems];   /* the list's reference moves to the slot */
            expect_ptr(r, x);
            m_set_slot(t, x);
        } else {
            int x = l->items[r->c % l->nitems];
            expect_ptr(r, x);
            m_incref(x);
            m_set_slot(t, x);
        }
        return;
    }
    case OP_LIST_CLEAR:
        expect_done(r, m_kind(s) == K_LIST);
        if (r->done) {
            mobj *l = &M[S];
            if (r->len != (size_t)l->nitems)
                FAIL("list %d: length %zu, the model says %d", S, r->len, l->nitems);
            int n = l->nitems;
            l->nitems = 0;
            for (int i = 0; i < n; i++)
                m_decref(l->items[i]);
            m_cascade();
        }
        return;
    case OP_DICT_SET:
        expect_done(r, m_kind(s) == K_DICT && T >= 0);
        if (r->done) {
            int k = r->c % NKEYS, old = M[S].dval[k];
            m_incref(T);
            M[S].dval[k] = T;
            m_xdecref(old);
            m_cascade();
        }
        return;
    case OP_DICT_DEL:
        expect_done(r, m_kind(s) == K_DICT);
        if (r->done) {
            int k = r->c % NKEYS, old = M[S].dval[k];
            if ((int)r->len != (old >= 0))
                FAIL("dict %d: del of key %d %s, the model says %s", S, k, r->len ? "worked" : "failed",
                     old >= 0 ? "present" : "absent");
            M[S].dval[k] = -1;
            m_xdecref(old);
            m_cascade();
        }
        return;
    case OP_DICT_GET:
        expect_done(r, m_kind(s) == K_DICT);
        if (r->done) {
            int x = M[S].dval[r->c % NKEYS];
            expect_ptr(r, x);
            if (x >= 0)
                m_incref(x);
            m_set_slot(t, x);
        }
        return;
    case OP_WREF_GET:
        expect_done(r, m_kind(s) == K_WREF && !WREF_GET_OFF);
        if (r->done) {
            int x = M[S].wtarget;
            expect_ptr(r, x);
            if (x >= 0)
                m_incref(x);
            m_set_slot(t, x);
        }
        return;
    case OP_SHARE:
        expect_done(r, S >= 0 && m_shares[r->thread] < 2 * MAXLIST);
        if (r->done) {
            m_shares[r->thread]++;
            m_incref(S);
            m_list_push(&M[MID_SHARED], S);
        }
        return;
    default:
        return;
    }
}

/* ---- checks --------------------------------------------------------------------------------- */
static int cmp_int(const void *a, const void *b) { return *(const int *)a - *(const int *)b; }

static void check_list(int x)
{
    mobj *l = &M[x];
    size_t n = tally_list_len(l->p);
    if (n != (size_t)l->nitems)
        FAIL("list %d: length %zu, the model says %d", x, n, l->nitems);
    static tally_object *got[MAXOBJ * 2];
    static int want[MAXOBJ * 2];
    for (size_t i = 0; i < n; i++) {
        got[i] = tally_list_get(l->p, i);
        tally_decref(got[i]);   /* the list still holds it */
        want[i] = l->items[i];
    }
    if (l->unordered) {   /* finalizers and two threads append in an order the model leaves open */
        static int ids[MAXOBJ * 2];
        for (size_t i = 0; i < n; i++) {
            ids[i] = -1;
            for (int y = 0; y < MAXOBJ; y++)
                if (M[y].exists && M[y].alive && M[y].p == got[i])
                    ids[i] = y;
        }
        qsort(ids, n, sizeof ids[0], cmp_int);
        qsort(want, n, sizeof want[0], cmp_int);
        for (size_t i = 0; i < n; i++)
            if (ids[i] != want[i])
                FAIL("list %d: holds object %d, the model says %d (as multisets)", x, ids[i], want[i]);
        return;
    }
    for (size_t i = 0; i < n; i++)
        if (got[i] != M[want[i]].p)
            FAIL("list %d: item %zu is %p, the model says object %d (%p)", x, i, (void *)got[i], want[i],
                 (void *)M[want[i]].p);
}

static void check_witness(int x)
{
    mobj *o = &M[x];
    if (!o->witness)
        return;
    tally_object *g = tally_weakref_get(o->witness);
    tally_object *want = o->alive && !o->witness_stale ? o->p : NULL;
    tally_xdecref(g);
    if (g != want)
        FAIL("object %d (kind %d): its weakref returns %p, the model says %s%s", x, o->kind, (void *)g,
             o->alive ? "alive" : "dead", o->witness_stale ? " with cleared weakrefs" : "");
    if (o->alive && o->witness_stale) {   /* resurrected: watch it with a new weakref */
        tally_decref(o->witness);
        o->witness = tally_weakref_new(o->p, NULL, NULL);
        o->witness_stale = 0;
    }
}

static void check_callbacks(void)
{
    if (tally_atomic_load_relaxed(&g_bad_cb))
        FAIL("a callback found its own weakref not cleared");
    for (int t = 0; t <= FUZZ_THREADS; t++) {
        cblog *l = &g_logs[t];
        if (l->n > LOGMAX)
            FAIL("callback log overflow");
        int prev_batch = -1, prev_mid = 0;
        static int closed[MAXOBJ * 8 + 1];
        static int closed_gen;
        closed_gen++;
        for (int i = 0; i < l->n; i++) {
            int w = l->mid[i];
            if (w < 0 || w >= MAXOBJ || !M[w].exists || M[w].kind != K_WREF)
                FAIL("callback with unknown weakref id %d", w);
            mobj *o = &M[w];
            o->cb_seen++;
            if (o->cb_expect == 0 || o->cb_seen > 1)
                FAIL("weakref %d: callback %d time(s), the model says %s", w, o->cb_seen,
                     o->cb_expect ? "once" : "never");
            int b = o->cb_batch;
            if (b != prev_batch) {
                if (prev_batch >= 0)
                    closed[prev_batch % (MAXOBJ * 8 + 1)] = closed_gen;
                if (closed[b % (MAXOBJ * 8 + 1)] == closed_gen)
                    FAIL("weakref %d: the callbacks of one referent did not run together", w);
            } else if (w > prev_mid) {
                FAIL("weakref %d: callback after the older weakref %d of the same referent", w, prev_mid);
            }
            prev_batch = b;
            prev_mid = w;
        }
        l->n = 0;
    }
    for (int w = 0; w < MAXOBJ; w++) {
        mobj *o = &M[w];
        if (!o->exists || o->kind != K_WREF)
            continue;
        if (o->cb_expect == 1 && o->cb_seen != 1)
            FAIL("weakref %d: its referent died (or was collected) but the callback never ran", w);
        if (o->cb_expect)
            o->cb_expect = o->cb_seen ? 3 : 0;   /* settled: no more callbacks */
    }
}

/* Every live object is in the generation the model says (frozen: in none), as
 * tally_gc_get_objects() lists them.  The keep and shared lists (harness roots) are skipped. */
static void check_generations(void)
{
    static char seen[MAXOBJ];
    enum { HBITS = 11, HSIZE = 1 << HBITS };
    static tally_object *hkey[HSIZE];
    static int hval[HSIZE];
    memset(hkey, 0, sizeof hkey);
    memset(seen, 0, sizeof seen);
    for (int x = MID_SHARED + 1; x < MAXOBJ; x++) {
        if (!M[x].exists || !M[x].alive)
            continue;
        size_t h = ((uintptr_t)M[x].p >> 4) * 0x9E3779B97F4A7C15ull >> (64 - HBITS);
        while (hkey[h])
            h = (h + 1) & (HSIZE - 1);
        hkey[h] = M[x].p;
        hval[h] = x;
    }
    for (int g = 0; g < 3; g++) {
        tally_object *l = tally_gc_get_objects(g);
        if (!l)
            FAIL("tally_gc_get_objects(%d): %s", g, tally_last_error());
        size_t n = tally_list_len(l);
        for (size_t i = 0; i < n; i++) {
            tally_object *o = tally_list_get(l, i);
            size_t h = ((uintptr_t)o >> 4) * 0x9E3779B97F4A7C15ull >> (64 - HBITS);
            while (hkey[h] && hkey[h] != o)
                h = (h + 1) & (HSIZE - 1);
            tally_decref(o);
            if (!hkey[h])
                continue;   /* not the model's: witnesses, the harness's lists, this list */
            int x = hval[h];
            if (seen[x]++)
                FAIL("object %d (kind %d) listed twice by tally_gc_get_objects", x, M[x].kind);
            if (M[x].gen != g)
                FAIL("object %d (kind %d) is in generation %d, the model says %d", x, M[x].kind, g, M[x].gen);
        }
        tally_decref(l);
    }
    for (int x = MID_SHARED + 1; x < MAXOBJ; x++)
        if (M[x].exists && M[x].alive && M[x].gen < 3 && !seen[x])
            FAIL("object %d (kind %d) is in no generation, the model says %d", x, M[x].kind, M[x].gen);
}

static int g_gen_checks;   /* check_generations() stops the world: only after collections */

static void check_all(void)
{
    check_callbacks();
    if (g_gen_checks)
        check_generations();
    for (int x = 0; x < MAXOBJ; x++) {
        mobj *o = &M[x];
        if (!o->exists)
            continue;
        if (o->kind == K_NODE) {
            int d = tally_atomic_load_relaxed(&g_destroyed[x]);
            int f = tally_atomic_load_relaxed(&g_finalized[x]);
            if (d != !o->alive)
                FAIL("node %d: destroyed %d time(s), the model says it is %s", x, d, o->alive ? "alive" : "dead");
            if (f != o->finalized)
                FAIL("node %d: finalized %d time(s), the model says %d", x, f, o->finalized);
            if (!o->alive)
                continue;
            fnode *n = (fnode *)o->p;
            if (n->magic != NODE_MAGIC || n->mid != x)
                FAIL("node %d: header or fields overwritten", x);
            for (int i = 0; i < NCHILD; i++) {
                tally_object *want = o->child[i] >= 0 ? M[o->child[i]].p : NULL;
                if (n->child[i] != want)
                    FAIL("node %d: child %d is %p, the model says object %d", x, i, (void *)n->child[i], o->child[i]);
            }
            if (o->fin && tally_gc_is_finalized(o->p) != (o->finalized != 0))
                FAIL("node %d: tally_gc_is_finalized disagrees with the model", x);
            continue;
        }
        check_witness(x);
        if (!o->alive)
            continue;
        if (o->kind == K_LIST) {
            check_list(x);
        } else if (o->kind == K_DICT) {
            size_t want = 0;
            for (int k = 0; k < NKEYS; k++) {
                tally_object *key = tally_int_new(k);
                tally_object *v = tally_dict_get(o->p, key);
                tally_decref(key);
                tally_xdecref(v);
                tally_object *wv = o->dval[k] >= 0 ? M[o->dval[k]].p : NULL;
                want += o->dval[k] >= 0;
                if (v != wv)
                    FAIL("dict %d: key %d holds %p, the model says object %d", x, k, (void *)v, o->dval[k]);
            }
            if (tally_dict_len(o->p) != want)
                FAIL("dict %d: length %zu, the model says %zu", x, tally_dict_len(o->p), want);
        } else if (o->kind == K_WREF) {
            tally_object *g = tally_weakref_get(o->p);
            tally_xdecref(g);
            tally_object *want = o->wtarget >= 0 ? M[o->wtarget].p : NULL;
            if (g != want)
                FAIL("weakref %d: returns %p, the model says object %d", x, (void *)g, o->wtarget);
        }
    }
    tally_flush();   /* the deferred backend: apply the checks' own operations */
}

/* ---- operations on the main thread: flush, collect, freeze --------------------------------- */
static void exec_global(uint8_t op, uint8_t a)
{
    m_epoch++;
    tally_flush();
    switch (op) {
    case OP_COLLECT: {
        int g = a % 3;
        intptr_t n = tally_gc_collect(g);
        if (n < 0)
            FAIL("tally_gc_collect(%d) failed: %s", g, tally_last_error());
        tally_flush();
        m_collect(g);
        g_gen_checks = 1;
        break;
    }
    case OP_FREEZE:
        tally_gc_freeze();
        for (int x = 0; x < MAXOBJ; x++)
            if (M[x].exists && M[x].alive && M[x].gen < 3)
                M[x].gen = 3;
        break;
    case OP_UNFREEZE:
        tally_gc_unfreeze();
        for (int x = 0; x < MAXOBJ; x++)
            if (M[x].exists && M[x].alive && M[x].gen == 3)
                M[x].gen = 2;
        break;
    default:
        break;
    }
    check_all();
    g_gen_checks = 0;
}

/* ---- one input ------------------------------------------------------------------------------ */
static int is_global(uint8_t op)
{
    return op == OP_CHECK || op == OP_COLLECT || op == OP_FREEZE || op == OP_UNFREEZE;
}

static op_rec g_ops[MAXOPS];

#if FUZZ_THREADS > 1
typedef struct worker {
    int tid;
    op_rec *ops;
    int n;
} worker;

static void *worker_main(void *arg)
{
    worker *w = arg;
    if (tally_thread_attach() != 0)
        FAIL("attach: %s", tally_last_error());
    t_log = &g_logs[w->tid];
    for (int i = 0; i < w->n; i++) {
        if (w->ops[i].thread == w->tid)
            exec_real(&w->ops[i]);
        if ((i & 15) == 15)
            tally_safepoint();
    }
    tally_thread_release();
    return NULL;
}
#endif

/* Run ops[0..n) (no global ops among them) and replay them on the model. */
static void run_round(op_rec *ops, int n)
{
#if FUZZ_THREADS > 1
    pthread_t th[FUZZ_THREADS];
    worker w[FUZZ_THREADS];
    for (int t = 0; t < FUZZ_THREADS; t++) {
        w[t] = (worker){ t, ops, n };
        if (pthread_create(&th[t], NULL, worker_main, &w[t]) != 0)
            FAIL("pthread_create");
    }
    TALLY_BEGIN_ALLOW_THREADS
    for (int t = 0; t < FUZZ_THREADS; t++)
        pthread_join(th[t], NULL);
    TALLY_END_ALLOW_THREADS
    for (int t = 0; t < FUZZ_THREADS; t++)
        for (int i = 0; i < n; i++)
            if (ops[i].thread == t)
                exec_model(&ops[i]);
#else
    for (int i = 0; i < n; i++) {
        exec_real(&ops[i]);
        exec_model(&ops[i]);
    }
#endif
}

static void model_reset(void)
{
    for (int x = 0; x < MAXOBJ; x++) {
        M[x].exists = 0;
        M[x].nitems = 0;
    }
    for (int s = 0; s < NSLOTS; s++)
        m_slot[s] = -1;
    memset(m_shares, 0, sizeof m_shares);
    memset(r_shares, 0, sizeof r_shares);
    memset(r_slots, 0, sizeof r_slots);
    memset(g_destroyed, 0, sizeof g_destroyed);
    memset(g_finalized, 0, sizeof g_finalized);
    for (int t = 0; t <= FUZZ_THREADS; t++)
        g_logs[t].n = 0;
    m_batch = 0;
    m_npending = 0;
    m_new(MID_KEEP, K_LIST, g_keep, NULL);
    m_new(MID_SHARED, K_LIST, r_shared, NULL);
    for (int x = MID_KEEP; x <= MID_SHARED; x++) {
        M[x].roots = 1;
        M[x].unordered = 1;
        M[x].gen = 2;
    }
    r_next_mid = 2;
}

/* Drop everything, collect, and check that everything died. */
static void teardown(void)
{
    for (int s = 0; s < NSLOTS; s++) {
        r_put(s, NULL);
        m_set_slot(s, -1);
    }
    exec_global(OP_UNFREEZE, 0);
    exec_global(OP_COLLECT, 2);
    /* A finalizer resurrects at most once, but each round may release the next resurrector. */
    for (int round = 0; round < MAXOBJ && (M[MID_KEEP].nitems || M[MID_SHARED].nitems); round++) {
        for (int x = MID_KEEP; x <= MID_SHARED; x++) {
            tally_list_clear(M[x].p);
            int n = M[x].nitems;
            M[x].nitems = 0;
            for (int i = 0; i < n; i++)
                m_decref(M[x].items[i]);
            m_cascade();
        }
        exec_global(OP_CHECK, 0);
        exec_global(OP_COLLECT, 2);
    }
    for (int x = MID_SHARED + 1; x < MAXOBJ; x++) {
        if (M[x].exists && M[x].alive)
            FAIL("object %d (kind %d, rc %d, roots %d, gen %d) is still alive in the model after the final "
                 "collection", x, M[x].kind, M[x].rc, M[x].roots, M[x].gen);
        if (M[x].exists && M[x].witness)
            tally_decref(M[x].witness);
    }
    tally_flush();
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (tally_init(NULL) != 0) {
        fprintf(stderr, "tally_init: %s\n", tally_last_error());
        abort();
    }
    const char *want = getenv("TALLY_EXPECT_BACKEND");
    if (want && strcmp(want, tally_backend()) != 0)
        FAIL("linked with %s, expected %s", tally_backend(), want);
    tally_gc_disable();   /* only the input's collections run: the model knows when */
    g_keep = tally_list_new();
    r_shared = tally_list_new();
    t_log = &g_logs[FUZZ_THREADS];
    g_trace = getenv("FUZZ_TRACE") != NULL;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    model_reset();
    int n = 0;
    for (size_t i = 0; i + 1 <= size && n < MAXOPS; i += 4) {
        op_rec *r = &g_ops[n];
        memset(r, 0, sizeof *r);
        r->op = data[i] % NOPS;
        r->thread = FUZZ_THREADS > 1 ? (data[i] >> 7) % FUZZ_THREADS : 0;
        r->a = i + 1 < size ? data[i + 1] : 0;
        r->b = i + 2 < size ? data[i + 2] : 0;
        r->c = i + 3 < size ? data[i + 3] : 0;
        if (g_trace)
            fprintf(stderr, "op %d: %d thread %d a %d b %d c %d\n", n, r->op, r->thread, r->a, r->b, r->c);
        if (is_global(r->op)) {
            run_round(g_ops, n);
            exec_global(r->op, r->a);
            n = 0;
        } else {
            n++;
        }
    }
    run_round(g_ops, n);
    exec_global(OP_CHECK, 0);
    teardown();
    return 0;
}
