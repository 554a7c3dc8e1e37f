#!/usr/bin/env bash
# tests/install/installed_tools.sh - the installed `tally` works with no source tree, no build
# tree and no LD_LIBRARY_PATH (issue 16 item 7).
#
# Usage: installed_tools.sh BUILD_DIR SOURCE_DIR "BACKENDS" "PY_BACKENDS" CMAKE
# Registered by tests/install_tools.cmake as the ctest test `install_tools`.
#
# `cmake --install` into a temporary prefix (nothing else is copied), then, from an empty
# directory under /tmp with a clean environment (no LD_LIBRARY_PATH, no PWD/OLDPWD pointing
# into the tree):
#   1. every ELF program under PREFIX/bin and PREFIX/libexec/tally has an RPATH/RUNPATH made of
#      $ORIGIN-relative entries only, and every one of them resolves all its libraries (ldd);
#   2. `PREFIX/bin/tally stress` runs a short workload on every backend, clean;
#   3. `PREFIX/bin/tally run --backend B FILE ARGS` runs a program on every interpreter backend,
#      passes its arguments and its exit status through;
#   4. `PREFIX/bin/tally bench --quick` bounded to one backend, one workload, one thread count
#      and one repetition writes a report in which every program was found and ran (the
#      microbenchmarks, the collector rows, binary-trees, and the CPython anchor and
#      binary_trees.py from PREFIX/share/tally when python3 is there);
# all of 2-4 under strace (a declared dependency, scripts/setup-deps.sh), which must show
# that no process opened, stat'ed or executed any path inside the source or the build tree, and
# that the programs started were the prefix's.
set -euo pipefail

build_dir=$(realpath "$1")
source_dir=$(realpath "$2")
backends=$3
py_backends=$4
cmake=$5

work=$(mktemp -d /tmp/tally-installed-tools.XXXXXX)
trap 'rm -rf "$work"' EXIT
prefix=$work/prefix
cwd=$work/cwd
mkdir -p "$cwd"

fail() { echo "installed tools test: FAILED: $*" >&2; exit 1; }

"$cmake" --install "$build_dir" --prefix "$prefix" >"$work/install.log" 2>&1 \
    || { cat "$work/install.log" >&2; fail "cmake --install"; }

tally=$prefix/bin/tally
[ -x "$tally" ] || fail "bin/tally not installed"
libexec=$prefix/libexec/tally
for b in $backends; do
    [ -x "$libexec/tally-stress-$b" ] || fail "libexec/tally/tally-stress-$b not installed"
done
for b in $py_backends; do
    [ -x "$prefix/bin/tally-py-$b" ] || fail "bin/tally-py-$b not installed"
done
[ -f "$prefix/share/tally/anchors/cpython_gc.py" ] || fail "share/tally/anchors/cpython_gc.py not installed"
[ -f "$prefix/share/tally/programs/binary_trees.py" ] || fail "share/tally/programs/binary_trees.py not installed"
if ls "$prefix"/lib/libtally-racy* >/dev/null 2>&1; then fail "libtally-racy must stay out of lib/ (it lives in lib/tally/)"; fi

