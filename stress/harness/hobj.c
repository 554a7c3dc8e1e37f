/* stress/harness/hobj.c - `stress.obj`, the harness's own GC object type, and its registry.
 *
 * Owns: creation of harness objects with unique ids, the registry of their life states
 * (unborn, alive, freed, rescued: one byte per id, in lazily allocated chunks), the canary,
 * and the checks run by the type's slots:
 *   finalize  count reached zero (refcounting or the collector).  held > 0 means the harness
 *             still holds references: an early free.  The object is made immortal (so it is
 *             resurrected and never touched by refcounting again) and counted.
 *   del       the same check, in the acyclic variant `stress.obj.acyclic`, on every death:
 *             finalize runs once per object, but a racy count can make a rescued object
 *             mortal again (a stale store over the immortal value) and kill it twice; del
 *             runs each time, so each death is checked.  A death of an already destroyed
 *             object (poisoned canary) is resurrected too, instead of being freed twice.
 *             A type with del makes cyclic garbage uncollectable, so workloads that build
 *             cycles (cycles, graph) use `stress.obj`.
 *   destroy   poisons the canary (exchange: a second destroy sees it poisoned: double free),
 *             marks the registry freed, drops the slots.
 *   traverse / clear   the slots, for the collector.
 * Memory ordering: ids come from one relaxed counter; a registry chunk is published with a
 * release CAS and read with acquire loads; registry states are exchanged with acq_rel so that
 * a double destroy is seen by exactly one of the two.  `held` is documented in harness.h.
 */
#include "harness.h"

#include <stdlib.h>
#include <string.h>

#define CHUNK_BITS 16
#define CHUNK_SIZE (1u << CHUNK_BITS)
#define MAX_CHUNKS 1024u             /* 64M ids tracked; later ids are counted as untracked */

static uint8_t *chunks[MAX_CHUNKS];
static uint64_t next_id = 1;
static uint64_t n_created, n_destroyed, n_rescued, n_double, n_untracked;

static uint8_t *state_slot(uint64_t id, bool create)
{
    uint64_t c = id >> CHUNK_BITS;
    if (c >= MAX_CHUNKS)
        return NULL;
    uint8_t *chunk = tally_atomic_load_acquire(&chunks[c]);
    if (!chunk && create) {
        uint8_t *fresh = calloc(CHUNK_SIZE, 1);
        if (!fresh)
            return NULL;
        uint8_t *expected = NULL;
        if (tally_atomic_cas_acq_rel(&chunks[c], &expected, fresh)) {
            chunk = fresh;
        } else {
            free(fresh);
            chunk = expected;
        }
    }
    return chunk ? &chunk[id & (CHUNK_SIZE - 1)] : NULL;
}

int hobj_state(uint64_t id)
{
    uint8_t *s = state_slot(id, false);
    return s ? tally_atomic_load_acquire(s) : HREG_UNBORN;
}

uint64_t hobj_next_id(void)
{
    return tally_atomic_load_relaxed(&next_id);
}

static int hobj_traverse(tally_object *self, tally_visitproc visit, void *arg)
{
    hobj *h = (hobj *)self;
    for (int i = 0; i < HOBJ_SLOTS; i++) {
        tally_object *o = tally_atomic_load_acquire(&h->slot[i]);
        if (o) {
            int rc = visit(o, arg);
            if (rc)
                return rc;
        }
    }
    return 0;
}

static int hobj_clear(tally_object *self)
{
    hobj *h = (hobj *)self;
    for (int i = 0; i < HOBJ_SLOTS; i++) {
        tally_object *o = tally_atomic_exchange_acq_rel(&h->slot[i], NULL);
        tally_xdecref(o);
    }
    return 0;
}

static void rescue(hobj *h)
{
    tally_set_immortal(&h->ob_base);
    uint8_t *s = state_slot(h->id, false);
    uint8_t old = s ? tally_atomic_exchange_acq_rel(s, (uint8_t)HREG_RESCUED) : HREG_ALIVE;
    if (old != HREG_RESCUED)    /* each rescued object counted once (it stays alive) */
        tally_atomic_fetch_add_relaxed(&n_rescued, 1);
}

static void hobj_finalize(tally_object *self)
{
    hobj *h = (hobj *)self;
    if (tally_atomic_load_acquire(&h->canary) != HOBJ_CANARY_LIVE) {
        stress_violation_add(SV_USE_AFTER_FREE, 1);   /* finalizing a destroyed object */
        return;
    }
    int64_t held = tally_atomic_load_relaxed(&h->held);
    if (held > 0) {
        /* Dying while the harness holds `held` references: the count lost increments or
         * gained decrements.  Resurrect for good so the holders stay safe. */
        stress_violation_add(SV_EARLY_FREE, 1);
        rescue(h);
    }
}

