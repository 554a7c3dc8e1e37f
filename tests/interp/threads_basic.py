# threading: Thread (target, args, kwargs, name, daemon, subclass with run), start/join,
# idents, current_thread, is_alive, errors; Lock and RLock; threading.local
import threading
import time


def partial_sum(lo, hi, out, slot, scale=1):
    s = 0
    for k in range(lo, hi):
        s += k * k
    out[slot] = s * scale


# partial results joined in order
out = [None] * 4
threads = []
for i in range(4):
    t = threading.Thread(target=partial_sum, args=(i * 2500, (i + 1) * 2500, out, i), kwargs={"scale": 2})
    threads.append(t)
for t in threads:
    t.start()
for t in threads:
    t.join()
print("partials", out)
print("total", sum(out), 2 * sum(k * k for k in range(10000)))
print("names", [t.name for t in threads])
print("idents", all(type(t.ident) is int for t in threads), threads[0].ident != threading.get_ident())
print("alive after join", [t.is_alive() for t in threads])

# name, daemon, subclass overriding run, current_thread inside the thread
class Worker(threading.Thread):
    def __init__(self, n):
        super().__init__(name="worker-%d" % n)
        self.n = n
        self.result = None
        self.seen_name = None

    def run(self):
        self.seen_name = threading.current_thread().name
        self.seen_ident = threading.get_ident()
        self.result = [self.n * k for k in range(5)]


ws = [Worker(n) for n in range(3)]
for w in ws:
    w.start()
for w in ws:
    w.join()
for w in ws:
    print(w.name, w.seen_name, w.result, w.seen_ident == w.ident)

hold = threading.Lock()
hold.acquire()
d = threading.Thread(target=hold.acquire, daemon=True)
print("daemon", d.daemon, threading.Thread(target=print).daemon)
d.start()
print("alive while blocked", d.is_alive())
hold.release()
d.join()
print("alive after", d.is_alive())
d.join()   # a second join returns at once
print("main", threading.current_thread().name, threading.main_thread() is threading.current_thread())
print("current ident", threading.current_thread().ident == threading.get_ident())

# errors
t = threading.Thread(target=print, args=("ran once",))
try:
    t.join()
except RuntimeError as e:
    print("RuntimeError:", e)
t.start()
t.join()
try:
    t.start()
except RuntimeError as e:
    print("RuntimeError:", e)

# Lock
lock = threading.Lock()
print("locked", lock.locked())
print("acquire", lock.acquire(), lock.locked())
print("try again", lock.acquire(False), lock.acquire(blocking=False))
print("timed", lock.acquire(timeout=0.01))
lock.release()
print("released", lock.locked())
try:
    lock.release()
except RuntimeError as e:
    print("RuntimeError:", e)
with lock:
    print("in with", lock.locked())
print("after with", lock.locked())
try:
    with lock:
        raise ValueError("inside")
except ValueError as e:
    print("ValueError:", e, lock.locked())

# a lock released by another thread (a Lock has no owner)
gate = threading.Lock()
gate.acquire()
opened = []
def opener():
    opened.append(1)
    gate.release()
t = threading.Thread(target=opener)
t.start()
gate.acquire()   # blocks until the thread releases it
print("gate opened by thread", opened)
t.join()
gate.release()

# RLock
r = threading.RLock()
with r:
    with r:
        print("rlock nested", r.acquire(False))
        r.release()
def not_owner():
    try:
        r.release()
    except RuntimeError as e:
        print("RuntimeError:", e)
r.acquire()
t = threading.Thread(target=not_owner)
t.start()
t.join()
r.release()
try:
    r.release()
except RuntimeError as e:
    print("RuntimeError:", e)

# threading.local
loc = threading.local()
loc.x = "main"
seen = {}
def use_local(i):
    print_lock = None
    try:
        loc.x
        seen[i] = "leaked"
    except AttributeError:
        seen[i] = "fresh"
    loc.x = i
    loc.y = [i] * 2
    time.sleep(0.001)
    seen[i] = (seen[i], loc.x, loc.y)
ts = [threading.Thread(target=use_local, args=(i,)) for i in range(4)]
for t in ts:
    t.start()
for t in ts:
    t.join()
print("local", sorted(seen.items()))
print("main local", loc.x, hasattr(loc, "y"))
try:
    loc.nothing
except AttributeError as e:
    print("AttributeError:", e)
print("active", threading.active_count(), len(threading.enumerate()))
