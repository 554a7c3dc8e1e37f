// tests/core/test_faults.cc - every allocation of the API's calls fails in turn, cleanly.
//
// Owns: the allocation-failure sweep.  AddressSanitizer builds compile the libraries with a
// one-shot fault hook (runtime/fault_inject.c): tally_debug_fail_allocation(n) makes the n-th
// allocation from then on return NULL.  The sweep runs one scenario - objects, a list and a dict
// that grow, a string, a tuple, a weakref with a callback, a thread that attaches - once for
// each n until the scenario makes fewer than n+1 allocations, so every allocation point it
// reaches fails once.  Each call must fail cleanly (an error return and a message naming the
// lack of memory, no abort), and nothing may be lost: containers hold exactly what the calls
// that succeeded put there, every object's count is exact, every object is destroyed exactly
// once at the end, and AddressSanitizer's leak check at exit finds nothing.  Automatic
// collections are off in that scenario; the sweeps below run collections (explicit and
// automatic) and tally_init in child processes (tests/core/fault_sweep.h), one per allocation
// point.  Every backend, deferred included (its reconciliation vectors spill into chains through
// the objects and its log buffers have a fallback when memory runs out: docs/backend-deferred.md).
#include "tally_test.h"

#if defined(__SANITIZE_ADDRESS__)

#include "fault_sweep.h"

#include <cstdio>
#include <cstring>
#include <map>
#include <sys/wait.h>
#include <unistd.h>
#include <utility>
#include <string>
#include <thread>
#include <vector>

using fault_sweep::count_callback;
using fault_sweep::mentions_memory;

