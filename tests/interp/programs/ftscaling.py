# The contention patterns of CPython's Tools/ftscalingbench, plus three on one shared object:
# each pattern runs N copies of one worker in N threads; every copy returns a checksum that is
# checked against the value one copy must produce, and the time of the whole run is printed to
# stderr with --time (stdout stays deterministic, so the test compares it with python3's).
#   python3 ftscaling.py [--threads N] [--iters K] [--pattern NAME] [--time]
import sys
import threading
import time

ITERS = 2000
THREADS = 2


# ---- private objects and module-level callables -----------------------------------------------
class MyObject:
    def __init__(self, v):
        self.v = v

    def method(self, k):
        return self.v + k


def module_function(k):
    return k + 1


def object_method(iters):
    obj = MyObject(3)       # private to the thread
    s = 0
    for k in range(iters):
        s += obj.method(k)
    return s


def pyfunction(iters):
    s = 0
    for k in range(iters):
        s += module_function(k)
    return s


def create_object(iters):
    s = 0
    for k in range(iters):
        o = MyObject(k)
        s += o.v
    return s


def create_closure(iters):
    s = 0
    for k in range(iters):
        def inner(x, k=k):
            return x + k
        s += inner(1)
    return s


def create_dict(iters):
    s = 0
    for k in range(iters):
        d = {"a": k, "b": 2, "c": 3}
        s += d["a"] + len(d)
    return s


def list_pop_append(iters):
    lst = [0, 1, 2, 3]
    s = 0
    for k in range(iters):
        lst.append(k)
        s += lst.pop()
    return s + len(lst)


local_data = threading.local()


def thread_local_read(iters):
    local_data.x = 5
    s = 0
    for k in range(iters):
        s += local_data.x
    return s


# ---- one object shared by every thread ----------------------------------------------------------
shared_obj = MyObject(7)
shared_dict = {"key%d" % i: i for i in range(16)}


def shared_attr_read(iters):
    s = 0
    for k in range(iters):
        s += shared_obj.v
    return s


def shared_method_call(iters):
    s = 0
    for k in range(iters):
        s += shared_obj.method(1)
    return s


def shared_dict_get(iters):
    s = 0
    for k in range(iters):
        s += shared_dict.get("key7", 0) + shared_dict.get("nope", 1)
    return s


PATTERNS = [
    ("object_method", object_method, lambda n: 3 * n + n * (n - 1) // 2),
    ("pyfunction", pyfunction, lambda n: n * (n - 1) // 2 + n),
    ("create_object", create_object, lambda n: n * (n - 1) // 2),
    ("create_closure", create_closure, lambda n: n * (n - 1) // 2 + n),
    ("create_dict", create_dict, lambda n: n * (n - 1) // 2 + 3 * n),
    ("list_pop_append", list_pop_append, lambda n: n * (n - 1) // 2 + 4),
    ("thread_local_read", thread_local_read, lambda n: 5 * n),
    ("shared_attr_read", shared_attr_read, lambda n: 7 * n),
    ("shared_method_call", shared_method_call, lambda n: 8 * n),
    ("shared_dict_get", shared_dict_get, lambda n: 8 * n),
]


def run(fn, nthreads, iters):
    results = [None] * nthreads

    def worker(i):
        results[i] = fn(iters)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(nthreads)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results, time.perf_counter() - t0


def main(argv):
    nthreads, iters, only, timing = THREADS, ITERS, None, False
    i = 1
    while i < len(argv):
        a = argv[i]
        if a == "--threads":
            nthreads = int(argv[i + 1])
            i += 1
        elif a == "--iters":
            iters = int(argv[i + 1])
            i += 1
        elif a == "--pattern":
            only = argv[i + 1]
            i += 1
        elif a == "--time":
            timing = True
        else:
            print("unknown argument", a, file=sys.stderr)
            return 2
        i += 1
    failures = 0
    for name, fn, expect in PATTERNS:
        if only is not None and name != only:
            continue
        results, secs = run(fn, nthreads, iters)
        want = expect(iters)
        ok = results == [want] * nthreads
        if not ok:
            failures += 1
        print(name, nthreads, "threads", "ok" if ok else "WRONG %r, want %r" % (results, want))
        if timing:
            print("%s %d %.4f" % (name, nthreads, secs), file=sys.stderr)
    return 1 if failures else 0


sys.exit(main(sys.argv))
