// tests/threads/test_fork.cc - conformance of fork() with running threads, per backend (not racy).
//
// Owns: the promise that a child forked while other attached threads were allocating,
// sharing and collecting keeps a working runtime: it allocates, uses containers made before
// the fork, collects cycles, starts and attaches a new thread, shuts down, and exits 0; and
// that the parent and its threads carry on after the fork.  The child is watched with a
// deadline so a deadlock after fork fails the test instead of hanging it.
#include "tally_test.h"

#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <csignal>
#include <cstdio>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

#define CHILD_CHECK(cond)                                                                  \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            std::fprintf(stderr, "fork child: check failed: %s (last error: '%s')\n", #cond, \
                         tally_last_error());                                              \
            std::fflush(stderr);                                                           \
            _exit(10);                                                                     \
        }                                                                                  \
    } while (0)

struct Pair {
    TALLY_OBJECT_HEAD;
    tally_object *other;
};
int pair_traverse(tally_object *self, tally_visitproc visit, void *arg)
{
    auto *p = reinterpret_cast<Pair *>(self);
    return p->other ? visit(p->other, arg) : 0;
}
int pair_clear(tally_object *self)
{
    auto *p = reinterpret_cast<Pair *>(self);
    tally_object *o = p->other;
    p->other = nullptr;
    tally_xdecref(o);
    return 0;
}
std::atomic<int> g_pairs_destroyed{0};
void pair_destroy(tally_object *self)
{
    g_pairs_destroyed++;
    pair_clear(self);
}
const tally_type pair_type = {"ForkPair", sizeof(Pair), TALLY_TYPE_GC, pair_traverse, pair_clear, nullptr, nullptr,
                              pair_destroy};

// Work that keeps a thread allocating, sharing and (through the thresholds) collecting.
void churn(tally_object *shared, int salt, int i)
{
    tally_object *d = tally_dict_new();
    tally_object *l = tally_list_new();
    tally_object *k = tally_int_new(salt * 100000 + i);
    tally_dict_set(d, k, l);
    tally_list_append(l, d); // a dict <-> list cycle for the collector
    tally_decref(l);
    tally_decref(d);
    if (i % 16 == 0) {
        tally_list_append(shared, k);
        if (tally_list_len(shared) > 256) {
            tally_object *x = tally_list_pop(shared);
            tally_xdecref(x);
        }
    }
    tally_decref(k);
    tally_safepoint();
}

