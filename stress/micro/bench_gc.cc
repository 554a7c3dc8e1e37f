// stress/micro/bench_gc.cc - the cycle collector's benchmarks for one backend (bench_gc_<backend>).
//
// Owns: the collector's rows, with CPython's own collector measured on the same graph shapes by
// stress/anchors/cpython_gc.py and printed side by side (on stderr, so that stdout stays valid
// --benchmark_format=json; set TALLY_BENCH_NO_CPYTHON=1 to skip it, it is skipped too when the
// output format is json because `tally bench` runs the anchor itself).
//
// Rows:
//   gc/full/live:1000000        tally_gc_collect(2) over 1,000,000 live lists (each holding one
//                               small int) in gen2 plus their holder list.  Counters:
//                               ns_per_object (wall time / objects), stw_ns_per_object,
//                               cpu_ns_per_object (CPU time of the collecting thread),
//                               first_ns_per_object (the process's first full collection of
//                               the heap, made before the timed ones: it also commits the side
//                               table's pieces and the order array, docs/collector.md; the heap
//                               is in gen2 by then, unlike gc/first_collection below).
//   gc/first_collection/flat:1000000, gc/first_collection/chain:1000000
//                               the first full collection of a freshly built heap, as a program
//                               meets it after a bulk load: 1,000,000 lists (each holding one
//                               small int) built with the collector disabled, so that all of
//                               them are still in the young generation, then tally_gc_collect(2)
//                               four times.  flat: a holder list made first holds them all (the
//                               gc/full graph); chain: each list also holds the one made before
//                               it, the last one is held from outside.  Each iteration builds a
//                               new heap (untimed) and frees it; the collection of the emptied
//                               heap gives back the side table's leaves (but those of the few
//                               objects that outlive it) and its arrays, so each first
//                               collection commits them again.  Counters: ns_per_object (the
//                               first collection; the row's time), later_ns_per_object (the
//                               median of the three after it, the gc/full figure for this heap;
//                               later_cpu_ns_per_object in CPU time), stw_ns_per_object and
//                               cpu_ns_per_object (first collection),
//                               pass_a_ns_per_object / pass_b_ns_per_object (its two graph
//                               passes, from the pause record; docs/collector.md).
//   gc/cycle_reclaim/objects:1000000  500,000 garbage 2-cycles of lists (a=[], b=[a], a.append(b))
//                               reclaimed by one young collection: ns_per_object of the
//                               collection (find + clear + free); cpu_ns_per_object.
//   anchor/seq_read/bytes:256M  the machine's sequential read bandwidth at that moment (one load
//                               per 64-byte line over 256 MiB, several times the last-level
//                               cache): gb_per_s.  A full collection reads 64 MB of list headers
//                               and 48 MB of item arrays once; about a third of its time is
//                               that memory traffic, the rest instructions and cache hits
//                               (docs/collector.md, "Where a full collection's time goes").  On a
//                               shared VM the bandwidth varies run to run, so it is measured next
//                               to the rows.
//   gc/young_pause/old:0, gc/young_pause/old:1M   automatic young collections at threshold
//                               2000 while a loop builds and drops 2-cycles and keeps one object
//                               in 8 in a ring of 1,000 survivors; with 0 or 1,000,000 live old
//                               objects in gen2.  Counters over the generation-0 collections of
//                               the run (from the collector's pause records): p50_us / p99_us
//                               (stop-the-world time), collection_p50_us / collection_p99_us
//                               (whole collection on the allocating thread), samples.  About
//                               3,000 collections per run (0.44-0.49 s here): with 400 (80 ms) one
//                               noisy moment of a shared VM covered a whole run, and the p99
//                               of the same code read 25-106 us from one run to the next.
#include <benchmark/benchmark.h>
#include <tally/tally.h>

#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;
constexpr size_t kObjects = 1000000;

double since_ns(Clock::time_point t0)
{
    return std::chrono::duration<double, std::nano>(Clock::now() - t0).count();
}

