# Recursion that goes through C (a class's __init__ creating the next instance, == and repr of
# deeply nested lists) ends in RecursionError when the C stack nears its end, never in a crash.
# (CPython 3.11 crashes on the first case, so this file's .out is written by hand.)
import sys
sys.setrecursionlimit(1000000)


class Chain:
    def __init__(self, depth):
        self.next = Chain(depth - 1) if depth > 0 else None


try:
    Chain(1000000)
    print("built")
except RecursionError:
    print("RecursionError from __init__")

a = []
b = []
for i in range(300000):
    a = [a]
    b = [b]
for what in ("==", "repr"):
    try:
        print(a == b if what == "==" else len(repr(a)))
    except RecursionError:
        print("RecursionError from", what)
print("alive")
