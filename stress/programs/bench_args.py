"""The size argument every benchmark program of stress/programs/ takes: `prog.py [SIZE]`.

Shared by the programs (imported from the script's own directory, which python3 and tally-py
both search first); a bad argument prints the usage and exits with status 2.
"""
import sys


def parse_size(argv, default, name, low=1, high=None):
    if high is not None:
        what = f"an integer from {low} to {high}"
    elif low == 1:
        what = "a positive integer"
    else:
        what = f"an integer of at least {low}"
    if len(argv) > 2 or (len(argv) == 2 and not argv[1].isdigit()):
        print(f"usage: {name} [SIZE]   (SIZE: {what}, default {default})", file=sys.stderr)
        sys.exit(2)
    size = int(argv[1]) if len(argv) == 2 else default
    if size < low or (high is not None and size > high):
        bound = f"from {low} to {high}" if high is not None else f"at least {low}"
        print(f"{name}: SIZE must be {bound}", file=sys.stderr)
        sys.exit(2)
    return size
