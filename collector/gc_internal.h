/* collector/gc_internal.h - the collector's private state and its list primitives.
 *
 * Owns: the encoding of the GC pre-header (_tally_gc_head), the per-thread nurseries of young
 * objects, the global collector state shared by collector/gc_*.c.  Never included outside
 * collector/.
 *
 * Pre-header words (every gc_head is 16-byte aligned: mimalloc blocks and our list heads), so
 * the low 4 bits of both words are free:
 *
 *     gc_next   | address of the next gc_head                 | tag (bits 0-3)            |
 *               |   tag 0: a global list (gen1, gen2, its visited half, permanent, young   |
 *               |          orphans, or a collection's private list); guarded by gc.lock    |
 *               |   tag 1 (GC_TAG_YOUNG): a young object in gc.young_list (gc.lock), or   |
 *               |          one the collector linked into W (the first walk clears it)      |
 *               | exactly GC_NURSERY (no address): the object is in a thread's nursery     |
 *     gc_prev   | outside the working set: address of the previous gc_head | bit0 SPACE   |
 *               | in a nursery: address of its nursery slot (8-aligned)                    |
 *               | in the working set (world stopped): gc_refs << 2 | bit1 COLLECTING       |
 *               | in the unreachable set: address of the previous gc_head | bit1 COLLECTING|
 *     untracked: gc_next == gc_prev == 0 and ob_gc_bits has no TRACKED.
 *
 * Flags per phase (CPython's validate_list table, our names):
 *     phase                         COLLECTING(prev)  UNREACHABLE(ob_gc_bits)  tag
 *     generation lists, nurseries   clear             clear                    0 / nursery
 *     update_refs..subtract_refs    set (refs)        clear                    0
 *     fused walk, not yet reached   clear, or set     clear                    1 (young) / 0
 *                                   (refs) once a reference initialised it
 *     fused walk, reached           set (refs)        clear                    0, or LEAF
 *                                   (LEAF = 1: its traversal met no GC object; move_unreachable
 *                                   clears it and skips that object's traversal)
 *     move_unreachable: reachable   clear (pointer)   clear                    0
 *     move_unreachable: unreachable set (pointer)     set                      0
 *     legacy finalizers list        clear             clear                    0
 *     finalize / clear phases       set               set                      0
 * A full collection with incremental mode off keeps gc_refs and these marks in its side table
 * (collector/gc_side_table.h) instead: its W objects keep plain prev pointers throughout, and
 * only the objects it moves to U get COLLECTING and UNREACHABLE, as above.
 * No object in a generation list has COLLECTING or UNREACHABLE once a collection returns.
 * SPACE (bit0 of gc_prev) is meaningful only in gen2 while incremental mode is on: an object
 * whose SPACE equals gc.visited_space has been scanned in the current old-generation cycle.
 */
#ifndef TALLY_COLLECTOR_GC_INTERNAL_H
#define TALLY_COLLECTOR_GC_INTERNAL_H

#include "runtime/internal.h"

#define GC_TAG_MASK ((uintptr_t)0xF)
/* In W between the fused walk and move_unreachable only (world stopped): the object's traversal
 * met no GC object, so move_unreachable need not traverse it again (collector/gc_trial.c). */
#define GC_NEXT_LEAF ((uintptr_t)0x1)
#define GC_PTR_MASK (~(uintptr_t)0xF)
#define GC_PREV_SPACE ((uintptr_t)0x1)
#define GC_PREV_COLLECTING ((uintptr_t)0x2)
#define GC_PREV_FLAGS ((uintptr_t)0x3)
#define GC_REFS_SHIFT 2
#define GC_TAG_YOUNG ((uintptr_t)0x1)
#define GC_NURSERY ((uintptr_t)0x1)   /* the whole gc_next word of an object in a nursery */
#define GC_NURSERY_CHUNK_BYTES 8192  /* chunks are aligned to their size: a slot finds its chunk */

