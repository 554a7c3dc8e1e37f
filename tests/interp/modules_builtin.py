import math
from math import sqrt, pi, floor, ceil
import random
import time
import gc
import sys

print(sqrt(16), math.sin(0), math.cos(0), round(math.tan(1), 6), math.atan2(1, 1) * 4 == pi)
print(math.log(math.e), math.log(8, 2), math.exp(0), math.floor(-2.5), math.ceil(2.1), floor(7), ceil(-0.5))
print(math.inf, -math.inf, math.isfinite(1.0), math.isfinite(math.inf), pi)
for bad in (lambda: sqrt(-1), lambda: math.log(0), lambda: math.exp(1000), lambda: floor(math.inf)):
    try:
        bad()
    except (ValueError, OverflowError) as e:
        print(type(e).__name__, e)

random.seed(1)
print(random.random(), random.randint(1, 100))
random.seed(12345)
print([random.randint(1, 6) for _ in range(10)])
print([random.randrange(10) for _ in range(5)], random.randrange(5, 50, 5), random.randrange(10, 0, -3))
xs = list(range(10))
random.shuffle(xs)
print(xs, random.choice("abcdef"), random.choice([10, 20, 30]))
random.seed(2 ** 40 + 7)
print(random.random(), random.getrandbits(20), random.getrandbits(40))
random.seed(-5)
a = random.random()
random.seed(5)
print(a == random.random(), random.uniform(1, 2))
random.seed(0)
print(random.random())
try:
    random.choice([])
except IndexError as e:
    print("IndexError", e)
try:
    random.randrange(0)
except ValueError as e:
    print("ValueError", e)

t0 = time.perf_counter()
n0 = time.perf_counter_ns()
time.sleep(0.01)
print(time.perf_counter() - t0 >= 0.009, time.perf_counter_ns() - n0 >= 9000000, time.time() > 1.6e9)

print(gc.isenabled())
gc.disable()
print(gc.isenabled())
gc.enable()
print(gc.isenabled(), gc.garbage, len(gc.get_count()))
old = gc.get_threshold()
gc.set_threshold(500, 5)
print(gc.get_threshold()[:2])
gc.set_threshold(*old)
print(gc.get_threshold() == old)

class Node:
    def __init__(self):
        self.me = self

for i in range(100):
    Node()
print(gc.collect() >= 100, gc.collect())
gc.freeze()
gc.unfreeze()

def fin(tag):
    try:
        yield 1
    finally:
        print("finally", tag)

f = fin("dropped")
next(f)
del f
gc.collect()
print("after del")

def cyc():
    me = yield 1
    try:
        yield 2
    finally:
        print("cycle finally")

c = cyc()
next(c)
c.send(c)
c = None
print("before collect")
gc.collect()
print("after collect")
print(sys.maxsize, sys.platform, sys.maxsize == 9223372036854775807)
print(sys.modules["math"] is math, __import__("random") is random)
import math as m2
print(m2 is math)
try:
    import no_such_module
except ImportError as e:
    print(type(e).__name__, e)
