/* stress/paths.h - where the `tally` front end finds its programs and their data.
 *
 * Owns: the lookup of the per-backend programs (tally-stress-<backend>, bench_rc_<backend>,
 * bench_gc_<backend>, tally-binary-trees-<backend>, tally-py-<backend>) and of the data files
 * (stress/anchors/cpython_gc.py, stress/programs/ *.py), relative to this executable
 * (/proc/self/exe), never to the working directory or to a path fixed at build time.
 *
 * Two layouts, told apart by the installed data directory (exe_dir/TALLY_PATHS_DATA, i.e.
 * PREFIX/share/tally next to PREFIX/bin/tally):
 *   installed  programs in exe_dir/TALLY_PATHS_LIBEXEC (PREFIX/libexec/tally) or beside `tally`
 *              (PREFIX/bin: the user-facing ones), data in PREFIX/share/tally/<path less its
 *              leading "stress/">; nothing outside the prefix is looked at;
 *   build tree programs beside `tally` (build/stress) or in the build directories named by
 *              TALLY_PATHS_BUILD_DIRS (relative to it, ':'-separated: "../interp"), data
 *              found by walking up from the executable to the source tree.
 * The three TALLY_PATHS_* strings are compile definitions (stress/CMakeLists.txt computes them
 * from GNUInstallDirs).  Single-threaded use; results are malloc'd (free them) or NULL.
 */
#ifndef TALLY_STRESS_PATHS_H
#define TALLY_STRESS_PATHS_H

#include <stdbool.h>
#include <stddef.h>

/* This executable (/proc/self/exe) and its directory; "tally" and "." when unknown. */
const char *tally_paths_exe(void);
const char *tally_paths_exe_dir(void);

/* True when this executable runs from an installed prefix (its share/tally exists). */
bool tally_paths_installed(void);

/* Full path of the executable program `name`, or NULL; when NULL and searched != NULL, the
 * directories looked in ("a, b") are written there for the error message. */
char *tally_paths_program(const char *name, char *searched, size_t searched_len);

/* Full path of a data file named by its source-tree path ("stress/anchors/cpython_gc.py"),
 * or NULL. */
char *tally_paths_data(const char *srcrel);

#endif
