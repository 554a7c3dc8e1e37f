// tests/threads/test_gc_young.cc - the young generation's count and size under several threads.
//
// count[0] is kept per thread and folded in batches (collector/gc_lists.c): get_count must still
// add every thread's part, and a thread's part must not be lost when it exits.  Young
// collections must not grow with the number of threads: while one thread collects, the others
// are held back once the young count passes twice the threshold.
#include "tally_test.h"

#include <mimalloc.h>

#include <algorithm>
#include <set>
#include <cstdio>
#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

namespace {

struct YNode {
    TALLY_OBJECT_HEAD;
    tally_object *peer;
};

int yn_traverse(tally_object *self, tally_visitproc visit, void *arg)
{
    auto *n = reinterpret_cast<YNode *>(self);
    return n->peer ? visit(n->peer, arg) : 0;
}
// clear() does some work of its own (as a clear that releases resources would), so that the
// collector spends longer per object than a mutator spends allocating one: the case where a
// collection without back-pressure is overtaken by the other threads.
std::atomic<int> g_clear_work{0};
int yn_clear(tally_object *self)
{
    for (int i = 0, n = g_clear_work.load(std::memory_order_relaxed); i < n; i++)
        asm volatile("" ::: "memory");
    auto *n = reinterpret_cast<YNode *>(self);
    tally_object *p = n->peer;
    n->peer = nullptr;
    tally_xdecref(p);
    return 0;
}
void yn_destroy(tally_object *self)
{
    auto *n = reinterpret_cast<YNode *>(self);
    tally_object *p = n->peer;
    n->peer = nullptr;
    tally_xdecref(p);
}
const tally_type ynode_type = {
    "YNode", sizeof(YNode), TALLY_TYPE_GC, yn_traverse, yn_clear, nullptr, nullptr, yn_destroy,
};

tally_object *yn_new() { return tally_new(&ynode_type); }

int young_count()
{
    int c[3];
    tally_gc_get_count(c);
    return c[0];
}

class YoungGeneration : public ::testing::Test {
protected:
    void SetUp() override { tally_gc_get_threshold(saved_); }
    void TearDown() override
    {
        tally_gc_set_threshold(saved_[0], saved_[1], saved_[2]);
        tally_gc_enable();
        tally_gc_collect(2);
    }
    int saved_[3];
};

}  // namespace

TEST_F(YoungGeneration, CountAddsEveryThreadsUnpublishedPart)
{
    tally_gc_disable();
    tally_gc_set_threshold(2000, 10, 10);   // a batch of 250: 100 objects stay unpublished
    tally_gc_collect(2);
    tally_flush();
    ASSERT_EQ(young_count(), 0);
    constexpr int kPer = 100;
    std::atomic<int> ready{0};
    std::atomic<bool> drop{false}, release{false};
    std::vector<std::thread> threads;
    for (int t = 0; t < 2; t++) {
        threads.emplace_back([&] {
            ASSERT_EQ(tally_thread_attach(), 0);
            std::vector<tally_object *> mine;
            for (int i = 0; i < kPer; i++)
                mine.push_back(yn_new());
            ready.fetch_add(1);
            TALLY_BEGIN_ALLOW_THREADS
            while (!drop.load())
                std::this_thread::yield();
            TALLY_END_ALLOW_THREADS
            for (tally_object *o : mine)
                tally_decref(o);   // frees of this thread's own allocations: -1 each
            tally_flush();
            ready.fetch_add(1);
            TALLY_BEGIN_ALLOW_THREADS
            while (!release.load())
                std::this_thread::yield();
            TALLY_END_ALLOW_THREADS
            tally_thread_release();
        });
    }
    std::vector<tally_object *> main_objs;
    for (int i = 0; i < kPer; i++)
        main_objs.push_back(yn_new());
    TALLY_BEGIN_ALLOW_THREADS
    while (ready.load() < 2)
        std::this_thread::yield();
    TALLY_END_ALLOW_THREADS
    EXPECT_EQ(young_count(), 3 * kPer);   // two threads' parts are not yet folded
    drop = true;
    TALLY_BEGIN_ALLOW_THREADS
    while (ready.load() < 4)
        std::this_thread::yield();
    TALLY_END_ALLOW_THREADS
    // Each thread freed what it allocated: exact, except on deferred, whose frees run later and
    // on whichever thread applies the decrements (a free by a thread whose own view of the count
    // is 0 is not counted: the count errs high, never low).
    bool exact = !tally_test_backend_is("deferred");
    if (exact) {
        EXPECT_EQ(young_count(), kPer);
    } else {
        EXPECT_GE(young_count(), kPer);
    }
    release = true;
    TALLY_BEGIN_ALLOW_THREADS
    for (auto &t : threads)
        t.join();
    TALLY_END_ALLOW_THREADS
    tally_flush();
    if (exact) {
        EXPECT_EQ(young_count(), kPer);   // released threads folded what they had
    } else {
        EXPECT_GE(young_count(), kPer);
    }
    EXPECT_LE(young_count(), 3 * kPer);
    for (tally_object *o : main_objs)
        tally_decref(o);
    tally_flush();
    if (exact) {
        EXPECT_EQ(young_count(), 0);
    }
}

