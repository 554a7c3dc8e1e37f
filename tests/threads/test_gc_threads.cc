// tests/threads/test_gc_threads.cc - the cycle collector with several attached threads.
//
// Threads build and drop cyclic garbage while collections run (automatic ones at a low
// threshold and explicit ones from every thread); every object must be reclaimed exactly once
// and nothing reachable may be freed or cleared.
#include "tally_test.h"

#include <atomic>
#include <memory>
#include <random>
#include <thread>
#include <vector>

namespace {

constexpr int kMaxIds = 1 << 20;
std::unique_ptr<std::atomic<int>[]> g_freed;    // per id: how many times destroy ran
std::atomic<int> g_next_id{0};
std::atomic<int> g_bad_clear{0};               // clear() of an object that was still reachable

struct TNode {
    TALLY_OBJECT_HEAD;
    tally_object *a, *b;
    int id;
    std::atomic<int> magic;    // 0x600D alive, 0xC1EA cleared by the collector, 0xDEAD destroyed
    std::atomic<int> pinned;   // 1 while a thread keeps it as a root (clearing it is a bug)
};

int tn_traverse(tally_object *self, tally_visitproc visit, void *arg)
{
    auto *n = reinterpret_cast<TNode *>(self);
    if (n->a)
        if (int r = visit(n->a, arg))
            return r;
    if (n->b)
        if (int r = visit(n->b, arg))
            return r;
    return 0;
}
int tn_clear(tally_object *self)
{
    auto *n = reinterpret_cast<TNode *>(self);
    if (n->pinned.load())
        g_bad_clear.fetch_add(1);
    n->magic = 0xC1EA;
    tally_object *a = n->a, *b = n->b;
    n->a = n->b = nullptr;
    tally_xdecref(a);
    tally_xdecref(b);
    return 0;
}
void tn_destroy(tally_object *self)
{
    auto *n = reinterpret_cast<TNode *>(self);
    g_freed[n->id].fetch_add(1);
    n->magic = 0xDEAD;
    tally_object *a = n->a, *b = n->b;
    n->a = n->b = nullptr;
    tally_xdecref(a);
    tally_xdecref(b);
}
const tally_type tnode_type = {
    "TNode", sizeof(TNode), TALLY_TYPE_GC, tn_traverse, tn_clear, nullptr, nullptr, tn_destroy,
};

tally_object *tn_new()
{
    int id = g_next_id.fetch_add(1);
    if (id >= kMaxIds)
        return nullptr;
    auto *n = reinterpret_cast<TNode *>(tally_new(&tnode_type));
    n->id = id;
    n->magic = 0x600D;
    n->pinned = 0;
    return &n->ob_base;
}
TNode *T(tally_object *o) { return reinterpret_cast<TNode *>(o); }
void set_a(tally_object *n, tally_object *t) { tally_incref(t); T(n)->a = t; }
void set_b(tally_object *n, tally_object *t) { tally_incref(t); T(n)->b = t; }

struct Worker {
    std::vector<tally_object *> roots;   // owned references, pinned
    int violations = 0;
    int created = 0;
};

void check_root(Worker &w, tally_object *r)
{
    // A root and what it reaches are alive and untouched.
    if (T(r)->magic.load() != 0x600D)
        w.violations++;
    tally_object *c = T(r)->a;
    if (!c || T(c)->magic.load() != 0x600D || T(c)->a != r)
        w.violations++;
}

void work(Worker &w, unsigned seed, int rounds, bool racy_containers)
{
    ASSERT_EQ(tally_thread_attach(), 0);
    std::mt19937 rng(seed);
    for (int round = 0; round < rounds; round++) {
        // Cyclic garbage: 2-cycles and a 3-node ring with a shared list in between.
        for (int i = 0; i < 40; i++) {
            tally_object *a = tn_new(), *b = tn_new();
            if (!a || !b)
                break;
            w.created += 2;
            set_a(a, b);
            set_a(b, a);
            if (i % 8 == 0 && !racy_containers) {
                tally_object *l = tally_list_new();
                tally_list_append(l, a);
                set_b(b, l);
                tally_decref(l);
            }
            tally_decref(a);
            tally_decref(b);
        }
        // A reachable cycle that this thread keeps for a while.
        if (rng() % 4 == 0) {
            tally_object *a = tn_new(), *b = tn_new();
            if (a && b) {
                w.created += 2;
                set_a(a, b);
                set_a(b, a);
                T(a)->pinned = 1;
                T(b)->pinned = 1;
                tally_decref(b);
                w.roots.push_back(a);
            }
        }
        for (tally_object *r : w.roots)
            check_root(w, r);
        // Drop an old root: its cycle becomes garbage.
        if (w.roots.size() > 8) {
            tally_object *r = w.roots.front();
            w.roots.erase(w.roots.begin());
            T(r)->pinned = 0;
            T(T(r)->a)->pinned = 0;
            tally_decref(r);
        }
        if (rng() % 16 == 0)
            tally_gc_collect(rng() % 3);
        tally_safepoint();
    }
    for (tally_object *r : w.roots)
        check_root(w, r);
    for (tally_object *r : w.roots) {
        T(r)->pinned = 0;
        T(T(r)->a)->pinned = 0;
        tally_decref(r);
    }
    w.roots.clear();
    tally_flush();
    tally_thread_release();
}

}  // namespace

