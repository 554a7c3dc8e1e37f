"""stress/programs/cd.py - collision detection between simulated aircraft (CD).

Owns: our own Python version of the CD benchmark of Marr et al.'s "Are We Fast Yet?" suite
(issue 14, item 7).  N aircraft fly in pairs; each frame gives their new positions; the
detector keeps the last position of each call sign in a red-black tree, turns each move into a
motion (old position to new), hashes every motion into the 2-D voxels it passes near (a
recursive flood fill over neighbouring voxels, each voxel a key of another red-black tree),
and tests every pair of motions that share a voxel for a closest approach within the proximity
radius (a quadratic in the time of the frame).  Objects: small vector instances made and
dropped by the million, a red-black tree with insertion and deletion, closures passed to an
in-order walk, float arithmetic and math.sqrt.

Checks: the red-black tree keeps its invariants and agrees with a dict after insertions and
deletions; in checked frames (1, 5, 9 and every 25th), the set of colliding pairs the
voxels find equals the set a brute-force test of all pairs finds; over 200 frames the count
(duplicates from shared voxels included) is 4305, the figure "Are We Fast Yet?" publishes.

Usage: cd.py [FRAMES]   (100 aircraft; default 12 frames, the timing size is 200)
Exit status 0 when every check holds, 1 otherwise, 2 on bad arguments.
"""
import math
import sys
from bench_args import parse_size

MIN_X = 0.0
MIN_Y = 0.0
MAX_X = 1000.0
MAX_Y = 1000.0
MIN_Z = 0.0
MAX_Z = 10.0
PROXIMITY_RADIUS = 1.0
GOOD_VOXEL_SIZE = PROXIMITY_RADIUS * 2.0
AIRCRAFT = 100


def compare_numbers(a, b):
    if a == b:
        return 0
    if a < b:
        return -1
    if a > b:
        return 1
    # NaN is smaller than any number and equal to itself
    if a != a:
        return 0 if b != b else -1
    return 1


class Vector2D:
    def __init__(self, x, y):
        self.x = x
        self.y = y

    def plus(self, other):
        return Vector2D(self.x + other.x, self.y + other.y)

    def minus(self, other):
        return Vector2D(self.x - other.x, self.y - other.y)

    def compare_to(self, other):
        result = compare_numbers(self.x, other.x)
        if result != 0:
            return result
        return compare_numbers(self.y, other.y)


class Vector3D:
    def __init__(self, x, y, z):
        self.x = x
        self.y = y
        self.z = z

    def plus(self, other):
        return Vector3D(self.x + other.x, self.y + other.y, self.z + other.z)

    def minus(self, other):
        return Vector3D(self.x - other.x, self.y - other.y, self.z - other.z)

    def dot(self, other):
        return self.x * other.x + self.y * other.y + self.z * other.z

    def squared_magnitude(self):
        return self.dot(self)

    def magnitude(self):
        return math.sqrt(self.squared_magnitude())

    def times(self, amount):
        return Vector3D(self.x * amount, self.y * amount, self.z * amount)


class CallSign:
    def __init__(self, value):
        self.value = value

    def compare_to(self, other):
        if self.value == other.value:
            return 0
        return -1 if self.value < other.value else 1


RED = 0
BLACK = 1


class TreeNode:
    def __init__(self, key, value):
        self.key = key
        self.value = value
        self.left = None
        self.right = None
        self.parent = None
        self.color = RED


