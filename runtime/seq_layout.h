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

typedef struct tally_list {
    TALLY_OBJECT_HEAD;
    uintptr_t owner;            /* _tally_thread_id() of the creating thread */
    size_t size;                /* written under the lock (release); read lock-free (acquire) */
    list_array *arr;            /* NULL while the capacity is 0; same discipline as size */
} tally_list;

#define TUPLE_INLINE 3

typedef struct tally_tuple {
    TALLY_OBJECT_HEAD;
    size_t n;
    tally_object **items;          /* == inline_items when n <= TUPLE_INLINE */
    tally_object *inline_items[TUPLE_INLINE];
} tally_tuple;

#endif
