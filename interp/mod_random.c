/* interp/mod_random.c - the built-in module `random`, bit for bit CPython's.
 *
 * Owns: the Mersenne Twister MT19937 (init_genrand, init_by_array, genrand_uint32, as in
 * CPython's Modules/_randommodule.c, written from the published algorithm), seeding from an int
 * (its absolute value split into 32-bit words, least significant first: init_by_array) or from
 * the clock when no seed is given, and the Python-level functions of Lib/random.py that the
 * subset uses, with the same draws: random (53 bits from two words), getrandbits, randbelow by
 * rejection on getrandbits(n.bit_length()), randrange, randint, choice, shuffle, uniform.  So
 * `random.seed(1); random.random()` gives what python3 gives.  One generator per process (the
 * interpreter runs one thread for now).
 */
#include "interp.h"

#include <time.h>
#include <unistd.h>

#define MT_N 624
#define MT_M 397
static uint32_t mt[MT_N];
static int mti = MT_N + 1;
/* threads: mt and mti are touched only under rng_mu (a leaf: no allocation or Python code
 * inside); a draw of several words may interleave with another thread's, as in CPython 3.13t */
static py_mutex rng_mu;

static void init_genrand(uint32_t s)
{
    mt[0] = s;
    for (mti = 1; mti < MT_N; mti++)
        mt[mti] = 1812433253u * (mt[mti - 1] ^ (mt[mti - 1] >> 30)) + (uint32_t)mti;
}

static void init_by_array(const uint32_t *key, size_t len)
{
    init_genrand(19650218u);
    size_t i = 1, j = 0;
    for (size_t k = MT_N > len ? MT_N : len; k; k--) {
        mt[i] = (mt[i] ^ ((mt[i - 1] ^ (mt[i - 1] >> 30)) * 1664525u)) + key[j] + (uint32_t)j;
        i++;
        j++;
        if (i >= MT_N) {
            mt[0] = mt[MT_N - 1];
            i = 1;
        }
        if (j >= len) j = 0;
    }
    for (size_t k = MT_N - 1; k; k--) {
        mt[i] = (mt[i] ^ ((mt[i - 1] ^ (mt[i - 1] >> 30)) * 1566083941u)) - (uint32_t)i;
        i++;
        if (i >= MT_N) {
            mt[0] = mt[MT_N - 1];
            i = 1;
        }
    }
    mt[0] = 0x80000000u;   /* non-zero initial array */
}

static void seed_u64(uint64_t v)
{
    uint32_t key[2] = { (uint32_t)v, (uint32_t)(v >> 32) };
    init_by_array(key, key[1] ? 2 : 1);
}

static uint32_t genrand_locked(void);
static uint32_t genrand_uint32(void)
{
    py_mutex_lock(&rng_mu);
    uint32_t y = genrand_locked();
    py_mutex_unlock(&rng_mu);
    return y;
}

static uint32_t genrand_locked(void)
{
    static const uint32_t mag01[2] = { 0x0u, 0x9908b0dfu };
    if (mti >= MT_N) {
        if (mti == MT_N + 1) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            seed_u64(((uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec) ^ ((uint64_t)getpid() << 32));
        }
        int kk;
        uint32_t y;
        for (kk = 0; kk < MT_N - MT_M; kk++) {
            y = (mt[kk] & 0x80000000u) | (mt[kk + 1] & 0x7fffffffu);
            mt[kk] = mt[kk + MT_M] ^ (y >> 1) ^ mag01[y & 1u];
        }
        for (; kk < MT_N - 1; kk++) {
            y = (mt[kk] & 0x80000000u) | (mt[kk + 1] & 0x7fffffffu);
            mt[kk] = mt[kk + (MT_M - MT_N)] ^ (y >> 1) ^ mag01[y & 1u];
        }
        y = (mt[MT_N - 1] & 0x80000000u) | (mt[0] & 0x7fffffffu);
        mt[MT_N - 1] = mt[MT_M - 1] ^ (y >> 1) ^ mag01[y & 1u];
        mti = 0;
    }
    uint32_t y = mt[mti++];
    y ^= (y >> 11);
    y ^= (y << 7) & 0x9d2c5680u;
    y ^= (y << 15) & 0xefc60000u;
    y ^= (y >> 18);
    return y;
}

