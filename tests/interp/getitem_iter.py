# Iteration through __getitem__ alone (the old sequence protocol), as CPython 3.11: for, list(),
# in, unpacking, sum, sorted, zip, enumerate; it ends at IndexError (or StopIteration); other
# exceptions propagate; a class with neither __iter__ nor __getitem__ is not iterable.
class Squares:
    def __init__(self, n):
        self.n = n

    def __getitem__(self, i):
        if i >= self.n:
            raise IndexError("done")
        return i * i


class Stops:
    def __getitem__(self, i):
        if i == 2:
            raise StopIteration
        return "s%d" % i


class Broken:
    def __getitem__(self, i):
        if i == 1:
            raise KeyError("broken at 1")
        return i


class Plain:
    pass


sq = Squares(5)
print([x for x in sq], list(sq), 9 in sq, 10 in sq, sum(sq), sorted(sq, reverse=True))
a, b, c = Squares(3)
print(a, b, c, list(zip(Squares(3), "abc")), list(enumerate(Stops())))
for x in Stops():
    print(x)
try:
    for x in Broken():
        print("got", x)
except KeyError as e:
    print("KeyError:", e)
try:
    iter(Plain())
except TypeError as e:
    print("TypeError:", e)
it = iter(Squares(2))
print(next(it), next(it), next(it, "end"), next(it, "end"))
