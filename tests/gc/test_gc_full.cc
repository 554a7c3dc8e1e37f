// tests/gc/test_gc_full.cc - full collections on random graphs, checked against reachability the
// test computes itself.
//
// A full collection with incremental mode off keeps gc_refs in the collector's side table and
// walks W from its youngest end (collector/gc.c, "full collection over the side table"); with
// incremental mode on it uses the prev-word passes.  Both must find exactly the garbage cycles:
// every random graph here is built with edges to older and to younger objects (so that
// move_unreachable's take-back path runs), self-loops, tuples (which only hold older objects),
// lists holding small ints (no GC referent: the LEAF case) and nodes, and is collected in each
// mode.  The test mirrors the graph, so it knows which objects are reachable from its roots,
// which of the others refcounting frees on its own, and which only the collector can free.
#include "gc_test_types.h"

#include <random>
#include <string>

namespace {

std::vector<char> g_dead;   // by id: destroyed

void idnode_destroy(tally_object *self)
{
    int id = N(self)->id;
    if (id >= 0 && (size_t)id < g_dead.size())
        g_dead[(size_t)id] = 1;
    N(self)->magic = 0xDEAD;
    node_clear(self);
}

const tally_type idnode_type = {
    "IdNode", sizeof(Node), TALLY_TYPE_GC, node_traverse, node_clear, nullptr, nullptr, idnode_destroy,
};

enum Kind { KNode, KList, KTuple };

struct Graph {
    std::vector<tally_object *> objs;
    std::vector<Kind> kind;
    std::vector<std::vector<size_t>> out;   // edges to GC objects, with multiplicity
    std::vector<size_t> roots;
};

// Builds a graph of n objects; the caller holds only the roots afterwards.  With pad > 0, a
// string of pad bytes is made after every object and kept in `padding` (the caller drops them):
// the graph then spreads over many of the side table's 4 MiB regions, its objects share them with
// non-GC objects, and lists hold some of those strings as items.
Graph build(std::mt19937 &rng, size_t n, size_t pad = 0, std::vector<tally_object *> *padding = nullptr)
{
    Graph g;
    g.objs.resize(n);
    g.kind.resize(n);
    g.out.resize(n);
    g_dead.assign(n, 0);
    tally_object *small = tally_int_new(7);
    std::string text(pad, 'x');
    for (size_t i = 0; i < n; i++) {
        if (pad) {
            padding->push_back(tally_str_new(text.c_str()));
            if (i > 0 && g.kind[i - 1] == KList && rng() % 4 == 0)
                tally_list_append(g.objs[i - 1], padding->back());   // a non-GC item nearby
        }
        unsigned r = rng() % 10;
        if (r < 5) {
            g.kind[i] = KNode;
            g.objs[i] = node_new(&idnode_type, (int)i);
        } else if (r < 8 || i == 0) {
            g.kind[i] = KList;
            g.objs[i] = tally_list_new();
            if (rng() % 2)
                tally_list_append(g.objs[i], small);   // a non-GC item
        } else {
            // A tuple holds older objects only (its items exist before it), or only ints.
            g.kind[i] = KTuple;
            size_t k = rng() % 3;
            std::vector<tally_object *> items;
            for (size_t j = 0; j < k; j++) {
                if (rng() % 3 == 0) {
                    items.push_back(small);
                } else {
                    size_t t = rng() % i;
                    items.push_back(g.objs[t]);
                    g.out[i].push_back(t);
                }
            }
            g.objs[i] = tally_tuple_new(items.size(), items.data());
        }
    }
    // Edges in both directions (older and younger), self-loops and repeated items included.
    for (size_t i = 0; i < n; i++) {
        if (g.kind[i] == KTuple)
            continue;
        size_t k = rng() % 3;
        if (g.kind[i] == KNode)
            k = std::min<size_t>(k, 2);
        for (size_t j = 0; j < k; j++) {
            size_t t = rng() % 8 == 0 ? i : rng() % n;
            if (j > 0 && rng() % 2)
                t = g.out[i].back();   // the same referent twice in a row
            if (g.kind[i] == KNode)
                (j == 0 ? node_set_a : node_set_b)(g.objs[i], g.objs[t]);
            else
                tally_list_append(g.objs[i], g.objs[t]);
            g.out[i].push_back(t);
        }
    }
    tally_decref(small);
    for (size_t i = 0; i < n; i++) {
        if (rng() % 50 == 0)
            g.roots.push_back(i);
        else
            tally_decref(g.objs[i]);
    }
    return g;
}

std::vector<char> reachable_from_roots(const Graph &g)
{
    std::vector<char> seen(g.objs.size(), 0);
    std::vector<size_t> stack(g.roots.begin(), g.roots.end());
    while (!stack.empty()) {
        size_t i = stack.back();
        stack.pop_back();
        if (seen[i])
            continue;
        seen[i] = 1;
        for (size_t t : g.out[i])
            stack.push_back(t);
    }
    return seen;
}

// Of the unreachable objects, those refcounting alone frees (nothing unreachable that survives
// refcounting refers to them) are removed, as a refcount cascade does; the rest is the garbage
// only the collector can free.
std::vector<char> cyclic_garbage(const Graph &g, const std::vector<char> &reachable)
{
    size_t n = g.objs.size();
    std::vector<size_t> indeg(n, 0);
    for (size_t i = 0; i < n; i++)
        if (!reachable[i])
            for (size_t t : g.out[i])
                indeg[t]++;
    std::vector<char> garbage(n, 0);
    std::vector<size_t> zero;
    for (size_t i = 0; i < n; i++) {
        if (!reachable[i]) {
            garbage[i] = 1;
            if (indeg[i] == 0)
                zero.push_back(i);
        }
    }
    while (!zero.empty()) {
        size_t i = zero.back();
        zero.pop_back();
        garbage[i] = 0;
        for (size_t t : g.out[i])
            if (--indeg[t] == 0 && !reachable[t])
                zero.push_back(t);
    }
    return garbage;
}

class GcFullTest : public GcTest, public ::testing::WithParamInterface<bool> {
protected:
    static void check_graph(unsigned seed, size_t n, size_t pad);
};

// Builds the graph of `seed`, collects it twice and drops its roots, checking each step against
// what the test computes itself.
void GcFullTest::check_graph(unsigned seed, size_t n, size_t pad)
{
    std::mt19937 rng(seed);
    std::vector<tally_object *> padding;
    Graph g = build(rng, n, pad, &padding);
    std::vector<char> reachable = reachable_from_roots(g);
    std::vector<char> garbage = cyclic_garbage(g, reachable);
    size_t expected = 0;
    for (char c : garbage)
        expected += c != 0;
    tally_flush();
    for (size_t i = 0; i < n; i++) {
        // Before the collection: refcounting freed exactly the unreachable acyclic part.
        if (g.kind[i] == KNode && !reachable[i]) {
            ASSERT_EQ(g_dead[i] != 0, garbage[i] == 0) << "seed " << seed << " object " << i;
        }
    }
    ASSERT_EQ(collect(2), (intptr_t)expected) << "seed " << seed << " n " << n;
    for (size_t i = 0; i < n; i++) {
        if (g.kind[i] == KNode) {
            ASSERT_EQ(g_dead[i] != 0, !reachable[i]) << "seed " << seed << " object " << i;
        }
    }
    // Survivors are intact: every reachable container still holds what the test put there.
    for (size_t i = 0; i < n; i++) {
        if (!reachable[i])
            continue;
        if (g.kind[i] == KNode) {
            ASSERT_EQ(N(g.objs[i])->magic, 0x600D);
            size_t k = (N(g.objs[i])->a != nullptr) + (N(g.objs[i])->b != nullptr);
            ASSERT_EQ(k, g.out[i].size()) << "seed " << seed << " object " << i;
        } else if (g.kind[i] == KList) {
            size_t gc_items = 0;
            for (size_t j = 0; j < tally_list_len(g.objs[i]); j++) {
                tally_object *it = tally_list_get(g.objs[i], j);
                gc_items += tally_type_of(it) != &tally_int_type && tally_type_of(it) != &tally_str_type;
                tally_decref(it);
            }
            ASSERT_EQ(gc_items, g.out[i].size()) << "seed " << seed << " object " << i;
        }
    }
    // A second collection finds nothing more; dropping the roots frees everything.
    ASSERT_EQ(collect(2), 0) << "seed " << seed;
    for (size_t r : g.roots)
        tally_decref(g.objs[r]);
    collect(2);
    for (size_t i = 0; i < n; i++) {
        if (g.kind[i] == KNode) {
            ASSERT_TRUE(g_dead[i]) << "seed " << seed << " object " << i;
        }
    }
    for (tally_object *p : padding)
        tally_decref(p);
}

TEST_P(GcFullTest, RandomGraphsLoseExactlyTheirGarbageCycles)
{
    tally_gc_set_incremental(GetParam(), 64);
    for (unsigned seed = 1; seed <= 24; seed++) {
        std::mt19937 rng(seed);
        check_graph(seed, 200 + rng() % 3000, 0);
        if (HasFatalFailure())
            return;
    }
}

// The same checks on graphs whose 40,000 objects lie among 800-byte strings, over tens of MiB:
// the walk changes region many times, a traversal's items lie in other regions than the walked
// object, and the process's first full collections over those addresses map their leaves both
// from the walk and from visits to members not walked yet (the lookups' leaf caches must forget
// a "no leaf here" then; collector/gc_side_table.h).
TEST_P(GcFullTest, RandomGraphsSpreadOverManyRegions)
{
    tally_gc_set_incremental(GetParam(), 64);
    for (unsigned seed = 101; seed <= 103; seed++) {
        check_graph(seed, 40000, 800);
        if (HasFatalFailure())
            return;
    }
}

INSTANTIATE_TEST_SUITE_P(SideTableAndPrevWords, GcFullTest, ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool> &p) {
                             return std::string(p.param ? "Incremental" : "SideTable");
                         });

