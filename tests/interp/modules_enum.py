# enum: Enum members as class attributes with name and value, iteration, len, lookup by value,
# aliases, methods, members with __init__, as CPython 3.11.
import enum
from enum import Enum


class Color(Enum):
    RED = 1
    GREEN = 2
    BLUE = 3
    CRIMSON = 1          # an alias of RED
    _hidden = 7          # not a member

    def describe(self):
        return f"{self.name.lower()}={self.value}"

    @staticmethod
    def default():
        return Color.GREEN

    @classmethod
    def first(cls):
        return list(cls)[0]


print(Color.RED, repr(Color.GREEN), Color.RED.name, Color.RED.value)
print([c.name for c in Color], len(Color), Color._member_names_)
print(Color.CRIMSON is Color.RED, Color(2) is Color.GREEN, Color(Color.BLUE) is Color.BLUE)
print(type(Color.RED) is Color, isinstance(Color.BLUE, Color), isinstance(Color.BLUE, Enum))
print(Color.RED == Color.RED, Color.RED == Color.GREEN, Color.RED != 1, Color.RED in Color)
print(Color.BLUE.describe(), Color.default(), Color.first(), Color._hidden)
print(f"{Color.GREEN}", str(Color.BLUE), "%s" % Color.RED)
counts = {Color.RED: 0, Color.GREEN: 0}
for c in [Color.RED, Color.GREEN, Color.RED]:
    counts[c] += 1
print(counts[Color.RED], counts[Color.GREEN], sorted([c.value for c in Color], reverse=True))
try:
    Color(9)
except ValueError as e:
    print("ValueError:", e)


class Planet(Enum):
    MERCURY = (3.303e+23, 2.4397e6)
    EARTH = (5.976e+24, 6.37814e6)

    def __init__(self, mass, radius):
        self.mass = mass
        self.radius = radius

    def gravity(self):
        return 6.673e-11 * self.mass / (self.radius * self.radius)


for p in Planet:
    print(p.name, p.value, round(p.gravity(), 2))


class Shade(enum.Enum):
    DARK = "dark"
    LIGHT = "light"


print(list(Shade), Shade("light"), Shade.DARK.value.upper())
try:
    class More(Color):
        PINK = 4
except TypeError as e:
    print("TypeError:", e)


class Base(Enum):
    def shout(self):
        return self.name + "!"


class Derived(Base):
    ONE = 1


print(Derived.ONE.shout(), list(Base), len(Derived))
