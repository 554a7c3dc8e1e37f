/* collector/gc_side_table.c - a full collection's trial deletion over an address-indexed table.
 *
 * Owns: _tally_gst_top and the mapping of its middle arrays, leaves and their committed pieces
 * (collector/gc_side_table.h has the layout, the keys and the invariants), and the two passes
 * that use it (_tally_gc_side_update_subtract_refs, _tally_gc_side_move_unreachable) with the
 * arrays they keep between collections.  Collecting thread only, world stopped (or the GIL
 * held): no atomics.
 */
#include "collector/gc_side_table.h"
#include "collector/gc_trial.h"

#include <stdlib.h>
#include <sys/mman.h>
#if defined(__x86_64__) && defined(__SSE2__)
#  include <immintrin.h>
#endif

gst_mid *_tally_gst_top[1u << GST_TOP_BITS];

#define GST_LEAF_BYTES (sizeof(gst_entry) << (GST_LEAF_SHIFT - GST_GRAIN_SHIFT))

/* Every mapped leaf, to trim them: its middle array and index there. */
typedef struct gst_leaf_ref {
    gst_mid *m;
    uint32_t idx;
} gst_leaf_ref;
static gst_leaf_ref *gst_leaves;
static size_t gst_nleaves, gst_leaves_cap;
static uint32_t gst_epoch = 1;   /* this full collection (0 = never used) */

/* Commit a piece of a leaf's entries, writable, before its first use.  Left to demand paging, a
 * page of entries was first read (a lookup: the kernel maps its shared zero page) and then
 * written (a second fault, which allocates and zeroes the page): 2.6 us per page on this
 * session's VM against about 1 us populated with MADV_POPULATE_WRITE (docs/collector.md, "The
 * first full collection of a heap").  A lookup never reads an uncommitted piece (gst_cache), so
 * no page of entries is read before it is written.  Kernels before 5.14 do not know
 * MADV_POPULATE_WRITE: the piece is then paged on demand (correct either way: every page reads 0
 * until written); out of memory while populating leaves it to demand paging too, where it would
 * fail anyway (MAP_NORESERVE). */
#ifndef MADV_POPULATE_WRITE
#  define MADV_POPULATE_WRITE 23
#endif
#define GST_PIECE_ENTRIES ((size_t)1 << (GST_PIECE_SHIFT - GST_GRAIN_SHIFT))

static void gst_commit_piece(gst_entry *leaf, uint32_t piece)
{
    (void)madvise(leaf + (size_t)piece * GST_PIECE_ENTRIES, GST_PIECE_ENTRIES * sizeof(gst_entry), MADV_POPULATE_WRITE);
}

static inline uint32_t gst_piece(uintptr_t a) { return (uint32_t)((a >> GST_PIECE_SHIFT) & (GST_PIECES - 1)); }

/* Fault-injection builds (runtime/internal.h): an mmap/mremap of the side table counts as one
 * allocation point, so that tally_debug_fail_allocation reaches it like the calloc and realloc
 * beside it (the probe goes through the hooked malloc). */
static bool gst_map_fails(void)
{
#if defined(TALLY_FAULT_INJECTION)
    void *probe = malloc(1);
    if (!probe)
        return true;
    free(probe);
#endif
    return false;
}

