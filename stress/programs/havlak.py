"""stress/programs/havlak.py - loop recognition in a control-flow graph (Havlak's algorithm).

Owns: our own Python version of the loop-recognition benchmark of Hundt's "Loop Recognition
in C++/Java/Go/Scala" (issue 14, item 7): a synthetic control-flow graph of nested loops and
diamonds is built, then Havlak's algorithm (a depth-first numbering, back and non-back
predecessors, union-find to collapse inner loops, reducibility) finds every loop and builds the
loop-structure graph, whose nesting levels are computed.  Objects: basic blocks with edge
lists, loops with children lists, union-find nodes, dicts as ordered sets.

The graph: a base loop at the entry; then T times a connector, and inside it SEGMENTS times a
straight block, 25 base loops and a back edge over them.  A base loop has three loops (an
outer one and a diamond-with-back-edge inside twice), so the expected count is known in
advance: 1 (the artificial root) + 3 + 1 (the connectors' back edges share one header) +
T * SEGMENTS * (25 * 3 + 1).  Each run of the finder
must find exactly that many, with the nesting depth the construction gives.

Usage: havlak.py [SEGMENTS]   (T = 10 connectors; default 2, the timing size is 30)
Exit status 0 when every check holds, 1 otherwise, 2 on bad arguments.
"""
import sys
from bench_args import parse_size

LOOPS_PER_SEGMENT = 25
CONNECTORS = 10
FINDER_RUNS = 3


class BasicBlock:
    def __init__(self, name):
        self.name = name
        self.in_edges = []
        self.out_edges = []


class Graph:
    def __init__(self):
        self.blocks = {}
        self.start = None
        self.edge_count = 0

    def node(self, name):
        block = self.blocks.get(name)
        if block is None:
            block = BasicBlock(name)
            self.blocks[name] = block
            if self.start is None:
                self.start = block
        return block

    def connect(self, source, target):
        a = self.node(source)
        b = self.node(target)
        a.out_edges.append(b)
        b.in_edges.append(a)
        self.edge_count += 1


class Loop:
    def __init__(self, counter):
        self.counter = counter
        self.blocks = []
        self.children = []
        self.parent = None
        self.header = None
        self.is_root = False
        self.reducible = True
        self.nesting = 0
        self.depth = 0

    def set_parent(self, parent):
        self.parent = parent
        parent.children.append(self)


class LoopForest:
    def __init__(self):
        self.loops = []
        self.root = Loop(0)
        self.root.is_root = True
        self.loops.append(self.root)

    def new_loop(self):
        loop = Loop(len(self.loops))
        self.loops.append(loop)
        return loop

    def compute_nesting(self):
        for loop in self.loops:
            if not loop.is_root and loop.parent is None:
                loop.set_parent(self.root)
        # depth first, without recursion: parents before children, then back up for nesting
        order = [self.root]
        i = 0
        while i < len(order):
            loop = order[i]
            i += 1
            for child in loop.children:
                child.depth = loop.depth + 1
                order.append(child)
        for k in range(len(order) - 1, -1, -1):
            loop = order[k]
            if loop.parent is not None and loop.parent.nesting < loop.nesting + 1:
                loop.parent.nesting = loop.nesting + 1


class UnionFindNode:
    def __init__(self):
        self.parent = None
        self.block = None
        self.loop = None
        self.number = 0

    def init(self, block, number):
        self.parent = self
        self.block = block
        self.number = number

    def find(self):
        """The set's representative, compressing the path on the way."""
        path = []
        node = self
        while node is not node.parent:
            if node.parent is not node.parent.parent:
                path.append(node)
            node = node.parent
        for p in path:
            p.parent = node.parent
        return node

    def union(self, other):
        self.parent = other


NONHEADER = 0
REDUCIBLE = 1
SELF = 2
IRREDUCIBLE = 3
DEAD = 4
UNVISITED = -1
MAX_NON_BACK_PREDS = 32 * 1024