// CPU time of the calling thread: on a loaded 2-core machine wall time includes waiting for a
// core, so both are reported.
double thread_cpu_ns()
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return double(ts.tv_sec) * 1e9 + double(ts.tv_nsec);
}

// Collect everything and start from a quiet collector: automatic collection off.
void quiesce()
{
    tally_gc_disable();
    tally_flush();
    tally_gc_collect(2);
    tally_flush();
}

double percentile(std::vector<double> v, double q);

tally_object *make_live_lists(size_t n)
{
    tally_object *holder = tally_list_new();
    tally_object *zero = tally_int_new(0);   // cached small int: immortal
    for (size_t i = 0; i < n; i++) {
        tally_object *l = tally_list_new();
        tally_list_append(l, zero);
        tally_list_append(holder, l);
        tally_decref(l);
    }
    tally_decref(zero);
    return holder;
}

void BM_full(benchmark::State &state)
{
    quiesce();
    tally_object *holder = make_live_lists(kObjects);
    tally_gc_collect(0);
    tally_gc_collect(1);                         // all of it in gen2
    // The first full collection maps the pages of the collector's side table and grows its
    // order array (page faults); it is timed on its own, the rows time the ones after it.
    auto f0 = Clock::now();
    tally_gc_collect(2);
    double first_ns = since_ns(f0);
    tally_gc_reset_pauses();
    double total_ns = 0, stw_ns = 0, cpu_ns = 0;
    uint64_t iters = 0;
    for (auto _ : state) {
        auto t0 = Clock::now();
        double c0 = thread_cpu_ns();
        intptr_t n = tally_gc_collect(2);
        cpu_ns += thread_cpu_ns() - c0;
        double ns = since_ns(t0);
        benchmark::DoNotOptimize(n);
        state.SetIterationTime(ns / 1e9);
        total_ns += ns;
        tally_gc_pause p;
        if (tally_gc_get_pauses(&p, 1) == 1)
            stw_ns += (double)p.stw_ns;
        iters++;
    }
    double objs = double(kObjects + 1) * double(iters);
    state.counters["ns_per_object"] = total_ns / objs;
    state.counters["stw_ns_per_object"] = stw_ns / objs;
    state.counters["cpu_ns_per_object"] = cpu_ns / objs;
    state.counters["objects"] = double(kObjects + 1);
    state.counters["first_ns_per_object"] = first_ns / double(kObjects + 1);
    tally_decref(holder);
    quiesce();
}

enum class Shape { flat, chain };

// 1,000,000 lists of one small int, in the young generation (the collector is disabled).
tally_object *make_fresh_heap(Shape shape, size_t n)
{
    tally_object *zero = tally_int_new(0);   // cached small int: immortal
    tally_object *root = tally_list_new();
    tally_list_append(root, zero);
    for (size_t i = 1; i < n; i++) {
        tally_object *l = tally_list_new();
        tally_list_append(l, zero);
        if (shape == Shape::chain) {
            tally_list_append(l, root);   // l holds the list made before it
            tally_decref(root);
            root = l;
        } else {
            tally_list_append(root, l);   // the holder (made first) holds every list
            tally_decref(l);
        }
    }
    tally_decref(zero);
    return root;
}

