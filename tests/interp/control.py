# Control flow: if/elif/else, while and for with break/continue/else, nested loops,
# try/except/else/finally (with return, break and continue through finally), raise, assert.
for n in range(-2, 3):
    if n < 0:
        print(n, "negative")
    elif n == 0:
        print(n, "zero")
    else:
        print(n, "positive")

i = 0
while i < 10:
    i += 1
    if i % 2:
        continue
    if i == 8:
        break
    print("even", i)
else:
    print("not reached")

while False:
    pass
else:
    print("while-else runs")

for x in [1, 2, 3]:
    if x == 5:
        break
else:
    print("for-else runs")

for x in []:
    print("never")
else:
    print("empty for-else")

found = None
for a in range(1, 20):
    for b in range(a, 20):
        if a * b == 42 and a + b == 13:
            found = (a, b)
            break
    if found:
        break
print("found", found)

def classify(v):
    try:
        r = 10 // v
    except ZeroDivisionError:
        return "zero"
    except TypeError as e:
        return "type: " + str(e)
    else:
        return "ok " + str(r)
    finally:
        print("finally for", repr(v))

print(classify(2), classify(0), classify("s"))

def fin_return():
    try:
        return "from try"
    finally:
        print("finally before return")

print(fin_return())

def loop_fin():
    out = []
    for i in range(5):
        try:
            if i == 1:
                continue
            if i == 3:
                break
            out.append(i)
        finally:
            out.append("f" + str(i))
    return out

print(loop_fin())

def nested():
    try:
        try:
            raise ValueError("inner")
        except KeyError:
            print("wrong handler")
        finally:
            print("inner finally")
    except ValueError as e:
        print("outer caught", e)
        try:
            raise
        except ValueError as e2:
            print("re-raised", e2)
    return "done"

print(nested())

def raiser(kind):
    if kind == 1:
        raise KeyError("k")
    if kind == 2:
        raise IndexError
    if kind == 3:
        raise RuntimeError("rt", 2)
    return "none"

for k in range(4):
    try:
        print(raiser(k))
    except (KeyError, IndexError) as e:
        print("lookup", repr(e), str(e))
    except Exception as e:
        print("other", e, e.args)

try:
    assert 1 == 1
    assert 1 == 2, "math is broken"
except AssertionError as e:
    print("assert", e)

try:
    [][0]
except LookupError as e:
    print("LookupError catches", e)

try:
    undefined_name
except NameError as e:
    print(e)

def unbound():
    if False:
        v = 1
    return v

try:
    unbound()
except UnboundLocalError as e:
    print("UnboundLocalError")

count = 0
while True:
    count += 1
    if count > 1000:
        break
print(count)