/* A thread's nursery: the young objects it allocated (or re-tracked), one slot each, in chunks
 * that never move while the nursery lives.  Only the owner appends (no lock, no atomic
 * read-modify-write: a relaxed store of the slot, then a release store of `pos`); any thread
 * takes an object out by storing into its slot (relaxed), found through the object's gc_prev.
 * A slot holds a gc_head address, 0 (taken out by another thread: free until the next reset),
 * or a link of the owner's free-slot list with bit 0 set (taken out by the owner, who reuses it
 * for its next young object, so a thread that allocates and frees without collections keeps a
 * nursery the size of what it holds).  The collector reads the slots and resets the nursery with
 * the world stopped, which orders every thread's earlier stores before its reads.  A slot
 * belongs to one object from its append until its removal, so an owner's append and another
 * thread's removal never write the same word.  An exiting thread hands its nursery to the
 * collector (gc.orphans, under gc.lock) instead of freeing it, so removals by other threads keep
 * writing valid memory until the next collection frees it.  A nursery that grows to
 * GC_NURSERY_SPILL chunks (the collector off, or full of other threads' holes) spills its objects
 * into gc.young_list with the world stopped and starts again. */
typedef struct gc_nursery gc_nursery;
typedef struct gc_nursery_chunk {
    gc_nursery *owner;               /* written at creation, before any of its slots is used */
    struct gc_nursery_chunk *next;   /* owner-written; read with the world stopped */
    uintptr_t used;                  /* slots used: kept for chunks before `cur` */
    uintptr_t slot[];
} gc_nursery_chunk;
#define GC_NURSERY_CHUNK ((GC_NURSERY_CHUNK_BYTES - sizeof(gc_nursery_chunk)) / sizeof(uintptr_t))

struct gc_nursery {
    gc_nursery_chunk *first, *cur;
    size_t pos;                      /* next unused slot of cur (owner; release store) */
    uintptr_t *free_slot;            /* the owner's free-slot list (owner only) */
    size_t nchunks;                  /* owner only */
    struct gc_nursery *next_orphan;  /* in gc.orphans (under gc.lock) */
};

typedef struct gc_callback_entry {
    tally_gc_callback cb;
    void *arg;
} gc_callback_entry;

typedef struct gc_state {
    uint8_t lock;                   /* the global lists, stats, the collector's lists when the world
                                     * runs: a one-byte lock (gc_global_lock) */
    _Alignas(16) _tally_gc_head gen1;
    _Alignas(16) _tally_gc_head gen2;          /* gen2; in incremental mode its pending half */
    _Alignas(16) _tally_gc_head gen2_visited;  /* incremental mode: scanned this old-gen cycle */
    _Alignas(16) _tally_gc_head permanent;
    _Alignas(16) _tally_gc_head young_list;  /* young objects outside any nursery (spilled by a
                                              * nursery that grew too large, or tracked by a thread
                                              * without one); tag GC_TAG_YOUNG, under lock */
    gc_nursery *orphans;            /* nurseries of exited threads (under lock) */
    int visited_space;              /* 0/1: SPACE value of visited objects (under lock/STW) */
    int space_valid;                /* gen2 SPACE bits are consistent with visited_space */

    int threshold[3];               /* relaxed atomics */
    int count[3];                   /* count[0]: atomic; count[1..2]: relaxed atomics */
    int enabled;                    /* relaxed atomic */
    unsigned debug;                 /* relaxed atomic */
    int incremental;                /* relaxed atomic */
    unsigned increment_size;        /* relaxed atomic */
    intptr_t long_lived_total;      /* under lock */
    intptr_t long_lived_pending;

    int collecting;                 /* 1 while a collection runs (CAS 0 -> 1, acq_rel) */
    pthread_t collector;            /* valid while collecting (read by the collecting thread) */
    tally_thread_state *collector_ts;   /* the last collection's thread (relaxed atomic; a stale
                                         * value only skips one back-pressure wait) */
    _tally_gc_head **cur_lists;     /* the running collection's private lists (under lock) */
    pthread_mutex_t stw_phase;      /* held by the collector while the world is stopped, and by
                                     * fork()'s prepare handler: a detached thread that forks
                                     * never copies lists that a stopped-world phase is editing */
    size_t ncur_lists;
    int shutting_down;

    tally_gc_stats stats[3];        /* under lock */
    tally_object *garbage;          /* the gc.garbage list (lazily created) */

    pthread_mutex_t cb_lock;        /* callbacks */
    gc_callback_entry *callbacks;
    size_t ncallbacks, cbcap;

    pthread_mutex_t done_lock;      /* back-pressure: `finished` and its condition */
    pthread_cond_t done_cond;       /* broadcast when a collection ends */
    uint64_t finished;              /* collections ended (under done_lock) */

    pthread_mutex_t pause_lock;     /* telemetry ring */
    tally_gc_pause *pauses;         /* TALLY_GC_PAUSE_RING records */
    uint64_t npauses;               /* total recorded */
} gc_state;

