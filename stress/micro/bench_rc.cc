// stress/micro/bench_rc.cc - refcount, allocation and container microbenchmarks of one backend,
// with the machine's own limits measured in the same run (anchors).
//
// Owns: the program bench_rc_<backend> (one binary per backend, linked with tally::<backend> so
// that tally_incref/tally_decref are the backend's inline fast paths).  Every row reports the
// counter `ns_per_op`: wall-clock nanoseconds per operation (an incref+decref pair, an
// allocation+free, a get or set), and for multi-threaded rows `threads` and the aggregate figure
// over all threads (ns_per_op = elapsed / total operations, so 2 threads that scale perfectly
// halve it).  `tally bench` reads the JSON output (--benchmark_format=json) and checks the
// targets; see docs/report.md.
//
// Rows (name prefix = what they measure):
//   anchor/plain_incdec        ++ and -- of a memory word, a compiler barrier after each (no lock)
//   anchor/locked_addsub       lock add + lock sub of one word, one thread (uncontended atomics)
//   anchor/locked_add_contended/threads:2  lock add + lock sub of one word by 2 threads
//   anchor/shared_ptr_copy     std::shared_ptr copy + destroy (libstdc++: atomic counts)
//   rc/pair_own                incref+decref of an object the thread created (biased: its owner)
//   rc/pair_shared/threads:2   incref+decref of one object by 2 threads (worker 0 created it)
//   rc/pair_immortal           incref+decref of an immortal object
//   alloc/object               tally_new + decref of a non-GC object (memory freed each time)
//   alloc/list                 tally_list_new + decref (a GC container: collector bookkeeping)
//   container/{list,dict}_{get,set}  one get (+ decref of the result) or one set
//   anchor/parallel_read/threads:N  N threads reading one shared word, no runtime (machine scaling)
//   readmostly/*/threads:N     N threads reading one shared object or container at once
//   memory/{object,list}       resident bytes per live object (counter bytes_per_object)
//
// Multi-threaded rows run on a private pool of attached worker threads: each timed round hands
// every worker the same number of operations and the round's wall time (from the start barrier
// to the last worker's finish) is the manual time.  The benchmark's main thread is detached
// while it waits, so under `gil` the workers pass the GIL between them at their safepoints.
// A round also pays for waking the workers and for their attach and detach; readmostly rounds
// are sized to about 3-4 ms on the 2-core development machine so that this fixed cost stays
// near 1% (with 1 ms rounds it was enough to move a 2-thread ratio between 1.4x and 2.0x from
// one run to the next).
#include <benchmark/benchmark.h>
#include <tally/tally.h>

#include <pthread.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

// Operations per benchmark iteration of the single-threaded rows (amortises the loop).
constexpr int kBatch = 256;
// Work between safepoints in the threaded rows (the GIL changes hands only there).
constexpr int kSafepointEvery = 1024;

bool backend_is(const char *name) { return std::strcmp(tally_backend(), name) == 0; }

// A compiler barrier: the compiler must assume memory was read and written, so a
// load/modify/store sequence cannot be merged with the next one.  Emits no instruction.
inline void barrier() { asm volatile("" ::: "memory"); }

// A plain object type (no GC): the refcount rows and alloc/object use it.
struct BenchObject {
    TALLY_OBJECT_HEAD;
    uint64_t payload;
};
const tally_type bench_object_type = {"bench_object", sizeof(BenchObject), 0, nullptr, nullptr, nullptr,
                                      nullptr, nullptr};

// Report ns per operation from our own wall clock (Google Benchmark's rate counters divide by
// CPU time, which is wrong for threaded and blocking rows).
void report(benchmark::State &state, double elapsed_ns, double ops, int threads = 1)
{
    state.counters["ns_per_op"] = benchmark::Counter(ops > 0 ? elapsed_ns / ops : 0.0);
    state.counters["threads"] = benchmark::Counter(threads);
}

template <class F> void run_batched(benchmark::State &state, F &&body)
{
    auto t0 = Clock::now();
    for (auto _ : state) {
        for (int i = 0; i < kBatch; i++)
            body();
    }
    double ns = std::chrono::duration<double, std::nano>(Clock::now() - t0).count();
    report(state, ns, double(state.iterations()) * kBatch);
}

