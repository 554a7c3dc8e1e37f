// tests/threads/test_containers_mt.cc - built-in containers and weakrefs under threads.
//
// Owns: the thread-safety contract of lists, dicts and weakrefs in every backend but `racy`:
// concurrent appends keep every item; producers and consumers hand over every item exactly
// once; lock-free readers racing writers that replace items, grow and shrink the storage never
// see a dead object and never miss an item that stays present throughout; weakref gets racing
// the referents' deaths return a live object or NULL; and at the end every object was
// destroyed exactly once (per-object death counters, a poisoned magic word on destroy).
// Each worker thread attaches and releases its thread state; the main thread detaches while it
// waits, so the GIL, stop-the-world and QSBR grace periods can make progress.
#include "tally_test.h"

#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace {

constexpr uint32_t kLive = 0x11FE11FEu;
constexpr uint32_t kDead = 0xDEADDEADu;
constexpr long kMinReads = 2000;   // per reader, even if the writers finish first

// A GC object that records its own death, once per id; a reader that finds kDead (or anything
// else) in `magic` read a destroyed object.
struct Tracked {
    TALLY_OBJECT_HEAD;
    uint32_t magic;
    int id;
    std::atomic<int> *deaths;   // array indexed by id
};

void tracked_destroy(tally_object *self)
{
    auto *t = reinterpret_cast<Tracked *>(self);
    t->magic = kDead;
    t->deaths[t->id].fetch_add(1);
}

const tally_type tracked_type = {"Tracked", sizeof(Tracked), TALLY_TYPE_GC, nullptr, nullptr, nullptr, nullptr,
                                 tracked_destroy};

// The same with a PEP 442 finalizer, which deallocation runs with the object temporarily alive
// again: a lock-free reader racing the last decref can take a reference in that window.
std::atomic<int> *g_finalizations;   // indexed by id; set by the test using the type

void tracked_finalize(tally_object *self)
{
    auto *t = reinterpret_cast<Tracked *>(self);
    g_finalizations[t->id].fetch_add(1);
}

const tally_type tracked_fin_type = {"TrackedFin", sizeof(Tracked), TALLY_TYPE_GC, nullptr, nullptr,
                                     tracked_finalize, nullptr, tracked_destroy};

struct Deaths {
    explicit Deaths(size_t n) : n(n), c(new std::atomic<int>[n]) {
        for (size_t i = 0; i < n; i++)
            c[i] = 0;
    }
    size_t n;
    std::unique_ptr<std::atomic<int>[]> c;
    const tally_type *type = &tracked_type;
    tally_object *make(int id)
    {
        auto *t = reinterpret_cast<Tracked *>(tally_new(type));
        if (!t)
            return nullptr;
        t->magic = kLive;
        t->id = id;
        t->deaths = c.get();
        return &t->ob_base;
    }
    // Number of ids whose death count is not `want`.
    size_t wrong(int want, size_t upto) const
    {
        size_t bad = 0;
        for (size_t i = 0; i < upto; i++)
            bad += c[i].load() != want;
        return bad;
    }
};

bool is_live(tally_object *o, const Deaths &d)
{
    if (!o || (tally_type_of(o) != &tracked_type && tally_type_of(o) != &tracked_fin_type))
        return false;
    auto *t = reinterpret_cast<Tracked *>(o);
    return tally_atomic_load_relaxed(&t->magic) == kLive && t->id >= 0 && size_t(t->id) < d.n;
}

// What the readers of a container saw.  note() takes a get's result (a new reference or NULL),
// checks it and drops it.
struct ReadCounts {
    std::atomic<long> reads{0}, misses{0}, dead_seen{0};
    void note(tally_object *o, const Deaths &d)
    {
        if (!o)
            misses++;
        else if (!is_live(o, d))
            dead_seen++;
        tally_xdecref(o);
        reads++;
    }
};

// Let other threads run: detached, so the GIL and a stop-the-world are not held up.
void yield_detached()
{
    TALLY_BEGIN_ALLOW_THREADS
    std::this_thread::yield();
    TALLY_END_ALLOW_THREADS
}

