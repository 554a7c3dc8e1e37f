// tests/threads/test_gil_fair.cc - the fair GIL (tally_options.gil_fair, TALLY_GIL_FAIR=1).
//
// Owns: the option (default, range check with a clear error, environment override, ignored by
// the free-threaded backends) and the ordering properties of the fair mode under `gil`: waiters
// are served in arrival order, a thread coming back from a blocking call is served before a
// CPU-bound thread that queued earlier (and has not waited a whole interval), but not before one
// that has (no starvation), mutual exclusion with many threads mixing CPU-bound work and
// blocking calls, and no lost wake-up when threads exit while others wait.  No test here
// measures speed: `tally stress --workload convoy --gil-fair` does (docs/backend-gil.md).
//
// Every test restarts the runtime with the fair mode on (GilFair fixture) and restores the
// default runtime afterwards.  The main thread holds the GIL while it sets up a queue: it polls
// tally_gil_waiters() (not a safepoint), so it keeps the GIL until it detaches on purpose.
#include "tally_test.h"

#include <chrono>
#include <cstdlib>
#include <functional>
#include <string>
#include <mutex>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

bool is_gil() { return tally_test_backend_is("gil"); }

// Poll (bounded: 30 s) until pred holds; false if it never did.
bool wait_until(const std::function<bool()> &pred)
{
    auto deadline = Clock::now() + std::chrono::seconds(30);
    while (!pred()) {
        if (Clock::now() > deadline)
            return false;
        std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    return true;
}

// As wait_until, but detached meanwhile (the waited-for thread may need the GIL).
bool wait_detached(const std::function<bool()> &pred)
{
    bool ok;
    TALLY_BEGIN_ALLOW_THREADS
    ok = wait_until(pred);
    TALLY_END_ALLOW_THREADS
    return ok;
}

// The runtime restarted with gil_fair = 1 and the given switch interval.  TALLY_GIL_FAIR and
// TALLY_SWITCH_INTERVAL_US would override the struct: they are cleared for the test and put back
// before the default runtime is restored.
class GilFair : public ::testing::Test {
  protected:
    struct saved_env {
        const char *name;
        bool set;
        std::string value;
    };
    std::vector<saved_env> saved_;

    void start(unsigned interval_us)
    {
        for (const char *name : {"TALLY_GIL_FAIR", "TALLY_SWITCH_INTERVAL_US"}) {
            const char *v = std::getenv(name);
            saved_.push_back({name, v != nullptr, v ? v : ""});
            unsetenv(name);
        }
        tally_fini();
        tally_options o = TALLY_OPTIONS_INIT;
        o.gil_fair = 1;
        o.switch_interval_us = interval_us;
        ASSERT_EQ(tally_init(&o), 0) << tally_last_error();
        tally_options got{};
        tally_get_options(&got);
        ASSERT_EQ(got.gil_fair, 1);
        if (is_gil()) {
            ASSERT_EQ(tally_get_switch_interval(), interval_us);
        }
    }
    void TearDown() override
    {
        tally_fini();
        for (const saved_env &e : saved_) {
            if (e.set)
                setenv(e.name, e.value.c_str(), 1);
        }
        ASSERT_EQ(tally_init(nullptr), 0) << tally_last_error();
    }
};

} // namespace

// ---- the option --------------------------------------------------------------------------

