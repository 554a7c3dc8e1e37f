// tests/threads/test_deferred.cc - reference hand-overs between threads, and the `deferred`
// backend's buffered counts.
//
// Owns: backend-agnostic threaded checks that matter most for buffered counting (a reference
// handed to another thread stays valid after the giver drops its own; producers and consumers;
// a thread that exits with operations still unapplied; finalizers and weakref callbacks of
// objects dropped by other threads; exact counts after many threads' increments) and, under
// TALLY_BACKEND_DEFERRED, the backend's own behaviour (a full log starts a reconciliation only
// at the next safepoint; decrements are not applied inside incref/decref; a fork child applies
// the parent's other threads' unshipped logs), and deaths that release what they hold with a
// second thread attached (Cascade.*: a deep chain of lists, a child handed to another thread, a
// child with a weakref, a holder resurrected by its finalizer; the deferred backend applies such
// releases directly, runtime/rc_deferred_cascade.c "the cascade").
// Threads attach and release their thread state; the main thread detaches while it waits, so
// stop-the-world and QSBR grace periods (epochs) can make progress.
#include "tally_test.h"

#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <thread>
#include <vector>

namespace {

constexpr uint32_t kAlive = 0xA11CE5EDu;
constexpr uint32_t kGone = 0xDEADBEEFu;

// Records each death once per id; `magic` is poisoned on destroy (the memory stays valid until
// freed, so a reader that still holds a dangling pointer in this test sees kGone, not kAlive).
struct Node {
    TALLY_OBJECT_HEAD;
    uint32_t magic;
    int id;
    std::atomic<int> *deaths;
    std::atomic<int> *finalized;
};

void node_destroy(tally_object *self)
{
    auto *n = reinterpret_cast<Node *>(self);
    n->magic = kGone;
    n->deaths[n->id].fetch_add(1);
}

void node_finalize(tally_object *self)
{
    auto *n = reinterpret_cast<Node *>(self);
    if (n->finalized)
        n->finalized[n->id].fetch_add(1);
}

const tally_type node_type = {"DeferredNode", sizeof(Node), 0, nullptr, nullptr, nullptr, nullptr, node_destroy};
const tally_type node_fin_type = {"DeferredNodeFin", sizeof(Node), 0, nullptr, nullptr, node_finalize, nullptr,
                                  node_destroy};

struct Book {
    explicit Book(size_t n) : n(n), deaths(new std::atomic<int>[n]), finalized(new std::atomic<int>[n])
    {
        for (size_t i = 0; i < n; i++) {
            deaths[i] = 0;
            finalized[i] = 0;
        }
    }
    size_t n;
    std::unique_ptr<std::atomic<int>[]> deaths, finalized;
    Node *make(int id, const tally_type *t = &node_type)
    {
        auto *o = reinterpret_cast<Node *>(tally_new(t));
        if (!o)
            return nullptr;
        o->magic = kAlive;
        o->id = id;
        o->deaths = deaths.get();
        o->finalized = finalized.get();
        return o;
    }
    // ids in [0, upto) whose death count differs from `want`
    size_t wrong(int want, size_t upto) const
    {
        size_t bad = 0;
        for (size_t i = 0; i < upto; i++)
            bad += deaths[i].load() != want;
        return bad;
    }
    int total() const
    {
        int t = 0;
        for (size_t i = 0; i < n; i++)
            t += deaths[i].load();
        return t;
    }
};

bool alive(const Node *n) { return tally_atomic_load_relaxed(&n->magic) == kAlive; }

uint64_t live_objects()
{
    tally_alloc_stats s;
    tally_get_alloc_stats(&s);
    return s.live;
}

void yield_detached()
{
    TALLY_BEGIN_ALLOW_THREADS
    std::this_thread::yield();
    TALLY_END_ALLOW_THREADS
}

// Run fn(i) on n attached threads; the caller detaches while it waits.
template <class F>
void run_threads(int n, F fn)
{
    std::vector<std::thread> threads;
    std::atomic<int> failures{0};
    TALLY_BEGIN_ALLOW_THREADS
    for (int i = 0; i < n; i++) {
        threads.emplace_back([&, i] {
            if (tally_thread_attach() != 0) {
                failures++;
                return;
            }
            fn(i);
            tally_thread_release();
        });
    }
    for (auto &t : threads)
        t.join();
    TALLY_END_ALLOW_THREADS
    ASSERT_EQ(failures.load(), 0) << tally_last_error();
}

// A one-slot mailbox between two attached threads; the waiting side polls safepoints (and
// yields detached), so epochs and stop-the-world requests still make progress.
struct Slot {
    std::atomic<tally_object *> p{nullptr};
    void put(tally_object *o) { p.store(o, std::memory_order_release); }
    tally_object *take()
    {
        tally_object *o;
        while (!(o = p.exchange(nullptr, std::memory_order_acquire))) {
            tally_safepoint();
            yield_detached();
        }
        return o;
    }
};

} // namespace

