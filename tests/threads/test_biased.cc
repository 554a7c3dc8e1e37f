// tests/threads/test_biased.cc - biased reference counting across threads.
//
// Owns: (every backend) a producer/consumer hand-over in which producers exit, detach or stay
// while their objects die on other threads: every object is destroyed exactly once; and
// (biased only, TALLY_BACKEND_BIASED) the observable mechanics of runtime/rc_biased.c and
// runtime/rc_biased_queue.c read from the object header: owner increments stay in ob_ref_local,
// non-owner ones go to ob_ref_shared, a non-owner drop below zero queues the object (QUEUED) to its owner,
// which merges at its next safepoint; an exited owner's objects are merged by whoever drops
// them; a detached owner's queue is merged on its behalf while it stays blocked; the collector
// sees the merged (true) counts; weakref reads from a non-owner.
//
// Threads that wait while attached either poll tally_safepoint() (so a stop-the-world can
// proceed) or wait detached.  The few windows where an attached thread spins without a
// safepoint are short and no other thread stops the world during them (collection disabled).
#include "tally_test.h"

#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace {

// ---- a non-GC item whose destructions are counted per id -------------------------------
struct Item {
    TALLY_OBJECT_HEAD;
    uint32_t id;
    std::atomic<int> *deaths;   // deaths[id] += 1 on destroy
};

void item_destroy(tally_object *self)
{
    auto *it = reinterpret_cast<Item *>(self);
    it->deaths[it->id].fetch_add(1, std::memory_order_relaxed);
}

const tally_type item_type = {"BiasedItem", sizeof(Item), 0, nullptr, nullptr, nullptr, nullptr, item_destroy};

Item *item_new(uint32_t id, std::atomic<int> *deaths)
{
    auto *it = reinterpret_cast<Item *>(tally_new(&item_type));
    if (it) {
        it->id = id;
        it->deaths = deaths;
    }
    return it;
}

// Attach for the life of a std::thread body; release at the end (as thread exit would).
struct Attached {
    Attached() { EXPECT_EQ(tally_thread_attach(), 0) << tally_last_error(); }
    ~Attached() { tally_thread_release(); }
};

// Wait for a flag while attached: keep reaching safepoints.
void wait_attached(const std::atomic<bool> &flag)
{
    while (!flag.load(std::memory_order_acquire)) {
        tally_safepoint();
        std::this_thread::yield();
    }
}

// ---- every backend: producer/consumer hand-over ----------------------------------------
TEST(BiasedThreads, ProducerConsumerReclaimsEveryObjectExactlyOnce)
{
    constexpr int kProducers = 4;
    constexpr int kConsumers = 2;
    constexpr uint32_t kPerProducer = 6000;
    constexpr uint32_t kTotal = kProducers * kPerProducer;
    auto deaths = std::make_unique<std::atomic<int>[]>(kTotal);
    for (uint32_t i = 0; i < kTotal; i++)
        deaths[i].store(0);

    std::mutex mu;
    std::deque<tally_object *> queue;
    std::atomic<uint32_t> consumed{0};
    std::atomic<bool> all_consumed{false};

    auto producer = [&](int p) {
        Attached a;
        for (uint32_t k = 0; k < kPerProducer; k++) {
            Item *it = item_new(p * kPerProducer + k, deaths.get());
            ASSERT_NE(it, nullptr) << tally_last_error();
            tally_object *o = &it->ob_base;
            // Owner-side traffic before the hand-over: a reference kept for a while.
            tally_incref(o);
            {
                std::lock_guard<std::mutex> g(mu);
                queue.push_back(o);   // the consumer gets the creation reference
            }
            tally_decref(o);          // may run after the consumer's drop: then the owner frees
            if ((k & 63) == 0)
                tally_safepoint();
        }
        // Producers leave in three ways while their objects are still in flight.
        if (p % 3 == 0)
            return;                                  // exits: queuers merge directly
        if (p % 3 == 1) {
            TALLY_BEGIN_ALLOW_THREADS                // blocked outside the runtime
            while (!all_consumed.load(std::memory_order_acquire))
                std::this_thread::yield();
            TALLY_END_ALLOW_THREADS
            return;
        }
        wait_attached(all_consumed);                 // stays, merging at safepoints
    };
    auto consumer = [&] {
        Attached a;
        for (;;) {
            tally_object *o = nullptr;
            {
                std::lock_guard<std::mutex> g(mu);
                if (!queue.empty()) {
                    o = queue.front();
                    queue.pop_front();
                }
            }
            if (!o) {
                if (consumed.load() == kTotal)
                    break;
                tally_safepoint();
                std::this_thread::yield();
                continue;
            }
            tally_incref(o);   // a non-owner pair
            tally_decref(o);
            tally_decref(o);   // drops the reference it was handed
            if (consumed.fetch_add(1) + 1 == kTotal)
                all_consumed.store(true, std::memory_order_release);
        }
    };

    std::vector<std::thread> threads;
    TALLY_BEGIN_ALLOW_THREADS   // the main thread does not take part: let the world stop
    for (int p = 0; p < kProducers; p++)
        threads.emplace_back(producer, p);
    for (int c = 0; c < kConsumers; c++)
        threads.emplace_back(consumer);
    for (auto &t : threads)
        t.join();
    TALLY_END_ALLOW_THREADS
    tally_flush();

    uint32_t wrong = 0;
    for (uint32_t i = 0; i < kTotal; i++)
        if (deaths[i].load() != 1)
            wrong++;
    EXPECT_EQ(wrong, 0u) << "objects not destroyed exactly once (of " << kTotal << ")";
}

