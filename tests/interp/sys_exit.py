# sys: argv, stdout/stderr through print(file=), and sys.exit's status (3 here); finally blocks
# run on the way out, and nothing after the exit is printed.
import sys
from sys import argv as args

print(len(sys.argv), sys.argv[0].endswith("sys_exit.py"), args is sys.argv)
print("to stderr", 42, file=sys.stderr)
print("to stdout", file=sys.stdout)


def leave(code):
    try:
        sys.exit(code)
    finally:
        print("finally runs")


try:
    leave(1)
except SystemExit as e:
    print("caught SystemExit", e.args)
leave(3)
print("not reached")