// ---- backend-agnostic ------------------------------------------------------------------------

TEST(Handover, ReferenceHandedOverSurvivesTheGiversDecref)
{
    // A: incref, hand the new reference to B, drop its own reference (the last one it had);
    // B keeps using the object across many safepoints (epochs) and only then drops it.  With
    // buffered counts, A's decrement must not be applied before A's increment, whatever the
    // epoch boundaries between the two threads.
    constexpr int kObjects = 1000;
    Book book(kObjects);
    tally_flush();   // what earlier tests left pending is not ours to count
    uint64_t base = live_objects();
    std::vector<Node *> made;
    for (int i = 0; i < kObjects; i++)
        made.push_back(book.make(i));
    std::atomic<long> bad_seen{0}, low_count{0};
    Slot slot, ack;
    run_threads(2, [&](int t) {
        if (t == 0) {
            for (Node *n : made) {
                tally_object *o = &n->ob_base;
                bool poll = (n->id & 7) == 0;   // read while A still holds its reference
                tally_incref(o);   // the reference B gets
                slot.put(o);
                tally_decref(o);   // A's own (the creation reference): may be the last A knew of
                if (poll)
                    tally_safepoint();
                (void)ack.take();
            }
        } else {
            for (int i = 0; i < kObjects; i++) {
                tally_object *o = slot.take();
                auto *n = reinterpret_cast<Node *>(o);
                for (int k = 0; k < 4; k++) {   // a few epochs may pass here
                    tally_safepoint();
                    if (!alive(n))
                        bad_seen++;
                }
                if (tally_refcount(o) < 1)
                    low_count++;
                ack.put(o);
                tally_decref(o);
            }
        }
    });
    tally_flush();
    EXPECT_EQ(bad_seen.load(), 0) << "an object was destroyed while another thread held a reference";
    EXPECT_EQ(low_count.load(), 0) << "tally_refcount below 1 while the caller holds a reference";
    EXPECT_EQ(book.wrong(1, kObjects), 0u) << "every object dies exactly once";
    EXPECT_EQ(live_objects(), base);
}

TEST(Handover, ProducersAndConsumersThroughAList)
{
    constexpr int kProducers = 2, kConsumers = 2, kEach = 20000;
    Book book(kProducers * kEach);
    tally_flush();   // what earlier tests left pending is not ours to count
    uint64_t base = live_objects();
    tally_object *queue = tally_list_new();
    ASSERT_NE(queue, nullptr);
    std::atomic<int> produced_done{0}, consumed{0};
    std::atomic<long> bad{0};
    run_threads(kProducers + kConsumers, [&](int t) {
        if (t < kProducers) {
            for (int i = 0; i < kEach; i++) {
                Node *n = book.make(t * kEach + i);
                ASSERT_NE(n, nullptr);
                ASSERT_EQ(tally_list_append(queue, &n->ob_base), 0);
                tally_decref(&n->ob_base);   // the list holds the only reference now
                if (i % 128 == 0)
                    tally_safepoint();
            }
            produced_done++;
        } else {
            for (long spins = 0;; spins++) {
                tally_object *o = tally_list_pop(queue);
                if (o) {
                    if (!alive(reinterpret_cast<Node *>(o)))
                        bad++;
                    tally_decref(o);
                    consumed++;
                } else if (produced_done.load() == kProducers && tally_list_len(queue) == 0) {
                    break;
                } else {
                    yield_detached();
                }
                if (spins % 64 == 0)
                    tally_safepoint();
            }
        }
    });
    EXPECT_EQ(consumed.load(), kProducers * kEach);
    EXPECT_EQ(bad.load(), 0);
    tally_decref(queue);
    tally_flush();
    EXPECT_EQ(book.wrong(1, size_t(kProducers) * kEach), 0u) << "every item dies exactly once";
    EXPECT_EQ(live_objects(), base);
}

