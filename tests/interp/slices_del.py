# slice assignment and deletion on lists (steps, negative bounds, growing, shrinking,
# self-assignment, errors) and del of attributes (instances, classes, modules), as CPython 3.11.
a = list(range(10))
a[2:5] = ["x", "y"]
print(a)
a[::2] = [0] * len(a[::2])
print(a)
del a[1:3]
print(a)
a[1:1] = (7, 8, 9)
print(a)
a[:] = a
print(a)
a[-2:] = []
print(a)
a[100:] = [1]
a[:0] = "ab"
print(a)
del a[::-2]
print(a)
del a[::3]
print(a)
b = list(range(12))
del b[10:2:-3]
print(b)
b[8:2:-2] = "xyz"
print(b)
b[5:1] = [None]
print(b)
try:
    b[0:4:2] = [1]
except ValueError as e:
    print("ValueError:", e)
try:
    b[0:2] = 5
except TypeError as e:
    print("TypeError:", e)
try:
    b[::0] = []
except ValueError as e:
    print("ValueError:", e)
t = (1, 2, 3)
try:
    t[0:1] = [5]
except TypeError as e:
    print("TypeError:", e)
nested = [[1, 2], [3, 4]]
nested[0][1:] = nested[1]
print(nested)
class C:
    y = 1
c = C()
c.x = 1
del c.x
print(hasattr(c, "x"))
try:
    del c.x
except AttributeError as e:
    print(e)
del C.y
print(hasattr(C, "y"))
try:
    del C.y
except AttributeError as e:
    print(e)
import math
try:
    del math.nothere
except AttributeError as e:
    print(e)
c.z = 3
delattr(c, "z")
print(hasattr(c, "z"))
