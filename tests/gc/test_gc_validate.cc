// tests/gc/test_gc_validate.cc - the collector's list validation catches a corrupted flag.
//
// Owns: the death tests of collector/gc_validate.c.  In libraries built with their debug checks
// (TALLY_DEBUG: Debug, asan, ubsan and tsan builds; tests/CMakeLists.txt defines
// TALLY_TEST_LIBS_DEBUG for those) a collection checks its lists against the flag table of
// collector/gc_internal.h at its phase boundaries; every other test of the gc suite runs with
// that check and finds nothing.  Here a flag is corrupted on purpose and the next collection
// must stop, naming the phase, the type and the flag.  Not built against release libraries,
// which have no validator.
#include "tally_test.h"

#if defined(TALLY_TEST_LIBS_DEBUG)

#include <atomic>

namespace {

// A live object (held here, referred to by no other object, so move_unreachable never visits
// it through a reference, where the bit means "already in U") whose UNREACHABLE bit is set by
// mistake: after move_unreachable it is a survivor, whose row of the table says clear.
void corrupt_and_collect(int generation)
{
    std::atomic<int> destroyed{0};
    CountedObject *a = counted_new(&destroyed);
    CountedObject *b = counted_new(&destroyed);
    b->ref = tally_newref(&a->ob_base);   // b refers to a: a plain survivor beside it
    if (generation > 0)
        tally_gc_collect(0);   // both survive into generation 1
    __atomic_fetch_or(&b->ob_base.ob_gc_bits, (uint8_t)TALLY_GC_BIT_UNREACHABLE, __ATOMIC_RELAXED);
    tally_gc_collect(generation);
    std::_Exit(0);   // not reached when the validator works
}

}  // namespace

TEST(GcValidate, UnreachableFlagOnASurvivorStopsAYoungCollection)
{
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    EXPECT_DEATH(corrupt_and_collect(0),
                 "gc_validate_list \\(survivors of move_unreachable, a reachable .*a Counted\\): UNREACHABLE is set");
}

TEST(GcValidate, UnreachableFlagOnASurvivorStopsAFullCollection)
{
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    // Generation 2 with incremental mode off: the side-table passes (collector/gc_side_table.c).
    EXPECT_DEATH(corrupt_and_collect(2),
                 "gc_validate_list \\(survivors of move_unreachable, a reachable .*a Counted\\): UNREACHABLE is set");
}

TEST(GcValidate, ACollectionOfEveryKindPassesTheCheck)
{
    // Garbage cycles and cycles that survive collections of each generation before they die:
    // survivors and U are both non-empty when checked; nothing is reported and all is freed.
    std::atomic<int> destroyed{0};
    int made = 0;
    for (int i = 0; i < 100; i++) {
        CountedObject *a = counted_new(&destroyed), *b = counted_new(&destroyed);
        ASSERT_TRUE(a && b);
        a->ref = tally_newref(&b->ob_base);
        b->ref = &a->ob_base;   // b owns a; the test's reference to a goes with it
        made += 2;
        if (i % 2)
            tally_decref(&b->ob_base);   // garbage
        else
            tally_gc_collect(i % 3), tally_decref(&b->ob_base);
    }
    for (int g = 0; g < 3; g++)
        EXPECT_GE(tally_gc_collect(g), 0);
    tally_flush();
    EXPECT_EQ(destroyed.load(), made);
}

#endif  // TALLY_TEST_LIBS_DEBUG
