/* stress/tally_main.c - the `tally` command-line front end.
 *
 * Owns: command dispatch (`stress`, `bench`, `run`), `--help` and `--version`.  `tally` is
 * linked with no libtally-<backend>: a backend is chosen at link time, so
 *   - `tally stress` validates its arguments here (same option table as the workers,
 *     stress/harness/options.c) and then execs the per-backend worker tally-stress-<backend>;
 *   - `tally run --backend B FILE [ARGS...]` execs the interpreter tally-py-<backend> on FILE
 *     (interp/), whose exit status is then the command's;
 *   - `tally bench` runs tally_bench_main() (stress/bench/, when that part is built).
 * Every program is found relative to this executable (stress/paths.c: PREFIX/libexec/tally and
 * PREFIX/bin when installed, the build tree otherwise).  Output that cannot be written (stdout
 * on a full disk) is an error: exit status 4 and a message on stderr.
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
#include "paths.h"
#include "stress_backends.h"   /* generated: STRESS_BACKEND_LIST, TALLY_PY_BACKEND_LIST */
#ifdef TALLY_HAVE_BENCH
#  include "bench/bench.h"
#endif

static const char *const commands[] = { "stress", "bench", "run", NULL };

/* The backends that have an interpreter (every one but the racy negative control). */
static const char *const py_backends[] = { TALLY_PY_BACKEND_LIST NULL };

static void usage(FILE *f)
{
    fprintf(f,
            "usage: tally COMMAND [options]\n"
            "       tally --help | --version | COMMAND --help\n"
            "\n"
            "commands:\n"
            "  stress   run one stress workload on one backend, check the invariants, print figures\n"
            "  bench    measure every backend and write the comparison report\n"
            "  run      run a Python-subset program on one backend (tally run --backend B FILE [ARGS...])\n"
            "\n"
            "backends built:");
    for (size_t i = 0; stress_backend_names[i]; i++)
        fprintf(f, " %s", stress_backend_names[i]);
    fprintf(f, "\n");
}

static int run_stress(int argc, char **argv)
{
    stress_config cfg;
    int rc = stress_options_parse("tally stress", argc, argv, 2, &cfg);
    if (rc == 1)
        return 0;   /* --help: printed on stdout (closed and checked by main) */
    if (rc)
        return TALLY_CLI_EXIT_USAGE;

    char name[64], searched[2048];
    snprintf(name, sizeof name, "tally-stress-%s", cfg.backend);
    char *worker = tally_paths_program(name, searched, sizeof searched);
    if (!worker) {
        fprintf(stderr, "tally stress: the worker for backend %s is missing (%s not found in %s); "
                "build the target %s\n", cfg.backend, name, searched, name);
        return 3;
    }
    /* The worker gets exactly the stress arguments, after its own path. */
    char **args = calloc((size_t)argc, sizeof *args);
    if (!args) {
        perror("tally stress");
        free(worker);
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
    free(worker);
    return 3;
}

static void run_usage(FILE *f)
{
    char buf[256];
    fprintf(f,
            "usage: tally run --backend B FILE [ARGS...]\n"
            "\n"
            "Run the Python-subset program FILE with the interpreter of backend B (tally-py-B);\n"
            "ARGS are the program's (sys.argv[1:]), passed unchanged, options included.  The exit\n"
            "status is the program's; 2 for bad arguments here, 3 when the interpreter is missing.\n"
            "\n"
            "options:\n"
            "  --backend B              refcount backend {%s} (required)\n"
            "  --help                   show this help and exit\n",
            tally_cli_join(py_backends, buf, sizeof buf));
}

/* tally run --backend B FILE [ARGS...]: options end at FILE (the first argument that is not
 * one of ours); everything from FILE on goes to tally-py-B as it is. */
static int run_program(int argc, char **argv)
{
    const char *prog = "tally run";
    const char *backend = NULL;
    int i = 2;
    for (; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            run_usage(stdout);
            return 0;
        }
        if (strcmp(a, "--") == 0) {
            i++;
            break;
        }
        if (strcmp(a, "--backend") == 0 || strncmp(a, "--backend=", 10) == 0) {
            const char *val = a[9] == '=' ? a + 10 : (i + 1 < argc ? argv[++i] : NULL);
            char buf[256];
            if (!val)
                return tally_cli_error(prog, "missing value for --backend: accepted values are %s",
                                       tally_cli_join(py_backends, buf, sizeof buf));
            if (tally_cli_parse_choice(prog, "--backend", val, py_backends, &backend) != 0)
                return TALLY_CLI_EXIT_USAGE;
            continue;
        }
        if (strncmp(a, "--", 2) == 0)
            return tally_cli_error(prog, "unknown option '%s': accepted options are --backend, --help "
                                   "(the program's own options go after FILE)", a);
        break;
    }
    char buf[256];
    if (!backend)
        return tally_cli_error(prog, "missing --backend: accepted values are %s",
                               tally_cli_join(py_backends, buf, sizeof buf));
    if (i >= argc)
        return tally_cli_error(prog, "missing FILE: usage: tally run --backend B FILE [ARGS...]");

    char name[64], searched[2048];
    snprintf(name, sizeof name, "tally-py-%s", backend);
    char *interp = tally_paths_program(name, searched, sizeof searched);
    if (!interp) {
        fprintf(stderr, "%s: the interpreter for backend %s is missing (%s not found in %s); build "
                "the target %s\n", prog, backend, name, searched, name);
        return 3;
    }
    /* argv of the interpreter: its path, FILE, ARGS */
    char **args = calloc((size_t)(argc - i) + 2, sizeof *args);
    if (!args) {
        perror(prog);
        free(interp);
        return 3;
    }
    args[0] = interp;
    for (int k = i; k < argc; k++)
        args[1 + k - i] = argv[k];
    fflush(NULL);
    execv(interp, args);
    fprintf(stderr, "%s: cannot run %s: %s\n", prog, interp, strerror(errno));
    free(args);
    free(interp);
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
    if (strcmp(cmd, "run") == 0)
        return run_program(argc, argv);
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
