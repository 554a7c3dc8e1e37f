// tests/gc/test_gc_basic.cc - cycle detection, generations, counts, thresholds, control API.
#include "gc_test_types.h"

// A 2-node garbage cycle (returns nothing the caller owns).
static tally_object *make_pair_garbage()
{
    tally_object *a = node_new(), *b = node_new();
    node_set_a(a, b);
    node_set_a(b, a);
    tally_decref(a);
    tally_decref(b);
    return nullptr;
}

TEST_F(GcTest, CollectsTwoNodeCycle)
{
    tally_object *a = node_new(), *b = node_new();
    node_set_a(a, b);
    node_set_a(b, a);
    tally_decref(a);
    tally_decref(b);
    tally_flush();
    EXPECT_EQ(g_log.destroyed.load(), 0);   // refcounting alone cannot free a cycle
    EXPECT_EQ(collect(0), 2);
    EXPECT_EQ(g_log.destroyed.load(), 2);
}

TEST_F(GcTest, ReachableCycleSurvivesAndIsIntact)
{
    tally_object *a = node_new(), *b = node_new();
    node_set_a(a, b);
    node_set_a(b, a);
    tally_decref(b);                        // a keeps the cycle alive
    EXPECT_EQ(collect(2), 0);
    EXPECT_EQ(g_log.destroyed.load(), 0);
    EXPECT_EQ(N(a)->magic, 0x600D);
    EXPECT_EQ(N(N(a)->a)->magic, 0x600D);
    EXPECT_EQ(N(N(a)->a)->a, a);
    tally_decref(a);
    EXPECT_EQ(collect(2), 2);
    EXPECT_EQ(g_log.destroyed.load(), 2);
}

TEST_F(GcTest, ObjectReferencedOnlyFromCycleIsCollected)
{
    tally_object *a = node_new(), *b = node_new(), *leaf = node_new();
    node_set_a(a, b);
    node_set_a(b, a);
    node_set_b(b, leaf);
    tally_decref(leaf);
    tally_decref(a);
    tally_decref(b);
    EXPECT_EQ(collect(0), 3);
    EXPECT_EQ(g_log.destroyed.load(), 3);
}

TEST_F(GcTest, ListSelfCycle)
{
    tally_object *l = tally_list_new();
    tally_object *w = tally_weakref_new(l, nullptr, nullptr);
    ASSERT_EQ(tally_list_append(l, l), 0);
    tally_decref(l);
    tally_flush();
    tally_object *alive = tally_weakref_get(w);
    ASSERT_EQ(alive, l);                    // the self-reference keeps it alive
    tally_decref(alive);
    EXPECT_EQ(collect(2), 1);
    EXPECT_EQ(tally_weakref_get(w), nullptr);
    tally_decref(w);
}

TEST_F(GcTest, DictCycleThroughValue)
{
    tally_object *d = tally_dict_new();
    tally_object *l = tally_list_new();
    tally_object *k = tally_str_new("me");
    ASSERT_EQ(tally_dict_set(d, k, l), 0);
    ASSERT_EQ(tally_list_append(l, d), 0);
    tally_object *w = tally_weakref_new(d, nullptr, nullptr);
    tally_decref(k);
    tally_decref(d);
    tally_decref(l);
    EXPECT_EQ(collect(2), 2);
    EXPECT_EQ(tally_weakref_get(w), nullptr);
    tally_decref(w);
}

TEST_F(GcTest, TupleListCycle)
{
    tally_object *l = tally_list_new();
    tally_object *t = tally_tuple_new(1, &l);
    ASSERT_EQ(tally_list_append(l, t), 0);
    tally_decref(t);
    tally_object *w = tally_weakref_new(l, nullptr, nullptr);
    tally_decref(l);
    EXPECT_EQ(collect(0), 2);
    EXPECT_EQ(tally_weakref_get(w), nullptr);
    tally_decref(w);
}

TEST_F(GcTest, AtomicTuplesAreUntracked)
{
    tally_object *i1 = tally_int_new(100000), *s = tally_str_new("x");
    tally_object *items[2] = { i1, s };
    tally_object *t = tally_tuple_new(2, items);
    tally_object *l = tally_list_new();
    tally_object *t2 = tally_tuple_new(1, &l);
    tally_object *nested = tally_tuple_new(1, &t);   // contains an (eventually untracked) tuple
    EXPECT_TRUE(tally_gc_is_tracked(t));
    EXPECT_TRUE(tally_gc_is_tracked(t2));
    collect(0);
    EXPECT_FALSE(tally_gc_is_tracked(t));      // only atomic items
    EXPECT_TRUE(tally_gc_is_tracked(t2));      // holds a list
    EXPECT_TRUE(tally_gc_is_tracked(l));       // lists are never untracked
    collect(1);
    EXPECT_FALSE(tally_gc_is_tracked(nested)); // its only item is an untracked tuple
    EXPECT_EQ(tally_tuple_get(t, 0), i1);
    for (tally_object *o : { i1, s, t, l, t2, nested })
        tally_decref(o);
}

