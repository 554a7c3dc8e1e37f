# Functions: defaults, keyword arguments, recursion, return values, globals, functions as
# values, and the TypeErrors of bad calls.
def add(a, b=10, c=100):
    return a + b + c

print(add(1), add(1, 2), add(1, 2, 3), add(1, c=3), add(c=1, b=2, a=3), add(a=5))

def fact(n):
    if n <= 1:
        return 1
    return n * fact(n - 1)

def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)

print(fact(20), fib(22), [fib(i) for i in range(10)])

def ackermann(m, n):
    if m == 0:
        return n + 1
    if n == 0:
        return ackermann(m - 1, 1)
    return ackermann(m - 1, ackermann(m, n - 1))

print(ackermann(2, 3))

counter = 0
def bump(step=1):
    global counter
    counter += step
    return counter

bump()
bump(5)
print(counter, bump(step=-2))

def no_return():
    pass

def early(x):
    if x:
        return "early"
    print("late")

print(no_return(), early(1), early(0))

def apply(f):
    return f(3)

def twice(x):
    return x * 2

ops = [twice, fact, abs, str]
print([apply(f) for f in ops], twice.__name__, len.__name__)

def multi():
    return 1, "two", [3]

x, y, z = multi()
print(x, y, z, multi())

def mutate(lst, d):
    lst.append(len(lst))
    d["n"] = d.get("n", 0) + 1

L = []
D = {}
for _ in range(3):
    mutate(L, D)
print(L, D)

def hanoi(n, a, b, c, moves):
    if n:
        hanoi(n - 1, a, c, b, moves)
        moves.append((a, c))
        hanoi(n - 1, b, a, c, moves)
    return moves

print(len(hanoi(10, "A", "B", "C", [])), hanoi(2, "A", "B", "C", []))

def check(call):
    try:
        call()
    except TypeError as e:
        print("TypeError:", e)

def f2(a, b=1):
    return a

def too_many():
    return f2(1, 2, 3)
def missing():
    return f2()
def unexpected():
    return f2(1, z=2)
def duplicate():
    return f2(1, a=2)
def not_callable():
    nothing = None
    return nothing()
for c in (too_many, missing, unexpected, duplicate, not_callable):
    check(c)