TEST(GilFairOption, DefaultOffRangeCheckedAndReadFromTheEnvironment)
{
    const tally_options defaults = TALLY_OPTIONS_INIT;
    EXPECT_EQ(defaults.gil_fair, 0);

    tally_fini();
    tally_options o = TALLY_OPTIONS_INIT;
    o.gil_fair = 2;
    EXPECT_NE(tally_init(&o), 0);
    EXPECT_FALSE(tally_is_initialized());
    std::string err = tally_last_error();
    EXPECT_NE(err.find("GIL_FAIR"), std::string::npos) << err;
    EXPECT_NE(err.find("0..1"), std::string::npos) << err;

    const char *saved = std::getenv("TALLY_GIL_FAIR");
    std::string saved_value = saved ? saved : "";
    ASSERT_EQ(setenv("TALLY_GIL_FAIR", "yes", 1), 0);
    EXPECT_NE(tally_init(nullptr), 0);
    err = tally_last_error();
    EXPECT_NE(err.find("TALLY_GIL_FAIR='yes'"), std::string::npos) << err;
    EXPECT_NE(err.find("0..1"), std::string::npos) << err;

    ASSERT_EQ(setenv("TALLY_GIL_FAIR", "1", 1), 0);
    ASSERT_EQ(tally_init(nullptr), 0) << tally_last_error();
    tally_options got{};
    tally_get_options(&got);
    EXPECT_EQ(got.gil_fair, 1) << "the environment sets the option";
    tally_fini();

    if (saved)
        setenv("TALLY_GIL_FAIR", saved_value.c_str(), 1);
    else
        unsetenv("TALLY_GIL_FAIR");
    ASSERT_EQ(tally_init(nullptr), 0) << tally_last_error();
}

TEST_F(GilFair, IgnoredByTheFreeThreadedBackendsReportedByGil)
{
    ASSERT_NO_FATAL_FAILURE(start(5000));
    int n = tally_gil_waiters();
    if (is_gil()) {
        EXPECT_EQ(n, 0) << "only this thread exists and it holds the GIL";
    } else {
        EXPECT_EQ(n, -1);
        EXPECT_NE(std::string(tally_last_error()).find("no GIL"), std::string::npos) << tally_last_error();
    }
    // Either way threads still attach, share a list and detach.
    tally_object *l = tally_list_new();
    std::vector<std::thread> ts;
    for (int i = 0; i < 4; i++)
        ts.emplace_back([l] {
            ASSERT_EQ(tally_thread_attach(), 0) << tally_last_error();
            for (int k = 0; k < 100; k++) {
                tally_list_append(l, tally_none());
                tally_safepoint();
            }
            tally_thread_release();
        });
    join_all(ts);
    EXPECT_EQ(tally_list_len(l), 400);
    tally_decref(l);
}

// ---- ordering (gil) ------------------------------------------------------------------------

// Four threads attach one after another while this thread holds the GIL: each is queued before
// the next starts.  Attaches are requests of the same class, so they are served by arrival.
TEST_F(GilFair, WaitersAreServedInArrivalOrder)
{
    if (!is_gil()) {
        EXPECT_EQ(tally_gil_waiters(), -1);
        return;
    }
    ASSERT_NO_FATAL_FAILURE(start(1000000)); // 1 s: no waiter ages during the test
    std::mutex mu;
    std::vector<int> order;
    std::vector<std::thread> ts;
    const int n = 4;
    for (int i = 0; i < n; i++) {
        ts.emplace_back([&, i] {
            ASSERT_EQ(tally_thread_attach(), 0) << tally_last_error();
            {
                std::lock_guard<std::mutex> g(mu);
                order.push_back(i);
            }
            tally_thread_release();
        });
        ASSERT_TRUE(wait_until([&] { return tally_gil_waiters() == i + 1; }))
            << "thread " << i << " never queued; waiters " << tally_gil_waiters();
    }
    {
        std::lock_guard<std::mutex> g(mu);
        EXPECT_TRUE(order.empty()) << "a waiter ran while this thread held the GIL";
    }
    join_all(ts); // detaching hands the GIL to the head of the queue
    std::vector<int> want;
    for (int i = 0; i < n; i++)
        want.push_back(i);
    EXPECT_EQ(order, want);
    EXPECT_EQ(tally_gil_waiters(), 0);
}