// Objects that die as soon as they are made never fill the young generation, on any backend:
// deferred applies its logged decrements (and biased its queued merges) before an automatic
// collection is decided, so deaths the backend has not applied yet do not start one.  deferred
// ran one collection per threshold of allocations here before (200 for 100,000 objects at 500);
// binary-trees collected twice as often as on atomic.  One thread, then two.
TEST_F(YoungGeneration, ObjectsThatDieAtOnceStartNoCollection)
{
    constexpr int kThreshold = 500;
    constexpr int kObjects = 100000;
    tally_gc_collect(2);
    tally_gc_set_threshold(kThreshold, 10, 10);
    tally_gc_enable();
    auto gen0 = [] {
        tally_gc_stats st{};
        EXPECT_EQ(tally_gc_get_stats(0, &st), 0);
        return st.collections;
    };
    auto churn = [] {
        for (int i = 0; i < kObjects; i++) {
            tally_object *o = yn_new();
            ASSERT_NE(o, nullptr);
            tally_decref(o);
        }
    };
    uint64_t before = gen0();
    churn();
    EXPECT_EQ(gen0() - before, 0u) << "one thread";
    tally_flush();
    before = gen0();
    tally_alloc_stats st0;
    tally_get_alloc_stats(&st0);
    std::thread other([&] {
        ASSERT_EQ(tally_thread_attach(), 0);
        churn();
        tally_thread_release();
    });
    churn();
    TALLY_BEGIN_ALLOW_THREADS
    other.join();
    TALLY_END_ALLOW_THREADS
    tally_flush();
    tally_alloc_stats st1;
    tally_get_alloc_stats(&st1);
    EXPECT_EQ(st1.live, st0.live);
    // Two threads: a flush applies what the other thread logged up to its cut, and it allocates
    // on meanwhile, so how many collections remain depends on timing (release build, deferred:
    // 0-2 of the 400 thresholds; 257 before; 69-122 under ThreadSanitizer, whose flush is slow):
    // a figure for a benchmark, not an assertion.  Here the two threads must only free
    // everything they made.
    std::printf("[ info ] two threads: %llu young collections for %d objects at threshold %d\n",
                (unsigned long long)(gen0() - before), 2 * kObjects, kThreshold);
}

