# threads sharing objects: a counter, a list, a dict, an instance and a closure cell, each
# updated under a Lock; many short threads; module functions and globals read by every thread
import threading
import time

N = 4
ROUNDS = 3000

counter = 0
lock = threading.Lock()


def bump_global(n):
    global counter
    for _ in range(n):
        with lock:
            counter += 1


ts = [threading.Thread(target=bump_global, args=(ROUNDS,)) for _ in range(N)]
for t in ts:
    t.start()
for t in ts:
    t.join()
print("global counter", counter, counter == N * ROUNDS)

# a list appended under a lock, then sorted
shared = []
def append_squares(start):
    for k in range(start, start + 200):
        with lock:
            shared.append(k * k)
ts = [threading.Thread(target=append_squares, args=(i * 200,)) for i in range(N)]
for t in ts:
    t.start()
for t in ts:
    t.join()
shared.sort()
print("list", len(shared), shared[:5], shared[-1], shared == [k * k for k in range(N * 200)])

# a dict: each thread counts words into one shared dict
words = "the quick brown fox jumps over the lazy dog the end".split()
freq = {}
def count_words(times):
    for _ in range(times):
        for w in words:
            with lock:
                freq[w] = freq.get(w, 0) + 1
ts = [threading.Thread(target=count_words, args=(50,)) for _ in range(N)]
for t in ts:
    t.start()
for t in ts:
    t.join()
print("dict", sorted(freq.items()))

# one instance: attribute updates under the object's own lock; a method called by every thread
class Account:
    def __init__(self):
        self.balance = 0
        self.lock = threading.RLock()
        self.history = []

    def deposit(self, amount):
        with self.lock:
            self.balance += amount
            self.record(amount)

    def record(self, amount):
        with self.lock:   # re-entered: an RLock
            self.history.append(amount)


acct = Account()
def depositor(amount):
    for _ in range(500):
        acct.deposit(amount)
ts = [threading.Thread(target=depositor, args=(a,)) for a in (1, 2, 3, 4)]
for t in ts:
    t.start()
for t in ts:
    t.join()
print("account", acct.balance, len(acct.history), sum(acct.history))

# a closure cell (nonlocal) updated under a lock
def make_counter():
    total = 0
    def add(k):
        nonlocal total
        with lock:
            total += k
    def get():
        return total
    return add, get
add, get = make_counter()
def adder():
    for k in range(1000):
        add(k)
ts = [threading.Thread(target=adder) for _ in range(N)]
for t in ts:
    t.start()
for t in ts:
    t.join()
print("closure", get(), N * sum(range(1000)))

# many short threads, each with its own result slot
results = [0] * 64
def square(i):
    results[i] = i * i
for i in range(64):
    t = threading.Thread(target=square, args=(i,))
    t.start()
    t.join()
batch = [threading.Thread(target=square, args=(i,)) for i in range(64)]
results = [0] * 64
for t in batch:
    t.start()
for t in batch:
    t.join()
print("short threads", sum(results), results[:6])

# threading.local: each thread keeps its own running state across calls
state = threading.local()
def step(k):
    if not hasattr(state, "acc"):
        state.acc = []
    state.acc.append(k)
    return len(state.acc)
per_thread = {}
def local_worker(i):
    for k in range(i * 10, i * 10 + 10):
        step(k)
    time.sleep(0.001)
    with lock:
        per_thread[i] = (len(state.acc), state.acc[0], state.acc[-1])
ts = [threading.Thread(target=local_worker, args=(i,)) for i in range(N)]
for t in ts:
    t.start()
for t in ts:
    t.join()
print("locals", sorted(per_thread.items()), hasattr(state, "acc"))

# generators and exceptions inside threads
def gen_worker(i, out):
    def g(n):
        for k in range(n):
            yield k * i
    try:
        out[i] = sum(g(100))
        raise KeyError(i)
    except KeyError as e:
        out[i] = (out[i], "caught", e.args[0])
out = [None] * N
ts = [threading.Thread(target=gen_worker, args=(i, out)) for i in range(N)]
for t in ts:
    t.start()
for t in ts:
    t.join()
print("generators", out)
