/* stress/bench/bench_proc.c - child processes and machine facts for `tally bench`.
 *
 * Owns: running one measured program in its own process (stdout and stderr captured, a time
 * limit, its peak RSS from wait4), and describing the machine (CPU model, cores, memory,
 * kernel) and tool versions for the report.  Where programs and data files are: stress/paths.c.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "bench.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <tally/version.h>

#include "../paths.h"

volatile sig_atomic_t bench_stop_signal;

double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

typedef struct {
    char *buf;
    size_t len, cap;
} growbuf;

static void gb_add(growbuf *g, const char *p, size_t n)
{
    if (g->len + n + 1 > g->cap) {
        g->cap = (g->len + n + 1) * 2;
        g->buf = realloc(g->buf, g->cap);
        if (!g->buf) {
            fprintf(stderr, "tally bench: out of memory\n");
            exit(1);
        }
    }
    memcpy(g->buf + g->len, p, n);
    g->len += n;
    g->buf[g->len] = 0;
}

/* The child runs in its own process group, so that a time-out, or descendants that outlive it
 * (a fork()ed grandchild that hangs while holding the output pipes), are killed with the whole
 * group and never stall the bench. */
int bench_run(char *const argv[], double timeout_s, bench_proc_result *r)
{
    memset(r, 0, sizeof *r);
    r->exit_code = -1;
    if (bench_stop_signal) {   /* stopping: start nothing new */
        r->interrupted = true;
        return -1;
    }
    int out_pipe[2], err_pipe[2];
    if (pipe2(out_pipe, O_CLOEXEC) != 0)
        return -1;
    if (pipe2(err_pipe, O_CLOEXEC) != 0) {
        close(out_pipe[0]);
        close(out_pipe[1]);
        return -1;
    }
    fflush(stdout);
    fflush(stderr);
    double t0 = bench_now();
    pid_t pid = fork();
    if (pid < 0) {
        close(out_pipe[0]);
        close(out_pipe[1]);
        close(err_pipe[0]);
        close(err_pipe[1]);
        return -1;
    }
    if (pid == 0) {
        setpgid(0, 0);
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull >= 0)
            dup2(devnull, 0);
        dup2(out_pipe[1], 1);
        dup2(err_pipe[1], 2);
        execv(argv[0], argv);
        fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    setpgid(pid, pid); /* also here: no window in which kill(-pid) misses */
    close(out_pipe[1]);
    close(err_pipe[1]);
    growbuf out = {0}, err = {0};
    gb_add(&out, "", 0);
    gb_add(&err, "", 0);
    struct pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
    int open_fds = 2, status = 0;
    bool exited = false;
    double exit_time = 0, stop_time = 0;
    struct rusage ru;
    memset(&ru, 0, sizeof ru);
    for (;;) {
        if (!exited && wait4(pid, &status, WNOHANG, &ru) == pid) {
            exited = true;
            exit_time = bench_now();
        }
        if (exited && open_fds == 0)
            break;
        if (exited && bench_now() - exit_time > 2.0) {
            /* The child is gone but descendants still hold its pipes. */
            kill(-pid, SIGKILL);
            r->killed_descendants = true;
            break;
        }
        if (!exited && !r->timed_out && bench_now() - t0 > timeout_s) {
            kill(-pid, SIGKILL);
            r->timed_out = true;
        }
        /* `tally bench` was asked to stop: so is the child's whole process group (it is not
         * the terminal's foreground group, so Ctrl-C did not reach it) */
        if (bench_stop_signal && !exited) {
            if (!r->interrupted) {
                r->interrupted = true;
                stop_time = bench_now();
                kill(-pid, SIGTERM);
            } else if (stop_time > 0 && bench_now() - stop_time > 2.0) {
                kill(-pid, SIGKILL);
                stop_time = 0;
            }
        }
        int n = poll(fds, 2, 100); /* short: the child's exit is noticed by wait4 above */
        if (n < 0 && errno != EINTR)
            break;
        for (int i = 0; n > 0 && i < 2; i++) {
            if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            char buf[8192];
            ssize_t got = read(fds[i].fd, buf, sizeof buf);
            if (got > 0) {
                gb_add(i == 0 ? &out : &err, buf, (size_t)got);
            } else if (got == 0 || (errno != EINTR && errno != EAGAIN)) {
                close(fds[i].fd);
                fds[i].fd = -1;
                open_fds--;
            }
        }
    }
    for (int i = 0; i < 2; i++)
        if (fds[i].fd >= 0)
            close(fds[i].fd);
    if (!exited)
        while (wait4(pid, &status, 0, &ru) < 0 && errno == EINTR)
            ;
    r->wall_s = (exited ? exit_time : bench_now()) - t0;
    r->peak_rss_kb = ru.ru_maxrss;
    r->cpu_s = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 + (double)ru.ru_stime.tv_sec +
               (double)ru.ru_stime.tv_usec * 1e-6;
    if (WIFEXITED(status))
        r->exit_code = WEXITSTATUS(status);
    else if (WIFSIGNALED(status))
        r->term_signal = WTERMSIG(status);
    r->out = out.buf;
    r->err = err.buf;
    return 0;
}

