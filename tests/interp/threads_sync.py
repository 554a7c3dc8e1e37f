# threading's Condition, Event, Semaphore, BoundedSemaphore, Barrier and Timer
import threading
import time

# Event: workers wait for the start signal, then report in
start = threading.Event()
print("event initially", start.is_set(), start.wait(0.01))
arrived = []
lock = threading.Lock()
def runner(i):
    start.wait()
    with lock:
        arrived.append(i)
ts = [threading.Thread(target=runner, args=(i,)) for i in range(4)]
for t in ts:
    t.start()
with lock:
    print("before set", arrived)
start.set()
for t in ts:
    t.join()
print("after set", sorted(arrived), start.is_set(), start.wait(0))
start.clear()
print("cleared", start.is_set())

# Condition: a bounded buffer, one producer and two consumers
cond = threading.Condition()
buf = []
done = []
consumed = [[], []]
def producer():
    for k in range(40):
        with cond:
            cond.wait_for(lambda: len(buf) < 5)
            buf.append(k)
            cond.notify_all()
    with cond:
        done.append(True)
        cond.notify_all()
def consumer(i):
    while True:
        with cond:
            cond.wait_for(lambda: buf or done)
            if not buf:
                return
            consumed[i].append(buf.pop(0))
            cond.notify_all()
ts = [threading.Thread(target=producer)] + [threading.Thread(target=consumer, args=(i,)) for i in range(2)]
for t in ts:
    t.start()
for t in ts:
    t.join()
print("condition", sorted(consumed[0] + consumed[1]) == list(range(40)), len(buf))
with cond:
    print("wait timeout", cond.wait(0.01))
try:
    cond.notify()
except RuntimeError as e:
    print("RuntimeError:", e)

# Semaphore: at most 2 workers inside at once
sem = threading.Semaphore(2)
inside = [0]
peak = [0]
def limited(i):
    with sem:
        with lock:
            inside[0] += 1
            peak[0] = max(peak[0], inside[0])
        time.sleep(0.002)
        with lock:
            inside[0] -= 1
ts = [threading.Thread(target=limited, args=(i,)) for i in range(6)]
for t in ts:
    t.start()
for t in ts:
    t.join()
print("semaphore peak <= 2", peak[0] <= 2, inside[0])
print("non-blocking", sem.acquire(False), sem.acquire(False), sem.acquire(False))
sem.release(2)
b = threading.BoundedSemaphore(1)
b.acquire()
b.release()
try:
    b.release()
except ValueError as e:
    print("ValueError:", e)

# Barrier: three phases, every thread finishes phase k before any starts k + 1
barrier = threading.Barrier(3)
log = []
def phased(i):
    for phase in range(3):
        with lock:
            log.append(phase)
        barrier.wait()
ts = [threading.Thread(target=phased, args=(i,)) for i in range(3)]
for t in ts:
    t.start()
for t in ts:
    t.join()
print("barrier", log == sorted(log), len(log), barrier.parties)

# Timer: one fires, one is cancelled
fired = []
t1 = threading.Timer(0.01, fired.append, args=("fired",))
t2 = threading.Timer(5.0, fired.append, args=("cancelled",))
t1.start()
t2.start()
t2.cancel()
t1.join()
t2.join()
print("timer", fired)