// A tree of tuples whose leaves hold only atomic items is untracked in one young collection:
// untrack_tuples sees a tuple's items before the tuple (CPython's order would take one
// collection per level, examining what is left each time).
tally_object *tuple_tree(int depth)
{
    if (depth == 0) {
        tally_object *leaf[2] = { tally_none(), tally_none() };
        return tally_tuple_new(2, leaf);
    }
    tally_object *kids[2] = { tuple_tree(depth - 1), tuple_tree(depth - 1) };
    tally_object *t = tally_tuple_new(2, kids);
    tally_decref(kids[0]);
    tally_decref(kids[1]);
    return t;
}

TEST_F(GcTest, NestedAtomicTuplesAreUntrackedInOneCollection)
{
    collect(2);
    tally_object *root = tuple_tree(8);
    tally_object *inner = tally_tuple_get(tally_tuple_get(root, 0), 1);
    EXPECT_TRUE(tally_gc_is_tracked(root));
    EXPECT_TRUE(tally_gc_is_tracked(inner));
    collect(0);
    EXPECT_FALSE(tally_gc_is_tracked(inner));
    EXPECT_FALSE(tally_gc_is_tracked(root));   // every level at once
    // A tuple holding a list stays tracked, and so does each tuple above it.
    tally_object *l = tally_list_new();
    tally_object *holds_list = tally_tuple_new(1, &l);
    tally_object *pair[2] = { holds_list, root };
    tally_object *top = tally_tuple_new(2, pair);
    collect(0);
    EXPECT_TRUE(tally_gc_is_tracked(holds_list));
    EXPECT_TRUE(tally_gc_is_tracked(top));
    for (tally_object *o : { top, holds_list, l, root })
        tally_decref(o);
}

TEST_F(GcTest, SurvivorsMoveUpOneGeneration)
{
    tally_object *a = node_new();
    EXPECT_TRUE(in_generation(0, a));
    EXPECT_FALSE(in_generation(1, a));
    collect(0);
    EXPECT_FALSE(in_generation(0, a));
    EXPECT_TRUE(in_generation(1, a));
    collect(1);
    EXPECT_TRUE(in_generation(2, a));
    collect(2);
    EXPECT_TRUE(in_generation(2, a));          // gen2 survivors stay
    EXPECT_TRUE(in_generation(-1, a));
    tally_decref(a);
}

TEST_F(GcTest, YoungCollectionTreatsOldObjectsAsRoots)
{
    // old -> young -> old cycle: a young collection must not free the young half.
    tally_object *old = node_new();
    collect(0);
    collect(1);
    ASSERT_TRUE(in_generation(2, old));
    tally_object *young = node_new();
    node_set_a(old, young);
    node_set_a(young, old);
    tally_decref(young);
    tally_decref(old);                          // the whole cycle is garbage now
    EXPECT_EQ(collect(0), 0);                   // young is referenced by an old object
    EXPECT_EQ(g_log.destroyed.load(), 0);
    EXPECT_EQ(collect(1), 0);                   // still split: old is in gen2
    EXPECT_EQ(collect(2), 2);                   // a full collection sees the whole cycle
    EXPECT_EQ(g_log.destroyed.load(), 2);
}

TEST_F(GcTest, CountsTrickleLikeCPython)
{
    int c[3];
    collect(2);
    tally_gc_get_count(c);
    EXPECT_EQ(c[0], 0);
    EXPECT_EQ(c[1], 0);
    EXPECT_EQ(c[2], 0);
    std::vector<tally_object *> objs;
    for (int i = 0; i < 5; i++)
        objs.push_back(node_new());
    tally_object *big = tally_int_new(1 << 20);  // not a GC object: not counted
    tally_gc_get_count(c);
    EXPECT_EQ(c[0], 5);
    tally_decref(objs.back());
    objs.pop_back();
    tally_flush();
    tally_gc_get_count(c);
    EXPECT_EQ(c[0], 4);                          // -1 per GC free
    EXPECT_EQ(tally_gc_collect(0), 0);
    tally_gc_get_count(c);
    EXPECT_EQ(c[0], 0);
    EXPECT_EQ(c[1], 1);                          // gen0 collections since the last gen1
    for (tally_object *o : objs)
        tally_decref(o);                         // old objects freed: never below 0
    tally_flush();
    tally_gc_get_count(c);
    EXPECT_EQ(c[0], 0);
    tally_gc_collect(0);
    tally_gc_collect(1);
    tally_gc_get_count(c);
    EXPECT_EQ(c[1], 0);
    EXPECT_EQ(c[2], 1);
    tally_gc_collect(2);
    tally_gc_get_count(c);
    EXPECT_EQ(c[0] + c[1] + c[2], 0);
    tally_decref(big);
}

