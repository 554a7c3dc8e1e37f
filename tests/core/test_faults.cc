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
// collections are off here (the collector's own out-of-memory paths are not covered yet).
#include "tally_test.h"

#if defined(__SANITIZE_ADDRESS__)

#include <cstdio>
#include <cstring>
#include <map>
#include <sys/wait.h>
#include <utility>
#include <string>
#include <thread>
#include <vector>

extern "C" {
TALLY_API void tally_debug_fail_allocation(long n);
TALLY_API long tally_debug_failed_allocations(void);
}

namespace {

int g_callbacks = 0;
void count_callback(tally_object *, void *) { g_callbacks++; }

bool mentions_memory(const std::string &e) { return e.find("memory") != std::string::npos; }

}  // namespace

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

        int cb_before = g_callbacks;
        tally_xdecref(t);
        tally_xdecref(s);
        tally_xdecref(d);
        tally_xdecref(l);
        for (tally_object *o : objs)
            tally_decref(o);
        tally_flush();
        EXPECT_EQ(destroyed.load(), created) << "allocation " << n;
        if (wr) {
            EXPECT_EQ(g_callbacks, cb_before + 1) << "allocation " << n << ": weakref callback";
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

// deferred is not in this sweep yet: its reconciliation keeps dead and pending objects in
// vectors whose growth is still fatal when memory runs out (rc_deferred_internal.h's vec_push, 14 call
// sites; the first one the sweep reaches is gc_settle_log's).  That is the open part of issue 15's
// item 5, with the collector's side table.
#if !defined(TALLY_BACKEND_DEFERRED)
// Collections (young and middle, explicit here; an automatic one runs the same code inside
// tally_new) with each of their allocations failing in turn: the collection returns (a count, or
// -1 with an error), nothing it examined is lost or freed early, and the garbage it could not
// free is freed by the next collection.  The collector and the deallocation stack keep what
// they allocate for the next collection, so each allocation point is reached only in a fresh
// process: each step runs in a child process (a death test, which re-executes this binary).
#define FAULT_CHECK(cond)                                                                  \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            std::fprintf(stderr, "fault child (allocation %ld): check failed: %s (last error '%s')\n", \
                         n, #cond, tally_last_error());                                    \
            std::fflush(stderr);                                                           \
            std::_Exit(1);                                                                 \
        }                                                                                  \
    } while (0)

void collection_child(long n)
{
    tally_gc_disable();
    std::atomic<int> destroyed{0};
    int made = 0;
    auto pair = [&]() {
        CountedObject *a = counted_new(&destroyed), *b = counted_new(&destroyed);
        FAULT_CHECK(a && b);
        a->ref = tally_newref(&b->ob_base);
        b->ref = tally_newref(&a->ob_base);
        made += 2;
        return std::make_pair(a, b);
    };
    // Garbage cycles, a live cycle, a weakref with a callback on a garbage object, and a deep
    // chain that dies by refcount through the deallocation stack.
    for (int i = 0; i < 40; i++) {
        auto p = pair();
        tally_decref(&p.first->ob_base);
        tally_decref(&p.second->ob_base);
    }
    auto live = pair();
    auto w = pair();
    tally_object *wr = tally_weakref_new(&w.first->ob_base, count_callback, nullptr);
    FAULT_CHECK(wr != nullptr);
    tally_decref(&w.first->ob_base);
    tally_decref(&w.second->ob_base);
    CountedObject *head = counted_new(&destroyed);
    made++;
    CountedObject *cur = head;
    for (int i = 0; i < 3000; i++) {
        CountedObject *next = counted_new(&destroyed);
        FAULT_CHECK(next != nullptr);
        made++;
        cur->ref = &next->ob_base;   // the chain owns each next
        cur = next;
    }
    tally_flush();
    long before = tally_debug_failed_allocations();
    tally_debug_fail_allocation(n);
    intptr_t young = tally_gc_collect(0);
    std::string young_error = tally_last_error();
    tally_decref(&head->ob_base);
    tally_flush();
    intptr_t full = tally_gc_collect(1);   // not 2: see the note above the test
    std::string full_error = tally_last_error();
    tally_debug_fail_allocation(-1);
    bool fired = tally_debug_failed_allocations() > before;
    FAULT_CHECK(young >= 0 || young_error.find("memory") != std::string::npos);
    FAULT_CHECK(full >= 0 || full_error.find("memory") != std::string::npos);
    // The live pair survived; everything else is freed now, or by the next collection.
    FAULT_CHECK(tally_gc_collect(2) >= 0);
    tally_flush();
    FAULT_CHECK(destroyed.load() == made - 2);
    FAULT_CHECK(g_callbacks == 1);
    FAULT_CHECK(tally_weakref_get(wr) == nullptr);
    tally_decref(wr);
    FAULT_CHECK(tally_refcount(&live.first->ob_base) == 2);
    tally_decref(&live.first->ob_base);
    tally_decref(&live.second->ob_base);
    FAULT_CHECK(tally_gc_collect(2) >= 0);
    tally_flush();
    FAULT_CHECK(destroyed.load() == made);
    std::_Exit(fired ? 0 : 2);
}

TEST(Faults, EveryAllocationOfACollectionFailsCleanly)
{
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    long n = 0, injected = 0;
    for (; n < 500; n++) {
        int code = -1;   // stays -1 in the re-executed child for the steps it does not run
        EXPECT_EXIT(collection_child(n),
                    [&code](int status) {
                        code = WIFEXITED(status) ? WEXITSTATUS(status) : 100 + WTERMSIG(status);
                        return code == 0 || code == 2;
                    },
                    "")
            << "allocation " << n;
        if (code == 0)
            injected++;
        else if (code != -1)
            break;   // 2: the scenario made at most n allocations; else a failure (reported)
    }
    std::printf("collection fault sweep: %ld allocation points failed in turn (%s)\n", injected, tally_backend());
    // gil and atomic allocate once here (the deallocation stack); the others also for their
    // own structures (merge queues, logs).  A full collection is left out: its side table's
    // allocations are still fatal (the open part of issue 15's item 5).
    EXPECT_GE(injected, 1) << "the sweep reached no allocation point";
}
#endif  // !TALLY_BACKEND_DEFERRED

#endif  // __SANITIZE_ADDRESS__
