// tests/gc/test_gc_finalize.cc - PEP 442 finalizers, resurrection, legacy del (gc.garbage),
// SAVEALL, weakrefs and their callbacks, callbacks, re-entrancy, telemetry.
#include "gc_test_types.h"

#include <algorithm>
#include <cstring>
#include <string>

static tally_object *make_cycle(const tally_type *t, tally_object **pa = nullptr, tally_object **pb = nullptr)
{
    tally_object *a = node_new(t, 1), *b = node_new(t, 2);
    node_set_a(a, b);
    node_set_a(b, a);
    if (pa)
        *pa = a;
    if (pb)
        *pb = b;
    tally_decref(b);
    return a;   // the caller's reference to a
}

TEST_F(GcTest, FinalizersRunOnceThenCycleIsCleared)
{
    tally_object *a, *b;
    make_cycle(&fin_node_type, &a, &b);
    tally_decref(a);
    EXPECT_EQ(collect(0), 2);
    EXPECT_EQ(g_log.finalized.load(), 2);
    EXPECT_EQ(g_log.destroyed.load(), 2);
}

TEST_F(GcTest, ResurrectionKeepsTheObjectAndWhatItReaches)
{
    tally_object *keep = tally_list_new();
    g_log.resurrect_into = keep;
    tally_object *a, *b;
    make_cycle(&fin_node_type, &a, &b);
    tally_object *leaf = node_new(&node_type, 3);
    node_set_b(b, leaf);
    tally_decref(leaf);
    tally_decref(a);
    // Both finalizers run before the resurrection check; each stores its object in `keep`.
    EXPECT_EQ(collect(0), 0);                    // resurrected objects are not counted
    g_log.resurrect_into = nullptr;
    EXPECT_EQ(g_log.finalized.load(), 2);
    EXPECT_EQ(g_log.destroyed.load(), 0);
    EXPECT_EQ(tally_list_len(keep), 2u);
    EXPECT_TRUE(tally_gc_is_finalized(a));
    EXPECT_TRUE(tally_gc_is_tracked(a));
    EXPECT_EQ(N(b)->b, leaf);                    // transitively resurrected, never cleared
    EXPECT_EQ(N(leaf)->magic, 0x600D);
    EXPECT_TRUE(in_generation(1, a));            // resurrected objects move to the next gen
    // Dropping the resurrected references: collected now, finalizers not run again.
    tally_list_clear(keep);
    EXPECT_EQ(collect(2), 3);
    EXPECT_EQ(g_log.finalized.load(), 2);
    EXPECT_EQ(g_log.destroyed.load(), 3);
    tally_decref(keep);
}

TEST_F(GcTest, PartialResurrectionCollectsTheRest)
{
    // Only `a`'s finalizer resurrects (it is the only FinNode); b and the leaf hang off a.
    tally_object *keep = tally_list_new();
    g_log.resurrect_into = keep;
    tally_object *a = node_new(&fin_node_type), *b = node_new(&node_type), *c = node_new(&node_type);
    node_set_a(a, b);
    node_set_a(b, a);
    node_set_a(c, c);                            // an unrelated self-cycle in the same collection
    tally_decref(a);
    tally_decref(b);
    tally_decref(c);
    EXPECT_EQ(collect(0), 1);                    // only c; a and b (reachable from a) survive
    g_log.resurrect_into = nullptr;
    EXPECT_EQ(g_log.destroyed.load(), 1);
    EXPECT_EQ(N(a)->a, b);
    tally_list_clear(keep);
    tally_decref(keep);
    EXPECT_EQ(collect(2), 2);
    EXPECT_EQ(g_log.finalized.load(), 1);
}