TEST(Handover, ThreadExitWithUnappliedOperationsReclaimsEverythingOnce)
{
    // Each worker builds a private web of references and drops everything without a single
    // safepoint or flush, then exits: its log (full ones shipped, the last one unshipped until
    // release) must be applied exactly once.
    constexpr int kThreads = 3, kEach = 5000;
    Book book(kThreads * kEach);
    tally_flush();   // what earlier tests left pending is not ours to count
    uint64_t base = live_objects();
    run_threads(kThreads, [&](int t) {
        std::vector<tally_object *> mine;
        for (int i = 0; i < kEach; i++) {
            Node *n = book.make(t * kEach + i);
            ASSERT_NE(n, nullptr);
            mine.push_back(&n->ob_base);
        }
        // Extra references taken and dropped in another order (no adjacent pair cancels).
        for (tally_object *o : mine)
            tally_incref(o);
        for (size_t i = mine.size(); i-- > 0;)
            tally_decref(mine[i]);
        for (tally_object *o : mine)
            tally_decref(o);
    });
    tally_flush();
    EXPECT_EQ(book.wrong(1, size_t(kThreads) * kEach), 0u);
    EXPECT_EQ(live_objects(), base);
}

namespace {
std::atomic<int> g_callbacks{0};
void count_callback(tally_object *, void *arg)
{
    static_cast<std::atomic<int> *>(arg)->fetch_add(1);
    g_callbacks++;
}
} // namespace

TEST(Handover, FinalizersAndWeakrefCallbacksOfObjectsDroppedByOtherThreads)
{
    constexpr int kThreads = 2, kEach = 2000;
    Book book(kThreads * kEach);
    std::atomic<int> callbacks{0};
    std::vector<tally_object *> weak(size_t(kThreads) * kEach, nullptr);
    std::vector<Node *> nodes;
    for (int i = 0; i < kThreads * kEach; i++) {
        Node *n = book.make(i, &node_fin_type);
        ASSERT_NE(n, nullptr);
        weak[size_t(i)] = tally_weakref_new(&n->ob_base, count_callback, &callbacks);
        ASSERT_NE(weak[size_t(i)], nullptr);
        nodes.push_back(n);
    }
    // The objects move to the workers, which drop them (and read through the weakrefs first).
    std::atomic<long> lost{0};
    run_threads(kThreads, [&](int t) {
        for (int i = t * kEach; i < (t + 1) * kEach; i++) {
            tally_object *got = tally_weakref_get(weak[size_t(i)]);
            if (got != &nodes[size_t(i)]->ob_base)
                lost++;
            tally_xdecref(got);
            tally_decref(&nodes[size_t(i)]->ob_base);
            if (i % 256 == 0)
                tally_safepoint();
        }
    });
    tally_flush();
    EXPECT_EQ(lost.load(), 0) << "weakref_get of a live object returned something else";
    EXPECT_EQ(book.wrong(1, size_t(kThreads) * kEach), 0u);
    int finalized = 0;
    for (int i = 0; i < kThreads * kEach; i++)
        finalized += book.finalized[i].load();
    EXPECT_EQ(finalized, kThreads * kEach) << "each finalizer runs once";
    EXPECT_EQ(callbacks.load(), kThreads * kEach) << "each weakref callback runs once";
    for (tally_object *w : weak) {
        EXPECT_EQ(tally_weakref_get(w), nullptr);
        tally_decref(w);
    }
    tally_flush();
}