TALLY_HIDDEN extern gc_state _tally_gc;

/* ---- list primitives (caller has exclusive access: the list's lock, or the world stopped).
 * Every word is read and written with relaxed atomics so that a racing reader of a tag (free of
 * an object from another thread) is a defined, TSan-visible access; on x86-64 and AArch64 these
 * compile to plain loads and stores. */
static inline uintptr_t gc_ld(const uintptr_t *p) { return tally_atomic_load_relaxed(p); }
static inline void gc_st(uintptr_t *p, uintptr_t v) { tally_atomic_store_relaxed(p, v); }

static inline _tally_gc_head *gc_next(_tally_gc_head *g) { return (_tally_gc_head *)(gc_ld(&g->gc_next) & GC_PTR_MASK); }
static inline _tally_gc_head *gc_prev(_tally_gc_head *g) { return (_tally_gc_head *)(gc_ld(&g->gc_prev) & GC_PTR_MASK); }
static inline unsigned gc_tag(_tally_gc_head *g) { return (unsigned)(gc_ld(&g->gc_next) & GC_TAG_MASK); }
/* Keep g's own tag / flags, replace the link. */
static inline void gc_set_next(_tally_gc_head *g, _tally_gc_head *n)
{
    gc_st(&g->gc_next, (gc_ld(&g->gc_next) & GC_TAG_MASK) | (uintptr_t)n);
}
static inline void gc_set_prev(_tally_gc_head *g, _tally_gc_head *p)
{
    gc_st(&g->gc_prev, (gc_ld(&g->gc_prev) & GC_PREV_FLAGS) | (uintptr_t)p);
}

static inline void gc_list_init(_tally_gc_head *l, unsigned tag)
{
    gc_st(&l->gc_next, (uintptr_t)l | tag);
    gc_st(&l->gc_prev, (uintptr_t)l);
}
static inline bool gc_list_is_empty(_tally_gc_head *l) { return gc_next(l) == l; }

/* Append node (not in any list) to l; node takes l's tag and keeps its prev flags. */
static inline void gc_list_append(_tally_gc_head *node, _tally_gc_head *l)
{
    _tally_gc_head *last = gc_prev(l);
    gc_st(&node->gc_prev, (gc_ld(&node->gc_prev) & GC_PREV_FLAGS) | (uintptr_t)last);
    gc_st(&node->gc_next, (uintptr_t)l | (gc_ld(&l->gc_next) & GC_TAG_MASK));
    gc_set_next(last, node);
    gc_st(&l->gc_prev, (uintptr_t)node);
}

/* Unlink node; its words keep their flag bits (the caller decides what they become). */
static inline void gc_list_unlink(_tally_gc_head *node)
{
    _tally_gc_head *prev = gc_prev(node), *next = gc_next(node);
    gc_set_next(prev, next);
    gc_set_prev(next, prev);
}

static inline void gc_list_move(_tally_gc_head *node, _tally_gc_head *to)
{
    gc_list_unlink(node);
    gc_list_append(node, to);
}

/* Splice `from` (same tag as `to`, or re-tagged by the caller afterwards) onto the end of `to`. */
static inline void gc_list_merge(_tally_gc_head *from, _tally_gc_head *to)
{
    if (gc_list_is_empty(from))
        return;
    _tally_gc_head *to_tail = gc_prev(to);
    _tally_gc_head *first = gc_next(from), *last = gc_prev(from);
    gc_set_next(to_tail, first);
    gc_set_prev(first, to_tail);
    gc_st(&last->gc_next, (uintptr_t)to | (gc_ld(&to->gc_next) & GC_TAG_MASK));
    gc_st(&to->gc_prev, (uintptr_t)last);
    gc_list_init(from, gc_tag(from));
}

static inline size_t gc_list_size(_tally_gc_head *l)
{
    size_t n = 0;
    for (_tally_gc_head *g = gc_next(l); g != l; g = gc_next(g))
        n++;
    return n;
}

/* ob_gc_bits helpers.  _ws: world stopped (or GIL held and nobody else runs): a relaxed
 * load/store pair, no read-modify-write needed.  _rt: world running: atomic or/and. */