// ---- worker pool for the threaded rows ----------------------------------------------------
// Round protocol: main and workers meet at `start_`; workers run work(tid) (attached to the
// runtime when `attach` is set) and meet main again at `done_`.  The barriers order everything
// a round's setup wrote before the workers' reads, and the workers' writes before main's
// reads after the round (pthread_barrier_wait synchronises memory).
class Pool {
  public:
    Pool(int n, bool attach) : n_(n), attach_(attach)
    {
        pthread_barrier_init(&start_, nullptr, unsigned(n + 1));
        pthread_barrier_init(&done_, nullptr, unsigned(n + 1));
        for (int i = 0; i < n; i++)
            threads_.emplace_back([this, i] { loop(i); });
    }
    ~Pool()
    {
        stop_ = true;
        wait_barrier(&start_);
        // Workers release their thread states on the way out (gil: that takes the GIL), so
        // join detached.
        if (attach_ && tally_thread_is_attached()) {
            TALLY_BEGIN_ALLOW_THREADS
            join_all();
            TALLY_END_ALLOW_THREADS
        } else {
            join_all();
        }
        pthread_barrier_destroy(&start_);
        pthread_barrier_destroy(&done_);
    }
    // Run work(tid) on every worker; returns the round's wall time in ns.
    double round(std::function<void(int)> work)
    {
        work_ = std::move(work);
        auto t0 = Clock::now();
        wait_barrier(&start_);
        wait_barrier(&done_);
        return std::chrono::duration<double, std::nano>(Clock::now() - t0).count();
    }
    int size() const { return n_; }

  private:
    void join_all()
    {
        for (auto &t : threads_)
            t.join();
    }

    // The calling (main) thread may be attached: detach while blocked so that a GIL holder
    // never waits for a thread that needs the GIL, and a stop-the-world never waits for it.
    void wait_barrier(pthread_barrier_t *b)
    {
        if (attach_ && tally_thread_is_attached()) {
            TALLY_BEGIN_ALLOW_THREADS
            pthread_barrier_wait(b);
            TALLY_END_ALLOW_THREADS
        } else {
            pthread_barrier_wait(b);
        }
    }
    void loop(int tid)
    {
        for (;;) {
            pthread_barrier_wait(&start_);
            if (stop_)
                break;
            if (attach_ && tally_thread_attach() != 0) {
                std::fprintf(stderr, "bench_rc: worker attach failed: %s\n", tally_last_error());
                std::abort();
            }
            work_(tid);
            if (attach_)
                tally_thread_detach();
            pthread_barrier_wait(&done_);
        }
        if (attach_)
            tally_thread_release();
    }
    int n_;
    bool attach_;
    bool stop_ = false;  // written by main before the start barrier, read by workers after it
    pthread_barrier_t start_, done_;
    std::function<void(int)> work_;
    std::vector<std::thread> threads_;
};

// A threaded row: `per_thread` operations per worker per round; setup/teardown run on worker 0
// (attached) outside the timed rounds.
void run_pool(benchmark::State &state, int threads, long per_thread, bool attach, const std::function<void(int)> &work,
              const std::function<void()> &setup = nullptr, const std::function<void()> &teardown = nullptr)
{
    Pool pool(threads, attach);
    if (setup)
        pool.round([&](int tid) { if (tid == 0) setup(); });
    double total_ns = 0;
    for (auto _ : state) {
        double ns = pool.round(work);
        state.SetIterationTime(ns * 1e-9);
        total_ns += ns;
    }
    if (teardown)
        pool.round([&](int tid) { if (tid == 0) teardown(); });
    report(state, total_ns, double(state.iterations()) * double(per_thread) * threads, threads);
}

// Safepoint in the threaded loops: the GIL is handed over (gil), stop-the-world requests and
// merges are served (free-threaded backends).
inline void maybe_safepoint(long i)
{
    if ((i & (kSafepointEvery - 1)) == 0)
        tally_safepoint();
}

// ---- anchors: the machine's limits ---------------------------------------------------------
uint64_t anchor_word alignas(64);

void BM_plain_incdec(benchmark::State &state)
{
    state.SetLabel("limit: ++ and -- of a memory word, compiler barrier after each, no lock");
    uint64_t *p = &anchor_word;
    benchmark::DoNotOptimize(p);
    run_batched(state, [p] {
        (*p)++;
        barrier();
        (*p)--;
        barrier();
    });
}

void BM_locked_addsub(benchmark::State &state)
{
    state.SetLabel("limit: lock add + lock sub of one word, one thread (uncontended)");
    uint64_t *p = &anchor_word;
    benchmark::DoNotOptimize(p);
    run_batched(state, [p] {
        tally_atomic_fetch_add_relaxed(p, 1); // lock add (result unused)
        tally_atomic_fetch_sub_release(p, 1); // lock sub
    });
}