class RedBlackTree:
    """An ordered map on keys with compare_to (CLRS's red-black tree, None as the leaves)."""

    def __init__(self):
        self.root = None
        self.size = 0

    def find(self, key):
        node = self.root
        while node is not None:
            c = key.compare_to(node.key)
            if c == 0:
                return node
            node = node.left if c < 0 else node.right
        return None

    def get(self, key):
        node = self.find(key)
        return None if node is None else node.value

    def put(self, key, value):
        """Sets key to value; returns the old value, or None if the key is new."""
        parent = None
        node = self.root
        c = 0
        while node is not None:
            c = key.compare_to(node.key)
            if c == 0:
                old = node.value
                node.value = value
                return old
            parent = node
            node = node.left if c < 0 else node.right
        fresh = TreeNode(key, value)
        fresh.parent = parent
        if parent is None:
            self.root = fresh
        elif c < 0:
            parent.left = fresh
        else:
            parent.right = fresh
        self.size += 1
        self.insert_fixup(fresh)
        return None

    def rotate_left(self, x):
        y = x.right
        x.right = y.left
        if y.left is not None:
            y.left.parent = x
        y.parent = x.parent
        if x.parent is None:
            self.root = y
        elif x is x.parent.left:
            x.parent.left = y
        else:
            x.parent.right = y
        y.left = x
        x.parent = y

    def rotate_right(self, x):
        y = x.left
        x.left = y.right
        if y.right is not None:
            y.right.parent = x
        y.parent = x.parent
        if x.parent is None:
            self.root = y
        elif x is x.parent.right:
            x.parent.right = y
        else:
            x.parent.left = y
        y.right = x
        x.parent = y

    def insert_fixup(self, z):
        while z.parent is not None and z.parent.color == RED:
            grand = z.parent.parent
            if z.parent is grand.left:
                uncle = grand.right
                if uncle is not None and uncle.color == RED:
                    z.parent.color = BLACK
                    uncle.color = BLACK
                    grand.color = RED
                    z = grand
                else:
                    if z is z.parent.right:
                        z = z.parent
                        self.rotate_left(z)
                    z.parent.color = BLACK
                    grand.color = RED
                    self.rotate_right(grand)
            else:
                uncle = grand.left
                if uncle is not None and uncle.color == RED:
                    z.parent.color = BLACK
                    uncle.color = BLACK
                    grand.color = RED
                    z = grand
                else:
                    if z is z.parent.left:
                        z = z.parent
                        self.rotate_right(z)
                    z.parent.color = BLACK
                    grand.color = RED
                    self.rotate_left(grand)
        self.root.color = BLACK

    def remove(self, key):
        """Removes key; returns its value, or None if it was absent."""
        z = self.find(key)
        if z is None:
            return None
        value = z.value
        if z.left is not None and z.right is not None:
            # move the successor's entry here, then unlink the successor instead
            s = z.right
            while s.left is not None:
                s = s.left
            z.key = s.key
            z.value = s.value
            z = s
        child = z.left if z.left is not None else z.right
        parent = z.parent
        if child is not None:
            child.parent = parent
        if parent is None:
            self.root = child
        elif z is parent.left:
            parent.left = child
        else:
            parent.right = child
        self.size -= 1
        if z.color == BLACK:
            self.delete_fixup(child, parent)
        return value

    def delete_fixup(self, x, parent):
        while x is not self.root and (x is None or x.color == BLACK):
            if x is parent.left:
                w = parent.right
                if w.color == RED:
                    w.color = BLACK
                    parent.color = RED
                    self.rotate_left(parent)
                    w = parent.right
                if (w.left is None or w.left.color == BLACK) and (w.right is None or w.right.color == BLACK):
                    w.color = RED
                    x = parent
                    parent = x.parent
                else:
                    if w.right is None or w.right.color == BLACK:
                        w.left.color = BLACK
                        w.color = RED
                        self.rotate_right(w)
                        w = parent.right
                    w.color = parent.color
                    parent.color = BLACK
                    w.right.color = BLACK
                    self.rotate_left(parent)
                    x = self.root
            else:
                w = parent.left
                if w.color == RED:
                    w.color = BLACK
                    parent.color = RED
                    self.rotate_right(parent)
                    w = parent.left
                if (w.right is None or w.right.color == BLACK) and (w.left is None or w.left.color == BLACK):
                    w.color = RED
                    x = parent
                    parent = x.parent
                else:
                    if w.left is None or w.left.color == BLACK:
                        w.right.color = BLACK
                        w.color = RED
                        self.rotate_left(w)
                        w = parent.left
                    w.color = parent.color
                    parent.color = BLACK
                    w.left.color = BLACK
                    self.rotate_right(parent)
                    x = self.root
        if x is not None:
            x.color = BLACK

    def for_each(self, fn):
        """Calls fn(key, value) in key order."""
        stack = []
        node = self.root
        while stack or node is not None:
            while node is not None:
                stack.append(node)
                node = node.left
            node = stack.pop()
            fn(node.key, node.value)
            node = node.right

    def black_height(self, node):
        """The black height below node, or -1 if an invariant is broken there."""
        if node is None:
            return 1
        if node.color == RED:
            for child in (node.left, node.right):
                if child is not None and child.color == RED:
                    return -1
        for child in (node.left, node.right):
            if child is not None and child.parent is not node:
                return -1
        left = self.black_height(node.left)
        right = self.black_height(node.right)
        if left < 0 or left != right:
            return -1
        return left + (1 if node.color == BLACK else 0)


class Aircraft:
    def __init__(self, callsign, position):
        self.callsign = callsign
        self.position = position


class Collision:
    def __init__(self, one, two, position):
        self.one = one
        self.two = two
        self.position = position


