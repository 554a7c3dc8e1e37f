# threads touching shared containers without a Python lock: the interpreter must stay
# memory-safe, and what each thread did is still checkable (distinct keys, list appends, ...)
import threading

N = 4
shared_dict = {}
shared_list = []
shared_set = set()


class Box:
    pass


box = Box()
box.value = 0
config = {"scale": 3, "name": "cfg"}
current = "start"


def scaled(k):
    return k * config["scale"]


def worker(i):
    global current
    for k in range(300):
        shared_dict[(i, k)] = scaled(k)      # distinct keys: the dict grows while others read it
        shared_list.append(i)                # list appends from every thread
        shared_set.add(i * 1000 + k)
        setattr(box, "t%d" % i, k)           # each thread its own attribute of one instance
        box.value = k                        # every thread the same attribute: last write wins
        current = str(k)                     # a global replaced by every thread
        if k % 50 == 0:
            _ = len(shared_dict), repr(current), getattr(box, "t%d" % i), config.get("name")
            _ = len(shared_set), i * 1000 + k in shared_set
    snapshot = shared_dict.copy()            # copied while others may still insert
    for key in snapshot:
        if key[0] == i:
            assert shared_dict[key] == key[1] * 3


ts = [threading.Thread(target=worker, args=(i,)) for i in range(N)]
for t in ts:
    t.start()
for t in ts:
    t.join()
print("dict", len(shared_dict), sum(shared_dict.values()))
print("list", len(shared_list), sorted(set(shared_list)), [shared_list.count(i) for i in range(N)])
print("set", len(shared_set))
print("box", [getattr(box, "t%d" % i) for i in range(N)], box.value, current)

# a generator shared by threads: next() from several threads, each value exactly once
def numbers(n):
    for k in range(n):
        yield k


g = numbers(2000)
taken = [[] for _ in range(N)]
errors = []
def consumer(i):
    while True:
        try:
            v = next(g)
        except StopIteration:
            return
        except ValueError:
            continue   # "generator already executing": another thread is in it
        taken[i].append(v)
ts = [threading.Thread(target=consumer, args=(i,)) for i in range(N)]
for t in ts:
    t.start()
for t in ts:
    t.join()
allv = sorted(v for part in taken for v in part)
print("generator", len(allv), allv == list(range(2000)))