TEST(Handover, CountsAreExactAfterFlush)
{
    // Many threads take and drop references to shared objects, each keeping a known number.
    constexpr int kThreads = 4, kObjects = 64, kRounds = 20000;
    Book book(kObjects);
    std::vector<Node *> objs;
    for (int i = 0; i < kObjects; i++)
        objs.push_back(book.make(i));
    std::vector<int> kept(size_t(kThreads) * kObjects, 0);
    run_threads(kThreads, [&](int t) {
        uint32_t x = 12345u + uint32_t(t);
        for (int r = 0; r < kRounds; r++) {
            x = x * 1103515245u + 12345u;
            int i = int((x >> 8) % kObjects);
            tally_object *o = &objs[size_t(i)]->ob_base;
            tally_incref(o);
            if ((x >> 20) & 3) {
                tally_decref(o);
            } else {
                kept[size_t(t) * kObjects + size_t(i)]++;
            }
            if (r % 512 == 0)
                tally_safepoint();
        }
    });
    tally_flush();
    for (int i = 0; i < kObjects; i++) {
        int want = 1;
        for (int t = 0; t < kThreads; t++)
            want += kept[size_t(t) * kObjects + size_t(i)];
        EXPECT_EQ(tally_refcount(&objs[size_t(i)]->ob_base), want) << "object " << i;
        EXPECT_EQ(book.deaths[i].load(), 0);
    }
    // Drop everything the threads kept, then the creation references.
    for (int i = 0; i < kObjects; i++) {
        for (int t = 0; t < kThreads; t++)
            for (int k = 0; k < kept[size_t(t) * kObjects + size_t(i)]; k++)
                tally_decref(&objs[size_t(i)]->ob_base);
        tally_decref(&objs[size_t(i)]->ob_base);
    }
    tally_flush();
    EXPECT_EQ(book.wrong(1, kObjects), 0u);
}

TEST(Handover, WeakrefReadersRaceTheLastDecref)
{
    // Readers take references through weakrefs while the owner drops the last strong one: a
    // reader gets a live object or NULL, never a dying one, and every object dies once.
    constexpr int kObjects = 2000, kReaders = 2;
    Book book(kObjects);
    std::vector<Node *> objs;
    std::vector<tally_object *> weak;
    for (int i = 0; i < kObjects; i++) {
        objs.push_back(book.make(i));
        weak.push_back(tally_weakref_new(&objs.back()->ob_base, nullptr, nullptr));
        ASSERT_NE(weak.back(), nullptr);
    }
    std::atomic<int> dropped{0};
    std::atomic<long> dead_seen{0}, got{0};
    run_threads(1 + kReaders, [&](int t) {
        if (t == 0) {
            for (int i = 0; i < kObjects; i++) {
                // Every 256 objects, wait until a reader has taken a reference since the last
                // wait, so the race is exercised however the scheduler orders the threads.
                if (i % 256 == 0) {
                    long before = got.load();
                    while (got.load() == before) {
                        tally_safepoint();
                        std::this_thread::yield();
                    }
                }
                tally_decref(&objs[size_t(i)]->ob_base);
                dropped.store(i + 1);
                if (i % 16 == 0)
                    tally_safepoint();
            }
        } else {
            for (long n = 0; dropped.load() < kObjects || n < 20000; n++) {
                int lim = std::min(dropped.load() + 8, kObjects);
                int i = int((n * 7919 + t * 31) % lim);
                tally_object *o = tally_weakref_get(weak[size_t(i)]);
                if (o) {
                    got++;
                    for (int k = 0; k < 2; k++) {
                        tally_safepoint();
                        if (!alive(reinterpret_cast<Node *>(o)))
                            dead_seen++;
                    }
                    tally_decref(o);
                }
                if (n % 32 == 0)
                    tally_safepoint();
            }
        }
    });
    tally_flush();
    EXPECT_GT(got.load(), 0);
    EXPECT_EQ(dead_seen.load(), 0);
    EXPECT_EQ(book.wrong(1, kObjects), 0u);
    for (tally_object *w : weak) {
        EXPECT_EQ(tally_weakref_get(w), nullptr);
        tally_decref(w);
    }
    tally_flush();
}

// ---- the deferred backend itself ---------------------------------------------------------------
#if defined(TALLY_BACKEND_DEFERRED)

