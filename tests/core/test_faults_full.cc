// tests/core/test_faults_full.cc - a full collection with each of its allocations failing in turn.
//
// Owns: the allocation-failure sweep of the full collection (generation 2, incremental mode off),
// whose trial deletion keeps gc_refs in the side table (collector/gc_side_table.c): the table's
// middle arrays, leaves and list of leaves, and the arrays of its two passes, are allocated by
// the first full collection of a process and kept, so each allocation point is reached only in
// a fresh process: each step runs in a child (tests/core/fault_sweep.h).  Out of memory there used to be
// fatal; the collection now falls back to the prev-word passes (collector/gc_trial.c), which
// allocate nothing.  Checked: the collection returns a count (or -1 naming memory, when the
// fault lands outside the side table), nothing it examined is freed early or lost, and what it
// could not free is freed by the next collection, which then uses the side table again.
// AddressSanitizer builds only (the fault hook, runtime/fault_inject.c); every backend.
#include "tally_test.h"

#if defined(__SANITIZE_ADDRESS__)

#include "fault_sweep.h"

static void full_collection_child(long n)
{
    tally_gc_disable();
    FaultGraph g;
    g.build(200, 500);   // the chain is held from outside: trial deletion must keep it all
    FaultArm arm(n);
    intptr_t full = tally_gc_collect(2);
    std::string full_error = tally_last_error();
    bool fired = arm.disarm();
    FAULT_CHECK(full >= 0 || fault_sweep::mentions_memory(full_error));
    tally_flush();
    // Never freed early: the live pair and the chain are intact.
    FAULT_CHECK(g.destroyed.load() <= g.made - 2 - g.chain);
    FAULT_CHECK(tally_refcount(&g.live.first->ob_base) == 2);
    FAULT_CHECK(tally_refcount(&g.head->ob_base) == 1);
    g.finish();   // the next full collection uses the side table again
    fault_exit(fired);
}

// The side table's first use allocates at least its middle array, its list of leaves, a leaf,
// pass A's order array and pass B's reserved array (5); the deallocation stack and the
// backend's own structures come on top.
TEST(Faults, EveryAllocationOfAFullCollectionFailsCleanly)
{
    expect_fault_sweep(full_collection_child, 500, "full-collection", 5);
}

#endif  // __SANITIZE_ADDRESS__
