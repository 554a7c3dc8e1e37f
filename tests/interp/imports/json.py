# a user module named like a standard one (CPython's json, not preloaded) is found first
def dumps(x):
    return "user json: " + str(x)
