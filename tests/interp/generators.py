# generators: yield, iteration, next, StopIteration, return, send, close, finally on drop
def count(n):
    i = 0
    while i < n:
        yield i
        i += 1

print(list(count(5)))
for x in count(3):
    print("x", x)

g = count(2)
print(next(g), next(g))
try:
    next(g)
except StopIteration as e:
    print("stop", e.args)
print(next(g, "default"))
print(iter(g) is g)

def ret():
    yield 1
    return "done"

r = ret()
print(next(r))
try:
    next(r)
except StopIteration as e:
    print("returned", e.args)

def echo():
    got = yield "first"
    while True:
        got = yield "got %s" % (got,)

e = echo()
print(next(e))
print(e.send(1))
print(e.send("two"))
e.close()
try:
    next(e)
except StopIteration:
    print("closed")

def fin(tag):
    try:
        yield 1
        yield 2
    finally:
        print("finally", tag)

f = fin("a")
print(next(f))
f.close()
f = fin("c")
for v in f:
    print("v", v)

def with_cm():
    class CM:
        def __enter__(self):
            print("enter")
            return self
        def __exit__(self, t, v, tb):
            print("exit", t is GeneratorExit)
            return False
    with CM():
        yield "in with"

w = with_cm()
print(next(w))
w.close()
print("w closed")

def pep479():
    yield 1
    raise StopIteration("inner")

try:
    list(pep479())
except RuntimeError as err:
    print("RuntimeError:", err)

def raiser():
    yield 1
    raise ValueError("boom")

try:
    for v in raiser():
        print("got", v)
except ValueError as err:
    print("ValueError:", err)

def fib():
    a, b = 0, 1
    while True:
        yield a
        a, b = b, a + b

out = []
for v in fib():
    if v > 100:
        break
    out.append(v)
print(out)

def nested(n):
    for i in range(n):
        for j in count(i):
            yield (i, j)

print(list(nested(4)))

def gen_args(a, *rest, k=10, **kw):
    yield a
    yield rest
    yield k
    yield sorted(kw.items())

print(list(gen_args(1, 2, 3, k=4, z=5)))

class Tree:
    def __init__(self, v, kids=()):
        self.v = v
        self.kids = kids
    def walk(self):
        yield self.v
        for k in self.kids:
            for v in k.walk():
                yield v

t = Tree(1, [Tree(2, [Tree(3)]), Tree(4)])
print(list(t.walk()))

def closure_gen():
    total = 0
    def add(x):
        nonlocal total
        total += x
        return total
    for i in range(4):
        yield add(i)

print(list(closure_gen()))

def running():
    yield next(me)

me = running()
try:
    next(me)
except ValueError as err:
    print("ValueError:", err)

def exc_in_gen():
    try:
        yield 1
        1 / 0
    except ZeroDivisionError:
        yield "caught"
        raise
    yield "never"

eg = exc_in_gen()
print(next(eg), next(eg))
try:
    next(eg)
except ZeroDivisionError as err:
    print("reraised", err)

print(sum(count(101)), max(count(7)), sorted(count(4), reverse=True))
print(dict(zip(count(3), "abc")), list(enumerate(count(3))))
a, b, c = count(3)
print(a, b, c)

def never_started():
    try:
        yield 1
    finally:
        print("never printed")

ns = never_started()
ns.close()
print("end")