TEST_F(GcTest, FinalizedBitIsSetByRefcountDeathToo)
{
    tally_object *keep = tally_list_new();
    g_log.resurrect_into = keep;
    tally_object *a = node_new(&fin_node_type);
    tally_decref(a);                             // refcount death: finalize resurrects it
    tally_flush();
    g_log.resurrect_into = nullptr;
    EXPECT_EQ(g_log.finalized.load(), 1);
    EXPECT_TRUE(tally_gc_is_finalized(a));
    node_set_a(a, a);                            // now a cycle; the collector must not finalize again
    tally_list_clear(keep);
    EXPECT_EQ(collect(2), 1);
    EXPECT_EQ(g_log.finalized.load(), 1);
    EXPECT_EQ(g_log.destroyed.load(), 1);
    tally_decref(keep);
}

TEST_F(GcTest, LegacyDelMakesCycleUncollectable)
{
    tally_object *garbage = tally_gc_garbage();
    ASSERT_NE(garbage, nullptr);
    size_t g0 = tally_list_len(garbage);
    tally_object *d = node_new(&del_node_type, 1), *x = node_new(&node_type, 2), *y = node_new(&node_type, 3);
    node_set_a(d, x);                            // d -> x -> d, and x -> y (reachable from d)
    node_set_a(x, d);
    node_set_b(x, y);
    tally_object *other = make_cycle(&node_type);  // collectable cycle in the same collection
    tally_decref(other);
    tally_decref(d);
    tally_decref(x);
    tally_decref(y);
    tally_gc_stats before, after;
    tally_gc_get_stats(0, &before);
    EXPECT_EQ(collect(0), 3 + 2);                 // n (3 uncollectable) + m (2 collected)
    tally_gc_get_stats(0, &after);
    EXPECT_EQ(after.uncollectable - before.uncollectable, 3u);
    EXPECT_EQ(after.collected - before.collected, 2u);
    EXPECT_EQ(tally_list_len(garbage), g0 + 1);   // only the object that has del itself
    EXPECT_TRUE(list_contains(garbage, d));
    EXPECT_EQ(g_log.dels.load(), 0);              // never called by the collector
    EXPECT_EQ(N(x)->magic, 0x600D);               // reachable from d: not cleared
    EXPECT_EQ(N(x)->b, y);
    EXPECT_TRUE(in_generation(1, x));             // uncollectable objects join the next gen
}

TEST_F(GcTest, SaveAllPutsEverythingInGarbage)
{
    tally_gc_set_debug(TALLY_GC_DEBUG_SAVEALL);
    EXPECT_EQ(tally_gc_get_debug(), (unsigned)TALLY_GC_DEBUG_SAVEALL);
    tally_object *garbage = tally_gc_garbage();
    size_t g0 = tally_list_len(garbage);
    tally_object *a, *b;
    make_cycle(&node_type, &a, &b);
    tally_decref(a);
    tally_object *d = node_new(&del_node_type);
    node_set_a(d, d);
    tally_decref(d);
    EXPECT_EQ(collect(0), 3);
    EXPECT_EQ(tally_list_len(garbage), g0 + 3);
    EXPECT_TRUE(list_contains(garbage, a));
    EXPECT_TRUE(list_contains(garbage, b));
    EXPECT_TRUE(list_contains(garbage, d));
    EXPECT_EQ(g_log.destroyed.load(), 0);          // saved, not cleared
    EXPECT_EQ(N(a)->a, b);
}

static std::vector<std::string> g_events;
static tally_object *g_other_wr = nullptr;
static void record_cb(tally_object *wr, void *arg)
{
    g_events.push_back(static_cast<const char *>(arg));
    if (g_other_wr) {
        // Weakrefs to trash are all cleared before the first callback runs.
        tally_object *t = tally_weakref_get(g_other_wr);
        g_events.push_back(t ? "other-alive" : "other-cleared");
        tally_xdecref(t);
    }
    EXPECT_EQ(tally_weakref_get(wr), nullptr);
}

