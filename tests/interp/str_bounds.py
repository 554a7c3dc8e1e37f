# str.find, count, startswith and endswith with start and end (slice bounds: negative, None,
# past either end, empty ranges, empty needles), as CPython 3.11.
s = "abcabcab"
for args in [("b",), ("b", 2), ("b", 2, 4), ("b", -3), ("b", -100, 100), ("", 8), ("", 9),
             ("", 3, 1), ("c", None, 5), ("ab", 6), ("ab", 6, 7), ("cab", 1, -1), ("x",)]:
    print(args, s.find(*args), s.count(*args))
for args in [("ab",), ("ab", 3), ("ab", 3, 4), ("", 8), ("", 9), ("", 3, 1), (("x", "ca"), 2),
             ("ab", -2), ("b", None, 2), (("c", "b"), 0, 2)]:
    print(args, s.startswith(*args), s.endswith(*args))
text = 'key "quoted \\" part" tail'
quote = text.find('"')
print(quote, text.find('"', quote + 1), text.find("\\", quote + 1, text.find('"', quote + 1)))
for bad in [("a", "x"), ("a", 1.5)]:
    try:
        s.find(*bad)
    except TypeError as e:
        print("TypeError:", e)
try:
    s.startswith(1)
except TypeError as e:
    print("TypeError:", e)
