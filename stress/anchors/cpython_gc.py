#!/usr/bin/env python3
"""stress/anchors/cpython_gc.py - CPython's own cycle collector on bench_gc's graph shapes.

Owns: the CPython anchor of stress/micro/bench_gc.cc.  Same shapes, same sizes:
  full_ns_per_object   gc.collect(2) over 1,000,000 live lists [0] (plus their holder list),
                       all in the oldest generation; median of 5 collections.
  cycle_ns_per_object  500,000 garbage 2-cycles of lists (a=[]; b=[a]; a.append(b)) reclaimed by
                       one gc.collect(0) (find + clear + free); median of 3.
  *_cpu_ns_per_object  the same, in CPU time of the collecting thread (time.thread_time_ns).
  young_old{0,1M}_p{50,99}_us  automatic generation-0 collections at threshold 2000 while a loop
                       builds and drops 2-cycles and keeps one object in 8 in a ring of 1,000,
                       with 0 or 1,000,000 live old objects; each collection timed from the
                       gc.callbacks "start" to "stop" (the whole collection: the GIL is held).
Prints one JSON object on stdout.
"""
import gc
import json
import statistics
import sys
import time

N = 1_000_000


def make_live_lists(n):
    return [[0] for _ in range(n)]


def full():
    gc.disable()
    gc.collect()
    holder = make_live_lists(N)
    gc.collect()
    times, cpu = [], []
    for _ in range(5):
        t0, c0 = time.perf_counter_ns(), time.thread_time_ns()
        gc.collect(2)
        cpu.append(time.thread_time_ns() - c0)
        times.append(time.perf_counter_ns() - t0)
    del holder
    gc.collect()
    return statistics.median(times) / (N + 1), statistics.median(cpu) / (N + 1), times


def cycles():
    gc.disable()
    gc.collect()
    times, cpu = [], []
    for _ in range(3):
        for _ in range(N // 2):
            a = []
            b = [a]
            a.append(b)
        del a, b
        t0, c0 = time.perf_counter_ns(), time.thread_time_ns()
        n = gc.collect(0)
        cpu.append(time.thread_time_ns() - c0)
        times.append(time.perf_counter_ns() - t0)
        assert n >= N, n
    return statistics.median(times) / N, statistics.median(cpu) / N, times


def percentile(v, q):
    v = sorted(v)
    if not v:
        return 0.0
    i = int(q * (len(v) - 1) + 0.5)
    return v[min(i, len(v) - 1)]


def young(old_count):
    gc.disable()
    gc.collect()
    holder = make_live_lists(old_count) if old_count else None
    gc.collect()
    samples = []
    start = [0]

    def cb(phase, info):
        if info["generation"] != 0:
            return
        if phase == "start":
            start[0] = time.perf_counter_ns()
        else:
            samples.append((time.perf_counter_ns() - start[0]) / 1e3)

    old_threshold = gc.get_threshold()
    gc.set_threshold(2000, 10, 10)
    gc.callbacks.append(cb)
    ring = [None] * 1000
    pos = 0
    gc.enable()
    for i in range(400_000):
        a = []
        b = [a]
        a.append(b)
        if (i & 7) == 0:
            ring[pos] = a
            pos = (pos + 1) % 1000
        del a, b
    gc.disable()
    gc.callbacks.remove(cb)
    gc.set_threshold(*old_threshold)
    del ring, holder
    gc.collect()
    return percentile(samples, 0.5), percentile(samples, 0.99), len(samples)


def main():
    res = {"python_version": sys.version.split()[0], "python_version_hex": sys.hexversion,
           "implementation": sys.implementation.name}
    res["full_ns_per_object"], res["full_cpu_ns_per_object"], res["full_times_ns"] = full()
    res["cycle_ns_per_object"], res["cycle_cpu_ns_per_object"], res["cycle_times_ns"] = cycles()
    p50, p99, n = young(0)
    res.update(young_old0_p50_us=p50, young_old0_p99_us=p99, young_old0_samples=n)
    p50, p99, n = young(N)
    res.update(young_old1M_p50_us=p50, young_old1M_p99_us=p99, young_old1M_samples=n)
    print(json.dumps(res))


if __name__ == "__main__":
    main()