TEST(Faults, EveryAllocationOfTheScenarioFailsCleanlyAndLosesNothing)
{
    tally_gc_disable();
    std::atomic<int> destroyed{0};
    int created = 0;
    long n = 0;
    long injected = 0, reported = 0;
    for (; n < 20000; n++) {
        long before = tally_debug_failed_allocations();
        std::vector<std::string> bad;   // calls that failed without a memory error
        int failed_calls = 0;
        auto note = [&](bool failed, const char *what) {
            if (!failed)
                return;
            failed_calls++;
            std::string e = tally_last_error();
            if (!mentions_memory(e))
                bad.push_back(std::string(what) + ": '" + e + "'");
        };
        std::map<tally_object *, intptr_t> expect;   // expected count of each object we made
        tally_debug_fail_allocation(n);

        std::vector<tally_object *> objs;
        for (int i = 0; i < 6; i++) {
            CountedObject *c = counted_new(&destroyed);
            note(!c, "tally_new");
            if (c) {
                objs.push_back(&c->ob_base);
                expect[&c->ob_base] = 1;
                created++;
            }
        }
        tally_object *l = tally_list_new();
        note(!l, "tally_list_new");
        size_t appended = 0;
        if (l) {
            for (tally_object *o : objs)
                for (int k = 0; k < 12; k++) {
                    int r = tally_list_append(l, o);
                    note(r != 0, "tally_list_append");
                    if (r == 0) {
                        appended++;
                        expect[o]++;
                    }
                }
        }
        tally_object *d = tally_dict_new();
        note(!d, "tally_dict_new");
        size_t keys = 0;
        if (d && !objs.empty()) {
            for (int64_t i = 0; i < 24; i++) {
                tally_object *k = tally_int_new(1000 + i);   // beyond the small-int cache
                note(!k, "tally_int_new");
                if (!k)
                    continue;
                tally_object *v = objs[static_cast<size_t>(i) % objs.size()];
                int r = tally_dict_set(d, k, v);
                note(r != 0, "tally_dict_set");
                if (r == 0) {
                    keys++;
                    expect[v]++;
                }
                tally_decref(k);
            }
        }
        tally_object *s = tally_str_new("a string long enough to need its own allocation");
        note(!s, "tally_str_new");
        tally_object *t = nullptr;
        if (objs.size() >= 2) {
            t = tally_tuple_new(2, objs.data());
            note(!t, "tally_tuple_new");
            if (t) {
                expect[objs[0]]++;
                expect[objs[1]]++;
            }
        }
        tally_object *wr = nullptr;
        if (!objs.empty()) {
            wr = tally_weakref_new(objs.back(), count_callback, nullptr);
            note(!wr, "tally_weakref_new");
        }
        int attached = -2;
        bool thread_new_failed = false;
        std::string attach_error, thread_new_error;
        std::thread th([&] {
            attached = tally_thread_attach();
            if (attached != 0) {
                attach_error = tally_last_error();
                return;
            }
            tally_object *x = tally_list_new();   // may fail too: then NULL with an error
            if (!x) {
                thread_new_failed = true;
                thread_new_error = tally_last_error();
            }
            tally_xdecref(x);
            tally_thread_release();
        });
        TALLY_BEGIN_ALLOW_THREADS
        th.join();
        TALLY_END_ALLOW_THREADS
        if (attached != 0) {
            failed_calls++;
            if (!mentions_memory(attach_error))
                bad.push_back("tally_thread_attach: '" + attach_error + "'");
        }
        if (thread_new_failed) {
            failed_calls++;
            if (!mentions_memory(thread_new_error))
                bad.push_back("tally_list_new on the new thread: '" + thread_new_error + "'");
        }
        tally_debug_fail_allocation(-1);
        bool fired = tally_debug_failed_allocations() > before;
        injected += fired;

        EXPECT_TRUE(bad.empty()) << "allocation " << n << ": " << bad.front();
        // A fault no call reports is either recovered from inside the library without loss (the
        // delayed-free batch: a grace period waited for at once) or a silent drop, which the
        // checks below catch (a count, a container, a destroy or a callback short).
        reported += fired && failed_calls > 0;
        if (l) {
            EXPECT_EQ(tally_list_len(l), appended) << "allocation " << n;
        }
        if (d) {
            EXPECT_EQ(tally_dict_len(d), keys) << "allocation " << n;
        }
        tally_flush();
        for (auto &e : expect)
            EXPECT_EQ(tally_refcount(e.first), e.second) << "allocation " << n;

        int cb_before = fault_sweep::callbacks;
        tally_xdecref(t);
        tally_xdecref(s);
        tally_xdecref(d);
        tally_xdecref(l);
        for (tally_object *o : objs)
            tally_decref(o);
        tally_flush();
        EXPECT_EQ(destroyed.load(), created) << "allocation " << n;
        if (wr) {
            EXPECT_EQ(fault_sweep::callbacks, cb_before + 1) << "allocation " << n << ": weakref callback";
            tally_object *gone = tally_weakref_get(wr);
            EXPECT_EQ(gone, nullptr);
            tally_decref(wr);
        }
        if (!fired)
            break;   // the scenario made at most n allocations: each one has failed once
        if (::testing::Test::HasFailure())
            break;
    }
    std::printf("fault sweep: %ld allocation points failed in turn, %ld reported by the call (%s)\n", injected,
                reported, tally_backend());
    EXPECT_GT(injected, 20) << "the sweep reached too few allocation points";
    tally_gc_enable();
}

// Collections (young and middle, explicit here; an automatic one runs the same code inside
// tally_new) with each of their allocations failing in turn: the collection returns (a count, or
// -1 with an error), nothing it examined is lost or freed early, and the garbage it could not
// free is freed by the next collection.  One child process per allocation point (fault_sweep.h).
static void collection_child(long n)
{
    tally_gc_disable();
    FaultGraph g;
    g.build(40, 3000);   // the chain dies by refcount through the deallocation stack
    FaultArm arm(n);
    intptr_t young = tally_gc_collect(0);
    std::string young_error = tally_last_error();
    g.drop_chain();
    tally_flush();
    intptr_t full = tally_gc_collect(1);   // generation 2: test_faults_full.cc
    std::string full_error = tally_last_error();
    bool fired = arm.disarm();
    FAULT_CHECK(young >= 0 || fault_sweep::mentions_memory(young_error));
    FAULT_CHECK(full >= 0 || fault_sweep::mentions_memory(full_error));
    g.finish();
    fault_exit(fired);
}

// gil and atomic allocate once here (the deallocation stack); the others also for their own
// structures (merge queues, logs, deferred's vectors).
TEST(Faults, EveryAllocationOfACollectionFailsCleanly) { expect_fault_sweep(collection_child, 500, "collection", 1); }