// Wait for pid with a deadline; kill it and report a hang when the deadline passes.
int wait_child(pid_t pid, int seconds, bool *hung)
{
    auto deadline = Clock::now() + std::chrono::seconds(seconds);
    int status = 0;
    *hung = false;
    for (;;) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            return status;
        if (r < 0)
            return -1;
        if (Clock::now() > deadline) {
            *hung = true;
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            return status;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
}

void child_body(tally_object *shared_before_fork, bool shut_down)
{
    CHILD_CHECK(tally_is_initialized());
    CHILD_CHECK(tally_thread_is_attached());
    // A container built before the fork is intact and usable.
    CHILD_CHECK(tally_list_len(shared_before_fork) == 100);
    for (size_t i = 0; i < 100; i++) {
        tally_object *v = tally_list_get(shared_before_fork, i);
        CHILD_CHECK(v && tally_int_value(v) == int64_t(i) + 5000);
        tally_decref(v);
    }
    // Allocate.
    tally_object *d = tally_dict_new();
    for (int i = 0; i < 20000; i++) {
        tally_object *k = tally_int_new(i);
        tally_object *s = tally_str_new("child");
        CHILD_CHECK(k && s && tally_dict_set(d, k, s) == 0);
        tally_decref(k);
        tally_decref(s);
    }
    CHILD_CHECK(tally_dict_len(d) == 20000);
    tally_decref(d);
    // Collect: 100 two-object cycles made here are found and destroyed.
    tally_gc_collect(2);
    g_pairs_destroyed = 0;
    for (int i = 0; i < 100; i++) {
        Pair *a = reinterpret_cast<Pair *>(tally_new(&pair_type));
        Pair *b = reinterpret_cast<Pair *>(tally_new(&pair_type));
        CHILD_CHECK(a && b);
        a->other = tally_newref(&b->ob_base);
        b->other = &a->ob_base; // steals
        tally_decref(&b->ob_base);
    }
    tally_flush();
    CHILD_CHECK(g_pairs_destroyed.load() == 0);
    intptr_t n = tally_gc_collect(2);
    tally_flush();
    CHILD_CHECK(n >= 200);
    CHILD_CHECK(g_pairs_destroyed.load() == 200);
    // A new thread can attach and work in the child.  (ThreadSanitizer cannot start threads in
    // the child of a multi-threaded process: there the thread's work runs on this thread.)
    int thread_ok = 0;
    auto work = [&thread_ok] {
        tally_object *l = tally_list_new();
        for (int i = 0; i < 1000; i++) {
            tally_object *v = tally_int_new(i);
            tally_list_append(l, v);
            tally_decref(v);
        }
        thread_ok = tally_list_len(l) == 1000;
        tally_decref(l);
    };
#ifndef TALLY_TSAN
    std::thread t([&work] {
        if (tally_thread_attach() != 0)
            return;
        work();
        tally_thread_detach();
    });
    TALLY_BEGIN_ALLOW_THREADS
    t.join();
    TALLY_END_ALLOW_THREADS
#else
    work();
#endif
    CHILD_CHECK(thread_ok == 1);
    tally_decref(shared_before_fork);
    if (shut_down) {
        tally_fini();
        CHILD_CHECK(!tally_is_initialized());
    }
    _exit(0);
}

// Fork `rounds` children while kWorkers attached threads churn; each child runs child_body.
// A deadlock in the parent (inside fork() itself, say) cannot be waited out from the test
// thread: a plain, unattached watchdog thread aborts the binary with a message instead.
class Watchdog {
  public:
    explicit Watchdog(int seconds, const char *what)
        : thread_([this, seconds, what] {
              std::unique_lock<std::mutex> lk(mu_);
              if (!cv_.wait_for(lk, std::chrono::seconds(seconds), [this] { return done_; })) {
                  std::fprintf(stderr, "watchdog: %s did not finish within %d s (deadlock?)\n", what, seconds);
                  std::fflush(stderr);
                  std::abort();
              }
          })
    {
    }
    ~Watchdog()
    {
        {
            std::lock_guard<std::mutex> lk(mu_);
            done_ = true;
        }
        cv_.notify_all();
        thread_.join();
    }

  private:
    std::mutex mu_;
    std::condition_variable cv_;
    bool done_ = false;
    std::thread thread_;
};

void fork_while_threads_run(int rounds, bool child_shuts_down)
{
    Watchdog watchdog(150, "fork with running threads (parent side)");
    constexpr int kWorkers = 3;
    tally_object *before = tally_list_new();
    ASSERT_NE(before, nullptr);
    for (int i = 0; i < 100; i++) {
        tally_object *v = tally_int_new(i + 5000);
        tally_list_append(before, v);
        tally_decref(v);
    }
    tally_object *shared = tally_list_new();
    std::atomic<bool> stop{false};
    std::atomic<long> iterations[kWorkers] = {};
    std::vector<std::thread> workers;
    for (int w = 0; w < kWorkers; w++)
        workers.emplace_back([&, w] {
            if (tally_thread_attach() != 0)
                return;
            // Bounded: if the parent deadlocks (and no collection can finish) the workers must
            // not eat the machine's memory before the watchdog fires.
            auto give_up = Clock::now() + std::chrono::seconds(240);
            for (int i = 0; !stop.load() && i < 5000000; i++) {
                churn(shared, w, i);
                iterations[w]++;
                if (i % 1024 == 0 && Clock::now() > give_up)
                    break;
            }
            tally_thread_detach();
        });
    // Let every worker get going (this thread polls safepoints so `gil` hands the GIL over).
    auto deadline = Clock::now() + std::chrono::seconds(30);
    for (;;) {
        bool all = true;
        for (auto &n : iterations)
            all = all && n.load() >= 50;
        if (all || Clock::now() > deadline)
            break;
        churn(shared, 99, 0);
    }
    for (auto &n : iterations)
        EXPECT_GE(n.load(), 50) << "a worker did not start";

    std::vector<pid_t> children;
    for (int round = 0; round < rounds; round++) {
        std::fflush(nullptr);
        pid_t pid = fork();
        if (pid == 0)
            child_body(before, child_shuts_down); // never returns
        EXPECT_GT(pid, 0) << "fork failed";
        if (pid < 0)
            break;
        children.push_back(pid);
        // The parent keeps working between forks.
        for (int i = 0; i < 200; i++)
            churn(shared, 98, i);
    }
    long at_fork[kWorkers];
    for (int w = 0; w < kWorkers; w++)
        at_fork[w] = iterations[w].load();

    for (pid_t pid : children) {
        bool hung = false;
        int status;
        TALLY_BEGIN_ALLOW_THREADS
        status = wait_child(pid, 30, &hung);
        TALLY_END_ALLOW_THREADS
        EXPECT_FALSE(hung) << "the forked child hung (deadlock after fork?)";
        EXPECT_TRUE(WIFEXITED(status)) << "child killed by signal " << (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
        if (WIFEXITED(status)) {
            EXPECT_EQ(WEXITSTATUS(status), 0);
        }
    }

    // The parent's threads are still running.
    deadline = Clock::now() + std::chrono::seconds(30);
    for (;;) {
        bool all = true;
        for (int w = 0; w < kWorkers; w++)
            all = all && iterations[w].load() > at_fork[w] + 10;
        if (all || Clock::now() > deadline)
            break;
        churn(shared, 97, 1);
    }
    for (int w = 0; w < kWorkers; w++)
        EXPECT_GT(iterations[w].load(), at_fork[w] + 10) << "worker " << w << " stopped after the fork";
    stop = true;
    TALLY_BEGIN_ALLOW_THREADS
    for (auto &t : workers)
        t.join();
    TALLY_END_ALLOW_THREADS
    EXPECT_EQ(tally_list_len(before), 100u);
    EXPECT_GE(tally_gc_collect(2), 0);
    tally_decref(before);
    tally_decref(shared);
    tally_flush();
}

} // namespace

TEST(Fork, ChildKeepsWorkingWhileParentThreadsRun)
{
    // Three children, each: allocate, use a pre-fork container, collect, start a thread, exit 0.
    fork_while_threads_run(3, false);
}

TEST(Fork, ChildShutsDownCleanly)
{
    // As above, and the child then calls tally_fini() before exiting 0.
    fork_while_threads_run(1, true);
}

TEST(Fork, ChildOfDetachedForkerCanAttach)
{
    // A thread that is not attached forks; the child's thread attaches and works.
    std::fflush(nullptr);
    int status = 0;
    bool hung = false;
    std::thread t([&] {
        pid_t pid = fork();
        if (pid == 0) {
            if (tally_thread_attach() != 0)
                _exit(20);
            tally_object *l = tally_list_new();
            for (int i = 0; i < 1000; i++) {
                tally_object *s = tally_str_new("child");
                tally_list_append(l, s);
                tally_decref(s);
            }
            if (tally_list_len(l) != 1000)
                _exit(21);
            tally_decref(l);
            if (tally_gc_collect(2) < 0)
                _exit(22);
            _exit(0);
        }
        status = wait_child(pid, 60, &hung);
    });
    TALLY_BEGIN_ALLOW_THREADS
    t.join();
    TALLY_END_ALLOW_THREADS
    EXPECT_FALSE(hung);
    ASSERT_TRUE(WIFEXITED(status)) << "signal " << (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    EXPECT_EQ(WEXITSTATUS(status), 0);
}

namespace {

std::atomic<int> g_counted_destroyed{0};
void fork_counted_destroy(tally_object *) { g_counted_destroyed++; }
const tally_type fork_counted_type = {"ForkCounted", sizeof(tally_object), 0, nullptr, nullptr, nullptr, nullptr,
                                 fork_counted_destroy};

}  // namespace

// In a child, a thread started there takes a reference and keeps it in its (deferred: unshipped)
// log while the forking thread drops the other reference and flushes.  The object must live until
// that thread drops its reference.  deferred took every fork child for single-threaded (no grace
// period there) and destroyed the object at the flush.
TEST(Fork, ChildsSecondThreadKeepsItsReferenceAcrossAFlush)
{
    std::fflush(nullptr);
    pid_t pid = fork();
    if (pid == 0) {
        g_counted_destroyed = 0;
        tally_object *o = tally_new(&fork_counted_type);
        CHILD_CHECK(o != nullptr);
        std::atomic<int> stage{0};
        std::atomic<int> seen_destroyed{-1};
        std::thread b([&] {
            if (tally_thread_attach() != 0)
                _exit(30);
            tally_incref(o);
            stage = 1;
            // A while without a safepoint: its increment stays in its log, unshipped.
            auto until = Clock::now() + std::chrono::milliseconds(300);
            while (Clock::now() < until) {
            }
            while (stage.load() != 2)
                tally_safepoint();
            seen_destroyed = g_counted_destroyed.load();
            tally_decref(o);
            tally_thread_release();
        });
        TALLY_BEGIN_ALLOW_THREADS   // gil: the other thread needs the GIL to attach
        while (stage.load() != 1)
            std::this_thread::yield();
        TALLY_END_ALLOW_THREADS
        tally_decref(o);
        tally_flush();
        int after_flush = g_counted_destroyed.load();
        stage = 2;
        TALLY_BEGIN_ALLOW_THREADS
        b.join();
        TALLY_END_ALLOW_THREADS
        tally_flush();
        CHILD_CHECK(after_flush == 0);          // the other thread still held it
        CHILD_CHECK(seen_destroyed.load() == 0);
        CHILD_CHECK(g_counted_destroyed.load() == 1);   // freed once, when both dropped it
        _exit(0);
    }
    bool hung = false;
    int status = wait_child(pid, 60, &hung);
    EXPECT_FALSE(hung);
    ASSERT_TRUE(WIFEXITED(status)) << "signal " << (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    EXPECT_EQ(WEXITSTATUS(status), 0);
}
