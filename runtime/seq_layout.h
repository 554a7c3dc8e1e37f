/* runtime/seq_layout.h - the memory layout of lists and tuples.
 *
 * Owns: struct tally_list / list_array and struct tally_tuple, shared by their implementation
 * files (runtime/list.c, runtime/tuple.c; the protocols live there) and the collector, whose
 * passes walk the items of these two types inline instead of through the traverse slot
 * (collector/gc_traverse.h).  Nothing outside runtime/ and collector/ includes it.
 */
#ifndef TALLY_RUNTIME_SEQ_LAYOUT_H
#define TALLY_RUNTIME_SEQ_LAYOUT_H

#include "runtime/internal.h"

/* A list's item array carries its own capacity, so a lock-free reader that loaded an array
 * pointer always knows that array's bounds (runtime/list.c). */
typedef struct list_array {
    size_t cap;                 /* immutable once published */
    tally_object *items[];      /* atomic pointers in free-threaded builds */
} list_array;

/* 64 bytes with the GC pre-header: one cache line and mimalloc's 64-byte class (the creator's
 * id used to be a field of its own, which made it 80 and two lines). */
typedef struct tally_list {
    TALLY_OBJECT_HEAD;
    size_t size;                /* written under the lock (release); read lock-free (acquire) */
    list_array *arr;            /* NULL while the capacity is 0; same discipline as size */
} tally_list;

/* The creating thread of a list (_tally_thread_id(); runtime/list.c's sharing protocol) lives in
 * a header word that the backend leaves to it: ob_tid, which `biased` already sets to that very
 * thread (and clears when the list's counts merge) and `deferred` does not use; in `atomic`,
 * whose ob_tid is the immortal mark, ob_ref_shared, which that backend does not use.  The value
 * only ever goes from the creator's id to 0 (biased merge), never to another thread's id, and
 * that is all the protocol needs: a thread that reads itself as the owner is the creator, and
 * anyone else (the creator too, after a merge) takes the shared path, which is always safe.
 * Read and written with relaxed atomics (biased merges write ob_tid concurrently). */
#if defined(TALLY_FREE_THREADED)
static inline uintptr_t *_tally_list_owner_word(tally_list *l)
{
    /* TALLY_RC_LIST_OWNER_FIELD: ob_tid, or the word the backend leaves free (atomic) */
    return (uintptr_t *)(void *)&l->ob_base.TALLY_RC_LIST_OWNER_FIELD;
}
static inline uintptr_t _tally_list_owner(tally_list *l) { return tally_atomic_load_relaxed(_tally_list_owner_word(l)); }
#endif

#define TUPLE_INLINE 3

typedef struct tally_tuple {
    TALLY_OBJECT_HEAD;
    size_t n;
    tally_object **items;          /* == inline_items when n <= TUPLE_INLINE */
    tally_object *inline_items[TUPLE_INLINE];
} tally_tuple;

#endif