// A CPU-bound thread C is made to drop the GIL (a drop request) and queues again as a normal
// waiter; then, after `hold` more, a thread W that was blocked (TALLY_BEGIN_ALLOW_THREADS) comes
// back and queues behind it as a priority waiter.  This thread holds the GIL throughout, then
// lets go.  Returns through c0 C's iterations when it queued and through w_saw those W saw when
// it got the GIL: equal means W was served first.
static void waker_behind_cpu_bound_waiter(std::chrono::milliseconds hold, long *c0_out, long *w_saw_out,
                                   Clock::duration *c_waited)
{
    std::atomic<bool> w_blocked{false}, go{false}, w_done{false}, c_running{false}, stop{false};
    std::atomic<long> c_iters{0}, w_saw{-1};

    std::thread w([&] {
        ASSERT_EQ(tally_thread_attach(), 0) << tally_last_error();
        TALLY_BEGIN_ALLOW_THREADS
        w_blocked = true;
        while (!go.load())
            std::this_thread::sleep_for(std::chrono::microseconds(100));
        TALLY_END_ALLOW_THREADS
        w_saw = c_iters.load();
        w_done = true;
        tally_thread_release();
    });
    ASSERT_TRUE(wait_detached([&] { return w_blocked.load(); }));

    std::thread c([&] {
        ASSERT_EQ(tally_thread_attach(), 0) << tally_last_error();
        c_running = true;
        while (!stop.load()) {
            c_iters++;
            tally_safepoint();
        }
        tally_thread_release();
    });
    // Let C hold the GIL; coming back, this thread asks it to drop (after the short slice), takes
    // the GIL, and C queues again as a CPU-bound (normal) waiter.
    ASSERT_TRUE(wait_detached([&] { return c_running.load(); }));
    auto c_queued_at = Clock::now();
    ASSERT_TRUE(wait_until([] { return tally_gil_waiters() == 1; }));
    long c0 = c_iters.load();
    EXPECT_GT(c0, 0);
    std::this_thread::sleep_for(hold); // still holding the GIL: no safepoint here

    go = true;
    ASSERT_TRUE(wait_until([] { return tally_gil_waiters() == 2; })) << "W never queued";
    EXPECT_EQ(c_iters.load(), c0) << "C ran while this thread held the GIL";
    *c_waited = Clock::now() - c_queued_at;

    TALLY_BEGIN_ALLOW_THREADS
    EXPECT_TRUE(wait_until([&] { return w_done.load(); }));
    stop = true;
    w.join();
    c.join();
    TALLY_END_ALLOW_THREADS
    *c0_out = c0;
    *w_saw_out = w_saw.load();
}

TEST_F(GilFair, ThreadBackFromBlockingIsServedBeforeAnEarlierCpuBoundWaiter)
{
    if (!is_gil()) {
        EXPECT_EQ(tally_gil_waiters(), -1);
        return;
    }
    // 5 s: C does not age (become as urgent as a priority waiter) in this test
    ASSERT_NO_FATAL_FAILURE(start(5000000));
    long c0 = -1, w_saw = -2;
    Clock::duration c_waited{};
    waker_behind_cpu_bound_waiter(std::chrono::milliseconds(0), &c0, &w_saw, &c_waited);
    // The premise: C had queued less than one interval before W (else it is aged: first by ticket).
    ASSERT_LT(c_waited, std::chrono::seconds(4));
    EXPECT_EQ(w_saw, c0) << "the CPU-bound thread that queued first ran before the thread back "
                            "from its blocking call";
}

// No starvation: a CPU-bound waiter that has waited a whole interval is served in ticket order
// even against a priority waiter, so a stream of threads back from I/O cannot keep it out.
TEST_F(GilFair, CpuBoundWaiterThatWaitedAnIntervalIsServedBeforeALaterPriorityWaiter)
{
    if (!is_gil()) {
        EXPECT_EQ(tally_gil_waiters(), -1);
        return;
    }
    // 100 ms interval (short slice 10 ms); this thread holds the GIL 300 ms more
    ASSERT_NO_FATAL_FAILURE(start(100000));
    long c0 = -1, w_saw = -2;
    Clock::duration c_waited{};
    waker_behind_cpu_bound_waiter(std::chrono::milliseconds(300), &c0, &w_saw, &c_waited);
    ASSERT_GE(c_waited, std::chrono::milliseconds(100));
    EXPECT_GT(w_saw, c0) << "the aged CPU-bound waiter was not served before the later priority "
                            "waiter";
}

// ---- safety (gil, fair) -------------------------------------------------------------------