TEST(Deferred, DecrementsAreAppliedOnlyAtReconciliation)
{
    // Alone in the runtime: nothing is applied inside incref/decref, nothing at a safepoint
    // while the log has room; a full log is shipped and the next safepoint reconciles it.
    tally_flush();
    tally_options opt;
    tally_get_options(&opt);
    ASSERT_GE(opt.rclog_size, 16u);
    constexpr int kObjects = 100;
    Book book(kObjects);
    std::vector<Node *> objs;
    for (int i = 0; i < kObjects; i++)
        objs.push_back(book.make(i));
    for (Node *n : objs)
        tally_decref(&n->ob_base);
    EXPECT_EQ(book.total(), 0) << "a decrement was applied inside tally_decref";
    EXPECT_EQ(tally_refcount(&objs[0]->ob_base), 0) << "the caller's own pending decrement counts";
    tally_safepoint();
    EXPECT_EQ(book.total(), 0) << "a safepoint reconciled a log that was not full";

    // Overflow the log with pairs that do not cancel (two objects, interleaved).
    tally_object *a = tally_list_new(), *b = tally_list_new();
    size_t pairs = opt.rclog_size;   // 2 entries each: twice the log
    for (size_t i = 0; i < pairs; i++) {
        tally_incref(a);
        tally_incref(b);
        tally_decref(a);
        tally_decref(b);
    }
    EXPECT_EQ(book.total(), 0) << "the full log must not be reconciled inside incref/decref";
    EXPECT_EQ(tally_refcount(a), 1);
    for (int i = 0; i < 100 && book.total() < kObjects; i++)
        tally_safepoint();
    EXPECT_EQ(book.total(), kObjects) << "a full log must be reconciled at the next safepoint";
    EXPECT_EQ(book.wrong(1, kObjects), 0u);
    tally_decref(a);
    tally_decref(b);
    tally_flush();
}

TEST(Deferred, ImmortalObjectsAreNeverLogged)
{
    tally_flush();
    tally_options opt;
    tally_get_options(&opt);
    Book book(1);
    Node *victim = book.make(0);
    tally_decref(&victim->ob_base);   // pending in this thread's log
    tally_object *none = tally_none();
    // Far more than a log: if these were logged, the log would fill and the next safepoint
    // would reconcile (and free the victim).
    for (size_t i = 0; i < 3 * size_t(opt.rclog_size); i++) {
        tally_incref(none);
        tally_incref(none);
        tally_decref(none);
        tally_decref(none);
    }
    tally_safepoint();
    EXPECT_EQ(book.total(), 0) << "operations on an immortal object reached the log";
    EXPECT_TRUE(tally_is_immortal(none));
    tally_flush();
    EXPECT_EQ(book.total(), 1);
}

TEST(Deferred, AnotherThreadsDecrementIsNotAppliedBeforeItsEpochEnds)
{
    // B drops the last reference; until B ships its log (safepoint, full log, detach, exit),
    // the object lives, whatever A does: A flushing only waits for B's next safepoint.
    Book book(1);
    Node *n = book.make(0);
    tally_object *o = &n->ob_base;
    std::atomic<int> stage{0};
    std::atomic<int> deaths_before_b_shipped{-1};
    run_threads(2, [&](int t) {
        if (t == 1) {          // B
            while (stage.load() < 1)
                yield_detached();
            tally_decref(o);   // logged, B does not reach a safepoint yet
            stage = 2;
            while (stage.load() < 3)
                std::this_thread::yield();   // attached, no safepoint: B's log stays private
            tally_safepoint();               // B's cut: now the decrement can be applied
        } else {               // A
            stage = 1;
            while (stage.load() < 2)
                yield_detached();
            for (int i = 0; i < 50; i++)     // A reconciles what it can (not B's log)
                tally_safepoint();
            deaths_before_b_shipped = book.total();
            stage = 3;
        }
    });
    tally_flush();
    EXPECT_EQ(deaths_before_b_shipped.load(), 0);
    EXPECT_EQ(book.total(), 1);
}

// A GC node with two slots, counted per id like Node (for the collector's clear loop).
struct CycleNode {
    TALLY_OBJECT_HEAD;
    tally_object *a, *b;
    int id;
    std::atomic<int> *deaths;
};
int cycle_traverse(tally_object *self, tally_visitproc visit, void *arg)
{
    auto *n = reinterpret_cast<CycleNode *>(self);
    if (n->a)
        visit(n->a, arg);
    if (n->b)
        visit(n->b, arg);
    return 0;
}
int cycle_clear(tally_object *self)
{
    auto *n = reinterpret_cast<CycleNode *>(self);
    tally_object *a = n->a, *b = n->b;
    n->a = n->b = nullptr;
    tally_xdecref(a);
    tally_xdecref(b);
    return 0;
}
void cycle_destroy(tally_object *self)
{
    auto *n = reinterpret_cast<CycleNode *>(self);
    n->deaths[n->id].fetch_add(1);
    cycle_clear(self);
}
const tally_type cycle_node_type = {"DeferredCycleNode", sizeof(CycleNode), TALLY_TYPE_GC, cycle_traverse,
                                    cycle_clear, nullptr, nullptr, cycle_destroy};

