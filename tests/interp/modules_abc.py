# abc: ABC and abstractmethod, checked as CPython 3.11's ABCMeta checks them.
import abc
from abc import ABC, abstractmethod


class Shape(ABC):
    sides = 0

    @abstractmethod
    def area(self):
        return "base area"

    @abstractmethod
    def name(self):
        pass

    def describe(self):
        return f"{self.name()} with {self.sides} sides and area {self.area()}"


class Polygon(Shape):
    def name(self):
        return "polygon"


class Square(Polygon):
    sides = 4

    def __init__(self, side):
        self.side = side

    def area(self):
        return self.side * self.side


class Tagged(Square):
    @staticmethod
    @abstractmethod
    def tag():
        pass


class Concrete(Tagged):
    @staticmethod
    def tag():
        return "t"


for cls in (Shape, Polygon, Tagged):
    try:
        cls()
        print("made", cls.__name__)
    except TypeError as e:
        print("TypeError:", e)
print(sorted(Shape.__abstractmethods__), sorted(Polygon.__abstractmethods__), sorted(Square.__abstractmethods__))
sq = Square(3)
print(sq.describe(), isinstance(sq, Shape), isinstance(sq, abc.ABC))
print(Concrete(2).area(), Concrete.tag())
# an abstract method may still be called through super()


class Super(Shape):
    def area(self):
        return "sub+" + super().area()

    def name(self):
        return "super"


print(Super().describe())
print(Shape.area.__isabstractmethod__, hasattr(Square.area, "__isabstractmethod__"))


# a class that does not derive from ABC is not checked
class Plain:
    @abstractmethod
    def f(self):
        return 1


print(Plain().f())
# assigning a method later does not recompute the names (as in CPython)
Polygon.area = lambda self: 0
try:
    Polygon()
except TypeError as e:
    print("TypeError:", e)
try:
    abstractmethod(5)
except AttributeError as e:
    print("AttributeError:", e)
