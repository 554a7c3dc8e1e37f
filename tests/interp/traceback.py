# An uncaught exception: a Python-style traceback on stderr (file, line, function, source
# line), the output printed before it, and exit status 1.
def parse(text):
    return int(text)


def load(items):
    total = 0
    for item in items:
        total += parse(item)
    return total


print("sum", load(["1", "2"]))
print("sum", load(["3", "four", "5"]))
print("not reached")