TEST(Deferred, CollectionFreesItsGarbageItselfExactlyOnce)
{
    // The collector's clear loop applies its own operations on the unreachable set at once
    // (runtime/rc_deferred_gc.c, gc_settle_log): the garbage is freed inside tally_gc_collect, not
    // at a later reconciliation, and exactly once, also when the log fills in the middle of the
    // loop (several logs' worth of cycles, of three shapes, with a live object they point to).
    tally_flush();
    bool was_enabled = tally_gc_is_enabled();
    tally_gc_disable();
    tally_gc_collect(2);
    tally_flush();
    tally_options opt;
    tally_get_options(&opt);
    const size_t cycles = 3 * size_t(opt.rclog_size);
    std::vector<std::atomic<int>> deaths(4 * cycles + 1);
    int next_id = 0;
    auto make = [&] {
        auto *n = reinterpret_cast<CycleNode *>(tally_new(&cycle_node_type));
        n->a = n->b = nullptr;
        n->id = next_id++;
        n->deaths = deaths.data();
        return n;
    };
    CycleNode *anchor = make();   // live: held here, pointed to by every 7th cycle
    const int anchor_id = anchor->id;
    size_t garbage = 0, anchor_refs = 1;
    for (size_t i = 0; i < cycles; i++) {
        CycleNode *x = make(), *y = make();
        switch (i % 3) {
        case 0:   // x <-> y
            x->a = &y->ob_base;
            y->a = &x->ob_base;
            tally_incref(&x->ob_base);
            break;
        case 1: { // x -> y -> z -> x
            CycleNode *z = make();
            x->a = &y->ob_base;
            y->a = &z->ob_base;
            z->a = &x->ob_base;
            tally_incref(&x->ob_base);
            garbage++;
            break;
        }
        default:  // x -> x, and a tail y that only x holds
            x->a = &x->ob_base;
            tally_incref(&x->ob_base);
            x->b = &y->ob_base;
            break;
        }
        if (i % 7 == 0) {
            y->b = &anchor->ob_base;
            tally_incref(&anchor->ob_base);
            anchor_refs++;
        }
        garbage += 2;
        tally_decref(&x->ob_base);
    }
    tally_flush();
    ASSERT_EQ(tally_refcount(&anchor->ob_base), (intptr_t)anchor_refs);
    intptr_t n = tally_gc_collect(2);
    // No flush: what the collection reclaimed is gone now.
    size_t dead_once = 0, dead_more = 0;
    for (int id = 0; id < next_id; id++) {
        if (id == anchor_id)
            continue;
        dead_once += deaths[id].load() == 1;
        dead_more += deaths[id].load() > 1;
    }
    EXPECT_EQ(n, (intptr_t)garbage);
    EXPECT_EQ(dead_once, garbage) << "garbage left for a later reconciliation";
    EXPECT_EQ(dead_more, 0u);
    EXPECT_EQ(deaths[anchor_id].load(), 0);
    tally_flush();
    EXPECT_EQ(tally_refcount(&anchor->ob_base), 1) << "the cycles' references to the live anchor";
    tally_decref(&anchor->ob_base);
    tally_flush();
    EXPECT_EQ(deaths[anchor_id].load(), 1);
    for (int id = 0; id < next_id; id++)
        EXPECT_LE(deaths[id].load(), 1) << "id " << id;
    if (was_enabled)
        tally_gc_enable();
}

