/* runtime/rc_biased_queue.h - the biased backend's merge queues (private to
 * runtime/rc_biased_queue.c and runtime/rc_biased.c, the two files of the backend).
 *
 * Owns: the interface between the refcount arithmetic (runtime/rc_biased.c) and the queues that
 * carry objects from the thread whose shared-count decrement would go below zero to the
 * object's owner (runtime/rc_biased_queue.c).  See docs/backend-biased.md.
 */
#ifndef TALLY_RUNTIME_RC_BIASED_QUEUE_H
#define TALLY_RUNTIME_RC_BIASED_QUEUE_H

#include "runtime/internal.h"

/* ---- provided by runtime/rc_biased.c ---------------------------------------------------------- */
/* Fold ob_ref_local (plus `extra`) into the shared count, set the owner to 0 and the state to
 * MERGED; returns the new total.  The caller is the owner, or the owner cannot run Tally code
 * (exited, detached and excluded by its queue lock, parked by a stop-the-world, fork child).
 * Immortal objects are left alone (returns 1). */
TALLY_HIDDEN intptr_t _tally_biased_explicit_merge(tally_object *o, intptr_t extra);
/* A queuer that set QUEUED found ob_tid == 0 (the owner's zero path is merging o, and marks the
 * queue's reference with the in-queue bit): wait for that merge, then drop the queue's reference
 * and the bit together.  True when o is dead (the caller frees it). */
TALLY_HIDDEN bool _tally_biased_drop_unqueued(tally_object *o);

/* ---- provided by runtime/rc_biased_queue.c ------------------------------------------------ */
TALLY_HIDDEN void _tally_brc_init(void);
TALLY_HIDDEN void _tally_brc_fini(void);
/* Register the calling thread (ts->tid) as an owner that objects can be queued to. */
TALLY_HIDDEN int _tally_brc_thread_add(tally_thread_state *ts);
/* Thread exit: merge the queue until it stays empty, then unregister; queuers merge directly
 * from then on. */
TALLY_HIDDEN void _tally_brc_thread_remove(tally_thread_state *ts);
/* The owner attaches / detaches: while detached, queuers merge on its behalf. */
TALLY_HIDDEN void _tally_brc_set_attached(tally_thread_state *ts, bool attached);
/* A non-owner set QUEUED on o: hand o (and the reference the QUEUED transition kept) to its
 * owner, or merge it here when the owner is gone or detached. */
TALLY_HIDDEN void _tally_brc_queue_object(tally_object *o);
/* The owner merges everything queued to it (TALLY_BREAK_MERGE) and frees what died. */
TALLY_HIDDEN void _tally_brc_merge_own(tally_thread_state *ts);
/* World stopped: merge every queue; objects whose count would reach zero keep one reference and
 * are kept for _tally_brc_release_kept(), which runs after the world restarts. */
TALLY_HIDDEN void _tally_brc_merge_all_stopped(void);
TALLY_HIDDEN void _tally_brc_release_kept(void);
/* Objects waiting in some queue or on the kept list (relaxed; a hint for tally_flush). */
TALLY_HIDDEN bool _tally_brc_anything_pending(void);
TALLY_HIDDEN bool _tally_brc_own_pending(tally_thread_state *ts);
TALLY_HIDDEN void _tally_brc_fork_child(void);

#endif
