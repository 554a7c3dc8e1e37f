/* stress/harness/metrics.c - process and machine figures for the stress output.
 *
 * Owns: peak RSS (getrusage), the CPU model (/proc/cpuinfo), Private_Dirty
 * (/proc/self/smaps_rollup) and the conversion of the collector's pause records
 * (tally_gc_get_pauses) into histograms of stop-the-world pauses and times to safepoint.
 */
#include "harness.h"

#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

long stress_peak_rss_kb(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return -1;
    return ru.ru_maxrss;
}

void stress_cpu_model(char *buf, size_t len)
{
    snprintf(buf, len, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f)
        return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "model name", 10) == 0) {
            char *c = strchr(line, ':');
            if (c) {
                c++;
                while (*c == ' ' || *c == '\t')
                    c++;
                c[strcspn(c, "\n")] = '\0';
                snprintf(buf, len, "%s", c);
            }
            break;
        }
    }
    fclose(f);
}

long stress_private_dirty_kb(void)
{
    FILE *f = fopen("/proc/self/smaps_rollup", "r");
    if (!f)
        return -1;
    char line[256];
    long kb = -1;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "Private_Dirty:", 14) == 0) {
            kb = strtol(line + 14, NULL, 10);
            break;
        }
    }
    fclose(f);
    return kb;
}

void stress_collect_pauses(stress_run *r, uint64_t pauses_before)
{
    uint64_t total = tally_gc_pause_count();
    uint64_t n = total > pauses_before ? total - pauses_before : 0;
    if (n > TALLY_GC_PAUSE_RING)
        n = TALLY_GC_PAUSE_RING;   /* older records were overwritten by the ring */
    stress_hist *stw = malloc(sizeof *stw), *tts = malloc(sizeof *tts), *tot = malloc(sizeof *tot);
    tally_gc_pause *p = n ? calloc(n, sizeof *p) : NULL;
    if (!stw || !tts || !tot || (n && !p)) {
        free(stw), free(tts), free(tot), free(p);
        return;
    }
    stress_hist_init(stw);
    stress_hist_init(tts);
    stress_hist_init(tot);
    size_t got = n ? tally_gc_get_pauses(p, n) : 0;
    for (size_t i = 0; i < got; i++) {
        stress_hist_add(stw, p[i].stw_ns);
        stress_hist_add(tts, p[i].time_to_safepoint_ns);
        stress_hist_add(tot, p[i].total_ns);
    }
    free(p);
    stress_figure_set(r, "gc_pause_records", (double)got, true);
    stress_hist_publish(r, "gc_stw_pause_ns", stw);
    stress_hist_publish(r, "gc_time_to_safepoint_ns", tts);
    stress_hist_publish(r, "gc_collection_ns", tot);
}