#if defined(TALLY_BACKEND_BIASED)

constexpr intptr_t kOne = intptr_t(1) << TALLY_REF_SHARED_SHIFT;

intptr_t shared_word(tally_object *o) { return tally_atomic_load_relaxed(&o->ob_ref_shared); }
uint32_t local_count(tally_object *o) { return tally_atomic_load_relaxed(&o->ob_ref_local); }
uintptr_t owner_of(tally_object *o) { return tally_atomic_load_relaxed(&o->ob_tid); }
intptr_t state_of(tally_object *o) { return shared_word(o) & TALLY_REF_SHARED_FLAG_MASK; }

// Collection off for the deterministic tests (a stop-the-world must not interleave with the
// windows in which a thread spins attached); restored afterwards.
class BiasedMechanics : public ::testing::Test {
  protected:
    void SetUp() override
    {
        was_enabled_ = tally_gc_is_enabled();
        tally_gc_disable();
    }
    void TearDown() override
    {
        if (was_enabled_)
            tally_gc_enable();
    }
    bool was_enabled_ = true;
    std::atomic<int> deaths_[64] = {};
};

TEST_F(BiasedMechanics, OwnerIncrementsStayLocal)
{
    Item *it = item_new(0, deaths_);
    tally_object *o = &it->ob_base;
    EXPECT_EQ(owner_of(o), _tally_thread_id());
    EXPECT_EQ(local_count(o), 1u);
    EXPECT_EQ(shared_word(o), 0);
    for (int i = 0; i < 5; i++)
        tally_incref(o);
    EXPECT_EQ(local_count(o), 6u);
    EXPECT_EQ(shared_word(o), 0);
    EXPECT_EQ(tally_refcount(o), 6);
    for (int i = 0; i < 5; i++)
        tally_decref(o);
    EXPECT_EQ(local_count(o), 1u);
    EXPECT_EQ(deaths_[0].load(), 0);
    tally_decref(o);   // local 0, shared 0: freed at once by the owner
    EXPECT_EQ(deaths_[0].load(), 1);
}

TEST_F(BiasedMechanics, NonOwnerIncrementsGoToShared)
{
    Item *it = item_new(0, deaths_);
    tally_object *o = &it->ob_base;
    std::thread t([&] {
        Attached a;
        EXPECT_NE(owner_of(o), _tally_thread_id());
        tally_incref(o);
        tally_incref(o);
        EXPECT_EQ(local_count(o), 1u);            // the owner's count is untouched
        EXPECT_EQ(shared_word(o), 2 * kOne);      // count 2, DEFAULT
        EXPECT_EQ(tally_refcount(o), 3);
        tally_decref(o);
        tally_decref(o);
        EXPECT_EQ(shared_word(o), 0);             // back to 0 without queueing
    });
    t.join();
    EXPECT_EQ(owner_of(o), _tally_thread_id());
    EXPECT_EQ(tally_refcount(o), 1);
    tally_decref(o);
    EXPECT_EQ(deaths_[0].load(), 1);
}

