/* tally/static/thread_id.h - a cheap, inline identity of the calling thread.
 *
 * Owns: _tally_thread_id(), the thread pointer (TLS base) of the calling thread, as CPython's
 * _Py_ThreadId() and mimalloc's _mi_prim_thread_id() read it.  It is unique among live threads;
 * an id may be reused after a thread exits (the biased backend's docs say why that is safe).
 */
#ifndef TALLY_STATIC_THREAD_ID_H
#define TALLY_STATIC_THREAD_ID_H

#include <stdint.h>
#if !(defined(__x86_64__) || defined(__aarch64__))
#  include <pthread.h>
#endif

static inline uintptr_t _tally_thread_id(void)
{
    uintptr_t tid;
#if defined(__x86_64__)
    __asm__("movq %%fs:0, %0" : "=r"(tid));
#elif defined(__aarch64__)
    __asm__("mrs %0, tpidr_el0" : "=r"(tid));
#else
    tid = (uintptr_t)pthread_self();
#endif
    return tid;
}

#endif
