# Closures and lambdas: captured parameters and locals, nonlocal counters, closures that
# outlive their frame, late binding, lambdas as keys, comprehension variables that do not
# leak, nested functions three levels deep, a closure in a class method.
def make_adder(n):
    def add(x):
        return x + n
    return add

add3 = make_adder(3)
add10 = make_adder(10)
print(add3(1), add10(1), make_adder(-1)(1))

def counter():
    count = 0
    def inc(step=1):
        nonlocal count
        count += step
        return count
    return inc

c1 = counter()
c2 = counter()
c1()
c1()
c2(5)
print(c1(), c2())

def outer():
    x = "outer"
    def middle():
        def inner():
            return x + "!"
        return inner()
    x = "rebound"
    return middle()

print(outer())

def late():
    fs = []
    for i in range(3):
        fs.append(lambda: i)
    return [f() for f in fs]

def early():
    return [(lambda j=i: j)() for i in range(3)]

print(late(), early())

square = lambda v: v * v
pairs = [(3, "c"), (1, "a"), (2, "b")]
print(square(7), sorted(pairs, key=lambda p: p[1]), max(pairs, key=lambda p: -p[0]))
print((lambda a, b=2: a * b)(5), (lambda: "no args")())

x = "global x"
squares = [x * x for x in range(5)]
print(squares, x)

def comp_in_function(k):
    y = 2
    return [y * k + i for i in range(3) if i != 1]

print(comp_in_function(10))

def make_ops():
    base = 100
    ops = {}
    ops["add"] = lambda v: base + v
    ops["sub"] = lambda v: base - v
    def reset(v):
        nonlocal base
        base = v
    ops["reset"] = reset
    return ops

ops = make_ops()
print(ops["add"](1), ops["sub"](1))
ops["reset"](0)
print(ops["add"](1), ops["sub"](1))

def accumulate():
    total = []
    def push(v):
        total.append(v)
        return len(total)
    return push, total

push, seen = accumulate()
push("a")
push("b")
print(seen)

class Registry:
    def __init__(self):
        self.handlers = []

    def on(self, name):
        def register(fn):
            self.handlers.append((name, fn))
            return fn
        return register

reg = Registry()

def hello(v):
    return "hello " + v

reg.on("greet")(hello)
print([(n, f("you")) for n, f in reg.handlers])

def fib_memo():
    memo = {}
    def fib(n):
        if n in memo:
            return memo[n]
        r = n if n < 2 else fib(n - 1) + fib(n - 2)
        memo[n] = r
        return r
    return fib

print(fib_memo()(80))