void BM_first_collection(benchmark::State &state, Shape shape)
{
    quiesce();
    double first_ns = 0, stw_ns = 0, cpu_ns = 0, pass_a_ns = 0, pass_b_ns = 0;
    std::vector<double> later, later_cpu;
    uint64_t iters = 0;
    for (auto _ : state) {
        state.PauseTiming();
        tally_object *root = make_fresh_heap(shape, kObjects);
        tally_gc_reset_pauses();
        state.ResumeTiming();
        auto t0 = Clock::now();
        double c0 = thread_cpu_ns();
        intptr_t n = tally_gc_collect(2);
        cpu_ns += thread_cpu_ns() - c0;
        double ns = since_ns(t0);
        state.SetIterationTime(ns / 1e9);
        first_ns += ns;
        tally_gc_pause p;
        if (tally_gc_get_pauses(&p, 1) == 1) {
            stw_ns += (double)p.stw_ns;
            pass_a_ns += (double)p.update_refs_ns;
            pass_b_ns += (double)p.move_unreachable_ns;
        }
        state.PauseTiming();
        for (int k = 0; k < 3; k++) {
            auto t1 = Clock::now();
            double c1 = thread_cpu_ns();
            benchmark::DoNotOptimize(tally_gc_collect(2));
            later_cpu.push_back(thread_cpu_ns() - c1);
            later.push_back(since_ns(t1));
        }
        bool whole = tally_gc_get_pauses(&p, 1) == 1 && p.candidates >= kObjects;
        tally_decref(root);
        quiesce();   // frees the heap; the empty collection gives the side table back
        if (n != 0 || !whole) {
            state.SkipWithError(n ? "a full collection of a live heap collected something"
                                  : "a full collection did not see the whole heap");
            break;
        }
        state.ResumeTiming();
        iters++;
    }
    if (!iters)
        return;
    double objs = double(kObjects) * double(iters);
    state.counters["ns_per_object"] = first_ns / objs;
    state.counters["later_ns_per_object"] = percentile(later, 0.5) / double(kObjects);
    state.counters["later_cpu_ns_per_object"] = percentile(later_cpu, 0.5) / double(kObjects);
    state.counters["stw_ns_per_object"] = stw_ns / objs;
    state.counters["cpu_ns_per_object"] = cpu_ns / objs;
    state.counters["pass_a_ns_per_object"] = pass_a_ns / objs;
    state.counters["pass_b_ns_per_object"] = pass_b_ns / objs;
    state.counters["objects"] = double(kObjects);
}

void BM_cycle_reclaim(benchmark::State &state)
{
    quiesce();
    double total_ns = 0, cpu_ns = 0;
    uint64_t iters = 0, reclaimed = 0;
    for (auto _ : state) {
        for (size_t i = 0; i < kObjects / 2; i++) {
            tally_object *a = tally_list_new();
            tally_object *b = tally_list_new();
            tally_list_append(b, a);
            tally_list_append(a, b);
            tally_decref(a);
            tally_decref(b);
        }
        tally_flush();
        auto t0 = Clock::now();
        double c0 = thread_cpu_ns();
        intptr_t n = tally_gc_collect(0);
        tally_flush();
        cpu_ns += thread_cpu_ns() - c0;
        double ns = since_ns(t0);
        state.SetIterationTime(ns / 1e9);
        total_ns += ns;
        reclaimed += (uint64_t)n;
        iters++;
    }
    if (reclaimed != kObjects * iters)
        state.SkipWithError("the collection did not reclaim every cycle");
    state.counters["ns_per_object"] = total_ns / (double(kObjects) * double(iters));
    state.counters["cpu_ns_per_object"] = cpu_ns / (double(kObjects) * double(iters));
    state.counters["objects"] = double(kObjects);
    quiesce();
}

void BM_seq_read(benchmark::State &state)
{
    constexpr size_t kBytes = size_t(256) << 20;
    std::vector<uint64_t> buf(kBytes / sizeof(uint64_t), 1);   // written: every page is mapped
    double total_ns = 0;
    uint64_t iters = 0, sum = 0;
    for (auto _ : state) {
        auto t0 = Clock::now();
        for (size_t i = 0; i < buf.size(); i += 64 / sizeof(uint64_t))
            sum += buf[i];
        double ns = since_ns(t0);
        state.SetIterationTime(ns / 1e9);
        total_ns += ns;
        iters++;
    }
    benchmark::DoNotOptimize(sum);
    state.counters["gb_per_s"] = double(kBytes) * double(iters) / total_ns;
}

double percentile(std::vector<double> v, double q)
{
    if (v.empty())
        return 0;
    std::sort(v.begin(), v.end());
    size_t i = (size_t)(q * double(v.size() - 1) + 0.5);
    return v[std::min(i, v.size() - 1)];
}