TEST_F(GcTest, ThresholdTriggersAutomaticCollection)
{
    tally_gc_stats before, after;
    ASSERT_EQ(tally_gc_get_stats(0, &before), 0);
    tally_gc_set_threshold(10, 10, 10);
    int t[3];
    tally_gc_get_threshold(t);
    EXPECT_EQ(t[0], 10);
    tally_gc_enable();
    for (int i = 0; i < 50; i++) {
        tally_object *a = node_new(), *b = node_new();
        node_set_a(a, b);
        node_set_a(b, a);
        tally_decref(a);
        tally_decref(b);
    }
    tally_flush();
    ASSERT_EQ(tally_gc_get_stats(0, &after), 0);
    EXPECT_GE(after.collections - before.collections, 5u);
    EXPECT_GT(g_log.destroyed.load(), 50);      // most cycles reclaimed without an explicit collect
}

TEST_F(GcTest, ThresholdZeroAndDisableTurnAutomaticCollectionOff)
{
    for (int mode = 0; mode < 2; mode++) {
        tally_gc_stats before, after;
        tally_gc_get_stats(0, &before);
        if (mode == 0) {
            tally_gc_set_threshold(0, 10, 10);
            tally_gc_enable();
        } else {
            tally_gc_set_threshold(10, 10, 10);
            tally_gc_disable();
        }
        EXPECT_EQ(tally_gc_is_enabled(), mode == 0);
        std::vector<tally_object *> objs;
        for (int i = 0; i < 100; i++)
            objs.push_back(node_new());
        tally_gc_get_stats(0, &after);
        EXPECT_EQ(after.collections, before.collections) << "mode " << mode;
        int c[3];
        tally_gc_get_count(c);
        EXPECT_GE(c[0], 100);
        for (tally_object *o : objs)
            tally_decref(o);
        // An explicit collection always runs.
        EXPECT_GE(tally_gc_collect(0), 0);
        tally_gc_get_stats(0, &after);
        EXPECT_EQ(after.collections, before.collections + 1);
    }
}

TEST_F(GcTest, BadGenerationIsAnError)
{
    EXPECT_EQ(tally_gc_collect(3), -1);
    EXPECT_NE(std::strstr(tally_last_error(), "generation"), nullptr);
    EXPECT_EQ(tally_gc_collect(-1), -1);
    tally_gc_stats st;
    EXPECT_EQ(tally_gc_get_stats(3, &st), -1);
    EXPECT_EQ(tally_gc_get_objects(3), nullptr);
    EXPECT_EQ(tally_gc_get_objects(-2), nullptr);
}

TEST_F(GcTest, StatsPerGeneration)
{
    tally_gc_stats s0, s2, s0b, s2b;
    tally_gc_get_stats(0, &s0);
    tally_gc_get_stats(2, &s2);
    tally_object *a = node_new(), *b = node_new(), *keep = node_new();
    node_set_a(a, b);
    node_set_a(b, a);
    tally_decref(a);
    tally_decref(b);
    EXPECT_EQ(collect(0), 2);
    tally_gc_get_stats(0, &s0b);
    tally_gc_get_stats(2, &s2b);
    EXPECT_EQ(s0b.collections, s0.collections + 1);
    EXPECT_EQ(s0b.collected, s0.collected + 2);
    EXPECT_EQ(s0b.uncollectable, s0.uncollectable);
    EXPECT_GE(s0b.candidates, s0.candidates + 3);   // a, b and keep were examined
    EXPECT_GT(s0b.duration, s0.duration);
    EXPECT_EQ(s2b.collections, s2.collections);      // only generation 0's entry changed
    tally_decref(keep);
}

TEST_F(GcTest, TrackAndUntrack)
{
    tally_object *a = node_new(), *b = node_new();
    EXPECT_TRUE(tally_gc_is_tracked(a));
    tally_object *i = tally_int_new(12345678);
    EXPECT_FALSE(tally_gc_is_tracked(i));           // not a GC type
    EXPECT_FALSE(tally_gc_is_finalized(i));
    node_set_a(a, b);
    node_set_a(b, a);
    tally_gc_untrack(a);
    tally_gc_untrack(b);
    EXPECT_FALSE(tally_gc_is_tracked(a));
    EXPECT_FALSE(in_generation(-1, a));
    tally_decref(a);
    tally_decref(b);
    EXPECT_EQ(collect(2), 0);                       // invisible to the collector
    EXPECT_EQ(g_log.destroyed.load(), 0);
    tally_gc_track(a);
    tally_gc_track(b);
    tally_gc_track(b);                              // idempotent
    EXPECT_TRUE(tally_gc_is_tracked(b));
    EXPECT_EQ(collect(2), 2);
    EXPECT_EQ(g_log.destroyed.load(), 2);
    tally_decref(i);
}