// Run fn(i) on n attached threads, started together; the caller detaches while it waits.
template <class F>
void run_threads(int n, F fn)
{
    std::vector<std::thread> threads;
    std::atomic<int> attach_failures{0}, ready{0};
    TALLY_BEGIN_ALLOW_THREADS
    for (int i = 0; i < n; i++) {
        threads.emplace_back([&, i] {
            if (tally_thread_attach() != 0) {
                attach_failures++;
                ready++;
                return;
            }
            ready++;
            while (ready.load() < n)
                yield_detached();
            fn(i);
            tally_thread_release();
        });
    }
    for (auto &t : threads)
        t.join();
    TALLY_END_ALLOW_THREADS
    EXPECT_EQ(attach_failures.load(), 0);
}

} // namespace

TEST(ContainersMT, ConcurrentAppendsKeepEveryItem)
{
    constexpr int T = 4, M = 20000;
    Deaths deaths(T * M);
    tally_object *l = tally_list_new();
    run_threads(T, [&](int t) {
        for (int i = 0; i < M; i++) {
            tally_object *o = deaths.make(t * M + i);
            EXPECT_EQ(tally_list_append(l, o), 0);
            tally_decref(o);
            if (i % 256 == 0)
                tally_safepoint();
        }
    });
    ASSERT_EQ(tally_list_len(l), size_t(T * M));
    std::vector<int> seen(T * M, 0);
    std::vector<int> last(T, -1);   // per-thread order must be preserved
    size_t order_violations = 0;
    for (size_t i = 0; i < size_t(T * M); i++) {
        tally_object *o = tally_list_get(l, i);
        ASSERT_TRUE(is_live(o, deaths));
        int id = reinterpret_cast<Tracked *>(o)->id;
        seen[id]++;
        if (id % M <= last[id / M])
            order_violations++;
        last[id / M] = id % M;
        tally_decref(o);
    }
    for (int i = 0; i < T * M; i++)
        ASSERT_EQ(seen[i], 1) << i;
    EXPECT_EQ(order_violations, 0u);
    tally_flush();
    EXPECT_EQ(deaths.wrong(0, T * M), 0u);
    tally_decref(l);
    tally_flush();
    EXPECT_EQ(deaths.wrong(1, T * M), 0u) << "every item destroyed exactly once";
}

TEST(ContainersMT, ProducersAndConsumersHandOverEveryItemOnce)
{
    constexpr int P = 2, C = 2, M = 20000;
    Deaths deaths(P * M);
    tally_object *l = tally_list_new();
    std::atomic<int> producers_left{P};
    std::atomic<long> popped{0};
    std::atomic<int> bad{0};
    run_threads(P + C, [&](int t) {
        if (t < P) {
            for (int i = 0; i < M; i++) {
                tally_object *o = deaths.make(t * M + i);
                tally_list_append(l, o);
                tally_decref(o);
                if (i % 128 == 0)
                    tally_safepoint();
            }
            producers_left--;
        } else {
            for (long n = 0;; n++) {
                tally_object *o = tally_list_pop(l);
                if (o) {
                    if (!is_live(o, deaths))
                        bad++;
                    popped++;
                    tally_decref(o);
                } else if (producers_left.load() == 0) {
                    break;
                }
                if (n % 128 == 0)
                    tally_safepoint();
            }
        }
    });
    EXPECT_EQ(bad.load(), 0);
    long rest = 0;
    while (tally_object *o = tally_list_pop(l)) {
        rest++;
        tally_decref(o);
    }
    EXPECT_EQ(popped.load() + rest, long(P * M));
    tally_decref(l);
    tally_flush();
    EXPECT_EQ(deaths.wrong(1, P * M), 0u);
}

