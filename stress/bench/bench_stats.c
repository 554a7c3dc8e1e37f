/* stress/bench/bench_stats.c - the statistics and the benchmark-row lookup of `tally bench`.
 *
 * Owns: median/min/max over a configuration's repetitions (bench_stats), the search of a
 * Google Benchmark row by a part of its name (bench_find_row) and of a configuration by its
 * members (bench_find_cfg): used by the measuring
 * (bench_main.c) and by the report (bench_report.c), so neither calls into the other.
 */
#include "bench.h"

#include <stdlib.h>
#include <string.h>

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

void bench_stats(double *v, size_t n, double *median, double *min, double *max)
{
    qsort(v, n, sizeof *v, cmp_double);
    *min = v[0];
    *max = v[n - 1];
    *median = n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

const bj *bench_find_row(const bj *rows, const char *needle, const char *counter)
{
    BJ_EACH(rows, r)
        if (strstr(BJ_KEY(r), needle) && bj_get(BJ_VAL(r), counter))
            return BJ_VAL(r);
    return NULL;
}

const bj *bench_find_cfg(const bj *cfgs, const char *k1, const char *v1, const char *k2, const char *v2, int threads)
{
    for (size_t i = 0; i < bj_len(cfgs); i++) {
        const bj *c = bj_at(cfgs, i);
        if (strcmp(bj_getstr(c, k1, ""), v1) == 0 && (!k2 || strcmp(bj_getstr(c, k2, ""), v2) == 0) &&
            (threads < 0 || (int)bj_getnum(c, "threads", 0) == threads))
            return c;
    }
    return NULL;
}
