# 64-bit ints: a result beyond 64 bits raises OverflowError, never a wrong number.
# (CPython has arbitrary precision, so this file's .out is written by hand, not by python3.)
def attempt(name, f):
    try:
        print(name, f())
    except OverflowError:
        print(name, "OverflowError")

def add():
    return 9223372036854775807 + 1
def sub():
    return -9223372036854775807 - 2
def mul():
    return 3037000500 * 3037000500
def power():
    return 2 ** 63
def shift():
    return 1 << 63
def neg():
    x = -9223372036854775807 - 1
    return -x
def fine():
    return 2 ** 62 + (2 ** 62 - 1)
for f in [add, sub, mul, power, shift, neg, fine]:
    attempt(f.__name__, f)