def find_loops(graph, forest):
    if graph.start is None:
        return 0
    size = len(graph.blocks)
    nodes = [UnionFindNode() for _ in range(size)]
    number = {}
    last = [0] * size
    for block in graph.blocks.values():
        number[block] = UNVISITED

    # depth-first numbering (preorder), with last[n] the highest number in n's subtree
    current = 0
    stack = [(graph.start, 0)]
    number[graph.start] = current
    nodes[current].init(graph.start, current)
    while stack:
        block, edge = stack[-1]
        if edge < len(block.out_edges):
            stack[-1] = (block, edge + 1)
            target = block.out_edges[edge]
            if number[target] == UNVISITED:
                current += 1
                number[target] = current
                nodes[current].init(target, current)
                stack.append((target, 0))
        else:
            stack.pop()
            last[number[block]] = current
    visited = current + 1

    back_preds = [[] for _ in range(size)]
    non_back_preds = [{} for _ in range(size)]
    header = [0] * size
    kind = [NONHEADER] * size
    for w in range(size):
        if w >= visited:
            kind[w] = DEAD
            continue
        for pred in nodes[w].block.in_edges:
            v = number[pred]
            if v == UNVISITED:
                continue
            if w <= v <= last[w]:
                back_preds[w].append(v)
            else:
                non_back_preds[w][v] = True

    for w in range(visited - 1, -1, -1):
        pool = []
        in_pool = {}
        for v in back_preds[w]:
            if v != w:
                rep = nodes[v].find()
                if rep.number not in in_pool:
                    in_pool[rep.number] = True
                    pool.append(rep)
            else:
                kind[w] = SELF
        if pool:
            kind[w] = REDUCIBLE
        work = list(pool)
        i = 0
        while i < len(work):
            x = work[i]
            i += 1
            preds = non_back_preds[x.number]
            if len(preds) > MAX_NON_BACK_PREDS:
                return 0
            for y in list(preds.keys()):
                ydash = nodes[y].find()
                yn = ydash.number
                if not (w <= yn <= last[w]):
                    kind[w] = IRREDUCIBLE
                    non_back_preds[w][yn] = True
                elif yn != w and yn not in in_pool:
                    in_pool[yn] = True
                    work.append(ydash)
                    pool.append(ydash)
        if pool or kind[w] == SELF:
            loop = forest.new_loop()
            loop.header = nodes[w].block
            loop.blocks.append(nodes[w].block)
            loop.reducible = kind[w] != IRREDUCIBLE
            nodes[w].loop = loop
            for node in pool:
                header[node.number] = w
                node.union(nodes[w])
                if node.loop is not None:
                    node.loop.set_parent(loop)
                else:
                    loop.blocks.append(node.block)
    return len(forest.loops)


def straight(graph, start, n):
    for i in range(n):
        graph.connect(start + i, start + i + 1)
    return start + n


def diamond(graph, start):
    graph.connect(start, start + 1)
    graph.connect(start, start + 2)
    graph.connect(start + 1, start + 3)
    graph.connect(start + 2, start + 3)
    return start + 3


def base_loop(graph, start):
    """Three loops: start..footer, and a diamond with a back edge twice inside."""
    head = straight(graph, start, 1)
    d1 = diamond(graph, head)
    d11 = straight(graph, d1, 1)
    d2 = diamond(graph, d11)
    footer = straight(graph, d2, 1)
    graph.connect(d2, d11)
    graph.connect(d1, head)
    graph.connect(footer, start)
    return straight(graph, footer, 1)


def build_graph(segments):
    graph = Graph()
    graph.node(0)
    n = base_loop(graph, 0)
    graph.node(n + 1)
    graph.connect(n, n + 1)
    entry = n + 1
    n = entry
    for _ in range(CONNECTORS):
        graph.connect(entry, n + 1)
        n += 1
        for _ in range(segments):
            top = n
            n = straight(graph, n, 1)
            for _ in range(LOOPS_PER_SEGMENT):
                n = base_loop(graph, n)
            bottom = straight(graph, n, 1)
            graph.connect(n, top)
            n = bottom
        graph.connect(n, entry)
    return graph


def main():
    segments = parse_size(sys.argv, 2, "havlak.py")
    graph = build_graph(segments)
    print(f"havlak: graph of {len(graph.blocks)} blocks and {graph.edge_count} edges")
    # the root, the base loop at the entry, one loop over every connector (they share their
    # header), and per segment its back edge and 25 base loops of three
    expected = 1 + 3 + 1 + CONNECTORS * segments * (LOOPS_PER_SEGMENT * 3 + 1)
    ok = True
    for run in range(FINDER_RUNS):
        forest = LoopForest()
        found = find_loops(graph, forest)
        forest.compute_nesting()
        irreducible = 0
        depth_sum = 0
        for loop in forest.loops:
            if not loop.reducible:
                irreducible += 1
            depth_sum += loop.depth
        good = found == expected and forest.root.nesting == 4 and irreducible == 0
        ok = ok and good
        print(f"havlak: run {run}: {found} loops (root included), nesting {forest.root.nesting}, "
              f"depth sum {depth_sum}, {irreducible} irreducible" + ("" if good else f"  WRONG (expected {expected})"))
    # a cycle entered from two places (0->1, 0->2, 1<->2) is one irreducible loop
    small = Graph()
    for a, b in ((0, 1), (0, 2), (1, 2), (2, 1), (2, 3)):
        small.connect(a, b)
    forest = LoopForest()
    found = find_loops(small, forest)
    flags = [loop.reducible for loop in forest.loops[1:]]
    good = found == 2 and flags == [False]
    ok = ok and good
    print(f"havlak: two-entry cycle: {found - 1} loop, reducible {flags}" + ("" if good else "  WRONG"))
    print("havlak: " + ("ok" if ok else "FAILED"))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