static inline uint8_t gc_bits(tally_object *o) { return tally_atomic_load_relaxed(&o->ob_gc_bits); }
static inline void gc_bits_set_ws(tally_object *o, uint8_t b) { tally_atomic_store_relaxed(&o->ob_gc_bits, (uint8_t)(gc_bits(o) | b)); }
static inline void gc_bits_clear_ws(tally_object *o, uint8_t b) { tally_atomic_store_relaxed(&o->ob_gc_bits, (uint8_t)(gc_bits(o) & ~b)); }
static inline void gc_bits_set_rt(tally_object *o, uint8_t b) { tally_atomic_fetch_or_relaxed(&o->ob_gc_bits, b); }
static inline void gc_bits_clear_rt(tally_object *o, uint8_t b) { tally_atomic_fetch_and_relaxed(&o->ob_gc_bits, (uint8_t)~b); }

/* gc.lock: a one-byte test-and-test-and-set lock (uncontended: one CAS and
 * one release store; contended: spin, yield, then sleep in sync/lock.c).  Acquire pairs with the
 * release of the previous holder.  Never held across user code, a GC allocation or a
 * safepoint. */
static inline void gc_global_lock(void)
{
    uint8_t expected = 0;
    if (tally_likely(tally_atomic_cas_acquire(&_tally_gc.lock, &expected, 1)))
        return;
    _tally_mutex_lock_slow(&_tally_gc.lock);
}
static inline void gc_global_unlock(void) { tally_atomic_store_release(&_tally_gc.lock, 0); }

/* ---- cross-file functions of the collector ---- */
/* Lock the global list that holds tracked object g (gc.lock) and return with it held; false if
 * g is not in a global list (untracked, or in a nursery: nothing held). */
TALLY_HIDDEN bool _tally_gc_lock_list_of(_tally_gc_head *g);
/* World stopped: append every nursery's objects (and the young orphans) to `to`, tagged
 * GC_TAG_YOUNG, and reset the nurseries. */
TALLY_HIDDEN void _tally_gc_gather_young_ws(_tally_gc_head *to);
/* The collection proper (collector/gc.c).  Returns collected + uncollectable, 0 when another
 * collection is running.  `incremental_step`: a gen-1 collection plus an increment of gen2. */
TALLY_HIDDEN intptr_t _tally_gc_collect_main(int generation, bool incremental_step);
TALLY_HIDDEN intptr_t _tally_gc_collect_generations(void);   /* threshold-driven choice */
/* The young count (collector/gc_lists.c): fold a thread's unpublished delta into count[0]; zero
 * count[0] and every delta (world stopped); count[0] plus every thread's delta (registry lock). */
TALLY_HIDDEN void _tally_gc_count_thread_fold(tally_thread_state *ts);
TALLY_HIDDEN void _tally_gc_count_reset_ws(void);
TALLY_HIDDEN void _tally_gc_collection_done(void);   /* wakes threads held back by a backlog */
TALLY_HIDDEN int _tally_gc_count_young(void);
TALLY_HIDDEN void _tally_gc_record_pause(const tally_gc_pause *p);
TALLY_HIDDEN void _tally_gc_invoke_callbacks(int phase, int generation, intptr_t collected, intptr_t uncollectable);
TALLY_HIDDEN tally_object *_tally_gc_garbage_list(void);    /* create on first use; NULL on OOM */

/* Debug builds: check every object of list `head` against a row of the flag table above
 * (collector/gc_validate.c); a violation is fatal, naming `where`.  Rows: REACHABLE (COLLECTING
 * and UNREACHABLE clear: generation lists, survivors, legacy finalizers) and UNREACHABLE (both
 * set: U from move_unreachable to the clear loop).  Caller owns the list (world stopped, or
 * gc.lock held).  Release builds: nothing. */
#define GC_VL_REACHABLE 0
#define GC_VL_UNREACHABLE 1
#if defined(TALLY_DEBUG)
TALLY_HIDDEN void _tally_gc_validate_list(_tally_gc_head *head, int row, const char *where);
#  define GC_VALIDATE(head, row, where) _tally_gc_validate_list((head), (row), (where))
#else
#  define GC_VALIDATE(head, row, where) ((void)0)
#endif

#endif
