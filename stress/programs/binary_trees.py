#!/usr/bin/env python3
"""stress/programs/binary_trees.py - the binary-trees program in plain Python 3.

Owns: the CPython anchor of tally-binary-trees-<backend> (binary_trees.c): the same shape and
the same output lines, in the style of the Benchmarks Game's Python program.  A node is a
2-tuple, a leaf is (None, None), check = number of nodes.  A stretch tree of depth max+1 is built,
checked and dropped; a long-lived tree of depth max is kept to the end; for d = 4, 6, ..., max,
2**(max-d+4) trees of depth d are built, checked and dropped.  One thread.

Usage: binary_trees.py [--depth N]   (N from 6 to 22, default 16)
Exit status 0 when every check equals the node count, 1 otherwise, 2 on bad arguments.
"""
import sys

MIN_DEPTH = 4
DEPTH_MIN, DEPTH_MAX = 6, 22


def make_tree(depth):
    if depth == 0:
        return (None, None)
    depth -= 1
    return (make_tree(depth), make_tree(depth))


def check_tree(node):
    left, right = node
    if left is None:
        return 1
    return 1 + check_tree(left) + check_tree(right)


def nodes_of(depth):
    return (1 << (depth + 1)) - 1


def usage_error(message):
    print(f"binary_trees.py: {message}", file=sys.stderr)
    sys.exit(2)


def parse_depth(argv):
    depth = 16
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg in ("-h", "--help"):
            print(f"usage: binary_trees.py [--depth N]   (N from {DEPTH_MIN} to {DEPTH_MAX}, default 16)")
            sys.exit(0)
        if arg != "--depth":
            usage_error(f"unknown option '{arg}': accepted options are --depth N ({DEPTH_MIN} to {DEPTH_MAX}), --help")
        if i + 1 >= len(argv):
            usage_error(f"missing value for --depth: expected an integer from {DEPTH_MIN} to {DEPTH_MAX}")
        val = argv[i + 1]
        try:
            depth = int(val)
        except ValueError:
            depth = None
        if depth is None or not DEPTH_MIN <= depth <= DEPTH_MAX:
            usage_error(f"invalid value '{val}' for --depth: expected an integer from {DEPTH_MIN} to {DEPTH_MAX}")
        i += 2
    return depth


def main():
    max_depth = parse_depth(sys.argv[1:])
    ok = True

    stretch = max_depth + 1
    check = check_tree(make_tree(stretch))
    ok &= check == nodes_of(stretch)
    print(f"stretch tree of depth {stretch}\t check: {check}")

    long_lived = make_tree(max_depth)

    for depth in range(MIN_DEPTH, max_depth + 1, 2):
        iterations = 1 << (max_depth - depth + MIN_DEPTH)
        check = 0
        for _ in range(iterations):
            check += check_tree(make_tree(depth))
        ok &= check == iterations * nodes_of(depth)
        print(f"{iterations}\t trees of depth {depth}\t check: {check}")

    check = check_tree(long_lived)
    ok &= check == nodes_of(max_depth)
    print(f"long lived tree of depth {max_depth}\t check: {check}")
    if not ok:
        print("binary_trees.py: a check count differs from the node count of its trees", file=sys.stderr)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