// Automatic collections: tally_new with a low threshold collects inside the call, and each
// allocation of the calls and of their collections fails in turn.  A tally_new that fails
// returns NULL with a memory error (its collection may have run); nothing else is lost.
static void automatic_child(long n)
{
    tally_gc_set_threshold(20, 2, 2);
    tally_gc_enable();
    FaultGraph g;
    g.build(0, 0);   // the live pair and the watched garbage pair (its collection may run now)
    FaultArm arm(n);
    int failed = 0;
    for (int i = 0; i < 80; i++) {   // garbage cycles: automatic collections of every generation
        CountedObject *a = counted_new(&g.destroyed);
        if (!a) {
            FAULT_CHECK(fault_sweep::mentions_memory(tally_last_error()));
            failed++;
            continue;
        }
        g.made++;
        CountedObject *b = counted_new(&g.destroyed);
        if (!b) {
            FAULT_CHECK(fault_sweep::mentions_memory(tally_last_error()));
            failed++;
            tally_decref(&a->ob_base);
            continue;
        }
        g.made++;
        a->ref = &b->ob_base;   // each holds the other's only reference: garbage
        b->ref = &a->ob_base;
    }
    bool fired = arm.disarm();
    FAULT_CHECK(failed <= 1);   // one fault: at most one call fails
    tally_gc_disable();
    g.finish();
    fault_exit(fired);
}

TEST(Faults, EveryAllocationOfAutomaticCollectionsFailsCleanly)
{
    expect_fault_sweep(automatic_child, 1000, "automatic-collection", 100);
}

// tally_init after a tally_fini, each of its allocations failing in turn: -1 naming memory and
// a runtime that initialises on the next try, or success; then it works and frees everything.
static void init_child(long n)
{
    tally_fini();
    FaultArm arm(n);
    int r = tally_init(nullptr);
    std::string error = tally_last_error();
    bool fired = arm.disarm();
    if (r != 0) {
        FAULT_CHECK(fault_sweep::mentions_memory(error));
        FAULT_CHECK(tally_init(nullptr) == 0);
    }
    tally_gc_disable();
    FaultGraph g;
    g.build(5, 10);
    g.finish();
    fault_exit(fired);
}

TEST(Faults, EveryAllocationOfTallyInitFailsCleanly) { expect_fault_sweep(init_child, 500, "tally_init", 100); }

// Memory that stays short: from allocation n on every allocation fails, until the work below is
// done.  Two threads make refcount traffic on shared objects (deferred: thousands of log
// entries, so logs are shipped with no buffer to refill and reconciled with no room for their
// deaths), drop objects that die by refcount in a cascade, flush and collect.  Every call that
// fails says memory, nothing aborts or waits forever, and nothing is lost: once memory is back
// what was dropped is freed, what is held is intact with its exact count.
static void sustained_child(long n)
{
    tally_gc_disable();
    FaultGraph g;
    g.build(50, 300);
    std::atomic<int> held_destroyed{0};
    tally_object *keep = tally_list_new();
    FAULT_CHECK(keep != nullptr);
    std::vector<CountedObject *> held;
    for (int i = 0; i < 400; i++) {
        CountedObject *c = counted_new(&held_destroyed);
        FAULT_CHECK(c != nullptr && tally_list_append(keep, &c->ob_base) == 0);
        held.push_back(c);
    }
    tally_flush();
    FaultArm arm(n, -1);
    auto traffic = [&](int rounds) {
        for (int k = 0; k < rounds; k++) {
            for (CountedObject *c : held)   // all increments, then all decrements: each is logged
                tally_incref(&c->ob_base);
            for (CountedObject *c : held)
                tally_decref(&c->ob_base);
            tally_object *x = tally_list_get(keep, static_cast<size_t>(k) % held.size());
            tally_xdecref(x);
            tally_safepoint();
        }
    };
    int attached = -2;
    std::string attach_error;
    std::thread th([&] {
        attached = tally_thread_attach();
        if (attached != 0) {
            attach_error = tally_last_error();
            return;
        }
        traffic(40);
        tally_thread_release();
    });
    traffic(40);   // 400 objects x 2 x 40: 32,000 log entries on deferred (about 8 logs)
    for (size_t i = 0; i < held.size() / 2; i++)
        tally_decref(&held[i]->ob_base);   // the list still holds them
    g.drop_chain();   // 301 objects die by refcount, one releasing the next
    tally_flush();
    intptr_t young = tally_gc_collect(0);
    std::string young_error = tally_last_error();
    TALLY_BEGIN_ALLOW_THREADS
    th.join();
    TALLY_END_ALLOW_THREADS
    bool fired = arm.disarm();
    FAULT_CHECK(attached == 0 || fault_sweep::mentions_memory(attach_error));
    FAULT_CHECK(young >= 0 || fault_sweep::mentions_memory(young_error));
    tally_flush();
    for (size_t i = 0; i < held.size(); i++)
        FAULT_CHECK(tally_refcount(&held[i]->ob_base) == (i < held.size() / 2 ? 1 : 2));
    FAULT_CHECK(held_destroyed.load() == 0);
    g.finish();
    tally_decref(keep);
    for (size_t i = held.size() / 2; i < held.size(); i++)
        tally_decref(&held[i]->ob_base);
    tally_flush();
    FAULT_CHECK(held_destroyed.load() == static_cast<int>(held.size()));
    fault_exit(fired);
}

