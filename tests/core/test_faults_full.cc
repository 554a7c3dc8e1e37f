// tests/core/test_faults_full.cc - a full collection with each of its allocations failing in turn.
//
// Owns: the allocation-failure sweep of the full collection (generation 2, incremental mode off),
// whose trial deletion keeps gc_refs in the side table (collector/gc_side_table.c): the table's
// middle arrays, leaves and list of leaves, and the arrays of its two passes, are allocated by
// the first full collection of a process and kept, so each allocation point is reached only in
// a fresh process: each step runs in a child (a death test).  Out of memory there used to be
// fatal; the collection now falls back to the prev-word passes (collector/gc_trial.c), which
// allocate nothing.  Checked: the collection returns a count (or -1 naming memory, when the
// fault lands outside the side table), nothing it examined is freed early or lost, and what it
// could not free is freed by the next collection, which then uses the side table again.
// AddressSanitizer builds only (the fault hook, runtime/fault_inject.c); deferred is left out as
// in test_faults.cc (its reconciliation vectors still abort when they cannot grow).
#include "tally_test.h"

#if defined(__SANITIZE_ADDRESS__) && !defined(TALLY_BACKEND_DEFERRED)

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <sys/wait.h>
#include <utility>

extern "C" {
TALLY_API void tally_debug_fail_allocation(long n);
TALLY_API long tally_debug_failed_allocations(void);
}

namespace {

int g_full_callbacks = 0;
void full_callback(tally_object *, void *) { g_full_callbacks++; }

#define FULL_CHECK(cond)                                                                   \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            std::fprintf(stderr, "full-collection fault child (allocation %ld): check failed: %s (last error '%s')\n", \
                         n, #cond, tally_last_error());                                    \
            std::fflush(stderr);                                                           \
            std::_Exit(1);                                                                 \
        }                                                                                  \
    } while (0)

void full_collection_child(long n)
{
    tally_gc_disable();
    std::atomic<int> destroyed{0};
    int made = 0;
    auto pair = [&]() {
        CountedObject *a = counted_new(&destroyed), *b = counted_new(&destroyed);
        FULL_CHECK(a && b);
        a->ref = tally_newref(&b->ob_base);
        b->ref = tally_newref(&a->ob_base);
        made += 2;
        return std::make_pair(a, b);
    };
    // Garbage cycles, a live cycle, a weakref with a callback on a garbage cycle, and a chain
    // held from outside (a live object that refers to others: trial deletion must keep it all).
    for (int i = 0; i < 200; i++) {
        auto p = pair();
        tally_decref(&p.first->ob_base);
        tally_decref(&p.second->ob_base);
    }
    auto live = pair();
    auto w = pair();
    tally_object *wr = tally_weakref_new(&w.first->ob_base, full_callback, nullptr);
    FULL_CHECK(wr != nullptr);
    tally_decref(&w.first->ob_base);
    tally_decref(&w.second->ob_base);
    CountedObject *head = counted_new(&destroyed);
    FULL_CHECK(head != nullptr);
    made++;
    CountedObject *cur = head;
    for (int i = 0; i < 500; i++) {
        CountedObject *next = counted_new(&destroyed);
        FULL_CHECK(next != nullptr);
        made++;
        cur->ref = &next->ob_base;   // the chain owns each next
        cur = next;
    }
    const int chain = 501;
    tally_flush();
    long before = tally_debug_failed_allocations();
    tally_debug_fail_allocation(n);
    intptr_t full = tally_gc_collect(2);
    std::string full_error = tally_last_error();
    tally_debug_fail_allocation(-1);
    bool fired = tally_debug_failed_allocations() > before;
    FULL_CHECK(full >= 0 || full_error.find("memory") != std::string::npos);
    tally_flush();
    // Never freed early: the live pair and the chain are intact.
    FULL_CHECK(destroyed.load() <= made - 2 - chain);
    FULL_CHECK(tally_refcount(&live.first->ob_base) == 2);
    FULL_CHECK(tally_refcount(&head->ob_base) == 1);
    // Everything else is freed now, or by the next full collection (side table again).
    FULL_CHECK(tally_gc_collect(2) >= 0);
    tally_flush();
    FULL_CHECK(destroyed.load() == made - 2 - chain);
    FULL_CHECK(g_full_callbacks == 1);
    FULL_CHECK(tally_weakref_get(wr) == nullptr);
    tally_decref(wr);
    tally_decref(&head->ob_base);
    tally_decref(&live.first->ob_base);
    tally_decref(&live.second->ob_base);
    FULL_CHECK(tally_gc_collect(2) >= 0);
    tally_flush();
    FULL_CHECK(destroyed.load() == made);
    std::_Exit(fired ? 0 : 2);
}

}  // namespace

TEST(Faults, EveryAllocationOfAFullCollectionFailsCleanly)
{
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    long n = 0, injected = 0;
    for (; n < 500; n++) {
        int code = -1;   // stays -1 in the re-executed child for the steps it does not run
        EXPECT_EXIT(full_collection_child(n),
                    [&code](int status) {
                        code = WIFEXITED(status) ? WEXITSTATUS(status) : 100 + WTERMSIG(status);
                        return code == 0 || code == 2;
                    },
                    "")
            << "allocation " << n;
        if (code == 0)
            injected++;
        else if (code != -1)
            break;   // 2: the collection made at most n allocations; else a failure (reported)
    }
    std::printf("full-collection fault sweep: %ld allocation points failed in turn (%s)\n", injected, tally_backend());
    // The side table's first use allocates at least its middle array, its list of leaves, a
    // leaf, pass A's order array and pass B's reserved array (5); the deallocation stack and
    // the backend's own structures come on top.
    EXPECT_GE(injected, 5) << "the sweep did not reach the side table's allocation points";
}

#endif  // __SANITIZE_ADDRESS__ && !TALLY_BACKEND_DEFERRED
