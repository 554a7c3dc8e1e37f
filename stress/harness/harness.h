/* stress/harness/harness.h - interfaces between the parts of the stress workers
 * (tally-stress-<backend>).
 *
 * Owns: the run (configuration, stop flag, violation counters, figures), worker threads and
 * their barriers, chaos points, the harness object type `stress.obj` with its reference model,
 * the log-bucketed histogram and the JSON output (json-c).  Grouped by the file that implements them.
 *
 * Threads: every worker attaches with tally_thread_attach() and leaves with
 * tally_thread_release(); every blocking wait (barriers, queues, joins, sleeps) is done
 * detached (TALLY_BEGIN/END_ALLOW_THREADS) so that a GIL hand-over or a stop-the-world never
 * waits on a blocked thread.
 */
#ifndef TALLY_STRESS_HARNESS_H
#define TALLY_STRESS_HARNESS_H

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <tally/tally.h>

#include "options.h"

#define STRESS_CACHELINE 64

/* ==== histogram.c: log-bucketed histogram of non-negative integers (ns) =================== */
/* Buckets: values below 2^SUB_BITS are exact; above, each power of two is split in
 * 2^SUB_BITS linear sub-buckets, so a percentile is within 1/2^SUB_BITS (3%) of the truth
 * (HdrHistogram's layout).  Not thread-safe: one per thread, merged after the run. */
#define STRESS_HIST_SUB_BITS 5
#define STRESS_HIST_BUCKETS ((64 - STRESS_HIST_SUB_BITS + 1) << STRESS_HIST_SUB_BITS)
typedef struct stress_hist {
    uint64_t count, sum, min, max;
    uint64_t bucket[STRESS_HIST_BUCKETS];
} stress_hist;
void stress_hist_init(stress_hist *h);
void stress_hist_add(stress_hist *h, uint64_t v);
void stress_hist_merge(stress_hist *into, const stress_hist *from);
/* Value at quantile q in [0, 1] (upper edge of the bucket, clamped to max); 0 when empty. */
uint64_t stress_hist_quantile(const stress_hist *h, double q);
uint64_t stress_hist_bucket_high(unsigned i);   /* largest value that falls in bucket i */

/* ==== json.c: the --json object, built with json-c ======================================= */
/* A builder in the order the report is written: sj_obj/sj_arr open a member (key NULL inside
 * arrays), the *_end calls close it, sj_end prints the whole object on one line and frees it.
 * Numbers that are not finite are written as null.  Single-threaded.  (The crash and watchdog
 * reports of runner.c write their JSON by hand: a signal handler may not allocate.) */
#define SJ_MAX_DEPTH 32
typedef struct stress_json {
    FILE *f;
    int depth;
    struct json_object *stack[SJ_MAX_DEPTH];   /* stack[0] is the top-level object */
} stress_json;
void sj_begin(stress_json *j, FILE *f);
/* Prints the object and a newline; 0, or -1 when json-c failed (out of memory) or f has an
 * error (the caller's fflush/ferror checks say which). */
int sj_end(stress_json *j);
void sj_obj(stress_json *j, const char *key);
void sj_obj_end(stress_json *j);
void sj_arr(stress_json *j, const char *key);
void sj_arr_end(stress_json *j);
void sj_str(stress_json *j, const char *key, const char *v);   /* v NULL: null */
void sj_u64(stress_json *j, const char *key, uint64_t v);
void sj_i64(stress_json *j, const char *key, int64_t v);
void sj_f64(stress_json *j, const char *key, double v);
void sj_bool(stress_json *j, const char *key, bool v);

/* ==== runner.c / sync.c: the run ======================================================== */
typedef enum stress_violation {
    SV_REFCOUNT,        /* a count differs from the references the harness knows are held */
    SV_EARLY_FREE,      /* an object died while the harness still held references to it */
    SV_DOUBLE_FREE,     /* an object was destroyed twice */
    SV_USE_AFTER_FREE,  /* an access found a poisoned canary / a freed registry state */
    SV_LEAK,            /* an object the model says is gone is still alive */
    SV_LIVE_COUNT,      /* tally_get_alloc_stats().live not back to its start value */
    SV_CONTENT,         /* a container or edge returned a different object than the model */
    SV_COUNT
} stress_violation;
extern const char *const stress_violation_keys[SV_COUNT];  /* "refcount_violations", ... */

#define STRESS_MAX_FIGURES 96
#define STRESS_MAX_HISTS 8

typedef struct stress_figure {
    const char *key;       /* static string */
    double value;
    bool integer;
} stress_figure;

typedef struct stress_named_hist {
    const char *key;       /* static string: "gc_pause_ns", "wake_latency_ns", ... */
    stress_hist *hist;
} stress_named_hist;

struct stress_run;

/* One per worker thread, cache-line aligned: `ops` is written by its thread only (relaxed)
 * and read by the monitor (relaxed) for the progress line. */