void BM_locked_add_contended(benchmark::State &state)
{
    state.SetLabel("limit: lock add + lock sub of one word by every thread (contended line)");
    const int threads = int(state.range(0));
    constexpr long n = 1L << 16;
    run_pool(state, threads, n, false, [](int) {
        uint64_t *p = &anchor_word;
        for (long i = 0; i < n; i++) {
            tally_atomic_fetch_add_relaxed(p, 1);
            tally_atomic_fetch_sub_release(p, 1);
        }
    });
}

void BM_shared_ptr_copy(benchmark::State &state)
{
    state.SetLabel("C++ std::shared_ptr copy + destroy (libstdc++ atomic counts)");
    auto sp = std::make_shared<uint64_t>(42);
    run_batched(state, [&sp] {
        std::shared_ptr<uint64_t> copy(sp); // atomic increment
        benchmark::DoNotOptimize(copy);
    }); // copy destroyed: atomic decrement
}

// ---- refcounting ---------------------------------------------------------------------------
void BM_pair_own(benchmark::State &state)
{
    tally_object *o = tally_new(&bench_object_type);
    run_batched(state, [o] {
        tally_incref(o);
        barrier();
        tally_decref(o);
        barrier();
    });
    tally_decref(o);
    tally_flush();
}

void BM_pair_immortal(benchmark::State &state)
{
    tally_object *o = tally_new(&bench_object_type);
    tally_set_immortal(o);
    run_batched(state, [o] {
        tally_incref(o);
        barrier();
        tally_decref(o);
        barrier();
    });
    // immortal: never freed (as CPython's immortal objects)
}

tally_object *shared_obj;  // written in setup/teardown rounds; the pool's barriers order it

void BM_pair_shared(benchmark::State &state)
{
    const int threads = int(state.range(0));
    constexpr long n = 1L << 16;
    run_pool(
        state, threads, n, true,
        [](int) {
            tally_object *o = shared_obj;
            for (long i = 0; i < n; i++) {
                tally_incref(o);
                barrier();
                tally_decref(o);
                barrier();
                maybe_safepoint(i);
            }
        },
        [] { shared_obj = tally_new(&bench_object_type); },
        [] {
            tally_decref(shared_obj);
            tally_flush();
            shared_obj = nullptr;
        });
}

// ---- allocation ----------------------------------------------------------------------------
void BM_alloc_object(benchmark::State &state)
{
    run_batched(state, [] {
        tally_object *o = tally_new(&bench_object_type);
        benchmark::DoNotOptimize(o);
        tally_decref(o);
    });
    tally_flush();
}

void BM_alloc_list(benchmark::State &state)
{
    run_batched(state, [] {
        tally_object *o = tally_list_new();
        benchmark::DoNotOptimize(o);
        tally_decref(o);
    });
    tally_flush();
}

// ---- containers ------------------------------------------------------------------------------
constexpr size_t kItems = 1024;  // power of two

// A list of kItems ints; `immortal`: the cached small ints (-5..256 are immortal), else
// fresh ints above the cache (mortal: each read writes the item's count).
tally_object *make_list(bool immortal)
{
    tally_object *l = tally_list_new();
    for (size_t i = 0; i < kItems; i++) {
        tally_object *v = tally_int_new(immortal ? int64_t(i % 256) : int64_t(100000 + i));
        tally_list_append(l, v);
        tally_decref(v);
    }
    return l;
}

// A dict of kItems int keys -> int values; keys are kept in `keys` (new references).
tally_object *make_dict(std::vector<tally_object *> &keys)
{
    tally_object *d = tally_dict_new();
    for (size_t i = 0; i < kItems; i++) {
        tally_object *k = tally_int_new(int64_t(1000 + i));
        tally_object *v = tally_int_new(int64_t(i % 256));
        tally_dict_set(d, k, v);
        tally_decref(v);
        keys.push_back(k);
    }
    return d;
}

void drop_keys(std::vector<tally_object *> &keys)
{
    for (tally_object *k : keys)
        tally_decref(k);
    keys.clear();
}

void BM_list_get(benchmark::State &state)
{
    tally_object *l = make_list(false);
    size_t i = 0;
    run_batched(state, [l, &i] {
        tally_object *v = tally_list_get(l, i++ & (kItems - 1));
        tally_decref(v);
    });
    tally_decref(l);
    tally_flush();
}