void BM_young_pause(benchmark::State &state, size_t old)
{
    quiesce();
    tally_object *holder = old ? make_live_lists(old) : nullptr;
    tally_gc_collect(0);
    tally_gc_collect(1);                         // the old objects are in gen2
    int saved[3];
    tally_gc_get_threshold(saved);
    std::vector<double> stw, coll;
    constexpr size_t kRing = 1000;
    std::vector<tally_object *> ring(kRing, nullptr);
    for (auto _ : state) {
        tally_gc_set_threshold(2000, 10, 10);
        tally_gc_reset_pauses();
        tally_gc_enable();
        size_t pos = 0;
        auto t0 = Clock::now();
        // About 3,000 collections of 2000 allocations each (about 2,700 of generation 0, and
        // all of them fit in the TALLY_GC_PAUSE_RING records read below).
        for (size_t i = 0; i < 3000000; i++) {
            tally_object *a = tally_list_new();
            tally_object *b = tally_list_new();
            tally_list_append(b, a);
            tally_list_append(a, b);
            if ((i & 7) == 0) {
                tally_xdecref(ring[pos]);
                ring[pos] = tally_newref(a);
                pos = (pos + 1) % kRing;
            }
            tally_decref(a);
            tally_decref(b);
        }
        tally_gc_disable();
        state.SetIterationTime(since_ns(t0) / 1e9);
        static tally_gc_pause recs[TALLY_GC_PAUSE_RING];
        size_t n = tally_gc_get_pauses(recs, TALLY_GC_PAUSE_RING);
        for (size_t i = 0; i < n; i++) {
            if (recs[i].generation != 0)
                continue;
            stw.push_back((double)recs[i].stw_ns / 1e3);
            coll.push_back((double)recs[i].total_ns / 1e3);
        }
    }
    for (tally_object *&o : ring) {
        tally_xdecref(o);
        o = nullptr;
    }
    tally_gc_set_threshold(saved[0], saved[1], saved[2]);
    state.counters["p50_us"] = percentile(stw, 0.50);
    state.counters["p99_us"] = percentile(stw, 0.99);
    state.counters["max_us"] = percentile(stw, 1.0);
    state.counters["collection_p50_us"] = percentile(coll, 0.50);
    state.counters["collection_p99_us"] = percentile(coll, 0.99);
    state.counters["samples"] = (double)stw.size();
    state.counters["old_objects"] = (double)old;
    tally_xdecref(holder);
    quiesce();
}

// ---- CPython side by side ----------------------------------------------------------------------
std::string anchor_script()
{
#ifdef TALLY_PATHS_DATA
    // Installed (PREFIX/libexec/tally/bench_gc_<backend>): PREFIX/share/tally/anchors, relative
    // to this executable; never the source tree that built it.
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = 0;
        std::string dir(exe);
        dir = dir.substr(0, dir.rfind('/'));
        struct stat st;
        std::string data = dir + "/" TALLY_PATHS_DATA;
        if (stat(data.c_str(), &st) == 0 && S_ISDIR(st.st_mode))
            return data + "/anchors/cpython_gc.py";
    }
#endif
    // Build tree: beside this source file.
    std::string here = __FILE__;   // .../stress/micro/bench_gc.cc
    size_t cut = here.rfind("/micro/");
    if (cut == std::string::npos)
        return "stress/anchors/cpython_gc.py";
    return here.substr(0, cut) + "/anchors/cpython_gc.py";
}

void print_cpython_side_by_side(const std::vector<std::pair<std::string, double>> &ours)
{
    std::string script = anchor_script();
    if (access(script.c_str(), R_OK) != 0) {
        std::fprintf(stderr, "cpython anchor: %s not found\n", script.c_str());
        return;
    }
    std::string cmd = "python3 '" + script + "' 2>/dev/null";
    FILE *p = popen(cmd.c_str(), "r");
    if (!p) {
        std::fprintf(stderr, "cpython anchor: python3 not available\n");
        return;
    }
    std::string out;
    char buf[4096];
    size_t k;
    while ((k = fread(buf, 1, sizeof buf, p)) > 0)
        out.append(buf, k);
    if (pclose(p) != 0 || out.empty()) {
        std::fprintf(stderr, "cpython anchor: python3 failed or is missing\n");
        return;
    }
    auto num = [&](const char *key) {
        std::string pat = std::string("\"") + key + "\": ";
        size_t at = out.find(pat);
        return at == std::string::npos ? -1.0 : std::atof(out.c_str() + at + pat.size());
    };
    std::fprintf(stderr, "\n%-44s %14s %14s\n", "shape (same graph)", std::string("tally-").append(tally_backend()).c_str(), "CPython");
    for (auto &row : ours)
        std::fprintf(stderr, "%-44s %14.2f %14.2f\n", row.first.c_str(), row.second, num(row.first.c_str()));
    std::fprintf(stderr, "(CPython %s; raw: %s)\n", std::to_string((int)num("python_version_hex")).c_str(), out.c_str());
}

