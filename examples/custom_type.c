/* examples/custom_type.c - defining an object type of your own.
 *
 * Owns: a user type in C: a struct that starts with TALLY_OBJECT_HEAD, and a tally_type with
 * traverse/clear (so the cycle collector can see and break its references), a PEP 442 finalizer
 * and a destroy.  It builds rings of nodes (garbage only the collector can find), watches them
 * through weak references with a callback, collects, and checks that every finalizer, callback
 * and destroy ran exactly once.  Exits 1 on any mismatch.
 */
#include <stdio.h>
#include <tally/tally.h>

typedef struct {
    TALLY_OBJECT_HEAD;
    tally_object *next; /* strong reference */
    int id;
} node;

static int finalized, destroyed, callbacks;

static int node_traverse(tally_object *self, tally_visitproc visit, void *arg)
{
    node *n = (node *)self;
    return n->next ? visit(n->next, arg) : 0;
}

static int node_clear(tally_object *self)
{
    node *n = (node *)self;
    tally_object *next = n->next;
    n->next = NULL;
    tally_xdecref(next);
    return 0;
}

static void node_finalize(tally_object *self)
{
    (void)self;
    finalized++;
}

static void node_destroy(tally_object *self)
{
    destroyed++;
    node_clear(self);
}

static const tally_type node_type = {
    "example.Node", sizeof(node), TALLY_TYPE_GC, node_traverse, node_clear, node_finalize, NULL, node_destroy,
};

static void on_death(tally_object *wr, void *arg)
{
    (void)wr;
    (void)arg;
    callbacks++;
}

#define RINGS 100
#define RING_LEN 10

int main(void)
{
    if (tally_init(NULL) != 0) {
        fprintf(stderr, "custom_type: tally_init failed: %s\n", tally_last_error());
        return 1;
    }
    tally_object *watchers = tally_list_new();
    for (int r = 0; r < RINGS; r++) {
        node *first = (node *)tally_new(&node_type);
        node *cur = first;
        for (int i = 1; i < RING_LEN; i++) {
            node *n = (node *)tally_new(&node_type);
            n->id = r * RING_LEN + i;
            cur->next = &n->ob_base; /* steals the new reference */
            cur = n;
        }
        cur->next = tally_newref(&first->ob_base); /* close the ring */
        tally_object *w = tally_weakref_new(&first->ob_base, on_death, NULL);
        tally_list_append(watchers, w);
        tally_decref(w);
        tally_decref(&first->ob_base); /* only the ring holds it now */
    }
    tally_flush();
    printf("backend %s: %d rings of %d nodes built; before collection: %d finalized, %d destroyed\n",
           tally_backend(), RINGS, RING_LEN, finalized, destroyed);
    intptr_t n = tally_gc_collect(2);
    tally_flush();
    printf("collected %ld objects: %d finalized, %d destroyed, %d weakref callbacks\n", (long)n, finalized,
           destroyed, callbacks);
    int ok = n >= RINGS * RING_LEN && finalized == RINGS * RING_LEN && destroyed == RINGS * RING_LEN &&
             callbacks == RINGS;
    for (size_t i = 0; i < tally_list_len(watchers); i++) {
        tally_object *w = tally_list_get(watchers, i);
        ok = ok && tally_weakref_get(w) == NULL;
        tally_decref(w);
    }
    tally_decref(watchers);
    tally_fini();
    if (!ok) {
        fprintf(stderr, "custom_type: counts do not match\n");
        return 1;
    }
    printf("ok\n");
    return 0;
}
