// tests/threads/test_threads.cc - conformance of threads and the runtime, per backend (not racy).
//
// Owns: attach/detach/release of threads, TALLY_BEGIN/END_ALLOW_THREADS, tally_safepoint from
// many threads, many threads creating, sharing and dropping objects (counts stay exact and
// every object dies once), a thread that exits while owning objects another thread still
// holds, and the GIL statistics and switch interval (gil; -1 on every other backend).
//
// The main thread is attached (TallyEnv).  It detaches around every join
// (TALLY_BEGIN_ALLOW_THREADS), as an embedding program must: under `gil` it holds the GIL, and
// in the free-threaded backends a stop-the-world would otherwise wait for it forever.
#include "tally_test.h"

#include <pthread.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <cstring>
#include <functional>
#include <set>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

void join_one(std::thread &t)
{
    TALLY_BEGIN_ALLOW_THREADS
    t.join();
    TALLY_END_ALLOW_THREADS
}

uint64_t live_objects()
{
    tally_flush();
    tally_alloc_stats s{};
    tally_get_alloc_stats(&s);
    return s.live;
}

// Delayed (QSBR) frees finish once every thread passed a quiescent state: poll (bounded).
uint64_t settled_live(uint64_t target)
{
    uint64_t live = 0;
    for (int i = 0; i < 3000; i++) {
        tally_flush();
        tally_safepoint();
        live = live_objects();
        if (live <= target)
            break;
        TALLY_BEGIN_ALLOW_THREADS
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
        TALLY_END_ALLOW_THREADS
    }
    return live;
}

// Live objects once the runtime's own lazily made objects exist (gc.garbage is created by the
// first collection) and every pending free is done: the baseline for leak checks.
uint64_t baseline_live()
{
    tally_gc_collect(2);
    // Settled: the count did not move over 5 consecutive polls (delayed frees done).
    uint64_t last = live_objects(), same = 0;
    for (int i = 0; i < 1000 && same < 5; i++) {
        tally_safepoint();
        TALLY_BEGIN_ALLOW_THREADS
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
        TALLY_END_ALLOW_THREADS
        uint64_t now = live_objects();
        same = now == last ? same + 1 : 0;
        last = now;
    }
    return last;
}

// Run fn in a new attached thread; the thread detaches and exits afterwards.
std::thread attached_thread(std::function<void()> fn)
{
    return std::thread([fn] {
        if (tally_thread_attach() != 0) {
            ADD_FAILURE() << "attach failed: " << tally_last_error();
            return;
        }
        fn();
        tally_thread_detach();
    });
}

} // namespace

TEST(Threads, AttachDetachRelease)
{
    struct Seen {
        bool before = true, after_attach = false, second_attach_ok = false, after_detach = true;
        bool reattached = false, after_release = true, attach_after_release = false;
        size_t len = 0;
        std::string err;
    } seen;
    std::thread t([&] {
        seen.before = tally_thread_is_attached();
        seen.after_attach = tally_thread_attach() == 0 && tally_thread_is_attached();
        seen.second_attach_ok = tally_thread_attach() == 0 && tally_thread_is_attached(); // no-op
        tally_object *l = tally_list_new();
        tally_list_append(l, tally_none());
        seen.len = tally_list_len(l);
        tally_thread_detach();
        seen.after_detach = tally_thread_is_attached();
        seen.reattached = tally_thread_attach() == 0 && tally_thread_is_attached();
        tally_decref(l); // an object made before the detach is still usable
        tally_thread_release();
        seen.after_release = tally_thread_is_attached();
        seen.attach_after_release = tally_thread_attach() == 0 && tally_thread_is_attached();
        tally_object *s = tally_str_new("new state");
        if (!s || std::strcmp(tally_str_value(s), "new state") != 0)
            seen.err = "allocation after re-attach failed";
        tally_xdecref(s);
        tally_thread_detach();
    });
    join_one(t);
    EXPECT_FALSE(seen.before) << "a new thread starts detached";
    EXPECT_TRUE(seen.after_attach);
    EXPECT_TRUE(seen.second_attach_ok);
    EXPECT_EQ(seen.len, 1u);
    EXPECT_FALSE(seen.after_detach);
    EXPECT_TRUE(seen.reattached);
    EXPECT_FALSE(seen.after_release);
    EXPECT_TRUE(seen.attach_after_release);
    EXPECT_EQ(seen.err, "");
    EXPECT_TRUE(tally_thread_is_attached()) << "the main thread is attached again after the join";
}