class Capture : public benchmark::ConsoleReporter {
  public:
    std::vector<std::pair<std::string, double>> rows;   // one per key: a later median replaces
    void set(const std::string &k, double v)
    {
        for (auto &r : rows)
            if (r.first == k) {
                r.second = v;
                return;
            }
        rows.push_back({ k, v });
    }
    void ReportRuns(const std::vector<Run> &runs) override
    {
        ConsoleReporter::ReportRuns(runs);
        for (const Run &r : runs) {
            if (r.run_type == Run::RT_Aggregate && r.aggregate_name != "median")
                continue;
            std::string name = r.benchmark_name();
            auto get = [&](const char *c) {
                auto it = r.counters.find(c);
                return it == r.counters.end() ? -1.0 : double(it->second);
            };
            if (name.find("gc/full") == 0)
                {
                set("full_ns_per_object", get("ns_per_object"));
                set("full_cpu_ns_per_object", get("cpu_ns_per_object"));
            }
            else if (name.find("gc/cycle_reclaim") == 0)
                {
                set("cycle_ns_per_object", get("ns_per_object"));
                set("cycle_cpu_ns_per_object", get("cpu_ns_per_object"));
            }
            else if (name.find("old:0") != std::string::npos) {
                set("young_old0_p50_us", get("collection_p50_us"));
                set("young_old0_p99_us", get("collection_p99_us"));
            } else if (name.find("old:1M") != std::string::npos) {
                set("young_old1M_p50_us", get("collection_p50_us"));
                set("young_old1M_p99_us", get("collection_p99_us"));
            }
        }
    }
};

}  // namespace

int main(int argc, char **argv)
{
    bool json = false;
    for (int i = 1; i < argc; i++)
        if (std::strstr(argv[i], "--benchmark_format=json") || std::strstr(argv[i], "--benchmark_out"))
            json = true;
    benchmark::Initialize(&argc, argv);
    if (tally_init(nullptr) != 0) {
        std::fprintf(stderr, "tally_init: %s\n", tally_last_error());
        return 1;
    }
    benchmark::RegisterBenchmark("gc/full/live:1000000", BM_full)->UseManualTime()->Iterations(5)->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark("gc/first_collection/flat:1000000", BM_first_collection, Shape::flat)->UseManualTime()->Iterations(3)->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark("gc/first_collection/chain:1000000", BM_first_collection, Shape::chain)->UseManualTime()->Iterations(3)->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark("gc/cycle_reclaim/objects:1000000", BM_cycle_reclaim)->UseManualTime()->Iterations(3)->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark("anchor/seq_read/bytes:256M", BM_seq_read)->UseManualTime()->Iterations(5)->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark("gc/young_pause/old:0", BM_young_pause, size_t(0))->UseManualTime()->Iterations(1)->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark("gc/young_pause/old:1M", BM_young_pause, kObjects)->UseManualTime()->Iterations(1)->Unit(benchmark::kMillisecond);
    const char *skip = std::getenv("TALLY_BENCH_NO_CPYTHON");
    if (json || (skip && *skip && std::strcmp(skip, "0") != 0)) {
        benchmark::RunSpecifiedBenchmarks();
    } else {
        Capture rep;
        benchmark::RunSpecifiedBenchmarks(&rep);
        print_cpython_side_by_side(rep.rows);
    }
    benchmark::Shutdown();
    tally_fini();
    return 0;
}
