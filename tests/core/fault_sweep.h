// tests/core/fault_sweep.h - what the allocation-failure sweeps of tests/core share.
//
// Owns: the fault hook's declarations (runtime/fault_inject.c, AddressSanitizer builds), the
// check that ends a sweep's child process with a message (FAULT_CHECK), the graph a collection
// sweep works on (FaultGraph: garbage cycles, a live cycle, a weakref with a callback on a
// garbage cycle, a chain held by its head) with its final check that nothing was lost, and the
// loop that runs one child process per allocation point (run_fault_sweep).  The collector, the
// deallocation stack and the backends keep what they allocate for later, so an allocation point
// is reached only in a fresh process: each step runs in a child (a death test, which re-executes
// the binary).  Used by test_faults.cc (scenario, collections, automatic collections, tally_init)
// and test_faults_full.cc (the full collection's side table).
#pragma once

#include "tally_test.h"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <sys/wait.h>
#include <utility>

extern "C" {
TALLY_API void tally_debug_fail_allocation(long n);
TALLY_API void tally_debug_fail_allocations(long n, long count);   // count < 0: all, until disarmed
TALLY_API long tally_debug_failed_allocations(void);
int __lsan_do_recoverable_leak_check(void);   // LeakSanitizer (part of ASan): 0 when no leak
}

namespace fault_sweep {
inline long step = 0;        // the allocation the current child makes fail (for messages)
inline int callbacks = 0;    // weakref callbacks run (count_callback)
inline void count_callback(tally_object *, void *) { callbacks++; }
inline bool mentions_memory(const std::string &e) { return e.find("memory") != std::string::npos; }
}  // namespace fault_sweep

// In a sweep's child: a failed check ends the process with status 1 and a message.
#define FAULT_CHECK(cond)                                                                          \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            std::fprintf(stderr, "fault child (allocation %ld): check failed: %s (last error '%s')\n", \
                         fault_sweep::step, #cond, tally_last_error());                           \
            std::fflush(stderr);                                                                   \
            std::_Exit(1);                                                                         \
        }                                                                                          \
    } while (0)

// Objects for a collection to examine: `cycles` garbage 2-cycles, a live 2-cycle, a garbage
// 2-cycle whose first member a weakref with a callback watches, and a chain of `chain` objects
// after `head` (each owns the next).  finish() checks that nothing was lost.
struct FaultGraph {
    std::atomic<int> destroyed{0};
    int made = 0;
    int chain = 0;
    std::pair<CountedObject *, CountedObject *> live{};
    tally_object *wr = nullptr;
    CountedObject *head = nullptr;   // NULL once the test dropped the chain

    std::pair<CountedObject *, CountedObject *> pair()
    {
        CountedObject *a = counted_new(&destroyed), *b = counted_new(&destroyed);
        FAULT_CHECK(a && b);
        a->ref = tally_newref(&b->ob_base);
        b->ref = tally_newref(&a->ob_base);
        made += 2;
        return std::make_pair(a, b);
    }

    void build(int cycles, int chain_len)
    {
        for (int i = 0; i < cycles; i++) {
            auto p = pair();
            tally_decref(&p.first->ob_base);
            tally_decref(&p.second->ob_base);
        }
        live = pair();
        auto w = pair();
        wr = tally_weakref_new(&w.first->ob_base, fault_sweep::count_callback, nullptr);
        FAULT_CHECK(wr != nullptr);
        tally_decref(&w.first->ob_base);
        tally_decref(&w.second->ob_base);
        head = counted_new(&destroyed);
        FAULT_CHECK(head != nullptr);
        made++;
        chain = 1;
        CountedObject *cur = head;
        for (int i = 0; i < chain_len; i++) {
            CountedObject *next = counted_new(&destroyed);
            FAULT_CHECK(next != nullptr);
            made++;
            chain++;
            cur->ref = &next->ob_base;   // the chain owns each next
            cur = next;
        }
        tally_flush();
    }

    void drop_chain()
    {
        tally_decref(&head->ob_base);
        head = nullptr;
    }

    // After the faulty step: the next full collection frees every garbage object the step could
    // not (the live pair and a chain still held survive, untouched), the callback ran once, and
    // dropping what is left frees everything.
    void finish()
    {
        FAULT_CHECK(tally_gc_collect(2) >= 0);
        tally_flush();
        int alive = 2 + (head ? chain : 0);
        FAULT_CHECK(destroyed.load() == made - alive);
        FAULT_CHECK(fault_sweep::callbacks == 1);
        FAULT_CHECK(tally_weakref_get(wr) == nullptr);
        tally_decref(wr);
        FAULT_CHECK(tally_refcount(&live.first->ob_base) == 2);
        if (head)
            drop_chain();
        tally_decref(&live.first->ob_base);
        tally_decref(&live.second->ob_base);
        FAULT_CHECK(tally_gc_collect(2) >= 0);
        tally_flush();
        FAULT_CHECK(destroyed.load() == made);
    }
};

// End a child: LeakSanitizer finds no leak (_Exit skips its check at exit), then status 0 when
// the fault fired, 2 when the scenario made too few allocations for it.
[[noreturn]] inline void fault_exit(bool fired)
{
    FAULT_CHECK(__lsan_do_recoverable_leak_check() == 0);
    std::_Exit(fired ? 0 : 2);
}

// Run child(n) in a fresh process for n = 0, 1, ... (at most `limit`).  The child exits 0 when
// its n-th allocation failed and every check held, 2 when it made at most n allocations (the
// sweep is complete), anything else on a failure (reported).  Returns the points that failed.
inline long run_fault_sweep(void (*child)(long), long limit)
{
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    long injected = 0;
    for (long n = 0; n < limit; n++) {
        int code = -1;   // stays -1 in the re-executed child for the steps it does not run
        EXPECT_EXIT(
            {
                fault_sweep::step = n;
                child(n);
            },
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
    return injected;
}

// A sweep as a test: run it, print how many points it reached, and expect at least `at_least`.
inline void expect_fault_sweep(void (*child)(long), long limit, const char *what, long at_least)
{
    long injected = run_fault_sweep(child, limit);
    std::printf("%s fault sweep: %ld allocation points failed in turn (%s)\n", what, injected, tally_backend());
    EXPECT_GE(injected, at_least) << what << ": the sweep reached too few allocation points";
}

// Arm the hook for allocation n (and the count-1 after it; count < 0: every one until disarmed);
// disarm and tell whether it fired.
struct FaultArm {
    long before;
    explicit FaultArm(long n, long count = 1) : before(tally_debug_failed_allocations())
    {
        tally_debug_fail_allocations(n, count);
    }
    bool disarm()
    {
        tally_debug_fail_allocation(-1);
        return tally_debug_failed_allocations() > before;
    }
};
