# Classes: __init__, methods, instance and class attributes, single inheritance, super(),
# isinstance, special methods (__str__ __repr__ __eq__ __lt__ __len__ __getitem__ __add__
# __iter__/__next__ __call__ __contains__ __bool__ __hash__), user exceptions.
class Point:
    dims = 2

    def __init__(self, x, y=0):
        self.x = x
        self.y = y

    def norm2(self):
        return self.x * self.x + self.y * self.y

    def moved(self, dx, dy=0):
        return Point(self.x + dx, self.y + dy)

    def __repr__(self):
        return "Point(" + str(self.x) + ", " + str(self.y) + ")"

    def __eq__(self, other):
        return isinstance(other, Point) and self.x == other.x and self.y == other.y

    def __hash__(self):
        return hash_of(self.x, self.y)

    def __add__(self, other):
        return Point(self.x + other.x, self.y + other.y)

    def __lt__(self, other):
        return self.norm2() < other.norm2()


def hash_of(a, b):
    return a * 31 + b


p = Point(3, 4)
q = p.moved(1)
print(p, q, p.norm2(), Point.dims, p.dims, p == Point(3, 4), p != q, p + q, [p, q])
print(sorted([Point(5, 5), Point(1, 0), Point(2, 2)]), min(Point(9, 9), Point(0, 1)), p < q)
m = p.moved
print(m(10, 10), Point.norm2(q), type(p) is Point, type(p).__name__, p.__class__ is Point)
d = {Point(1, 2): "a"}
print(d[Point(1, 2)], Point(1, 2) in d)
p.z = 99
Point.dims = 3
print(p.z, q.dims)


class Animal:
    def __init__(self, name):
        self.name = name

    def speak(self):
        return "..."

    def describe(self):
        return self.name + " says " + self.speak()


class Dog(Animal):
    def speak(self):
        return "woof"


class Puppy(Dog):
    def __init__(self, name, age):
        super().__init__(name)
        self.age = age

    def speak(self):
        return super().speak() + "!"

    def __str__(self):
        return "Puppy " + self.name + " (" + str(self.age) + ")"


for a in [Animal("generic"), Dog("rex"), Puppy("bit", 1)]:
    print(a.describe(), isinstance(a, Animal), isinstance(a, Dog), isinstance(a, Puppy))
print(Puppy("kid", 2), str(Puppy("x", 3)))


class Stack:
    def __init__(self):
        self.items = []

    def push(self, v):
        self.items.append(v)
        return self

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        return self.items[i]

    def __contains__(self, v):
        return v in self.items

    def __bool__(self):
        return len(self.items) > 0


s = Stack()
print(len(s), bool(s), "empty" if not s else "full")
s.push(1).push(2).push(3)
print(len(s), s[0], s[-1], 2 in s, 5 in s, bool(s))


class Countdown:
    def __init__(self, n):
        self.n = n

    def __iter__(self):
        return self

    def __next__(self):
        if self.n <= 0:
            raise StopIteration
        self.n -= 1
        return self.n + 1


print(list(Countdown(5)), [x * 2 for x in Countdown(3)])
for v in Countdown(2):
    print("tick", v)


class Adder:
    def __init__(self, k):
        self.k = k

    def __call__(self, v):
        return v + self.k


add5 = Adder(5)
print(add5(10), add5(-5))


class AppError(Exception):
    pass


class DetailedError(AppError):
    def __init__(self, message, code):
        self.code = code


def risky(n):
    if n == 1:
        raise AppError("plain failure")
    if n == 2:
        raise DetailedError("detailed", 42)
    return "ok"


for n in range(3):
    try:
        print(risky(n))
    except DetailedError as e:
        print("detailed", e.code, e.args, isinstance(e, AppError), isinstance(e, Exception))
    except AppError as e:
        print("app error:", e, repr(e), type(e).__name__)


class Node:
    def __init__(self, value, children=None):
        self.value = value
        self.children = children if children is not None else []

    def total(self):
        t = self.value
        for c in self.children:
            t += c.total()
        return t


tree = Node(1, [Node(2, [Node(4)]), Node(3)])
print(tree.total(), len(tree.children), tree.children[0].children[0].value)
