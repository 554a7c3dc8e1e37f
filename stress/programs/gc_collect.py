"""stress/programs/gc_collect.py - rings of instances dropped for the cycle collector.

Owns: our own cycle-heavy benchmark (issue 14, item 7), in the spirit of pyperformance's
gc_collect: each round builds RINGS rings of RING_SIZE instances (each node points to the next
and the previous; some also hold a dict or a list that points back into the ring), checks
every ring by walking it, drops them all - nothing but the collector can free a ring - and
calls gc.collect() with automatic collection off, so that one collection finds every ring.

Checks: each ring walks back to its start after RING_SIZE steps with the expected sum of
values; gc.collect() reports at least one object per dropped node (CPython counts the
unreachable instances; Tally counts its objects, which include the attribute dicts);
gc.garbage stays empty; automatic collection is back on at the end.

Usage: gc_collect.py [ROUNDS]   (100 rings of 100 nodes a round; default 3, the timing size 150)
Exit status 0 when every check holds, 1 otherwise, 2 on bad arguments.
"""
import gc
import sys
from bench_args import parse_size

RINGS = 100
RING_SIZE = 100


class Node:
    def __init__(self, value):
        self.value = value
        self.next = None
        self.prev = None
        self.extra = None


def make_ring(base):
    first = Node(base)
    node = first
    for i in range(1, RING_SIZE):
        fresh = Node(base + i)
        fresh.prev = node
        node.next = fresh
        if i % 4 == 0:
            fresh.extra = {"owner": fresh, "left": node}
        elif i % 8 == 1:
            fresh.extra = [node, fresh]
        node = fresh
    node.next = first
    first.prev = node
    return first


def walk(ring):
    """The number of nodes and the sum of values once round the ring (forwards), checking the
    backward links on the way."""
    count = 1
    total = ring.value
    node = ring.next
    while node is not ring:
        if node.prev.next is not node:
            return -1, -1
        count += 1
        total += node.value
        node = node.next
    return count, total


def main():
    rounds = parse_size(sys.argv, 3, "gc_collect.py")
    ok = True
    gc.collect()
    gc.disable()
    short_rounds = 0
    for r in range(rounds):
        rings = []
        for k in range(RINGS):
            rings.append(make_ring(k * RING_SIZE))
        for k in range(RINGS):
            count, total = walk(rings[k])
            base = k * RING_SIZE
            if count != RING_SIZE or total != RING_SIZE * base + RING_SIZE * (RING_SIZE - 1) // 2:
                ok = False
        rings = None
        freed = gc.collect()
        if freed < RINGS * RING_SIZE:
            short_rounds += 1
    gc.enable()
    ok = ok and short_rounds == 0 and len(gc.garbage) == 0 and gc.isenabled()
    print(f"gc_collect: {rounds} rounds of {RINGS} rings of {RING_SIZE} nodes built, walked and dropped; "
          f"{short_rounds} collections found fewer objects than nodes")
    print("gc_collect: " + ("ok" if ok else "FAILED"))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