static void hobj_del(tally_object *self)
{
    hobj *h = (hobj *)self;
    if (tally_atomic_load_acquire(&h->canary) != HOBJ_CANARY_LIVE) {
        /* a second death of a destroyed object: keep its memory from being freed twice */
        stress_violation_add(SV_DOUBLE_FREE, 1);
        tally_set_immortal(self);
        return;
    }
    if (tally_atomic_load_relaxed(&h->held) > 0) {
        stress_violation_add(SV_EARLY_FREE, 1);
        rescue(h);
    }
}

static void hobj_destroy(tally_object *self)
{
    hobj *h = (hobj *)self;
    uint64_t c = tally_atomic_exchange_acq_rel(&h->canary, HOBJ_CANARY_DEAD);
    if (c != HOBJ_CANARY_LIVE) {
        /* destroyed twice (or memory that was never a live stress.obj) */
        stress_violation_add(SV_DOUBLE_FREE, 1);
        tally_atomic_fetch_add_relaxed(&n_double, 1);
        return;
    }
    int64_t held = tally_atomic_load_relaxed(&h->held);
    if (held > 0)  /* finalize already ran once (FINALIZED bit) and cannot rescue it again */
        stress_violation_add(SV_EARLY_FREE, 1);
    uint8_t *s = state_slot(h->id, false);
    if (s) {
        uint8_t old = tally_atomic_exchange_acq_rel(s, (uint8_t)HREG_FREED);
        if (old == HREG_FREED) {
            stress_violation_add(SV_DOUBLE_FREE, 1);
            tally_atomic_fetch_add_relaxed(&n_double, 1);
        }
    }
    tally_atomic_fetch_add_relaxed(&n_destroyed, 1);
    hobj_clear(self);
}

const tally_type stress_obj_type = {
    .name = "stress.obj",
    .size = sizeof(hobj),
    .flags = TALLY_TYPE_GC,
    .traverse = hobj_traverse,
    .clear = hobj_clear,
    .finalize = hobj_finalize,
    .del = NULL,
    .destroy = hobj_destroy,
};

const tally_type stress_obj_acyclic_type = {
    .name = "stress.obj.acyclic",
    .size = sizeof(hobj),
    .flags = TALLY_TYPE_GC,
    .traverse = hobj_traverse,
    .clear = hobj_clear,
    .finalize = NULL,
    .del = hobj_del,
    .destroy = hobj_destroy,
};

static const tally_type *new_type = &stress_obj_type;

void hobj_set_acyclic(bool acyclic)
{
    new_type = acyclic ? &stress_obj_acyclic_type : &stress_obj_type;
}

int hobj_init(void)
{
    return 0;
}

void hobj_fini(void)
{
    for (unsigned i = 0; i < MAX_CHUNKS; i++) {
        free(chunks[i]);
        chunks[i] = NULL;
    }
}

hobj *hobj_new(uint64_t payload)
{
    hobj *h = (hobj *)tally_new(new_type);
    if (!h) {
        fprintf(stderr, "tally stress: tally_new failed: %s\n", tally_last_error());
        abort();
    }
    uint64_t id = tally_atomic_fetch_add_relaxed(&next_id, 1);
    h->id = id;
    h->payload = payload;
    tally_atomic_store_relaxed(&h->held, 1);
    tally_atomic_store_release(&h->canary, HOBJ_CANARY_LIVE);
    uint8_t *s = state_slot(id, true);
    if (s)
        tally_atomic_store_release(s, HREG_ALIVE);
    else
        tally_atomic_fetch_add_relaxed(&n_untracked, 1);
    tally_atomic_fetch_add_relaxed(&n_created, 1);
    return h;
}

bool hobj_check(hobj *h)
{
    if (tally_atomic_load_acquire(&h->canary) != HOBJ_CANARY_LIVE) {
        stress_violation_add(SV_USE_AFTER_FREE, 1);
        return false;
    }
    int st = hobj_state(h->id);
    if (st == HREG_FREED) {
        stress_violation_add(SV_USE_AFTER_FREE, 1);
        return false;
    }
    return true;
}

void hobj_get_counts(hobj_counts *out)
{
    out->created = tally_atomic_load_relaxed(&n_created);
    out->destroyed = tally_atomic_load_relaxed(&n_destroyed);
    out->rescued = tally_atomic_load_relaxed(&n_rescued);
    out->double_destroyed = tally_atomic_load_relaxed(&n_double);
    out->untracked_ids = tally_atomic_load_relaxed(&n_untracked);
}