TEST(Threads, AllowThreadsLetsOtherThreadsRun)
{
    std::atomic<bool> worker_done{false};
    std::atomic<int> worker_items{0};
    bool attached_inside = true;
    std::thread t = attached_thread([&] {
        tally_object *l = tally_list_new();
        for (int i = 0; i < 1000; i++) {
            tally_object *v = tally_int_new(i);
            tally_list_append(l, v);
            tally_decref(v);
        }
        worker_items = (int)tally_list_len(l);
        tally_decref(l);
        worker_done = true;
    });
    bool finished_while_detached = false;
    TALLY_BEGIN_ALLOW_THREADS
    attached_inside = tally_thread_is_attached();
    // The worker can attach (gil: take the GIL) only because this thread let go.
    auto deadline = Clock::now() + std::chrono::seconds(30);
    while (!worker_done && Clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    finished_while_detached = worker_done;
    t.join();
    TALLY_END_ALLOW_THREADS
    EXPECT_FALSE(attached_inside);
    EXPECT_TRUE(tally_thread_is_attached());
    EXPECT_TRUE(finished_while_detached);
    EXPECT_EQ(worker_items.load(), 1000);
}

TEST(Threads, SafepointFromManyThreads)
{
    constexpr int kThreads = 8, kIters = 20000;
    std::atomic<long> total{0};
    std::vector<std::thread> ts;
    for (int t = 0; t < kThreads; t++)
        ts.push_back(attached_thread([&] {
            long mine = 0;
            for (int i = 0; i < kIters; i++) {
                tally_safepoint();
                if (i % 64 == 0) {
                    tally_object *l = tally_list_new();
                    tally_decref(l);
                }
                mine++;
            }
            total += mine;
        }));
    join_all(ts);
    EXPECT_EQ(total.load(), long(kThreads) * kIters);
    tally_safepoint();
}

TEST(Threads, ManyThreadsCreateShareAndDrop)
{
    constexpr int kThreads = 4, kIters = 5000;
    uint64_t base = baseline_live();
    tally_object *shared = tally_list_new();
    tally_object *shared_dict = tally_dict_new();
    ASSERT_TRUE(shared && shared_dict);
    std::vector<std::thread> ts;
    for (int t = 0; t < kThreads; t++)
        ts.push_back(attached_thread([&, t] {
            for (int i = 0; i < kIters; i++) {
                // Private garbage: a dict of lists of strings, dropped at once.
                tally_object *d = tally_dict_new();
                for (int k = 0; k < 3; k++) {
                    tally_object *l = tally_list_new();
                    tally_object *s = tally_str_new("x");
                    tally_list_append(l, s);
                    tally_list_append(l, s);
                    tally_decref(s);
                    tally_object *key = tally_int_new(k);
                    tally_dict_set(d, key, l);
                    tally_decref(key);
                    tally_decref(l);
                }
                tally_decref(d);
                // Shared state: every thread appends its own distinct ints.
                tally_object *v = tally_int_new(int64_t(t) * 1000000 + i + 1000);
                tally_list_append(shared, v);
                if (i % 10 == 0)
                    tally_dict_set(shared_dict, v, v);
                tally_decref(v);
                if (i % 100 == 0)
                    tally_safepoint();
            }
        }));
    join_all(ts);
    ASSERT_EQ(tally_list_len(shared), size_t(kThreads) * kIters);
    EXPECT_EQ(tally_dict_len(shared_dict), size_t(kThreads) * (kIters / 10));
    std::set<int64_t> values;
    for (size_t i = 0; i < tally_list_len(shared); i++) {
        tally_object *v = tally_list_get(shared, i);
        ASSERT_NE(v, nullptr);
        values.insert(tally_int_value(v));
        tally_flush();
        // The list's reference, ours, and the dict's key and value references for every 10th.
        int64_t x = tally_int_value(v) % 1000000 - 1000;
        EXPECT_EQ(tally_refcount(v), x % 10 == 0 ? 4 : 2) << tally_int_value(v);
        tally_decref(v);
    }
    EXPECT_EQ(values.size(), size_t(kThreads) * kIters) << "a value was lost or duplicated";
    tally_decref(shared);
    tally_decref(shared_dict);
    tally_gc_collect(2);
    EXPECT_EQ(settled_live(base), base) << "objects created by the threads were not all freed";
}

TEST(Threads, ConcurrentIncrefDecrefOnOneObjectKeepExactCount)
{
    constexpr int kThreads = 4, kIters = 100000;
    std::atomic<int> destroyed{0};
    CountedObject *c = counted_new(&destroyed);
    ASSERT_NE(c, nullptr);
    tally_object *o = &c->ob_base;
    std::vector<std::thread> ts;
    for (int t = 0; t < kThreads; t++)
        ts.push_back(attached_thread([o] {
            for (int i = 0; i < kIters; i++) {
                tally_incref(o);
                tally_incref(o);
                tally_decref(o);
                tally_decref(o);
                if (i % 1000 == 0)
                    tally_safepoint();
            }
            tally_incref(o); // each thread leaves one reference
        }));
    join_all(ts);
    tally_flush();
    EXPECT_EQ(tally_refcount(o), 1 + kThreads);
    EXPECT_EQ(destroyed.load(), 0);
    std::vector<std::thread> droppers;
    for (int t = 0; t < kThreads; t++)
        droppers.push_back(attached_thread([o] { tally_decref(o); }));
    join_all(droppers);
    tally_flush();
    EXPECT_EQ(tally_refcount(o), 1);
    EXPECT_EQ(destroyed.load(), 0);
    tally_decref(o);
    tally_flush();
    EXPECT_EQ(destroyed.load(), 1);
}

TEST(Threads, ThreadExitsWhileOwningObjectsOthersHold)
{
    constexpr int kObjects = 500;
    std::atomic<int> destroyed{0};
    tally_object *shared = tally_list_new();
    ASSERT_NE(shared, nullptr);
    std::vector<tally_object *> handed; // one extra reference each, handed to other threads
    // The creator attaches, makes objects (biased: it owns them), and exits without detaching
    // or releasing: thread exit must hand its objects over.
    std::thread creator([&] {
        ASSERT_EQ(tally_thread_attach(), 0);
        for (int i = 0; i < kObjects; i++) {
            CountedObject *c = counted_new(&destroyed);
            tally_object *s = tally_str_new("payload");
            c->ref = s; // steals
            tally_list_append(shared, &c->ob_base);
            handed.push_back(&c->ob_base); // keeps the creation reference
        }
        for (int i = 0; i < 100; i++)
            tally_incref(handed[i]);
        for (int i = 0; i < 100; i++)
            tally_decref(handed[i]); // owner-local traffic in flight at exit
    });
    join_one(creator);
    tally_flush();
    for (tally_object *o : handed)
        ASSERT_EQ(tally_refcount(o), 2);
    EXPECT_EQ(destroyed.load(), 0);

    // A second thread drops the handed references of objects whose owner is gone.
    std::thread dropper = attached_thread([&] {
        for (tally_object *o : handed)
            tally_decref(o);
    });
    join_one(dropper);
    tally_flush();
    EXPECT_EQ(destroyed.load(), 0);
    for (tally_object *o : handed)
        EXPECT_EQ(tally_refcount(o), 1);

    // The main thread drops the container: every object dies exactly once.
    tally_decref(shared);
    tally_flush();
    EXPECT_EQ(destroyed.load(), kObjects);
}

TEST(Threads, ObjectsFreedOnOtherThreadThanCreator)
{
    std::atomic<int> destroyed{0};
    std::vector<tally_object *> made;
    std::thread maker = attached_thread([&] {
        for (int i = 0; i < 1000; i++)
            made.push_back(&counted_new(&destroyed)->ob_base);
    });
    join_one(maker);
    // The maker is detached but alive no more; this thread (not the owner) drops them.
    for (tally_object *o : made)
        tally_decref(o);
    tally_flush();
    EXPECT_EQ(destroyed.load(), 1000);
}

// ---- GIL statistics and switch interval ------------------------------------------------------

TEST(Gil, SwitchIntervalSetter)
{
    unsigned old = tally_get_switch_interval();
    if (tally_test_backend_is("gil")) {
        EXPECT_GT(old, 0u);
        EXPECT_EQ(tally_set_switch_interval(1234), 0);
        EXPECT_EQ(tally_get_switch_interval(), 1234u);
        EXPECT_EQ(tally_set_switch_interval(0), -1);
        EXPECT_NE(std::string(tally_last_error()).find("switch_interval"), std::string::npos) << tally_last_error();
        EXPECT_EQ(tally_get_switch_interval(), 1234u) << "a refused value changed the interval";
        EXPECT_EQ(tally_set_switch_interval(old), 0);
        EXPECT_EQ(tally_get_switch_interval(), old);
    } else {
        EXPECT_EQ(tally_set_switch_interval(1234), -1);
        EXPECT_NE(std::string(tally_last_error()).find("no GIL"), std::string::npos) << tally_last_error();
        EXPECT_EQ(tally_get_switch_interval(), 0u);
    }
}

TEST(Gil, StatsCountSwitchesBetweenCpuBoundThreads)
{
    const bool gil = tally_test_backend_is("gil");
    unsigned old_interval = tally_get_switch_interval();
    if (gil) {
        ASSERT_EQ(tally_set_switch_interval(500), 0);
    }

    // Two CPU-bound threads: each loops (allocating, polling safepoints) until both have seen
    // the other make progress 5 times between two of their own iterations.  Under the GIL that takes
    // hand-overs; the run fails (rather than hangs) after 30 s.
    std::atomic<long> progress[2] = {{0}, {0}};
    std::atomic<bool> done[2] = {{false}, {false}};
    std::atomic<int> ready{0};
    std::atomic<bool> timed_out{false};
    tally_gil_stats during{};
    int during_rc = 0;
    auto body = [&](int me) {
        ready++;
        while (ready.load() < 2)
            tally_safepoint(); // under the GIL the other thread gets in through a drop request
        if (me == 0) {
            tally_gil_reset_stats();
        }
        int seen_changes = 0;
        long last_other = progress[1 - me].load();
        auto deadline = Clock::now() + std::chrono::seconds(30);
        // Keep running until both have seen enough turns, so neither is left alone.
        while (!(done[0].load() && done[1].load())) {
            tally_object *l = tally_list_new();
            tally_list_append(l, tally_none());
            tally_decref(l);
            progress[me]++;
            tally_safepoint();
            long other = progress[1 - me].load();
            if (other != last_other) {
                if (++seen_changes >= 5)
                    done[me] = true;
                last_other = other;
            }
            if (Clock::now() > deadline) {
                timed_out = true;
                break;
            }
        }
        if (me == 0 && gil) {
            during_rc = tally_gil_get_stats(&during);
        }
    };
    std::vector<std::thread> ts;
    ts.push_back(attached_thread([&] { body(0); }));
    ts.push_back(attached_thread([&] { body(1); }));
    join_all(ts);
    EXPECT_FALSE(timed_out.load()) << "the two threads did not take turns within 30 s";

    tally_gil_stats st;
    std::memset(&st, 0xff, sizeof st);
    int rc = tally_gil_get_stats(&st);
    if (gil) {
        EXPECT_EQ(during_rc, 0);
        EXPECT_EQ(rc, 0);
        EXPECT_GT(during.switches, 0u);
        EXPECT_GE(during.acquisitions, during.switches);
        EXPECT_GT(during.drop_requests, 0u) << "CPU-bound threads only switch when asked to drop";
        EXPECT_GT(during.forced_switches, 0u);
        EXPECT_GT(during.wait_ns_total, 0u);
        EXPECT_GE(during.wait_ns_total, during.wait_ns_max);
        EXPECT_GE(st.switches, during.switches) << "counters only grow until reset";
        tally_gil_reset_stats();
        tally_gil_stats z;
        ASSERT_EQ(tally_gil_get_stats(&z), 0);
        EXPECT_EQ(z.switches, 0u);
        EXPECT_EQ(z.drop_requests, 0u);
        EXPECT_EQ(tally_set_switch_interval(old_interval), 0);
    } else {
        EXPECT_EQ(rc, -1);
        tally_gil_stats zero;
        std::memset(&zero, 0, sizeof zero);
        EXPECT_EQ(std::memcmp(&st, &zero, sizeof st), 0) << "tally_gil_get_stats must zero *out";
    }
}

// ---- pthread_cancel of an attached thread --------------------------------------------------

namespace {

std::atomic<int> g_cancel_loops{0};
void *cancelled_body(void *)
{
    if (tally_thread_attach() != 0)
        return nullptr;
    for (;;) {
        tally_object *l = tally_list_new();   // an allocation: a safepoint
        tally_xdecref(l);
        tally_safepoint();                    // GIL hand-over, parking for a stopped world
        g_cancel_loops.fetch_add(1);
        pthread_testcancel();                 // the only cancellation point the test means
    }
    return nullptr;
}

}  // namespace

// A thread cancelled while attached, with the cancel requested while it waits inside the runtime
// (for the GIL, or parked for a stop-the-world).  The cancel used to land in the runtime's own
// condition wait and unwind with its mutex held: the next GIL take or stop-the-world deadlocked.
// Now the runtime's waits are not cancellation points: the thread is cancelled at its
// pthread_testcancel, exits attached, and its exit destructor releases it.  A watchdog turns a
// deadlock into a failure.
TEST(Threads, CancelledAttachedThreadLeavesTheRuntimeWorking)
{
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
    std::thread watchdog([&] {
        std::unique_lock<std::mutex> lk(mu);
        if (!cv.wait_for(lk, std::chrono::seconds(60), [&] { return done; })) {
            std::fprintf(stderr, "CancelledAttachedThreadLeavesTheRuntimeWorking: deadlocked\n");
            std::fflush(stderr);
            std::_Exit(3);
        }
    });
    for (int round = 0; round < 20; round++) {
        g_cancel_loops = 0;
        pthread_t t;
        ASSERT_EQ(pthread_create(&t, nullptr, cancelled_body, nullptr), 0);
        // Compete with it for the GIL (gil) or stop the world on it (the others) for a while.
        auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(20);
        while (g_cancel_loops.load() < 10 || std::chrono::steady_clock::now() < until) {
            tally_object *l = tally_list_new();
            tally_xdecref(l);
            EXPECT_GE(tally_gc_collect(0), 0);
            tally_safepoint();
        }
        ASSERT_EQ(pthread_cancel(t), 0);
        void *ret = nullptr;
        TALLY_BEGIN_ALLOW_THREADS
        pthread_join(t, &ret);
        TALLY_END_ALLOW_THREADS
        EXPECT_EQ(ret, PTHREAD_CANCELED) << "round " << round;
        // The runtime still works: a collection (a stop-the-world) and allocations.
        EXPECT_GE(tally_gc_collect(2), 0);
        tally_object *l = tally_list_new();
        ASSERT_NE(l, nullptr);
        tally_decref(l);
    }
    {
        std::lock_guard<std::mutex> lk(mu);
        done = true;
    }
    cv.notify_all();
    watchdog.join();
}
