# Recursion: RecursionError at the limit (default 1000) instead of a C stack overflow,
# sys.setrecursionlimit for deep recursion, and the error caught and recovered from.
import sys

def depth(n):
    return 0 if n == 0 else 1 + depth(n - 1)

def forever(n):
    return forever(n + 1)

print(sys.getrecursionlimit(), depth(900))
try:
    forever(0)
except RecursionError as e:
    print("caught:", e)
print("still running", depth(500))
sys.setrecursionlimit(20000)
print(sys.getrecursionlimit(), depth(15000))
sys.setrecursionlimit(1000)

def mutual_a(n):
    return mutual_b(n + 1)

def mutual_b(n):
    return mutual_a(n + 1)

try:
    mutual_a(0)
except RecursionError:
    print("mutual recursion caught")

def infinite(n):
    return infinite(n + 1) + 1

infinite(0)
