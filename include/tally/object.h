/* tally/object.h - the object header, the type descriptor and the refcount entry points.
 *
 * Owns: the memory layout every backend shares (so a user struct compiled once works with
 * every libtally-<backend>), the type slots, and the selection of the inline refcount fast
 * path.  The fast path is chosen at compile time by the TALLY_BACKEND_<NAME> macro that the
 * pkg-config file and the CMake target of each backend define; without one the calls go to
 * the exported functions of whichever library is linked (a direct call, never an indirect one).
 *
 * Object header (64-bit, 32 bytes; GC objects carry a 16-byte tally_gc_head before it):
 *
 *     offset  field           gil / racy      atomic         biased               deferred
 *     0       ob_tid          0               immortal mark  owner thread id      0 (list: creator)
 *     8       ob_ref_local    count           atomic count   owner-only count     reconciled count
 *     12      ob_mutex        -               per-object lock (containers)
 *     13      ob_gc_bits      TRACKED FINALIZED ... (see TALLY_GC_BIT_*)
 *     14      ob_flags        object flags (TALLY_OBF_*)
 *     16      ob_ref_shared   0               0 (list: creator) shared<<2 | state  QUEUED / DYING
 *     24      ob_type
 *
 * A list's creator id (free-threaded backends) sits in the word its backend leaves free
 * (runtime/seq_layout.h); biased lists use ob_tid, which already holds it.
 *
 * Immortality is one rule in every backend: ob_ref_local == TALLY_IMMORTAL_REFCNT.  It is
 * sticky (nothing ever lowers it) and saturating (a count that climbs to it stays there), and
 * every fast path tests it before writing, so immortal objects are never written by refcounting.
 * The atomic backend also marks ob_tid (TALLY_ATOMIC_IMMORTAL_MARK) and its fast path tests that
 * mark instead of the count (tally/static/rc_atomic.h).
 */
#ifndef TALLY_OBJECT_H
#define TALLY_OBJECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <tally/atomic.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#  define TALLY_API
#else
#  define TALLY_API __attribute__((visibility("default")))
#endif

typedef struct tally_object tally_object;
typedef struct tally_type tally_type;

struct tally_object {
    uintptr_t ob_tid;            /* biased: owner thread id (0 = unowned) */
    uint32_t ob_ref_local;       /* see table above; TALLY_IMMORTAL_REFCNT = immortal */
    uint8_t ob_mutex;            /* per-object lock byte (free-threaded backends) */
    uint8_t ob_gc_bits;          /* TALLY_GC_BIT_*; changed with atomic or/and or world stopped */
    uint16_t ob_flags;           /* TALLY_OBF_*; set at creation */
    intptr_t ob_ref_shared;      /* biased: shared count << 2 | state bits */
    const tally_type *ob_type;
};

/* User structs start with this. */
#define TALLY_OBJECT_HEAD tally_object ob_base

#define TALLY_IMMORTAL_REFCNT UINT32_MAX
/* The count a destroyed object keeps while debug mode holds it back from the allocator
 * (runtime/quarantine.c): far from 0 and from immortal, so an operation too many neither frees
 * it again nor passes unseen.  _TALLY_REFCNT_IS_DEAD: within 64Ki operations of it. */
#define TALLY_DEAD_REFCNT 0xDEAD0000u
#define _TALLY_REFCNT_IS_DEAD(n) ((uint32_t)((uint32_t)(n) - (TALLY_DEAD_REFCNT - 0x10000u)) < 0x20000u)
/* atomic backend only: ob_tid of an immortal object (tally/static/rc_atomic.h says why) */
#define TALLY_ATOMIC_IMMORTAL_MARK ((uintptr_t)1)

/* ob_gc_bits */
#define TALLY_GC_BIT_TRACKED     0x01u  /* in a collector list */
#define TALLY_GC_BIT_FINALIZED   0x02u  /* PEP 442 finalize has run (GC objects) */
#define TALLY_GC_BIT_UNREACHABLE 0x04u  /* collector scratch: in the unreachable set */
#define TALLY_GC_BIT_FROZEN      0x08u  /* in the permanent generation */
#define TALLY_GC_BIT_SHARED      0x10u  /* seen by another thread: free through QSBR */
#define TALLY_GC_BIT_WEAKREFS    0x20u  /* has (or had) weak references */
#define TALLY_GC_BIT_COLLECTING  0x40u  /* collector scratch: in the generation being collected */
#define TALLY_GC_BIT_DEALLOCATING 0x80u /* inside its deallocation */

