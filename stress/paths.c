/* stress/paths.c - the programs and data files of the `tally` front end, found relative to
 * this executable (see paths.h for the two layouts).
 *
 * Owns: /proc/self/exe, the installed/build-tree decision and the search orders.  Only `tally`
 * links it; the per-backend programs it starts need no lookup of their own (bench_gc_<backend>
 * finds the CPython anchor script the same way, in stress/micro/bench_gc.cc).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "paths.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef TALLY_PATHS_LIBEXEC
#  error "TALLY_PATHS_LIBEXEC (bin -> libexec/tally, relative) is set by stress/CMakeLists.txt"
#endif
#ifndef TALLY_PATHS_DATA
#  error "TALLY_PATHS_DATA (bin -> share/tally, relative) is set by stress/CMakeLists.txt"
#endif
#ifndef TALLY_PATHS_BUILD_DIRS
#  define TALLY_PATHS_BUILD_DIRS ""
#endif
#ifndef TALLY_PATHS_BUILD_SOURCE
#  define TALLY_PATHS_BUILD_SOURCE ""
#endif

static char exe_path[PATH_MAX];
static char exe_dir[PATH_MAX];

static void init_exe(void)
{
    if (exe_path[0])
        return;
    ssize_t n = readlink("/proc/self/exe", exe_path, sizeof exe_path - 1);
    if (n <= 0) {
        snprintf(exe_path, sizeof exe_path, "tally");
        snprintf(exe_dir, sizeof exe_dir, ".");
        return;
    }
    exe_path[n] = '\0';
    snprintf(exe_dir, sizeof exe_dir, "%s", exe_path);
    char *slash = strrchr(exe_dir, '/');
    if (slash && slash != exe_dir)
        *slash = '\0';
    else if (slash)
        slash[1] = '\0';   /* "/tally": the root directory */
    else
        snprintf(exe_dir, sizeof exe_dir, ".");
}

const char *tally_paths_exe(void)
{
    init_exe();
    return exe_path;
}

const char *tally_paths_exe_dir(void)
{
    init_exe();
    return exe_dir;
}

static bool is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

bool tally_paths_installed(void)
{
    char p[PATH_MAX + 64];
    snprintf(p, sizeof p, "%s/%s", tally_paths_exe_dir(), TALLY_PATHS_DATA);
    return is_dir(p);
}

/* dir/name when it is an executable regular file: a malloc'd canonical path, else NULL. */
static char *try_program(const char *dir, const char *name)
{
    char p[PATH_MAX + 256];
    if ((size_t)snprintf(p, sizeof p, "%s/%s", dir, name) >= sizeof p)
        return NULL;
    struct stat st;
    if (stat(p, &st) != 0 || !S_ISREG(st.st_mode) || access(p, X_OK) != 0)
        return NULL;
    return realpath(p, NULL);
}

static void note(char *searched, size_t len, const char *dir)
{
    if (!searched || !len)
        return;
    size_t used = strlen(searched);
    snprintf(searched + used, len - used, "%s%s", used ? ", " : "", dir);
}

/* here/rel/name (rel relative to this executable's directory), noted in searched. */
static char *try_relative(const char *here, const char *rel, size_t rel_len, const char *name, char *searched,
                          size_t searched_len)
{
    char dir[PATH_MAX + 64];
    snprintf(dir, sizeof dir, "%s/%.*s", here, (int)rel_len, rel);
    char *canon = realpath(dir, NULL);
    const char *d = canon ? canon : dir;
    char *found = try_program(d, name);
    note(searched, searched_len, d);
    free(canon);
    return found;
}

char *tally_paths_program(const char *name, char *searched, size_t searched_len)
{
    if (searched && searched_len)
        searched[0] = '\0';
    const char *here = tally_paths_exe_dir();
    char *found;
    if (tally_paths_installed()) {
        /* PREFIX/libexec/tally first (the tools' own programs), then PREFIX/bin */
        found = try_relative(here, TALLY_PATHS_LIBEXEC, strlen(TALLY_PATHS_LIBEXEC), name, searched, searched_len);
        if (found)
            return found;
        note(searched, searched_len, here);
        return try_program(here, name);
    }
    /* build tree: beside `tally`, then the other build directories */
    if ((found = try_program(here, name)) != NULL)
        return found;
    note(searched, searched_len, here);
    for (const char *list = TALLY_PATHS_BUILD_DIRS; *list && !found;) {
        size_t n = strcspn(list, ":");
        found = try_relative(here, list, n, name, searched, searched_len);
        list += n;
        if (*list == ':')
            list++;
    }
    return found;
}

char *tally_paths_data(const char *srcrel)
{
    char p[PATH_MAX + 256];
    const char *here = tally_paths_exe_dir();
    if (tally_paths_installed()) {
        /* share/tally holds stress/'s data without the "stress/" level */
        const char *rel = strncmp(srcrel, "stress/", 7) == 0 ? srcrel + 7 : srcrel;
        snprintf(p, sizeof p, "%s/%s/%s", here, TALLY_PATHS_DATA, rel);
    } else {
        snprintf(p, sizeof p, "%s/%s/%s", here, TALLY_PATHS_BUILD_SOURCE, srcrel);
    }
    if (access(p, R_OK) != 0)
        return NULL;
    return realpath(p, NULL);
}