TEST_F(BiasedMechanics, NonOwnerDropBelowZeroQueuesAndOwnerMergesAtSafepoint)
{
    Item *it = item_new(0, deaths_);
    tally_object *o = &it->ob_base;
    tally_incref(o);   // local 2: one reference is handed to the other thread
    std::thread t([&] {
        Attached a;
        tally_decref(o);   // shared count 0: QUEUED, the queue keeps this reference
        EXPECT_EQ(shared_word(o), TALLY_REF_QUEUED);
    });
    t.join();
    // Not merged yet: the owner has not reached a safepoint.
    EXPECT_EQ(owner_of(o), _tally_thread_id());
    EXPECT_EQ(local_count(o), 2u);
    EXPECT_EQ(state_of(o), TALLY_REF_QUEUED);
    EXPECT_EQ(tally_refcount(o), 1);
    tally_safepoint();   // TALLY_BREAK_MERGE: merge with the queue's reference dropped
    EXPECT_EQ(owner_of(o), 0u);
    EXPECT_EQ(local_count(o), 0u);
    EXPECT_EQ(shared_word(o), kOne | TALLY_REF_MERGED);
    EXPECT_EQ(tally_refcount(o), 1);
    EXPECT_EQ(deaths_[0].load(), 0);
    tally_decref(o);     // unowned now: a shared decrement that reaches MERGED|0 frees
    EXPECT_EQ(deaths_[0].load(), 1);
}

TEST_F(BiasedMechanics, LastReferenceDroppedByNonOwnerIsFreedByOwnerMerge)
{
    Item *it = item_new(0, deaths_);
    tally_object *o = &it->ob_base;
    std::thread t([&] {
        Attached a;
        tally_decref(o);   // the only reference, counted in the owner's local count
    });
    t.join();
    EXPECT_EQ(deaths_[0].load(), 0);   // waits in our queue
    tally_safepoint();
    EXPECT_EQ(deaths_[0].load(), 1);
}

TEST_F(BiasedMechanics, ExitedOwnersObjectsAreMergedByWhoeverDropsThem)
{
    constexpr int kN = 32;
    std::vector<tally_object *> objs;
    std::atomic<bool> made{false}, queued{false};
    std::thread owner([&] {
        Attached a;
        for (int i = 0; i < kN; i++) {
            Item *it = item_new(i, deaths_);
            tally_incref(&it->ob_base);   // local 2: one reference for the owner, one handed over
            objs.push_back(&it->ob_base);
        }
        made.store(true, std::memory_order_release);
        // While we are alive two of them are queued to us by the main thread.  Spin attached
        // without a safepoint so that they stay queued until our exit.
        while (!queued.load(std::memory_order_acquire))
            std::this_thread::yield();
        // Drop our references (the local counts stay above zero: main holds the others) and
        // exit with two objects in our queue: the exit drains it.
        for (int i = 0; i < kN; i++)
            tally_decref(objs[i]);
    });
    while (!made.load(std::memory_order_acquire))
        std::this_thread::yield();
    tally_decref(objs[0]);   // count 2 -> queued (the owner keeps its own reference)
    tally_decref(objs[1]);
    EXPECT_EQ(state_of(objs[0]), TALLY_REF_QUEUED);
    queued.store(true, std::memory_order_release);
    owner.join();
    // objs[0..1]: merged by the owner's exit drain: all references gone.
    EXPECT_EQ(deaths_[0].load(), 1);
    EXPECT_EQ(deaths_[1].load(), 1);
    // The rest: alive with one reference each, owner gone.  Our decrement queues nothing: the
    // owner is not registered, so the object is merged and freed right here.
    for (int i = 2; i < kN; i++) {
        EXPECT_EQ(deaths_[i].load(), 0);
        tally_decref(objs[i]);
        EXPECT_EQ(deaths_[i].load(), 1) << "object " << i;
    }
}