// The points are where the failures start (every allocation fails from there on).
TEST(Faults, MemoryThatStaysShortFromEachAllocationOnLosesNothing)
{
    expect_fault_sweep(sustained_child, 1000, "sustained (from each point on)", 3);
}

// A fork child (free-threaded backends: delayed frees wait on a list for the next stop of the
// world there, sync/qsbr.c) with two attached threads frees a shared list while every
// allocation fails: the list of delayed frees cannot grow, so the freeing thread stops the world
// and frees at once.  Nothing aborts, the items are freed, LeakSanitizer finds no leak.
static void fork_child_work()
{
    std::atomic<int> destroyed{0};
    tally_object *l = tally_list_new();
    FAULT_CHECK(l != nullptr);
    for (int i = 0; i < 100; i++) {
        CountedObject *c = counted_new(&destroyed);
        FAULT_CHECK(c != nullptr && tally_list_append(l, &c->ob_base) == 0);
        tally_decref(&c->ob_base);
    }
    std::atomic<int> phase{0};
    std::thread th([&] {
        FAULT_CHECK(tally_thread_attach() == 0);
        tally_object *x = tally_list_get(l, 0);   // another thread's read: the list is shared
        tally_xdecref(x);
        phase = 1;
        while (phase.load() != 2)
            tally_safepoint();   // parks for the freeing thread's stop of the world
        tally_thread_release();
    });
    TALLY_BEGIN_ALLOW_THREADS   // gil: the other thread needs the GIL to attach
    while (phase.load() != 1)
        std::this_thread::yield();
    TALLY_END_ALLOW_THREADS
    FaultArm arm(0, -1);
    tally_decref(l);
    tally_flush();
    bool fired = arm.disarm();
    phase = 2;
    TALLY_BEGIN_ALLOW_THREADS
    th.join();
    TALLY_END_ALLOW_THREADS
    tally_flush();
    FAULT_CHECK(destroyed.load() == 100);
    // gil and racy free at once (no QSBR, no list of delayed frees): nothing to fail there
    FAULT_CHECK(tally_test_backend_is("gil") || tally_test_backend_is("racy") || fired);
    FAULT_CHECK(__lsan_do_recoverable_leak_check() == 0);
}

TEST(Faults, AForkChildFreesSharedMemoryWithNoMemoryForItsDelayedFreeList)
{
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    EXPECT_EXIT(
        {
            pid_t pid = fork();
            if (pid == 0) {
                fork_child_work();
                std::_Exit(0);
            }
            int status = 0;
            waitpid(pid, &status, 0);
            std::_Exit(WIFEXITED(status) ? WEXITSTATUS(status) : 100 + WTERMSIG(status));
        },
        ::testing::ExitedWithCode(0), "");
}

#endif  // __SANITIZE_ADDRESS__
