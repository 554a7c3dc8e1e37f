/* stress/tally_main.c - the `tally` command-line front end.
 *
 * Owns: command dispatch (`stress`, `bench`), `--help` and `--version`.  `tally` is linked with
 * no libtally-<backend>: a backend is chosen at link time, so `tally stress` validates its
 * arguments here (same option table as the workers, stress/harness/options.c) and then execs
 * the per-backend worker `tally-stress-<backend>` found next to this executable.  `tally bench`
 * runs tally_bench_main() (stress/bench/, when that part is built).  Output that cannot be
 * written (stdout on a full disk) is an error: exit status 4 and a message on stderr.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <tally/version.h>

#include "cli.h"
#include "harness/options.h"
#ifdef TALLY_HAVE_BENCH
#  include "bench/bench.h"
#endif

static const char *const commands[] = { "stress", "bench", NULL };

static void usage(FILE *f)
{
    fprintf(f,
            "usage: tally COMMAND [options]\n"
            "       tally --help | --version | COMMAND --help\n"
            "\n"
            "commands:\n"
            "  stress   run one stress workload on one backend, check the invariants, print figures\n"
            "  bench    measure every backend and write the comparison report\n"
            "\n"
            "backends built:");
    for (size_t i = 0; stress_backend_names[i]; i++)
        fprintf(f, " %s", stress_backend_names[i]);
    fprintf(f, "\n");
}

/* Directory of this executable (from /proc/self/exe), or "." when unknown. */
static void exe_dir(char *buf, size_t len)
{
    ssize_t n = readlink("/proc/self/exe", buf, len - 1);
    if (n <= 0) {
        snprintf(buf, len, ".");
        return;
    }
    buf[n] = '\0';
    char *slash = strrchr(buf, '/');
    if (slash && slash != buf)
        *slash = '\0';
    else if (slash)
        slash[1] = '\0';
}

static int run_stress(int argc, char **argv)
{
    stress_config cfg;
    int rc = stress_options_parse("tally stress", argc, argv, 2, &cfg);
    if (rc == 1)
        return 0;   /* --help: printed on stdout (closed and checked by main) */
    if (rc)
        return TALLY_CLI_EXIT_USAGE;

    char dir[PATH_MAX - 64];
    exe_dir(dir, sizeof dir);
    char worker[PATH_MAX];
    snprintf(worker, sizeof worker, "%s/tally-stress-%s", dir, cfg.backend);
    if (access(worker, X_OK) != 0) {
        fprintf(stderr, "tally stress: the worker for backend %s is missing (%s: %s); build the "
                "target tally-stress-%s\n", cfg.backend, worker, strerror(errno), cfg.backend);
        return 3;
    }
    /* The worker gets exactly the stress arguments, after its own path. */
    char **args = calloc((size_t)argc, sizeof *args);
    if (!args) {
        perror("tally stress");
        return 3;
    }
    args[0] = worker;
    for (int i = 2; i < argc; i++)
        args[i - 1] = argv[i];
    args[argc - 1] = NULL;
    fflush(NULL);
    execv(worker, args);
    fprintf(stderr, "tally stress: cannot run %s: %s\n", worker, strerror(errno));
    free(args);
    return 3;
}

static int run(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return TALLY_CLI_EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(cmd, "--version") == 0) {
        printf("tally %s (backends:", TALLY_VERSION_STRING);
        for (size_t i = 0; stress_backend_names[i]; i++)
            printf(" %s", stress_backend_names[i]);
        printf(")\n");
        return 0;
    }
    if (strcmp(cmd, "stress") == 0)
        return run_stress(argc, argv);
    if (strcmp(cmd, "bench") == 0) {
#ifdef TALLY_HAVE_BENCH
        /* argv[0] of the subcommand is "bench"; its options follow. */
        return tally_bench_main(argc - 1, argv + 1);
#else
        fprintf(stderr, "tally bench: not built in this tree (stress/bench/ has no sources)\n");
        return 3;
#endif
    }
    char buf[128];
    return tally_cli_error("tally", "unknown command '%s': accepted values are %s, --help, --version",
                           cmd, tally_cli_join(commands, buf, sizeof buf));
}

int main(int argc, char **argv)
{
    /* Everything a command printed on stdout (help, version, the --compare table) must have
     * reached it: a full disk or a closed pipe is an error with a message and exit status 4. */
    int rc = run(argc, argv);
    return tally_cli_close_stdout("tally", rc);
}