// Two threads produce 2-cycles as fast as they can.  Before the per-thread counts and the
// back-pressure, the collector's own frees uncounted the other thread's allocations and the
// other thread allocated on through every collection: young collections grew to 50-100x the
// threshold.  The median stays within a few thresholds now (the bound leaves room for sanitizer
// builds, where a collection can outlast the back-pressure's 2 ms wait).
TEST_F(YoungGeneration, YoungCollectionsDoNotGrowWithThreads)
{
    constexpr int kThreshold = 500;
    constexpr int kCycles = 60000;
    tally_gc_set_threshold(kThreshold, 1000000, 1000000);   // young collections only
    tally_gc_enable();
    tally_gc_collect(2);
    tally_gc_reset_pauses();
    g_clear_work = 1500;
    std::vector<std::thread> threads;
    for (int t = 0; t < 2; t++) {
        threads.emplace_back([] {
            ASSERT_EQ(tally_thread_attach(), 0);
            for (int i = 0; i < kCycles; i++) {
                tally_object *a = yn_new(), *b = yn_new();
                reinterpret_cast<YNode *>(a)->peer = tally_newref(b);
                reinterpret_cast<YNode *>(b)->peer = tally_newref(a);
                tally_decref(a);
                tally_decref(b);
                if ((i & 63) == 0)
                    tally_safepoint();
            }
            tally_thread_release();
        });
    }
    TALLY_BEGIN_ALLOW_THREADS
    for (auto &t : threads)
        t.join();
    TALLY_END_ALLOW_THREADS
    g_clear_work = 0;
    std::vector<tally_gc_pause> rec(TALLY_GC_PAUSE_RING);
    size_t n = tally_gc_get_pauses(rec.data(), rec.size());
    std::vector<uint64_t> young;
    for (size_t i = 0; i < n; i++)
        if (rec[i].generation == 0)
            young.push_back(rec[i].candidates);
    // 240,000 objects at a threshold of 500: dozens of young collections at the least.
    ASSERT_GE(young.size(), 40u);
    // The share of all young candidates that were examined in collections over 8 thresholds.
    uint64_t all = 0, oversized = 0, largest = 0;
    for (uint64_t c : young) {
        all += c;
        largest = std::max(largest, c);
        if (c > 8u * kThreshold)
            oversized += c;
    }
    EXPECT_LE(oversized * 10, all) << young.size() << " young collections, largest " << largest;
    EXPECT_GT(tally_gc_collect(2), -1);
}

namespace {

// A 2-cycle whose traverse samples another thread's progress counter while a collection runs.
std::atomic<long> g_progress{0};      // the other thread's allocations
std::atomic<bool> g_watching{false};
std::atomic<long> g_min_seen{-1}, g_max_seen{-1};
int watched_traverse(tally_object *self, tally_visitproc visit, void *arg)
{
    if (g_watching.load()) {
        long p = g_progress.load();
        long lo = g_min_seen.load();
        if (lo < 0 || p < lo)
            g_min_seen = p;
        // Stay here long enough for a running thread to show progress (several of its
        // allocations take far less than a millisecond).
        auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(2);
        while (std::chrono::steady_clock::now() < until) {
        }
        g_max_seen = std::max(g_max_seen.load(), g_progress.load());
    }
    return yn_traverse(self, visit, arg);
}
const tally_type watched_type = {
    "WatchedNode", sizeof(YNode), TALLY_TYPE_GC, watched_traverse, yn_clear, nullptr, nullptr, yn_destroy,
};
long g_at_start = -1;
unsigned g_spin_ms = 0;
void note_start(int phase, const tally_gc_info *, void *)
{
    if (phase != TALLY_GC_START || !g_watching.load())
        return;
    g_at_start = g_progress.load();
    // Hold the GIL past the waiter's switch interval: it asks this thread to drop the GIL.
    auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(g_spin_ms);
    while (std::chrono::steady_clock::now() < until) {
    }
}

}  // namespace