TEST_F(BiasedMechanics, DetachedOwnersQueueIsMergedOnItsBehalf)
{
    constexpr int kN = 16;
    std::vector<tally_object *> objs;
    std::atomic<bool> made{false}, first_dropped{false}, detached{false}, done{false};
    uintptr_t owner_tid = 0;
    std::thread owner([&] {
        Attached a;
        owner_tid = _tally_thread_id();
        for (int i = 0; i < kN; i++) {
            Item *it = item_new(i, deaths_);
            objs.push_back(&it->ob_base);   // the creation reference is handed to main
        }
        tally_object *mine = objs[kN - 1];
        tally_incref(mine);                 // and one we keep across the detached period
        made.store(true, std::memory_order_release);
        // Spin attached without a safepoint so that objs[0] stays in our queue.
        while (!first_dropped.load(std::memory_order_acquire))
            std::this_thread::yield();
        TALLY_BEGIN_ALLOW_THREADS
        detached.store(true, std::memory_order_release);
        while (!done.load(std::memory_order_acquire))
            std::this_thread::yield();      // blocked outside the runtime: never merges
        TALLY_END_ALLOW_THREADS
        // Re-attached: our object was merged on our behalf; we are no longer its owner.
        EXPECT_EQ(owner_of(mine), 0u);
        EXPECT_EQ(tally_refcount(mine), 1);
        tally_incref(mine);
        EXPECT_EQ(local_count(mine), 0u);   // went to the shared count
        tally_decref(mine);
        tally_decref(mine);                 // the last reference: freed here
        EXPECT_EQ(deaths_[kN - 1].load(), 1);
    });
    while (!made.load(std::memory_order_acquire))
        std::this_thread::yield();
    tally_decref(objs[0]);   // queued to the attached owner
    EXPECT_EQ(state_of(objs[0]), TALLY_REF_QUEUED);
    first_dropped.store(true, std::memory_order_release);
    while (!detached.load(std::memory_order_acquire))
        std::this_thread::yield();
    EXPECT_EQ(deaths_[0].load(), 0);   // still queued: nobody merged it
    // The owner is blocked detached.  Each drop is merged here, and the first one also merges
    // what was already queued.
    tally_decref(objs[1]);
    EXPECT_EQ(deaths_[0].load(), 1);
    EXPECT_EQ(deaths_[1].load(), 1);
    for (int i = 2; i < kN; i++) {
        tally_decref(objs[i]);
        if (i < kN - 1) {
            EXPECT_EQ(deaths_[i].load(), 1) << "object " << i;
        }
    }
    EXPECT_EQ(deaths_[kN - 1].load(), 0);   // the owner still holds one reference
    EXPECT_EQ(owner_of(objs[kN - 1]), 0u);  // but no longer owns it
    EXPECT_NE(owner_tid, 0u);
    done.store(true, std::memory_order_release);
    owner.join();
}

// A two-object cycle (GC type from tally_test.h) created by another thread.
TEST_F(BiasedMechanics, CollectorSeesQueuedCounts)
{
    std::atomic<int> destroyed{0};
    CountedObject *a = nullptr;
    std::atomic<bool> handed{false}, dropped{false}, detached{false}, done{false};
    std::thread owner([&] {
        Attached at;
        a = counted_new(&destroyed);
        CountedObject *b = counted_new(&destroyed);
        a->ref = tally_newref(&b->ob_base);
        b->ref = tally_newref(&a->ob_base);
        tally_decref(&b->ob_base);          // b: held by a only
        // a: the creation reference goes to main, the other is b's.
        handed.store(true, std::memory_order_release);
        while (!dropped.load(std::memory_order_acquire))
            std::this_thread::yield();      // attached, no safepoint: the queue stays
        TALLY_BEGIN_ALLOW_THREADS
        detached.store(true, std::memory_order_release);
        while (!done.load(std::memory_order_acquire))
            std::this_thread::yield();
        TALLY_END_ALLOW_THREADS
    });
    while (!handed.load(std::memory_order_acquire))
        std::this_thread::yield();
    tally_object *ao = &a->ob_base;
    tally_decref(ao);   // queued to the owner: its local count still says 2
    EXPECT_EQ(state_of(ao), TALLY_REF_QUEUED);
    EXPECT_EQ(local_count(ao), 2u);
    EXPECT_EQ(tally_refcount(ao), 1);   // the queue's reference is not the program's
    dropped.store(true, std::memory_order_release);
    while (!detached.load(std::memory_order_acquire))
        std::this_thread::yield();
    EXPECT_EQ(destroyed.load(), 0);
    // Only the cycle's internal references remain.  The collector must merge the queue first
    // (world stopped), else a looks externally referenced and the cycle survives.
    intptr_t n = tally_gc_collect(2);
    EXPECT_GE(n, 2);
    EXPECT_EQ(destroyed.load(), 2);
    done.store(true, std::memory_order_release);
    owner.join();
}

