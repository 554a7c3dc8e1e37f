# __len__ results as CPython 3.11 checks them (len() and truth): ints and bools accepted,
# other types a TypeError, negative values a ValueError; a computed result that is released
# right after the call (here a fresh float or str) must not be read after it is freed.
class Sized:
    def __init__(self, v):
        self.v = v

    def __len__(self):
        return self.v


class Half:
    def __init__(self, v):
        self.v = v

    def __len__(self):
        return self.v * 0.5


class Text:
    def __len__(self):
        return str(3) + "x"


for o in (Sized(3), Sized(0), Sized(True), Sized(False), Sized(-1), Half(3), Text()):
    try:
        print(type(o).__name__, len(o), bool(o), "yes" if o else "no")
    except (TypeError, ValueError) as e:
        print(type(o).__name__, type(e).__name__, e)
for o in (Sized(-2), Half(4)):
    try:
        if o:
            print("truthy")
    except (TypeError, ValueError) as e:
        print("truth:", type(e).__name__, e)
