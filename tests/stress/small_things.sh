#!/bin/sh
# tests/stress/small_things.sh - ctest stress_small_<case>: what a new user tripped on (issue 16
# item 13), each checked where it shows.
#
# Usage: small_things.sh CASE SOURCE_DIR BINARY_DIR, CASE one of
#   readme_sample  the C sample of README.md compiles as C11 with every warning an error (it used
#                  printf without <stdio.h>)
#   report_plots   `tally bench --render docs/example-report/results.json`: plot titles write 2^{20}
#                  (gnuplot's enhanced text drew "2^20" as 2²0), the memory plot and table say why
#                  every backend's bars are equal, racy is marked as the control in every plot key
#                  and drawn dashed, and apart in the memory plot
#   cli_values     `--threads` with no value names the accepted range; "1,,2", a trailing comma and
#                  " 4" are refused naming the value and the accepted form (they were accepted)
set -u
case_=$1
src=$2
bin=$3
tally=$bin/stress/tally
out=$(mktemp -d "${TMPDIR:-/tmp}/tally-small.XXXXXX")
trap 'rm -rf "$out"' EXIT
fail=0
bad() { echo "FAIL: $*"; fail=1; }

case "$case_" in
readme_sample)
    # the first ```c block of the README
    awk '/^```c$/ { on = 1; next } on && /^```$/ { exit } on { print }' "$src/README.md" >"$out/sample.c"
    grep -q "tally_init" "$out/sample.c" || bad "no C sample found in README.md"
    ${CC:-cc} -std=c11 -Wall -Wextra -Werror -fsyntax-only -I"$src/include" -I"$bin/include" "$out/sample.c" \
        2>"$out/err" || bad "the README sample does not compile: $(cat "$out/err")"
    ;;
report_plots)
    "$tally" bench --render "$src/docs/example-report/results.json" --out "$out/r" >"$out/log" 2>&1 ||
        bad "--render failed: $(cat "$out/log")"
    gp=$out/r/plots.gp
    grep -q "2^{20}" "$gp" || bad "the memory plot's title does not write 2^{20}"
    grep "set title" "$gp" | grep -q "\^[0-9]" && bad "a plot title has ^ before a digit, drawn as a superscript: $(grep 'set title' "$gp" | grep '\^[0-9]' | head -1)"
    grep -A2 "set output 'memory_per_object.png'" "$gp" | grep "set title" | grep -q "32-byte header layout on every backend, so the bars are equal" ||
        bad "the memory plot does not say why its bars are equal"
    grep -q "same 32-byte object header" "$out/r/report.md" || bad "report.md's memory section does not say why the figures are equal"
    grep -q '^"racy (control)" ' "$out/r/memory_per_object.dat" || bad "racy is not marked in the memory plot"
    grep -B1 '^"racy (control)" ' "$out/r/memory_per_object.dat" | head -1 | grep -q '^"" NaN NaN$' ||
        bad "racy is not set apart (a gap) in the memory plot"
    n_racy=$(grep -c "title 'racy'" "$gp")
    [ "$n_racy" -eq 0 ] || bad "$n_racy plot keys name racy without marking it as the control"
    grep -q "dashtype 2 lc rgb 'gray40' title 'racy (control)'" "$gp" || bad "racy's throughput lines are not dashed and marked"
    grep -q "set title 'Stop-the-world pause CDF: racy (control)" "$gp" || bad "racy's pause CDF title does not mark it"
    ;;
cli_values)
    expect_2() {   # expect_2 TEXT ARGS...: exit status 2 and TEXT on stderr
        text=$1
        shift
        # a value that is wrongly accepted starts a real run: cut it short
        timeout 20 "$tally" "$@" >"$out/o" 2>"$out/e"
        rc=$?
        [ "$rc" -eq 2 ] || bad "tally $*: exit status $rc, expected 2"
        grep -q -F -- "$text" "$out/e" || bad "tally $*: stderr lacks '$text': $(cat "$out/e")"
    }
    expect_2 "missing value for --threads: expected an integer from 1 to 1024" stress --threads
    expect_2 "missing value for --seconds: expected a number from 0.01 to 86400" stress --seconds
    expect_2 "invalid value ' 4' for --threads: expected an integer from 1 to 1024" stress --threads " 4"
    expect_2 "invalid value '+4' for --threads: expected an integer from 1 to 1024" stress --threads +4
    expect_2 "invalid value ' 2' for --seconds: expected a number from 0.01 to 86400" stress --seconds " 2"
    expect_2 "missing value for --threads: expected LIST (thread counts, comma-separated)" bench --threads
    expect_2 "invalid value '1,,2' for --threads: an empty item; expected a comma-separated list of integers from 1 to 256, such as 1,2,4" \
        bench --threads 1,,2
    expect_2 "invalid value '1,2,' for --threads: an empty item" bench --threads 1,2,
    expect_2 "invalid value ',1' for --threads: an empty item" bench --threads ,1
    expect_2 "invalid value ' 4' for --threads: expected an integer from 1 to 256" bench --threads " 4"
    expect_2 "invalid value 'gil,,atomic' for --backends: an empty item; accepted values are a comma-separated list of gil" \
        bench --backends gil,,atomic
    ;;
*)
    echo "small_things.sh: unknown case '$case_'"
    exit 2
    ;;
esac
[ $fail -eq 0 ] && echo "stress_small_$case_ passed"
exit $fail