TEST_F(GcTest, WeakrefCallbacksRunForLiveWeakrefsOnly)
{
    g_events.clear();
    tally_object *a, *b;
    make_cycle(&node_type, &a, &b);
    tally_object *w1 = tally_weakref_new(a, record_cb, (void *)"w1");
    tally_object *w2 = tally_weakref_new(b, record_cb, (void *)"w2");
    // A weakref that is itself garbage (held only by the cycle): its callback never runs.
    tally_object *wtrash = tally_weakref_new(a, record_cb, (void *)"trash");
    node_set_b(b, wtrash);
    tally_decref(wtrash);
    g_other_wr = w2;
    tally_decref(a);
    intptr_t n = collect(0);
    g_other_wr = nullptr;
    EXPECT_EQ(n, 3);                                // a, b and the trash weakref
    ASSERT_EQ(g_events.size(), 4u);
    EXPECT_EQ(std::count(g_events.begin(), g_events.end(), std::string("w1")), 1);
    EXPECT_EQ(std::count(g_events.begin(), g_events.end(), std::string("w2")), 1);
    EXPECT_EQ(std::count(g_events.begin(), g_events.end(), std::string("trash")), 0);
    EXPECT_EQ(std::count(g_events.begin(), g_events.end(), std::string("other-alive")), 0);
    EXPECT_EQ(tally_weakref_get(w1), nullptr);
    EXPECT_EQ(tally_weakref_get(w2), nullptr);
    tally_decref(w1);
    tally_decref(w2);
}

TEST_F(GcTest, WeakrefHeldOnlyByPendingListCountsAsCollected)
{
    g_events.clear();
    tally_object *a, *b;
    make_cycle(&node_type, &a, &b);
    // A reachable weakref whose only owner is a list that its own callback empties.
    tally_object *holder = tally_list_new();
    tally_object *w = tally_weakref_new(a, [](tally_object *, void *arg) {
        tally_list_clear(static_cast<tally_object *>(arg));
    }, holder);
    tally_list_append(holder, w);
    tally_decref(w);
    tally_decref(a);
    EXPECT_EQ(collect(0), 3);                       // a, b and the weakref freed after its callback
    EXPECT_EQ(tally_list_len(holder), 0u);
    tally_decref(holder);
}

TEST_F(GcTest, ResurrectedObjectsKeepTheirWeakrefsCleared)
{
    tally_object *keep = tally_list_new();
    g_log.resurrect_into = keep;
    tally_object *a = node_new(&fin_node_type);
    node_set_a(a, a);
    tally_object *w = tally_weakref_new(a, nullptr, nullptr);
    tally_decref(a);
    EXPECT_EQ(collect(0), 0);
    g_log.resurrect_into = nullptr;
    EXPECT_EQ(tally_list_len(keep), 1u);
    EXPECT_EQ(tally_weakref_get(w), nullptr);       // 3.13: cleared before the finalizers ran
    tally_decref(w);
    tally_decref(keep);
    EXPECT_EQ(collect(2), 1);
}

// ---- callbacks, re-entrancy ----------------------------------------------------------------
struct CbRecord {
    std::vector<int> phases;
    std::vector<tally_gc_info> infos;
    intptr_t nested = -7;
    bool nest = false;
};
static void gc_cb(int phase, const tally_gc_info *info, void *arg)
{
    auto *r = static_cast<CbRecord *>(arg);
    r->phases.push_back(phase);
    r->infos.push_back(*info);
    if (r->nest && phase == TALLY_GC_START)
        r->nested = tally_gc_collect(2);            // a collection is running: returns 0 at once
}