typedef struct stress_thread {
    struct stress_run *run;
    unsigned index;
    uint64_t ops;
    uint64_t quota;         /* --ops share of this thread (0: unlimited, stop on time) */
    uint64_t rng;           /* xorshift64* state, seeded from --seed and index */
    void *arg;              /* workload-private */
    void (*fn)(struct stress_thread *);
    pthread_t thread;
    uint64_t start_ns, end_ns;
} __attribute__((aligned(STRESS_CACHELINE))) stress_thread;

typedef struct stress_run {
    const stress_config *cfg;
    unsigned nthreads;
    uint64_t start_ns, deadline_ns, end_ns;
    int stop;                   /* atomic: set by the monitor (time, SIGINT) or a workload */
    int interrupted;            /* SIGINT or SIGTERM was seen: stop, report, exit 128 + signal */
    uint64_t violations[SV_COUNT]; /* atomic adds */
    uint64_t ops_total;         /* filled at the end from the threads */
    stress_thread *threads;     /* nthreads of them while a phase runs */
    unsigned running;           /* atomic: threads not yet finished */
    pthread_mutex_t lock;       /* guards figures and hists appends */
    stress_figure figures[STRESS_MAX_FIGURES];
    size_t nfigures;
    stress_named_hist hists[STRESS_MAX_HISTS];
    size_t nhists;
    uint64_t expected_live;     /* objects deliberately left alive (immortal), all types */
    uint64_t expected_hobj_live; /* of which stress.obj */
    const char *phase;          /* progress line label */
    uint64_t progress_extra;    /* workload figure shown on the progress line */
} stress_run;

extern stress_run *stress_current;  /* the one run of this process */
/* The signal (SIGINT or SIGTERM) that asked the run to stop, 0 while none did; set by the
 * handler of runner.c, read by the monitor and by workloads that have no monitor (forkcow). */
extern volatile sig_atomic_t stress_sigint_seen;

uint64_t stress_now_ns(void);
static inline bool stress_stopping(stress_run *r)
{
    return tally_atomic_load_relaxed(&r->stop) != 0;
}
static inline void stress_violation_add(stress_violation v, uint64_t n)
{
    if (n)
        tally_atomic_fetch_add_relaxed(&stress_current->violations[v], n);
}
/* Count one op of thread th (relaxed store: only th writes its counter). */
static inline void stress_op(stress_thread *th, uint64_t n)
{
    tally_atomic_store_relaxed(&th->ops, th->ops + n);
}
/* True when th must stop: the run is stopping or its --ops share is done. */
static inline bool stress_done(stress_thread *th)
{
    return stress_stopping(th->run) || (th->quota && th->ops >= th->quota);
}

/* Record a figure (replaces an existing key); thread-safe. */
void stress_figure_set(stress_run *r, const char *key, double value, bool integer);
void stress_figure_add(stress_run *r, const char *key, double value, bool integer);
/* Attach a histogram to the output (the run takes ownership of the malloc'd hist). */
void stress_hist_publish(stress_run *r, const char *key, stress_hist *h);

/* Run fn on n attached worker threads (arg given to each), with the main thread monitoring
 * (progress line, deadline, SIGINT) detached until they all return.  Each thread's --ops share
 * is ops_total/n (0: run until stopped).  Returns 0, or -1 if a thread could not start. */
int stress_run_threads(stress_run *r, unsigned n, void (*fn)(stress_thread *), void *arg,
                       uint64_t ops_total);
/* The monitor alone, for workloads that manage their own threads (churn): returns when *done
 * becomes nonzero (acquire); sets r->stop at the deadline or on SIGINT. */
void stress_monitor_until(stress_run *r, const int *done);

/* xorshift64* */
static inline uint64_t stress_rand(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1DULL;
}
static inline uint64_t stress_rand_below(uint64_t *s, uint64_t n)
{
    return n ? stress_rand(s) % n : 0;
}
uint64_t stress_seed_for(const stress_run *r, uint64_t stream);

/* --chaos: with the run's seed, sometimes yield or sleep a few microseconds (called where
 * references are published and dropped).  No-op without --chaos. */
void stress_chaos_slow(stress_thread *th);
static inline void stress_chaos(stress_thread *th)
{
    if (th->run->cfg->chaos)
        stress_chaos_slow(th);
}

/* A barrier that detaches while it waits (GIL released, stop-the-world not held up). */
typedef struct stress_barrier {
    pthread_barrier_t b;
} stress_barrier;
int stress_barrier_init(stress_barrier *b, unsigned n);
void stress_barrier_destroy(stress_barrier *b);
/* True for exactly one of the threads (the serial thread). */
bool stress_barrier_wait(stress_barrier *b);

/* Sleep detached. */
void stress_sleep_ns(uint64_t ns);