// A collection runs no other thread's Tally code between its start and its first user code
// (finalizer, weakref callback, clear).  On gil that means the collector keeps the GIL: it
// allocated its scratch lists with tally_new, a safepoint, and handed the GIL over there when a
// waiter had asked for it; the waiter then allocated on with the young count over the threshold
// and no collection possible (one young collection of 26 thresholds in CI).  On the free-threaded
// backends the other thread is stopped while traverse runs.
TEST_F(YoungGeneration, NoOtherThreadRunsBetweenACollectionsStartAndItsUserCode)
{
    const bool gil = tally_test_backend_is("gil");
    unsigned saved_interval = tally_get_switch_interval();
    if (gil) {
        ASSERT_EQ(tally_set_switch_interval(200), 0);
    }
    g_spin_ms = gil ? 5 : 0;
    ASSERT_EQ(tally_gc_callback_add(note_start, nullptr), 0);
    tally_gc_disable();
    g_progress = 0;
    std::atomic<bool> stop{false};
    std::thread other([&] {
        ASSERT_EQ(tally_thread_attach(), 0);
        while (!stop.load()) {
            tally_object *o = yn_new();
            g_progress.fetch_add(1);
            tally_xdecref(o);
            tally_safepoint();
        }
        tally_thread_release();
    });
    // Let the other thread run first, so that it is mid-loop (or waiting for the GIL).
    TALLY_BEGIN_ALLOW_THREADS
    while (g_progress.load() < 1000)
        std::this_thread::yield();
    TALLY_END_ALLOW_THREADS
    for (int round = 0; round < 5; round++) {
        tally_object *a = tally_new(&watched_type), *b = tally_new(&watched_type);
        ASSERT_TRUE(a && b);
        reinterpret_cast<YNode *>(a)->peer = tally_newref(b);
        reinterpret_cast<YNode *>(b)->peer = tally_newref(a);
        tally_decref(a);
        tally_decref(b);
        g_min_seen = -1;
        g_max_seen = -1;
        g_watching = true;
        EXPECT_GE(tally_gc_collect(0), 2);
        g_watching = false;
        ASSERT_GE(g_min_seen.load(), 0) << "traverse was not called";
        if (gil) {
            EXPECT_EQ(g_max_seen.load(), g_at_start) << "round " << round << ": the other thread ran "
                << g_max_seen.load() - g_at_start << " allocations inside the collection";
        } else {
            EXPECT_EQ(g_max_seen.load(), g_min_seen.load()) << "round " << round
                << ": the other thread ran while traverse ran (world not stopped)";
        }
    }
    stop = true;
    TALLY_BEGIN_ALLOW_THREADS
    other.join();
    TALLY_END_ALLOW_THREADS
    EXPECT_EQ(tally_gc_callback_remove(note_start, nullptr), 0);
    if (gil) {
        EXPECT_EQ(tally_set_switch_interval(saved_interval), 0);
    }
}

namespace {

// The YNode objects tally_gc_get_objects(generation) lists (the list's references dropped).
std::set<tally_object *> ynodes_in(int generation)
{
    std::set<tally_object *> out;
    tally_object *l = tally_gc_get_objects(generation);
    EXPECT_NE(l, nullptr);
    if (!l)
        return out;
    for (size_t i = 0, n = tally_list_len(l); i < n; i++) {
        tally_object *o = tally_list_get(l, i);
        if (tally_type_of(o) == &ynode_type)
            out.insert(o);
        tally_decref(o);
    }
    tally_decref(l);
    return out;
}

}  // namespace

