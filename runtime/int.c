/* runtime/int.c - integers.
 *
 * Owns: tally_int_type (64-bit signed values, immutable, not GC), the small-int cache and the
 * int side of dict keys (hash and value equality).  -5..256 are created once per runtime by
 * _tally_int_init(), made immortal, and handed out by tally_int_new() without allocating; no
 * refcount operation ever writes them.  _tally_int_fini() releases their memory at tally_fini.
 */
#include "runtime/internal.h"

#define SMALL_INT_MIN (-5)
#define SMALL_INT_MAX 256
#define N_SMALL_INTS (SMALL_INT_MAX - SMALL_INT_MIN + 1)

typedef struct tally_int {
    TALLY_OBJECT_HEAD;
    int64_t value;   /* written once before the object is published */
} tally_int;

const tally_type tally_int_type = {
    .name = "int",
    .size = sizeof(tally_int),
    .flags = 0,
};

/* Written by _tally_int_init/_tally_int_fini only (single-threaded: tally_init/tally_fini); read
 * by any thread afterwards.  Publication to other threads is ordered by whatever hands the
 * runtime to them (tally_init's release store of `initialized`, acquired by tally_thread_attach). */
static tally_int *small_ints[N_SMALL_INTS];

static inline bool is_int(tally_object *o)
{
    return o && o->ob_type == &tally_int_type;
}

int _tally_int_init(void)
{
    for (int64_t v = SMALL_INT_MIN; v <= SMALL_INT_MAX; v++) {
        tally_int *i = (tally_int *)tally_new(&tally_int_type);
        if (!i) {
            _tally_int_fini();
            return -1;
        }
        i->value = v;
        tally_set_immortal(&i->ob_base);
        small_ints[v - SMALL_INT_MIN] = i;
    }
    return 0;
}

void _tally_int_fini(void)
{
    tally_thread_state *ts = _tally_tstate();
    for (int k = 0; k < N_SMALL_INTS; k++) {
        tally_int *i = small_ints[k];
        if (!i)
            continue;
        small_ints[k] = NULL;
        /* Immortal: refcounting never frees them; release the memory ourselves (delayed when a
         * container or weakref made them visible to other threads) and keep the statistics
         * balanced with the allocation tally_new counted. */
        _tally_object_free(&i->ob_base);
        if (ts)
            tally_atomic_store_relaxed(&ts->freed, ts->freed + 1);
    }
}

tally_object *tally_int_new(int64_t v)
{
    if (v >= SMALL_INT_MIN && v <= SMALL_INT_MAX) {
        tally_int *i = small_ints[v - SMALL_INT_MIN];
        if (tally_likely(i != NULL))
            return &i->ob_base;   /* immortal: the "new reference" needs no increment */
    }
    tally_int *i = (tally_int *)tally_new(&tally_int_type);
    if (!i)
        return NULL;
    i->value = v;
    return &i->ob_base;
}

int64_t tally_int_value(tally_object *o)
{
    if (tally_unlikely(!is_int(o))) {
        _tally_misuse(o, "tally_int_value: not an int");
        return 0;
    }
    return ((tally_int *)o)->value;
}

/* splitmix64's finaliser: consecutive values land far apart in an open-addressing table. */
static inline uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= UINT64_C(0xbf58476d1ce4e5b9);
    x ^= x >> 27;
    x *= UINT64_C(0x94d049bb133111eb);
    x ^= x >> 31;
    return x;
}

uint64_t _tally_int_hash(tally_object *o)
{
    return mix64((uint64_t)((tally_int *)o)->value);
}

bool _tally_int_equal(tally_object *a, tally_object *b)
{
    return ((tally_int *)a)->value == ((tally_int *)b)->value;
}

uint64_t _tally_ptr_hash(const void *p)
{
    return mix64((uint64_t)(uintptr_t)p);
}
