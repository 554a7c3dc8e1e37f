# Arithmetic with Python semantics: floor division and modulo towards -inf, true division,
# powers, bitwise operators, comparisons (chains, mixed int/float), bool arithmetic.
print(7 // 2, -7 // 2, 7 // -2, -7 // -2)
print(7 % 3, -7 % 3, 7 % -3, -7 % -3)
print(7 / 2, -7 / 2, 1 / 3, 10 / 5)
print(7.5 // 2, -7.5 // 2, 7.5 % 2, -7.5 % 2, 7.5 % -2)
print(2 ** 10, 2 ** 0, (-2) ** 3, 2 ** -2, 2.0 ** 0.5, (-8) ** 2)
print(-2 ** 2, 2 ** 3 ** 2)
print(1 + 2 * 3 - 4, (1 + 2) * 3, 10 - 3 - 2, 100 // 7 // 2)
print(0x1F, 0o17, 0b101, 1_000_000, 1e3, 1.5e-3, .5, 3.)
print(5 & 3, 5 | 3, 5 ^ 3, ~5, 1 << 10, -16 >> 2, 255 >> 4)
print(True + True, True * 10, False - 1, True & False, True | False, True ^ True)
print(1 == 1.0, 1 < 1.5, 2 >= 2, 3 != 3.0, 0.1 + 0.2 == 0.3, 1 == "1")
print(1 < 2 < 3, 3 > 2 > 2, 1 < 3 < 2, 1 == 1 == 1.0, 1 < 2 > 0)
print(abs(-5), abs(3.25), abs(-0.0), min(3, 1, 2), max(3, 1, 2), min([4, 5, 0]), max("abc"))
print(int(3.99), int(-3.99), int("  42 "), int("-17"), float(3), float("2.5"), int(True))
print(0.1, 1/3, 2/3, 1e16, 1e15, 123456789.0, 1e-5, 0.0001)
x = 10
x += 5
x -= 3
x *= 2
x //= 5
x **= 3
x %= 7
print(x)
y = 7.0
y /= 2
y -= 0.5
print(y)
z = 6
z &= 3
z |= 8
z ^= 1
z <<= 2
z >>= 1
print(z)
print(not 0, not 1, not "", not [0], 0 or 5, 3 and 4, 0 and 1, None or "x", [] or {} or 7)
print(3 if 1 > 2 else 4, "yes" if [] else "no")
print(-7 // 2.0, 7 % 2.5, 2 * 3.5, 10 - 0.25, 1e308 * 10, -1e308 * 10)
print(17 // 5, 17 % 5, -17 // 5, -17 % 5)
big = 2 ** 62
print(big, big - 1 + big, -big - big)
print(9223372036854775807, -9223372036854775807 - 1)
