# Calls: *args and **kwargs in definitions, keyword-only parameters, * and ** at call sites,
# decorators (functions and classes, stacked, with arguments), staticmethod and classmethod.
def f(a, b=2, *rest, c, d=4, **extra):
    return (a, b, rest, c, d, sorted(extra.items()))

print(f(1, c=3))
print(f(1, 5, 6, 7, c=8, e=9, g=10))
print(f(*[1, 2, 3], **{"c": 0, "z": 1}))
args = (10, 20)
kw = {"c": 30}
print(f(*args, *[40], d=50, **kw))

def total(*nums):
    s = 0
    for n in nums:
        s += n
    return s

print(total(), total(1), total(1, 2, 3), total(*range(10)))

def opts(**kw):
    return sorted(kw)

print(opts(), opts(x=1, y=2))

def kwonly(*, key, flag=False):
    return key, flag

print(kwonly(key="k"), kwonly(flag=True, key=1))

def check(fn):
    try:
        fn()
    except TypeError as e:
        print("TypeError:", e)

check(lambda: kwonly())
check(lambda: kwonly(1))
check(lambda: total(x=1))
check(lambda: f(1, c=1, a=2))
check(lambda: f(*5))

def shout(fn):
    def wrapper(*a, **k):
        return fn(*a, **k).upper() + "!"
    return wrapper

def repeat(n):
    def deco(fn):
        def wrapper(*a, **k):
            return [fn(*a, **k) for _ in range(n)]
        return wrapper
    return deco

@shout
def greet(name, greeting="hello"):
    return greeting + " " + name

@repeat(3)
@shout
def yes():
    return "yes"

print(greet("ann"), greet("bob", greeting="hi"), yes())

registry = []

def register(cls):
    registry.append(cls.__name__)
    return cls

@register
class Plugin:
    count = 0

    def __init__(self, name):
        self.name = name
        Plugin.count += 1

    @staticmethod
    def describe(x):
        return "static " + str(x)

    @classmethod
    def make(cls, name):
        return cls(name)

    @classmethod
    def how_many(cls):
        return cls.count

p = Plugin.make("a")
q = p.make("b")
print(registry, Plugin.describe(1), p.describe(2), Plugin.how_many(), q.how_many(), p.name, q.name)

class Sub(Plugin):
    pass

s = Sub.make("c")
print(type(s).__name__, Sub.how_many(), isinstance(s, Plugin))

