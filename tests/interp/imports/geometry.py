import math

print("loading", __name__)
COUNTER = 0

def area(r):
    return round(math.pi * r * r, 3)

def hypot(a, b):
    return math.sqrt(a * a + b * b)

def bump():
    global COUNTER
    COUNTER += 1

class Square:
    def __init__(self, side):
        self.side = side
    def area(self):
        return self.side ** 2