TEST_F(GcTest, CallbacksSeeStartAndStop)
{
    CbRecord r1, r2;
    r1.nest = true;
    ASSERT_EQ(tally_gc_callback_add(gc_cb, &r1), 0);
    ASSERT_EQ(tally_gc_callback_add(gc_cb, &r2), 0);
    tally_object *a = make_cycle(&node_type);
    tally_decref(a);
    EXPECT_EQ(collect(1), 2);
    ASSERT_EQ(tally_gc_callback_remove(gc_cb, &r1), 0);
    ASSERT_EQ(tally_gc_callback_remove(gc_cb, &r2), 0);
    EXPECT_EQ(tally_gc_callback_remove(gc_cb, &r2), -1);
    ASSERT_EQ(r1.phases.size(), 2u);
    EXPECT_EQ(r1.phases[0], TALLY_GC_START);
    EXPECT_EQ(r1.phases[1], TALLY_GC_STOP);
    EXPECT_EQ(r1.infos[0].generation, 1);
    EXPECT_EQ(r1.infos[0].collected, 0);
    EXPECT_EQ(r1.infos[1].collected, 2);
    EXPECT_EQ(r1.infos[1].uncollectable, 0);
    EXPECT_EQ(r1.nested, 0);
    EXPECT_EQ(r2.phases.size(), 2u);
    collect(0);
    EXPECT_EQ(r1.phases.size(), 2u);                 // removed: not called any more
}

static void reentrant_finalize(tally_object *self)
{
    g_log.finalized.fetch_add(1);
    g_log.collect_from_finalizer = tally_gc_collect(0);
    // get_objects during a collection: the unreachable set is in no generation.
    tally_object *all = tally_gc_get_objects(-1);
    bool seen = false;
    for (size_t i = 0; i < tally_list_len(all); i++) {
        tally_object *it = tally_list_get(all, i);
        seen |= it == self;
        tally_decref(it);
    }
    tally_decref(all);
    if (seen)
        g_log.collect_from_finalizer = -100;
}
static const tally_type reentrant_type = {
    "Reentrant", sizeof(Node), TALLY_TYPE_GC, node_traverse, node_clear, reentrant_finalize, nullptr, node_destroy,
};

TEST_F(GcTest, CollectAndGetObjectsFromAFinalizer)
{
    tally_object *a = node_new(&reentrant_type);
    node_set_a(a, a);
    tally_decref(a);
    EXPECT_EQ(collect(0), 1);
    EXPECT_EQ(g_log.finalized.load(), 1);
    EXPECT_EQ(g_log.collect_from_finalizer.load(), 0);
}

// A finalizer that drops the last reference to another unreachable object: that object is freed
// by refcounting in the middle of the collection and is not counted by it.
static void dropping_finalize(tally_object *self)
{
    g_log.finalized.fetch_add(1);
    tally_object *b = N(self)->b;
    N(self)->b = nullptr;
    tally_xdecref(b);
}
static const tally_type dropping_type = {
    "Dropping", sizeof(Node), TALLY_TYPE_GC, node_traverse, node_clear, dropping_finalize, nullptr, node_destroy,
};

TEST_F(GcTest, ObjectsFreedByRefcountDuringACollection)
{
    tally_object *a = node_new(&dropping_type);
    node_set_a(a, a);
    tally_object *tail = node_new();
    tally_object *tail2 = node_new();
    node_set_a(tail, tail2);
    node_set_b(a, tail);
    tally_decref(tail);
    tally_decref(tail2);
    tally_decref(a);
    intptr_t n = collect(0);
    EXPECT_EQ(g_log.finalized.load(), 1);
    EXPECT_EQ(g_log.destroyed.load(), 3);
    // tail and tail2 died by refcount (deferred backends may apply it later: at least a counts).
    EXPECT_GE(n, 1);
    EXPECT_LE(n, 3);
    if (!tally_test_backend_is("deferred")) {
        EXPECT_EQ(n, 1);
    }
}