gst_entry *_tally_gst_map(const void *o)
{
    uintptr_t a = (uintptr_t)o;
    if (a >> GST_ADDR_BITS)
        return NULL;   /* not addressable here: the collection falls back (gc_side_fallback) */
    gst_mid **mp = gst_top_slot(a);
    if (!*mp) {
        *mp = calloc(1, sizeof(gst_mid));
        if (!*mp)
            return NULL;
    }
    uint32_t idx = gst_mid_index(a);
    gst_entry **lp = &(*mp)->leaf[idx];
    if (!*lp) {
        /* Room in the list of leaves first: a leaf mapped but not listed would never be
         * trimmed. */
        if (gst_nleaves == gst_leaves_cap) {
            size_t cap = gst_leaves_cap ? gst_leaves_cap * 2 : 64;
            gst_leaf_ref *n = realloc(gst_leaves, cap * sizeof *n);
            if (!n)
                return NULL;
            gst_leaves = n;
            gst_leaves_cap = cap;
        }
        void *p = gst_map_fails() ? MAP_FAILED
                                  : mmap(NULL, GST_LEAF_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (p == MAP_FAILED)
            return NULL;
        gst_leaves[gst_nleaves++] = (gst_leaf_ref){ *mp, idx };
        *lp = p;
        (*mp)->used[idx] = gst_epoch;   /* mapped for a member: used by this collection */
        (*mp)->committed[idx] = 0;
    }
    uint64_t bit = (uint64_t)1 << gst_piece(a);
    if (!((*mp)->committed[idx] & bit)) {
        gst_commit_piece(*lp, gst_piece(a));
        (*mp)->committed[idx] |= bit;
    }
    return gst_entry_in(*lp, a);
}

/* The leaf that covers address a if a's piece of it is committed, or NULL (then nothing there
 * is a member of W). */
static gst_entry *gst_find_leaf(uintptr_t a)
{
    if (tally_unlikely(a >> GST_ADDR_BITS))
        return NULL;
    gst_mid *m = *gst_top_slot(a);
    if (!m)
        return NULL;
    uint32_t idx = gst_mid_index(a);
    return (m->committed[idx] >> gst_piece(a)) & 1 ? m->leaf[idx] : NULL;
}

gst_entry *_tally_gst_lookup_miss(gst_cache *c, const void *o)
{
    uintptr_t a = (uintptr_t)o;
    c->key = a >> GST_PIECE_SHIFT;
    c->leaf = gst_find_leaf(a);
    return c->leaf ? gst_entry_in(c->leaf, a) : NULL;
}

void _tally_gst_mark_used(const void *o)
{
    uintptr_t a = (uintptr_t)o;
    (*gst_top_slot(a))->used[gst_mid_index(a)] = gst_epoch;
}

void _tally_gst_trim(void)
{
    size_t w = 0;
    for (size_t i = 0; i < gst_nleaves; i++) {
        gst_leaf_ref r = gst_leaves[i];
        if (r.m->used[r.idx] == gst_epoch) {
            gst_leaves[w++] = r;
        } else {
            munmap(r.m->leaf[r.idx], GST_LEAF_BYTES);   /* all 0: nothing to keep */
            r.m->leaf[r.idx] = NULL;
            r.m->committed[r.idx] = 0;
        }
    }
    gst_nleaves = w;
    if (++gst_epoch == 0)
        gst_epoch = 1;   /* 0 never marks a leaf used */
}

/* ---- the passes ------------------------------------------------------------------------------
 * The same trial deletion for a full collection (generation 2, incremental mode off), with each
 * member's gc_refs and flags in the side table (collector/gc_side_table.h) instead of its
 * gc_prev word.  Results are those of update_subtract_refs + move_unreachable: W keeps the
 * reachable objects (links untouched, so their prev pointers never need rebuilding), U gets the
 * unreachable ones exactly as move_unreachable leaves them, reachable tuples go to `tuples`.
 *
 * Pass A walks W from its tail (the youngest objects) to its head: measured faster than from the
 * head on both allocation orders of the benchmark graph (docs/collector.md).  A visit to a
 * member with an entry touches only the table; a visit to a member not walked yet initialises
 * its entry from the header (lazy initialisation, as in update_subtract_refs).  The walk
 * records W in `order`.
 * Pass B is move_unreachable over `order` taken head to tail (list order): an entry with gc_refs
 * > 0 is reachable and cleared (a later visit then sees 0: done); one with 0 is marked TENT
 * (tentatively unreachable) and remembered; a visit from a reachable object gives a member
 * ahead with gc_refs 0 a 1, and takes a TENT member back (its entry gets 1 and it is appended to
 * `order`, to be traversed again).  A member whose traversal met no GC object (LEAF) is not
 * traversed, and its header is not read at all.  At the end the members still TENT are moved to
 * U.  Every entry set is cleared once (s->live counts them; a collection that leaves one set
 * is a collector bug and fatal). */
typedef struct gc_ptr_vec {
    _tally_gc_head **v;
    size_t n, cap;
    size_t ready;        /* entries [0, ready) have their pages committed (ready <= cap) */
} gc_ptr_vec;

typedef struct side_ctx {
    gc_ptr_vec order;    /* W in pass A's walk order, then pass B's take-backs */
    gc_ptr_vec tent;     /* pass B: members found at gc_refs 0 */
    size_t live;         /* entries set and not cleared */
    size_t fwd, back;    /* pass A: references to a younger / an older member (below) */
    bool saw_gc;         /* pass A: the current traversal met a GC object */
    bool oom;            /* pass A: an entry could not be mapped: the collection falls back */
    bool fallback;       /* pass A fell back: pass B is the prev-word move_unreachable */
    gst_cache walk;      /* the walked members' leaf */
    gst_cache2 seen;     /* the leaves of the objects the current traversal visits */
} side_ctx;

/* Kept between collections (one collection at a time): no allocation per collection. */
static side_ctx gc_side;

/* The two arrays live on their own anonymous mappings and grow with mremap: the kernel moves
 * the pages already written instead of a copy into freshly faulted memory, so an array of n
 * entries costs the page faults of n entries once, not of 2n plus a copy of n (mi_realloc's
 * doubling did that).  Their pages are committed ahead of the writes, 1 MiB at a time, with one
 * MADV_POPULATE_WRITE each (about 0.9-1.1 us per page on this session's VM against 1.35 us per
 * page faulted on a write: docs/collector.md, "The first full collection of a heap"); `ready` is
 * how far, and it stays there across collections as long as the mapping does.  Kernels without
 * MADV_POPULATE_WRITE (before 5.14) fault the pages on demand instead.  Growing the mapping can
 * fail (out of address space or memory): pass A then falls back (gc_side_fallback), and before
 * pass B it reserves all that pass B can push, so pass B never grows a mapping. */
#define PTR_VEC_FIRST 4096                            /* entries: 32 KiB */
#define PTR_VEC_CHUNK ((size_t)1 << 17)               /* entries committed at a time: 1 MiB */

/* Make v's mapping hold at least `need` entries (nothing committed); false when out of memory
 * (v unchanged). */
static bool ptr_vec_reserve(gc_ptr_vec *v, size_t need)
{
    if (need <= v->cap)
        return true;
    size_t cap = v->cap ? v->cap : PTR_VEC_FIRST;
    while (cap < need)
        cap *= 2;
    void *p = gst_map_fails() ? MAP_FAILED
            : v->v ? mremap(v->v, v->cap * sizeof *v->v, cap * sizeof *v->v, MREMAP_MAYMOVE)
                   : mmap(NULL, cap * sizeof *v->v, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED)
        return false;
    v->v = p;
    v->cap = cap;
    return true;
}

/* Commit the next chunk of v (growing the mapping when it is all committed); false when out of
 * memory. */
static bool ptr_vec_extend(gc_ptr_vec *v)
{
    if (v->ready == v->cap && !ptr_vec_reserve(v, v->cap ? v->cap * 2 : PTR_VEC_FIRST))
        return false;
    size_t k = v->cap - v->ready < PTR_VEC_CHUNK ? v->cap - v->ready : PTR_VEC_CHUNK;
    (void)madvise(v->v + v->ready, k * sizeof *v->v, MADV_POPULATE_WRITE);   /* a hint: see above */
    v->ready += k;
    return true;
}

/* Empty v for the next collection; an array more than 4 times larger than this collection
 * needed (the heap shrank) is given back rather than kept at its peak. */
static void ptr_vec_reset(gc_ptr_vec *v)
{
    if (v->cap > 65536 && v->cap / 4 > v->n) {
        munmap(v->v, v->cap * sizeof *v->v);
        v->v = NULL;
        v->cap = v->ready = 0;
    }
    v->n = 0;
}

static inline bool ptr_vec_make_room(gc_ptr_vec *v)
{
    return tally_likely(v->n < v->ready) || ptr_vec_extend(v);
}

/* Pass B only: its room was reserved at the end of pass A (side_reserve_pass_b), so the extend
 * commits pages and never grows a mapping. */
static inline void ptr_vec_push(gc_ptr_vec *v, _tally_gc_head *g)
{
    TALLY_ASSERT(v->n < v->cap);
    bool ok = ptr_vec_make_room(v);
    TALLY_ASSERT(ok);
    (void)ok;
    v->v[v->n++] = g;
}

/* A slot of `order` written by pass A: the member's address (16-byte aligned), with ORDER_LEAF
 * in bit 0 when its traversal met no GC object. */
#define ORDER_LEAF ((uintptr_t)1)

/* Pass A writes W's order once and pass B reads it back after the walk has streamed the whole
 * working set through the caches: a streaming store skips reading each line of the array
 * before writing it (0.4-0.6 ns/object less on the 1M-list full collection, docs/collector.md).
 * Only the collecting thread reads the array, and its own loads see its streaming stores; the
 * fence orders them before anything after the pass all the same. */
static inline bool order_push(gc_ptr_vec *v, _tally_gc_head *g)
{
    if (tally_unlikely(!ptr_vec_make_room(v)))
        return false;
#if defined(__x86_64__) && defined(__SSE2__)
    _mm_stream_si64((long long *)&v->v[v->n++], (long long)(uintptr_t)g);
#else
    v->v[v->n++] = g;
#endif
    return true;
}

static inline void order_push_done(void)
{
#if defined(__x86_64__) && defined(__SSE2__)
    _mm_sfence();
#endif
}

/* Pass A needs o's entry set: map its leaf, which makes any cached "no leaf here" stale.  NULL
 * when out of memory: s->oom is set, and the rest of pass A only looks (see gc_side_fallback). */
static gst_entry *side_map(side_ctx *s, const void *o)
{
    s->walk = GST_CACHE_EMPTY;
    s->seen = GST_CACHE2_EMPTY;
    gst_entry *e = _tally_gst_map(o);
    if (tally_unlikely(!e))
        s->oom = true;
    return e;
}

static inline int visit_side_decref(tally_object *o, void *arg)
{
    side_ctx *s = arg;
    if (!o)
        return 0;
    gst_entry *e = gst_lookup2(&s->seen, o);
    if (e) {
        gst_entry v = *e;
        if (v & GST_W) {
            s->saw_gc = true;
            if (v & GST_WALKED)
                s->fwd++;    /* walked already: younger than the referrer */
            else
                s->back++;   /* initialised by an earlier visit: older */
            gst_entry r = v & GST_REFS;
            if (tally_likely(r && r != GST_REFS))
                *e = v - 1;
            else if (!r)
                _tally_misuse(o, "cycle collector: refcount is too small (traverse visits more references than the count holds)");
            return 0;
        }
    }
    if (!_TALLY_IS_GC(o))
        return 0;
    s->saw_gc = true;
    intptr_t rc;
    if ((gc_bits(o) & (TALLY_GC_BIT_TRACKED | TALLY_GC_BIT_FROZEN)) == TALLY_GC_BIT_TRACKED && gc_is_candidate(o, &rc)) {
        if (!e && (s->oom || !(e = side_map(s, o))))
            return 0;   /* out of memory: pass A gives up after this traversal */
        *e = GST_W | gst_refs(rc - 1);   /* rc >= 1: this reference is one of them */
        s->live++;
        s->back++;   /* not walked yet: older than the referrer */
    }
    return 0;
}

/* Out of memory in pass A (a leaf, a middle array, the list of leaves, `order`, or pass B's
 * reservation): the full collection goes on with the prev-word passes of collector/gc_trial.c,
 * which allocate nothing, instead of failing.  Nothing is lost: pass A changed no header but the
 * young tags of gc_next (collector-owned; the prev-word walk rewrites every gc_next anyway) and
 * the links of the non-candidates it moved out of W (the prev-word walk would move them too);
 * every entry it set belongs to a member of W, still linked there, so one walk over W clears
 * them all.  The result is the same W and U (trial deletion does not depend on where gc_refs is
 * kept); only the speed of this collection differs.  gc_side.fallback tells pass B. */
static void gc_side_fallback(pass_ctx *c, side_ctx *s)
{
    _tally_gc_head *w = c->work;
    s->walk = GST_CACHE_EMPTY;
    for (_tally_gc_head *g = gc_next(w); g != w; g = gc_next(g)) {
        gst_entry *e = gst_lookup(&s->walk, _TALLY_FROM_GC(g));   /* NULL: no leaf, no entry */
        if (e && *e) {
            *e = 0;
            s->live--;
        }
    }
    if (s->live != 0)
        _tally_fatal("cycle collector: %zu side-table entries left set after falling back", s->live);
    s->oom = false;
    s->fallback = true;
    s->order.n = 0;
    s->tent.n = 0;
    _tally_gc_update_subtract_refs(c, false);
}

void _tally_gc_side_update_subtract_refs(pass_ctx *c)
{
    TALLY_ASSERT(_tally_world_is_stopped());   /* by this thread (or it holds the GIL) */
    side_ctx *s = &gc_side;
    s->walk = GST_CACHE_EMPTY;
    s->seen = GST_CACHE2_EMPTY;
    s->fwd = s->back = 0;
    s->oom = false;
    s->fallback = false;
    gc_ptr_vec order = s->order;   /* in registers: the traversals do not use it */
    uint64_t candidates = 0;
    _tally_gc_head *w = c->work;
    _tally_gc_head *g = gc_prev(w);
    while (g != w) {
        _tally_gc_head *prev = gc_prev(g);
        GC_PREFETCH(prev);
        tally_object *o = _TALLY_FROM_GC(g);
        uintptr_t key = s->walk.key;
        gst_entry *e = gst_lookup(&s->walk, o);
        if (tally_unlikely(s->walk.key != key)) {   /* a new 64 KiB piece (or the first) */
            if (!e && !(e = side_map(s, o)))
                break;   /* out of memory: fall back (below) */
            _tally_gst_mark_used(o);
        }
        gst_entry v = *e;
        if (!(v & GST_W)) {
            intptr_t rc;
            if (tally_unlikely(!gc_is_candidate(o, &rc))) {
                gc_list_unlink(g);
                exclude_unlinked(c, g, o);
                g = prev;
                continue;
            }
            v = GST_W | gst_refs(rc);
            s->live++;
        } else if (tally_unlikely(v & GST_WALKED)) {
            /* The walk came round to a member again: W's links form a loop that misses its
             * head (a freed object still linked, from refcounts broken by a race).  Stop here
             * instead of walking (and growing `order`) forever. */
            _tally_fatal("cycle collector: the list of the objects being collected is broken: "
                         "%s object %p reached twice in one walk (freed while still tracked?)",
                         o->ob_type->name, (void *)o);
        }
        if (o->ob_type == &tally_tuple_type)
            v |= GST_TUPLE;
        *e = v | GST_WALKED;   /* before the traversal: a reference o holds to itself decrements it */
        uintptr_t next_word = gc_ld(&g->gc_next);
        if (next_word & GC_TAG_MASK)
            gc_st(&g->gc_next, next_word & GC_PTR_MASK);   /* a young object's tag: collector-owned */
        candidates++;
        s->saw_gc = false;
        GC_TRAVERSE(o, visit_side_decref, s);
        if (!s->saw_gc)
            *e |= GST_LEAF;
        /* Bit 0 of the slot: LEAF, for pass B's prefetch (it reads no header of a LEAF member). */
        if (tally_unlikely(s->oom) ||
            !order_push(&order, (_tally_gc_head *)((uintptr_t)g | (s->saw_gc ? 0 : ORDER_LEAF)))) {
            s->oom = true;
            break;
        }
        g = prev;
    }
    order_push_done();
    s->order = order;
    /* Pass B pushes at most one take-back per member onto `order` and one entry per member
     * onto `tent`: reserve that now, so that running out of memory is found here. */
    if (tally_unlikely(s->oom) || !ptr_vec_reserve(&s->order, 2 * s->order.n) ||
        !ptr_vec_reserve(&s->tent, s->order.n)) {
        gc_side_fallback(c, s);
        return;
    }
    c->candidates += candidates;
}

static inline int visit_side_reachable(tally_object *o, void *arg)
{
    side_ctx *s = arg;
    if (!o)
        return 0;
    gst_entry *e = gst_lookup2(&s->seen, o);
    if (!e)
        return 0;
    gst_entry v = *e;
    if (!(v & GST_W))
        return 0;   /* not a member, or already found reachable */
    if (v & GST_TENT) {
        *e = (v & ~(GST_TENT | GST_REFS)) | 1;   /* behind us after all: traverse it again */
        ptr_vec_push(&s->order, _TALLY_AS_GC(o));
    } else if (!(v & GST_REFS)) {
        *e = v | 1;   /* ahead: reachable */
    }
    return 0;
}

#define PASS_B_AHEAD 16   /* members: the header prefetched ahead of the walk */

size_t _tally_gc_side_move_unreachable(mu_ctx *c, _tally_gc_head *u, _tally_gc_head *tuples)
{
    TALLY_ASSERT(_tally_world_is_stopped());   /* by this thread (or it holds the GIL) */
    side_ctx *s = &gc_side;
    if (tally_unlikely(s->fallback)) {
        /* Pass A ran out of memory and ran the prev-word passes instead: their pass B. */
        s->fallback = false;
        _tally_gst_trim();
        ptr_vec_reset(&s->order);
        ptr_vec_reset(&s->tent);
        return _tally_gc_move_unreachable(c, u, tuples);
    }
    s->walk = GST_CACHE_EMPTY;   /* pass B maps nothing: every member's leaf exists */
    s->seen = GST_CACHE2_EMPTY;
    size_t walked = s->order.n;
    size_t reachable = 0;
    /* The walk's direction: the one in which most references point ahead (pass A counted
     * them), so that a referent is mostly found reachable before the walk reaches it instead of
     * being set aside at gc_refs 0 and taken back later.  Oldest first (CPython's list order)
     * suits a holder made before its items; youngest first suits a chain in which each object
     * holds an older one (measured in docs/collector.md).  The result does not depend on it:
     * trial deletion keeps exactly what is reachable from the members with gc_refs > 0. */
    bool youngest_first = s->back > s->fwd;
    for (size_t k = 0; k < s->order.n; k++) {
        /* List order is pass A's order reversed; take-backs follow in the order found. */
        size_t at = k >= walked ? k : youngest_first ? k : walked - 1 - k;
        if (tally_likely(k + PASS_B_AHEAD < walked)) {
            /* The header of a member the walk will traverse soon: the walk runs over `order`, not
             * the links, so the hardware cannot guess the next header (a chain of 1M lists:
             * pass B 15-16 -> 11-12 ns/object, docs/collector.md).  LEAF members are not read. */
            uintptr_t ahead = (uintptr_t)s->order.v[youngest_first ? k + PASS_B_AHEAD : walked - 1 - k - PASS_B_AHEAD];
            if (!(ahead & ORDER_LEAF))
                __builtin_prefetch((const void *)ahead, 0, 3);
        }
        _tally_gc_head *g = (_tally_gc_head *)((uintptr_t)s->order.v[at] & ~ORDER_LEAF);
        tally_object *o = _TALLY_FROM_GC(g);
        gst_entry *e = gst_lookup(&s->walk, o);
        gst_entry v = *e;
        if (v & GST_REFS) {
            *e = 0;
            s->live--;
            reachable++;
            if (!(v & GST_LEAF))
                GC_TRAVERSE(o, visit_side_reachable, s);
            if ((v & GST_TUPLE) && tuples) {
                gc_list_unlink(g);
                gc_list_append(g, tuples);
            }
        } else if (v & GST_W) {
            *e = v | GST_TENT;
            ptr_vec_push(&s->tent, g);
        }
    }
    /* U gets the members left TENT in list order (oldest first), whichever way the walk went. */
    for (size_t i = 0; i < s->tent.n; i++) {
        _tally_gc_head *g = s->tent.v[youngest_first ? s->tent.n - 1 - i : i];
        tally_object *o = _TALLY_FROM_GC(g);
        gst_entry *e = gst_lookup(&s->walk, o);
        if (!(*e & GST_TENT))
            continue;   /* taken back and found reachable: already cleared */
        *e = 0;
        s->live--;
        gc_list_unlink(g);
        gc_append_unreachable(c, g, u);
    }
    if (tally_unlikely(s->live != 0))
        _tally_fatal("cycle collector: %zu side-table entries left set after a full collection", s->live);
    _tally_gst_trim();
    ptr_vec_reset(&s->order);
    ptr_vec_reset(&s->tent);
    return reachable;
}
