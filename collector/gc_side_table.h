/* collector/gc_side_table.h - the full collection's per-object scratch, kept outside the objects.
 *
 * Owns: an address-indexed table of 32-bit entries (one per 32 bytes of address space, grouped
 * in 512 KiB leaves that each cover 4 MiB) in which a full collection keeps each candidate's
 * gc_refs and its flags, so that its walks leave the object headers (and their list links)
 * untouched and need not read a header only to learn or change that state (the passes are in
 * collector/gc_side_table.c; docs/collector.md says why it pays).
 *
 * Keys: an object's own address >> 5.  Every object is at least 32 bytes and two live objects
 * never overlap, so two objects never share an entry; an entry nobody set reads 0, so a pointer
 * to any object (GC or not, in a leaf or not) can be looked up: only working-set members have a
 * nonzero entry.
 *
 * Concurrency: used only by the collecting thread while every other thread is stopped (or the
 * GIL is held); consecutive collections on different threads are ordered by gc.collecting's
 * acq_rel CAS and release store.  Invariant outside a full collection's two passes: every entry
 * is 0 (the passes count the entries they set and clear, and check the count at the end).
 * Memory: a leaf is mapped with MAP_NORESERVE and committed 8 KiB at a time, the entries of a
 * 64 KiB piece of the heap in which pass A set one (4 bytes per 32 bytes of that piece).  A leaf stays mapped while full collections find members under
 * it; one that a full collection's walk did not touch is unmapped at its end (the heap left that
 * region), so the table follows the live heap instead of its peak.  Out of memory for the table
 * (or for the passes' arrays) is not an error: the collection runs the prev-word passes instead.
 */
#ifndef TALLY_COLLECTOR_GC_SIDE_TABLE_H
#define TALLY_COLLECTOR_GC_SIDE_TABLE_H

#include "runtime/internal.h"

typedef uint32_t gst_entry;

#define GST_W     0x80000000u   /* a member of W: initialised in this collection */
#define GST_LEAF  0x40000000u   /* its traversal met no GC object: nothing to propagate */
#define GST_TENT  0x20000000u   /* move_unreachable found it at gc_refs 0 (tentatively in U) */
#define GST_TUPLE 0x10000000u   /* a tuple (untrack_tuples looks at the reachable ones) */
#define GST_WALKED 0x08000000u  /* pass A reached it: reaching it again means W's list is broken */
#define GST_REFS  0x07FFFFFFu   /* gc_refs; this value saturates (never decremented: treated as
                                 * held from outside, which only keeps garbage, never frees) */

#define GST_GRAIN_SHIFT 5
#define GST_LEAF_SHIFT 22
#define GST_MID_BITS 14         /* address bits 22..35 */
#define GST_TOP_BITS 12         /* address bits 36..47 */
#define GST_ADDR_BITS 48
/* A leaf's pages are committed a piece at a time: the entries of one 64 KiB piece of the heap
 * (8 KiB, two pages) when pass A first sets an entry there.  64 KiB is mimalloc's page of small
 * objects, so a piece holds objects of one size class: the entries under the pages of non-GC
 * objects (a list's item arrays, strings) are never committed. */
#define GST_PIECE_SHIFT 16
#define GST_PIECES (1u << (GST_LEAF_SHIFT - GST_PIECE_SHIFT))   /* 64 per leaf: one bit each */

typedef struct gst_mid {
    gst_entry *leaf[1u << GST_MID_BITS];
    uint32_t used[1u << GST_MID_BITS];   /* the last full collection that walked a member there */
    uint64_t committed[1u << GST_MID_BITS];   /* per leaf: its pieces whose entries are committed */
} gst_mid;

TALLY_HIDDEN extern gst_mid *_tally_gst_top[1u << GST_TOP_BITS];

#define GST_INDEX_MASK ((1u << (GST_LEAF_SHIFT - GST_GRAIN_SHIFT)) - 1)

