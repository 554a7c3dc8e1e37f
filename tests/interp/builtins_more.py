# More built-ins: enumerate, zip, reversed, iter/next, round, divmod, ord/chr, hash, getattr,
# setattr, hasattr, issubclass, printf-style % formatting and str.format.
names = ["ann", "bob", "cy"]
for i, n in enumerate(names):
    print(i, n, end="; ")
print()
print(list(enumerate("ab", start=1)), list(zip([1, 2, 3], "xyz", (True, False))), list(zip()))
print(list(reversed([1, 2, 3])), list(reversed("abc")), list(reversed(range(4))), list(reversed(())))
it = iter([10, 20])
print(next(it), next(it), next(it, "done"))
try:
    next(it)
except StopIteration:
    print("StopIteration")
print(round(2.5), round(3.5), round(-2.5), round(2.675, 2), round(1234, -2), round(1250, -2), round(0.125, 2))
print(divmod(17, 5), divmod(-17, 5), divmod(7.5, 2), ord("a"), ord("é"), chr(65), chr(233), chr(8364))
print(hash(1) == hash(1.0), hash("abc") == hash("ab" + "c"), hash((1, 2)) == hash((1, 2)))

class Box:
    size = 3

b = Box()
setattr(b, "color", "red")
print(getattr(b, "color"), getattr(b, "size"), getattr(b, "nope", "default"), hasattr(b, "color"), hasattr(b, "x"))

class Small(Box):
    pass

print(issubclass(Small, Box), issubclass(Box, Small), issubclass(Small, (Small, Box)))
print("%s is %d years, %.2f m, %r, %5s|%-5s|%05d|%x|%o|%e|%%" % ("Al", 30, 1.756, "q", "ab", "cd", 42, 255, 8, 12345.678))
print("%d%%" % 50, "%s" % [1, 2], "%s" % (3,), "%3d|%-3d|%+d" % (5, 5, 5), "%.3s" % "abcdef", "%g" % 0.0001)
print("{} and {}".format("a", "b"), "{1}{0}".format("x", "y"), "{name}={val:>4}".format(name="k", val=7))
print("{:.3f} {:,} {!r} {{}} {:^7}|".format(3.14159, 1234567, "s", "mid"))