static double random_double(void)
{
    uint32_t a = genrand_uint32() >> 5, b = genrand_uint32() >> 6;
    return ((double)a * 67108864.0 + (double)b) * (1.0 / 9007199254740992.0);
}

/* k random bits, 1 <= k <= 64: 32-bit words, least significant first, the last one shifted */
static uint64_t getrandbits(int k)
{
    if (k <= 32) return genrand_uint32() >> (32 - k);
    uint64_t lo = genrand_uint32();
    uint64_t hi = genrand_uint32() >> (64 - k);
    return lo | (hi << 32);
}

static int bit_length(uint64_t n)
{
    return n ? 64 - __builtin_clzll(n) : 0;
}

/* uniform in [0, n), n > 0: Lib/random.py's _randbelow_with_getrandbits */
static uint64_t randbelow(uint64_t n)
{
    int k = bit_length(n);
    uint64_t r = getrandbits(k);
    while (r >= n) r = getrandbits(k);
    return r;
}

static tally_object *r_seed(tally_object *self, tally_object *const *args, size_t nargs, tally_object *kwnames)
{
    (void)self;
    if (py_arg_count("seed", nargs, kwnames, 0, 1) < 0) return NULL;
    if (nargs == 0 || args[0] == py_None) {
        py_mutex_lock(&rng_mu);
        mti = MT_N + 1;   /* reseeded from the clock on the next draw */
        py_mutex_unlock(&rng_mu);
        return tally_newref(py_None);
    }
    int64_t v;
    if (IS_INT(args[0]) || IS_BOOL(args[0])) {
        py_arg_int(args[0], &v);
    } else if (IS_FLOAT(args[0])) {
        bool err = false;
        v = py_hash(args[0], &err);   /* CPython seeds a float by its hash */
        if (err) return NULL;
    } else {
        py_err_format(exc_TypeError, "seeding from a '%s' is not supported yet (int, float or None)", py_type_name(args[0]));
        return NULL;
    }
    py_mutex_lock(&rng_mu);
    seed_u64(v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v);
    py_mutex_unlock(&rng_mu);
    return tally_newref(py_None);
}

static tally_object *r_random(tally_object *self, tally_object *const *args, size_t nargs, tally_object *kwnames)
{
    (void)self; (void)args;
    if (py_arg_count("random", nargs, kwnames, 0, 0) < 0) return NULL;
    return py_float_new(random_double());
}

static tally_object *r_uniform(tally_object *self, tally_object *const *args, size_t nargs, tally_object *kwnames)
{
    (void)self;
    double ab[2];
    if (py_args_doubles("uniform", args, nargs, kwnames, ab, 2) < 0) return NULL;
    return py_float_new(ab[0] + (ab[1] - ab[0]) * random_double());
}

static tally_object *r_getrandbits(tally_object *self, tally_object *const *args, size_t nargs, tally_object *kwnames)
{
    (void)self;
    int64_t k;
    if (py_arg_count("getrandbits", nargs, kwnames, 1, 1) < 0 || py_arg_int(args[0], &k) < 0) return NULL;
    if (k < 0) {
        py_err_set(exc_ValueError, "number of bits must be non-negative");
        return NULL;
    }
    if (k > 63) {
        py_err_set(exc_OverflowError, "getrandbits() beyond 63 bits needs arbitrary-precision ints");
        return NULL;
    }
    return py_int_checked(k ? (__int128)getrandbits((int)k) : 0);
}

/* Lib/random.py's randrange, for 64-bit ints */
static tally_object *randrange(int64_t start, tally_object *stop_o, int64_t step)
{
    if (!stop_o) {
        if (start > 0) return py_int_checked((__int128)randbelow((uint64_t)start));
        py_err_set(exc_ValueError, "empty range for randrange()");
        return NULL;
    }
    int64_t stop;
    if (py_arg_int(stop_o, &stop) < 0) return NULL;
    __int128 width = (__int128)stop - start;
    if (step == 1) {
        if (width > 0) return py_int_checked(start + (__int128)randbelow((uint64_t)width));
        py_err_format(exc_ValueError, "empty range for randrange() (%lld, %lld, %lld)", (long long)start,
                      (long long)stop, (long long)width);
        return NULL;
    }
    __int128 n;
    if (step > 0) n = (width + step - 1) / step;
    else if (step < 0) n = (width + step + 1) / step;
    else {
        py_err_set(exc_ValueError, "zero step for randrange()");
        return NULL;
    }
    /* floor division: the operands' signs make C's truncation differ when inexact */
    if (step > 0 && (width + step - 1) % step != 0 && (width + step - 1) < 0) n--;
    if (step < 0 && (width + step + 1) % step != 0 && (width + step + 1) > 0) n--;
    if (n <= 0) {
        py_err_set(exc_ValueError, "empty range for randrange()");
        return NULL;
    }
    return py_int_checked(start + (__int128)step * (__int128)randbelow((uint64_t)n));
}

