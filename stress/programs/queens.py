"""stress/programs/queens.py - all solutions of the n-queens puzzle, by recursive generators.

Owns: our own n-queens benchmark (issue 14, item 7): for every board from 4 to N, a recursive
generator places one queen per row, keeping the attacked columns and diagonals in sets, and
yields each complete placement as a tuple; every solution is then checked independently (no
two queens share a column or a diagonal), the solutions must be distinct, and their count must
be the known one.  Exercises generators (nested, resumed through a chain of frames), sets,
tuples and the collector (suspended frames are GC containers).

Usage: queens.py [N]   (board sizes 4..N, N from 4 to 12; default 6, the timing size is 12)
Exit status 0 when every count and check holds, 1 otherwise, 2 on bad arguments.
"""
import sys
from bench_args import parse_size

KNOWN_COUNTS = {4: 2, 5: 10, 6: 4, 7: 40, 8: 92, 9: 352, 10: 724, 11: 2680, 12: 14200}


def place(n, row, columns, rising, falling, placed):
    """Yields every completion of placed (one column per row above `row`) as a tuple."""
    if row == n:
        yield tuple(placed)
        return
    for col in range(n):
        if col in columns or row + col in rising or row - col in falling:
            continue
        columns.add(col)
        rising.add(row + col)
        falling.add(row - col)
        placed.append(col)
        for solution in place(n, row + 1, columns, rising, falling, placed):
            yield solution
        placed.pop()
        falling.discard(row - col)
        rising.discard(row + col)
        columns.remove(col)


def is_valid(solution):
    n = len(solution)
    if sorted(solution) != list(range(n)):
        return False
    for r1 in range(n):
        for r2 in range(r1 + 1, n):
            if abs(solution[r1] - solution[r2]) == r2 - r1:
                return False
    return True


def mirror(solution):
    n = len(solution)
    return tuple([n - 1 - c for c in solution])


def main():
    top = parse_size(sys.argv, 6, "queens.py", 4, 12)
    ok = True
    for n in range(4, top + 1):
        solutions = list(place(n, 0, set(), set(), set(), []))
        distinct = set(solutions)
        valid = 0
        for s in solutions:
            if is_valid(s):
                valid += 1
        # the mirror image of a solution is a solution
        mirrored = 0
        for s in solutions:
            if mirror(s) in distinct:
                mirrored += 1
        good = (len(solutions) == KNOWN_COUNTS[n] and len(distinct) == len(solutions)
                and valid == len(solutions) and mirrored == len(solutions))
        ok = ok and good
        first = " ".join([str(c) for c in solutions[0]])
        print(f"{n} queens: {len(solutions)} solutions, first {first}" + ("" if good else "  WRONG"))
    print("queens: " + ("ok" if ok else "FAILED"))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