// Young objects live in their thread's nursery: the owner's frees give their slots back for its
// next objects, other threads' frees leave a hole until the next collection, and a nursery that
// grows to 64 chunks with the collector off spills its objects (with the world stopped) into the
// young list under gc.lock, whose objects other threads then free through that list.  Through
// all of it, get_objects(0) lists exactly the living young objects, and a young collection finds
// exactly them (moving them to generation 1) and the garbage cycles.
TEST_F(YoungGeneration, NurseryListsExactlyTheLivingThroughReuseHolesAndSpills)
{
    tally_gc_disable();
    tally_gc_collect(2);
    std::vector<tally_object *> live;
    for (int i = 0; i < 150000; i++)     // two spills: most of them move to the young list
        live.push_back(yn_new());
    std::vector<tally_object *> kept;
    for (size_t i = 0; i < live.size(); i++) {
        if (i % 3 == 0)
            tally_decref(live[i]);       // the owner's frees: slots reused below
        else
            kept.push_back(live[i]);
    }
    for (int i = 0; i < 50000; i++)
        kept.push_back(yn_new());
    // Another thread frees every other one of the first 100,000 kept (spilled ones through the
    // young list) and of the last 20,000 (holes in this nursery).
    std::vector<tally_object *> foreign, mine;
    for (size_t i = 0; i < kept.size(); i++)
        ((i < 100000 || i + 20000 >= kept.size()) && i % 2 == 0 ? foreign : mine).push_back(kept[i]);
    std::thread t([&] {
        ASSERT_EQ(tally_thread_attach(), 0);
        for (tally_object *o : foreign)
            tally_decref(o);
        tally_flush();
        tally_thread_release();
    });
    TALLY_BEGIN_ALLOW_THREADS
    t.join();
    TALLY_END_ALLOW_THREADS
    tally_flush();
    // More spills, with holes among what they move.
    for (int i = 0; i < 150000; i++)
        mine.push_back(yn_new());
    // Garbage cycles among them.
    for (int i = 0; i < 1000; i++) {
        tally_object *a = yn_new(), *b = yn_new();
        reinterpret_cast<YNode *>(a)->peer = tally_newref(b);
        reinterpret_cast<YNode *>(b)->peer = tally_newref(a);
        tally_decref(a);
        tally_decref(b);
    }
    tally_flush();
    std::set<tally_object *> want(mine.begin(), mine.end());
    std::set<tally_object *> young = ynodes_in(0);
    EXPECT_EQ(young.size(), want.size() + 2000);   // the cycles are still young and alive
    for (tally_object *o : mine)
        ASSERT_EQ(young.count(o), 1u) << "a living young object is missing from the nursery";
    EXPECT_EQ(tally_gc_collect(0), 2000);
    EXPECT_TRUE(ynodes_in(0).empty());
    EXPECT_EQ(ynodes_in(1), want);
    for (tally_object *o : mine)
        tally_decref(o);
    tally_flush();
    EXPECT_TRUE(ynodes_in(-1).empty());
}

// A thread that exits hands its nursery to the collector: the objects it made stay young, other
// threads can still free them, and the next collection gathers exactly the survivors.
TEST_F(YoungGeneration, NurseryOfAnExitedThreadIsGatheredByTheNextCollection)
{
    tally_gc_disable();
    tally_gc_collect(2);
    constexpr int kN = 5000;
    std::vector<tally_object *> made;
    std::thread t([&] {
        ASSERT_EQ(tally_thread_attach(), 0);
        for (int i = 0; i < kN; i++)
            made.push_back(yn_new());
        tally_thread_release();
    });
    TALLY_BEGIN_ALLOW_THREADS
    t.join();
    TALLY_END_ALLOW_THREADS
    ASSERT_EQ(made.size(), static_cast<size_t>(kN));
    std::set<tally_object *> want;
    for (int i = 0; i < kN; i++) {
        if (i % 2)
            tally_decref(made[i]);       // holes in the orphaned nursery
        else
            want.insert(made[i]);
    }
    tally_flush();
    EXPECT_EQ(ynodes_in(0), want);
    EXPECT_EQ(tally_gc_collect(0), 0);
    EXPECT_EQ(ynodes_in(1), want);
    for (tally_object *o : want)
        tally_decref(o);
    tally_flush();
    EXPECT_TRUE(ynodes_in(-1).empty());
}

