/* stress/bench/bench_compare.c - `tally bench --compare A/results.json B/results.json`.
 *
 * Owns: the comparison of two runs, in the manner of Google Benchmark's compare tool:
 *   1. the targets whose status changed (met -> missed first, then missed -> met, then the
 *      others, such as a target measured in one run only);
 *   2. the figures present in both runs with a finite median in both, whose median moved by at
 *      least the threshold (--threshold, percent), sorted by the size of the change, largest
 *      first; the others are counted, not listed;
 *   3. for every listed figure that has repetitions in both runs (the stress and binary-trees
 *      figures: one value per run of the configuration), a two-sided Mann-Whitney U test of the
 *      two samples: p, and whether it is below 0.05.  Microbenchmark figures keep only their
 *      median, min and max in results.json, so they have no test ("-").
 * The U test: exact distribution of U when neither sample has ties and both are small (the
 * usual recurrence on the number of arrangements), else the normal approximation with the tie
 * correction and a continuity correction.  With 3 runs against 3 the smallest possible p is
 * 0.10, so no change can be significant: the output says so, and how many runs would do.
 * Single-threaded.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "bench.h"
#include "../cli.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define ALPHA 0.05
#define EXACT_MAX 40   /* exact U distribution while both samples have at most this many */

/* ---- Mann-Whitney U --------------------------------------------------------------------------- */
/* Number of arrangements of m x's and n y's with U = u (U counts the pairs x > y), for every u:
 * f(u; m, n) = f(u - n; m - 1, n) + f(u; m, n - 1), computed row by row in doubles. */
static double *u_counts(size_t m, size_t n)
{
    size_t umax = m * n;
    /* f[i][j][u] for i <= m, j <= n: kept as (n + 1) arrays per i, two i at a time */
    double *prev = calloc((n + 1) * (umax + 1), sizeof *prev);
    double *cur = calloc((n + 1) * (umax + 1), sizeof *cur);
    if (!prev || !cur) {
        free(prev), free(cur);
        return NULL;
    }
#define F(a, j, u) (a)[(j) * (umax + 1) + (u)]
    for (size_t j = 0; j <= n; j++)
        F(prev, j, 0) = 1;   /* i = 0: one arrangement, U = 0 */
    for (size_t i = 1; i <= m; i++) {
        memset(cur, 0, (n + 1) * (umax + 1) * sizeof *cur);
        F(cur, 0, 0) = 1;
        for (size_t j = 1; j <= n; j++)
            for (size_t u = 0; u <= i * j; u++)
                F(cur, j, u) = (u >= j ? F(prev, j, u - j) : 0) + F(cur, j - 1, u);
        double *t = prev;
        prev = cur;
        cur = t;
    }
    double *out = malloc((umax + 1) * sizeof *out);
    if (out)
        memcpy(out, &F(prev, n, 0), (umax + 1) * sizeof *out);
#undef F
    free(prev), free(cur);
    return out;
}

typedef struct {
    double value;
    int sample;   /* 0: A, 1: B */
} ranked;

static int by_value(const void *a, const void *b)
{
    double x = ((const ranked *)a)->value, y = ((const ranked *)b)->value;
    return (x > y) - (x < y);
}