/* A pass's memory of the last piece it looked up: `key` is the 64 KiB piece (address >> 16) and
 * `leaf` its leaf, NULL when no leaf covers it or its entries are not committed (then nothing
 * there is a member: an entry is set only after its piece was committed).  The
 * walks meet members in allocation order and a traversal's items mostly lie near each other, so
 * a lookup is nearly always one compare; measured in docs/collector.md.  A negative answer goes
 * stale when that region's leaf gets mapped: every mapping resets the caches of the pass that
 * maps (gc_side_table.c).  Leaves are unmapped only after the passes (_tally_gst_trim). */
typedef struct gst_cache {
    uintptr_t key;
    gst_entry *leaf;
} gst_cache;

#define GST_CACHE_EMPTY ((gst_cache){ UINTPTR_MAX, NULL })   /* no region has this key */

/* The three parts of an address: its middle array's slot in the top array, its leaf's index in
 * that middle array, and its entry in that leaf. */
static inline gst_mid **gst_top_slot(uintptr_t a) { return &_tally_gst_top[a >> (GST_LEAF_SHIFT + GST_MID_BITS)]; }
static inline uint32_t gst_mid_index(uintptr_t a) { return (uint32_t)((a >> GST_LEAF_SHIFT) & ((1u << GST_MID_BITS) - 1)); }
static inline gst_entry *gst_entry_in(gst_entry *leaf, uintptr_t a) { return &leaf[(a >> GST_GRAIN_SHIFT) & GST_INDEX_MASK]; }

/* A lookup that missed the cache: the radix walk, remembered in c.  Out of line: the walks
 * change region once per 4 MiB. */
TALLY_HIDDEN gst_entry *_tally_gst_lookup_miss(gst_cache *c, const void *o);

/* The entry of o, or NULL when no leaf covers o. */
static inline gst_entry *gst_lookup(gst_cache *c, const void *o)
{
    uintptr_t a = (uintptr_t)o;
    if (tally_likely((a >> GST_PIECE_SHIFT) == c->key))
        return c->leaf ? gst_entry_in(c->leaf, a) : NULL;
    return _tally_gst_lookup_miss(c, o);
}

/* Two regions remembered, the most recent first: a traversal that alternates between two
 * regions (a list whose items are a small int in the runtime's static data and an object in the
 * heap: each list of a chain holds both) hits one of them instead of missing every time (the
 * miss is a call and two dependent loads).  A miss replaces the older one. */
typedef struct gst_cache2 {
    gst_cache mru, old;
} gst_cache2;

static inline gst_entry *gst_lookup2(gst_cache2 *c, const void *o)
{
    uintptr_t a = (uintptr_t)o;
    uintptr_t key = a >> GST_PIECE_SHIFT;
    if (tally_likely(key == c->mru.key))
        return c->mru.leaf ? gst_entry_in(c->mru.leaf, a) : NULL;
    if (key == c->old.key)
        return c->old.leaf ? gst_entry_in(c->old.leaf, a) : NULL;
    c->old = c->mru;
    return _tally_gst_lookup_miss(&c->mru, o);
}

#define GST_CACHE2_EMPTY ((gst_cache2){ GST_CACHE_EMPTY, GST_CACHE_EMPTY })

/* Map the leaf that covers o and commit the piece of it that holds o's entry; returns o's entry,
 * or NULL when out of memory or outside 48-bit addresses (the full collection then falls back to
 * the prev-word passes: gc_side_table.c, gc_side_fallback).  The caller resets the caches that may hold a negative answer for o's region. */
TALLY_HIDDEN gst_entry *_tally_gst_map(const void *o);
/* A full collection's walk reached a member in a new 4 MiB region: mark its leaf used. */
TALLY_HIDDEN void _tally_gst_mark_used(const void *o);
/* End of a full collection (every entry 0): unmap the leaves it did not use. */
TALLY_HIDDEN void _tally_gst_trim(void);

static inline gst_entry gst_refs(intptr_t rc)
{
    return rc >= (intptr_t)GST_REFS ? GST_REFS : (gst_entry)rc;
}

#endif