// The collector (main) breaks a cycle whose objects are private to another, running thread:
// their shared words are DEFAULT|0, so its conditional increments must not refuse them.
TEST_F(BiasedMechanics, CollectorClearsCyclesOwnedByAnotherThread)
{
    std::atomic<int> destroyed{0};
    std::atomic<bool> made{false}, collected{false};
    std::thread owner([&] {
        Attached at;
        for (int i = 0; i < 8; i++) {
            CountedObject *a = counted_new(&destroyed);
            CountedObject *b = counted_new(&destroyed);
            a->ref = tally_newref(&b->ob_base);
            b->ref = &a->ob_base;   // steals the creation reference
            tally_decref(&b->ob_base);
            EXPECT_EQ(shared_word(&a->ob_base), 0);
        }
        made.store(true, std::memory_order_release);
        wait_attached(collected);   // alive and attached, parked by the collection
    });
    while (!made.load(std::memory_order_acquire))
        std::this_thread::yield();
    EXPECT_EQ(destroyed.load(), 0);
    intptr_t n = tally_gc_collect(2);
    EXPECT_GE(n, 16);
    // Breaking the cycles dropped references the owner still counts locally: those objects
    // wait in its queue until its next safepoint, or its exit, which drains the queue.
    collected.store(true, std::memory_order_release);
    TALLY_BEGIN_ALLOW_THREADS
    owner.join();
    TALLY_END_ALLOW_THREADS
    EXPECT_EQ(destroyed.load(), 16);
}

TEST_F(BiasedMechanics, CollectorKeepsSharedExternalReferences)
{
    std::atomic<int> destroyed{0};
    CountedObject *a = counted_new(&destroyed);
    CountedObject *b = counted_new(&destroyed);
    a->ref = tally_newref(&b->ob_base);
    b->ref = tally_newref(&a->ob_base);
    tally_decref(&b->ob_base);
    std::atomic<bool> held{false}, collected{false};
    std::thread t([&] {
        Attached at;
        tally_incref(&a->ob_base);          // an external reference in the shared count only
        held.store(true, std::memory_order_release);
        wait_attached(collected);
        tally_decref(&a->ob_base);
    });
    while (!held.load(std::memory_order_acquire))
        std::this_thread::yield();
    tally_decref(&a->ob_base);              // ours: a's local count is now b's reference only
    tally_gc_collect(2);
    EXPECT_EQ(destroyed.load(), 0) << "the other thread's reference lives in the shared count";
    collected.store(true, std::memory_order_release);
    TALLY_BEGIN_ALLOW_THREADS
    t.join();
    TALLY_END_ALLOW_THREADS
    tally_gc_collect(2);
    EXPECT_EQ(destroyed.load(), 2);
}

TEST_F(BiasedMechanics, WeakrefReadByNonOwner)
{
    Item *it = item_new(0, deaths_);
    tally_object *o = &it->ob_base;
    tally_object *wr = tally_weakref_new(o, nullptr, nullptr);
    ASSERT_NE(wr, nullptr) << tally_last_error();
    std::thread t([&] {
        Attached a;
        tally_object *got = tally_weakref_get(wr);   // a conditional shared increment
        EXPECT_EQ(got, o);
        EXPECT_EQ(tally_refcount(o), 2);
        tally_xdecref(got);
    });
    t.join();
    tally_decref(o);                  // the owner's last reference: freed (CAS path)
    EXPECT_EQ(deaths_[0].load(), 1);
    std::thread t2([&] {
        Attached a;
        EXPECT_EQ(tally_weakref_get(wr), nullptr);
    });
    t2.join();
    tally_decref(wr);
}