static tally_object *r_randrange(tally_object *self, tally_object *const *args, size_t nargs, tally_object *kwnames)
{
    (void)self;
    int64_t start, step = 1;
    if (py_arg_count("randrange", nargs, kwnames, 1, 3) < 0 || py_arg_int(args[0], &start) < 0) return NULL;
    if (nargs == 3 && py_arg_int(args[2], &step) < 0) return NULL;
    tally_object *stop = nargs >= 2 && args[1] != py_None ? args[1] : NULL;
    if (!stop && nargs == 3) {
        py_err_set(exc_TypeError, "Missing a non-None stop argument");
        return NULL;
    }
    return randrange(start, stop, step);
}

static tally_object *r_randint(tally_object *self, tally_object *const *args, size_t nargs, tally_object *kwnames)
{
    (void)self;
    int64_t a, b;
    if (py_arg_count("randint", nargs, kwnames, 2, 2) < 0 || py_arg_int(args[0], &a) < 0 || py_arg_int(args[1], &b) < 0)
        return NULL;
    tally_object *stop = py_int_checked((__int128)b + 1);
    if (!stop) return NULL;
    tally_object *r = randrange(a, stop, 1);
    tally_decref(stop);
    return r;
}

static tally_object *r_choice(tally_object *self, tally_object *const *args, size_t nargs, tally_object *kwnames)
{
    (void)self;
    if (py_arg_count("choice", nargs, kwnames, 1, 1) < 0) return NULL;
    int64_t n = py_len(args[0]);
    if (n < 0) return NULL;
    if (n == 0) {
        py_err_set(exc_IndexError, "Cannot choose from an empty sequence");
        return NULL;
    }
    tally_object *i = py_int_checked((__int128)randbelow((uint64_t)n));
    if (!i) return NULL;
    tally_object *r = py_getitem(args[0], i);
    tally_decref(i);
    return r;
}

static tally_object *r_shuffle(tally_object *self, tally_object *const *args, size_t nargs, tally_object *kwnames)
{
    (void)self;
    if (py_arg_count("shuffle", nargs, kwnames, 1, 1) < 0) return NULL;
    tally_object *x = args[0];
    int64_t n = py_len(x);
    if (n < 0) return NULL;
    for (int64_t i = n - 1; i >= 1; i--) {
        uint64_t j = randbelow((uint64_t)i + 1);
        tally_object *ki = tally_int_new(i), *kj = tally_int_new((int64_t)j);
        tally_object *a = ki ? py_getitem(x, ki) : NULL, *b = a && kj ? py_getitem(x, kj) : NULL;
        int r = b ? py_setitem(x, ki, b) : -1;
        if (r == 0) r = py_setitem(x, kj, a);
        tally_xdecref(a);
        tally_xdecref(b);
        tally_xdecref(ki);
        tally_xdecref(kj);
        if (r < 0) {
            if (!py_err_occurred()) py_err_nomem();
            return NULL;
        }
    }
    return tally_newref(py_None);
}

int mod_random_init(tally_object *d)
{
    static const struct { const char *name; py_cfunc fn; } fns[] = {
        { "seed", r_seed }, { "random", r_random }, { "uniform", r_uniform }, { "getrandbits", r_getrandbits },
        { "randrange", r_randrange }, { "randint", r_randint }, { "choice", r_choice }, { "shuffle", r_shuffle },
    };
    for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++)
        if (py_add_fn(d, fns[i].name, fns[i].fn) < 0) return -1;
    return 0;
}
