"""stress/programs/gcbench.py - binary trees in the shape of Boehm's GCBench.

Owns: our own Python version of GCBench's binary-tree workload (issue 14, item 7): tree nodes
are instances of a class with two child fields and two int fields.  A stretch tree of depth
D+2 is built and dropped; a long-lived tree of depth D and a long-lived list of D*1000 floats
are kept to the end; then for depths 4, 6, ..., D, 2*size(D+2)/size(d) trees are built top down
(allocate the node, then fill its children) and as many bottom up (children first), each
counted and dropped.  Checks: every tree has 2**(d+1)-1 nodes, the long-lived tree and list
are intact at the end.

Usage: gcbench.py [D]   (D from 4 to 20; default 8, the timing size is 14)
Exit status 0 when every check holds, 1 otherwise, 2 on bad arguments.
"""
import sys
from bench_args import parse_size

MIN_DEPTH = 4


class Node:
    def __init__(self, left=None, right=None):
        self.left = left
        self.right = right
        self.i = 0
        self.j = 0


def tree_size(depth):
    return (1 << (depth + 1)) - 1


def populate(depth, node):
    """Top down: the node exists, its children are made and filled."""
    if depth <= 0:
        return
    depth -= 1
    node.left = Node()
    node.right = Node()
    populate(depth, node.left)
    populate(depth, node.right)


def make_tree(depth):
    """Bottom up: the children exist before their parent."""
    if depth <= 0:
        return Node()
    return Node(make_tree(depth - 1), make_tree(depth - 1))


def count(node):
    n = 1
    if node.left is not None:
        n += count(node.left)
    if node.right is not None:
        n += count(node.right)
    return n


def number(node, start):
    """Numbers the nodes in preorder (i) and stores each node's subtree size (j)."""
    node.i = start
    size = 1
    if node.left is not None:
        size += number(node.left, start + 1)
    if node.right is not None:
        size += number(node.right, start + size)
    node.j = size
    return size


def main():
    max_depth = parse_size(sys.argv, 8, "gcbench.py", 4, 20)
    stretch_depth = max_depth + 2
    array_size = max_depth * 1000
    ok = True

    stretch = make_tree(stretch_depth)
    n = count(stretch)
    ok = ok and n == tree_size(stretch_depth)
    print(f"stretch tree of depth {stretch_depth}: {n} nodes")
    stretch = None

    long_lived = Node()
    populate(max_depth, long_lived)
    numbered = number(long_lived, 0)
    floats = [0.0] * array_size
    for i in range(array_size // 2):
        floats[i] = 1.0 / (i + 1)
    print(f"long-lived tree of depth {max_depth}: {numbered} nodes, list of {array_size} floats")

    for depth in range(MIN_DEPTH, max_depth + 1, 2):
        iterations = 2 * tree_size(stretch_depth) // tree_size(depth)
        top_down = 0
        for _ in range(iterations):
            root = Node()
            populate(depth, root)
            top_down += count(root)
        bottom_up = 0
        for _ in range(iterations):
            bottom_up += count(make_tree(depth))
        good = top_down == bottom_up == iterations * tree_size(depth)
        ok = ok and good
        print(f"{iterations} trees of depth {depth}: top down {top_down} nodes, bottom up {bottom_up} nodes"
              + ("" if good else "  WRONG"))

    intact = count(long_lived) == tree_size(max_depth) and long_lived.j == numbered
    intact = intact and long_lived.right.i == tree_size(max_depth - 1) + 1
    intact = intact and floats[999] == 1.0 / 1000 and floats[array_size - 1] == 0.0
    ok = ok and intact
    print("long-lived data " + ("intact" if intact else "DAMAGED"))
    print("gcbench: " + ("ok" if ok else "FAILED"))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
