"""stress/programs/nbody.py - the n-body simulation of the Jovian planets.

Owns: our own Python version of the classic n-body benchmark (issue 14, item 7): the Sun,
Jupiter, Saturn, Uranus and Neptune advanced with a symplectic integrator (dt 0.01); the
momentum is offset so the centre of mass stays put.  Floating-point heavy: float arithmetic on
list items, unpacking of pairs, tuple loops, no allocation in the inner loop.

Checks: the energy before the run is -0.169075164 (to 9 places), the energy drifts by less
than 1e-4 relative, and for 1000 steps it is -0.169087605 (the published figure).

Usage: nbody.py [STEPS]   (default 1000; the timing size is 200000)
Exit status 0 when the checks hold, 1 otherwise, 2 on bad arguments.
"""
import sys
from bench_args import parse_size

PI = 3.14159265358979323
SOLAR_MASS = 4 * PI * PI
DAYS_PER_YEAR = 365.24


def body(x, y, z, vx, vy, vz, mass):
    """A body is [position list, velocity list, mass]."""
    return [[x, y, z], [vx * DAYS_PER_YEAR, vy * DAYS_PER_YEAR, vz * DAYS_PER_YEAR], mass * SOLAR_MASS]


def make_system():
    sun = body(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0)
    jupiter = body(4.84143144246472090e+00, -1.16032004402742839e+00, -1.03622044471123109e-01,
                   1.66007664274403694e-03, 7.69901118419740425e-03, -6.90460016972063023e-05,
                   9.54791938424326609e-04)
    saturn = body(8.34336671824457987e+00, 4.12479856412430479e+00, -4.03523417114321381e-01,
                  -2.76742510726862411e-03, 4.99852801234917238e-03, 2.30417297573763929e-05,
                  2.85885980666130812e-04)
    uranus = body(1.28943695621391310e+01, -1.51111514016986312e+01, -2.23307578892655734e-01,
                  2.96460137564761618e-03, 2.37847173959480950e-03, -2.96589568540237556e-05,
                  4.36624404335156298e-05)
    neptune = body(1.53796971148509165e+01, -2.59193146099879641e+01, 1.79258772950371181e-01,
                   2.68067772490389322e-03, 1.62824170038242295e-03, -9.51592254519715870e-05,
                   5.15138902046611451e-05)
    return [sun, jupiter, saturn, uranus, neptune]


def pairs_of(bodies):
    result = []
    for i in range(len(bodies) - 1):
        for j in range(i + 1, len(bodies)):
            result.append((bodies[i], bodies[j]))
    return result


def advance(bodies, pairs, dt, steps):
    for _ in range(steps):
        for (p1, v1, m1), (p2, v2, m2) in pairs:
            dx = p1[0] - p2[0]
            dy = p1[1] - p2[1]
            dz = p1[2] - p2[2]
            dist2 = dx * dx + dy * dy + dz * dz
            mag = dt * (dist2 ** -1.5)
            b1 = m1 * mag
            b2 = m2 * mag
            v1[0] -= dx * b2
            v1[1] -= dy * b2
            v1[2] -= dz * b2
            v2[0] += dx * b1
            v2[1] += dy * b1
            v2[2] += dz * b1
        for pos, vel, mass in bodies:
            pos[0] += dt * vel[0]
            pos[1] += dt * vel[1]
            pos[2] += dt * vel[2]


def energy(bodies, pairs):
    e = 0.0
    for (p1, v1, m1), (p2, v2, m2) in pairs:
        dx = p1[0] - p2[0]
        dy = p1[1] - p2[1]
        dz = p1[2] - p2[2]
        e -= (m1 * m2) / ((dx * dx + dy * dy + dz * dz) ** 0.5)
    for pos, vel, mass in bodies:
        e += mass * (vel[0] * vel[0] + vel[1] * vel[1] + vel[2] * vel[2]) / 2.0
    return e


def offset_momentum(bodies):
    px = py = pz = 0.0
    for pos, vel, mass in bodies:
        px -= vel[0] * mass
        py -= vel[1] * mass
        pz -= vel[2] * mass
    sun_vel = bodies[0][1]
    sun_mass = bodies[0][2]
    sun_vel[0] = px / sun_mass
    sun_vel[1] = py / sun_mass
    sun_vel[2] = pz / sun_mass


def main():
    steps = parse_size(sys.argv, 1000, "nbody.py")
    bodies = make_system()
    pairs = pairs_of(bodies)
    offset_momentum(bodies)
    before = energy(bodies, pairs)
    advance(bodies, pairs, 0.01, steps)
    after = energy(bodies, pairs)
    print(f"nbody: {steps} steps")
    print("energy before: %.9f" % before)
    print("energy after:  %.9f" % after)
    print(f"energy after (repr): {after!r}")
    ok = "%.9f" % before == "-0.169075164"
    ok = ok and abs((after - before) / before) < 1e-4
    if steps == 1000:
        ok = ok and "%.9f" % after == "-0.169087605"
    print("nbody: " + ("ok" if ok else "FAILED"))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
