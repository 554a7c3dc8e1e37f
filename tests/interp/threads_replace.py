# values replaced while other threads read them without a lock: instance attributes, dict
# values, globals, and dicts resized meanwhile (the lock-free reads and the delayed decrefs)
import threading
class Obj:
    pass
shared = Obj()
shared.val = [0]
cfg = {"a": [1]}
g = [2]
def writer(i):
    global g
    for k in range(10000):
        shared.val = [k, i]          # instance attribute replaced
        cfg["a"] = [k]               # dict value replaced
        g = (k, i)                   # global replaced
        if k % 100 == 0:
            cfg["tmp%d" % (k % 700)] = k     # grow/resize the dict
            setattr(shared, "x%d" % (k % 300), k)
def reader(i):
    s = 0
    for k in range(10000):
        s += len(shared.val) + len(cfg["a"]) + len(g) + len(cfg.get("a", ()))
    return s
ts = [threading.Thread(target=writer, args=(0,)), threading.Thread(target=reader, args=(1,)),
      threading.Thread(target=reader, args=(2,)), threading.Thread(target=writer, args=(3,))]
for t in ts: t.start()
for t in ts: t.join()
print("ok", len(shared.val), len(g))