class Motion:
    def __init__(self, callsign, pos_one, pos_two):
        self.callsign = callsign
        self.pos_one = pos_one
        self.pos_two = pos_two

    def delta(self):
        return self.pos_two.minus(self.pos_one)

    def find_intersection(self, other):
        """The midpoint of the closest approach within the radius during the frame, or None."""
        init1 = self.pos_one
        init2 = other.pos_one
        vec1 = self.delta()
        vec2 = other.delta()
        radius = PROXIMITY_RADIUS
        a = vec2.minus(vec1).squared_magnitude()
        if a != 0.0:
            b = 2.0 * init1.minus(init2).dot(vec1.minus(vec2))
            c = -radius * radius + init2.minus(init1).squared_magnitude()
            discr = b * b - 4.0 * a * c
            if discr < 0.0:
                return None
            v1 = (-b - math.sqrt(discr)) / (2.0 * a)
            v2 = (-b + math.sqrt(discr)) / (2.0 * a)
            if v1 <= v2 and ((v1 <= 1.0 and 1.0 <= v2) or (v1 <= 0.0 and 0.0 <= v2) or (0.0 <= v1 and v2 <= 1.0)):
                v = v1 if v1 > 0.0 else 0.0
                result1 = init1.plus(vec1.times(v))
                result2 = init2.plus(vec2.times(v))
                result = result1.plus(result2).times(0.5)
                if MIN_X <= result.x <= MAX_X and MIN_Y <= result.y <= MAX_Y and MIN_Z <= result.z <= MAX_Z:
                    return result
            return None
        # parallel motions: they stay at one distance
        if init2.minus(init1).magnitude() <= radius:
            return init1.plus(init2).times(0.5)
        return None


HORIZONTAL = Vector2D(GOOD_VOXEL_SIZE, 0.0)
VERTICAL = Vector2D(0.0, GOOD_VOXEL_SIZE)


def axis_window(voxel_low, start, velocity):
    """The frame times (low, high) at which the motion is within reach of the voxel on one
    axis, or None when the axis does not move (then the caller tests the position)."""
    r = PROXIMITY_RADIUS / 2.0
    if velocity == 0.0:
        return None
    low = (voxel_low - r - start) / velocity
    high = (voxel_low + GOOD_VOXEL_SIZE + r - start) / velocity
    if velocity < 0.0:
        low, high = high, low
    return (low, high)


def axis_meets(voxel_low, start, window):
    r = PROXIMITY_RADIUS / 2.0
    if window is None:
        return voxel_low <= start + r and start - r <= voxel_low + GOOD_VOXEL_SIZE
    low, high = window
    return (low <= 1.0 and 1.0 <= high) or (low <= 0.0 and 0.0 <= high) or (0.0 <= low and high <= 1.0)


def is_in_voxel(voxel, motion):
    if voxel.x > MAX_X or voxel.x < MIN_X or voxel.y > MAX_Y or voxel.y < MIN_Y:
        return False
    init = motion.pos_one
    fin = motion.pos_two
    wx = axis_window(voxel.x, init.x, fin.x - init.x)
    wy = axis_window(voxel.y, init.y, fin.y - init.y)
    if not axis_meets(voxel.x, init.x, wx) or not axis_meets(voxel.y, init.y, wy):
        return False
    if wx is None or wy is None:
        return True
    # both axes move: their windows must overlap
    low_x, high_x = wx
    low_y, high_y = wy
    return low_y <= high_x and low_x <= high_y


def voxel_hash(position):
    x_div = int(position.x / GOOD_VOXEL_SIZE)
    y_div = int(position.y / GOOD_VOXEL_SIZE)
    x = GOOD_VOXEL_SIZE * x_div
    y = GOOD_VOXEL_SIZE * y_div
    if position.x < 0:
        x -= GOOD_VOXEL_SIZE
    if position.y < 0:
        y -= GOOD_VOXEL_SIZE
    return Vector2D(x, y)


def draw_motion(voxel_map, seen, voxel, motion):
    if not is_in_voxel(voxel, motion):
        return
    if seen.put(voxel, True) is not None:
        return
    bucket = voxel_map.get(voxel)
    if bucket is None:
        voxel_map.put(voxel, [motion])
    else:
        bucket.append(motion)
    draw_motion(voxel_map, seen, voxel.minus(HORIZONTAL), motion)
    draw_motion(voxel_map, seen, voxel.plus(HORIZONTAL), motion)
    draw_motion(voxel_map, seen, voxel.minus(VERTICAL), motion)
    draw_motion(voxel_map, seen, voxel.plus(VERTICAL), motion)
    draw_motion(voxel_map, seen, voxel.minus(HORIZONTAL).minus(VERTICAL), motion)
    draw_motion(voxel_map, seen, voxel.minus(HORIZONTAL).plus(VERTICAL), motion)
    draw_motion(voxel_map, seen, voxel.plus(HORIZONTAL).minus(VERTICAL), motion)
    draw_motion(voxel_map, seen, voxel.plus(HORIZONTAL).plus(VERTICAL), motion)


