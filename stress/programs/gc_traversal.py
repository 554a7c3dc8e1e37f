"""stress/programs/gc_traversal.py - collections over a deep live heap of many containers.

Owns: our own live-heap collector benchmark (issue 14, item 7), in the spirit of
pyperformance's gc_traversal: a heap of SIZE*1000 instances stays alive the whole run - a tree
of fan-out 4 (children in lists), every node also threaded on one long chain (depth SIZE*1000)
and holding a dict and a list payload - and the program calls gc.collect() ROUNDS times; each
collection has to traverse every live container and frees only the garbage made between
collections (every 37th node gets a new payload; its old one is a list that contains itself,
a cycle only the collector frees).

Checks: after each collection the heap is walked along the chain and through the tree (every
node reached once, from both; the values and payloads sum to what the construction and the
replacements predict); gc.garbage stays empty.

Usage: gc_traversal.py [SIZE]   (thousands of live nodes; default 2, the timing size 60)
Exit status 0 when every check holds, 1 otherwise, 2 on bad arguments.
"""
import gc
import sys
from bench_args import parse_size

ROUNDS = 10
FANOUT = 4
REPLACE_EVERY = 37


class Node:
    def __init__(self, value):
        self.value = value
        self.children = []
        self.chain = None
        self.attrs = {"value": value, "parent": None}
        self.payload = [value, self]


def build(count):
    nodes = [Node(i) for i in range(count)]
    for i in range(1, count):
        parent = nodes[(i - 1) // FANOUT]
        parent.children.append(nodes[i])
        nodes[i].attrs["parent"] = parent
        nodes[i - 1].chain = nodes[i]
    return nodes[0]


def walk_chain(root):
    count = 0
    total = 0
    node = root
    while node is not None:
        count += 1
        total += node.value + node.payload[0]
        node = node.chain
    return count, total


def walk_tree(root):
    count = 0
    total = 0
    stack = [root]
    while stack:
        node = stack.pop()
        count += 1
        total += node.attrs["value"]
        for child in node.children:
            if child.attrs["parent"] is not node:
                return -1, -1
            stack.append(child)
    return count, total


def replace_payloads(root, round_number):
    """Gives every REPLACE_EVERY-th node a new payload; returns how much the payload sum grew."""
    growth = 0
    node = root
    index = 0
    while node is not None:
        if index % REPLACE_EVERY == round_number % REPLACE_EVERY:
            old = node.payload
            old.append(old)          # the dropped payload is a cycle
            node.payload = [old[0] + 1, node]
            growth += 1
        index += 1
        node = node.chain
    return growth


def main():
    count = parse_size(sys.argv, 2, "gc_traversal.py") * 1000
    root = build(count)
    values = count * (count - 1) // 2
    expected_chain = 2 * values
    ok = True
    bad_rounds = 0
    for r in range(ROUNDS):
        gc.collect()
        chain_count, chain_total = walk_chain(root)
        tree_count, tree_total = walk_tree(root)
        if chain_count != count or tree_count != count or chain_total != expected_chain or tree_total != values:
            bad_rounds += 1
        expected_chain += replace_payloads(root, r)
    gc.collect()
    final_count, final_total = walk_chain(root)
    ok = bad_rounds == 0 and final_count == count and final_total == expected_chain and len(gc.garbage) == 0
    print(f"gc_traversal: {count} live nodes, {ROUNDS + 1} collections, {bad_rounds} rounds with a damaged heap, "
          f"chain sum {final_total}")
    print("gc_traversal: " + ("ok" if ok else "FAILED"))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