// An object made before the only object that holds it, which is held from outside: the first
// pass over W in list order finds it at gc_refs 0 and must take it back when its holder is
// traversed, through a chain.
TEST_F(GcTest, FullCollectionKeepsOldObjectsHeldByYoungerOnes)
{
    const int kChain = 1000;
    std::vector<tally_object *> chain(kChain);
    for (int i = 0; i < kChain; i++)
        chain[(size_t)i] = node_new(&node_type, i);
    for (int i = 1; i < kChain; i++)
        node_set_a(chain[(size_t)i], chain[(size_t)i - 1]);   // younger -> older
    for (int i = 0; i + 1 < kChain; i++)
        tally_decref(chain[(size_t)i]);
    EXPECT_EQ(collect(2), 0);
    EXPECT_EQ(g_log.destroyed.load(), 0);
    tally_object *p = chain[kChain - 1];
    for (int i = kChain - 1; i >= 0; i--) {
        ASSERT_EQ(N(p)->magic, 0x600D);
        ASSERT_EQ(N(p)->id, i);
        p = N(p)->a;
    }
    EXPECT_EQ(p, nullptr);
    tally_decref(chain[kChain - 1]);
    tally_flush();
    EXPECT_EQ(g_log.destroyed.load(), kChain);
}

uintptr_t region_of(tally_object *o) { return (uintptr_t)o >> 22; }   // the side table's 4 MiB

