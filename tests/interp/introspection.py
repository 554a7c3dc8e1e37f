# The subset's introspection and a few class-level hooks, as CPython 3.11: sys.modules[__name__]
# (the script is the module __main__), f.__name__ (read, set by a decorator, a bound method's),
# and user exceptions whose __init__ calls super().__init__ or Exception.__init__ (args, str).
import sys

LIMIT = 7
main = sys.modules[__name__]
print(__name__, main.LIMIT, getattr(main, "LIMIT"), main.__name__, "sys" in sys.modules)
main.LIMIT = 8
print(LIMIT)


def named(f):
    def wrapper(*args, **kwargs):
        return f(*args, **kwargs) * 2
    wrapper.__name__ = f.__name__
    return wrapper


@named
def triple(x):
    return 3 * x


print(triple.__name__, triple(2))
try:
    triple.__name__ = 5
except TypeError as e:
    print("TypeError:", e)


class Counter:
    def bump(self):
        return 1


c = Counter()
print(c.bump.__name__, Counter.bump.__name__, c.__class__.__name__, type(c) is Counter)


class CodeError(Exception):
    def __init__(self, code):
        super().__init__(f"code {code}")
        self.code = code


class Pair(ValueError):
    def __init__(self, a, b):
        self.a = a
        self.b = b


class Old(KeyError):
    def __init__(self, what):
        Exception.__init__(self, what, "old")


for make in (lambda: CodeError(4), lambda: Pair(1, 2), lambda: Old("k"), lambda: Exception("plain", 2)):
    try:
        raise make()
    except Exception as e:
        print(type(e).__name__, str(e), e.args, isinstance(e, Exception))
try:
    raise CodeError(9)
except CodeError as e:
    print(e.code, repr(e.args[0]))