/* Two-sided p of the Mann-Whitney U test of a[0..m) against b[0..n); NaN when m or n is 0. */
static double mann_whitney_p(const double *a, size_t m, const double *b, size_t n)
{
    if (!m || !n)
        return NAN;
    size_t N = m + n;
    ranked *r = malloc(N * sizeof *r);
    if (!r)
        return NAN;
    for (size_t i = 0; i < m; i++)
        r[i] = (ranked){ a[i], 0 };
    for (size_t j = 0; j < n; j++)
        r[m + j] = (ranked){ b[j], 1 };
    qsort(r, N, sizeof *r, by_value);
    /* mid-ranks; the sum of A's ranks, and sum(t^3 - t) over the groups of ties */
    double rank_sum_a = 0, tie_term = 0;
    for (size_t i = 0; i < N;) {
        size_t k = i;
        while (k < N && r[k].value == r[i].value)
            k++;
        double mid = (double)(i + 1 + k) / 2, t = (double)(k - i);
        for (size_t q = i; q < k; q++)
            if (r[q].sample == 0)
                rank_sum_a += mid;
        tie_term += t * t * t - t;
        i = k;
    }
    free(r);
    double dm = (double)m, dn = (double)n;
    double u = rank_sum_a - dm * (dm + 1) / 2;   /* pairs (x in A) > (y in B), ties counting 1/2 */
    if (tie_term == 0 && m <= EXACT_MAX && n <= EXACT_MAX) {
        double *f = u_counts(m, n);
        if (f) {
            size_t umax = m * n, ui = (size_t)llround(u);
            double total = 0, le = 0, ge = 0;
            for (size_t k = 0; k <= umax; k++) {
                total += f[k];
                if (k <= ui)
                    le += f[k];
                if (k >= ui)
                    ge += f[k];
            }
            free(f);
            double p = 2 * (le < ge ? le : ge) / total;
            return p > 1 ? 1 : p;
        }
    }
    double mu = dm * dn / 2;
    double var = dm * dn / 12 * ((double)N + 1 - tie_term / ((double)N * ((double)N - 1)));
    if (!(var > 0))
        return 1;   /* every value equal: no evidence of a difference */
    double z = (fabs(u - mu) - 0.5) / sqrt(var);
    if (z < 0)
        z = 0;
    double p = erfc(z / sqrt(2));
    return p > 1 ? 1 : p;
}

/* The smallest two-sided p that m runs against n can give: 2 / C(m + n, m). */
static double smallest_p(size_t m, size_t n)
{
    double c = 1;
    for (size_t i = 1; i <= m; i++)
        c = c * (double)(n + i) / (double)i;
    return 2 / c;
}

/* ---- the samples behind the figures -------------------------------------------------------------- */
/* sample[id] = [value of each run], for the figures that have runs: stress/<backend>/<workload>/
 * t<threads>/<key>, programs/binary_trees/<backend>/t<threads>/<key>, programs/binary_trees/
 * cpython/<key> (the ids collect_figures gives them). */
static void add_runs(bj *samples, const char *prefix, const bj *runs)
{
    for (size_t r = 0; r < bj_len(runs); r++)
        BJ_EACH(bj_get(bj_at(runs, r), "metrics"), m) {
            if (!bj_is_num(BJ_VAL(m)) || !isfinite(bj_numval(BJ_VAL(m))))
                continue;
            char id[640];
            snprintf(id, sizeof id, "%s/%s", prefix, BJ_KEY(m));
            bj *l = bj_get(samples, id);
            if (!l)
                l = bj_set(samples, id, bj_arr());
            bj_push(l, bj_num(bj_numval(BJ_VAL(m))));
        }
}

static bj *collect_samples(const bj *res)
{
    bj *samples = bj_obj();
    char prefix[512];
    const bj *cfgs = bj_get(res, "stress");
    for (size_t i = 0; i < bj_len(cfgs); i++) {
        const bj *c = bj_at(cfgs, i);
        snprintf(prefix, sizeof prefix, "stress/%s/%s/t%d", bj_getstr(c, "backend", "?"),
                 bj_getstr(c, "workload", "?"), (int)bj_getnum(c, "threads", 0));
        add_runs(samples, prefix, bj_get(c, "runs"));
    }
    const bj *bt = bj_path(res, "programs.binary_trees");
    const bj *btc = bj_get(bt, "configs");
    for (size_t i = 0; i < bj_len(btc); i++) {
        const bj *c = bj_at(btc, i);
        snprintf(prefix, sizeof prefix, "programs/binary_trees/%s/t%d", bj_getstr(c, "backend", "?"),
                 (int)bj_getnum(c, "threads", 0));
        add_runs(samples, prefix, bj_get(c, "runs"));
    }
    add_runs(samples, "programs/binary_trees/cpython", bj_path(bt, "cpython.runs"));
    return samples;
}

