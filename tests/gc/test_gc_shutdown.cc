// tests/gc/test_gc_shutdown.cc - the final collection of tally_fini (in a death-test child):
// finalizers of cyclic garbage run, callbacks do not, gc.garbage is reported on stderr.
#include "gc_test_types.h"

#include <cstdio>
#include <cstdlib>

namespace {

std::atomic<int> g_cb_calls{0};
void counting_cb(int, const tally_gc_info *, void *) { g_cb_calls++; }

void child_final_collection()
{
    g_cb_calls = 0;
    g_log.finalized = 0;
    g_log.destroyed = 0;
    if (tally_gc_callback_add(counting_cb, nullptr) != 0)
        std::_Exit(10);
    tally_gc_disable();
    for (int i = 0; i < 3; i++) {
        tally_object *a = node_new(&fin_node_type), *b = node_new(&fin_node_type);
        node_set_a(a, b);
        node_set_a(b, a);
        tally_decref(a);
        tally_decref(b);
    }
    // One uncollectable cycle: reported at shutdown.
    tally_object *d = node_new(&del_node_type);
    node_set_a(d, d);
    tally_decref(d);
    tally_flush();
    if (g_log.finalized != 0 || g_cb_calls != 0)
        std::_Exit(11);
    tally_fini();
    if (g_log.finalized != 6)
        std::_Exit(12);          // finalizers of the cyclic garbage ran
    if (g_log.destroyed < 6)
        std::_Exit(13);          // and the cycles were freed
    if (g_cb_calls != 0)
        std::_Exit(14);          // no callbacks at shutdown
    std::fflush(stderr);
    std::_Exit(0);
}

}  // namespace

TEST(GcShutdown, FinalCollectionRunsFinalizersWithoutCallbacks)
{
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    EXPECT_EXIT(child_final_collection(), ::testing::ExitedWithCode(0),
                "gc: 1 uncollectable objects at shutdown");
}
