# Error paths: the exception type and message of 27 failing operations, as CPython 3.11 reports them
# (comprehensions, f-strings, class bodies, default values, with, formatting, built-ins, methods).
def gen_err(kind):
    if kind == 0: return [1 // 0 for _ in range(3)]
    if kind == 1: return {1: [][0]}
    if kind == 2: return f"{undefined_thing}"
    if kind == 3:
        class Bad:
            x = 1 / 0
    if kind == 4:
        def d(a=[][1]): pass
    if kind == 5:
        with open_thing() as t: pass
    if kind == 6: return (1, 2) + [3]
    if kind == 7: return "%d" % "x"
    if kind == 8: return "{0}".format()
    if kind == 9: return int("12", 1)
    if kind == 10: return sorted([3, "a"])
    if kind == 11: return max([], key=len)
    if kind == 12: return {}.pop("k")
    if kind == 13: return [1, 2].index(5)
    if kind == 14: return "abc".split("")
    if kind == 15: return dict([(1, 2, 3)])
    if kind == 16: return next(iter([]))
    if kind == 17: return getattr(1, "zz")
    if kind == 18: return (lambda *, k: k)()
    if kind == 19: return {1, 2}.remove(5)
    if kind == 20: return round("x")
    if kind == 21: return chr(-1)
    if kind == 22: return [].pop()
    if kind == 23: return 1 < None
    if kind == 24:
        x = [1]
        for v in x:
            x.append(v)
            if len(x) > 3: raise ValueError("grew")
    if kind == 25:
        d = {1: 1}
        for k in d: d[k + 1] = 1
    return "ok"

for k in range(27):
    try:
        print(k, gen_err(k))
    except Exception as e:
        print(k, type(e).__name__, e)
