# Lists, tuples and dicts: displays, indexing (negative too), slices, append/pop/insert/remove,
# len, in, iteration, sorting, dict methods and insertion order, nesting, unpacking.
l = [3, 1, 2]
l.append(5)
l.insert(0, 9)
l.insert(-1, 7)
print(l, len(l), l[0], l[-1], l[-2], l[1:3], l[::-1], l[::2])
print(l.pop(), l.pop(0), l.pop(-2), l)
l.remove(1)
l.extend([4, 4])
l += [8]
print(l, l.index(4), l.count(4), 4 in l, 10 in l, 10 not in l)
l[0] = "first"
l[-1] = "last"
del l[1]
print(l)
m = [5, 2, 8, 1, 9, 3]
m.sort()
print(m, sorted([3, 1, 2], reverse=True), sorted(["bb", "a", "ccc"], key=len))
m.reverse()
print(m, m.copy(), [1, 2] + [3], [0] * 4, [[1, 2], [3]][0][1])
m.clear()
print(m, len(m), [] == m, [1, [2]] == [1, [2]], [1, 2] < [1, 3], [2] > [1, 9])
t = (1, "two", 3.0)
one = (1,)
print(t, one, (), t[1], t[-1], t[0:2], len(t), "two" in t, t + one, one * 3, (1, 2) < (1, 3))
a, b, c = t
(p, q), r = (1, 2), 3
x, y = [10, 20]
x, y = y, x
print(a, b, c, p, q, r, x, y)
d = {"one": 1, "two": 2}
d["three"] = 3
d["one"] = 11
print(d, len(d), d["two"], "two" in d, "four" in d, d.get("four"), d.get("four", 0), d.get("one"))
print(list(d.keys()), list(d.values()), list(d.items()))
for k in d:
    print(k, d[k], end="; ")
print()
for k, v in d.items():
    print(k, v, end="; ")
print()
print(d.pop("two"), d.pop("zzz", "dflt"), d.setdefault("four", 4), d.setdefault("one", 0), d)
del d["four"]
d.update({"five": 5})
print(d, dict(a=1, b=2), dict([("x", 1)]), {1: "int", 1.0: "float?", True: "bool?"}, {(1, 2): "tuple key"}[(1, 2)])
e = {}
for w in "the cat the dog the end".split():
    e[w] = e.get(w, 0) + 1
print(e, sorted(e), max(e, key=e.get))
nested = {"list": [1, 2, {"k": (3, 4)}], "n": None}
print(nested, nested["list"][2]["k"][1])
print(list(range(5)), list(range(2, 10, 3)), list(range(10, 0, -3)), len(range(0, 100, 7)), 5 in range(10))
print(list("abc"), tuple([1, 2]), list((1, 2)), sum([1, 2, 3]), sum([0.5, 0.25]), sum(range(101)))
total = 0
for i, v in [(0, "a"), (1, "b")]:
    total += i
print(total, [1, 2, 3][-3], [n * n for n in range(6) if n % 2 == 0])
for item in (1, "x", None):
    print(item, end=" ")
print()
print(isinstance(1, int), isinstance(True, int), isinstance("s", str), isinstance([], (list, tuple)), isinstance(1.0, int))
print(type(1) is int, type("") is str, type([]) is list, type(1.5) is float, type({}) is dict)