TEST(ContainersMT, ListReadersRaceWritersThatReplaceAndResize)
{
    // Slots 0..K-1 always hold a live item: a reader must always get one.  One writer keeps
    // replacing them; another appends and pops beyond K, so the item array is reallocated
    // (grown and shrunk) under the readers' feet.
    constexpr int K = 64, R = 3, REPLACE = 15000, CHURN = 100;
    constexpr int kIds = K + REPLACE + CHURN * 100 + 16;
    Deaths deaths(kIds);
    std::atomic<int> next_id{0};
    tally_object *l = tally_list_new();
    for (int i = 0; i < K; i++) {
        tally_object *o = deaths.make(next_id++);
        tally_list_append(l, o);
        tally_decref(o);
    }
    std::atomic<int> writers_left{2};
    ReadCounts rc;
    run_threads(2 + R, [&](int t) {
        if (t == 0) {
            std::mt19937 rng(1);
            for (int n = 0; n < REPLACE; n++) {
                tally_object *o = deaths.make(next_id++);
                EXPECT_EQ(tally_list_set(l, rng() % K, o), 0);
                tally_decref(o);
                if (n % 64 == 0)
                    tally_safepoint();
            }
            writers_left--;
        } else if (t == 1) {
            for (int round = 0; round < CHURN; round++) {
                for (int j = 0; j < 100; j++) {
                    tally_object *o = deaths.make(next_id++);
                    tally_list_append(l, o);
                    tally_decref(o);
                }
                for (int j = 0; j < 100; j++) {
                    tally_object *o = tally_list_pop(l);
                    if (!is_live(o, deaths))
                        rc.dead_seen++;
                    tally_xdecref(o);
                }
                tally_safepoint();
            }
            writers_left--;
        } else {
            std::mt19937 rng(100 + t);
            for (long n = 0; writers_left.load(std::memory_order_relaxed) > 0 || n < kMinReads; n++) {
                rc.note(tally_list_get(l, rng() % K), deaths);
                if (n % 64 == 0)
                    tally_safepoint();
            }
        }
    });
    EXPECT_GT(rc.reads.load(), 0);
    EXPECT_EQ(rc.misses.load(), 0) << "an index that was always present must always be found";
    EXPECT_EQ(rc.dead_seen.load(), 0);
    EXPECT_EQ(tally_list_len(l), size_t(K));
    int made = next_id.load();
    tally_decref(l);
    tally_flush();
    EXPECT_EQ(deaths.wrong(1, made), 0u) << "every object destroyed exactly once";
}

TEST(ContainersMT, DictMixedOperationsOnSharedKeys)
{
    // Every thread sets, gets and deletes keys from one shared range (int and str keys built
    // afresh for each operation, so lookups compare by value).
    constexpr int T = 4, OPS = 12000, KEYS = 256;
    Deaths deaths(T * OPS);
    tally_object *d = tally_dict_new();
    std::atomic<long> dead_seen{0};
    run_threads(T, [&](int t) {
        std::mt19937 rng(7 + t);
        for (int n = 0; n < OPS; n++) {
            int k = rng() % KEYS;
            tally_object *key = k % 2 ? tally_int_new(100000 + k) : tally_str_new(("key" + std::to_string(k)).c_str());
            unsigned op = rng() % 4;
            if (op < 2) {
                tally_object *v = deaths.make(t * OPS + n);
                EXPECT_EQ(tally_dict_set(d, key, v), 0);
                tally_decref(v);
            } else if (op == 2) {
                tally_object *v = tally_dict_get(d, key);
                if (v && !is_live(v, deaths))
                    dead_seen++;
                tally_xdecref(v);
            } else {
                tally_dict_del(d, key);   // may be absent
            }
            tally_decref(key);
            if (n % 64 == 0)
                tally_safepoint();
        }
    });
    EXPECT_EQ(dead_seen.load(), 0);
    // The dict is consistent: its length is the number of keys that can be found.
    size_t found = 0;
    for (int k = 0; k < KEYS; k++) {
        tally_object *key = k % 2 ? tally_int_new(100000 + k) : tally_str_new(("key" + std::to_string(k)).c_str());
        tally_object *v = tally_dict_get(d, key);
        if (v) {
            found++;
            EXPECT_TRUE(is_live(v, deaths));
            tally_decref(v);
        }
        tally_decref(key);
    }
    EXPECT_EQ(tally_dict_len(d), found);
    tally_decref(d);
    tally_flush();
    // Values never set (ops that were gets/dels) have id slots with 0 deaths; every value
    // that was created died exactly once.
    size_t created = 0, wrong = 0;
    for (size_t i = 0; i < deaths.n; i++) {
        int c = deaths.c[i].load();
        if (c > 1)
            wrong++;
        created += c == 1;
    }
    EXPECT_EQ(wrong, 0u);
    EXPECT_GT(created, 0u);
    tally_alloc_stats s{};
    tally_get_alloc_stats(&s);
    EXPECT_GE(s.freed, created);
}

