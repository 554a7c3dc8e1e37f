/* interp/main.c - tally-py-<backend>: run one Python-subset program.
 *
 * Owns: the command line (`tally-py-<backend> FILE [ARGS...]`, sys.argv = [FILE, ARGS...]),
 * reading the source, starting and stopping Tally (tally_init / tally_fini, which runs the
 * final collection), the interpreter's start-up (objects, exceptions, builtins, sys), the
 * module's globals (__name__ = "__main__"), and the exit status: 0, the SystemExit code, 1 on
 * an uncaught exception (traceback on stderr) or a syntax error (file:line:col: message),
 * 2 on a usage error.
 */
#include "interp.h"

#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

static char *read_file(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return NULL;
    size_t cap = 65536, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        size_t got = fread(buf + n, 1, cap - n - 1, fp);
        n += got;
        if (n < cap - 1)
            break;
        cap *= 2;
        char *nb = realloc(buf, cap);
        if (!nb) {
            free(buf);
            buf = NULL;
        }
        buf = nb;
    }
    fclose(fp);
    if (!buf)
        return NULL;
    buf[n] = 0;
    *len = n;
    return buf;
}

static int exit_status_of(tally_object *exc)
{
    if (py_exc_matches(exc, exc_SystemExit)) {
        tally_object *args = ((py_instance *)exc)->args;
        tally_object *code = args && tally_tuple_len(args) ? tally_tuple_get(args, 0) : py_None;
        if (code == py_None)
            return 0;
        if (IS_INT(code))
            return (int)(tally_int_value(code) & 0xFF);
        if (IS_BOOL(code))
            return (int)((py_boolobj *)code)->value;
        py_flush_stdout();
        sbuf b;
        sb_init(&b);
        if (py_str_to(&b, code) == 0)
            fprintf(stderr, "%s\n", sb_cstr(&b));
        sb_free(&b);
        py_err_clear();
        return 1;
    }
    py_print_exception(exc, stderr);
    return 1;
}

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fprintf(argc < 2 ? stderr : stdout, "usage: %s FILE [ARGS...]   (a Python-subset program; Tally backend %s)\n",
                argv[0], tally_backend());
        return argc < 2 ? 2 : 0;
    }
    const char *path = argv[1];
    size_t len = 0;
    char *src = read_file(path, &len);
    if (!src) {
        fprintf(stderr, "%s: can't open file '%s'\n", argv[0], path);
        return 2;
    }
    if (memchr(src, 0, len)) {
        fprintf(stderr, "%s:1:1: source code cannot contain null bytes\n", path);
        free(src);
        return 1;
    }
    static char outbuf[1 << 16];
    setvbuf(stdout, outbuf, _IOFBF, sizeof outbuf);

    if (tally_init(NULL) != 0) {
        fprintf(stderr, "%s: tally_init failed: %s\n", argv[0], tally_last_error());
        free(src);
        return 1;
    }
    static interp_state state;
    I = &state;
    py_main_state = I;
    py_thread_serial = 1;
    if (py_qsbr_thread_online() < 0) {
        fprintf(stderr, "%s: out of memory while starting\n", argv[0]);
        tally_fini();
        free(src);
        return 1;
    }
    I->recursion_limit = 1000;
    /* nested evaluations (calls from C) may use the C stack up to 1 MiB short of its limit */
    char stack_mark;
    struct rlimit rl;
    size_t stack_size = 8u << 20;
    if (getrlimit(RLIMIT_STACK, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur > (1u << 21))
        stack_size = rl.rlim_cur;
    I->stack_base = &stack_mark;
    I->stack_budget = stack_size - (1u << 20);
    int status = 0;
    tally_object *code = NULL, *globals = NULL;
    if (objects_init() < 0 || !(I->builtins = py_dict_new()) || (py_dict_mark_shared(I->builtins), false) ||
        !(I->modules = py_dict_new()) ||
        errors_init(I->builtins) < 0 || builtins_init(I->builtins, argc - 1, argv + 1) < 0 ||
        modules_init(I->builtins) < 0) {
        fprintf(stderr, "%s: out of memory while starting\n", argv[0]);
        status = 1;
        goto out;
    }

    parse_result pr;
    int pr_status = parse_module(src, path, &pr);
    if (pr_status != 0) {
        if (pr_status == -2)
            fprintf(stderr, "%s: out of memory while parsing\n", path);
        else
            fprintf(stderr, "%s:%d:%d: SyntaxError: %s\n", path, pr.errline, pr.errcol, pr.errmsg);
        arena_free(pr.arena);
        status = 1;
        goto out;
    }
    char errmsg[256];
    int errline = 0, errcol = 0;
    /* code objects carry the absolute file name, as CPython 3.9+ gives __main__ */
    char *abspath = NULL;
    if (path[0] != '/') {
        char cwd[4096];
        if (getcwd(cwd, sizeof cwd)) {
            size_t n = strlen(cwd) + strlen(path) + 2;
            abspath = malloc(n);
            if (abspath) {
                const char *p = path;
                while (p[0] == '.' && p[1] == '/') p += 2;
                snprintf(abspath, n, "%s/%s", cwd, p);
            }
        }
    }
    /* imports search the script's directory first */
    I->script_dir = strdup(abspath ? abspath : path);
    if (I->script_dir) {
        char *slash = strrchr(I->script_dir, '/');
        if (slash && slash != I->script_dir) *slash = 0;
        else if (slash) slash[1] = 0;
        else strcpy(I->script_dir, ".");
    }
    code = compile_module(pr.module, abspath ? abspath : path, src, pr.arena, errmsg, sizeof errmsg, &errline, &errcol);
    arena_free(pr.arena);
    free(abspath);
    if (!code) {
        if (errmsg[0]) {
            fprintf(stderr, "%s:%d:%d: SyntaxError: %s\n", path, errline, errcol, errmsg);
        } else {
            tally_object *e = py_err_fetch();
            if (e) {
                py_print_exception(e, stderr);
                tally_decref(e);
            }
        }
        status = 1;
        goto out;
    }
    /* the script runs as the module __main__, registered in sys.modules (sys.modules[__name__]);
     * its globals dict is marked shared (read without the mutex by LOAD_GLOBAL) */
    tally_object *main_mod = py_module_new("__main__");
    globals = main_mod ? tally_newref(((py_module *)main_mod)->dict) : NULL;
    tally_object *name = tally_str_new("__main__");
    int reg = main_mod ? py_dict_set(I->modules, ((py_module *)main_mod)->name, main_mod) : -1;
    tally_xdecref(main_mod);
    if (!globals || !name || reg < 0 || py_dict_setstr(globals, "__name__", name) < 0) {
        tally_xdecref(name);
        fprintf(stderr, "%s: out of memory while starting\n", argv[0]);
        status = 1;
        goto out;
    }
    tally_decref(name);
    I->main_globals = globals;
    tally_object *r = eval_code(code, globals);
    if (r) {
        tally_decref(r);
    } else {
        tally_object *e = py_err_fetch();
        status = e ? exit_status_of(e) : 1;
        tally_xdecref(e);
    }
out:
    /* as CPython's threading._shutdown: wait for the threads that are not daemons */
    threading_wait_all();
    py_flush_stdout();
    if (threading_running() > 0) {
        /* daemon threads still run: like CPython at exit, abandon them (no finalization, which
         * would pull the runtime from under them) */
        fflush(stderr);
        _exit(status);
    }
    py_qsbr_drain_all();
    tally_xdecref(code);
    /* break the module's cycles by hand where cheap; the collector gets the rest (__main__ leaves
     * sys.modules first, as at CPython's shutdown, so its globals die in the collection below) */
    if (globals) {
        if (I->modules && py_dict_del(I->modules, py_intern("__main__")) < 0) py_err_clear();
        tally_decref(globals);
    }
    /* collect the program's garbage while the builtins still exist, so finalizers (a suspended
     * generator's finally blocks) can run code, as at CPython's shutdown; after this none do */
    if (I->builtins)
        tally_gc_collect(2);
    py_err_clear();
    py_flush_stdout();
    I->finalizing = true;
    tally_xdecref(I->modules);
    tally_xdecref(I->builtins);
    py_err_clear();
    py_qsbr_drain_all();
    py_qsbr_thread_exit();
    tally_flush();
    tally_fini();
    modules_fini();
    free(I->script_dir);
    free(src);
    fflush(stdout);
    return status;
}