TEST_F(GcTest, PauseRecords)
{
    tally_gc_reset_pauses();
    EXPECT_EQ(tally_gc_pause_count(), 0u);
    tally_object *a = make_cycle(&node_type);
    tally_decref(a);
    collect(0);
    collect(2);
    EXPECT_EQ(tally_gc_pause_count(), 2u);
    tally_gc_pause p[4];
    ASSERT_EQ(tally_gc_get_pauses(p, 4), 2u);
    EXPECT_EQ(p[0].generation, 0);
    EXPECT_EQ(p[1].generation, 2);
    EXPECT_EQ(p[0].collected, 2u);
    EXPECT_GE(p[0].candidates, 2u);
    EXPECT_EQ(p[0].incremental, 0);
    for (auto &r : { p[0], p[1] }) {
        EXPECT_GT(r.total_ns, 0u);
        EXPECT_GT(r.stw_ns, 0u);
        EXPECT_LE(r.stw_ns, r.total_ns);
        EXPECT_LE(r.time_to_safepoint_ns, r.stw_ns);
        EXPECT_LE(r.update_refs_ns + r.subtract_refs_ns + r.move_unreachable_ns, r.stw_ns);
    }
}

TEST_F(GcTest, IncrementalModeCollectsOldCyclesInIncrements)
{
    // Old generation: live objects plus garbage cycles, then increments of 50 objects.
    std::vector<tally_object *> live;
    for (int i = 0; i < 300; i++)
        live.push_back(node_new(&node_type, i));
    std::vector<tally_object *> cycles;
    for (int i = 0; i < 100; i++)
        cycles.push_back(make_cycle(&node_type));
    tally_gc_collect(0);
    tally_gc_collect(1);                             // everything is in gen2 now (non-incremental)
    for (tally_object *a : cycles)
        tally_decref(a);                             // 100 old garbage cycles
    tally_flush();
    EXPECT_EQ(g_log.destroyed.load(), 0);
    EXPECT_FALSE(in_generation(1, live[0]));
    tally_gc_set_incremental(true, 50);
    EXPECT_TRUE(tally_gc_get_incremental());
    tally_gc_reset_pauses();
    intptr_t total = 0;
    int steps = 0;
    while (g_log.destroyed.load() < 200 && steps < 100) {
        total += collect(1);                         // one increment
        steps++;
    }
    EXPECT_EQ(total, 200);
    EXPECT_EQ(g_log.destroyed.load(), 200);
    EXPECT_GT(steps, 2);                             // it took several increments
    tally_gc_pause p[128];
    size_t np = tally_gc_get_pauses(p, 128);
    ASSERT_GT(np, 0u);
    uint64_t max_candidates = 0;
    for (size_t i = 0; i < np; i++) {
        EXPECT_EQ(p[i].incremental, 1);
        max_candidates = std::max<uint64_t>(max_candidates, p[i].candidates);
    }
    EXPECT_LT(max_candidates, 200u);                 // never the whole old generation at once
    for (tally_object *o : live)
        EXPECT_EQ(N(o)->magic, 0x600D);
    for (tally_object *o : live)
        tally_decref(o);
    tally_flush();
    EXPECT_EQ(g_log.destroyed.load(), 500);
}

TEST_F(GcTest, DebugFlagsReportOnStderr)
{
    tally_object *a = make_cycle(&node_type);
    tally_decref(a);
    tally_object *d = node_new(&del_node_type);
    node_set_a(d, d);
    tally_decref(d);
    tally_gc_set_debug(TALLY_GC_DEBUG_STATS | TALLY_GC_DEBUG_COLLECTABLE | TALLY_GC_DEBUG_UNCOLLECTABLE);
    ::testing::internal::CaptureStderr();
    intptr_t n = collect(0);
    std::string err = ::testing::internal::GetCapturedStderr();
    tally_gc_set_debug(0);
    EXPECT_EQ(n, 3);
    EXPECT_NE(err.find("gc: collecting generation 0"), std::string::npos) << err;
    EXPECT_NE(err.find("gc: collectable <Node"), std::string::npos) << err;
    EXPECT_NE(err.find("gc: uncollectable <DelNode"), std::string::npos) << err;
    EXPECT_NE(err.find("gc: done, 3 unreachable, 1 uncollectable"), std::string::npos) << err;
}