# 1. RPATHs relative to the program, and every library found without LD_LIBRARY_PATH
nprog=0
for f in "$prefix"/bin/* "$libexec"/*; do
    head -c 4 "$f" | grep -q 'ELF' || continue
    nprog=$((nprog + 1))
    rp=$(readelf -d "$f" | sed -n 's/.*(R\(UN\)\?PATH).*\[\(.*\)\]/\2/p')
    if [ "$(basename "$f")" != tally ]; then   # the front end links no Tally library
        [ -n "$rp" ] || fail "$f has no RPATH/RUNPATH"
    fi
    IFS=: read -r -a entries <<<"$rp"
    for e in "${entries[@]}"; do
        case $e in
            '$ORIGIN'/*) ;;
            *) fail "$f: RPATH entry '$e' is not relative to \$ORIGIN" ;;
        esac
    done
    deps=$(env -u LD_LIBRARY_PATH ldd "$f") || fail "ldd $f"
    if grep -q 'not found' <<<"$deps"; then echo "$deps" >&2; fail "$f: a library is not found"; fi
    if grep -qF -e "$build_dir" -e "$source_dir" <<<"$deps"; then echo "$deps" >&2; fail "$f loads a library from the tree"; fi
    if grep -q 'libtally-' <<<"$deps" && ! grep 'libtally-' <<<"$deps" | grep -qF "$prefix/"; then
        echo "$deps" >&2; fail "$f does not load libtally from the prefix"
    fi
done
[ "$nprog" -ge 5 ] || fail "only $nprog programs installed"
echo "installed tools: $nprog programs, RPATHs \$ORIGIN-relative, libraries resolved from the prefix"

# A clean environment: the tools see neither the tree's paths nor LD_LIBRARY_PATH.
run_clean() {
    (cd "$cwd" && env -i PATH="$PATH" HOME="${HOME:-/root}" LANG=C.UTF-8 PWD="$cwd" "$@")
}
# strace is a declared dependency (scripts/setup-deps.sh): without it the test fails, not skips.
command -v strace >/dev/null 2>&1 || fail "strace is needed for this test (scripts/setup-deps.sh installs it)"
tracer=(strace -f -qq --seccomp-bpf -e trace=%file,%process -o "$work/trace.log" --)
: >"$work/all-traces.log"
traced() { # LABEL COMMAND...: run under strace, keep the trace
    local label=$1
    shift
    local rc=0
    run_clean "${tracer[@]}" "$@" >"$work/$label.out" 2>"$work/$label.err" || rc=$?
    { echo "### $label"; cat "$work/trace.log"; } >>"$work/all-traces.log"
    return $rc
}

# 2. tally stress, every backend (racy too: a workload that shares nothing)
for b in $backends; do
    wl=hammer
    [ "$b" = racy ] && wl=private
    traced "stress-$b" "$tally" stress --backend "$b" --workload "$wl" --threads 2 --seconds 0.2 --json --quiet \
        || { cat "$work/stress-$b.err" >&2; fail "tally stress --backend $b exited with an error"; }
    grep -q "\"backend\":\"$b\"" "$work/stress-$b.out" || fail "tally stress --backend $b: no JSON for $b"
    grep -q '"violations_total":0' "$work/stress-$b.out" || fail "tally stress --backend $b: violations"
    grep -qF "execve(\"$libexec/tally-stress-$b\"" "$work/trace.log" \
        || fail "tally stress --backend $b did not run $libexec/tally-stress-$b"
done
echo "installed tools: tally stress ran on: $backends"

# 3. tally run: arguments and exit status through, every interpreter backend
cat >"$cwd/prog.py" <<'EOF'
import sys
print("args", sys.argv[1:])
sys.exit(int(sys.argv[1]))
EOF
for b in $py_backends; do
    rc=0
    traced "run-$b" "$tally" run --backend "$b" prog.py 7 --flag || rc=$?
    [ "$rc" -eq 7 ] || { cat "$work/run-$b.err" >&2; fail "tally run --backend $b: exit status $rc, expected 7"; }
    grep -qF "args ['7', '--flag']" "$work/run-$b.out" || { cat "$work/run-$b.out" >&2; fail "tally run --backend $b: arguments"; }
    grep -qF "execve(\"$prefix/bin/tally-py-$b\"" "$work/trace.log" || fail "tally run --backend $b did not run the prefix's tally-py-$b"
done
rc=0
run_clean "$tally" run --backend racy prog.py >/dev/null 2>"$work/run-bad.err" || rc=$?
[ "$rc" -eq 2 ] || fail "tally run --backend racy: exit status $rc, expected 2"
grep -qF "accepted values are" "$work/run-bad.err" || fail "tally run --backend racy: no list of the accepted backends"
echo "installed tools: tally run on: $py_backends (exit status and arguments passed through)"

# 4. tally bench --quick, bounded: the first user backend, hammer, 2 threads, 1 repetition
b=${py_backends%% *}
traced bench "$tally" bench --quick --backends "$b" --workloads hammer --threads 2 --reps 1 --out "$cwd/report" \
    || { tail -n 30 "$work/bench.err" >&2; fail "tally bench --quick exited with an error"; }
res=$cwd/report/results.json
[ -s "$res" ] && [ -s "$cwd/report/report.md" ] || fail "tally bench wrote no results.json/report.md"
if grep -o '"error":"[^"]*"' "$res" | grep -v -e 'python3 not found' >"$work/bench-errors"; then
    cat "$work/bench-errors" >&2
    fail "tally bench reported errors (a program or data file not found from the prefix?)"
fi
for prog in "bench_rc_$b" "bench_gc_$b"; do
    grep -qF "execve(\"$libexec/$prog\"" "$work/trace.log" || fail "tally bench did not run $libexec/$prog"
done
grep -qF "execve(\"$prefix/bin/tally-binary-trees-$b\"" "$work/trace.log" || fail "tally bench did not run bin/tally-binary-trees-$b"
if command -v python3 >/dev/null 2>&1; then
    grep -qF "$prefix/share/tally/anchors/cpython_gc.py" "$work/trace.log" || fail "the CPython anchor was not read from share/tally"
    grep -qF "$prefix/share/tally/programs/binary_trees.py" "$work/trace.log" || fail "binary_trees.py was not read from share/tally"
fi
echo "installed tools: tally bench --quick (backend $b, hammer, 2 threads, 1 repetition) ran every program from the prefix"

# No process touched the tree (any syscall naming a path inside it, successful or not).
if grep -F -e "\"$source_dir/" -e "\"$source_dir\"" -e "\"$build_dir" "$work/all-traces.log" >"$work/tree-paths"; then
    head -n 20 "$work/tree-paths" >&2
    fail "paths inside the source or build tree were used ($(wc -l <"$work/tree-paths") syscalls)"
fi
# and nothing relative that would resolve there from cwd: every exec'd program is absolute
if grep -E 'execve\("[^/]' "$work/all-traces.log" | grep -v 'resumed' >"$work/rel-exec"; then
    head -n 5 "$work/rel-exec" >&2
    fail "a program was started by a relative path"
fi
echo "installed tools test: passed (no path inside $source_dir or $build_dir was used)"
