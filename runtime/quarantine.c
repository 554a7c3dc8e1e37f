/* runtime/quarantine.c - debug mode: destroyed objects are kept, poisoned, before they are freed.
 *
 * Owns: with debug checks on (debug builds, tally_options.debug = 1 or TALLY_DEBUG=1), what
 * _tally_object_free does with a destroyed object.  Instead of freeing it at once, it poisons the
 * header and keeps the object in a ring of the last QUARANTINE_SLOTS destroyed objects:
 *  - count TALLY_DEAD_REFCNT: no backend's decrement reaches zero from there, so one decref too
 *    many cannot destroy the object a second time, nor (since the memory is not reused yet)
 *    destroy another object that now lives at that address;
 *  - no owner (biased: every operation then takes the library's shared path, which checks) and
 *    no immortal mark (atomic); every backend's try-incref refuses it (a lock-free reader may
 *    still find it until the grace period ends, as it may find any dead object);
 *  - the type pointer is kept, so that a report can name it.
 * A decref or incref of a quarantined object is reported as misuse (an abort naming the type and
 * the address) where the library sees it: the exported tally_incref/tally_decref, biased's
 * shared path, deferred's log application, and the inline fast paths of a program compiled with
 * TALLY_DEBUG.  An inline operation of any other program is found when the object leaves the
 * ring or at tally_fini: its count no longer reads TALLY_DEAD_REFCNT.
 * Off (the default in release builds) it costs one predictable branch per free.
 *
 * Concurrency: the ring is guarded by a mutex (a debug path).  An object enters it after its
 * destroy, when no thread holds a reference (a thread that still uses it is the misuse being
 * caught); it leaves through the backend's usual free (QSBR-delayed where lock-free readers may
 * still look at the header), or at tally_fini, when no other thread is attached.
 */
#include "runtime/internal.h"

#include <mimalloc.h>
#include <stdlib.h>

#define QUARANTINE_SLOTS 4096
#define DEAD_SHARED TALLY_RC_DEAD_SHARED   /* biased: MERGED (count 0), else 0 */

static struct {
    pthread_mutex_t mu;
    tally_object *ring[QUARANTINE_SLOTS];
    size_t next;   /* the slot the next object takes (its previous occupant leaves) */
} q = { .mu = PTHREAD_MUTEX_INITIALIZER };

static void poison(tally_object *o)
{
    tally_atomic_store_relaxed(&o->ob_tid, (uintptr_t)0);
    tally_atomic_store_relaxed(&o->ob_ref_local, TALLY_DEAD_REFCNT);
    /* biased: MERGED|0, the word of a dead unowned object, which every try-incref refuses (a
     * reader may still look at it until the grace period ends: it must not revive it); the
     * other backends' try-incref refuse the dead count.  deferred: no RC_* flags. */
    tally_atomic_store_relaxed(&o->ob_ref_shared, DEAD_SHARED);
}

static bool still_poisoned(tally_object *o)
{
    return tally_atomic_load_relaxed(&o->ob_ref_local) == TALLY_DEAD_REFCNT &&
           tally_atomic_load_relaxed(&o->ob_ref_shared) == DEAD_SHARED;
}

static void check_and_free(tally_object *o, bool at_fini)
{
    if (!still_poisoned(o))
        _tally_misuse(o, "incref or decref of an object that was already destroyed (its count moved "
                         "from the poisoned %#x to %#x after its destroy)",
                      TALLY_DEAD_REFCNT, tally_atomic_load_relaxed(&o->ob_ref_local));
    if (at_fini)
        mi_free(_TALLY_IS_GC(o) ? (void *)_TALLY_AS_GC(o) : (void *)o);
    else
        _tally_object_release_memory(o);
}

void _tally_quarantine_put(tally_object *o)
{
    poison(o);
    pthread_mutex_lock(&q.mu);
    tally_object *old = q.ring[q.next];
    q.ring[q.next] = o;
    q.next = (q.next + 1) % QUARANTINE_SLOTS;
    pthread_mutex_unlock(&q.mu);
    if (old)
        check_and_free(old, false);
}

void _tally_quarantine_drain(void)
{
    pthread_mutex_lock(&q.mu);
    for (size_t i = 0; i < QUARANTINE_SLOTS; i++) {
        tally_object *o = q.ring[i];
        q.ring[i] = NULL;
        if (o)
            check_and_free(o, true);
    }
    q.next = 0;
    pthread_mutex_unlock(&q.mu);
}

void _tally_refcount_dead_error(tally_object *o, const char *what)
{
    _tally_misuse(o, "%s of an object that was already destroyed (debug mode keeps destroyed "
                     "objects poisoned for a while to catch this)", what);
}