// Eight threads, half CPU-bound (hand-overs by drop request every 200 us), half blocking often
// (priority takes), all changing plain shared state and one shared list.  Under the GIL no two
// are ever inside at once and no update is lost.
TEST_F(GilFair, MutualExclusionWithManyThreadsMixingBlockingAndCpuBound)
{
    ASSERT_NO_FATAL_FAILURE(start(200));
    tally_object *shared = tally_list_new();
    std::atomic<int> inside{0};
    std::atomic<long> overlaps{0};
    long plain = 0; // guarded by the GIL alone (gil backend); by `mu` elsewhere
    std::mutex plain_mu;
    const bool gil = is_gil();
    const int nthreads = 8, cpu_iters = 50000, io_iters = 300;
    tally_gil_reset_stats();
    std::vector<std::thread> ts;
    for (int t = 0; t < nthreads; t++) {
        bool blocking = t % 2 == 1;
        ts.emplace_back([&, blocking] {
            ASSERT_EQ(tally_thread_attach(), 0) << tally_last_error();
            int iters = blocking ? io_iters : cpu_iters;
            for (int i = 0; i < iters; i++) {
                if (blocking) {
                    TALLY_BEGIN_ALLOW_THREADS
                    std::this_thread::sleep_for(std::chrono::microseconds(50));
                    TALLY_END_ALLOW_THREADS
                }
                if (gil) {
                    if (inside.fetch_add(1) != 0)
                        overlaps++;
                    long v = plain;
                    tally_list_append(shared, tally_none());
                    plain = v + 1;
                    inside.fetch_sub(1);
                } else {
                    tally_list_append(shared, tally_none());
                    std::lock_guard<std::mutex> g(plain_mu);
                    plain++;
                }
                tally_safepoint();
            }
            tally_thread_release();
        });
    }
    join_all(ts);
    const long want = (nthreads / 2) * (long)cpu_iters + (nthreads / 2) * (long)io_iters;
    EXPECT_EQ(overlaps.load(), 0);
    EXPECT_EQ(plain, want);
    EXPECT_EQ(tally_list_len(shared), want);
    tally_decref(shared);
    if (gil) {
        tally_gil_stats st{};
        ASSERT_EQ(tally_gil_get_stats(&st), 0);
        EXPECT_GT(st.switches, 0u);
        EXPECT_GE(st.acquisitions, st.switches);
        EXPECT_EQ(tally_gil_waiters(), 0);
    }
}

// Rounds of 16 threads that attach, work a little and exit (thread exit drops the GIL) while the
// others wait for it.  Every exit hands the GIL to a waiter, or frees it when none waits; a lost
// wake-up would leave a thread waiting forever (caught here by the 60 s bound, then abort: a
// thread blocked in the GIL cannot be joined).
TEST_F(GilFair, NoLostWakeupWhenThreadsExitWhileOthersWait)
{
    ASSERT_NO_FATAL_FAILURE(start(500));
    const int rounds = 20, nthreads = 16;
    std::atomic<int> finished{0};
    for (int r = 0; r < rounds; r++) {
        std::vector<std::thread> ts;
        for (int t = 0; t < nthreads; t++)
            ts.emplace_back([&, t] {
                ASSERT_EQ(tally_thread_attach(), 0) << tally_last_error();
                tally_object *l = tally_list_new();
                for (int k = 0; k < 10 + t; k++) {
                    tally_list_append(l, tally_none());
                    tally_safepoint();
                }
                tally_decref(l);
                tally_thread_release();
                finished++;
            });
        bool all = wait_detached([&] { return finished.load() == (r + 1) * nthreads; });
        if (!all) {
            ADD_FAILURE() << "round " << r << ": " << (r + 1) * nthreads - finished.load()
                          << " threads never got the GIL (waiters " << tally_gil_waiters() << ")";
            std::abort();
        }
        join_all(ts);
    }
    EXPECT_EQ(finished.load(), rounds * nthreads);
    if (is_gil()) {
        EXPECT_EQ(tally_gil_waiters(), 0);
    }
}
