/* tally/static/thread_id.h - a cheap, inline identity of the calling thread.
 *
 * Owns: _tally_thread_id(), the id the runtime gave the calling thread's current thread state
 * (runtime/thread_state.c, at its first tally_thread_attach): a number from a 64-bit counter,
 * never given to another thread state while the process lives, so it can never name a thread
 * that exited (or released its state) and a thread created later.  The biased backend's owner
 * field (ob_tid) and the lists' and dicts' creator ids hold it.  A thread with no state reads
 * TALLY_THREAD_ID_NONE, which no object names (0 is "unowned", 1 the atomic backend's immortal
 * mark).
 *
 * It used to be the thread pointer (TLS base, as CPython's _Py_ThreadId()), which glibc gives
 * to a new thread that reuses an exited thread's cached stack: the new thread then owned the
 * exited thread's unmerged objects, and their deaths waited in its merge queue (docs/fuzzing.md,
 * Findings).  The read costs the same: one load at a fixed offset from the thread pointer
 * (initial-exec TLS, as the library's own _tally_tstate_tls), plus the offset from the GOT,
 * which the compiler hoists out of loops.
 */
#ifndef TALLY_STATIC_THREAD_ID_H
#define TALLY_STATIC_THREAD_ID_H

#include <stdint.h>

#define TALLY_THREAD_ID_NONE UINTPTR_MAX

#ifdef __cplusplus
extern "C" {
#endif
/* Defined in runtime/thread_state.c; written only by the thread it belongs to. */
extern __thread uintptr_t _tally_thread_id_tls
    __attribute__((tls_model("initial-exec"), visibility("default")));
#ifdef __cplusplus
}
#endif

static inline uintptr_t _tally_thread_id(void)
{
    return _tally_thread_id_tls;
}

#endif
