# with statements: __enter__/__exit__, the as-target, exceptions passed to __exit__ and
# swallowed or re-raised, exits by return/break/continue, nested and multiple items.
log = []


class Resource:
    def __init__(self, name, swallow=False):
        self.name = name
        self.swallow = swallow

    def __enter__(self):
        log.append("enter " + self.name)
        return self.name.upper()

    def __exit__(self, typ, exc, tb):
        log.append("exit " + self.name + " " + (typ.__name__ if typ is not None else "ok"))
        return self.swallow


with Resource("a") as r:
    log.append("body " + r)
print(log)
log.clear()

try:
    with Resource("b"):
        raise ValueError("boom")
except ValueError as e:
    log.append("caught " + str(e))
print(log)
log.clear()

with Resource("c", swallow=True):
    raise KeyError("hidden")
log.append("after swallow")
print(log)
log.clear()


def early():
    with Resource("d") as v:
        return "returned " + v


print(early(), log)
log.clear()

for i in range(3):
    with Resource("loop" + str(i)):
        if i == 0:
            continue
        if i == 1:
            break
print(log)
log.clear()

with Resource("x") as x, Resource("y") as y:
    log.append(x + y)
print(log)

try:
    with 42:
        pass
except TypeError as e:
    print("TypeError:", e)

# sets: displays, set(), add/discard/remove, in, len, iteration in insertion order for small
# ints, operators, methods, equality.
s = {3, 1, 2}
s.add(4)
s.add(1)
s.discard(10)
s.remove(3)
print(len(s), 1 in s, 3 in s, sorted(s), s == {1, 2, 4}, s != {1})
t = set([2, 4, 6, 8])
print(sorted(s | t), sorted(s & t), sorted(s - t), sorted(s ^ t), sorted(t.union([1])), sorted(t.intersection({4, 5})))
print(sorted(t.difference(s)), {1, 2}.issubset({1, 2, 3}), set(), len(set("hello")), sorted(set("hello")))
u = t.copy()
u.update([100], (200,))
u.clear()
print(u, sorted(t), isinstance(t, set), type(t) is set, {5})
seen = set()
for word in "a b a c b a".split():
    if word not in seen:
        seen.add(word)
        print(word, end=" ")
print()
try:
    s.remove(99)
except KeyError as e:
    print("KeyError", e)
try:
    {[1]}
except TypeError as e:
    print("TypeError:", e)
