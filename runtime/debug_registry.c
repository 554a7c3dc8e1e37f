/* runtime/debug_registry.c - debug mode: the set of live objects, to check what traverse visits.
 *
 * Owns: with debug checks on (debug builds, tally_options.debug = 1 or TALLY_DEBUG=1), the
 * address of every live object: added by tally_new and for static objects, removed when the
 * object is destroyed (before the quarantine keeps its memory).  The collector asks it about
 * every pointer a user type's traverse visits (_tally_gc_visit_checked): a traverse that visits
 * memory that is not a live object (a field it misreads, a pointer it forgot to clear) used to
 * make the collector write into user memory or crash; it is reported as misuse naming the type
 * whose traverse is wrong.  Off (the default in release builds) nothing is recorded.
 *
 * Concurrency: 64 shards by address, each an open-addressing set under its own mutex (a debug
 * path).  An object is added before any other thread can see it and removed when no thread
 * holds a reference, so membership is stable while the collector (world stopped, or the GIL)
 * asks.
 */
#include "runtime/internal.h"

#include <mimalloc.h>
#include <stdlib.h>

/* The registry is a debugging aid, not part of the API: its own allocations are never made to
 * fail by the fault hook (runtime/fault_inject.c), which would switch it off under a sweep. */
#if defined(TALLY_FAULT_INJECTION)
#  undef calloc
#endif

#define REG_SHARDS 64
#define REG_TOMB ((uintptr_t)1)

typedef struct reg_shard {
    pthread_mutex_t mu;
    uintptr_t *slots;   /* 0 empty, REG_TOMB removed, else an address */
    size_t cap, used, tombs;
    char pad[TALLY_CACHELINE];
} reg_shard;

static reg_shard shards[REG_SHARDS];
static pthread_once_t reg_once = PTHREAD_ONCE_INIT;
static int reg_on;   /* set once at tally_init (debug mode), read relaxed */
int _tally_debug_objects;   /* debug mode: quarantine and registry on (runtime/internal.h) */

static void reg_init_locks(void)
{
    for (int i = 0; i < REG_SHARDS; i++)
        pthread_mutex_init(&shards[i].mu, NULL);
}

static inline size_t reg_hash(uintptr_t a)
{
    a >>= 4;
    a *= 0x9E3779B97F4A7C15ull;
    return (size_t)(a >> 20);
}

static inline reg_shard *shard_of(uintptr_t a) { return &shards[reg_hash(a) % REG_SHARDS]; }

/* Under s->mu.  Rebuild with room for twice the live entries; false when out of memory. */
static bool reg_grow(reg_shard *s)
{
    size_t cap = s->cap ? s->cap : 256;
    while (cap < 4 * (s->used + 1))
        cap *= 2;
    uintptr_t *n = mi_calloc(cap, sizeof *n);
    if (!n)
        return false;
    for (size_t i = 0; i < s->cap; i++) {
        uintptr_t a = s->slots[i];
        if (a > REG_TOMB) {
            size_t j = reg_hash(a) & (cap - 1);
            while (n[j])
                j = (j + 1) & (cap - 1);
            n[j] = a;
        }
    }
    mi_free(s->slots);
    s->slots = n;
    s->cap = cap;
    s->tombs = 0;
    return true;
}

/* Under s->mu, s->cap > 0: the slot holding a, or the empty slot where its probe ends. */
static size_t reg_find(const reg_shard *s, uintptr_t a)
{
    size_t j = reg_hash(a) & (s->cap - 1);
    while (s->slots[j] && s->slots[j] != a)
        j = (j + 1) & (s->cap - 1);
    return j;
}

void _tally_registry_enable(bool on)
{
    pthread_once(&reg_once, reg_init_locks);
    tally_atomic_store_relaxed(&reg_on, on ? 1 : 0);
    tally_atomic_store_relaxed(&_tally_debug_objects, on ? 1 : 0);
}

void _tally_registry_add(tally_object *o)
{
    if (!tally_atomic_load_relaxed(&reg_on))
        return;
    uintptr_t a = (uintptr_t)o;
    reg_shard *s = shard_of(a);
    pthread_mutex_lock(&s->mu);
    if ((s->used + s->tombs + 1) * 2 > s->cap && !reg_grow(s)) {
        pthread_mutex_unlock(&s->mu);
        /* Out of memory: the set would be incomplete, and an object missing from it would be
         * reported falsely.  Stop checking instead (a missed check, never a false report). */
        tally_atomic_store_relaxed(&reg_on, 0);
        return;
    }
    size_t j = reg_hash(a) & (s->cap - 1);
    while (s->slots[j] > REG_TOMB && s->slots[j] != a)
        j = (j + 1) & (s->cap - 1);
    if (s->slots[j] != a) {
        if (s->slots[j] == REG_TOMB)
            s->tombs--;
        s->slots[j] = a;
        s->used++;
    }
    pthread_mutex_unlock(&s->mu);
}

void _tally_registry_remove(tally_object *o)
{
    if (!tally_atomic_load_relaxed(&reg_on))
        return;
    uintptr_t a = (uintptr_t)o;
    reg_shard *s = shard_of(a);
    pthread_mutex_lock(&s->mu);
    if (s->cap) {
        size_t j = reg_find(s, a);
        if (s->slots[j] == a) {
            s->slots[j] = REG_TOMB;
            s->used--;
            s->tombs++;
        }
    }
    pthread_mutex_unlock(&s->mu);
}

static bool reg_contains(uintptr_t a)
{
    reg_shard *s = shard_of(a);
    bool found = false;
    pthread_mutex_lock(&s->mu);
    if (s->cap)
        found = s->slots[reg_find(s, a)] == a;
    pthread_mutex_unlock(&s->mu);
    return found;
}

/* True when p is a live object, or when the registry is off (it cannot tell). */
bool _tally_registry_is_live_object(const void *p)
{
    if (!tally_atomic_load_relaxed(&reg_on))
        return true;
    return p && reg_contains((uintptr_t)p);
}

void _tally_registry_clear(void)
{
    for (int i = 0; i < REG_SHARDS; i++) {
        reg_shard *s = &shards[i];
        pthread_mutex_lock(&s->mu);
        mi_free(s->slots);
        s->slots = NULL;
        s->cap = s->used = s->tombs = 0;
        pthread_mutex_unlock(&s->mu);
    }
    tally_atomic_store_relaxed(&reg_on, 0);
    tally_atomic_store_relaxed(&_tally_debug_objects, 0);
}