TEST(ContainersMT, DictReadersRaceWritersThatReplaceAndResize)
{
    // Keys 0..K-1 are always present: readers must always find them, alive, while one writer
    // replaces their values and another inserts and deletes other keys (tombstones, resizes).
    constexpr int K = 64, R = 3, REPLACE = 10000, CHURN = 25;
    constexpr int kIds = K + REPLACE + 16;
    Deaths deaths(kIds);
    std::atomic<int> next_id{0};
    tally_object *d = tally_dict_new();
    std::vector<tally_object *> keys;
    for (int i = 0; i < K; i++) {
        keys.push_back(i % 2 ? tally_int_new(5000 + i) : tally_str_new(("fixed" + std::to_string(i)).c_str()));
        tally_object *v = deaths.make(next_id++);
        tally_dict_set(d, keys[i], v);
        tally_decref(v);
    }
    std::atomic<int> writers_left{2};
    ReadCounts rc;
    run_threads(2 + R, [&](int t) {
        if (t == 0) {
            std::mt19937 rng(3);
            for (int n = 0; n < REPLACE; n++) {
                tally_object *v = deaths.make(next_id++);
                EXPECT_EQ(tally_dict_set(d, keys[rng() % K], v), 0);
                tally_decref(v);
                if (n % 64 == 0)
                    tally_safepoint();
            }
            writers_left--;
        } else if (t == 1) {
            for (int round = 0; round < CHURN; round++) {
                std::vector<tally_object *> extra;
                for (int j = 0; j < 400; j++) {
                    extra.push_back(tally_int_new(1000000 + round * 1000 + j));
                    tally_dict_set(d, extra.back(), tally_none());
                }
                for (tally_object *k : extra) {
                    EXPECT_EQ(tally_dict_del(d, k), 0);
                    tally_decref(k);
                }
                tally_safepoint();
            }
            writers_left--;
        } else {
            std::mt19937 rng(200 + t);
            for (long n = 0; writers_left.load(std::memory_order_relaxed) > 0 || n < kMinReads; n++) {
                int i = rng() % K;
                // An equal, distinct key object: found by value.
                tally_object *probe = i % 2 ? tally_int_new(5000 + i) : tally_str_new(("fixed" + std::to_string(i)).c_str());
                rc.note(tally_dict_get(d, probe), deaths);
                tally_decref(probe);
                if (n % 64 == 0)
                    tally_safepoint();
            }
        }
    });
    EXPECT_GT(rc.reads.load(), 0);
    EXPECT_EQ(rc.misses.load(), 0) << "a key that was always present must always be found";
    EXPECT_EQ(rc.dead_seen.load(), 0);
    EXPECT_EQ(tally_dict_len(d), size_t(K));
    int made = next_id.load();
    tally_decref(d);
    for (tally_object *k : keys)
        tally_decref(k);
    tally_flush();
    EXPECT_EQ(deaths.wrong(1, made), 0u) << "every value destroyed exactly once";
}

namespace {
void count_cb(tally_object *, void *arg)
{
    static_cast<std::atomic<long> *>(arg)->fetch_add(1);
}
} // namespace

TEST(ContainersMT, WeakrefGetsRaceReferentDeaths)
{
    // Readers create weakrefs (with callbacks) to shared referents and read them while a killer
    // thread drops the referents one by one.  A get returns NULL or a live referent; every
    // weakref still alive at its referent's death calls back exactly once.
    constexpr int N = 2000, R = 3;
    Deaths deaths(N);
    std::vector<tally_object *> targets, refs;
    std::atomic<long> cb_count{0};
    for (int i = 0; i < N; i++) {
        targets.push_back(deaths.make(i));
        refs.push_back(tally_weakref_new(targets[i], nullptr, nullptr));
    }
    std::atomic<int> killed{0};
    std::atomic<long> dead_seen{0}, gets{0}, created{0}, dropped_before_death{0};
    std::vector<std::vector<tally_object *>> kept(R);
    run_threads(1 + R, [&](int t) {
        if (t == 0) {
            for (int i = 0; i < N; i++) {
                // Pace the deaths so the readers see referents alive, dying and dead.
                for (int spin = 0; gets.load() < long(i) * 4 && spin < 1000; spin++)
                    yield_detached();
                tally_decref(targets[i]);   // our only strong reference
                killed++;
                if (i % 16 == 0)
                    tally_safepoint();
            }
            return;
        }
        std::mt19937 rng(t);
        for (long n = 0; killed.load(std::memory_order_relaxed) < N; n++) {
            int i = rng() % N;
            tally_object *o = tally_weakref_get(refs[i]);
            if (o) {
                if (!is_live(o, deaths))
                    dead_seen++;
                // A new weakref with a callback to a referent we hold alive.
                tally_object *w = tally_weakref_new(o, count_cb, &cb_count);
                created++;
                if (n % 2) {
                    kept[t - 1].push_back(w);
                } else {
                    tally_decref(w);   // dies before its referent: no callback
                    dropped_before_death++;
                }
                tally_decref(o);
            }
            gets++;
            if (n % 32 == 0)
                tally_safepoint();
        }
    });
    tally_flush();
    EXPECT_EQ(dead_seen.load(), 0);
    EXPECT_GT(gets.load(), 0);
    EXPECT_EQ(deaths.wrong(1, N), 0u) << "every referent destroyed exactly once";
    for (int i = 0; i < N; i++) {
        EXPECT_EQ(tally_weakref_get(refs[i]), nullptr);
        tally_decref(refs[i]);
    }
    long kept_n = 0;
    for (auto &v : kept) {
        for (tally_object *w : v) {
            EXPECT_EQ(tally_weakref_get(w), nullptr);
            tally_decref(w);
            kept_n++;
        }
    }
    EXPECT_EQ(kept_n + dropped_before_death.load(), created.load());
    EXPECT_EQ(cb_count.load(), kept_n) << "each weakref alive at its referent's death called back once";
}

