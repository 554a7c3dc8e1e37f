/* stress/harness/histogram.c - a log-bucketed histogram (HdrHistogram's layout, 5 sub-bits).
 *
 * Owns: recording and percentiles of latencies and pauses.  Values below 32 fall in exact
 * buckets; each higher power of two is split in 32 linear sub-buckets, so the relative error
 * of a reported percentile is below 1/32.  Single-threaded per instance; merge after the run.
 */
#include "harness.h"

#include <string.h>

static unsigned bucket_of(uint64_t v)
{
    if (v < (1u << STRESS_HIST_SUB_BITS))
        return (unsigned)v;
    unsigned msb = 63u - (unsigned)__builtin_clzll(v);
    unsigned shift = msb - STRESS_HIST_SUB_BITS;
    return ((shift + 1) << STRESS_HIST_SUB_BITS) +
           (unsigned)((v >> shift) - (1u << STRESS_HIST_SUB_BITS));
}

/* Largest value that falls in bucket i. */
uint64_t stress_hist_bucket_high(unsigned i)
{
    if (i < (2u << STRESS_HIST_SUB_BITS))
        return i;
    unsigned shift = (i >> STRESS_HIST_SUB_BITS) - 1;
    uint64_t sub = i & ((1u << STRESS_HIST_SUB_BITS) - 1);
    uint64_t low = ((uint64_t)(1u << STRESS_HIST_SUB_BITS) + sub) << shift;
    return low + (((uint64_t)1 << shift) - 1);
}

void stress_hist_init(stress_hist *h)
{
    memset(h, 0, sizeof *h);
    h->min = UINT64_MAX;
}

void stress_hist_add(stress_hist *h, uint64_t v)
{
    h->bucket[bucket_of(v)]++;
    h->count++;
    h->sum += v;
    if (v < h->min)
        h->min = v;
    if (v > h->max)
        h->max = v;
}

void stress_hist_merge(stress_hist *into, const stress_hist *from)
{
    if (!from->count)
        return;
    for (unsigned i = 0; i < STRESS_HIST_BUCKETS; i++)
        into->bucket[i] += from->bucket[i];
    into->count += from->count;
    into->sum += from->sum;
    if (from->min < into->min)
        into->min = from->min;
    if (from->max > into->max)
        into->max = from->max;
}

uint64_t stress_hist_quantile(const stress_hist *h, double q)
{
    if (!h->count)
        return 0;
    if (q <= 0)
        return h->min;
    /* rank of the wanted value, 1-based: ceil(q * count) */
    double want = q * (double)h->count;
    uint64_t rank = (uint64_t)want;
    if ((double)rank < want)
        rank++;
    if (rank < 1)
        rank = 1;
    uint64_t seen = 0;
    for (unsigned i = 0; i < STRESS_HIST_BUCKETS; i++) {
        seen += h->bucket[i];
        if (seen >= rank) {
            uint64_t v = stress_hist_bucket_high(i);
            if (v > h->max)
                v = h->max;
            if (v < h->min)
                v = h->min;
            return v;
        }
    }
    return h->max;
}