/* ==== hobj.c: the harness object type and its reference model ============================ */
/* Every harness object carries the number of references the harness holds to it (`held`,
 * the model), updated BEFORE the runtime operation: +1 before tally_incref, -1 before
 * tally_decref.  Memory ordering: the relaxed -1 is sequenced before the decrement that
 * follows it, and the runtime orders every decrement before the deallocation of the last one
 * (release/acquire in `atomic`, the GIL, the merge queue, the reconciler's lock), so the
 * check that runs on the count reaching zero (finalize in stress.obj, del in the acyclic
 * variant, see hobj.c) sees every earlier -1: held > 0 there means the object is dying
 * while the harness still holds it (early free, racy counts).
 * Such an object is then made immortal (resurrected): the harness goes on using it safely and
 * the run counts it as an early-free violation instead of crashing on a use after free. */
#define HOBJ_SLOTS 4
#define HOBJ_CANARY_LIVE 0x7A11E7CA11AB1E5ULL
#define HOBJ_CANARY_DEAD 0xDEADDEADDEADDEADULL

typedef struct hobj {
    TALLY_OBJECT_HEAD;
    uint64_t canary;            /* LIVE from creation to destroy, then DEAD (atomic) */
    uint64_t id;                /* registry index, 1-based */
    int64_t held;               /* references the harness holds (atomic) */
    uint64_t payload;           /* workload data, written before publication */
    int picked;                 /* handoff: set (release) by the consumer that popped it */
    tally_object *slot[HOBJ_SLOTS]; /* owned references (atomic loads/stores) */
} hobj;

extern const tally_type stress_obj_type;          /* finalize-checked: may form cycles */
extern const tally_type stress_obj_acyclic_type;  /* del-checked on every death: no cycles */

enum { HREG_UNBORN = 0, HREG_ALIVE = 1, HREG_FREED = 2, HREG_RESCUED = 3 };

int hobj_init(void);
void hobj_fini(void);
/* New object (count 1, held 1) with a fresh id; NULL (and a message) on failure. */
hobj *hobj_new(uint64_t payload);
static inline bool hobj_is(tally_object *o)
{
    const tally_type *t = o ? tally_type_of(o) : NULL;
    return t == &stress_obj_type || t == &stress_obj_acyclic_type;
}
/* Type of the objects hobj_new creates from now on (before the threads start). */
void hobj_set_acyclic(bool acyclic);
/* The harness takes / drops a reference it tracks in the model. */
static inline void hobj_incref(hobj *h)
{
    tally_atomic_fetch_add_relaxed(&h->held, 1);
    tally_incref(&h->ob_base);
}
static inline void hobj_decref(hobj *h)
{
    tally_atomic_fetch_sub_relaxed(&h->held, 1);
    tally_decref(&h->ob_base);
}
/* A reference received from the runtime (a container read): count it in the model. */
static inline void hobj_adopt(hobj *h) { tally_atomic_fetch_add_relaxed(&h->held, 1); }
/* A reference handed to the runtime (stored into a container that steals nothing: the caller
 * drops its own with hobj_decref afterwards). */

/* Check an object the caller holds: canary live and registry alive (or rescued).  Counts a
 * use-after-free violation and returns false otherwise. */
bool hobj_check(hobj *h);
/* Registry state of an id (HREG_*), for "must be gone" checks without touching memory. */
int hobj_state(uint64_t id);
uint64_t hobj_next_id(void);        /* ids handed out so far + 1 */

typedef struct hobj_counts {
    uint64_t created, destroyed, rescued, double_destroyed, untracked_ids;
} hobj_counts;
void hobj_get_counts(hobj_counts *out);

/* Slot helpers: store a new owned reference (the caller's reference is given to the slot) and
 * return the previous one (now owned by the caller), atomically. */
static inline tally_object *hobj_slot_exchange(hobj *h, int i, tally_object *o)
{
    return tally_atomic_exchange_acq_rel(&h->slot[i], o);
}
static inline tally_object *hobj_slot_load(hobj *h, int i)
{
    return tally_atomic_load_acquire(&h->slot[i]);
}

/* ==== workloads (stress/workloads/) ====================================================== */
typedef struct stress_workload {
    const char *name;
    /* Runs the workload to the end, drops every reference it took and checks its own model;
     * returns 0, or -1 when it could not run (a message printed). */
    int (*run)(stress_run *r);
} stress_workload;

int stress_wl_hammer(stress_run *r);
int stress_wl_private(stress_run *r);
int stress_wl_handoff(stress_run *r);
int stress_wl_readmostly(stress_run *r);
int stress_wl_cycles(stress_run *r);
int stress_wl_graph(stress_run *r);
int stress_wl_churn(stress_run *r);
int stress_wl_forkcow(stress_run *r);
int stress_wl_convoy(stress_run *r);

/* ==== metrics.c =========================================================================== */
long stress_peak_rss_kb(void);
void stress_cpu_model(char *buf, size_t len);
/* Private_Dirty and Rss of this process in kB from /proc/self/smaps_rollup; -1 if unknown. */
long stress_private_dirty_kb(void);
/* Pauses of the collections recorded since the run started into two new histograms. */
void stress_collect_pauses(stress_run *r, uint64_t pauses_before);

#endif