static size_t sample_values(const bj *samples, const char *id, double *out, size_t max)
{
    const bj *l = bj_get(samples, id);
    size_t n = 0;
    for (size_t i = 0; i < bj_len(l) && n < max; i++)
        out[n++] = bj_numval(bj_at(l, i));
    return n;
}

/* ---- the comparison ------------------------------------------------------------------------------ */
typedef struct {
    const char *id;
    double a, b, change;   /* change: B/A - 1 (infinite when A is 0 and B is not) */
    double p;              /* NaN: no repetitions to test */
    size_t na, nb;
} row;

static int by_change(const void *x, const void *y)
{
    double a = fabs(((const row *)x)->change), b = fabs(((const row *)y)->change);
    if (a != b)
        return (a < b) - (a > b);   /* largest first */
    return strcmp(((const row *)x)->id, ((const row *)y)->id);
}

static bj *load(const char *path)
{
    char err[512];
    bj *v = bj_read_file(path, err, sizeof err);
    if (!v) {
        tally_cli_error("tally bench", "invalid value '%s' for --compare: %s", path, err);
        return NULL;
    }
    if (!bj_is_arr(bj_get(v, "figures"))) {
        tally_cli_error("tally bench", "invalid value '%s' for --compare: not a tally bench results.json (no "
                        "figures)", path);
        bj_free(v);
        return NULL;
    }
    return v;
}

/* Rank of a status change, for the order of the list: regressions first. */
static int change_rank(const char *from, const char *to)
{
    if (strcmp(from, "met") == 0 && strcmp(to, "missed") == 0)
        return 0;
    if (strcmp(from, "missed") == 0 && strcmp(to, "met") == 0)
        return 1;
    return 2;
}

static void fmt_value(double v, char *buf, size_t len)
{
    if (isfinite(v))
        snprintf(buf, len, "%.4g", v);
    else
        snprintf(buf, len, "-");
}

static void print_targets(const bj *a, const bj *b)
{
    const bj *ta = bj_get(a, "targets"), *tb = bj_get(b, "targets");
    size_t changed = 0, compared = 0;
    printf("Targets whose status changed (A -> B):\n");
    for (int pass = 0; pass < 3; pass++)
        for (size_t i = 0; i < bj_len(ta); i++) {
            const bj *x = bj_at(ta, i);
            const char *id = bj_getstr(x, "id", "");
            for (size_t j = 0; j < bj_len(tb); j++) {
                const bj *y = bj_at(tb, j);
                if (strcmp(id, bj_getstr(y, "id", "")) != 0)
                    continue;
                compared += pass == 0;
                const char *sa = bj_getstr(x, "status", "?"), *sb = bj_getstr(y, "status", "?");
                if (strcmp(sa, sb) == 0 || change_rank(sa, sb) != pass)
                    break;
                char va[32], vb[32];
                fmt_value(bj_getnum(x, "value", NAN), va, sizeof va);
                fmt_value(bj_getnum(y, "value", NAN), vb, sizeof vb);
                printf("  %-12s -> %-12s  %-40s %s -> %s %s (limit %s %.4g)\n", sa, sb, id, va, vb,
                       bj_getstr(y, "unit", ""), bj_getstr(y, "op", "?"), bj_getnum(y, "limit", NAN));
                changed++;
                break;
            }
        }
    if (!changed)
        printf("  none (of %zu targets in both)\n", compared);
    printf("\n");
}

