# Strings: literals in every quote style, escapes, concatenation, repetition, indexing,
# slicing, comparison, `in`, the str methods of the subset, f-strings with format specs.
a = 'single'
b = "double"
c = '''triple
quoted'''
d = """also "triple" """
e = r"raw\n\t"
print(a, b, c, d, e)
print("tab\there", "nl\\n", 'quote\'s', "dq\"", "\x41\x42", "\u00e9", "\101", len("a\tb"))
print("con" "cat" 'enated', "ab" + "cd", "ab" * 3, 3 * "-", "" * 5 + "|")
s = "hello, world"
print(s[0], s[-1], s[4], s[0:5], s[7:], s[:5], s[-5:], s[::2], s[::-1], s[1:-1:3])
print(len(s), "world" in s, "xyz" in s, "h" not in s, s.find("o"), s.find("q"), s.count("o"))
print("abc" < "abd", "abc" == "abc", "B" < "a", "abc" != "ab", "a" * 0 == "")
print(s.upper(), s.lower(), "  pad  ".strip() + "|", "xxhixx".strip("x"), "  l".lstrip(), "r  ".rstrip() + "|")
print(s.split(", "), "a b  c\n d".split(), "a,b,,c".split(","), "1 2 3".split(" ", 1))
print("-".join(["a", "b", "c"]), "".join([]), ", ".join("xyz"))
print(s.startswith("hell"), s.endswith("world"), s.startswith(("x", "he")), s.replace("o", "0"), s.replace("l", "L", 2))
print("123".isdigit(), "12a".isdigit(), "abc".isalpha(), " \t".isspace(), "a\nb\r\nc".splitlines())
for ch in "abc":
    print(ch, end=" ")
print()
print(str(42), str(-1.5), str(True), str(None), str([1, "a"]), repr("it's"), repr('say "hi"'), repr("a\nb"))
name = "Ada"
n = 7
x = 3.14159
print(f"{name} has {n} items")
print(f"{n:>5}|{n:<5}|{n:^5}|{n:05}|{x:.2f}|{x:8.3f}|{-x:.1f}|{name!r}|{n * 2}|{{braces}}")
print(f"{1234567:,}|{0.5:.0%}|{255:x}|{255:#x}|{255:b}|{12:+d}|{3.0}|{1e20:g}|{'s':>3}")
print(f"{'nested ' + name}", f"{[1, 2][1]}", f"{len(name)}", f'{n if n > 5 else 0}')
print("caf\u00e9" == "café", "é" in "café")