// Items with a finalizer are replaced under lock-free readers of a list and a dict of K slots.
// A reader may take its reference while the dying item is temporarily alive for its finalizer
// and drop it right after; that reader then frees the item.  Every item must be finalized once
// and destroyed once, and no reader may see a destroyed one.
void readers_race_deaths_with_finalizers(const int K)
{
    constexpr int R = 3, REPLACE = 100000;
    const int kIds = K + REPLACE;
    Deaths deaths(kIds);
    deaths.type = &tracked_fin_type;
    std::unique_ptr<std::atomic<int>[]> fin(new std::atomic<int>[kIds]);
    for (int i = 0; i < kIds; i++)
        fin[i] = 0;
    g_finalizations = fin.get();
    std::atomic<int> next_id{0};
    tally_object *l = tally_list_new();
    tally_object *d = tally_dict_new();
    std::vector<tally_object *> keys;
    for (int i = 0; i < K; i++) {
        keys.push_back(tally_int_new(1000 + i));   // not cached: ordinary objects
        tally_object *o = deaths.make(next_id++);
        tally_list_append(l, o);
        ASSERT_EQ(tally_dict_set(d, keys.back(), o), 0);
        tally_decref(o);
    }
    std::atomic<bool> writing{true};
    ReadCounts rc;
    run_threads(1 + R, [&](int t) {
        if (t == 0) {
            std::mt19937 rng(7);
            for (int n = 0; n < REPLACE; n++) {
                int i = int(rng() % K);
                tally_object *o = deaths.make(next_id++);
                EXPECT_EQ(tally_list_set(l, size_t(i), o), 0);
                EXPECT_EQ(tally_dict_set(d, keys[size_t(i)], o), 0);
                tally_decref(o);   // the old item dies here, or in the reader that held it
                if (n % 64 == 0)
                    tally_safepoint();
            }
            writing = false;
        } else {
            std::mt19937 rng(200 + t);
            for (long n = 0; writing.load(std::memory_order_relaxed) || n < kMinReads; n++) {
                size_t i = rng() % K;
                rc.note((n & 1) ? tally_list_get(l, i) : tally_dict_get(d, keys[i]), deaths);
                if (n % 64 == 0)
                    tally_safepoint();
            }
        }
    });
    EXPECT_GT(rc.reads.load(), 0);
    EXPECT_EQ(rc.misses.load(), 0);
    EXPECT_EQ(rc.dead_seen.load(), 0);
    int made = next_id.load();
    tally_decref(l);
    tally_decref(d);
    for (tally_object *k : keys)
        tally_decref(k);
    tally_flush();
    tally_gc_collect(2);
    tally_flush();
    EXPECT_EQ(deaths.wrong(1, size_t(made)), 0u) << "every item destroyed exactly once";
    size_t fin_wrong = 0;
    for (int i = 0; i < made; i++)
        fin_wrong += fin[i].load() != 1;
    EXPECT_EQ(fin_wrong, 0u) << "every item finalized exactly once";
    g_finalizations = nullptr;
}

TEST(ContainersMT, ReadersRaceTheDeathOfItemsWithFinalizers)
{
    readers_race_deaths_with_finalizers(16);
}

TEST(ContainersMT, ReadersRaceTheDeathOfOneSlotsItemsWithFinalizers)
{
    // Every read targets the item being replaced, so the readers' conditional increments keep
    // landing at its death: at the zero and in the finalizer's revival (biased: the revival's
    // reset of the shared word once erased a reader's increment, which asan runs of the test
    // above hit about 1 run in 30).
    readers_race_deaths_with_finalizers(1);
}