TEST(GcThreads, ConcurrentCyclicGarbageIsReclaimedExactlyOnce)
{
    g_freed.reset(new std::atomic<int>[kMaxIds]());
    g_next_id = 0;
    g_bad_clear = 0;
    int saved[3];
    tally_gc_get_threshold(saved);
    bool was_enabled = tally_gc_is_enabled();
    tally_gc_set_threshold(300, 5, 5);
    tally_gc_enable();

    constexpr int kThreads = 4;
    std::vector<Worker> workers(kThreads);
    std::vector<std::thread> threads;
    TALLY_BEGIN_ALLOW_THREADS
    for (int t = 0; t < kThreads; t++)
        threads.emplace_back(work, std::ref(workers[t]), 1234u + t, 150, false);
    for (auto &th : threads)
        th.join();
    TALLY_END_ALLOW_THREADS

    tally_flush();
    tally_gc_collect(2);
    tally_flush();
    int created = g_next_id.load();
    ASSERT_LT(created, kMaxIds);
    int total_created = 0, violations = 0;
    for (auto &w : workers) {
        total_created += w.created;
        violations += w.violations;
    }
    EXPECT_EQ(total_created, created);
    EXPECT_EQ(violations, 0);
    EXPECT_EQ(g_bad_clear.load(), 0);
    int never = 0, twice = 0;
    for (int i = 0; i < created; i++) {
        int f = g_freed[i].load();
        never += f == 0;
        twice += f > 1;
    }
    EXPECT_EQ(never, 0) << "objects never reclaimed";
    EXPECT_EQ(twice, 0) << "objects reclaimed twice";
    tally_gc_stats st;
    tally_gc_get_stats(0, &st);
    EXPECT_GT(st.collections, 0u);

    tally_gc_set_threshold(saved[0], saved[1], saved[2]);
    if (!was_enabled)
        tally_gc_disable();
}

TEST(GcThreads, IncrementalCollectionsWhileThreadsMutate)
{
    g_freed.reset(new std::atomic<int>[kMaxIds]());
    g_next_id = 0;
    g_bad_clear = 0;
    int saved[3];
    tally_gc_get_threshold(saved);
    tally_gc_set_threshold(200, 2, 2);
    tally_gc_enable();
    tally_gc_set_incremental(true, 100);

    constexpr int kThreads = 3;
    std::vector<Worker> workers(kThreads);
    std::vector<std::thread> threads;
    TALLY_BEGIN_ALLOW_THREADS
    for (int t = 0; t < kThreads; t++)
        threads.emplace_back(work, std::ref(workers[t]), 99u + t, 120, false);
    for (auto &th : threads)
        th.join();
    TALLY_END_ALLOW_THREADS

    tally_gc_set_incremental(false, 0);
    tally_flush();
    tally_gc_collect(2);
    tally_flush();
    int created = g_next_id.load();
    int violations = 0;
    for (auto &w : workers)
        violations += w.violations;
    EXPECT_EQ(violations, 0);
    EXPECT_EQ(g_bad_clear.load(), 0);
    int never = 0, twice = 0;
    for (int i = 0; i < created; i++) {
        never += g_freed[i].load() == 0;
        twice += g_freed[i].load() > 1;
    }
    EXPECT_EQ(never, 0);
    EXPECT_EQ(twice, 0);
    tally_gc_set_threshold(saved[0], saved[1], saved[2]);
}
