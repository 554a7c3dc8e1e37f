// tests/gc/test_gc_side_table.cc - the full collection's side table across collections: the
// direction of its second pass, leaves mapped again after the heap left their region, and its
// arrays grown, given back and grown again (collector/gc_side_table.c).
//
// Pass B (move_unreachable over the side table) walks W oldest first or youngest first, whichever
// way most references point (pass A counts them).  The outcome must not depend on it: each
// graph here is dominated by one direction and also holds references the other way (so that the
// take-back path runs in both), and garbage hangs off it; the test knows which objects are
// garbage and checks the count the collection returns, the live structure, and that the garbage
// reaches its finalizers in list order (oldest first) either way.  The leaves and arrays are
// committed ahead of their use (MADV_POPULATE_WRITE) and kept between collections, given back
// when the heap shrinks: a heap built where an earlier one was (same addresses, leaves unmapped
// and mapped again, or kept) must be collected exactly, and a stale entry would be caught by the
// collector's own count of the entries it set and cleared (a fatal error).
#include "gc_test_types.h"

#include <vector>

namespace {

std::vector<int> g_finalized_ids;

void order_finalize(tally_object *self) { g_finalized_ids.push_back(N(self)->id); }

const tally_type order_node_type = {
    "OrderNode", sizeof(Node), TALLY_TYPE_GC, node_traverse, node_clear, order_finalize, nullptr, node_destroy,
};

// A ring of k garbage nodes whose references run the given way: each node holds the one made
// before it (toward_older) or the one made after it, and one node closes the ring.
void make_garbage_ring(int k, bool toward_older, int first_id)
{
    std::vector<tally_object *> r((size_t)k);
    for (int i = 0; i < k; i++)
        r[(size_t)i] = node_new(&order_node_type, first_id + i);
    for (int i = 0; i < k; i++) {
        tally_object *to = r[(size_t)((toward_older ? i - 1 + k : i + 1) % k)];
        node_set_a(r[(size_t)i], to);
    }
    for (tally_object *o : r)
        tally_decref(o);
}

class SideTableDirection : public GcTest, public ::testing::WithParamInterface<bool> {};

// A live chain of 20,000 nodes whose references run toward_older or not (held from outside at
// the end whose references lead through all of it), every 100th node also holding a node that
// only it holds, made on the other side of it (a reference the other way: found at gc_refs 0 by
// a walk from that side and taken back); and a garbage ring of 500 whose references run the same
// way.  The chain dominates the count of references, so each parameter makes pass B walk one
// way.
TEST_P(SideTableDirection, CollectsExactlyTheGarbageInListOrder)
{
    const bool toward_older = GetParam();
    const int kChain = 20000, kRing = 500;
    g_finalized_ids.clear();
    std::vector<tally_object *> chain((size_t)kChain);
    std::vector<tally_object *> side;
    for (int i = 0; i < kChain; i++) {
        if (i % 100 == 50 && !toward_older)
            side.push_back(node_new(&node_type, -1));   // made before chain[i], held by it only
        chain[(size_t)i] = node_new(&node_type, i);
        if (i % 100 == 50 && !toward_older)
            node_set_b(chain[(size_t)i], side.back());
        if (i == kChain / 2)
            make_garbage_ring(kRing, toward_older, 1000000);
    }
    if (toward_older) {
        // The side nodes are made after the whole chain: each is held by an older chain node.
        for (int i = 50; i < kChain; i += 100) {
            side.push_back(node_new(&node_type, -1));
            node_set_b(chain[(size_t)i], side.back());
        }
        for (int i = 1; i < kChain; i++)
            node_set_a(chain[(size_t)i], chain[(size_t)i - 1]);
    } else {
        for (int i = 0; i + 1 < kChain; i++)
            node_set_a(chain[(size_t)i], chain[(size_t)i + 1]);
    }
    for (tally_object *s : side)
        tally_decref(s);
    tally_object *held = toward_older ? chain[kChain - 1] : chain[0];
    for (tally_object *o : chain)
        if (o != held)
            tally_decref(o);

    EXPECT_EQ(collect(2), kRing);
    EXPECT_EQ(g_log.destroyed.load(), kRing);
    ASSERT_EQ(g_finalized_ids.size(), (size_t)kRing);
    for (int i = 0; i < kRing; i++)
        ASSERT_EQ(g_finalized_ids[(size_t)i], 1000000 + i) << "the garbage did not reach its finalizers oldest first";

    // Everything live is still there, and a second collection finds nothing.
    EXPECT_EQ(collect(2), 0);
    tally_object *p = held;
    int n = 0, sides = 0;
    while (p) {
        ASSERT_EQ(N(p)->magic, 0x600D);
        ASSERT_EQ(N(p)->id, toward_older ? kChain - 1 - n : n);
        if (N(p)->b) {
            ASSERT_EQ(N(N(p)->b)->magic, 0x600D);
            sides++;
        }
        p = N(p)->a;
        n++;
    }
    EXPECT_EQ(n, kChain);
    EXPECT_EQ(sides, (int)side.size());
    tally_decref(held);
    tally_flush();
    EXPECT_EQ(g_log.destroyed.load(), kRing + kChain + (int)side.size());
}

INSTANTIATE_TEST_SUITE_P(Directions, SideTableDirection, ::testing::Values(true, false),
                         [](const ::testing::TestParamInfo<bool> &p) {
                             return std::string(p.param ? "TowardOlder" : "TowardYounger");
                         });

// n lists of one small int held by a holder list (made first), a backward chain of 2n nodes held
// from outside (references toward older objects dominate: pass B walks youngest first, so it
// finds every list at gc_refs 0 before the holder and takes each one back, appending it to its
// order array past the end of what pass A wrote), and `cycles` garbage 2-cycles.  Returns the
// roots; the collection must return 2 * cycles.
struct Heap {
    tally_object *holder = nullptr;
    tally_object *chain = nullptr;
};

Heap make_heap(size_t n, size_t cycles)
{
    Heap h;
    tally_object *zero = tally_int_new(0);
    h.holder = tally_list_new();
    for (size_t i = 0; i < n; i++) {
        tally_object *l = tally_list_new();
        tally_list_append(l, zero);
        tally_list_append(h.holder, l);
        tally_decref(l);
    }
    for (size_t i = 0; i < 2 * n; i++) {
        tally_object *x = node_new(&node_type, (int)i);
        if (h.chain) {
            node_set_a(x, h.chain);
            tally_decref(h.chain);
        }
        h.chain = x;
    }
    for (size_t i = 0; i < cycles; i++) {
        tally_object *a = tally_list_new(), *b = tally_list_new();
        tally_list_append(a, b);
        tally_list_append(b, a);
        tally_decref(a);
        tally_decref(b);
    }
    tally_decref(zero);
    return h;
}

void drop_heap(Heap &h)
{
    tally_decref(h.holder);
    tally_decref(h.chain);
    h = Heap{};
}

// The arrays grow past several of the 1 MiB steps in which they are committed (pass A's order
// array to 600,000 members, then pass B's take-backs past its end; its list of tentatively
// unreachable members too), are given back when a collection needs less than a quarter of them,
// and grow again; the side table's leaves are unmapped when the heap leaves their regions, and
// mapped (and populated) again when a new heap is built at the same addresses, or kept and
// reused when it stays.  Each collection must find exactly the garbage.
TEST_F(GcTest, SideTableArraysAndLeavesSurviveGrowthShrinkAndReuse)
{
    const size_t kLists = 150000, kCycles = 75000;   // W: 150,001 + 300,000 + 150,000
    for (int round = 0; round < 2; round++) {
        g_log.destroyed = 0;
        Heap h = make_heap(kLists, kCycles);
        EXPECT_EQ(collect(2), (intptr_t)(2 * kCycles)) << "round " << round;
        EXPECT_EQ(collect(2), 0) << "round " << round;   // the same heap: leaves and arrays kept
        ASSERT_EQ(tally_list_len(h.holder), kLists);
        drop_heap(h);
        tally_flush();
        EXPECT_EQ(g_log.destroyed.load(), (int)(2 * kLists));
        g_log.destroyed = 0;
        // A small heap: the arrays are more than four times what it needs (given back) and the
        // leaves of the big heap's regions saw no member (unmapped).
        Heap s = make_heap(100, 10);
        EXPECT_EQ(collect(2), 20) << "round " << round;
        drop_heap(s);
        tally_flush();
        EXPECT_EQ(g_log.destroyed.load(), 200);
    }
}

}  // namespace