TEST_F(GcTest, GetObjectsByGeneration)
{
    tally_object *a = node_new();
    tally_object *all = tally_gc_get_objects(-1);
    ASSERT_NE(all, nullptr);
    EXPECT_TRUE(list_contains(all, a));
    EXPECT_FALSE(list_contains(all, all));           // the result is not listed in itself
    tally_decref(all);
    EXPECT_TRUE(in_generation(0, a));
    EXPECT_FALSE(in_generation(2, a));
    tally_decref(a);
}

TEST_F(GcTest, FreezeHidesObjectsFromTheCollector)
{
    tally_object *a = node_new(), *b = node_new();
    node_set_a(a, b);
    node_set_a(b, a);
    tally_decref(a);
    tally_decref(b);
    tally_flush();
    size_t before = tally_gc_get_freeze_count();
    tally_gc_freeze();
    int c[3];
    tally_gc_get_count(c);
    EXPECT_EQ(c[0], 0);
    EXPECT_GE(tally_gc_get_freeze_count(), before + 2);
    EXPECT_FALSE(in_generation(-1, a));
    EXPECT_EQ(collect(2), 0);                        // frozen: never examined
    EXPECT_EQ(g_log.destroyed.load(), 0);
    tally_gc_unfreeze();
    EXPECT_EQ(tally_gc_get_freeze_count(), 0u);
    EXPECT_TRUE(in_generation(2, a));                // unfreeze merges into the oldest gen
    EXPECT_EQ(collect(2), 2);
    EXPECT_EQ(g_log.destroyed.load(), 2);
}

TEST_F(GcTest, CollectionsDoNotDisturbRefcountsOfSurvivors)
{
    tally_object *l = tally_list_new();
    std::vector<tally_object *> kids;
    for (int i = 0; i < 10; i++) {
        tally_object *n = node_new();
        tally_list_append(l, n);
        kids.push_back(n);
    }
    tally_flush();
    intptr_t rc_before = tally_refcount(kids[3]);
    collect(0);
    collect(2);
    EXPECT_EQ(tally_refcount(kids[3]), rc_before);
    for (tally_object *k : kids)
        tally_decref(k);
    tally_decref(l);
    tally_flush();
    EXPECT_EQ(g_log.destroyed.load(), 10);
}

TEST_F(GcTest, ThresholdsComeFromTheOptions)
{
    tally_options o;
    tally_get_options(&o);
    // The fixture saved the thresholds in force before the test changed anything.
    EXPECT_EQ(saved_threshold_[0], o.gc_threshold0);
    EXPECT_EQ(saved_threshold_[1], o.gc_threshold1);
    EXPECT_EQ(saved_threshold_[2], o.gc_threshold2);
}

TEST_F(GcTest, OlderGenerationsFollowCountsAndTheLongLivedRule)
{
    // 2,000 long-lived objects: a full collection records them as long_lived_total.
    std::vector<tally_object *> old;
    for (int i = 0; i < 2000; i++)
        old.push_back(node_new());
    collect(2);
    tally_gc_stats s1a, s2a, s1b, s2b, s2c;
    tally_gc_get_stats(1, &s1a);
    tally_gc_get_stats(2, &s2a);
    tally_gc_set_threshold(10, 1, 1);
    tally_gc_enable();
    // Only garbage: gen1 collections run (every 2nd young one), gen2 is wanted by its count but
    // the survivors pending since the last full collection are far below 25% of 2,000.
    for (int i = 0; i < 300; i++) {
        tally_object *a = make_pair_garbage();
        (void)a;
    }
    tally_gc_get_stats(1, &s1b);
    tally_gc_get_stats(2, &s2b);
    EXPECT_GT(s1b.collections, s1a.collections + 5);
    EXPECT_EQ(s2b.collections, s2a.collections);
    // Survivors: once >= 25% of the long-lived total reached gen2 by gen1 collections, a full
    // collection runs on its own.
    std::vector<tally_object *> keep;
    for (int i = 0; i < 1500; i++)
        keep.push_back(node_new());
    tally_gc_get_stats(2, &s2c);
    EXPECT_GT(s2c.collections, s2b.collections);
    tally_gc_disable();
    for (tally_object *o : old)
        tally_decref(o);
    for (tally_object *o : keep)
        tally_decref(o);
}