void BM_list_set(benchmark::State &state)
{
    tally_object *l = make_list(false);
    tally_object *v = tally_int_new(7777777);
    size_t i = 0;
    run_batched(state, [l, v, &i] { tally_list_set(l, i++ & (kItems - 1), v); });
    tally_decref(v);
    tally_decref(l);
    tally_flush();
}

void BM_dict_get(benchmark::State &state)
{
    std::vector<tally_object *> keys;
    tally_object *d = make_dict(keys);
    size_t i = 0;
    run_batched(state, [d, &keys, &i] {
        tally_object *v = tally_dict_get(d, keys[i++ & (kItems - 1)]);
        tally_decref(v);
    });
    drop_keys(keys);
    tally_decref(d);
    tally_flush();
}

void BM_dict_set(benchmark::State &state)
{
    std::vector<tally_object *> keys;
    tally_object *d = make_dict(keys);
    tally_object *v = tally_int_new(7777777);
    size_t i = 0;
    run_batched(state, [d, v, &keys, &i] { tally_dict_set(d, keys[i++ & (kItems - 1)], v); });
    tally_decref(v);
    drop_keys(keys);
    tally_decref(d);
    tally_flush();
}

// ---- read-mostly scaling -----------------------------------------------------------------------
// The machine's own scaling, measured the same way as the readmostly rows (same pool, rounds of
// about the same length, workers not attached): each thread sums one shared word in a loop.  On a
// 2-vCPU VM the second core is not always all ours; this row says how much of it was there.
uint64_t parallel_word alignas(64) = 1;

void BM_parallel_read(benchmark::State &state)
{
    state.SetLabel("limit: every thread reads one shared word in a loop, no runtime");
    const int threads = int(state.range(0));
    constexpr long n = 1L << 23;
    run_pool(state, threads, n, false, [](int) {
        const volatile uint64_t *p = &parallel_word;
        uint64_t sum = 0;
        for (long i = 0; i < n; i++) {
            sum += *p;
            barrier();
        }
        benchmark::DoNotOptimize(sum);
    });
}

tally_object *shared_container;
std::vector<tally_object *> shared_keys;

void BM_read_immortal(benchmark::State &state)
{
    const int threads = int(state.range(0));
    constexpr long n = 1L << 22;
    run_pool(
        state, threads, n, true,
        [](int) {
            tally_object *o = shared_obj;
            for (long i = 0; i < n; i++) {
                tally_incref(o);
                barrier();
                tally_decref(o);
                barrier();
                maybe_safepoint(i);
            }
        },
        [] {
            shared_obj = tally_new(&bench_object_type);
            tally_set_immortal(shared_obj);
        },
        [] { shared_obj = nullptr; });
}

void read_list_rounds(benchmark::State &state, bool immortal_items)
{
    const int threads = int(state.range(0));
    constexpr long n = 1L << 19;
    run_pool(
        state, threads, n, true,
        [](int tid) {
            tally_object *l = shared_container;
            size_t j = size_t(tid) * 17;
            for (long i = 0; i < n; i++) {
                tally_object *v = tally_list_get(l, j++ & (kItems - 1));
                tally_decref(v);
                maybe_safepoint(i);
            }
        },
        [immortal_items] { shared_container = make_list(immortal_items); },
        [] {
            tally_decref(shared_container);
            tally_flush();
            shared_container = nullptr;
        });
}

void BM_read_list_immortal(benchmark::State &state) { read_list_rounds(state, true); }
void BM_read_list_mortal(benchmark::State &state) { read_list_rounds(state, false); }

void BM_read_dict(benchmark::State &state)
{
    const int threads = int(state.range(0));
    constexpr long n = 1L << 19;
    run_pool(
        state, threads, n, true,
        [](int tid) {
            tally_object *d = shared_container;
            size_t j = size_t(tid) * 17;
            for (long i = 0; i < n; i++) {
                tally_object *v = tally_dict_get(d, shared_keys[j++ & (kItems - 1)]);
                tally_decref(v);
                maybe_safepoint(i);
            }
        },
        [] {
            shared_container = make_dict(shared_keys);
            // Keys are read by every thread: immortal, as CPython 3.13t makes shared constants.
            for (tally_object *k : shared_keys)
                tally_set_immortal(k);
        },
        [] {
            shared_keys.clear();  // immortal: never freed
            tally_decref(shared_container);
            tally_flush();
            shared_container = nullptr;
        });
}