def reduce_collision_set(motions):
    voxel_map = RedBlackTree()
    for motion in motions:
        draw_motion(voxel_map, RedBlackTree(), voxel_hash(motion.pos_one), motion)
    result = []

    def keep(voxel, bucket):
        if len(bucket) > 1:
            result.append(bucket)

    voxel_map.for_each(keep)
    return result


class CollisionDetector:
    def __init__(self):
        self.state = RedBlackTree()

    def motions_of(self, frame):
        motions = []
        seen = RedBlackTree()
        for aircraft in frame:
            old = self.state.put(aircraft.callsign, aircraft.position)
            new = aircraft.position
            seen.put(aircraft.callsign, True)
            if old is None:
                old = new   # a new aircraft has not moved yet
            motions.append(Motion(aircraft.callsign, old, new))
        gone = []

        def check_seen(callsign, position):
            if seen.get(callsign) is None:
                gone.append(callsign)

        self.state.for_each(check_seen)
        for callsign in gone:
            self.state.remove(callsign)
        return motions

    def handle_new_frame(self, frame):
        motions = self.motions_of(frame)
        collisions = []
        for bucket in reduce_collision_set(motions):
            for i in range(len(bucket)):
                m1 = bucket[i]
                for j in range(i + 1, len(bucket)):
                    m2 = bucket[j]
                    where = m1.find_intersection(m2)
                    if where is not None:
                        collisions.append(Collision(m1.callsign, m2.callsign, where))
        return collisions, motions


class Simulator:
    def __init__(self, count):
        self.callsigns = [CallSign(i) for i in range(count)]

    def frame_at(self, time):
        frame = []
        for i in range(0, len(self.callsigns), 2):
            frame.append(Aircraft(self.callsigns[i], Vector3D(time, math.cos(time) * 2.0 + i * 3.0, 10.0)))
            frame.append(Aircraft(self.callsigns[i + 1], Vector3D(time, math.sin(time) * 2.0 + i * 3.0, 10.0)))
        return frame


def pair_set(collisions):
    pairs = set()
    for c in collisions:
        a = c.one.value
        b = c.two.value
        pairs.add((a, b) if a < b else (b, a))
    return pairs


def brute_force_pairs(motions):
    pairs = set()
    for i in range(len(motions)):
        for j in range(i + 1, len(motions)):
            if motions[i].find_intersection(motions[j]) is not None:
                a = motions[i].callsign.value
                b = motions[j].callsign.value
                pairs.add((a, b) if a < b else (b, a))
    return pairs


def tree_self_test():
    """Insertions and deletions in a scrambled order; the tree must match a dict throughout."""
    tree = RedBlackTree()
    model = {}
    ok = True
    for i in range(300):
        k = (i * 7919) % 257
        if tree.put(CallSign(k), i) != model.get(k):
            ok = False
        model[k] = i
    for i in range(0, 300, 3):
        k = (i * 104729) % 263
        if tree.remove(CallSign(k)) != model.pop(k, None):
            ok = False
    keys = []
    tree.for_each(lambda key, value: keys.append((key.value, value)))
    ok = ok and keys == sorted(model.items()) and tree.size == len(model)
    ok = ok and tree.black_height(tree.root) > 0 and tree.root.color == BLACK
    return ok


def main():
    frames = parse_size(sys.argv, 12, "cd.py")
    ok = tree_self_test()
    print("cd: red-black tree " + ("agrees with a dict" if ok else "WRONG"))
    simulator = Simulator(AIRCRAFT)
    detector = CollisionDetector()
    total = 0
    checked = 0
    mismatches = 0
    distinct = 0
    for i in range(frames):
        time = i / 10.0
        collisions, motions = detector.handle_new_frame(simulator.frame_at(time))
        total += len(collisions)
        pairs = pair_set(collisions)
        distinct += len(pairs)
        if i % 4 == 1 and i < 12 or i % 25 == 0:
            checked += 1
            if pairs != brute_force_pairs(motions):
                mismatches += 1
    ok = ok and mismatches == 0 and total > 0
    if frames == 200:
        # the figure "Are We Fast Yet?" publishes for 100 aircraft over 200 frames
        ok = ok and total == 4305
    print(f"cd: {AIRCRAFT} aircraft, {frames} frames: {total} collisions ({distinct} distinct pairs); "
          f"{checked} frames checked against all pairs, {mismatches} mismatches")
    print("cd: " + ("ok" if ok else "FAILED"))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