// The side table's lookups remember the last leaf they found, "no leaf here" included
// (collector/gc_side_table.h); a leaf mapped during the walk must make them forget that answer.
// Built so that the walk meets both cases in a full collection whose regions start unmapped:
// g1 visits m twice while m's region has no leaf (the first visit maps it), and last visits f
// (frozen, never a member) in g2's region, which the walk maps later, before g2 visits itself.
// A stale answer initialises an entry a second time, which the collector's own count of set
// entries turns into a fatal error, and leaves a wrong gc_refs.
TEST_F(GcTest, SideTableLookupsForgetRegionsMappedDuringTheWalk)
{
    tally_object *f = tally_list_new();
    tally_gc_freeze();
    EXPECT_EQ(collect(2), 0);   // W empty: the collection unmaps every leaf of the table
    tally_object *g2 = tally_list_new();
    tally_list_append(g2, g2);
    tally_object *m = node_new();
    std::vector<tally_object *> pad(100000);   // 6.4 MB of empty lists: g1 lands in a later region
    for (tally_object *&p : pad)
        p = tally_list_new();
    tally_object *g1 = tally_list_new();
    tally_list_append(g1, m);
    tally_list_append(g1, m);
    tally_list_append(g1, f);
    ASSERT_NE(region_of(g1), region_of(g2)) << "the padding did not move g1 to another 4 MiB region";
    ASSERT_NE(region_of(g1), region_of(m));
    tally_decref(m);   // held by g1 only: reachable through it
    EXPECT_EQ(collect(2), 0);
    EXPECT_EQ(g_log.destroyed.load(), 0);
    ASSERT_EQ(tally_list_len(g1), 3u);
    ASSERT_TRUE(list_contains(g1, m));
    EXPECT_EQ(N(m)->magic, 0x600D);
    // The cycle g2 -> g2 dies once dropped; m dies with g1.
    tally_decref(g2);
    EXPECT_EQ(collect(2), 1);
    tally_decref(g1);
    tally_flush();
    EXPECT_EQ(g_log.destroyed.load(), 1);
    for (tally_object *p : pad)
        tally_decref(p);
    tally_gc_unfreeze();
    tally_decref(f);
}

// A full collection that finds the list it walks broken (a loop that misses the list's head,
// which is what a member freed while still linked leaves behind: the racy backend's lost
// counts can do that) stops the process with a message naming the object, instead of walking
// round the loop forever while its order array grows.  The loop is made by hand here: four
// fresh lists survive one full collection (they are then in the old generation's list, in
// allocation order: nurseries are gathered in order and survivors keep it), and the third
// gets the fourth (the youngest) as its predecessor.  The GC pre-header (two words, next then
// prev, right before the object) is the runtime's layout, not its API: this test is the only
// place outside the runtime that relies on it.
void full_collection_over_a_broken_list()
{
    tally_gc_disable();
    tally_gc_collect(2);
    tally_object *l[4];
    for (tally_object *&o : l)
        o = tally_list_new();
    tally_gc_collect(2);
    uintptr_t *prev_of_third = reinterpret_cast<uintptr_t *>(l[2]) - 1;
    uintptr_t head_of_fourth = reinterpret_cast<uintptr_t>(reinterpret_cast<uintptr_t *>(l[3]) - 2);
    *prev_of_third = (*prev_of_third & 0xF) | head_of_fourth;   // its flags kept, the pointer not
    tally_gc_collect(2);
}

TEST(GcBrokenList, FullCollectionStopsOnALoopInItsList)
{
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    tally_gc_set_incremental(false, 0);
    EXPECT_DEATH(full_collection_over_a_broken_list(), "list of the objects being collected is broken: list object 0x[0-9a-f]+ reached twice");
}

}  // namespace