int bench_compare(const char *a_path, const char *b_path, double threshold_pct)
{
    bj *a = load(a_path);
    if (!a)
        return TALLY_CLI_EXIT_USAGE;
    bj *b = load(b_path);
    if (!b) {
        bj_free(a);
        return TALLY_CLI_EXIT_USAGE;
    }
    printf("A = %s (%s, %s)\nB = %s (%s, %s)\n\n", a_path, bj_getstr(a, "date", "?"),
           bj_getstr(bj_get(a, "machine"), "cpu_model", "?"), b_path, bj_getstr(b, "date", "?"),
           bj_getstr(bj_get(b, "machine"), "cpu_model", "?"));
    print_targets(a, b);

    const bj *fa = bj_get(a, "figures"), *fb = bj_get(b, "figures");
    /* B's figures by id */
    bj *index = bj_obj();
    for (size_t j = 0; j < bj_len(fb); j++)
        bj_set(index, bj_getstr(bj_at(fb, j), "id", ""), bj_num((double)j));
    bj *sa = collect_samples(a), *sb = collect_samples(b);
    row *rows = calloc(bj_len(fa) + 1, sizeof *rows);
    size_t nrows = 0, both = 0, not_finite = 0, below = 0;
    double thr = threshold_pct / 100;
    for (size_t i = 0; rows && i < bj_len(fa); i++) {
        const bj *x = bj_at(fa, i);
        const char *id = bj_getstr(x, "id", "");
        const bj *k = bj_get(index, id);
        if (!k)
            continue;
        both++;
        const bj *y = bj_at(fb, (size_t)bj_numval(k));
        double va = bj_getnum(x, "median", NAN), vb = bj_getnum(y, "median", NAN);
        if (!isfinite(va) || !isfinite(vb)) {
            not_finite++;
            continue;
        }
        double change = va == vb ? 0 : va == 0 ? (vb > 0 ? INFINITY : -INFINITY) : vb / va - 1;
        if (fabs(change) < thr || change == 0) {
            below++;
            continue;
        }
        row *r = &rows[nrows++];
        r->id = id;
        r->a = va;
        r->b = vb;
        r->change = change;
        double xs[256], ys[256];
        r->na = sample_values(sa, id, xs, 256);
        r->nb = sample_values(sb, id, ys, 256);
        r->p = r->na >= 2 && r->nb >= 2 ? mann_whitney_p(xs, r->na, ys, r->nb) : NAN;
    }
    if (rows)
        qsort(rows, nrows, sizeof *rows, by_change);
    printf("Figures whose median changed by %g%% or more: %zu of the %zu in both runs (changed less: %zu; "
           "without a finite median in one run: %zu; A has %zu figures, B %zu), largest change first.\n"
           "U test: two-sided Mann-Whitney U over the runs of each configuration, significant when p < %g.\n\n",
           threshold_pct, nrows, both, below, not_finite, bj_len(fa), bj_len(fb), ALPHA);
    if (nrows) {
        printf("%-64s %12s %12s %9s  %s\n", "figure", "A median", "B median", "change", "U test (runs A, B)");
        size_t too_few = 0;
        for (size_t i = 0; i < nrows; i++) {
            const row *r = &rows[i];
            char ch[32], test[96];
            if (isinf(r->change))
                snprintf(ch, sizeof ch, "from 0");
            else
                snprintf(ch, sizeof ch, "%+.1f%%", 100 * r->change);
            if (isnan(r->p)) {
                snprintf(test, sizeof test, "-");
            } else {
                double least = smallest_p(r->na, r->nb);
                bool can = least < ALPHA;
                too_few += !can;
                snprintf(test, sizeof test, "p=%.3f (%zu, %zu) %s", r->p, r->na, r->nb,
                         r->p < ALPHA ? "significant" : can ? "not significant" : "not significant (too few runs)");
            }
            printf("%-64s %12.5g %12.5g %9s  %s\n", r->id, r->a, r->b, ch, test);
        }
        if (too_few)
            printf("\n%zu of these have too few runs for any U test to reach p < %g (3 against 3 give at "
                   "least p = %.2f; 4 against 4 at least %.3f): run both with --reps 4 or more.\n",
                   too_few, ALPHA, smallest_p(3, 3), smallest_p(4, 4));
    }
    free(rows);
    bj_free(index);
    bj_free(sa);
    bj_free(sb);
    bj_free(a);
    bj_free(b);
    return 0;
}