// ---- memory per object ---------------------------------------------------------------------
// Resident set growth while 2^20 objects are alive, divided by their number: header, payload,
// GC pre-header and allocator overhead together.  One iteration in a fresh process (`tally
// bench` runs each memory row alone), because memory freed by an earlier row stays mapped.
long rss_bytes()
{
    long pages_total = 0, pages_resident = 0;
    FILE *f = std::fopen("/proc/self/statm", "r");
    if (!f)
        return -1;
    if (std::fscanf(f, "%ld %ld", &pages_total, &pages_resident) != 2)
        pages_resident = -1;
    std::fclose(f);
    return pages_resident < 0 ? -1 : pages_resident * sysconf(_SC_PAGESIZE);
}

void memory_row(benchmark::State &state, tally_object *(*make)())
{
    constexpr size_t n = size_t(1) << 20;
    std::vector<tally_object *> objs(n, nullptr); // touched before the first measurement
    double bytes = 0;
    for (auto _ : state) {
        long before = rss_bytes();
        for (size_t i = 0; i < n; i++)
            objs[i] = make();
        long after = rss_bytes();
        bytes = double(after - before) / double(n);
        state.PauseTiming();
        for (size_t i = 0; i < n; i++)
            tally_decref(objs[i]);
        tally_flush();
        state.ResumeTiming();
    }
    state.counters["bytes_per_object"] = benchmark::Counter(bytes);
    state.counters["objects"] = benchmark::Counter(double(n));
}

void BM_memory_object(benchmark::State &state)
{
    memory_row(state, [] { return tally_new(&bench_object_type); });
}
void BM_memory_list(benchmark::State &state) { memory_row(state, [] { return tally_list_new(); }); }

void add_stats(benchmark::internal::Benchmark *b)
{
    b->ComputeStatistics("min", [](const std::vector<double> &v) { return *std::min_element(v.begin(), v.end()); });
    b->ComputeStatistics("max", [](const std::vector<double> &v) { return *std::max_element(v.begin(), v.end()); });
}

benchmark::internal::Benchmark *reg(const char *name, void (*fn)(benchmark::State &))
{
    auto *b = benchmark::RegisterBenchmark(name, fn);
    add_stats(b);
    return b;
}

benchmark::internal::Benchmark *reg_threads(const char *name, void (*fn)(benchmark::State &), int threads)
{
    auto *b = benchmark::RegisterBenchmark(name, fn)->Arg(threads)->ArgName("threads")->UseManualTime();
    add_stats(b);
    return b;
}

} // namespace

int main(int argc, char **argv)
{
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv))
        return 1;
    if (tally_init(nullptr) != 0) {
        std::fprintf(stderr, "bench_rc: tally_init: %s\n", tally_last_error());
        return 1;
    }
    benchmark::AddCustomContext("tally_backend", tally_backend());
    benchmark::AddCustomContext("tally_version", tally_version());
    const bool racy = backend_is("racy");

    reg("anchor/plain_incdec", BM_plain_incdec);
    reg("anchor/locked_addsub", BM_locked_addsub);
    reg_threads("anchor/locked_add_contended", BM_locked_add_contended, 2);
    reg("anchor/shared_ptr_copy", BM_shared_ptr_copy);

    reg("rc/pair_own", BM_pair_own);
    reg("rc/pair_immortal", BM_pair_immortal);
    // racy loses counts under contention and then frees a live object: no shared-write rows.
    if (!racy)
        reg_threads("rc/pair_shared", BM_pair_shared, 2);

    reg("alloc/object", BM_alloc_object);
    reg("alloc/list", BM_alloc_list);

    reg("container/list_get", BM_list_get);
    reg("container/list_set", BM_list_set);
    reg("container/dict_get", BM_dict_get);
    reg("container/dict_set", BM_dict_set);

    benchmark::RegisterBenchmark("memory/object", BM_memory_object)->Iterations(1)->Repetitions(1);
    benchmark::RegisterBenchmark("memory/list", BM_memory_list)->Iterations(1)->Repetitions(1);

    for (int t : {1, 2}) {
        reg_threads("anchor/parallel_read", BM_parallel_read, t);
        reg_threads("readmostly/immortal_object", BM_read_immortal, t);
        reg_threads("readmostly/list_immortal_items", BM_read_list_immortal, t);
        reg_threads("readmostly/dict_get", BM_read_dict, t);
        if (!racy)
            reg_threads("readmostly/list_mortal_items", BM_read_list_mortal, t);
    }

    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    tally_fini();
    return 0;
}
