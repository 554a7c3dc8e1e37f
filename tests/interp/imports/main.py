# user modules and packages: the script's directory is searched first
import sys
import geometry
import geometry as geo
from geometry import area, Square, COUNTER as C0
import json            # imports/json.py shadows the standard module
import pkg.sub.leaf
from pkg import util
from pkg.sub.leaf import LEAF, describe
import circ_a

print(geometry.__name__, geo is geometry, sys.modules["geometry"] is geometry)
print(area(3), Square(4).area(), C0)
geometry.bump()
geometry.bump()
print(geometry.COUNTER, C0, geometry.hypot(3, 4))
print(json.dumps([1]), json.__name__)
print(pkg.VERSION, pkg.sub.leaf.LEAF, util.helper(21), LEAF, describe())
print(pkg.util is util, "pkg.sub" in sys.modules, "pkg.sub.leaf" in sys.modules)
print(circ_a.value(), circ_a.circ_b.from_a())
try:
    import broken
except ZeroDivisionError as e:
    print("import failed:", e)
print("broken" in sys.modules)
try:
    from pkg import missing
except ImportError as e:
    print(type(e).__name__, str(e).split(" (")[0])
try:
    import pkg.nothing
except ImportError as e:
    print(type(e).__name__, e)
m = __import__("geometry")
print(m is geometry, __name__)

def local_import():
    import pkg.util as u
    from geometry import area as a
    return u.helper(a(2))
print(local_import())