// fork() while objects are queued to, and owned by, a thread that does not exist in the child.
// Not under ThreadSanitizer: liburcu's call_rcu_after_fork_child() starts a thread in the
// child, and TSan kills a multi-threaded process's child that starts threads (die_after_fork),
// as tests/threads/test_fork.cc notes.
#if !defined(TALLY_TSAN)
TEST_F(BiasedMechanics, ForkChildMergesObjectsOfThreadsItDoesNotHave)
{
    constexpr int kN = 10;
    std::vector<tally_object *> objs;
    std::atomic<bool> made{false}, queued{false}, done{false};
    std::thread w([&] {
        Attached a;
        for (int i = 0; i < kN; i++) {
            Item *it = item_new(i, deaths_);
            tally_incref(&it->ob_base);        // local 2: one for w, one for main
            objs.push_back(&it->ob_base);
        }
        made.store(true, std::memory_order_release);
        while (!queued.load(std::memory_order_acquire))
            std::this_thread::yield();         // attached, no safepoint: the queue stays
        TALLY_BEGIN_ALLOW_THREADS
        while (!done.load(std::memory_order_acquire))
            std::this_thread::yield();
        TALLY_END_ALLOW_THREADS
        for (tally_object *o : objs)
            tally_decref(o);                   // w's references
    });
    while (!made.load(std::memory_order_acquire))
        std::this_thread::yield();
    for (int i = 0; i < kN / 2; i++)
        tally_decref(objs[i]);                 // queued to w
    EXPECT_EQ(state_of(objs[0]), TALLY_REF_QUEUED);
    queued.store(true, std::memory_order_release);
    std::fflush(nullptr);
    pid_t pid = fork();   // attached: the runtime stops the world around it (w is detached)
    if (pid == 0) {
        // Child: w is gone.  Its queue was merged by the fork handler (w's references remain);
        // main's references to the other half are merged here, directly (no owner).
        int rc = 0;
        for (int i = kN / 2; i < kN; i++)
            tally_decref(objs[i]);
        tally_flush();
        for (int i = 0; i < kN; i++) {
            if (deaths_[i].load() != 0)
                rc = 3;
            if (owner_of(objs[i]) != 0 || tally_refcount(objs[i]) != 1)
                rc = 4;
        }
        for (int i = 0; i < kN; i++)
            tally_decref(objs[i]);             // the references w held: every object dies once
        tally_flush();
        for (int i = 0; i < kN; i++)
            if (deaths_[i].load() != 1)
                rc = 5;
        std::fflush(nullptr);
        _exit(rc);
    }
    ASSERT_GT(pid, 0);
    int status = 0;
    bool hung = true;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    TALLY_BEGIN_ALLOW_THREADS
    while (std::chrono::steady_clock::now() < deadline) {
        if (waitpid(pid, &status, WNOHANG) == pid) {
            hung = false;
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    if (hung) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
    }
    TALLY_END_ALLOW_THREADS
    EXPECT_FALSE(hung) << "the fork child hung";
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
        << "child status " << status << " (3: died early, 4: not merged, 5: not freed once)";
    // Parent: unchanged by the child.
    done.store(true, std::memory_order_release);
    TALLY_BEGIN_ALLOW_THREADS
    w.join();                                  // w's exit drains its queue: objs[0..4] die
    TALLY_END_ALLOW_THREADS
    for (int i = 0; i < kN; i++)
        EXPECT_EQ(deaths_[i].load(), i < kN / 2 ? 1 : 0) << "object " << i;
    for (int i = kN / 2; i < kN; i++)
        tally_decref(objs[i]);                 // exited owner: merged and freed here
    for (int i = 0; i < kN; i++)
        EXPECT_EQ(deaths_[i].load(), 1) << "object " << i;
}
#endif  // !TALLY_TSAN

TEST_F(BiasedMechanics, ImmortalObjectsAreNeverWritten)
{
    Item *it = item_new(0, deaths_);
    tally_object *o = &it->ob_base;
    tally_set_immortal(o);
    EXPECT_EQ(owner_of(o), 0u);
    std::thread t([&] {
        Attached a;
        for (int i = 0; i < 100; i++) {
            tally_incref(o);
            tally_decref(o);
            tally_decref(o);   // more decrements than increments: still immortal
        }
    });
    t.join();
    EXPECT_EQ(local_count(o), TALLY_IMMORTAL_REFCNT);
    EXPECT_EQ(shared_word(o), 0);
    EXPECT_EQ(deaths_[0].load(), 0);
}

#endif  // TALLY_BACKEND_BIASED

}  // namespace