void bench_proc_result_free(bench_proc_result *r)
{
    free(r->out);
    free(r->err);
    r->out = r->err = NULL;
}

/* The executable, its programs and its data files: stress/paths.c (installed prefix or build
 * tree, relative to /proc/self/exe). */
const char *bench_exe_path(void) { return tally_paths_exe(); }

const char *bench_exe_dir(void) { return tally_paths_exe_dir(); }

bool bench_file_exists(const char *path) { return access(path, F_OK) == 0; }

char *bench_find_source_file(const char *relpath) { return tally_paths_data(relpath); }

char *bench_find_program(const char *name, char *searched, size_t len)
{
    return tally_paths_program(name, searched, len);
}

int bench_mkdir_p(const char *path)
{
    char buf[PATH_MAX];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p == '/') {
            *p = 0;
            if (mkdir(buf, 0777) != 0 && errno != EEXIST)
                return -1;
            *p = '/';
        }
    }
    if (mkdir(buf, 0777) != 0 && errno != EEXIST)
        return -1;
    return 0;
}

/* First line of `cmd`'s output (trimmed), or NULL. */
static char *command_line_output(const char *cmd)
{
    FILE *p = popen(cmd, "r");
    if (!p)
        return NULL;
    char line[512];
    char *res = NULL;
    if (fgets(line, sizeof line, p)) {
        line[strcspn(line, "\r\n")] = 0;
        if (line[0])
            res = strdup(line);
    }
    pclose(p);
    return res;
}

bj *bench_machine_info(void)
{
    bj *m = bj_obj();
    char model[256] = "unknown";
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f) {
        char line[512];
        while (fgets(line, sizeof line, f)) {
            if (strncmp(line, "model name", 10) == 0) {
                char *c = strchr(line, ':');
                if (c) {
                    c++;
                    while (*c == ' ')
                        c++;
                    c[strcspn(c, "\n")] = 0;
                    snprintf(model, sizeof model, "%s", c);
                }
                break;
            }
        }
        fclose(f);
    }
    bj_set(m, "cpu_model", bj_str(model));
    bj_set(m, "cores_online", bj_num((double)sysconf(_SC_NPROCESSORS_ONLN)));
    bj_set(m, "cores_configured", bj_num((double)sysconf(_SC_NPROCESSORS_CONF)));
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0)
        bj_set(m, "cores_usable", bj_num((double)CPU_COUNT(&set)));
    long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
    if (pages > 0 && psz > 0)
        bj_set(m, "memory_mb", bj_num((double)pages * (double)psz / (1024.0 * 1024.0)));
    struct utsname u;
    if (uname(&u) == 0) {
        bj_set(m, "kernel", bj_strf("%s %s", u.sysname, u.release));
        bj_set(m, "arch", bj_str(u.machine));
        bj_set(m, "hostname", bj_str(u.nodename));
    }
    /* Container (systemd-detect-virt) and hypervisor (the cpuid flag) are both worth saying. */
    char *virt = command_line_output("systemd-detect-virt 2>/dev/null");
    bool hypervisor = false;
    f = fopen("/proc/cpuinfo", "r");
    if (f) {
        char line[4096];
        while (fgets(line, sizeof line, f))
            if (strncmp(line, "flags", 5) == 0) {
                hypervisor = strstr(line, " hypervisor") != NULL;
                break;
            }
        fclose(f);
    }
    bool container = virt && strcmp(virt, "none") != 0;
    bj_set(m, "virtualization", bj_strf("%s%s%s", container ? virt : "", container && hypervisor ? ", " : "",
                                        hypervisor ? "virtual machine (hypervisor cpuid flag)"
                                                   : container ? "" : "none detected"));
    free(virt);
    double load[3];
    if (getloadavg(load, 3) == 3)
        bj_set(m, "loadavg_at_start", bj_num(load[0]));
    return m;
}

bj *bench_versions(void)
{
    bj *v = bj_obj();
    bj_set(v, "tally", bj_str(TALLY_VERSION_STRING));
#if defined(__clang__)
    bj_set(v, "compiler", bj_strf("clang %s", __clang_version__));
#elif defined(__GNUC__)
    bj_set(v, "compiler", bj_strf("gcc %s", __VERSION__));
#endif
    char *s = command_line_output("gnuplot --version 2>/dev/null");
    bj_set(v, "gnuplot", s ? bj_str(s) : bj_null());
    free(s);
    s = command_line_output("python3 --version 2>&1");
    bj_set(v, "python3", s ? bj_str(s) : bj_null());
    free(s);
    s = command_line_output("ldd --version 2>&1");
    bj_set(v, "libc", s ? bj_str(s) : bj_null());
    free(s);
    return v;
}