// A full collection after a large release gives the memory back (runtime/memory_trim.c): every
// thread's mimalloc heap is collected, the other thread's at its next safepoint.  Two threads
// build 400,000 ints in lists each (about 40 MB), the main thread drops all of them and collects;
// within two seconds of safepoints the heap's committed memory falls by at least 20 MiB.  Before
// the trim it did not move at all (atomic: 678 MB resident after dropping 581 MB of objects).
namespace {
// mimalloc's committed memory (MiB): what the trim gives back.  Not RSS, which the sanitizers'
// shadow memory inflates and never gives back (ASan and TSan builds).
double heap_mib()
{
    size_t commit = 0;
    mi_process_info(nullptr, nullptr, nullptr, nullptr, nullptr, &commit, nullptr, nullptr);
    return double(commit) / 1048576.0;
}

tally_object *build_ints(int n, int64_t base)
{
    tally_object *outer = tally_list_new();
    for (int done = 0; outer && done < n;) {
        tally_object *l = tally_list_new();
        for (int j = 0; j < 1000 && done < n; j++, done++) {
            tally_object *v = tally_int_new(base + done);
            EXPECT_EQ(tally_list_append(l, v), 0);
            tally_decref(v);
        }
        EXPECT_EQ(tally_list_append(outer, l), 0);
        tally_decref(l);
    }
    return outer;
}
}  // namespace

TEST(MemoryTrim, FullCollectionAfterALargeReleaseGivesMemoryBack)
{
    // 2M ints in 2,000 lists, about 100 MB: well past what earlier tests may have left committed
    // and free in mimalloc's heaps (one run built 40 MB into such pages and grew by 0.4 MiB).
    constexpr int kPer = 1000000;
    unsigned saved = tally_gc_get_trim_min();
    tally_gc_set_trim_min(200000);
    EXPECT_EQ(tally_gc_get_trim_min(), 200000u);
    tally_gc_collect(2);
    tally_flush();
    tally_alloc_stats st0;
    tally_get_alloc_stats(&st0);
    double start = heap_mib();
    std::atomic<tally_object *> theirs{nullptr};
    std::atomic<bool> stop{false};
    std::thread other([&] {
        ASSERT_EQ(tally_thread_attach(), 0);
        theirs.store(build_ints(kPer, 3000000000LL), std::memory_order_release);
        while (!stop.load(std::memory_order_acquire))
            tally_safepoint();
        tally_thread_release();
    });
    tally_object *mine = build_ints(kPer, 4000000000LL);
    TALLY_BEGIN_ALLOW_THREADS
    while (!theirs.load(std::memory_order_acquire))
        std::this_thread::yield();
    TALLY_END_ALLOW_THREADS
    double built = heap_mib();
    tally_decref(mine);
    tally_decref(theirs.load(std::memory_order_acquire));
    tally_flush();
    tally_gc_collect(2);
    double settled = built;
    for (int i = 0; i < 2000 && settled > built - 20; i++) {   // up to 2 s of safepoints
        tally_safepoint();
        TALLY_BEGIN_ALLOW_THREADS
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
        TALLY_END_ALLOW_THREADS
        settled = heap_mib();
    }
    stop = true;
    TALLY_BEGIN_ALLOW_THREADS
    other.join();
    TALLY_END_ALLOW_THREADS
    tally_gc_set_trim_min(saved);
    tally_flush();
    tally_alloc_stats st1;
    tally_get_alloc_stats(&st1);
    EXPECT_EQ(st1.live, st0.live);
    // At least 20 MiB of what the build added to mimalloc's heaps must be given back.
    // ASan and TSan builds allocate with the C allocator (runtime/internal.h), so mimalloc's
    // heaps do not grow there; the trim still runs (under the sanitizer) and the check above
    // holds, the memory figure does not apply.
    if (built - start >= 20) {
        EXPECT_LE(settled, built - 20) << "committed: built " << built << " MiB, after the collection " << settled
                                       << " MiB; objects alive before the build: " << st0.live;
    } else {
        EXPECT_NE(getenv("TALLY_EXPECT_SANITIZER_ALLOCATOR"), nullptr)
            << "the build added only " << built - start << " MiB to mimalloc's heaps";
    }
}
