#!/bin/sh
# stress/report/check_bench.sh - ctest check of `tally bench` end to end (label "bench").
#
# Owns: the checks that the command line rejects bad arguments with a one-line error naming the
# argument and exit status 2, that a small real run writes results.json (parseable, with the
# schema, machine, targets and figures), results.csv, report.md (machine, targets, tables) and the
# plots, and that --compare reads a results file it wrote.  Usage: check_bench.sh path/to/tally
set -u
tally=$1
out=$(mktemp -d "${TMPDIR:-/tmp}/tally-bench-check.XXXXXX")
trap 'rm -rf "$out"' EXIT
fail=0
bad() { echo "FAIL: $*"; fail=1; }

# Bad arguments: status 2 and one line on stderr that names the argument.
expect_usage_error() {
    arg=$1; shift
    "$tally" bench "$@" >"$out/stdout" 2>"$out/stderr"
    rc=$?
    [ "$rc" -eq 2 ] || bad "tally bench $*: exit $rc, expected 2"
    [ "$(wc -l <"$out/stderr")" -eq 1 ] || bad "tally bench $*: expected a one-line error, got: $(cat "$out/stderr")"
    grep -q -- "$arg" "$out/stderr" || bad "tally bench $*: the error does not name $arg: $(cat "$out/stderr")"
}
expect_usage_error --backends --backends nope
expect_usage_error --workloads --workloads nope
expect_usage_error --threads --threads 0
expect_usage_error --threads --threads 2,x
expect_usage_error --reps --reps 0
expect_usage_error --seconds --seconds -1
expect_usage_error --compare --compare only-one.json
expect_usage_error --frobnicate --frobnicate
"$tally" bench --backends nope 2>&1 | grep -q "accepted values are a comma-separated list of gil, atomic, biased, deferred, racy" ||
    bad "--backends error does not list the accepted values"

# A small real run: one backend, one workload, one thread count.
"$tally" bench --quick --backends gil --workloads hammer --threads 1,2 --reps 2 --seconds 0.05 --out "$out/r" \
    >"$out/run.stdout" 2>"$out/run.stderr" || bad "tally bench run failed: $(tail -3 "$out/run.stderr")"
grep -q "estimated duration" "$out/run.stderr" || bad "no estimated duration printed first"
grep -q "^\[ *[0-9]*/[0-9]* " "$out/run.stderr" || bad "no progress lines"
for f in results.json results.csv report.md throughput_hammer.png throughput_hammer.svg plots.gp; do
    [ -s "$out/r/$f" ] || bad "missing or empty $f"
done
for s in '"schema": "tally-bench-results"' '"schema_version": 1' '"cpu_model"' '"targets"' '"figures"' \
         '"backend": "gil"' '"workload": "hammer"' '"ops_per_s"'; do
    grep -q "$s" "$out/r/results.json" || bad "results.json lacks $s"
done
for s in "## Machine" "## Targets" "absolute figures are for this machine" "## Microbenchmarks" \
         "### hammer" "## Race detection" "| gil |" "throughput_hammer.svg"; do
    grep -q -- "$s" "$out/r/report.md" || bad "report.md lacks '$s'"
done
head -1 "$out/r/results.csv" | grep -q "^figure,median,min,max$" || bad "results.csv header"
grep -q '^"stress/gil/hammer/t2/ops_per_s",' "$out/r/results.csv" || bad "results.csv lacks the 2-thread throughput"
grep -q '^"micro/gil/rc/pair_own/ns_per_op",' "$out/r/results.csv" || bad "results.csv lacks the gil pair"
# binary-trees (stress/programs/): gil with 1 and 2 threads, its target, CPython when python3 exists.
grep -q "## Programs: binary-trees" "$out/r/report.md" || bad "report.md lacks the binary-trees section"
for t in 1 2; do
    grep -q "^\"programs/binary_trees/gil/t$t/wall_s\"," "$out/r/results.csv" ||
        bad "results.csv lacks the binary-trees time of gil with $t thread(s)"
done
grep -q "program binary-trees gil threads=2 depth 14: ok" "$out/run.stderr" || bad "no successful 2-thread binary-trees run"
if command -v python3 >/dev/null 2>&1; then
    grep -q '^"programs/binary_trees/cpython/wall_s",' "$out/r/results.csv" || bad "results.csv lacks CPython's binary-trees time"
    grep -q '^"target/binary_trees_gil_vs_cpython/\(met\|missed\)",' "$out/r/results.csv" ||
        bad "the gil-against-CPython binary-trees target was not measured"
else
    grep -q '^"target/binary_trees_gil_vs_cpython/not measured",' "$out/r/results.csv" ||
        bad "without python3 the gil-against-CPython target must read 'not measured'"
fi

# --compare of a file with itself: no target changed, no figure moved (tests/stress/compare.sh
# checks the comparison itself on fixtures).
"$tally" bench --compare "$out/r/results.json" "$out/r/results.json" >"$out/cmp" 2>&1 || bad "--compare failed"
grep -q "^  none (of [0-9]* targets in both)" "$out/cmp" || bad "--compare of a file with itself lists a target change"
grep -q "changed by 5% or more: 0 of the [1-9][0-9]* in both runs" "$out/cmp" ||
    bad "--compare of a file with itself lists a figure that moved"

[ $fail -eq 0 ] && echo "tally bench checks passed"
exit $fail
