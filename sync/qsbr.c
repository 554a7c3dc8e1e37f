/* sync/qsbr.c - quiescent-state-based reclamation for the free-threaded backends, on liburcu's
 * QSBR flavour (urcu-qsbr).
 *
 * Owns: registering attached threads with urcu-qsbr, taking them offline while detached,
 * reporting a quiescent state at each safepoint, and delayed frees (_tally_free_delayed).
 *
 * Contract (the liburcu QSBR flavour's own rule, repeated here as the docs ask): a thread must be
 * registered before it reads RCU-protected data; tally_thread_attach() registers it, so every
 * attached thread may read shared containers lock-free.  Between two safepoints an attached
 * thread is inside one long read-side critical section.  A detached thread is offline and never
 * holds back a grace period.
 *
 * Delayed frees: pointers are collected per thread in batches; a full batch is handed to
 * call_rcu (urcu_qsbr_call_rcu), whose worker mi_free()s the batch after a grace period, i.e. after every
 * online thread has passed a safepoint (or gone offline) since the batch was queued.  Pairing:
 * the grace-period machinery of urcu-qsbr orders a reader's last access (before its quiescent
 * state, which has a full barrier) before the free in the callback.
 *
 * gil and racy: nothing is read lock-free, so memory is freed at once and liburcu is not used.
 * After fork() the child has only the forking thread but urcu's registry still lists the others
 * (which can never report quiescence), so the child switches to immediate frees: with one thread
 * there is no concurrent reader.
 */
#include "runtime/internal.h"

#include <mimalloc.h>

#if defined(TALLY_FREE_THREADED)
#include <urcu/urcu-qsbr.h>

#define FREE_BATCH 126

struct free_batch {
    struct rcu_head head;
    size_t n;
    void *ptrs[FREE_BATCH];
};

static _Thread_local struct free_batch *cur_batch;
static _Thread_local int registered;
static int single_threaded_child; /* set in a fork child; read relaxed */

static void free_batch_cb(struct rcu_head *head)
{
    struct free_batch *b = caa_container_of(head, struct free_batch, head);
    for (size_t i = 0; i < b->n; i++)
        mi_free(b->ptrs[i]);
    mi_free(b);
}

static void flush_batch(void)
{
    struct free_batch *b = cur_batch;
    if (!b)
        return;
    cur_batch = NULL;
    if (b->n == 0) {
        mi_free(b);
        return;
    }
    if (tally_atomic_load_relaxed(&single_threaded_child) || !registered) {
        free_batch_cb(&b->head);
        return;
    }
    urcu_qsbr_call_rcu(&b->head, free_batch_cb);
}

int _tally_qsbr_init(void)
{
    single_threaded_child = 0;
    return 0;
}

void _tally_qsbr_fini(void)
{
    flush_batch();
    _tally_qsbr_barrier();
}

void _tally_qsbr_thread_register(tally_thread_state *ts)
{
    (void)ts;
    if (!registered) {
        urcu_qsbr_register_thread();   /* online from here on */
        registered = 1;
    }
}

void _tally_qsbr_thread_unregister(tally_thread_state *ts)
{
    (void)ts;
    flush_batch();
    if (registered) {
        urcu_qsbr_unregister_thread();
        registered = 0;
    }
}

void _tally_qsbr_online(void)
{
    if (registered)
        urcu_qsbr_thread_online();
}

void _tally_qsbr_offline(void)
{
    if (registered) {
        flush_batch();
        urcu_qsbr_thread_offline();
    }
}

void _tally_qsbr_quiescent(void)
{
    if (registered)
        urcu_qsbr_quiescent_state();
}

void _tally_free_delayed(void *p)
{
    if (!p)
        return;
    if (tally_unlikely(tally_atomic_load_relaxed(&single_threaded_child) || !registered)) {
        /* No lock-free reader can exist: the fork child has one thread; an unregistered thread
         * only frees memory no registered reader could have seen (shutdown). */
        if (!registered && !tally_atomic_load_relaxed(&single_threaded_child))
            urcu_qsbr_synchronize_rcu();
        mi_free(p);
        return;
    }
    struct free_batch *b = cur_batch;
    if (!b) {
        b = mi_malloc(sizeof *b);
        if (!b) {
            /* Out of memory for the batch: wait for a grace period and free now. */
            urcu_qsbr_synchronize_rcu();
            mi_free(p);
            return;
        }
        b->n = 0;
        cur_batch = b;
    }
    b->ptrs[b->n++] = p;
    if (b->n == FREE_BATCH)
        flush_batch();
}

void _tally_qsbr_barrier(void)
{
    flush_batch();
    if (tally_atomic_load_relaxed(&single_threaded_child))
        return;
    /* urcu_qsbr_barrier() waits for grace periods: this thread must not hold one back. */
    if (registered)
        urcu_qsbr_thread_offline();
    urcu_qsbr_barrier();
    if (registered)
        urcu_qsbr_thread_online();
}

bool _tally_qsbr_is_single_threaded_child(void)
{
    return tally_atomic_load_relaxed(&single_threaded_child) != 0;
}

void _tally_qsbr_fork_prepare(void) { urcu_qsbr_call_rcu_before_fork(); }
void _tally_qsbr_fork_parent(void) { urcu_qsbr_call_rcu_after_fork_parent(); }
void _tally_qsbr_fork_child(void)
{
    urcu_qsbr_call_rcu_after_fork_child();
    tally_atomic_store_relaxed(&single_threaded_child, 1);
}

#else /* gil, racy: no lock-free readers */

int _tally_qsbr_init(void) { return 0; }
void _tally_qsbr_fini(void) {}
void _tally_qsbr_thread_register(tally_thread_state *ts) { (void)ts; }
void _tally_qsbr_thread_unregister(tally_thread_state *ts) { (void)ts; }
void _tally_qsbr_online(void) {}
void _tally_qsbr_offline(void) {}
void _tally_qsbr_quiescent(void) {}
void _tally_free_delayed(void *p) { mi_free(p); }
void _tally_qsbr_barrier(void) {}
bool _tally_qsbr_is_single_threaded_child(void) { return false; }
void _tally_qsbr_fork_prepare(void) {}
void _tally_qsbr_fork_parent(void) {}
void _tally_qsbr_fork_child(void) {}

#endif