/* ob_flags */
#define TALLY_OBF_GC         0x0001u   /* has a tally_gc_head (type has TALLY_TYPE_GC) */
#define TALLY_OBF_STATIC     0x0002u   /* statically allocated (never freed) */

typedef int (*tally_visitproc)(tally_object *o, void *arg);

/* Type flags */
#define TALLY_TYPE_GC        0x0001u   /* instances are containers tracked by the collector */

struct tally_type {
    const char *name;
    size_t size;            /* whole instance size, at least sizeof(tally_object) */
    unsigned flags;
    int (*traverse)(tally_object *self, tally_visitproc visit, void *arg);
    int (*clear)(tally_object *self);       /* drop references, to break cycles */
    void (*finalize)(tally_object *self);   /* PEP 442; may resurrect */
    void (*del)(tally_object *self);        /* legacy finalizer */
    void (*destroy)(tally_object *self);    /* release references and resources */
};

/* ---- object life ------------------------------------------------------------------------- */
TALLY_API tally_object *tally_new(const tally_type *t);
TALLY_API const tally_type *tally_type_of(tally_object *o);
TALLY_API tally_object *tally_none(void);
TALLY_API void tally_set_immortal(tally_object *o);
TALLY_API bool tally_is_immortal(tally_object *o);
TALLY_API intptr_t tally_refcount(tally_object *o);
TALLY_API void tally_flush(void);

/* ---- refcounting: exported entry points (always present in every library) ------------------ */
TALLY_API void tally_incref(tally_object *o);
TALLY_API void tally_decref(tally_object *o);
TALLY_API void tally_xincref(tally_object *o);
TALLY_API void tally_xdecref(tally_object *o);
TALLY_API tally_object *tally_newref(tally_object *o);

/* Slow paths the inline fast paths call.  Internal: do not call directly. */
TALLY_API void _tally_dealloc(tally_object *o);
TALLY_API void _tally_refcount_error(tally_object *o, const char *what);
TALLY_API void _tally_refcount_dead_error(tally_object *o, const char *what);   /* quarantined */

/* ---- inline fast paths ------------------------------------------------------------------- */
/* tally/backends.h (generated from the build's list of backends, CMakeLists.txt) includes
 * tally/static/rc_<name>.h for the TALLY_BACKEND_<NAME> that is defined, if any, and names
 * TALLY_COMPILED_BACKEND and _TALLY_LINKED_BACKEND for it.
 *
 * Link-time backend check.  A program compiled with TALLY_BACKEND_<NAME> inlines that backend's
 * fast path, which is wrong (a crash, or the wrong algorithm run silently) against any other
 * library.  So every translation unit that includes this header references the data symbol
 * tally_linked_backend_<name>, which only libtally-<name> defines: linking it against another
 * backend's library fails with "undefined reference to `tally_linked_backend_<name>'".  A
 * program compiled without a backend macro calls the exported entry points and links to any. */
#include <tally/backends.h>
#if defined(_TALLY_LINKED_BACKEND)
TALLY_API extern const char _TALLY_LINKED_BACKEND;
static const char *const _tally_linked_backend_ref __attribute__((used)) = &_TALLY_LINKED_BACKEND;
#endif

#if defined(TALLY_HAVE_INLINE_REFCOUNT) && !defined(TALLY_NO_INLINE_REFCOUNT)
#  define tally_incref(o)  _tally_incref_fast(o)
#  define tally_decref(o)  _tally_decref_fast(o)
#  define tally_xincref(o) do { tally_object *_tx = (o); if (_tx) _tally_incref_fast(_tx); } while (0)
#  define tally_xdecref(o) do { tally_object *_tx = (o); if (_tx) _tally_decref_fast(_tx); } while (0)
static inline tally_object *_tally_newref_fast(tally_object *o) { _tally_incref_fast(o); return o; }
#  define tally_newref(o)  _tally_newref_fast(o)
#endif

#ifdef __cplusplus
}
#endif
#endif /* TALLY_OBJECT_H */