// Not in TSan builds: ThreadSanitizer's fork interceptor plus the runtime's fork handlers (a
// stop-the-world) exceed its deadlock detector's 64-held-locks limit, and it aborts.
#if !defined(TALLY_TSAN)
TEST(Deferred, ForkChildAppliesTheLogsOfThreadsThatDidNotSurvive)
{
    // A worker drops objects (logged, unshipped: nothing else happens, so no epoch starts and
    // its safepoints have nothing to cut) and stays attached while the main thread forks (the
    // fork parks it at a safepoint).  In the child the worker does not exist, but its log is
    // valid memory: flush applies it and the objects die there, exactly once.
    constexpr int kObjects = 200;
    tally_flush();
    Book book(kObjects);
    std::vector<Node *> objs;
    for (int i = 0; i < kObjects; i++)
        objs.push_back(book.make(i));
    std::atomic<int> stage{0};
    std::thread worker([&] {
        ASSERT_EQ(tally_thread_attach(), 0);
        for (Node *n : objs)
            tally_decref(&n->ob_base);
        stage = 1;
        while (stage.load() < 2) {
            tally_safepoint();
            std::this_thread::yield();
        }
        tally_thread_release();
    });
    while (stage.load() < 1)
        yield_detached();
    int before = book.total();
    std::fflush(nullptr);
    pid_t pid = fork();
    if (pid == 0) {
        tally_flush();
        int deaths = book.total();
        size_t wrong = book.wrong(1, kObjects);
        _exit(deaths == kObjects && wrong == 0 ? 0 : 10 + (deaths > 99 ? 99 : deaths) % 100);
    }
    ASSERT_GT(pid, 0);
    int status = 0;
    TALLY_BEGIN_ALLOW_THREADS
    waitpid(pid, &status, 0);
    TALLY_END_ALLOW_THREADS
    stage = 2;
    TALLY_BEGIN_ALLOW_THREADS
    worker.join();
    TALLY_END_ALLOW_THREADS
    EXPECT_EQ(before, 0) << "the worker's decrements were applied before it shipped its log";
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0) << "child: deaths/exit code mismatch";
    tally_flush();
    EXPECT_EQ(book.wrong(1, kObjects), 0u) << "parent: every object dies once";
}
#endif // !TALLY_TSAN

#endif // TALLY_BACKEND_DEFERRED

// ---- deaths that release what they hold (deferred: the cascade, rc_deferred_cascade.c) -----
// Backend-agnostic behaviour that the deferred backend's cascade must keep: a confirmed death
// applies the decrements its destroy makes of its references directly, so each check below has
// a second thread attached (no solo mode) and asserts what must survive and what must die.
namespace {

// A GC object with one slot and a finalizer that can resurrect it (PEP 442: runs once).
struct Holder {
    TALLY_OBJECT_HEAD;
    tally_object *slot;
    int id;
    std::atomic<int> *deaths;
};
std::atomic<tally_object *> g_resurrected{nullptr};
std::atomic<bool> g_resurrect{false};
int holder_traverse(tally_object *self, tally_visitproc visit, void *arg)
{
    auto *h = reinterpret_cast<Holder *>(self);
    return h->slot ? visit(h->slot, arg) : 0;
}
int holder_clear(tally_object *self)
{
    auto *h = reinterpret_cast<Holder *>(self);
    tally_object *s = h->slot;
    h->slot = nullptr;
    tally_xdecref(s);
    return 0;
}
void holder_finalize(tally_object *self)
{
    if (g_resurrect.exchange(false)) {
        tally_incref(self);
        g_resurrected.store(self);
    }
}
void holder_destroy(tally_object *self)
{
    auto *h = reinterpret_cast<Holder *>(self);
    h->deaths[h->id].fetch_add(1);
    holder_clear(self);
}
const tally_type holder_type = {"CascadeHolder", sizeof(Holder), TALLY_TYPE_GC, holder_traverse, holder_clear,
                                holder_finalize, nullptr, holder_destroy};

// A second attached thread idling in tally_safepoint() while fn() runs on this one.
template <class F>
void with_idle_second_thread(F fn)
{
    std::atomic<int> state{0};
    std::thread idler([&] {
        if (tally_thread_attach() != 0) {
            state = -1;
            return;
        }
        state = 1;
        while (state.load() == 1)
            tally_safepoint();
        tally_thread_release();
    });
    while (state.load() == 0)
        yield_detached();
    ASSERT_EQ(state.load(), 1) << tally_last_error();
    fn();
    state = 2;
    TALLY_BEGIN_ALLOW_THREADS
    idler.join();
    TALLY_END_ALLOW_THREADS
}

} // namespace

