from pkg.util import helper
LEAF = "leaf"

def describe():
    return __name__ + ":" + str(helper(5))
