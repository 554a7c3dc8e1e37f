# comprehensions: nested for/if, dict and set comprehensions, generator expressions
m = [[1, 2, 3], [4, 5, 6], [7, 8, 9]]
print([x for row in m for x in row])
print([x * y for x in range(4) if x % 2 for y in range(3) if y])
print([(i, j) for i in range(3) for j in range(i)])
print([[r[i] for r in m] for i in range(3)])
print({x % 3 for x in range(10)})
print(sorted({c for c in "mississippi"}))
print({k: v for k, v in zip("abc", range(3))})
print({x: x * x for x in range(6) if x != 3})
print({(a, b): a + b for a in range(2) for b in range(2)})
g = (x * x for x in range(5))
print(next(g), list(g))
print(sum(x for x in range(10) if x % 2 == 0))
print(max(len(w) for w in "a bb ccc dd".split()))
print(list(x + y for x in "ab" for y in "xy"))
print(",".join(str(i) for i in range(4)))
print(sorted((v, k) for k, v in {"a": 3, "b": 1}.items()))
print(any(x > 3 for x in range(5)) if False else "skip")

# the first iterable is evaluated at once, in the enclosing scope
xs = [1, 2, 3]
ge = (x for x in xs)
xs = None
print(list(ge))

# variables do not leak; the outer name is untouched
x = "outer"
print([x for x in range(3)], x)
print({x: 1 for x in range(2)}, x)
print(list(x for x in range(2)), x)

def f(n):
    k = 10
    return [list(i + k for i in range(j)) for j in range(n)]
print(f(3))

def g2(n):
    scale = 3
    return {i: [j * scale for j in range(i)] for i in range(n)}
print(g2(3))

class C:
    items = [1, 2, 3]
    doubled = [v * 2 for v in items]
    total = sum(v for v in items)
print(C.doubled, C.total)

def lazy():
    print("start")
    for i in range(2):
        print("make", i)
        yield i
print([v for v in lazy()])
gen = (print("eval", v) or v for v in lazy())
print("created")
print(list(gen))

words = ["apple", "bob", "kayak", "level", "python"]
print([w for w in words if w == w[::-1] if len(w) > 3])
print({len(w): w for w in words})
print([[y for y in range(x)] for x in range(4)])
print(list((a, b) for a in range(3) if a for b in range(a)))