TEST(Cascade, DeepChainOfListsDiesOnceWithASecondThreadAttached)
{
    // 100,000 lists, each holding a counted node and the next list: one decref and a flush
    // free every level exactly once (deferred: in one cascade, not one epoch per level).
    constexpr int kLevels = 100000;
    Book book(kLevels);
    (void)tally_gc_garbage();   // created at the first collection (the build triggers some)
    tally_flush();
    uint64_t live0 = live_objects();
    tally_object *next = nullptr;
    for (int i = kLevels - 1; i >= 0; i--) {
        tally_object *l = tally_list_new();
        ASSERT_NE(l, nullptr);
        Node *n = book.make(i);
        ASSERT_EQ(tally_list_append(l, &n->ob_base), 0);
        tally_decref(&n->ob_base);
        if (next) {
            ASSERT_EQ(tally_list_append(l, next), 0);
            tally_decref(next);
        }
        next = l;
    }
    with_idle_second_thread([&] {
        tally_decref(next);
        tally_flush();
        EXPECT_EQ(book.wrong(1, kLevels), 0u) << "every level dies exactly once by the flush";
    });
    tally_flush();
    EXPECT_EQ(live_objects(), live0);
}

TEST(Cascade, ReferenceHandedToAnotherThreadKeepsTheChildAlive)
{
    // The dying list's child also has a reference that this thread took and handed to another
    // thread (its increment still in this thread's log when the list dies): the list's release
    // of the child must not free it.
    Book book(1);
    Node *n = book.make(0);
    tally_object *list = tally_list_new();
    ASSERT_EQ(tally_list_append(list, &n->ob_base), 0);
    Slot slot, back;
    std::atomic<int> seen_alive{-1};
    run_threads(2, [&](int t) {
        if (t == 0) {
            tally_incref(&n->ob_base);   // the reference handed over
            slot.put(&n->ob_base);
            tally_decref(&n->ob_base);   // ours
            tally_decref(list);          // the list dies and releases its reference
            tally_flush();
            back.put(tally_none());
        } else {
            tally_object *o = slot.take();
            (void)back.take();           // the giver's list is gone by now
            seen_alive = alive(reinterpret_cast<Node *>(o)) && book.total() == 0;
            tally_decref(o);
            tally_flush();
        }
    });
    tally_flush();
    EXPECT_EQ(seen_alive.load(), 1) << "the child died while another thread held a reference";
    EXPECT_EQ(book.wrong(1, 1), 0u);
}

TEST(Cascade, ChildWithAWeakrefDiesOnceAndItsWeakrefClears)
{
    // A child with a weak reference may be reached without a reference (a weakref get): its
    // zero waits for the next epoch (deferred: the ZCT), then it dies once and the weakref
    // reads NULL.
    Book book(1);
    Node *n = book.make(0);
    tally_object *wr = tally_weakref_new(&n->ob_base, nullptr, nullptr);
    ASSERT_NE(wr, nullptr);
    tally_object *list = tally_list_new();
    ASSERT_EQ(tally_list_append(list, &n->ob_base), 0);
    tally_decref(&n->ob_base);
    with_idle_second_thread([&] {
        tally_object *got = tally_weakref_get(wr);
        ASSERT_EQ(got, &n->ob_base);
        tally_decref(got);
        tally_decref(list);
        tally_flush();
        EXPECT_EQ(book.total(), 1);
        EXPECT_EQ(tally_weakref_get(wr), nullptr);
    });
    tally_decref(wr);
    tally_flush();
    EXPECT_EQ(book.wrong(1, 1), 0u);
}

TEST(Cascade, ResurrectedHolderKeepsWhatItHolds)
{
    // A holder whose finalizer resurrects it is not dead: its child must stay alive (deferred:
    // nothing is released directly while a finalizer runs).  At its second death (the finalizer
    // has run) both die once.
    Book book(2);
    tally_flush();
    uint64_t live0 = live_objects();
    auto *h = reinterpret_cast<Holder *>(tally_new(&holder_type));
    ASSERT_NE(h, nullptr);
    h->id = 0;
    h->deaths = book.deaths.get();
    h->slot = &book.make(1)->ob_base;
    tally_gc_track(&h->ob_base);
    with_idle_second_thread([&] {
        g_resurrect = true;
        tally_decref(&h->ob_base);
        tally_flush();
        EXPECT_EQ(g_resurrected.load(), &h->ob_base) << "the finalizer ran";
        EXPECT_EQ(book.total(), 0) << "a resurrected holder or its child died";
        tally_object *again = g_resurrected.exchange(nullptr);
        tally_decref(again);
        tally_flush();
        EXPECT_EQ(book.wrong(1, 2), 0u);
    });
    tally_flush();
    EXPECT_EQ(live_objects(), live0);
}
